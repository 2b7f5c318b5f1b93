"""What `DynamicResources` keeps in the cycle state between its extension points: the pod's
claims as PreFilter found them, the allocations Filter computed per node, and, for a pod
whose extended resources DRA serves (KEP-5004), its special claim per node variant.

Per-cycle data and what follows from it alone (which claim variant a node needs); the plugin
owns every change to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import msgspec

from dralloc.allocator import AllocatedState
from dralloc.api.core import ContainerExtendedResourceRequest, Pod
from dralloc.api.resource import AllocationResult, ResourceClaim
from dralloc.scheduler.framework import NodeInfo, PodInfo, Status
from dralloc.scheduler.framework.interface import DeviceClassResolver
from dralloc.scheduler.plugins.dynamicresources.extended import (
    extended_requests,
    extended_resource_claim,
    find_extended_resource_claim,
    is_dra_extended_resource_name,
    with_requests,
)

CANNOT_FIT_RESOURCE = "cannot fit resource"
STALE_EXTENDED_CLAIM = "cannot schedule extended resource claim"


def spec_bytes(claim: ResourceClaim) -> bytes:
    return msgspec.json.encode(claim.spec, enc_hook=str)


@dataclass(frozen=True)
class NodeClaim:
    """The special claim as one node needs it: requests for the extended resources that node
    serves through DRA, the container mappings, and its spec encoded (for remembered
    outcomes)."""

    claim: ResourceClaim
    mappings: tuple[ContainerExtendedResourceRequest, ...]
    spec: bytes


@dataclass
class ExtendedResources:
    """A pod's extended resources that some DeviceClass maps (PreFilter found at least one).

    `requested` holds every extended resource the pod asks for (name, count), sorted, as
    upstream's Filter walks them all; `classes` the mapped ones and their class names.
    """

    requested: tuple[tuple[str, int], ...]
    classes: dict[str, str]
    # The in-memory claim (`<extended-resources>`, no requests), or a claim written for the
    # pod in an earlier attempt (every node rejects the pod while it exists).
    claim: ResourceClaim
    leftover: bool = False
    # The resources a node serves through DRA -> that node's claim. Few variants per pod:
    # nodes differ only in which of the pod's resources a device plugin publishes.
    variants: dict[frozenset[str], NodeClaim] = field(default_factory=dict)
    # Set by Reserve: the key of the claim written for the chosen node, and its mappings.
    created: str | None = None
    mappings: tuple[ContainerExtendedResourceRequest, ...] = ()
    # Set by PreBind: the pod before its `status.extendedResourceClaimStatus` was recorded.
    original: Pod | None = None

    def node_claim(self, pod: PodInfo, node: NodeInfo) -> NodeClaim | Status | None:
        """The special claim `node` needs (None: a device plugin serves every extended
        resource there), or why the node cannot take the pod."""
        if self.leftover:
            # Upstream's PostFilter then deletes the claim so that the next attempt starts
            # afresh; DynamicResources has no PostFilter yet, so the pod stays pending.
            return Status.unresolvable(STALE_EXTENDED_CLAIM)
        through_dra = self.for_node(node)
        if isinstance(through_dra, Status):
            return through_dra
        if not through_dra:
            return None
        variant = self.variants.get(through_dra)
        if variant is None:
            classes = {name: self.classes[name] for name in through_dra}
            requests, mappings = extended_requests(pod.pod, classes)
            claim = with_requests(self.claim, requests)
            variant = NodeClaim(claim, tuple(mappings), spec_bytes(claim))
            self.variants[through_dra] = variant
        return variant

    def for_node(self, node: NodeInfo) -> frozenset[str] | Status:
        """The resources `node` serves through DRA (those a class maps and the node's
        allocatable does not publish, or publishes as 0), or `cannot fit resource` when a
        resource is neither mapped nor published (upstream's `filterExtendedResources`)."""
        allocatable = node.allocatable.scalars
        through_dra = []
        for name, _ in self.requested:
            have = allocatable.get(name)
            if name in self.classes and not have:
                through_dra.append(name)
            elif have is None:
                return Status.unresolvable(CANNOT_FIT_RESOURCE)
        return frozenset(through_dra)


@dataclass
class PodClaims:
    allocated: list[ResourceClaim]
    pending: list[ResourceClaim]
    signature: bytes = b""
    extended: ExtendedResources | None = None
    results: dict[str, list[AllocationResult]] = field(default_factory=dict)
    reserved: list[str] = field(default_factory=list)
    # Set once a PreFilterExtension ran: this state belongs to a what-if (preemption).
    what_if: bool = False
    # Pods the what-if took off the node: pod key -> keys of the claims it names.
    removed: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Freed claim keys -> the allocated state without them. Shared by the clones of one
    # cycle on purpose: the cache does not change during a dry run.
    freed_states: dict[frozenset[str], AllocatedState] = field(default_factory=dict)
    # Whether a claim has a request with `firstAvailable` (Score reads nothing else); None
    # until Score first asks.
    alternatives: bool | None = None
    # Keys of allocated claims some node's Filter found unavailable there (PostFilter may
    # deallocate one).
    unavailable: set[str] = field(default_factory=set)

    def has_alternatives(self) -> bool:
        if self.alternatives is None:
            self.alternatives = any(
                request.first_available
                for claim in (*self.allocated, *self.pending)
                for request in claim.spec.devices.requests
            )
        return self.alternatives

    def clone(self) -> PodClaims:
        return replace(self, results=dict(self.results), removed=dict(self.removed))

    def pending_for(
        self, pod: PodInfo, node: NodeInfo
    ) -> tuple[list[ResourceClaim], bytes, NodeClaim | None] | Status:
        """The claims to allocate on `node` (the pod's own, then its special claim when the
        node serves an extended resource through DRA), their specs' signature and that
        special claim; or why the node cannot take the pod."""
        if self.extended is None:
            return self.pending, self.signature, None
        node_claim = self.extended.node_claim(pod, node)
        if isinstance(node_claim, Status):
            return node_claim
        if node_claim is None:
            return self.pending, self.signature, None
        pending = [*self.pending, node_claim.claim]
        return pending, self.signature + b"\0extended\0" + node_claim.spec, node_claim


def pod_extended_resources(
    pod: PodInfo, classes: DeviceClassResolver, claims: Iterable[ResourceClaim]
) -> ExtendedResources | None:
    """The pod's extended resources when a class maps one of them (upstream's
    `preFilterExtendedResources`), with the claim an earlier attempt wrote among `claims`."""
    requested = tuple(
        sorted(
            (name, amount)
            for name, amount in pod.requests.scalars.items()
            if amount > 0 and is_dra_extended_resource_name(name)
        )
    )
    mapped = {}
    for name, _ in requested:
        device_class = classes.device_class(name)
        if device_class is not None:
            mapped[name] = device_class.metadata.name
    if not mapped:
        return None
    leftover = find_extended_resource_claim(pod.pod, claims)
    if leftover is not None:
        return ExtendedResources(requested, mapped, leftover, leftover=True)
    return ExtendedResources(requested, mapped, extended_resource_claim(pod.pod))
