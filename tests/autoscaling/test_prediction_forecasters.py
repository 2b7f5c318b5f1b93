"""The demand signal and the forecasters of spec/autoscaling.md §9.1-9.2: hand-computed small
series for every forecaster, Holt-Winters' recursions checked step by step, its fit against
the grid it searches, and the property that a forecast made at t never reads a sample after t
(perturbing the future changes nothing), for every forecaster and for the signal itself."""

from __future__ import annotations

import doctest
import itertools
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dralloc.autoscaling import (
    FixedDelay,
    Forecaster,
    Predictor,
    Provisioning,
    UniformDelay,
    prediction,
)
from dralloc.autoscaling.prediction import (
    DemandClass,
    DemandRecord,
    Forecast,
    ForecastSettings,
    ForecastStream,
    HoltWintersParams,
    actuation,
    demand_series,
    ewma_peak,
    fit_holt_winters,
    forecast_at,
    forecasters,
    gang_bucket,
    holtwinters,
    horizon_steps,
    lead_time,
    oracle,
    rolling_forecasts,
    run_states,
    scores,
    seasonal_naive,
    seasonal_quantile,
    settings_for,
    signal,
    sizing,
    stream,
    warmpools,
)
from dralloc.autoscaling.prediction.holtwinters import ALPHAS, BETAS, GAMMAS, PHIS

H100 = DemandClass("H100")
MIG = DemandClass("H100", "3g.40gb", "1")


@pytest.mark.parametrize(
    "module",
    [signal, forecasters, holtwinters, stream, scores, actuation, warmpools, oracle, sizing],
    ids=lambda m: m.__name__.rsplit(".", 1)[-1],
)
def test_the_examples_in_the_prediction_docstrings_hold(module: object) -> None:
    failed, attempted = doctest.testmod(module)  # type: ignore[arg-type]
    assert failed == 0
    assert attempted > 0 or module is holtwinters


def test_the_prediction_package_exports_what_it_lists() -> None:
    assert all(hasattr(prediction, name) for name in prediction.__all__)


# §9.1 the signal


def test_demand_counts_running_and_waiting_pods_until_they_leave() -> None:
    records = [
        DemandRecord(H100, arrival=0.0, amount=8.0, end=900.0),  # present at 0, 300, 600
        DemandRecord(H100, arrival=250.0, amount=2.0),  # still there: 300 onwards
        DemandRecord(MIG, arrival=600.0, amount=3.0, end=600.0),  # gone the instant it came
        DemandRecord(MIG, arrival=601.0, amount=1.0, end=1000.0),  # sampled at 900 only
    ]
    series = demand_series(records, start=0.0, end=1200.0, step=300.0)
    assert series[H100].tolist() == [8.0, 10.0, 10.0, 2.0]
    assert series[MIG].tolist() == [0.0, 0.0, 0.0, 1.0]


def test_demand_classes_bucket_gangs_and_name_their_buffer() -> None:
    assert [gang_bucket(n) for n in (1, 2, 3, 4, 5, 8, 9, 64)] == [
        "1", "2", "4", "4", "8", "8", ">8", ">8"
    ]  # fmt: skip
    assert (
        DemandClass("gpu.nvidia.com", "gpu", ">8").buffer_name()
        == "predictor-gpu.nvidia.com-gpu-gt8"
    )
    with pytest.raises(ValueError, match="gang bucket"):
        DemandClass("H100", "gpu", "3")
    with pytest.raises(ValueError, match="gang size"):
        gang_bucket(0)


def test_lead_time_is_the_p90_of_request_to_devices_rounded_up_to_a_step() -> None:
    # 90 + 30 + 60 + 240 = 420 s, rounded up to 5-minute steps: 600 s; h = 2 + 1 steps.
    assert lead_time(Provisioning(), 300.0) == 600.0
    assert horizon_steps(600.0, 300.0) == 3
    # Exactly on a step stays there: 180 + 30 + 60 + 240 = 510 s -> 540 s with 60 s steps.
    assert lead_time(Provisioning(launch=FixedDelay(180.0)), 60.0) == 540.0
    # Uniform 0-1000 s launch: the p90 of the sum is near 330 + 900 = 1230 s -> 1500 s.
    random_launch = Provisioning(launch=UniformDelay(0.0, 1000.0))
    assert lead_time(random_launch, 300.0, seed=7) == 1500.0
    assert lead_time(random_launch, 300.0, seed=7) == lead_time(random_launch, 300.0, seed=7)


