"""Reading and writing Kubernetes objects as multi-document YAML or JSON.

Owns: parsing files (YAML 1.1 as kubectl writes it, JSON, `kind: List` and `...List` wrappers
such as `kubectl get -o yaml` prints), converting older served versions (resource.k8s.io/v1beta1,
v1beta2) to the v1 shape, decoding into the typed structs, running API validation, and encoding
back out in the exact Kubernetes shape. Each loaded object keeps its raw document, so fields
dralloc does not model survive a round trip.

Which documents are read: the kinds in `KINDS` are decoded and validated; every other object
with an apiVersion and a kind (Namespaces, ServiceAccounts, ConfigMaps, RBAC, Services, custom
resources dralloc has no use for) is read and set aside, as `kubectl apply` would create it and
the scheduler would never look at it (`ReadNotes.set_aside`). PodTemplates are read (the
ProvisioningRequests and CapacityBuffers of `dralloc.autoscaling` name them), their template
checked and defaulted as the Pod it makes (`dralloc.api.podtemplate`). RuntimeClasses are read
for the pods that name them (admission copies their overhead and scheduling into the pod) and
their fields checked against the shipped schema as every built-in kind's are. A kind that an API
group of Kubernetes itself does not define (`apps/v1 Deploymnet`) is an error, naming the kind
it probably meant; so is a document without apiVersion or kind.

Field validation follows kubectl's `--validate` (strict by default since Kubernetes 1.27): an
unknown field of a kind dralloc reads is an error under `strict`, a warning under `warn`
(`ReadNotes.warnings`), and unchecked under `ignore` (`dralloc.api.schema` knows the fields).
A key written twice in one YAML mapping (two objects concatenated without `---`) or in one JSON
object is the API server's duplicate field: refused under `strict`, naming the line and the key
(YAML) or the object and the field path (JSON), a warning under `warn`, and under `ignore` the
later value wins (JSON is then parsed without looking for repeated keys, the fastest way).

Three API groups define a kind named PodGroup (Kubernetes' scheduling.k8s.io/v1alpha2,
Volcano's scheduling.volcano.sh/v1beta1, KAI's scheduling.run.ai/v2alpha2): `GROUPED_KINDS`
of `dralloc.api.scheduling` is looked up by group and kind before `KINDS`. Their unknown fields
are found from dralloc's structs (the shipped API schema has no v1alpha2 types).

Names: an object with `generateName` and no `name` (what `kubectl create -f` accepts, and
Kueue's and Volcano's examples use) gets a name as the API server makes one, the prefix cut to
58 characters plus 5 characters of its alphabet; here they are drawn from a hash of the
document and its index, not at random, so the same input always gives the same names.

Paths: a directory reads its `.json`, `.yaml` and `.yml` files in name order, and with
`recursive` its subdirectories too, as `kubectl apply -f DIR [-R]` does.

Errors are collected, never raised one at a time: `load_files` raises one `InputError` listing
every problem with file, object and field.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import re
import sys
import types
import typing
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeAlias

import msgspec
import yaml

from dralloc.api.core import Node, Pod, PriorityClass, RuntimeClass
from dralloc.api.defaults import apply_defaults
from dralloc.api.meta import object_ref
from dralloc.api.podtemplate import (
    POD_TEMPLATE_API_VERSION,
    PodTemplate,
    default_pod_template,
    pod_template_problems,
)
from dralloc.api.policy import POLICY_API_VERSION, PodDisruptionBudget
from dralloc.api.quantity import Quantity, decode_quantity
from dralloc.api.resource import (
    DeviceClass,
    DeviceTaintRule,
    ResourceClaim,
    ResourceClaimTemplate,
    ResourceSlice,
)
from dralloc.api.scheduling import (
    GROUPED_KINDS,
    KaiPodGroup,
    PodGroup,
    SchedulingWorkload,
    VolcanoPodGroup,
    scheduling_problems,
    unknown_field_problems,
)
from dralloc.api.schema import closest, load_schema
from dralloc.api.schema import field_problems as schema_problems
from dralloc.api.validation import validate
from dralloc.api.workloads import WORKLOAD_KINDS, Workload, apply_workload_defaults
from dralloc.documents import repeated_keys
from dralloc.errors import InputError, Problem

KubeObject: TypeAlias = (
    Node
    | Pod
    | PriorityClass
    | RuntimeClass
    | DeviceClass
    | ResourceSlice
    | ResourceClaim
    | ResourceClaimTemplate
    | PodDisruptionBudget
    | PodTemplate
    | Workload
    | SchedulingWorkload
    | PodGroup
    | VolcanoPodGroup
    | KaiPodGroup
)

RESOURCE_GROUP = "resource.k8s.io"
RUNTIME_CLASS_API_VERSION = "node.k8s.io/v1"
CONVERTED_VERSIONS = ("resource.k8s.io/v1beta1", "resource.k8s.io/v1beta2")
RESOURCE_VERSIONS = ("resource.k8s.io/v1", "resource.k8s.io/v1beta2", "resource.k8s.io/v1beta1")

KINDS: dict[str, tuple[type[Any], tuple[str, ...]]] = {
    "Node": (Node, ("v1",)),
    "Pod": (Pod, ("v1",)),
    "PriorityClass": (PriorityClass, ("scheduling.k8s.io/v1",)),
    "RuntimeClass": (RuntimeClass, (RUNTIME_CLASS_API_VERSION,)),
    "DeviceClass": (DeviceClass, RESOURCE_VERSIONS),
    "ResourceSlice": (ResourceSlice, RESOURCE_VERSIONS),
    "ResourceClaim": (ResourceClaim, RESOURCE_VERSIONS),
    "ResourceClaimTemplate": (ResourceClaimTemplate, RESOURCE_VERSIONS),
    "DeviceTaintRule": (DeviceTaintRule, ("resource.k8s.io/v1beta2", "resource.k8s.io/v1alpha3")),
    "PodDisruptionBudget": (PodDisruptionBudget, (POLICY_API_VERSION,)),
    # Read (not set aside) for the ProvisioningRequests and CapacityBuffers that name them.
    "PodTemplate": (PodTemplate, (POD_TEMPLATE_API_VERSION,)),
    **WORKLOAD_KINDS,
}


WORKLOAD_TYPES = tuple(cls for cls, _ in WORKLOAD_KINDS.values())
GANG_TYPES = tuple(cls for cls, _ in GROUPED_KINDS.values())
MANIFEST_SUFFIXES = (".json", ".yaml", ".yml")


class FieldValidation(StrEnum):
    """kubectl's `--validate`: what an unknown field of an object does."""

    strict = "strict"  # an input error (kubectl's default)
    warn = "warn"  # a warning; the field is dropped
    ignore = "ignore"  # dropped silently


