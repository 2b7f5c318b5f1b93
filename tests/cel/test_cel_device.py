"""CelDevice: converting a Device into the CEL `device` variable (spec section 5.1, 5.2)."""

from __future__ import annotations

import pytest
from cel_testing import ALL_ON, DRIVER, Evaluate, make_device

from dralloc.api.resource import DeviceAttribute
from dralloc.cel import CelDevice, CelRuntimeError
from dralloc.features import Features

LISTS_OFF = ALL_ON.with_gates(DRAListTypeAttributes=False)


def test_build_keeps_the_driver_and_no_error() -> None:
    device = CelDevice.build(DRIVER, make_device(attributes={"a": 1}), ALL_ON)
    assert device.driver == DRIVER
    assert device.error is None


def test_version_attribute_is_a_semver(evaluate: Evaluate) -> None:
    device = make_device(attributes={"v": DeviceAttribute(version="1.2.3-rc.1+build")})
    assert evaluate(f'device.attributes["{DRIVER}"].v.isLessThan(semver("1.2.3"))', device)
    assert evaluate(f'device.attributes["{DRIVER}"].v == semver("1.2.3-rc.1")', device)
    assert evaluate(f'device.attributes["{DRIVER}"].v.minor() == 2', device)


def test_bad_version_attribute_poisons_the_device(evaluate: Evaluate) -> None:
    device = make_device(attributes={"v": DeviceAttribute(version="v1.2")})
    with pytest.raises(CelRuntimeError, match=r"^attribute v: parse semantic version: "):
        evaluate("true", device)


def test_attribute_with_no_value_poisons_the_device() -> None:
    device = CelDevice.build(DRIVER, make_device(attributes={"d/x": DeviceAttribute()}), ALL_ON)
    assert device.error == "attribute d/x: unsupported attribute value"


def test_list_attributes_are_lists_with_the_gate_on(evaluate: Evaluate) -> None:
    device = make_device(
        attributes={
            "ints": DeviceAttribute(ints=[1, 2]),
            "bools": DeviceAttribute(bools=[True]),
            "strings": DeviceAttribute(strings=["a", "b"]),
            "versions": DeviceAttribute(versions=["1.0.0", "2.0.0"]),
        }
    )
    attrs = f'device.attributes["{DRIVER}"]'
    assert evaluate(f"{attrs}.ints == [1, 2] && {attrs}.bools == [true]", device)
    assert evaluate(f'{attrs}.strings.includes("b") && !{attrs}.strings.includes("c")', device)
    assert evaluate(f'{attrs}.versions.includes(semver("2.0.0"))', device)
    assert evaluate(f"{attrs}.versions[1].major() == 2", device)


def test_list_attribute_poisons_the_device_with_the_gate_off(evaluate: Evaluate) -> None:
    device = make_device(attributes={"ints": DeviceAttribute(ints=[1])})
    with pytest.raises(CelRuntimeError, match=r"^attribute ints: unsupported attribute value$"):
        evaluate("true", device, LISTS_OFF)


def test_includes_is_declared_with_the_gate_off(evaluate: Evaluate) -> None:
    # Upstream's StoredExpressions environment declares it whatever DRAListTypeAttributes says.
    device = make_device(attributes={"model": "a"})
    assert evaluate(f'device.attributes["{DRIVER}"].model.includes("a")', device, LISTS_OFF)
    assert evaluate("[1].includes(1)", make_device(), LISTS_OFF)


def test_includes_on_a_scalar_compares_it(evaluate: Evaluate) -> None:
    device = make_device(attributes={"model": "a"})
    assert evaluate(f'device.attributes["{DRIVER}"].model.includes("a")', device)
    assert not evaluate(f'device.attributes["{DRIVER}"].model.includes("b")', device)


def test_includes_refuses_lists_longer_than_48(evaluate: Evaluate) -> None:
    device = make_device(attributes={"ints": DeviceAttribute(ints=list(range(49)))})
    with pytest.raises(CelRuntimeError, match=r"more than 48"):
        evaluate(f'device.attributes["{DRIVER}"].ints.includes(1)', device)


def test_capacity_names_follow_the_attribute_grouping(evaluate: Evaluate) -> None:
    device = make_device(capacity={"memory": "1Gi", "other.io/slots": "4"})
    assert evaluate(f'device.capacity["{DRIVER}"].memory == quantity("1024Mi")', device)
    assert evaluate('device.capacity["other.io"].slots.asInteger() == 4', device)


def test_allow_multiple_allocations_is_present_without_the_gate() -> None:
    # As upstream's DeviceMatches always sets it (false unless the device says true).
    features = Features().with_gates(DRAConsumableCapacity=False)
    device = CelDevice.build(DRIVER, make_device(allow_multiple_allocations=True), features)
    variable = device.context().variables["device"]
    assert variable.keys() == {"driver", "attributes", "capacity", "allowMultipleAllocations"}
