"""Gang scheduling: the objects users write, the pod-group cycle (all or nothing), its
PreEnqueue, Permit and conditions, and explain. Shapes follow upstream's
gangscheduling_test.go and schedule_one_podgroup_test.go, re-expressed on dralloc's input."""

from __future__ import annotations

from pathlib import Path

import pytest
from gang_manifests import (
    DRIVER,
    GANGS_ON,
    device_class,
    node,
    pod,
    pod_group,
    read,
    schedule,
    template,
    volcano_group,
)

from dralloc.api.io import read_files
from dralloc.api.resource import ResourceClaim
from dralloc.errors import InputError
from dralloc.features import FeatureGateError, Features, parse_gates
from dralloc.scheduler.builder import SchedulerInputs, build_scheduler
from dralloc.scheduler.explain import GangExplanation
from dralloc.scheduler.framework import Code, CycleState, PodInfo, Status
from dralloc.scheduler.gangs import (
    GANG_CYCLE_KEY,
    WAITING_FOR_MIN_COUNT,
    WAITING_FOR_QUORUM,
    Gang,
    GangCycle,
    GangIndex,
    GangKey,
    GangSource,
    collect_gangs,
    place_gang,
    scheduler_name_problem,
)
from dralloc.scheduler.offline import SchedulePlan, explain_gang_member
from dralloc.scheduler.plugins import GangScheduling

DATA = Path(__file__).parent / "data" / "gangs"


def _claims(plan: SchedulePlan, name: str) -> list[ResourceClaim]:
    entry = next(e for e in plan.pending if e.pod.metadata.name == name)
    keys = [f"default/{s.resource_claim_name}" for s in entry.pod.status.resource_claim_statuses]
    keys += [
        f"default/{c.resource_claim_name}"
        for c in entry.pod.spec.resource_claims
        if c.resource_claim_name
    ]
    return [plan.cache.claims[key] for key in keys]


def _cluster(tmp_path: Path, nodes: int, gpus: int, *documents: str) -> list[str]:
    return (
        [device_class(), template("eight", 8), template("one", 1)]
        + [node(f"node-{i}", gpus) for i in range(nodes)]
        + list(documents)
    )


# ------------------------------------------------------------------------------- reading


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            "spec: {schedulingPolicy: {basic: {}, gang: {minCount: 2}}}",
            "PodGroup default/g: spec.schedulingPolicy: Invalid value: must specify exactly one "
            "of: `basic`, `gang`",
        ),
        (
            "spec: {schedulingPolicy: {}}",
            "PodGroup default/g: spec.schedulingPolicy: Invalid value: must specify one of: "
            "`basic`, `gang`",
        ),
        (
            "spec: {schedulingPolicy: {gang: {}}}",
            "PodGroup default/g: spec.schedulingPolicy.gang.minCount: Required value",
        ),
        (
            "spec: {schedulingPolicy: {gang: {minCount: -1}}}",
            "PodGroup default/g: spec.schedulingPolicy.gang.minCount: Invalid value: -1: must be "
            "greater than or equal to 1",
        ),
        (
            "spec: {schedulingPolicy: {gang: {minCount: 1}}, minMember: 3}",
            'PodGroup default/g: spec.minMember: unknown field "minMember"',
        ),
        (
            "spec: {schedulingPolicy: {gang: {minCount: 1}}, podGroupTemplateRef: {workload: "
            "{workloadName: w}}}",
            "PodGroup default/g: spec.podGroupTemplateRef.workload.podGroupTemplateName: "
            "Required value",
        ),
    ],
)
def test_a_bad_pod_group_is_an_input_error_naming_the_field(
    tmp_path: Path, document: str, expected: str
) -> None:
    path = tmp_path / "g.yaml"
    path.write_text(
        "apiVersion: scheduling.k8s.io/v1alpha2\nkind: PodGroup\n"
        f"metadata: {{name: g, namespace: default}}\n{document}\n"
    )
    _, problems = read_files([str(path)])
    assert [str(p) for p in problems] == [f"{path}: {expected}"]


