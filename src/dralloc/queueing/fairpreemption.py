"""Fair-sharing preemption (spec/queueing.md 3.3): victims chosen so that shares even out.

Owns: `FairSharingPreemptor` (implements `dralloc.queueing.cycle.Preemptor`), used with
`QueueConfig(fair_sharing=True)`. Works on a cycle's snapshot and restores it. Pure
computation, no I/O.

Candidates: Workloads of the preemptor's own ClusterQueue allowed by `withinClusterQueue`,
plus those of every ClusterQueue of the root tree that borrows on a contested flavor-resource,
allowed by `reclaimWithinCohort`; ordered as in classical preemption. The preemptor's usage is
added to its queue first, so every share "includes the incoming Workload".

Target queues come from the root down, each time into the child with the highest DRS (a cohort
on a tie); queues that no longer borrow or have no candidates drop out, except the preemptor's
own. In the preemptor's queue, the next candidate is taken (`InClusterQueue`). If the
preemptor's queue stays within nominal on the contested resources, other queues' candidates
are taken too (`InCohortReclamation`, gate FairSharingPreemptWithinNominal, on). Otherwise a
candidate is taken when the strategy holds (`InCohortFairSharing`), comparing the preemptor's
share and the target's at the children of their lowest common ancestor:

* LessThanOrEqualToFinalShare: preemptor's new share <= target's share without the candidate;
* LessThanInitialShare (fallback, at most one per target queue): preemptor's new share <
  target's share before.

Then, as classically, targets are put back in reverse while the preemptor still fits.

With a `PlacementTrial` (placement-aware admission, `queueing.cycle`'s module docstring),
every fit test, in both strategies and the fill-back, also asks that the preemptor's pods be
placeable without the targets' pods; the shares and the order are Kueue's, unchanged.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum

from dralloc.queueing.cycle import PlacementTrial, Target
from dralloc.queueing.fairsharing import DRS, compare_drs, dominant_resource_share
from dralloc.queueing.flavors import Assignment, Possibility, PreemptionOracle
from dralloc.queueing.objects import PreemptionPolicy
from dralloc.queueing.preemption import (
    IN_CLUSTER_QUEUE,
    IN_COHORT_RECLAMATION,
    PreemptionContext,
    needing_preemption,
    preemption_context,
    preemptor_fits,
    satisfies_policy,
    timestamp_read,
)
from dralloc.queueing.queues import QueuedWorkload
from dralloc.queueing.quota import (
    FlavorResource,
    NodeKind,
    QuotaNode,
    add_usages,
    borrowing_level,
    remove_usages,
)
from dralloc.queueing.state import ClusterQueueState, Reservation, Snapshot

IN_COHORT_FAIR_SHARING = "InCohortFairSharing"
NEGATIVE = DRS(1.0, -1.0)


class Strategy(StrEnum):
    less_than_or_equal_to_final_share = "LessThanOrEqualToFinalShare"
    less_than_initial_share = "LessThanInitialShare"


DEFAULT_STRATEGIES = (Strategy.less_than_or_equal_to_final_share, Strategy.less_than_initial_share)


def _order_key(ctx: PreemptionContext, res: Reservation) -> tuple[bool, bool, int, float, str]:
    return (not res.evicted, res.cluster_queue == ctx.cq, res.priority, -res.reserved_at, res.key)


def _rule(ctx: PreemptionContext, cq: str) -> str | None:
    """The policy that lets the preemptor take reservations of `cq`, None if none does:
    `withinClusterQueue` in its own queue; `reclaimWithinCohort` in another queue of its
    cohort tree that borrows one of the contested FRs."""
    policy = ctx.policy
    if cq == ctx.cq:
        rule = policy.within_cluster_queue
    else:
        if ctx.node.parent is None or policy.reclaim_within_cohort == PreemptionPolicy.never:
            return None
        node = ctx.snapshot.node(cq)
        if node.root() is not ctx.node.root() or node.parent is None:
            return None
        borrowing = any(
            node.usage.get(fr, 0) > (node.quotas[fr].nominal if fr in node.quotas else 0)
            for fr in ctx.frs
        )
        if not borrowing:
            return None
        rule = policy.reclaim_within_cohort
    return None if rule == PreemptionPolicy.never else rule


def find_candidates(ctx: PreemptionContext) -> list[Reservation]:
    out: list[Reservation] = []
    # What depends only on a reservation's queue is decided once per queue.
    rules: dict[str, str | None] = {}
    for res in ctx.snapshot.reservations.values():
        if res.used.isdisjoint(ctx.frs):
            continue
        cq = res.cluster_queue
        if cq not in rules:
            rules[cq] = _rule(ctx, cq)
        rule = rules[cq]
        if rule is not None and satisfies_policy(rule, ctx.priority, ctx.timestamp, res):
            out.append(res)
    return sorted(out, key=lambda r: _order_key(ctx, r))


@dataclass
class _Ordering:
    ctx: PreemptionContext
    by_cq: dict[str, list[Reservation]]
    pruned_cqs: set[str] = field(default_factory=set)
    pruned_cohorts: set[str] = field(default_factory=set)

    def ancestors(self) -> set[str]:
        return {a.name for a in self.ctx.node.ancestors()}

    def has_workload(self, cq: str) -> bool:
        return bool(self.by_cq.get(cq))

    def iter(self) -> Iterator[str]:
        own = self.ctx.cq
        if self.ctx.node.parent is None:
            while self.has_workload(own):
                yield own
            return
        root = self.ctx.node.root()
        while root.name not in self.pruned_cohorts:
            target = self._next(root)
            if target is not None:
                yield target

    def _next(self, cohort: QuotaNode) -> str | None:
        best_cq: QuotaNode | None = None
        best_cq_drs = NEGATIVE
        best_cohort: QuotaNode | None = None
        best_cohort_drs = NEGATIVE
        on_path = self.ancestors()
        for child in cohort.children:
            if child.kind is NodeKind.cluster_queue:
                if child.name in self.pruned_cqs:
                    continue
                drs = dominant_resource_share(child)
                if (not drs.borrowing and child is not self.ctx.node) or not self.has_workload(
                    child.name
                ):
                    self.pruned_cqs.add(child.name)
                    continue
                order = compare_drs(drs, best_cq_drs)
                if order == 0 and best_cq is not None:
                    mine = self.by_cq[child.name][0]
                    theirs = self.by_cq[best_cq.name][0]
                    if _order_key(self.ctx, mine) < _order_key(self.ctx, theirs):
                        best_cq = child
                elif order > 0:
                    best_cq, best_cq_drs = child, drs
        for child in cohort.children:
            if child.kind is not NodeKind.cohort or child.name in self.pruned_cohorts:
                continue
            drs = dominant_resource_share(child)
            if not drs.borrowing and child.name not in on_path:
                self.pruned_cohorts.add(child.name)
            elif compare_drs(drs, best_cohort_drs) >= 0:
                best_cohort, best_cohort_drs = child, drs
        if best_cohort is None and best_cq is None:
            self.pruned_cohorts.add(cohort.name)
            return None
        if best_cohort is not None and compare_drs(best_cohort_drs, best_cq_drs) >= 0:
            return self._next(best_cohort)
        assert best_cq is not None
        return best_cq.name

    def pop(self, cq: str) -> Reservation:
        return self.by_cq[cq].pop(0)


def _almost_lcas(ctx: PreemptionContext, target: QuotaNode) -> tuple[QuotaNode, QuotaNode]:
    path = {id(a) for a in ctx.node.ancestors()}
    lca = next(a for a in target.ancestors() if id(a) in path)

    def below(node: QuotaNode) -> QuotaNode:
        current = node
        while current.parent is not lca:
            assert current.parent is not None
            current = current.parent
        return current

    return below(ctx.node), below(target)


@contextmanager
def _without(ctx: PreemptionContext, res: Reservation) -> Iterator[None]:
    ctx.snapshot.remove_usage(res.cluster_queue, res.usage)
    try:
        yield
    finally:
        ctx.snapshot.add_usage(res.cluster_queue, res.usage)


def _holds(strategy: Strategy, preemptor_new: DRS, target_old: DRS, target_new: DRS) -> bool:
    if strategy is Strategy.less_than_or_equal_to_final_share:
        return compare_drs(preemptor_new, target_new) <= 0
    return compare_drs(preemptor_new, target_old) < 0


def _fits(ctx: PreemptionContext, trial: PlacementTrial | None, targets: Sequence[Target]) -> bool:
    """The preemptor fits, its own usage (simulated for the shares) taken out again, and
    with a `trial` its pods can be placed without the targets' (asked once the quota fits)."""
    remove_usages(ctx.node, dict(ctx.requests))
    try:
        if not preemptor_fits(ctx, True):
            return False
    finally:
        add_usages(ctx.node, dict(ctx.requests))
    return trial is None or trial.fits([t.key for t in targets])


