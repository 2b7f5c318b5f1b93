"""An autoscaled fleet in the replay (`dralloc.sim.replay.autoscaled`): pods pending at the
start scale a group up and run once the new node's devices are published (not at Ready),
idle nodes leave after scaleDownUnneededTime, the run is deterministic with its seed, static
mode equals a fixed cluster of the same nodes, skipping quiet loops changes nothing, and pods
of a node interrupted while they run are evicted and run again on a new node.

Tiny traces: a few one-GPU pods, one group of L4 nodes with 2 fractional GPUs and fixed
delays (launch 60 s, register 30 s, ready 30 s, devices 60 s: a node requested at t is Ready
at t + 120 s and publishes its devices at t + 180 s)."""

from __future__ import annotations

import pytest
from autoscalekit import FAST, autoscaling_text, shape

from dralloc.autoscaling import parse_autoscaling_text
from dralloc.devices import load_catalog
from dralloc.devices.catalog import Catalog
from dralloc.errors import InputError
from dralloc.scheduler.cache import SchedulerCache
from dralloc.sim.replay import PodState, ReplayOptions, ReplayResult, replay
from dralloc.sim.replay.autoscaled import ReplayAutoscaling
from dralloc.sim.replay.evictions import EvictionCause
from dralloc.sim.traces import ReplayTrace, TimedPod, TraceNode, TracePod
from dralloc.sim.traces.model import GpuModels

SLOW_AND_RANDOM = (
    '{launch: "uniform:30-90", register: "fixed:30", ready: "lognormal:30,0.5", '
    'devices: "uniform:20-80"}'
)


def config_text(
    mode: str = "cluster-autoscaler",
    group: str = "{name: l4, shape: l4x2, max: 3}",
    options: str = "{scaleDownUnneededTime: 300}",
    provisioning: str = FAST,
    sharing: str = "fractional",
) -> str:
    return autoscaling_text(
        mode,
        shapes=[shape(sharing=sharing, provisioning=provisioning)],
        groups=[f"- {group}\n"],
        options=options,
    )


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def models(catalog: Catalog) -> GpuModels:
    return GpuModels({"L4": catalog.gpu("l4")})


def trace(
    catalog: Catalog,
    pods: list[tuple[float, float | None]],
    nodes: tuple[TraceNode, ...] = (),
) -> ReplayTrace:
    timed = tuple(
        TimedPod(TracePod(f"p{index}", 1000, 1024, 1, 1000), arrival, duration)
        for index, (arrival, duration) in enumerate(pods)
    )
    return ReplayTrace("tiny", nodes, timed, models(catalog), source="tiny.csv")


def run(
    catalog: Catalog, text: str, pods: list[tuple[float, float | None]], seed: int = 1, **kw: bool
) -> ReplayResult:
    config = parse_autoscaling_text(text, "autoscaling.yaml", catalog=catalog)
    options = ReplayOptions(autoscaling=ReplayAutoscaling(config, catalog, **kw))
    return replay(trace(catalog, pods), "fgd", seed, options)


def starts(result: ReplayResult) -> list[tuple[float | None, float | None, PodState]]:
    return [(p.start, p.end, p.state) for p in result.pods]


def test_pending_pods_scale_up_and_run_once_the_node_publishes_its_devices(
    catalog: Catalog,
) -> None:
    seen: list[tuple[float, int, int]] = []

    def observe(time: float, cache: SchedulerCache) -> None:
        seen.append((time, len(cache.nodes), len(cache.pods)))

    config = parse_autoscaling_text(config_text(), "autoscaling.yaml", catalog=catalog)
    options = ReplayOptions(autoscaling=ReplayAutoscaling(config, catalog))
    result = replay(trace(catalog, [(0.0, 600.0)] * 3), "fgd", 1, options, observer=observe)
    summary = result.autoscaling
    assert summary is not None
    # At 0 s the pods are too new (CA waits 2 s); the 10 s loop asks for 2 nodes (3 GPUs).
    assert (summary.scale_ups, summary.nodes_requested, summary.nodes_launched) == (1, 2, 2)
    # Requested at 10 s: Ready at 130 s (in the cluster, no devices), devices at 190 s.
    assert (130.0, 2, 0) in seen
    assert [p.start for p in result.pods] == [190.0, 190.0, 190.0]
    assert summary.fleet_size[0] == (190.0, 2)
    assert {p.state for p in result.pods} == {PodState.COMPLETED}
    # The replay's nodes publish their template's copy: none mismatches it.
    assert summary.template_mismatches == 0


