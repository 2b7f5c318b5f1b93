"""`report.html` of a replay: the answer first (what a completed GPU-hour of work costs under
each policy, which is cheapest and by how much), then the evidence, then the provenance.

The answer, per workload: one sentence naming the policy with the lowest USD per completed
GPU-hour (the capacity's cost, `sim.costs`, divided by the GPU-hours of the pods that ran to
completion), what it saves over the next for the same work, and where its capacity's money
went (used, fragmented, idle); then the table per policy (medians over seeds): USD per
completed GPU-hour, the saving of the best over it, the capacity's USD split, the GPUs
fragmented on average, the work completed, waits and pods still pending.

The evidence, per workload:

* the capacity's cost per policy, stacked: used, fragmented, idle (median over seeds);
* GPU utilization over time per policy (median over seeds at each sample time), the axis
  zoomed to the values;
* pods pending over time per policy (median over seeds);
* the waiting time CDF per policy, every started pod of every seed, both axes scaled to where
  the curves are (the share that never waited is where each curve starts);
* with queues (`--queues`, each run labelled `policy / queue policy`): per ClusterQueue a box
  of its jobs' waits per policy, Jain's index over tenants beside the jobs admitted but stuck
  unschedulable (medians over seeds), and the fragmented GPU share over time (FGD's F(M)
  against the trace's typical pods, median over seeds).
"""

from __future__ import annotations

import html
import math
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path

import plotly.graph_objects as go

from dralloc.sim.campaign import ReplayRun
from dralloc.sim.costs import saving
from dralloc.sim.pages import (
    figure_html,
    money,
    padded_range,
    section_html,
    swatch,
    table_html,
    write_page,
    write_plotly_js,
)
from dralloc.sim.prices import price_of
from dralloc.sim.provenance import Provenance
from dralloc.sim.styles import policy_style
from dralloc.sim.summaries import ReplayPolicySummary, summarize_replays

__all__ = ["write_replay_report"]

_HOUR = 3600.0
_CDF_POINTS = 2000  # per policy: enough for a smooth curve, small enough for the page
# Where the money went, in one colour each (these are parts of a bar, not policies).
_PART_COLORS = {"used": "#0072B2", "fragmented": "#D55E00", "idle": "#BBBBBB"}


def _label(run: ReplayRun) -> str:
    """The run's policy, with its queue policy when queues were asked for."""
    return f"{run.spec.policy} / {run.spec.queues}" if run.spec.queues else run.spec.policy


def _labels(runs: Sequence[ReplayRun]) -> list[str]:
    return list(dict.fromkeys(_label(r) for r in runs))


def _unit(value: float) -> tuple[float, str]:
    """The unit a duration reads best in: hours from 2 h, minutes from 10 min, else seconds
    (whole minutes would blur the waits of a short trace)."""
    if value >= 2 * _HOUR:
        return _HOUR, "h"
    if value >= 600:
        return 60.0, "min"
    return 1.0, "s"


def _seconds(value: float | None, unit: tuple[float, str] | None = None) -> str:
    """A duration in its own unit, or in `unit` so that a column's figures compare at a
    glance (218 s beside 116 s, not 4 min beside 116 s)."""
    if value is None:
        return ""
    scale, name = unit or _unit(value)
    digits = 1 if name == "h" else 0
    return f"{value / scale:,.{digits}f} {name}"


def _column_unit(values: Sequence[float | None]) -> tuple[float, str]:
    return _unit(max((v for v in values if v is not None), default=0.0))


# --------------------------------------------------------------------------------- answer


def _ranked(rows: Sequence[ReplayPolicySummary]) -> list[ReplayPolicySummary]:
    """Cheapest per completed GPU-hour (to the tenth of a cent) first, then the least
    fragmented; policies that completed nothing last."""
    return sorted(
        rows,
        key=lambda r: (
            r.capacity.per_completed_gpu_hour is None,
            round(r.capacity.per_completed_gpu_hour or 0.0, 3),
            r.capacity.fragmented,
            r.label,
        ),
    )


