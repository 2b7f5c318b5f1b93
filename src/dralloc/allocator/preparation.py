"""Preparation of claims for the DRA structured allocator (spec/dra-v1.md section 6.4).

Turns each claim of an attempt into a `PreparedClaim` before the search: every request (or,
for a firstAvailable request, every subrequest in order) becomes a `PreparedRequest` with its
DeviceClass, its class and request selectors (class first, compiled on first use), how many
devices it needs, its tolerations and capacity requests; every constraint becomes a
`ConstraintChecker` attached to the requests it names. Claims the features or the API do not
allow (subrequests without DRAPrioritizedList, capacity without DRAConsumableCapacity, admin
access without DRAAdminAccess, a missing class, more than 32 results) fail here with
upstream's messages.

Design notes:
* A prepared claim without `All` requests does not depend on the node, so the `Allocator`
  keeps it (see `Allocator.cached_preparation`); an `All` request fixes its devices here (the
  node's selectable candidates, less those that cannot give it its capacity given committed
  shares), so its claim is prepared again on every node.
* `PreparedRequest.selector_key` names the selector set (and whether binding conditions are
  honoured): the node view caches selectable candidates under it.
* Nothing here reads or changes the in-flight picks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from dralloc.allocator.constraints import ConstraintChecker
from dralloc.allocator.errors import AllocationError
from dralloc.allocator.inventory import PoolState
from dralloc.allocator.prepared import (
    MAX_RESULTS_PER_CLAIM,
    PreparedClaim,
    PreparedRequest,
    Selector,
)
from dralloc.api.quantity import Quantity
from dralloc.api.resource import (
    ALLOCATION_MODE_ALL,
    ALLOCATION_MODE_EXACT_COUNT,
    DeviceSelector,
    DeviceToleration,
)

if TYPE_CHECKING:
    from dralloc.allocator.attempt import Attempt


def prepare_claim(attempt: Attempt, claim_index: int) -> PreparedClaim:
    """Prepare claim `claim_index` of `attempt`; raises AllocationError for a claim that
    cannot be allocated anywhere."""
    features = attempt.features
    claim = attempt.claims[claim_index]
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
                    _prepare_request(
                        attempt,
                        claim_index=claim_index,
                        claim_ref=ref,
                        request_name=request.name,
                        result_name=f"{request.name}/{sub.name}",
                        class_name=sub.device_class_name,
                        selectors=sub.selectors,
                        mode=sub.allocation_mode,
                        count=sub.count,
                        admin_access=None,
                        tolerations=sub.tolerations,
                        capacity=sub.capacity.requests if sub.capacity else {},
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
        prepared = _prepare_request(
            attempt,
            claim_index=claim_index,
            claim_ref=ref,
            request_name=request.name,
            result_name=request.name,
            class_name=exact.device_class_name,
            selectors=exact.selectors,
            mode=exact.allocation_mode,
            count=exact.count,
            admin_access=exact.admin_access,
            tolerations=exact.tolerations,
            capacity=exact.capacity.requests if exact.capacity else {},
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
                list_types=features.list_type_attributes,
                pairwise=attempt.options.pairwise_distinct_attribute,
            )
        )
    for alternatives in requests:
        for prepared in alternatives:
            prepared.constraints = tuple(
                c for c in constraints if c.applies(prepared.request_name, prepared.result_name)
            )
    return PreparedClaim(claim, ref, requests, constraints)


def _prepare_request(
    attempt: Attempt,
    *,
    claim_index: int,
    claim_ref: str,
    request_name: str,
    result_name: str,
    class_name: str,
    selectors: list[DeviceSelector],
    mode: str,
    count: int | None,
    admin_access: bool | None,
    tolerations: list[DeviceToleration],
    capacity: Mapping[str, Quantity],
    has_subrequests: bool,
) -> PreparedRequest:
    features = attempt.features
    label = f"claim {claim_ref}, request {result_name}"
    for i, selector in enumerate(selectors):
        if selector.cel is None or not selector.cel.expression:
            raise AllocationError(
                f"{label}, selector #{i}: CEL expression empty (unsupported selector type?)"
            )
    if admin_access is not None and not features.admin_access:
        raise AllocationError(f"{label}: admin access is requested, but the feature is disabled")
    if not class_name:
        raise AllocationError(f"{label}: missing device class name (unsupported request type?)")
    device_class = attempt.classes.get(class_name)
    if device_class is None:
        raise AllocationError(
            f"{label}: could not retrieve device class {class_name}: "
            f'deviceclass.resource.k8s.io "{class_name}" not found'
        )
    compiled = tuple(
        Selector(expression=s.cel.expression, index=i, class_name=class_name)
        for i, s in enumerate(device_class.spec.selectors)
        if s.cel is not None
    ) + tuple(
        Selector(expression=s.cel.expression, index=i, class_name=None)
        for i, s in enumerate(selectors)
        if s.cel is not None
    )
    binding = "binding:on" if features.device_binding_and_status else "binding:off"
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
        for pool in attempt.pools:
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
        eligibility = attempt.eligibility
        for entry, pool in eligibility.selectable_candidates(prepared):
            if pool is None:
                eligibility.selectable_reason(entry, prepared)  # raises the selector's error
            if features.consumable_capacity and (
                eligibility.capacity_problem(entry, prepared, committed_only=True) is not None
            ):
                continue
            prepared.all_devices.append((entry, pool))
        prepared.needed = len(prepared.all_devices)
    else:
        raise AllocationError(f"{label}: unsupported count mode {mode}")
    return prepared
