"""The scheduler's Prometheus metrics: kube-scheduler's names and buckets, a registry per
scheduler, and the accelerator gauges built from the scheduler cache at scrape time."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import generate_latest

from dralloc.api.io import from_server
from dralloc.api.resource import ResourceClaim, ResourceSlice
from dralloc.features import Features
from dralloc.kube.metrics import (
    AcceleratorReport,
    AttemptResult,
    QueueName,
    SchedulerMetrics,
    accelerator_report,
    exponential_buckets,
)
from dralloc.scheduler.cache import SchedulerCache

DRIVER = "gpu.example.com"


def _buckets(metrics: SchedulerMetrics, name: str) -> list[float]:
    for family in metrics.registry.collect():
        if family.name == name:
            return sorted(
                float(s.labels["le"])
                for s in family.samples
                if s.name.endswith("_bucket") and s.labels["le"] != "+Inf"
            )
    raise AssertionError(f"no metric {name}")


def test_two_schedulers_in_one_process_keep_separate_registries() -> None:
    first, second = SchedulerMetrics(), SchedulerMetrics()
    first.observe_attempt(AttemptResult.SCHEDULED, "dralloc", 0.003)
    labels = {"result": "scheduled", "profile": "dralloc"}
    assert first.registry.get_sample_value("scheduler_schedule_attempts_total", labels) == 1
    assert second.registry.get_sample_value("scheduler_schedule_attempts_total", labels) is None


def test_an_attempt_counts_and_lands_in_kube_schedulers_buckets() -> None:
    metrics = SchedulerMetrics()
    metrics.observe_attempt(AttemptResult.UNSCHEDULABLE, "dralloc", 0.003)
    metrics.observe_attempt(AttemptResult.UNSCHEDULABLE, "dralloc", 0.0005)
    value = metrics.registry.get_sample_value
    labels = {"result": "unschedulable", "profile": "dralloc"}
    assert value("scheduler_schedule_attempts_total", labels) == 2
    bucket = "scheduler_scheduling_attempt_duration_seconds_bucket"
    assert value(bucket, {**labels, "le": "0.001"}) == 1
    assert value(bucket, {**labels, "le": "0.004"}) == 2


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("scheduler_scheduling_attempt_duration_seconds", exponential_buckets(0.001, 2, 15)),
        ("scheduler_pod_scheduling_sli_duration_seconds", exponential_buckets(0.01, 2, 20)),
        (
            "scheduler_framework_extension_point_duration_seconds",
            exponential_buckets(0.0001, 2, 12),
        ),
        ("scheduler_plugin_execution_duration_seconds", exponential_buckets(0.00001, 1.5, 20)),
        ("scheduler_preemption_victims", exponential_buckets(1, 2, 7)),
        ("dralloc_binding_duration_seconds", exponential_buckets(0.001, 2, 15)),
    ],
)
def test_histograms_use_kube_schedulers_bucket_bounds(name: str, expected: list[float]) -> None:
    metrics = SchedulerMetrics()
    metrics.observe_pod_scheduled(1, 0.5)
    metrics.observe_extension_point("Filter", "Success", "dralloc", 0.001)
    metrics.observe_plugin("DynamicResources", "Filter", "Success", 0.001)
    metrics.observe_preemption(3)
    metrics.observe_binding(AttemptResult.SCHEDULED, 0.02)
    metrics.observe_attempt(AttemptResult.SCHEDULED, "dralloc", 0.01)
    assert _buckets(metrics, name) == pytest.approx(sorted(expected))


def test_exponential_buckets_are_start_times_factor_powers() -> None:
    assert exponential_buckets(0.001, 2, 4) == (0.001, 0.002, 0.004, 0.008)


def test_pending_pods_report_every_queue_and_unschedulable_pods_drop_to_zero() -> None:
    metrics = SchedulerMetrics()
    metrics.set_pending_pods({QueueName.ACTIVE: 3, QueueName.GATED: 1})
    value = metrics.registry.get_sample_value
    assert [value("scheduler_pending_pods", {"queue": q.value}) for q in QueueName] == [
        3,
        0,
        0,
        1,
    ]
    metrics.set_unschedulable_pods({("DynamicResources", "dralloc"): 2, ("NodeName", "x"): 1})
    metrics.set_unschedulable_pods({("DynamicResources", "dralloc"): 1})
    gauge = "scheduler_unschedulable_pods"
    assert value(gauge, {"plugin": "DynamicResources", "profile": "dralloc"}) == 1
    assert value(gauge, {"plugin": "NodeName", "profile": "x"}) == 0


def test_counters_render_with_the_total_suffix() -> None:
    metrics = SchedulerMetrics()
    metrics.count_foreign_allocation()
    metrics.observe_preemption(2)
    text = generate_latest(metrics.registry).decode()
    assert "dralloc_foreign_allocations_total 1.0" in text
    assert "scheduler_preemption_attempts_total 1.0" in text
    assert 'scheduler_preemption_victims_bucket{le="2.0"} 1.0' in text


# ------------------------------------------------------------- the report of a cache


def _slice(name: str, spec: dict[str, Any]) -> ResourceSlice:
    raw = {"metadata": {"name": name}, "spec": {"driver": DRIVER, **spec}}
    return from_server(raw, ResourceSlice)


def _gpu(name: str, model: str | None = None, **extra: Any) -> dict[str, Any]:
    attributes = {"productName": {"string": model}} if model else {}
    return {"name": name, "attributes": attributes, **extra}


def _claim(name: str, count: int, devices: list[tuple[str, str]] | None = None) -> ResourceClaim:
    raw: dict[str, Any] = {
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
        "spec": {
            "devices": {
                "requests": [
                    {
                        "name": "gpu",
                        "exactly": {
                            "deviceClassName": "gpu",
                            "allocationMode": "ExactCount",
                            "count": count,
                        },
                    }
                ]
            }
        },
    }
    if devices:
        raw["status"] = {
            "allocation": {
                "devices": {
                    "results": [
                        {"request": "gpu", "driver": DRIVER, "pool": pool, "device": device}
                        for pool, device in devices
                    ]
                }
            }
        }
    return from_server(raw, ResourceClaim)


def _pool(name: str, generation: int = 1, count: int = 1) -> dict[str, Any]:
    return {"name": name, "generation": generation, "resourceSliceCount": count}


def _cache() -> SchedulerCache:
    slices = [
        # node-1: four GPUs, the newest generation of its pool; an older one is ignored.
        _slice(
            "node-1-gpus",
            {
                "nodeName": "node-1",
                "pool": _pool("node-1", generation=2),
                "devices": [_gpu(f"gpu-{i}", "A100") for i in range(4)],
            },
        ),
        _slice(
            "node-1-old",
            {
                "nodeName": "node-1",
                "pool": _pool("node-1", generation=1),
                "devices": [_gpu("gpu-old", "A100")],
            },
        ),
        # node-2: a partitionable GPU, its counters in a slice of their own.
        _slice(
            "node-2-counters",
            {
                "nodeName": "node-2",
                "pool": _pool("node-2", count=2),
                "sharedCounters": [
                    {"name": "gpu-0", "counters": {"memory": {"value": "80Gi"}}},
                ],
            },
        ),
        _slice(
            "node-2-partitions",
            {
                "nodeName": "node-2",
                "pool": _pool("node-2", count=2),
                "devices": [
                    {
                        "name": f"mig-{i}",
                        "attributes": {"gpu.example.com/model": {"string": "A100 MIG"}},
                        "consumesCounters": [
                            {"counterSet": "gpu-0", "counters": {"memory": {"value": "20Gi"}}}
                        ],
                    }
                    for i in range(2)
                ],
            },
        ),
    ]
    return SchedulerCache(
        Features(),
        slices=slices,
        claims=[
            _claim("running", 3, [("node-1", "gpu-0"), ("node-1", "gpu-1"), ("node-1", "gpu-2")]),
            _claim("partition", 1, [("node-2", "mig-1")]),
            _claim("waiting-a", 2),
            _claim("waiting-b", 2),
            _claim("waiting-c", 8),
        ],
    )


def test_a_report_of_the_cache_counts_devices_by_model_node_and_state() -> None:
    metrics = SchedulerMetrics()
    cache = _cache()
    metrics.set_accelerator_source(lambda: accelerator_report(cache))
    value = metrics.registry.get_sample_value

    def devices(model: str, node: str, state: str) -> float | None:
        labels = {"driver": DRIVER, "model": model, "node": node, "state": state}
        return value("dralloc_devices", labels)

    assert devices("A100", "node-1", "allocated") == 3
    assert devices("A100", "node-1", "free") == 1  # gpu-old's generation is gone
    assert devices("A100 MIG", "node-2", "allocated") == 1
    assert devices("A100 MIG", "node-2", "free") == 1
    counter = {"driver": DRIVER, "pool": "node-2", "counter_set": "gpu-0", "counter": "memory"}
    assert value("dralloc_shared_counter_capacity", counter) == 80 * 2**30
    assert value("dralloc_shared_counter_consumed", counter) == 20 * 2**30
    assert value("dralloc_claims_pending", {"reason": "unallocated"}) == 3
    # gpu.example.com publishes no `type` gpu or mig: none of these devices is a GPU
    # (test_metrics_fragmentation.py counts real fleets' GPUs).
    assert value("dralloc_fragmented_gpu_share", {}) == 0.0


def test_the_report_follows_the_cache_at_every_scrape() -> None:
    metrics = SchedulerMetrics()
    cache = _cache()
    metrics.set_accelerator_source(lambda: accelerator_report(cache))
    cache.remove_claim("default/running")
    labels = {"driver": DRIVER, "model": "A100", "node": "node-1", "state": "free"}
    assert metrics.registry.get_sample_value("dralloc_devices", labels) == 4


def test_the_scheduler_may_say_why_claims_wait() -> None:
    report = accelerator_report(_cache(), pending_claims={"in_flight": 1, "unallocated": 2})
    assert report.pending_claims == (("in_flight", 1), ("unallocated", 2))


def test_a_failing_report_leaves_the_other_metrics_served() -> None:
    def broken() -> AcceleratorReport:
        raise RuntimeError("cache is being rebuilt")

    metrics = SchedulerMetrics(accelerators=broken)
    metrics.count_foreign_allocation()
    text = generate_latest(metrics.registry).decode()
    assert "dralloc_foreign_allocations_total 1.0" in text
    assert "dralloc_devices{" not in text
