"""Microsoft ITP's GPU job trace, as published with ElasticFlow (ASPLOS '23): 69,351 training
jobs of 10 clusters over 60 days, with gangs of 1 to 64 GPUs. `itp-elasticflow[:key=value,...]`.

This module owns reading `clusterNN.csv` (`job_id,submission_time,duration,num_gpu`, the
raw traces of `microsoft/elasticflow-traces`; the folder `itp-elasticflow/` of a trace
directory) into `ItpJob` records and turning them into `BatchJob`s. Pure parsing and
arithmetic; reading the files is the only I/O. The trace is not shipped with dralloc.

Rows are checked as the other loaders check theirs, every problem at once with file,
`line N` (the header is line 1) and column: `job_id` non-empty and unique across the files
read; `submission_time` a whole number of seconds >= 0; `duration` >= 1 s; `num_gpu` >= 1 and
splittable into equal workers (below). A row with a problem gives no job.

Mapping (the trace has jobs, times and GPU counts only; the folder README lists what is
missing):

- **Times.** `submission_time` is the arrival, `duration` the run time once the gang runs
  (ElasticFlow replays it as execution time; the simulator does its own queueing). Seconds
  from the start of collection, 2021-03-04; all clusters share that origin.
- **Gangs.** `num_gpu` is the job's GPUs. A job of up to `node_gpus` (default 8) GPUs is one
  worker (pod) with all of them; a larger one is `num_gpu / node_gpus` workers of a whole
  node each (`jobs.split_gang`): ElasticFlow places jobs on 8-GPU servers with buddy
  allocation, and the trace's counts are 1, 2, 4, 8, 16, 32 and 64, so 16/32/64 become gangs
  of 2/4/8 workers x 8 GPUs. Every worker must start together: `workers` is the gang's
  `minCount`.
- **Tenants.** None in the trace. `tenants=clusters` makes each cluster file one tenant whose
  quota is the cluster's peak zero-wait GPUs rounded up to a node; `tenants=venus|earth` takes
  Helios VCs (`helios.tenants_on`: `vcs`, `date`, `seed`) and assigns each job to one with a
  seeded draw (`jobs.assign_tenants`, `weighting`); `quota_total` rescales the quotas.
- **Not in the data:** priority (every job gets 0), GPU model (any), status (every job is
  taken to have completed), user.

Job names are `itp-c<NN>-<index>` (index of the row in its file, from 0), valid Kubernetes
names; the UUID stays in `trace_id`.

Example::

    trace = resolve_itp("itp-elasticflow:cluster=4,tenants=venus,vcs=6,seed=3", trace_dir)
    len(trace.jobs), [t.gpu_quota for t in trace.tenants]
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final

from dralloc.errors import InputError, Problem
from dralloc.sim.options import parse_options, split_workload
from dralloc.sim.traces import helios
from dralloc.sim.traces.jobs import (
    NODE_GPUS,
    BatchJob,
    JobTrace,
    Tenant,
    assign_tenants,
    peak_gpus,
    split_gang,
)
from dralloc.sim.traces.rows import CsvRows, read_text

__all__ = [
    "CLUSTER_COUNT",
    "COLUMNS",
    "FOLDER_NAME",
    "NAME",
    "ItpJob",
    "ItpOptions",
    "batch_job",
    "cluster_file",
    "find_folder",
    "load_clusters",
    "parse_jobs",
    "resolve_itp",
]

NAME: Final = "itp-elasticflow"
FOLDER_NAME: Final = "itp-elasticflow"
COLUMNS: Final = ("job_id", "submission_time", "duration", "num_gpu")
CLUSTER_COUNT: Final = 10


def cluster_file(cluster: int) -> str:
    """`cluster04.csv` for 4."""
    return f"cluster{cluster:02d}.csv"


@dataclass(frozen=True, slots=True)
class ItpJob:
    """One row of a cluster file, as the trace has it: `cluster` is the file's number.

    ItpJob("965d744f-...", cluster=1, index=0, submission_time=1932025, duration=2429,
           num_gpu=64)
    """

    job_id: str
    cluster: int
    index: int
    submission_time: int
    duration: int
    num_gpu: int
    line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class ItpOptions:
    """The options of `itp-elasticflow:key=value,...` (see the module docstring).

    `cluster`: 1-10, or 0 for all ten merged in arrival order. `node_gpus`: GPUs per node of
    the gang split (8). `tenants`: `clusters`, `venus` or `earth`. `vcs`: how many Helios VCs
    to draw (0: every VC with GPUs that day). `date`: the Helios day (empty: the last,
    2020-09-28). `weighting`: `quota` or `uniform`. `seed`: the draws of VCs and of each job's
    tenant. `quota_total`: rescale the quotas to this many GPUs (0: as the data has them).
    """

    cluster: int = 0
    node_gpus: int = NODE_GPUS
    tenants: str = "venus"
    vcs: int = 0
    date: str = "last"
    weighting: str = "quota"
    seed: int = 1
    quota_total: int = 0

    def problems(self, where: str) -> list[Problem]:
        out = []
        if not 0 <= self.cluster <= CLUSTER_COUNT:
            out.append(
                Problem("", where, "cluster", f"must be 0 (all) or 1-10, got {self.cluster}")
            )
        if self.node_gpus < 1:
            out.append(Problem("", where, "node_gpus", f"must be ≥ 1, got {self.node_gpus}"))
        if self.tenants not in ("clusters", *helios.CLUSTERS):
            message = f"must be clusters, venus or earth, got {self.tenants!r}"
            out.append(Problem("", where, "tenants", message))
        if self.weighting not in ("quota", "uniform"):
            out.append(
                Problem("", where, "weighting", f"must be quota or uniform, got {self.weighting!r}")
            )
        for key in ("vcs", "quota_total"):
            if getattr(self, key) < 0:
                out.append(Problem("", where, key, f"must be ≥ 0, got {getattr(self, key)}"))
        return out


def parse_jobs(
    text: str,
    file: str,
    cluster: int,
    node_gpus: int = NODE_GPUS,
    seen: dict[str, str] | None = None,
) -> tuple[ItpJob, ...]:
    """Parse one cluster file's CSV text read from `file`. InputError listing every malformed
    row. `seen` (job_id -> `file:line`) carries ids across files, so a duplicate in another
    file is found too."""
    rows = CsvRows(text, file)
    first = {} if seen is None else seen
    jobs: list[ItpJob] = []
    for line, (job_id, submitted, duration, num_gpu) in rows.read([COLUMNS]):
        before = len(rows.problems)
        if not job_id:
            rows.problem(line, "job_id", "empty, expected the job's id")
        elif job_id in first:
            rows.problem(line, "job_id", f"duplicate job {job_id!r}, first at {first[job_id]}")
        else:
            first[job_id] = f"{file}:{line}"
        arrival = rows.integer(line, "submission_time", submitted)
        run = rows.integer(line, "duration", duration, minimum=1)
        gpus = rows.integer(line, "num_gpu", num_gpu, minimum=1)
        if gpus is not None and split_gang(gpus, node_gpus) is None:
            message = f"{gpus} GPUs cannot be split into equal workers of nodes of {node_gpus} GPUs"
            rows.problem(line, "num_gpu", message)
        if len(rows.problems) > before:
            continue
        assert arrival is not None and run is not None and gpus is not None
        jobs.append(ItpJob(job_id, cluster, line - 2, arrival, run, gpus, line))
    rows.raise_problems()
    return tuple(jobs)


def batch_job(job: ItpJob, node_gpus: int = NODE_GPUS) -> BatchJob:
    """A row as a batch job: its gang split on nodes of `node_gpus` (see the module docstring)."""
    split = split_gang(job.num_gpu, node_gpus)
    assert split is not None, "parse_jobs refuses counts that cannot be split"
    workers, per_worker = split
    return BatchJob(
        f"itp-c{job.cluster:02d}-{job.index:05d}",
        float(job.submission_time),
        float(job.duration),
        workers,
        per_worker,
        trace_id=job.job_id,
        source=f"cluster{job.cluster:02d}",
        line=job.line,
    )


def find_folder(trace_dir: str | os.PathLike[str] | None) -> Path:
    """The folder holding `cluster01.csv` ...: `trace_dir` or its `itp-elasticflow/`."""
    if trace_dir is None:
        message = (
            f"workload {NAME!r} is not shipped with dralloc: pass --trace-dir pointing at a folder"
            f" holding {FOLDER_NAME}/cluster01.csv ... (microsoft/elasticflow-traces, raw traces)"
        )
        raise InputError([Problem("", "", "", message)])
    folder = Path(trace_dir)
    for candidate in (folder, folder / FOLDER_NAME):
        if (candidate / cluster_file(1)).is_file():
            return candidate
    message = f"no {cluster_file(1)} here or in {FOLDER_NAME}/: --trace-dir must hold the ITP trace"
    raise InputError([Problem(str(folder), "", "", message)])


def load_clusters(
    folder: Path, clusters: Sequence[int], node_gpus: int = NODE_GPUS
) -> tuple[ItpJob, ...]:
    """The rows of `clusters`' files under `folder`, merged in arrival order (ties: cluster,
    then row). InputError listing every problem of every file."""
    seen: dict[str, str] = {}
    problems: list[Problem] = []
    jobs: list[ItpJob] = []
    for cluster in clusters:
        path = folder / cluster_file(cluster)
        try:
            jobs.extend(parse_jobs(read_text(path), str(path), cluster, node_gpus, seen))
        except InputError as err:
            problems.extend(err.problems)
    if problems:
        raise InputError(problems)
    jobs.sort(key=lambda j: (j.submission_time, j.cluster, j.index))
    return tuple(jobs)


def resolve_itp(workload: str, trace_dir: str | os.PathLike[str] | None) -> JobTrace:
    """The `itp-elasticflow[:key=value,...]` workload read from `trace_dir`. InputError for
    bad options, missing or malformed files."""
    name, text = split_workload(workload)
    if name != NAME:
        raise InputError([Problem("", "", "", f"not an ITP workload: {workload!r}")])
    options = parse_options(workload, text, ItpOptions())
    problems = options.problems(f"--trace {workload}")
    if problems:
        raise InputError(problems)
    folder = find_folder(trace_dir)
    clusters = [options.cluster] if options.cluster else list(range(1, CLUSTER_COUNT + 1))
    rows = load_clusters(folder, clusters, options.node_gpus)
    jobs = tuple(batch_job(row, options.node_gpus) for row in rows)
    rng = random.Random(options.seed)
    notes = [
        f"{len(jobs):,} jobs of {', '.join(cluster_file(c) for c in clusters)}"
        f" ({_count(sum(j.is_gang for j in jobs), 'multi-worker gang')}: jobs over"
        f" {options.node_gpus} GPUs are workers of {options.node_gpus})"
    ]
    if options.tenants == "clusters":
        tenants = _cluster_tenants(jobs, options.node_gpus)
        jobs = tuple(replace(j, tenant=j.source) for j in jobs)
        notes.append("one tenant per cluster file; quota = its peak zero-wait GPUs, whole nodes")
    else:
        quotas = helios.load_vc_quotas(trace_dir, options.tenants)
        date = None if options.date == "last" else options.date
        tenants = helios.tenants_on(quotas, date, options.vcs, rng)
        jobs = assign_tenants(
            jobs, tenants, rng, "uniform" if options.weighting == "uniform" else "quota"
        )
        day = tenants[0].source.rpartition("@")[2] if tenants else ""
        notes.append(
            f"{len(tenants)} Helios {options.tenants.capitalize()} VCs of {day} as tenants"
            f" (seed {options.seed}); jobs drawn to tenants by {options.weighting}"
        )
    if options.quota_total:
        tenants = helios.scale_quotas(tenants, options.quota_total, options.node_gpus)
        notes.append(f"quotas rescaled to {options.quota_total:,} GPUs in all")
    return JobTrace(workload, jobs, tenants, tuple(notes))


def _cluster_tenants(jobs: Sequence[BatchJob], node_gpus: int) -> tuple[Tenant, ...]:
    by_source: dict[str, list[BatchJob]] = {}
    for job in jobs:
        by_source.setdefault(job.source, []).append(job)
    return tuple(
        Tenant(source, node_gpus * math.ceil(peak_gpus(group) / node_gpus), f"{source}.csv peak")
        for source, group in sorted(by_source.items())
    )


def _count(number: int, noun: str) -> str:
    """`1 gang`, `2 gangs`, `1,000 gangs`."""
    return f"{number:,} {noun}{'' if number == 1 else 's'}"
