"""The contract of discovery, both ways: what it asks of NVML and what it hands back.

Towards NVML: `Nvml`, the Protocol listing exactly the `pynvml` functions discovery calls (with
pynvml's names, parameter names and return shapes), the shapes of the structs they return, and
`NvmlReturn`, the `nvmlReturn_t` codes discovery reacts to. Towards callers: `Discovery` and its
`DiscoveredGpu`s, `DiscoveryError`, and the types of `discover`'s options. Declarations only:
no I/O, no `pynvml` import.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Literal, Protocol

from dralloc.api.resource import ResourceSlice
from dralloc.devices.catalog import GpuModel
from dralloc.devices.slices import PhysicalGpu
from dralloc.errors import DrallocError

__all__ = [
    "DiscoveredGpu",
    "Discovery",
    "DiscoveryError",
    "DiscoveryMigMode",
    "Nvml",
    "NvmlReturn",
    "PcieRootReader",
]

DiscoveryMigMode = Literal["static", "dynamic"]
PcieRootReader = Callable[[str], str]
"""The PCIe root complex (`pci0000:17`) of a canonical bus id (`0000:18:00.0`); raises
OSError or ValueError when it cannot tell."""

# An opaque NVML handle: a ctypes pointer (`c_nvmlDevice_t`, `c_nvmlGpuInstance_t`) in pynvml,
# anything in a fake. Only ever passed back to the NVML object that returned it.
NvmlHandle = Any


class DiscoveryError(DrallocError):
    """Node discovery failed: no NVML library, an NVML call failed, or a GPU is not what the
    catalog describes. The message names the GPU (NVML index, minor number, UUID)."""


class NvmlReturn(IntEnum):
    """The `nvmlReturn_t` codes discovery reacts to (values from nvml.h, equal to pynvml's
    `NVML_ERROR_*`); an `NVMLError`'s `value` is one of these."""

    INVALID_ARGUMENT = 2
    NOT_SUPPORTED = 3
    NO_PERMISSION = 4
    NOT_FOUND = 6
    DRIVER_NOT_LOADED = 9
    LIBRARY_NOT_FOUND = 12


class PciInfo(Protocol):
    """`nvmlPciInfo_t`; pynvml decodes the char array `busId` to str (`00000000:18:00.0`)."""

    @property
    def busId(self) -> str: ...


class MemoryInfo(Protocol):
    """`nvmlMemory_t`: `total` bytes of device memory."""

    @property
    def total(self) -> int: ...


class GpuInstancePlacement(Protocol):
    """`nvmlGpuInstancePlacement_t`: first memory slice and number of memory slices."""

    @property
    def start(self) -> int: ...

    @property
    def size(self) -> int: ...


class GpuInstanceInfo(Protocol):
    """`nvmlGpuInstanceInfo_t`: `id` is the GPU instance, `profileId` its GI profile ID."""

    @property
    def id(self) -> int: ...

    @property
    def profileId(self) -> int: ...

    @property
    def placement(self) -> GpuInstancePlacement: ...


class DeviceAttributes(Protocol):
    """`nvmlDeviceAttributes_t` of a MIG device: compute slices of its GPU and compute
    instance (equal when the compute instance spans the whole GPU instance)."""

    @property
    def gpuInstanceSliceCount(self) -> int: ...

    @property
    def computeInstanceSliceCount(self) -> int: ...


