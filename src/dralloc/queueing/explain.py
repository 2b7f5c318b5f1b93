"""Why a Workload is pending, as a structured answer (spec/queueing.md 8.4).

Owns: `explain`, which evaluates one pending Workload as if it were its ClusterQueue's head on
a fresh snapshot of the state (nothing is charged, nothing written), and `Explanation`, the
answer: the tiered reason, Kueue's message, the queue position, and per pod set (the members
of a gang) every flavor tried with its numeric shortfalls (requested, available, most the
queue could reach, per flavor and resource). `str(explanation)` is one readable paragraph.
Pure computation, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dralloc.errors import NotFoundError
from dralloc.queueing.cycle import NeverPreempt, Preemptor, QueueConfig, nominate
from dralloc.queueing.flavors import FlavorAttempt, Mode, Shortfall
from dralloc.queueing.queues import QueueManager
from dralloc.queueing.state import QueueState
from dralloc.queueing.status import PendingReason


@dataclass(frozen=True)
class PodSetExplanation:
    """One pod set (gang member group): its count, mode, chosen flavors and attempts."""

    name: str
    count: int
    mode: Mode
    flavors: dict[str, str]
    attempts: tuple[FlavorAttempt, ...]
    message: str


@dataclass(frozen=True)
class Explanation:
    workload: str
    cluster_queue: str
    reason: PendingReason | str
    message: str
    position: int | None = None
    pod_sets: tuple[PodSetExplanation, ...] = ()
    shortfalls: tuple[Shortfall, ...] = field(default=())

    @property
    def admissible_now(self) -> bool:
        return self.reason == "" and all(ps.mode is Mode.fit for ps in self.pod_sets)

    def __str__(self) -> str:
        head = f"Workload {self.workload}"
        if self.cluster_queue:
            head += f" in ClusterQueue {self.cluster_queue}"
        if self.position is not None:
            head += f" (position {self.position + 1})"
        if self.admissible_now:
            return f"{head}: {self.message}"
        lines = [f"{head}: {self.reason}: {self.message}"]
        for ps in self.pod_sets:
            if ps.mode is Mode.fit:
                continue
            lines.append(f"  pod set {ps.name} (count {ps.count}): {ps.mode.name}")
            for attempt in ps.attempts:
                lines.append(
                    f"    flavor {attempt.flavor}: " + "; ".join(attempt.reasons or ["fits"])
                )
                lines += [f"      {s}" for s in attempt.shortfalls]
        return "\n".join(lines)


def explain(
    state: QueueState,
    manager: QueueManager,
    key: str,
    *,
    config: QueueConfig | None = None,
    preemptor: Preemptor | None = None,
) -> Explanation:
    """Why Workload `key` (`namespace/name`) is pending. Raises NotFoundError when the
    queues do not know it."""
    config = config or QueueConfig()
    unqueued = manager.unqueued.get(key)
    if unqueued is not None:
        return Explanation(key, "", unqueued.reason, unqueued.message)
    queued = manager.workloads.get(key)
    if queued is None:
        if key in state.reservations:
            cq = state.reservations[key].cluster_queue
            return Explanation(key, cq, "", "holds quota (admitted)")
        raise NotFoundError(f"Workload {key} is not pending in any ClusterQueue")
    saved = queued.last_tried
    queued.last_tried = None  # explain from the first flavor, whatever the scan progress
    try:
        entry = nominate(state, state.snapshot(), queued, preemptor or NeverPreempt(), config)
    finally:
        queued.last_tried = saved
        queued.requeue_reason = type(queued.requeue_reason).generic
    pod_sets: tuple[PodSetExplanation, ...] = ()
    shortfalls: tuple[Shortfall, ...] = ()
    reason: PendingReason | str = entry.reason
    if entry.assignment is not None:
        pod_sets = tuple(
            PodSetExplanation(
                ps.name,
                ps.count,
                ps.mode(),
                {r: c.flavor for r, c in sorted(ps.flavors.items())},
                tuple(ps.attempts),
                ps.message(),
            )
            for ps in entry.assignment.pod_sets
        )
        shortfalls = tuple(entry.assignment.shortfalls())
    position = manager.position(key)
    message = entry.message
    if entry.assignment is not None and entry.assignment.mode() is Mode.fit:
        reason = ""
        strategy = state.cluster_queues[queued.cluster_queue].strategy
        message = "fits the quota now"
        if position:
            message += (
                f"; {position} Workload(s) ahead of it in ClusterQueue {queued.cluster_queue}"
                f" ({strategy})"
            )
    return Explanation(key, queued.cluster_queue, reason, message, position, pod_sets, shortfalls)
