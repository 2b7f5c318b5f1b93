"""Necessary conditions of an allocation: proving "no fit" without the search (spec 6.5).

The search is complete, so before it says "no" it tries every combination of candidates: 17
MIG devices of a profile a node offers 16 of take 2^16 steps per node. The checks here prove
from what each request can take at all that no combination can succeed, and the attempt
answers "no" at once. Pure computation over an `Attempt`'s prepared requests, the committed
`AllocatedState` and the node's pools; nothing here reads or changes the in-flight picks.
It fills two caches the node view owns (`NodeView.selectable_summary`, `pruning_records`),
pure functions of the node's devices and the requests' selectors and constraint attributes.

Exactness. A check answers "unsatisfiable" only where the search would answer "no fit" too:
each is a condition that every allocation the search can build satisfies.
* Usable devices. A device the search can never take for a (sub)request is dropped from what
  the request can take: committed in use (6.6a), capacity short against committed shares
  alone (6.9), counters short against committed use alone (6.8), an untolerated taint, an
  attribute a constraint of the request needs is missing (6.10). In-flight picks only add to
  use and tallies, so a device refused against committed state alone is refused at every
  point of the search. (Counter and capacity arguments need amounts that are not negative;
  devices with negative amounts are left to the search.)
* Counts. A (sub)request picks `count` different devices (a combination, 6.5); an `All`
  request needs every device it fixed (and fails with none); a claim gives at most 32
  results.
* Counter budgets. In one counter set, the devices a request can pick never consume more of a
  counter than is left, so at most the k cheapest fit; summed per counter over the requests
  of the attempt (each at least its `count` cheapest), and per counter name over a pool's
  sets. Multi-allocatable devices are counted as consuming nothing (only a first share
  charges).
* Distinct devices (Hall's condition). Non-admin requests of all claims never share a device
  that is not multi-allocatable, so every set of them needs as many such devices as they ask
  for beyond their multi-allocatable candidates.
* Constraints. A matchAttribute needs one value (with list attributes, one element) that
  every device of its requests has; a distinctAttribute needs as many different values as
  its requests take devices.
* firstAvailable. A request is unsatisfiable when each of its subrequests is; across requests
  it counts with the least any of its live subrequests asks and the union of their devices.

Errors. The search raises where it meets a device whose selector failed (6.6b: it raises
only when it gets there) and where an `All` request with constraints meets a refused device
(6.6 d5). The checks look only at the requests before the first request that could raise (in
claim order, then request order): if those cannot be satisfied together, the search never
gets past them, so it could not have raised either. When the first request could raise, the
checks prove nothing and the search runs as before. So every error surfaces exactly as
without the checks; only "gave up" (the time limit) can turn into the "no" the search would
have reached given the time.

When. `check_before_search` runs before the search from the node's selectable lists alone
(cached on the node view): counts, the 32-result limit and Hall's condition. The full check
(usable devices, counter budgets, constraints) walks every candidate, which costs more than a
search that succeeds at once; the `Search` runs it after `AllocatorOptions.prune_after_steps`
steps of the search (0: before it), so quick answers never pay for it. Attempts that want at
most one device skip both: their search is a single scan of the candidates.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dralloc.allocator.constraints import ConstraintChecker
from dralloc.allocator.inventory import DeviceEntry, Pool, PoolKey
from dralloc.allocator.prepared import MAX_RESULTS_PER_CLAIM, PreparedRequest
from dralloc.allocator.state import AllocatedState
from dralloc.allocator.taints import untolerated_taint

if TYPE_CHECKING:
    from dralloc.allocator.attempt import Attempt

# Hall's condition over every subset of up to this many requests (2^n unions of bit masks);
# over more, only single requests, pairs and all of them together.
ALL_SUBSETS_UP_TO = 8

# A counter budget: (pool, counter set, counter), or (pool, None, counter) for the sum of
# that counter over all of the pool's sets.
BudgetKey = tuple[PoolKey, str | None, str]


# A candidate as the full check reads it: the device, its pool, its bit in masks (0 for a
# multi-allocatable device), and its keys for each constraint of the request.
Record = tuple[DeviceEntry, Pool, int, tuple[tuple[object, ...], ...]]
# A constraint's keys -> (devices with the key, their dedicated bits, how many are shared).
Groups = dict[object, tuple[int, int, int]]


class Unsatisfiable(Exception):
    """Raised inside the search when the full check proves that no allocation exists."""


@dataclass(slots=True)
class Usable:
    """What one (sub)request can take, as far as the checks can tell."""

    request: PreparedRequest
    # Bit mask of the devices that are not multi-allocatable (bit i: `candidates[i]` of the
    # node view), and how many multi-allocatable devices there are.
    dedicated: int
    shared: int
    # The full check only: the usable devices, and per constraint of the request the devices'
    # keys (`ConstraintChecker.group_keys`) with how many devices, which dedicated ones and
    # how many multi-allocatable ones have each.
    entries: list[tuple[DeviceEntry, Pool]] = field(default_factory=list)
    groups: dict[ConstraintChecker, Groups] = field(default_factory=dict)
    # Whether picking some of `entries` surely charges counters (else no budget applies).
    charges: bool = False

    @property
    def needed(self) -> int:
        return self.request.needed

    @property
    def needs_dedicated(self) -> int:
        """Devices that must be ones no other non-admin request holds."""
        return max(0, self.request.needed - self.shared)


def check_before_search(attempt: Attempt) -> bool:
    """True if the attempt cannot succeed, judged from the node's selectable lists alone."""
    return _unsatisfiable(attempt, None)


