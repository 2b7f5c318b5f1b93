"""The framework's shortcuts (`FrameworkSpeedups`) change nothing but time: with every switch
on, a scheduler places, scores, reports and draws exactly as with all of them off, on small
clusters of labelled, tainted nodes holding images, under pods that skip the pod-to-pod
plugins and pods that do not (spread, inter-pod affinity, host ports, images held or not),
pods with a ResourceClaim asking for one device or for `firstAvailable` alternatives (with
DRAPrioritizedList on and off), with pods deleted in between; with remembered verdicts and
without.

CI runs 60 examples of the property; `DRALLOC_EQUIVALENCE_EXAMPLES=5000` soaks it."""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dralloc.api.core import (
    Affinity,
    Container,
    ContainerImage,
    ContainerPort,
    Node,
    NodeSpec,
    NodeStatus,
    Pod,
    PodResourceClaim,
    PodSpec,
    ResourceRequirements,
    Taint,
    TopologySpreadConstraint,
)
from dralloc.api.meta import LabelSelector, ObjectMeta
from dralloc.api.quantity import Quantity
from dralloc.api.resource import DeviceClass, ResourceClaim, ResourceSlice
from dralloc.features import Features
from dralloc.scheduler.builder import SchedulerInputs, build_scheduler
from dralloc.scheduler.cache import SchedulerCache
from dralloc.scheduler.framework import (
    CycleState,
    Framework,
    FrameworkSpeedups,
    IndexedNodes,
    NodeInfo,
    PodInfo,
    Profile,
    ScheduleResult,
    SchedulingError,
    Status,
    default_normalize,
)
from dralloc.scheduler.framework.scoring import Prioritizer, ScoredNodes, _ScoredSequence
from dralloc.scheduler.framework.selection import NameOrder, select_host
from dralloc.scheduler.plugins import ImageLocality
from dralloc.scheduler.plugins.gpushare import TaskType
from dralloc.scheduler.scheduler import Scheduler
from dralloc.sim.experiment import SimulationSpeedups, build_simulation
from dralloc.sim.traces import TraceNode
from dralloc.sim.traces.openb import openb_models

EXAMPLES = int(os.environ.get("DRALLOC_EQUIVALENCE_EXAMPLES", "60"))
HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"
MB = 1024 * 1024
# (names, size) as a kubelet reports them; "pause" is on no node.
IMAGES = (
    (("registry.k8s.io/app:1",), 300 * MB),
    (("registry.k8s.io/big:2",), 2000 * MB),
    (("registry.k8s.io/tiny:3",), 5 * MB),
)
POD_IMAGES = ("pause", "registry.k8s.io/app:1", "registry.k8s.io/big:2", "registry.k8s.io/tiny:3")


