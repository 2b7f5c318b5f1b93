"""Scheduling a fixed input offline, as `dralloc schedule` and `explain --pod` do: the pods
waiting in queue order, the running pods on their nodes, and the loop that takes the pending
pods one at a time through a profile's framework.

The order is PrioritySort's (priority, then input order): nothing arrives or leaves while
the loop runs except what preemption evicts, and a pod preemption made room for is retried at
once (upstream requeues it when its victims' deletions arrive; here they are gone already).
The cache owns the cluster; this module only drives it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from dralloc.api.core import Pod
from dralloc.api.io import LoadedObject
from dralloc.api.resource import ResourceClaim
from dralloc.scheduler.cache import SchedulerCache, pod_claim_keys
from dralloc.scheduler.config import DEFAULT_SCHEDULER_NAME
from dralloc.scheduler.framework import Framework, PodInfo, Status
from dralloc.scheduler.plugins import Eviction
from dralloc.scheduler.scheduler import ScheduleOutcome, Scheduler


@dataclass
class PendingPod:
    """A pending pod of the input, admitted: `pod` has its priority and generated claim
    statuses filled in; `index` is its place in the input."""

    loaded: LoadedObject
    pod: Pod
    index: int
    claims_changed: bool = False
    # Why DynamicResources' PreEnqueue keeps the pod out of the scheduling queue (a claim it
    # names does not exist): such a pod is never tried and gets no PodScheduled condition.
    gated: str | None = None


@dataclass
class SchedulePlan:
    """The checked input, ready to schedule."""

    cache: SchedulerCache
    pending: list[PendingPod]
    raw_claims: dict[str, LoadedObject]  # claim key -> input claim
    input_claims: dict[str, ResourceClaim]  # claim key -> input claim, typed
    generated: list[str] = field(default_factory=list)  # keys of created claims, in order
    running: dict[str, LoadedObject] = field(default_factory=dict)  # pod key -> input pod
    # Claims once the running pods hold theirs: what preemption's changes are measured from.
    baseline: dict[str, ResourceClaim] = field(default_factory=dict)
    evictions: list[Eviction] = field(default_factory=list)  # in the order they happened
    warnings: list[str] = field(default_factory=list)  # what the controllers could not do


def place_running_pods(cache: SchedulerCache, running: Iterable[Pod]) -> None:
    """Put running pods on their nodes, their claims reserved for them."""
    for pod in running:
        cache.assume_pod(PodInfo.of(pod), pod.spec.node_name)
        for _, key in pod_claim_keys(pod):
            if key is not None:
                cache.reserve_claim(key, pod)


def queue_order(plan: SchedulePlan) -> list[PendingPod]:
    """PrioritySort: higher priority first, then input order."""
    return sorted(plan.pending, key=lambda p: (-(p.pod.spec.priority or 0), p.index))


def schedule_queue(
    plan: SchedulePlan, frameworks: Mapping[str, Framework], queue: Sequence[PendingPod]
) -> tuple[dict[int, ScheduleOutcome], dict[int, str]]:
    """Schedule `queue` in order: the outcome of each pod's last attempt and the nodes
    preemption nominated, by input index."""
    outcomes: dict[int, ScheduleOutcome] = {}
    nominated: dict[int, str] = {}
    for entry in queue:
        if entry.gated is not None:
            status = Status.unresolvable(entry.gated)
            outcomes[entry.index] = ScheduleOutcome(
                PodInfo.of(entry.pod), None, status, message=entry.gated
            )
            continue
        framework = frameworks[entry.pod.spec.scheduler_name or DEFAULT_SCHEDULER_NAME]
        scheduler = Scheduler(plan.cache, framework)
        outcome = scheduler.schedule_one(entry.pod)
        # The victims are gone already: retry at once. Each preemption evicts at least one
        # pod of lower priority, and evicted pods never come back, so this ends.
        while outcome.nominated_node is not None:
            nominated[entry.index] = outcome.nominated_node
            outcome = scheduler.schedule_one(entry.pod)
        outcomes[entry.index] = outcome
    return outcomes, nominated
