"""NodeResourcesFit: the Filter's reasons and codes, the scoring strategies, and its args
(spec/scheduler.md sections 4.2-4.4). Scores are worked out by hand in the comments."""

from __future__ import annotations

from typing import Any

import pytest
from schedkit import node, pod

from dralloc.errors import InputError
from dralloc.scheduler.framework import SUCCESS, CycleState, NodeInfo, PodInfo, Status
from dralloc.scheduler.plugins.noderesources import (
    DEFAULT_RESOURCES,
    NodeResourcesFit,
    NodeResourcesFitArgs,
    ResourceSpec,
    ScoringStrategy,
    ScoringStrategyType,
)
from dralloc.scheduler.plugins.noderesources.scoring import (
    broken_linear,
    least_allocated,
    most_allocated,
    requested_to_capacity_ratio,
)

GPU = "nvidia.com/gpu"
BUSY = pod("busy", requests={"cpu": "3", "memory": "7Gi"})
IDLE = pod("idle")


def _args(**raw: Any) -> NodeResourcesFitArgs:
    return NodeResourcesFitArgs.from_dict(raw)


@pytest.mark.parametrize(
    ("args", "the_pod", "the_node", "expected"),
    [
        pytest.param(None, pod(requests={"cpu": "1", "memory": "1Gi"}), node(), SUCCESS, id="fits"),
        pytest.param(
            None,
            IDLE,
            node(pods="1", running=[IDLE]),
            Status.unschedulable("Too many pods"),
            id="too-many-pods-even-without-requests",
        ),
        pytest.param(
            None,
            IDLE,
            node(cpu="3", memory="7Gi", running=[BUSY]),
            SUCCESS,
            id="zero-requests-skip-resource-checks",
        ),
        pytest.param(
            None,
            pod(requests={"cpu": "2", "memory": "2Gi"}),
            node(running=[BUSY]),
            Status.unschedulable("Insufficient cpu", "Insufficient memory"),
            id="all-reasons-together",
        ),
        pytest.param(
            None,
            pod(requests={"cpu": "5"}),
            node(),
            Status.unresolvable("Insufficient cpu"),
            id="more-than-allocatable-is-unresolvable",
        ),
        pytest.param(
            None,
            pod(requests={"cpu": "5", "memory": "2Gi"}),
            node(running=[BUSY]),
            Status.unresolvable("Insufficient cpu", "Insufficient memory"),
            id="one-unresolvable-makes-all-unresolvable",
        ),
        pytest.param(
            None,
            pod(requests={"cpu": "2"}),
            node(pods="1", running=[BUSY]),
            Status.unschedulable("Too many pods", "Insufficient cpu"),
            id="pods-first-then-cpu",
        ),
        pytest.param(
            None,
            pod(requests={"ephemeral-storage": "20Gi"}),
            node(extra={"ephemeral-storage": "10Gi"}),
            Status.unresolvable("Insufficient ephemeral-storage"),
            id="ephemeral-storage",
        ),
        pytest.param(
            None,
            pod(requests={GPU: "4"}),
            node(extra={GPU: "8"}, running=[pod("gpu", requests={GPU: "6"})]),
            Status.unschedulable("Insufficient nvidia.com/gpu"),
            id="gpu-in-use",
        ),
        pytest.param(
            None,
            pod(requests={GPU: "1"}),
            node(),
            Status.unresolvable("Insufficient nvidia.com/gpu"),
            id="gpu-absent",
        ),
        pytest.param(
            None,
            pod(requests={GPU: "1", "example.com/foo": "1"}),
            node(),
            Status.unresolvable("Insufficient example.com/foo", "Insufficient nvidia.com/gpu"),
            id="scalars-by-name",
        ),
        pytest.param(
            _args(ignoredResources=[GPU]), pod(requests={GPU: "1"}), node(), SUCCESS, id="ignored"
        ),
        pytest.param(
            _args(ignoredResourceGroups=["nvidia.com"]),
            pod(requests={GPU: "1", "example.com/foo": "1"}),
            node(),
            Status.unresolvable("Insufficient example.com/foo"),
            id="ignored-group",
        ),
        pytest.param(
            _args(ignoredResources=["hugepages-2Mi"]),
            pod(requests={"hugepages-2Mi": "2Mi"}),
            node(),
            Status.unresolvable("Insufficient hugepages-2Mi"),
            id="only-extended-resources-can-be-ignored",
        ),
    ],
)
def test_pre_filter_and_filter_statuses(
    args: NodeResourcesFitArgs | None, the_pod: PodInfo, the_node: NodeInfo, expected: Status
) -> None:
    plugin = NodeResourcesFit(args)
    state = CycleState()
    assert plugin.pre_filter(state, the_pod, [the_node]) == (None, SUCCESS)
    status = plugin.filter(state, the_pod, the_node)
    # Rejections may come stamped with the plugin's name (the framework stamps them anyway).
    assert (status.code, status.reasons) == (expected.code, expected.reasons)
    assert status.plugin in ("", plugin.name)


