"""Karpenter's disruption commands on the virtual clock (spec §5.2, upstream's validation and
orchestration queue): a consolidation never counts on a node still starting; a command is
dropped when its node changed before its validation; its replacement is waited for, and a
replacement that fails to launch or does not initialize in 10 min drops the command and
untaints its nodes; a spot notice deletes its node and provisions for its pods at once,
outside budgets.

Shapes are L4 nodes with 4 GPUs ($4 an hour) or 8 ($8); every node publishes its devices 180 s
after its request."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import pytest
from autoscalingkit import World, gpu_claim, gpu_pod, load, shapes_text

from dralloc.api.core import Pod
from dralloc.autoscaling.config import CapacityType
from dralloc.autoscaling.disruption import CommandPhase
from dralloc.autoscaling.fleet import Fleet
from dralloc.autoscaling.karpenter import Karpenter, KarpenterResult
from dralloc.autoscaling.orchestration import QUEUE_TIMEOUT
from dralloc.autoscaling.planning import PlanningSnapshot
from dralloc.devices import load_catalog
from dralloc.devices.catalog import Catalog

EVERY_NODE = "disruption: {budgets: [{nodes: 100%}]}"


def karpenter(
    catalog: Catalog,
    pool: str = EVERY_NODE,
    l4x4_more: str = "",
    offers: str = "shapes: [l4x4, l4x8]",
) -> tuple[Karpenter, World]:
    text = f"""\
