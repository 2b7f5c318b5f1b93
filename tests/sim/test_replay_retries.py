"""Retries answered without a cycle (`sim/replay/retries.py`) name the plugins a cycle would:
on random traces with nodes leaving and coming back, a replay with the shortcut places every
pod as one without it, and counts the same retries (cycles run plus retries answered)."""

from __future__ import annotations

import pytest
from autoscalekit import autoscaling_text, group, pool, shape
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dralloc.autoscaling import parse_autoscaling_text
from dralloc.devices import load_catalog
from dralloc.devices.catalog import Catalog
from dralloc.sim.experiment import POLICIES
from dralloc.sim.replay import ReplayOptions, replay
from dralloc.sim.replay.autoscaled import ReplayAutoscaling
from dralloc.sim.traces import NodeAction, NodeEvent, ReplayTrace, TimedPod, TraceNode, TracePod
from dralloc.sim.traces.model import GpuModels
from dralloc.sim.traces.openb import openb_models

MODELS = openb_models()
NODES = (
    TraceNode("n-0", 16000, 65536, 1, "T4"),
    TraceNode("n-1", 32000, 131072, 2, "T4"),
    TraceNode("n-2", 32000, 131072, 4, "P100"),
)
SHAPES = [(0, 0), (1, 250), (1, 500), (1, 750), (1, 1000), (2, 1000), (4, 1000), (8, 1000)]


@st.composite
def churn_traces(draw: st.DrawFn) -> ReplayTrace:
    """Up to 14 pods of a few shapes on three nodes, up to two of which leave (and may come
    back): pods wait, get rejected by different plugins, and are retried."""
    pods = []
    for index in range(draw(st.integers(1, 14))):
        gpus, milli = draw(st.sampled_from(SHAPES))
        cpu = draw(st.sampled_from([1000, 4000, 12000]))
        spec = draw(st.sampled_from([frozenset(), frozenset({"T4"}), frozenset({"P100"})]))
        arrival = float(draw(st.integers(0, 60)))
        duration = draw(st.one_of(st.none(), st.integers(0, 200).map(float)))
        pod = TracePod(f"p-{index}", cpu, 4096, gpus, milli, spec if gpus else frozenset())
        pods.append(TimedPod(pod, arrival, duration))
    events: list[NodeEvent] = []
    for node in draw(st.lists(st.sampled_from(NODES), unique=True, max_size=2)):
        leaves = float(draw(st.integers(0, 150)))
        events.append(NodeEvent(leaves, NodeAction.REMOVE, node.name))
        if draw(st.booleans()):
            events.append(NodeEvent(leaves + draw(st.integers(1, 100)), NodeAction.ADD, node.name))
    return ReplayTrace("churn", NODES, tuple(pods), MODELS, node_events=tuple(events))


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(churn_traces(), st.sampled_from(POLICIES), st.integers(0, 3), st.booleans())
def test_answered_retries_place_and_count_as_cycles_would(
    replayed: ReplayTrace, policy: str, seed: int, flush: bool
) -> None:
    fast = replay(replayed, policy, seed, ReplayOptions(flush_leftover=flush))
    plain = replay(
        replayed, policy, seed, ReplayOptions(flush_leftover=flush, skip_hopeless_retries=False)
    )
    assert fast.pods == plain.pods
    assert plain.retries_skipped == 0
    assert fast.attempts + fast.retries_skipped == plain.attempts


# Autoscaled fleets: nodes join Ready without devices, publish them later (ResourceSlice/Add),
# are cordoned, scaled down or consolidated away while pods wait.
RANDOM = (
    '{launch: "uniform:30-90", register: "fixed:30", ready: "lognormal:30,0.5", '
    'devices: "uniform:20-200"}'
)
FLEET_SHAPES = [
    shape(provisioning=RANDOM),
    shape("l4x4", gpus=4, price="{onDemand: 3.0}", provisioning=RANDOM),
]
FLEETS = {
    "cluster-autoscaler": autoscaling_text(
        "cluster-autoscaler",
        shapes=FLEET_SHAPES,
        groups=[group("a", "l4x2", max_size=2), group("b", "l4x4", max_size=1)],
        options="{scaleDownUnneededTime: 60}",
    ),
    "karpenter": autoscaling_text(
        "karpenter", shapes=FLEET_SHAPES, pools=[pool("gpu", ["l4x2", "l4x4"])]
    ),
}
FLEET_PODS = [(1, 250), (1, 500), (1, 1000), (2, 1000), (4, 1000)]


@st.composite
def fleet_pods(draw: st.DrawFn, most: int) -> tuple[TimedPod, ...]:
    """Up to `most` pods of a few GPU shapes arriving over 5 minutes, some running for ever."""
    pods = []
    for index in range(draw(st.integers(1, most))):
        gpus, milli = draw(st.sampled_from(FLEET_PODS))
        arrival = float(draw(st.integers(0, 300)))
        duration = draw(st.one_of(st.none(), st.integers(0, 300).map(float)))
        pods.append(TimedPod(TracePod(f"p{index}", 1000, 1024, gpus, milli), arrival, duration))
    return tuple(pods)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.sampled_from(sorted(FLEETS)), st.integers(0, 3))
def test_answered_retries_on_an_autoscaled_fleet_place_and_count_as_cycles_would(
    catalog: Catalog, data: st.DataObject, mode: str, seed: int
) -> None:
    # Karpenter's disruption passes cost most: fewer pods keep each example cheap.
    pods = data.draw(fleet_pods(3 if mode == "karpenter" else 5))
    trace = ReplayTrace("fleet", (), pods, GpuModels({"L4": catalog.gpu("l4")}), source="t.csv")
    config = parse_autoscaling_text(FLEETS[mode], "autoscaling.yaml", catalog=catalog)
    fast, plain = (
        replay(
            trace,
            "fgd",
            seed,
            ReplayOptions(
                autoscaling=ReplayAutoscaling(config, catalog), skip_hopeless_retries=skip
            ),
        )
        for skip in (True, False)
    )
    assert fast.pods == plain.pods
    assert fast.attempts + fast.retries_skipped == plain.attempts
