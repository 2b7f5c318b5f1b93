"""API defaulting, as the API server applies it before storing (spec/dra-v1.md section 3), and
the pod resource arithmetic that defaulting and the scheduler share.

Pure computation, no I/O; `apply_defaults` mutates the decoded object in place, everything else
only reads. Only what upstream defaults:

* slices: a device taint without `timeAdded` gets the creation time the caller passes (the API
  server stamps the time of the request); a given one is normalised to UTC whole seconds.
* claims and templates: an empty allocationMode becomes ExactCount, an ExactCount count of 0
  (or unset) becomes 1, an empty toleration operator becomes Equal. Nothing else (adminAccess
  stays unset).
* pods (upstream's `SetDefaults_Pod` and `SetDefaults_ResourceList`): a container or init
  container that sets a limit but no request for a resource gets a request equal to the limit;
  with pod-level resources (KEP-2837, beta and on in 1.36) that set limits, a pod-level request
  left out defaults to the containers' combined request (cpu and memory, the overcommittable
  ones) or else to the pod-level limit (cpu, memory, hugepages-*); and every quantity in those
  resource lists and in `overhead` is rounded up to a whole milli-unit.

Not reproduced, because no scheduling decision depends on them: pod-level *limits* defaulting
(hugepage limits, and 1.36's `PodLevelResourcesFixUpdateDefaulting`, which sums container
limits into pod-level limits). Everything a pod request depends on is.

The read-only helpers (`container_requests`, `pod_level_requests`, `overhead`,
`aggregate_container_requests`) give the values a pod has once defaulted, whether or not
`apply_defaults` ran on it, so the scheduler computes the same requests for a pod loaded from a
file and for one built in code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, TypeAlias

from dralloc.api.core import Container, Pod
from dralloc.api.policy import PodDisruptionBudget
from dralloc.api.quantity import Quantity
from dralloc.api.resource import (
    ALLOCATION_MODE_EXACT_COUNT,
    DeviceSubRequest,
    DeviceToleration,
    ExactDeviceRequest,
    ResourceClaim,
    ResourceClaimSpec,
    ResourceClaimTemplate,
    ResourceSlice,
)
from dralloc.api.validation.times import format_time, parse_time


def default_tolerations(tolerations: list[DeviceToleration]) -> None:
    for toleration in tolerations:
        if not toleration.operator:
            toleration.operator = "Equal"


def _default_request(request: ExactDeviceRequest | DeviceSubRequest) -> None:
    if not request.allocation_mode:
        request.allocation_mode = ALLOCATION_MODE_EXACT_COUNT
    if request.allocation_mode == ALLOCATION_MODE_EXACT_COUNT and not request.count:
        request.count = 1
    default_tolerations(request.tolerations)


def _default_claim_spec(spec: ResourceClaimSpec) -> None:
    for request in spec.devices.requests:
        if request.exactly is not None:
            _default_request(request.exactly)
        for sub in request.first_available or []:
            _default_request(sub)


# ------------------------------------------------------------------------- pod resources

CPU = "cpu"
MEMORY = "memory"
HUGEPAGES_PREFIX = "hugepages-"
CONTAINER_RESTART_POLICY_ALWAYS = "Always"
_NANO_PER_MILLI = 1_000_000
# Resources a pod-level request defaults to the containers' combined request for: those that
# can be overcommitted. Hugepages cannot; their pod-level request follows the pod-level limit.
_OVERCOMMITTABLE = frozenset({CPU, MEMORY})

Requests: TypeAlias = Mapping[str, Quantity]


def is_supported_pod_level_resource(name: str) -> bool:
    """cpu, memory and hugepages-*: the resources `spec.resources` may name (KEP-2837)."""
    return name in _OVERCOMMITTABLE or name.startswith(HUGEPAGES_PREFIX)


def is_restartable_init_container(container: Container) -> bool:
    """An init container with `restartPolicy: Always`: a sidecar (KEP-753)."""
    return container.restart_policy == CONTAINER_RESTART_POLICY_ALWAYS


def _round_up_to_milli(value: Quantity) -> Quantity:
    """Upstream rounds every stored resource quantity up (away from zero) to milli-units."""
    remainder = abs(value.nano) % _NANO_PER_MILLI
    if not remainder:
        return value
    step = _NANO_PER_MILLI - remainder
    return Quantity.from_nano(value.nano + (step if value.nano > 0 else -step), value.format)


def _rounded(quantities: Requests) -> Requests:
    """`quantities` with each value rounded up to milli-units; the same mapping when none
    needs it (the usual case, which allocates nothing)."""
    if not quantities or all(not value.nano % _NANO_PER_MILLI for value in quantities.values()):
        return quantities
    return {name: _round_up_to_milli(value) for name, value in quantities.items()}


def _filled_requests(container: Container) -> Requests:
    """The container's requests with each limit it sets no request for copied in (rounding
    not yet applied; upstream defaults pod-level requests before it rounds)."""
    resources = container.resources
    if not resources.limits or resources.limits.keys() <= resources.requests.keys():
        return resources.requests
    filled = dict(resources.requests)
    for name, limit in resources.limits.items():
        filled.setdefault(name, limit)
    return filled


def container_requests(container: Container) -> Requests:
    """The container's requests as the API server stores them: a limit without a request
    becomes the request too (`limits: {nvidia.com/gpu: 1}` requests one GPU), and every value
    is rounded up to milli-units. Read-only: may return the container's own mapping."""
    return _rounded(_filled_requests(container))


