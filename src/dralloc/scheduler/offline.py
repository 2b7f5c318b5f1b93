"""Scheduling a fixed input offline, as `dralloc schedule` and `explain --pod` do: the pods
waiting in queue order, the running pods on their nodes, and the loop that takes the pending
pods one at a time through a profile's framework.

The order is PrioritySort's (priority, then input order): nothing arrives or leaves while
the loop runs except what preemption evicts, and a pod preemption made room for is retried at
once (upstream requeues it when its victims' deletions arrive; here they are gone already).
The cache owns the cluster; this module only drives it.

Gangs (`plan.gangs`, filled by `attach_gangs` from the input's PodGroups and the pods that
join them): when the queue reaches a gang's first pending member, the whole gang goes through
one pod-group cycle (`dralloc.scheduler.gangs.place_gang`), as kube-scheduler 1.36 queues one
entity per PodGroup. Its PreEnqueue comes first: a pod naming a PodGroup that is not there,
or a gang with fewer pods than its minCount, waits with upstream's message; a member whose
claim is missing gates the whole gang. Members already running count towards the quorum.
The outcome of each gang is kept in `plan.gang_placements` (its PodGroupScheduled condition).

Volcano's enqueue step (`dralloc.scheduler.gangs.volcano`) runs once, after the running pods
are placed and before the queue, as at the start of one Volcano session: `enqueue_volcano_gangs`
gates the Pending groups whose minResources do not fit and keeps each group's outcome in
`plan.volcano`; `volcano_statuses` is the status Volcano would write for each group once the
queue has run (phase and condition after the enqueue step and the pod-group cycle).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from dralloc.api.core import Pod
from dralloc.api.io import LoadedObject
from dralloc.api.resource import ResourceClaim
from dralloc.features import Features
from dralloc.scheduler.cache import SchedulerCache, pod_claim_keys
from dralloc.scheduler.config import DEFAULT_SCHEDULER_NAME
from dralloc.scheduler.explain import GangExplanation, explain_gang
from dralloc.scheduler.framework import Framework, PodInfo, Status
from dralloc.scheduler.gangs import (
    CollectedGangs,
    Gang,
    GangIndex,
    GangKey,
    GangPlacement,
    collect_gangs,
    enqueue_volcano,
    place_gang_preempting,
    scheduler_name_problem,
)
from dralloc.scheduler.gangs.volcano import VolcanoEnqueue, group_status, task_statuses
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
    # Which pods form gangs, and each gang's last cycle (see the module docstring).
    gangs: GangIndex = field(default_factory=GangIndex)
    gang_placements: dict[GangKey, GangPlacement] = field(default_factory=dict)
    # Volcano's enqueue step's outcome for each Volcano group (`enqueue_volcano_gangs`).
    volcano: dict[GangKey, VolcanoEnqueue] = field(default_factory=dict)


def attach_gangs(
    plan: SchedulePlan, objects: Iterable[LoadedObject], features: Features
) -> CollectedGangs:
    """Find the input's gangs (`collect_gangs`) and give them to the plan, then run Volcano's
    enqueue step (`enqueue_volcano_gangs`); the caller reports the warnings and problems."""
    found = collect_gangs(objects, features)
    plan.gangs = found.index
    enqueue_volcano_gangs(plan)
    return found


def enqueue_volcano_gangs(plan: SchedulePlan) -> None:
    """Volcano's enqueue step over the plan's gangs and cache as they are (the running pods
    placed): Pending groups that do not fit are gated; the outcomes go to `plan.volcano`."""
    plan.volcano = {r.key: r for r in enqueue_volcano(plan.gangs, plan.cache)}


def volcano_statuses(plan: SchedulePlan) -> dict[GangKey, tuple[str, dict[str, str]]]:
    """The phase and the condition Volcano's scheduler would write for each Volcano group
    once the queue has run (`dralloc.scheduler.gangs.volcano`, "when its session closes"): a
    group the enqueue step left Pending says why; an enqueued one is Running with Scheduled
    at its quorum, else keeps its phase and says why its cycle failed."""
    out: dict[GangKey, tuple[str, dict[str, str]]] = {}
    for key, enqueued in plan.volcano.items():
        gang = plan.gangs.gangs.get(key)
        if gang is None:
            continue
        tasks = task_statuses(plan.gangs.members(key), plan.cache)
        if not enqueued.is_enqueued:
            out[key] = group_status(enqueued.phase, gang.min_count or 0, tasks, enqueued.reason)
            continue
        placement = plan.gang_placements.get(key)
        origin = placement.message if placement is not None and not placement.bound else ""
        out[key] = group_status(enqueued.phase, gang.min_count or 0, tasks, origin)
    return out


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
    gangs = plan.gangs
    for entry in queue:
        if entry.index in outcomes:
            continue  # a gang member, tried with its gang
        gang = gangs.gang_of(_key(entry.pod)) if gangs.member_of else None
        if gang is not None:
            outcomes.update(_schedule_gang(plan, frameworks, gang))
            continue
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


def _key(pod: Pod) -> str:
    return f"{pod.metadata.namespace or 'default'}/{pod.metadata.name}"


def _gang_members(plan: SchedulePlan, gang: Gang) -> tuple[list[PendingPod], int]:
    """The gang's pending members in queue order, and how many of its pods run already."""
    gangs = plan.gangs
    keys = set(gangs.members(gang.key))
    pending = [e for e in plan.pending if _key(e.pod) in keys]
    members = sorted(pending, key=lambda p: (-(p.pod.spec.priority or 0), p.index))
    running = sum(1 for key in gangs.members(gang.key) if key in plan.running)
    return members, running


