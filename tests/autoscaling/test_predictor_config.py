"""The §9 sections of a `kind: Autoscaling` file: the predictor's `seasons` and `fitWindow`,
`warmPool` (read into `prediction.WarmPool`) and `sizing`; each field's defaults, and every
problem of a bad section reported at once at its field path."""

from __future__ import annotations

import pytest

from dralloc.autoscaling import ChunkStatistic, Forecaster, parse_autoscaling_text
from dralloc.autoscaling.config import AutoscalingConfig, Sizing, SizingObjective
from dralloc.autoscaling.prediction import (
    WarmPool,
    WarmState,
    settings_for,
)
from dralloc.autoscaling.prediction.sizing import DEFAULT_BUDGET
from dralloc.devices import load_catalog
from dralloc.devices.catalog import Catalog
from dralloc.errors import InputError

HEAD = """\
apiVersion: dralloc.io/v1alpha1
kind: Autoscaling
metadata: {name: gpu}
mode: MODE
shapes:
- {name: h100, shape: dgx-h100, price: {onDemand: 98.32}}
- {name: a100, shape: dgx-a100, price: {onDemand: 32.77}}
nodeGroups:
- {name: h100-od, shape: h100, min: 0, max: 8}
nodePools:
- {name: gpu, shapes: [a100]}
"""


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def _read(sections: str, catalog: Catalog, mode: str = "cluster-autoscaler") -> AutoscalingConfig:
    return parse_autoscaling_text(
        HEAD.replace("MODE", mode) + sections, "fleet.yaml", catalog=catalog
    )


def _problems(sections: str, catalog: Catalog, mode: str = "cluster-autoscaler") -> dict[str, str]:
    with pytest.raises(InputError) as caught:
        _read(sections, catalog, mode)
    for problem in caught.value.problems:
        assert (problem.file, problem.obj) == ("fleet.yaml", "Autoscaling gpu")
    return {p.field: p.message for p in caught.value.problems}


def test_without_the_sections_the_defaults_hold(catalog: Catalog) -> None:
    config = _read("", catalog)
    assert config.predictor.seasons == 4 and config.predictor.fit_window_periods is None
    assert config.warm_pool is None and config.sizing is None


def test_seasons_and_fit_window_are_read(catalog: Catalog) -> None:
    config = _read("predictor: {forecaster: holt-winters, seasons: 6, fitWindow: 3}\n", catalog)
    assert config.predictor.forecaster is Forecaster.HOLT_WINTERS
    assert (config.predictor.seasons, config.predictor.fit_window_periods) == (6, 3)
    # Every value the reader accepts makes valid forecast settings.
    settings_for(config.predictor, horizon=3)


@pytest.mark.parametrize(
    ("section", "field", "message"),
    [
        ("{seasons: 0}", "predictor.seasons", "must be >= 1, got 0"),
        ("{seasons: two}", "predictor.seasons", 'must be an integer, got "two"'),
        ("{fitWindow: 1}", "predictor.fitWindow", "must be >= 2, got 1"),
        ("{fitWindow: 7d}", "predictor.fitWindow", 'must be an integer, got "7d"'),
        ("{fitWindow: 2.5}", "predictor.fitWindow", "must be an integer, got 2.5"),
    ],
)
def test_bad_seasons_and_fit_windows_are_refused(
    section: str, field: str, message: str, catalog: Catalog
) -> None:
    assert _problems(f"predictor: {section}\n", catalog) == {field: message}


def test_a_warm_pool_reads_into_the_prediction_librarys_type(catalog: Catalog) -> None:
    config = _read("warmPool: {shape: h100, minSize: 2, stoppedPrice: 1.5}\n", catalog)
    assert config.warm_pool == WarmPool("h100", 2, WarmState.STOPPED, 1.5)
    assert config.warm_pool.waiting_price(98.32) == 1.5
    running = _read("warmPool: {shape: h100, minSize: 0, state: running}\n", catalog)
    assert running.warm_pool == WarmPool("h100", 0, WarmState.RUNNING, None)


def test_a_karpenter_warm_pool_takes_a_node_pools_shape(catalog: Catalog) -> None:
    config = _read("warmPool: {shape: a100, minSize: 1}\n", catalog, mode="karpenter")
    assert config.warm_pool == WarmPool("a100", 1)
    problems = _problems("warmPool: {shape: h100, minSize: 1}\n", catalog, mode="karpenter")
    assert problems == {"warmPool.shape": "shape h100 is in no node pool's shapes"}


