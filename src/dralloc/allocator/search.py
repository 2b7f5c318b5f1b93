"""The search of the DRA structured allocator (spec/dra-v1.md section 6.5).

Owns the depth-first search with full backtracking over the prepared claims of an attempt:
claims in order, requests in order, and for a firstAvailable request its subrequests in order
until one succeeds. It asks the attempt's `Eligibility` whether a device can be taken, which
records the pick, and undoes picks when a later request fails. Its per-attempt state (steps
taken, the step of the full check, the deadline, candidates in preferred order) lives on the
`Attempt`; it never reads the API objects or the committed state itself.

Design notes:
* Candidates are the devices of complete, valid pools in search order (pools by driver and
  name, binding-condition pools last; slices by name; devices in slice order), or in the
  caller's `device_order` (stable, so ties keep that order).
* A request picks its N devices as a combination in candidate order, so permutations are never
  re-tried and a request never gets the same device twice.
* A claim gives at most 32 results: a path that would exceed it answers `TOO_MANY`, which
  moves to the next subrequest but does not propagate to earlier claims.
* Every candidate tried is a step. Where the checks of pruning.py apply, the full check runs
  once at step `AllocatorOptions.prune_after_steps`; every 64 steps the clock is read against
  the deadline (`AllocationGaveUp` once it has passed).
* Functions over the attempt rather than an object of their own: an `allocate` call of a
  one-device claim takes a few microseconds, and one more object per call is a measurable
  share of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dralloc.allocator.errors import AllocationGaveUp
from dralloc.allocator.inventory import DeviceEntry, Pool
from dralloc.allocator.prepared import (
    MAX_RESULTS_PER_CLAIM,
    TOO_MANY,
    PreparedRequest,
    SearchOutcome,
)
from dralloc.allocator.pruning import Unsatisfiable, check_before_search, check_with_state

if TYPE_CHECKING:
    from dralloc.allocator.attempt import Attempt


def search(attempt: Attempt) -> bool:
    """Whether an allocation exists for the prepared claims of `attempt` (its picks are then
    in `attempt.eligibility.picks`): the checks of pruning.py where they are switched on,
    then the depth-first search. The checks answer only where the search would answer "no"
    without an error."""
    options = attempt.options
    # With at most one device to find, the search is one scan of the candidates, which
    # no check could shorten.
    prepared = attempt.prepared
    if options.prune_unsatisfiable and (
        len(prepared) > 1 or (prepared and prepared[0].most_devices > 1)
    ):
        if check_before_search(attempt):
            return False
        if options.prune_after_steps == 0:
            if check_with_state(attempt):
                return False
        else:
            attempt.prune_at = options.prune_after_steps
    try:
        return _solve_request(attempt, 0, 0) is True
    except Unsatisfiable:
        return False


def _tick(attempt: Attempt) -> None:
    attempt.steps += 1
    if attempt.steps == attempt.prune_at and check_with_state(attempt):
        raise Unsatisfiable
    if (
        attempt.deadline is not None
        and not attempt.steps & 63
        and attempt.options.clock() > attempt.deadline
    ):
        raise AllocationGaveUp("timed out trying to allocate devices")


# The two recursive functions below take their indices positionally, against the habit of
# keyword-only ints: they are called once per pick, and keyword arguments cost about 5% of a
# one-device `allocate` call on Python 3.11 (benchmarks/allocator.py). Their only callers are
# in this module.


def _solve_request(attempt: Attempt, claim_index: int, request_index: int) -> SearchOutcome:
    if claim_index == len(attempt.prepared):
        return True
    prepared = attempt.prepared[claim_index]
    if request_index == len(prepared.requests):
        outcome = _solve_request(attempt, claim_index + 1, 0)
        # The 32-result limit is per claim: it does not propagate to earlier claims.
        return False if outcome is TOO_MANY else outcome
    alternatives = prepared.requests[request_index]
    if not alternatives[0].has_subrequests:
        return _solve_devices(attempt, alternatives[0], request_index, 0, 0)
    every_too_many = True
    for alternative in alternatives:
        outcome = _solve_devices(attempt, alternative, request_index, 0, 0)
        if outcome is True:
            return True
        if outcome is not TOO_MANY:
            every_too_many = False
    return TOO_MANY if every_too_many else False


def _solve_devices(
    attempt: Attempt, request: PreparedRequest, request_index: int, done: int, start: int
) -> SearchOutcome:
    """Pick devices `done + 1...` of `request` from its candidates at `start` on, then go on
    with the next request."""
    if request.all_mode and request.needed == 0:
        return False
    if done == request.needed:
        return _solve_request(attempt, request.claim_index, request_index + 1)
    claim_index = request.claim_index
    eligibility = attempt.eligibility
    if len(eligibility.picks[claim_index]) + request.needed - done > MAX_RESULTS_PER_CLAIM:
        return TOO_MANY
    if request.all_mode:
        _tick(attempt)
        entry, pool = request.all_devices[done]
        if eligibility.try_allocate(entry, pool, request, must=True) is not None:
            return False
        outcome = _solve_devices(attempt, request, request_index, done + 1, 0)
        if outcome is True:
            return True
        eligibility.undo(claim_index)
        return outcome
    candidates = eligibility.selectable_candidates(request)
    if attempt.device_order is not None:
        candidates = _in_preferred_order(attempt, request, candidates)
    consumable = eligibility.consumable
    for position in range(start, len(candidates)):
        # Every candidate tried is a step, so a long scan is bounded by the deadline too.
        _tick(attempt)
        entry, pool = candidates[position]
        if eligibility.in_use(entry, request):
            continue
        if pool is None:
            eligibility.selectable_reason(entry, request)  # raises the selector's error
        if consumable and eligibility.capacity_problem(entry, request) is not None:
            continue
        if eligibility.try_allocate(entry, pool, request, must=False) is not None:
            continue
        outcome = _solve_devices(attempt, request, request_index, done + 1, position + 1)
        if outcome is True:
            return True
        eligibility.undo(claim_index)
        if outcome is TOO_MANY:
            return TOO_MANY
    return False


def _in_preferred_order(
    attempt: Attempt, request: PreparedRequest, candidates: list[tuple[DeviceEntry, Pool]]
) -> list[tuple[DeviceEntry, Pool]]:
    """The candidates sorted by the caller's preference (stable: ties keep candidate order),
    once per attempt and selector set: the state a preference reads does not change during
    one attempt."""
    ordered = attempt.ordered.get(request.selector_key)
    if ordered is None:
        order = attempt.device_order
        assert order is not None
        ordered = sorted(candidates, key=lambda item: order(item[0].key))
        attempt.ordered[request.selector_key] = ordered
    return ordered
