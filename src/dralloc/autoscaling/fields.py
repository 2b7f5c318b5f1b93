"""Reading the fields of a configuration document while collecting every problem.

Owns `FieldReader`, the problem collector the `kind: Autoscaling` reader uses: each helper
checks one kind of value (a DNS label, a number in a range, a Go duration, a quantity, a delay
distribution, a cron schedule, an enum member), reports a `dralloc.errors.Problem` naming the
file, the object and the field path when it is wrong, and returns a usable default so reading
goes on and every problem is found in one pass. Also `parse_duration`, Go's duration spelling
(`90s`, `10m`, `1h30m`) in seconds. No I/O but the `empirical:` delay files `delay` reads.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from pathlib import Path
from typing import Any, TypeVar

from dralloc.api.quantity import Quantity, parse_quantity
from dralloc.autoscaling.cron import problem as cron_problem
from dralloc.autoscaling.delays import DelayDistribution, FixedDelay, parse_delay
from dralloc.errors import Problem

_E = TypeVar("_E")
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_CRON_MACROS = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)


def show(value: object) -> str:
    """A value as the file wrote it: strings quoted, a missing or null value as "nothing"
    (never Python's None), booleans as YAML's true/false."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    return f'"{value}"' if isinstance(value, str) else repr(value)


def parse_duration(value: object) -> float | str:
    """Seconds from a Go duration (`90s`, `10m`, `1h30m`, `0s`) or a number of seconds; else
    a message."""
    if isinstance(value, bool):
        return f"must be a duration such as 90s or 10m, got {value!r}"
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            return f"must be a duration >= 0, got {value!r}"
        return float(value)
    if not isinstance(value, str) or not value:
        return f"must be a duration such as 90s or 10m, got {show(value)}"
    if value == "0":
        return 0.0
    position, total = 0, 0.0
    for match in _DURATION_PART.finditer(value):
        if match.start() != position:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        position = match.end()
    if position != len(value):
        return f"must be a duration such as 90s, 10m or 1h30m, got {show(value)}"
    return total


class FieldReader:
    """Collects problems with the file and object filled in; helpers return a usable value
    (a default) after reporting, so reading goes on and every problem is found."""

    def __init__(self, file: str, obj: str, base: Path | None) -> None:
        self.file = file
        self.base = base
        self.obj = obj
        self.problems: list[Problem] = []

    def report(self, path: str, message: str) -> None:
        self.problems.append(Problem(self.file, self.obj, path, message))

    def mapping(self, raw: object, path: str, known: Collection[str] | None) -> dict[str, Any]:
        if raw is None:
            return {}
        if not isinstance(raw, dict) or not all(isinstance(k, str) for k in raw):
            self.report(path, f"must be an object, got {show(raw)}")
            return {}
        if known is None:
            return dict(raw)
        for key in raw:
            if key not in known:
                self.report(f"{path}.{key}" if path else key, "unknown field")
        return {k: v for k, v in raw.items() if k in known}

    def items(self, raw: object, path: str) -> list[Any]:
        if raw is None:
            return []
        if not isinstance(raw, list):
            self.report(path, f"must be a list, got {show(raw)}")
            return []
        return raw

    def name(self, raw: object, path: str) -> str:
        if not isinstance(raw, str) or not _NAME.match(raw):
            self.report(
                path, f"must be a DNS label (lowercase letters, digits, '-'), got {show(raw)}"
            )
            return ""
        return raw

    def string(self, raw: object, path: str, default: str | None = None) -> str | None:
        if raw is None:
            return default
        if not isinstance(raw, str) or not raw:
            self.report(path, f"must be a non-empty string, got {show(raw)}")
            return default
        return raw

    def boolean(self, raw: object, path: str, default: bool) -> bool:
        if raw is None:
            return default
        if not isinstance(raw, bool):
            self.report(path, f"must be true or false, got {show(raw)}")
            return default
        return raw

    def integer(self, raw: object, path: str, default: int, minimum: int | None = 0) -> int:
        if raw is None:
            return default
        if not isinstance(raw, int) or isinstance(raw, bool):
            self.report(path, f"must be an integer, got {show(raw)}")
            return default
        if minimum is not None and raw < minimum:
            self.report(path, f"must be >= {minimum}, got {raw}")
            return default
        return raw

    def number(
        self, raw: object, path: str, default: float, *, low: float = 0.0, high: float | None = None
    ) -> float:
        if raw is None:
            return default
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
            self.report(path, f"must be a number, got {show(raw)}")
            return default
        if raw < low or (high is not None and raw > high):
            bounds = f"in [{low:g}, {high:g}]" if high is not None else f">= {low:g}"
            self.report(path, f"must be {bounds}, got {raw}")
            return default
        return float(raw)

    def duration(self, raw: object, path: str, default: float, *, never: bool = False) -> float:
        """Seconds; with `never`, the string `Never` is allowed and read as infinity."""
        if raw is None:
            return default
        if never and raw == "Never":
            return math.inf
        seconds = parse_duration(raw)
        if isinstance(seconds, str):
            self.report(path, seconds + (" or Never" if never else ""))
            return default
        return seconds

    def choice(self, raw: object, path: str, enum: type[_E], default: _E) -> _E:
        if raw is None:
            return default
        values = [member.value for member in enum]  # type: ignore[attr-defined]
        if raw not in values:
            self.report(path, f"must be one of {', '.join(values)}, got {show(raw)}")
            return default
        return enum(raw)  # type: ignore[call-arg]

    def quantity(self, raw: object, path: str) -> Quantity | None:
        if raw is None:
            return None
        if isinstance(raw, bool) or not isinstance(raw, str | int | float):
            self.report(path, f"must be a quantity such as 64 or 512Gi, got {show(raw)}")
            return None
        try:
            value = parse_quantity(raw)
        except (ValueError, TypeError) as err:
            self.report(path, f"must be a quantity such as 64 or 512Gi: {err}")
            return None
        if value.sign() < 0:
            self.report(path, f"must be >= 0, got {raw}")
            return None
        return value

    def resource_list(self, raw: object, path: str) -> dict[str, Quantity]:
        out: dict[str, Quantity] = {}
        for key, value in self.mapping(raw, path, None).items():
            amount = self.quantity(value, f"{path}.{key}")
            if amount is not None:
                out[key] = amount
        return out

    def delay(self, raw: object, path: str, default: float) -> DelayDistribution:
        if raw is None:
            return FixedDelay(default)
        parsed = parse_delay(raw, self.base)
        if isinstance(parsed, str):
            self.report(path, parsed)
            return FixedDelay(default)
        return parsed

    def cron(self, raw: object, path: str) -> str | None:
        text = self.string(raw, path)
        if text is None:
            return None
        if text.startswith("@") and text not in _CRON_MACROS:
            self.report(path, f"unknown cron macro {show(text)}")
            return None
        wrong = cron_problem(text)
        if wrong is not None:
            self.report(path, wrong)
            return None
        return text

    def unique(self, names: list[tuple[str, str]], what: str) -> None:
        """Report a name used twice; `names` are (name, path) in file order."""
        first: dict[str, str] = {}
        for name, path in names:
            if not name:
                continue
            earlier = first.setdefault(name, path)
            if earlier != path:
                self.report(path, f"duplicate {what} {show(name)} (first at {earlier})")