class RecordingFramework(Framework):
    """Records each cycle's result (nothing it answers changes)."""

    def __init__(self, profile: Profile, **kwargs: Any) -> None:
        super().__init__(profile, **kwargs)
        self.last: ScheduleResult | None = None

    def schedule(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> ScheduleResult:
        self.last = None
        self.last = super().schedule(state, pod, nodes)
        return self.last


def _node(index: int, images: int, tainted: bool, zones: int) -> Node:
    name = f"node-{index:02d}"
    capacity = {
        "cpu": Quantity.parse("4"),
        "memory": Quantity.parse("8Gi"),
        "pods": Quantity.parse("110"),
    }
    held = [ContainerImage(names=list(n), size_bytes=s) for n, s in IMAGES[: images % 4]]
    return Node(
        metadata=ObjectMeta(name=name, labels={HOSTNAME: name, ZONE: f"z{index % zones}"}),
        spec=NodeSpec(taints=[Taint(key="noisy", effect="PreferNoSchedule")] if tainted else []),
        status=NodeStatus(capacity=capacity, allocatable=dict(capacity), images=held),
    )


DRIVER = "gpu.example.com"
# Node i publishes the devices of SIZES[i % 3], so alternatives are served unevenly.
SIZES = (("big",), ("small", "small"), ("big", "small"))


def _device_class() -> DeviceClass:
    selector = {"cel": {"expression": f'device.driver == "{DRIVER}"'}}
    return msgspec.convert(
        {"metadata": {"name": "gpu"}, "spec": {"selectors": [selector]}}, DeviceClass
    )


def _slice(index: int) -> ResourceSlice:
    name = f"node-{index:02d}"
    devices = [
        {"name": f"{size}-{at}", "attributes": {"size": {"string": size}}}
        for at, size in enumerate(SIZES[index % 3])
    ]
    spec = {
        "driver": DRIVER,
        "nodeName": name,
        "pool": {"name": name, "generation": 1, "resourceSliceCount": 1},
        "devices": devices,
    }
    return msgspec.convert({"metadata": {"name": name}, "spec": spec}, ResourceSlice)


def _claim(index: int, kind: str) -> ResourceClaim:
    """One device of any size ("claim"), or a big one else two small ones ("alternatives")."""

    def sized(size: str) -> list[dict[str, object]]:
        return [{"cel": {"expression": f'device.attributes["{DRIVER}"].size == "{size}"'}}]

    if kind == "claim":
        request: dict[str, object] = {"name": "gpu", "exactly": {"deviceClassName": "gpu"}}
    else:
        request = {
            "name": "gpu",
            "firstAvailable": [
                {"name": "big", "deviceClassName": "gpu", "selectors": sized("big")},
                {
                    "name": "small",
                    "deviceClassName": "gpu",
                    "count": 2,
                    "selectors": sized("small"),
                },
            ],
        }
    return msgspec.convert(
        {
            "metadata": {"name": f"c{index}", "namespace": "default"},
            "spec": {"devices": {"requests": [request]}},
        },
        ResourceClaim,
    )


def _pod(index: int, kind: str, image: str) -> Pod:
    labels = {"app": "web" if index % 2 else "db"}
    requests = {"cpu": Quantity.parse("500m")} if kind != "besteffort" else {}
    ports = [ContainerPort(container_port=80, host_port=8080)] if kind == "port" else []
    term = {"topologyKey": HOSTNAME, "labelSelector": {"matchLabels": labels}}
    constraints = []
    if kind in ("spread", "soft-spread"):
        constraints.append(
            TopologySpreadConstraint(
                max_skew=1,
                topology_key=ZONE if kind == "spread" else HOSTNAME,
                when_unsatisfiable="DoNotSchedule" if kind == "spread" else "ScheduleAnyway",
                label_selector=LabelSelector(match_labels=labels),
            )
        )
    affinity = None
    if kind == "anti":
        required = {"requiredDuringSchedulingIgnoredDuringExecution": [term]}
        affinity = Affinity(pod_anti_affinity=required)
    elif kind == "prefer":
        weighted = {"weight": 10, "podAffinityTerm": {**term, "topologyKey": ZONE}}
        affinity = Affinity(
            pod_affinity={"preferredDuringSchedulingIgnoredDuringExecution": [weighted]}
        )
    return Pod(
        metadata=ObjectMeta(name=f"p{index}", namespace="default", labels=labels),
        spec=PodSpec(
            containers=[
                Container(
                    name="main",
                    image=image,
                    ports=ports,
                    resources=ResourceRequirements(requests=requests),
                )
            ],
            topology_spread_constraints=constraints,
            affinity=affinity,
            resource_claims=(
                [PodResourceClaim(name="gpu", resource_claim_name=f"c{index}")]
                if kind in CLAIMED
                else []
            ),
        ),
    )


def _run(
    nodes: list[Node],
    steps: list[tuple[str, str, bool]],
    seed: int,
    remember: bool,
    speedups: FrameworkSpeedups,
    prioritized_list: bool = True,
) -> list[tuple[Any, ...]]:
    rng = random.Random(seed)
    built = build_scheduler(
        SchedulerInputs(
            Features().with_gates(DRAPrioritizedList=prioritized_list),
            nodes=nodes,
            slices=[_slice(i) for i in range(len(nodes))],
            classes=[_device_class()],
            rng=rng,
            remember_verdicts=remember,
            framework_speedups=speedups,
        )
    )
    # The switches as the builder handed them to its framework (SchedulerInputs' wiring).
    framework = RecordingFramework(
        built.framework().profile,
        rng=rng,
        pod_signature=built.signature,
        speedups=built.framework().speedups,
    )
    scheduler = Scheduler(built.cache, framework)
    placed: list[Pod] = []
    seen: list[tuple[Any, ...]] = []
    for i, (kind, image, delete_first) in enumerate(steps):
        if delete_first and placed:
            scheduler.remove_pod(placed.pop(0))
        pod = _pod(i, kind, image)
        if kind in CLAIMED:
            built.cache.set_claim(_claim(i, kind))
        outcome = scheduler.schedule_one(pod)
        if outcome.node is not None:
            placed.append(pod)
        result = framework.last
        seen.append(
            (
                outcome.node,
                outcome.message,
                outcome.evaluated_nodes,
                outcome.feasible_nodes,
                framework.next_start_node_index,
                dict(result.scores) if result is not None and result.scores is not None else None,
            )
        )
    seen.append(("rng", rng.random()))
    return seen


CLAIMED = ("claim", "alternatives")
KINDS = st.sampled_from(
    ["plain", "besteffort", "spread", "soft-spread", "anti", "prefer", "port", *CLAIMED]
)


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3), st.booleans()), min_size=2, max_size=7),
    st.lists(st.tuples(KINDS, st.sampled_from(POD_IMAGES), st.booleans()), min_size=1, max_size=12),
    st.integers(1, 3),
    st.integers(0, 3),
    st.booleans(),
    st.booleans(),
)
def test_every_shortcut_on_schedules_exactly_as_all_of_them_off(
    shapes: list[tuple[int, bool]],
    steps: list[tuple[str, str, bool]],
    zones: int,
    seed: int,
    remember: bool,
    prioritized_list: bool,
) -> None:
    nodes = [_node(i, images, tainted, zones) for i, (images, tainted) in enumerate(shapes)]
    fast = _run(nodes, steps, seed, remember, FrameworkSpeedups(), prioritized_list)
    plain = _run(nodes, steps, seed, remember, FrameworkSpeedups.none(), prioritized_list)
    assert fast == plain


