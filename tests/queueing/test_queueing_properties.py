"""Properties of admission over random cohorts and workloads (hypothesis): no queue ever holds
more than nominal + borrowing limit, lending limits hold across the cohort, nothing is
admitted half, and StrictFIFO never admits a later workload before a blocked head."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dralloc.queueing import (
    ClassicalPreemptor,
    QueueConfig,
    QueueManager,
    QueueState,
    evict,
    schedule,
)
from dralloc.queueing.quota import FlavorResource, local_quota
from dralloc.queueing.reader import decode_documents

NOW = datetime(2026, 1, 1, tzinfo=UTC)
FLAVORS = ("on-demand", "spot")


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[dict[str, Any]], bool, str]:
    n_cq = draw(st.integers(1, 3))
    strategy = draw(st.sampled_from(["StrictFIFO", "BestEffortFIFO"]))
    docs: list[dict[str, Any]] = [
        {"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "ResourceFlavor", "metadata": {"name": f}}
        for f in FLAVORS
    ]
    if draw(st.booleans()):
        pool = draw(st.integers(0, 4))
        docs.append(
            {
                "apiVersion": "kueue.x-k8s.io/v1beta2",
                "kind": "Cohort",
                "metadata": {"name": "org"},
                "spec": {
                    "resourceGroups": [
                        {
                            "coveredResources": ["cpu"],
                            "flavors": [
                                {
                                    "name": "on-demand",
                                    "resources": [{"name": "cpu", "nominalQuota": pool}],
                                }
                            ],
                        }
                    ]
                },
            }
        )
    for i in range(n_cq):
        flavors = []
        for f in FLAVORS[: draw(st.integers(1, 2))]:
            nominal = draw(st.integers(0, 8))
            quota: dict[str, Any] = {"name": "cpu", "nominalQuota": nominal}
            if draw(st.booleans()):
                quota["borrowingLimit"] = draw(st.integers(0, 4))
            if draw(st.booleans()):
                quota["lendingLimit"] = draw(st.integers(0, nominal))
            flavors.append({"name": f, "resources": [quota]})
        docs.append(
            {
                "apiVersion": "kueue.x-k8s.io/v1beta2",
                "kind": "ClusterQueue",
                "metadata": {"name": f"cq-{i}"},
                "spec": {
                    "namespaceSelector": {},
                    "cohortName": "org",
                    "preemption": {
                        "withinClusterQueue": draw(st.sampled_from(["Never", "LowerPriority"])),
                        "reclaimWithinCohort": draw(st.sampled_from(["Never", "Any"])),
                    },
                    "queueingStrategy": strategy,
                    "flavorFungibility": {
                        "whenCanBorrow": draw(st.sampled_from(["MayStopSearch", "TryNextFlavor"])),
                    },
                    "resourceGroups": [{"coveredResources": ["cpu"], "flavors": flavors}],
                },
            }
        )
        docs.append(
            {
                "apiVersion": "kueue.x-k8s.io/v1beta2",
                "kind": "LocalQueue",
                "metadata": {"name": "lq", "namespace": f"ns-{i}"},
                "spec": {"clusterQueue": f"cq-{i}"},
            }
        )
    for j in range(draw(st.integers(1, 10))):
        pod_sets = []
        for k in range(draw(st.integers(1, 2))):
            pod_sets.append(
                {
                    "name": f"ps-{k}",
                    "count": draw(st.integers(1, 3)),
                    "template": {
                        "spec": {
                            "containers": [
                                {
                                    "name": "c",
                                    "resources": {
                                        "requests": {"cpu": str(draw(st.integers(1, 4)))}
                                    },
                                }
                            ]
                        }
                    },
                }
            )
        docs.append(
            {
                "apiVersion": "kueue.x-k8s.io/v1beta2",
                "kind": "Workload",
                "metadata": {
                    "name": f"w-{j:02d}",
                    "namespace": f"ns-{draw(st.integers(0, n_cq - 1))}",
                    "creationTimestamp": f"2026-01-01T10:{j:02d}:00Z",
                },
                "spec": {
                    "queueName": "lq",
                    "priority": draw(st.integers(0, 1)),
                    "podSets": pod_sets,
                },
            }
        )
    return docs, draw(st.booleans()), strategy


def run(
    docs: list[dict[str, Any]],
    fair: bool,
    preempt: bool = False,
    *,
    quick_heads: bool = True,
    index_reservations: bool = True,
) -> tuple[QueueState, QueueManager, list[list[str]]]:
    inputs, problems = decode_documents(("p.yaml", i, d) for i, d in enumerate(docs, 1))
    assert problems == []
    state = QueueState.build(inputs)
    state.index_reservations = index_reservations
    manager = QueueManager(state, quick_heads=quick_heads)
    manager.add_all(inputs.workloads.values())
    cycles: list[list[str]] = []
    idle = 0
    config = QueueConfig(fair_sharing=fair)
    preemptor = ClassicalPreemptor() if preempt else None
    for n in range(60):
        result = schedule(state, manager, NOW, config=config, preemptor=preemptor, reserved_at=n)
        admitted = result.admitted
        for victim, by, reason in result.preemptions:
            if victim in state.reservations:
                evict(state, manager, inputs.workloads[victim], by, reason, NOW)
        cycles.append(admitted)
        if admitted or result.preemptions:
            idle = 0
            continue
        idle += 1
        for name in state.cluster_queues:
            manager.on_quota_released(name)
        if idle >= 3:
            break
    return state, manager, cycles


def check_quota(state: QueueState) -> None:
    # Recompute every usage from the reservations, independently of the incremental sums.
    per_cq: dict[str, dict[FlavorResource, int]] = {}
    for res in state.reservations.values():
        into = per_cq.setdefault(res.cluster_queue, {})
        for fr, amount in res.usage.items():
            into[fr] = into.get(fr, 0) + amount
    pushed: dict[FlavorResource, int] = {}
    lent: dict[FlavorResource, int] = {}
    for name, cq in state.cluster_queues.items():
        node = cq.node
        for fr, quota in node.quotas.items():
            used = per_cq.get(name, {}).get(fr, 0)
            assert node.usage.get(fr, 0) == used
            if quota.borrowing_limit is not None:
                assert used <= quota.nominal + quota.borrowing_limit, (name, fr)
            if node.parent is None:
                assert used <= quota.nominal, (name, fr)
            keep = local_quota(node, fr)
            pushed[fr] = pushed.get(fr, 0) + max(0, used - keep)
            lent[fr] = lent.get(fr, 0) + quota.nominal - keep
    cohort = state.cohorts.get("org")
    if cohort is not None:
        for fr, amount in pushed.items():
            own = cohort.quotas.get(fr)
            # What all queues take beyond what they keep fits in what they lend plus the pool.
            assert amount <= lent.get(fr, 0) + (own.nominal if own else 0), fr


@settings(max_examples=120, deadline=None)
@given(scenarios())
def test_no_queue_exceeds_its_limits_and_lending_limits_hold(case: tuple[Any, bool, str]) -> None:
    docs, fair, _ = case
    state, _, _ = run(docs, fair)
    check_quota(state)


@settings(max_examples=120, deadline=None)
@given(scenarios())
def test_nothing_is_admitted_half(case: tuple[Any, bool, str]) -> None:
    docs, fair, _ = case
    state, _, cycles = run(docs, fair)
    inputs = state.input
    for key in [k for c in cycles for k in c]:
        wl = inputs.workloads[key]
        admission = wl.status.admission
        assert admission is not None
        assert [p.name for p in admission.pod_set_assignments] == [p.name for p in wl.spec.pod_sets]
        assert [p.count for p in admission.pod_set_assignments] == [
            p.count for p in wl.spec.pod_sets
        ]
        charged = sum(state.reservations[key].usage.values())
        requested = sum(
            p.count * int(str(p.template.spec.containers[0].resources.requests["cpu"])) * 1000
            for p in wl.spec.pod_sets
        )
        assert charged == requested
    for key, wl in inputs.workloads.items():
        if key not in state.reservations:
            assert wl.status.admission is None


@settings(max_examples=120, deadline=None)
@given(scenarios())
def test_strict_fifo_never_admits_a_later_workload_before_a_blocked_head(
    case: tuple[Any, bool, str],
) -> None:
    docs, fair, strategy = case
    if strategy != "StrictFIFO":
        return
    state, manager, cycles = run(docs, fair)
    when = {key: i for i, keys in enumerate(cycles) for key in keys}
    for name in state.cluster_queues:
        members = [q for q in manager.workloads.values() if q.cluster_queue == name]
        admitted = [k for k in when if state.reservations[k].cluster_queue == name]
        # Every admitted workload came after every workload ahead of it in the queue order.
        entries = {q.key: q for q in members}
        for key in admitted:
            wl = state.input.workloads[key]
            prio = wl.spec.priority or 0
            stamp = wl.metadata.creation_timestamp or ""
            for waiting in entries.values():
                ahead = (-waiting.priority, waiting.timestamp, waiting.key) < (-prio, stamp, key)
                assert not ahead, f"{key} admitted while {waiting.key} still waits ahead of it"


@settings(max_examples=120, deadline=None)
@given(scenarios())
def test_with_preemption_limits_hold_and_every_reservation_is_whole(
    case: tuple[Any, bool, str],
) -> None:
    docs, fair, _ = case
    state, _, _ = run(docs, fair, preempt=True)
    check_quota(state)
    for key, res in state.reservations.items():
        wl = state.input.workloads[key]
        assert wl.status.admission is not None
        assert len(wl.status.admission.pod_set_assignments) == len(wl.spec.pod_sets)
        assert sum(res.usage.values()) == sum(
            p.count * int(str(p.template.spec.containers[0].resources.requests["cpu"])) * 1000
            for p in wl.spec.pod_sets
        )
