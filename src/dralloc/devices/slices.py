"""ResourceSlices in the shape NVIDIA's GPU DRA driver publishes them, built from the catalog.

Pure computation, no I/O. A node's GPUs are described as `PhysicalGpu`s (minor number, UUID,
PCI address, MIG mode and existing MIG instances): a node agent reads them through NVML
(`dralloc.devices.nvml`), a generated cluster makes them up (`synthetic_gpus`). Three layouts:

* whole GPUs (`mig="none"`): one slice per node with a `gpu-<minor>` device per GPU;
* static MIG (`mig="static"`): the same single slice, where each GPU in MIG mode shows its
  existing instances (type `mig`, with UUIDs and `memorySlice<i>` capacities) instead of the
  whole GPU, as the driver does for instances an operator created (mig-parted);
* dynamic MIG (`mig="dynamic"`, partitionable devices, Kubernetes 1.35+ layout): a
  counters-only slice holding one `gpu-<minor>-counter-set` per GPU, then one device slice per
  GPU with the full GPU and one abstract MIG device per (profile, placement start), each
  consuming its profile's counters plus the `memory-slice-<i>` counters of its window, so the
  allocator enforces MIG placement through counters.

Sharing (`Sharing`) is dralloc's model of a sharing-aware driver, expressed in DRA terms so that
the allocator enforces it: the published devices (whole GPUs and MIG devices alike) allow
multiple allocations, carry the attribute `dralloc.io/sharing` naming the strategy, and turn
the quantity being shared into consumable capacity:

* `time-slicing`: capacity `replicas` (default 1 per allocation, at most `replicas`); every
  other capacity defaults to 0 (time-slicing partitions nothing; a claim may still account
  memory it expects to use);
* `mps`: `clients` (the MPS server's client limit, 48 per GPU, scaled down in proportion to a
  MIG instance's compute slices), `activeThreadPercentage` (100) and `memory` (the pinned
  device memory limit); a request that names no amount takes the whole device;
* `fractional`: `memory` and `cores` (percent of the SMs), the names the HAMi DRA driver
  publishes, so HAMi-style claims (`cores: 30`, `memory: 10Gi`) work unchanged; a request
  that names no amount takes the whole device.

Device parts that do not depend on the node (capacities, counter consumption, profile
attributes) are built once per model and shared between devices by `SliceBuilder`, which makes
fleets of thousands of nodes fast to build; callers must treat the returned objects as
read-only. Names, attribute names and counter names follow the driver (spec/devices.md 2.1-2.4).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from dralloc.api.meta import ObjectMeta
from dralloc.api.quantity import Format, Quantity
from dralloc.api.resource import (
    CapacityRequestPolicy,
    CapacityRequestPolicyRange,
    Counter,
    CounterSet,
    Device,
    DeviceAttribute,
    DeviceCapacity,
    DeviceCounterConsumption,
    ResourcePool,
    ResourceSlice,
    ResourceSliceSpec,
)
from dralloc.devices.catalog import GpuModel, MigProfile
from dralloc.devices.mig import Placement, fits_together, pack, placements

DRIVER = "gpu.nvidia.com"
SHARING_ATTRIBUTE = "dralloc.io/sharing"
MPS_CLIENTS_PER_GPU = 48
MAX_COUNTER_SETS_PER_SLICE = 8
MAX_DEVICES_PER_SLICE = 128
MigMode = Literal["none", "static", "dynamic"]
SharingStrategy = Literal["exclusive", "time-slicing", "mps", "fractional"]
SHARING_STRATEGIES: tuple[SharingStrategy, ...] = ("exclusive", "time-slicing", "mps", "fractional")

# Capacity name -> counter name (the driver turns capacity names into DNS labels).
_ENGINES = (
    ("multiprocessors", "multiprocessors"),
    ("copyEngines", "copy-engines"),
    ("decoders", "decoders"),
    ("encoders", "encoders"),
    ("jpegEngines", "jpeg-engines"),
    ("ofaEngines", "ofa-engines"),
)
_MEBIBYTE = Quantity.from_int(1 << 20, Format.BinarySI)
_ZERO = Quantity.from_int(0)
_ONE = Quantity.from_int(1)


@dataclass(frozen=True)
class Sharing:
    """How a node's GPUs are shared; `exclusive` publishes exactly what the driver does."""

    strategy: SharingStrategy = "exclusive"
    replicas: int = 4
    mps_clients: int = MPS_CLIENTS_PER_GPU

    def __post_init__(self) -> None:
        if self.strategy not in SHARING_STRATEGIES:
            raise ValueError(
                f"sharing must be one of {', '.join(SHARING_STRATEGIES)}, got {self.strategy!r}"
            )
        if self.replicas < 1 or self.mps_clients < 1:
            raise ValueError("replicas and MPS clients must be at least 1")


