"""Reading Kueue manifests: v1beta2 as written, v1beta1 converted, and bad input rejected
as Kueue's webhooks reject it, each problem naming file, object and field."""

from __future__ import annotations

from pathlib import Path

import pytest
from queueing_helpers import docs, flavor, load, local_queue, workload

from dralloc.errors import InputError
from dralloc.queueing import QueueState, check

GOOD_CQ = """
apiVersion: kueue.x-k8s.io/v1beta2
kind: ClusterQueue
metadata:
  name: cluster-queue
spec:
  namespaceSelector: {}
  cohortName: org
  resourceGroups:
  - coveredResources: ["cpu", "memory"]
    flavors:
    - name: default-flavor
      resources:
      - name: cpu
        nominalQuota: 9
        borrowingLimit: "1"
      - name: memory
        nominalQuota: 36Gi
        lendingLimit: 12Gi
  - coveredResources: ["nvidia.com/gpu"]
    flavors:
    - name: a100
      resources:
      - name: nvidia.com/gpu
        nominalQuota: 8
  preemption:
    reclaimWithinCohort: Any
    borrowWithinCohort:
      policy: LowerPriority
      maxPriorityThreshold: 100
    withinClusterQueue: LowerPriority
  flavorFungibility:
    whenCanBorrow: TryNextFlavor
"""


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(InputError) as caught:
        load(tmp_path, text)
    return [str(p) for p in caught.value.problems]


def test_a_cluster_queue_as_kueue_docs_write_it_reads_with_defaults(tmp_path: Path) -> None:
    inputs = load(tmp_path, docs(flavor("default-flavor"), flavor("a100"), GOOD_CQ))
    cq = inputs.cluster_queues["cluster-queue"]
    assert cq.spec.cohort_name == "org"
    assert cq.spec.queueing_strategy == "BestEffortFIFO"
    assert cq.spec.flavor_fungibility.when_can_borrow == "TryNextFlavor"
    assert cq.spec.flavor_fungibility.when_can_preempt == "TryNextFlavor"
    assert cq.spec.preemption.borrow_within_cohort is not None
    assert cq.spec.preemption.borrow_within_cohort.max_priority_threshold == 100
    quota = cq.spec.resource_groups[0].flavors[0].resources
    assert [str(q.nominal_quota) for q in quota] == ["9", "36Gi"]
    assert str(quota[1].lending_limit) == "12Gi"
    assert sorted(inputs.flavors) == ["a100", "default-flavor"]


def test_v1beta1_cluster_queue_local_queue_and_v1alpha1_cohort_are_converted(
    tmp_path: Path,
) -> None:
    text = """
apiVersion: kueue.x-k8s.io/v1beta1
kind: ClusterQueue
metadata:
  name: old
spec:
  cohort: org
  namespaceSelector: {}
  flavorFungibility:
    whenCanBorrow: Borrow
    whenCanPreempt: Preempt
  resourceGroups:
  - coveredResources: ["cpu"]
    flavors:
    - name: default-flavor
      resources:
      - name: cpu
        nominalQuota: "4"
---
apiVersion: kueue.x-k8s.io/v1alpha1
kind: Cohort
metadata:
  name: org
spec:
  parent: company
---
apiVersion: kueue.x-k8s.io/v1beta1
kind: Workload
metadata:
  name: w
  namespace: ns
spec:
  queueName: q
  priorityClassName: high
  priorityClassSource: kueue.x-k8s.io/workloadpriorityclass
  priority: 5
  podSets:
  - name: main
    count: 1
    template:
      spec:
        containers:
        - name: c
          resources: {requests: {cpu: "1"}}
"""
    inputs = load(tmp_path, docs(flavor("default-flavor"), text, local_queue("q", "old", "ns")))
    cq = inputs.cluster_queues["old"]
    assert cq.spec.cohort_name == "org"
    assert cq.spec.flavor_fungibility.when_can_borrow == "MayStopSearch"
    assert cq.spec.flavor_fungibility.when_can_preempt == "MayStopSearch"
    assert inputs.cohorts["org"].spec.parent_name == "company"
    ref = inputs.workloads["ns/w"].spec.priority_class_ref
    assert ref is not None and (ref.group, ref.kind, ref.name) == (
        "kueue.x-k8s.io",
        "WorkloadPriorityClass",
        "high",
    )


def test_negative_quota_names_file_object_and_field(tmp_path: Path) -> None:
    bad = GOOD_CQ.replace("nominalQuota: 9", "nominalQuota: -1")
    found = problems(tmp_path, bad)
    assert found == [
        f"{tmp_path}/kueue.yaml: ClusterQueue cluster-queue: "
        "spec.resourceGroups[0].flavors[0].resources[0].nominalQuota: "
        'Invalid value: "-1": must be greater than or equal to 0'
    ]


def test_a_flavor_that_does_not_list_the_covered_resources_is_refused(tmp_path: Path) -> None:
    bad = GOOD_CQ.replace(
        """      - name: memory
        nominalQuota: 36Gi
        lendingLimit: 12Gi
""",
        "",
    )
    found = problems(tmp_path, bad)
    assert found == [
        f"{tmp_path}/kueue.yaml: ClusterQueue cluster-queue: "
        "spec.resourceGroups[0].flavors[0].resources: flavor 'default-flavor' lists 1 "
        "resources but the group covers 2 (cpu, memory): flavors must have the same number "
        "of resources as the coveredResources"
    ]


