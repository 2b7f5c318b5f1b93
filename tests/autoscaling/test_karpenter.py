"""karpenter mode (spec §5): batching, NodeClaims whose candidate shapes narrow as pods join
(a MIG claim narrows to the MIG shape), pool weights, limits and capacity-type preference;
disruption by emptiness, drift, multi- and single-node consolidation under budgets, expiry
(a command is carried out 15 s after it is decided, once validated again; a replacement is
waited for); and the count of pods upstream Karpenter would not have provisioned for.

Shapes are L4 nodes with 4 or 8 whole GPUs ($4 and $8 an hour on demand, the 4-GPU one $1.5
spot) and a DGX H100 with static MIG (all-1g.10gb); clusters hold at most three nodes."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import pytest
from autoscalingkit import World, gpu_claim, gpu_pod, load, shapes_text

from dralloc.api.core import Pod
from dralloc.autoscaling.clusterautoscaler import UnschedulablePod
from dralloc.autoscaling.config import AutoscalingConfig, CapacityType, DisruptionReason
from dralloc.autoscaling.disruption import allowed, is_initialized
from dralloc.autoscaling.fleet import Fleet
from dralloc.autoscaling.karpenter import Karpenter, KarpenterResult, UpstreamGap
from dralloc.autoscaling.planning import PlanningSnapshot
from dralloc.devices import load_catalog
from dralloc.devices.catalog import Catalog


def karpenter_text(pools: str, options: str = "{}") -> str:
    return f"""\
