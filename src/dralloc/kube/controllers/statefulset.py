"""An apps/v1 StatefulSet controller (`--controllers statefulset`): kube-controller-manager's
`statefulset` controller (pkg/controller/statefulset) for the pods it makes and the status it
writes.

`plan_stateful_set` is the pure part, over the pods the StatefulSet controls:

* one pod per ordinal `spec.ordinals.start` to `start + replicas - 1`, named `<sts>-<ordinal>`
  (`generateName: <sts>-` kept beside it, as upstream leaves it), made from the template with
  a controller reference, the labels `statefulset.kubernetes.io/pod-name`,
  `apps.kubernetes.io/pod-index` and `controller-revision-hash` (the offline controller's
  `identity_labels`), `spec.hostname` = its name and `spec.subdomain` = `spec.serviceName`;
* `podManagementPolicy: OrderedReady` (the default) creates one pod per sync, ordinal `i` only
  once `0..i-1` are Running and Ready, and scales down highest first, one pod at a time, only
  while every other pod is Running and Ready (a terminating pod is waited for); `Parallel`
  creates and deletes all at once;
* a pod that finished (Succeeded or Failed) is deleted, and made again by the next sync (its
  deletion event brings the StatefulSet back);
* status `replicas` (pods that exist), `readyReplicas`, `availableReplicas` (ready for
  `minReadySeconds`), `currentReplicas` / `updatedReplicas` (pods of `currentRevision` /
  `updateRevision`), `currentRevision`, `updateRevision`, `collisionCount` and
  `observedGeneration`, with Go's omitempty. `currentRevision` becomes `updateRevision` once
  every pod is of it and ready, as upstream's `completeRollingUpdate`.

The revision: `StatefulSetController.sync` makes the ControllerRevision `<sts>-<hash>` (owned
by the StatefulSet, labelled with the template's labels, `revision` one above the set's
highest, `data` the `{"spec": {"template": {..., "$patch": "replace"}}}` patch upstream
stores) before pods name it. The hash is the offline controller's
(`hashing.stateful_set_revision_name`: upstream's FNV over dralloc's canonical form of the
template, so upstream's shape but not its letters).

Not modelled, on purpose: `volumeClaimTemplates` (no PersistentVolumeClaims are made and pods
get no volumes for them: a container that mounts one is refused by the API server, and the
sync is retried with that error); rolling updates (pods of an older revision are kept, new
pods get the update revision; `updateStrategy` and `partition` are not read);
`maxUnavailable`; adopting orphans the selector matches; `revisionHistoryLimit` cleanup of
old ControllerRevisions; a revision-name collision (`collisionCount` is never bumped: the sync
fails with a message naming the revision); the StatefulSet conditions.

The loop around the plan is `PodOwnerController`'s (informers, queue, creation expectations).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from dralloc.api.io import from_server
from dralloc.api.workloads import PodTemplateSpec
from dralloc.controllers.workloads.hashing import stateful_set_revision_name
from dralloc.controllers.workloads.statefulset import (
    ORDERED_READY,
    identity_labels,
    ordinal_of,
    pod_name,
)
from dralloc.kube.client import ApiStatusError, KubeClient, KubeDict, Resource
from dralloc.kube.controllers.base import (
    SyncError,
    is_being_deleted,
    is_pod_terminal,
    metadata,
    name_of,
    namespace_of,
    parse_time,
    pod_phase,
    uid_of,
)
from dralloc.kube.controllers.owned import (
    PodOwnerController,
    PodsPlan,
    is_controlled_by,
    is_pod_ready,
    pod_from_template,
)
from dralloc.kube.informer import object_key
from dralloc.kube.shared_informers import SharedInformers

log = logging.getLogger(__name__)

NAME = "statefulset"
STATEFUL_SETS = Resource("apps/v1", "statefulsets", "StatefulSet")
CONTROLLER_REVISIONS = Resource("apps/v1", "controllerrevisions", "ControllerRevision")
_STATUS_COUNTERS = (
    "replicas",
    "readyReplicas",
    "currentReplicas",
    "updatedReplicas",
    "availableReplicas",
    "currentRevision",
    "updateRevision",
    "collisionCount",
    "observedGeneration",
)

# A hook on every new pod before it is POSTed (an admission webhook's mutation, such as the
# LeaderWorkerSet pod webhook): returns the body to send.
PodAdmission = Callable[[KubeDict, KubeDict], KubeDict]


def template_of(sts: KubeDict) -> KubeDict:
    template = (sts.get("spec") or {}).get("template")
    return template if isinstance(template, dict) else {}


def revision_name(sts: KubeDict) -> str:
    """The name of the StatefulSet's current ControllerRevision (`<sts>-<hash>`)."""
    try:
        template = from_server(template_of(sts), PodTemplateSpec)
    except (msgspec.ValidationError, ValueError, TypeError) as err:
        raise SyncError(
            f"StatefulSet {object_key(sts)}: spec.template: cannot be read: {err}"
        ) from err
    # Upstream hashes with the collision count always, 0 when the status has none yet.
    collisions = (sts.get("status") or {}).get("collisionCount")
    return stateful_set_revision_name(
        name_of(sts), template, collisions if isinstance(collisions, int) else 0
    )


