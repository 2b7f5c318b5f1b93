"""The admission cycle: heads, ordering, admission and the conditions written
(spec/queueing.md 2.1-2.7), on real Kueue manifest shapes."""

from __future__ import annotations

from pathlib import Path

from queueing_helpers import NOW, docs, flavor, load, local_queue, setup, workload

from dralloc.queueing import FlavorResource, QueueInput, QueueManager, QueueState, schedule

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


def simple_cq(name: str, strategy: str = "BestEffortFIFO", cpu: str = "4", extra: str = "") -> str:
    return f"""
apiVersion: kueue.x-k8s.io/v1beta2
kind: ClusterQueue
metadata:
  name: {name}
spec:
  namespaceSelector: {{}}
  queueingStrategy: {strategy}{extra}
  resourceGroups:
  - coveredResources: ["cpu"]
    flavors:
    - name: default-flavor
      resources:
      - name: cpu
        nominalQuota: "{cpu}"
"""


def fifo_inputs(tmp_path: Path, strategy: str) -> tuple[QueueInput, QueueState, QueueManager]:
    text = docs(
        flavor("default-flavor"),
        simple_cq("cq", strategy),
        local_queue("lq", "cq"),
        workload("big", "lq", cpu="6", created="2026-01-01T10:00:00Z"),
        workload("small", "lq", cpu="1", created="2026-01-01T10:01:00Z"),
    )
    inputs = load(tmp_path, text)
    state, manager = setup(inputs)
    return inputs, state, manager


def test_strict_fifo_keeps_a_blocked_head_in_front_of_later_workloads(tmp_path: Path) -> None:
    _, state, manager = fifo_inputs(tmp_path, "StrictFIFO")
    for _ in range(3):
        assert schedule(state, manager, NOW).admitted == []
    assert [q.key for q in manager.pending("cq")] == ["team-a/big", "team-a/small"]


def test_best_effort_fifo_moves_a_head_that_cannot_fit_aside(tmp_path: Path) -> None:
    _, state, manager = fifo_inputs(tmp_path, "BestEffortFIFO")
    first = schedule(state, manager, NOW)
    assert first.admitted == []
    assert first.pending["team-a/big"].reason == "ExceedsMaxQuota"
    second = schedule(state, manager, NOW)
    assert second.admitted == ["team-a/small"]
    # The inadmissible head comes back only with a requeue event in its cohort tree.
    assert schedule(state, manager, NOW).admitted == []
    assert [q.key for q in manager.queues["cq"].inadmissible.values()] == ["team-a/big"]
    manager.on_quota_released("cq")
    assert [q.key for q in manager.queues["cq"].active.values()] == ["team-a/big"]


def test_higher_priority_overtakes_an_earlier_workload(tmp_path: Path) -> None:
    text = docs(
        flavor("default-flavor"),
        simple_cq("cq", "StrictFIFO", cpu="1"),
        local_queue("lq", "cq"),
        workload("early-low", "lq", cpu="1", priority=1, created="2026-01-01T10:00:00Z"),
        workload("late-high", "lq", cpu="1", priority=100, created="2026-01-01T11:00:00Z"),
    )
    inputs = load(tmp_path, text)
    state, manager = setup(inputs)
    assert schedule(state, manager, NOW).admitted == ["team-a/late-high"]
    result = schedule(state, manager, NOW)
    assert result.admitted == []
    cond = inputs.workloads["team-a/early-low"].condition("QuotaReserved")
    assert cond is not None and cond.reason == "WaitingForQuota"
    assert cond.message == (
        "couldn't assign flavors to pod set main: insufficient unused quota for cpu in flavor "
        "default-flavor, 1 more needed"
    )


def test_workload_priority_class_sets_the_priority(tmp_path: Path) -> None:
    wpc = """
apiVersion: kueue.x-k8s.io/v1beta2
kind: WorkloadPriorityClass
metadata:
  name: urgent
value: 1000
description: urgent jobs
"""
    late = workload("late", "lq", cpu="1", created="2026-01-01T11:00:00Z").replace(
        "  queueName: lq",
        "  queueName: lq\n  priorityClassRef:\n    group: kueue.x-k8s.io\n"
        "    kind: WorkloadPriorityClass\n    name: urgent",
    )
    text = docs(
        flavor("default-flavor"),
        simple_cq("cq", cpu="1"),
        local_queue("lq", "cq"),
        wpc,
        workload("early", "lq", cpu="1", created="2026-01-01T10:00:00Z"),
        late,
    )
    state, manager = setup(load(tmp_path, text))
    assert manager.workloads["team-a/late"].priority == 1000
    assert schedule(state, manager, NOW).admitted == ["team-a/late"]


def test_within_nominal_heads_go_before_borrowing_heads_across_queues(tmp_path: Path) -> None:
    # Kueue#3405's lesson: a head that borrows must not take what a within-nominal head of
    # another queue needs in the same cycle.
    cohort = "\n  cohortName: org"
    text = docs(
        flavor("default-flavor"),
        simple_cq("a", cpu="2", extra=cohort),
        simple_cq("b", cpu="2", extra=cohort),
        local_queue("lq-a", "a"),
        local_queue("lq-b", "b"),
        workload("borrower", "lq-a", cpu="3", priority=100, created="2026-01-01T09:00:00Z"),
        workload("owner", "lq-b", cpu="2", priority=0, created="2026-01-01T10:00:00Z"),
    )
    inputs = load(tmp_path, text)
    state, manager = setup(inputs)
    result = schedule(state, manager, NOW)
    assert result.order == ["team-a/owner", "team-a/borrower"]
    assert result.admitted == ["team-a/owner"]
    assert result.pending["team-a/borrower"].message == (
        "Workload no longer fits after processing another workload"
    )