def test_an_idle_fleet_ties_every_node_and_the_draw_is_the_named_one() -> None:
    """Identical idle nodes tie on every score: the position draw takes the node the name
    draw takes, for every seed (names sort as strings: node-10 before node-2). 130 nodes, so
    each cycle's Filter stops after 100 feasible ones and the next starts where it stopped:
    the window of tied nodes is in scan order, not name order."""
    nodes = [
        Node(
            metadata=ObjectMeta(name=f"node-{i}", labels={HOSTNAME: f"node-{i}"}),
            status=NodeStatus(
                allocatable={"cpu": Quantity.parse("4"), "pods": Quantity.parse("110")}
            ),
        )
        for i in range(130)
    ]
    steps = [("besteffort", "pause", False)] * 6
    for seed in range(4):
        fast = _run(nodes, steps, seed, True, FrameworkSpeedups())
        assert fast == _run(nodes, steps, seed, True, FrameworkSpeedups.none())
        assert len({row[0] for row in fast[:-1]}) > 1  # the draws differ: ties were drawn


def test_image_locality_declares_a_uniform_zero_only_when_no_node_holds_the_images() -> None:
    nodes = IndexedNodes(
        NodeInfo.of(_node(i, images, False, 1)) for i, images in enumerate((0, 1, 0))
    )
    plugin = ImageLocality(lambda: nodes)
    state = CycleState()
    held = PodInfo.of(_pod(0, "plain", "registry.k8s.io/app:1"))
    nowhere = PodInfo.of(_pod(1, "plain", "pause"))
    assert plugin.uniform_score(state, held) is None
    assert plugin.score(state, held, nodes[1])[0] > 0
    assert plugin.uniform_score(state, nowhere) == 0
    assert {plugin.score(state, nowhere, node)[0] for node in nodes} == {0}
    assert ImageLocality().uniform_score(state, nowhere) is None  # no lister: cannot tell


def test_pre_score_plugins_read_the_scored_nodes_in_scan_order_without_a_list() -> None:
    nodes = IndexedNodes(NodeInfo.of(_node(i, 0, False, 1)) for i in range(6))
    scored = ScoredNodes(nodes, np.array([4, 5, 0, 2], dtype=np.intp))
    view = _ScoredSequence(scored)
    assert len(view) == 4
    assert view[1] is nodes[5] and view[-1] is nodes[2]
    assert scored._listed is None  # nothing listed for a length and two positions
    assert [n.name for n in view] == [nodes[at].name for at in (4, 5, 0, 2)]
    assert list(view[1:3]) == [nodes[5], nodes[0]]


def test_ties_by_position_only_over_a_node_list_that_keeps_name_order() -> None:
    infos = [NodeInfo.of(_node(i, 0, False, 1)) for i in (3, 1, 2)]
    order = NameOrder()
    assert not order.holds(IndexedNodes(infos))  # not in name order
    assert not order.holds(sorted(infos, key=lambda n: n.name))  # a plain list may change
    in_order = IndexedNodes(sorted(infos, key=lambda n: n.name))
    assert order.holds(in_order)
    scored = ScoredNodes(in_order, np.array([2, 0, 1], dtype=np.intp))
    totals = np.array([5, 5, 5], dtype=np.int64)
    for seed in range(5):
        by_position = select_host(scored, totals, None, random.Random(seed), order)
        by_name = select_host(scored, totals, None, random.Random(seed), None)
        assert by_position == by_name
    assert select_host(scored, totals, None, None, order) == "node-01"


