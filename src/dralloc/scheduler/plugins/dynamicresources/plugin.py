"""`DynamicResources`: pods with ResourceClaims, placed through the DRA allocator
(spec/dra-v1.md section 7).

* PreFilter resolves the pod's claims from the cache (a template's claim not created yet, a
  missing claim or a missing DeviceClass rejects the pod as UnschedulableAndUnresolvable, as
  upstream) and notes which still need an allocation; a pod without claims SKIPs the plugin.
* Filter, per node: allocated claims must be usable from the node (their allocation's
  nodeSelector); the unallocated ones are allocated together by the allocator for that node,
  and the result is kept in the cycle state. No solution is `cannot allocate all claims`; the
  allocator running out of time or failing is an ERROR, never a "no fit".
* A device-scoring policy (`DeviceOrderPolicy`, such as the GPU-sharing score plugins) may
  rank a node's devices; the allocator then tries the preferred devices first (it stays
  complete), so the cached allocation is the policy's choice of *which GPU*.
* Filter outcomes are remembered per (node, node generation, claim specs): pods of the same
  shape on an unchanged node get the same answer without a new search (shareIDs are drawn
  afresh). A node's generation changes whenever a pod lands on it or leaves it, which is when
  its devices change hands. With a random device order only the verdict is reused, and the
  chosen node's devices are drawn at Reserve.
* Across nodes, when the caller names classes of alike nodes (`node_class`: nodes of one class
  publish the same devices up to names and values no selector or constraint of the workload
  reads, as a simulator's nodes of one model do), the verdict is also remembered per (class,
  claim specs, device usage): a node whose devices are used exactly as those of a node already
  tried gets that node's answer. The allocation for the chosen node is then made at Reserve.
  When the caller also says a node's devices are interchangeable (`interchangeable_devices`:
  within a node of a class they differ only in names and values nothing reads, as one
  machine's GPUs of one model do), the usage is taken as a multiset: which device holds what
  cannot change whether the claims fit.
* Which devices a pod gets is decided on one state, whatever was remembered: the allocator's
  answer for the node as the cycle's snapshot holds it (`SchedulerCache.snapshot_node`), with
  the device policy's order for that state. Filter's allocation is that answer; where Filter
  kept none (a verdict remembered by the framework or shared across alike nodes, or a random
  device order drawn only for the node chosen), Reserve computes it on the same snapshot
  node, where the assumed pod is not counted yet.
* Reserve writes the chosen node's allocations into the cache at once ("in flight" upstream),
  so later pods see the devices as used; Unreserve takes them back.
* PreBind adds the pod to each claim's `reservedFor`.
* Extended resources backed by DRA (KEP-5004, `DRAExtendedResource`): when a DeviceClass maps
  an extended resource the pod asks for (`nvidia.com/gpu: 2`, or a class's implicit
  `deviceclass.resource.kubernetes.io/<class>`), PreFilter keeps the pod's special claim in
  memory (`extended.py`), and Filter gives each node its own variant: requests for the
  resources that node's allocatable does not publish (a device plugin's node keeps
  NodeResourcesFit's check), allocated together with the pod's other claims. A resource
  neither published nor mapped is `cannot fit resource`; a claim written for the pod by an
  earlier attempt rejects every node (`cannot schedule extended resource claim`). Reserve
  writes the chosen node's claim into the cache under a name made from
  `generateName: <pod>-extended-resources-` (upstream writes it at PreBind; here the cache is
  the API, and Reserve is where allocations enter it), PreBind reserves it for the pod and
  records `status.extendedResourceClaimStatus` on the pod (`PodInfo.pod` is replaced by the
  pod with that status, as the API server would return it); Unreserve deletes the claim and
  puts the pod back as it was. A node where a device plugin serves every extended resource
  gets no claim at all (upstream would allocate the empty in-memory claim there too when the
  pod also has claims of its own, and then fail in Reserve).
* Preemption: as in 1.36, "cannot allocate all claims" is UnschedulableAndUnresolvable, so
  no node is a preemption candidate for want of devices, and what-if pod removals change
  nothing here. With `frees_devices_for_preemption` (KEP-5690, beyond 1.36: spec/scheduler.md
  5.7; `SchedulerInputs.preemption_frees_devices`, `dralloc schedule
  --preemption-frees-devices`), the failure is Unschedulable instead, and `remove_pod` /
  `add_pod` (the PreFilterExtensions) track which pods a what-if took off a node. Filter then
  treats as free the claims held only by those pods (every `reservedFor` entry removed or
  terminating) whose devices are local to the node (their pools' slices name it), except the
  pod's own claims, and allocates against what that leaves, bypassing the remembered
  outcomes.

* Score (upstream's since 1.34, with DRAPrioritizedList): on a node where Filter allocated
  the pod's claims, every `firstAvailable` request scores 8 - i for the alternative i it got
  there (8 being the most alternatives a request may list), summed over the claims and scaled
  to 0..100 by the best node; so the node serving earlier alternatives wins, other things
  equal. A node whose allocation Filter did not keep (a verdict shared across alike nodes)
  scores 0, as upstream's does for a node without a stored allocation. A pod with no
  alternative to score (or the gate off) declares its 0 once per cycle (`uniform_score`).
* PostFilter runs before DefaultPreemption and adds its reason to the FitError message, as
  upstream's does: `no new claims to deallocate` for a pod without claims (or whose PreFilter
  stopped before reading them), `still not schedulable` otherwise.

Not yet: PostFilter's actions (deallocating an
allocated claim no node can use, deleting a stale extended-resource claim, with their own
reasons), binding conditions.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Protocol

import msgspec
import numpy as np
import numpy.typing as npt

from dralloc.allocator import (
    AllocatedState,
    AllocationError,
    AllocationGaveUp,
    Allocator,
    DeviceOrder,
    NodeFailure,
    PoolKey,
    allocated_state,
)
from dralloc.allocator.nodeselection import selector_matches
from dralloc.api.core import Pod, PodExtendedResourceClaimStatus
from dralloc.api.resource import AllocationResult, ResourceClaim, ResourceClaimStatus
from dralloc.api.validation.base import FIRST_AVAILABLE_MAX
from dralloc.scheduler.cache import SchedulerCache, claim_key, pod_claim_keys
from dralloc.scheduler.framework import (
    SUCCESS,
    ClusterEventWithHint,
    Code,
    CycleState,
    NodeInfo,
    PodInfo,
    PreFilterResult,
    Status,
    default_normalize,
    default_normalize_array,
)
from dralloc.scheduler.framework.generations import NodeMemo
from dralloc.scheduler.framework.interface import DeviceClassResolver
from dralloc.scheduler.plugins.dynamicresources.extended import (
    DELETE_PROTECTION_FINALIZER,
    ExtendedResourceIndex,
    generated_name,
)
from dralloc.scheduler.plugins.dynamicresources.hints import events
from dralloc.scheduler.plugins.dynamicresources.state import (
    ExtendedResources,
    NodeClaim,
    PodClaims,
    pod_extended_resources,
    spec_bytes,
)

NAME = "DynamicResources"
_STATE_KEY = f"PreFilter{NAME}"
NOT_AVAILABLE = "resourceclaim not available on the node"
CANNOT_ALLOCATE = "cannot allocate all claims"
NO_CLAIMS_TO_DEALLOCATE = "no new claims to deallocate"
STILL_NOT_SCHEDULABLE = "still not schedulable"
DEALLOCATED = "deallocation of ResourceClaim completed"


class DeviceOrderPolicy(Protocol):
    """Ranks a node's devices for a pod (smaller first); None keeps the drivers' order."""

    deterministic_order: bool

    def device_order(self, pod: PodInfo, node: NodeInfo) -> DeviceOrder | None: ...


_Outcome = list[AllocationResult] | Status


def _class_problem(claim: ResourceClaim, classes: set[str]) -> str | None:
    for request in claim.spec.devices.requests:
        exactly = request.exactly
        if exactly is not None and exactly.device_class_name not in classes:
            name = exactly.device_class_name
            return f"request {request.name}: device class {name} does not exist"
        for sub in request.first_available or ():
            if sub.device_class_name not in classes:
                return (
                    f"request {request.name}/{sub.name}: device class "
                    f"{sub.device_class_name} does not exist"
                )
    return None


def _alternatives_score(claim: ResourceClaim, allocation: AllocationResult) -> int:
    """Upstream's `computeScore` for one claim: FIRST_AVAILABLE_MAX - i for each request whose
    alternative i the allocation used."""
    used = {result.request for result in allocation.devices.results if "/" in result.request}
    score = 0
    for request in claim.spec.devices.requests:
        for index, alternative in enumerate(request.first_available or ()):
            if f"{request.name}/{alternative.name}" in used:
                score += FIRST_AVAILABLE_MAX - index
    return score


class DynamicResources:
    """The DRA scheduler plugin over a `SchedulerCache` and an `Allocator`."""

    name = NAME

    def __init__(
        self,
        cache: SchedulerCache,
        allocator: Allocator,
        device_order: DeviceOrderPolicy | None = None,
        node_class: Callable[[NodeInfo], Hashable] | None = None,
        interchangeable_devices: bool = False,
        extended_resources: DeviceClassResolver | None = None,
        claim_names: random.Random | None = None,
        *,
        frees_devices_for_preemption: bool = False,
        remember_outcomes: bool = True,
        deallocate: Callable[[ResourceClaim], None] | None = None,
    ) -> None:
        self.cache = cache
        # PostFilter's write (dra-v1.md 7.4): clear an unavailable claim's allocation on the
        # API server. None (offline): PostFilter only reports.
        self.deallocate = deallocate
        self._events = events(cache.claims)
        self.allocator = allocator
        self.frees_devices_for_preemption = frees_devices_for_preemption
        # Filter outcomes kept per (node, generation, claim specs); False recomputes them.
        self.remember_outcomes = remember_outcomes
        # Which class serves an extended resource (KEP-5004); None with the gate off.
        if extended_resources is None and cache.features.enabled("DRAExtendedResource"):
            extended_resources = ExtendedResourceIndex(cache.classes)
        self.extended_resources = extended_resources
        # Draws the names of the extended-resource claims written (the API server's
        # generateName suffix); its own generator, so no other draw depends on them.
        self.claim_names = claim_names if claim_names is not None else random.Random(0)
        self.device_order = device_order
        self.node_class = node_class if not cache.inventory.has_shared_pools else None
        # (class, claim specs, device usage) -> verdict; node -> (generation, device usage).
        self._verdicts: dict[tuple[Hashable, bytes, Hashable], Status] = {}
        self._usage: NodeMemo[Hashable] = NodeMemo()
        self.interchangeable_devices = interchangeable_devices
        self._profiles: NodeMemo[Hashable] = NodeMemo()
        # Node-local only while every pool is: a shared pool's devices change hands from any
        # node. (Callers remembering verdicts must also tell allocated from pending claims
        # apart in their pod signature.)
        self.node_local = not cache.inventory.has_shared_pools
        # (node, claim specs) -> (node generation, outcome); owned and bounded by
        # nodes x pod shapes.
        self._outcomes: dict[tuple[str, bytes], tuple[int, _Outcome]] = {}

    def events_to_register(self) -> Sequence[ClusterEventWithHint]:
        """What may make a pod this plugin rejected schedulable (`hints.py`)."""
        return self._events

    def pre_filter(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> tuple[PreFilterResult | None, Status]:
        keys = pod_claim_keys(pod.pod)
        allocated: list[ResourceClaim] = []
        pending: list[ResourceClaim] = []
        classes = set(self.cache.classes)
        for _, key in keys:
            if key is None:
                return None, Status.unresolvable(f'pod "{pod.key}": ResourceClaim not created yet')
            claim = self.cache.claims.get(key)
            if claim is None:
                name = key.split("/", 1)[1]
                return None, Status.unresolvable(f'resourceclaim "{name}" not found')
            if claim.status.allocation is not None:
                allocated.append(claim)
                continue
            problem = _class_problem(claim, classes)
            if problem is not None:
                return None, Status.unresolvable(problem)
            if claim not in pending:  # a pod may list one claim twice
                pending.append(claim)
        extended = None
        if self.extended_resources is not None:
            found = self.cache.claims.values()
            extended = pod_extended_resources(pod, self.extended_resources, found)
        if not keys and extended is None:
            return None, Status.skip()
        signature = b"\0".join(spec_bytes(c) for c in pending)
        state.write(_STATE_KEY, PodClaims(allocated, pending, signature, extended))
        return None, SUCCESS

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        claims = state.read(_STATE_KEY, PodClaims)
        for_node = claims.pending_for(pod, node)
        if isinstance(for_node, Status):
            return for_node
        pending, signature, _ = for_node
        if claims.what_if:
            return self._filter_what_if(claims, pending, pod, node)
        for claim in claims.allocated:
            allocation = claim.status.allocation
            selector = allocation.node_selector if allocation is not None else None
            if selector is not None and not selector_matches(selector, node.node):
                claims.unavailable.add(claim_key(claim))
                return Status.unresolvable(NOT_AVAILABLE)
        if not pending:
            return SUCCESS
        order = self.device_order
        # Whether an allocation can be reused depends on the device order being repeatable;
        # whether one exists does not (the search is complete), so verdicts always can be.
        repeatable = order is None or order.deterministic_order
        remember = self.remember_outcomes and not node.scratch
        memo_key = (node.name, signature)
        if remember:
            memo = self._outcomes.get(memo_key)
            if memo is not None and memo[0] == node.generation:
                if repeatable or isinstance(memo[1], Status):
                    return self._use(claims, node, memo[1])
                return SUCCESS  # Reserve draws the chosen node's devices afresh
        alike = None
        if remember and self.node_class is not None:
            alike = (self.node_class(node), signature, self.usage_profile(node))
            verdict = self._verdicts.get(alike)
            if verdict is not None:
                return verdict  # on success, Reserve allocates for the node chosen
        # A random device order is drawn only at Reserve, for the node chosen: how many
        # nodes Filter tries (and so how many draws) must not depend on what is remembered.
        outcome = self._allocate(pending, pod, node, ordered=repeatable)
        failed = isinstance(outcome, Status) and outcome.code == Code.ERROR
        if remember and not failed:  # an allocator that gave up may succeed next time
            self._outcomes[memo_key] = (node.generation, outcome)
        if alike is not None:
            if not isinstance(outcome, Status):
                self._verdicts[alike] = SUCCESS
            elif outcome.reasons == (CANNOT_ALLOCATE,):  # other reasons may name this node
                self._verdicts[alike] = outcome
        if not repeatable and not isinstance(outcome, Status):
            return SUCCESS
        return self._use(claims, node, outcome)

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> tuple[int, Status]:
        claims = state.get(_STATE_KEY, PodClaims)
        if claims is None or not claims.has_alternatives():
            return 0, SUCCESS  # no alternative to score: every node scores 0
        if not self.cache.features.enabled("DRAPrioritizedList"):
            return 0, SUCCESS
        results = claims.results.get(node.name)
        if results is None:
            return 0, SUCCESS
        allocations = [
            (claim, claim.status.allocation)
            for claim in claims.allocated
            if claim.status.allocation is not None
        ]
        allocations += list(zip(claims.pending, results, strict=False))
        return sum(_alternatives_score(c, a) for c, a in allocations), SUCCESS

    def uniform_score(self, state: CycleState, pod: PodInfo) -> int | None:
        """0 for every node when `score` would stop at its first checks (no claims, no
        `firstAvailable` alternative, DRAPrioritizedList off): the common pod asks for no
        alternatives, and its cycle then calls no `score` (`FrameworkSpeedups.uniform_scores`)."""
        claims = state.get(_STATE_KEY, PodClaims)
        if claims is None or not claims.has_alternatives():
            return 0
        if not self.cache.features.enabled("DRAPrioritizedList"):
            return 0
        return None

    def normalize_scores(self, state: CycleState, pod: PodInfo, scores: dict[str, int]) -> Status:
        default_normalize(scores, reverse=False)
        return SUCCESS

    def normalize_array(
        self, state: CycleState, pod: PodInfo, scores: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]:
        return default_normalize_array(scores, reverse=False)

    def post_filter(
        self, state: CycleState, pod: PodInfo, statuses: Mapping[str, Status]
    ) -> tuple[str | None, Status]:
        """Never makes room; its reason joins the FitError message before preemption's
        (upstream's RunPostFilterPlugins collects the reasons of every Unschedulable
        PostFilter plugin)."""
        claims = state.get(_STATE_KEY, PodClaims)
        if claims is None or not (claims.allocated or claims.pending or claims.extended):
            return None, Status.unschedulable(NO_CLAIMS_TO_DEALLOCATE)
        if self.deallocate is not None:
            # Upstream picks one at random (map order); the first by key is as good a pick.
            for key in sorted(claims.unavailable):
                claim = self.cache.claims.get(key)
                if claim is None or claim.status.allocation is None:
                    continue
                reserved = claim.status.reserved_for
                if not reserved or (len(reserved) == 1 and reserved[0].uid == pod.pod.metadata.uid):
                    self.deallocate(claim)
                    return None, Status.unschedulable(DEALLOCATED)
        return None, Status.unschedulable(STILL_NOT_SCHEDULABLE)

    def device_usage(self, node: NodeInfo) -> Hashable:
        """How the node's devices are held, device by device, in the allocator's terms."""
        return self._usage.get(node, self._device_usage)

    def _device_usage(self, node: NodeInfo) -> Hashable:
        allocated = self.cache.allocated
        return tuple(
            (
                entry.key in allocated.devices,
                entry.key in allocated.shared_devices,
                tuple(sorted(allocated.capacity.get(entry.key, {}).items())),
            )
            for entry, _ in self.cache.inventory.view(node.node).candidates
        )

    def usage_profile(self, node: NodeInfo) -> Hashable:
        """`device_usage`, or with interchangeable devices how many devices are held each
        way (the sorted usage): what a verdict shared across alike nodes is keyed on."""
        if not self.interchangeable_devices:
            return self.device_usage(node)
        return self._profiles.get(node, self._usage_profile)

    def _usage_profile(self, node: NodeInfo) -> Hashable:
        usage = self.device_usage(node)
        assert isinstance(usage, tuple)
        return tuple(sorted(usage))

    def _allocate(
        self,
        pending: Sequence[ResourceClaim],
        pod: PodInfo,
        node: NodeInfo,
        allocated: AllocatedState | None = None,
        *,
        ordered: bool = True,
    ) -> _Outcome:
        """The allocator on `node`; `ordered` False leaves the policy's device order out (a
        verdict only: the search is complete, so whether devices exist does not depend on
        the order)."""
        order = self.device_order.device_order(pod, node) if self.device_order and ordered else None
        try:
            results = self.allocator.allocate(
                node.node,
                pending,
                self.cache.inventory,
                self.cache.classes,
                allocated if allocated is not None else self.cache.allocated,
                order,
            )
        except AllocationGaveUp:
            return Status.error(f"node {node.name}: timed out trying to allocate devices")
        except NodeFailure as err:
            return Status.unresolvable(str(err))
        except AllocationError as err:
            return Status.error(str(err))
        if results is None:
            if self.frees_devices_for_preemption:
                # So that preemption may free devices held by lower-priority pods.
                return Status.unschedulable(CANNOT_ALLOCATE)
            return Status.unresolvable(CANNOT_ALLOCATE)
        return results

    def _use(self, claims: PodClaims, node: NodeInfo, outcome: _Outcome) -> Status:
        if isinstance(outcome, Status):
            return outcome
        claims.results[node.name] = outcome
        return SUCCESS

    # ------------------------------------------------------ preemption's what-if

    def add_pod(self, state: CycleState, pod: PodInfo, added: PodInfo, node: NodeInfo) -> Status:
        if not self.frees_devices_for_preemption:
            return SUCCESS  # 1.36 has no PreFilterExtensions here
        claims = state.read(_STATE_KEY, PodClaims)
        claims.what_if = True
        claims.removed.pop(added.key, None)
        return SUCCESS

    def remove_pod(
        self, state: CycleState, pod: PodInfo, removed: PodInfo, node: NodeInfo
    ) -> Status:
        if not self.frees_devices_for_preemption:
            return SUCCESS
        claims = state.read(_STATE_KEY, PodClaims)
        claims.what_if = True
        claims.removed[removed.key] = _held_claim_keys(removed)
        return SUCCESS

    def _filter_what_if(
        self,
        claims: PodClaims,
        pending: Sequence[ResourceClaim],
        pod: PodInfo,
        node: NodeInfo,
    ) -> Status:
        """Filter on a what-if node copy: no remembered outcome is read or written (the copy's
        generation says nothing about which claims the what-if freed)."""
        for claim in claims.allocated:
            allocation = claim.status.allocation
            selector = allocation.node_selector if allocation is not None else None
            if selector is not None and not selector_matches(selector, node.node):
                claims.unavailable.add(claim_key(claim))
                return Status.unresolvable(NOT_AVAILABLE)
        if not pending:
            return SUCCESS
        freed = self._freed_claims(claims, pod, node)
        allocated = None
        if freed:
            allocated = claims.freed_states.get(freed)
            if allocated is None:
                allocated = allocated_state(
                    (c for key, c in self.cache.claims.items() if key not in freed),
                    self.cache.features,
                )
                claims.freed_states[freed] = allocated
        return self._use(claims, node, self._allocate(pending, pod, node, allocated))

    def _freed_claims(self, claims: PodClaims, pod: PodInfo, node: NodeInfo) -> frozenset[str]:
        """Claims of the removed pods that nobody else holds: every consumer in `reservedFor`
        was removed or is terminating. The pod's own claims stay (it would use them), and so
        do claims with a device not local to this node (KEP-5690 frees node-local devices
        only)."""
        own = {key for _, key in pod_claim_keys(pod.pod) if key is not None}
        gone = set(claims.removed)
        freed: set[str] = set()
        for keys in claims.removed.values():
            for key in keys:
                claim = self.cache.claims.get(key)
                if key in own or key in freed or claim is None:
                    continue
                allocation = claim.status.allocation
                if allocation is None or not self._is_node_local(allocation, node.name):
                    continue
                namespace = claim.metadata.namespace
                consumers = claim.status.reserved_for
                if consumers and all(
                    r.resource == "pods"
                    and (
                        f"{namespace}/{r.name}" in gone
                        or self._is_terminating(f"{namespace}/{r.name}")
                    )
                    for r in consumers
                ):
                    freed.add(key)
        return frozenset(freed)

    def _is_node_local(self, allocation: AllocationResult, node_name: str) -> bool:
        """Every allocated device's pool is published for `node_name` alone."""
        inventory = self.cache.inventory
        for result in allocation.devices.results:
            slices = inventory.pool_slices(PoolKey(result.driver, result.pool))
            if not slices or any(e.slice.spec.node_name != node_name for e in slices):
                return False
        return True

    def _is_terminating(self, pod_key: str) -> bool:
        entry = self.cache.pods.get(pod_key)
        return entry is not None and entry[0].pod.metadata.deletion_timestamp is not None

    def reserve(self, state: CycleState, pod: PodInfo, node_name: str) -> Status:
        claims = state.get(_STATE_KEY, PodClaims)
        if claims is None or (not claims.pending and claims.extended is None):
            return SUCCESS
        # The node as this cycle's Filter saw it, not the cache's (which already counts the
        # assumed pod): whichever moment allocates, the devices are chosen on the same state.
        node = self.cache.snapshot_node(node_name)
        if node is None:
            return Status.error(f"no allocation was computed for node {node_name}")
        for_node = claims.pending_for(pod, node)
        if isinstance(for_node, Status):  # Filter accepted the node: cannot happen
            return Status.error(f"node {node_name}: {for_node.message}")
        pending, _, node_claim = for_node
        if not pending:
            return SUCCESS
        results = claims.results.get(node_name)
        if results is None:
            # The framework reused a remembered Filter verdict for this node (or the device
            # order is drawn only for the node chosen): allocate now, on the snapshot's node,
            # which is the state Filter would have allocated on.
            status = self._use(claims, node, self._allocate(pending, pod, node))
            if not status.is_success:
                return status
            results = claims.results[node_name]
        if len(results) != len(pending):
            return Status.error(f"have {len(results)} allocations for {len(pending)} claims")
        for claim, result in zip(claims.pending, results, strict=False):  # the pod's own
            key = claim_key(claim)
            self.cache.allocate_claim(key, self._with_fresh_share_ids(result))
            claims.reserved.append(key)
        if node_claim is not None and claims.extended is not None:
            self._write_extended_claim(claims.extended, node_claim, results[-1])
        return SUCCESS

    def _write_extended_claim(
        self, extended: ExtendedResources, node_claim: NodeClaim, result: AllocationResult
    ) -> None:
        """Store the node's special claim, allocated, under a generated name: from here on
        later pods see its devices as used."""
        meta = node_claim.claim.metadata
        name = generated_name(meta.generate_name, self.claim_names)
        while f"{meta.namespace}/{name}" in self.cache.claims:
            name = generated_name(meta.generate_name, self.claim_names)
        finalizers = [*meta.finalizers, DELETE_PROTECTION_FINALIZER]
        claim = msgspec.structs.replace(
            node_claim.claim,
            metadata=msgspec.structs.replace(meta, name=name, finalizers=finalizers),
            status=ResourceClaimStatus(allocation=self._with_fresh_share_ids(result)),
        )
        self.cache.set_claim(claim)
        extended.created = claim_key(claim)
        extended.mappings = node_claim.mappings

    def _with_fresh_share_ids(self, result: AllocationResult) -> AllocationResult:
        """A remembered outcome may serve many pods: each allocation gets its own shareIDs."""
        if not any(r.share_id for r in result.devices.results):
            return result
        new_id = self.allocator.options.share_ids
        fresh = [
            msgspec.structs.replace(r, share_id=new_id()) if r.share_id else r
            for r in result.devices.results
        ]
        devices = msgspec.structs.replace(result.devices, results=fresh)
        return msgspec.structs.replace(result, devices=devices)

    def unreserve(self, state: CycleState, pod: PodInfo, node_name: str) -> None:
        claims = state.get(_STATE_KEY, PodClaims)
        if claims is None:
            return
        for key in claims.reserved:
            if key in self.cache.claims:
                self.cache.allocate_claim(key, None)
        claims.reserved.clear()
        extended = claims.extended
        if extended is None:
            return
        if extended.created is not None:
            # Upstream deletes the claim it wrote, so the next attempt starts afresh.
            self.cache.remove_claim(extended.created)
            extended.created = None
        if extended.original is not None:
            # Upstream leaves the stale status for the next attempt to overwrite; putting the
            # pod back keeps it from naming a claim that is gone.
            pod.pod = extended.original
            extended.original = None

    def pre_bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status:
        for _, key in pod_claim_keys(pod.pod):
            if key is not None and key in self.cache.claims:
                self.cache.reserve_claim(key, pod.pod)
        claims = state.get(_STATE_KEY, PodClaims)
        extended = claims.extended if claims is not None else None
        if extended is None or extended.created is None:
            return SUCCESS
        self.cache.reserve_claim(extended.created, pod.pod)
        name = extended.created.split("/", 1)[1]
        recorded = PodExtendedResourceClaimStatus(
            request_mappings=list(extended.mappings), resource_claim_name=name
        )
        # The pod as the API server returns it after upstream's status patch; the cache holds
        # this same PodInfo, so it sees the status too.
        extended.original = pod.pod
        status = msgspec.structs.replace(pod.pod.status, extended_resource_claim_status=recorded)
        pod.pod = msgspec.structs.replace(pod.pod, status=status)
        return SUCCESS


