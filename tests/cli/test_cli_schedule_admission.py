"""`dralloc schedule -f` with RuntimeClasses and PriorityClasses in the input: pods are admitted
as the API server's RuntimeClass and Priority plugins admit them (the class's overhead counts in
the pod's requests, its node selector steers it; a class that is not there, or a pod that
contradicts its class, is one line naming file, object and field, exit 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_kit import invoke, stderr_lines

from dralloc.cli.inputs import read_cluster
from dralloc.cli.schedule import plan_schedule
from dralloc.errors import InputError
from dralloc.features import Features
from dralloc.scheduler.config import SchedulerConfiguration

# Two nodes of 4 cpus in zones a and b, and two RuntimeClasses: kata costs 1 cpu a pod, gvisor
# runs only in zone b.
CLUSTER = """\
apiVersion: v1
kind: Node
metadata: {name: node-a, labels: {zone: a}}
status: {allocatable: {cpu: "4", memory: 8Gi, pods: "110"}}
---
apiVersion: v1
kind: Node
metadata: {name: node-b, labels: {zone: b}}
status: {allocatable: {cpu: "4", memory: 8Gi, pods: "110"}}
---
apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata: {name: kata}
handler: kata
overhead: {podFixed: {cpu: "1", memory: 120Mi}}
---
apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata: {name: gvisor}
handler: runsc
scheduling: {nodeSelector: {zone: b}}
"""


def _pod(name: str, cpu: str, spec: str = "") -> str:
    return (
        f"apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: default}}\n"
        f"spec:\n{spec}  containers:\n  - {{name: c, image: app, resources: "
        f"{{requests: {{cpu: '{cpu}'}}}}}}\n"
    )


def _schedule(tmp_path: Path, *documents: str) -> tuple[Any, str]:
    path = tmp_path / "in.yaml"
    path.write_text("---\n".join((CLUSTER, *documents)), encoding="utf-8")
    return invoke("schedule", "-f", str(path)), str(path)


def _placements(stdout: str) -> dict[str, str | None]:
    listed = yaml.safe_load(stdout)["items"]
    return {i["metadata"]["name"]: i["spec"].get("nodeName") for i in listed if i["kind"] == "Pod"}


def test_the_runtime_class_overhead_counts_against_the_node(tmp_path: Path) -> None:
    result, _ = _schedule(
        tmp_path,
        _pod("plain", "3500m"),
        _pod("sandboxed", "3500m", "  runtimeClassName: kata\n"),
    )
    assert result.exit_code == 1
    assert _placements(result.stdout) == {"plain": "node-a", "sandboxed": None}
    (waiting,) = [
        i for i in yaml.safe_load(result.stdout)["items"] if i["metadata"]["name"] == "sandboxed"
    ]
    # Printed as the API server stores it, the class's overhead in the pod.
    assert waiting["spec"]["overhead"] == {"cpu": "1", "memory": "120Mi"}
    message = waiting["status"]["conditions"][0]["message"]
    assert message.startswith("0/2 nodes are available: 2 Insufficient cpu.")


def test_the_runtime_class_node_selector_steers_the_pod(tmp_path: Path) -> None:
    result, _ = _schedule(tmp_path, _pod("sandboxed", "1", "  runtimeClassName: gvisor\n"))
    assert result.exit_code == 0, result.stderr
    assert _placements(result.stdout) == {"sandboxed": "node-b"}
    (pod,) = yaml.safe_load(result.stdout)["items"]
    assert pod["spec"]["nodeSelector"] == {"zone": "b"}


def test_pods_contradicting_their_classes_are_refused_one_line_each(tmp_path: Path) -> None:
    result, path = _schedule(
        tmp_path,
        _pod("unknown", "1", "  runtimeClassName: wasm\n"),
        _pod("cheap", "1", "  runtimeClassName: kata\n  overhead: {cpu: 100m}\n"),
        _pod("elsewhere", "1", "  runtimeClassName: gvisor\n  nodeSelector: {zone: a}\n"),
        _pod("urgent", "1", "  priorityClassName: urgent\n"),
    )
    assert result.exit_code == 2
    assert stderr_lines(result) == [
        f"{path}: Pod default/cheap: spec.overhead: does not match the overhead of "
        "RuntimeClass 'kata' (cpu 1, memory 120Mi)",
        f"{path}: Pod default/elsewhere: spec.nodeSelector: conflict: "
        "runtimeClass.scheduling.nodeSelector[zone] = b; pod.spec.nodeSelector[zone] = a",
        f"{path}: Pod default/unknown: spec.runtimeClassName: no RuntimeClass 'wasm' in the input",
        f"{path}: Pod default/urgent: spec.priorityClassName: no PriorityClass 'urgent' in the "
        "input",
    ]


def test_a_live_clusters_pod_keeps_what_its_api_server_admitted(tmp_path: Path) -> None:
    # A bound pod whose PriorityClass was deleted after it was created, beside the classes
    # every cluster lists: read from a cluster it stands, written in a file it is refused.
    path = tmp_path / "cluster.yaml"
    system = "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\n"
    path.write_text(
        "---\n".join(
            (
                CLUSTER,
                system + "metadata: {name: system-node-critical}\nvalue: 2000001000\n",
                _pod("old", "1", "  nodeName: node-a\n  priorityClassName: gone\n  priority: 5\n"),
            )
        ),
        encoding="utf-8",
    )
    cluster = read_cluster([str(path)])
    with pytest.raises(InputError) as refused:
        plan_schedule(cluster, SchedulerConfiguration(), Features(), None)
    assert [str(p) for p in refused.value.problems] == [
        f"{path}: Pod default/old: spec.priorityClassName: no PriorityClass 'gone' in the input"
    ]
    cluster.cluster_source = str(path)  # as `--kubeconfig` reads it
    plan, _ = plan_schedule(cluster, SchedulerConfiguration(), Features(), None)
    assert list(plan.running) == ["default/old"]


def _priority_class(name: str, value: int, default: bool = False) -> str:
    return (
        f"apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {{name: {name}}}\n"
        f"value: {value}\nglobalDefault: {str(default).lower()}\n"
    )


def test_a_second_global_default_class_is_refused_as_priority_admission_refuses_it(
    tmp_path: Path,
) -> None:
    result, path = _schedule(
        tmp_path,
        _priority_class("batch", 10, default=True),
        _priority_class("low", 1),
        _priority_class("service", 100, default=True),
        _pod("web", "1"),
    )
    assert result.exit_code == 2
    assert stderr_lines(result) == [
        f"{path}: PriorityClass service: globalDefault: Forbidden: PriorityClass batch is "
        "already marked as default. Only one default can exist"
    ]
    # Exported from a cluster where two creations raced: both stand, the lowest value wins.
    stored = "metadata: {creationTimestamp: '2026-12-01T10:00:00Z', name: "
    result, _ = _schedule(
        tmp_path,
        _priority_class("batch", 10, default=True).replace("metadata: {name: ", stored),
        _priority_class("service", 100, default=True).replace("metadata: {name: ", stored),
        _pod("web", "1"),
    )
    assert result.exit_code == 0, result.stderr
    assert yaml.safe_load(result.stdout)["items"][0]["spec"]["priority"] == 10


def test_printed_pods_carry_what_priority_admission_set_as_the_server_stores_them(
    tmp_path: Path,
) -> None:
    polite_default = _priority_class("batch", 10, default=True) + "preemptionPolicy: Never\n"
    result, _ = _schedule(
        tmp_path,
        polite_default,
        _priority_class("high", 1000),
        _pod("defaulted", "1"),
        _pod("named", "1", "  priorityClassName: high\n"),
        _pod("stated", "1", "  priorityClassName: high\n  priority: 1000\n"),
    )
    assert result.exit_code == 0
    specs = {
        i["metadata"]["name"]: {
            k: v for k, v in i["spec"].items() if "riority" in k or "olicy" in k
        }
        for i in yaml.safe_load(result.stdout)["items"]
    }
    assert specs == {
        "defaulted": {"priorityClassName": "batch", "priority": 10, "preemptionPolicy": "Never"},
        "named": {
            "priorityClassName": "high",
            "priority": 1000,
            "preemptionPolicy": "PreemptLowerPriority",
        },
        "stated": {
            "priorityClassName": "high",
            "priority": 1000,
            "preemptionPolicy": "PreemptLowerPriority",
        },
    }


def test_a_pod_exported_from_a_cluster_keeps_what_admission_gave_it_when_its_classes_are_gone(
    tmp_path: Path,
) -> None:
    # Admitted when created, against classes since deleted: the server keeps such pods.
    exported = (
        _pod(
            "exported",
            "1",
            "  priorityClassName: high\n  priority: 1000\n"
            "  preemptionPolicy: PreemptLowerPriority\n"
            "  runtimeClassName: retired\n  overhead: {cpu: 250m}\n",
        ).replace(
            "namespace: default}",
            "namespace: default, uid: 6f1c2a9e-0d1b-4c55-9a53-1c2f0e1d2b3a, "
            "creationTimestamp: '2026-12-01T10:00:00Z'}",
        )
        + "status: {phase: Pending, qosClass: Burstable}\n"
    )
    result, _ = _schedule(tmp_path, _priority_class("low", 1), exported)
    assert result.exit_code == 0, result.stderr
    (pod,) = yaml.safe_load(result.stdout)["items"]
    assert pod["spec"]["nodeName"] == "node-a"
    assert (pod["spec"]["priority"], pod["spec"]["overhead"]) == (1000, {"cpu": "250m"})
