"""Classical preemption (spec/queueing.md 3.1, 3.2), re-expressing scenarios of Kueue's
preemption_test.go through whole admission cycles: within a ClusterQueue by priority,
reclaiming lent quota from a borrowing queue, borrowWithinCohort, and the eviction written."""

from __future__ import annotations

from pathlib import Path

from queueing_helpers import NOW, docs, flavor, load, local_queue, workload

from dralloc.queueing import QueueManager, QueueState, schedule
from dralloc.queueing.cycle import evict
from dralloc.queueing.preemption import ClassicalPreemptor


def cq(
    name: str,
    cpu: str,
    *,
    cohort: str = "",
    within: str = "LowerPriority",
    reclaim: str = "Never",
    borrow_policy: str = "",
    threshold: int | None = None,
    borrowing_limit: str = "",
) -> str:
    borrow = ""
    if borrow_policy:
        borrow = f"\n    borrowWithinCohort:\n      policy: {borrow_policy}"
        if threshold is not None:
            borrow += f"\n      maxPriorityThreshold: {threshold}"
    limit = f'\n        borrowingLimit: "{borrowing_limit}"' if borrowing_limit else ""
    cohort_line = f"\n  cohortName: {cohort}" if cohort else ""
    return f"""
apiVersion: kueue.x-k8s.io/v1beta2
kind: ClusterQueue
metadata:
  name: {name}
spec:
  namespaceSelector: {{}}{cohort_line}
  preemption:
    withinClusterQueue: {within}
    reclaimWithinCohort: {reclaim}{borrow}
  resourceGroups:
  - coveredResources: ["cpu"]
    flavors:
    - name: default
      resources:
      - name: cpu
        nominalQuota: "{cpu}"{limit}
"""


class World:
    """Admit workloads one cycle at a time, then bring an incoming one."""

    def __init__(self, tmp_path: Path, *objects: str) -> None:
        self.tmp_path = tmp_path
        self.inputs = load(tmp_path, docs(flavor("default"), *objects))
        self.state = QueueState.build(self.inputs)
        self.manager = QueueManager(self.state)
        self.preemptor = ClassicalPreemptor()
        self.n = 0

    def admit(self, text: str) -> str:
        key = self.add(text)
        result = schedule(
            self.state, self.manager, NOW, preemptor=self.preemptor, reserved_at=float(self.n)
        )
        assert result.admitted == [key], (
            result.pending[key].message if key in result.pending else ""
        )
        return key

    def add(self, text: str) -> str:
        self.n += 1
        more = load(self.tmp_path, text, name=f"w{self.n}.yaml")
        ((key, wl),) = more.workloads.items()
        self.inputs.workloads[key] = wl
        self.manager.add(wl)
        return key


def base(tmp_path: Path) -> World:
    return World(tmp_path, cq("standalone", "6"), local_queue("lq", "standalone"))


def test_preempt_lowest_priority(tmp_path: Path) -> None:
    w = base(tmp_path)
    w.admit(workload("low", "lq", cpu="2", priority=-1, created="2026-01-01T10:00:00Z"))
    w.admit(workload("mid", "lq", cpu="2", priority=0, created="2026-01-01T10:01:00Z"))
    w.admit(workload("high", "lq", cpu="2", priority=1, created="2026-01-01T10:02:00Z"))
    key = w.add(workload("in", "lq", cpu="2", priority=1, created="2026-01-01T11:00:00Z"))
    result = schedule(w.state, w.manager, NOW, preemptor=w.preemptor)
    assert result.admitted == []
    assert result.preemptions == [("team-a/low", key, "InClusterQueue")]
    entry = result.pending[key]
    assert entry.reason == "WaitingForPreemptedWorkloads"
    assert entry.message.endswith(". Pending the preemption of 1 workload(s)")


def test_preempt_multiple_and_the_minimal_set_excludes_what_is_not_needed(tmp_path: Path) -> None:
    w = base(tmp_path)
    w.admit(workload("low", "lq", cpu="2", priority=-1, created="2026-01-01T10:00:00Z"))
    w.admit(workload("mid", "lq", cpu="2", priority=0, created="2026-01-01T10:01:00Z"))
    w.admit(workload("high", "lq", cpu="2", priority=1, created="2026-01-01T10:02:00Z"))
    w.add(workload("in", "lq", cpu="3", priority=1, created="2026-01-01T11:00:00Z"))
    result = schedule(w.state, w.manager, NOW, preemptor=w.preemptor)
    assert sorted(v for v, _, _ in result.preemptions) == ["team-a/low", "team-a/mid"]


def test_no_preemption_for_low_priority(tmp_path: Path) -> None:
    w = base(tmp_path)
    w.admit(workload("a", "lq", cpu="3", priority=0, created="2026-01-01T10:00:00Z"))
    w.admit(workload("b", "lq", cpu="3", priority=0, created="2026-01-01T10:01:00Z"))
    key = w.add(workload("in", "lq", cpu="1", priority=-1, created="2026-01-01T11:00:00Z"))
    result = schedule(w.state, w.manager, NOW, preemptor=w.preemptor)
    assert result.preemptions == []
    assert result.pending[key].reason == "WaitingForQuota"


def test_preempt_newer_workloads_with_the_same_priority(tmp_path: Path) -> None:
    w = World(
        tmp_path,
        cq("prevent-starvation", "6", within="LowerOrNewerEqualPriority"),
        local_queue("lq", "prevent-starvation"),
    )
    w.admit(workload("newer", "lq", cpu="6", priority=0, created="2026-01-01T12:00:00Z"))
    w.add(workload("older", "lq", cpu="2", priority=0, created="2026-01-01T09:00:00Z"))
    result = schedule(w.state, w.manager, NOW, preemptor=w.preemptor)
    assert [v for v, _, _ in result.preemptions] == ["team-a/newer"]


