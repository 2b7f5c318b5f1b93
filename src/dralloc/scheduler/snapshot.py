"""`NodeSnapshot`: the nodes one scheduling cycle reads, which the cache cannot change under it.

kube-scheduler starts every cycle with `Cache.UpdateSnapshot`: the snapshot holds its own copy
of each NodeInfo, and only the nodes whose generation moved since the previous update are
copied again. dralloc does the same from the cache's change journal (`NodeInfo.journal`):

- `update` copies again exactly the nodes the journal names since the last update (and whose
  generation moved), replacing them in place in one list; the list object stays the same
  while no node is added or removed, so whatever is remembered per node list (the framework's
  verdicts per pod shape, InterPodAffinity's index) stays valid, and its own journal names
  the replaced copies, so readers find what changed without looking at every node.
- A node added or removed makes a new list (copies of unchanged nodes are reused).
- Copies are not what-if copies (`scratch=False`): each is the node at its generation, so
  memos keyed on (name, generation) serve the snapshot's nodes and the cache's alike.

With `index_labels` (on by default), the list is an `IndexedNodes` whose `NodeLabelIndex`
(`framework/labelindex.py`) the snapshot keeps in step: a node copied again is re-indexed when
its labels changed, a node that left is dropped from it, a node that came is added, all in the
same `update`. So the index always describes the nodes of the list at their generations, and
holds nothing else. Off: the list still knows positions, but carries no index.

What the cache changes after `update` (Reserve, binding, a preemption's evictions, in cluster
mode an informer's event) reaches the next cycle's snapshot, never the running one. Device
usage is not copied: as in kube-scheduler, DynamicResources reads the claims' allocations
from the cache and the in-flight allocations of the cycle (spec/scheduler.md 2.2).

Why copies at `update` and not copy-on-write (the snapshot sharing the cache's nodes, the
cache copying a node before changing one the snapshot holds): every cycle changes the node
it assumes its pod on while the snapshot holds it (Reserve reads the node as the cycle saw
it), so copy-on-write makes as many copies as `update` does, only later; it saves the copies
of nodes changed between cycles only if every cycle released its snapshot at its end. In
benchmarks/scheduler_perf.py's steady-state cases `update` is 5-7% of the timed CPU, half of
it copies (two per pod, about 2 us each): copy-on-write would win back at most 1-2%, at the
price of nodes whose owner changes with the cycle's phase.
"""

from __future__ import annotations

from collections.abc import Mapping

from dralloc.scheduler.framework import NodeInfo
from dralloc.scheduler.framework.journal import ChangeJournal
from dralloc.scheduler.framework.labelindex import IndexedNodes, NodeLabelIndex


class NodeSnapshot:
    """The per-cycle node list. Owned by one cache, which calls `update`."""

    __slots__ = ("_copies", "_labels", "_membership", "_read", "journal", "nodes")

    def __init__(self, *, index_labels: bool = True) -> None:
        # Names of the nodes copied again, in order: the journal the copies share.
        self.journal = ChangeJournal()
        self._labels = NodeLabelIndex() if index_labels else None
        self.nodes = IndexedNodes((), self._labels, self.journal)
        self._copies: dict[str, NodeInfo] = {}
        self._membership = -1
        self._read = 0

    def update(
        self, live: Mapping[str, NodeInfo], changes: ChangeJournal, membership: int
    ) -> list[NodeInfo]:
        """Bring the snapshot to the cache's state: `live` are the cache's nodes, `changes`
        its journal and `membership` a count that moves whenever a node is added or removed.
        Returns the nodes in name order."""
        since = changes.since(self._read)
        if since is None:  # fallen behind what the cache's journal keeps: check every node
            since = list(self.nodes.positions)
        if membership != self._membership:
            self._rebuild(live)
            self._membership = membership
        else:
            nodes = self.nodes
            index = nodes.positions
            for name in dict.fromkeys(since):
                at = index.get(name)
                if at is None:
                    continue
                node = live[name]
                old = nodes[at]
                if old.generation != node.generation:
                    nodes[at] = self._copy(node, old)
                    self.journal.append(name)
        self._read = len(changes)
        return self.nodes

    def get(self, name: str) -> NodeInfo | None:
        """Node `name` as the last update copied it (what the running cycle read), or None."""
        at = self.nodes.positions.get(name)
        return None if at is None else self.nodes[at]

    def _rebuild(self, live: Mapping[str, NodeInfo]) -> None:
        previous = self._copies
        labels = self._labels
        if labels is not None:
            for name, gone in previous.items():
                if name not in live:
                    labels.remove(name, gone.node.metadata.labels)
        self._copies = {}
        nodes: list[NodeInfo] = []
        for name in sorted(live):
            node = live[name]
            kept = previous.get(name)
            if kept is None or kept.generation != node.generation or kept.node is not node.node:
                kept = self._copy(node, kept)
            else:
                self._copies[name] = kept
            nodes.append(kept)
        self.nodes = IndexedNodes(nodes, labels, self.journal)

    def _copy(self, node: NodeInfo, old: NodeInfo | None) -> NodeInfo:
        """A copy of the cache's `node`, replacing `old` (None: the node is new here)."""
        copied = node.copy(scratch=False)
        copied.journal = self.journal
        self._copies[node.name] = copied
        labels = self._labels
        if labels is not None:
            new_labels = node.node.metadata.labels
            if old is None:
                labels.add(node.name, new_labels)
            else:
                old_labels = old.node.metadata.labels
                if old_labels is not new_labels and old_labels != new_labels:
                    labels.remove(node.name, old_labels)
                    labels.add(node.name, new_labels)
        return copied