def _score(plugin: NodeResourcesFit, the_pod: PodInfo, the_node: NodeInfo) -> int:
    state = CycleState()
    assert plugin.pre_score(state, the_pod, [the_node]) == SUCCESS
    value, status = plugin.score(state, the_pod, the_node)
    assert status == SUCCESS
    return value


def _strategy(
    kind: str, resources: list[Any] | None = None, shape: list[Any] | None = None
) -> NodeResourcesFit:
    raw: dict[str, Any] = {"type": kind}
    if resources is not None:
        raw["resources"] = resources
    if shape is not None:
        raw["requestedToCapacityRatio"] = {
            "shape": [{"utilization": u, "score": s} for u, s in shape]
        }
    return NodeResourcesFit(_args(scoringStrategy=raw))


HALF_CPU_GIB = pod(requests={"cpu": "500m", "memory": "1Gi"})
ONE_CPU_NODE = node(running=[pod("r", requests={"cpu": "1", "memory": "1Gi"})])  # 4 cpu, 8Gi


def test_least_allocated_is_the_weighted_mean_of_free_fractions() -> None:
    # cpu: (4000 - 1500)·100 // 4000 = 62; memory: (8Gi - 2Gi)·100 // 8Gi = 75
    assert _score(NodeResourcesFit(), HALF_CPU_GIB, ONE_CPU_NODE) == (62 + 75) // 2 == 68
    weighted = _strategy("LeastAllocated", [{"name": "cpu", "weight": 3}, {"name": "memory"}])
    assert _score(weighted, HALF_CPU_GIB, ONE_CPU_NODE) == (3 * 62 + 75) // 4 == 65


def test_most_allocated_is_the_weighted_mean_of_used_fractions() -> None:
    # cpu: 1500·100 // 4000 = 37; memory: 2Gi·100 // 8Gi = 25
    assert _score(_strategy("MostAllocated"), HALF_CPU_GIB, ONE_CPU_NODE) == (37 + 25) // 2 == 31


def test_scoring_counts_containers_without_requests_as_100m_and_200mi() -> None:
    empty = node(cpu="1", memory="1000Mi")
    # pod: 100m and 200Mi -> cpu 900·100 // 1000 = 90, memory 800·100 // 1000 = 80
    assert _score(NodeResourcesFit(), IDLE, empty) == 85
    # a best-effort pod already on the node counts the same: cpu 80, memory 60
    assert _score(NodeResourcesFit(), IDLE, node(cpu="1", memory="1000Mi", running=[IDLE])) == 70


