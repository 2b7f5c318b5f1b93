"""Gang preemption's scoped verdict memory (`Framework.remembering`, used by
`preempt_for_gang`): a framework built without verdict memory (the live scheduler's)
remembers verdicts only for one preemption's what-if, and the preemption evicts, places,
reports and draws exactly as without it: same victims, placement, statuses, messages, cache,
rng state and start index after. The memory is gone when the block ends, however it ends.
CI runs 40 examples of each property; `DRALLOC_EQUIVALENCE_EXAMPLES=2000` soaks them."""

from __future__ import annotations

import os
import random
from collections.abc import Sequence

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_gang_preemption import (
    GPU_CLASS,
    World,
    clusters,
    node_yaml,
    pod_group_yaml,
    pod_yaml,
    volcano_yaml,
    world,
)

from dralloc.scheduler.framework import CycleState, FitError, NodeInfo, PodInfo, Status
from dralloc.scheduler.gangs import place_gang_preempting
from dralloc.scheduler.signature import pod_signature

EXAMPLES = int(os.environ.get("DRALLOC_EQUIVALENCE_EXAMPLES", "40"))


def outcome(w: World, *, remember: bool) -> tuple[object, ...]:
    """One preemption for gang `train`, and everything it may change or report."""
    gang, pods = w.pending("train")
    running = len(w.gangs.members(gang.key)) - len(pods)
    placement, preemption = place_gang_preempting(
        w.cache,
        w.framework,
        gang,
        pods,
        gangs=w.gangs,
        features=w.features,
        already_placed=running,
        frees_devices=w.frees_devices,
        remember_verdicts=remember,
    )
    assert w.framework.pod_signature is None  # the scoped memory is gone
    rng = w.framework.rng
    return (
        [(m.key, m.node, m.status, m.message, m.unschedulable_plugins) for m in placement.members],
        placement.status,
        placement.bound,
        None if preemption is None else (preemption.status, [v.key for v in preemption.victims]),
        None if preemption is None else preemption.pdb_violations,
        [(e.node_name, [v.key for v in e.victims], e.message) for e in w.evictions],
        w.state(),
        sorted((key, msgspec.json.encode(claim.status)) for key, claim in w.cache.claims.items()),
        w.framework.next_start_node_index,
        None if rng is None else rng.getstate(),
    )


def twins(docs: Sequence[str], frees_devices: bool, seed: int, start: int) -> list[World]:
    """Two identical worlds whose frameworks break ties with equally seeded rngs and start
    their Filter scan at the same index."""
    found = []
    for _ in range(2):
        w = world(*docs, frees_devices=frees_devices)
        w.framework.rng = random.Random(seed)
        w.framework.next_start_node_index = start
        found.append(w)
    return found


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters(), st.booleans(), st.integers(0, 2**16), st.integers(0, 7))
def test_a_gang_preempts_exactly_alike_with_and_without_the_scoped_memory(
    drawn: tuple[list[str], int], frees_devices: bool, seed: int, start: int
) -> None:
    docs, _priority = drawn
    plain, remembering = twins(docs, frees_devices, seed, start)
    assert outcome(remembering, remember=True) == outcome(plain, remember=False)


