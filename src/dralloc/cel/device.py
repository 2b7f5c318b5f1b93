"""`CelDevice`: the `device` variable of one device, converted once and reused.

Owns the conversion of a `Device` into CEL input (spec/dra-v1.md section 5.1), mirroring
upstream's `DeviceMatches`:

- attribute and capacity names without "/" go into the driver's domain; "d/id" into domain d;
- attribute values: int, bool, string as themselves; `version` as a tagged Semver (a bad
  version string is an error); list kinds, only with DRAListTypeAttributes, as lists;
- capacities: the capacity's `value` as a tagged Quantity;
- `allowMultipleAllocations`: the device's field (false when unset), read by upstream's
  incubating and experimental allocators; its stable allocator, chosen when no gate beyond
  AdminAccess, PrioritizedList, PartitionableDevices and DeviceTaints is on, leaves it out of
  the CEL input, so it reads false there (structured/allocator.go picks the implementation;
  `SupportedFeatures` of each). The field is always declared: see `environment.py`.

Conversion of *all* attributes happens up front, so an attribute with no recognised value
poisons the device: every evaluation on it fails with "attribute <name>: unsupported
attribute value" (upstream quirk, spec section 10 item 6). The library `Context` (variables
plus the function table) is built once, on first evaluation, since rebuilding it per
evaluation costs more than the evaluation itself. Pure computation, no I/O.
"""

from __future__ import annotations

from typing import Any

from dralloc.api.resource import Device, DeviceAttribute
from dralloc.cel.binding import cel
from dralloc.cel.library import FUNCTIONS
from dralloc.cel.semver_lib import parse_version
from dralloc.cel.values import encode_quantity
from dralloc.features import Features

__all__ = ["CelDevice"]

# A plain-dict copy of the function table, made once: `cel.Context` wants a dict and copying
# the read-only mapping costs ~6 µs per device. Never mutated.
_FUNCTION_TABLE: dict[str, Any] = dict(FUNCTIONS)


class CelDevice:
    """The `device` variable for one device; build once per device and evaluate many
    selectors against it.

    >>> from dralloc.api.resource import Device, DeviceAttribute
    >>> gpu = Device(name="gpu-0", attributes={"model": DeviceAttribute(string="H100")})
    >>> CelDevice.build("gpu.example.com", gpu, Features()).driver
    'gpu.example.com'
    """

    __slots__ = ("_context", "_variable", "driver", "error")

    def __init__(self, driver: str, variable: dict[str, Any] | None, error: str | None) -> None:
        self.driver = driver
        # The runtime error every evaluation on this device raises, if any.
        self.error = error
        self._variable = variable
        self._context: Any = None

    @classmethod
    def build(cls, driver: str, device: Device, features: Features) -> CelDevice:
        attributes: dict[str, dict[str, Any]] = {}
        for name, attribute in device.attributes.items():
            try:
                value = _attribute_value(attribute, features.list_type_attributes)
            except ValueError as exc:
                return cls(driver, None, f"attribute {name}: {exc}")
            domain, ident = _split_name(name, driver)
            attributes.setdefault(domain, {})[ident] = value

        capacity: dict[str, dict[str, str]] = {}
        for name, cap in device.capacity.items():
            domain, ident = _split_name(name, driver)
            capacity.setdefault(domain, {})[ident] = encode_quantity(cap.value)

        variable: dict[str, Any] = {
            "driver": driver,
            "attributes": attributes,
            "capacity": capacity,
        }
        variable["allowMultipleAllocations"] = _reads_allow_multiple_allocations(features) and bool(
            device.allow_multiple_allocations
        )
        return cls(driver, variable, None)

    def context(self) -> Any:
        """The library Context (the `device` variable plus the function table), built on first
        use. It is the costly part of a device: the library converts each string at ~3 µs,
        so a GPU with a handful of attributes takes ~70-170 µs and ~6 KiB, paid only by
        devices that are actually evaluated."""
        context = self._context
        if context is None:
            context = cel.Context(variables={"device": self._variable}, functions=_FUNCTION_TABLE)
            self._context = context
        return context

    @property
    def variable(self) -> dict[str, Any] | None:
        """The `device` variable as plain values (None for a device in error), for the
        runtime cost counter (`runtime_cost.py`), which evaluates outside the library."""
        return self._variable


def _reads_allow_multiple_allocations(features: Features) -> bool:
    """Whether upstream's allocator for these gates passes the device's field to CEL: its
    incubating and experimental implementations do, the stable one does not."""
    return (
        features.consumable_capacity
        or features.device_binding_and_status
        or features.list_type_attributes
    )


def _split_name(name: str, driver: str) -> tuple[str, str]:
    domain, sep, ident = name.partition("/")
    return (domain, ident) if sep else (driver, name)


def _attribute_value(attribute: DeviceAttribute, list_types: bool) -> Any:
    """The CEL value of one attribute, in upstream's order of precedence; ValueError when
    there is none (or only a list kind while list-typed attributes are off)."""
    if attribute.int_value is not None:
        return attribute.int_value
    if attribute.bool_value is not None:
        return attribute.bool_value
    if attribute.string is not None:
        return attribute.string
    if attribute.version is not None:
        return _version(attribute.version)
    if list_types:
        if attribute.ints is not None:
            return list(attribute.ints)
        if attribute.bools is not None:
            return list(attribute.bools)
        if attribute.strings is not None:
            return list(attribute.strings)
        if attribute.versions is not None:
            return [_version(v) for v in attribute.versions]
    raise ValueError("unsupported attribute value")


def _version(text: str) -> str:
    try:
        return parse_version(text)
    except ValueError as exc:
        raise ValueError(f"parse semantic version: {exc}") from None
