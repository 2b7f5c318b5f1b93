"""Kubernetes resource quantities: upstream golden values plus property tests.

The tables come from k8s.io/apimachinery/pkg/api/resource/quantity_test.go (TestQuantityParse,
TestQuantityString, TestQuantityParseEmit, TestParseQuantity, TestAdd, TestSub, TestMul, ...).
A `dec(i, e)` entry there is the value i * 10^e; here it is `dec(i, e)` nano-units.
"""

from __future__ import annotations

import copy
import math
import pickle
from fractions import Fraction

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dralloc.api.quantity import (
    MAX_SIGNIFICANT_DIGITS,
    NANO_PER_UNIT,
    Format,
    Quantity,
    _parse_cached,
    decode_quantity,
    parse_quantity,
)

DSI = Format.DecimalSI
BSI = Format.BinarySI
DEX = Format.DecimalExponent

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
MAX_ALLOWED_NANO = INT64_MAX * NANO_PER_UNIT  # upstream's maxAllowed, the BinarySI parse cap

PROPERTY_SETTINGS = settings(deadline=None, max_examples=300)


def dec(mantissa: int, exponent: int) -> int:
    """Nano-units in mantissa * 10^exponent (which must be a whole number of nano-units)."""
    nano = Fraction(mantissa) * Fraction(10) ** (exponent + 9)
    assert nano.denominator == 1
    return int(nano)


def q(text: str) -> Quantity:
    return Quantity.parse(text)


# --------------------------------------------------------------------------------- parsing

# TestQuantityParse: input, expected value in nano-units, expected format.
PARSE_GOLDEN: list[tuple[str, int, Format]] = [
    ("0", 0, DSI),
    ("0n", 0, DSI),
    ("0u", 0, DSI),
    ("0m", 0, DSI),
    ("0Ki", 0, BSI),
    ("0k", 0, DSI),
    ("0Mi", 0, BSI),
    ("0M", 0, DSI),
    ("0Gi", 0, BSI),
    ("0G", 0, DSI),
    ("0Ti", 0, BSI),
    ("0T", 0, DSI),
    # Quantity-less numbers are allowed
    ("1", dec(1, 0), DSI),
    # Binary suffixes
    ("1Ki", dec(1024, 0), BSI),
    ("8Ki", dec(8 * 1024, 0), BSI),
    ("7Mi", dec(7 * 1024**2, 0), BSI),
    ("6Gi", dec(6 * 1024**3, 0), BSI),
    ("5Ti", dec(5 * 1024**4, 0), BSI),
    ("4Pi", dec(4 * 1024**5, 0), BSI),
    ("3Ei", dec(3 * 1024**6, 0), BSI),
    ("10Ti", dec(10 * 1024**4, 0), BSI),
    ("100Ti", dec(100 * 1024**4, 0), BSI),
    # Decimal suffixes
    ("5n", dec(5, -9), DSI),
    ("4u", dec(4, -6), DSI),
    ("3m", dec(3, -3), DSI),
    ("9", dec(9, 0), DSI),
    ("8k", dec(8, 3), DSI),
    ("50k", dec(5, 4), DSI),
    ("7M", dec(7, 6), DSI),
    ("6G", dec(6, 9), DSI),
    ("5T", dec(5, 12), DSI),
    ("40T", dec(4, 13), DSI),
    ("300T", dec(3, 14), DSI),
    ("2P", dec(2, 15), DSI),
    ("1E", dec(1, 18), DSI),
    # Decimal exponents
    ("1E-3", dec(1, -3), DEX),
    ("1e3", dec(1, 3), DEX),
    ("1E6", dec(1, 6), DEX),
    ("1e9", dec(1, 9), DEX),
    ("1E12", dec(1, 12), DEX),
    ("1e15", dec(1, 15), DEX),
    ("1E18", dec(1, 18), DEX),
    # Nonstandard but still parsable
    ("1e14", dec(1, 14), DEX),
    ("1e13", dec(1, 13), DEX),
    ("100.035k", dec(100035, 0), DSI),
    # Things that look like floating point
    ("0.001", dec(1, -3), DSI),
    ("0.0005k", dec(5, -1), DSI),
    ("0.005", dec(5, -3), DSI),
    ("0.05", dec(5, -2), DSI),
    ("0.5", dec(5, -1), DSI),
    ("0.00050k", dec(5, -1), DSI),
    ("0.00500", dec(5, -3), DSI),
    ("0.05000", dec(5, -2), DSI),
    ("0.50000", dec(5, -1), DSI),
    ("0.5e0", dec(5, -1), DEX),
    ("0.5e-1", dec(5, -2), DEX),
    ("0.5e-2", dec(5, -3), DEX),
    ("10.035M", dec(10035, 3), DSI),
    ("1.2e3", dec(12, 2), DEX),
    ("1.3E+6", dec(13, 5), DEX),
    ("1.40e9", dec(14, 8), DEX),
    ("1.53E12", dec(153, 10), DEX),
    ("1.6e15", dec(16, 14), DEX),
    ("1.7E18", dec(17, 17), DEX),
    ("9.01", dec(901, -2), DSI),
    ("8.1k", dec(81, 2), DSI),
    ("7.123456M", dec(7123456, 0), DSI),
    ("6.987654321G", dec(6987654321, 0), DSI),
    ("5.444T", dec(5444, 9), DSI),
    ("40.1T", dec(401, 11), DSI),
    ("300.2T", dec(3002, 11), DSI),
    ("2.5P", dec(25, 14), DSI),
    ("1.01E", dec(101, 16), DSI),
    # Things that saturate/round
    ("3.001n", dec(4, -9), DSI),
    ("1.1E-9", dec(2, -9), DEX),
    ("0.0000000001", dec(1, -9), DSI),
    ("0.0000000005", dec(1, -9), DSI),
    ("0.00000000050", dec(1, -9), DSI),
    ("0.5e-9", dec(1, -9), DEX),
    ("0.9n", dec(1, -9), DSI),
    ("0.00000012345", dec(124, -9), DSI),
    ("0.00000012354", dec(124, -9), DSI),
    ("9Ei", MAX_ALLOWED_NANO, BSI),
    ("9223372036854775807Ki", MAX_ALLOWED_NANO, BSI),
    ("12E", dec(12, 18), DSI),
    # Fractional binary quantities
    ("100.035Ki", dec(10243584, -2), BSI),
    ("0.5Mi", dec(512 * 1024, 0), BSI),
    ("0.05Gi", dec(536870912, -1), BSI),
    ("0.025Ti", dec(274877906944, -1), BSI),
    # Things written by trolls
    ("0.000000000001Ki", dec(2, -9), DSI),  # rounds up, changes format
    (".001", dec(1, -3), DSI),
    (".0001k", dec(100, -3), DSI),
    ("1.", dec(1, 0), DSI),
    ("1.G", dec(1, 9), DSI),
]


