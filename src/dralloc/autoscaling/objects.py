"""Reading ProvisioningRequests and CapacityBuffers as users write them (spec/autoscaling.md
§7.1, §8), with the PodTemplates and ResourceClaimTemplates they name.

Owns decoding and validating such manifests (YAML, several documents, `kind: List` allowed),
beside `reader.py`'s `kind: Autoscaling` file; the only I/O is reading the file. Every problem
is collected and raised as one `InputError`, each naming the file, the object
(`ProvisioningRequest default/train`) and the field path, e.g.

    requests.yaml: ProvisioningRequest default/train: spec.podSets[0].count: must be >= 1, got 0
    requests.yaml: CapacityBuffer default/warm: spec.percentage: only allowed with scalableRef

Rules are the CRDs' (kubernetes/autoscaler `apis/provisioningrequest/.../v1/types.go`,
`apis/capacitybuffer/.../v1beta1/types.go`, read): `podSets` 1..32 with `count >= 1` and a
`podTemplateRef.name`; `provisioningClassName` a DNS subdomain of at most 253 characters;
at most 100 `parameters` of at most 255 characters; a buffer has exactly one of
`podTemplateRef` and `scalableRef`, a `podTemplateRef` buffer `replicas` or `limits`,
`replicas` and `percentage` >= 0; and dralloc's: `percentage` only with `scalableRef`, a
referenced PodTemplate must be among the objects read (or passed in), and a request's
`dralloc.io/consumed-by` annotation (the replayed pods that consume it) lists pod names, each
named by one request only. A PodTemplate's
`template` is validated as the Pod it would make, by `dralloc.api`'s decoder, its problems
re-pointed at `template.` paths. Decoding is strict: an unknown field is an error. A second
object of one kind, namespace and name is refused (kube-apiserver's AlreadyExists), documents
counted from 1. For a replay (`load_autoscaling_objects`) a `scalableRef` buffer is refused;
a request of a class cluster-autoscaler does not serve is kept, as upstream ignores it, and
`AutoscalingObjects.warnings_for` says so and names requests no autoscaler of the mode serves.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dralloc.api.core import Pod
from dralloc.api.io import decode_object
from dralloc.api.resource import ResourceClaimTemplate
from dralloc.api.workloads import PodTemplateSpec
from dralloc.autoscaling import capacitybuffer, provisioningrequest
from dralloc.autoscaling.capacitybuffer import CapacityBuffer, ScalableTarget
from dralloc.autoscaling.config import Mode
from dralloc.autoscaling.fields import FieldReader
from dralloc.autoscaling.provisioningrequest import (
    CONSUMED_BY_ANNOTATION,
    Condition,
    ConditionType,
    PodSet,
    ProvisioningClass,
    ProvisioningRequest,
)
from dralloc.documents import read_text, show, yaml_documents
from dralloc.errors import InputError, Problem

_KINDS = ("PodTemplate", "ResourceClaimTemplate", provisioningrequest.KIND, capacitybuffer.KIND)
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@dataclass(frozen=True)
class AutoscalingObjects:
    """What one or more manifests held. Templates are keyed `namespace/name`. `file` names
    the manifest in `warnings` (lines for stderr: objects read that will never be acted on,
    such as a ProvisioningRequest of a class cluster-autoscaler does not serve)."""

    provisioning_requests: tuple[ProvisioningRequest, ...] = ()
    capacity_buffers: tuple[CapacityBuffer, ...] = ()
    pod_templates: Mapping[str, PodTemplateSpec] = field(default_factory=dict)
    claim_templates: Mapping[str, ResourceClaimTemplate] = field(default_factory=dict)
    file: str = ""
    warnings: tuple[str, ...] = ()

    def warnings_for(self, mode: Mode, *, serve_requests: bool) -> tuple[str, ...]:
        """`warnings`, then one line if the autoscaler of `mode` will serve none of the
        ProvisioningRequests: Karpenter serves none upstream, and cluster-autoscaler only
        with `enableProvisioningRequests` (`serve_requests`)."""
        served = [r for r in self.provisioning_requests if r.provisioning_class is not None]
        if not served:
            return self.warnings
        if mode is Mode.CLUSTER_AUTOSCALER and serve_requests:
            return self.warnings
        why = {
            Mode.KARPENTER: "Karpenter does not serve ProvisioningRequests",
            Mode.CLUSTER_AUTOSCALER: "options.enableProvisioningRequests is off",
        }.get(mode, f"mode {mode} has no autoscaler to serve them")
        names = ", ".join(r.key for r in served)
        plural = "s" * (len(served) != 1)
        line = f"{self.file}: ProvisioningRequest{plural} {names} never served: {why}"
        return (*self.warnings, line)


def _subdomain(reader: FieldReader, raw: object, path: str) -> str:
    if not isinstance(raw, str) or not raw:
        reader.report(path, f"required: a DNS subdomain, got {show(raw)}")
        return ""
    if len(raw) > 253 or not _SUBDOMAIN.match(raw):
        reader.report(path, f"must be a DNS subdomain of at most 253 characters, got {show(raw)}")
        return ""
    return raw


def _identity(raw: dict[str, Any]) -> tuple[str, str, str]:
    metadata = raw.get("metadata")
    meta: dict[str, Any] = metadata if isinstance(metadata, dict) else {}
    name = meta.get("name")
    namespace = meta.get("namespace")
    return (
        str(raw.get("kind") or ""),
        namespace if isinstance(namespace, str) and namespace else "default",
        name if isinstance(name, str) else "",
    )


def _metadata(reader: FieldReader, raw: dict[str, Any]) -> None:
    meta = reader.mapping(raw.get("metadata"), "metadata", None)
    _subdomain(reader, meta.get("name"), "metadata.name")


def _custom_resource(
    raw: dict[str, Any], file: str, api_version: str
) -> tuple[FieldReader, dict[str, Any], str, str]:
    """A reader for one ProvisioningRequest or CapacityBuffer with its top-level fields, its
    metadata, `apiVersion` and the required `spec` checked: (reader, top, namespace, name)."""
    kind, namespace, name = _identity(raw)
    reader = FieldReader(file, f"{kind} {namespace}/{name}", None)
    top = reader.mapping(raw, "", ("apiVersion", "kind", "metadata", "spec", "status"))
    _metadata(reader, raw)
    if top.get("apiVersion") != api_version:
        reader.report("apiVersion", f'must be "{api_version}", got {show(top.get("apiVersion"))}')
    if "spec" not in top:
        reader.report("spec", "required")
    return reader, top, namespace, name


def _pod_template(
    raw: dict[str, Any], file: str, index: int, problems: list[Problem]
) -> tuple[str, PodTemplateSpec] | None:
    kind, namespace, name = _identity(raw)
    reader = FieldReader(file, f"{kind} {namespace}/{name}", None)
    top = reader.mapping(raw, "", ("apiVersion", "kind", "metadata", "template"))
    _metadata(reader, raw)
    if top.get("apiVersion") != "v1":
        reader.report("apiVersion", f'must be "v1", got {show(top.get("apiVersion"))}')
    template = reader.mapping(top.get("template"), "template", ("metadata", "spec"))
    if "template" not in top:
        reader.report("template", "required")
    pod_metadata: dict[str, Any] = {**(template.get("metadata") or {})}
    pod_metadata.update(name=name or "x", namespace=namespace)
    pod_raw = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": pod_metadata,
        "spec": template.get("spec") or {"containers": []},
    }
    loaded, found = decode_object(pod_raw, file, index)
    for problem in found:
        where = f"template.{problem.field}" if problem.field else "template"
        reader.report(where, problem.message)
    problems.extend(reader.problems)
    if reader.problems or loaded is None or not isinstance(loaded.obj, Pod):
        return None
    pod = loaded.obj
    meta = template.get("metadata") or {}
    return f"{namespace}/{name}", PodTemplateSpec(
        metadata=type(pod.metadata)(
            labels=dict(meta.get("labels") or {}),
            annotations=dict(meta.get("annotations") or {}),
        ),
        spec=pod.spec,
    )


def _conditions(reader: FieldReader, raw: object) -> tuple[Condition, ...]:
    status = reader.mapping(raw, "status", ("conditions", "provisioningClassDetails"))
    out: list[Condition] = []
    for index, item in enumerate(reader.items(status.get("conditions"), "status.conditions")):
        path = f"status.conditions[{index}]"
        fields = reader.mapping(
            item,
            path,
            ("type", "status", "reason", "message", "lastTransitionTime", "observedGeneration"),
        )
        kind = reader.choice(fields.get("type"), f"{path}.type", ConditionType, None)
        value = fields.get("status")
        if value not in ("True", "False", "Unknown"):
            reader.report(f"{path}.status", f"must be True, False or Unknown, got {show(value)}")
        if kind is not None:
            out.append(
                Condition(
                    kind,
                    value == "True",
                    str(fields.get("reason") or ""),
                    str(fields.get("message") or ""),
                )
            )
    return tuple(out)


def _missing(namespace: str, name: str, invalid: set[str]) -> str:
    key = f"{namespace}/{name}"
    if key in invalid:
        return f"PodTemplate {key} is invalid (see its own problems)"
    return f"PodTemplate {key} not found (a PodTemplate must be in the same namespace)"


def _provisioning_request(
    raw: dict[str, Any], file: str, templates: Mapping[str, PodTemplateSpec], invalid: set[str]
) -> tuple[ProvisioningRequest | None, list[Problem]]:
    reader, top, namespace, name = _custom_resource(raw, file, provisioningrequest.API_VERSION)
    spec = reader.mapping(
        top.get("spec"), "spec", ("podSets", "provisioningClassName", "parameters")
    )
    class_name = _subdomain(reader, spec.get("provisioningClassName"), "spec.provisioningClassName")
    raw_sets = reader.items(spec.get("podSets"), "spec.podSets")
    if not raw_sets or len(raw_sets) > provisioningrequest.MAX_POD_SETS:
        reader.report(
            "spec.podSets",
            f"must list 1 to {provisioningrequest.MAX_POD_SETS} pod sets, got {len(raw_sets)}",
        )
    pod_sets: list[PodSet] = []
    for index, item in enumerate(raw_sets):
        path = f"spec.podSets[{index}]"
        fields = reader.mapping(item, path, ("podTemplateRef", "count"))
        ref = reader.mapping(fields.get("podTemplateRef"), f"{path}.podTemplateRef", ("name",))
        template_name = _subdomain(reader, ref.get("name"), f"{path}.podTemplateRef.name")
        if "count" not in fields:
            reader.report(f"{path}.count", "required")
        count = reader.integer(fields.get("count"), f"{path}.count", 1, minimum=1)
        if count > 2**31 - 1:
            reader.report(f"{path}.count", f"must fit in int32, got {count}")
        template = templates.get(f"{namespace}/{template_name}") if template_name else None
        if template_name and template is None:
            reader.report(
                f"{path}.podTemplateRef.name", _missing(namespace, template_name, invalid)
            )
        if template is not None:
            pod_sets.append(PodSet(template_name, template, count))
    parameters: dict[str, str] = {}
    raw_parameters = reader.mapping(spec.get("parameters"), "spec.parameters", None)
    if len(raw_parameters) > provisioningrequest.MAX_PARAMETERS:
        reader.report(
            "spec.parameters",
            f"at most {provisioningrequest.MAX_PARAMETERS} parameters, got {len(raw_parameters)}",
        )
    for key, value in raw_parameters.items():
        if not isinstance(value, str) or len(value) > provisioningrequest.MAX_PARAMETER_LENGTH:
            reader.report(
                f"spec.parameters.{key}",
                f"must be a string of at most {provisioningrequest.MAX_PARAMETER_LENGTH} "
                f"characters, got {show(value)}",
            )
        else:
            parameters[key] = value
    consumed_by = _consumed_by(reader, raw)
    conditions = _conditions(reader, top.get("status"))
    status = top.get("status") if isinstance(top.get("status"), dict) else {}
    details = status.get("provisioningClassDetails") if isinstance(status, dict) else None
    if reader.problems:
        return None, reader.problems
    request = ProvisioningRequest(
        namespace,
        name,
        class_name,
        tuple(pod_sets),
        parameters,
        conditions=conditions,
        class_details={str(k): str(v) for k, v in (details or {}).items()},
        consumed_by=consumed_by,
    )
    return request, []


def _consumed_by(reader: FieldReader, raw: dict[str, Any]) -> tuple[str, ...]:
    meta = raw.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    value = annotations.get(CONSUMED_BY_ANNOTATION) if isinstance(annotations, dict) else None
    if value is None:
        return ()
    path = f"metadata.annotations[{CONSUMED_BY_ANNOTATION}]"
    if not isinstance(value, str):
        reader.report(path, f"must be comma-separated pod names, got {show(value)}")
        return ()
    names = tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))
    for name in names:
        if len(name) > 253 or not _SUBDOMAIN.match(name):
            reader.report(path, f"{show(name)} is not a pod name (a DNS subdomain)")
    return names


def _capacity_buffer(
    raw: dict[str, Any],
    file: str,
    templates: Mapping[str, PodTemplateSpec],
    invalid: set[str],
    scalable_refs: bool,
) -> tuple[CapacityBuffer | None, list[Problem]]:
    reader, top, namespace, name = _custom_resource(raw, file, capacitybuffer.API_VERSION)
    spec = reader.mapping(top.get("spec"), "spec", capacitybuffer.SPEC_FIELDS)
    strategy = reader.string(
        spec.get("provisioningStrategy"),
        "spec.provisioningStrategy",
        capacitybuffer.ACTIVE_CAPACITY,
    )
    template_name: str | None = None
    template: PodTemplateSpec | None = None
    if "podTemplateRef" in spec:
        ref = reader.mapping(spec.get("podTemplateRef"), "spec.podTemplateRef", ("name",))
        template_name = _subdomain(reader, ref.get("name"), "spec.podTemplateRef.name")
        template = templates.get(f"{namespace}/{template_name}") if template_name else None
        if template_name and template is None:
            reader.report("spec.podTemplateRef.name", _missing(namespace, template_name, invalid))
    target: ScalableTarget | None = None
    if "scalableRef" in spec:
        ref = reader.mapping(
            spec.get("scalableRef"), "spec.scalableRef", ("apiGroup", "kind", "name")
        )
        api_group = ref.get("apiGroup", "")
        if not isinstance(api_group, str):
            reader.report("spec.scalableRef.apiGroup", f"must be a string, got {show(api_group)}")
            api_group = ""
        target_kind = reader.string(ref.get("kind"), "spec.scalableRef.kind")
        target_name = reader.string(ref.get("name"), "spec.scalableRef.name")
        for key, value in (("kind", target_kind), ("name", target_name)):
            if value is None and ref.get(key) is None:
                reader.report(f"spec.scalableRef.{key}", "required")
        target = ScalableTarget(api_group, target_kind or "", target_name or "")
        if not scalable_refs:
            reader.report(
                "spec.scalableRef",
                "a replay has no Deployment, StatefulSet or other scalable object to size the "
                "buffer from, so it would hold nothing; use podTemplateRef with replicas",
            )
    if "podTemplateRef" in spec and "scalableRef" in spec:
        reader.report("spec", "You must define either PodTemplateRef or ScalableRef, but not both")
    elif "podTemplateRef" not in spec and "scalableRef" not in spec:
        reader.report("spec", "exactly one of podTemplateRef and scalableRef must be set")
    replicas = spec.get("replicas")
    percentage = spec.get("percentage")
    if "podTemplateRef" in spec and replicas is None and "limits" not in spec:
        reader.report("spec", "If podTemplateRef is set, replicas or limits must also be set")
    if percentage is not None and "scalableRef" not in spec:
        reader.report("spec.percentage", "only allowed with scalableRef")
    buffer = CapacityBuffer(
        namespace,
        name,
        strategy or capacitybuffer.ACTIVE_CAPACITY,
        template_name,
        template,
        target,
        None if replicas is None else reader.integer(replicas, "spec.replicas", 0),
        None if percentage is None else reader.integer(percentage, "spec.percentage", 0),
        reader.resource_list(spec.get("limits"), "spec.limits"),
    )
    return (None, reader.problems) if reader.problems else (buffer, [])


def _flatten(documents: list[Any]) -> list[Any]:
    out: list[Any] = []
    for document in documents:
        if isinstance(document, dict) and document.get("kind") == "List":
            out.extend(document.get("items") or [])
        else:
            out.append(document)
    return out


def _unserved_class(file: str, request: ProvisioningRequest) -> str:
    served = " and ".join(str(c) for c in ProvisioningClass)
    return (
        f"{file}: ProvisioningRequest {request.key}: spec.provisioningClassName: "
        f"{request.class_name} is not a class cluster-autoscaler serves ({served}): "
        "it is ignored, never served"
    )


def parse_autoscaling_objects(
    documents: list[Any],
    file: str,
    *,
    pod_templates: Mapping[str, PodTemplateSpec] | None = None,
    claim_templates: Mapping[str, ResourceClaimTemplate] | None = None,
    scalable_refs: bool = True,
) -> AutoscalingObjects:
    """The ProvisioningRequests, CapacityBuffers, PodTemplates and ResourceClaimTemplates
    of decoded documents (numbered from 1 in problems); `pod_templates` / `claim_templates`
    (keyed `namespace/name`) are ones read elsewhere that references may name. A second
    object of a kind, namespace and name already read is refused. `scalable_refs` off
    refuses `scalableRef` buffers (a replay has nothing for them to follow). A request of a
    class cluster-autoscaler does not serve is kept (upstream ignores it) with a warning.
    InputError lists every problem."""
    problems: list[Problem] = []
    invalid: set[str] = set()  # PodTemplates read but refused: references to them say so
    templates: dict[str, PodTemplateSpec] = dict(pod_templates or {})
    claims: dict[str, ResourceClaimTemplate] = dict(claim_templates or {})
    items = _flatten(documents)
    later: list[tuple[int, dict[str, Any]]] = []
    read_at: dict[tuple[str, str, str], int] = {}  # (kind, namespace, name) -> its document
    for index, raw in enumerate(items, start=1):
        where = f"document {index}"
        if not isinstance(raw, dict):
            problems.append(Problem(file, where, "", f"expected an object, got {show(raw)}"))
            continue
        kind = raw.get("kind")
        identity = _identity(raw)
        if identity[2] and kind in _KINDS:
            earlier = read_at.setdefault(identity, index)
            if earlier != index:
                # kube-apiserver answers a second create of a name with AlreadyExists.
                problems.append(
                    Problem(
                        file,
                        where,
                        "metadata.name",
                        f"{identity[0]} {identity[1]}/{identity[2]} already exists (document "
                        f"{earlier}): names are unique per kind and namespace",
                    )
                )
                continue
        if kind == "PodTemplate":
            found = _pod_template(raw, file, index, problems)
            if found is not None:
                templates[found[0]] = found[1]
            else:
                _, namespace, name = _identity(raw)
                invalid.add(f"{namespace}/{name}")
        elif kind == "ResourceClaimTemplate":
            loaded, found_problems = decode_object(raw, file, index)
            problems.extend(found_problems)
            if loaded is not None and isinstance(loaded.obj, ResourceClaimTemplate):
                meta = loaded.obj.metadata
                claims[f"{meta.namespace or 'default'}/{meta.name}"] = loaded.obj
        elif kind in (provisioningrequest.KIND, capacitybuffer.KIND):
            later.append((index, raw))
        else:
            problems.append(
                Problem(
                    file,
                    where,
                    "kind",
                    f"expected ProvisioningRequest, CapacityBuffer, PodTemplate or "
                    f"ResourceClaimTemplate, got {show(kind)}",
                )
            )
    requests: list[ProvisioningRequest] = []
    buffers: list[CapacityBuffer] = []
    warnings: list[str] = []
    consumers: dict[str, str] = {}  # namespace/pod -> the request naming it first
    for _, raw in later:
        if raw.get("kind") == provisioningrequest.KIND:
            request, found_problems = _provisioning_request(raw, file, templates, invalid)
            problems.extend(found_problems)
            if request is not None:
                requests.append(request)
                if request.provisioning_class is None:
                    warnings.append(_unserved_class(file, request))
                for pod in request.consumed_by:
                    first = consumers.setdefault(f"{request.namespace}/{pod}", request.name)
                    if first != request.name:
                        problems.append(
                            Problem(
                                file,
                                f"{provisioningrequest.KIND} {request.key}",
                                f"metadata.annotations[{CONSUMED_BY_ANNOTATION}]",
                                f"pod {pod} already consumes {request.namespace}/{first}",
                            )
                        )
        else:
            buffer, found_problems = _capacity_buffer(raw, file, templates, invalid, scalable_refs)
            problems.extend(found_problems)
            if buffer is not None:
                buffers.append(buffer)
    if problems:
        raise InputError(problems)
    return AutoscalingObjects(
        tuple(requests), tuple(buffers), templates, claims, file, tuple(warnings)
    )


def parse_autoscaling_objects_text(
    text: str,
    file: str,
    *,
    pod_templates: Mapping[str, PodTemplateSpec] | None = None,
    claim_templates: Mapping[str, ResourceClaimTemplate] | None = None,
    scalable_refs: bool = True,
) -> AutoscalingObjects:
    """`parse_autoscaling_objects` of YAML text; `file` names it in problems."""
    documents = yaml_documents(text, file)
    return parse_autoscaling_objects(
        documents,
        file,
        pod_templates=pod_templates,
        claim_templates=claim_templates,
        scalable_refs=scalable_refs,
    )


def load_autoscaling_objects(path: str, *, scalable_refs: bool = False) -> AutoscalingObjects:
    """Read ProvisioningRequests, CapacityBuffers and their templates from a YAML file for a
    replay: `scalableRef` buffers are refused unless `scalable_refs` (nothing in a replay is
    a scalable object for them to follow)."""
    return parse_autoscaling_objects_text(read_text(path), path, scalable_refs=scalable_refs)
