"""The node label index (`framework/labelindex.py`) and NodeAffinity's Filter candidates.

* The snapshot keeps the index equal to one built from scratch over its nodes as nodes are
  added, relabelled and removed, and prunes what no node carries; the switch turns it off.
* `filter_candidates` holds every node NodeAffinity's Filter passes, for random labels and
  random required selectors (every operator, several terms, matchFields, faults,
  addedAffinity), and exactly a node pool's nodes for a pool selector.
* A framework whose Filter plugins before NodeAffinity are quiet schedules exactly as the
  plain scan (`index_node_labels` off): same nodes, allocations, counts, scores, start index
  and "0/N nodes are available" text, with remembered verdicts on and off; it runs Filter on
  fewer nodes. Kube-scheduler's default profile keeps every Filter call (its first three
  Filter plugins do not declare themselves quiet).

`DRALLOC_EQUIVALENCE_EXAMPLES` raises the property's example count (soak)."""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msgspec.structs import replace as with_fields

from dralloc.api.core import (
    Affinity,
    Container,
    Node,
    NodeSelector,
    NodeSelectorRequirement,
    NodeSelectorTerm,
    NodeSpec,
    NodeStatus,
    Pod,
    PodResourceClaim,
    PodSpec,
    ResourceClaimRef,
    ResourceRequirements,
    Taint,
)
from dralloc.api.core import (
    NodeAffinity as NodeAffinitySpec,
)
from dralloc.api.meta import ObjectMeta
from dralloc.api.quantity import Quantity
from dralloc.api.resource import (
    CELDeviceSelector,
    Device,
    DeviceClaim,
    DeviceClass,
    DeviceClassSpec,
    DeviceRequest,
    DeviceSelector,
    ExactDeviceRequest,
    ResourceClaim,
    ResourceClaimSpec,
    ResourcePool,
    ResourceSlice,
    ResourceSliceSpec,
)
from dralloc.features import Features
from dralloc.scheduler.builder import SchedulerInputs, build_scheduler
from dralloc.scheduler.cache import SchedulerCache
from dralloc.scheduler.config import ProfileConfig, SchedulerConfiguration
from dralloc.scheduler.framework import (
    CycleState,
    Framework,
    IndexedNodes,
    NodeInfo,
    NodeLabelIndex,
    PodInfo,
    Profile,
    ScheduleResult,
    Status,
    is_quiet_filter,
)
from dralloc.scheduler.plugins.helper.nodeselector import compile_selector, required_node_affinity
from dralloc.scheduler.plugins.nodeaffinity import NodeAffinity, NodeAffinityArgs
from dralloc.scheduler.plugins.nodeaffinity.candidates import filter_candidates
from dralloc.scheduler.plugins.nodename.plugin import NodeName
from dralloc.scheduler.plugins.nodeunschedulable.plugin import NodeUnschedulable
from dralloc.scheduler.plugins.tainttoleration.plugin import TaintToleration
from dralloc.scheduler.scheduler import ScheduleOutcome, Scheduler

EXAMPLES = int(os.environ.get("DRALLOC_EQUIVALENCE_EXAMPLES", "60"))
DRIVER = "tpu.example.com"
DEVICE_CLASS = "example-tpu"
POOL = "cloud.google.com/gke-nodepool"
KEYS = (POOL, "zone", "gen", "gpu")
VALUES = {POOL: ("pool-0", "pool-1", "pool-2", "pool-3"), "zone": ("a", "b", "c")}
VALUES["gen"] = ("1", "2", "3", "10")
VALUES["gpu"] = ("true",)
HARD = Taint(key="dedicated", value="infra", effect="NoSchedule")


# ------------------------------------------------------------------------ the index


def brute_index(nodes: Sequence[NodeInfo]) -> dict[tuple[str, str], set[str]]:
    found: dict[tuple[str, str], set[str]] = {}
    for node in nodes:
        for key, value in node.node.metadata.labels.items():
            found.setdefault((key, value), set()).add(node.name)
    return found


