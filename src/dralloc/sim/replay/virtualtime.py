"""The replay's virtual time: the clock the scheduling queue reads and the one heap of events
the engine pops in `(time, seq)` order, `seq` from a counter, so equal times replay identically.

Owns the heap, its sequence counter and the count of real events still on it (arrivals,
completions, node and fleet events: what keeps a run going); the engine owns what an event
does. Background-loop ticks (the queue's two flushes, the autoscaler's scans) are pushed once
per (kind, time).
"""

from __future__ import annotations

import heapq
import itertools
from enum import IntEnum


class EventKind(IntEnum):
    ARRIVAL = 0
    COMPLETION = 1
    NODE = 2
    BACKOFF_FLUSH = 3
    LEFTOVER_FLUSH = 4
    FLEET = 5  # an autoscaled node's phase (`replay.autoscaled`)
    AUTOSCALE = 6  # a scan tick of the autoscaler


REAL_KINDS = (EventKind.ARRIVAL, EventKind.COMPLETION, EventKind.NODE, EventKind.FLEET)
"""Events that change the cluster or its pods; ticks only move what is already there."""


class VirtualClock:
    """The queue's `Clock`: the engine sets `time`, the queue reads it."""

    def __init__(self) -> None:
        self.time = 0.0

    def now(self) -> float:
        return self.time


class EventHeap:
    """`(time, seq, kind, payload)` entries; `real_events` counts the real ones pushed and not
    yet settled (`settle`, when the engine has applied one)."""

    def __init__(self) -> None:
        self.entries: list[tuple[float, int, EventKind, object]] = []
        self.sequence = itertools.count()
        self.real_events = 0
        self.ticks: set[tuple[EventKind, float]] = set()

    def __bool__(self) -> bool:
        return bool(self.entries)

    def next_time(self) -> float:
        return self.entries[0][0]

    def has_event_at(self, time: float) -> bool:
        return bool(self.entries) and self.entries[0][0] == time

    def push(self, time: float, kind: EventKind, payload: object) -> None:
        if kind in REAL_KINDS:
            self.real_events += 1
        heapq.heappush(self.entries, (time, next(self.sequence), kind, payload))

    def push_tick(self, time: float, kind: EventKind) -> None:
        """A background loop's tick at `time`, unless one of `kind` is there already."""
        if (kind, time) not in self.ticks:
            self.ticks.add((kind, time))
            self.push(time, kind, None)

    def pop(self) -> tuple[EventKind, object]:
        _, _, kind, payload = heapq.heappop(self.entries)
        return kind, payload

    def settle(self, kind: EventKind, time: float) -> None:
        """The event of `kind` popped at `time` has been applied: a real one no longer
        counts, a tick may be pushed again."""
        if kind in REAL_KINDS:
            self.real_events -= 1
        else:
            self.ticks.discard((kind, time))
