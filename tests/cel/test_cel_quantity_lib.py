"""The CEL quantity library: every function, equality by value, and ordering against Quantity."""

from __future__ import annotations

import pytest
from cel_testing import ALL_ON, DRIVER, Evaluate, make_device
from hypothesis import given
from hypothesis import strategies as st

from dralloc.api.quantity import Quantity
from dralloc.cel import CelDevice, CelEnvironment, CelRuntimeError

ENV = CelEnvironment(ALL_ON)


def test_quantity_equality_is_by_value_across_formats(evaluate: Evaluate) -> None:
    assert evaluate('quantity("1Gi") == quantity("1024Mi")')
    assert evaluate('quantity("1k") == quantity("1000") && quantity("0.5") == quantity("500m")')
    assert evaluate('quantity("1G") != quantity("1Gi")')


def test_quantity_equality_holds_between_a_capacity_and_a_computed_quantity(
    evaluate: Evaluate,
) -> None:
    device = make_device(attributes={"size": "1024Mi"}, capacity={"memory": "1Gi"})
    expression = (
        f'device.capacity["{DRIVER}"].memory == quantity(device.attributes["{DRIVER}"].size)'
    )
    assert evaluate(expression, device)


def test_is_quantity_tells_valid_text(evaluate: Evaluate) -> None:
    assert evaluate('isQuantity("1.5Gi") && !isQuantity("1 Gi") && !isQuantity("abc")')
    assert evaluate("isQuantity(device.driver) == false")


def test_invalid_quantity_is_a_runtime_error(evaluate: Evaluate) -> None:
    with pytest.raises(CelRuntimeError, match=r"^invalid quantity 'x1'"):
        evaluate('quantity("x1") == quantity("1")')


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('quantity("200M").compareTo(quantity("0.2G")) == 0', True),
        ('quantity("50M").compareTo(quantity("50Mi")) == -1', True),
        ('quantity("50Mi").compareTo(quantity("50M")) == 1', True),
        ('quantity("150Mi").isGreaterThan(quantity("100Mi"))', True),
        ('quantity("50Mi").isGreaterThan(quantity("100Mi"))', False),
        ('quantity("50M").isLessThan(quantity("100M"))', True),
        ('quantity("100M").isLessThan(quantity("50M"))', False),
    ],
)
def test_quantity_comparisons(evaluate: Evaluate, expression: str, expected: bool) -> None:
    assert evaluate(expression) is expected


@pytest.mark.parametrize(
    "expression",
    [
        'quantity("50k").add(quantity("20k")) == quantity("70k")',
        'quantity("50k").add(20) == quantity("50020")',
        'quantity("50k").sub(quantity("20k")) == quantity("30k")',
        'quantity("50k").sub(20000) == quantity("30k")',
        'quantity("50k").add(20).sub(quantity("100k")).sub(-50000) == quantity("20")',
        'quantity("-5").sign() == -1 && quantity("0").sign() == 0 && sign(quantity("2m")) == 1',
        'quantity("1.5").isInteger() == false && quantity("1k").isInteger()',
        'quantity("50k").asInteger() == 50000',
        'quantity("50k").sub(20000).asApproximateFloat() == 30000.0',
        'quantity("1.5").asApproximateFloat() == 1.5',
    ],
)
def test_quantity_arithmetic_and_conversions(evaluate: Evaluate, expression: str) -> None:
    assert evaluate(expression)


def test_as_integer_fails_for_fractions_and_beyond_int64(evaluate: Evaluate) -> None:
    with pytest.raises(CelRuntimeError, match=r"^cannot convert value to integer$"):
        evaluate('quantity("1.5").asInteger() == 1')
    with pytest.raises(CelRuntimeError, match=r"^cannot convert value to integer$"):
        evaluate('quantity("10E").asInteger() == 1')


def test_comparing_a_quantity_with_another_type_is_no_such_overload(evaluate: Evaluate) -> None:
    with pytest.raises(CelRuntimeError, match=r"^no such overload$"):
        evaluate('quantity("1").compareTo(semver("1.0.0")) == 0')
    with pytest.raises(CelRuntimeError, match=r"^no such overload$"):
        evaluate('"1".compareTo(quantity("1")) == 0')
    with pytest.raises(CelRuntimeError, match=r"^no such overload$"):
        evaluate('quantity("1").add(1.5) == quantity("2.5")')


# --------------------------------------------------------------------------------- property

_SUFFIXES = ["", "n", "u", "m", "k", "M", "G", "T", "Ki", "Mi", "Gi", "Ti", "e3", "E-2"]

quantity_texts = st.builds(
    lambda sign, whole, fraction, suffix: f"{sign}{whole}{fraction}{suffix}",
    st.sampled_from(["", "-", "+"]),
    st.integers(min_value=0, max_value=10**12).map(str),
    st.one_of(st.just(""), st.integers(min_value=0, max_value=999_999).map(lambda n: f".{n}")),
    st.sampled_from(_SUFFIXES),
)


@given(left=quantity_texts, right=quantity_texts)
def test_compare_to_agrees_with_quantity_ordering(left: str, right: str) -> None:
    expected = Quantity.parse(left).cmp(Quantity.parse(right))
    device = CelDevice.build(
        DRIVER, make_device(attributes={"left": left}, capacity={"right": right}), ALL_ON
    )
    lhs = f'quantity(device.attributes["{DRIVER}"].left)'
    rhs = f'device.capacity["{DRIVER}"].right'
    assert ENV.compile(f"{lhs}.compareTo({rhs}) == {expected}").evaluate(device)
    assert ENV.compile(f"{lhs}.isGreaterThan({rhs})").evaluate(device) is (expected == 1)
    assert ENV.compile(f"{lhs}.isLessThan({rhs})").evaluate(device) is (expected == -1)
    assert ENV.compile(f"({lhs} == {rhs})").evaluate(device) is (expected == 0)


@given(left=quantity_texts, right=quantity_texts)
def test_folded_literals_compare_like_quantities(left: str, right: str) -> None:
    expected = Quantity.parse(left).cmp(Quantity.parse(right))
    device = CelDevice.build(DRIVER, make_device(), ALL_ON)
    expression = f'quantity("{left}").compareTo(quantity("{right}"))'
    assert ENV.compile(f"{expression} == {expected}").evaluate(device)
