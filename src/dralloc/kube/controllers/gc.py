"""Garbage collection by owner references (`--controllers gc`): kube-controller-manager's
garbage collector, for the owners and dependents cluster mode creates.

A dependent (a ResourceClaim or a Pod) is deleted once every owner reference it has points to
an owner that no longer exists: no object of that kind and name, or one with another UID.
Owners are Pods, plus Jobs when the `job` controller runs (`owner_kinds`). Before deleting,
each owner's absence is confirmed with a GET (the informers may lag), and the DELETE carries
`propagationPolicy: Background` and a UID precondition, as upstream's attemptToDeleteItem
sends them, so a dependent recreated under the same name is never hit.

Dependents with an owner reference of another kind are left alone (upstream would look that
owner up too); foreground deletion and the orphan finalizer are not handled.

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
    namespace_of,
    owner_references,
    run_worker,
    uid_of,
    wait_for_informers,
)
from dralloc.kube.controllers.workqueue import WorkQueue
from dralloc.kube.informer import Informer, object_key
from dralloc.kube.shared_informers import SharedInformers

log = logging.getLogger(__name__)

NAME = "gc"


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
    ) -> None:
        self.client = client
        self.owner_kinds = tuple(owner_kinds)
        self.owners: dict[Resource, Informer] = {
            kind.resource: informers.informer(kind.resource) for kind in self.owner_kinds
        }
        self.dependents: dict[str, Informer] = {
            "pods": informers.informer(PODS),
            "resourceclaims": informers.informer(RESOURCE_CLAIMS),
        }
        self.queue = WorkQueue("garbage_collector")
        self.by_owner = ReverseIndex()
        for plural, informer in self.dependents.items():
            informer.add_handler(
                FuncHandler(
                    partial(self._dependent_changed, plural),
                    partial(self._dependent_updated, plural),
                    partial(self._dependent_deleted, plural),
                )
            )
        for informer in self.owners.values():
            informer.add_handler(FuncHandler(_ignore, _ignore_update, self._owner_deleted))

    async def run(self) -> None:
        await wait_for_informers([*self.owners.values(), *self.dependents.values()])
        for plural, informer in self.dependents.items():
            for obj in list(informer.store.values()):
                self._dependent_changed(plural, obj)
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

    def _owner_deleted(self, owner: KubeDict) -> None:
        for key in self.by_owner.members(uid_of(owner)):
            self.queue.add(key)

    def _owner_known(self, kind: OwnerKind, namespace: str, ref: dict[str, Any]) -> bool:
        found = self.owners[kind.resource].get(f"{namespace}/{ref.get('name')}")
        return found is not None and uid_of(found) == ref.get("uid")

    async def sync(self, key: str) -> None:
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
        namespace, _, name = object_name.partition("/")
        body = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "propagationPolicy": "Background",
            "preconditions": {"uid": uid_of(dependent)},
        }
        try:
            await self.client.delete(informer.resource.item(namespace, name), body)
        except ApiStatusError as err:
            # Gone already, or replaced by an object with another UID: nothing to collect.
            if err.is_not_found or err.is_conflict:
                return
            raise
        log.info("garbage collector: deleted %s %s, its owners are gone", plural, object_name)

    async def _owner_exists_live(self, namespace: str, ref: dict[str, Any]) -> bool:
        kind = next(k for k in self.owner_kinds if k.matches(ref))
        try:
            found = await self.client.get(kind.resource.item(namespace, str(ref.get("name"))))
        except ApiStatusError as err:
            if err.is_not_found:
                return False
            raise
        return uid_of(found) == ref.get("uid")


def _ignore(_: KubeDict) -> None:
    return None


def _ignore_update(_: KubeDict, __: KubeDict) -> None:
    return None
