"""Cluster events and queueing hints as the queue uses them (spec/scheduler.md section 1.8).

The values (`ClusterEvent`, `QueueingHint`, a plugin's `ClusterEventWithHint`) are the
framework's (`framework/events.py`); this module adds the queue's side: `QueueingHintFn`, the
function the queue asks about one rejector plugin, one event and one pod. A queue built for a
profile (`SchedulingQueue.for_profile`) makes it from what the plugins registered; a caller
with its own knowledge (the replay) may pass its own. Pure values, no state.
"""

from __future__ import annotations

from collections.abc import Callable

from dralloc.scheduler.framework.events import (
    FORCE_ACTIVATE,
    UNSCHEDULABLE_TIMEOUT,
    UNSCHEDULED_POD_UPDATE,
    WILDCARD,
    ActionType,
    ClusterEvent,
    ClusterEventWithHint,
    QueueingHint,
    QueueingHintFunction,
)
from dralloc.scheduler.framework.nodeinfo import PodInfo

__all__ = [
    "FORCE_ACTIVATE",
    "UNSCHEDULABLE_TIMEOUT",
    "UNSCHEDULED_POD_UPDATE",
    "WILDCARD",
    "ActionType",
    "ClusterEvent",
    "ClusterEventWithHint",
    "QueueingHint",
    "QueueingHintFn",
    "QueueingHintFunction",
]

QueueingHintFn = Callable[[str, ClusterEvent, PodInfo], QueueingHint]
"""`hint(plugin, event, pod)`: asked only for plugins in the pod's rejector set. It may close
over the event's old and new objects; the queue keeps it with the event while pods are in
flight and calls it when they come back. An exception counts as QUEUE, as upstream, and is
recorded in the queue's `hint_errors`."""
