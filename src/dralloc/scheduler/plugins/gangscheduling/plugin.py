"""`GangScheduling`: a gang's pods enter the queue only once their PodGroup and `minCount` of
them exist (PreEnqueue), and are bound only once `minCount` of them are placed (Permit), as
kube-scheduler 1.36's plugin (spec/scheduler.md section 6.3).

PreEnqueue asks the `GangLister` (the input's gangs, `dralloc.scheduler.gangs.GangIndex`):
UnschedulableAndUnresolvable `waiting for pods's pod group "<name>" to appear in scheduling
queue` while the PodGroup is missing, then `waiting for minCount pods from a gang to appear
in scheduling queue` while fewer than `minCount` members exist.

Permit reads the pod-group cycle's count (`GangCycle` under `GANG_CYCLE_KEY`, written by
`place_gang`): below `minCount` it answers `Wait` (the cycle counts the pod as placed and
decides at the end, without waiting), at quorum Success. A gang member tried outside a
pod-group cycle (a caller that does not know gangs) is rejected: upstream would hold it at
Permit for 5 minutes and then reject it; binding it alone would break all-or-nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from dralloc.scheduler.framework import (
    ClusterEvent,
    ClusterEventWithHint,
    CycleState,
    PodInfo,
    Status,
    queue_always,
)
from dralloc.scheduler.framework.status import SUCCESS, Code

# The submodules, not the package: `gangs.preemption` uses DefaultPreemption, and sibling
# plugins stay independent.
from dralloc.scheduler.gangs.cycle import GANG_CYCLE_KEY, GangCycle
from dralloc.scheduler.gangs.model import WAITING_FOR_QUORUM, Gang

NAME = "GangScheduling"
POD_GROUP = "scheduling.k8s.io/PodGroup"


class GangLister(Protocol):
    """Which gang a pod belongs to, and whether it may enter the queue."""

    def gang_of(self, pod_key: str) -> Gang | None: ...

    def pre_enqueue(self, pod_key: str, known_pods: int | None = None) -> str | None: ...


class GangScheduling:
    """All-or-nothing for pods of a gang-policy PodGroup.

    >>> from dralloc.scheduler.gangs import GangIndex
    >>> GangScheduling(GangIndex()).name
    'GangScheduling'
    """

    name = NAME

    def __init__(self, gangs: GangLister) -> None:
        self.gangs = gangs

    def events_to_register(self) -> Sequence[ClusterEventWithHint]:
        """A sibling pod added (it may complete the quorum), or the PodGroup added. Both are
        immutable in what this plugin reads, so updates never help."""
        return (
            ClusterEventWithHint(ClusterEvent("Pod", "Add"), queue_always),
            ClusterEventWithHint(ClusterEvent(POD_GROUP, "Add"), queue_always),
        )

    def pre_enqueue(self, pod: PodInfo) -> Status:
        message = self.gangs.pre_enqueue(pod.key)
        return SUCCESS if message is None else Status.unresolvable(message)

    def permit(self, state: CycleState, pod: PodInfo, node_name: str) -> Status:
        cycle = state.get(GANG_CYCLE_KEY, GangCycle)
        if cycle is None:
            gang = self.gangs.gang_of(pod.key)
            if gang is None or gang.min_count is None:
                return SUCCESS
            return Status.unschedulable(WAITING_FOR_QUORUM)
        if cycle.gang.min_count is not None and cycle.scheduled < cycle.gang.min_count:
            return Status(Code.WAIT, (WAITING_FOR_QUORUM,))
        return SUCCESS
