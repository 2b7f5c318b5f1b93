"""Remembered verdicts (per pod shape, per node key) and DynamicResources' verdicts shared by
alike nodes are only a speed-up: on any cluster and workload, every placement, every
"why pending" message and every final GPU state equal a run that evaluates everything, with
every switch of `SimulationSpeedups` off on its own as with all of them off.

CI runs 200 examples of the first property; `DRALLOC_EQUIVALENCE_EXAMPLES=5000` soaks it."""

from __future__ import annotations

import os
import random
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from dralloc.sim.experiment import (
    SimulationSpeedups,
    build_simulation,
    run_fgd,
    workload_in_products,
)
from dralloc.sim.fgd import node_order
from dralloc.sim.openb_objects import pod_objects
from dralloc.sim.traces import ArrivalTrace, TraceNode, TracePod
from dralloc.sim.traces.openb import openb_models

MODELS = openb_models()
# Random too: its draws do not depend on what is remembered.
POLICIES_COMPARED = ["fgd", "bestfit", "dotprod", "packing", "clustering", "random"]
EXAMPLES = int(os.environ.get("DRALLOC_EQUIVALENCE_EXAMPLES", "200"))
# Each switch off on its own (the others on), and every switch off.
SWITCHES_OFF = st.sampled_from(
    [
        SimulationSpeedups.none(),
        *(
            replace(SimulationSpeedups(), **{name: False})
            for name in (
                "pod_verdicts",
                "alike_nodes",
                "node_classes",
                "interchangeable_devices",
                "dra_outcomes",
                "framework_shortcuts",
            )
        ),
    ]
)

node_types = st.sampled_from(
    [
        ("T4", 2, 32000),
        ("T4", 2, 32000),
        ("P100", 1, 16000),
        ("G2", 8, 64000),
        ("V100M16", 4, 48000),
    ]
)
pod_shapes = st.tuples(
    st.sampled_from([1000, 2000, 4000, 8000, 16000]),
    st.sampled_from([(0, 0), (1, 250), (1, 500), (1, 300), (1, 1000), (2, 1000), (4, 1000)]),
    st.sampled_from([frozenset(), frozenset({"T4"}), frozenset({"G2", "V100M16"})]),
)


def _trace(
    types: list[tuple[str, int, int]], shapes: list[tuple[int, tuple[int, int], frozenset[str]]]
) -> ArrivalTrace:
    nodes = tuple(
        TraceNode(f"n-{i:02d}", cpu, 4 * cpu, gpus, model)
        for i, (model, gpus, cpu) in enumerate(types)
    )
    pods = [
        TracePod(f"p-{i:03d}", cpu, 1024, gpus, milli, gpu_spec=spec)
        for i, (cpu, (gpus, milli), spec) in enumerate(shapes)
    ]
    pods.append(TracePod("p-gpu", 1000, 1024, 1, 500))  # a GPU workload to tune to
    return ArrivalTrace("test:random", nodes, tuple(pods), MODELS)


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    st.lists(node_types, min_size=2, max_size=6),
    st.lists(pod_shapes, min_size=4, max_size=24),
    st.sampled_from(POLICIES_COMPARED),
    st.integers(0, 2**16),
    SWITCHES_OFF,
)
def test_a_run_with_remembered_verdicts_equals_a_full_evaluation(
    types: list[tuple[str, int, int]],
    shapes: list[tuple[int, tuple[int, int], frozenset[str]]],
    policy: str,
    seed: int,
    switches: SimulationSpeedups,
) -> None:
    trace = _trace(types, shapes)
    fast = run_fgd(trace, policy, seed)
    slow = run_fgd(trace, policy, seed, speedups=switches)
    assert fast.log.used_milli == slow.log.used_milli
    assert fast.log.fragment_milli == slow.log.fragment_milli
    assert fast.final_nodes == slow.final_nodes


@settings(max_examples=15, deadline=None)
@given(
    st.lists(node_types, min_size=2, max_size=5),
    st.lists(pod_shapes, min_size=4, max_size=30),
    st.sampled_from(POLICIES_COMPARED),
)
def test_pending_messages_and_chosen_gpus_equal_a_full_evaluation(
    types: list[tuple[str, int, int]],
    shapes: list[tuple[int, tuple[int, int], frozenset[str]]],
    policy: str,
) -> None:
    trace = _trace(types, shapes)
    workload = workload_in_products(trace.pods, MODELS)
    runs = []
    for remember in (True, False):
        rng = random.Random(5)
        rank = node_order([n.name for n in trace.nodes], rng)
        sim = build_simulation(
            trace.nodes, workload, policy, rng, rank, MODELS, remember_verdicts=remember
        )
        seen = []
        for pod in trace.pods * 2:  # enough to fill the cluster and leave pods pending
            made = pod_objects(pod, MODELS)
            key = f"{made.pod.metadata.namespace}/{made.pod.metadata.name}"
            if key in sim.cache.pods:
                continue
            if made.claim is not None:
                sim.cache.set_claim(made.claim)
            sim.shapes.clear()
            sim.shapes[key] = repr(
                (pod.cpu_milli, pod.num_gpu, pod.gpu_milli, sorted(pod.gpu_spec))
            ).encode()
            outcome = sim.scheduler.schedule_one(made.pod)
            devices = None
            if made.claim is not None:
                claim = sim.cache.claims[
                    key.replace(made.pod.metadata.name, made.claim.metadata.name)
                ]
                allocation = claim.status.allocation
                devices = allocation and [r.device for r in allocation.devices.results]
                if outcome.node is None:
                    sim.cache.remove_claim(f"{claim.metadata.namespace}/{claim.metadata.name}")
            seen.append((outcome.node, outcome.message, devices))
        runs.append(seen)
    assert runs[0] == runs[1]
