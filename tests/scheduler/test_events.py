"""Plugins declare the cluster events that may change their mind (spec/scheduler.md 1.8), and
a queue built for a profile requeues a rejected pod only when one of its rejectors' hints
says QUEUE."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from dralloc.api.core import Node, NodeSpec, NodeStatus, Pod, PodSpec, Taint
from dralloc.api.meta import ObjectMeta
from dralloc.api.quantity import Quantity
from dralloc.features import Features
from dralloc.scheduler.builder import SchedulerInputs, build_scheduler
from dralloc.scheduler.config import SchedulerConfiguration
from dralloc.scheduler.framework import (
    ClusterEvent,
    ClusterEventWithHint,
    CycleState,
    EnqueueExtensions,
    NodeInfo,
    PodInfo,
    Profile,
    QueueingHint,
    Status,
)
from dralloc.scheduler.plugins.gpushare import TaskType
from dralloc.scheduler.profiles import GPU_SHARING_PLUGINS, gpu_sharing_profile
from dralloc.scheduler.queue import QueueName, SchedulingQueue

QUEUE, SKIP = QueueingHint.QUEUE, QueueingHint.QUEUE_SKIP
NODE_ADD = ClusterEvent("Node", "Add")
POD_DELETE = ClusterEvent("Pod", "Delete")


class FakeClock:
    def __init__(self) -> None:
        self.time = 100.0

    def now(self) -> float:
        return self.time


def node(name: str, cpu: str = "4", *, cordoned: bool = False, taint: bool = False) -> NodeInfo:
    capacity = {
        "cpu": Quantity.parse(cpu),
        "memory": Quantity.parse("8Gi"),
        "pods": Quantity.parse("110"),
    }
    taints = [Taint(key="dedicated", value="x", effect="NoSchedule")] if taint else []
    return NodeInfo.of(
        Node(
            metadata=ObjectMeta(name=name, labels={"kubernetes.io/hostname": name}),
            spec=NodeSpec(unschedulable=cordoned, taints=taints),
            status=NodeStatus(capacity=capacity, allocatable=dict(capacity)),
        )
    )


def pod(name: str, cpu: str = "1", node_name: str = "") -> PodInfo:
    from dralloc.api.core import Container, ResourceRequirements

    container = Container(
        name="c", resources=ResourceRequirements(requests={"cpu": Quantity.parse(cpu)})
    )
    return PodInfo.of(
        Pod(
            metadata=ObjectMeta(name=name, namespace="default", uid=name),
            spec=PodSpec(containers=[container], node_name=node_name),
        )
    )


def profile(config: SchedulerConfiguration | None = None) -> Profile:
    built = build_scheduler(
        SchedulerInputs(
            Features(),
            config=config or SchedulerConfiguration(),
            typical_pods=[(TaskType(1000, 500, 1, frozenset()), 1.0)],  # for FGD
        )
    )
    return built.framework().profile


def rejectors(p: Profile) -> list[object]:
    seen: dict[str, object] = {}
    for plugin in (*p.pre_filter, *p.filter, *p.reserve, *p.permit):
        seen.setdefault(plugin.name, plugin)
    return list(seen.values())


def hint(
    plugin: object, event: ClusterEvent, target: PodInfo, old: object, new: object
) -> QueueingHint:
    """What `plugin`'s registrations answer about one event, as the queue asks them."""
    assert isinstance(plugin, EnqueueExtensions)
    for entry in plugin.events_to_register():
        if entry.event.matches(event):
            answer = QUEUE if entry.hint is None else entry.hint(target, old, new)
            if answer is QUEUE:
                return QUEUE
    return SKIP


@pytest.mark.parametrize(
    "config",
    [SchedulerConfiguration()]
    + [SchedulerConfiguration(profiles=(gpu_sharing_profile(n),)) for n in GPU_SHARING_PLUGINS],
    ids=["default", *GPU_SHARING_PLUGINS],
)
def test_every_plugin_that_can_reject_declares_its_events(config: SchedulerConfiguration) -> None:
    for plugin in rejectors(profile(config)):
        assert isinstance(plugin, EnqueueExtensions), plugin.name  # type: ignore[attr-defined]
        registered = plugin.events_to_register()
        assert registered, plugin.name
        # The same events every time (hints may be new closures).
        assert [e.event for e in registered] == [e.event for e in plugin.events_to_register()]


def test_registered_events_match_by_resource_and_intersecting_actions() -> None:
    registered = ClusterEvent("Node", "Add|UpdateNodeTaint")
    assert registered.matches(ClusterEvent("Node", "Add"))
    assert registered.matches(ClusterEvent("Node", "UpdateNodeTaint"))
    assert registered.matches(ClusterEvent("Node", "Update"))
    assert not registered.matches(ClusterEvent("Node", "UpdateNodeLabel"))
    assert not registered.matches(ClusterEvent("Pod", "Add"))
    assert registered.matches(ClusterEvent("*", "UnschedulableTimeout"))
    assert ClusterEvent("*", "Add").matches(ClusterEvent("Pod", "Add"))


def _plugins() -> dict[str, object]:
    found = {p.name: p for p in rejectors(profile())}
    found.update(
        {
            p.name: p
            for p in rejectors(
                profile(SchedulerConfiguration(profiles=(gpu_sharing_profile("BestFit"),)))
            )
        }
    )
    return found


