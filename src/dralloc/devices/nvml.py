"""Node agent discovery: the GPUs a node really has, read through NVML, as ResourceSlices.

This module owns one step: asking NVML (the `pynvml` module of `nvidia-ml-py`) what GPUs,
MIG mode and MIG devices a node has, matching them to the catalog and handing them to
`SliceBuilder`, so that a real node publishes exactly the slices the catalog would generate
for the same hardware. It does I/O only through the NVML object it is given and the PCIe-root
reader (sysfs by default); it never changes GPU state (no MIG mode switch, no instance created
or destroyed) and keeps no module-level state. It imports no `pynvml` except lazily, in
`discover_with_pynvml`, so importing dralloc never needs the NVIDIA library.

Design
------
* `discover(nvml, catalog, node_name=..., mig=...)` takes anything shaped like the `pynvml`
  module: `Nvml` is a Protocol listing exactly the functions called (with pynvml's names,
  parameter names and return shapes) plus its `NVMLError` class, whose `value` is the
  `nvmlReturn_t` code. Production passes the module itself; tests pass a fake
  (`tests/devices/fake_nvml.py`). Errors are reacted to by code (`NvmlReturn`), as the
  NVIDIA DRA driver does (`cmd/gpu-kubelet-plugin/nvlib.go`).
* One NVML session: `nvmlInit`, read everything, `nvmlShutdown` in a `finally` (only after a
  successful init: NVML refuses to shut down what it never started).
* Per GPU (NVML index 0..count-1): minor number, UUID, name, PCI bus id, memory, MIG mode
  and, in MIG mode, its MIG devices. Conversions follow the driver:

  - product name -> catalog model (`Catalog.gpu_by_product_name`); an unknown name is an
    error saying how to add the model to `gpus.yaml`;
  - driver version: parsed the way the driver's semver library (Masterminds) parses it, each
    part an integer: `570.172.08` -> `570.172.8`, `470.82` -> `470.82.0`;
  - CUDA driver version: `nvmlSystemGetCudaDriverVersion` (12080) -> `12.8` (major = v/1000,
    minor = v%1000/10, as `nvlib.go` formats it) -> semver `12.8.0`;
  - PCI bus id: NVML's `busId` (`00000000:18:00.0`) lowercased with the 8-digit domain cut
    to 4 digits, as go-nvlib's `GetPCIBusID` does -> `0000:18:00.0`;
  - pcieRoot: not derivable from the bus id (a GPU at bus 18 sits under root bus 17 on one
    board and 10 on another, behind any number of switches). Like
    `k8s.io/dynamic-resource-allocation/deviceattribute`, `read_pcie_root` reads sysfs:
    `/sys/bus/pci/devices/<bus id>` links to `/sys/devices/pci<domain>:<bus>/.../<bus id>`,
    and the first component is the root complex (`pci0000:17`). `pcie_root=` injects another
    reader (tests, agents without `/sys`); a GPU whose root cannot be read is an error
    rather than a made-up value, because `matchAttribute` on the root groups devices by it;
  - memory: NVML's total (`nvmlDeviceGetMemoryInfo().total`), as the driver publishes it;
  - MIG mode: `nvmlDeviceGetMigMode` current mode; `NOT_SUPPORTED` means a GPU without MIG;
  - MIG devices, walked like the driver's `walkMigDevices` (indexes up to
    `nvmlDeviceGetMaxMigDeviceCount`, skipping `NOT_FOUND`/`INVALID_ARGUMENT`): each one's
    GPU instance (`nvmlDeviceGetGpuInstanceId` -> `nvmlDeviceGetGpuInstanceById` ->
    `nvmlGpuInstanceGetInfo`) gives the GI profile ID (19 for 1g.10gb, as
    `nvidia-smi mig -lgip` lists it) and the placement (start, size), mapped to
    `MigInstance(Placement(catalog profile, start), MIG uuid)`. A profile ID, start or size
    the catalog does not know, a GPU instance split into several compute instances, or a
    compute instance smaller than its GPU instance (`nvmlDeviceGetAttributes`) is an error
    naming the GPU: the driver's profiles cover only full-size compute instances, and a
    device dralloc cannot describe must not be published wrongly.
* Slices come from `SliceBuilder` with NVML's versions. `mig="static"` (the driver's
  default): GPUs in MIG mode publish their existing instances, others the whole GPU.
  `mig="dynamic"` (DynamicMIG): every MIG-capable GPU publishes the full abstract layout and
  its counter set, whatever instances exist (in a running cluster those belong to allocated
  claims, which the allocator already accounts for); GPUs without MIG publish whole.
* Mixed models on one node: the driver publishes one pool per node. `SliceBuilder` takes one
  model, so each model's GPUs are built separately and merged into one pool: the counter
  sets into one counters-only slice, whole-GPU and static-MIG devices into one slice, the
  DynamicMIG per-GPU slices kept, and `resourceSliceCount` recomputed. A node with one model
  gets exactly `SliceBuilder.node_slices`'s slices.

Errors reach users as `DiscoveryError` (a `DrallocError`): the library is missing, NVML
failed a call (named, with the GPU), or the hardware is not what the catalog describes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

import msgspec

from dralloc.api.quantity import Format, Quantity
from dralloc.api.resource import ResourcePool, ResourceSlice
from dralloc.devices.catalog import Catalog, GpuModel, MigProfile, load_catalog
from dralloc.devices.mig import Placement, fits_together
from dralloc.devices.slices import MigInstance, MigMode, PhysicalGpu, Sharing, SliceBuilder
from dralloc.errors import DrallocError, NotFoundError

__all__ = [
    "DiscoveredGpu",
    "Discovery",
    "DiscoveryError",
    "DiscoveryMigMode",
    "Nvml",
    "NvmlReturn",
    "PcieRootReader",
    "discover",
    "discover_with_pynvml",
    "format_cuda_version",
    "normalize_bus_id",
    "normalize_driver_version",
    "read_pcie_root",
]

DiscoveryMigMode = Literal["static", "dynamic"]
PcieRootReader = Callable[[str], str]
"""The PCIe root complex (`pci0000:17`) of a canonical bus id (`0000:18:00.0`); raises
OSError or ValueError when it cannot tell."""

# An opaque NVML handle: a ctypes pointer (`c_nvmlDevice_t`, `c_nvmlGpuInstance_t`) in pynvml,
# anything in a fake. Only ever passed back to the NVML object that returned it.
NvmlHandle = Any

_NVML_DEVICE_MIG_ENABLE = 1  # nvml.h NVML_DEVICE_MIG_ENABLE
_T = TypeVar("_T")


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


# ------------------------------------------------------------------------------- conversions

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


# --------------------------------------------------------------------------------- discovery


def discover(
    nvml: Nvml,
    catalog: Catalog,
    *,
    node_name: str,
    mig: DiscoveryMigMode = "static",
    sharing: Sharing | None = None,
    pcie_root: PcieRootReader = read_pcie_root,
    generation: int = 1,
) -> Discovery:
    """Read the node's GPUs through `nvml` and build the ResourceSlices it publishes.

    `nvml` is the `pynvml` module or anything with the same functions (`Nvml`); `mig` and
    `sharing` choose the layout as in `SliceBuilder.node_slices`; `pcie_root` reads each
    GPU's PCIe root (sysfs by default). Raises DiscoveryError (see the module docstring).
    """
    if mig not in ("static", "dynamic"):
        raise ValueError(f"mig must be 'static' or 'dynamic', got {mig!r}")
    reader = _Reader(nvml, catalog, pcie_root)
    _initialize(nvml)
    shutdown_failure = None
    try:
        driver_version, cuda_driver_version, gpus = reader.read()
    finally:
        try:
            nvml.nvmlShutdown()
        except nvml.NVMLError as err:
            # The driver logs a failed shutdown and carries on: what was read stays valid.
            shutdown_failure = f"nvmlShutdown failed: {err}"
    warnings = list(reader.warnings)
    if not gpus:
        warnings.append("NVML reports no GPUs: the node publishes no ResourceSlice")
    if mig == "static":
        for found in gpus:
            if found.gpu.mig_enabled and not found.gpu.mig_instances:
                warnings.append(
                    f"{_describe(found)}: MIG mode is on but the GPU holds no MIG devices, "
                    "so it publishes nothing (create instances, or turn MIG mode off)"
                )
    if shutdown_failure is not None:
        warnings.append(shutdown_failure)
    builder = SliceBuilder(driver_version=driver_version, cuda_driver_version=cuda_driver_version)
    slices = _node_slices(builder, node_name, gpus, mig, sharing or Sharing(), generation)
    return Discovery(
        node_name=node_name,
        driver_version=driver_version,
        cuda_driver_version=cuda_driver_version,
        gpus=gpus,
        slices=tuple(slices),
        warnings=tuple(warnings),
    )


def discover_with_pynvml(
    catalog: Catalog | None = None,
    *,
    node_name: str,
    mig: DiscoveryMigMode = "static",
    sharing: Sharing | None = None,
    pcie_root: PcieRootReader = read_pcie_root,
    generation: int = 1,
) -> Discovery:
    """`discover` through the real NVML (`pynvml`, imported here, not at module import), with
    the packaged catalog unless `catalog` is given.

    On a machine without an NVIDIA driver this raises DiscoveryError
    "NVML library not found (no NVIDIA driver on this machine): ...".
    """
    try:
        import pynvml
    except ImportError as err:
        raise DiscoveryError(
            f"the nvidia-ml-py package (module pynvml) cannot be imported: {err}"
        ) from err
    return discover(
        pynvml,
        catalog if catalog is not None else load_catalog(),
        node_name=node_name,
        mig=mig,
        sharing=sharing,
        pcie_root=pcie_root,
        generation=generation,
    )


def _code(err: BaseException) -> int | None:
    value = getattr(err, "value", None)
    return value if isinstance(value, int) else None


def _initialize(nvml: Nvml) -> None:
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as err:
        code = _code(err)
        if code == NvmlReturn.LIBRARY_NOT_FOUND:
            message = (
                "NVML library not found (no NVIDIA driver on this machine): "
                "libnvidia-ml.so.1 could not be loaded"
            )
        elif code == NvmlReturn.DRIVER_NOT_LOADED:
            message = f"the NVIDIA kernel driver is not loaded (NVML: {err})"
        else:
            message = f"NVML initialisation failed: {err}"
        raise DiscoveryError(message) from err


def _describe(found: DiscoveredGpu) -> str:
    return f"GPU {found.index} (minor {found.gpu.minor}, {found.gpu.uuid})"


class _Reader:
    """One NVML session's reads; collects warnings. Raises DiscoveryError on any failure."""

    def __init__(self, nvml: Nvml, catalog: Catalog, pcie_root: PcieRootReader) -> None:
        self.nvml = nvml
        self.catalog = catalog
        self.pcie_root = pcie_root
        self.warnings: list[str] = []

    def call(self, where: str, function: Callable[..., _T], *args: object) -> _T:
        """`function(*args)`, an NVMLError turned into a DiscoveryError naming the call."""
        try:
            return function(*args)
        except self.nvml.NVMLError as err:
            name = getattr(function, "__name__", "NVML")
            raise DiscoveryError(f"{where}: {name} failed: {err}") from err

    def read(self) -> tuple[str, str, tuple[DiscoveredGpu, ...]]:
        nvml = self.nvml
        node = "node"
        driver = normalize_driver_version(self.call(node, nvml.nvmlSystemGetDriverVersion))
        cuda = format_cuda_version(self.call(node, nvml.nvmlSystemGetCudaDriverVersion))
        count = self.call(node, nvml.nvmlDeviceGetCount)
        gpus = tuple(self.read_gpu(index) for index in range(count))
        return driver, cuda, gpus

    def read_gpu(self, index: int) -> DiscoveredGpu:
        nvml = self.nvml
        where = f"GPU {index}"
        handle = self.call(where, nvml.nvmlDeviceGetHandleByIndex, index)
        minor = self.call(where, nvml.nvmlDeviceGetMinorNumber, handle)
        uuid = self.call(where, nvml.nvmlDeviceGetUUID, handle)
        where = f"GPU {index} (minor {minor}, {uuid})"
        name = self.call(where, nvml.nvmlDeviceGetName, handle)
        model = self.model(where, name)
        bus_id = normalize_bus_id(self.call(where, nvml.nvmlDeviceGetPciInfo, handle).busId)
        try:
            root = self.pcie_root(bus_id)
        except (OSError, ValueError) as err:
            raise DiscoveryError(
                f"{where}: cannot read the PCIe root of bus {bus_id}: {err} (discovery reads "
                "it from /sys/bus/pci/devices; pass pcie_root= to read it another way)"
            ) from err
        mig_enabled = self.mig_enabled(where, handle)
        memory = self.memory(where, handle, mig_enabled)
        instances: tuple[MigInstance, ...] = ()
        if mig_enabled:
            if model.mig is None:
                raise DiscoveryError(
                    f"{where}: NVML reports MIG mode on, but the catalog's {model.name} "
                    f"({name}) has no MIG geometry; add its MIG profiles to gpus.yaml"
                )
            instances = self.mig_instances(where, handle, model)
        gpu = PhysicalGpu(
            minor=minor,
            uuid=uuid,
            pci_bus_id=bus_id,
            pcie_root=root,
            mig_enabled=mig_enabled,
            mig_instances=instances,
            memory=memory,
        )
        return DiscoveredGpu(index=index, model=model, gpu=gpu)

    def model(self, where: str, product_name: str) -> GpuModel:
        try:
            return self.catalog.gpu_by_product_name(product_name)
        except NotFoundError:
            known = ", ".join(sorted(repr(g.product_name) for g in self.catalog.gpus))
            raise DiscoveryError(
                f"{where}: product name {product_name!r} is not in the GPU catalog; add a "
                f"model with `productName: {product_name}` (memory, architecture, compute "
                "capability and MIG profiles from `nvidia-smi -q` and `nvidia-smi mig -lgip "
                "-lgipp`) to dralloc/devices/data/gpus.yaml, or load a catalog directory of "
                f"your own with load_catalog(DIR) (known: {known})"
            ) from None

    def mig_enabled(self, where: str, handle: NvmlHandle) -> bool:
        try:
            current, pending = self.nvml.nvmlDeviceGetMigMode(handle)
        except self.nvml.NVMLError as err:
            if _code(err) == NvmlReturn.NOT_SUPPORTED:
                return False  # a GPU without MIG, as go-nvlib's IsMigEnabled reads it
            raise DiscoveryError(f"{where}: nvmlDeviceGetMigMode failed: {err}") from err
        enabled = current == _NVML_DEVICE_MIG_ENABLE
        if pending != current:
            self.warnings.append(
                f"{where}: MIG mode {'on' if enabled else 'off'} with a change to "
                f"{'off' if enabled else 'on'} pending until the GPU is reset; publishing "
                "the current mode"
            )
        return enabled

    def memory(self, where: str, handle: NvmlHandle, mig_enabled: bool) -> Quantity | None:
        try:
            total = self.nvml.nvmlDeviceGetMemoryInfo(handle).total
        except self.nvml.NVMLError as err:
            # In MIG mode NVML gives the whole GPU's memory only to privileged callers; no
            # MIG layout publishes it (static MIG shows instances, DynamicMIG the 7g values).
            if mig_enabled and _code(err) in (NvmlReturn.NO_PERMISSION, NvmlReturn.NOT_SUPPORTED):
                return None
            raise DiscoveryError(f"{where}: nvmlDeviceGetMemoryInfo failed: {err}") from err
        return Quantity.from_int(total, Format.BinarySI)

    def mig_instances(
        self, where: str, handle: NvmlHandle, model: GpuModel
    ) -> tuple[MigInstance, ...]:
        nvml = self.nvml
        found: dict[int, MigInstance] = {}  # by GPU instance id
        for index in range(self.call(where, nvml.nvmlDeviceGetMaxMigDeviceCount, handle)):
            try:
                device = nvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, index)
            except nvml.NVMLError as err:
                if _code(err) in (NvmlReturn.NOT_FOUND, NvmlReturn.INVALID_ARGUMENT):
                    continue  # no MIG device at this index, as the driver's walkMigDevices
                raise DiscoveryError(
                    f"{where}: nvmlDeviceGetMigDeviceHandleByIndex({index}) failed: {err}"
                ) from err
            uuid = self.call(where, nvml.nvmlDeviceGetUUID, device)
            at = f"{where}: MIG device {uuid}"
            gi_id = self.call(at, nvml.nvmlDeviceGetGpuInstanceId, device)
            if gi_id in found:
                raise DiscoveryError(
                    f"{at}: GPU instance {gi_id} holds more than one compute instance (also "
                    f"{found[gi_id].uuid}); dralloc publishes a GPU instance as one MIG device, "
                    "as the NVIDIA DRA driver does: recreate it with a single full-size "
                    "compute instance (nvidia-smi mig -cgi PROFILE -C)"
                )
            try:
                instance = nvml.nvmlDeviceGetGpuInstanceById(handle, gi_id)
            except nvml.NVMLError as err:
                hint = ""
                if _code(err) == NvmlReturn.NO_PERMISSION:
                    hint = " (reading MIG GPU instances needs root: run the agent privileged)"
                raise DiscoveryError(
                    f"{at}: nvmlDeviceGetGpuInstanceById({gi_id}) failed: {err}{hint}"
                ) from err
            info = self.call(at, nvml.nvmlGpuInstanceGetInfo, instance)
            attributes = self.call(at, nvml.nvmlDeviceGetAttributes, device)
            if attributes.computeInstanceSliceCount != attributes.gpuInstanceSliceCount:
                raise DiscoveryError(
                    f"{at}: its compute instance has {attributes.computeInstanceSliceCount} of "
                    f"GPU instance {gi_id}'s {attributes.gpuInstanceSliceCount} compute slices; "
                    "dralloc (like the NVIDIA DRA driver) publishes only compute instances "
                    "spanning their GPU instance"
                )
            placement = _placement(
                at, model, info.profileId, info.placement.start, info.placement.size
            )
            found[gi_id] = MigInstance(placement, uuid)
        instances = sorted(
            found.values(), key=lambda i: (i.placement.start, i.placement.profile.gi_profile_id)
        )
        if not fits_together(model, [i.placement for i in instances]):
            layout = ", ".join(str(i.placement) for i in instances)
            raise DiscoveryError(
                f"{where}: MIG instances {layout} cannot coexist on one {model.name} as the "
                "catalog describes it; check the catalog's MIG geometry for this GPU"
            )
        return tuple(instances)


