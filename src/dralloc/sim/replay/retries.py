"""Retries that cannot succeed, answered without a scheduling cycle
(`ReplayOptions.skip_hopeless_retries`; the design is in the package docstring).

Placing pods only takes capacity, and capacity comes back only through cluster events. So a
requeued pod whose previous cycle rejected it can only fit on a node that gained room since:
if none of those passes the profile's own PreFilter and Filter plugins now, a cycle would
reject it again. Owns the list of nodes that gained room (in event order) and the answers it
remembers per (pod shape, node) and node generation, bounded by shapes x nodes; reads the
cache and the framework, changes neither.

The plugins a retry answered here requeues the pod with are those of its last rejection plus
those that reject the nodes that gained room (each node's first failing Filter plugin, as a
cycle's diagnosis names it). A cycle would name exactly the plugins that reject some node now,
so the two differ only when
- a plugin rejects no node any more (the nodes it rejected gained room and are now rejected
  by another plugin, or left): kept here, an event only that plugin registers requeues the
  pod once more (a retry answered here again): one retry more than the plain path;
- a node that lost room (a pod was placed on it) is now rejected by a plugin earlier in the
  profile's Filter order than before: a cycle would add that plugin, this does not, so an
  event only that plugin registers does not requeue the pod. The replay's Filter plugins
  (NodeResourcesFit, GpuCapacityFilter, DynamicResources) all register assigned-pod deletes,
  the only event that gives such a node room back, so no pod waits that a cycle would place.
Placements are those of the plain path (`ReplayOptions(skip_hopeless_retries=False)`, tested);
the retries counted (`ReplayResult.attempts + retries_skipped`) can differ, in 4 of 300 random
churn traces (always more here), and were equal on openb:default and synthetic:pods=600.
"""

from __future__ import annotations

from dralloc.scheduler.cache import SchedulerCache
from dralloc.scheduler.framework import CycleState, Framework, PodInfo, is_node_local
from dralloc.sim.replay.records import WaitingPod


class HopelessRetries:
    """`gained_room(node)` on every cluster event; `rejectors_now(waiting, pod)` before a
    retry."""

    def __init__(self, cache: SchedulerCache, framework: Framework) -> None:
        self.cache = cache
        self.framework = framework
        # Nodes that gained capacity (a pod completed, the node joined), in event order.
        self.freed: list[str] = []
        # (pod shape, node) -> (node generation, the Filter plugin that rejects it: None when
        # it passes, "" when no plugin is named).
        self.rejections: dict[tuple[bytes, str], tuple[int, str | None]] = {}
        # Answers hold per node generation only while every Filter plugin is node-local.
        self.remember_fits = all(is_node_local(p) for p in framework.profile.filter)
        self.skipped = 0  # retries answered here instead of by a cycle

    def gained_room(self, node: str) -> None:
        self.freed.append(node)

    def rejected(self, waiting: WaitingPod) -> None:
        """`waiting` was just rejected: nodes that gained room before now do not help it."""
        waiting.checked = len(self.freed)

    def rejectors_now(self, waiting: WaitingPod, pod: PodInfo) -> frozenset[str] | None:
        """None when a node that gained capacity since the pod's last rejection now passes
        the profile's PreFilter and Filter plugins (a cycle must run). Otherwise every node
        still rejects the pod, and the answer is the plugins to requeue it with: those of its
        last rejection and those that reject the nodes that gained room (a node that joined
        without its GPUs, say, is rejected by another plugin than the full nodes were, and
        only that plugin's events, a ResourceSlice publishing them, may requeue the pod).
        Pods of one shape (alike to every plugin) get one answer per node generation."""
        recent = [n for n in dict.fromkeys(self.freed[waiting.checked :]) if n in self.cache.nodes]
        waiting.checked = len(self.freed)
        rejectors = waiting.rejectors
        if not recent:
            return rejectors
        memo = self.rejections
        shape = waiting.shape
        state: CycleState | None = None
        allowed: set[str] = set()
        skipped: set[str] = set()
        for name in recent:
            generation = self.cache.nodes[name].generation
            known = memo.get((shape, name)) if self.remember_fits else None
            if known is not None and known[0] == generation:
                if known[1] is None:
                    return None
                if known[1] and known[1] not in rejectors:
                    rejectors = rejectors | {known[1]}
                continue
            if state is None:
                state = CycleState()
                # snapshot() brings the copies snapshot_node reads below up to date too.
                candidates, _, rejected = self.framework.pre_filter(
                    state, pod, self.cache.snapshot()
                )
                if rejected is not None:
                    return None  # the cycle says why, in its own words
                allowed = {node.name for node in candidates}
                skipped = set(state.skip_filter_plugins)
            node = self.cache.snapshot_node(name)
            plugin: str | None = ""  # rejected by no plugin: not a PreFilter candidate
            if node is not None and name in allowed:
                status = self.framework.run_filters(state, pod, node, skipped)
                plugin = None if status.is_success else status.plugin
            memo[(shape, name)] = (generation, plugin)
            if plugin is None:
                return None
            if plugin and plugin not in rejectors:
                rejectors = rejectors | {plugin}
        return rejectors
