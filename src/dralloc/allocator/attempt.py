"""One allocation attempt of the DRA structured allocator (spec/dra-v1.md section 6).

Owns one `allocate` call: preparing requests (6.4), the depth-first search with full
backtracking (6.5), device eligibility (6.6), admin access (6.7), counters (6.8), consumable
capacity (6.9), constraints (6.10) and building results (6.12). It reads an `Inventory`
(published devices, long-lived) and an `AllocatedState` (what other claims hold) and mutates
neither: in-flight choices live in a per-call `Attempt`.

Design notes:
* Candidates are the devices of complete, valid pools in search order (pools by driver and
  name, binding-condition pools last; slices by name; devices in slice order).
* A request picks its N devices as a combination in candidate order, so permutations are never
  re-tried and a request never gets the same device twice.
* Selector outcomes are memoised on the `DeviceEntry` (a pure function of the device), so a
  long-lived `Inventory` makes repeated allocations cheap.
* Determinism: the same input gives the same result; only shareIDs are random (they come from
  an injectable `share_ids` source).
* Before and early in the search, pruning.py may prove that no allocation exists; the answer
  is then the search's own "no" (see there for why the checks are exact and never hide an
  error).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from dralloc.allocator.capacity import consumption, first_shortfall, readable_quantity
from dralloc.allocator.constraints import ConstraintChecker
from dralloc.allocator.errors import AllocationError, AllocationGaveUp, NodeFailure
from dralloc.allocator.inventory import (
    DeviceEntry,
    DeviceKey,
    DeviceOrder,
    Inventory,
    Pool,
    PoolKey,
    PoolState,
)
from dralloc.allocator.prepared import (
    MAX_RESULTS_PER_CLAIM,
    TOO_MANY,
    Pick,
    PreparedClaim,
    PreparedRequest,
    Reason,
    SearchOutcome,
    Selector,
)
from dralloc.allocator.pruning import Unsatisfiable, check_before_search, check_with_state
from dralloc.allocator.results import build_result
from dralloc.allocator.state import AllocatedState
from dralloc.allocator.taints import untolerated_taint
from dralloc.api.core import Node
from dralloc.api.quantity import Quantity
from dralloc.api.resource import (
    ALLOCATION_MODE_ALL,
    ALLOCATION_MODE_EXACT_COUNT,
    AllocationResult,
    DeviceClass,
    DeviceSelector,
    DeviceToleration,
    ResourceClaim,
)
from dralloc.cel import CelCompileError, CelRuntimeError

if TYPE_CHECKING:
    from dralloc.allocator.allocator import Allocator


class Attempt:
    """The state of one `allocate` call: prepared requests, in-flight picks and tallies."""

    def __init__(
        self,
        allocator: Allocator,
        node: Node,
        claims: Sequence[ResourceClaim],
        inventory: Inventory,
        classes: Mapping[str, DeviceClass],
        allocated: AllocatedState,
        device_order: DeviceOrder | None = None,
    ) -> None:
        self.allocator = allocator
        self.device_order = device_order
        self._ordered: dict[object, list[tuple[DeviceEntry, Pool]]] = {}
        self.features = allocator.features
        self.cel = allocator.cel
        self.options = allocator.options
        self.node = node
        self.claims = claims
        self.inventory = inventory
        self.classes = classes
        self.allocated = allocated
        self.view = inventory.view(node)
        self.pools = self.view.pools
        self.candidates = self.view.candidates
        # Explanations want human-readable details; the search does not pay for them.
        self.details = False
        features = self.features
        self.partitionable = features.partitionable_devices
        self.device_taints = features.device_taints
        self.consumable = features.consumable_capacity
        self.deadline = (
            None if self.options.timeout is None else self.options.clock() + self.options.timeout
        )
        self.steps = 0
        # The search step at which the full unsatisfiability check runs (-1: never).
        self.prune_at = -1
        # In-flight tallies.
        self.picks: list[list[Pick]] = [[] for _ in claims]
        self.chosen_count: dict[DeviceKey, int] = {}
        self.chosen_by_claim: list[dict[DeviceKey, int]] = [{} for _ in claims]
        self.shares_in_flight: dict[DeviceKey, int] = {}
        self.capacity_in_flight: dict[DeviceKey, dict[str, int]] = {}
        self.counters_in_flight: dict[PoolKey, dict[tuple[str, str], int]] = {}
        self.available_counters: dict[PoolKey, dict[str, dict[str, int]] | None] = {}
        self.prepared: list[PreparedClaim] = []

    # ------------------------------------------------------------------ preparation (6.4)

    def prepare(self) -> None:
        allocator = self.allocator
        for index, claim in enumerate(self.claims):
            prepared = allocator.cached_preparation(index, claim, self.classes)
            if prepared is None:
                prepared = self._prepare_claim(index, claim)
                allocator.remember_preparation(index, prepared)
            self.prepared.append(prepared)

    def _prepare_claim(self, index: int, claim: ResourceClaim) -> PreparedClaim:
        features = self.features
        ref = f"{claim.metadata.namespace}/{claim.metadata.name}"
        devices = claim.spec.devices
        requests: list[list[PreparedRequest]] = []
        minimum = 0
        for request in devices.requests:
            if request.first_available:
                if not features.prioritized_list:
                    raise AllocationError(
                        f"claim {ref}, request {request.name}: has subrequests, but the "
                        "DRAPrioritizedList feature is disabled"
                    )
                alternatives: list[PreparedRequest] = []
                for sub in request.first_available:
                    if sub.capacity is not None and not features.consumable_capacity:
                        raise AllocationError(
                            f"claim {ref}, subrequest {sub.name}: has capacity requests, but "
                            "the DRAConsumableCapacity feature is disabled"
                        )
                for sub in request.first_available:
                    alternatives.append(
                        self._prepare_request(
                            index,
                            ref,
                            request.name,
                            f"{request.name}/{sub.name}",
                            sub.device_class_name,
                            sub.selectors,
                            sub.allocation_mode,
                            sub.count,
                            None,
                            sub.tolerations,
                            sub.capacity.requests if sub.capacity else {},
                            has_subrequests=True,
                        )
                    )
                minimum += min(a.needed for a in alternatives)
                requests.append(alternatives)
                continue
            exact = request.exactly
            if exact is None:
                raise AllocationError(
                    f"claim {ref}, request {request.name}: missing device class name "
                    "(unsupported request type?)"
                )
            if exact.capacity is not None and not features.consumable_capacity:
                raise AllocationError(
                    f"claim {ref}, request {request.name}: has capacity requests, but the "
                    "DRAConsumableCapacity feature is disabled"
                )
            prepared = self._prepare_request(
                index,
                ref,
                request.name,
                request.name,
                exact.device_class_name,
                exact.selectors,
                exact.allocation_mode,
                exact.count,
                exact.admin_access,
                exact.tolerations,
                exact.capacity.requests if exact.capacity else {},
                has_subrequests=False,
            )
            minimum += prepared.needed
            requests.append([prepared])
        if minimum > MAX_RESULTS_PER_CLAIM:
            raise AllocationError(
                f"claim {ref}: number of requested devices {minimum} exceeds the claim limit "
                f"of {MAX_RESULTS_PER_CLAIM}"
            )
        constraints: list[ConstraintChecker] = []
        for i, constraint in enumerate(devices.constraints):
            if constraint.match_attribute:
                attribute, distinct = constraint.match_attribute, False
            elif constraint.distinct_attribute:
                attribute, distinct = constraint.distinct_attribute, True
            else:
                raise AllocationError(
                    f"claim {ref}, constraint #{i}: empty constraint (unsupported constraint type?)"
                )
            constraints.append(
                ConstraintChecker(
                    i,
                    attribute,
                    distinct=distinct,
                    requests=constraint.requests,
                    list_types=self.features.list_type_attributes,
                    pairwise=self.options.pairwise_distinct_attribute,
                )
            )
        for alternatives in requests:
            for prepared in alternatives:
                prepared.constraints = tuple(
                    c for c in constraints if c.applies(prepared.request_name, prepared.result_name)
                )
        return PreparedClaim(claim, ref, requests, constraints)

    def _prepare_request(
        self,
        claim_index: int,
        ref: str,
        request_name: str,
        result_name: str,
        class_name: str,
        selectors: list[DeviceSelector],
        mode: str,
        count: int | None,
        admin_access: bool | None,
        tolerations: list[DeviceToleration],
        capacity: Mapping[str, Quantity],
        *,
        has_subrequests: bool,
    ) -> PreparedRequest:
        label = f"claim {ref}, request {result_name}"
        for i, selector in enumerate(selectors):
            if selector.cel is None or not selector.cel.expression:
                raise AllocationError(
                    f"{label}, selector #{i}: CEL expression empty (unsupported selector type?)"
                )
        if admin_access is not None and not self.features.admin_access:
            raise AllocationError(
                f"{label}: admin access is requested, but the feature is disabled"
            )
        if not class_name:
            raise AllocationError(f"{label}: missing device class name (unsupported request type?)")
        device_class = self.classes.get(class_name)
        if device_class is None:
            raise AllocationError(
                f"{label}: could not retrieve device class {class_name}: "
                f'deviceclass.resource.k8s.io "{class_name}" not found'
            )
        compiled = tuple(
            Selector(s.cel.expression, i, class_name)
            for i, s in enumerate(device_class.spec.selectors)
            if s.cel is not None
        ) + tuple(
            Selector(s.cel.expression, i, None)
            for i, s in enumerate(selectors)
            if s.cel is not None
        )
        binding = "binding:on" if self.features.device_binding_and_status else "binding:off"
        prepared = PreparedRequest(
            selector_key=(binding, *(s.expression for s in compiled)),
            claim_index=claim_index,
            request_name=request_name,
            result_name=result_name,
            class_name=class_name,
            device_class=device_class,
            selectors=compiled,
            admin=bool(admin_access),
            all_mode=False,
            needed=0,
            tolerations=tolerations,
            capacity_requests={k: v.nano for k, v in capacity.items()},
            has_subrequests=has_subrequests,
        )
        mode = mode or ALLOCATION_MODE_EXACT_COUNT
        if mode == ALLOCATION_MODE_EXACT_COUNT:
            prepared.needed = count if count else 1
        elif mode == ALLOCATION_MODE_ALL:
            prepared.all_mode = True
            for pool in self.pools:
                if pool.state is PoolState.INCOMPLETE:
                    raise AllocationError(
                        f"{label}: asks for all devices, but resource pool {pool.key} is "
                        "currently being updated"
                    )
                if pool.state is PoolState.INVALID:
                    raise AllocationError(
                        f"{label}: asks for all devices, but resource pool {pool.key} is "
                        "currently invalid"
                    )
            for entry, pool in self.selectable_candidates(prepared):
                if pool is None:
                    self.selectable_reason(entry, prepared)  # raises the selector's error
                if self.features.consumable_capacity and (
                    self.capacity_problem(entry, prepared, committed_only=True) is not None
                ):
                    continue
                prepared.all_devices.append((entry, pool))
            prepared.needed = len(prepared.all_devices)
        else:
            raise AllocationError(f"{label}: unsupported count mode {mode}")
        return prepared

    # ---------------------------------------------------------------- device checks (6.6)

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
        shortfall = first_shortfall(entry.capacity, amounts, committed, in_flight)
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
                    claim_ref = self.prepared[request.claim_index].ref
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
                share_id = self.options.share_ids()
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

    # ----------------------------------------------------------------------- search (6.5)

    def _tick(self) -> None:
        self.steps += 1
        if self.steps == self.prune_at and check_with_state(self):
            raise Unsatisfiable
        if (
            self.deadline is not None
            and not self.steps & 63
            and self.options.clock() > self.deadline
        ):
            raise AllocationGaveUp("timed out trying to allocate devices")

    def solve_request(self, claim_index: int, request_index: int) -> SearchOutcome:
        if claim_index == len(self.prepared):
            return True
        prepared = self.prepared[claim_index]
        if request_index == len(prepared.requests):
            outcome = self.solve_request(claim_index + 1, 0)
            # The 32-result limit is per claim: it does not propagate to earlier claims.
            return False if outcome is TOO_MANY else outcome
        alternatives = prepared.requests[request_index]
        if not alternatives[0].has_subrequests:
            return self.solve_devices(alternatives[0], request_index, 0, 0)
        every_too_many = True
        for alternative in alternatives:
            outcome = self.solve_devices(alternative, request_index, 0, 0)
            if outcome is True:
                return True
            if outcome is not TOO_MANY:
                every_too_many = False
        return TOO_MANY if every_too_many else False

    def solve_devices(
        self, request: PreparedRequest, request_index: int, done: int, start: int
    ) -> SearchOutcome:
        if request.all_mode and request.needed == 0:
            return False
        if done == request.needed:
            return self.solve_request(request.claim_index, request_index + 1)
        claim_index = request.claim_index
        if len(self.picks[claim_index]) + request.needed - done > MAX_RESULTS_PER_CLAIM:
            return TOO_MANY
        if request.all_mode:
            self._tick()
            entry, pool = request.all_devices[done]
            if self.try_allocate(entry, pool, request, must=True) is not None:
                return False
            outcome = self.solve_devices(request, request_index, done + 1, 0)
            if outcome is True:
                return True
            self.undo(claim_index)
            return outcome
        candidates = self.selectable_candidates(request)
        if self.device_order is not None:
            candidates = self._in_preferred_order(request, candidates)
        consumable = self.consumable
        for position in range(start, len(candidates)):
            # Every candidate tried is a step, so a long scan is bounded by the deadline too.
            self._tick()
            entry, pool = candidates[position]
            if self.in_use(entry, request):
                continue
            if pool is None:
                self.selectable_reason(entry, request)  # raises the selector's error
            if consumable and self.capacity_problem(entry, request) is not None:
                continue
            if self.try_allocate(entry, pool, request, must=False) is not None:
                continue
            outcome = self.solve_devices(request, request_index, done + 1, position + 1)
            if outcome is True:
                return True
            self.undo(claim_index)
            if outcome is TOO_MANY:
                return TOO_MANY
        return False

    def _in_preferred_order(
        self, request: PreparedRequest, candidates: list[tuple[DeviceEntry, Pool]]
    ) -> list[tuple[DeviceEntry, Pool]]:
        """The candidates sorted by the caller's preference (stable: ties keep candidate
        order), once per attempt and selector set: the state a preference reads does not
        change during one attempt."""
        ordered = self._ordered.get(request.selector_key)
        if ordered is None:
            order = self.device_order
            assert order is not None
            ordered = sorted(candidates, key=lambda item: order(item[0].key))
            self._ordered[request.selector_key] = ordered
        return ordered

    def search(self) -> bool:
        """Whether an allocation exists (the picks are then in `picks`): the checks of
        pruning.py where they are switched on, then the depth-first search. The checks
        answer only where the search would answer "no" without an error."""
        options = self.options
        # With at most one device to find, the search is one scan of the candidates, which
        # no check could shorten.
        prepared = self.prepared
        if options.prune_unsatisfiable and (
            len(prepared) > 1 or (prepared and prepared[0].most_devices > 1)
        ):
            if check_before_search(self):
                return False
            if options.prune_after_steps == 0:
                if check_with_state(self):
                    return False
            else:
                self.prune_at = options.prune_after_steps
        try:
            return self.solve_request(0, 0) is True
        except Unsatisfiable:
            return False

    def run(self) -> list[AllocationResult] | None:
        self.prepare()
        if self.search():
            return [build_result(self, i) for i in range(len(self.prepared))]
        if any(pool.state is PoolState.INVALID for pool in self.pools):
            raise NodeFailure("invalid resource pools were encountered")
        return None

    # ---------------------------------------------------------------------- results (6.12)