def _within_nominal(ctx: PreemptionContext) -> bool:
    return all(
        ctx.node.usage.get(fr, 0) <= (ctx.node.quotas[fr].nominal if fr in ctx.node.quotas else 0)
        for fr in ctx.frs
    )


def _first(
    ctx: PreemptionContext,
    ordering: _Ordering,
    strategy: Strategy,
    targets: list[Target],
    trial: PlacementTrial | None,
) -> tuple[bool, list[Reservation]]:
    retry: list[Reservation] = []
    within_nominal = _within_nominal(ctx)
    for cq in ordering.iter():
        if cq == ctx.cq:
            res = ordering.pop(cq)
            ctx.snapshot.remove_usage(res.cluster_queue, res.usage)
            targets.append(Target(res.key, IN_CLUSTER_QUEUE))
            if _fits(ctx, trial, targets):
                return True, []
            continue
        if within_nominal:
            res = ordering.pop(cq)
            ctx.snapshot.remove_usage(res.cluster_queue, res.usage)
            targets.append(Target(res.key, IN_COHORT_RECLAMATION))
            if _fits(ctx, trial, targets):
                return True, []
            continue
        target_node = ctx.snapshot.node(cq)
        mine, theirs = _almost_lcas(ctx, target_node)
        preemptor_new, target_old = dominant_resource_share(mine), dominant_resource_share(theirs)
        # Candidates of equal usage leave equal shares behind, and the snapshot does not
        # change until one is taken (which ends the loop): one share per usage.
        shares: dict[frozenset[tuple[FlavorResource, int]], DRS] = {}
        while ordering.has_workload(cq):
            res = ordering.pop(cq)
            usage = frozenset(res.usage.items())
            target_new = shares.get(usage)
            if target_new is None:
                with _without(ctx, res):
                    target_new = dominant_resource_share(theirs)
                shares[usage] = target_new
            if _holds(strategy, preemptor_new, target_old, target_new):
                ctx.snapshot.remove_usage(res.cluster_queue, res.usage)
                targets.append(Target(res.key, IN_COHORT_FAIR_SHARING))
                if _fits(ctx, trial, targets):
                    return True, []
                break  # shares changed: choose the target queue again
            retry.append(res)
    return False, retry


