"""Additive Holt-Winters with a damped trend (spec/autoscaling.md §9.2), written from the
recursions in Hyndman & Athanasopoulos, *Forecasting: Principles and Practice* (3rd ed., §8.3,
"Holt-Winters' damped method"), with numpy only. Pure computation, no I/O.

For observations y_0..y_{n-1}, seasonal period m, smoothing α (level), β (trend, the β* of the
book's error-correction form), γ (season) and damping φ:

    ŷ_{t|t-1} = ℓ_{t-1} + φ b_{t-1} + s_{t-m}                        (one-step fit)
    ℓ_t = α (y_t - s_{t-m}) + (1 - α)(ℓ_{t-1} + φ b_{t-1})
    b_t = β (ℓ_t - ℓ_{t-1}) + (1 - β) φ b_{t-1}
    s_t = γ (y_t - ℓ_{t-1} - φ b_{t-1}) + (1 - γ) s_{t-m}
    ŷ_{t+h|t} = ℓ_t + (φ + φ² + ... + φ^h) b_t + s_{t+h-m(k+1)},  k = ⌊(h-1)/m⌋

Initial states use the first two periods (the book's classical start): ℓ = mean of period 1,
b = (mean of period 2 - mean of period 1)/m, s_j = y_j - ℓ for the m slots of period 1. So a fit
needs at least two periods, which is also §9.2's `minHistory` default.

Parameters are chosen by least squares of the one-step errors (SSE) over the whole window: a
grid (every combination evaluated at once, the time loop vectorised over parameter sets), then
one finer grid around the best point. α, β, γ lie in (0, 1) with γ ≤ 1 - α (the book's usual
restriction) and φ in [0.8, 0.98], the range the book recommends because φ near 1 is
indistinguishable from an undamped trend and below 0.8 damps too fast.

The prediction band of §9.2 is empirical: the q-quantile of the in-sample h-step errors
y_{t+h} - ŷ_{t+h|t} over the fitting window, added to the point forecast.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]

ALPHAS = (0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 0.9)
BETAS = (0.01, 0.05, 0.1, 0.2, 0.4)
GAMMAS = (0.01, 0.05, 0.1, 0.2, 0.35)
PHIS = (0.8, 0.9, 0.98)
PHI_RANGE = (0.8, 0.98)
UNIT_RANGE = (0.001, 0.999)


@dataclass(frozen=True)
class HoltWintersParams:
    """Smoothing parameters α (level), β (trend), γ (season), φ (damping)."""

    alpha: float
    beta: float
    gamma: float
    phi: float


@dataclass(frozen=True)
class HoltWintersFit:
    """Parameters fitted on y_0..y_{n-1} and what they give there: `sse` of the one-step
    errors and `residuals`, the in-sample h-step errors y_{t+h} - ŷ_{t+h|t} (for the band)."""

    params: HoltWintersParams
    period: int
    horizon: int
    sse: float
    residuals: Floats = field(compare=False)  # equal fits: equal parameters, data and SSE

    def band(self, quantile: float) -> float:
        """The empirical q-quantile of the in-sample h-step errors (0 with none)."""
        if self.residuals.size == 0:
            return 0.0
        return float(np.quantile(self.residuals, quantile))


@dataclass(frozen=True)
class HoltWintersStates:
    """States after each observation: `level[t]`, `trend[t]` and `season_ahead[t]`, the
    seasonal state a forecast from t for t+h reads, s_{t+h-m(k+1)}."""

    level: Floats
    trend: Floats
    season_ahead: Floats
    one_step: Floats  # ŷ_{t|t-1}


def initial_states(history: Floats, period: int) -> tuple[float, float, Floats]:
    """The classical start from the first two periods: (ℓ, b, seasonal slots)."""
    if history.size < 2 * period:
        raise ValueError(
            f"Holt-Winters needs two periods ({2 * period} samples), got {history.size}"
        )
    first = history[:period]
    level = float(first.mean())
    trend = float((history[period : 2 * period].mean() - level) / period)
    return level, trend, first - level


def damped_sum(phi: float | Floats, horizon: int) -> float | Floats:
    """φ + φ² + ... + φ^h."""
    total: float | Floats = 0.0
    power: float | Floats = 1.0
    for _ in range(horizon):
        power = power * phi
        total = total + power
    return total


class HoltWintersFilter:
    """The recursions run one observation at a time with fixed parameters, started from the
    first two periods of `start`. Owned by one caller; `update` mutates it. `run_states` and
    `ForecastStream` both go through it, so the two give bit-identical states."""

    def __init__(self, start: Floats, period: int, horizon: int, params: HoltWintersParams) -> None:
        level, trend, season = initial_states(start, period)
        self.level = level
        self.trend = trend
        self.season = season.copy()
        self.period = period
        self.horizon = horizon
        self.params = params
        self.seen = 0
        self.damped_sum = float(damped_sum(params.phi, horizon))

    def update(self, y: float) -> float:
        """Take observation y_t and return ŷ_{t|t-1}, the one-step forecast made before it."""
        a, b, g, phi = self.params.alpha, self.params.beta, self.params.gamma, self.params.phi
        slot = self.seen % self.period
        level, season = self.level, self.season
        damped = phi * self.trend
        one_step = float(level + damped + season[slot])
        new_level = a * (y - season[slot]) + (1 - a) * (level + damped)
        season[slot] = g * (y - level - damped) + (1 - g) * season[slot]
        self.trend = float(b * (new_level - level) + (1 - b) * damped)
        self.level = float(new_level)
        self.seen += 1
        return one_step

    def season_ahead(self) -> float:
        """s_{t+h-m(k+1)} for the latest t: the seasonal state a forecast for t+h reads."""
        return float(self.season[(self.seen - 1 + self.horizon) % self.period])

    def forecast(self) -> float:
        """ŷ_{t+h|t} for the latest observation t."""
        return float(self.level + self.damped_sum * self.trend + self.season_ahead())


def run_states(
    history: Floats, period: int, horizon: int, params: HoltWintersParams
) -> HoltWintersStates:
    """The recursions over `history` with fixed parameters: states after every observation.
    State t depends on y_0..y_t only."""
    recursion = HoltWintersFilter(history, period, horizon, params)
    n = history.size
    levels = np.empty(n)
    trends = np.empty(n)
    ahead = np.empty(n)
    one_step = np.empty(n)
    for t in range(n):
        one_step[t] = recursion.update(float(history[t]))
        levels[t] = recursion.level
        trends[t] = recursion.trend
        ahead[t] = recursion.season_ahead()
    return HoltWintersStates(levels, trends, ahead, one_step)


def forecasts_from(states: HoltWintersStates, horizon: int, phi: float) -> Floats:
    """ŷ_{t+h|t} for every origin t of `states`."""
    return states.level + float(damped_sum(phi, horizon)) * states.trend + states.season_ahead


def _sse_grid(history: Floats, period: int, grid: Floats) -> Floats:
    """SSE of the one-step errors for each row (α, β, γ, φ) of `grid`, all at once."""
    level0, trend0, season0 = initial_states(history, period)
    count = grid.shape[0]
    a, b, g, phi = (grid[:, i] for i in range(4))
    level = np.full(count, level0)
    trend = np.full(count, trend0)
    season = np.repeat(season0[:, None], count, axis=1)
    sse = np.zeros(count)
    for t in range(history.size):
        y = history[t]
        slot = t % period
        damped = phi * trend
        previous_season = season[slot]
        error = y - (level + damped + previous_season)
        sse += error * error
        new_level = a * (y - previous_season) + (1 - a) * (level + damped)
        season[slot] = g * (y - level - damped) + (1 - g) * previous_season
        trend = b * (new_level - level) + (1 - b) * damped
        level = new_level
    return sse


def _valid(grid: list[tuple[float, float, float, float]]) -> Floats:
    rows = [
        row
        for row in grid
        if UNIT_RANGE[0] <= row[0] <= UNIT_RANGE[1]
        and UNIT_RANGE[0] <= row[1] <= UNIT_RANGE[1]
        and UNIT_RANGE[0] <= row[2] <= min(UNIT_RANGE[1], 1 - row[0])
        and PHI_RANGE[0] <= row[3] <= PHI_RANGE[1]
    ]
    return np.array(sorted(set(rows)), dtype=np.float64)


def fit_holt_winters(history: Floats, period: int, horizon: int) -> HoltWintersFit:
    """Fit α, β, γ, φ by SSE on `history` (at least two periods), then compute the in-sample
    h-step errors with the chosen parameters. Deterministic: ties keep the first grid row."""
    coarse = _valid(list(itertools.product(ALPHAS, BETAS, GAMMAS, PHIS)))
    sse = _sse_grid(history, period, coarse)
    best = coarse[int(np.argmin(sse))]
    # One finer pass around the best point: half the smallest coarse spacing on each side.
    steps = (0.05, 0.02, 0.025, 0.04)
    fine = _valid(
        list(
            itertools.product(
                *(
                    (value - step, value, value + step)
                    for value, step in zip(best, steps, strict=True)
                )
            )
        )
    )
    fine_sse = _sse_grid(history, period, fine)
    chosen = fine[int(np.argmin(fine_sse))]
    params = HoltWintersParams(*(round(float(v), 6) for v in chosen))
    states = run_states(history, period, horizon, params)
    ahead = forecasts_from(states, horizon, params.phi)
    residuals = history[horizon:] - ahead[: history.size - horizon]
    one_step_errors = history - states.one_step
    return HoltWintersFit(
        params, period, horizon, float(np.sum(one_step_errors**2)), residuals.astype(np.float64)
    )
