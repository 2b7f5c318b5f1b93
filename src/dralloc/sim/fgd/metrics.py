"""Metric bookkeeping (§5): a run's per-pod log, its curve over the arrival axis, and the
aggregate over runs (median band per x, mean ± sd at x = 100).

`RunLog` is owned and appended to by the simulator's engine; `bucket` turns one log into a
curve; `aggregate` combines the curves of several seeds.

Decision where the spec leaves room: the arrival axis rounds half to even (Python's `round`,
which the artifact's analysis scripts use), computed exactly with fractions.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction
from typing import NamedTuple

from dralloc.scheduler.plugins.gpushare.measure import fragmentation_rate

__all__ = [
    "ARRIVAL_AXIS",
    "Aggregate",
    "Band",
    "CurvePoint",
    "MeanSd",
    "Metric",
    "RunLog",
    "aggregate",
    "arrival_x",
    "bucket",
]

ARRIVAL_AXIS = range(0, 131)
"""The integer x values (arrived milli-GPU in % of capacity) that `bucket` reports (§5)."""


@dataclass
class RunLog:
    """One run's per-pod record (§2 step 8); the simulator's engine owns and appends to it.

    After every submitted pod: the used milli-GPU (Σ over GPUs of 1000 − left), the arrived
    milli-GPU (Σ num_gpu × gpu_milli over every pod submitted so far, failed ones included) and
    the cluster fragmentation F(M) in milli-GPU.

    >>> log = RunLog()
    >>> log.record(used_milli=500, arrived_milli=500, fragment_milli=0.0)
    >>> len(log)
    1
    """

    used_milli: list[int] = field(default_factory=list)
    arrived_milli: list[int] = field(default_factory=list)
    fragment_milli: list[float] = field(default_factory=list)

    def record(self, *, used_milli: int, arrived_milli: int, fragment_milli: float) -> None:
        """Append one event. Raises ValueError if the arrivals go down (they only accumulate)."""
        if self.arrived_milli and arrived_milli < self.arrived_milli[-1]:
            raise ValueError(
                f"arrived_milli went down from {self.arrived_milli[-1]} to {arrived_milli}"
            )
        self.used_milli.append(used_milli)
        self.arrived_milli.append(arrived_milli)
        self.fragment_milli.append(fragment_milli)

    def __len__(self) -> int:
        return len(self.used_milli)


class CurvePoint(NamedTuple):
    """One x of a run's curve: means over the events bucketed at x, all in % (§5)."""

    alloc_ratio: float
    """GPU allocation ratio: used / capacity × 100."""
    frag_amount: float
    """Fragmentation amount: F(M) / capacity × 100."""
    frag_rate: float
    """Fragmentation rate: F(M) / idle × 100 (0 when nothing is idle)."""


def arrival_x(arrived_milli: int, capacity_milli: int) -> int:
    """The x-axis value: arrived / capacity × 100, rounded half to even, computed exactly."""
    return round(Fraction(arrived_milli * 100, capacity_milli))


def bucket(log: RunLog, capacity_milli: int) -> dict[int, CurvePoint | None]:
    """A run's curve: for each x in 0..130, the mean of the events whose rounded x equals x (§5).

    If no event rounds to x, the events with x − 1 <= rounded x <= x + 1 are used. If there are
    none either, the value is None (the artifact skips x, so its CSV cell is empty).
    """
    if capacity_milli <= 0:
        raise ValueError(f"capacity_milli must be > 0, got {capacity_milli}")
    groups: dict[int, list[int]] = {}
    for index, arrived in enumerate(log.arrived_milli):
        groups.setdefault(arrival_x(arrived, capacity_milli), []).append(index)
    curve: dict[int, CurvePoint | None] = {}
    for x in ARRIVAL_AXIS:
        events = groups.get(x)
        if events is None:
            events = [i for near in (x - 1, x + 1) for i in groups.get(near, ())]
        curve[x] = _mean_point(log, events, capacity_milli) if events else None
    return curve


def _mean_point(log: RunLog, events: list[int], capacity_milli: int) -> CurvePoint:
    alloc = [log.used_milli[i] / capacity_milli * 100 for i in events]
    amount = [log.fragment_milli[i] / capacity_milli * 100 for i in events]
    rate = [
        fragmentation_rate(log.fragment_milli[i], capacity_milli - log.used_milli[i])
        for i in events
    ]
    n = len(events)
    return CurvePoint(math.fsum(alloc) / n, math.fsum(amount) / n, math.fsum(rate) / n)


class Metric(StrEnum):
    """Which value of a `CurvePoint` to aggregate."""

    ALLOC_RATIO = "alloc_ratio"
    UNALLOCATED = "unallocated"
    """100 − allocation ratio: the paper's main KPI (Fig. 9(a), Figs. 11-14)."""
    FRAG_AMOUNT = "frag_amount"
    FRAG_RATE = "frag_rate"


def _metric_value(point: CurvePoint, metric: Metric) -> float:
    match metric:
        case Metric.ALLOC_RATIO:
            return point.alloc_ratio
        case Metric.UNALLOCATED:
            return 100 - point.alloc_ratio
        case Metric.FRAG_AMOUNT:
            return point.frag_amount
        case Metric.FRAG_RATE:
            return point.frag_rate


class Band(NamedTuple):
    """The median over runs and the 50% interval around it (25th and 75th percentiles)."""

    median: float
    low: float
    high: float
    runs: int


class MeanSd(NamedTuple):
    """Mean and sample standard deviation (n − 1; NaN for one run) over runs."""

    mean: float
    sd: float
    runs: int


@dataclass(frozen=True)
class Aggregate:
    """One metric over several runs (seeds): a band per x, and mean ± sd at x = 100 (§5)."""

    metric: Metric
    bands: dict[int, Band | None]
    """For each x in 0..130; None where no run has a value."""
    at_100: MeanSd | None
    """For the bar charts; None where no run has a value at x = 100."""


def _percentile(ordered: Sequence[float], q: float) -> float:
    # Linear interpolation between closest ranks: numpy's default, which seaborn's ("pi", 50) uses.
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


def aggregate(curves: Sequence[Mapping[int, CurvePoint | None]], metric: Metric) -> Aggregate:
    """Median and interquartile band per x (line plots), mean ± sd at x = 100 (bar charts).

    Runs without a value at some x are left out there, as the artifact's plots drop empty cells.
    """
    bands: dict[int, Band | None] = {}
    at_100: MeanSd | None = None
    for x in ARRIVAL_AXIS:
        values = sorted(
            _metric_value(point, metric) for curve in curves if (point := curve.get(x)) is not None
        )
        if not values:
            bands[x] = None
            continue
        bands[x] = Band(
            statistics.median(values),
            _percentile(values, 0.25),
            _percentile(values, 0.75),
            len(values),
        )
        if x == 100:
            sd = statistics.stdev(values) if len(values) > 1 else math.nan
            at_100 = MeanSd(statistics.fmean(values), sd, len(values))
    return Aggregate(metric, bands, at_100)
