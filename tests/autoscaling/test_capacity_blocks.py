"""Capacity blocks (`block` offerings, spec §6, §12): nodes exist only inside the block's
[start, end) window and are deleted at `end`, in cluster-autoscaler and karpenter modes; a
deletion scheduled ahead (a block's end) leaves the node active until then: it still times
out at start-up, may be consolidated, and counts against no disruption budget.

The block is 4 L4 GPUs open from 20 min to 2 h of the run (1200 s to 7200 s)."""

from __future__ import annotations

import pytest
from autoscalingkit import (
    FAST,
    World,
    autoscaler,
    config_text,
    gpu_claim,
    gpu_pod,
    load,
    shapes_text,
)

from dralloc.api.core import Pod
from dralloc.autoscaling.clusterautoscaler import UnschedulablePod, view_of
from dralloc.autoscaling.config import CapacityType, Provisioning
from dralloc.autoscaling.decisions import (
    FailedScaleUpReason,
    NoScaleUp,
    NoScaleUpReason,
    ScaleUp,
    ScaleUpFailure,
)
from dralloc.autoscaling.fleet import Fleet
from dralloc.autoscaling.karpenter import Karpenter, KarpenterResult
from dralloc.autoscaling.lifecycle import NodeLifecycle, NodePhase
from dralloc.devices import load_catalog
from dralloc.devices.catalog import Catalog
from dralloc.errors import InputError

START, END = 1200.0, 7200.0
WINDOW = "{block: {start: 20m, end: 2h}}"


def block_shape(devices: str = "fixed:60") -> str:
    provisioning = FAST.replace('devices: "fixed:60"', f'devices: "{devices}"')
    return (
        f"- name: l4blk\n  shape: l4\n  gpus: 4\n  price: {{block: 1.0}}\n"
        f"  availability: {WINDOW}\n  provisioning: {provisioning}\n"
    )


def karpenter_text(capacity_types: str) -> str:
    """One NodePool of the 4-GPU L4 shape, $4 on demand, $1 in the block."""
    shapes = shapes_text("{onDemand: 4.0, block: 1.0}", l4x4_more=f"  availability: {WINDOW}\n")
    return (
        "apiVersion: dralloc.io/v1alpha1\nkind: Autoscaling\nmode: karpenter\n"
        f"{shapes}nodePools:\n"
        f"- {{name: gpu, shapes: [l4x4], capacityTypes: {capacity_types}}}\n"
    )


GROUPS = "- {name: l4-block, shape: l4blk, max: 2, capacityType: block}\n"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def test_a_deletion_scheduled_ahead_starts_then_and_an_earlier_one_replaces_it() -> None:
    node = NodeLifecycle.request("n", "l4", 0.0, Provisioning(), seed=1)
    gone = node.delete(END)
    assert not node.is_deleting(END - 1) and node.is_deleting(END)
    assert node.phase_at(END - 1) is NodePhase.DEVICES_PUBLISHED
    # A scale-down before the block's end deletes it then, with its own drain.
    earlier = node.delete(3000.0, drain_seconds=10.0)
    assert earlier < gone and node.deleting_at == 3000.0
    assert [t.phase for t in node.transitions()][-2:] == [NodePhase.DELETING, NodePhase.GONE]
    assert [t.time for t in node.transitions()][-2] == 3000.0
    assert node.delete(END) == earlier  # a later deletion still changes nothing


def test_cluster_autoscaler_launches_block_nodes_only_inside_the_window(catalog: Catalog) -> None:
    config = load(config_text(GROUPS, extra_shape=block_shape()), catalog)
    world = World(autoscaler(config, catalog))
    world.claims["default/c"] = gpu_claim("c", count=4)
    pending = [(gpu_pod("p", "c"), 50.0)]
    before = world.run(100.0, pending)
    assert [d.reasons for d in before if isinstance(d, NoScaleUp)] == [
        {"l4-block": NoScaleUpReason.BLOCK_CLOSED}
    ]
    assert not any(isinstance(d, ScaleUp) for d in before)
    ups = [d for d in world.run(START + 100.0, pending) if isinstance(d, ScaleUp)]
    assert [(u.group, u.capacity_type) for u in ups] == [("l4-block", CapacityType.BLOCK)]
    node = world.ca.fleet.nodes()[0]
    # Scheduled for deletion at the block's end: a replay drains it then.
    assert node.lifecycle.deleting_at == END
    assert (END, NodePhase.DELETING) in [(t.time, t.phase) for t in node.lifecycle.transitions()]
    # Until then it is ready, not leaving, and holds the pod: no second scale-up.
    now = END - 600.0
    view = view_of(world.ca.fleet, world.ca.templates, now, world.cluster_at(now))
    assert [n.name for n in view.ready] == [node.name] and view.leaving == ()
    world.bind(now, [pending[0][0]])
    assert not any(isinstance(d, ScaleUp) for d in world.run(now))
    # At the end it is leaving, and the window is shut: no new block node.
    view = view_of(world.ca.fleet, world.ca.templates, END, world.cluster_at(END))
    assert [n.name for n in view.leaving] == [node.name]
    world.running = []
    after = world.run(END + 10.0, pending)
    assert not any(isinstance(d, ScaleUp) for d in after)
    assert world.ca.status(END + 10.0)


