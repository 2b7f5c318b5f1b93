"""Cluster events and queueing hints, simplified from spec/scheduler.md section 1.8.

An event is a (resource, action) pair. Matching an event against what a plugin registered
(resources, action masks) is the caller's hint function's job: it answers QUEUE_SKIP for events
the plugin did not register. Pure values, no state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from dralloc.scheduler.framework.nodeinfo import PodInfo

WILDCARD = "*"


class QueueingHint(Enum):
    """A plugin's answer to "may this event make the pod schedulable?" (upstream names)."""

    QUEUE = "Queue"
    QUEUE_SKIP = "QueueSkip"


@dataclass(frozen=True)
class ClusterEvent:
    """A change in the cluster, e.g. `ClusterEvent("resource.k8s.io/ResourceSlice", "Add")`.
    Resource `*` is a wildcard event: it requeues every pod it is checked against."""

    resource: str
    action: str

    @property
    def is_wildcard(self) -> bool:
        return self.resource == WILDCARD

    def __str__(self) -> str:
        return self.action if self.is_wildcard else f"{self.resource}/{self.action}"


UNSCHEDULABLE_TIMEOUT = ClusterEvent(WILDCARD, "UnschedulableTimeout")
FORCE_ACTIVATE = ClusterEvent(WILDCARD, "ForceActivate")
UNSCHEDULED_POD_UPDATE = ClusterEvent("Pod", "Update")

QueueingHintFn = Callable[[str, ClusterEvent, PodInfo], QueueingHint]
"""`hint(plugin, event, pod)`: asked only for plugins in the pod's rejector set. It may close
over the event's old and new objects; the queue keeps it with the event while pods are in
flight and calls it when they come back. An exception counts as QUEUE, as upstream."""
