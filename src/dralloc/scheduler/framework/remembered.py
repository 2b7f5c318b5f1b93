"""The framework's memory of node verdicts per pod shape (`verdicts.py` holds one shape's).

`VerdictMemory` maps (pod signature, PreFilter plugins that SKIPped) to that shape's
`ShapeVerdicts`; it is bounded by pod shapes x nodes, and a shape whose node list was replaced
(a node added or removed) starts afresh. `refresh` brings one shape's verdicts to the nodes'
generations by filtering only the nodes changed since the shape's last cycle. The framework
decides when remembered verdicts give exactly the plain evaluation (`runtime.py`) and owns
the memory: `Framework.remembering` gives a what-if loop a fresh one for the block's extent
and puts the outer one back on exit.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

from dralloc.scheduler.framework.filtering import FilterRunner
from dralloc.scheduler.framework.generations import NodeMemo
from dralloc.scheduler.framework.interface import CycleState
from dralloc.scheduler.framework.labelindex import IndexedNodes
from dralloc.scheduler.framework.nodeinfo import NodeInfo, PodInfo
from dralloc.scheduler.framework.outcomes import SchedulingError
from dralloc.scheduler.framework.status import Status
from dralloc.scheduler.framework.verdicts import ShapeVerdicts


class VerdictMemory:
    """Remembered verdicts by pod shape, over the node list they were recorded on."""

    def __init__(self) -> None:
        self._shapes: dict[tuple[bytes, frozenset[str]], ShapeVerdicts] = {}

    def __len__(self) -> int:
        return len(self._shapes)

    def for_shape(
        self, signature: bytes, skipped: set[str], nodes: Sequence[NodeInfo]
    ) -> ShapeVerdicts:
        """The shape's verdicts over `nodes` (new and empty when it has none over them)."""
        key = (signature, frozenset(skipped))
        verdicts = self._shapes.get(key)
        if verdicts is None or verdicts.nodes is not nodes:
            if isinstance(nodes, IndexedNodes):
                # The list's own positions and journal: nothing per node to build per shape.
                verdicts = ShapeVerdicts(nodes, index=nodes.positions, journal=nodes.journal)
            else:
                verdicts = ShapeVerdicts(nodes)
            self._shapes[key] = verdicts
        return verdicts


def refresh(
    verdicts: ShapeVerdicts,
    run_filters: FilterRunner,
    state: CycleState,
    pod: PodInfo,
    skipped: set[str],
    hint: frozenset[str] | None,
    *,
    node_key: Callable[[NodeInfo], Hashable] | None,
    node_keys: NodeMemo[Hashable],
) -> dict[int, SchedulingError]:
    """Filter only the nodes changed since this shape's last cycle (with a `hint`, only
    those in it; the others' verdicts are deferred). A node whose Filter plugins fail
    with ERROR keeps no verdict (it is filtered again next cycle); its error, by node
    position, is returned for the caller to raise if the scan reaches the node. With
    `node_key`, a changed node alike to one already filtered for the shape takes its
    verdict (`node_keys` remembers each node's key per generation)."""
    errors: dict[int, SchedulingError] = {}
    alike = verdicts.alike
    outcomes: list[tuple[NodeInfo, Status, Hashable | None]] = []
    if hint is None and verdicts.deferred_unseen:
        verdicts.undefer()  # no hint this cycle: every node's verdict is needed
    stale = verdicts.stale(hint)
    if hint is not None:
        outside = [node for node in stale if node.name not in hint]
        if outside:
            verdicts.defer(outside)
            stale = [node for node in stale if node.name in hint]
    for node in stale:
        key = None
        status = None
        if node_key is not None:
            key = node_keys.get(node, node_key)
            status = alike.get(key)
        if status is None:
            try:
                status = run_filters(state, pod, node, skipped)
            except SchedulingError as err:
                errors[verdicts.unsettle(node)] = err
                continue
            if key is not None:
                alike[key] = status
        outcomes.append((node, status, key))
    verdicts.record_all(outcomes)
    return errors
