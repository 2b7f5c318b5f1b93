"""A minimal apps/v1 Deployment controller (`--controllers deployment`, with `replicaset` for
the pods): one ReplicaSet per pod template, as kube-controller-manager's `deployment`
controller makes it, the current one at `spec.replicas` and the older ones at 0.

`plan_deployment` is the pure part. The new ReplicaSet is named `<deployment>-<hash>` with
the hash of the offline controller (`dralloc.controllers.workloads.hashing`: upstream's
FNV-1a and encoding over dralloc's canonical form of the template, so the names have
upstream's shape but not its exact letters); it carries the template's labels plus
`pod-template-hash`, on itself, its selector and its template, the Deployment's annotations
but kubectl's and the controller's own, `deployment.kubernetes.io/revision` (one above the
highest of the Deployment's ReplicaSets), `desired-replicas` and `max-replicas`, and a
controller reference. A name already taken by another template bumps `status.collisionCount`.
The status sums the ReplicaSets' counts.

Not modelled: the rollout's steps (`maxSurge`, `maxUnavailable`, proportional scaling: the
end state is reached at once, as with `Recreate`), `revisionHistoryLimit` cleanup, the
Progressing and Available conditions, adoption of orphan ReplicaSets, rollbacks.

Owns its queue and its index of ReplicaSets by Deployment; the informers own the objects.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from dralloc.api.io import from_server
from dralloc.api.workloads import PodTemplateSpec
from dralloc.controllers.workloads.deployment import (
    DESIRED_REPLICAS_ANNOTATION,
    MAX_REPLICAS_ANNOTATION,
    POD_TEMPLATE_HASH_LABEL,
    REVISION_ANNOTATION,
    SKIPPED_ANNOTATIONS,
    scaled_value,
)
from dralloc.controllers.workloads.hashing import pod_template_hash
from dralloc.kube.client import ApiStatusError, KubeClient, KubeDict, Resource
from dralloc.kube.controllers.base import (
    FuncHandler,
    ReverseIndex,
    SyncError,
    controller_of,
    is_being_deleted,
    metadata,
    name_of,
    namespace_of,
    run_worker,
    uid_of,
    wait_for_informers,
)
from dralloc.kube.controllers.owned import is_controlled_by
from dralloc.kube.controllers.replicaset import REPLICA_SETS
from dralloc.kube.controllers.workqueue import WorkQueue
from dralloc.kube.informer import object_key
from dralloc.kube.shared_informers import SharedInformers

log = logging.getLogger(__name__)

NAME = "deployment"
DEPLOYMENTS = Resource("apps/v1", "deployments", "Deployment")


@dataclass(frozen=True)
class DeploymentPlan:
    """One sync of a Deployment: a ReplicaSet to create, ReplicaSets to scale (object and
    new replicas), and the Deployment's whole new status (None when unchanged)."""

    create: KubeDict | None = None
    scale: tuple[tuple[KubeDict, int], ...] = ()
    status: KubeDict | None = None


def template_hash(template: KubeDict, collision_count: int | None) -> str:
    """The `pod-template-hash` of a template as the server sent it."""
    return pod_template_hash(from_server(template, PodTemplateSpec), collision_count)


def equal_ignoring_hash(a: KubeDict, b: KubeDict) -> bool:
    """Two templates alike but for `pod-template-hash` (upstream's EqualIgnoreHash)."""

    def without(template: KubeDict) -> KubeDict:
        stripped = copy.deepcopy(template)
        labels = (stripped.get("metadata") or {}).get("labels")
        if isinstance(labels, dict):
            labels.pop(POD_TEMPLATE_HASH_LABEL, None)
        return stripped

    return without(a) == without(b)


def _replicas(obj: KubeDict) -> int:
    return int((obj.get("spec") or {}).get("replicas", 1))


def max_replicas(deployment: KubeDict) -> int:
    """`replicas` plus the resolved `maxSurge` of a rolling update."""
    strategy = (deployment.get("spec") or {}).get("strategy") or {}
    surge = 0
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":
        value = (strategy.get("rollingUpdate") or {}).get("maxSurge")
        surge = scaled_value(value, _replicas(deployment), round_up=True)
    return _replicas(deployment) + surge


