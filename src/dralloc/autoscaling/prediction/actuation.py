"""From a forecast to capacity (spec/autoscaling.md §9.3): the size of the managed
CapacityBuffer `predictor-<class>` per demand class, with its guards. Pure computation: the
replay passes what it knows at t and applies the buffer sizes this returns; the autoscaler does
the rest, so its cooldowns, limits and backoff apply unchanged.

The buffer of class c holds chunks of one representative pod of c (`Representative`), as many
as cover the forecast q-quantile F_q,c(t+h) beyond the demand D_c(t) present now:

    chunks_c = ⌈max(0, F_q,c(t+h) - D_c(t)) / amount_c⌉

A CapacityBuffer's virtual pods sit in free and upcoming room before they cause a scale-up
(§8), so room that is already free or upcoming is used first and is not subtracted again (that
would count it twice, and the buffer would shrink as soon as its own nodes came, then grow back).
§9.3's R_c, the part of the forecast that free and upcoming room do not cover and that will make
nodes, is reported beside it as `new_room`.

Guards, all on by default (§9.3):
* the predictor only ever adds: a buffer is never negative and is the only thing it sets, so a
  falling forecast empties the buffer and scale-in stays with the autoscaler's own rules;
* `max_warm_nodes` per shape caps the nodes the buffers of that shape's classes may hold, shared
  among classes in class order;
* `max_warm_gpu_hours_per_day` caps the GPU-hours the buffers may hold in one day (the replay
  passes what the day has spent so far);
* `forecast_only` computes and reports every target but actuates none.

A chunk is as big as the class's pods are (`chunk_gpus`): a buffer of 1-GPU chunks fits in the
free GPUs scattered over nodes and so makes no room an 8-GPU pod can use; chunks of the class's
p90 pod (by default; `predictor.chunk` also takes `mode`, `max` or a GPU count) keep whole
blocks free, as a CapacityBuffer of that pod would.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from dralloc.autoscaling.config import ChunkStatistic, Predictor
from dralloc.autoscaling.prediction.forecasters import Forecast
from dralloc.autoscaling.prediction.signal import DemandClass


class CapReason(StrEnum):
    """Why a buffer holds fewer chunks than the forecast asked for."""

    MAX_WARM_NODES = "maxWarmNodes"
    GPU_HOURS_PER_DAY = "maxWarmGpuHoursPerDay"
    FORECAST_ONLY = "forecastOnly"


@dataclass(frozen=True)
class Representative:
    """The representative pod of a class: it asks `amount` of the class's unit (GPUs or MIG
    slices), lands on `shape`, `per_node` of them fill one node, and each holds `gpus` whole-GPU
    equivalents (a 3g.40gb slice of an H100 is 3/7) for the GPU-hour budget."""

    shape: str
    amount: float
    per_node: int
    gpus: float

    def __post_init__(self) -> None:
        if self.amount <= 0 or self.per_node < 1 or self.gpus < 0:
            raise ValueError(f"bad representative pod {self}: amount > 0, per_node >= 1, gpus >= 0")


@dataclass(frozen=True)
class ClassState:
    """What the replay knows about a class at t: `demand` D_c(t) (running and waiting), and
    the `free` and `upcoming` (requested, not yet published) room for it, in the class's unit."""

    demand: float
    free: float = 0.0
    upcoming: float = 0.0


@dataclass(frozen=True)
class BufferTarget:
    """The managed buffer of one class: `chunks` to apply (0 with `forecastOnly`), `wanted`
    before the guards, `new_room` (§9.3's R_c), and which guards cut it."""

    name: str
    demand_class: DemandClass
    wanted: int
    chunks: int
    new_room: float
    capped_by: tuple[CapReason, ...] = ()


@dataclass(frozen=True)
class Guards:
    """§9.3's guards: `Guards.of(predictor)` reads them from the config."""

    max_warm_nodes: Mapping[str, int]
    max_warm_gpu_hours_per_day: float | None = None
    forecast_only: bool = False

    @classmethod
    def of(cls, predictor: Predictor) -> Guards:
        return cls(
            predictor.max_warm_nodes, predictor.max_warm_gpu_hours_per_day, predictor.forecast_only
        )


