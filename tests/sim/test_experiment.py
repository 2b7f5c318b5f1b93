"""One FGD-experiment run through the real scheduler, on a small cluster (every policy)."""

from __future__ import annotations

import pytest

from dralloc.scheduler.plugins.gpushare import MILLI
from dralloc.sim.experiment import POLICIES, run_fgd
from dralloc.sim.fgd import bucket
from dralloc.sim.traces import ArrivalTrace, TraceNode, TracePod
from dralloc.sim.traces.openb import openb_models

MODELS = openb_models()

NODES = (
    TraceNode("n-0", 32000, 131072, 2, "T4"),
    TraceNode("n-1", 64000, 262144, 8, "G2"),
    TraceNode("n-2", 16000, 65536, 1, "P100"),
)
SHAPES = [(4000, 1, 500), (8000, 1, 1000), (2000, 0, 0), (16000, 2, 1000), (1000, 1, 250)]
PODS = tuple(
    TracePod(f"p-{i:03d}", cpu, 4096, gpus, milli)
    for i, (cpu, gpus, milli) in enumerate(SHAPES * 4)
)
TRACE = ArrivalTrace("test:small", NODES, PODS, MODELS)


@pytest.mark.parametrize("policy", POLICIES)
def test_a_run_places_pods_through_the_scheduler_and_logs_every_arrival(policy: str) -> None:
    result = run_fgd(TRACE, policy, seed=42)
    log = result.log
    assert result.total_gpus == 11
    assert len(log.used_milli) == result.pods
    # Tuned to 130% of capacity, short of it by at most the largest pod (2 GPUs).
    assert 1.3 * 11 * MILLI - 2 * MILLI <= log.arrived_milli[-1] <= 1.3 * 11 * MILLI + MILLI
    assert all(u <= a for u, a in zip(log.used_milli, log.arrived_milli, strict=True))
    assert 0 < log.used_milli[-1] <= 11 * MILLI
    assert 0 < result.scheduled < result.pods


@pytest.mark.parametrize("policy", ["fgd", "random"])
def test_a_run_is_deterministic_for_a_seed(policy: str) -> None:
    first = run_fgd(TRACE, policy, seed=7)
    second = run_fgd(TRACE, policy, seed=7)
    assert first.log.used_milli == second.log.used_milli
    assert first.log.fragment_milli == second.log.fragment_milli


def test_an_unknown_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown policy 'tetris'"):
        run_fgd(TRACE, "tetris", seed=1)


@pytest.mark.parametrize("policy", POLICIES)
def test_remembered_node_verdicts_change_nothing_but_speed(policy: str) -> None:
    fast = run_fgd(TRACE, policy, seed=3)
    slow = run_fgd(TRACE, policy, seed=3, remember_verdicts=False)
    assert fast.log.used_milli == slow.log.used_milli
    assert fast.log.fragment_milli == slow.log.fragment_milli
    assert fast.final_nodes == slow.final_nodes


TWO_SINGLE_GPU_NODES = ArrivalTrace(
    "test:two",
    (TraceNode("a", 64000, 262144, 1, "T4"), TraceNode("b", 64000, 262144, 1, "T4")),
    tuple(TracePod(f"s-{i}", 1000, 1024, 1, 600) for i in range(4)),
    MODELS,
)


@pytest.mark.parametrize("policy", POLICIES)
def test_a_gpu_is_never_booked_beyond_its_capacity_when_verdicts_are_remembered(
    policy: str,
) -> None:
    # Two 600m pods never share a GPU: at most one per node, whatever was remembered.
    result = run_fgd(TWO_SINGLE_GPU_NODES, policy, seed=11)
    assert result.scheduled == 2
    assert result.log.used_milli[-1] == 1200


@pytest.mark.parametrize("policy", ["fgd", "bestfit"])
def test_the_gpus_unallocated_at_100_percent_are_split_by_model_as_the_curve_buckets_them(
    policy: str,
) -> None:
    result = run_fgd(TRACE, policy, seed=3)
    point = bucket(result.log, 11 * MILLI)[100]
    assert point is not None
    unallocated = result.unallocated_at_100
    assert set(unallocated) == {"T4", "G2", "P100"}
    assert all(0 <= unallocated[m] <= gpus for m, gpus in (("T4", 2), ("G2", 8), ("P100", 1)))
    # The models' shares add up to the curve's unallocated GPU at x = 100.
    assert sum(unallocated.values()) == pytest.approx(11 * (100 - point.alloc_ratio) / 100)
