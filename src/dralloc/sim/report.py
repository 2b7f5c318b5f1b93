"""`report.html`: one self-contained page (no network needed) with the campaign's plots.

Built with plotly; the plotly.js bundle is embedded once, in the first figure, and the later
figures reuse it (spec/libraries.md: the CDN variant renders blank offline). Per workload, in
FGD mode (`write_report`):

* unallocated GPU % against arrived workload % per policy: median over seeds with the
  interquartile band, and the ideal line max(0, 100 - x);
* fragmented GPU % (FGD's measure) against arrived workload %, median per policy;
* per GPU model, the share of its GPUs allocated at the end of the run (median over seeds);
* a heat map of every node's GPU use at the end of the first seed's run, one row per policy.

Above them, a summary for readers who look no further: per workload and policy, unallocated
GPU at 100% arrived (median and mean ± sd over seeds, as the paper's bar charts), in percent and
in GPUs left idle, fragmentation, pods placed, and one sentence naming the best policy and what
it saves over the next; with several workloads, the paper's bar chart (Figs. 11-14): mean ± sd
at 100% per workload and policy.

In replay mode (`write_replay_report`):

* GPU utilization over time per policy (median over seeds at each sample time);
* pods pending over time per policy (median over seeds);
* the waiting time CDF per policy, every started pod of every seed;
* cost per policy at the given prices (median over seeds, whiskers to the cheapest and
  dearest seed);
* with queues (`--queues`, each run labelled `policy / queue policy`): per ClusterQueue a box
  of its jobs' waits per policy, Jain's index over tenants beside the jobs admitted but
  stuck unschedulable (medians over seeds), and the fragmented GPU share over time (FGD's
  F(M) against the trace's typical pods, median over seeds).
"""

from __future__ import annotations

import html
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path

import plotly.graph_objects as go

from dralloc.sim.campaign import ReplayRun, RunCurves
from dralloc.sim.fgd import ARRIVAL_AXIS
from dralloc.sim.prices import price_of

REPORT_FILE = "report.html"
_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")


def _band(values: Sequence[float]) -> tuple[float, float, float]:
    if len(values) == 1:
        return values[0], values[0], values[0]
    low, median, high = statistics.quantiles(values, n=4, method="inclusive")
    return median, low, high


def _policies(runs: Sequence[RunCurves]) -> list[str]:
    return list(dict.fromkeys(r.spec.policy for r in runs))


def _curve_figure(runs: Sequence[RunCurves], workload: str, fragmentation: bool) -> go.Figure:
    figure = go.Figure()
    xs = list(ARRIVAL_AXIS)
    for index, policy in enumerate(_policies(runs)):
        group = [r for r in runs if r.spec.policy == policy]
        color = _PALETTE[index % len(_PALETTE)]
        medians: list[float | None] = []
        lows: list[float | None] = []
        highs: list[float | None] = []
        for position in range(len(xs)):
            series = [r.fragmentation if fragmentation else r.allocation for r in group]
            values = [
                v if fragmentation else 100 - v for s in series if (v := s[position]) is not None
            ]
            if not values:
                medians.append(None)
                lows.append(None)
                highs.append(None)
                continue
            median, low, high = _band(values)
            medians.append(median)
            lows.append(low)
            highs.append(high)
        figure.add_trace(
            go.Scatter(
                x=xs,
                y=highs,
                mode="lines",
                line={"width": 0},
                showlegend=False,
                hoverinfo="skip",
                legendgroup=policy,
            )
        )
        figure.add_trace(
            go.Scatter(
                x=xs,
                y=lows,
                mode="lines",
                line={"width": 0},
                fill="tonexty",
                fillcolor=color,
                opacity=0.2,
                showlegend=False,
                hoverinfo="skip",
                legendgroup=policy,
            )
        )
        figure.add_trace(
            go.Scatter(
                x=xs,
                y=medians,
                mode="lines",
                name=policy,
                line={"color": color},
                legendgroup=policy,
            )
        )
    if not fragmentation:
        figure.add_trace(
            go.Scatter(
                x=xs,
                y=[max(0, 100 - x) for x in xs],
                mode="lines",
                name="ideal",
                line={"color": "black", "dash": "dot"},
            )
        )
    figure.update_layout(
        title=f"{workload}: {'fragmented' if fragmentation else 'unallocated'} GPU "
        "(median and interquartile band over seeds)",
        xaxis_title="arrived workload (% of GPU capacity)",
        yaxis_title=f"{'fragmented' if fragmentation else 'unallocated'} GPU (% of capacity)",
        template="plotly_white",
    )
    return figure


