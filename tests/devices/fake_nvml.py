"""A fake NVML for discovery tests: the `pynvml` functions `dralloc.devices.nvml` calls, with
pynvml's names, parameter names and return shapes, backed by a description of fake GPUs.

Faithful where discovery depends on it:

* strings come back as `str` (nvidia-ml-py decodes char buffers), C structs as objects with
  the struct's field names (`.busId`, `.total`, `.profileId`, `.placement.start`);
* failures raise `pynvml.NVMLError(code)`, which pynvml turns into the code's subclass
  (`NVMLError_NotSupported`, ...), with the codes real NVML returns: UNINITIALIZED before
  `nvmlInit` (and for `nvmlShutdown` without one), LIBRARY_NOT_FOUND from `nvmlInit` without
  libnvidia-ml, NOT_SUPPORTED for MIG queries on a GPU without MIG, NOT_FOUND for an empty MIG
  device index, INVALID_ARGUMENT for an index past the count, NO_PERMISSION for MIG GPU
  instance queries by an unprivileged caller;
* a GPU instance's profile ID is the ID `nvidia-smi mig -lgip` shows (19 for 1g.10gb), not
  pynvml's `NVML_GPU_INSTANCE_PROFILE_*` index; a GPU instance ID is separate from it.

`calls` records every function called, in order, so tests can check the session is shut down.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

import pynvml

_P = ParamSpec("_P")
_R = TypeVar("_R")

MIB = 1 << 20
H100_NAME = "NVIDIA H100 80GB HBM3"
H100_MEMORY = 81559 * MIB  # what NVML reports for an H100 SXM5 80GB (nvidia-smi: 81559MiB)

# H100 SXM5 GPU-instance profiles as `nvidia-smi mig -lgip` lists them (spec/devices.md 3.2):
# GI profile ID -> (name, memory slices, compute slices, memory MiB).
H100_GI_PROFILES: dict[int, tuple[str, int, int, int]] = {
    19: ("1g.10gb", 1, 1, 9984),
    20: ("1g.10gb+me", 1, 1, 9984),
    15: ("1g.20gb", 2, 1, 20096),
    14: ("2g.20gb", 2, 2, 20096),
    9: ("3g.40gb", 4, 3, 40448),
    5: ("4g.40gb", 4, 4, 40448),
    0: ("7g.80gb", 8, 7, 81152),
}


@dataclass(frozen=True)
class FakeMigDevice:
    """One MIG device: GPU instance `gpu_instance_id` of GI profile `profile_id` at memory
    slices `start`..`start+size-1`, holding one compute instance of `ci_slices` compute slices
    (None: the whole GPU instance). `gi_slices` is the GPU instance's compute slices."""

    profile_id: int
    start: int
    size: int
    uuid: str
    gpu_instance_id: int
    gi_slices: int
    ci_slices: int | None = None
    name: str = "?"
    memory_mib: int = 0


def h100_mig(
    profile: str, start: int, *, uuid: str, gpu_instance_id: int, ci_slices: int | None = None
) -> FakeMigDevice:
    """An H100 MIG device of `profile` (such as "3g.40gb") at `start`."""
    for profile_id, (name, size, compute, memory) in H100_GI_PROFILES.items():
        if name == profile:
            return FakeMigDevice(
                profile_id=profile_id,
                start=start,
                size=size,
                uuid=uuid,
                gpu_instance_id=gpu_instance_id,
                gi_slices=compute,
                ci_slices=ci_slices,
                name=name,
                memory_mib=memory,
            )
    raise KeyError(profile)


@dataclass(frozen=True)
class FakeGpu:
    """One physical GPU. `bus_id` is in NVML's form (`00000000:18:00.0`); `mig_mode` is
    (current, pending), 1 for enabled; a GPU that is not `mig_capable` has no MIG mode."""

    minor: int
    uuid: str
    bus_id: str
    name: str = H100_NAME
    memory_total: int = H100_MEMORY
    mig_capable: bool = True
    mig_mode: tuple[int, int] = (0, 0)
    mig_devices: tuple[FakeMigDevice, ...] = ()
    max_mig_devices: int = 7


# ----------------------------------------------------------------- handles and C structs


@dataclass(frozen=True)
class _DeviceHandle:
    index: int


@dataclass(frozen=True)
class _MigHandle:
    gpu: int
    index: int


@dataclass(frozen=True)
class _GpuInstanceHandle:
    gpu: int
    gpu_instance_id: int


