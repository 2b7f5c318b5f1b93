"""`dralloc schedule -f` with PodDisruptionBudgets: a budget in the input steers preemption as
kube-scheduler's does (a budget without a status gets the disruption controller's), and a bad
budget is one line naming file, object and field, exit 2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from cli_kit import invoke, stderr_lines

# Two nodes of 4 cpus: "web-0" (app: web) runs on node-a, "batch" on node-b, each with 3 cpus;
# "urgent" needs 3 cpus and may preempt either. Without a budget the first node wins the
# tie (node-a, evicting web-0).
CLUSTER = """\
apiVersion: v1
kind: Node
metadata: {name: node-a}
status: {allocatable: {cpu: "4", memory: 8Gi, pods: "110"}}
---
apiVersion: v1
kind: Node
metadata: {name: node-b}
status: {allocatable: {cpu: "4", memory: 8Gi, pods: "110"}}
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: high}
value: 1000
---
apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: default, labels: {app: web}}
spec:
  nodeName: node-a
  containers:
  - {name: c, image: nginx, resources: {requests: {cpu: "3"}}}
---
apiVersion: v1
kind: Pod
metadata: {name: batch, namespace: default}
spec:
  nodeName: node-b
  containers:
  - {name: c, image: busybox, resources: {requests: {cpu: "3"}}}
---
apiVersion: v1
kind: Pod
metadata: {name: urgent, namespace: default}
spec:
  priorityClassName: high
  containers:
  - {name: c, image: busybox, resources: {requests: {cpu: "3"}}}
"""

# As a user writes it: no status (the disruption controller would find 1 healthy pod of the
# 1 required, so no disruption is allowed).
BUDGET = """\
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web, namespace: default}
spec:
  minAvailable: 1
  selector:
    matchLabels: {app: web}
"""


def _write(tmp_path: Path, *documents: str) -> str:
    path = tmp_path / "in.yaml"
    path.write_text("---\n".join(documents), encoding="utf-8")
    return str(path)


def _victims(stdout: str) -> dict[str, str]:
    document = yaml.safe_load(stdout)
    found: dict[str, str] = {}
    for item in document["items"]:
        status: dict[str, Any] = item.get("status") or {}
        if item["kind"] == "Pod" and status.get("reason") == "Preempted":
            found[item["metadata"]["name"]] = item["spec"]["nodeName"]
    return found


def test_without_a_budget_the_tie_goes_to_the_first_node(tmp_path: Path) -> None:
    result = invoke("schedule", "-f", _write(tmp_path, CLUSTER))
    assert result.exit_code == 0, result.stderr
    assert _victims(result.stdout) == {"web-0": "node-a"}


def test_a_budget_without_a_status_keeps_its_only_healthy_pod_and_the_other_goes(
    tmp_path: Path,
) -> None:
    result = invoke("schedule", "-f", _write(tmp_path, CLUSTER, BUDGET))
    assert result.exit_code == 0, result.stderr
    assert _victims(result.stdout) == {"batch": "node-b"}
    assert (
        stderr_lines(result)[0] == "pod default/batch: preempted by default/urgent on node node-b"
    )


def test_a_budget_whose_status_allows_a_disruption_is_read_as_given(tmp_path: Path) -> None:
    with_status = BUDGET + (
        "status: {disruptionsAllowed: 0, currentHealthy: 1, desiredHealthy: 1, expectedPods: 1}\n"
    )
    result = invoke("schedule", "-f", _write(tmp_path, CLUSTER, with_status))
    assert _victims(result.stdout) == {"batch": "node-b"}
    allowing = BUDGET + "status: {disruptionsAllowed: 1}\n"
    result = invoke("schedule", "-f", _write(tmp_path, CLUSTER, allowing))
    assert _victims(result.stdout) == {"web-0": "node-a"}


def test_a_budget_setting_both_bounds_is_an_input_error_naming_its_fields(tmp_path: Path) -> None:
    bad = BUDGET.replace("minAvailable: 1", "minAvailable: 150%\n  maxUnavailable: -1")
    path = _write(tmp_path, CLUSTER, bad)
    result = invoke("schedule", "-f", path)
    assert result.exit_code == 2
    assert stderr_lines(result) == [
        f"{path}: PodDisruptionBudget default/web: spec: Invalid value: minAvailable and "
        "maxUnavailable cannot be both set",
        f"{path}: PodDisruptionBudget default/web: spec.maxUnavailable: Invalid value: -1: "
        "must be greater than or equal to 0",
        f'{path}: PodDisruptionBudget default/web: spec.minAvailable: Invalid value: "150%": '
        "must not be greater than 100%",
    ]
