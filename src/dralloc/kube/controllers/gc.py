"""Garbage collection by owner references (`--controllers gc`): kube-controller-manager's
garbage collector, for the owners and dependents cluster mode creates.

A dependent (a ResourceClaim or a Pod) is deleted once every owner reference it has points to
an owner that no longer exists: no object of that kind and name, or one with another UID.
Owners are Pods, plus Jobs, ReplicaSets, Deployments, StatefulSets, JobSets and
LeaderWorkerSets when their controllers run (`owner_kinds`); what those controllers create
(ReplicaSets, ControllerRevisions, Jobs, StatefulSets, Services) are then dependents too.
Before deleting, each owner's absence is confirmed with a GET (the informers may lag), and
the DELETE carries `propagationPolicy: Background` and a UID precondition, as upstream's
attemptToDeleteItem sends them, so a dependent recreated under the same name is never hit.

An owner deleted with a finalizer of the garbage collector is finished as upstream finishes
it: `orphan` (a Job deleted through the API with no propagation policy) has the owner
reference removed from every dependent with a strategic merge patch, then the finalizer
removed; `foregroundDeletion` has every dependent deleted and the finalizer removed once none
with `blockOwnerDeletion` is left.

Dependents with an owner reference of another kind are left alone (upstream would look that
owner up too).

Owns its queue and its index of dependents by owner UID; the informers own the objects.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from dralloc.kube.client import (
    JOBS,
    PODS,
    RESOURCE_CLAIMS,
    ApiStatusError,
    KubeClient,
    KubeDict,
    Resource,
)
from dralloc.kube.controllers.base import (
    FuncHandler,
    ReverseIndex,
    SyncError,
    is_being_deleted,
    metadata,
    name_of,
    namespace_of,
    owner_references,
    run_worker,
    uid_of,
    wait_for_informers,
)
from dralloc.kube.controllers.deployment import DEPLOYMENTS
from dralloc.kube.controllers.jobset import JOBSETS
from dralloc.kube.controllers.leaderworkerset import LEADER_WORKER_SETS
from dralloc.kube.controllers.replicaset import REPLICA_SETS
from dralloc.kube.controllers.statefulset import STATEFUL_SETS
from dralloc.kube.controllers.workqueue import WorkQueue
from dralloc.kube.informer import Informer, object_key
from dralloc.kube.shared_informers import SharedInformers

log = logging.getLogger(__name__)

NAME = "gc"
ORPHAN_FINALIZER = "orphan"
FOREGROUND_FINALIZER = "foregroundDeletion"
OWNER_KEY_PREFIX = "owner:"


@dataclass(frozen=True)
class OwnerKind:
    """A kind of owner the collector can tell is gone: its informer's resource."""

    resource: Resource

    def matches(self, ref: dict[str, Any]) -> bool:
        return (
            ref.get("apiVersion") == self.resource.api_version
            and ref.get("kind") == self.resource.kind
        )


POD_OWNERS = OwnerKind(PODS)
JOB_OWNERS = OwnerKind(JOBS)
REPLICA_SET_OWNERS = OwnerKind(REPLICA_SETS)
DEPLOYMENT_OWNERS = OwnerKind(DEPLOYMENTS)
STATEFUL_SET_OWNERS = OwnerKind(STATEFUL_SETS)
JOBSET_OWNERS = OwnerKind(JOBSETS)
LEADER_WORKER_SET_OWNERS = OwnerKind(LEADER_WORKER_SETS)
# What is collected when its owners are gone: pods and claims always.
DEFAULT_DEPENDENTS = (PODS, RESOURCE_CLAIMS)


def is_orphan(
    dependent: KubeDict,
    owner_kinds: Sequence[OwnerKind],
    owner_exists: Callable[[OwnerKind, str, dict[str, Any]], bool],
) -> bool:
    """Whether `dependent` is an orphan to delete: it has owner references, all of kinds the
    collector knows, and `owner_exists(kind, namespace, ref)` is false for every one.
    Objects already being deleted are not orphans to delete again."""
    refs = owner_references(dependent)
    if not refs or is_being_deleted(dependent):
        return False
    for ref in refs:
        kind = next((k for k in owner_kinds if k.matches(ref)), None)
        if kind is None or not ref.get("uid"):
            return False
        if owner_exists(kind, namespace_of(dependent), ref):
            return False
    return True


