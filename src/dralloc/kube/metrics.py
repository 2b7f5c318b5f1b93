"""The Prometheus metrics of a live dralloc scheduler, in a registry of its own.

Owns the metric objects and their names, labels and buckets; records only what callers
report (no timing, no I/O) and renders nothing itself: `health.py` serves the registry.

kube-scheduler's names, labels and buckets (pkg/scheduler/metrics, Kubernetes 1.36) are kept
where dralloc does the same thing, so dashboards and alerts written for kube-scheduler read
dralloc too:

* `scheduler_schedule_attempts_total{result,profile}`, counter;
* `scheduler_scheduling_attempt_duration_seconds{result,profile}`, buckets 0.001 * 2^k (15);
* `scheduler_pending_pods{queue}`, gauge;
* `scheduler_pod_scheduling_sli_duration_seconds{attempts}`, buckets 0.01 * 2^k (20);
* `scheduler_framework_extension_point_duration_seconds{extension_point,status,profile}`,
  buckets 0.0001 * 2^k (12);
* `scheduler_plugin_execution_duration_seconds{plugin,extension_point,status}`,
  buckets 0.00001 * 1.5^k (20);
* `scheduler_preemption_attempts_total`, counter;
* `scheduler_preemption_victims`, buckets 1 * 2^k (7);
* `scheduler_unschedulable_pods{plugin,profile}`, gauge.

dralloc's own:

* `dralloc_foreign_allocations_total`: allocations on owned pools made for another
  scheduler's pods (spec 1);
* `dralloc_binding_duration_seconds{result}`: one binding cycle, PreBind to the end of Bind,
  buckets 0.001 * 2^k (15);
* `dralloc_devices{driver,model,node,state}`: devices, allocated or free;
* `dralloc_shared_counter_consumed{driver,pool,counter_set,counter}` and
  `dralloc_shared_counter_capacity{...}`: a pool's shared counter, used and published;
* `dralloc_fragmented_gpu_share`: see `AcceleratorReport.fragmented_gpu_share` (the
  dashboard's fragmentation tile, one computation: `kube.accelerators`);
* `dralloc_claims_pending{reason}`: claims waiting, by reason.

The accelerator gauges are computed when scraped, from an `AcceleratorReport` that a callable
supplied by the scheduler builds (`accelerator_report(cache)` builds one from the scheduler
cache), so they never drift from the cache and cost nothing between scrapes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from dralloc.allocator import DeviceKey, PoolKey
from dralloc.api.resource import ResourceClaim
from dralloc.kube.accelerators import SliceFactsMemory, device_model, fragmented_gpu_share
from dralloc.scheduler.cache import SchedulerCache

log = logging.getLogger(__name__)


def exponential_buckets(start: float, factor: float, count: int) -> tuple[float, ...]:
    """client-go's metrics.ExponentialBuckets: `count` upper bounds start * factor^k."""
    return tuple(start * factor**k for k in range(count))


class AttemptResult(StrEnum):
    """`result` of scheduler_schedule_attempts_total and its duration histogram."""

    SCHEDULED = "scheduled"
    UNSCHEDULABLE = "unschedulable"
    ERROR = "error"


class QueueName(StrEnum):
    """`queue` of scheduler_pending_pods: kube-scheduler's sub-queues."""

    ACTIVE = "active"
    BACKOFF = "backoff"
    UNSCHEDULABLE = "unschedulable"
    GATED = "gated"


class DeviceState(StrEnum):
    ALLOCATED = "allocated"
    FREE = "free"


class ClaimPendingReason(StrEnum):
    """`reason` of dralloc_claims_pending. `accelerator_report` counts UNALLOCATED from the
    cache; a scheduler that knows more reports the others."""

    UNALLOCATED = "unallocated"  # no allocation yet
    IN_FLIGHT = "in_flight"  # allocated in a binding cycle, not written yet
    BINDING_CONDITIONS = "binding_conditions"  # waiting for the devices' binding conditions


@dataclass(frozen=True)
class DeviceRow:
    """`count` devices of one model on one node (node "" for devices no single node owns)."""

    driver: str
    pool: str
    node: str
    model: str
    state: DeviceState
    count: int = 1


