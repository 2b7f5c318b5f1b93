"""The LeaderWorkerSet controllers (sigs.k8s.io/lws, API leaderworkerset.x-k8s.io/v1): `replicas`
groups, each a leader pod `<lws>-<i>` and `size - 1` workers `<lws>-<i>-<j>`, j = 1..size-1.

Pure computation over an `ExpansionState`, no I/O. As upstream, through StatefulSets:

* the leader StatefulSet `<lws>` (owned by the LeaderWorkerSet; `Parallel`, `serviceName`
  the LeaderWorkerSet's name, selector `name` + `worker-index: 0`) makes the leaders from
  `leaderTemplate` (or `workerTemplate`) with the labels `leaderworkerset.sigs.k8s.io/name`,
  `worker-index: 0`, `template-revision-hash` and the annotation `size`;
* for every leader, the pod controller makes a worker StatefulSet named like the leader and
  owned by the leader pod (`Parallel`, `ordinals.start: 1`, `replicas: size - 1`, selector
  `name` + `group-index` + `group-key`), whose pods get the labels `name`, `group-index`,
  `group-key`, `template-revision-hash` and the annotations `size` and `leader-name`. No
  worker StatefulSet exists when `size` is 1;
* the project's pod webhook then labels leaders with `group-index` (the ordinal) and
  `group-key` (SHA-1 of `<namespace>/<leader>`), workers with `worker-index` (the ordinal),
  adds subgroup labels when `subGroupPolicy` is set, gives leaders the exclusive-placement pod
  affinities when the LeaderWorkerSet has `leaderworkerset.sigs.k8s.io/exclusive-topology`,
  and with `subdomainPolicy: UniquePerReplica` makes a group's subdomain its leader's name.

Every pod's hostname is its name and its subdomain the worker StatefulSet's service (reported
on the `WorkloadPod`). The revision hash departs from upstream's as `hashing` explains. With
`startupPolicy: LeaderReady`, and with exclusive placement (workers are made only once the
leader is scheduled, then pinned to its topology domain by a node selector dralloc cannot know
offline), a group's workers name its leader in `after`.

Not modelled: the `LWS_*` environment variables (containers have no `env` in dralloc), TPU
variables, rolling updates, restart policies, volume claim templates.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from typing import Any

import msgspec

from dralloc.api.core import Affinity, Pod
from dralloc.api.meta import ObjectMeta
from dralloc.api.workloads import (
    LWS_API_VERSION,
    LabelSelector,
    LeaderWorkerSet,
    PodTemplateSpec,
    StatefulSet,
    StatefulSetOrdinals,
    StatefulSetSpec,
    apply_workload_defaults,
)
from dralloc.controllers.workloads.hashing import canonical_json, revision_hash
from dralloc.controllers.workloads.model import WorkloadPod, WorkloadRef
from dralloc.controllers.workloads.pods import controller_ref, is_active
from dralloc.controllers.workloads.state import ExpansionState
from dralloc.controllers.workloads.statefulset import ordinal_of, sync_stateful_set

KIND = "LeaderWorkerSet"
_PREFIX = "leaderworkerset.sigs.k8s.io/"
SET_NAME_LABEL = _PREFIX + "name"
GROUP_INDEX_LABEL = _PREFIX + "group-index"
WORKER_INDEX_LABEL = _PREFIX + "worker-index"
GROUP_KEY_LABEL = _PREFIX + "group-key"
REVISION_LABEL = _PREFIX + "template-revision-hash"
SIZE_ANNOTATION = _PREFIX + "size"
REPLICAS_ANNOTATION = _PREFIX + "replicas"
LEADER_NAME_ANNOTATION = _PREFIX + "leader-name"
EXCLUSIVE_ANNOTATION = _PREFIX + "exclusive-topology"
SUBGROUP_EXCLUSIVE_ANNOTATION = _PREFIX + "subgroup-exclusive-topology"
SUBGROUP_INDEX_LABEL = _PREFIX + "subgroup-index"
SUBGROUP_KEY_LABEL = _PREFIX + "subgroup-key"
SUBGROUP_SIZE_ANNOTATION = _PREFIX + "subgroup-size"
SUBGROUP_POLICY_TYPE_ANNOTATION = _PREFIX + "subgroup-policy-type"
SUBDOMAIN_POLICY_ANNOTATION = _PREFIX + "subdomainPolicy"
UNIQUE_PER_REPLICA = "UniquePerReplica"


def sha1_key(first: str, second: str) -> str:
    """SHA-1 (hex) of `<first>/<second>`: group keys are `(namespace, leader)`, subgroup keys
    `(leader, subgroup index)`, as the webhook hashes them."""
    return hashlib.sha1(f"{first}/{second}".encode()).hexdigest()


def revision_key(lws: LeaderWorkerSet) -> str:
    """The `template-revision-hash` of the LeaderWorkerSet's current template (over canonical
    JSON of `leaderWorkerTemplate`; see `hashing`)."""
    return revision_hash(canonical_json(lws.spec.leader_worker_template))


def is_unique_per_replica(lws: LeaderWorkerSet) -> bool:
    """`networkConfig.subdomainPolicy: UniquePerReplica`: one subdomain per group."""
    network = lws.spec.network_config
    return network is not None and network.subdomain_policy == UNIQUE_PER_REPLICA


def leader_selector(lws_name: str) -> dict[str, str]:
    """The leader StatefulSet's selector: the set's name and `worker-index: 0`."""
    return {SET_NAME_LABEL: lws_name, WORKER_INDEX_LABEL: "0"}


def leader_set_meta(lws: LeaderWorkerSet, revision: str) -> tuple[dict[str, str], dict[str, str]]:
    """The leader StatefulSet's own labels and annotations."""
    labels = {SET_NAME_LABEL: lws.metadata.name, REVISION_LABEL: revision}
    return labels, {REPLICAS_ANNOTATION: str(lws.spec.replicas)}


