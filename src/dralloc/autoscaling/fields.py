"""The value kinds of autoscaling files, read while collecting every problem.

Owns `FieldReader`, the problem collector the `kind: Autoscaling` reader and the manifest
reader use: `dralloc.documents.DocumentReader` (objects, lists, names, numbers, enum members,
each reporting a `dralloc.errors.Problem` naming file, object and field path and returning a
usable default) plus the kinds only autoscaling files hold: a Go duration, a quantity, a delay
distribution, a cron schedule. Also `parse_duration`, Go's duration spelling
(`90s`, `10m`, `1h30m`) in seconds. No I/O but the `empirical:` delay files `delay` reads.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Sequence
from pathlib import Path

from dralloc.api.quantity import Quantity, parse_quantity
from dralloc.autoscaling.cron import problem as cron_problem
from dralloc.autoscaling.delays import DelayDistribution, FixedDelay, parse_delay
from dralloc.documents import DocumentReader, show

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_CRON_MACROS = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)


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


class FieldReader(DocumentReader):
    """`DocumentReader` plus the value kinds of autoscaling files: Go durations, quantities,
    resource lists, delay distributions (read relative to `base`) and cron schedules."""

    def __init__(self, file: str, obj: str, base: Path | None) -> None:
        super().__init__(file, obj)
        self.base = base

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

    def shape_names(self, items: Sequence[object], path: str, shapes: Collection[str]) -> list[str]:
        """The shape names listed at `path` (already read as a list), each one of `shapes`
        and listed once; others are reported and left out."""
        names: list[str] = []
        for index, item in enumerate(items):
            where = f"{path}[{index}]"
            if not isinstance(item, str) or item not in shapes:
                self.report(
                    where, f"unknown shape {show(item)} (shapes: {', '.join(shapes) or 'none'})"
                )
            elif item in names:
                self.report(where, f"shape {item} is listed twice")
            else:
                names.append(item)
        return names

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
