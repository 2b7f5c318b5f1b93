"""The dashboard's document: a scheduler cache's accelerators as JSON-ready data.

Pure computation over a `SchedulerCache` (no I/O, no clock: the caller passes the time). The
fleet is nodes x accelerators: each node a row, each physical accelerator a cell, and what a
cell shows depends on how its driver publishes it:

* a whole GPU: one device, allocated or free;
* static MIG: the instances that exist (`parentUUID` names their GPU), each drawn on the
  memory slices its `memorySliceN` capacities name;
* dynamic MIG (partitionable devices): the devices that consume one counter set are one GPU;
  only the allocated ones are drawn, on the `memory-slice-N` counters they consume, since
  the unallocated ones are possibilities that overlap;
* a shared GPU (`allowMultipleAllocations`: time-slicing replicas, MPS clients, fractional
  cores): its claims' shares of the first of those capacities it publishes;
* anything else (a TPU chip, a NIC): one device, allocated or free.

Each drawn device lists the claims that hold it and the pods those claims are reserved for.
A GPU's `used` is the share of it allocated: 1 for an allocated whole GPU, the slices in use
over all slices for MIG, the shares' sum for a shared GPU. Utilization is the fleet's used
GPUs over its GPUs. Fragmentation counts GPU capacity the same way, slices and shares
included: the share of the free GPU capacity (a GPU's 1 - `used`) that sits on nodes where the
typical pending claim (the median one by devices asked, `claim_device_count`, among the
cache's unallocated claims and the `waiting_claims` the caller adds: those of pods an
admission still holds, which have no claim in the cache yet) cannot be allocated now, as the
allocator answers on each node with free capacity; 0 when nothing is free or nothing waits.
Sixteen free 2g.20gb instances beside a claim for a 3g.40gb are all
stranded; a free whole GPU on a dynamic-MIG node, which could carve one, is not. (`/metrics`'
`dralloc_fragmented_gpu_share` counts whole devices per node and driver instead, cheaply
enough for every scrape.) Cost charges every provisioned GPU-hour at its model's price
(`sim.prices`, by the GPU's catalog name): used, and idle (the rest).

The document's schema is `SCHEMA` (docs/dashboard.md lists every field).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from dralloc.allocator import AllocationError, Allocator
from dralloc.api.core import Node
from dralloc.api.quantity import Quantity
from dralloc.api.resource import (
    Device,
    DeviceRequestAllocationResult,
    ResourceClaim,
    ResourceSlice,
)
from dralloc.devices.catalog import Catalog
from dralloc.errors import NotFoundError
from dralloc.kube.metrics import claim_device_count, device_model
from dralloc.scheduler.cache import SchedulerCache
from dralloc.sim.prices import DEFAULT_PRICES

if TYPE_CHECKING:
    from dralloc.allocator.inventory import SliceEntry

SCHEMA = "dralloc.dev/dashboard/v1"

# Capacities a shared GPU's claims consume, in the order a share is read from.
SHARE_DIMENSIONS = ("replicas", "clients", "cores", "memory")
_SLICE = re.compile(r"^memory-?[sS]lice-?(\d+)$")
GPU_DRIVER_SUFFIXES = ("nvidia.com", "amd.com")

JSON = dict[str, Any]


@dataclass(frozen=True)
class PendingPodView:
    """A pod waiting: `namespace/name`, where it waits, and the scheduler's last message."""

    pod: str
    message: str = ""
    queue: str = ""
    profile: str = ""


@dataclass
class _Holder:
    claim: str
    pods: list[str]
    request: str
    share: float | None = None


class _Role(Enum):
    """Where a device goes in the fleet (see the module docstring)."""

    OTHER = "other"  # not a GPU: a device of its own
    WHOLE = "whole"  # a GPU, allocated whole
    SHARED = "shared"  # a GPU allocated in shares (allowMultipleAllocations)
    STATIC_MIG = "mig-static"  # an instance that exists
    DYNAMIC_GPU = "dynamic-gpu"  # the whole GPU of a partitionable device
    DYNAMIC_MIG = "dynamic-mig"  # an instance a partitionable device may carve


