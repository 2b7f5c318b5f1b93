"""The loop shared by controllers that keep pods for an owner (Job, ReplicaSet): a pure plan
per owner, carried out with creation expectations, as kube-controller-manager's pod-owning
controllers work.

`PodOwnerController(client, informers, owner_resource, plan)` watches the owners and pods,
queues an owner's key when it or one of the pods it controls changes, and on sync calls
`plan(owner, pods, now) -> PodsPlan`, then POSTs the new pods, DELETEs the surplus and PUTs
the owner's status if it changed. Until the pod informer has shown the pods one sync created
or deleted (`Expectations`), the owner is not planned again, so a sync racing its own
informer never doubles its pods.

Owns its queue, expectations and index of pods by owner; the informers own the objects.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from dralloc.kube.client import PODS, ApiStatusError, KubeClient, KubeDict, Resource
from dralloc.kube.controllers.base import (
    FuncHandler,
    ReverseIndex,
    controller_of,
    is_being_deleted,
    metadata,
    name_of,
    namespace_of,
    node_name_of,
    pod_phase,
    run_worker,
    uid_of,
    wait_for_informers,
)
from dralloc.kube.controllers.workqueue import WorkQueue
from dralloc.kube.informer import object_key
from dralloc.kube.shared_informers import SharedInformers

log = logging.getLogger(__name__)

# Upstream's ExpectationsTimeout: a creation never observed stops blocking the owner after this.
EXPECTATIONS_TIMEOUT_SECONDS = 300.0


@dataclass(frozen=True)
class PodsPlan:
    """What one sync of an owner does: pods to create (bodies to POST), pods to delete, and
    the owner's whole new `status` (None when it does not change)."""

    create: tuple[KubeDict, ...] = ()
    delete: tuple[KubeDict, ...] = ()
    status: KubeDict | None = None


Planner = Callable[[KubeDict, Sequence[KubeDict], datetime], PodsPlan]


