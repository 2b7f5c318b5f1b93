"""PodDisruptionBudgets in preemption (spec/scheduler.md 5.2-5.4; upstream's
filterPodsWithPDBViolation, SelectVictimsOnNode, DryRunPreemption and pickOneNodeForPreemption),
with the cases of upstream's default_preemption_test.go in their shapes, the disruption
controller's status for budgets given without one, and properties over random clusters."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dralloc.api.core import Node, Pod
from dralloc.api.io import load_text
from dralloc.api.meta import LabelSelector, LabelSelectorRequirement, ObjectMeta, OwnerReference
from dralloc.api.policy import (
    PodDisruptionBudget,
    PodDisruptionBudgetSpec,
    PodDisruptionBudgetStatus,
)
from dralloc.api.workloads import Deployment, DeploymentSpec, ReplicaSet, ReplicaSetSpec, Workload
from dralloc.features import Features
from dralloc.scheduler.builder import SchedulerInputs, build_scheduler
from dralloc.scheduler.cache import SchedulerCache
from dralloc.scheduler.config import PluginArgs, ProfileConfig, SchedulerConfiguration
from dralloc.scheduler.framework import (
    SUCCESS,
    CycleState,
    Framework,
    NodeInfo,
    PodInfo,
    Profile,
    Status,
)
from dralloc.scheduler.plugins import Eviction
from dralloc.scheduler.plugins.defaultpreemption import (
    Candidate,
    ControllerScales,
    computed_status,
    pick_one_node_for_preemption,
    select_victims_on_node,
    split_by_budget_violation,
    with_status,
)
from dralloc.scheduler.plugins.defaultpreemption.pods import importance
from dralloc.scheduler.plugins.noderesources import NodeResourcesFit, NodeResourcesFitArgs
from dralloc.scheduler.scheduler import ScheduleOutcome, Scheduler

FEATURES = Features()


def budget(
    name: str = "pdb",
    *,
    labels: dict[str, str] | None = None,
    allowed: int | None = 0,
    disrupted: Sequence[str] = (),
    namespace: str = "default",
    selector: LabelSelector | None = None,
    min_available: int | str | None = None,
    max_unavailable: int | str | None = None,
) -> PodDisruptionBudget:
    """A budget over `labels` (or `selector`); `allowed=None` leaves the status out."""
    if selector is None and labels is not None:
        selector = LabelSelector(match_labels=labels)
    status = (
        None
        if allowed is None
        else PodDisruptionBudgetStatus(
            disruptions_allowed=allowed,
            disrupted_pods={p: "2026-01-01T00:00:00Z" for p in disrupted},
        )
    )
    return PodDisruptionBudget(
        metadata=ObjectMeta(name=name, namespace=namespace),
        spec=PodDisruptionBudgetSpec(
            selector=selector, min_available=min_available, max_unavailable=max_unavailable
        ),
        status=status,
    )


def pod(
    name: str,
    *,
    priority: int = 0,
    cpu: int = 1,
    labels: dict[str, str] | None = None,
    node: str = "",
    namespace: str = "default",
    start: str | None = None,
    owner: OwnerReference | None = None,
    ready: bool | None = None,
) -> Pod:
    text = textwrap.dedent(
        f"""\
        apiVersion: v1
        kind: Pod
        metadata: {{name: {name}, namespace: {namespace}}}
        spec:
          priority: {priority}
          containers:
          - name: c
            resources: {{requests: {{cpu: "{cpu}"}}}}
        """
    )
    objects, problems = load_text(text, "<test>")
    assert problems == []
    made = objects[0].obj
    assert isinstance(made, Pod)
    made.metadata.labels = dict(labels or {})
    made.spec.node_name = node or None
    made.status.start_time = start
    if owner is not None:
        made.metadata.owner_references = [owner]
    if ready is not None:
        made.status.conditions = [{"type": "Ready", "status": "True" if ready else "False"}]
    return made


def node(name: str, cpu: int) -> Node:
    text = (
        f"apiVersion: v1\nkind: Node\nmetadata: {{name: {name}}}\n"
        f'status: {{allocatable: {{cpu: "{cpu}", memory: 8Gi, pods: "110"}}}}\n'
    )
    objects, problems = load_text(text, "<test>")
    assert problems == []
    made = objects[0].obj
    assert isinstance(made, Node)
    return made


def names(pods: Sequence[PodInfo]) -> list[str]:
    return [p.pod.metadata.name for p in pods]


# ------------------------------------------------------------ filterPodsWithPDBViolation


def _infos(*pods: Pod) -> list[PodInfo]:
    return [PodInfo.of(p) for p in pods]


FOO = {"app": "foo"}
EARLY, LATE = "2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z"


def test_two_victims_of_one_budget_allowing_one_disruption_the_second_violates() -> None:
    # Upstream: "preemption with violation of same pdb".
    pods = _infos(pod("p1.1", labels=FOO), pod("p1.2", labels=FOO))
    violating, other = split_by_budget_violation(pods, [budget(labels=FOO, allowed=1)])
    assert (names(violating), names(other)) == (["p1.2"], ["p1.1"])


def test_a_pod_already_in_disrupted_pods_is_not_counted_again() -> None:
    # Upstream: "... the victim belongs to DisruptedPods" and "... treated as 'nonViolating'".
    two = _infos(pod("p1.1", labels=FOO), pod("p1.2", labels=FOO))
    assert (
        split_by_budget_violation(two, [budget(labels=FOO, allowed=1, disrupted=["p1.2"])])[0] == []
    )
    three = _infos(*(pod(f"p1.{i}", labels=FOO) for i in (1, 2, 3)))
    violating, other = split_by_budget_violation(
        three, [budget(labels=FOO, allowed=1, disrupted=["p1.3"])]
    )
    assert (names(violating), names(other)) == (["p1.2"], ["p1.1", "p1.3"])


def test_another_pods_disruption_leaves_the_budget_as_it_is() -> None:
    # Upstream: "... the victim doesn't belong to DisruptedPods".
    pods = _infos(pod("p1.1", labels=FOO), pod("p1.2", labels=FOO))
    violating, _ = split_by_budget_violation(
        pods, [budget(labels=FOO, allowed=1, disrupted=["p2"])]
    )
    assert names(violating) == ["p1.2"]


@pytest.mark.parametrize(
    ("case", "victim", "pdb"),
    [
        ("another namespace", pod("v", labels=FOO, namespace="ml"), budget(labels=FOO)),
        ("no labels", pod("v"), budget(selector=LabelSelector())),
        ("an empty selector", pod("v", labels=FOO), budget(selector=LabelSelector())),
        ("no selector", pod("v", labels=FOO), budget()),
        ("other labels", pod("v", labels={"app": "bar"}), budget(labels=FOO)),
        (
            "a selector that does not compile",
            pod("v", labels=FOO),
            budget(
                selector=LabelSelector(
                    match_expressions=[LabelSelectorRequirement(key="app", operator="Near")]
                )
            ),
        ),
    ],
)
def test_a_budget_that_does_not_select_the_victim_protects_nothing(
    case: str, victim: Pod, pdb: PodDisruptionBudget
) -> None:
    violating, other = split_by_budget_violation(_infos(victim), [pdb])
    assert (violating, names(other)) == ([], ["v"]), case


def test_a_pod_under_two_budgets_violates_when_either_runs_out_and_both_are_charged() -> None:
    both = {"app": "foo", "tier": "web"}
    roomy = budget("roomy", labels={"tier": "web"}, allowed=1)
    tight = budget("tight", labels=FOO, allowed=0)
    violating, other = split_by_budget_violation(
        _infos(pod("a", labels=both), pod("b", labels={"tier": "web"})), [tight, roomy]
    )
    # "a" took roomy's one disruption while violating tight: "b" now violates roomy.
    assert (names(violating), names(other)) == (["a", "b"], [])


# --------------------------------------------------------------- SelectVictimsOnNode


@dataclass
class Dry:
    """One node, NodeResourcesFit at PreFilter and Filter, the preemptor's PreFilter run."""

    framework: Framework
    state: CycleState
    preemptor: PodInfo
    node: NodeInfo

    def select(self, budgets: Sequence[PodDisruptionBudget]) -> tuple[list[str], int]:
        potential = [p for p in self.node.pods if p.priority < self.preemptor.priority]
        found, status = select_victims_on_node(
            self.framework, self.state.clone(), self.preemptor, self.node.copy(), potential, budgets
        )
        assert found is not None, status
        return names(found.pods), found.pdb_violations


