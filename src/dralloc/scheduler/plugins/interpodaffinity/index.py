"""`AffinityNodeIndex`: which nodes of the snapshot hold pods with inter-pod affinity, and
which hold pods with required anti-affinity (upstream's `HavePodsWithAffinityList` and
`HavePodsWithRequiredAntiAffinityList`), without looking at every node every cycle.

Contract: owned by one InterPodAffinity plugin and read only by it. Keyed on the identity of
the node list (the cache hands out a new list when a node is added or removed) and kept in
step through the nodes' shared change journal (`NodeInfo.journal`): a cycle looks only at the
nodes changed since the previous one. A list whose nodes share no journal is scanned whole
each time. Holds one node list's worth of names; a new list replaces it.
"""

from __future__ import annotations

from collections.abc import Sequence

from dralloc.scheduler.framework import NodeInfo
from dralloc.scheduler.framework.journal import ChangeJournal


class AffinityNodeIndex:
    """Nodes holding pods with affinity / with required anti-affinity, in list order.

    >>> index = AffinityNodeIndex()
    >>> index.refresh([])
    ([], [])
    """

    __slots__ = ("_anti", "_at", "_journal", "_lists", "_nodes", "_position", "_with_affinity")

    def __init__(self) -> None:
        self._nodes: Sequence[NodeInfo] | None = None
        self._journal: ChangeJournal | None = None
        self._position = 0
        self._at: dict[str, int] = {}
        self._with_affinity: dict[int, NodeInfo] = {}
        self._anti: dict[int, NodeInfo] = {}
        # What `refresh` last returned, until a membership changes.
        self._lists: tuple[list[NodeInfo], list[NodeInfo]] | None = None

    def _note(self, at: int, node: NodeInfo) -> None:
        if node.pods_with_affinity:
            self._with_affinity[at] = node
            self._lists = None
        elif self._with_affinity.pop(at, None) is not None:
            self._lists = None
        if node.pods_with_required_anti_affinity:
            self._anti[at] = node
            self._lists = None
        elif self._anti.pop(at, None) is not None:
            self._lists = None

    def _rebuild(self, nodes: Sequence[NodeInfo]) -> None:
        self._nodes = nodes
        self._at = {node.name: at for at, node in enumerate(nodes)}
        self._with_affinity = {}
        self._anti = {}
        self._lists = None
        for at, node in enumerate(nodes):
            if node.pods_with_affinity:
                self._note(at, node)
        journals = {id(node.journal) for node in nodes}
        journal = nodes[0].journal if len(journals) == 1 and nodes else None
        self._journal = journal
        self._position = len(journal) if journal is not None else 0

    def refresh(self, nodes: Sequence[NodeInfo]) -> tuple[list[NodeInfo], list[NodeInfo]]:
        """(nodes with pods with affinity, nodes with pods with required anti-affinity) of
        `nodes`, as they are now. The lists are shared between calls: do not change them."""
        journal = self._journal
        if nodes is not self._nodes or journal is None:
            self._rebuild(nodes)
        elif len(journal) != self._position:
            changed = journal.since(self._position)
            self._position = len(journal)
            if changed is None:  # fallen behind what the journal keeps
                self._rebuild(nodes)
                changed = []
            for name in dict.fromkeys(changed):
                at = self._at.get(name)
                if at is not None:
                    self._note(at, nodes[at])
        lists = self._lists
        if lists is None:
            lists = self._lists = (
                [self._with_affinity[at] for at in sorted(self._with_affinity)],
                [self._anti[at] for at in sorted(self._anti)],
            )
        return lists
