"""Prediction in the replay (`dralloc.sim.replay.autoscale_prediction`): a burst of pods at the
top of every hour, forecast by seasonal-naive (period 1 h, step 5 min), makes the managed
buffer `predictor-l4-gpu-1` ask for nodes before the burst, so its pods stop waiting once two
periods of history exist, at a higher cost; without a predictor every burst waits for its
nodes. Also: karpenter mode's consolidation no longer deletes a node for its pods to wait on a
node still starting (upstream refuses such commands).

Tiny traces: bursts of three one-GPU pods (20 min each) at 0, 1, 2 and 3 h; an L4 shape with 2
fractional GPUs and fixed delays (requested at t, devices published at t + 180 s)."""

from __future__ import annotations

import pytest
from autoscalekit import autoscaling_text, group, pool

from dralloc.autoscaling import parse_autoscaling_text
from dralloc.devices import load_catalog
from dralloc.devices.catalog import Catalog
from dralloc.sim.replay import PodState, ReplayOptions, ReplayResult, replay
from dralloc.sim.replay.autoscaled import ReplayAutoscaling
from dralloc.sim.traces import ReplayTrace, TimedPod, TracePod
from dralloc.sim.traces.model import GpuModels

PREDICTOR = "predictor: {forecaster: seasonal-naive, period: 1h, step: 300}\n"
BURSTS = [(3600.0 * hour + 5.0 * i, 1200.0) for hour in range(4) for i in range(3)]


def config_text(mode: str, predictor: str) -> str:
    scaler = (
        {"groups": [group("l4", "l4x2", max_size=3)]}
        if mode == "cluster-autoscaler"
        else {"pools": [pool("l4", ["l4x2"])]}
    )
    return autoscaling_text(
        mode, options="{scaleDownUnneededTime: 300}", predictor=predictor, **scaler
    )


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def run(catalog: Catalog, text: str) -> ReplayResult:
    config = parse_autoscaling_text(text, "autoscaling.yaml", catalog=catalog)
    timed = tuple(
        TimedPod(TracePod(f"p{index}", 1000, 1024, 1, 1000), arrival, duration)
        for index, (arrival, duration) in enumerate(BURSTS)
    )
    trace = ReplayTrace("bursts", (), timed, GpuModels({"L4": catalog.gpu("l4")}), source="b.csv")
    return replay(trace, "fgd", 1, ReplayOptions(autoscaling=ReplayAutoscaling(config, catalog)))


def waits(result: ReplayResult) -> list[float]:
    assert all(p.state is PodState.COMPLETED and p.start is not None for p in result.pods)
    return [p.start - p.arrival for p in result.pods if p.start is not None]


def test_a_seasonal_forecast_provisions_before_the_burst_in_cluster_autoscaler_mode(
    catalog: Catalog,
) -> None:
    reactive = run(catalog, config_text("cluster-autoscaler", ""))
    predicted = run(catalog, config_text("cluster-autoscaler", PREDICTOR))
    # Reactive: every burst waits for its nodes (the 10 s loop, then 180 s).
    assert waits(reactive)[9:] == [190.0, 185.0, 180.0]
    # Seasonal naive forecasts the 3 h burst from the 2 h one once two periods are known:
    # the buffer's three chunks bring two nodes up before it comes.
    assert waits(predicted)[:6] == waits(reactive)[:6]
    assert waits(predicted)[9:] == [0.0, 0.0, 0.0]
    a, b = predicted.autoscaling, reactive.autoscaling
    assert a is not None and b is not None and a.prediction is not None
    assert b.prediction is None
    assert a.prediction.forecaster == "seasonal-naive"
    assert a.prediction.peak_chunks == {"L4/gpu/1": 3}
    assert a.prediction.buffer_gpu_hours > 0
    assert a.billed_total > b.billed_total


def test_a_seasonal_forecast_provisions_before_the_burst_in_karpenter_mode(
    catalog: Catalog,
) -> None:
    reactive = run(catalog, config_text("karpenter", ""))
    predicted = run(catalog, config_text("karpenter", PREDICTOR))
    # Reactive: a NodeClaim launches once the 1 s window closes, a second one for the pod
    # that does not fit the first 5 s later.
    assert waits(reactive)[9:] == [191.0, 176.0, 171.0]
    assert waits(predicted)[9] == 0.0
    a, b = predicted.autoscaling, reactive.autoscaling
    assert a is not None and b is not None and a.prediction is not None
    assert a.prediction.peak_chunks == {"L4/gpu/1": 3}
    assert a.billed_total > b.billed_total
    # Only empty nodes leave in the reactive run: consolidation never deletes a node for
    # its pods to wait on one still starting (each burst gets its nodes once).
    assert set(b.disrupted_by_method) == {"Emptiness"}
    assert b.evicted_pods == 0
    assert b.scale_ups == 8


