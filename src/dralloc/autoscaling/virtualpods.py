"""Pods that exist only in the autoscaler's planning: a ProvisioningRequest's pods (booked or
checked, spec/autoscaling.md §7) and a CapacityBuffer's chunks (§8).

Owns turning a PodTemplate (`core/v1` PodTemplateSpec) into a pod with a stable name and, for
each of its `resourceClaims` made from a ResourceClaimTemplate, an in-memory ResourceClaim, so a
buffer chunk of "one 3g.40gb MIG instance" reserves exactly that in the planning snapshot.
Claim names are `<pod>-<pod claim name>` (the ResourceClaim controller would draw a random
suffix; here runs must replay identically) and the pod's `status.resourceClaimStatuses` point
at them, as the controller would have written. A `resourceClaimName` entry keeps naming the
shared claim it names. No I/O; never mutates a template.

`place_virtual` puts such a pod in a `PlanningSnapshot` the caller owns: its claims enter the
snapshot's cache first, the pod is placed with the real framework, and on failure the claims
leave again, so a failed what-if leaves nothing behind. A pod whose shared claim already holds
256 reservations (`status.reservedFor`'s limit, which the API server enforces and
kube-scheduler does not check) fits nowhere: that chunk or booked pod fails (§12).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

import msgspec

from dralloc.api.core import Pod, PodResourceClaimStatus, PodStatus
from dralloc.api.io import clone
from dralloc.api.meta import ObjectMeta
from dralloc.api.resource import ResourceClaim, ResourceClaimTemplate
from dralloc.api.validation.base import RESERVED_FOR_MAX
from dralloc.api.workloads import PodTemplateSpec
from dralloc.autoscaling.planning import PlanningSnapshot
from dralloc.scheduler.cache import pod_claim_keys


@dataclass(frozen=True)
class VirtualPod:
    """A planned pod and the claims made for it (none for `resourceClaimName` entries)."""

    pod: Pod
    claims: tuple[ResourceClaim, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.pod.metadata.namespace or 'default'}/{self.pod.metadata.name}"


def missing_claim_templates(
    template: PodTemplateSpec, namespace: str, claim_templates: Mapping[str, ResourceClaimTemplate]
) -> list[str]:
    """The ResourceClaimTemplates `template`'s pod claims name that `claim_templates`
    (keyed `namespace/name`) lacks."""
    return [
        entry.resource_claim_template_name
        for entry in template.spec.resource_claims
        if entry.resource_claim_template_name
        and f"{namespace}/{entry.resource_claim_template_name}" not in claim_templates
    ]


def materialize(
    template: PodTemplateSpec,
    namespace: str,
    name: str,
    claim_templates: Mapping[str, ResourceClaimTemplate],
    annotations: Mapping[str, str] | None = None,
) -> VirtualPod:
    """The pod `namespace/name` made from `template`, with its template claims (see the
    module docstring). Pod claims whose template is missing get no claim: the pod then
    fits nowhere, as a real pod waits for its claim."""
    claims: list[ResourceClaim] = []
    statuses: list[PodResourceClaimStatus] = []
    for entry in template.spec.resource_claims:
        source = entry.resource_claim_template_name
        if not source:
            continue
        claim_template = claim_templates.get(f"{namespace}/{source}")
        if claim_template is None:
            continue
        claim_name = f"{name}-{entry.name}"
        claims.append(
            ResourceClaim(
                metadata=ObjectMeta(
                    name=claim_name,
                    namespace=namespace,
                    labels=dict(claim_template.spec.metadata.labels),
                    annotations=dict(claim_template.spec.metadata.annotations),
                ),
                spec=clone(claim_template.spec.spec),
            )
        )
        statuses.append(PodResourceClaimStatus(name=entry.name, resource_claim_name=claim_name))
    metadata = ObjectMeta(
        name=name,
        namespace=namespace,
        labels=dict(template.metadata.labels),
        annotations={**template.metadata.annotations, **(annotations or {})},
    )
    pod = Pod(
        metadata=metadata,
        spec=msgspec.structs.replace(template.spec, node_name=""),
        status=PodStatus(resource_claim_statuses=statuses),
    )
    return VirtualPod(pod, tuple(claims))


def place_virtual(
    snapshot: PlanningSnapshot, virtual: VirtualPod, among: Collection[str] | None = None
) -> str | None:
    """Place `virtual` in `snapshot` (see the module docstring); the node, or None."""
    cache = snapshot.built.cache
    for _, key in pod_claim_keys(virtual.pod):
        claim = cache.claims.get(key) if key is not None else None
        if claim is not None and len(claim.status.reserved_for) >= RESERVED_FOR_MAX:
            return None  # the API server would refuse a 257th reservation (§12)
    added = [
        c for c in virtual.claims if f"{c.metadata.namespace}/{c.metadata.name}" not in cache.claims
    ]
    for claim in added:
        cache.set_claim(claim)
    node = snapshot.place(virtual.pod, among=among)
    if node is None:
        for claim in added:
            cache.remove_claim(f"{claim.metadata.namespace}/{claim.metadata.name}")
    return node
