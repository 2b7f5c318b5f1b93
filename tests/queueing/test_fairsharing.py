"""Fair sharing (spec/queueing.md 4.1, 4.2): dominant resource share with weights, and the
tournament that serves the least-borrowing queue first."""

from __future__ import annotations

from pathlib import Path

from queueing_helpers import NOW, docs, flavor, load, local_queue, setup, workload

from dralloc.queueing import QueueConfig, dominant_resource_share, schedule
from dralloc.queueing.quota import FlavorResource, NodeKind, Quota, QuotaNode, attach, recompute

FR = FlavorResource("f", "cpu")


def pair(weight_a: float, weight_b: float) -> tuple[QuotaNode, QuotaNode]:
    cohort = QuotaNode("co", NodeKind.cohort, {FR: Quota(8000)})
    a = QuotaNode("a", NodeKind.cluster_queue, {FR: Quota(1000)}, weight_a)
    b = QuotaNode("b", NodeKind.cluster_queue, {FR: Quota(1000)}, weight_b)
    attach(a, cohort)
    attach(b, cohort)
    recompute(cohort)
    return a, b


def test_drs_counts_only_usage_above_nominal_per_mille_of_the_lendable_pool() -> None:
    a, _ = pair(1.0, 1.0)
    assert dominant_resource_share(a).weighted() == 0
    assert dominant_resource_share(a, {FR: 1000}).weighted() == 0
    share = dominant_resource_share(a, {FR: 3500})
    # 2500m borrowed of 10000m the cohort could lend to `a`.
    assert share.weighted() == 250.0
    assert (share.dominant_resource, share.weighted_share()) == ("cpu", 250)


def test_weights_scale_the_share_and_weight_zero_borrowing_is_infinite() -> None:
    a, b = pair(2.0, 0.0)
    assert dominant_resource_share(a, {FR: 3000}).weighted() == 100.0
    zero = dominant_resource_share(b, {FR: 2000})
    assert zero.weighted() == float("inf")
    assert zero.weighted_share() == 2**63 - 1
    assert dominant_resource_share(b, {FR: 1000}).weighted() == 0  # not borrowing


SHARED = """
apiVersion: kueue.x-k8s.io/v1beta2
kind: Cohort
metadata:
  name: research
spec:
  resourceGroups:
  - coveredResources: ["cpu"]
    flavors:
    - name: default-flavor
      resources:
      - name: cpu
        nominalQuota: 4
"""


def cq(name: str) -> str:
    return f"""
apiVersion: kueue.x-k8s.io/v1beta2
kind: ClusterQueue
metadata:
  name: {name}
spec:
  namespaceSelector: {{}}
  cohortName: research
  preemption:
    reclaimWithinCohort: Any
  resourceGroups:
  - coveredResources: ["cpu"]
    flavors:
    - name: default-flavor
      resources:
      - name: cpu
        nominalQuota: 1
"""


def contest(tmp_path: Path, config: QueueConfig) -> list[str]:
    text = docs(
        flavor("default-flavor"),
        SHARED,
        cq("a"),
        cq("b"),
        local_queue("lq", "a"),
        local_queue("lq", "b", namespace="team-b"),
        workload("a-1", "lq", cpu="3", created="2026-01-01T08:00:00Z"),
        workload("a-2", "lq", cpu="2", created="2026-01-01T09:00:00Z"),
    )
    state, manager = setup(load(tmp_path, text))
    assert schedule(state, manager, NOW, config=config).admitted == ["team-a/a-1"]
    later = workload("b-1", "lq", namespace="team-b", cpu="2", created="2026-01-01T10:00:00Z")
    manager.add(load(tmp_path, later, name="later.yaml").workloads["team-b/b-1"])
    # a now borrows 2 of the cohort's 6; 3 are left: one of a-2 and b-1 (2 each) fits.
    return schedule(state, manager, NOW, config=config).admitted


def test_classical_order_serves_the_earlier_head(tmp_path: Path) -> None:
    assert contest(tmp_path, QueueConfig()) == ["team-a/a-2"]


def test_the_tournament_serves_the_queue_with_the_lower_share(tmp_path: Path) -> None:
    assert contest(tmp_path, QueueConfig(fair_sharing=True)) == ["team-b/b-1"]