@pytest.mark.parametrize(("text", "nano", "fmt"), PARSE_GOLDEN)
def test_golden_inputs_parse_to_the_upstream_value_and_format(
    text: str, nano: int, fmt: Format
) -> None:
    parsed = q(text)
    assert parsed.nano == nano
    assert parsed.format is fmt


@pytest.mark.parametrize(("text", "nano", "fmt"), PARSE_GOLDEN)
def test_golden_inputs_with_a_minus_sign_parse_to_the_negated_value_and_same_format(
    text: str, nano: int, fmt: Format
) -> None:
    parsed = q("-" + text)
    assert parsed.nano == -nano
    assert parsed.format is fmt


@pytest.mark.parametrize(("text", "nano", "fmt"), PARSE_GOLDEN)
def test_golden_inputs_with_a_plus_sign_parse_to_the_same_value_and_format(
    text: str, nano: int, fmt: Format
) -> None:
    parsed = q("+" + text)
    assert parsed.nano == nano
    assert parsed.format is fmt


INVALID = [
    # TestQuantityParse's invalid list
    "1.1.M",
    "1+1.0M",
    "0.1mi",
    "0.1am",
    "aoeu",
    ".5i",
    "1i",
    "-3.01i",
    "-3.01e-",
    " 1",
    "1 ",
    # TestQuantityParse's empty-string check and TestQuantityParseNonNumericPanic
    "",
    "Non-Numeric",
    # upstream CEL library examples of non-quantities
    "200K",
    "Three",
    "1,3G",
    # more malformed input
    "1 Gi",
    "1Gi ",
    "\t1",
    "1\n",
    "1e",
    "1E+",
    "1kK",
    "1Ki5",
    "1e3.5",
    "1e3e3",
    "1ki",
    "1KI",
    "1K",
    "1gi",
    "--1",
    "+-1",
    "1-",
    "1_000",
    "0x10",
    "\u0661",  # ARABIC-INDIC DIGIT ONE: only ASCII digits are digits
    "1\u00a0Gi",
    "1e2147483648",  # exponent out of int32 range
    "1e-2147483649",
    "1e1100",  # too large to keep exactly
]


@pytest.mark.parametrize("text", INVALID)
def test_malformed_text_is_rejected_with_a_value_error_naming_the_input(text: str) -> None:
    with pytest.raises(ValueError, match="invalid quantity") as raised:
        q(text)
    assert repr(text) in str(raised.value)


def test_whitespace_errors_say_that_whitespace_is_the_problem() -> None:
    for text in [" 1", "1 ", "1 Gi"]:
        with pytest.raises(ValueError, match="whitespace"):
            q(text)


def test_unknown_suffix_errors_name_the_suffix() -> None:
    with pytest.raises(ValueError, match="unknown suffix 'mi'"):
        q("0.1mi")


def test_parse_rejects_non_strings_with_a_type_error() -> None:
    with pytest.raises(TypeError):
        Quantity.parse(5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        ("Ki", BSI),
        ("m", DSI),
        ("k", DSI),
        ("-", DSI),
        ("+", DSI),
        (".", DSI),
        ("-.", DSI),
        ("e3", DEX),
        ("+.e3", DEX),
    ],
)
def test_a_number_without_digits_parses_as_zero_like_upstream(text: str, fmt: Format) -> None:
    # upstream's scanner reads a missing numeral as "0" (kubernetes/apimachinery#165)
    parsed = q(text)
    assert parsed.is_zero()
    assert parsed.format is fmt
    assert str(parsed) == "0"


def test_binary_si_is_capped_at_int64_max_but_decimal_si_is_not() -> None:
    assert q("8Ei").nano == MAX_ALLOWED_NANO
    assert q("-8Ei").nano == -MAX_ALLOWED_NANO
    assert q("7.9999999999Ei") < q("8Ei")
    assert str(q("8Ei")) == "9223372036854775807"
    assert q("18446744073709551616").nano == 18446744073709551616 * NANO_PER_UNIT
    assert q("1000E").nano == 10**21 * NANO_PER_UNIT


def test_values_finer_than_a_nano_round_away_from_zero() -> None:
    assert q("0.9n").nano == 1
    assert q("-0.9n").nano == -1
    assert q("1.000000001").nano == 1_000_000_001
    assert q("1.0000000001").nano == 1_000_000_001
    assert q("1e-2147483648").nano == 1
    assert q("0e-2147483648").nano == 0


def test_zero_with_a_huge_exponent_is_just_zero() -> None:
    assert q("0e2147483647").is_zero()
    assert q("000.000e99").is_zero()


def test_very_long_inputs_are_rejected_rather_than_computed() -> None:
    too_many = "1" * (MAX_SIGNIFICANT_DIGITS + 1)
    with pytest.raises(ValueError, match="significant digits"):
        q(too_many)
    with pytest.raises(ValueError, match="significant digits"):
        q("0." + "0" * MAX_SIGNIFICANT_DIGITS + "1Ki")
    # leading zeros and trailing fraction zeros do not count
    assert q("0" * 5000 + "1." + "0" * 5000) == q("1")