def indexed(index: NodeLabelIndex, nodes: Sequence[NodeInfo]) -> dict[tuple[str, str], set[str]]:
    keys = {key for node in nodes for key in node.node.metadata.labels}
    return {
        (key, value): set(names)
        for key in keys
        for value, names in index.values(key).items()
        if names
    }


def labelled(name: str, labels: dict[str, str], *, cpu: str = "4", cordoned: bool = False) -> Node:
    capacity = {"pods": Quantity.parse("110"), "cpu": Quantity.parse(cpu)}
    return Node(
        metadata=ObjectMeta(name=name, labels={"kubernetes.io/hostname": name, **labels}),
        spec=NodeSpec(unschedulable=cordoned),
        status=NodeStatus(capacity=capacity, allocatable=dict(capacity)),
    )


def test_the_snapshot_keeps_its_index_equal_to_its_nodes_through_changes() -> None:
    cache = SchedulerCache(
        Features(),
        nodes=[labelled(f"n-{i}", {POOL: f"pool-{i % 3}", "zone": "a"}) for i in range(9)],
    )
    nodes = cache.snapshot()
    assert isinstance(nodes, IndexedNodes) and nodes.labels is not None
    assert indexed(nodes.labels, nodes) == brute_index(nodes)
    assert nodes.labels.with_value(POOL, "pool-1") == {"n-1", "n-4", "n-7"}
    # Relabelled: the node is copied again and re-indexed, in the same index.
    cache.update_node(labelled("n-1", {POOL: "pool-2", "gpu": "true"}))
    nodes = cache.snapshot()
    assert nodes.labels is not None
    assert nodes.labels.with_value(POOL, "pool-1") == {"n-4", "n-7"}
    assert nodes.labels.with_key("gpu") == {"n-1"}
    assert indexed(nodes.labels, nodes) == brute_index(nodes)
    # Removed and added: a new list over the same index, pruned.
    cache.remove_node("n-1")
    cache.add_node(labelled("n-9", {POOL: "pool-9"}))
    after = cache.snapshot()
    assert after is not nodes and after.labels is nodes.labels
    assert after.labels is not None
    assert after.labels.with_key("gpu") == set()
    assert "true" not in after.labels.values("gpu")
    assert after.labels.with_value(POOL, "pool-9") == {"n-9"}
    assert indexed(after.labels, after) == brute_index(after)
    assert len(after.labels) == sum(len(n.node.metadata.labels) for n in after)
    assert after.positions == {node.name: at for at, node in enumerate(after)}


def test_the_switch_turns_the_index_off() -> None:
    cache = SchedulerCache(
        Features(), nodes=[labelled("n-0", {POOL: "pool-0"})], index_node_labels=False
    )
    nodes = cache.snapshot()
    assert isinstance(nodes, IndexedNodes) and nodes.labels is None
    pod = PodInfo.of(Pod(spec=PodSpec(node_selector={POOL: "pool-0"})))
    result, status = NodeAffinity().pre_filter(CycleState(), pod, nodes)
    assert status.is_success and result is None


def test_a_pool_selector_gives_exactly_the_pools_nodes() -> None:
    cache = SchedulerCache(
        Features(),
        nodes=[labelled(f"n-{i:02d}", {POOL: f"pool-{i % 4}", "zone": "a"}) for i in range(40)],
    )
    nodes = cache.snapshot()
    pod = PodInfo.of(Pod(spec=PodSpec(node_selector={POOL: "pool-3", "zone": "a"})))
    result, status = NodeAffinity().pre_filter(CycleState(), pod, nodes)
    assert status.is_success and result is not None
    assert result.node_names is None  # nothing upstream would narrow
    assert result.filter_candidates == {f"n-{i:02d}" for i in range(3, 40, 4)}


