"""§10's baselines by hand: deltas to `none`, cost per saved waiting-GPU-hour, the static
buffer a predictor must beat at the same idle GPU-hours, and the day-block bootstrap."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from dralloc.autoscaling.prediction import (
    Delta,
    RunOutcome,
    baselines,
    day_bootstrap,
    delta,
    predictor_wins,
    static_buffer_at,
)

NONE = RunOutcome(cost=1000.0, idle_gpu_hours=40.0, waiting_gpu_hours=100.0)
# Static buffers of 1, 2 and 4 nodes over the same test window, as deltas to `none`.
STATIC = [
    delta(RunOutcome(1100.0, 60.0, 70.0), NONE),  # +20 idle, -30 waiting, +100
    delta(RunOutcome(1200.0, 80.0, 50.0), NONE),  # +40 idle, -50 waiting, +200
    delta(RunOutcome(1400.0, 120.0, 40.0), NONE),  # +80 idle, -60 waiting, +400
]


def test_the_baselines_docstring_examples_hold() -> None:
    assert doctest.testmod(baselines).failed == 0


def test_a_predictor_row_is_its_delta_to_none_and_its_cost_per_saved_waiting_hour() -> None:
    run = delta(RunOutcome(1090.0, 70.0, 55.0), NONE)
    assert run == Delta(waiting_saved=45.0, idle_added=30.0, cost_added=90.0)
    assert run.cost_per_saved_waiting_gpu_hour == 2.0
    assert delta(NONE, NONE).cost_per_saved_waiting_gpu_hour is None
    assert delta(RunOutcome(900.0, 40.0, 120.0), NONE).cost_per_saved_waiting_gpu_hour is None


def test_the_static_buffer_is_read_at_the_predictors_idle_hours() -> None:
    # 30 idle GPU-hours: half way between the 1- and 2-node buffers.
    assert static_buffer_at(STATIC, 30.0) == Delta(40.0, 30.0, 150.0)
    assert static_buffer_at(STATIC, 10.0) == Delta(15.0, 10.0, 50.0)  # from `none` itself
    assert static_buffer_at(STATIC, 81.0) is None  # larger than the largest buffer run


def test_a_predictor_wins_only_by_saving_more_for_less_than_that_static_buffer() -> None:
    # At 30 idle GPU-hours the static buffer saves 40 waiting GPU-hours for 150 (3.75 each).
    assert predictor_wins(Delta(45.0, 30.0, 90.0), STATIC) is True
    assert predictor_wins(Delta(35.0, 30.0, 90.0), STATIC) is False  # saves less waiting
    assert predictor_wins(Delta(45.0, 30.0, 180.0), STATIC) is False  # 4.0 > 3.75 a GPU-hour
    assert predictor_wins(Delta(0.0, 30.0, 90.0), STATIC) is False  # saves nothing
    assert predictor_wins(Delta(70.0, 100.0, 90.0), STATIC) is None  # no buffer run that big


def test_the_day_bootstrap_interval_holds_the_mean_and_reproduces() -> None:
    daily = [4.0, 6.0, 5.0, 9.0, 1.0, 5.0, 7.0]
    low, high = day_bootstrap(daily, seed=3)
    assert low < float(np.mean(daily)) < high
    assert (low, high) == day_bootstrap(daily, seed=3)
    assert min(daily) <= low and high <= max(daily)
    with pytest.raises(ValueError, match="at least one test day"):
        day_bootstrap([], seed=1)
