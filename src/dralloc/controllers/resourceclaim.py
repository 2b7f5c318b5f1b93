"""The ResourceClaim controller's first job: a pod's claims from its ResourceClaimTemplates
(spec/dra-v1.md sections 2.7 and 7.8; kube-controller-manager's `resourceclaim` controller).

For every `pod.spec.resourceClaims` entry that names a template, `ResourceClaimController`
finds the claim already made for it (recorded in `pod.status.resourceClaimStatuses`, or owned
by the pod and annotated with the entry's name) or creates one:

* `metadata.generateName` is `<pod>-<pod claim>-`; past 57 characters both parts are cut in
  proportion to their lengths and joined by one `-` (no trailing `-`, as upstream); the API
  server then appends 5 random characters (`generated_name`);
* an owner reference to the pod (`controller: true` only, as kube-controller-manager 1.36
  writes it), the annotation `resource.kubernetes.io/pod-claim-name: <pod claim>`, the
  template's labels and annotations, and a copy of the template's claim spec.

It then records every template entry's claim in `pod.status.resourceClaimStatuses`. Pods that
are terminal or being deleted get nothing. The controller talks only to a `ClaimClient`; it
does not allocate, reserve or delete claims (the scheduler and the rest of the controller do).

Offline pods often have no `metadata.uid`; ownership therefore compares the owner reference's
name as well as its uid (upstream compares the uid only).

Finding a pod's claims is a lookup, as in upstream (whose claim informer keeps an index of
claims by owning pod): `ClaimClient.claims_for_pod` answers from an index, so syncing N pods
costs O(N) however many claims a namespace holds.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Protocol

import msgspec

from dralloc.api.core import Pod, PodResourceClaimStatus
from dralloc.api.io import clone
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
    >>> len(generate_name_prefix("p" * 60, "c" * 20)) <= 57
    True
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

    def claims_for_pod(self, namespace: str, pod_name: str) -> Iterable[ResourceClaim]:
        """The claims of `namespace` with a controller owner reference to a Pod named
        `pod_name` (any uid: the caller checks it), in the order `claims_in` lists them.
        Called once per pod sync; read-only; must not scan the namespace (an index lookup,
        as upstream's claim informer index by owning pod)."""
        ...

    def get_template(self, namespace: str, name: str) -> ResourceClaimTemplate | None: ...

    def create_claim(self, claim: ResourceClaim) -> ResourceClaim:
        """Store a new claim and return it as stored. A claim with only `generateName` is
        named as the API server names it. ConflictError when the name is taken."""
        ...


ClaimKey = tuple[str, str]  # (namespace, name)


def _owning_pods(claim: ResourceClaim) -> set[str]:
    """Names of the pods `claim` has a controller owner reference to."""
    return {
        ref.name for ref in claim.metadata.owner_references if ref.controller and ref.kind == "Pod"
    }


class ClaimStore(MutableMapping[ClaimKey, ResourceClaim]):
    """Claims by (namespace, name), with an index of claims by owning pod.

    A dict to its users (`store[key] = claim`, `store.pop(key)`, iteration in insertion
    order); every write keeps the index in step, so code that edits the mapping directly
    (tests, benchmarks) cannot make it stale. `owned_by` reads the index: the claims of a
    namespace controlled by a pod of that name, in the mapping's order.

    >>> store = ClaimStore()
    >>> store[("ml", "a")] = ResourceClaim(metadata=ObjectMeta(name="a", namespace="ml"))
    >>> list(store), store.owned_by("ml", "train-0")
    ([('ml', 'a')], [])
    """

    def __init__(self, claims: Iterable[tuple[ClaimKey, ResourceClaim]] = ()) -> None:
        self._claims: dict[ClaimKey, ResourceClaim] = {}
        # Insertion sequence per key (kept when a value is replaced, as a dict keeps the
        # position), so `owned_by` lists claims in the mapping's iteration order.
        self._order: dict[ClaimKey, int] = {}
        self._owned: dict[tuple[str, str], set[ClaimKey]] = {}
        self._sequence = itertools.count()
        for key, claim in claims:
            self[key] = claim

    def __getitem__(self, key: ClaimKey) -> ResourceClaim:
        return self._claims[key]

    def __setitem__(self, key: ClaimKey, claim: ResourceClaim) -> None:
        if key in self._claims:
            self._unindex(key, self._claims[key])
        else:
            self._order[key] = next(self._sequence)
        self._claims[key] = claim
        for pod in _owning_pods(claim):
            self._owned.setdefault((key[0], pod), set()).add(key)

    def __delitem__(self, key: ClaimKey) -> None:
        claim = self._claims.pop(key)
        del self._order[key]
        self._unindex(key, claim)

    def __iter__(self) -> Iterator[ClaimKey]:
        return iter(self._claims)

    def __len__(self) -> int:
        return len(self._claims)

    def _unindex(self, key: ClaimKey, claim: ResourceClaim) -> None:
        for pod in _owning_pods(claim):
            keys = self._owned.get((key[0], pod))
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._owned[(key[0], pod)]

    def owned_by(self, namespace: str, pod_name: str) -> list[ResourceClaim]:
        keys = self._owned.get((namespace, pod_name), ())
        return [self._claims[key] for key in sorted(keys, key=self._order.__getitem__)]


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
        self.claims = ClaimStore(((c.metadata.namespace, c.metadata.name), c) for c in claims)
        self.templates: dict[tuple[str, str], ResourceClaimTemplate] = {
            (t.metadata.namespace, t.metadata.name): t for t in templates
        }
        self.rng = rng if rng is not None else random.Random(0)
        self.created: list[ResourceClaim] = []

    def get_claim(self, namespace: str, name: str) -> ResourceClaim | None:
        return self.claims.get((namespace, name))

    def claims_in(self, namespace: str) -> Iterable[ResourceClaim]:
        return [c for (ns, _), c in self.claims.items() if ns == namespace]

    def claims_for_pod(self, namespace: str, pod_name: str) -> Iterable[ResourceClaim]:
        return self.claims.owned_by(namespace, pod_name)

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
        for claim in self.client.claims_for_pod(pod.metadata.namespace, pod.metadata.name):
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
        )
        metadata = ObjectMeta(
            generate_name=generate_name_prefix(pod.metadata.name, pod_claim),
            namespace=pod.metadata.namespace,
            labels=dict(template.spec.metadata.labels),
            annotations=annotations,
            owner_references=[owner],
        )
        return ResourceClaim(metadata=metadata, spec=clone(template.spec.spec))

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
