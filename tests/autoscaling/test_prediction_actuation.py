"""From forecasts to capacity (spec/autoscaling.md §9.3-9.5): the managed buffer per class adds
capacity only and obeys its guards, warm pools skip the phases they should and cost what they
should, and the oracle's fleet is the one that knows every arrival, all by hand."""

from __future__ import annotations

import random

import pytest

from dralloc.autoscaling import ChunkStatistic, FixedDelay, Predictor, Provisioning, UniformDelay
from dralloc.autoscaling.prediction import (
    BufferTarget,
    CapReason,
    ClassState,
    DemandClass,
    DemandRecord,
    Forecast,
    Guards,
    Representative,
    WarmPool,
    WarmState,
    buffer_gpu_hours,
    buffer_targets,
    chunk_gpus,
    held_nodes,
    node_steps,
    nodes_needed,
    oracle_fleet,
    peak_demand,
    refills,
    share_of_oracle,
    wanted_chunks,
)

WHOLE = DemandClass("H100", "gpu", "8")
SLICE = DemandClass("H100", "3g.40gb", "1")
L4 = DemandClass("L4", "gpu", "1")
PODS = {
    WHOLE: Representative(shape="h100", amount=8.0, per_node=1, gpus=8.0),
    SLICE: Representative(shape="h100", amount=1.0, per_node=16, gpus=3 / 7),
    L4: Representative(shape="l4", amount=1.0, per_node=2, gpus=1.0),
}
NO_GUARDS = Guards(max_warm_nodes={})


# §9.3 actuation


def test_the_buffer_covers_the_forecast_quantile_beyond_the_demand_present() -> None:
    forecasts = {WHOLE: Forecast(point=20.0, upper=30.0), SLICE: Forecast(3.0, 5.0)}
    states = {WHOLE: ClassState(demand=16.0, free=0.0, upcoming=8.0), SLICE: ClassState(5.0)}
    targets = buffer_targets(forecasts, states, PODS, NO_GUARDS, step=300.0)
    # Sorted by class: ("H100", "3g.40gb") before ("H100", "gpu").
    assert targets == [
        BufferTarget("predictor-h100-3g.40gb-1", SLICE, wanted=0, chunks=0, new_room=0.0),
        # (30 - 16) / 8 -> 2 chunks of 8 GPUs; 8 of the 14 are upcoming: 6 more make nodes.
        BufferTarget("predictor-h100-gpu-8", WHOLE, wanted=2, chunks=2, new_room=6.0),
    ]


def test_a_falling_or_missing_forecast_empties_the_buffer_and_never_goes_negative() -> None:
    assert wanted_chunks(Forecast(1.0, 2.0), ClassState(demand=40.0), amount=8.0) == 0
    assert wanted_chunks(None, ClassState(demand=0.0), amount=8.0) == 0
    # Exactly on a chunk boundary stays there despite float sums.
    assert wanted_chunks(Forecast(0.0, 0.1 + 0.2 + 7.7), ClassState(0.0), amount=8.0) == 1
    (target,) = buffer_targets({L4: None}, {}, PODS, NO_GUARDS, step=300.0)
    assert (target.wanted, target.chunks, target.new_room) == (0, 0, 0.0)


def test_max_warm_nodes_is_shared_by_the_classes_of_a_shape_in_class_order() -> None:
    forecasts = {WHOLE: Forecast(0.0, 24.0), SLICE: Forecast(0.0, 20.0), L4: Forecast(0.0, 9.0)}
    guards = Guards(max_warm_nodes={"h100": 3, "l4": 10})
    targets = {t.demand_class: t for t in buffer_targets(forecasts, {}, PODS, guards, 300.0)}
    # SLICE first: 20 slices at 16 per node -> 2 nodes, leaving 1 node: WHOLE 3 -> 1 chunk.
    assert (targets[SLICE].chunks, targets[SLICE].capped_by) == (20, ())
    assert (targets[WHOLE].wanted, targets[WHOLE].chunks) == (3, 1)
    assert targets[WHOLE].capped_by == (CapReason.MAX_WARM_NODES,)
    assert (targets[L4].chunks, targets[L4].capped_by) == (9, ())  # 5 nodes <= 10


def test_the_daily_gpu_hour_budget_caps_the_buffers_and_counts_what_they_hold() -> None:
    forecasts = {WHOLE: Forecast(0.0, 40.0)}  # 5 chunks of 8 GPUs: 40 GPU x 0.5 h = 20 GPU-h
    guards = Guards(max_warm_nodes={}, max_warm_gpu_hours_per_day=30.0)
    (fresh,) = buffer_targets(forecasts, {}, PODS, guards, step=1800.0)
    assert (fresh.chunks, fresh.capped_by) == (5, ())
    assert buffer_gpu_hours([fresh], PODS, step=1800.0) == 20.0
    # With 18 GPU-hours already spent today, 12 remain: 3 chunks (12 GPU-h).
    (late,) = buffer_targets(forecasts, {}, PODS, guards, 1800.0, gpu_hours_spent_today=18.0)
    assert (late.wanted, late.chunks, late.capped_by) == (5, 3, (CapReason.GPU_HOURS_PER_DAY,))
    (spent,) = buffer_targets(forecasts, {}, PODS, guards, 1800.0, gpu_hours_spent_today=31.0)
    assert spent.chunks == 0


