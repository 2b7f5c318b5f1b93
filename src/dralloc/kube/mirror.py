"""The cluster as the scheduler sees it: informer events applied to the scheduler cache and
turned into the scheduling queues' cluster events (spec/cluster-mode.md sections 1 and 3).

`ClusterMirror` is the informers' handler for nodes, slices, classes, claims and pods:

- Nodes: only owned ones (`Ownership`) enter the cache; a node relabelled out of ownership
  leaves it. Updates keep the node's pods (`SchedulerCache.update_node`).
- ResourceSlices: kept typed, and given to the cache as one inventory (`refresh()`, once per
  scheduling cycle when something changed): node-local slices of owned nodes, shared pools
  only with `allow_shared_pools`.
- DeviceTaintRules (only with the DRADeviceTaintRules gate, off by default in 1.36, as
  kube-scheduler's slice tracker watches them only then): kept typed and given to the cache
  with the slices, whose inventory adds their taints to the devices they select. Upstream's
  tracker turns a rule's change into an update of each ResourceSlice whose devices' taints it
  changes, and that is the event DynamicResources registers for (ResourceSlice Add|Update;
  it registers nothing for DeviceTaintRule): so does the mirror.
- DeviceClasses: straight into the cache.
- PodDisruptionBudgets: into the cache as the API server holds them, status included (what
  kube-scheduler's PDB lister gives preemption). They are no cluster event: no plugin
  registers for them upstream.
- ResourceClaims: every claim, whoever allocated it, so every allocated device counts as used;
  through the claim assume cache (`assume.py`), which holds back events about claims a
  binding cycle is writing and events older than a version dralloc wrote.
- Pods: a pending pod of one of dralloc's profiles (its `schedulerName`, no `nodeName`, not
  being deleted, not terminal) goes to its profile's queue; a pod bound to an owned node and
  not terminal is on that node in the cache, whoever bound it; one that ends or goes leaves.
  A pod this process is binding is left alone until its binding cycle ends.

Each change is also a cluster event for the queues, with the typed objects the plugins'
queueing hints read (PodInfo, NodeInfo, ResourceClaim, ResourceSlice, DeviceClass). Owns the
typed slices and the pending pods it queued; the cache and queues are the scheduler's, and
only the scheduling loop and this mirror touch them, both in the one event loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from dralloc.allocator import PoolKey
from dralloc.api.core import Node, Pod
from dralloc.api.io import from_server
from dralloc.api.policy import PodDisruptionBudget
from dralloc.api.resource import DeviceClass, DeviceTaintRule, ResourceClaim, ResourceSlice
from dralloc.kube.assume import ClaimAssumeCache
from dralloc.kube.client import DEVICE_TAINT_RULES, POD_DISRUPTION_BUDGETS, KubeDict
from dralloc.kube.informer import object_key
from dralloc.kube.ownership import Ownership
from dralloc.kube.shared_informers import SharedInformers
from dralloc.scheduler.cache import SchedulerCache, pod_claim_keys
from dralloc.scheduler.framework import ClusterEvent, PodInfo
from dralloc.scheduler.framework.events import (
    DEVICE_CLASS,
    NODE,
    POD,
    RESOURCE_CLAIM,
    RESOURCE_SLICE,
)
from dralloc.scheduler.queue import SchedulingQueue

log = logging.getLogger(__name__)

TERMINAL_PHASES = ("Succeeded", "Failed")
NODE_ADD = ClusterEvent(NODE, "Add")
NODE_DELETE = ClusterEvent(NODE, "Delete")
POD_ADD = ClusterEvent(POD, "Add")
POD_DELETE = ClusterEvent(POD, "Delete")


def node_update_action(old: Node, new: Node) -> str:
    """Upstream's node update kinds, joined with `|`: what changed that plugins read."""
    actions = []
    if old.status.allocatable != new.status.allocatable:
        actions.append("UpdateNodeAllocatable")
    if old.metadata.labels != new.metadata.labels:
        actions.append("UpdateNodeLabel")
    if old.spec.taints != new.spec.taints or old.spec.unschedulable != new.spec.unschedulable:
        actions.append("UpdateNodeTaint")
    if old.metadata.annotations != new.metadata.annotations:
        actions.append("UpdateNodeAnnotation")
    return "|".join(actions)


