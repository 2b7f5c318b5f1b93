"""Retries answered without a cycle (`sim/replay/retries.py`) name the plugins a cycle would:
on random traces with nodes leaving and coming back, a replay with the shortcut places every
pod as one without it, and counts the same retries (cycles run plus retries answered)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dralloc.sim.experiment import POLICIES
from dralloc.sim.replay import ReplayOptions, replay
from dralloc.sim.traces import NodeAction, NodeEvent, ReplayTrace, TimedPod, TraceNode, TracePod
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
