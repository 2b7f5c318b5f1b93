"""Fair sharing (spec/queueing.md 4.1 and 4.2): the dominant resource share (DRS) of a
ClusterQueue or Cohort, and the tournament that orders a cycle's heads by it.

Owns: `dominant_resource_share`, `DRS` (with Kueue's comparison, where a zero weight that
borrows is infinite and the unweighted ratio breaks ties) and `tournament_order`. Reads quota
trees; adds a head's usage to a snapshot only inside `simulated_usage` and takes it back.
Pure computation, no I/O.

DRS of node n with a parent, with the extra usage W of a Workload under consideration:
per resource name r, borrowed_r = the sum over flavors of max(0, usage + W - subtree quota),
lendable_r = the sum over flavors of what the parent tree could lend (potential available
of the parent), ratio_r = 1000 * borrowed_r / lendable_r; DRS = max_r ratio_r / weight. A
root, or a ClusterQueue without a cohort, has DRS 0. Ties between resources go to the
alphabetically first name.

The tournament (per root cohort): every head's DRS is computed with its Workload added, at its
ClusterQueue and at each ancestor below the root; each cohort picks the best of its
children's winners (not borrowing on the flavors it requests first, then lower DRS, higher
priority, earlier queue time, and dralloc's last key, the Workload's `namespace/name`); the
root's winner is processed, and the tournament runs again on the updated snapshot.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from dralloc.queueing.quota import (
    FlavorResource,
    NodeKind,
    QuotaNode,
    add_usages,
    potential_available,
    remove_usages,
)


@dataclass(frozen=True)
class DRS:
    """A dominant resource share: `ratio` is unweighted (per mille of the lendable pool)."""

    weight: float = 1.0
    ratio: float = 0.0
    dominant_resource: str = ""
    borrowing: bool = False
    borrowed: frozenset[FlavorResource] = frozenset()

    @property
    def zero_weight_borrows(self) -> bool:
        return self.weight == 0 and self.ratio != 0

    def weighted(self) -> float:
        """Kueue's `PreciseWeightedShare`: +inf for weight 0 while borrowing."""
        if self.ratio == 0:
            return 0.0
        if self.weight == 0:
            return math.inf
        return self.ratio / self.weight

    def weighted_share(self) -> int:
        """`status.fairSharing.weightedShare`: the share rounded up, MaxInt64 for infinite."""
        if self.zero_weight_borrows:
            return 2**63 - 1
        return math.ceil(self.weighted())

    def is_borrowing_on(self, requested: Mapping[FlavorResource, int]) -> bool:
        return any(requested.get(fr, 0) > 0 for fr in self.borrowed)


def compare_drs(a: DRS, b: DRS) -> int:
    def cmp(x: float, y: float) -> int:
        return (x > y) - (x < y)

    if a.zero_weight_borrows and b.zero_weight_borrows:
        return cmp(a.ratio, b.ratio)
    if a.zero_weight_borrows:
        return 1
    if b.zero_weight_borrows:
        return -1
    return cmp(a.weighted(), b.weighted())


def lendable(parent: QuotaNode) -> dict[str, int]:
    """Per resource name, what the parent's tree could lend (summed over flavors)."""
    out: dict[str, int] = {}
    for fr in parent.root().subtree_quota:
        out[fr.resource] = out.get(fr.resource, 0) + potential_available(parent, fr)
    return out


def dominant_resource_share(
    node: QuotaNode, extra: Mapping[FlavorResource, int] | None = None
) -> DRS:
    if node.parent is None:
        return DRS(node.weight)
    extra = extra or {}
    borrowing: dict[str, int] = {}
    borrowed: set[FlavorResource] = set()
    for fr, quota in node.subtree_quota.items():
        amount = extra.get(fr, 0) + node.usage.get(fr, 0) - quota
        if amount > 0:
            borrowing[fr.resource] = borrowing.get(fr.resource, 0) + amount
            borrowed.add(fr)
    if not borrowing:
        return DRS(node.weight)
    pool = lendable(node.parent)
    ratio, dominant = 0.0, ""
    for resource in sorted(borrowing):
        total = pool.get(resource, 0)
        if total > 0:
            value = borrowing[resource] * 1000.0 / total
            if value > ratio:
                ratio, dominant = value, resource
    return DRS(node.weight, ratio, dominant, True, frozenset(borrowed))


@contextmanager
def simulated_usage(node: QuotaNode, usage: Mapping[FlavorResource, int]) -> Iterator[None]:
    add_usages(node, dict(usage))
    try:
        yield
    finally:
        remove_usages(node, dict(usage))


@dataclass(frozen=True)
class Contender:
    """What the tournament knows of one head: its ClusterQueue node, its usage, and the
    ordering keys after DRS."""

    key: str
    node: QuotaNode
    usage: Mapping[FlavorResource, int]
    priority: int
    timestamp: str


def _shares(root: QuotaNode, heads: Sequence[Contender]) -> dict[tuple[str, str], DRS]:
    """DRS keyed by (parent cohort name, workload key): the share of the child of that
    cohort on the head's path, with the head's Workload added."""
    out: dict[tuple[str, str], DRS] = {}
    for head in heads:
        with simulated_usage(head.node, head.usage):
            share = dominant_resource_share(head.node)
            for ancestor in head.node.ancestors():
                out[(ancestor.name, head.key)] = share
                share = dominant_resource_share(ancestor)
    return out


def _less(a: Contender, b: Contender, cohort: str, shares: Mapping[tuple[str, str], DRS]) -> bool:
    da, db = shares[(cohort, a.key)], shares[(cohort, b.key)]
    a_borrows, b_borrows = da.is_borrowing_on(a.usage), db.is_borrowing_on(b.usage)
    if a_borrows != b_borrows:
        return not a_borrows
    order = compare_drs(da, db)
    if order != 0:
        return order < 0
    if a.priority != b.priority:
        return a.priority > b.priority
    if a.timestamp != b.timestamp:
        return a.timestamp < b.timestamp
    return a.key < b.key


def _tournament(
    cohort: QuotaNode, by_node: Mapping[int, Contender], shares: Mapping[tuple[str, str], DRS]
) -> Contender | None:
    candidates: list[Contender] = []
    for child in cohort.children:
        if child.kind is NodeKind.cohort:
            found = _tournament(child, by_node, shares)
        else:
            found = by_node.get(id(child))
        if found is not None:
            candidates.append(found)
    if not candidates:
        return None
    best = candidates[0]
    for current in candidates[1:]:
        if _less(current, best, cohort.name, shares):
            best = current
    return best


def tournament_order(heads: Sequence[Contender], process: Callable[[Contender], None]) -> None:
    """Hand every head to `process` in fair-sharing order. `process` may charge the
    snapshot; shares are recomputed before each pick, as in Kueue."""
    pending = {h.key: h for h in heads}
    while pending:
        alone = sorted(
            (h for h in pending.values() if h.node.parent is None),
            key=lambda h: (h.node.name, h.key),
        )
        if alone:
            winner = alone[0]
        else:
            first = min(pending.values(), key=lambda h: (h.node.name, h.key))
            root = first.node.root()
            in_tree = [h for h in pending.values() if h.node.root() is root]
            shares = _shares(root, in_tree)
            by_node = {id(h.node): h for h in in_tree}
            found = _tournament(root, by_node, shares)
            assert found is not None
            winner = found
        del pending[winner.key]
        process(winner)
