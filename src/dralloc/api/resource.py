"""resource.k8s.io/v1 objects: DeviceClass, ResourceSlice, ResourceClaim, ResourceClaimTemplate.

Pure data, no I/O, no validation (that is `dralloc.api.validation`). The structs mirror
k8s.io/api/resource/v1 field for field; Python names are snake_case, wire names camelCase.
Semantics of every field are in spec/dra-v1.md section 2.
"""

from __future__ import annotations

from typing import Any

import msgspec

from dralloc.api.core import NodeSelector
from dralloc.api.meta import Base, ObjectMeta
from dralloc.api.quantity import Quantity

RESOURCE_API_VERSION = "resource.k8s.io/v1"

ALLOCATION_MODE_EXACT_COUNT = "ExactCount"
ALLOCATION_MODE_ALL = "All"

# ---------------------------------------------------------------------------------- selectors


class CELDeviceSelector(Base):
    expression: str = ""


class DeviceSelector(Base):
    cel: CELDeviceSelector | None = None


class OpaqueDeviceConfiguration(Base):
    driver: str = ""
    parameters: Any = None


# ------------------------------------------------------------------------------- DeviceClass


class DeviceClassConfiguration(Base):
    opaque: OpaqueDeviceConfiguration | None = None


class DeviceClassSpec(Base):
    selectors: list[DeviceSelector] = msgspec.field(default_factory=list)
    config: list[DeviceClassConfiguration] = msgspec.field(default_factory=list)
    extended_resource_name: str | None = None


class DeviceClass(Base):
    api_version: str = RESOURCE_API_VERSION
    kind: str = "DeviceClass"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: DeviceClassSpec = msgspec.field(default_factory=DeviceClassSpec)


# ----------------------------------------------------------------------------- ResourceSlice


class DeviceAttribute(Base):
    """Exactly one field is set (validation checks it). List kinds need DRAListTypeAttributes."""

    int_value: int | None = msgspec.field(default=None, name="int")
    bool_value: bool | None = msgspec.field(default=None, name="bool")
    string: str | None = None
    version: str | None = None
    ints: list[int] | None = None
    bools: list[bool] | None = None
    strings: list[str] | None = None
    versions: list[str] | None = None


class CapacityRequestPolicyRange(Base):
    min: Quantity | None = None
    max: Quantity | None = None
    step: Quantity | None = None


class CapacityRequestPolicy(Base):
    default: Quantity | None = None
    valid_values: list[Quantity] | None = None
    valid_range: CapacityRequestPolicyRange | None = None


class DeviceCapacity(Base):
    value: Quantity
    request_policy: CapacityRequestPolicy | None = None


class Counter(Base):
    value: Quantity


class CounterSet(Base):
    name: str = ""
    counters: dict[str, Counter] = msgspec.field(default_factory=dict)


class DeviceCounterConsumption(Base):
    counter_set: str = ""
    counters: dict[str, Counter] = msgspec.field(default_factory=dict)


class DeviceTaint(Base):
    key: str = ""
    value: str = ""
    effect: str = ""
    time_added: str | None = None


class Device(Base):
    name: str = ""
    attributes: dict[str, DeviceAttribute] = msgspec.field(default_factory=dict)
    capacity: dict[str, DeviceCapacity] = msgspec.field(default_factory=dict)
    consumes_counters: list[DeviceCounterConsumption] = msgspec.field(default_factory=list)
    node_name: str | None = None
    node_selector: NodeSelector | None = None
    all_nodes: bool | None = None
    taints: list[DeviceTaint] = msgspec.field(default_factory=list)
    binds_to_node: bool | None = None
    binding_conditions: list[str] = msgspec.field(default_factory=list)
    binding_failure_conditions: list[str] = msgspec.field(default_factory=list)
    allow_multiple_allocations: bool | None = None
    node_allocatable_resource_mappings: dict[str, Any] | None = None


class ResourcePool(Base):
    name: str = ""
    generation: int = 0
    resource_slice_count: int = 0


class ResourceSliceSpec(Base):
    driver: str = ""
    pool: ResourcePool = msgspec.field(default_factory=ResourcePool)
    node_name: str | None = None
    node_selector: NodeSelector | None = None
    all_nodes: bool | None = None
    per_device_node_selection: bool | None = None
    devices: list[Device] = msgspec.field(default_factory=list)
    shared_counters: list[CounterSet] = msgspec.field(default_factory=list)


class ResourceSlice(Base):
    api_version: str = RESOURCE_API_VERSION
    kind: str = "ResourceSlice"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: ResourceSliceSpec = msgspec.field(default_factory=ResourceSliceSpec)


# ----------------------------------------------------------------------------- ResourceClaim


class DeviceToleration(Base):
    key: str = ""
    operator: str = ""
    value: str = ""
    effect: str = ""
    toleration_seconds: int | None = None


class CapacityRequirements(Base):
    requests: dict[str, Quantity] = msgspec.field(default_factory=dict)


class ExactDeviceRequest(Base):
    device_class_name: str = ""
    selectors: list[DeviceSelector] = msgspec.field(default_factory=list)
    allocation_mode: str = ""
    count: int | None = None
    admin_access: bool | None = None
    tolerations: list[DeviceToleration] = msgspec.field(default_factory=list)
    capacity: CapacityRequirements | None = None


