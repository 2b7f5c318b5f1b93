"""karpenter mode in the replay (`dralloc.sim.replay.autoscale_karpenter`): pods arriving
together become one NodeClaim of the cheapest shape that takes them all once the batch window
closes (1 s idle, 10 s at most), an underutilized node is replaced by a cheaper one once the
replacement is up and its pod evicted and run again there, an empty node leaves (each command
15 s after it is decided, once validated again), a consolidation whose node empties meanwhile
is dropped, a spot notice drains its node at once, skipping quiet loops changes nothing, and
the run is deterministic with its seed.

Tiny traces: one-GPU pods; L4 shapes with 2 (2 USD/h) or 4 (3 USD/h) fractional GPUs and
fixed delays (a node requested at t publishes its devices at t + 180 s)."""

from __future__ import annotations

import pytest
from autoscalekit import FAST, autoscaling_text, shape

from dralloc.autoscaling import parse_autoscaling_text
from dralloc.devices import load_catalog
from dralloc.devices.catalog import Catalog
from dralloc.scheduler.cache import SchedulerCache
from dralloc.sim.replay import PodState, ReplayOptions, ReplayResult, replay
from dralloc.sim.replay.autoscaled import ReplayAutoscaling
from dralloc.sim.replay.evictions import EvictionCause
from dralloc.sim.traces import ReplayTrace, TimedPod, TracePod
from dralloc.sim.traces.model import GpuModels

RANDOM = (
    '{launch: "uniform:30-90", register: "fixed:30", ready: "lognormal:30,0.5", '
    'devices: "uniform:20-80"}'
)


def config_text(
    pool: str = "{name: gpu, shapes: [l4x2, l4x4]}",
    provisioning: str = FAST,
    extra: str = "",
    options: str = "{}",
) -> str:
    small = shape(price="{onDemand: 2.0, spot: 0.8}", provisioning=provisioning)
    large = shape("l4x4", gpus=4, price="{onDemand: 3.0}", provisioning=provisioning)
    return autoscaling_text(
        "karpenter",
        shapes=[small + extra.removeprefix("\n") + ("\n" if extra else ""), large],
        pools=[f"- {pool}\n"],
        options=options,
    )


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def run(
    catalog: Catalog, text: str, pods: list[tuple[float, float | None]], seed: int = 1, **kw: bool
) -> ReplayResult:
    config = parse_autoscaling_text(text, "autoscaling.yaml", catalog=catalog)
    timed = tuple(
        TimedPod(TracePod(f"p{index}", 1000, 1024, 1, 1000), arrival, duration)
        for index, (arrival, duration) in enumerate(pods)
    )
    trace = ReplayTrace("tiny", (), timed, GpuModels({"L4": catalog.gpu("l4")}), source="t.csv")
    options = ReplayOptions(autoscaling=ReplayAutoscaling(config, catalog, **kw))
    return replay(trace, "fgd", seed, options)


def outcomes(result: ReplayResult) -> list[tuple[float | None, float | None, str | None]]:
    return [(p.start, p.end, p.node) for p in result.pods]


def test_pods_arriving_together_get_one_node_of_the_cheapest_shape_that_takes_them_all(
    catalog: Catalog,
) -> None:
    result = run(catalog, config_text(), [(0.0, 600.0)] * 3)
    summary = result.autoscaling
    assert summary is not None
    # Rejected at 0 s, the window closes 1 s later with no new pod: one NodeClaim for three
    # GPUs narrows to l4x4 (3 USD/h; two l4x2 would cost 4), devices published at 181 s.
    assert outcomes(result) == [(181.0, 781.0, "gpu-0000")] * 3
    assert (summary.mode, summary.scale_ups, summary.nodes_launched) == ("karpenter", 1, 1)
    assert result.capacity_gpu_hours["L4"] == pytest.approx(4 * summary.node_hours)
    # The empty node is chosen at the first poll after its pods end (Emptiness, 790 s) and
    # leaves once validated (805 s), billed from launch (61 s) until gone (+30 s terminate).
    assert summary.disrupted_by_method == {"Emptiness": 1}
    assert summary.fleet_size == ((181.0, 1), (805.0, 0))
    assert summary.billed_usd == {"on-demand": pytest.approx(3.0 * (835.0 - 61.0) / 3600)}
    # Upstream v1.14 would have skipped these claim pods (IGNORE_DRA_REQUESTS).
    assert summary.upstream_unsupported_pods == {"resource claims ignored (IGNORE_DRA_REQUESTS)": 3}


