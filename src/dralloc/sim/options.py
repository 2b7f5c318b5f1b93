"""`name:key=value,...` workload options, as in `--trace dlrm:scale=0.8,model=a100-80gb`.

A loader declares its options as a frozen dataclass whose fields have defaults and simple
types (int, float, str); `parse_options` overrides the defaults it is given. Every problem is
reported at once, naming the workload and the key. Pure parsing, no state.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any, TypeVar, get_type_hints

from dralloc.errors import InputError, Problem

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = ["parse_options", "split_workload"]

_T = TypeVar("_T", bound="DataclassInstance")


def split_workload(workload: str) -> tuple[str, str]:
    """`dlrm:scale=0.8` -> (`dlrm`, `scale=0.8`); `dlrm` -> (`dlrm`, ``)."""
    name, _, options = workload.partition(":")
    return name, options


def parse_options(workload: str, text: str, defaults: _T) -> _T:
    """`defaults` with the `key=value` pairs of `text` applied (comma-separated).

    InputError naming `--trace <workload>` and the key for an unknown key, a key given twice,
    or a value that is not of the field's type (ints are whole numbers, floats finite).
    """
    hints = get_type_hints(type(defaults))
    fields = {f.name: hints[f.name] for f in dataclasses.fields(defaults)}
    where = f"--trace {workload}"
    problems: list[Problem] = []
    values: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, equals, raw = part.partition("=")
        key, raw = key.strip(), raw.strip()
        if not equals:
            problems.append(Problem("", where, key, "expected key=value"))
            continue
        if key not in fields:
            known = ", ".join(sorted(fields))
            problems.append(Problem("", where, key, f"unknown option (known: {known})"))
            continue
        if key in values:
            problems.append(Problem("", where, key, "given twice"))
            continue
        kind = fields[key]
        try:
            values[key] = _convert(raw, kind)
        except ValueError as err:
            problems.append(Problem("", where, key, str(err)))
    if problems:
        raise InputError(problems)
    return dataclasses.replace(defaults, **values)


def _convert(raw: str, kind: object) -> object:
    if kind is int:
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"{raw!r} is not a whole number") from None
    if kind is float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"{raw!r} is not a number") from None
        if not math.isfinite(value):
            raise ValueError(f"{raw!r} is not a finite number")
        return value
    if not raw:
        raise ValueError("empty value")
    return raw