def test_every_warm_pool_problem_is_reported_at_once(catalog: Catalog) -> None:
    problems = _problems(
        "warmPool: {shape: h200, minSize: -1, state: paused, stoppedPrice: -2, size: 3}\n", catalog
    )
    assert problems == {
        "warmPool.shape": 'unknown shape "h200" (shapes: h100, a100)',
        "warmPool.minSize": "must be >= 0, got -1",
        "warmPool.state": 'must be one of running, stopped, got "paused"',
        "warmPool.stoppedPrice": "must be >= 0, got -2",
        "warmPool.size": "unknown field",
    }
    assert _problems("warmPool: {}\n", catalog) == {
        "warmPool.shape": "required",
        "warmPool.minSize": "required",
    }
    assert _problems("warmPool: [h100]\n", catalog)["warmPool"] == "must be an object, got ['h100']"


def test_a_warm_pool_must_be_one_the_mode_can_take_from(catalog: Catalog) -> None:
    assert _problems("warmPool: {shape: a100, minSize: 1}\n", catalog) == {
        "warmPool.shape": "shape a100 is the shape of no node group"
    }
    assert _problems("warmPool: {shape: h100, minSize: 1}\n", catalog, mode="static") == {
        "warmPool": "mode static never scales up: a warm pool is never taken from"
    }
    running = "warmPool: {shape: h100, minSize: 1, state: running, stoppedPrice: 1}\n"
    assert _problems(running, catalog) == {
        "warmPool.stoppedPrice": "only for state stopped (running nodes cost the price)"
    }


def test_sizing_reads_with_its_defaults(catalog: Catalog) -> None:
    config = _read("sizing: {constraint: {waitP95: 10m}}\n", catalog, mode="static")
    assert config.sizing == Sizing(("h100", "a100"), 600.0, SizingObjective.COST, DEFAULT_BUDGET)
    listed = "sizing: {shapes: [a100], objective: cost, constraint: {waitP95: 90}, budget: 12}\n"
    assert _read(listed, catalog).sizing == Sizing(("a100",), 90.0, SizingObjective.COST, 12)


def test_every_sizing_problem_is_reported_at_once(catalog: Catalog) -> None:
    text = (
        "sizing: {shapes: [h100, v100, h100], objective: latency, budget: 0,"
        " constraint: {waitP95: soon, waitP99: 1m}}\n"
    )
    assert _problems(text, catalog) == {
        "sizing.shapes[1]": 'unknown shape "v100" (shapes: h100, a100)',
        "sizing.shapes[2]": "shape h100 is listed twice",
        "sizing.objective": 'must be one of cost, got "latency"',
        "sizing.budget": "must be >= 1, got 0",
        "sizing.constraint.waitP95": 'must be a duration such as 90s, 10m or 1h30m, got "soon"',
        "sizing.constraint.waitP99": "unknown field",
    }
    assert _problems("sizing: {shapes: []}\n", catalog) == {
        "sizing.shapes": "must list at least one shape (or be left out: all)",
        "sizing.constraint.waitP95": "required: the p95 wait to meet, e.g. 600s",
    }


def test_the_predictor_chunk_is_a_statistic_or_a_gpu_count(catalog: Catalog) -> None:
    assert _read("", catalog).predictor.chunk is ChunkStatistic.P90
    assert _read("predictor: {chunk: mode}\n", catalog).predictor.chunk is ChunkStatistic.MODE
    assert _read("predictor: {chunk: 8}\n", catalog).predictor.chunk == 8
    oracle = _read("predictor: {forecaster: oracle}\n", catalog).predictor
    assert oracle.forecaster is Forecaster.ORACLE
    assert _problems("predictor: {chunk: 0}\n", catalog) == {
        "predictor.chunk": "must be >= 1, got 0"
    }
    assert _problems("predictor: {chunk: p50}\n", catalog) == {
        "predictor.chunk": 'must be one of p90, mode, max, got "p50"'
    }
    assert _problems("predictor: {chunk: [8]}\n", catalog) == {
        "predictor.chunk": "must be one of p90, mode, max or a GPU count, got [8]"
    }
