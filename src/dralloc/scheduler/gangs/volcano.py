"""Volcano's enqueue step for PodGroups with `spec.minResources`: a group is admitted to
phase Inqueue (and only then are its pods scheduled) when its minResources fit the cluster's
idle capacity; otherwise it stays Pending, and says why.

What Volcano does (its `enqueue` action with the default `overcommit` plugin, once per
scheduling session), restated:

* idle = every node's allocatable x the overcommit factor (1.2 by default) - what the pods on
  the nodes request;
* held = the minResources of the groups already Inqueue, plus, for a Running group whose
  quorum runs, the part of its minResources its running pods do not cover;
* the Pending groups are taken in job order (here: the highest priority among their pods,
  then the order they were read). A group without minResources is best-effort and always
  enqueued. Otherwise it is enqueued when, for every resource its minResources names,
  held + minResources <= idle (resources it does not name are not compared); then its
  minResources count as held for the groups after it. A group that does not fit stays
  Pending, and Volcano records `resource in cluster is overused`.

`enqueue_volcano(index, cache)` runs that over the gangs of `index` (`collect_gangs`) and the
cache as it is, and gates the Pending groups in `index.pre_enqueue` (UnschedulableAndUnresolvable,
as GangScheduling's other waits), with a message naming each resource that does not fit:

    PodGroup default/train: resource in cluster is overused: minResources nvidia.com/gpu 8
    > idle 4 (allocatable 16 x overcommit 1.2 - used 15.2 - held by Inqueue groups 0)

The PodGroup status Volcano's scheduler writes when its session closes (`group_status`):

* phase (its jobStatus): Running once minMember members are allocated, bound or running;
  otherwise Inqueue stays Inqueue and anything else becomes Pending;
* conditions, one per type, replaced by type (its gang plugin): a group below its quorum gets
  `Unschedulable` (status True, reason `NotEnoughResources`) with the message
  `"<missing>/<members> tasks in gang unschedulable: pod group is not ready, <histogram>"`, the
  histogram counting members by task status and minAvailable (sorted as strings, as Volcano
  sorts them), then `"; Pending: <n> Unschedulable"` and `". Origin reason is: <why>"`; `why`
  is the enqueue step's message above for a group left Pending (Volcano itself only records
  an event, "resource in cluster is overused") and the pod-group cycle's FitError for an
  Inqueue group that did not fit. A group at its quorum gets `Scheduled` (status True,
  reason "tasks in gang are ready to be scheduled"). Volcano's `running`/`succeeded`/`failed`
  counts and the conditions' `transitionID` (its session's UID) are not written.

Volcano's queues (`proportion`/`capacity` and a Queue's capability) are not modelled: dralloc
reads no Queue objects. Only cpu, memory and scalar resources are compared (`is_compared`).

Pure computation over the cache; the index is the only thing written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from dralloc.api.quantity import Quantity
from dralloc.scheduler.cache import SchedulerCache
from dralloc.scheduler.framework.nodeinfo import Resources
from dralloc.scheduler.gangs.model import Gang, GangIndex, GangKey, GangSource

DEFAULT_OVERCOMMIT_FACTOR = Fraction(6, 5)  # Volcano's overcommit-factor default, 1.2
PHASE_PENDING = "Pending"
PHASE_INQUEUE = "Inqueue"
PHASE_RUNNING = "Running"
CONDITION_UNSCHEDULABLE = "Unschedulable"
REASON_NOT_ENOUGH_RESOURCES = "NotEnoughResources"
OVERUSED = "resource in cluster is overused"
CONDITION_SCHEDULED = "Scheduled"
REASON_GANG_READY = "tasks in gang are ready to be scheduled"
# Volcano's task statuses that count toward a gang's quorum (AllocatedStatus, and Succeeded).
TASK_PENDING = "Pending"
TASK_BOUND = "Bound"
TASK_RUNNING = "Running"
TASK_SUCCEEDED = "Succeeded"
_READY_TASKS = ("Allocated", "Binding", TASK_BOUND, TASK_RUNNING, TASK_SUCCEEDED)
_ADMITTED = (PHASE_INQUEUE, PHASE_RUNNING)
_CPU = "cpu"
_MEMORY = "memory"


@dataclass(frozen=True)
class VolcanoEnqueue:
    """One Volcano group's enqueue outcome: its `phase` after the step and, when it stays
    Pending, why; `min_member` and `tasks` (each member's task status: Pending, Bound,
    Running) are what the group's condition message counts."""

    key: GangKey
    phase: str
    message: str = ""  # what the gated pods are told, naming the PodGroup
    min_member: int = 0
    tasks: tuple[str, ...] = ()
    reason: str = ""  # the message without the PodGroup's name: its condition's origin

    @property
    def is_enqueued(self) -> bool:
        return self.phase in _ADMITTED

    def status(self) -> dict[str, Any]:
        """`status` of the Volcano PodGroup as Volcano leaves it after the enqueue step (no
        pod-group cycle yet): the phase, and for a group left Pending its Unschedulable
        condition."""
        if self.is_enqueued:
            return {"phase": self.phase}
        message = gang_message(self.min_member, self.tasks, self.reason)
        return {"phase": self.phase, "conditions": [unschedulable_condition(message)]}


