"""A campaign: workloads x policies x seeds, in either mode, and its CSV outputs.

FGD mode: `run_campaign` runs every (workload, policy, seed) with `experiment.run_fgd`, in
worker processes when `jobs > 1` (each run is independent and seeded; `sim.runner` runs them,
tells a `RunProgress` and stops every worker when interrupted), and turns each run's
log into two curves bucketed by arrived workload (spec/fgd.md section 5): the GPU allocation
ratio and the fragmentation amount, both in percent of GPU capacity, for x = 0..130, and keeps
per GPU model the GPUs unallocated at x = 100 (the cost of stranded capacity, `sim.costs`).
`write_csvs` writes `allocation.csv` and `fragmentation.csv` with the columns
`workload,policy,seed,total_gpus,0,1,...,130` (an empty cell where a run has no value at x).

Replay mode: `run_replay_campaign` runs each with `replay.replay` (the spec's node events,
`traces.node_events`, added to the trace) and keeps a `ReplayRun`: the summary figures,
GPU-hours per model, the time series and the waiting times. `write_replay_csvs` writes
`replay.csv` (one row per run: pod counts, evicted ones included, waiting mean/p50/p95/p99
in seconds, makespan, mean utilization, GPU-hours and cost in total and per GPU model, and
the cost of capacity, `sim.costs`: GPU-hours provisioned, fragmented, idle and completed, their
USD and the USD per completed GPU-hour) and
`timeseries.csv` (one row per run and sample: allocated and total GPUs, so nodes joining and
leaving show in `capacity_gpus`, utilization, pending and running pods). Costs come from
`prices` (USD per GPU-hour, `sim.prices`). Runs with queues add to replay.csv the job
figures, the mean fragmented GPU share (FGD's F(M), time-weighted, `mean_fragmentation_pct`)
and the gangs that started and those whose pods ran in more than one rack (`gangs_started`,
`cross_rack_jobs`, with or without `+tas`), and write `queues.csv` (one row per run and
ClusterQueue, with the queue's part of the run's mean utilization, `utilization_pct`, and its
gang and rack counts). Runs with an autoscaled fleet (`RunSpec.autoscaling`, a
`kind: Autoscaling` file read again in the process that runs it) add the fleet's columns
(`replay.autoscaled.AutoscalingSummary`): nodes requested, launched and removed, node-hours,
USD billed at the shapes' node-hour prices (in total and per capacity type), scale-ups,
scale-downs, failed scale-ups, loops, then evictions, interruptions, disruptions by method,
pods upstream would not provision for and the predictor's figures (`sim.fleet_columns`).
Every replay.csv ends with the evictions (`EVICTION_COLUMNS`): runs stopped before completing,
in total and by cause, the GPU-hours they lost and the p50/p95 wait to a pod's first start.

The summaries over seeds are `sim.summaries`. Every file is written through a temporary file
renamed into place.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dralloc.errors import InputError, Problem
from dralloc.sim.costs import CapacityCost, CapacityHours, capacity_cost
from dralloc.sim.experiment import NodeUsage, run_fgd
from dralloc.sim.fgd import ARRIVAL_AXIS, bucket
from dralloc.sim.fleet_columns import FleetColumns
from dralloc.sim.job_replay import resolve_job_replay
from dralloc.sim.prices import gpu_cost
from dralloc.sim.queue_replay import KueueAdmission, QueueStats, queue_policy
from dralloc.sim.replay import (
    ReplayGangs,
    ReplayOptions,
    ReplaySummary,
    Sample,
    percentile,
    replay,
)
from dralloc.sim.replay.autoscaled import AutoscalingSummary, ReplayAutoscaling
from dralloc.sim.replay.evictions import EvictionCause
from dralloc.sim.runner import RunProgress, run_all
from dralloc.sim.traces import (
    NodeEvent,
    ReplayTrace,
    resolve_arrival_trace,
    with_node_events,
)
from dralloc.sim.traces.jobs import JobTrace

ALLOCATION_FILE = "allocation.csv"
FRAGMENTATION_FILE = "fragmentation.csv"
REPLAY_FILE = "replay.csv"
TIMESERIES_FILE = "timeseries.csv"
QUEUES_FILE = "queues.csv"


@dataclass(frozen=True)
class RunSpec:
    """One run: `workload` as the user named it, read from `trace_dir` in the process that
    runs it. `node_events` (replay mode only) are added to the trace's own; they travel with
    the spec, so worker processes replay the events the caller checked."""

    workload: str
    policy: str
    seed: int
    trace_dir: str | None = None
    node_events: tuple[NodeEvent, ...] = ()
    queues: str = ""  # replay of a job trace: a queue policy (`queue_replay`); "": none asked
    autoscaling: str = ""  # replay: a `kind: Autoscaling` file; "": the trace's own nodes
    # With `autoscaling`: a file of CapacityBuffers, ProvisioningRequests and their templates
    # (`autoscaling.load_autoscaling_objects`); "": none.
    autoscaling_objects: str = ""


@dataclass(frozen=True)
class RunCurves:
    spec: RunSpec
    total_gpus: int
    pods: int
    scheduled: int
    allocation: tuple[float | None, ...]  # per x in ARRIVAL_AXIS, percent
    fragmentation: tuple[float | None, ...]
    final_nodes: tuple[NodeUsage, ...] = ()
    # GPU model code -> GPUs unallocated at 100% arrived; code -> catalog name (for prices).
    unallocated_at_100: Mapping[str, float] = field(default_factory=dict)
    catalog: Mapping[str, str] = field(default_factory=dict)


def run_one(spec: RunSpec) -> RunCurves:
    """One run, reduced to its curves (what crosses the process boundary)."""
    if spec.node_events:
        raise ValueError("node events apply to replays only (run_replay_one)")
    trace = resolve_arrival_trace(spec.workload, spec.trace_dir)
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
        unallocated_at_100=dict(result.unallocated_at_100),
        catalog={code: model.name for code, model in trace.models.by_code.items()},
    )


def run_campaign(
    specs: Sequence[RunSpec],
    *,
    jobs: int = 1,
    progress: RunProgress[RunSpec] | None = None,
) -> list[RunCurves]:
    """Every FGD run, in `specs` order (`sim.runner.run_all`)."""
    return run_all(specs, run_one, jobs=jobs, progress=progress)


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


def _write_csv(path: Path, rows: Iterable[Sequence[str]]) -> None:
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


# --------------------------------------------------------------------------------------------
# Replay mode


@dataclass(frozen=True)
class ReplayRun:
    """One replay, reduced to what crosses the process boundary. `gpu_hours` is per GPU model
    code; `catalog` maps those codes to catalog names (for prices); `waiting` holds the
    waiting time in seconds of every pod that started."""

    spec: RunSpec
    summary: ReplaySummary
    total_gpus: int
    gpu_hours: Mapping[str, float]
    catalog: Mapping[str, str]
    samples: tuple[Sample, ...]
    waiting: tuple[float, ...]
    attempts: int
    notes: tuple[str, ...] = ()
    # With `spec.queues`: per ClusterQueue figures, Jain's index over tenants, jobs admitted
    # but stuck unschedulable, preemptions (`dralloc.sim.queue_replay`).
    queues: tuple[QueueStats, ...] = ()
    jain: float | None = None
    stuck: int = 0
    preemptions: int = 0
    # The cost of capacity (`sim.costs`): per GPU model code, GPU-hours provisioned and
    # fragmented over the run (`ReplayResult`), and the GPU-hours of the pods that completed.
    capacity_gpu_hours: Mapping[str, float] = field(default_factory=dict)
    fragmented_gpu_hours: Mapping[str, float] = field(default_factory=dict)
    completed_gpu_hours: float = 0.0
    autoscaling: AutoscalingSummary | None = None

    @property
    def job_waits(self) -> list[float]:
        """Every job's waiting time (arrival -> all pods running), all queues together."""
        return sorted(w for q in self.queues for w in q.waits)

    def cost(self, prices: Mapping[str, float]) -> dict[str, float]:
        """USD per GPU model at `prices` (KeyError for a model without one)."""
        return gpu_cost(self.gpu_hours, self.catalog, prices)

    def capacity_hours(self) -> dict[str, CapacityHours]:
        """Per GPU model code: provisioned, used and fragmented GPU-hours."""
        models = sorted({*self.capacity_gpu_hours, *self.gpu_hours})
        return {
            m: CapacityHours(
                self.capacity_gpu_hours.get(m, 0.0),
                self.gpu_hours.get(m, 0.0),
                self.fragmented_gpu_hours.get(m, 0.0),
            )
            for m in models
        }

    def capacity_cost(self, prices: Mapping[str, float]) -> CapacityCost:
        """The capacity's USD at `prices`, split (KeyError for a model without a price)."""
        return capacity_cost(self.capacity_hours(), self.catalog, prices, self.completed_gpu_hours)


