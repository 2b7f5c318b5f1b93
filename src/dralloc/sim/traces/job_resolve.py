"""Which batch-job traces the simulator can replay with gangs and queues, by the name users
give them, already converted to `jobs.JobTrace`:

- `itp-elasticflow[:key=value,...]`: Microsoft ITP's training jobs (`traces.itp`), tenants
  from Helios VC quotas (`traces.helios`) or one per cluster file;
- `dlrm-jobs[:key=value,...]`: the Alibaba DLRM trace's GPU instances (`traces.dlrm`), one
  single-worker job each, one tenant per app (below);
- `synthetic-jobs[:key=value,...]`: the seeded generator (`traces.synthetic_jobs`).

The DLRM conversion lives here because it only re-reads `dlrm`'s records. Each `HN`
instance (7,386, one GPU each) is a job of one worker asking for its `gpu_request` GPUs, on
behalf of its app (156 apps, the trace's only grouping, so the tenant is the team that owns
the service). Times follow `dlrm`'s rules: no `creation_time` means it arrives at 0, no
`deletion_time` that it runs past the window (duration None). An app's quota is its peak
concurrent GPUs in the trace's own times (the least that runs it without waiting), or those
peaks rescaled to `quota_total` GPUs. `CN` instances ask for no GPU and are left out. It is an
inference trace: its "jobs" are service replicas, so it exercises queues and quotas, not gangs.

Loading only; each loader's docstring says how it reads its trace and converts its records.

Example::

    trace = resolve_job_trace("synthetic-jobs:jobs=300,seed=4")
    trace.notes[0]
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from dralloc.errors import InputError, Problem
from dralloc.sim.options import parse_options, split_workload
from dralloc.sim.traces import dlrm, helios, itp, synthetic_jobs
from dralloc.sim.traces.jobs import BatchJob, JobTrace, Tenant, peak_gpus
from dralloc.sim.traces.rows import read_text

__all__ = [
    "DLRM_JOBS",
    "JOB_TRACES",
    "DlrmJobs",
    "dlrm_batch_job",
    "dlrm_job_trace",
    "resolve_job_trace",
]

DLRM_JOBS: Final = "dlrm-jobs"
JOB_TRACES: Final = (
    "itp-elasticflow[:key=value,...]",
    "dlrm-jobs[:key=value,...]",
    "synthetic-jobs[:key=value,...]",
)


@dataclass(frozen=True)
class DlrmJobs:
    """The options of `dlrm-jobs:key=value,...`: `quota_total` rescales the apps' peak GPUs
    to this many GPUs in all (0: the peaks as they are)."""

    quota_total: int = 0


def dlrm_batch_job(instance: dlrm.DlrmInstance) -> BatchJob:
    """One GPU instance as a one-worker job of its app (see the module docstring)."""
    arrival = instance.creation_time or 0.0
    end = instance.deletion_time
    return BatchJob(
        f"dlrm-{instance.name.replace('_', '-').lower()}",
        arrival,
        None if end is None else end - arrival,
        1,
        instance.gpus,
        instance.app,
        trace_id=instance.name,
        source=dlrm.FILE_NAME,
        line=instance.line,
    )


def dlrm_job_trace(
    workload: str, instances: Sequence[dlrm.DlrmInstance], options: DlrmJobs
) -> JobTrace:
    """The `HN` instances of the DLRM trace as jobs, one tenant per app."""
    jobs = sorted(
        (dlrm_batch_job(i) for i in instances if i.role is dlrm.Role.HN),
        key=lambda j: (j.arrival, j.line),
    )
    by_app: dict[str, list[BatchJob]] = {}
    for job in jobs:
        by_app.setdefault(job.tenant, []).append(job)
    tenants: tuple[Tenant, ...] = tuple(
        sorted(
            (
                Tenant(app, peak_gpus(group), f"{dlrm.FILE_NAME} peak")
                for app, group in by_app.items()
            ),
            key=lambda t: (-t.gpu_quota, t.name),
        )
    )
    notes = [
        f"{len(jobs):,} GPU instances of {len(instances):,} as one-worker jobs;"
        f" {len(tenants)} apps as tenants, quota = the app's peak GPUs"
    ]
    if options.quota_total:
        tenants = helios.scale_quotas(tenants, options.quota_total, granularity=1)
        notes.append(f"quotas rescaled to {options.quota_total:,} GPUs in all")
    return JobTrace(workload, tuple(jobs), tenants, tuple(notes))


def resolve_job_trace(workload: str, trace_dir: str | os.PathLike[str] | None = None) -> JobTrace:
    """The job trace `workload` names. InputError for an unknown name, bad options, missing or
    malformed files (each loader's errors)."""
    name, text = split_workload(workload)
    if name == itp.NAME:
        return itp.resolve_itp(workload, trace_dir)
    if name == synthetic_jobs.NAME:
        return synthetic_jobs.generate_jobs(workload)
    if name == DLRM_JOBS:
        options = parse_options(workload, text, DlrmJobs())
        if options.quota_total < 0:
            message = f"must be ≥ 0, got {options.quota_total}"
            raise InputError([Problem("", f"--trace {workload}", "quota_total", message)])
        path = dlrm.find_file(trace_dir)
        instances = dlrm.parse_instances(read_text(path), str(path))
        return dlrm_job_trace(workload, instances, options)
    known = ", ".join(JOB_TRACES)
    message = f"unknown job workload {workload!r}, expected one of {known}"
    raise InputError([Problem("", "", "", message)])