class DeviceSubRequest(Base):
    name: str = ""
    device_class_name: str = ""
    selectors: list[DeviceSelector] = msgspec.field(default_factory=list)
    allocation_mode: str = ""
    count: int | None = None
    tolerations: list[DeviceToleration] = msgspec.field(default_factory=list)
    capacity: CapacityRequirements | None = None


class DeviceRequest(Base):
    name: str = ""
    exactly: ExactDeviceRequest | None = None
    first_available: list[DeviceSubRequest] | None = None


class DeviceConstraint(Base):
    requests: list[str] = msgspec.field(default_factory=list)
    match_attribute: str | None = None
    distinct_attribute: str | None = None


class DeviceClaimConfiguration(Base):
    requests: list[str] = msgspec.field(default_factory=list)
    opaque: OpaqueDeviceConfiguration | None = None


class DeviceClaim(Base):
    requests: list[DeviceRequest] = msgspec.field(default_factory=list)
    constraints: list[DeviceConstraint] = msgspec.field(default_factory=list)
    config: list[DeviceClaimConfiguration] = msgspec.field(default_factory=list)


class ResourceClaimSpec(Base):
    devices: DeviceClaim = msgspec.field(default_factory=DeviceClaim)


class DeviceRequestAllocationResult(Base):
    request: str
    driver: str
    pool: str
    device: str
    admin_access: bool | None = None
    tolerations: list[DeviceToleration] = msgspec.field(default_factory=list)
    binding_conditions: list[str] = msgspec.field(default_factory=list)
    binding_failure_conditions: list[str] = msgspec.field(default_factory=list)
    share_id: str | None = msgspec.field(default=None, name="shareID")
    consumed_capacity: dict[str, Quantity] = msgspec.field(default_factory=dict)


class DeviceAllocationConfiguration(Base):
    source: str
    requests: list[str] = msgspec.field(default_factory=list)
    opaque: OpaqueDeviceConfiguration | None = None


class DeviceAllocationResult(Base):
    results: list[DeviceRequestAllocationResult] = msgspec.field(default_factory=list)
    config: list[DeviceAllocationConfiguration] = msgspec.field(default_factory=list)


class AllocationResult(Base):
    devices: DeviceAllocationResult = msgspec.field(default_factory=DeviceAllocationResult)
    node_selector: NodeSelector | None = None
    allocation_timestamp: str | None = None


class ResourceClaimConsumerReference(Base):
    api_group: str = ""
    resource: str = ""
    name: str = ""
    uid: str = ""


class AllocatedDeviceStatus(Base):
    driver: str = ""
    pool: str = ""
    device: str = ""
    share_id: str | None = msgspec.field(default=None, name="shareID")
    conditions: list[Any] = msgspec.field(default_factory=list)
    data: Any = None
    network_data: Any = None


class ResourceClaimStatus(Base):
    allocation: AllocationResult | None = None
    reserved_for: list[ResourceClaimConsumerReference] = msgspec.field(default_factory=list)
    devices: list[AllocatedDeviceStatus] = msgspec.field(default_factory=list)


class ResourceClaim(Base):
    api_version: str = RESOURCE_API_VERSION
    kind: str = "ResourceClaim"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: ResourceClaimSpec = msgspec.field(default_factory=ResourceClaimSpec)
    status: ResourceClaimStatus = msgspec.field(default_factory=ResourceClaimStatus)


class ResourceClaimTemplateSpec(Base):
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: ResourceClaimSpec = msgspec.field(default_factory=ResourceClaimSpec)


class ResourceClaimTemplate(Base):
    api_version: str = RESOURCE_API_VERSION
    kind: str = "ResourceClaimTemplate"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: ResourceClaimTemplateSpec = msgspec.field(default_factory=ResourceClaimTemplateSpec)


# --------------------------------------------------------------------------- DeviceTaintRule


class DeviceTaintSelector(Base):
    """Which devices a rule taints; every field set must match (unset = any)."""

    driver: str | None = None
    pool: str | None = None
    device: str | None = None


class DeviceTaintRuleSpec(Base):
    device_selector: DeviceTaintSelector | None = None
    taint: DeviceTaint = msgspec.field(default_factory=DeviceTaint)


class DeviceTaintRule(Base):
    """Cluster-scoped rule adding a taint to selected devices (resource.k8s.io/v1beta2 in
    1.36, gate DRADeviceTaintRules, off by default)."""

    api_version: str = "resource.k8s.io/v1beta2"
    kind: str = "DeviceTaintRule"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: DeviceTaintRuleSpec = msgspec.field(default_factory=DeviceTaintRuleSpec)
    status: Any = None

    def selects(self, driver: str, pool: str, device: str) -> bool:
        selector = self.spec.device_selector
        if selector is None:
            return False  # an absent selector selects nothing
        return (
            (selector.driver is None or selector.driver == driver)
            and (selector.pool is None or selector.pool == pool)
            and (selector.device is None or selector.device == device)
        )
