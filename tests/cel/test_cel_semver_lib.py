"""The CEL semver library (version 1): strict parsing, normalisation, comparisons."""

from __future__ import annotations

import pytest
from cel_testing import DRIVER, Evaluate, make_device

from dralloc.api.resource import DeviceAttribute
from dralloc.cel import CelRuntimeError
from dralloc.cel.semver_lib import normalize_and_parse


@pytest.mark.parametrize("text", ["1.0.0", "0.1.0-alpha.1", "1.2.3+build.7", "10.20.30"])
def test_is_semver_accepts_strict_versions(evaluate: Evaluate, text: str) -> None:
    assert evaluate(f'isSemver("{text}")')


@pytest.mark.parametrize("text", ["v1.0.0", "1.0", "01.1.1", "1.2.3-01", "200K", "Three", " 1.0.0"])
def test_is_semver_rejects_what_blang_semver_rejects(evaluate: Evaluate, text: str) -> None:
    assert evaluate(f'!isSemver("{text}")')


@pytest.mark.parametrize(
    ("text", "normalized"),
    [("v1.0.0", "1.0.0"), ("1.0", "1.0.0"), ("1", "1.0.0"), ("01.01.01", "1.1.1"), ("v2", "2.0.0")],
)
def test_normalize_strips_v_fills_parts_and_drops_leading_zeros(
    evaluate: Evaluate, text: str, normalized: str
) -> None:
    assert evaluate(f'semver("{text}", true) == semver("{normalized}")')
    assert evaluate(f'isSemver("{text}", true) && !isSemver("{text}", false)')


def test_normalize_refuses_a_short_version_with_prerelease() -> None:
    with pytest.raises(ValueError, match=r"short version cannot contain PreRelease/Build"):
        normalize_and_parse("1.0-alpha")


def test_normalize_keeps_prerelease_of_a_full_version(evaluate: Evaluate) -> None:
    assert evaluate('semver("v1.02.3-rc.1", true) == semver("1.2.3-rc.1")')


def test_invalid_semver_is_a_runtime_error(evaluate: Evaluate) -> None:
    with pytest.raises(CelRuntimeError, match=r"is not valid SemVer string"):
        evaluate('semver("v1.0.0").major() == 1')


def test_major_minor_patch(evaluate: Evaluate) -> None:
    assert evaluate('semver("1.2.3").major() == 1 && semver("1.2.3").minor() == 2')
    assert evaluate('semver("1.2.3").patch() == 3')


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('semver("1.2.3").compareTo(semver("1.2.3"))', 0),
        ('semver("1.2.3").compareTo(semver("2.0.0"))', -1),
        ('semver("1.2.3").compareTo(semver("0.1.2"))', 1),
        ('semver("1.0.0-alpha").compareTo(semver("1.0.0"))', -1),
        ('semver("1.0.0-alpha.2").compareTo(semver("1.0.0-alpha.10"))', -1),
    ],
)
def test_compare_to(evaluate: Evaluate, expression: str, expected: int) -> None:
    assert evaluate(f"{expression} == {expected}")


def test_is_greater_than_and_is_less_than(evaluate: Evaluate) -> None:
    assert evaluate('semver("2.0.0").isGreaterThan(semver("1.9.9"))')
    assert evaluate('semver("1.9.9").isLessThan(semver("2.0.0"))')
    assert evaluate('!semver("1.0.0").isLessThan(semver("1.0.0"))')


def test_equality_ignores_build_metadata(evaluate: Evaluate) -> None:
    assert evaluate('semver("1.0.0+a") == semver("1.0.0+b")')
    assert evaluate('semver("1.0.0+a").compareTo(semver("1.0.0")) == 0')
    assert evaluate('semver("1.0.0-a") != semver("1.0.0-b")')


def test_version_attribute_compares_with_a_computed_version(evaluate: Evaluate) -> None:
    device = make_device(
        attributes={"driverVersion": DeviceAttribute(version="550.54.15"), "min": "550.0.0"}
    )
    attrs = f'device.attributes["{DRIVER}"]'
    assert evaluate(f"{attrs}.driverVersion.isGreaterThan(semver({attrs}.min))", device)


def test_comparing_a_semver_with_a_quantity_is_no_such_overload(evaluate: Evaluate) -> None:
    with pytest.raises(CelRuntimeError, match=r"^no such overload$"):
        evaluate('semver("1.0.0").isGreaterThan(quantity("1"))')