def unschedulable_condition(message: str) -> dict[str, str]:
    """The condition Volcano's gang plugin sets on a group below its quorum."""
    return {
        "type": CONDITION_UNSCHEDULABLE,
        "status": "True",
        "reason": REASON_NOT_ENOUGH_RESOURCES,
        "message": message,
    }


def scheduled_condition() -> dict[str, str]:
    """The condition Volcano's gang plugin sets on a group at its quorum."""
    return {
        "type": CONDITION_SCHEDULED,
        "status": "True",
        "reason": REASON_GANG_READY,
        "message": "",
    }


def gang_message(min_member: int, tasks: Sequence[str], origin: str) -> str:
    """Volcano's gang-plugin message for a group below its quorum (module docstring):
    `tasks` holds each member's task status."""
    counts: dict[str, int] = {}
    for task in tasks:
        counts[task] = counts.get(task, 0) + 1
    ready = sum(n for status, n in counts.items() if status in _READY_TASKS)
    histogram = sorted(
        [*(f"{n} {status}" for status, n in counts.items()), f"{min_member} minAvailable"]
    )
    text = f"pod group is not ready, {', '.join(histogram)}"
    pending = counts.get(TASK_PENDING, 0)
    if pending:
        text += f"; {TASK_PENDING}: {pending} Unschedulable"
    if origin:
        text += f". Origin reason is: {origin}"
    return f"{max(0, min_member - ready)}/{len(tasks)} tasks in gang unschedulable: {text}"


def group_status(
    phase: str, min_member: int, tasks: Sequence[str], origin: str = ""
) -> tuple[str, dict[str, str]]:
    """The phase and the condition Volcano writes when its session closes, from the phase
    the group had (after the enqueue step) and its members' task statuses; `origin` is why
    a group below its quorum is (module docstring)."""
    ready = sum(1 for task in tasks if task in _READY_TASKS)
    if min_member and ready >= min_member:
        return PHASE_RUNNING, scheduled_condition()
    if phase != PHASE_INQUEUE:
        phase = PHASE_PENDING
    return phase, unschedulable_condition(gang_message(min_member, tasks, origin))


def with_condition(status: Mapping[str, Any], condition: Mapping[str, str]) -> dict[str, Any]:
    """`status` with `condition` replacing the one of its type (Volcano's
    UpdatePodGroupCondition), its other conditions kept in order."""
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != condition["type"]]
    return {**status, "conditions": [*conditions, dict(condition)]}


def task_statuses(members: Iterable[str], cache: SchedulerCache) -> tuple[str, ...]:
    """Each member's Volcano task status, members by pod key: Pending when not on a node,
    else Running or Succeeded by the pod's phase, else Bound."""
    out = []
    for pod_key in members:
        placed = cache.pods.get(pod_key)
        if placed is None:
            out.append(TASK_PENDING)
            continue
        phase = placed[0].pod.status.phase
        out.append(phase if phase in (TASK_RUNNING, TASK_SUCCEEDED) else TASK_BOUND)
    return tuple(out)


def is_compared(name: str) -> bool:
    """Whether Volcano's resource model reads a minResources entry: cpu, memory and the
    scalar resources (extended resources such as nvidia.com/gpu, hugepages-*). Quota names
    its job controller also writes for the resourcequota plugin (`requests.cpu`,
    `limits.memory`, `count/pods`, `pods`) and ephemeral-storage are not node capacity here."""
    if name in (_CPU, _MEMORY):
        return True
    if name.startswith(("hugepages-", "attachable-volumes-")):
        return True
    return "/" in name and not name.startswith(("requests.", "limits.", "count/"))


def min_resources(gang: Gang) -> Resources | None:
    """`spec.minResources` as a request of the compared resources (None: best-effort). The
    values were validated with the object (`dralloc.api.scheduling`)."""
    if gang.min_resources is None:
        return None
    return Resources.of(
        {name: Quantity.parse(value) for name, value in gang.min_resources if is_compared(name)}
    )


def _names(amounts: Resources) -> list[str]:
    return [n for n in amounts.names() if is_compared(n)]


