"""A gang through the scheduling queue as one entity (what the replay and the live scheduler
drive): PreEnqueue per member, the siblings popped with the first member, one cycle, and every
member handed back with the cycle's verdict."""

from __future__ import annotations

from pathlib import Path

from gang_manifests import GANGS_ON, device_class, node, pod, pod_group, read, template

from dralloc.cli.schedule import plan_schedule
from dralloc.scheduler.config import SchedulerConfiguration
from dralloc.scheduler.gangs import collect_gangs, pop_gang, schedule_gang_entity
from dralloc.scheduler.plugins import GangScheduling
from dralloc.scheduler.queue import QueueName, SchedulingQueue


class _Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def now(self) -> float:
        return self.t


def _setup(tmp_path: Path, nodes: int, *documents: str):  # type: ignore[no-untyped-def]
    cluster = read(
        tmp_path,
        device_class(),
        template("eight", 8),
        *[node(f"node-{i}", 8) for i in range(nodes)],
        *documents,
    )
    plan, frameworks = plan_schedule(cluster, SchedulerConfiguration(), GANGS_ON, 0)
    index = collect_gangs(cluster.objects, GANGS_ON).index
    framework = frameworks["default-scheduler"]
    queue = SchedulingQueue.for_profile(
        _Clock(), framework.profile, pre_enqueue=[GangScheduling(index)]
    )
    pods = {f"default/{e.pod.metadata.name}": e.pod for e in plan.pending}
    return plan, framework, queue, index, pods


def test_a_gang_is_popped_whole_and_placed_all_or_nothing(tmp_path: Path) -> None:
    members = [pod(f"w-{i}", template_name="eight", group="g") for i in range(3)]
    plan, framework, queue, index, pods = _setup(tmp_path, 2, pod_group("g", 3), *members)
    for p in pods.values():
        queue.add(p)
    first = queue.pop()
    assert first is not None
    gang = index.gang_of(first.key)
    assert gang is not None
    siblings = [pods[k] for k in index.members(gang.key)]
    entity = pop_gang(queue, first, siblings)
    assert [i.pod.metadata.name for i in entity] == ["w-0", "w-1", "w-2"]
    assert queue.pop() is None  # the siblings left with the first member
    placement = schedule_gang_entity(queue, plan.cache, framework, gang, entity)
    assert not placement.is_admitted and not plan.cache.pods
    # All three are back, the two that fit rejected by GangScheduling.
    assert {queue.where(i.uid) for i in entity} <= {QueueName.UNSCHEDULABLE, QueueName.BACKOFF}
    assert entity[0].unschedulable_count == entity[2].unschedulable_count == 1
    assert entity[0].unschedulable_plugins == {"GangScheduling"}


def test_members_below_min_count_are_gated_by_pre_enqueue(tmp_path: Path) -> None:
    _, _, queue, _, pods = _setup(
        tmp_path, 2, pod_group("g", 3), pod("a", template_name="eight", group="g")
    )
    assert queue.add(pods["default/a"]) is QueueName.GATED
    assert queue.pop() is None


def test_a_gang_that_fits_is_bound_and_leaves_the_queue(tmp_path: Path) -> None:
    members = [pod(f"w-{i}", template_name="eight", group="g") for i in range(2)]
    plan, framework, queue, index, pods = _setup(tmp_path, 2, pod_group("g", 2), *members)
    for p in pods.values():
        queue.add(p)
    first = queue.pop()
    assert first is not None
    gang = index.gang_of(first.key)
    assert gang is not None
    entity = pop_gang(queue, first, [pods[k] for k in index.members(gang.key)])
    placement = schedule_gang_entity(queue, plan.cache, framework, gang, entity)
    assert placement.bound and sorted(placement.placed.values()) == ["node-0", "node-1"]
    assert all(queue.where(i.uid) is None for i in entity)
    assert not queue.in_flight_pods()