def _model_figure(runs: Sequence[RunCurves], workload: str) -> go.Figure:
    figure = go.Figure()
    for policy in _policies(runs):
        per_model: dict[str, list[float]] = {}
        for run in (r for r in runs if r.spec.policy == policy):
            used: dict[str, int] = {}
            capacity: dict[str, int] = {}
            for node in run.final_nodes:
                used[node.model] = used.get(node.model, 0) + node.used_milli
                capacity[node.model] = capacity.get(node.model, 0) + node.capacity_milli
            for model, total in capacity.items():
                per_model.setdefault(model, []).append(100 * used[model] / total)
        models = sorted(per_model)
        figure.add_trace(
            go.Bar(name=policy, x=models, y=[statistics.median(per_model[m]) for m in models])
        )
    figure.update_layout(
        title=f"{workload}: GPUs allocated per model at the end (median)",
        yaxis_title="allocated (% of the model's GPUs)",
        barmode="group",
        template="plotly_white",
    )
    return figure


def _heatmap(runs: Sequence[RunCurves], workload: str) -> go.Figure:
    rows: list[list[float]] = []
    names: list[str] = []
    policies = []
    for policy in _policies(runs):
        first = min((r for r in runs if r.spec.policy == policy), key=lambda r: r.spec.seed)
        nodes = sorted(first.final_nodes, key=lambda n: (n.model, n.name))
        names = [n.name for n in nodes]
        rows.append([100 * n.used_milli / n.capacity_milli for n in nodes])
        policies.append(f"{policy} (seed {first.spec.seed})")
    figure = go.Figure(
        go.Heatmap(
            z=rows,
            x=names,
            y=policies,
            colorscale="Viridis",
            zmin=0,
            zmax=100,
            colorbar={"title": "GPU used %"},
        )
    )
    figure.update_layout(
        title=f"{workload}: every node's GPU use at the end (nodes by model)",
        xaxis={"showticklabels": False, "title": "nodes"},
        template="plotly_white",
    )
    return figure


_AT_100 = ARRIVAL_AXIS.index(100)


def _unallocated_at_100(group: Sequence[RunCurves]) -> list[float]:
    return [100 - v for r in group if (v := r.allocation[_AT_100]) is not None]


