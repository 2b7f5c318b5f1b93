"""The ResourceClaim controller's first job: a pod's claims from its ResourceClaimTemplates
(spec/dra-v1.md sections 2.7 and 7.8; kube-controller-manager's `resourceclaim` controller).

For every `pod.spec.resourceClaims` entry that names a template, `ResourceClaimController`
finds the claim already made for it (recorded in `pod.status.resourceClaimStatuses`, or owned
by the pod and annotated with the entry's name) or creates one:

* `metadata.generateName` is `<pod>-<pod claim>-`; past 57 characters both parts are cut in
  proportion to their lengths and joined by one `-` (no trailing `-`, as upstream); the API
  server then appends 5 random characters (`generated_name`);
* an owner reference to the pod (`controller: true`, `blockOwnerDeletion: true`), the
  annotation `resource.kubernetes.io/pod-claim-name: <pod claim>`, the template's labels and
  annotations, and a copy of the template's claim spec.

It then records every template entry's claim in `pod.status.resourceClaimStatuses`. Pods that
are terminal or being deleted get nothing. The controller talks only to a `ClaimClient`; it
does not allocate, reserve or delete claims (the scheduler and the rest of the controller do).

Offline pods often have no `metadata.uid`; ownership therefore compares the owner reference's
name as well as its uid (upstream compares the uid only).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import msgspec

from dralloc.api.core import Pod, PodResourceClaimStatus
from dralloc.api.meta import ObjectMeta, OwnerReference
from dralloc.api.resource import ResourceClaim, ResourceClaimTemplate
from dralloc.errors import ConflictError

POD_CLAIM_NAME_ANNOTATION = "resource.kubernetes.io/pod-claim-name"
# The controller keeps the base short enough for a 63-character name with 5 random characters.
MAX_BASE_LENGTH = 57
# The API server's SimpleNameGenerator: at most 58 characters of base, then 5 random ones
# from k8s.io/apimachinery's `util/rand` alphabet (no vowels, no look-alikes).
MAX_GENERATED_BASE_LENGTH = 58
RANDOM_LENGTH = 5
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_TERMINAL_PHASES = ("Succeeded", "Failed")


def generate_name_prefix(pod_name: str, claim_name: str) -> str:
    """The `generateName` of a pod's claim: `<pod>-<claim>-`, or, past 57 characters, both
    parts cut to `len(part) * 57 // len(prefix)` and joined by one `-`.

    >>> generate_name_prefix("web-0", "gpu")
    'web-0-gpu-'
    >>> len(generate_name_prefix("p" * 60, "c" * 20))
    57
    """
    prefix = f"{pod_name}-{claim_name}-"
    if len(prefix) <= MAX_BASE_LENGTH:
        return prefix
    size = len(prefix)
    pod_part = pod_name[: len(pod_name) * MAX_BASE_LENGTH // size]
    claim_part = claim_name[: len(claim_name) * MAX_BASE_LENGTH // size]
    return f"{pod_part}-{claim_part}"


def generated_name(prefix: str, rng: random.Random) -> str:
    """A name as the API server makes one from `generateName` (5 random characters from
    `rng`).

    >>> generated_name("web-0-gpu-", random.Random(1))[:10]
    'web-0-gpu-'
    """
    suffix = "".join(rng.choice(NAME_ALPHABET) for _ in range(RANDOM_LENGTH))
    return prefix[:MAX_GENERATED_BASE_LENGTH] + suffix


class ClaimClient(Protocol):
    """What the controller reads and writes: claims and templates of a namespace."""

    def get_claim(self, namespace: str, name: str) -> ResourceClaim | None: ...

    def claims_in(self, namespace: str) -> Iterable[ResourceClaim]: ...

    def get_template(self, namespace: str, name: str) -> ResourceClaimTemplate | None: ...

    def create_claim(self, claim: ResourceClaim) -> ResourceClaim:
        """Store a new claim and return it as stored. A claim with only `generateName` is
        named as the API server names it. ConflictError when the name is taken."""
        ...


class InMemoryClaimClient:
    """A `ClaimClient` over plain dicts, naming generated claims from a seeded `rng`, so an
    offline run names its claims the same way every time.

    >>> client = InMemoryClaimClient(rng=random.Random(0))
    >>> claim = ResourceClaim(metadata=ObjectMeta(namespace="default", generate_name="p-gpu-"))
    >>> client.create_claim(claim).metadata.name.startswith("p-gpu-")
    True
    """

    def __init__(
        self,
        claims: Iterable[ResourceClaim] = (),
        templates: Iterable[ResourceClaimTemplate] = (),
        rng: random.Random | None = None,
    ) -> None:
        self.claims: dict[tuple[str, str], ResourceClaim] = {
            (c.metadata.namespace, c.metadata.name): c for c in claims
        }
        self.templates: dict[tuple[str, str], ResourceClaimTemplate] = {
            (t.metadata.namespace, t.metadata.name): t for t in templates
        }
        self.rng = rng if rng is not None else random.Random(0)
        self.created: list[ResourceClaim] = []

    def get_claim(self, namespace: str, name: str) -> ResourceClaim | None:
        return self.claims.get((namespace, name))

    def claims_in(self, namespace: str) -> Iterable[ResourceClaim]:
        return [c for (ns, _), c in self.claims.items() if ns == namespace]

    def get_template(self, namespace: str, name: str) -> ResourceClaimTemplate | None:
        return self.templates.get((namespace, name))

    def create_claim(self, claim: ResourceClaim) -> ResourceClaim:
        meta = claim.metadata
        name = meta.name
        if not name:
            name = generated_name(meta.generate_name, self.rng)
            while (meta.namespace, name) in self.claims:
                name = generated_name(meta.generate_name, self.rng)
        elif (meta.namespace, name) in self.claims:
            raise ConflictError(f"resourceclaims {meta.namespace}/{name} already exists")
        stored = msgspec.structs.replace(claim, metadata=msgspec.structs.replace(meta, name=name))
        self.claims[(meta.namespace, name)] = stored
        self.created.append(stored)
        return stored


@dataclass(frozen=True)
class PodClaimsResult:
    """What syncing one pod did: the pod with its `resourceClaimStatuses` recorded, the claims
    created, and problems as (field path, message), such as a template that does not exist."""

    pod: Pod
    created: tuple[ResourceClaim, ...] = ()
    problems: tuple[tuple[str, str], ...] = ()


def is_for_pod(pod: Pod, claim: ResourceClaim) -> bool:
    """Whether the pod controls the claim (upstream's `resourceclaim.IsForPod`)."""
    return any(
        ref.controller
        and ref.kind == "Pod"
        and ref.name == pod.metadata.name
        and ref.uid == pod.metadata.uid
        for ref in claim.metadata.owner_references
    )


def _pod_is_done(pod: Pod) -> bool:
    return pod.metadata.deletion_timestamp is not None or pod.status.phase in _TERMINAL_PHASES


class ResourceClaimController:
    """Creates template claims for pods and records them in the pod's status.

    >>> controller = ResourceClaimController(InMemoryClaimClient())   # doctest: +SKIP
    >>> result = controller.sync_pod(pod)                              # doctest: +SKIP
    """

    def __init__(self, client: ClaimClient) -> None:
        self.client = client

    def sync_pod(self, pod: Pod) -> PodClaimsResult:
        if _pod_is_done(pod):
            return PodClaimsResult(pod)
        recorded = {s.name: s.resource_claim_name for s in pod.status.resource_claim_statuses}
        statuses: dict[str, str | None] = {}
        created: list[ResourceClaim] = []
        problems: list[tuple[str, str]] = []
        for index, entry in enumerate(pod.spec.resource_claims):
            template_name = entry.resource_claim_template_name
            if template_name is None:
                continue  # a claim by name: nothing to create
            if entry.name in recorded:
                name = recorded[entry.name]
                if name is None:
                    statuses[entry.name] = None  # upstream: no claim needed
                    continue
                existing = self.client.get_claim(pod.metadata.namespace, name)
                if existing is not None and is_for_pod(pod, existing):
                    statuses[entry.name] = name
                    continue
            claim = self._find_pod_claim(pod, entry.name)
            if claim is None:
                template = self.client.get_template(pod.metadata.namespace, template_name)
                if template is None:
                    problems.append(
                        (
                            f"spec.resourceClaims[{index}].resourceClaimTemplateName",
                            f"resource claim template {template_name!r} not found "
                            f"in namespace {pod.metadata.namespace}",
                        )
                    )
                    continue
                claim = self.client.create_claim(self._new_claim(pod, entry.name, template))
                created.append(claim)
            statuses[entry.name] = claim.metadata.name
        return PodClaimsResult(self._with_statuses(pod, statuses), tuple(created), tuple(problems))

    def _find_pod_claim(self, pod: Pod, pod_claim: str) -> ResourceClaim | None:
        """A claim made for this entry earlier whose name never reached the pod's status."""
        for claim in self.client.claims_in(pod.metadata.namespace):
            if (
                is_for_pod(pod, claim)
                and claim.metadata.annotations.get(POD_CLAIM_NAME_ANNOTATION) == pod_claim
            ):
                return claim
        return None

    @staticmethod
    def _new_claim(pod: Pod, pod_claim: str, template: ResourceClaimTemplate) -> ResourceClaim:
        annotations = dict(template.spec.metadata.annotations)
        annotations[POD_CLAIM_NAME_ANNOTATION] = pod_claim
        owner = OwnerReference(
            api_version="v1",
            kind="Pod",
            name=pod.metadata.name,
            uid=pod.metadata.uid,
            controller=True,
            block_owner_deletion=True,
        )
        metadata = ObjectMeta(
            generate_name=generate_name_prefix(pod.metadata.name, pod_claim),
            namespace=pod.metadata.namespace,
            labels=dict(template.spec.metadata.labels),
            annotations=annotations,
            owner_references=[owner],
        )
        return ResourceClaim(metadata=metadata, spec=copy.deepcopy(template.spec.spec))

    @staticmethod
    def _with_statuses(pod: Pod, statuses: dict[str, str | None]) -> Pod:
        """The pod with `statuses` merged into `resourceClaimStatuses` by name (as the
        controller's server-side apply merges them)."""
        if not statuses:
            return pod
        merged: list[PodResourceClaimStatus] = []
        for entry in pod.status.resource_claim_statuses:
            if entry.name in statuses:
                entry = PodResourceClaimStatus(
                    name=entry.name, resource_claim_name=statuses[entry.name]
                )
            merged.append(entry)
        present = {entry.name for entry in merged}
        merged += [
            PodResourceClaimStatus(name=e.name, resource_claim_name=statuses[e.name])
            for e in pod.spec.resource_claims
            if e.name in statuses and e.name not in present
        ]
        status = msgspec.structs.replace(pod.status, resource_claim_statuses=merged)
        return msgspec.structs.replace(pod, status=status)
