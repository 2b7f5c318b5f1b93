"""The accelerators of a scheduler cache as a person counts them: which devices are GPUs,
how much of each GPU is used, and how much free GPU capacity the typical pending claim
cannot use. One computation for the dashboard's fleet (`dashboard.fleet`) and the
`dralloc_fragmented_gpu_share` gauge (`kube.metrics`).

Pure computation over a `SchedulerCache` (no I/O). A device's place depends on how its
driver publishes it (a driver whose name ends in nvidia.com or amd.com, `type` gpu or mig):

* a whole GPU: one device, allocated or free;
* static MIG: the instances that exist (`parentUUID` names their GPU), each on the memory
  slices its `memorySliceN` capacities name;
* dynamic MIG (partitionable devices): the devices that consume one counter set are one GPU;
  only the allocated ones are laid out, on the `memory-slice-N` counters they consume, since
  the unallocated ones are possibilities that overlap;
* a shared GPU (`allowMultipleAllocations`: time-slicing replicas, MPS clients, fractional
  cores): its claims' shares of the first of those capacities it publishes;
* anything else (a TPU chip, a NIC): one device, allocated or free, not a GPU.

A GPU's used share (`gpu_used`) is 1 for an allocated whole GPU, the slices in use over all
slices for MIG, the shares' sum for a shared GPU. The fragmented share
(`fragmented_gpu_share`) is the share of the free GPU capacity (each GPU's 1 - used) that
sits on nodes where the typical pending claim (the median one by devices asked,
`claim_device_count`, among the cache's unallocated claims and any the caller adds) cannot
be allocated now, as the allocator answers on each node with free capacity; 0 when nothing
is free or nothing waits. Sixteen free 2g.20gb instances beside a claim for a 3g.40gb are all
stranded; a free whole GPU on a dynamic-MIG node, which could carve one, is not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from dralloc.allocator import AllocationError, Allocator
from dralloc.api.resource import (
    Device,
    DeviceRequest,
    DeviceRequestAllocationResult,
    ResourceClaim,
    ResourceSlice,
)
from dralloc.scheduler.cache import SchedulerCache

if TYPE_CHECKING:
    from dralloc.allocator.inventory import SliceEntry

__all__ = [
    "DeviceFacts",
    "Drawn",
    "Gpu",
    "Held",
    "Holder",
    "Layout",
    "Role",
    "SliceFacts",
    "SliceFactsMemory",
    "claim_device_count",
    "device_facts",
    "device_model",
    "fragmented_gpu_share",
    "free_gpu_capacity",
    "gpu_used",
    "holders_of",
    "lay_out",
    "place",
    "request_device_count",
    "stranded_gpu_share",
    "typical_pending_claim",
]

# Capacities a shared GPU's claims consume, in the order a share is read from.
SHARE_DIMENSIONS = ("replicas", "clients", "cores", "memory")
_SLICE = re.compile(r"^memory-?[sS]lice-?(\d+)$")
GPU_DRIVER_SUFFIXES = ("nvidia.com", "amd.com")


@dataclass
class Holder:
    """A claim holding a device: `namespace/name`, the pods it is reserved for, the request
    it was allocated for, and its share of a shared GPU (None: whole, or not told)."""

    claim: str
    pods: list[str]
    request: str
    share: float | None = None


class Role(Enum):
    """Where a device goes (see the module docstring)."""

    OTHER = "other"  # not a GPU: a device of its own
    WHOLE = "whole"  # a GPU, allocated whole
    SHARED = "shared"  # a GPU allocated in shares (allowMultipleAllocations)
    STATIC_MIG = "mig-static"  # an instance that exists
    DYNAMIC_GPU = "dynamic-gpu"  # the whole GPU of a partitionable device
    DYNAMIC_MIG = "dynamic-mig"  # an instance a partitionable device may carve


@dataclass(frozen=True, slots=True)
class DeviceFacts:
    """What a device's publication says, whoever holds it: computed once per published
    device (`FleetBuilder` remembers them per ResourceSlice object)."""

    name: str
    node: str  # the device's own nodeName ("" when its slice names the node)
    role: Role
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
class SliceFacts:
    """A slice's devices' facts, `index` by name, and `shown`: the positions of the devices
    drawn even when nobody holds them (all but dynamic MIG's possible instances, of which
    only the first of each GPU is kept, so that the GPU shows even with none carved)."""

    facts: tuple[DeviceFacts, ...]
    index: Mapping[str, int]
    shown: frozenset[int]

    @classmethod
    def of(cls, entry: SliceEntry) -> SliceFacts:
        facts = tuple(device_facts(entry, d) for d in entry.slice.spec.devices)
        shown: set[int] = set()
        gpus: set[str] = set()
        for i, f in enumerate(facts):
            if f.role is not Role.DYNAMIC_MIG or f.taints or f.gpu not in gpus:
                shown.add(i)
                gpus.add(f.gpu)
        return cls(facts, {f.name: i for i, f in enumerate(facts)}, frozenset(shown))


@dataclass
class Drawn:
    facts: DeviceFacts
    holders: list[Holder] = field(default_factory=list)


@dataclass
class Gpu:
    key: str
    model: str
    mode: str
    sharing: str = ""
    memory: float = 0.0
    slices: int = 0
    share_dimension: str = ""
    drawn: list[Drawn] = field(default_factory=list)
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


def device_facts(entry: SliceEntry, device: Device) -> DeviceFacts:
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
        return DeviceFacts(role=Role.OTHER, gpu="", slices=None, slice_count=0, **common)
    if device.consumes_counters:
        slices = _slices_of(n for c in device.consumes_counters for n in c.counters)
        role = Role.DYNAMIC_GPU if kind == "gpu" else Role.DYNAMIC_MIG
        return DeviceFacts(
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
        return DeviceFacts(
            role=Role.STATIC_MIG,
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
    return DeviceFacts(
        role=Role.SHARED if shared else Role.WHOLE,
        gpu=f"{pool}/{device.name}",
        slices=None,
        slice_count=0,
        **common,
    )


Held = dict[str, list[tuple[ResourceClaim, DeviceRequestAllocationResult]]]


def holders_of(cache: SchedulerCache) -> dict[tuple[str, str], Held]:
    """(driver, pool) -> device -> the claims allocated it, with their results."""
    out: dict[tuple[str, str], Held] = {}
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


MODEL_ATTRIBUTES = ("productName", "model")


def device_model(device: Device) -> str:
    """The device's `productName` attribute, else `model` (bare or in any domain), else ""."""
    for wanted in MODEL_ATTRIBUTES:
        for name, attribute in sorted(device.attributes.items()):
            if (name == wanted or name.endswith(f"/{wanted}")) and attribute.string:
                return attribute.string
    return ""


