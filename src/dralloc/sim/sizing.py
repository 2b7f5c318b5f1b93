"""`dralloc size`: which GPU nodes, how many, at what cost, for a trace and a waiting-time
target (spec/autoscaling.md §9.6, §11).

Owns turning the question into runs and the runs into an answer; the search itself is
`dralloc.autoscaling.prediction.sizing.size_static` (bisection per shape, a grid of shape
mixes, a descent to cheaper neighbours, within a budget of runs), and each run is one seeded
replay of the trace on a `static` fleet (`sim.replay`, `mode: static`: every node there
from the start, for the whole run). No I/O but `write_csv`: the caller loads the trace and the
file and says what to write.

* **The fleet** is a node count per searched shape, each up to a bound (the question:
  `sim.sizing_question`, whose names this module also exports).
* **The cost** of a fleet is its price per hour (nodes x the shape's price for the capacity
  type); per month is x 730 h. It is what the search minimizes: a static fleet is billed the
  same every hour, whatever the trace's length.
* **The wait.** A pod's wait runs from its arrival to its start; the p95 counts a pod that
  never starts (too big for the fleet's nodes, or still waiting when the trace is over) as
  waiting forever. A fleet **meets** the target when every pod starts and the p95 wait is at
  most the target: a fleet that can never run some pods (8-GPU pods on 4-GPU nodes) is no
  answer, however short the others' waits. The search reads such a fleet's wait as infinite.
* **The search** is `size_static`'s, then one look at the answer's neighbours: waits are not
  monotone in node counts (a node more can change where the scheduler puts a pod, and a
  later pod can wait behind it), so the bisection can step over a smaller fleet that meets
  the target. Each shape's count of the answer one and two nodes lower is replayed once
  (those not run yet, within the budget) and the cheapest fleet meeting the target wins.
  The answer says when the budget cut the search itself short (a cheaper fleet may meet the
  target) and which neighbours were replayed, replayed already, or left out by the budget.
* **The answer** is the cheapest fleet meeting `p95 wait <= target` (ties: the shorter wait),
  with the Pareto frontier of cost versus p95 wait over every fleet run.
* **Evictions** are counted per run (runs stopped before completing: an autoscaled node's
  deletion or spot interruption; a static fleet's replay loses no node, so its runs count
  none) with the GPU-hours they lost, and beside the p95 wait (arrival to the start of the
  run that completed, lost runs waited through) stands the p95 wait to a pod's first start
  (the scheduler's own delay), so a short first wait bought with restarted work shows.

    question = sizing_question(trace, config, catalog, wait_p95=600.0)
    answer = size(question)
    answer.sentence()   # '3 x l4x8 at $17,520/month ($24.00/h) meets p95 wait <= 600 s ...'
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from dralloc.autoscaling.config import AutoscalingConfig
from dralloc.autoscaling.prediction.sizing import (
    DEFAULT_BUDGET,
    Evaluation,
    FleetCounts,
    Runs,
    Sized,
    SizingResult,
    result_of,
    size_static,
)
from dralloc.sim.replay import ReplayOptions, replay
from dralloc.sim.replay.autoscaled import ReplayAutoscaling
from dralloc.sim.sizing_question import SizingQuestion, sizing_question, static_fleet_config

__all__ = [
    "HOURS_PER_MONTH",
    "FleetRun",
    "FleetSearch",
    "Replayed",
    "SizingAnswer",
    "SizingQuestion",
    "counted",
    "describe_fleet",
    "evaluate_fleet",
    "format_wait",
    "p95_with_never",
    "replay_fleet",
    "search_fleets",
    "seconds_cell",
    "size",
    "sizing_question",
    "sizing_rows",
    "static_fleet_config",
    "write_csv",
]

HOURS_PER_MONTH = 730.0  # 365 days x 24 h / 12, the usual cloud-bill month


@dataclass(frozen=True)
class FleetRun:
    """One fleet replayed: its price, the pods' p95 wait (inf: 5 % or more never started), how
    many pods there were and never started, the USD the replay billed (launch to the end
    of the run), the evictions (runs stopped before completing) and the GPU-hours they lost,
    and the p95 wait to a pod's first start (see the module docstring)."""

    fleet: FleetCounts
    price_per_hour: float
    wait_p95: float
    pods: int
    never_started: int
    billed_usd: float
    evictions: int = 0
    lost_gpu_hours: float = 0.0
    first_start_wait_p95: float = 0.0

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
    `chosen` fleet (None: no fleet run met the target), whether the budget was used up
    (`exhausted`), the neighbours of the search's answer (module docstring) replayed to check
    it, those the search had replayed already and those the budget left out, the replays the
    search was allowed (`budget`: the question's, less those kept for the autoscaled points)
    and whether the budget cut the search itself short (`search_cut`: a cheaper fleet may
    meet the target)."""

    question: SizingQuestion
    runs: tuple[FleetRun, ...]
    frontier: tuple[FleetRun, ...]
    chosen: FleetRun | None
    exhausted: bool
    neighbours: tuple[FleetCounts, ...] = ()
    budget: int | None = None
    neighbours_seen: tuple[FleetCounts, ...] = ()
    neighbours_skipped: tuple[FleetCounts, ...] = ()
    search_cut: bool = False

    @property
    def replays(self) -> int:
        """Runs of the search, counted against its budget (one replay each)."""
        return len(self.runs)

    @property
    def is_cut(self) -> bool:
        """Whether the budget stopped the search or its neighbour check before the end."""
        return self.search_cut or bool(self.neighbours_skipped)

    def sentence(self) -> str:
        """The answer in one line, first thing a user reads."""
        target = f"p95 wait <= {self.question.wait_p95:g} s"
        budget = counted(self.replays if self.budget is None else self.budget, "replay")
        if self.chosen is not None:
            run = self.chosen
            cut = (
                f"; the budget ({budget}) cut the search short: a cheaper fleet may meet it"
                if self.is_cut
                else ""
            )
            return (
                f"{describe_fleet(run.fleet)} at ${run.price_per_month:,.0f}/month "
                f"(${run.price_per_hour:,.2f}/h) meets {target} "
                f"(p95 wait {format_wait(run.wait_p95)}){cut}"
            )
        limits = " + ".join(f"{self.question.max_nodes[s]} x {s}" for s in self.question.shapes)
        cut = f" before the run budget ({budget}) ran out" if self.search_cut else ""
        best = min(
            self.runs,
            key=lambda r: (r.never_started, r.wait_p95, r.price_per_hour),
            default=None,
        )
        closest = ""
        if best is not None:
            unstarted = (
                f", {counted(best.never_started, 'pod')} never started"
                if best.never_started
                else ""
            )
            closest = (
                f"; the closest static fleet was {describe_fleet(best.fleet)}: p95 wait "
                f"{format_wait(best.wait_p95)}{unstarted}"
            )
        return f"no static fleet of up to {limits} found that meets {target}{cut}{closest}"


def counted(count: int, noun: str) -> str:
    """`1 fleet`, `2 fleets`, `0 replays`: the count and the noun in agreement."""
    return f"{count} {noun if count == 1 else noun + 's'}"


def describe_fleet(fleet: FleetCounts) -> str:
    """`2 x l4x8 + 1 x h100-mig`; shapes with no node left out; `no nodes` for none."""
    parts = [f"{count} x {shape}" for shape, count in fleet if count]
    return " + ".join(parts) if parts else "no nodes"


def format_wait(seconds: float) -> str:
    return "never (pods left unstarted)" if math.isinf(seconds) else f"{seconds:,.0f} s"


@dataclass(frozen=True)
class Replayed:
    """What one replay of the question's trace on a fleet tells the sizing: the p95 wait
    (`p95_with_never`), the pods and those never started, the USD billed, the replay's end
    (seconds from 0), the evictions (runs stopped before completing), the GPU-hours they
    lost and the p95 wait to a pod's first start (a pod that never started: forever)."""

    wait_p95: float
    pods: int
    never_started: int
    billed_usd: float
    end_time: float
    evictions: int = 0
    lost_gpu_hours: float = 0.0
    first_start_wait_p95: float = 0.0


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
    first = sorted(result.first_start_waiting_times())
    return Replayed(
        wait_p95=p95_with_never(waits, never),
        pods=len(result.pods),
        never_started=never,
        billed_usd=result.autoscaling.billed_total if result.autoscaling is not None else 0.0,
        end_time=result.end_time,
        evictions=len(result.evictions),
        lost_gpu_hours=result.lost_gpu_hours(),
        first_start_wait_p95=p95_with_never(first, len(result.pods) - len(first)),
    )


def evaluate_fleet(question: SizingQuestion, fleet: FleetCounts) -> FleetRun:
    """One seeded replay of the question's trace on the static `fleet`."""
    pods = len(question.trace.pods)
    price = question.price_per_hour(fleet)
    if not any(count for _, count in fleet):
        # No node at all: nothing starts (the replay needs a node group to run on).
        return FleetRun(fleet, price, math.inf if pods else 0.0, pods, pods, 0.0)
    done = replay_fleet(question, static_fleet_config(question, fleet))
    return FleetRun(
        fleet,
        price,
        done.wait_p95,
        done.pods,
        done.never_started,
        done.billed_usd,
        done.evictions,
        done.lost_gpu_hours,
        done.first_start_wait_p95,
    )


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


def seconds_cell(seconds: float) -> str:
    """A wait in a CSV cell: `inf` for pods that never start, else to the millisecond."""
    return "inf" if math.isinf(seconds) else f"{seconds:.3f}"


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


@dataclass(frozen=True)
class FleetSearch:
    """What `search_fleets` did: the result over every fleet run, whether the budget cut
    `size_static`'s own search (it asked for a fleet past the budget), and the answer's
    neighbours (module docstring) split three ways: `replayed` by the check, `seen`
    (replayed by the search before it), `skipped` (the budget had run out)."""

    result: SizingResult[FleetCounts]
    cut: bool
    replayed: tuple[FleetCounts, ...] = ()
    seen: tuple[FleetCounts, ...] = ()
    skipped: tuple[FleetCounts, ...] = ()


class _BudgetCut(Exception):
    """`size_static` asked for one fleet more than the budget allows."""


def search_fleets(
    max_nodes: Mapping[str, int],
    evaluate: Callable[[FleetCounts], Evaluation],
    wait_p95: float,
    budget: int = DEFAULT_BUDGET,
) -> FleetSearch:
    """`size_static`'s search, then each shape's count of its answer one and two nodes lower,
    once (see the module docstring). `evaluate` is called once per distinct fleet, at most
    `budget` times in all.

    >>> waits = {6: 0.0, 7: 900.0}  # 6 nodes meet, 7 miss, 8 and more meet
    >>> def run(fleet):
    ...     n = dict(fleet)["a"]
    ...     return Evaluation(n, waits.get(n, 0.0 if n >= 8 else 900.0))
    >>> search = search_fleets({"a": 10}, run, wait_p95=600)
    >>> search.result.chosen.config, search.replayed, search.seen
    ((('a', 6),), ((('a', 6),),), ((('a', 7),),))
    """
    runs: Runs[FleetCounts] = Runs(evaluate, budget)

    def counted_run(fleet: FleetCounts) -> Evaluation:
        # `size_static` owns its budget and stops quietly past it; it is given one run more
        # and stopped here instead, so the search knows it was cut, with the same runs done.
        if len(runs.done) >= budget:
            raise _BudgetCut
        outcome = evaluate(fleet)
        runs.done[fleet] = outcome
        return outcome

    try:
        size_static(max_nodes, counted_run, wait_p95, budget + 1)
        cut = False
    except _BudgetCut:
        cut = True
    found = result_of(runs, wait_p95)
    if found.chosen is None:
        return FleetSearch(found, cut)
    answer = found.chosen.config
    replayed: list[FleetCounts] = []
    seen: list[FleetCounts] = []
    skipped: list[FleetCounts] = []
    for index, (_, count) in enumerate(answer):
        for fewer in (1, 2):
            if count - fewer < 0:
                break
            neighbour = tuple(
                (shape, n - fewer if i == index else n) for i, (shape, n) in enumerate(answer)
            )
            if not any(n for _, n in neighbour):
                break  # no node at all: not a fleet
            if neighbour in runs.done:
                seen.append(neighbour)
            elif runs.run(neighbour) is None:
                skipped.append(neighbour)
            else:
                replayed.append(neighbour)
    return FleetSearch(result_of(runs, wait_p95), cut, tuple(replayed), tuple(seen), tuple(skipped))


def size(
    question: SizingQuestion, progress: Progress | None = None, *, budget: int | None = None
) -> SizingAnswer:
    """The search of §9.6 over static fleets, each run a replay (see the module docstring),
    in at most `budget` replays (default: the question's)."""
    runs: dict[FleetCounts, FleetRun] = {}

    def evaluate(fleet: FleetCounts) -> Evaluation:
        started = time.perf_counter()
        run = evaluate_fleet(question, fleet)
        runs[fleet] = run
        if progress is not None:
            progress(len(runs), run, time.perf_counter() - started)
        return Evaluation(run.price_per_hour, run.effective_wait)

    allowed = question.budget if budget is None else budget
    search = search_fleets(question.max_nodes, evaluate, question.wait_p95, allowed)
    result = search.result

    def run_of(sized: Sized[FleetCounts]) -> FleetRun:
        return runs[sized.config]

    return SizingAnswer(
        question,
        tuple(runs[s.config] for s in result.evaluated),
        tuple(run_of(s) for s in result.frontier),
        None if result.chosen is None else run_of(result.chosen),
        result.exhausted,
        search.replayed,
        allowed,
        search.seen,
        search.skipped,
        search.cut,
    )


def sizing_rows(answer: SizingAnswer, runs: Sequence[FleetRun]) -> list[list[str]]:
    """`runs` as CSV rows under a header: the fleet (described, and one count column per
    shape), its price, the p95 wait (`inf` when 5 % or more never started), the pods and
    those never started, the evictions and the GPU-hours they lost, the p95 wait to a first
    start, the USD the replay billed, whether it meets the target and whether it is the
    answer."""
    question = answer.question
    chosen = answer.chosen.fleet if answer.chosen is not None else None
    header = [
        "fleet",
        "nodes",
        *(f"nodes[{shape}]" for shape in question.shapes),
        *("usd_per_hour", "usd_per_month", "wait_p95_s", "pods", "never_started", "evictions"),
        *("lost_gpu_hours", "first_start_wait_p95_s"),
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
                seconds_cell(run.wait_p95),
                str(run.pods),
                str(run.never_started),
                str(run.evictions),
                f"{run.lost_gpu_hours:.4f}",
                seconds_cell(run.first_start_wait_p95),
                f"{run.billed_usd:.4f}",
                str(run.meets(question.wait_p95)).lower(),
                str(run.fleet == chosen).lower(),
            ]
        )
    return rows