apiVersion: dralloc.io/v1alpha1
kind: Autoscaling
mode: karpenter
{shapes_text(l4x4_more=l4x4_more)}nodePools:
- {{name: gpu, {offers}, {pool}}}
"""
    config = load(text, catalog)
    k = Karpenter(config, Fleet(config, seed=7), catalog, seed=7)
    return k, World(k)  # type: ignore[arg-type]  # World reads only .fleet and .templates


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def run(world: World, now: float) -> KarpenterResult:
    k = world.ca
    assert isinstance(k, Karpenter)
    return k.run_once(now, world.cluster_at(now), [])


def bind_on(world: World, now: float, placements: Sequence[tuple[str, int, str]]) -> list[Pod]:
    """Bind a pod asking `gpus` GPUs on each node given, its claim allocated there."""
    for name, gpus, _ in placements:
        world.claims[f"default/{name}"] = gpu_claim(name, count=gpus)
    snapshot = PlanningSnapshot.of(world.cluster_at(now), world.ca.features)
    pods: list[Pod] = []
    for name, _, node in placements:
        pod = gpu_pod(name, name)
        assert snapshot.place(pod, among=[node]) == node
        pods.append(
            msgspec.structs.replace(pod, spec=msgspec.structs.replace(pod.spec, node_name=node))
        )
    world.running = pods
    world.claims.update(snapshot.built.cache.claims)
    return pods


def two_half_idle_l4x8(catalog: Catalog, l4x4_more: str = "") -> tuple[Karpenter, World]:
    """Two $8 l4x8 nodes with a 1-GPU pod each: one $4 l4x4 takes both pods."""
    k, world = karpenter(catalog, l4x4_more=l4x4_more)
    for _ in range(2):
        k.fleet.request_offering("gpu", "l4x8", CapacityType.ON_DEMAND, 0.0)
    bind_on(world, 200.0, [("a", 1, "gpu-0000"), ("b", 1, "gpu-0001")])
    return k, world


def test_consolidation_never_moves_pods_onto_a_node_still_starting(catalog: Catalog) -> None:
    def commands(starting: bool) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
        k, world = karpenter(catalog)
        for _ in range(2):
            k.fleet.request_offering("gpu", "l4x8", CapacityType.ON_DEMAND, 0.0)
        if starting:  # an l4x4 NodeClaim requested at 250 s: devices at 430 s
            k.fleet.request_offering("gpu", "l4x4", CapacityType.ON_DEMAND, 250.0)
        bind_on(world, 200.0, [("half", 4, "gpu-0000"), ("full", 8, "gpu-0001")])
        run(world, 300.0)
        return [(c.method, c.nodes, c.shapes) for c in k.commands]

    # Alone, the half-used l4x8 is replaced by a cheaper l4x4 for its 4-GPU pod.
    assert commands(starting=False) == [("SingleNodeConsolidation", ("gpu-0000",), ("l4x4",))]
    # With an l4x4 starting, the pod would land on it: upstream refuses the command ("would
    # schedule against uninitialized nodeclaim") rather than count on it or replace.
    assert commands(starting=True) == []


def test_a_command_whose_node_gained_a_pod_is_dropped_at_validation(catalog: Catalog) -> None:
    k, world = karpenter(catalog)
    k.fleet.request_offering("gpu", "l4x4", CapacityType.ON_DEMAND, 0.0)
    assert run(world, 300.0).disruptions == []
    (command,) = k.commands
    assert (command.method, command.phase, command.validate_at) == (
        "Emptiness",
        CommandPhase.VALIDATING,
        315.0,
    )
    assert run(world, 310.0).disruptions == []  # the poll decides nothing while validating
    bind_on(world, 312.0, [("late", 1, "gpu-0000")])
    result = run(world, 315.0)
    assert result.disruptions == [] and k.commands == []
    assert [(d.method, d.nodes) for d in result.abandoned] == [("Emptiness", ("gpu-0000",))]
    assert k.fleet.nodes()[0].lifecycle.deleting_at is None


def test_a_replacement_that_fails_to_launch_drops_the_command_and_untaints(
    catalog: Catalog,
) -> None:
    k, world = two_half_idle_l4x8(catalog, l4x4_more="  availability: {launchFailure: 1.0}\n")
    run(world, 300.0)
    (replacement,) = run(world, 315.0).replacements
    assert replacement.offering.shape == "l4x4"
    assert k.marked_for_deletion() == {"gpu-0000", "gpu-0001"}
    # The launch fails at 375 s (request + 60 s launch delay): the command is dropped, its
    # nodes untainted and kept. They may be chosen again at once: the next command plans
    # an l4x8 ($8 for $16), the l4x4 offering being unavailable for 3 min.
    result = run(world, 375.0)
    assert result.failed_launches == (replacement.node,)
    assert [d.method for d in result.abandoned] == ["MultiNodeConsolidation"]
    assert k.marked_for_deletion() == set()
    assert all(n.lifecycle.deleting_at is None for n in k.fleet.nodes()[:2])
    assert [(c.phase, c.nodes, c.shapes) for c in k.commands] == [
        (CommandPhase.VALIDATING, ("gpu-0000", "gpu-0001"), ("l4x8",))
    ]


def test_a_replacement_not_initialized_in_ten_minutes_drops_the_command(
    catalog: Catalog,
) -> None:
    k, world = two_half_idle_l4x8(catalog)
    run(world, 300.0)
    (replacement,) = run(world, 315.0).replacements
    life = next(n.lifecycle for n in k.fleet.nodes() if n.name == replacement.node)
    life.devices_published_at = float("inf")  # its driver never publishes
    life._phases = life._planned()
    assert run(world, 315.0 + QUEUE_TIMEOUT - 1.0).abandoned == []
    assert k.marked_for_deletion() == {"gpu-0000", "gpu-0001"}
    result = run(world, 315.0 + QUEUE_TIMEOUT)
    assert [d.nodes for d in result.abandoned] == [("gpu-0000", "gpu-0001")]
    assert result.disruptions == [] and k.marked_for_deletion() == set()
    assert all(n.lifecycle.deleting_at is None for n in k.fleet.nodes()[:2])


def test_a_tainted_node_is_no_destination_and_counts_against_the_budget(
    catalog: Catalog,
) -> None:
    # One disruption at a time: while the multi-node command waits for its replacement,
    # its two nodes use the budget, so the third (empty) node is not chosen.
    k, world = karpenter(catalog, pool="disruption: {budgets: [{nodes: '2'}]}")
    for _ in range(2):
        k.fleet.request_offering("gpu", "l4x8", CapacityType.ON_DEMAND, 0.0)
    bind_on(world, 200.0, [("a", 1, "gpu-0000"), ("b", 1, "gpu-0001")])
    run(world, 300.0)
    run(world, 315.0)
    assert k.marked_for_deletion() == {"gpu-0000", "gpu-0001"}
    k.fleet.request_offering("gpu", "l4x4", CapacityType.ON_DEMAND, 320.0)  # empty at 500 s
    assert run(world, 480.0).disruptions == []
    assert [c.method for c in k.commands] == ["MultiNodeConsolidation"]
    # The replacement (devices at 495 s) is up: the nodes go, and the budget frees.
    assert [d.nodes for d in run(world, 495.0).disruptions] == [("gpu-0000", "gpu-0001")]


def test_a_spot_notice_deletes_the_node_and_provisions_for_its_pods_at_once(
    catalog: Catalog,
) -> None:
    # No budget allows any disruption; the interruption is not one.
    k, world = karpenter(
        catalog,
        pool="disruption: {budgets: [{nodes: '0'}]}",
        offers="shapes: [l4x4], capacityTypes: [spot]",
    )
    life = k.fleet.request_offering("gpu", "l4x4", CapacityType.SPOT, 0.0)
    bind_on(world, 200.0, [("a", 4, life.name)])
    life.interruption_notice_at = 400.0
    assert run(world, 399.0).interrupted == ()
    result = run(world, 400.0)
    assert result.interrupted == (life.name,)
    assert life.deleting_at == 400.0
    # No batch window: its pod's NodeClaim is launched in the same loop.
    assert [(x.offering.shape, x.offering.capacity_type, x.pods) for x in result.launches] == [
        ("l4x4", CapacityType.SPOT, ("default/a",))
    ]
    assert run(world, 410.0).interrupted == ()  # handled once
