"""Trace pods as the autoscaler sees them (`replay.autoscaled`): a Job's pods (`job_owned`,
as batch trace pods are), carrying the file's `tracePods.annotations` (`annotated`). Copies;
the replay's own pods are never changed.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from dralloc.api.core import Pod
from dralloc.api.meta import OwnerReference

__all__ = ["annotated", "job_owned"]


def job_owned(pod: Pod) -> Pod:
    """`pod` as a batch Job's pod: with the Job controller's reference (a Job named after
    the pod, as `metav1.NewControllerRef` writes it), unless it has a controller already.

    >>> from dralloc.api.meta import ObjectMeta
    >>> ref = job_owned(Pod(metadata=ObjectMeta(name="p-0"))).metadata.owner_references[0]
    >>> (ref.api_version, ref.kind, ref.name, ref.controller)
    ('batch/v1', 'Job', 'p-0', True)
    """
    meta = pod.metadata
    if any(ref.controller for ref in meta.owner_references):
        return pod
    ref = OwnerReference(
        api_version="batch/v1",
        kind="Job",
        name=meta.name,
        uid=f"job-{meta.uid or meta.name}",
        controller=True,
        block_owner_deletion=True,
    )
    owners = [*meta.owner_references, ref]
    return msgspec.structs.replace(
        pod, metadata=msgspec.structs.replace(meta, owner_references=owners)
    )


def annotated(pod: Pod, annotations: Mapping[str, str]) -> Pod:
    """`pod` with `annotations` added beneath its own (a copy; `pod` itself when none)."""
    if not annotations:
        return pod
    meta = pod.metadata
    merged = {**annotations, **meta.annotations}
    return msgspec.structs.replace(pod, metadata=msgspec.structs.replace(meta, annotations=merged))
