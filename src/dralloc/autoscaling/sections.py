"""Reading the sections of a `kind: Autoscaling` file besides shapes and node groups: the global
`options` (cluster-autoscaler's flags and Karpenter's settings in upstream spelling, dralloc's
own), `tracePods` (annotations every replayed pod carries), and what later work acts on:
karpenter's `nodePools` (with disruption budgets) and CapacityBuffers (`buffers`); plus the
offering rule shared with `nodeGroups` (a shape x capacity type must have a price).
`predictorsections` reads the §9 sections.

Each reader takes the `FieldReader` collecting the file's problems and returns a typed value
(spec/autoscaling.md §4.6, §5, §8), reporting every problem at its field path. No I/O.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from dralloc.api.core import Pod
from dralloc.api.meta import ObjectMeta
from dralloc.api.validation import validate
from dralloc.autoscaling import capacitybuffer
from dralloc.autoscaling.config import (
    EXPANDERS,
    PRICE_KEYS,
    BillingStart,
    Buffer,
    CapacityType,
    ConsolidationPolicy,
    Disruption,
    DisruptionBudget,
    DisruptionReason,
    NodePool,
    ObjectRef,
    Options,
    PackOrder,
    ScalableRef,
    Shape,
    TracePods,
    UtilizationMode,
)
from dralloc.autoscaling.fields import FieldReader
from dralloc.documents import show

_BUDGET_NODES = re.compile(r"^(\d+)%?$")

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
    "checkCapacityBatchProcessing",
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
    "checkCapacityProvisioningRequestMaxBatchSize": 1,
}
FRACTION_OPTIONS = ("scaleDownUtilizationThreshold", "scaleDownGpuUtilizationThreshold")
_OPTION_FIELDS = (
    *_DURATION_OPTIONS,
    *_BOOL_OPTIONS,
    *_INT_OPTIONS,
    *FRACTION_OPTIONS,
    "coresTotal",
    "memoryTotal",
    "expander",
    "expanderPriorities",
    "packOrder",
    "utilization",
    "billingStart",
)


def _snake(name: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def offering_problem(shape: Shape | None, capacity_type: CapacityType) -> str | None:
    """Why `shape` cannot be bought as `capacity_type`, or None: every offering needs a price;
    reserved capacity needs a count of reserved nodes and a capacity block its window."""
    if shape is None:
        return None
    if capacity_type not in shape.prices:
        key = next(k for k, v in PRICE_KEYS.items() if v == capacity_type)
        return f"shape {shape.name} has no {capacity_type} price (set {shape.path}.price.{key})"
    if capacity_type is CapacityType.RESERVED and shape.availability.reserved < 1:
        return (
            f"shape {shape.name} holds no reserved nodes (set {shape.path}.availability.reserved)"
        )
    if capacity_type is CapacityType.BLOCK and shape.availability.block is None:
        return f"shape {shape.name} has no capacity block (set {shape.path}.availability.block)"
    return None


def read_budget(reader: FieldReader, raw: object, path: str) -> DisruptionBudget:
    fields = reader.mapping(raw, path, ("nodes", "schedule", "duration", "reasons"))
    nodes = fields.get("nodes", "10%")
    if isinstance(nodes, int) and not isinstance(nodes, bool):
        nodes = str(nodes)
    match = _BUDGET_NODES.match(nodes) if isinstance(nodes, str) else None
    if match is None or (nodes.endswith("%") and int(match.group(1)) > 100):
        reader.report(
            f"{path}.nodes", f"must be a count or a percentage (0%..100%), got {show(nodes)}"
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


def read_node_pool(
    reader: FieldReader, raw: object, path: str, shapes: Mapping[str, Shape]
) -> NodePool:
    fields = reader.mapping(
        raw,
        path,
        ("name", "shapes", "capacityTypes", "limits", "weight", "disruption", "expireAfter"),
    )
    name = reader.name(fields.get("name"), f"{path}.name")
    raw_shapes = reader.items(fields.get("shapes"), f"{path}.shapes")
    if not raw_shapes:
        reader.report(f"{path}.shapes", "must list at least one shape")
    candidates = reader.shape_names(raw_shapes, f"{path}.shapes", shapes)
    types: list[CapacityType] = []
    raw_types = reader.items(fields.get("capacityTypes"), f"{path}.capacityTypes") or ["on-demand"]
    for index, item in enumerate(raw_types):
        where = f"{path}.capacityTypes[{index}]"
        capacity_type = reader.choice(item, where, CapacityType, None)
        if capacity_type is None:
            continue
        types.append(capacity_type)
        for shape in candidates:
            problem = offering_problem(shapes.get(shape), capacity_type)
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
        read_budget(reader, item, f"{where}.budgets[{index}]")
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


def read_buffer(reader: FieldReader, raw: object, path: str) -> Buffer:
    fields = reader.mapping(
        raw,
        path,
        ("name", *capacitybuffer.SPEC_FIELDS, "schedule", "duration"),
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
                f"{path}.scalableRef.apiGroup", f"must be a string, got {show(api_group)}"
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


def read_options(reader: FieldReader, raw: object) -> Options:
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
    for key in FRACTION_OPTIONS:
        if key in fields:
            values[_snake(key)] = reader.number(fields[key], f"options.{key}", 0.5, high=1.0)
    for key in ("coresTotal", "memoryTotal"):
        value = fields.get(key)
        if value is None:
            continue
        parts = value.split(":") if isinstance(value, str) else []
        if len(parts) != 2 or not all(p.isdigit() for p in parts) or int(parts[0]) > int(parts[1]):
            reader.report(
                f"options.{key}", f"must be MIN:MAX with integers MIN <= MAX, got {show(value)}"
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
                f"must be a comma-separated chain of {', '.join(EXPANDERS)}, got {show(chain)}",
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
                    f"{where}[{index}]", f"must be a regular expression, got {show(pattern)}"
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


# Annotations the autoscalers read off a pod, with the values they act on: another value is
# ignored upstream, so in a file it is a mistake ("False", a YAML boolean unquoted).
_KNOWN_ANNOTATIONS = {
    "cluster-autoscaler.kubernetes.io/safe-to-evict": ("true", "false"),
    "karpenter.sh/do-not-disrupt": ("true",),
}


def read_trace_pods(reader: FieldReader, raw: object) -> TracePods:
    """`tracePods: {annotations: {key: value}}`: keys as the API server checks annotation
    keys, values strings; the autoscalers' own keys (`_KNOWN_ANNOTATIONS`) only with a value
    they act on."""
    if raw is None:
        return TracePods()
    fields = reader.mapping(raw, "tracePods", ("annotations",))
    raw_annotations = fields.get("annotations")
    if raw_annotations is None:
        return TracePods()
    path = "tracePods.annotations"
    entries = reader.mapping(raw_annotations, path, None)
    annotations: dict[str, str] = {}
    for key, value in entries.items():
        at = f"{path}[{key}]"
        if not isinstance(value, str):
            reader.report(at, f"must be a string (quote it), got {show(value)}")
            continue
        known = _KNOWN_ANNOTATIONS.get(key)
        if known is not None and value not in known:
            wanted = " or ".join(f'"{v}"' for v in known)
            reader.report(at, f"must be {wanted}, got {show(value)}")
            continue
        annotations[key] = value
    meta = ObjectMeta(name="trace-pod", annotations=annotations)
    for field_path, message in validate(Pod(metadata=meta)):
        if field_path.startswith("metadata.annotations"):
            reader.report(path, message)
    return TracePods(annotations)
