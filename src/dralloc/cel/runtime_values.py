"""The values of `runtime_cost.py`'s walk, and the library running one operation at a time.

Values are what the library gives Python (ints, doubles, strings with Quantity, Semver, IP
and CIDR as tagged strings, lists, dicts), plus `ErrorValue` (a CEL error, which the walk
carries on with as cel-go does), `TypeValue` (a type such as `int`) and `DomainMap` (the
device's attribute and capacity maps, whose unknown domain is empty). `LibraryCalls` computes
an operation's value with the library itself, so no value differs from the plain
evaluation's; `native_binary` computes here the few whose meaning is Python's (the hot loop
of a costly selector); `MACROS`, `combine` and `accumulate` say what each step of a
macro's cel-go expansion makes of its accumulator. Pure computation; the library is the only
thing called.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from dralloc.cel.binding import cel
from dralloc.cel.ext_lib import LISTS_RANGE_MAX
from dralloc.cel.library import FUNCTIONS, fold_constant_call
from dralloc.cel.runtime_cost_model import is_tagged
from dralloc.cel.source import rewrite, tokenize
from dralloc.cel.values import cel_type_name, runtime_message

__all__ = [
    "FIXED_VARIABLES",
    "MACROS",
    "NOT_NATIVE",
    "TWO_VARIABLE_ONLY",
    "DomainMap",
    "ErrorValue",
    "LibraryCalls",
    "TypeValue",
    "accumulate",
    "combine",
    "is_count",
    "native_binary",
    "plain",
    "size_of",
]


@dataclass(frozen=True, slots=True)
class ErrorValue:
    """A CEL error value (evaluation goes on around it, as in cel-go)."""

    message: str


@dataclass(frozen=True, slots=True)
class TypeValue:
    name: str


class DomainMap(dict[str, Any]):
    """`device.attributes` and `device.capacity`: an unknown domain is an empty map, as
    upstream's `newStringInterfaceMapWithDefault`."""

    def __missing__(self, key: str) -> dict[str, Any]:
        return {}


class LibraryCalls:
    """The library programs for single operations (`_0 + _1`, `_0.f(_1)`), compiled once per
    form and run against one Context that the operands are written into. Owned by a
    `CelEnvironment`; bounded by the number of operator and function forms (a few hundred)."""

    def __init__(self) -> None:
        self._programs: dict[str, Any] = {}
        self._context: Any = None

    def run(self, form: str, operands: list[Any]) -> Any:
        for operand in operands:
            if isinstance(operand, ErrorValue):
                return operand
        program = self._programs.get(form)
        if program is None:
            try:
                program = cel.compile(rewrite(form, tokenize(form), fold_constant_call))
            except Exception as exc:
                return ErrorValue(runtime_message(exc))
            self._programs[form] = program
        context = self._context
        if context is None:
            context = cel.Context(variables={}, functions=dict(FUNCTIONS))
            self._context = context
        context.update({f"_{i}": value for i, value in enumerate(operands)})
        try:
            return program.execute(context)
        except Exception as exc:
            return ErrorValue(runtime_message(exc))


NOT_NATIVE: Final = object()
_INT64: Final = range(-(2**63), 2**63)
_COMPARISONS: Final = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def native_binary(operator: str, left: Any, right: Any) -> Any:
    """The operator on two ints, two doubles or two strings computed here, where CEL's
    meaning is Python's (the hot loop of a costly selector); `NOT_NATIVE` for everything
    else, which the library computes. An int result past int64 is left to the library's
    overflow error."""
    kind = type(left)
    if kind is not type(right) or kind not in (int, float, str):
        return NOT_NATIVE
    compare = _COMPARISONS.get(operator)
    if compare is not None:
        return compare(left, right)
    if operator == "+" or (kind is not str and operator in ("-", "*")):
        result = (
            left + right if operator == "+" else left - right if operator == "-" else left * right
        )
        return result if kind is not int or result in _INT64 else NOT_NATIVE
    return NOT_NATIVE


def is_count(args: list[Any]) -> bool:
    return len(args) == 1 and type(args[0]) is int and 0 <= args[0] <= LISTS_RANGE_MAX


def size_of(value: Any) -> Any:
    if isinstance(value, ErrorValue):
        return value
    if isinstance(value, str):
        return len(value) if not is_tagged(value) else ErrorValue("no such overload")
    if isinstance(value, bytes | list | dict):
        return len(value)
    return ErrorValue(f"no such overload: size({cel_type_name(value)})")


def plain(value: Any) -> Any:
    """The value as the library takes it (a type value as its name's string)."""
    return value.name if isinstance(value, TypeValue) else value


# ----------------------------------------------------------------- a macro's steps

MACROS: Final = {
    "all": "all",
    "exists": "exists",
    "exists_one": "exists_one",
    "existsOne": "exists_one",
    "map": "map",
    "filter": "filter",
    "transformList": "map",
    "transformMap": "transformMap",
    "transformMapEntry": "transformMapEntry",
}
TWO_VARIABLE_ONLY: Final = frozenset(
    {"existsOne", "transformList", "transformMap", "transformMapEntry"}
)
# Macros with one form only (`all`, `exists` and `exists_one` take one variable or two).
FIXED_VARIABLES: Final = frozenset({"map", "filter", *TWO_VARIABLE_ONLY})


def accumulate(macro: str, result: Any, key: Any, produced: Any) -> Any:
    """One step's addition to a `map`/`filter`/`transform*` result (errors stick)."""
    if isinstance(result, ErrorValue):
        return result
    if isinstance(produced, ErrorValue):
        return produced
    if macro in ("map", "filter"):
        return [*result, produced]
    if macro == "transformMap":
        return {**result, key: produced}
    if not isinstance(produced, dict):
        return ErrorValue("no such overload")
    if result.keys() & produced.keys():
        return ErrorValue("insert failed: key already exists")
    return {**result, **produced}


def combine(macro: str, accumulator: Any, value: Any) -> Any:
    """`__result__ && pred` (all) or `__result__ || pred` (exists), cel-go's absorption."""
    decisive = macro == "exists"
    if value is decisive or accumulator is decisive:
        return decisive
    if isinstance(accumulator, ErrorValue):
        return accumulator
    if value is (not decisive):
        return accumulator
    return value if isinstance(value, ErrorValue) else ErrorValue("no such overload")
