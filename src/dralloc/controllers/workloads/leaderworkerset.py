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


def _unique_per_replica(lws: LeaderWorkerSet) -> bool:
    network = lws.spec.network_config
    return network is not None and network.subdomain_policy == UNIQUE_PER_REPLICA


def leader_stateful_set(lws: LeaderWorkerSet, revision: str, uid: str = "") -> StatefulSet:
    """The StatefulSet of the leaders (`constructLeaderStatefulSetApplyConfiguration`).
    `lws` must be defaulted (`apply_workload_defaults`)."""
    meta = lws.metadata
    group = lws.spec.leader_worker_template
    source = group.leader_template if group.leader_template is not None else group.worker_template
    template = copy.deepcopy(source)
    template.metadata.labels.update(
        {WORKER_INDEX_LABEL: "0", SET_NAME_LABEL: meta.name, REVISION_LABEL: revision}
    )
    annotations = template.metadata.annotations
    annotations[SIZE_ANNOTATION] = str(group.size)
    if meta.annotations.get(EXCLUSIVE_ANNOTATION):
        annotations[EXCLUSIVE_ANNOTATION] = meta.annotations[EXCLUSIVE_ANNOTATION]
    subgroups = group.sub_group_policy
    if subgroups is not None and subgroups.sub_group_size is not None:
        annotations[SUBGROUP_POLICY_TYPE_ANNOTATION] = subgroups.type or "LeaderWorker"
        annotations[SUBGROUP_SIZE_ANNOTATION] = str(subgroups.sub_group_size)
        if meta.annotations.get(SUBGROUP_EXCLUSIVE_ANNOTATION):
            annotations[SUBGROUP_EXCLUSIVE_ANNOTATION] = meta.annotations[
                SUBGROUP_EXCLUSIVE_ANNOTATION
            ]
    if _unique_per_replica(lws):
        annotations[SUBDOMAIN_POLICY_ANNOTATION] = UNIQUE_PER_REPLICA
    return StatefulSet(
        metadata=ObjectMeta(
            name=meta.name,
            namespace=meta.namespace,
            uid=uid,
            labels={SET_NAME_LABEL: meta.name, REVISION_LABEL: revision},
            annotations={REPLICAS_ANNOTATION: str(lws.spec.replicas)},
            owner_references=[controller_ref(LWS_API_VERSION, KIND, meta)],
        ),
        spec=StatefulSetSpec(
            replicas=lws.spec.replicas,
            selector=LabelSelector(
                match_labels={SET_NAME_LABEL: meta.name, WORKER_INDEX_LABEL: "0"}
            ),
            template=template,
            service_name=meta.name,
            pod_management_policy="Parallel",
        ),
    )


def worker_stateful_set(
    lws: LeaderWorkerSet, leader: Pod, revision: str, uid: str = ""
) -> StatefulSet:
    """The StatefulSet of one group's workers, named and owned by its leader pod
    (`constructWorkerStatefulSetApplyConfiguration`)."""
    meta = lws.metadata
    group = lws.spec.leader_worker_template
    leader_meta = leader.metadata
    # A leader from the input may lack the webhook's labels: they are derived the same way.
    selector = {
        GROUP_INDEX_LABEL: leader_meta.labels.get(
            GROUP_INDEX_LABEL, leader_meta.name.rpartition("-")[2]
        ),
        SET_NAME_LABEL: meta.name,
        GROUP_KEY_LABEL: leader_meta.labels.get(
            GROUP_KEY_LABEL, sha1_key(leader_meta.namespace, leader_meta.name)
        ),
    }
    labels = {**selector, REVISION_LABEL: revision}
    template: PodTemplateSpec = copy.deepcopy(group.worker_template)
    template.metadata.labels.update(labels)
    annotations = template.metadata.annotations
    annotations[SIZE_ANNOTATION] = str(group.size)
    annotations[LEADER_NAME_ANNOTATION] = leader.metadata.name
    if meta.annotations.get(EXCLUSIVE_ANNOTATION):
        annotations[EXCLUSIVE_ANNOTATION] = meta.annotations[EXCLUSIVE_ANNOTATION]
    subgroups = group.sub_group_policy
    if subgroups is not None and subgroups.sub_group_size is not None:
        annotations[SUBGROUP_SIZE_ANNOTATION] = str(subgroups.sub_group_size)
        if meta.annotations.get(SUBGROUP_EXCLUSIVE_ANNOTATION):
            annotations[SUBGROUP_EXCLUSIVE_ANNOTATION] = meta.annotations[
                SUBGROUP_EXCLUSIVE_ANNOTATION
            ]
    service = leader.metadata.name if _unique_per_replica(lws) else meta.name
    return StatefulSet(
        metadata=ObjectMeta(
            name=leader.metadata.name,
            namespace=leader.metadata.namespace,
            uid=uid,
            labels=labels,
            owner_references=[controller_ref("v1", "Pod", leader.metadata)],
        ),
        spec=StatefulSetSpec(
            replicas=group.size - 1,
            selector=LabelSelector(match_labels=selector),
            template=template,
            service_name=service,
            pod_management_policy="Parallel",
            ordinals=StatefulSetOrdinals(start=1),
        ),
    )


