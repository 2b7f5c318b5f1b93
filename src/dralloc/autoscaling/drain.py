"""Which pods keep their node, and where the others would go (spec/autoscaling.md §4.3).

Owns cluster-autoscaler's drainability rules for one node and the removal what-if; pure
reading of pods, claims and PodDisruptionBudgets, plus placements on a `PlanningSnapshot` the
caller owns. The rules reproduced are CA's (`simulator/drainability/rules`, `utils/drain`,
read in kubernetes/autoscaler), in this order per pod:

* terminal pods (Succeeded, Failed), mirror pods (annotation `kubernetes.io/config.mirror`)
  and DaemonSet pods go with the node and block nothing;
* `cluster-autoscaler.kubernetes.io/safe-to-evict: "false"` blocks
  (`NotSafeToEvictAnnotation`); `"true"` makes the pod evictable whatever follows except
  PodDisruptionBudgets;
* a pod without a controller owner blocks (`NotReplicated`);
* a `kube-system` pod no PodDisruptionBudget covers blocks (`UnmovableKubeSystemPod`);
* a pod whose eviction would take a budget's `disruptionsAllowed` below zero, counting the
  pods already planned for eviction this loop, blocks (`NotEnoughPdb`);
* (dralloc) a pod using a claim that pods elsewhere also reserve blocks
  (`SharedClaimPinned`): the claim's devices on this node stay allocated, so the pod cannot
  move with it.

Upstream also blocks pods with local storage (emptyDir); dralloc's Pod carries no volumes, so
that rule never fires. `safe-to-evict: "on-completion"` is not modelled.

Removal (CA's `RemovalSimulator`): the node leaves the snapshot with its pods (claims only
they reserved are deallocated), then each movable pod is placed, with the real framework,
on the allowed destinations; one pod that fits nowhere makes the node `NoPlaceToMovePods`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from dralloc.api.core import Pod
from dralloc.api.policy import PodDisruptionBudget
from dralloc.api.resource import ResourceClaim
from dralloc.autoscaling.decisions import BlockingPodReason
from dralloc.autoscaling.planning import PlanningSnapshot, pod_key, unbound
from dralloc.scheduler.cache import pod_claim_keys
from dralloc.scheduler.plugins.defaultpreemption.budgets import budget_selector

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
SAFE_TO_EVICT = "cluster-autoscaler.kubernetes.io/safe-to-evict"
SCALE_DOWN_DISABLED = "cluster-autoscaler.kubernetes.io/scale-down-disabled"
TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})


def is_mirror_pod(pod: Pod) -> bool:
    return MIRROR_ANNOTATION in pod.metadata.annotations


def is_daemonset_pod(pod: Pod) -> bool:
    return any(ref.kind == "DaemonSet" and ref.controller for ref in pod.metadata.owner_references)


def has_controller(pod: Pod) -> bool:
    return any(ref.controller for ref in pod.metadata.owner_references)


def goes_with_node(pod: Pod) -> bool:
    """True for pods that leave with the node and block nothing (see the module doc)."""
    return pod.status.phase in TERMINAL_PHASES or is_mirror_pod(pod) or is_daemonset_pod(pod)


@dataclass
class BudgetTracker:
    """Disruptions each PodDisruptionBudget still allows this loop (CA's
    `RemainingPdbTracker`); budgets must carry a status (`with_status`)."""

    budgets: Sequence[PodDisruptionBudget]
    _left: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for index, budget in enumerate(self.budgets):
            status = budget.status
            self._left[index] = status.disruptions_allowed if status is not None else 0

    def covering(self, pod: Pod) -> list[int]:
        namespace = pod.metadata.namespace or "default"
        return [
            index
            for index, budget in enumerate(self.budgets)
            if (budget.metadata.namespace or "default") == namespace
            and budget_selector(budget).matches(pod.metadata.labels)
        ]

    def can_evict(self, pods: Iterable[Pod]) -> Pod | None:
        """The first of `pods` whose eviction no budget allows (None: all may go)."""
        left = dict(self._left)
        for pod in pods:
            for index in self.covering(pod):
                left[index] -= 1
                if left[index] < 0:
                    return pod
        return None

    def evict(self, pods: Iterable[Pod]) -> None:
        for pod in pods:
            for index in self.covering(pod):
                self._left[index] -= 1


def blocking_pod(
    pods: Sequence[Pod],
    claims: Mapping[str, ResourceClaim],
    budgets: BudgetTracker,
) -> tuple[Pod, BlockingPodReason] | None:
    """The first pod of a node that keeps it, and why (None: every pod may move)."""
    on_node = {p.metadata.name for p in pods}
    movable = [p for p in pods if not goes_with_node(p)]
    for pod in movable:
        safe = pod.metadata.annotations.get(SAFE_TO_EVICT)
        if safe == "false":
            return pod, BlockingPodReason.NOT_SAFE_TO_EVICT_ANNOTATION
        if safe != "true":
            if not has_controller(pod):
                return pod, BlockingPodReason.NOT_REPLICATED
            if pod.metadata.namespace == "kube-system" and not budgets.covering(pod):
                return pod, BlockingPodReason.UNMOVABLE_KUBE_SYSTEM_POD
        for _, key in pod_claim_keys(pod):
            claim = claims.get(key) if key is not None else None
            if claim is None or claim.status.allocation is None:
                continue
            if any(ref.name not in on_node for ref in claim.status.reserved_for):
                return pod, BlockingPodReason.SHARED_CLAIM_PINNED
    violating = budgets.can_evict(movable)
    if violating is not None:
        return violating, BlockingPodReason.NOT_ENOUGH_PDB
    return None


def move_pods(
    snapshot: PlanningSnapshot, node: str, destinations: Collection[str]
) -> dict[str, str] | None:
    """Remove `node` from `snapshot` and place its movable pods on `destinations`; the
    planned node per pod key, or None when one fits nowhere (the snapshot is then spoilt:
    work on a fork)."""
    pods = snapshot.remove_node(node)
    planned: dict[str, str] = {}
    allowed = [d for d in destinations if d != node]
    for pod in pods:
        if goes_with_node(pod):
            continue
        target = snapshot.place(unbound(pod), among=allowed)
        if target is None:
            return None
        planned[pod_key(pod)] = target
    return planned