def chunk_gpus(sizes: Mapping[int, int], rule: ChunkStatistic | int, node_gpus: int) -> int:
    """GPUs per chunk of a class whose pods asked `sizes` (GPUs per pod -> pods): the p90
    (nearest rank, counting pods), the most common size (the larger on a tie) or the largest,
    or the fixed count `rule`; at least 1 and at most `node_gpus` (a chunk lands on one node).
    With no pod seen yet, one GPU.

    >>> sizes = {1: 6, 8: 4}
    >>> chunk_gpus(sizes, ChunkStatistic.P90, 8), chunk_gpus(sizes, ChunkStatistic.MODE, 8)
    (8, 1)
    >>> chunk_gpus({16: 1}, ChunkStatistic.MAX, 8), chunk_gpus({}, ChunkStatistic.P90, 8)
    (8, 1)
    """
    if isinstance(rule, int):
        wanted = rule
    else:
        counted = sorted((size, pods) for size, pods in sizes.items() if pods > 0)
        if not counted:
            return 1
        if rule is ChunkStatistic.MAX:
            wanted = counted[-1][0]
        elif rule is ChunkStatistic.MODE:
            wanted = max(counted, key=lambda item: (item[1], item[0]))[0]
        else:
            rank = math.ceil(0.9 * sum(pods for _, pods in counted))
            seen = 0
            wanted = counted[-1][0]
            for size, pods in counted:
                seen += pods
                if seen >= rank:
                    wanted = size
                    break
    return max(1, min(wanted, max(1, node_gpus)))


def wanted_chunks(forecast: Forecast | None, state: ClassState, amount: float) -> int:
    """⌈max(0, F_q - D) / amount⌉; no forecast (`none`, too little history) wants nothing.

    >>> wanted_chunks(Forecast(point=5.0, upper=10.0), ClassState(demand=6.0), amount=2.0)
    2
    """
    if forecast is None:
        return 0
    # A float tolerance keeps 4.0000000001 chunks at 4 (forecasts are sums of floats).
    return max(0, math.ceil((forecast.upper - state.demand) / amount - 1e-9))


def buffer_targets(
    forecasts: Mapping[DemandClass, Forecast | None],
    states: Mapping[DemandClass, ClassState],
    representatives: Mapping[DemandClass, Representative],
    guards: Guards,
    step: float,
    gpu_hours_spent_today: float = 0.0,
) -> list[BufferTarget]:
    """The buffer of every forecast class, in class order. A buffer held for one `step` seconds
    costs chunks x gpus x step / 3600 GPU-hours of the day's budget. A class without a state is
    taken as having no demand and no room."""
    nodes_left = dict(guards.max_warm_nodes)
    if guards.max_warm_gpu_hours_per_day is None:
        hours_left = math.inf
    else:
        hours_left = max(0.0, guards.max_warm_gpu_hours_per_day - gpu_hours_spent_today)
    targets = []
    for demand_class in sorted(forecasts):
        forecast = forecasts[demand_class]
        state = states.get(demand_class, ClassState(0.0))
        pod = representatives[demand_class]
        wanted = wanted_chunks(forecast, state, pod.amount)
        chunks = wanted
        capped: list[CapReason] = []
        if pod.shape in nodes_left:
            allowed = nodes_left[pod.shape] * pod.per_node
            if chunks > allowed:
                chunks = allowed
                capped.append(CapReason.MAX_WARM_NODES)
            nodes_left[pod.shape] -= math.ceil(chunks / pod.per_node)
        hours_per_chunk = pod.gpus * step / 3600.0
        if hours_per_chunk > 0 and chunks * hours_per_chunk > hours_left:
            chunks = math.floor(hours_left / hours_per_chunk + 1e-9)
            capped.append(CapReason.GPU_HOURS_PER_DAY)
        hours_left -= chunks * hours_per_chunk
        upper = 0.0 if forecast is None else forecast.upper
        new_room = max(0.0, upper - state.demand - state.free - state.upcoming)
        if guards.forecast_only and chunks:
            chunks = 0
            capped.append(CapReason.FORECAST_ONLY)
        targets.append(
            BufferTarget(
                demand_class.buffer_name(), demand_class, wanted, chunks, new_room, tuple(capped)
            )
        )
    return targets


def buffer_gpu_hours(
    targets: list[BufferTarget], representatives: Mapping[DemandClass, Representative], step: float
) -> float:
    """GPU-hours the applied buffers hold over one step: what the replay adds to the day's
    spending before the next call."""
    return sum(t.chunks * representatives[t.demand_class].gpus * step / 3600.0 for t in targets)