def check_with_state(attempt: Attempt) -> bool:
    """True if the attempt cannot succeed, judged from the devices each request can take
    given what other claims hold (reads committed state only, so it may run mid-search)."""
    return _unsatisfiable(attempt, _State(attempt))


# --------------------------------------------------------------------------- the driver


def _unsatisfiable(attempt: Attempt, state: _State | None) -> bool:
    prefix = _error_free_prefix(attempt)
    if not prefix:
        return False
    live: list[tuple[int, list[Usable]]] = []
    for claim_index, alternatives in prefix:
        usable = [
            u
            for u in (
                _usable_now(attempt, state, a) if state else _usable_static(attempt, a)
                for a in alternatives
            )
            if u is not None
        ]
        if not usable:
            return True
        live.append((claim_index, usable))
    if _over_result_limit(live) or _hall_violated(live):
        return True
    if state is None:
        return False
    if len(live) > 1 and _over_counter_budget(state, live):
        return True
    return _constraints_unsatisfiable(attempt, live)


def _error_free_prefix(attempt: Attempt) -> list[tuple[int, list[PreparedRequest]]]:
    """The requests (claim order, then request order) before the first one where the search
    could raise: a subrequest whose selectable list holds a failed selector, or an `All`
    request with constraints."""
    prefix: list[tuple[int, list[PreparedRequest]]] = []
    for claim_index, claim in enumerate(attempt.prepared):
        for alternatives in claim.requests:
            for request in alternatives:
                if request.all_mode:
                    if request.needed and request.constraints:
                        return prefix
                elif _summary(attempt, request)[3]:
                    return prefix
            prefix.append((claim_index, alternatives))
    return prefix


def _summary(attempt: Attempt, request: PreparedRequest) -> tuple[int, int, int, bool]:
    """`NodeView.selectable_summary` of the request's selectors, computed on first use."""
    view = attempt.view
    key = request.selector_key
    found = view.selectable_summary.get(key)
    if found is None:
        dedicated = count = shared = 0
        failed = False
        for entry, pool in attempt.eligibility.selectable_candidates(request):
            if pool is None:
                failed = True  # the selector raised on this device
            elif entry.multi:
                shared += 1
            else:
                dedicated |= 1 << view.position(entry.key)
                count += 1
        found = (dedicated, count, shared, failed)
        view.selectable_summary[key] = found
    return found


# ------------------------------------------------------------ one (sub)request at a time


def _usable_static(attempt: Attempt, request: PreparedRequest) -> Usable | None:
    if request.needed > MAX_RESULTS_PER_CLAIM:
        return None  # the search returns "too many" before it picks anything
    if request.all_mode:
        if request.needed == 0:
            return None  # `All` never succeeds with zero devices (6.5)
        records = _build_records(attempt, request.all_devices, ())
        return Usable(request, records.dedicated, records.shared)
    dedicated, count, shared, _ = _summary(attempt, request)
    if count + shared < request.needed:
        return None
    return Usable(request, dedicated, shared)


@dataclass(slots=True)
class Records:
    """The candidates of a (sub)request that no constraint of it refuses outright (a missing
    attribute), with their masks and constraint keys in total. A pure function of the node
    view, the selectors and the constraints' attributes: cached on the view
    (`NodeView.pruning_records`) under those."""

    items: list[Record]
    dedicated: int
    shared: int
    groups: tuple[Groups, ...]