@dataclass(frozen=True)
class MigInstance:
    """An existing MIG GPU instance (static MIG), as NVML reports it."""

    placement: Placement
    uuid: str


@dataclass(frozen=True)
class PhysicalGpu:
    """One GPU as the node agent sees it. `memory` None means the catalog's nominal memory."""

    minor: int
    uuid: str
    pci_bus_id: str
    pcie_root: str
    mig_enabled: bool = False
    mig_instances: tuple[MigInstance, ...] = ()
    memory: Quantity | None = None


def gpu_uuid(node_name: str, minor: int) -> str:
    """A stable, realistic-looking GPU UUID (NVML's `GPU-` prefix plus a UUID)."""
    return "GPU-" + str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{node_name}/gpu-{minor}"))


def mig_uuid(parent_uuid: str, placement: Placement) -> str:
    """A stable UUID for a made-up MIG instance (NVML's `MIG-` prefix)."""
    return "MIG-" + str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{parent_uuid}/{placement}"))


def synthetic_gpus(
    node_name: str, model: GpuModel, count: int, *, mig_layout: Sequence[MigProfile] | None = None
) -> list[PhysicalGpu]:
    """`count` made-up GPUs of `model` with stable UUIDs and PCI addresses; with `mig_layout`,
    each GPU is in MIG mode holding those instances (placed by `mig.pack`).

    Raises ValueError when the layout does not fit one GPU of `model`.
    """
    layout: list[Placement] | None = None
    if mig_layout is not None:
        if model.mig is None:
            raise ValueError(f"{model.name} does not support MIG")
        layout = pack(model, mig_layout)
        if layout is None:
            names = ", ".join(p.name for p in mig_layout)
            raise ValueError(f"MIG layout {names} does not fit one {model.name} GPU")
        layout.sort(key=lambda p: (p.start, p.profile.gi_profile_id))
    gpus = []
    for minor in range(count):
        # Eight GPUs per PCI domain, as on a DGX board; beyond that a new domain keeps
        # addresses unique.
        domain, bus = divmod(minor, 8)
        bus = 0x18 + 0x20 * bus
        parent = gpu_uuid(node_name, minor)
        instances = tuple(
            MigInstance(placement, mig_uuid(parent, placement)) for placement in layout or ()
        )
        gpus.append(
            PhysicalGpu(
                minor=minor,
                uuid=parent,
                pci_bus_id=f"{domain:04x}:{bus:02x}:00.0",
                pcie_root=f"pci{domain:04x}:{bus & 0xF0:02x}",
                mig_enabled=layout is not None,
                mig_instances=instances,
            )
        )
    return gpus


def mig_device_name(minor: int, placement: Placement) -> str:
    """`gpu-<minor>-mig-<profile without dots, '+' as '-'>-<GI profile id>-<start>`."""
    short = placement.profile.name.replace(".", "").replace("+", "-")
    return f"gpu-{minor}-mig-{short}-{placement.profile.gi_profile_id}-{placement.start}"


