"""Retries that cannot succeed, answered without a scheduling cycle
(`ReplayOptions.skip_hopeless_retries`; the design is in the package docstring).

Placing pods only takes capacity, and capacity comes back only through cluster events. So a
requeued pod whose previous cycle rejected it can only fit on a node that changed since: if
none of those passes the profile's own PreFilter and Filter plugins now, a cycle would reject
it again. Reads the cache and the framework, changes neither.

The answer names the plugins a cycle would name (kube-scheduler's UnschedulablePlugins: the
plugin that rejects each node, as the cycle's diagnosis has it per node, its NodeToStatus),
so the pod is requeued by exactly the events a cycle's rejection would requeue it by, and
the retries counted equal those of the plain path. Where every Filter plugin is node-local
(a node's verdict for a pod depends on that pod and that node at its generation), it keeps,
per pod shape, which plugin rejects each node of the cycle's snapshot at which generation,
and how many nodes each plugin rejects:

- learned from a failed cycle's own per-node statuses (`rejected(waiting, node_statuses)`,
  free) or, for a shape no cycle has told about, by filtering every node once;
- kept current from the snapshot's journal of changed nodes (a node that gained room, lost
  it, joined with its devices or got them later); a node added, removed or replaced (a
  cordon: `node_updated`) makes the snapshot a new list, and the shape's record is then
  checked against every node's generation. Only nodes whose generation moved are
  filtered again, and the verdicts of one (shape, node, generation) serve every pod of
  the shape.

Where some Filter plugin is not node-local, only the nodes that gained room since the pod's
last rejection are filtered, and the plugins named are those of the last rejection plus
those rejecting these nodes: one retry more or fewer than the plain path in rare cases
(a plugin that rejects no node any more is kept; a plugin earlier in Filter order that now
rejects a node that lost room is not added). Placements are those of the plain path
(`ReplayOptions(skip_hopeless_retries=False)`) either way; tests/sim/test_replay_retries.py
checks placements and counts, on static clusters and on autoscaled fleets.

Bounded: one record per pod shape over the snapshot's nodes (shapes x nodes entries).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dralloc.scheduler.cache import SchedulerCache
from dralloc.scheduler.framework import (
    CycleState,
    Framework,
    IndexedNodes,
    NodeInfo,
    PodInfo,
    SchedulingError,
    Status,
)
from dralloc.sim.replay.records import WaitingPod


@dataclass
class _ShapeRejections:
    """Which plugin rejects each node of `nodes` for one pod shape: node -> (generation,
    plugin; "" when the node is no Filter candidate or no plugin is named), and how many
    nodes each plugin rejects. Current up to `position` in the list's journal."""

    nodes: Sequence[NodeInfo]
    position: int
    by_node: dict[str, tuple[int, str]] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    # What the cache looked like when the record was last brought up to date: its journal's
    # length, its node count, the cluster events heard (`HopelessRetries.freed`) and the Node
    # objects replaced (`HopelessRetries.updated`). While all four hold, nothing changed and
    # `answer` stands.
    seen: tuple[int, int, int, int] = (-1, -1, -1, -1)
    answer: frozenset[str] | None = None

    def set(self, name: str, generation: int, plugin: str) -> None:
        self.answer = None
        old = self.by_node.get(name)
        if old is not None:
            self._drop(old[1])
        self.by_node[name] = (generation, plugin)
        self.counts[plugin] += 1

    def forget(self, name: str) -> None:
        self.answer = None
        old = self.by_node.pop(name, None)
        if old is not None:
            self._drop(old[1])

    def _drop(self, plugin: str) -> None:
        left = self.counts[plugin] - 1
        if left:
            self.counts[plugin] = left
        else:
            del self.counts[plugin]

    def plugins(self) -> frozenset[str]:
        if self.answer is None:
            self.answer = frozenset(plugin for plugin in self.counts if plugin)
        return self.answer


