"""Honest progress for a campaign: what finished, how long it took, when the rest will be done.

`CampaignClock` keeps the count and the estimate; `LineProgress` is the `RunProgress` for a
stderr that is not a terminal (CI, a Kubernetes Job's log): one line per finished run,

    [3/12] openb:default fgd seed 43 done in 41 s; ETA 6 min

The estimate is the wall time so far per finished run times the runs left: with N workers it
already counts their overlap, and it needs no model of which runs are slow. The terminal's bar
(`dralloc.cli.simulate`) reads the same clock. Time comes from an injected monotonic clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TextIO

from dralloc.sim.campaign import RunSpec

__all__ = ["CampaignClock", "LineProgress", "describe", "duration"]


def describe(spec: RunSpec) -> str:
    """`openb:default fgd seed 43` (with `queues fair` when the run has queues)."""
    queues = f" queues {spec.queues}" if spec.queues else ""
    return f"{spec.workload} {spec.policy}{queues} seed {spec.seed}"


def duration(seconds: float) -> str:
    """41 s, 6 min, 2 h 05 min: a duration a reader takes in at a glance."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


class CampaignClock:
    """How many of `total` runs finished and when the rest should be done."""

    def __init__(self, total: int, now: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self.done = 0
        self.now = now
        self.started = now()

    def finish(self) -> None:
        self.done += 1

    def eta(self) -> float | None:
        """Seconds until every run is done, None before the first finishes."""
        if not self.done:
            return None
        return (self.now() - self.started) / self.done * (self.total - self.done)

    def eta_text(self) -> str:
        eta = self.eta()
        if eta is None:
            return "ETA after the first run"
        return "done" if self.done == self.total else f"ETA {duration(eta)}"


class LineProgress:
    """One line per finished run on `stream` (a `RunProgress[RunSpec]`)."""

    def __init__(self, clock: CampaignClock, stream: TextIO) -> None:
        self.clock = clock
        self.stream = stream

    def running(self, specs: Sequence[RunSpec]) -> None:
        del specs  # a line is written when a run finishes, not when one starts

    def finished(self, spec: RunSpec, seconds: float) -> None:
        self.clock.finish()
        clock = self.clock
        self.stream.write(
            f"[{clock.done}/{clock.total}] {describe(spec)} done in {duration(seconds)}; "
            f"{clock.eta_text()}\n"
        )
        self.stream.flush()