def test_a_batch_closes_at_its_maximum_while_pods_keep_coming(catalog: Catalog) -> None:
    # A pod every 0.5 s keeps the 1 s idle window open; it closes 10 s after it opened,
    # with 21 pods (0-10 s) pending: 6 l4x4 NodeClaims, published at 190 s. The 3 pods
    # arriving after the close fit the in-flight room: no seventh node.
    pods: list[tuple[float, float | None]] = [(0.5 * i, 300.0) for i in range(24)]
    result = run(catalog, config_text(pool="{name: gpu, shapes: [l4x4]}"), pods)
    summary = result.autoscaling
    assert summary is not None
    assert {p.start for p in result.pods} == {190.0}
    assert summary.scale_ups == 6
    # Emptiness under the default budget (10 % of the initialized nodes: 1 at a time): an
    # emptied node drains at once and, terminating, no longer uses the budget, as upstream's
    # BuildDisruptionBudgetMapping counts; one goes per poll, deleted once validated 15 s later.
    assert summary.fleet_size == (
        (190.0, 6),
        (505.0, 5),
        (525.0, 4),
        (545.0, 3),
        (565.0, 2),
        (585.0, 1),
        (605.0, 0),
    )


def test_an_underutilized_node_is_replaced_by_a_cheaper_one_and_its_pod_runs_again(
    catalog: Catalog,
) -> None:
    # Three pods fill an l4x4; the fourth, arriving at 700 s, fits beside them. Once the
    # three end (781 s), the 790 s poll decides to replace the l4x4 by a cheaper l4x2 for
    # the last pod; validated at 805 s, the replacement is launched then and publishes its
    # devices at 985 s. Only then is the l4x4 deleted: the pod, evicted, runs again at once
    # on the replacement (no wait), which leaves empty once it ends.
    result = run(catalog, config_text(), [(0.0, 600.0)] * 3 + [(700.0, 1000.0)])
    summary = result.autoscaling
    assert summary is not None
    assert outcomes(result)[3] == (985.0, 1985.0, "gpu-0001")
    assert result.pods[3].state is PodState.COMPLETED
    assert summary.evicted_pods == 1
    assert [(e.pod, e.node, e.cause) for e in result.evictions] == [
        ("p3", "gpu-0000", EvictionCause.CONSOLIDATION)
    ]
    assert summary.disrupted_by_method == {"Emptiness": 1, "SingleNodeConsolidation": 1}
    assert summary.scale_ups == 2
    assert summary.fleet_size == ((181.0, 1), (985.0, 1), (2005.0, 0))


def test_a_node_waiting_for_its_replacement_is_cordoned(catalog: Catalog) -> None:
    # The l4x4 of the consolidation above is marked for deletion from its validation (805 s)
    # until its replacement publishes its devices (985 s): cordoned in the cluster meanwhile,
    # its pod still running there.
    cordoned: list[tuple[float, bool, int]] = []

    def observe(time: float, cache: SchedulerCache) -> None:
        info = cache.nodes.get("gpu-0000")
        if info is not None:
            cordoned.append((time, info.node.spec.unschedulable, len(info.pods)))

    config = parse_autoscaling_text(config_text(), "autoscaling.yaml", catalog=catalog)
    timed = tuple(
        TimedPod(TracePod(f"p{index}", 1000, 1024, 1, 1000), arrival, duration)
        for index, (arrival, duration) in enumerate([(0.0, 600.0)] * 3 + [(700.0, 1000.0)])
    )
    trace = ReplayTrace("tiny", (), timed, GpuModels({"L4": catalog.gpu("l4")}), source="t.csv")
    options = ReplayOptions(autoscaling=ReplayAutoscaling(config, catalog))
    replay(trace, "fgd", 1, options, observer=observe)
    marked = [(time, pods) for time, unschedulable, pods in cordoned if unschedulable]
    assert marked and all(pods == 1 for _, pods in marked)
    assert marked[0][0] >= 805.0 and marked[-1][0] <= 985.0
    assert not any(unschedulable for time, unschedulable, _ in cordoned if time < 805.0)


def test_a_node_whose_replacement_fails_is_uncordoned(catalog: Catalog) -> None:
    # As above, but every l4x2 launch fails: each command is dropped when its replacement's
    # launch fails (60 s after it), the l4x4 uncordoned, and its pod never evicted.
    cordons: list[tuple[float, bool]] = []

    def observe(time: float, cache: SchedulerCache) -> None:
        info = cache.nodes.get("gpu-0000")
        if info is not None and (not cordons or cordons[-1][1] != info.node.spec.unschedulable):
            cordons.append((time, info.node.spec.unschedulable))

    text = config_text(extra="\n  availability: {launchFailure: 1.0}")
    config = parse_autoscaling_text(text, "autoscaling.yaml", catalog=catalog)
    timed = tuple(
        TimedPod(TracePod(f"p{index}", 1000, 1024, 1, 1000), arrival, duration)
        for index, (arrival, duration) in enumerate([(0.0, 600.0)] * 3 + [(700.0, 1000.0)])
    )
    trace = ReplayTrace("tiny", (), timed, GpuModels({"L4": catalog.gpu("l4")}), source="t.csv")
    options = ReplayOptions(autoscaling=ReplayAutoscaling(config, catalog))
    result = replay(trace, "fgd", 1, options, observer=observe)
    assert cordons[:3] == [(121.0, False), (805.0, True), (865.0, False)]
    assert cordons[-1][1] is False
    assert outcomes(result)[3] == (700.0, 1700.0, "gpu-0000") and not result.evictions


