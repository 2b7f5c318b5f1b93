"""Time-based replay through the real scheduler and queue: hand-computed waiting times and
GPU-hours on tiny clusters, the queue's backoff and leftover flush in virtual time, nodes
joining and leaving, and hypothesis properties (capacity never exceeded, every pod accounted
for, GPU-hours equal allocated GPUs x run time, the retry shortcut changes nothing)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dralloc.autoscaling import parse_autoscaling_text
from dralloc.devices import load_catalog
from dralloc.errors import InputError
from dralloc.features import Features
from dralloc.scheduler.cache import SchedulerCache
from dralloc.scheduler.framework import PodInfo
from dralloc.sim.experiment import POLICIES
from dralloc.sim.openb_objects import cluster_objects, pod_objects
from dralloc.sim.replay import (
    PodState,
    ReplayAutoscaling,
    ReplayOptions,
    ReplayResult,
    Sample,
    percentile,
    replay,
)
from dralloc.sim.traces import (
    NodeAction,
    NodeEvent,
    ReplayTrace,
    TimedPod,
    TraceNode,
    TracePod,
)
from dralloc.sim.traces.openb import openb_models

MODELS = openb_models()
T4 = TraceNode("t4-0", 16000, 65536, 1, "T4")
HOUR = 3600.0
NANO = 1_000_000_000


def gpu_pod(name: str, milli: int = 1000, gpus: int = 1, cpu: int = 1000) -> TracePod:
    return TracePod(name, cpu, 1024, gpus, milli)


def trace(
    pods: list[tuple[TracePod, float, float | None]],
    nodes: tuple[TraceNode, ...] = (T4,),
    events: tuple[NodeEvent, ...] = (),
) -> ReplayTrace:
    timed = tuple(TimedPod(pod, arrival, duration) for pod, arrival, duration in pods)
    return ReplayTrace("test", nodes, timed, MODELS, node_events=events, source="test.csv")


def outcome(result: ReplayResult, name: str) -> tuple[float | None, float | None, PodState]:
    pod = next(p for p in result.pods if p.name == name)
    return pod.start, pod.end, pod.state


# --------------------------------------------------------------------------------------------
# Worked examples


def test_a_pod_waits_for_the_gpu_until_the_pod_holding_it_completes() -> None:
    result = replay(trace([(gpu_pod("a"), 0, 100), (gpu_pod("b"), 10, 50)]), "fgd", seed=1)
    assert outcome(result, "a") == (0, 100, PodState.COMPLETED)
    assert outcome(result, "b") == (100, 150, PodState.COMPLETED)
    assert result.waiting_times() == [0, 90]
    assert result.gpu_hours == {"T4": pytest.approx(150 / HOUR)}
    summary = result.summary()
    assert (summary.wait_mean, summary.wait_p50, summary.makespan) == (45, 45, 150)
    assert summary.mean_utilization == pytest.approx(1.0)
    assert (summary.completed, summary.pending, summary.running) == (2, 0, 0)


def test_shares_of_one_gpu_run_together_and_count_as_fractions() -> None:
    pods = [(gpu_pod(name, milli=500), 0, 100) for name in ("a", "b", "c")]
    result = replay(trace(pods), "bestfit", seed=3)
    assert [outcome(result, n)[0] for n in ("a", "b", "c")] == [0, 0, 100]
    # 0.5 GPU x (100 + 100 + 100) s
    assert result.gpu_hours["T4"] == pytest.approx(150 / HOUR)
    assert result.mean_utilization == pytest.approx(150 / 200)


def test_a_pod_without_a_duration_runs_to_the_end_and_blocks_the_next() -> None:
    result = replay(trace([(gpu_pod("a"), 0, None), (gpu_pod("b"), 5, 10)]), "packing", seed=1)
    assert outcome(result, "a") == (0, None, PodState.RUNNING)
    assert outcome(result, "b") == (None, None, PodState.PENDING)
    assert result.end_time == 5  # the last event: b's arrival
    assert result.gpu_hours["T4"] == pytest.approx(5 / HOUR)
    assert result.summary().wait_p95 == 0


def test_the_horizon_cuts_the_run_and_leaves_later_pods_unarrived() -> None:
    pods = [(gpu_pod("a"), 0, 100), (gpu_pod("b"), 10, 50), (gpu_pod("c"), 500, 1)]
    result = replay(trace(pods), "fgd", seed=1, options=ReplayOptions(horizon=120))
    assert [outcome(result, n)[2] for n in "abc"] == [
        PodState.COMPLETED,
        PodState.RUNNING,
        PodState.NOT_ARRIVED,
    ]
    assert result.end_time == 120
    assert result.gpu_hours["T4"] == pytest.approx(120 / HOUR)


def test_a_pod_that_fits_no_node_stays_pending_and_the_run_still_ends() -> None:
    result = replay(trace([(gpu_pod("big", gpus=2), 0, 10)]), "fgd", seed=1)
    assert outcome(result, "big") == (None, None, PodState.PENDING)
    assert result.attempts == 1


def test_a_completion_requeues_every_pod_the_plugins_hints_say_may_fit() -> None:
    # b, c and d wait for the GPU. a's completion is a Pod/Delete: the plugins' hints requeue
    # all three (as kube-scheduler's do), b (the oldest) takes the GPU, and c's and d's
    # retries are answered without a cycle (nothing that gained room fits them now).
    pods = [(gpu_pod("a"), 0, 100), *((gpu_pod(n), 10 + i, 100) for i, n in enumerate("bcd"))]
    result = replay(trace(pods), "fgd", seed=1)
    assert [outcome(result, n)[0] for n in "abcd"] == [0, 100, 200, 300]
    assert (result.attempts, result.retries_skipped) == (7, 3)
    plain = replay(trace(pods), "fgd", seed=1, options=ReplayOptions(skip_hopeless_retries=False))
    assert plain.pods == result.pods
    assert plain.attempts == 10


SCALING = """\
apiVersion: dralloc.io/v1alpha1
kind: Autoscaling
mode: cluster-autoscaler
shapes:
- name: t4x2
  shape: t4
  gpus: 2
  sharing: fractional
  price: {onDemand: 1.5}
  provisioning: {launch: "fixed:60", register: "fixed:30", ready: "fixed:30", devices: "fixed:60"}