@dataclass(frozen=True)
class SetAside:
    """An object read from the input that dralloc has no use for (a ConfigMap, a Service)."""

    file: str
    document: int
    api_version: str
    kind: str
    name: str
    # The document as read, for a reader of custom resources (dralloc.queueing's Kueue kinds).
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __str__(self) -> str:
        return f"{self.file}: {self.kind} {self.name}".rstrip() + f" ({self.api_version})"


@dataclass
class ReadNotes:
    """What reading found besides objects and errors: kinds set aside, warnings (unknown
    fields under `FieldValidation.warn`), and the labels of the Namespaces set aside (the one
    thing of theirs scheduling reads: InterPodAffinity's `namespaceSelector`)."""

    set_aside: list[SetAside] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    namespace_labels: dict[str, dict[str, str]] = field(default_factory=dict)


# libyaml's parser when PyYAML has it (about 10x faster on large dumps), else pure Python.
_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class RepeatedKey:
    """A key written twice in one YAML mapping: `line` and `column` of the second, `first_line`
    of the first (1-based); `in_document_root` when the mapping is a whole document, as when
    two objects were concatenated without a `---` line between them."""

    key: str
    line: int
    column: int
    first_line: int
    in_document_root: bool

    @property
    def where(self) -> str:
        return f"line {self.line}, column {self.column}"

    @property
    def field(self) -> str:
        return ""

    @property
    def message(self) -> str:
        # go-yaml's strict decoding (the API server's, for YAML under fieldValidation=Strict)
        # says `key "items" already set in map`; the first line and the hint are dralloc's.
        hint = '; a "---" line missing between two objects?' if self.in_document_root else ""
        return (
            f"invalid YAML: key {json.dumps(self.key)} already set in map "
            f"(first set at line {self.first_line}{hint})"
        )


@dataclass(frozen=True)
class RepeatedField:
    """A key written twice in one JSON object: the object it belongs to (`where`: its kind and
    name) and the field's path in it (`metadata.name`)."""

    where: str
    field: str

    @property
    def message(self) -> str:
        # sigs.k8s.io/json's strict decoding (the API server's, for JSON under
        # fieldValidation=Strict).
        return f"duplicate field {json.dumps(self.field)}"