def _subgroup_annotations(lws: LeaderWorkerSet, *, leader: bool) -> dict[str, str]:
    meta = lws.metadata
    subgroups = lws.spec.leader_worker_template.sub_group_policy
    found: dict[str, str] = {}
    if subgroups is not None and subgroups.sub_group_size is not None:
        if leader:
            found[SUBGROUP_POLICY_TYPE_ANNOTATION] = subgroups.type or "LeaderWorker"
        found[SUBGROUP_SIZE_ANNOTATION] = str(subgroups.sub_group_size)
        if meta.annotations.get(SUBGROUP_EXCLUSIVE_ANNOTATION):
            found[SUBGROUP_EXCLUSIVE_ANNOTATION] = meta.annotations[SUBGROUP_EXCLUSIVE_ANNOTATION]
    return found


def leader_template_meta(
    lws: LeaderWorkerSet, revision: str
) -> tuple[dict[str, str], dict[str, str]]:
    """The labels and annotations the leaders' pod template gets on top of its own."""
    meta = lws.metadata
    labels = {WORKER_INDEX_LABEL: "0", SET_NAME_LABEL: meta.name, REVISION_LABEL: revision}
    annotations = {SIZE_ANNOTATION: str(lws.spec.leader_worker_template.size)}
    if meta.annotations.get(EXCLUSIVE_ANNOTATION):
        annotations[EXCLUSIVE_ANNOTATION] = meta.annotations[EXCLUSIVE_ANNOTATION]
    annotations.update(_subgroup_annotations(lws, leader=True))
    if is_unique_per_replica(lws):
        annotations[SUBDOMAIN_POLICY_ANNOTATION] = UNIQUE_PER_REPLICA
    return labels, annotations


