"""Which nodes can take the pod: PreFilter, Filter (with `numFeasibleNodesToFind` and the
rotating start index) and PostFilter of one profile (spec/scheduler.md sections 2.3-2.5 and
2.10), for the plain evaluation of a cycle.

A PreFilter plugin may say which nodes alone its Filter can pass
(`PreFilterResult.filter_candidates`, dralloc's extension; NodeAffinity does from the
snapshot's label index). When every Filter plugin before it is quiet (`QuietFilter`: never
ERROR, writes nothing), Filter runs only on those nodes and the others count as rejected
without being called: `find_feasible_among` visits, finds and scores the same nodes as the
plain scan, and when a diagnosis is read (no node fit) the skipped nodes get the status the
Filter chain gives them then, in the plain scan's order. Nothing shows but time.

The Filter chain on one node is the framework's own `run_filters` (a Handle method that
preemption's dry run calls too), passed in, so whatever wraps it sees every node filtered.
The start index belongs to the framework: the walks here take it and tell it where the
next cycle starts.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence
from typing import cast

from dralloc.scheduler.framework.interface import (
    CycleState,
    PreFilterExtensions,
)
from dralloc.scheduler.framework.labelindex import IndexedNodes
from dralloc.scheduler.framework.nodeinfo import NodeInfo, PodInfo
from dralloc.scheduler.framework.outcomes import Diagnosis, FitError, SchedulingError
from dralloc.scheduler.framework.profile import Profile
from dralloc.scheduler.framework.status import SUCCESS, Code, Status
from dralloc.scheduler.framework.traits import PluginTraits

MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5

# The Filter plugins on one node, skipping those named (the framework's `run_filters`).
FilterRunner = Callable[[CycleState, PodInfo, NodeInfo, set[str] | None], Status]


def num_feasible_nodes_to_find(percentage: int | None, nodes: int) -> int:
    """How many feasible nodes the Filter phase looks for (section 2.5); `percentage` None or
    0 is upstream's adaptive default."""
    if nodes < MIN_FEASIBLE_NODES_TO_FIND:
        return nodes
    pct = percentage or max(50 - nodes // 125, MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND)
    if pct >= 100:
        return nodes
    return max(nodes * pct // 100, MIN_FEASIBLE_NODES_TO_FIND)


class FilterPhase:
    """One profile's PreFilter, Filter and PostFilter plugins, with what is decided about
    them once: which Filter plugins are not node-local, and which are loud before each."""

    def __init__(self, profile: Profile, traits: PluginTraits | None = None) -> None:
        self.profile = profile
        # Which Protocols each plugin implements, asked once per plugin class (`traits.py`).
        known = traits if traits is not None else PluginTraits()
        # Filter plugins that are not node-local: remembered verdicts hold only in the cycles
        # where all of them SKIPped at PreFilter (a pod without spread constraints or
        # inter-pod affinity, and no existing pod's anti-affinity against it).
        self.non_local_filters = frozenset(
            plugin.name for plugin in profile.filter if not known.is_node_local(plugin)
        )
        # For each Filter plugin, by name: the plugins before it that are not quiet. A
        # plugin's `filter_candidates` is used only when all of those SKIPped at PreFilter,
        # and it is quiet itself.
        self._loud_before: dict[str, frozenset[str]] = {}
        loud: set[str] = set()
        for plugin in profile.filter:
            quiet = known.is_quiet_filter(plugin)
            self._loud_before[plugin.name] = frozenset(loud | (set() if quiet else {plugin.name}))
            if not quiet:
                loud.add(plugin.name)
        # PreFilter plugins told about pods a what-if adds or removes (PreFilterExtensions).
        self._extensions: list[PreFilterExtensions] = [
            cast(PreFilterExtensions, plugin)
            for plugin in profile.pre_filter
            if known.implements(plugin, PreFilterExtensions)
        ]

    def run_pre_filter(
        self,
        state: CycleState,
        pod: PodInfo,
        nodes: Sequence[NodeInfo],
        diagnosis: Diagnosis,
    ) -> tuple[Sequence[NodeInfo], set[str], frozenset[str] | None]:
        """PreFilter plugins in order: the candidate nodes, the plugins that SKIPped, and the
        only nodes Filter may pass (None: any) from the plugins' `filter_candidates` that
        the framework may use (see the module docstring)."""
        skipped: set[str] = set()
        allowed: frozenset[str] | None = None
        narrowing: list[str] = []
        rejection: Status | None = None
        hints: list[tuple[str, frozenset[str]]] = []
        skip = Code.SKIP
        for plugin in self.profile.pre_filter:
            result, status = plugin.pre_filter(state, pod, nodes)
            if status.code is skip:  # nothing reads a SKIP's plugin: no stamped copy
                skipped.add(plugin.name)
                continue
            status = status.stamped(plugin.name)
            if status.is_rejected:
                diagnosis.unschedulable_plugins.add(plugin.name)
                if rejection is None or status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
                    rejection = status
                if status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
                    break
                continue
            if not status.is_success:
                raise SchedulingError(
                    Status.error(f'running PreFilter plugin "{plugin.name}": {status.message}')
                )
            if result is not None and result.node_names is not None:
                narrowing.append(plugin.name)
                allowed = result.node_names if allowed is None else allowed & result.node_names
            if result is not None and result.filter_candidates is not None:
                hints.append((plugin.name, result.filter_candidates))
        if rejection is not None:
            diagnosis.pre_filter_message = rejection.message
            diagnosis.absent = rejection
            raise FitError(pod, len(nodes), diagnosis)
        if allowed is None:
            return nodes, skipped, self.usable_hint(hints, skipped)
        names = " ".join(narrowing)
        message = (
            f"node(s) didn't satisfy plugin {names}"
            if len(narrowing) == 1
            else f"node(s) didn't satisfy plugin(s) [{names}] simultaneously"
        )
        if not allowed:
            diagnosis.pre_filter_message = message
            raise FitError(pod, len(nodes), diagnosis)
        diagnosis.absent = Status.unresolvable(
            f"node(s) didn't satisfy plugin(s) [{' '.join(narrowing)}]"
        )
        return [node for node in nodes if node.name in allowed], skipped, None

    def usable_hint(
        self, hints: list[tuple[str, frozenset[str]]], skipped: set[str]
    ) -> frozenset[str] | None:
        """The nodes every usable hint allows (None: no usable hint). A plugin's hint is
        usable when the plugin runs at Filter, is quiet, and every Filter plugin before it
        that runs this cycle is quiet: skipping those on a node it rejects changes nothing."""
        found: frozenset[str] | None = None
        loud_before = self._loud_before
        for name, names in hints:
            loud = loud_before.get(name)
            if loud is None or not loud <= skipped:
                continue
            found = names if found is None else found & names
        return found

    def find_feasible(
        self,
        run_filters: FilterRunner,
        state: CycleState,
        pod: PodInfo,
        all_nodes: Sequence[NodeInfo],
        candidates: Sequence[NodeInfo],
        skipped: set[str],
        diagnosis: Diagnosis,
        start_index: int,
    ) -> tuple[list[NodeInfo], int]:
        """The walk over `candidates` from `start_index` until enough feasible nodes are
        found: those nodes, and the start index of the next cycle."""
        wanted = num_feasible_nodes_to_find(
            self.profile.percentage_of_nodes_to_score, len(candidates)
        )
        if not self.profile.score:
            wanted = 1
        feasible: list[NodeInfo] = []
        failed = 0
        count = len(candidates)
        if count == 0:  # a PreFilterResult naming only nodes that are gone
            return feasible, start_index
        start = start_index % count
        success = Code.SUCCESS
        statuses = diagnosis.node_statuses
        rotated = [*candidates[start:], *candidates[:start]] if start else candidates
        for node in rotated:
            status = run_filters(state, pod, node, skipped)
            if status is SUCCESS or status.code == success:
                feasible.append(node)
                if len(feasible) >= wanted:
                    break
            else:
                failed += 1
                statuses[node.name] = status
                if status.plugin:
                    diagnosis.unschedulable_plugins.add(status.plugin)
        return feasible, (start + len(feasible) + failed) % len(all_nodes)

    def find_feasible_among(
        self,
        run_filters: FilterRunner,
        state: CycleState,
        pod: PodInfo,
        nodes: IndexedNodes,
        hint: frozenset[str],
        skipped: set[str],
        diagnosis: Diagnosis,
        start_index: int,
    ) -> tuple[list[NodeInfo], int]:
        """`find_feasible` over every node when only the nodes in `hint` may pass Filter:
        the same walk from `start_index`, filtering only those; the feasible nodes found
        and how many nodes the walk visited (the next cycle starts that far on). When none
        fits, the diagnosis gets every node's status in walking order, the nodes outside
        `hint` filtered then (they reject)."""
        count = len(nodes)
        wanted = num_feasible_nodes_to_find(self.profile.percentage_of_nodes_to_score, count)
        if not self.profile.score:
            wanted = 1
        start = start_index % count
        positions = nodes.positions
        inside = sorted(at for name in hint if (at := positions.get(name)) is not None)
        split = bisect_left(inside, start)
        success = Code.SUCCESS
        feasible: list[NodeInfo] = []
        rejected: dict[int, Status] = {}
        last: int | None = None
        for at in [*inside[split:], *inside[:split]]:
            node = nodes[at]
            status = run_filters(state, pod, node, skipped)
            if status is SUCCESS or status.code == success:
                feasible.append(node)
                if len(feasible) >= wanted:
                    last = at
                    break
            else:
                rejected[at] = status
        visited = count if last is None else (last - start) % count + 1
        if not feasible:
            statuses = diagnosis.node_statuses
            for at in [*range(start, count), *range(start)]:
                node = nodes[at]
                found = rejected.get(at)
                status = found if found is not None else run_filters(state, pod, node, skipped)
                statuses[node.name] = status
                if status.plugin:
                    diagnosis.unschedulable_plugins.add(status.plugin)
        return feasible, visited

    def run_post_filter(self, state: CycleState, pod: PodInfo, diagnosis: Diagnosis) -> None:
        if state.skip_post_filter:
            return
        messages = []
        for plugin in self.profile.post_filter:
            nominated, status = plugin.post_filter(state, pod, diagnosis.node_statuses)
            if status.is_success:
                diagnosis.nominated_node_name = nominated
                return
            if status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
                messages.append(status.message)
                break
            if status.code == Code.UNSCHEDULABLE:
                messages.append(status.message)
                continue
            raise SchedulingError(
                Status.error(f'running PostFilter plugin "{plugin.name}": {status.message}')
            )
        diagnosis.post_filter_message = ", ".join(m for m in messages if m)

    def run_pre_filter_extensions(
        self, state: CycleState, pod: PodInfo, other: PodInfo, node: NodeInfo, *, removed: bool
    ) -> Status:
        """PreFilter extensions (AddPod / RemovePod) of the plugins that ran at PreFilter:
        `other` is back on `node`, or off it (`removed`), in a what-if."""
        call = "RemovePod" if removed else "AddPod"
        for plugin in self._extensions:
            if plugin.name in state.skip_filter_plugins:
                continue
            extension = plugin.remove_pod if removed else plugin.add_pod
            status = extension(state, pod, other, node)
            if not status.is_success:
                return Status.error(
                    f'running {call} on PreFilter plugin "{plugin.name}": {status.message}'
                ).stamped(plugin.name)
        return SUCCESS