# ---------------------------------------------------------------------- canonical strings

# TestQuantityString: value (mantissa, exponent), format, canonical form, alternate spelling.
STRING_GOLDEN: list[tuple[int, Format, str, str]] = [
    (dec(1024 * 1024 * 1024, 0), BSI, "1Gi", "1024Mi"),
    (dec(300 * 1024 * 1024, 0), BSI, "300Mi", "307200Ki"),
    (dec(6 * 1024, 0), BSI, "6Ki", ""),
    (dec(1001 * 1024 * 1024 * 1024, 0), BSI, "1001Gi", "1025024Mi"),
    (dec(1024 * 1024 * 1024 * 1024, 0), BSI, "1Ti", "1024Gi"),
    (dec(5, 0), BSI, "5", "5000m"),
    (dec(500, -3), BSI, "500m", "0.5"),
    (dec(1, 9), DSI, "1G", "1000M"),
    (dec(1000, 6), DSI, "1G", "0.001T"),
    (dec(1000000, 3), DSI, "1G", ""),
    (dec(1000000000, 0), DSI, "1G", ""),
    (dec(1, -3), DSI, "1m", "1000u"),
    (dec(80, -3), DSI, "80m", ""),
    (dec(1080, -3), DSI, "1080m", "1.08"),
    (dec(108, -2), DSI, "1080m", "1080000000n"),
    (dec(10800, -4), DSI, "1080m", ""),
    (dec(300, 6), DSI, "300M", ""),
    (dec(1, 12), DSI, "1T", ""),
    (dec(1, 18), DSI, "1E", ""),
    (dec(1, 21), DSI, "1e21", "1000E"),
    (dec(5, 21), DSI, "5e21", "5000E"),
    (dec(1, 24), DSI, "1e24", "1000000E"),
    (dec(1234567, 6), DSI, "1234567M", ""),
    (dec(1234567, -3), BSI, "1234567m", ""),
    (dec(3, 3), DSI, "3k", ""),
    (dec(1025, 0), BSI, "1025", ""),
    (dec(0, 0), DSI, "0", ""),
    (dec(0, 0), BSI, "0", ""),
    (dec(1, 9), DEX, "1e9", ".001e12"),
    (dec(1, -3), DEX, "1e-3", "0.001e0"),
    (dec(1, -9), DEX, "1e-9", "1000e-12"),
    (dec(80, -3), DEX, "80e-3", ""),
    (dec(300, 6), DEX, "300e6", ""),
    (dec(1, 12), DEX, "1e12", ""),
    (dec(1, 3), DEX, "1e3", ""),
    (dec(3, 3), DEX, "3e3", ""),
    (dec(3, 3), DSI, "3k", ""),
    (dec(0, 0), DEX, "0", "00"),
    (dec(1, -9), DSI, "1n", ""),
    (dec(80, -9), DSI, "80n", ""),
    (dec(1080, -9), DSI, "1080n", ""),
    (dec(108, -8), DSI, "1080n", ""),
    (dec(10800, -10), DSI, "1080n", ""),
    (dec(1, -6), DSI, "1u", ""),
    (dec(80, -6), DSI, "80u", ""),
    (dec(1080, -6), DSI, "1080u", ""),
]


@pytest.mark.parametrize(("nano", "fmt", "expect", "alternate"), STRING_GOLDEN)
def test_canonical_string_matches_upstream_string(
    nano: int, fmt: Format, expect: str, alternate: str
) -> None:
    quantity = Quantity.from_nano(nano, fmt)
    assert str(quantity) == expect
    assert quantity.canonical() == expect


@pytest.mark.parametrize(("nano", "fmt", "expect", "alternate"), STRING_GOLDEN)
def test_canonical_strings_and_their_alternates_reparse_to_the_canonical_string(
    nano: int, fmt: Format, expect: str, alternate: str
) -> None:
    assert str(q(expect)) == expect
    assert q(expect).nano == nano
    if alternate:
        assert str(q(alternate)) == expect
        assert q(alternate).nano == nano


@pytest.mark.parametrize(("nano", "fmt", "expect", "alternate"), STRING_GOLDEN)
def test_negative_values_print_as_minus_the_positive_canonical_string(
    nano: int, fmt: Format, expect: str, alternate: str
) -> None:
    negated = Quantity.from_nano(-nano, fmt)
    assert str(negated) == (expect if nano == 0 else "-" + expect)


# TestQuantityParseEmit
PARSE_EMIT = [
    ("1Ki", "1Ki"),
    ("1Mi", "1Mi"),
    ("1Gi", "1Gi"),
    ("1024Mi", "1Gi"),
    ("1000M", "1G"),
    (".001Ki", "1024m"),
    (".000001Ki", "1024u"),
    (".000000001Ki", "1024n"),
    (".000000000001Ki", "2n"),
]


@pytest.mark.parametrize(("text", "expect"), PARSE_EMIT)
def test_parsed_text_is_emitted_in_upstream_canonical_form(text: str, expect: str) -> None:
    assert str(q(text)) == expect
    assert str(q("-" + text)) == "-" + expect


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("1.5", "1500m"),
        ("1.5Gi", "1536Mi"),
        ("0.9Gi", "966367641600m"),
        ("1000", "1k"),
        ("1024", "1024"),
        ("1Ki", "1Ki"),
        ("1023Ki", "1023Ki"),
        ("1025", "1025"),
        ("1.5e-3", "1500e-6"),
        ("1.5e3", "1500"),  # DecimalExponent with exponent 0 has no suffix
        ("15e2", "1500"),
        ("1.5E3", "1500"),
        ("1024Ei", "9223372036854775807"),  # BinarySI is capped on parse
        ("2000E", "2e21"),
        ("0.000001Ki", "1024u"),
    ],
)
def test_common_spellings_have_the_expected_canonical_form(text: str, expect: str) -> None:
    assert str(q(text)) == expect


