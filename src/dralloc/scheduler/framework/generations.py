"""`NodeMemo`: the one way to remember something per node between cycles.

A value computed from a node is kept with the node's generation (`NodeInfo.generation` grows on
every change to the node, and continues across a node removed and added again) and reused
while the generation is unchanged. A what-if copy (`NodeInfo.scratch`, preemption's dry run)
is never remembered and never answered from the memo: its generations may repeat the real
node's with other contents.

Contract: keyed on the node's name, valid for one generation; the owner of a memo is the
object that holds it (a plugin, a view, the framework), and only it reads it. Bounded by the
number of node names seen; `forget` drops a node that left.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from dralloc.scheduler.framework.nodeinfo import NodeInfo

_V = TypeVar("_V")


class NodeMemo(Generic[_V]):
    """One value per node at its generation::

    self._states: NodeMemo[NodeState] = NodeMemo()
    ...
    return self._states.get(node, self._compute_state)
    """

    __slots__ = ("_memo",)

    def __init__(self) -> None:
        self._memo: dict[str, tuple[int, _V]] = {}

    def get(self, node: NodeInfo, compute: Callable[[NodeInfo], _V]) -> _V:
        """The value for `node` at its generation: remembered, else `compute(node)` (kept
        unless `node` is a what-if copy)."""
        memo = self._memo.get(node.name)
        if memo is not None and memo[0] == node.generation and not node.scratch:
            return memo[1]
        value = compute(node)
        if not node.scratch:
            self._memo[node.name] = (node.generation, value)
        return value

    def forget(self, name: str) -> None:
        """Drop what is kept for node `name` (it left the cluster)."""
        self._memo.pop(name, None)

    def __len__(self) -> int:
        return len(self._memo)