def _show(name: str, amount: Fraction | int) -> str:
    """An amount as a quantity: cpu in cores (millicores held inside), memory in Gi where
    whole, others as counts."""
    if name == _CPU:
        value = Fraction(amount) / 1000
    elif name == _MEMORY and Fraction(amount) % (1 << 30) == 0:
        return f"{Fraction(amount) / (1 << 30)}Gi"
    else:
        value = Fraction(amount)
    if value.denominator == 1:
        return str(value.numerator)
    return f"{float(value):g}"


def _scaled(amounts: Resources, factor: Fraction) -> dict[str, Fraction]:
    out = {_CPU: amounts.milli_cpu * factor, _MEMORY: amounts.memory * factor}
    out.update({name: value * factor for name, value in amounts.scalars.items()})
    return out


def enqueue_volcano(
    index: GangIndex,
    cache: SchedulerCache,
    *,
    overcommit_factor: Fraction = DEFAULT_OVERCOMMIT_FACTOR,
    priorities: Mapping[GangKey, int] | None = None,
) -> list[VolcanoEnqueue]:
    """The module docstring's step over the Volcano gangs of `index`, in the order they are
    enqueued; Pending ones are gated in `index` (and gates set by an earlier call are lifted
    first). `priorities` orders the Pending groups (default: `index.pod_priorities`)."""
    volcano = [g for g in index.gangs.values() if g.key.source is GangSource.VOLCANO]
    for gang in volcano:
        index.enqueue_blocked.pop(gang.key, None)
    total = Resources()
    used = Resources()
    for node in cache.nodes.values():
        total.add(node.allocatable)
        used.add(node.requested)
    capacity = _scaled(total, overcommit_factor)
    idle = {name: value - used.get(name) for name, value in capacity.items()}
    held: dict[str, Fraction] = {}

    def counted(gang: Gang) -> dict[str, Any]:
        return {
            "min_member": gang.min_count or 0,
            "tasks": task_statuses(index.members(gang.key), cache),
        }

    def hold(amounts: Resources) -> None:
        for name in _names(amounts):
            held[name] = held.get(name, Fraction(0)) + amounts.get(name)

    results: list[VolcanoEnqueue] = []
    pending: list[Gang] = []
    for gang in volcano:
        wanted = min_resources(gang)
        if gang.phase == PHASE_INQUEUE:
            if wanted is not None:
                hold(wanted)
            results.append(VolcanoEnqueue(gang.key, PHASE_INQUEUE, **counted(gang)))
        elif gang.phase == PHASE_RUNNING:
            running = [k for k in index.members(gang.key) if k in cache.pods]
            # Volcano counts a Running group only while its quorum runs (a finished driver
            # must not hold its group's share again).
            if wanted is not None and len(running) >= (gang.min_count or 0):
                hold(_uncovered(wanted, _running_requests(cache, running)))
            results.append(VolcanoEnqueue(gang.key, PHASE_RUNNING, **counted(gang)))
        else:
            pending.append(gang)
    order = priorities if priorities is not None else index.pod_priorities
    pending.sort(key=lambda g: -order.get(g.key, 0))  # stable: then the order read
    for gang in pending:
        wanted = min_resources(gang)
        if wanted is None:
            results.append(VolcanoEnqueue(gang.key, PHASE_INQUEUE, **counted(gang)))
            continue
        short = [
            name
            for name in _names(wanted)
            if held.get(name, 0) + wanted.get(name) > idle.get(name, Fraction(0))
        ]
        if not short:
            hold(wanted)
            results.append(VolcanoEnqueue(gang.key, PHASE_INQUEUE, **counted(gang)))
            continue
        details = "; ".join(
            f"minResources {name} {_show(name, wanted.get(name))} > idle "
            f"{_show(name, idle.get(name, Fraction(0)) - held.get(name, 0))} (allocatable "
            f"{_show(name, total.get(name))} x overcommit {float(overcommit_factor):g} - used "
            f"{_show(name, used.get(name))} - held by Inqueue groups "
            f"{_show(name, held.get(name, 0))})"
            for name in short
        )
        reason = f"{OVERUSED}: {details}"
        message = f"{gang.ref}: {reason}"
        index.enqueue_blocked[gang.key] = message
        results.append(
            VolcanoEnqueue(gang.key, PHASE_PENDING, message, **counted(gang), reason=reason)
        )
    return results


def _running_requests(cache: SchedulerCache, pod_keys: list[str]) -> Resources:
    out = Resources()
    for pod_key in pod_keys:
        out.add(cache.pods[pod_key][0].requests)
    return out


def _uncovered(wanted: Resources, covered: Resources) -> Resources:
    """What of `wanted` `covered` does not reach (Volcano's GetInqueueResource)."""
    out = Resources()
    for name in _names(wanted):
        out.add_named(name, max(0, wanted.get(name) - covered.get(name)))
    return out