def dry(cpu: int, preemptor: Pod, *pods: Pod) -> Dry:
    info = NodeInfo.of(node("node1", cpu))
    for p in pods:
        info.add_pod(PodInfo.of(p))
    fit = NodeResourcesFit(NodeResourcesFitArgs())
    framework = Framework(Profile(pre_filter=[fit], filter=[fit]))
    state = CycleState()
    wanted = PodInfo.of(preemptor)
    _, _, err = framework.pre_filter(state, wanted, [info])
    assert err is None
    return Dry(framework, state, wanted, info)


def test_both_pods_of_one_budget_are_victims_and_one_of_them_violates() -> None:
    # Upstream's "preemption with violation of same pdb": the pod needs the whole node.
    d = dry(
        4,
        pod("p", priority=100, cpu=4),
        pod("p1.1", priority=10, cpu=2, labels=FOO, node="node1", start=EARLY),
        pod("p1.2", priority=10, cpu=2, labels=FOO, node="node1", start=LATE),
    )
    # p1.2, the less important, violates; the victims come back sorted again.
    assert d.select([budget(labels=FOO, allowed=1)]) == (["p1.1", "p1.2"], 1)
    assert d.select([budget(labels=FOO, allowed=1, disrupted=["p1.2"])]) == (
        ["p1.1", "p1.2"],
        0,
    )