class GarbageCollector:
    """Deletes claims and pods whose owners are gone (see the module docstring).

    >>> owners = (POD_OWNERS, JOB_OWNERS)
    >>> gc = GarbageCollector(client, informers, owner_kinds=owners)  # doctest: +SKIP
    """

    name = NAME

    def __init__(
        self,
        client: KubeClient,
        informers: SharedInformers,
        *,
        owner_kinds: Sequence[OwnerKind] = (POD_OWNERS,),
        dependents: Sequence[Resource] = DEFAULT_DEPENDENTS,
    ) -> None:
        self.client = client
        self.owner_kinds = tuple(owner_kinds)
        self.owners: dict[Resource, Informer] = {
            kind.resource: informers.informer(kind.resource) for kind in self.owner_kinds
        }
        self.dependents: dict[str, Informer] = {
            resource.plural: informers.informer(resource) for resource in dependents
        }
        self.queue = WorkQueue("garbage_collector")
        self.by_owner = ReverseIndex()
        # Owner UID -> its queue key, for owners waiting on their dependents.
        self.owner_keys: dict[str, str] = {}
        for plural, informer in self.dependents.items():
            informer.add_handler(
                FuncHandler(
                    partial(self._dependent_changed, plural),
                    partial(self._dependent_updated, plural),
                    partial(self._dependent_deleted, plural),
                )
            )
        for resource, informer in self.owners.items():
            informer.add_handler(
                FuncHandler(
                    partial(self._owner_changed, resource),
                    partial(self._owner_updated, resource),
                    self._owner_deleted,
                )
            )

    async def run(self) -> None:
        await wait_for_informers([*self.owners.values(), *self.dependents.values()])
        for plural, informer in self.dependents.items():
            for obj in list(informer.store.values()):
                self._dependent_changed(plural, obj)
        for resource, informer in self.owners.items():
            for obj in list(informer.store.values()):
                self._owner_changed(resource, obj)
        try:
            await run_worker(self.queue, self.sync, log)
        finally:
            self.queue.shut_down()

    def _dependent_changed(self, plural: str, obj: KubeDict) -> None:
        key = f"{plural}:{object_key(obj)}"
        refs = owner_references(obj)
        self.by_owner.set(key, [str(r["uid"]) for r in refs if r.get("uid")])
        if refs and is_orphan(obj, self.owner_kinds, self._owner_known):
            self.queue.add(key)

    def _dependent_updated(self, plural: str, _: KubeDict, obj: KubeDict) -> None:
        self._dependent_changed(plural, obj)

    def _dependent_deleted(self, plural: str, obj: KubeDict) -> None:
        self.by_owner.remove(f"{plural}:{object_key(obj)}")
        for ref in owner_references(obj):
            owner_key = self.owner_keys.get(str(ref.get("uid", "")))
            if owner_key is not None:
                self.queue.add(owner_key)

    def _owner_changed(self, resource: Resource, owner: KubeDict) -> None:
        finalizers = metadata(owner).get("finalizers") or []
        key = f"{OWNER_KEY_PREFIX}{resource.plural}:{object_key(owner)}"
        if is_being_deleted(owner) and (
            ORPHAN_FINALIZER in finalizers or FOREGROUND_FINALIZER in finalizers
        ):
            self.owner_keys[uid_of(owner)] = key
            self.queue.add(key)
        else:
            self.owner_keys.pop(uid_of(owner), None)

    def _owner_updated(self, resource: Resource, _: KubeDict, owner: KubeDict) -> None:
        self._owner_changed(resource, owner)

    def _owner_deleted(self, owner: KubeDict) -> None:
        self.owner_keys.pop(uid_of(owner), None)
        for key in self.by_owner.members(uid_of(owner)):
            self.queue.add(key)

    def _owner_known(self, kind: OwnerKind, namespace: str, ref: dict[str, Any]) -> bool:
        found = self.owners[kind.resource].get(f"{namespace}/{ref.get('name')}")
        return found is not None and uid_of(found) == ref.get("uid")

    async def sync(self, key: str) -> None:
        if key.startswith(OWNER_KEY_PREFIX):
            await self.sync_owner(key.removeprefix(OWNER_KEY_PREFIX))
            return
        plural, _, object_name = key.partition(":")
        informer = self.dependents.get(plural)
        if informer is None:
            raise SyncError(f"unexpected key {key!r}")
        dependent = informer.get(object_name)
        if dependent is None:
            return
        if not is_orphan(dependent, self.owner_kinds, self._owner_known):
            return
        # The informers may lag behind the server: confirm every owner is really gone.
        for ref in owner_references(dependent):
            if await self._owner_exists_live(namespace_of(dependent), ref):
                return
        # A 404 or 409 (gone already, or replaced by an object with another UID) is ignored.
        await self._delete(informer.resource, dependent)
        log.info("garbage collector: deleted %s %s, its owners are gone", plural, object_name)

    async def sync_owner(self, key: str) -> None:
        """Finish an owner being deleted with the `orphan` or `foregroundDeletion` finalizer."""
        plural, _, object_name = key.partition(":")
        resource = next((r for r in self.owners if r.plural == plural), None)
        if resource is None:
            raise SyncError(f"unexpected owner key {key!r}")
        owner = self.owners[resource].get(object_name)
        if owner is None or not is_being_deleted(owner):
            return
        finalizers = list(metadata(owner).get("finalizers") or [])
        uid = uid_of(owner)
        dependents: list[tuple[str, KubeDict]] = []
        for dependent_key in self.by_owner.members(uid):
            dependent_plural, _, dependent_name = dependent_key.partition(":")
            dependent = self.dependents[dependent_plural].get(dependent_name)
            if dependent is not None:
                dependents.append((dependent_plural, dependent))
        if FOREGROUND_FINALIZER in finalizers:
            for dependent_plural, dependent in dependents:
                if not is_being_deleted(dependent):
                    await self._delete(self.dependents[dependent_plural].resource, dependent)
            blocking = [
                d
                for _, d in dependents
                if any(
                    r.get("uid") == uid and r.get("blockOwnerDeletion") is True
                    for r in owner_references(d)
                )
            ]
            if blocking:
                return  # their deletion events bring the owner back
            finalizers.remove(FOREGROUND_FINALIZER)
        elif ORPHAN_FINALIZER in finalizers:
            for dependent_plural, dependent in dependents:
                patch = {
                    "metadata": {
                        "uid": uid_of(dependent),
                        "ownerReferences": [{"$patch": "delete", "uid": uid}],
                    }
                }
                try:
                    await self.client.patch(
                        self.dependents[dependent_plural].resource.item(
                            namespace_of(dependent), name_of(dependent)
                        ),
                        patch,
                    )
                except ApiStatusError as err:
                    if not (err.is_not_found or err.is_conflict):
                        raise
            finalizers.remove(ORPHAN_FINALIZER)
        else:
            return
        updated = dict(owner)
        updated["metadata"] = {**metadata(owner), "finalizers": finalizers}
        try:
            await self.client.update(resource.item(namespace_of(owner), name_of(owner)), updated)
        except ApiStatusError as err:
            if not err.is_not_found:
                raise
        log.info("garbage collector: finished deleting %s %s", plural, object_name)

    async def _delete(self, resource: Resource, dependent: KubeDict) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "propagationPolicy": "Background",
            "preconditions": {"uid": uid_of(dependent)},
        }
        try:
            await self.client.delete(
                resource.item(namespace_of(dependent), name_of(dependent)), body
            )
        except ApiStatusError as err:
            if not (err.is_not_found or err.is_conflict):
                raise

    async def _owner_exists_live(self, namespace: str, ref: dict[str, Any]) -> bool:
        kind = next(k for k in self.owner_kinds if k.matches(ref))
        try:
            found = await self.client.get(kind.resource.item(namespace, str(ref.get("name"))))
        except ApiStatusError as err:
            if err.is_not_found:
                return False
            raise
        return uid_of(found) == ref.get("uid")
