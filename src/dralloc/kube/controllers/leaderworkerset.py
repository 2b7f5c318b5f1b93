"""A LeaderWorkerSet controller (`--controllers leaderworkerset`, with `statefulset`): the
LeaderWorkerSet project's controllers and pod webhook (sigs.k8s.io/lws v0.8.0, API
leaderworkerset.x-k8s.io/v1) for the StatefulSets, the Service and the status they write.
The pods are made by dralloc's StatefulSet controller, which runs `lws_pod_admission` on
every new pod in place of the project's pod webhook.

`plan_leader_worker_set` is the pure part, with the offline controller's helpers
(`dralloc.controllers.workloads.leaderworkerset`) for every name, label and annotation:

* the leader StatefulSet `<lws>` (`constructLeaderStatefulSetApplyConfiguration`), owned by
  the LeaderWorkerSet: `replicas` leaders from `leaderTemplate` (or `workerTemplate`) with
  `leader_template_meta`'s labels and annotations, selector `leader_selector`,
  `serviceName: <lws>`, `Parallel`, its own labels and annotations from `leader_set_meta`.
  A changed `replicas` or revision is written to it (pods of an older revision are kept);
* per leader pod, once it exists (and, with `startupPolicy: LeaderReady`, is Running and
  Ready), a worker StatefulSet named like the leader and owned by it (the pod controller's
  `constructWorkerStatefulSetApplyConfiguration`): `size - 1` workers from `workerTemplate`,
  ordinals from 1, `worker_selector`, `worker_template_meta`, `worker_service_name`; none
  when `size` is 1;
* the headless Service `<lws>` (`subdomainPolicy: Shared`): `clusterIP: None`, selector
  `leaderworkerset.sigs.k8s.io/name`, `publishNotReadyAddresses: true`; with
  `UniquePerReplica`, one per group instead, named like and owned by its leader pod, selecting
  the group's index too;
* with exclusive placement (`leaderworkerset.sigs.k8s.io/exclusive-topology: <key>` on the
  set), a group's workers are made once its leader is scheduled, with a node selector on the
  leader's node's value of `<key>` (the pod webhook's affinities keep other groups away);
* status `replicas` (the leader StatefulSet's), `readyReplicas` (groups whose leader is
  Running and Ready and whose worker StatefulSet has all its replicas at one revision),
  `updatedReplicas` (groups of the current revision), `hpaPodSelector`, and the condition
  `Available` (`AllGroupsReady`) once every group is ready, else `Progressing`
  (`GroupsProgressing`), the two mutually exclusive as upstream's `setCondition` keeps them.

The revision is the offline controller's `revision_key` (see `hashing`); no
ControllerRevision of the LeaderWorkerSet is written.

Not modelled: rolling updates (`rolloutStrategy`: partition, maxUnavailable, maxSurge),
`restartPolicy: RecreateGroupOnPodRestart` (a failed worker is made again by its StatefulSet,
the group is not recreated), the `LWS_*` environment variables the webhook adds,
`volumeClaimTemplates`, subgroup exclusive placement's node selectors, Events.

Owns its queue and its index of leader pods by LeaderWorkerSet; the informers own the
objects.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec

from dralloc.api.io import from_server
from dralloc.api.validation.times import format_time
from dralloc.api.workloads import LWS_API_VERSION, LeaderWorkerSet, apply_workload_defaults
from dralloc.controllers.workloads.leaderworkerset import (
    EXCLUSIVE_ANNOTATION,
    GROUP_INDEX_LABEL,
    REVISION_LABEL,
    SET_NAME_LABEL,
    WORKER_INDEX_LABEL,
    exclusive_affinity,
    is_unique_per_replica,
    leader_selector,
    leader_set_meta,
    leader_template_meta,
    revision_key,
    webhook_defaults,
    worker_selector,
    worker_service_name,
    worker_template_meta,
)
from dralloc.kube.client import NODES, PODS, ApiStatusError, KubeClient, KubeDict, Resource
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
from dralloc.kube.controllers.jobset import SERVICES
from dralloc.kube.controllers.owned import is_controlled_by
from dralloc.kube.controllers.statefulset import STATEFUL_SETS, is_running_and_ready
from dralloc.kube.controllers.workqueue import WorkQueue
from dralloc.kube.informer import object_key
from dralloc.kube.shared_informers import SharedInformers

log = logging.getLogger(__name__)

NAME = "leaderworkerset"
LEADER_WORKER_SETS = Resource(LWS_API_VERSION, "leaderworkersets", "LeaderWorkerSet")
AVAILABLE = "Available"
PROGRESSING = "Progressing"
UPDATE_IN_PROGRESS = "UpdateInProgress"
_CONDITION_TEXT = {
    AVAILABLE: ("AllGroupsReady", "All replicas are ready"),
    PROGRESSING: ("GroupsProgressing", "Replicas are progressing"),
}
# Pairs of condition types that are never both True (upstream's exclusiveConditionTypes).
_EXCLUSIVE = frozenset(
    {
        (AVAILABLE, PROGRESSING),
        (PROGRESSING, AVAILABLE),
        (AVAILABLE, UPDATE_IN_PROGRESS),
        (UPDATE_IN_PROGRESS, AVAILABLE),
    }
)


@dataclass(frozen=True)
class LeaderWorkerSetPlan:
    """One sync: StatefulSets to create, StatefulSets to update (whole new objects), the
    headless Services to create, and the whole new status (None when unchanged)."""

    create: tuple[KubeDict, ...] = ()
    update: tuple[KubeDict, ...] = ()
    services: tuple[KubeDict, ...] = ()
    status: KubeDict | None = None


def decode_leader_worker_set(raw: KubeDict) -> LeaderWorkerSet:
    """The LeaderWorkerSet as dralloc's struct, defaulted as its webhook would have."""
    try:
        lws = from_server(raw, LeaderWorkerSet)
    except (msgspec.ValidationError, ValueError, TypeError) as err:
        raise SyncError(f"LeaderWorkerSet {object_key(raw)}: cannot be read: {err}") from err
    apply_workload_defaults(lws)
    return lws