def revision_of(rs: KubeDict) -> int:
    value = (metadata(rs).get("annotations") or {}).get(REVISION_ANNOTATION, "0")
    return int(value) if str(value).isdigit() else 0


def new_replica_set(deployment: KubeDict, revision: int) -> KubeDict:
    """The ReplicaSet a Deployment creates for its current template, at its replicas."""
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    hash_ = template_hash(spec.get("template") or {}, status.get("collisionCount"))
    template = copy.deepcopy(spec.get("template") or {})
    template_meta = template.setdefault("metadata", {})
    labels = {**(template_meta.get("labels") or {}), POD_TEMPLATE_HASH_LABEL: hash_}
    template_meta["labels"] = labels
    selector = copy.deepcopy(spec.get("selector") or {})
    selector["matchLabels"] = {
        **(selector.get("matchLabels") or {}),
        POD_TEMPLATE_HASH_LABEL: hash_,
    }
    annotations = {
        k: v
        for k, v in (metadata(deployment).get("annotations") or {}).items()
        if k not in SKIPPED_ANNOTATIONS
    }
    annotations[REVISION_ANNOTATION] = str(revision)
    annotations[DESIRED_REPLICAS_ANNOTATION] = str(_replicas(deployment))
    annotations[MAX_REPLICAS_ANNOTATION] = str(max_replicas(deployment))
    rs_spec: dict[str, Any] = {
        "replicas": _replicas(deployment),
        "selector": selector,
        "template": template,
    }
    if spec.get("minReadySeconds"):
        rs_spec["minReadySeconds"] = spec["minReadySeconds"]
    return {
        "apiVersion": REPLICA_SETS.api_version,
        "kind": REPLICA_SETS.kind,
        "metadata": {
            "name": f"{name_of(deployment)}-{hash_}",
            "namespace": namespace_of(deployment),
            "labels": dict(labels),
            "annotations": annotations,
            "ownerReferences": [
                {
                    "apiVersion": DEPLOYMENTS.api_version,
                    "kind": DEPLOYMENTS.kind,
                    "name": name_of(deployment),
                    "uid": uid_of(deployment),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": rs_spec,
    }


def plan_deployment(deployment: KubeDict, replica_sets: Sequence[KubeDict]) -> DeploymentPlan:
    """One sync of a Deployment over the ReplicaSets it controls (module docstring)."""
    if is_being_deleted(deployment):
        return DeploymentPlan()
    spec = deployment.get("spec") or {}
    owned = sorted(
        (rs for rs in replica_sets if is_controlled_by(rs, deployment)),
        key=lambda rs: (str(metadata(rs).get("creationTimestamp", "")), name_of(rs)),
    )
    template = spec.get("template") or {}
    current = next(
        (
            rs
            for rs in owned
            if equal_ignoring_hash((rs.get("spec") or {}).get("template") or {}, template)
        ),
        None,
    )
    create = None
    scale: list[tuple[KubeDict, int]] = []
    if not spec.get("paused"):
        if current is None:
            revision = max((revision_of(rs) for rs in owned), default=0) + 1
            create = new_replica_set(deployment, revision)
        elif _replicas(current) != _replicas(deployment):
            scale.append((current, _replicas(deployment)))
        scale += [(rs, 0) for rs in owned if rs is not current and _replicas(rs) != 0]
    old_status = deployment.get("status") or {}
    status = {
        k: v
        for k, v in old_status.items()
        if k
        not in (
            "replicas",
            "updatedReplicas",
            "readyReplicas",
            "availableReplicas",
            "unavailableReplicas",
        )
    }

    def total(field: str, among: Sequence[KubeDict]) -> int:
        return sum(int((rs.get("status") or {}).get(field, 0)) for rs in among)

    available = total("availableReplicas", owned)
    counters = {
        "replicas": total("replicas", owned),
        "updatedReplicas": total("replicas", [current] if current else []),
        "readyReplicas": total("readyReplicas", owned),
        "availableReplicas": available,
        "unavailableReplicas": max(0, _replicas(deployment) - available),
    }
    status.update({k: v for k, v in counters.items() if v})
    generation = metadata(deployment).get("generation")
    if generation:
        status["observedGeneration"] = generation
    return DeploymentPlan(create, tuple(scale), status if status != old_status else None)


class DeploymentController:
    """Runs `plan_deployment` for every Deployment that changed or whose ReplicaSets changed.

    >>> controller = DeploymentController(client, informers)   # doctest: +SKIP
    """

    name = NAME

    def __init__(self, client: KubeClient, informers: SharedInformers) -> None:
        self.client = client
        self.deployments = informers.informer(DEPLOYMENTS)
        self.replica_sets = informers.informer(REPLICA_SETS)
        self.queue = WorkQueue("deployment")
        self.by_deployment = ReverseIndex()
        self.deployments.add_handler(
            FuncHandler(self._deployment_changed, self._deployment_updated, _ignore)
        )
        self.replica_sets.add_handler(
            FuncHandler(
                partial(self._replica_set_changed, False),
                self._replica_set_updated,
                partial(self._replica_set_changed, True),
            )
        )

    async def run(self) -> None:
        await wait_for_informers((self.deployments, self.replica_sets))
        for rs in list(self.replica_sets.store.values()):
            self._replica_set_changed(False, rs)
        for deployment in list(self.deployments.store.values()):
            self._deployment_changed(deployment)
        try:
            await run_worker(self.queue, self.sync, log)
        finally:
            self.queue.shut_down()

    def _deployment_changed(self, deployment: KubeDict) -> None:
        self.queue.add(object_key(deployment))

    def _deployment_updated(self, _: KubeDict, deployment: KubeDict) -> None:
        self.queue.add(object_key(deployment))

    def _replica_set_changed(self, deleted: bool, rs: KubeDict) -> None:
        ref = controller_of(rs)
        owner = None
        if ref is not None and ref.get("kind") == DEPLOYMENTS.kind:
            owner = f"{namespace_of(rs)}/{ref.get('name')}"
        if deleted:
            self.by_deployment.remove(object_key(rs))
        else:
            self.by_deployment.set(object_key(rs), [owner] if owner else [])
        if owner is not None:
            self.queue.add(owner)

    def _replica_set_updated(self, _: KubeDict, rs: KubeDict) -> None:
        self._replica_set_changed(False, rs)

    async def sync(self, key: str) -> None:
        deployment = self.deployments.get(key)
        if deployment is None:
            return
        replica_sets = [
            rs
            for k in self.by_deployment.members(key)
            if (rs := self.replica_sets.get(k)) is not None
        ]
        plan = plan_deployment(deployment, replica_sets)
        namespace = namespace_of(deployment)
        if plan.create is not None:
            await self._create(deployment, plan.create)
        for rs, replicas in plan.scale:
            updated = copy.deepcopy(rs)
            updated["spec"]["replicas"] = replicas
            annotations = updated["metadata"].setdefault("annotations", {})
            annotations[DESIRED_REPLICAS_ANNOTATION] = str(_replicas(deployment))
            annotations[MAX_REPLICAS_ANNOTATION] = str(max_replicas(deployment))
            await self.client.update(REPLICA_SETS.item(namespace, name_of(rs)), updated)
        if plan.status is not None:
            updated = dict(deployment)
            updated["status"] = plan.status
            await self.client.update(
                DEPLOYMENTS.item(namespace, name_of(deployment), "status"), updated
            )

    async def _create(self, deployment: KubeDict, body: KubeDict) -> None:
        namespace = namespace_of(deployment)
        try:
            await self.client.create(REPLICA_SETS.collection(namespace), body)
            return
        except ApiStatusError as err:
            if not err.is_conflict:
                raise
        existing = await self.client.get(REPLICA_SETS.item(namespace, name_of(body)))
        template = (deployment.get("spec") or {}).get("template") or {}
        mine = is_controlled_by(existing, deployment) and equal_ignoring_hash(
            (existing.get("spec") or {}).get("template") or {}, template
        )
        if mine:
            return  # made by an earlier sync the informer has not shown yet
        # Another template has this name: hash again with one more collision, as upstream.
        updated = dict(deployment)
        status = dict(deployment.get("status") or {})
        status["collisionCount"] = int(status.get("collisionCount", 0)) + 1
        updated["status"] = status
        await self.client.update(
            DEPLOYMENTS.item(namespace, name_of(deployment), "status"), updated
        )
        raise SyncError(
            f"ReplicaSet {namespace}/{name_of(body)} exists with another template; "
            f"collisionCount is now {status['collisionCount']}"
        )


def _ignore(_: KubeDict) -> None:
    return None