def test_a_protected_pod_is_reprieved_before_a_more_important_unprotected_one() -> None:
    # 4 cpus, the pod needs 2: "guarded" (prio 1) and "plain" (prio 5) take 2 each. Without
    # budgets the more important "plain" is reprieved and "guarded" evicted; with a budget
    # that allows no disruption of "guarded", it is tried first and stays.
    d = dry(
        4,
        pod("p", priority=100, cpu=2),
        pod("guarded", priority=1, cpu=2, labels=FOO, node="node1"),
        pod("plain", priority=5, cpu=2, node="node1"),
    )
    assert d.select([]) == (["guarded"], 0)
    assert d.select([budget(labels=FOO, allowed=0)]) == (["plain"], 0)


def test_victims_from_both_groups_come_back_sorted_most_important_first() -> None:
    d = dry(
        2,
        pod("p", priority=100, cpu=2),
        pod("low-guarded", priority=1, cpu=1, labels=FOO, node="node1"),
        pod("high-plain", priority=7, cpu=1, node="node1"),
    )
    assert d.select([budget(labels=FOO, allowed=0)]) == (["high-plain", "low-guarded"], 1)


# ------------------------------------------------------------ candidates and the choice


@dataclass
class World:
    """`build_scheduler` over nodes, running pods and budgets, recording every eviction."""

    cache: SchedulerCache
    scheduler: Scheduler
    evictions: list[Eviction] = field(default_factory=list)

    def place(self, p: Pod) -> ScheduleOutcome:
        outcome = self.scheduler.schedule_one(p)
        while outcome.nominated_node is not None:
            outcome = self.scheduler.schedule_one(p)
        return outcome

    def victims(self) -> list[list[str]]:
        return [names(e.victims) for e in self.evictions]


def world(
    nodes: Sequence[Node],
    running: Sequence[Pod],
    budgets: Sequence[PodDisruptionBudget] = (),
    *,
    args: dict[str, object] | None = None,
    workloads: Sequence[Workload] = (),
) -> World:
    evictions: list[Eviction] = []
    config = SchedulerConfiguration(
        profiles=(
            ProfileConfig(
                plugin_config=(PluginArgs("DefaultPreemption", args, "args"),)
                if args is not None
                else ()
            ),
        )
    )
    built = build_scheduler(
        SchedulerInputs(
            FEATURES,
            nodes=nodes,
            config=config,
            on_evict=evictions.append,
            disruption_budgets=budgets,
            workloads=workloads,
        )
    )
    for p in running:
        assert p.spec.node_name
        built.cache.assume_pod(PodInfo.of(p), p.spec.node_name)
    return World(built.cache, built.scheduler(), evictions)


def test_the_node_whose_victims_violate_no_budget_is_preferred_over_a_lower_priority_one() -> None:
    # Upstream's "pod can be made schedulable on minHighestPriority node", PDB-first: node1's
    # victim has the lower priority but its budget allows no disruption.
    w = world(
        [node("node1", 1), node("node2", 1)],
        [
            pod("p1", priority=1, labels=FOO, node="node1"),
            pod("p2", priority=5, node="node2"),
        ],
        [budget(labels=FOO, allowed=0)],
    )
    assert w.place(pod("p", priority=100)).node == "node2"
    assert w.victims() == [["p2"]]
    # Without the budget the lower-priority victim goes.
    w = world(
        [node("node1", 1), node("node2", 1)],
        [pod("p1", priority=1, labels=FOO, node="node1"), pod("p2", priority=5, node="node2")],
    )
    assert w.place(pod("p", priority=100)).node == "node1"


