"""The demand signal a predictor reads (spec/autoscaling.md §9.1), and its horizon.

Owns turning plain demand records (one per pod: when it arrived, when it left if it has, its
class and how many GPUs or MIG slices it asks for) into one sampled series per demand class, and
the lead time and horizon a forecast aims at. Pure computation over plain values: no simulator
types, no clock, no I/O; the replay builds the records from the pods it has seen.

A sample at time t counts every pod that has arrived by t and has not left by t, running or
waiting: the demand a cluster sees at t, read only from what happened up to t. A record whose
`end` lies after t reads the same at t as one that has not ended yet, so a series sampled up to
t never depends on the future, and a replay that only knows the past builds the same series.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from dralloc.autoscaling.config import Provisioning

# The gang size buckets of §9.1: 1, 2, 4, 8 and ">8".
GANG_BUCKETS = ("1", "2", "4", "8", ">8")
# Draws used to estimate the lead time's p90 when a delay is random; seeded, so reproducible.
LEAD_TIME_DRAWS = 2000


def gang_bucket(size: int) -> str:
    """The bucket of a gang of `size` pods: the smallest of 1, 2, 4, 8 that holds it, else >8.

    >>> [gang_bucket(n) for n in (1, 2, 3, 8, 9)]
    ['1', '2', '4', '8', '>8']
    """
    if size < 1:
        raise ValueError(f"gang size must be >= 1, got {size}")
    for bucket in (1, 2, 4, 8):
        if size <= bucket:
            return str(bucket)
    return ">8"


@dataclass(frozen=True, order=True)
class DemandClass:
    """A demand class c of §9.1: what a pod asks for, coarse enough to forecast.

    `device` is the GPU model or the device class (`gpu.nvidia.com`, `H100`), `profile` the MIG
    profile (`3g.40gb`) or `gpu` for whole GPUs, `gang` one of `GANG_BUCKETS`.

    >>> str(DemandClass("H100", "3g.40gb", "1"))
    'H100/3g.40gb/1'
    """

    device: str
    profile: str = "gpu"
    gang: str = "1"

    def __post_init__(self) -> None:
        if self.gang not in GANG_BUCKETS:
            raise ValueError(
                f"gang bucket must be one of {', '.join(GANG_BUCKETS)}, got {self.gang!r}"
            )

    def __str__(self) -> str:
        return f"{self.device}/{self.profile}/{self.gang}"

    def buffer_name(self) -> str:
        """The managed CapacityBuffer's name (§9.3), a DNS-1123 subdomain-safe spelling.

        >>> DemandClass("H100", "3g.40gb", ">8").buffer_name()
        'predictor-h100-3g.40gb-gt8'
        """
        raw = f"predictor-{self.device}-{self.profile}-{self.gang.replace('>', 'gt')}"
        safe = "".join(ch if ch.isalnum() or ch in "-." else "-" for ch in raw.lower())
        return safe.strip("-.")[:253]


@dataclass(frozen=True)
class DemandRecord:
    """One pod as the signal sees it: arrived at `arrival` (seconds on the replay clock), left
    at `end` (None: still there, running or waiting), asking `amount` GPUs or MIG slices of
    `demand_class`."""

    demand_class: DemandClass
    arrival: float
    amount: float
    end: float | None = None

    def is_present_at(self, t: float) -> bool:
        """Arrived by t and not yet gone at t (a pod leaving exactly at t no longer counts)."""
        return self.arrival <= t and (self.end is None or self.end > t)


def sample_times(start: float, end: float, step: float) -> npt.NDArray[np.float64]:
    """The sampling instants start, start+step, ... strictly before `end`."""
    if step <= 0:
        raise ValueError(f"step must be > 0, got {step:g}")
    count = max(0, math.ceil((end - start) / step))
    return start + step * np.arange(count, dtype=np.float64)


def demand_series(
    records: Iterable[DemandRecord], start: float, end: float, step: float
) -> dict[DemandClass, npt.NDArray[np.float64]]:
    """Demand per class sampled every `step` from `start` up to (not including) `end`.

    Sample k is the total `amount` of the class's records present at start + k*step. Classes
    without any record present in the window are absent from the result.

    >>> a = DemandClass("H100")
    >>> s = demand_series([DemandRecord(a, 0, 2, end=600), DemandRecord(a, 300, 1)], 0, 1200, 300)
    >>> s[a].tolist()
    [2.0, 3.0, 1.0, 1.0]
    """
    times = sample_times(start, end, step)
    series: dict[DemandClass, npt.NDArray[np.float64]] = {}
    for record in records:
        # The samples the record is present at: arrival <= t < end, as indices into `times`.
        first = int(np.searchsorted(times, record.arrival, side="left"))
        last = len(times) if record.end is None else int(np.searchsorted(times, record.end, "left"))
        if first >= last:
            continue
        row = series.get(record.demand_class)
        if row is None:
            row = series[record.demand_class] = np.zeros(len(times), dtype=np.float64)
        row[first:last] += record.amount
    return series


def lead_time(provisioning: Provisioning, step: float, seed: int = 0) -> float:
    """L of §9.1: the p90 of Requested -> DevicesPublished (launch + register + ready + devices),
    rounded up to a whole number of steps. Random delays are drawn `LEAD_TIME_DRAWS` times from
    `random.Random(seed)`, so the answer is the same on every run.

    >>> lead_time(Provisioning(), 300.0)  # defaults: 90 + 30 + 60 + 240 s
    600.0
    """
    rng = random.Random(seed)
    phases = (provisioning.launch, provisioning.register, provisioning.ready, provisioning.devices)
    totals = [sum(delay.sample(rng) for delay in phases) for _ in range(LEAD_TIME_DRAWS)]
    return round_up_to_step(float(np.quantile(totals, 0.9)), step)


def round_up_to_step(seconds: float, step: float) -> float:
    """`seconds` rounded up to a whole number of steps (a float tolerance keeps 600.0000001 at
    600)."""
    steps = math.ceil(seconds / step - 1e-9)
    return max(0, steps) * step


def horizon_steps(lead: float, step: float) -> int:
    """h of §9.1 in steps: the lead time plus one step.

    >>> horizon_steps(600.0, 300.0)
    3
    """
    return round(round_up_to_step(lead, step) / step) + 1


def lead_times_by_shape(
    provisioning: Mapping[str, Provisioning], step: float, seed: int = 0
) -> dict[str, float]:
    """`lead_time` of every shape, by shape name."""
    return {name: lead_time(delays, step, seed) for name, delays in provisioning.items()}