def _engine_values(profile: MigProfile) -> dict[str, int | None]:
    return {
        "multiprocessors": profile.multiprocessors,
        "copyEngines": profile.copy_engines,
        "decoders": profile.decoders,
        "encoders": profile.encoders,
        "jpegEngines": profile.jpeg_engines,
        "ofaEngines": profile.ofa_engines,
    }


def _profile_counters(profile: MigProfile, window: range) -> dict[str, Counter]:
    counters = {
        counter: Counter(value=Quantity.from_int(value))
        for (capacity, counter) in _ENGINES
        if (value := _engine_values(profile)[capacity]) is not None
    }
    if profile.memory is not None:
        counters["memory"] = Counter(value=profile.memory)
    for index in window:
        counters[f"memory-slice-{index}"] = Counter(value=_ONE)
    return counters


def _profile_capacity(profile: MigProfile) -> dict[str, Quantity]:
    capacity = {
        name: Quantity.from_int(value)
        for name, value in _engine_values(profile).items()
        if value is not None
    }
    if profile.memory is not None:
        capacity["memory"] = profile.memory
    return capacity


def _whole_profile(model: GpuModel) -> MigProfile:
    assert model.mig is not None
    return max(model.mig.profiles, key=lambda p: (p.memory_slices, p.compute_slices))


def _take_all(value: Quantity, step: Quantity | None) -> DeviceCapacity:
    """Consumable capacity whose default is the whole value; requests round up to `step`."""
    if step is not None and value.nano % step.nano == 0 and value > step:
        policy = CapacityRequestPolicy(
            default=value, valid_range=CapacityRequestPolicyRange(min=step, step=step)
        )
    else:
        policy = CapacityRequestPolicy(default=value)
    return DeviceCapacity(value=value, request_policy=policy)


def _units(value: int, default: int) -> DeviceCapacity:
    """A whole-number consumable capacity in [1, value], `default` per allocation."""
    if value == 1:  # a range needs min + step <= value
        return DeviceCapacity(
            value=_ONE, request_policy=CapacityRequestPolicy(default=_ONE, valid_values=[_ONE])
        )
    return DeviceCapacity(
        value=Quantity.from_int(value),
        request_policy=CapacityRequestPolicy(
            default=Quantity.from_int(default),
            valid_range=CapacityRequestPolicyRange(
                min=_ONE, max=Quantity.from_int(value), step=_ONE
            ),
        ),
    )


