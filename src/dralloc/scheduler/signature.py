"""Which pending pods the in-tree plugins treat alike: the pod signature that lets the framework
remember node verdicts across cycles (`framework/verdicts.py`).

Two pods with equal signatures must get the same answer from every Filter and every node-local
Score plugin on every node. The in-tree plugins read a pod's spec (containers' and init
containers' requests and limits, since a limit without a request is a request; init
containers' `restartPolicy`, which makes one a sidecar whose requests add up; `overhead`;
pod-level `resources`; node name, selector and affinity, tolerations, its claims' entries), its
namespace (where its claims live) and its claims (spec, and status: an allocation pins a claim
to a node, reservations count against a limit). The whole spec is encoded, so every one of
those fields, and any added later, tells pods apart. No node-local in-tree plugin reads a pod's
name, labels or priority at Filter or Score; PodTopologySpread and InterPodAffinity read labels
but are not node-local, and the framework uses remembered verdicts only in cycles where both
skipped at PreFilter. A claim not created yet (the ResourceClaim controller has not run) is a
distinct state.

Extended resources backed by DRA (KEP-5004): whether a DeviceClass serves `nvidia.com/gpu` and
how many devices each container asks for are read from the spec, so a pod asking for one
differs from a pod that does not. What the spec does not say is whether a claim written for
this very pod by an earlier attempt still exists (DynamicResources then rejects every node);
for a pod asking for an extended resource DRA may serve, that claim is looked up (one pass
over the cache's claims) and, when found, is part of the signature.

What else those plugins read (device classes, and so which extended resources DRA serves;
slices, taint rules) is fixed for a cache's life; what changes (pods on nodes, devices handed
out, an extended-resource claim written) moves node generations, which the verdicts are
checked against. Pods from one ResourceClaimTemplate with the same requests, as a Job's or a
benchmark's are, share one signature; so do pods of one Deployment asking `nvidia.com/gpu: 1`.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from dralloc.scheduler.cache import SchedulerCache, pod_claim_keys
from dralloc.scheduler.framework import PodInfo
from dralloc.scheduler.plugins.dynamicresources import (
    find_extended_resource_claim,
    is_dra_extended_resource_name,
)

NOT_CREATED = b"-"
LEFTOVER_EXTENDED_CLAIM = b"extended-resource-claim"


def pod_signature(cache: SchedulerCache) -> Callable[[PodInfo], bytes]:
    """A signature function over `cache`'s claims (read when the pod is scheduled)."""
    encoder = msgspec.json.Encoder(enc_hook=str)
    claims = cache.claims

    def signature(info: PodInfo) -> bytes:
        pod = info.pod
        parts = [(pod.metadata.namespace or "default").encode(), encoder.encode(pod.spec)]
        for _, key in pod_claim_keys(pod):
            claim = claims.get(key) if key is not None else None
            if claim is None:
                parts.append(NOT_CREATED)
            else:
                parts.append(encoder.encode(claim.spec))
                parts.append(encoder.encode(claim.status))
        if any(
            amount and is_dra_extended_resource_name(name)
            for name, amount in info.requests.scalars.items()
        ):
            leftover = find_extended_resource_claim(pod, claims.values())
            if leftover is not None:
                parts.append(LEFTOVER_EXTENDED_CLAIM)
                parts.append(encoder.encode(leftover.spec))
                parts.append(encoder.encode(leftover.status))
        return b"\0".join(parts)

    return signature
