"""Choosing the host among the scored nodes (spec/scheduler.md section 2.9): the best total
wins; ties go to a fixed node ranking when one is given (the FGD experiment's random node
order, spec/fgd.md 4.3), else to a seeded `random.Random` draw among the tied nodes in name
order (upstream picks among them at random), else to the first in name order (deterministic
for scripts).

`NameOrder` (`FrameworkSpeedups.ties_by_position`) draws among tied positions instead of
tied names when the node list is in name order: position order is then name order, so the
draw (`rng.choice` over a sequence of the same length) picks the same node with the same
random numbers, without a name per tied node."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from itertools import pairwise

import numpy as np

from dralloc.scheduler.framework.labelindex import IndexedNodes
from dralloc.scheduler.framework.nodeinfo import NodeInfo
from dralloc.scheduler.framework.scoring import ScoredNodes
from dralloc.scheduler.framework.verdicts import Scores


class NodeRanking:
    """A fixed ranking for ties, as an array over the last node list it was asked about
    (kept while the list object is the same: the snapshot keeps its list across cycles)."""

    def __init__(self, rank: Mapping[str, int]) -> None:
        self.rank = rank
        self._array: tuple[Sequence[NodeInfo], Scores] | None = None

    def over(self, nodes: Sequence[NodeInfo]) -> Scores:
        """Each node's rank: unranked nodes after every ranked one, in name order, as
        `break_tie` orders them."""
        if self._array is not None and self._array[0] is nodes:
            return self._array[1]
        rank = self.rank
        unranked = sorted(node.name for node in nodes if node.name not in rank)
        after = {name: len(rank) + i for i, name in enumerate(unranked)}
        array = np.array(
            [rank[node.name] if node.name in rank else after[node.name] for node in nodes],
            dtype=np.int64,
        )
        self._array = (nodes, array)
        return array


class NameOrder:
    """Whether a node list is in name order, asked once per list object. Only an
    `IndexedNodes` list is asked about: its owner replaces a node only by a copy of the same
    node at the same position, so its order lasts as long as the list object (a plain list
    may be changed in place by anyone). Holds the last list asked about."""

    __slots__ = ("_nodes", "_sorted")

    def __init__(self) -> None:
        self._nodes: Sequence[NodeInfo] | None = None
        self._sorted = False

    def holds(self, nodes: Sequence[NodeInfo]) -> bool:
        if nodes is self._nodes:
            return self._sorted
        if not isinstance(nodes, IndexedNodes):
            return False
        names = [node.name for node in nodes]
        self._nodes = nodes
        self._sorted = all(a < b for a, b in pairwise(names))
        return self._sorted


def select_host(
    scored: ScoredNodes,
    totals: Scores,
    ranking: NodeRanking | None,
    rng: random.Random | None,
    name_order: NameOrder | None = None,
) -> str:
    """The best-scored node; ties go to `ranking`, else to `break_tie` (over positions when
    `name_order` says the list is in name order)."""
    nodes = scored.nodes
    tied = scored.window[totals == totals.max()]
    if tied.size == 1:
        return nodes[int(tied[0])].name
    if ranking is not None:
        ranks = ranking.over(nodes)
        return nodes[int(tied[np.argmin(ranks[tied])])].name
    if name_order is not None and name_order.holds(nodes):
        in_name_order: list[int] = np.sort(tied).tolist()
        at = in_name_order[0] if rng is None else rng.choice(in_name_order)
        return nodes[at].name
    return break_tie([nodes[at].name for at in tied.tolist()], rng)


def break_tie(tied: list[str], rng: random.Random | None) -> str:
    """One of several equally scored nodes, without a fixed ranking: a seeded draw among
    them in name order, or the first in name order."""
    tied.sort()
    if rng is None:
        return tied[0]
    return rng.choice(tied)
