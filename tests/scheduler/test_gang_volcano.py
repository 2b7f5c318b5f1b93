"""Volcano's enqueue step for PodGroups with `spec.minResources` (scheduler/gangs/volcano.py):
a group is Inqueue, and its pods scheduled, only when its minResources fit the cluster's idle
capacity (allocatable x 1.2 - used - what Inqueue groups hold); otherwise it stays Pending
with condition Unschedulable/NotEnoughResources and a message naming the resource. The
PodGroups are written as Volcano's job controller writes them (quota names included)."""

from __future__ import annotations

import textwrap
from fractions import Fraction
from pathlib import Path

from gang_manifests import GANGS_ON, read

from dralloc.api.io import load_text
from dralloc.cli.schedule import plan_schedule
from dralloc.scheduler.config import SchedulerConfiguration
from dralloc.scheduler.gangs import GangKey, GangSource, enqueue_volcano
from dralloc.scheduler.gangs.volcano import (
    CONDITION_UNSCHEDULABLE,
    REASON_NOT_ENOUGH_RESOURCES,
    is_compared,
)
from dralloc.scheduler.offline import attach_gangs, queue_order, schedule_queue


def gpu_node(name: str, gpus: int = 8) -> str:
    """A node whose GPUs a device plugin publishes as the extended resource nvidia.com/gpu."""
    return textwrap.dedent(
        f"""\
        apiVersion: v1
        kind: Node
        metadata: {{name: {name}, labels: {{kubernetes.io/hostname: {name}}}}}
        status:
          allocatable: {{cpu: "64", memory: 512Gi, pods: "110", nvidia.com/gpu: "{gpus}"}}
        """
    )


def volcano_group(name: str, members: int, gpus_each: int, *, phase: str = "Pending") -> str:
    """A PodGroup as Volcano's job controller writes it for Job `name` with `members` workers
    of `gpus_each` GPUs (minResources from the workers' requests, quota names included)."""
    gpus = members * gpus_each
    return textwrap.dedent(
        f"""\
        apiVersion: scheduling.volcano.sh/v1beta1
        kind: PodGroup
        metadata:
          name: {name}-7c9d2f
          namespace: default
          ownerReferences:
          - {{apiVersion: batch.volcano.sh/v1alpha1, kind: Job, name: {name}, uid: {name}-uid,
             controller: true, blockOwnerDeletion: true}}
        spec:
          minMember: {members}
          minTaskMember: {{worker: {members}}}
          queue: default
          minResources:
            count/pods: "{members}"
            cpu: "{members * 8}"
            memory: {members * 64}Gi
            nvidia.com/gpu: "{gpus}"
            pods: "{members}"
            requests.cpu: "{members * 8}"
            requests.memory: {members * 64}Gi
            requests.nvidia.com/gpu: "{gpus}"
        status: {{phase: {phase}}}
        """
    )


def worker(job: str, index: int, gpus: int, *, priority: int = 0, node: str = "") -> str:
    bound = f"\n  nodeName: {node}" if node else ""
    text = textwrap.dedent(
        f"""\
        apiVersion: v1
        kind: Pod
        metadata:
          name: {job}-worker-{index}
          namespace: default
          annotations:
            scheduling.k8s.io/group-name: {job}-7c9d2f
            volcano.sh/job-name: {job}
            volcano.sh/task-spec: worker
        spec:
          priority: {priority}BOUND
          containers:
          - name: worker
            image: pytorch/pytorch
            resources:
              requests: {{cpu: "8", memory: 64Gi, nvidia.com/gpu: "{gpus}"}}
              limits: {{nvidia.com/gpu: "{gpus}"}}
        """
    )
    return text.replace("BOUND", bound)


def job(
    name: str, members: int, gpus_each: int, *, priority: int = 0, phase: str = ""
) -> list[str]:
    group = volcano_group(name, members, gpus_each, **({"phase": phase} if phase else {}))
    workers = [worker(name, i, gpus_each, priority=priority) for i in range(members)]
    return [group, *workers]


def key(name: str) -> GangKey:
    return GangKey("default", f"{name}-7c9d2f", GangSource.VOLCANO)


