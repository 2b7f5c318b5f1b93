"""The cost-versus-p95-wait frontier (`dralloc.sim.frontier`): which autoscaler
configurations are replayed (cluster-autoscaler's `max` swept, never below `min`, each
distinct one once; karpenter as written; the file's predictor at q 0.5, 0.8, 0.9, 0.95; none
for a static file), which points are on the one frontier of every scaler, and the CSV and
HTML page written whole.

Points are built by hand (no replay) except in the last two tests, which replay
cluster-autoscaler once each: on the 16-pod synthetic L4 trace of `test_sizing.py`, and one
pod on interrupted spot nodes."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from autoscalekit import autoscaling_text, group, load, pool, predictor, shape, sizing

from dralloc.autoscaling.config import Forecaster, Mode
from dralloc.devices import load_catalog
from dralloc.devices.catalog import Catalog
from dralloc.sim.frontier import (
    FrontierPoint,
    autoscaled_configs,
    autoscaled_points,
    autoscaled_sentence,
    frontier_points,
    frontier_rows,
    predictor_note,
    write_frontier_csv,
    write_frontier_page,
)
from dralloc.sim.sizing import FleetRun, SizingAnswer, sizing_question
from dralloc.sim.traces import ReplayTrace, TimedPod, TracePod
from dralloc.sim.traces.model import GpuModels
from dralloc.sim.traces.synthetic import generate

TRACE = "synthetic:pods=16,rate=0.01,median=900,sigma=0.5,multi=0,models=l4,nodes=2,gpus=2,seed=3"
SMALL = group("small", "l4x2", min_size=1, max_size=8)


def config_text(
    mode: str = "cluster-autoscaler",
    groups: Sequence[str] = (SMALL,),
    pools: Sequence[str] = (),
    predictor: str = "",
) -> str:
    return autoscaling_text(
        mode,
        groups=groups,
        pools=pools,
        options="{scaleDownUnneededTime: 300}",
        predictor=predictor,
        sizing=sizing("600s"),
    )


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def test_cluster_autoscaler_max_is_swept_never_below_min_each_distinct_once(
    catalog: Catalog,
) -> None:
    groups = [SMALL, group("big", "l4x2", max_size=1)]
    configs = autoscaled_configs(load(config_text(groups=groups), catalog))
    assert [(predictor, label) for predictor, label, _ in configs] == [
        ("none", "max x0.25: small <= 2, big <= 1"),
        ("none", "max x0.5: small <= 4, big <= 1"),
        ("none", "max x0.75: small <= 6, big <= 1"),
        ("none", "max x1: small <= 8, big <= 1"),
    ]
    assert [label for _, label, _ in configs] == [
        "max x0.25: small <= 2, big <= 1",
        "max x0.5: small <= 4, big <= 1",
        "max x0.75: small <= 6, big <= 1",
        "max x1: small <= 8, big <= 1",
    ]
    assert all(c.mode is Mode.CLUSTER_AUTOSCALER and c.sizing is None for _, _, c in configs)
    tiny = autoscaled_configs(
        load(config_text(groups=[group("s", "l4x2", min_size=1, max_size=2)]), catalog)
    )
    # x0.25 and x0.5 both give max 1 (the min): replayed once.
    assert [label for _, label, _ in tiny] == ["max x0.25: s <= 1", "max x0.75: s <= 2"]
    assert autoscaled_configs(load(config_text(mode="static"), catalog)) == []


def test_a_files_predictor_is_replayed_at_each_quantile_beside_the_reactive_points(
    catalog: Catalog,
) -> None:
    seasonal = predictor("seasonal-quantile", q=0.7, period="1h", step=300)
    config = load(config_text(predictor=seasonal), catalog)
    configs = autoscaled_configs(config, factors=(0.5, 1.0))
    assert [(p, label) for p, label, _ in configs] == [
        ("none", "max x0.5: small <= 4"),
        ("none", "max x1: small <= 8"),
        ("seasonal-quantile q=0.5", "max x1: small <= 8"),
        ("seasonal-quantile q=0.8", "max x1: small <= 8"),
        ("seasonal-quantile q=0.9", "max x1: small <= 8"),
        ("seasonal-quantile q=0.95", "max x1: small <= 8"),
    ]
    # The reactive points run without the predictor; the others with it, at their q only.
    assert [c.predictor.forecaster for _, _, c in configs[:2]] == [Forecaster.NONE] * 2
    assert [c.predictor.quantile for _, _, c in configs[2:]] == [0.5, 0.8, 0.9, 0.95]
    assert all(c.predictor.period == 3600 for _, _, c in configs[2:])
    assert all(c.node_groups == config.node_groups for _, _, c in configs[2:])
    pools = load(
        config_text("karpenter", groups=(), pools=[pool("gpu", ["l4x2"])], predictor=seasonal),
        catalog,
    )
    assert [(p, label) for p, label, _ in autoscaled_configs(pools, quantiles=(0.9,))] == [
        ("none", "as written"),
        ("seasonal-quantile q=0.9", "as written"),
    ]
    assert predictor_note(config) == (
        "fleet.yaml: predictor seasonal-quantile replayed at q = 0.5, 0.8, 0.9, 0.95 (the "
        "file's 0.7 aside), beside the reactive points (predictor none)"
    )
    # A forecaster whose q-quantile is its point is replayed once: q would change nothing.
    naive = load(config_text(predictor=predictor("ewma-peak", q=0.7, window=600)), catalog)
    once = autoscaled_configs(naive, factors=(1.0,))
    assert [(p, label) for p, label, _ in once] == [
        ("none", "max x1: small <= 8"),
        ("ewma-peak", "max x1: small <= 8"),
    ]
    assert once[1][2].predictor == naive.predictor
    assert predictor_note(naive) == (
        "fleet.yaml: predictor ewma-peak replayed once beside the reactive points (predictor "
        "none): its forecast is its point, whatever q"
    )


def point(scaler: str, usd: float, wait: float) -> FrontierPoint:
    return FrontierPoint(scaler, "none", f"{usd}", usd, wait, 0, wait <= 600)


def test_a_point_is_on_the_frontier_unless_another_of_any_scaler_is_as_cheap_and_as_fast(
    catalog: Catalog,
) -> None:
    question = sizing_question(generate(TRACE), load(config_text(), catalog), catalog)
    runs = (
        FleetRun((("l4x2", 1),), 2.0, math.inf, 16, 3, 0.0),
        FleetRun((("l4x2", 3),), 6.0, 611.0, 16, 0, 0.0),
        FleetRun((("l4x2", 4),), 8.0, 0.0, 16, 0, 0.0),
        FleetRun((("l4x2", 6),), 12.0, 0.0, 16, 0, 0.0),
    )
    answer = SizingAnswer(question, runs, (), runs[2], False)
    autoscaled = [
        point("cluster-autoscaler", 6.5, 200.0),
        point("cluster-autoscaler", 6.0, 250.0),
        point("cluster-autoscaler", 7.0, 250.0),
        point("cluster-autoscaler", 6.0, 611.0),  # ties with static 6.0 on both: kept
        point("karpenter", 9.0, 100.0),  # static 8.0 waits less and costs less
        point("karpenter", 8.0, 0.0),  # equal to static 8.0: neither beats the other
    ]
    points = frontier_points(answer, autoscaled)
    assert [(p.scaler, p.usd_per_hour, p.wait_p95, p.on_frontier, p.chosen) for p in points] == [
        ("static", 2.0, math.inf, True, False),  # the cheapest, though pods never start
        ("static", 6.0, 611.0, False, False),  # cluster-autoscaler 6.0 waits 250 s
        ("static", 8.0, 0.0, True, True),
        ("static", 12.0, 0.0, False, False),  # as fast as 8.0 and dearer
        ("cluster-autoscaler", 6.0, 250.0, True, False),
        ("cluster-autoscaler", 6.0, 611.0, False, False),
        ("cluster-autoscaler", 6.5, 200.0, True, False),
        ("cluster-autoscaler", 7.0, 250.0, False, False),  # waits as long as 6.0, dearer
        ("karpenter", 8.0, 0.0, True, False),
        ("karpenter", 9.0, 100.0, False, False),
    ]
    assert autoscaled_sentence(points) == (
        "cluster-autoscaler (6.0) meets it too at a mean $4,380/month ($6.00/h), p95 wait 250 s"
    )
    assert autoscaled_sentence(points[:4]) is None  # static points only
    # No static fleet meets the target: the autoscaled answer is no answer "too".
    unmet = [replace(p, meets_target=False) if p.scaler == "static" else p for p in points]
    assert autoscaled_sentence(unmet) == (
        "cluster-autoscaler (6.0) meets it at a mean $4,380/month ($6.00/h), p95 wait 250 s"
    )
    # No autoscaled point meets it either: the closest one is named (fewest pods never
    # started, then the shorter wait), labelled as autoscaled.
    missed = [replace(p, meets_target=False) for p in points]
    missed.append(replace(point("karpenter", 1.0, math.inf), never_started=2))
    assert autoscaled_sentence(missed) == (
        "no autoscaled configuration meets it either; the closest was karpenter (8.0) at a mean "
        "$5,840/month ($8.00/h): p95 wait 0 s"
    )
    assert autoscaled_sentence([missed[-1]]) == (
        "no autoscaled configuration meets it either; the closest was karpenter (1.0) at a mean "
        "$730/month ($1.00/h): p95 wait never (pods left unstarted), 2 pods never started"
    )


def test_the_csv_and_the_page_are_written_whole(tmp_path: Path, catalog: Catalog) -> None:
    question = sizing_question(generate(TRACE), load(config_text(), catalog), catalog)
    runs = (
        FleetRun((("l4x2", 1),), 2.0, math.inf, 16, 3, 0.0),
        FleetRun((("l4x2", 4),), 8.0, 0.0, 16, 0, 0.0),
    )
    answer = SizingAnswer(question, runs, runs, runs[1], False)
    points = frontier_points(answer, [point("cluster-autoscaler", 6.5, 200.0)])
    write_frontier_csv(tmp_path / "frontier.csv", points)
    rows = list(csv.DictReader((tmp_path / "frontier.csv").read_text().splitlines()))
    assert [(r["scaler"], r["configuration"], r["wait_p95_s"], r["chosen"]) for r in rows] == [
        ("static", "1 x l4x2", "inf", "false"),
        ("static", "4 x l4x2", "0.000", "true"),
        ("cluster-autoscaler", "6.5", "200.000", "false"),
    ]
    page = write_frontier_page(tmp_path / "sizing.html", answer, points, source=TRACE).read_text()
    assert "4 x l4x2 at $5,840/month ($8.00/h) meets p95 wait &lt;= 600 s" in page
    assert "never (pods left unstarted)" in page and "frontier (every scaler)" in page
    assert rows[0]["evictions"] == "0" and rows[2]["on_frontier"] == "true"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "frontier.csv",
        "plotly.min.js",
        "sizing.html",
    ]


def test_an_autoscaled_point_is_what_its_replay_billed_over_its_length(catalog: Catalog) -> None:
    trace = generate(TRACE)
    groups = [group("s", "l4x2", min_size=0, max_size=2)]
    question = sizing_question(trace, load(config_text(groups=groups), catalog), catalog)
    (only,) = autoscaled_points(question, factors=(1.0,))
    assert (only.scaler, only.configuration, only.predictor) == (
        "cluster-autoscaler",
        "max x1: s <= 2",
        "none",
    )
    # Two 2-GPU nodes at most, bought on demand at $2/h: on average less than both all along.
    assert 0 < only.usd_per_hour <= 4.0
    assert math.isfinite(only.wait_p95) and only.never_started == 0


def test_an_autoscaled_point_counts_its_evictions_and_the_wait_to_a_first_start(
    catalog: Catalog,
) -> None:
    # One 10-minute pod on spot nodes interrupted 6 times an hour: with seed 5, the notices
    # of the first two nodes evict it (see test_replay_evictions); it completes on the third.
    text = autoscaling_text(
        "cluster-autoscaler",
        shapes=[shape(price="{spot: 0.8}") + "  interruption: {ratePerHour: 6}\n"],
        groups=[group("l4", "l4x2", max_size=1, capacity_type="spot")],
        options="{scaleDownEnabled: false}",
        sizing=sizing("600s"),
    )
    pods = (TimedPod(TracePod("p0", 1000, 1024, 1, 1000), 0.0, 600.0),)
    trace = ReplayTrace("tiny", (), pods, GpuModels({"L4": catalog.gpu("l4")}), source="t.csv")
    question = sizing_question(trace, load(text, catalog), catalog, seed=5)
    (only,) = autoscaled_points(question, factors=(1.0,))
    assert (only.wait_p95, only.first_start_wait_p95, only.evictions) == (1000, 190, 2)
    lost = (307.805 - 190 + 811.311 - 490) / 3600
    assert only.lost_gpu_hours == pytest.approx(lost, abs=1e-5)
    row = frontier_rows([only])[1]
    assert row[7:10] == ["2", f"{only.lost_gpu_hours:.4f}", "190.000"]
