"""The Deployment controller (kube-controller-manager's `deployment`): one ReplicaSet per pod
template, named `<deployment>-<pod-template-hash>`, scaled to the Deployment's replicas.

Pure computation over an `ExpansionState`, no I/O. The ReplicaSet the controller makes
(`getNewReplicaSet`) carries:

* `metadata.name` `<deployment>-<hash>`, where the hash is taken over the pod template and
  `status.collisionCount` (see `hashing` for how dralloc's hash departs from upstream's);
* the template's labels plus `pod-template-hash: <hash>`, on the ReplicaSet, its template and
  (added to the Deployment's) its selector;
* the Deployment's annotations except `kubectl.kubernetes.io/last-applied-configuration` and
  the controller's own, plus `deployment.kubernetes.io/revision` (one more than the highest
  revision of the Deployment's other ReplicaSets), `.../desired-replicas` and
  `.../max-replicas` (replicas plus the resolved `maxSurge`);
* a controller reference to the Deployment, and `minReadySeconds`.

Input ReplicaSets the Deployment controls, or orphans its selector matches, are its
ReplicaSets; the oldest whose template equals the Deployment's (ignoring `pod-template-hash`)
is the current one and is scaled rather than a new one made; a name taken by another template
bumps the collision count, as upstream does. Then the ReplicaSet controller makes the pods.

The result is the state once the rollout is over: the current ReplicaSet at `spec.replicas`
and the active pods of older ones deleted. The steps in between (`maxSurge`,
`maxUnavailable`, proportional scaling) are not replayed. A paused Deployment makes no new
ReplicaSet.

A cluster dump often holds a Deployment and its pods but not its ReplicaSets. When the input
has none of the Deployment's ReplicaSets but has pods controlled by a ReplicaSet named
`<deployment>-<h>` whose `pod-template-hash` label is `h` and whose labels match the
Deployment's selector, that ReplicaSet is taken to exist with the Deployment's current
template (the pods cannot tell otherwise); with several, the one with most pods, and the rest
are old. A note says so.
"""

from __future__ import annotations

import copy
import math

import msgspec

from dralloc.api.core import Pod
from dralloc.api.meta import ObjectMeta
from dralloc.api.workloads import (
    APPS_API_VERSION,
    Deployment,
    PodTemplateSpec,
    ReplicaSet,
    ReplicaSetSpec,
    apply_workload_defaults,
)
from dralloc.controllers.workloads.hashing import canonical_json, pod_template_hash
from dralloc.controllers.workloads.model import WorkloadRef
from dralloc.controllers.workloads.pods import controller_of, controller_ref, is_active
from dralloc.controllers.workloads.replicaset import sync_replica_set
from dralloc.controllers.workloads.selectors import selector_matches, with_label
from dralloc.controllers.workloads.state import ExpansionState, is_owned_by

KIND = "Deployment"
POD_TEMPLATE_HASH_LABEL = "pod-template-hash"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
DESIRED_REPLICAS_ANNOTATION = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS_ANNOTATION = "deployment.kubernetes.io/max-replicas"
# Annotations a Deployment does not pass on to its ReplicaSets (upstream's annotationsToSkip).
SKIPPED_ANNOTATIONS = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION_ANNOTATION,
        "deployment.kubernetes.io/revision-history",
        DESIRED_REPLICAS_ANNOTATION,
        MAX_REPLICAS_ANNOTATION,
        "deprecated.deployment.rollback.to",
    }
)


def scaled_value(value: int | str | None, total: int, round_up: bool) -> int:
    """An int-or-percent against `total` (`intstr.GetScaledValueFromIntOrPercent`).

    >>> scaled_value("25%", 10, round_up=True), scaled_value("25%", 10, round_up=False)
    (3, 2)
    """
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    percent = int(value.rstrip("%"))
    exact = percent * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)


def max_surge(deployment: Deployment) -> int:
    """How many pods above `replicas` a rolling update may run (upstream's `MaxSurge`)."""
    strategy = deployment.spec.strategy
    if strategy.type not in ("", "RollingUpdate") or strategy.rolling_update is None:
        return 0
    return scaled_value(strategy.rolling_update.max_surge, deployment.spec.replicas, True)


def _without_hash(template: PodTemplateSpec) -> bytes:
    labels = {k: v for k, v in template.metadata.labels.items() if k != POD_TEMPLATE_HASH_LABEL}
    metadata = msgspec.structs.replace(template.metadata, labels=labels)
    return canonical_json(msgspec.structs.replace(template, metadata=metadata))


