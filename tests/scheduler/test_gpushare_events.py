"""GpuCapacityFilter's cluster events (`gpushare.hints`): a node usually registers before its
driver publishes its GPUs, so a pod the filter rejected on the bare node must be requeued by
the ResourceSlice that brings them, and only by slices that bring GPUs."""

from __future__ import annotations

import msgspec
import pytest

from dralloc.allocator import Allocator
from dralloc.api.resource import ResourceSlice
from dralloc.devices import driver_device_classes
from dralloc.features import Features
from dralloc.scheduler.cache import SchedulerCache
from dralloc.scheduler.framework import (
    ClusterEvent,
    EnqueueExtensions,
    Framework,
    PodInfo,
    Profile,
    QueueingHint,
)
from dralloc.scheduler.plugins.dynamicresources import DynamicResources
from dralloc.scheduler.plugins.gpushare import GpuCapacityFilter, GpuShareView
from dralloc.scheduler.plugins.gpushare.hints import is_schedulable_after_slice_change
from dralloc.scheduler.queue import QueueName, SchedulingQueue
from dralloc.scheduler.scheduler import Scheduler
from dralloc.sim.openb_objects import cluster_objects, pod_objects
from dralloc.sim.traces import TraceNode, TracePod
from dralloc.sim.traces.openb import openb_models

FEATURES = Features()
MODELS = openb_models()
QUEUE, SKIP = QueueingHint.QUEUE, QueueingHint.QUEUE_SKIP
SLICE_ADD = ClusterEvent("resource.k8s.io/ResourceSlice", "Add")
SLICE_UPDATE = ClusterEvent("resource.k8s.io/ResourceSlice", "Update")
NODE_ADD = ClusterEvent("Node", "Add")
T4_NODE = TraceNode(name="t4-node", cpu_milli=96000, memory_mib=393216, gpus=2, model="T4")


class FakeClock:
    def __init__(self) -> None:
        self.time = 100.0

    def now(self) -> float:
        return self.time


def _published_slices() -> list[ResourceSlice]:
    (objects,) = cluster_objects([T4_NODE], MODELS)
    assert objects.slices
    return list(objects.slices)


def _pod_info() -> PodInfo:
    return PodInfo.of(pod_objects(TracePod("p", 1000, 1024, 1, 500), MODELS).pod)


def _with_devices(piece: ResourceSlice, count: int) -> ResourceSlice:
    spec = msgspec.structs.replace(piece.spec, devices=list(piece.spec.devices[:count]))
    return msgspec.structs.replace(piece, spec=spec)


def test_a_pod_rejected_on_a_node_without_devices_is_requeued_when_its_slices_appear() -> None:
    # The node registered; its driver has not published its GPUs yet.
    (objects,) = cluster_objects([T4_NODE], MODELS)
    cache = SchedulerCache(FEATURES, nodes=[objects.node], classes=driver_device_classes())
    dra = DynamicResources(cache, Allocator(FEATURES))
    capacity = GpuCapacityFilter(GpuShareView(cache))
    profile = Profile(pre_filter=[dra], filter=[capacity, dra], reserve=[dra], pre_bind=[dra])
    scheduler = Scheduler(cache, Framework(profile))
    clock = FakeClock()
    queue = SchedulingQueue.for_profile(clock, profile)
    made = pod_objects(TracePod("p", 1000, 1024, 1, 500), MODELS)
    assert made.claim is not None
    cache.set_claim(made.claim)
    queue.add(made.pod)
    info = queue.pop()
    assert info is not None
    outcome = scheduler.schedule_one(info.pod)
    assert outcome.node is None
    assert outcome.unschedulable_plugins == {GpuCapacityFilter.name}
    queue.add_unschedulable_if_not_present(
        info, unschedulable_plugins=outcome.unschedulable_plugins
    )
    assert queue.where(info.uid) is QueueName.UNSCHEDULABLE
    # The node's own Add says nothing: it has no GPU yet.
    assert queue.on_event(NODE_ADD, None, cache.nodes[T4_NODE.name]) == 0
    # The driver publishes: the slice's Add requeues the pod, which then lands.
    slices = _published_slices()
    cache.replace_slices(slices)
    assert queue.on_event(SLICE_ADD, None, slices[0]) == 1
    assert queue.where(info.uid) in (QueueName.BACKOFF, QueueName.ACTIVE)
    assert not queue.hint_errors
    clock.time += 10.0
    queue.flush_backoff_q_completed()
    again = queue.pop()
    assert again is not None and again.uid == info.uid
    assert scheduler.schedule_one(again.pod).node == T4_NODE.name


def test_gpu_capacity_filter_registers_slice_adds_and_updates() -> None:
    plugin = GpuCapacityFilter(GpuShareView(SchedulerCache(FEATURES)))
    assert isinstance(plugin, EnqueueExtensions)
    registered = [entry.event for entry in plugin.events_to_register()]
    assert any(event.matches(SLICE_ADD) for event in registered)
    assert any(event.matches(SLICE_UPDATE) for event in registered)


def _other_driver(piece: ResourceSlice) -> ResourceSlice:
    spec = msgspec.structs.replace(piece.spec, driver="other.example.com")
    return msgspec.structs.replace(piece, spec=spec)


def _no_node(piece: ResourceSlice) -> ResourceSlice:
    spec = msgspec.structs.replace(piece.spec, node_name=None, all_nodes=True)
    return msgspec.structs.replace(piece, spec=spec)


def _cases() -> list[tuple[str, object, object, QueueingHint]]:
    (gpus, *_) = _published_slices()
    one = _with_devices(gpus, 1)
    return [
        ("a slice publishing GPUs is added", None, gpus, QUEUE),
        ("a slice gains a GPU", one, gpus, QUEUE),
        ("an update leaves the GPUs as they were", gpus, gpus, SKIP),
        ("another driver's slice", None, _other_driver(gpus), SKIP),
        ("a slice of no node", None, _no_node(gpus), SKIP),
        ("a slice with no device", None, _with_devices(gpus, 0), SKIP),
        ("an event carrying no slice", None, None, SKIP),
    ]


@pytest.mark.parametrize(("case", "old", "new", "expected"), _cases(), ids=lambda c: str(c)[:40])
def test_the_slice_hint_queues_only_for_slices_that_bring_gpus(
    case: str, old: object, new: object, expected: QueueingHint
) -> None:
    assert is_schedulable_after_slice_change(_pod_info(), old, new) is expected, case