class _Constant:
    """A Score plugin with NormalizeScore that scores every node `value` and says so."""

    name = "Constant"

    def __init__(self, value: int, declares: bool = True) -> None:
        self.value = value
        self.declares = declares

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> tuple[int, Status]:
        return self.value, Status()

    def uniform_score(self, state: CycleState, pod: PodInfo) -> int | None:
        return self.value if self.declares else None

    def normalize_scores(self, state: CycleState, pod: PodInfo, scores: dict[str, int]) -> Status:
        default_normalize(scores, reverse=True)
        return Status()


class _RawConstant(_Constant):
    """The same without NormalizeScore: its raw value is the score."""

    normalize_scores = None  # type: ignore[assignment]


@pytest.mark.parametrize("value", [-5, 0, 3, 250])
def test_a_uniform_score_is_normalised_checked_and_weighted_as_per_node_scores(
    value: int,
) -> None:
    nodes = IndexedNodes(NodeInfo.of(_node(i, 0, False, 1)) for i in range(5))
    pod = PodInfo.of(_pod(0, "plain", "pause"))
    window = np.array([3, 4, 0], dtype=np.intp)
    totals = []
    for speedups in (FrameworkSpeedups(), FrameworkSpeedups.none()):
        plugins = [(_Constant(value), 2), (_Constant(value * 40), 1), (_RawConstant(value), 3)]
        scoring = Prioritizer(Profile(score=plugins), speedups)  # type: ignore[list-item]
        try:
            scored = scoring.prioritize(CycleState(), pod, ScoredNodes(nodes, window))
            totals.append(scored.tolist())
        except SchedulingError as err:
            totals.append(err.status.message)
    assert totals[0] == totals[1]
    if value < 0 or value > 100:  # normalised, the others are in range; the raw one is not
        assert totals[0] == (
            f'plugin "Constant" returns an invalid score {value}, it should in the range of '
            "[0, 100] after normalizing"
        )
    else:
        assert isinstance(totals[0], list)


def test_a_node_copy_holds_what_the_node_holds_and_changes_apart() -> None:
    node = NodeInfo.of(_node(0, 2, True, 1))
    node.add_pod(PodInfo.of(_pod(0, "port", "pause")))
    node.add_pod(PodInfo.of(_pod(1, "anti", "pause")))
    for scratch in (True, False):
        copied = node.copy(scratch=scratch)
        assert copied == node  # every compared field
        assert copied.scratch is scratch and copied.journal is None
        assert copied.image_sizes == node.image_sizes and copied.name == node.name
        assert len(copied.used_ports) == len(node.used_ports) == 1
        copied.remove_pod("default/p1")
        copied.remove_pod("default/p0")
        assert len(node.pods) == 2 and len(node.pods_with_required_anti_affinity) == 1
        assert node.requested.milli_cpu == 1000 and len(node.used_ports) == 1
        assert copied.generation == node.generation + 2


def test_the_builder_and_a_simulation_hand_their_switches_to_the_framework() -> None:
    for speedups in (FrameworkSpeedups(), FrameworkSpeedups.none()):
        inputs = SchedulerInputs(Features(), framework_speedups=speedups)
        assert build_scheduler(inputs).framework().speedups == speedups
    trace = TraceNode("n0", 8000, 32768, 1, "T4")
    workload = [(TaskType(1000, 1000, 1, frozenset()), 1.0)]
    for switches, expected in (
        (SimulationSpeedups(), FrameworkSpeedups()),
        (SimulationSpeedups.none(), FrameworkSpeedups.none()),
        (replace(SimulationSpeedups(), framework_shortcuts=False), FrameworkSpeedups.none()),
    ):
        simulation = build_simulation(
            [trace], workload, "fgd", random.Random(0), {"n0": 0}, openb_models(), speedups=switches
        )
        assert simulation.scheduler.framework.speedups == expected


def test_the_pod_to_pod_plugins_read_the_list_the_cycle_was_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Their lister is `SchedulerCache.cycle_nodes`, which never updates the snapshot: at
    every call (PreFilter, PreScore, Score, PostFilter) it is the very list an update would
    return, on pods of every kind with pods deleted in between."""
    listed: list[bool] = []
    unchecked = SchedulerCache.cycle_nodes

    def checked(cache: SchedulerCache) -> list[NodeInfo]:
        nodes = unchecked(cache)
        listed.append(nodes is cache.snapshot())
        return nodes

    monkeypatch.setattr(SchedulerCache, "cycle_nodes", checked)
    nodes = [_node(i, i, i == 2, 2) for i in range(4)]
    kinds = ["spread", "anti", "prefer", "soft-spread", "plain", "alternatives", "anti", "port"]
    steps = [(kind, POD_IMAGES[i % 4], i % 3 == 2) for i, kind in enumerate(kinds * 2)]
    _run(nodes, steps, 0, True, FrameworkSpeedups())
    assert len(listed) > len(steps) and all(listed)
