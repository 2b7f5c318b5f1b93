"""The cost-versus-p95-wait frontier of spec/autoscaling.md §11: the static fleets `dralloc
size` replayed, beside the file's autoscaler replayed on the same trace, as a CSV and an HTML
page.

Owns the autoscaled points and the page; the static points are `sim.sizing`'s runs. Each
autoscaled point is one seeded replay (`sim.replay`, the file's mode) of the same trace with
the same policy and seed:

* `cluster-autoscaler`: the file's groups with their `max` scaled by each of `MAX_FACTORS`
  (rounded up, never below `min`), so the sweep asks "how much headroom is worth its cost";
* `karpenter`: the file as written (one point: its pools' limits are its own sweep, not
  made here);
* both reactive (predictor `none`); then, when the file sets a predictor, the file as
  written with that predictor: at each quantile of `QUANTILES` (§9.3: "report results for
  q ∈ {0.5, 0.8, 0.9, 0.95}"), labelled `<forecaster> q=<q>`, for the forecasters whose
  F_q depends on q (`seasonal-quantile`, `holt-winters`); once, labelled `<forecaster>`,
  for those whose F_q is their point (`seasonal-naive`, `ewma-peak`, §9.2) and the
  `oracle` (§9.5, no quantile), where a sweep would replay the same run four times.

Every point is one replay, counted against the sizing's run budget: `dralloc size` keeps
one replay per configuration out of the static search's share (all but one run, at most)
and replays the configurations in order while the budget lasts.

**Cost** on one axis for every scaler: USD per hour. A static fleet's is its price per hour
(the bill of every hour alike); an autoscaled run's is what it billed (launch to gone, per
second, `Fleet`) over the replay's length, from 0 to its end, in hours. The **p95 wait**
counts pods that never start as waiting forever (`sizing.p95_with_never`), and a point meets
the target only when every pod started (`FleetRun.meets`). The **frontier** is one, over
every scaler: a point is on it when no other point, of any scaler, costs no more and waits no
longer with one of the two strictly less (a point with pods never started waiting forever).
A karpenter run dearer and slower than a static fleet is off it. **Evictions** (runs stopped
before completing: consolidation, expiry, interruption, scale-down) are counted beside the
wait with the GPU-hours they lost and the p95 wait to a pod's first start, since an evicted
pod's wait runs from its arrival to the start of the run that completed.

Writes nothing but through `write_frontier_csv` / `write_frontier_page` (a temporary file
renamed into place: `sizing.write_csv`, `sim.pages`).
"""

from __future__ import annotations

import dataclasses
import html
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from dralloc.autoscaling.config import AutoscalingConfig, Forecaster, Mode, NodeGroup, Predictor
from dralloc.sim.sizing import (
    HOURS_PER_MONTH,
    SizingAnswer,
    SizingQuestion,
    counted,
    describe_fleet,
    format_wait,
    replay_fleet,
    seconds_cell,
    write_csv,
)

__all__ = [
    "FRONTIER_CSV",
    "FRONTIER_PAGE",
    "MAX_FACTORS",
    "QUANTILES",
    "STATIC",
    "FrontierPoint",
    "autoscaled_configs",
    "autoscaled_points",
    "autoscaled_sentence",
    "frontier_points",
    "frontier_rows",
    "predictor_note",
    "write_frontier_csv",
    "write_frontier_page",
]

FRONTIER_CSV = "frontier.csv"
FRONTIER_PAGE = "sizing.html"
MAX_FACTORS = (0.25, 0.5, 0.75, 1.0)
QUANTILES = (0.5, 0.8, 0.9, 0.95)  # §9.3
# §9.2: the forecasters whose q-quantile is more than their point.
SWEPT = frozenset({Forecaster.SEASONAL_QUANTILE, Forecaster.HOLT_WINTERS})
STATIC = "static"
NO_PREDICTOR = "none"


