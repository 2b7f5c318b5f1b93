"""Device eligibility of the DRA structured allocator (spec/dra-v1.md sections 6.6-6.10).

Owns the question "can this device serve this request now?" for one attempt, and the
in-flight state the answer depends on: the picks made so far and what they charge. The search
asks in upstream's order: use (6.6a; admin access, 6.7), the class and request selectors
(6.6b), consumable capacity (6.9), then `try_allocate` (steps d1-d7) charges counters (6.8)
and checks taints and constraints (6.10) as it records the pick; for an `All` request it
re-checks use and capacity itself. A refusal is a `Reason` with a detail that is filled in
only for explanations (`details`). `undo` takes the latest pick of a claim back exactly, so
the search can backtrack.

Design notes:
* Selector outcomes are memoised on the `DeviceEntry` (a pure function of the device), and
  each selector set's selectable candidates on the node view, so a long-lived `Inventory`
  makes repeated allocations cheap.
* A selector that fails on a device does not fail the attempt until the search reaches that
  device and finds it free, as upstream's lazy evaluation does.
* A shared (multi-allocatable) device's counters are charged by its first share only; its
  consumable capacity is charged per share.
* Committed state (`AllocatedState`) is read, never written: every tally here is per attempt.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from dralloc.allocator.capacity import consumption, first_shortfall, readable_quantity
from dralloc.allocator.errors import AllocationError
from dralloc.allocator.inventory import DeviceEntry, DeviceKey, NodeView, Pool, PoolKey
from dralloc.allocator.prepared import Pick, PreparedRequest, Reason, Selector
from dralloc.allocator.state import AllocatedState
from dralloc.allocator.taints import untolerated_taint
from dralloc.api.resource import ResourceClaim
from dralloc.cel import CelCompileError, CelEnvironment, CelRuntimeError
from dralloc.features import Features


class Eligibility:
    """Which devices the requests of one attempt may take, given committed state and the
    picks in flight (which it records with `try_allocate` and takes back with `undo`)."""

    __slots__ = (
        "allocated",
        "available_counters",
        "candidates",
        "capacity_in_flight",
        "cel",
        "chosen_by_claim",
        "chosen_count",
        "claims",
        "consumable",
        "counters_in_flight",
        "details",
        "device_taints",
        "features",
        "partitionable",
        "picks",
        "share_ids",
        "shares_in_flight",
        "view",
    )

    # Positional parameters (all of different types): one is built per `allocate` call, and
    # keyword arguments to a class cost a measurable share of a one-device call on Python 3.11.
    def __init__(
        self,
        features: Features,
        cel: CelEnvironment,
        share_ids: Callable[[], str],
        view: NodeView,
        claims: Sequence[ResourceClaim],
        allocated: AllocatedState,
    ) -> None:
        self.features = features
        self.cel = cel
        self.share_ids = share_ids
        self.view = view
        self.candidates = view.candidates
        self.claims = claims
        self.allocated = allocated
        # Explanations want human-readable details (`Attempt(..., details=True)`); the search
        # does not pay for them.
        self.details = False
        self.partitionable = features.partitionable_devices
        self.device_taints = features.device_taints
        self.consumable = features.consumable_capacity
        # In-flight picks (per claim) and tallies.
        self.picks: list[list[Pick]] = [[] for _ in claims]
        self.chosen_count: dict[DeviceKey, int] = {}
        self.chosen_by_claim: list[dict[DeviceKey, int]] = [{} for _ in claims]
        self.shares_in_flight: dict[DeviceKey, int] = {}
        self.capacity_in_flight: dict[DeviceKey, dict[str, int]] = {}
        self.counters_in_flight: dict[PoolKey, dict[tuple[str, str], int]] = {}
        self.available_counters: dict[PoolKey, dict[str, dict[str, int]] | None] = {}

    def selectable_candidates(self, request: PreparedRequest) -> list[tuple[DeviceEntry, Pool]]:
        """The node's candidates that pass the request's class and request selectors, in
        candidate order, cached on the node view per selector set (selector outcomes are
        pure functions of a device). A device whose evaluation raised stays in the list,
        paired with None: the search raises its error only when it reaches that device and
        the device is not in use (6.6 checks use before selectors), as upstream's lazy
        evaluation does."""
        key = request.selector_key
        cached = self.view.selectable.get(key)
        if cached is not None:
            return cached
        selectable: list[tuple[DeviceEntry, Pool]] = []
        for entry, pool in self.candidates:
            try:
                if self.selectable_reason(entry, request) is None:
                    selectable.append((entry, pool))
            except AllocationError:
                selectable.append((entry, None))  # type: ignore[arg-type]
        self.view.selectable[key] = selectable
        return selectable

    def selectable_reason(self, entry: DeviceEntry, request: PreparedRequest) -> Reason | None:
        if entry.binding_conditions and not self.features.device_binding_and_status:
            return Reason.BINDING_CONDITIONS_DISABLED
        results = entry.selector_results
        for selector in request.selectors:
            outcome = results.get(selector.expression)
            if outcome is None:
                outcome = self._evaluate(entry, selector, request)
            if outcome is True:
                continue
            if outcome is False:
                return Reason.CLASS_SELECTOR if selector.is_class else Reason.REQUEST_SELECTOR
            context = selector.context(self.claim_ref(request.claim_index))
            raise AllocationError(f"{context}: CEL runtime error: {outcome}")
        return None

    def claim_ref(self, claim_index: int) -> str:
        """`namespace/name` of a claim of this attempt, for messages."""
        meta = self.claims[claim_index].metadata
        return f"{meta.namespace}/{meta.name}"

    def _evaluate(
        self, entry: DeviceEntry, selector: Selector, request: PreparedRequest
    ) -> bool | CelRuntimeError:
        if selector.compiled is None:
            try:
                selector.compiled = self.cel.compile(selector.expression)
            except CelCompileError as err:
                context = selector.context(self.claim_ref(request.claim_index))
                raise AllocationError(f"{context}: CEL compile error: {err}") from err
        outcome: bool | CelRuntimeError
        try:
            outcome = selector.compiled.evaluate(entry.cel_device)
        except CelRuntimeError as err:
            outcome = err
        entry.selector_results[selector.expression] = outcome
        return outcome

    def in_use(self, entry: DeviceEntry, request: PreparedRequest) -> bool:
        key = entry.key
        if entry.multi:
            return key in self.allocated.devices
        if request.admin:
            return key in self.chosen_by_claim[request.claim_index]
        return key in self.allocated.devices or key in self.chosen_count

    def capacity_problem(
        self, entry: DeviceEntry, request: PreparedRequest, *, committed_only: bool = False
    ) -> tuple[Reason, str] | None:
        """Why the device cannot give the request its capacity (None if it can)."""
        # A dedicated device consumes its whole capacity, which can only be short if shares
        # were committed on it earlier.
        if (
            not request.capacity_requests
            and not entry.multi
            and (not entry.capacity or entry.key not in self.allocated.capacity)
        ):
            return None
        amounts = self.consumption(entry, request)
        if amounts is None:
            missing = [n for n in request.capacity_requests if n not in entry.capacity]
            if missing:
                return Reason.CAPACITY, f"device has no capacity {missing[0]}"
            return Reason.CAPACITY_POLICY, "requested amount is not allowed by requestPolicy"
        committed = self.allocated.capacity.get(entry.key)
        in_flight = None if committed_only else self.capacity_in_flight.get(entry.key)
        shortfall = first_shortfall(
            entry.capacity, amounts, committed=committed, in_flight=in_flight
        )
        if shortfall is not None:
            if not self.details:
                return Reason.CAPACITY, ""
            name, missing_nano = shortfall
            return Reason.CAPACITY, f"capacity {name}: {readable_quantity(missing_nano)} short"
        return None

    @staticmethod
    def consumption(entry: DeviceEntry, request: PreparedRequest) -> dict[str, int] | None:
        """What one allocation for `request` consumes of `entry` (memoised on the request)."""
        cache = request.consumption
        key = entry.key
        if key in cache:
            return cache[key]
        amounts = consumption(entry.capacity, request.capacity_requests)
        cache[key] = amounts
        return amounts

    def available(self, pool: Pool) -> dict[str, dict[str, int]] | None:
        """Counters left in `pool` after committed allocations; None if any is negative."""
        key = pool.key
        if key in self.available_counters:
            return self.available_counters[key]
        available = {name: dict(counters) for name, counters in pool.counter_sets.items()}
        held = self.allocated.by_pool.get(key)
        if held:
            entries = self.view.device_index(pool)
            for name in held:
                dev = entries.get(name)
                if dev is None or not dev.consumes:
                    continue
                for set_name, counters in dev.consumes:
                    target = available.get(set_name)
                    if target is None:
                        continue
                    for counter, amount in counters:
                        if counter in target:
                            target[counter] -= amount
        negative = any(v < 0 for counters in available.values() for v in counters.values())
        result = None if negative else available
        self.available_counters[key] = result
        return result

    def counter_problem(self, entry: DeviceEntry, pool: Pool) -> str | None:
        """Charge the device's counters in flight; a message if they do not fit."""
        available = self.available(pool)
        if available is None:
            return "a counter of the pool is already over-committed"
        tally = self.counters_in_flight.setdefault(pool.key, {})
        problem = None
        for set_name, counters in entry.consumes:
            left = available[set_name]
            for counter, amount in counters:
                used = tally.get((set_name, counter), 0) + amount
                if used > left[counter]:
                    more = readable_quantity(used - left[counter]) if self.details else ""
                    problem = f"counter {counter} of counter set {set_name} ({more} more needed)"
                    break
            if problem is not None:
                break
        if problem is None:
            for set_name, counters in entry.consumes:
                for counter, amount in counters:
                    slot = (set_name, counter)
                    tally[slot] = tally.get(slot, 0) + amount
        return problem

    def _uncharge(self, entry: DeviceEntry, pool: Pool) -> None:
        tally = self.counters_in_flight[pool.key]
        for set_name, counters in entry.consumes:
            for counter, amount in counters:
                tally[(set_name, counter)] -= amount

    def _has_share(self, entry: DeviceEntry) -> bool:
        return self.allocated.has_allocation(entry.key) or bool(
            self.shares_in_flight.get(entry.key)
        )

    def try_allocate(
        self, entry: DeviceEntry, pool: Pool, request: PreparedRequest, *, must: bool
    ) -> tuple[Reason, str] | None:
        """Steps d1-d7 of 6.6: record the pick, or say why the device cannot be taken.

        The ExactCount path has already checked use and capacity (steps a and c); `must`
        (the `All` path) re-checks them here and turns a constraint refusal into an error.
        """
        if must and self.in_use(entry, request):
            return Reason.IN_USE, ""
        charged = False
        if entry.consumes:
            if not self.partitionable:
                return Reason.COUNTERS_DISABLED, ""
            # A shared device's counters are charged by its first share only.
            if not (entry.multi and self._has_share(entry)):
                problem = self.counter_problem(entry, pool)
                if problem is not None:
                    return Reason.COUNTERS, problem
                charged = True
        if entry.taints and self.device_taints:
            taint = untolerated_taint(entry.taints, request.tolerations)
            if taint is not None:
                if charged:
                    self._uncharge(entry, pool)
                detail = f"{taint.key}={taint.value}:{taint.effect}" if self.details else ""
                return Reason.TAINT, detail
        constraints = request.constraints
        for checker in constraints:
            if not checker.accepts(entry):
                if charged:
                    self._uncharge(entry, pool)
                if must:
                    claim_ref = self.claim_ref(request.claim_index)
                    raise AllocationError(
                        f"claim {claim_ref}, request {request.result_name}: cannot add device "
                        f"{entry.key} because a claim constraint would not be satisfied"
                    )
                detail = f"{checker.kind_name} {checker.attribute}" if self.details else ""
                return Reason.CONSTRAINT, detail
        share_id: str | None = None
        consumed: dict[str, int] | None = None
        if self.consumable:
            shortfall = self.capacity_problem(entry, request) if must else None
            if shortfall is not None:
                if charged:
                    self._uncharge(entry, pool)
                return shortfall
            if entry.multi:
                consumed = self.consumption(entry, request)
                share_id = self.share_ids()
                self.shares_in_flight[entry.key] = self.shares_in_flight.get(entry.key, 0) + 1
                if consumed:
                    tally = self.capacity_in_flight.setdefault(entry.key, {})
                    for name, amount in consumed.items():
                        tally[name] = tally.get(name, 0) + amount
        for checker in constraints:
            checker.hold(entry, request.request_name)
        if not entry.multi:
            key = entry.key
            self.chosen_count[key] = self.chosen_count.get(key, 0) + 1
            by_claim = self.chosen_by_claim[request.claim_index]
            by_claim[key] = by_claim.get(key, 0) + 1
        self.picks[request.claim_index].append(
            Pick(request, entry, pool, share_id, consumed, charged, constraints)
        )
        return None

    def undo(self, claim_index: int) -> None:
        """Take back the latest pick of claim `claim_index`, and all it charged."""
        pick = self.picks[claim_index].pop()
        entry = pick.entry
        key = entry.key
        for checker in pick.constraints:
            checker.remove(pick.request.request_name)
        if pick.charged_counters:
            self._uncharge(entry, pick.pool)
        if entry.multi:
            if pick.share_id is not None:
                self.shares_in_flight[key] -= 1
            if pick.consumed:
                tally = self.capacity_in_flight[key]
                for name, amount in pick.consumed.items():
                    tally[name] -= amount
        else:
            self.chosen_count[key] -= 1
            if not self.chosen_count[key]:
                del self.chosen_count[key]
            by_claim = self.chosen_by_claim[claim_index]
            by_claim[key] -= 1
            if not by_claim[key]:
                del by_claim[key]
