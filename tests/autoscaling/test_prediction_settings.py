"""A Predictor section's seasons and fit window reach the forecasters' settings."""

from __future__ import annotations

from dralloc.autoscaling.config import Predictor
from dralloc.autoscaling.prediction.forecasters import settings_for


def test_seasons_and_fit_window_are_passed_on() -> None:
    settings = settings_for(
        Predictor(step=300, period=86400, window=3600, seasons=6, fit_window_periods=3), horizon=2
    )
    assert (settings.seasons, settings.fit_window_periods) == (6, 3)


def test_defaults_keep_every_period_of_history() -> None:
    settings = settings_for(Predictor(step=300, period=86400, window=3600), horizon=2)
    assert (settings.seasons, settings.fit_window_periods) == (4, None)
