"""The in-tree plugins through `Framework.schedule`: the FitError message users see
("0/N nodes are available: ...", spec/scheduler.md section 3) and how scores pick a node."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from schedkit import name_pin, node, pod, required, requirement, term

from dralloc.api.core import Taint, Toleration
from dralloc.scheduler.framework import (
    CycleState,
    FilterPlugin,
    FitError,
    Framework,
    NodeInfo,
    PodInfo,
    PreFilterPlugin,
    PreScorePlugin,
    Profile,
    ScorePlugin,
)
from dralloc.scheduler.plugins import (
    NodeAffinity,
    NodeName,
    NodeResourcesBalancedAllocation,
    NodeResourcesFit,
    NodeUnschedulable,
    TaintToleration,
)

GPU_TAINT = Taint(key="nvidia.com/gpu", value="present", effect="NoSchedule")


def _framework() -> Framework:
    """The default profile's order and weights for these plugins (spec 4.1)."""
    taints, affinity, fit = TaintToleration(), NodeAffinity(), NodeResourcesFit()
    balanced = NodeResourcesBalancedAllocation()
    filters: list[FilterPlugin] = [NodeUnschedulable(), NodeName(), taints, affinity, fit]
    pre_filters: list[PreFilterPlugin] = [affinity, fit]
    pre_scores: list[PreScorePlugin] = [taints, affinity, fit, balanced]
    scores: list[tuple[ScorePlugin, int]] = [(taints, 3), (affinity, 2), (fit, 1), (balanced, 1)]
    return Framework(
        Profile(pre_filter=pre_filters, filter=filters, pre_score=pre_scores, score=scores)
    )


def _fit_error(the_pod: PodInfo, nodes: Sequence[NodeInfo]) -> FitError:
    with pytest.raises(FitError) as caught:
        _framework().schedule(CycleState(), the_pod, nodes)
    return caught.value


CPU_POD = pod("train", requests={"cpu": "3"})


def test_the_message_tallies_each_nodes_reasons() -> None:
    nodes = [
        node("cpu-1", cpu="2"),
        node("gpu-1", taints=[GPU_TAINT]),
        node("gpu-2", taints=[GPU_TAINT]),
    ]
    error = _fit_error(CPU_POD, nodes)
    assert error.message == (
        "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint(s)."
    )
    assert error.diagnosis.unschedulable_plugins == {"NodeResourcesFit", "TaintToleration"}


def test_every_reason_of_the_first_rejecting_plugin_counts_and_parts_sort_as_strings() -> None:
    batch = {"pool": "batch"}
    full = [pod("r", requests={"cpu": "1", "memory": "7Gi"})]
    nodes = [
        node("a", labels=batch, unschedulable=True),
        node("b", labels=batch, pods="1", running=full),  # Too many pods, Insufficient memory
        node("c", labels=batch, taints=[GPU_TAINT]),
        node("d", labels=batch, cpu="2"),
        node("e", labels=batch, cpu="2"),
        node("f"),
    ]
    the_pod = pod("p", requests={"cpu": "3", "memory": "2Gi"}, node_selector=batch)
    # Plain string order: every "1 ..." before "2 ...", capitals before lower case.
    assert _fit_error(the_pod, nodes).message == (
        "0/6 nodes are available: 1 Insufficient memory, 1 Too many pods, "
        "1 node(s) didn't match Pod's node affinity/selector, "
        "1 node(s) had untolerated taint(s), 1 node(s) were unschedulable, 2 Insufficient cpu."
    )


def test_nodes_outside_a_name_pin_count_as_not_satisfying_node_affinity() -> None:
    nodes = [node("cpu-1", cpu="2"), node("cpu-2"), node("cpu-3")]
    pinned = pod("p", requests={"cpu": "3"}, affinity=required(name_pin("cpu-1")))
    assert _fit_error(pinned, nodes).message == (
        "0/3 nodes are available: 1 Insufficient cpu, "
        "2 node(s) didn't satisfy plugin(s) [NodeAffinity]."
    )


def test_a_pre_filter_rejection_gives_its_message_alone() -> None:
    conflict = term(
        fields=[requirement("metadata.name", "In", "a"), requirement("metadata.name", "In", "b")]
    )
    error = _fit_error(pod(affinity=required(conflict)), [node("a"), node("b"), node("c")])
    assert error.message == "0/3 nodes are available: pod affinity terms conflict."


def test_a_pin_to_no_existing_node_fails_with_every_node_outside_the_pin() -> None:
    error = _fit_error(pod(affinity=required(name_pin("gone"))), [node("a"), node("b")])
    assert error.message == (
        "0/2 nodes are available: 2 node(s) didn't satisfy plugin(s) [NodeAffinity]."
    )


def test_scores_prefer_tolerated_then_emptier_nodes() -> None:
    soft = Taint(key="spot", effect="PreferNoSchedule")
    busy = [pod("r", requests={"cpu": "3", "memory": "6Gi"})]
    nodes = [node("busy", running=busy), node("spot", taints=[soft]), node("idle")]
    result = _framework().schedule(CycleState(), pod(requests={"cpu": "1", "memory": "1Gi"}), nodes)
    # TaintToleration (weight 3): spot 0, others 100. NodeAffinity: skipped.
    # Fit: idle/spot (3000·100//4000 = 75, 7Gi/8Gi -> 87) -> 81; busy (0, 12) -> 6.
    # Balanced: idle/spot (0.25, 0.125) -> 93 -> 50 + 43 // 2 = 71;
    #           busy (0.75, 0.75) -> (1.0, 0.875): 100 -> 93 -> 50 + 43 // 2 = 71.
    assert result.scores == {"busy": 300 + 6 + 71, "spot": 0 + 81 + 71, "idle": 300 + 81 + 71}
    assert result.node == "idle"
    tolerant = pod(
        requests={"cpu": "1", "memory": "1Gi"},
        tolerations=[Toleration(key="spot", operator="Exists")],
    )
    assert _framework().schedule(CycleState(), tolerant, nodes).scores["spot"] == 300 + 81 + 71