class HopelessRetries:
    """`gained_room(node)` on every cluster event, `node_updated()` when a Node is replaced
    without one; `rejected(waiting, node_statuses)` after a cycle rejected a pod;
    `rejectors_now(waiting, pod)` before a retry."""

    def __init__(self, cache: SchedulerCache, framework: Framework) -> None:
        self.cache = cache
        self.framework = framework
        # Nodes that gained capacity (a pod completed, the node joined), in event order.
        self.freed: list[str] = []
        # Per node generation, answers hold only while every Filter plugin is node-local.
        self.remember_fits = all(
            framework.traits.is_node_local(p) for p in framework.profile.filter
        )
        # Per pod shape (the framework's signature), with `remember_fits`.
        self.shapes: dict[bytes, _ShapeRejections] = {}
        # Node objects replaced without a cluster event (a cordon: `node_updated`).
        self.updated = 0
        self.skipped = 0  # retries answered here instead of by a cycle

    def gained_room(self, node: str) -> None:
        self.freed.append(node)

    def node_updated(self) -> None:
        """A Node object was replaced with no room gained and no event for the queue (a
        cordon): the cache's journal does not show it, but a Filter plugin may now reject the
        node for another reason, which the plugins named must follow."""
        self.updated += 1

    def rejected(
        self, waiting: WaitingPod, node_statuses: Mapping[str, Status] | None = None
    ) -> None:
        """A cycle just rejected `waiting`. `node_statuses` are that cycle's per-node
        rejections (`ScheduleOutcome.node_statuses`): a shape not known yet learns from them
        which plugin rejects each node, without filtering any."""
        waiting.checked = len(self.freed)
        if not self.remember_fits or not node_statuses or waiting.shape in self.shapes:
            return
        nodes = self.cache.cycle_nodes()
        if not isinstance(nodes, IndexedNodes) or nodes.journal is None:
            return
        record = _ShapeRejections(nodes, len(nodes.journal))
        for node in nodes:
            status = node_statuses.get(node.name)
            record.set(node.name, node.generation, status.plugin if status is not None else "")
        self.shapes[waiting.shape] = record

    def rejectors_now(self, waiting: WaitingPod, pod: PodInfo) -> frozenset[str] | None:
        """None when a node that changed since the pod's last rejection now passes the
        profile's PreFilter and Filter plugins (a cycle must run). Otherwise every node still
        rejects the pod, and the answer is the plugins to requeue it with (module
        docstring)."""
        if self.remember_fits:
            return self._exact(waiting, pod)
        return self._since_freed(waiting, pod)

    # -------------------------------------------------------------------- node-local

    def _exact(self, waiting: WaitingPod, pod: PodInfo) -> frozenset[str] | None:
        waiting.checked = len(self.freed)
        cache = self.cache
        # Nothing the cache holds changed since the shape's last look (no node changed, none
        # came or went, no cluster event): the same answer, without a snapshot.
        seen = (len(cache.journal), len(cache.nodes), len(self.freed), self.updated)
        known_record = self.shapes.get(waiting.shape)
        if known_record is not None and known_record.seen == seen:
            return known_record.plugins()
        nodes = cache.snapshot()
        journal = nodes.journal if isinstance(nodes, IndexedNodes) else None
        since = None
        if known_record is not None and known_record.nodes is nodes and journal is not None:
            since = journal.since(known_record.position)
        changed: Sequence[NodeInfo]
        if since is None:  # a new record, a node added or removed, or fallen behind
            record = _ShapeRejections(nodes, 0)
            if known_record is not None:
                present = {node.name for node in nodes}
                for name, (generation, plugin) in known_record.by_node.items():
                    if name in present:
                        record.set(name, generation, plugin)
            changed = nodes
        else:
            assert known_record is not None  # `since` is read from a known record only
            record = known_record
            positions = nodes.positions if isinstance(nodes, IndexedNodes) else {}
            found = (positions.get(name) for name in dict.fromkeys(since))
            changed = [nodes[at] for at in found if at is not None]
        stale = [
            node
            for node in changed
            if (known := record.by_node.get(node.name)) is None or known[0] != node.generation
        ]
        if stale:
            state = CycleState()
            candidates, _, rejected = self.framework.pre_filter(state, pod, nodes)
            if rejected is not None:
                return None  # the cycle says why, in its own words
            allowed = {node.name for node in candidates}
            skipped = set(state.skip_filter_plugins)
            for node in stale:
                plugin = ""  # rejected by no plugin: not a PreFilter candidate
                if node.name in allowed:
                    try:
                        status = self.framework.run_filters(state, pod, node, skipped)
                    except SchedulingError:
                        return None  # an error is the cycle's to report
                    if status.is_success:
                        # Nodes looked at so far stay recorded at their generations; the
                        # journal position stays, so the next look starts here again.
                        self.shapes[waiting.shape] = record
                        return None
                    plugin = status.plugin
                record.set(node.name, node.generation, plugin)
        record.position = len(journal) if journal is not None else 0
        record.seen = seen
        self.shapes[waiting.shape] = record
        return record.plugins()

    # ---------------------------------------------------------------- not node-local

    def _since_freed(self, waiting: WaitingPod, pod: PodInfo) -> frozenset[str] | None:
        recent = [n for n in dict.fromkeys(self.freed[waiting.checked :]) if n in self.cache.nodes]
        waiting.checked = len(self.freed)
        rejectors = waiting.rejectors
        if not recent:
            return rejectors
        state = CycleState()
        # snapshot() brings the copies snapshot_node reads below up to date too.
        candidates, _, rejected = self.framework.pre_filter(state, pod, self.cache.snapshot())
        if rejected is not None:
            return None
        allowed = {node.name for node in candidates}
        skipped = set(state.skip_filter_plugins)
        for name in recent:
            node = self.cache.snapshot_node(name)
            if node is None or name not in allowed:
                continue
            try:
                status = self.framework.run_filters(state, pod, node, skipped)
            except SchedulingError:
                return None
            if status.is_success:
                return None
            if status.plugin and status.plugin not in rejectors:
                rejectors = rejectors | {status.plugin}
        return rejectors
