"""DRA in quota terms (spec/queueing.md section 7): what a pod's ResourceClaimTemplates charge.

Owns: `DeviceClassMapping` (Kueue's `resources.deviceClassMappings`, with its counting modes)
and `claim_charges`, which turns one pod's claim templates into logical quota resources.
Kueue never allocates devices and neither does this module; it only counts. Pure
computation: ResourceSlices and DeviceClasses are passed in, CEL comes from `dralloc.cel`.

Kueue's three modes, chosen per mapping (section 7.2):

* device count (no `sources`): the mapping's `name` is charged `count` per request;
* counter (`sources: [{counter: {name, driver, deviceSelector}}]`): the largest
  `consumesCounters[name]` among the driver's devices that match the mapping's selector, the
  class's and the request's selectors, times `count`, in counter units (`40Gi` of memory);
* capacity (`sources: [{capacity: {...}}]`): the request's `capacity.requests[name]`, else the
  device's `requestPolicy.default`, else its full capacity, rounded up to what the
  `requestPolicy` allows, the largest over matching devices, times `count`.

**dralloc extension: quota keys that need no configuration.** Besides the mappings, every
request of an `exactly` claim is also charged under three families of keys, which a
ClusterQueue may list in `coveredResources` like any resource:

* `devices.dralloc.io/<deviceClassName>`: devices of that class (a MIG slice and a whole GPU
  both count 1), e.g. `devices.dralloc.io/gpu.nvidia.com`;
* `<driver>/counter.<counterName>`: the shared counters the request consumes (partitionable
  devices, KEP-4815: MIG memory slices), conservative as Kueue's counter mode, e.g.
  `gpu.nvidia.com/counter.memory: 40Gi`;
* `<driver>/capacity.<capacityName>`: consumable capacity (KEP-5075) of devices that allow
  multiple allocations (GPU memory, MPS thread percentage), e.g.
  `gpu.nvidia.com/capacity.memory: 10Gi`.

Unlike ordinary resources, an extension key a ClusterQueue does not cover is ignored by that
queue (Kueue's `IgnoreUndeclared` strategy, for these keys only), so adding the extension never
makes a workload NoFit. With the extension on, a DeviceClass no mapping names is charged only
under these keys instead of making the Workload inadmissible, as Kueue does.

Refused as Kueue refuses them (the Workload is inadmissible, with the message): a direct
`resourceClaimName`, `firstAvailable`, `allocationMode: All`, a template that does not exist,
and (extension off) a DeviceClass no mapping names. `adminAccess` requests charge nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from dralloc.api.core import PodSpec
from dralloc.api.quantity import Quantity
from dralloc.api.resource import (
    Device,
    DeviceClass,
    ExactDeviceRequest,
    ResourceClaimTemplate,
    ResourceSlice,
)
from dralloc.cel import CelCompileError, CelDevice, CelEnvironment, CelRuntimeError
from dralloc.features import Features

DEVICES_PREFIX: Final = "devices.dralloc.io/"
COUNTER_INFIX: Final = "/counter."
CAPACITY_INFIX: Final = "/capacity."


def device_count_key(device_class: str) -> str:
    return f"{DEVICES_PREFIX}{device_class}"


def counter_key(driver: str, counter: str) -> str:
    return f"{driver}{COUNTER_INFIX}{counter}"


def capacity_key(driver: str, capacity: str) -> str:
    return f"{driver}{CAPACITY_INFIX}{capacity}"


def is_extension_key(resource: str) -> bool:
    """A dralloc extension key (ignored by a ClusterQueue that does not cover it)."""
    return (
        resource.startswith(DEVICES_PREFIX)
        or COUNTER_INFIX in resource
        or CAPACITY_INFIX in resource
    )


@dataclass(frozen=True)
class MappingSource:
    """One `sources[]` entry: `kind` is "counter" or "capacity"."""

    kind: str
    name: str
    driver: str
    device_selector: str = ""


@dataclass(frozen=True)
class DeviceClassMapping:
    """`resources.deviceClassMappings[]`: the logical resource `name` stands for the classes.

    >>> DeviceClassMapping("example.com/gpu", ("gpu.example.com",)).mode
    'device'
    """

    name: str
    device_class_names: tuple[str, ...]
    sources: tuple[MappingSource, ...] = ()

    @property
    def mode(self) -> str:
        return self.sources[0].kind if self.sources else "device"


@dataclass(frozen=True)
class DraQuotaConfig:
    """How claims count: Kueue's mappings, plus dralloc's extension keys (on by default)."""

    mappings: tuple[DeviceClassMapping, ...] = ()
    extension_keys: bool = True


@dataclass
class DraInventory:
    """What counting reads: DeviceClasses, ResourceSlices and claim templates, plus one CEL
    environment (its compiled-selector cache is owned here, bounded by the selectors seen)."""

    classes: dict[str, DeviceClass] = field(default_factory=dict)
    slices: Sequence[ResourceSlice] = ()
    templates: dict[tuple[str, str], ResourceClaimTemplate] = field(default_factory=dict)
    features: Features = field(default_factory=Features)
    _env: CelEnvironment | None = None

    def env(self) -> CelEnvironment:
        if self._env is None:
            self._env = CelEnvironment(self.features)
        return self._env

    def devices(self, driver: str | None = None) -> Iterable[tuple[str, Device]]:
        for slice_ in self.slices:
            if driver is None or slice_.spec.driver == driver:
                for device in slice_.spec.devices:
                    yield slice_.spec.driver, device


@dataclass
class Charges:
    """Per-pod quota charges of one pod's claims, or why they cannot be counted."""

    amounts: dict[str, Quantity] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def add(self, resource: str, value: Quantity) -> None:
        have = self.amounts.get(resource)
        self.amounts[resource] = value if have is None else have + value


