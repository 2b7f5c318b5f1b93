"""Which mechanism protects each allocated GPU device: "accounted" and "enforced" kept apart.

Users of shared GPUs are misled when a scheduler books 30% of a GPU that nothing enforces.
For every device of an allocated claim this module names the isolation mechanism and two
shares of the device:

* `accounted`: what the allocation books, i.e. the result's `consumedCapacity` on a shared
  device, or the whole device's capacities on a dedicated one;
* `enforced`: what hardware or the driver actually guarantees the claim:
  - `exclusive` (whole GPU, no sharing config) and `mig` (a MIG instance, protected by the
    hardware): the device's own capacities;
  - `mps` and `mig+mps`: the MPS limits (active-thread percentage and pinned device memory):
    the MPS config's where it sets them (the driver applies those), else the amounts booked
    on a device published as MPS-shared; a config allowing more than was booked is listed
    in `problems`;
  - `time-slicing` and `mig+time-slicing`: nothing per sharer, since time-slicing partitions
    neither memory nor compute (inside a MIG instance the instance still bounds all sharers
    together, which `note` says);
  - `none`: fractional sharing that only the scheduler accounts for (the device publishes
    `dralloc.io/sharing: fractional`; KAI-style) -- nothing is enforced.

The mechanism comes from the device (`type` attribute, `dralloc.io/sharing`) and the
NVIDIA opaque config that applies to the request (`nvidia_config.effective_sharing`); a
config overrides what the device publishes. Devices of other drivers are `exclusive` when
dedicated and `none` when shared.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from dralloc.api.quantity import Quantity
from dralloc.api.resource import AllocationResult, Device, ResourceClaim
from dralloc.devices.nvidia_config import DRIVER, config_mismatches, effective_sharing
from dralloc.devices.slices import SHARING_ATTRIBUTE

Mechanism = Literal[
    "exclusive", "mig", "mps", "mig+mps", "time-slicing", "mig+time-slicing", "none"
]
DeviceKey = tuple[str, str, str]


@dataclass(frozen=True)
class DeviceIsolation:
    request: str
    device: str  # driver/pool/device
    mechanism: Mechanism
    accounted: dict[str, str] = field(default_factory=dict)
    enforced: dict[str, str] = field(default_factory=dict)
    note: str = ""
    problems: tuple[str, ...] = ()  # configs the driver would refuse when preparing the device

    def to_dict(self) -> dict[str, object]:
        """camelCase form for annotations and structured output."""
        out: dict[str, object] = {
            "request": self.request,
            "device": self.device,
            "mechanism": self.mechanism,
            "accounted": self.accounted,
            "enforced": self.enforced,
        }
        if self.note:
            out["note"] = self.note
        if self.problems:
            out["problems"] = list(self.problems)
        return out


def _string(device: Device, name: str) -> str | None:
    attribute = device.attributes.get(name)
    return attribute.string if attribute is not None else None


def claim_isolation(
    claim: ResourceClaim, devices: Mapping[DeviceKey, Device]
) -> list[DeviceIsolation]:
    """One entry per device result of `claim`'s allocation (empty when unallocated)."""
    allocation = claim.status.allocation
    return allocation_isolation(allocation, devices) if allocation is not None else []


