"""Pods from templates, as kube-controller-manager's `controller.GetPodFromTemplate` makes them,
and the small facts about pods every workload controller reads.

Pure computation, no I/O.
"""

from __future__ import annotations

import copy

from dralloc.api.core import Pod
from dralloc.api.io import clone
from dralloc.api.meta import ObjectMeta, OwnerReference
from dralloc.api.workloads import PodTemplateSpec

_TERMINAL_PHASES = ("Succeeded", "Failed")
# The longest name (and generateName prefix) a pod may have: a DNS subdomain.
_MAX_POD_NAME = 253


def controller_ref(api_version: str, kind: str, meta: ObjectMeta) -> OwnerReference:
    """The owner reference a controller puts on what it creates (`metav1.NewControllerRef`)."""
    return OwnerReference(
        api_version=api_version,
        kind=kind,
        name=meta.name,
        uid=meta.uid,
        controller=True,
        block_owner_deletion=True,
    )


def controller_of(meta: ObjectMeta) -> OwnerReference | None:
    """The owner reference marked `controller: true` (`metav1.GetControllerOf`)."""
    for ref in meta.owner_references:
        if ref.controller:
            return ref
    return None


def pods_prefix(controller_name: str) -> str:
    """The `generateName` of a controller's pods: `<name>-` (upstream's `getPodsPrefix`, which
    falls back to the bare name when the prefix would not be a valid name)."""
    prefix = f"{controller_name}-"
    return prefix if len(prefix) <= _MAX_POD_NAME else controller_name


def pod_from_template(
    template: PodTemplateSpec,
    namespace: str,
    controller: OwnerReference,
    generate_name: str = "",
) -> Pod:
    """A new pod of a controller: the template's labels, annotations, finalizers and a copy of
    its spec, `generateName` `<controller>-` (or `generate_name`), the controller reference.
    The template's own name, namespace and owner references are not copied.

    >>> ref = OwnerReference(kind="ReplicaSet", name="web-5d4f8", controller=True)
    >>> pod_from_template(PodTemplateSpec(), "ml", ref).metadata.generate_name
    'web-5d4f8-'
    """
    meta = template.metadata
    metadata = ObjectMeta(
        generate_name=generate_name or pods_prefix(controller.name),
        namespace=namespace,
        labels=dict(meta.labels),
        annotations=dict(meta.annotations),
        finalizers=list(meta.finalizers),
        owner_references=[copy.copy(controller)],
    )
    return Pod(metadata=metadata, spec=clone(template.spec))


def is_active(pod: Pod) -> bool:
    """Neither finished nor being deleted (upstream's `controller.IsPodActive`)."""
    return pod.status.phase not in _TERMINAL_PHASES and pod.metadata.deletion_timestamp is None


def is_terminating(pod: Pod) -> bool:
    """Being deleted but not finished (counted apart by the Job controller)."""
    return pod.status.phase not in _TERMINAL_PHASES and pod.metadata.deletion_timestamp is not None


def deletion_order(pod: Pod) -> tuple[int, int, str]:
    """The order in which a controller picks surplus pods to delete, first to go first: not
    yet scheduled before scheduled, Pending before Unknown before Running, newer before older
    (a simplification of upstream's `controller.ActivePods` ranking, which also weighs
    readiness and restart counts that offline pods do not carry)."""
    phase_rank = {"Pending": 0, "Unknown": 1, "Running": 2}.get(pod.status.phase, 0)
    created = pod.metadata.creation_timestamp or ""
    # Newer first: invert the timestamp's order by sorting on its negated characters.
    newer_first = "".join(chr(0x10FFFF - ord(c)) for c in created)
    return (1 if pod.spec.node_name else 0, phase_rank, newer_first)
