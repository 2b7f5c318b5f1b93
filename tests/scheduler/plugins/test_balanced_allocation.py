"""NodeResourcesBalancedAllocation: the 1.36 change-in-balance score (spec section 4.5).

Every number is worked out by hand in the comments: `balance` is `int((1 - std)·100)` of
the requested fractions; the score is `50 + (50 + balance(with) - balance(without)) // 2`.
"""

from __future__ import annotations

from typing import Any

import pytest
from schedkit import node, pod

from dralloc.errors import InputError
from dralloc.scheduler.framework import SUCCESS, CycleState, NodeInfo, PodInfo, Status
from dralloc.scheduler.plugins.noderesources import (
    NodeResourcesBalancedAllocation,
    NodeResourcesBalancedAllocationArgs,
    ResourceSpec,
)
from dralloc.scheduler.plugins.noderesources.scoring import balance, balanced_allocation

GPU = "nvidia.com/gpu"
GIB = 2**30
WITH_GPU = NodeResourcesBalancedAllocationArgs.from_dict(
    {"resources": [{"name": "cpu"}, {"name": "memory"}, {"name": GPU}]}
)


@pytest.mark.parametrize(
    ("args", "the_pod", "the_node", "pre_score", "score"),
    [
        # with: 2/4 cpu, 2/8 memory -> std (0.5 - 0.25)/2 = 0.125 -> 87; without: 100
        # 50 + (50 + 87 - 100) // 2 = 50 + 18 = 68
        pytest.param(
            None, pod(requests={"cpu": "2", "memory": "2Gi"}), node(), SUCCESS, 68, id="empty-node"
        ),
        # best-effort pods on the node count nothing (raw requests): still 68
        pytest.param(
            None,
            pod(requests={"cpu": "2", "memory": "2Gi"}),
            node(running=[pod("be"), pod("be2")]),
            SUCCESS,
            68,
            id="raw-requests",
        ),
        # 1/4 and 2/8 on the node, the pod doubles both: 100 -> 100, no change scores 75
        pytest.param(
            None,
            pod(requests={"cpu": "1", "memory": "2Gi"}),
            node(running=[pod("r", requests={"cpu": "1", "memory": "2Gi"})]),
            SUCCESS,
            75,
            id="no-change",
        ),
        # balanced (0, 0) -> (1, 0): balance 100 -> 50: 50 + 0 // 2 = 50
        pytest.param(None, pod(requests={"cpu": "4"}), node(), SUCCESS, 50, id="to-imbalanced"),
        # (1, 0) -> (1, 1): balance 50 -> 100: 50 + 100 // 2 = 100
        pytest.param(
            None,
            pod(requests={"memory": "8Gi"}),
            node(running=[pod("r", requests={"cpu": "4"})]),
            SUCCESS,
            100,
            id="to-balanced",
        ),
        # three resources: (0.5, 0.25, 0.5) -> mean 5/12, std 0.1179 -> 88; 50 + 38 // 2 = 69
        pytest.param(
            WITH_GPU,
            pod(requests={"cpu": "2", "memory": "2Gi", GPU: "4"}),
            node(extra={GPU: "8"}),
            SUCCESS,
            69,
            id="three-resources",
        ),
        # a GPU the pod does not request leaves the list: as "empty-node"
        pytest.param(
            WITH_GPU,
            pod(requests={"cpu": "2", "memory": "2Gi"}),
            node(extra={GPU: "8"}),
            SUCCESS,
            68,
            id="unrequested-scalar-skipped",
        ),
        pytest.param(None, pod(), node(), Status.skip(), None, id="best-effort-skips"),
        pytest.param(
            None, pod(requests={GPU: "1"}), node(), Status.skip(), None, id="only-other-resources"
        ),
    ],
)
def test_pre_score_and_score(
    args: NodeResourcesBalancedAllocationArgs | None,
    the_pod: PodInfo,
    the_node: NodeInfo,
    pre_score: Status,
    score: int | None,
) -> None:
    plugin = NodeResourcesBalancedAllocation(args)
    state = CycleState()
    assert plugin.pre_score(state, the_pod, [the_node]) == pre_score
    if score is not None:
        assert plugin.score(state, the_pod, the_node) == (score, SUCCESS)


def test_balance_truncates_one_minus_the_standard_deviation() -> None:
    assert balance([2000, 2 * GIB], [4000, 8 * GIB]) == 87  # std 0.125 -> 87.5
    # three fractions 0.5, 0.25, 0: mean 0.25, std sqrt(0.125 / 3) = 0.2041 -> 79.58
    assert balance([2000, 2 * GIB, 0], [4000, 8 * GIB, 10]) == 79
    assert balance([1], [3]) == 100  # one resource: no spread
    assert balance([5000, 0], [4000, 8]) == 50  # fractions capped at 1: (1 - 0)/2
    assert balance([5, 5], [0, 10]) == 100  # a resource with nothing allocatable is skipped


def test_the_score_lies_between_50_and_100() -> None:
    assert balanced_allocation([4, 0], [0, 0], [4, 4]) == 50
    assert balanced_allocation([4, 4], [4, 0], [4, 4]) == 100
    assert balanced_allocation([2, 2], [1, 1], [4, 4]) == 75


def test_args_default_to_cpu_and_memory_and_require_weight_1() -> None:
    assert NodeResourcesBalancedAllocationArgs.from_dict(None).resources == (
        ResourceSpec("cpu"),
        ResourceSpec("memory"),
    )
    raw: dict[str, Any] = {"resources": [{"name": "cpu", "weight": 2}, {"name": "cpu"}], "x": 1}
    with pytest.raises(InputError) as caught:
        NodeResourcesBalancedAllocationArgs.from_dict(raw, "profiles[0].pluginConfig[1].args")
    assert [str(p) for p in caught.value.problems] == [
        "profiles[0].pluginConfig[1].args.resources[0].weight: must be 1, got 2",
        'profiles[0].pluginConfig[1].args.resources[1].name: duplicate resource "cpu"',
        "profiles[0].pluginConfig[1].args.x: unknown field",
    ]
