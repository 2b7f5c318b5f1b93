"""LiveGangs without a server: membership from pods of the three sources, GangScheduling's
PreEnqueue answers as PodGroups and members arrive, the queue letting a gated gang go when
its PodGroup or its last member comes, only the PodGroup sources the server serves watched,
and the PodGroupScheduled patch upstream's updatePodGroupCondition would send."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, cast

from dralloc.api.core import Node, Pod
from dralloc.api.io import from_server
from dralloc.features import parse_gates
from dralloc.kube.client import KAI_POD_GROUPS, POD_GROUPS, VOLCANO_POD_GROUPS, KubeClient
from dralloc.kube.gangs import LiveGangs, pod_group_condition
from dralloc.kube.shared_informers import SharedInformers
from dralloc.scheduler.cache import SchedulerCache
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


# ------------------------------------------------------------ Volcano's enqueue step


def volcano_group(name: str, cpu: str | None, phase: str = "") -> Obj:
    spec: Obj = {"minMember": 2, "queue": "default"}
    if cpu is not None:
        spec["minResources"] = {"cpu": cpu}
    group: Obj = {
        "apiVersion": "scheduling.volcano.sh/v1beta1",
        "kind": "PodGroup",
        "metadata": {"name": name, "namespace": "team"},
        "spec": spec,
    }
    if phase:
        group["status"] = {"phase": phase}
    return group


def volcano_pod(name: str, group: str, cpu: str = "4") -> Obj:
    raw = pod(name, annotations={"scheduling.k8s.io/group-name": group})
    raw["spec"]["containers"][0]["resources"] = {"requests": {"cpu": cpu}}
    return raw


def cpu_cache(*cpus: int) -> SchedulerCache:
    nodes = [
        from_server(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": f"n{i}"},
                "status": {"allocatable": {"cpu": str(cpu), "memory": "32Gi", "pods": "110"}},
            },
            Node,
        )
        for i, cpu in enumerate(cpus)
    ]
    return SchedulerCache(parse_gates("GenericWorkload=true,GangScheduling=true"), nodes=nodes)


def test_a_volcano_group_with_min_resources_waits_for_the_enqueue_step_then_goes() -> None:
    gangs, queue = gangs_and_queue()
    handler = gangs.handler_for(GangSource.VOLCANO)
    handler.on_add(volcano_group("train", "16"))
    assert gangs.enqueue_due
    assert arrive(gangs, queue, volcano_pod("w-0", "train")) is QueueName.GATED
    assert arrive(gangs, queue, volcano_pod("w-1", "train")) is QueueName.GATED
    key = GangKey("team", "train", GangSource.VOLCANO)
    assert gangs.pre_enqueue("team/w-0") == (
        "PodGroup team/train: waiting for Volcano's enqueue step to make it Inqueue (minResources)"
    )
    # 8 cpu x 1.2 = 9.6 < 16: Pending, and the pods are told why.
    (result,) = gangs.enqueue(cpu_cache(8))
    assert (result.key, result.phase) == (key, "Pending")
    assert not gangs.enqueue_due
    assert gangs.pre_enqueue("team/w-0") == result.message
    assert result.message.startswith("PodGroup team/train: resource in cluster is overused")
    assert queue.pop() is None
    # A second node: 16 x 1.2 = 19.2 >= 16, Inqueue, and both members are let go.
    (result,) = gangs.enqueue(cpu_cache(8, 8))
    assert result.phase == "Inqueue"
    assert gangs.pre_enqueue("team/w-0") is None
    assert gangs.gang_of("team/w-0").phase == "Inqueue"  # type: ignore[union-attr]
    popped = [queue.pop(), queue.pop()]
    assert sorted(p.pod_info.key for p in popped if p is not None) == ["team/w-0", "team/w-1"]


def test_a_volcano_group_without_min_resources_or_already_inqueue_is_never_held() -> None:
    gangs, queue = gangs_and_queue()
    handler = gangs.handler_for(GangSource.VOLCANO)
    handler.on_add(volcano_group("free", None))
    handler.on_add(volcano_group("admitted", "100", phase="Inqueue"))
    assert gangs.pre_enqueue("team/x") is None
    arrive(gangs, queue, volcano_pod("f-0", "free"))
    arrive(gangs, queue, volcano_pod("a-0", "admitted"))
    assert gangs.pre_enqueue("team/f-0") == WAITING_FOR_MIN_COUNT  # minMember 2, as ever
    assert gangs.pre_enqueue("team/a-0") == WAITING_FOR_MIN_COUNT


def test_only_groups_with_a_pod_dralloc_schedules_are_reported_for_status_writes() -> None:
    gangs, queue = gangs_and_queue()
    handler = gangs.handler_for(GangSource.VOLCANO)
    handler.on_add(volcano_group("ours", "1"))
    handler.on_add(volcano_group("theirs", "1"))
    arrive(gangs, queue, volcano_pod("o-0", "ours"))
    other = volcano_pod("t-0", "theirs")
    other["spec"]["schedulerName"] = "volcano"
    gangs.pods.on_add(other)
    assert [r.key.name for r in gangs.enqueue(cpu_cache(8))] == ["ours"]
    assert gangs.is_ours(GangKey("team", "ours", GangSource.VOLCANO))
    assert not gangs.is_ours(GangKey("team", "theirs", GangSource.VOLCANO))


def test_the_volcano_status_patch_changes_only_what_changed_and_keeps_the_time() -> None:
    gangs, _ = gangs_and_queue()
    gangs.handler_for(GangSource.VOLCANO).on_add(volcano_group("train", "16", phase="Pending"))
    key = GangKey("team", "train", GangSource.VOLCANO)
    first = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    said = {"type": "Unschedulable", "status": "True", "reason": "NotEnoughResources"}
    condition = {**said, "message": "2/2 tasks in gang unschedulable: ..."}
    patch = gangs.volcano_status(key, "Pending", condition, now=first)
    assert patch == {
        "status": {
            "phase": "Pending",
            "conditions": [{**condition, "lastTransitionTime": "2026-12-07T12:00:00Z"}],
        }
    }
    # The same again (a later session): nothing to write.
    assert gangs.volcano_status(key, "Pending", condition, now=datetime.now(UTC)) is None
    # The phase alone moves (enqueued): only the phase is sent, the condition stays.
    assert gangs.volcano_status(key, "Inqueue") == {"status": {"phase": "Inqueue"}}
    status = gangs.volcano[key]["status"]
    assert status["phase"] == "Inqueue"
    assert status["conditions"][0]["lastTransitionTime"] == "2026-12-07T12:00:00Z"
    # Until the informer shows it, the phase written is what the gang reads.
    assert gangs.gang_of_key(key).phase == "Inqueue"  # type: ignore[union-attr]


def test_the_volcano_status_goes_to_the_status_subresource_only_where_it_is_served() -> None:
    found = []
    for served in ({"podgroups"}, {"podgroups", "podgroups/status"}):
        client = FakeClient({"scheduling.volcano.sh/v1beta1": served})
        gangs = LiveGangs({})
        asyncio.run(
            gangs.watch(cast(KubeClient, client), SharedInformers(cast(KubeClient, client)))
        )
        found.append(gangs.volcano_status_subresource)
    # Volcano's own CRD serves none: the status goes to the object.
    assert found == [False, True]
