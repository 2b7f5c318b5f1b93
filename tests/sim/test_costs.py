"""The cost of capacity: every provisioned GPU-hour charged, split into used, fragmented and
idle; USD per completed GPU-hour; the saving of one policy over another; the hourly cost of
the GPUs the FGD experiment leaves stranded; and the replay's GPU-hour integrals that feed
them, hand-computed on a one-GPU node."""

from __future__ import annotations

import pytest

from dralloc.sim.costs import (
    CapacityCost,
    CapacityHours,
    capacity_cost,
    saving,
    stranded_cost_per_hour,
)
from dralloc.sim.replay import replay
from dralloc.sim.traces import ReplayTrace, TimedPod, TraceNode, TracePod
from dralloc.sim.traces.openb import openb_models

OPENB = {"T4": "t4", "G2": "openb-g2"}
PRICES = {"t4": 0.5, "G2": 2.0}


def test_every_provisioned_gpu_hour_is_charged_at_its_models_price() -> None:
    hours = {"T4": CapacityHours(10.0, 4.0, 1.0), "G2": CapacityHours(8.0, 8.0, 0.0)}
    cost = capacity_cost(hours, OPENB, PRICES, completed_gpu_hours=10.0)
    assert (cost.used, cost.fragmented, cost.idle) == (4 * 0.5 + 8 * 2, 1 * 0.5, 5 * 0.5)
    assert cost.provisioned == pytest.approx(10 * 0.5 + 8 * 2)
    assert cost.per_completed_gpu_hour == pytest.approx(21 / 10)


def test_idle_is_what_is_neither_used_nor_fragmented_and_never_negative() -> None:
    assert CapacityHours(10.0, 6.0, 3.0).idle == pytest.approx(1.0)
    assert CapacityHours(10.0, 7.0, 3.0 + 1e-9).idle == 0.0


def test_a_model_without_a_price_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="'V100M16'"):
        capacity_cost({"V100M16": CapacityHours(1, 1, 0)}, OPENB, PRICES, 1.0)
    with pytest.raises(KeyError, match="'V100M16'"):
        stranded_cost_per_hour({"V100M16": 2.0}, OPENB, PRICES)


def test_the_saving_prices_the_best_policys_work_at_the_others_rate() -> None:
    best = CapacityCost(used=60, fragmented=10, idle=30, completed_gpu_hours=50)  # 2 USD/h
    other = CapacityCost(used=60, fragmented=30, idle=30, completed_gpu_hours=40)  # 3 USD/h
    assert saving(best, other) == pytest.approx((3 - 2) * 50)
    assert saving(best, best) == 0
    assert saving(best, CapacityCost(1, 0, 0, 0)) is None  # the other completed nothing


def test_stranded_capacity_costs_its_gpus_times_their_hourly_price() -> None:
    assert stranded_cost_per_hour({"T4": 3.5, "G2": 1.0}, OPENB, PRICES) == pytest.approx(
        3.5 * 0.5 + 2.0
    )


def test_a_replay_charges_the_node_from_the_first_arrival_to_the_end() -> None:
    # One T4 (one GPU): a whole-GPU pod arrives at 1 h and runs 2 h, a half-GPU pod arrives at
    # 3 h and runs 1 h. Charged window 1 h..4 h: 3 GPU-hours provisioned, 2.5 used, the
    # completed work the same 2.5; the free half GPU of the last hour is idle or fragmented.
    hour = 3600.0
    pods = (
        TimedPod(TracePod("whole", 1000, 1024, 1, 1000), 1 * hour, 2 * hour),
        TimedPod(TracePod("half", 1000, 1024, 1, 500), 3 * hour, 1 * hour),
    )
    node = TraceNode("t4-0", 16000, 65536, 1, "T4")
    trace = ReplayTrace("test", (node,), pods, openb_models(), source="test.csv")
    result = replay(trace, "bestfit", seed=1)
    assert result.capacity_gpu_hours == {"T4": pytest.approx(3.0)}
    assert result.gpu_hours == {"T4": pytest.approx(2.5)}
    assert result.completed_gpu_hours() == pytest.approx(2.5)
    fragmented = result.fragmented_gpu_hours["T4"]
    assert 0 <= fragmented <= 0.5 + 1e-9
    split = CapacityHours(3.0, 2.5, fragmented)
    cost = capacity_cost({"T4": split}, OPENB, PRICES, result.completed_gpu_hours())
    assert cost.provisioned == pytest.approx(3.0 * 0.5)
    assert cost.per_completed_gpu_hour == pytest.approx(1.5 / 2.5)
