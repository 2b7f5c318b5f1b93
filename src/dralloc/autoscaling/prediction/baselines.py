"""What a predictor buys, against the baselines of spec/autoscaling.md §10: deltas to `none`
(the same autoscaler without a predictor), the cost per saved waiting-GPU-hour, the test that a
predictor "wins" only if it beats a static buffer holding the same idle GPU-hours, and 95 %
intervals by bootstrap over test days. Pure computation over run outcomes the replay measures.

* `delta(run, none)`: waiting GPU-hours saved, idle GPU-hours and cost added, and their ratio
  (cost added per waiting-GPU-hour saved; None when nothing was saved).
* `static_buffer_at(curve, idle)`: runs of the same autoscaler with static buffers of growing
  size give a curve of (idle added, waiting saved, cost added); read linearly at the predictor's
  idle GPU-hours, starting from `none` itself (0, 0, 0). Beyond the largest buffer run: None,
  the comparison needs a larger buffer.
* `predictor_wins`: it saves more waiting than that static buffer and at a lower cost per saved
  waiting-GPU-hour.
* `day_bootstrap`: the 95 % percentile interval of the mean of daily values, resampling whole
  test days (a day is the block: demand within a day is correlated, across days far less),
  from a seeded generator so reports reproduce.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

BOOTSTRAP_RESAMPLES = 2000


@dataclass(frozen=True)
class RunOutcome:
    """One run's totals over the test window: `cost` (money), `idle_gpu_hours` (provisioned -
    allocated) and `waiting_gpu_hours` (GPUs asked by waiting pods x time waited)."""

    cost: float
    idle_gpu_hours: float
    waiting_gpu_hours: float


@dataclass(frozen=True)
class Delta:
    """A run against `none`: positive `waiting_saved` is good, positive `cost_added` and
    `idle_added` are what it paid."""

    waiting_saved: float
    idle_added: float
    cost_added: float

    @property
    def cost_per_saved_waiting_gpu_hour(self) -> float | None:
        return None if self.waiting_saved <= 0 else self.cost_added / self.waiting_saved


def delta(run: RunOutcome, none: RunOutcome) -> Delta:
    """`run` against the `none` baseline.

    >>> delta(RunOutcome(130.0, 12.0, 5.0), RunOutcome(100.0, 2.0, 20.0))
    Delta(waiting_saved=15.0, idle_added=10.0, cost_added=30.0)
    """
    return Delta(
        waiting_saved=none.waiting_gpu_hours - run.waiting_gpu_hours,
        idle_added=run.idle_gpu_hours - none.idle_gpu_hours,
        cost_added=run.cost - none.cost,
    )


def static_buffer_at(curve: Sequence[Delta], idle_added: float) -> Delta | None:
    """The static buffer's delta at `idle_added` idle GPU-hours, read linearly between the
    buffer runs of `curve` (their deltas to `none`, any order) and `none` itself.

    >>> curve = [Delta(10.0, 10.0, 40.0), Delta(16.0, 20.0, 80.0)]
    >>> static_buffer_at(curve, 15.0)
    Delta(waiting_saved=13.0, idle_added=15.0, cost_added=60.0)
    """
    points = sorted([Delta(0.0, 0.0, 0.0), *curve], key=lambda d: d.idle_added)
    idle = [p.idle_added for p in points]
    if idle_added < 0 or idle_added > idle[-1]:
        return None
    return Delta(
        waiting_saved=float(np.interp(idle_added, idle, [p.waiting_saved for p in points])),
        idle_added=idle_added,
        cost_added=float(np.interp(idle_added, idle, [p.cost_added for p in points])),
    )


def predictor_wins(predictor: Delta, curve: Sequence[Delta]) -> bool | None:
    """§10: a predictor wins only if it saves more waiting, at a lower cost per saved
    waiting-GPU-hour, than a static buffer adding the same idle GPU-hours; None when the buffer
    runs do not reach that many idle GPU-hours.

    >>> curve = [Delta(10.0, 10.0, 40.0), Delta(16.0, 20.0, 80.0)]
    >>> predictor_wins(Delta(18.0, 15.0, 50.0), curve)  # 50/18 a GPU-hour against 60/13
    True
    """
    static = static_buffer_at(curve, max(0.0, predictor.idle_added))
    if static is None:
        return None
    mine = predictor.cost_per_saved_waiting_gpu_hour
    theirs = static.cost_per_saved_waiting_gpu_hour
    if mine is None:
        return False
    return predictor.waiting_saved > static.waiting_saved and (theirs is None or mine < theirs)


def day_bootstrap(
    daily: Sequence[float], seed: int, resamples: int = BOOTSTRAP_RESAMPLES
) -> tuple[float, float]:
    """95 % interval of the mean of `daily` values by resampling whole days with replacement.

    >>> day_bootstrap([3.0, 3.0, 3.0], seed=1)
    (3.0, 3.0)
    """
    values = np.asarray(daily, dtype=np.float64)
    if values.size == 0:
        raise ValueError("the bootstrap needs at least one test day")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, values.size, size=(resamples, values.size))
    means = values[picks].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    return float(low), float(high)
