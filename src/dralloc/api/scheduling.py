"""Gang objects as users write them: Kubernetes 1.36's `scheduling.k8s.io/v1alpha2` Workload
and PodGroup, Volcano's `scheduling.volcano.sh/v1beta1` PodGroup and KAI's
`scheduling.run.ai/v2alpha2` PodGroup, with the API server's validation of the first two.

Pure data and validation, no I/O. The Kubernetes Workload is named `SchedulingWorkload` here:
`dralloc.api.workloads.Workload` is the union of the apps/batch controllers.

How each source becomes one gang (`dralloc.scheduler.gangs` builds them):

* Kubernetes' PodGroup: a pod joins by `spec.schedulingGroup.podGroupName`; the quorum is
  `spec.schedulingPolicy.gang.minCount` (a `basic` policy: scheduled together, no quorum).
* Volcano's PodGroup: a pod joins by annotation `scheduling.k8s.io/group-name` (or
  `scheduling.volcano.sh/group-name`); the quorum is `spec.minMember`.
* KAI: a pod joins by annotation `pod-group-name` (what KAI's podgrouper writes); the quorum is
  `spec.minMember` of the KAI PodGroup of that name, else every pod carrying the annotation.

A Workload is a static template the scheduler does not read (KEP-5832): it is validated and
kept, and a PodGroup's `podGroupTemplateRef` may name it. Volcano's `queue` and KAI's queue
label are read and kept for the queueing layer. Volcano's `minResources` (quantities, checked
here) decides whether the group may be scheduled at all: Volcano's enqueue step,
`dralloc.scheduler.gangs.volcano`.

Validation (`scheduling_problems`) follows the declarative rules on upstream's v1alpha2 types
(`+k8s:required`, `+k8s:maxItems`, unions, formats). The fields whose gate is off are
forbidden (`gated_field_problems`, given the `Features` in force): `schedulingConstraints`
needs `TopologyAwareWorkloadScheduling`; `disruptionMode`, `priorityClassName` and `priority`
need `WorkloadAwarePreemption`; `resourceClaims` needs `DRAWorkloadResourceClaims`.

    >>> group = PodGroup(metadata=ObjectMeta(name="train", namespace="default"),
    ...                  spec=PodGroupSpec(scheduling_policy=PodGroupSchedulingPolicy(
    ...                      gang=GangSchedulingPolicy(min_count=4))))
    >>> scheduling_problems(group)
    []
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from dralloc.api.meta import Base, ObjectMeta
from dralloc.api.quantity import parse_quantity
from dralloc.api.validation.base import _idx, _Validator
from dralloc.features import Features

SCHEDULING_API_VERSION: Final = "scheduling.k8s.io/v1alpha2"
VOLCANO_API_VERSION: Final = "scheduling.volcano.sh/v1beta1"
KAI_API_VERSION: Final = "scheduling.run.ai/v2alpha2"
# Volcano reads either annotation (its KubeGroupNameAnnotationKey and the newer one).
VOLCANO_GROUP_ANNOTATIONS: Final = (
    "scheduling.k8s.io/group-name",
    "scheduling.volcano.sh/group-name",
)
KAI_GROUP_ANNOTATION: Final = "pod-group-name"
KAI_QUEUE_LABEL: Final = "kai.scheduler/queue"
WORKLOAD_MAX_POD_GROUP_TEMPLATES: Final = 8
MAX_POD_GROUP_RESOURCE_CLAIMS: Final = 4
HIGHEST_USER_DEFINABLE_PRIORITY: Final = 1_000_000_000
DISRUPTION_MODES: Final = ("Pod", "PodGroup")
# PodGroup status condition and reasons (upstream's constants).
POD_GROUP_SCHEDULED: Final = "PodGroupScheduled"
REASON_UNSCHEDULABLE: Final = "Unschedulable"
REASON_SCHEDULER_ERROR: Final = "SchedulerError"


class BasicSchedulingPolicy(Base):
    """Pods scheduled one by one; the group is a label only."""


class GangSchedulingPolicy(Base):
    # Required, >= 1: how many pods must be placed at once before any is bound.
    min_count: int = 0


class PodGroupSchedulingPolicy(Base):
    """Exactly one of `basic` and `gang`."""

    basic: BasicSchedulingPolicy | None = None
    gang: GangSchedulingPolicy | None = None


class TopologyConstraint(Base):
    key: str = ""


class PodGroupSchedulingConstraints(Base):
    topology: list[TopologyConstraint] = msgspec.field(default_factory=list)


class PodGroupResourceClaim(Base):
    """A claim every pod of the group may share (exactly one source)."""

    name: str = ""
    resource_claim_name: str | None = None
    resource_claim_template_name: str | None = None


class TypedLocalObjectReference(Base):
    api_group: str = ""
    kind: str = ""
    name: str = ""


class PodGroupTemplate(Base):
    name: str = ""
    scheduling_policy: PodGroupSchedulingPolicy = msgspec.field(
        default_factory=PodGroupSchedulingPolicy
    )
    scheduling_constraints: PodGroupSchedulingConstraints | None = None
    resource_claims: list[PodGroupResourceClaim] = msgspec.field(default_factory=list)
    disruption_mode: str | None = None
    priority_class_name: str = ""
    priority: int | None = None


class SchedulingWorkloadSpec(Base):
    controller_ref: TypedLocalObjectReference | None = None
    pod_group_templates: list[PodGroupTemplate] = msgspec.field(default_factory=list)


class SchedulingWorkload(Base):
    """scheduling.k8s.io/v1alpha2 Workload: templates for PodGroups (not read by the
    scheduler)."""

    api_version: str = SCHEDULING_API_VERSION
    kind: str = "Workload"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: SchedulingWorkloadSpec = msgspec.field(default_factory=SchedulingWorkloadSpec)


class WorkloadPodGroupTemplateReference(Base):
    workload_name: str = ""
    pod_group_template_name: str = ""


class PodGroupTemplateReference(Base):
    workload: WorkloadPodGroupTemplateReference | None = None


class PodGroupSpec(Base):
    pod_group_template_ref: PodGroupTemplateReference | None = None
    scheduling_policy: PodGroupSchedulingPolicy = msgspec.field(
        default_factory=PodGroupSchedulingPolicy
    )
    scheduling_constraints: PodGroupSchedulingConstraints | None = None
    resource_claims: list[PodGroupResourceClaim] = msgspec.field(default_factory=list)
    disruption_mode: str | None = None
    priority_class_name: str = ""
    priority: int | None = None


class PodGroupStatus(Base):
    conditions: list[dict[str, Any]] = msgspec.field(default_factory=list)
    resource_claim_statuses: list[dict[str, Any]] = msgspec.field(default_factory=list)


class PodGroup(Base):
    """scheduling.k8s.io/v1alpha2 PodGroup: one gang (or basic group) at run time."""

    api_version: str = SCHEDULING_API_VERSION
    kind: str = "PodGroup"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: PodGroupSpec = msgspec.field(default_factory=PodGroupSpec)
    status: PodGroupStatus = msgspec.field(default_factory=PodGroupStatus)


class VolcanoPodGroupSpec(Base):
    min_member: int = 1
    min_resources: dict[str, Any] | None = None
    queue: str = ""
    priority_class_name: str = ""
    # Per-task quorums (`minTaskMember`): read, not enforced (dralloc gangs have one quorum).
    min_task_member: dict[str, int] | None = None


class VolcanoPodGroup(Base):
    """scheduling.volcano.sh/v1beta1 PodGroup (Volcano's gang)."""

    api_version: str = VOLCANO_API_VERSION
    kind: str = "PodGroup"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: VolcanoPodGroupSpec = msgspec.field(default_factory=VolcanoPodGroupSpec)
    status: dict[str, Any] | None = None


class KaiPodGroupSpec(Base):
    min_member: int = 1
    queue: str = ""
    priority_class_name: str = ""


class KaiPodGroup(Base):
    """scheduling.run.ai/v2alpha2 PodGroup (what KAI's podgrouper writes)."""

    api_version: str = KAI_API_VERSION
    kind: str = "PodGroup"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: KaiPodGroupSpec = msgspec.field(default_factory=KaiPodGroupSpec)
    status: dict[str, Any] | None = None


GangObject = SchedulingWorkload | PodGroup | VolcanoPodGroup | KaiPodGroup

# (group, kind) -> (struct, served apiVersions); io.py consults it before its by-kind table,
# because three groups define a kind named PodGroup.
GROUPED_KINDS: Final[dict[tuple[str, str], tuple[type[Any], tuple[str, ...]]]] = {
    ("scheduling.k8s.io", "Workload"): (SchedulingWorkload, (SCHEDULING_API_VERSION,)),
    ("scheduling.k8s.io", "PodGroup"): (PodGroup, (SCHEDULING_API_VERSION,)),
    ("scheduling.volcano.sh", "PodGroup"): (VolcanoPodGroup, (VOLCANO_API_VERSION,)),
    ("scheduling.run.ai", "PodGroup"): (KaiPodGroup, (KAI_API_VERSION,)),
}


# ------------------------------------------------------------------------------ validation


def _policy(v: _Validator, path: str, policy: PodGroupSchedulingPolicy) -> None:
    """The union: exactly one of basic and gang; gang.minCount >= 1."""
    set_members = [name for name in ("basic", "gang") if getattr(policy, name) is not None]
    if not set_members:
        v.add(path, "Invalid value: must specify one of: `basic`, `gang`")
    elif len(set_members) > 1:
        v.add(path, "Invalid value: must specify exactly one of: `basic`, `gang`")
    if policy.gang is not None:
        if policy.gang.min_count == 0:
            v.required(f"{path}.gang.minCount")
        elif policy.gang.min_count < 1:
            v.invalid(
                f"{path}.gang.minCount", policy.gang.min_count, "must be greater than or equal to 1"
            )


def _claims(v: _Validator, path: str, claims: list[PodGroupResourceClaim]) -> None:
    if not v.fits(path, claims, MAX_POD_GROUP_RESOURCE_CLAIMS):
        return
    v.unique(path, [claim.name for claim in claims])
    for index, claim in enumerate(claims):
        at = _idx(path, index)
        if not claim.name:
            v.required(f"{at}.name")
        else:
            v.dns_label(f"{at}.name", claim.name)
        sources = [
            (name, value)
            for name, value in (
                ("resourceClaimName", claim.resource_claim_name),
                ("resourceClaimTemplateName", claim.resource_claim_template_name),
            )
            if value is not None
        ]
        if len(sources) != 1:
            v.add(
                at,
                "Invalid value: must specify exactly one of: `resourceClaimName`, "
                "`resourceClaimTemplateName`",
            )
        for name, value in sources:
            v.dns_subdomain(f"{at}.{name}", value)


def _wap_fields(v: _Validator, path: str, mode: str | None, priority: int | None) -> None:
    if mode is not None and mode not in DISRUPTION_MODES:
        v.not_supported(f"{path}.disruptionMode", mode, DISRUPTION_MODES)
    if priority is not None and not -(2**31) <= priority <= HIGHEST_USER_DEFINABLE_PRIORITY:
        v.invalid(
            f"{path}.priority",
            priority,
            f"must be between -2147483648 and {HIGHEST_USER_DEFINABLE_PRIORITY}",
        )


def _template_ref(v: _Validator, path: str, ref: PodGroupTemplateReference) -> None:
    if ref.workload is None:
        v.add(path, "Invalid value: must specify one of: `workload`")
        return
    workload = ref.workload
    if not workload.workload_name:
        v.required(f"{path}.workload.workloadName")
    else:
        v.dns_subdomain(f"{path}.workload.workloadName", workload.workload_name)
    if not workload.pod_group_template_name:
        v.required(f"{path}.workload.podGroupTemplateName")
    else:
        v.dns_label(f"{path}.workload.podGroupTemplateName", workload.pod_group_template_name)


def _workload(v: _Validator, workload: SchedulingWorkload) -> None:
    v.metadata(workload.metadata, namespaced=True)
    spec = workload.spec
    ref = spec.controller_ref
    if ref is not None:
        if not ref.kind:
            v.required("spec.controllerRef.kind")
        if not ref.name:
            v.required("spec.controllerRef.name")
        for name, value in (("kind", ref.kind), ("name", ref.name)):
            if "/" in value or value in (".", ".."):
                v.invalid(
                    f"spec.controllerRef.{name}", value, "may not contain '/' or be '.' or '..'"
                )
        if ref.api_group:
            v.dns_subdomain("spec.controllerRef.apiGroup", ref.api_group)
    path = "spec.podGroupTemplates"
    templates = spec.pod_group_templates
    if not templates:
        v.required(path)
        return
    if not v.fits(path, templates, WORKLOAD_MAX_POD_GROUP_TEMPLATES):
        return
    v.unique(path, [template.name for template in templates])
    for index, template in enumerate(templates):
        at = _idx(path, index)
        if not template.name:
            v.required(f"{at}.name")
        else:
            v.dns_label(f"{at}.name", template.name)
        _policy(v, f"{at}.schedulingPolicy", template.scheduling_policy)
        _claims(v, f"{at}.resourceClaims", template.resource_claims)
        _wap_fields(v, at, template.disruption_mode, template.priority)


def _pod_group(v: _Validator, group: PodGroup) -> None:
    v.metadata(group.metadata, namespaced=True)
    spec = group.spec
    if spec.pod_group_template_ref is not None:
        _template_ref(v, "spec.podGroupTemplateRef", spec.pod_group_template_ref)
    _policy(v, "spec.schedulingPolicy", spec.scheduling_policy)
    _claims(v, "spec.resourceClaims", spec.resource_claims)
    _wap_fields(v, "spec", spec.disruption_mode, spec.priority)
    if spec.scheduling_constraints is not None:
        v.fits("spec.schedulingConstraints.topology", spec.scheduling_constraints.topology, 1)


def _min_member(v: _Validator, group: VolcanoPodGroup | KaiPodGroup) -> None:
    v.metadata(group.metadata, namespaced=True)
    if group.spec.min_member < 0:
        v.invalid("spec.minMember", group.spec.min_member, "must be greater than or equal to 0")
    if isinstance(group, VolcanoPodGroup) and group.spec.min_resources is not None:
        for name, value in group.spec.min_resources.items():
            path = f"spec.minResources[{name}]"
            try:
                amount = parse_quantity(value)
            except (TypeError, ValueError):
                v.invalid(path, value, "must be a quantity such as 8, 500m or 32Gi")
                continue
            if amount.sign() < 0:
                v.invalid(path, value, "must be greater than or equal to 0")


def scheduling_problems(obj: GangObject) -> list[tuple[str, str]]:
    """Every validation problem of one gang object, as (field path, message)."""
    v = _Validator()
    if isinstance(obj, SchedulingWorkload):
        _workload(v, obj)
    elif isinstance(obj, PodGroup):
        _pod_group(v, obj)
    else:
        _min_member(v, obj)
    return v.problems


def gated_field_problems(obj: GangObject, features: Features) -> list[tuple[str, str]]:
    """Fields set whose feature gate is off: the API server drops or refuses them."""
    v = _Validator()
    holders: list[tuple[str, PodGroupSpec | PodGroupTemplate]] = []
    if isinstance(obj, PodGroup):
        holders = [("spec", obj.spec)]
    elif isinstance(obj, SchedulingWorkload):
        holders = [
            (_idx("spec.podGroupTemplates", i), t)
            for i, t in enumerate(obj.spec.pod_group_templates)
        ]
    for path, holder in holders:
        if holder.scheduling_constraints is not None and not features.enabled(
            "TopologyAwareWorkloadScheduling"
        ):
            v.forbidden(
                f"{path}.schedulingConstraints",
                "disabled by feature gate TopologyAwareWorkloadScheduling",
            )
        if holder.resource_claims and not features.enabled("DRAWorkloadResourceClaims"):
            v.forbidden(
                f"{path}.resourceClaims", "disabled by feature gate DRAWorkloadResourceClaims"
            )
        if not features.enabled("WorkloadAwarePreemption"):
            for name, value in (
                ("disruptionMode", holder.disruption_mode),
                ("priorityClassName", holder.priority_class_name or None),
                ("priority", holder.priority),
            ):
                if value is not None:
                    v.forbidden(
                        f"{path}.{name}", "disabled by feature gate WorkloadAwarePreemption"
                    )
    return v.problems


def unknown_field_problems(raw: Any, cls: type[Any], path: str = "") -> list[tuple[str, str]]:
    """Fields of `raw` that `cls` does not define (the API schema dralloc ships has no
    scheduling.k8s.io/v1alpha2 types, so these structs are the schema). Volcano's and KAI's
    objects are custom resources: their unknown fields are kept, not reported."""
    if cls in (VolcanoPodGroup, KaiPodGroup):
        return []
    return _walk(raw, cls, path)


def _walk(raw: Any, cls: Any, path: str) -> list[tuple[str, str]]:
    import typing

    args = [a for a in typing.get_args(cls) if a is not type(None)]
    if args and typing.get_origin(cls) is not list and typing.get_origin(cls) is not dict:
        cls = args[0] if len(args) == 1 else cls
    origin = typing.get_origin(cls)
    if origin is list and isinstance(raw, list):
        (item,) = typing.get_args(cls)
        out: list[tuple[str, str]] = []
        for index, value in enumerate(raw):
            out += _walk(value, item, f"{path}[{index}]")
        return out
    if not (isinstance(cls, type) and issubclass(cls, msgspec.Struct)) or not isinstance(raw, dict):
        return []
    if cls is ObjectMeta:
        return []  # the shared metadata checks apply
    hints = typing.get_type_hints(cls)
    fields = {f.encode_name: hints[f.name] for f in msgspec.structs.fields(cls)}
    out = []
    for key, value in raw.items():
        at = f"{path}.{key}" if path else str(key)
        if key not in fields:
            out.append((at, f'unknown field "{key}"'))
        elif value is not None:
            out += _walk(value, fields[key], at)
    return out