@st.composite
def cpu_clusters(draw: st.DrawFn) -> list[str]:
    """Up to 8 nodes of 4 cpus, full of 1- and 2-cpu pods at random priorities (some in a
    Volcano gang or a Kubernetes PodGroup), and a pending PodGroup `train` of equal pods that
    needs several whole nodes: many reprieves, many ties between equally scored nodes."""
    nodes = draw(st.integers(2, 8))
    docs = [node_yaml(f"n{i}") for i in range(nodes)]
    groups = []
    for i in range(nodes):
        free = 4
        p = 0
        while free:
            cpu = min(free, draw(st.sampled_from([1, 1, 2])))
            group = draw(st.sampled_from(["", "", "vc", "kg"]))
            groups.append(group)
            docs.append(
                pod_yaml(
                    f"run-{i}-{p}",
                    cpu=cpu,
                    priority=draw(st.integers(0, 3)),
                    node=f"n{i}",
                    volcano="vc" if group == "vc" else "",
                    group="kg" if group == "kg" else "",
                )
            )
            free -= cpu
            p += 1
    if "vc" in groups:
        docs.append(volcano_yaml("vc", draw(st.integers(1, groups.count("vc")))))
    if "kg" in groups:
        mode = draw(st.sampled_from(["Pod", "PodGroup"]))
        docs.append(pod_group_yaml("kg", groups.count("kg"), priority=1, mode=mode))
    size = draw(st.integers(1, nodes))
    cpu = draw(st.sampled_from([2, 3, 4]))
    docs.append(pod_group_yaml("train", draw(st.integers(1, size)), priority=3))
    docs.extend(pod_yaml(f"train-{i}", cpu=cpu, priority=3, group="train") for i in range(size))
    return docs


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cpu_clusters(), st.integers(0, 2**16), st.integers(0, 15))
def test_many_reprieves_draw_and_choose_alike_with_and_without_the_scoped_memory(
    docs: list[str], seed: int, start: int
) -> None:
    plain, remembering = twins(docs, False, seed, start)
    assert outcome(remembering, remember=True) == outcome(plain, remember=False)


def _one_gpu_world() -> World:
    return world(
        GPU_CLASS,
        node_yaml("node-a"),
        node_yaml("node-b"),
        pod_yaml("low-a", cpu=4, priority=1, node="node-a"),
        pod_yaml("low-b", cpu=4, priority=1, node="node-b"),
        pod_group_yaml("train", 2, priority=100),
        pod_yaml("train-0", cpu=4, priority=100, group="train"),
        pod_yaml("train-1", cpu=4, priority=100, group="train"),
    )


def test_the_memory_lasts_for_the_block_and_is_dropped_even_on_an_error() -> None:
    w = _one_gpu_world()
    framework = w.framework
    rng = framework.rng
    calls: list[str] = []
    run_filters = framework.run_filters

    def counted(state: CycleState, pod: PodInfo, node: NodeInfo, skipped: object = None) -> Status:
        calls.append(node.name)
        return run_filters(state, pod, node, skipped)  # type: ignore[arg-type]

    framework.run_filters = counted  # type: ignore[method-assign]
    pod = PodInfo.of(w.pods["train-0"])

    def schedule() -> int:
        calls.clear()
        state = CycleState()
        state.skip_post_filter = True  # a gang cycle's: preemption's dry run filters too
        with pytest.raises(FitError):
            framework.schedule(state, pod, w.cache.snapshot())
        return len(calls)

    signature = pod_signature(w.cache)
    with framework.remembering(signature):
        assert framework.pod_signature is signature
        assert schedule() == 2
        assert schedule() == 0  # nothing changed: both verdicts remembered
    assert framework.pod_signature is None and framework.rng is rng
    assert schedule() == 2
    with framework.remembering(signature):
        assert schedule() == 2  # a new block starts afresh
    with pytest.raises(RuntimeError), framework.remembering(signature):
        raise RuntimeError("boom")
    assert framework.pod_signature is None


def test_the_memory_is_off_with_no_signature_and_joins_a_framework_that_remembers() -> None:
    w = _one_gpu_world()
    framework = w.framework
    with framework.remembering(None):
        assert framework.pod_signature is None
    framework.remember_what_ifs = False  # the framework's own switch (SchedulerInputs')
    with framework.remembering(pod_signature(w.cache)):
        assert framework.pod_signature is None
    framework.remember_what_ifs = True
    own = pod_signature(w.cache)
    framework.pod_signature = own
    with framework.remembering(pod_signature(w.cache)):
        assert framework.pod_signature is own
    assert framework.pod_signature is own