def _mean_sd(values: Sequence[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def _summary(runs: Sequence[RunCurves], workload: str) -> str:
    """The table and sentence at the top of a workload's section."""
    group = [r for r in runs if r.spec.workload == workload]
    total = group[0].total_gpus
    rows = []
    ranked: list[tuple[float, str]] = []
    for policy in _policies(group):
        mine = [r for r in group if r.spec.policy == policy]
        idle = _unallocated_at_100(mine)
        fragment = [v for r in mine if (v := r.fragmentation[_AT_100]) is not None]
        placed = statistics.median(100 * r.scheduled / r.pods for r in mine)
        if idle:
            median = statistics.median(idle)
            mean, sd = _mean_sd(idle)
            ranked.append((median, policy))
            cells = [
                f"{median:.1f}",
                f"{mean:.1f} ± {sd:.1f}",
                f"{median * total / 100:,.0f}",
                f"{statistics.median(fragment):.1f}" if fragment else "",
            ]
        else:  # the run never reached 100% arrived
            cells = ["", "", "", ""]
        cells = [html.escape(policy), str(len(mine)), *cells, f"{placed:.1f}"]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    head = (
        "<tr><th>policy</th><th>runs</th><th>unallocated GPU % (median)</th>"
        "<th>mean ± sd</th><th>GPUs left idle</th><th>fragmented GPU %</th>"
        "<th>pods placed %</th></tr>"
    )
    sentence = ""
    if len(ranked) > 1:
        ranked.sort()
        (best, winner), (second, runner_up) = ranked[0], ranked[1]
        saved = (second - best) * total / 100
        sentence = (
            f"<p>When the arrived GPU requests equal the cluster's {total:,} GPUs, "
            f"<b>{html.escape(winner)}</b> leaves {best:.1f}% of them unallocated (median over "
            f"seeds), {saved:,.0f} GPUs fewer idle than {html.escape(runner_up)} "
            f"({second:.1f}%).</p>"
        )
    return (
        sentence + "<table class='summary'>" + head + "".join(rows) + "</table>"
        "<p class='note'>At 100% arrived workload; GPUs left idle = unallocated share × total "
        "GPUs; fragmented GPU is FGD's measure against the workload's typical pods.</p>"
    )


def _workload_bars(runs: Sequence[RunCurves]) -> go.Figure:
    """The paper's bar charts: unallocated GPU at 100% arrived, mean ± sd, per workload."""
    workloads = list(dict.fromkeys(r.spec.workload for r in runs))
    figure = go.Figure()
    for index, policy in enumerate(_policies(runs)):
        means: list[float | None] = []
        sds: list[float] = []
        for workload in workloads:
            idle = _unallocated_at_100(
                [r for r in runs if r.spec.workload == workload and r.spec.policy == policy]
            )
            mean, sd = _mean_sd(idle) if idle else (None, 0.0)
            means.append(mean)
            sds.append(sd)
        figure.add_trace(
            go.Bar(
                name=policy,
                x=workloads,
                y=means,
                error_y={"type": "data", "array": sds},
                marker_color=_PALETTE[index % len(_PALETTE)],
            )
        )
    figure.update_layout(
        barmode="group",
        title="Unallocated GPU at 100% arrived workload (mean ± sd over seeds)",
        yaxis_title="unallocated GPU (% of capacity)",
    )
    return figure


def write_report(path: Path, runs: Sequence[RunCurves]) -> Path:
    """Write the report to `path` (through a temporary file renamed into place)."""
    workloads = list(dict.fromkeys(r.spec.workload for r in runs))
    parts: list[str] = []
    first = True
    if len(workloads) > 1:
        parts.append("<h2>All workloads</h2>")
        parts.append(_workload_bars(runs).to_html(include_plotlyjs=True, full_html=False))
        first = False
    for workload in workloads:
        group = [r for r in runs if r.spec.workload == workload]
        parts.append(f"<h2>{html.escape(workload)}</h2>")
        parts.append(_summary(runs, workload))
        figures = [
            _curve_figure(group, workload, fragmentation=False),
            _curve_figure(group, workload, fragmentation=True),
            _model_figure(group, workload),
            _heatmap(group, workload),
        ]
        for figure in figures:
            parts.append(figure.to_html(include_plotlyjs=first, full_html=False))
            first = False
    seeds = sorted({r.spec.seed for r in runs})
    intro = (
        f"<p>{len(runs)} runs; policies {html.escape(', '.join(_policies(runs)))}; "
        f"seeds {html.escape(', '.join(map(str, seeds)))}. Every pod went through dralloc's "
        "scheduler and DRA allocator.</p>"
    )
    return _write_document(path, "dralloc simulation: the FGD experiment", intro, parts)


def _write_document(path: Path, title: str, intro: str, parts: Sequence[str]) -> Path:
    document = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em;}"
        "table.summary{border-collapse:collapse;margin:1em 0;}"
        "table.summary td,table.summary th{border:1px solid #ccc;padding:4px 10px;"
        "text-align:right;}table.summary td:first-child{text-align:left;}"
        ".note{color:#555;font-size:90%;}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>" + intro + "".join(parts) + "</body></html>"
    )
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_text(document, encoding="utf-8")
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path


# --------------------------------------------------------------------------------------------
# Replay mode

_HOUR = 3600.0
_CDF_POINTS = 2000  # per policy: enough for a smooth curve, small enough for the page


def _label(run: ReplayRun) -> str:
    """The run's policy, with its queue policy when queues were asked for."""
    return f"{run.spec.policy} / {run.spec.queues}" if run.spec.queues else run.spec.policy


