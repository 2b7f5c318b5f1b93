"""Why upstream Karpenter would not have provisioned for a pod (spec/autoscaling.md §5.3).

Pure computation over a pod and its claims. Karpenter v1.14 skips every pod with claims unless
`IGNORE_DRA_REQUESTS=false` (its scheduler's `add` returns a DRA error then), and even then
refuses `firstAvailable` requests and ignores partitionable devices, consumable capacity and
adminAccess (`designs/dra-scheduling.md`). dralloc's karpenter mode provisions for them with
the full allocator and counts each under the first reason it meets.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from dralloc.api.core import Pod
from dralloc.api.resource import ResourceClaim
from dralloc.scheduler.cache import pod_claim_keys


class UpstreamGap(StrEnum):
    """Why Karpenter v1.14 would not have provisioned for a pod (§5.3)."""

    FIRST_AVAILABLE = "firstAvailable request"
    ADMIN_ACCESS = "adminAccess request"
    CONSUMABLE_CAPACITY = "consumable capacity request"
    PARTITIONABLE_DEVICES = "partitionable devices"
    DRA_REQUESTS_IGNORED = "resource claims ignored (IGNORE_DRA_REQUESTS)"


def upstream_gap(pod: Pod, claims: Mapping[str, ResourceClaim], partitionable: bool) -> UpstreamGap:
    """The first reason upstream would skip `pod` (claims by `namespace/name`), on a node
    whose shape publishes partitionable devices when `partitionable`."""
    requests = [
        r
        for _, key in pod_claim_keys(pod)
        if key is not None and key in claims
        for r in claims[key].spec.devices.requests
    ]
    if any(r.first_available for r in requests):
        return UpstreamGap.FIRST_AVAILABLE
    if any(r.exactly is not None and r.exactly.admin_access for r in requests):
        return UpstreamGap.ADMIN_ACCESS
    if any(r.exactly is not None and r.exactly.capacity is not None for r in requests):
        return UpstreamGap.CONSUMABLE_CAPACITY
    if partitionable:
        return UpstreamGap.PARTITIONABLE_DEVICES
    return UpstreamGap.DRA_REQUESTS_IGNORED
