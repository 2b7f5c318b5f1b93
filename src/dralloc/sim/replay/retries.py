"""Retries that cannot succeed, answered without a scheduling cycle
(`ReplayOptions.skip_hopeless_retries`; the design is in the package docstring).

Placing pods only takes capacity, and capacity comes back only through cluster events. So a
requeued pod whose previous cycle rejected it can only fit on a node that gained room since:
if none of those passes the profile's own PreFilter and Filter plugins now, a cycle would
reject it again. Owns the list of nodes that gained room (in event order) and the answers it
remembers per (pod shape, node) and node generation, bounded by shapes x nodes; reads the
cache and the framework, changes neither.
"""

from __future__ import annotations

from dralloc.scheduler.cache import SchedulerCache
from dralloc.scheduler.framework import CycleState, Framework, PodInfo, is_node_local
from dralloc.sim.replay.records import WaitingPod


class HopelessRetries:
    """`gained_room(node)` on every cluster event; `may_fit(waiting, pod)` before a retry."""

    def __init__(self, cache: SchedulerCache, framework: Framework) -> None:
        self.cache = cache
        self.framework = framework
        # Nodes that gained capacity (a pod completed, the node joined), in event order.
        self.freed: list[str] = []
        # (pod shape, node) -> (node generation, whether it passed Filter).
        self.fits_memo: dict[tuple[bytes, str], tuple[int, bool]] = {}
        # Answers hold per node generation only while every Filter plugin is node-local.
        self.remember_fits = all(is_node_local(p) for p in framework.profile.filter)
        self.skipped = 0  # retries answered here instead of by a cycle

    def gained_room(self, node: str) -> None:
        self.freed.append(node)

    def rejected(self, waiting: WaitingPod) -> None:
        """`waiting` was just rejected: nodes that gained room before now do not help it."""
        waiting.checked = len(self.freed)

    def may_fit(self, waiting: WaitingPod, pod: PodInfo) -> bool:
        """Whether a node that gained capacity since the pod's last rejection now passes the
        profile's PreFilter and Filter plugins. Every other node still rejects the pod: if
        none of these passes, a cycle would reject it again. Pods of one shape (alike to every
        plugin) get one answer per node generation."""
        recent = [n for n in dict.fromkeys(self.freed[waiting.checked :]) if n in self.cache.nodes]
        waiting.checked = len(self.freed)
        if not recent:
            return False
        memo = self.fits_memo
        shape = waiting.shape
        state: CycleState | None = None
        allowed: set[str] = set()
        skipped: set[str] = set()
        for name in recent:
            generation = self.cache.nodes[name].generation
            known = memo.get((shape, name)) if self.remember_fits else None
            if known is not None and known[0] == generation:
                if known[1]:
                    return True
                continue
            if state is None:
                state = CycleState()
                # snapshot() brings the copies snapshot_node reads below up to date too.
                candidates, _, rejected = self.framework.pre_filter(
                    state, pod, self.cache.snapshot()
                )
                if rejected is not None:
                    return True  # the cycle says why, in its own words
                allowed = {node.name for node in candidates}
                skipped = set(state.skip_filter_plugins)
            node = self.cache.snapshot_node(name)
            fits = (
                node is not None
                and name in allowed
                and self.framework.run_filters(state, pod, node, skipped).is_success
            )
            memo[(shape, name)] = (generation, fits)
            if fits:
                return True
        return False
