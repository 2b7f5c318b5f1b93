"""Queueing hints the in-tree plugins share (spec/scheduler.md section 1.8): the objects a
cluster event carries, read as the framework's types, and "would my Filter pass on the node
this event added or changed?".

Pure: a hint reads its arguments and the plugin's fixed state, and writes nothing (the cycle
state it filters with is its own, thrown away).
"""

from __future__ import annotations

from typing import Protocol

from dralloc.scheduler.framework import (
    ClusterEvent,
    ClusterEventWithHint,
    Code,
    CycleState,
    NodeInfo,
    PodInfo,
    PreFilterPlugin,
    QueueingHint,
    QueueingHintFunction,
    Status,
)
from dralloc.scheduler.framework.events import NODE, POD


class _Filter(Protocol):
    name: str

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status: ...


def node_filter_hint(plugin: _Filter) -> QueueingHintFunction:
    """For Node events: QUEUE when `plugin`'s Filter (after its PreFilter, if it has one)
    passes for the pod on the added or updated node; QUEUE_SKIP otherwise, and for an event
    that carries no node."""

    def hint(pod: PodInfo, old: object | None, new: object | None) -> QueueingHint:
        if not isinstance(new, NodeInfo):
            return QueueingHint.QUEUE_SKIP
        state = CycleState()
        if isinstance(plugin, PreFilterPlugin):
            _, status = plugin.pre_filter(state, pod, [new])
            if status.code == Code.SKIP:
                return QueueingHint.QUEUE
            if not status.is_success:
                return QueueingHint.QUEUE_SKIP
        status = plugin.filter(state, pod, new)
        return QueueingHint.QUEUE if status.is_success else QueueingHint.QUEUE_SKIP

    return hint


def assigned_pod_deleted(pod: PodInfo, old: object | None, new: object | None) -> QueueingHint:
    """For Pod/Delete: a pod that ran on a node left, so what it held is free (QUEUE); an
    event without the deleted pod, or for the rejected pod itself, says nothing (QUEUE_SKIP)."""
    if not isinstance(old, PodInfo) or old.key == pod.key:
        return QueueingHint.QUEUE_SKIP
    return QueueingHint.QUEUE


def node_events(actions: str, plugin: _Filter) -> ClusterEventWithHint:
    """`Node/<actions>` with `node_filter_hint(plugin)`."""
    return ClusterEventWithHint(ClusterEvent(NODE, actions), node_filter_hint(plugin))


ASSIGNED_POD_DELETE = ClusterEventWithHint(
    ClusterEvent(POD, "Delete|UpdatePodScaleDown"), assigned_pod_deleted
)
"""Upstream's AssignedPodDelete (and scale-down): for plugins that count what pods hold."""
