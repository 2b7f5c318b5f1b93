"""API validation of resource.k8s.io/v1 and core/v1 objects (spec/dra-v1.md section 4).

Owns: every rule the API server applies when an object is created, for DeviceClass,
ResourceSlice, ResourceClaim (spec and status) and ResourceClaimTemplate, with every feature
gate enabled (a field of a gated feature is never an error here; the allocator decides what
it means when the gate is off), plus light checks of Node and Pod (names, pod claim
references). Pure computation, no I/O, nothing raised: `validate(obj)` returns every problem
as a (field path, message) pair, the path in wire (camelCase) form such as
`spec.devices.requests[1].exactly.count`, map keys in brackets (`attributes[model]`).

Not here: compiling CEL (the api layer must not import `dralloc.cel`; the CEL layer checks
expressions), rules that span objects (pool-wide device and counter-set names, generations:
the allocator's business, spec section 6.3), update-only rules (immutability, no new
`reservedFor` entries while deleting), and the admission check of `adminAccess` against
namespace labels.

Messages follow the API server's wording where it exists, in its forms
(`Invalid value: "X": ...`, `Required value`, `Duplicate value: "X"`,
`Unsupported value: "X": supported values: ...`, `Too many: 33: must have at most 32 items`);
numeric rules say what was expected and what was found (`must be greater than zero, got 0`).
As upstream does, a list over its size limit gets only the "Too many" problem, its entries
are not checked further.

Deliberate differences from upstream's validation code (each has a test):

- A toleration with an empty key must use `Exists`, as the API documentation says; the
  upstream validation code does not check it.
- `validRange.min` must be >= 0 even without a step, and a `default` or `max` that is not
  `min + n*step` is reported at that field rather than at `step`; steps use exact arithmetic.
- A per-device `nodeSelector` may have several terms (upstream checks one term only for the
  slice-level selector).
"""

from __future__ import annotations

from typing import Any

from dralloc.api.core import Node, Pod
from dralloc.api.resource import (
    DeviceClass,
    DeviceTaintRule,
    ResourceClaim,
    ResourceClaimTemplate,
    ResourceSlice,
)
from dralloc.api.validation.base import (
    Problem,
    _device_class,
    _Validator,
    is_extended_resource_name,
)
from dralloc.api.validation.claims import _claim_spec, _claim_status, _claim_template, _pod
from dralloc.api.validation.slices import _resource_slice, _taint

__all__ = ["is_extended_resource_name", "validate"]


# --------------------------------------------------------------------------------- entry point


def validate(obj: Any) -> list[Problem]:
    """All validation problems of one decoded object, as (field path, message) pairs.

    Objects of kinds not listed in the module docstring have no rules here: [].
    """
    v = _Validator()
    if isinstance(obj, DeviceClass):
        _device_class(v, obj)
    elif isinstance(obj, ResourceSlice):
        _resource_slice(v, obj)
    elif isinstance(obj, ResourceClaim):
        v.metadata(obj.metadata, namespaced=True)
        names = _claim_spec(v, "spec", obj.spec.devices)
        _claim_status(v, obj.status, names)
    elif isinstance(obj, ResourceClaimTemplate):
        _claim_template(v, obj)
    elif isinstance(obj, Node):
        v.metadata(obj.metadata, namespaced=False)
    elif isinstance(obj, DeviceTaintRule):
        v.metadata(obj.metadata, namespaced=False)
        _taint(v, "spec.taint", obj.spec.taint)
    elif isinstance(obj, Pod):
        _pod(v, obj)
    return v.problems