def leader_stateful_set(lws: LeaderWorkerSet, revision: str, uid: str = "") -> StatefulSet:
    """The StatefulSet of the leaders (`constructLeaderStatefulSetApplyConfiguration`).
    `lws` must be defaulted (`apply_workload_defaults`)."""
    meta = lws.metadata
    group = lws.spec.leader_worker_template
    source = group.leader_template if group.leader_template is not None else group.worker_template
    template = copy.deepcopy(source)
    labels, annotations = leader_template_meta(lws, revision)
    template.metadata.labels.update(labels)
    template.metadata.annotations.update(annotations)
    set_labels, set_annotations = leader_set_meta(lws, revision)
    return StatefulSet(
        metadata=ObjectMeta(
            name=meta.name,
            namespace=meta.namespace,
            uid=uid,
            labels=set_labels,
            annotations=set_annotations,
            owner_references=[controller_ref(LWS_API_VERSION, KIND, meta)],
        ),
        spec=StatefulSetSpec(
            replicas=lws.spec.replicas,
            selector=LabelSelector(match_labels=leader_selector(meta.name)),
            template=template,
            service_name=meta.name,
            pod_management_policy="Parallel",
        ),
    )


def worker_selector(
    lws_name: str, leader_name: str, leader_namespace: str, leader_labels: dict[str, str]
) -> dict[str, str]:
    """A worker StatefulSet's selector: the group's index and key (read from the leader's
    labels, or derived the same way for a leader that lacks the webhook's labels)."""
    return {
        GROUP_INDEX_LABEL: leader_labels.get(GROUP_INDEX_LABEL, leader_name.rpartition("-")[2]),
        SET_NAME_LABEL: lws_name,
        GROUP_KEY_LABEL: leader_labels.get(
            GROUP_KEY_LABEL, sha1_key(leader_namespace, leader_name)
        ),
    }


def worker_template_meta(
    lws: LeaderWorkerSet, leader_name: str, selector: dict[str, str], revision: str
) -> tuple[dict[str, str], dict[str, str]]:
    """The labels and annotations a group's worker pod template gets on top of its own."""
    meta = lws.metadata
    labels = {**selector, REVISION_LABEL: revision}
    annotations = {
        SIZE_ANNOTATION: str(lws.spec.leader_worker_template.size),
        LEADER_NAME_ANNOTATION: leader_name,
    }
    if meta.annotations.get(EXCLUSIVE_ANNOTATION):
        annotations[EXCLUSIVE_ANNOTATION] = meta.annotations[EXCLUSIVE_ANNOTATION]
    annotations.update(_subgroup_annotations(lws, leader=False))
    return labels, annotations


def worker_service_name(lws: LeaderWorkerSet, leader_name: str) -> str:
    """The worker StatefulSet's `serviceName`: the leader's name with `UniquePerReplica`."""
    return leader_name if is_unique_per_replica(lws) else lws.metadata.name


def worker_stateful_set(
    lws: LeaderWorkerSet, leader: Pod, revision: str, uid: str = ""
) -> StatefulSet:
    """The StatefulSet of one group's workers, named and owned by its leader pod
    (`constructWorkerStatefulSetApplyConfiguration`)."""
    group = lws.spec.leader_worker_template
    leader_meta = leader.metadata
    selector = worker_selector(
        lws.metadata.name, leader_meta.name, leader_meta.namespace, leader_meta.labels
    )
    labels, annotations = worker_template_meta(lws, leader_meta.name, selector, revision)
    template: PodTemplateSpec = copy.deepcopy(group.worker_template)
    template.metadata.labels.update(labels)
    template.metadata.annotations.update(annotations)
    return StatefulSet(
        metadata=ObjectMeta(
            name=leader_meta.name,
            namespace=leader_meta.namespace,
            uid=uid,
            labels=dict(labels),
            owner_references=[controller_ref("v1", "Pod", leader_meta)],
        ),
        spec=StatefulSetSpec(
            replicas=group.size - 1,
            selector=LabelSelector(match_labels=selector),
            template=template,
            service_name=worker_service_name(lws, leader_meta.name),
            pod_management_policy="Parallel",
            ordinals=StatefulSetOrdinals(start=1),
        ),
    )


