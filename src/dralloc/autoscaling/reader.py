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
`karpenter` without node pools.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from dralloc.api.core import Taint
from dralloc.api.quantity import Quantity, parse_quantity
from dralloc.api.validation import validate
from dralloc.autoscaling.config import (
    API_VERSION,
    DEFAULT_DELAYS,
    EXPANDERS,
    KIND,
    PRICE_KEYS,
    AutoscalingConfig,
    Availability,
    BillingStart,
    Buffer,
    CapacityType,
    ConsolidationPolicy,
    Disruption,
    DisruptionBudget,
    DisruptionReason,
    Forecaster,
    Interruption,
    Mode,
    NodeGroup,
    NodeGroupOptions,
    NodePool,
    ObjectRef,
    Options,
    PackOrder,
    Predictor,
    Provisioning,
    ScalableRef,
    Shape,
    TemplateSource,
    UtilizationMode,
)
from dralloc.autoscaling.delays import DelayDistribution, FixedDelay, parse_delay
from dralloc.autoscaling.templates import NodeShape, TemplateError, build_template
from dralloc.devices.catalog import Catalog, load_catalog
from dralloc.errors import InputError, Problem

_E = TypeVar("_E")
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_CRON_MACROS = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)
_BUDGET_NODES = re.compile(r"^(\d+)%?$")
_TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
# Options that take a duration (seconds in the model), by file name.
_DURATION_OPTIONS = (
    "scanInterval",
    "maxNodeProvisionTime",
    "maxNodeStartupTime",
    "scaleDownUnneededTime",
    "scaleDownUnreadyTime",
    "scaleDownDelayAfterAdd",
    "scaleDownDelayAfterDelete",
    "scaleDownDelayAfterFailure",
    "unremovableNodeRecheckTimeout",
    "initialNodeGroupBackoffDuration",
    "maxNodeGroupBackoffDuration",
    "nodeGroupBackoffResetTimeout",
    "newPodScaleUpDelay",
    "batchIdleDuration",
    "batchMaxDuration",
    "gpuPodDelay",
    "minimumBilledSeconds",
)
_BOOL_OPTIONS = (
    "balanceSimilarNodeGroups",
    "scaleDownEnabled",
    "enableProvisioningRequests",
    "ignoreDaemonsetsUtilization",
    "ignoreMirrorPodsUtilization",
    "spotToSpotConsolidation",
)
_INT_OPTIONS = {  # name -> smallest allowed value
    "expendablePodsPriorityCutoff": None,
    "maxNodesPerScaleUp": 1,
    "maxNodesTotal": 0,
    "maxScaleDownParallelism": 1,
    "maxDrainParallelism": 1,
    "maxGracefulTerminationSec": 0,
}
_FRACTION_OPTIONS = ("scaleDownUtilizationThreshold", "scaleDownGpuUtilizationThreshold")
_OPTION_FIELDS = (
    *_DURATION_OPTIONS,
    *_BOOL_OPTIONS,
    *_INT_OPTIONS,
    *_FRACTION_OPTIONS,
    "coresTotal",
    "memoryTotal",
    "expander",
    "expanderPriorities",
    "packOrder",
    "utilization",
    "billingStart",
)
_SHAPE_OPTIONS = ("gpus", "mig", "layout", "sharing", "replicas", "clients")