def test_a_workload_with_nine_templates_or_a_repeated_name_is_refused(tmp_path: Path) -> None:
    templates = "".join(
        f"  - name: t{i % 8}\n    schedulingPolicy: {{gang: {{minCount: 1}}}}\n" for i in range(9)
    )
    path = tmp_path / "w.yaml"
    path.write_text(
        "apiVersion: scheduling.k8s.io/v1alpha2\nkind: Workload\nmetadata: {name: w, "
        f"namespace: default}}\nspec:\n  podGroupTemplates:\n{templates}"
        "---\napiVersion: scheduling.k8s.io/v1alpha2\nkind: Workload\nmetadata: {name: v, "
        "namespace: default}\nspec:\n  podGroupTemplates:\n"
        "  - {name: a, schedulingPolicy: {basic: {}}}\n"
        "  - {name: a, schedulingPolicy: {basic: {}}}\n"
    )
    _, problems = read_files([str(path)])
    assert [p.message for p in problems] == [
        "Too many: 9: must have at most 8 items",
        'Duplicate value: "a"',
    ]


def test_the_three_pod_group_kinds_are_told_apart_by_group(tmp_path: Path) -> None:
    cluster = read(
        tmp_path,
        pod_group("a", 2),
        volcano_group("v", 3),
        "apiVersion: scheduling.run.ai/v2alpha2\nkind: PodGroup\nmetadata: {name: k, namespace: "
        "default}\nspec: {minMember: 2, queue: team-a}\n",
    )
    kinds = [type(o.obj).__name__ for o in cluster.objects]
    assert kinds == ["PodGroup", "VolcanoPodGroup", "KaiPodGroup"]
    index = collect_gangs(cluster.objects, GANGS_ON).index
    assert index.gangs == {
        GangKey("default", "a"): Gang(GangKey("default", "a"), 2),
        GangKey("default", "v", GangSource.VOLCANO): Gang(
            GangKey("default", "v", GangSource.VOLCANO), 3, queue="default"
        ),
        GangKey("default", "k", GangSource.KAI): Gang(
            GangKey("default", "k", GangSource.KAI), 2, queue="team-a"
        ),
    }


def test_with_the_gates_off_pod_groups_are_set_aside_and_pods_go_one_by_one(
    tmp_path: Path,
) -> None:
    cluster = read(
        tmp_path,
        *_cluster(tmp_path, 1, 8),
        pod_group("g", 2),
        pod("a", template_name="eight", group="g"),
        pod("b", template_name="eight", group="g"),
    )
    found = collect_gangs(cluster.objects, Features())
    assert not found.index.gangs
    assert any("GenericWorkload" in w for w in found.warnings)
    _, outcomes, _ = schedule(cluster, Features())
    # The default 1.36 scheduler: the first pod binds alone.
    assert [outcomes[n].node for n in "ab"] == ["node-0", None]


def test_gated_fields_are_forbidden_while_their_gate_is_off(tmp_path: Path) -> None:
    cluster = read(
        tmp_path,
        "apiVersion: scheduling.k8s.io/v1alpha2\nkind: PodGroup\nmetadata: {name: g, namespace: "
        "default}\nspec:\n  schedulingPolicy: {gang: {minCount: 1}}\n  priority: 5\n"
        "  schedulingConstraints: {topology: [{key: rack}]}\n",
    )
    found = collect_gangs(cluster.objects, GANGS_ON)
    assert [f"{p.field}: {p.message}" for p in found.problems] == [
        "spec.schedulingConstraints: Forbidden: disabled by feature gate "
        "TopologyAwareWorkloadScheduling",
        "spec.priority: Forbidden: disabled by feature gate WorkloadAwarePreemption",
    ]


# ------------------------------------------------------------------------ the pod-group cycle