def _sentence(workload: str, rows: Sequence[ReplayPolicySummary]) -> str:
    ranked = _ranked(rows)
    best = ranked[0]
    rate = best.capacity.per_completed_gpu_hour
    if rate is None:
        return (
            f"<p class='headline'>On {html.escape(workload)} no pod ran to completion, so "
            "no policy's work can be priced.</p>"
        )
    total = best.capacity.provisioned
    split = (
        f"of its {money(total)} of GPU capacity, "
        f"{100 * best.capacity.used / total:.0f}% was used, "
        f"{100 * best.capacity.fragmented / total:.0f}% fragmented and "
        f"{100 * best.capacity.idle / total:.0f}% idle"
        if total > 0
        else "it had no capacity"
    )
    opening = (
        f"On {html.escape(workload)}, <b>{html.escape(best.label)}</b> completes its work at "
        f"{money(rate)} per GPU-hour"
    )
    if len(ranked) == 1:
        return f"<p class='headline'>{opening}; {split}.</p>"
    other = ranked[1]
    saved = saving(best.capacity, other.capacity)
    other_rate = other.capacity.per_completed_gpu_hour
    queued = bool(best.queues or other.queues)
    unfinished = _unfinished_clause(best, other) if queued else ""
    if saved is None or other_rate is None or _ties(best, other):
        fragments = other.capacity.fragmented - best.capacity.fragmented
        gpus = _fragmented_gpus(other) - _fragmented_gpus(best)
        # A few dollars or a hundredth of a GPU is noise beside the capacity's cost.
        stranded = (
            f" {html.escape(best.label)} leaves {money(abs(fragments))} "
            f"{'less' if fragments > 0 else 'more'} of it fragmented than "
            f"{html.escape(other.label)} ({abs(gpus):,.1f} GPUs on average)."
            if abs(fragments) >= 0.005 * max(total, 1.0) and abs(gpus) >= 0.05
            else ""
        )
        return (
            f"<p class='headline'>{opening}, as {html.escape(other.label)} does "
            f"(within 0.5%): the policies cost the same here; {split}.{stranded}"
            f"{_waits_clause(best, other, queued)}{unfinished}</p>"
        )
    gpus = _fragmented_gpus(other) - _fragmented_gpus(best)
    fewer = (
        f", with {abs(gpus):,.1f} GPUs {'fewer' if gpus > 0 else 'more'} fragmented on average"
        if abs(gpus) >= 0.05
        else ""
    )
    return (
        f"<p class='headline'>{opening}, <b>{money(saved)} less</b> for the same work than "
        f"the next best, {html.escape(other.label)} ({money(other_rate)} per GPU-hour){fewer}; "
        f"{split}.{unfinished}</p>"
    )


def _waits_clause(best: ReplayPolicySummary, other: ReplayPolicySummary, queued: bool) -> str:
    """Where two policies that cost the same differ: their waits. With queues, the jobs'
    (arrival to every pod running), which is what a queue policy changes; else the pods'."""
    if queued:
        pairs = ((best.job_wait_p50, other.job_wait_p50), (best.job_wait_p95, other.job_wait_p95))
        what = "job waits (arrival to every pod running)"
    else:
        pairs = ((best.wait_p50, other.wait_p50), (best.wait_p95, other.wait_p95))
        what = "waits"
    if all(a == b for a, b in pairs):
        return ""
    (b50, o50), (b95, o95) = pairs
    p50 = _column_unit([b50, o50])
    p95 = _column_unit([b95, o95])
    return (
        f" The difference is in the {what}: p50 {_seconds(b50, p50)} against "
        f"{_seconds(o50, p50)}, p95 {_seconds(b95, p95)} against "
        f"{_seconds(o95, p95)} for {html.escape(other.label)}."
    )


def _unfinished_clause(best: ReplayPolicySummary, other: ReplayPolicySummary) -> str:
    """With queues, what preemption cost: GPU time spent on work that did not complete."""
    if max(best.preemptions, other.preemptions) == 0 and (
        abs(best.unfinished_cost - other.unfinished_cost) < 1
    ):
        return ""
    parts = []
    for row in (best, other):
        count = f"{row.preemptions:g} preemption{'s' * (row.preemptions != 1)}"
        parts.append(
            f"{html.escape(row.label)} {money(row.unfinished_cost)} "
            f"({row.unfinished_gpu_hours:,.0f} GPU-h, {count})"
        )
    return (
        f" GPU time spent on work that did not complete (preempted, evicted or still "
        f"running at the end): {parts[0]}, {parts[1]}."
    )


def _ties(best: ReplayPolicySummary, other: ReplayPolicySummary) -> bool:
    """Whether `other` does its work for what `best` costs: a saving under 0.5 % of the best's
    capacity (a few dollars beside it are noise). The headline then says they tie, and the
    table marks no best."""
    saved = saving(best.capacity, other.capacity)
    return saved is not None and saved < 0.005 * max(best.capacity.provisioned, 1.0)


def _fragmented_gpus(row: ReplayPolicySummary) -> float:
    """GPUs fragmented on average over the charged window."""
    window = row.makespan / _HOUR
    return row.hours.fragmented / window if window > 0 else 0.0