def test_idle_nodes_leave_after_the_unneeded_time(catalog: Catalog) -> None:
    result = run(catalog, config_text(), [(0.0, 600.0)] * 3)
    summary = result.autoscaling
    assert summary is not None
    # The pods end at 790 s; the nodes are unneeded from the 790 s loop, deleted at 1090 s
    # (300 s later) and gone after the default terminate delay.
    assert summary.fleet_size == ((190.0, 2), (1090.0, 0))
    assert (summary.scale_downs, summary.nodes_removed) == (2, 2)
    assert result.end_time > 1090.0
    # Billed from launch (70 s) to gone, per second, at 2 USD per node-hour.
    gone = result.end_time
    assert summary.billed_usd == {"on-demand": pytest.approx(2 * 2.0 * (gone - 70.0) / 3600)}
    assert summary.node_hours == pytest.approx(2 * (gone - 70.0) / 3600)
    assert result.capacity_gpu_hours["L4"] == pytest.approx(2 * summary.node_hours)


def test_a_pod_arriving_later_reuses_the_node_before_it_leaves(catalog: Catalog) -> None:
    # The second pod arrives while the first node is still up: no second scale-up.
    result = run(catalog, config_text(), [(0.0, 300.0), (600.0, 100.0)])
    summary = result.autoscaling
    assert summary is not None
    assert summary.scale_ups == 1
    assert starts(result)[1] == (600.0, 700.0, PodState.COMPLETED)


def test_the_run_is_deterministic_with_its_seed(catalog: Catalog) -> None:
    text = config_text(provisioning=SLOW_AND_RANDOM)
    pods: list[tuple[float, float | None]] = [(0.0, 400.0), (5.0, 300.0), (900.0, 200.0)]
    first = run(catalog, text, pods, seed=3)
    again = run(catalog, text, pods, seed=3)
    other = run(catalog, text, pods, seed=4)
    assert starts(first) == starts(again)
    assert first.autoscaling == again.autoscaling
    # Another seed draws other delays, so the pods start at other times.
    assert starts(first) != starts(other)


def test_static_mode_equals_a_fixed_cluster_of_the_same_nodes(catalog: Catalog) -> None:
    text = config_text(mode="static", group="{name: l4, shape: l4x2, min: 2, max: 2}")
    pods: list[tuple[float, float | None]] = [(0.0, 500.0)] * 3 + [(10.0, 100.0)] * 3
    static = run(catalog, text, pods)
    template = ReplayAutoscaling(
        parse_autoscaling_text(text, "a.yaml", catalog=catalog), catalog
    ).config.templates(catalog)["l4x2"]
    allocatable = template.node.status.allocatable
    cpu = round(allocatable["cpu"].as_approximate_float() * 1000)
    memory = allocatable["memory"].ceil_int() >> 20
    fixed_nodes = tuple(TraceNode(f"n{i}", cpu, memory, 2, "L4") for i in range(2))
    fixed = replay(trace(catalog, pods, fixed_nodes), "fgd", 1)
    assert starts(static) == starts(fixed)
    # 4 GPUs: three long pods hold three, the short ones take the fourth in turn; nothing is
    # requested or removed.
    assert [start for start, _, _ in starts(static)] == [0.0, 0.0, 0.0, 10.0, 110.0, 210.0]
    summary = static.autoscaling
    assert summary is not None
    assert (summary.scale_ups, summary.nodes_requested, summary.nodes_removed) == (0, 0, 0)
    assert summary.fleet_size == ((0.0, 2),)


def test_skipping_quiet_loops_changes_nothing(catalog: Catalog) -> None:
    text = config_text(provisioning=SLOW_AND_RANDOM)
    pods: list[tuple[float, float | None]] = [
        (0.0, 400.0),
        (5.0, 300.0),
        (30.0, None),
        (900.0, 200.0),
        (905.0, 900.0),
    ]
    remembered = run(catalog, text, pods, seed=2)
    plain = run(catalog, text, pods, seed=2, remember_quiet_loops=False)
    assert starts(remembered) == starts(plain)
    a, b = remembered.autoscaling, plain.autoscaling
    assert a is not None and b is not None
    assert (a.fleet_size, a.billed_usd, a.scale_ups, a.scale_downs) == (
        b.fleet_size,
        b.billed_usd,
        b.scale_ups,
        b.scale_downs,
    )
    assert a.loops + a.loops_skipped < b.loops  # fewer ticks, and some skipped