def run(tmp_path: Path, *documents: str):  # type: ignore[no-untyped-def]
    """`dralloc schedule` with Volcano's enqueue step run once before the queue (a session's
    start): the enqueue results and the pods' outcomes by name."""
    cluster = read(tmp_path, *documents)
    plan, frameworks = plan_schedule(cluster, SchedulerConfiguration(), GANGS_ON, 0)
    found = attach_gangs(plan, cluster.objects, GANGS_ON)
    assert not found.problems
    enqueued = {r.key: r for r in enqueue_volcano(plan.gangs, plan.cache)}
    outcomes, _ = schedule_queue(plan, frameworks, queue_order(plan))
    by_name = {e.pod.metadata.name: outcomes[e.index] for e in plan.pending}
    return enqueued, by_name


def test_a_group_whose_min_resources_fit_the_idle_capacity_is_inqueue_and_placed(
    tmp_path: Path,
) -> None:
    enqueued, outcomes = run(tmp_path, gpu_node("n1"), gpu_node("n2"), *job("train", 2, 8))
    assert enqueued[key("train")].phase == "Inqueue"
    assert enqueued[key("train")].status() == {"phase": "Inqueue"}
    assert {o.node for o in outcomes.values()} == {"n1", "n2"}


def test_a_group_whose_min_resources_do_not_fit_stays_pending_and_is_not_scheduled(
    tmp_path: Path,
) -> None:
    enqueued, outcomes = run(
        tmp_path,
        gpu_node("n1"),
        gpu_node("n2"),
        worker("busy", 0, 8, node="n1"),
        *job("train", 2, 8),
    )
    result = enqueued[key("train")]
    message = (
        "PodGroup default/train-7c9d2f: resource in cluster is overused: minResources "
        "nvidia.com/gpu 16 > idle 11.2 (allocatable 16 x overcommit 1.2 - used 8 - held by "
        "Inqueue groups 0)"
    )
    assert (result.phase, result.message) == ("Pending", message)
    # Volcano's gang-plugin message, the enqueue step's reason as its origin.
    said = (
        "2/2 tasks in gang unschedulable: pod group is not ready, 2 Pending, 2 minAvailable; "
        "Pending: 2 Unschedulable. Origin reason is: "
        + message.removeprefix("PodGroup default/train-7c9d2f: ")
    )
    assert result.status() == {
        "phase": "Pending",
        "conditions": [
            {
                "type": CONDITION_UNSCHEDULABLE,
                "status": "True",
                "reason": REASON_NOT_ENOUGH_RESOURCES,
                "message": said,
            }
        ],
    }
    # The pods never enter the queue: GangScheduling-style PreEnqueue wait, with the reason.
    for name in ("train-worker-0", "train-worker-1"):
        assert outcomes[name].node is None
        assert outcomes[name].message == message


def test_the_overcommit_factor_admits_more_than_the_cluster_holds(tmp_path: Path) -> None:
    # 18 GPUs asked of 16: Volcano enqueues (16 x 1.2 = 19.2); the gang then fails to place.
    enqueued, outcomes = run(tmp_path, gpu_node("n1"), gpu_node("n2"), *job("big", 3, 6))
    assert enqueued[key("big")].phase == "Inqueue"
    assert all(o.node is None for o in outcomes.values())
    assert outcomes["big-worker-2"].message.startswith("0/2 nodes are available")


def test_inqueue_groups_hold_their_min_resources_for_the_groups_after_them(
    tmp_path: Path,
) -> None:
    enqueued, outcomes = run(
        tmp_path,
        gpu_node("n1"),
        gpu_node("n2"),
        *job("first", 2, 5),
        *job("second", 2, 5),
    )
    assert enqueued[key("first")].phase == "Inqueue"
    second = enqueued[key("second")]
    assert second.phase == "Pending"
    assert "held by Inqueue groups 10)" in second.message
    assert outcomes["first-worker-0"].node is not None
    assert outcomes["second-worker-0"].node is None


def test_the_higher_priority_group_is_enqueued_first(tmp_path: Path) -> None:
    enqueued, _ = run(
        tmp_path,
        gpu_node("n1"),
        gpu_node("n2"),
        *job("first", 2, 5),
        *job("urgent", 2, 5, priority=100),
    )
    assert enqueued[key("urgent")].phase == "Inqueue"
    assert enqueued[key("first")].phase == "Pending"


def test_a_group_already_inqueue_holds_its_share_without_being_checked_again(
    tmp_path: Path,
) -> None:
    enqueued, _ = run(
        tmp_path,
        gpu_node("n1"),
        gpu_node("n2"),
        *job("admitted", 2, 6, phase="Inqueue"),
        *job("next", 1, 8),
    )
    assert enqueued[key("admitted")].phase == "Inqueue"
    assert enqueued[key("next")].phase == "Pending"  # 12 held + 8 > 19.2