def test_upstream_echoes_some_inputs_verbatim_but_here_str_is_always_canonical() -> None:
    # upstream's String() returns "+1", "010" and "1E3" for these; the values are the same
    assert str(q("+1")) == "1"
    assert str(q("010")) == "10"
    assert str(q("1E3")) == "1e3"
    assert str(q("1e+3")) == "1e3"


def test_binary_si_canonical_form_stops_at_ei() -> None:
    assert str(Quantity.from_nano(2**63 * NANO_PER_UNIT, BSI)) == "8Ei"
    assert str(Quantity.from_nano(1024**7 * NANO_PER_UNIT, BSI)) == "1024Ei"


def test_binary_si_values_below_1024_or_fractional_print_as_decimal_si() -> None:
    assert str(Quantity.from_nano(dec(1023, 0), BSI)) == "1023"
    assert str(Quantity.from_nano(dec(-1023, 0), BSI)) == "-1023"
    assert str(Quantity.from_nano(dec(2048, 0) + 1, BSI)) == "2048000000001n"
    assert str(Quantity.from_nano(dec(1536, -3), BSI)) == "1536m"


# TestParseQuantity: the 18/19/20-digit and int64-boundary table. (input, exact decimal value,
# canonical form when it differs from the input).
BIG_GOLDEN: list[tuple[str, str, str]] = [
    ("-999999999999999999", "-999999999999999999", ""),
    ("999999999999999999", "999999999999999999", ""),
    ("-999999999999999999.0", "-999999999999999999", "-999999999999999999"),
    ("999999999999999999.0", "999999999999999999", "999999999999999999"),
    ("-999999999999999999.1", "-999999999999999999.1", "-999999999999999999100m"),
    ("999999999999999999.1", "999999999999999999.1", "999999999999999999100m"),
    ("-9999999999999999999", "-9999999999999999999", ""),
    ("9999999999999999999", "9999999999999999999", ""),
    ("-1E", "-1000000000000000000", ""),
    ("1E", "1000000000000000000", ""),
    ("-1000000000000000000", "-1000000000000000000", "-1E"),
    ("1000000000000000000", "1000000000000000000", "1E"),
    ("-9999999999999999999.0", "-9999999999999999999", "-9999999999999999999"),
    ("9999999999999999999.0", "9999999999999999999", "9999999999999999999"),
    ("-1.0E", "-1000000000000000000", "-1E"),
    ("1.0E", "1000000000000000000", "1E"),
    ("-1000000000000000000.0", "-1000000000000000000", "-1E"),
    ("1000000000000000000.0", "1000000000000000000", "1E"),
    ("-9999999999999999999000m", "-9999999999999999999", "-9999999999999999999"),
    ("9999999999999999999000m", "9999999999999999999", "9999999999999999999"),
    ("-9999999999999999999.1", "-9999999999999999999.1", "-9999999999999999999100m"),
    ("9999999999999999999.1", "9999999999999999999.1", "9999999999999999999100m"),
    ("-1.0000000000000000001E", "-1000000000000000000.1", "-1000000000000000000100m"),
    ("1.0000000000000000001E", "1000000000000000000.1", "1000000000000000000100m"),
    ("-1000000000000000000.1", "-1000000000000000000.1", "-1000000000000000000100m"),
    ("1000000000000000000.1", "1000000000000000000.1", "1000000000000000000100m"),
    ("-1.000000000000000001E", "-1000000000000000001", "-1000000000000000001"),
    ("1.000000000000000001E", "1000000000000000001", "1000000000000000001"),
    ("-1000000000000000001", "-1000000000000000001", ""),
    ("1000000000000000001", "1000000000000000001", ""),
    ("-10E", "-10000000000000000000", ""),
    ("10E", "10000000000000000000", ""),
    ("-10000000000000000000", "-10000000000000000000", "-10E"),
    ("10000000000000000000", "10000000000000000000", "10E"),
    ("-10.0E", "-10000000000000000000", "-10E"),
    ("10.0E", "10000000000000000000", "10E"),
    ("-10000000000000000000.0", "-10000000000000000000", "-10E"),
    ("10000000000000000000.0", "10000000000000000000", "10E"),
    ("-10000000000000000000000m", "-10000000000000000000", "-10E"),
    ("10000000000000000000000m", "10000000000000000000", "10E"),
    ("-10.0000000000000000001E", "-10000000000000000000.1", "-10000000000000000000100m"),
    ("10.0000000000000000001E", "10000000000000000000.1", "10000000000000000000100m"),
    ("-10000000000000000000.1", "-10000000000000000000.1", "-10000000000000000000100m"),
    ("10000000000000000000.1", "10000000000000000000.1", "10000000000000000000100m"),
    ("-10.000000000000000001E", "-10000000000000000001", "-10000000000000000001"),
    ("10.000000000000000001E", "10000000000000000001", "10000000000000000001"),
    ("-10000000000000000001", "-10000000000000000001", ""),
    ("10000000000000000001", "10000000000000000001", ""),
    ("-9223372036854775809", "-9223372036854775809", ""),
    ("9223372036854775806", "9223372036854775806", ""),
    ("-9223372036854775809.0", "-9223372036854775809", "-9223372036854775809"),
    ("9223372036854775806.0", "9223372036854775806", "9223372036854775806"),
    ("-9223372036854775809000m", "-9223372036854775809", "-9223372036854775809"),
    ("9223372036854775806000m", "9223372036854775806", "9223372036854775806"),
    ("-9223372036854775809.1", "-9223372036854775809.1", "-9223372036854775809100m"),
    ("9223372036854775806.1", "9223372036854775806.1", "9223372036854775806100m"),
    ("-9223372036854775808", "-9223372036854775808", ""),
    ("9223372036854775807", "9223372036854775807", ""),
    ("-9223372036854775808.0", "-9223372036854775808", "-9223372036854775808"),
    ("9223372036854775807.0", "9223372036854775807", "9223372036854775807"),
    ("-9223372036854775808000m", "-9223372036854775808", "-9223372036854775808"),
    ("9223372036854775807000m", "9223372036854775807", "9223372036854775807"),
    ("-9223372036854775808.1", "-9223372036854775808.1", "-9223372036854775808100m"),
    ("9223372036854775807.1", "9223372036854775807.1", "9223372036854775807100m"),
    ("-9223372036854775807", "-9223372036854775807", ""),
    ("9223372036854775808", "9223372036854775808", ""),
    ("-9223372036854775807.0", "-9223372036854775807", "-9223372036854775807"),
    ("9223372036854775808.0", "9223372036854775808", "9223372036854775808"),
    ("-9223372036854775807000m", "-9223372036854775807", "-9223372036854775807"),
    ("9223372036854775808000m", "9223372036854775808", "9223372036854775808"),
    ("-9223372036854775807.1", "-9223372036854775807.1", "-9223372036854775807100m"),
    ("9223372036854775808.1", "9223372036854775808.1", "9223372036854775808100m"),
]