# The oracle, and chunks as big as the class's pods


def run_pods(
    catalog: Catalog, text: str, pods: list[tuple[int, float, float | None]], **kw: bool
) -> ReplayResult:
    config = parse_autoscaling_text(text, "autoscaling.yaml", catalog=catalog)
    timed = tuple(
        TimedPod(TracePod(f"p{index}", 1000, 1024, gpus, 1000), arrival, duration)
        for index, (gpus, arrival, duration) in enumerate(pods)
    )
    trace = ReplayTrace("pods", (), timed, GpuModels({"L4": catalog.gpu("l4")}), source="p.csv")
    autoscaling = ReplayAutoscaling(config, catalog, **kw)
    return replay(trace, "fgd", 1, ReplayOptions(autoscaling=autoscaling))


def test_the_oracle_holds_each_burst_s_nodes_before_it_comes(catalog: Catalog) -> None:
    oracle = run(catalog, config_text("cluster-autoscaler", "predictor: {forecaster: oracle}\n"))
    reactive = run(catalog, config_text("cluster-autoscaler", ""))
    # The first burst comes at the start, before any node could (the oracle asks no later
    # than the reactive scaler); every later one finds its nodes up (requested the lead time
    # plus a step before), with no history needed.
    assert all(o <= r for o, r in zip(waits(oracle)[:3], waits(reactive)[:3], strict=True))
    assert min(waits(oracle)[:3]) > 0
    assert waits(oracle)[3:] == [0.0] * 9
    a, b = oracle.autoscaling, reactive.autoscaling
    assert a is not None and b is not None and a.prediction is not None
    assert a.prediction.forecaster == "oracle"
    assert a.prediction.forecast_mae == {"L4/gpu/1": None}
    assert b.billed_total < a.billed_total


# Two pods that never end hold one GPU on each of two nodes (a third pod fills the first node
# while the second arrives); then a 2-GPU pod every hour for 20 min.
SCATTERED = [(1, 0.0, None), (1, 0.0, 1200.0), (1, 300.0, None)] + [
    (2, 3600.0 * hour, 1200.0) for hour in range(1, 5)
]
SEASONAL = "predictor: {forecaster: seasonal-naive, period: 1h, step: 300, chunk: CHUNK}\n"


def test_chunks_of_the_class_p90_pod_make_room_a_2_gpu_pod_can_use(catalog: Catalog) -> None:
    text = config_text("cluster-autoscaler", SEASONAL).replace("max: 3", "max: 4")
    sized = run_pods(catalog, text.replace("CHUNK", "p90"), SCATTERED)
    single = run_pods(catalog, text.replace("CHUNK", "1"), SCATTERED)
    # One-GPU chunks sit in the GPU left free on each of the two nodes: no node comes, and
    # the 2-GPU pods from 2 h on wait as without a predictor; 2-GPU chunks need a free node.
    assert [p.start - p.arrival for p in single.pods[4:] if p.start is not None] == [190.0] * 3
    assert [p.start - p.arrival for p in sized.pods[4:] if p.start is not None] == [0.0] * 3
    a, b = sized.autoscaling, single.autoscaling
    assert a is not None and b is not None and a.prediction and b.prediction
    assert a.prediction.chunk_gpus == {"L4/gpu/1": 2}
    assert b.prediction.chunk_gpus == {"L4/gpu/1": 1}


def test_the_oracle_holds_each_burst_s_nodes_in_karpenter_mode_too(catalog: Catalog) -> None:
    # Batch pods: consolidation only of empty nodes (the default would move running pods).
    text = config_text("karpenter", "predictor: {forecaster: oracle}\n").replace(
        "shapes: [l4x2]}", "shapes: [l4x2], disruption: {consolidationPolicy: WhenEmpty}}"
    )
    oracle = run(catalog, text)
    assert waits(oracle)[3:] == [0.0] * 9
    summary = oracle.autoscaling
    assert summary is not None and summary.prediction is not None
    assert summary.prediction.forecaster == "oracle"
