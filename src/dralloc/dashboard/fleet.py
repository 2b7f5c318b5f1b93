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
A GPU's `used` is the share of it allocated (`kube.accelerators.gpu_used`: 1 for an allocated
whole GPU, the slices in use over all slices for MIG, the shares' sum for a shared GPU).
Utilization is the fleet's used GPUs over its GPUs. Fragmentation is
`kube.accelerators.fragmented_gpu_share`, the very computation `/metrics`'
`dralloc_fragmented_gpu_share` reports: the share of the free GPU capacity (slices and shares
included) on nodes where the typical pending claim cannot be allocated now, among the
cache's unallocated claims and the `waiting_claims` the caller adds (those of pods an
admission still holds, which have no claim in the cache yet). Cost charges every
provisioned GPU-hour at its model's price (`sim.prices`, by the GPU's catalog name): used,
and idle (the rest).

The document's schema is `SCHEMA` (docs/dashboard.md lists every field).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dralloc.api.core import Node
from dralloc.api.quantity import Quantity
from dralloc.api.resource import ResourceClaim
from dralloc.devices.catalog import Catalog
from dralloc.errors import NotFoundError
from dralloc.kube.accelerators import (
    Drawn,
    Gpu,
    SliceFactsMemory,
    fragmented_gpu_share,
    gpu_used,
    lay_out,
)
from dralloc.scheduler.cache import SchedulerCache
from dralloc.sim.prices import DEFAULT_PRICES

if TYPE_CHECKING:
    pass

SCHEMA = "dralloc.dev/dashboard/v1"

JSON = dict[str, Any]


@dataclass(frozen=True)
class PendingPodView:
    """A pod waiting: `namespace/name`, where it waits, and the scheduler's last message."""

    pod: str
    message: str = ""
    queue: str = ""
    profile: str = ""


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
    """Builds fleet documents, remembering each published device's facts (`DeviceFacts`: its
    role, GPU, slices, model, taints) so that a live dashboard rebuilding the document on
    every change does not read every device's attributes again.

    What is remembered, and when it is dropped, is `kube.accelerators.SliceFactsMemory`'s
    contract. `remember=False` recomputes every device's facts every time (the plain path;
    the tests check both give the same document). One builder serves one caller at a time.

    >>> builder = FleetBuilder()
    >>> document = builder.build(cache, pending=pending, prices=prices)
    """

    def __init__(self, *, remember: bool = True) -> None:
        self.remember = remember
        self.memory = SliceFactsMemory()

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
        layout = lay_out(cache, self.memory if self.remember else None)
        names = sorted(cache.nodes)
        gpus_by_node, others = layout.gpus, layout.others
        rows = []
        total_gpus = 0
        used_gpus = 0.0
        cost_total = 0.0
        cost_used = 0.0
        unpriced: set[str] = set()
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
                "fragmentation": round(fragmented_gpu_share(cache, waiting_claims, layout), 4),
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


def _natural(text: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _taint_json(taint: tuple[str, str, str]) -> JSON:
    return {"key": taint[0], "value": taint[1], "effect": taint[2]}


def _drawn_json(drawn: Drawn) -> JSON:
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


def _gpu_json(gpu: Gpu) -> JSON:
    return {
        "id": gpu.key,
        "model": gpu.model,
        "mode": gpu.mode,
        "sharing": gpu.sharing or None,
        "shareDimension": gpu.share_dimension or None,
        "memory": gpu.memory,
        "slices": gpu.slices,
        "used": round(gpu_used(gpu), 4),
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
