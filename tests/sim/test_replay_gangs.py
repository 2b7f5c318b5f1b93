"""Gangs in the time-based replay: with GenericWorkload and GangScheduling on, a PodGroup's
pods go through one pod-group cycle as one queue entity and start all together or not at all
(worked examples on tiny clusters, and a property over random traces that no gang ever runs
below its quorum); a replay whose pods join no gang, or whose gates are off, is the plain
replay, result for result."""

from __future__ import annotations

from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dralloc.api.meta import ObjectMeta
from dralloc.api.scheduling import (
    GangSchedulingPolicy,
    PodGroup,
    PodGroupSchedulingPolicy,
    PodGroupSpec,
)
from dralloc.features import Features, parse_gates
from dralloc.scheduler.cache import SchedulerCache
from dralloc.sim.experiment import POLICIES
from dralloc.sim.replay import PodState, ReplayGangs, ReplayOptions, ReplayResult, replay
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
GATES_ON = parse_gates("GenericWorkload=true,GangScheduling=true")


def node(name: str, gpus: int = 1) -> TraceNode:
    return TraceNode(name, 64000, 262144, gpus, "T4")


def group(name: str, min_count: int) -> PodGroup:
    policy = PodGroupSchedulingPolicy(gang=GangSchedulingPolicy(min_count=min_count))
    return PodGroup(
        metadata=ObjectMeta(name=name, namespace="default"),
        spec=PodGroupSpec(scheduling_policy=policy),
    )


def pods(
    prefix: str, count: int, arrival: float = 0.0, duration: float | None = 100.0
) -> list[TimedPod]:
    return [
        TimedPod(TracePod(f"{prefix}-{i}", 1000, 1024, 1, 1000), arrival, duration)
        for i in range(count)
    ]


def trace(
    timed: list[TimedPod], nodes: tuple[TraceNode, ...], events: tuple[NodeEvent, ...] = ()
) -> ReplayTrace:
    return ReplayTrace("gangs", nodes, tuple(timed), MODELS, node_events=events)


def members(names: dict[str, list[TimedPod]]) -> dict[str, str]:
    return {t.pod.name: g for g, timed in names.items() for t in timed}


def starts(result: ReplayResult) -> dict[str, float | None]:
    return {p.name: p.start for p in result.pods}


def test_a_gang_that_does_not_fit_whole_starts_no_pod_until_a_node_joins() -> None:
    gang = pods("w", 4)
    nodes = tuple(node(f"n-{i}") for i in range(4))
    joins = (NodeEvent(50.0, NodeAction.ADD, "n-3"),)
    gangs = ReplayGangs((group("train", 4),), members({"train": gang}), GATES_ON)
    result = replay(trace(gang, nodes, joins), "fgd", 1, gangs=gangs)
    # Three nodes fit three pods, but no pod starts before the fourth node joins.
    assert set(starts(result).values()) == {50.0}
    # Without gangs three start at once and the fourth waits for the node.
    plain = replay(trace(gang, nodes, joins), "fgd", 1)
    assert sorted(s for s in starts(plain).values() if s is not None) == [0, 0, 0, 50]


def test_a_gang_with_a_quorum_below_its_size_starts_the_pods_that_fit() -> None:
    gang = pods("w", 4, duration=None)
    nodes = tuple(node(f"n-{i}") for i in range(3))
    gangs = ReplayGangs((group("train", 3),), members({"train": gang}), GATES_ON)
    result = replay(trace(gang, nodes), "bestfit", 1, gangs=gangs)
    states = Counter(p.state for p in result.pods)
    assert states == {PodState.RUNNING: 3, PodState.PENDING: 1}


def test_a_gang_waits_in_the_queue_until_its_last_member_arrives() -> None:
    gang = [TimedPod(TracePod(f"w-{i}", 1000, 1024, 1, 1000), 5.0 * i, 100.0) for i in range(4)]
    nodes = tuple(node(f"n-{i}") for i in range(4))
    gangs = ReplayGangs((group("train", 4),), members({"train": gang}), GATES_ON)
    result = replay(trace(gang, nodes), "fgd", 1, gangs=gangs)
    assert set(starts(result).values()) == {15.0}


def test_a_gang_whose_podgroup_is_missing_never_starts() -> None:
    gang = pods("w", 2)
    gangs = ReplayGangs((), members({"train": gang}), GATES_ON)
    result = replay(trace(gang, (node("n-0", 2),)), "fgd", 1, gangs=gangs)
    assert all(p.state is PodState.PENDING for p in result.pods)