def equal_ignoring_hash(a: PodTemplateSpec, b: PodTemplateSpec) -> bool:
    """Whether two templates are the same but for `pod-template-hash` (`EqualIgnoreHash`)."""
    return _without_hash(a) == _without_hash(b)


def revision_of(rs: ReplicaSet) -> int:
    try:
        return int(rs.metadata.annotations.get(REVISION_ANNOTATION, "0"))
    except ValueError:
        return 0


def new_replica_set(
    deployment: Deployment, *, collision_count: int | None, revision: int, uid: str
) -> ReplicaSet:
    """The ReplicaSet a Deployment creates for its current template, already at the
    Deployment's replicas. `deployment` must be defaulted (`apply_workload_defaults`)."""
    meta = deployment.metadata
    spec = deployment.spec
    hash_ = pod_template_hash(spec.template, collision_count)
    template = copy.deepcopy(spec.template)
    template.metadata.labels = {**spec.template.metadata.labels, POD_TEMPLATE_HASH_LABEL: hash_}
    annotations = {k: v for k, v in meta.annotations.items() if k not in SKIPPED_ANNOTATIONS}
    annotations[REVISION_ANNOTATION] = str(revision)
    annotations[DESIRED_REPLICAS_ANNOTATION] = str(spec.replicas)
    annotations[MAX_REPLICAS_ANNOTATION] = str(spec.replicas + max_surge(deployment))
    metadata = ObjectMeta(
        name=f"{meta.name}-{hash_}",
        namespace=meta.namespace,
        uid=uid,
        labels=dict(template.metadata.labels),
        annotations=annotations,
        owner_references=[controller_ref(APPS_API_VERSION, KIND, meta)],
    )
    return ReplicaSet(
        metadata=metadata,
        spec=ReplicaSetSpec(
            replicas=spec.replicas,
            min_ready_seconds=spec.min_ready_seconds,
            selector=with_label(spec.selector, POD_TEMPLATE_HASH_LABEL, hash_),
            template=template,
        ),
    )


def _scaled(rs: ReplicaSet, deployment: Deployment, revision: int) -> ReplicaSet:
    """The current ReplicaSet as the controller leaves it: at the Deployment's replicas, with
    its annotations synced and (if it was an orphan) adopted."""
    meta = rs.metadata
    annotations = dict(meta.annotations)
    for key, value in deployment.metadata.annotations.items():
        if key not in SKIPPED_ANNOTATIONS:
            annotations[key] = value
    if revision_of(rs) < revision:
        annotations[REVISION_ANNOTATION] = str(revision)
    annotations[DESIRED_REPLICAS_ANNOTATION] = str(deployment.spec.replicas)
    annotations[MAX_REPLICAS_ANNOTATION] = str(deployment.spec.replicas + max_surge(deployment))
    owners = list(meta.owner_references)
    if controller_of(meta) is None:
        owners.append(controller_ref(APPS_API_VERSION, KIND, deployment.metadata))
    return msgspec.structs.replace(
        rs,
        metadata=msgspec.structs.replace(meta, annotations=annotations, owner_references=owners),
        spec=msgspec.structs.replace(
            rs.spec,
            replicas=deployment.spec.replicas,
            min_ready_seconds=deployment.spec.min_ready_seconds,
        ),
    )


def _input_replica_sets(
    deployment: Deployment, match_uid: str, state: ExpansionState
) -> list[ReplicaSet]:
    """The input ReplicaSets the Deployment controls or adopts, oldest first."""
    meta = deployment.metadata
    found: list[ReplicaSet] = []
    for obj in state.workloads_in("ReplicaSet", meta.namespace):
        if not isinstance(obj, ReplicaSet):
            continue
        ref = controller_of(obj.metadata)
        if ref is None:
            if selector_matches(deployment.spec.selector, obj.metadata.labels):
                found.append(obj)
        elif is_owned_by(ref, KIND, meta.name, match_uid):
            found.append(obj)
    return sorted(found, key=lambda rs: (rs.metadata.creation_timestamp or "", rs.metadata.name))


