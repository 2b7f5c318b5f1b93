"""API validation of ResourceClaims (spec and status), ResourceClaimTemplates and the claim
parts of Pods (spec/dra-v1.md section 4)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

import msgspec

from dralloc.api.core import Container, Pod, ResourceRequirements, Toleration
from dralloc.api.meta import ObjectMeta
from dralloc.api.quantity import NANO_PER_UNIT, Quantity
from dralloc.api.resource import (
    ALLOCATION_MODE_ALL,
    ALLOCATION_MODE_EXACT_COUNT,
    AllocatedDeviceStatus,
    AllocationResult,
    CapacityRequirements,
    DeviceClaim,
    DeviceClaimConfiguration,
    DeviceConstraint,
    DeviceRequest,
    DeviceRequestAllocationResult,
    DeviceSubRequest,
    DeviceToleration,
    ExactDeviceRequest,
    ResourceClaimStatus,
    ResourceClaimTemplate,
)
from dralloc.api.validation.base import (
    _CONDITION_REASON_MSG,
    _CONDITION_REASON_RE,
    _REQUEST_REF_MSG,
    ALLOCATION_CONFIG_MAX,
    ALLOCATION_MODES,
    CONDITION_MESSAGE_MAX,
    CONDITION_REASON_MAX,
    CONDITION_STATUSES,
    CONFIG_MAX,
    CONFIG_SOURCES,
    CONSTRAINTS_MAX,
    DEVICE_STATUS_CONDITIONS_MAX,
    DEVICE_STATUS_DATA_MAX,
    FIRST_AVAILABLE_MAX,
    HARDWARE_ADDRESS_MAX,
    INTERFACE_NAME_MAX,
    NETWORK_IPS_MAX,
    REQUESTS_MAX,
    RESERVED_FOR_MAX,
    RESULTS_MAX,
    TAINT_EFFECTS,
    TOLERATION_OPERATORS,
    TOLERATIONS_MAX,
    RequestNames,
    _byte_len,
    _fmt,
    _idx,
    _opaque,
    _selectors,
    _Validator,
)
from dralloc.api.validation.slices import _binding_conditions

# ------------------------------------------------------------------------------ ResourceClaim


def _request_names(claim: DeviceClaim) -> RequestNames:
    names: RequestNames = {}
    for request in claim.requests:
        subs = request.first_available
        names[request.name] = frozenset(s.name for s in subs) if subs else None
    return names


def _claim_spec(v: _Validator, path: str, claim: DeviceClaim) -> RequestNames:
    """`spec` of a claim (or `spec.spec` of a template); returns the request names."""
    devices_path = f"{path}.devices"
    names = _request_names(claim)
    requests_path = f"{devices_path}.requests"
    if v.fits(requests_path, claim.requests, REQUESTS_MAX):
        for i, request in enumerate(claim.requests):
            _request(v, _idx(requests_path, i), request)
        v.unique(requests_path, [r.name for r in claim.requests])
    constraints_path = f"{devices_path}.constraints"
    if v.fits(constraints_path, claim.constraints, CONSTRAINTS_MAX):
        for i, constraint in enumerate(claim.constraints):
            _constraint(v, _idx(constraints_path, i), constraint, names)
    config_path = f"{devices_path}.config"
    if v.fits(config_path, claim.config, CONFIG_MAX):
        for i, config in enumerate(claim.config):
            _claim_config(v, _idx(config_path, i), config, names)
    return names


def _request(v: _Validator, path: str, request: DeviceRequest) -> None:
    v.dns_label(f"{path}.name", request.name)
    alternatives = request.first_available or []
    one_of = "exactly one of `exactly` or `firstAvailable` is required"
    if alternatives and request.exactly is not None:
        v.add(path, f"{one_of}, but both are set")
    elif request.exactly is not None:
        _exact_request(v, f"{path}.exactly", request.exactly)
    elif alternatives:
        list_path = f"{path}.firstAvailable"
        if v.fits(list_path, alternatives, FIRST_AVAILABLE_MAX):
            for i, sub in enumerate(alternatives):
                _subrequest(v, _idx(list_path, i), sub)
            v.unique(list_path, [s.name for s in alternatives])
    else:
        v.required(path, one_of)


def _exact_request(v: _Validator, path: str, request: ExactDeviceRequest) -> None:
    _device_class_name(v, f"{path}.deviceClassName", request.device_class_name)
    _selectors(v, f"{path}.selectors", request.selectors)
    _allocation_mode(v, path, request.allocation_mode, request.count)
    _tolerations(v, f"{path}.tolerations", request.tolerations)
    _capacity_requests(v, f"{path}.capacity", request.capacity)


def _subrequest(v: _Validator, path: str, sub: DeviceSubRequest) -> None:
    v.dns_label(f"{path}.name", sub.name)
    _device_class_name(v, f"{path}.deviceClassName", sub.device_class_name)
    _selectors(v, f"{path}.selectors", sub.selectors)
    _allocation_mode(v, path, sub.allocation_mode, sub.count)
    _tolerations(v, f"{path}.tolerations", sub.tolerations)
    _capacity_requests(v, f"{path}.capacity", sub.capacity)


def _device_class_name(v: _Validator, path: str, name: str) -> None:
    if not name:
        v.required(path, "the name of a DeviceClass")
    else:
        v.dns_subdomain(path, name)


def _allocation_mode(v: _Validator, path: str, mode: str, count: int | None) -> None:
    """An empty mode is defaulted to ExactCount, and a count of 0 (or unset) to 1 before
    validation, as the API server does (spec section 3); a negative count is an error."""
    if mode in ("", ALLOCATION_MODE_EXACT_COUNT):
        if count is not None and count < 0:
            v.add(
                f"{path}.count",
                f"must be greater than zero for allocationMode ExactCount, got {count}",
            )
    elif mode == ALLOCATION_MODE_ALL:
        if count:
            v.add(f"{path}.count", f"must be unset or zero for allocationMode All, got {count}")
    else:
        v.not_supported(f"{path}.allocationMode", mode, ALLOCATION_MODES)


def _tolerations(
    v: _Validator, path: str, tolerations: Sequence[DeviceToleration], *, limited: bool = False
) -> None:
    # kube-apiserver 1.36 accepts any number of tolerations in a request (checked against it:
    # 257 pass); the 16-item limit holds for an allocation result's copy.
    if limited and not v.fits(path, tolerations, TOLERATIONS_MAX):
        return
    for i, toleration in enumerate(tolerations):
        _toleration(v, _idx(path, i), toleration)


def _toleration(v: _Validator, path: str, toleration: DeviceToleration) -> None:
    if toleration.key:
        v.label_name(f"{path}.key", toleration.key)
    operator = toleration.operator or "Equal"  # the API server defaults an empty operator
    if operator == "Exists":
        if toleration.value:
            v.invalid(f"{path}.value", toleration.value, "must be empty for operator `Exists`")
    elif operator == "Equal":
        # Unlike a pod's toleration, an empty key with Equal is accepted (upstream's
        # validateDeviceToleration has no such rule).
        v.label_value(f"{path}.value", toleration.value)
    else:
        v.not_supported(f"{path}.operator", toleration.operator, TOLERATION_OPERATORS)
    if toleration.effect and toleration.effect not in TAINT_EFFECTS:
        v.not_supported(f"{path}.effect", toleration.effect, TAINT_EFFECTS)


def _capacity_requests(v: _Validator, path: str, capacity: CapacityRequirements | None) -> None:
    if capacity is None:
        return
    # Amounts are not checked: kube-apiserver 1.36 accepts a negative request.
    for key in capacity.requests:
        v.qualified_name(f"{path}.requests", key)


def _constraint(
    v: _Validator, path: str, constraint: DeviceConstraint, names: RequestNames
) -> None:
    _request_refs(v, f"{path}.requests", constraint.requests, names)
    match, distinct = constraint.match_attribute, constraint.distinct_attribute
    if match is not None:
        v.fully_qualified_name(f"{path}.matchAttribute", match)
    if distinct is not None:
        v.fully_qualified_name(f"{path}.distinctAttribute", distinct)
    one_of = "exactly one of `matchAttribute` or `distinctAttribute` is required"
    if match is not None and distinct is not None:
        v.add(path, f"{one_of}, but both are set")
    elif match is None and distinct is None:
        v.required(path, one_of)


def _claim_config(
    v: _Validator, path: str, config: DeviceClaimConfiguration, names: RequestNames
) -> None:
    _request_refs(v, f"{path}.requests", config.requests, names)
    _opaque(v, path, config.opaque)


def _request_refs(v: _Validator, path: str, refs: Sequence[str], names: RequestNames) -> None:
    if not v.fits(path, refs, REQUESTS_MAX):
        return
    for i, ref in enumerate(refs):
        _request_ref(v, _idx(path, i), ref, names)
    v.unique(path, refs)


def _request_ref(v: _Validator, path: str, ref: str, names: RequestNames) -> None:
    """`req` (a request, or all subrequests of it) or `req/sub` of this claim."""
    segments = ref.split("/")
    if len(segments) > 2:
        v.invalid(path, ref, _REQUEST_REF_MSG)
        return
    # Check every segment (a list, not a generator, so that all of them are reported).
    if not all([v.dns_label(path, segment) for segment in segments]):
        return
    parent, _, child = ref.partition("/")
    subs = names.get(parent)
    if parent in names and (not child or (subs is not None and child in subs)):
        return
    known = sorted([*names, *(f"{n}/{s}" for n, subs in names.items() for s in subs or ())])
    v.invalid(path, ref, f"{_REQUEST_REF_MSG} (known: {', '.join(known) or 'none'})")


def _claim_status(v: _Validator, status: ResourceClaimStatus, names: RequestNames) -> None:
    reserved_path = "status.reservedFor"
    if v.fits(reserved_path, status.reserved_for, RESERVED_FOR_MAX):
        for i, consumer in enumerate(status.reserved_for):
            for field, value in (
                ("resource", consumer.resource),
                ("name", consumer.name),
                ("uid", consumer.uid),
            ):
                if not value:
                    v.required(f"{_idx(reserved_path, i)}.{field}")
        v.unique(reserved_path, [c.uid for c in status.reserved_for])
    if status.reserved_for and status.allocation is None:
        v.forbidden(reserved_path, "may not be specified when `allocation` is not set")
    if status.allocation is not None:
        _allocation(v, "status.allocation", status.allocation, names)
    _device_statuses(v, "status.devices", status.devices, status.allocation)


def _allocation(
    v: _Validator, path: str, allocation: AllocationResult, names: RequestNames
) -> None:
    results_path = f"{path}.devices.results"
    results = allocation.devices.results
    if v.fits(results_path, results, RESULTS_MAX):
        for i, result in enumerate(results):
            _result(v, _idx(results_path, i), result, names)
    config_path = f"{path}.devices.config"
    configs = allocation.devices.config
    if v.fits(config_path, configs, ALLOCATION_CONFIG_MAX):
        for i, config in enumerate(configs):
            config_item = _idx(config_path, i)
            if not config.source:
                v.required(
                    f"{config_item}.source", "one of " + ", ".join(_fmt(s) for s in CONFIG_SOURCES)
                )
            elif config.source not in CONFIG_SOURCES:
                v.not_supported(f"{config_item}.source", config.source, CONFIG_SOURCES)
            _request_refs(v, f"{config_item}.requests", config.requests, names)
            _opaque(v, config_item, config.opaque)
    if allocation.node_selector is not None:
        v.node_selector(f"{path}.nodeSelector", allocation.node_selector, one_term=False)


def _result(
    v: _Validator, path: str, result: DeviceRequestAllocationResult, names: RequestNames
) -> None:
    if result.request:
        _request_ref(v, f"{path}.request", result.request, names)
    else:
        v.required(f"{path}.request")
    v.driver_name(f"{path}.driver", result.driver)
    v.pool_name(f"{path}.pool", result.pool)
    v.dns_label(f"{path}.device", result.device)
    _binding_conditions(v, path, result.binding_conditions, result.binding_failure_conditions)
    _tolerations(v, f"{path}.tolerations", result.tolerations, limited=True)
    if result.share_id is not None:
        v.share_id(f"{path}.shareID", result.share_id)
    for key in result.consumed_capacity:
        v.qualified_name(f"{path}.consumedCapacity", key)


def _device_id(driver: str, pool: str, device: str, share_id: str | None) -> str:
    base = f"{driver}/{pool}/{device}"
    return f"{base}/{share_id}" if share_id is not None else base


def _device_statuses(
    v: _Validator,
    path: str,
    statuses: Sequence[AllocatedDeviceStatus],
    allocation: AllocationResult | None,
) -> None:
    """`status.devices`, written by drivers: each entry names an allocated device."""
    allocated = {
        _device_id(r.driver, r.pool, r.device, r.share_id)
        for r in (allocation.devices.results if allocation is not None else [])
    }
    ids = []
    for i, status in enumerate(statuses):
        item = _idx(path, i)
        v.driver_name(f"{item}.driver", status.driver)
        v.pool_name(f"{item}.pool", status.pool)
        v.dns_label(f"{item}.device", status.device)
        if status.share_id is not None:
            v.share_id(f"{item}.shareID", status.share_id)
        device_id = _device_id(status.driver, status.pool, status.device, status.share_id)
        ids.append(device_id)
        if device_id not in allocated:
            v.invalid(item, device_id, "must be an allocated device in the claim")
        if v.fits(f"{item}.conditions", status.conditions, DEVICE_STATUS_CONDITIONS_MAX):
            _conditions(v, f"{item}.conditions", status.conditions)
        if status.data is not None:
            v.json_object(f"{item}.data", status.data, DEVICE_STATUS_DATA_MAX)
        if status.network_data is not None:
            _network_data(v, f"{item}.networkData", status.network_data)
    v.unique(path, ids)


def _conditions(v: _Validator, path: str, conditions: Sequence[Any]) -> None:
    """metav1.Condition rules (apimachinery ValidateConditions)."""
    types: list[object] = []
    for i, condition in enumerate(conditions):
        item = _idx(path, i)
        if not isinstance(condition, dict):
            v.add(item, f"must be an object, got {type(condition).__name__}")
            continue
        kind = condition.get("type")
        types.append(kind)
        if not isinstance(kind, str) or not kind:
            v.required(f"{item}.type")
        else:
            v.label_name(f"{item}.type", kind)
        status = condition.get("status")
        if status not in CONDITION_STATUSES:
            v.not_supported(f"{item}.status", status, CONDITION_STATUSES)
        generation = condition.get("observedGeneration")
        if isinstance(generation, int) and generation < 0:
            v.add(
                f"{item}.observedGeneration",
                f"must be greater than or equal to zero, got {generation}",
            )
        if not condition.get("lastTransitionTime"):
            v.required(f"{item}.lastTransitionTime", "must be set")
        reason = condition.get("reason")
        if not isinstance(reason, str) or not reason:
            v.required(f"{item}.reason", "must be set")
        else:
            if not _CONDITION_REASON_RE.fullmatch(reason):
                v.invalid(f"{item}.reason", reason, _CONDITION_REASON_MSG)
            if _byte_len(reason) > CONDITION_REASON_MAX:
                v.too_long(f"{item}.reason", CONDITION_REASON_MAX)
        message = condition.get("message")
        if isinstance(message, str) and _byte_len(message) > CONDITION_MESSAGE_MAX:
            v.too_long(f"{item}.message", CONDITION_MESSAGE_MAX)
    seen: set[object] = set()
    for i, kind in enumerate(types):
        if isinstance(kind, str) and kind:
            if kind in seen:
                v.duplicate(f"{_idx(path, i)}.type", kind)
            seen.add(kind)


def _network_data(v: _Validator, path: str, data: Any) -> None:
    if not isinstance(data, dict):
        v.add(path, f"must be an object, got {type(data).__name__}")
        return
    for field, limit in (
        ("interfaceName", INTERFACE_NAME_MAX),
        ("hardwareAddress", HARDWARE_ADDRESS_MAX),
    ):
        value = data.get(field)
        if value is None:
            continue
        if not isinstance(value, str):
            v.add(f"{path}.{field}", f"must be a string, got {type(value).__name__}")
        elif _byte_len(value) > limit:
            v.too_long(f"{path}.{field}", limit)
    ips = data.get("ips")
    if ips is None:
        return
    ips_path = f"{path}.ips"
    if not isinstance(ips, list):
        v.add(ips_path, f"must be a list, got {type(ips).__name__}")
        return
    if not v.fits(ips_path, ips, NETWORK_IPS_MAX):
        return
    for i, address in enumerate(ips):
        _interface_address(v, _idx(ips_path, i), address)
    v.unique(ips_path, [ip for ip in ips if isinstance(ip, str)])


def _interface_address(v: _Validator, path: str, address: object) -> None:
    """An IP address with prefix length (`10.9.8.7/24`), in canonical form."""
    text = address if isinstance(address, str) else str(address)
    example = "must be a valid address in CIDR form, (e.g. 10.9.8.7/24 or 2001:db8::1/64)"
    if not isinstance(address, str) or "/" not in address:
        v.invalid(path, text, example)
        return
    try:
        interface = ipaddress.ip_interface(address)
    except ValueError:
        v.invalid(path, text, example)
        return
    if str(interface) != address:
        v.invalid(path, text, f'must be in canonical form ("{interface}")')


# ---------------------------------------------------------------------- ResourceClaimTemplate


def _claim_template(v: _Validator, template: ResourceClaimTemplate) -> None:
    v.metadata(template.metadata, namespaced=True)
    meta = template.spec.metadata
    for info in msgspec.structs.fields(ObjectMeta):
        if info.name in ("labels", "annotations"):
            continue
        default = info.default_factory() if info.default is msgspec.NODEFAULT else info.default
        if getattr(meta, info.name) != default:
            v.forbidden(f"spec.metadata.{info.encode_name}", "cannot be set for a template")
    v.labels_and_annotations(meta, "spec.metadata")
    _claim_spec(v, "spec.spec", template.spec.spec.devices)


# -------------------------------------------------------------------------------------- Pod


def _pod(v: _Validator, pod: Pod) -> None:
    v.metadata(pod.metadata, namespaced=True)
    claims_path = "spec.resourceClaims"
    claims = pod.spec.resource_claims
    for i, claim in enumerate(claims):
        item = _idx(claims_path, i)
        v.dns_label(f"{item}.name", claim.name)
        by_name, by_template = claim.resource_claim_name, claim.resource_claim_template_name
        if by_name is not None and by_template is not None:
            v.add(
                item,
                "at most one of `resourceClaimName` or `resourceClaimTemplateName` may be "
                "specified, both are set",
            )
        elif by_name is None and by_template is None:
            v.required(
                item, "must specify one of: `resourceClaimName`, `resourceClaimTemplateName`"
            )
        if by_name is not None:
            v.dns_subdomain(f"{item}.resourceClaimName", by_name)
        if by_template is not None:
            v.dns_subdomain(f"{item}.resourceClaimTemplateName", by_template)
    v.unique(claims_path, [c.name for c in claims])
    affinity = pod.spec.affinity
    node_affinity = affinity.node_affinity if affinity is not None else None
    required = (
        node_affinity.required_during_scheduling_ignored_during_execution
        if node_affinity is not None
        else None
    )
    if required is not None:
        v.node_selector(
            "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution",
            required,
            one_term=False,
        )
    # Upstream's gatherPodResourceClaimNames leaves out entries without a name (validated
    # on their own): a container's message lists only the named ones.
    names = {c.name for c in claims if c.name}
    for field, containers in (
        ("containers", pod.spec.containers),
        ("initContainers", pod.spec.init_containers),
    ):
        for i, container in enumerate(containers):
            _container_claims(v, f"spec.{field}[{i}].resources.claims", container, names)
            _container_resources(v, f"spec.{field}[{i}].resources", container.resources)
    for key, value in pod.spec.node_selector.items():
        # Upstream's ValidateLabels names the map itself, not the key.
        v.label_name("spec.nodeSelector", key)
        v.label_value("spec.nodeSelector", value)
    for i, toleration in enumerate(pod.spec.tolerations):
        pod_toleration(v, f"spec.tolerations[{i}]", toleration)
    group = pod.spec.scheduling_group
    if group is not None:
        if group.pod_group_name is None:
            v.invalid(
                "spec.schedulingGroup.podGroupName", None, "must specify one of: `podGroupName`"
            )
        else:
            v.dns_subdomain("spec.schedulingGroup.podGroupName", group.pod_group_name)
    seen_gates: set[str] = set()
    for i, gate in enumerate(pod.spec.scheduling_gates):
        item = f"spec.schedulingGates[{i}]"
        v.label_name(item, gate.name)
        if gate.name in seen_gates:
            v.duplicate(item, gate.name)
        seen_gates.add(gate.name)


_POD_TOLERATION_OPERATORS = ("Equal", "Exists")
_POD_TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


def pod_toleration(v: _Validator, path: str, toleration: Toleration) -> None:
    """core/v1 ValidateTolerations at 1.36's default gates (no `Lt`/`Gt` operators)."""
    key, operator, value, effect = (
        toleration.key,
        toleration.operator,
        toleration.value,
        toleration.effect,
    )
    if key:
        v.label_name(f"{path}.key", key)
    if not key and operator != "Exists":
        v.invalid(
            f"{path}.operator",
            operator,
            'operator must be Exists when `key` is empty, which means "match all values and '
            'all keys"',
        )
    if toleration.toleration_seconds is not None and effect != "NoExecute":
        v.invalid(
            f"{path}.effect", effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"
        )
    if operator in ("Equal", ""):
        # The server names `operator` for a bad value.
        v.label_value(f"{path}.operator", value)
    elif operator == "Exists":
        if value:
            v.invalid(f"{path}.operator", value, "value must be empty when `operator` is 'Exists'")
    elif operator in ("Lt", "Gt"):
        v.not_supported(f"{path}.operator", operator, (*_POD_TOLERATION_OPERATORS, "Lt", "Gt"))
    else:
        v.not_supported(f"{path}.operator", operator, _POD_TOLERATION_OPERATORS)
    if effect and effect not in _POD_TAINT_EFFECTS:
        v.not_supported(f"{path}.effect", effect, _POD_TAINT_EFFECTS)


