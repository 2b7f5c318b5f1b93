"""The batch-job model: what a job trace is turned into before a replay with gangs and queues.

A job trace differs from the pod traces (`model.TracePod`): a row is a *job* of `workers`
identical pods that must start together (a gang) and run for `duration` seconds once they do,
submitted at `arrival` on behalf of a `tenant` whose queue has a nominal GPU quota. Each loader
(`itp`, `synthetic_jobs`, the DLRM conversion in `job_resolve`) reads its trace into these
records; `dralloc.sim.batch_objects` turns them into the Kubernetes objects a user would apply
(Kueue queues, Indexed Jobs, PodGroups). Pure values and arithmetic, no I/O and no state.

- `BatchJob`: one job. Times in seconds from the trace's start; `duration` None means the job
  outlives the trace's window. GPUs are whole GPUs: `gpus_per_worker` on each of `workers`
  pods, so the job asks for `total_gpus = workers * gpus_per_worker`.
- `Tenant`: a team with a queue and a nominal quota of whole GPUs (`gpu_quota`), and where the
  quota came from (`source`, e.g. `Venus/vcEwI@2020-09-28`).
- `JobTrace`: the jobs, the tenants they are assigned to, and notes saying which choices
  made them (seed, mapping), so results can state them.

Two choices every loader shares live here:

- **Gang shape** (`split_gang`): a job of `n` GPUs runs on one node when `n <= node_gpus`
  (one worker of `n` GPUs) and otherwise as `n / node_gpus` workers of a whole node each. This
  is how ElasticFlow places the trace's jobs (8-GPU servers, buddy allocation of power-of-two
  GPU counts; its testbed is 16 x 8 A100) and how data-parallel training jobs larger than a
  node are usually shaped. A count above a node that is not a multiple of `node_gpus` cannot
  be split into equal workers and is refused.
- **Tenant assignment** (`assign_tenants`): a trace without tenants gets them from a seeded
  `random.Random`: each job independently goes to a tenant with probability proportional to
  the tenant's quota (`weighting="quota"`: a team with more GPUs submits more work) or
  uniformly (`weighting="uniform"`). The order of draws is the jobs' order, so one seed gives
  one assignment everywhere.

Example::

    split_gang(32, node_gpus=8)  # (4, 8): four workers of 8 GPUs
    split_gang(4, node_gpus=8)  # (1, 4)
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Final, Literal

__all__ = [
    "NODE_GPUS",
    "BatchJob",
    "JobTrace",
    "Tenant",
    "TenantWeighting",
    "assign_tenants",
    "gang_histogram",
    "peak_gpus",
    "split_gang",
]

NODE_GPUS: Final = 8
"""GPUs per node the gang split assumes by default: an 8-GPU server (DGX/HGX class, and the
ElasticFlow testbed's nodes)."""

TenantWeighting = Literal["quota", "uniform"]


@dataclass(frozen=True, slots=True)
class BatchJob:
    """One batch job of a trace (see the module docstring for units).

    `trace_id` is the id the trace gave the job (ElasticFlow's UUID; empty when generated),
    `source` the file or generator it came from (`cluster04`), `line` its row in that file
    (provenance, not part of equality).

        BatchJob("itp-c04-00017", arrival=1999.0, duration=3600.0, workers=4, gpus_per_worker=8)
    """

    name: str
    arrival: float
    duration: float | None
    workers: int
    gpus_per_worker: int
    tenant: str = ""
    priority: int = 0
    trace_id: str = ""
    source: str = ""
    line: int = field(default=0, compare=False)

    @property
    def total_gpus(self) -> int:
        return self.workers * self.gpus_per_worker

    @property
    def is_gang(self) -> bool:
        """More than one pod that must start together."""
        return self.workers > 1

    @property
    def end(self) -> float | None:
        """When the job would end if it started at its arrival (None: never in the window)."""
        return None if self.duration is None else self.arrival + self.duration


@dataclass(frozen=True, slots=True)
class Tenant:
    """A team with a queue: `gpu_quota` whole GPUs of nominal quota, from `source`.

    Tenant("vcEwI", gpu_quota=72, source="Venus/vcEwI@2020-09-28")
    """

    name: str
    gpu_quota: int
    source: str = ""


@dataclass(frozen=True)
class JobTrace:
    """Jobs in arrival order, the tenants they belong to, and how they were made (`notes`).

    `workload` is the name the user gave (`itp-elasticflow:cluster=04,seed=3`).
    """

    workload: str
    jobs: tuple[BatchJob, ...]
    tenants: tuple[Tenant, ...]
    notes: tuple[str, ...] = ()

    @property
    def total_quota(self) -> int:
        return sum(t.gpu_quota for t in self.tenants)

    def jobs_of(self, tenant: str) -> tuple[BatchJob, ...]:
        return tuple(j for j in self.jobs if j.tenant == tenant)


def split_gang(num_gpu: int, node_gpus: int = NODE_GPUS) -> tuple[int, int] | None:
    """`(workers, gpus_per_worker)` for a job of `num_gpu` GPUs on nodes of `node_gpus`, or
    None when `num_gpu` is above a node and not a multiple of it (no equal split)."""
    if num_gpu <= node_gpus:
        return 1, num_gpu
    if num_gpu % node_gpus:
        return None
    return num_gpu // node_gpus, node_gpus


def assign_tenants(
    jobs: Sequence[BatchJob],
    tenants: Sequence[Tenant],
    rng: random.Random,
    weighting: TenantWeighting = "quota",
) -> tuple[BatchJob, ...]:
    """`jobs` with each one's `tenant` drawn from `tenants` (see the module docstring).

    One draw per job, in the jobs' order. A tenant with quota 0 gets no job under `quota`
    weighting; if every quota is 0 the draw is uniform.
    """
    if not tenants:
        raise ValueError("assign_tenants needs at least one tenant")
    names = [t.name for t in tenants]
    weights = [float(t.gpu_quota) for t in tenants]
    if weighting == "uniform" or not any(weights):
        weights = [1.0] * len(tenants)
    drawn = rng.choices(names, weights, k=len(jobs))
    return tuple(replace(job, tenant=name) for job, name in zip(jobs, drawn, strict=True))


def gang_histogram(jobs: Iterable[BatchJob]) -> dict[int, int]:
    """Jobs per total GPU count, smallest first."""
    return dict(sorted(Counter(j.total_gpus for j in jobs).items()))


def peak_gpus(jobs: Iterable[BatchJob]) -> int:
    """The most GPUs in use at once if every job started on arrival ("peak zero-wait GPUs";
    a job without a duration holds its GPUs to the end). A job ending at `t` frees its GPUs
    before one arriving at `t` takes them."""
    events: list[tuple[float, int]] = []
    for job in jobs:
        events.append((job.arrival, job.total_gpus))
        if job.end is not None:
            events.append((job.end, -job.total_gpus))
    events.sort()
    peak = used = 0
    for _, delta in events:
        used += delta
        peak = max(peak, used)
    return peak
