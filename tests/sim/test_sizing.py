"""The sizing question as runs (`dralloc.sim.sizing`): a fleet is a static replay equal to the
same fleet written by hand, pods that never start make the p95 infinite, the search over two
shapes picks the cheapest fleet meeting the target and replays each fleet once, counts are
bounded by a group's max or by the trace's peak demand, a group's capacity type sets the
price, and a shape without that price is refused naming the field.

The search's own steps (the answer's neighbours after the bisection, the budget) run on
fake evaluators whose waits are not monotone in the node count.

The trace: 16 fractional and whole L4 pods over ~25 min (`synthetic`, each replay well under
a second); shapes are L4 nodes with 2 GPUs ($2/h) or 4 GPUs ($3.5/h)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import pytest
from autoscalekit import autoscaling_text, group, load, pool, shape, sizing

from dralloc.autoscaling.config import CapacityType
from dralloc.autoscaling.prediction.sizing import Evaluation, FleetCounts
from dralloc.devices import load_catalog
from dralloc.devices.catalog import Catalog
from dralloc.errors import InputError
from dralloc.sim.replay import ReplayOptions, replay
from dralloc.sim.replay.autoscaled import ReplayAutoscaling
from dralloc.sim.replay.results import percentile
from dralloc.sim.sizing import (
    FleetRun,
    SizingQuestion,
    counted,
    describe_fleet,
    evaluate_fleet,
    p95_with_never,
    search_fleets,
    size,
    sizing_question,
)
from dralloc.sim.traces.synthetic import generate
from dralloc.sim.traces.timeline import ReplayTrace

TRACE = "synthetic:pods=16,rate=0.01,median=900,sigma=0.5,multi=0,models=l4,nodes=2,gpus=2,seed=3"


def config_text(
    groups: Sequence[str] = (group("l4x2", "l4x2", min_size=1, max_size=6),),
    shapes: Sequence[str] | None = None,
    l4x4_price: str = "{onDemand: 3.5}",
) -> str:
    return autoscaling_text(
        shapes=[
            shape("l4x2", price="{onDemand: 2.0, spot: 0.8}", provisioning=None),
            shape("l4x4", gpus=4, price=l4x4_price, provisioning=None),
        ],
        groups=groups,
        sizing=sizing("600s", shapes=shapes),
    )


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="module")
def trace() -> ReplayTrace:
    return generate(TRACE)


def question(trace: ReplayTrace, catalog: Catalog, text: str | None = None) -> SizingQuestion:
    return sizing_question(trace, load(text or config_text(), catalog), catalog)


def test_p95_counts_pods_that_never_start_as_waiting_forever() -> None:
    waits = [float(w) for w in range(100)]
    assert p95_with_never(waits, 0) == percentile(waits, 95)
    # One pod of 100 never starts: it sits above the 95th percentile.
    assert p95_with_never(waits[:99], 1) == percentile([*waits[:99], 1e9], 95)
    # One of 20: the 95th percentile falls between the last start and forever.
    assert math.isinf(p95_with_never(waits[:19], 1))
    assert p95_with_never([], 0) == 0.0


def test_a_fleet_leaving_a_pod_unstarted_never_meets_the_target() -> None:
    # 1 pod of 100 never starts: the p95 stays short, but the fleet cannot run that pod.
    run = FleetRun((("l4x4", 7),), 154.0, 437.0, 100, 1, 0.0)
    assert not run.meets(600) and math.isinf(run.effective_wait)
    assert FleetRun((("l4x4", 8),), 176.0, 39.0, 100, 0, 0.0).meets(600)


def test_a_fleet_is_the_static_replay_of_the_same_nodes_written_by_hand(
    trace: ReplayTrace, catalog: Catalog
) -> None:
    asked = question(trace, catalog)
    run = evaluate_fleet(asked, (("l4x2", 1), ("l4x4", 1)))
    by_hand = load(
        config_text(
            [
                group("l4x2", "l4x2", min_size=1, max_size=1),
                group("l4x4", "l4x4", min_size=1, max_size=1),
            ]
        ),
        catalog,
    )
    result = replay(trace, "fgd", 1, ReplayOptions(autoscaling=ReplayAutoscaling(by_hand, catalog)))
    assert run.wait_p95 == percentile(sorted(result.waiting_times()), 95)
    assert (run.pods, run.never_started, run.price_per_hour) == (16, 0, 5.5)
    assert run.wait_p95 > 600  # two nodes are not enough for this trace
    assert result.autoscaling is not None
    assert run.billed_usd == pytest.approx(result.autoscaling.billed_total)


def test_the_search_picks_the_cheapest_fleet_meeting_the_target(
    trace: ReplayTrace, catalog: Catalog
) -> None:
    seen: list[FleetRun] = []
    answer = size(question(trace, catalog), lambda number, run, _: seen.append(run))
    assert answer.chosen is not None
    # Two 4-GPU nodes ($7/h) beat four 2-GPU ones ($8/h) and 2 + 1 ($7.50/h).
    assert describe_fleet(answer.chosen.fleet) == "2 x l4x4"
    assert answer.sentence() == (
        "2 x l4x4 at $5,110/month ($7.00/h) meets p95 wait <= 600 s (p95 wait 0 s)"
    )
    meeting = [run for run in answer.runs if run.meets(600)]
    assert answer.chosen.price_per_hour == min(run.price_per_hour for run in meeting)
    # Every fleet is replayed once, and reported in the order it ran.
    assert [run.fleet for run in seen] == [run.fleet for run in answer.runs]
    assert len({run.fleet for run in seen}) == len(seen)
    # The frontier: no fleet replayed is both cheaper and waits less than one of its points.
    assert answer.chosen in answer.frontier
    for point in answer.frontier:
        assert not any(
            r.price_per_hour <= point.price_per_hour
            and r.wait_p95 <= point.wait_p95
            and (r.price_per_hour, r.wait_p95) != (point.price_per_hour, point.wait_p95)
            for r in answer.runs
        )
    assert [r.price_per_hour for r in answer.frontier] == sorted(
        r.price_per_hour for r in answer.frontier
    )


def test_counts_are_bounded_by_the_group_max_or_the_trace_peak(
    trace: ReplayTrace, catalog: Catalog
) -> None:
    asked = question(trace, catalog)
    peak = max(
        sum(
            t.pod.gpu_milli_total
            for t in trace.pods
            if t.arrival <= moment.arrival < t.arrival + (t.duration or math.inf)
        )
        for moment in trace.pods
    )
    # l4x2 has a group (max 6); l4x4 has none: twice the nodes the peak demand fills.
    assert asked.max_nodes == {"l4x2": 6, "l4x4": 2 * math.ceil(peak / 4000)}
    assert asked.capacity_types == {"l4x2": CapacityType.ON_DEMAND, "l4x4": CapacityType.ON_DEMAND}


def test_a_groups_capacity_type_prices_its_shape_and_sizing_shapes_narrow_the_search(
    trace: ReplayTrace, catalog: Catalog
) -> None:
    text = config_text(
        [group("cheap", "l4x2", min_size=0, max_size=4, capacity_type="spot")], shapes=["l4x2"]
    )
    asked = question(trace, catalog, text)
    assert (asked.shapes, asked.prices, asked.max_nodes) == (("l4x2",), {"l4x2": 0.8}, {"l4x2": 4})


def test_a_shape_without_an_on_demand_price_or_a_group_is_refused_naming_it(
    trace: ReplayTrace, catalog: Catalog
) -> None:
    # Without a node group of l4x4 its fleets are bought on demand, at a price it lacks.
    with pytest.raises(InputError) as caught:
        question(trace, catalog, config_text(l4x4_price="{spot: 1.0}"))
    assert [str(p) for p in caught.value.problems] == [
        "fleet.yaml: Autoscaling: shapes[1].price: shape l4x4 has no on-demand price: sizing "
        "prices a fleet of it as on-demand"
    ]


def fake(
    meets: set[int], price: float = 1.0
) -> tuple[list[FleetCounts], Callable[..., Evaluation]]:
    """A one-shape evaluator whose wait is not monotone in the count: `meets` wait 0 s, the
    rest 900 s; it records the fleets it ran, in order."""
    ran: list[FleetCounts] = []

    def evaluate(fleet: FleetCounts) -> Evaluation:
        ran.append(fleet)
        (_, n), *_ = fleet
        return Evaluation(price * n, 0.0 if n in meets else 900.0)

    return ran, evaluate


def test_the_answers_neighbours_catch_a_smaller_fleet_the_bisection_stepped_over() -> None:
    # 6 nodes meet, 7 miss, 8 and more meet: bisection over 1..10 settles on 8.
    ran, evaluate = fake({6, 8, 9, 10})
    search = search_fleets({"a": 10}, evaluate, 600.0)
    assert [dict(f)["a"] for f in ran] == [10, 5, 8, 7, 6]
    # 7 was replayed by the bisection, 6 by the check.
    assert (search.replayed, search.seen, search.skipped) == (((("a", 6),),), ((("a", 7),),), ())
    assert search.result.chosen is not None and search.result.chosen.config == (("a", 6),)
    assert not search.cut
    # Monotone waits: the neighbours miss, the bisection's answer stands, each fleet ran once.
    ran, evaluate = fake({4, 5, 6, 7, 8})
    search = search_fleets({"a": 8}, evaluate, 600.0)
    assert search.result.chosen is not None and search.result.chosen.config == (("a", 4),)
    # Bisection over 1..8 ran 8, 4, 2, 3: both neighbours already, none replayed again.
    assert (search.replayed, search.seen) == ((), ((("a", 3),), (("a", 2),)))
    assert len(ran) == len(set(ran))


def test_the_neighbours_of_each_shape_are_checked_within_the_budget() -> None:
    def evaluate(fleet: FleetCounts) -> Evaluation:
        a, b = dict(fleet)["a"], dict(fleet)["b"]
        return Evaluation(10 * a + 6 * b, 0.0 if 8 * a + 4 * b >= 20 else 900.0)

    search = search_fleets({"a": 4, "b": 4}, evaluate, 600.0)
    result = search.result
    assert result.chosen is not None and result.chosen.config == (("a", 2), ("b", 1))
    # a: one and two fewer (0 x a + 1 x b is still a fleet); b: one fewer (two: below 0).
    neighbours = ((("a", 1), ("b", 1)), (("a", 0), ("b", 1)), (("a", 2), ("b", 0)))
    assert set(search.replayed + search.seen) == set(neighbours)
    assert (search.skipped, search.cut) == ((), False)
    runs = len(result.evaluated)
    static = runs - len(search.replayed)
    # One replay short of the check: its last neighbour is skipped, the search was not cut.
    capped = search_fleets({"a": 4, "b": 4}, evaluate, 600.0, budget=runs - 1)
    assert len(capped.result.evaluated) == runs - 1 and capped.result.exhausted
    assert (capped.skipped, capped.cut) == (search.replayed[-1:], False)
    assert capped.replayed == search.replayed[:-1]
    # One short of the search itself: it is cut, with the same runs as a budget that stops
    # quietly, and no neighbour is replayed.
    cut = search_fleets({"a": 4, "b": 4}, evaluate, 600.0, budget=static - 1)
    assert cut.cut and cut.replayed == ()
    assert [s.config for s in cut.result.evaluated] == [
        s.config for s in result.evaluated[: static - 1]
    ]
    # Exactly the search's own runs: not cut, every new neighbour skipped.
    full = search_fleets({"a": 4, "b": 4}, evaluate, 600.0, budget=static)
    assert (full.cut, full.replayed, full.skipped) == (False, (), search.replayed)


def test_a_karpenter_files_nodepool_limits_bound_its_shapes(
    trace: ReplayTrace, catalog: Catalog
) -> None:
    text = autoscaling_text(
        "karpenter",
        shapes=[
            shape("l4x2", provisioning=None),
            shape("l4x4", gpus=4, price="{onDemand: 3.5}", provisioning=None),
        ],
        pools=[
            pool("small", ["l4x2", "l4x4"], limits='{nvidia.com/gpu: "9"}'),
            pool("few", ["l4x4"], limits="{nodes: 2}"),
        ],
        sizing=sizing("600s"),
    )
    asked = question(trace, catalog, text)
    # 9 GPUs: 4 nodes of 2 GPUs, or 2 of 4 (plus 2 more nodes of l4x4 in the second pool).
    assert asked.max_nodes == {"l4x2": 4, "l4x4": 4}


def test_counts_agree_with_their_nouns() -> None:
    assert [counted(n, "fleet") for n in (0, 1, 2)] == ["0 fleets", "1 fleet", "2 fleets"]