def aggregate_container_requests(
    pod: Pod,
    non_missing: Requests | None = None,
    requests_of: Callable[[Container], Requests] = container_requests,
) -> dict[str, Quantity]:
    """The requests of the pod's containers combined as KEP-753 prescribes (upstream's
    `AggregateContainerRequests`): app containers and sidecars add up; init container `i`
    needs its own requests plus those of the sidecars started before it, while it runs; the
    result is, per resource, the larger of the two.

    `non_missing` stands in, per container (init containers included), for a resource the
    container has no entry for at all (an explicit 0 stays 0): the scheduler's 100m / 200Mi
    for scoring. A resource appears in the result when any container, or `non_missing`,
    names it, even at 0.
    """
    total: dict[str, Quantity] = {}
    for container in pod.spec.containers:
        _add(total, _with_non_missing(requests_of(container), non_missing))
    sidecars: dict[str, Quantity] = {}
    init_peak: dict[str, Quantity] = {}
    for container in pod.spec.init_containers:
        requests = _with_non_missing(requests_of(container), non_missing)
        if is_restartable_init_container(container):
            _add(total, requests)
            _add(sidecars, requests)
            # A sidecar's own need while starting is the sidecars so far; never more than
            # `total`, kept as upstream computes it so the result names the same resources.
            _max(init_peak, sidecars)
        else:
            running = dict(requests)
            _add(running, sidecars)
            _max(init_peak, running)
    _max(total, init_peak)
    return total


def _with_non_missing(requests: Requests, non_missing: Requests | None) -> Requests:
    if not non_missing or non_missing.keys() <= requests.keys():
        return requests
    filled = dict(requests)
    for name, value in non_missing.items():
        filled.setdefault(name, value)
    return filled


def _add(into: dict[str, Quantity], quantities: Requests) -> None:
    for name, value in quantities.items():
        have = into.get(name)
        into[name] = value if have is None else have + value


def _max(into: dict[str, Quantity], quantities: Requests) -> None:
    for name, value in quantities.items():
        have = into.get(name)
        if have is None or value > have:
            into[name] = value


def _defaulted_pod_level_requests(pod: Pod) -> Requests:
    """Upstream's `defaultPodRequests`, before rounding: only when pod-level limits are set,
    a missing pod-level cpu or memory request takes the containers' combined request, and a
    supported resource still missing takes the pod-level limit."""
    resources = pod.spec.resources
    if resources is None:
        return {}
    if not resources.limits:
        return resources.requests
    requests = dict(resources.requests)
    combined = aggregate_container_requests(pod, requests_of=_filled_requests)
    for name, value in combined.items():
        if name in _OVERCOMMITTABLE:
            requests.setdefault(name, value)
    for name, limit in resources.limits.items():
        if is_supported_pod_level_resource(name):
            requests.setdefault(name, limit)
    return requests


def pod_level_requests(pod: Pod) -> Requests:
    """`spec.resources.requests` as the API server stores it (empty when unset)."""
    return _rounded(_defaulted_pod_level_requests(pod))


def has_pod_level_requests(requests: Requests) -> bool:
    """Upstream's `IsPodLevelRequestsSet` over `pod_level_requests(pod)`: some supported
    resource has a pod-level request, so pod-level values replace the containers' sums."""
    return any(is_supported_pod_level_resource(name) for name in requests)


def overhead(pod: Pod) -> Requests:
    """`spec.overhead` as stored (rounded up to milli-units)."""
    return _rounded(pod.spec.overhead)


def _default_pod(pod: Pod) -> None:
    spec = pod.spec
    # Pod-level requests default from the containers' requests as they were before rounding.
    pod_requests = _defaulted_pod_level_requests(pod)
    containers: Iterable[Container] = (*spec.containers, *spec.init_containers)
    for container in containers:
        container.resources.requests = dict(container_requests(container))
        container.resources.limits = dict(_rounded(container.resources.limits))
    if spec.resources is not None:
        spec.resources.requests = dict(_rounded(pod_requests))
        spec.resources.limits = dict(_rounded(spec.resources.limits))
    spec.overhead = dict(overhead(pod))


def _stamp_taints(slice_: ResourceSlice, now: datetime | None) -> None:
    """Device taints get the time they were added: a given `timeAdded` is written back as
    kube-apiserver stores it (UTC, whole seconds), a missing one becomes `now`, as the
    ResourceSlice strategy sets it on create. Without `now` a missing one stays unset."""
    for device in slice_.spec.devices:
        for taint in device.taints:
            given = parse_time(taint.time_added) if taint.time_added is not None else None
            if given is not None:
                taint.time_added = format_time(given)
            elif taint.time_added is None and now is not None:
                taint.time_added = format_time(now)


def apply_defaults(obj: Any, *, now: datetime | None = None) -> None:
    """Default `obj` in place (claims, templates, pods, and the taint times of slices; other
    kinds have nothing to default).

    Namespaced objects without a namespace land in `default`, as `kubectl apply` puts them.
    `now` is the time the object is taken to be created at, for fields the API server stamps.
    """
    namespaced = ResourceClaim | ResourceClaimTemplate | Pod | PodDisruptionBudget
    if isinstance(obj, namespaced) and not obj.metadata.namespace:
        obj.metadata.namespace = "default"
    if isinstance(obj, ResourceClaim):
        _default_claim_spec(obj.spec)
    elif isinstance(obj, ResourceClaimTemplate):
        _default_claim_spec(obj.spec.spec)
    elif isinstance(obj, Pod):
        _default_pod(obj)
    elif isinstance(obj, ResourceSlice):
        _stamp_taints(obj, now)