def exclusive_affinity(
    pod_affinity: Any, pod_anti_affinity: Any, key_label: str, key: str, topology: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Wire-form `podAffinity` and `podAntiAffinity` with the webhook's exclusive-placement
    terms (`SetExclusiveAffinities`): the group's pods together in one `topology` domain, and
    no other group's pods there. A term on `topology` already there is kept as it is."""

    def terms(existing: Any, term: dict[str, Any]) -> dict[str, Any]:
        found = dict(existing) if isinstance(existing, dict) else {}
        required = list(found.get("requiredDuringSchedulingIgnoredDuringExecution") or [])
        if any(t.get("topologyKey") == topology for t in required if isinstance(t, dict)):
            return found
        found["requiredDuringSchedulingIgnoredDuringExecution"] = [*required, term]
        return found

    together = {
        "labelSelector": {
            "matchExpressions": [{"key": key_label, "operator": "In", "values": [key]}]
        },
        "topologyKey": topology,
    }
    alone = {
        "labelSelector": {
            "matchExpressions": [
                {"key": key_label, "operator": "Exists"},
                {"key": key_label, "operator": "NotIn", "values": [key]},
            ]
        },
        "topologyKey": topology,
    }
    return terms(pod_affinity, together), terms(pod_anti_affinity, alone)


def _exclusive_affinity(pod: Pod, key_label: str, key: str, topology: str) -> Pod:
    """The pod with `exclusive_affinity`'s terms (written in wire form, as `Affinity` keeps
    pod affinities unmodelled)."""
    affinity = pod.spec.affinity or Affinity()
    together, alone = exclusive_affinity(
        affinity.pod_affinity, affinity.pod_anti_affinity, key_label, key, topology
    )
    affinity = msgspec.structs.replace(affinity, pod_affinity=together, pod_anti_affinity=alone)
    return msgspec.structs.replace(pod, spec=msgspec.structs.replace(pod.spec, affinity=affinity))


def _subgroup_index(size: int, subgroup_size: int, worker: int) -> int:
    if (size - 1) % subgroup_size == 0:
        return (worker - 1) // subgroup_size  # the leader is the extra pod of subgroup 0
    return worker // subgroup_size


@dataclass(frozen=True)
class WebhookDefaults:
    """What the LeaderWorkerSet pod webhook (`PodWebhook.Default`) does to one new pod:
    `labels` to set (over the pod's own), whether the group's subdomain becomes the leader's
    name (`UniquePerReplica`), and exclusive-placement terms to add as
    `(key label, key, topology key)` for `exclusive_affinity`."""

    labels: dict[str, str]
    unique_subdomain: bool = False
    exclusive: tuple[tuple[str, str, str], ...] = ()


def webhook_defaults(
    name: str, namespace: str, labels: dict[str, str], annotations: dict[str, str]
) -> WebhookDefaults:
    """The webhook's changes to a new pod `namespace/name` with `labels` and `annotations`
    (from its StatefulSet's template and the StatefulSet controller). Pure."""
    parent, _, ordinal_text = name.rpartition("-")
    ordinal = int(ordinal_text)
    subgroup_size = annotations.get(SUBGROUP_SIZE_ANNOTATION, "")
    found = dict(labels)
    unique = False
    exclusive: list[tuple[str, str, str]] = []
    if found.get(WORKER_INDEX_LABEL) == "0":
        found.setdefault(GROUP_INDEX_LABEL, str(ordinal))
        unique = annotations.get(SUBDOMAIN_POLICY_ANNOTATION) == UNIQUE_PER_REPLICA
        key = found.setdefault(GROUP_KEY_LABEL, sha1_key(namespace, name))
        if EXCLUSIVE_ANNOTATION in annotations:
            exclusive.append((GROUP_KEY_LABEL, key, annotations[EXCLUSIVE_ANNOTATION]))
        if subgroup_size and not found.get(SUBGROUP_INDEX_LABEL):
            found[SUBGROUP_INDEX_LABEL] = "0"
            sub_key = sha1_key(name, "0")
            found[SUBGROUP_KEY_LABEL] = sub_key
            if SUBGROUP_EXCLUSIVE_ANNOTATION in annotations:
                topology = annotations[SUBGROUP_EXCLUSIVE_ANNOTATION]
                exclusive.append((SUBGROUP_KEY_LABEL, sub_key, topology))
    else:
        found[WORKER_INDEX_LABEL] = str(ordinal)
        if subgroup_size.isdigit() and not found.get(SUBGROUP_INDEX_LABEL):
            size = int(annotations.get(SIZE_ANNOTATION, "1"))
            index = str(_subgroup_index(size, int(subgroup_size), ordinal))
            found[SUBGROUP_INDEX_LABEL] = index
            sub_key = sha1_key(annotations.get(LEADER_NAME_ANNOTATION, parent), index)
            found[SUBGROUP_KEY_LABEL] = sub_key
            if SUBGROUP_EXCLUSIVE_ANNOTATION in annotations:
                topology = annotations[SUBGROUP_EXCLUSIVE_ANNOTATION]
                exclusive.append((SUBGROUP_KEY_LABEL, sub_key, topology))
    return WebhookDefaults(found, unique, tuple(exclusive))


def _admit(draft: WorkloadPod) -> WorkloadPod:
    """The LeaderWorkerSet pod webhook (`PodWebhook.Default`) on one new pod."""
    pod = draft.pod
    meta = pod.metadata
    defaults = webhook_defaults(meta.name, meta.namespace, meta.labels, meta.annotations)
    meta.labels.clear()
    meta.labels.update(defaults.labels)
    for key_label, key, topology in defaults.exclusive:
        pod = _exclusive_affinity(pod, key_label, key, topology)
    return WorkloadPod(
        pod,
        draft.owners,
        hostname=draft.hostname,
        subdomain=meta.name if defaults.unique_subdomain else draft.subdomain,
        after=draft.after,
    )


def sync_leader_worker_set(
    lws: LeaderWorkerSet, state: ExpansionState, owners: tuple[WorkloadRef, ...] = ()
) -> None:
    """Create the leader StatefulSet, the leaders, a worker StatefulSet per leader and the
    workers."""
    lws = copy.deepcopy(lws)
    apply_workload_defaults(lws)
    lws.metadata = state.with_uid(lws.metadata, "LeaderWorkerSet")
    meta = lws.metadata
    ref = WorkloadRef.of(KIND, meta)
    chain = (ref, *owners)
    if meta.deletion_timestamp is not None:
        return
    revision = revision_key(lws)
    leaders = leader_stateful_set(lws, revision, state.new_uid())
    state.add_stateful_set(leaders)
    leader_chain = (WorkloadRef.of("StatefulSet", leaders.metadata), *chain)
    created = {
        entry.pod.metadata.name: entry
        for entry in sync_stateful_set(leaders, state, chain, match_uid="", admission=_admit)
    }
    size = lws.spec.leader_worker_template.size
    if size <= 1:
        return
    exclusive = bool(meta.annotations.get(EXCLUSIVE_ANNOTATION))
    if exclusive:
        state.note(
            ref,
            "exclusive placement: each group's workers are created once its leader is "
            "scheduled, with a node selector for the leader's topology domain",
        )
    wait_for_leader = lws.spec.startup_policy == "LeaderReady" or exclusive
    for ordinal in range(lws.spec.replicas):
        name = f"{meta.name}-{ordinal}"
        entry = created.get(name)
        leader = entry.pod if entry is not None else state.pod(meta.namespace, name)
        if leader is None or not is_active(leader) or ordinal_of(meta.name, name) is None:
            continue
        workers = worker_stateful_set(lws, leader, revision, state.new_uid())
        state.add_stateful_set(workers)
        sync_stateful_set(
            workers,
            state,
            (WorkloadRef.of("Pod", leader.metadata), *leader_chain),
            match_uid="",
            admission=_admit,
            after=(name,) if wait_for_leader else (),
        )
