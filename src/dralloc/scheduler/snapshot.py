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

What the cache changes after `update` (Reserve, binding, a preemption's evictions, in cluster
mode an informer's event) reaches the next cycle's snapshot, never the running one. Device
usage is not copied: as in kube-scheduler, DynamicResources reads the claims' allocations
from the cache and the in-flight allocations of the cycle (spec/scheduler.md 2.2).
"""

from __future__ import annotations

from collections.abc import Mapping

from dralloc.scheduler.framework import NodeInfo
from dralloc.scheduler.framework.journal import ChangeJournal


class NodeSnapshot:
    """The per-cycle node list. Owned by one cache, which calls `update`."""

    __slots__ = ("_copies", "_index", "_membership", "_read", "journal", "nodes")

    def __init__(self) -> None:
        self.nodes: list[NodeInfo] = []
        # Names of the nodes copied again, in order: the journal the copies share.
        self.journal = ChangeJournal()
        self._copies: dict[str, NodeInfo] = {}
        self._index: dict[str, int] = {}
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
            since = list(self._index)
        if membership != self._membership:
            self._rebuild(live)
            self._membership = membership
        else:
            index = self._index
            nodes = self.nodes
            for name in dict.fromkeys(since):
                at = index.get(name)
                if at is None:
                    continue
                node = live[name]
                if nodes[at].generation != node.generation:
                    nodes[at] = self._copy(node)
                    self.journal.append(name)
        self._read = len(changes)
        return self.nodes

    def get(self, name: str) -> NodeInfo | None:
        """Node `name` as the last update copied it (what the running cycle read), or None."""
        at = self._index.get(name)
        return None if at is None else self.nodes[at]

    def _rebuild(self, live: Mapping[str, NodeInfo]) -> None:
        previous = self._copies
        copies: dict[str, NodeInfo] = {}
        nodes: list[NodeInfo] = []
        for name in sorted(live):
            node = live[name]
            kept = previous.get(name)
            if kept is None or kept.generation != node.generation or kept.node is not node.node:
                kept = self._copy(node)
            copies[name] = kept
            nodes.append(kept)
        self._copies = copies
        self.nodes = nodes
        self._index = {node.name: at for at, node in enumerate(nodes)}

    def _copy(self, node: NodeInfo) -> NodeInfo:
        copied = node.copy(scratch=False)
        copied.journal = self.journal
        self._copies[node.name] = copied
        return copied
