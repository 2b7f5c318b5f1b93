"""One profile's plugins run in kube-scheduler's order: the scheduling algorithm of one pod.

`Framework.schedule` is PreFilter -> Filter (with `numFeasibleNodesToFind` and the rotating
start index) -> PreScore -> Score -> NormalizeScore -> weighted sum -> host; a pod that fits
nowhere gets a `FitError` whose message is kube-scheduler's
"0/N nodes are available: ..." (spec/scheduler.md sections 2.3-2.10 and 3). Reserve, Permit,
PreBind and Bind run through `reserve`, `permit` and `bind`; the scheduler calls them after
assuming the pod.

The cycle's parts live in their own modules, which this one puts in order: `filtering.py`
(PreFilter, the Filter walks, PostFilter), `scoring.py` (PreScore, Score, normalising and the
weighted sum), `selection.py` (the host among the best scored), `remembered.py` (node
verdicts per pod shape), `outcomes.py` (`ScheduleResult`, `FitError`, `SchedulingError`) and
`profile.py` (`Profile`). Their names are re-exported here and from the package.

The framework is also the plugins' `Handle`: preemption's dry run runs the Filter plugins on a
node copy through `run_filters_with_state` and keeps PreFilter state in step through
`run_pre_filter_extension_add_pod` / `_remove_pod`. A PostFilter plugin that succeeds leaves its
nominated node in the `Diagnosis` of the `FitError`; the cycle still ends unschedulable
(section 2.10). Every Filter call of a cycle goes through `run_filters`.

The framework owns one piece of state across cycles, the filter start index, as upstream does,
and the remembered verdicts when it has a pod signature (`remembered.py`): a cycle takes them
only where they give exactly the plain evaluation (every Filter plugin that runs node-local,
no PreFilter plugin narrowing the nodes), and then visits, scores and chooses as the plain
evaluation does. Ties between equally scored nodes go to a fixed node ranking when one is
given (the FGD experiment's), else to a seeded `random.Random` when one is given, else to the
first node in name order (deterministic for scripts). The framework's own shortcuts
(`speedups.py`: uniform scores, ties drawn by position) are switched by `FrameworkSpeedups`;
none changes what a cycle decides.

A what-if loop that re-runs whole cycles on a cache it changes and restores (gang preemption
asks "does the gang fit now?" once per victim unit) may remember verdicts for its own extent
only: `with framework.remembering(signature): ...` gives a framework built without a pod
signature a fresh verdict memory that is dropped on exit. Same framework, same rng, start
index and plugin handles; the cycles visit, score and choose exactly as without it. It is
sound where the caller holds the world still for the block's extent (no informer event can
land inside a synchronous call), so every change the block sees is one the cache makes
through its methods, which move node generations.

Whole cycles run as a what-if (`with framework.what_if(): ...`) leave the start index where
they found it: only real cycles rotate it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import cast

import numpy as np

from dralloc.scheduler.framework.filtering import (
    MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND,
    MIN_FEASIBLE_NODES_TO_FIND,
    FilterPhase,
    num_feasible_nodes_to_find,
)
from dralloc.scheduler.framework.generations import NodeMemo
from dralloc.scheduler.framework.interface import (
    CycleState,
    HandleReceiver,
    PodSignature,
)
from dralloc.scheduler.framework.labelindex import IndexedNodes
from dralloc.scheduler.framework.nodeinfo import NodeInfo, PodInfo
from dralloc.scheduler.framework.outcomes import (
    Diagnosis,
    FitError,
    ScheduleResult,
    SchedulingError,
)
from dralloc.scheduler.framework.profile import Profile
from dralloc.scheduler.framework.remembered import VerdictMemory, refresh
from dralloc.scheduler.framework.scoring import (
    MAX_NODE_SCORE,
    Prioritizer,
    ScoredNodes,
    default_normalize,
    default_normalize_array,
)
from dralloc.scheduler.framework.selection import NameOrder, NodeRanking, select_host
from dralloc.scheduler.framework.speedups import FrameworkSpeedups
from dralloc.scheduler.framework.status import SUCCESS, Code, Status
from dralloc.scheduler.framework.traits import PluginTraits
from dralloc.scheduler.framework.verdicts import NodeScores, ShapeVerdicts

__all__ = [
    "MAX_NODE_SCORE",
    "MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND",
    "MIN_FEASIBLE_NODES_TO_FIND",
    "Diagnosis",
    "FitError",
    "Framework",
    "FrameworkSpeedups",
    "Profile",
    "ScheduleResult",
    "SchedulingError",
    "default_normalize",
    "default_normalize_array",
    "num_feasible_nodes_to_find",
]


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
        speedups: FrameworkSpeedups | None = None,
        traits: PluginTraits | None = None,
    ) -> None:
        self.profile = profile
        self.rng = rng
        # The framework's own shortcuts (`speedups.py`; all on by default).
        self.speedups = speedups if speedups is not None else FrameworkSpeedups()
        # Whether `remembering` gives a what-if loop its scoped verdict memory (the off
        # switch of that speed-up; outcomes are the same either way).
        self.remember_what_ifs = remember_what_ifs
        # Node verdicts remembered across cycles (`remembered.py`): with `pod_signature`
        # (equal signatures mean pods every plugin treats alike), each node's Filter status
        # and each node-local score plugin's raw score are reused while the node's generation
        # is unchanged. Only when every Filter plugin declares `node_local = True` (its answer
        # depends on the pod and that node alone); score plugins take part one by one.
        self.pod_signature = pod_signature
        # Equal keys: nodes every plugin treats alike (used with `pod_signature` only).
        self.node_key = node_key
        self._node_keys: NodeMemo[Hashable] = NodeMemo()
        self._memory = VerdictMemory()
        # Which Protocols each plugin implements, asked once per plugin class (`traits.py`;
        # the builder passes the memo its profiles were checked with).
        self.traits = traits if traits is not None else PluginTraits()
        self._filtering = FilterPhase(profile, self.traits)
        self._scoring = Prioritizer(profile, self.speedups, self.traits)
        # Called for every node visited: the bound methods and names looked up once.
        self._filters = [(plugin.name, plugin.filter) for plugin in profile.filter]
        # A fixed ranking for ties (the FGD experiment's random node order, spec/fgd.md 4.3);
        # it takes precedence over `rng`.
        self.node_rank = node_rank
        self._ranking = NodeRanking(node_rank) if node_rank is not None else None
        self._name_order = NameOrder() if self.speedups.ties_by_position else None
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
        outside = self._memory
        self.pod_signature = signature
        self._memory = VerdictMemory()
        try:
            yield
        finally:
            self.pod_signature = None
            self._memory = outside

    @contextmanager
    def what_if(self) -> Iterator[None]:
        """Cycles run in the block ask "what if" and are not scheduling cycles: the rotating
        filter start index is put back on exit, as kube-scheduler's nextStartNodeIndex moves
        only in `schedulePod` (a dry run such as preemption's runs Filter directly). A caller
        whose what-ifs run whole cycles (a Kueue admission check asking whether a job could
        be placed) wraps them in this, so a skipped or remembered what-if decides nothing
        later."""
        start = self.next_start_node_index
        try:
            yield
        finally:
            self.next_start_node_index = start

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
        filtering = self._filtering
        try:
            candidates, skipped, hint = filtering.run_pre_filter(state, pod, nodes, diagnosis)
        except FitError:
            filtering.run_post_filter(state, pod, diagnosis)  # upstream runs it for any FitError
            raise
        state.skip_filter_plugins = frozenset(skipped)
        verdicts = self._shape_verdicts(pod, nodes, candidates, skipped)
        if verdicts is not None:
            return self._schedule_remembered(state, pod, verdicts, skipped, diagnosis, hint)
        start = self.next_start_node_index
        if hint is not None and isinstance(nodes, IndexedNodes) and candidates is nodes:
            feasible, evaluated = filtering.find_feasible_among(
                self.run_filters, state, pod, nodes, hint, skipped, diagnosis, start
            )
            self.next_start_node_index = (start % len(nodes) + evaluated) % len(nodes)
        else:
            feasible, self.next_start_node_index = filtering.find_feasible(
                self.run_filters, state, pod, nodes, candidates, skipped, diagnosis, start
            )
            evaluated = len(feasible) + len(diagnosis.node_statuses)
        if not feasible:
            filtering.run_post_filter(state, pod, diagnosis)
            raise FitError(pod, len(nodes), diagnosis)
        if len(feasible) == 1:
            return ScheduleResult(feasible[0].name, evaluated, 1)
        scored = ScoredNodes(feasible, np.arange(len(feasible), dtype=np.intp))
        totals = self._scoring.prioritize(state, pod, scored)
        return ScheduleResult(
            select_host(scored, totals, self._ranking, self.rng),
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
        if not self._filtering.non_local_filters <= skipped:
            return None
        if not self.profile.score:
            return None
        signature = self.pod_signature(pod)
        if signature is None:  # like no other pod: evaluated in full
            return None
        return self._memory.for_shape(signature, skipped, nodes)

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
            self._filtering.run_post_filter(state, pod, diagnosis)
            raise FitError(pod, count, diagnosis)
        if window.size == 1:
            return ScheduleResult(nodes[int(window[0])].name, visited, 1)
        scored = ScoredNodes(nodes, window, verdicts)
        totals = self._scoring.prioritize(state, pod, scored)
        host = select_host(scored, totals, self._ranking, self.rng, self._name_order)
        return ScheduleResult(host, visited, int(window.size), NodeScores(nodes, window, totals))

    def _refresh(
        self,
        verdicts: ShapeVerdicts,
        state: CycleState,
        pod: PodInfo,
        skipped: set[str],
        hint: frozenset[str] | None,
    ) -> dict[int, SchedulingError]:
        return refresh(
            verdicts,
            self.run_filters,
            state,
            pod,
            skipped,
            hint,
            node_key=self.node_key,
            node_keys=self._node_keys,
        )

    def pre_filter(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> tuple[Sequence[NodeInfo], Diagnosis, FitError | None]:
        """PreFilter alone, as a cycle runs it (for explanations): the nodes Filter would see,
        the diagnosis so far (`absent` is what nodes PreFilter left out get), and the FitError
        a PreFilter rejection raises (None when the cycle goes on). Sets the state's skipped
        Filter plugins."""
        diagnosis = Diagnosis()
        try:
            candidates, skipped, _ = self._filtering.run_pre_filter(state, pod, nodes, diagnosis)
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
            if id(plugin) not in seen and self.traits.implements(plugin, HandleReceiver):
                seen.add(id(plugin))
                cast(HandleReceiver, plugin).set_handle(self)

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
        return self._filtering.run_pre_filter_extensions(state, pod, added, node, removed=False)

    def run_pre_filter_extension_remove_pod(
        self, state: CycleState, pod: PodInfo, removed: PodInfo, node: NodeInfo
    ) -> Status:
        """Tell the PreFilter plugins with extensions that `removed` is off `node`."""
        return self._filtering.run_pre_filter_extensions(state, pod, removed, node, removed=True)

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