def allocation_isolation(
    allocation: AllocationResult, devices: Mapping[DeviceKey, Device]
) -> list[DeviceIsolation]:
    """One entry per device result of `allocation`.

    `devices` maps (driver, pool, device name) to the published device.
    """
    config = allocation.devices.config
    found = []
    for result in allocation.devices.results:
        name = f"{result.driver}/{result.pool}/{result.device}"
        device = devices.get((result.driver, result.pool, result.device))
        capacity = {
            key: str(value.value) for key, value in (device.capacity if device else {}).items()
        }
        consumed = {key: str(value) for key, value in result.consumed_capacity.items()}
        accounted = consumed if result.share_id is not None else capacity
        if device is None or result.driver != DRIVER:
            mechanism: Mechanism = "none" if result.share_id else "exclusive"
            enforced = {} if result.share_id else capacity
            found.append(DeviceIsolation(result.request, name, mechanism, accounted, enforced))
            continue
        device_type = _string(device, "type") or "gpu"
        settings = effective_sharing(config, result.request, device_type)
        mismatches = config_mismatches(config, result.request, device_type)
        published = _string(device, SHARING_ATTRIBUTE)
        if settings is not None:
            strategy = "mps" if settings.strategy == "MPS" else "time-slicing"
        elif published in ("mps", "time-slicing", "fractional"):
            strategy = published
        else:
            strategy = "exclusive"
        is_mig = device_type == "mig"
        if strategy == "exclusive":
            found.append(
                DeviceIsolation(
                    result.request, name, "mig" if is_mig else "exclusive", accounted, capacity
                )
            )
        elif strategy == "time-slicing":
            found.append(
                DeviceIsolation(
                    result.request,
                    name,
                    "mig+time-slicing" if is_mig else "time-slicing",
                    accounted,
                    {},
                    "the MIG instance bounds all sharers together" if is_mig else "",
                )
            )
        elif strategy == "mps":
            limits: dict[str, str] = {}
            # The driver's MPS daemon applies the config's limits where the config sets them;
            # otherwise, on a device that is itself MPS-shared, the booked amounts are the limits.
            booked = consumed if published == "mps" else {}
            percentage = booked.get("activeThreadPercentage")
            pinned = booked.get("memory")
            if settings is not None and settings.active_thread_percentage is not None:
                configured = str(settings.active_thread_percentage)
                if percentage is not None and settings.active_thread_percentage > int(percentage):
                    mismatches.append(
                        f"the MPS config sets activeThreadPercentage {configured}, more than the "
                        f"{percentage} this claim booked"
                    )
                percentage = configured
            if settings is not None and settings.pinned_memory_limit is not None:
                limit = settings.pinned_memory_limit
                if pinned is not None and limit > Quantity.parse(pinned):
                    mismatches.append(
                        f"the MPS config sets a pinned memory limit of {limit}, more than the "
                        f"{pinned} of memory this claim booked"
                    )
                pinned = str(limit)
            note = ""
            if settings is None or (
                settings.active_thread_percentage is None and settings.pinned_memory_limit is None
            ):
                note = (
                    "limits as booked, in dralloc's MPS sharing model; NVIDIA's driver itself "
                    "applies only the limits a GpuConfig/MigDeviceConfig mpsConfig sets"
                    if booked
                    else ""
                )
            limits["activeThreadPercentage"] = percentage or "100"
            if pinned is not None:
                limits["pinnedMemoryLimit"] = pinned
            found.append(
                DeviceIsolation(
                    result.request, name, "mig+mps" if is_mig else "mps", accounted, limits, note
                )
            )
        else:
            found.append(
                DeviceIsolation(
                    result.request,
                    name,
                    "none",
                    accounted,
                    {},
                    "fractional share accounted by the scheduler only; nothing enforces it",
                )
            )
        if mismatches:
            found[-1] = replace(found[-1], problems=tuple(mismatches))
    return found


_COMPUTE_MODE = {
    "mps": "MPS",
    "mig+mps": "MPS",
    "time-slicing": "time-slicing",
    "mig+time-slicing": "time-slicing",
}


def with_mode_conflicts(
    new: list[DeviceIsolation], holders: Mapping[str, list[tuple[str, DeviceIsolation]]]
) -> list[DeviceIsolation]:
    """`new` with a problem on every device that others already share under another compute
    mode: a GPU or MIG instance runs either MPS (EXCLUSIVE_PROCESS) or time-slicing, so the
    driver cannot prepare a second mode there even though the allocator accepts the share.

    `holders` maps a device (`driver/pool/device`) to (claim, isolation) of its current users.
    """
    checked = []
    for entry in new:
        mode = _COMPUTE_MODE.get(entry.mechanism)
        others: dict[str, list[str]] = {}
        for claim, other in holders.get(entry.device, ()):
            other_mode = _COMPUTE_MODE.get(other.mechanism)
            if mode is not None and other_mode is not None and other_mode != mode:
                others.setdefault(other_mode, []).append(claim)
        conflicts = tuple(
            f"{entry.device} already runs {other_mode} for {', '.join(claims)}; a GPU or MIG "
            f"instance runs one compute mode, so the driver cannot add {mode} there"
            for other_mode, claims in others.items()
        )
        checked.append(
            replace(entry, problems=(*entry.problems, *conflicts)) if conflicts else entry
        )
    return checked
