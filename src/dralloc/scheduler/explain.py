"""Why a pod fits on a node or not: every Filter plugin's verdict on every node.

kube-scheduler's answer to an unschedulable pod is one line, "0/16 nodes are available: 12
Insufficient cpu, 4 node(s) had untolerated taint(s)": a count per reason, each node counted
under the first Filter plugin that rejected it, and only for the nodes the cycle visited.
`explain_pod` gives the same cycle node by node:

* PreFilter runs once, as in a cycle; a PreFilter rejection (a missing DeviceClass, say) is the
  whole answer, and nodes a PreFilterResult leaves out get the reason a cycle gives them;
* then *every* Filter plugin runs on *every* node, not stopping at the first rejection, so a
  node lacking both CPU and a free GPU shows both reasons; `first` is the one kube-scheduler
  reports for that node (its FitError counts it there).

Pure computation over a snapshot; nothing is assumed, reserved or remembered: the cycle state
is thrown away, and plugins see the nodes exactly as a cycle would.

A pod of a gang is placed with its gang or not at all, so "why pending" is the gang's answer:
`explain_gang` runs the pod-group cycle as a what-if (`place_gang` without binding, the cache
unchanged after) and says how many of minCount fit and which member blocks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from dralloc.api.core import Pod
from dralloc.scheduler.cache import SchedulerCache
from dralloc.scheduler.framework import Code, CycleState, Framework, NodeInfo, PodInfo, Status
from dralloc.scheduler.gangs import Gang, GangPlacement, place_gang

__all__ = ["GangExplanation", "NodeExplanation", "PodExplanation", "explain_gang", "explain_pod"]


@dataclass(frozen=True)
class NodeExplanation:
    """One node: each rejecting Filter plugin's status (plugin stamped), in profile order.
    Empty `rejections` means the pod fits there."""

    node: str
    rejections: tuple[Status, ...] = ()

    @property
    def fits(self) -> bool:
        return not self.rejections

    @property
    def first(self) -> Status | None:
        """The rejection kube-scheduler counts this node under."""
        return self.rejections[0] if self.rejections else None


@dataclass(frozen=True)
class PodExplanation:
    pod: str
    nodes: tuple[NodeExplanation, ...]
    # A PreFilter rejection decides for every node at once (its message, kube-scheduler's).
    pre_filter_rejection: Status | None = None

    @property
    def feasible(self) -> list[str]:
        return [n.node for n in self.nodes if n.fits]

    def reasons(self) -> Counter[str]:
        """kube-scheduler's histogram: each rejected node under its first reason(s)."""
        histogram: Counter[str] = Counter()
        for node in self.nodes:
            if node.first is not None:
                histogram.update(node.first.reasons)
        return histogram

    def message(self) -> str:
        """The pod's situation in kube-scheduler's words (without the preemption part)."""
        total = len(self.nodes)
        if self.pre_filter_rejection is not None:
            return f"0/{total} nodes are available: {self.pre_filter_rejection.message}."
        fitting = len(self.feasible)
        if fitting:
            return f"{fitting}/{total} nodes can run the pod"
        parts = ", ".join(sorted(f"{count} {reason}" for reason, count in self.reasons().items()))
        return f"0/{total} nodes are available: {parts}."


def explain_pod(framework: Framework, pod: PodInfo, nodes: Sequence[NodeInfo]) -> PodExplanation:
    """Every Filter plugin of the framework's profile on every node, after its PreFilter."""
    state = CycleState()
    candidates, diagnosis, rejection = framework.pre_filter(state, pod, nodes)
    if rejection is not None:
        code = diagnosis.absent.code
        status = Status(code, (diagnosis.pre_filter_message,), diagnosis.absent.plugin)
        explained = tuple(NodeExplanation(node.name, (status,)) for node in nodes)
        return PodExplanation(pod.key, explained, pre_filter_rejection=status)
    visible = {node.name for node in candidates}
    skipped = state.skip_filter_plugins
    out = []
    for node in nodes:
        if node.name not in visible:
            out.append(NodeExplanation(node.name, (diagnosis.absent,)))
            continue
        rejections = []
        for plugin in framework.profile.filter:
            if plugin.name in skipped:
                continue
            status = plugin.filter(state, pod, node)
            if status.code is Code.SUCCESS:
                continue
            rejections.append(status.stamped(plugin.name))
        out.append(NodeExplanation(node.name, tuple(rejections)))
    return PodExplanation(pod.key, tuple(out))


@dataclass(frozen=True)
class GangExplanation:
    """A gang member's situation: the gang's what-if placement, seen from `pod`."""

    pod: str
    placement: GangPlacement

    @property
    def gang(self) -> Gang:
        return self.placement.gang

    @property
    def node(self) -> str | None:
        """Where the pod would go if its gang were admitted now."""
        return self.placement.placed.get(self.pod)

    def message(self) -> str:
        """One line: the gang, its count against minCount, and the member that blocks."""
        gang = self.gang
        placed = len(self.placement.placed) + self.placement.already_placed
        total = len(self.placement.members) + self.placement.already_placed
        quorum = f"minCount {gang.min_count}" if gang.min_count is not None else "no minCount"
        head = f"pod {self.pod} is in gang {gang.ref} ({quorum}): {placed} of {total} pods fit"
        if self.placement.status.code == Code.ERROR:
            return f"{head}; {self.placement.status.message}"
        if self.placement.is_admitted:
            where = f"; this pod would go to {self.node}" if self.node else ""
            return f"{head}, the gang can be placed now{where}"
        blocking = self.placement.blocking
        if blocking is None:
            return f"{head}; {self.placement.status.message}"
        who = "this pod" if blocking.key == self.pod else f"pod {blocking.key}"
        return f"{head}; {who} blocks: {blocking.message}"


def explain_gang(
    cache: SchedulerCache,
    framework: Framework,
    gang: Gang,
    pods: Sequence[Pod],
    pod_key: str,
    *,
    already_placed: int = 0,
) -> GangExplanation:
    """The gang's pod-group cycle as a what-if, from member `pod_key`'s side; the cache is
    unchanged after."""
    placement = place_gang(cache, framework, gang, pods, already_placed=already_placed)
    return GangExplanation(pod_key, placement)
