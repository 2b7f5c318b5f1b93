"""Building allocation results exactly as upstream does (spec 6.12).

Pure computation over a finished attempt: `devices.results` in pick order, `devices.config`
(class part first, then claim part, with upstream's quirk 1), and the result `nodeSelector`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from dralloc.allocator.capacity import readable_quantity
from dralloc.allocator.nodeselection import merge_terms, node_name_selector
from dralloc.allocator.prepared import PreparedClaim, PreparedRequest
from dralloc.api.core import NodeSelector, NodeSelectorTerm
from dralloc.api.resource import (
    AllocationResult,
    DeviceAllocationConfiguration,
    DeviceAllocationResult,
    DeviceRequestAllocationResult,
    DeviceToleration,
)

if TYPE_CHECKING:
    from dralloc.allocator.attempt import Attempt


def _defaulted(tolerations: list[DeviceToleration]) -> list[DeviceToleration]:
    """Copies of the request's tolerations with the API default operator (Equal) filled in,
    for objects built in code that skipped API defaulting."""
    return [t if t.operator else msgspec.structs.replace(t, operator="Equal") for t in tolerations]


def build_result(attempt: Attempt, claim_index: int) -> AllocationResult:
    features = attempt.features
    binds = features.device_binding_and_status
    prepared = attempt.prepared[claim_index]
    results: list[DeviceRequestAllocationResult] = []
    chosen: dict[str, PreparedRequest] = {}
    for pick in attempt.eligibility.picks[claim_index]:
        request = pick.request
        chosen[request.request_name] = request
        device = pick.entry.device
        key = pick.entry.key
        result = DeviceRequestAllocationResult(
            request=request.result_name,
            driver=key.driver,
            pool=key.pool,
            device=key.device,
            admin_access=True if request.admin else None,
            # Copied whatever DRADeviceTaints says, as upstream's allocator does; the API
            # server drops them on write while the gate is off.
            tolerations=_defaulted(request.tolerations) if request.tolerations else [],
            share_id=pick.share_id,
        )
        # The fields default to empty lists: copy only what a device declares.
        if binds and device.binding_conditions:
            result.binding_conditions = list(device.binding_conditions)
        if binds and device.binding_failure_conditions:
            result.binding_failure_conditions = list(device.binding_failure_conditions)
        if pick.consumed:
            result.consumed_capacity = {
                name: readable_quantity(amount) for name, amount in pick.consumed.items()
            }
        results.append(result)
    return AllocationResult(
        devices=DeviceAllocationResult(results=results, config=_build_config(prepared, chosen)),
        node_selector=_build_node_selector(attempt, claim_index),
    )


def _build_config(
    prepared: PreparedClaim, chosen: dict[str, PreparedRequest]
) -> list[DeviceAllocationConfiguration]:
    config: list[DeviceAllocationConfiguration] = []
    by_class: dict[str, list[DeviceAllocationConfiguration]] = {}
    ordered = [
        chosen[alts[0].request_name] for alts in prepared.requests if alts[0].request_name in chosen
    ]
    for request in ordered:
        entries = by_class.get(request.class_name)
        if entries is not None:
            for entry in entries:
                entry.requests.append(request.result_name)
            continue
        entries = []
        for class_config in request.device_class.spec.config:
            item = DeviceAllocationConfiguration(
                source="FromClass",
                requests=[request.result_name],
                opaque=class_config.opaque,
            )
            entries.append(item)
            config.append(item)
        by_class[request.class_name] = entries
    for claim_config in prepared.claim.spec.devices.config:
        if not claim_config.requests:
            config.append(
                DeviceAllocationConfiguration(source="FromClaim", opaque=claim_config.opaque)
            )
            continue
        named = set(claim_config.requests)
        for request in ordered:
            # Quirk 1 (upstream): a config naming k chosen requests is emitted k times.
            if request.request_name in named or (
                request.has_subrequests and request.result_name in named
            ):
                config.append(
                    DeviceAllocationConfiguration(
                        source="FromClaim",
                        requests=list(claim_config.requests),
                        opaque=claim_config.opaque,
                    )
                )
    return config


def _build_node_selector(attempt: Attempt, claim_index: int) -> NodeSelector | None:
    terms: list[NodeSelectorTerm] = []
    binds = attempt.features.device_binding_and_status
    for pick in attempt.eligibility.picks[claim_index]:
        spec = pick.entry.slice.spec
        device = pick.entry.device
        if spec.node_name or (binds and device.binds_to_node):
            return node_name_selector(attempt.node.metadata.name)
        if spec.per_device_node_selection:
            if device.node_name:
                return node_name_selector(attempt.node.metadata.name)
            if device.node_selector is not None and device.node_selector.node_selector_terms:
                terms.append(device.node_selector.node_selector_terms[0])
        elif spec.node_selector is not None and spec.node_selector.node_selector_terms:
            terms.append(spec.node_selector.node_selector_terms[0])
    return merge_terms(terms)