class _KubeLoader(_BaseLoader):  # type: ignore[misc]
    """YAML as Kubernetes reads it: timestamps stay strings (metav1.Time is a string). A key
    written twice in one mapping is noted in `repeated_keys` (the later value wins, as Go's
    non-strict decoding keeps it); the reader refuses or warns as field validation says."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.repeated_keys: list[RepeatedKey] = []
        self._document_root: yaml.Node | None = None

    def construct_document(self, node: yaml.Node) -> Any:
        self._document_root = node
        return super().construct_document(node)

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> Any:
        at_root = node is self._document_root
        self.repeated_keys += [
            RepeatedKey(key, line, column, first, at_root)
            for key, line, column, first in repeated_keys(self, node)
        ]
        return super().construct_mapping(node, deep=deep)


_KubeLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
# Floats in exponent form without a dot (`1e-05`, as Go's YAML and JSON write them) are
# numbers for Kubernetes' YAML reader; PyYAML's YAML 1.1 rules would keep them strings.
_EXPONENT_FLOAT = re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$")
_KubeLoader.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+0123456789."))


_BaseDumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _KubeDumper(_BaseDumper):  # type: ignore[misc]
    """Quotes strings the loader would read as numbers (`"1e3"`), so output loads back equal."""


_KubeDumper.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+0123456789."))


@dataclass
class LoadedObject:
    """One object from an input file: where it came from, its raw document and typed form."""

    file: str
    document: int
    raw: dict[str, Any]
    obj: KubeObject

    @property
    def kind(self) -> str:
        return str(self.raw.get("kind", ""))

    @property
    def ref(self) -> str:
        return object_ref(self.kind, self.obj.metadata)


def _dec_hook(kind: type, value: Any) -> Any:
    if kind is Quantity:
        # As kube-apiserver decodes a built-in object: null is zero, surrounding spaces trimmed.
        return decode_quantity(value)
    raise NotImplementedError(f"cannot decode {kind}")


def _enc_hook(value: Any) -> Any:
    if isinstance(value, Quantity):
        return str(value)
    raise NotImplementedError(f"cannot encode {type(value).__name__}")


_PATH = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)


_TYPE_WORDS = {
    "int": "integer",
    "str": "string",
    "bool": "boolean",
    "float": "number",
    "array": "list",
    "object": "object",
    "null": "null",
}
_EXPECTED = re.compile(r"^Expected `(?P<want>[^`]*)`, got `(?P<got>[^`]*)`$")


def _describe_types(spec: str) -> str:
    words = [_TYPE_WORDS.get(t.strip(), t.strip()) for t in spec.split("|")]
    words = [w for w in words if w != "null"] or words
    return " or ".join(words)


_SEGMENT = re.compile(r"\.([A-Za-z0-9_]+)|\[(\d+)\]|\[\.\.\.\]")


def _unwrap_optional(hint: Any) -> Any:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and len(args) == 1:
        return args[0]
    return hint


def _name_map_keys(cls: type, raw: Any, path: str) -> str:
    """msgspec writes `[...]` for a map key in an error path; walk the document with the
    struct types to find which key's value fails, and name it (`attributes[model]`)."""
    out: list[str] = []
    hint: Any = cls
    value: Any = raw
    for match in _SEGMENT.finditer("." + path):
        hint = _unwrap_optional(hint)
        field, index = match.group(1), match.group(2)
        if field is not None:
            out.append(f".{field}" if out else field)
            if not (isinstance(hint, type) and issubclass(hint, msgspec.Struct)):
                return path
            hints = typing.get_type_hints(hint)
            by_wire = {f.encode_name: f.name for f in msgspec.structs.fields(hint)}
            hint = hints.get(by_wire.get(field, ""))
            value = value.get(field) if isinstance(value, dict) else None
        elif index is not None:
            out.append(f"[{index}]")
            hint = (typing.get_args(hint) or (None,))[0]
            value = value[int(index)] if isinstance(value, list) else None
        else:
            args = typing.get_args(hint)
            if len(args) != 2 or not isinstance(value, dict):
                return path
            hint = args[1]
            for key, item in value.items():
                try:
                    msgspec.convert(item, hint, dec_hook=_dec_hook, str_keys=True)
                except (msgspec.ValidationError, TypeError, ValueError):
                    out.append(f"[{key}]")
                    value = item
                    break
            else:
                return path
    return "".join(out)


def _msgspec_problem(err: msgspec.ValidationError, cls: type, raw: Any) -> tuple[str, str]:
    match = _PATH.match(str(err))
    assert match is not None
    path = (match.group("path") or "").lstrip(".")
    if "[...]" in path:
        path = _name_map_keys(cls, raw, path)
    message = match.group("msg")
    typed = _EXPECTED.match(message)
    if typed:
        message = (
            f"wrong type: expected {_describe_types(typed.group('want'))}, "
            f"got {_describe_types(typed.group('got'))}"
        )
    return path, message


def _convert_v1beta1(raw: dict[str, Any]) -> dict[str, Any]:
    """resource.k8s.io/v1beta1 -> v1: request fields move under `exactly`, device fields
    come up from `basic`."""
    converted = copy.deepcopy(raw)
    kind = converted.get("kind")
    spec = converted.get("spec")
    if not isinstance(spec, dict):
        return converted
    if kind == "ResourceSlice":
        for device in spec.get("devices") or []:
            if isinstance(device, dict) and isinstance(device.get("basic"), dict):
                basic = device.pop("basic")
                device.update(basic)
    claim_spec = None
    if kind == "ResourceClaim":
        claim_spec = spec
    elif kind == "ResourceClaimTemplate" and isinstance(spec.get("spec"), dict):
        claim_spec = spec["spec"]
    if claim_spec is not None and isinstance(claim_spec.get("devices"), dict):
        exact_fields = (
            "deviceClassName",
            "selectors",
            "allocationMode",
            "count",
            "adminAccess",
            "tolerations",
            "capacity",
        )
        for request in claim_spec["devices"].get("requests") or []:
            if not isinstance(request, dict) or "exactly" in request:
                continue
            if "firstAvailable" in request:
                continue
            exactly = {k: request.pop(k) for k in exact_fields if k in request}
            request["exactly"] = exactly
    return converted


