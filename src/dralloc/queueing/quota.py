"""Quota arithmetic in the cohort tree (spec/queueing.md 2.6): subtree quota, usage,
available and potentially available capacity per (flavor, resource).

Owns: `QuotaNode` (a ClusterQueue or a Cohort in the tree) and the pure functions Kueue's
`resource_node.go` defines over it. Amounts are integers in Kueue's units: milli-units for
`cpu`, whole units (rounded up) for everything else (`amount_of`, `quantity_of`).

Per node and flavor-resource `fr`:

* `local_quota(n) = max(0, SubtreeQuota - lendingLimit)` when a lending limit is set, else 0:
  what the parent cannot see.
* A ClusterQueue's `SubtreeQuota` is its nominal quota; a Cohort's is its own nominal plus, per
  child, `child.SubtreeQuota - local_quota(child)`. A Cohort's usage is the sum over children
  of `max(0, child.Usage - local_quota(child))`.
* `available(n)`: at a root `SubtreeQuota - Usage`; below, what is left locally plus what the
  parent has, capped by the borrowing limit. `potential_available` is the same with no usage.
* Adding usage charges the node and bubbles what exceeds its local availability up to the
  parent; removing mirrors it (`add_usage`, `remove_usage`).

Mutation: only `add_usage` / `remove_usage` change a tree, and only its `usage` maps. A cycle's
snapshot is a copy of the tree (`clone_tree`); what-if work adds usage and removes it again.
Pure computation, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from dralloc.api.quantity import Format, Quantity

CPU = "cpu"
_BINARY = ("memory", "ephemeral-storage")


class FlavorResource(NamedTuple):
    """One quota line: a resource in a flavor (`FR` in Kueue)."""

    flavor: str
    resource: str

    def __str__(self) -> str:
        return f"{self.resource} in flavor {self.flavor}"


def amount_of(resource: str, quantity: Quantity) -> int:
    """Kueue's `ResourceValue`: milli-cpu for cpu, whole units rounded up for the rest."""
    if resource == CPU:
        nano = quantity.nano
        return -((-nano) // 1_000_000)
    return quantity.ceil_int()


def quantity_of(resource: str, amount: int) -> Quantity:
    """Kueue's `ResourceQuantity`, the inverse of `amount_of`, in the format Kueue prints:
    cpu as milli-units, memory and hugepages in binary units, the rest decimal (dralloc's
    counter and capacity keys in binary units too)."""
    if resource == CPU:
        return Quantity.from_nano(amount * 1_000_000, Format.DecimalSI)
    # dralloc's counter and capacity keys (dralloc.queueing.dra) are mostly bytes: binary too.
    binary_key = "/counter." in resource or "/capacity." in resource
    if resource in _BINARY or resource.startswith("hugepages-") or binary_key:
        return Quantity.from_int(amount, Format.BinarySI)
    return Quantity.from_int(amount, Format.DecimalSI)


def format_amount(resource: str, amount: int) -> str:
    return str(quantity_of(resource, amount))


@dataclass(frozen=True)
class Quota:
    """Limits of one FR on one node, in Kueue units; None is "no limit"."""

    nominal: int = 0
    borrowing_limit: int | None = None
    lending_limit: int | None = None


class NodeKind(StrEnum):
    cluster_queue = "ClusterQueue"
    cohort = "Cohort"


@dataclass(eq=False)
class QuotaNode:
    """A ClusterQueue or a Cohort: its quotas, subtree quota and usage per FR.

    >>> parent = QuotaNode("org", NodeKind.cohort)
    >>> cq = QuotaNode("a", NodeKind.cluster_queue, {FlavorResource("f", "cpu"): Quota(4000)})
    >>> attach(cq, parent); recompute(parent)
    >>> available(cq, FlavorResource("f", "cpu"))
    4000
    """

    name: str
    kind: NodeKind
    quotas: dict[FlavorResource, Quota] = field(default_factory=dict)
    weight: float = 1.0
    parent: QuotaNode | None = None
    children: list[QuotaNode] = field(default_factory=list)
    subtree_quota: dict[FlavorResource, int] = field(default_factory=dict)
    usage: dict[FlavorResource, int] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"{self.kind} {self.name}"

    @property
    def has_parent(self) -> bool:
        return self.parent is not None

    def root(self) -> QuotaNode:
        node = self
        while node.parent is not None:
            node = node.parent
        return node

    def ancestors(self) -> Iterator[QuotaNode]:
        """Parent, grandparent, ... up to the root."""
        node = self.parent
        while node is not None:
            yield node
            node = node.parent

    def cluster_queues(self) -> Iterator[QuotaNode]:
        """Every ClusterQueue of this subtree (this node, if it is one)."""
        if self.kind is NodeKind.cluster_queue:
            yield self
        for child in self.children:
            yield from child.cluster_queues()

    def height(self) -> int:
        """Kueue's `getNodeHeight`: 0 for a ClusterQueue, 1 for a cohort of ClusterQueues,
        1 + the tallest child cohort above that."""
        if self.kind is NodeKind.cluster_queue:
            return 0
        best = min(len(self.children), 1)
        for child in self.children:
            if child.kind is NodeKind.cohort:
                best = max(best, child.height() + 1)
        return best


def attach(child: QuotaNode, parent: QuotaNode) -> None:
    child.parent = parent
    parent.children.append(child)


def local_quota(node: QuotaNode, fr: FlavorResource) -> int:
    quota = node.quotas.get(fr)
    if quota is not None and quota.lending_limit is not None:
        return max(0, node.subtree_quota.get(fr, 0) - quota.lending_limit)
    return 0


def local_available(node: QuotaNode, fr: FlavorResource) -> int:
    return max(0, local_quota(node, fr) - node.usage.get(fr, 0))


def available(node: QuotaNode, fr: FlavorResource) -> int:
    """What `node` could still take of `fr` now, possibly negative after over-admission."""
    if node.parent is None:
        return node.subtree_quota.get(fr, 0) - node.usage.get(fr, 0)
    from_parent = available(node.parent, fr)
    quota = node.quotas.get(fr)
    if quota is not None and quota.borrowing_limit is not None:
        stored_in_parent = node.subtree_quota.get(fr, 0) - local_quota(node, fr)
        used_in_parent = max(0, node.usage.get(fr, 0) - local_quota(node, fr))
        from_parent = min(stored_in_parent - used_in_parent + quota.borrowing_limit, from_parent)
    return local_available(node, fr) + from_parent


def potential_available(node: QuotaNode, fr: FlavorResource) -> int:
    """The most `node` could reach on `fr` with the whole tree idle."""
    if node.parent is None:
        return node.subtree_quota.get(fr, 0)
    total = local_quota(node, fr) + potential_available(node.parent, fr)
    quota = node.quotas.get(fr)
    if quota is not None and quota.borrowing_limit is not None:
        total = min(node.subtree_quota.get(fr, 0) + quota.borrowing_limit, total)
    return total


def add_usage(node: QuotaNode, fr: FlavorResource, amount: int) -> None:
    local = local_available(node, fr)
    node.usage[fr] = node.usage.get(fr, 0) + amount
    if node.parent is not None and amount > local:
        add_usage(node.parent, fr, amount - local)


def remove_usage(node: QuotaNode, fr: FlavorResource, amount: int) -> None:
    stored_in_parent = node.usage.get(fr, 0) - local_quota(node, fr)
    node.usage[fr] = node.usage.get(fr, 0) - amount
    if stored_in_parent <= 0 or node.parent is None:
        return
    remove_usage(node.parent, fr, min(amount, stored_in_parent))


def add_usages(node: QuotaNode, usage: dict[FlavorResource, int]) -> None:
    for fr, amount in usage.items():
        add_usage(node, fr, amount)


def remove_usages(node: QuotaNode, usage: dict[FlavorResource, int]) -> None:
    for fr, amount in usage.items():
        remove_usage(node, fr, amount)


def recompute(root: QuotaNode) -> None:
    """Subtree quotas and cohort usages from the leaves' nominal quotas and usages (Kueue's
    `updateCohortResourceNode`), for the subtree under `root`."""
    if root.kind is NodeKind.cluster_queue:
        root.subtree_quota = {fr: q.nominal for fr, q in root.quotas.items()}
        return
    root.subtree_quota = {fr: q.nominal for fr, q in root.quotas.items()}
    root.usage = {}
    for child in root.children:
        recompute(child)
        for fr, amount in child.subtree_quota.items():
            root.subtree_quota[fr] = root.subtree_quota.get(fr, 0) + amount - local_quota(child, fr)
        for fr, used in child.usage.items():
            root.usage[fr] = root.usage.get(fr, 0) + max(0, used - local_quota(child, fr))


def cq_available(node: QuotaNode, fr: FlavorResource) -> int:
    """Kueue's `ClusterQueueSnapshot.Available`: `available`, never below 0 (a queue in debt
    after quota was lowered has nothing available, not a negative amount)."""
    return max(0, available(node, fr))


def fits_in_quota(node: QuotaNode, usage: dict[FlavorResource, int]) -> bool:
    """Every FR of `usage` is within what the ClusterQueue may take now (`cq.Fits`)."""
    return all(amount <= cq_available(node, fr) for fr, amount in usage.items())


def is_borrowing_with(node: QuotaNode, fr: FlavorResource, amount: int) -> bool:
    """Usage plus `amount` would exceed the node's own quota (nominal, or subtree quota)."""
    limit = (
        node.quotas[fr].nominal
        if node.kind is NodeKind.cluster_queue and fr in node.quotas
        else node.subtree_quota.get(fr, 0)
    )
    return node.usage.get(fr, 0) + amount > limit


def borrowing_level(cq: QuotaNode, fr: FlavorResource, amount: int) -> tuple[int, bool]:
    """Kueue's `FindHeightOfLowestSubtreeThatFits`: the height of the smallest subtree around
    `cq` whose quota covers its usage plus `amount` (0: its own nominal does), and whether
    that subtree is smaller than the whole tree (so reclaiming inside it may help)."""
    if not is_borrowing_with(cq, fr, amount) or cq.parent is None:
        return 0, cq.parent is not None
    remaining = amount - local_available(cq, fr)
    for node in cq.ancestors():
        if not is_borrowing_with(node, fr, remaining):
            return node.height(), node.parent is not None
        remaining -= local_available(node, fr)
    return cq.root().height(), False


def clone_tree(root: QuotaNode) -> dict[str, QuotaNode]:
    """A copy of the tree under `root` sharing the (immutable) quotas, with its own usage
    maps; returns the copies by `kind/name`."""
    out: dict[str, QuotaNode] = {}

    def copy(node: QuotaNode, parent: QuotaNode | None) -> QuotaNode:
        twin = QuotaNode(
            node.name,
            node.kind,
            node.quotas,
            node.weight,
            parent,
            [],
            dict(node.subtree_quota),
            dict(node.usage),
        )
        out[f"{node.kind}/{node.name}"] = twin
        twin.children = [copy(child, twin) for child in node.children]
        return twin

    copy(root, None)
    return out
