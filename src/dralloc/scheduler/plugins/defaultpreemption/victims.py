"""Victim selection on one node (upstream's SelectVictimsOnNode, spec/scheduler.md 5.3).

Works on a what-if copy of the node and a clone of the cycle state, both owned by the caller
and changed here; never on the cache. Each pod taken off or put back on the copy is reported
to the PreFilter plugins' extensions through the `Handle`, so Filter (DynamicResources in
particular) sees the node as it would be.

PodDisruptionBudgets (section 5.3 steps 5-7): the potential victims, most important first,
are split into those whose eviction would take a budget below its allowed disruptions and the
others (`budgets.split_by_budget_violation`). The violating ones are tried for a reprieve
first, so a pod a budget protects is kept whenever keeping it still lets the preemptor fit;
each violating pod that stays a victim counts one violation. With both kinds among the
victims, they are sorted most important first again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dralloc.api.policy import PodDisruptionBudget
from dralloc.scheduler.framework import SUCCESS, CycleState, Handle, NodeInfo, PodInfo, Status
from dralloc.scheduler.plugins.defaultpreemption.budgets import split_by_budget_violation
from dralloc.scheduler.plugins.defaultpreemption.pods import importance


@dataclass(frozen=True)
class Victims:
    """The pods to evict, most important first, and their PodDisruptionBudget violations."""

    pods: tuple[PodInfo, ...]
    pdb_violations: int = 0


def can_preempt(preemptor: PodInfo, pod: PodInfo) -> bool:
    """Only lower-priority pods are victims (upstream's IsEligiblePod hook is always true)."""
    return pod.priority < preemptor.priority


def select_victims_on_node(
    handle: Handle,
    state: CycleState,
    pod: PodInfo,
    node: NodeInfo,
    potential: Sequence[PodInfo],
    budgets: Sequence[PodDisruptionBudget] = (),
) -> tuple[Victims | None, Status]:
    """Take every potential victim (non-empty, on `node`) off the copy; if the pod then fits,
    put them back one at a time, those violating a budget first, each group most important
    first, keeping each whose return still lets the pod fit. Returns the rest as victims with
    SUCCESS and the count of budget-violating ones, or None with the Filter status that
    rejected the pod on the emptied node (an ERROR from a plugin included)."""

    def remove(victim: PodInfo) -> Status:
        node.remove_pod(victim.key)
        return handle.run_pre_filter_extension_remove_pod(state, pod, victim, node)

    def add(victim: PodInfo) -> Status:
        node.add_pod(victim)
        return handle.run_pre_filter_extension_add_pod(state, pod, victim, node)

    for victim in potential:
        status = remove(victim)
        if not status.is_success:
            return None, status
    # Affinity to the victims is not considered (upstream decided against it for speed).
    status = handle.run_filters_with_state(state, pod, node)
    if not status.is_success:
        return None, status
    victims: list[PodInfo] = []
    violating, non_violating = split_by_budget_violation(sorted(potential, key=importance), budgets)
    violations = 0
    for group in (violating, non_violating):
        for victim in group:
            status = add(victim)
            if not status.is_success:
                return None, status
            if handle.run_filters_with_state(state, pod, node).is_success:
                continue  # reprieved
            status = remove(victim)
            if not status.is_success:
                return None, status
            victims.append(victim)
            if group is violating:
                violations += 1
    if violating and non_violating:
        victims.sort(key=importance)
    return Victims(tuple(victims), violations), SUCCESS
