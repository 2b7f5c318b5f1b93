"""Forecasting as a replay samples: one class's series, one sample at a time (spec/autoscaling.md
§9.1-9.2 on the virtual clock). A speed-up of `forecast_at`, which it must equal exactly.

`forecast_at(history, settings)` refits Holt-Winters and filters the whole history on every
call; a replay asking every 5 minutes for a month would refit thousands of times. A
`ForecastStream` keeps, as an owned cache:

* the samples so far, in a growing numpy buffer (no list-to-array copy per call);
* the Holt-Winters fit of the latest refit instant, keyed on the number of samples it saw
  (`refit_length`): it changes only when a refit instant passes, and then the filter restarts
  from the first sample with the new parameters;
* the filter's states through the latest sample, advanced by one recursion per sample.

Samples are only ever appended, so nothing else invalidates the cache, and it holds one fit and
one filter: its size is the series. `incremental=False` turns the cache off and answers with
`forecast_at` over the whole history (the plain path), for checking and for debugging.
"""

from __future__ import annotations

import numpy as np

from dralloc.autoscaling.config import Forecaster
from dralloc.autoscaling.prediction.forecasters import (
    Floats,
    Forecast,
    ForecastSettings,
    clamped,
    fit_on,
    forecast_at,
    refit_length,
)
from dralloc.autoscaling.prediction.holtwinters import HoltWintersFilter, HoltWintersFit


class ForecastStream:
    """One class's demand series and its forecast at the latest sample.

    >>> s = ForecastStream(ForecastSettings(Forecaster.SEASONAL_NAIVE, period=2, horizon=1))
    >>> for y in (1.0, 2.0, 3.0):
    ...     s.append(y)
    >>> s.forecast() is None  # 3 samples: two periods of 2 are needed
    True
    >>> s.append(4.0)
    >>> s.forecast()
    Forecast(point=3.0, upper=3.0)
    """

    def __init__(self, settings: ForecastSettings, incremental: bool = True) -> None:
        self.settings = settings
        self.incremental = incremental
        self._buffer: Floats = np.zeros(64, dtype=np.float64)
        self._count = 0
        self._fit: HoltWintersFit | None = None
        self._fit_length: int | None = None
        self._filter: HoltWintersFilter | None = None

    def __len__(self) -> int:
        return self._count

    @property
    def history(self) -> Floats:
        """The samples so far (a read-only view; appending may replace it)."""
        view = self._buffer[: self._count]
        view.flags.writeable = False
        return view

    def append(self, value: float) -> None:
        """Add the next sample (the demand at the next step)."""
        if self._count == self._buffer.size:
            self._buffer = np.concatenate([self._buffer, np.zeros(self._buffer.size)])
        self._buffer[self._count] = value
        self._count += 1
        if self.incremental and self.settings.forecaster is Forecaster.HOLT_WINTERS:
            self._advance_holt_winters(value)

    def _advance_holt_winters(self, value: float) -> None:
        length = refit_length(self._count, self.settings)
        if length is None or self._count < self.settings.min_history:
            return
        if length != self._fit_length or self._filter is None:
            history = self._buffer[: self._count]
            self._fit = fit_on(history, length, self.settings)
            self._fit_length = length
            self._filter = HoltWintersFilter(
                history, self.settings.period, self.settings.horizon, self._fit.params
            )
            for y in history:
                self._filter.update(float(y))
        else:
            self._filter.update(value)

    def forecast(self) -> Forecast | None:
        """`forecast_at(self.history, self.settings)`, from the cache when incremental."""
        s = self.settings
        if not self.incremental or s.forecaster is not Forecaster.HOLT_WINTERS:
            return forecast_at(self._buffer[: self._count], s)
        if self._filter is None or self._fit is None or self._count < s.min_history:
            return None
        point = self._filter.forecast()
        return clamped(point, point + self._fit.band(s.quantile))