# §9.2 the forecasters, by hand


def test_seasonal_naive_takes_the_same_slot_of_the_latest_past_period() -> None:
    y = np.arange(1.0, 9.0)  # 1..8, origin t = 7, period 4
    assert seasonal_naive(y, horizon=1, period=4) == Forecast(5.0, 5.0)  # y[4]
    assert seasonal_naive(y, horizon=4, period=4) == Forecast(8.0, 8.0)  # y[7]
    assert seasonal_naive(y, horizon=5, period=4) == Forecast(5.0, 5.0)  # k = 1: y[4]
    assert seasonal_naive(-y, horizon=1, period=4) == Forecast(0.0, 0.0)  # clamped


def test_seasonal_quantile_is_the_empirical_quantile_of_the_last_k_periods() -> None:
    # Slot values at the target slot over 5 periods: 9, 1, 3, 5, 7 (oldest first); K = 4 keeps
    # 1, 3, 5, 7: median 4, 0.9-quantile (type 7) 5 + 0.7 * 2 = 6.4.
    y = np.array([9.0, 0, 1, 0, 3, 0, 5, 0, 7, 0])
    assert seasonal_quantile(y, horizon=1, period=2, quantile=0.9) == Forecast(4.0, 6.4)
    # Fewer periods than K: whatever exists.
    assert seasonal_quantile(y[:4], horizon=1, period=2, quantile=0.5) == Forecast(5.0, 5.0)


def test_ewma_peak_is_the_window_maximum_with_a_margin() -> None:
    y = np.array([9.0, 1.0, 4.0, 2.0])
    assert ewma_peak(y, window=3, margin=0.25) == Forecast(5.0, 5.0)
    assert ewma_peak(y, window=10, margin=0.0) == Forecast(9.0, 9.0)


def test_holt_winters_recursions_match_a_hand_computed_series() -> None:
    # m = 2, y = 1, 3, 2, 4: start ℓ = 2, b = (3 - 2) / 2 = 0.5, s = (-1, 1); α = β = γ = 0.5,
    # φ = 0.9.
    # t=0: ŷ = 2 + 0.45 - 1 = 1.45; ℓ = 0.5(1 + 1) + 0.5(2.45) = 2.225;
    #      s0 = 0.5(1 - 2 - 0.45) + 0.5(-1) = -1.225; b = 0.5(0.225) + 0.5(0.45) = 0.3375
    # t=1: φb = 0.30375; ŷ = 2.225 + 0.30375 + 1 = 3.52875;
    #      ℓ = 0.5(3 - 1) + 0.5(2.52875) = 2.264375; s1 = 0.5(0.47125) + 0.5 = 0.735625;
    #      b = 0.5(0.039375) + 0.5(0.30375) = 0.1715625
    # From t=1: h=1 -> ℓ + φb + s0 = 1.19378125; h=2 -> ℓ + (φ + φ²)b + s1 = 3.293371875.
    y = np.array([1.0, 3.0, 2.0, 4.0])
    params = HoltWintersParams(alpha=0.5, beta=0.5, gamma=0.5, phi=0.9)
    states = run_states(y, period=2, horizon=1, params=params)
    assert states.one_step[:2] == pytest.approx([1.45, 3.52875])
    assert states.level[:2] == pytest.approx([2.225, 2.264375])
    assert states.trend[:2] == pytest.approx([0.3375, 0.1715625])
    one = holtwinters.forecasts_from(states, 1, params.phi)
    assert one[1] == pytest.approx(1.19378125)
    two = holtwinters.forecasts_from(run_states(y, 2, 2, params), 2, params.phi)
    assert two[1] == pytest.approx(3.293371875)


def test_holt_winters_fits_a_repeating_series_exactly_and_forecasts_it() -> None:
    y = np.tile([1.0, 3.0, 2.0], 6)
    fit = fit_holt_winters(y, period=3, horizon=2)
    assert fit.sse == pytest.approx(0.0, abs=1e-18)
    assert fit.band(0.9) == pytest.approx(0.0, abs=1e-9)
    s = ForecastSettings(Forecaster.HOLT_WINTERS, period=3, horizon=2, refit=3)
    forecast = forecast_at(y[:-2], s)  # origin 15 (slot 0) forecasts slot 2: 2.0
    assert forecast is not None
    assert forecast.point == pytest.approx(2.0)