def _without_nulls(value: Any) -> Any:
    """The document with every `key: null` dropped from its mappings (list items stay)."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


def _zero(hint: Any) -> Any:
    """The wire form of Go's zero value for a field of type `hint` (None for a pointer)."""
    hint = _unwrap_optional(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return None
    origin = typing.get_origin(hint) or hint
    if isinstance(origin, type) and issubclass(origin, msgspec.Struct):
        return _zero_filled({}, origin)
    return {
        str: "",
        int: 0,
        float: 0.0,
        bool: False,
        Quantity: "0",
        list: [],
        dict: {},
    }.get(origin)


def _zero_filled(value: Any, hint: Any) -> Any:
    """`value` decoded the way Go's encoding/json fills a typed struct: a `field: null` is the
    field left out, a null list item or map value is its type's zero value (an empty object,
    "", 0, a zero quantity), and a field left out of a struct is its zero value, so "required"
    is for validation to say, naming the field (`spec.selectors[0].cel: Required value`)."""
    optional = _unwrap_optional(hint) is not hint
    hint = _unwrap_optional(hint)
    if value is None:
        return None if optional else _zero(hint)
    origin = typing.get_origin(hint) or hint
    args = typing.get_args(hint)
    if isinstance(origin, type) and issubclass(origin, msgspec.Struct) and isinstance(value, dict):
        hints = typing.get_type_hints(origin)
        out = {}
        wire_fields = {f.encode_name: f for f in msgspec.structs.fields(origin)}
        for key, item in value.items():
            info = wire_fields.get(key)
            if info is None:
                out[key] = item  # unknown: strict field validation reports it
            elif item is not None:
                out[key] = _zero_filled(item, hints[info.name])
        for key, info in wire_fields.items():
            if info.required and key not in out:
                out[key] = _zero(hints[info.name])
        return out
    if origin is list and isinstance(value, list) and args:
        return [_zero_filled(item, args[0]) for item in value]
    if origin is dict and isinstance(value, dict) and len(args) == 2:
        return {key: _zero_filled(item, args[1]) for key, item in value.items()}
    return value


# Kinds decoded with Go's zero values for nulls and missing fields, so that validation names
# a missing required key itself (`...matchExpressions[0].operator`), as the server does; other
# kinds have fields dralloc's model requires that their validation (not modelled here) would
# name instead.
_ZERO_FILLED_KINDS = (DeviceClass, ResourceSlice, ResourceClaim, ResourceClaimTemplate, Pod)


def _convert(raw: dict[str, Any], cls: type[Any]) -> Any:
    """Decode as the API server does: `field: null` (an empty `spec:` in YAML) is the field
    left out, and for resource.k8s.io kinds and Pods null items and missing fields are zero values
    (`_zero_filled`). Only a document the plain decoding trips on is rewritten, so large dumps
    without nulls pay nothing."""
    try:
        return msgspec.convert(raw, cls, dec_hook=_dec_hook, str_keys=True)
    except msgspec.ValidationError as err:
        if issubclass(cls, _ZERO_FILLED_KINDS):
            filled = _without_nulls(raw)
            if raw.get("spec") is not None:
                filled["spec"] = _zero_filled(raw["spec"], typing.get_type_hints(cls)["spec"])
            return msgspec.convert(filled, cls, dec_hook=_dec_hook, str_keys=True)
        if "got `null`" not in str(err):
            raise
        return msgspec.convert(_without_nulls(raw), cls, dec_hook=_dec_hook, str_keys=True)


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0]


def _label(kind: str, metadata: dict[str, Any], where: str) -> str:
    name = str(metadata.get("name") or "")
    namespace = str(metadata.get("namespace") or "")
    qualified = f"{namespace}/{name}" if namespace and name else name
    if kind:
        return f"{kind} {qualified}" if name else f"{kind} ({where})"
    return f"object {qualified} ({where})" if name else where


def _identity_problems(raw: dict[str, Any], file: str, where: str) -> list[Problem]:
    """A document must say what it is: apiVersion and kind, both non-empty strings."""
    problems = []
    for key in ("apiVersion", "kind"):
        value = raw.get(key)
        if value is None or value == "":
            problems.append(Problem(file, where, key, f"missing {key}"))
        elif not isinstance(value, str):
            message = f"wrong type: expected string, got {type(value).__name__}"
            problems.append(Problem(file, where, key, message))
    return problems


def _unknown_kind(kind: str, api_version: str, file: str, label: str) -> Problem | None:
    """An error for a kind that a Kubernetes API group does not define; None for kinds it
    does define and for custom resources (both set aside)."""
    schema = load_schema()
    if not schema.is_builtin_group(api_version):
        return None
    group = _group(api_version)
    in_group = {
        name
        for group_version, kinds in schema.builtin.items()
        if _group(group_version) == group
        for name in kinds
    }
    if kind in schema.builtin_kinds(api_version):
        return None
    if kind in in_group:
        return Problem(
            file, label, "apiVersion", f"{kind} is not served as {api_version} by Kubernetes 1.36"
        )
    hint = closest(kind, sorted(in_group | set(KINDS)))
    suggestion = f" (did you mean {hint!r}?)" if hint else ""
    group_name = group or "the core group"
    return Problem(
        file, label, "kind", f"unknown kind {kind!r} in {group_name} ({api_version}){suggestion}"
    )


