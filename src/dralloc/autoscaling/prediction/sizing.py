"""The sizing search of spec/autoscaling.md §9.6: "how many nodes of which shape", the
cheapest fleet whose p95 wait meets a target, and the cost-versus-wait Pareto frontier of
every configuration tried. Pure search logic over an evaluator passed in (the replay of one
configuration, later), called at most once per distinct configuration.

* `static`: for each shape alone, bisect the node count for the smallest fleet meeting the wait
  target (a bigger static fleet never waits longer, which bisection relies on); then a grid of
  shape mixes between those single-shape fleets (weights in steps of 1/`resolution`, each shape
  at ⌈λ·w·n_shape⌉ nodes, with the smallest λ in steps of 1/`resolution` up to 2 that meets
  the target found by bisection), then a descent from the cheapest fleet found to cheaper
  neighbours (one node fewer, or one node traded for another shape's) that still meet the
  target; all within a budget of runs (50 by default, §9.6).
* autoscaled modes: `sweep` any list of configurations (group `max`, the predictor's q).

The chosen point is the cheapest evaluated configuration meeting the target (ties: the shorter
wait, then the first tried); the frontier holds every configuration no other beats on both cost
and p95 wait.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Config = TypeVar("Config", bound=Hashable)

DEFAULT_BUDGET = 50


@dataclass(frozen=True)
class Evaluation:
    """One configuration's outcome: `cost` (money over the run) and `wait_p95` (seconds)."""

    cost: float
    wait_p95: float


@dataclass(frozen=True)
class Sized(Generic[Config]):
    config: Config
    evaluation: Evaluation

    def meets(self, wait_p95: float) -> bool:
        return self.evaluation.wait_p95 <= wait_p95


@dataclass
class Runs(Generic[Config]):
    """The evaluator with memory and a budget: each distinct configuration runs once, in the
    order first asked; past the budget, `run` answers None instead of running."""

    evaluate: Callable[[Config], Evaluation]
    budget: int = DEFAULT_BUDGET
    done: dict[Config, Evaluation] = field(default_factory=dict)

    def run(self, config: Config) -> Evaluation | None:
        if config in self.done:
            return self.done[config]
        if len(self.done) >= self.budget:
            return None
        self.done[config] = self.evaluate(config)
        return self.done[config]

    @property
    def exhausted(self) -> bool:
        return len(self.done) >= self.budget


@dataclass(frozen=True)
class SizingResult(Generic[Config]):
    """Every configuration evaluated (in run order), the Pareto `frontier` sorted by cost, the
    `chosen` one (None: nothing met the target), and whether the budget cut the search."""

    evaluated: tuple[Sized[Config], ...]
    frontier: tuple[Sized[Config], ...]
    chosen: Sized[Config] | None
    exhausted: bool


def pareto_frontier(points: Sequence[Sized[Config]]) -> tuple[Sized[Config], ...]:
    """The points no other point beats on both cost and p95 wait (at least as good on both and
    better on one), sorted by cost then wait; equal points are all kept."""

    def beats(a: Evaluation, b: Evaluation) -> bool:
        return a.cost <= b.cost and a.wait_p95 <= b.wait_p95 and a != b

    kept = [p for p in points if not any(beats(q.evaluation, p.evaluation) for q in points)]
    return tuple(sorted(kept, key=lambda p: (p.evaluation.cost, p.evaluation.wait_p95)))


def choose(points: Sequence[Sized[Config]], wait_p95: float) -> Sized[Config] | None:
    """The cheapest point meeting the target; ties go to the shorter wait, then the first."""
    meeting = [p for p in points if p.meets(wait_p95)]
    if not meeting:
        return None
    return min(meeting, key=lambda p: (p.evaluation.cost, p.evaluation.wait_p95))


def result_of(runs: Runs[Config], wait_p95: float) -> SizingResult[Config]:
    evaluated = tuple(Sized(config, evaluation) for config, evaluation in runs.done.items())
    return SizingResult(
        evaluated, pareto_frontier(evaluated), choose(evaluated, wait_p95), runs.exhausted
    )


def smallest_meeting(
    run: Callable[[int], Evaluation | None], low: int, high: int, wait_p95: float
) -> int | None:
    """The smallest count n in [low, high] whose run meets the target, assuming a larger count
    never waits longer; None if `high` misses it (or the budget ran out first)."""
    top = run(high)
    if top is None or top.wait_p95 > wait_p95:
        return None
    while low < high:
        middle = (low + high) // 2
        outcome = run(middle)
        if outcome is None:
            return high
        if outcome.wait_p95 <= wait_p95:
            high = middle
        else:
            low = middle + 1
    return high


