"""The summary tables `dralloc simulate` and `dralloc simulate merge` print: per workload and
policy, the medians over seeds (`sim.summaries`), drawn on a terminal, plain columns in a pipe
(`cli.tables`). Printing only: the runs are read, never changed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dralloc.sim.campaign import ReplayRun, RunCurves
    from dralloc.sim.summaries import ReplayPolicySummary

__all__ = ["print_fgd_table", "print_replay_tables"]


def print_fgd_table(runs: Sequence[RunCurves], prices: Mapping[str, float]) -> None:
    """The FGD experiment's table: at 100% of GPU capacity arrived, per workload and policy."""
    from dralloc.cli.tables import Column, TextTable
    from dralloc.sim.summaries import summarize

    headers = (
        "workload",
        "policy",
        "runs",
        "unallocated GPU %",
        "fragmentation %",
        "placed",
        "stranded USD/h",
    )
    table = TextTable(
        [Column(h, "left" if h in ("workload", "policy") else "right") for h in headers],
        title="At 100% of GPU capacity arrived (median over seeds)",
    )
    for row in summarize(runs, prices):
        table.add_row(
            row.workload,
            row.policy,
            str(row.runs),
            "-" if row.unallocated_at_100 is None else f"{row.unallocated_at_100:.1f}",
            "-" if row.fragmentation_at_100 is None else f"{row.fragmentation_at_100:.1f}",
            f"{100 * row.scheduled_share:.1f}%",
            "-" if row.stranded_usd_per_hour is None else f"{row.stranded_usd_per_hour:,.2f}",
        )
    table.print(highlight=True)


def print_replay_tables(runs: Sequence[ReplayRun], prices: Mapping[str, float]) -> None:
    """One table per workload of the replays: waits, utilization, cost, and the queues' and
    the fleet's figures when the runs have them."""
    from dralloc.cli.tables import Column, TextTable
    from dralloc.sim.summaries import summarize_replays

    rows = summarize_replays(runs, prices)
    for workload in dict.fromkeys(row.workload for row in rows):
        group = [row for row in rows if row.workload == workload]
        seeds = group[0].runs
        queued = any(row.queues for row in group)
        scaled = any(r.autoscaling is not None for r in runs if r.spec.workload == workload)
        evicting = any(r.summary.evictions_total for r in runs if r.spec.workload == workload)
        headers = (
            "policy",
            *(("queues",) if queued else ()),
            # With queues, the jobs' waits (arrival to every pod running), as report.html.
            *(("job wait p50", "job wait p95") if queued else ("wait p50", "wait p95")),
            "util %",
            "completed GPU-h",  # report.html's: the work USD/GPU-h divides by
            "capacity USD",
            "USD/GPU-h",
            "pending",
            *(("evictions", "lost GPU-h") if evicting else ()),
            *(("Jain", "stuck", "preempted", "frag %") if queued else ()),
            *(("billed USD", "ups", "downs") if scaled else ()),
        )
        table = TextTable(
            [Column(h, "left" if h == "policy" else "right") for h in headers],
            title=workload,
            caption=_replay_caption(seeds, scaled, queued, evicting),
        )
        for row in group:
            p50, p95 = (
                (row.job_wait_p50, row.job_wait_p95) if queued else (row.wait_p50, row.wait_p95)
            )
            table.add_row(
                row.policy,
                *((row.queues,) if queued else ()),
                "-" if p50 is None else _compact(p50),
                "-" if p95 is None else _compact(p95),
                f"{100 * row.mean_utilization:.1f}",
                _compact(row.capacity.completed_gpu_hours),
                _compact(row.capacity.provisioned),
                "-" if (rate := row.capacity.per_completed_gpu_hour) is None else f"{rate:.2f}",
                f"{row.pending:g}",
                *(_eviction_cells(runs, workload, row.policy, row.queues) if evicting else ()),
                *(
                    (
                        "-" if row.jain is None else f"{row.jain:.3f}",
                        f"{row.stuck:g}",
                        f"{row.preemptions:g}",
                        _fragmented_pct(row),
                    )
                    if queued
                    else ()
                ),
                *(_fleet_cells(runs, workload, row.policy, row.queues) if scaled else ()),
            )
        table.print(highlight=True)


def _fragmented_pct(row: ReplayPolicySummary) -> str:
    """The fragmented share of the capacity, in %, as report.html's table prints it (its
    used / fragmented / idle %), so both read the same figure rounded the same way."""
    total = row.capacity.provisioned or 1.0
    return f"{100 * row.capacity.fragmented / total:.1f}"


def _replay_caption(seeds: int, scaled: bool, queued: bool = False, evicting: bool = False) -> str:
    """What the replay table's figures are, the two costs above all: the capacity's (GPU
    prices) and, with an autoscaled fleet, the bill (node prices)."""
    waits = "job waits (arrival to every pod running)" if queued else "waits"
    caption = (
        f"median over {seeds} seed{'s' * (seeds != 1)}; {waits} in seconds; capacity USD: every "
        "provisioned GPU-hour at its GPU model's price (--price); USD/GPU-h: capacity USD per "
        "GPU-hour of completed work"
    )
    if queued:
        caption += "; frag %: the capacity's fragmented share, as report.html's"
    if scaled:
        caption += "; billed USD: the fleet's node-hours at its shapes' node prices (--autoscaling)"
    if evicting:
        caption += (
            "; evictions: runs of pods stopped before completing; lost GPU-h: the GPU time "
            "they held (replay.csv has them by cause)"
        )
    return caption


def _eviction_cells(
    runs: Sequence[ReplayRun], workload: str, policy: str, queues: str
) -> list[str]:
    """The evictions and the GPU-hours they lost: medians over the row's seeds."""
    from statistics import median

    summaries = [
        run.summary
        for run in runs
        if run.spec.workload == workload and run.spec.policy == policy and run.spec.queues == queues
    ]
    if not summaries:
        return ["-", "-"]
    return [
        f"{median(s.evictions_total for s in summaries):g}",
        f"{median(s.lost_gpu_hours for s in summaries):,.1f}",
    ]


def _fleet_cells(runs: Sequence[ReplayRun], workload: str, policy: str, queues: str) -> list[str]:
    """The fleet's billed USD, scale-ups and scale-downs: medians over the row's seeds."""
    from statistics import median

    fleets = [
        run.autoscaling
        for run in runs
        if run.spec.workload == workload
        and run.spec.policy == policy
        and run.spec.queues == queues
        and run.autoscaling is not None
    ]
    if not fleets:
        return ["-", "-", "-"]
    return [
        _compact(median(f.billed_total for f in fleets)),
        f"{median(f.scale_ups for f in fleets):g}",
        f"{median(f.scale_downs for f in fleets):g}",
    ]


def _compact(value: float) -> str:
    """A number for a narrow table cell: 950, 12.3k, 2.38M (the CSV has every digit)."""
    if abs(value) >= 1e9:
        return f"{value / 1e9:.2f}G"
    if abs(value) >= 1e6:
        return f"{value / 1e6:.2f}M"
    if abs(value) >= 1e4:
        return f"{value / 1e3:.1f}k"
    return f"{value:,.0f}"
