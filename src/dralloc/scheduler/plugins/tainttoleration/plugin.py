"""`TaintToleration` (Filter, PreScore, Score, NormalizeScore; spec/scheduler.md section 4.6).

* Filter: the first `NoSchedule` or `NoExecute` taint the pod does not tolerate rejects the
  node as UnschedulableAndUnresolvable with `node(s) had untolerated taint(s)` (the 1.35+
  wording, #134740).
* PreScore keeps the pod's tolerations whose effect is `PreferNoSchedule` or empty; Score
  counts the node's `PreferNoSchedule` taints none of them tolerates; NormalizeScore is
  `default_normalize(reverse=True)`, so no intolerable taint scores 100.

Pure computation over the pod and node; the only state is the PreScore value in the cycle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from dralloc.api.core import Taint, Toleration
from dralloc.scheduler.framework import (
    SUCCESS,
    ClusterEvent,
    ClusterEventWithHint,
    CycleState,
    NodeInfo,
    PodInfo,
    Status,
    default_normalize,
    default_normalize_array,
    queue_always,
)
from dralloc.scheduler.plugins.helper import (
    find_untolerated_taint,
    node_events,
    tolerations_tolerate_taint,
)

NAME = "TaintToleration"
REASON_UNTOLERATED = "node(s) had untolerated taint(s)"
NO_SCHEDULE = "NoSchedule"
NO_EXECUTE = "NoExecute"
PREFER_NO_SCHEDULE = "PreferNoSchedule"
_PRE_SCORE_KEY = f"PreScore{NAME}"


@dataclass(frozen=True)
class _PreScoreState:
    tolerations: tuple[Toleration, ...]


def _is_hard(taint: Taint) -> bool:
    return taint.effect in (NO_SCHEDULE, NO_EXECUTE)


def _prefer_no_schedule_tolerations(tolerations: Sequence[Toleration]) -> tuple[Toleration, ...]:
    # An empty effect means every effect, PreferNoSchedule included.
    return tuple(t for t in tolerations if not t.effect or t.effect == PREFER_NO_SCHEDULE)


def count_intolerable_prefer_no_schedule(
    taints: Sequence[Taint], tolerations: Sequence[Toleration]
) -> int:
    """How many `PreferNoSchedule` taints none of `tolerations` tolerates."""
    return sum(
        1
        for taint in taints
        if taint.effect == PREFER_NO_SCHEDULE and not tolerations_tolerate_taint(tolerations, taint)
    )


class TaintToleration:
    """Rejects nodes with untolerated hard taints; prefers nodes with fewer soft ones."""

    name = NAME
    # Filter and Score read only the pod and this node (the framework may remember them).
    node_local = True
    # Filter never errs and writes nothing: the framework may skip it on nodes a later
    # plugin's PreFilter candidates exclude, and still report them exactly.
    quiet_filter = True

    def events_to_register(self) -> Sequence[ClusterEventWithHint]:
        """A node added or its taints changed, when the pod now tolerates them (upstream:
        Node/Add|UpdateNodeTaint); the pod given a toleration."""
        return (
            node_events("Add|UpdateNodeTaint", self),
            ClusterEventWithHint(ClusterEvent("Pod", "UpdatePodToleration"), queue_always),
        )

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        taint = find_untolerated_taint(node.node.spec.taints, pod.pod.spec.tolerations, _is_hard)
        return SUCCESS if taint is None else Status.unresolvable(REASON_UNTOLERATED)

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status:
        tolerations = _prefer_no_schedule_tolerations(pod.pod.spec.tolerations)
        state.write(_PRE_SCORE_KEY, _PreScoreState(tolerations))
        return SUCCESS

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> tuple[int, Status]:
        # Upstream computes the tolerations here when PreScore did not run.
        pre = state.get(_PRE_SCORE_KEY, _PreScoreState)
        tolerations = (
            pre.tolerations
            if pre is not None
            else _prefer_no_schedule_tolerations(pod.pod.spec.tolerations)
        )
        return count_intolerable_prefer_no_schedule(node.node.spec.taints, tolerations), SUCCESS

    def normalize_scores(self, state: CycleState, pod: PodInfo, scores: dict[str, int]) -> Status:
        default_normalize(scores, reverse=True)
        return SUCCESS

    def normalize_array(
        self, state: CycleState, pod: PodInfo, scores: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]:
        return default_normalize_array(scores, reverse=True)
