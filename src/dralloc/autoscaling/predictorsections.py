"""Reading the predictive pre-allocation sections of a `kind: Autoscaling` file (spec/
autoscaling.md §9, all dralloc's own): the `predictor` (forecaster and its knobs), the
`warmPool` of pre-launched nodes (§9.4, read into the prediction library's own `WarmPool`) and
the `sizing` search (§9.6).

Each reader takes the `FieldReader` collecting the file's problems and returns a typed value,
reporting every problem at its field path; a section the file leaves out is the default
`Predictor`, or None. No I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dralloc.autoscaling.config import (
    ChunkStatistic,
    Forecaster,
    Mode,
    NodeGroup,
    NodePool,
    Predictor,
    Shape,
    Sizing,
    SizingObjective,
)
from dralloc.autoscaling.fields import FieldReader
from dralloc.autoscaling.prediction.sizing import DEFAULT_BUDGET
from dralloc.autoscaling.prediction.warmpools import WarmPool, WarmState
from dralloc.documents import show


def read_predictor(reader: FieldReader, raw: object, shapes: Mapping[str, Shape]) -> Predictor:
    fields = reader.mapping(
        raw,
        "predictor",
        (
            "forecaster",
            "q",
            "step",
            "period",
            "refit",
            "minHistory",
            "window",
            "margin",
            "maxWarmNodes",
            "maxWarmGpuHoursPerDay",
            "forecastOnly",
            "seasons",
            "fitWindow",
            "chunk",
        ),
    )
    warm: dict[str, int] = {}
    for shape, count in reader.mapping(
        fields.get("maxWarmNodes"), "predictor.maxWarmNodes", None
    ).items():
        if shape not in shapes:
            reader.report(f"predictor.maxWarmNodes.{shape}", f"unknown shape {show(shape)}")
        warm[shape] = reader.integer(count, f"predictor.maxWarmNodes.{shape}", 0)
    quantile = reader.number(fields.get("q"), "predictor.q", 0.9, high=1.0)
    if quantile in (0.0, 1.0):
        reader.report("predictor.q", f"must be strictly between 0 and 1, got {quantile:g}")
    step = reader.duration(fields.get("step"), "predictor.step", 300.0)
    period = reader.duration(fields.get("period"), "predictor.period", 86400.0)
    if step <= 0:
        reader.report("predictor.step", "must be > 0")
    elif period % step:
        reader.report("predictor.period", f"must be a whole number of steps ({step:g} s)")
    hours = fields.get("maxWarmGpuHoursPerDay")
    fit_window = fields.get("fitWindow")
    return Predictor(
        forecaster=reader.choice(
            fields.get("forecaster"), "predictor.forecaster", Forecaster, Forecaster.NONE
        ),
        quantile=quantile,
        step=step,
        period=period,
        refit=reader.duration(fields.get("refit"), "predictor.refit", 86400.0),
        min_history_periods=reader.integer(fields.get("minHistory"), "predictor.minHistory", 2, 1),
        window=reader.duration(fields.get("window"), "predictor.window", 3600.0),
        margin=reader.number(fields.get("margin"), "predictor.margin", 0.0),
        max_warm_nodes=warm,
        max_warm_gpu_hours_per_day=None
        if hours is None
        else reader.number(hours, "predictor.maxWarmGpuHoursPerDay", 0.0),
        forecast_only=reader.boolean(fields.get("forecastOnly"), "predictor.forecastOnly", False),
        seasons=reader.integer(fields.get("seasons"), "predictor.seasons", 4, 1),
        # Whole periods: Holt-Winters' seasonal start needs two of them.
        fit_window_periods=None
        if fit_window is None
        else reader.integer(fit_window, "predictor.fitWindow", 2, 2),
        chunk=_read_chunk(reader, fields.get("chunk")),
    )


def _read_chunk(reader: FieldReader, raw: object) -> ChunkStatistic | int:
    """`chunk`: GPUs per buffer chunk, `p90` (default), `mode`, `max` (of the class's pods
    seen so far) or a whole count >= 1."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return reader.integer(raw, "predictor.chunk", 1, 1)
    if raw is None or isinstance(raw, str):
        return reader.choice(raw, "predictor.chunk", ChunkStatistic, ChunkStatistic.P90)
    values = ", ".join(member.value for member in ChunkStatistic)
    reader.report("predictor.chunk", f"must be one of {values} or a GPU count, got {show(raw)}")
    return ChunkStatistic.P90


