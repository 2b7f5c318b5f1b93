"""What the scheduling queue keeps per pod, and the small Protocols it is built from.

`QueuedPodInfo` is spec/scheduler.md section 1.2; the queue (`scheduling_queue.py`) is its only
writer. `Clock` and `PreEnqueuePlugin` are what a caller plugs in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from dralloc.api.core import Pod
from dralloc.scheduler.framework.nodeinfo import PodInfo
from dralloc.scheduler.framework.status import Status


class Clock(Protocol):
    """Where the queue reads time: a real clock in the server, a virtual one in the simulator."""

    def now(self) -> float:
        """Seconds since an arbitrary epoch; never decreases."""
        ...


class PreEnqueuePlugin(Protocol):
    """Runs before a pod enters activeQ (or backoffQ with PopFromBackoffQ); anything but
    Success gates the pod in unschedulablePods (1.10). Must not mutate the pod.

    Defined here until `framework/interface.py` has it; the shape is the same, so plugins
    need no change when it moves."""

    name: str

    def pre_enqueue(self, pod: PodInfo) -> Status: ...


class QueueName(StrEnum):
    """Where a pod is. GATED pods are in unschedulablePods, blocked at PreEnqueue."""

    ACTIVE = "activeQ"
    BACKOFF = "podBackoffQ"
    ERROR_BACKOFF = "podErrorBackoffQ"
    UNSCHEDULABLE = "unschedulablePods"
    GATED = "gated"
    IN_FLIGHT = "inFlight"


def queue_uid(pod: Pod) -> str:
    """The key the queue knows a pod by: its uid, or `namespace/name` for a pod without one
    (then a pod must not be recreated under the same name while the old one is in flight)."""
    return pod.metadata.uid or f"{pod.metadata.namespace}/{pod.metadata.name}"


@dataclass(eq=False)
class QueuedPodInfo:
    """A pod's queue record (1.2). Times are the clock's seconds. `sequence` is dralloc's
    tie-break for equal timestamps; it is renewed whenever `timestamp` is."""

    pod_info: PodInfo
    uid: str
    timestamp: float
    sequence: int
    initial_attempt_timestamp: float | None = None
    attempts: int = 0
    unschedulable_count: int = 0
    consecutive_errors_count: int = 0
    unschedulable_plugins: set[str] = field(default_factory=set)
    pending_plugins: set[str] = field(default_factory=set)
    gating_plugin: str | None = None
    gating_status: Status | None = None
    backoff_expiration: float | None = None
    was_flushed_from_unschedulable: bool = False

    @property
    def pod(self) -> Pod:
        return self.pod_info.pod

    @property
    def key(self) -> str:
        return self.pod_info.key

    @property
    def priority(self) -> int:
        return self.pod_info.priority

    @property
    def is_gated(self) -> bool:
        return self.gating_plugin is not None

    @property
    def rejector_plugins(self) -> frozenset[str]:
        return frozenset(self.unschedulable_plugins | self.pending_plugins)


@dataclass(frozen=True)
class PendingPod:
    """One line of `pending_pods()`: a queued pod and where it waits."""

    queue: QueueName
    info: QueuedPodInfo
