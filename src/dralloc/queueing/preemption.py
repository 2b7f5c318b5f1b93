"""Classical preemption (spec/queueing.md 3.1, 3.2): which admitted Workloads to evict so that
a head fits, and the oracle flavor assignment asks while classifying a flavor.

Owns: `ClassicalPreemptor` (implements `dralloc.queueing.cycle.Preemptor`). Works on a cycle's
snapshot: removes candidates' usage while searching and always puts it back before returning.
Pure computation, no I/O.

Candidates use at least one flavor-resource that needs preemption:

* the preemptor's own ClusterQueue, when `withinClusterQueue` allows (`LowerPriority`:
  strictly lower priority; `LowerOrNewerEqualPriority`: also equal priority with a later queue
  time) - reason `InClusterQueue`;
* other ClusterQueues of the cohort tree that are above nominal on a contested FR (and whose
  cohorts up to the common ancestor are above their subtree quota), when
  `reclaimWithinCohort` allows: `HierarchicalReclaim` when the preemptor's side of the tree
  would hold the demand within its own quota (reason `InCohortReclamation`); else
  `ReclaimWithoutBorrowing` (the preemptor must not borrow afterwards), or with
  `borrowWithinCohort: LowerPriority` `ReclaimWhileBorrowing` for lower-priority candidates at
  or under `maxPriorityThreshold` (reason `InCohortReclaimWhileBorrowing`).

Order: evicted first, other queues before the preemptor's own, lower priority, most recently
reserved, then `namespace/name` (dralloc's deterministic stand-in for the UID); grouped
hierarchical, other-queue, same-queue. One or two greedy runs (`allowBorrowing` true/false,
chosen as Kueue does) remove candidates until the preemptor fits, then put back, in reverse,
every target it still fits without. The result is nearly minimal, not minimum-cost.

With a `PlacementTrial` (placement-aware admission, `queueing.cycle`'s module docstring) "fits"
also means the preemptor's pods can be placed with the targets' pods gone, at both tests: the
greedy run goes on taking candidates until both hold, and a target is put back only if both
still hold without it. The what-if is asked only once the quota fits. Without a trial the
search is Kueue's, unchanged (the oracle tests).

Not modelled: fair-sharing preemption strategies (3.3) - with `QueueConfig(fair_sharing=True)`
this preemptor still selects classically; the 5-minute timestamp buffer
(gate SchedulerTimestampPreemptionBuffer); Admission Fair Sharing's LocalQueue usage key.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from enum import IntEnum

from dralloc.queueing.cycle import PlacementTrial, Target
from dralloc.queueing.flavors import Assignment, Mode, Possibility, PreemptionOracle
from dralloc.queueing.objects import ClusterQueuePreemption, PreemptionPolicy
from dralloc.queueing.queues import QueuedWorkload
from dralloc.queueing.quota import (
    FlavorResource,
    NodeKind,
    QuotaNode,
    borrowing_level,
    cq_available,
    is_borrowing_with,
    local_available,
)
from dralloc.queueing.state import ClusterQueueState, Reservation, Snapshot

IN_CLUSTER_QUEUE = "InClusterQueue"
IN_COHORT_RECLAMATION = "InCohortReclamation"
IN_COHORT_RECLAIM_WHILE_BORROWING = "InCohortReclaimWhileBorrowing"


class Variant(IntEnum):
    never = 0
    within_cq = 1
    hierarchical_reclaim = 2
    reclaim_without_borrowing = 3
    reclaim_while_borrowing = 4

    @property
    def reason(self) -> str:
        if self is Variant.within_cq:
            return IN_CLUSTER_QUEUE
        if self is Variant.reclaim_while_borrowing:
            return IN_COHORT_RECLAIM_WHILE_BORROWING
        return IN_COHORT_RECLAMATION


@dataclass(frozen=True)
class Preemptee:
    reservation: Reservation
    lca: QuotaNode | None
    variant: Variant


@dataclass(frozen=True)
class PreemptionContext:
    snapshot: Snapshot
    cq: str
    node: QuotaNode
    policy: ClusterQueuePreemption
    priority: int
    timestamp: str
    frs: frozenset[FlavorResource]
    requests: Mapping[FlavorResource, int]


def satisfies_policy(
    policy: str, preemptor_priority: int, preemptor_time: str, candidate: Reservation
) -> bool:
    lower = preemptor_priority > candidate.priority
    if policy == PreemptionPolicy.lower_priority:
        return lower
    if policy == PreemptionPolicy.lower_or_newer_equal_priority:
        newer_equal = (
            preemptor_priority == candidate.priority and preemptor_time < candidate.timestamp
        )
        return lower or newer_equal
    return policy == PreemptionPolicy.any


def _uses(reservation: Reservation, frs: frozenset[FlavorResource]) -> bool:
    return not reservation.used.isdisjoint(frs)


def _within_nominal(node: QuotaNode, frs: frozenset[FlavorResource]) -> bool:
    return all(node.usage.get(fr, 0) <= node.subtree_quota.get(fr, 0) for fr in frs)


def _fits_in_quota(
    node: QuotaNode, requests: Mapping[FlavorResource, int]
) -> tuple[bool, dict[FlavorResource, int]]:
    fits = True
    remaining: dict[FlavorResource, int] = {}
    for fr, value in requests.items():
        if node.usage.get(fr, 0) + value > node.subtree_quota.get(fr, 0):
            fits = False
        remaining[fr] = max(0, value - local_available(node, fr))
    return fits, remaining


def _variant(ctx: PreemptionContext, res: Reservation, advantage: bool) -> Variant:
    if not _uses(res, ctx.frs):
        return Variant.never
    same = res.cluster_queue == ctx.cq
    policy = ctx.policy.within_cluster_queue if same else ctx.policy.reclaim_within_cohort
    if not satisfies_policy(policy, ctx.priority, ctx.timestamp, res):
        return Variant.never
    if same:
        return Variant.within_cq
    if advantage:
        return Variant.hierarchical_reclaim
    borrow = ctx.policy.borrow_within_cohort
    if borrow is None or borrow.policy == PreemptionPolicy.never:
        return Variant.reclaim_without_borrowing
    threshold = borrow.max_priority_threshold
    if res.priority >= ctx.priority or (threshold is not None and res.priority > threshold):
        return Variant.reclaim_without_borrowing
    return Variant.reclaim_while_borrowing


def _in_cq(
    ctx: PreemptionContext, cq: str, lca: QuotaNode | None, advantage: bool
) -> list[Preemptee]:
    # `_variant` for each reservation of `cq`, with what is the same for all of them (the
    # policy, whether it is the preemptor's queue) decided once: the cohort's reservations
    # are scanned for every head that needs preemption.
    frs = ctx.frs
    same = cq == ctx.cq
    policy = ctx.policy.within_cluster_queue if same else ctx.policy.reclaim_within_cohort
    if policy == PreemptionPolicy.never:
        return []
    if (
        policy == PreemptionPolicy.lower_priority
        and ctx.snapshot.least_priority(cq) >= ctx.priority
    ):
        return []  # every reservation there is at the preemptor's priority or above
    out = []
    for res in ctx.snapshot.reservations_of(cq):
        if res.used.isdisjoint(frs):
            continue
        if not satisfies_policy(policy, ctx.priority, ctx.timestamp, res):
            continue
        out.append(Preemptee(res, lca, _variant(ctx, res, advantage)))
    return out


def _collect_subtree(
    ctx: PreemptionContext,
    current: QuotaNode,
    subtree_root: QuotaNode,
    skip: QuotaNode | None,
    advantage: bool,
    into: list[Preemptee],
) -> None:
    for child in current.children:
        if child.kind is NodeKind.cohort:
            if child is skip or _within_nominal(child, ctx.frs):
                continue
            _collect_subtree(ctx, child, subtree_root, skip, advantage, into)
    for child in current.children:
        is_other_cq = child.kind is NodeKind.cluster_queue and child is not ctx.node
        if is_other_cq and not _within_nominal(child, ctx.frs):
            into += _in_cq(ctx, child.name, subtree_root, advantage)


def _order_key(ctx: PreemptionContext, p: Preemptee) -> tuple[bool, bool, int, float, str]:
    res = p.reservation
    return (not res.evicted, res.cluster_queue == ctx.cq, res.priority, -res.reserved_at, res.key)


def candidates(ctx: PreemptionContext) -> tuple[list[Preemptee], bool, bool]:
    """(ordered candidates, none from other queues, none for hierarchical reclaim)."""
    same: list[Preemptee] = []
    if ctx.policy.within_cluster_queue != PreemptionPolicy.never:
        same = _in_cq(ctx, ctx.cq, None, False)
    hierarchy: list[Preemptee] = []
    priority: list[Preemptee] = []
    if ctx.node.parent is not None and ctx.policy.reclaim_within_cohort != PreemptionPolicy.never:
        advantage, remaining = _fits_in_quota(ctx.node, ctx.requests)
        previous: QuotaNode | None = None
        for ancestor in ctx.node.ancestors():
            target = hierarchy if advantage else priority
            _collect_subtree(ctx, ancestor, ancestor, previous, advantage, target)
            fits, remaining = _fits_in_quota(ancestor, remaining)
            advantage = advantage or fits
            previous = ancestor
    groups = [sorted(g, key=lambda p: _order_key(ctx, p)) for g in (hierarchy, priority, same)]
    evicted = [p for g in groups for p in g if p.reservation.evicted]
    rest = [p for g in groups for p in g if not p.reservation.evicted]
    return evicted + rest, not hierarchy and not priority, not hierarchy


def _valid(ctx: PreemptionContext, p: Preemptee, allow_borrowing: bool) -> bool:
    res = p.reservation
    if res.cluster_queue == ctx.cq:
        return True
    if allow_borrowing and p.variant is Variant.reclaim_without_borrowing:
        return False
    node = ctx.snapshot.node(res.cluster_queue)
    if _within_nominal(node, ctx.frs):
        return False
    for ancestor in node.ancestors():
        if ancestor is p.lca:
            break
        if _within_nominal(ancestor, ctx.frs):
            return False
    return True


def preemptor_fits(ctx: PreemptionContext, allow_borrowing: bool) -> bool:
    for fr, value in ctx.requests.items():
        if not allow_borrowing and is_borrowing_with(ctx.node, fr, value):
            return False
        if value > cq_available(ctx.node, fr):
            return False
    return True


def _remove(snapshot: Snapshot, res: Reservation) -> None:
    snapshot.remove_usage(res.cluster_queue, res.usage)


def _add(snapshot: Snapshot, res: Reservation) -> None:
    snapshot.add_usage(res.cluster_queue, res.usage)


def _under_nominal(ctx: PreemptionContext) -> bool:
    return all(
        ctx.node.usage.get(fr, 0) < (ctx.node.quotas[fr].nominal if fr in ctx.node.quotas else 0)
        for fr in ctx.frs
    )


def select_targets(ctx: PreemptionContext, trial: PlacementTrial | None = None) -> list[Preemptee]:
    """Kueue's `classicalPreemptions`: the greedy runs and the reverse fill-back. With a
    `trial`, both fit tests also ask that the preemptor be placeable without the targets
    (Kueue's `workloadFits` with TAS, generalised to any `PreemptionPlacement`)."""

    def fits(allow_borrowing: bool, targets: list[Preemptee]) -> bool:
        if not preemptor_fits(ctx, allow_borrowing):
            return False
        return trial is None or trial.fits([t.reservation.key for t in targets])

    ordered, none_other, none_hierarchical = candidates(ctx)
    borrow = ctx.policy.borrow_within_cohort
    forbidden = borrow is None or borrow.policy == PreemptionPolicy.never
    if none_other or (forbidden and not _under_nominal(ctx)):
        runs = [True]
    elif forbidden and none_hierarchical:
        runs = [False, True]
    else:
        runs = [True, False]
    snapshot = ctx.snapshot
    for allow_borrowing in runs:
        targets: list[Preemptee] = []
        for p in ordered:
            if not _valid(ctx, p, allow_borrowing):
                continue
            _remove(snapshot, p.reservation)
            targets.append(p)
            if fits(allow_borrowing, targets):
                for i in range(len(targets) - 2, -1, -1):
                    _add(snapshot, targets[i].reservation)
                    if fits(allow_borrowing, targets[:i] + targets[i + 1 :]):
                        targets[i] = targets[-1]
                        targets.pop()
                    else:
                        _remove(snapshot, targets[i].reservation)
                for t in targets:
                    _add(snapshot, t.reservation)
                return targets
        for t in targets:
            _add(snapshot, t.reservation)
    return []


def timestamp_read(cq: ClusterQueueState, entry: QueuedWorkload) -> str | None:
    """The preemptor's queue-order timestamp where candidate selection reads it (a
    `LowerOrNewerEqualPriority` policy compares it), else None: what preemption reads of a
    head beyond its ClusterQueue, requests and priority."""
    policy = cq.obj.spec.preemption
    newer = PreemptionPolicy.lower_or_newer_equal_priority
    if newer in (policy.within_cluster_queue, policy.reclaim_within_cohort):
        return entry.timestamp
    return None


def preemption_context(
    snapshot: Snapshot,
    entry: QueuedWorkload,
    frs: frozenset[FlavorResource],
    requests: Mapping[FlavorResource, int],
) -> PreemptionContext:
    cq = snapshot.cluster_queues[entry.cluster_queue]
    return PreemptionContext(
        snapshot,
        entry.cluster_queue,
        snapshot.node(entry.cluster_queue),
        cq.obj.spec.preemption,
        entry.priority,
        entry.timestamp,
        frs,
        requests,
    )


class _Oracle:
    def __init__(self, snapshot: Snapshot, entry: QueuedWorkload) -> None:
        self._snapshot, self._entry = snapshot, entry

    def simulate(self, cq: str, fr: FlavorResource, amount: int) -> tuple[Possibility, int]:
        ctx = preemption_context(self._snapshot, self._entry, frozenset({fr}), {fr: amount})
        found = select_targets(ctx)
        node = self._snapshot.node(cq)
        if not found:
            return Possibility.no_candidates, borrowing_level(node, fr, amount)[0]
        for p in found:
            _remove(self._snapshot, p.reservation)
        try:
            borrow_after = borrowing_level(node, fr, amount)[0]
        finally:
            for p in found:
                _add(self._snapshot, p.reservation)
        if any(p.reservation.cluster_queue == cq for p in found):
            return Possibility.preempt, borrow_after
        return Possibility.reclaim, borrow_after


def needing_preemption(assignment: Assignment) -> frozenset[FlavorResource]:
    return frozenset(
        FlavorResource(choice.flavor, resource)
        for ps in assignment.pod_sets
        for resource, choice in ps.flavors.items()
        if choice.mode is Mode.preempt
    )


class ClassicalPreemptor:
    """Kueue's classical preemption, for `schedule(..., preemptor=ClassicalPreemptor())`.

    >>> ClassicalPreemptor().__class__.__name__
    'ClassicalPreemptor'
    """

    def oracle(self, snapshot: Snapshot, entry: QueuedWorkload) -> PreemptionOracle:
        return _Oracle(snapshot, entry)

    def equivalence(self, cq: ClusterQueueState, entry: QueuedWorkload) -> Hashable:
        return timestamp_read(cq, entry)

    def targets(
        self,
        snapshot: Snapshot,
        entry: QueuedWorkload,
        assignment: Assignment,
        trial: PlacementTrial | None = None,
    ) -> list[Target]:
        ctx = preemption_context(
            snapshot, entry, needing_preemption(assignment), dict(assignment.usage)
        )
        return [Target(p.reservation.key, p.variant.reason) for p in select_targets(ctx, trial)]