def test_a_resource_named_out_of_order_and_a_resource_in_two_groups_are_refused(
    tmp_path: Path,
) -> None:
    bad = GOOD_CQ.replace('coveredResources: ["nvidia.com/gpu"]', 'coveredResources: ["cpu"]')
    found = problems(tmp_path, bad)
    assert any(
        p.endswith('spec.resourceGroups[1].coveredResources[0]: Duplicate value: "cpu"')
        for p in found
    )
    assert any(
        "spec.resourceGroups[1].flavors[0].resources[0].name: "
        'Invalid value: "nvidia.com/gpu": must match the name in coveredResources ("cpu")' in p
        for p in found
    )


def test_quota_that_does_not_add_up_lending_above_nominal_and_limits_without_cohort(
    tmp_path: Path,
) -> None:
    bad = GOOD_CQ.replace("lendingLimit: 12Gi", "lendingLimit: 40Gi").replace("cohortName: org", "")
    bad = bad.replace("reclaimWithinCohort: Any", "reclaimWithinCohort: Never")
    found = problems(tmp_path, bad)
    prefix = f"{tmp_path}/kueue.yaml: ClusterQueue cluster-queue: spec."
    assert found == [
        prefix + "preemption: reclaimWithinCohort=Never and borrowWithinCohort.Policy!=Never",
        prefix + "resourceGroups[0].flavors[0].resources[0].borrowingLimit: "
        'Invalid value: "1": must be nil when cohort is empty',
        prefix + "resourceGroups[0].flavors[0].resources[1].lendingLimit: "
        'Invalid value: "40Gi": must be less than or equal to the nominalQuota (36Gi)',
        prefix + "resourceGroups[0].flavors[0].resources[1].lendingLimit: "
        'Invalid value: "40Gi": must be nil when cohort is empty',
    ]


def test_bad_enum_and_preference_without_try_next_flavor_are_refused(tmp_path: Path) -> None:
    bad = GOOD_CQ.replace("whenCanBorrow: TryNextFlavor", "whenCanBorrow: Sometimes")
    bad = bad.replace("  flavorFungibility:\n", "  queueingStrategy: FIFO\n  flavorFungibility:\n")
    found = problems(tmp_path, bad)
    assert any(
        p.endswith(
            'spec.flavorFungibility.whenCanBorrow: Unsupported value: "Sometimes": supported '
            'values: "MayStopSearch", "TryNextFlavor"'
        )
        for p in found
    )
    assert any("spec.queueingStrategy: Unsupported value" in p for p in found)


def test_a_workload_with_a_bad_min_count_and_two_min_counts_is_refused(tmp_path: Path) -> None:
    text = workload("w", "q", count=2, min_count=3)
    found = problems(tmp_path, text)
    assert found == [
        f"{tmp_path}/kueue.yaml: Workload team-a/w: spec.podSets[0].minCount: Invalid value: 3: "
        "minCount should be positive and less or equal to count (2)"
    ]


def test_a_wrong_type_is_reported_at_its_field(tmp_path: Path) -> None:
    bad = GOOD_CQ.replace("nominalQuota: 8", "nominalQuota: [8]")
    found = problems(tmp_path, bad)
    assert len(found) == 1
    assert "ClusterQueue cluster-queue: spec.resourceGroups[1].flavors[0].resources[0]" in found[0]


def test_a_cohort_cycle_is_one_error_per_member_naming_the_cycle(tmp_path: Path) -> None:
    text = docs(
        flavor("default-flavor"),
        flavor("a100"),
        GOOD_CQ,
        *(
            f"""
apiVersion: kueue.x-k8s.io/v1beta2
kind: Cohort
metadata:
  name: {name}
spec:
  parentName: {parent}
"""
            for name, parent in (("org", "dept"), ("dept", "company"), ("company", "org"))
        ),
    )
    inputs = load(tmp_path, text)
    state = QueueState.build(inputs)
    assert not state.cluster_queues["cluster-queue"].active
    assert state.cluster_queues["cluster-queue"].inactive_reason == "CohortHasCycle"
    with pytest.raises(InputError) as caught:
        check(state)
    lines = str(caught.value).splitlines()
    assert lines == [
        f"{tmp_path}/kueue.yaml: Cohort {name}: spec.parentName: cohort cycle company -> org -> "
        "dept -> company: every ClusterQueue under it is inactive until the cycle is removed"
        for name in ("company", "dept", "org")
    ]


def test_a_cluster_queue_naming_a_missing_flavor_is_inactive_with_kueues_reason(
    tmp_path: Path,
) -> None:
    inputs = load(tmp_path, docs(flavor("default-flavor"), GOOD_CQ))
    cq = QueueState.build(inputs).cluster_queues["cluster-queue"]
    assert (cq.inactive_reason, cq.inactive_message) == (
        "FlavorNotFound",
        "Can't admit new workloads: references missing ResourceFlavor(s): a100",
    )