def test_holt_winters_parameters_are_the_least_squares_point_of_its_grid() -> None:
    rng = np.random.default_rng(3)
    y = np.tile([2.0, 6.0, 4.0, 1.0], 5) + np.arange(20) * 0.3 + rng.normal(0, 0.5, 20)
    fit = fit_holt_winters(y, period=4, horizon=1)

    def sse(params: HoltWintersParams) -> float:
        return float(np.sum((y - run_states(y, 4, 1, params).one_step) ** 2))

    assert fit.sse == pytest.approx(sse(fit.params))
    for a, b, g, phi in itertools.product(ALPHAS, BETAS, GAMMAS, PHIS):
        if g <= 1 - a:
            assert fit.sse <= sse(HoltWintersParams(a, b, g, phi)) + 1e-9
    assert 0 < fit.params.alpha < 1 and 0 < fit.params.beta < 1
    assert 0 < fit.params.gamma <= 1 - fit.params.alpha
    assert 0.8 <= fit.params.phi <= 0.98
    # The band is the empirical quantile of the in-sample h-step errors.
    ahead = holtwinters.forecasts_from(run_states(y, 4, 1, fit.params), 1, fit.params.phi)
    assert fit.band(0.9) == pytest.approx(float(np.quantile(y[1:] - ahead[:-1], 0.9)))


def test_too_little_history_none_or_the_oracle_gives_no_forecast() -> None:
    for forecaster in Forecaster:
        s = ForecastSettings(forecaster, period=4, horizon=1)
        assert forecast_at([], s) is None
        assert forecast_at([1.0] * 7, s) is None  # < 2 periods
        if forecaster not in (Forecaster.NONE, Forecaster.ORACLE):
            assert forecast_at([1.0] * 8, s) is not None
        else:
            # The oracle reads the trace ahead in the replay, never a series' past.
            assert forecast_at([1.0] * 8, s) is None


def test_settings_come_from_the_predictor_section_in_steps() -> None:
    predictor = Predictor(
        forecaster=Forecaster.EWMA_PEAK, quantile=0.8, step=600, period=7 * 86400, window=1800
    )
    s = settings_for(predictor, horizon=2)
    assert (s.forecaster, s.period, s.window, s.refit, s.quantile) == (
        Forecaster.EWMA_PEAK, 1008, 3, 144, 0.8
    )  # fmt: skip
    with pytest.raises(ValueError, match="quantile"):
        ForecastSettings(Forecaster.NONE, period=1, horizon=1, quantile=1.0)


# No forecast reads the future


SERIES = st.lists(st.integers(0, 20).map(float), min_size=12, max_size=20)


@pytest.mark.parametrize("forecaster", list(Forecaster))
@settings(max_examples=8, deadline=None)
@given(series=SERIES, noise=st.lists(st.integers(-5, 30).map(float), min_size=20, max_size=20))
def test_a_forecast_at_t_never_reads_samples_after_t(
    forecaster: Forecaster, series: list[float], noise: list[float]
) -> None:
    s = ForecastSettings(forecaster, period=3, horizon=2, window=2, margin=0.5, refit=4)
    origins = list(range(len(series)))
    before = rolling_forecasts(series, origins, s)
    for origin in origins:
        changed = series[: origin + 1] + noise[: len(series) - origin - 1]
        after = rolling_forecasts(changed, origins, s)
        assert after[: origin + 1] == before[: origin + 1], f"origin {origin}"
        # One pass over many origins gives what origin-by-origin forecasting gives.
        assert before[origin] == forecast_at(series[: origin + 1], s)


@settings(max_examples=40, deadline=None)
@given(
    arrivals=st.lists(
        st.tuples(st.integers(0, 20), st.integers(1, 8), st.one_of(st.none(), st.integers(0, 20))),
        max_size=12,
    ),
    cut=st.integers(0, 10),
    shift=st.integers(1, 10),
)
def test_the_signal_up_to_t_never_depends_on_what_happens_after_t(
    arrivals: list[tuple[int, int, int | None]], cut: int, shift: int
) -> None:
    step = 60.0
    t = cut * step
    records = [
        DemandRecord(H100, a * step, float(n), None if e is None else (a + e) * step)
        for a, n, e in arrivals
    ]

    def futured(r: DemandRecord) -> DemandRecord | None:
        # After t: pods arriving later vanish or move, and an end still after t moves too.
        if r.arrival > t:
            return None if shift % 2 else DemandRecord(H100, r.arrival + shift * step, 5.0)
        end = r.end
        if end is not None and end > t:
            end = end + shift * step if shift % 3 else None
        return DemandRecord(H100, r.arrival, r.amount, end)

    changed = [f for f in map(futured, records) if f is not None]
    k = cut + 1
    before = demand_series(records, 0.0, 30 * step, step).get(H100, np.zeros(30))
    after = demand_series(changed, 0.0, 30 * step, step).get(H100, np.zeros(30))
    assert before[:k].tolist() == after[:k].tolist()