def test_a_metadata_name_pin_narrows_as_upstream_does() -> None:
    cache = SchedulerCache(Features(), nodes=[labelled(f"n-{i}", {}) for i in range(4)])
    pin = NodeSelectorRequirement(key="metadata.name", operator="In", values=["n-2"])
    required = NodeSelector(node_selector_terms=[NodeSelectorTerm(match_fields=[pin])])
    affinity = Affinity(
        node_affinity=NodeAffinitySpec(required_during_scheduling_ignored_during_execution=required)
    )
    pod = PodInfo.of(Pod(spec=PodSpec(affinity=affinity)))
    result, status = NodeAffinity().pre_filter(CycleState(), pod, cache.snapshot())
    assert status.is_success and result is not None
    assert result.node_names == {"n-2"} and result.filter_candidates is None


# ------------------------------------------------------------ selectors, at random


def requirement_strategy(*, fields: bool) -> st.SearchStrategy[NodeSelectorRequirement]:
    if fields:
        return st.builds(
            NodeSelectorRequirement,
            key=st.sampled_from(["metadata.name", "metadata.name", "metadata.uid"]),
            operator=st.sampled_from(["In", "NotIn", "Exists"]),
            values=st.lists(st.sampled_from([f"n-{i}" for i in range(12)]), max_size=2),
        )

    def values_for(key: str, operator: str) -> st.SearchStrategy[list[str]]:
        pool = VALUES.get(key, ("x",))
        if operator in ("In", "NotIn"):
            # Now and then no value at all: a fault, the term matches nothing.
            return st.lists(st.sampled_from(pool), min_size=0, max_size=3)
        if operator in ("Gt", "Lt"):
            return st.lists(st.sampled_from(["0", "1", "2", "5", "x"]), min_size=1, max_size=1)
        return st.lists(st.sampled_from(pool), max_size=1).map(lambda v: v[:0] if v else v)

    operators = ["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]
    return st.tuples(st.sampled_from([*KEYS, "missing"]), st.sampled_from(operators)).flatmap(
        lambda pair: values_for(*pair).map(
            lambda values: NodeSelectorRequirement(key=pair[0], operator=pair[1], values=values)
        )
    )


TERMS = st.builds(
    NodeSelectorTerm,
    match_expressions=st.lists(requirement_strategy(fields=False), max_size=3),
    match_fields=st.lists(requirement_strategy(fields=True), max_size=1),
)
SELECTORS = st.one_of(
    st.none(), st.builds(NodeSelector, node_selector_terms=st.lists(TERMS, max_size=3))
)
NODE_SELECTORS = st.dictionaries(
    st.sampled_from(KEYS), st.sampled_from([v for vs in VALUES.values() for v in vs]), max_size=2
)


def node_labels(rng: random.Random) -> dict[str, str]:
    return {key: rng.choice(VALUES[key]) for key in KEYS if rng.random() < 0.7}


def selector_pod(node_selector: dict[str, str], required: NodeSelector | None, **spec: Any) -> Pod:
    affinity = (
        Affinity(
            node_affinity=NodeAffinitySpec(
                required_during_scheduling_ignored_during_execution=required
            )
        )
        if required is not None
        else None
    )
    return Pod(spec=PodSpec(node_selector=node_selector, affinity=affinity, **spec))


def valid_added(selector: NodeSelector | None) -> NodeSelector | None:
    """`selector` when the plugin accepts it as addedAffinity (no faults), else None."""
    if selector is None or compile_selector(selector, "added").faults:
        return None
    return selector


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    count=st.integers(1, 12),
    node_selector=NODE_SELECTORS,
    required=SELECTORS,
    added=SELECTORS,
)
def test_the_candidates_hold_every_node_filter_passes(
    seed: int,
    count: int,
    node_selector: dict[str, str],
    required: NodeSelector | None,
    added: NodeSelector | None,
) -> None:
    rng = random.Random(seed)
    cache = SchedulerCache(
        Features(), nodes=[labelled(f"n-{i}", node_labels(rng)) for i in range(count)]
    )
    nodes = cache.snapshot()
    assert isinstance(nodes, IndexedNodes) and nodes.labels is not None
    enforced = valid_added(added)
    plugin = NodeAffinity(
        NodeAffinityArgs(
            NodeAffinitySpec(required_during_scheduling_ignored_during_execution=enforced)
        )
        if enforced is not None
        else None
    )
    pod = PodInfo.of(selector_pod(node_selector, required))
    state = CycleState()
    result, status = plugin.pre_filter(state, pod, nodes)
    passing = {
        node.name
        for node in nodes
        if status.code.name != "SKIP" and plugin.filter(state, pod, node).is_success
    }
    if result is not None and result.filter_candidates is not None:
        assert passing <= result.filter_candidates
    added_compiled = compile_selector(enforced, "added") if enforced is not None else None
    found = filter_candidates(
        nodes.labels, nodes.positions, required_node_affinity(pod.pod), added_compiled
    )
    if found is not None:
        assert passing <= found