def _exclusive_affinity(pod: Pod, key_label: str, key: str, topology: str) -> Pod:
    """The pod with the webhook's exclusive-placement terms (`SetExclusiveAffinities`): the
    group's pods together in one `topology` domain, and no other group's pods there. Written
    in wire form, as `Affinity` keeps pod affinities unmodelled."""

    def terms(existing: Any, term: dict[str, Any]) -> dict[str, Any]:
        found = dict(existing) if isinstance(existing, dict) else {}
        required = list(found.get("requiredDuringSchedulingIgnoredDuringExecution") or [])
        if any(t.get("topologyKey") == topology for t in required if isinstance(t, dict)):
            return found
        found["requiredDuringSchedulingIgnoredDuringExecution"] = [*required, term]
        return found

    affinity = pod.spec.affinity or Affinity()
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
    affinity = msgspec.structs.replace(
        affinity,
        pod_affinity=terms(affinity.pod_affinity, together),
        pod_anti_affinity=terms(affinity.pod_anti_affinity, alone),
    )
    return msgspec.structs.replace(pod, spec=msgspec.structs.replace(pod.spec, affinity=affinity))


def _subgroup_index(size: int, subgroup_size: int, worker: int) -> int:
    if (size - 1) % subgroup_size == 0:
        return (worker - 1) // subgroup_size  # the leader is the extra pod of subgroup 0
    return worker // subgroup_size


def _admit(draft: WorkloadPod) -> WorkloadPod:
    """The LeaderWorkerSet pod webhook (`PodWebhook.Default`) on one new pod."""
    pod = draft.pod
    meta = pod.metadata
    parent, _, ordinal_text = meta.name.rpartition("-")
    ordinal = int(ordinal_text)
    subdomain = draft.subdomain
    subgroup_size = meta.annotations.get(SUBGROUP_SIZE_ANNOTATION, "")
    if meta.labels.get(WORKER_INDEX_LABEL) == "0":
        meta.labels.setdefault(GROUP_INDEX_LABEL, str(ordinal))
        if meta.annotations.get(SUBDOMAIN_POLICY_ANNOTATION) == UNIQUE_PER_REPLICA:
            subdomain = meta.name
        key = meta.labels.setdefault(GROUP_KEY_LABEL, sha1_key(meta.namespace, meta.name))
        if EXCLUSIVE_ANNOTATION in meta.annotations:
            pod = _exclusive_affinity(
                pod, GROUP_KEY_LABEL, key, meta.annotations[EXCLUSIVE_ANNOTATION]
            )
        if subgroup_size and not meta.labels.get(SUBGROUP_INDEX_LABEL):
            meta.labels[SUBGROUP_INDEX_LABEL] = "0"
            sub_key = sha1_key(meta.name, "0")
            meta.labels[SUBGROUP_KEY_LABEL] = sub_key
            if SUBGROUP_EXCLUSIVE_ANNOTATION in meta.annotations:
                topology = meta.annotations[SUBGROUP_EXCLUSIVE_ANNOTATION]
                pod = _exclusive_affinity(pod, SUBGROUP_KEY_LABEL, sub_key, topology)
    else:
        meta.labels[WORKER_INDEX_LABEL] = str(ordinal)
        if subgroup_size.isdigit() and not meta.labels.get(SUBGROUP_INDEX_LABEL):
            size = int(meta.annotations.get(SIZE_ANNOTATION, "1"))
            index = str(_subgroup_index(size, int(subgroup_size), ordinal))
            meta.labels[SUBGROUP_INDEX_LABEL] = index
            sub_key = sha1_key(meta.annotations.get(LEADER_NAME_ANNOTATION, parent), index)
            meta.labels[SUBGROUP_KEY_LABEL] = sub_key
            if SUBGROUP_EXCLUSIVE_ANNOTATION in meta.annotations:
                topology = meta.annotations[SUBGROUP_EXCLUSIVE_ANNOTATION]
                pod = _exclusive_affinity(pod, SUBGROUP_KEY_LABEL, sub_key, topology)
    return WorkloadPod(
        pod,
        draft.owners,
        hostname=draft.hostname,
        subdomain=subdomain,
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
