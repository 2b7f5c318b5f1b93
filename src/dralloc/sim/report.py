"""`report.html` of the FGD experiment: the answer first, then the evidence, then where the
figures come from. The replay's report is `sim.replay_report`; the page they share (one
`plotly.min.js` beside the report, narrow screens, the footer's place) is `sim.pages`, the
policies' colours and dashes `sim.styles`.

The answer (top of the page): one sentence naming the policy that leaves the fewest GPUs
unallocated when the arrived requests equal the cluster's capacity (x = 100%, the paper's
bars), by how many GPUs over the next best and, with prices, what that stranded capacity costs
per hour and per month (`sim.costs.stranded_cost_per_hour`); then the table per policy:
unallocated GPU at 100% (median and mean ± sd over seeds, as the paper's bar charts), in
GPUs, its hourly cost, fragmentation, pods placed. With several workloads the answer is the
table of each workload's winner, and each workload's section opens with its own table.

The evidence, per workload (`write_report`):

* unallocated GPU at 100% arrived, every seed and the mean ± sd per policy, the axis zoomed
  to the values;
* unallocated GPU % against arrived workload % per policy (median over seeds with the
  interquartile band) and the ideal line max(0, 100 - x), zoomed to where the policies part
  (x from `ZOOM_MARGIN` before the first policy leaves the ideal line, y from the data; the
  paper's Fig. 9(a) plots 75-120 the same way);
* fragmented GPU % (FGD's measure) against arrived workload %, median per policy, same zoom;
* per GPU model, the share of its GPUs allocated at the end of the run (median over seeds);
* a heat map of every node's GPU use at the end of the first seed's run, one row per policy,
  nodes grouped and labelled by GPU model;
* with several workloads, the paper's bar chart (Figs. 11-14): mean ± sd at 100% per workload.
"""

from __future__ import annotations

import html
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path

import plotly.graph_objects as go

from dralloc.sim.campaign import RunCurves
from dralloc.sim.costs import HOURS_PER_MONTH, stranded_cost_per_hour
from dralloc.sim.fgd import ARRIVAL_AXIS
from dralloc.sim.pages import (
    REPORT_FILE,
    figure_html,
    money,
    padded_range,
    section_html,
    swatch,
    table_html,
    translucent,
    write_page,
    write_plotly_js,
)
from dralloc.sim.provenance import Provenance
from dralloc.sim.styles import IDEAL_STYLE, policy_style

__all__ = ["REPORT_FILE", "ZOOM_MARGIN", "write_report"]

ZOOM_MARGIN = 10  # % arrived shown before the first policy leaves the ideal line
_AT_100 = ARRIVAL_AXIS.index(100)


def _band(values: Sequence[float]) -> tuple[float, float, float]:
    if len(values) == 1:
        return values[0], values[0], values[0]
    low, median, high = statistics.quantiles(values, n=4, method="inclusive")
    return median, low, high


def _policies(runs: Sequence[RunCurves]) -> list[str]:
    return list(dict.fromkeys(r.spec.policy for r in runs))


def _unallocated_at_100(group: Sequence[RunCurves]) -> list[float]:
    return [100 - v for r in group if (v := r.allocation[_AT_100]) is not None]