FleetCounts = tuple[tuple[str, int], ...]  # (shape, node count), in the shapes' order


def size_static(
    max_nodes: Mapping[str, int],
    evaluate: Callable[[FleetCounts], Evaluation],
    wait_p95: float,
    budget: int = DEFAULT_BUDGET,
    resolution: int = 4,
) -> SizingResult[FleetCounts]:
    """§9.6 for `static`: the cheapest fleet over the shapes of `max_nodes` (each up to its
    maximum) meeting `wait_p95`. A fleet lists every shape, zeros included.

    >>> def run(fleet):  # 8 GPUs per "a" node at 10/h, 4 per "b" node at 6/h, 20 GPUs needed
    ...     a, b = dict(fleet)["a"], dict(fleet)["b"]
    ...     return Evaluation(10 * a + 6 * b, 0 if 8 * a + 4 * b >= 20 else 900)
    >>> size_static({"a": 8, "b": 8}, run, wait_p95=600).chosen.config
    (('a', 2), ('b', 1))
    """
    shapes = list(max_nodes)
    runs: Runs[FleetCounts] = Runs(evaluate, budget)

    def fleet(counts: Mapping[str, int]) -> FleetCounts:
        return tuple((shape, counts.get(shape, 0)) for shape in shapes)

    enough: dict[str, int] = {}
    for shape in shapes:

        def alone(n: int, shape: str = shape) -> Evaluation | None:
            return runs.run(fleet({shape: n}))

        found = smallest_meeting(alone, 1, max_nodes[shape], wait_p95)
        enough[shape] = max_nodes[shape] if found is None else found
    if len(shapes) > 1:
        for weights in _simplex(len(shapes), resolution):

            def scaled(j: int, weights: tuple[float, ...] = weights) -> Evaluation | None:
                # λ = j / resolution times the mix of single-shape fleets, λ in (0, 2].
                counts = {
                    s: min(max_nodes[s], math.ceil(j / resolution * w * enough[s] - 1e-9))
                    for s, w in zip(shapes, weights, strict=True)
                }
                return runs.run(fleet(counts))

            smallest_meeting(scaled, 1, 2 * resolution, wait_p95)
    _descend(runs, shapes, max_nodes, wait_p95)
    return result_of(runs, wait_p95)


def _descend(
    runs: Runs[FleetCounts], shapes: list[str], max_nodes: Mapping[str, int], wait_p95: float
) -> None:
    """From the cheapest fleet meeting the target, move to a cheaper neighbour that still meets
    it (one node fewer, or one node of a shape traded for one of another) until none is; the
    grid is coarse, this finishes the last nodes. Stops with the budget."""
    best = choose(tuple(Sized(c, e) for c, e in runs.done.items()), wait_p95)
    while best is not None:
        counts = dict(best.config)
        neighbours = [{**counts, s: counts[s] - 1} for s in shapes if counts[s] > 0]
        neighbours += [
            {**counts, s: counts[s] - 1, t: counts[t] + 1}
            for s in shapes
            for t in shapes
            if s != t and counts[s] > 0 and counts[t] < max_nodes[t]
        ]
        better = None
        for neighbour in neighbours:
            config = tuple((shape, neighbour[shape]) for shape in shapes)
            outcome = runs.run(config)
            if outcome is None:
                return
            if outcome.wait_p95 <= wait_p95 and outcome.cost < best.evaluation.cost:
                better = Sized(config, outcome)
                break
        best = better


def _simplex(dimensions: int, resolution: int) -> list[tuple[float, ...]]:
    """Weights on a grid of step 1/resolution summing to 1, at least two shapes non-zero."""
    points = []
    for parts in itertools.product(range(resolution + 1), repeat=dimensions):
        if sum(parts) == resolution and sum(1 for p in parts if p) > 1:
            points.append(tuple(p / resolution for p in parts))
    return points


def sweep(
    configs: Sequence[Config],
    evaluate: Callable[[Config], Evaluation],
    wait_p95: float,
    budget: int = DEFAULT_BUDGET,
) -> SizingResult[Config]:
    """§9.6 for autoscaled modes: run each configuration (a group's `max`, a predictor's q,
    or both) within the budget and choose."""
    runs: Runs[Config] = Runs(evaluate, budget)
    for config in configs:
        if runs.run(config) is None:
            break
    return result_of(runs, wait_p95)