def _implied_replica_sets(deployment: Deployment, state: ExpansionState) -> list[ReplicaSet]:
    """ReplicaSets the input's pods name but the input does not hold, most pods first."""
    meta = deployment.metadata
    prefix = f"{meta.name}-"
    found: list[tuple[int, str, ReplicaSet]] = []
    for rs_name in state.controller_names(meta.namespace, "ReplicaSet", prefix):
        if state.workload("ReplicaSet", meta.namespace, rs_name) is not None:
            continue
        hash_ = rs_name[len(prefix) :]
        pods: list[Pod] = [
            pod
            for pod in state.pods_controlled_by(meta.namespace, "ReplicaSet", rs_name)
            if pod.metadata.labels.get(POD_TEMPLATE_HASH_LABEL) == hash_
            and selector_matches(deployment.spec.selector, pod.metadata.labels)
        ]
        if not pods:
            continue
        pod_ref = controller_of(pods[0].metadata)
        template = copy.deepcopy(deployment.spec.template)
        template.metadata.labels[POD_TEMPLATE_HASH_LABEL] = hash_
        rs = ReplicaSet(
            metadata=ObjectMeta(
                name=rs_name,
                namespace=meta.namespace,
                uid=pod_ref.uid if pod_ref is not None else "",
                labels=dict(template.metadata.labels),
                owner_references=[controller_ref(APPS_API_VERSION, KIND, meta)],
            ),
            spec=ReplicaSetSpec(
                replicas=deployment.spec.replicas,
                selector=with_label(deployment.spec.selector, POD_TEMPLATE_HASH_LABEL, hash_),
                template=template,
            ),
        )
        active = sum(1 for pod in pods if is_active(pod))
        found.append((-active, rs_name, rs))
    return [rs for _, _, rs in sorted(found, key=lambda entry: entry[:2])]


def sync_deployment(
    deployment: Deployment, state: ExpansionState, owners: tuple[WorkloadRef, ...] = ()
) -> None:
    """Make (or scale) the Deployment's current ReplicaSet and its pods; delete the pods of
    the older ones."""
    deployment = copy.deepcopy(deployment)
    apply_workload_defaults(deployment)
    match_uid = deployment.metadata.uid
    deployment.metadata = state.with_uid(deployment.metadata, "Deployment")
    meta = deployment.metadata
    ref = WorkloadRef.of(KIND, meta)
    chain = (ref, *owners)
    if meta.deletion_timestamp is not None:
        return
    if not selector_matches(deployment.spec.selector, deployment.spec.template.metadata.labels):
        state.problem(ref, "spec.selector", "does not match the template's labels")
        return
    replica_sets = _input_replica_sets(deployment, match_uid, state)
    current: ReplicaSet | None = next(
        (
            rs
            for rs in replica_sets
            if equal_ignoring_hash(rs.spec.template, deployment.spec.template)
        ),
        None,
    )
    from_pods = False
    if not replica_sets:
        implied = _implied_replica_sets(deployment, state)
        if implied:
            current, replica_sets, from_pods = implied[0], implied, True
            state.note(
                ref,
                f"ReplicaSet {current.metadata.name} is not in the input; "
                "its pods are taken as the Deployment's current ReplicaSet",
            )
    old = [rs for rs in replica_sets if rs is not current]
    revision = max((revision_of(rs) for rs in old), default=0) + 1
    if current is not None:
        scaled = _scaled(current, deployment, revision)
        scaled = msgspec.structs.replace(
            scaled, metadata=state.with_uid(scaled.metadata, "ReplicaSet")
        )
        state.add_replica_set(scaled)
        sync_replica_set(scaled, state, chain, match_uid=current.metadata.uid)
    elif deployment.spec.paused:
        state.note(ref, "paused: no ReplicaSet is created for the current template")
        return
    else:
        collision_count = deployment.status.collision_count
        uid = state.new_uid()
        rs = new_replica_set(
            deployment, collision_count=collision_count, revision=revision, uid=uid
        )
        # A taken name with another template is a hash collision: upstream bumps the count.
        while state.workload("ReplicaSet", meta.namespace, rs.metadata.name) is not None:
            collision_count = (collision_count or 0) + 1
            rs = new_replica_set(
                deployment, collision_count=collision_count, revision=revision, uid=uid
            )
        state.add_replica_set(rs)
        sync_replica_set(rs, state, chain, match_uid="")
    if deployment.spec.paused:
        return
    for rs in old:
        # The rollout ends with every older ReplicaSet at 0 replicas.
        drained = msgspec.structs.replace(rs, spec=msgspec.structs.replace(rs.spec, replicas=0))
        sync_replica_set(drained, state, chain, match_uid=rs.metadata.uid)
        if from_pods or rs.spec.replicas:
            state.note(WorkloadRef.of("ReplicaSet", rs.metadata), "old: scaled to 0 replicas")