@pytest.mark.parametrize(("text", "value", "canonical"), BIG_GOLDEN)
def test_values_around_int64_limits_parse_exactly_and_print_like_upstream(
    text: str, value: str, canonical: str
) -> None:
    parsed = q(text)
    exact = Fraction(value) * NANO_PER_UNIT
    assert exact.denominator == 1
    assert parsed.nano == exact.numerator
    assert str(parsed) == (canonical or text)


# --------------------------------------------------------------------- comparison, hashing


@pytest.mark.parametrize(
    ("left", "right", "expect"),
    [("0", "0", 0), ("100m", "50m", 1), ("50m", "100m", -1), ("10000T", "100Gi", 1)],
)
def test_comparison_matches_upstream_cmp(left: str, right: str, expect: int) -> None:
    a, b = q(left), q(right)
    assert a.cmp(b) == expect
    assert b.cmp(a) == -expect
    assert (a < b) == (expect < 0)
    assert (a <= b) == (expect <= 0)
    assert (a > b) == (expect > 0)
    assert (a >= b) == (expect >= 0)
    assert (a == b) == (expect == 0)
    assert (a != b) == (expect != 0)


def test_equal_values_in_different_formats_are_equal_and_hash_alike() -> None:
    spellings = ["1Gi", "1024Mi", "1073741824", "1073741824000m", "1.073741824e9"]
    same = [q(s) for s in spellings]
    assert len({hash(x) for x in same}) == 1
    assert len(set(same)) == 1
    assert q("1Gi") == q("1024Mi")
    assert q("200M") == q("0.2G")
    assert q("50M") < q("50Mi")


def test_quantities_do_not_compare_equal_to_other_types() -> None:
    assert q("1") != 1
    assert q("1") != "1"
    with pytest.raises(TypeError):
        _ = q("1") < 2  # type: ignore[operator]


# ------------------------------------------------------------------------------ arithmetic

# TestAdd / TestSub: (left, right, expected value, expected format)
ADD_GOLDEN = [
    (Quantity.from_nano(dec(10, 0), DSI), Quantity.from_nano(dec(1, 1), DSI), dec(20, 0), DSI),
    (Quantity.from_nano(dec(10, 0), DSI), Quantity.from_nano(dec(1, 0), BSI), dec(11, 0), DSI),
    (Quantity.from_nano(dec(10, 0), BSI), Quantity.from_nano(dec(1, 0), DSI), dec(11, 0), BSI),
    (Quantity.from_nano(0, DSI), Quantity.from_nano(dec(50, 0), DSI), dec(50, 0), DSI),
    (Quantity.from_nano(dec(50, 0), DSI), Quantity.from_nano(0, DSI), dec(50, 0), DSI),
    (Quantity.from_nano(0, DSI), Quantity.from_nano(0, DSI), 0, DSI),
]
SUB_GOLDEN = [
    (Quantity.from_nano(dec(10, 0), DSI), Quantity.from_nano(dec(1, 1), DSI), 0, DSI),
    (Quantity.from_nano(dec(10, 0), DSI), Quantity.from_nano(dec(1, 0), BSI), dec(9, 0), DSI),
    (Quantity.from_nano(dec(10, 0), BSI), Quantity.from_nano(dec(1, 0), DSI), dec(9, 0), BSI),
    (Quantity.from_nano(0, DSI), Quantity.from_nano(dec(50, 0), DSI), dec(-50, 0), DSI),
    (Quantity.from_nano(dec(50, 0), DSI), Quantity.from_nano(0, DSI), dec(50, 0), DSI),
    (Quantity.from_nano(0, DSI), Quantity.from_nano(0, DSI), 0, DSI),
]


@pytest.mark.parametrize(("left", "right", "nano", "fmt"), ADD_GOLDEN)
def test_addition_matches_upstream_add(
    left: Quantity, right: Quantity, nano: int, fmt: Format
) -> None:
    total = left + right
    assert total.nano == nano
    assert total.format is fmt


@pytest.mark.parametrize(("left", "right", "nano", "fmt"), SUB_GOLDEN)
def test_subtraction_matches_upstream_sub(
    left: Quantity, right: Quantity, nano: int, fmt: Format
) -> None:
    difference = left - right
    assert difference.nano == nano
    assert difference.format is fmt


@pytest.mark.parametrize("text", ["100m", "1Gi"])
def test_adding_zero_in_either_order_preserves_the_suffix(text: str) -> None:
    value, zero = q(text), q("0")
    assert str(value + zero) == text
    assert str(zero + value) == text
    assert (zero + value).format is value.format


