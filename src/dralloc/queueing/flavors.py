"""Flavor assignment (spec/queueing.md 2.4 and 2.5): which flavor each pod set's resources
take in a ClusterQueue, and in which mode (Fit, Preempt, NoFit), borrowing how deep.

Owns: `assign_flavors` and its result types. Reads a ClusterQueue's snapshot (quota tree with
this cycle's usage), never changes it. Pure computation, no I/O.

Per pod set (in spec order), per resource group the pod set requests from, flavors are tried
in the ClusterQueue's order, resuming after the last flavor tried in an earlier cycle (scan
progress). A flavor must match the pod set (its nodeSelector and required node affinity,
restricted to the label keys the group's flavors use; its tolerations plus the flavor's
against the flavor's NoSchedule/NoExecute taints). Then every requested resource of the group
is checked against quota (`fits_resource_quota`): more than the most the queue could ever
reach is NoFit (`ExceedsMaxQuota`); within what is available now is Fit, at the borrowing
level of the smallest subtree that covers it; otherwise a preemption simulation may find
targets (Preempt or Reclaim), or none (NoCandidates). `flavorFungibility` decides whether a
flavor that needs borrowing or preemption stops the search (`should_try_next`); among those
tried, the preferred mode wins (`is_preferred`: BorrowingOverPreemption compares mode then
borrowing, PreemptionOverBorrowing the reverse).

Partial admission (2.5): when the full size is neither Fit nor Preempt-with-targets and a pod
set has `minCount`, the largest proportional shrink that is becomes the assignment.

Determinism: Go iterates maps in random order; here resources are visited in sorted order and
reasons sorted, as Kueue sorts its messages.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Protocol

from dralloc.api.core import PodSpec
from dralloc.queueing.dra import is_extension_key
from dralloc.queueing.flavormatch import check_flavor
from dralloc.queueing.objects import (
    FlavorFungibility,
    FungibilityPolicy,
    FungibilityPreference,
    ResourceFlavor,
)
from dralloc.queueing.objects import (
    PodSetAssignment as ApiPodSetAssignment,
)
from dralloc.queueing.quota import (
    FlavorResource,
    QuotaNode,
    borrowing_level,
    cq_available,
    format_amount,
    potential_available,
    quantity_of,
)
from dralloc.queueing.requests import PODS, PodSetRequests


class Mode(IntEnum):
    """A pod set's or Workload's assignment mode, worst first (Kueue's FlavorAssignmentMode)."""

    no_fit = 0
    preempt = 1
    fit = 2


class PreemptionMode(IntEnum):
    """Kueue's finer `preemptionMode`, worst first."""

    no_fit = 0
    no_candidates = 1
    preempt = 2
    reclaim = 3
    fit = 4

    def mode(self) -> Mode:
        if self is PreemptionMode.fit:
            return Mode.fit
        if self is PreemptionMode.no_fit:
            return Mode.no_fit
        return Mode.preempt


class Possibility(IntEnum):
    """What a preemption simulation found."""

    no_candidates = 1
    preempt = 2
    reclaim = 3


@dataclass(frozen=True, order=True)
class GranularMode:
    preemption: PreemptionMode
    borrow: int

    def is_preempt_mode(self) -> bool:
        return self.preemption in (PreemptionMode.preempt, PreemptionMode.reclaim)


WORST = GranularMode(PreemptionMode.no_fit, 1 << 30)
BEST = GranularMode(PreemptionMode.fit, 0)


def is_preferred(a: GranularMode, b: GranularMode, fungibility: FlavorFungibility) -> bool:
    """Mode `a` is better than `b` under the queue's preference."""
    if a.preemption is PreemptionMode.no_fit:
        return False
    if b.preemption is PreemptionMode.no_fit:
        return True
    if fungibility.preference == FungibilityPreference.preemption_over_borrowing:
        if a.borrow != b.borrow:
            return a.borrow < b.borrow
        return a.preemption > b.preemption
    if a.preemption != b.preemption:
        return a.preemption > b.preemption
    return a.borrow < b.borrow


def should_try_next(mode: GranularMode, fungibility: FlavorFungibility) -> bool:
    if mode.preemption in (PreemptionMode.no_fit, PreemptionMode.no_candidates):
        return True
    if mode.is_preempt_mode() and fungibility.when_can_preempt == FungibilityPolicy.try_next_flavor:
        return True
    return mode.borrow > 0 and fungibility.when_can_borrow == FungibilityPolicy.try_next_flavor


class PreemptionOracle(Protocol):
    """Answers, during flavor assignment, whether preemption could free `amount` of `fr` for
    the Workload in its ClusterQueue, and the borrowing level after the simulated victims
    left. Must restore the snapshot it simulates on; called once per (flavor, resource)."""

    def simulate(self, cq: str, fr: FlavorResource, amount: int) -> tuple[Possibility, int]: ...


class NoPreemption:
    """An oracle for queues where nothing can be preempted: always NoCandidates."""

    def __init__(self, nodes: Mapping[str, QuotaNode]) -> None:
        self._nodes = nodes

    def simulate(self, cq: str, fr: FlavorResource, amount: int) -> tuple[Possibility, int]:
        return Possibility.no_candidates, borrowing_level(self._nodes[cq], fr, amount)[0]


@dataclass(frozen=True)
class Shortfall:
    """One quota line that blocks: the request (with earlier pod sets' on the same FR), what
    is available now, and the most the queue could reach."""

    fr: FlavorResource
    requested: int
    available: int
    maximum: int

    @property
    def exceeds_max(self) -> bool:
        return self.requested > self.maximum

    def __str__(self) -> str:
        r = self.fr.resource
        more = self.requested - self.available
        return (
            f"{r} in flavor {self.fr.flavor}: {format_amount(r, self.requested)} requested, "
            f"{format_amount(r, max(0, self.available))} available"
            + (f", {format_amount(r, more)} more needed" if more > 0 else "")
            + f" (most the queue can reach: {format_amount(r, self.maximum)})"
        )


@dataclass
class FlavorAttempt:
    """One flavor tried for one resource group of a pod set (for explanations)."""

    flavor: str
    mode: GranularMode
    reasons: list[str] = field(default_factory=list)
    shortfalls: list[Shortfall] = field(default_factory=list)
    matched: bool = True


@dataclass
class FlavorChoice:
    flavor: str
    mode: Mode
    borrow: int
    tried_index: int = -1


@dataclass
class PodSetAssignment:
    name: str
    count: int
    requests: dict[str, int]
    flavors: dict[str, FlavorChoice] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    error: str | None = None
    attempts: list[FlavorAttempt] = field(default_factory=list)
    # Set by a topology-aware PlacementCheck (`dralloc.queueing.tasplacement`), v1beta2 form.
    topology_assignment: dict[str, Any] | None = None

    def mode(self) -> Mode:
        if self.error is not None:
            return Mode.no_fit
        if not self.reasons:
            return Mode.fit
        if not self.flavors:
            return Mode.no_fit
        return min(choice.mode for choice in self.flavors.values())

    def message(self) -> str:
        return self.error or ", ".join(sorted(self.reasons))

    def to_api(self) -> ApiPodSetAssignment:
        return ApiPodSetAssignment(
            name=self.name,
            flavors={r: c.flavor for r, c in sorted(self.flavors.items())},
            resource_usage={r: quantity_of(r, self.requests[r]) for r in sorted(self.flavors)},
            count=self.count,
            topology_assignment=self.topology_assignment,
        )


@dataclass
class Assignment:
    """The flavors of every pod set, the resulting usage per FR, and the workload's mode."""

    pod_sets: list[PodSetAssignment] = field(default_factory=list)
    usage: dict[FlavorResource, int] = field(default_factory=dict)
    borrowing: int = 0
    # Per pod set, per resource: the index of the last flavor examined (-1: start over).
    last_tried: list[dict[str, int]] = field(default_factory=list)

    def mode(self) -> Mode:
        if not self.pod_sets:
            return Mode.no_fit
        return min(ps.mode() for ps in self.pod_sets)

    def message(self) -> str:
        parts: list[str] = []
        for ps in self.pod_sets:
            if ps.mode() is Mode.fit:
                continue
            if ps.error is not None:
                return f"failed to assign flavors to pod set {ps.name}: {ps.error}"
            parts.append(f"couldn't assign flavors to pod set {ps.name}: {ps.message()}")
        return "; ".join(parts)

    def to_api(self) -> list[ApiPodSetAssignment]:
        return [ps.to_api() for ps in self.pod_sets]

    def shortfalls(self) -> list[Shortfall]:
        return [s for ps in self.pod_sets for a in ps.attempts for s in a.shortfalls]


@dataclass(frozen=True)
class GroupView:
    """One resource group of a ClusterQueue, as assignment reads it."""

    covered: tuple[str, ...]
    flavors: tuple[str, ...]
    label_keys: frozenset[str]


@dataclass(frozen=True)
class QueueView:
    """What assignment reads about a ClusterQueue (the rest is in its quota node)."""

    name: str
    groups: tuple[GroupView, ...]
    fungibility: FlavorFungibility
    nominal: Mapping[FlavorResource, int]
    can_preempt_while_borrowing: bool
    # reclaimWithinCohort != Never: with fair sharing, preemption may help while borrowing.
    reclaims_within_cohort: bool = False

    def group_of(self, resource: str) -> GroupView | None:
        return next((g for g in self.groups if resource in g.covered), None)


# ---------------------------------------------------------------------------- quota check


def fits_resource_quota(
    queue: QueueView,
    node: QuotaNode,
    oracle: PreemptionOracle,
    fr: FlavorResource,
    assumed: int,
    request: int,
    *,
    fair_sharing: bool,
) -> tuple[PreemptionMode, int, str | None, Shortfall | None]:
    """(mode, borrowing level, reason, shortfall) for `request` more of `fr`, on top of
    `assumed` already taken by earlier pod sets of the same Workload."""
    avail = cq_available(node, fr)
    maximum = potential_available(node, fr)
    val = assumed + request
    r = fr.resource
    if val > maximum:
        reason = (
            f"insufficient quota for {r} in flavor {fr.flavor}, previously considered podsets "
            f"requests ({format_amount(r, assumed)}) + current podset request "
            f"({format_amount(r, request)}) > maximum capacity ({format_amount(r, maximum)})"
        )
        return PreemptionMode.no_fit, 0, reason, Shortfall(fr, val, avail, maximum)
    borrow, may_reclaim = borrowing_level(node, fr, val)
    if val <= avail:
        return PreemptionMode.fit, borrow, None, None
    reason = (
        f"insufficient unused quota for {r} in flavor {fr.flavor}, "
        f"{format_amount(r, val - avail)} more needed"
    )
    shortfall = Shortfall(fr, val, avail, maximum)
    while_borrowing = queue.can_preempt_while_borrowing or (
        fair_sharing and queue.reclaims_within_cohort
    )
    if val <= queue.nominal.get(fr, 0) or may_reclaim or while_borrowing:
        possibility, borrow_after = oracle.simulate(queue.name, fr, val)
        return PreemptionMode(int(possibility)), borrow_after, reason, shortfall
    return PreemptionMode.no_fit, borrow, reason, shortfall


# --------------------------------------------------------------------------- the assigner


def _find_flavor(
    queue: QueueView,
    node: QuotaNode,
    flavors: Mapping[str, ResourceFlavor],
    oracle: PreemptionOracle,
    pod: PodSpec,
    group: GroupView,
    requests: Mapping[str, int],
    start: int,
    usage: Mapping[FlavorResource, int],
    fair_sharing: bool,
) -> tuple[dict[str, FlavorChoice] | None, list[str], list[FlavorAttempt]]:
    wanted = {r: v for r, v in sorted(requests.items()) if r in group.covered}
    reasons: list[str] = []
    attempts: list[FlavorAttempt] = []
    best: dict[str, FlavorChoice] | None = None
    best_mode = WORST
    last_index = -1
    for index in range(start, len(group.flavors)):
        last_index = index
        name = group.flavors[index]
        mismatch = check_flavor(pod, name, flavors.get(name), group.label_keys)
        if mismatch is not None:
            reasons.append(mismatch)
            attempts.append(FlavorAttempt(name, WORST, [mismatch], matched=False))
            continue
        choice: dict[str, FlavorChoice] = {}
        mode = BEST
        attempt = FlavorAttempt(name, BEST)
        for resource, amount in wanted.items():
            fr = FlavorResource(name, resource)
            pmode, borrow, reason, shortfall = fits_resource_quota(
                queue, node, oracle, fr, usage.get(fr, 0), amount, fair_sharing=fair_sharing
            )
            if reason is not None:
                reasons.append(reason)
                attempt.reasons.append(reason)
            if shortfall is not None:
                attempt.shortfalls.append(shortfall)
            this = GranularMode(pmode, borrow)
            if is_preferred(mode, this, queue.fungibility):
                mode = this
            # Kueue stops at the first NoFit resource, visiting them in Go map order, so
            # which reasons it reports varies between runs; dralloc checks every resource
            # and reports them all (a superset of any of Kueue's messages).
            choice[resource] = FlavorChoice(name, pmode.mode(), borrow)
        attempt.mode = mode
        attempts.append(attempt)
        if not should_try_next(mode, queue.fungibility):
            best, best_mode = choice, mode
            break
        if is_preferred(mode, best_mode, queue.fungibility):
            best, best_mode = choice, mode
    if best is not None:
        tried = -1 if last_index == len(group.flavors) - 1 else last_index
        for c in best.values():
            c.tried_index = tried
        if best_mode.preemption is PreemptionMode.fit:
            return best, [], attempts
    return best, reasons, attempts


def assign_flavors(
    queue: QueueView,
    node: QuotaNode,
    flavors: Mapping[str, ResourceFlavor],
    pod_specs: Sequence[PodSpec],
    requests: Sequence[PodSetRequests],
    oracle: PreemptionOracle,
    *,
    counts: Sequence[int] | None = None,
    last_tried: Sequence[Mapping[str, int]] | None = None,
    fair_sharing: bool = False,
) -> Assignment:
    """Kueue's `assignFlavors` for one Workload in one ClusterQueue."""
    assignment = Assignment()
    covers_pods = queue.group_of(PODS) is not None
    for i, ps in enumerate(requests):
        count = ps.count if counts is None else counts[i]
        totals = ps.total(count)
        if covers_pods:
            totals[PODS] = count
        # dralloc's extension keys count only where the queue covers them (dralloc.queueing.dra).
        totals = {
            r: v
            for r, v in totals.items()
            if not (is_extension_key(r) and queue.group_of(r) is None)
        }
        psa = PodSetAssignment(ps.name, count, totals)
        tried_here: dict[str, int] = {}
        progress = last_tried[i] if last_tried is not None and i < len(last_tried) else {}
        failed = False
        visited: list[GroupView] = []
        for resource, amount in sorted(totals.items()):
            group = queue.group_of(resource)
            if group is not None and any(group is g for g in visited):
                continue  # its group was decided with an earlier resource
            if group is not None:
                visited.append(group)
            if group is None:
                if amount == 0:
                    continue
                psa.reasons.append(f"resource {resource} unavailable in ClusterQueue")
                failed = True
                continue
            start = progress.get(resource, -1) + 1
            if start >= len(group.flavors):
                start = 0
            chosen, reasons, attempts = _find_flavor(
                queue,
                node,
                flavors,
                oracle,
                pod_specs[i],
                group,
                totals,
                start,
                assignment.usage,
                fair_sharing,
            )
            psa.attempts += attempts
            psa.reasons += reasons
            if chosen is None or not chosen:
                # As Kueue, the pod set fails; unlike Kueue (which stops at the first failing
                # group, in map order), the other groups are still checked, for the message.
                failed = True
                continue
            psa.flavors.update(chosen)
        if failed:
            psa.flavors = {}
        for resource, choice in psa.flavors.items():
            assignment.borrowing = max(assignment.borrowing, choice.borrow)
            fr = FlavorResource(choice.flavor, resource)
            assignment.usage[fr] = assignment.usage.get(fr, 0) + totals[resource]
            tried_here[resource] = choice.tried_index
        assignment.pod_sets.append(psa)
        assignment.last_tried.append(tried_here)
        if failed:
            return assignment
    return assignment


def partial_counts(
    requests: Sequence[PodSetRequests], is_good: Callable[[Sequence[int]], bool]
) -> list[int] | None:
    """Kueue's partial admission search (2.5): the largest proportional shrink towards the
    pod sets' `minCount` for which `is_good(counts)` holds, or None."""
    deltas = [(ps.count - ps.min_count) if ps.min_count is not None else 0 for ps in requests]
    total = sum(deltas)
    if total <= 0:
        return None

    def counts_for(k: int) -> list[int]:
        return [ps.count - (d * k) // total for ps, d in zip(requests, deltas, strict=True)]

    low, high = 1, total  # k = 0 is the full size, already known not to work
    found: list[int] | None = None
    while low <= high:
        mid = (low + high) // 2
        counts = counts_for(mid)
        if is_good(counts):
            found = counts
            high = mid - 1
        else:
            low = mid + 1
    return found
