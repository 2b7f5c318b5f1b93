"""One pass's admission cycles for the queue controller (`queue.py`, step 3): Kueue's
scheduler (`dralloc.queueing.schedule`, classical preemption) run until a cycle changes
nothing, with topology domains (`tas`) and the scheduler's placement check (`placement`)
deciding together whether a Workload fits; a preemption marks its victim Evicted and keeps
its quota (`queuestop.mark_preempted`); while blockAdmission holds (`queuewaiting`), one
blocked cycle runs instead and the pass admits nothing.

Pure computation on the pass's queueing state and Workloads; no I/O.
"""

from __future__ import annotations

from datetime import datetime

from dralloc.kube.controllers.queuecluster import PassPlacement
from dralloc.kube.controllers.queuestop import mark_preempted
from dralloc.kube.controllers.queuewaiting import PodsReadyWaiting, blocked_cycle
from dralloc.queueing import (
    ClassicalPreemptor,
    PlacementCheck,
    QueueConfig,
    QueueManager,
    QueueState,
    TopologyPlacement,
    Workload,
    schedule,
)


def admission_cycles(
    state: QueueState,
    manager: QueueManager,
    workloads: dict[str, Workload],
    now: datetime,
    config: QueueConfig,
    *,
    waiting: PodsReadyWaiting | None = None,
    placement: PassPlacement | None = None,
    tas: TopologyPlacement | None = None,
) -> int:
    """Run admission cycles on `state` (module docstring); the Workloads' statuses change in
    place. Returns how many cycles ran."""
    preemptor = ClassicalPreemptor()
    decide: PlacementCheck | None = placement
    if tas is not None:
        decide = tas.then(placement) if placement is not None else tas
    previous: dict[str, tuple[str, str]] | None = None
    cycles = 0
    # Each cycle admits, preempts or parks a head; the bound keeps StrictFIFO's blocked
    # head (popped again every cycle) from looping, as in `dralloc queue`.
    for _ in range(4 * len(workloads) + 8):
        cycles += 1
        if waiting is not None and waiting.blocks(workloads):
            blocked_cycle(state, manager, workloads, now, config, decide)
            return cycles
        result = schedule(state, manager, now, config=config, preemptor=preemptor, placement=decide)
        issued = 0
        for victim, by, reason in result.preemptions:
            if victim in workloads:
                # Evicted, quota kept until its job has no active pods (`queuestop`).
                by_entry = manager.workloads.get(by)
                issued += mark_preempted(state, workloads[victim], by_entry, reason, now)
        reasons = {k: (str(e.reason), e.message) for k, e in result.pending.items()}
        if not result.order or (not result.admitted and not issued and reasons == previous):
            return cycles
        previous = reasons
    return cycles
