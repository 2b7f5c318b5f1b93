"""`NodeResourcesBalancedAllocation` (PreScore, Score; spec/scheduler.md section 4.5).

Prefers nodes where placing the pod makes the requested fractions of the configured
resources (cpu and memory by default) more even. Raw requests on both sides, no non-zero
substitution. 1.36 scores the *change* in balance (#135573):
`50 + (50 + balance(with_pod) - balance(without_pod)) // 2`, so no change scores 75; see
`scoring.balanced_allocation` for the unverified rounding. PreScore SKIPs a pod that requests
none of the resources (a best-effort pod), so such pods do not all pile onto one node.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dralloc.scheduler.framework import SUCCESS, CycleState, NodeInfo, PodInfo, Status
from dralloc.scheduler.plugins.noderesources.args import (
    NodeResourcesBalancedAllocationArgs,
    checked_problems,
)
from dralloc.scheduler.plugins.noderesources.scoring import (
    allocatable_and_requested,
    balanced_allocation,
)

NAME = "NodeResourcesBalancedAllocation"
_PRE_SCORE_KEY = f"PreScore{NAME}"


@dataclass(frozen=True)
class _PreScoreState:
    requests: tuple[int, ...]  # aligned with the configured resources


class NodeResourcesBalancedAllocation:
    """Scores how much the pod evens out the node's requested fractions."""

    name = NAME
    # Filter and Score read only the pod and this node (the framework may remember them).
    node_local = True

    def __init__(self, args: NodeResourcesBalancedAllocationArgs | None = None) -> None:
        self.args = args or NodeResourcesBalancedAllocationArgs()
        checked_problems(self.args.problems())
        self._resources = tuple(spec.name for spec in self.args.resources)

    def _pod_requests(self, pod: PodInfo) -> tuple[int, ...]:
        return tuple(pod.requests.get(name) for name in self._resources)

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status:
        requests = self._pod_requests(pod)
        if not any(requests):
            return Status.skip()
        state.write(_PRE_SCORE_KEY, _PreScoreState(requests))
        return SUCCESS

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> tuple[int, Status]:
        pre = state.get(_PRE_SCORE_KEY, _PreScoreState)
        pod_requests = pre.requests if pre is not None else self._pod_requests(pod)
        with_pod: list[int] = []
        without_pod: list[int] = []
        allocatable: list[int] = []
        for name, pod_request in zip(self._resources, pod_requests, strict=True):
            alloc, req = allocatable_and_requested(node, name, pod_request, use_requested=True)
            allocatable.append(alloc)
            with_pod.append(req if alloc else 0)
            without_pod.append(req - pod_request if alloc else 0)
        return balanced_allocation(with_pod, without_pod, allocatable), SUCCESS