apiVersion: dralloc.io/v1alpha1
kind: Autoscaling
mode: karpenter
{SHAPES}nodePools:
{pools}
options: {options}
"""


SHAPES = shapes_text(
    "{onDemand: 4.0, spot: 1.5, reserved: 3.0}", l4x4_more="  availability: {reserved: 1}\n"
)
ALL = "- {name: gpu, shapes: [l4x4, l4x8, h100-mig]}\n"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def karpenter(text: str, catalog: Catalog) -> tuple[Karpenter, World]:
    config: AutoscalingConfig = load(text, catalog)
    k = Karpenter(config, Fleet(config, seed=7), catalog, seed=7)
    return k, World(k)  # type: ignore[arg-type]  # World reads only .fleet and .templates


def run(
    world: World, now: float, pending: Sequence[Pod] = (), since: float = 0.0
) -> KarpenterResult:
    k = world.ca
    assert isinstance(k, Karpenter)
    return k.run_once(now, world.cluster_at(now), [UnschedulablePod(p, since) for p in pending])


def pods(
    world: World, count: int, gpus: int = 4, device_class: str = "gpu.nvidia.com"
) -> list[Pod]:
    out = []
    for index in range(count):
        name = f"{device_class.split('.')[0]}{gpus}-{index}"
        world.claims[f"default/{name}"] = gpu_claim(name, count=gpus, device_class=device_class)
        out.append(gpu_pod(name, name))
    return out


def launched(result: KarpenterResult) -> list[tuple[str, str, str, tuple[str, ...]]]:
    return [
        (x.offering.shape, x.offering.capacity_type, x.pool, x.candidates) for x in result.launches
    ]


def test_a_batch_waits_for_the_idle_window_and_is_capped_by_the_max(catalog: Catalog) -> None:
    _, world = karpenter(karpenter_text(ALL), catalog)
    batch = pods(world, 1)
    assert run(world, 100.0, batch).batch_open
    assert run(world, 100.5, batch).launches == []
    assert launched(run(world, 101.0, batch)) == [("l4x4", "on-demand", "gpu", ("l4x4", "l4x8"))]
    # Pods arriving every half second keep the window open until batchMaxDuration (10 s).
    _, world = karpenter(karpenter_text(ALL), catalog)
    stream = pods(world, 25)
    for step in range(20):
        result = run(world, 200.0 + step * 0.5, stream[: step + 1])
        assert result.batch_open and not result.launches
    assert len(run(world, 210.0, stream[:21]).launches) > 0


def test_the_cheapest_shape_that_fits_the_whole_batch_is_launched(catalog: Catalog) -> None:
    _, world = karpenter(karpenter_text(ALL), catalog)
    batch = pods(world, 2)
    run(world, 100.0, batch)
    result = run(world, 101.0, batch)
    # The second 4-GPU pod narrows the claim to the 8-GPU shape: one node, not two.
    assert launched(result) == [("l4x8", "on-demand", "gpu", ("l4x8",))]
    assert result.launches[0].pods == ("default/gpu4-0", "default/gpu4-1")
    # In-flight capacity is used: the same pods need nothing more next batch.
    assert run(world, 111.0, batch).launches == []


def test_a_mig_claim_narrows_to_the_mig_shape(catalog: Catalog) -> None:
    _, world = karpenter(karpenter_text(ALL), catalog)
    batch = pods(world, 1, gpus=2, device_class="mig.nvidia.com") + pods(world, 1, gpus=1)
    run(world, 100.0, batch)
    result = run(world, 101.0, batch)
    assert sorted(launched(result)) == [
        ("h100-mig", "on-demand", "gpu", ("h100-mig",)),
        ("l4x4", "on-demand", "gpu", ("l4x4", "l4x8")),
    ]


def test_limits_count_in_flight_nodes(catalog: Catalog) -> None:
    pools = "- {name: gpu, shapes: [l4x4, l4x8], limits: {nodes: 1}}\n"
    _, world = karpenter(karpenter_text(pools), catalog)
    batch = pods(world, 3)
    run(world, 100.0, batch)
    result = run(world, 101.0, batch)
    assert launched(result) == [("l4x8", "on-demand", "gpu", ("l4x8",))]
    assert result.unprovisionable == ("default/gpu4-2",)
    pools = "- {name: gpu, shapes: [l4x4, l4x8], limits: {nvidia.com/gpu: 4}}\n"
    _, world = karpenter(karpenter_text(pools), catalog)
    batch = pods(world, 2)
    run(world, 100.0, batch)
    result = run(world, 101.0, batch)
    assert launched(result) == [("l4x4", "on-demand", "gpu", ("l4x4",))]
    assert result.unprovisionable == ("default/gpu4-1",)


def test_weights_order_pools_and_reserved_then_cheapest_capacity_is_taken(
    catalog: Catalog,
) -> None:
    pools = "- {name: cheap, shapes: [l4x4]}\n- {name: preferred, shapes: [l4x8], weight: 50}\n"
    _, world = karpenter(karpenter_text(pools), catalog)
    batch = pods(world, 1)
    run(world, 100.0, batch)
    assert launched(run(world, 101.0, batch)) == [("l4x8", "on-demand", "preferred", ("l4x8",))]
    pools = "- {name: gpu, shapes: [l4x4], capacityTypes: [on-demand, spot, reserved]}\n"
    _, world = karpenter(karpenter_text(pools), catalog)
    batch = pods(world, 2)
    run(world, 100.0, batch)
    result = run(world, 101.0, batch)
    assert [(x.offering.capacity_type, x.offering.price) for x in result.launches] == [
        (CapacityType.RESERVED, 3.0),  # the one reserved node first
        (CapacityType.SPOT, 1.5),
    ]


def bind_on(world: World, now: float, placements: Sequence[tuple[Pod, str]]) -> None:
    """Bind each pod on the node given, its claims allocated there (as the scheduler would)."""
    snapshot = PlanningSnapshot.of(world.cluster_at(now), world.ca.features)
    for pod, node in placements:
        assert snapshot.place(pod, among=[node]) == node
    world.running = [
        msgspec.structs.replace(p, spec=msgspec.structs.replace(p.spec, node_name=n))
        for p, n in placements
    ]
    world.claims.update(snapshot.built.cache.claims)


def two_half_idle_nodes(catalog: Catalog, pools: str) -> tuple[Karpenter, World]:
    """Two l4x8 nodes ($8 an hour each), one 1-GPU pod on each."""
    k, world = karpenter(karpenter_text(pools), catalog)
    first, second = pods(world, 2, gpus=1)
    k.fleet.request_offering("gpu", "l4x8", CapacityType.ON_DEMAND, 0.0)
    k.fleet.request_offering("gpu", "l4x8", CapacityType.ON_DEMAND, 0.0)
    bind_on(world, 200.0, [(first, "gpu-0000"), (second, "gpu-0001")])
    return k, world


def test_two_underutilized_nodes_are_replaced_by_one_cheaper(catalog: Catalog) -> None:
    pools = (
        "- {name: gpu, shapes: [l4x4, l4x8, h100-mig], disruption: {budgets: [{nodes: 100%}]}}\n"
    )
    k, world = two_half_idle_nodes(catalog, pools)
    assert run(world, 300.0).disruptions == []  # decided: validated 15 s later
    assert [(c.method, c.nodes) for c in k.commands] == [
        ("MultiNodeConsolidation", ("gpu-0000", "gpu-0001"))
    ]
    queued = run(world, 315.0)
    (replacement,) = queued.replacements
    assert replacement.offering.shape == "l4x4"
    # Tainted while the replacement starts (devices published at 495 s), not deleted.
    assert k.marked_for_deletion() == {"gpu-0000", "gpu-0001"}
    assert run(world, 400.0).disruptions == []
    assert all(n.lifecycle.deleting_at is None for n in k.fleet.nodes()[:2])
    (command,) = run(world, 495.0).disruptions
    assert (command.method, command.reason, command.nodes) == (
        "MultiNodeConsolidation",
        "Underutilized",
        ("gpu-0000", "gpu-0001"),
    )
    assert command.replacement == replacement
    assert command.savings == 16.0 - 4.0
    assert all(n.lifecycle.deleting_at == 495.0 for n in k.fleet.nodes()[:2])
    assert "MultiNodeConsolidation" not in [c.method for c in k.commands]
    # Under the default budget (10% of two nodes: one), only one node may go: the
    # single-node method deletes one whose pod fits on the other, with no replacement to
    # wait for.
    k, world = two_half_idle_nodes(catalog, ALL)
    assert run(world, 300.0).disruptions == []
    (command,) = run(world, 315.0).disruptions
    assert (command.method, command.nodes, command.replacement) == (
        "SingleNodeConsolidation",
        ("gpu-0000",),
        None,
    )


def test_single_node_consolidation_deletes_a_node_whose_pods_fit_elsewhere(
    catalog: Catalog,
) -> None:
    pools = "- {name: gpu, shapes: [l4x8], disruption: {budgets: [{nodes: '1'}]}}\n"
    k, world = karpenter(karpenter_text(pools), catalog)
    (pod,) = pods(world, 1, gpus=1)
    k.fleet.request_offering("gpu", "l4x8", CapacityType.ON_DEMAND, 0.0)
    k.fleet.request_offering("gpu", "l4x8", CapacityType.ON_DEMAND, 0.0)
    world.bind(200.0, [pod])
    assert run(world, 300.0).disruptions == []
    result = run(world, 315.0)
    # The empty node goes first (Emptiness), one at a time under the budget.
    assert [(d.method, len(d.nodes)) for d in result.disruptions] == [("Emptiness", 1)]
    assert run(world, 320.0).disruptions == []  # still deleting: the budget is used
    run(world, 400.0)  # gone: the other node's pod has nowhere to go, no cheaper shape
    assert run(world, 415.0).disruptions == [] and k.commands == []


def test_budgets_cap_how_many_empty_nodes_go_at_once(catalog: Catalog) -> None:
    pools = "- {name: gpu, shapes: [l4x4], disruption: {budgets: [{nodes: '2'}]}}\n"
    k, world = karpenter(karpenter_text(pools), catalog)
    for _ in range(3):
        k.fleet.request_offering("gpu", "l4x4", CapacityType.ON_DEMAND, 0.0)
    run(world, 300.0)
    result = run(world, 315.0)
    assert [(d.method, d.nodes) for d in result.disruptions] == [
        ("Emptiness", ("gpu-0000", "gpu-0001"))
    ]
    # Empty, they drain at once: terminating, they no longer count toward the budget (as
    # upstream's InstanceTerminating NodeClaims), so the third goes at the next loop.
    assert run(world, 320.0).disruptions == [] and len(k.commands) == 1
    assert [d.nodes for d in run(world, 335.0).disruptions] == [("gpu-0002",)]


def test_a_budget_percentage_counts_initialized_nodes_not_launching_or_terminating(
    catalog: Catalog,
) -> None:
    # Upstream's BuildDisruptionBudgetMapping: 10 % of 9 initialized nodes is 1, however
    # many replacements are still launching (counting the 2 here would round it up to 2).
    pools = "- {name: gpu, shapes: [l4x4], disruption: {budgets: [{nodes: 10%}]}}\n"
    k, _ = karpenter(karpenter_text(pools), catalog)
    nodes = [k.fleet.request_offering("gpu", "l4x4", CapacityType.ON_DEMAND, 0.0) for _ in range(9)]
    launching = [
        k.fleet.request_offering("gpu", "l4x4", CapacityType.ON_DEMAND, 250.0) for _ in range(2)
    ]
    pool = k.pool("gpu")
    assert allowed(k, pool, DisruptionReason.UNDERUTILIZED, 300.0) == 1
    # An initialized node draining uses the budget up; once drained and terminating it is
    # counted no more (8 nodes: 1 allowed again).
    gone = nodes[0].delete(300.0, drain_seconds=60.0)
    assert allowed(k, pool, DisruptionReason.UNDERUTILIZED, 330.0) == 0
    assert gone - nodes[0].terminate_delay == 360.0
    assert allowed(k, pool, DisruptionReason.UNDERUTILIZED, 360.0) == 1
    # A node deleted before it initialized never counts; the other launching one does once
    # it publishes its devices: 10 % of 9 is 1.
    launching[1].delete(300.0)
    assert not is_initialized(k.fleet.nodes()[-1], 1000.0)
    assert is_initialized(k.fleet.nodes()[-2], 1000.0)
    assert allowed(k, pool, DisruptionReason.UNDERUTILIZED, 1000.0) == 1


def test_when_empty_never_consolidates_and_consolidate_after_waits(catalog: Catalog) -> None:
    pools = (
        "- {name: gpu, shapes: [l4x8, l4x4], "
        "disruption: {consolidationPolicy: WhenEmpty, consolidateAfter: 5m}}\n"
    )
    k, world = karpenter(karpenter_text(pools), catalog)
    (pod,) = pods(world, 1, gpus=1)
    k.fleet.request_offering("gpu", "l4x8", CapacityType.ON_DEMAND, 0.0)
    k.fleet.request_offering("gpu", "l4x8", CapacityType.ON_DEMAND, 0.0)
    world.bind(200.0, [pod])
    assert run(world, 300.0).disruptions == []  # first pod events seen at 300: wait 5 min
    assert k.commands == []
    run(world, 600.0)
    result = run(world, 615.0)
    assert [(d.method, len(d.nodes)) for d in result.disruptions] == [("Emptiness", 1)]
    run(world, 1200.0)
    assert run(world, 1215.0).disruptions == []  # the busy l4x8 is never consolidated


def test_drift_replaces_a_node_its_pool_no_longer_offers_and_expiry_is_forceful(
    catalog: Catalog,
) -> None:
    k, world = karpenter(karpenter_text(ALL), catalog)
    (pod,) = pods(world, 1, gpus=4)
    k.fleet.request_offering("gpu", "l4x8", CapacityType.ON_DEMAND, 0.0)
    world.bind(200.0, [pod])
    # consolidateAfter Never: the replacement (empty in this world, which does not move the
    # pod) stays for expiry to take, not emptiness.
    pools = (
        "- {name: gpu, shapes: [l4x4], expireAfter: 1h, disruption: {consolidateAfter: Never}}\n"
    )
    k.config = load(karpenter_text(pools), catalog)
    result = run(world, 300.0)
    # Drift is not validated: its replacement is launched at once and waited for.
    (replacement,) = result.replacements
    assert replacement.offering.shape == "l4x4" and result.disruptions == []
    (command,) = run(world, 480.0).disruptions
    assert (command.method, command.reason, command.nodes) == ("Drift", "Drifted", ("gpu-0000",))
    assert command.replacement == replacement
    expired = run(world, 3600.0 + 300.0)
    assert [(d.method, d.nodes) for d in expired.disruptions][:1] == [("Expiration", ("gpu-0001",))]


def test_pods_upstream_would_not_provision_for_are_counted(catalog: Catalog) -> None:
    k, world = karpenter(karpenter_text(ALL), catalog)
    batch = pods(world, 2) + pods(world, 1, gpus=1, device_class="mig.nvidia.com")
    run(world, 100.0, batch)
    run(world, 101.0, batch)
    assert dict(k.upstream_unsupported_pods) == {UpstreamGap.DRA_REQUESTS_IGNORED: 3}


def test_a_node_that_never_publishes_its_devices_times_out(catalog: Catalog) -> None:
    k, world = karpenter(karpenter_text(ALL), catalog)
    life = k.fleet.request_offering("gpu", "l4x4", CapacityType.ON_DEMAND, 0.0)
    # Registered at 90 s; its devices would come at 180 s. Say they never do.
    life.devices_published_at = float("inf")
    life._phases = life._planned()
    assert run(world, 900.0).registration_timeouts == ()
    assert run(world, 90.0 + 900.0).registration_timeouts == (life.name,)
    assert life.deleting_at == 990.0


def test_buffer_chunks_are_provisioned_for_in_karpenter_mode(catalog: Catalog) -> None:
    from dralloc.autoscaling.capacitybuffer import CapacityBuffer, buffer_pods
    from dralloc.autoscaling.objects import parse_autoscaling_objects_text

    template = """\
