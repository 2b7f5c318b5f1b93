"""`dralloc size`: which GPU nodes, how many, at what cost, for a trace and a waiting-time
target (spec/autoscaling.md §9.6, §11).

Owns turning the question into runs and the runs into an answer; the search itself is
`dralloc.autoscaling.prediction.sizing.size_static` (bisection per shape, a grid of shape
mixes, a descent to cheaper neighbours, within a budget of runs), and each run is one seeded
replay of the trace on a `static` fleet (`sim.replay`, `mode: static`: every node there
from the start, for the whole run). No I/O but `write_csv`: the caller loads the trace and the
file and says what to write.

* **The fleet.** The `kind: Autoscaling` file gives the shapes (devices, prices, delays); a
  fleet is a node count per searched shape (`sizing.shapes`, else every shape of the file),
  bought as the capacity type of the file's node group of that shape (on-demand when there is
  none). A shape's count goes up to that group's `max` when it is above 0; otherwise up to
  twice the nodes the trace's peak GPU demand fills (every pod running from its arrival for
  its duration, none ever waiting), at least 1.
* **The cost** of a fleet is its price per hour (nodes x the shape's price for the capacity
  type); per month is x 730 h. It is what the search minimizes: a static fleet is billed the
  same every hour, whatever the trace's length.
* **The wait.** A pod's wait runs from its arrival to its start; the p95 counts a pod that
  never starts (too big for the fleet's nodes, or still waiting when the trace is over) as
  waiting forever. A fleet **meets** the target when every pod starts and the p95 wait is at
  most the target: a fleet that can never run some pods (8-GPU pods on 4-GPU nodes) is no
  answer, however short the others' waits. The search reads such a fleet's wait as infinite.
* **The answer** is the cheapest fleet meeting `p95 wait <= target` (ties: the shorter wait),
  with the Pareto frontier of cost versus p95 wait over every fleet run.

    question = sizing_question(trace, config, catalog, wait_p95=600.0)
    answer = size(question)
    answer.sentence()   # '3 x l4x8 at $17,520/month ($24.00/h) meets p95 wait <= 600 s ...'
"""

from __future__ import annotations

import csv
import dataclasses
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from dralloc.autoscaling.config import (
    KIND,
    AutoscalingConfig,
    CapacityType,
    Mode,
    NodeGroup,
    Predictor,
)
from dralloc.autoscaling.prediction.sizing import (
    DEFAULT_BUDGET,
    Evaluation,
    FleetCounts,
    Sized,
    size_static,
)
from dralloc.devices.catalog import Catalog
from dralloc.errors import InputError, Problem
from dralloc.sim.replay import ReplayGangs, ReplayOptions, replay
from dralloc.sim.replay.autoscaled import ReplayAutoscaling, fleet_shapes
from dralloc.sim.traces.timeline import ReplayTrace

__all__ = [
    "HOURS_PER_MONTH",
    "FleetRun",
    "Replayed",
    "SizingAnswer",
    "SizingQuestion",
    "describe_fleet",
    "evaluate_fleet",
    "format_wait",
    "p95_with_never",
    "replay_fleet",
    "size",
    "sizing_question",
    "sizing_rows",
    "static_fleet_config",
    "write_csv",
]

HOURS_PER_MONTH = 730.0  # 365 days x 24 h / 12, the usual cloud-bill month
MILLI = 1000


@dataclass(frozen=True)
class SizingQuestion:
    """What `size` answers: the cheapest static fleet of `shapes` (each up to `max_nodes`,
    bought as `capacity_types`) under which `trace` replayed with `policy` and `seed` waits
    at most `wait_p95` seconds at the 95th percentile, in at most `budget` runs."""

    trace: ReplayTrace
    config: AutoscalingConfig
    catalog: Catalog
    wait_p95: float
    shapes: tuple[str, ...]
    max_nodes: Mapping[str, int]
    capacity_types: Mapping[str, CapacityType]
    prices: Mapping[str, float]  # per shape, USD per node-hour at its capacity type
    budget: int = DEFAULT_BUDGET
    policy: str = "fgd"
    seed: int = 1
    gangs: ReplayGangs | None = None

    def price_per_hour(self, fleet: FleetCounts) -> float:
        return sum(self.prices[shape] * count for shape, count in fleet)