def _gang_gating(
    plan: SchedulePlan, gang: Gang, members: Sequence[PendingPod], running: int
) -> str | None:
    """Why the gang's entity may not enter the queue: GangScheduling's PreEnqueue, then any
    member gated by DynamicResources' (which gates the whole entity)."""
    if not members:
        return None
    gating = plan.gangs.pre_enqueue(_key(members[0].pod), known_pods=len(members) + running)
    gated = [e for e in members if e.gated is not None]
    if gating is None and gated:
        first = gated[0]
        gating = f"{first.gated} (pod {_key(first.pod)} of {gang.ref})"
    return gating


def explain_gang_member(
    plan: SchedulePlan, frameworks: Mapping[str, Framework], pod_key: str
) -> GangExplanation | str | None:
    """For `dralloc explain --pod`: None when the pod is in no gang; the PreEnqueue message
    when its gang waits to enter the queue; else the gang's what-if cycle on the plan's
    cache as it is now (the cache unchanged after), naming the member that blocks."""
    gang = plan.gangs.gang_of(pod_key)
    if gang is None:
        return None
    members, running = _gang_members(plan, gang)
    gating = _gang_gating(plan, gang, members, running)
    if gating is not None:
        return gating
    pods = [e.pod for e in members]
    framework = frameworks[pods[0].spec.scheduler_name or DEFAULT_SCHEDULER_NAME]
    return explain_gang(plan.cache, framework, gang, pods, pod_key, already_placed=running)


def _schedule_gang(
    plan: SchedulePlan, frameworks: Mapping[str, Framework], gang: Gang
) -> dict[int, ScheduleOutcome]:
    """One pod-group cycle for all of `gang`'s pending members (queued as one entity, so
    those past the end of `queue` too): their outcomes by input index."""
    members, running = _gang_members(plan, gang)
    outcomes: dict[int, ScheduleOutcome] = {}

    def reject(entry: PendingPod, status: Status) -> None:
        outcomes[entry.index] = ScheduleOutcome(
            PodInfo.of(entry.pod), None, status, message=status.message
        )

    gating = _gang_gating(plan, gang, members, running)
    if gating is not None:
        for entry in members:
            if entry.gated is not None:  # DynamicResources' own PreEnqueue message
                reject(entry, Status.unresolvable(entry.gated))
            else:
                reject(entry, Status.unresolvable(gating).stamped("GangScheduling"))
        return outcomes
    pods = [e.pod for e in members]
    mixed = scheduler_name_problem(pods, DEFAULT_SCHEDULER_NAME)
    if mixed is not None:
        for entry in members:
            reject(entry, Status.error(mixed))
        return outcomes
    framework = frameworks[pods[0].spec.scheduler_name or DEFAULT_SCHEDULER_NAME]
    placement, _ = place_gang_preempting(
        plan.cache, framework, gang, pods, gangs=plan.gangs, already_placed=running
    )
    plan.gang_placements[gang.key] = placement
    by_key = {_key(e.pod): e for e in members}
    for member in placement.members:
        entry = by_key[member.key]
        if placement.bound and member.node is not None:
            outcomes[entry.index] = ScheduleOutcome(
                member.pod,
                member.node,
                member.status,
                evaluated_nodes=member.evaluated_nodes,
                feasible_nodes=member.feasible_nodes,
            )
            continue
        message = placement.pod_message(member)
        if member.node is not None:
            status = Status.unschedulable(message).stamped("GangScheduling")
            plugins = frozenset({"GangScheduling"})
        else:
            status, plugins = member.status, member.unschedulable_plugins
        outcomes[entry.index] = ScheduleOutcome(
            member.pod,
            None,
            status,
            message,
            evaluated_nodes=member.evaluated_nodes,
            unschedulable_plugins=plugins,
        )
    return outcomes