def shared_capacity(
    capacity: dict[str, Quantity], sharing: Sharing, compute_fraction: tuple[int, int] = (1, 1)
) -> dict[str, DeviceCapacity]:
    """The capacities a device publishes under `sharing`.

    `capacity` is what the device has when exclusive; `compute_fraction` is the device's share
    of the GPU's compute slices (a MIG instance's), which scales the MPS client limit.
    """
    if sharing.strategy == "exclusive":
        return {name: DeviceCapacity(value=value) for name, value in capacity.items()}
    unaccounted = {
        name: DeviceCapacity(value=value, request_policy=CapacityRequestPolicy(default=_ZERO))
        for name, value in capacity.items()
    }
    if sharing.strategy == "time-slicing":
        return {**unaccounted, "replicas": _units(sharing.replicas, 1)}
    memory = {"memory": _take_all(capacity["memory"], _MEBIBYTE)} if "memory" in capacity else {}
    if sharing.strategy == "mps":
        numerator, denominator = compute_fraction
        clients = max(1, sharing.mps_clients * numerator // denominator)
        return {
            **unaccounted,
            **memory,
            "clients": _units(clients, 1),
            "activeThreadPercentage": _units(100, 100),
        }
    return {**unaccounted, **memory, "cores": _units(100, 100)}


@dataclass(frozen=True)
class _MigParts:
    """One (profile, placement start) of a model: its device parts shared by every GPU."""

    placement: Placement
    name_suffix: str  # the device name after "gpu-<minor>-"
    capacity: dict[str, DeviceCapacity]  # dynamic MIG
    static_capacity: dict[str, DeviceCapacity]  # static MIG: adds memorySlice<i>
    counters: dict[str, Counter]
    profile: DeviceAttribute


@dataclass
class _ModelParts:
    """Everything about one (model, sharing) that does not depend on the node."""

    whole_capacity: dict[str, DeviceCapacity]
    sharing: DeviceAttribute | None
    dynamic_whole_capacity: dict[str, DeviceCapacity] = field(default_factory=dict)
    full_counters: dict[str, Counter] = field(default_factory=dict)
    mig: list[_MigParts] = field(default_factory=list)
    by_placement: dict[tuple[str, int], _MigParts] = field(default_factory=dict)


_TYPE_GPU = DeviceAttribute(string="gpu")
_TYPE_MIG = DeviceAttribute(string="mig")


class SliceBuilder:
    """Builds the driver's ResourceSlices for many nodes, sharing per-model parts between them.

    One builder per fleet; it keeps only caches of immutable-by-convention parts.
    """

    def __init__(
        self, *, driver_version: str = "570.172.8", cuda_driver_version: str = "12.8.0"
    ) -> None:
        self.driver_version = driver_version
        self.cuda_driver_version = cuda_driver_version
        self._parts: dict[tuple[str, Sharing], _ModelParts] = {}
        self._versions = {
            "driverVersion": DeviceAttribute(version=driver_version),
            "cudaDriverVersion": DeviceAttribute(version=cuda_driver_version),
        }

    def _model_parts(self, model: GpuModel, sharing: Sharing) -> _ModelParts:
        key = (model.name, sharing)
        parts = self._parts.get(key)
        if parts is not None:
            return parts
        parts = _ModelParts(
            whole_capacity=shared_capacity({"memory": model.memory}, sharing),
            sharing=DeviceAttribute(string=sharing.strategy)
            if sharing.strategy != "exclusive"
            else None,
        )
        if model.mig is not None:
            whole = _whole_profile(model)
            compute = model.mig.compute_slices
            parts.dynamic_whole_capacity = shared_capacity(_profile_capacity(whole), sharing)
            parts.full_counters = _profile_counters(whole, range(model.mig.memory_slices))
            profile_attributes = {
                p.name: DeviceAttribute(string=p.name) for p in model.mig.profiles
            }
            for placement in placements(model):
                profile = placement.profile
                exclusive = _profile_capacity(profile)
                fraction = (profile.compute_slices, compute)
                memory_slices = {f"memorySlice{i}": _ONE for i in placement.memory_slices}
                mig_parts = _MigParts(
                    placement=placement,
                    name_suffix=mig_device_name(0, placement).removeprefix("gpu-0-"),
                    capacity=shared_capacity(exclusive, sharing, fraction),
                    static_capacity=shared_capacity(
                        {**exclusive, **memory_slices}, sharing, fraction
                    ),
                    counters=_profile_counters(profile, placement.memory_slices),
                    profile=profile_attributes[profile.name],
                )
                parts.mig.append(mig_parts)
                parts.by_placement[(profile.name, placement.start)] = mig_parts
        self._parts[key] = parts
        return parts

    def _common(self, model: GpuModel, gpu: PhysicalGpu) -> dict[str, DeviceAttribute]:
        return {
            "productName": DeviceAttribute(string=model.product_name),
            "brand": DeviceAttribute(string=model.brand),
            "architecture": DeviceAttribute(string=model.architecture),
            "cudaComputeCapability": DeviceAttribute(version=model.cuda_compute_capability),
            **self._versions,
            "resource.kubernetes.io/pciBusID": DeviceAttribute(string=gpu.pci_bus_id),
            "resource.kubernetes.io/pcieRoot": DeviceAttribute(string=gpu.pcie_root),
        }

    def node_slices(
        self,
        node_name: str,
        model: GpuModel,
        gpus: int | Sequence[PhysicalGpu],
        *,
        mig: MigMode = "none",
        mig_layout: Sequence[MigProfile] | None = None,
        sharing: Sharing | None = None,
        generation: int = 1,
    ) -> list[ResourceSlice]:
        """The ResourceSlices one node publishes.

        `gpus` is a count (made-up GPUs, see `synthetic_gpus`) or the GPUs a node agent found.
        With a count, `mig="static"` needs `mig_layout`, the instances every GPU holds. With
        found GPUs, `mig="static"` publishes each MIG-mode GPU's existing instances.
        """
        sharing = sharing or Sharing()
        if model.mig is None:
            if mig_layout is not None:
                raise ValueError(f"{model.name} does not support MIG")
            mig = "none"  # what the driver publishes in any MIG mode for a GPU without MIG
        if mig == "static" and isinstance(gpus, int) and mig_layout is None:
            raise ValueError("static MIG needs a MIG layout")
        if isinstance(gpus, int):
            physical = synthetic_gpus(
                node_name, model, gpus, mig_layout=mig_layout if mig == "static" else None
            )
        else:
            physical = list(gpus)
        parts = self._model_parts(model, sharing)
        if mig == "dynamic":
            return self._dynamic(node_name, model, physical, parts, generation)
        devices: list[Device] = []
        for gpu in physical:
            common = self._common(model, gpu)
            if mig == "static" and gpu.mig_enabled:
                devices.extend(self._static_mig_devices(model, gpu, common, parts))
                continue
            capacity = parts.whole_capacity
            if gpu.memory is not None:
                capacity = shared_capacity({"memory": gpu.memory}, sharing)
            devices.append(self._whole_device(gpu, common, capacity, parts))
        # A slice holds at most 128 devices: a larger node publishes several.
        chunks = [
            devices[i : i + MAX_DEVICES_PER_SLICE]
            for i in range(0, len(devices), MAX_DEVICES_PER_SLICE)
        ] or [[]]
        pool = ResourcePool(name=node_name, generation=generation, resource_slice_count=len(chunks))
        return [
            ResourceSlice(
                metadata=ObjectMeta(name=f"{node_name}-{DRIVER}" + (f"-{index}" if index else "")),
                spec=ResourceSliceSpec(
                    driver=DRIVER, node_name=node_name, pool=pool, devices=chunk
                ),
            )
            for index, chunk in enumerate(chunks)
        ]

    def _whole_device(
        self,
        gpu: PhysicalGpu,
        common: dict[str, DeviceAttribute],
        capacity: dict[str, DeviceCapacity],
        parts: _ModelParts,
        consumes: list[DeviceCounterConsumption] | None = None,
    ) -> Device:
        attributes = {**common, "type": _TYPE_GPU, "uuid": DeviceAttribute(string=gpu.uuid)}
        if parts.sharing is not None:
            attributes[SHARING_ATTRIBUTE] = parts.sharing
        return Device(
            name=f"gpu-{gpu.minor}",
            attributes=attributes,
            capacity=capacity,
            consumes_counters=consumes or [],
            allow_multiple_allocations=True if parts.sharing is not None else None,
        )

    def _mig_attributes(
        self,
        common: dict[str, DeviceAttribute],
        mig: _MigParts,
        parent_uuid: DeviceAttribute,
        parts: _ModelParts,
    ) -> dict[str, DeviceAttribute]:
        attributes = {
            **common,
            "type": _TYPE_MIG,
            "profile": mig.profile,
            "parentUUID": parent_uuid,
        }
        if parts.sharing is not None:
            attributes[SHARING_ATTRIBUTE] = parts.sharing
        return attributes

    def _static_mig_devices(
        self,
        model: GpuModel,
        gpu: PhysicalGpu,
        common: dict[str, DeviceAttribute],
        parts: _ModelParts,
    ) -> list[Device]:
        instances = [instance.placement for instance in gpu.mig_instances]
        if not fits_together(model, instances):
            layout = ", ".join(str(p) for p in instances)
            raise ValueError(f"GPU {gpu.uuid}: MIG instances {layout} cannot coexist on a GPU")
        parent = DeviceAttribute(string=gpu.uuid)
        multiple = True if parts.sharing is not None else None
        devices = []
        for instance in gpu.mig_instances:
            placement = instance.placement
            mig = parts.by_placement[(placement.profile.name, placement.start)]
            attributes = self._mig_attributes(common, mig, parent, parts)
            attributes["uuid"] = DeviceAttribute(string=instance.uuid)
            devices.append(
                Device(
                    name=f"gpu-{gpu.minor}-{mig.name_suffix}",
                    attributes=attributes,
                    capacity=mig.static_capacity,
                    allow_multiple_allocations=multiple,
                )
            )
        return devices

    def _dynamic(
        self,
        node_name: str,
        model: GpuModel,
        physical: list[PhysicalGpu],
        parts: _ModelParts,
        generation: int,
    ) -> list[ResourceSlice]:
        counter_sets = [
            CounterSet(name=f"gpu-{gpu.minor}-counter-set", counters=parts.full_counters)
            for gpu in physical
        ]
        # A slice holds at most 8 counter sets: more GPUs need more counters-only slices.
        chunks = [
            counter_sets[i : i + MAX_COUNTER_SETS_PER_SLICE]
            for i in range(0, len(counter_sets), MAX_COUNTER_SETS_PER_SLICE)
        ]
        pool = ResourcePool(
            name=node_name,
            generation=generation,
            resource_slice_count=len(physical) + len(chunks),
        )
        slices = [
            ResourceSlice(
                metadata=ObjectMeta(
                    name=f"{node_name}-{DRIVER}-counters" + (f"-{index}" if index else "")
                ),
                spec=ResourceSliceSpec(
                    driver=DRIVER, node_name=node_name, pool=pool, shared_counters=chunk
                ),
            )
            for index, chunk in enumerate(chunks)
        ]
        multiple = True if parts.sharing is not None else None
        for gpu in physical:
            counter_set = f"gpu-{gpu.minor}-counter-set"
            common = self._common(model, gpu)
            parent = DeviceAttribute(string=gpu.uuid)
            whole = self._whole_device(
                gpu,
                common,
                parts.dynamic_whole_capacity,
                parts,
                [DeviceCounterConsumption(counter_set=counter_set, counters=parts.full_counters)],
            )
            devices = [whole]
            prefix = f"gpu-{gpu.minor}-"
            for mig in parts.mig:
                devices.append(
                    Device(
                        name=prefix + mig.name_suffix,
                        attributes=self._mig_attributes(common, mig, parent, parts),
                        capacity=mig.capacity,
                        consumes_counters=[
                            DeviceCounterConsumption(counter_set=counter_set, counters=mig.counters)
                        ],
                        allow_multiple_allocations=multiple,
                    )
                )
            slices.append(
                ResourceSlice(
                    metadata=ObjectMeta(name=f"{node_name}-{DRIVER}-gpu-{gpu.minor}"),
                    spec=ResourceSliceSpec(
                        driver=DRIVER, node_name=node_name, pool=pool, devices=devices
                    ),
                )
            )
        return slices


def gpu_node_slices(
    node_name: str,
    model: GpuModel,
    gpus: int | Sequence[PhysicalGpu],
    *,
    mig: MigMode = "none",
    mig_layout: Sequence[MigProfile] | None = None,
    sharing: Sharing | None = None,
    driver_version: str = "570.172.8",
    cuda_driver_version: str = "12.8.0",
    generation: int = 1,
) -> list[ResourceSlice]:
    """The ResourceSlices one node with `gpus` GPUs of `model` publishes (see `SliceBuilder`)."""
    builder = SliceBuilder(driver_version=driver_version, cuda_driver_version=cuda_driver_version)
    return builder.node_slices(
        node_name,
        model,
        gpus,
        mig=mig,
        mig_layout=mig_layout,
        sharing=sharing,
        generation=generation,
    )