@dataclass(frozen=True, slots=True)
class _Facts:
    """What a device's publication says, whoever holds it: computed once per published
    device (`FleetBuilder` remembers them per ResourceSlice object)."""

    name: str
    node: str  # the device's own nodeName ("" when its slice names the node)
    role: _Role
    gpu: str  # the physical GPU's id ("" for OTHER)
    model: str
    profile: str
    memory: float
    slices: tuple[int, int] | None  # (first, count) of the memory slices it sits on
    slice_count: int  # memory slices of its GPU it tells of
    sharing: str
    dimension: str  # the capacity a share is read from (SHARED)
    dimension_capacity: float
    taints: tuple[tuple[str, str, str], ...]


@dataclass(frozen=True)
class _SliceFacts:
    """A slice's devices' facts, `index` by name, and `shown`: the positions of the devices
    drawn even when nobody holds them (all but dynamic MIG's possible instances, of which
    only the first of each GPU is kept, so that the GPU shows even with none carved)."""

    facts: tuple[_Facts, ...]
    index: Mapping[str, int]
    shown: frozenset[int]

    @classmethod
    def of(cls, entry: SliceEntry) -> _SliceFacts:
        facts = tuple(_facts(entry, d) for d in entry.slice.spec.devices)
        shown: set[int] = set()
        gpus: set[str] = set()
        for i, f in enumerate(facts):
            if f.role is not _Role.DYNAMIC_MIG or f.taints or f.gpu not in gpus:
                shown.add(i)
                gpus.add(f.gpu)
        return cls(facts, {f.name: i for i, f in enumerate(facts)}, frozenset(shown))


@dataclass
class _Drawn:
    facts: _Facts
    holders: list[_Holder] = field(default_factory=list)


@dataclass
class _Gpu:
    key: str
    model: str
    mode: str
    sharing: str = ""
    memory: float = 0.0
    slices: int = 0
    share_dimension: str = ""
    drawn: list[_Drawn] = field(default_factory=list)
    taints: list[tuple[str, str, str]] = field(default_factory=list)


def _quantity(value: Any) -> float:
    return float(value.nano) / 1e9


def _attribute(device: Device, name: str) -> str:
    for key, attribute in device.attributes.items():
        if (key == name or key.endswith(f"/{name}")) and attribute.string:
            return attribute.string
    return ""


def _slices_of(names: Iterable[str]) -> list[int]:
    found = []
    for name in names:
        match = _SLICE.match(name)
        if match:
            found.append(int(match.group(1)))
    return sorted(found)


def _span(slices: Sequence[int]) -> tuple[int, int] | None:
    return (slices[0], slices[-1] - slices[0] + 1) if slices else None


def _facts(entry: SliceEntry, device: Device) -> _Facts:
    spec = entry.slice.spec
    driver, pool = spec.driver, spec.pool.name
    kind = _attribute(device, "type")
    memory = _quantity(device.capacity["memory"].value) if "memory" in device.capacity else 0.0
    taints = [(t.key, t.value, t.effect) for t in device.taints]
    taints += [
        (r.spec.taint.key, r.spec.taint.value, r.spec.taint.effect)
        for r in entry.rules
        if r.selects(driver, pool, device.name)
    ]
    common: dict[str, Any] = {
        "name": device.name,
        "node": device.node_name or "",
        "model": device_model(device),
        "profile": _attribute(device, "profile"),
        "memory": memory,
        "sharing": "",
        "dimension": "",
        "dimension_capacity": 0.0,
        "taints": tuple(taints),
    }
    if not (driver.endswith(GPU_DRIVER_SUFFIXES) and kind in ("gpu", "mig")):
        return _Facts(role=_Role.OTHER, gpu="", slices=None, slice_count=0, **common)
    if device.consumes_counters:
        slices = _slices_of(n for c in device.consumes_counters for n in c.counters)
        role = _Role.DYNAMIC_GPU if kind == "gpu" else _Role.DYNAMIC_MIG
        return _Facts(
            role=role,
            gpu=f"{pool}/{device.consumes_counters[0].counter_set}",
            slices=_span(slices),
            slice_count=(slices[-1] + 1) if slices else 0,
            **common,
        )
    parent = _attribute(device, "parentUUID")
    if kind == "mig" and parent:
        # Named as the driver names the parent GPU ("gpu-0" of "gpu-0-mig-..."), else by UUID.
        prefix = device.name.split("-mig-", 1)[0] if "-mig-" in device.name else parent
        slices = _slices_of(device.capacity)
        return _Facts(
            role=_Role.STATIC_MIG,
            gpu=f"{pool}/{prefix}",
            slices=_span(slices),
            # A MIG-capable GPU has 8 memory slices; an instance names those it sits on.
            slice_count=max(8, slices[-1] + 1) if slices else 0,
            **common,
        )
    shared = bool(device.allow_multiple_allocations)
    dimension = _share_dimension(device) if shared else ""
    common["sharing"] = _attribute(device, "sharing")
    common["dimension"] = dimension
    if dimension:
        common["dimension_capacity"] = _quantity(device.capacity[dimension].value)
    return _Facts(
        role=_Role.SHARED if shared else _Role.WHOLE,
        gpu=f"{pool}/{device.name}",
        slices=None,
        slice_count=0,
        **common,
    )