def _second(
    ctx: PreemptionContext,
    retry: Sequence[Reservation],
    targets: list[Target],
    trial: PlacementTrial | None,
) -> bool:
    by_cq: dict[str, list[Reservation]] = {}
    for res in retry:
        by_cq.setdefault(res.cluster_queue, []).append(res)
    ordering = _Ordering(ctx, by_cq)
    for cq in ordering.iter():
        mine, theirs = _almost_lcas(ctx, ctx.snapshot.node(cq)) if cq != ctx.cq else (ctx.node,) * 2
        if _holds(
            Strategy.less_than_initial_share,
            dominant_resource_share(mine),
            dominant_resource_share(theirs),
            NEGATIVE,
        ):
            res = ordering.pop(cq)
            ctx.snapshot.remove_usage(res.cluster_queue, res.usage)
            targets.append(Target(res.key, IN_COHORT_FAIR_SHARING))
            if _fits(ctx, trial, targets):
                return True
        ordering.pruned_cqs.add(cq)
    return False


def select_fair_targets(
    ctx: PreemptionContext,
    strategies: Sequence[Strategy] = DEFAULT_STRATEGIES,
    trial: PlacementTrial | None = None,
) -> list[Target]:
    """Kueue's fair-sharing preemption (module docstring); with a `trial`, every fit test
    also asks that the preemptor be placeable without the targets."""
    candidates = find_candidates(ctx)
    if not candidates:
        return []
    by_cq: dict[str, list[Reservation]] = {}
    for res in candidates:
        by_cq.setdefault(res.cluster_queue, []).append(res)
    reservations = ctx.snapshot.reservations
    targets: list[Target] = []
    add_usages(ctx.node, dict(ctx.requests))
    try:
        fits, retry = _first(ctx, _Ordering(ctx, by_cq), strategies[0], targets, trial)
        if not fits and len(strategies) > 1:
            fits = _second(ctx, retry, targets, trial)
    finally:
        remove_usages(ctx.node, dict(ctx.requests))
    if not fits:
        for t in targets:
            res = reservations[t.key]
            ctx.snapshot.add_usage(res.cluster_queue, res.usage)
        return []
    for i in range(len(targets) - 2, -1, -1):
        res = reservations[targets[i].key]
        ctx.snapshot.add_usage(res.cluster_queue, res.usage)
        if preemptor_fits(ctx, True) and (
            trial is None or trial.fits([t.key for j, t in enumerate(targets) if j != i])
        ):
            targets[i] = targets[-1]
            targets.pop()
        else:
            ctx.snapshot.remove_usage(res.cluster_queue, res.usage)
    for t in targets:
        res = reservations[t.key]
        ctx.snapshot.add_usage(res.cluster_queue, res.usage)
    return targets


