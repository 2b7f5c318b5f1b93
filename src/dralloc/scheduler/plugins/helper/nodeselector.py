"""Node selectors compiled once per pod or per plugin, with upstream's parse rules.

Pure computation. Mirrors `component-helpers/scheduling/corev1/nodeaffinity`: a term's
`matchExpressions` become a label selector (`In`, `NotIn`, `Exists`, `DoesNotExist`, `Gt`,
`Lt`), its `matchFields` a field selector on `metadata.name` only (`In` or `NotIn` with exactly
one value). Terms are ORed, requirements in a term ANDed; an empty term, or an empty list of
terms, matches nothing.

A requirement that does not parse (an unknown operator, `In` without values, `Gt` with a
non-integer, a key that is not a qualified name, ...) is a *fault*. In a pod's required
affinity a fault makes only its own term match nothing (upstream's "lazy error" selector, kept
for backwards compatibility); in the plugin's `addedAffinity` and in a pod's preferred terms
faults are errors. Faults carry their field path so either use can report them.

Shared by the plugins that read a pod's required node placement: NodeAffinity itself, and
PodTopologySpread (whose `nodeAffinityPolicy: Honor` counts only the nodes the pod could land
on), through `required_node_affinity`.

`dralloc.allocator.nodeselection` matches allocation results' selectors and is more lenient;
this module follows the scheduler's NodeAffinity plugin exactly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import msgspec

from dralloc.api.core import Node, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod
from dralloc.api.meta import Base
from dralloc.scheduler.plugins.helper.args import is_qualified_name, show

OBJECT_NAME_FIELD = "metadata.name"
IN, NOT_IN, EXISTS, DOES_NOT_EXIST, GT, LT = "In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"
_LABEL_OPERATORS = (IN, NOT_IN, EXISTS, DOES_NOT_EXIST, GT, LT)
_INT64 = re.compile(r"^[+-]?[0-9]+$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

Fault = tuple[str, str]
"""(field path, what is wrong)."""


class PreferredSchedulingTerm(Base):
    """`preferredDuringSchedulingIgnoredDuringExecution[]` of core/v1 NodeAffinity.

    `dralloc.api.core.NodeAffinity` keeps these terms as raw objects; they are decoded here.
    """

    weight: int = 0
    preference: NodeSelectorTerm = msgspec.field(default_factory=NodeSelectorTerm)


def _parse_int64(text: str) -> int | None:
    """Go's `strconv.ParseInt(text, 10, 64)`: optional sign, ASCII digits, int64 range."""
    if not _INT64.match(text):
        return None
    value = int(text)
    return value if _INT64_MIN <= value <= _INT64_MAX else None


@dataclass(frozen=True)
class Requirement:
    """One parsed requirement; `bound` is the integer of `Gt`/`Lt`."""

    key: str
    operator: str
    values: frozenset[str]
    bound: int = 0

    def matches(self, value: str | None) -> bool:
        """Against the key's value on the node (None when the node lacks the key)."""
        op = self.operator
        if op == IN:
            return value is not None and value in self.values
        if op == NOT_IN:
            return value is None or value not in self.values
        if op == EXISTS:
            return value is not None
        if op == DOES_NOT_EXIST:
            return value is None
        have = _parse_int64(value) if value is not None else None
        if have is None:
            return False
        return have > self.bound if op == GT else have < self.bound


def _label_requirement(req: NodeSelectorRequirement, path: str, faults: list[Fault]) -> Requirement:
    problem = is_qualified_name(req.key)
    if problem is not None:
        faults.append((f"{path}.key", problem))
    op, values = req.operator, req.values
    bound = 0
    if op in (IN, NOT_IN):
        if not values:
            faults.append((f"{path}.values", "must not be empty for operators In and NotIn"))
    elif op in (EXISTS, DOES_NOT_EXIST):
        if values:
            faults.append((f"{path}.values", "must be empty for operators Exists and DoesNotExist"))
    elif op in (GT, LT):
        if len(values) != 1:
            faults.append(
                (
                    f"{path}.values",
                    f"must have exactly one value for operators Gt and Lt, got {len(values)}",
                )
            )
        for i, value in enumerate(values):
            parsed = _parse_int64(value)
            if parsed is None:
                faults.append((f"{path}.values[{i}]", f"must be an integer, got {show(value)}"))
            else:
                bound = parsed
    else:
        faults.append(
            (f"{path}.operator", f"must be one of {', '.join(_LABEL_OPERATORS)}, got {show(op)}")
        )
    for i, value in enumerate(values):
        if len(value) > 63 or not _LABEL_VALUE.match(value):
            faults.append(
                (
                    f"{path}.values[{i}]",
                    f"must be a label value (at most 63 characters), got {show(value)}",
                )
            )
    return Requirement(req.key, op, frozenset(values), bound)


