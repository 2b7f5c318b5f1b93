"""Node verdicts kept across cycles for one pod shape: a cycle costs O(changed nodes).

A simulation schedules thousands of pods of a few hundred shapes on the same nodes, and only
the node a pod lands on changes between two cycles; a scheduler serving pods made from one
template sees the same. When the caller says which pods are alike
(`Framework(pod_signature=...)`: equal signatures mean pods every plugin treats alike) and
every Filter plugin is node-local (its answer depends on the pod and that node only), the
framework keeps, per signature, each node's Filter status and node-local raw scores together
with the node generation they were computed at. A cycle re-runs the plugins only on nodes whose
generation moved since the signature was last scheduled, and reads the rest from here. Which
nodes changed comes from the nodes' shared change journal (`NodeInfo.journal`) when they have
one, else from comparing every node's generation.

The verdicts are arrays over the node list (numpy): which nodes are feasible, and each
node-local score plugin's raw score with a mask of the ones still valid. The Filter phase's
`numFeasibleNodesToFind` with the rotating start index becomes a search over the feasible
positions (the nodes visited are exactly those kube-scheduler would visit, since a node's
remembered verdict is its verdict now), and normalising, weighting, summing and picking the
best node are array operations; nothing is looped over node by node in Python but the changed
nodes and the nodes tied for the best score. The failure statuses and the reason histogram of a
FitError are maintained incrementally.

When the caller also says which nodes are alike (`Framework(node_key=...)`: equal keys mean
nodes every plugin treats alike, such as a simulator's nodes of one model in the same state),
a changed node whose key was already evaluated for the shape takes that verdict and those
scores without running a plugin.

It applies where no PreFilter plugin narrows the nodes; the result is then exactly the plain
evaluation's. A different node list (a node added or removed) starts the record afresh.

When the cycle knows the only nodes Filter may pass (a PreFilter plugin's
`filter_candidates`, which the framework uses only where it is exact), the changed nodes
outside them are *deferred*: not feasible, with their generation recorded, but no status.
A pod that fits nowhere needs every status for its diagnosis, so the framework then
`undefer`s them and filters them like any changed node; until then a shape pinned to a
64-node pool costs 64 nodes' Filter calls however large the fleet.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from dralloc.scheduler.framework.journal import ChangeJournal
from dralloc.scheduler.framework.nodeinfo import NodeInfo
from dralloc.scheduler.framework.status import SUCCESS, Code, Status

Positions = npt.NDArray[np.intp]
Scores = npt.NDArray[np.int64]

# Up to this many positions, `assign` sets a mask element by element.
FEW_POSITIONS = 16


def assign(mask: npt.NDArray[np.bool_], positions: list[int], value: bool) -> None:
    """`mask[positions] = value`. A cycle changes one or two nodes, and numpy's indexing by a
    list first builds an index array from it (about 3 us, several times a cycle, against
    0.2 us per element set one at a time); for more positions the one indexed write wins.
    The same mask either way."""
    if len(positions) <= FEW_POSITIONS:
        for at in positions:
            mask[at] = value
    else:
        mask[positions] = value


@dataclass
class RawScores:
    """One node-local score plugin's raw scores over the node list; `valid` marks the ones
    computed at the generation the node's verdict was recorded at."""

    values: Scores
    valid: npt.NDArray[np.bool_]


