"""`dralloc schedule` and PodGroups: a Kubernetes PodGroup's `priorityClassName` resolved to
`spec.priority` as the API server's Priority admission does in 1.36 (WorkloadAwarePreemption),
and Volcano PodGroups printed with the status Volcano's scheduler would write once its
enqueue step and the pod-group cycle have run (phase Pending/Inqueue/Running, condition
Unschedulable or Scheduled)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from gang_manifests import GANGS_ON, read
from test_gang_volcano import gpu_node, job, worker
from typer.testing import CliRunner

from dralloc.cli.main import app
from dralloc.cli.schedule import plan_schedule, run_schedule
from dralloc.errors import InputError
from dralloc.features import parse_gates
from dralloc.scheduler.config import SchedulerConfiguration
from dralloc.scheduler.gangs import GangKey

WAP = parse_gates("GenericWorkload=true,GangScheduling=true,WorkloadAwarePreemption=true")


def priority_class(name: str, value: int, *, default: bool = False, stored: bool = False) -> str:
    # `stored`: exported from a cluster (the server set creationTimestamp), so not re-admitted.
    created = ", creationTimestamp: '2026-12-01T10:00:00Z'" if stored else ""
    return (
        "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\n"
        f"metadata: {{name: {name}{created}}}\n"
        f"value: {value}\nglobalDefault: {'true' if default else 'false'}\n"
    )


def pod_group(name: str, extra: str = "") -> str:
    spec = "schedulingPolicy: {gang: {minCount: 1}}" + (f", {extra}" if extra else "")
    return (
        "apiVersion: scheduling.k8s.io/v1alpha2\nkind: PodGroup\n"
        f"metadata: {{name: {name}, namespace: default}}\nspec: {{{spec}}}\n"
    )


def cpu_node(name: str) -> str:
    return (
        f"apiVersion: v1\nkind: Node\nmetadata: {{name: {name}}}\n"
        'status: {allocatable: {cpu: "4", memory: 16Gi, pods: "110"}}\n'
    )


def cpu_pod(name: str, *, priority: int = 0, node: str = "", group: str = "") -> str:
    lines = [f"priority: {priority}"]
    if node:
        lines.append(f"nodeName: {node}")
    if group:
        lines.append(f"schedulingGroup: {{podGroupName: {group}}}")
    spec = "".join(f"  {line}\n" for line in lines)
    return (
        f"apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: default}}\n"
        f"spec:\n{spec}  containers:\n  - name: c\n    resources: {{requests: {{cpu: '4'}}}}\n"
    )


def group_priority(tmp_path: Path, *documents: str) -> int | None:
    cluster = read(tmp_path, cpu_node("n1"), *documents)
    plan, _ = plan_schedule(cluster, SchedulerConfiguration(), WAP, 0)
    return plan.gangs.gangs[GangKey("default", "train")].priority


def test_a_priority_class_name_becomes_the_pod_groups_priority(tmp_path: Path) -> None:
    assert (
        group_priority(
            tmp_path,
            priority_class("high", 1000),
            pod_group("train", "priorityClassName: high"),
            cpu_pod("train-0", group="train"),
        )
        == 1000
    )


def test_without_a_class_name_the_lowest_global_default_class_gives_the_priority(
    tmp_path: Path,
) -> None:
    assert (
        group_priority(
            tmp_path,
            # Two defaults exist only where two creations raced: classes a server stored.
            priority_class("batch", 70, default=True, stored=True),
            priority_class("background", 50, default=True, stored=True),
            pod_group("train"),
            cpu_pod("train-0", group="train"),
        )
        == 50
    )
    # No default class: 0, as upstream (not unset).
    assert group_priority(tmp_path, pod_group("train"), cpu_pod("train-0", group="train")) == 0


def test_a_priority_already_set_is_kept_as_for_pods(tmp_path: Path) -> None:
    assert (
        group_priority(
            tmp_path,
            priority_class("high", 1000),
            pod_group("train", "priorityClassName: high, priority: 7"),
            cpu_pod("train-0", group="train"),
        )
        == 7
    )


def test_a_class_that_does_not_exist_is_refused_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(InputError) as raised:
        group_priority(
            tmp_path,
            pod_group("train", "priorityClassName: missing"),
            cpu_pod("train-0", group="train"),
        )
    assert [(p.obj, p.field, p.message) for p in raised.value.problems] == [
        (
            "PodGroup default/train",
            "spec.priorityClassName",
            "no PriorityClass with name missing was found",
        )
    ]


def test_a_group_preempts_with_the_priority_its_class_gives(tmp_path: Path) -> None:
    # Its pods have priority 0: only the class's 1000 outranks the running pod's 1.
    cluster = read(
        tmp_path,
        cpu_node("n1"),
        priority_class("high", 1000),
        cpu_pod("low", priority=1, node="n1"),
        pod_group("train", "priorityClassName: high"),
        cpu_pod("train-0", group="train"),
    )
    run = run_schedule(cluster, SchedulerConfiguration(), WAP, 0)
    assert [v.key for e in run.evictions for v in e.victims] == ["default/low"]
    assert [o.node for o in run.outcomes] == ["n1"]


# ---------------------------------------------------------------- Volcano's PodGroup status


def volcano_groups(tmp_path: Path, *documents: str) -> dict[str, dict[str, Any]]:
    """The Volcano PodGroups `dralloc schedule` prints, by name, with their status."""
    run = run_schedule(read(tmp_path, *documents), SchedulerConfiguration(), GANGS_ON, 0)
    return {
        item["metadata"]["name"]: item["status"]
        for item in run.document["items"]
        if item["apiVersion"] == "scheduling.volcano.sh/v1beta1"
    }


def test_a_group_left_pending_by_the_enqueue_step_is_printed_pending_with_why(
    tmp_path: Path,
) -> None:
    groups = volcano_groups(
        tmp_path,
        gpu_node("n1"),
        gpu_node("n2"),
        worker("busy", 0, 8, node="n1"),
        *job("train", 2, 8),
    )
    assert groups["train-7c9d2f"] == {
        "phase": "Pending",
        "conditions": [
            {
                "type": "Unschedulable",
                "status": "True",
                "reason": "NotEnoughResources",
                "message": "2/2 tasks in gang unschedulable: pod group is not ready, 2 Pending, "
                "2 minAvailable; Pending: 2 Unschedulable. Origin reason is: resource in "
                "cluster is overused: minResources nvidia.com/gpu 16 > idle 11.2 (allocatable "
                "16 x overcommit 1.2 - used 8 - held by Inqueue groups 0)",
            }
        ],
    }


def test_a_group_enqueued_and_placed_whole_is_printed_running_and_scheduled(
    tmp_path: Path,
) -> None:
    groups = volcano_groups(tmp_path, gpu_node("n1"), gpu_node("n2"), *job("train", 2, 8))
    assert groups["train-7c9d2f"] == {
        "phase": "Running",
        "conditions": [
            {
                "type": "Scheduled",
                "status": "True",
                "reason": "tasks in gang are ready to be scheduled",
                "message": "",
            }
        ],
    }


def test_the_status_as_read_keeps_its_other_conditions_and_an_unchanged_group_is_not_printed(
    tmp_path: Path,
) -> None:
    # A Running group whose quorum runs and which has nothing pending: Volcano would write
    # what it holds already, so nothing is printed.
    group = textwrap.dedent(
        """\
        apiVersion: scheduling.volcano.sh/v1beta1
        kind: PodGroup
        metadata: {name: done-7c9d2f, namespace: default}
        spec: {minMember: 1, queue: default}
        status:
          phase: Running
          conditions:
          - {type: Scheduled, status: "True", reason: tasks in gang are ready to be scheduled,
             message: ""}
        """
    )
    running = worker("done", 0, 8, node="n1")
    assert volcano_groups(tmp_path, gpu_node("n1"), group, running) == {}
    # The same group read back Pending with an old Unschedulable condition: Running now, the
    # old condition kept (Volcano replaces conditions by type only).
    stale = group.replace("phase: Running", "phase: Pending").replace(
        'type: Scheduled, status: "True", reason: tasks in gang are ready to be scheduled',
        'type: Unschedulable, status: "True", reason: NotEnoughResources',
    )
    status = volcano_groups(tmp_path, gpu_node("n1"), stale, running)["done-7c9d2f"]
    assert status["phase"] == "Running"
    assert [c["type"] for c in status["conditions"]] == ["Unschedulable", "Scheduled"]


def test_explain_says_why_the_enqueue_step_holds_a_volcano_group_back(tmp_path: Path) -> None:
    path = tmp_path / "cluster.yaml"
    documents = [gpu_node("n1"), gpu_node("n2"), worker("busy", 0, 8, node="n1")]
    path.write_text("---\n".join([*documents, *job("train", 2, 8)]))
    result = CliRunner().invoke(
        app,
        [
            "explain",
            "-f",
            str(path),
            "--feature-gates",
            "GenericWorkload=true,GangScheduling=true",
            "--pod",
            "default/train-worker-0",
        ],
    )
    assert result.exit_code == 1, result.stdout + result.stderr
    assert (
        "PodGroup default/train-7c9d2f: resource in cluster is overused: minResources "
        "nvidia.com/gpu 16 > idle 11.2" in result.stdout
    )