@dataclass(frozen=True)
class FleetRun:
    """One fleet replayed: its price, the pods' p95 wait (inf: 5 % or more never started), how
    many pods there were and never started, and the USD the replay billed (launch to the end
    of the run)."""

    fleet: FleetCounts
    price_per_hour: float
    wait_p95: float
    pods: int
    never_started: int
    billed_usd: float

    @property
    def price_per_month(self) -> float:
        return self.price_per_hour * HOURS_PER_MONTH

    @property
    def nodes(self) -> int:
        return sum(count for _, count in self.fleet)

    @property
    def effective_wait(self) -> float:
        """The p95 wait the search and the frontier read: infinite when a pod never started
        (see the module docstring)."""
        return math.inf if self.never_started else self.wait_p95

    def meets(self, wait_p95: float) -> bool:
        return self.effective_wait <= wait_p95


@dataclass(frozen=True)
class SizingAnswer:
    """Every fleet run (in run order), the cost-versus-wait Pareto `frontier` (by cost), the
    `chosen` fleet (None: no fleet run met the target) and whether the budget cut the
    search short."""

    question: SizingQuestion
    runs: tuple[FleetRun, ...]
    frontier: tuple[FleetRun, ...]
    chosen: FleetRun | None
    exhausted: bool

    def sentence(self) -> str:
        """The answer in one line, first thing a user reads."""
        target = f"p95 wait <= {self.question.wait_p95:g} s"
        if self.chosen is not None:
            run = self.chosen
            return (
                f"{describe_fleet(run.fleet)} at ${run.price_per_month:,.0f}/month "
                f"(${run.price_per_hour:,.2f}/h) meets {target} "
                f"(p95 wait {format_wait(run.wait_p95)})"
            )
        limits = " + ".join(f"{self.question.max_nodes[s]} x {s}" for s in self.question.shapes)
        cut = " before the run budget ran out" if self.exhausted else ""
        best = min(
            self.runs,
            key=lambda r: (r.never_started, r.wait_p95, r.price_per_hour),
            default=None,
        )
        closest = ""
        if best is not None:
            unstarted = f", {best.never_started} pods never started" if best.never_started else ""
            closest = (
                f"; the closest was {describe_fleet(best.fleet)}: p95 wait "
                f"{format_wait(best.wait_p95)}{unstarted}"
            )
        return f"no fleet of up to {limits} found that meets {target}{cut}{closest}"


def describe_fleet(fleet: FleetCounts) -> str:
    """`2 x l4x8 + 1 x h100-mig`; shapes with no node left out; `no nodes` for none."""
    parts = [f"{count} x {shape}" for shape, count in fleet if count]
    return " + ".join(parts) if parts else "no nodes"


def format_wait(seconds: float) -> str:
    return "never (pods left unstarted)" if math.isinf(seconds) else f"{seconds:,.0f} s"