@dataclass
class ShapeVerdicts:
    """One pod signature's verdicts over one node list."""

    nodes: Sequence[NodeInfo]
    seen: dict[str, int] = field(default_factory=dict)  # node -> generation evaluated
    index: dict[str, int] = field(default_factory=dict)  # node -> position in `nodes`
    journal: ChangeJournal | None = None
    position: int | None = None  # in `journal`, after the last change looked at
    unsettled: set[str] = field(default_factory=set)  # to filter again whatever the journal
    deferred: set[str] = field(default_factory=set)  # rejected, status not computed yet
    # Every node never recorded is deferred too (the first cycle had a hint: those outside
    # it were left at their generation then, which the journal says when it moves).
    deferred_unseen: bool = False
    feasible: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=np.bool_))
    failed: dict[str, Status] = field(default_factory=dict)
    # How many failed nodes hold each distinct status (by value: few distinct ones), from
    # which the reason histogram is derived when a pod fits nowhere.
    tally: dict[Status, int] = field(default_factory=dict)
    scores: dict[str, RawScores] = field(default_factory=dict)  # node-local score plugins
    # With a node key: node -> its key at `seen`; key -> Filter status; plugin -> key -> score.
    keys: dict[str, Hashable] = field(default_factory=dict)
    alike: dict[Hashable, Status] = field(default_factory=dict)
    alike_scores: dict[str, dict[Hashable, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Given positions and journal (a node list that knows them) are read, never changed.
        if not self.index:
            self.index = {node.name: i for i, node in enumerate(self.nodes)}
        self.feasible = np.zeros(len(self.nodes), dtype=np.bool_)
        if self.journal is None:
            journals = {id(node.journal): node.journal for node in self.nodes}
            if len(journals) == 1:
                self.journal = next(iter(journals.values()))

    def stale(self, hint: frozenset[str] | None = None) -> list[NodeInfo]:
        """Nodes changed (or never evaluated) since this shape was last scheduled, in the
        order they first changed (or the node order). With `hint` (the only nodes Filter
        may pass) on the first look, the nodes outside it are deferred without being
        listed: the first look costs the hint's nodes, not the node list's."""
        seen = self.seen.get
        journal = self.journal
        if hint is not None and journal is not None and self.position is None and not self.seen:
            self.position = len(journal)
            self.unsettled.clear()
            self.deferred_unseen = True
            index = self.index
            nodes = self.nodes
            return [nodes[at] for at in sorted(index[name] for name in hint if name in index)]
        if journal is None or self.position is None:
            if journal is not None:
                self.position = len(journal)
            self.unsettled.clear()
            return [node for node in self.nodes if seen(node.name) != node.generation]
        since = journal.since(self.position)
        self.position = len(journal)
        if since is None:  # fallen behind what the journal keeps: look at every node
            self.unsettled.clear()
            return [node for node in self.nodes if seen(node.name) != node.generation]
        changed = dict.fromkeys(since)
        if self.unsettled:
            changed.update(dict.fromkeys(self.unsettled))
            self.unsettled.clear()
        index = self.index
        nodes = self.nodes
        stale = []
        for name in changed:
            at = index.get(name)
            if at is not None:
                node = nodes[at]
                if seen(name) != node.generation:
                    stale.append(node)
        return stale

    def record_all(self, outcomes: Sequence[tuple[NodeInfo, Status, Hashable | None]]) -> None:
        """Each node's Filter status (and node key, if any) at its current generation."""
        index = self.index
        seen = self.seen
        keys = self.keys
        failed = self.failed
        tally = self.tally
        success = Code.SUCCESS
        fits: list[int] = []
        fails: list[int] = []
        deferred = self.deferred
        for node, status, key in outcomes:
            name = node.name
            seen[name] = node.generation
            if deferred:
                deferred.discard(name)
            if key is not None:
                keys[name] = key
            old = failed.pop(name, None)
            if old is not None:
                held = tally[old] - 1
                if held:
                    tally[old] = held
                else:
                    del tally[old]
            if status is SUCCESS or status.code is success:
                fits.append(index[name])
                continue
            fails.append(index[name])
            failed[name] = status
            tally[status] = tally.get(status, 0) + 1
        if fits:
            assign(self.feasible, fits, True)
        if fails:
            assign(self.feasible, fails, False)
        if self.scores and (fits or fails):
            changed = fits + fails
            for raw in self.scores.values():
                assign(raw.valid, changed, False)

    def defer(self, nodes: Sequence[NodeInfo]) -> None:
        """These nodes reject at their current generation; their statuses are computed only
        if `undefer` asks for them."""
        seen = self.seen
        index = self.index
        failed = self.failed
        keys = self.keys
        positions: list[int] = []
        for node in nodes:
            name = node.name
            seen[name] = node.generation
            if failed:
                self._drop_failure(name)
            if keys:
                keys.pop(name, None)
            positions.append(index[name])
        self.deferred.update(node.name for node in nodes)
        assign(self.feasible, positions, False)
        for raw in self.scores.values():
            assign(raw.valid, positions, False)

    def has_deferred(self) -> bool:
        return self.deferred_unseen or bool(self.deferred)

    def undefer(self) -> None:
        """The deferred nodes become changed nodes: the next `stale` returns them."""
        seen = self.seen
        for name in self.deferred:
            seen.pop(name, None)
        self.unsettled |= self.deferred
        self.deferred = set()
        if self.deferred_unseen:
            # Look at every node again: those never recorded are among the changed ones.
            self.deferred_unseen = False
            self.position = None

    def _drop_failure(self, name: str) -> None:
        old = self.failed.pop(name, None)
        if old is not None:
            held = self.tally[old] - 1
            if held:
                self.tally[old] = held
            else:
                del self.tally[old]

    def unsettle(self, node: NodeInfo) -> int:
        """Drop the node's verdict (its plugins failed): not feasible, not counted as failed,
        and filtered again next cycle. Its position."""
        name = node.name
        at = self.index[name]
        self.seen.pop(name, None)
        self.keys.pop(name, None)
        self.deferred.discard(name)
        self._drop_failure(name)
        for raw in self.scores.values():
            raw.valid[at] = False
        self.feasible[at] = False
        self.unsettled.add(name)
        return at

    def raw_scores(self, plugin: str) -> RawScores:
        raw = self.scores.get(plugin)
        if raw is None:
            count = len(self.nodes)
            raw = RawScores(np.zeros(count, dtype=np.int64), np.zeros(count, dtype=np.bool_))
            self.scores[plugin] = raw
        return raw

    def window(self, wanted: int, start: int) -> tuple[Positions, int]:
        """The feasible nodes kube-scheduler's Filter phase finds: walking the node list from
        `start` (wrapping) until `wanted` feasible nodes are found. Their positions in walking
        order, and how many nodes the walk visited."""
        count = len(self.nodes)
        positions: Positions = np.flatnonzero(self.feasible)
        split = int(np.searchsorted(positions, start)) if start else 0
        if split:
            positions = np.concatenate((positions[split:], positions[:split]))
        if positions.size < wanted:
            return positions, count
        positions = positions[:wanted]
        return positions, (int(positions[-1]) - start) % count + 1

    def histogram(self) -> Counter[str]:
        histogram: Counter[str] = Counter()
        for status, count in self.tally.items():
            for reason in status.reasons:
                histogram[reason] += count
        return histogram

    def unschedulable_plugins(self) -> set[str]:
        return {status.plugin for status in self.tally if status.plugin}


class NodeScores(Mapping[str, int]):
    """Total scores of a window of nodes, as a mapping built only when read."""

    def __init__(self, nodes: Sequence[NodeInfo], window: Positions, totals: Scores) -> None:
        self._nodes = nodes
        self._window = window
        self._totals = totals
        self._built: dict[str, int] | None = None

    def _mapping(self) -> dict[str, int]:
        if self._built is None:
            nodes = self._nodes
            self._built = {
                nodes[at].name: value
                for at, value in zip(self._window.tolist(), self._totals.tolist(), strict=True)
            }
        return self._built

    def __getitem__(self, name: str) -> int:
        return self._mapping()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._mapping())

    def __len__(self) -> int:
        return len(self._window)
