"""`QueueManager(quick_heads=True)` (a heap for each queue's head, requeue by walking the
released queue's cohort tree), `QueueState(index_reservations=True)` (preemption reads a
ClusterQueue's reservations from an index) and `schedule(..., nominations=Nominations())`
(equivalent heads share one nomination per state generation) admit, preempt, leave pending
and write on Workloads exactly what the plain paths (sort every queue, find every
ClusterQueue's root, scan every reservation, nominate every head afresh) do, over the random
cohorts of test_queueing_properties and over a two-level cohort tree."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from test_queueing_properties import NOW, run, scenarios

from dralloc.queueing import (
    ClassicalPreemptor,
    FairSharingPreemptor,
    QueueConfig,
    QueueManager,
    QueueState,
    evict,
    schedule,
)
from dralloc.queueing.cycle import Nominations
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
            object.__setattr__(parked, "priority", 0)
            object.__setattr__(parked, "timestamp", "")
            manager.queues[name].inadmissible[parked.key] = parked
        manager.on_quota_released("cq-0")
        assert list(manager.queues["cq-1"].active) == ["ns/cq-1-parked"], quick
        assert manager.queues["cq-2"].active == {}, quick


def _with_policy(docs: list[dict[str, Any]], within: str) -> list[dict[str, Any]]:
    docs = copy.deepcopy(docs)
    for doc in docs:
        if doc["kind"] == "ClusterQueue":
            doc["spec"]["preemption"]["withinClusterQueue"] = within
    return docs


def _admission(
    docs: list[dict[str, Any]], fair: bool, preemptor: str, share: bool, release: bool = True
) -> tuple[Any, int]:
    """The cycles of test_queueing_properties' `run` (`release`: quota released in every
    queue after a cycle that decides nothing), with every Workload's status at the end; and
    how many nominations were answered from memory."""
    inputs, problems = decode_documents(("p.yaml", i, d) for i, d in enumerate(docs, 1))
    assert problems == []
    state = QueueState.build(inputs)
    manager = QueueManager(state)
    manager.add_all(inputs.workloads.values())
    nominations = Nominations() if share else None
    chosen = {"none": None, "classical": ClassicalPreemptor(), "fair": FairSharingPreemptor()}
    config = QueueConfig(fair_sharing=fair)
    cycles: list[Any] = []
    idle = 0
    for n in range(60):
        result = schedule(
            state,
            manager,
            NOW,
            config=config,
            preemptor=chosen[preemptor],
            reserved_at=n,
            nominations=nominations,
        )
        pending = {
            k: (e.reason, e.message, [t.key for t in e.targets]) for k, e in result.pending.items()
        }
        cycles.append((result.admitted, result.preemptions, result.order, pending))
        for victim, by, reason in result.preemptions:
            if victim in state.reservations:
                evict(state, manager, inputs.workloads[victim], by, reason, NOW)
        if result.admitted or result.preemptions:
            idle = 0
            continue
        idle += 1
        for name in state.cluster_queues:
            if release:
                manager.on_quota_released(name)
        if idle >= 3:
            break
    statuses = {k: repr(w.status) for k, w in sorted(inputs.workloads.items())}
    queues = {name: [q.key for q in manager.pending(name)] for name in sorted(manager.queues)}
    hits = nominations.hits if nominations is not None else 0
    return (cycles, sorted(state.reservations), queues, statuses), hits


@settings(max_examples=200, deadline=None)
@given(
    scenarios(),
    st.sampled_from(["none", "classical", "fair"]),
    st.sampled_from(["LowerPriority", "LowerOrNewerEqualPriority", "Never"]),
)
def test_shared_nominations_equal_the_plain_path(
    case: tuple[Any, bool, str], preemptor: str, within: str
) -> None:
    docs, fair, _ = case
    docs = _with_policy(docs, within)
    shared, _ = _admission(docs, fair, preemptor, True)
    plain, _ = _admission(docs, fair, preemptor, False)
    assert shared == plain


def test_equivalent_heads_share_a_nomination() -> None:
    # Six same-shaped Workloads of 1 cpu in one BestEffortFIFO queue of 2 cpu: two fit; the
    # next ones are nominated at the same generation, one per cycle, until three cycles
    # decided nothing: w-2 is evaluated, w-3 and w-4 are answered from memory, and the
    # outcome is the same as without.
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "kueue.x-k8s.io/v1beta2",
            "kind": "ResourceFlavor",
            "metadata": {"name": "f"},
        },
        {
            "apiVersion": "kueue.x-k8s.io/v1beta2",
            "kind": "ClusterQueue",
            "metadata": {"name": "cq"},
            "spec": {
                "namespaceSelector": {},
                "queueingStrategy": "BestEffortFIFO",
                "preemption": {"withinClusterQueue": "LowerPriority"},
                "resourceGroups": [
                    {
                        "coveredResources": ["cpu"],
                        "flavors": [
                            {"name": "f", "resources": [{"name": "cpu", "nominalQuota": 2}]}
                        ],
                    }
                ],
            },
        },
        {
            "apiVersion": "kueue.x-k8s.io/v1beta2",
            "kind": "LocalQueue",
            "metadata": {"name": "lq", "namespace": "ns"},
            "spec": {"clusterQueue": "cq"},
        },
    ]
    for j in range(6):
        docs.append(
            {
                "apiVersion": "kueue.x-k8s.io/v1beta2",
                "kind": "Workload",
                "metadata": {
                    "name": f"w-{j}",
                    "namespace": "ns",
                    "creationTimestamp": f"2026-01-01T10:0{j}:00Z",
                },
                "spec": {
                    "queueName": "lq",
                    "podSets": [
                        {
                            "name": "main",
                            "count": 1,
                            "template": {
                                "spec": {
                                    "containers": [
                                        {"name": "c", "resources": {"requests": {"cpu": "1"}}}
                                    ]
                                }
                            },
                        }
                    ],
                },
            }
        )
    shared, hits = _admission(docs, False, "classical", True, release=False)
    plain, _ = _admission(docs, False, "classical", False, release=False)
    assert shared == plain
    assert hits == 2
    assert sorted(shared[1]) == ["ns/w-0", "ns/w-1"]