def _mean_sd(values: Sequence[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def _stranded(group: Sequence[RunCurves], prices: Mapping[str, float] | None) -> float | None:
    if prices is None:
        return None
    costs = [
        stranded_cost_per_hour(r.unallocated_at_100, r.catalog, prices)
        for r in group
        if r.unallocated_at_100
    ]
    return statistics.median(costs) if costs else None


# --------------------------------------------------------------------------------- answer


class _Ranked:
    """A workload's policies at x = 100%, best (fewest unallocated) first."""

    def __init__(self, runs: Sequence[RunCurves], prices: Mapping[str, float] | None) -> None:
        self.total = runs[0].total_gpus
        self.rows: list[tuple[str, list[RunCurves], float | None, float | None]] = []
        for policy in _policies(runs):
            mine = [r for r in runs if r.spec.policy == policy]
            idle = _unallocated_at_100(mine)
            median = statistics.median(idle) if idle else None
            self.rows.append((policy, mine, median, _stranded(mine, prices)))
        self.ranked = sorted((r for r in self.rows if r[2] is not None), key=lambda r: (r[2], r[0]))

    def sentence(self, workload: str) -> str:
        if not self.ranked:
            return (
                f"<p class='headline'>On {html.escape(workload)} no run reached 100% of "
                "the GPU capacity arrived, so there is no comparison at 100%.</p>"
            )
        name, _, best, cost = self.ranked[0]
        assert best is not None
        hourly = f" ({money(cost)} per hour of stranded capacity)" if cost is not None else ""
        opening = (
            f"On {html.escape(workload)}, when the arrived GPU requests equal the cluster's "
            f"{self.total:,} GPUs, <b>{html.escape(name)}</b> leaves {best:.1f}% of them "
            f"unallocated{hourly}"
        )
        if len(self.ranked) == 1:
            return f"<p class='headline'>{opening}.</p>"
        other, _, second, other_cost = self.ranked[1]
        assert second is not None
        gpus = (second - best) * self.total / 100
        if gpus < 0.5:
            return (
                f"<p class='headline'>{opening}, no fewer than {html.escape(other)} "
                f"({second:.1f}%): the policies tie here.</p>"
            )
        money_part = ""
        if cost is not None and other_cost is not None:
            saved = other_cost - cost
            money_part = (
                f": {money(saved)} per hour, about {money(saved * HOURS_PER_MONTH)} per month, "
                "less stranded capacity at the report's prices"
            )
        return (
            f"<p class='headline'>{opening}, <b>{gpus:,.0f} GPUs fewer</b> than the next "
            f"best, {html.escape(other)} ({second:.1f}%){money_part}.</p>"
        )

    def table(self) -> str:
        headers = [
            "policy",
            "runs",
            "unallocated GPU % (median)",
            "mean ± sd",
            "GPUs unallocated",
            "stranded USD/hour",
            "fragmented GPU %",
            "pods placed %",
        ]
        rows = []
        best = self.ranked[0][0] if self.ranked else None
        for policy, mine, median, cost in self.rows:
            idle = _unallocated_at_100(mine)
            fragment = [v for r in mine if (v := r.fragmentation[_AT_100]) is not None]
            placed = statistics.median(100 * r.scheduled / r.pods for r in mine)
            cells = [swatch(policy), str(len(mine))]
            if median is not None:
                mean, sd = _mean_sd(idle)
                cells += [
                    f"{median:.1f}",
                    f"{mean:.1f} ± {sd:.1f}",
                    f"{median * self.total / 100:,.0f}",
                    money(cost) if cost is not None else "",
                    f"{statistics.median(fragment):.1f}" if fragment else "",
                ]
            else:  # the run never reached 100% arrived
                cells += ["", "", "", "", ""]
            rows.append([*cells, f"{placed:.1f}"])
        index = next((i for i, r in enumerate(self.rows) if r[0] == best), None)
        return table_html(headers, rows, best=index) + (
            "<p class='note'>At 100% arrived workload. GPUs unallocated = unallocated share × "
            "total GPUs; stranded USD/hour prices those GPUs per model (sim.costs); "
            "fragmented GPU is FGD's measure against the workload's typical pods.</p>"
        )


def _answer(
    runs: Sequence[RunCurves], workloads: Sequence[str], prices: Mapping[str, float] | None
) -> str:
    if len(workloads) == 1:
        ranked = _Ranked(runs, prices)
        return ranked.sentence(workloads[0]) + ranked.table()
    headers = ["workload", "best policy", "unallocated %", "next best", "GPUs fewer", "USD/hour"]
    rows = []
    wins: dict[str, int] = {}
    for workload in workloads:
        ranked = _Ranked([r for r in runs if r.spec.workload == workload], prices)
        if not ranked.ranked:
            rows.append([html.escape(workload), "", "", "", "", ""])
            continue
        name, _, best, cost = ranked.ranked[0]
        wins[name] = wins.get(name, 0) + 1
        cells = [html.escape(workload), swatch(name), f"{best:.1f}"]
        if len(ranked.ranked) > 1:
            other, _, second, other_cost = ranked.ranked[1]
            gpus = ((second or 0.0) - (best or 0.0)) * ranked.total / 100
            saved = money(other_cost - cost) if cost is not None and other_cost else ""
            cells += [f"{html.escape(other)} ({second:.1f})", f"{gpus:,.0f}", saved]
        else:
            cells += ["", "", money(cost) if cost is not None else ""]
        rows.append(cells)
    leader = max(wins, key=lambda name: wins[name]) if wins else None
    sentence = (
        f"<p class='headline'><b>{html.escape(leader)}</b> leaves the fewest GPUs unallocated "
        f"at 100% arrived on {wins[leader]} of {len(workloads)} workloads.</p>"
        if leader is not None
        else ""
    )
    note = (
        "<p class='note'>Per workload: the policy with the fewest GPUs unallocated at 100% "
        "arrived (median over seeds), the next best, the GPUs between them and, with prices, "
        "the hourly cost of that stranded capacity.</p>"
    )
    return sentence + table_html(headers, rows) + note


# ------------------------------------------------------------------------------- evidence


def _at_100_figure(runs: Sequence[RunCurves]) -> go.Figure:
    """Every seed's unallocated GPU at 100% and the mean ± sd, per policy, zoomed."""
    figure = go.Figure()
    values: list[float] = []
    for policy in _policies(runs):
        idle = _unallocated_at_100([r for r in runs if r.spec.policy == policy])
        if not idle:
            continue
        values += idle
        style = policy_style(policy)
        mean, sd = _mean_sd(idle)
        values += [mean - sd, mean + sd]
        figure.add_trace(
            go.Scatter(
                x=[policy] * len(idle),
                y=idle,
                mode="markers",
                marker={"color": style.color, "size": 7, "opacity": 0.45},
                name=f"{policy} seeds",
                legendgroup=policy,
                showlegend=False,
            )
        )
        figure.add_trace(
            go.Scatter(
                x=[policy],
                y=[mean],
                mode="markers",
                marker={"color": style.color, "size": 13, "symbol": "diamond"},
                error_y={"type": "data", "array": [sd], "color": style.color, "thickness": 2},
                name=policy,
                legendgroup=policy,
            )
        )
    if values:
        figure.update_yaxes(range=padded_range(values, floor=0))
    figure.update_yaxes(title="unallocated GPU (% of capacity)")
    return figure


def zoom_start(runs: Sequence[RunCurves]) -> int:
    """The x (% arrived, a multiple of 5) the curves are shown from: `ZOOM_MARGIN` before the
    first x where a policy's median leaves the ideal line by more than half a percent."""
    for position, x in enumerate(ARRIVAL_AXIS):
        for policy in _policies(runs):
            values = [
                v
                for r in runs
                if r.spec.policy == policy and (v := r.allocation[position]) is not None
            ]
            if values and 100 - statistics.median(values) > max(0, 100 - x) + 0.5:
                return max(0, (x - ZOOM_MARGIN) // 5 * 5)
    return 0


def _curve_figure(runs: Sequence[RunCurves], fragmentation: bool, start: int) -> go.Figure:
    figure = go.Figure()
    xs = list(ARRIVAL_AXIS)
    zoom = [i for i, x in enumerate(xs) if x >= start]
    shown: list[float] = []
    for policy in _policies(runs):
        group = [r for r in runs if r.spec.policy == policy]
        style = policy_style(policy)
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
            if position in zoom:
                shown += [low, high]
        band = {"mode": "lines", "line": {"width": 0}, "hoverinfo": "skip", "showlegend": False}
        figure.add_trace(go.Scatter(x=xs, y=highs, legendgroup=policy, **band))
        figure.add_trace(
            go.Scatter(
                x=xs,
                y=lows,
                fill="tonexty",
                fillcolor=translucent(style.color),
                legendgroup=policy,
                **band,
            )
        )
        figure.add_trace(
            go.Scatter(
                x=xs, y=medians, mode="lines", name=policy, line=style.line(), legendgroup=policy
            )
        )
    if not fragmentation:
        ideal = [max(0, 100 - x) for x in xs]
        figure.add_trace(
            go.Scatter(x=xs, y=ideal, mode="lines", name="ideal", line=IDEAL_STYLE.line(1.5))
        )
    figure.update_xaxes(title="arrived workload (% of GPU capacity)", range=[start, xs[-1]])
    what = "fragmented" if fragmentation else "unallocated"
    figure.update_yaxes(title=f"{what} GPU (% of capacity)")
    if shown:
        figure.update_yaxes(range=padded_range(shown, floor=0))
    return figure


def _model_figure(runs: Sequence[RunCurves]) -> go.Figure:
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
            go.Bar(
                name=policy,
                x=models,
                y=[statistics.median(per_model[m]) for m in models],
                marker=policy_style(policy).marker(),
            )
        )
    figure.update_layout(barmode="group")
    figure.update_xaxes(title="GPU model")
    figure.update_yaxes(title="allocated (% of the model's GPUs)", range=[0, 100])
    return figure


def _heatmap(runs: Sequence[RunCurves]) -> go.Figure:
    rows: list[list[float]] = []
    models: list[str] = []
    names: list[str] = []
    policies = []
    for policy in _policies(runs):
        first = min((r for r in runs if r.spec.policy == policy), key=lambda r: r.spec.seed)
        nodes = sorted(first.final_nodes, key=lambda n: (n.model, n.name))
        models = [n.model for n in nodes]
        names = [f"{n.name} ({n.model})" for n in nodes]
        rows.append([100 * n.used_milli / n.capacity_milli for n in nodes])
        policies.append(f"{policy} (seed {first.spec.seed})")
    figure = go.Figure(
        go.Heatmap(
            z=rows,
            x=list(range(len(names))),
            y=policies,
            customdata=[names] * len(rows),
            hovertemplate="%{customdata}<br>%{y}<br>GPU used %{z:.0f}%<extra></extra>",
            colorscale="Viridis",
            zmin=0,
            zmax=100,
            colorbar={"title": {"text": "GPU used %"}, "thickness": 12},
        )
    )
    # One tick per GPU model at the middle of its nodes, a line between models.
    ticks, labels = [], []
    start = 0
    for index in range(1, len(models) + 1):
        if index == len(models) or models[index] != models[start]:
            ticks.append((start + index - 1) / 2)
            labels.append(f"{models[start] or 'no model'} ({index - start})")
            if index < len(models):
                figure.add_vline(x=index - 0.5, line={"color": "white", "width": 2})
            start = index
    figure.update_xaxes(
        title="nodes, grouped by GPU model (node count)",
        tickvals=ticks,
        ticktext=labels,
        tickangle=-30,
    )
    return figure


def _workload_bars(runs: Sequence[RunCurves]) -> go.Figure:
    """The paper's bar charts: unallocated GPU at 100% arrived, mean ± sd, per workload."""
    workloads = list(dict.fromkeys(r.spec.workload for r in runs))
    figure = go.Figure()
    for policy in _policies(runs):
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
                marker=policy_style(policy).marker(),
            )
        )
    figure.update_layout(barmode="group")
    figure.update_yaxes(title="unallocated GPU (% of capacity)")
    return figure