def test_the_dry_run_looks_past_its_budget_until_a_candidate_violates_no_pdb() -> None:
    # Upstream's "preemption looks past numCandidates until a non-PDB violating node is
    # found": minCandidateNodesAbsolute 2 over 5 nodes, node1 and node2 under a budget with no
    # disruption left. From offset 0 the run meets node1 and node2 (both violating), so it
    # goes on to node3, which wins with 0 violations.
    w = world(
        [node(f"node{i}", 1) for i in range(1, 6)],
        [
            pod("p1", priority=10, labels=FOO, node="node1"),
            pod("p2", priority=10, labels=FOO, node="node2"),
            pod("p3", priority=10, node="node3"),
            pod("p4", priority=10, node="node4"),
            pod("p5", priority=10, labels=FOO, node="node5"),
        ],
        [budget(labels=FOO, allowed=0)],
        args={"minCandidateNodesPercentage": 40, "minCandidateNodesAbsolute": 2},
    )
    assert w.place(pod("p", priority=100)).node == "node3"
    assert w.victims() == [["p3"]]


def test_when_every_candidate_violates_the_fewest_violations_win() -> None:
    w = world(
        [node("node1", 2), node("node2", 2)],
        [
            pod("a1", priority=1, labels=FOO, node="node1"),
            pod("a2", priority=1, labels=FOO, node="node1"),
            pod("b1", priority=5, labels=FOO, node="node2"),
            pod("b2", priority=5, node="node2"),
        ],
        [budget(labels=FOO, allowed=0)],
    )
    assert w.place(pod("p", priority=100, cpu=2)).node == "node2"
    assert w.victims() == [["b1", "b2"]]


def test_pick_one_node_puts_pdb_violations_before_every_other_criterion() -> None:
    low = PodInfo.of(pod("low", priority=1))
    high = PodInfo.of(pod("high", priority=50))
    chosen = pick_one_node_for_preemption(
        [Candidate("cheap", (low,), pdb_violations=1), Candidate("dear", (high, high), 0)]
    )
    assert chosen.node_name == "dear"


# -------------------------------------------------------------------- computed status


def test_min_available_as_a_count_reads_the_matching_pods() -> None:
    pods = [pod(f"w{i}", labels=FOO, node="n") for i in range(3)]
    pods.append(pod("other", labels={"app": "bar"}, node="n"))
    status = computed_status(budget(labels=FOO, min_available=2, allowed=None), pods, SCALES)
    assert (status.expected_pods, status.desired_healthy, status.current_healthy) == (3, 2, 3)
    assert status.disruptions_allowed == 1


def test_only_ready_pods_not_being_deleted_are_healthy() -> None:
    pods = [
        pod("ready", labels=FOO, node="n", ready=True),
        pod("not-ready", labels=FOO, node="n", ready=False),
        pod("unreported", labels=FOO, node="n"),  # no kubelet offline: taken as ready
        pod("leaving", labels=FOO, node="n", ready=True),
    ]
    pods[3].metadata.deletion_timestamp = "2026-01-01T00:00:00Z"
    status = computed_status(budget(labels=FOO, min_available=1, allowed=None), pods, SCALES)
    assert (status.current_healthy, status.disruptions_allowed) == (2, 1)


DEPLOYMENT = Deployment(
    metadata=ObjectMeta(name="web", namespace="default", uid="d-1"),
    spec=DeploymentSpec(replicas=4),
)
REPLICA_SET = ReplicaSet(
    metadata=ObjectMeta(
        name="web-abc",
        namespace="default",
        uid="rs-1",
        owner_references=[
            OwnerReference(
                api_version="apps/v1", kind="Deployment", name="web", uid="d-1", controller=True
            )
        ],
    ),
    spec=ReplicaSetSpec(replicas=4),
)
LONE_SET = ReplicaSet(
    metadata=ObjectMeta(name="solo", namespace="default"), spec=ReplicaSetSpec(replicas=10)
)
SCALES = ControllerScales.of([DEPLOYMENT, REPLICA_SET, LONE_SET])


def _owned(name: str, kind: str = "ReplicaSet", owner: str = "web-abc", uid: str = "") -> Pod:
    group = "batch/v1" if kind == "Job" else "apps/v1"
    ref = OwnerReference(api_version=group, kind=kind, name=owner, uid=uid, controller=True)
    return pod(name, labels=FOO, node="n", owner=ref)


