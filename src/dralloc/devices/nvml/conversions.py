"""NVML's values in the form the NVIDIA DRA driver publishes them, and the PCIe root read
from sysfs (the package docstring gives each rule and its source).

`normalize_driver_version`, `format_cuda_version` and `normalize_bus_id` are pure and raise
`DiscoveryError` for a value NVML should never return; `read_pcie_root` reads one sysfs link
and changes nothing.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from dralloc.devices.nvml.protocol import DiscoveryError

__all__ = [
    "format_cuda_version",
    "normalize_bus_id",
    "normalize_driver_version",
    "read_pcie_root",
]

_DRIVER_VERSION = re.compile(r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?$")
_BUS_ID = re.compile(
    r"^(?P<domain>[0-9a-fA-F]{4,8}):(?P<bus>[0-9a-fA-F]{2}):(?P<device>[0-9a-fA-F]{2})"
    r"\.(?P<function>[0-7])$"
)


def normalize_driver_version(text: str) -> str:
    """NVML's driver version as the semver the driver publishes: `570.172.08` -> `570.172.8`.

    Each part is read as an integer (leading zeros dropped) and missing parts are 0, as the
    Masterminds semver parser the driver uses does. DiscoveryError for anything else.
    """
    match = _DRIVER_VERSION.match(text.strip())
    if match is None:
        raise DiscoveryError(f"NVML driver version {text!r} is not a version such as 570.172.08")
    return ".".join(str(int(part or "0")) for part in match.groups())


def format_cuda_version(value: int) -> str:
    """NVML's CUDA driver version (1000*major + 10*minor) as semver: 12080 -> `12.8.0`."""
    if value <= 0:
        raise DiscoveryError(f"NVML CUDA driver version {value} is not a version such as 12080")
    return f"{value // 1000}.{value % 1000 // 10}.0"


def normalize_bus_id(text: str) -> str:
    """NVML's `busId` as the `resource.kubernetes.io/pciBusID` value: lowercase with a
    4-digit domain, `00000000:18:00.0` -> `0000:18:00.0` (sysfs's form)."""
    match = _BUS_ID.match(text.strip())
    if match is None:
        raise DiscoveryError(f"NVML PCI bus id {text!r} is not of the form 00000000:18:00.0")
    domain = int(match["domain"], 16)
    return f"{domain:04x}:{match['bus'].lower()}:{match['device'].lower()}.{match['function']}"


def read_pcie_root(bus_id: str, *, sysfs: Path | str = "/sys") -> str:
    """The PCIe root complex of `bus_id` read from sysfs, as Kubernetes' deviceattribute
    package reads it: `/sys/bus/pci/devices/0000:18:00.0` links to
    `/sys/devices/pci0000:17/0000:17:01.0/0000:18:00.0`, whose first component under
    `/sys/devices` (`pci0000:17`) is the root.

    Raises OSError when the link cannot be read and ValueError when it points elsewhere.
    """
    link = os.path.join(sysfs, "bus", "pci", "devices", bus_id)
    target = os.path.normpath(os.path.join(os.path.dirname(link), os.readlink(link)))
    devices = os.path.normpath(os.path.join(sysfs, "devices"))
    relative = os.path.relpath(target, devices)
    root = relative.split(os.sep)[0]
    if relative.startswith(os.pardir) or not root.startswith("pci") or root == relative:
        raise ValueError(f"{link} links to {target}, not to a device under {devices}/pci*")
    if os.path.basename(target) != bus_id:
        raise ValueError(f"{link} links to {target}, which does not end in {bus_id}")
    return root