def test_of_two_competing_gangs_one_runs_whole_and_the_other_after_it() -> None:
    first, second = pods("a", 3), pods("b", 3, arrival=1.0)
    nodes = tuple(node(f"n-{i}") for i in range(4))
    gangs = ReplayGangs(
        (group("a", 3), group("b", 3)), members({"a": first, "b": second}), GATES_ON
    )
    seen: list[tuple[int, int]] = []

    def running(time: float, cache: SchedulerCache) -> None:
        keys = [key.split("/")[1] for key in cache.pods]
        seen.append((sum(k.startswith("a-") for k in keys), sum(k.startswith("b-") for k in keys)))

    result = replay(trace(first + second, nodes), "fgd", 1, gangs=gangs, observer=running)
    assert {starts(result)[t.pod.name] for t in first} == {0.0}
    assert {starts(result)[t.pod.name] for t in second} == {100.0}
    assert all(a in (0, 3) and b in (0, 3) for a, b in seen), seen


def test_with_the_gates_off_a_gangs_pods_are_scheduled_one_by_one() -> None:
    gang = pods("w", 4)
    nodes = tuple(node(f"n-{i}") for i in range(3))
    off = ReplayGangs((group("train", 4),), members({"train": gang}), Features())
    assert replay(trace(gang, nodes), "fgd", 1, gangs=off) == replay(trace(gang, nodes), "fgd", 1)


# --------------------------------------------------------------------------------------------
# Properties

NODES = (node("n-0"), node("n-1", 2), node("n-2", 4), node("n-3", 8))
SHAPES = st.sampled_from([(1, 500), (1, 1000), (2, 1000), (4, 1000)])


@st.composite
def gang_traces(draw: st.DrawFn) -> tuple[ReplayTrace, ReplayGangs]:
    timed: list[TimedPod] = []
    groups: list[PodGroup] = []
    joined: dict[str, str] = {}
    for g in range(draw(st.integers(0, 4))):
        size = draw(st.integers(1, 5))
        gpus, milli = draw(SHAPES)
        arrival = float(draw(st.integers(0, 60)))
        duration = float(draw(st.integers(1, 200)))  # one for all: they end together
        name = f"g{g}"
        groups.append(group(name, draw(st.integers(1, size))))
        for i in range(size):
            pod = TracePod(f"{name}-{i}", 1000, 4096, gpus, milli)
            timed.append(TimedPod(pod, arrival + draw(st.integers(0, 5)), duration))
            joined[pod.name] = name
    for i in range(draw(st.integers(0, 8))):
        gpus, milli = draw(SHAPES)
        arrival = float(draw(st.integers(0, 60)))
        duration = float(draw(st.integers(1, 200)))
        timed.append(TimedPod(TracePod(f"p-{i}", 1000, 4096, gpus, milli), arrival, duration))
    replayed = ReplayTrace("prop", NODES, tuple(timed), MODELS)
    return replayed, ReplayGangs(tuple(groups), joined, GATES_ON)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gang_traces(), st.sampled_from(POLICIES), st.integers(0, 3))
def test_no_gang_ever_runs_below_its_quorum(
    drawn: tuple[ReplayTrace, ReplayGangs], policy: str, seed: int
) -> None:
    replayed, gangs = drawn
    quorum = {
        g.metadata.name: g.spec.scheduling_policy.gang.min_count
        for g in gangs.pod_groups
        if g.spec.scheduling_policy.gang is not None
    }
    size = Counter(gangs.members.values())

    def check(time: float, cache: SchedulerCache) -> None:
        # A gang whose quorum is all of it starts and ends (one duration) as one.
        running = Counter(gangs.members.get(key.split("/")[1]) for key in cache.pods)
        for name, count in running.items():
            if name is not None and quorum[name] == size[name]:
                assert count == size[name], (time, name, count)

    result = replay(replayed, policy, seed, gangs=gangs, observer=check)
    started: dict[str, list[float]] = {}
    for pod in result.pods:
        name = gangs.members.get(pod.name)
        if name is not None and pod.start is not None:
            started.setdefault(name, []).append(pod.start)
    # The first cycle that starts a gang starts at least minCount of its pods; members that
    # arrive later join the started gang.
    for name, times in started.items():
        assert times.count(min(times)) >= quorum[name], (name, times)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gang_traces(), st.sampled_from(POLICIES), st.integers(0, 3))
def test_a_replay_without_gang_members_is_the_plain_replay(
    drawn: tuple[ReplayTrace, ReplayGangs], policy: str, seed: int
) -> None:
    replayed, gangs = drawn
    plain = replay(replayed, policy, seed, ReplayOptions(sample_interval=0))
    nobody = ReplayGangs(gangs.pod_groups, {}, GATES_ON)
    assert replay(replayed, policy, seed, ReplayOptions(sample_interval=0), gangs=nobody) == plain
    gates_off = ReplayGangs(gangs.pod_groups, gangs.members, Features())
    assert (
        replay(replayed, policy, seed, ReplayOptions(sample_interval=0), gangs=gates_off) == plain
    )
