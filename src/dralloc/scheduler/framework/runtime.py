"""One profile's plugins run in kube-scheduler's order: the scheduling algorithm of one pod.

`Framework.schedule` is PreFilter -> Filter (with `numFeasibleNodesToFind` and the rotating
start index) -> PreScore -> Score -> NormalizeScore -> weighted sum -> host; a pod that fits
nowhere gets a `FitError` whose message is kube-scheduler's
"0/N nodes are available: ..." (spec/scheduler.md sections 2.3-2.10 and 3). Reserve, Permit,
PreBind and Bind run through `reserve`, `permit` and `bind`; the scheduler calls them after
assuming the pod.

The framework owns one piece of state across cycles, the filter start index, as upstream does.
Ties between equally scored nodes go to a fixed node ranking when one is given (the FGD
experiment's), else to a seeded `random.Random` when one is given, else to the first node in
name order (deterministic for scripts).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from dralloc.scheduler.framework.interface import (
    BindPlugin,
    CycleState,
    FilterPlugin,
    PermitPlugin,
    PostFilterPlugin,
    PreBindPlugin,
    PreFilterPlugin,
    PreScorePlugin,
    ReservePlugin,
    ScoreNormalizer,
    ScorePlugin,
)
from dralloc.scheduler.framework.nodeinfo import NodeInfo, PodInfo
from dralloc.scheduler.framework.status import SUCCESS, Code, Status

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


def default_normalize(scores: dict[str, int], *, reverse: bool) -> None:
    """Upstream's `DefaultNormalizeScore`: scale by the maximum to 0..100, optionally reversed."""
    top = max(scores.values(), default=0)
    for name, value in scores.items():
        if top == 0:
            scores[name] = MAX_NODE_SCORE if reverse else 0
            continue
        scaled = MAX_NODE_SCORE * value // top
        scores[name] = MAX_NODE_SCORE - scaled if reverse else scaled


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