@dataclass(frozen=True)
class FrontierPoint:
    """One configuration replayed: its scaler (`static`, `cluster-autoscaler`, `karpenter`),
    predictor (`none`, `seasonal-quantile q=0.9`), what was set (`2 x l4x4`, `max x0.5: l4x2
    <= 3, l4x4 <= 2`), USD per hour (see the module docstring), the p95 wait (inf: too many
    pods never started), the pods never started, whether it meets the target, is on the
    frontier, is the answer; the evictions of its replay, the GPU-hours they lost and the p95
    wait to a pod's first start (`sizing.FleetRun`)."""

    scaler: str
    predictor: str
    configuration: str
    usd_per_hour: float
    wait_p95: float
    never_started: int
    meets_target: bool
    on_frontier: bool = False
    chosen: bool = False
    evictions: int = 0
    lost_gpu_hours: float = 0.0
    first_start_wait_p95: float = 0.0

    @property
    def usd_per_month(self) -> float:
        return self.usd_per_hour * HOURS_PER_MONTH

    @property
    def effective_wait(self) -> float:
        """The p95 wait the frontier compares: infinite when a pod never started."""
        return math.inf if self.never_started else self.wait_p95


def autoscaled_configs(
    config: AutoscalingConfig,
    factors: Sequence[float] = MAX_FACTORS,
    quantiles: Sequence[float] = QUANTILES,
) -> list[tuple[str, str, AutoscalingConfig]]:
    """The file's autoscaler configurations to replay as (predictor, configuration, config),
    in replay order (see the module docstring); none for a static file. Sizing sections are
    dropped; the reactive points drop the predictor too."""
    reactive = dataclasses.replace(config, sizing=None, predictor=Predictor())
    with_predictor = dataclasses.replace(config, sizing=None)
    out: list[tuple[str, str, AutoscalingConfig]] = []
    if config.mode is Mode.KARPENTER:
        out.append((NO_PREDICTOR, "as written", reactive))
        written = "as written"
    elif config.mode is Mode.CLUSTER_AUTOSCALER:
        seen: set[tuple[int, ...]] = set()
        for factor in sorted(factors):
            groups = tuple(
                dataclasses.replace(
                    g, max_size=max(g.min_size, math.ceil(g.max_size * factor - 1e-9))
                )
                for g in config.node_groups
            )
            sizes = tuple(g.max_size for g in groups)
            if sizes in seen:
                continue
            seen.add(sizes)
            label = f"max x{factor:g}: {_bounds(groups)}"
            out.append((NO_PREDICTOR, label, dataclasses.replace(reactive, node_groups=groups)))
        written = f"max x1: {_bounds(config.node_groups)}"
    else:
        return []
    forecaster = config.predictor.forecaster
    if forecaster is not Forecaster.NONE and forecaster not in SWEPT:
        out.append((str(forecaster), written, with_predictor))
    elif forecaster is not Forecaster.NONE:
        for q in quantiles:
            predictor = dataclasses.replace(config.predictor, quantile=q)
            out.append(
                (
                    f"{forecaster} q={q:g}",
                    written,
                    dataclasses.replace(with_predictor, predictor=predictor),
                )
            )
    return out


def _bounds(groups: Sequence[NodeGroup]) -> str:
    return ", ".join(f"{g.name} <= {g.max_size}" for g in groups)


Progress = Callable[[int, int, "FrontierPoint", float], None]
"""Called after each autoscaled replay: (its number from 1, how many, the point, seconds)."""