@dataclass(frozen=True)
class PreparedReplay:
    """What a replay of `spec` needs before it runs: the trace with the spec's node events,
    the gangs and the job trace of a job workload (None for a pod trace), and the autoscaled
    fleet (None: the trace's own nodes). Read-only and reusable: `admission()` makes the one
    stateful part, the Kueue admission, afresh for each run."""

    spec: RunSpec
    trace: ReplayTrace
    gangs: ReplayGangs | None
    jobs: JobTrace | None
    autoscaling: ReplayAutoscaling | None

    def admission(self) -> KueueAdmission | None:
        """A new Kueue admission for one run of `spec.queues`; None without queues."""
        if not self.spec.queues or self.jobs is None:
            return None
        return KueueAdmission(self.jobs, queue_policy(self.spec.queues), replayed=self.trace)


def prepare_replay(spec: RunSpec) -> PreparedReplay:
    """Everything `spec`'s replay reads, read and checked (InputError naming the trace, the
    file, object and field; `--queues` for queues asked of a trace without tenants)."""
    trace, gangs, jobs = resolve_job_replay(spec.workload, spec.trace_dir)
    trace = with_node_events(trace, spec.node_events)
    if spec.queues and (jobs is None or not jobs.tenants):
        message = (
            f"{spec.workload} has no tenants to make queues of (a job trace with tenants is "
            "needed: synthetic-jobs, itp-elasticflow, dlrm-jobs)"
        )
        raise InputError([Problem("--queues", "", "", message)])
    autoscaling = replay_autoscaling(spec.autoscaling, spec.autoscaling_objects)
    return PreparedReplay(spec, trace, gangs, jobs, autoscaling)


