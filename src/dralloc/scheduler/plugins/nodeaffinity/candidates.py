"""The only nodes NodeAffinity's Filter may pass, read from a node label index.

Pure computation over a `NodeLabelIndex` (the snapshot's, `framework/labelindex.py`); no I/O.

`filter_candidates` returns a set that holds every node Filter passes (it may hold more:
Filter still runs on each of them), or None when the index cannot narrow. A node passes when
it carries every `spec.nodeSelector` pair, matches some term of the required affinity, and
matches some term of the profile's `addedAffinity`. Each requirement the index can answer
gives the nodes that satisfy it exactly:

* `In`: the nodes with one of the values; `Exists`: the nodes with the key;
* `Gt`, `Lt`: the nodes of each value of the key that satisfies the bound;
* `matchFields` `metadata.name In`: that node, if it is in the list.

`NotIn`, `DoesNotExist` and `metadata.name NotIn` hold for nodes the index does not list
(those without the key), so they narrow nothing: a term is narrowed by its other
requirements, and a term with none left that it can answer admits every node (then, as terms
are ORed, the whole selector does, and the answer is None). A term that matches nothing (one
that did not parse: upstream's lazy error) adds no node; a selector whose terms were all
empty matches none. The pod's nodeSelector pairs are ANDed into every term, so a pod pinned
to a node pool is narrowed to that pool whatever its affinity says.

The cost is that of the smallest requirement of each term: its nodes are walked and checked
against the others, never the whole fleet.
"""

from __future__ import annotations

from collections.abc import Mapping, Set

from dralloc.scheduler.framework import NodeLabelIndex
from dralloc.scheduler.plugins.helper.nodeselector import (
    EXISTS,
    GT,
    IN,
    LT,
    OBJECT_NAME_FIELD,
    CompiledSelector,
    CompiledTerm,
    RequiredNodeAffinity,
    Requirement,
)

# The nodes that satisfy one requirement: a union of the index's sets (kept apart: building
# the union of a key's values would walk every node that has the key).
_Union = tuple[Set[str], ...]


def _label_union(index: NodeLabelIndex, req: Requirement) -> _Union | None:
    op = req.operator
    if op == IN:
        return tuple(index.with_value(req.key, value) for value in sorted(req.values))
    if op == EXISTS:
        return (index.with_key(req.key),)
    if op in (GT, LT):
        return tuple(
            names for value, names in sorted(index.values(req.key).items()) if req.matches(value)
        )
    return None


def _field_union(positions: Mapping[str, int], req: Requirement) -> _Union | None:
    if req.key != OBJECT_NAME_FIELD or req.operator != IN:
        return None
    return tuple(frozenset((name,)) for name in sorted(req.values) if name in positions)


def _size(union: _Union) -> int:
    return sum(len(names) for names in union)


def _term_candidates(unions: list[_Union]) -> set[str] | None:
    """The nodes in every union (None: no union to narrow by)."""
    if not unions:
        return None
    unions.sort(key=_size)
    smallest, rest = unions[0], unions[1:]
    found: set[str] = set()
    for names in smallest:
        found.update(names)
    # One set per union is the common case (nodeSelector pairs, `In` with one value): set
    # intersection walks the smaller side, which `found` is.
    for union in rest:
        if not found:
            break
        if len(union) == 1:
            found.intersection_update(union[0])
        else:
            found = {name for name in found if any(name in names for names in union)}
    return found


def _selector_candidates(
    index: NodeLabelIndex,
    positions: Mapping[str, int],
    selector: CompiledSelector | None,
    pairs: list[_Union],
) -> set[str] | None:
    """The nodes that may match `selector` (None: no selector) and carry `pairs`."""
    if selector is None:
        return _term_candidates(list(pairs))
    found: set[str] = set()
    for term in selector.terms:
        narrowed = _one_term(index, positions, term, pairs)
        if narrowed is None:
            return None
        found |= narrowed
    return found


def _one_term(
    index: NodeLabelIndex,
    positions: Mapping[str, int],
    term: CompiledTerm,
    pairs: list[_Union],
) -> set[str] | None:
    if term.faults or not (term.expressions or term.fields):
        return set()  # matches no node
    unions = list(pairs)
    for req in term.expressions:
        union = _label_union(index, req)
        if union is not None:
            unions.append(union)
    for req in term.fields:
        union = _field_union(positions, req)
        if union is not None:
            unions.append(union)
    return _term_candidates(unions)


def filter_candidates(
    index: NodeLabelIndex,
    positions: Mapping[str, int],
    required: RequiredNodeAffinity,
    added: CompiledSelector | None,
) -> frozenset[str] | None:
    """Every node (of the list `index` and `positions` describe) that may pass NodeAffinity's
    Filter for a pod with `required` under `added`; None when the index cannot narrow."""
    pairs: list[_Union] = [
        (index.with_value(key, value),) for key, value in sorted(required.node_selector.items())
    ]
    mine = _selector_candidates(index, positions, required.affinity, pairs)
    enforced = _selector_candidates(index, positions, added, []) if added is not None else None
    if mine is None:
        return None if enforced is None else frozenset(enforced)
    if enforced is None:
        return frozenset(mine)
    return frozenset(mine & enforced)