# (plugin, event, rejected pod, old, new, expected hint)
CASES = [
    ("NodeResourcesFit", NODE_ADD, pod("p", "2"), None, node("big", "4"), QUEUE),
    ("NodeResourcesFit", NODE_ADD, pod("p", "8"), None, node("small", "4"), SKIP),
    ("NodeResourcesFit", POD_DELETE, pod("p"), pod("gone"), None, QUEUE),
    (
        "NodeResourcesFit",
        ClusterEvent("resource.k8s.io/ResourceSlice", "Add"),
        pod("p"),
        None,
        None,
        SKIP,
    ),
    ("NodeUnschedulable", NODE_ADD, pod("p"), None, node("n", cordoned=True), SKIP),
    (
        "NodeUnschedulable",
        ClusterEvent("Node", "UpdateNodeTaint"),
        pod("p"),
        node("n", cordoned=True),
        node("n"),
        QUEUE,
    ),
    ("NodeUnschedulable", POD_DELETE, pod("p"), pod("gone"), None, SKIP),
    ("NodeName", NODE_ADD, pod("p", node_name="wanted"), None, node("other"), SKIP),
    ("NodeName", NODE_ADD, pod("p", node_name="wanted"), None, node("wanted"), QUEUE),
    ("TaintToleration", NODE_ADD, pod("p"), None, node("n", taint=True), SKIP),
    ("TaintToleration", ClusterEvent("Node", "UpdateNodeTaint"), pod("p"), None, node("n"), QUEUE),
    ("NodeAffinity", ClusterEvent("Node", "UpdateNodeLabel"), pod("p"), None, node("n"), QUEUE),
    ("NodeAffinity", POD_DELETE, pod("p"), pod("gone"), None, SKIP),
    (
        "DynamicResources",
        ClusterEvent("resource.k8s.io/ResourceSlice", "Add"),
        pod("p"),
        None,
        None,
        QUEUE,
    ),
    ("DynamicResources", POD_DELETE, pod("p"), pod("gone"), None, SKIP),  # held no claim
    ("DynamicResources", NODE_ADD, pod("p"), None, node("n"), QUEUE),
    ("GpuCapacityFilter", POD_DELETE, pod("p"), pod("gone"), None, QUEUE),
    ("GpuCapacityFilter", POD_DELETE, pod("p"), pod("p"), None, SKIP),  # itself
]


@pytest.mark.parametrize(("name", "event", "target", "old", "new", "expected"), CASES)
def test_each_plugins_hint_answers_as_its_filter_would(
    name: str,
    event: ClusterEvent,
    target: PodInfo,
    old: object,
    new: object,
    expected: QueueingHint,
) -> None:
    assert hint(_plugins()[name], event, target, old, new) is expected


def _rejected(queue: SchedulingQueue, clock: FakeClock, name: str, plugins: set[str]) -> None:
    queue.add(pod(name, "8").pod)
    info = queue.pop()
    assert info is not None and info.key == f"default/{name}"
    queue.add_unschedulable_if_not_present(info, unschedulable_plugins=plugins)


def test_a_queue_built_for_a_profile_requeues_only_when_a_rejectors_hint_says_queue() -> None:
    clock = FakeClock()
    queue = SchedulingQueue.for_profile(clock, profile())
    _rejected(queue, clock, "big", {"NodeResourcesFit"})
    uid = "big"
    assert queue.where(uid) is QueueName.UNSCHEDULABLE
    # A node too small for the pod: NodeResourcesFit's hint skips it.
    assert queue.on_event(NODE_ADD, None, node("small", "4")) == 0
    assert queue.where(uid) is QueueName.UNSCHEDULABLE
    # An event NodeResourcesFit did not register.
    assert queue.on_event(ClusterEvent("resource.k8s.io/DeviceClass", "Add")) == 0
    # A node with room: requeued (after its backoff).
    assert queue.on_event(NODE_ADD, None, node("big", "16")) == 1
    assert queue.where(uid) in (QueueName.BACKOFF, QueueName.ACTIVE)
    assert not queue.hint_errors


class _Raising:
    name = "Raising"

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        return Status.unschedulable("no")

    def events_to_register(self) -> Sequence[ClusterEventWithHint]:
        def broken(pod: PodInfo, old: object, new: object) -> QueueingHint:
            raise RuntimeError("boom")

        return (ClusterEventWithHint(NODE_ADD, broken),)


def test_a_hint_that_raises_requeues_the_pod_and_is_recorded_for_tests_to_see() -> None:
    clock = FakeClock()
    queue = SchedulingQueue.for_profile(clock, Profile(filter=[_Raising()]))
    _rejected(queue, clock, "p", {"Raising"})
    assert queue.on_event(NODE_ADD, None, node("n")) == 1
    assert queue.hint_error_count == 1
    (error,) = queue.hint_errors
    assert error.plugin == "Raising" and error.pod == "default/p"
    assert 'queueing hint of plugin "Raising" for Node/Add failed for pod default/p' in str(error)


def test_a_rejector_that_declares_no_events_is_requeued_by_every_event() -> None:
    class Silent:
        name = "Silent"

        def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
            return Status.unschedulable("no")

    clock = FakeClock()
    queue = SchedulingQueue.for_profile(clock, Profile(filter=[Silent()]))
    _rejected(queue, clock, "p", {"Silent"})
    assert queue.on_event(ClusterEvent("resource.k8s.io/DeviceClass", "Update")) == 1