def run_replay_one(spec: RunSpec) -> ReplayRun:
    prepared = prepare_replay(spec)
    trace = prepared.trace
    admission = prepared.admission()
    options = ReplayOptions(autoscaling=prepared.autoscaling)
    result = replay(
        trace, spec.policy, spec.seed, options, gangs=prepared.gangs, admission=admission
    )
    figures: dict[str, Any] = {}
    if admission is not None:
        stats = admission.queue_stats(result.end_time, [pod.node for pod in result.pods])
        figures = {
            "queues": tuple(stats),
            "jain": admission.jain(result.start_time, result.end_time, trace.total_gpus),
            "stuck": sum(q.stuck for q in stats),
            "preemptions": admission.preemptions,
        }
    return ReplayRun(
        spec=spec,
        summary=result.summary(),
        total_gpus=trace.total_gpus,
        gpu_hours=dict(result.gpu_hours),
        catalog={code: model.name for code, model in trace.models.by_code.items()},
        samples=result.samples,
        waiting=tuple(result.waiting_times()),
        attempts=result.attempts,
        notes=trace.notes,
        capacity_gpu_hours=dict(result.capacity_gpu_hours),
        fragmented_gpu_hours=dict(result.fragmented_gpu_hours),
        completed_gpu_hours=result.completed_gpu_hours(),
        autoscaling=result.autoscaling,
        **figures,
    )