def test_a_block_node_still_times_out_before_the_blocks_end(catalog: Catalog) -> None:
    config = load(config_text(GROUPS, extra_shape=block_shape("fixed:2400")), catalog)
    world = World(autoscaler(config, catalog))
    world.claims["default/c"] = gpu_claim("c", count=4)
    pending = [(gpu_pod("p", "c"), 50.0)]
    assert any(isinstance(d, ScaleUp) for d in world.run(START, pending))
    node = world.ca.fleet.nodes()[0]
    # Registered at START + 90, devices not by + maxNodeStartupTime (15 min): given up.
    at = START + 90.0 + 900.0
    failures = [d for d in world.run(at, pending) if isinstance(d, ScaleUpFailure)]
    assert [(f.reason, f.nodes) for f in failures] == [(FailedScaleUpReason.TIMEOUT, (node.name,))]
    assert node.lifecycle.deleting_at == at
    assert node.lifecycle.gone_at is not None and node.lifecycle.gone_at < END


def test_karpenter_offers_a_block_only_inside_its_window(catalog: Catalog) -> None:
    config = load(karpenter_text("[block, on-demand]"), catalog)
    world = World(Karpenter(config, Fleet(config, seed=7), catalog, seed=7))  # type: ignore[arg-type]
    before = [four_gpu_pod(world, "early")]
    karpenter_loop(world, 100.0, before)
    first = karpenter_loop(world, 101.0, before)
    assert [(x.offering.shape, x.offering.capacity_type) for x in first.launches] == [
        ("l4x4", CapacityType.ON_DEMAND)
    ]
    # Still outside the window a minute before it opens: nothing cheaper to move to.
    world.bind(START - 60.0, before)
    assert karpenter_loop(world, START - 60.0, []).disruptions == []
    # Once it opens, consolidation decides to move the pod to the cheaper block node and,
    # validated 15 s later, launches it.
    assert karpenter_loop(world, START, []).disruptions == []
    moved = karpenter_loop(world, START + 15.0, [])
    assert [(r.offering.shape, r.offering.capacity_type) for r in moved.replacements] == [
        ("l4x4", CapacityType.BLOCK)
    ]
    block_node = world.ca.fleet.nodes()[-1]
    assert block_node.capacity_type is CapacityType.BLOCK
    assert block_node.lifecycle.deleting_at == END
    # Not leaving before its end (consolidation and budgets see a live node); leaving at it.
    view = view_of(world.ca.fleet, world.ca.templates, END - 1.0, world.cluster_at(END - 1.0))
    assert block_node.name in [n.name for n in view.ready]
    view = view_of(world.ca.fleet, world.ca.templates, END, world.cluster_at(END))
    assert block_node.name in [n.name for n in view.leaving]


def four_gpu_pod(world: World, name: str) -> Pod:
    world.claims[f"default/{name}"] = gpu_claim(name, count=4)
    return gpu_pod(name, name)


def karpenter_loop(world: World, now: float, pending: list[Pod]) -> KarpenterResult:
    k = world.ca
    assert isinstance(k, Karpenter)
    return k.run_once(now, world.cluster_at(now), [UnschedulablePod(p, now) for p in pending])


def test_an_empty_block_node_is_consolidated_before_its_end(catalog: Catalog) -> None:
    config = load(karpenter_text("[block]"), catalog)
    k = Karpenter(config, Fleet(config, seed=7), catalog, seed=7)
    world = World(k)  # type: ignore[arg-type]
    node = k.fleet.request_offering("gpu", "l4x4", CapacityType.BLOCK, START)
    assert node.deleting_at == END
    # Devices published at START + 180; its deletion at the block's end has not started, so
    # the empty node is a candidate (consolidateAfter 0) and counts against no budget.
    # Chosen at START + 300, deleted once validated 15 s later.
    karpenter_loop(world, START + 300.0, [])
    result = karpenter_loop(world, START + 315.0, [])
    assert [(d.method, d.nodes) for d in result.disruptions] == [("Emptiness", (node.name,))]
    assert node.deleting_at == START + 315.0


def test_a_block_group_holds_no_minimum(catalog: Catalog) -> None:
    groups = GROUPS.replace("max: 2", "min: 1, max: 2")
    with pytest.raises(InputError) as caught:
        load(config_text(groups, extra_shape=block_shape()), catalog)
    assert "nodeGroups[0].min: must be 0 for a capacity block" in str(caught.value)
