"""The in-tree registry: names as users write them, factories that read args."""

from __future__ import annotations

import pytest
from schedkit import pod

from dralloc.errors import InputError, InternalError
from dralloc.scheduler.framework import (
    BindPlugin,
    FilterPlugin,
    PodInfo,
    PreFilterPlugin,
    PreScorePlugin,
    ScoreNormalizer,
    ScorePlugin,
)
from dralloc.scheduler.plugins import NodeResourcesFit, in_tree_registry
from dralloc.scheduler.plugins.noderesources import ScoringStrategyType

POINTS = {
    "PreFilter": PreFilterPlugin,
    "Filter": FilterPlugin,
    "PreScore": PreScorePlugin,
    "Score": ScorePlugin,
    "NormalizeScore": ScoreNormalizer,
    "Bind": BindPlugin,
}


def _bind(pod_info: PodInfo, node_name: str) -> None:
    pass


@pytest.mark.parametrize(
    ("name", "points"),
    [
        ("NodeUnschedulable", {"Filter"}),
        ("NodeName", {"Filter"}),
        ("TaintToleration", {"Filter", "PreScore", "Score", "NormalizeScore"}),
        ("NodeAffinity", {"PreFilter", "Filter", "PreScore", "Score", "NormalizeScore"}),
        ("NodeResourcesFit", {"PreFilter", "Filter", "PreScore", "Score"}),
        ("NodeResourcesBalancedAllocation", {"PreScore", "Score"}),
        ("NodePorts", {"PreFilter", "Filter"}),
        ("PodTopologySpread", {"PreFilter", "Filter", "PreScore", "Score", "NormalizeScore"}),
        ("InterPodAffinity", {"PreFilter", "Filter", "PreScore", "Score", "NormalizeScore"}),
        ("ImageLocality", {"Score"}),
        ("DefaultBinder", {"Bind"}),
    ],
)
def test_each_plugin_is_built_by_name_and_implements_its_extension_points(
    name: str, points: set[str]
) -> None:
    plugin = in_tree_registry(binder=_bind)[name](None)
    assert plugin.name == name
    assert {point for point, protocol in POINTS.items() if isinstance(plugin, protocol)} == points


def test_factories_read_wire_args() -> None:
    registry = in_tree_registry()
    plugin = registry["NodeResourcesFit"]({"scoringStrategy": {"type": "MostAllocated"}})
    assert isinstance(plugin, NodeResourcesFit)
    assert plugin.args.scoring_strategy.type == ScoringStrategyType.MOST_ALLOCATED


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("NodeResourcesFit", {"ignoredResources": 3}, "P.ignoredResources: must be a list, got 3"),
        ("NodeAffinity", {"addedAffinity": 1}, "P.addedAffinity: must be an object, got 1"),
        (
            "NodeResourcesBalancedAllocation",
            {"resources": [{"name": "cpu", "weight": 3}]},
            "P.resources[0].weight: must be 1, got 3",
        ),
        ("TaintToleration", {"x": 1}, "P.x: unknown field"),
        ("NodeName", {"x": 1}, "P.x: unknown field"),
        ("NodeUnschedulable", {"x": 1}, "P.x: unknown field"),
        ("NodePorts", {"x": 1}, "P.x: unknown field"),
        ("ImageLocality", {"x": 1}, "P.x: unknown field"),
        ("DefaultBinder", {"x": 1}, "P.x: unknown field"),
    ],
)
def test_bad_args_raise_input_error_under_the_given_path(
    name: str, args: dict[str, object], message: str
) -> None:
    with pytest.raises(InputError) as caught:
        in_tree_registry(binder=_bind)[name](args, path="P")
    assert str(caught.value) == message


def test_without_a_path_problems_start_at_the_args_type() -> None:
    registry = in_tree_registry()
    with pytest.raises(InputError, match=r"^NodeResourcesFitArgs\.x: unknown field$"):
        registry["NodeResourcesFit"]({"x": 1})
    with pytest.raises(InputError, match=r"^TaintToleration\.args\.x: unknown field$"):
        registry["TaintToleration"]({"x": 1})


def test_default_binder_needs_a_binder() -> None:
    with pytest.raises(InternalError, match="pass binder= to in_tree_registry"):
        in_tree_registry()["DefaultBinder"](None)


def test_each_call_returns_a_new_registry() -> None:
    first = in_tree_registry()
    first.pop("NodeName")
    assert "NodeName" in in_tree_registry()
    assert pod().key == "default/pod"
