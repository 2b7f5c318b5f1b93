"""The forecasters of spec/autoscaling.md §9.2, each a pure function of past samples.

A forecast is made at an origin t from the samples y_0..y_t (`history`, t = len - 1) for the
instant t + h, h steps ahead, and gives a point and the q-quantile F_q that actuation aims at:

| forecaster | point | q-quantile |
|---|---|---|
| `none` | no forecast (reactive only) | |
| `seasonal-naive` | y_{t+h-m(k+1)}, k = ⌊(h-1)/m⌋ (the same slot one period back) | the point |
| `seasonal-quantile` | median of the same slot over the last K periods | q-quantile of those |
| `holt-winters` | additive, damped trend (`holtwinters`) | point + q-quantile of h-step errors |
| `ewma-peak` | max over the last window W, times 1 + margin | the point |

Empirical quantiles are numpy's default (linear interpolation, Hyndman & Fan's type 7, R's
default). With less than `min_history_periods` periods of data every forecaster answers `none`;
forecasts are clamped to >= 0. A period longer than the data therefore also gives `none`.

`rolling_forecasts` makes the forecasts of many origins of one series (the test half of §10's
split, or a replay's samples so far) with Holt-Winters fitted once there is enough history and
refitted every `refit` samples, each time on the data before the refit instant only, and the
states filtered through each origin with the parameters of the latest fit: the same numbers
`forecast_at` gives origin by origin, in one pass.

Pure computation over numpy arrays: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from dralloc.autoscaling.config import Forecaster, Predictor
from dralloc.autoscaling.prediction.holtwinters import (
    HoltWintersFit,
    fit_holt_winters,
    forecasts_from,
    run_states,
)

Floats = npt.NDArray[np.float64]

# §9.2: seasonal-quantile looks at the same slot over the last K = 4 periods.
DEFAULT_SEASONS = 4


@dataclass(frozen=True)
class ForecastSettings:
    """A forecaster and its knobs, in steps. Built from the config's `Predictor` with
    `settings_for`; `horizon` is h of §9.1 (lead time + one step)."""

    forecaster: Forecaster
    period: int  # m, samples per period
    horizon: int  # h, steps ahead
    quantile: float = 0.9  # q
    min_history_periods: int = 2
    seasons: int = DEFAULT_SEASONS  # K, seasonal-quantile
    window: int = 12  # W, ewma-peak, samples
    margin: float = 0.0  # ewma-peak
    refit: int = 288  # holt-winters, samples between refits
    # holt-winters: fit on the last this many periods before a refit instant (None: all of
    # them); bounds a refit's cost on long traces. The states still filter the whole history.
    fit_window_periods: int | None = None

    def __post_init__(self) -> None:
        for name in ("period", "horizon", "min_history_periods", "seasons", "window", "refit"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.fit_window_periods is not None and self.fit_window_periods < 2:
            raise ValueError(f"fit_window_periods must be >= 2, got {self.fit_window_periods}")
        if not 0.0 < self.quantile < 1.0:
            raise ValueError(f"quantile must be strictly between 0 and 1, got {self.quantile:g}")

    @property
    def min_history(self) -> int:
        return self.min_history_periods * self.period


def settings_for(
    predictor: Predictor, horizon: int, forecaster: Forecaster | None = None
) -> ForecastSettings:
    """The settings a `Predictor` section means, with durations turned into steps.

    >>> s = settings_for(Predictor(step=300, period=86400, window=3600), horizon=3)
    >>> (s.period, s.window, s.refit)
    (288, 12, 288)
    """

    def steps(seconds: float) -> int:
        return max(1, round(seconds / predictor.step))

    return ForecastSettings(
        forecaster=predictor.forecaster if forecaster is None else forecaster,
        period=steps(predictor.period),
        horizon=horizon,
        quantile=predictor.quantile,
        min_history_periods=predictor.min_history_periods,
        window=steps(predictor.window),
        margin=predictor.margin,
        refit=steps(predictor.refit),
        seasons=predictor.seasons,
        fit_window_periods=predictor.fit_window_periods,
    )


@dataclass(frozen=True)
class Forecast:
    """The forecast for one instant: `point` and `upper`, the q-quantile F_q (both >= 0)."""

    point: float
    upper: float


def clamped(point: float, upper: float) -> Forecast:
    """A forecast clamped to >= 0 (demand is never negative)."""
    return Forecast(max(0.0, point), max(0.0, upper))


def same_slot_indices(origin: int, horizon: int, period: int, seasons: int) -> list[int]:
    """Indices of the samples at the slot of origin + h in the last `seasons` periods that end
    at or before `origin`, newest first.

    >>> same_slot_indices(origin=9, horizon=2, period=4, seasons=2)
    [7, 3]
    """
    skip = (horizon - 1) // period + 1  # k + 1 periods back: the newest slot not after t
    first = origin + horizon - skip * period
    return [i for i in range(first, first - seasons * period, -period) if i >= 0]


def seasonal_naive(history: Floats, horizon: int, period: int) -> Forecast:
    """y_{t+h-m(k+1)}: the value at the same slot in the latest period that is past.

    >>> seasonal_naive(np.array([1.0, 2.0, 3.0, 4.0]), horizon=1, period=2)
    Forecast(point=3.0, upper=3.0)
    """
    (index,) = same_slot_indices(history.size - 1, horizon, period, 1)
    value = float(history[index])
    return clamped(value, value)


def seasonal_quantile(
    history: Floats, horizon: int, period: int, quantile: float, seasons: int = DEFAULT_SEASONS
) -> Forecast:
    """The median (point) and the q-quantile of the same slot over the last K periods.

    >>> y = np.array([1.0, 0, 3, 0, 5, 0])
    >>> seasonal_quantile(y, horizon=1, period=2, quantile=0.75, seasons=3)
    Forecast(point=3.0, upper=4.0)
    """
    values = history[same_slot_indices(history.size - 1, horizon, period, seasons)]
    return clamped(float(np.quantile(values, 0.5)), float(np.quantile(values, quantile)))


def ewma_peak(history: Floats, window: int, margin: float) -> Forecast:
    """The maximum over the last `window` samples, scaled by 1 + margin.

    >>> ewma_peak(np.array([5.0, 1.0, 2.0, 3.0]), window=3, margin=0.5)
    Forecast(point=4.5, upper=4.5)
    """
    value = float(np.max(history[-window:])) * (1.0 + margin)
    return clamped(value, value)


def holt_winters(history: Floats, settings: ForecastSettings, fit: HoltWintersFit) -> Forecast:
    """Point and band from parameters `fit` (fitted on a prefix of `history`), with the states
    filtered through the whole of `history`."""
    states = run_states(history, settings.period, settings.horizon, fit.params)
    point = float(forecasts_from(states, settings.horizon, fit.params.phi)[-1])
    return clamped(point, point + fit.band(settings.quantile))


def refit_length(samples: int, settings: ForecastSettings) -> int | None:
    """How many samples the latest Holt-Winters fit before an origin with `samples` samples
    saw, or None before the first fit: the first fit comes as soon as there is enough history
    (`min_history`, at least two periods), the next ones at whole multiples of `refit` samples
    (daily by default).

    >>> s = ForecastSettings(Forecaster.HOLT_WINTERS, period=2, horizon=1, refit=6)
    >>> [refit_length(n, s) for n in (3, 4, 5, 6, 11, 12)]
    [None, 4, 4, 6, 6, 12]
    """
    first = max(settings.min_history, 2 * settings.period)
    if samples < first:
        return None
    return max(first, (samples // settings.refit) * settings.refit)


def forecast_at(history: Sequence[float] | Floats, settings: ForecastSettings) -> Forecast | None:
    """The forecast at the last sample of `history` for h steps later, or None (`none`, or too
    little history). Holt-Winters fits on the samples up to the latest refit instant.

    >>> s = ForecastSettings(Forecaster.SEASONAL_NAIVE, period=2, horizon=1, min_history_periods=1)
    >>> forecast_at([1.0, 2.0, 3.0], s)
    Forecast(point=2.0, upper=2.0)
    >>> forecast_at([1.0], s) is None
    True
    """
    y = np.asarray(history, dtype=np.float64)
    # The oracle is no function of the past (the replay reads it off the trace ahead).
    if settings.forecaster in (Forecaster.NONE, Forecaster.ORACLE):
        return None
    if y.size < settings.min_history:
        return None
    if settings.forecaster is Forecaster.SEASONAL_NAIVE:
        return seasonal_naive(y, settings.horizon, settings.period)
    if settings.forecaster is Forecaster.SEASONAL_QUANTILE:
        return seasonal_quantile(
            y, settings.horizon, settings.period, settings.quantile, settings.seasons
        )
    if settings.forecaster is Forecaster.EWMA_PEAK:
        return ewma_peak(y, settings.window, settings.margin)
    length = refit_length(y.size, settings)
    if length is None:
        return None
    return holt_winters(y, settings, fit_on(y, length, settings))


def fit_on(y: Floats, length: int, settings: ForecastSettings) -> HoltWintersFit:
    """The Holt-Winters fit of a refit instant after `length` samples: on all of them, or on
    the last `fit_window_periods` periods, starting on a whole period so seasonal slots keep
    their place."""
    start = 0
    if settings.fit_window_periods is not None:
        start = max(0, length - settings.fit_window_periods * settings.period)
        start -= start % settings.period
    return fit_holt_winters(y[start:length], settings.period, settings.horizon)


def rolling_forecasts(
    series: Sequence[float] | Floats, origins: Sequence[int], settings: ForecastSettings
) -> list[Forecast | None]:
    """`forecast_at(series[: t + 1], settings)` for every origin t, computed with one
    Holt-Winters fit per refit instant and one filtering pass per fit, instead of a fit per
    origin. Every answer reads only samples up to its origin."""
    y = np.asarray(series, dtype=np.float64)
    for origin in origins:
        if not 0 <= origin < y.size:
            raise ValueError(f"origin {origin} outside the series (0..{y.size - 1})")
    if settings.forecaster is not Forecaster.HOLT_WINTERS:
        return [forecast_at(y[: t + 1], settings) for t in origins]
    answers: list[Forecast | None] = [None] * len(origins)
    by_fit: dict[int, list[int]] = {}
    for position, origin in enumerate(origins):
        length = refit_length(origin + 1, settings)
        if length is not None and origin + 1 >= settings.min_history:
            by_fit.setdefault(length, []).append(position)
    for length, positions in sorted(by_fit.items()):
        fit = fit_on(y, length, settings)
        last = max(origins[p] for p in positions)
        states = run_states(y[: last + 1], settings.period, settings.horizon, fit.params)
        points = forecasts_from(states, settings.horizon, fit.params.phi)
        band = fit.band(settings.quantile)
        for position in positions:
            point = float(points[origins[position]])
            answers[position] = clamped(point, point + band)
    return answers
