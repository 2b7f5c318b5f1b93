"""TaintToleration: hard taints filter, PreferNoSchedule taints score (spec 4.6)."""

from __future__ import annotations

import pytest
from schedkit import node, pod

from dralloc.api.core import Taint, Toleration
from dralloc.scheduler.framework import SUCCESS, Code, CycleState, Status
from dralloc.scheduler.plugins.helper import tolerates
from dralloc.scheduler.plugins.tainttoleration import TaintToleration

GPU_NO_SCHEDULE = Taint(key="nvidia.com/gpu", value="present", effect="NoSchedule")
REJECTED = Status.unresolvable("node(s) had untolerated taint(s)")


@pytest.mark.parametrize(
    ("toleration", "taint", "expected"),
    [
        pytest.param(Toleration(key="k", value="v"), Taint(key="k", value="v"), True, id="equal"),
        pytest.param(Toleration(key="k", value="v"), Taint(key="k", value="w"), False, id="value"),
        pytest.param(
            Toleration(key="k", operator="Equal", value="v"),
            Taint(key="k", value="v"),
            True,
            id="Equal",
        ),
        pytest.param(
            Toleration(key="k", operator="Exists"), Taint(key="k", value="w"), True, id="exists"
        ),
        pytest.param(Toleration(key="j", operator="Exists"), Taint(key="k"), False, id="other-key"),
        pytest.param(
            Toleration(operator="Exists"),
            Taint(key="k", effect="NoExecute"),
            True,
            id="empty-key-exists",
        ),
        pytest.param(Toleration(operator="Equal"), Taint(key="k"), False, id="empty-key-equal"),
        pytest.param(
            Toleration(key="k", operator="Exists", effect="NoSchedule"),
            Taint(key="k", effect="NoExecute"),
            False,
            id="other-effect",
        ),
        pytest.param(
            Toleration(key="k", operator="Exists"),
            Taint(key="k", effect="PreferNoSchedule"),
            True,
            id="empty-effect",
        ),
        pytest.param(
            Toleration(key="k", operator="Gt", value="1"),
            Taint(key="k", value="2"),
            False,
            id="unknown-op",
        ),
    ],
)
def test_a_toleration_matches_a_taint_by_key_effect_and_operator(
    toleration: Toleration, taint: Taint, expected: bool
) -> None:
    assert tolerates(toleration, taint) is expected


@pytest.mark.parametrize(
    ("taints", "tolerations", "expected"),
    [
        pytest.param([], [], SUCCESS, id="no-taints"),
        pytest.param([GPU_NO_SCHEDULE], [], REJECTED, id="noschedule"),
        pytest.param([Taint(key="k", effect="NoExecute")], [], REJECTED, id="noexecute"),
        pytest.param([Taint(key="k", effect="PreferNoSchedule")], [], SUCCESS, id="prefer-only"),
        pytest.param(
            [GPU_NO_SCHEDULE],
            [Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")],
            SUCCESS,
            id="tolerated",
        ),
        pytest.param(
            [GPU_NO_SCHEDULE, Taint(key="k", effect="NoExecute")],
            [Toleration(key="nvidia.com/gpu", operator="Exists")],
            REJECTED,
            id="second-taint-untolerated",
        ),
        pytest.param(
            [GPU_NO_SCHEDULE],
            [Toleration(key="nvidia.com/gpu", value="absent", effect="NoSchedule")],
            REJECTED,
            id="wrong-value",
        ),
    ],
)
def test_filter_rejects_nodes_with_an_untolerated_hard_taint(
    taints: list[Taint], tolerations: list[Toleration], expected: Status
) -> None:
    status = TaintToleration().filter(
        CycleState(), pod(tolerations=tolerations), node(taints=taints)
    )
    assert status == expected


def _soft(key: str) -> Taint:
    return Taint(key=key, effect="PreferNoSchedule")


def test_score_counts_intolerable_prefer_no_schedule_taints_and_normalizes_reversed() -> None:
    plugin = TaintToleration()
    # Tolerates "a" (empty effect counts for PreferNoSchedule) but not "c": the toleration
    # for "c" has effect NoSchedule, so PreScore drops it.
    the_pod = pod(
        tolerations=[
            Toleration(key="a", operator="Exists"),
            Toleration(key="c", operator="Exists", effect="NoSchedule"),
        ]
    )
    nodes = [
        node("clean"),
        node("one", taints=[_soft("a"), _soft("b"), GPU_NO_SCHEDULE]),
        node("three", taints=[_soft("b"), _soft("c"), _soft("d")]),
    ]
    state = CycleState()
    assert plugin.pre_score(state, the_pod, nodes) == SUCCESS
    scores = {}
    for info in nodes:
        value, status = plugin.score(state, the_pod, info)
        assert status == SUCCESS
        scores[info.name] = value
    assert scores == {"clean": 0, "one": 1, "three": 3}
    assert plugin.normalize_scores(state, the_pod, scores) == SUCCESS
    # max 3: 100 - 100*0//3 = 100, 100 - 100*1//3 = 67, 100 - 100*3//3 = 0
    assert scores == {"clean": 100, "one": 67, "three": 0}


def test_every_node_scores_100_when_no_node_has_an_intolerable_soft_taint() -> None:
    scores = {"a": 0, "b": 0}
    assert TaintToleration().normalize_scores(CycleState(), pod(), scores).code == Code.SUCCESS
    assert scores == {"a": 100, "b": 100}


def test_score_without_pre_score_computes_the_tolerations_itself() -> None:
    value, status = TaintToleration().score(CycleState(), pod(), node(taints=[_soft("x")]))
    assert (value, status) == (1, SUCCESS)
