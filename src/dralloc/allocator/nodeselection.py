"""Node selection: does a core/v1 NodeSelector term match a node, and merging terms.

Pure computation, no I/O. Implements the node-affinity matching rules that ResourceSlices and
allocation results use (spec/dra-v1.md 6.2 and 6.12): matchExpressions on labels with
In / NotIn / Exists / DoesNotExist / Gt / Lt, matchFields only on `metadata.name`.
"""

from __future__ import annotations

from collections.abc import Mapping

from dralloc.api.core import Node, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm


def _parse_int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def requirement_matches(req: NodeSelectorRequirement, value: str | None) -> bool:
    """One requirement against the value of its key (None when the key is absent)."""
    op = req.operator
    if op == "In":
        return value is not None and value in req.values
    if op == "NotIn":
        return value is None or value not in req.values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt"):
        if value is None or len(req.values) != 1:
            return False
        have, want = _parse_int(value), _parse_int(req.values[0])
        if have is None or want is None:
            return False
        return have > want if op == "Gt" else have < want
    # An unknown operator never matches, as in the apiserver's node-affinity helpers.
    return False


def term_matches(term: NodeSelectorTerm, node_name: str, labels: Mapping[str, str]) -> bool:
    """All requirements of one term hold. A term with no requirements matches nothing."""
    if not term.match_expressions and not term.match_fields:
        return False
    for req in term.match_expressions:
        if not requirement_matches(req, labels.get(req.key)):
            return False
    for req in term.match_fields:
        value = node_name if req.key == "metadata.name" else None
        if not requirement_matches(req, value):
            return False
    return True


def selector_matches(selector: NodeSelector, node: Node) -> bool:
    """Any term matches (terms are OR-ed)."""
    labels = node.metadata.labels
    name = node.metadata.name
    return any(term_matches(term, name, labels) for term in selector.node_selector_terms)


def node_name_selector(node_name: str) -> NodeSelector:
    """The selector an allocation result gets when its devices are local to one node."""
    return NodeSelector(
        node_selector_terms=[
            NodeSelectorTerm(
                match_fields=[
                    NodeSelectorRequirement(key="metadata.name", operator="In", values=[node_name])
                ]
            )
        ]
    )


def merge_terms(terms: list[NodeSelectorTerm]) -> NodeSelector | None:
    """Merge single-term selectors into one term, dropping duplicate requirements.

    Two requirements are duplicates when key, operator and the *set* of values agree.
    Returns None when the merged term is empty (usable on every node).
    """
    expressions: list[NodeSelectorRequirement] = []
    fields: list[NodeSelectorRequirement] = []
    seen: set[tuple[str, str, str, frozenset[str]]] = set()
    for term in terms:
        for kind, source, target in (
            ("e", term.match_expressions, expressions),
            ("f", term.match_fields, fields),
        ):
            for req in source:
                key = (kind, req.key, req.operator, frozenset(req.values))
                if key not in seen:
                    seen.add(key)
                    target.append(req)
    if not expressions and not fields:
        return None
    return NodeSelector(
        node_selector_terms=[NodeSelectorTerm(match_expressions=expressions, match_fields=fields)]
    )
