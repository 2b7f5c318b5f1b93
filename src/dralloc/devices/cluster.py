"""A cluster from a compact description: Nodes, the drivers' ResourceSlices and DeviceClasses.

Pure computation, no I/O. A description is a list of node groups, written on the command line
as `<count>x<shape>[:option=value,...]` or as entries of a cluster file (`ClusterFile`, YAML):

* GPU shapes: `dgx-<model>` (8 GPUs, e.g. `dgx-h100`, `dgx-a100-80gb`) or a catalog model name
  with the `gpus` option (`4xl4:gpus=2` is four nodes with two L4s). Options:
  - `mig=none|static|dynamic`; static MIG takes `layout=`, the instances every GPU holds,
    in `dralloc mig plan`'s profile syntax with `/` between terms on the command line
    (`layout=3g.40gb/2x1g.10gb`, `layout=all-1g.10gb`, `layout=all-balanced`);
  - `sharing=exclusive|time-slicing|mps|fractional`, with `replicas=N` (time-slicing) and
    `clients=N` (MPS clients per GPU); see `dralloc.devices.slices.Sharing`.
* TPU shapes: `tpu-<gen>-<topology>` (`tpu-v6e-2x4`, `tpu-v6e-4x8`, `tpu-v5p-2x2x2`): `count`
  whole slices. A single-host shape is one node per slice; a multi-host shape is
  `TpuTopology.node_count` nodes per slice (`2xtpu-v6e-4x8` is two slices of 8 nodes of 4
  chips), each slice its own GKE node pool (see `dralloc.devices.tpu`).
* Multi-node NVLink shapes: `gb200-nvl72`, `count` racks of 18 nodes with 4 GB200 GPUs each,
  one NVLink domain (clique) per rack. Each node carries GFD's `nvidia.com/gpu.clique` label
  (`<cluster UUID>.<clique ID>`, one value per rack) and publishes the GPU driver's slice and
  the compute-domain driver's (`channel-0`, `daemon-0`); the ComputeDomain DeviceClasses are
  added. Option `clique=N` sets the clique ID (see `dralloc.devices.nvlink`).

Node names are `<shape>-<index>` (zero-padded), or `<name>-<index>` with the `name` option,
which two groups of one shape need to keep names unique. The nodes of multi-host TPU slice
`<index>` are `<shape>-<index>-<worker>`, in the node pool `<shape>-<index>`; single-host TPU
nodes share the node pool `<shape>`. The nodes of NVLink rack `<index>` are
`<shape>-<index>-<tray>`.

Large fleets: `iter_cluster` yields one node at a time, and `GroupJsonTemplate` renders a
group's nodes as JSON by stamping one encoded prototype node with each node's name and GPU
UUIDs (the only values that differ between nodes of a group), so 5,000 DGX nodes with
dynamic MIG are written in seconds without building a million device objects.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import msgspec
import yaml

from dralloc.api.core import Node, NodeSpec, NodeStatus
from dralloc.api.io import encode_json
from dralloc.api.meta import ObjectMeta
from dralloc.api.quantity import Quantity
from dralloc.api.resource import DeviceClass, ResourceSlice
from dralloc.devices.catalog import Catalog, GpuModel, MigProfile
from dralloc.devices.classes import driver_device_classes
from dralloc.devices.migplan import parse_profiles
from dralloc.devices.nvlink import (
    DEFAULT_CLIQUE_ID,
    NVL72_GPUS_PER_NODE,
    NVL72_NODES_PER_RACK,
    NvlRack,
    compute_domain_device_classes,
    compute_domain_node_slice,
)
from dralloc.devices.slices import (
    MPS_CLIENTS_PER_GPU,
    SHARING_STRATEGIES,
    MigMode,
    Sharing,
    SharingStrategy,
    SliceBuilder,
    gpu_uuid,
    mig_uuid,
    synthetic_gpus,
)
from dralloc.devices.tpu import TpuSliceLayout, tpu_node_slices, tpu_slice_layout
from dralloc.errors import InputError, NotFoundError, Problem

# Short names users write for DGX-style GPU models.
GPU_ALIASES = {
    "h100": "h100-80gb-sxm",
    "a100": "a100-80gb",
    "h200": "h200-141gb",
    "b200": "b200",
}
DGX_GPUS = 8
GPU_OPTIONS = ("name", "gpus", "mig", "layout", "sharing", "replicas", "clients")
NVL_OPTIONS = ("name", "clique")
# Multi-node NVLink shapes: GPU model, nodes per rack, GPUs per node.
NVL_SHAPES = {"gb200-nvl72": ("gb200", NVL72_NODES_PER_RACK, NVL72_GPUS_PER_NODE)}
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_GROUP = re.compile(r"^(?P<count>[1-9][0-9]*)x(?P<shape>[a-z0-9][-a-z0-9.]*)(?::(?P<opts>.*))?$")
_PROTOTYPE = "proto-node-0"
_STAMP = re.compile(rb"(proto-node-0|GPU-[0-9a-f-]{36}|MIG-[0-9a-f-]{36})")


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


@dataclass(frozen=True)
class _GpuShape:
    model: GpuModel
    gpus: int
    mig: MigMode
    layout: tuple[MigProfile, ...] | None
    sharing: Sharing
    labels: dict[str, str]


@dataclass(frozen=True)
class _NvlShape:
    gpu: _GpuShape
    nodes_per_rack: int
    clique_id: int


@dataclass(frozen=True)
class _ResolvedGroup:
    group: NodeGroup
    width: int
    gpu: _GpuShape | None = None
    tpu: TpuSliceLayout | None = None
    nvl: _NvlShape | None = None  # exactly one of gpu, tpu and nvl is set

    @property
    def prefix(self) -> str:
        return self.group.options.get("name", self.group.shape)

    def node_name(self, index: int) -> str:
        return f"{self.prefix}-{index:0{self.width}d}"

    def tpu_nodes(self) -> Iterator[tuple[str, str]]:
        """(node name, node pool) of every node of a TPU group, slice by slice."""
        layout = self.tpu
        assert layout is not None
        if not layout.is_multi_host:
            for index in range(self.group.count):
                yield self.node_name(index), self.prefix
            return
        worker_width = len(str(layout.nodes - 1))
        for index in range(self.group.count):
            pool = self.node_name(index)
            for worker in range(layout.nodes):
                yield f"{pool}-{worker:0{worker_width}d}", pool

    def nvl_nodes(self) -> Iterator[tuple[str, NvlRack]]:
        """(node name, rack) of every node of an NVLink group, rack by rack."""
        shape = self.nvl
        assert shape is not None
        width = max(2, len(str(shape.nodes_per_rack - 1)))
        for index in range(self.group.count):
            rack = NvlRack(
                self.prefix,
                index,
                nodes=shape.nodes_per_rack,
                gpus_per_node=shape.gpu.gpus,
                clique_id=shape.clique_id,
            )
            for tray in range(shape.nodes_per_rack):
                yield f"{self.node_name(index)}-{tray:0{width}d}", rack


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
        if key.strip() in options:
            raise ClusterSpecError(f"{text!r}: option {key.strip()} is given twice")
        options[key.strip()] = value.strip()
    return NodeGroup(int(match.group("count")), match.group("shape"), options)


# ------------------------------------------------------------------------------ cluster file


class _GroupEntry(msgspec.Struct, rename="camel", forbid_unknown_fields=True, kw_only=True):
    count: int
    shape: str
    name: str | None = None
    gpus: int | None = None
    mig: str | None = None
    layout: str | list[str] | None = None
    sharing: str | None = None
    replicas: int | None = None
    clients: int | None = None
    clique: int | None = None


class ClusterFile(msgspec.Struct, rename="camel", forbid_unknown_fields=True, kw_only=True):
    """`apiVersion: dralloc.io/v1alpha1`, `kind: Cluster`, `nodeGroups: [...]`: each entry has
    `count`, `shape` and the options of the command-line syntax as fields."""

    api_version: str
    kind: str
    node_groups: list[_GroupEntry]
    metadata: dict[str, object] = msgspec.field(default_factory=dict)


CLUSTER_FILE_API_VERSION = "dralloc.io/v1alpha1"


def parse_cluster_file(text: str, file: str) -> list[NodeGroup]:
    """The node groups of a cluster file; InputError naming the file and field otherwise."""

    def fail(field_path: str, message: str) -> InputError:
        return InputError([Problem(file, "Cluster", field_path, message)])

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(err, "problem", None) or "cannot be parsed"
        raise fail("", f"{where}invalid YAML: {problem}") from err
    try:
        spec = msgspec.convert(data, ClusterFile, strict=True)
    except msgspec.ValidationError as err:
        message, _, path = str(err).partition(" - at `$")
        path = path.rstrip("`").lstrip(".")
        unknown = re.match(r"Object contains unknown field `(.+)`", message)
        if unknown is not None:
            path = f"{path}.{unknown.group(1)}" if path else unknown.group(1)
            message = "unknown field"
        raise fail(path, message) from err
    if spec.api_version != CLUSTER_FILE_API_VERSION or spec.kind != "Cluster":
        raise fail(
            "apiVersion",
            f"expected apiVersion {CLUSTER_FILE_API_VERSION} and kind Cluster, "
            f"got {spec.api_version} {spec.kind}",
        )
    groups = []
    for index, entry in enumerate(spec.node_groups):
        if entry.count < 1:
            raise fail(f"nodeGroups[{index}].count", "must be at least 1")
        options = {
            name: ",".join(value) if isinstance(value, list) else str(value)
            for name in (
                "name",
                "gpus",
                "mig",
                "layout",
                "sharing",
                "replicas",
                "clients",
                "clique",
            )
            if (value := getattr(entry, name)) is not None
        }
        groups.append(NodeGroup(entry.count, entry.shape, options))
    return groups


# --------------------------------------------------------------------------------- building


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


def _positive(shape: str, options: dict[str, str], name: str, default: int) -> int:
    if name not in options:
        return default
    value = options[name]
    if not value.isdigit() or int(value) < 1:
        raise ClusterSpecError(f"{shape}: {name} must be a positive integer, got {value!r}")
    return int(value)


def _gpu_shape(group: NodeGroup, catalog: Catalog) -> _GpuShape:
    shape = group.shape
    options = group.options
    unknown = set(options) - set(GPU_OPTIONS)
    if unknown:
        raise ClusterSpecError(
            f"{shape}: unknown option(s) {', '.join(sorted(unknown))} "
            f"(known: {', '.join(GPU_OPTIONS)})"
        )
    model_name = shape.removeprefix("dgx-")
    model_name = GPU_ALIASES.get(model_name, model_name)
    try:
        model = catalog.gpu(model_name)
    except NotFoundError as err:  # the message lists the known names
        raise ClusterSpecError(f"{shape}: {err}") from err
    gpus = _positive(shape, options, "gpus", DGX_GPUS if shape.startswith("dgx-") else 1)
    mig_option = options.get("mig", "none")
    modes: dict[str, MigMode] = {"none": "none", "static": "static", "dynamic": "dynamic"}
    if mig_option not in modes:
        raise ClusterSpecError(f"{shape}: mig must be none, static or dynamic, got {mig_option!r}")
    mig = modes[mig_option]
    if mig != "none" and model.mig is None:
        raise ClusterSpecError(f"{shape}: {model.name} does not support MIG")
    layout: tuple[MigProfile, ...] | None = None
    if mig == "static":
        if "layout" not in options:
            raise ClusterSpecError(
                f"{shape}: mig=static needs layout=, e.g. layout=all-1g.10gb or "
                "layout=3g.40gb/2x1g.10gb"
            )
        try:
            layout = tuple(parse_profiles(model, options["layout"].replace("/", ",")))
        except InputError as err:
            raise ClusterSpecError(f"{shape}: layout: {err}") from err
        try:
            synthetic_gpus("check", model, 1, mig_layout=layout)
        except ValueError as err:
            raise ClusterSpecError(f"{shape}: {err}") from err
    elif "layout" in options:
        raise ClusterSpecError(f"{shape}: layout= is only for mig=static")
    strategy = options.get("sharing", "exclusive")
    if strategy not in SHARING_STRATEGIES:
        raise ClusterSpecError(
            f"{shape}: sharing must be one of {', '.join(SHARING_STRATEGIES)}, got {strategy!r}"
        )
    chosen: SharingStrategy = next(s for s in SHARING_STRATEGIES if s == strategy)
    if "replicas" in options and chosen != "time-slicing":
        raise ClusterSpecError(f"{shape}: replicas= is only for sharing=time-slicing")
    if "clients" in options and chosen != "mps":
        raise ClusterSpecError(f"{shape}: clients= is only for sharing=mps")
    sharing = Sharing(
        chosen,
        replicas=_positive(shape, options, "replicas", 4),
        mps_clients=_positive(shape, options, "clients", MPS_CLIENTS_PER_GPU),
    )
    if sharing.mps_clients > MPS_CLIENTS_PER_GPU:
        raise ClusterSpecError(
            f"{shape}: clients must be at most {MPS_CLIENTS_PER_GPU}, the MPS limit per GPU"
        )
    labels = {
        "nvidia.com/gpu.product": model.product_name.replace(" ", "-"),
        "nvidia.com/gpu.count": str(gpus),
        "nvidia.com/gpu.memory": str(model.memory.as_integer() >> 20),
        "nvidia.com/mig.capable": str(model.mig is not None).lower(),
    }
    if mig != "none":
        labels["nvidia.com/mig.strategy"] = "mixed"
    if chosen != "exclusive":
        labels["nvidia.com/gpu.sharing-strategy"] = chosen
    return _GpuShape(model, gpus, mig, layout, sharing, labels)


def _resolve(groups: list[NodeGroup], catalog: Catalog) -> list[_ResolvedGroup]:
    resolved = []
    prefixes: set[str] = set()
    for group in groups:
        prefix = group.options.get("name", group.shape)
        if not _NAME.match(prefix):
            raise ClusterSpecError(f"{group.shape}: name {prefix!r} must be a DNS label")
        if prefix in prefixes:
            raise ClusterSpecError(
                f"two node groups are named {prefix}: node names would repeat "
                "(give one of them name=...)"
            )
        prefixes.add(prefix)
        width = max(2, len(str(group.count - 1)))
        if group.shape.startswith("tpu-"):
            if set(group.options) - {"name"}:
                raise ClusterSpecError(f"{group.shape}: TPU shapes take no options but name")
            resolved.append(_ResolvedGroup(group, width, tpu=_tpu_layout(group.shape, catalog)))
        elif group.shape in NVL_SHAPES:
            resolved.append(_ResolvedGroup(group, width, nvl=_nvl_shape(group, catalog)))
        else:
            resolved.append(_ResolvedGroup(group, width, gpu=_gpu_shape(group, catalog)))
    return resolved


def _gpu_node(
    name: str, shape: _GpuShape, builder: SliceBuilder
) -> tuple[Node, list[ResourceSlice]]:
    node = _node(name, shape.labels, cpu=str(28 * shape.gpus), memory=f"{256 * shape.gpus}Gi")
    gpus = synthetic_gpus(name, shape.model, shape.gpus, mig_layout=shape.layout)
    slices = builder.node_slices(name, shape.model, gpus, mig=shape.mig, sharing=shape.sharing)
    return node, slices


def _nvl_shape(group: NodeGroup, catalog: Catalog) -> _NvlShape:
    unknown = set(group.options) - set(NVL_OPTIONS)
    if unknown:
        raise ClusterSpecError(
            f"{group.shape}: unknown option(s) {', '.join(sorted(unknown))} "
            f"(known: {', '.join(NVL_OPTIONS)})"
        )
    clique = group.options.get("clique", str(DEFAULT_CLIQUE_ID))
    if not clique.isdigit():
        raise ClusterSpecError(
            f"{group.shape}: clique must be a non-negative integer, got {clique!r}"
        )
    model, nodes, gpus = NVL_SHAPES[group.shape]
    gpu = _gpu_shape(NodeGroup(1, model, {"gpus": str(gpus)}), catalog)
    return _NvlShape(gpu, nodes, int(clique))


def _nvl_node(
    name: str, shape: _NvlShape, rack: NvlRack, builder: SliceBuilder
) -> tuple[Node, list[ResourceSlice]]:
    # A GB200 compute tray: two Grace CPUs (72 Arm cores each) and about 960 GB of LPDDR5X.
    labels = {**shape.gpu.labels, **rack.labels(), "kubernetes.io/arch": "arm64"}
    node = _node(name, labels, cpu="144", memory="880Gi")
    gpu = shape.gpu
    slices = builder.node_slices(name, gpu.model, gpu.gpus, mig="none", sharing=gpu.sharing)
    return node, [*slices, compute_domain_node_slice(name)]


def _device_classes(resolved: list[_ResolvedGroup]) -> list[DeviceClass]:
    classes = driver_device_classes()
    if any(item.nvl is not None for item in resolved):
        classes.extend(compute_domain_device_classes())
    return classes


def _tpu_layout(shape: str, catalog: Catalog) -> TpuSliceLayout:
    parts = shape.split("-")
    if len(parts) != 3:
        raise ClusterSpecError(f"{shape}: expected tpu-<generation>-<topology>")
    _, gen, topology = parts
    try:
        return tpu_slice_layout(catalog.tpu(f"tpu-{gen}"), topology)
    except NotFoundError as err:  # the message lists the known generations or shapes
        raise ClusterSpecError(f"{shape}: {err}") from err
    except ValueError as err:
        raise ClusterSpecError(f"{shape}: {err}") from err


def _tpu_node(name: str, layout: TpuSliceLayout, pool: str) -> tuple[Node, list[ResourceSlice]]:
    slices = tpu_node_slices(name, layout.model, layout.shape)
    return _node(name, layout.node_labels(pool), cpu="180", memory="720Gi"), slices


def _rack_nodes(
    item: _ResolvedGroup, builder: SliceBuilder
) -> Iterator[tuple[Node, list[ResourceSlice]]]:
    """The nodes of a TPU or NVLink group, with their slices."""
    if item.tpu is not None:
        for name, pool in item.tpu_nodes():
            yield _tpu_node(name, item.tpu, pool)
    elif item.nvl is not None:
        for name, rack in item.nvl_nodes():
            yield _nvl_node(name, item.nvl, rack, builder)


def iter_cluster(
    groups: list[NodeGroup], catalog: Catalog
) -> Iterator[tuple[Node, list[ResourceSlice]]]:
    """Every node with its slices, one at a time (all groups are checked before the first)."""
    resolved = _resolve(groups, catalog)
    builder = SliceBuilder()
    for item in resolved:
        if item.gpu is None:
            yield from _rack_nodes(item, builder)
            continue
        for index in range(item.group.count):
            yield _gpu_node(item.node_name(index), item.gpu, builder)


def generate_cluster(groups: list[NodeGroup], catalog: Catalog) -> GeneratedCluster:
    """Build every group's nodes and slices, plus the drivers' DeviceClasses."""
    cluster = GeneratedCluster(classes=_device_classes(_resolve(groups, catalog)))
    for node, slices in iter_cluster(groups, catalog):
        cluster.nodes.append(node)
        cluster.slices.extend(slices)
    return cluster


# ------------------------------------------------------------------------- fast JSON output


class GroupJsonTemplate:
    """Renders nodes of one GPU group as JSON documents by stamping an encoded prototype.

    The prototype node is built and encoded once; its name and GPU/MIG UUIDs are the only
    values that differ between the group's nodes (PCI addresses, capacities and counters are
    equal), so each node is the prototype's byte segments joined with its own values.
    """

    def __init__(self, shape: _GpuShape, builder: SliceBuilder, indent: int | None) -> None:
        self._shape = shape
        node, slices = _gpu_node(_PROTOTYPE, shape, builder)
        documents = [encode_json(node), *(encode_json(s) for s in slices)]
        if indent is not None:
            documents = [msgspec.json.format(d, indent=indent) for d in documents]
        gpus = synthetic_gpus(_PROTOTYPE, shape.model, shape.gpus, mig_layout=shape.layout)
        self._layout = gpus[0].mig_instances
        self._segments = _STAMP.split(b"\x00".join(documents))
        prototype = {value: index for index, value in enumerate(self._ids(_PROTOTYPE))}
        # Which value each stamped segment takes (every match is a prototype value).
        self._slots = [prototype[self._segments[i]] for i in range(1, len(self._segments), 2)]

    def _ids(self, name: str) -> list[bytes]:
        """The values to stamp for node `name`, in the prototype's order."""
        ids = [name.encode()]
        layout = [i.placement for i in self._layout]
        for minor in range(self._shape.gpus):
            parent = gpu_uuid(name, minor)
            ids.append(parent.encode())
            ids.extend(mig_uuid(parent, placement).encode() for placement in layout)
        return ids

    def render(self, name: str) -> list[bytes]:
        """The node's documents (Node first, then its slices), JSON encoded."""
        ids = self._ids(name)
        out = list(self._segments)
        out[1::2] = [ids[slot] for slot in self._slots]
        return b"".join(out).split(b"\x00")


def iter_cluster_json(
    groups: list[NodeGroup], catalog: Catalog, *, indent: int | None = None
) -> Iterator[bytes]:
    """Every object of the cluster as a JSON document (DeviceClasses, then node by node).

    The documents equal `encode_json` of `generate_cluster`'s objects, in the same order.
    """
    resolved = _resolve(groups, catalog)

    def fmt(document: bytes) -> bytes:
        return msgspec.json.format(document, indent=indent) if indent is not None else document

    for device_class in _device_classes(resolved):
        yield fmt(encode_json(device_class))
    builder = SliceBuilder()
    for item in resolved:
        if item.gpu is None:
            built = _rack_nodes(item, builder)
            for node, slices in built:
                yield fmt(encode_json(node))
                for each in slices:
                    yield fmt(encode_json(each))
            continue
        assert item.gpu is not None
        template = GroupJsonTemplate(item.gpu, builder, indent)
        for name in (item.node_name(i) for i in range(item.group.count)):
            yield from template.render(name)