def _pod_template_field_problems(
    raw: dict[str, Any],
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """`schema_problems` of a v1 PodTemplate. The shipped schema has its parts but not the
    kind: its metadata is checked as a Pod's, its template as a PodTemplateSpec."""
    fields = ["apiVersion", "kind", "metadata", "template"]
    unknown: list[tuple[str, str]] = []
    for key in raw:
        if key not in fields:
            meant = closest(key, fields)
            hint = f' (did you mean "{meant}"?)' if meant else ""
            unknown.append((key, f"unknown field {json.dumps(key)}{hint}"))
    meta_unknown, out_of_range = schema_problems({"metadata": raw.get("metadata")}, "v1", "Pod")
    unknown += meta_unknown
    template = raw.get("template")
    if isinstance(template, dict):
        template_unknown, template_range = schema_problems(template, "v1", "PodTemplateSpec")
        unknown += [(f"template.{path}", message) for path, message in template_unknown]
        out_of_range += [(f"template.{path}", message) for path, message in template_range]
    return unknown, out_of_range


def decode_object(
    raw: Any,
    file: str,
    document: int,
    *,
    validation: FieldValidation = FieldValidation.strict,
    notes: ReadNotes | None = None,
    now: datetime | None = None,
) -> tuple[LoadedObject | None, list[Problem]]:
    """Decode and validate one document. Returns the object (None if unusable or set aside)
    and problems. Objects dralloc has no use for go to `notes.set_aside`; unknown fields under
    `FieldValidation.warn` go to `notes.warnings`. `now` is the creation time stamped where
    the API server stamps one (a device taint's `timeAdded`); by default the time of reading,
    as the server uses the time of the request."""
    where = f"document {document}"
    if not isinstance(raw, dict):
        return None, [Problem(file, where, "", f"expected an object, got {type(raw).__name__}")]
    found = raw.get("metadata")
    metadata: dict[str, Any] = found if isinstance(found, dict) else {}
    identity = _identity_problems(raw, file, where)
    if identity:
        return None, identity
    kind: str = raw["kind"]
    api_version: str = raw["apiVersion"]
    label = _label(kind, metadata, where)
    # Kinds several groups define (PodGroup: Kubernetes', Volcano's, KAI's) go by group first.
    entry = GROUPED_KINDS.get((_group(api_version), kind)) or KINDS.get(kind)
    if entry is not None and _group(api_version) not in {_group(v) for v in entry[1]}:
        entry = None  # a custom resource of another group that has the same kind name
    if entry is None:
        problem = _unknown_kind(kind, api_version, file, label)
        if problem is not None:
            return None, [problem]
        # Custom resources read by another part of dralloc (Kueue's kinds, decoded by
        # dralloc.queueing) still get kubectl's field validation here, where the mode is known.
        custom_unknown, custom_range = schema_problems(raw, api_version, kind)
        refused = [Problem(file, label, path, message) for path, message in custom_range]
        custom = [Problem(file, label, path, message) for path, message in custom_unknown]
        if validation is FieldValidation.strict:
            refused += custom
        elif validation is FieldValidation.warn and notes is not None:
            notes.warnings.extend(custom)
        if refused:
            return None, refused
        if notes is not None:
            name = str(metadata.get("name") or "")
            namespace = str(metadata.get("namespace") or "")
            name = f"{namespace}/{name}" if namespace and name else name
            notes.set_aside.append(SetAside(file, document, api_version, kind, name, raw))
            unexpanded = UNEXPANDED_WORKLOADS.get((_group(api_version), kind))
            if unexpanded is not None:
                notes.warnings.append(Problem(file, label, "", f"set aside: {unexpanded}"))
            if kind == "Namespace" and api_version == "v1" and name:
                labels = metadata.get("labels")
                notes.namespace_labels[name] = (
                    {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}
                )
        return None, []
    cls, versions = entry
    if api_version not in versions:
        return None, [
            Problem(
                file,
                label,
                "apiVersion",
                f"unsupported apiVersion {api_version!r} for {kind} (expected one of: "
                f"{', '.join(versions)})",
            )
        ]
    if cls is PodTemplate:
        unknown_fields, out_of_range = _pod_template_field_problems(raw)
    else:
        unknown_fields, out_of_range = schema_problems(raw, api_version, kind)
    if cls in GANG_TYPES:
        # Kinds the shipped API schema does not hold: their structs are the schema.
        unknown_fields = unknown_field_problems(raw, cls)
    # The decoder refuses a number its field cannot hold whatever the validation mode.
    field_problems = [Problem(file, label, path, message) for path, message in out_of_range]
    if validation is not FieldValidation.ignore:
        unknown = [Problem(file, label, path, message) for path, message in unknown_fields]
        if validation is FieldValidation.strict:
            field_problems += unknown
        elif notes is not None:
            notes.warnings.extend(unknown)
    if api_version == "resource.k8s.io/v1beta1":
        raw = _convert_v1beta1(raw)
    if api_version in CONVERTED_VERSIONS and kind != "DeviceTaintRule":
        # Served versions convert to v1; output is written in v1, as `kubectl get` would
        # print it from a v1-storing API server.
        raw = {**raw, "apiVersion": "resource.k8s.io/v1"}
    try:
        obj = _convert(raw, cls)
    except msgspec.ValidationError as err:
        path, message = _msgspec_problem(err, cls, raw)
        return None, [*field_problems, Problem(file, label, path, message)]
    if api_version in CONVERTED_VERSIONS and kind != "DeviceTaintRule":
        obj.api_version = "resource.k8s.io/v1"
    loaded = LoadedObject(file, document, raw, obj)
    if isinstance(obj, GANG_TYPES):
        checked = scheduling_problems(obj)
    elif isinstance(obj, PodTemplate):
        checked = pod_template_problems(obj)
    else:
        checked = validate(obj)
    problems = field_problems + [Problem(file, loaded.ref, path, msg) for path, msg in checked]
    if not problems:
        if not obj.metadata.name and obj.metadata.generate_name:
            loaded = LoadedObject(file, document, _named(raw, obj, document), obj)
        if isinstance(obj, GANG_TYPES):
            pass  # nothing defaulted: the API server defaults none of their fields dralloc reads
        elif isinstance(obj, WORKLOAD_TYPES):
            apply_workload_defaults(obj)
        elif isinstance(obj, PodTemplate):
            default_pod_template(obj, now=now or datetime.now(UTC))
        else:
            apply_defaults(obj, now=now or datetime.now(UTC))
    return loaded, problems


# The API server's generateName rule (apiserver/pkg/storage/names): base cut to 58, 5 random
# characters from an alphabet without vowels and look-alikes.
_GENERATED_BASE_LENGTH = 58
_GENERATED_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def _named(raw: dict[str, Any], obj: KubeObject, document: int) -> dict[str, Any]:
    """Give `obj` (and a copy of `raw`) the name the API server would generate, drawn from
    the document's content and index so that reading the same file twice names alike."""
    prefix = obj.metadata.generate_name
    digest = hashlib.sha256(
        json.dumps([document, raw], sort_keys=True, default=str).encode()
    ).digest()
    suffix = "".join(_GENERATED_ALPHABET[b % len(_GENERATED_ALPHABET)] for b in digest[:5])
    name = prefix[:_GENERATED_BASE_LENGTH] + suffix
    obj.metadata.name = name
    return {**raw, "metadata": {**raw.get("metadata", {}), "name": name}}


# Workload kinds of other projects whose controllers dralloc does not run: their pods never
# appear, so being set aside is said on stderr every time (not only with -v), with what to give
# instead. A dump holding their pods and groups too schedules those as usual.
UNEXPANDED_WORKLOADS: dict[tuple[str, str], str] = {
    ("batch.volcano.sh", "Job"): (
        "dralloc does not run Volcano's job controller, so no pods or PodGroup are made from "
        "this Job; give its pods (annotated scheduling.k8s.io/group-name) and its "
        "scheduling.volcano.sh/v1beta1 PodGroup, or a batch/v1 Job or JobSet"
    ),
    **{
        (group, kind): (
            f"dralloc does not run the {kind} controller, so no pods are made from it; give "
            "its pods, or a batch/v1 Job or JobSet"
        )
        for group, kinds in (
            (
                "kubeflow.org",
                ("PyTorchJob", "MPIJob", "TFJob", "XGBoostJob", "PaddleJob", "JAXJob"),
            ),
            ("trainer.kubeflow.org", ("TrainJob",)),
            ("ray.io", ("RayJob", "RayCluster")),
        )
        for kind in kinds
    },
}


def _yaml_error(err: yaml.YAMLError, text: str) -> tuple[str, str, str]:
    """(where, field, message) for a YAML error, on one line."""
    if isinstance(err, yaml.reader.ReaderError):
        line = text.count("\n", 0, err.position) + 1
        column = err.position - (text.rfind("\n", 0, err.position) + 1) + 1
        char = f"U+{err.character:04X}" if isinstance(err.character, int) else repr(err.character)
        return f"line {line}, column {column}", "", f"invalid YAML: unacceptable character {char}"
    mark = getattr(err, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    return where, "", f"invalid YAML: {problem}"


def _parse(
    text: str, *, find_repeated: bool = True
) -> tuple[list[Any], list[RepeatedKey] | list[RepeatedField]]:
    """The non-empty documents of `text`, and the keys written twice in one mapping (in JSON
    only with `find_repeated`: noting them costs about a sixth of the parse)."""
    stripped = text.lstrip()
    if stripped[:1] in ("{", "["):
        # JSON (what `kubectl get -o json` writes): the C JSON parser is far faster.
        repeated: list[tuple[dict[str, Any], list[str]]] = []
        hook = _object_noting_repeats(repeated) if find_repeated else None
        try:
            parsed = json.loads(stripped, object_pairs_hook=hook)
        except ValueError:
            pass  # not one JSON document: let the YAML parser read (or reject) it
        else:
            docs = parsed if isinstance(parsed, list) else [parsed]
            return docs, _repeated_fields(docs, repeated) if repeated else []
    loader = _KubeLoader(text)
    try:
        docs = []
        while loader.check_data():
            doc = loader.get_data()
            if doc is not None:
                docs.append(doc)
        return docs, loader.repeated_keys
    finally:
        loader.dispose()


def _object_noting_repeats(
    repeated: list[tuple[dict[str, Any], list[str]]],
) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    """A JSON object hook that builds the dict as the parser would (the later value wins) and
    notes, in `repeated`, each dict with a key written twice and those keys."""

    def build(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            seen: set[str] = set()
            again = []
            for key, _ in pairs:
                if key in seen:
                    again.append(key)
                seen.add(key)
            repeated.append((obj, again))
        return obj

    return build


def _repeated_fields(
    docs: list[Any], repeated: list[tuple[dict[str, Any], list[str]]]
) -> list[RepeatedField]:
    """Where each noted dict is: the object (a document, or an item of a list) and the path
    in it. Only walked when a key was repeated."""
    keys_of = {id(obj): keys for obj, keys in repeated}
    found: list[RepeatedField] = []

    def walk(value: Any, where: str, path: str) -> None:
        if isinstance(value, dict):
            for key in keys_of.get(id(value), ()):
                found.append(RepeatedField(where, f"{path}.{key}" if path else key))
            for key, item in value.items():
                walk(item, where, f"{path}.{key}" if path else key)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, where, f"{path}[{index}]")

    def label(obj: Any, where: str) -> str:
        if not isinstance(obj, dict):
            return where
        metadata = obj.get("metadata")
        kind = obj.get("kind")
        return _label(
            kind if isinstance(kind, str) else "",
            metadata if isinstance(metadata, dict) else {},
            where,
        )

    for number, doc in enumerate(docs, start=1):
        where = label(doc, f"document {number}")
        items = doc.get("items") if isinstance(doc, dict) else None
        if isinstance(items, list):
            for key in keys_of.get(id(doc), ()):
                found.append(RepeatedField(where, key))
            for key, value in doc.items():
                if key != "items":
                    walk(value, where, key)
            for index, item in enumerate(items):
                walk(item, label(item, f"document {number}, items[{index}]"), "")
        else:
            walk(doc, where, "")
    return found


def _documents(
    text: str,
    file: str,
    validation: FieldValidation = FieldValidation.strict,
    notes: ReadNotes | None = None,
) -> tuple[list[Any], list[Problem]]:
    """The file's objects, `kind: List` and `...List` items flattened. A key written twice in
    one mapping is the API server's "duplicate field" under field validation: the file is
    refused under `strict` (every repetition named by line and key), a warning under `warn`,
    and unchecked under `ignore` (the later value wins)."""
    try:
        docs, repeated = _parse(text, find_repeated=validation is not FieldValidation.ignore)
    except yaml.YAMLError as err:
        return [], [Problem(file, *_yaml_error(err, text))]
    if repeated and validation is not FieldValidation.ignore:
        found = [Problem(file, r.where, r.field, r.message) for r in repeated]
        if validation is FieldValidation.strict:
            return [], found
        if notes is not None:
            notes.warnings.extend(found)
    flat: list[Any] = []
    for doc in docs:
        if isinstance(doc, dict) and isinstance(doc.get("kind"), str):
            kind = doc["kind"]
            # As kubectl's decoding: any `...List` with an `items` list is a list (Kueue's
            # ClusterQueueList, Volcano's PodGroupList, ...), not only those of kinds read here.
            listed = (
                isinstance(doc.get("items"), list)
                or kind[:-4] in KINDS
                or any(k == kind[:-4] for _, k in GROUPED_KINDS)
            )
            if kind == "List" or (kind.endswith("List") and listed):
                items = doc.get("items") or []
                item_kind = kind[:-4] if kind != "List" else None
                for item in items:
                    if item_kind and isinstance(item, dict):
                        item.setdefault("kind", item_kind)
                        item.setdefault("apiVersion", doc.get("apiVersion"))
                    flat.append(item)
                continue
        flat.append(doc)
    return flat, []


def load_text(
    text: str,
    file: str,
    *,
    validation: FieldValidation = FieldValidation.strict,
    notes: ReadNotes | None = None,
) -> tuple[list[LoadedObject], list[Problem]]:
    docs, problems = _documents(text, file, validation, notes)
    loaded: list[LoadedObject] = []
    for index, raw in enumerate(docs, start=1):
        obj, found = decode_object(raw, file, index, validation=validation, notes=notes)
        problems.extend(found)
        if obj is not None:
            loaded.append(obj)
    return loaded, problems


STDIN_NAME = "<stdin>"


def expand_paths(paths: Sequence[str], *, recursive: bool = False) -> list[str]:
    """Files to read, in order: a directory stands for its manifest files (`.json`, `.yaml`,
    `.yml`) in name order, its subdirectories' too with `recursive`, as kubectl reads `-f DIR`.
    Other paths (files, '-', paths that do not exist) are kept for the reader to report."""
    out: list[str] = []
    for path in paths:
        if path == "-" or not os.path.isdir(path):
            out.append(path)
            continue
        for root, dirs, files in os.walk(path):
            dirs.sort()
            if not recursive:
                dirs.clear()
            out.extend(
                os.path.join(root, name)
                for name in sorted(files)
                if name.endswith(MANIFEST_SUFFIXES)
            )
    return out


def read_files(
    paths: Sequence[str],
    *,
    recursive: bool = False,
    validation: FieldValidation = FieldValidation.strict,
    notes: ReadNotes | None = None,
) -> tuple[list[LoadedObject], list[Problem]]:
    """Load every object of every file ('-' is stdin; a directory its manifest files), in
    order, with every problem found. Objects that decoded are returned even when others (or
    they) have problems, so callers can add their own checks to the same report."""
    loaded: list[LoadedObject] = []
    problems: list[Problem] = []
    for path in expand_paths(paths, recursive=recursive):
        name = STDIN_NAME if path == "-" else path
        try:
            text = sys_stdin_text() if path == "-" else Path(path).read_text(encoding="utf-8")
        except OSError as err:
            problems.append(Problem(name, "", "", f"cannot read file: {err.strerror or err}"))
            continue
        except UnicodeDecodeError:
            problems.append(Problem(name, "", "", "file is not UTF-8 text"))
            continue
        objects, found = load_text(text, name, validation=validation, notes=notes)
        loaded.extend(objects)
        problems.extend(found)
    return loaded, problems


def load_files(paths: Sequence[str]) -> list[LoadedObject]:
    """Load every object of every file, in order; raise one InputError listing all problems."""
    loaded, problems = read_files(paths)
    if problems:
        raise InputError(problems)
    return loaded


def sys_stdin_text() -> str:
    return sys.stdin.read()


_T = typing.TypeVar("_T")


@functools.cache
def _codec(cls: Hashable) -> tuple[msgspec.msgpack.Encoder, msgspec.msgpack.Decoder[Any]]:
    # Keyed by the struct class (a class is hashable; typeshed's msgspec metaclass hides it).
    return (
        msgspec.msgpack.Encoder(enc_hook=_enc_hook),
        msgspec.msgpack.Decoder(cls, dec_hook=_dec_hook),
    )


def clone(obj: _T) -> _T:
    """A deep copy of a wire struct (through msgpack: about 10x faster than `copy.deepcopy`,
    which controllers making thousands of pods from one template would spend their time in)."""
    encoder, decoder = _codec(typing.cast(Hashable, type(obj)))
    copied: _T = decoder.decode(encoder.encode(obj))
    return copied


def to_builtins(obj: Any) -> Any:
    """A struct as plain dicts and lists in the Kubernetes wire shape."""
    return msgspec.to_builtins(obj, enc_hook=_enc_hook)


def kube_dict(obj: KubeObject) -> dict[str, Any]:
    """A typed object as a wire dict, apiVersion and kind first."""
    body = to_builtins(obj)
    assert isinstance(body, dict)
    out: dict[str, Any] = {"apiVersion": obj.api_version, "kind": obj.kind}
    out.update((k, v) for k, v in body.items() if k not in ("apiVersion", "kind"))
    return out


def encode_json(obj: KubeObject) -> bytes:
    """A typed object as compact JSON, apiVersion and kind first; the same document as
    `kube_dict` gives, without building the intermediate dicts."""
    body = msgspec.json.encode(obj, enc_hook=_enc_hook)
    if body.startswith(b'{"apiVersion"'):  # a non-default apiVersion: take the slow path
        return msgspec.json.encode(kube_dict(obj))
    head = msgspec.json.encode({"apiVersion": obj.api_version, "kind": obj.kind})
    # omit_defaults leaves apiVersion and kind out of `body`; splice the two objects.
    return head[:-1] + (b"," + body[1:] if len(body) > 2 else b"}")


def list_document(items: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "List", "metadata": {}, "items": list(items)}


def dump(document: Any, output: str) -> str:
    """Serialise as `yaml` or `json` (kubectl's formatting conventions)."""
    if output == "json":
        # msgspec's C encoder: the stdlib's indenting encoder is pure Python and dominates
        # the time to write a large cluster.
        return msgspec.json.format(msgspec.json.encode(document), indent=4).decode() + "\n"
    return str(
        yaml.dump(
            document,
            Dumper=_KubeDumper,
            sort_keys=False,
            default_flow_style=False,
            allow_unicode=False,
            width=1 << 16,
        )
    )


def from_server(raw: dict[str, Any], cls: type[_T]) -> _T:
    """An object as an API server sent it: validated and defaulted there already, so decoded
    without the checks user input gets (fields dralloc does not model are dropped), then
    given dralloc's derived defaults (a pod's effective requests) as a file's objects are."""
    obj: _T = _convert(raw, cls)
    if not isinstance(obj, WORKLOAD_TYPES + GANG_TYPES):
        apply_defaults(obj)
    return obj