# ---------------------------------------------------- the framework, fast and plain


class QuietUnschedulable(NodeUnschedulable):
    quiet_filter = True


class QuietNodeName(NodeName):
    quiet_filter = True


class QuietTaints(TaintToleration):
    quiet_filter = True


QUIET = {"NodeUnschedulable": QuietUnschedulable, "NodeName": QuietNodeName}
QUIET["TaintToleration"] = QuietTaints


class CountingFramework(Framework):
    """Records each cycle's result and how many nodes Filter ran on."""

    def __init__(self, profile: Profile, **kwargs: Any) -> None:
        super().__init__(profile, **kwargs)
        self.last_result: ScheduleResult | None = None
        self.filter_calls = 0

    def schedule(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> ScheduleResult:
        self.last_result = None
        result = super().schedule(state, pod, nodes)
        self.last_result = result
        return result

    def run_filters(
        self, state: CycleState, pod: PodInfo, node: NodeInfo, skipped: set[str] | None = None
    ) -> Status:
        self.filter_calls += 1
        return super().run_filters(state, pod, node, skipped)


def quiet_profile(profile: Profile, added: NodeSelector | None) -> Profile:
    """`profile` with quiet copies of the Filter plugins before NodeAffinity, and NodeAffinity
    given `added` as its addedAffinity."""
    affinity = NodeAffinity(
        NodeAffinityArgs(
            NodeAffinitySpec(required_during_scheduling_ignored_during_execution=added)
        )
        if added is not None
        else None
    )

    def swap(plugin: Any) -> Any:
        if plugin.name == "NodeAffinity":
            return affinity
        kind = QUIET.get(plugin.name)
        return kind() if kind is not None else plugin

    return replace(
        profile,
        pre_filter=[swap(p) for p in profile.pre_filter],
        filter=[swap(p) for p in profile.filter],
        pre_score=[swap(p) if p.name == "NodeAffinity" else p for p in profile.pre_score],
        score=[(swap(p) if p.name == "NodeAffinity" else p, w) for p, w in profile.score],
    )


@dataclass
class Run:
    cache: SchedulerCache
    framework: CountingFramework
    scheduler: Scheduler


def tpu_fleet(rng: random.Random, count: int) -> tuple[list[Node], list[ResourceSlice]]:
    nodes = []
    slices = []
    for i in range(count):
        name = f"n-{i:03d}"
        node = labelled(name, node_labels(rng), cpu=rng.choice(["2", "4"]))
        roll = rng.random()
        if roll < 0.1:
            node = with_fields(node, spec=NodeSpec(unschedulable=True))
        elif roll < 0.2:
            node = with_fields(node, spec=NodeSpec(taints=[HARD]))
        nodes.append(node)
        devices = rng.choice([0, 1, 2])
        if devices:
            slices.append(
                ResourceSlice(
                    metadata=ObjectMeta(name=f"{name}-tpus"),
                    spec=ResourceSliceSpec(
                        driver=DRIVER,
                        node_name=name,
                        pool=ResourcePool(name=name, generation=1, resource_slice_count=1),
                        devices=[Device(name=f"tpu-{d}") for d in range(devices)],
                    ),
                )
            )
    return nodes, slices


def tpu_class() -> DeviceClass:
    return DeviceClass(
        metadata=ObjectMeta(name=DEVICE_CLASS),
        spec=DeviceClassSpec(
            selectors=[DeviceSelector(cel=CELDeviceSelector(f'device.driver == "{DRIVER}"'))]
        ),
    )


def build_run(
    nodes: list[Node],
    slices: list[ResourceSlice],
    *,
    index: bool,
    remember: bool,
    percentage: int | None,
    added: NodeSelector | None,
    quiet: bool = True,
) -> Run:
    config = SchedulerConfiguration(
        profiles=[ProfileConfig(percentage_of_nodes_to_score=percentage)]
    )
    built = build_scheduler(
        SchedulerInputs(
            Features(),
            nodes=nodes,
            slices=slices,
            classes=[tpu_class()],
            config=config,
            rng=random.Random(7),
            remember_verdicts=remember,
            index_node_labels=index,
        )
    )
    profile = built.framework().profile
    if quiet:
        profile = quiet_profile(profile, added)
    framework = CountingFramework(profile, rng=random.Random(11), pod_signature=built.signature)
    return Run(built.cache, framework, Scheduler(built.cache, framework))


def claim_for(name: str) -> ResourceClaim:
    request = DeviceRequest(name="tpu", exactly=ExactDeviceRequest(device_class_name=DEVICE_CLASS))
    return ResourceClaim(
        metadata=ObjectMeta(name=f"{name}-tpu", namespace="default", uid=f"uid-{name}-tpu"),
        spec=ResourceClaimSpec(devices=DeviceClaim(requests=[request])),
    )


def job_pod(
    name: str, node_selector: dict[str, str], required: NodeSelector | None, *, claim: bool
) -> Pod:
    pod = selector_pod(
        node_selector,
        required,
        containers=[
            Container(
                name="main",
                image="registry.k8s.io/pause:3.10.1",
                resources=ResourceRequirements(
                    requests={"cpu": Quantity.parse("1")},
                    claims=[ResourceClaimRef(name="tpu")] if claim else [],
                ),
            )
        ],
        resource_claims=(
            [PodResourceClaim(name="tpu", resource_claim_name=f"{name}-tpu")] if claim else []
        ),
    )
    return with_fields(pod, metadata=ObjectMeta(name=name, namespace="default", uid=f"uid-{name}"))


def observe(run: Run, outcome: ScheduleOutcome) -> dict[str, Any]:
    result = run.framework.last_result
    return {
        "node": outcome.node,
        "code": outcome.status.code,
        "message": outcome.message,
        "evaluated": outcome.evaluated_nodes,
        "feasible": outcome.feasible_nodes,
        "plugins": outcome.unschedulable_plugins,
        "start": run.framework.next_start_node_index,
        "scores": dict(result.scores) if result is not None else None,
    }


def allocations(run: Run) -> dict[str, Any]:
    return {
        key: (
            [(r.pool, r.device) for r in claim.status.allocation.devices.results]
            if claim.status.allocation is not None
            else None
        )
        for key, claim in run.cache.claims.items()
    }


def schedule_all(run: Run, pods: list[tuple[Pod, bool]]) -> list[dict[str, Any]]:
    seen = []
    for pod, claim in pods:
        if claim:
            run.cache.set_claim(claim_for(pod.metadata.name))
        seen.append(observe(run, run.scheduler.schedule_one(pod)))
    return seen


POD_SPECS = st.lists(
    st.tuples(NODE_SELECTORS, SELECTORS, st.booleans(), st.integers(1, 3)), min_size=1, max_size=4
)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    seed=st.integers(0, 2**16),
    count=st.sampled_from([3, 8, 20, 130, 300]),
    specs=POD_SPECS,
    added=SELECTORS,
    remember=st.booleans(),
    percentage=st.sampled_from([None, 5, 50, 100]),
)
def test_a_framework_with_the_index_schedules_as_the_plain_scan(
    seed: int,
    count: int,
    specs: list[tuple[dict[str, str], NodeSelector | None, bool, int]],
    added: NodeSelector | None,
    remember: bool,
    percentage: int | None,
) -> None:
    rng = random.Random(seed)
    nodes, slices = tpu_fleet(rng, count)
    enforced = valid_added(added)
    pods: list[tuple[Pod, bool]] = []
    for shape, (node_selector, required, claim, copies) in enumerate(specs):
        for copy in range(copies):  # pods of one shape: remembered verdicts come into play
            name = f"job-{shape}-{copy}"
            pods.append((job_pod(name, node_selector, required, claim=claim), claim))
    fast = build_run(
        nodes, slices, index=True, remember=remember, percentage=percentage, added=enforced
    )
    plain = build_run(
        nodes, slices, index=False, remember=remember, percentage=percentage, added=enforced
    )
    assert schedule_all(fast, pods) == schedule_all(plain, pods)
    assert allocations(fast) == allocations(plain)
    assert {k: n for k, (_, n) in fast.cache.pods.items()} == {
        k: n for k, (_, n) in plain.cache.pods.items()
    }
    assert fast.framework.filter_calls <= plain.framework.filter_calls