@dataclass(frozen=True)
class PciInfo:
    """`nvmlPciInfo_t` (v3), char arrays decoded as pynvml's `_PrintableStructure` does."""

    busIdLegacy: str
    domain: int
    bus: int
    device: int
    pciDeviceId: int
    pciSubSystemId: int
    busId: str


@dataclass(frozen=True)
class Memory:
    """`nvmlMemory_t`."""

    total: int
    free: int
    used: int


@dataclass(frozen=True)
class Memory_v2:  # pynvml's struct name
    """`nvmlMemory_v2_t`."""

    version: int
    total: int
    reserved: int
    free: int
    used: int


@dataclass(frozen=True)
class GpuInstancePlacement:
    """`nvmlGpuInstancePlacement_t`."""

    start: int
    size: int


@dataclass(frozen=True)
class GpuInstanceInfo:
    """`nvmlGpuInstanceInfo_t`."""

    device: Any
    id: int
    profileId: int
    placement: GpuInstancePlacement


@dataclass(frozen=True)
class DeviceAttributes:
    """`nvmlDeviceAttributes_t` of a MIG device."""

    multiprocessorCount: int
    sharedCopyEngineCount: int
    sharedDecoderCount: int
    sharedEncoderCount: int
    sharedJpegCount: int
    sharedOfaCount: int
    gpuInstanceSliceCount: int
    computeInstanceSliceCount: int
    memorySizeMB: int


def _fail(code: int) -> pynvml.NVMLError:
    return pynvml.NVMLError(code)


