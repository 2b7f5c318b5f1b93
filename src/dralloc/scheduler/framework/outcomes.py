"""What a scheduling cycle ends with: a `ScheduleResult` (the chosen node), a `FitError` (no
node fits; its `Diagnosis` says why, node by node, in kube-scheduler's "0/N nodes are
available: ..." words, spec/scheduler.md section 3) or a `SchedulingError` (a plugin failed
with ERROR: the pod backs off, which is not a "no fit")."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from dralloc.scheduler.framework.nodeinfo import PodInfo
from dralloc.scheduler.framework.status import Code, Status

_UNRESOLVABLE = Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE)


@dataclass
class Diagnosis:
    """Why no node fit: each visited node's rejecting status, and what applies to the rest."""

    node_statuses: dict[str, Status] = field(default_factory=dict)
    absent: Status = _UNRESOLVABLE  # a frozen value, shared: one less object a cycle
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