@pytest.mark.parametrize("text", ["100m", "1Gi"])
def test_subtracting_from_zero_gives_the_negation_with_the_same_suffix(text: str) -> None:
    value, zero = q(text), q("0")
    assert str(value - zero) == text
    assert str(zero - value) == str(-value) == "-" + text


def test_negation_keeps_the_format_and_flips_the_sign() -> None:
    assert str(-q("9.01")) == "-9010m"
    assert (-q("10Ki")).format is BSI
    negated = -q("10Ki")
    assert -negated == q("10Ki")
    assert abs(q("-3Gi")) == q("3Gi")
    assert +q("1") == q("1")


def test_arithmetic_past_int64_stays_exact() -> None:
    most_negative = Quantity.from_int(INT64_MIN)
    assert str(-most_negative) == "9223372036854775808"
    assert str(q("0") - most_negative) == "9223372036854775808"
    assert str(q("1") - most_negative) == "9223372036854775809"
    assert str(q("10") - most_negative) == "9223372036854775818"
    assert str(Quantity.from_nano(0, DSI) - Quantity.from_int(INT64_MIN, BSI)) == "8Ei"
    assert str(Quantity.from_nano(1_000_000, DSI) - Quantity.from_nano(INT64_MIN * 10**6)) == (
        "9223372036854775809m"
    )


# TestMul: (value, factor, expected value)
MUL_GOLDEN = [
    (dec(10, 0), 10, dec(100, 0)),
    (dec(10, 0), 1, dec(10, 0)),
    (0, 50, 0),
    (dec(50, 0), 0, 0),
    (dec(10, 0), -10, dec(-100, 0)),
    (dec(-10, 0), 1, dec(-10, 0)),
    (dec(-50, 0), -50, dec(2500, 0)),
    (dec(INT64_MAX, 0), 2, dec(2 * INT64_MAX, 0)),
    (dec(INT64_MAX, 0), 10, dec(INT64_MAX, 1)),
    (dec(INT64_MIN, 0), -1, dec(2**63, 0)),
    (dec(INT64_MIN, 0), -10, dec(2**63, 1)),
]


@pytest.mark.parametrize(("nano", "factor", "expect"), MUL_GOLDEN)
def test_multiplication_by_an_integer_is_exact(nano: int, factor: int, expect: int) -> None:
    for fmt in Format:
        product = Quantity.from_nano(nano, fmt) * factor
        assert product.nano == expect
        assert product.format is fmt
        assert (factor * Quantity.from_nano(nano, fmt)).nano == expect


def test_multiplication_only_accepts_integers() -> None:
    with pytest.raises(TypeError):
        _ = q("1") * 1.5  # type: ignore[operator]
    with pytest.raises(TypeError):
        _ = q("1") * True
    with pytest.raises(TypeError):
        _ = q("1") * q("2")  # type: ignore[operator]


def test_addition_only_accepts_quantities() -> None:
    with pytest.raises(TypeError):
        _ = q("1") + 1  # type: ignore[operator]


def test_lo_plus_n_steps_is_exact() -> None:
    lo, step = q("1Gi"), q("0.5Gi")
    assert lo + step * 3 == q("2.5Gi")
    assert str(lo + step * 3) == "2560Mi"


def test_results_too_large_to_keep_raise_overflow_error() -> None:
    with pytest.raises(OverflowError):
        _ = q("1e1000") * 10**200
    with pytest.raises(OverflowError):
        Quantity.from_nano(10**1100)


# ----------------------------------------------------------------------- scalar conversions


def test_sign_and_zero_checks() -> None:
    assert q("5m").sign() == 1
    assert q("-5m").sign() == -1
    assert q("0Ki").sign() == 0
    assert q("0Ki").is_zero()
    assert not q("1n").is_zero()
    assert not q("0")
    assert q("1n")


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("9.01", 10),
        ("-9.01", -10),
        ("1n", 1),
        ("-1n", -1),
        ("0", 0),
        ("1Gi", 2**30),
        ("1.5", 2),
        ("10000E", 10**22),
    ],
)
def test_ceil_int_rounds_away_from_zero_like_upstream_value(text: str, expect: int) -> None:
    assert q(text).ceil_int() == expect


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("50000000G", 50_000_000_000_000_000),
        ("50k", 50_000),
        ("1000m", 1),
        ("1.5Gi", 1610612736),
        ("-9223372036854775808", INT64_MIN),
        ("9223372036854775807", INT64_MAX),
        ("8Ei", INT64_MAX),
        ("1Ei", 2**60),
        ("0", 0),
    ],
)
def test_whole_values_within_int64_convert_to_integers(text: str, expect: int) -> None:
    assert q(text).is_integer()
    assert q(text).as_integer() == expect


@pytest.mark.parametrize(
    "text", ["1.5", "1n", "9999999999999999999999999999999999999G", "9223372036854775808"]
)
def test_fractions_and_values_beyond_int64_do_not_convert_to_integers(text: str) -> None:
    assert not q(text).is_integer()
    with pytest.raises(ValueError, match="cannot convert"):
        q(text).as_integer()


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("2Ki", 2048.0),
        ("1.1Ki", 1126.4),
        ("1Mi", 1.048576e06),
        ("2Gi", 2.147483648e09),
        ("9223372036854775807", float(INT64_MAX)),
        ("8Ei", float(INT64_MAX)),
        ("12E", 1.2e19),
        ("12e500", math.inf),
        ("-12e500", -math.inf),
        ("0", 0.0),
        ("1e-9", 1e-9),
    ],
)
def test_approximate_float_matches_upstream(text: str, expect: float) -> None:
    assert q(text).as_approximate_float() == expect