def _placement(where: str, model: GpuModel, profile_id: int, start: int, size: int) -> Placement:
    """The catalog placement of a GPU instance NVML reports, or DiscoveryError."""
    profiles = model.mig.profiles if model.mig is not None else ()
    profile: MigProfile | None = next((p for p in profiles if p.gi_profile_id == profile_id), None)
    if profile is None:
        known = ", ".join(f"{p.gi_profile_id} ({p.name})" for p in profiles)
        raise DiscoveryError(
            f"{where}: GI profile ID {profile_id} (placement start {start}, size {size}) is "
            f"not a MIG profile of the catalog's {model.name} (known: {known}); add it to "
            "gpus.yaml from `nvidia-smi mig -lgip`"
        )
    if start not in profile.placement_starts or size != profile.memory_slices:
        starts = ", ".join(str(s) for s in profile.placement_starts)
        raise DiscoveryError(
            f"{where}: {profile.name} (GI profile ID {profile_id}) is placed at start {start} "
            f"with size {size}, but the catalog's {model.name} places it at starts {starts} "
            f"with size {profile.memory_slices}; fix gpus.yaml from `nvidia-smi mig -lgipp`"
        )
    return Placement(profile, start)


# ------------------------------------------------------------------------------------ slices


def _node_slices(
    builder: SliceBuilder,
    node_name: str,
    gpus: Sequence[DiscoveredGpu],
    mig: DiscoveryMigMode,
    sharing: Sharing,
    generation: int,
) -> list[ResourceSlice]:
    """One pool for the node: `SliceBuilder` per model, merged when there are several."""
    groups: dict[str, tuple[GpuModel, list[PhysicalGpu]]] = {}
    for found in sorted(gpus, key=lambda g: g.gpu.minor):
        groups.setdefault(found.model.name, (found.model, []))[1].append(found.gpu)
    built: list[tuple[MigMode, list[ResourceSlice]]] = []
    for model, physical in groups.values():
        # A model without MIG publishes whole GPUs in every mode, as the driver does.
        mode: MigMode = mig if model.mig is not None else "none"
        slices = builder.node_slices(
            node_name, model, physical, mig=mode, sharing=sharing, generation=generation
        )
        built.append((mode, slices))
    if len(built) <= 1:
        return built[0][1] if built else []
    return _merge(node_name, built, generation)


