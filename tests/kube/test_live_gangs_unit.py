"""LiveGangs without a server: membership from pods of the three sources, GangScheduling's
PreEnqueue answers as PodGroups and members arrive, the queue letting a gated gang go when
its PodGroup or its last member comes, only the PodGroup sources the server serves watched,
and the PodGroupScheduled patch upstream's updatePodGroupCondition would send."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, cast

from dralloc.api.core import Pod
from dralloc.api.io import from_server
from dralloc.kube.client import KAI_POD_GROUPS, POD_GROUPS, VOLCANO_POD_GROUPS, KubeClient
from dralloc.kube.gangs import LiveGangs, pod_group_condition
from dralloc.kube.shared_informers import SharedInformers
from dralloc.scheduler.gangs import (
    WAITING_FOR_MIN_COUNT,
    WAITING_FOR_POD_GROUP,
    GangKey,
    GangSource,
)
from dralloc.scheduler.plugins.gangscheduling import GangScheduling
from dralloc.scheduler.queue import QueueName, SchedulingQueue

Obj = dict[str, Any]


class Clock:
    def __init__(self) -> None:
        self.time = 0.0

    def now(self) -> float:
        return self.time


def pod(name: str, group: str | None = None, annotations: dict[str, str] | None = None) -> Obj:
    spec: Obj = {"schedulerName": "dralloc", "containers": [{"name": "c", "image": "x"}]}
    if group is not None:
        spec["schedulingGroup"] = {"podGroupName": group}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "team",
            "uid": f"uid-{name}",
            "annotations": annotations or {},
        },
        "spec": spec,
    }


def pod_group(name: str, min_count: int | None) -> Obj:
    policy: Obj = {"gang": {"minCount": min_count}} if min_count else {"basic": {}}
    return {
        "apiVersion": "scheduling.k8s.io/v1alpha2",
        "kind": "PodGroup",
        "metadata": {"name": name, "namespace": "team", "generation": 1},
        "spec": {"schedulingPolicy": policy},
    }


def gangs_and_queue() -> tuple[LiveGangs, SchedulingQueue]:
    gangs = LiveGangs({})
    queue = SchedulingQueue(Clock(), pre_enqueue=[GangScheduling(gangs)])
    gangs.queues = {"dralloc": queue}
    return gangs, queue


def arrive(gangs: LiveGangs, queue: SchedulingQueue, raw: Obj) -> QueueName:
    """What the live scheduler does with a new pod: membership first, then the queue."""
    gangs.pods.on_add(raw)
    return queue.add(from_server(raw, Pod))


def test_members_wait_for_their_podgroup_then_for_min_count_then_all_go() -> None:
    gangs, queue = gangs_and_queue()
    assert arrive(gangs, queue, pod("w-0", "train")) is QueueName.GATED
    assert gangs.pre_enqueue("team/w-0") == WAITING_FOR_POD_GROUP.format(name="train")
    handler = gangs.handler_for(GangSource.POD_GROUP)
    handler.on_add(pod_group("train", 2))
    # The PodGroup arrived: re-tried, gated now for the quorum of pods.
    assert gangs.pre_enqueue("team/w-0") == WAITING_FOR_MIN_COUNT
    assert queue.pop() is None
    arrive(gangs, queue, pod("w-1", "train"))
    popped = {queue.pop().key, queue.pop().key}  # type: ignore[union-attr]
    assert popped == {"team/w-0", "team/w-1"}
    assert gangs.members(GangKey("team", "train")) == ["team/w-0", "team/w-1"]


def test_a_member_leaving_is_no_longer_counted_and_plain_pods_are_in_no_gang() -> None:
    gangs, queue = gangs_and_queue()
    gangs.handler_for(GangSource.POD_GROUP).on_add(pod_group("train", 2))
    arrive(gangs, queue, pod("w-0", "train"))
    arrive(gangs, queue, pod("w-1", "train"))
    assert gangs.pre_enqueue("team/w-0") is None
    gangs.pods.on_delete(pod("w-1", "train"))
    assert gangs.pre_enqueue("team/w-0") == WAITING_FOR_MIN_COUNT
    assert arrive(gangs, queue, pod("solo")) is QueueName.ACTIVE
    assert gangs.gang_of("team/solo") is None


def test_a_basic_policy_group_has_no_quorum() -> None:
    gangs, queue = gangs_and_queue()
    gangs.handler_for(GangSource.POD_GROUP).on_add(pod_group("together", None))
    assert arrive(gangs, queue, pod("b-0", "together")) is QueueName.ACTIVE
    gang = gangs.gang_of("team/b-0")
    assert gang is not None and gang.min_count is None and gang.declared


def test_volcano_and_kai_members_join_by_annotation() -> None:
    gangs, queue = gangs_and_queue()
    volcano = {
        "apiVersion": "scheduling.volcano.sh/v1beta1",
        "kind": "PodGroup",
        "metadata": {"name": "vc", "namespace": "team"},
        "spec": {"minMember": 2, "queue": "research"},
    }
    gangs.handler_for(GangSource.VOLCANO).on_add(volcano)
    arrive(gangs, queue, pod("v-0", annotations={"scheduling.k8s.io/group-name": "vc"}))
    gang = gangs.gang_of("team/v-0")
    assert gang is not None and gang.key.source is GangSource.VOLCANO
    assert (gang.min_count, gang.queue) == (2, "research")
    # KAI pods without a KAI PodGroup: every annotated pod is the gang.
    for name in ("k-0", "k-1", "k-2"):
        arrive(gangs, queue, pod(name, annotations={"pod-group-name": "kg"}))
    kai = gangs.gang_of("team/k-1")
    assert kai is not None and kai.key.source is GangSource.KAI and kai.min_count == 3


class FakeClient:
    def __init__(self, served: dict[str, set[str]]) -> None:
        self.served_by = served

    async def served(self, group_version: str) -> set[str]:
        return self.served_by.get(group_version, set())


def test_only_the_podgroup_sources_the_server_serves_are_watched() -> None:
    client = FakeClient(
        {
            "scheduling.k8s.io/v1alpha2": {"podgroups", "podgroups/status", "workloads"},
            "scheduling.run.ai/v2alpha2": {"podgroups"},
        }
    )
    informers = SharedInformers(cast(KubeClient, client))
    gangs = LiveGangs({})
    watched = asyncio.run(gangs.watch(cast(KubeClient, client), informers))
    assert watched == [POD_GROUPS, KAI_POD_GROUPS]
    assert {i.resource for i in informers.informers} == {POD_GROUPS, KAI_POD_GROUPS}
    assert VOLCANO_POD_GROUPS not in watched


NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
UNSCHEDULABLE = {
    "type": "PodGroupScheduled",
    "status": "False",
    "reason": "Unschedulable",
    "message": "pod group is unschedulable: 3 of minCount 4 pods of PodGroup team/train fit",
}


def test_the_podgroupscheduled_patch_is_upstreams_set_status_condition() -> None:
    group = pod_group("train", 4)
    patch = pod_group_condition(group, UNSCHEDULABLE, NOW)
    assert patch == {
        "status": {
            "conditions": [
                {
                    **UNSCHEDULABLE,
                    "observedGeneration": 1,
                    "lastTransitionTime": "2026-05-01T12:00:00Z",
                }
            ]
        }
    }
    written = {**group, "status": patch["status"]}
    # The same condition again: nothing to write.
    assert pod_group_condition(written, UNSCHEDULABLE, NOW) is None
    # Another message, same status: the transition time stays.
    later = datetime(2026, 5, 1, 13, 0, tzinfo=UTC)
    changed = pod_group_condition(written, {**UNSCHEDULABLE, "message": "other"}, later)
    assert changed is not None
    assert changed["status"]["conditions"][0]["lastTransitionTime"] == "2026-05-01T12:00:00Z"
    # Scheduled, then a later cycle for extra pods fails: the condition does not regress.
    scheduled = {"type": "PodGroupScheduled", "status": "True", "reason": "Scheduled"}
    done = pod_group_condition(written, scheduled, later)
    assert done is not None
    assert done["status"]["conditions"][0]["lastTransitionTime"] == "2026-05-01T13:00:00Z"
    assert pod_group_condition({**group, "status": done["status"]}, UNSCHEDULABLE, later) is None
