"""`QueueManager(quick_heads=True)` (one pass for each queue's head, requeue by walking the
released queue's cohort tree) and `QueueState(index_reservations=True)` (preemption reads a
ClusterQueue's reservations from an index) admit, preempt and leave pending exactly what the
plain paths (sort every queue, find every ClusterQueue's root, scan every reservation) do,
over the random cohorts of test_queueing_properties and over a two-level cohort tree."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from test_queueing_properties import run, scenarios

from dralloc.queueing import QueueManager, QueueState
from dralloc.queueing.queues import QueuedWorkload
from dralloc.queueing.reader import decode_documents


def outcome(docs: list[dict[str, Any]], fair: bool, preempt: bool, quick: bool) -> Any:
    # `quick` turns both queueing speed-ups on or off: quick heads and the snapshot's
    # reservations indexed by ClusterQueue.
    state, manager, cycles = run(docs, fair, preempt, quick_heads=quick, index_reservations=quick)
    pending = {name: [q.key for q in manager.pending(name)] for name in sorted(manager.queues)}
    return cycles, sorted(state.reservations), pending


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_quick_heads_equal_the_plain_path(case: tuple[Any, bool, str]) -> None:
    docs, fair, _ = case
    assert outcome(docs, fair, False, True) == outcome(docs, fair, False, False)


@settings(max_examples=100, deadline=None)
@given(scenarios())
def test_quick_heads_equal_the_plain_path_with_preemption(case: tuple[Any, bool, str]) -> None:
    docs, fair, _ = case
    assert outcome(docs, fair, True, True) == outcome(docs, fair, True, False)


def test_requeue_reaches_every_queue_of_a_two_level_tree() -> None:
    # org <- (left, right); cq-0 under left, cq-1 under right, cq-2 alone: releasing quota in
    # cq-0 must make cq-1's inadmissible Workloads active again, and never cq-2's.
    def cq(name: str, cohort: str | None) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "namespaceSelector": {},
            "queueingStrategy": "BestEffortFIFO",
            "resourceGroups": [
                {
                    "coveredResources": ["cpu"],
                    "flavors": [{"name": "f", "resources": [{"name": "cpu", "nominalQuota": 1}]}],
                }
            ],
        }
        if cohort:
            spec["cohortName"] = cohort
        return {
            "apiVersion": "kueue.x-k8s.io/v1beta2",
            "kind": "ClusterQueue",
            "metadata": {"name": name},
            "spec": spec,
        }

    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "kueue.x-k8s.io/v1beta2",
            "kind": "ResourceFlavor",
            "metadata": {"name": "f"},
        },
        {"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "Cohort", "metadata": {"name": "org"}},
        {
            "apiVersion": "kueue.x-k8s.io/v1beta2",
            "kind": "Cohort",
            "metadata": {"name": "left"},
            "spec": {"parentName": "org"},
        },
        {
            "apiVersion": "kueue.x-k8s.io/v1beta2",
            "kind": "Cohort",
            "metadata": {"name": "right"},
            "spec": {"parentName": "org"},
        },
        cq("cq-0", "left"),
        cq("cq-1", "right"),
        cq("cq-2", None),
    ]
    inputs, problems = decode_documents(("t.yaml", i, d) for i, d in enumerate(docs, 1))
    assert problems == []
    for quick in (True, False):
        manager = QueueManager(QueueState.build(inputs), quick_heads=quick)
        for name in ("cq-1", "cq-2"):
            parked = QueuedWorkload.__new__(QueuedWorkload)
            object.__setattr__(parked, "key", f"ns/{name}-parked")
            manager.queues[name].inadmissible[parked.key] = parked
        manager.on_quota_released("cq-0")
        assert list(manager.queues["cq-1"].active) == ["ns/cq-1-parked"], quick
        assert manager.queues["cq-2"].active == {}, quick
