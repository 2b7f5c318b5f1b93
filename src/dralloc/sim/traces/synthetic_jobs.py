"""A seeded synthetic batch-job trace with tenants and gangs: `synthetic-jobs[:key=value,...]`.

This module owns generating a `JobTrace` from a handful of options, so a replay with gangs
and queues can be studied at any size without a real trace, and so tests get job traces of
any shape. Pure computation: randomness comes only from `random.Random(seed)`, so the same
options give the same trace on every machine and in every process.

The model (every option, with its default, is a field of `SyntheticJobs`):

- **Tenants.** `tenants` tenants named `team-a`, `team-b`, ... Each tenant's quota is drawn
  uniformly from `quotas` (GPUs, `|`-separated; default 32|64|128|256, whole 8-GPU nodes and
  the range of Helios' VC quotas, 8 to 256).
- **Arrivals** are a Poisson process: exponential gaps with mean `1/rate` seconds (default
  0.0134/s, the ITP trace's 69,351 jobs over its 60 days).
- **Durations** are lognormal with median `median` seconds (default 10,537 s, the ITP
  trace's median) and shape `sigma` (default 1.2, between the ITP trace's lower and upper
  spread), raised to at least `min_duration` (600 s: the ITP trace has no shorter job).
- **Sizes.** A job's GPUs are drawn from `gpus` with relative `weights` (defaults: 1, 2, 4, 8,
  16, 32 and 64 GPUs weighted by the ITP trace's job counts, 57,682 ... 71); it becomes
  workers by `jobs.split_gang` on nodes of `node_gpus`, so 16 GPUs are a gang of 2 x 8.
- **Tenant of a job**: drawn with probability proportional to the tenants' quotas
  (`weighting=quota`) or uniformly (`weighting=uniform`).
- **Priority**: drawn uniformly from `priorities` (`|`-separated integers; default 0).

Each job draws, in this order: gap, duration, size, tenant, priority. Options that make no
sense (a weight below 0, a count that cannot be split into workers) are refused with an
InputError naming the option.

Example::

    trace = generate_jobs("synthetic-jobs:jobs=500,tenants=3,seed=7")
    len(trace.jobs), [t.gpu_quota for t in trace.tenants]
"""

from __future__ import annotations

import math
import random
import string
from dataclasses import dataclass
from typing import Final

from dralloc.errors import InputError, Problem
from dralloc.sim.options import parse_options, split_workload
from dralloc.sim.traces.jobs import NODE_GPUS, BatchJob, JobTrace, Tenant, split_gang

__all__ = ["NAME", "SyntheticJobs", "draw_jobs", "draw_tenants", "generate_jobs"]

NAME: Final = "synthetic-jobs"
ITP_GPUS: Final = "1|2|4|8|16|32|64"
ITP_WEIGHTS: Final = "57682|1483|2371|7009|381|354|71"


@dataclass(frozen=True)
class SyntheticJobs:
    """The options of `synthetic-jobs:key=value,...` (see the module docstring for each one's
    meaning and the source of its default)."""

    seed: int = 1
    jobs: int = 2000
    tenants: int = 4
    quotas: str = "32|64|128|256"  # GPUs, one drawn per tenant
    weighting: str = "quota"  # or uniform
    rate: float = 0.0134  # arrivals per second
    median: float = 10537.0  # seconds
    sigma: float = 1.2
    min_duration: float = 600.0  # seconds
    gpus: str = ITP_GPUS  # GPUs per job, `|`-separated
    weights: str = ITP_WEIGHTS  # relative weight of each `gpus` value
    node_gpus: int = NODE_GPUS
    priorities: str = "0"


@dataclass(frozen=True)
class _Parsed:
    quotas: list[int]
    gpus: list[int]
    weights: list[float]
    priorities: list[int]


def _integers(text: str, *, signed: bool = False) -> list[int] | None:
    try:
        values = [int(p) for p in text.split("|")]
    except ValueError:
        return None
    return values if signed or all(v >= 0 for v in values) else None