def test_a_shape_the_pods_cannot_use_is_refused_naming_the_field(catalog: Catalog) -> None:
    with pytest.raises(InputError) as error:
        run(catalog, config_text(sharing="exclusive"), [(0.0, 10.0)])
    assert "autoscaling.yaml: Autoscaling: shapes[0].sharing: " in str(error.value)


def test_a_spot_interruption_evicts_the_pods_at_the_deadline_and_they_run_again(
    catalog: Catalog,
) -> None:
    text = config_text(
        group="{name: l4, shape: l4x2, max: 1, capacityType: spot}",
        options="{scaleDownEnabled: false}",
    ).replace("price: {onDemand: 2.0}", "price: {spot: 0.8}\n  interruption: {ratePerHour: 6}")
    result = run(catalog, text, [(0.0, 600.0)], seed=5)
    summary = result.autoscaling
    assert summary is not None
    (pod,) = result.pods
    # l4-0000's notice comes at 187.8 s (before its devices, at 190 s), so the pod starts
    # there and is evicted 120 s later, at 307.8 s; it is re-queued and CA asks for a node
    # again. l4-0001 (published at 490 s) gets its notice at 691.3 s: evicted again at
    # 811.3 s. The third node publishes at 1000 s and the pod runs its 600 s to the end.
    assert summary.fleet_size == (
        (190.0, 1),
        (pytest.approx(307.805, abs=1e-3), 0),
        (490.0, 1),
        (pytest.approx(811.311, abs=1e-3), 0),
        (1000.0, 1),
    )
    assert summary.evicted_pods == 2
    assert (pod.start, pod.end, pod.node, pod.state) == (
        1000.0,
        1600.0,
        "l4-0002",
        PodState.COMPLETED,
    )
    assert set(summary.billed_usd) == {"spot"}
    # A notice is a timer: the loop that sees it runs even when nothing else changed.
    plain = run(catalog, text, [(0.0, 600.0)], seed=5, remember_quiet_loops=False)
    assert starts(plain) == starts(result)
    assert plain.autoscaling is not None and plain.autoscaling.fleet_size == summary.fleet_size


def test_the_trace_nodes_may_stay_beside_the_fleet(catalog: Catalog) -> None:
    config = parse_autoscaling_text(config_text(), "autoscaling.yaml", catalog=catalog)
    scaling = ReplayAutoscaling(config, catalog, keep_trace_nodes=True)
    own = (TraceNode("own-0", 16000, 65536, 1, "L4"),)
    result = replay(
        trace(catalog, [(0.0, 600.0)] * 2, own), "fgd", 1, ReplayOptions(autoscaling=scaling)
    )
    # The trace's node takes the first pod at once; the second waits for a new node.
    assert [(p.start, p.node) for p in result.pods] == [(0.0, "own-0"), (190.0, "l4-0000")]


def test_nodes_that_never_register_in_time_back_off_and_the_run_ends(catalog: Catalog) -> None:
    text = config_text(provisioning='{launch: "fixed:1200"}', options="{maxNodeProvisionTime: 600}")
    result = run(catalog, text, [(0.0, 100.0)])
    summary = result.autoscaling
    assert summary is not None
    # Requested at 10 s, given up at 610 s (timeout), backed off 5 min: again at 910 s, given
    # up at 1510 s, backed off 10 min: again at 2110 s, given up at 2710 s; the run ends
    # there (CA would go on retrying), the pod never ran, nothing was billed.
    assert (summary.scale_ups, summary.failed_scale_ups) == (3, 3)
    assert result.end_time == 2710.0
    assert [p.state for p in result.pods] == [PodState.PENDING]
    assert summary.billed_total == 0.0


def test_a_node_held_at_the_group_minimum_lets_the_run_end(catalog: Catalog) -> None:
    # The group's one minimum node is unneeded once its pod ends, but it may never leave
    # (NodeGroupMinSizeReached): nothing is left for a later loop to do, so the loops stop
    # and the run ends (it once ticked every scan interval forever).
    group = "{name: l4, shape: l4x2, min: 1, max: 3}"
    result = run(catalog, config_text(group=group), [(0.0, 600.0)])
    summary = result.autoscaling
    assert summary is not None
    assert summary.scale_downs == 0
    assert result.end_time < 600.0 + 2 * 300.0
    assert summary.loops < 60
    assert {p.state for p in result.pods} == {PodState.COMPLETED}


