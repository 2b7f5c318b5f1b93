"""A campaign's figures per (workload, policy): medians over seeds, for the summary tables and
the reports' answers.

FGD mode (`summarize`): at arrived workload x = 100%, the unallocated and fragmented GPU share,
pods placed and, with prices, the hourly cost of the stranded capacity. Replay mode
(`summarize_replays`): waits, utilization, GPU-hours, the cost of capacity (`sim.costs`) split
into used, fragmented and idle, and with queues Jain's index, stuck jobs and fragmentation.
Pure functions of the runs.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dralloc.sim.campaign import ReplayRun, RunCurves
from dralloc.sim.costs import CapacityCost, CapacityHours, stranded_cost_per_hour
from dralloc.sim.fgd import ARRIVAL_AXIS
from dralloc.sim.replay.results import percentile

__all__ = ["PolicySummary", "ReplayPolicySummary", "summarize", "summarize_replays"]


@dataclass(frozen=True)
class PolicySummary:
    workload: str
    policy: str
    runs: int
    unallocated_at_100: float | None  # median over seeds, percent of GPU capacity
    fragmentation_at_100: float | None
    scheduled_share: float  # median share of arrivals placed
    # USD per hour of the GPUs unallocated at x = 100% (median over seeds), with prices.
    stranded_usd_per_hour: float | None = None


def summarize(
    runs: Sequence[RunCurves], prices: Mapping[str, float] | None = None
) -> list[PolicySummary]:
    """Per (workload, policy), medians over seeds at arrived workload x = 100%; with
    `prices`, the hourly cost of the stranded capacity (KeyError for an unpriced model)."""
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
                stranded_usd_per_hour=_stranded(group, prices),
            )
        )
    return summary


def _stranded(group: Sequence[RunCurves], prices: Mapping[str, float] | None) -> float | None:
    if prices is None:
        return None
    costs = [
        stranded_cost_per_hour(r.unallocated_at_100, r.catalog, prices)
        for r in group
        if r.unallocated_at_100
    ]
    return statistics.median(costs) if costs else None


@dataclass(frozen=True)
class ReplayPolicySummary:
    """Per (workload, policy), medians over seeds: waiting in seconds, utilization 0..1,
    GPU-hours, USD, pods still pending at the end. `wait_*` count to the start of each pod's
    last run (the one that completed), `first_start_wait_*` to its first start; they differ
    by what evictions cost in waiting. `evictions` counts the runs stopped before completing
    (every cause) and `lost_gpu_hours` their GPU time (`ReplaySummary`)."""

    workload: str
    policy: str
    runs: int
    wait_p50: float | None
    wait_p95: float | None
    mean_utilization: float
    gpu_hours: float
    cost: float
    pending: float
    queues: str = ""
    jain: float | None = None
    stuck: float = 0.0
    mean_fragmentation: float = 0.0
    # The cost of capacity: each part the median over seeds (GPU-hours summed over models).
    capacity: CapacityCost = field(default_factory=lambda: CapacityCost(0.0, 0.0, 0.0, 0.0))
    hours: CapacityHours = field(default_factory=lambda: CapacityHours(0.0, 0.0, 0.0))
    makespan: float = 0.0  # seconds, median
    # With queues: job waits (arrival -> every pod running) in seconds, preemptions, and
    # the USD of allocated GPU time whose work did not complete (pods preempted, evicted
    # or still running at the end): medians over seeds.
    job_wait_p50: float | None = None
    job_wait_p95: float | None = None
    preemptions: float = 0.0
    unfinished_cost: float = 0.0
    unfinished_gpu_hours: float = 0.0
    first_start_wait_p50: float | None = None
    first_start_wait_p95: float | None = None
    evictions: float = 0.0
    lost_gpu_hours: float = 0.0

    @property
    def label(self) -> str:
        """The policy, with its queue policy when queues were asked for (`fgd / fair`)."""
        return f"{self.policy} / {self.queues}" if self.queues else self.policy


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarize_replays(
    runs: Sequence[ReplayRun], prices: Mapping[str, float]
) -> list[ReplayPolicySummary]:
    groups: dict[tuple[str, str, str], list[ReplayRun]] = {}
    for run in runs:
        groups.setdefault((run.spec.workload, run.spec.policy, run.spec.queues), []).append(run)
    return [
        ReplayPolicySummary(
            workload=workload,
            policy=policy,
            runs=len(group),
            wait_p50=_median([r.summary.wait_p50 for r in group]),
            wait_p95=_median([r.summary.wait_p95 for r in group]),
            mean_utilization=statistics.median(r.summary.mean_utilization for r in group),
            gpu_hours=statistics.median(r.summary.gpu_hours for r in group),
            cost=statistics.median(sum(r.cost(prices).values()) for r in group),
            pending=statistics.median(r.summary.pending for r in group),
            queues=queues,
            jain=_median([r.jain for r in group]),
            stuck=statistics.median(r.stuck for r in group),
            mean_fragmentation=statistics.median(r.summary.mean_fragmentation for r in group),
            capacity=_median_cost([r.capacity_cost(prices) for r in group]),
            hours=_median_hours([r.capacity_hours() for r in group]),
            makespan=statistics.median(r.summary.makespan for r in group),
            job_wait_p50=_median([percentile(r.job_waits, 50) for r in group]),
            job_wait_p95=_median([percentile(r.job_waits, 95) for r in group]),
            preemptions=statistics.median(r.preemptions for r in group),
            unfinished_cost=statistics.median(_unfinished(r, prices)[1] for r in group),
            unfinished_gpu_hours=statistics.median(_unfinished(r, prices)[0] for r in group),
            first_start_wait_p50=_median([r.summary.first_start_wait_p50 for r in group]),
            first_start_wait_p95=_median([r.summary.first_start_wait_p95 for r in group]),
            evictions=statistics.median(r.summary.evictions_total for r in group),
            lost_gpu_hours=statistics.median(r.summary.lost_gpu_hours for r in group),
        )
        for (workload, policy, queues), group in groups.items()
    ]


def _unfinished(run: ReplayRun, prices: Mapping[str, float]) -> tuple[float, float]:
    """GPU-hours allocated to work that did not complete, and their USD at the run's mean
    price of a used GPU-hour (completed work is not split by model)."""
    used = sum(h.used for h in run.capacity_hours().values())
    hours = max(0.0, used - run.completed_gpu_hours)
    if used <= 0:
        return hours, 0.0
    return hours, hours * run.capacity_cost(prices).used / used


def _median_cost(costs: Sequence[CapacityCost]) -> CapacityCost:
    return CapacityCost(
        statistics.median(c.used for c in costs),
        statistics.median(c.fragmented for c in costs),
        statistics.median(c.idle for c in costs),
        statistics.median(c.completed_gpu_hours for c in costs),
    )


def _median_hours(runs: Sequence[Mapping[str, CapacityHours]]) -> CapacityHours:
    totals = [
        CapacityHours(
            sum(h.provisioned for h in run.values()),
            sum(h.used for h in run.values()),
            sum(h.fragmented for h in run.values()),
        )
        for run in runs
    ]
    return CapacityHours(
        statistics.median(h.provisioned for h in totals),
        statistics.median(h.used for h in totals),
        statistics.median(h.fragmented for h in totals),
    )