def _check(o: SyntheticJobs, where: str) -> tuple[_Parsed, list[Problem]]:
    problems: list[Problem] = []

    def bad(key: str, message: str) -> None:
        problems.append(Problem("", where, key, message))

    if o.jobs < 0:
        bad("jobs", f"must be ≥ 0, got {o.jobs}")
    if not 1 <= o.tenants <= 26 * 26:
        bad("tenants", f"must be 1-676, got {o.tenants}")
    if o.node_gpus < 1:
        bad("node_gpus", f"must be ≥ 1, got {o.node_gpus}")
    for key in ("rate", "median"):
        if not getattr(o, key) > 0:
            bad(key, f"must be > 0, got {getattr(o, key)}")
    for key in ("sigma", "min_duration"):
        if getattr(o, key) < 0:
            bad(key, f"must be ≥ 0, got {getattr(o, key)}")
    if o.weighting not in ("quota", "uniform"):
        bad("weighting", f"must be quota or uniform, got {o.weighting!r}")
    quotas = _integers(o.quotas)
    if not quotas or not all(q >= 1 for q in quotas):
        bad("quotas", f"expected GPU counts ≥ 1 (a|b|...), got {o.quotas!r}")
        quotas = []
    gpus = _integers(o.gpus)
    if not gpus or not all(g >= 1 for g in gpus):
        bad("gpus", f"expected GPU counts ≥ 1 (a|b|...), got {o.gpus!r}")
        gpus = []
    elif o.node_gpus >= 1:
        for g in gpus:
            if split_gang(g, o.node_gpus) is None:
                bad("gpus", f"{g} GPUs cannot be split into workers of node_gpus={o.node_gpus}")
    try:
        weights = [float(w) for w in o.weights.split("|")]
    except ValueError:
        weights = []
    if not weights or not all(math.isfinite(w) and w >= 0 for w in weights) or not any(weights):
        bad("weights", f"expected relative weights ≥ 0, not all 0 (a|b|...), got {o.weights!r}")
        weights = []
    elif gpus and len(weights) != len(gpus):
        bad("weights", f"{len(weights)} weights for {len(gpus)} values of gpus")
    priorities = _integers(o.priorities, signed=True)
    if not priorities:
        bad("priorities", f"expected whole numbers (a|b|...), got {o.priorities!r}")
        priorities = []
    return _Parsed(quotas, gpus, weights, priorities), problems


def generate_jobs(workload: str) -> JobTrace:
    """The trace `synthetic-jobs[:key=value,...]` names. InputError for a bad option."""
    name, text = split_workload(workload)
    if name != NAME:
        raise InputError([Problem("", "", "", f"not a synthetic job workload: {workload!r}")])
    options = parse_options(workload, text, SyntheticJobs())
    parsed, problems = _check(options, f"--trace {workload}")
    if problems:
        raise InputError(problems)
    rng = random.Random(options.seed)
    tenants = draw_tenants(options, parsed.quotas, rng)
    jobs = draw_jobs(options, tenants, parsed.gpus, parsed.weights, parsed.priorities, rng)
    notes = (
        f"{len(jobs):,} synthetic jobs (seed {options.seed}), {len(tenants)} tenants"
        f" ({sum(t.gpu_quota for t in tenants):,} GPUs of quota),"
        f" {_count(sum(j.is_gang for j in jobs), 'multi-worker gang')}",
    )
    return JobTrace(workload, tuple(jobs), tenants, notes)


def _tenant_name(index: int) -> str:
    letters = string.ascii_lowercase
    if index < len(letters):
        return f"team-{letters[index]}"
    return f"team-{letters[index // 26 - 1]}{letters[index % 26]}"


def draw_tenants(o: SyntheticJobs, quotas: list[int], rng: random.Random) -> tuple[Tenant, ...]:
    """`o.tenants` tenants, each quota drawn uniformly from `quotas`, first of all draws."""
    return tuple(
        Tenant(_tenant_name(i), rng.choice(quotas), f"synthetic seed {o.seed}")
        for i in range(o.tenants)
    )


def draw_jobs(
    o: SyntheticJobs,
    tenants: tuple[Tenant, ...],
    gpus: list[int],
    weights: list[float],
    priorities: list[int],
    rng: random.Random,
) -> list[BatchJob]:
    """The jobs of options `o`, drawn from `rng` in one fixed order per job (gap, duration,
    size, tenant, priority), so a seed gives one trace everywhere."""
    names = [t.name for t in tenants]
    shares = [float(t.gpu_quota) for t in tenants] if o.weighting == "quota" else None
    jobs: list[BatchJob] = []
    clock = 0.0
    width = max(5, len(str(o.jobs - 1)))
    for index in range(o.jobs):
        clock += rng.expovariate(o.rate)
        duration = max(o.min_duration, rng.lognormvariate(math.log(o.median), o.sigma))
        total = rng.choices(gpus, weights)[0]
        tenant = rng.choices(names, shares)[0]
        priority = rng.choice(priorities)
        split = split_gang(total, o.node_gpus)
        assert split is not None, "_check refuses sizes that cannot be split"
        workers, per_worker = split
        jobs.append(
            BatchJob(
                f"syn-job-{index:0{width}d}",
                round(clock, 3),
                round(duration, 3),
                workers,
                per_worker,
                tenant,
                priority,
                source=NAME,
            )
        )
    return jobs


def _count(number: int, noun: str) -> str:
    """`1 gang`, `2 gangs`, `1,000 gangs`."""
    return f"{number:,} {noun}{'' if number == 1 else 's'}"