@dataclass(frozen=True)
class CounterRow:
    """One shared counter of a pool, in the counter's base unit (bytes for memory)."""

    driver: str
    pool: str
    counter_set: str
    counter: str
    capacity: float
    consumed: float


@dataclass(frozen=True)
class AcceleratorReport:
    """What the accelerator gauges show at one scrape: devices, shared counters, claims
    waiting, and `fragmented_gpu_share`: the share of the free GPU capacity (MIG slices and
    shares included) on nodes where the typical pending claim cannot be allocated now,
    0..1 (`kube.accelerators.fragmented_gpu_share`, the dashboard's fragmentation tile)."""

    devices: tuple[DeviceRow, ...] = ()
    counters: tuple[CounterRow, ...] = ()
    pending_claims: tuple[tuple[str, int], ...] = ()
    fragmented_gpu_share: float = 0.0


class _AcceleratorCollector(Collector):
    """The accelerator gauges, computed from a fresh report at every scrape."""

    def __init__(self, source: Callable[[], AcceleratorReport | None]) -> None:
        self.source = source

    def describe(self) -> Iterable[Metric]:
        # Describing without collecting keeps registration from building a report.
        return list(self._families())

    def collect(self) -> Iterable[Metric]:
        try:
            report = self.source()
        except Exception:  # a broken report must not take the other metrics down
            log.exception("building the accelerator report failed")
            return []
        if report is None:
            return []
        return list(self._families(report))

    @staticmethod
    def _families(report: AcceleratorReport | None = None) -> Iterator[Metric]:
        devices = GaugeMetricFamily(
            "dralloc_devices",
            "Devices published in ResourceSlices, allocated or free.",
            labels=["driver", "model", "node", "state"],
        )
        consumed = GaugeMetricFamily(
            "dralloc_shared_counter_consumed",
            "What allocated devices consume of a pool's shared counter, in its base unit.",
            labels=["driver", "pool", "counter_set", "counter"],
        )
        capacity = GaugeMetricFamily(
            "dralloc_shared_counter_capacity",
            "A pool's shared counter as published, in its base unit.",
            labels=["driver", "pool", "counter_set", "counter"],
        )
        fragmented = GaugeMetricFamily(
            "dralloc_fragmented_gpu_share",
            "Share of free devices on nodes (per driver) with fewer free devices than the "
            "typical pending pod needs.",
        )
        pending = GaugeMetricFamily(
            "dralloc_claims_pending", "ResourceClaims waiting, by reason.", labels=["reason"]
        )
        if report is not None:
            counts: dict[tuple[str, str, str], dict[DeviceState, int]] = {}
            for row in report.devices:
                by_state = counts.setdefault((row.driver, row.model, row.node), {})
                by_state[row.state] = by_state.get(row.state, 0) + row.count
            for (driver, model, node), by_state in sorted(counts.items()):
                for state in DeviceState:
                    devices.add_metric([driver, model, node, state], by_state.get(state, 0))
            for c in report.counters:
                labels = [c.driver, c.pool, c.counter_set, c.counter]
                consumed.add_metric(labels, c.consumed)
                capacity.add_metric(labels, c.capacity)
            fragmented.add_metric([], report.fragmented_gpu_share)
            for reason, count in sorted(report.pending_claims):
                pending.add_metric([reason], count)
        yield from (devices, consumed, capacity, fragmented, pending)


