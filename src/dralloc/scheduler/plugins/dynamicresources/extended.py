"""Extended resources backed by DRA (KEP-5004, gate `DRAExtendedResource`, beta and on in 1.36;
spec/dra-v1.md section 9): the pieces `DynamicResources` builds the pod's special claim from.

Pure computation over API objects, no I/O and no scheduler state:

* `ExtendedResourceIndex` answers which DeviceClass serves an extended resource, arbitrating
  as upstream's ExtendedResourceCache does: every class serves its implicit name
  `deviceclass.resource.kubernetes.io/<class>`; when several classes name one
  `extendedResourceName`, the most recently created wins, ties going to the lexicographically
  first class name.
* `extended_requests` turns a pod's containers into the claim's requests and the
  container-to-request mappings `status.extendedResourceClaimStatus` records, as upstream's
  `createRequestsAndMappings` (1.35+): one ExactCount request per long-lived container
  (app container or sidecar) and resource, named `container-<i>-request-<j>` (`i` indexes
  init containers followed by app containers, `j` the resource among the container's sorted
  request names); a plain init container first reuses the requests of the sidecars started
  after it and of the app containers, and asks only for what those lack; of the plain init
  containers' own requests (they run one at a time) only the largest is kept, and every
  plain init container maps to it. Requests come out sorted by name.
* `extended_resource_claim` is the claim as it lives in memory until it is written
  (`<extended-resources>`, `generateName: <pod>-extended-resources-`, owned by the pod, with
  the `resource.kubernetes.io/extended-resource-claim: "true"` annotation), and
  `find_extended_resource_claim` finds one written in an earlier attempt.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

import msgspec

from dralloc.api.core import Container, ContainerExtendedResourceRequest, Pod
from dralloc.api.defaults import container_requests, is_restartable_init_container
from dralloc.api.meta import ObjectMeta, OwnerReference
from dralloc.api.resource import (
    ALLOCATION_MODE_EXACT_COUNT,
    DeviceClaim,
    DeviceClass,
    DeviceRequest,
    ExactDeviceRequest,
    ResourceClaim,
    ResourceClaimSpec,
)
from dralloc.api.validation import is_extended_resource_name

# resourceapi.ResourceDeviceClassPrefix: the implicit extended resource name of every class.
DEVICE_CLASS_PREFIX = "deviceclass.resource.kubernetes.io/"
# resourceapi.ExtendedResourceClaimAnnotation, set to "true" on the claim the scheduler makes.
EXTENDED_RESOURCE_CLAIM_ANNOTATION = "resource.kubernetes.io/extended-resource-claim"
# resourceapi.Finalizer: the scheduler adds it to every claim it allocates.
DELETE_PROTECTION_FINALIZER = "resource.kubernetes.io/delete-protection"
# The claim's name until PreBind writes it: deliberately not a valid object name.
IN_MEMORY_NAME = "<extended-resources>"
# The API server's name generator: the base cut to 58 characters, then 5 random characters
# without vowels or look-alikes (the ResourceClaim controller in `controllers/` draws the
# same way; it sits above the scheduler, so the rule is repeated here).
_MAX_GENERATED_BASE_LENGTH = 58
_RANDOM_LENGTH = 5
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
# Go's zero time, as upstream's arbitration reads a class without creationTimestamp: older
# than any real one.
_NO_TIMESTAMP = -(2**63)


def is_dra_extended_resource_name(name: str) -> bool:
    """An extended resource DRA may serve: a `vendor/name` resource or a class's implicit
    `deviceclass.resource.kubernetes.io/<class>` (upstream's `IsDRAExtendedResourceName`)."""
    return is_extended_resource_name(name) or name.startswith(DEVICE_CLASS_PREFIX)


def _created_nanos(device_class: DeviceClass) -> int:
    stamp = device_class.metadata.creation_timestamp
    if not stamp:
        return _NO_TIMESTAMP
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return _NO_TIMESTAMP
    whole = int(moment.timestamp())
    return whole * 1_000_000_000 + moment.microsecond * 1000


class ExtendedResourceIndex:
    """Extended resource name -> the DeviceClass serving it (a `DeviceClassResolver`).

    Reads the classes mapping it is given (the scheduler cache's `classes`) and keeps an
    index over it, keyed on the class objects there: when they change (another object, one
    more or one fewer) the index is rebuilt at the next lookup, so a lookup costs one pass
    over the classes (tens) and answers for the classes as they are. Owned by whoever builds
    the scheduler's plugins; any plugin may read it.

    >>> from dralloc.api.resource import DeviceClassSpec
    >>> gpu = DeviceClass(metadata=ObjectMeta(name="gpu.example.com"),
    ...                   spec=DeviceClassSpec(extended_resource_name="example.com/gpu"))
    >>> index = ExtendedResourceIndex({"gpu.example.com": gpu})
    >>> index.device_class("example.com/gpu").metadata.name
    'gpu.example.com'
    >>> index.device_class("deviceclass.resource.kubernetes.io/gpu.example.com") is gpu
    True
    """

    def __init__(self, classes: Mapping[str, DeviceClass]) -> None:
        self._classes = classes
        self._seen: tuple[int, ...] | None = None
        self._by_resource: dict[str, DeviceClass] = {}

    def device_class(self, resource: str) -> DeviceClass | None:
        seen = tuple(map(id, self._classes.values()))
        if seen != self._seen:
            self._by_resource = _index(self._classes.values())
            self._seen = seen
        return self._by_resource.get(resource)


def _index(classes: Iterable[DeviceClass]) -> dict[str, DeviceClass]:
    by_resource: dict[str, DeviceClass] = {}
    explicit: dict[str, DeviceClass] = {}
    for device_class in classes:
        by_resource[DEVICE_CLASS_PREFIX + device_class.metadata.name] = device_class
        name = device_class.spec.extended_resource_name
        if not name:
            continue
        have = explicit.get(name)
        if have is None or _is_better(device_class, have):
            explicit[name] = device_class
    # Validation keeps explicit names out of the implicit prefix, so the two never collide.
    by_resource.update(explicit)
    return by_resource


def _is_better(candidate: DeviceClass, current: DeviceClass) -> bool:
    """Upstream's arbitration between classes naming one extended resource: the newer class
    wins (a migration to a new class takes effect when it is created), the lower name breaks
    a tie."""
    ours, theirs = _created_nanos(candidate), _created_nanos(current)
    if ours != theirs:
        return ours > theirs
    return candidate.metadata.name < current.metadata.name


# ------------------------------------------------------------------ the claim's requests


def _whole_count(container: Container, resource: str) -> int:
    """The container's request for `resource` as a device count; 0 when it has none, or a
    fractional one (upstream's `AsInt64` fails and the container asks for nothing)."""
    quantity = container_requests(container).get(resource)
    if quantity is None or not quantity.is_integer():
        return 0
    return max(quantity.as_integer(), 0)


def _mapping(container: Container, resource: str, request: str) -> ContainerExtendedResourceRequest:
    return ContainerExtendedResourceRequest(
        container_name=container.name, resource_name=resource, request_name=request
    )


def _container_request(
    index: int,
    container: Container,
    resource: str,
    class_name: str,
    reusable: Sequence[DeviceRequest | None],
) -> tuple[DeviceRequest | None, list[ContainerExtendedResourceRequest]]:
    """The request container `index` adds for `resource` (None when it needs none of its
    own), and its mappings: first to the `reusable` requests it takes over, in order, until
    they cover its count, then to its own request for the rest."""
    wanted = _whole_count(container, resource)
    if not wanted:
        return None, []
    mappings = []
    covered = 0
    for request in reusable:
        if request is None or request.exactly is None:
            continue
        covered += request.exactly.count or 0
        mappings.append(_mapping(container, resource, request.name))
        if covered >= wanted:
            return None, mappings
    names = sorted(container_requests(container))
    name = f"container-{index}-request-{names.index(resource)}"
    request = DeviceRequest(
        name=name,
        exactly=ExactDeviceRequest(
            device_class_name=class_name,
            allocation_mode=ALLOCATION_MODE_EXACT_COUNT,
            count=wanted - covered,
        ),
    )
    mappings.append(_mapping(container, resource, name))
    return request, mappings


def extended_requests(
    pod: Pod, classes: Mapping[str, str]
) -> tuple[list[DeviceRequest], list[ContainerExtendedResourceRequest]]:
    """The special claim's requests and the container mappings for the extended resources
    in `classes` (resource name -> the class serving it), those a node serves through DRA.

    Mappings list, per resource in name order, the long-lived containers' (app containers
    and sidecars, in container order) and then the plain init containers'.
    """
    init = pod.spec.init_containers
    containers = [*init, *pod.spec.containers]
    long_lived = [
        i for i, c in enumerate(containers) if i >= len(init) or is_restartable_init_container(c)
    ]
    short_lived = [i for i in range(len(init)) if not is_restartable_init_container(init[i])]
    requests: list[DeviceRequest] = []
    mappings: list[ContainerExtendedResourceRequest] = []
    for resource in sorted(classes):
        class_name = classes[resource]
        own: list[DeviceRequest | None] = [None] * len(containers)
        long_mappings: list[ContainerExtendedResourceRequest] = []
        for i in long_lived:
            own[i], found = _container_request(i, containers[i], resource, class_name, ())
            long_mappings += found
        largest: DeviceRequest | None = None
        short_names: set[str] = set()
        short_mappings: list[ContainerExtendedResourceRequest] = []
        for i in short_lived:
            # A plain init container runs before the sidecars after it and the app containers
            # start, so it may use their devices first.
            request, found = _container_request(i, containers[i], resource, class_name, own[i:])
            short_mappings += found
            if request is not None:
                short_names.add(request.name)
                if largest is None or _count(largest) < _count(request):
                    largest = request
        if largest is not None:
            # Plain init containers run one at a time: the largest request serves them all.
            short_names.discard(largest.name)
            short_mappings = [
                msgspec.structs.replace(m, request_name=largest.name)
                if m.request_name in short_names
                else m
                for m in short_mappings
            ]
            requests.append(largest)
        requests += [request for request in own if request is not None]
        mappings += long_mappings + short_mappings
    requests.sort(key=lambda request: request.name)
    return requests, mappings


def _count(request: DeviceRequest) -> int:
    return (request.exactly.count or 0) if request.exactly is not None else 0


# ----------------------------------------------------------------------------- the claim


def extended_resource_claim(pod: Pod) -> ResourceClaim:
    """The pod's special claim as it lives in memory until PreBind: no requests yet (each
    node gets its own variant), owned by the pod, named by the API server when written."""
    meta = pod.metadata
    return ResourceClaim(
        metadata=ObjectMeta(
            name=IN_MEMORY_NAME,
            generate_name=f"{meta.name}-extended-resources-",
            namespace=meta.namespace or "default",
            owner_references=[
                OwnerReference(
                    api_version="v1", kind="Pod", name=meta.name, uid=meta.uid, controller=True
                )
            ],
            annotations={EXTENDED_RESOURCE_CLAIM_ANNOTATION: "true"},
        )
    )


def with_requests(claim: ResourceClaim, requests: list[DeviceRequest]) -> ResourceClaim:
    """`claim` (the in-memory one) asking for `requests`: the variant one node needs."""
    return ResourceClaim(
        metadata=claim.metadata, spec=ResourceClaimSpec(devices=DeviceClaim(requests=requests))
    )


def find_extended_resource_claim(pod: Pod, claims: Iterable[ResourceClaim]) -> ResourceClaim | None:
    """A claim written for the pod in an earlier attempt: annotated as the extended-resource
    claim and controlled by this pod (name and uid). Upstream looks at every namespace; here
    the claim must also be in the pod's namespace, because input pods often have no uid."""
    meta = pod.metadata
    namespace = meta.namespace or "default"
    for claim in claims:
        claim_meta = claim.metadata
        if claim_meta.annotations.get(EXTENDED_RESOURCE_CLAIM_ANNOTATION) != "true":
            continue
        if claim_meta.namespace != namespace:
            continue
        if any(
            ref.controller and ref.name == meta.name and ref.uid == meta.uid
            for ref in claim_meta.owner_references
        ):
            return claim
    return None


def generated_name(prefix: str, rng: random.Random) -> str:
    """A name as the API server makes one from `generateName`."""
    suffix = "".join(rng.choice(_NAME_ALPHABET) for _ in range(_RANDOM_LENGTH))
    return prefix[:_MAX_GENERATED_BASE_LENGTH] + suffix