_STANDARD_CONTAINER_RESOURCES = ("cpu", "memory", "ephemeral-storage")


def _is_native_resource(name: str) -> bool:
    return "/" not in name or name.split("/", 1)[0].endswith("kubernetes.io")


def _is_extended_resource(name: str) -> bool:
    return not _is_native_resource(name) and not name.startswith("requests.")


def _can_overcommit(name: str) -> bool:
    return _is_native_resource(name) and not name.startswith("hugepages-")


def _is_huge_page_multiple(name: str, quantity: Quantity) -> bool:
    """Whether `quantity` is a whole number of pages of the size `hugepages-<size>` names."""
    try:
        size = Quantity.parse(name.removeprefix("hugepages-")).ceil_int()
    except ValueError:
        return False
    return size > 0 and quantity.ceil_int() % size == 0


def container_resource(v: _Validator, item: str, name: str, quantity: Quantity) -> None:
    """One entry of a container's resource list (or of a RuntimeClass's overhead, which
    upstream checks as container limits): the name, and a quantity that is not negative,
    whole for an extended resource, whole pages for hugepages."""
    is_standard = name in _STANDARD_CONTAINER_RESOURCES or name.startswith("hugepages-")
    # Upstream's validateContainerResourceName: an unqualified name must be a container
    # resource; a qualified one in a kubernetes.io domain passes (such as DRA's
    # deviceclass.resource.kubernetes.io/<class>), any other must be extended.
    if "/" not in name and not is_standard:
        v.invalid(item, name, "must be a standard resource for containers")
    elif "/" in name and not _is_native_resource(name) and not _is_extended_resource(name):
        v.invalid(item, name, "doesn't follow extended resource name standard")
    if "/" not in name and not is_standard:
        v.invalid(item, name, "must be a standard resource type or fully qualified")
    elif "/" in name:
        v.label_name(item, name)
    if quantity.sign() < 0:
        v.invalid(item, str(quantity), "must be greater than or equal to 0")
    if _is_extended_resource(name) and quantity.nano % NANO_PER_UNIT:
        v.invalid(item, str(quantity), "must be an integer")
    if name.startswith("hugepages-") and not _is_huge_page_multiple(name, quantity):
        v.invalid(item, str(quantity), f"{quantity} is not positive integer multiple of {name}")