def _field_requirement(
    req: NodeSelectorRequirement, path: str, faults: list[Fault]
) -> Requirement | None:
    if req.key != OBJECT_NAME_FIELD:
        faults.append((f"{path}.key", f"must be {OBJECT_NAME_FIELD}, got {show(req.key)}"))
        return None
    if req.operator not in (IN, NOT_IN):
        faults.append((f"{path}.operator", f"must be In or NotIn, got {show(req.operator)}"))
        return None
    if len(req.values) != 1:
        faults.append((f"{path}.values", f"must have exactly one element, got {len(req.values)}"))
        return None
    return Requirement(req.key, req.operator, frozenset(req.values))


@dataclass(frozen=True)
class CompiledTerm:
    """One node selector term; it matches nothing when empty or when it has faults."""

    expressions: tuple[Requirement, ...] = ()
    fields: tuple[Requirement, ...] = ()
    faults: tuple[Fault, ...] = ()

    def matches(self, node: Node) -> bool:
        if self.faults or not (self.expressions or self.fields):
            return False
        labels = node.metadata.labels
        if not all(req.matches(labels.get(req.key)) for req in self.expressions):
            return False
        return all(req.matches(node.metadata.name) for req in self.fields)


def is_empty_term(term: NodeSelectorTerm) -> bool:
    return not term.match_expressions and not term.match_fields


def compile_term(term: NodeSelectorTerm, path: str) -> CompiledTerm:
    faults: list[Fault] = []
    expressions = tuple(
        _label_requirement(req, f"{path}.matchExpressions[{i}]", faults)
        for i, req in enumerate(term.match_expressions)
    )
    fields = tuple(
        parsed
        for i, req in enumerate(term.match_fields)
        if (parsed := _field_requirement(req, f"{path}.matchFields[{i}]", faults)) is not None
    )
    return CompiledTerm(expressions, fields, tuple(faults))


@dataclass(frozen=True)
class CompiledSelector:
    """A NodeSelector: any term matches. Empty terms are dropped at compile time."""

    terms: tuple[CompiledTerm, ...]

    def matches(self, node: Node) -> bool:
        return any(term.matches(node) for term in self.terms)

    @property
    def faults(self) -> list[Fault]:
        return [fault for term in self.terms for fault in term.faults]


def compile_selector(selector: NodeSelector, path: str) -> CompiledSelector:
    terms_path = f"{path}.nodeSelectorTerms"
    return CompiledSelector(
        tuple(
            compile_term(term, f"{terms_path}[{i}]")
            for i, term in enumerate(selector.node_selector_terms)
            if not is_empty_term(term)
        )
    )


@dataclass(frozen=True)
class PreferredTerms:
    """Weighted preferred terms; a node scores the sum of the weights of those it matches."""

    terms: tuple[tuple[int, CompiledTerm], ...]

    def score(self, node: Node) -> int:
        return sum(weight for weight, term in self.terms if term.matches(node))


def decode_preferred(raw: object, path: str) -> PreferredSchedulingTerm | Fault:
    """One raw preferred term (a wire mapping, or already a `PreferredSchedulingTerm`), or
    the fault that keeps it from decoding."""
    if isinstance(raw, PreferredSchedulingTerm):
        return raw
    try:
        return msgspec.convert(raw, PreferredSchedulingTerm)
    except msgspec.ValidationError as error:
        message, _, where = str(error).partition(" - at `$")
        return (f"{path}{where.rstrip('`')}", message)


def compile_preferred(raw_terms: Sequence[object], path: str) -> tuple[PreferredTerms, list[Fault]]:
    """Decode and compile preferred terms. A term with weight 0 or an empty preference is
    dropped, as upstream; any fault is returned (the caller treats it as an error)."""
    faults: list[Fault] = []
    terms: list[tuple[int, CompiledTerm]] = []
    for i, raw in enumerate(raw_terms):
        term = decode_preferred(raw, f"{path}[{i}]")
        if isinstance(term, tuple):
            faults.append(term)
            continue
        if term.weight == 0 or is_empty_term(term.preference):
            continue
        compiled = compile_term(term.preference, f"{path}[{i}].preference")
        faults.extend(compiled.faults)
        terms.append((term.weight, compiled))
    return PreferredTerms(tuple(terms)), faults


@dataclass(frozen=True)
class RequiredNodeAffinity:
    """`spec.nodeSelector` (every pair) AND the required affinity (None: no constraint)."""

    node_selector: Mapping[str, str]
    affinity: CompiledSelector | None

    def matches(self, node: Node) -> bool:
        labels = node.metadata.labels
        if any(labels.get(key) != value for key, value in self.node_selector.items()):
            return False
        return self.affinity is None or self.affinity.matches(node)


_POD_REQUIRED_PATH = "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"


def required_node_affinity(pod: Pod) -> RequiredNodeAffinity:
    """The pod's own required placement (nodeSelector and required node affinity; upstream's
    `GetRequiredNodeAffinity`)."""
    affinity = pod.spec.affinity
    node_affinity = affinity.node_affinity if affinity is not None else None
    required = (
        node_affinity.required_during_scheduling_ignored_during_execution
        if node_affinity is not None
        else None
    )
    compiled = compile_selector(required, _POD_REQUIRED_PATH) if required is not None else None
    return RequiredNodeAffinity(dict(pod.spec.node_selector), compiled)
