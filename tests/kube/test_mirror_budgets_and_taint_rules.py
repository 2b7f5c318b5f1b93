"""ClusterMirror's PodDisruptionBudget and DeviceTaintRule handlers, without a server: budgets
land in the cache as the API server sent them; a rule reaches the inventory at the next
refresh and is a ResourceSlice update of exactly the slices whose devices it selects (what
upstream's slice tracker emits); the rules' informer exists only with DRADeviceTaintRules."""

from __future__ import annotations

from typing import Any, cast

from dralloc.features import Features
from dralloc.kube.assume import ClaimAssumeCache
from dralloc.kube.client import DEVICE_TAINT_RULES, POD_DISRUPTION_BUDGETS, KubeClient
from dralloc.kube.mirror import ClusterMirror
from dralloc.kube.ownership import Ownership
from dralloc.kube.shared_informers import SharedInformers
from dralloc.scheduler.cache import SchedulerCache
from dralloc.scheduler.framework import ClusterEvent
from dralloc.scheduler.queue import SchedulingQueue

Obj = dict[str, Any]
ON = Features().with_gates(DRADeviceTaintRules=True)


class Recorder:
    """Stands in for a profile's queue: records the cluster events it is told of."""

    def __init__(self) -> None:
        self.events: list[tuple[str, object, object]] = []

    def on_event(self, event: ClusterEvent, old: object, new: object) -> None:
        self.events.append((f"{event.resource}/{event.action}", old, new))


def mirror(features: Features = ON) -> tuple[ClusterMirror, Recorder]:
    recorder = Recorder()
    queues = cast(dict[str, SchedulingQueue], {"dralloc": recorder})
    cache = SchedulerCache(features)
    ownership = Ownership(allow_shared_pools=True)  # the slices below serve all nodes
    return ClusterMirror(cache, queues, ClaimAssumeCache(), ownership), recorder


def slice_obj(name: str, pool: str, devices: int, driver: str = "gpu.example.com") -> Obj:
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceSlice",
        "metadata": {"name": name, "resourceVersion": "1"},
        "spec": {
            "driver": driver,
            "allNodes": True,
            "pool": {"name": pool, "generation": 1, "resourceSliceCount": 1},
            "devices": [{"name": f"gpu-{i}"} for i in range(devices)],
        },
    }


def rule_obj(name: str, selector: Obj, effect: str = "NoSchedule") -> Obj:
    return {
        "apiVersion": "resource.k8s.io/v1beta2",
        "kind": "DeviceTaintRule",
        "metadata": {"name": name, "resourceVersion": "1"},
        "spec": {"deviceSelector": selector, "taint": {"key": "example.com/bad", "effect": effect}},
    }


def budget_obj(allowed: int) -> Obj:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "web", "namespace": "ml", "generation": 1},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}},
        "status": {
            "observedGeneration": 1,
            "disruptionsAllowed": allowed,
            "currentHealthy": 1 + allowed,
            "desiredHealthy": 1,
            "expectedPods": 1 + allowed,
            "disruptedPods": {"web-0": "2026-01-01T00:00:00Z"},
        },
    }


def tainted(m: ClusterMirror) -> dict[str, list[str]]:
    """Pool -> the devices the cache's inventory holds with a hard taint."""
    found: dict[str, list[str]] = {}
    for entry in m.cache.inventory.slices:
        pool = entry.slice.spec.pool.name
        found[pool] = [d.device.name for d in entry.devices if d.taints]
    return found


def test_a_budget_is_kept_with_the_status_the_server_sent_and_goes_when_deleted() -> None:
    m, recorder = mirror()
    m.pod_disruption_budgets.on_add(budget_obj(0))
    held = m.cache.disruption_budgets["ml/web"]
    assert held.status is not None
    assert (held.status.disruptions_allowed, held.status.disrupted_pods) == (
        0,
        {"web-0": "2026-01-01T00:00:00Z"},
    )
    m.pod_disruption_budgets.on_update(budget_obj(0), budget_obj(2))
    status = m.cache.disruption_budgets["ml/web"].status
    assert status is not None and status.disruptions_allowed == 2
    m.pod_disruption_budgets.on_delete(budget_obj(2))
    assert m.cache.disruption_budgets == {}
    assert recorder.events == []  # no plugin registers for budgets


def test_a_rule_taints_its_devices_at_the_next_refresh_and_updates_only_the_slices_it_selects() -> (
    None
):
    m, recorder = mirror()
    for name, pool in (("a", "pool-a"), ("b", "pool-b")):
        m.resource_slices.on_add(slice_obj(name, pool, 2))
    m.refresh()
    recorder.events.clear()
    rule = rule_obj("r", {"driver": "gpu.example.com", "pool": "pool-a", "device": "gpu-0"})
    m.device_taint_rules.on_add(rule)
    assert [(e, cast(Any, old).metadata.name) for e, old, _ in recorder.events] == [
        ("resource.k8s.io/ResourceSlice/Update", "a")
    ]
    assert tainted(m) == {"pool-a": [], "pool-b": []}  # not before the refresh
    assert m.refresh()
    assert tainted(m) == {"pool-a": ["gpu-0"], "pool-b": []}

    # Moving the rule to pool-b touches both slices: the one it leaves and the one it enters.
    recorder.events.clear()
    moved = rule_obj("r", {"pool": "pool-b"})
    m.device_taint_rules.on_update(rule, moved)
    assert sorted(cast(Any, old).metadata.name for _, old, _ in recorder.events) == ["a", "b"]
    m.refresh()
    assert tainted(m) == {"pool-a": [], "pool-b": ["gpu-0", "gpu-1"]}

    # A change of metadata only changes no device: no event.
    recorder.events.clear()
    relabelled = {**moved, "metadata": {**moved["metadata"], "labels": {"x": "y"}}}
    m.device_taint_rules.on_update(moved, relabelled)
    assert recorder.events == []

    m.device_taint_rules.on_delete(relabelled)
    assert [cast(Any, old).metadata.name for _, old, _ in recorder.events] == ["b"]
    m.refresh()
    assert tainted(m) == {"pool-a": [], "pool-b": []}


def test_without_the_gate_rules_taint_nothing_and_are_not_watched() -> None:
    m, _ = mirror(Features())
    m.resource_slices.on_add(slice_obj("a", "pool-a", 1))
    m.device_taint_rules.on_add(rule_obj("r", {"pool": "pool-a"}))
    m.refresh()
    assert tainted(m) == {"pool-a": []}
    client = cast(KubeClient, None)  # informers only made, never started
    for features, expected in (
        (Features(), [POD_DISRUPTION_BUDGETS]),
        (ON, [POD_DISRUPTION_BUDGETS, DEVICE_TAINT_RULES]),
    ):
        informers = SharedInformers(client)
        mirror(features)[0].watch_budgets_and_taint_rules(informers)
        assert [i.resource for i in informers.informers] == expected