class Framework:
    """Runs one profile. `rng` breaks ties between equally scored nodes (None: name order)."""

    def __init__(
        self,
        profile: Profile,
        rng: random.Random | None = None,
        node_rank: Mapping[str, int] | None = None,
        pod_signature: Callable[[PodInfo], bytes] | None = None,
    ) -> None:
        self.profile = profile
        self.rng = rng
        # Node verdicts remembered across cycles: with `pod_signature` (equal signatures mean
        # pods every plugin treats alike), a node's Filter status and each node-local plugin's
        # raw score are reused while the node's generation is unchanged. Only plugins that
        # declare `node_local = True` (their answer depends on the pod and that node alone)
        # take part; Filter is remembered only when every Filter plugin is node-local.
        self.pod_signature = pod_signature
        self._filters_node_local = all(
            getattr(plugin, "node_local", False) for plugin in profile.filter
        )
        # signature -> node name -> (generation, status); (plugin, signature) -> node ->
        # (generation, raw score). Bounded by nodes x pod shapes.
        self._filter_memo: dict[bytes, dict[str, tuple[int, Status]]] = {}
        self._score_memo: dict[tuple[str, bytes], dict[str, tuple[int, int]]] = {}
        # A fixed ranking for ties (the FGD experiment's random node order, spec/fgd.md 4.3);
        # it takes precedence over `rng`.
        self.node_rank = node_rank
        self.next_start_node_index = 0

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
        candidates, skipped = self._run_pre_filter(state, pod, nodes, diagnosis)
        feasible = self._find_feasible(state, pod, nodes, candidates, skipped, diagnosis)
        if not feasible:
            self._run_post_filter(state, pod, diagnosis)
            raise FitError(pod, len(nodes), diagnosis)
        evaluated = len(feasible) + len(diagnosis.node_statuses)
        if len(feasible) == 1:
            return ScheduleResult(feasible[0].name, evaluated, 1)
        scores = self._prioritize(state, pod, feasible)
        return ScheduleResult(self._select_host(scores), evaluated, len(feasible), scores)

    def _run_pre_filter(
        self,
        state: CycleState,
        pod: PodInfo,
        nodes: Sequence[NodeInfo],
        diagnosis: Diagnosis,
    ) -> tuple[Sequence[NodeInfo], set[str]]:
        skipped: set[str] = set()
        allowed: frozenset[str] | None = None
        narrowing: list[str] = []
        rejection: Status | None = None
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
        if rejection is not None:
            diagnosis.pre_filter_message = rejection.message
            diagnosis.absent = rejection
            raise FitError(pod, len(nodes), diagnosis)
        if allowed is None:
            return nodes, skipped
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
        return [node for node in nodes if node.name in allowed], skipped

    def run_filters(
        self, state: CycleState, pod: PodInfo, node: NodeInfo, skipped: set[str] | None = None
    ) -> Status:
        """Filter plugins in order on one node, stopping at the first non-success."""
        for plugin in self.profile.filter:
            if skipped and plugin.name in skipped:
                continue
            status = plugin.filter(state, pod, node)
            if status.is_success:
                continue
            status = status.stamped(plugin.name)
            if not status.is_rejected:
                raise SchedulingError(
                    Status.error(f'running "{plugin.name}" filter plugin: {status.message}')
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
        signature = (
            self.pod_signature(pod)
            if self.pod_signature is not None and self._filters_node_local
            else None
        )
        memo = self._filter_memo.setdefault(signature, {}) if signature is not None else None
        # The hot loop of a simulation (every node, every pod): locals, and the SUCCESS
        # singleton compared by identity before the code.
        recall = memo.get if memo is not None else None
        run_filters = self.run_filters
        success = Code.SUCCESS
        statuses = diagnosis.node_statuses
        rotated = [*candidates[start:], *candidates[:start]] if start else candidates
        for node in rotated:
            if recall is None:
                status = run_filters(state, pod, node, skipped)
            else:
                remembered = recall(node.name)
                if remembered is not None and remembered[0] == node.generation:
                    status = remembered[1]
                else:
                    status = run_filters(state, pod, node, skipped)
                    assert memo is not None
                    memo[node.name] = (node.generation, status)
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

    def _run_post_filter(self, state: CycleState, pod: PodInfo, diagnosis: Diagnosis) -> None:
        messages = []
        for plugin in self.profile.post_filter:
            _, status = plugin.post_filter(state, pod, diagnosis.node_statuses)
            if status.is_success:
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

    def _prioritize(
        self, state: CycleState, pod: PodInfo, feasible: Sequence[NodeInfo]
    ) -> dict[str, int]:
        totals = {node.name: 0 for node in feasible}
        if not self.profile.score:
            return {name: 1 for name in totals}
        skipped = set()
        for pre in self.profile.pre_score:
            status = pre.pre_score(state, pod, feasible)
            if status.code == Code.SKIP:
                skipped.add(pre.name)
            elif not status.is_success:
                raise SchedulingError(
                    Status.error(f'running PreScore plugin "{pre.name}": {status.message}')
                )
        signature = self.pod_signature(pod) if self.pod_signature is not None else None
        for plugin, weight in self.profile.score:
            if plugin.name in skipped:
                continue
            memo = (
                self._score_memo.setdefault((plugin.name, signature), {})
                if signature is not None and getattr(plugin, "node_local", False)
                else None
            )
            scores: dict[str, int] = {}
            for node in feasible:
                if memo is not None:
                    remembered = memo.get(node.name)
                    if remembered is not None and remembered[0] == node.generation:
                        scores[node.name] = remembered[1]
                        continue
                value, status = plugin.score(state, pod, node)
                if not status.is_success:
                    raise SchedulingError(
                        Status.error(f'running Score plugin "{plugin.name}": {status.message}')
                    )
                scores[node.name] = value
                if memo is not None:
                    memo[node.name] = (node.generation, value)
            if isinstance(plugin, ScoreNormalizer):
                status = plugin.normalize_scores(state, pod, scores)
                if not status.is_success:
                    raise SchedulingError(
                        Status.error(f'running Normalize plugin "{plugin.name}": {status.message}')
                    )
            for name, value in scores.items():
                if not 0 <= value <= MAX_NODE_SCORE:
                    raise SchedulingError(
                        Status.error(
                            f'plugin "{plugin.name}" returns an invalid score {value}, '
                            f"it should in the range of [0, {MAX_NODE_SCORE}] after normalizing"
                        )
                    )
                totals[name] += (weight or 1) * value
        return totals

    def _select_host(self, scores: Mapping[str, int]) -> str:
        best = max(scores.values())
        tied = [name for name, value in scores.items() if value == best]
        if len(tied) == 1:
            return tied[0]
        if self.node_rank is not None:
            rank = self.node_rank
            if all(name in rank for name in tied):
                return min(tied, key=rank.__getitem__)
            return min(tied, key=lambda name: (rank.get(name, len(rank)), name))
        tied.sort()
        if self.rng is None:
            return tied[0]
        return self.rng.choice(tied)

    # ------------------------------------------------------------- after the algorithm

    def reserve(self, state: CycleState, pod: PodInfo, node_name: str) -> Status:
        """Reserve plugins in order; on a failure every plugin's Unreserve runs, in reverse."""
        for plugin in self.profile.reserve:
            status = plugin.reserve(state, pod, node_name)
            if not status.is_success:
                self.unreserve(state, pod, node_name)
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
