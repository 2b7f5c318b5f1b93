"""API validation of ResourceSlices: node selection, devices, attributes, capacities and
request policies, counters, taints and binding conditions (spec/dra-v1.md section 4)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

import semver

from dralloc.api.quantity import Quantity
from dralloc.api.resource import (
    CapacityRequestPolicy,
    CapacityRequestPolicyRange,
    CounterSet,
    Device,
    DeviceAttribute,
    DeviceCapacity,
    DeviceCounterConsumption,
    DeviceTaint,
    ResourceSlice,
    ResourceSliceSpec,
)
from dralloc.api.validation.base import (
    _DEVICE_NODE_SELECTION_FIELDS,
    _NODE_SELECTION_FIELDS,
    ATTRIBUTE_VALUE_LENGTH_MAX,
    ATTRIBUTE_VALUES_MAX,
    ATTRIBUTES_AND_CAPACITIES_MAX,
    BINDING_CONDITIONS_MAX,
    COUNTER_CONSUMPTIONS_MAX,
    COUNTER_SETS_MAX,
    COUNTERS_PER_CONSUMPTION_MAX,
    COUNTERS_PER_SET_MAX,
    SLICE_DEVICES_MAX,
    SLICE_DEVICES_MAX_ADVANCED,
    TAINT_EFFECTS,
    TAINTS_MAX,
    VALID_VALUES_MAX,
    _byte_len,
    _fmt,
    _idx,
    _key,
    _Validator,
)
from dralloc.api.validation.times import RFC3339_LAYOUT, parse_time

# ------------------------------------------------------------------------------ ResourceSlice


def _resource_slice(v: _Validator, rs: ResourceSlice) -> None:
    v.metadata(rs.metadata, namespaced=False)
    spec = rs.spec
    v.driver_name("spec.driver", spec.driver)
    v.pool_name("spec.pool.name", spec.pool.name)
    if spec.pool.generation < 0:
        v.add(
            "spec.pool.generation",
            f"must be greater than or equal to zero, got {spec.pool.generation}",
        )
    if spec.pool.resource_slice_count <= 0:
        v.add(
            "spec.pool.resourceSliceCount",
            f"must be greater than zero, got {spec.pool.resource_slice_count}",
        )
    _slice_node_selection(v, spec)
    if spec.devices and spec.shared_counters:
        v.add("spec", "only one of `sharedCounters` or `devices` is allowed, both are set")
    _slice_devices(v, spec)
    _counter_sets(v, "spec.sharedCounters", spec.shared_counters)


def _slice_node_selection(v: _Validator, spec: ResourceSliceSpec) -> None:
    chosen: list[str] = []
    if spec.node_name is not None:
        if spec.node_name:
            chosen.append("`nodeName`")
            v.node_name("spec.nodeName", spec.node_name)
        else:
            v.invalid("spec.nodeName", "", "must be either unset or set to a non-empty string")
    if spec.node_selector is not None:
        chosen.append("`nodeSelector`")
        v.node_selector("spec.nodeSelector", spec.node_selector, one_term=True)
    for flag, name in (
        (spec.all_nodes, "allNodes"),
        (spec.per_device_node_selection, "perDeviceNodeSelection"),
    ):
        if flag is None:
            continue
        if flag:
            chosen.append(f"`{name}`")
        else:
            v.invalid(f"spec.{name}", False, "must be either unset or set to true")
    if not chosen:
        v.required("spec", _NODE_SELECTION_FIELDS)
    elif len(chosen) > 1:
        v.invalid(
            "spec", "{" + ", ".join(chosen) + "}", f"{_NODE_SELECTION_FIELDS}, but multiple are set"
        )


def _has_list_attribute(device: Device) -> bool:
    return any(
        a.ints is not None or a.bools is not None or a.strings is not None or a.versions is not None
        for a in device.attributes.values()
    )


def _slice_devices(v: _Validator, spec: ResourceSliceSpec) -> None:
    devices = spec.devices
    advanced = any(d.taints or d.consumes_counters or _has_list_attribute(d) for d in devices)
    limit = SLICE_DEVICES_MAX_ADVANCED if advanced else SLICE_DEVICES_MAX
    if len(devices) > limit:
        why = " (a slice where a device has taints, consumesCounters or list attributes)"
        v.add(
            "spec.devices",
            f"Too many: {len(devices)}: must have at most {limit} items{why if advanced else ''}",
        )
        return
    per_device = spec.per_device_node_selection is True
    for i, device in enumerate(devices):
        _device(v, _idx("spec.devices", i), device, per_device=per_device)
    v.unique("spec.devices", [d.name for d in devices])


def _counter_sets(v: _Validator, path: str, counter_sets: Sequence[CounterSet]) -> None:
    if not v.fits(path, counter_sets, COUNTER_SETS_MAX):
        return
    for i, counter_set in enumerate(counter_sets):
        v.dns_label(f"{_idx(path, i)}.name", counter_set.name)
        _counters(v, f"{_idx(path, i)}.counters", counter_set.counters, COUNTERS_PER_SET_MAX)
    v.unique(path, [s.name for s in counter_sets])


def _counters(v: _Validator, path: str, counters: Mapping[str, object], limit: int) -> None:
    """A counter map: 1..limit entries named by DNS labels (any quantity is a valid value)."""
    if not counters:
        v.required(path, "at least one counter")
        return
    if not v.fits(path, counters, limit):
        return
    for name in counters:
        v.dns_label(path, name)


def _device(v: _Validator, path: str, device: Device, *, per_device: bool) -> None:
    v.dns_label(f"{path}.name", device.name)
    entries = len(device.attributes) + len(device.capacity)
    if entries > ATTRIBUTES_AND_CAPACITIES_MAX:
        v.add(
            path,
            "the total number of attributes and capacities must not exceed "
            f"{ATTRIBUTES_AND_CAPACITIES_MAX}, got {entries}",
        )
    values = _attribute_value_count(device)
    if values > ATTRIBUTE_VALUES_MAX:
        v.add(
            path,
            f"the total number of attribute values must not exceed {ATTRIBUTE_VALUES_MAX}, "
            f"got {values}",
        )
    for key, attribute in device.attributes.items():
        v.qualified_name(f"{path}.attributes", key)
        _attribute(v, _key(f"{path}.attributes", key), attribute)
    for key, capacity in device.capacity.items():
        v.qualified_name(f"{path}.capacity", key)
        _capacity(v, _key(f"{path}.capacity", key), capacity, device)
    if v.fits(f"{path}.taints", device.taints, TAINTS_MAX):
        for i, taint in enumerate(device.taints):
            _taint(v, _idx(f"{path}.taints", i), taint)
    _counter_consumptions(v, f"{path}.consumesCounters", device.consumes_counters)
    _device_node_selection(v, path, device, per_device=per_device)
    _binding_conditions(v, path, device.binding_conditions, device.binding_failure_conditions)


def _attribute_value_count(device: Device) -> int:
    """Attribute values of a device: a scalar counts one, a list each of its elements."""
    total = 0
    for a in device.attributes.values():
        listed = sum(len(x or ()) for x in (a.ints, a.bools, a.strings, a.versions))
        total += listed or 1
    return total


def _attribute(v: _Validator, path: str, attribute: DeviceAttribute) -> None:
    present: list[str] = []
    if attribute.int_value is not None:
        present.append("int")
    if attribute.bool_value is not None:
        present.append("bool")
    if attribute.string is not None:
        present.append("string")
        _attribute_string(v, f"{path}.string", attribute.string)
    if attribute.version is not None:
        present.append("version")
        _attribute_version(v, f"{path}.version", attribute.version)
    lists: tuple[tuple[str, Sequence[object] | None], ...] = (
        ("ints", attribute.ints),
        ("bools", attribute.bools),
        ("strings", attribute.strings),
        ("versions", attribute.versions),
    )
    for name, items in lists:
        if items is None:
            continue
        present.append(name)
        if not items:
            v.add(f"{path}.{name}", "must not be empty if specified")
        for i, item in enumerate(items):
            if name == "strings" and isinstance(item, str):
                _attribute_string(v, _idx(f"{path}.{name}", i), item)
            elif name == "versions" and isinstance(item, str):
                _attribute_version(v, _idx(f"{path}.{name}", i), item)
    if len(present) != 1:
        got = f"got {len(present)} ({', '.join(present)})" if present else "got none"
        v.add(
            path,
            "exactly one value must be specified (one of int, bool, string, version, ints, "
            f"bools, strings, versions), {got}",
        )


def _attribute_string(v: _Validator, path: str, value: str) -> None:
    if _byte_len(value) > ATTRIBUTE_VALUE_LENGTH_MAX:
        v.too_long(path, ATTRIBUTE_VALUE_LENGTH_MAX)


@lru_cache(maxsize=8192)
def _is_semver(value: str) -> bool:
    try:
        semver.Version.parse(value)
    except ValueError:
        return False
    return True


def _attribute_version(v: _Validator, path: str, value: str) -> None:
    """Strict semver 2.0.0: MAJOR.MINOR.PATCH[-pre][+build], no leading zeros, no `v`."""
    if not _is_semver(value):
        v.invalid(path, value, "must be a string compatible with semver.org spec 2.0.0")
    _attribute_string(v, path, value)


def _capacity(v: _Validator, path: str, capacity: DeviceCapacity, device: Device) -> None:
    policy = capacity.request_policy
    if policy is None:
        return
    if device.allow_multiple_allocations is not True:
        v.forbidden(f"{path}.requestPolicy", "allowMultipleAllocations must be true")
        return
    _request_policy(v, f"{path}.requestPolicy", capacity.value, policy)


def _request_policy(
    v: _Validator, path: str, value: Quantity, policy: CapacityRequestPolicy
) -> None:
    """spec/dra-v1.md section 2.3, CapacityRequestPolicy, checked in upstream's order and with
    its field paths (pkg/apis/resource/validation `validateRequestPolicy`): without a default
    neither the options nor the range are looked at, and a range problem involving the default
    or max is reported at the bound it breaks (`validRange.min`, `.max` or `.step`)."""
    valid_values = policy.valid_values or []
    if valid_values and policy.valid_range is not None:
        v.forbidden(
            path,
            'exactly one policy can be specified, cannot specify "validValues" and "validRange" '
            "at the same time",
        )
        return
    if valid_values:
        if policy.default is None:
            v.required(f"{path}.default", "required when validValues is defined")
        else:
            _valid_values(v, f"{path}.validValues", value, policy.default, valid_values)
    elif policy.valid_range is not None:
        if policy.default is None:
            v.required(f"{path}.default", "required when validRange is defined")
        else:
            _valid_range(v, f"{path}.validRange", value, policy.default, policy.valid_range)


def _valid_values(
    v: _Validator, path: str, value: Quantity, default: Quantity, options: list[Quantity]
) -> None:
    for i in range(1, len(options)):
        if options[i - 1] > options[i]:
            v.invalid(_idx(path, i), options[i], "values must be sorted in ascending order")
    if v.fits(path, options, VALID_VALUES_MAX):
        for i, option in enumerate(options):
            if option > value:
                v.invalid(_idx(path, i), option, f"option is larger than capacity value: {value}")
        # Upstream keys options by their whole-number value (`Value()`, rounded up).
        v.unique(path, [str(option.ceil_int()) for option in options])
    if len(options) > VALID_VALUES_MAX or default not in options:
        v.invalid(path, default, "default value is not valid according to the requestPolicy")


def _valid_range(
    v: _Validator,
    path: str,
    value: Quantity,
    default: Quantity,
    valid_range: CapacityRequestPolicyRange,
) -> None:
    low, high, step = valid_range.min, valid_range.max, valid_range.step
    if low is None:
        v.required(f"{path}.min", "required when validRange is defined")
        return
    if low > value:
        v.invalid(f"{path}.min", low, f"min is larger than capacity value: {value}")
    if default < low:
        v.invalid(f"{path}.min", default, f"default is less than min: {low}")
    if high is not None:
        if low > high:
            v.invalid(f"{path}.max", low, f"min is larger than max: {high}")
        if high > value:
            v.invalid(f"{path}.max", high, f"max is larger than capacity value: {value}")
        if default > high:
            v.invalid(f"{path}.max", default, f"default is more than max: {high}")
    if step is None:
        return
    one_step = low + step
    if one_step > value:
        v.invalid(
            f"{path}.step", step, f"one step {one_step} is larger than capacity value: {value}"
        )
    # Upstream compares whole numbers (`Value()`, rounded up): (amount - min) % step.
    step_units = step.ceil_int()
    if step_units == 0:
        # kube-apiserver v1.36.3 divides by zero here and answers nothing (the handler
        # panics); refusing the step is the closest sensible answer.
        v.invalid(f"{path}.step", step, "must be greater than zero")
        return
    amounts = [default] if high is None else [default, high]
    for amount in amounts:
        if _go_remainder(amount.ceil_int() - low.ceil_int(), step_units):
            v.invalid(
                f"{path}.step",
                amount,
                f"value is not a multiple of a given step ({step}) from ({low})",
            )


def _go_remainder(dividend: int, divisor: int) -> int:
    """Go's `%` (truncated division: the sign follows the dividend); only zero-ness matters
    here, which Python's `%` shares, but the name keeps the intent."""
    remainder = abs(dividend) % abs(divisor)
    return -remainder if dividend < 0 else remainder