def _controller_ref(api_version: str, kind: str, owner: KubeDict) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name_of(owner),
        "uid": uid_of(owner),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _template(source: Any, labels: dict[str, str], annotations: dict[str, str]) -> KubeDict:
    template = copy.deepcopy(source) if isinstance(source, dict) else {}
    meta = template.setdefault("metadata", {})
    meta["labels"] = {**(meta.get("labels") or {}), **labels}
    meta["annotations"] = {**(meta.get("annotations") or {}), **annotations}
    template.setdefault("spec", {})
    return template


def _group_template(raw: KubeDict) -> dict[str, Any]:
    found = (raw.get("spec") or {}).get("leaderWorkerTemplate")
    return found if isinstance(found, dict) else {}


def leader_stateful_set(raw: KubeDict, lws: LeaderWorkerSet, revision: str) -> KubeDict:
    """The leaders' StatefulSet, from the templates as the server sent them."""
    group = _group_template(raw)
    source = group.get("leaderTemplate") or group.get("workerTemplate")
    labels, annotations = leader_template_meta(lws, revision)
    set_labels, set_annotations = leader_set_meta(lws, revision)
    rolling = lws.spec.rollout_strategy.rolling_update_configuration
    return {
        "apiVersion": STATEFUL_SETS.api_version,
        "kind": STATEFUL_SETS.kind,
        "metadata": {
            "name": name_of(raw),
            "namespace": namespace_of(raw),
            "labels": set_labels,
            "annotations": set_annotations,
            "ownerReferences": [_controller_ref(LWS_API_VERSION, LEADER_WORKER_SETS.kind, raw)],
        },
        "spec": {
            "replicas": lws.spec.replicas,
            "selector": {"matchLabels": leader_selector(name_of(raw))},
            "template": _template(source, labels, annotations),
            "serviceName": name_of(raw),
            "podManagementPolicy": "Parallel",
            "updateStrategy": {
                "type": lws.spec.rollout_strategy.type,
                "rollingUpdate": {
                    "partition": 0,
                    "maxUnavailable": rolling.max_unavailable if rolling else 1,
                },
            },
        },
    }


