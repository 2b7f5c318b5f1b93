"""Builders shared by the CEL tests (a uniquely named module, imported by the test files;
`conftest.py` holds only the fixture)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dralloc.api.quantity import Quantity
from dralloc.api.resource import Device, DeviceAttribute, DeviceCapacity
from dralloc.features import Features

DRIVER = "gpu.example.com"

ALL_ON = Features().with_gates(DRAListTypeAttributes=True, DRAConsumableCapacity=True)


def make_device(
    attributes: dict[str, Any] | None = None,
    capacity: dict[str, str] | None = None,
    **fields: Any,
) -> Device:
    """A Device whose attributes are given as plain values (int, bool, str) or as
    DeviceAttribute, and whose capacities are quantity strings."""
    attrs: dict[str, DeviceAttribute] = {}
    for name, value in (attributes or {}).items():
        if isinstance(value, DeviceAttribute):
            attrs[name] = value
        elif isinstance(value, bool):
            attrs[name] = DeviceAttribute(bool_value=value)
        elif isinstance(value, int):
            attrs[name] = DeviceAttribute(int_value=value)
        else:
            attrs[name] = DeviceAttribute(string=value)
    caps = {name: DeviceCapacity(value=Quantity.parse(v)) for name, v in (capacity or {}).items()}
    return Device(name="dev-0", attributes=attrs, capacity=caps, **fields)


Evaluate = Callable[..., bool]