_Held = dict[str, list[tuple[ResourceClaim, DeviceRequestAllocationResult]]]


def _holders(cache: SchedulerCache) -> dict[tuple[str, str], _Held]:
    """(driver, pool) -> device -> the claims allocated it, with their results."""
    out: dict[tuple[str, str], _Held] = {}
    for claim in cache.claims.values():
        allocation = claim.status.allocation
        if allocation is None:
            continue
        for result in allocation.devices.results:
            pool = out.setdefault((result.driver, result.pool), {})
            pool.setdefault(result.device, []).append((claim, result))
    return out


def _claim_pods(claim: ResourceClaim) -> list[str]:
    namespace = claim.metadata.namespace or "default"
    return [f"{namespace}/{r.name}" for r in claim.status.reserved_for if r.resource == "pods"]


def _share_dimension(device: Device) -> str:
    return next((d for d in SHARE_DIMENSIONS if d in device.capacity), "")


def _node_json(node: Node) -> JSON:
    return {
        "name": node.metadata.name,
        "unschedulable": bool(node.spec.unschedulable),
        "taints": [
            {"key": t.key, "value": t.value or "", "effect": t.effect} for t in node.spec.taints
        ],
        "labels": {
            k: v
            for k, v in sorted(node.metadata.labels.items())
            if k.startswith(("nvidia.com/gpu.", "cloud.google.com/gke-tpu", "topology."))
        },
    }


@dataclass(frozen=True)
class PriceBook:
    """USD per GPU-hour by the GPU's product name, through the catalog's names."""

    catalog: Catalog | None
    prices: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_PRICES))

    def price(self, product_name: str) -> float | None:
        if product_name in self.prices:
            return self.prices[product_name]
        name = self.catalog_name(product_name)
        return self.prices.get(name) if name is not None else None

    def catalog_name(self, product_name: str) -> str | None:
        """The catalog's short name of a product ("h100-80gb-sxm"), None if not in it."""
        if self.catalog is None or not product_name:
            return None
        try:
            return self.catalog.gpu_by_product_name(product_name).name
        except NotFoundError:
            return None


