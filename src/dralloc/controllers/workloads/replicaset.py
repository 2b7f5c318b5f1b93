"""The ReplicaSet controller (kube-controller-manager's `replicaset`): keeps `spec.replicas`
active pods that match the ReplicaSet's selector.

Pure computation over an `ExpansionState`, no I/O. Pods are made with
`controller.GetPodFromTemplate`: the template's labels, annotations and finalizers, a copy of
its spec, `generateName: <rs>-` (the API server adds 5 random characters) and a controller
reference to the ReplicaSet. Input pods the ReplicaSet controls, or orphans its selector
matches (adopted), count toward `replicas` when active; surplus active pods are deleted.

Not modelled: the slow-start batches and the 500-pods-per-sync burst limit (they change
when pods appear, not which), `minReadySeconds` (availability, not existence).
"""

from __future__ import annotations

import msgspec

from dralloc.api.workloads import APPS_API_VERSION, ReplicaSet
from dralloc.controllers.workloads.model import WorkloadPod, WorkloadRef
from dralloc.controllers.workloads.pods import (
    controller_ref,
    deletion_order,
    is_active,
    pod_from_template,
)
from dralloc.controllers.workloads.selectors import selector_matches
from dralloc.controllers.workloads.state import ExpansionState

KIND = "ReplicaSet"


def sync_replica_set(
    rs: ReplicaSet,
    state: ExpansionState,
    owners: tuple[WorkloadRef, ...] = (),
    *,
    match_uid: str | None = None,
) -> list[WorkloadPod]:
    """Create the pods `rs` lacks and record the ones it has or has too many of.

    `owners` are the ReplicaSet's own owners (its Deployment), nearest first. `match_uid` is
    the UID input pods must name to count as the ReplicaSet's (`None`: its own UID; `""`: any,
    for a ReplicaSet this expansion made). Returns the created pods.
    """
    if match_uid is None:
        match_uid = rs.metadata.uid
    meta = msgspec.structs.replace(rs.metadata, uid=rs.metadata.uid or state.new_uid())
    ref = WorkloadRef.of(KIND, meta)
    chain = (ref, *owners)
    if meta.deletion_timestamp is not None:
        return []
    template = rs.spec.template
    if not selector_matches(rs.spec.selector, template.metadata.labels):
        state.problem(ref, "spec.selector", "does not match the template's labels")
        return []
    controller = controller_ref(APPS_API_VERSION, KIND, meta)
    pods = state.claim_pods(chain, controller, match_uid, rs.spec.selector, meta.namespace)
    active = [pod for pod in pods if is_active(pod)]
    missing = rs.spec.replicas - len(active)
    if missing < 0:
        for pod in sorted(active, key=deletion_order)[:-missing]:
            state.delete_pod(pod, chain)
    created: list[WorkloadPod] = []
    for _ in range(max(missing, 0)):
        pod = pod_from_template(template, meta.namespace, controller)
        created.append(state.create_pod(pod, chain))
    return created
