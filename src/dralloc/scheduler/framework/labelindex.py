"""`NodeLabelIndex` and `IndexedNodes`: which nodes carry a label, for one node list.

A required node selector names labels (`cloud.google.com/gke-nodepool: pool-7`); on a fleet of
thousands of nodes, scanning every node for the few that carry it is most of a cycle. The
index answers "which nodes have key K with value V" and "which nodes have key K" from sets
kept up to date as nodes change, so a plugin can tell the framework which nodes its Filter may
pass (`PreFilterResult.filter_candidates`) at the cost of those nodes.

Contract. The index describes exactly the nodes of the `IndexedNodes` list that holds it, at
their generations: the list's owner (`scheduler/snapshot.py`'s `NodeSnapshot`, the only
writer) updates both in the same step, re-indexing a node when it copies the node again
(its generation moved, which a label change always does) and dropping a node that leaves.
Readers (plugins at PreFilter, through the list the framework passes them) never mutate it,
and hold nothing from it past the cycle. Empty entries are pruned, so the index holds at most
one entry per (node, label) of the list's nodes: it is bounded by the list it describes.

Pure data; no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set

from dralloc.scheduler.framework.journal import ChangeJournal
from dralloc.scheduler.framework.nodeinfo import NodeInfo

_NONE: frozenset[str] = frozenset()


class NodeLabelIndex:
    """Node names by label key, and by key and value.

    >>> index = NodeLabelIndex()
    >>> index.add("tpu-0", {"cloud.google.com/gke-nodepool": "pool-a"})
    >>> index.add("tpu-1", {"cloud.google.com/gke-nodepool": "pool-b"})
    >>> sorted(index.with_value("cloud.google.com/gke-nodepool", "pool-a"))
    ['tpu-0']
    >>> sorted(index.with_key("cloud.google.com/gke-nodepool"))
    ['tpu-0', 'tpu-1']
    >>> index.remove("tpu-0", {"cloud.google.com/gke-nodepool": "pool-a"})
    >>> sorted(index.values("cloud.google.com/gke-nodepool"))
    ['pool-b']
    """

    __slots__ = ("_by_key", "_by_value", "version")

    def __init__(self) -> None:
        self._by_value: dict[str, dict[str, set[str]]] = {}
        self._by_key: dict[str, set[str]] = {}
        # Moves on every change: an answer remembered with (index, version) holds while the
        # version is unchanged.
        self.version = 0

    def add(self, name: str, labels: Mapping[str, str]) -> None:
        """Index node `name` with `labels` (it must not be indexed already)."""
        self.version += 1
        by_value = self._by_value
        by_key = self._by_key
        for key, value in labels.items():
            values = by_value.get(key)
            if values is None:
                by_value[key] = {value: {name}}
                by_key[key] = {name}
                continue
            names = values.get(value)
            if names is None:
                values[value] = {name}
            else:
                names.add(name)
            by_key[key].add(name)

    def remove(self, name: str, labels: Mapping[str, str]) -> None:
        """Drop node `name`, indexed with `labels`; empty entries go with it."""
        self.version += 1
        by_value = self._by_value
        by_key = self._by_key
        for key, value in labels.items():
            values = by_value.get(key)
            if values is None:
                continue
            names = values.get(value)
            if names is not None:
                names.discard(name)
                if not names:
                    del values[value]
            keyed = by_key[key]
            keyed.discard(name)
            if not keyed:
                del by_key[key]
                del by_value[key]

    def with_value(self, key: str, value: str) -> Set[str]:
        """The nodes whose label `key` is `value` (read-only: a live view)."""
        values = self._by_value.get(key)
        if values is None:
            return _NONE
        return values.get(value, _NONE)

    def with_key(self, key: str) -> Set[str]:
        """The nodes that have label `key`, whatever its value (read-only: a live view)."""
        return self._by_key.get(key, _NONE)

    def values(self, key: str) -> Mapping[str, Set[str]]:
        """Each value label `key` takes, with its nodes (read-only: a live view)."""
        return self._by_value.get(key, {})

    def __len__(self) -> int:
        """How many (node, label) pairs are indexed."""
        return sum(len(names) for names in self._by_key.values())


class IndexedNodes(list[NodeInfo]):
    """A node list that knows each node's position, the journal its nodes share and,
    optionally, the index of their labels (which its owner fills: the list never indexes).
    Built and updated only by its owner (a `NodeSnapshot`); everything else reads it as the
    plain `Sequence[NodeInfo]` it is.

    >>> from dralloc.api.core import Node
    >>> from dralloc.api.meta import ObjectMeta
    >>> node = NodeInfo.of(Node(metadata=ObjectMeta(name="n-0", labels={"zone": "a"})))
    >>> labels = NodeLabelIndex()
    >>> labels.add(node.name, node.node.metadata.labels)
    >>> nodes = IndexedNodes([node], labels)
    >>> nodes.positions["n-0"], sorted(nodes.labels.with_value("zone", "a"))
    (0, ['n-0'])
    """

    __slots__ = ("journal", "labels", "positions")

    def __init__(
        self,
        nodes: Iterable[NodeInfo] = (),
        labels: NodeLabelIndex | None = None,
        journal: ChangeJournal | None = None,
    ) -> None:
        super().__init__(nodes)
        self.positions: dict[str, int] = {node.name: at for at, node in enumerate(self)}
        self.labels = labels
        # The journal every node of the list shares (None: they may not share one).
        self.journal = journal
