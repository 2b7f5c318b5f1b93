"""Exact Kubernetes resource quantities (k8s.io/apimachinery/pkg/api/resource.Quantity).

This module owns the `Quantity` value type: parsing the quantity grammar, the canonical
string form (upstream's `String()`), exact comparison and the small amount of arithmetic the
allocator and the CEL library need. Pure computation, no I/O.

Why hand-written: no maintained package on PyPI parses quantities exactly. The `kubernetes`
client's `parse_quantity` returns a `decimal.Decimal` computed under the default 28-digit
context, does not round to nano-units or cap BinarySI values as the API server does, and has
no canonical form. This implementation is written from the upstream semantics and checked
against upstream's golden test values (tests/api/test_quantity.py).

Representation: a quantity is an integer number of nano-units plus the `Format` it was
written in. Upstream keeps values only down to nano and rounds anything finer away from zero
when parsing ("0.9n" is 1n, "-0.9n" is -1n), so an integer count of nano-units is exact.

Upstream behaviours kept on purpose (each has a test):

- A number with no digits is zero: "Ki", "m", "-", "." and "+.e3" all parse as 0, because
  upstream's scanner treats a missing numeral as "0".
- Parsing caps a BinarySI quantity at 2^63-1 in magnitude ("8Ei" is 9223372036854775807);
  decimal quantities are not capped.
- A parsed BinarySI value strictly between -1 and 1 (other than zero) becomes DecimalSI.
- DecimalSI has no suffix above "E", so larger canonical exponents print as "e21" and so on.
- The canonical BinarySI form is used only for whole values of magnitude >= 1024; anything
  else prints as DecimalSI.
- Adding to or subtracting from a zero receiver takes the other operand's format; otherwise
  the receiver's format is kept.

Deliberate, documented differences from upstream:

- `str()` is always the canonical form. Upstream's `String()` echoes the input text for some
  inputs it already considers canonical, so it returns "+1" for "+1", "010" for "010" and
  "1E3" for "1E3", where this module returns "1", "10" and "1e3" (the same values).
- Exponents must fit an int32 ("1e2147483648" is rejected). Inputs with more than
  `MAX_SIGNIFICANT_DIGITS` significant digits, and values of `NANO_DIGIT_LIMIT` or more
  digits in nano-units, are rejected (parse) or raise OverflowError (arithmetic); upstream
  accepts unbounded sizes, which would make parsing a denial-of-service vector here.
- A canonical BinarySI suffix never goes past "Ei" (1024^7 prints as "1024Ei"; upstream drops
  the suffix there and so misprints the value).
- `is_integer()` / `as_integer()` are defined on the value (a whole number in int64 range).
  Upstream CEL's `isInteger()` depends on the internal representation and is false for
  "1000m", "1.5Gi" and "1Ei"; here all three are integers.
- `as_approximate_float()` is correctly rounded; upstream may differ in the last ulp.
"""

from __future__ import annotations

import functools
import math
import re
from enum import StrEnum
from types import MappingProxyType
from typing import Final, NoReturn, final

__all__ = [
    "MAX_SIGNIFICANT_DIGITS",
    "NANO_DIGIT_LIMIT",
    "NANO_PER_UNIT",
    "Format",
    "Quantity",
    "decode_quantity",
    "parse_quantity",
]


class Format(StrEnum):
    """How a quantity was written, and so how its canonical form is spelled."""

    DecimalSI = "DecimalSI"  # 12M = 12 * 10^6
    BinarySI = "BinarySI"  # 12Mi = 12 * 2^20
    DecimalExponent = "DecimalExponent"  # 12e6


NANO_PER_UNIT: Final = 10**9
"""Nano-units in one unit: the resolution of every quantity."""

MAX_SIGNIFICANT_DIGITS: Final = 1000
"""Most digits `Quantity.parse` accepts in the number and, separately, in its fraction
(leading zeros of the number and trailing zeros of the fraction are not counted)."""

NANO_DIGIT_LIMIT: Final = 1100
"""Every quantity's nano-unit count has fewer than this many decimal digits."""