# TestNewSet, TestMilliNewSet, TestNewScaledSet
@pytest.mark.parametrize(
    ("units", "fmt", "expect"),
    [
        (1, DSI, "1"),
        (1000, DSI, "1k"),
        (1234000, DSI, "1234k"),
        (1024, BSI, "1Ki"),
        (1000000, DEX, "1e6"),
        (1024 * 1024, BSI, "1Mi"),
    ],
)
def test_whole_unit_constructor_matches_upstream_new_quantity(
    units: int, fmt: Format, expect: str
) -> None:
    quantity = Quantity.from_int(units, fmt)
    assert str(quantity) == expect
    assert q(expect).ceil_int() == units


@pytest.mark.parametrize(
    ("milli", "fmt", "expect"),
    [
        (1, DSI, "1m"),
        (1000, DSI, "1"),
        (1234000, DSI, "1234"),
        (1024, BSI, "1024m"),
        (1000000, DEX, "1e3"),
        (1024 * 1024, BSI, "1048576m"),
    ],
)
def test_milli_values_print_like_upstream_new_milli_quantity(
    milli: int, fmt: Format, expect: str
) -> None:
    assert str(Quantity.from_nano(milli * 10**6, fmt)) == expect


@pytest.mark.parametrize(
    ("value", "exponent", "expect"),
    [
        (1, -9, "1n"),
        (1000, -9, "1u"),
        (1, -6, "1u"),
        (1000, -6, "1m"),
        (1, -3, "1m"),
        (1000, -3, "1"),
        (1, 0, "1"),
        (0, -9, "0"),
        (0, -6, "0"),
        (0, -3, "0"),
        (0, 0, "0"),
    ],
)
def test_scaled_values_print_like_upstream_new_scaled_quantity(
    value: int, exponent: int, expect: str
) -> None:
    assert str(Quantity.from_nano(dec(value, exponent), DSI)) == expect


def test_constructors_reject_bools_and_wrong_types() -> None:
    with pytest.raises(TypeError):
        Quantity.from_int(True)
    with pytest.raises(TypeError):
        Quantity.from_nano(1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Quantity.from_nano(1, "DecimalSI")  # type: ignore[arg-type]


# -------------------------------------------------------------------------- YAML scalars


@pytest.mark.parametrize(
    ("value", "expect", "fmt"),
    [
        ("1Gi", "1Gi", BSI),
        (4, "4", DSI),
        (0, "0", DSI),
        (-3, "-3", DSI),
        (1024, "1024", DSI),
        (2**70, "1180591620717411303424", DSI),
        (1.5, "1500m", DSI),
        (4.0, "4", DSI),
        (0.1, "100m", DSI),
        (-0.0, "0", DSI),
        (1e20, "100E", DSI),
        (1e21, "1e21", DEX),
        (1e-6, "1u", DSI),
        (1e-7, "100e-9", DEX),
        (1e-5, "10u", DSI),
        (5e-324, "1e-9", DEX),
    ],
)
def test_yaml_scalars_become_quantities(value: str | int | float, expect: str, fmt: Format) -> None:
    quantity = parse_quantity(value)
    assert str(quantity) == expect
    assert quantity.format is fmt


def test_parse_quantity_passes_quantities_through() -> None:
    quantity = q("1Gi")
    assert parse_quantity(quantity) is quantity


@pytest.mark.parametrize("value", [True, False, None, [1], b"1"])
def test_parse_quantity_rejects_bools_and_other_types(value: object) -> None:
    with pytest.raises(TypeError):
        parse_quantity(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_parse_quantity_rejects_non_finite_floats(value: float) -> None:
    with pytest.raises(ValueError, match="cannot be"):
        parse_quantity(value)


@pytest.mark.parametrize(
    ("value", "expect"),
    [
        (" 1", "1"),
        ("1 ", "1"),
        ("\t2Gi\n", "2Gi"),
        ("\u00a0100m\u3000", "100m"),
        (None, "0"),
        (4, "4"),
        (1.5, "1500m"),
    ],
)
def test_built_in_objects_quantities_decode_as_the_api_servers_json_decoding(
    value: object, expect: str
) -> None:
    # Quantity.UnmarshalJSON: null is zero, surrounding whitespace trimmed (strings.TrimSpace).
    assert str(decode_quantity(value)) == expect


@pytest.mark.parametrize("text", ["1 Gi", "", "  ", "\x1c1", "1\x1f"])
def test_decoding_still_refuses_inner_whitespace_and_what_go_does_not_call_space(
    text: str,
) -> None:
    # U+001C..U+001F are spaces to Python's str.strip but not to Go's unicode.IsSpace.
    with pytest.raises(ValueError, match="invalid quantity"):
        decode_quantity(text)


@pytest.mark.parametrize("value", [True, [1], {"a": 1}, b"1"])
def test_decoding_refuses_bools_and_other_types(value: object) -> None:
    with pytest.raises(TypeError, match="quantity must be a string or a number"):
        decode_quantity(value)


def test_parsing_as_kueues_schema_checks_still_refuses_surrounding_whitespace() -> None:
    with pytest.raises(ValueError, match="whitespace"):
        parse_quantity(" 1")


# ------------------------------------------------------------------- immutability, caching


def test_quantities_are_immutable() -> None:
    quantity = q("1Gi")
    with pytest.raises(AttributeError):
        quantity.nano = 5  # type: ignore[misc]
    with pytest.raises(AttributeError):
        quantity.format = DSI  # type: ignore[misc]
    with pytest.raises(AttributeError):
        quantity.extra = 1  # type: ignore[attr-defined]
    assert not hasattr(quantity, "__dict__")


def test_quantities_survive_pickle_and_copy() -> None:
    quantity = q("1.5Gi")
    restored = pickle.loads(pickle.dumps(quantity))
    assert restored == quantity
    assert restored.format is quantity.format
    assert str(restored) == "1536Mi"
    assert copy.copy(quantity) is quantity
    assert copy.deepcopy(quantity) is quantity


def test_repr_shows_the_canonical_form_and_format() -> None:
    assert repr(q("1.5Gi")) == "Quantity('1536Mi', format=BinarySI)"


def test_parsing_is_cached_in_a_bounded_cache() -> None:
    assert q("3Gi") is q("3Gi")
    maxsize = _parse_cached.cache_info().maxsize
    assert maxsize is not None
    assert maxsize > 0


# -------------------------------------------------------------------------------- properties

DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12}
DECIMAL_SUFFIXES |= {"P": 15, "E": 18}
BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}