def _container_resources(v: _Validator, path: str, resources: ResourceRequirements) -> None:
    """core/v1 ValidateContainerResourceRequirements: resource names, non-negative quantities
    (whole numbers for extended resources), and each request within its limit (equal to it
    where a resource cannot be overcommitted, which then needs a limit). A limit without a
    request is also the request, as the server defaults it before validating."""
    requests = {**resources.limits, **resources.requests}
    for field, quantities in (("limits", resources.limits), ("requests", requests)):
        for name, quantity in quantities.items():
            container_resource(v, f"{path}.{field}[{name}]", name, quantity)
    for name, quantity in requests.items():
        limit: Quantity | None = resources.limits.get(name)
        if limit is not None:
            if quantity.cmp(limit) != 0 and not _can_overcommit(name):
                v.invalid(
                    f"{path}.requests",
                    str(quantity),
                    f"must be equal to {name} limit of {limit}",
                )
            elif quantity.cmp(limit) > 0:
                v.invalid(
                    f"{path}.requests",
                    str(quantity),
                    f"must be less than or equal to {name} limit of {limit}",
                )
        elif not _can_overcommit(name):
            v.required(f"{path}.limits", "Limit must be set for non overcommitable resources")


def _container_claims(v: _Validator, path: str, container: Container, names: set[str]) -> None:
    """`resources.claims` must name entries of `spec.resourceClaims`, each at most once."""
    seen: set[tuple[str, str]] = set()
    for i, ref in enumerate(container.resources.claims):
        item = _idx(path, i)
        if not ref.name:
            v.required(item)  # the server names the item, as for a name not found
            continue
        key = (ref.name, ref.request)
        if key in seen:
            v.duplicate(item, f"{ref.name}/{ref.request}" if ref.request else ref.name)
        seen.add(key)
        if ref.name not in names:
            known = ": " + ", ".join(sorted(names)) if names else " which is empty"
            v.add(
                item,
                f"Not found: {_fmt(ref.name)}: must be one of the names in "
                f"pod.spec.resourceClaims{known}",
            )
        if ref.request:
            v.dns_label(f"{item}.request", ref.request)
