"""A gang as one scheduling-queue entity, for loops that drive a `SchedulingQueue` (the
simulator's replay, the live scheduler): kube-scheduler 1.36 pops one member, takes its queued
siblings with it (`SchedulingQueue.pop_specific`, upstream's PopSpecificPod), runs one
pod-group cycle and hands every member back to the queue with the cycle's verdict.

    info = queue.pop()
    gang = gangs.gang_of(info.key)
    if gang is not None:
        members = pop_gang(queue, info, siblings)           # the entity, in cycle order
        placement = schedule_gang_entity(queue, cache, framework, gang, members)

A member the cycle could not place goes back through `add_unschedulable_if_not_present` with
its rejectors (GangScheduling for a pod that fit but whose gang missed the quorum), so its
backoff counters move with its siblings' and the gang's events requeue it. Bound members end
their flight (`done`). Owns nothing; the queue and the cache keep their own state.
"""

from __future__ import annotations

from collections.abc import Iterable

from dralloc.api.core import Pod
from dralloc.scheduler.cache import SchedulerCache
from dralloc.scheduler.framework import Framework
from dralloc.scheduler.gangs.cycle import GangPlacement, place_gang
from dralloc.scheduler.gangs.model import Gang
from dralloc.scheduler.gangs.preemption import GangMembership, place_gang_preempting
from dralloc.scheduler.queue import QueuedPodInfo, SchedulingQueue

GANG_SCHEDULING = "GangScheduling"


def pop_gang(
    queue: SchedulingQueue, first: QueuedPodInfo, siblings: Iterable[Pod]
) -> list[QueuedPodInfo]:
    """`first` (just popped) and every sibling the queue can hand out now, ordered as
    upstream orders a group: higher priority first, then the earlier first attempt."""
    members = [first]
    for pod in siblings:
        if pod.metadata.name == first.pod.metadata.name:
            continue
        info = queue.pop_specific(pod)
        if info is not None:
            members.append(info)
    members.sort(key=lambda i: (-i.priority, i.initial_attempt_timestamp or 0.0, i.sequence))
    return members


def schedule_gang_entity(
    queue: SchedulingQueue,
    cache: SchedulerCache,
    framework: Framework,
    gang: Gang,
    members: list[QueuedPodInfo],
    *,
    already_placed: int = 0,
    gangs: GangMembership | None = None,
    frees_devices: bool | None = None,
) -> GangPlacement:
    """One pod-group cycle for the popped `members`, binding at quorum; every member leaves
    flight: bound ones through `done`, the others back to the queue with their rejectors.

    With `gangs` (which pod is in which gang), a gang that does not fit may preempt when the
    cache's features enable workload-aware preemption (`place_gang_preempting`): the cycle
    then tries once more on the cache the evictor left (dralloc's evictors take the victims
    off it at once). A caller whose evictor only records evictions must carry them out after
    this returns (the live scheduler's `_actuate_evictions`)."""
    by_key = {info.key: info for info in members}
    pods = [info.pod for info in members]
    if gangs is None:
        placement = place_gang(
            cache, framework, gang, pods, already_placed=already_placed, bind=True
        )
    else:
        placement, _ = place_gang_preempting(
            cache,
            framework,
            gang,
            pods,
            gangs=gangs,
            already_placed=already_placed,
            frees_devices=frees_devices,
        )
    for member in placement.members:
        info = by_key[member.key]
        if placement.bound and member.node is not None:
            queue.done(info.uid)
            continue
        plugins: Iterable[str] = member.unschedulable_plugins
        if member.node is not None:
            plugins = (GANG_SCHEDULING,) if placement.status.is_rejected else ()
        queue.add_unschedulable_if_not_present(info, unschedulable_plugins=plugins)
    return placement