def test_scalars_score_only_when_the_pod_requests_them() -> None:
    plugin = _strategy("MostAllocated", [{"name": "cpu", "weight": 1}, {"name": GPU, "weight": 5}])
    gpu_node = node(extra={GPU: "8"}, running=[pod("r", requests={"cpu": "1", GPU: "2"})])
    # cpu 1500·100 // 4000 = 37; gpu (2 + 2)·100 // 8 = 50; (37 + 5·50) // 6 = 47
    assert _score(plugin, pod(requests={"cpu": "500m", GPU: "2"}), gpu_node) == 47
    # without a GPU request the GPU leaves the weighted mean: 37
    assert _score(plugin, pod(requests={"cpu": "500m"}), gpu_node) == 37
    # a node without GPUs leaves it out too
    assert _score(plugin, pod(requests={"cpu": "500m", GPU: "2"}), ONE_CPU_NODE) == 37
    # nothing left to score: 0
    only_gpu = _strategy("MostAllocated", [{"name": GPU, "weight": 1}])
    assert _score(only_gpu, pod(requests={"cpu": "500m"}), gpu_node) == 0


def test_requested_to_capacity_ratio_rounds_half_away_from_zero() -> None:
    plugin = _strategy("RequestedToCapacityRatio", shape=[(0, 0), (100, 10)])
    # utilizations 37 and 24 score 37 and 24: (37 + 24) / 2 = 30.5 -> 31 (Go's math.Round)
    the_pod = pod(requests={"cpu": "370m", "memory": "240Mi"})
    assert _score(plugin, the_pod, node(cpu="1", memory="1000Mi")) == 31


def test_requested_to_capacity_ratio_averages_only_resources_scoring_above_zero() -> None:
    plugin = _strategy("RequestedToCapacityRatio", shape=[(0, 0), (100, 10)])
    # memory: 1Mi of 1000Gi is utilization 0, score 0, left out; cpu 50 -> 50 (not 25)
    the_pod = pod(requests={"cpu": "500m", "memory": "1Mi"})
    assert _score(plugin, the_pod, node(cpu="1", memory="1000Gi")) == 50


def test_requested_to_capacity_ratio_interpolates_truncating_toward_zero() -> None:
    plugin = _strategy("RequestedToCapacityRatio", shape=[(0, 10), (30, 0)])
    # cpu utilization 1: 100 + trunc(-100·1 / 30) = 100 - 3 = 97 (floor would give 96);
    # memory utilization 40 is past the last point: 0, left out
    the_pod = pod(requests={"cpu": "10m", "memory": "400Mi"})
    assert _score(plugin, the_pod, node(cpu="1", memory="1000Mi")) == 97


def test_broken_linear_is_flat_outside_the_points() -> None:
    shape = [(20, 20), (80, 80)]
    assert [broken_linear(shape, u) for u in (0, 10, 20, 50, 79, 80, 90, 100)] == [
        20,
        20,
        20,
        50,
        79,
        80,
        80,
        80,
    ]
    assert broken_linear([(50, 70)], 0) == broken_linear([(50, 70)], 100) == 70


def test_formulas_on_over_committed_and_missing_resources() -> None:
    # request above allocatable: least 0, most capped at 100, RTCR at utilization 100
    assert least_allocated([5000, 1], [4000, 0], [1, 1]) == 0
    assert most_allocated([5000, 1], [4000, 0], [1, 1]) == 100
    assert requested_to_capacity_ratio([5000], [4000], [1], [(0, 0), (100, 100)]) == 100
    assert least_allocated([], [], []) == most_allocated([], [], []) == 0
    assert requested_to_capacity_ratio([0], [10], [1], [(0, 0), (100, 100)]) == 0


def test_ephemeral_storage_scores_even_when_the_pod_requests_none() -> None:
    plugin = _strategy("LeastAllocated", [{"name": "ephemeral-storage"}])
    assert _score(plugin, IDLE, node(extra={"ephemeral-storage": "100Gi"})) == 100


def test_score_without_pre_score_computes_the_requests_itself() -> None:
    value, status = NodeResourcesFit().score(CycleState(), HALF_CPU_GIB, ONE_CPU_NODE)
    assert (value, status) == (68, SUCCESS)