class Nvml(Protocol):
    """The part of `pynvml` discovery calls, with pynvml's names and parameter names.

    Every function but `nvmlInit` needs an initialised library (else `NVMLError` with code
    UNINITIALIZED). Failures raise `NVMLError` (`value` = the `nvmlReturn_t` code); none of
    these calls changes GPU state, so all may be repeated.
    """

    NVMLError: type[Exception]

    def nvmlInit(self) -> None:
        """Load libnvidia-ml and start a session (LIBRARY_NOT_FOUND, DRIVER_NOT_LOADED)."""

    def nvmlShutdown(self) -> None:
        """End the session nvmlInit started (UNINITIALIZED if none)."""

    def nvmlSystemGetDriverVersion(self) -> str:
        """The kernel driver's version, such as "570.172.08"."""

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        """The CUDA driver API version as 1000*major + 10*minor, such as 12080."""

    def nvmlDeviceGetCount(self) -> int:
        """How many physical GPUs NVML sees (MIG devices not counted)."""

    def nvmlDeviceGetHandleByIndex(self, index: int) -> NvmlHandle:
        """The GPU at NVML index `index` (INVALID_ARGUMENT past the count)."""

    def nvmlDeviceGetMinorNumber(self, handle: NvmlHandle) -> int:
        """The GPU's /dev/nvidia<minor> number."""

    def nvmlDeviceGetUUID(self, handle: NvmlHandle) -> str:
        """A GPU's UUID ("GPU-...") or a MIG device's ("MIG-...")."""

    def nvmlDeviceGetName(self, handle: NvmlHandle) -> str:
        """The product name, such as "NVIDIA H100 80GB HBM3"."""

    def nvmlDeviceGetPciInfo(self, handle: NvmlHandle) -> PciInfo:
        """PCI information; `busId` is the GPU's address."""

    def nvmlDeviceGetMemoryInfo(self, handle: NvmlHandle, version: int | None = None) -> MemoryInfo:
        """Memory in bytes (in MIG mode, NO_PERMISSION for unprivileged callers)."""

    def nvmlDeviceGetMigMode(self, device: NvmlHandle) -> list[int]:
        """[current, pending] MIG mode, 1 enabled; NOT_SUPPORTED on GPUs without MIG."""

    def nvmlDeviceGetMaxMigDeviceCount(self, device: NvmlHandle) -> int:
        """How many MIG device indexes to walk (7 on A100/H100)."""

    def nvmlDeviceGetMigDeviceHandleByIndex(self, device: NvmlHandle, index: int) -> NvmlHandle:
        """The MIG device at `index` (NOT_FOUND or INVALID_ARGUMENT where there is none)."""

    def nvmlDeviceGetGpuInstanceId(self, device: NvmlHandle) -> int:
        """The GPU instance a MIG device belongs to."""

    def nvmlDeviceGetGpuInstanceById(self, device: NvmlHandle, gpuInstanceId: int) -> NvmlHandle:
        """A GPU's GPU instance (NOT_FOUND, NO_PERMISSION unless privileged)."""

    def nvmlGpuInstanceGetInfo(self, gpuInstance: NvmlHandle) -> GpuInstanceInfo:
        """Profile ID and placement of a GPU instance."""

    def nvmlDeviceGetAttributes(self, device: NvmlHandle) -> DeviceAttributes:
        """Slice counts of a MIG device (MIG device handles only)."""


@dataclass(frozen=True)
class DiscoveredGpu:
    """One GPU NVML reported: its NVML index, the catalog model it matched, and what
    `SliceBuilder` is given (minor, UUID, canonical bus id, PCIe root, MIG state, memory)."""

    index: int
    model: GpuModel
    gpu: PhysicalGpu


@dataclass(frozen=True)
class Discovery:
    """What `discover` found on a node and the ResourceSlices the node publishes.

    >>> found = discover(pynvml, load_catalog(), node_name="dgx-0")   # doctest: +SKIP
    >>> [g.gpu.pci_bus_id for g in found.gpus], len(found.slices)     # doctest: +SKIP
    (['0000:18:00.0', ...], 1)

    `driver_version` and `cuda_driver_version` are semver, as published; `gpus` are in NVML
    index order; `warnings` lists what an operator should know but does not stop
    publishing (MIG mode on with no instances, a pending MIG mode change).
    """

    node_name: str
    driver_version: str
    cuda_driver_version: str
    gpus: tuple[DiscoveredGpu, ...]
    slices: tuple[ResourceSlice, ...]
    warnings: tuple[str, ...] = ()
