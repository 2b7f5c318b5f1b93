"""ResourceSlices in the shape NVIDIA's GPU DRA driver publishes them, built from the catalog.

Pure computation, no I/O. Two layouts so far:
* whole GPUs (`mig="none"`): one slice per node with a `gpu-<minor>` device per GPU;
* dynamic MIG (`mig="dynamic"`, partitionable devices, Kubernetes 1.35+ layout): a
  counters-only slice holding one `gpu-<minor>-counter-set` per GPU, then one device slice per
  GPU with the full GPU and one abstract MIG device per (profile, placement start), each
  consuming its profile's counters plus the `memory-slice-<i>` counters of its window, so the
  allocator enforces MIG placement through counters.
Names, attribute names and counter names follow the driver (see the catalog's data files).
"""

from __future__ import annotations

import uuid
from typing import Literal

from dralloc.api.meta import ObjectMeta
from dralloc.api.quantity import Quantity
from dralloc.api.resource import (
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
from dralloc.devices.mig import Placement, placements

DRIVER = "gpu.nvidia.com"
MigMode = Literal["none", "dynamic"]

# Capacity name -> counter name (the driver turns capacity names into DNS labels).
_ENGINES = (
    ("multiprocessors", "multiprocessors"),
    ("copyEngines", "copy-engines"),
    ("decoders", "decoders"),
    ("encoders", "encoders"),
    ("jpegEngines", "jpeg-engines"),
    ("ofaEngines", "ofa-engines"),
)


def _engine_values(profile: MigProfile) -> dict[str, int | None]:
    return {
        "multiprocessors": profile.multiprocessors,
        "copyEngines": profile.copy_engines,
        "decoders": profile.decoders,
        "encoders": profile.encoders,
        "jpegEngines": profile.jpeg_engines,
        "ofaEngines": profile.ofa_engines,
    }


def _gpu_uuid(node_name: str, minor: int) -> str:
    """A stable, realistic-looking GPU UUID (NVML's `GPU-` prefix plus a UUID)."""
    return "GPU-" + str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{node_name}/gpu-{minor}"))


def _common_attributes(
    model: GpuModel, node_name: str, minor: int, driver_version: str
) -> dict[str, DeviceAttribute]:
    bus = 0x18 + 0x20 * minor
    return {
        "productName": DeviceAttribute(string=model.product_name),
        "brand": DeviceAttribute(string=model.brand),
        "architecture": DeviceAttribute(string=model.architecture),
        "cudaComputeCapability": DeviceAttribute(version=model.cuda_compute_capability),
        "driverVersion": DeviceAttribute(version=driver_version),
        "cudaDriverVersion": DeviceAttribute(version="12.8.0"),
        "resource.kubernetes.io/pciBusID": DeviceAttribute(string=f"0000:{bus & 0xFF:02x}:00.0"),
        "resource.kubernetes.io/pcieRoot": DeviceAttribute(string=f"pci0000:{(bus & 0xF0):02x}"),
    }


def mig_device_name(minor: int, placement: Placement) -> str:
    """`gpu-<minor>-mig-<profile without dots, '+' as '-'>-<GI profile id>-<start>`."""
    short = placement.profile.name.replace(".", "").replace("+", "-")
    return f"gpu-{minor}-mig-{short}-{placement.profile.gi_profile_id}-{placement.start}"


def _profile_counters(profile: MigProfile, window: range) -> dict[str, Counter]:
    counters = {
        counter: Counter(value=Quantity.from_int(value))
        for (capacity, counter) in _ENGINES
        if (value := _engine_values(profile)[capacity]) is not None
    }
    if profile.memory is not None:
        counters["memory"] = Counter(value=profile.memory)
    for index in window:
        counters[f"memory-slice-{index}"] = Counter(value=Quantity.from_int(1))
    return counters


def _profile_capacity(profile: MigProfile) -> dict[str, DeviceCapacity]:
    capacity = {
        name: DeviceCapacity(value=Quantity.from_int(value))
        for name, value in _engine_values(profile).items()
        if value is not None
    }
    if profile.memory is not None:
        capacity["memory"] = DeviceCapacity(value=profile.memory)
    return capacity


def gpu_node_slices(
    node_name: str,
    model: GpuModel,
    gpus: int,
    *,
    mig: MigMode = "none",
    driver_version: str = "570.172.8",
    generation: int = 1,
) -> list[ResourceSlice]:
    """The ResourceSlices one node with `gpus` GPUs of `model` publishes."""
    if mig == "dynamic" and model.mig is None:
        raise ValueError(f"{model.name} does not support MIG")
    pool_name = node_name
    if mig == "none":
        devices = []
        for minor in range(gpus):
            attributes = _common_attributes(model, node_name, minor, driver_version)
            attributes["type"] = DeviceAttribute(string="gpu")
            attributes["uuid"] = DeviceAttribute(string=_gpu_uuid(node_name, minor))
            devices.append(
                Device(
                    name=f"gpu-{minor}",
                    attributes=attributes,
                    capacity={"memory": DeviceCapacity(value=model.memory)},
                )
            )
        pool = ResourcePool(name=pool_name, generation=generation, resource_slice_count=1)
        spec = ResourceSliceSpec(driver=DRIVER, node_name=node_name, pool=pool, devices=devices)
        name = f"{node_name}-{DRIVER}"
        return [ResourceSlice(metadata=ObjectMeta(name=name), spec=spec)]

    assert model.mig is not None
    whole = max(model.mig.profiles, key=lambda p: p.memory_slices)
    full_counters = _profile_counters(whole, range(model.mig.memory_slices))
    pool = ResourcePool(name=pool_name, generation=generation, resource_slice_count=gpus + 1)
    counter_sets = [
        CounterSet(name=f"gpu-{minor}-counter-set", counters=full_counters) for minor in range(gpus)
    ]
    slices = [
        ResourceSlice(
            metadata=ObjectMeta(name=f"{node_name}-{DRIVER}-counters"),
            spec=ResourceSliceSpec(
                driver=DRIVER, node_name=node_name, pool=pool, shared_counters=counter_sets
            ),
        )
    ]
    for minor in range(gpus):
        counter_set = f"gpu-{minor}-counter-set"
        common = _common_attributes(model, node_name, minor, driver_version)
        gpu_uuid = _gpu_uuid(node_name, minor)
        devices = [
            Device(
                name=f"gpu-{minor}",
                attributes={
                    **common,
                    "type": DeviceAttribute(string="gpu"),
                    "uuid": DeviceAttribute(string=gpu_uuid),
                },
                capacity=_profile_capacity(whole),
                consumes_counters=[
                    DeviceCounterConsumption(counter_set=counter_set, counters=full_counters)
                ],
            )
        ]
        for placement in placements(model):
            devices.append(
                Device(
                    name=mig_device_name(minor, placement),
                    attributes={
                        **common,
                        "type": DeviceAttribute(string="mig"),
                        "profile": DeviceAttribute(string=placement.profile.name),
                        "parentUUID": DeviceAttribute(string=gpu_uuid),
                    },
                    capacity=_profile_capacity(placement.profile),
                    consumes_counters=[
                        DeviceCounterConsumption(
                            counter_set=counter_set,
                            counters=_profile_counters(placement.profile, placement.memory_slices),
                        )
                    ],
                )
            )
        slices.append(
            ResourceSlice(
                metadata=ObjectMeta(name=f"{node_name}-{DRIVER}-gpu-{minor}"),
                spec=ResourceSliceSpec(
                    driver=DRIVER, node_name=node_name, pool=pool, devices=devices
                ),
            )
        )
    return slices