def test_the_example_manifest_places_whole_gangs_and_nothing_of_one_that_does_not_fit() -> None:
    from dralloc.cli.inputs import read_cluster

    cluster = read_cluster([str(DATA / "cluster.yaml"), str(DATA / "workloads.yaml")])
    plan, outcomes, _ = schedule(cluster)
    train = [outcomes[f"llm-train-{i}"].node for i in range(4)]
    assert None not in train and len(set(train)) == 4  # 4 x 8 GPUs: one DGX each
    assert [outcomes[f"vc-job-{i}"].node for i in range(2)] == [None, None]
    assert outcomes["vc-job-0"].message == WAITING_FOR_QUORUM
    assert all(outcomes[f"kai-infer-{i}"].node for i in range(4))
    # Nothing of the Volcano gang holds a device: its claims were released on the undo.
    assert all(c.status.allocation is None for i in range(2) for c in _claims(plan, f"vc-job-{i}"))
    conditions = {str(k): p.condition() for k, p in plan.gang_placements.items()}
    assert conditions["default/vc-job"] == {
        "type": "PodGroupScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": "pod group is unschedulable: 1 of minCount 2 pods of PodGroup default/vc-job "
        "fit; pod default/vc-job-1: 0/5 nodes are available: 5 cannot allocate all claims.",
    }
    assert conditions["default/llm-train-workers"]["status"] == "True"


def test_a_gang_larger_than_the_cluster_stays_pending_saying_how_many_fit(tmp_path: Path) -> None:
    members = [pod(f"w-{i}", template_name="eight", group="big") for i in range(4)]
    cluster = read(tmp_path, *_cluster(tmp_path, 3, 8), pod_group("big", 4), *members)
    plan, outcomes, _ = schedule(cluster)
    assert all(outcomes[f"w-{i}"].node is None for i in range(4))
    placement = plan.gang_placements[GangKey("default", "big")]
    assert placement.condition()["reason"] == "Unschedulable"
    assert placement.message.startswith(
        "pod group is unschedulable: 3 of minCount 4 pods of PodGroup default/big fit; "
        "pod default/w-3: 0/3 nodes are available:"
    )
    assert not plan.cache.pods  # nothing assumed, nothing bound
    assert all(c.status.allocation is None for i in range(4) for c in _claims(plan, f"w-{i}"))


def test_a_gang_binds_when_min_count_of_its_pods_fit_and_the_rest_wait(tmp_path: Path) -> None:
    members = [pod(f"w-{i}", template_name="eight", group="g") for i in range(4)]
    cluster = read(tmp_path, *_cluster(tmp_path, 3, 8), pod_group("g", 3), *members)
    plan, outcomes, _ = schedule(cluster)
    assert [outcomes[f"w-{i}"].node is not None for i in range(4)] == [True, True, True, False]
    assert plan.gang_placements[GangKey("default", "g")].is_admitted


def test_a_pod_group_whose_pods_never_come_keeps_them_gated(tmp_path: Path) -> None:
    cluster = read(
        tmp_path,
        *_cluster(tmp_path, 2, 8),
        pod_group("g", 4),
        pod("a", template_name="one", group="g"),
        pod("b", template_name="one", group="g"),
        pod("c", template_name="one", group="missing"),
    )
    plan, outcomes, _ = schedule(cluster)
    assert outcomes["a"].message == WAITING_FOR_MIN_COUNT
    assert outcomes["a"].status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
    assert outcomes["c"].message == (
        'waiting for pods\'s pod group "missing" to appear in scheduling queue'
    )
    assert not plan.cache.pods


def test_a_gang_member_whose_claim_is_missing_gates_the_whole_gang(tmp_path: Path) -> None:
    cluster = read(
        tmp_path,
        *_cluster(tmp_path, 2, 8),
        pod_group("g", 2),
        pod("a", template_name="one", group="g"),
        pod("b", claim="nowhere", group="g"),
    )
    _, outcomes, _ = schedule(cluster)
    assert outcomes["a"].node is None and outcomes["b"].node is None
    assert "(pod default/b of PodGroup default/g)" in outcomes["a"].message


def test_gang_pods_share_one_claim_reserved_for_all_of_them(tmp_path: Path) -> None:
    shared = (
        "apiVersion: resource.k8s.io/v1\nkind: ResourceClaim\nmetadata: {name: shared, "
        f"namespace: default}}\nspec:\n  devices:\n    requests:\n    - name: gpus\n      exactly: "
        f"{{deviceClassName: {DRIVER}, allocationMode: ExactCount, count: 2}}\n"
    )
    members = [pod(f"w-{i}", claim="shared", group="g") for i in range(3)]
    cluster = read(tmp_path, *_cluster(tmp_path, 2, 2), shared, pod_group("g", 3), *members)
    plan, outcomes, _ = schedule(cluster)
    nodes = {outcomes[f"w-{i}"].node for i in range(3)}
    assert len(nodes) == 1 and None not in nodes  # the claim's devices are on one node
    claim = plan.cache.claims["default/shared"]
    assert sorted(r.name for r in claim.status.reserved_for) == ["w-0", "w-1", "w-2"]


