"""The admission cycle: heads, ordering, admission and the conditions written
(spec/queueing.md 2.1-2.7), on real Kueue manifest shapes."""

from __future__ import annotations

from pathlib import Path

from queueing_helpers import NOW, docs, flavor, load, local_queue, setup, workload

from dralloc.queueing import FlavorResource, schedule

# A ClusterQueue as Kueue's docs write it: cpu, memory and nvidia.com/gpu in one resource
# group over two flavors (on-demand first, then spot), in a cohort.
TEAM_QUEUES = """
apiVersion: kueue.x-k8s.io/v1beta2
kind: ClusterQueue
metadata:
  name: team-a-cq
spec:
  namespaceSelector: {}
  cohortName: research
  queueingStrategy: BestEffortFIFO
  resourceGroups:
  - coveredResources: ["cpu", "memory", "nvidia.com/gpu"]
    flavors:
    - name: on-demand
      resources:
      - name: "cpu"
        nominalQuota: 8
      - name: "memory"
        nominalQuota: 36Gi
      - name: "nvidia.com/gpu"
        nominalQuota: 4
    - name: spot
      resources:
      - name: "cpu"
        nominalQuota: 8
      - name: "memory"
        nominalQuota: 36Gi
      - name: "nvidia.com/gpu"
        nominalQuota: 4
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: ClusterQueue
metadata:
  name: team-b-cq
spec:
  namespaceSelector: {}
  cohortName: research
  resourceGroups:
  - coveredResources: ["cpu", "memory", "nvidia.com/gpu"]
    flavors:
    - name: on-demand
      resources:
      - name: "cpu"
        nominalQuota: 8
      - name: "memory"
        nominalQuota: 36Gi
      - name: "nvidia.com/gpu"
        nominalQuota: 4
        lendingLimit: 2
    - name: spot
      resources:
      - name: "cpu"
        nominalQuota: 0
      - name: "memory"
        nominalQuota: 0
      - name: "nvidia.com/gpu"
        nominalQuota: 0
"""

BASE = docs(
    flavor("on-demand", **{"cloud.example.com/capacity": "on-demand"}),
    flavor("spot", **{"cloud.example.com/capacity": "spot"}),
    TEAM_QUEUES,
    local_queue("user-queue", "team-a-cq"),
    local_queue("user-queue", "team-b-cq", namespace="team-b"),
)


def test_a_fitting_workload_is_admitted_on_the_first_flavor_with_kueues_status(
    tmp_path: Path,
) -> None:
    inputs = load(tmp_path, docs(BASE, workload("job-1", "user-queue", cpu="2", gpu="2")))
    state, manager = setup(inputs)
    result = schedule(state, manager, NOW)
    assert result.admitted == ["team-a/job-1"]
    wl = inputs.workloads["team-a/job-1"]
    admission = wl.status.admission
    assert admission is not None and admission.cluster_queue == "team-a-cq"
    psa = admission.pod_set_assignments[0]
    assert psa.flavors == {"cpu": "on-demand", "nvidia.com/gpu": "on-demand"}
    assert {k: str(v) for k, v in psa.resource_usage.items()} == {"cpu": "2", "nvidia.com/gpu": "2"}
    assert psa.count == 1
    reserved = wl.condition("QuotaReserved")
    admitted = wl.condition("Admitted")
    assert reserved is not None and reserved.status == "True"
    assert reserved.message == "Quota reserved in ClusterQueue team-a-cq"
    assert admitted is not None and (admitted.status, admitted.reason) == ("True", "Admitted")
    assert state.cluster_queues["team-a-cq"].node.usage[FlavorResource("on-demand", "cpu")] == 2000


def test_when_on_demand_is_used_up_the_next_workload_borrows_before_trying_spot(
    tmp_path: Path,
) -> None:
    # whenCanBorrow defaults to MayStopSearch: the first flavor that fits, even by
    # borrowing, wins. team-b lends 2 of its 4 on-demand GPUs.
    inputs = load(
        tmp_path,
        docs(
            BASE,
            workload("job-1", "user-queue", gpu="4", created="2026-01-01T10:00:00Z"),
        ),
    )
    state, manager = setup(inputs)
    assert schedule(state, manager, NOW).admitted == ["team-a/job-1"]
    more = load(tmp_path, workload("job-2", "user-queue", gpu="2"), name="more.yaml")
    manager.add(more.workloads["team-a/job-2"])
    result = schedule(state, manager, NOW)
    assert result.admitted == ["team-a/job-2"]
    psa = more.workloads["team-a/job-2"].status.admission
    assert psa is not None
    assert psa.pod_set_assignments[0].flavors["nvidia.com/gpu"] == "on-demand"


def test_a_workload_larger_than_anything_reachable_waits_with_exceeds_max_quota(
    tmp_path: Path,
) -> None:
    inputs = load(tmp_path, docs(BASE, workload("huge", "user-queue", gpu="20")))
    state, manager = setup(inputs)
    result = schedule(state, manager, NOW)
    assert result.admitted == []
    wl = inputs.workloads["team-a/huge"]
    cond = wl.condition("QuotaReserved")
    assert cond is not None
    assert (cond.status, cond.reason) == ("False", "ExceedsMaxQuota")
    assert cond.message == (
        "couldn't assign flavors to pod set main: insufficient quota for nvidia.com/gpu in "
        "flavor on-demand, previously considered podsets requests (0) + current podset request "
        "(20) > maximum capacity (6), insufficient quota for nvidia.com/gpu in flavor spot, "
        "previously considered podsets requests (0) + current podset request (20) > maximum "
        "capacity (4)"
    )
    assert wl.status.admission is None
    assert [r.name for r in wl.status.resource_requests] == ["main"]
    assert str(wl.status.resource_requests[0].resources["nvidia.com/gpu"]) == "20"
