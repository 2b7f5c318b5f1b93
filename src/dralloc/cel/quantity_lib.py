"""The Kubernetes CEL quantity library (k8s.io/apiserver/pkg/cel/library/quantity.go).

Owns the Python side of `quantity(s)`, `isQuantity(s)` and the Quantity member functions
(`sign`, `isInteger`, `asInteger`, `asApproximateFloat`, `add`, `sub`); the quantity half of
`compareTo`/`isGreaterThan`/`isLessThan` lives in `library.py`, on the hot path. Values
travel as tagged strings (see `values.py`). Functions here may raise `EvalError`;
`library.py` wraps them so nothing ever raises into the Rust library. Pure computation, no I/O.

Not provided: `mul`, `div` and `divInt` (added upstream after the 1.36 base environment this
package targets). `isInteger()` follows `Quantity.is_integer()` (by value), where upstream
depends on the internal representation (see `dralloc.api.quantity`).
"""

from __future__ import annotations

from typing import Any

from dralloc.api.quantity import Quantity
from dralloc.cel.values import QUANTITY_TAG, EvalError, decode_quantity, encode_quantity

__all__ = [
    "add",
    "as_approximate_float",
    "as_integer",
    "is_integer",
    "is_quantity_string",
    "quantity",
    "sign",
    "sub",
]


def quantity(text: Any) -> str:
    if not isinstance(text, str) or text.startswith(QUANTITY_TAG):
        raise EvalError("no such overload")
    try:
        return encode_quantity(Quantity.parse(text))
    except ValueError as exc:
        raise EvalError(str(exc)) from None


def is_quantity_string(text: Any) -> bool:
    if not isinstance(text, str) or text.startswith(QUANTITY_TAG):
        raise EvalError("no such overload")
    try:
        Quantity.parse(text)
    except ValueError:
        return False
    return True


def sign(value: Any) -> int:
    return decode_quantity(value).sign()


def is_integer(value: Any) -> bool:
    return decode_quantity(value).is_integer()


def as_integer(value: Any) -> int:
    try:
        return decode_quantity(value).as_integer()
    except ValueError:
        raise EvalError("cannot convert value to integer") from None


def as_approximate_float(value: Any) -> float:
    return decode_quantity(value).as_approximate_float()


def add(value: Any, other: Any) -> str:
    return encode_quantity(decode_quantity(value) + _operand(other))


def sub(value: Any, other: Any) -> str:
    return encode_quantity(decode_quantity(value) - _operand(other))


def _operand(other: Any) -> Quantity:
    """The right-hand side of add/sub: a Quantity or a CEL int (never a bool)."""
    if isinstance(other, int) and not isinstance(other, bool):
        return Quantity.from_int(other)
    return decode_quantity(other)