@pytest.mark.parametrize(
    ("spec", "expected", "desired", "allowed"),
    [
        # The Deployment above the ReplicaSet has 4 replicas; 3 pods run, all ready.
        ({"min_available": "50%"}, 4, 2, 1),
        ({"min_available": "51%"}, 4, 3, 0),  # rounded up
        ({"max_unavailable": "25%"}, 4, 3, 0),
        ({"max_unavailable": 2}, 4, 2, 1),
        ({"max_unavailable": "100%"}, 4, 0, 3),
        ({}, 0, 0, 0),  # neither: nothing expected, nothing allowed
    ],
)
def test_percentages_and_max_unavailable_read_the_owning_deployments_scale(
    spec: dict[str, int | str], expected: int, desired: int, allowed: int
) -> None:
    pods = [_owned(f"w{i}") for i in range(3)]
    status = computed_status(budget(labels=FOO, allowed=None, **spec), pods, SCALES)  # type: ignore[arg-type]
    assert (status.expected_pods, status.desired_healthy) == (expected, desired)
    assert status.disruptions_allowed == allowed


def test_a_replica_set_no_deployment_owns_counts_its_own_scale_once() -> None:
    pods = [_owned(f"s{i}", owner="solo") for i in range(2)]
    status = computed_status(budget(labels=FOO, min_available="80%", allowed=None), pods, SCALES)
    assert (status.expected_pods, status.desired_healthy, status.disruptions_allowed) == (10, 8, 0)


@pytest.mark.parametrize(
    "owner",
    [
        _owned("j", kind="Job", owner="train"),  # batch/v1 Jobs serve no scale subresource
        _owned("gone", owner="missing-rs"),  # a controller not in the object set
        _owned("stale", owner="web-abc", uid="another-uid"),  # same name, another object
    ],
)
def test_a_sync_the_controller_cannot_finish_allows_no_disruption(owner: Pod) -> None:
    pods = [owner, _owned("w0"), _owned("w1")]
    for spec in ({"min_available": "10%"}, {"max_unavailable": 3}):
        status = computed_status(budget(labels=FOO, allowed=None, **spec), pods, SCALES)  # type: ignore[arg-type]
        assert status.disruptions_allowed == 0, (owner.metadata.name, spec)
    # An integer minAvailable needs no scale: the same pods allow one disruption.
    status = computed_status(budget(labels=FOO, min_available=2, allowed=None), pods, SCALES)
    assert status.disruptions_allowed == 1


def test_a_status_the_server_gave_is_used_as_is() -> None:
    given_status = budget(labels=FOO, allowed=7, min_available=100)
    missing = budget("computed", labels=FOO, allowed=None, min_available=0)
    asked: list[int] = []

    def pods() -> list[Pod]:
        asked.append(1)
        return [pod("w", labels=FOO, node="n")]

    listed = with_status([given_status], pods, SCALES)
    assert listed[0] is given_status and asked == []  # no pods read for it
    listed = with_status([given_status, missing], pods, SCALES)
    assert [b.status.disruptions_allowed for b in listed if b.status] == [7, 1]
    assert asked == [1]


def test_offline_preemption_computes_a_missing_status_from_the_pods_running_now() -> None:
    # Two replicas of "web" under minAvailable 1 with no status: one may go, the second
    # preemption then finds none allowed and prefers the unprotected pod.
    w = world(
        [node("node1", 1), node("node2", 1), node("node3", 1)],
        [
            pod("web-0", priority=1, labels=FOO, node="node1"),
            pod("web-1", priority=1, labels=FOO, node="node2"),
            pod("batch", priority=3, node="node3"),
        ],
        [budget(labels=FOO, min_available=1, allowed=None)],
    )
    assert w.place(pod("first", priority=100)).node == "node1"
    assert w.place(pod("second", priority=100)).node == "node3"
    assert w.victims() == [["web-0"], ["batch"]]


# ------------------------------------------------------------------------- properties

_RUNNING = st.tuples(
    st.integers(0, 2),  # node
    st.integers(0, 4),  # priority
    st.integers(1, 2),  # cpu
    st.sampled_from(["a", "b", ""]),  # app label ("" none)
)