def _api(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """Records the call and, like NVML, refuses it before `nvmlInit`."""

    @functools.wraps(function)  # keeps the name and, for inspect.signature, the parameters
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        fake = args[0]
        assert isinstance(fake, FakeNvml)
        fake.calls.append(function.__name__)
        if fake._sessions == 0:
            raise _fail(pynvml.NVML_ERROR_UNINITIALIZED)
        return function(*args, **kwargs)

    return wrapper


@dataclass
class FakeNvml:
    """The pynvml functions discovery uses, over `gpus` (in NVML index order).

    `library_found=False` makes `nvmlInit` fail as it does without libnvidia-ml;
    `privileged=False` makes MIG GPU-instance and MIG-mode memory queries fail with
    NO_PERMISSION, as they do for a non-root caller.
    """

    gpus: Sequence[FakeGpu]
    driver_version: str = "570.172.08"
    cuda_driver_version: int = 12080
    library_found: bool = True
    privileged: bool = True
    calls: list[str] = field(default_factory=list)
    _sessions: int = 0

    NVMLError = pynvml.NVMLError

    # ------------------------------------------------------------------ library and system

    def nvmlInit(self) -> None:
        self.calls.append("nvmlInit")
        if not self.library_found:
            raise _fail(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)
        self._sessions += 1

    def nvmlShutdown(self) -> None:
        self.calls.append("nvmlShutdown")
        if self._sessions == 0:
            raise _fail(pynvml.NVML_ERROR_UNINITIALIZED)
        self._sessions -= 1

    @property
    def initialized(self) -> bool:
        return self._sessions > 0

    @_api
    def nvmlSystemGetDriverVersion(self) -> str:
        return self.driver_version

    @_api
    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return self.cuda_driver_version

    # ---------------------------------------------------------------------------- devices

    @_api
    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    @_api
    def nvmlDeviceGetHandleByIndex(self, index: int) -> _DeviceHandle:
        if not 0 <= index < len(self.gpus):
            raise _fail(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return _DeviceHandle(index)

    def _gpu(self, handle: object) -> FakeGpu:
        if not isinstance(handle, _DeviceHandle):
            raise _fail(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return self.gpus[handle.index]

    def _mig(self, handle: object) -> tuple[FakeGpu, FakeMigDevice]:
        if not isinstance(handle, _MigHandle):
            raise _fail(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        gpu = self.gpus[handle.gpu]
        return gpu, gpu.mig_devices[handle.index]

    @_api
    def nvmlDeviceGetMinorNumber(self, handle: object) -> int:
        if isinstance(handle, _MigHandle):
            raise _fail(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return self._gpu(handle).minor

    @_api
    def nvmlDeviceGetUUID(self, handle: object) -> str:
        if isinstance(handle, _MigHandle):
            return self._mig(handle)[1].uuid
        return self._gpu(handle).uuid

    @_api
    def nvmlDeviceGetName(self, handle: object) -> str:
        if isinstance(handle, _MigHandle):
            gpu, mig = self._mig(handle)
            return f"{gpu.name} MIG {mig.name}"
        return self._gpu(handle).name

    @_api
    def nvmlDeviceGetPciInfo(self, handle: object) -> PciInfo:
        gpu = self._gpu(handle)
        domain, bus, rest = gpu.bus_id.split(":")
        device = rest.split(".")[0]
        return PciInfo(
            busIdLegacy=f"{int(domain, 16):04X}:{bus}:{device}.0",
            domain=int(domain, 16),
            bus=int(bus, 16),
            device=int(device, 16),
            pciDeviceId=0x233010DE,
            pciSubSystemId=0x16C110DE,
            busId=gpu.bus_id,
        )

    @_api
    def nvmlDeviceGetMemoryInfo(
        self, handle: object, version: int | None = None
    ) -> Memory | Memory_v2:
        gpu = self._gpu(handle)
        if gpu.mig_mode[0] == pynvml.NVML_DEVICE_MIG_ENABLE and not self.privileged:
            raise _fail(pynvml.NVML_ERROR_NO_PERMISSION)
        used = 0
        if version:
            reserved = 512 * MIB
            free = gpu.memory_total - reserved
            return Memory_v2(version, gpu.memory_total, reserved, free, used)
        return Memory(gpu.memory_total, gpu.memory_total, used)

    # -------------------------------------------------------------------------------- MIG

    @_api
    def nvmlDeviceGetMigMode(self, device: object) -> list[int]:
        gpu = self._gpu(device)
        if not gpu.mig_capable:
            raise _fail(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return list(gpu.mig_mode)

    @_api
    def nvmlDeviceGetMaxMigDeviceCount(self, device: object) -> int:
        gpu = self._gpu(device)
        if not gpu.mig_capable:
            raise _fail(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return gpu.max_mig_devices

    @_api
    def nvmlDeviceGetMigDeviceHandleByIndex(self, device: object, index: int) -> _MigHandle:
        gpu = self._gpu(device)
        if not gpu.mig_capable:
            raise _fail(pynvml.NVML_ERROR_NOT_SUPPORTED)
        if not 0 <= index < gpu.max_mig_devices:
            raise _fail(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        enabled = gpu.mig_mode[0] == pynvml.NVML_DEVICE_MIG_ENABLE
        if not enabled or index >= len(gpu.mig_devices):
            raise _fail(pynvml.NVML_ERROR_NOT_FOUND)
        assert isinstance(device, _DeviceHandle)
        return _MigHandle(device.index, index)

    @_api
    def nvmlDeviceGetGpuInstanceId(self, device: object) -> int:
        return self._mig(device)[1].gpu_instance_id

    @_api
    def nvmlDeviceGetGpuInstanceById(
        self, device: object, gpuInstanceId: int
    ) -> _GpuInstanceHandle:
        gpu = self._gpu(device)
        if not gpu.mig_capable:
            raise _fail(pynvml.NVML_ERROR_NOT_SUPPORTED)
        if not self.privileged:
            raise _fail(pynvml.NVML_ERROR_NO_PERMISSION)
        if all(m.gpu_instance_id != gpuInstanceId for m in gpu.mig_devices):
            raise _fail(pynvml.NVML_ERROR_NOT_FOUND)
        assert isinstance(device, _DeviceHandle)
        return _GpuInstanceHandle(device.index, gpuInstanceId)

    @_api
    def nvmlGpuInstanceGetInfo(self, gpuInstance: object) -> GpuInstanceInfo:
        if not isinstance(gpuInstance, _GpuInstanceHandle):
            raise _fail(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        gpu = self.gpus[gpuInstance.gpu]
        mig = next(m for m in gpu.mig_devices if m.gpu_instance_id == gpuInstance.gpu_instance_id)
        return GpuInstanceInfo(
            device=_DeviceHandle(gpuInstance.gpu),
            id=mig.gpu_instance_id,
            profileId=mig.profile_id,
            placement=GpuInstancePlacement(mig.start, mig.size),
        )

    @_api
    def nvmlDeviceGetAttributes(self, device: object) -> DeviceAttributes:
        if not isinstance(device, _MigHandle):
            raise _fail(pynvml.NVML_ERROR_NOT_SUPPORTED)  # MIG device handles only
        _, mig = self._mig(device)
        compute = mig.gi_slices if mig.ci_slices is None else mig.ci_slices
        # Engine counts are not modelled: discovery reads only the slice counts.
        return DeviceAttributes(
            multiprocessorCount=0,
            sharedCopyEngineCount=0,
            sharedDecoderCount=0,
            sharedEncoderCount=0,
            sharedJpegCount=0,
            sharedOfaCount=0,
            gpuInstanceSliceCount=mig.gi_slices,
            computeInstanceSliceCount=compute,
            memorySizeMB=mig.memory_mib,
        )
