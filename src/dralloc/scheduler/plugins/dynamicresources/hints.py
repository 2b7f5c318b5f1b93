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

from collections.abc import Mapping

from dralloc.api.resource import ResourceClaim
from dralloc.scheduler.cache import pod_claim_keys
from dralloc.scheduler.framework import (
    ClusterEvent,
    ClusterEventWithHint,
    PodInfo,
    QueueingHint,
    QueueingHintFunction,
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


def claim_change_hint(claims: Mapping[str, ResourceClaim]) -> QueueingHintFunction:
    """Upstream's isSchedulableAfterClaimChange over the claims the scheduler knows (`claims`,
    its lister): QUEUE_SKIP while the pod's claims are not all there (a template's claim not
    recorded in the pod yet, or not seen yet: the pod's own update, or that claim's add,
    requeues it); QUEUE when some claim lost its allocation (devices freed), when one of the
    pod's claims was created, or when its status changed; QUEUE_SKIP otherwise (another
    pod's claim, a finalizer added)."""

    def hint(pod: PodInfo, old: object | None, new: object | None) -> QueueingHint:
        modified = new if isinstance(new, ResourceClaim) else old
        if not isinstance(modified, ResourceClaim):
            return QueueingHint.QUEUE_SKIP
        uses = False
        for _, key in pod_claim_keys(pod.pod):
            if key is None or key not in claims:
                return QueueingHint.QUEUE_SKIP
            uses = uses or key == _key(modified)
        had = isinstance(old, ResourceClaim) and old.status.allocation is not None
        has = isinstance(new, ResourceClaim) and new.status.allocation is not None
        if had and not has:
            return QueueingHint.QUEUE
        if not uses:
            return QueueingHint.QUEUE_SKIP
        if not isinstance(old, ResourceClaim) or not isinstance(new, ResourceClaim):
            return QueueingHint.QUEUE
        return QueueingHint.QUEUE_SKIP if old.status == new.status else QueueingHint.QUEUE

    return hint


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


def events(claims: Mapping[str, ResourceClaim]) -> tuple[ClusterEventWithHint, ...]:
    """What DynamicResources registers, its claim hint reading `claims`."""
    return (
        ClusterEventWithHint(
            ClusterEvent(RESOURCE_CLAIM, "Add|Update|Delete"), claim_change_hint(claims)
        ),
        *_OTHER_EVENTS,
    )


_OTHER_EVENTS: tuple[ClusterEventWithHint, ...] = (
    ClusterEventWithHint(ClusterEvent(RESOURCE_SLICE, "Add|Update"), queue_always),
    ClusterEventWithHint(ClusterEvent(DEVICE_CLASS, "Add|Update"), queue_always),
    ClusterEventWithHint(ClusterEvent(POD, "UpdatePodGeneratedResourceClaim"), queue_always),
    ClusterEventWithHint(ClusterEvent(NODE, "Add|UpdateNodeLabel|UpdateNodeTaint"), queue_always),
    ClusterEventWithHint(ClusterEvent(POD, "Delete"), is_schedulable_after_pod_delete),
)