@pytest.mark.parametrize("remember", [True, False])
def test_a_pod_pinned_to_a_pool_is_filtered_on_the_pool_and_diagnosed_as_a_full_scan(
    remember: bool,
) -> None:
    """Three pools of 40 nodes; pool-1's nodes are too small, some others cordoned or tainted:
    the pod fits nowhere, and the message counts every node as the plain scan does."""
    nodes = []
    for i in range(120):
        pool = f"pool-{i // 40}"
        node = labelled(f"n-{i:03d}", {POOL: pool}, cpu="1" if pool == "pool-1" else "8")
        if i % 10 == 3:
            node = with_fields(node, spec=NodeSpec(unschedulable=True))
        elif i % 10 == 7:
            node = with_fields(node, spec=NodeSpec(taints=[HARD]))
        nodes.append(node)
    pod = Pod(
        metadata=ObjectMeta(name="worker-0", namespace="default", uid="uid-worker-0"),
        spec=PodSpec(
            node_selector={POOL: "pool-1"},
            containers=[
                Container(
                    name="main",
                    image="registry.k8s.io/pause:3.10.1",
                    resources=ResourceRequirements(requests={"cpu": Quantity.parse("2")}),
                )
            ],
        ),
    )
    outcomes = {}
    for index in (True, False):
        run = build_run(nodes, [], index=index, remember=remember, percentage=None, added=None)
        outcome = run.scheduler.schedule_one(pod)
        outcomes[index] = (observe(run, outcome), run.framework.filter_calls)
    (fast, fast_calls), (plain, plain_calls) = outcomes[True], outcomes[False]
    assert fast == plain
    assert fast["message"].startswith(
        "0/120 nodes are available: 12 node(s) had untolerated taint(s), "
        "12 node(s) were unschedulable, 32 Insufficient cpu, "
        "64 node(s) didn't match Pod's node affinity/selector. "
    )
    # The walk filters the pool (40), then, to diagnose, the 80 others.
    assert plain_calls == 120 and fast_calls == 120
    # Once placed pods need the pool only: a pod that fits is filtered on the pool alone.
    fits = with_fields(pod, metadata=with_fields(pod.metadata, name="worker-1", uid="uid-worker-1"))
    fits = with_fields(fits, spec=with_fields(fits.spec, node_selector={POOL: "pool-2"}))
    calls = {}
    for index in (True, False):
        run = build_run(nodes, [], index=index, remember=remember, percentage=None, added=None)
        outcome = run.scheduler.schedule_one(fits)
        calls[index] = (observe(run, outcome), run.framework.filter_calls)
    assert calls[True][0] == calls[False][0]
    assert calls[True][1] == 40 and calls[False][1] == 120


