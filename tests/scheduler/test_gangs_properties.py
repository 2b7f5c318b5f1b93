"""Properties of gang scheduling over random clusters and random competing gangs: no gang is
ever bound below its minCount, no device is handed out twice, and of two gangs that each need
the whole capacity exactly one is placed (no deadlock, neither holds part of it)."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

from gang_manifests import (
    device_class,
    node,
    pod,
    pod_group,
    read,
    schedule,
    template,
    volcano_group,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dralloc.scheduler.offline import SchedulePlan

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _devices_in_use(plan: SchedulePlan) -> list[tuple[str, str, str]]:
    used = []
    for claim in plan.cache.claims.values():
        allocation = claim.status.allocation
        if allocation is None:
            continue
        used += [(r.driver, r.pool, r.device) for r in allocation.devices.results]
    return used


@st.composite
def clusters_with_gangs(draw: st.DrawFn) -> tuple[list[str], dict[str, tuple[int, list[str]]]]:
    nodes = draw(st.integers(1, 4))
    gpus = draw(st.integers(1, 4))
    documents = [device_class()] + [template(f"gpus-{n}", n) for n in range(1, 5)]
    documents += [node(f"node-{i}", gpus) for i in range(nodes)]
    gangs: dict[str, tuple[int, list[str]]] = {}
    for g in range(draw(st.integers(1, 4))):
        size = draw(st.integers(1, 4))
        min_count = draw(st.integers(1, size))
        wants = draw(st.integers(1, 4))
        name = f"g{g}"
        volcano = draw(st.booleans())
        documents.append(volcano_group(name, min_count) if volcano else pod_group(name, min_count))
        members = [f"{name}-{i}" for i in range(size)]
        for member in members:
            if volcano:
                annotations = {"scheduling.k8s.io/group-name": name}
                documents.append(
                    pod(member, template_name=f"gpus-{wants}", annotations=annotations)
                )
            else:
                documents.append(pod(member, template_name=f"gpus-{wants}", group=name))
        gangs[name] = (min_count, members)
    for i in range(draw(st.integers(0, 3))):
        documents.append(pod(f"solo-{i}", template_name=f"gpus-{draw(st.integers(1, 4))}"))
    return documents, gangs


@SETTINGS
@given(clusters_with_gangs())
def test_no_gang_is_bound_below_min_count_and_no_device_is_handed_out_twice(
    case: tuple[list[str], dict[str, tuple[int, list[str]]]],
) -> None:
    documents, gangs = case
    with tempfile.TemporaryDirectory() as tmp:
        plan, outcomes, _ = schedule(read(Path(tmp), *documents))
    for name, (min_count, members) in gangs.items():
        bound = sum(1 for m in members if outcomes[m].node is not None)
        assert bound == 0 or bound >= min_count, (name, bound, min_count)
    used = _devices_in_use(plan)
    assert not [d for d, n in Counter(used).items() if n > 1]
    # Every claim in use is reserved for bound pods only; pending pods hold nothing.
    bound_pods = {f"default/{n}" for n, o in outcomes.items() if o.node is not None}
    for claim in plan.cache.claims.values():
        holders = {f"default/{r.name}" for r in claim.status.reserved_for}
        assert holders <= bound_pods
        assert (claim.status.allocation is not None) == bool(holders)
    assert set(plan.cache.pods) == bound_pods


@SETTINGS
@given(
    nodes=st.integers(1, 3),
    gpus=st.sampled_from([2, 4]),
    order=st.booleans(),
    priorities=st.tuples(st.integers(0, 2), st.integers(0, 2)),
)
def test_of_two_gangs_that_each_need_all_the_capacity_exactly_one_is_placed(
    nodes: int, gpus: int, order: bool, priorities: tuple[int, int]
) -> None:
    # Each gang: one pod per node asking for all of its GPUs, minCount = the node count.
    documents = [device_class(), template("all", gpus)]
    documents += [node(f"node-{i}", gpus) for i in range(nodes)]
    gangs = {"a": priorities[0], "b": priorities[1]}
    names = sorted(gangs, reverse=order)
    for name in names:
        documents.append(pod_group(name, nodes))
    for i in range(nodes):
        for name in names:  # interleaved, so per-pod scheduling would split the cluster
            documents.append(
                pod(f"{name}-{i}", template_name="all", group=name, priority=gangs[name])
            )
    with tempfile.TemporaryDirectory() as tmp:
        plan, outcomes, _ = schedule(read(Path(tmp), *documents))
    placed = {
        name: sum(1 for i in range(nodes) if outcomes[f"{name}-{i}"].node is not None)
        for name in gangs
    }
    assert sorted(placed.values()) == [0, nodes]
    winner = next(name for name, count in placed.items() if count)
    if priorities[0] != priorities[1]:
        assert gangs[winner] == max(priorities)  # the queue pops the higher priority first
    loser = plan.gang_placements[next(k for k in plan.gang_placements if k.name != winner)]
    assert loser.condition()["reason"] == "Unschedulable"
