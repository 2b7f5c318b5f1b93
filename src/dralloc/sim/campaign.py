"""A campaign: the FGD experiment over workloads x policies x seeds, and its CSV outputs.

`run_campaign` runs every (workload, policy, seed) with `experiment.run_fgd`, in worker
processes when `jobs > 1` (each run is independent and seeded), and turns each run's log into
two curves bucketed by arrived workload (spec/fgd.md section 5): the GPU allocation ratio and
the fragmentation amount, both in percent of GPU capacity, for x = 0..130.

`write_csvs` writes `allocation.csv` and `fragmentation.csv` with the columns
`workload,policy,seed,total_gpus,0,1,...,130` (an empty cell where a run has no value at x),
each through a temporary file renamed into place.
"""

from __future__ import annotations

import csv
import statistics
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from dralloc.sim.experiment import NodeUsage, run_fgd
from dralloc.sim.fgd import ARRIVAL_AXIS, bucket
from dralloc.sim.openb import resolve_trace

ALLOCATION_FILE = "allocation.csv"
FRAGMENTATION_FILE = "fragmentation.csv"


@dataclass(frozen=True)
class RunSpec:
    workload: str
    policy: str
    seed: int
    trace_dir: str | None = None


@dataclass(frozen=True)
class RunCurves:
    spec: RunSpec
    total_gpus: int
    pods: int
    scheduled: int
    allocation: tuple[float | None, ...]  # per x in ARRIVAL_AXIS, percent
    fragmentation: tuple[float | None, ...]
    final_nodes: tuple[NodeUsage, ...] = ()


def run_one(spec: RunSpec) -> RunCurves:
    """One run, reduced to its curves (what crosses the process boundary)."""
    trace = resolve_trace(spec.workload, spec.trace_dir)
    result = run_fgd(trace, spec.policy, spec.seed)
    points = [bucket(result.log, result.total_gpus * 1000).get(x) for x in ARRIVAL_AXIS]
    return RunCurves(
        spec=spec,
        total_gpus=result.total_gpus,
        pods=result.pods,
        scheduled=result.scheduled,
        allocation=tuple(None if p is None else p.alloc_ratio for p in points),
        fragmentation=tuple(None if p is None else p.frag_amount for p in points),
        final_nodes=result.final_nodes,
    )


def run_campaign(
    specs: Sequence[RunSpec],
    *,
    jobs: int = 1,
    on_done: Callable[[RunCurves], None] | None = None,
) -> list[RunCurves]:
    """Every run, in `specs` order; `on_done` is called as each finishes."""
    if jobs <= 1:
        done = []
        for spec in specs:
            curves = run_one(spec)
            if on_done is not None:
                on_done(curves)
            done.append(curves)
        return done
    results: dict[RunSpec, RunCurves] = {}
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(run_one, spec) for spec in specs]
        for future in as_completed(futures):
            curves = future.result()
            results[curves.spec] = curves
            if on_done is not None:
                on_done(curves)
    return [results[spec] for spec in specs]


def _rows(
    runs: Iterable[RunCurves], pick: Callable[[RunCurves], Sequence[float | None]]
) -> list[list[str]]:
    header = ["workload", "policy", "seed", "total_gpus", *(str(x) for x in ARRIVAL_AXIS)]
    rows = [header]
    for run in runs:
        values = ["" if v is None else f"{v:.4f}" for v in pick(run)]
        rows.append(
            [run.spec.workload, run.spec.policy, str(run.spec.seed), str(run.total_gpus), *values]
        )
    return rows


def _write_csv(path: Path, rows: list[list[str]]) -> None:
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("w", newline="", encoding="utf-8") as sink:
            csv.writer(sink).writerows(rows)
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def write_csvs(directory: Path, runs: Sequence[RunCurves]) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    allocation = directory / ALLOCATION_FILE
    fragmentation = directory / FRAGMENTATION_FILE
    _write_csv(allocation, _rows(runs, lambda r: r.allocation))
    _write_csv(fragmentation, _rows(runs, lambda r: r.fragmentation))
    return [allocation, fragmentation]


@dataclass(frozen=True)
class PolicySummary:
    workload: str
    policy: str
    runs: int
    unallocated_at_100: float | None  # median over seeds, percent of GPU capacity
    fragmentation_at_100: float | None
    scheduled_share: float  # median share of arrivals placed


def summarize(runs: Sequence[RunCurves]) -> list[PolicySummary]:
    """Per (workload, policy), medians over seeds at arrived workload x = 100%."""
    index = ARRIVAL_AXIS.index(100)
    groups: dict[tuple[str, str], list[RunCurves]] = {}
    for run in runs:
        groups.setdefault((run.spec.workload, run.spec.policy), []).append(run)
    summary = []
    for (workload, policy), group in groups.items():
        allocated = [v for r in group if (v := r.allocation[index]) is not None]
        fragment = [v for r in group if (v := r.fragmentation[index]) is not None]
        summary.append(
            PolicySummary(
                workload=workload,
                policy=policy,
                runs=len(group),
                unallocated_at_100=100 - statistics.median(allocated) if allocated else None,
                fragmentation_at_100=statistics.median(fragment) if fragment else None,
                scheduled_share=statistics.median(r.scheduled / r.pods for r in group),
            )
        )
    return summary