def _matches(
    inventory: DraInventory, driver: str, device: Device, expressions: Sequence[str]
) -> bool:
    if not expressions:
        return True
    cel_device = CelDevice.build(driver, device, inventory.features)
    env = inventory.env()
    try:
        return all(env.compile(expr).evaluate(cel_device) for expr in expressions)
    except (CelCompileError, CelRuntimeError):
        return False


def _selectors(inventory: DraInventory, request: ExactDeviceRequest) -> list[str]:
    found = inventory.classes.get(request.device_class_name)
    exprs = [s.cel.expression for s in found.spec.selectors if s.cel] if found else []
    return exprs + [s.cel.expression for s in request.selectors if s.cel]


def _rounded_capacity(wanted: Quantity, capacity: Quantity, device: Device, name: str) -> Quantity:
    policy = device.capacity[name].request_policy
    if policy is None:
        return wanted
    if policy.valid_values:
        fitting = sorted(v for v in policy.valid_values if v >= wanted)
        return fitting[0] if fitting else capacity
    rng = policy.valid_range
    if rng is not None:
        low = rng.min if rng.min is not None else Quantity(0)
        value = max(wanted, low)
        if rng.step is not None and rng.step.nano > 0:
            steps = -(-(value.nano - low.nano) // rng.step.nano)
            value = Quantity.from_nano(low.nano + steps * rng.step.nano, capacity.format)
        return value
    return wanted


def _capacity_of(request: ExactDeviceRequest, device: Device, name: str) -> Quantity | None:
    cap = device.capacity.get(name)
    if cap is None:
        return None
    wanted = None
    if request.capacity is not None:
        wanted = request.capacity.requests.get(name)
    policy = cap.request_policy
    if wanted is None and policy is not None and policy.default is not None:
        wanted = policy.default
    if wanted is None:
        return cap.value
    return _rounded_capacity(wanted, cap.value, device, name)


def _counter_of(device: Device, name: str) -> Quantity | None:
    total: Quantity | None = None
    for consumption in device.consumes_counters:
        counter = consumption.counters.get(name)
        if counter is not None:
            total = counter.value if total is None else total + counter.value
    return total


def _largest(values: Iterable[Quantity | None]) -> Quantity | None:
    best: Quantity | None = None
    for value in values:
        if value is not None and (best is None or value > best):
            best = value
    return best


def _charge_request(
    inventory: DraInventory,
    config: DraQuotaConfig,
    request: ExactDeviceRequest,
    where: str,
    charges: Charges,
) -> None:
    count = request.count if request.count is not None else 1
    class_name = request.device_class_name
    if request.admin_access:
        return  # admin access charges nothing (spec 7.1)
    mappings = [m for m in config.mappings if class_name in m.device_class_names]
    selectors = _selectors(inventory, request)
    for mapping in mappings:
        if mapping.mode == "device":
            charges.add(mapping.name, Quantity.from_int(count))
            continue
        for source in mapping.sources:
            exprs = selectors + ([source.device_selector] if source.device_selector else [])
            matching = [
                d
                for drv, d in inventory.devices(source.driver)
                if _matches(inventory, drv, d, exprs)
            ]
            pick = _counter_of if source.kind == "counter" else None
            values = (
                [pick(d, source.name) for d in matching]
                if pick is not None
                else [_capacity_of(request, d, source.name) for d in matching]
            )
            best = _largest(values)
            if best is None:
                charges.errors.append(
                    f"{where}: no device of driver {source.driver} matching DeviceClass "
                    f"{class_name} has {source.kind} {source.name!r}"
                )
                continue
            charges.add(mapping.name, best * count)
    if not config.extension_keys:
        if not mappings:
            charges.errors.append(
                f"{where}: DeviceClass {class_name} is not mapped in deviceClassMappings"
            )
        return
    charges.add(device_count_key(class_name), Quantity.from_int(count))
    matching_by_driver: dict[str, list[Device]] = {}
    for driver, device in inventory.devices():
        if _matches(inventory, driver, device, selectors):
            matching_by_driver.setdefault(driver, []).append(device)
    for driver, devices in sorted(matching_by_driver.items()):
        counters = sorted({n for d in devices for c in d.consumes_counters for n in c.counters})
        for name in counters:
            best = _largest(_counter_of(d, name) for d in devices)
            if best is not None:
                charges.add(counter_key(driver, name), best * count)
        shared = [d for d in devices if d.allow_multiple_allocations]
        for name in sorted({n for d in shared for n in d.capacity}):
            best = _largest(_capacity_of(request, d, name) for d in shared)
            if best is not None:
                charges.add(capacity_key(driver, name), best * count)


def claim_charges(
    pod: PodSpec, namespace: str, inventory: DraInventory, config: DraQuotaConfig
) -> Charges:
    """What one pod of this spec charges through its claims, per pod (not yet x count)."""
    charges = Charges()
    for i, claim in enumerate(pod.resource_claims):
        where = f"spec.resourceClaims[{i}] ({claim.name})"
        if claim.resource_claim_name:
            charges.errors.append(
                f"{where}: a ResourceClaim named directly ({claim.resource_claim_name}) is "
                "not supported; use resourceClaimTemplateName"
            )
            continue
        if not claim.resource_claim_template_name:
            continue
        template = inventory.templates.get((namespace, claim.resource_claim_template_name))
        if template is None:
            charges.errors.append(
                f"{where}: ResourceClaimTemplate {namespace}/"
                f"{claim.resource_claim_template_name} not found"
            )
            continue
        for j, request in enumerate(template.spec.spec.devices.requests):
            rwhere = (
                f"ResourceClaimTemplate {namespace}/{template.metadata.name}: "
                f"spec.spec.devices.requests[{j}]"
            )
            if request.first_available is not None or request.exactly is None:
                charges.errors.append(f"{rwhere}: FirstAvailable device selection is not supported")
                continue
            if request.exactly.allocation_mode == "All":
                charges.errors.append(f"{rwhere}: AllocationMode 'All' is not supported")
                continue
            _charge_request(inventory, config, request.exactly, rwhere, charges)
    return charges


def extended_resource_name(resource: str, inventory: DraInventory, config: DraQuotaConfig) -> str:
    """The quota name an extended resource (`nvidia.com/gpu`) is charged under (spec 7.3):
    the mapping's name when the DeviceClass Kubernetes would pick for it is mapped, else the
    resource itself."""
    declaring = [c for c in inventory.classes.values() if c.spec.extended_resource_name == resource]
    if not declaring:
        return resource
    # Kubernetes picks the newest class, ties to the first name.
    declaring.sort(key=lambda c: c.metadata.name)
    declaring.sort(key=lambda c: c.metadata.creation_timestamp or "", reverse=True)
    chosen = declaring[0].metadata.name
    for mapping in config.mappings:
        if chosen in mapping.device_class_names:
            return mapping.name
    return resource