def read_warm_pool(
    reader: FieldReader,
    raw: object,
    shapes: Mapping[str, Shape],
    mode: Mode,
    groups: Sequence[NodeGroup],
    pools: Sequence[NodePool],
) -> WarmPool | None:
    """`warmPool` (§9.4), or None when the file has none. Its shape must be one the mode
    scales up: a node group's (cluster-autoscaler, oracle) or a node pool's (karpenter)."""
    if raw is None:
        return None
    fields = reader.mapping(raw, "warmPool", ("shape", "minSize", "state", "stoppedPrice"))
    shape = reader.string(fields.get("shape"), "warmPool.shape") or ""
    if fields.get("shape") is None:
        reader.report("warmPool.shape", "required")
    elif shape and shape not in shapes:
        reader.report(
            "warmPool.shape", f"unknown shape {show(shape)} (shapes: {', '.join(shapes) or 'none'})"
        )
    elif shape and mode is Mode.STATIC:
        reader.report("warmPool", "mode static never scales up: a warm pool is never taken from")
    elif shape and mode is Mode.KARPENTER and all(shape not in p.shapes for p in pools):
        reader.report("warmPool.shape", f"shape {shape} is in no node pool's shapes")
    elif (
        shape
        and mode in (Mode.CLUSTER_AUTOSCALER, Mode.ORACLE)
        and all(g.shape != shape for g in groups)
    ):
        reader.report("warmPool.shape", f"shape {shape} is the shape of no node group")
    if fields.get("minSize") is None:
        reader.report("warmPool.minSize", "required")
    min_size = reader.integer(fields.get("minSize"), "warmPool.minSize", 0)
    state = reader.choice(fields.get("state"), "warmPool.state", WarmState, WarmState.STOPPED)
    price = fields.get("stoppedPrice")
    if price is not None and state is WarmState.RUNNING:
        reader.report(
            "warmPool.stoppedPrice", "only for state stopped (running nodes cost the price)"
        )
    return WarmPool(
        shape=shape,
        min_size=min_size,
        state=state,
        stopped_price=None if price is None else reader.number(price, "warmPool.stoppedPrice", 0.0),
    )


def read_sizing(reader: FieldReader, raw: object, shapes: Mapping[str, Shape]) -> Sizing | None:
    """`sizing` (§9.6), or None when the file has none. `shapes` defaults to every shape of
    the file; the wait target `constraint.waitP95` is required."""
    if raw is None:
        return None
    fields = reader.mapping(raw, "sizing", ("shapes", "objective", "constraint", "budget"))
    searched: list[str] = []
    if "shapes" in fields:
        listed = reader.items(fields["shapes"], "sizing.shapes")
        if not listed and isinstance(fields["shapes"], list):
            reader.report("sizing.shapes", "must list at least one shape (or be left out: all)")
        searched = reader.shape_names(listed, "sizing.shapes", shapes)
    else:
        searched = list(shapes)
    constraint = reader.mapping(fields.get("constraint"), "sizing.constraint", ("waitP95",))
    if constraint.get("waitP95") is None:
        reader.report("sizing.constraint.waitP95", "required: the p95 wait to meet, e.g. 600s")
    return Sizing(
        shapes=tuple(searched),
        wait_p95=reader.duration(constraint.get("waitP95"), "sizing.constraint.waitP95", 0.0),
        objective=reader.choice(
            fields.get("objective"), "sizing.objective", SizingObjective, SizingObjective.COST
        ),
        budget=reader.integer(fields.get("budget"), "sizing.budget", DEFAULT_BUDGET, 1),
    )
