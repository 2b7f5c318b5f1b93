"""ResourceSlices in the shape Google's TPU DRA driver (`tpu.google.com`) publishes them.

Pure computation, no I/O. One device per TPU chip on the host, named after the kernel device
(`accel<i>` up to v4, `<i>` for vfio-bound chips from v5e on), with the driver's attributes:
`index`, `uuid`, `tpuGen`, `brand`, `accelerator`, `chipCount` and `topology`. No capacities.
"""

from __future__ import annotations

import uuid

from dralloc.api.meta import ObjectMeta
from dralloc.api.resource import (
    Device,
    DeviceAttribute,
    ResourcePool,
    ResourceSlice,
    ResourceSliceSpec,
)
from dralloc.devices.catalog import TpuModel

TPU_DRIVER = "tpu.google.com"
# Generations whose chips show up as /dev/accel<N>; later ones are vfio-bound ("<N>").
ACCEL_NAMED_GENERATIONS = frozenset({"v2", "v3", "v4"})


def tpu_node_slices(
    node_name: str, model: TpuModel, topology: str, *, generation: int = 1
) -> list[ResourceSlice]:
    """The ResourceSlice one host of a `topology` slice of `model` publishes."""
    if model.tpu_gen is None:
        raise ValueError(f"{model.name}: the TPU DRA driver does not support this generation")
    shape = model.topology(topology)
    chips = shape.chips // shape.hosts
    devices = []
    for index in range(chips):
        name = f"accel{index}" if model.tpu_gen in ACCEL_NAMED_GENERATIONS else str(index)
        devices.append(
            Device(
                name=name,
                attributes={
                    "index": DeviceAttribute(int_value=index),
                    "uuid": DeviceAttribute(
                        string=str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{node_name}/tpu-{index}"))
                    ),
                    "tpuGen": DeviceAttribute(string=model.tpu_gen),
                    "brand": DeviceAttribute(string="Google"),
                    "accelerator": DeviceAttribute(string=model.accelerator_type),
                    "chipCount": DeviceAttribute(int_value=chips),
                    "topology": DeviceAttribute(string=shape.shape),
                },
            )
        )
    pool = ResourcePool(name=node_name, generation=generation, resource_slice_count=1)
    return [
        ResourceSlice(
            metadata=ObjectMeta(name=f"{node_name}-{TPU_DRIVER}"),
            spec=ResourceSliceSpec(
                driver=TPU_DRIVER, node_name=node_name, pool=pool, devices=devices
            ),
        )
    ]