def test_args_defaults_follow_kube_scheduler_v1() -> None:
    default = NodeResourcesFitArgs.from_dict(None)
    assert default == NodeResourcesFitArgs()
    assert default.scoring_strategy == ScoringStrategy(
        ScoringStrategyType.LEAST_ALLOCATED, DEFAULT_RESOURCES
    )
    most = _args(scoringStrategy={"type": "MostAllocated", "resources": []})
    assert most.scoring_strategy.resources == DEFAULT_RESOURCES
    weighted = _args(
        scoringStrategy={"type": "MostAllocated", "resources": [{"name": GPU, "weight": 0}]}
    )
    assert weighted.scoring_strategy.resources == (ResourceSpec(GPU, 1),)


def test_invalid_args_name_every_problem_with_its_path() -> None:
    raw = {
        "ignoredResources": ["bad name!"],
        "ignoredResourceGroups": ["nvidia.com/gpu"],
        "scoringStrategy": {
            "type": "Foo",
            "resources": [{"name": "cpu", "weight": 101}, {"name": "memory", "weight": -1}],
            "requestedToCapacityRatio": {
                "shape": [
                    {"utilization": 50, "score": 11},
                    {"utilization": 50, "score": 1},
                    {"utilization": 120, "score": 1},
                ]
            },
        },
        "extra": True,
    }
    with pytest.raises(InputError) as caught:
        NodeResourcesFitArgs.from_dict(raw)
    p = "NodeResourcesFitArgs"
    shape = f"{p}.scoringStrategy.requestedToCapacityRatio.shape"
    assert [str(problem) for problem in caught.value.problems] == [
        f"{p}.extra: unknown field",
        f"{p}.ignoredResourceGroups[0]: must not contain '/', got \"nvidia.com/gpu\"",
        f'{p}.ignoredResources[0]: name part of "bad name!" must be at most 63 alphanumeric '
        "characters, '-', '_' or '.', starting and ending with an alphanumeric character",
        f"{shape}[0].score: must be in 0..10, got 11",
        f"{shape}[1].utilization: utilizations must be strictly increasing, got 50 after 50",
        f"{shape}[2].utilization: must be in 0..100, got 120",
        f"{p}.scoringStrategy.resources[0].weight: must be in 1..100, got 101",
        f"{p}.scoringStrategy.resources[1].weight: must be in 1..100, got -1",
        f"{p}.scoringStrategy.type: must be one of LeastAllocated, MostAllocated, "
        'RequestedToCapacityRatio, got "Foo"',
    ]


@pytest.mark.parametrize(
    ("strategy", "problem"),
    [
        (
            {"type": "RequestedToCapacityRatio"},
            "NodeResourcesFitArgs.scoringStrategy.requestedToCapacityRatio: "
            "required when type is RequestedToCapacityRatio",
        ),
        (
            {"type": "RequestedToCapacityRatio", "requestedToCapacityRatio": {"shape": []}},
            "NodeResourcesFitArgs.scoringStrategy.requestedToCapacityRatio.shape: "
            "at least one point must be specified",
        ),
        (
            {"type": "LeastAllocated", "resources": [{"name": "cpu", "weight": "1"}]},
            'NodeResourcesFitArgs.scoringStrategy.resources[0].weight: must be an integer, got "1"',
        ),
        (
            {},
            "NodeResourcesFitArgs.scoringStrategy.type: required, one of LeastAllocated, "
            "MostAllocated, RequestedToCapacityRatio",
        ),
    ],
)
def test_scoring_strategy_problems(strategy: dict[str, Any], problem: str) -> None:
    with pytest.raises(InputError) as caught:
        NodeResourcesFitArgs.from_dict({"scoringStrategy": strategy})
    assert [str(p) for p in caught.value.problems] == [problem]


def test_args_built_in_code_are_validated_when_the_plugin_is_built() -> None:
    bad = NodeResourcesFitArgs(
        scoring_strategy=ScoringStrategy(resources=(ResourceSpec("cpu", 0),))
    )
    with pytest.raises(InputError, match=r"resources\[0\].weight: must be in 1..100, got 0"):
        NodeResourcesFit(bad)
