"""TPU slices as GKE provisions them and as the TPU DRA driver (`tpu.google.com`) publishes them.

Pure computation, no I/O.

* A slice of a shape (`4x8`, `2x2x2`) is `TpuTopology.node_count` Kubernetes Nodes, the TPU VMs
  of one GKE node pool: a multi-host slice is always a node pool of its own, so the node pool
  label `cloud.google.com/gke-nodepool` names the slice. Every node carries GKE's TPU labels
  (`cloud.google.com/gke-tpu-accelerator`, `gke-tpu-topology` = the slice's shape,
  `gke-accelerator-count` = chips on this node) and the machine type as
  `node.kubernetes.io/instance-type`.
* Each node publishes one ResourceSlice, one device per chip on the node, named after the
  kernel device (`accel<i>` up to v4, `<i>` for vfio-bound chips from v5e on), with exactly
  the driver's attributes: `index`, `uuid`, `tpuGen`, `brand`, `accelerator`, `chipCount` and
  `topology`. No capacities. The driver publishes nothing that names the slice, the worker or
  a chip's place in the torus, and neither does dralloc: keeping a gang inside one slice is
  the job of node affinity on the node pool label (JobSet's exclusive placement), not of a
  claim's `matchAttribute`, whose devices always come from one node.
* `TpuSliceLayout` is where the chips of a slice sit: the host boxes the driver hands libtpu
  (`TPU_CHIPS_PER_HOST_BOUNDS`, `TPU_HOST_BOUNDS`) and, for each worker (node) of the slice,
  the coordinates of its chips. dralloc numbers workers and chips with x varying fastest.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass

from dralloc.api.meta import ObjectMeta
from dralloc.api.resource import (
    Device,
    DeviceAttribute,
    ResourcePool,
    ResourceSlice,
    ResourceSliceSpec,
)
from dralloc.devices.catalog import TpuModel, TpuTopology

TPU_DRIVER = "tpu.google.com"
# Generations whose chips show up as /dev/accel<N>; later ones are vfio-bound ("<N>").
ACCEL_NAMED_GENERATIONS = frozenset({"v2", "v3", "v4"})

ACCELERATOR_LABEL = "cloud.google.com/gke-tpu-accelerator"
TOPOLOGY_LABEL = "cloud.google.com/gke-tpu-topology"
ACCELERATOR_COUNT_LABEL = "cloud.google.com/gke-accelerator-count"
NODE_POOL_LABEL = "cloud.google.com/gke-nodepool"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"

Coordinates = tuple[int, int, int]


def _unravel(index: int, bounds: Coordinates) -> Coordinates:
    """`index` as (x, y, z) inside `bounds`, x varying fastest."""
    x_size, y_size, _ = bounds
    return index % x_size, (index // x_size) % y_size, index // (x_size * y_size)


@dataclass(frozen=True)
class TpuSliceLayout:
    """One slice of a TPU shape: its nodes (workers), their machine type and their chips.

    >>> from dralloc.devices import load_catalog
    >>> layout = tpu_slice_layout(load_catalog().tpu("tpu-v6e"), "4x8")
    >>> layout.nodes, layout.chips_per_node, layout.machine_type, layout.host_bounds
    (8, 4, 'ct6e-standard-4t', (2, 4, 1))
    >>> layout.chip_coordinates(1)
    ((2, 0, 0), (3, 0, 0), (2, 1, 0), (3, 1, 0))
    """

    model: TpuModel
    topology: TpuTopology

    @property
    def shape(self) -> str:
        return self.topology.shape

    @property
    def chips(self) -> int:
        return self.topology.chips

    @property
    def nodes(self) -> int:
        return self.topology.node_count

    @property
    def chips_per_node(self) -> int:
        return self.topology.chips_per_node

    @property
    def is_multi_host(self) -> bool:
        return self.nodes > 1

    @property
    def machine_type(self) -> str:
        """The GKE machine type of the slice's VMs: catalog `machineTypes` and
        `chipsPerHost` are parallel lists."""
        return self.model.machine_types[self.model.chips_per_host.index(self.chips_per_node)]

    @property
    def chips_per_host_bounds(self) -> Coordinates:
        return self.topology.chips_per_host_bounds

    @property
    def host_bounds(self) -> Coordinates:
        return self.topology.host_bounds

    def chip_coordinates(self, worker: int) -> tuple[Coordinates, ...]:
        """Where the chips of worker `worker` (0 .. nodes-1) sit in the slice, chip index order."""
        if not 0 <= worker < self.nodes:
            raise ValueError(f"{self.shape}: worker {worker} is not in 0..{self.nodes - 1}")
        box = self.chips_per_host_bounds
        origin = _unravel(worker, self.host_bounds)
        return tuple(
            (
                origin[0] * box[0] + local[0],
                origin[1] * box[1] + local[1],
                origin[2] * box[2] + local[2],
            )
            for local in (_unravel(i, box) for i in range(math.prod(box)))
        )

    def node_labels(self, node_pool: str) -> dict[str, str]:
        """The labels GKE puts on every node of the slice; `node_pool` names the slice."""
        return {
            ACCELERATOR_LABEL: self.model.accelerator_type,
            TOPOLOGY_LABEL: self.shape,
            ACCELERATOR_COUNT_LABEL: str(self.chips_per_node),
            NODE_POOL_LABEL: node_pool,
            INSTANCE_TYPE_LABEL: self.machine_type,
        }


def tpu_slice_layout(model: TpuModel, shape: str) -> TpuSliceLayout:
    """The layout of one `shape` slice of `model`.

    NotFoundError (listing the known shapes) if the model has no such shape; ValueError if
    the TPU DRA driver does not support the generation.
    """
    if model.tpu_gen is None:
        raise ValueError(f"{model.name}: the TPU DRA driver does not support this generation")
    return TpuSliceLayout(model, model.topology(shape))


def chip_uuid(node_name: str, device_name: str) -> str:
    """A stable chip UUID. The driver derives `tpu-<uuid>` from `<node name>/<device name>`
    (TPUs have no hardware UUID); dralloc keeps the seed and the form, not the generator."""
    return "tpu-" + str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{node_name}/{device_name}"))


def tpu_node_slices(
    node_name: str, model: TpuModel, topology: str, *, generation: int = 1
) -> list[ResourceSlice]:
    """The ResourceSlice one node of a `topology` slice of `model` publishes."""
    layout = tpu_slice_layout(model, topology)
    generation_name = model.tpu_gen
    assert generation_name is not None  # tpu_slice_layout refuses the others
    chips = layout.chips_per_node
    devices = []
    for index in range(chips):
        name = f"accel{index}" if generation_name in ACCEL_NAMED_GENERATIONS else str(index)
        devices.append(
            Device(
                name=name,
                attributes={
                    "index": DeviceAttribute(int_value=index),
                    "uuid": DeviceAttribute(string=chip_uuid(node_name, name)),
                    "tpuGen": DeviceAttribute(string=generation_name),
                    "brand": DeviceAttribute(string="Google"),
                    "accelerator": DeviceAttribute(string=model.accelerator_type),
                    "chipCount": DeviceAttribute(int_value=chips),
                    # The driver copies the node's topology label: the slice's shape, the
                    # same on every node of a multi-host slice.
                    "topology": DeviceAttribute(string=layout.shape),
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
