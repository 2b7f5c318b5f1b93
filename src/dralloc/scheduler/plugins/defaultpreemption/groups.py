"""Victim selection for a preemptor that is a whole pod group, over the whole cluster
(Kubernetes 1.36's workload-aware preemption, gate `WorkloadAwarePreemption`, alpha, off;
upstream's PodGroupEvaluator, spec/scheduler.md section 6.3). Pure over callbacks: the
caller owns the what-if state and says how to take a unit off it, put it back, and whether
the group fits.

A victim is a `VictimUnit`: one pod, or pods that leave together (a PodGroup whose
`disruptionMode` is PodGroup; a Volcano or KAI gang's quorum, `dralloc.scheduler.gangs`).
The steps, as upstream's:

1. Potential victims: units of lower priority than the preemptor. None: UnschedulableAndUnresolvable
   `No preemption victims found for incoming preemptor`.
2. Take them all off; if the group still does not fit, stop with the group's status.
3. Sort them most important first: higher priority; at equal priority a group before a
   single pod; two singles, the earlier start first; two groups, the larger first, then the
   earlier start (the costlier to reschedule is kept).
4. Split them by PodDisruptionBudget (`split_by_budget_violation` over their pods in that
   order; a unit violates if any of its pods does), and try to reprieve the violating ones
   first, then the others: put the unit back, keep it if the group still fits, else take it
   off again and make it a victim. Each violating victim counts one violation.

dralloc adds one rule, for the members of a Volcano or KAI gang (`VictimUnit.gang`, with the
gang's `quorum`, its minCount): each member is a unit of its own, ranked between group units
and plain pods of the same priority (so the gang is reprieved before a plain pod is), and
when the reprieve leaves a gang running below its quorum, its remaining members leave too (a
gang is never left partial). The group is checked once more on the final state, so nothing
is evicted unless the whole group then fits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dralloc.api.policy import PodDisruptionBudget
from dralloc.scheduler.framework import SUCCESS, PodInfo, Status
from dralloc.scheduler.plugins.defaultpreemption.budgets import split_by_budget_violation
from dralloc.scheduler.plugins.defaultpreemption.pods import start_time

NO_GROUP_VICTIMS = "No preemption victims found for incoming preemptor"


@dataclass(frozen=True, eq=False)
class VictimUnit:
    """Pods evicted together (one, for a plain pod), with the priority preemption compares.
    `name` labels the unit in messages (`namespace/name` of the pod or PodGroup). A member of
    a gang that must not run partial names it in `gang`, with the gang's `quorum`; every
    running member of that gang is then a unit of the same priority (module docstring)."""

    name: str
    pods: tuple[PodInfo, ...]
    priority: int
    is_group: bool = False
    gang: str = ""
    quorum: int = 0

    @property
    def earliest_start(self) -> float:
        return min(start_time(p.pod) for p in self.pods)


def importance(unit: VictimUnit) -> tuple[int, int, int, float]:
    """Sort key, most important first (upstream's moreImportantVictim; a gang member ranks
    between a group and a plain pod)."""
    size = -len(unit.pods) if unit.is_group else 0
    rank = 0 if unit.is_group else 1 if unit.gang else 2
    return -unit.priority, rank, size, unit.earliest_start


@dataclass(frozen=True)
class GroupVictims:
    """The units to evict, most important first, and how many violate a budget."""

    units: tuple[VictimUnit, ...]
    pdb_violations: int = 0

    @property
    def pods(self) -> tuple[PodInfo, ...]:
        return tuple(p for unit in self.units for p in unit.pods)


def split_units_by_budget(
    units: Sequence[VictimUnit], budgets: Sequence[PodDisruptionBudget]
) -> tuple[list[VictimUnit], list[VictimUnit]]:
    """(violating, non-violating), each in the order of `units`."""
    pods = [p for unit in units for p in unit.pods]
    violating_pods, _ = split_by_budget_violation(pods, budgets)
    bad = {p.key for p in violating_pods}
    violating = [u for u in units if any(p.key in bad for p in u.pods)]
    others = [u for u in units if not any(p.key in bad for p in u.pods)]
    return violating, others


def select_victims_on_domain(
    preemptor_priority: int,
    units: Sequence[VictimUnit],
    budgets: Sequence[PodDisruptionBudget],
    remove: Callable[[VictimUnit], None],
    add: Callable[[VictimUnit], None],
    fits: Callable[[], Status],
) -> tuple[GroupVictims | None, Status]:
    """The module docstring's steps. `remove`/`add` change the caller's what-if state and
    must undo each other; `fits` answers for the state as it is. On return the state has
    every victim off and every other unit on; None with the reason when preemption cannot
    help (the state then has every potential victim off: the caller restores it)."""
    potential = sorted((u for u in units if u.priority < preemptor_priority), key=importance)
    if not potential:
        return None, Status.unresolvable(NO_GROUP_VICTIMS)
    for unit in potential:
        remove(unit)
    status = fits()
    if not status.is_success:
        return None, status
    violating, others = split_units_by_budget(potential, budgets)
    evicted: list[VictimUnit] = []
    violations = 0
    violating_ids = {id(u) for u in violating}
    for group in (violating, others):
        for unit in group:
            add(unit)
            if fits().is_success:
                continue  # reprieved
            remove(unit)
            evicted.append(unit)
            violations += group is violating
    # A gang the reprieve left below its quorum leaves whole.
    gone = {id(u) for u in evicted}
    members: dict[str, list[VictimUnit]] = {}
    for unit in potential:
        if unit.gang:
            members.setdefault(unit.gang, []).append(unit)
    for gang_units in members.values():
        kept = [u for u in gang_units if id(u) not in gone]
        if kept and len(kept) < gang_units[0].quorum and len(kept) < len(gang_units):
            for unit in kept:
                remove(unit)
                evicted.append(unit)
                gone.add(id(unit))
                violations += id(unit) in violating_ids
    if not evicted:
        # Fits with every unit back: upstream's "expected at least one victim".
        return None, Status.error("expected at least one victim for the pod group")
    final = fits()
    if not final.is_success:
        return None, final
    evicted.sort(key=importance)
    return GroupVictims(tuple(evicted), violations), SUCCESS