def write_report(
    path: Path,
    runs: Sequence[RunCurves],
    *,
    prices: Mapping[str, float] | None = None,
    provenance: Provenance | None = None,
) -> list[Path]:
    """Write the report to `path` and `plotly.min.js` beside it (each through a temporary
    file renamed into place); the paths written. With `prices` (USD per GPU-hour), the
    stranded capacity is priced."""
    workloads = list(dict.fromkeys(r.spec.workload for r in runs))
    parts: list[str] = []
    if len(workloads) > 1:
        parts.append(
            section_html(
                "All workloads",
                [
                    figure_html(
                        _workload_bars(runs),
                        "Unallocated GPU at 100% arrived workload (mean ± sd over seeds)",
                    )
                ],
            )
        )
    for workload in workloads:
        group = [r for r in runs if r.spec.workload == workload]
        start = zoom_start(group)
        section = [] if len(workloads) == 1 else [_Ranked(group, prices).table()]
        section += [
            figure_html(
                _at_100_figure(group),
                f"{workload}: unallocated GPU at 100% arrived workload, per seed and mean ± sd",
                height=340,
            ),
            figure_html(
                _curve_figure(group, fragmentation=False, start=start),
                f"{workload}: unallocated GPU against arrived workload "
                "(median and interquartile band over seeds)",
                note=f"Zoomed to x ≥ {start}%, {ZOOM_MARGIN} before the first policy leaves "
                "the ideal line; allocation.csv holds every x from 0 to 130.",
            ),
            figure_html(
                _curve_figure(group, fragmentation=True, start=start),
                f"{workload}: fragmented GPU against arrived workload (FGD's measure)",
            ),
            figure_html(
                _model_figure(group), f"{workload}: GPUs allocated per model at the end (median)"
            ),
            figure_html(
                _heatmap(group),
                f"{workload}: every node's GPU use at the end, nodes by GPU model",
                height=300,
            ),
        ]
        parts.append(section_html(f"Evidence: {workload}", section))
    seeds = sorted({r.spec.seed for r in runs})
    scope = (
        f"<p class='note'>{len(runs)} runs: policies {html.escape(', '.join(_policies(runs)))}; "
        f"seed{'s' * (len(seeds) != 1)} {html.escape(', '.join(map(str, seeds)))}. "
        "Every pod went through dralloc's scheduler and DRA allocator.</p>"
    )
    report = write_page(
        path,
        "dralloc simulation: the FGD experiment",
        _answer(runs, workloads, prices) + scope,
        parts,
        provenance.html() if provenance is not None else "",
    )
    return [report, write_plotly_js(path.parent)]