def _random_world(
    nodes: int, running: list[tuple[int, int, int, str]], allowed: tuple[int, int]
) -> tuple[list[Node], list[Pod], list[PodDisruptionBudget]]:
    made_nodes = [node(f"node{i}", 3) for i in range(nodes)]
    used = [0] * nodes
    pods = []
    for i, (n, priority, cpu, app) in enumerate(running):
        n %= nodes
        if used[n] + cpu > 3:
            continue
        used[n] += cpu
        labels = {"app": app} if app else {}
        pods.append(pod(f"r{i}", priority=priority, cpu=cpu, labels=labels, node=f"node{n}"))
    budgets = [
        budget("a", labels={"app": "a"}, allowed=allowed[0]),
        budget("b", labels={"app": "b"}, allowed=allowed[1]),
    ]
    return made_nodes, pods, budgets


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    nodes=st.integers(1, 3),
    running=st.lists(_RUNNING, min_size=1, max_size=9),
    allowed=st.tuples(st.integers(0, 2), st.integers(0, 2)),
    cpu=st.integers(1, 3),
)
def test_no_chosen_candidate_violates_more_budgets_than_another_feasible_one(
    nodes: int,
    running: list[tuple[int, int, int, str]],
    allowed: tuple[int, int],
    cpu: int,
) -> None:
    made_nodes, pods, budgets = _random_world(nodes, running, allowed)
    # Every node is a candidate to look at (no early stop), so the best is among them.
    w = world(made_nodes, pods, budgets, args={"minCandidateNodesAbsolute": 100})
    preemptor = pod("p", priority=10, cpu=cpu)
    framework = w.scheduler.framework
    state = CycleState()
    info = PodInfo.of(preemptor)
    snapshot = w.cache.snapshot()
    _, _, err = framework.pre_filter(state, info, snapshot)
    if err is not None:
        return
    feasible: dict[str, tuple[list[str], int]] = {}
    for n in snapshot:
        potential = [p for p in n.pods if p.priority < info.priority]
        if not potential or framework.run_filters_with_state(state, info, n).is_success:
            continue
        found, _ = select_victims_on_node(
            framework, state.clone(), info, n.copy(), potential, budgets
        )
        if found is not None and found.pods:
            feasible[n.name] = (names(found.pods), found.pdb_violations)
    if any(framework.run_filters_with_state(state, info, n).is_success for n in snapshot):
        return  # the pod fits somewhere: no preemption
    outcome = w.scheduler.schedule_one(preemptor)
    if not feasible:
        assert outcome.nominated_node in (None, "")
        return
    chosen = outcome.nominated_node
    assert chosen in feasible
    assert feasible[chosen][1] == min(v for _, v in feasible.values())
    assert w.victims() == [feasible[chosen][0]]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    running=st.lists(_RUNNING, min_size=1, max_size=6),
    allowed=st.tuples(st.integers(0, 2), st.integers(0, 2)),
    cpu=st.integers(1, 3),
)
def test_reprieve_tries_violating_victims_first_each_group_most_important_first(
    running: list[tuple[int, int, int, str]], allowed: tuple[int, int], cpu: int
) -> None:
    _, pods, budgets = _random_world(1, running, allowed)
    d = dry(3, pod("p", priority=10, cpu=cpu), *pods)
    potential = [p for p in d.node.pods if p.priority < d.preemptor.priority]
    if not potential:
        return
    order: list[str] = []

    class Spy:
        """Records each pod put back on the node, in order."""

        name = "Spy"

        def pre_filter(
            self, state: CycleState, p: PodInfo, ns: Sequence[NodeInfo]
        ) -> tuple[None, Status]:
            return None, SUCCESS

        def add_pod(self, state: CycleState, p: PodInfo, added: PodInfo, n: NodeInfo) -> Status:
            order.append(added.pod.metadata.name)
            return SUCCESS

        def remove_pod(
            self, state: CycleState, p: PodInfo, removed: PodInfo, n: NodeInfo
        ) -> Status:
            return SUCCESS

    fit = NodeResourcesFit(NodeResourcesFitArgs())
    framework = Framework(Profile(pre_filter=[fit, Spy()], filter=[fit]))
    state = CycleState()
    framework.pre_filter(state, d.preemptor, [d.node])
    found, _ = select_victims_on_node(
        framework, state, d.preemptor, d.node.copy(), potential, budgets
    )
    if found is None:
        return
    ranked = sorted(potential, key=importance)
    violating, non_violating = split_by_budget_violation(ranked, budgets)
    assert order == names(violating) + names(non_violating)
    assert found.pdb_violations == len(set(names(found.pods)) & set(names(violating)))
    assert list(found.pods) == sorted(found.pods, key=importance)
