"""Predictive pre-allocation and its honest evaluation (spec/autoscaling.md §9-10).

Pure, typed functions the replay drives; no clock, no simulator types, no I/O:

* `signal`: demand per class (device, MIG profile or whole GPU, gang size bucket) sampled every
  step from plain pod records, and the lead time and horizon a forecast aims at (§9.1);
* `forecasters` / `holtwinters`: `none`, `seasonal-naive`, `seasonal-quantile`, `holt-winters`
  (additive, damped, fitted by SSE, refitted on the past only) and `ewma-peak`, each reading
  samples up to its origin only (§9.2);
* `stream`: the same forecasts as a replay samples, one sample at a time, with the Holt-Winters
  fit and states cached (`incremental=False` turns the cache off);
* `actuation`: the managed `predictor-<class>` CapacityBuffer sizes, adding capacity only, with
  the warm-node and GPU-hour guards and `forecastOnly` (§9.3);
* `warmpools`: what a running or stopped warm node skips and costs (§9.4);
* `oracle`: the fleet of a scaler that knows every arrival, the upper bound (§9.5);
* `sizing`: bisection and mix grid for the cheapest static fleet meeting a p95 wait target,
  sweeps for autoscaled modes, and the cost-versus-wait Pareto frontier (§9.6);
* `scores`: the time split, rolling-origin evaluation, MAE, MASE, pinball loss and coverage (§10);
* `baselines`: deltas to `none`, cost per saved waiting-GPU-hour, the static-buffer comparison a
  predictor must win, and day-block bootstrap intervals (§10).
"""

from dralloc.autoscaling.prediction.actuation import (
    BufferTarget,
    CapReason,
    ClassState,
    Guards,
    Representative,
    buffer_gpu_hours,
    buffer_targets,
    chunk_gpus,
    wanted_chunks,
)
from dralloc.autoscaling.prediction.baselines import (
    Delta,
    RunOutcome,
    day_bootstrap,
    delta,
    predictor_wins,
    static_buffer_at,
)
from dralloc.autoscaling.prediction.forecasters import (
    Forecast,
    ForecastSettings,
    ewma_peak,
    forecast_at,
    holt_winters,
    rolling_forecasts,
    seasonal_naive,
    seasonal_quantile,
    settings_for,
)
from dralloc.autoscaling.prediction.holtwinters import (
    HoltWintersFilter,
    HoltWintersFit,
    HoltWintersParams,
    fit_holt_winters,
    run_states,
)
from dralloc.autoscaling.prediction.oracle import (
    NodeSpan,
    held_nodes,
    node_steps,
    nodes_needed,
    oracle_fleet,
    peak_demand,
    share_of_oracle,
)
from dralloc.autoscaling.prediction.scores import (
    ForecastScores,
    TimeSplit,
    coverage,
    evaluate,
    mae,
    mase,
    pinball,
    seasonal_naive_scale,
    time_split,
)
from dralloc.autoscaling.prediction.signal import (
    GANG_BUCKETS,
    DemandClass,
    DemandRecord,
    demand_series,
    gang_bucket,
    horizon_steps,
    lead_time,
    lead_times_by_shape,
)
from dralloc.autoscaling.prediction.sizing import (
    Evaluation,
    FleetCounts,
    Sized,
    SizingResult,
    choose,
    pareto_frontier,
    size_static,
    smallest_meeting,
    sweep,
)
from dralloc.autoscaling.prediction.stream import ForecastStream
from dralloc.autoscaling.prediction.warmpools import WarmPool, WarmState, refills

__all__ = [
    "GANG_BUCKETS",
    "BufferTarget",
    "CapReason",
    "ClassState",
    "Delta",
    "DemandClass",
    "DemandRecord",
    "Evaluation",
    "FleetCounts",
    "Forecast",
    "ForecastScores",
    "ForecastSettings",
    "ForecastStream",
    "Guards",
    "HoltWintersFilter",
    "HoltWintersFit",
    "HoltWintersParams",
    "NodeSpan",
    "Representative",
    "RunOutcome",
    "Sized",
    "SizingResult",
    "TimeSplit",
    "WarmPool",
    "WarmState",
    "buffer_gpu_hours",
    "buffer_targets",
    "choose",
    "chunk_gpus",
    "coverage",
    "day_bootstrap",
    "delta",
    "demand_series",
    "evaluate",
    "ewma_peak",
    "fit_holt_winters",
    "forecast_at",
    "gang_bucket",
    "held_nodes",
    "holt_winters",
    "horizon_steps",
    "lead_time",
    "lead_times_by_shape",
    "mae",
    "mase",
    "node_steps",
    "nodes_needed",
    "oracle_fleet",
    "pareto_frontier",
    "peak_demand",
    "pinball",
    "predictor_wins",
    "refills",
    "rolling_forecasts",
    "run_states",
    "seasonal_naive",
    "seasonal_naive_scale",
    "seasonal_quantile",
    "settings_for",
    "share_of_oracle",
    "size_static",
    "smallest_meeting",
    "static_buffer_at",
    "sweep",
    "time_split",
    "wanted_chunks",
]
