"""Which pending pods the in-tree plugins treat alike: the pod signature that lets the framework
remember node verdicts across cycles (`framework/verdicts.py`).

Two pods with equal signatures must get the same answer from every Filter and every node-local
Score plugin on every node. The in-tree plugins read a pod's spec (containers' and init
containers' requests and limits, since a limit without a request is a request; init
containers' `restartPolicy`, which makes one a sidecar whose requests add up; `overhead`;
pod-level `resources`; node name, selector and affinity, tolerations, its claims' entries), its
namespace (where its claims live) and its claims (spec, and status: an allocation pins a claim
to a node, reservations count against a limit). The whole spec is encoded, so every one of
those fields, and any added later, tells pods apart. No in-tree plugin reads a pod's name,
labels or priority at Filter or Score. A claim not created yet (the ResourceClaim controller has
not run) is a distinct state.

What else those plugins read (device classes, slices, taint rules) is fixed for a cache's
life; what changes (pods on nodes, devices handed out) moves node generations, which the
verdicts are checked against. Pods from one ResourceClaimTemplate with the same requests, as a
Job's or a benchmark's are, share one signature.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from dralloc.scheduler.cache import SchedulerCache, pod_claim_keys
from dralloc.scheduler.framework import PodInfo

NOT_CREATED = b"-"


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
        return b"\0".join(parts)

    return signature
