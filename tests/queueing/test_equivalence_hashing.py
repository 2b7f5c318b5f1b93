"""Kueue's gate SchedulingEquivalenceHashing (`QueueManager(equivalence_hashing=True)`): in a
BestEffortFIFO queue a Workload going inadmissible takes the heap's Workloads of its
scheduling hash with it, later ones of that hash wait with them, and a requeue event forgets
the hashes; StrictFIFO and the gate off are untouched."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dralloc.queueing import QueueManager, QueueState, schedule
from dralloc.queueing.reader import decode_documents

NOW = datetime(2026, 1, 1, tzinfo=UTC)
K = "kueue.x-k8s.io/v1beta2"


def _workload(name: str, cpu: int, minute: int, priority: int = 0) -> dict[str, Any]:
    return {
        "apiVersion": K,
        "kind": "Workload",
        "metadata": {
            "name": name,
            "namespace": "ns",
            "creationTimestamp": f"2026-01-01T10:{minute:02d}:00Z",
        },
        "spec": {
            "queueName": "lq",
            "priority": priority,
            "podSets": [
                {
                    "name": "main",
                    "count": 1,
                    "template": {
                        "spec": {
                            "containers": [
                                {"name": "c", "resources": {"requests": {"cpu": str(cpu)}}}
                            ]
                        }
                    },
                }
            ],
        },
    }


def _docs(strategy: str, workloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"apiVersion": K, "kind": "ResourceFlavor", "metadata": {"name": "f"}},
        {
            "apiVersion": K,
            "kind": "ClusterQueue",
            "metadata": {"name": "cq"},
            "spec": {
                "namespaceSelector": {},
                "queueingStrategy": strategy,
                "resourceGroups": [
                    {
                        "coveredResources": ["cpu"],
                        "flavors": [
                            {"name": "f", "resources": [{"name": "cpu", "nominalQuota": 3}]}
                        ],
                    }
                ],
            },
        },
        {
            "apiVersion": K,
            "kind": "LocalQueue",
            "metadata": {"name": "lq", "namespace": "ns"},
            "spec": {"clusterQueue": "cq"},
        },
        *workloads,
    ]


# Quota 3: `big` (2 cpu) is admitted; the 2-cpu ones after it cannot fit, `small` (1) can.
WORKLOADS = [
    _workload("big", 2, 0),
    _workload("two-a", 2, 1),
    _workload("two-b", 2, 2),
    _workload("two-c", 2, 3),
    _workload("two-urgent", 2, 4, priority=5),
    _workload("small", 1, 5),
]


def _cycles(strategy: str, gate: bool, n: int = 6) -> tuple[list[list[str]], QueueManager]:
    inputs, problems = decode_documents(
        ("w.yaml", i, d) for i, d in enumerate(_docs(strategy, WORKLOADS), 1)
    )
    assert problems == []
    state = QueueState.build(inputs)
    manager = QueueManager(state, equivalence_hashing=gate)
    manager.add_all(inputs.workloads.values())
    heads = []
    for _ in range(n):
        result = schedule(state, manager, NOW)
        heads.append([k.removeprefix("ns/") for k in result.order])
    return heads, manager


def test_an_inadmissible_workload_takes_its_equivalents_out_of_the_heap() -> None:
    # Priority first: two-urgent (priority 5) takes 2 of the 3 cpu. big (2 cpu, priority 0)
    # cannot fit and parks, taking two-a, two-b and two-c (the same hash: one pod set "main"
    # of one 2-cpu pod at priority 0) with it; small (1 cpu, another hash) is tried next and
    # fits. Nothing is left to pop.
    heads, manager = _cycles("BestEffortFIFO", True)
    assert heads == [["two-urgent"], ["big"], ["small"], [], [], []]
    parked = ["ns/big", "ns/two-a", "ns/two-b", "ns/two-c"]
    assert sorted(manager.queues["cq"].inadmissible) == parked
    assert sorted(manager.state.reservations) == ["ns/small", "ns/two-urgent"]


def test_without_the_gate_every_equivalent_workload_is_tried() -> None:
    # The same admissions here, after three more cycles.
    heads, manager = _cycles("BestEffortFIFO", False, n=7)
    assert heads[:6] == [["two-urgent"], ["big"], ["two-a"], ["two-b"], ["two-c"], ["small"]]
    assert sorted(manager.state.reservations) == ["ns/small", "ns/two-urgent"]


def test_strict_fifo_keeps_its_head_whatever_the_gate() -> None:
    assert _cycles("StrictFIFO", True)[0] == _cycles("StrictFIFO", False)[0]


def test_a_later_workload_of_a_known_hash_waits_and_a_requeue_event_forgets_it() -> None:
    _, manager = _cycles("BestEffortFIFO", True)
    inputs, _ = decode_documents(
        ("late.yaml", 1, d) for d in [_workload("two-late", 2, 9), _workload("three", 3, 9)]
    )
    for workload in inputs.workloads.values():
        manager.add(workload)
    queue = manager.queues["cq"]
    assert "ns/two-late" in queue.inadmissible  # its hash did not fit
    assert "ns/three" in queue.active  # another hash: tried
    manager.on_quota_released("cq")
    assert queue.no_fit_hashes == set()
    assert "ns/two-late" in queue.active and not queue.inadmissible
