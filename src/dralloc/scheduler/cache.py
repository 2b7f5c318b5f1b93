"""The scheduler's long-lived view of the cluster: nodes with their pods, the claims, the
devices those claims hold, and the PodDisruptionBudgets preemption reads.

The cache is the one owner of this state; a cycle reads `snapshot()` (copies of the nodes the
cache cannot change under it, `snapshot.py`) and plugins change the cache only at
Reserve/Unreserve/PreBind/Bind, through the methods here. It plays the role of
kube-scheduler's cache plus its informers' view of ResourceClaims: pods are "assumed" when a
cycle picks a node and stay until removed, and a claim's allocation is kept both on the claim
object and in one incrementally updated `AllocatedState`, which the allocator reads.

`index_node_labels` (on by default) makes the snapshot's node list carry an index of the nodes'
labels, kept in step with it (`snapshot.py`); a speed-up that changes no outcome.

Claims and PodDisruptionBudgets are keyed `namespace/name`. A budget is kept as given (a live
cluster's with the status the API server holds); no scheduling state depends on it, so setting
one changes no node's generation. Claim objects are replaced, never mutated in place, because
the allocator caches preparation per claim object.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import msgspec

from dralloc.allocator import AllocatedState, Inventory, PoolKey
from dralloc.api.core import Node, Pod
from dralloc.api.policy import PodDisruptionBudget
from dralloc.api.resource import (
    AllocationResult,
    DeviceClass,
    DeviceTaintRule,
    ResourceClaim,
    ResourceClaimConsumerReference,
    ResourceSlice,
)
from dralloc.features import Features
from dralloc.scheduler.framework import NodeInfo, PodInfo
from dralloc.scheduler.framework.journal import ChangeJournal
from dralloc.scheduler.snapshot import NodeSnapshot


def claim_key(claim: ResourceClaim) -> str:
    return f"{claim.metadata.namespace}/{claim.metadata.name}"


def pod_claim_keys(pod: Pod) -> list[tuple[str, str | None]]:
    """(pod claim name, claim key or None when a template's claim is not created yet)."""
    namespace = pod.metadata.namespace or "default"
    generated = {s.name: s.resource_claim_name for s in pod.status.resource_claim_statuses}
    keys: list[tuple[str, str | None]] = []
    for entry in pod.spec.resource_claims:
        if entry.resource_claim_name:
            keys.append((entry.name, f"{namespace}/{entry.resource_claim_name}"))
        elif entry.name in generated:
            name = generated[entry.name]
            if name:  # an entry without a name needs no claim (spec 2.7)
                keys.append((entry.name, f"{namespace}/{name}"))
        else:
            keys.append((entry.name, None))
    return keys


class SchedulerCache:
    """Nodes, pods, claims and device usage. Not thread-safe: one scheduler owns it."""

    def __init__(
        self,
        features: Features,
        *,
        nodes: Iterable[Node] = (),
        slices: Sequence[ResourceSlice] = (),
        classes: Iterable[DeviceClass] = (),
        taint_rules: Sequence[DeviceTaintRule] = (),
        claims: Iterable[ResourceClaim] = (),
        disruption_budgets: Iterable[PodDisruptionBudget] = (),
        index_node_labels: bool = True,
    ) -> None:
        self.features = features
        self.inventory = Inventory(slices, features, taint_rules)
        self.classes: dict[str, DeviceClass] = {c.metadata.name: c for c in classes}
        self.nodes: dict[str, NodeInfo] = {}
        # Names of nodes in the order they changed (`NodeInfo.journal`).
        self.journal = ChangeJournal()
        self._retired: dict[str, int] = {}  # removed node -> its last generation
        # The snapshot's node list carries an index of node labels (`framework/labelindex.py`)
        # for plugins that narrow by label at PreFilter; off, they scan every node.
        self._snapshot = NodeSnapshot(index_labels=index_node_labels)
        self._membership = 0  # moves whenever a node is added, replaced or removed
        self.pods: dict[str, tuple[PodInfo, str]] = {}  # pod key -> (info, node name)
        self.claims: dict[str, ResourceClaim] = {}
        self.allocated = AllocatedState()
        self.disruption_budgets: dict[str, PodDisruptionBudget] = {}
        for budget in disruption_budgets:
            self.set_disruption_budget(budget)
        for node in nodes:
            self.add_node(node)
        for claim in claims:
            self.set_claim(claim)

    # ------------------------------------------------------------------------- nodes

    def add_node(self, node: Node) -> NodeInfo:
        info = NodeInfo.of(node)
        info.journal = self.journal
        # A node added again (or replaced) continues its name's generations: caches keyed on
        # (name, generation) must never mistake the new node for the old one.
        old = self.nodes.get(info.name)
        last = old.generation if old is not None else self._retired.pop(info.name, -1)
        info.generation = last + 1
        self.nodes[info.name] = info
        self._membership += 1
        return info

    def update_node(self, node: Node) -> NodeInfo:
        """The Node object changed (labels, taints, allocatable, conditions): its pods stay."""
        old = self.nodes.get(node.metadata.name)
        info = self.add_node(node)
        if old is not None:
            for pod in old.pods:
                info.add_pod(pod)
        return info

    def remove_node(self, name: str) -> None:
        old = self.nodes.pop(name, None)
        if old is not None:
            self._retired[name] = old.generation
        self._membership += 1

    def snapshot(self) -> list[NodeInfo]:
        """The nodes in name order as they are now, for one cycle: copies that later changes
        to the cache do not reach (only nodes changed since the previous call are copied
        again; see `snapshot.py`). Change the cache through its methods, never a copy."""
        return self._snapshot.update(self.nodes, self.journal, self._membership)

    def cycle_nodes(self) -> list[NodeInfo]:
        """The list the last `snapshot()` returned, as it is (not brought up to date): what
        the running cycle reads, for plugins that list every node mid-cycle (kube-scheduler's
        read the cycle's snapshot lister, never a fresh one). Nothing changes the cache
        between a cycle's `snapshot()` and its Reserve, so within a cycle this is the list
        the cycle was given; between cycles, take a `snapshot()`."""
        return self._snapshot.nodes

    def snapshot_node(self, name: str) -> NodeInfo | None:
        """Node `name` as the running cycle's snapshot holds it: for Reserve and later, where
        the cache's own node already counts the assumed pod (kube-scheduler's plugins read
        the node from the snapshot lister the same way)."""
        return self._snapshot.get(name)

    # ----------------------------------------------------------------- devices, classes

    def replace_slices(
        self, slices: Sequence[ResourceSlice], taint_rules: Sequence[DeviceTaintRule] = ()
    ) -> None:
        """The published devices changed (a live cluster's slices come and go): index them
        anew. Every node changes generation, since what any of them sees may have moved."""
        self.inventory = Inventory(slices, self.features, taint_rules)
        self._all_nodes_changed()

    def set_class(self, device_class: DeviceClass) -> None:
        self.classes[device_class.metadata.name] = device_class
        self._all_nodes_changed()

    def remove_class(self, name: str) -> None:
        if self.classes.pop(name, None) is not None:
            self._all_nodes_changed()

    def _all_nodes_changed(self) -> None:
        for node in self.nodes.values():
            node.mark_changed()

    # -------------------------------------------------------------------------- pods

    def assume_pod(self, info: PodInfo, node_name: str) -> None:
        """The pod now runs on `node_name` as far as scheduling is concerned."""
        self.nodes[node_name].add_pod(info)
        self.pods[info.key] = (info, node_name)

    def forget_pod(self, key: str) -> PodInfo | None:
        """Take the pod off its node (it ended, was deleted or its binding failed)."""
        entry = self.pods.pop(key, None)
        if entry is None:
            return None
        info, node_name = entry
        node = self.nodes.get(node_name)
        if node is not None:
            node.remove_pod(key)
        return info

    def remove_pod(self, pod: Pod) -> list[str]:
        """The pod is gone (ended, deleted, preempted): take it off its node and drop it from
        its claims' reservations, deallocating the claims nobody reserves any more. Returns
        those claim keys."""
        # The cached pod carries what binding wrote (its extended-resource claim's name); the
        # caller's copy may predate it.
        cached = self.forget_pod(f"{pod.metadata.namespace}/{pod.metadata.name}")
        return self.release_pod_claims(cached.pod if cached is not None else pod)

    # ------------------------------------------------------------------------ claims

    def set_claim(self, claim: ResourceClaim) -> None:
        """Add or replace a claim; device usage follows its allocation."""
        key = claim_key(claim)
        old = self.claims.get(key)
        if old is not None:
            self.allocated.remove_claim(old, self.features)
            if old.status.allocation is not claim.status.allocation:
                self._devices_changed(old.status.allocation)
        self.claims[key] = claim
        self.allocated.add_claim(claim, self.features)
        if old is None or old.status.allocation is not claim.status.allocation:
            self._devices_changed(claim.status.allocation)

    def remove_claim(self, key: str) -> None:
        old = self.claims.pop(key, None)
        if old is not None:
            self.allocated.remove_claim(old, self.features)
            self._devices_changed(old.status.allocation)

    def _devices_changed(self, allocation: AllocationResult | None) -> None:
        """Devices of `allocation` changed hands: every node that publishes them, or every
        node when one is in a shared pool, gets a new generation (Reserve takes a pod's
        devices after the pod was assumed, so the pod's own bump is not enough)."""
        if allocation is None:
            return
        touched: set[str] = set()
        for result in allocation.devices.results:
            for entry in self.inventory.pool_slices(PoolKey(result.driver, result.pool)):
                node_name = entry.slice.spec.node_name
                if not node_name or entry.slice.spec.shared_counters:
                    touched = set(self.nodes)
                    break
                touched.add(node_name)
        for name in touched:
            node = self.nodes.get(name)
            if node is not None:
                node.mark_changed()

    def allocate_claim(self, key: str, allocation: AllocationResult | None) -> ResourceClaim:
        """Set (or, with None, clear) the claim's allocation; returns the new claim object."""
        claim = self.claims[key]
        status = msgspec.structs.replace(claim.status, allocation=allocation)
        if allocation is None:
            status = msgspec.structs.replace(status, reserved_for=[], devices=[])
        updated = msgspec.structs.replace(claim, status=status)
        self.set_claim(updated)
        return updated

    def reserve_claim(self, key: str, pod: Pod) -> ResourceClaim:
        """Add the pod to the claim's `status.reservedFor` (once)."""
        claim = self.claims[key]
        reference = ResourceClaimConsumerReference(
            resource="pods", name=pod.metadata.name, uid=pod.metadata.uid or pod.metadata.name
        )
        if any(r.name == reference.name for r in claim.status.reserved_for):
            return claim
        status = msgspec.structs.replace(
            claim.status, reserved_for=[*claim.status.reserved_for, reference]
        )
        updated = msgspec.structs.replace(claim, status=status)
        self.claims[key] = updated  # the allocation is unchanged: device usage stays
        return updated

    def release_pod_claims(self, pod: Pod) -> list[str]:
        """Drop the pod from its claims' reservations; a claim nobody reserves any more is
        deallocated, as the ResourceClaim controller does (spec 7.8). Returns those keys."""
        released = []
        keys = [key for _, key in pod_claim_keys(pod)]
        extended = pod.status.extended_resource_claim_status
        if extended is not None:  # the claim DRA-backed extended resources made (KEP-5004)
            keys.append(f"{pod.metadata.namespace or 'default'}/{extended.resource_claim_name}")
        for key in keys:
            claim = self.claims.get(key) if key is not None else None
            if claim is None or key is None:
                continue
            remaining = [r for r in claim.status.reserved_for if r.name != pod.metadata.name]
            status = msgspec.structs.replace(claim.status, reserved_for=remaining)
            self.claims[key] = msgspec.structs.replace(claim, status=status)
            if not remaining and claim.status.allocation is not None:
                self.allocate_claim(key, None)
                released.append(key)
        return released

    def claim_objects(self) -> Mapping[str, ResourceClaim]:
        return self.claims

    # ----------------------------------------------------------- disruption budgets

    def set_disruption_budget(self, budget: PodDisruptionBudget) -> None:
        """Add or replace a PodDisruptionBudget (namespace "default" when it names none)."""
        meta = budget.metadata
        self.disruption_budgets[f"{meta.namespace or 'default'}/{meta.name}"] = budget

    def remove_disruption_budget(self, key: str) -> None:
        self.disruption_budgets.pop(key, None)
