"""Cron schedules as Karpenter's disruption budgets read them (spec/autoscaling.md §5.2).

Owns matching a standard 5-field cron expression (minute hour day-of-month month
day-of-week, in UTC) or a macro (`@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`,
`@midnight`, `@hourly`) against a time, and the budget window test. Pure computation.
Semantics are the standard cron parser Karpenter uses (robfig/cron): `*`, numbers, ranges
`a-b`, lists and steps `*/n` or `a-b/n`; day-of-week 0-7 with 0 and 7 both Sunday; when both
day fields are restricted a day matches either (cron's OR rule), else both must match.

A budget with `schedule` and `duration` is active at t iff the schedule fired at some minute
f with f <= t < f + duration (upstream's `Budget.IsActive`). Virtual seconds become UTC
times from an `epoch` the caller gives (the replay's start).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _field(text: str, low: int, high: int) -> frozenset[int] | None:
    """The values one field allows (None: `*`, everything)."""
    if text == "*":
        return None
    values: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(part)
        if body == "*":
            start, end = low, high
        elif "-" in body:
            first, _, last = body.partition("-")
            start, end = int(first), int(last)
        else:
            start = int(body)
            end = high if step_text else start
        values.update(range(start, end + 1, step))
    return frozenset(values)


def problem(expression: str) -> str | None:
    """Why `expression` is not a cron schedule this module reads, or None."""
    fields = _MACROS.get(expression, expression).split()
    if len(fields) != 5:
        return f'must be a cron schedule of 5 fields or a macro, got "{expression}"'
    names = ("minute", "hour", "day of month", "month", "day of week")
    for text, (low, high), name in zip(fields, _BOUNDS, names, strict=True):
        try:
            values = _field(text, low, high)
        except ValueError:
            return f'{name} field "{text}" is not a number, range, list or step'
        if values is not None and (not values or min(values) < low or max(values) > high):
            return f'{name} field "{text}" must stay within {low}-{high}'
    return None


def matches(expression: str, at: datetime) -> bool:
    """True when `expression` fires at the minute of `at` (UTC)."""
    fields = _MACROS.get(expression, expression).split()
    minute, hour, day, month, weekday = (
        _field(text, low, high) for text, (low, high) in zip(fields, _BOUNDS, strict=True)
    )
    if weekday is not None and 7 in weekday:
        weekday = weekday | {0}
    if minute is not None and at.minute not in minute:
        return False
    if hour is not None and at.hour not in hour:
        return False
    if month is not None and at.month not in month:
        return False
    day_ok = day is None or at.day in day
    weekday_ok = weekday is None or (at.isoweekday() % 7) in weekday
    if day is not None and weekday is not None:
        return day_ok or weekday_ok
    return day_ok and weekday_ok


def is_active(expression: str, duration: float, now: float, epoch: datetime = EPOCH) -> bool:
    """True when a window of `duration` seconds opened by `expression` holds virtual `now`."""
    at = (epoch + timedelta(seconds=now)).replace(second=0, microsecond=0)
    start = epoch + timedelta(seconds=now - duration)
    while at > start:
        if matches(expression, at):
            return True
        at -= timedelta(minutes=1)
    return False
