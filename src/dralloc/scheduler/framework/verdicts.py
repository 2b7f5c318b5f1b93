"""Node verdicts kept across cycles for one pod shape: a cycle costs O(changed nodes).

A simulation schedules thousands of pods of a few hundred shapes on the same nodes, and only
the node a pod lands on changes between two cycles. When the caller says which pods are alike
(`Framework(pod_signature=...)`: equal signatures mean pods every plugin treats alike) and
every Filter plugin is node-local (its answer depends on the pod and that node only), the
framework keeps, per signature, each node's Filter status and node-local raw scores together
with the node generation they were computed at. A cycle re-runs the plugins only on nodes whose
generation moved since the signature was last scheduled, and reads the rest from here; the
feasible set, the failure statuses and the reason histogram of a FitError are maintained
incrementally, so nothing is looped over node by node in Python but the changed nodes. Which
nodes changed comes from the nodes' shared change journal (`NodeInfo.journal`) when they have
one, else from comparing every node's generation.

When the caller also says which nodes are alike (`Framework(node_key=...)`: equal keys mean
nodes every plugin treats alike, such as a simulator's nodes of one model in the same state),
a changed node whose key was already evaluated for the shape takes that verdict and those
scores without running a plugin.

It applies only where kube-scheduler would evaluate every node anyway (`numFeasibleNodesToFind`
at least the node count, no PreFilter narrowing); the result is then exactly the full
evaluation's. A different node list (a node added or removed) starts the record afresh.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

from dralloc.scheduler.framework.nodeinfo import NodeInfo
from dralloc.scheduler.framework.status import Status


@dataclass
class _Count:
    status: Status
    count: int


@dataclass
class ShapeVerdicts:
    """One pod signature's verdicts over one node list."""

    nodes: Sequence[NodeInfo]
    seen: dict[str, int] = field(default_factory=dict)  # node -> generation evaluated
    by_name: dict[str, NodeInfo] = field(default_factory=dict)
    journal: list[str] | None = None
    position: int | None = None  # in `journal`, after the last change looked at
    feasible: dict[str, NodeInfo] = field(default_factory=dict)
    failed: dict[str, Status] = field(default_factory=dict)
    # How many failed nodes hold each distinct status object (statuses are shared, so few):
    # id -> [status, count]. The reason histogram is derived from it when a pod fits nowhere.
    tally: dict[int, _Count] = field(default_factory=dict)
    # node-local score plugin -> node -> raw score, for feasible nodes at `seen` generations
    scores: dict[str, dict[str, int]] = field(default_factory=dict)
    # With a node key: node -> its key at `seen`; key -> Filter status; plugin -> key -> score.
    keys: dict[str, Hashable] = field(default_factory=dict)
    alike: dict[Hashable, Status] = field(default_factory=dict)
    alike_scores: dict[str, dict[Hashable, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_name = {node.name: node for node in self.nodes}
        journals = {id(node.journal): node.journal for node in self.nodes}
        if len(journals) == 1:
            self.journal = next(iter(journals.values()))

    def stale(self) -> list[NodeInfo]:
        """Nodes changed (or never evaluated) since this shape was last scheduled, in the
        order they first changed (or the node order)."""
        seen = self.seen.get
        journal = self.journal
        if journal is None or self.position is None:
            if journal is not None:
                self.position = len(journal)
            return [node for node in self.nodes if seen(node.name) != node.generation]
        changed = dict.fromkeys(journal[self.position :])
        self.position = len(journal)
        by_name = self.by_name
        stale = []
        for name in changed:
            node = by_name.get(name)
            if node is not None and seen(name) != node.generation:
                stale.append(node)
        return stale

    def record(
        self, node: NodeInfo, status: Status, success: bool, key: Hashable | None = None
    ) -> None:
        name = node.name
        self.seen[name] = node.generation
        if key is not None:
            self.keys[name] = key
        old = self.failed.pop(name, None)
        tally = self.tally
        if old is not None:
            held = tally[id(old)]
            held.count -= 1
            if held.count == 0:
                del tally[id(old)]
        for scores in self.scores.values():
            scores.pop(name, None)
        if success:
            self.feasible[name] = node
            return
        self.feasible.pop(name, None)
        self.failed[name] = status
        counted = tally.get(id(status))
        if counted is None:
            tally[id(status)] = _Count(status, 1)
        else:
            counted.count += 1

    def histogram(self) -> Counter[str]:
        histogram: Counter[str] = Counter()
        for held in self.tally.values():
            for reason in held.status.reasons:
                histogram[reason] += held.count
        return histogram

    def unschedulable_plugins(self) -> set[str]:
        return {held.status.plugin for held in self.tally.values() if held.status.plugin}
