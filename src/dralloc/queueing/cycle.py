"""The admission cycle (spec/queueing.md 2.1-2.3, 2.7, 4.2): heads, nomination on a snapshot,
ordering, and admission.

Owns: `schedule`, one cycle of Kueue's scheduler loop, and `nominate`, which evaluates one
Workload against its ClusterQueue on a snapshot (also what `explain` uses). A cycle:

1. pops one head per ClusterQueue (`QueueManager.heads`);
2. takes a snapshot of the quota trees (`QueueState.snapshot`);
3. nominates each head: rejected before flavor assignment when its ClusterQueue is inactive
   (`Suspended`), its namespace is not selected or its requests cannot be counted
   (`Misconfigured`); else flavors are assigned, with partial admission when the full size
   is neither Fit nor Preempt with targets;
4. orders the nominated heads: classically (lower borrowing level, higher priority, earlier
   timestamp, then dralloc's last key `namespace/name`), or by the fair-sharing tournament;
5. processes them in order, charging each admitted or preempting entry's usage to the
   snapshot so later entries see it: NoFit waits; Preempt without targets reserves capacity
   (unless `reclaimWithinCohort: Any`); an entry whose targets overlap another's, or that no
   longer fits, is skipped; Preempt issues preemptions and waits; Fit reserves quota at once
   (`QueueState.reserve`) and writes `status.admission` and QuotaReserved / Admitted; with a
   `PlacementCheck` (dralloc's addition, spec 8.1) a Fit entry whose pods cannot be placed
   on nodes waits instead (`PlacementInfeasible`), or, when the check says the failure is a
   fragmented topology (`PreemptionPlacement.fragmented_pod_sets`, Kueue's TAS switch from
   Fit to Preempt), preempts Workloads whose removal opens a domain that holds it.
6. requeues the rest (StrictFIFO / BestEffortFIFO) and writes QuotaReserved=False with the
   reason and Kueue's message.

Nothing is admitted half: a Workload's usage for all its pod sets is charged in one step,
after one fit check over every FR, or not at all.

Preemption that knows placement (spec 8.2, kueue#5243; dralloc's addition beyond Kueue's TAS
case): when the `PlacementCheck` is also a `PreemptionPlacement` (it can answer "could the
pods be placed with these Workloads gone?" without changing anything), the preemptor accepts
a victim set only if the preemptor's pods can be placed with the victims' pods removed: the
fit test of both selection algorithms becomes "fits in quota *and* placeable without the
victims" (a `PlacementTrial`), so victims whose freed GPUs would be scattered are not
evicted; the search goes on through the candidates in Kueue's order, and names no victims
when no set lets the preemptor in, whose pending message then says why
(`PlacementInfeasible`). Processing checks again that the targets still make room (an entry
processed before may have been placed where they would). The flavor assigner's preemption
oracle stays quota-only, as Kueue's. Off switch: `schedule(..., placement_preemption=False)`
(victims by quota only, as before); with no placement, or one that cannot answer what-ifs,
nothing changes. Answers that asked the placement are shared by `Nominations` only when
the placement is an `AlikePlacement` and both heads are in the same `answer_class` (which
moves whenever the cluster does: the placement may change while the quota generation
holds); the pending message then quotes the head's own refusal, asked again for the victim
set the first head's message quoted (a remembered answer, for a placement that keeps them).

Speed-up (changes no outcome; `schedule(..., nominations=None)` is the plain path, and
tests/queueing/test_quick_heads.py checks both agree): `Nominations` remembers step 3's
answer per equivalence class, keyed on the `QueueState.generation` it was computed at (every
`reserve` and `release` moves it; nomination runs on a fresh snapshot, before step 5 charges
anything) and on everything nomination reads of a head: its ClusterQueue, `shape()`,
priority, what the preemptor reads of it (`Preemptor.equivalence`), `last_tried`, and the
config. A head of the same class at the same generation gets the stored answer (assignment,
targets, reason, message, and the same writes on the head) instead of a new flavor
assignment and preemption search. This is what makes cycles cheap when many same-shaped
Workloads come back from the inadmissible sets after quota is released: Kueue's
SchedulingEquivalenceHashing (gate, beta, off in v0.17) skips them instead, which changes
outcomes; this evaluates each one, as the plain path does, only faster.

State: reads and writes the `QueueState` and `QueueManager` passed in (their owner runs the
cycle); writes the status of the Workloads it decides on; time comes in as `now`.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol, TypeGuard, cast, runtime_checkable

from dralloc.api.validation.times import format_time
from dralloc.queueing.fairsharing import Contender, tournament_order
from dralloc.queueing.flavors import (
    Assignment,
    Mode,
    NoPreemption,
    PreemptionOracle,
    assign_flavors,
    partial_counts,
)
from dralloc.queueing.objects import Admission, Condition, PreemptionPolicy, Workload
from dralloc.queueing.queues import QueuedWorkload, QueueManager, RequeueReason
from dralloc.queueing.quota import FlavorResource, fits_in_quota
from dralloc.queueing.state import ClusterQueueState, QueueState, Reservation, Snapshot
from dralloc.queueing.status import (
    QUOTA_RESERVED,
    PendingReason,
    preemption_message,
    set_pending,
    set_preempted,
    set_quota_reserved,
)
from dralloc.queueing.status import _set as set_condition  # metav1's SetStatusCondition


@dataclass(frozen=True)
class QueueConfig:
    """Kueue's global settings that change admission.

    `fair_sharing`: the presence of `fairSharing` in Kueue's configuration (tournament order,
    fair-sharing preemption). `partial_admission`: gate PartialAdmission (beta, on).
    `legacy_pending_reasons`: write `Pending` as Kueue v0.17 does, instead of v0.19's reasons.
    """

    fair_sharing: bool = False
    partial_admission: bool = True
    legacy_pending_reasons: bool = False


@dataclass(frozen=True)
class Target:
    """A Workload to preempt so that a preemptor fits, and the `Preempted` reason."""

    key: str
    reason: str


class Preemptor(Protocol):
    """Finds preemption targets on a snapshot (spec section 3). `oracle` classifies a
    flavor during assignment; `targets` returns victims for a Preempt assignment, and with a
    `trial` only a set the trial accepts (`PlacementTrial.fits` at every fit test), else
    none. Both must leave the snapshot as they found it. `equivalence` names what both read
    of a head beyond its ClusterQueue, shape and priority (for `Nominations`): two heads with
    equal answers must get equal oracles and targets on one snapshot."""

    def oracle(self, snapshot: Snapshot, entry: QueuedWorkload) -> PreemptionOracle: ...

    def equivalence(self, cq: ClusterQueueState, entry: QueuedWorkload) -> Hashable: ...

    def targets(
        self,
        snapshot: Snapshot,
        entry: QueuedWorkload,
        assignment: Assignment,
        trial: PlacementTrial | None = None,
    ) -> list[Target]: ...


class PlacementCheck(Protocol):
    """dralloc's answer to Kueue's admitted-but-unschedulable problem (spec 8.1, kueue#4329):
    a per-node feasibility check of a Fit assignment (DRA devices, counters and capacity
    included), run in the same snapshot transaction as the quota check, just before
    admission. Returns None when every pod of every pod set can be placed, else a message;
    the Workload then waits with reason `PlacementInfeasible` (BestEffortFIFO moves on).
    Must not change the snapshot; called once per admission attempt."""

    def check(
        self, snapshot: Snapshot, entry: QueuedWorkload, assignment: Assignment
    ) -> str | None: ...


@runtime_checkable
class PreemptionPlacement(PlacementCheck, Protocol):
    """A `PlacementCheck` that also answers the preemptor's what-if questions (module
    docstring; spec 8.2).

    `placeable_without`: None when every pod of `assignment` could be placed if the admitted
    Workloads `victims` (keys) were gone, else why not. Must leave everything as it found it
    (a what-if: remove and put back, or work on a copy); called many times per search.

    `fragmented_pod_sets`: after `check` refused `entry`, the pod sets for which the refusal
    is only fragmentation (capacity exists in quota and on the empty topology, but no
    domain holds them now): Kueue's flavor assigner then turns those pod sets to Preempt. Empty
    when preemption cannot help or the check does not know."""

    def placeable_without(
        self,
        snapshot: Snapshot,
        entry: QueuedWorkload,
        assignment: Assignment,
        victims: Sequence[str],
    ) -> str | None: ...

    def fragmented_pod_sets(self, entry: QueuedWorkload) -> Sequence[str]: ...


@runtime_checkable
class AlikePlacement(PreemptionPlacement, Protocol):
    """A `PreemptionPlacement` whose what-if answers may be shared between alike heads
    (`Nominations`, module docstring).

    `answer_class`: what the answers of `placeable_without` for `entry` depend on besides the
    names of its pods. Two heads with equal classes get, for equal assignments and victims,
    equal answers but for each naming its own pods; the class changes whenever any answer
    may change (the cluster changed). None: no such promise now, and a nomination that
    asked the placement is not shared. Must not change anything."""

    def answer_class(self, entry: QueuedWorkload) -> Hashable | None: ...


@dataclass
class PlacementTrial:
    """The placement half of a preemptor's fit test for one assignment: `fits(victims)` asks
    the `PreemptionPlacement` and remembers how often it was asked and the last refusal,
    which the pending message quotes when no victim set lets the preemptor in."""

    placement: PreemptionPlacement
    snapshot: Snapshot
    entry: QueuedWorkload
    assignment: Assignment
    asked: int = 0
    refusal: str | None = None
    refused_victims: tuple[str, ...] = ()  # the victim set `refusal` answered

    def fits(self, victims: Sequence[str]) -> bool:
        self.asked += 1
        why = self.placement.placeable_without(self.snapshot, self.entry, self.assignment, victims)
        if why is not None:
            self.refusal = why
            self.refused_victims = tuple(victims)
        return why is None


def _trial(
    placement: PreemptionPlacement | None,
    snapshot: Snapshot,
    entry: QueuedWorkload,
    assignment: Assignment,
) -> PlacementTrial | None:
    return None if placement is None else PlacementTrial(placement, snapshot, entry, assignment)


class NeverPreempt:
    """No preemption: flavors needing it are NoCandidates, and there are never targets."""

    def oracle(self, snapshot: Snapshot, entry: QueuedWorkload) -> PreemptionOracle:
        return NoPreemption(snapshot.cluster_queue_nodes())

    def equivalence(self, cq: ClusterQueueState, entry: QueuedWorkload) -> Hashable:
        return None

    def targets(
        self,
        snapshot: Snapshot,
        entry: QueuedWorkload,
        assignment: Assignment,
        trial: PlacementTrial | None = None,
    ) -> list[Target]:
        return []


class EntryStatus(StrEnum):
    not_nominated = ""
    skipped = "skipped"
    assumed = "assumed"


@dataclass
class Entry:
    """One head in one cycle: its assignment, targets and outcome."""

    queued: QueuedWorkload
    cq: ClusterQueueState | None
    assignment: Assignment | None = None
    targets: list[Target] = field(default_factory=list)
    status: EntryStatus = EntryStatus.not_nominated
    reason: PendingReason = PendingReason.pending_evaluation
    message: str = ""
    nominated: bool = False
    # The placement was asked during nomination (`PlacementTrial`): the answer may change
    # without the quota generation moving, so `Nominations` shares it only under the
    # placement's `answer_class`.
    asked_placement: bool = False
    # The victim set whose placement refusal the message quotes (None: it quotes none).
    refused_victims: tuple[str, ...] | None = None

    @property
    def key(self) -> str:
        return self.queued.key

    def usage(self) -> dict[FlavorResource, int]:
        return dict(self.assignment.usage) if self.assignment is not None else {}


@dataclass
class CycleResult:
    """What one cycle decided: admitted keys in order, preemptions to issue
    (victim, preemptor, reason), and the pending entries with their reasons."""

    admitted: list[str] = field(default_factory=list)
    preemptions: list[tuple[str, str, str]] = field(default_factory=list)
    pending: dict[str, Entry] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)


def pending_reason(assignment: Assignment) -> PendingReason:
    """The tiered reason of a failed assignment (spec 8.4): per pod set, the least severe
    blocker among the flavors tried; across pod sets, the most severe."""
    worst = PendingReason.waiting_for_quota
    rank = {
        PendingReason.no_matching_flavor: 3,
        PendingReason.exceeds_max_quota: 2,
        PendingReason.waiting_for_quota: 1,
    }
    for ps in assignment.pod_sets:
        if ps.mode() is Mode.fit:
            continue
        if not ps.attempts:
            this = PendingReason.exceeds_max_quota  # a resource no resource group covers
        elif all(not a.matched for a in ps.attempts):
            this = PendingReason.no_matching_flavor
        else:
            matched = [a for a in ps.attempts if a.matched]
            if any(not any(s.exceeds_max for s in a.shortfalls) for a in matched):
                this = PendingReason.waiting_for_quota
            else:
                this = PendingReason.exceeds_max_quota
        if rank[this] > rank[worst]:
            worst = this
    return worst


@dataclass(frozen=True)
class _Answer:
    """A nomination as `Nominations` keeps it: the entry's fields and what it wrote on the
    head (`last_tried` when nominated, the NamespaceMismatch requeue reason)."""

    nominated: bool
    assignment: Assignment | None
    targets: tuple[Target, ...]
    reason: PendingReason
    message: str
    last_tried: list[dict[str, int]] | None
    requeue_reason: RequeueReason
    # The placement's `answer_class` when the nomination asked it (None: it did not), and
    # the victim set whose refusal the message quotes, asked again for each head.
    placement_class: Hashable | None = None
    refused_victims: tuple[str, ...] | None = None

    def entry(self, queued: QueuedWorkload, cq: ClusterQueueState | None) -> Entry:
        if self.nominated:
            queued.last_tried = self.last_tried
        if self.requeue_reason is not RequeueReason.generic:
            queued.requeue_reason = self.requeue_reason
        return Entry(
            queued,
            cq,
            self.assignment,
            list(self.targets),
            reason=self.reason,
            message=self.message,
            nominated=self.nominated,
        )


class Nominations:
    """Nomination answers shared by equivalent heads while the state's generation holds (the
    module docstring's speed-up). Owned by whoever runs the cycles and passed to every
    `schedule`; it holds one generation's answers at a time (bounded by the ClusterQueues x
    shapes x flavor progress seen in it) and drops them when the generation moves. An
    Assignment it hands out is shared, so nothing may change one after nomination.

        nominations = Nominations()
        schedule(state, manager, now, preemptor=ClassicalPreemptor(), nominations=nominations)
    """

    def __init__(self) -> None:
        self.generation = -1
        self.answers: dict[Hashable, _Answer] = {}
        self.hits = 0
        self.misses = 0
        self.placement_hits = 0  # hits on answers that asked the placement
        # The last placement asked about, and whether it is an `AlikePlacement` and a
        # `PreemptionPlacement`: a runtime Protocol check walks the Protocol's members, so
        # it is made once per placement rather than per head and per cycle.
        self._kinds: tuple[PlacementCheck, bool, bool] | None = None

    def _kinds_of(self, placement: PlacementCheck) -> tuple[bool, bool]:
        if self._kinds is None or self._kinds[0] is not placement:
            self._kinds = (
                placement,
                isinstance(placement, AlikePlacement),
                isinstance(placement, PreemptionPlacement),
            )
        return self._kinds[1], self._kinds[2]

    def _is_alike(self, placement: PreemptionPlacement | None) -> TypeGuard[AlikePlacement]:
        return placement is not None and self._kinds_of(placement)[0]

    def what_if(self, placement: PlacementCheck | None) -> PreemptionPlacement | None:
        """`placement` when it is a `PreemptionPlacement`, else None (`schedule`'s test,
        remembered for the last placement asked about)."""
        if placement is None or not self._kinds_of(placement)[1]:
            return None
        return cast(PreemptionPlacement, placement)

    def nominate(
        self,
        state: QueueState,
        snapshot: Callable[[], Snapshot],
        queued: QueuedWorkload,
        preemptor: Preemptor,
        config: QueueConfig,
        placement: PreemptionPlacement | None = None,
    ) -> Entry:
        """`nominate`, answered from memory when an equivalent head was nominated at this
        generation. `snapshot` gives the generation's snapshot, uncharged (taken only when
        the answer is not known). An answer that asked `placement` is not kept."""
        if state.generation != self.generation:
            self.generation = state.generation
            self.answers.clear()
        alike = placement.answer_class(queued) if self._is_alike(placement) else None
        cq = state.cluster_queues.get(queued.cluster_queue)
        tried = queued.last_tried
        key = (
            queued.cluster_queue,
            queued.shape(),
            queued.priority,
            None if cq is None else preemptor.equivalence(cq, queued),
            None if tried is None else tuple(tuple(sorted(t.items())) for t in tried),
            config,
            preemptor,
        )
        found = self.answers.get(key)
        if found is not None and (found.placement_class is None or found.placement_class == alike):
            refusal = None
            if found.refused_victims is not None:
                # The message quotes this head's own refusal (its pods' names).
                assert placement is not None and found.assignment is not None
                refusal = placement.placeable_without(
                    snapshot(), queued, found.assignment, found.refused_victims
                )
            if found.refused_victims is None or refusal is not None:
                self.hits += 1
                self.placement_hits += found.placement_class is not None
                entry = found.entry(queued, cq)
                if refusal is not None:
                    assert found.assignment is not None
                    entry.message = _refused_message(found.assignment, refusal)
                return entry
        self.misses += 1
        before = queued.requeue_reason
        entry = nominate(state, snapshot(), queued, preemptor, config, placement)
        if entry.asked_placement and alike is None:
            return entry
        self.answers[key] = _Answer(
            entry.nominated,
            entry.assignment,
            tuple(entry.targets),
            entry.reason,
            entry.message,
            queued.last_tried,
            queued.requeue_reason if queued.requeue_reason is not before else RequeueReason.generic,
            alike if entry.asked_placement else None,
            entry.refused_victims,
        )
        return entry


def nominate(
    state: QueueState,
    snapshot: Snapshot,
    queued: QueuedWorkload,
    preemptor: Preemptor,
    config: QueueConfig,
    placement: PreemptionPlacement | None = None,
) -> Entry:
    """Evaluate one Workload against its ClusterQueue on `snapshot` (left unchanged). With
    `placement`, preemption targets must let the pods be placed (module docstring)."""
    cq = state.cluster_queues.get(queued.cluster_queue)
    entry = Entry(queued, cq)
    if cq is None:
        entry.reason = PendingReason.misconfigured
        entry.message = f"ClusterQueue {queued.cluster_queue} not found"
        return entry
    if not cq.active:
        entry.reason = PendingReason.suspended
        entry.message = f"ClusterQueue {cq.name} is inactive: {cq.inactive_message}"
        return entry
    namespace = queued.workload.metadata.namespace
    if not state.namespace_matches(cq, namespace):
        entry.reason = PendingReason.misconfigured
        entry.message = "Workload namespace doesn't match ClusterQueue selector"
        queued.requeue_reason = RequeueReason.namespace_mismatch
        return entry
    if queued.requests.errors:
        entry.reason = PendingReason.misconfigured
        entry.message = "resources validation failed: " + "; ".join(queued.requests.errors)
        return entry
    entry.nominated = True
    node = snapshot.node(cq.name)
    oracle = preemptor.oracle(snapshot, queued)
    pods = [ps.template.spec for ps in queued.workload.spec.pod_sets]
    requests = queued.requests.pod_sets

    def assign(counts: Sequence[int] | None) -> Assignment:
        return assign_flavors(
            cq.view,
            node,
            snapshot.flavors,
            pods,
            requests,
            oracle,
            counts=counts,
            last_tried=queued.last_tried,
            fair_sharing=config.fair_sharing,
        )

    trials: list[PlacementTrial] = []

    def targets_for(assignment: Assignment) -> list[Target]:
        trial = _trial(placement, snapshot, queued, assignment)
        if trial is not None:
            trials.append(trial)
        return preemptor.targets(snapshot, queued, assignment, trial)

    full = assign(None)
    entry.assignment = full
    mode = full.mode()
    if mode is Mode.preempt:
        entry.targets = targets_for(full)
    good_as_is = mode is Mode.fit or (mode is Mode.preempt and bool(entry.targets))
    if (
        not good_as_is
        and config.partial_admission
        and any(ps.min_count is not None for ps in requests)
    ):
        found: dict[str, tuple[Assignment, list[Target]]] = {}

        def is_good(counts: Sequence[int]) -> bool:
            trial = assign(counts)
            if trial.mode() is Mode.fit:
                found["best"] = (trial, [])
                return True
            if trial.mode() is Mode.preempt:
                targets = targets_for(trial)
                if targets:
                    found["best"] = (trial, targets)
                    return True
            return False

        if partial_counts(requests, is_good) is not None:
            entry.assignment, entry.targets = found["best"]
    assignment = entry.assignment
    assert assignment is not None
    queued.last_tried = assignment.last_tried
    entry.message = assignment.message()
    entry.asked_placement = any(t.asked for t in trials)
    refused = next(
        (t for t in trials if t.assignment is assignment and t.refusal is not None), None
    )
    if assignment.mode() is Mode.preempt and not entry.targets and refused is not None:
        # Quota alone would have named victims (the placement is asked only once the quota
        # fits), but no set of them lets the pods be placed.
        assert refused.refusal is not None
        entry.reason = PendingReason.placement_infeasible
        entry.message = _refused_message(assignment, refused.refusal)
        entry.refused_victims = refused.refused_victims
    elif assignment.mode() is Mode.no_fit or (
        assignment.mode() is Mode.preempt and not entry.targets
    ):
        entry.reason = pending_reason(assignment)
    elif assignment.mode() is Mode.preempt:
        entry.reason = PendingReason.waiting_for_preempted_workloads
    return entry


def _refused_message(assignment: Assignment, refusal: str) -> str:
    """The pending message of a Preempt whose every victim set the placement refused."""
    return f"{assignment.message()}; preempting would not make room for its pods: {refusal}"


def _as_preempt(assignment: Assignment, pod_sets: Collection[str]) -> Assignment:
    """A copy of a Fit `assignment` whose pod sets named in `pod_sets` need preemption on
    every flavor (Kueue's `updateMode(Preempt)`), so their flavor-resources are contested."""
    out = copy.copy(assignment)
    out.pod_sets = []
    for ps in assignment.pod_sets:
        if ps.name in pod_sets:
            ps = copy.copy(ps)
            ps.flavors = {
                r: dataclasses.replace(c, mode=Mode.preempt) for r, c in ps.flavors.items()
            }
            ps.reasons = [*ps.reasons, "topology is fragmented"]
        out.pod_sets.append(ps)
    return out


def _classical_order(entries: list[Entry]) -> list[Entry]:
    def key(e: Entry) -> tuple[int, int, str, str]:
        borrows = e.assignment.borrowing if e.assignment is not None else 0
        return (borrows, -e.queued.priority, e.queued.timestamp, e.key)

    return sorted(entries, key=key)


def _reserve_for_preemption(entry: Entry, snapshot: Snapshot) -> dict[FlavorResource, int]:
    """Kueue's `quotaResourcesToReserve` for Preempt without candidates: the request capped
    at nominal + borrowingLimit - usage when borrowing, else at nominal - usage."""
    assert entry.assignment is not None and entry.cq is not None
    node = snapshot.node(entry.cq.name)
    out: dict[FlavorResource, int] = {}
    for fr, amount in entry.assignment.usage.items():
        quota = node.quotas.get(fr)
        nominal = quota.nominal if quota is not None else 0
        used = node.usage.get(fr, 0)
        if entry.assignment.borrowing > 0:
            if quota is None or quota.borrowing_limit is None:
                out[fr] = amount
            else:
                out[fr] = min(amount, nominal + quota.borrowing_limit - used)
        else:
            out[fr] = max(0, min(amount, nominal - used))
    return out


def _fits(
    snapshot: Snapshot, entry: Entry, claimed: Mapping[str, Target], targets: Sequence[Target]
) -> bool:
    assert entry.cq is not None
    gone = {t.key for t in targets} | set(claimed)
    removed = [snapshot.reservations[k] for k in sorted(gone) if k in snapshot.reservations]
    for victim in removed:
        snapshot.remove_usage(victim.cluster_queue, victim.usage)
    try:
        return fits_in_quota(snapshot.node(entry.cq.name), entry.usage())
    finally:
        for victim in removed:
            snapshot.add_usage(victim.cluster_queue, victim.usage)


def schedule(
    state: QueueState,
    manager: QueueManager,
    now: datetime,
    *,
    config: QueueConfig | None = None,
    preemptor: Preemptor | None = None,
    reserved_at: float | None = None,
    placement: PlacementCheck | None = None,
    nominations: Nominations | None = None,
    placement_preemption: bool = True,
) -> CycleResult:
    """Run one admission cycle. Returns what was admitted, what to preempt, and why the
    others wait; the admitted Workloads hold quota in `state` when this returns.
    `nominations`: share answers between equivalent heads (a speed-up; None: each head is
    evaluated afresh). `placement_preemption`: when `placement` is a `PreemptionPlacement`,
    victims must let the preemptor be placed (module docstring); False: by quota only."""
    config = config or QueueConfig()
    preemptor = preemptor or NeverPreempt()
    if not placement_preemption:
        what_if = None
    elif nominations is not None:
        what_if = nominations.what_if(placement)
    else:
        what_if = placement if isinstance(placement, PreemptionPlacement) else None
    # When admitted Workloads reserved quota orders preemption candidates (most recent first):
    # seconds since the epoch, as for Workloads read back with their QuotaReserved time.
    reserved = now.timestamp() if reserved_at is None else reserved_at
    result = CycleResult()
    heads = manager.heads()
    if not heads:
        return result
    taken: list[Snapshot] = []

    def take_snapshot() -> Snapshot:
        # Taken when first needed: a cycle whose heads are all answered from memory and
        # wait (NoFit, or Preempt without targets) never reads it. The state does not change
        # before processing, so a late snapshot is the one an early one would have been.
        if not taken:
            taken.append(state.snapshot())
        return taken[0]

    if nominations is None:
        entries = [nominate(state, take_snapshot(), h, preemptor, config, what_if) for h in heads]
    else:
        entries = [
            nominations.nominate(state, take_snapshot, h, preemptor, config, what_if) for h in heads
        ]
    nominated = [e for e in entries if e.nominated]
    claimed: dict[str, Target] = {}

    def preempt_for_fragments(entry: Entry, what_if: PreemptionPlacement, why: str) -> str | None:
        """A Fit whose placement failed for fragmentation turns Preempt (Kueue's flavor
        assigner on a TAS failure that the empty topology would hold): victims whose removal
        opens room, as the preemptor chooses them. None when some were found (the entry now
        preempts), else `why`, saying so when candidates were tried."""
        assert entry.assignment is not None
        names = set(what_if.fragmented_pod_sets(entry.queued))
        if not names:
            return why
        preempting = _as_preempt(entry.assignment, names)
        trial = PlacementTrial(what_if, take_snapshot(), entry.queued, preempting)
        targets = preemptor.targets(take_snapshot(), entry.queued, preempting, trial)
        if targets and not any(t.key in claimed for t in targets):
            entry.assignment, entry.targets = preempting, targets
            entry.reason = PendingReason.waiting_for_preempted_workloads
            entry.message = preempting.message()
            return None
        if trial.refusal is not None:
            why += f"; preempting would not make room for its pods: {trial.refusal}"
        return why

    def process(entry: Entry) -> None:
        assert entry.assignment is not None and entry.cq is not None
        result.order.append(entry.key)
        mode = entry.assignment.mode()
        if mode is Mode.no_fit:
            return
        if mode is Mode.preempt and not entry.targets:
            if entry.cq.obj.spec.preemption.reclaim_within_cohort != PreemptionPolicy.any:
                snapshot = take_snapshot()
                snapshot.add_usage(entry.cq.name, _reserve_for_preemption(entry, snapshot))
            return
        snapshot = take_snapshot()
        if any(t.key in claimed for t in entry.targets):
            entry.status = EntryStatus.skipped
            entry.reason = PendingReason.waiting_for_quota
            entry.message = "Workload has overlapping preemption targets with another workload"
            entry.queued.last_tried = None
            return
        if not _fits(snapshot, entry, claimed, entry.targets):
            entry.status = EntryStatus.skipped
            entry.reason = PendingReason.waiting_for_quota
            entry.message = "Workload no longer fits after processing another workload"
            entry.queued.last_tried = None
            return
        if mode is Mode.preempt and what_if is not None:
            # An entry processed before may have been placed where the victims' pods are.
            why = what_if.placeable_without(
                snapshot, entry.queued, entry.assignment, [t.key for t in entry.targets]
            )
            if why is not None:
                entry.status = EntryStatus.skipped
                entry.reason = PendingReason.placement_infeasible
                entry.message = (
                    f"Workload no longer placeable after processing another workload: {why}"
                )
                entry.queued.last_tried = None
                return
        if mode is Mode.fit and placement is not None:
            why = placement.check(snapshot, entry.queued, entry.assignment)
            if why is not None and what_if is not None:
                why = preempt_for_fragments(entry, what_if, why)
            if why is not None:
                entry.reason = PendingReason.placement_infeasible
                entry.message = f"placement infeasible: {why}"
                return
            mode = entry.assignment.mode()
        for target in entry.targets:
            claimed[target.key] = target
        snapshot.add_usage(entry.cq.name, entry.usage())
        if mode is Mode.preempt:
            entry.queued.last_tried = None
            entry.message += f". Pending the preemption of {len(entry.targets)} workload(s)"
            entry.queued.requeue_reason = RequeueReason.pending_preemption
            result.preemptions += [(t.key, entry.key, t.reason) for t in entry.targets]
            return
        entry.status = EntryStatus.assumed
        admission = Admission(
            cluster_queue=entry.cq.name, pod_set_assignments=entry.assignment.to_api()
        )
        state.reserve(
            Reservation(
                entry.key,
                entry.cq.name,
                entry.usage(),
                entry.queued.priority,
                reserved,
                entry.queued.timestamp,
                local_queue=entry.queued.local_queue,
            )
        )
        if manager.afs is not None and manager.uses_afs(entry.cq.name):
            request: dict[str, int] = {}
            for fr, amount in entry.usage().items():
                request[fr.resource] = request.get(fr.resource, 0) + amount
            lq = entry.queued.local_queue
            manager.afs.on_admitted(lq, request, manager.admitted_usage(lq), now.timestamp())
        set_quota_reserved(entry.queued.workload, admission, now)
        manager.admitted(entry.queued)
        result.admitted.append(entry.key)

    if config.fair_sharing:
        by_key = {e.key: e for e in nominated}
        contenders = [
            Contender(
                e.key,
                take_snapshot().node(e.queued.cluster_queue),
                e.usage(),
                e.queued.priority,
                e.queued.timestamp,
            )
            for e in nominated
        ]
        tournament_order(contenders, lambda c: process(by_key[c.key]))
    else:
        for entry in _classical_order(nominated):
            process(entry)

    for entry in entries:
        if entry.status is EntryStatus.assumed:
            continue
        queued = entry.queued
        if entry.status is EntryStatus.skipped and queued.requeue_reason is RequeueReason.generic:
            queued.requeue_reason = RequeueReason.failed_after_nomination
        manager.requeue(
            queued, preempting=queued.requeue_reason is RequeueReason.pending_preemption
        )
        _write_pending(queued, entry, now, config.legacy_pending_reasons, nominations is not None)
        queued.requeue_reason = RequeueReason.generic
        result.pending[entry.key] = entry
    return result


def _write_pending(
    queued: QueuedWorkload, entry: Entry, now: datetime, legacy: bool, skip_unchanged: bool
) -> None:
    """`set_pending` on a head that waits. With `skip_unchanged` (part of the `Nominations`
    speed-up) a write that would change nothing is skipped: this entry wrote the same
    reason and message last time, and its QuotaReserved condition and resourceRequests are
    still the objects written then (nothing else touched them) on an unadmitted Workload of
    the same generation. set_pending keeps the transition time while the status stays
    False and recomputes the same requests, so the status would come out equal."""
    workload = queued.workload
    what = (entry.reason, entry.message, legacy, workload.metadata.generation)
    last = queued.pending_written
    if (
        skip_unchanged
        and last is not None
        and last[0] == what
        and workload.status.admission is None
        and workload.status.resource_requests is last[2]
        and workload.condition(QUOTA_RESERVED) is last[1]
    ):
        return
    set_pending(workload, entry.reason, entry.message, now, queued.requests.pod_sets, legacy=legacy)
    queued.pending_written = (
        what,
        workload.condition(QUOTA_RESERVED),
        workload.status.resource_requests,
    )


def cohort_path(state: QueueState, cluster_queue: str) -> str:
    """`/root/.../cq`, as Kueue names a queue in preemption messages."""
    cq = state.cluster_queues.get(cluster_queue)
    if cq is None:
        return ""
    names = [cluster_queue, *(a.name for a in cq.node.ancestors())]
    return "/" + "/".join(reversed(names))


def evict(
    state: QueueState,
    manager: QueueManager,
    victim: Workload,
    preemptor_key: str,
    reason: str,
    now: datetime,
) -> None:
    """Carry out one preemption from `CycleResult.preemptions`: mark the victim Evicted and
    Preempted, release its quota, queue it again (with its original creation time, so its
    place in line), and requeue the inadmissible Workloads of its cohort tree. A live
    controller releases quota only once the victim's pods have terminated; offline that
    happens at once."""
    key = f"{victim.metadata.namespace}/{victim.metadata.name}"
    released = state.release(key)
    preemptor = manager.workloads.get(preemptor_key)
    preemptor_path = cohort_path(state, preemptor.cluster_queue) if preemptor else ""
    victim_path = cohort_path(state, released.cluster_queue) if released else ""
    message = preemption_message(
        preemptor.workload if preemptor else Workload(), reason, preemptor_path, victim_path
    )
    set_preempted(victim, reason, message, now)
    manager.add(victim)
    if released is not None:
        manager.on_quota_released(released.cluster_queue)


NODE_FAILURES = "NodeFailures"
"""Kueue's `WorkloadEvictedDueToNodeFailures`: the Evicted and Requeued reason when the nodes
an admitted Workload's pods ran on failed."""


def evict_for_node_failure(
    state: QueueState,
    manager: QueueManager,
    victim: Workload,
    nodes: Sequence[str],
    now: datetime,
) -> None:
    """Evict an admitted Workload whose pods ran on `nodes`, which left the cluster, as
    Kueue does when no replacement is found for failed nodes (`WorkloadEvictedDueToNodeFailures`,
    the TAS node controller and scheduler's eviction): Evicted=True with reason NodeFailures;
    then, as the job controller sees the Job stopped, its reservation cleared
    (QuotaReserved=False, reason Pending), Requeued=True with the same reason (Kueue sets it for
    Preempted and NodeFailures only); its quota released, the Workload queued again with its
    original creation time (its place in line), and the inadmissible Workloads of its cohort
    tree requeued. Offline the pods are gone at once, so this is one step."""
    key = f"{victim.metadata.namespace}/{victim.metadata.name}"
    released = state.release(key)
    message = "Workload was evicted as there was no replacement for unhealthy node(s): " + ",".join(
        nodes
    )
    stamp = format_time(now)
    generation = victim.metadata.generation or None
    set_condition(
        victim,
        Condition(
            type="Evicted",
            status="True",
            reason=NODE_FAILURES,
            message=message,
            last_transition_time=stamp,
            observed_generation=generation,
        ),
    )
    set_pending(victim, PendingReason.legacy_pending, message, now)
    set_condition(
        victim,
        Condition(
            type="Requeued",
            status="True",
            reason=NODE_FAILURES,
            message=message,
            last_transition_time=stamp,
            observed_generation=generation,
        ),
    )
    manager.add(victim)
    if released is not None:
        manager.on_quota_released(released.cluster_queue)