class FleetBuilder:
    """Builds fleet documents, remembering each published device's facts (`_Facts`: its
    role, GPU, slices, model, taints) so that a live dashboard rebuilding the document on
    every change does not read every device's attributes again.

    What is remembered is keyed on the ResourceSlice object (and the DeviceTaintRules its
    inventory applies): the scheduler cache replaces, never mutates, a slice that changes, so
    an entry is valid exactly as long as its slice object is in the inventory; entries of
    slices no longer there are dropped at every build, so memory follows the fleet.
    `remember=False` recomputes every device's facts every time (the plain path; the tests
    check both give the same document). One builder serves one caller at a time.

    >>> builder = FleetBuilder()
    >>> document = builder.build(cache, pending=pending, prices=prices)
    """

    def __init__(self, *, remember: bool = True) -> None:
        self.remember = remember
        self._facts: dict[int, tuple[ResourceSlice, tuple[int, ...], _SliceFacts]] = {}

    def _slice_facts(self, entry: SliceEntry) -> _SliceFacts:
        if not self.remember:
            return _SliceFacts.of(entry)
        rules = tuple(id(r) for r in entry.rules)
        found = self._facts.get(id(entry.slice))
        if found is not None and found[0] is entry.slice and found[1] == rules:
            return found[2]
        facts = _SliceFacts.of(entry)
        self._facts[id(entry.slice)] = (entry.slice, rules, facts)
        return facts

    def build(
        self,
        cache: SchedulerCache,
        *,
        pending: Sequence[PendingPodView] = (),
        cluster_queues: Sequence[Mapping[str, Any]] = (),
        prices: PriceBook | None = None,
        generated_at: str = "",
        source: str = "",
        waiting_claims: Sequence[ResourceClaim] = (),
    ) -> JSON:
        """The document for the cache as it is now (see the module docstring).
        `waiting_claims`: the claims pending pods would ask for that are not in the cache
        (made from their templates), weighed with the cache's for the fragmentation tile."""
        prices = prices if prices is not None else PriceBook(None)
        holders = _holders(cache)
        names = sorted(cache.nodes)
        gpus_by_node: dict[str, dict[str, _Gpu]] = {n: {} for n in names}
        others: dict[str, list[_Drawn]] = {n: [] for n in names}
        newest: dict[tuple[str, str], int] = {}
        slices = cache.inventory.slices
        for entry in slices:
            spec = entry.slice.spec
            key = (spec.driver, spec.pool.name)
            newest[key] = max(newest.get(key, spec.pool.generation), spec.pool.generation)
        seen: set[int] = set()
        nothing: _Held = {}
        for entry in slices:
            spec = entry.slice.spec
            seen.add(id(entry.slice))
            driver, pool = spec.driver, spec.pool.name
            if spec.pool.generation != newest[(driver, pool)]:
                continue
            known = self._slice_facts(entry)
            held = holders.get((driver, pool), nothing)
            taken = sorted(i for name in held if (i := known.index.get(name)) is not None)
            if spec.node_name:
                node = spec.node_name
                if node not in gpus_by_node:
                    continue
                # Devices in publication order: those always drawn and those held.
                for i in sorted(known.shown.union(taken)):
                    facts = known.facts[i]
                    _place(gpus_by_node[node], others[node], facts, held.get(facts.name, ()))
                continue
            for facts in known.facts:  # a pool whose devices each name their node
                node = facts.node
                here = held.get(facts.name, ())
                if node in gpus_by_node:
                    _place(gpus_by_node[node], others[node], facts, here)
        if self.remember:
            for gone in set(self._facts) - seen:
                del self._facts[gone]
        rows = []
        total_gpus = 0
        used_gpus = 0.0
        cost_total = 0.0
        cost_used = 0.0
        unpriced: set[str] = set()
        free: dict[str, float] = {}  # node -> free GPU capacity, in GPUs
        for name in names:
            info = cache.nodes[name]
            row = _node_json(info.node)
            gpus = []
            for gpu in sorted(gpus_by_node[name].values(), key=lambda g: _natural(g.key)):
                document = _gpu_json(gpu)
                price = prices.price(gpu.model)
                document["pricePerHour"] = price
                document["catalogName"] = prices.catalog_name(gpu.model)
                gpus.append(document)
                total_gpus += 1
                used_gpus += document["used"]
                free[name] = free.get(name, 0.0) + 1.0 - document["used"]
                if price is None:
                    unpriced.add(gpu.model or "unknown")
                else:
                    cost_total += price
                    cost_used += price * document["used"]
            row["gpus"] = gpus
            row["otherDevices"] = [_drawn_json(d) for d in others[name]]
            row["pods"] = sorted(p.key for p in info.pods)
            rows.append(row)
        return {
            "schema": SCHEMA,
            "generatedAt": generated_at,
            "source": source,
            "summary": {
                "nodes": len(rows),
                "gpus": total_gpus,
                "usedGpus": round(used_gpus, 4),
                "utilization": round(used_gpus / total_gpus, 4) if total_gpus else 0.0,
                "fragmentation": round(stranded_gpu_share(cache, free, waiting_claims), 4),
                "pendingPods": len(pending),
                "costPerHour": round(cost_total, 4),
                "usedCostPerHour": round(cost_used, 4),
                "idleCostPerHour": round(cost_total - cost_used, 4),
                "unpricedModels": sorted(unpriced),
            },
            "nodes": rows,
            "pending": [
                {"pod": p.pod, "message": p.message, "queue": p.queue, "profile": p.profile}
                for p in sorted(pending, key=lambda p: p.pod)
            ],
            "queues": [cluster_queue_json(q) for q in cluster_queues],
        }