def test_forecast_only_reports_the_target_and_actuates_nothing() -> None:
    guards = Guards.of(Predictor(forecast_only=True, max_warm_nodes={"h100": 1}))
    (target,) = buffer_targets({WHOLE: Forecast(0.0, 24.0)}, {}, PODS, guards, step=300.0)
    assert (target.wanted, target.chunks, target.new_room) == (3, 0, 24.0)
    assert target.capped_by == (CapReason.MAX_WARM_NODES, CapReason.FORECAST_ONLY)
    with pytest.raises(ValueError, match="representative"):
        Representative("h100", amount=0.0, per_node=1, gpus=1.0)


# §9.4 warm pools


def test_a_stopped_warm_node_skips_launch_and_register_and_costs_two_percent() -> None:
    delays = Provisioning(
        launch=FixedDelay(90.0), register=FixedDelay(30.0), ready=FixedDelay(60.0)
    )  # devices: 240 s by default
    stopped = WarmPool("h100", min_size=2)
    running = WarmPool("h100", min_size=2, state=WarmState.RUNNING)
    assert stopped.start_delay(delays, random.Random(1)) == 300.0
    assert running.start_delay(delays, random.Random(1)) == 0.0
    assert stopped.waiting_price(98.32) == pytest.approx(1.9664)
    assert WarmPool("h100", 1, stopped_price=0.5).waiting_price(98.32) == 0.5
    assert running.waiting_price(98.32) == 98.32
    with pytest.raises(ValueError, match="minSize"):
        WarmPool("h100", min_size=-1)


def test_taking_a_warm_node_draws_as_many_values_whatever_its_state() -> None:
    delays = Provisioning(launch=UniformDelay(60.0, 120.0), devices=UniformDelay(200.0, 300.0))
    streams = []
    for state in WarmState:
        rng = random.Random(9)
        WarmPool("h100", 1, state).start_delay(delays, rng)
        streams.append(rng.random())
    assert streams[0] == streams[1]


def test_a_pool_refills_to_its_minimum_counting_nodes_on_their_way() -> None:
    pool = WarmPool("h100", min_size=4)
    assert refills(pool, waiting=1, launching=1) == 2
    assert refills(pool, waiting=5, launching=0) == 0


# §9.5 the oracle


def test_the_oracle_requests_each_node_a_lead_time_before_its_first_pod() -> None:
    # Nodes needed per step (lead 2 steps):   0 1 2 3 4 5 6 7 8 9
    needed = [1, 1, 0, 2, 2, 1, 0, 0, 0, 1]
    spans = [(s.index, s.request, s.usable, s.release) for s in oracle_fleet(needed, lead=2)]
    assert spans == [
        (0, 0, 0, 6),  # there from the start; the 1-step gap at 2 is kept (<= lead)
        (0, 7, 9, 10),  # gone for 3 steps > lead: released at 6, requested again at 7
        (1, 1, 3, 5),  # the second node: needed at 3 and 4
    ]
    assert node_steps(oracle_fleet(needed, lead=2)) == 6 + 3 + 4
    # A longer lead keeps node 0 through the 3-step gap instead.
    assert [(s.request, s.release) for s in oracle_fleet(needed, lead=3) if s.index == 0] == [
        (0, 10)
    ]
    assert oracle_fleet([0, 0], lead=2) == []
    with pytest.raises(ValueError, match="lead"):
        oracle_fleet(needed, lead=-1)


def test_the_oracle_sizes_nodes_from_demand_and_shares_savings() -> None:
    assert nodes_needed([0.0, 7.9, 8.0, 8.1, 0.1 + 0.2 + 15.7], per_node=8) == [0, 1, 1, 2, 2]
    assert share_of_oracle(10.0, 40.0) == 0.25
    assert share_of_oracle(10.0, 0.0) is None


def test_the_oracle_needs_the_peak_of_each_step_and_holds_nodes_from_their_request() -> None:
    a = DemandClass("A100")
    records = [
        DemandRecord(a, 0.0, 8.0, end=100.0),
        DemandRecord(a, 50.0, 4.0, end=350.0),  # overlaps the first: 12 at once in step 0
        DemandRecord(a, 100.0, 2.0, end=120.0),  # starts as the first ends: never 14
        DemandRecord(a, 1000.0, 1.0),  # never ends
    ]
    peaks = peak_demand(records, 300.0, 5)
    assert peaks == {a: [12.0, 4.0, 0.0, 1.0, 1.0]}
    needed = nodes_needed(peaks[a], per_node=8)
    assert needed == [2, 1, 0, 1, 1]
    # Node 0 is kept through the one-step gap (shorter than the lead); node 1 is released.
    assert held_nodes(oracle_fleet(needed, lead=2), 5) == [2, 1, 1, 1, 1]
    assert peak_demand([], 300.0, 3) == {}
    with pytest.raises(ValueError, match="step"):
        peak_demand(records, 0.0, 3)


def test_a_chunk_is_as_big_as_the_class_pods_and_never_bigger_than_a_node() -> None:
    sizes = {1: 5, 2: 2, 8: 3}  # 10 pods: the 9th and 10th smallest ask 8 GPUs
    assert chunk_gpus(sizes, ChunkStatistic.P90, 8) == 8
    assert chunk_gpus(sizes, ChunkStatistic.MODE, 8) == 1
    assert chunk_gpus(sizes, ChunkStatistic.MAX, 4) == 4  # capped by the node
    assert chunk_gpus({1: 9, 8: 1}, ChunkStatistic.P90, 8) == 1
    assert chunk_gpus({1: 2, 4: 2}, ChunkStatistic.MODE, 8) == 4  # the larger on a tie
    assert chunk_gpus(sizes, 2, 8) == chunk_gpus({}, 2, 8) == 2
    assert chunk_gpus({}, ChunkStatistic.P90, 8) == 1
