"""Karpenter's interruption controller for spot capacity (spec/autoscaling.md §6): a node whose
interruption notice came is deleted at once and its pods are provisioned for in the same loop.

Owns nothing: `Karpenter.interrupted` remembers the nodes handled, and `Karpenter.run_once`
calls both functions. Upstream's controller (kubernetes-sigs/karpenter
`pkg/controllers/interruption`, the provider's queue of spot messages) cordons and drains the
NodeClaim on the message, outside disruption budgets and without waiting for the deadline (the
provider reclaims the instance at notice + `noticeSeconds` anyway); the provisioner counts the
pods of deleting nodes as pods to place, so their room is launched at once rather than after
they are evicted and a batch window closes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dralloc.autoscaling.clusterautoscaler import FleetView
from dralloc.autoscaling.disruption import movable, pods_by_node
from dralloc.autoscaling.planning import ClusterState, PlanningSnapshot, unbound

if TYPE_CHECKING:
    from dralloc.autoscaling.karpenter import Karpenter, KarpenterResult


def interrupt(k: Karpenter, now: float) -> tuple[str, ...]:
    """Delete the fleet's nodes whose notice came by `now` and were not handled yet (a node
    already gone, or with its deletion scheduled ahead, is left alone); their names."""
    names: list[str] = []
    for node in k.fleet.nodes():
        life = node.lifecycle
        notice = life.interruption_notice_at
        if notice is None or notice > now or node.name in k.interrupted or life.gone_at is not None:
            continue
        k.interrupted.add(node.name)
        life.delete(now)
        names.append(node.name)
    return tuple(names)


def replace_interrupted(
    k: Karpenter,
    now: float,
    state: ClusterState,
    view: FleetView,
    snapshot: PlanningSnapshot,
    result: KarpenterResult,
) -> None:
    """Provision at once for the pods of `result.interrupted`: `snapshot` (the loop's
    provisioning snapshot) no longer has those nodes; the pods' claims are released there,
    the pods placed where room is (it stays taken), and the rest provisioned for."""
    on_node = pods_by_node(state)
    evicted = [p for name in result.interrupted for p in movable(on_node.get(name, []))]
    cache = snapshot.built.cache
    for pod in evicted:
        cache.release_pod_claims(pod)
    left = [unbound(p) for p in evicted if snapshot.place(unbound(p)) is None]
    if left:
        k.provision(now, state, view, snapshot, left, result)
