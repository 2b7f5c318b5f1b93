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
  `chunks` copies of a representative pod: one whole GPU of the class (1 CPU, 1 GiB), named
  `capacity-buffer-predictor-<class>-<i>` as a CapacityBuffer's chunks are. A change of any
  buffer counts as a change of the cluster for the quiet-loop check.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from dralloc.autoscaling.config import AutoscalingConfig, Forecaster
from dralloc.autoscaling.prediction import (
    ClassState,
    DemandClass,
    Forecast,
    ForecastStream,
    Guards,
    Representative,
    buffer_gpu_hours,
    buffer_targets,
    horizon_steps,
    lead_time,
    settings_for,
)
from dralloc.autoscaling.virtualpods import VirtualPod
from dralloc.sim.openb_objects import pod_objects
from dralloc.sim.traces.model import TraceNode, TracePod
from dralloc.sim.traces.timeline import ReplayTrace

__all__ = ["PredictionSummary", "ReplayPredictor"]

_DAY = 86400.0
_BUFFER_POD_CPU_MILLI = 1000
_BUFFER_POD_MEMORY_MIB = 1024


@dataclass(frozen=True)
class PredictionSummary:
    """What the predictor did: samples taken, the largest buffer per class (chunks), buffer
    GPU-hours held, and per class the mean absolute error of its forecasts against the demand
    sampled h steps later (None before any pair exists)."""

    forecaster: str
    samples: int
    peak_chunks: Mapping[str, int] = field(default_factory=dict)
    buffer_gpu_hours: float = 0.0
    forecast_mae: Mapping[str, float | None] = field(default_factory=dict)


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
        self.pods: tuple[VirtualPod, ...] = ()
        self.next_sample = 0.0
        self.samples = 0
        self.day = 0
        self.spent_today = 0.0
        self.spent = 0.0
        self.peak: dict[DemandClass, int] = {}

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
            if found is not None:
                demand[found[0]] = demand.get(found[0], 0.0) + found[1]
        for demand_class in sorted(demand):
            if demand_class not in self.streams:
                self._add_class(demand_class)
        for demand_class, stream in self.streams.items():
            stream.append(demand.get(demand_class, 0.0))
            self.forecasts[demand_class].append(stream.forecast())
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
        if chunks == self.chunks:
            return False
        self.chunks = chunks
        self.pods = tuple(self._buffer_pods())
        return True

    def _add_class(self, demand_class: DemandClass) -> None:
        settings = settings_for(self.predictor, self.horizon[demand_class.device])
        stream = ForecastStream(settings)
        for _ in range(self.samples):
            stream.append(0.0)
        self.streams[demand_class] = stream
        self.forecasts[demand_class] = [None] * self.samples
        shape = self.shape_of[demand_class.device]
        self.representatives[demand_class] = Representative(
            shape, 1.0, max(1, self.shapes[shape].gpus), 1.0
        )

    def _buffer_pods(self) -> list[VirtualPod]:
        pods: list[VirtualPod] = []
        for demand_class, count in sorted(self.chunks.items()):
            for index in range(count):
                name = f"capacity-buffer-{demand_class.buffer_name()}-{index}"
                pod = TracePod(
                    name,
                    _BUFFER_POD_CPU_MILLI,
                    _BUFFER_POD_MEMORY_MIB,
                    1,
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
            maes[str(demand_class)] = sum(errors) / len(errors) if errors else None
        return PredictionSummary(
            str(self.predictor.forecaster),
            self.samples,
            {str(c): n for c, n in sorted(self.peak.items())},
            self.spent,
            maes,
        )