def autoscaled_points(
    question: SizingQuestion,
    factors: Sequence[float] = MAX_FACTORS,
    progress: Progress | None = None,
    *,
    limit: int | None = None,
) -> list[FrontierPoint]:
    """One replay per configuration of `autoscaled_configs`, on the question's trace, policy
    and seed; the first `limit` of them only, when given (what the run budget leaves)."""
    configs = autoscaled_configs(question.config, factors)
    if limit is not None:
        configs = configs[: max(limit, 0)]
    points: list[FrontierPoint] = []
    for number, (predictor, label, config) in enumerate(configs, 1):
        started = time.perf_counter()
        done = replay_fleet(question, config)
        hours = done.end_time / 3600
        point = FrontierPoint(
            scaler=str(config.mode),
            predictor=predictor,
            configuration=label,
            usd_per_hour=done.billed_usd / hours if hours > 0 else 0.0,
            wait_p95=done.wait_p95,
            never_started=done.never_started,
            meets_target=done.never_started == 0 and done.wait_p95 <= question.wait_p95,
            evictions=done.evictions,
            lost_gpu_hours=done.lost_gpu_hours,
            first_start_wait_p95=done.first_start_wait_p95,
        )
        points.append(point)
        if progress is not None:
            progress(number, len(configs), point, time.perf_counter() - started)
    return points


def frontier_points(
    answer: SizingAnswer, autoscaled: Sequence[FrontierPoint]
) -> list[FrontierPoint]:
    """The static runs of `answer` and the `autoscaled` points, each marked on or off the
    frontier of them all (and the answer's fleet as chosen), cheapest first within a
    scaler."""
    target = answer.question.wait_p95
    chosen = answer.chosen.fleet if answer.chosen is not None else None
    static = [
        FrontierPoint(
            scaler=STATIC,
            predictor=NO_PREDICTOR,
            configuration=describe_fleet(run.fleet),
            usd_per_hour=run.price_per_hour,
            wait_p95=run.wait_p95,
            never_started=run.never_started,
            meets_target=run.meets(target),
            chosen=run.fleet == chosen,
            evictions=run.evictions,
            lost_gpu_hours=run.lost_gpu_hours,
            first_start_wait_p95=run.first_start_wait_p95,
        )
        for run in answer.runs
    ]
    every = [*static, *autoscaled]
    out: list[FrontierPoint] = []
    for scaler in dict.fromkeys(p.scaler for p in every):
        group = [p for p in every if p.scaler == scaler]
        for point in sorted(group, key=lambda p: (p.usd_per_hour, p.wait_p95)):
            out.append(dataclasses.replace(point, on_frontier=not _beaten(point, every)))
    return out


def _beaten(point: FrontierPoint, others: Sequence[FrontierPoint]) -> bool:
    """Some other point is at most as costly and at most as slow, one of them strictly."""
    return any(
        o.usd_per_hour <= point.usd_per_hour
        and o.effective_wait <= point.effective_wait
        and (o.usd_per_hour, o.effective_wait) != (point.usd_per_hour, point.effective_wait)
        for o in others
    )


def frontier_rows(points: Sequence[FrontierPoint]) -> list[list[str]]:
    """The points as CSV rows under a header (a p95 wait of pods that never start: `inf`)."""
    rows = [
        [
            *("scaler", "predictor", "configuration", "usd_per_hour", "usd_per_month"),
            *("wait_p95_s", "never_started", "evictions", "lost_gpu_hours"),
            *("first_start_wait_p95_s", "meets_target", "on_frontier", "chosen"),
        ]
    ]
    for p in points:
        rows.append(
            [
                p.scaler,
                p.predictor,
                p.configuration,
                f"{p.usd_per_hour:.4f}",
                f"{p.usd_per_month:.2f}",
                seconds_cell(p.wait_p95),
                str(p.never_started),
                str(p.evictions),
                f"{p.lost_gpu_hours:.4f}",
                seconds_cell(p.first_start_wait_p95),
                str(p.meets_target).lower(),
                str(p.on_frontier).lower(),
                str(p.chosen).lower(),
            ]
        )
    return rows


def write_frontier_csv(path: Path, points: Sequence[FrontierPoint]) -> Path:
    return write_csv(path, frontier_rows(points))


