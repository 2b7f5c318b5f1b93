"""Times on the wire (`metav1.Time`): reading them as kube-apiserver does and writing them as it
writes them back.

kube-apiserver decodes a time with Go's `time.Parse(time.RFC3339, ...)` and refuses the whole
object when that fails ("parsing time ... cannot parse"); it stores the instant and writes it as
UTC with whole seconds (`2025-06-01T08:00:00Z`, fractions dropped). Go's parser, after its
strict fast path, falls back to the general layout parser, which also takes a one-digit hour, a
comma before the fraction and any number of fraction digits; those forms are accepted here too.

Pure computation, no I/O.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Final

__all__ = ["RFC3339_LAYOUT", "format_time", "parse_time"]

RFC3339_LAYOUT: Final = "2006-01-02T15:04:05Z07:00"
"""Go's layout string, as kube-apiserver names it in its decoding error."""

_TIME = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})"
    r"T(?P<hour>[0-9]{1,2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})"
    r"(?:[.,][0-9]+)?"
    r"(?P<zone>Z|[+-][0-9]{2}:[0-9]{2})"
)


def parse_time(text: str) -> datetime | None:
    """The instant `text` names (timezone-aware, UTC), or None when Go's RFC 3339 parsing
    refuses it: a wrong shape, a field out of range (month 13, February 30, hour 24), or an
    instant Python cannot hold (year 0)."""
    match = _TIME.fullmatch(text)
    if match is None:
        return None
    zone = match["zone"]
    offset = timedelta(0)
    if zone != "Z":
        offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
        offset *= -1 if zone[0] == "-" else 1
    try:
        local = datetime(
            int(match["year"]),
            int(match["month"]),
            int(match["day"]),
            int(match["hour"]),
            int(match["minute"]),
            int(match["second"]),
            tzinfo=timezone(offset),
        )
        return local.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def format_time(instant: datetime) -> str:
    """`instant` as kube-apiserver writes a `metav1.Time`: UTC, whole seconds."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_micro_time(instant: datetime) -> str:
    """`instant` as a `metav1.MicroTime` (an Event's eventTime, a Lease's renewTime): UTC,
    microseconds."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