_NANO_LIMIT: Final = 10**NANO_DIGIT_LIMIT
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
_INT32_MIN: Final = -(2**31)
_INT32_MAX: Final = 2**31 - 1
_BINARY_SI_CAP_NANO: Final = _INT64_MAX * NANO_PER_UNIT
_BINARY_CANONICAL_MIN_NANO: Final = 1024 * NANO_PER_UNIT

_DECIMAL_SUFFIXES: Final = MappingProxyType(
    {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
)
_BINARY_SUFFIXES: Final = MappingProxyType(
    {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
)
_DECIMAL_SUFFIX_BY_EXPONENT: Final = MappingProxyType(
    {exponent: suffix for suffix, exponent in _DECIMAL_SUFFIXES.items()}
)
_BINARY_SUFFIX_BY_POWER: Final = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")

# <sign>? <digits>? ( "." <digits>? )? <suffix>, where the suffix part is as permissive as
# upstream's scanner (letters from the suffix alphabet, an optional sign, digits) and is
# interpreted afterwards. ASCII digits only: [0-9], never \d.
_QUANTITY_RE: Final = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?([eEinumkKMGTP]*[+-]?[0-9]*)")
_EXPONENT_RE: Final = re.compile(r"[eE]([+-]?[0-9]+)")

_PARSE_CACHE_SIZE: Final = 4096

# What Go's unicode.IsSpace calls space (and so strings.TrimSpace trims): Unicode's
# White_Space property. Python's str.isspace also counts U+001C..U+001F, which Go does not.
_GO_SPACE: Final = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


@final
class Quantity:
    """An exact Kubernetes resource quantity: an integer count of nano-units and a `Format`.

    Immutable (read-only properties over private slots, as `fractions.Fraction` does) and
    hashable. Equality, ordering and hashing use the value only, never the format:
    `Quantity.parse("1Gi") == Quantity.parse("1024Mi")`.

    `Quantity(nano, fmt)` and `Quantity.from_nano(nano, fmt)` build one from nano-units;
    `Quantity.parse(text)` and `Quantity.from_int(units)` are the usual entry points.
    """

    __slots__ = ("_format", "_nano", "_text")

    # `_text` caches the canonical form; it stays unset until `canonical()` first runs.
    _nano: int
    _format: Format
    _text: str

    def __init__(self, nano: int, fmt: Format = Format.DecimalSI) -> None:
        if isinstance(nano, bool) or not isinstance(nano, int):
            raise TypeError(f"nano must be an int, not {type(nano).__name__}")
        if not isinstance(fmt, Format):
            raise TypeError(f"fmt must be a Format, not {type(fmt).__name__}")
        nano = int(nano)
        _check_magnitude(nano)
        self._nano = nano
        self._format = fmt

    # ----------------------------------------------------------------------- construction

    @classmethod
    def parse(cls, text: str) -> Quantity:
        """Parse a quantity string exactly as upstream's `ParseQuantity` does.

        Raises ValueError for text that is not a quantity (including any surrounding
        whitespace, which upstream also rejects).
        """
        if not isinstance(text, str):
            raise TypeError(f"quantity text must be a str, not {type(text).__name__}")
        return _parse_cached(text)

    @classmethod
    def from_int(cls, value: int, fmt: Format = Format.DecimalSI) -> Quantity:
        """A whole number of units (what a bare JSON/YAML integer such as `4` means)."""
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"value must be an int, not {type(value).__name__}")
        return cls(int(value) * NANO_PER_UNIT, fmt)

    @classmethod
    def from_nano(cls, nano: int, fmt: Format = Format.DecimalSI) -> Quantity:
        """A quantity of exactly `nano` nano-units, written in format `fmt`."""
        return cls(nano, fmt)

    # ------------------------------------------------------------------------- accessors

    @property
    def nano(self) -> int:
        """The exact value in nano-units (value * 10^9)."""
        return self._nano

    @property
    def format(self) -> Format:
        """The format the quantity was written in; it decides the canonical spelling."""
        return self._format

    def sign(self) -> int:
        """-1, 0 or 1."""
        nano = self._nano
        return (nano > 0) - (nano < 0)

    def is_zero(self) -> bool:
        """The value is zero."""
        return self._nano == 0

    def is_integer(self) -> bool:
        """`as_integer()` would succeed: a whole number of units within int64 range."""
        nano = self._nano
        return nano % NANO_PER_UNIT == 0 and _INT64_MIN <= nano // NANO_PER_UNIT <= _INT64_MAX

    def as_integer(self) -> int:
        """The value as an int64, like CEL's `asInteger()`.

        Raises ValueError if the value is not a whole number or does not fit an int64.
        """
        units, remainder = divmod(self._nano, NANO_PER_UNIT)
        if remainder:
            raise ValueError(f"cannot convert quantity {self} to integer: not a whole number")
        if not _INT64_MIN <= units <= _INT64_MAX:
            raise ValueError(f"cannot convert quantity {self} to integer: overflows int64")
        return units

    def ceil_int(self) -> int:
        """The value rounded to a whole number away from zero, as upstream's `Value()` does.

        For non-negative values this is the ceiling. Unlike `Value()` it never overflows.
        """
        nano = self._nano
        units, remainder = divmod(abs(nano), NANO_PER_UNIT)
        if remainder:
            units += 1
        return units if nano >= 0 else -units

    def as_approximate_float(self) -> float:
        """The value as the nearest float; +/-inf when out of float range."""
        try:
            return self._nano / NANO_PER_UNIT
        except OverflowError:
            return math.inf if self._nano > 0 else -math.inf

    def canonical(self) -> str:
        """The canonical string form, as upstream's `String()` spells it."""
        try:
            return self._text
        except AttributeError:
            text = _canonical(self._nano, self._format)
            self._text = text
            return text

    def cmp(self, other: Quantity) -> int:
        """-1, 0 or 1 as this quantity is less than, equal to or greater than `other`."""
        a, b = self._nano, other._nano
        return (a > b) - (a < b)

    # ------------------------------------------------------------------------- protocols

    def __str__(self) -> str:
        return self.canonical()

    def __repr__(self) -> str:
        return f"Quantity({self.canonical()!r}, format={self._format.value})"

    def __hash__(self) -> int:
        return hash(self._nano)

    def __bool__(self) -> bool:
        return self._nano != 0

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Quantity):
            return self._nano == other._nano
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        if isinstance(other, Quantity):
            return self._nano != other._nano
        return NotImplemented

    def __lt__(self, other: Quantity) -> bool:
        if isinstance(other, Quantity):
            return self._nano < other._nano
        return NotImplemented

    def __le__(self, other: Quantity) -> bool:
        if isinstance(other, Quantity):
            return self._nano <= other._nano
        return NotImplemented

    def __gt__(self, other: Quantity) -> bool:
        if isinstance(other, Quantity):
            return self._nano > other._nano
        return NotImplemented

    def __ge__(self, other: Quantity) -> bool:
        if isinstance(other, Quantity):
            return self._nano >= other._nano
        return NotImplemented

    def __add__(self, other: Quantity) -> Quantity:
        """Exact sum; keeps this quantity's format, or takes `other`'s if this one is zero."""
        if not isinstance(other, Quantity):
            return NotImplemented
        fmt = other._format if self._nano == 0 else self._format
        return _checked(self._nano + other._nano, fmt)

    def __sub__(self, other: Quantity) -> Quantity:
        """Exact difference; the format follows the same rule as `+`."""
        if not isinstance(other, Quantity):
            return NotImplemented
        fmt = other._format if self._nano == 0 else self._format
        return _checked(self._nano - other._nano, fmt)

    def __mul__(self, factor: int) -> Quantity:
        """Exact product with an integer (not a bool); keeps this quantity's format."""
        if isinstance(factor, bool) or not isinstance(factor, int):
            return NotImplemented
        return _checked(self._nano * factor, self._format)

    __rmul__ = __mul__

    def __neg__(self) -> Quantity:
        return _new(-self._nano, self._format)

    def __pos__(self) -> Quantity:
        return self

    def __abs__(self) -> Quantity:
        return self if self._nano >= 0 else _new(-self._nano, self._format)

    # ------------------------------------------------------------------------ immutability

    def __reduce__(self) -> tuple[type[Quantity], tuple[int, Format]]:
        return (Quantity, (self._nano, self._format))

    def __copy__(self) -> Quantity:
        return self

    def __deepcopy__(self, memo: object) -> Quantity:
        return self


