"""API validation of resource.k8s.io/v1, core/v1, policy/v1, node.k8s.io/v1 and
scheduling.k8s.io/v1 PriorityClass objects (spec/dra-v1.md section 4).

`validate(obj)` returns every problem of one decoded object as (field path, message). The rules
live in `base` (names, formats, the shared validator, DeviceClass), `slices` (ResourceSlice),
`claims` (ResourceClaim, ResourceClaimTemplate, Pod), `policy` (PodDisruptionBudget),
`runtimeclass` (RuntimeClass) and `priorityclass` (PriorityClass, and the one-global-default
rule across the input's classes); `base`'s docstring lists where dralloc deliberately differs
from upstream's validation code. Workload controllers' objects (apps/v1, batch/v1, JobSet,
LeaderWorkerSet) get their metadata checked (a name or a valid generateName, namespace,
labels), as every API object does.
"""

from __future__ import annotations

from typing import Any

from dralloc.api.core import Node, Pod, PriorityClass, RuntimeClass
from dralloc.api.policy import PodDisruptionBudget
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
from dralloc.api.validation.policy import pod_disruption_budget
from dralloc.api.validation.priorityclass import priority_class, second_global_defaults
from dralloc.api.validation.runtimeclass import runtime_class
from dralloc.api.validation.slices import _resource_slice, _taint
from dralloc.api.workloads import WORKLOAD_KINDS

__all__ = ["is_extended_resource_name", "second_global_defaults", "validate"]


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
    elif isinstance(obj, PodDisruptionBudget):
        pod_disruption_budget(v, obj)
    elif isinstance(obj, RuntimeClass):
        runtime_class(v, obj)
    elif isinstance(obj, PriorityClass):
        priority_class(v, obj)
    elif any(isinstance(obj, cls) for cls, _ in WORKLOAD_KINDS.values()):
        v.metadata(obj.metadata, namespaced=True)
    return v.problems
