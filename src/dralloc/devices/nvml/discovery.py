"""Discovery itself: one NVML session read into `DiscoveredGpu`s, checked against the
catalog, and built into the node's ResourceSlices (`SliceBuilder` per model, merged into one
pool when a node mixes models).

I/O only through the `Nvml` object and the PCIe-root reader it is given; `pynvml` is imported
only inside `discover_with_pynvml`. The package docstring gives the design.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import msgspec

from dralloc.api.quantity import Format, Quantity
from dralloc.api.resource import ResourcePool, ResourceSlice
from dralloc.devices.catalog import Catalog, GpuModel, MigProfile, load_catalog
from dralloc.devices.mig import Placement, fits_together
from dralloc.devices.nvml.conversions import (
    format_cuda_version,
    normalize_bus_id,
    normalize_driver_version,
    read_pcie_root,
)
from dralloc.devices.nvml.protocol import (
    DiscoveredGpu,
    Discovery,
    DiscoveryError,
    DiscoveryMigMode,
    Nvml,
    NvmlHandle,
    NvmlReturn,
    PcieRootReader,
)
from dralloc.devices.slices import MigInstance, MigMode, PhysicalGpu, Sharing, SliceBuilder
from dralloc.errors import NotFoundError

__all__ = ["discover", "discover_with_pynvml"]

_NVML_DEVICE_MIG_ENABLE = 1  # nvml.h NVML_DEVICE_MIG_ENABLE
_T = TypeVar("_T")


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
    GPU's PCIe root (sysfs by default). Raises DiscoveryError (see the package docstring).
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