def revision_of(pod: KubeDict) -> str:
    return str((metadata(pod).get("labels") or {}).get("controller-revision-hash", ""))


def controller_revision(sts: KubeDict, name: str, number: int) -> KubeDict:
    """The ControllerRevision upstream's `newRevision` makes for the StatefulSet's template."""
    template = dict(template_of(sts))
    template["$patch"] = "replace"
    labels = (template_of(sts).get("metadata") or {}).get("labels") or {}
    return {
        "apiVersion": CONTROLLER_REVISIONS.api_version,
        "kind": CONTROLLER_REVISIONS.kind,
        "metadata": {
            "name": name,
            "namespace": namespace_of(sts),
            "labels": dict(labels),
            "ownerReferences": [
                {
                    "apiVersion": STATEFUL_SETS.api_version,
                    "kind": STATEFUL_SETS.kind,
                    "name": name_of(sts),
                    "uid": uid_of(sts),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "data": {"spec": {"template": template}},
        "revision": number,
    }


def pod_for_ordinal(sts: KubeDict, ordinal: int, revision: str) -> KubeDict:
    """The pod of `ordinal` (upstream's `newVersionedStatefulSetPod`)."""
    pod = pod_from_template(sts, STATEFUL_SETS)
    name = pod_name(name_of(sts), ordinal)
    meta = pod["metadata"]
    meta["name"] = name
    meta["labels"] = {
        **(meta.get("labels") or {}),
        **identity_labels(name_of(sts), ordinal, revision),
    }
    spec = pod["spec"]
    spec["hostname"] = name
    service = (sts.get("spec") or {}).get("serviceName")
    if service:
        spec["subdomain"] = service
    return pod


def is_running_and_ready(pod: KubeDict) -> bool:
    return pod_phase(pod) == "Running" and is_pod_ready(pod)


def is_available(pod: KubeDict, min_ready_seconds: int, now: datetime) -> bool:
    """Running and Ready for at least `minReadySeconds` (podutil.IsPodAvailable)."""
    if not is_running_and_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            since = parse_time(condition.get("lastTransitionTime"))
            return since is not None and since + timedelta(seconds=min_ready_seconds) <= now
    return False


def _ordinal_range(sts: KubeDict) -> range:
    spec = sts.get("spec") or {}
    ordinals = spec.get("ordinals") or {}
    start = int(ordinals.get("start", 0) or 0)
    return range(start, start + int(spec.get("replicas", 1)))


def plan_stateful_set(
    sts: KubeDict,
    pods: Sequence[KubeDict],
    now: datetime,
    *,
    admission: PodAdmission | None = None,
) -> PodsPlan:
    """One sync of a StatefulSet over the pods it controls (see the module docstring).
    `admission` mutates every new pod body (the LeaderWorkerSet pod webhook)."""
    if is_being_deleted(sts):
        return PodsPlan()  # its pods go with it (the garbage collector's business)
    owned = [p for p in pods if is_controlled_by(p, sts)]
    members: dict[int, KubeDict] = {}
    for pod in owned:
        ordinal = ordinal_of(name_of(sts), name_of(pod))
        if ordinal is not None:
            members[ordinal] = pod
    wanted = _ordinal_range(sts)
    update_revision = revision_name(sts)
    spec = sts.get("spec") or {}
    monotonic = spec.get("podManagementPolicy", ORDERED_READY) == ORDERED_READY
    create: list[KubeDict] = []
    delete: list[KubeDict] = []
    _plan_pods(sts, members, wanted, update_revision, monotonic, create, delete)
    if admission is not None:
        create = [admission(sts, body) for body in create]
    status = _status(sts, list(members.values()), update_revision, now)
    return PodsPlan(tuple(create), tuple(delete), status)


def _plan_pods(
    sts: KubeDict,
    members: dict[int, KubeDict],
    wanted: range,
    revision: str,
    monotonic: bool,
    create: list[KubeDict],
    delete: list[KubeDict],
) -> None:
    """Upstream's `updateStatefulSet` slow path, with its early returns in OrderedReady."""
    condemned = sorted((o for o in members if o not in wanted), reverse=True)
    unhealthy = [
        o
        for o in sorted(members)
        if not is_running_and_ready(members[o]) or is_being_deleted(members[o])
    ]
    first_unhealthy = unhealthy[0] if unhealthy else None
    for ordinal in wanted:
        pod = members.get(ordinal)
        if pod is not None and is_pod_terminal(pod) and not is_being_deleted(pod):
            # Made again once its deletion is seen (the name is still taken until then).
            delete.append(pod)
            if monotonic:
                return
            continue
        if pod is None:
            create.append(pod_for_ordinal(sts, ordinal, revision))
            if monotonic:
                return
            continue
        if monotonic and (is_being_deleted(pod) or not is_running_and_ready(pod)):
            return  # wait for this ordinal before the next one (or any scale-down)
    for ordinal in condemned:
        pod = members[ordinal]
        if is_being_deleted(pod):
            if monotonic:
                return
            continue
        if monotonic and not is_running_and_ready(pod) and ordinal != first_unhealthy:
            return
        delete.append(pod)
        if monotonic:
            return


def _status(
    sts: KubeDict, pods: list[KubeDict], update_revision: str, now: datetime
) -> KubeDict | None:
    """The whole new status, or None when it does not change (`computeReplicaStatus`,
    `completeRollingUpdate`)."""
    old = sts.get("status") or {}
    spec = sts.get("spec") or {}
    current_revision = str(old.get("currentRevision") or update_revision)
    min_ready = int(spec.get("minReadySeconds", 0) or 0)
    created = [p for p in pods if pod_phase(p)]
    live = [p for p in created if not is_being_deleted(p)]
    counters: dict[str, Any] = {
        "replicas": len(created),
        "readyReplicas": sum(1 for p in created if is_running_and_ready(p)),
        "availableReplicas": sum(1 for p in created if is_available(p, min_ready, now)),
        "currentReplicas": sum(1 for p in live if revision_of(p) == current_revision),
        "updatedReplicas": sum(1 for p in live if revision_of(p) == update_revision),
    }
    want = int(spec.get("replicas", 1))
    if (
        counters["updatedReplicas"] == want
        and counters["readyReplicas"] == want
        and counters["replicas"] == want
    ):
        current_revision = update_revision
        counters["currentReplicas"] = counters["updatedReplicas"]
    status: dict[str, Any] = {k: v for k, v in old.items() if k not in _STATUS_COUNTERS}
    generation = metadata(sts).get("generation")
    if generation:
        status["observedGeneration"] = generation
    status["replicas"] = counters["replicas"]
    for key in ("readyReplicas", "currentReplicas", "updatedReplicas"):
        if counters[key]:
            status[key] = counters[key]
    status["currentRevision"] = current_revision
    status["updateRevision"] = update_revision
    status["collisionCount"] = int(old.get("collisionCount", 0) or 0)
    status["availableReplicas"] = counters["availableReplicas"]
    return status if status != old else None


class StatefulSetController(PodOwnerController):
    """Runs `plan_stateful_set` for every StatefulSet that changed or whose pods changed,
    after making its ControllerRevision.

    >>> controller = StatefulSetController(client, informers)   # doctest: +SKIP
    """

    name = NAME

    def __init__(
        self,
        client: KubeClient,
        informers: SharedInformers,
        *,
        admission: PodAdmission | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.admission = admission
        super().__init__(client, informers, STATEFUL_SETS, self._plan, now=now, clock=clock)
        self.revisions = informers.informer(CONTROLLER_REVISIONS)
        # StatefulSets whose volumeClaimTemplates were reported, so the warning comes once.
        self._warned: set[str] = set()

    def _plan(self, sts: KubeDict, pods: Sequence[KubeDict], now: datetime) -> PodsPlan:
        return plan_stateful_set(sts, pods, now, admission=self.admission)

    async def sync(self, key: str) -> None:
        sts = self.owners.get(key)
        if sts is None:
            live = {uid_of(s) for s in self.owners.store.values()}
            self._warned &= live
        elif not is_being_deleted(sts):
            uid = uid_of(sts)
            if (sts.get("spec") or {}).get("volumeClaimTemplates") and uid not in self._warned:
                self._warned.add(uid)
                log.warning(
                    "StatefulSet %s: spec.volumeClaimTemplates: not modelled, no "
                    "PersistentVolumeClaims are made for its pods",
                    key,
                )
            await self._ensure_revision(sts)
        await super().sync(key)

    async def _ensure_revision(self, sts: KubeDict) -> None:
        name = revision_name(sts)
        namespace = namespace_of(sts)
        found = self.revisions.get(f"{namespace}/{name}")
        if found is not None and is_controlled_by(found, sts):
            return
        if found is None:
            numbers = [
                int(r.get("revision", 0) or 0)
                for r in self.revisions.store.values()
                if namespace_of(r) == namespace and is_controlled_by(r, sts)
            ]
            body = controller_revision(sts, name, max(numbers, default=0) + 1)
            try:
                await self.client.create(CONTROLLER_REVISIONS.collection(namespace), body)
                return
            except ApiStatusError as err:
                if not err.is_conflict:
                    raise
            found = await self.client.get(CONTROLLER_REVISIONS.item(namespace, name))
        if is_controlled_by(found, sts):
            return
        raise SyncError(
            f"StatefulSet {namespace}/{name_of(sts)}: ControllerRevision {namespace}/{name} "
            f"exists and is not its own (a revision-name collision, not resolved here: "
            f"{json.dumps(metadata(found).get('ownerReferences') or [])})"
        )