class FairSharingPreemptor:
    """Kueue's fair-sharing preemption. `strategies` is Kueue's
    `fairSharing.preemptionStrategies` (default: both, in order).

    >>> FairSharingPreemptor().strategies[0]
    <Strategy.less_than_or_equal_to_final_share: 'LessThanOrEqualToFinalShare'>
    """

    def __init__(self, strategies: Sequence[Strategy] = DEFAULT_STRATEGIES) -> None:
        self.strategies = tuple(strategies)

    def oracle(self, snapshot: Snapshot, entry: QueuedWorkload) -> PreemptionOracle:
        return _FairOracle(snapshot, entry, self.strategies)

    def equivalence(self, cq: ClusterQueueState, entry: QueuedWorkload) -> Hashable:
        return (self.strategies, timestamp_read(cq, entry))

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
        return select_fair_targets(ctx, self.strategies, trial)


class _FairOracle:
    def __init__(
        self, snapshot: Snapshot, entry: QueuedWorkload, strategies: Sequence[Strategy]
    ) -> None:
        self._snapshot, self._entry, self._strategies = snapshot, entry, strategies

    def simulate(self, cq: str, fr: FlavorResource, amount: int) -> tuple[Possibility, int]:
        ctx = preemption_context(self._snapshot, self._entry, frozenset({fr}), {fr: amount})
        found = select_fair_targets(ctx, self._strategies)
        node = self._snapshot.node(cq)
        if not found:
            return Possibility.no_candidates, borrowing_level(node, fr, amount)[0]
        gone = [self._snapshot.reservations[t.key] for t in found]
        for res in gone:
            self._snapshot.remove_usage(res.cluster_queue, res.usage)
        try:
            borrow_after = borrowing_level(node, fr, amount)[0]
        finally:
            for res in gone:
                self._snapshot.add_usage(res.cluster_queue, res.usage)
        if any(res.cluster_queue == cq for res in gone):
            return Possibility.preempt, borrow_after
        return Possibility.reclaim, borrow_after
