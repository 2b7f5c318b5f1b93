"""Honest evaluation (spec/autoscaling.md §10): the time split, rolling-origin forecasts, and
the scores exactly as Hyndman & Athanasopoulos define them (MASE scaled by the in-sample
seasonal naive error, the pinball loss with its factor 2, coverage), on hand-computed series;
§12's "no history, or a period longer than the training window" gives no predictor."""

from __future__ import annotations

import numpy as np
import pytest

from dralloc.autoscaling import Forecaster
from dralloc.autoscaling.prediction import (
    ForecastSettings,
    TimeSplit,
    coverage,
    evaluate,
    mae,
    mase,
    pinball,
    seasonal_naive_scale,
    time_split,
)


def test_mae_and_mase_scale_by_the_in_sample_one_step_seasonal_naive_error() -> None:
    training = [2.0, 4.0, 3.0, 7.0, 5.0, 6.0]  # m = 2: |3-2|, |7-4|, |5-3|, |6-7| -> mean 1.75
    assert seasonal_naive_scale(training, period=2) == 1.75
    actual, forecast = [4.0, 8.0, 5.0], [5.0, 6.0, 5.0]  # errors 1, 2, 0 -> MAE 1
    assert mae(actual, forecast) == 1.0
    assert mase(actual, forecast, scale=1.75) == pytest.approx(1 / 1.75)
    # A training series repeating exactly has no naive error: MASE is undefined.
    assert seasonal_naive_scale([1.0, 2.0, 1.0, 2.0], period=2) == 0.0
    assert mase(actual, forecast, scale=0.0) is None
    with pytest.raises(ValueError, match="more than one period"):
        seasonal_naive_scale([1.0, 2.0], period=2)


def test_pinball_loss_weighs_under_and_over_forecasts_by_q_with_factor_two() -> None:
    # q = 0.8, f = 10: y = 4 is over-forecast by 6 -> 2(0.2)(6) = 2.4; y = 15 under by 5 ->
    # 2(0.8)(5) = 8; y = 10 exact -> 0. Mean (2.4 + 8 + 0) / 3.
    assert pinball([4.0, 15.0, 10.0], [10.0, 10.0, 10.0], quantile=0.8) == pytest.approx(10.4 / 3)
    # At q = 0.5 the book's scaling makes it the absolute error.
    y, f = [1.0, 5.0, 2.0], [3.0, 4.0, 2.0]
    assert pinball(y, f, quantile=0.5) == mae(y, f)


def test_coverage_is_the_share_at_or_below_the_quantile_forecast() -> None:
    assert coverage([1.0, 2.0, 3.0, 4.0, 5.0], [2.0, 2.0, 5.0, 3.0, 5.0]) == 0.8  # all but 4 > 3
    with pytest.raises(ValueError, match="as many forecasts"):
        coverage([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="at least one"):
        mae([], [])


def test_the_split_is_half_the_trace_in_whole_days_after_a_warm_up_period() -> None:
    day = 288  # 5-minute samples
    # 9 days: half is 4.5 days -> 4 whole days; the warm-up is the first period (1 day).
    assert time_split(9 * day, 300.0, period=day) == TimeSplit(day, 4 * day, 9 * day)
    # 4 days: half is 2 days, but 2 periods of history after the warm-up need 3.
    assert time_split(4 * day, 300.0, period=day) == TimeSplit(day, 3 * day, 4 * day)
    # A trace whose last jobs never end: the test window stops early.
    assert time_split(9 * day, 300.0, day, test_end=8 * day) == TimeSplit(day, 4 * day, 8 * day)


def test_no_history_or_a_period_longer_than_the_training_window_means_no_predictor() -> None:
    day = 288
    assert time_split(0, 300.0, period=day) is None
    assert time_split(3 * day, 300.0, period=day) is None  # nothing left to test
    assert time_split(14 * day, 300.0, period=7 * day) is None  # a weekly period, two weeks
    assert time_split(28 * day, 300.0, period=7 * day) == TimeSplit(7 * day, 21 * day, 28 * day)


def test_rolling_origin_evaluation_scores_only_test_origins_by_hand() -> None:
    # period 2, warm-up 2 samples, train up to sample 6 (4 samples of history), test 6..10.
    y = [50.0, 50.0, 1.0, 3.0, 2.0, 4.0, 3.0, 6.0, 4.0, 5.0]
    split = time_split(len(y), 1.0, period=2, day=2.0)
    assert split == TimeSplit(2, 6, 10)
    s = ForecastSettings(Forecaster.SEASONAL_NAIVE, period=2, horizon=1, quantile=0.5)
    scores, forecasts = evaluate(y, split, s)
    # After the warm-up: 1 3 2 4 | 3 6 4 5. Origins t = 4, 5, 6 of that series forecast
    # y[t+1] with y[t-1]: 4 for 6, 3 for 4, 6 for 5. Errors 2, 1, 1 -> MAE 4/3.
    assert [f.point if f else None for f in forecasts] == [4.0, 3.0, 6.0]
    assert scores is not None
    assert scores.count == 3
    assert scores.mae == pytest.approx(4 / 3)
    # The scale reads the training samples after the warm-up only: |2-1|, |4-3| -> 1.
    assert scores.mase == pytest.approx(4 / 3)
    assert scores.pinball == pytest.approx(4 / 3)  # q = 0.5
    assert scores.coverage == pytest.approx(1 / 3)  # only 5 <= 6


def test_evaluation_refits_holt_winters_on_the_past_and_beats_naive_on_a_trend() -> None:
    rng = np.random.default_rng(11)
    t = np.arange(8 * 24)
    y = 20 + 6 * np.sin(2 * np.pi * t / 24) + 0.15 * t + rng.normal(0, 0.4, t.size)
    split = time_split(t.size, 3600.0, period=24)
    assert split == TimeSplit(24, 96, 192)
    results = {}
    for forecaster in (Forecaster.SEASONAL_NAIVE, Forecaster.HOLT_WINTERS, Forecaster.NONE):
        s = ForecastSettings(forecaster, period=24, horizon=2, refit=24)
        results[forecaster] = evaluate(y, split, s)[0]
    naive, holt = results[Forecaster.SEASONAL_NAIVE], results[Forecaster.HOLT_WINTERS]
    assert results[Forecaster.NONE] is None
    assert naive is not None and holt is not None
    assert naive.count == holt.count == 192 - 96 - 2
    assert holt.mase is not None and naive.mase is not None
    assert holt.mase < naive.mase  # the trend lifts every day above the one before
    assert 0.7 <= holt.coverage <= 1.0
