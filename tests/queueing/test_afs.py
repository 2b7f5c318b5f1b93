"""Admission Fair Sharing (spec/queueing.md 4.3): LocalQueues feeding one ClusterQueue take
turns by recent consumption, with an entry penalty and exponential decay."""

from __future__ import annotations

import math
from pathlib import Path

from queueing_helpers import NOW, docs, flavor, load, local_queue, workload

from dralloc.queueing import QueueManager, QueueState, schedule
from dralloc.queueing.afs import AdmissionFairSharing, AdmissionFairSharingConfig, alpha

CQ = """
apiVersion: kueue.x-k8s.io/v1beta2
kind: ClusterQueue
metadata:
  name: shared
spec:
  namespaceSelector: {}
  admissionScope:
    admissionMode: UsageBasedAdmissionFairSharing
  resourceGroups:
  - coveredResources: ["cpu"]
    flavors:
    - name: default
      resources:
      - name: cpu
        nominalQuota: "4"
"""

CONFIG = AdmissionFairSharingConfig(usage_half_life_seconds=600)


def world(tmp_path: Path, afs: AdmissionFairSharing | None) -> tuple[QueueState, QueueManager]:
    text = docs(
        flavor("default"),
        CQ,
        local_queue("heavy", "shared"),
        local_queue("light", "shared"),
        workload("h-0", "heavy", cpu="2", created="2026-01-01T09:00:00Z"),
        workload("h-1", "heavy", cpu="1", priority=5, created="2026-01-01T09:01:00Z"),
        workload("l-0", "light", cpu="1", created="2026-01-01T09:30:00Z"),
    )
    inputs = load(tmp_path, text)
    state = QueueState.build(inputs)
    manager = QueueManager(state, afs)
    manager.add_all(inputs.workloads.values())
    return state, manager


def test_without_afs_priority_orders_the_heap(tmp_path: Path) -> None:
    state, manager = world(tmp_path, None)
    assert schedule(state, manager, NOW).admitted == ["team-a/h-1"]
    assert schedule(state, manager, NOW).admitted == ["team-a/h-0"]


def test_with_afs_the_queue_that_consumed_less_goes_first_despite_priority(
    tmp_path: Path,
) -> None:
    afs = AdmissionFairSharing(CONFIG)
    state, manager = world(tmp_path, afs)
    # Both start at 0: priority decides the first admission.
    assert schedule(state, manager, NOW).admitted == ["team-a/h-1"]
    # heavy now carries an entry penalty: light's l-0 overtakes heavy's h-0.
    assert afs.score("team-a/heavy") > 0 == afs.score("team-a/light")
    assert [q.key for q in manager.pending("shared")] == ["team-a/l-0", "team-a/h-0"]
    assert schedule(state, manager, NOW).admitted == ["team-a/l-0"]


def test_consumption_decays_with_the_half_life_and_the_penalty_is_alpha_times_request() -> None:
    afs = AdmissionFairSharing(CONFIG)
    afs.sample("ns/q", {}, 0.0)
    afs.on_admitted("ns/q", {"cpu": 2000}, {"cpu": 2000}, 0.0)
    penalty = alpha(300, 600)
    assert math.isclose(afs.score("ns/q"), 2 * penalty)
    # One half-life later with the same 2 cores admitted: halfway from the old value to 2.
    afs.sample("ns/q", {"cpu": 2000}, 600.0)
    assert math.isclose(afs.score("ns/q"), 2 * penalty * 0.5 + 2 * 0.5)
    assert afs.score("ns/q", weight=0) == math.inf
    assert math.isclose(afs.score("ns/q", weight=2), afs.score("ns/q") / 2)


def test_a_half_life_of_zero_resets_consumption() -> None:
    afs = AdmissionFairSharing(AdmissionFairSharingConfig(usage_half_life_seconds=0))
    afs.on_admitted("ns/q", {"cpu": 2000}, {"cpu": 2000}, 0.0)
    assert afs.score("ns/q") == 0
