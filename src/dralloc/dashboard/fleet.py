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
GPUs over its GPUs; fragmentation is `AcceleratorReport.fragmented_gpu_share`, the number the
scheduler's `/metrics` exports. Cost charges every provisioned GPU-hour at its model's price
(`sim.prices`, by the GPU's catalog name): used, and idle (the rest).

The document's schema is `SCHEMA` (docs/dashboard.md lists every field).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dralloc.api.core import Node
from dralloc.api.quantity import Quantity
from dralloc.api.resource import Device, DeviceRequestAllocationResult, ResourceClaim
from dralloc.devices.catalog import Catalog
from dralloc.errors import NotFoundError
from dralloc.kube.metrics import accelerator_report, device_model
from dralloc.scheduler.cache import SchedulerCache
from dralloc.sim.prices import DEFAULT_PRICES

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


@dataclass
class _Drawn:
    device: str
    profile: str = ""
    slices: tuple[int, int] | None = None  # (first, count)
    memory: float = 0.0
    holders: list[_Holder] = field(default_factory=list)
    taints: list[JSON] = field(default_factory=list)


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
    taints: list[JSON] = field(default_factory=list)


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


def _taints(device: Device) -> list[JSON]:
    return [{"key": t.key, "value": t.value, "effect": t.effect} for t in device.taints]


def _holders(
    cache: SchedulerCache,
) -> dict[tuple[str, str, str], list[tuple[ResourceClaim, DeviceRequestAllocationResult]]]:
    """(driver, pool, device) -> the claims allocated it, with their results."""
    out: dict[tuple[str, str, str], list[tuple[ResourceClaim, DeviceRequestAllocationResult]]] = (
        defaultdict(list)
    )
    for claim in cache.claims.values():
        allocation = claim.status.allocation
        if allocation is None:
            continue
        for result in allocation.devices.results:
            out[(result.driver, result.pool, result.device)].append((claim, result))
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
        if self.catalog is None or not product_name:
            return None
        try:
            name = self.catalog.gpu_by_product_name(product_name).name
        except NotFoundError:
            return None
        return self.prices.get(name)


def build_fleet(
    cache: SchedulerCache,
    *,
    pending: Sequence[PendingPodView] = (),
    cluster_queues: Sequence[Mapping[str, Any]] = (),
    prices: PriceBook | None = None,
    generated_at: str = "",
    source: str = "",
    nodes: Iterable[str] | None = None,
) -> JSON:
    """The document for the cache as it is now (see the module docstring). `nodes` limits
    the rows to those names (default: every node of the cache)."""
    prices = prices if prices is not None else PriceBook(None)
    holders = _holders(cache)
    names = sorted(cache.nodes) if nodes is None else sorted(nodes)
    gpus_by_node: dict[str, dict[str, _Gpu]] = {n: {} for n in names}
    others: dict[str, list[_Drawn]] = {n: [] for n in names}
    newest: dict[tuple[str, str], int] = {}
    for entry in cache.inventory.slices:
        spec = entry.slice.spec
        key = (spec.driver, spec.pool.name)
        newest[key] = max(newest.get(key, spec.pool.generation), spec.pool.generation)
    for entry in cache.inventory.slices:
        spec = entry.slice.spec
        if spec.pool.generation != newest[(spec.driver, spec.pool.name)]:
            continue
        for device_entry in entry.devices:
            device = device_entry.device
            node = spec.node_name or device.node_name or ""
            if node not in gpus_by_node:
                continue
            held = holders.get((spec.driver, spec.pool.name, device.name), [])
            _place(
                gpus_by_node[node],
                others[node],
                spec.driver,
                spec.pool.name,
                device,
                held,
            )
    rows = []
    total_gpus = 0
    used_gpus = 0.0
    cost_total = 0.0
    cost_used = 0.0
    unpriced: set[str] = set()
    for name in names:
        info = cache.nodes.get(name)
        row = (
            _node_json(info.node)
            if info is not None
            else {"name": name, "unschedulable": False, "taints": [], "labels": {}}
        )
        gpus = []
        for gpu in sorted(gpus_by_node[name].values(), key=lambda g: _natural(g.key)):
            document = _gpu_json(gpu)
            price = prices.price(gpu.model)
            document["pricePerHour"] = price
            gpus.append(document)
            total_gpus += 1
            used_gpus += document["used"]
            if price is None:
                unpriced.add(gpu.model or "unknown")
            else:
                cost_total += price
                cost_used += price * document["used"]
        row["gpus"] = gpus
        row["otherDevices"] = [_drawn_json(d) for d in others[name]]
        row["pods"] = sorted(p.key for p in (info.pods if info is not None else []))
        rows.append(row)
    report = accelerator_report(cache)
    return {
        "schema": SCHEMA,
        "generatedAt": generated_at,
        "source": source,
        "summary": {
            "nodes": len(rows),
            "gpus": total_gpus,
            "usedGpus": round(used_gpus, 4),
            "utilization": round(used_gpus / total_gpus, 4) if total_gpus else 0.0,
            "fragmentation": round(report.fragmented_gpu_share, 4),
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


def _natural(text: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _place(
    gpus: dict[str, _Gpu],
    others: list[_Drawn],
    driver: str,
    pool: str,
    device: Device,
    held: Sequence[tuple[ResourceClaim, DeviceRequestAllocationResult]],
) -> None:
    kind = _attribute(device, "type")
    model = device_model(device)
    is_gpu = driver.endswith(GPU_DRIVER_SUFFIXES) and kind in ("gpu", "mig")
    drawn = _Drawn(
        device.name,
        profile=_attribute(device, "profile"),
        memory=_quantity(device.capacity["memory"].value) if "memory" in device.capacity else 0.0,
        taints=_taints(device),
    )
    dimension = _share_dimension(device) if device.allow_multiple_allocations else ""
    for claim, result in held:
        share = None
        if dimension:
            capacity = _quantity(device.capacity[dimension].value)
            consumed = result.consumed_capacity.get(dimension)
            share = (_quantity(consumed) / capacity) if consumed is not None and capacity else None
        drawn.holders.append(
            _Holder(
                f"{claim.metadata.namespace}/{claim.metadata.name}",
                _claim_pods(claim),
                result.request,
                share,
            )
        )
    if not is_gpu:
        others.append(drawn)
        return
    if device.consumes_counters:
        counter_set = device.consumes_counters[0].counter_set
        key = f"{pool}/{counter_set}"
        gpu = gpus.setdefault(key, _Gpu(key, model, "mig-dynamic"))
        slices = _slices_of(n for c in device.consumes_counters for n in c.counters)
        gpu.slices = max(gpu.slices, (slices[-1] + 1) if slices else 0)
        if kind == "gpu":
            gpu.memory = max(gpu.memory, drawn.memory)
            gpu.taints.extend(drawn.taints)
            # The whole GPU drawn only when taken: then it covers every slice.
            if drawn.holders:
                drawn.slices = _span(slices)
                gpu.drawn.append(drawn)
            return
        drawn.slices = _span(slices)
        if drawn.holders or drawn.taints:
            gpu.drawn.append(drawn)
        return
    parent = _attribute(device, "parentUUID")
    if kind == "mig" and parent:
        # Named as the driver names the parent GPU ("gpu-0" of "gpu-0-mig-..."), else by UUID.
        prefix = device.name.split("-mig-", 1)[0] if "-mig-" in device.name else parent
        key = f"{pool}/{prefix}"
        gpu = gpus.setdefault(key, _Gpu(key, model, "mig-static"))
        slices = _slices_of(device.capacity)
        drawn.slices = _span(slices)
        gpu.slices = max(gpu.slices, 8 if slices else 0, (slices[-1] + 1) if slices else 0)
        gpu.drawn.append(drawn)
        gpu.memory += drawn.memory
        return
    sharing = _attribute(device, "sharing")
    mode = "shared" if device.allow_multiple_allocations else "whole"
    key = f"{pool}/{device.name}"
    gpu = gpus.setdefault(key, _Gpu(key, model, mode, sharing=sharing))
    gpu.memory = drawn.memory
    gpu.share_dimension = dimension
    gpu.taints.extend(drawn.taints)
    gpu.drawn.append(drawn)


def _drawn_json(drawn: _Drawn) -> JSON:
    return {
        "device": drawn.device,
        "profile": drawn.profile or None,
        "slices": list(drawn.slices) if drawn.slices is not None else None,
        "memory": drawn.memory,
        "allocated": bool(drawn.holders),
        "taints": drawn.taints,
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
            if d.holders and d.slices is not None:
                taken.update(range(d.slices[0], d.slices[0] + d.slices[1]))
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
        "taints": gpu.taints,
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
