"""How a Workload's pod sets count against quota (spec/queueing.md 1.5 and 7).

Owns: `workload_requests`, which gives per pod set the per-pod amounts in Kueue units and the
count, or why the Workload cannot be counted. Per pod:

    max(largest init container, sum of regular containers (+ sidecars)) + overhead
    (pod-level requests replace the containers' for cpu and memory)

Limits stand in for missing requests; negative values are floored to 0. Extended resources
backed by DRA are charged under their mapping's name (7.3); ResourceClaimTemplates add DRA
charges (`dralloc.queueing.dra`). The total is per-pod x the effective count,
`count - reclaimablePods`. When a ClusterQueue covers the resource `pods`, each pod also
charges one `pods` (done at flavor assignment, which knows the queue).

Pure computation, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dralloc.api.core import Pod
from dralloc.api.defaults import (
    aggregate_container_requests,
    has_pod_level_requests,
    overhead,
    pod_level_requests,
)
from dralloc.api.quantity import Quantity
from dralloc.queueing.dra import DraInventory, DraQuotaConfig, claim_charges, extended_resource_name
from dralloc.queueing.objects import Workload
from dralloc.queueing.quota import amount_of

PODS = "pods"


@dataclass(frozen=True)
class PodSetRequests:
    """One pod set's demand: `per_pod` amounts (Kueue units) and the effective `count`."""

    name: str
    count: int
    per_pod: dict[str, int]
    min_count: int | None = None

    def total(self, count: int | None = None) -> dict[str, int]:
        n = self.count if count is None else count
        return {r: v * n for r, v in self.per_pod.items()}


@dataclass
class WorkloadRequests:
    pod_sets: list[PodSetRequests] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def pod_requests(pod: Pod) -> dict[str, Quantity]:
    """Per-pod requests as Kueue's `PodRequests` computes them."""
    total = aggregate_container_requests(pod)
    level = pod_level_requests(pod)
    if has_pod_level_requests(level):
        total.update(level)
    for name, value in overhead(pod).items():
        have = total.get(name)
        total[name] = value if have is None else have + value
    return total


def workload_requests(
    workload: Workload,
    inventory: DraInventory | None = None,
    config: DraQuotaConfig | None = None,
) -> WorkloadRequests:
    inventory = inventory if inventory is not None else DraInventory()
    config = config if config is not None else DraQuotaConfig()
    out = WorkloadRequests()
    reclaimable = {r.name: r.count for r in workload.status.reclaimable_pods}
    namespace = workload.metadata.namespace or "default"
    for i, ps in enumerate(workload.spec.pod_sets):
        pod = Pod(spec=ps.template.spec)
        per_pod: dict[str, int] = {}
        for name, value in pod_requests(pod).items():
            if name == PODS:
                out.errors.append(
                    f"spec.podSets[{i}] ({ps.name}): the resource pods is reserved for quota"
                )
                continue
            key = extended_resource_name(name, inventory, config)
            per_pod[key] = per_pod.get(key, 0) + max(0, amount_of(key, value))
        charges = claim_charges(ps.template.spec, namespace, inventory, config)
        out.errors += [f"spec.podSets[{i}] ({ps.name}): {e}" for e in charges.errors]
        for name, value in charges.amounts.items():
            per_pod[name] = per_pod.get(name, 0) + max(0, amount_of(name, value))
        count = max(0, ps.count - reclaimable.get(ps.name, 0))
        out.pod_sets.append(PodSetRequests(ps.name, count, per_pod, ps.min_count))
    return out