@pytest.mark.parametrize("remember", [True, False])
def test_a_walk_that_stops_early_visits_as_the_plain_scan(remember: bool) -> None:
    """300 nodes, 200 of them in the pools the pods ask for: the walk stops at the 144th
    feasible node, so the counts and the next start index show where it stopped."""
    nodes = [
        labelled(f"n-{i:03d}", {POOL: f"pool-{i % 3}"} if i % 3 else {"zone": "a"})
        for i in range(300)
    ]
    wide = NodeSelector(
        node_selector_terms=[
            NodeSelectorTerm(
                match_expressions=[NodeSelectorRequirement(key=POOL, operator="Exists")]
            )
        ]
    )
    pods = [(job_pod(f"wide-{i}", {}, wide, claim=False), False) for i in range(5)]
    pods += [(job_pod(f"one-{i}", {POOL: "pool-1"}, None, claim=False), False) for i in range(3)]
    seen = {}
    for index in (True, False):
        run = build_run(nodes, [], index=index, remember=remember, percentage=None, added=None)
        seen[index] = (schedule_all(run, pods), run.framework.filter_calls)
    assert seen[True][0] == seen[False][0]
    assert seen[True][0][0]["evaluated"] == 216  # the 144th feasible node (48 % of 300)
    assert seen[True][1] < seen[False][1]