def extended_claim_key(pod: Pod) -> str | None:
    """The key of the extended-resource claim the pod's status names, if any."""
    recorded = pod.status.extended_resource_claim_status
    if recorded is None:
        return None
    return f"{pod.metadata.namespace or 'default'}/{recorded.resource_claim_name}"


def release_extended_claim(cache: SchedulerCache, pod: Pod) -> str | None:
    """The pod is gone: drop it from its extended-resource claim's `reservedFor`, and
    deallocate the claim once nobody reserves it (as `SchedulerCache.release_pod_claims`
    does for the claims a pod's spec names; upstream's garbage collector then deletes the
    claim with its owner). Returns the key of the claim deallocated, if any."""
    key = extended_claim_key(pod)
    claim = cache.claims.get(key) if key is not None else None
    if claim is None or key is None:
        return None
    remaining = [r for r in claim.status.reserved_for if r.name != pod.metadata.name]
    if remaining or claim.status.allocation is None:
        status = msgspec.structs.replace(claim.status, reserved_for=remaining)
        cache.claims[key] = msgspec.structs.replace(claim, status=status)
        return None
    cache.allocate_claim(key, None)
    return key


def _held_claim_keys(info: PodInfo) -> tuple[str, ...]:
    """Keys of the claims a pod on a node holds: those its spec names and the
    extended-resource claim its status names."""
    keys = [key for _, key in pod_claim_keys(info.pod) if key is not None]
    extended = extended_claim_key(info.pod)
    if extended is not None:
        keys.append(extended)
    return tuple(keys)