def test_a_capacity_block_node_that_never_registers_times_out_as_any_other(
    catalog: Catalog,
) -> None:
    # A block node's deletion is scheduled at the block's end from its request on; until then
    # it is live: it times out, backs off and is retried as the on-demand node above.
    text = config_text(
        provisioning='{launch: "fixed:1200"}',
        options="{maxNodeProvisionTime: 600}",
        group="{name: l4, shape: l4x2, max: 3, capacityType: block}",
    ).replace(
        "price: {onDemand: 2.0}",
        "price: {block: 1.0}\n  availability: {block: {start: 0s, end: 4h}}",
    )
    result = run(catalog, text, [(0.0, 100.0)])
    summary = result.autoscaling
    assert summary is not None
    assert (summary.scale_ups, summary.failed_scale_ups) == (3, 3)
    assert result.end_time == 2710.0
    assert [p.state for p in result.pods] == [PodState.PENDING]


def test_a_capacity_block_s_end_evicts_its_pods_for_that_cause(catalog: Catalog) -> None:
    # The block ends at 10 min: the pod running there since 190 s is evicted then and waits
    # (the window is closed, nothing more to launch).
    text = config_text(group="{name: l4, shape: l4x2, max: 1, capacityType: block}").replace(
        "price: {onDemand: 2.0}",
        "price: {block: 1.0}\n  availability: {block: {start: 0s, end: 10m}}",
    )
    result = run(catalog, text, [(0.0, 3600.0)])
    assert [(e.node, e.start, e.time, e.cause) for e in result.evictions] == [
        ("l4-0000", 190.0, 600.0, EvictionCause.CAPACITY_BLOCK_END)
    ]


def test_trace_pods_are_a_job_s_pods_so_scale_down_drains_a_half_used_node(
    catalog: Catalog,
) -> None:
    # Two pods that never end on two nodes (a 20-minute pod fills the first node while the
    # second arrives): each node is half used, below a 0.6 threshold.
    pods: list[tuple[float, float | None]] = [(0.0, None), (0.0, 1200.0), (300.0, None)]
    options = (
        "{scaleDownUnneededTime: 300, scaleDownUtilizationThreshold: 0.6, "
        "scaleDownGpuUtilizationThreshold: 0.6}"
    )
    owned = run(catalog, config_text(options=options), pods)
    orphans = run(catalog, config_text(options=options), pods, job_owners=False)
    a, b = owned.autoscaling, orphans.autoscaling
    assert a is not None and b is not None
    # As a Job's pod, one is moved (evicted and run again) and its node removed; without an
    # owner it keeps its node (NotReplicated).
    assert (a.scale_downs, a.evicted_pods, a.nodes_removed) == (1, 1, 1)
    assert [e.cause for e in owned.evictions] == [EvictionCause.SCALE_DOWN]
    assert (b.scale_downs, b.evicted_pods, b.nodes_removed) == (0, 0, 0)
    assert [p.node for p in owned.pods if p.state is PodState.RUNNING] == ["l4-0001"] * 2
    assert (a.fleet_size[-1][1], b.fleet_size[-1][1]) == (1, 2)
    # Batch pods marked not safe to evict keep their nodes as pods without an owner do.
    kept = config_text(options=options) + (
        'tracePods: {annotations: {cluster-autoscaler.kubernetes.io/safe-to-evict: "false"}}\n'
    )
    c = run(catalog, kept, pods).autoscaling
    assert c is not None
    assert (c.scale_downs, c.evicted_pods, c.nodes_removed) == (0, 0, 0)


def test_nodes_kept_forever_are_reported_with_their_hours_and_cost(catalog: Catalog) -> None:
    # Two start-up nodes (min 2): a pod that never ends holds one, the min the other.
    pods: list[tuple[float, float | None]] = [(0.0, None), (0.0, 1200.0), (0.0, 1200.0)]
    text = config_text(group="{name: l4, shape: l4x2, min: 2, max: 3}")
    result = run(catalog, text, pods)
    summary = result.autoscaling
    assert summary is not None and summary.nodes_removed == 0
    kept = summary.kept_forever
    assert set(kept) == {"MinSize", "NeverEndingPods"}
    endless = next(p.node for p in result.pods if p.end is None)
    assert kept["NeverEndingPods"].nodes == (endless,)
    assert set(kept["MinSize"].nodes) == {"l4-0000", "l4-0001"} - {endless}
    hours = result.end_time / 3600.0
    for each in kept.values():
        assert each.node_hours == pytest.approx(hours)
        assert each.billed_usd == pytest.approx(2.0 * hours)
    # Without a min or an endless pod, nothing is kept.
    quiet = run(catalog, config_text(), [(0.0, 600.0)]).autoscaling
    assert quiet is not None and quiet.kept_forever == {}
