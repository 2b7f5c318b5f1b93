"""Predictive pre-allocation in the replay (spec/autoscaling.md §9.1-9.3): the demand the replay
has seen, forecast per class, turned into the managed CapacityBuffers `predictor-<class>` whose
chunks the autoscaler (cluster-autoscaler or karpenter mode) provisions for.

Owns one `ForecastStream` per demand class, the buffer sizes last applied and the day's
GPU-hour spending (the `maxWarmGpuHoursPerDay` guard); reads the engine through the
`FleetDriver` (`replay.autoscaled`) and never changes the cluster: the buffer's virtual pods go
to `run_once(buffer_pods=...)`, so cooldowns, limits, backoff and scale-down apply unchanged.

- **Signal.** Every `predictor.step` (5 min) on the virtual clock, from the first tick: the
  GPUs asked by the pods running or rejected at that instant, per class (the pod's GPU model,
  whole GPUs (`gpu`: the replay's pods claim fractional GPUs, counted as `num_gpu x
  gpu_milli / 1000`), gang bucket `1`: trace pods carry no gang). Only the past is read. A
  class seen for the first time starts with zeros for the steps before.
- **Forecast.** `settings_for(predictor, h)` with h = `horizon_steps(L, step)`, L the p90 of
  the class's shape's Requested -> DevicesPublished delay (`lead_time`, seeded by the run).
  The class's shape is the first shape of the file publishing its GPU model.
- **Buffers.** `buffer_targets` with the predictor's guards; each class's buffer holds
  `chunks` copies of a representative pod of k whole GPUs of the class (k CPUs, k GiB), named
  `capacity-buffer-predictor-<class>-<i>` as a CapacityBuffer's chunks are. k is
  `chunk_gpus` of the GPUs per pod of the class's pods arrived so far (`predictor.chunk`:
  their p90 by default, `mode`, `max`, or a fixed count; never more than the shape's GPUs),
  so the buffer keeps room a pending multi-GPU pod can use: 1-GPU chunks sit in GPUs left
  free here and there and make none. A change of any buffer (its chunks or their size)
  counts as a change of the cluster for the quiet-loop check.
- **Oracle** (`forecaster: oracle`, §9.5, the upper bound): the one predictor that reads the
  trace ahead. Before the run, each class's need per step is the most GPUs its pods would hold
  at once within the step if none waited (`peak_demand`), in nodes of the class's shape
  (`nodes_needed`); `oracle_fleet(needed, h)` requests each node h steps (the lead time plus
  one step, as the forecasters aim) before the first step that needs it and keeps it through
  gaps shorter than h. At each step the buffer holds the oracle fleet's GPUs beyond the demand
  present (its "forecast" is that fleet's capacity), so the autoscaler keeps exactly those
  nodes; its cooldowns, limits and scale-down rules still apply. Its forecast error is not
  reported (it forecasts capacity, not demand).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from dralloc.autoscaling.config import AutoscalingConfig, Forecaster
from dralloc.autoscaling.prediction import (
    ClassState,
    DemandClass,
    DemandRecord,
    Forecast,
    ForecastStream,
    Guards,
    Representative,
    buffer_gpu_hours,
    buffer_targets,
    chunk_gpus,
    held_nodes,
    horizon_steps,
    lead_time,
    nodes_needed,
    oracle_fleet,
    peak_demand,
    settings_for,
)
from dralloc.autoscaling.virtualpods import VirtualPod
from dralloc.sim.openb_objects import pod_objects
from dralloc.sim.traces.model import TraceNode, TracePod
from dralloc.sim.traces.timeline import ReplayTrace

__all__ = ["PredictionSummary", "ReplayPredictor"]

_DAY = 86400.0
_BUFFER_POD_CPU_MILLI = 1000  # per GPU of a chunk
_BUFFER_POD_MEMORY_MIB = 1024  # per GPU of a chunk


@dataclass(frozen=True)
class PredictionSummary:
    """What the predictor did: samples taken, the largest buffer per class (chunks), buffer
    GPU-hours held, per class the mean absolute error of its forecasts against the demand
    sampled h steps later (None before any pair exists, and for the oracle), and the GPUs of
    a chunk per class at the end of the run."""

    forecaster: str
    samples: int
    peak_chunks: Mapping[str, int] = field(default_factory=dict)
    buffer_gpu_hours: float = 0.0
    forecast_mae: Mapping[str, float | None] = field(default_factory=dict)
    chunk_gpus: Mapping[str, int] = field(default_factory=dict)


class ReplayPredictor:
    """The predictor of one run (see the module docstring)."""

    def __init__(
        self,
        config: AutoscalingConfig,
        shapes: Mapping[str, TraceNode],
        trace: ReplayTrace,
        seed: int,
    ) -> None:
        self.predictor = config.predictor
        self.trace = trace
        self.step = self.predictor.step
        self.guards = Guards.of(self.predictor)
        self.shape_of: dict[str, str] = {}
        self.horizon: dict[str, int] = {}
        for name, node in shapes.items():
            if node.model and node.model not in self.shape_of:
                self.shape_of[node.model] = name
                lead = lead_time(config.shapes[name].provisioning, self.step, seed)
                self.horizon[node.model] = horizon_steps(lead, self.step)
        self.shapes = shapes
        self.by_name = {timed.pod.name: timed.pod for timed in trace.pods}
        self.streams: dict[DemandClass, ForecastStream] = {}
        self.forecasts: dict[DemandClass, list[Forecast | None]] = {}
        self.representatives: dict[DemandClass, Representative] = {}
        self.chunks: dict[DemandClass, int] = {}
        self.sizes: dict[DemandClass, Counter[int]] = {}  # GPUs per pod -> pods seen
        self.seen: set[str] = set()
        self.pods: tuple[VirtualPod, ...] = ()
        self.next_sample = 0.0
        self.samples = 0
        self.day = 0
        self.spent_today = 0.0
        self.spent = 0.0
        self.peak: dict[DemandClass, int] = {}
        self.oracle: dict[DemandClass, list[float]] = {}
        if self.predictor.forecaster is Forecaster.ORACLE:
            self.oracle = self._oracle_capacity()
            for demand_class in sorted(self.oracle):
                self._add_class(demand_class)

    @property
    def is_active(self) -> bool:
        return self.predictor.forecaster is not Forecaster.NONE

    def class_of(self, pod: TracePod) -> tuple[DemandClass, float] | None:
        """The pod's demand class and the GPUs it asks; None for a pod without GPUs or of a
        model no shape publishes."""
        if pod.num_gpu <= 0:
            return None
        models = sorted(pod.gpu_spec) or sorted(self.shape_of)
        model = next((m for m in models if m in self.shape_of), None)
        if model is None:
            return None
        return DemandClass(model), pod.num_gpu * pod.gpu_milli / 1000.0

    def due(self, now: float) -> bool:
        return now >= self.next_sample - 1e-9

    def sample(self, now: float, present: list[str]) -> bool:
        """Take the step's sample from the pods `present` (running or waiting, by name), set
        the buffers; True when a buffer changed. The next step is `next_sample`."""
        demand: dict[DemandClass, float] = {}
        for name in present:
            pod = self.by_name.get(name)
            found = self.class_of(pod) if pod is not None else None
            if pod is None or found is None:
                continue
            demand[found[0]] = demand.get(found[0], 0.0) + found[1]
            if name not in self.seen:
                self.seen.add(name)
                self.sizes.setdefault(found[0], Counter())[pod.num_gpu] += 1
        for demand_class in sorted(demand):
            if demand_class not in self.streams:
                self._add_class(demand_class)
        step_index = math.floor(now / self.step + 1e-9)
        for demand_class, stream in self.streams.items():
            stream.append(demand.get(demand_class, 0.0))
            self.forecasts[demand_class].append(self._forecast(demand_class, stream, step_index))
        resized = self._resize_chunks()
        self.samples += 1
        self.next_sample = now + self.step
        day = int(now // _DAY)
        if day != self.day:
            self.day, self.spent_today = day, 0.0
        forecasts = {c: f[-1] for c, f in self.forecasts.items()}
        states = {c: ClassState(demand.get(c, 0.0)) for c in self.streams}
        targets = buffer_targets(
            forecasts, states, self.representatives, self.guards, self.step, self.spent_today
        )
        held = buffer_gpu_hours(targets, self.representatives, self.step)
        self.spent_today += held
        self.spent += held
        chunks = {t.demand_class: t.chunks for t in targets}
        for demand_class, count in chunks.items():
            self.peak[demand_class] = max(self.peak.get(demand_class, 0), count)
        if chunks == self.chunks and not resized:
            return False
        self.chunks = chunks
        self.pods = tuple(self._buffer_pods())
        return True

    def _forecast(
        self, demand_class: DemandClass, stream: ForecastStream, step_index: int
    ) -> Forecast | None:
        capacity = self.oracle.get(demand_class)
        if capacity is None:
            return stream.forecast()
        held = capacity[min(step_index, len(capacity) - 1)] if capacity else 0.0
        return Forecast(held, held)

    def _oracle_capacity(self) -> dict[DemandClass, list[float]]:
        """Per class, the GPUs of the oracle's fleet held at each step (module docstring)."""
        records = []
        last = 0.0
        for timed in self.trace.pods:
            found = self.class_of(timed.pod)
            if found is None:
                continue
            end = None if timed.duration is None else timed.arrival + timed.duration
            records.append(DemandRecord(found[0], timed.arrival, found[1], end))
            last = max(last, timed.arrival if end is None else end)
        steps = math.floor(last / self.step) + 1
        capacity: dict[DemandClass, list[float]] = {}
        for demand_class, peaks in peak_demand(records, self.step, steps).items():
            node_gpus = max(1, self.shapes[self.shape_of[demand_class.device]].gpus)
            spans = oracle_fleet(nodes_needed(peaks, node_gpus), self.horizon[demand_class.device])
            capacity[demand_class] = [float(n * node_gpus) for n in held_nodes(spans, steps)]
        return capacity

    def _add_class(self, demand_class: DemandClass) -> None:
        settings = settings_for(self.predictor, self.horizon[demand_class.device])
        stream = ForecastStream(settings)
        for _ in range(self.samples):
            stream.append(0.0)
        self.streams[demand_class] = stream
        self.forecasts[demand_class] = [None] * self.samples
        self.representatives[demand_class] = self._representative(demand_class)

    def _representative(self, demand_class: DemandClass) -> Representative:
        shape = self.shape_of[demand_class.device]
        node_gpus = max(1, self.shapes[shape].gpus)
        gpus = chunk_gpus(self.sizes.get(demand_class, {}), self.predictor.chunk, node_gpus)
        return Representative(shape, float(gpus), max(1, node_gpus // gpus), float(gpus))

    def _resize_chunks(self) -> bool:
        """Size every class's chunk from the pods seen so far; True when one changed."""
        resized = False
        for demand_class, old in self.representatives.items():
            new = self._representative(demand_class)
            if new != old:
                self.representatives[demand_class] = new
                resized = True
        return resized

    def _buffer_pods(self) -> list[VirtualPod]:
        pods: list[VirtualPod] = []
        for demand_class, count in sorted(self.chunks.items()):
            gpus = round(self.representatives[demand_class].amount)
            for index in range(count):
                name = f"capacity-buffer-{demand_class.buffer_name()}-{index}"
                pod = TracePod(
                    name,
                    _BUFFER_POD_CPU_MILLI * gpus,
                    _BUFFER_POD_MEMORY_MIB * gpus,
                    gpus,
                    1000,
                    frozenset({demand_class.device}),
                )
                objects = pod_objects(pod, self.trace.models, self.trace.source)
                claims = (objects.claim,) if objects.claim is not None else ()
                pods.append(VirtualPod(objects.pod, claims))
        return pods

    def summary(self) -> PredictionSummary:
        maes: dict[str, float | None] = {}
        for demand_class, stream in sorted(self.streams.items()):
            history = stream.history
            h = self.horizon[demand_class.device]
            errors = [
                abs(forecast.point - float(history[k + h]))
                for k, forecast in enumerate(self.forecasts[demand_class])
                if forecast is not None and k + h < len(history)
            ]
            maes[str(demand_class)] = (
                sum(errors) / len(errors) if errors and not self.oracle else None
            )
        return PredictionSummary(
            str(self.predictor.forecaster),
            self.samples,
            {str(c): n for c, n in sorted(self.peak.items())},
            self.spent,
            maes,
            {str(c): round(r.amount) for c, r in sorted(self.representatives.items())},
        )