def worker_stateful_set(
    raw: KubeDict, lws: LeaderWorkerSet, leader: KubeDict, revision: str
) -> KubeDict:
    """One group's workers' StatefulSet, named like its leader pod and owned by it."""
    leader_meta = metadata(leader)
    selector = worker_selector(
        name_of(raw), name_of(leader), namespace_of(leader), leader_meta.get("labels") or {}
    )
    labels, annotations = worker_template_meta(lws, name_of(leader), selector, revision)
    return {
        "apiVersion": STATEFUL_SETS.api_version,
        "kind": STATEFUL_SETS.kind,
        "metadata": {
            "name": name_of(leader),
            "namespace": namespace_of(leader),
            "labels": dict(labels),
            "ownerReferences": [_controller_ref("v1", "Pod", leader)],
        },
        "spec": {
            "replicas": lws.spec.leader_worker_template.size - 1,
            "selector": {"matchLabels": selector},
            "template": _template(_group_template(raw).get("workerTemplate"), labels, annotations),
            "serviceName": worker_service_name(lws, name_of(leader)),
            "podManagementPolicy": "Parallel",
            "ordinals": {"start": 1},
        },
    }


def headless_service(
    raw: KubeDict, owner: KubeDict | None = None, group_index: str | None = None
) -> KubeDict:
    """A headless Service (`CreateHeadlessServiceIfNotExists`): `<lws>` for the whole set,
    owned by it (subdomain policy `Shared`), or with `UniquePerReplica` one per group, named
    like and owned by its leader pod `owner`, selecting the group's pods."""
    name = name_of(raw)
    selector = {SET_NAME_LABEL: name}
    ref = _controller_ref(LWS_API_VERSION, LEADER_WORKER_SETS.kind, raw)
    service_name = name
    if owner is not None:
        selector[GROUP_INDEX_LABEL] = group_index or ""
        ref = _controller_ref("v1", "Pod", owner)
        service_name = name_of(owner)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": service_name,
            "namespace": namespace_of(raw),
            "labels": {SET_NAME_LABEL: name},
            "ownerReferences": [ref],
        },
        "spec": {"clusterIP": "None", "selector": selector, "publishNotReadyAddresses": True},
    }


def lws_pod_admission(sts: KubeDict, pod: KubeDict) -> KubeDict:
    """The LeaderWorkerSet pod webhook on a new pod body (`webhook_defaults`): pods without
    the `leaderworkerset.sigs.k8s.io/name` label pass unchanged."""
    del sts  # the webhook sees only the pod
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    if SET_NAME_LABEL not in labels:
        return pod
    defaults = webhook_defaults(
        str(meta.get("name", "")),
        str(meta.get("namespace", "")),
        dict(labels),
        dict(meta.get("annotations") or {}),
    )
    admitted = copy.deepcopy(pod)
    admitted["metadata"]["labels"] = defaults.labels
    spec = admitted.setdefault("spec", {})
    if defaults.unique_subdomain:
        spec["subdomain"] = meta.get("name")
    for key_label, key, topology in defaults.exclusive:
        affinity = spec.setdefault("affinity", {})
        together, alone = exclusive_affinity(
            affinity.get("podAffinity"), affinity.get("podAntiAffinity"), key_label, key, topology
        )
        affinity["podAffinity"] = together
        affinity["podAntiAffinity"] = alone
    return admitted