class SchedulerMetrics:
    """The metrics of one scheduler process, in their own `CollectorRegistry`.

    >>> metrics = SchedulerMetrics(accelerators=lambda: accelerator_report(cache))
    >>> metrics.observe_attempt(AttemptResult.SCHEDULED, "dralloc", 0.004)
    >>> generate_latest(metrics.registry)          # what /metrics serves

    Durations are seconds, measured by the caller on its injected clock.
    """

    def __init__(
        self,
        *,
        accelerators: Callable[[], AcceleratorReport | None] | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.schedule_attempts = Counter(
            "scheduler_schedule_attempts",
            "Attempts to schedule pods, by result (scheduled, unschedulable, error).",
            ["result", "profile"],
            registry=r,
        )
        self.scheduling_attempt_duration = Histogram(
            "scheduler_scheduling_attempt_duration_seconds",
            "Scheduling attempt latency in seconds (scheduling algorithm plus binding).",
            ["result", "profile"],
            buckets=exponential_buckets(0.001, 2, 15),
            registry=r,
        )
        self.pending_pods = Gauge(
            "scheduler_pending_pods",
            "Pending pods, by queue (active, backoff, unschedulable, gated).",
            ["queue"],
            registry=r,
        )
        self.pod_scheduling_sli_duration = Histogram(
            "scheduler_pod_scheduling_sli_duration_seconds",
            "Seconds from a pod first entering the queue to its successful scheduling, "
            "by the number of attempts it took.",
            ["attempts"],
            buckets=exponential_buckets(0.01, 2, 20),
            registry=r,
        )
        self.framework_extension_point_duration = Histogram(
            "scheduler_framework_extension_point_duration_seconds",
            "Seconds spent running all plugins of one extension point.",
            ["extension_point", "status", "profile"],
            buckets=exponential_buckets(0.0001, 2, 12),
            registry=r,
        )
        self.plugin_execution_duration = Histogram(
            "scheduler_plugin_execution_duration_seconds",
            "Seconds one plugin ran at one extension point.",
            ["plugin", "extension_point", "status"],
            buckets=exponential_buckets(0.00001, 1.5, 20),
            registry=r,
        )
        self.preemption_attempts = Counter(
            "scheduler_preemption_attempts",
            "Preemption attempts in the cluster so far.",
            registry=r,
        )
        self.preemption_victims = Histogram(
            "scheduler_preemption_victims",
            "Number of victims chosen by one preemption.",
            buckets=exponential_buckets(1, 2, 7),
            registry=r,
        )
        self.unschedulable_pods = Gauge(
            "scheduler_unschedulable_pods",
            "Unschedulable pods, by the plugin that rejected them and profile.",
            ["plugin", "profile"],
            registry=r,
        )
        self.foreign_allocations = Counter(
            "dralloc_foreign_allocations",
            "Allocations seen on owned pools whose pods belong to another scheduler.",
            registry=r,
        )
        self.binding_duration = Histogram(
            "dralloc_binding_duration_seconds",
            "Seconds one binding cycle took, from PreBind to the end of Bind.",
            ["result"],
            buckets=exponential_buckets(0.001, 2, 15),
            registry=r,
        )
        self.accelerators = _AcceleratorCollector(accelerators or (lambda: None))
        r.register(self.accelerators)

    def set_accelerator_source(self, source: Callable[[], AcceleratorReport | None]) -> None:
        """Where the accelerator gauges come from (the scheduler supplies it once its cache
        exists)."""
        self.accelerators.source = source

    def observe_attempt(self, result: AttemptResult, profile: str, seconds: float) -> None:
        """One scheduling attempt ended."""
        self.schedule_attempts.labels(result.value, profile).inc()
        self.scheduling_attempt_duration.labels(result.value, profile).observe(seconds)

    def observe_pod_scheduled(self, attempts: int, seconds: float) -> None:
        """A pod was scheduled, `seconds` after it first entered the queue."""
        self.pod_scheduling_sli_duration.labels(str(attempts)).observe(seconds)

    def set_pending_pods(self, counts: Mapping[QueueName, int]) -> None:
        """The queue's sizes now; a queue left out counts 0."""
        for queue in QueueName:
            self.pending_pods.labels(queue.value).set(counts.get(queue, 0))

    def observe_extension_point(
        self, extension_point: str, status: str, profile: str, seconds: float
    ) -> None:
        self.framework_extension_point_duration.labels(extension_point, status, profile).observe(
            seconds
        )

    def observe_plugin(
        self, plugin: str, extension_point: str, status: str, seconds: float
    ) -> None:
        self.plugin_execution_duration.labels(plugin, extension_point, status).observe(seconds)

    def observe_preemption(self, victims: int) -> None:
        """One preemption attempt, and how many victims it chose."""
        self.preemption_attempts.inc()
        self.preemption_victims.observe(victims)

    def set_unschedulable_pods(self, counts: Mapping[tuple[str, str], int]) -> None:
        """(plugin, profile) -> unschedulable pods it rejected; pairs left out drop to 0."""
        for labels in self._label_sets(self.unschedulable_pods):
            if labels not in counts:
                self.unschedulable_pods.labels(*labels).set(0)
        for (plugin, profile), count in counts.items():
            self.unschedulable_pods.labels(plugin, profile).set(count)

    def count_foreign_allocation(self) -> None:
        self.foreign_allocations.inc()

    def observe_binding(self, result: AttemptResult, seconds: float) -> None:
        self.binding_duration.labels(result.value).observe(seconds)

    @staticmethod
    def _label_sets(gauge: Gauge) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for metric in gauge.collect():
            for sample in metric.samples:
                found.append((sample.labels["plugin"], sample.labels["profile"]))
        return found


# --------------------------------------------------------------------- the cache's report


def accelerator_report(
    cache: SchedulerCache,
    *,
    pending_claims: Mapping[str, int] | None = None,
    waiting_claims: Iterable[ResourceClaim] = (),
    memory: SliceFactsMemory | None = None,
) -> AcceleratorReport:
    """The accelerator report of the cache as it is now.

    Devices come from the newest generation of every pool; a device counts as allocated
    when any claim holds it (whole, a share or some of its capacity). Counters are the pools'
    shared counters with what their allocated devices consume. `pending_claims` (reason ->
    count) defaults to the cache's claims without an allocation, as `unallocated`. The
    fragmented share weighs the cache's unallocated claims and `waiting_claims` (claims
    pending pods would ask for that the cache does not hold yet). `memory` remembers the
    devices' facts from one scrape to the next (a live scheduler's 100,000 devices are read
    once, not at every scrape); None reads them every time."""
    allocated = cache.allocated
    newest: dict[PoolKey, int] = {}
    for entry in cache.inventory.slices:
        spec = entry.slice.spec
        key = PoolKey(spec.driver, spec.pool.name)
        newest[key] = max(newest.get(key, spec.pool.generation), spec.pool.generation)

    devices: list[DeviceRow] = []
    counters: list[CounterRow] = []
    for entry in cache.inventory.slices:
        spec = entry.slice.spec
        key = PoolKey(spec.driver, spec.pool.name)
        if spec.pool.generation != newest[key]:
            continue
        for device in entry.devices:
            state = (
                DeviceState.ALLOCATED if allocated.has_allocation(device.key) else DeviceState.FREE
            )
            node = spec.node_name or device.device.node_name or ""
            devices.append(
                DeviceRow(key.driver, key.pool, node, device_model(device.device), state)
            )
        if not spec.shared_counters:
            continue
        by_name = {
            d.device.name: d
            for e in cache.inventory.pool_slices(key)
            if e.slice.spec.pool.generation == newest[key]
            for d in e.devices
        }
        in_use = allocated.by_pool.get((key.driver, key.pool), set())
        for counter_set in spec.shared_counters:
            for counter, value in sorted(counter_set.counters.items()):
                used = 0
                for name in in_use:
                    found = by_name.get(name)
                    if found is not None and allocated.has_allocation(
                        DeviceKey(key.driver, key.pool, name)
                    ):
                        used += found.counter_totals.get((counter_set.name, counter), 0)
                counters.append(
                    CounterRow(
                        key.driver,
                        key.pool,
                        counter_set.name,
                        counter,
                        capacity=value.value.nano / 1e9,
                        consumed=used / 1e9,
                    )
                )

    if pending_claims is None:
        waiting = sum(1 for c in cache.claims.values() if c.status.allocation is None)
        pending_claims = {ClaimPendingReason.UNALLOCATED.value: waiting}
    return AcceleratorReport(
        devices=tuple(devices),
        counters=tuple(counters),
        pending_claims=tuple(sorted(pending_claims.items())),
        fragmented_gpu_share=fragmented_gpu_share(cache, waiting_claims, memory=memory),
    )
