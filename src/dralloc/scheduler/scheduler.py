"""One pod at a time through the framework, against the scheduler cache.

`Scheduler.schedule_one` is kube-scheduler's ScheduleOne without threads: run the algorithm on
the cache's snapshot, assume the pod on the chosen node, Reserve, Permit, then PreBind and Bind
at once (binding is synchronous here: the cache is the API). Any failure after assuming undoes
Reserve and forgets the pod, as upstream's failure path does. When no node fits and a
PostFilter plugin (DefaultPreemption) made room, the outcome is still unschedulable but names
the nominated node; the victims are already gone, so the caller may retry the pod at once. The
queue (`queue.py`) decides which pod comes next; this module only answers "where does this pod
go, or why not".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from dralloc.api.core import Pod
from dralloc.scheduler.cache import SchedulerCache
from dralloc.scheduler.framework import (
    CycleState,
    FitError,
    Framework,
    PodInfo,
    SchedulingError,
    Status,
)


@dataclass(frozen=True)
class ScheduleOutcome:
    """Where the pod went (`node`), or why not: `status` is the rejection or error, and
    `message` the text kube-scheduler puts in the PodScheduled condition."""

    pod: PodInfo
    node: str | None
    status: Status
    message: str = ""
    evaluated_nodes: int = 0
    feasible_nodes: int = 0
    unschedulable_plugins: frozenset[str] = frozenset()
    # Upstream's status.nominatedNodeName: preemption made room for the pod on this node.
    nominated_node: str | None = None
    # When no node fit: each node's rejection, stamped with the plugin that rejected it (the
    # cycle's Diagnosis.NodeToStatus, not copied; nodes PreFilter left out are absent).
    # Empty when the pod was placed, or failed at PreFilter, Reserve or Permit.
    node_statuses: Mapping[str, Status] = field(default_factory=dict)

    @property
    def is_scheduled(self) -> bool:
        return self.node is not None


class Scheduler:
    """A framework over a cache. Owns nothing else: the cache owns the cluster state."""

    def __init__(self, cache: SchedulerCache, framework: Framework) -> None:
        self.cache = cache
        self.framework = framework

    def schedule_one(self, pod: Pod) -> ScheduleOutcome:
        info = PodInfo.of(pod)
        state = CycleState()
        try:
            result = self.framework.schedule(state, info, self.cache.snapshot())
        except FitError as err:
            return ScheduleOutcome(
                info,
                None,
                Status.unschedulable(err.message),
                err.message,
                evaluated_nodes=len(err.diagnosis.node_statuses),
                unschedulable_plugins=frozenset(err.diagnosis.unschedulable_plugins),
                nominated_node=err.diagnosis.nominated_node_name,
                node_statuses=err.diagnosis.node_statuses,
            )
        except SchedulingError as err:
            return ScheduleOutcome(info, None, err.status, err.status.message)
        node = result.node
        self.cache.assume_pod(info, node)
        for step in (self.framework.reserve, self.framework.permit):
            status = step(state, info, node)
            if not status.is_success:
                return self._undo(state, info, node, status)
        status = self.framework.bind(state, info, node)
        if not status.is_success:
            return self._undo(state, info, node, status)
        return ScheduleOutcome(
            info,
            node,
            status,
            evaluated_nodes=result.evaluated_nodes,
            feasible_nodes=result.feasible_nodes,
        )

    def _undo(self, state: CycleState, info: PodInfo, node: str, status: Status) -> ScheduleOutcome:
        self.framework.unreserve(state, info, node)
        self.cache.forget_pod(info.key)
        if status.is_rejected:
            message = f"0/1 nodes are available: 1 {status.message}."
            plugins = frozenset({status.plugin}) if status.plugin else frozenset()
            return ScheduleOutcome(info, None, status, message, unschedulable_plugins=plugins)
        return ScheduleOutcome(info, None, status, status.message)

    def remove_pod(self, pod: Pod) -> None:
        """The pod ended or was deleted: free its node share and its claims' reservations."""
        self.cache.remove_pod(pod)