_object_new: Final = object.__new__


def _new(nano: int, fmt: Format) -> Quantity:
    """A Quantity without argument checks; `nano` must already be within the limit."""
    quantity: Quantity = _object_new(Quantity)
    quantity._nano = nano
    quantity._format = fmt
    return quantity


# Upstream's zero Quantity (what `null` decodes to), immutable like every Quantity.
_ZERO: Final = _new(0, Format.DecimalSI)


def parse_quantity(value: str | int | float | Quantity) -> Quantity:
    """A quantity from a decoded YAML/JSON scalar.

    Strings are parsed with `Quantity.parse`. An int (YAML `value: 4`) is that many whole
    units, DecimalSI. A float (YAML `value: 1.5`) is taken at its shortest round-trip decimal
    spelling (`repr`), as if Go's encoding/json had written it out: DecimalSI when its
    magnitude is 0 or in [1e-6, 1e21), DecimalExponent otherwise. A Quantity is returned
    as is. NaN and infinities raise ValueError; bool and other types raise TypeError.
    """
    if isinstance(value, Quantity):
        return value
    if isinstance(value, bool):
        raise TypeError("a quantity cannot be a bool")
    if isinstance(value, str):
        return Quantity.parse(value)
    if isinstance(value, int):
        return Quantity.from_int(value)
    if isinstance(value, float):
        return _from_float(value)
    raise TypeError(f"a quantity must be a str, int or float, not {type(value).__name__}")