def _merge(
    node_name: str, built: list[tuple[MigMode, list[ResourceSlice]]], generation: int
) -> list[ResourceSlice]:
    """Several models' slices as one pool (Kubernetes 1.35+ layout kept for DynamicMIG)."""
    dynamic = [s for mode, slices in built if mode == "dynamic" for s in slices]
    counters = [s for s in dynamic if s.spec.shared_counters]
    per_gpu = [s for s in dynamic if not s.spec.shared_counters]
    # Whole GPUs and static MIG: SliceBuilder gives one slice per model; the node gets one.
    plain = [s for mode, slices in built if mode != "dynamic" for s in slices]
    merged: list[ResourceSlice] = []
    if counters:
        sets = [counter_set for s in counters for counter_set in s.spec.shared_counters]
        merged.append(_with_spec(counters[0], shared_counters=sets))
    merged.extend(per_gpu)
    if plain:
        merged.append(_with_spec(plain[0], devices=[d for s in plain for d in s.spec.devices]))
    pool = ResourcePool(name=node_name, generation=generation, resource_slice_count=len(merged))
    return [_with_spec(s, pool=pool) for s in merged]


def _with_spec(slice_: ResourceSlice, **changes: Any) -> ResourceSlice:
    """A copy of `slice_` with spec fields replaced; `SliceBuilder`'s objects stay shared."""
    return msgspec.structs.replace(slice_, spec=msgspec.structs.replace(slice_.spec, **changes))