def test_partial_admission_shrinks_to_the_largest_count_that_fits(tmp_path: Path) -> None:
    text = docs(
        flavor("default-flavor"),
        simple_cq("cq", cpu="5"),
        local_queue("lq", "cq"),
        workload("elastic", "lq", cpu="1", count=8, min_count=2),
    )
    inputs = load(tmp_path, text)
    state, manager = setup(inputs)
    assert schedule(state, manager, NOW).admitted == ["team-a/elastic"]
    admission = inputs.workloads["team-a/elastic"].status.admission
    assert admission is not None
    assert admission.pod_set_assignments[0].count == 5
    assert str(admission.pod_set_assignments[0].resource_usage["cpu"]) == "5"


def test_a_namespace_the_selector_does_not_pick_is_misconfigured(tmp_path: Path) -> None:
    cq = simple_cq("cq").replace(
        "namespaceSelector: {}", "namespaceSelector:\n    matchLabels:\n      team: a"
    )
    inputs = load(
        tmp_path, docs(flavor("default-flavor"), cq, local_queue("lq", "cq"), workload("w", "lq"))
    )
    state, manager = setup(inputs)
    result = schedule(state, manager, NOW)
    entry = result.pending["team-a/w"]
    assert (entry.reason, entry.message) == (
        "Misconfigured",
        "Workload namespace doesn't match ClusterQueue selector",
    )


def test_legacy_reasons_write_pending_as_kueue_v0_17(tmp_path: Path) -> None:
    from dralloc.queueing import QueueConfig

    inputs = load(
        tmp_path,
        docs(
            flavor("default-flavor"),
            simple_cq("cq"),
            local_queue("lq", "cq"),
            workload("w", "lq", cpu="9"),
        ),
    )
    state, manager = setup(inputs)
    schedule(state, manager, NOW, config=QueueConfig(legacy_pending_reasons=True))
    cond = inputs.workloads["team-a/w"].condition("QuotaReserved")
    assert cond is not None and cond.reason == "Pending"


def test_a_missing_local_queue_is_explained(tmp_path: Path) -> None:
    from dralloc.queueing import explain

    inputs = load(
        tmp_path, docs(flavor("default-flavor"), simple_cq("cq"), workload("w", "nowhere"))
    )
    state, manager = setup(inputs)
    why = explain(state, manager, "team-a/w")
    assert (why.reason, why.message) == ("Misconfigured", "LocalQueue nowhere doesn't exist")


def test_explain_gives_numeric_shortfalls_per_flavor_and_the_queue_position(tmp_path: Path) -> None:
    from dralloc.queueing import explain

    inputs = load(tmp_path, docs(BASE, workload("huge", "user-queue", cpu="2", gpu="7")))
    state, manager = setup(inputs)
    why = explain(state, manager, "team-a/huge")
    assert why.reason == "ExceedsMaxQuota"
    assert why.position == 0
    gpu = [s for s in why.shortfalls if s.fr.resource == "nvidia.com/gpu"]
    assert [(s.fr.flavor, s.requested, s.available, s.maximum) for s in gpu] == [
        ("on-demand", 7, 6, 6),
        ("spot", 7, 4, 4),
    ]
    text = str(why)
    assert "pod set main (count 1): no_fit" in text
    assert (
        "nvidia.com/gpu in flavor spot: 7 requested, 4 available, 3 more needed "
        "(most the queue can reach: 4)"
    ) in text


class NoNodeFor:
    """A placement check refusing Workloads by name, as a node-level fit would."""

    def __init__(self, *keys: str) -> None:
        self.keys = set(keys)
        self.asked: list[str] = []

    def check(self, snapshot: object, entry: object, assignment: object) -> str | None:
        key = entry.key  # type: ignore[attr-defined]
        self.asked.append(key)
        return "no node has 8 free GPUs (largest: 4 on node-1)" if key in self.keys else None


def test_a_placement_check_keeps_an_unplaceable_workload_from_holding_quota(
    tmp_path: Path,
) -> None:
    text = docs(
        flavor("default-flavor"),
        simple_cq("cq", cpu="8"),
        local_queue("lq", "cq"),
        workload("gang", "lq", cpu="8", created="2026-01-01T10:00:00Z"),
        workload("small", "lq", cpu="1", created="2026-01-01T10:01:00Z"),
    )
    inputs = load(tmp_path, text)
    state, manager = setup(inputs)
    check = NoNodeFor("team-a/gang")
    first = schedule(state, manager, NOW, placement=check)
    assert first.admitted == []
    entry = first.pending["team-a/gang"]
    assert (entry.reason, entry.message) == (
        "PlacementInfeasible",
        "placement infeasible: no node has 8 free GPUs (largest: 4 on node-1)",
    )
    assert state.reservations == {}
    # BestEffortFIFO moves on: the small one is admitted next cycle.
    assert schedule(state, manager, NOW, placement=check).admitted == ["team-a/small"]


def test_explain_a_workload_that_fits_but_waits_behind_a_strict_fifo_head(tmp_path: Path) -> None:
    from dralloc.queueing import explain

    _, state, manager = fifo_inputs(tmp_path, "StrictFIFO")
    schedule(state, manager, NOW)
    why = explain(state, manager, "team-a/small")
    assert why.admissible_now
    assert why.position == 1
    assert str(why) == (
        "Workload team-a/small in ClusterQueue cq (position 2): fits the quota now; "
        "1 Workload(s) ahead of it in ClusterQueue cq (StrictFIFO)"
    )
    blocked = explain(state, manager, "team-a/big")
    assert (blocked.reason, blocked.position) == ("ExceedsMaxQuota", 0)