def test_a_group_without_min_resources_is_best_effort_and_always_enqueued(
    tmp_path: Path,
) -> None:
    group = textwrap.dedent(
        """\
        apiVersion: scheduling.volcano.sh/v1beta1
        kind: PodGroup
        metadata: {name: train-7c9d2f, namespace: default}
        spec: {minMember: 1, queue: default}
        """
    )
    enqueued, outcomes = run(tmp_path, gpu_node("n1", gpus=0), group, worker("train", 0, 0))
    assert enqueued[key("train")].phase == "Inqueue"
    assert outcomes["train-worker-0"].node == "n1"


def test_only_cpu_memory_and_scalar_resources_are_compared() -> None:
    assert [
        name
        for name in (
            "cpu",
            "memory",
            "nvidia.com/gpu",
            "hugepages-2Mi",
            "pods",
            "count/pods",
            "requests.cpu",
            "requests.nvidia.com/gpu",
            "limits.memory",
            "ephemeral-storage",
        )
        if is_compared(name)
    ] == ["cpu", "memory", "nvidia.com/gpu", "hugepages-2Mi"]


def test_enqueueing_again_lifts_a_gate_once_the_capacity_is_there(tmp_path: Path) -> None:
    cluster = read(
        tmp_path, gpu_node("n1"), gpu_node("n2"), worker("busy", 0, 8, node="n1"), *job("t", 2, 8)
    )
    plan, _ = plan_schedule(cluster, SchedulerConfiguration(), GANGS_ON, 0)
    attach_gangs(plan, cluster.objects, GANGS_ON)
    enqueue_volcano(plan.gangs, plan.cache)
    assert plan.gangs.pre_enqueue("default/t-worker-0") is not None
    plan.cache.forget_pod("default/busy-worker-0")
    results = {r.key: r for r in enqueue_volcano(plan.gangs, plan.cache)}
    assert results[key("t")].is_enqueued
    assert plan.gangs.pre_enqueue("default/t-worker-0") is None
    # A smaller factor: the same cluster no longer admits it.
    smaller = enqueue_volcano(plan.gangs, plan.cache, overcommit_factor=Fraction(9, 10))
    assert not {r.key: r for r in smaller}[key("t")].is_enqueued


def test_min_resources_that_are_not_quantities_are_named_with_their_path() -> None:
    text = textwrap.dedent(
        """\
        apiVersion: scheduling.volcano.sh/v1beta1
        kind: PodGroup
        metadata: {name: train, namespace: default}
        spec:
          minMember: 2
          minResources: {cpu: lots, nvidia.com/gpu: "-1", memory: 64Gi}
        """
    )
    _, problems = load_text(text, "pg.yaml")
    assert [(p.obj, p.field, p.message) for p in problems] == [
        (
            "PodGroup default/train",
            "spec.minResources[cpu]",
            'Invalid value: "lots": must be a quantity such as 8, 500m or 32Gi',
        ),
        (
            "PodGroup default/train",
            "spec.minResources[nvidia.com/gpu]",
            'Invalid value: "-1": must be greater than or equal to 0',
        ),
    ]


def test_a_running_group_holds_what_its_running_pods_do_not_cover_yet(tmp_path: Path) -> None:
    # "run" asks minResources 16 GPUs for 2 workers, and its quorum runs with 8 + 4 GPUs:
    # it holds the 4 not covered yet. Used 12, idle 19.2 - 12 = 7.2, held 4: 4 more fit, 8 not.
    running = volcano_group("run", 2, 8, phase="Running")
    first = worker("run", 0, 8, node="n1")
    second = worker("run", 1, 4, node="n2")
    enqueued, _ = run(
        tmp_path, gpu_node("n1"), gpu_node("n2"), running, first, second, *job("small", 1, 3)
    )
    assert enqueued[key("run")].phase == "Running"
    assert enqueued[key("small")].phase == "Inqueue"
    enqueued, _ = run(
        tmp_path, gpu_node("n1"), gpu_node("n2"), running, first, second, *job("big", 1, 4)
    )
    assert enqueued[key("big")].phase == "Pending"
    assert "held by Inqueue groups 4)" in enqueued[key("big")].message
