"""One profile's plugins run in kube-scheduler's order: the scheduling algorithm of one pod.

`Framework.schedule` is PreFilter -> Filter (with `numFeasibleNodesToFind` and the rotating
start index) -> PreScore -> Score -> NormalizeScore -> weighted sum -> host; a pod that fits
nowhere gets a `FitError` whose message is kube-scheduler's
"0/N nodes are available: ..." (spec/scheduler.md sections 2.3-2.10 and 3). Reserve, Permit,
PreBind and Bind run through `reserve`, `permit` and `bind`; the scheduler calls them after
assuming the pod.

The framework is also the plugins' `Handle`: preemption's dry run runs the Filter plugins on a
node copy through `run_filters_with_state` and keeps PreFilter state in step through
`run_pre_filter_extension_add_pod` / `_remove_pod`. A PostFilter plugin that succeeds leaves its
nominated node in the `Diagnosis` of the `FitError`; the cycle still ends unschedulable
(section 2.10).

A PreFilter plugin may also say which nodes alone its Filter can pass
(`PreFilterResult.filter_candidates`, dralloc's extension; NodeAffinity does from the
snapshot's label index). When every Filter plugin before it is quiet (`QuietFilter`: never
ERROR, writes nothing), Filter runs only on those nodes and the others count as rejected
without being called: the walk from the start index visits, finds and scores the same nodes
as the plain scan, and when a diagnosis is read (no node fit) the skipped nodes get the
status the Filter chain gives them then, in the plain scan's order. Nothing shows but time.

The framework owns one piece of state across cycles, the filter start index, as upstream does.
Ties between equally scored nodes go to a fixed node ranking when one is given (the FGD
experiment's), else to a seeded `random.Random` when one is given, else to the first node in
name order (deterministic for scripts).

A what-if loop that re-runs whole cycles on a cache it changes and restores (gang preemption
asks "does the gang fit now?" once per victim unit) may remember verdicts for its own extent
only: `with framework.remembering(signature): ...` gives a framework built without a pod
signature a fresh verdict memory that is dropped on exit. Same framework, same rng, start
index and plugin handles; the cycles visit, score and choose exactly as without it. It is
sound where the caller holds the world still for the block's extent (no informer event can
land inside a synchronous call), so every change the block sees is one the cache makes
through its methods, which move node generations.
"""

from __future__ import annotations

import random
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from dralloc.scheduler.framework.generations import NodeMemo
from dralloc.scheduler.framework.interface import (
    ArrayNormalizer,
    BindPlugin,
    BulkScorer,
    CycleState,
    FilterPlugin,
    HandleReceiver,
    PermitPlugin,
    PodSignature,
    PostFilterPlugin,
    PreBindPlugin,
    PreFilterExtensions,
    PreFilterPlugin,
    PreScorePlugin,
    ReservePlugin,
    ScoreNormalizer,
    ScorePlugin,
    is_node_local,
    is_quiet_filter,
)
from dralloc.scheduler.framework.labelindex import IndexedNodes
from dralloc.scheduler.framework.nodeinfo import NodeInfo, PodInfo
from dralloc.scheduler.framework.status import SUCCESS, Code, Status
from dralloc.scheduler.framework.verdicts import NodeScores, Positions, Scores, ShapeVerdicts

MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5
MAX_NODE_SCORE = 100


