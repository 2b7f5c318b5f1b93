"""Spec §12: a spot notice before `DevicesPublished`. The node never gave its GPUs to a pod but
is billed from launch to gone; from the notice it no longer counts as upcoming, so
cluster-autoscaler asks at once for another node for the pod planned on it.

One spot group of L4 nodes with 4 GPUs (devices 180 s after the request, a notice hazard of
20 an hour, so about half the nodes get theirs before 180 s) and a pending 4-GPU pod."""

from __future__ import annotations

import math

import pytest
from autoscalingkit import FAST, World, autoscaler, config_text, gpu_claim, gpu_pod, load

from dralloc.autoscaling.decisions import ScaleUp, SpotInterruption
from dralloc.devices import load_catalog

SPOT = (
    "- name: l4x4-spot\n  shape: l4\n  gpus: 4\n  price: {spot: 1.5}\n"
    f"  provisioning: {FAST}\n  interruption: {{ratePerHour: 20, noticeSeconds: 30}}\n"
)
GROUPS = "- {name: spot, shape: l4x4-spot, max: 2, capacityType: spot}\n"


def test_a_node_noticed_before_its_devices_is_lost_billed_and_replaced() -> None:
    catalog = load_catalog()
    config = load(config_text(GROUPS, extra_shape=SPOT), catalog)
    # The first seed whose first node gets its notice between Ready and DevicesPublished
    # (draws depend only on the seed and the node name, so this is fixed).
    seed = next(
        s
        for s in range(50)
        if (node := autoscaler(config, catalog, seed=s).fleet.request("spot", 10.0))
        and node.interruption_notice_at is not None
        and node.ready_at < node.interruption_notice_at < node.devices_published_at
    )
    world = World(autoscaler(config, catalog, seed=seed))
    world.claims["default/c"] = gpu_claim("c", count=4)
    pending = [(gpu_pod("p", "c"), 0.0)]
    ups = [d for d in world.run(10.0, pending) if isinstance(d, ScaleUp)]
    assert [u.nodes for u in ups] == [("spot-0000",)]
    (node,) = world.ca.fleet.nodes()
    notice = node.lifecycle.interruption_notice_at
    assert notice is not None
    decisions = world.run(notice + 1.0, pending)
    (seen,) = [d for d in decisions if isinstance(d, SpotInterruption)]
    assert seen.before_devices_published
    assert node.lifecycle.deleting_at == notice + 30.0
    # Billed from launch (60 s after the request) to gone, though no pod ever ran on it.
    gone = node.lifecycle.gone_at
    assert gone == notice + 30.0 + 30.0  # deadline, then the terminate delay
    billed = math.ceil(gone - 70.0)  # whole seconds, rounded up
    assert node.lifecycle.cost(node.billing, gone + 3600.0) == pytest.approx(1.5 * billed / 3600)
    # From the notice the node is leaving: the same loop asks for a new node for the pod.
    assert [u.nodes for u in decisions if isinstance(u, ScaleUp)] == [("spot-0001",)]