def request_device_count(request: DeviceRequest) -> int | None:
    """How many devices a request asks for: its count in ExactCount mode (a firstAvailable
    request counts its first subrequest); None for mode All, whose size depends on the node."""
    if request.exactly is not None:
        mode, count = request.exactly.allocation_mode, request.exactly.count
    elif request.first_available:
        first = request.first_available[0]
        mode, count = first.allocation_mode, first.count
    else:
        return None
    if mode == "All":
        return None
    return count if count is not None else 1


def claim_device_count(claim: ResourceClaim) -> int:
    """The devices a claim needs, counting only the requests of known size."""
    return sum(request_device_count(r) or 0 for r in claim.spec.devices.requests)


@dataclass
class Layout:
    """The cache's devices laid out per node: `gpus` (node -> GPU id -> GPU), `others`
    (node -> the devices that are not GPUs), `seen` (the `id` of every ResourceSlice object
    read, for a caller remembering facts per slice)."""

    gpus: dict[str, dict[str, Gpu]]
    others: dict[str, list[Drawn]]
    seen: set[int]


class SliceFactsMemory:
    """Each published device's facts (`DeviceFacts`: its role, GPU, slices, model, taints),
    remembered per ResourceSlice so that a layout made again and again (a live dashboard's
    every change, every `/metrics` scrape) does not read every device's attributes again.

    Keyed on the ResourceSlice object and the DeviceTaintRules its inventory applies: the
    scheduler cache replaces, never mutates, a slice that changes, so an entry is valid
    exactly as long as its slice object is in the inventory. `lay_out` drops the entries of
    slices no longer there at every layout, so memory follows the fleet. One caller at a
    time; passing None to `lay_out` instead is the plain path (facts read every time).
    """

    def __init__(self) -> None:
        self._facts: dict[int, tuple[ResourceSlice, tuple[int, ...], SliceFacts]] = {}

    def __len__(self) -> int:
        return len(self._facts)

    def facts(self, entry: SliceEntry) -> SliceFacts:
        """The facts of `entry`'s devices, remembered or read now."""
        rules = tuple(id(r) for r in entry.rules)
        found = self._facts.get(id(entry.slice))
        if found is not None and found[0] is entry.slice and found[1] == rules:
            return found[2]
        facts = SliceFacts.of(entry)
        self._facts[id(entry.slice)] = (entry.slice, rules, facts)
        return facts

    def keep_only(self, seen: set[int]) -> None:
        """Drop the entries of slices whose `id` is not in `seen`."""
        for gone in set(self._facts) - seen:
            del self._facts[gone]


