"""What a replay measures as it runs: allocated and total milli-GPU, FGD's fragmentation per
node, their integrals over time (overall and per GPU model), the time series samples and the
GPU time of pods, turned into a `ReplayResult`'s figures at the end.

Owns only these counters; the engine tells it what changed (a node's GPUs came or went, a pod
started or stopped) and when time moved on (`advance`). It reads a node's GPU state from the
scheduler cache through the policies' `GpuShareView`, and never changes the cache.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from dralloc.scheduler.cache import SchedulerCache
from dralloc.scheduler.plugins.gpushare import MILLI, FragmentationMeter, GpuShareView
from dralloc.sim.replay.results import Sample

SECONDS_PER_HOUR = 3600.0


class ReplayMeasures:
    """The run's counters. `node_model` and `node_gpus` say, per node name, its GPU model code
    ("" for none) and how many GPUs count toward capacity while it is in the cluster.

    Per GPU model, for the cost of capacity (`ReplayResult.capacity_gpu_hours`): milli-GPU in
    the cluster and fragmented now, and their integrals over the charged window, which opens at
    `charge_from` (the first arrival: a trace's clock may start long before it). Autoscaled
    nodes' part of the capacity is kept apart (`fleet_capacity`): their provisioned hours come
    from the fleet (launch to gone), so the engine's own integral leaves them out."""

    def __init__(
        self,
        cache: SchedulerCache,
        view: GpuShareView,
        meter: FragmentationMeter,
        codes: Iterable[str],
        *,
        charge_from: float,
        interval: float,
    ) -> None:
        self.cache = cache
        self.view = view
        # FGD's fragmentation F(M) against the trace's typical pods, per node in the cluster.
        self.meter = meter
        self.charge_from = charge_from
        self.interval = interval
        codes = list(codes)
        self.node_model: dict[str, str] = {}
        self.node_gpus: dict[str, int] = {}
        self.capacity = 0
        self.allocated = 0
        self.model_capacity = dict.fromkeys(codes, 0)
        self.model_fragment = dict.fromkeys(codes, 0.0)
        self.model_capacity_area = dict.fromkeys(codes, 0.0)
        self.model_fragment_area = dict.fromkeys(codes, 0.0)
        self.fleet_capacity = dict.fromkeys(codes, 0)
        self.fleet_capacity_area = dict.fromkeys(codes, 0.0)
        self.gpu_milli_seconds = dict.fromkeys(codes, 0.0)
        self.fragment: dict[str, float] = {}
        self.fragmented = 0.0
        self.last_time = 0.0
        self.allocated_area = 0.0
        self.capacity_area = 0.0
        self.fragment_area = 0.0
        self.samples: list[Sample] = []
        self.next_sample = 0

    # ------------------------------------------------------------------ changes

    def gpus_added(self, node: str, gpus: int, *, fleet: bool = False) -> None:
        """`gpus` of `node` count toward capacity from now on (a fleet node's: `fleet`)."""
        self.capacity += gpus * MILLI
        if model := self.node_model[node]:
            self.model_capacity[model] += gpus * MILLI
            if fleet:
                self.fleet_capacity[model] += gpus * MILLI

    def gpus_removed(self, node: str, *, fleet: bool = False) -> None:
        """`node`'s GPUs leave the capacity."""
        gpus = self.node_gpus[node]
        self.capacity -= gpus * MILLI
        if model := self.node_model[node]:
            self.model_capacity[model] -= gpus * MILLI
            if fleet:
                self.fleet_capacity[model] -= gpus * MILLI

    def pod_started(self, milli: int) -> None:
        self.allocated += milli

    def pod_stopped(self, model: str, milli: int, seconds: float) -> None:
        """A pod holding `milli` of a `model` GPU for `seconds` let go."""
        self.allocated -= milli
        if model:
            self.gpu_milli_seconds[model] += milli * seconds

    def refresh_fragment(self, node: str) -> None:
        """Recompute F_n(M) of `node` (0 when it is not in the cluster) into the total."""
        info = self.cache.nodes.get(node)
        new = self.meter.node_fragment(self.view.node_state(info)) if info is not None else 0.0
        change = new - self.fragment.get(node, 0.0)
        self.fragmented += change
        self.fragment[node] = new
        if model := self.node_model[node]:
            self.model_fragment[model] += change

    # --------------------------------------------------------------------- time

    def advance(self, now: float, pending: int, running: int) -> None:
        """Account for the time up to `now`: utilization integrals and the samples before it
        (the state is constant between batches; `pending` and `running` pods in it)."""
        elapsed = now - self.last_time
        if elapsed > 0:
            self.allocated_area += self.allocated * elapsed
            self.capacity_area += self.capacity * elapsed
            self.fragment_area += self.fragmented * elapsed
            charged = now - max(self.last_time, self.charge_from)
            if charged > 0:
                for model, milli in self.model_capacity.items():
                    self.model_capacity_area[model] += milli * charged
                    self.fleet_capacity_area[model] += self.fleet_capacity[model] * charged
                    self.model_fragment_area[model] += self.model_fragment[model] * charged
            self.last_time = now
        if self.interval > 0:
            while (at := self.next_sample * self.interval) < now:
                self.samples.append(self.sample(at, pending, running))
                self.next_sample += 1

    def sample_batch(self, now: float, pending: int, running: int) -> None:
        """With `interval` 0, a sample after every batch of events."""
        if self.interval == 0:
            self.samples.append(self.sample(now, pending, running))

    def sample_to(self, end: float, pending: int, running: int) -> None:
        """The run ended at `end`: the samples up to it, `end` included."""
        if self.interval > 0:
            while (at := self.next_sample * self.interval) <= end:
                self.samples.append(self.sample(at, pending, running))
                self.next_sample += 1

    def sample(self, at: float, pending: int, running: int) -> Sample:
        return Sample(at, self.allocated, self.capacity, pending, running, self.fragmented)

    # ------------------------------------------------------------------- result

    def gpu_hours(self, end: float, running: Iterable[tuple[str, int, float]]) -> dict[str, float]:
        """GPU-hours per model, with the pods still `running` at `end` (model, milli, start)
        counted up to it."""
        for model, milli, start in running:
            if model:
                self.gpu_milli_seconds[model] += milli * (end - start)
        return {
            model: ms / MILLI / SECONDS_PER_HOUR for model, ms in self.gpu_milli_seconds.items()
        }

    def capacity_gpu_hours(self, fleet_hours: Mapping[str, float] | None) -> dict[str, float]:
        """Provisioned GPU-hours per model: the trace's nodes over the charged window, plus
        the fleet's own (`fleet_hours`, launch to gone) when the run has one."""
        capacity = {
            model: area / MILLI / SECONDS_PER_HOUR
            for model, area in self.model_capacity_area.items()
        }
        if fleet_hours is not None:
            for model in capacity:
                trace_part = self.model_capacity_area[model] - self.fleet_capacity_area[model]
                capacity[model] = trace_part / MILLI / SECONDS_PER_HOUR + (
                    fleet_hours.get(model, 0.0)
                )
        return capacity

    def fragmented_gpu_hours(self) -> dict[str, float]:
        return {
            model: area / MILLI / SECONDS_PER_HOUR
            for model, area in self.model_fragment_area.items()
        }

    @property
    def mean_utilization(self) -> float:
        return self.allocated_area / self.capacity_area if self.capacity_area else 0.0

    @property
    def mean_fragmentation(self) -> float:
        return self.fragment_area / self.capacity_area if self.capacity_area else 0.0