def test_new_members_of_a_started_gang_count_the_running_ones(tmp_path: Path) -> None:
    cluster = read(
        tmp_path,
        *_cluster(tmp_path, 2, 8),
        pod_group("g", 2),
        pod("running", group="g", node_name="node-0"),
        pod("late", template_name="one", group="g"),
    )
    _, outcomes, _ = schedule(cluster)
    assert outcomes["late"].node is not None


def test_a_basic_group_has_no_quorum(tmp_path: Path) -> None:
    members = [pod(f"w-{i}", template_name="eight", group="g") for i in range(3)]
    cluster = read(tmp_path, *_cluster(tmp_path, 2, 8), pod_group("g", None), *members)
    _, outcomes, _ = schedule(cluster)
    assert [outcomes[f"w-{i}"].node is not None for i in range(3)] == [True, True, False]


def test_higher_priority_members_are_placed_first(tmp_path: Path) -> None:
    cluster = read(
        tmp_path,
        *_cluster(tmp_path, 1, 8),
        pod_group("g", 1),
        pod("low", template_name="eight", group="g", priority=1),
        pod("high", template_name="eight", group="g", priority=100),
    )
    _, outcomes, _ = schedule(cluster)
    assert (outcomes["high"].node, outcomes["low"].node) == ("node-0", None)


def test_members_naming_two_schedulers_are_refused_as_upstream_refuses_them() -> None:
    from dralloc.api.core import Pod, PodSpec

    same = [Pod(spec=PodSpec(scheduler_name="")), Pod(spec=PodSpec(scheduler_name="default"))]
    assert scheduler_name_problem(same, "default") is None
    mixed = [Pod(spec=PodSpec(scheduler_name="a")), Pod(spec=PodSpec(scheduler_name="b"))]
    assert scheduler_name_problem(mixed, "default") == (
        "all pods in a single pod group should have the same .spec.schedulerName set, "
        'got: "a" and "b"'
    )


def test_volcano_and_kai_pods_gang_by_their_annotations(tmp_path: Path) -> None:
    volcano = [
        pod(f"v-{i}", template_name="eight", annotations={"scheduling.k8s.io/group-name": "vj"})
        for i in range(3)
    ]
    kai = [
        pod(
            f"k-{i}",
            template_name="eight",
            annotations={"pod-group-name": "kj"},
            labels={"kai.scheduler/queue": "team-a"},
        )
        for i in range(2)
    ]
    cluster = read(tmp_path, *_cluster(tmp_path, 3, 8), volcano_group("vj", 3), *volcano, *kai)
    plan, outcomes, _ = schedule(cluster)
    assert all(outcomes[f"v-{i}"].node for i in range(3))
    # KAI without a PodGroup object: the annotated set is the gang, and no node is left.
    assert [outcomes[f"k-{i}"].node for i in range(2)] == [None, None]
    kai_gang = plan.gang_placements[GangKey("default", "kj", GangSource.KAI)].gang
    assert (kai_gang.min_count, kai_gang.queue) == (2, "team-a")


# ------------------------------------------------------------------ what-if and explain


def test_placing_without_binding_leaves_the_cache_as_it_was(tmp_path: Path) -> None:
    members = [pod(f"w-{i}", template_name="eight", group="g") for i in range(2)]
    cluster = read(tmp_path, *_cluster(tmp_path, 2, 8), pod_group("g", 2), *members)
    from dralloc.cli.schedule import plan_schedule
    from dralloc.scheduler.config import SchedulerConfiguration

    plan, frameworks = plan_schedule(cluster, SchedulerConfiguration(), GANGS_ON, 0)
    claims_before = dict(plan.cache.claims)
    gang = Gang(GangKey("default", "g"), 2)
    placement = place_gang(
        plan.cache, frameworks["default-scheduler"], gang, [e.pod for e in plan.pending]
    )
    assert placement.is_admitted and not placement.bound
    assert sorted(placement.placed.values()) == ["node-0", "node-1"]
    assert plan.cache.claims == claims_before
    assert not plan.cache.pods


