"""The StatefulSet controller (kube-controller-manager's `statefulset`): one pod per ordinal,
named `<sts>-<ordinal>` for ordinals `spec.ordinals.start` to `start + replicas - 1`.

Pure computation over an `ExpansionState`, no I/O. Each pod (`newVersionedStatefulSetPod`) is
made from the template like any controller's (`generateName: <sts>-` is kept beside the fixed
name, as upstream leaves it), then given its identity:

* `statefulset.kubernetes.io/pod-name: <pod>`, `apps.kubernetes.io/pod-index: <ordinal>` and
  `controller-revision-hash: <sts>-<hash>` labels (the revision's hash departs from upstream's
  as `hashing` explains);
* `spec.hostname` = the pod's name and `spec.subdomain` = `spec.serviceName` (reported on the
  `WorkloadPod`, since `PodSpec` does not model them).

Input pods the StatefulSet controls (or orphans its selector matches) whose names carry one of
its ordinals are its pods: an active one in range is kept, a finished one in range is deleted
and made again, one past the range is deleted.

`podManagementPolicy: OrderedReady` (the default) creates ordinal `n` only once ordinal `n-1`
is Running and Ready: every pod is listed, and each names its predecessor in `after`.
`Parallel` creates all at once.

Not modelled: `volumeClaimTemplates` (dralloc makes no PersistentVolumeClaims, so pods get no
volumes for them), rolling updates between revisions, `minReadySeconds`.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from dralloc.api.workloads import APPS_API_VERSION, StatefulSet
from dralloc.controllers.workloads.hashing import stateful_set_revision_name
from dralloc.controllers.workloads.model import WorkloadPod, WorkloadRef
from dralloc.controllers.workloads.pods import controller_ref, is_active, pod_from_template
from dralloc.controllers.workloads.selectors import selector_matches
from dralloc.controllers.workloads.state import ExpansionState

KIND = "StatefulSet"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
REVISION_LABEL = "controller-revision-hash"
ORDERED_READY = "OrderedReady"

# An admission webhook: sees a pod (with its hostname and subdomain) before it is stored.
Admission = Callable[[WorkloadPod], WorkloadPod]


def ordinal_of(set_name: str, pod_name: str) -> int | None:
    """The ordinal of a pod of `set_name` (`<set>-<digits>`), or None when it is not one.

    >>> ordinal_of("web", "web-12"), ordinal_of("web", "web-x"), ordinal_of("we", "web-1")
    (12, None, None)
    """
    parent, _, ordinal = pod_name.rpartition("-")
    if parent != set_name or not ordinal.isdigit():
        return None
    return int(ordinal)


def pod_name(set_name: str, ordinal: int) -> str:
    """`<sts>-<ordinal>` (upstream's `getPodName`).

    >>> pod_name("web", 2)
    'web-2'
    """
    return f"{set_name}-{ordinal}"


def identity_labels(set_name: str, ordinal: int, revision: str) -> dict[str, str]:
    """The labels a StatefulSet pod gets beside its template's (`initIdentity` and
    `newVersionedStatefulSetPod`): its name, its ordinal and its revision's name.

    >>> identity_labels("web", 0, "web-5d4f8")["apps.kubernetes.io/pod-index"]
    '0'
    """
    return {
        POD_NAME_LABEL: pod_name(set_name, ordinal),
        POD_INDEX_LABEL: str(ordinal),
        REVISION_LABEL: revision,
    }


def sync_stateful_set(
    sts: StatefulSet,
    state: ExpansionState,
    owners: tuple[WorkloadRef, ...] = (),
    *,
    match_uid: str | None = None,
    admission: Admission | None = None,
    after: tuple[str, ...] = (),
) -> list[WorkloadPod]:
    """Create the ordinals `sts` lacks. `owners` are its own owners, nearest first;
    `match_uid` as for `sync_replica_set`; `admission` runs on every new pod (a project's pod
    webhook); `after` is added to every new pod's `after`. Returns the created pods."""
    if match_uid is None:
        match_uid = sts.metadata.uid
    meta = msgspec.structs.replace(sts.metadata, uid=sts.metadata.uid or state.new_uid())
    ref = WorkloadRef.of(KIND, meta)
    chain = (ref, *owners)
    spec = sts.spec
    if meta.deletion_timestamp is not None:
        return []
    if not selector_matches(spec.selector, spec.template.metadata.labels):
        state.problem(ref, "spec.selector", "does not match the template's labels")
        return []
    start = spec.ordinals.start if spec.ordinals is not None else 0
    end = start + spec.replicas
    # Upstream hashes the collision count even when the status has none yet (as 0).
    revision = stateful_set_revision_name(meta.name, spec.template, sts.status.collision_count or 0)
    controller = controller_ref(APPS_API_VERSION, KIND, meta)
    claimed = state.claim_pods(
        chain,
        controller,
        match_uid,
        spec.selector,
        meta.namespace,
        is_member=lambda pod: ordinal_of(meta.name, pod.metadata.name) is not None,
    )
    kept: set[int] = set()
    for pod in claimed:
        ordinal = ordinal_of(meta.name, pod.metadata.name)
        assert ordinal is not None  # is_member admitted only members
        if start <= ordinal < end and is_active(pod):
            kept.add(ordinal)
        elif pod.metadata.deletion_timestamp is None:
            # Past the last ordinal (condemned), or finished in range (made again).
            state.delete_pod(pod, chain)
    claimed_names = {pod.metadata.name for pod in claimed}
    ordered = spec.pod_management_policy == ORDERED_READY
    created: list[WorkloadPod] = []
    previous = ""
    for ordinal in range(start, end):
        name = pod_name(meta.name, ordinal)
        waits = (*after, previous) if ordered and previous else after
        previous = name
        if ordinal in kept:
            continue
        if state.is_name_taken(meta.namespace, name) and name not in claimed_names:
            state.problem(
                ref, "metadata.name", f"pod {meta.namespace}/{name} exists and is not its own"
            )
            continue
        pod = pod_from_template(spec.template, meta.namespace, controller)
        pod.metadata.name = name
        pod.metadata.labels.update(identity_labels(meta.name, ordinal, revision))
        draft = WorkloadPod(pod, chain, hostname=name, subdomain=spec.service_name, after=waits)
        if admission is not None:
            draft = admission(draft)
        created.append(
            state.create_pod(
                draft.pod,
                chain,
                hostname=draft.hostname,
                subdomain=draft.subdomain,
                after=draft.after,
            )
        )
    return created