def sizing_question(
    trace: ReplayTrace,
    config: AutoscalingConfig,
    catalog: Catalog,
    *,
    wait_p95: float | None = None,
    budget: int | None = None,
    policy: str = "fgd",
    seed: int = 1,
    gangs: ReplayGangs | None = None,
) -> SizingQuestion:
    """The question for `trace` and the file `config`: `wait_p95` and `budget` default to the
    file's `sizing` section. InputError naming the file and field: no target anywhere, a
    searched shape the trace's pods cannot use or without a price for its capacity type."""
    obj = f"{KIND} {config.name}" if config.name else KIND
    problems: list[Problem] = []
    sizing = config.sizing
    target = wait_p95 if wait_p95 is not None else (sizing.wait_p95 if sizing else None)
    if target is None:
        problems.append(
            Problem(
                config.file,
                obj,
                "sizing.constraint.waitP95",
                "required: the p95 wait to meet (or pass --wait-p95 SECONDS)",
            )
        )
    shapes = tuple(sizing.shapes) if sizing else tuple(config.shapes)
    searched = {name: config.shapes[name] for name in shapes}
    searched_config = dataclasses.replace(config, shapes=searched)
    fleet_shapes(searched_config, catalog, trace.models)  # InputError naming the shape
    groups = {g.shape: g for g in config.node_groups}
    capacity_types: dict[str, CapacityType] = {}
    prices: dict[str, float] = {}
    max_nodes: dict[str, int] = {}
    templates = config.templates(catalog)
    peak = _peak_gpu_milli(trace)
    for name in shapes:
        shape = config.shapes[name]
        group = groups.get(name)
        capacity_type = group.capacity_type if group is not None else CapacityType.ON_DEMAND
        price = shape.price(capacity_type)
        if price is None:
            problems.append(
                Problem(
                    config.file,
                    obj,
                    f"{shape.path}.price" if shape.path else "price",
                    f"shape {name} has no {capacity_type} price: sizing prices a fleet of it "
                    f"as {capacity_type}",
                )
            )
            continue
        capacity_types[name] = capacity_type
        prices[name] = price
        if group is not None and group.max_size > 0:
            max_nodes[name] = group.max_size
        else:
            gpus = max(templates[name].accelerator_count(), 1)
            max_nodes[name] = max(1, 2 * math.ceil(peak / (gpus * MILLI)))
    if problems:
        raise InputError(problems)
    assert target is not None
    return SizingQuestion(
        trace=trace,
        config=config,
        catalog=catalog,
        wait_p95=target,
        shapes=shapes,
        max_nodes=max_nodes,
        capacity_types=capacity_types,
        prices=prices,
        budget=budget if budget is not None else (sizing.budget if sizing else DEFAULT_BUDGET),
        policy=policy,
        seed=seed,
        gangs=gangs,
    )


def _peak_gpu_milli(trace: ReplayTrace) -> int:
    """The most milli-GPU the trace's pods ask for at one instant, each running from its
    arrival for its duration (to the end of time without one)."""
    events: list[tuple[float, int]] = []
    for timed in trace.pods:
        milli = timed.pod.gpu_milli_total
        if not milli:
            continue
        events.append((timed.arrival, milli))
        if timed.duration is not None:
            events.append((timed.arrival + timed.duration, -milli))
    peak = running = 0
    # Ends before starts at one instant: a pod ending as another arrives frees its GPUs first.
    for _, change in sorted(events, key=lambda e: (e[0], e[1])):
        running += change
        peak = max(peak, running)
    return peak


def static_fleet_config(question: SizingQuestion, fleet: FleetCounts) -> AutoscalingConfig:
    """The file's config as a `static` fleet of `fleet`: one group per shape with nodes,
    `min` = `max` = its count; no pools, buffers, predictor, warm pool or sizing. Billing
    is the file's (a static node exists from the start of the run, and is billed from then)."""
    config = question.config
    groups = tuple(
        NodeGroup(shape, shape, count, count, question.capacity_types[shape])
        for shape, count in fleet
        if count
    )
    return dataclasses.replace(
        config,
        mode=Mode.STATIC,
        node_groups=groups,
        node_pools=(),
        buffers=(),
        predictor=Predictor(),
        warm_pool=None,
        sizing=None,
    )


@dataclass(frozen=True)
class Replayed:
    """What one replay of the question's trace on a fleet tells the sizing: the p95 wait
    (`p95_with_never`), the pods and those never started, the USD billed and the replay's
    end (seconds from 0)."""

    wait_p95: float
    pods: int
    never_started: int
    billed_usd: float
    end_time: float


def replay_fleet(question: SizingQuestion, config: AutoscalingConfig) -> Replayed:
    """One seeded replay of the question's trace (its policy, seed and gangs) on the fleet
    `config` describes, in whatever mode it has."""
    result = replay(
        question.trace,
        question.policy,
        question.seed,
        ReplayOptions(autoscaling=ReplayAutoscaling(config, question.catalog)),
        gangs=question.gangs,
    )
    waits = sorted(result.waiting_times())
    never = len(result.pods) - len(waits)
    billed = result.autoscaling.billed_total if result.autoscaling is not None else 0.0
    return Replayed(p95_with_never(waits, never), len(result.pods), never, billed, result.end_time)


