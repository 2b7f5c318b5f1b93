"""Hierarchical cohorts through the admission cycle (spec/queueing.md 1.3, 2.6): a Cohort's
own quota is an extra pool for its subtree, usable only for flavor-resources a ClusterQueue
declares; borrowing limits of a cohort bound its whole subtree; the ClusterQueue status
reports usage and borrowing in Kueue's shape."""

from __future__ import annotations

from pathlib import Path

from queueing_helpers import NOW, docs, flavor, load, local_queue, setup, workload

from dralloc.queueing import QueueInput, QueueManager, QueueState, queue_statuses, schedule


def cohort(name: str, parent: str = "", cpu: str = "", borrowing_limit: str = "") -> str:
    parent_line = f"\n  parentName: {parent}" if parent else ""
    groups = ""
    if cpu:
        limit = f'\n        borrowingLimit: "{borrowing_limit}"' if borrowing_limit else ""
        groups = f"""
  resourceGroups:
  - coveredResources: ["cpu"]
    flavors:
    - name: default
      resources:
      - name: cpu
        nominalQuota: "{cpu}"{limit}"""
    return f"""
apiVersion: kueue.x-k8s.io/v1beta2
kind: Cohort
metadata:
  name: {name}
spec:{(parent_line + groups) or " {}"}
"""


def cq(name: str, parent: str, cpu: str, gpu: str | None = None) -> str:
    resources = '["cpu", "nvidia.com/gpu"]' if gpu is not None else '["cpu"]'
    gpu_quota = f'\n      - name: nvidia.com/gpu\n        nominalQuota: "{gpu}"' if gpu else ""
    return f"""
apiVersion: kueue.x-k8s.io/v1beta2
kind: ClusterQueue
metadata:
  name: {name}
spec:
  namespaceSelector: {{}}
  cohortName: {parent}
  resourceGroups:
  - coveredResources: {resources}
    flavors:
    - name: default
      resources:
      - name: cpu
        nominalQuota: "{cpu}"{gpu_quota}
"""


def tree(
    tmp_path: Path, *extra: str, dept_limit: str = ""
) -> tuple[QueueInput, QueueState, QueueManager]:
    text = docs(
        flavor("default"),
        cohort("company", cpu="10"),
        cohort("dept", parent="company", cpu="2", borrowing_limit=dept_limit),
        cq("team-a", "dept", "2"),
        cq("team-b", "company", "1"),
        local_queue("lq", "team-a"),
        local_queue("lq", "team-b", namespace="team-b"),
        *extra,
    )
    inputs = load(tmp_path, text)
    state, manager = setup(inputs)
    return inputs, state, manager


def test_a_team_reaches_its_own_quota_the_departments_pool_and_the_companys(
    tmp_path: Path,
) -> None:
    _, state, manager = tree(tmp_path, workload("big", "lq", cpu="15"))
    assert schedule(state, manager, NOW).admitted == ["team-a/big"]
    status = queue_statuses(state, manager)["team-a"]
    usage = status.flavors_usage[0].resources[0]
    assert (usage.name, str(usage.total), str(usage.borrowed)) == ("cpu", "15", "13")
    assert status.admitted_workloads == 1
    assert status.fair_sharing is not None and status.fair_sharing.weighted_share > 0
    assert status.conditions[0].reason == "Ready"


def test_one_more_cpu_than_the_whole_tree_holds_exceeds_max_quota(tmp_path: Path) -> None:
    _, state, manager = tree(tmp_path, workload("big", "lq", cpu="16"))
    result = schedule(state, manager, NOW)
    assert result.pending["team-a/big"].reason == "ExceedsMaxQuota"
    assert "maximum capacity (15)" in result.pending["team-a/big"].message


def test_a_cohort_borrowing_limit_bounds_its_whole_subtree(tmp_path: Path) -> None:
    # dept holds 4 (team-a's 2 + its own 2) and may borrow 3 more from the company.
    _, state, manager = tree(tmp_path, workload("big", "lq", cpu="8"), dept_limit="3")
    result = schedule(state, manager, NOW)
    assert result.pending["team-a/big"].reason == "ExceedsMaxQuota"
    assert "maximum capacity (7)" in result.pending["team-a/big"].message


def test_cohort_quota_serves_only_resources_the_queue_declares(tmp_path: Path) -> None:
    gpu_pool = cohort("company", cpu="10").replace('["cpu"]', '["cpu", "nvidia.com/gpu"]')
    gpu_pool = gpu_pool.replace(
        'nominalQuota: "10"',
        'nominalQuota: "10"\n      - name: nvidia.com/gpu\n        nominalQuota: "8"',
    )
    text = docs(
        flavor("default"),
        gpu_pool,
        cq("cpu-only", "company", "1"),
        cq("with-gpu", "company", "1", gpu="0"),
        local_queue("lq", "cpu-only"),
        local_queue("lq", "with-gpu", namespace="team-b"),
        workload("needs-gpu", "lq", cpu="1", gpu="4"),
        workload("gpu-ok", "lq", namespace="team-b", cpu="1", gpu="4"),
    )
    state, manager = setup(load(tmp_path, text))
    result = schedule(state, manager, NOW)
    assert result.admitted == ["team-b/gpu-ok"]
    assert result.pending["team-a/needs-gpu"].message == (
        "couldn't assign flavors to pod set main: resource nvidia.com/gpu unavailable in "
        "ClusterQueue"
    )