def _table(rows: Sequence[ReplayPolicySummary]) -> str:
    ranked = _ranked(rows)
    best = ranked[0]
    # As the headline says: when the next best ties with the best, neither is marked.
    tied = len(ranked) > 1 and (
        saving(best.capacity, ranked[1].capacity) is None or _ties(best, ranked[1])
    )
    queued = any(row.queues for row in rows)
    headers = [
        "policy",
        "USD per completed GPU-h",
        "best saves",
        "capacity USD",
        "used / fragmented / idle %",
        "GPUs fragmented",
        "completed GPU-h",
        *(("job wait p50", "job wait p95") if queued else ("wait p50", "wait p95")),
        *(("preemptions", "unfinished work USD") if queued else ()),
        "pending at end",
    ]

    def waits(row: ReplayPolicySummary) -> tuple[float | None, float | None]:
        return (row.job_wait_p50, row.job_wait_p95) if queued else (row.wait_p50, row.wait_p95)

    p50 = _column_unit([waits(row)[0] for row in rows])
    p95 = _column_unit([waits(row)[1] for row in rows])
    cells = []
    for row in rows:
        cost = row.capacity
        total = cost.provisioned or 1.0
        rate = cost.per_completed_gpu_hour
        saved = saving(best.capacity, cost) if row is not best else None
        if saved is not None and _ties(best, row):
            saves = "same cost"  # within 0.5 %: the sentence above says they tie
        elif saved is not None:
            saves = money(saved)
        elif row is best:
            saves = "same cost" if tied else "best"
        else:
            saves = ""
        cells.append(
            [
                swatch(row.label),
                money(rate) if rate is not None else "",
                saves,
                money(cost.provisioned),
                f"{100 * cost.used / total:.1f} / {100 * cost.fragmented / total:.1f} / "
                f"{100 * cost.idle / total:.1f}",
                f"{_fragmented_gpus(row):,.1f}",
                f"{cost.completed_gpu_hours:,.0f}",
                _seconds(waits(row)[0], p50),
                _seconds(waits(row)[1], p95),
                *((f"{row.preemptions:g}", money(row.unfinished_cost)) if queued else ()),
                f"{row.pending:g}",
            ]
        )
    index = next(i for i, row in enumerate(rows) if row is best)
    queue_note = (
        " Job waits run from a job's arrival to every pod of it running (the pods' own waits "
        "are in replay.csv and the CDF below); unfinished work is the GPU time allocated to "
        "pods that did not complete (preempted, evicted or running at the end), at the "
        "price of a used GPU-hour."
        if queued
        else ""
    )
    return table_html(headers, cells, best=None if tied else index) + (
        "<p class='note'>Medians over seeds. Every provisioned GPU-hour is charged at its "
        "model's price, from the first arrival to the end of the run, and split into used, "
        "fragmented (free, but FGD's measure says the trace's typical pods could not use it) "
        "and idle; USD per completed GPU-h divides that cost by the GPU-hours of the pods that "
        "ran to completion; the best saves (its rate's difference) × its completed GPU-hours. "
        f"GPUs fragmented is the mean over the run.{queue_note}</p>"
    )


# ------------------------------------------------------------------------------- evidence


def _cost_figure(rows: Sequence[ReplayPolicySummary]) -> go.Figure:
    labels = [row.label for row in rows]
    figure = go.Figure(
        [
            go.Bar(
                x=labels,
                y=[getattr(row.capacity, part) for row in rows],
                name=part,
                marker_color=color,
            )
            for part, color in _PART_COLORS.items()
        ]
    )
    figure.update_layout(barmode="stack")
    figure.update_yaxes(title="USD (median over seeds)")
    return figure


def _over_time(runs: Sequence[ReplayRun], what: str) -> go.Figure:
    figure = go.Figure()
    shown: list[float] = []
    for label in _labels(runs):
        by_time: dict[float, list[float]] = {}
        for run in (r for r in runs if _label(r) == label):
            for sample in run.samples:
                value = {
                    "pending": float(sample.pending),
                    "utilization": 100 * sample.utilization,
                    "fragmentation": 100 * sample.fragmentation,
                }[what]
                by_time.setdefault(sample.time, []).append(value)
        times = sorted(by_time)
        medians = [statistics.median(by_time[t]) for t in times]
        shown += medians
        figure.add_trace(
            go.Scatter(
                x=[t / _HOUR for t in times],
                y=medians,
                mode="lines",
                name=label,
                line={**policy_style(label).line(2), "shape": "hv"},
            )
        )
    figure.update_xaxes(title="time (hours from the start of the trace)")
    titles = {
        "pending": "pods pending",
        "utilization": "GPUs allocated (% of capacity)",
        "fragmentation": "GPUs fragmented (% of capacity)",
    }
    figure.update_yaxes(title=titles[what])
    if what == "utilization" and shown:
        figure.update_yaxes(range=padded_range(shown, floor=0))
    return figure