nodeGroups:
- {name: t4, shape: t4x2, max: 1}
options: {scaleDownUnneededTime: 300}
"""


def test_a_retry_answered_without_a_cycle_keeps_the_plugin_that_rejects_a_node_joining_bare() -> (
    None
):
    # own-0 is full for an hour (a holds its 2 CPUs and its GPU): p is rejected there by
    # NodeResourcesFit and the autoscaler asks for a node at 10 s. It is Ready at 130 s
    # without its GPUs: the Node/Add requeues p (NodeResourcesFit's hint: the CPUs fit) and
    # the retry is answered without a cycle, GpuCapacityFilter rejecting the new node. That
    # plugin joins p's rejectors, so the slices published at 190 s requeue p (an event
    # GpuCapacityFilter registers, NodeResourcesFit does not), as after a full cycle.
    catalog = load_catalog()
    config = parse_autoscaling_text(SCALING, "autoscaling.yaml", catalog=catalog)
    pods = [(gpu_pod("a", cpu=2000), 0, HOUR), (gpu_pod("p"), 5, 100)]
    replayed = trace(pods, nodes=(TraceNode("own-0", 2000, 65536, 1, "T4"),))
    results = [
        replay(
            replayed,
            "fgd",
            seed=1,
            options=ReplayOptions(
                autoscaling=ReplayAutoscaling(config, catalog, keep_trace_nodes=True),
                skip_hopeless_retries=skip,
            ),
        )
        for skip in (True, False)
    ]
    fast, plain = results
    for result in results:
        assert outcome(result, "p")[0] == 190.0
    assert fast.pods == plain.pods
    assert (fast.attempts, fast.retries_skipped, plain.attempts) == (3, 1, 4)


def test_pods_behind_in_the_queue_take_the_room_the_pods_ahead_did_not_need() -> None:
    # At 100, w and v end on one 2-GPU node and every waiting pod is requeued; p1, p2 and p3
    # are tried in queue order, and p3 (500 milli) fits on the GPU p1 (500) did not take.
    node = TraceNode("t4x2", 64000, 262144, 2, "T4")
    shares = [("x", 300, 0, None), ("w", 300, 0, 100), ("v", 400, 0, 100), ("u", 600, 0, None)]
    shares += [("p1", 500, 10, 50), ("p2", 700, 11, 50), ("p3", 500, 12, 50)]
    pods = [(gpu_pod(name, milli=m), a, d) for name, m, a, d in shares]
    result = replay(trace(pods, nodes=(node,)), "random", seed=3)
    assert [outcome(result, n)[0] for n in ("p1", "p2", "p3")] == [100, 150, 100]


def test_the_leftover_flush_retries_a_waiting_pod_every_330_s_without_a_cycle() -> None:
    # b is rejected at 10 and waits in unschedulablePods; the 30 s loop hands it back once it
    # has waited more than 5 min: at 330, 660 and 990. Nothing freed capacity meanwhile, so
    # those retries are answered without a scheduling cycle. a's completion at 1000 places b.
    pods = [(gpu_pod("a"), 0, 1000), (gpu_pod("b"), 10, 1)]
    flushed = replay(trace(pods), "fgd", seed=1, options=ReplayOptions(flush_leftover=True))
    assert outcome(flushed, "b")[0] == 1000
    assert (flushed.attempts, flushed.retries_skipped) == (3, 3)
    result = replay(trace(pods), "fgd", seed=1)  # the flush is off by default
    assert outcome(result, "b")[0] == 1000
    assert (result.attempts, result.retries_skipped) == (3, 0)


def test_with_no_node_a_pod_backs_off_in_virtual_time_until_a_node_joins() -> None:
    # No node: an error with no rejecting plugin, so the error backoff: 1, 2, 4, 8, 10, 10 s
    # from each attempt (expiry truncated to the second, freed on the next whole second):
    # attempts at 0, 2, 5, 10, 19, 30, 41, 52. The node joins at 50; the attempt at 52 places it.
    events = (NodeEvent(50, NodeAction.ADD, "t4-0"),)
    result = replay(trace([(gpu_pod("a"), 0, 10)], events=events), "fgd", seed=1)
    assert outcome(result, "a") == (52, 62, PodState.COMPLETED)
    assert result.attempts == 8


def test_a_joining_node_wakes_a_rejected_pod_at_once() -> None:
    second = TraceNode("t4-1", 16000, 65536, 1, "T4")
    events = (NodeEvent(40, NodeAction.ADD, "t4-1"),)
    pods = [(gpu_pod("a"), 0, 100), (gpu_pod("b"), 10, 10)]
    result = replay(trace(pods, nodes=(T4, second), events=events), "fgd", seed=1)
    assert outcome(result, "b") == (40, 50, PodState.COMPLETED)
    assert next(p for p in result.pods if p.name == "b").node == "t4-1"
    capacity = [(s.time, s.capacity_milli) for s in result.samples if s.time in (30, 40)]
    assert capacity == [(30, 1000), (40, 2000)]


def test_a_leaving_node_evicts_its_pods_and_takes_its_capacity() -> None:
    events = (NodeEvent(30, NodeAction.REMOVE, "t4-0"),)
    pods = [(gpu_pod("a"), 0, 100), (gpu_pod("b"), 40, 10)]
    result = replay(trace(pods, events=events), "fgd", seed=1)
    assert outcome(result, "a") == (0, 30, PodState.EVICTED)
    assert outcome(result, "b") == (None, None, PodState.PENDING)
    assert result.gpu_hours["T4"] == pytest.approx(30 / HOUR)


def test_a_node_that_leaves_and_comes_back_takes_pods_again() -> None:
    events = (
        NodeEvent(30, NodeAction.REMOVE, "t4-0"),
        NodeEvent(60, NodeAction.ADD, "t4-0"),
    )
    pods = [(gpu_pod("a"), 0, 100), (gpu_pod("b"), 40, 10), (gpu_pod("c"), 45, 10)]
    result = replay(trace(pods, events=events), "bestfit", seed=1)
    assert outcome(result, "a") == (0, 30, PodState.EVICTED)
    # With no node at all, b and c fail with an error and take the error backoff (no hint
    # brings them back): c's attempts at 45, 47, 50, 55, 64; b's at 40, 42, 45, 50, 59, 70.
    assert outcome(result, "c") == (64, 74, PodState.COMPLETED)
    assert outcome(result, "b") == (74, 84, PodState.COMPLETED)


def test_samples_follow_the_interval_and_show_the_state_between_events() -> None:
    pods = [(gpu_pod("a", milli=500), 0, 100), (gpu_pod("b", milli=500), 20, 100)]
    result = replay(trace(pods), "fgd", seed=1, options=ReplayOptions(sample_interval=50))
    assert result.samples == (
        Sample(0, 500, 1000, 0, 1),
        Sample(50, 1000, 1000, 0, 2),
        Sample(100, 500, 1000, 0, 1),
    )
    assert result.end_time == 120


def test_percentiles_interpolate_between_ranks() -> None:
    assert percentile([], 50) is None
    assert percentile([7.0], 99) == 7.0
    assert percentile([0.0, 10.0], 50) == 5.0
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 95) == pytest.approx(4.8)


def test_a_trace_built_in_code_is_checked_before_the_run() -> None:
    bad = trace(
        [(gpu_pod("a", milli=333), 0, 1), (gpu_pod("a"), -1, -2)],
        events=(
            NodeEvent(5, NodeAction.REMOVE, "nope"),
            NodeEvent(6, NodeAction.ADD, "t4-0"),  # absent until now: its first event adds it
            NodeEvent(7, NodeAction.ADD, "t4-0"),
        ),
    )
    with pytest.raises(InputError) as caught:
        replay(bad, "fgd", seed=1)
    assert str(caught.value).splitlines() == [
        "test.csv: node event 0: node: no node 'nope' in test (its one node is t4-0)",
        "test.csv: node event 2: action: node 't4-0' is in the cluster at 7 s already",
        "test.csv: pod a: arrival: must be ≥ 0, got -1",
        "test.csv: pod a: duration: must be ≥ 0, got -2",
        "test.csv: pod a: gpu_milli: 333 is not a whole percentage of a GPU",
        "test.csv: pod a: name: duplicate pod 'a'",
    ]


def test_an_unknown_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown policy 'tetris'"):
        replay(trace([]), "tetris", seed=1)


def test_a_readded_node_gets_a_generation_past_the_one_it_left_with() -> None:
    # GPU states and verdicts are remembered per (node, generation): a node that leaves and
    # comes back in a replay must not be mistaken for itself before it left.
    node = cluster_objects([T4], MODELS)[0].node
    cache = SchedulerCache(Features(), nodes=[node])
    cache.assume_pod(PodInfo.of(pod_objects(gpu_pod("a"), MODELS).pod), "t4-0")
    left_with = cache.nodes["t4-0"].generation
    cache.remove_node("t4-0")
    assert cache.add_node(node).generation > left_with


# --------------------------------------------------------------------------------------------
# Properties

NODES = (
    TraceNode("n-0", 16000, 65536, 1, "T4"),
    TraceNode("n-1", 32000, 131072, 2, "T4"),
    TraceNode("n-2", 32000, 131072, 4, "P100"),
)
SHAPES = st.sampled_from(
    [(0, 0), (1, 250), (1, 500), (1, 750), (1, 1000), (2, 1000), (4, 1000), (8, 1000)]
)


@st.composite
def traces(draw: st.DrawFn, finite: bool = False, churn: bool = False) -> ReplayTrace:
    count = draw(st.integers(1, 14))
    pods = []
    for index in range(count):
        gpus, milli = draw(SHAPES)
        cpu = draw(st.sampled_from([1000, 4000, 12000]))
        spec = draw(st.sampled_from([frozenset(), frozenset({"T4"}), frozenset({"P100"})]))
        arrival = float(draw(st.integers(0, 60)))
        duration = draw(
            st.integers(0, 200).map(float)
            if finite
            else st.one_of(st.none(), st.integers(0, 200).map(float))
        )
        pod = TracePod(f"p-{index}", cpu, 4096, gpus, milli, spec if gpus else frozenset())
        pods.append(TimedPod(pod, arrival, duration))
    events: list[NodeEvent] = []
    if churn:
        for node in draw(st.lists(st.sampled_from(NODES), unique=True, max_size=2)):
            leaves = float(draw(st.integers(0, 150)))
            events.append(NodeEvent(leaves, NodeAction.REMOVE, node.name))
            if draw(st.booleans()):
                back = leaves + draw(st.integers(1, 100))
                events.append(NodeEvent(back, NodeAction.ADD, node.name))
    return ReplayTrace("prop", NODES, tuple(pods), MODELS, node_events=tuple(events))


def _capacity_holds(time: float, cache: SchedulerCache) -> None:
    for node in cache.nodes.values():
        assert node.requested.milli_cpu <= node.allocatable.milli_cpu, (time, node.name)
        assert node.requested.memory <= node.allocatable.memory, (time, node.name)
    for key, tally in cache.allocated.capacity.items():
        assert tally.get("cores", 0) <= 100 * NANO, (time, key)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(traces(churn=True), st.sampled_from(POLICIES), st.integers(0, 3))
def test_no_capacity_is_exceeded_and_every_pod_is_accounted_for(
    replayed: ReplayTrace, policy: str, seed: int
) -> None:
    result = replay(
        replayed, policy, seed, ReplayOptions(sample_interval=0), observer=_capacity_holds
    )
    assert all(s.allocated_milli <= s.capacity_milli for s in result.samples)
    assert all(w >= 0 for w in result.waiting_times())
    summary = result.summary()
    assert summary.completed + summary.running + summary.pending + summary.evicted == summary.pods
    expected = 0.0
    for pod in result.pods:
        if pod.state is PodState.PENDING:
            assert pod.start is None and pod.node is None
            continue
        assert pod.start is not None and pod.node is not None
        end = pod.end if pod.end is not None else result.end_time
        assert (pod.end is None) == (pod.state is PodState.RUNNING)
        assert pod.start >= pod.arrival and end >= pod.start
        expected += pod.gpu_milli / 1000 * (end - pod.start) / HOUR
    assert sum(result.gpu_hours.values()) == pytest.approx(expected)
    running = sum(p.gpu_milli for p in result.pods if p.state is PodState.RUNNING)
    last = result.samples[-1] if result.samples else None
    assert last is None or last.allocated_milli == running


def _fits_an_empty_node(pod: TracePod) -> bool:
    return any(
        pod.cpu_milli <= node.cpu_milli
        and pod.num_gpu <= node.gpus
        and pod.can_use_model(node.model)
        for node in NODES
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(traces(finite=True), st.sampled_from(POLICIES), st.integers(0, 3))
def test_when_everything_ends_only_pods_no_empty_node_can_hold_are_left_pending(
    replayed: ReplayTrace, policy: str, seed: int
) -> None:
    # The queueing hints must never leave a pod that could run waiting for nothing.
    result = replay(replayed, policy, seed)
    for timed, pod in zip(replayed.pods, result.pods, strict=True):
        assert (pod.state is PodState.PENDING) == (not _fits_an_empty_node(timed.pod)), pod


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(traces(churn=True), st.sampled_from(POLICIES), st.integers(0, 3), st.booleans())
def test_answering_hopeless_retries_without_a_cycle_changes_nothing(
    replayed: ReplayTrace, policy: str, seed: int, flush: bool
) -> None:
    fast = replay(replayed, policy, seed, ReplayOptions(flush_leftover=flush))
    slow = replay(
        replayed,
        policy,
        seed,
        ReplayOptions(flush_leftover=flush, skip_hopeless_retries=False),
    )
    # The same placements, and the same retries: the shortcut names the plugins a cycle
    # would (each node's rejecting plugin, kept per pod shape and node generation), so the
    # same events requeue the pod (`replay.retries`).
    assert fast.pods == slow.pods
    assert fast.attempts + fast.retries_skipped == slow.attempts