def _same_for_scheduling(old: Node, new: Node) -> bool:
    """Whether two versions of a node differ only where no plugin reads (conditions and
    their heartbeats, addresses, node info)."""
    return (
        old.metadata.labels == new.metadata.labels
        and old.metadata.annotations == new.metadata.annotations
        and old.spec == new.spec
        and old.status.allocatable == new.status.allocatable
        and old.status.capacity == new.status.capacity
        and old.status.images == new.status.images
    )


def pod_update_action(old: Pod, new: Pod) -> str:
    """Upstream's kinds of update to an unscheduled pod that queueing hints tell apart."""
    actions = []
    if old.metadata.labels != new.metadata.labels:
        actions.append("UpdatePodLabel")
    if old.spec.tolerations != new.spec.tolerations:
        actions.append("UpdatePodToleration")
    if old.spec.scheduling_gates and not new.spec.scheduling_gates:
        actions.append("UpdatePodSchedulingGatesEliminated")
    if old.status.resource_claim_statuses != new.status.resource_claim_statuses:
        actions.append("UpdatePodGeneratedResourceClaim")
    return "|".join(actions) or "Update"


def _scheduling_view(raw: KubeDict) -> tuple[object, object, object]:
    """What of a pending pod scheduling reads: its spec, labels and annotations, and the
    claims recorded for it. A change elsewhere (a condition dralloc wrote, the resource
    version) is not an update worth a retry (upstream's isPodUpdated strips status)."""
    meta = raw.get("metadata") or {}
    status = raw.get("status") or {}
    return (
        raw.get("spec"),
        (meta.get("labels"), meta.get("annotations"), meta.get("deletionTimestamp")),
        (status.get("resourceClaimStatuses"), status.get("extendedResourceClaimStatus")),
    )


def is_terminal(raw: KubeDict) -> bool:
    return (raw.get("status") or {}).get("phase") in TERMINAL_PHASES


class _Handler:
    """One informer's callbacks, routed to the mirror's methods for that kind."""

    def __init__(
        self,
        add: Callable[[KubeDict], None],
        update: Callable[[KubeDict, KubeDict], None],
        delete: Callable[[KubeDict], None],
    ) -> None:
        self._add, self._update, self._delete = add, update, delete

    def on_add(self, obj: KubeDict) -> None:
        self._add(obj)

    def on_update(self, old: KubeDict, new: KubeDict) -> None:
        self._update(old, new)

    def on_delete(self, obj: KubeDict) -> None:
        self._delete(obj)