def build_fleet(
    cache: SchedulerCache,
    *,
    pending: Sequence[PendingPodView] = (),
    cluster_queues: Sequence[Mapping[str, Any]] = (),
    prices: PriceBook | None = None,
    generated_at: str = "",
    source: str = "",
    waiting_claims: Sequence[ResourceClaim] = (),
) -> JSON:
    """The document for the cache as it is now, computed from scratch (`FleetBuilder`
    remembers devices' facts between builds)."""
    return FleetBuilder(remember=False).build(
        cache,
        pending=pending,
        cluster_queues=cluster_queues,
        prices=prices,
        generated_at=generated_at,
        source=source,
        waiting_claims=waiting_claims,
    )


def typical_pending_claim(
    cache: SchedulerCache, waiting: Iterable[ResourceClaim] = ()
) -> ResourceClaim | None:
    """The median unallocated claim by the devices it asks for (the lower median, ties by
    name), among the cache's and `waiting` (claims of pending pods not in the cache; the
    cache's copy wins for a name in both); None when no claim with a known device count
    waits."""
    claims = {f"{c.metadata.namespace}/{c.metadata.name}": c for c in waiting}
    claims.update((f"{c.metadata.namespace}/{c.metadata.name}", c) for c in cache.claims.values())
    sized = sorted(
        (n, key, c)
        for key, c in claims.items()
        if c.status.allocation is None and (n := claim_device_count(c)) > 0
    )
    return sized[(len(sized) - 1) // 2][2] if sized else None


def stranded_gpu_share(
    cache: SchedulerCache, free: Mapping[str, float], waiting: Iterable[ResourceClaim] = ()
) -> float:
    """The share of the free GPU capacity (`free`: node -> free GPUs, fractions of MIG slices
    and shares included) on nodes where the typical pending claim (`typical_pending_claim` of
    the cache and `waiting`) cannot be allocated now (the module docstring). One allocation
    attempt per node with free capacity."""
    total = sum(v for v in free.values() if v > 0)
    claim = typical_pending_claim(cache, waiting)
    if claim is None or total <= 0:
        return 0.0
    allocator = Allocator(cache.features)
    stranded = 0.0
    for name, capacity in free.items():
        info = cache.nodes.get(name)
        if capacity <= 0 or info is None:
            continue
        try:
            fits = (
                allocator.allocate(
                    info.node, [claim], cache.inventory, cache.classes, cache.allocated
                )
                is not None
            )
        except AllocationError:  # the claim cannot be allocated here at all
            fits = False
        if not fits:
            stranded += capacity
    return stranded / total


def _natural(text: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _place(
    gpus: dict[str, _Gpu],
    others: list[_Drawn],
    facts: _Facts,
    held: Sequence[tuple[ResourceClaim, DeviceRequestAllocationResult]],
) -> None:
    role = facts.role
    if role is _Role.DYNAMIC_MIG and not held and not facts.taints:
        # A possibility among many that overlap: drawn only when carved (or tainted).
        gpu = gpus.get(facts.gpu)
        if gpu is None:
            gpu = gpus[facts.gpu] = _Gpu(facts.gpu, facts.model, "mig-dynamic")
        gpu.slices = max(gpu.slices, facts.slice_count)
        return
    drawn = _Drawn(facts)
    for claim, result in held:
        share = None
        if facts.dimension and facts.dimension_capacity:
            consumed = result.consumed_capacity.get(facts.dimension)
            share = _quantity(consumed) / facts.dimension_capacity if consumed is not None else None
        drawn.holders.append(
            _Holder(
                f"{claim.metadata.namespace}/{claim.metadata.name}",
                _claim_pods(claim),
                result.request,
                share,
            )
        )
    if role is _Role.OTHER:
        others.append(drawn)
        return
    mode = {
        _Role.WHOLE: "whole",
        _Role.SHARED: "shared",
        _Role.STATIC_MIG: "mig-static",
        _Role.DYNAMIC_GPU: "mig-dynamic",
        _Role.DYNAMIC_MIG: "mig-dynamic",
    }[role]
    gpu = gpus.get(facts.gpu)
    if gpu is None:
        gpu = gpus[facts.gpu] = _Gpu(facts.gpu, facts.model, mode, sharing=facts.sharing)
    gpu.slices = max(gpu.slices, facts.slice_count)
    if role is _Role.DYNAMIC_GPU:
        gpu.memory = max(gpu.memory, facts.memory)
        gpu.taints.extend(facts.taints)
        # The whole GPU drawn only when taken: then it covers every slice.
        if drawn.holders:
            gpu.drawn.append(drawn)
        return
    if role is _Role.DYNAMIC_MIG:
        gpu.drawn.append(drawn)
        return
    if role is _Role.STATIC_MIG:
        gpu.memory += facts.memory
        gpu.drawn.append(drawn)
        return
    gpu.memory = facts.memory
    gpu.share_dimension = facts.dimension
    gpu.taints.extend(facts.taints)
    gpu.drawn.append(drawn)


def _taint_json(taint: tuple[str, str, str]) -> JSON:
    return {"key": taint[0], "value": taint[1], "effect": taint[2]}


def _drawn_json(drawn: _Drawn) -> JSON:
    facts = drawn.facts
    return {
        "device": facts.name,
        "profile": facts.profile or None,
        "slices": list(facts.slices) if facts.slices is not None else None,
        "memory": facts.memory,
        "allocated": bool(drawn.holders),
        "taints": [_taint_json(t) for t in facts.taints],
        "claims": [
            {"claim": h.claim, "pods": h.pods, "request": h.request, "share": h.share}
            for h in drawn.holders
        ],
    }


def _gpu_json(gpu: _Gpu) -> JSON:
    if gpu.mode == "shared":
        used = sum(h.share if h.share is not None else 1.0 for d in gpu.drawn for h in d.holders)
    elif gpu.slices:
        taken: set[int] = set()
        for d in gpu.drawn:
            span = d.facts.slices
            if d.holders and span is not None:
                taken.update(range(span[0], span[0] + span[1]))
        used = len(taken) / gpu.slices
    else:
        used = 1.0 if any(d.holders for d in gpu.drawn) else 0.0
    return {
        "id": gpu.key,
        "model": gpu.model,
        "mode": gpu.mode,
        "sharing": gpu.sharing or None,
        "shareDimension": gpu.share_dimension or None,
        "memory": gpu.memory,
        "slices": gpu.slices,
        "used": round(min(used, 1.0), 4),
        "taints": [_taint_json(t) for t in gpu.taints],
        "devices": [_drawn_json(d) for d in gpu.drawn],
    }


def cluster_queue_json(queue: Mapping[str, Any]) -> JSON:
    """A Kueue ClusterQueue (as the API server holds it): nominal quota and usage per
    flavor and resource, from `spec.resourceGroups` and `status.flavorsUsage`."""
    metadata = queue.get("metadata") or {}
    spec = queue.get("spec") or {}
    status = queue.get("status") or {}
    usage: dict[tuple[str, str], tuple[str, str]] = {}
    for flavor in status.get("flavorsUsage") or []:
        for resource in flavor.get("resources") or []:
            usage[(str(flavor.get("name", "")), str(resource.get("name", "")))] = (
                str(resource.get("total", "0")),
                str(resource.get("borrowed", "0")),
            )
    flavors = []
    for group in spec.get("resourceGroups") or []:
        for flavor in group.get("flavors") or []:
            fname = str(flavor.get("name", ""))
            resources = []
            for resource in flavor.get("resources") or []:
                rname = str(resource.get("name", ""))
                total, borrowed = usage.get((fname, rname), ("0", "0"))
                resources.append(
                    {
                        "name": rname,
                        "nominal": str(resource.get("nominalQuota", "0")),
                        "used": total,
                        "borrowed": borrowed,
                        "nominalValue": _number(resource.get("nominalQuota", "0")),
                        "usedValue": _number(total),
                    }
                )
            flavors.append({"flavor": fname, "resources": resources})
    return {
        "name": str(metadata.get("name", "")),
        "cohort": spec.get("cohortName") or spec.get("cohort") or None,
        "pendingWorkloads": int(status.get("pendingWorkloads") or 0),
        "admittedWorkloads": int(status.get("admittedWorkloads") or 0),
        "flavors": flavors,
    }


def _number(text: Any) -> float:
    try:
        return float(Quantity.parse(str(text)).nano) / 1e9
    except (ValueError, TypeError, AttributeError):
        return 0.0
