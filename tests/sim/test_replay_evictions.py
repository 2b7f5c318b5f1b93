"""Evictions in a replay's figures (`dralloc.sim.replay`): a pod evicted and re-queued reports
its last run only (none while it is pending again), `waiting` counts to the start of the run
that completed and `first_start_wait` to the first start, each run stopped before completing
is an `Eviction` with its cause and lost GPU time, and the summary counts them by cause.

Evictions come from a scripted admission (`ScriptedAdmission`: it releases every pod on
arrival and evicts through the engine's `AdmissionCluster.evict`, as Kueue's does), from the
trace's node events and from an autoscaled fleet's spot interruptions. A hypothesis property
checks, over random eviction sequences on a tiny trace, that completed + lost + still-running
GPU time is the GPU time the engine held, that no run of a pod ends twice, and that every
evicted pod ends re-queued, running again, completed or pending."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import pytest
from autoscalekit import autoscaling_text, group, load, shape
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dralloc.devices import load_catalog
from dralloc.sim.campaign import ReplayRun, RunSpec
from dralloc.sim.replay import PodState, ReplayOptions, ReplayResult, Sample, replay
from dralloc.sim.replay.autoscaled import ReplayAutoscaling
from dralloc.sim.replay.evictions import karpenter_cause
from dralloc.sim.replay.results import AdmissionCluster, Eviction, EvictionCause
from dralloc.sim.summaries import summarize_replays
from dralloc.sim.traces import NodeAction, NodeEvent, ReplayTrace, TimedPod, TraceNode, TracePod
from dralloc.sim.traces.model import GpuModels
from dralloc.sim.traces.openb import openb_models

MODELS = openb_models()
T4 = TraceNode("t4-0", 16000, 65536, 1, "T4")
T4B = TraceNode("t4-1", 16000, 65536, 1, "T4")
HOUR = 3600.0


def gpu_pod(name: str, milli: int = 1000) -> TracePod:
    return TracePod(name, 1000, 1024, 1, milli)


def trace(
    pods: Sequence[tuple[str, float, float | None]],
    nodes: tuple[TraceNode, ...] = (T4,),
    events: tuple[NodeEvent, ...] = (),
    milli: int = 1000,
) -> ReplayTrace:
    timed = tuple(TimedPod(gpu_pod(name, milli), at, duration) for name, at, duration in pods)
    return ReplayTrace("test", nodes, timed, MODELS, node_events=events, source="test.csv")


@dataclass
class ScriptedAdmission:
    """Releases every pod when it arrives; at the batches `script` names (the n-th call of
    `admit`, from 0), evicts pods through the cluster (with a cause, or None for the
    engine's default) and releases them again `requeue_after` batches later (0: at once,
    None: never). With `evict_on_node_removal`, a leaving node's pods are evicted through
    the cluster with no cause (Kueue's `node_removed`) and released at once."""

    script: dict[int, list[tuple[tuple[int, ...], EvictionCause | None, int | None]]] = field(
        default_factory=dict
    )
    evict_on_node_removal: bool = False
    batch: int = 0
    arrived_now: list[int] = field(default_factory=list)
    arrived_all: set[int] = field(default_factory=set)
    held: set[int] = field(default_factory=set)
    due: dict[int, list[int]] = field(default_factory=dict)

    def holds(self, index: int) -> bool:
        return True

    def arrived(self, index: int, now: float) -> None:
        self.arrived_now.append(index)
        self.arrived_all.add(index)

    def node_removed(
        self, node: str, indices: Sequence[int], now: float, cluster: AdmissionCluster
    ) -> None:
        if self.evict_on_node_removal and indices:
            cluster.evict(indices)
            cluster.release(indices)

    def admit(self, now: float, cluster: AdmissionCluster) -> None:
        cluster.release(self.arrived_now)
        self.arrived_now = []
        for victims, cause, after in self.script.get(self.batch, []):
            # As Kueue, only pods admitted (arrived, not held back) are evicted.
            indices = sorted(set(victims) & self.arrived_all - self.held)
            cluster.evict(indices, cause)
            self.held.update(indices)
            if after is not None:
                self.due.setdefault(self.batch + after, []).extend(indices)
        again = sorted(i for i in self.due.pop(self.batch, []) if i in self.held)
        self.held.difference_update(again)
        cluster.release(again)
        self.batch += 1

    def started(self, index: int, now: float) -> None:
        pass

    def stopped(self, index: int, now: float) -> None:
        pass

    def drained(self, now: float) -> None:
        pass


def pod(result: ReplayResult, name: str) -> tuple[float | None, float | None, str | None, str]:
    outcome = next(p for p in result.pods if p.name == name)
    return outcome.start, outcome.end, outcome.node, outcome.state


# --------------------------------------------------------------------------------------------
# Worked examples


def test_a_pod_evicted_and_pending_at_the_end_reports_no_run_of_its_own() -> None:
    # Batches: 0 (a arrives, starts), 30 (b arrives; a evicted and held for good).
    admission = ScriptedAdmission({1: [((0,), None, None)]})
    result = replay(trace([("a", 0, 100), ("b", 30, 10)]), "fgd", seed=1, admission=admission)
    assert pod(result, "a") == (None, None, None, PodState.PENDING)
    outcome = result.pods[0]
    assert (outcome.first_start, outcome.evictions, outcome.model) == (0, 1, None)
    assert (outcome.waiting, outcome.first_start_wait) == (None, 0)
    assert pod(result, "b") == (30, 40, "t4-0", PodState.COMPLETED)
    assert result.evictions == (
        Eviction("a", "t4-0", EvictionCause.PREEMPTION, 30, 0, 30, 1000, "T4"),
    )


def test_a_pod_evicted_and_running_again_at_the_end_reports_its_new_run() -> None:
    admission = ScriptedAdmission({1: [((0,), None, 0)]})
    pods = [("a", 0, 100), ("b", 30, 10)]
    result = replay(
        trace(pods, milli=500),
        "fgd",
        seed=1,
        admission=admission,
        options=ReplayOptions(horizon=50),
    )
    assert pod(result, "a") == (30, None, "t4-0", PodState.RUNNING)
    assert result.pods[0].first_start == 0
    # 30 s lost, then 20 s of the new run, and b's 10 s, at half a GPU each.
    assert result.gpu_hours["T4"] == pytest.approx(0.5 * 60 / HOUR)
    assert result.lost_gpu_hours() == pytest.approx(0.5 * 30 / HOUR)
    assert result.lost_gpu_hours_by_model() == {"T4": pytest.approx(0.5 * 30 / HOUR)}


def test_the_wait_counts_to_the_run_that_completed_and_the_first_start_wait_to_the_first() -> None:
    # a runs at 0 and is evicted at 30, as b arrives; b (queued first) runs to 40, then a
    # again, to 140.
    admission = ScriptedAdmission({1: [((0,), EvictionCause.CONSOLIDATION, 0)]})
    result = replay(trace([("a", 0, 100), ("b", 30, 10)]), "fgd", seed=1, admission=admission)
    assert pod(result, "a") == (40, 140, "t4-0", PodState.COMPLETED)
    assert pod(result, "b") == (30, 40, "t4-0", PodState.COMPLETED)
    assert result.waiting_times() == [40, 0]
    assert result.first_start_waiting_times() == [0, 0]
    summary = result.summary()
    assert (summary.wait_mean, summary.first_start_wait_mean) == (20, 0)
    assert (summary.wait_p95, summary.first_start_wait_p95) == (38, 0)
    assert summary.started == 2 and summary.evicted == 0
    assert summary.evicted_pods == 1 and summary.evictions_total == 1
    assert summary.evictions == {
        **dict.fromkeys(map(str, EvictionCause), 0),
        "Consolidation": 1,
    }
    assert list(summary.evictions) == [str(cause) for cause in EvictionCause]
    assert summary.lost_gpu_hours == pytest.approx(30 / HOUR)
    # All GPU time held: 30 s lost, 100 s and 10 s completed.
    assert summary.gpu_hours == pytest.approx(140 / HOUR)
    assert result.completed_gpu_hours() == pytest.approx(110 / HOUR)


def test_a_node_leaving_as_the_trace_says_evicts_for_good_and_loses_the_run() -> None:
    events = (NodeEvent(30, NodeAction.REMOVE, "t4-0"),)
    result = replay(trace([("a", 0, 100)], events=events), "fgd", seed=1)
    assert pod(result, "a") == (0, 30, "t4-0", PodState.EVICTED)
    assert result.evictions == (
        Eviction("a", "t4-0", EvictionCause.NODE_REMOVED, 30, 0, 30, 1000, "T4"),
    )
    summary = result.summary()
    assert (summary.evicted, summary.evicted_pods) == (1, 1)
    assert summary.evictions["NodeRemoved"] == 1
    assert summary.lost_gpu_hours == pytest.approx(30 / HOUR)


def test_the_admission_evicting_for_a_leaving_node_takes_the_nodes_cause() -> None:
    # Kueue evicts the jobs that ran on a node that left: those are no preemptions.
    events = (
        NodeEvent(30, NodeAction.REMOVE, "t4-0"),
        NodeEvent(40, NodeAction.ADD, "t4-0"),
    )
    admission = ScriptedAdmission(evict_on_node_removal=True)
    result = replay(trace([("a", 0, 100)], events=events), "fgd", seed=1, admission=admission)
    assert [e.cause for e in result.evictions] == [EvictionCause.NODE_REMOVED]
    assert pod(result, "a") == (40, 140, "t4-0", PodState.COMPLETED)
    assert result.pods[0].first_start_wait == 0 and result.pods[0].waiting == 40


def test_a_completed_pod_evicted_with_its_job_runs_again_and_its_run_is_lost() -> None:
    # a completes at 10; at 30 (b's arrival) its job is evicted and released at once.
    admission = ScriptedAdmission({2: [((0,), None, 0)]})
    result = replay(trace([("a", 0, 10), ("b", 30, 5)]), "fgd", seed=1, admission=admission)
    assert result.evictions == (
        Eviction("a", "t4-0", EvictionCause.PREEMPTION, 30, 0, 10, 1000, "T4"),
    )
    assert pod(result, "a") == (35, 45, "t4-0", PodState.COMPLETED)
    assert result.lost_gpu_hours() == pytest.approx(10 / HOUR)


def test_spot_interruptions_of_an_autoscaled_fleet_are_lost_runs() -> None:
    catalog = load_catalog()
    text = autoscaling_text(
        "cluster-autoscaler",
        shapes=[
            shape(price="{spot: 0.8}") + "  interruption: {ratePerHour: 6}\n",
        ],
        groups=[group("l4", "l4x2", max_size=1, capacity_type="spot")],
        options="{scaleDownEnabled: false}",
    )
    options = ReplayOptions(autoscaling=ReplayAutoscaling(load(text, catalog), catalog))
    pods = (TimedPod(TracePod("p0", 1000, 1024, 1, 1000), 0.0, 600.0),)
    models = GpuModels({"L4": catalog.gpu("l4")})
    result = replay(ReplayTrace("tiny", (), pods, models, source="t.csv"), "fgd", 5, options)
    # The notices of l4-0000 and l4-0001 evict the pod at 307.8 s and 811.3 s (see
    # test_autoscale_replay's spot example); it completes on l4-0002 from 1000 s.
    (outcome,) = result.pods
    assert (outcome.start, outcome.end, outcome.state) == (1000, 1600, PodState.COMPLETED)
    assert (outcome.first_start, outcome.evictions) == (190, 2)
    assert [(e.node, e.start, e.cause) for e in result.evictions] == [
        ("l4-0000", 190, EvictionCause.SPOT_INTERRUPTION),
        ("l4-0001", 490, EvictionCause.SPOT_INTERRUPTION),
    ]
    ran = sum(e.end - e.start for e in result.evictions)
    assert ran == pytest.approx(307.805 - 190 + 811.311 - 490, abs=1e-2)
    summary = result.summary()
    assert summary.lost_gpu_hours == pytest.approx(ran / HOUR)
    assert (summary.wait_p95, summary.first_start_wait_p95) == (1000, 190)
    assert (summary.evictions_total, summary.evicted_pods) == (2, 1)
    assert result.autoscaling is not None and result.autoscaling.evicted_pods == 2


def test_the_policy_summary_takes_the_medians_of_evictions_and_lost_gpu_hours() -> None:
    pods = [("a", 0, 100), ("b", 30, 10)]
    runs = []
    for seed, script in enumerate(({}, {1: [((0,), None, 0)]}, {1: [((0,), None, 0)]})):
        admission = ScriptedAdmission(script)
        result = replay(trace(pods), "fgd", seed=seed, admission=admission)
        runs.append(
            ReplayRun(
                RunSpec("test", "fgd", seed),
                result.summary(),
                total_gpus=1,
                gpu_hours=result.gpu_hours,
                catalog={"T4": "t4"},
                samples=(),
                waiting=tuple(result.waiting_times()),
                attempts=result.attempts,
            )
        )
    (row,) = summarize_replays(runs, {"T4": 0.35})
    # Without the eviction, b waits 70 s for a; with it, a waits 40 s and b none.
    assert (row.evictions, row.lost_gpu_hours) == (1, pytest.approx(30 / HOUR))
    assert (row.wait_p95, row.first_start_wait_p95) == (pytest.approx(38), 0)


def test_karpenters_disruption_methods_name_their_causes() -> None:
    assert [
        karpenter_cause(m) for m in ("Emptiness", "Drift", "Expiration", "MultiNodeConsolidation")
    ] == [
        EvictionCause.EMPTINESS,
        EvictionCause.DRIFT,
        EvictionCause.EXPIRATION,
        EvictionCause.CONSOLIDATION,
    ]
    assert karpenter_cause("SingleNodeConsolidation") is EvictionCause.CONSOLIDATION
    with pytest.raises(ValueError, match="unknown Karpenter disruption method 'Spot'"):
        karpenter_cause("Spot")


# --------------------------------------------------------------------------------------------
# Property: random eviction sequences on a tiny trace


CAUSES = st.sampled_from([None, *EvictionCause])
POD = st.tuples(
    st.integers(0, 60).map(float),  # arrival
    st.integers(1, 40).map(float),  # duration
    st.sampled_from([500, 1000]),  # milli-GPU
)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[ReplayTrace, ScriptedAdmission, float | None]:
    pods = draw(st.lists(POD, min_size=1, max_size=5))
    timed = tuple(
        TimedPod(TracePod(f"p{i}", 1000, 1024, 1, milli), at, duration)
        for i, (at, duration, milli) in enumerate(pods)
    )
    events: tuple[NodeEvent, ...] = ()
    if draw(st.booleans()):
        gone = float(draw(st.integers(1, 60)))
        events = (NodeEvent(gone, NodeAction.REMOVE, "t4-1"),)
        if draw(st.booleans()):
            events += (NodeEvent(gone + draw(st.integers(1, 30)), NodeAction.ADD, "t4-1"),)
    script: dict[int, list[tuple[tuple[int, ...], EvictionCause | None, int | None]]] = {}
    for _ in range(draw(st.integers(0, 4))):
        batch = draw(st.integers(0, 8))
        victims = tuple(draw(st.sets(st.integers(0, len(pods) - 1), min_size=1)))
        after = draw(st.sampled_from([0, 1, 2, None]))
        script.setdefault(batch, []).append((victims, draw(CAUSES), after))
    admission = ScriptedAdmission(script, evict_on_node_removal=draw(st.booleans()))
    horizon = draw(st.sampled_from([None, None, 45.0]))
    built = ReplayTrace("tiny", (T4, T4B), timed, MODELS, node_events=events, source="t.csv")
    return built, admission, horizon


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_evictions_account_for_all_gpu_time_and_no_run_ends_twice(
    scenario: tuple[ReplayTrace, ScriptedAdmission, float | None],
) -> None:
    built, admission, horizon = scenario
    options = ReplayOptions(sample_interval=0, horizon=horizon)
    result = replay(built, "fgd", seed=1, options=options, admission=admission)
    durations = {t.pod.name: t.duration for t in built.pods}

    # Completed + lost + still running GPU time is all the GPU time the engine held.
    running = sum(
        p.gpu_milli * (result.end_time - p.start)
        for p in result.pods
        if p.state is PodState.RUNNING and p.start is not None
    )
    held = sum(result.gpu_hours.values())
    assert result.completed_gpu_hours() + result.lost_gpu_hours() + running / 1000 / HOUR == (
        pytest.approx(held, abs=1e-12)
    )

    for outcome in result.pods:
        lost = [e for e in result.evictions if e.pod == outcome.name]
        assert outcome.evictions == len(lost)
        runs = [(e.start, e.end) for e in lost]
        if outcome.state in (PodState.COMPLETED, PodState.RUNNING):
            assert outcome.start is not None and outcome.node is not None
            runs.append((outcome.start, outcome.end or result.end_time))
        if outcome.state is PodState.COMPLETED:
            # Its own completion ended it, no earlier run's.
            assert outcome.end == outcome.start + (durations[outcome.name] or 0)
        # No run ends twice: each starts after the one before it ended.
        assert all(a[1] <= b[0] and a[0] < b[0] for a, b in pairwise(runs))
        assert outcome.first_start == (runs[0][0] if runs else None)
        if not lost:
            continue
        # Every evicted pod is re-queued or held (pending, no run), running again,
        # completed, or gone with its node for good.
        if outcome.state is PodState.PENDING:
            assert (outcome.start, outcome.end, outcome.node) == (None, None, None)
        elif outcome.state is PodState.EVICTED:
            assert lost[-1].cause is EvictionCause.NODE_REMOVED
            assert (outcome.start, outcome.end) == (lost[-1].start, lost[-1].end)
        else:
            assert outcome.state in (PodState.RUNNING, PodState.COMPLETED)

    # The pods pending at the end are those held back plus those in the scheduling queue.
    # (No sample when nothing arrived before the horizon.)
    last = result.samples[-1] if result.samples else Sample(result.end_time, 0, 0, 0, 0)
    pending = [i for i, p in enumerate(result.pods) if p.state is PodState.PENDING]
    assert last.pending == len([i for i in pending if i not in admission.held])
    assert last.running == sum(p.state is PodState.RUNNING for p in result.pods)
    summary = result.summary()
    assert summary.evictions_total == len(result.evictions)
    assert summary.lost_gpu_hours == pytest.approx(result.lost_gpu_hours())
    assert sum(result.lost_gpu_hours_by_model().values()) == pytest.approx(summary.lost_gpu_hours)
