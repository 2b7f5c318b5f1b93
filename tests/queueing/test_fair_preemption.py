"""Fair-sharing preemption (spec/queueing.md 3.3): the queue above its fair share gives way,
within-nominal queues reclaim unconditionally, and a preemptor that would end up with the
larger share preempts nothing."""

from __future__ import annotations

from pathlib import Path

from queueing_helpers import NOW, docs, flavor, load, local_queue, workload

from dralloc.queueing import CycleResult, QueueConfig, QueueManager, QueueState, schedule
from dralloc.queueing.fairpreemption import FairSharingPreemptor, Strategy

FAIR = QueueConfig(fair_sharing=True)


def cq(name: str, cpu: str) -> str:
    return f"""
apiVersion: kueue.x-k8s.io/v1beta2
kind: ClusterQueue
metadata:
  name: {name}
spec:
  namespaceSelector: {{}}
  cohortName: org
  preemption:
    withinClusterQueue: LowerPriority
    reclaimWithinCohort: Any
  resourceGroups:
  - coveredResources: ["cpu"]
    flavors:
    - name: default
      resources:
      - name: cpu
        nominalQuota: "{cpu}"
"""


class World:
    def __init__(self, tmp_path: Path, preemptor: FairSharingPreemptor | None = None) -> None:
        self.tmp_path = tmp_path
        self.inputs = load(
            tmp_path,
            docs(
                flavor("default"),
                cq("a", "3"),
                cq("b", "3"),
                cq("c", "3"),
                local_queue("lq", "a", "ns-a"),
                local_queue("lq", "b", "ns-b"),
                local_queue("lq", "c", "ns-c"),
            ),
        )
        self.state = QueueState.build(self.inputs)
        self.manager = QueueManager(self.state)
        self.preemptor = preemptor or FairSharingPreemptor()
        self.n = 0
        self.cycles = 0

    def add(self, name: str, ns: str, cpu: str) -> str:
        self.n += 1
        text = workload(
            name, "lq", namespace=ns, cpu=cpu, created=f"2026-01-01T10:{self.n:02d}:00Z"
        )
        more = load(self.tmp_path, text, name=f"w{self.n}.yaml")
        ((key, wl),) = more.workloads.items()
        self.inputs.workloads[key] = wl
        self.manager.add(wl)
        return key

    def cycle(self) -> CycleResult:
        self.cycles += 1
        return schedule(
            self.state,
            self.manager,
            NOW,
            config=FAIR,
            preemptor=self.preemptor,
            reserved_at=self.cycles,
        )


def test_the_queue_borrowing_most_gives_way_to_a_queue_within_nominal(tmp_path: Path) -> None:
    w = World(tmp_path)
    for i in range(9):
        w.add(f"a-{i}", "ns-a", "1")
    for _ in range(9):
        w.cycle()
    assert sum(1 for r in w.state.reservations.values() if r.cluster_queue == "a") == 9
    key = w.add("b-0", "ns-b", "2")
    result = w.cycle()
    # b is within nominal after admitting b-0: it reclaims from the borrower unconditionally,
    # the most recently admitted first.
    assert sorted(result.preemptions) == [
        ("ns-a/a-7", key, "InCohortReclamation"),
        ("ns-a/a-8", key, "InCohortReclamation"),
    ]


def test_a_borrowing_preemptor_preempts_only_a_queue_with_a_larger_share(tmp_path: Path) -> None:
    w = World(tmp_path)
    for i in range(5):
        w.add(f"a-{i}", "ns-a", "1")
    for _ in range(5):
        w.cycle()
    for i in range(4):
        w.add(f"b-{i}", "ns-b", "1")
    for _ in range(4):
        w.cycle()
    assert len(w.state.reservations) == 9
    # b at 4 (borrows 1) asks for 1 more: b would borrow 2, a borrows 2 now and 1 after
    # losing one workload: 2 <= 1 fails S2-a; S2-b: 2 < 2 fails too. Nothing is preempted.
    key = w.add("b-4", "ns-b", "1")
    result = w.cycle()
    assert result.preemptions == []
    assert result.pending[key].reason == "WaitingForQuota"


def test_with_only_the_initial_share_rule_a_much_larger_borrower_gives_way(tmp_path: Path) -> None:
    w = World(tmp_path, FairSharingPreemptor([Strategy.less_than_initial_share]))
    for i in range(6):
        w.add(f"a-{i}", "ns-a", "1")
    for _ in range(6):
        w.cycle()
    for i in range(3):
        w.add(f"c-{i}", "ns-c", "1")
    for _ in range(3):
        w.cycle()
    key = w.add("c-3", "ns-c", "1")
    result = w.cycle()
    # c would borrow 1 (share 1/12 of the pool), a borrows 3: a gives way.
    assert [(v, r) for v, _, r in result.preemptions] == [("ns-a/a-5", "InCohortFairSharing")]
    assert result.pending[key].reason == "WaitingForPreemptedWorkloads"
