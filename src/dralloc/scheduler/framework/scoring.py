"""Scoring the nodes that passed Filter: PreScore, Score, NormalizeScore and the weighted sum
(spec/scheduler.md sections 2.6-2.8), written once and used by every path.

`Prioritizer` is built once per profile: which score plugins normalise (and whether in array
form), which score every node in one call (`BulkScorer`) and which are node-local is decided
then, since a runtime Protocol check per cycle is slow. Scores travel as numpy arrays in scan
order (`ScoredNodes.window`); a mapping normaliser gets the upstream-shaped `{node: score}`
and its result is read back in the same order.

A node-local plugin's raw scores come from the pod shape's remembered verdicts when the cycle
has them (`verdicts.py`), computed only for the nodes not remembered; the sum, the
normalisation and the range check are the same either way, so remembering changes no score.
With `FrameworkSpeedups.uniform_scores`, a plugin that declares one raw score for every node
of the cycle (`UniformScorer`) is not called per node: its value fills the array the other
path would have computed, and a value of 0 from a plugin without NormalizeScore adds nothing,
so nothing is added.

PreScore plugins get the scored nodes as a `Sequence` that builds its list only when a
plugin reads past its length or one position (most PreScore plugins SKIP without looking).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import cast, overload

import numpy as np

from dralloc.scheduler.framework.interface import (
    ArrayNormalizer,
    BulkScorer,
    CycleState,
    ScoreNormalizer,
    ScorePlugin,
    UniformScorer,
)
from dralloc.scheduler.framework.nodeinfo import NodeInfo, PodInfo
from dralloc.scheduler.framework.outcomes import SchedulingError
from dralloc.scheduler.framework.profile import Profile
from dralloc.scheduler.framework.speedups import FrameworkSpeedups
from dralloc.scheduler.framework.status import Code, Status
from dralloc.scheduler.framework.traits import PluginTraits
from dralloc.scheduler.framework.verdicts import Positions, Scores, ShapeVerdicts

MAX_NODE_SCORE = 100
# Compared and viewed every cycle: the dtype objects, not the scalar types they are made from.
_INT64 = np.dtype(np.int64)
_UINT64 = np.dtype(np.uint64)


def default_normalize_array(scores: Scores, *, reverse: bool) -> Scores:
    """`default_normalize` over an array of raw scores (non-negative, as upstream's are)."""
    top = int(scores.max()) if scores.size else 0
    if top == 0:
        return np.full(scores.size, MAX_NODE_SCORE if reverse else 0, dtype=np.int64)
    scaled: Scores = MAX_NODE_SCORE * scores // top
    return MAX_NODE_SCORE - scaled if reverse else scaled


def default_normalize(scores: dict[str, int], *, reverse: bool) -> None:
    """Upstream's `DefaultNormalizeScore`: scale by the maximum to 0..100, optionally reversed
    (`default_normalize_array` on the mapping's values, in place)."""
    values = np.fromiter(scores.values(), dtype=np.int64, count=len(scores))
    scores.update(
        zip(scores, default_normalize_array(values, reverse=reverse).tolist(), strict=True)
    )


def _invalid_score(plugin: str, value: int) -> SchedulingError:
    return SchedulingError(
        Status.error(
            f'plugin "{plugin}" returns an invalid score {value}, '
            f"it should in the range of [0, {MAX_NODE_SCORE}] after normalizing"
        )
    )


@dataclass
class ScoredNodes:
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


class _ScoredSequence(Sequence[NodeInfo]):
    """The scored nodes as PreScore plugins read them: the length and one position without
    building the list; anything else (iterating, slicing) builds it once."""

    __slots__ = ("_scored",)

    def __init__(self, scored: ScoredNodes) -> None:
        self._scored = scored

    def __len__(self) -> int:
        return int(self._scored.window.size)

    @overload
    def __getitem__(self, at: int) -> NodeInfo: ...

    @overload
    def __getitem__(self, at: slice) -> Sequence[NodeInfo]: ...

    def __getitem__(self, at: int | slice) -> NodeInfo | Sequence[NodeInfo]:
        if isinstance(at, slice):
            return self._scored.listed()[at]
        scored = self._scored
        return scored.nodes[int(scored.window[at])]

    def __iter__(self) -> Iterator[NodeInfo]:
        return iter(self._scored.listed())


class Prioritizer:
    """One profile's PreScore and Score plugins, run over the nodes of one cycle."""

    def __init__(
        self,
        profile: Profile,
        speedups: FrameworkSpeedups | None = None,
        traits: PluginTraits | None = None,
    ) -> None:
        self.profile = profile
        # Which Protocols each plugin implements, asked once per plugin class (`traits.py`).
        known = traits if traits is not None else PluginTraits()
        # Score plugins that may declare one raw score for every node of a cycle (those
        # are asked first when the switch is on).
        uniform_scores = speedups is None or speedups.uniform_scores
        self._uniform: dict[int, UniformScorer] = {
            id(plugin): cast(UniformScorer, plugin)
            for plugin, _ in profile.score
            if uniform_scores and known.implements(plugin, UniformScorer)
        }
        # Score plugins that score every feasible node in one call (dralloc's own extension,
        # for scores that are not per node, such as Random's one drawn node).
        self._bulk: dict[int, BulkScorer] = {
            id(plugin): cast(BulkScorer, plugin)
            for plugin, _ in profile.score
            if known.implements(plugin, BulkScorer)
        }
        self._normalizers: dict[int, ScoreNormalizer] = {
            id(plugin): cast(ScoreNormalizer, plugin)
            for plugin, _ in profile.score
            if known.implements(plugin, ScoreNormalizer)
        }
        self._array_normalizers: dict[int, ArrayNormalizer] = {
            id(plugin): cast(ArrayNormalizer, plugin)
            for plugin, _ in profile.score
            if known.implements(plugin, ArrayNormalizer)
        }
        self._node_local_scores = {
            id(plugin) for plugin, _ in profile.score if known.is_node_local(plugin)
        }

    def run_pre_score(
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

    def prioritize(self, state: CycleState, pod: PodInfo, scored: ScoredNodes) -> Scores:
        """PreScore, Score, NormalizeScore and the weighted sum over the scored nodes (more
        than one): totals in `scored.window` order. The one prioritising algorithm, whatever
        was remembered: a node-local plugin's raw scores come from the shape's verdicts when
        there are any, and are computed otherwise."""
        skipped = (
            self.run_pre_score(state, pod, _ScoredSequence(scored))
            if self.profile.pre_score
            else set()
        )
        totals: Scores = np.zeros(scored.window.size, dtype=np.int64)
        uniform = self._uniform
        for plugin, weight in self.profile.score:
            if plugin.name in skipped:
                continue
            declares = uniform.get(id(plugin)) if uniform else None
            same = declares.uniform_score(state, pod) if declares is not None else None
            if same is not None:
                if id(plugin) not in self._normalizers:
                    if same < 0 or same > MAX_NODE_SCORE:
                        raise _invalid_score(plugin.name, same)
                    if same:
                        totals += (weight or 1) * same
                    continue
                values = np.full(scored.window.size, same, dtype=np.int64)
            elif scored.verdicts is not None and id(plugin) in self._node_local_scores:
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
            if values.dtype is not _INT64:  # a normaliser's own array: read as int64 below
                values = values.astype(_INT64)
            # One pass for both bounds: as unsigned, a negative score is above any bound.
            if values.view(_UINT64).max() > MAX_NODE_SCORE:
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