def decode_quantity(value: object) -> Quantity:
    """A quantity field of a built-in object (a Pod's requests, a device's capacity) as
    kube-apiserver's JSON decoding reads it (upstream's `Quantity.UnmarshalJSON`): `null` is a
    zero quantity, and whitespace around the text ("1 ", " 2Gi") is trimmed before parsing,
    as Go's `strings.TrimSpace` trims it; whitespace inside ("1 Gi") is still refused. Other
    scalars as `parse_quantity`. Kueue's custom resources are checked against their schema's
    quantity pattern instead, which allows no whitespace at all: use `parse_quantity` there.
    """
    if value is None:
        return _ZERO
    if isinstance(value, str):
        return Quantity.parse(value.strip(_GO_SPACE))
    if isinstance(value, bool) or not isinstance(value, int | float | Quantity):
        raise TypeError(f"quantity must be a string or a number, got {type(value).__name__}")
    return parse_quantity(value)


# ------------------------------------------------------------------------------ internals


def _check_magnitude(nano: int) -> None:
    if not -_NANO_LIMIT < nano < _NANO_LIMIT:
        raise OverflowError(
            f"quantity magnitude must have fewer than {NANO_DIGIT_LIMIT} digits in nano-units"
        )


def _checked(nano: int, fmt: Format) -> Quantity:
    _check_magnitude(nano)
    return _new(nano, fmt)


def _from_float(value: float) -> Quantity:
    if not math.isfinite(value):
        raise ValueError(f"a quantity cannot be {value!r}")
    parsed = Quantity.parse(repr(value))
    magnitude = abs(value)
    plain = magnitude == 0.0 or 1e-6 <= magnitude < 1e21
    fmt = Format.DecimalSI if plain else Format.DecimalExponent
    return parsed if parsed.format is fmt else _new(parsed.nano, fmt)


def _invalid(text: str, reason: str) -> NoReturn:
    raise ValueError(f"invalid quantity {text!r}: {reason}")


