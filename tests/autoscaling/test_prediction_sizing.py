"""The sizing search (spec/autoscaling.md §9.6) over synthetic evaluators: bisection finds the
exact smallest fleet, the mix grid finds a cheaper mixed fleet than any single shape, sweeps over
a convex cost pick its cheapest feasible point, the frontier keeps exactly the undominated
points, and no configuration runs twice or past the budget."""

from __future__ import annotations

import math
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from dralloc.autoscaling.prediction import (
    Evaluation,
    FleetCounts,
    Sized,
    choose,
    pareto_frontier,
    size_static,
    smallest_meeting,
    sweep,
)

# Two synthetic shapes: "a" holds 8 GPUs at 10 per hour, "b" 4 GPUs at 6 per hour. The p95 wait
# falls as GPUs are added (convex in the GPU count), 6 s at 90 GPUs, 0 at 100.
GPUS = {"a": 8, "b": 4}
PRICE = {"a": 10.0, "b": 6.0}


def synthetic(fleet: FleetCounts) -> Evaluation:
    gpus = sum(GPUS[s] * n for s, n in fleet)
    return Evaluation(
        cost=sum(PRICE[s] * n for s, n in fleet), wait_p95=0.06 * max(0, 100 - gpus) ** 2
    )


@settings(max_examples=60, deadline=None)
@given(threshold=st.integers(1, 64), high=st.integers(1, 64))
def test_bisection_finds_the_exact_smallest_count_meeting_the_target(
    threshold: int, high: int
) -> None:
    calls: list[int] = []

    def run(n: int) -> Evaluation:
        calls.append(n)
        return Evaluation(cost=n, wait_p95=0.0 if n >= threshold else 900.0)

    found = smallest_meeting(run, 1, high, wait_p95=600.0)
    assert found == (threshold if threshold <= high else None)
    assert len(calls) <= math.ceil(math.log2(high)) + 2


def test_the_static_search_finds_a_mixed_fleet_cheaper_than_either_shape_alone() -> None:
    calls: Counter[FleetCounts] = Counter()

    def run(fleet: FleetCounts) -> Evaluation:
        calls[fleet] += 1
        return synthetic(fleet)

    result = size_static({"a": 20, "b": 30}, run, wait_p95=6.0)  # 6 s: at least 90 GPUs
    # Alone: 12 x a (96 GPUs, 120) or 23 x b (92 GPUs, 138); the cheapest of all fleets with 90
    # GPUs is 11 a + 1 b (92 GPUs, 116), which the grid and the descent find.
    brute = min(
        (PRICE["a"] * a + PRICE["b"] * b, a, b)
        for a in range(21)
        for b in range(31)
        if 8 * a + 4 * b >= 90
    )
    assert brute == (116.0, 11, 1)
    assert result.chosen is not None
    assert result.chosen.config == (("a", 11), ("b", 1))
    assert result.chosen.evaluation == Evaluation(116.0, 0.06 * 8**2)
    assert (("a", 12), ("b", 0)) in dict(
        (p.config, p) for p in result.evaluated
    )  # the single-shape bisection ran
    assert max(calls.values()) == 1  # each fleet runs once
    assert len(result.evaluated) <= 50 and not result.exhausted


def test_the_budget_stops_the_search_and_says_so() -> None:
    result = size_static({"a": 1000, "b": 1000}, synthetic, wait_p95=6.0, budget=5)
    assert len(result.evaluated) == 5 and result.exhausted


def test_a_target_no_fleet_meets_chooses_nothing_but_keeps_the_frontier() -> None:
    result = size_static({"a": 2, "b": 2}, synthetic, wait_p95=0.0)
    assert result.chosen is None
    assert result.frontier  # the cost-versus-wait trade-off is still reported


def test_a_sweep_over_a_convex_cost_picks_its_cheapest_point_meeting_the_target() -> None:
    # A predictor's q: waiting falls as q rises; cost is convex in q with its minimum at 0.8
    # (too low a q waits and pays for late scale-ups, too high keeps idle nodes).
    quantiles = [0.5, 0.6, 0.7, 0.8, 0.9, 0.95]

    def run(q: float) -> Evaluation:
        return Evaluation(cost=100 + 400 * (q - 0.8) ** 2, wait_p95=1200 * (1 - q))

    result = sweep(quantiles, run, wait_p95=400.0)  # q >= 2/3
    assert result.chosen is not None and result.chosen.config == 0.8
    # Frontier: from the cheapest (0.8) to the shortest wait (0.95); 0.7 costs more than 0.8 and
    # waits longer, so it is dominated.
    assert [p.config for p in result.frontier] == [0.8, 0.9, 0.95]
    assert sweep(quantiles, run, wait_p95=400.0, budget=2).evaluated == tuple(
        Sized(q, run(q)) for q in quantiles[:2]
    )


def test_the_frontier_keeps_every_undominated_point_and_ties_choose_the_shorter_wait() -> None:
    points = [
        Sized("cheap-slow", Evaluation(10.0, 900.0)),
        Sized("mid", Evaluation(20.0, 300.0)),
        Sized("dominated", Evaluation(25.0, 300.0)),
        Sized("same-cost-faster", Evaluation(20.0, 200.0)),
        Sized("fast", Evaluation(50.0, 0.0)),
        Sized("fast-twin", Evaluation(50.0, 0.0)),
    ]
    assert [p.config for p in pareto_frontier(points)] == [
        "cheap-slow", "same-cost-faster", "fast", "fast-twin"
    ]  # fmt: skip
    chosen = choose(points, wait_p95=600.0)
    assert chosen is not None and chosen.config == "same-cost-faster"
    assert choose(points, wait_p95=-1.0) is None