def _replay_policies(runs: Sequence[ReplayRun]) -> list[str]:
    return list(dict.fromkeys(_label(r) for r in runs))


def _queue_waits(runs: Sequence[ReplayRun], workload: str) -> go.Figure:
    """Per queue, a box of its jobs' waits (arrival -> all pods running) per policy."""
    figure = go.Figure()
    for index, label in enumerate(_replay_policies(runs)):
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
                marker_color=_PALETTE[index % len(_PALETTE)],
                boxpoints=False,
            )
        )
    figure.update_layout(
        title=f"{workload}: job waiting time per queue (arrival to every pod running)",
        xaxis_title="ClusterQueue (tenant)",
        yaxis_title="waiting time (hours)",
        boxmode="group",
        template="plotly_white",
    )
    return figure


def _queue_bars(runs: Sequence[ReplayRun], workload: str) -> go.Figure:
    """Jain's index over tenants and the jobs admitted but stuck, per policy (median over
    seeds)."""
    labels = _replay_policies(runs)
    jain = []
    stuck = []
    for label in labels:
        group = [r for r in runs if _label(r) == label]
        values = [r.jain for r in group if r.jain is not None]
        jain.append(statistics.median(values) if values else None)
        stuck.append(statistics.median(r.stuck for r in group))
    figure = go.Figure(
        [
            go.Bar(x=labels, y=jain, name="Jain's index (0..1)", marker_color=_PALETTE[0]),
            go.Bar(
                x=labels,
                y=stuck,
                name="jobs admitted but stuck",
                marker_color=_PALETTE[3],
                yaxis="y2",
            ),
        ]
    )
    figure.update_layout(
        title=f"{workload}: fairness over tenants and admitted-but-unschedulable jobs",
        yaxis={"title": "Jain's index", "range": [0, 1]},
        yaxis2={"title": "stuck jobs", "overlaying": "y", "side": "right"},
        barmode="group",
        template="plotly_white",
    )
    return figure


def _fragmentation_over_time(runs: Sequence[ReplayRun], workload: str) -> go.Figure:
    """Fragmented GPU (FGD's F(M) against the trace's typical pods) in % of capacity over
    time, median over seeds, one line per policy."""
    figure = go.Figure()
    for index, policy in enumerate(_replay_policies(runs)):
        by_time: dict[float, list[float]] = {}
        for run in (r for r in runs if _label(r) == policy):
            for sample in run.samples:
                by_time.setdefault(sample.time, []).append(100 * sample.fragmentation)
        times = sorted(by_time)
        figure.add_trace(
            go.Scatter(
                x=[t / _HOUR for t in times],
                y=[statistics.median(by_time[t]) for t in times],
                mode="lines",
                name=policy,
                line={"color": _PALETTE[index % len(_PALETTE)], "shape": "hv"},
            )
        )
    figure.update_layout(
        title=f"{workload}: fragmented GPU over time (FGD's measure, median over seeds)",
        xaxis_title="time (hours from the start of the trace)",
        yaxis_title="GPUs fragmented (% of capacity)",
        template="plotly_white",
    )
    return figure


def _over_time(runs: Sequence[ReplayRun], workload: str, pending: bool) -> go.Figure:
    figure = go.Figure()
    for index, policy in enumerate(_replay_policies(runs)):
        by_time: dict[float, list[float]] = {}
        for run in (r for r in runs if _label(r) == policy):
            for sample in run.samples:
                value = sample.pending if pending else 100 * sample.utilization
                by_time.setdefault(sample.time, []).append(value)
        times = sorted(by_time)
        figure.add_trace(
            go.Scatter(
                x=[t / _HOUR for t in times],
                y=[statistics.median(by_time[t]) for t in times],
                mode="lines",
                name=policy,
                line={"color": _PALETTE[index % len(_PALETTE)], "shape": "hv"},
            )
        )
    what = "pods pending" if pending else "GPU utilization (% of GPUs allocated)"
    figure.update_layout(
        title=f"{workload}: {what} over time (median over seeds)",
        xaxis_title="time (hours from the start of the trace)",
        yaxis_title="pods pending" if pending else "GPUs allocated (%)",
        template="plotly_white",
    )
    return figure