def _interpret_suffix(text: str, suffix: str) -> tuple[int, int, Format]:
    """(base, exponent, format) for a suffix, as upstream's suffixer interprets it."""
    exponent = _DECIMAL_SUFFIXES.get(suffix)
    if exponent is not None:
        return 10, exponent, Format.DecimalSI
    exponent = _BINARY_SUFFIXES.get(suffix)
    if exponent is not None:
        return 2, exponent, Format.BinarySI
    match = _EXPONENT_RE.fullmatch(suffix)
    if match is None:
        _invalid(
            text,
            f"unknown suffix {suffix!r} (expected one of n u m k M G T P E, "
            "Ki Mi Gi Ti Pi Ei, or an exponent such as e3 or E-6)",
        )
    exponent = int(match.group(1))
    if not _INT32_MIN <= exponent <= _INT32_MAX:
        _invalid(text, f"exponent {exponent} is out of int32 range")
    return 10, exponent, Format.DecimalExponent


@functools.lru_cache(maxsize=_PARSE_CACHE_SIZE)
def _parse_cached(text: str) -> Quantity:
    if not text:
        _invalid(text, "empty string")
    match = _QUANTITY_RE.fullmatch(text)
    if match is None:
        if any(char.isspace() for char in text):
            _invalid(text, "whitespace is not allowed (write '1Gi', not ' 1Gi' or '1 Gi')")
        _invalid(
            text,
            "expected <sign><digits>[.<digits>]<suffix>, such as '1.5', '100m', '2Gi' or '1e3'",
        )
    sign, whole, fraction, suffix = match.groups()
    base, exponent, fmt = _interpret_suffix(text, suffix)

    # value = sign * <whole>.<fraction> * base^exponent, with <digits> = whole + fraction
    fraction = (fraction or "").rstrip("0")
    digits = (whole + fraction).lstrip("0")
    if not digits:
        return _new(0, fmt)
    if len(digits) > MAX_SIGNIFICANT_DIGITS or len(fraction) > MAX_SIGNIFICANT_DIGITS:
        _invalid(text, f"more than {MAX_SIGNIFICANT_DIGITS} significant digits")
    mantissa = int(digits)

    if base == 10:
        # nano = mantissa * 10^shift, rounded away from zero when shift < 0
        shift = exponent - len(fraction) + 9
        if shift >= 0:
            if len(digits) + shift > NANO_DIGIT_LIMIT:
                _invalid(text, "value is too large")
            nano = mantissa * 10**shift
        elif -shift >= len(digits):
            nano = 1  # 0 < mantissa < 10^-shift: below one nano-unit, rounds up to 1n
        else:
            nano = -(-mantissa // 10**-shift)
    else:
        nano = -(-(mantissa << exponent) * NANO_PER_UNIT // 10 ** len(fraction))
        nano = min(nano, _BINARY_SI_CAP_NANO)
        if nano < NANO_PER_UNIT:
            fmt = Format.DecimalSI  # a fraction of one unit is not written in binary
    return _new(-nano if sign == "-" else nano, fmt)


def _canonical(nano: int, fmt: Format) -> str:
    if nano == 0:
        return "0"
    sign = "-" if nano < 0 else ""
    magnitude = -nano if nano < 0 else nano
    if fmt is Format.BinarySI:
        if magnitude >= _BINARY_CANONICAL_MIN_NANO and magnitude % NANO_PER_UNIT == 0:
            units = magnitude // NANO_PER_UNIT
            power = 0
            while power < 6 and units & 1023 == 0:
                units >>= 10
                power += 1
            return f"{sign}{units}{_BINARY_SUFFIX_BY_POWER[power]}"
        fmt = Format.DecimalSI
    # The largest exponent that is a multiple of 3 and leaves a whole mantissa.
    exponent = -9
    while magnitude % 1000 == 0:
        magnitude //= 1000
        exponent += 3
    if fmt is Format.DecimalSI:
        suffix = _DECIMAL_SUFFIX_BY_EXPONENT.get(exponent)
        if suffix is not None:
            return f"{sign}{magnitude}{suffix}"
    return f"{sign}{magnitude}" if exponent == 0 else f"{sign}{magnitude}e{exponent}"