def _set_condition(conditions: list[dict[str, Any]], kind: str, stamp: str) -> None:
    """Upstream's `setCondition` for a True condition of `kind`, in place."""
    found = False
    for condition in conditions:
        if condition.get("type") == kind:
            if condition.get("status") != "True":
                reason, message = _CONDITION_TEXT[kind]
                condition.update(
                    status="True", reason=reason, message=message, lastTransitionTime=stamp
                )
            found = True
        elif (condition.get("type"), kind) in _EXCLUSIVE and condition.get("status") == "True":
            condition["status"] = "False"
    if not found:
        reason, message = _CONDITION_TEXT[kind]
        conditions.append(
            {
                "type": kind,
                "status": "True",
                "lastTransitionTime": stamp,
                "reason": reason,
                "message": message,
            }
        )


def _is_workers_ready(sts: KubeDict | None) -> bool:
    """statefulsetutils.StatefulsetReady: every replica exists, all at one revision."""
    if sts is None:
        return False
    status = sts.get("status") or {}
    return int((sts.get("spec") or {}).get("replicas", 1)) == int(
        status.get("replicas", 0)
    ) and status.get("currentRevision") == status.get("updateRevision")


def plan_leader_worker_set(
    raw: KubeDict,
    stateful_sets: dict[str, KubeDict],
    leaders: Sequence[KubeDict],
    services: Collection[str],
    now: datetime,
    topology: Mapping[str, str] | None = None,
) -> LeaderWorkerSetPlan:
    """One sync of a LeaderWorkerSet. `stateful_sets` are its leader StatefulSet and its
    leaders' worker StatefulSets (those that exist) by name; `leaders` its leader pods (label
    `worker-index: 0`); `services` the names of the namespace's Services among the ones it
    would make. With exclusive placement, `topology` holds the value of the topology label
    on each scheduled leader's node, by leader name: a group's workers are made only once
    their leader's is known, with a node selector on it."""
    if is_being_deleted(raw):
        return LeaderWorkerSetPlan()
    lws = decode_leader_worker_set(raw)
    revision = revision_key(lws)
    create: list[KubeDict] = []
    update: list[KubeDict] = []
    leader_set = stateful_sets.get(name_of(raw))
    wanted = leader_stateful_set(raw, lws, revision)
    if leader_set is None:
        create.append(wanted)
    elif not is_controlled_by(leader_set, raw):
        raise SyncError(
            f"LeaderWorkerSet {object_key(raw)}: StatefulSet {object_key(leader_set)} exists "
            "and is not its own"
        )
    elif not is_being_deleted(leader_set) and (
        (leader_set.get("spec") or {}).get("replicas") != lws.spec.replicas
        or (metadata(leader_set).get("labels") or {}).get(REVISION_LABEL) != revision
    ):
        changed = copy.deepcopy(leader_set)
        changed["metadata"]["labels"] = wanted["metadata"]["labels"]
        changed["metadata"]["annotations"] = {
            **(metadata(leader_set).get("annotations") or {}),
            **wanted["metadata"]["annotations"],
        }
        changed["spec"]["replicas"] = lws.spec.replicas
        changed["spec"]["template"] = wanted["spec"]["template"]
        update.append(changed)
    size = lws.spec.leader_worker_template.size
    owned_leaders = [
        p for p in leaders if leader_set is not None and is_controlled_by(p, leader_set)
    ]
    exclusive = lws.metadata.annotations.get(EXCLUSIVE_ANNOTATION, "")
    unique = is_unique_per_replica(lws)
    new_services: list[KubeDict] = []
    if not unique and name_of(raw) not in services:
        new_services.append(headless_service(raw))
    ready = updated = 0
    for leader in owned_leaders:
        group_index = (metadata(leader).get("labels") or {}).get(GROUP_INDEX_LABEL)
        if unique and name_of(leader) not in services:
            new_services.append(headless_service(raw, leader, group_index))
        workers = stateful_sets.get(name_of(leader)) if size > 1 else None
        leader_ready = is_running_and_ready(leader)
        startable = lws.spec.startup_policy != "LeaderReady" or leader_ready
        placed = not exclusive or name_of(leader) in (topology or {})
        if size > 1 and workers is None and not is_being_deleted(leader) and startable and placed:
            body = worker_stateful_set(raw, lws, leader, revision)
            if exclusive:
                # The group follows its leader into one topology domain (upstream's
                # setNodeSelectorForWorkerPods).
                pod_spec = body["spec"]["template"]["spec"]
                pod_spec["nodeSelector"] = {
                    **(pod_spec.get("nodeSelector") or {}),
                    exclusive: (topology or {})[name_of(leader)],
                }
            create.append(body)
        if workers is not None and not is_controlled_by(workers, leader):
            workers = None
        if (size == 1 or _is_workers_ready(workers)) and leader_ready:
            ready += 1
        leader_revision = (metadata(leader).get("labels") or {}).get(REVISION_LABEL)
        workers_revision = (
            (metadata(workers).get("labels") or {}).get(REVISION_LABEL) if workers else None
        )
        if leader_revision == revision and (size == 1 or workers_revision == revision):
            updated += 1
    old = raw.get("status") or {}
    status: dict[str, Any] = copy.deepcopy(old)
    status["replicas"] = int(((leader_set or {}).get("status") or {}).get("replicas", 0))
    status["readyReplicas"] = ready
    status["updatedReplicas"] = updated
    status.setdefault("hpaPodSelector", f"{SET_NAME_LABEL}={name_of(raw)},{WORKER_INDEX_LABEL}=0")
    # Go's omitempty on the counters.
    for key in ("replicas", "readyReplicas", "updatedReplicas"):
        if not status[key]:
            del status[key]
    conditions = [dict(c) for c in old.get("conditions") or []]
    _set_condition(
        conditions, AVAILABLE if ready >= lws.spec.replicas else PROGRESSING, format_time(now)
    )
    status["conditions"] = conditions
    return LeaderWorkerSetPlan(
        tuple(create), tuple(update), tuple(new_services), status if status != old else None
    )


