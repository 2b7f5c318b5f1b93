"""`report.html`: one self-contained page (no network needed) with the campaign's plots.

Built with plotly; the plotly.js bundle is embedded once, in the first figure, and the later
figures reuse it (spec/libraries.md: the CDN variant renders blank offline). Per workload:

* unallocated GPU % against arrived workload % per policy: median over seeds with the
  interquartile band, and the ideal line max(0, 100 - x);
* fragmented GPU % (FGD's measure) against arrived workload %, median per policy;
* per GPU model, the share of its GPUs allocated at the end of the run (median over seeds);
* a heat map of every node's GPU use at the end of the first seed's run, one row per policy.
"""

from __future__ import annotations

import html
import statistics
from collections.abc import Sequence
from pathlib import Path

import plotly.graph_objects as go

from dralloc.sim.campaign import RunCurves
from dralloc.sim.fgd import ARRIVAL_AXIS

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


def write_report(path: Path, runs: Sequence[RunCurves]) -> Path:
    """Write the report to `path` (through a temporary file renamed into place)."""
    workloads = list(dict.fromkeys(r.spec.workload for r in runs))
    parts: list[str] = []
    first = True
    for workload in workloads:
        group = [r for r in runs if r.spec.workload == workload]
        parts.append(f"<h2>{html.escape(workload)}</h2>")
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
    document = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>dralloc simulation</title>"
        "<style>body{font-family:sans-serif;margin:2em;}</style></head><body>"
        "<h1>dralloc simulation: the FGD experiment</h1>"
        f"<p>{len(runs)} runs; policies {html.escape(', '.join(_policies(runs)))}; "
        f"seeds {html.escape(', '.join(map(str, seeds)))}. Every pod went through dralloc's "
        "scheduler and DRA allocator.</p>" + "".join(parts) + "</body></html>"
    )
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_text(document, encoding="utf-8")
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path
