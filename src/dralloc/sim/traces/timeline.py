"""The shape of a time-based trace: what the replay (`sim.replay`) consumes and every time-based
loader (`openb.replay_trace`, `dlrm.replay_trace`, `synthetic.generate`) produces.

Design:

- **The request model.** A `TimedPod` holds a `TracePod` and a `ReplayTrace` holds
  `TraceNode`s (`model`), whatever trace they came from: each loader converts its own records,
  so `openb_objects` turns every trace into the same Nodes, ResourceSlices, Pods and
  ResourceClaims, and the same policies score it. `ReplayTrace.models` resolves the model codes
  to catalog models.
- **Times are normalised here, once.** A `TimedPod` has an `arrival` (seconds from the trace's
  start) and a `duration`: how long it runs once started (`None`: it never ends within the
  trace). Loaders decide what a missing or censored time means and say so in their docstring;
  the replay does not reinterpret anything.
- **Node events.** `NodeEvent`s switch nodes of `nodes` on and off over time, on the pods'
  clock. A node whose first event is an `Add` is absent until then; every other node is
  present from the start. No loader makes them; `traces.node_events` reads them from a file
  (`--node-events`), and each event keeps its file and line for the problems `check` reports.
- Pure values and pure functions: no I/O, no clock, no state.

Example::

    trace = openb.replay_trace(openb.resolve_trace("openb:default"))
    trace.pods[0].arrival, trace.pods[0].duration  # (0.0, 12537496.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

from dralloc.errors import InputError, Problem
from dralloc.sim.traces.model import GpuModels, TraceNode, TracePod

__all__ = ["NodeAction", "NodeEvent", "ReplayTrace", "TimedPod"]


@dataclass(frozen=True, slots=True)
class TimedPod:
    """A pod of a time-based trace: its request, when it arrives and how long it runs.

    `arrival` and `duration` are seconds; `duration` None means it runs until the replay ends.

        TimedPod(TracePod("p-0", 4000, 8192, 1, 500), arrival=10.0, duration=3600.0)
    """

    pod: TracePod
    arrival: float
    duration: float | None


class NodeAction(StrEnum):
    ADD = "Add"
    REMOVE = "Remove"


@dataclass(frozen=True, slots=True)
class NodeEvent:
    """At `time` (seconds), node `node` (a name in `ReplayTrace.nodes`) joins or leaves.

    `file` and `line` say where the event was read (`traces.node_events`), so a problem with it
    is reported there; they are provenance, not part of equality. Empty for events built in
    code.

        NodeEvent(3600.0, NodeAction.REMOVE, "openb-node-0007")
    """

    time: float
    action: NodeAction
    node: str
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class ReplayTrace:
    """A workload ready to replay.

    `workload` is the name the user gave (`openb:default`, `dlrm:scale=0.8`); `source` the file
    it was read from (empty for a generated one); `notes` what the loader decided that a reader
    of the results should know (rows not replayed and why, the derived cluster).
    """

    workload: str
    nodes: tuple[TraceNode, ...]
    pods: tuple[TimedPod, ...]
    models: GpuModels
    node_events: tuple[NodeEvent, ...] = ()
    source: str = ""
    notes: tuple[str, ...] = ()

    @property
    def total_gpus(self) -> int:
        return sum(node.gpus for node in self.nodes)

    def check(self) -> None:
        """Raise one InputError listing every problem a replay would trip on: negative times,
        duplicate pod names, a `gpu_milli` that is not a whole percentage (the fractional
        `cores` capacity counts percent), GPU models `models` does not know, node events
        naming unknown nodes, adding a node that is there or removing one that is not.
        Loaders report row problems with their line; this catches the rest, and traces built
        in code."""
        problems: list[Problem] = []
        seen: set[str] = set()
        for timed in self.pods:
            pod = timed.pod
            where = f"line {pod.line}" if pod.line else f"pod {pod.name}"
            if pod.name in seen:
                problems.append(Problem(self.source, where, "name", f"duplicate pod {pod.name!r}"))
            seen.add(pod.name)
            if timed.arrival < 0 or not math.isfinite(timed.arrival):
                problems.append(
                    Problem(self.source, where, "arrival", f"must be ≥ 0, got {timed.arrival}")
                )
            if timed.duration is not None and not timed.duration >= 0:
                problems.append(
                    Problem(self.source, where, "duration", f"must be ≥ 0, got {timed.duration}")
                )
            unknown = sorted(code for code in pod.gpu_spec if code not in self.models.by_code)
            if unknown:
                problems.append(
                    Problem(
                        self.source, where, "gpu_spec", f"unknown GPU model {', '.join(unknown)}"
                    )
                )
            if pod.num_gpu and pod.gpu_milli % 10:
                problems.append(
                    Problem(
                        self.source,
                        where,
                        "gpu_milli",
                        f"{pod.gpu_milli} is not a whole percentage of a GPU",
                    )
                )
        problems.extend(
            Problem(self.source, f"node {node.name}", "model", f"unknown GPU model {node.model}")
            for node in self.nodes
            if node.model is not None and node.model not in self.models.by_code
        )
        problems.extend(self._node_event_problems())
        if problems:
            raise InputError(problems)

    def nodes_added_later(self) -> set[str]:
        """Nodes whose first event adds them: absent from the start until then."""
        first: dict[str, NodeAction] = {}
        for event in sorted(self.node_events, key=lambda e: e.time):
            first.setdefault(event.node, event.action)
        return {name for name, action in first.items() if action is NodeAction.ADD}

    def _node_event_problems(self) -> list[Problem]:
        names = {node.name for node in self.nodes}
        present = names - self.nodes_added_later()
        problems = []
        order = sorted(enumerate(self.node_events), key=lambda item: item[1].time)
        for index, event in order:
            file = event.file or self.source
            where = f"line {event.line}" if event.line else f"node event {index}"
            if event.node not in names:
                message = f"no node {event.node!r} in {self.workload} ({self._node_range()})"
                problems.append(Problem(file, where, "node", message))
            elif not event.time >= 0 or not math.isfinite(event.time):
                problems.append(Problem(file, where, "time", f"must be ≥ 0, got {event.time}"))
            elif event.action is NodeAction.ADD:
                if event.node in present:
                    at = _seconds(event.time)
                    message = f"node {event.node!r} is in the cluster at {at} s already"
                    problems.append(Problem(file, where, "action", message))
                present.add(event.node)
            else:
                if event.node not in present:
                    at = _seconds(event.time)
                    message = f"node {event.node!r} is not in the cluster at {at} s"
                    problems.append(Problem(file, where, "action", message))
                present.discard(event.node)
        return problems

    def _node_range(self) -> str:
        """The node names, in short: a reader can tell a typo from the wrong workload."""
        if not self.nodes:
            return "it has no nodes"
        if len(self.nodes) == 1:
            return f"its one node is {self.nodes[0].name}"
        return f"{len(self.nodes):,} nodes, {self.nodes[0].name} to {self.nodes[-1].name}"


def _seconds(time: float) -> str:
    """A time as written: 7200, 1.5 (never 7200.0 or 1.29e+07)."""
    return str(int(time)) if float(time).is_integer() else str(time)