def test_explain_names_the_gang_member_that_blocks(tmp_path: Path) -> None:
    members = [pod(f"w-{i}", template_name="eight", group="g") for i in range(3)]
    cluster = read(tmp_path, *_cluster(tmp_path, 2, 8), pod_group("g", 3), *members)
    from dralloc.cli.schedule import plan_schedule
    from dralloc.scheduler.config import SchedulerConfiguration
    from dralloc.scheduler.offline import attach_gangs

    plan, frameworks = plan_schedule(cluster, SchedulerConfiguration(), GANGS_ON, 0)
    attach_gangs(plan, cluster.objects, GANGS_ON)
    answer = explain_gang_member(plan, frameworks, "default/w-0")
    assert isinstance(answer, GangExplanation)
    assert answer.message() == (
        "pod default/w-0 is in gang PodGroup default/g (minCount 3): 2 of 3 pods fit; "
        "pod default/w-2 blocks: 0/2 nodes are available: 2 cannot allocate all claims."
    )
    assert explain_gang_member(plan, frameworks, "default/nobody") is None


# ---------------------------------------------------------------------------- the plugin


def _gangs() -> GangIndex:
    index = GangIndex()
    index.gangs = {
        GangKey("ns", "pg1"): Gang(GangKey("ns", "pg1"), 2),
        GangKey("ns", "basic"): Gang(GangKey("ns", "basic"), None),
        GangKey("ns", "gone"): Gang(GangKey("ns", "gone"), None, declared=False),
    }
    index.member_of = {"ns/p1": GangKey("ns", "pg1"), "ns/b": GangKey("ns", "basic")}
    index.member_of["ns/x"] = GangKey("ns", "gone")
    return index


def _info(name: str) -> PodInfo:
    from dralloc.api.core import Pod
    from dralloc.api.meta import ObjectMeta

    return PodInfo.of(Pod(metadata=ObjectMeta(name=name, namespace="ns")))


@pytest.mark.parametrize(
    ("pod_name", "expected"),
    [
        ("plain", (Code.SUCCESS, "")),
        ("b", (Code.SUCCESS, "")),
        ("p1", (Code.UNSCHEDULABLE_AND_UNRESOLVABLE, WAITING_FOR_MIN_COUNT)),
        (
            "x",
            (
                Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
                'waiting for pods\'s pod group "gone" to appear in scheduling queue',
            ),
        ),
    ],
)
def test_gang_scheduling_pre_enqueue(pod_name: str, expected: tuple[Code, str]) -> None:
    status = GangScheduling(_gangs()).pre_enqueue(_info(pod_name))
    assert (status.code, status.message) == expected


@pytest.mark.parametrize(
    ("scheduled", "expected"),
    [(None, Code.UNSCHEDULABLE), (1, Code.WAIT), (2, Code.SUCCESS), (3, Code.SUCCESS)],
)
def test_gang_scheduling_permit(scheduled: int | None, expected: Code) -> None:
    state = CycleState()
    gang = Gang(GangKey("ns", "pg1"), 2)
    if scheduled is not None:
        state.write(GANG_CYCLE_KEY, GangCycle(gang, scheduled))
    status = GangScheduling(_gangs()).permit(state, _info("p1"), "node-1")
    assert status.code == expected
    if expected != Code.SUCCESS:
        assert status.message == WAITING_FOR_QUORUM


def test_the_default_profile_has_gang_scheduling_only_with_its_gates() -> None:
    def permit_plugins(features: Features) -> list[str]:
        built = build_scheduler(SchedulerInputs(features))
        return [p.name for p in built.framework().profile.permit]

    assert permit_plugins(GANGS_ON) == ["GangScheduling"]
    assert permit_plugins(Features()) == []
    assert permit_plugins(Features().with_gates(GangScheduling=True)) == []


def test_gang_scheduling_without_generic_workload_is_refused_as_upstream_refuses_it() -> None:
    with pytest.raises(FeatureGateError) as err:
        parse_gates("GangScheduling=true")
    assert str(err.value) == (
        "GangScheduling is enabled, but depends on features that are disabled: [GenericWorkload]"
    )