def replay_autoscaling(path: str, objects: str = "") -> ReplayAutoscaling | None:
    """The autoscaled fleet of `path` (a `kind: Autoscaling` file; "": none), read with the
    packaged catalog, with the CapacityBuffers, ProvisioningRequests and templates of
    `objects` (a manifest file; "": none); InputError naming the file, object and field."""
    if not path:
        if objects:
            raise ValueError("autoscaling objects need an autoscaling file")
        return None
    from dralloc.autoscaling import load_autoscaling, load_autoscaling_objects
    from dralloc.devices import load_catalog

    catalog = load_catalog()
    config = load_autoscaling(path, catalog=catalog)
    loaded = load_autoscaling_objects(objects) if objects else None
    return ReplayAutoscaling(config, catalog, objects=loaded)


def run_replay_campaign(
    specs: Sequence[RunSpec],
    *,
    jobs: int = 1,
    progress: RunProgress[RunSpec] | None = None,
) -> list[ReplayRun]:
    """Every replay, in `specs` order (`sim.runner.run_all`)."""
    return run_all(specs, run_replay_one, jobs=jobs, progress=progress)


def _number(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _replay_rows(runs: Sequence[ReplayRun], prices: Mapping[str, float]) -> list[list[str]]:
    models = sorted({model for run in runs for model in run.gpu_hours})
    queued = any(run.spec.queues for run in runs)
    fleet = FleetColumns.of([run.autoscaling for run in runs])
    header = [
        *("workload", "policy", *(("queues",) if queued else ()), "seed", "total_gpus"),
        *("pods", "started", "completed"),
        *("running", "pending", "evicted", "not_arrived"),
        *("wait_mean_s", "wait_p50_s", "wait_p95_s", "wait_p99_s", "makespan_s"),
        *("mean_utilization_pct", "gpu_hours", "cost_usd"),
        *(f"gpu_hours[{m}]" for m in models),
        *(f"cost_usd[{m}]" for m in models),
        *("provisioned_gpu_hours", "fragmented_gpu_hours", "idle_gpu_hours"),
        *("completed_gpu_hours", "capacity_cost_usd", "used_cost_usd"),
        *("fragmented_cost_usd", "idle_cost_usd", "usd_per_completed_gpu_hour"),
        *(
            (
                *("job_wait_p50_s", "job_wait_p95_s", "jain_index", "stuck_jobs"),
                *("preemptions", "mean_fragmentation_pct", "gangs_started", "cross_rack_jobs"),
            )
            if queued
            else ()
        ),
        *fleet.header(),
        *EVICTION_COLUMNS,
    ]
    rows = [header]
    for run in runs:
        s = run.summary
        cost = run.cost(prices)
        hours = run.capacity_hours().values()
        capacity = run.capacity_cost(prices)
        rows.append(
            [
                *(run.spec.workload, run.spec.policy),
                *((run.spec.queues,) if queued else ()),
                *(str(run.spec.seed), str(run.total_gpus)),
                *(str(n) for n in (s.pods, s.started, s.completed, s.running, s.pending)),
                *(str(s.evicted), str(s.not_arrived)),
                *(_number(v) for v in (s.wait_mean, s.wait_p50, s.wait_p95, s.wait_p99)),
                _number(s.makespan),
                _number(100 * s.mean_utilization, 3),
                _number(s.gpu_hours, 3),
                _number(sum(cost.values()), 2),
                *(_number(run.gpu_hours.get(m), 3) for m in models),
                *(_number(cost.get(m), 2) for m in models),
                _number(sum(h.provisioned for h in hours), 3),
                _number(sum(h.fragmented for h in hours), 3),
                _number(sum(h.idle for h in hours), 3),
                _number(run.completed_gpu_hours, 3),
                *(_number(v, 2) for v in (capacity.provisioned, capacity.used)),
                *(_number(v, 2) for v in (capacity.fragmented, capacity.idle)),
                _number(capacity.per_completed_gpu_hour, 4),
                *(_queue_columns(run) if queued else ()),
                *fleet.cells(run.autoscaling, s.evicted_pods),
                *_eviction_cells(s),
            ]
        )
    return rows


EVICTION_COLUMNS = (
    "evictions",
    *(f"evictions[{cause}]" for cause in EvictionCause),
    "lost_gpu_hours",
    "first_start_wait_p50_s",
    "first_start_wait_p95_s",
)
"""replay.csv's last columns, in every mode: runs stopped before completing (in total and per
`EvictionCause`, in its order, zeros included), the GPU-hours they lost, and the wait from
arrival to a pod's first start (`ReplaySummary`), which evictions leave out."""


def _eviction_cells(s: ReplaySummary) -> list[str]:
    return [
        str(s.evictions_total),
        *(str(s.evictions.get(str(cause), 0)) for cause in EvictionCause),
        _number(s.lost_gpu_hours, 3),
        *(_number(v) for v in (s.first_start_wait_p50, s.first_start_wait_p95)),
    ]


def _queue_columns(run: ReplayRun) -> list[str]:
    waits = run.job_waits
    return [
        _number(percentile(waits, 50) if waits else None),
        _number(percentile(waits, 95) if waits else None),
        _number(run.jain, 4),
        str(run.stuck),
        str(run.preemptions),
        _number(100 * run.summary.mean_fragmentation, 3),
        str(sum(q.gangs_started for q in run.queues)),
        str(sum(q.cross_rack_jobs for q in run.queues)),
    ]


def _queues_rows(runs: Sequence[ReplayRun], prices: Mapping[str, float]) -> Iterable[list[str]]:
    yield [
        *("workload", "policy", "queues", "seed", "queue", "nominal_gpus", "jobs", "admitted"),
        *("finished", "pending", "wait_mean_s", "wait_p50_s", "wait_p95_s", "gpu_hours"),
        *("cost_usd", "evictions", "stuck", "utilization_pct", "gangs_started"),
        "cross_rack_jobs",
    ]
    for run in runs:
        total = run.summary.gpu_hours
        cost = sum(run.cost(prices).values())
        # The run's mean utilization shared by GPU-hours served: the queue's part of the
        # cluster's allocated share of capacity (the rows of a run add up to it).
        utilization = 100 * run.summary.mean_utilization
        for q in run.queues:
            yield [
                *(run.spec.workload, run.spec.policy, run.spec.queues, str(run.spec.seed)),
                *(q.queue, str(q.nominal_gpus), str(q.jobs), str(q.admitted), str(q.finished)),
                str(q.pending),
                *(_number(v) for v in (q.wait_mean, q.wait_p50, q.wait_p95)),
                _number(q.gpu_hours, 3),
                # The run's cost shared by GPU-hours served (one price per run's model mix).
                _number(cost * q.gpu_hours / total if total else 0.0, 2),
                *(str(q.evictions), str(q.stuck)),
                _number(utilization * q.gpu_hours / total if total else 0.0, 3),
                *(str(q.gangs_started), str(q.cross_rack_jobs)),
            ]


def _timeseries_rows(runs: Sequence[ReplayRun]) -> Iterable[list[str]]:
    yield [
        *("workload", "policy", "seed", "time_s", "allocated_gpus", "capacity_gpus"),
        *("utilization_pct", "pending_pods", "running_pods"),
    ]
    for run in runs:
        head = [run.spec.workload, run.spec.policy, str(run.spec.seed)]
        for sample in run.samples:
            yield [
                *head,
                _number(sample.time),
                _number(sample.allocated_milli / 1000, 3),
                _number(sample.capacity_milli / 1000, 3),
                _number(100 * sample.utilization, 3),
                str(sample.pending),
                str(sample.running),
            ]


def write_replay_csvs(
    directory: Path, runs: Sequence[ReplayRun], prices: Mapping[str, float]
) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    summary = directory / REPLAY_FILE
    timeseries = directory / TIMESERIES_FILE
    _write_csv(summary, _replay_rows(runs, prices))
    _write_csv(timeseries, _timeseries_rows(runs))
    paths = [summary, timeseries]
    if any(run.spec.queues for run in runs):
        queues = directory / QUEUES_FILE
        _write_csv(queues, _queues_rows(runs, prices))
        paths.append(queues)
    return paths