def _records(attempt: Attempt, request: PreparedRequest) -> Records:
    view = attempt.view
    checkers = request.constraints
    key = (request.selector_key, *((c.attribute, c.list_types) for c in checkers))
    found = view.pruning_records.get(key)
    if found is None:
        found = _build_records(
            attempt, attempt.eligibility.selectable_candidates(request), checkers
        )
        view.pruning_records[key] = found
    assert isinstance(found, Records)
    return found


def _build_records(
    attempt: Attempt,
    source: list[tuple[DeviceEntry, Pool]],
    checkers: tuple[ConstraintChecker, ...],
) -> Records:
    position = attempt.view.position
    records = Records([], 0, 0, tuple({} for _ in checkers))
    for entry, pool in source:
        keys = tuple(checker.group_keys(entry) for checker in checkers)
        if not all(keys):
            continue  # a device without the attribute a constraint needs (6.10)
        multi = entry.multi
        bit = 0 if multi else 1 << position(entry.key)
        records.items.append((entry, pool, bit, keys))
        if multi:
            records.shared += 1
        else:
            records.dedicated |= bit
        for groups, device_keys in zip(records.groups, keys, strict=True):
            for group_key in device_keys:
                count, mask, shared = groups.get(group_key, (0, 0, 0))
                groups[group_key] = (count + 1, mask | bit, shared + multi)
    return records


def _usable_now(attempt: Attempt, state: _State, request: PreparedRequest) -> Usable | None:
    needed = request.needed
    if needed > MAX_RESULTS_PER_CLAIM or (request.all_mode and needed == 0):
        return None
    if request.all_mode:
        # (`All` requests with constraints never get here: see _error_free_prefix.)
        records = _build_records(attempt, request.all_devices, ())
        if len(records.items) < needed:
            return None
    else:
        records = _records(attempt, request)
    usable = Usable(request, records.dedicated, records.shared)
    groups = list(records.groups)
    copied = False
    in_use = state.allocated.devices
    admin = request.admin
    # Whether a device needs more than the in-use test: capacity, counters or taints.
    capacity = attempt.eligibility.consumable
    requests_capacity = bool(request.capacity_requests)
    charges = False
    for record in records.items:
        entry, pool, bit, keys = record
        multi = not bit
        if (multi or not admin) and entry.key in in_use:
            taken = False
        elif (
            (capacity and (requests_capacity or multi or entry.capacity))
            or entry.consumes
            or entry.taints
        ):
            taken = state.can_ever_take(entry, pool, request)
        else:
            taken = True
        if taken:
            usable.entries.append((entry, pool))
            charges = charges or (not multi and bool(entry.consumes))
            continue
        if request.all_mode:
            return None  # every device of an `All` request must be taken
        if multi:
            usable.shared -= 1
        else:
            usable.dedicated &= ~bit
        if not copied:
            groups = [dict(g) for g in groups]
            copied = True
        for by_key, device_keys in zip(groups, keys, strict=True):
            for group_key in device_keys:
                count, mask, shared = by_key[group_key]
                if count == 1:
                    del by_key[group_key]
                else:
                    by_key[group_key] = (count - 1, mask & ~bit, shared - multi)
    if len(usable.entries) < needed:
        return None
    usable.charges = charges
    if charges and state.most_by_counters(usable.entries) < needed:
        return None
    for checker, by_key in zip(request.constraints, groups, strict=True):
        if not checker.pairwise:
            continue  # upstream's per-request memory bounds nothing a check here could use
        most = len(by_key) if checker.distinct else max((g[0] for g in by_key.values()), default=0)
        if most < needed:
            return None
        usable.groups[checker] = by_key
    return usable