def test_the_default_profile_filters_the_pool_alone_once_its_first_filters_are_quiet() -> None:
    """NodeUnschedulable, NodeName and TaintToleration run before NodeAffinity: the pool
    alone is filtered when all three declare themselves quiet, every node otherwise; the
    outcome is the plain scan's either way."""
    nodes = [labelled(f"n-{i:03d}", {POOL: f"pool-{i % 3}"}) for i in range(30)]
    pod = job_pod("solo", {POOL: "pool-0"}, None, claim=False)
    seen = {}
    for index in (True, False):
        run = build_run(
            nodes, [], index=index, remember=True, percentage=None, added=None, quiet=False
        )
        seen[index] = (observe(run, run.scheduler.schedule_one(pod)), run.framework)
    assert seen[True][0] == seen[False][0]
    framework = seen[True][1]
    before = [p for p in framework.profile.filter[:4]]
    assert [p.name for p in before] == [
        "NodeUnschedulable",
        "NodeName",
        "TaintToleration",
        "NodeAffinity",
    ]
    quiet = all(is_quiet_filter(p) for p in before)
    assert framework.filter_calls == (10 if quiet else 30)
    assert seen[False][1].filter_calls == 30


@pytest.mark.parametrize("remember", [True, False])
def test_a_node_relabelled_into_the_pool_is_a_candidate_for_the_next_pod(remember: bool) -> None:
    """Pods of one shape before and after a node joins their pool: the remembered
    candidates follow the index's version, and both runs place the same pods alike."""
    nodes = [labelled(f"n-{i:02d}", {POOL: f"pool-{i % 2}"}, cpu="1") for i in range(12)]
    runs = {
        index: build_run(nodes, [], index=index, remember=remember, percentage=None, added=None)
        for index in (True, False)
    }
    seen: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
    for round_ in range(2):
        for index, run in runs.items():
            pods = [
                (job_pod(f"p-{round_}-{i}", {POOL: "pool-0"}, None, claim=False), False)
                for i in range(8)
            ]
            seen[index] += schedule_all(run, pods)
            if round_ == 0:
                run.cache.update_node(labelled("n-01", {POOL: "pool-0"}, cpu="1"))
    assert seen[True] == seen[False]
    placed = {n for _, n in runs[True].cache.pods.values()}
    assert "n-01" in placed  # the relabelled node took a pod of the shape