def _snake(name: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def _show(value: object) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


def parse_duration(value: object) -> float | str:
    """Seconds from a Go duration (`90s`, `10m`, `1h30m`, `0s`) or a number of seconds; else
    a message."""
    if isinstance(value, bool):
        return f"must be a duration such as 90s or 10m, got {value!r}"
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            return f"must be a duration >= 0, got {value!r}"
        return float(value)
    if not isinstance(value, str) or not value:
        return f"must be a duration such as 90s or 10m, got {_show(value)}"
    if value == "0":
        return 0.0
    position, total = 0, 0.0
    for match in _DURATION_PART.finditer(value):
        if match.start() != position:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        position = match.end()
    if position != len(value):
        return f"must be a duration such as 90s, 10m or 1h30m, got {_show(value)}"
    return total


class _Reader:
    """Collects problems with the file and object filled in; helpers return a usable value
    (a default) after reporting, so reading goes on and every problem is found."""

    def __init__(self, file: str, base: Path | None) -> None:
        self.file = file
        self.base = base
        self.obj = KIND
        self.problems: list[Problem] = []

    def report(self, path: str, message: str) -> None:
        self.problems.append(Problem(self.file, self.obj, path, message))

    def mapping(self, raw: object, path: str, known: Collection[str] | None) -> dict[str, Any]:
        if raw is None:
            return {}
        if not isinstance(raw, dict) or not all(isinstance(k, str) for k in raw):
            self.report(path, f"must be an object, got {_show(raw)}")
            return {}
        if known is None:
            return dict(raw)
        for key in raw:
            if key not in known:
                self.report(f"{path}.{key}" if path else key, "unknown field")
        return {k: v for k, v in raw.items() if k in known}

    def items(self, raw: object, path: str) -> list[Any]:
        if raw is None:
            return []
        if not isinstance(raw, list):
            self.report(path, f"must be a list, got {_show(raw)}")
            return []
        return raw

    def name(self, raw: object, path: str) -> str:
        if not isinstance(raw, str) or not _NAME.match(raw):
            self.report(
                path, f"must be a DNS label (lowercase letters, digits, '-'), got {_show(raw)}"
            )
            return ""
        return raw

    def string(self, raw: object, path: str, default: str | None = None) -> str | None:
        if raw is None:
            return default
        if not isinstance(raw, str) or not raw:
            self.report(path, f"must be a non-empty string, got {_show(raw)}")
            return default
        return raw

    def boolean(self, raw: object, path: str, default: bool) -> bool:
        if raw is None:
            return default
        if not isinstance(raw, bool):
            self.report(path, f"must be true or false, got {_show(raw)}")
            return default
        return raw

    def integer(self, raw: object, path: str, default: int, minimum: int | None = 0) -> int:
        if raw is None:
            return default
        if not isinstance(raw, int) or isinstance(raw, bool):
            self.report(path, f"must be an integer, got {_show(raw)}")
            return default
        if minimum is not None and raw < minimum:
            self.report(path, f"must be >= {minimum}, got {raw}")
            return default
        return raw

    def number(
        self, raw: object, path: str, default: float, *, low: float = 0.0, high: float | None = None
    ) -> float:
        if raw is None:
            return default
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
            self.report(path, f"must be a number, got {_show(raw)}")
            return default
        if raw < low or (high is not None and raw > high):
            bounds = f"in [{low:g}, {high:g}]" if high is not None else f">= {low:g}"
            self.report(path, f"must be {bounds}, got {raw}")
            return default
        return float(raw)

    def duration(self, raw: object, path: str, default: float, *, never: bool = False) -> float:
        """Seconds; with `never`, the string `Never` is allowed and read as infinity."""
        if raw is None:
            return default
        if never and raw == "Never":
            return math.inf
        seconds = parse_duration(raw)
        if isinstance(seconds, str):
            self.report(path, seconds + (" or Never" if never else ""))
            return default
        return seconds

    def choice(self, raw: object, path: str, enum: type[_E], default: _E) -> _E:
        if raw is None:
            return default
        values = [member.value for member in enum]  # type: ignore[attr-defined]
        if raw not in values:
            self.report(path, f"must be one of {', '.join(values)}, got {_show(raw)}")
            return default
        return enum(raw)  # type: ignore[call-arg]

    def quantity(self, raw: object, path: str) -> Quantity | None:
        if raw is None:
            return None
        if isinstance(raw, bool) or not isinstance(raw, str | int | float):
            self.report(path, f"must be a quantity such as 64 or 512Gi, got {_show(raw)}")
            return None
        try:
            value = parse_quantity(raw)
        except (ValueError, TypeError) as err:
            self.report(path, f"must be a quantity such as 64 or 512Gi: {err}")
            return None
        if value.sign() < 0:
            self.report(path, f"must be >= 0, got {raw}")
            return None
        return value

    def resource_list(self, raw: object, path: str) -> dict[str, Quantity]:
        out: dict[str, Quantity] = {}
        for key, value in self.mapping(raw, path, None).items():
            amount = self.quantity(value, f"{path}.{key}")
            if amount is not None:
                out[key] = amount
        return out

    def delay(self, raw: object, path: str, default: float) -> DelayDistribution:
        if raw is None:
            return FixedDelay(default)
        parsed = parse_delay(raw, self.base)
        if isinstance(parsed, str):
            self.report(path, parsed)
            return FixedDelay(default)
        return parsed

    def cron(self, raw: object, path: str) -> str | None:
        text = self.string(raw, path)
        if text is None:
            return None
        if text.startswith("@"):
            if text not in _CRON_MACROS:
                self.report(path, f"unknown cron macro {_show(text)}")
                return None
            return text
        if len(text.split()) != 5:
            self.report(path, f"must be a cron schedule of 5 fields or a macro, got {_show(text)}")
            return None
        return text

    def unique(self, names: list[tuple[str, str]], what: str) -> None:
        """Report a name used twice; `names` are (name, path) in file order."""
        first: dict[str, str] = {}
        for name, path in names:
            if not name:
                continue
            earlier = first.setdefault(name, path)
            if earlier != path:
                self.report(path, f"duplicate {what} {_show(name)} (first at {earlier})")


# --------------------------------------------------------------------------------- sections


def _shape(reader: _Reader, raw: object, path: str, catalog: Catalog) -> Shape | None:
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
            reader.report(f"{path}.{key}", f"must be a string or an integer, got {_show(value)}")
        else:
            options[key] = str(value).replace("/", ",") if key == "layout" else str(value)
    labels: dict[str, str] = {}
    for key, value in reader.mapping(fields.get("labels"), f"{path}.labels", None).items():
        if not isinstance(value, str):
            reader.report(f"{path}.labels.{key}", f"must be a string, got {_show(value)}")
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
            reader.report(f"{where}.value", f"must be a string, got {_show(value)}")
            value = ""
        effect = taint.get("effect")
        if effect not in _TAINT_EFFECTS:
            reader.report(
                f"{where}.effect",
                f"must be one of {', '.join(_TAINT_EFFECTS)}, got {_show(effect)}",
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
        ("launchFailure", "capacity", "capacityTrace", "reserved"),
    )
    capacity = supply.get("capacity")
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


def _check_template(reader: _Reader, node: NodeShape, path: str, catalog: Catalog) -> None:
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


def _offering_problem(shape: Shape | None, capacity_type: CapacityType) -> str | None:
    if shape is None or capacity_type in shape.prices:
        return None
    key = next(k for k, v in PRICE_KEYS.items() if v == capacity_type)
    return f"shape {shape.name} has no {capacity_type} price (set {shape.path}.price.{key})"


def _node_group(reader: _Reader, raw: object, path: str, shapes: Mapping[str, Shape]) -> NodeGroup:
    fields = reader.mapping(
        raw,
        path,
        (
            "name",
            "shape",
            "min",
            "max",
            "capacityType",
            *_FRACTION_OPTIONS,
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
            f"unknown shape {_show(shape_name)} (shapes: {', '.join(shapes) or 'none'})",
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
    problem = _offering_problem(shapes.get(shape_name), capacity_type)
    if problem is not None:
        reader.report(f"{path}.capacityType", problem)

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


def _budget(reader: _Reader, raw: object, path: str) -> DisruptionBudget:
    fields = reader.mapping(raw, path, ("nodes", "schedule", "duration", "reasons"))
    nodes = fields.get("nodes", "10%")
    if isinstance(nodes, int) and not isinstance(nodes, bool):
        nodes = str(nodes)
    match = _BUDGET_NODES.match(nodes) if isinstance(nodes, str) else None
    if match is None or (nodes.endswith("%") and int(match.group(1)) > 100):
        reader.report(
            f"{path}.nodes", f"must be a count or a percentage (0%..100%), got {_show(nodes)}"
        )
        nodes = "10%"
    schedule = reader.cron(fields.get("schedule"), f"{path}.schedule")
    duration = (
        None
        if fields.get("duration") is None
        else reader.duration(fields.get("duration"), f"{path}.duration", 0.0)
    )
    if (fields.get("schedule") is None) != (fields.get("duration") is None):
        reader.report(path, "schedule and duration must be set together")
    reasons = []
    for index, reason in enumerate(reader.items(fields.get("reasons"), f"{path}.reasons")):
        reasons.append(
            reader.choice(
                reason, f"{path}.reasons[{index}]", DisruptionReason, DisruptionReason.EMPTY
            )
        )
    return DisruptionBudget(str(nodes), schedule, duration, tuple(reasons))


def _node_pool(reader: _Reader, raw: object, path: str, shapes: Mapping[str, Shape]) -> NodePool:
    fields = reader.mapping(
        raw,
        path,
        ("name", "shapes", "capacityTypes", "limits", "weight", "disruption", "expireAfter"),
    )
    name = reader.name(fields.get("name"), f"{path}.name")
    candidates: list[str] = []
    raw_shapes = reader.items(fields.get("shapes"), f"{path}.shapes")
    if not raw_shapes:
        reader.report(f"{path}.shapes", "must list at least one shape")
    for index, item in enumerate(raw_shapes):
        where = f"{path}.shapes[{index}]"
        if not isinstance(item, str) or item not in shapes:
            reader.report(
                where, f"unknown shape {_show(item)} (shapes: {', '.join(shapes) or 'none'})"
            )
        elif item in candidates:
            reader.report(where, f"shape {item} is listed twice")
        else:
            candidates.append(item)
    types: list[CapacityType] = []
    raw_types = reader.items(fields.get("capacityTypes"), f"{path}.capacityTypes") or ["on-demand"]
    for index, item in enumerate(raw_types):
        where = f"{path}.capacityTypes[{index}]"
        capacity_type = reader.choice(item, where, CapacityType, None)
        if capacity_type is None:
            continue
        types.append(capacity_type)
        for shape in candidates:
            problem = _offering_problem(shapes.get(shape), capacity_type)
            if problem is not None:
                reader.report(where, problem)
    limits = reader.resource_list(fields.get("limits"), f"{path}.limits")
    weight = reader.integer(fields.get("weight"), f"{path}.weight", 0)
    if weight > 100:
        reader.report(f"{path}.weight", f"must be in [0, 100], got {weight}")
    where = f"{path}.disruption"
    raw_disruption = reader.mapping(
        fields.get("disruption"), where, ("consolidationPolicy", "consolidateAfter", "budgets")
    )
    after = reader.duration(
        raw_disruption.get("consolidateAfter"), f"{where}.consolidateAfter", 0.0, never=True
    )
    budgets = tuple(
        _budget(reader, item, f"{where}.budgets[{index}]")
        for index, item in enumerate(
            reader.items(raw_disruption.get("budgets"), f"{where}.budgets")
        )
    )
    disruption = Disruption(
        consolidation_policy=reader.choice(
            raw_disruption.get("consolidationPolicy"),
            f"{where}.consolidationPolicy",
            ConsolidationPolicy,
            ConsolidationPolicy.WHEN_EMPTY_OR_UNDERUTILIZED,
        ),
        consolidate_after=None if math.isinf(after) else after,
        budgets=budgets if "budgets" in raw_disruption else (DisruptionBudget(),),
    )
    expire = reader.duration(
        fields.get("expireAfter"), f"{path}.expireAfter", 720 * 3600.0, never=True
    )
    return NodePool(
        name,
        tuple(candidates),
        tuple(types),
        limits,
        weight,
        disruption,
        None if math.isinf(expire) else expire,
        path,
    )


def _options(reader: _Reader, raw: object) -> Options:
    fields = reader.mapping(raw, "options", _OPTION_FIELDS)
    defaults = Options()
    values: dict[str, Any] = {}
    for key in _DURATION_OPTIONS:
        if key in fields:
            values[_snake(key)] = reader.duration(fields[key], f"options.{key}", 0.0)
    for key in _BOOL_OPTIONS:
        if key in fields:
            values[_snake(key)] = reader.boolean(fields[key], f"options.{key}", False)
    for key, minimum in _INT_OPTIONS.items():
        if key in fields:
            values[_snake(key)] = reader.integer(
                fields[key], f"options.{key}", getattr(defaults, _snake(key)), minimum
            )
    for key in _FRACTION_OPTIONS:
        if key in fields:
            values[_snake(key)] = reader.number(fields[key], f"options.{key}", 0.5, high=1.0)
    for key in ("coresTotal", "memoryTotal"):
        value = fields.get(key)
        if value is None:
            continue
        parts = value.split(":") if isinstance(value, str) else []
        if len(parts) != 2 or not all(p.isdigit() for p in parts) or int(parts[0]) > int(parts[1]):
            reader.report(
                f"options.{key}", f"must be MIN:MAX with integers MIN <= MAX, got {_show(value)}"
            )
        else:
            values[_snake(key)] = (int(parts[0]), int(parts[1]))
    if "expander" in fields:
        chain = fields["expander"]
        names = chain.split(",") if isinstance(chain, str) else []
        unknown = [n for n in names if n not in EXPANDERS]
        if not names or unknown:
            reader.report(
                "options.expander",
                f"must be a comma-separated chain of {', '.join(EXPANDERS)}, got {_show(chain)}",
            )
        else:
            values["expander"] = tuple(names)
    priorities: dict[int, tuple[str, ...]] = {}
    for key, patterns in reader.mapping(
        fields.get("expanderPriorities"), "options.expanderPriorities", None
    ).items():
        where = f"options.expanderPriorities.{key}"
        if not key.lstrip("-").isdigit():
            reader.report(where, "priority must be an integer")
            continue
        listed = reader.items(patterns, where)
        good = []
        for index, pattern in enumerate(listed):
            try:
                re.compile(pattern) if isinstance(pattern, str) else None
            except re.error as err:
                reader.report(f"{where}[{index}]", f"invalid regular expression: {err}")
                continue
            if not isinstance(pattern, str):
                reader.report(
                    f"{where}[{index}]", f"must be a regular expression, got {_show(pattern)}"
                )
                continue
            good.append(pattern)
        priorities[int(key)] = tuple(good)
    if priorities:
        values["expander_priorities"] = priorities
    chain_names = values.get("expander", defaults.expander)
    if "priority" in chain_names and not priorities:
        reader.report("options.expanderPriorities", "required by the priority expander")
    values["pack_order"] = reader.choice(
        fields.get("packOrder"), "options.packOrder", PackOrder, PackOrder.CA
    )
    values["utilization"] = reader.choice(
        fields.get("utilization"), "options.utilization", UtilizationMode, UtilizationMode.CA
    )
    values["billing_start"] = reader.choice(
        fields.get("billingStart"), "options.billingStart", BillingStart, BillingStart.LAUNCHED
    )
    return Options(**values)


def _buffer(reader: _Reader, raw: object, path: str) -> Buffer:
    fields = reader.mapping(
        raw,
        path,
        (
            "name",
            "provisioningStrategy",
            "podTemplateRef",
            "scalableRef",
            "replicas",
            "percentage",
            "limits",
            "schedule",
            "duration",
        ),
    )
    name = reader.name(fields.get("name"), f"{path}.name")
    template = reader.mapping(fields.get("podTemplateRef"), f"{path}.podTemplateRef", ("name",))
    target = reader.mapping(
        fields.get("scalableRef"), f"{path}.scalableRef", ("apiGroup", "kind", "name")
    )
    template_ref = None
    if "podTemplateRef" in fields:
        template_ref = ObjectRef(reader.name(template.get("name"), f"{path}.podTemplateRef.name"))
    scalable_ref = None
    if "scalableRef" in fields:
        api_group = target.get("apiGroup", "")
        if not isinstance(api_group, str):
            reader.report(
                f"{path}.scalableRef.apiGroup", f"must be a string, got {_show(api_group)}"
            )
            api_group = ""
        scalable_ref = ScalableRef(
            api_group,
            reader.string(target.get("kind"), f"{path}.scalableRef.kind") or "",
            reader.name(target.get("name"), f"{path}.scalableRef.name"),
        )
        if target.get("kind") is None:
            reader.report(f"{path}.scalableRef.kind", "required")
    if (template_ref is None) == (scalable_ref is None):
        reader.report(path, "exactly one of podTemplateRef and scalableRef must be set")
    replicas = fields.get("replicas")
    percentage = fields.get("percentage")
    if percentage is not None and scalable_ref is None:
        reader.report(f"{path}.percentage", "only allowed with scalableRef")
    if (fields.get("schedule") is None) != (fields.get("duration") is None):
        reader.report(path, "schedule and duration must be set together")
    return Buffer(
        name=name,
        provisioning_strategy=reader.string(
            fields.get("provisioningStrategy"),
            f"{path}.provisioningStrategy",
            "buffer.x-k8s.io/active-capacity",
        )
        or "buffer.x-k8s.io/active-capacity",
        pod_template_ref=template_ref,
        scalable_ref=scalable_ref,
        replicas=None if replicas is None else reader.integer(replicas, f"{path}.replicas", 0),
        percentage=None
        if percentage is None
        else reader.integer(percentage, f"{path}.percentage", 0),
        limits=reader.resource_list(fields.get("limits"), f"{path}.limits"),
        schedule=reader.cron(fields.get("schedule"), f"{path}.schedule"),
        duration=None
        if fields.get("duration") is None
        else reader.duration(fields.get("duration"), f"{path}.duration", 0.0),
        path=path,
    )


def _predictor(reader: _Reader, raw: object, shapes: Mapping[str, Shape]) -> Predictor:
    fields = reader.mapping(
        raw,
        "predictor",
        (
            "forecaster",
            "q",
            "step",
            "period",
            "refit",
            "minHistory",
            "window",
            "margin",
            "maxWarmNodes",
            "maxWarmGpuHoursPerDay",
            "forecastOnly",
        ),
    )
    warm: dict[str, int] = {}
    for shape, count in reader.mapping(
        fields.get("maxWarmNodes"), "predictor.maxWarmNodes", None
    ).items():
        if shape not in shapes:
            reader.report(f"predictor.maxWarmNodes.{shape}", f"unknown shape {_show(shape)}")
        warm[shape] = reader.integer(count, f"predictor.maxWarmNodes.{shape}", 0)
    quantile = reader.number(fields.get("q"), "predictor.q", 0.9, high=1.0)
    if quantile in (0.0, 1.0):
        reader.report("predictor.q", f"must be strictly between 0 and 1, got {quantile:g}")
    step = reader.duration(fields.get("step"), "predictor.step", 300.0)
    period = reader.duration(fields.get("period"), "predictor.period", 86400.0)
    if step <= 0:
        reader.report("predictor.step", "must be > 0")
    elif period % step:
        reader.report("predictor.period", f"must be a whole number of steps ({step:g} s)")
    hours = fields.get("maxWarmGpuHoursPerDay")
    return Predictor(
        forecaster=reader.choice(
            fields.get("forecaster"), "predictor.forecaster", Forecaster, Forecaster.NONE
        ),
        quantile=quantile,
        step=step,
        period=period,
        refit=reader.duration(fields.get("refit"), "predictor.refit", 86400.0),
        min_history_periods=reader.integer(fields.get("minHistory"), "predictor.minHistory", 2, 1),
        window=reader.duration(fields.get("window"), "predictor.window", 3600.0),
        margin=reader.number(fields.get("margin"), "predictor.margin", 0.0),
        max_warm_nodes=warm,
        max_warm_gpu_hours_per_day=None
        if hours is None
        else reader.number(hours, "predictor.maxWarmGpuHoursPerDay", 0.0),
        forecast_only=reader.boolean(fields.get("forecastOnly"), "predictor.forecastOnly", False),
    )


def _listed(reader: _Reader, raw: object, path: str, read: Callable[[object, str], _E]) -> list[_E]:
    return [read(item, f"{path}[{index}]") for index, item in enumerate(reader.items(raw, path))]


def parse_autoscaling(
    raw: object, file: str, *, base: Path | None = None, catalog: Catalog | None = None
) -> AutoscalingConfig:
    """A configuration from its decoded YAML document; InputError listing every problem.

    `base` is the folder `empirical:` delay files are read from (the file's folder)."""
    reader = _Reader(file, base)
    if not isinstance(raw, dict):
        reader.report("", f"expected a kind: {KIND} object, got {_show(raw)}")
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
        ),
    )
    if top.get("apiVersion") != API_VERSION:
        reader.report("apiVersion", f'must be "{API_VERSION}", got {_show(top.get("apiVersion"))}')
    if top.get("kind") != KIND:
        reader.report("kind", f'must be "{KIND}", got {_show(top.get("kind"))}')
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
        reader, top.get("nodePools"), "nodePools", lambda r, p: _node_pool(reader, r, p, shapes)
    )
    reader.unique([(p.name, f"{p.path}.name") for p in pools], "node pool")
    if mode in (Mode.CLUSTER_AUTOSCALER, Mode.STATIC, Mode.ORACLE) and not groups:
        reader.report("nodeGroups", f"mode {mode} needs at least one node group")
    if mode is Mode.KARPENTER and not pools:
        reader.report("nodePools", "mode karpenter needs at least one node pool")
    options = _options(reader, top.get("options"))
    buffers = _listed(reader, top.get("buffers"), "buffers", lambda r, p: _buffer(reader, r, p))
    reader.unique([(b.name, f"{b.path}.name") for b in buffers], "buffer")
    predictor = _predictor(reader, top.get("predictor"), shapes)
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
    )


def load_autoscaling(path: str, *, catalog: Catalog | None = None) -> AutoscalingConfig:
    """Read and validate a `kind: Autoscaling` file (YAML or JSON, one document)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise InputError(
            [Problem(path, "", "", f"cannot read file: {err.strerror or err}")]
        ) from None
    except UnicodeDecodeError:
        raise InputError([Problem(path, "", "", "file is not UTF-8 text")]) from None
    return parse_autoscaling_text(text, path, catalog=catalog)


def parse_autoscaling_text(
    text: str, file: str, *, catalog: Catalog | None = None
) -> AutoscalingConfig:
    """`parse_autoscaling` of YAML text; `file` names it in problems and is the base of
    relative `empirical:` paths."""
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise InputError([Problem(file, KIND, "", f"{where}invalid YAML: {problem}")]) from None
    if len(documents) != 1:
        raise InputError([Problem(file, KIND, "", f"expected one document, got {len(documents)}")])
    return parse_autoscaling(documents[0], file, base=Path(file).parent, catalog=catalog)