class _State:
    """Committed state as the full check reads it (never the search's in-flight tallies)."""

    def __init__(self, attempt: Attempt) -> None:
        self.attempt = attempt
        self.eligibility = attempt.eligibility
        self.allocated: AllocatedState = attempt.allocated
        # In-flight capacity on a shared device only grows if no request asks for a negative
        # amount (the devices' own amounts are checked per device).
        self.capacity_grows = all(
            amount >= 0
            for claim in attempt.prepared
            for alternatives in claim.requests
            for request in alternatives
            for amount in request.capacity_requests.values()
        )

    def available(self, pool: Pool) -> dict[str, dict[str, int]] | None:
        return self.eligibility.available(pool)

    def can_ever_take(self, entry: DeviceEntry, pool: Pool, request: PreparedRequest) -> bool:
        """False if the search refuses `entry` for `request` whatever else it has picked:
        the checks of `Eligibility.in_use`, `capacity_problem` and `try_allocate` that do
        not depend on in-flight picks (constraints aside: `_usable_now` reads their keys)."""
        eligibility = self.eligibility
        key = entry.key
        if (entry.multi or not request.admin) and key in self.allocated.devices:
            return False
        if (
            eligibility.consumable
            and (not entry.multi or (self.capacity_grows and entry.non_negative))
            and eligibility.capacity_problem(entry, request, committed_only=True) is not None
        ):
            return False
        if entry.consumes:
            if not eligibility.partitionable:
                return False
            # A shared device with a committed share is never charged again (6.6 d3).
            if not (entry.multi and self.allocated.has_allocation(key)):
                available = self.available(pool)
                if available is None:
                    return False  # the pool is already over-committed
                if pool.is_non_negative:
                    for (set_name, counter), amount in entry.counter_totals.items():
                        if amount > available[set_name][counter]:
                            return False
        return not (
            entry.taints
            and eligibility.device_taints
            and untolerated_taint(entry.taints, request.tolerations) is not None
        )

    def charged(self, entry: DeviceEntry, pool: Pool) -> dict[tuple[str, str], int] | None:
        """What picking `entry` surely charges to its pool's counters (None: nothing sure;
        a shared device may have been charged by an earlier share)."""
        if entry.multi or not entry.counter_totals or not pool.is_non_negative:
            return None
        return entry.counter_totals

    def most_by_counters(self, entries: list[tuple[DeviceEntry, Pool]]) -> int:
        """At most how many of `entries` one request can pick, given the counters left.

        Devices are grouped by the first counter set they consume from. Within a group, for
        every counter, the devices consuming it fit at most as many as its cheapest amounts
        fit into what is left, plus the devices not consuming it."""
        free = 0
        groups: dict[tuple[PoolKey, str], tuple[Pool, list[DeviceEntry]]] = {}
        for entry, pool in entries:
            charged = self.charged(entry, pool)
            first = next((s for (s, _), amount in (charged or {}).items() if amount > 0), None)
            if first is None:
                free += 1
                continue
            groups.setdefault((pool.key, first), (pool, []))[1].append(entry)
        total = free
        for (_, set_name), (pool, members) in groups.items():
            available = self.available(pool)
            assert available is not None  # otherwise can_ever_take refused the members
            amounts: dict[str, list[int]] = {}
            for member in members:
                for (name, counter), amount in member.counter_totals.items():
                    if name == set_name and amount > 0:
                        amounts.setdefault(counter, []).append(amount)
            bound = len(members)
            for counter, values in amounts.items():
                bound = min(
                    bound,
                    len(members)
                    - len(values)
                    + _how_many_fit(values, available[set_name][counter]),
                )
            total += bound
        return total

    def demand(self, usable: Usable) -> dict[BudgetKey, int]:
        """The least each counter budget is charged when `usable.needed` of its devices are
        picked (budgets that may be charged nothing are left out)."""
        amounts: dict[BudgetKey, list[int]] = {}
        for entry, pool in usable.entries:
            charged = self.charged(entry, pool)
            if charged is None:
                continue
            by_name: dict[str, int] = {}
            for (set_name, counter), amount in charged.items():
                if amount > 0:
                    amounts.setdefault((pool.key, set_name, counter), []).append(amount)
                    by_name[counter] = by_name.get(counter, 0) + amount
            for counter, amount in by_name.items():
                amounts.setdefault((pool.key, None, counter), []).append(amount)
        demand: dict[BudgetKey, int] = {}
        for key, values in amounts.items():
            short = usable.needed - (len(usable.entries) - len(values))
            if short > 0:
                values.sort()
                demand[key] = sum(values[:short])
        return demand

    def budget(self, key: BudgetKey) -> int | None:
        pool_key, set_name, counter = key
        pool = next(p for p in self.attempt.pools if p.key == pool_key)
        available = self.available(pool)
        if available is None:
            return None
        if set_name is not None:
            return available[set_name][counter]
        return sum(counters[counter] for counters in available.values() if counter in counters)


def _how_many_fit(amounts: list[int], left: int) -> int:
    fit = used = 0
    for amount in sorted(amounts):
        used += amount
        if used > left:
            break
        fit += 1
    return fit


# ------------------------------------------------------------------ across requests


def _over_result_limit(live: list[tuple[int, list[Usable]]]) -> bool:
    """A claim whose requests together need more than 32 devices gets "too many" (6.5)."""
    least: dict[int, int] = {}
    for claim_index, usable in live:
        least[claim_index] = least.get(claim_index, 0) + min(u.needed for u in usable)
    return any(total > MAX_RESULTS_PER_CLAIM for total in least.values())