def _counter_consumptions(
    v: _Validator, path: str, consumptions: Sequence[DeviceCounterConsumption]
) -> None:
    if not v.fits(path, consumptions, COUNTER_CONSUMPTIONS_MAX):
        return
    for i, consumption in enumerate(consumptions):
        v.dns_label(f"{_idx(path, i)}.counterSet", consumption.counter_set)
        _counters(
            v, f"{_idx(path, i)}.counters", consumption.counters, COUNTERS_PER_CONSUMPTION_MAX
        )
    v.unique(path, [c.counter_set for c in consumptions])


def _device_node_selection(v: _Validator, path: str, device: Device, *, per_device: bool) -> None:
    if not per_device:
        if (
            device.node_name is not None
            or device.node_selector is not None
            or device.all_nodes is not None
        ):
            v.add(
                path,
                "`nodeName`, `nodeSelector` and `allNodes` can only be set if "
                "`perDeviceNodeSelection` is set to true in the ResourceSlice spec",
            )
        return
    chosen: list[str] = []
    if device.node_name is not None:
        if device.node_name:
            chosen.append("`nodeName`")
            v.node_name(f"{path}.nodeName", device.node_name)
        else:
            v.invalid(f"{path}.nodeName", "", "must not be empty")
    if device.node_selector is not None:
        chosen.append("`nodeSelector`")
        v.node_selector(f"{path}.nodeSelector", device.node_selector, one_term=False)
    if device.all_nodes is not None:
        if device.all_nodes:
            chosen.append("`allNodes`")
        else:
            v.invalid(f"{path}.allNodes", False, "must be either unset or set to true")
    if not chosen:
        v.required(path, _DEVICE_NODE_SELECTION_FIELDS)
    elif len(chosen) > 1:
        v.invalid(
            path,
            "{" + ", ".join(chosen) + "}",
            f"{_DEVICE_NODE_SELECTION_FIELDS}, but multiple are set",
        )