def evaluate_fleet(question: SizingQuestion, fleet: FleetCounts) -> FleetRun:
    """One seeded replay of the question's trace on the static `fleet`."""
    pods = len(question.trace.pods)
    price = question.price_per_hour(fleet)
    if not any(count for _, count in fleet):
        # No node at all: nothing starts (the replay needs a node group to run on).
        return FleetRun(fleet, price, math.inf if pods else 0.0, pods, pods, 0.0)
    done = replay_fleet(question, static_fleet_config(question, fleet))
    return FleetRun(fleet, price, done.wait_p95, done.pods, done.never_started, done.billed_usd)


def write_csv(path: Path, rows: Iterable[Sequence[str]]) -> Path:
    """`rows` as a CSV file at `path`, through a temporary file renamed into place, so the
    file is never half-written."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("w", encoding="utf-8", newline="") as sink:
            csv.writer(sink, lineterminator="\n").writerows(rows)
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path


def p95_with_never(waits: list[float], never: int) -> float:
    """The 95th percentile (linear between ranks, numpy's default) of the sorted `waits`
    and `never` more waits that never end; 0 for no pod at all."""
    count = len(waits) + never
    if count == 0:
        return 0.0
    position = (count - 1) * 0.95
    low = math.floor(position)
    high = min(low + 1, count - 1)
    if high < len(waits):
        return waits[low] + (waits[high] - waits[low]) * (position - low)
    if low < len(waits) and position == low:
        return waits[low]
    return math.inf


Progress = Callable[[int, FleetRun, float], None]
"""Called after each run: (its number from 1, the run, seconds it took)."""


def size(question: SizingQuestion, progress: Progress | None = None) -> SizingAnswer:
    """The search of §9.6 over static fleets, each run a replay (see the module docstring)."""
    runs: dict[FleetCounts, FleetRun] = {}

    def evaluate(fleet: FleetCounts) -> Evaluation:
        started = time.perf_counter()
        run = evaluate_fleet(question, fleet)
        runs[fleet] = run
        if progress is not None:
            progress(len(runs), run, time.perf_counter() - started)
        return Evaluation(run.price_per_hour, run.effective_wait)

    result = size_static(question.max_nodes, evaluate, question.wait_p95, question.budget)

    def run_of(sized: Sized[FleetCounts]) -> FleetRun:
        return runs[sized.config]

    return SizingAnswer(
        question,
        tuple(runs[s.config] for s in result.evaluated),
        tuple(run_of(s) for s in result.frontier),
        None if result.chosen is None else run_of(result.chosen),
        result.exhausted,
    )


def sizing_rows(answer: SizingAnswer, runs: Sequence[FleetRun]) -> list[list[str]]:
    """`runs` as CSV rows under a header: the fleet (described, and one count column per
    shape), its price, the p95 wait (`inf` when 5 % or more never started), the pods and
    those never started, the USD the replay billed, whether it meets the target and whether
    it is the answer."""
    question = answer.question
    chosen = answer.chosen.fleet if answer.chosen is not None else None
    header = [
        "fleet",
        "nodes",
        *(f"nodes[{shape}]" for shape in question.shapes),
        *("usd_per_hour", "usd_per_month", "wait_p95_s", "pods", "never_started"),
        *("billed_usd", "meets_target", "chosen"),
    ]
    rows = [header]
    for run in runs:
        counts = dict(run.fleet)
        rows.append(
            [
                describe_fleet(run.fleet),
                str(run.nodes),
                *(str(counts.get(shape, 0)) for shape in question.shapes),
                f"{run.price_per_hour:.4f}",
                f"{run.price_per_month:.2f}",
                "inf" if math.isinf(run.wait_p95) else f"{run.wait_p95:.3f}",
                str(run.pods),
                str(run.never_started),
                f"{run.billed_usd:.4f}",
                str(run.meets(question.wait_p95)).lower(),
                str(run.fleet == chosen).lower(),
            ]
        )
    return rows