def _hall_violated(live: list[tuple[int, list[Usable]]]) -> bool:
    """Non-admin requests (of every claim) never share a device that is not
    multi-allocatable (6.6a): every set of them needs that many distinct ones."""
    demands: list[tuple[int, int]] = []
    for _, usable in live:
        if usable[0].request.admin:
            continue
        need = min(u.needs_dedicated for u in usable)
        if need == 0:
            continue
        mask = 0
        for u in usable:
            mask |= u.dedicated
        demands.append((need, mask))
    return _violates_hall(demands)


def _violates_hall(demands: list[tuple[int, int]]) -> bool:
    if any(need > mask.bit_count() for need, mask in demands):
        return True
    n = len(demands)
    if n < 2:
        return False
    if n <= ALL_SUBSETS_UP_TO:
        unions = [0] * (1 << n)
        needs = [0] * (1 << n)
        for subset in range(1, 1 << n):
            low = (subset & -subset).bit_length() - 1
            rest = subset & (subset - 1)
            unions[subset] = unions[rest] | demands[low][1]
            needs[subset] = needs[rest] + demands[low][0]
            if needs[subset] > unions[subset].bit_count():
                return True
        return False
    for i in range(n):
        for j in range(i + 1, n):
            if demands[i][0] + demands[j][0] > (demands[i][1] | demands[j][1]).bit_count():
                return True
    union = 0
    for _, mask in demands:
        union |= mask
    return sum(need for need, _ in demands) > union.bit_count()


def _over_counter_budget(state: _State, live: list[tuple[int, list[Usable]]]) -> bool:
    """Every pick (admin ones too) charges its counters: the least each request charges a
    budget, summed over the requests, must fit what is left of it."""
    totals: dict[BudgetKey, int] = {}
    for _, usable in live:
        if not all(u.charges for u in usable):
            continue  # some subrequest may charge no budget at all
        demands = [state.demand(u) for u in usable]
        for key in set(demands[0]).intersection(*demands[1:]):
            totals[key] = totals.get(key, 0) + min(d[key] for d in demands)
    for key, total in totals.items():
        budget = state.budget(key)
        if budget is not None and total > budget:
            return True
    return False


def _constraints_unsatisfiable(attempt: Attempt, live: list[tuple[int, list[Usable]]]) -> bool:
    by_claim: dict[int, list[list[Usable]]] = {}
    for claim_index, usable in live:
        by_claim.setdefault(claim_index, []).append(usable)
    for claim_index, requests in by_claim.items():
        for checker in attempt.prepared[claim_index].constraints:
            involved = [r for r in requests if any(checker in u.groups for u in r)]
            if not involved:
                continue
            if checker.distinct:
                if _too_few_distinct(checker, involved):
                    return True
                continue
            keys = _keys(checker, involved)
            if keys is not None and not any(_can_match(checker, k, involved) for k in keys):
                return True
    return False


def _too_few_distinct(checker: ConstraintChecker, requests: list[list[Usable]]) -> bool:
    """Devices under a distinctAttribute have pairwise different keys."""
    keys: set[object] = set()
    need = 0
    for usable in requests:
        need += min(u.needed if checker in u.groups else 0 for u in usable)
        for u in usable:
            keys.update(u.groups.get(checker, ()))
    return need > len(keys)


def _keys(checker: ConstraintChecker, requests: list[list[Usable]]) -> Iterable[object] | None:
    """The keys a matchAttribute can settle on: those of a request it binds in every
    subrequest (None, meaning any, if every request has a subrequest it does not bind)."""
    for usable in requests:
        if all(checker in u.groups for u in usable):
            keys: set[object] = set()
            for u in usable:
                keys.update(u.groups[checker])
            return keys
    return None


def _can_match(checker: ConstraintChecker, key: object, requests: list[list[Usable]]) -> bool:
    """Whether every request can take its devices among those with `key` (or through a
    subrequest the constraint does not bind), with distinct dedicated devices."""
    demands: list[tuple[int, int]] = []
    for usable in requests:
        needs: list[int] = []
        mask = 0
        for u in usable:
            groups = u.groups.get(checker)
            if groups is None:
                needs.append(0)  # a subrequest the constraint does not bind
                continue
            group = groups.get(key)
            if group is None or group[0] < u.needed:
                continue
            needs.append(max(0, u.needed - group[2]))
            mask |= group[1]
        if not needs:
            return False
        if min(needs) and not usable[0].request.admin:
            demands.append((min(needs), mask))
    return not _violates_hall(demands)