def _fleet_size(runs: Sequence[ReplayRun]) -> go.Figure:
    """Nodes with their devices published over time, one line per autoscaled run."""
    figure = go.Figure()
    for run in runs:
        fleet = run.autoscaling
        if fleet is None:
            continue
        label = _label(run)
        points = list(fleet.fleet_size)
        if not points or points[0][0] > 0:
            points.insert(0, (0.0, 0))
        end = run.samples[-1].time if run.samples else points[-1][0]
        points.append((max(end, points[-1][0]), points[-1][1]))
        figure.add_trace(
            go.Scatter(
                x=[t / _HOUR for t, _ in points],
                y=[n for _, n in points],
                mode="lines",
                name=f"{label} seed {run.spec.seed} ({fleet.mode})",
                line={**policy_style(label).line(2), "shape": "hv"},
            )
        )
    figure.update_xaxes(title="time (hours from the start of the trace)")
    figure.update_yaxes(title="nodes with devices published", rangemode="tozero")
    return figure


def _waiting_cdf(runs: Sequence[ReplayRun]) -> go.Figure:
    figure = go.Figure()
    longest = 1.0
    starts: list[float] = []
    for label in _labels(runs):
        waits = sorted(w for r in runs if _label(r) == label for w in r.waiting)
        if not waits:
            continue
        longest = max(longest, waits[-1])
        step = max(1, len(waits) // _CDF_POINTS)
        picks = [*range(0, len(waits), step), len(waits) - 1]
        ys = [100 * (i + 1) / len(waits) for i in picks]
        # Where the curve starts: the share that waited under a second.
        starts.append(100 * sum(1 for w in waits if w < 1.0) / len(waits))
        figure.add_trace(
            go.Scatter(
                x=[max(waits[i], 1.0) for i in picks],
                y=ys,
                mode="lines",
                name=label,
                line={**policy_style(label).line(2), "shape": "hv"},
            )
        )
    figure.update_xaxes(
        title="waiting time (s, log; under 1 s shown at 1 s)",
        type="log",
        range=[0, _log10(longest * 1.3)],
    )
    low = min(starts, default=0.0)
    figure.update_yaxes(title="pods started within (%)", range=[max(0.0, low - 3), 100.5])
    return figure


def _log10(value: float) -> float:
    return math.log10(max(value, 1.0))


def _queue_waits(runs: Sequence[ReplayRun]) -> go.Figure:
    """Per queue, a box of its jobs' waits (arrival -> all pods running) per policy."""
    figure = go.Figure()
    for label in _labels(runs):
        queues: list[str] = []
        waits: list[float] = []
        for run in (r for r in runs if _label(r) == label):
            for stats in run.queues:
                queues += [stats.queue] * len(stats.waits)
                waits += [w / _HOUR for w in stats.waits]
        figure.add_trace(
            go.Box(
                x=queues,
                y=waits,
                name=label,
                marker_color=policy_style(label).color,
                boxpoints=False,
            )
        )
    figure.update_layout(boxmode="group")
    figure.update_xaxes(title="ClusterQueue (tenant)")
    figure.update_yaxes(title="waiting time (hours)")
    return figure


def _queue_bars(runs: Sequence[ReplayRun]) -> go.Figure:
    """Jain's index over tenants and the jobs admitted but stuck, per policy (median over
    seeds)."""
    labels = _labels(runs)
    jain = []
    stuck = []
    for label in labels:
        group = [r for r in runs if _label(r) == label]
        values = [r.jain for r in group if r.jain is not None]
        jain.append(statistics.median(values) if values else None)
        stuck.append(statistics.median(r.stuck for r in group))
    figure = go.Figure(
        [
            go.Bar(x=labels, y=jain, name="Jain's index (0..1)", marker_color="#0072B2"),
            go.Bar(
                x=labels,
                y=stuck,
                name="jobs admitted but stuck",
                marker_color="#D55E00",
                yaxis="y2",
            ),
        ]
    )
    figure.update_layout(
        yaxis={"title": "Jain's index", "range": [0, 1]},
        yaxis2={"title": "stuck jobs", "overlaying": "y", "side": "right"},
        barmode="group",
    )
    return figure


def _evictions_line(runs: Sequence[ReplayRun]) -> str:
    """Per policy, the runs of pods stopped before completing and the GPU-hours they held
    (medians over seeds), with the causes: what a short wait may have cost in lost work."""
    from statistics import median

    parts = []
    for label in _labels(runs):
        mine = [r.summary for r in runs if _label(r) == label]
        causes = {
            cause: median(s.evictions.get(cause, 0) for s in mine)
            for cause in dict.fromkeys(c for s in mine for c in s.evictions)
        }
        named = ", ".join(f"{cause} {n:g}" for cause, n in causes.items() if n)
        lost = median(s.lost_gpu_hours for s in mine)
        parts.append(
            f"{html.escape(label)} {median(s.evictions_total for s in mine):g}"
            + (f" ({html.escape(named)})" if named else "")
            + f", {lost:,.1f} GPU-h lost"
        )
    return (
        "<p class='note'>Evictions, runs of pods stopped before completing (median over seeds; "
        f"replay.csv has every run's): {'; '.join(parts)}.</p>"
    )


def write_replay_report(
    path: Path,
    runs: Sequence[ReplayRun],
    prices: Mapping[str, float],
    *,
    provenance: Provenance | None = None,
) -> list[Path]:
    """Write the replay report to `path` and `plotly.min.js` beside it (each through a
    temporary file renamed into place); the paths written."""
    summaries = summarize_replays(runs, prices)
    workloads = list(dict.fromkeys(r.spec.workload for r in runs))
    answer: list[str] = []
    parts: list[str] = []
    for workload in workloads:
        group = [r for r in runs if r.spec.workload == workload]
        rows = [s for s in summaries if s.workload == workload]
        answer.append(_sentence(workload, rows) + _table(rows))
        section: list[str] = []
        notes = group[0].notes
        if notes:
            items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
            section.append(f"<ul class='note'>{items}</ul>")
        if any(r.summary.evictions_total for r in group):
            section.append(_evictions_line(group))
        section += [
            figure_html(
                _cost_figure(rows),
                f"{workload}: cost of the GPU capacity, used, fragmented and idle",
                height=360,
            ),
            figure_html(
                _over_time(group, "utilization"),
                f"{workload}: GPU utilization over time (median over seeds)",
            ),
            figure_html(
                _over_time(group, "pending"),
                f"{workload}: pods pending over time (median over seeds)",
            ),
            figure_html(
                _waiting_cdf(group),
                f"{workload}: waiting time CDF (every started pod, every seed)",
                note="The y axis starts near the share of pods that waited under a second.",
            ),
        ]
        if any(r.autoscaling is not None for r in group):
            section.append(
                figure_html(
                    _fleet_size(group),
                    f"{workload}: fleet size over time (every autoscaled run)",
                )
            )
        if any(r.queues for r in group):
            section += [
                figure_html(
                    _queue_waits(group),
                    f"{workload}: job waiting time per queue (arrival to every pod running)",
                ),
                figure_html(
                    _queue_bars(group),
                    f"{workload}: fairness over tenants (Jain's index) and "
                    "admitted-but-unschedulable jobs",
                ),
                figure_html(
                    _over_time(group, "fragmentation"),
                    f"{workload}: fragmented GPU over time (FGD's measure, median over seeds)",
                ),
            ]
        parts.append(section_html(f"Evidence: {workload}", section))
    used = sorted({m for r in runs for m in r.capacity_gpu_hours or r.gpu_hours})
    priced = ", ".join(f"{m} {p:.2f}" for m in used if (p := _price(runs, m, prices)) is not None)
    seeds = sorted({r.spec.seed for r in runs})
    scope = (
        f"<p class='note'>{len(runs)} runs: policies {html.escape(', '.join(_labels(runs)))}; "
        f"seed{'s' * (len(seeds) != 1)} {html.escape(', '.join(map(str, seeds)))}. "
        "Pods arrive and leave at the trace's times, and every pod goes through dralloc's "
        "scheduling queue, scheduler and "
        f"DRA allocator. Prices (USD per GPU-hour): {html.escape(priced)}; the defaults are "
        "illustrative, not quotes (sim.prices).</p>"
    )
    report = write_page(
        path,
        "dralloc simulation: time-based replay",
        "".join(answer) + scope,
        parts,
        provenance.html() if provenance is not None else "",
    )
    return [report, write_plotly_js(path.parent)]


def _price(runs: Sequence[ReplayRun], model: str, prices: Mapping[str, float]) -> float | None:
    for run in runs:
        if model in run.capacity_gpu_hours or model in run.gpu_hours:
            return price_of(model, run.catalog, prices)
    return None
