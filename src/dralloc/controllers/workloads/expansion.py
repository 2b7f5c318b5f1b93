"""One entry point over the workload controllers: the pods a set of workloads becomes.

Pure computation, no I/O. `expand_workloads` runs each workload's controller (and the
controllers of what it creates) once, as kube-controller-manager would until nothing changes,
given that every created pod becomes Running and Ready and none finishes.

Input objects that belong to another input workload are that workload's business: a
Deployment's ReplicaSets, a JobSet's Jobs, a LeaderWorkerSet's StatefulSets (rebuilt by the
LeaderWorkerSet, a note says so) are not expanded on their own. Any other workload is expanded
with the owners its controller references name (followed through input pods and workloads),
so its pods group under the outermost one even when that one is not in the input.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import TypeVar

import msgspec

from dralloc.api.core import Pod
from dralloc.api.meta import ObjectMeta
from dralloc.api.workloads import (
    Deployment,
    Job,
    JobSet,
    LeaderWorkerSet,
    ReplicaSet,
    StatefulSet,
    Workload,
)
from dralloc.controllers.workloads.deployment import sync_deployment
from dralloc.controllers.workloads.job import sync_job
from dralloc.controllers.workloads.jobset import sync_jobset
from dralloc.controllers.workloads.leaderworkerset import sync_leader_worker_set
from dralloc.controllers.workloads.model import WorkloadExpansion, WorkloadRef
from dralloc.controllers.workloads.pods import controller_of
from dralloc.controllers.workloads.replicaset import sync_replica_set
from dralloc.controllers.workloads.state import ExpansionState, is_owned_by
from dralloc.controllers.workloads.statefulset import sync_stateful_set

# (owner kind, child kind) pairs where the owner's controller handles the child.
_MANAGED = frozenset(
    {
        ("Deployment", "ReplicaSet"),
        ("JobSet", "Job"),
        ("LeaderWorkerSet", "StatefulSet"),
    }
)
_T = TypeVar("_T", bound=Workload | Pod)
# Owner chains are short; a longer one is a cycle of owner references.
_MAX_DEPTH = 16


def _owner_chain(
    meta: ObjectMeta, state: ExpansionState
) -> tuple[tuple[WorkloadRef, ...], Workload | None]:
    """The owners `meta`'s controller references lead to, nearest first, and the outermost
    of them that is an input workload."""
    chain: list[WorkloadRef] = []
    outermost: Workload | None = None
    seen: set[tuple[str, str]] = set()
    current = meta
    for _ in range(_MAX_DEPTH):
        ref = controller_of(current)
        if ref is None or (ref.kind, ref.name) in seen:
            break
        seen.add((ref.kind, ref.name))
        chain.append(WorkloadRef(ref.kind, meta.namespace, ref.name, ref.uid))
        parent: Workload | Pod | None
        if ref.kind == "Pod":
            parent = state.pod(meta.namespace, ref.name)
        else:
            parent = state.workload(ref.kind, meta.namespace, ref.name)
        if parent is None or not is_owned_by(ref, ref.kind, ref.name, parent.metadata.uid):
            break
        if not isinstance(parent, Pod):
            outermost = parent
        current = parent.metadata
    return tuple(chain), outermost


def _in_namespace(obj: _T) -> _T:
    """`obj`, or a copy in `default` when it names no namespace (as `kubectl apply` puts it)."""
    if obj.metadata.namespace:
        return obj
    return msgspec.structs.replace(
        obj, metadata=msgspec.structs.replace(obj.metadata, namespace="default")
    )


def expand_workloads(
    workloads: Iterable[Workload], rng: random.Random, pods: Iterable[Pod] = ()
) -> WorkloadExpansion:
    """The ReplicaSets, StatefulSets, Jobs and pods the controllers of `workloads` create.

    `pods` are the pods already in the cluster: those a controller owns, or orphans its
    selector matches, count toward its replicas (and are listed in `existing`). Names and UIDs
    come from `rng`: the same input and seed give the same objects.

    >>> from dralloc.api.workloads import (
    ...     LabelSelector, PodTemplateSpec, ReplicaSet, ReplicaSetSpec)
    >>> template = PodTemplateSpec(metadata=ObjectMeta(labels={"app": "web"}))
    >>> rs = ReplicaSet(metadata=ObjectMeta(name="web", namespace="default"),
    ...     spec=ReplicaSetSpec(replicas=2, selector=LabelSelector(match_labels={"app": "web"}),
    ...     template=template))
    >>> [p.pod.metadata.name[:4] for p in expand_workloads([rs], random.Random(0)).pods]
    ['web-', 'web-']
    """
    objects = [_in_namespace(obj) for obj in workloads]
    state = ExpansionState(rng, [_in_namespace(pod) for pod in pods], objects)
    for obj in objects:
        owners, manager = _owner_chain(obj.metadata, state)
        if manager is not None and (manager.kind, obj.kind) in _MANAGED:
            if isinstance(obj, StatefulSet):
                state.note(
                    WorkloadRef.of(obj.kind, obj.metadata),
                    f"rebuilt by {WorkloadRef.of(manager.kind, manager.metadata)}",
                )
            continue
        if isinstance(obj, Deployment):
            sync_deployment(obj, state, owners)
        elif isinstance(obj, ReplicaSet):
            sync_replica_set(obj, state, owners)
        elif isinstance(obj, StatefulSet):
            sync_stateful_set(obj, state, owners)
        elif isinstance(obj, Job):
            sync_job(obj, state, owners)
        elif isinstance(obj, JobSet):
            sync_jobset(obj, state, owners)
        elif isinstance(obj, LeaderWorkerSet):
            sync_leader_worker_set(obj, state, owners)
    return state.result()
