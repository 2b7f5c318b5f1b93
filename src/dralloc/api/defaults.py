"""API defaulting, as the API server applies it before storing (spec/dra-v1.md section 3).

Pure computation, no I/O; mutates the decoded object in place. Only what upstream defaults:
an empty allocationMode becomes ExactCount, an ExactCount count of 0 (or unset) becomes 1, an
empty toleration operator becomes Equal. Nothing else (adminAccess stays unset).
"""

from __future__ import annotations

from typing import Any

from dralloc.api.core import Pod
from dralloc.api.resource import (
    ALLOCATION_MODE_EXACT_COUNT,
    DeviceSubRequest,
    DeviceToleration,
    ExactDeviceRequest,
    ResourceClaim,
    ResourceClaimSpec,
    ResourceClaimTemplate,
)


def default_tolerations(tolerations: list[DeviceToleration]) -> None:
    for toleration in tolerations:
        if not toleration.operator:
            toleration.operator = "Equal"


def _default_request(request: ExactDeviceRequest | DeviceSubRequest) -> None:
    if not request.allocation_mode:
        request.allocation_mode = ALLOCATION_MODE_EXACT_COUNT
    if request.allocation_mode == ALLOCATION_MODE_EXACT_COUNT and not request.count:
        request.count = 1
    default_tolerations(request.tolerations)


def _default_claim_spec(spec: ResourceClaimSpec) -> None:
    for request in spec.devices.requests:
        if request.exactly is not None:
            _default_request(request.exactly)
        for sub in request.first_available or []:
            _default_request(sub)


def apply_defaults(obj: Any) -> None:
    """Default `obj` in place (claims and templates; other kinds have nothing to default).

    Namespaced objects without a namespace land in `default`, as `kubectl apply` puts them.
    """
    if isinstance(obj, ResourceClaim | ResourceClaimTemplate | Pod) and not obj.metadata.namespace:
        obj.metadata.namespace = "default"
    if isinstance(obj, ResourceClaim):
        _default_claim_spec(obj.spec)
    elif isinstance(obj, ResourceClaimTemplate):
        _default_claim_spec(obj.spec.spec)