class ClusterMirror:
    def __init__(
        self,
        cache: SchedulerCache,
        queues: Mapping[str, SchedulingQueue],
        assume: ClaimAssumeCache,
        ownership: Ownership,
        *,
        on_change: Callable[[], None] = lambda: None,
        on_foreign_allocation: Callable[[KubeDict, list[str]], None] | None = None,
        pod_store: Mapping[str, KubeDict] | None = None,
    ) -> None:
        self.cache = cache
        self.queues = queues
        self.assume = assume
        self.ownership = ownership
        self.on_change = on_change
        self.on_foreign_allocation = on_foreign_allocation
        # The pods informer's store: whose pods hold a claim (foreign-allocation checks).
        self.pod_store: Mapping[str, KubeDict] = pod_store if pod_store is not None else {}
        self.slices: dict[str, ResourceSlice] = {}
        self.taint_rules: dict[str, DeviceTaintRule] = {}
        self._slices_dirty = True
        # Pending pods queued, by key: (uid, profile).
        self.pending: dict[str, tuple[str, str]] = {}
        # Pending pods whose template claims the ResourceClaim controller has not made yet.
        self.awaiting_claims: dict[str, KubeDict] = {}
        # Pods this process is binding: their cache entry is the binding cycle's.
        self.binding: set[str] = set()
        # Pods bound to owned nodes the cache does not have yet (the pod arrived first).
        self._waiting_for_node: dict[str, dict[str, PodInfo]] = {}
        self._warned_foreign: set[str] = set()
        # Preemption victims being deleted: out of the cache already; updates do not bring
        # them back.
        self.evicted: dict[str, PodInfo] = {}
        # Nodes seen that dralloc does not own: their pods are not its business.
        self.foreign_nodes: set[str] = set()
        self.nodes = _Handler(self._node_added, self._node_updated, self._node_deleted)
        self.resource_slices = _Handler(self._slice_set, self._slice_updated, self._slice_deleted)
        self.device_classes = _Handler(self._class_set, self._class_updated, self._class_deleted)
        self.resource_claims = _Handler(self._claim_set, self._claim_updated, self._claim_deleted)
        self.pods = _Handler(self._pod_added, self._pod_updated, self._pod_deleted)
        self.device_taint_rules = _Handler(
            self._taint_rule_set, self._taint_rule_updated, self._taint_rule_deleted
        )
        self.pod_disruption_budgets = _Handler(
            self._budget_set, self._budget_updated, self._budget_deleted
        )

    def watch_budgets_and_taint_rules(self, informers: SharedInformers) -> None:
        """Register the handlers of PodDisruptionBudgets and, with the DRADeviceTaintRules
        gate, DeviceTaintRules (before `informers.start()`, or they start at once)."""
        informers.informer(POD_DISRUPTION_BUDGETS).add_handler(self.pod_disruption_budgets)
        if self.cache.features.enabled("DRADeviceTaintRules"):
            informers.informer(DEVICE_TAINT_RULES).add_handler(self.device_taint_rules)

    def _event(self, event: ClusterEvent, old: object | None, new: object | None) -> None:
        for queue in self.queues.values():
            queue.on_event(event, old, new)
        self.on_change()

    # ------------------------------------------------------------------------ nodes

    def _node_added(self, raw: KubeDict) -> None:
        node = from_server(raw, Node)
        if not self.ownership.owns_node(node.metadata.labels):
            self.foreign_nodes.add(node.metadata.name)
            self._waiting_for_node.pop(node.metadata.name, None)
            return
        self.foreign_nodes.discard(node.metadata.name)
        info = self.cache.add_node(node)
        for pod in self._waiting_for_node.pop(node.metadata.name, {}).values():
            self.cache.assume_pod(pod, node.metadata.name)
        self._slices_dirty = True
        self._event(NODE_ADD, None, info)

    def _node_updated(self, old_raw: KubeDict, raw: KubeDict) -> None:
        node = from_server(raw, Node)
        name = node.metadata.name
        owned = self.ownership.owns_node(node.metadata.labels)
        known = self.cache.nodes.get(name)
        if known is None:
            self._node_added(raw)
            return
        if not owned:
            self._node_deleted(raw)
            self.foreign_nodes.add(name)
            return
        action = node_update_action(known.node, node)
        if not action and _same_for_scheduling(known.node, node):
            return  # a kubelet heartbeat: nothing the scheduler reads changed
        info = self.cache.update_node(node)
        if action:
            old_info = type(info).of(known.node)
            self._event(ClusterEvent(NODE, action), old_info, info)

    def _node_deleted(self, raw: KubeDict) -> None:
        name = str(raw.get("metadata", {}).get("name", ""))
        self.foreign_nodes.discard(name)
        known = self.cache.nodes.get(name)
        if known is None:
            return
        for pod in list(known.pods):
            if pod.key not in self.binding:
                self.cache.pods.pop(pod.key, None)
        self.cache.remove_node(name)
        self._slices_dirty = True
        self._event(NODE_DELETE, known, None)

    # ----------------------------------------------------------------------- slices

    def _slice_set(self, raw: KubeDict) -> None:
        self.slices[object_key(raw)] = typed = from_server(raw, ResourceSlice)
        self._slices_dirty = True
        self._event(ClusterEvent(RESOURCE_SLICE, "Add"), None, typed)

    def _slice_updated(self, old_raw: KubeDict, raw: KubeDict) -> None:
        old = self.slices.get(object_key(raw))
        self.slices[object_key(raw)] = typed = from_server(raw, ResourceSlice)
        self._slices_dirty = True
        self._event(ClusterEvent(RESOURCE_SLICE, "Update"), old, typed)

    def _slice_deleted(self, raw: KubeDict) -> None:
        old = self.slices.pop(object_key(raw), None)
        self._slices_dirty = True
        self._event(ClusterEvent(RESOURCE_SLICE, "Delete"), old, None)

    def refresh(self) -> bool:
        """Give the cache the usable slices if they changed since the last call."""
        if not self._slices_dirty:
            return False
        self._slices_dirty = False
        usable = [
            s for _, s in sorted(self.slices.items()) if self.ownership.may_use(s, self.cache.nodes)
        ]
        self.cache.replace_slices(usable, [r for _, r in sorted(self.taint_rules.items())])
        return True

    # ------------------------------------------------------------------ taint rules

    def _taint_rule_set(self, raw: KubeDict) -> None:
        self._taint_rule_changed(raw, from_server(raw, DeviceTaintRule))

    def _taint_rule_updated(self, old_raw: KubeDict, raw: KubeDict) -> None:
        self._taint_rule_set(raw)

    def _taint_rule_deleted(self, raw: KubeDict) -> None:
        self._taint_rule_changed(raw, None)

    def _taint_rule_changed(self, raw: KubeDict, rule: DeviceTaintRule | None) -> None:
        key = object_key(raw)
        old = self.taint_rules.pop(key, None)
        if rule is not None:
            self.taint_rules[key] = rule
        if old is not None and rule is not None and old.spec == rule.spec:
            return  # metadata only: no device's taints change
        self._slices_dirty = True
        rules = [r for r in (old, rule) if r is not None]
        for _, typed in sorted(self.slices.items()):
            spec = typed.spec
            if any(
                r.selects(spec.driver, spec.pool.name, d.name) for r in rules for d in spec.devices
            ):
                # The slice as patched by the rules changed: upstream's tracker says so with
                # a ResourceSlice update.
                self._event(ClusterEvent(RESOURCE_SLICE, "Update"), typed, typed)

    # ------------------------------------------------------------ disruption budgets

    def _budget_set(self, raw: KubeDict) -> None:
        self.cache.set_disruption_budget(from_server(raw, PodDisruptionBudget))

    def _budget_updated(self, old_raw: KubeDict, raw: KubeDict) -> None:
        self._budget_set(raw)

    def _budget_deleted(self, raw: KubeDict) -> None:
        self.cache.remove_disruption_budget(object_key(raw))

    # ---------------------------------------------------------------------- classes

    def _class_set(self, raw: KubeDict) -> None:
        typed = from_server(raw, DeviceClass)
        old = self.cache.classes.get(typed.metadata.name)
        self.cache.set_class(typed)
        self._event(ClusterEvent(DEVICE_CLASS, "Add" if old is None else "Update"), old, typed)

    def _class_updated(self, old_raw: KubeDict, raw: KubeDict) -> None:
        self._class_set(raw)

    def _class_deleted(self, raw: KubeDict) -> None:
        name = str(raw.get("metadata", {}).get("name", ""))
        old = self.cache.classes.get(name)
        self.cache.remove_class(name)
        self._event(ClusterEvent(DEVICE_CLASS, "Delete"), old, None)

    # ----------------------------------------------------------------------- claims

    def _claim_set(self, raw: KubeDict) -> None:
        key = object_key(raw)
        if not self.assume.informer_update(key, raw):
            return
        self.apply_claim(key, raw)

    def _claim_updated(self, old_raw: KubeDict, raw: KubeDict) -> None:
        self._claim_set(raw)

    def _claim_deleted(self, raw: KubeDict) -> None:
        key = object_key(raw)
        if not self.assume.informer_delete(key):
            return
        self.apply_claim(key, None)

    def apply_claim(self, key: str, raw: KubeDict | None) -> None:
        """Make `raw` (None: gone) the cache's version of claim `key`, and tell the queues."""
        old = self.cache.claims.get(key)
        if raw is None:
            if old is not None:
                self.cache.remove_claim(key)
                self._event(ClusterEvent(RESOURCE_CLAIM, "Delete"), old, None)
            return
        typed = from_server(raw, ResourceClaim)
        self.cache.set_claim(typed)
        self._check_foreign(raw, typed)
        action = "Add" if old is None else "Update"
        self._event(ClusterEvent(RESOURCE_CLAIM, action), old, typed)

    def _check_foreign(self, raw: KubeDict, claim: ResourceClaim) -> None:
        """A claim allocated on an owned node's pool but reserved for another scheduler's
        pods breaks the ownership rule: say so once per claim."""
        allocation = claim.status.allocation
        if allocation is None or self.on_foreign_allocation is None:
            return
        uid = claim.metadata.uid
        if uid in self._warned_foreign:
            return
        # The inventory holds only the pools dralloc may allocate from (`refresh`).
        inventory = self.cache.inventory
        if not any(
            inventory.pool_slices(PoolKey(r.driver, r.pool)) for r in allocation.devices.results
        ):
            return
        namespace = claim.metadata.namespace
        foreign = []
        for consumer in claim.status.reserved_for:
            holder = self.pod_store.get(f"{namespace}/{consumer.name}")
            if consumer.resource != "pods" or holder is None:
                continue
            scheduler = (holder.get("spec") or {}).get("schedulerName", "default-scheduler")
            if scheduler not in self.queues:
                foreign.append(f"{namespace}/{consumer.name}")
        if foreign:
            self._warned_foreign.add(uid)
            self.on_foreign_allocation(raw, foreign)

    # ------------------------------------------------------------------------- pods

    def is_ours_pending(self, raw: KubeDict) -> bool:
        spec: dict[str, Any] = raw.get("spec") or {}
        return (
            spec.get("schedulerName", "default-scheduler") in self.queues
            and not spec.get("nodeName")
            and not raw.get("metadata", {}).get("deletionTimestamp")
            and not is_terminal(raw)
        )

    def _pod_added(self, raw: KubeDict) -> None:
        self._pod_updated(None, raw)

    def _pod_updated(self, old_raw: KubeDict | None, raw: KubeDict) -> None:
        key = object_key(raw)
        spec: dict[str, Any] = raw.get("spec") or {}
        if self.is_ours_pending(raw):
            self._queue_pod(key, old_raw, raw)
            return
        self._unqueue(key, raw)
        node = spec.get("nodeName")
        if not node or key in self.binding or key in self.evicted:
            return
        if is_terminal(raw):
            self._pod_left(key)
            return
        info = PodInfo.of(from_server(raw, Pod))
        known = self.cache.pods.get(key)
        if known is not None:
            if known[0].pod.metadata.resource_version == info.pod.metadata.resource_version:
                return
            self.cache.forget_pod(key)
        if node in self.cache.nodes:
            self.cache.assume_pod(info, node)
            if known is None:
                self._event(ClusterEvent(POD, "Add"), None, info)
        elif node not in self.foreign_nodes:
            self._waiting_for_node.setdefault(node, {})[key] = info

    def _queue_pod(self, key: str, old_raw: KubeDict | None, raw: KubeDict) -> None:
        pod = from_server(raw, Pod)
        if any(claim_key is None for _, claim_key in pod_claim_keys(pod)):
            # A template's claim not made yet: upstream's queue holds such a pod gated, and
            # only its own update (the claim recorded) can free it, since every claim event
            # is QueueSkip for it. Held here instead, so the queue does not weigh every pod
            # of a burst against every claim event.
            self._unqueue(key, raw)
            self.awaiting_claims[key] = raw
            return
        self.awaiting_claims.pop(key, None)
        profile = pod.spec.scheduler_name or "default-scheduler"
        queue = self.queues[profile]
        known = self.pending.get(key)
        if known is not None and known[0] != pod.metadata.uid:
            self._unqueue(key, raw)  # a new pod of the same name
            known = None
        self.pending[key] = (pod.metadata.uid, profile)
        if known is None or old_raw is None:
            queue.add(pod)
        elif _scheduling_view(old_raw) == _scheduling_view(raw):
            return
        else:
            old = from_server(old_raw, Pod)
            queue.update(pod, ClusterEvent(POD, pod_update_action(old, pod)))
        self.on_change()

    def _unqueue(self, key: str, raw: KubeDict) -> None:
        self.awaiting_claims.pop(key, None)
        known = self.pending.pop(key, None)
        if known is None:
            return
        uid, profile = known
        gone = from_server(raw, Pod)
        if gone.metadata.uid != uid:
            gone.metadata.uid = uid
        self.queues[profile].delete(gone)

    def _pod_deleted(self, raw: KubeDict) -> None:
        key = object_key(raw)
        victim = self.evicted.pop(key, None)
        if victim is not None:  # preempted: the cache let it go already; now it is gone
            self._event(POD_DELETE, victim, None)
        self._unqueue(key, raw)
        if key not in self.binding:
            self._pod_left(key)

    def forget_pod(self, key: str) -> None:
        """A pod the binding cycle held is gone: take it off its node."""
        self._pod_left(key)

    def _pod_left(self, key: str) -> None:
        for waiting in self._waiting_for_node.values():
            waiting.pop(key, None)
        left = self.cache.forget_pod(key)
        if left is not None:
            self._event(POD_DELETE, left, None)