def pod_from_template(owner: KubeDict, resource: Resource, generate_name: str = "") -> KubeDict:
    """A new pod of `owner` from its `spec.template` as the server sent it
    (controller.GetPodFromTemplate): the template's labels, annotations, finalizers and spec,
    `generateName` `<owner>-` unless given, and a controller reference to the owner."""
    template = (owner.get("spec") or {}).get("template") or {}
    template_meta = template.get("metadata") or {}
    meta: dict[str, Any] = {
        "generateName": generate_name or f"{name_of(owner)}-",
        "namespace": namespace_of(owner),
        "ownerReferences": [
            {
                "apiVersion": resource.api_version,
                "kind": resource.kind,
                "name": name_of(owner),
                "uid": uid_of(owner),
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }
    for key in ("labels", "annotations", "finalizers"):
        if template_meta.get(key):
            meta[key] = copy.deepcopy(template_meta[key])
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": copy.deepcopy(template.get("spec") or {}),
    }


def is_controlled_by(obj: KubeDict, owner: KubeDict) -> bool:
    ref = controller_of(obj)
    return ref is not None and ref.get("uid") == uid_of(owner)


def is_pod_ready(pod: KubeDict) -> bool:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return bool(condition.get("status") == "True")
    return False


def deletion_rank(pod: KubeDict) -> tuple[int, int, int, str]:
    """The order surplus pods go in, first first: unscheduled before scheduled, Pending
    before Unknown before Running, not ready before ready, newer before older (a
    simplification of upstream's controller.ActivePods order)."""
    phase_rank = {"Pending": 0, "Unknown": 1, "Running": 2}.get(pod_phase(pod), 0)
    created = str(metadata(pod).get("creationTimestamp", ""))
    newer_first = "".join(chr(0x10FFFF - ord(c)) for c in created)
    return (1 if node_name_of(pod) else 0, phase_rank, int(is_pod_ready(pod)), newer_first)


@dataclass
class _Expected:
    adds: int
    deletes: int
    since: float


@dataclass
class Expectations:
    """Pods an owner's sync created or deleted that the pod informer has not shown yet
    (upstream's ControllerExpectations): the owner waits for them, or for `timeout` seconds."""

    clock: Callable[[], float] = time.monotonic
    timeout: float = EXPECTATIONS_TIMEOUT_SECONDS
    _pending: dict[str, _Expected] = field(default_factory=dict)

    def expect(self, key: str, adds: int, deletes: int) -> None:
        self._pending[key] = _Expected(adds, deletes, self.clock())

    def observed_add(self, key: str) -> None:
        if key in self._pending:
            self._pending[key].adds -= 1

    def observed_delete(self, key: str) -> None:
        if key in self._pending:
            self._pending[key].deletes -= 1

    def is_satisfied(self, key: str) -> bool:
        expected = self._pending.get(key)
        if expected is None:
            return True
        if expected.adds <= 0 and expected.deletes <= 0:
            return True
        return self.clock() - expected.since > self.timeout

    def forget(self, key: str) -> None:
        self._pending.pop(key, None)


class PodOwnerController:
    """Keeps pods for the owners of `owner_resource` by `plan` (see the module docstring)."""

    name = "pods"

    def __init__(
        self,
        client: KubeClient,
        informers: SharedInformers,
        owner_resource: Resource,
        plan: Planner,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.owner_resource = owner_resource
        self.plan = plan
        self.now = now
        self.owners = informers.informer(owner_resource)
        self.pods = informers.informer(PODS)
        self.queue = WorkQueue(owner_resource.plural)
        self.expectations = Expectations(clock)
        self.pods_by_owner = ReverseIndex()
        self.owners.add_handler(
            FuncHandler(self._owner_changed, self._owner_updated, self._owner_gone)
        )
        self.pods.add_handler(
            FuncHandler(partial(self._pod_changed, None), self._pod_changed, self._pod_deleted)
        )

    async def run(self) -> None:
        await wait_for_informers((self.owners, self.pods))
        for pod in list(self.pods.store.values()):
            self._index(pod)
        for owner in list(self.owners.store.values()):
            self._owner_changed(owner)
        try:
            await run_worker(self.queue, self.sync, log)
        finally:
            self.queue.shut_down()

    def _owner_changed(self, owner: KubeDict) -> None:
        self.queue.add(object_key(owner))

    def _owner_updated(self, _: KubeDict, owner: KubeDict) -> None:
        self.queue.add(object_key(owner))

    def _owner_gone(self, owner: KubeDict) -> None:
        self.expectations.forget(object_key(owner))

    def _owner_key(self, pod: KubeDict) -> str | None:
        ref = controller_of(pod)
        if (
            ref is None
            or ref.get("kind") != self.owner_resource.kind
            or ref.get("apiVersion") != self.owner_resource.api_version
        ):
            return None
        return f"{namespace_of(pod)}/{ref.get('name')}"

    def _index(self, pod: KubeDict) -> str | None:
        key = self._owner_key(pod)
        self.pods_by_owner.set(object_key(pod), [key] if key else [])
        return key

    def _pod_changed(self, old: KubeDict | None, pod: KubeDict) -> None:
        key = self._index(pod)
        if key is None:
            return
        if old is None:
            self.expectations.observed_add(key)
        elif is_being_deleted(pod) and not is_being_deleted(old):
            self.expectations.observed_delete(key)
        self.queue.add(key)

    def _pod_deleted(self, pod: KubeDict) -> None:
        self.pods_by_owner.remove(object_key(pod))
        key = self._owner_key(pod)
        if key is None:
            return
        # Counted even if its deletionTimestamp was seen before: an unscheduled pod goes at
        # once, with no update in between. Counting twice only ends the wait sooner.
        self.expectations.observed_delete(key)
        self.queue.add(key)

    async def sync(self, key: str) -> None:
        owner = self.owners.get(key)
        if owner is None:
            self.expectations.forget(key)
            return
        if not self.expectations.is_satisfied(key):
            # Pods created or deleted earlier are not in the informer yet: counting now
            # would count them twice. Their events bring the owner back.
            return
        pods = [p for k in self.pods_by_owner.members(key) if (p := self.pods.get(k)) is not None]
        plan = self.plan(owner, pods, self.now())
        namespace = namespace_of(owner)
        self.expectations.expect(key, len(plan.create), len(plan.delete))
        for body in plan.create:
            try:
                await self.client.create(PODS.collection(namespace), body)
            except ApiStatusError:
                self.expectations.observed_add(key)
                raise
        for pod in plan.delete:
            try:
                await self.client.delete(PODS.item(namespace, name_of(pod)))
            except ApiStatusError as err:
                self.expectations.observed_delete(key)
                if not err.is_not_found:
                    raise
        if plan.status is not None:
            updated = dict(owner)
            updated["status"] = plan.status
            await self.client.update(
                self.owner_resource.item(namespace, name_of(owner), "status"), updated
            )