class LeaderWorkerSetController:
    """Runs `plan_leader_worker_set` for every LeaderWorkerSet that changed, or whose
    StatefulSets or pods changed.

    >>> controller = LeaderWorkerSetController(client, informers)   # doctest: +SKIP
    """

    name = NAME

    def __init__(
        self,
        client: KubeClient,
        informers: SharedInformers,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.client = client
        self.now = now
        self.sets = informers.informer(LEADER_WORKER_SETS)
        self.stateful_sets = informers.informer(STATEFUL_SETS)
        self.pods = informers.informer(PODS)
        self.services = informers.informer(SERVICES)
        self.queue = WorkQueue("leaderworkerset")
        # Leader pods (labelled `worker-index: 0` and with a group index) by their set's key.
        self.leaders = ReverseIndex()
        self.pods.add_handler(
            FuncHandler(
                self._index_leader, lambda _, pod: self._index_leader(pod), self._drop_leader
            )
        )
        self.sets.add_handler(
            FuncHandler(self._enqueue, lambda _, obj: self._enqueue(obj), _ignore)
        )
        for informer in (self.stateful_sets, self.pods, self.services):
            informer.add_handler(
                FuncHandler(
                    self._member_changed,
                    lambda _, obj: self._member_changed(obj),
                    self._member_changed,
                )
            )

    async def run(self) -> None:
        await wait_for_informers((self.sets, self.stateful_sets, self.pods, self.services))
        for pod in list(self.pods.store.values()):
            self._index_leader(pod)
        for obj in list(self.sets.store.values()):
            self._enqueue(obj)
        try:
            await run_worker(self.queue, self.sync, log)
        finally:
            self.queue.shut_down()

    def _enqueue(self, obj: KubeDict) -> None:
        self.queue.add(object_key(obj))

    def _index_leader(self, pod: KubeDict) -> None:
        labels = metadata(pod).get("labels") or {}
        is_leader = (
            labels.get(SET_NAME_LABEL)
            and labels.get(WORKER_INDEX_LABEL) == "0"
            and GROUP_INDEX_LABEL in labels
        )
        key = f"{namespace_of(pod)}/{labels.get(SET_NAME_LABEL)}"
        self.leaders.set(object_key(pod), [key] if is_leader else [])

    def _drop_leader(self, pod: KubeDict) -> None:
        self.leaders.remove(object_key(pod))

    def _member_changed(self, obj: KubeDict) -> None:
        # Leader and worker StatefulSets, their pods and the Service all carry the set's name.
        owner = (metadata(obj).get("labels") or {}).get(SET_NAME_LABEL)
        ref = controller_of(obj)
        if not owner and ref is not None and ref.get("kind") == LEADER_WORKER_SETS.kind:
            owner = ref.get("name")
        if owner:
            self.queue.add(f"{namespace_of(obj)}/{owner}")

    async def sync(self, key: str) -> None:
        raw = self.sets.get(key)
        if raw is None:
            return
        namespace = namespace_of(raw)
        leaders = [p for k in self.leaders.members(key) if (p := self.pods.get(k)) is not None]
        # The leader StatefulSet and one worker StatefulSet per leader, named like it.
        stateful_sets = {
            name: found
            for name in (name_of(raw), *(name_of(p) for p in leaders))
            if (found := self.stateful_sets.get(f"{namespace}/{name}")) is not None
        }
        services = {
            name
            for name in (name_of(raw), *(name_of(p) for p in leaders))
            if self.services.get(f"{namespace}/{name}") is not None
        }
        topology = await self._topology(raw, leaders, stateful_sets)
        plan = plan_leader_worker_set(raw, stateful_sets, leaders, services, self.now(), topology)
        for service in plan.services:
            await self._create(SERVICES, namespace, service)
        for body in plan.create:
            await self._create(STATEFUL_SETS, namespace, body)
        for body in plan.update:
            await self.client.update(STATEFUL_SETS.item(namespace, name_of(body)), body)
        if plan.status is not None:
            updated = dict(raw)
            updated["status"] = plan.status
            await self.client.update(
                LEADER_WORKER_SETS.item(namespace, name_of(raw), "status"), updated
            )

    async def _topology(
        self, raw: KubeDict, leaders: Sequence[KubeDict], stateful_sets: dict[str, KubeDict]
    ) -> dict[str, str]:
        """With exclusive placement, the topology label's value on the node of each
        scheduled leader that has no worker StatefulSet yet (upstream's
        topologyValueFromPod): a GET of the node, only when the workers are to be made."""
        key = (metadata(raw).get("annotations") or {}).get(EXCLUSIVE_ANNOTATION)
        if not key:
            return {}
        found: dict[str, str] = {}
        for leader in leaders:
            node = (leader.get("spec") or {}).get("nodeName")
            if not node or name_of(leader) in stateful_sets:
                continue
            labels = metadata(await self.client.get(NODES.item(None, node))).get("labels") or {}
            if key not in labels:
                raise SyncError(
                    f"LeaderWorkerSet {object_key(raw)}: node {node} of leader "
                    f"{name_of(leader)} has no label {key} (the exclusive topology)"
                )
            found[name_of(leader)] = str(labels[key])
        return found

    async def _create(self, resource: Resource, namespace: str, body: KubeDict) -> None:
        try:
            await self.client.create(resource.collection(namespace), body)
        except ApiStatusError as err:
            if not err.is_conflict:
                raise
            log.info(
                "leaderworkerset: %s %s/%s exists already", resource.kind, namespace, name_of(body)
            )


def _ignore(_: KubeDict) -> None:
    return None