apiVersion: v1
kind: PodTemplate
metadata: {name: chunk, namespace: default}
template:
  spec:
    containers: [{name: main, image: pause}]
    resourceClaims: [{name: gpu, resourceClaimTemplateName: eight}]
---
apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata: {name: eight, namespace: default}
spec:
  spec:
    devices:
      requests: [{name: gpu, exactly: {deviceClassName: gpu.nvidia.com, count: 8}}]
"""
    objects = parse_autoscaling_objects_text(template, "buffers.yaml")
    buffer = CapacityBuffer("default", "warm", template=objects.pod_templates["default/chunk"])
    chunks = buffer_pods(buffer, 1, objects.claim_templates)
    k, world = karpenter(karpenter_text(ALL), catalog)
    now = world.cluster_at(100.0)
    assert k.run_once(100.0, now, [], buffer_pods=chunks).batch_open
    result = k.run_once(101.0, world.cluster_at(101.0), [], buffer_pods=chunks)
    assert launched(result) == [("l4x8", "on-demand", "gpu", ("l4x8",))]
    # Once up, the node holds the chunk: it is not empty, so emptiness leaves it alone.
    for now_s in (300.0, 400.0, 415.0):
        assert k.run_once(now_s, world.cluster_at(now_s), [], buffer_pods=chunks).disruptions == []
    assert k.commands == []
    k.run_once(500.0, world.cluster_at(500.0), [])
    assert k.run_once(515.0, world.cluster_at(515.0), []).disruptions[0].method == "Emptiness"


@pytest.mark.parametrize(
    ("expression", "at", "expected"),
    [
        ("@daily", "2026-12-07T00:00", True),
        ("@daily", "2026-12-07T00:01", False),
        ("0 9 * * 1-5", "2026-12-07T09:00", True),  # a Monday
        ("0 9 * * 1-5", "2026-12-06T09:00", False),  # a Sunday
        ("0 9 * * 7", "2026-12-06T09:00", True),  # 7 is Sunday too
        ("*/15 * * * *", "2026-12-07T10:45", True),
        ("*/15 * * * *", "2026-12-07T10:46", False),
        ("0 0 1 * 1", "2026-12-07T00:00", True),  # day OR weekday when both are set
        ("0 0 1 * 1", "2026-12-08T00:00", False),
    ],
)
def test_cron_schedules_match_as_standard_cron(expression: str, at: str, expected: bool) -> None:
    from datetime import UTC, datetime

    from dralloc.autoscaling.cron import matches

    assert matches(expression, datetime.fromisoformat(at).replace(tzinfo=UTC)) is expected


def test_a_scheduled_budget_blocks_disruption_only_inside_its_window(catalog: Catalog) -> None:
    # No disruption at all from 00:00 for 10 minutes each day; outside it, no limit.
    pools = (
        "- {name: gpu, shapes: [l4x4], disruption: {budgets: "
        "[{nodes: '0', schedule: '@daily', duration: 10m}]}}\n"
    )
    k, world = karpenter(karpenter_text(pools), catalog)
    k.fleet.request_offering("gpu", "l4x4", CapacityType.ON_DEMAND, 0.0)
    k.fleet.request_offering("gpu", "l4x4", CapacityType.ON_DEMAND, 0.0)
    assert run(world, 300.0).disruptions == []  # 00:05 on day one: inside the window
    assert k.commands == []
    run(world, 660.0)
    assert [d.nodes for d in run(world, 675.0).disruptions] == [("gpu-0000", "gpu-0001")]


def test_a_bad_budget_schedule_is_refused_at_its_path(catalog: Catalog) -> None:
    from dralloc.errors import InputError

    pools = (
        "- {name: gpu, shapes: [l4x4], disruption: {budgets: "
        "[{nodes: '0', schedule: '0 25 * * *', duration: 1h}, "
        "{nodes: '1', schedule: 'x * * * *', duration: 1h}]}}\n"
    )
    with pytest.raises(InputError) as caught:
        load(karpenter_text(pools), catalog)
    assert [p.split(": ", 2)[2] for p in str(caught.value).splitlines()] == [
        'nodePools[0].disruption.budgets[0].schedule: hour field "25" must stay within 0-23',
        'nodePools[0].disruption.budgets[1].schedule: minute field "x" is not a number, '
        "range, list or step",
    ]


def test_pods_left_over_are_provisioned_for_again_once_limits_allow(catalog: Catalog) -> None:
    pools = "- {name: gpu, shapes: [l4x4], limits: {nodes: 1}}\n"
    k, world = karpenter(karpenter_text(pools), catalog)
    batch = pods(world, 2)
    run(world, 100.0, batch)
    first = run(world, 101.0, batch)
    assert (len(first.launches), first.unprovisionable) == (1, ("default/gpu4-1",))
    run(world, 111.0, batch)  # the left-over pod opens a new window...
    assert run(world, 112.0, batch).unprovisionable == ("default/gpu4-1",)  # ...still no room
    k.config = load(karpenter_text(pools.replace("nodes: 1", "nodes: 2")), catalog)
    run(world, 121.0, batch)
    assert [x.pods for x in run(world, 122.0, batch).launches] == [("default/gpu4-1",)]
