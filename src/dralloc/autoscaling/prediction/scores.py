"""Honest evaluation of forecasts (spec/autoscaling.md §10): the split in time, rolling-origin
forecasts refitted on the past only, and the accuracy scores. Pure computation, no I/O.

Scores, as Hyndman & Athanasopoulos define them (*FPP* 3rd ed., §5.8-5.9), over test pairs of
an actual y_i and a forecast made h steps before it:

* MAE = mean |y_i - f_i|;
* MASE = MAE / Q, with Q the in-sample mean absolute error of the seasonal naive forecast on the
  training data, Q = 1/(T-m) Σ_{t=m}^{T-1} |y_t - y_{t-m}| (one step, seasonal period m), so
  MASE < 1 beats seasonal naive's in-sample accuracy; Q = 0 (a training series that repeats
  exactly) leaves MASE undefined (None);
* pinball (quantile) loss Q_q = mean of 2(1-q)(f_q - y) when y < f_q, else 2q(y - f_q): the
  book's scaling by 2, so at q = 0.5 it equals the absolute error;
* coverage = share of y <= f_q, which should be near q for a calibrated quantile.

The split (§10): train [0, T), test [T, end); T is half the series rounded down to whole days
and at least `min_history_periods` periods; the first period is a warm-up (an empty cluster
filling up) that no score counts and the scale Q does not read. Forecast origins are every test
sample t with t + h inside the test window; each forecast reads samples up to t only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from dralloc.autoscaling.config import Forecaster
from dralloc.autoscaling.prediction.forecasters import Forecast, ForecastSettings, rolling_forecasts

Floats = npt.NDArray[np.float64]


def mae(actual: Sequence[float] | Floats, forecast: Sequence[float] | Floats) -> float:
    """Mean absolute error.

    >>> mae([1.0, 2.0], [2.0, 4.0])
    1.5
    """
    y, f = _pair(actual, forecast)
    return float(np.mean(np.abs(y - f)))


def seasonal_naive_scale(training: Sequence[float] | Floats, period: int) -> float:
    """Q of MASE: the mean absolute one-step seasonal naive error in the training data.

    >>> seasonal_naive_scale([1.0, 2.0, 2.0, 4.0], period=2)
    1.5
    """
    y = np.asarray(training, dtype=np.float64)
    if y.size <= period:
        raise ValueError(f"the scale needs more than one period ({period}) of training data")
    return float(np.mean(np.abs(y[period:] - y[:-period])))


def mase(
    actual: Sequence[float] | Floats, forecast: Sequence[float] | Floats, scale: float
) -> float | None:
    """MAE over the seasonal naive scale `scale` (None when the scale is 0).

    >>> mase([1.0, 2.0], [2.0, 4.0], scale=1.5)
    1.0
    """
    return None if scale == 0 else mae(actual, forecast) / scale


def pinball(
    actual: Sequence[float] | Floats, upper: Sequence[float] | Floats, quantile: float
) -> float:
    """Mean pinball loss of q-quantile forecasts, 2(1-q)(f-y) if y < f else 2q(y-f).

    >>> pinball([0.0, 10.0], [5.0, 5.0], quantile=0.9)  # (2*0.1*5 + 2*0.9*5) / 2
    5.0
    """
    y, f = _pair(actual, upper)
    loss = np.where(y < f, 2 * (1 - quantile) * (f - y), 2 * quantile * (y - f))
    return float(np.mean(loss))


def coverage(actual: Sequence[float] | Floats, upper: Sequence[float] | Floats) -> float:
    """Share of actuals at or below the q-quantile forecast.

    >>> coverage([1.0, 2.0, 3.0, 4.0], [2.0, 2.0, 2.0, 2.0])
    0.5
    """
    y, f = _pair(actual, upper)
    return float(np.mean(y <= f))


def _pair(
    actual: Sequence[float] | Floats, forecast: Sequence[float] | Floats
) -> tuple[Floats, Floats]:
    y = np.asarray(actual, dtype=np.float64)
    f = np.asarray(forecast, dtype=np.float64)
    if y.shape != f.shape or y.size == 0:
        raise ValueError(f"need as many forecasts as actuals, at least one: {y.size} and {f.size}")
    return y, f


@dataclass(frozen=True)
class TimeSplit:
    """Sample indices of §10's split: warm-up [0, warmup), train [warmup, train_end), test
    [train_end, test_end)."""

    warmup: int
    train_end: int
    test_end: int


def time_split(
    samples: int,
    step: float,
    period: int,
    min_history_periods: int = 2,
    fraction: float = 0.5,
    day: float = 86400.0,
    test_end: int | None = None,
) -> TimeSplit | None:
    """The split of a series of `samples` samples taken every `step` seconds; `test_end` ends the
    test window early (a trace whose last jobs never finish: end - p99 duration). None when the
    series cannot give `min_history_periods` periods of history after the warm-up and a test
    window at least one sample long: predictor `none` (§12).

    >>> time_split(samples=4 * 288, step=300, period=288)
    TimeSplit(warmup=288, train_end=864, test_end=1152)
    """
    end = samples if test_end is None else min(samples, test_end)
    per_day = max(1, round(day / step))
    halfway = math.floor(samples * fraction / per_day) * per_day
    train_end = max(halfway, period + min_history_periods * period)
    if train_end >= end:
        return None
    return TimeSplit(warmup=period, train_end=train_end, test_end=end)


@dataclass(frozen=True)
class ForecastScores:
    """§10's accuracy of one forecaster on one series; `count` test origins scored."""

    forecaster: Forecaster
    count: int
    mae: float
    mase: float | None
    pinball: float
    coverage: float
    quantile: float


def evaluate(
    series: Sequence[float] | Floats, split: TimeSplit, settings: ForecastSettings
) -> tuple[ForecastScores | None, list[Forecast | None]]:
    """Rolling-origin forecasts over the test window and their scores. Forecasts read the
    series from the end of the warm-up on (the warm-up is not history); origins whose forecast
    is `none` are not scored. Returns (None, forecasts) when nothing could be scored."""
    y = np.asarray(series, dtype=np.float64)[split.warmup : split.test_end]
    train_end = split.train_end - split.warmup
    origins = list(range(train_end, y.size - settings.horizon))
    forecasts = rolling_forecasts(y, origins, settings)
    scored = [(t, f) for t, f in zip(origins, forecasts, strict=True) if f is not None]
    if not scored:
        return None, forecasts
    actual = np.array([y[t + settings.horizon] for t, _ in scored])
    points = np.array([f.point for _, f in scored])
    uppers = np.array([f.upper for _, f in scored])
    scale = seasonal_naive_scale(y[:train_end], settings.period)
    scores = ForecastScores(
        forecaster=settings.forecaster,
        count=len(scored),
        mae=mae(actual, points),
        mase=mase(actual, points, scale),
        pinball=pinball(actual, uppers, settings.quantile),
        coverage=coverage(actual, uppers),
        quantile=settings.quantile,
    )
    return scores, forecasts