def write_frontier_page(
    path: Path,
    answer: SizingAnswer,
    points: Sequence[FrontierPoint],
    *,
    source: str = "",
    command: str = "",
) -> Path:
    """`sizing.html` at `path`, with `plotly.min.js` beside it: the answer, the frontier
    chart (cost versus p95 wait, one colour per scaler, the frontier of every point as a
    line, the target as a dashed line, the answer ringed) and the table of every point;
    `command`, when given, is the command line that replays it all again."""
    # plotly is heavy: loaded only to draw.
    import plotly.graph_objects as go

    from dralloc.sim.pages import (
        figure_html,
        section_html,
        table_html,
        write_page,
        write_plotly_js,
    )

    question = answer.question
    finite = [p.effective_wait for p in points if math.isfinite(p.effective_wait)]
    # Pods that never start are drawn above every finite wait, on a line of their own.
    never_at = (max(finite, default=question.wait_p95) or 1.0) * 1.15
    figure = go.Figure()
    colours = {
        STATIC: "#0072B2",
        str(Mode.CLUSTER_AUTOSCALER): "#D55E00",
        str(Mode.KARPENTER): "#009E73",
    }
    for scaler in dict.fromkeys(p.scaler for p in points):
        group = [p for p in points if p.scaler == scaler]
        colour = colours.get(scaler, "#555555")
        figure.add_trace(
            go.Scatter(
                x=[p.usd_per_hour for p in group],
                y=[
                    p.effective_wait if math.isfinite(p.effective_wait) else never_at for p in group
                ],
                mode="markers",
                name=f"{scaler} (every run)",
                marker={"color": colour, "size": 8, "opacity": 0.55},
                text=[p.configuration for p in group],
                hovertemplate="%{text}<br>$%{x:.2f}/h, p95 wait %{y:.0f} s<extra></extra>",
            )
        )
    front = sorted(
        (p for p in points if p.on_frontier and math.isfinite(p.effective_wait)),
        key=lambda p: (p.usd_per_hour, p.wait_p95),
    )
    figure.add_trace(
        go.Scatter(
            x=[p.usd_per_hour for p in front],
            y=[p.wait_p95 for p in front],
            mode="lines+markers",
            line={"color": "#444444", "shape": "hv"},
            marker={"color": [colours.get(p.scaler, "#555555") for p in front], "size": 10},
            name="frontier (every scaler)",
            text=[f"{p.scaler}: {p.configuration}" for p in front],
            hovertemplate="%{text}<br>$%{x:.2f}/h, p95 wait %{y:.0f} s<extra></extra>",
        )
    )
    figure.add_hline(
        y=question.wait_p95,
        line={"dash": "dash", "color": "#444444"},
        annotation_text=f"target p95 wait {question.wait_p95:g} s",
    )
    chosen = [p for p in points if p.chosen]
    if chosen:
        figure.add_trace(
            go.Scatter(
                x=[chosen[0].usd_per_hour],
                y=[chosen[0].wait_p95],
                mode="markers",
                marker={"size": 18, "color": "rgba(0,0,0,0)", "line": {"width": 2}},
                name="the answer",
                hoverinfo="skip",
            )
        )
    figure.update_xaxes(title_text="USD per hour (static: the fleet's price; autoscaled: mean)")
    figure.update_yaxes(title_text="p95 wait (s)", rangemode="tozero")
    chart = figure_html(
        figure,
        "Cost versus p95 wait",
        note="Each point is one seeded replay of the trace. Points drawn at the top left pods "
        "that never started (the fleet cannot run them). The dashed line is the target; the "
        "frontier holds the points no other point, of any scaler, beats on cost and wait.",
    )
    headers = ["scaler", "predictor", "configuration", "USD/h", "USD/month", "p95 wait"]
    headers += ["unstarted", "evictions", "lost GPU-h", "p95 wait to first start", "meets"]
    headers += ["frontier"]
    rows = [
        [
            html.escape(p.scaler),
            html.escape(p.predictor),
            html.escape(p.configuration) + (" <b>(the answer)</b>" if p.chosen else ""),
            f"{p.usd_per_hour:,.2f}",
            f"{p.usd_per_month:,.0f}",
            html.escape(format_wait(p.wait_p95)),
            str(p.never_started),
            str(p.evictions),
            f"{p.lost_gpu_hours:,.2f}",
            html.escape(format_wait(p.first_start_wait_p95)),
            "yes" if p.meets_target else "no",
            "yes" if p.on_frontier else "",
        ]
        for p in points
    ]
    best = next((i for i, p in enumerate(points) if p.chosen), None)
    table = table_html(headers, rows, best=best)
    also = autoscaled_sentence(points)
    answer_html = (
        (
            f"<p class='headline'>{html.escape(answer.sentence())}</p>"
            + (f"<p>{html.escape(also)}</p>" if also else "")
        )
        + (
            f"<p class='note'>Trace {html.escape(source)}, policy {html.escape(question.policy)}, "
            f"seed {question.seed}; a month is {HOURS_PER_MONTH:g} h.</p>"
        )
        + (f"<p class='note'>Again: <code>{html.escape(command)}</code></p>" if command else "")
    )
    write_plotly_js(path.parent)
    return write_page(
        path,
        "Sizing: cost versus p95 wait",
        answer_html,
        [section_html("The frontier", [chart]), section_html("Every run", [table])],
        "",
    )


