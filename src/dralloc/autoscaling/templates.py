"""Device-aware node templates: what a new node of a shape will look like (spec/autoscaling.md §3).

Owns building one template per shape, copying it for a new (planned or real) node with
cluster-autoscaler's sanitizing rule, and the readiness tests of §3.2 (CA's `is_upcoming`,
Karpenter's `undone_dra_driver`). Pure computation, no I/O;
never mutates a template or the objects it shares with its copies.

Building: the template's Node and ResourceSlices come from the same code `dralloc cluster
generate` uses (`dralloc.devices.cluster.iter_cluster`, hence `SliceBuilder`), so static MIG
layouts, dynamic MIG counter sets, time-slicing replicas and MPS clients look exactly like a
generated node. The example node (`<shape>-00`, as `cluster generate --nodes 1x...:name=<shape>`
names it) is then sanitized once with the base `template-node-for-<shape>`, as CA does with a
provider's template node (`SanitizedTemplateNodeInfoFromNodeInfo`), and labelled
`cluster-autoscaler.kubernetes.io/template-node: "true"`. CA draws that suffix at random; here
it is the fixed `TEMPLATE_SUFFIX`, so runs replay identically.

Sanitizing (CA's `SanitizedNodeInfo`, `SanitizedNodeResourceSlices` and
`SanitizedPodResourceClaims`, behaviour reproduced, not code): a copy with suffix S of a node N
is named `N-S` (or a name the caller gives), with label `kubernetes.io/hostname` set to it; each
slice `X` becomes `X-S`, its pool `P` becomes `P-S` and its `nodeName` the copy's name; the
generation and `resourceSliceCount` are kept. Claims of the template's DaemonSet pods are copied
as `C-S`, their allocation results re-pointed to pool `P-S` and their `nodeSelector` set to
`matchFields metadata.name In [copy]`. A slice that is not node-local, or a claim allocated from a
pool that is not one of the node's, cannot be copied: `TemplateError`, and the template is
invalid (CA refuses such a node group).

Fidelity gap, stated: a copy carries the template's device attributes unchanged, GPU and MIG
UUIDs included (as CA's copies do). A real node would publish its own UUIDs; nothing in DRA
allocation compares UUIDs across nodes, so placements do not change.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import msgspec

from dralloc.api.core import Node, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Taint
from dralloc.api.meta import ObjectMeta
from dralloc.api.quantity import Quantity
from dralloc.api.resource import Device, ResourceClaim, ResourceSlice
from dralloc.devices.catalog import Catalog
from dralloc.devices.cluster import ClusterSpecError, NodeGroup, iter_cluster

TEMPLATE_NODE_LABEL = "cluster-autoscaler.kubernetes.io/template-node"
HOSTNAME_LABEL = "kubernetes.io/hostname"
TEMPLATE_SUFFIX = "0"


class TemplateError(ValueError):
    """A shape or a template that cannot serve as a node template; the message says why."""


@dataclass(frozen=True)
class NodeShape:
    """What a template is built from: a `cluster generate` shape with its options, and the
    node-level overrides an Autoscaling shape may add.

        NodeShape("h100-mig", "dgx-h100", {"mig": "static", "layout": "all-1g.10gb"})
    """

    name: str
    device_shape: str
    options: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    cpu: Quantity | None = None
    memory: Quantity | None = None
    taints: tuple[Taint, ...] = ()


@dataclass(frozen=True)
class NodeCopy:
    """One copy of a template: the Node, its slices, and the DaemonSet claims copied with it."""

    node: Node
    slices: tuple[ResourceSlice, ...]
    claims: tuple[ResourceClaim, ...] = ()

    @property
    def name(self) -> str:
        return self.node.metadata.name


@dataclass(frozen=True)
class NodeTemplate:
    """A shape's template node. Build with `build_template`; copy with `instantiate`.

    template = build_template(NodeShape("h100", "dgx-h100"), load_catalog())
    planned = template.instantiate("upcoming-0")      # template-node-for-h100-0-upcoming-0
    real = template.instantiate("7", node_name="h100-od-0007")
    """

    shape: str
    node: Node
    slices: tuple[ResourceSlice, ...]
    daemonset_claims: tuple[ResourceClaim, ...] = ()

    @property
    def name(self) -> str:
        return self.node.metadata.name

    def pools_per_driver(self) -> Mapping[str, int]:
        """How many pools each driver publishes on a node of this shape (§3.2's yardstick)."""
        pools: dict[str, set[str]] = defaultdict(set)
        for each in self.slices:
            pools[each.spec.driver].add(each.spec.pool.name)
        return {driver: len(names) for driver, names in sorted(pools.items())}

    def upcoming(self, index: int) -> NodeCopy:
        """The planning copy CA puts in its snapshot for an upcoming node: suffix
        `upcoming-<index>`, the index counting upcoming nodes across all groups."""
        return self.instantiate(f"upcoming-{index}")

    def accelerator_count(self) -> int:
        """Physical accelerators on a node of this shape (see `accelerator_key`)."""
        return len(
            {
                accelerator_key(s.spec.driver, s.spec.pool.name, d)
                for s in self.slices
                for d in s.spec.devices
            }
        )

    def instantiate(self, suffix: str, node_name: str | None = None) -> NodeCopy:
        """A fresh copy with CA's sanitizing rule (see the module docstring).

        Without `node_name` the copy is a planning copy named `<template>-<suffix>` and keeps
        the template-node label, as CA's snapshot copies do; with it, the copy is a real node
        of that name, without the label."""
        copy = sanitize(
            self.node, self.slices, self.daemonset_claims, suffix=suffix, node_name=node_name
        )
        if node_name is None:
            return copy
        labels = {k: v for k, v in copy.node.metadata.labels.items() if k != TEMPLATE_NODE_LABEL}
        metadata = msgspec.structs.replace(copy.node.metadata, labels=labels)
        node = msgspec.structs.replace(copy.node, metadata=metadata)
        return NodeCopy(node, copy.slices, copy.claims)


def accelerator_key(driver: str, pool: str, device: Device) -> str:
    """The physical accelerator a published device is (part of): its `parentUUID` (MIG
    devices), else its `uuid` (whole GPUs), else the device itself (`driver/pool/device`)."""
    for name in ("parentUUID", "uuid"):
        attribute = device.attributes.get(name)
        if attribute is not None and attribute.string:
            return attribute.string
    return f"{driver}/{pool}/{device.name}"


def _single_node_selector(node_name: str) -> NodeSelector:
    return NodeSelector(
        node_selector_terms=[
            NodeSelectorTerm(
                match_fields=[
                    NodeSelectorRequirement(key="metadata.name", operator="In", values=[node_name])
                ]
            )
        ]
    )


def _single_node_of(selector: NodeSelector | None) -> str | None:
    """The node a selector pins to when it is exactly `metadata.name In [node]` (CA's reading)."""
    if selector is None or len(selector.node_selector_terms) != 1:
        return None
    term = selector.node_selector_terms[0]
    if term.match_expressions or len(term.match_fields) != 1:
        return None
    field_ = term.match_fields[0]
    if field_.key != "metadata.name" or field_.operator != "In" or len(field_.values) != 1:
        return None
    return field_.values[0]


def sanitize(
    node: Node,
    slices: Sequence[ResourceSlice],
    claims: Sequence[ResourceClaim] = (),
    *,
    suffix: str,
    node_name: str | None = None,
) -> NodeCopy:
    """Copy `node` with its node-local `slices` and its DaemonSet pods' `claims` (CA's rule).

    Raises TemplateError when a slice is not node-local or an allocated claim uses a pool that
    is not one of this node's (it could not be duplicated without handing out a device twice).
    """
    old_name = node.metadata.name
    new_name = node_name if node_name is not None else f"{old_name}-{suffix}"
    labels = {**node.metadata.labels, HOSTNAME_LABEL: new_name}
    fresh_node = msgspec.structs.replace(
        node, metadata=msgspec.structs.replace(node.metadata, name=new_name, uid="", labels=labels)
    )
    pools: set[str] = set()
    fresh_slices = []
    for each in slices:
        if not each.spec.node_name:
            raise TemplateError(
                f"slice {each.metadata.name} is not node-local (no nodeName): a node "
                "template may only hold its node's own slices"
            )
        pools.add(each.spec.pool.name)
        pool = msgspec.structs.replace(each.spec.pool, name=f"{each.spec.pool.name}-{suffix}")
        fresh_slices.append(
            msgspec.structs.replace(
                each,
                metadata=ObjectMeta(name=f"{each.metadata.name}-{suffix}"),
                spec=msgspec.structs.replace(each.spec, pool=pool, node_name=new_name),
            )
        )
    fresh_claims = [_sanitized_claim(claim, suffix, old_name, new_name, pools) for claim in claims]
    return NodeCopy(fresh_node, tuple(fresh_slices), tuple(fresh_claims))


def _sanitized_claim(
    claim: ResourceClaim, suffix: str, old_node: str, new_node: str, pools: set[str]
) -> ResourceClaim:
    ref = f"{claim.metadata.namespace}/{claim.metadata.name}"
    metadata = msgspec.structs.replace(
        claim.metadata, name=f"{claim.metadata.name}-{suffix}", uid=""
    )
    allocation = claim.status.allocation
    if allocation is None or not allocation.devices.results:
        status = msgspec.structs.replace(claim.status, reserved_for=[])
        return msgspec.structs.replace(claim, metadata=metadata, status=status)
    if _single_node_of(allocation.node_selector) != old_node:
        raise TemplateError(
            f"claim {ref} is allocated, but not to node {old_node} alone: it cannot be copied"
        )
    results = []
    for result in allocation.devices.results:
        if result.pool not in pools:
            raise TemplateError(
                f"claim {ref} holds device {result.driver}/{result.pool}/{result.device} from a "
                f"pool that is not local to node {old_node}: it cannot be copied"
            )
        results.append(msgspec.structs.replace(result, pool=f"{result.pool}-{suffix}"))
    fresh_allocation = msgspec.structs.replace(
        allocation,
        devices=msgspec.structs.replace(allocation.devices, results=results),
        node_selector=_single_node_selector(new_node),
    )
    status = msgspec.structs.replace(claim.status, allocation=fresh_allocation, reserved_for=[])
    return msgspec.structs.replace(claim, metadata=metadata, status=status)


def build_template(
    shape: NodeShape, catalog: Catalog, daemonset_claims: Sequence[ResourceClaim] = ()
) -> NodeTemplate:
    """The template node of `shape`, built by `cluster generate`'s code and sanitized once.

    `daemonset_claims` are claims of DaemonSet pods on the example node (allocated from its
    pools); they are copied with every copy. Raises TemplateError for a shape `cluster
    generate` rejects, for shapes of several nodes (multi-host TPU slices, NVLink racks: a
    node group of those scales by whole racks, not modelled yet), or a claim that cannot be
    copied.
    """
    options = {**shape.options, "name": shape.name}
    try:
        nodes = list(iter_cluster([NodeGroup(1, shape.device_shape, options)], catalog))
    except ClusterSpecError as err:
        raise TemplateError(str(err)) from err
    if len(nodes) != 1:
        raise TemplateError(
            f"{shape.device_shape} is {len(nodes)} nodes per unit (a multi-host slice or an "
            "NVLink rack); node templates cover single-node shapes only"
        )
    example, slices = nodes[0]
    allocatable = dict(example.status.allocatable)
    if shape.cpu is not None:
        allocatable["cpu"] = shape.cpu
    if shape.memory is not None:
        allocatable["memory"] = shape.memory
    labels = {**example.metadata.labels, **shape.labels, TEMPLATE_NODE_LABEL: "true"}
    example = msgspec.structs.replace(
        example,
        metadata=msgspec.structs.replace(example.metadata, labels=labels),
        spec=msgspec.structs.replace(example.spec, taints=list(shape.taints)),
        status=msgspec.structs.replace(
            example.status, allocatable=allocatable, capacity=dict(allocatable)
        ),
    )
    copy = sanitize(
        example,
        slices,
        daemonset_claims,
        suffix=TEMPLATE_SUFFIX,
        node_name=f"template-node-for-{shape.name}-{TEMPLATE_SUFFIX}",
    )
    return NodeTemplate(shape.name, copy.node, copy.slices, copy.claims)


# ------------------------------------------------------------------------------- readiness


def complete_pools(slices: Iterable[ResourceSlice]) -> Mapping[str, int]:
    """Per driver, how many of the given slices' pools are complete: all slices of the
    newest generation present (`resourceSliceCount` of them)."""
    by_pool: dict[tuple[str, str], list[ResourceSlice]] = defaultdict(list)
    for each in slices:
        by_pool[(each.spec.driver, each.spec.pool.name)].append(each)
    complete: Tally[str] = Tally()
    for (driver, _), members in by_pool.items():
        newest = max(s.spec.pool.generation for s in members)
        current = [s for s in members if s.spec.pool.generation == newest]
        if len(current) == current[0].spec.pool.resource_slice_count:
            complete[driver] += 1
    return dict(complete)


def is_upcoming(template: NodeTemplate, published: Iterable[ResourceSlice]) -> bool:
    """True while a node of `template`'s shape still counts as upcoming (not ready) for
    planning: some driver of the template has fewer complete pools among the node's
    `published` slices than the template has (CA's readiness rule; attributes are not
    compared)."""
    have = complete_pools(published)
    return any(have.get(driver, 0) < want for driver, want in template.pools_per_driver().items())


def differs_from_template(template: NodeTemplate, published: Iterable[ResourceSlice]) -> bool:
    """True when a ready node's `published` slices (newest generation of each pool) do not
    hold the devices a copy of `template` holds: a device, attribute, capacity or counter
    differs, or one is missing or extra, per driver (pool and slice names are the copy's own
    and not compared). CA trusts the template regardless, so pods planned for such a node
    may stay pending; the autoscaler counts it (§12, `template_mismatch`)."""
    want, have = _newest_contents(template.slices), _newest_contents(published)
    if len(want) != len(have):
        return True
    # Structs compare by value (attribute maps too, whatever their order); a multiset
    # difference by removal, once per node that becomes ready.
    left = list(have)
    for item in want:
        if item not in left:
            return True
        left.remove(item)
    return False


def _newest_contents(slices: Iterable[ResourceSlice]) -> list[tuple[str, object]]:
    """(driver, device or shared counter set) of each pool's newest generation."""
    members = list(slices)
    newest: dict[tuple[str, str], int] = {}
    for each in members:
        key = (each.spec.driver, each.spec.pool.name)
        newest[key] = max(newest.get(key, each.spec.pool.generation), each.spec.pool.generation)
    contents: list[tuple[str, object]] = []
    for each in members:
        if each.spec.pool.generation == newest[(each.spec.driver, each.spec.pool.name)]:
            contents.extend((each.spec.driver, device) for device in each.spec.devices)
            contents.extend((each.spec.driver, counters) for counters in each.spec.shared_counters)
    return contents


def undone_dra_driver(drivers: Iterable[str], published: Iterable[ResourceSlice]) -> str | None:
    """Karpenter's initialization gate: the first of the NodeClaim's requested DRA drivers
    (`karpenter.sh/requested-dra-drivers`) without at least one complete pool among the node's
    slices, or None when every one has published one (the NodeClaim may turn `Initialized`;
    otherwise it stays Unknown with reason `DRADriverPoolsNotPublished`)."""
    have = complete_pools(published)
    return next((driver for driver in sorted(drivers) if not have.get(driver)), None)