def test_do_not_disrupt_pods_keep_their_node_from_consolidation(catalog: Catalog) -> None:
    # As above, with every trace pod annotated karpenter.sh/do-not-disrupt: the l4x4 is
    # not replaced while the fourth pod runs there; it leaves empty once the pod ends.
    text = config_text() + 'tracePods: {annotations: {karpenter.sh/do-not-disrupt: "true"}}\n'
    result = run(catalog, text, [(0.0, 600.0)] * 3 + [(700.0, 1000.0)])
    summary = result.autoscaling
    assert summary is not None
    assert outcomes(result)[3] == (700.0, 1700.0, "gpu-0000")
    assert (summary.evicted_pods, summary.scale_ups) == (0, 1)
    assert summary.disrupted_by_method == {"Emptiness": 1}


def test_a_consolidation_whose_node_empties_before_validation_is_dropped(
    catalog: Catalog,
) -> None:
    # As above, but the fourth pod ends at 800 s, before the 805 s validation: the what-if
    # now needs no replacement, so the command is dropped and the pod is never evicted; the
    # node leaves empty (chosen at 810 s, validated at 825 s).
    result = run(catalog, config_text(), [(0.0, 600.0)] * 3 + [(700.0, 100.0)])
    summary = result.autoscaling
    assert summary is not None
    assert outcomes(result)[3] == (700.0, 800.0, "gpu-0000")
    assert (summary.evicted_pods, summary.scale_ups) == (0, 1)
    assert summary.disrupted_by_method == {"Emptiness": 1}
    assert summary.fleet_size == ((181.0, 1), (825.0, 0))


def test_consolidate_after_never_keeps_the_node(catalog: Catalog) -> None:
    pool = "{name: gpu, shapes: [l4x2, l4x4], disruption: {consolidateAfter: Never}}"
    result = run(catalog, config_text(pool=pool), [(0.0, 600.0)] * 3 + [(700.0, 100.0)])
    summary = result.autoscaling
    assert summary is not None
    assert outcomes(result)[3] == (700.0, 800.0, "gpu-0000")
    assert (summary.scale_downs, summary.evicted_pods, summary.nodes_removed) == (0, 0, 0)
    assert summary.fleet_size == ((181.0, 1),)


def test_a_spot_notice_drains_the_node_at_once_and_the_pod_runs_on_a_new_one(
    catalog: Catalog,
) -> None:
    pool = "{name: gpu, shapes: [l4x2], capacityTypes: [spot]}"
    extra = "\n  interruption: {ratePerHour: 6}"
    result = run(catalog, config_text(pool=pool, extra=extra), [(0.0, 600.0)], seed=5)
    summary = result.autoscaling
    assert summary is not None
    (pod,) = result.pods
    assert summary.interruptions >= 1
    assert summary.evicted_pods >= 1
    assert {e.cause for e in result.evictions} == {EvictionCause.SPOT_INTERRUPTION}
    assert pod.state is PodState.COMPLETED and pod.start is not None and pod.start > 181.0
    assert set(summary.billed_usd) == {"spot"}
    # Each interruption ends a node where its notice came: no 120 s wait.
    sizes = [size for _, size in summary.fleet_size]
    assert sizes[-1] == 0 and sizes.count(1) == summary.interruptions + 1


def test_skipping_quiet_loops_changes_nothing_and_runs_are_deterministic(
    catalog: Catalog,
) -> None:
    pool = "{name: gpu, shapes: [l4x2, l4x4], disruption: {consolidationPolicy: WhenEmpty}}"
    text = config_text(pool=pool, provisioning=RANDOM)
    pods: list[tuple[float, float | None]] = [
        (0.0, 400.0),
        (5.0, 300.0),
        (30.0, None),
        (200.0, 900.0),
        (900.0, 200.0),
        (905.0, 60.0),
    ]
    remembered = run(catalog, text, pods, seed=2)
    again = run(catalog, text, pods, seed=2)
    plain = run(catalog, text, pods, seed=2, remember_quiet_loops=False)
    assert outcomes(remembered) == outcomes(again) == outcomes(plain)
    a, b = remembered.autoscaling, plain.autoscaling
    assert a is not None and b is not None
    assert a == again.autoscaling
    assert (a.fleet_size, a.billed_usd, a.scale_ups, a.disrupted_by_method) == (
        b.fleet_size,
        b.billed_usd,
        b.scale_ups,
        b.disrupted_by_method,
    )
    assert a.loops < b.loops and a.loops_skipped > 0
    other = run(catalog, text, pods, seed=3)
    assert outcomes(other) != outcomes(remembered)
