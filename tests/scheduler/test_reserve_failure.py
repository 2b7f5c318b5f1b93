"""A Reserve failure undoes the cycle once: every Reserve plugin's Unreserve runs exactly
once, in reverse order, and the pod is forgotten by the cache (spec/scheduler.md 2.11)."""

from __future__ import annotations

from dralloc.api.core import Container, Node, NodeStatus, Pod, PodSpec
from dralloc.api.meta import ObjectMeta
from dralloc.api.quantity import Quantity
from dralloc.features import Features
from dralloc.scheduler.cache import SchedulerCache
from dralloc.scheduler.framework import CycleState, Framework, PodInfo, Profile, Status
from dralloc.scheduler.scheduler import Scheduler


class Recorder:
    """A Reserve plugin that logs its calls and fails Reserve when told to."""

    def __init__(self, name: str, log: list[str], *, fail: bool = False) -> None:
        self.name = name
        self.log = log
        self.fail = fail

    def reserve(self, state: CycleState, pod: PodInfo, node_name: str) -> Status:
        self.log.append(f"reserve {self.name}")
        return Status.unschedulable("no room after all") if self.fail else Status()

    def unreserve(self, state: CycleState, pod: PodInfo, node_name: str) -> None:
        self.log.append(f"unreserve {self.name}")


def _node(name: str) -> Node:
    allocatable = {
        "cpu": Quantity.parse("4"),
        "memory": Quantity.parse("8Gi"),
        "pods": Quantity.parse("110"),
    }
    return Node(metadata=ObjectMeta(name=name), status=NodeStatus(allocatable=allocatable))


def test_a_reserve_failure_runs_each_unreserve_once_in_reverse() -> None:
    log: list[str] = []
    plugins = [Recorder("first", log), Recorder("second", log, fail=True), Recorder("third", log)]
    cache = SchedulerCache(Features(), nodes=[_node("node-1")])
    scheduler = Scheduler(cache, Framework(Profile(reserve=list(plugins))))
    pod = Pod(
        metadata=ObjectMeta(name="p", namespace="default"),
        spec=PodSpec(containers=[Container(name="c")]),
    )
    outcome = scheduler.schedule_one(pod)
    assert outcome.node is None
    assert outcome.message == "0/1 nodes are available: 1 no room after all."
    assert log == [
        "reserve first",
        "reserve second",
        "unreserve third",
        "unreserve second",
        "unreserve first",
    ]
    assert "default/p" not in cache.pods