def test_a_bad_gang_input_never_raises_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "apiVersion: scheduling.k8s.io/v1alpha2\nkind: PodGroup\nmetadata: {name: g}\n"
        "spec: {schedulingPolicy: {gang: {minCount: x}}}\n"
    )
    from dralloc.cli.inputs import read_cluster

    with pytest.raises(InputError) as err:
        read_cluster([str(path)])
    assert "spec.schedulingPolicy.gang.minCount" in str(err.value)


def test_explain_gives_the_pre_enqueue_message_of_a_gang_that_waits_for_pods(
    tmp_path: Path,
) -> None:
    cluster = read(
        tmp_path,
        *_cluster(tmp_path, 1, 8),
        pod_group("g", 3),
        pod("a", template_name="one", group="g"),
    )
    from dralloc.cli.schedule import plan_schedule
    from dralloc.scheduler.config import SchedulerConfiguration
    from dralloc.scheduler.offline import attach_gangs

    plan, frameworks = plan_schedule(cluster, SchedulerConfiguration(), GANGS_ON, 0)
    attach_gangs(plan, cluster.objects, GANGS_ON)
    assert explain_gang_member(plan, frameworks, "default/a") == WAITING_FOR_MIN_COUNT


def test_an_admitted_gang_explains_where_the_pod_would_go(tmp_path: Path) -> None:
    members = [pod(f"w-{i}", template_name="eight", group="g") for i in range(2)]
    cluster = read(tmp_path, *_cluster(tmp_path, 2, 8), pod_group("g", 2), *members)
    from dralloc.cli.schedule import plan_schedule
    from dralloc.scheduler.config import SchedulerConfiguration
    from dralloc.scheduler.offline import attach_gangs

    plan, frameworks = plan_schedule(cluster, SchedulerConfiguration(), GANGS_ON, 0)
    attach_gangs(plan, cluster.objects, GANGS_ON)
    answer = explain_gang_member(plan, frameworks, "default/w-1")
    assert isinstance(answer, GangExplanation)
    assert answer.message() == (
        "pod default/w-1 is in gang PodGroup default/g (minCount 2): 2 of 2 pods fit, the gang "
        f"can be placed now; this pod would go to {answer.node}"
    )
    assert answer.node in ("node-0", "node-1")
    assert not plan.cache.pods


class _FailOn:
    """A Filter plugin that errors for one pod, and a Bind plugin that records bindings."""

    name = "FailOn"

    def __init__(self, pod_name: str) -> None:
        self.pod_name = pod_name
        self.bound: list[str] = []

    def filter(self, state: CycleState, pod: PodInfo, node: object) -> Status:
        if pod.pod.metadata.name == self.pod_name:
            return Status.error("disk on fire")
        return Status()

    def bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status:
        self.bound.append(pod.pod.metadata.name)
        return Status()


def test_an_error_on_one_member_fails_the_whole_group_and_binds_nothing(tmp_path: Path) -> None:
    from dralloc.cli.schedule import plan_schedule
    from dralloc.scheduler.config import SchedulerConfiguration
    from dralloc.scheduler.framework import Framework, Profile

    members = [pod(f"w-{i}", group="g") for i in range(3)]
    cluster = read(tmp_path, *_cluster(tmp_path, 3, 8), pod_group("g", 2), *members)
    plan, _ = plan_schedule(cluster, SchedulerConfiguration(), GANGS_ON, 0)
    plugin = _FailOn("w-1")
    framework = Framework(Profile(filter=[plugin], bind=[plugin]))
    gang = Gang(GangKey("default", "g"), 2)
    placement = place_gang(plan.cache, framework, gang, [e.pod for e in plan.pending], bind=True)
    assert placement.status.code == Code.ERROR
    assert placement.message == (  # upstream wraps the member's error
        'failed to schedule other pod from a pod group: running "FailOn" filter plugin: '
        "disk on fire"
    )
    assert placement.condition()["reason"] == "SchedulerError"
    assert plugin.bound == [] and not plan.cache.pods
    assert [m.key for m in placement.members] == ["default/w-0", "default/w-1"]  # stopped
