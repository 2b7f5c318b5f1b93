"""A minimal apps/v1 ReplicaSet controller (`--controllers replicaset`): keeps
`spec.replicas` active pods for each ReplicaSet, as kube-controller-manager's `replicaset`
controller does.

`plan_replica_set` is the pure part: pods made from the template (`generateName: <rs>-`, a
controller reference), surplus pods deleted unscheduled first, then not ready, then newest;
the status counts `replicas` (active pods it controls), `fullyLabeledReplicas`,
`readyReplicas`, `availableReplicas` (ready: `minReadySeconds` is not waited for) and
`observedGeneration`. The loop around it is `PodOwnerController`'s.

Not modelled: adopting orphans its selector matches and releasing pods it no longer matches,
the slow-start batches, `minReadySeconds`, the ReplicaFailure condition.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from dralloc.kube.client import KubeClient, KubeDict, Resource
from dralloc.kube.controllers.base import is_being_deleted, is_pod_active, metadata
from dralloc.kube.controllers.owned import (
    PodOwnerController,
    PodsPlan,
    deletion_rank,
    is_controlled_by,
    is_pod_ready,
    pod_from_template,
)
from dralloc.kube.shared_informers import SharedInformers

NAME = "replicaset"
REPLICA_SETS = Resource("apps/v1", "replicasets", "ReplicaSet")


def plan_replica_set(rs: KubeDict, pods: Sequence[KubeDict], now: datetime) -> PodsPlan:
    """One sync of a ReplicaSet over the pods it controls."""
    del now  # a ReplicaSet's status carries no times this controller writes
    if is_being_deleted(rs):
        return PodsPlan()
    spec = rs.get("spec") or {}
    want = int(spec.get("replicas", 1))
    active = [p for p in pods if is_controlled_by(p, rs) and is_pod_active(p)]
    create: list[KubeDict] = []
    delete: list[KubeDict] = []
    if len(active) > want:
        delete = sorted(active, key=deletion_rank)[: len(active) - want]
    elif len(active) < want:
        create = [pod_from_template(rs, REPLICA_SETS) for _ in range(want - len(active))]
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    old_status = rs.get("status") or {}
    status: dict[str, Any] = {
        k: v
        for k, v in old_status.items()
        if k not in ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas")
    }
    ready = sum(1 for p in active if is_pod_ready(p))
    status["replicas"] = len(active)
    counters = {
        "fullyLabeledReplicas": sum(1 for p in active if _has_labels(p, template_labels)),
        "readyReplicas": ready,
        "availableReplicas": ready,
    }
    # Go's omitempty leaves zero counters out; `replicas` is always sent.
    status.update({k: v for k, v in counters.items() if v})
    generation = metadata(rs).get("generation")
    if generation:
        status["observedGeneration"] = generation
    return PodsPlan(tuple(create), tuple(delete), status if status != old_status else None)


def _has_labels(pod: KubeDict, labels: dict[str, Any]) -> bool:
    own = metadata(pod).get("labels") or {}
    return all(own.get(k) == v for k, v in labels.items())


class ReplicaSetController(PodOwnerController):
    """Runs `plan_replica_set` for every ReplicaSet that changed or whose pods changed.

    >>> controller = ReplicaSetController(client, informers)   # doctest: +SKIP
    """

    name = NAME

    def __init__(
        self,
        client: KubeClient,
        informers: SharedInformers,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(client, informers, REPLICA_SETS, plan_replica_set, now=now)