def lay_out(cache: SchedulerCache, memory: SliceFactsMemory | None = None) -> Layout:
    """Every node of the cache with its GPUs and other devices, from the newest generation
    of every pool, each device with the claims that hold it. `memory` remembers the devices'
    facts between layouts (None: read every device now)."""
    slice_facts = memory.facts if memory is not None else SliceFacts.of
    holders = holders_of(cache)
    names = sorted(cache.nodes)
    gpus_by_node: dict[str, dict[str, Gpu]] = {n: {} for n in names}
    others: dict[str, list[Drawn]] = {n: [] for n in names}
    newest: dict[tuple[str, str], int] = {}
    slices = cache.inventory.slices
    for entry in slices:
        spec = entry.slice.spec
        key = (spec.driver, spec.pool.name)
        newest[key] = max(newest.get(key, spec.pool.generation), spec.pool.generation)
    seen: set[int] = set()
    nothing: Held = {}
    for entry in slices:
        spec = entry.slice.spec
        seen.add(id(entry.slice))
        driver, pool = spec.driver, spec.pool.name
        if spec.pool.generation != newest[(driver, pool)]:
            continue
        known = slice_facts(entry)
        held = holders.get((driver, pool), nothing)
        taken = sorted(i for name in held if (i := known.index.get(name)) is not None)
        if spec.node_name:
            node = spec.node_name
            if node not in gpus_by_node:
                continue
            # Devices in publication order: those always shown and those held.
            for i in sorted(known.shown.union(taken)):
                facts = known.facts[i]
                place(gpus_by_node[node], others[node], facts, held.get(facts.name, ()))
            continue
        for facts in known.facts:  # a pool whose devices each name their node
            node = facts.node
            here = held.get(facts.name, ())
            if node in gpus_by_node:
                place(gpus_by_node[node], others[node], facts, here)
    if memory is not None:
        memory.keep_only(seen)
    return Layout(gpus_by_node, others, seen)


def gpu_used(gpu: Gpu) -> float:
    """The share of `gpu` allocated, 0..1 (the module docstring)."""
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
    return min(used, 1.0)


def free_gpu_capacity(layout: Layout) -> dict[str, float]:
    """Node -> its free GPU capacity in GPUs (each GPU's 1 - `gpu_used`), every node."""
    return {
        node: sum(1.0 - gpu_used(g) for g in gpus.values()) for node, gpus in layout.gpus.items()
    }


def fragmented_gpu_share(
    cache: SchedulerCache,
    waiting: Iterable[ResourceClaim] = (),
    layout: Layout | None = None,
    memory: SliceFactsMemory | None = None,
) -> float:
    """The share of the cache's free GPU capacity stranded where the typical pending claim
    (of the cache's and `waiting`) cannot be allocated (the module docstring); `layout`:
    the cache's, when the caller has it already, else laid out now with `memory`."""
    layout = layout if layout is not None else lay_out(cache, memory)
    return stranded_gpu_share(cache, free_gpu_capacity(layout), waiting)


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


def place(
    gpus: dict[str, Gpu],
    others: list[Drawn],
    facts: DeviceFacts,
    held: Sequence[tuple[ResourceClaim, DeviceRequestAllocationResult]],
) -> None:
    role = facts.role
    if role is Role.DYNAMIC_MIG and not held and not facts.taints:
        # A possibility among many that overlap: drawn only when carved (or tainted).
        gpu = gpus.get(facts.gpu)
        if gpu is None:
            gpu = gpus[facts.gpu] = Gpu(facts.gpu, facts.model, "mig-dynamic")
        gpu.slices = max(gpu.slices, facts.slice_count)
        return
    drawn = Drawn(facts)
    for claim, result in held:
        share = None
        if facts.dimension and facts.dimension_capacity:
            consumed = result.consumed_capacity.get(facts.dimension)
            share = _quantity(consumed) / facts.dimension_capacity if consumed is not None else None
        drawn.holders.append(
            Holder(
                f"{claim.metadata.namespace}/{claim.metadata.name}",
                _claim_pods(claim),
                result.request,
                share,
            )
        )
    if role is Role.OTHER:
        others.append(drawn)
        return
    mode = {
        Role.WHOLE: "whole",
        Role.SHARED: "shared",
        Role.STATIC_MIG: "mig-static",
        Role.DYNAMIC_GPU: "mig-dynamic",
        Role.DYNAMIC_MIG: "mig-dynamic",
    }[role]
    gpu = gpus.get(facts.gpu)
    if gpu is None:
        gpu = gpus[facts.gpu] = Gpu(facts.gpu, facts.model, mode, sharing=facts.sharing)
    gpu.slices = max(gpu.slices, facts.slice_count)
    if role is Role.DYNAMIC_GPU:
        gpu.memory = max(gpu.memory, facts.memory)
        gpu.taints.extend(facts.taints)
        # The whole GPU drawn only when taken: then it covers every slice.
        if drawn.holders:
            gpu.drawn.append(drawn)
        return
    if role is Role.DYNAMIC_MIG:
        gpu.drawn.append(drawn)
        return
    if role is Role.STATIC_MIG:
        gpu.memory += facts.memory
        gpu.drawn.append(drawn)
        return
    gpu.memory = facts.memory
    gpu.share_dimension = facts.dimension
    gpu.taints.extend(facts.taints)
    gpu.drawn.append(drawn)