def autoscaled_sentence(points: Sequence[FrontierPoint]) -> str | None:
    """The cheapest autoscaled point meeting the target in one line (ties: the shorter
    wait); when none meets it, the closest autoscaled point (fewest pods never started, then
    the shorter wait, then the cheaper); None when no autoscaled point was replayed."""
    autoscaled = [p for p in points if p.scaler != STATIC]
    if not autoscaled:
        return None
    meeting = [p for p in autoscaled if p.meets_target]
    if not meeting:
        near = min(autoscaled, key=lambda p: (p.never_started, p.wait_p95, p.usd_per_hour))
        unstarted = (
            f", {counted(near.never_started, 'pod')} never started" if near.never_started else ""
        )
        return (
            f"no autoscaled configuration meets it either; the closest was {_named(near)} at a "
            f"mean ${near.usd_per_month:,.0f}/month (${near.usd_per_hour:,.2f}/h): p95 wait "
            f"{format_wait(near.wait_p95)}{unstarted}"
        )
    best = min(meeting, key=lambda p: (p.usd_per_hour, p.wait_p95))
    # "too" only beside a static fleet that meets the target: else this is the only answer.
    too = " too" if any(p.scaler == STATIC and p.meets_target for p in points) else ""
    return (
        f"{_named(best)} meets it{too} at a mean "
        f"${best.usd_per_month:,.0f}/month (${best.usd_per_hour:,.2f}/h), p95 wait "
        f"{format_wait(best.wait_p95)}"
    )


def _named(point: FrontierPoint) -> str:
    """`cluster-autoscaler (max x0.5: small <= 3, big <= 2, predictor ...)`."""
    predicted = f", predictor {point.predictor}" if point.predictor != NO_PREDICTOR else ""
    return f"{point.scaler} ({point.configuration}{predicted})"


def predictor_note(config: AutoscalingConfig) -> str | None:
    """A line saying how the file's predictor is replayed (at each q of `QUANTILES`, or once
    when q does not change its forecast, beside the reactive points), or that a static file
    never uses it; None when it sets none."""
    forecaster = config.predictor.forecaster
    if forecaster is Forecaster.NONE:
        return None
    if config.mode not in (Mode.CLUSTER_AUTOSCALER, Mode.KARPENTER):
        return f"{config.file}: predictor {forecaster} is not used: mode {config.mode} never scales"
    if forecaster not in SWEPT:
        return (
            f"{config.file}: predictor {forecaster} replayed once beside the reactive points "
            "(predictor none): its forecast is its point, whatever q"
        )
    quantiles = ", ".join(f"{q:g}" for q in QUANTILES)
    return (
        f"{config.file}: predictor {forecaster} replayed at q = {quantiles} (the file's "
        f"{config.predictor.quantile:g} aside), beside the reactive points (predictor none)"
    )
