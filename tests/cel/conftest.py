"""Shared builders for the CEL tests: an environment per gate set and devices from keywords."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from dralloc.api.quantity import Quantity
from dralloc.api.resource import Device, DeviceAttribute, DeviceCapacity
from dralloc.cel import CelDevice, CelEnvironment
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


@pytest.fixture
def evaluate() -> Evaluate:
    """evaluate(expression, device=None, features=ALL_ON) -> bool, raising Cel*Error."""
    environments: dict[tuple[tuple[str, bool], ...], CelEnvironment] = {}

    def run(expression: str, device: Device | None = None, features: Features = ALL_ON) -> bool:
        key = tuple(sorted(features.gates.items()))
        env = environments.setdefault(key, CelEnvironment(features))
        cel_device = CelDevice.build(DRIVER, device or make_device(), features)
        return env.compile(expression).evaluate(cel_device)

    return run