def _taint(v: _Validator, path: str, taint: DeviceTaint) -> None:
    v.label_name(f"{path}.key", taint.key)
    if taint.value:
        v.label_value(f"{path}.value", taint.value)
    if not taint.effect:
        v.required(f"{path}.effect", "one of " + ", ".join(_fmt(e) for e in TAINT_EFFECTS))
    elif taint.effect not in TAINT_EFFECTS:
        v.not_supported(f"{path}.effect", taint.effect, TAINT_EFFECTS)
    if taint.time_added is not None and parse_time(taint.time_added) is None:
        # kube-apiserver refuses the object while decoding it (a 400 naming no field).
        detail = f"must be an RFC 3339 time ({RFC3339_LAYOUT})"
        v.invalid(f"{path}.timeAdded", taint.time_added, detail)


def _binding_conditions(
    v: _Validator, path: str, conditions: Sequence[str], failure_conditions: Sequence[str]
) -> None:
    """Device and allocation-result binding conditions (KEP-5007)."""
    ok_path, failed_path = f"{path}.bindingConditions", f"{path}.bindingFailureConditions"
    for list_path, items in ((ok_path, conditions), (failed_path, failure_conditions)):
        if v.fits(list_path, items, BINDING_CONDITIONS_MAX):
            for i, condition in enumerate(items):
                v.label_name(_idx(list_path, i), condition)
        v.unique(list_path, items)
    overlap = set(conditions)
    for i, condition in enumerate(failure_conditions):
        if condition in overlap:
            v.invalid(
                _idx(failed_path, i),
                condition,
                "bindingFailureConditions must not overlap with bindingConditions",
            )
    if failure_conditions and not conditions:
        v.required(ok_path, "bindingConditions are required to use bindingFailureConditions")
    if conditions and not failure_conditions:
        v.required(failed_path, "bindingFailureConditions are required to use bindingConditions")