def test_rolling_holt_winters_refits_only_at_refit_instants_on_the_past() -> None:
    rng = random.Random(5)
    y = [10 + 4 * (i % 4) + rng.random() for i in range(24)]
    s = ForecastSettings(Forecaster.HOLT_WINTERS, period=4, horizon=1, refit=8)
    # Origin 14 has seen 15 samples, the last refit came after 8; origin 15 has seen 16, a refit.
    fourteen, fifteen = rolling_forecasts(y, [14, 15], s)
    fit8 = fit_holt_winters(np.array(y[:8]), 4, 1)
    fit16 = fit_holt_winters(np.array(y[:16]), 4, 1)
    assert fit8.params != fit16.params
    assert fourteen == forecasters.holt_winters(np.array(y[:15]), s, fit8)
    assert fifteen == forecasters.holt_winters(np.array(y[:16]), s, fit16)


@pytest.mark.parametrize("forecaster", list(Forecaster))
@settings(max_examples=6, deadline=None)
@given(
    series=st.lists(st.integers(0, 30).map(float), min_size=1, max_size=26),
    fit_window=st.sampled_from([None, 2, 3]),
)
def test_the_streamed_forecasts_equal_the_plain_ones_at_every_sample(
    forecaster: Forecaster, series: list[float], fit_window: int | None
) -> None:
    s = ForecastSettings(
        forecaster,
        period=3,
        horizon=2,
        window=2,
        margin=0.5,
        refit=5,
        fit_window_periods=fit_window,
    )
    fast, plain = ForecastStream(s), ForecastStream(s, incremental=False)
    for n, value in enumerate(series, start=1):
        fast.append(value)
        plain.append(value)
        assert fast.forecast() == plain.forecast() == forecast_at(series[:n], s), f"sample {n}"
    assert len(fast) == len(series)
    assert fast.history.tolist() == series


def test_a_streamed_holt_winters_refits_only_when_a_refit_instant_passes() -> None:
    s = ForecastSettings(Forecaster.HOLT_WINTERS, period=4, horizon=1, refit=8)
    rng = random.Random(2)
    fast = ForecastStream(s)
    fits = []
    for i in range(90):  # longer than the buffer's first 64 samples
        fast.append(10 + 3 * (i % 4) + rng.random())
        fits.append(fast._fit)
        if i % 9 == 0:
            assert fast.forecast() == forecast_at(fast.history, s)
    changes = [n for n in range(1, 90) if fits[n] is not fits[n - 1]]
    # First fit once two periods (8 samples) exist, then one per 8 samples.
    assert changes == list(range(7, 90, 8))


def test_a_fit_window_fits_on_the_last_whole_periods_before_the_refit_instant() -> None:
    rng = random.Random(8)
    y = np.array([5 + 2 * (i % 4) + 0.1 * i + rng.random() for i in range(30)])
    s = ForecastSettings(
        Forecaster.HOLT_WINTERS, period=4, horizon=1, refit=6, fit_window_periods=3
    )
    # 29 samples: the latest refit after 24; the last 3 periods start at 12, a whole period.
    fit = forecasters.fit_on(y, 24, s)
    assert fit == fit_holt_winters(y[12:24], 4, 1)
    assert forecast_at(y[:29], s) == forecasters.holt_winters(y[:29], s, fit)
    # 27 samples before the refit instant would start at 15: moved back to 12.
    assert forecasters.fit_on(y, 27, s) == fit_holt_winters(y[12:27], 4, 1)
    with pytest.raises(ValueError, match="fit_window_periods"):
        ForecastSettings(Forecaster.HOLT_WINTERS, period=4, horizon=1, fit_window_periods=1)
