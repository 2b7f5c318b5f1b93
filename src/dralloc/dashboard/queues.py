"""Kueue's objects as the dashboard draws them: ClusterQueues from a queueing state that admitted
Workloads: `dralloc queue -f`'s run (the offline dashboard) or a replay's Kueue admission
(`dralloc dashboard --replay --queues`).

Pure computation over a `QueueState` and its `QueueManager` (no I/O). Each ClusterQueue is
given as the API server would hold it: its object in the wire shape, with a Kueue-shaped
`.status` (`flavorsUsage` with `total` and `borrowed` per flavor and resource, and the
counts of admitted, reserving and pending Workloads), which `fleet.cluster_queue_json`
draws as usage against quota per flavor. `held_claims` makes the claims of the Workloads
that wait for admission, whose jobs are suspended and so have no pod and no claim yet, as the
resourceclaim controller will make them once they start: the fragmentation tile weighs them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dralloc.api.io import to_builtins
from dralloc.api.meta import ObjectMeta
from dralloc.api.resource import ResourceClaim, ResourceClaimTemplate
from dralloc.queueing.objects import Workload
from dralloc.queueing.queues import QueueManager
from dralloc.queueing.quota import FlavorResource, quantity_of
from dralloc.queueing.state import QueueState

__all__ = ["cluster_queue_documents", "cluster_queue_statuses", "held_claims"]

JSON = dict[str, Any]


def cluster_queue_statuses(
    state: QueueState, manager: QueueManager, workloads: Iterable[str]
) -> dict[str, JSON]:
    """ClusterQueue name -> a Kueue-shaped `.status` (module docstring); `workloads` are the
    keys (`namespace/name`) of every Workload submitted, counted under the ClusterQueue that
    admitted them, else the one their LocalQueue points at."""
    by_queue: dict[str, list[str]] = {}
    for key in workloads:
        queued = manager.workloads.get(key)
        reservation = state.reservations.get(key)
        name = reservation.cluster_queue if reservation is not None else ""
        by_queue.setdefault(name or (queued.cluster_queue if queued else ""), []).append(key)
    statuses: dict[str, JSON] = {}
    for cq in state.iter_cluster_queues():
        flavors = []
        for group in cq.obj.spec.resource_groups:
            for fq in group.flavors:
                resources = []
                for quota in fq.resources:
                    fr = FlavorResource(fq.name, quota.name)
                    used = cq.node.usage.get(fr, 0)
                    nominal = cq.node.quotas[fr].nominal if fr in cq.node.quotas else 0
                    resources.append(
                        {
                            "name": quota.name,
                            "total": str(quantity_of(quota.name, used)),
                            "borrowed": str(quantity_of(quota.name, max(0, used - nominal))),
                        }
                    )
                flavors.append({"name": fq.name, "resources": resources})
        keys = by_queue.get(cq.name, [])
        admitted = sum(1 for k in keys if k in state.reservations)
        statuses[cq.name] = {
            "flavorsUsage": flavors,
            "admittedWorkloads": admitted,
            "reservingWorkloads": admitted,
            "pendingWorkloads": len(keys) - admitted,
        }
    return statuses


def cluster_queue_documents(
    state: QueueState, manager: QueueManager, workloads: Iterable[str]
) -> list[JSON]:
    """Every ClusterQueue of `state`, by name, as a wire object with the `.status` of
    `cluster_queue_statuses`."""
    statuses = cluster_queue_statuses(state, manager, workloads)
    documents = []
    for cq in state.iter_cluster_queues():
        body = to_builtins(cq.obj)
        body["status"] = statuses[cq.name]
        documents.append(body)
    return documents


def held_claims(
    workloads: Iterable[Workload], templates: Mapping[tuple[str, str], ResourceClaimTemplate]
) -> list[ResourceClaim]:
    """The claims the pods of `workloads` (waiting for admission) would ask for, one per pod
    and ResourceClaimTemplate of its pod set, named `<workload>-<podset>-<i>-<claim>`;
    `templates` by (namespace, name). A claim by name is left out: if it exists, it is in
    the scheduler's cache already."""
    claims: list[ResourceClaim] = []
    for workload in workloads:
        namespace = workload.metadata.namespace
        for pod_set in workload.spec.pod_sets:
            for entry in pod_set.template.spec.resource_claims:
                name = entry.resource_claim_template_name
                template = templates.get((namespace, name or ""))
                if template is None:
                    continue
                for index in range(pod_set.count):
                    claim_name = f"{workload.metadata.name}-{pod_set.name}-{index}-{entry.name}"
                    metadata = ObjectMeta(name=claim_name, namespace=namespace)
                    claims.append(ResourceClaim(metadata=metadata, spec=template.spec.spec))
    return claims