digit_strings = st.text(alphabet="0123456789", max_size=25)
suffixes = st.one_of(
    st.sampled_from(sorted(DECIMAL_SUFFIXES)),
    st.sampled_from(sorted(BINARY_SUFFIXES)),
    st.builds(
        lambda letter, sign, exponent: f"{letter}{sign}{exponent}",
        st.sampled_from("eE"),
        st.sampled_from(["", "+", "-"]),
        st.integers(0, 40).map(str),
    ),
)


@st.composite
def quantity_texts(draw: st.DrawFn) -> tuple[str, str, str | None, str]:
    sign = draw(st.sampled_from(["", "+", "-"]))
    whole = draw(digit_strings)
    fraction = draw(st.none() | digit_strings)
    suffix = draw(suffixes)
    return sign, whole, fraction, suffix


def oracle(sign: str, whole: str, fraction: str | None, suffix: str) -> tuple[int, Format]:
    """Expected (nano, format), computed independently with exact fractions."""
    value = Fraction(int(whole or "0"))
    if fraction:
        value += Fraction(int(fraction), 10 ** len(fraction))
    if suffix in DECIMAL_SUFFIXES:
        value *= Fraction(10) ** DECIMAL_SUFFIXES[suffix]
        fmt = DSI
    elif suffix in BINARY_SUFFIXES:
        value *= 2 ** BINARY_SUFFIXES[suffix]
        fmt = BSI
    else:
        value *= Fraction(10) ** int(suffix[1:])
        fmt = DEX
    nano = math.ceil(value * NANO_PER_UNIT)
    if fmt is BSI:
        nano = min(nano, MAX_ALLOWED_NANO)
        if 0 < nano < NANO_PER_UNIT:
            fmt = DSI
    return (-nano if sign == "-" else nano), fmt


@st.composite
def quantities(draw: st.DrawFn) -> Quantity:
    fmt = draw(st.sampled_from(list(Format)))
    # BinarySI above int64 prints with a suffix that parsing caps, so keep it within range
    bound = MAX_ALLOWED_NANO if fmt is BSI else 10**40
    nano = draw(
        st.one_of(
            st.integers(-bound, bound),
            st.integers(-(10**6), 10**6).map(lambda units: units * NANO_PER_UNIT),
            st.integers(-64, 64).map(lambda n: n * 1024**3 * NANO_PER_UNIT),
        )
    )
    return Quantity.from_nano(nano, fmt)


@PROPERTY_SETTINGS
@given(quantity_texts())
def test_parsing_generated_text_agrees_with_an_exact_fraction_oracle(
    parts: tuple[str, str, str | None, str],
) -> None:
    sign, whole, fraction, suffix = parts
    text = f"{sign}{whole}{'' if fraction is None else '.' + fraction}{suffix}"
    assume(text)  # the empty string is the one spelling the grammar leaves out
    parsed = q(text)
    assert (parsed.nano, parsed.format) == oracle(sign, whole, fraction, suffix)


@PROPERTY_SETTINGS
@given(quantities())
def test_canonical_text_parses_back_to_the_same_value(quantity: Quantity) -> None:
    assert q(str(quantity)) == quantity


@PROPERTY_SETTINGS
@given(quantities())
def test_printing_is_stable_once_the_canonical_text_is_reparsed(quantity: Quantity) -> None:
    # A BinarySI value printed without a binary suffix ("125000") reparses as DecimalSI and
    # then prints as "125k"; from there on, parse-then-print is the identity.
    text = str(q(str(quantity)))
    assert str(q(text)) == text
    if quantity.format is not BSI:
        assert text == str(quantity)


@PROPERTY_SETTINGS
@given(quantities(), quantities())
def test_ordering_and_equality_follow_the_nano_value(a: Quantity, b: Quantity) -> None:
    assert (a < b) == (a.nano < b.nano)
    assert (a <= b) == (a.nano <= b.nano)
    assert (a > b) == (a.nano > b.nano)
    assert (a >= b) == (a.nano >= b.nano)
    assert (a == b) == (a.nano == b.nano)
    assert a.cmp(b) == (a.nano > b.nano) - (a.nano < b.nano)
    assert sorted([a, b]) == sorted([b, a])


@PROPERTY_SETTINGS
@given(quantities(), st.sampled_from(list(Format)))
def test_reformatting_keeps_equality_and_hash(quantity: Quantity, fmt: Format) -> None:
    other = Quantity.from_nano(quantity.nano, fmt)
    assert other == quantity
    assert hash(other) == hash(quantity)


@PROPERTY_SETTINGS
@given(quantities(), quantities())
def test_subtraction_undoes_addition(a: Quantity, b: Quantity) -> None:
    assert (a + b) - b == a
    assert (a - b) + b == a
    assert a + b == b + a
    assert a - b == a + (-b)
    assert (a - a).is_zero()


@PROPERTY_SETTINGS
@given(quantities(), st.integers(-1000, 1000))
def test_multiplication_is_repeated_addition(quantity: Quantity, factor: int) -> None:
    product = quantity * factor
    assert product.nano == quantity.nano * factor
    assert product.format is quantity.format


@PROPERTY_SETTINGS
@given(quantities())
def test_ceil_int_is_the_nearest_whole_number_away_from_zero(quantity: Quantity) -> None:
    value = Fraction(quantity.nano, NANO_PER_UNIT)
    rounded = quantity.ceil_int()
    assert abs(rounded) >= abs(value)
    assert abs(rounded) - abs(value) < 1
    assert rounded * value >= 0
