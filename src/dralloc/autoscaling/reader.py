"""Reading a `kind: Autoscaling` file into `AutoscalingConfig`, reporting every problem at once.

Owns decoding and validating the file (spec/autoscaling.md §2; option names of §4.6 and §5).
The only I/O is reading the file itself and the `empirical:` delay files it names (relative to
the file's folder); nothing is kept between calls.

Every problem is collected and raised as one `InputError` (dralloc.errors), each naming the
file, the object (`Autoscaling <metadata.name>`) and the field path, sorted by path, e.g.

    fleet.yaml: Autoscaling gpu: nodeGroups[1].max: must be >= min (4), got 2
    fleet.yaml: Autoscaling gpu: shapes[0].provisioning.launch: lognormal: expected MEDIAN,...

as the scheduler-configuration reader does. Decoding is strict: an unknown field is an error (a
typo must not silently fall back to a default). A shape's device description is checked by
building its node template with `cluster generate`'s code, so a shape that reads well but
cannot be built (an unknown GPU, a MIG layout that does not fit) is caught here, at its path.

Cross-field rules (§12): `max: 0`, `min > max`, a group or pool naming an unknown shape, an
offering (shape x capacity type) without a price, `scalableRef` and `podTemplateRef` together,
`percentage` without `scalableRef`, mode `cluster-autoscaler`/`static` without node groups and
`karpenter` without node pools, a warm pool of a shape the mode never scales up (§9.4), a
`sizing` search over an unknown shape or without its `constraint.waitP95` (§9.6).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from dralloc.api.core import Taint
from dralloc.api.validation import validate
from dralloc.autoscaling.config import (
    API_VERSION,
    DEFAULT_DELAYS,
    KIND,
    PRICE_KEYS,
    AutoscalingConfig,
    Availability,
    CapacityType,
    Interruption,
    Mode,
    NodeGroup,
    NodeGroupOptions,
    Provisioning,
    Shape,
    TemplateSource,
)
from dralloc.autoscaling.fields import FieldReader
from dralloc.autoscaling.predictorsections import read_predictor, read_sizing, read_warm_pool
from dralloc.autoscaling.sections import (
    FRACTION_OPTIONS,
    offering_problem,
    read_buffer,
    read_node_pool,
    read_options,
    read_trace_pods,
)
from dralloc.autoscaling.templates import NodeShape, TemplateError, build_template
from dralloc.devices.catalog import Catalog, load_catalog
from dralloc.documents import read_text, show, yaml_documents
from dralloc.errors import InputError, Problem

_E = TypeVar("_E")
_TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
_SHAPE_OPTIONS = ("gpus", "mig", "layout", "sharing", "replicas", "clients")


# --------------------------------------------------------------------------------- sections


def _shape(reader: FieldReader, raw: object, path: str, catalog: Catalog) -> Shape | None:
    fields = reader.mapping(
        raw,
        path,
        (
            "name",
            "shape",
            *_SHAPE_OPTIONS,
            "labels",
            "cpu",
            "memory",
            "taints",
            "price",
            "provisioning",
            "availability",
            "interruption",
            "gpuLabel",
            "templateSource",
        ),
    )
    name = reader.name(fields.get("name"), f"{path}.name")
    device_shape = reader.string(fields.get("shape"), f"{path}.shape")
    if fields.get("shape") is None:
        reader.report(f"{path}.shape", "required: a `cluster generate` shape such as dgx-h100")
    options: dict[str, str] = {}
    for key in _SHAPE_OPTIONS:
        value = fields.get(key)
        if value is None:
            continue
        if key == "layout" and isinstance(value, list) and all(isinstance(v, str) for v in value):
            options[key] = ",".join(value)
        elif isinstance(value, bool) or not isinstance(value, str | int):
            reader.report(f"{path}.{key}", f"must be a string or an integer, got {show(value)}")
        else:
            options[key] = str(value).replace("/", ",") if key == "layout" else str(value)
    labels: dict[str, str] = {}
    for key, value in reader.mapping(fields.get("labels"), f"{path}.labels", None).items():
        if not isinstance(value, str):
            reader.report(f"{path}.labels.{key}", f"must be a string, got {show(value)}")
        else:
            labels[key] = value
    taints = []
    for index, item in enumerate(reader.items(fields.get("taints"), f"{path}.taints")):
        where = f"{path}.taints[{index}]"
        taint = reader.mapping(item, where, ("key", "value", "effect"))
        taint_key = reader.string(taint.get("key"), f"{where}.key")
        if taint.get("key") is None:
            reader.report(f"{where}.key", "required")
        value = taint.get("value", "")
        if not isinstance(value, str):
            reader.report(f"{where}.value", f"must be a string, got {show(value)}")
            value = ""
        effect = taint.get("effect")
        if effect not in _TAINT_EFFECTS:
            reader.report(
                f"{where}.effect",
                f"must be one of {', '.join(_TAINT_EFFECTS)}, got {show(effect)}",
            )
        if taint_key is not None and isinstance(effect, str):
            taints.append(Taint(key=taint_key, value=value, effect=effect))
    node = NodeShape(
        name=name,
        device_shape=device_shape or "",
        options=options,
        labels=labels,
        cpu=reader.quantity(fields.get("cpu"), f"{path}.cpu"),
        memory=reader.quantity(fields.get("memory"), f"{path}.memory"),
        taints=tuple(taints),
    )
    if name and device_shape:
        _check_template(reader, node, path, catalog)
    prices: dict[CapacityType, float] = {}
    for key, value in reader.mapping(
        fields.get("price"), f"{path}.price", tuple(PRICE_KEYS)
    ).items():
        if value is not None:
            prices[PRICE_KEYS[key]] = reader.number(value, f"{path}.price.{key}", 0.0)
    steps = reader.mapping(
        fields.get("provisioning"), f"{path}.provisioning", tuple(DEFAULT_DELAYS)
    )
    provisioning = Provisioning(
        **{
            step: reader.delay(steps.get(step), f"{path}.provisioning.{step}", default)
            for step, default in DEFAULT_DELAYS.items()
        }
    )
    supply = reader.mapping(
        fields.get("availability"),
        f"{path}.availability",
        ("launchFailure", "capacity", "capacityTrace", "reserved", "block"),
    )
    capacity = supply.get("capacity")
    window = reader.mapping(supply.get("block"), f"{path}.availability.block", ("start", "end"))
    block = None
    if "block" in supply:
        start = reader.duration(window.get("start"), f"{path}.availability.block.start", 0.0)
        end = reader.duration(window.get("end"), f"{path}.availability.block.end", 0.0)
        if "end" not in window:
            reader.report(f"{path}.availability.block.end", "required")
        elif end <= start:
            reader.report(f"{path}.availability.block.end", "must be after start")
        else:
            block = (start, end)
    availability = Availability(
        launch_failure=reader.number(
            supply.get("launchFailure"), f"{path}.availability.launchFailure", 0.0, high=1.0
        ),
        capacity=None
        if capacity is None
        else reader.integer(capacity, f"{path}.availability.capacity", 0),
        capacity_trace=reader.string(
            supply.get("capacityTrace"), f"{path}.availability.capacityTrace"
        ),
        reserved=reader.integer(supply.get("reserved"), f"{path}.availability.reserved", 0),
        block=block,
    )
    hazard = reader.mapping(
        fields.get("interruption"),
        f"{path}.interruption",
        ("ratePerHour", "noticeSeconds", "interruptionTrace"),
    )
    interruption = Interruption(
        rate_per_hour=reader.number(
            hazard.get("ratePerHour"), f"{path}.interruption.ratePerHour", 0.0
        ),
        notice_seconds=reader.number(
            hazard.get("noticeSeconds"), f"{path}.interruption.noticeSeconds", 120.0
        ),
        interruption_trace=reader.string(
            hazard.get("interruptionTrace"), f"{path}.interruption.interruptionTrace"
        ),
    )
    if (
        interruption.rate_per_hour or interruption.interruption_trace
    ) and CapacityType.SPOT not in prices:
        reader.report(
            f"{path}.interruption", "interruption applies to spot capacity: set price.spot"
        )
    if not name:
        return None
    return Shape(
        name=name,
        node=node,
        prices=prices,
        provisioning=provisioning,
        availability=availability,
        interruption=interruption,
        gpu_label=reader.boolean(fields.get("gpuLabel"), f"{path}.gpuLabel", False),
        template_source=reader.choice(
            fields.get("templateSource"),
            f"{path}.templateSource",
            TemplateSource,
            TemplateSource.COMPUTED,
        ),
        path=path,
    )


def _check_template(reader: FieldReader, node: NodeShape, path: str, catalog: Catalog) -> None:
    """Build the shape's template and hold its objects to the API server's rules, so a label
    the API would refuse is caught here, at `labels`."""
    try:
        template = build_template(node, catalog)
    except TemplateError as err:
        reader.report(f"{path}.shape", str(err))
        return
    for field, message in validate(template.node):
        if field.startswith("metadata.labels"):
            reader.report(f"{path}.labels", message)
        else:
            reader.report(path, f"template node {template.name}: {field}: {message}")
    for each in template.slices:
        for field, message in validate(each):
            reader.report(
                f"{path}.shape", f"template slice {each.metadata.name}: {field}: {message}"
            )


def _node_group(
    reader: FieldReader, raw: object, path: str, shapes: Mapping[str, Shape]
) -> NodeGroup:
    fields = reader.mapping(
        raw,
        path,
        (
            "name",
            "shape",
            "min",
            "max",
            "capacityType",
            *FRACTION_OPTIONS,
            "scaleDownUnneededTime",
            "scaleDownUnreadyTime",
            "maxNodeProvisionTime",
            "zeroOrMaxNodeScaling",
            "ignoreDaemonsetsUtilization",
        ),
    )
    name = reader.name(fields.get("name"), f"{path}.name")
    shape_name = reader.string(fields.get("shape"), f"{path}.shape") or ""
    if fields.get("shape") is None:
        reader.report(f"{path}.shape", "required")
    elif shape_name and shape_name not in shapes:
        reader.report(
            f"{path}.shape",
            f"unknown shape {show(shape_name)} (shapes: {', '.join(shapes) or 'none'})",
        )
    min_size = reader.integer(fields.get("min"), f"{path}.min", 0)
    if fields.get("max") is None:
        reader.report(f"{path}.max", "required")
    max_size = reader.integer(fields.get("max"), f"{path}.max", max(min_size, 1))
    if fields.get("max") is not None and max_size == 0:
        reader.report(f"{path}.max", "must be >= 1 (a group that may hold no node is no group)")
    elif min_size > max_size:
        reader.report(f"{path}.max", f"must be >= min ({min_size}), got {max_size}")
    capacity_type = reader.choice(
        fields.get("capacityType"), f"{path}.capacityType", CapacityType, CapacityType.ON_DEMAND
    )
    problem = offering_problem(shapes.get(shape_name), capacity_type)
    if problem is not None:
        reader.report(f"{path}.capacityType", problem)
    if capacity_type is CapacityType.BLOCK and min_size > 0:
        # Nodes held from the run's start would exist outside the block's window.
        reader.report(f"{path}.min", "must be 0 for a capacity block (nodes only in its window)")

    def fraction(key: str) -> float | None:
        value = fields.get(key)
        return None if value is None else reader.number(value, f"{path}.{key}", 0.5, high=1.0)

    def seconds(key: str) -> float | None:
        value = fields.get(key)
        return None if value is None else reader.duration(value, f"{path}.{key}", 0.0)

    ignore = fields.get("ignoreDaemonsetsUtilization")
    options = NodeGroupOptions(
        scale_down_utilization_threshold=fraction("scaleDownUtilizationThreshold"),
        scale_down_gpu_utilization_threshold=fraction("scaleDownGpuUtilizationThreshold"),
        scale_down_unneeded_time=seconds("scaleDownUnneededTime"),
        scale_down_unready_time=seconds("scaleDownUnreadyTime"),
        max_node_provision_time=seconds("maxNodeProvisionTime"),
        zero_or_max_node_scaling=reader.boolean(
            fields.get("zeroOrMaxNodeScaling"), f"{path}.zeroOrMaxNodeScaling", False
        ),
        ignore_daemonsets_utilization=None
        if ignore is None
        else reader.boolean(ignore, f"{path}.ignoreDaemonsetsUtilization", False),
    )
    return NodeGroup(name, shape_name, min_size, max_size, capacity_type, options, path)


def _listed(
    reader: FieldReader, raw: object, path: str, read: Callable[[object, str], _E]
) -> list[_E]:
    return [read(item, f"{path}[{index}]") for index, item in enumerate(reader.items(raw, path))]


def parse_autoscaling(
    raw: object, file: str, *, base: Path | None = None, catalog: Catalog | None = None
) -> AutoscalingConfig:
    """A configuration from its decoded YAML document; InputError listing every problem.

    `base` is the folder `empirical:` delay files are read from (the file's folder)."""
    reader = FieldReader(file, KIND, base)
    if not isinstance(raw, dict):
        reader.report("", f"expected a kind: {KIND} object, got {show(raw)}")
        raise InputError(reader.problems)
    metadata = raw.get("metadata")
    name = ""
    if isinstance(metadata, dict) and isinstance(metadata.get("name"), str):
        name = metadata["name"]
        reader.obj = f"{KIND} {name}"
    top = reader.mapping(
        raw,
        "",
        (
            "apiVersion",
            "kind",
            "metadata",
            "mode",
            "shapes",
            "nodeGroups",
            "nodePools",
            "options",
            "buffers",
            "predictor",
            "warmPool",
            "sizing",
            "tracePods",
        ),
    )
    if top.get("apiVersion") != API_VERSION:
        reader.report("apiVersion", f'must be "{API_VERSION}", got {show(top.get("apiVersion"))}')
    if top.get("kind") != KIND:
        reader.report("kind", f'must be "{KIND}", got {show(top.get("kind"))}')
    if top.get("mode") is None:
        reader.report("mode", f"required: one of {', '.join(m.value for m in Mode)}")
    mode = reader.choice(top.get("mode"), "mode", Mode, Mode.CLUSTER_AUTOSCALER)
    catalog = catalog or load_catalog()
    shapes: dict[str, Shape] = {}
    read_shapes = _listed(
        reader, top.get("shapes"), "shapes", lambda r, p: _shape(reader, r, p, catalog)
    )
    reader.unique([(s.name, f"{s.path}.name") for s in read_shapes if s is not None], "shape")
    for shape in read_shapes:
        if shape is not None:
            shapes.setdefault(shape.name, shape)
    if not read_shapes:
        reader.report("shapes", "must list at least one shape")
    groups = _listed(
        reader, top.get("nodeGroups"), "nodeGroups", lambda r, p: _node_group(reader, r, p, shapes)
    )
    reader.unique([(g.name, f"{g.path}.name") for g in groups], "node group")
    pools = _listed(
        reader, top.get("nodePools"), "nodePools", lambda r, p: read_node_pool(reader, r, p, shapes)
    )
    reader.unique([(p.name, f"{p.path}.name") for p in pools], "node pool")
    if mode in (Mode.CLUSTER_AUTOSCALER, Mode.STATIC, Mode.ORACLE) and not groups:
        reader.report("nodeGroups", f"mode {mode} needs at least one node group")
    if mode is Mode.KARPENTER and not pools:
        reader.report("nodePools", "mode karpenter needs at least one node pool")
    options = read_options(reader, top.get("options"))
    buffers = _listed(reader, top.get("buffers"), "buffers", lambda r, p: read_buffer(reader, r, p))
    reader.unique([(b.name, f"{b.path}.name") for b in buffers], "buffer")
    predictor = read_predictor(reader, top.get("predictor"), shapes)
    warm_pool = read_warm_pool(reader, top.get("warmPool"), shapes, mode, groups, pools)
    sizing = read_sizing(reader, top.get("sizing"), shapes)
    trace_pods = read_trace_pods(reader, top.get("tracePods"))
    if reader.problems:
        raise InputError(reader.problems)
    return AutoscalingConfig(
        file=file,
        name=name,
        mode=mode,
        shapes=shapes,
        node_groups=tuple(groups),
        node_pools=tuple(pools),
        options=options,
        buffers=tuple(buffers),
        predictor=predictor,
        warm_pool=warm_pool,
        sizing=sizing,
        trace_pods=trace_pods,
    )


def load_autoscaling(path: str, *, catalog: Catalog | None = None) -> AutoscalingConfig:
    """Read and validate a `kind: Autoscaling` file (YAML or JSON, one document)."""
    return parse_autoscaling_text(read_text(path), path, catalog=catalog)


def parse_autoscaling_text(
    text: str, file: str, *, catalog: Catalog | None = None
) -> AutoscalingConfig:
    """`parse_autoscaling` of YAML text; `file` names it in problems and is the base of
    relative `empirical:` paths."""
    documents = yaml_documents(text, file, KIND)
    if len(documents) != 1:
        raise InputError([Problem(file, KIND, "", f"expected one document, got {len(documents)}")])
    return parse_autoscaling(documents[0], file, base=Path(file).parent, catalog=catalog)