def cohort_world(tmp_path: Path, reclaim: str = "LowerPriority") -> World:
    return World(
        tmp_path,
        cq("c1", "6", cohort="cohort", reclaim=reclaim),
        cq("c2", "6", cohort="cohort", within="Never", reclaim="Any"),
        local_queue("lq", "c1"),
        local_queue("lq", "c2", namespace="team-b"),
    )


def test_reclaim_quota_from_a_borrower_then_admit_after_the_eviction(tmp_path: Path) -> None:
    w = cohort_world(tmp_path)
    w.admit(
        workload(
            "b-small", "lq", namespace="team-b", cpu="4", priority=0, created="2026-01-01T10:00:00Z"
        )
    )
    w.admit(
        workload(
            "b-borrow",
            "lq",
            namespace="team-b",
            cpu="6",
            priority=0,
            created="2026-01-01T10:01:00Z",
        )
    )
    key = w.add(workload("in", "lq", cpu="4", priority=1, created="2026-01-01T11:00:00Z"))
    result = schedule(w.state, w.manager, NOW, preemptor=w.preemptor)
    assert result.preemptions == [("team-b/b-borrow", key, "InCohortReclamation")]
    victim = w.inputs.workloads["team-b/b-borrow"]
    evict(w.state, w.manager, victim, key, "InCohortReclamation", NOW)
    preempted = victim.condition("Preempted")
    evicted = victim.condition("Evicted")
    assert evicted is not None and (evicted.status, evicted.reason) == ("True", "Preempted")
    assert preempted is not None and preempted.reason == "InCohortReclamation"
    assert preempted.message == (
        "Preempted to accommodate a workload (UID: UNKNOWN, JobUID: UNKNOWN) due to "
        "reclamation within the cohort; preemptor path: /cohort/c1; preemptee path: /cohort/c2"
    )
    assert victim.status.admission is None
    # The preemptor was the sticky head; it is admitted now that the quota is back.
    assert schedule(w.state, w.manager, NOW, preemptor=w.preemptor).admitted == [key]


def test_do_not_reclaim_borrowed_quota_from_the_same_priority_under_lower_priority(
    tmp_path: Path,
) -> None:
    w = cohort_world(tmp_path)
    w.admit(
        workload(
            "b-borrow",
            "lq",
            namespace="team-b",
            cpu="10",
            priority=0,
            created="2026-01-01T10:00:00Z",
        )
    )
    key = w.add(workload("in", "lq", cpu="4", priority=0, created="2026-01-01T11:00:00Z"))
    result = schedule(w.state, w.manager, NOW, preemptor=w.preemptor)
    assert result.preemptions == []
    assert result.pending[key].reason == "WaitingForQuota"


def test_reclaim_borrowed_quota_from_the_same_priority_with_any(tmp_path: Path) -> None:
    w = cohort_world(tmp_path, reclaim="Any")
    w.admit(
        workload(
            "b-borrow",
            "lq",
            namespace="team-b",
            cpu="10",
            priority=0,
            created="2026-01-01T10:00:00Z",
        )
    )
    key = w.add(workload("in", "lq", cpu="4", priority=0, created="2026-01-01T11:00:00Z"))
    result = schedule(w.state, w.manager, NOW, preemptor=w.preemptor)
    assert result.preemptions == [("team-b/b-borrow", key, "InCohortReclamation")]


def test_borrow_within_cohort_preempts_a_lower_priority_borrower_while_borrowing(
    tmp_path: Path,
) -> None:
    w = World(
        tmp_path,
        cq(
            "a",
            "1",
            cohort="shared",
            within="Never",
            reclaim="LowerPriority",
            borrow_policy="LowerPriority",
            threshold=0,
        ),
        cq("b", "1", cohort="shared", within="Never", reclaim="LowerPriority"),
        cq("pool", "10", cohort="shared", within="Never"),
        local_queue("lq", "a"),
        local_queue("lq", "b", namespace="team-b"),
    )
    w.admit(
        workload(
            "b-low", "lq", namespace="team-b", cpu="10", priority=0, created="2026-01-01T10:00:00Z"
        )
    )
    key = w.add(workload("in", "lq", cpu="4", priority=1, created="2026-01-01T11:00:00Z"))
    result = schedule(w.state, w.manager, NOW, preemptor=w.preemptor)
    assert result.preemptions == [("team-b/b-low", key, "InCohortReclaimWhileBorrowing")]


def test_borrow_within_cohort_spares_a_candidate_above_the_threshold(tmp_path: Path) -> None:
    w = World(
        tmp_path,
        cq(
            "a",
            "1",
            cohort="shared",
            within="Never",
            reclaim="LowerPriority",
            borrow_policy="LowerPriority",
            threshold=0,
        ),
        cq("b", "1", cohort="shared", within="Never", reclaim="LowerPriority"),
        cq("pool", "10", cohort="shared", within="Never"),
        local_queue("lq", "a"),
        local_queue("lq", "b", namespace="team-b"),
    )
    w.admit(
        workload(
            "b-mid", "lq", namespace="team-b", cpu="10", priority=1, created="2026-01-01T10:00:00Z"
        )
    )
    key = w.add(workload("in", "lq", cpu="4", priority=2, created="2026-01-01T11:00:00Z"))
    result = schedule(w.state, w.manager, NOW, preemptor=w.preemptor)
    # priority 1 > maxPriorityThreshold 0, and `a` would still borrow afterwards.
    assert result.preemptions == []
    assert result.pending[key].reason == "WaitingForQuota"
