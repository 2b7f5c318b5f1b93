"""DynamicResources' cluster events and queueing hints (spec/scheduler.md section 1.8; upstream's
`EventsToRegister` of the DRA plugin): what may make a pod it rejected schedulable.

- one of the pod's own claims added or changed (created by the ResourceClaim controller,
  allocated or released elsewhere); another pod's claim losing its allocation frees devices;
- a ResourceSlice or DeviceClass added or changed (new devices, a different selector);
- the pod's generated claim recorded in its status;
- a node added or relabelled or retainted (devices of a node-local pool, node selectors);
- a pod that ran somewhere leaving: its claims' reservations go, and a claim nobody reserves
  any more is deallocated (dralloc's cache does this without a separate claim event).

Pure functions of their arguments.
"""

from __future__ import annotations

from dralloc.api.resource import ResourceClaim
from dralloc.scheduler.cache import pod_claim_keys
from dralloc.scheduler.framework import (
    ClusterEvent,
    ClusterEventWithHint,
    PodInfo,
    QueueingHint,
    queue_always,
)
from dralloc.scheduler.framework.events import (
    DEVICE_CLASS,
    NODE,
    POD,
    RESOURCE_CLAIM,
    RESOURCE_SLICE,
)


def _key(claim: ResourceClaim) -> str:
    return f"{claim.metadata.namespace}/{claim.metadata.name}"


def is_schedulable_after_claim_change(
    pod: PodInfo, old: object | None, new: object | None
) -> QueueingHint:
    """QUEUE for a change to one of the pod's claims (or a claim named as a template's claim
    would be), and for another claim whose allocation went away (deleted or deallocated:
    its devices are free); QUEUE_SKIP otherwise."""
    claim = new if isinstance(new, ResourceClaim) else old
    if not isinstance(claim, ResourceClaim):
        return QueueingHint.QUEUE_SKIP
    keys = {key for _, key in pod_claim_keys(pod.pod) if key is not None}
    if _key(claim) in keys:
        return QueueingHint.QUEUE
    if any(key is None for _, key in pod_claim_keys(pod.pod)) and (
        claim.metadata.namespace == pod.pod.metadata.namespace
    ):
        return QueueingHint.QUEUE  # maybe the template's claim, not recorded in the pod yet
    had = isinstance(old, ResourceClaim) and old.status.allocation is not None
    has = isinstance(new, ResourceClaim) and new.status.allocation is not None
    return QueueingHint.QUEUE if had and not has else QueueingHint.QUEUE_SKIP


def is_schedulable_after_pod_delete(
    pod: PodInfo, old: object | None, new: object | None
) -> QueueingHint:
    """QUEUE when the pod that left held claims or an extended-resource claim."""
    if not isinstance(old, PodInfo) or old.key == pod.key:
        return QueueingHint.QUEUE_SKIP
    left = old.pod
    if left.spec.resource_claims or left.status.extended_resource_claim_status is not None:
        return QueueingHint.QUEUE
    return QueueingHint.QUEUE_SKIP


EVENTS: tuple[ClusterEventWithHint, ...] = (
    ClusterEventWithHint(
        ClusterEvent(RESOURCE_CLAIM, "Add|Update|Delete"), is_schedulable_after_claim_change
    ),
    ClusterEventWithHint(ClusterEvent(RESOURCE_SLICE, "Add|Update"), queue_always),
    ClusterEventWithHint(ClusterEvent(DEVICE_CLASS, "Add|Update"), queue_always),
    ClusterEventWithHint(ClusterEvent(POD, "UpdatePodGeneratedResourceClaim"), queue_always),
    ClusterEventWithHint(ClusterEvent(NODE, "Add|UpdateNodeLabel|UpdateNodeTaint"), queue_always),
    ClusterEventWithHint(ClusterEvent(POD, "Delete"), is_schedulable_after_pod_delete),
)
