"""Spec §12: a claim shared with a live pod elsewhere keeps its node. In cluster-autoscaler
mode the node is unremovable (`BlockedByPod`, `SharedClaimPinned`: the claim's devices cannot
move while another pod holds them); in karpenter mode consolidation never picks the node (the
what-if cannot place the pod anywhere else: its claim stays allocated on the node's device).

Clusters are two L4 nodes (4 GPUs each for cluster-autoscaler, 8 for karpenter) with a
1-GPU pod on each, the first pod's claim also reserved for a pod `reader` on no node here."""

from __future__ import annotations

import msgspec
import pytest
from autoscalingkit import World, autoscaler, config_text, gpu_claim, gpu_pod, load, shapes_text

from dralloc.api.core import Pod
from dralloc.api.resource import ResourceClaimConsumerReference
from dralloc.autoscaling.config import CapacityType
from dralloc.autoscaling.decisions import BlockingPodReason, ScaleDown, UnremovableReason
from dralloc.autoscaling.fleet import Fleet
from dralloc.autoscaling.karpenter import Karpenter
from dralloc.autoscaling.planning import PlanningSnapshot
from dralloc.devices import load_catalog
from dralloc.devices.catalog import Catalog


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def bind_one_each(world: World, nodes: tuple[str, str]) -> None:
    """Pods p0 and p1 (one GPU each) bound on `nodes`, their claims allocated there."""
    pods: list[Pod] = []
    for index in range(2):
        world.claims[f"default/c{index}"] = gpu_claim(f"c{index}", count=1)
        pods.append(gpu_pod(f"p{index}", f"c{index}"))
    snapshot = PlanningSnapshot.of(world.cluster_at(200.0), world.ca.features)
    for pod, node in zip(pods, nodes, strict=True):
        assert snapshot.place(pod, among=[node]) == node
    world.running = [
        msgspec.structs.replace(p, spec=msgspec.structs.replace(p.spec, node_name=n))
        for p, n in zip(pods, nodes, strict=True)
    ]
    world.claims.update(snapshot.built.cache.claims)


def share_with_a_pod_elsewhere(world: World, key: str) -> None:
    claim = world.claims[key]
    reader = ResourceClaimConsumerReference(resource="pods", name="reader", uid="u-reader")
    status = msgspec.structs.replace(
        claim.status, reserved_for=[*claim.status.reserved_for, reader]
    )
    world.claims[key] = msgspec.structs.replace(claim, status=status)


def test_cluster_autoscaler_keeps_a_node_whose_claim_another_pod_shares(
    catalog: Catalog,
) -> None:
    groups = "- {name: l4x4-od, shape: l4x4, max: 3}\n"

    def loops(shared: bool) -> tuple[list[tuple[str, object, object]], list[str]]:
        world = World(autoscaler(load(config_text(groups), catalog), catalog))
        world.ca.fleet.request("l4x4-od", 0.0)
        world.ca.fleet.request("l4x4-od", 0.0)
        bind_one_each(world, ("l4x4-od-0000", "l4x4-od-0001"))
        if shared:
            share_with_a_pod_elsewhere(world, "default/c0")
        first = world.ca.run_once(200.0, world.cluster_at(200.0), [])
        reasons = [(u.node, u.reason, u.blocking_reason) for u in first.unremovable]
        later = world.ca.run_once(800.0, world.cluster_at(800.0), [])
        return reasons, [d.node for d in later.of_type(ScaleDown)]

    reasons, deleted = loops(shared=True)
    assert (
        "l4x4-od-0000",
        UnremovableReason.BLOCKED_BY_POD,
        BlockingPodReason.SHARED_CLAIM_PINNED,
    ) in reasons
    assert deleted == ["l4x4-od-0001"]
    # Unshared, the first node (in name order) is the one drained.
    assert loops(shared=False)[1] == ["l4x4-od-0000"]


def test_karpenter_never_consolidates_a_node_whose_claim_another_pod_shares(
    catalog: Catalog,
) -> None:
    text = f"""\
apiVersion: dralloc.io/v1alpha1
kind: Autoscaling
mode: karpenter
{shapes_text()}nodePools:
- {{name: gpu, shapes: [l4x4, l4x8], disruption: {{budgets: [{{nodes: 100%}}]}}}}
"""
    config = load(text, catalog)

    def disrupted(shared: bool) -> list[tuple[str, tuple[str, ...]]]:
        k = Karpenter(config, Fleet(config, seed=7), catalog, seed=7)
        world = World(k)  # type: ignore[arg-type]  # World reads only .fleet and .templates
        k.fleet.request_offering("gpu", "l4x8", CapacityType.ON_DEMAND, 0.0)
        k.fleet.request_offering("gpu", "l4x8", CapacityType.ON_DEMAND, 0.0)
        bind_one_each(world, ("gpu-0000", "gpu-0001"))
        if shared:
            share_with_a_pod_elsewhere(world, "default/c0")
        k.run_once(300.0, world.cluster_at(300.0), [])
        return [(c.method, c.nodes) for c in k.commands]  # decided, to be validated

    # Unshared, both $8 nodes go for one $4 l4x4; shared, only the other node may go.
    assert disrupted(shared=False) == [("MultiNodeConsolidation", ("gpu-0000", "gpu-0001"))]
    assert disrupted(shared=True) == [("SingleNodeConsolidation", ("gpu-0001",))]
