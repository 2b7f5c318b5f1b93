"""The ownership rule (spec/cluster-mode.md section 1): which nodes' devices dralloc may hand out.

The API server does not stop two claims from getting one device: DRA assumes one scheduler
owns every device of a node. dralloc allocates only on nodes that `--owned-nodes` selects (a
label selector in kubectl's syntax), and from pools shared across nodes (`nodeSelector`,
`allNodes`, per-device node selection) only with `--allow-shared-pools`, which is unsafe when
another scheduler can reach those nodes. Pure values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from dralloc.api.resource import ResourceSlice
from dralloc.errors import InputError, Problem
from dralloc.scheduler.framework.labels import (
    DOES_NOT_EXIST,
    EVERYTHING,
    EXISTS,
    IN,
    NOT_IN,
    CompiledLabelSelector,
    LabelRequirement,
)

_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SET = re.compile(rf"^\s*(?P<key>{_KEY})\s+(?P<op>in|notin)\s*\((?P<values>[^)]*)\)\s*$")
_EQUALITY = re.compile(rf"^\s*(?P<key>{_KEY})\s*(?P<op>==|=|!=)\s*(?P<value>{_VALUE})\s*$")
_EXISTS = re.compile(rf"^\s*(?P<not>!)?\s*(?P<key>{_KEY})\s*$")


def _terms(text: str) -> list[str]:
    """Split at the commas outside parentheses."""
    terms, depth, start = [], 0, 0
    for index, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            terms.append(text[start:index])
            start = index + 1
    terms.append(text[start:])
    return terms


def parse_label_selector(text: str, where: str = "--owned-nodes") -> CompiledLabelSelector:
    """kubectl's label selector syntax (`a=b,c!=d,e in (f,g),h,!i`); empty selects all.
    A term that does not parse is an InputError naming `where` and the term."""
    if not text.strip():
        return EVERYTHING
    requirements: list[LabelRequirement] = []
    for term in _terms(text):
        if found := _SET.match(term):
            values = frozenset(v.strip() for v in found["values"].split(",") if v.strip())
            if not values:
                raise InputError([Problem(where, "", "", f"{term.strip()!r}: no values")])
            op = IN if found["op"] == "in" else NOT_IN
            requirements.append(LabelRequirement(found["key"], op, values))
        elif found := _EQUALITY.match(term):
            op = NOT_IN if found["op"] == "!=" else IN
            requirements.append(LabelRequirement(found["key"], op, frozenset({found["value"]})))
        elif found := _EXISTS.match(term):
            op = DOES_NOT_EXIST if found["not"] else EXISTS
            requirements.append(LabelRequirement(found["key"], op))
        else:
            raise InputError(
                [Problem(where, "", "", f"{term.strip()!r} is not a label selector term")]
            )
    return CompiledLabelSelector(tuple(requirements))


@dataclass(frozen=True)
class Ownership:
    """Which nodes are dralloc's, and whether it may use pools shared across nodes."""

    nodes: CompiledLabelSelector = EVERYTHING
    allow_shared_pools: bool = False

    def owns_node(self, labels: Mapping[str, str]) -> bool:
        return self.nodes.matches(labels)

    def may_use(self, slice_: ResourceSlice, owned_nodes: Mapping[str, object]) -> bool:
        """A node-local slice of an owned node; a shared one only when allowed."""
        spec = slice_.spec
        if spec.node_name:
            return spec.node_name in owned_nodes
        return self.allow_shared_pools