def num_feasible_nodes_to_find(percentage: int | None, nodes: int) -> int:
    """How many feasible nodes the Filter phase looks for (section 2.5); `percentage` None or
    0 is upstream's adaptive default."""
    if nodes < MIN_FEASIBLE_NODES_TO_FIND:
        return nodes
    pct = percentage or max(50 - nodes // 125, MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND)
    if pct >= 100:
        return nodes
    return max(nodes * pct // 100, MIN_FEASIBLE_NODES_TO_FIND)


def default_normalize_array(scores: Scores, *, reverse: bool) -> Scores:
    """`default_normalize` over an array of raw scores (non-negative, as upstream's are)."""
    top = int(scores.max()) if scores.size else 0
    if top == 0:
        return np.full(scores.size, MAX_NODE_SCORE if reverse else 0, dtype=np.int64)
    scaled: Scores = MAX_NODE_SCORE * scores // top
    return MAX_NODE_SCORE - scaled if reverse else scaled


def _invalid_score(plugin: str, value: int) -> SchedulingError:
    return SchedulingError(
        Status.error(
            f'plugin "{plugin}" returns an invalid score {value}, '
            f"it should in the range of [0, {MAX_NODE_SCORE}] after normalizing"
        )
    )


def default_normalize(scores: dict[str, int], *, reverse: bool) -> None:
    """Upstream's `DefaultNormalizeScore`: scale by the maximum to 0..100, optionally reversed
    (`default_normalize_array` on the mapping's values, in place)."""
    values = np.fromiter(scores.values(), dtype=np.int64, count=len(scores))
    scores.update(
        zip(scores, default_normalize_array(values, reverse=reverse).tolist(), strict=True)
    )


@dataclass
class Profile:
    """A scheduler profile: the plugins enabled at each extension point, in order.

    Score plugins carry their weight (0 or missing counts as 1, as upstream).
    """

    name: str = "default-scheduler"
    pre_filter: list[PreFilterPlugin] = field(default_factory=list)
    filter: list[FilterPlugin] = field(default_factory=list)
    post_filter: list[PostFilterPlugin] = field(default_factory=list)
    pre_score: list[PreScorePlugin] = field(default_factory=list)
    score: list[tuple[ScorePlugin, int]] = field(default_factory=list)
    reserve: list[ReservePlugin] = field(default_factory=list)
    permit: list[PermitPlugin] = field(default_factory=list)
    pre_bind: list[PreBindPlugin] = field(default_factory=list)
    bind: list[BindPlugin] = field(default_factory=list)
    percentage_of_nodes_to_score: int | None = None


@dataclass
class Diagnosis:
    """Why no node fit: each visited node's rejecting status, and what applies to the rest."""

    node_statuses: dict[str, Status] = field(default_factory=dict)
    absent: Status = field(default_factory=lambda: Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE))
    pre_filter_message: str = ""
    post_filter_message: str = ""
    unschedulable_plugins: set[str] = field(default_factory=set)
    # The node a PostFilter plugin nominated (preemption made room there); None otherwise.
    nominated_node_name: str | None = None
    # The reasons over `node_statuses`, when kept incrementally (remembered verdicts).
    histogram: Counter[str] | None = None


class FitError(Exception):
    """No node fits the pod; `message` is kube-scheduler's FitError text."""

    def __init__(self, pod: PodInfo, num_all_nodes: int, diagnosis: Diagnosis) -> None:
        self.pod = pod
        self.num_all_nodes = num_all_nodes
        self.diagnosis = diagnosis
        super().__init__(self.message)

    @property
    def message(self) -> str:
        diagnosis = self.diagnosis
        text = f"0/{self.num_all_nodes} nodes are available:"
        if diagnosis.pre_filter_message:
            text += f" {diagnosis.pre_filter_message}."
        else:
            histogram: Counter[str] = Counter()
            if diagnosis.histogram is not None:
                histogram.update(diagnosis.histogram)
            else:
                for status in diagnosis.node_statuses.values():
                    histogram.update(status.reasons)
            missing = self.num_all_nodes - len(diagnosis.node_statuses)
            if missing > 0:
                for reason in diagnosis.absent.reasons:
                    histogram[reason] += missing
            parts = sorted(f"{count} {reason}" for reason, count in histogram.items())
            if parts:
                text += " " + ", ".join(parts) + "."
        if diagnosis.post_filter_message:
            text += " " + diagnosis.post_filter_message
        return text


class SchedulingError(Exception):
    """A plugin returned ERROR: the pod backs off; not a "no fit"."""

    def __init__(self, status: Status) -> None:
        self.status = status
        super().__init__(status.message)


@dataclass(frozen=True)
class ScheduleResult:
    node: str
    evaluated_nodes: int
    feasible_nodes: int
    scores: Mapping[str, int] = field(default_factory=dict)


@dataclass
class _ScoredNodes:
    """The nodes a cycle scores: `nodes[at]` for each position of `window`, in scan order.
    `verdicts` holds the pod shape's remembered raw scores when the cycle has them."""

    nodes: Sequence[NodeInfo]
    window: Positions
    verdicts: ShapeVerdicts | None = None
    _listed: list[NodeInfo] | None = None

    def listed(self) -> list[NodeInfo]:
        """The scored nodes as a list, built only when a plugin reads them (a thousand-node
        list per pod is most of a simulated cycle otherwise)."""
        if self._listed is None:
            nodes = self.nodes
            self._listed = [nodes[at] for at in self.window.tolist()]
        return self._listed


class Framework:
    """Runs one profile. `rng` breaks ties between equally scored nodes (None: name order)."""

    def __init__(
        self,
        profile: Profile,
        rng: random.Random | None = None,
        node_rank: Mapping[str, int] | None = None,
        pod_signature: PodSignature | None = None,
        node_key: Callable[[NodeInfo], Hashable] | None = None,
        remember_what_ifs: bool = True,
    ) -> None:
        self.profile = profile
        self.rng = rng
        # Whether `remembering` gives a what-if loop its scoped verdict memory (the off
        # switch of that speed-up; outcomes are the same either way).
        self.remember_what_ifs = remember_what_ifs
        # Node verdicts remembered across cycles (`verdicts.py`): with `pod_signature` (equal
        # signatures mean pods every plugin treats alike), each node's Filter status and each
        # node-local score plugin's raw score are reused while the node's generation is
        # unchanged. Only when every Filter plugin declares `node_local = True` (its answer
        # depends on the pod and that node alone); score plugins take part one by one.
        self.pod_signature = pod_signature
        # Equal keys: nodes every plugin treats alike (used with `pod_signature` only).
        self.node_key = node_key
        self._node_keys: NodeMemo[Hashable] = NodeMemo()
        # Score plugins that score every feasible node in one call (dralloc's own extension,
        # for scores that are not per node, such as Random's one drawn node).
        self._bulk: dict[int, BulkScorer] = {
            id(plugin): plugin for plugin, _ in profile.score if isinstance(plugin, BulkScorer)
        }
        # Which score plugins normalise, decided once: a runtime Protocol check is slow.
        self._normalizers: dict[int, ScoreNormalizer] = {
            id(plugin): plugin for plugin, _ in profile.score if isinstance(plugin, ScoreNormalizer)
        }
        self._array_normalizers: dict[int, ArrayNormalizer] = {
            id(plugin): plugin for plugin, _ in profile.score if isinstance(plugin, ArrayNormalizer)
        }
        # Called for every node visited: the bound methods and names looked up once.
        self._filters = [(plugin.name, plugin.filter) for plugin in profile.filter]
        # Filter plugins that are not node-local: remembered verdicts hold only in the cycles
        # where all of them SKIPped at PreFilter (a pod without spread constraints or
        # inter-pod affinity, and no existing pod's anti-affinity against it).
        self._non_local_filters = frozenset(
            plugin.name for plugin in profile.filter if not is_node_local(plugin)
        )
        # For each Filter plugin, by name: the plugins before it that are not quiet. A
        # plugin's `filter_candidates` is used only when all of those SKIPped at PreFilter,
        # and it is quiet itself.
        self._loud_before: dict[str, frozenset[str]] = {}
        loud: set[str] = set()
        for plugin in profile.filter:
            self._loud_before[plugin.name] = frozenset(
                loud | (set() if is_quiet_filter(plugin) else {plugin.name})
            )
            if not is_quiet_filter(plugin):
                loud.add(plugin.name)
        self._node_local_scores = {
            id(plugin) for plugin, _ in profile.score if is_node_local(plugin)
        }
        # (signature, skipped PreFilter plugins) -> verdicts; bounded by pod shapes x nodes.
        self._shapes: dict[tuple[bytes, frozenset[str]], ShapeVerdicts] = {}
        # A fixed ranking for ties (the FGD experiment's random node order, spec/fgd.md 4.3);
        # it takes precedence over `rng`.
        self.node_rank = node_rank
        self._rank_array: tuple[Sequence[NodeInfo], Scores] | None = None
        self.next_start_node_index = 0
        self._hand_over_handle()

    @contextmanager
    def remembering(self, signature: PodSignature | None) -> Iterator[None]:
        """Remember node verdicts under `signature` for the block's extent only (module
        docstring), then forget them. Nothing changes when `signature` is None (the caller's
        off switch), `remember_what_ifs` is off (the framework's), or the framework remembers
        already (its own memory then serves). An inner block joins the outer one."""
        if signature is None or not self.remember_what_ifs or self.pod_signature is not None:
            yield
            return
        outside = self._shapes
        self.pod_signature = signature
        self._shapes = {}
        try:
            yield
        finally:
            self.pod_signature = None
            self._shapes = outside

    # ------------------------------------------------------------------ the algorithm

    def schedule(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> ScheduleResult:
        """Pick a node for `pod` among `nodes` (the cycle's snapshot, in name order).

        Raises FitError when none fits (after running PostFilter) and SchedulingError when
        a plugin fails with ERROR.
        """
        if not nodes:
            diagnosis = Diagnosis(pre_filter_message="no nodes available to schedule pods")
            raise FitError(pod, 0, diagnosis)
        diagnosis = Diagnosis()
        try:
            candidates, skipped, hint = self._run_pre_filter(state, pod, nodes, diagnosis)
        except FitError:
            self._run_post_filter(state, pod, diagnosis)  # upstream runs it for any FitError
            raise
        state.skip_filter_plugins = frozenset(skipped)
        verdicts = self._shape_verdicts(pod, nodes, candidates, skipped)
        if verdicts is not None:
            return self._schedule_remembered(state, pod, verdicts, skipped, diagnosis, hint)
        if hint is not None and isinstance(nodes, IndexedNodes) and candidates is nodes:
            feasible, evaluated = self._find_feasible_among(
                state, pod, nodes, hint, skipped, diagnosis
            )
        else:
            feasible = self._find_feasible(state, pod, nodes, candidates, skipped, diagnosis)
            evaluated = len(feasible) + len(diagnosis.node_statuses)
        if not feasible:
            self._run_post_filter(state, pod, diagnosis)
            raise FitError(pod, len(nodes), diagnosis)
        if len(feasible) == 1:
            return ScheduleResult(feasible[0].name, evaluated, 1)
        scored = _ScoredNodes(feasible, np.arange(len(feasible), dtype=np.intp))
        totals = self._prioritize(state, pod, scored)
        return ScheduleResult(
            self._select_host(scored, totals),
            evaluated,
            len(feasible),
            NodeScores(feasible, scored.window, totals),
        )

    def _shape_verdicts(
        self,
        pod: PodInfo,
        nodes: Sequence[NodeInfo],
        candidates: Sequence[NodeInfo],
        skipped: set[str],
    ) -> ShapeVerdicts | None:
        """The remembered verdicts for this pod's shape, when they give exactly the plain
        evaluation: every Filter plugin that runs this cycle node-local, every node a
        candidate."""
        if self.pod_signature is None or candidates is not nodes:
            return None
        if not self._non_local_filters <= skipped:
            return None
        if not self.profile.score:
            return None
        signature = self.pod_signature(pod)
        if signature is None:  # like no other pod: evaluated in full
            return None
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

    def _schedule_remembered(
        self,
        state: CycleState,
        pod: PodInfo,
        verdicts: ShapeVerdicts,
        skipped: set[str],
        diagnosis: Diagnosis,
        hint: frozenset[str] | None,
    ) -> ScheduleResult:
        """The cycle from remembered verdicts: the same nodes visited, the same scores and the
        same choice as the plain evaluation, at the cost of the changed nodes (of those in
        `hint`, when there is one: the others' verdicts are deferred until a diagnosis
        reads them)."""
        errors = self._refresh(verdicts, state, pod, skipped, hint)
        nodes = verdicts.nodes
        count = len(nodes)
        wanted = num_feasible_nodes_to_find(self.profile.percentage_of_nodes_to_score, count)
        start = self.next_start_node_index % count
        window, visited = verdicts.window(wanted, start)
        if window.size == 0 and verdicts.has_deferred():
            # No node fits: the diagnosis reads every node's status, so the deferred nodes
            # are filtered now (they reject; the window stays empty).
            verdicts.undefer()
            errors.update(self._refresh(verdicts, state, pod, skipped, None))
            window, visited = verdicts.window(wanted, start)
        if errors:
            # The plain scan fails at the first erroring node it reaches, and never sees
            # those beyond where it stops.
            reached = [
                ((at - start) % count, at) for at in errors if (at - start) % count < visited
            ]
            if reached:
                raise errors[min(reached)[1]]
        self.next_start_node_index = (start + visited) % count
        if window.size == 0:
            diagnosis.node_statuses = dict(verdicts.failed)
            diagnosis.histogram = verdicts.histogram()
            diagnosis.unschedulable_plugins |= verdicts.unschedulable_plugins()
            self._run_post_filter(state, pod, diagnosis)
            raise FitError(pod, count, diagnosis)
        if window.size == 1:
            return ScheduleResult(nodes[int(window[0])].name, visited, 1)
        scored = _ScoredNodes(nodes, window, verdicts)
        totals = self._prioritize(state, pod, scored)
        host = self._select_host(scored, totals)
        return ScheduleResult(host, visited, int(window.size), NodeScores(nodes, window, totals))

    def _refresh(
        self,
        verdicts: ShapeVerdicts,
        state: CycleState,
        pod: PodInfo,
        skipped: set[str],
        hint: frozenset[str] | None,
    ) -> dict[int, SchedulingError]:
        """Filter only the nodes changed since this shape's last cycle (with a `hint`, only
        those in it; the others' verdicts are deferred). A node whose Filter plugins fail
        with ERROR keeps no verdict (it is filtered again next cycle); its error, by node
        position, is returned for the caller to raise if the scan reaches the node."""
        errors: dict[int, SchedulingError] = {}
        node_key = self.node_key
        alike = verdicts.alike
        keys = self._node_keys
        run_filters = self.run_filters
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
                key = keys.get(node, node_key)
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

    def _run_pre_filter(
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
        for plugin in self.profile.pre_filter:
            result, status = plugin.pre_filter(state, pod, nodes)
            status = status.stamped(plugin.name)
            if status.code == Code.SKIP:
                skipped.add(plugin.name)
                continue
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
            return nodes, skipped, self._usable_hint(hints, skipped)
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

    def _usable_hint(
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

    def pre_filter(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> tuple[Sequence[NodeInfo], Diagnosis, FitError | None]:
        """PreFilter alone, as a cycle runs it (for explanations): the nodes Filter would see,
        the diagnosis so far (`absent` is what nodes PreFilter left out get), and the FitError
        a PreFilter rejection raises (None when the cycle goes on). Sets the state's skipped
        Filter plugins."""
        diagnosis = Diagnosis()
        try:
            candidates, skipped, _ = self._run_pre_filter(state, pod, nodes, diagnosis)
        except FitError as err:
            return [], diagnosis, err
        state.skip_filter_plugins = frozenset(skipped)
        return candidates, diagnosis, None

    def run_filters(
        self, state: CycleState, pod: PodInfo, node: NodeInfo, skipped: set[str] | None = None
    ) -> Status:
        """Filter plugins in order on one node, stopping at the first non-success."""
        success = Code.SUCCESS
        for name, check in self._filters:
            if skipped and name in skipped:
                continue
            status = check(state, pod, node)
            # Called for every node of every pod: the singleton first, no property call.
            if status is SUCCESS or status.code is success:
                continue
            status = status.stamped(name)
            if not status.is_rejected:
                raise SchedulingError(
                    Status.error(f'running "{name}" filter plugin: {status.message}')
                )
            return status
        return SUCCESS

    def _find_feasible(
        self,
        state: CycleState,
        pod: PodInfo,
        all_nodes: Sequence[NodeInfo],
        candidates: Sequence[NodeInfo],
        skipped: set[str],
        diagnosis: Diagnosis,
    ) -> list[NodeInfo]:
        wanted = num_feasible_nodes_to_find(
            self.profile.percentage_of_nodes_to_score, len(candidates)
        )
        if not self.profile.score:
            wanted = 1
        feasible: list[NodeInfo] = []
        failed = 0
        count = len(candidates)
        if count == 0:  # a PreFilterResult naming only nodes that are gone
            return feasible
        start = self.next_start_node_index % count
        run_filters = self.run_filters
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
        self.next_start_node_index = (start + len(feasible) + failed) % len(all_nodes)
        return feasible

    def _find_feasible_among(
        self,
        state: CycleState,
        pod: PodInfo,
        nodes: IndexedNodes,
        hint: frozenset[str],
        skipped: set[str],
        diagnosis: Diagnosis,
    ) -> tuple[list[NodeInfo], int]:
        """`_find_feasible` over every node when only the nodes in `hint` may pass Filter:
        the same walk from the start index, filtering only those; the feasible nodes found
        and how many nodes the walk visited. When none fits, the diagnosis gets every node's
        status in walking order, the nodes outside `hint` filtered then (they reject)."""
        count = len(nodes)
        wanted = num_feasible_nodes_to_find(self.profile.percentage_of_nodes_to_score, count)
        if not self.profile.score:
            wanted = 1
        start = self.next_start_node_index % count
        positions = nodes.positions
        inside = sorted(at for name in hint if (at := positions.get(name)) is not None)
        split = bisect_left(inside, start)
        run_filters = self.run_filters
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
        self.next_start_node_index = (start + visited) % count
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

    def _run_post_filter(self, state: CycleState, pod: PodInfo, diagnosis: Diagnosis) -> None:
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

    def _run_pre_score(
        self, state: CycleState, pod: PodInfo, feasible: Sequence[NodeInfo]
    ) -> set[str]:
        """PreScore plugins in order; the names of those that returned SKIP."""
        skipped = set()
        for pre in self.profile.pre_score:
            status = pre.pre_score(state, pod, feasible)
            if status.code == Code.SKIP:
                skipped.add(pre.name)
            elif not status.is_success:
                raise SchedulingError(
                    Status.error(f'running PreScore plugin "{pre.name}": {status.message}')
                )
        return skipped

    def _prioritize(self, state: CycleState, pod: PodInfo, scored: _ScoredNodes) -> Scores:
        """PreScore, Score, NormalizeScore and the weighted sum over the scored nodes (more
        than one): totals in `scored.window` order. The one prioritising algorithm, whatever
        was remembered: a node-local plugin's raw scores come from the shape's verdicts when
        there are any, and are computed otherwise."""
        skipped = (
            self._run_pre_score(state, pod, scored.listed()) if self.profile.pre_score else set()
        )
        totals: Scores = np.zeros(scored.window.size, dtype=np.int64)
        for plugin, weight in self.profile.score:
            if plugin.name in skipped:
                continue
            if scored.verdicts is not None and id(plugin) in self._node_local_scores:
                values = self._remembered_scores(plugin, state, pod, scored.verdicts, scored.window)
            else:
                listed = scored.listed()
                bulk = self._bulk.get(id(plugin))
                if bulk is not None:
                    by_name = bulk.score_nodes(state, pod, listed)
                    raw = [by_name[node.name] for node in listed]
                else:
                    raw = [self._score_one(plugin, state, pod, node) for node in listed]
                values = np.array(raw, dtype=np.int64)
            normalizer = self._normalizers.get(id(plugin))
            if normalizer is not None:
                by_array = self._array_normalizers.get(id(plugin))
                if by_array is not None:
                    values = by_array.normalize_array(state, pod, values)
                else:
                    names = [node.name for node in scored.listed()]
                    scores = dict(zip(names, values.tolist(), strict=True))
                    self._normalize(normalizer, plugin.name, state, pod, scores)
                    values = np.fromiter(scores.values(), dtype=np.int64, count=len(scores))
            if values.min() < 0 or values.max() > MAX_NODE_SCORE:
                outside = (values < 0) | (values > MAX_NODE_SCORE)
                raise _invalid_score(plugin.name, int(values[np.argmax(outside)]))
            factor = weight or 1
            totals += values if factor == 1 else factor * values
        return totals

    @staticmethod
    def _normalize(
        normalizer: ScoreNormalizer,
        name: str,
        state: CycleState,
        pod: PodInfo,
        scores: dict[str, int],
    ) -> None:
        status = normalizer.normalize_scores(state, pod, scores)
        if not status.is_success:
            raise SchedulingError(
                Status.error(f'running Normalize plugin "{name}": {status.message}')
            )

    def _remembered_scores(
        self,
        plugin: ScorePlugin,
        state: CycleState,
        pod: PodInfo,
        verdicts: ShapeVerdicts,
        window: Positions,
    ) -> Scores:
        """A node-local plugin's raw scores at `window`, computing only those not remembered."""
        raw = verdicts.raw_scores(plugin.name)
        missing = window[~raw.valid[window]]
        if missing.size:
            alike = verdicts.alike_scores.setdefault(plugin.name, {})
            keys = verdicts.keys
            nodes = verdicts.nodes
            values = raw.values
            valid = raw.valid
            for at in missing.tolist():
                node = nodes[at]
                key = keys.get(node.name)
                value = alike.get(key) if key is not None else None
                if value is None:
                    value = self._score_one(plugin, state, pod, node)
                    if key is not None:
                        alike[key] = value
                values[at] = value
                valid[at] = True
        remembered: Scores = raw.values[window]  # a copy: normalising does not touch it
        return remembered

    @staticmethod
    def _score_one(plugin: ScorePlugin, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        value, status = plugin.score(state, pod, node)
        if not status.is_success:
            raise SchedulingError(
                Status.error(f'running Score plugin "{plugin.name}": {status.message}')
            )
        return value

    def _select_host(self, scored: _ScoredNodes, totals: Scores) -> str:
        """The best-scored node; ties go to the fixed ranking, else to `_break_tie`."""
        nodes = scored.nodes
        tied = scored.window[totals == totals.max()]
        if tied.size == 1:
            return nodes[int(tied[0])].name
        ranks = self._ranks(nodes)
        if ranks is not None:
            return nodes[int(tied[np.argmin(ranks[tied])])].name
        return self._break_tie([nodes[at].name for at in tied.tolist()])

    def _ranks(self, nodes: Sequence[NodeInfo]) -> Scores | None:
        """`node_rank` as an array over `nodes` (kept for the last node list): unranked nodes
        after every ranked one, in name order, as `_break_tie` orders them."""
        rank = self.node_rank
        if rank is None:
            return None
        if self._rank_array is not None and self._rank_array[0] is nodes:
            return self._rank_array[1]
        unranked = sorted(node.name for node in nodes if node.name not in rank)
        after = {name: len(rank) + i for i, name in enumerate(unranked)}
        array = np.array(
            [rank[node.name] if node.name in rank else after[node.name] for node in nodes],
            dtype=np.int64,
        )
        self._rank_array = (nodes, array)
        return array

    def _break_tie(self, tied: list[str]) -> str:
        """One of several equally scored nodes, without a fixed ranking: a seeded draw among
        them in name order, or the first in name order."""
        tied.sort()
        if self.rng is None:
            return tied[0]
        return self.rng.choice(tied)

    # ------------------------------------------------------------- the plugins' handle

    def _hand_over_handle(self) -> None:
        seen: set[int] = set()
        profile = self.profile
        plugins: list[object] = [
            *profile.pre_filter,
            *profile.filter,
            *profile.post_filter,
            *profile.pre_score,
            *(plugin for plugin, _ in profile.score),
            *profile.reserve,
            *profile.permit,
            *profile.pre_bind,
            *profile.bind,
        ]
        for plugin in plugins:
            if id(plugin) not in seen and isinstance(plugin, HandleReceiver):
                seen.add(id(plugin))
                plugin.set_handle(self)

    @property
    def profile_name(self) -> str:
        return self.profile.name

    def run_filters_with_state(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        """The Filter plugins on one node (a what-if copy, typically), skipping the plugins
        whose PreFilter returned SKIP in this cycle; an ERROR is returned, not raised."""
        try:
            return self.run_filters(state, pod, node, set(state.skip_filter_plugins))
        except SchedulingError as err:
            return err.status

    def run_pre_filter_extension_add_pod(
        self, state: CycleState, pod: PodInfo, added: PodInfo, node: NodeInfo
    ) -> Status:
        """Tell the PreFilter plugins with extensions that `added` is back on `node`."""
        return self._run_pre_filter_extensions(state, pod, added, node, removed=False)

    def run_pre_filter_extension_remove_pod(
        self, state: CycleState, pod: PodInfo, removed: PodInfo, node: NodeInfo
    ) -> Status:
        """Tell the PreFilter plugins with extensions that `removed` is off `node`."""
        return self._run_pre_filter_extensions(state, pod, removed, node, removed=True)

    def _run_pre_filter_extensions(
        self, state: CycleState, pod: PodInfo, other: PodInfo, node: NodeInfo, *, removed: bool
    ) -> Status:
        call = "RemovePod" if removed else "AddPod"
        for plugin in self.profile.pre_filter:
            if plugin.name in state.skip_filter_plugins:
                continue
            if isinstance(plugin, PreFilterExtensions):
                extension = plugin.remove_pod if removed else plugin.add_pod
                status = extension(state, pod, other, node)
                if not status.is_success:
                    return Status.error(
                        f'running {call} on PreFilter plugin "{plugin.name}": {status.message}'
                    ).stamped(plugin.name)
        return SUCCESS

    # ------------------------------------------------------------- after the algorithm

    def reserve(self, state: CycleState, pod: PodInfo, node_name: str) -> Status:
        """Reserve plugins in order, stopping at the first failure. The caller then runs
        `unreserve` once (every plugin's Unreserve, in reverse), as upstream's scheduling
        cycle does after RunReservePluginsReserve fails."""
        for plugin in self.profile.reserve:
            status = plugin.reserve(state, pod, node_name)
            if not status.is_success:
                return status.stamped(plugin.name)
        return SUCCESS

    def unreserve(self, state: CycleState, pod: PodInfo, node_name: str) -> None:
        for plugin in reversed(self.profile.reserve):
            plugin.unreserve(state, pod, node_name)

    def permit(self, state: CycleState, pod: PodInfo, node_name: str) -> Status:
        for plugin in self.profile.permit:
            status = plugin.permit(state, pod, node_name)
            if not status.is_success:
                return status.stamped(plugin.name)
        return SUCCESS

    def bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status:
        """PreBind plugins, then the first Bind plugin that does not SKIP."""
        for pre in self.profile.pre_bind:
            status = pre.pre_bind(state, pod, node_name)
            if not status.is_success:
                return status.stamped(pre.name)
        for binder in self.profile.bind:
            status = binder.bind(state, pod, node_name)
            if status.code != Code.SKIP:
                return status.stamped(binder.name)
        return SUCCESS
