"""NVIDIA's opaque device configuration (`resource.nvidia.com/v1beta1`), checked as the driver
checks it.

A DeviceClass or ResourceClaim passes per-device settings to the GPU driver in
`config[].opaque` entries with `driver: gpu.nvidia.com`. The allocator does not read them: it
copies them into the allocation result (`status.allocation.devices.config`), and the driver
applies them when it prepares the devices. dralloc checks them before allocating, so that a
claim the driver would refuse at prepare time is refused up front with the field named:

* `GpuConfig` (whole GPUs) and `MigDeviceConfig` (MIG devices): `sharing.strategy` is
  `TimeSlicing` or `MPS`; `timeSlicingConfig.interval` (GPUs only) is `Default`, `Short`,
  `Medium` or `Long`; `mpsConfig.defaultActiveThreadPercentage` is 0-100 and the pinned
  memory limits are quantities of at least 1Mi, per device keyed by GPU index or UUID;
  a settings block for the other strategy is an error;
* `VfioDeviceConfig`, `ComputeDomainChannelConfig` and `ComputeDomainDaemonConfig` are known
  kinds whose fields dralloc does not model; they pass through unchecked;
* unknown fields are errors (the driver decodes strictly), as are other kinds and versions.

`effective_sharing` says which sharing the driver would set up for one allocated request: the
last applicable entry wins and claim entries come after class entries, as in the result.
A GpuConfig without `sharing` means the driver's default: time-slicing at the default interval.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from dralloc.api.quantity import Quantity, parse_quantity
from dralloc.api.resource import (
    DeviceAllocationConfiguration,
    DeviceClass,
    OpaqueDeviceConfiguration,
    ResourceClaim,
    ResourceClaimSpec,
    ResourceClaimTemplate,
)

DRIVER = "gpu.nvidia.com"
API_VERSION = "resource.nvidia.com/v1beta1"
SHARING_KINDS = ("GpuConfig", "MigDeviceConfig")
PASSTHROUGH_KINDS = ("VfioDeviceConfig", "ComputeDomainChannelConfig", "ComputeDomainDaemonConfig")
STRATEGIES = ("TimeSlicing", "MPS")
INTERVALS = ("Default", "Short", "Medium", "Long")
_MIN_PINNED = parse_quantity("1Mi")
_UUID = re.compile(r"^(GPU|MIG)-[0-9a-fA-F-]+$")

Strategy = Literal["TimeSlicing", "MPS"]


@dataclass(frozen=True)
class SharingSettings:
    """What the driver sets up for a device: the strategy and its limits (None when unset)."""

    kind: str
    strategy: Strategy
    interval: str | None = None
    active_thread_percentage: int | None = None
    pinned_memory_limit: Quantity | None = None


def config_problems(parameters: Any) -> list[tuple[str, str]]:
    """(field path relative to `parameters`, message) for every problem in one opaque config."""
    if not isinstance(parameters, dict):
        return [("", "must be an object with apiVersion and kind")]
    problems: list[tuple[str, str]] = []
    api_version = parameters.get("apiVersion")
    kind = parameters.get("kind")
    if api_version != API_VERSION:
        problems.append(("apiVersion", f"must be {API_VERSION}, got {api_version!r}"))
    if kind in PASSTHROUGH_KINDS:
        return problems
    if kind not in SHARING_KINDS:
        known = ", ".join((*SHARING_KINDS, *PASSTHROUGH_KINDS))
        return [*problems, ("kind", f"unknown kind {kind!r} (known: {known})")]
    problems.extend(_unknown(parameters, ("apiVersion", "kind", "sharing"), ""))
    sharing = parameters.get("sharing")
    if sharing is None:
        return problems
    if not isinstance(sharing, dict):
        return [*problems, ("sharing", "must be an object")]
    allowed = ["strategy", "mpsConfig"]
    if kind == "GpuConfig":
        allowed.append("timeSlicingConfig")
    problems.extend(_unknown(sharing, allowed, "sharing."))
    strategy = sharing.get("strategy")
    if strategy not in STRATEGIES:
        problems.append(
            ("sharing.strategy", f"unknown sharing strategy {strategy!r} (known: TimeSlicing, MPS)")
        )
        return problems
    time_slicing = sharing.get("timeSlicingConfig")
    mps = sharing.get("mpsConfig")
    if strategy == "TimeSlicing" and mps is not None:
        problems.append(("sharing.mpsConfig", "only valid with strategy MPS"))
    if strategy == "MPS" and time_slicing is not None:
        problems.append(("sharing.timeSlicingConfig", "only valid with strategy TimeSlicing"))
    if time_slicing is not None:
        problems.extend(_time_slicing_problems(time_slicing))
    if mps is not None:
        problems.extend(_mps_problems(mps))
    return problems


def _unknown(data: dict[str, Any], allowed: Sequence[str], prefix: str) -> list[tuple[str, str]]:
    return [
        (f"{prefix}{key}", f"unknown field (known: {', '.join(allowed)})")
        for key in data
        if key not in allowed
    ]


def _time_slicing_problems(config: Any) -> list[tuple[str, str]]:
    where = "sharing.timeSlicingConfig"
    if not isinstance(config, dict):
        return [(where, "must be an object")]
    problems = _unknown(config, ("interval",), f"{where}.")
    interval = config.get("interval")
    if interval is not None and interval not in INTERVALS:
        problems.append(
            (
                f"{where}.interval",
                f"unknown time-slice interval {interval!r} (known: {', '.join(INTERVALS)})",
            )
        )
    return problems


def _mps_problems(config: Any) -> list[tuple[str, str]]:
    where = "sharing.mpsConfig"
    if not isinstance(config, dict):
        return [(where, "must be an object")]
    known = (
        "defaultActiveThreadPercentage",
        "defaultPinnedDeviceMemoryLimit",
        "defaultPerDevicePinnedMemoryLimit",
    )
    problems = _unknown(config, known, f"{where}.")
    percentage = config.get("defaultActiveThreadPercentage")
    if percentage is not None and (
        isinstance(percentage, bool)
        or not isinstance(percentage, int)
        or not 0 <= percentage <= 100
    ):
        problems.append(
            (f"{where}.defaultActiveThreadPercentage", "must be an integer from 0 to 100")
        )
    limit = config.get("defaultPinnedDeviceMemoryLimit")
    if limit is not None:
        problems.extend(_limit_problems(limit, f"{where}.defaultPinnedDeviceMemoryLimit"))
    per_device = config.get("defaultPerDevicePinnedMemoryLimit")
    if per_device is not None:
        if not isinstance(per_device, dict):
            problems.append((f"{where}.defaultPerDevicePinnedMemoryLimit", "must be a map"))
        else:
            for key, value in per_device.items():
                path = f"{where}.defaultPerDevicePinnedMemoryLimit[{key}]"
                if not (str(key).isdigit() or _UUID.match(str(key))):
                    problems.append((path, "key must be a GPU index or a GPU/MIG UUID"))
                problems.extend(_limit_problems(value, path))
    return problems


def _limit_problems(value: Any, path: str) -> list[tuple[str, str]]:
    try:
        quantity = parse_quantity(value)
    except (ValueError, TypeError) as err:
        return [(path, f"not a quantity: {err}")]
    if quantity < _MIN_PINNED:
        return [(path, f"limit {quantity} is below the minimum of 1Mi")]
    return []


def _opaque_entries(
    obj: DeviceClass | ResourceClaim | ResourceClaimTemplate,
) -> Iterable[tuple[str, OpaqueDeviceConfiguration]]:
    if isinstance(obj, DeviceClass):
        for index, class_entry in enumerate(obj.spec.config):
            if class_entry.opaque is not None:
                yield f"spec.config[{index}].opaque", class_entry.opaque
        return
    spec: ResourceClaimSpec = obj.spec if isinstance(obj, ResourceClaim) else obj.spec.spec
    prefix = "spec" if isinstance(obj, ResourceClaim) else "spec.spec"
    for index, claim_entry in enumerate(spec.devices.config):
        if claim_entry.opaque is not None:
            yield f"{prefix}.devices.config[{index}].opaque", claim_entry.opaque


def object_config_problems(obj: object) -> list[tuple[str, str]]:
    """(field path, message) for every NVIDIA opaque config in a class, claim or template."""
    if not isinstance(obj, DeviceClass | ResourceClaim | ResourceClaimTemplate):
        return []
    problems = []
    for path, opaque in _opaque_entries(obj):
        if opaque.driver != DRIVER:
            continue
        for field, message in config_problems(opaque.parameters):
            full = f"{path}.parameters" + (f".{field}" if field else "")
            problems.append((full, message))
    return problems


def _applies(entry: DeviceAllocationConfiguration, request: str) -> bool:
    return (
        not entry.requests
        or request in entry.requests
        or ("/" in request and request.split("/", 1)[0] in entry.requests)
    )


def effective_sharing(
    config: Sequence[DeviceAllocationConfiguration], request: str, device_type: str
) -> SharingSettings | None:
    """The sharing the driver sets up for `request`'s device, from an allocation's config.

    `device_type` is the device's `type` attribute (`gpu` or `mig`): a GpuConfig applies to
    whole GPUs and a MigDeviceConfig to MIG devices. None means no applicable config.
    """
    wanted = {"gpu": "GpuConfig", "mig": "MigDeviceConfig"}.get(device_type)
    ordered = [e for e in config if e.source == "FromClass"] + [
        e for e in config if e.source != "FromClass"
    ]
    chosen: dict[str, Any] | None = None
    for entry in ordered:
        opaque = entry.opaque
        if opaque is None or opaque.driver != DRIVER or not _applies(entry, request):
            continue
        parameters = opaque.parameters
        if isinstance(parameters, dict) and parameters.get("kind") == wanted:
            chosen = parameters
    if chosen is None or wanted is None:
        return None
    sharing = chosen.get("sharing") or {"strategy": "TimeSlicing"}
    strategy: Strategy = "MPS" if sharing.get("strategy") == "MPS" else "TimeSlicing"
    if strategy == "TimeSlicing":
        interval = (sharing.get("timeSlicingConfig") or {}).get("interval") or "Default"
        return SharingSettings(kind=wanted, strategy=strategy, interval=interval)
    mps = sharing.get("mpsConfig") or {}
    limit = mps.get("defaultPinnedDeviceMemoryLimit")
    return SharingSettings(
        kind=wanted,
        strategy=strategy,
        active_thread_percentage=mps.get("defaultActiveThreadPercentage"),
        pinned_memory_limit=parse_quantity(limit) if limit is not None else None,
    )


def config_mismatches(
    config: Sequence[DeviceAllocationConfiguration], request: str, device_type: str
) -> list[str]:
    """Applicable NVIDIA configs of the wrong kind for the device: the driver refuses to prepare
    a MIG device with a GpuConfig, or a whole GPU with a MigDeviceConfig."""
    wanted = {"gpu": "GpuConfig", "mig": "MigDeviceConfig"}.get(device_type)
    problems = []
    for entry in config:
        opaque = entry.opaque
        if opaque is None or opaque.driver != DRIVER or not _applies(entry, request):
            continue
        parameters = opaque.parameters
        kind = parameters.get("kind") if isinstance(parameters, dict) else None
        if kind in SHARING_KINDS and kind != wanted:
            problems.append(
                f"a {kind} (config from {entry.source}) cannot configure a {device_type} device; "
                f"the driver would fail to prepare it"
            )
    return problems
