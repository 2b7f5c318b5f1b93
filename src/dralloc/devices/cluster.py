"""A cluster from a compact description: Nodes, the drivers' ResourceSlices and DeviceClasses.

Pure computation, no I/O. A description is a list of node groups, each written
`<count>x<shape>[:option=value,...]`:

* GPU shapes: `dgx-<model>` (8 GPUs, e.g. `dgx-h100`, `dgx-a100-80gb`) or `<gpus>x<model>`
  via the `gpus` option on a catalog model name (`4xl4:gpus=2` is four nodes with two L4s);
  option `mig=none|dynamic`.
* TPU shapes: `tpu-<gen>-<topology>` (`tpu-v6e-2x4`): `count` hosts, each publishing its share
  of the slice's chips.

Node names are `<shape>-<index>` (zero-padded), unique across groups.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from dralloc.api.core import Node, NodeSpec, NodeStatus
from dralloc.api.meta import ObjectMeta
from dralloc.api.quantity import Quantity
from dralloc.api.resource import DeviceClass, ResourceSlice
from dralloc.devices.catalog import Catalog
from dralloc.devices.classes import driver_device_classes
from dralloc.devices.slices import MigMode, gpu_node_slices
from dralloc.devices.tpu import tpu_node_slices
from dralloc.errors import NotFoundError

# Short names users write for DGX-style GPU models.
GPU_ALIASES = {
    "h100": "h100-80gb-sxm",
    "a100": "a100-80gb",
    "h200": "h200-141gb",
    "b200": "b200",
}
DGX_GPUS = 8
_GROUP = re.compile(r"^(?P<count>[1-9][0-9]*)x(?P<shape>[a-z0-9][-a-z0-9.]*)(?::(?P<opts>.*))?$")


class ClusterSpecError(ValueError):
    """A node-group description that cannot be understood; the message says why."""


@dataclass(frozen=True)
class NodeGroup:
    count: int
    shape: str
    options: dict[str, str] = field(default_factory=dict)


@dataclass
class GeneratedCluster:
    nodes: list[Node] = field(default_factory=list)
    slices: list[ResourceSlice] = field(default_factory=list)
    classes: list[DeviceClass] = field(default_factory=list)


def parse_group(text: str) -> NodeGroup:
    match = _GROUP.match(text.strip())
    if match is None:
        raise ClusterSpecError(
            f"{text!r}: expected COUNTxSHAPE[:option=value,...], e.g. 16xdgx-h100:mig=dynamic"
        )
    options: dict[str, str] = {}
    for item in filter(None, (match.group("opts") or "").split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise ClusterSpecError(f"{text!r}: option {item!r} must be name=value")
        options[key.strip()] = value.strip()
    return NodeGroup(int(match.group("count")), match.group("shape"), options)


def _node(name: str, labels: dict[str, str], cpu: str, memory: str) -> Node:
    allocatable = {
        "cpu": Quantity.parse(cpu),
        "memory": Quantity.parse(memory),
        "pods": Quantity.parse("110"),
    }
    return Node(
        metadata=ObjectMeta(name=name, labels={"kubernetes.io/hostname": name, **labels}),
        spec=NodeSpec(),
        status=NodeStatus(capacity=dict(allocatable), allocatable=allocatable),
    )


def generate_cluster(groups: list[NodeGroup], catalog: Catalog) -> GeneratedCluster:
    """Build every group's nodes and slices, plus the drivers' DeviceClasses."""
    cluster = GeneratedCluster(classes=driver_device_classes())
    for group in groups:
        unknown = set(group.options) - {"mig", "gpus"}
        if unknown:
            raise ClusterSpecError(f"{group.shape}: unknown option(s) {', '.join(sorted(unknown))}")
        width = max(2, len(str(group.count - 1)))
        if group.shape.startswith("tpu-"):
            _tpu_group(cluster, group, catalog, width)
        else:
            _gpu_group(cluster, group, catalog, width)
    names = [n.metadata.name for n in cluster.nodes]
    if len(names) != len(set(names)):
        raise ClusterSpecError("two node groups have the same shape: node names would repeat")
    return cluster


def _gpu_group(cluster: GeneratedCluster, group: NodeGroup, catalog: Catalog, width: int) -> None:
    shape = group.shape
    model_name = shape.removeprefix("dgx-")
    model_name = GPU_ALIASES.get(model_name, model_name)
    try:
        model = catalog.gpu(model_name)
    except NotFoundError as err:  # the message lists the known names
        raise ClusterSpecError(f"{shape}: {err}") from err
    gpus = DGX_GPUS if shape.startswith("dgx-") else 1
    if "gpus" in group.options:
        if not group.options["gpus"].isdigit() or int(group.options["gpus"]) < 1:
            raise ClusterSpecError(f"{shape}: gpus must be a positive integer")
        gpus = int(group.options["gpus"])
    mig_option = group.options.get("mig", "none")
    if mig_option not in ("none", "dynamic"):
        raise ClusterSpecError(f"{shape}: mig must be none or dynamic, got {mig_option!r}")
    mig: MigMode = "dynamic" if mig_option == "dynamic" else "none"
    if mig == "dynamic" and model.mig is None:
        raise ClusterSpecError(f"{shape}: {model.name} does not support MIG")
    labels = {
        "nvidia.com/gpu.product": model.product_name.replace(" ", "-"),
        "nvidia.com/gpu.count": str(gpus),
        "nvidia.com/mig.capable": str(model.mig is not None).lower(),
    }
    for index in range(group.count):
        name = f"{shape}-{index:0{width}d}"
        cluster.nodes.append(_node(name, labels, cpu=str(28 * gpus), memory=f"{256 * gpus}Gi"))
        cluster.slices.extend(gpu_node_slices(name, model, gpus, mig=mig))


def _tpu_group(cluster: GeneratedCluster, group: NodeGroup, catalog: Catalog, width: int) -> None:
    parts = group.shape.split("-")
    if len(parts) != 3:
        raise ClusterSpecError(f"{group.shape}: expected tpu-<generation>-<topology>")
    _, gen, topology = parts
    try:
        model = catalog.tpu(f"tpu-{gen}")
        shape = model.topology(topology)
    except NotFoundError as err:
        raise ClusterSpecError(f"{group.shape}: {err}") from err
    labels = {
        "cloud.google.com/gke-tpu-accelerator": model.accelerator_type,
        "cloud.google.com/gke-tpu-topology": shape.shape,
        "cloud.google.com/gke-accelerator-count": str(shape.chips // shape.hosts),
    }
    for index in range(group.count):
        name = f"{group.shape}-{index:0{width}d}"
        cluster.nodes.append(_node(name, labels, cpu="180", memory="720Gi"))
        try:
            cluster.slices.extend(tpu_node_slices(name, model, topology))
        except ValueError as err:
            raise ClusterSpecError(f"{group.shape}: {err}") from err