def _waiting_cdf(runs: Sequence[ReplayRun], workload: str) -> go.Figure:
    figure = go.Figure()
    for index, policy in enumerate(_replay_policies(runs)):
        waits = sorted(w for r in runs if _label(r) == policy for w in r.waiting)
        if not waits:
            continue
        step = max(1, len(waits) // _CDF_POINTS)
        picks = [*range(0, len(waits), step), len(waits) - 1]
        figure.add_trace(
            go.Scatter(
                x=[max(waits[i], 1.0) for i in picks],
                y=[100 * (i + 1) / len(waits) for i in picks],
                mode="lines",
                name=policy,
                line={"color": _PALETTE[index % len(_PALETTE)], "shape": "hv"},
            )
        )
    figure.update_layout(
        title=f"{workload}: waiting time CDF (every started pod, every seed)",
        xaxis={"title": "waiting time (s; under 1 s shown at 1 s)", "type": "log"},
        yaxis_title="pods started within (%)",
        template="plotly_white",
    )
    return figure


def _cost_figure(
    runs: Sequence[ReplayRun], workload: str, prices: Mapping[str, float]
) -> go.Figure:
    policies = _replay_policies(runs)
    medians, lows, highs = [], [], []
    for policy in policies:
        costs = [sum(r.cost(prices).values()) for r in runs if _label(r) == policy]
        median = statistics.median(costs)
        medians.append(median)
        lows.append(median - min(costs))
        highs.append(max(costs) - median)
    figure = go.Figure(
        go.Bar(
            x=policies,
            y=medians,
            error_y={"type": "data", "symmetric": False, "array": highs, "arrayminus": lows},
            marker_color=[_PALETTE[i % len(_PALETTE)] for i in range(len(policies))],
        )
    )
    figure.update_layout(
        title=f"{workload}: cost of the GPU-hours allocated (median over seeds, min-max)",
        yaxis_title="USD",
        template="plotly_white",
    )
    return figure


def write_replay_report(path: Path, runs: Sequence[ReplayRun], prices: Mapping[str, float]) -> Path:
    """Write the replay report to `path` (through a temporary file renamed into place)."""
    parts: list[str] = []
    first = True
    for workload in dict.fromkeys(r.spec.workload for r in runs):
        group = [r for r in runs if r.spec.workload == workload]
        parts.append(f"<h2>{html.escape(workload)}</h2>")
        notes = group[0].notes
        if notes:
            items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
            parts.append(f"<ul>{items}</ul>")
        figures = [
            _over_time(group, workload, pending=False),
            _over_time(group, workload, pending=True),
            _waiting_cdf(group, workload),
            _cost_figure(group, workload, prices),
        ]
        if any(r.queues for r in group):
            figures += [
                _queue_waits(group, workload),
                _queue_bars(group, workload),
                _fragmentation_over_time(group, workload),
            ]
        for figure in figures:
            parts.append(figure.to_html(include_plotlyjs=first, full_html=False))
            first = False
    used = sorted({m for r in runs for m in r.gpu_hours})
    priced = ", ".join(f"{m} {p:.2f}" for m in used if (p := _price(runs, m, prices)) is not None)
    seeds = sorted({r.spec.seed for r in runs})
    intro = (
        f"<p>{len(runs)} runs; policies {html.escape(', '.join(_replay_policies(runs)))}; "
        f"seeds {html.escape(', '.join(map(str, seeds)))}. Pods arrive and leave at the "
        "trace's times, and every pod goes through dralloc's scheduling queue, scheduler and "
        f"DRA allocator.</p><p>Prices (USD per GPU-hour): {html.escape(priced)}. The default "
        "prices are illustrative, not quotes.</p>"
    )
    return _write_document(path, "dralloc simulation: time-based replay", intro, parts)


def _price(runs: Sequence[ReplayRun], model: str, prices: Mapping[str, float]) -> float | None:
    for run in runs:
        if model in run.gpu_hours:
            return price_of(model, run.catalog, prices)
    return None
