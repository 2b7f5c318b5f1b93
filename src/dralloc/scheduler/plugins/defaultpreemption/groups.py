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

dralloc adds one rule for units that depend on another (`VictimUnit.follows`): a Volcano or
KAI gang's members beyond its quorum may leave one by one, but when the quorum itself is a
victim they all leave with it, reprieved or not (a gang is never left running below its
minCount). The group is checked once more on the final state, so nothing is evicted unless
the whole group then fits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from dralloc.api.policy import PodDisruptionBudget
from dralloc.scheduler.framework import SUCCESS, PodInfo, Status
from dralloc.scheduler.plugins.defaultpreemption.budgets import split_by_budget_violation
from dralloc.scheduler.plugins.defaultpreemption.pods import start_time

NO_GROUP_VICTIMS = "No preemption victims found for incoming preemptor"


@dataclass(frozen=True, eq=False)
class VictimUnit:
    """Pods evicted together (one, for a plain pod), with the priority preemption compares.
    `name` labels the unit in messages (`namespace/name` of the pod or PodGroup); `follows`
    is the unit whose eviction takes this one along (see the module docstring)."""

    name: str
    pods: tuple[PodInfo, ...]
    priority: int
    is_group: bool = False
    follows: VictimUnit | None = field(default=None, repr=False)

    @property
    def earliest_start(self) -> float:
        return min(start_time(p.pod) for p in self.pods)


def importance(unit: VictimUnit) -> tuple[int, int, int, float]:
    """Sort key, most important first (upstream's moreImportantVictim)."""
    size = -len(unit.pods) if unit.is_group else 0
    return -unit.priority, 0 if unit.is_group else 1, size, unit.earliest_start


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
    on: set[int] = set()  # ids of the units put back
    violations = 0
    for group in (violating, others):
        for unit in group:
            leader = unit.follows
            if leader is not None and any(v is leader for v in evicted):
                evicted.append(unit)  # its quorum leaves: it goes too, not reprieved
                violations += group is violating
                continue
            add(unit)
            if fits().is_success:
                on.add(id(unit))
                continue
            remove(unit)
            evicted.append(unit)
            violations += group is violating
    # A follower reprieved before its leader became a victim (the budgets' order) leaves too.
    violating_ids = {id(u) for u in violating}
    for unit in potential:
        leader = unit.follows
        if id(unit) in on and leader is not None and any(v is leader for v in evicted):
            remove(unit)
            on.discard(id(unit))
            evicted.append(unit)
            violations += id(unit) in violating_ids
    if not evicted:
        # Fits with every unit back: upstream's "expected at least one victim".
        return None, Status.error("expected at least one victim for the pod group")
    final = fits()
    if not final.is_success:
        return None, final
    evicted.sort(key=importance)
    return GroupVictims(tuple(evicted), violations), SUCCESS
