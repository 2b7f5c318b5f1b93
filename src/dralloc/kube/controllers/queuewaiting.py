"""The queue controller's waitForPodsReady steps with their writes (the decisions are
`queueready`'s, which says what Kueue does): once per pass, before evictions are handled,
`PodsReadyWaiting.step` deactivates (writing `spec.active: false`), ends backoffs, sets
PodsReady and times out Workloads; after the pass's writes, `wake_for` queues a pass for
the next deadline (Kueue's RequeueAfter), since nothing changes on the server then; while
`blocks` holds, the admission cycles give way to one `blocked_cycle`.

`status.requeueState` is not a field of `dralloc.queueing.Workload`: the controller keeps it
beside the Workload, by key, and `with_requeue` puts it back into the status it writes.

Owns its set of queued wake-up instants; the controller owns the Workloads and the queue.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from dralloc.api.validation.times import format_time
from dralloc.kube.client import KubeClient, KubeDict, Resource
from dralloc.kube.controllers.base import name_of, namespace_of
from dralloc.kube.controllers.queueready import (
    DEACTIVATION_TARGET,
    EVICTED,
    PODS_READY_TIMEOUT,
    QUOTA_RESERVED,
    WAITING_MESSAGE,
    WAITING_REASON,
    WaitForPodsReady,
    blocks_admission,
    deactivate,
    evict_for_timeout,
    finish_backoff,
    not_ready_deadline,
    pods_ready_condition,
    put_condition,
    requeue_at,
)
from dralloc.queueing import (
    ClassicalPreemptor,
    PlacementCheck,
    QueueConfig,
    QueueManager,
    QueueState,
    Workload,
    schedule,
)
from dralloc.queueing.objects import Condition


class PodsReadyWaiting:
    """waitForPodsReady for one controller (module docstring).

    >>> waiting = PodsReadyWaiting(
    ...     client, WORKLOADS, WaitForPodsReady(timeout=300), rng, wake, now
    ... )  # doctest: +SKIP
    """

    def __init__(
        self,
        client: KubeClient,
        workloads: Resource,
        config: WaitForPodsReady,
        rng: random.Random,
        wake: Callable[[float], None],
        now: Callable[[], datetime],
    ) -> None:
        self.client = client
        self.workloads = workloads
        self.config = config
        # Only the requeue backoff's jitter draws from it.
        self.rng = rng
        # Queues a pass after this many seconds.
        self.wake = wake
        self.now = now
        # Instants a pass is already queued for (timeouts, backoffs), pruned each pass.
        self._wakes: set[datetime] = set()

    @contextmanager
    def queue_order(self, workloads: Iterable[Workload]) -> Iterator[None]:
        """Kueue's `requeuingStrategy.timestamp: Eviction` (its default): a Workload evicted
        by PodsReadyTimeout is ordered in its queue by the eviction's time, not its
        creation. The queue reads `metadata.creationTimestamp` when it queues a Workload,
        so inside this block those Workloads show the eviction time there; it is put back
        on exit (it is never written: the controller writes status only)."""
        swapped: list[tuple[Workload, str | None]] = []
        if self.config.timestamp == "Eviction":
            for workload in workloads:
                evicted = workload.condition(EVICTED)
                if (
                    evicted is not None
                    and evicted.status == "True"
                    and evicted.reason == PODS_READY_TIMEOUT
                    and evicted.last_transition_time
                    and not workload.has_quota_reservation()
                ):
                    swapped.append((workload, workload.metadata.creation_timestamp))
                    workload.metadata.creation_timestamp = evicted.last_transition_time
        try:
            yield
        finally:
            for workload, stamp in swapped:
                workload.metadata.creation_timestamp = stamp

    def blocks(self, workloads: dict[str, Workload]) -> bool:
        """blockAdmission is on and a Workload holding quota is not PodsReady."""
        return self.config.block_admission and blocks_admission(workloads)

    async def step(
        self,
        workloads: dict[str, Workload],
        job_of: dict[str, KubeDict],
        raws: dict[str, KubeDict],
        requeue: dict[str, KubeDict | None],
        now: datetime,
    ) -> None:
        """`queueready`'s points 1, 2, 4 and 5 on this pass's Workloads: deactivation,
        backoff, the PodsReady condition, timeouts. Status changes are left to the pass's
        status writes; `spec.active: false` is written here (`raws` gets the new copy)."""
        for wl_key, workload in workloads.items():
            target = workload.condition(DEACTIVATION_TARGET)
            if workload.spec.active and target is not None and target.status == "True":
                body = copy.deepcopy(raws[wl_key])
                body.setdefault("spec", {})["active"] = False
                path = self.workloads.item(namespace_of(body), name_of(body))
                raws[wl_key] = await self.client.update(path, body)
                workload.spec.active = False
            if not workload.spec.active:
                deactivate(workload, now)
                requeue[wl_key] = None
                continue
            requeue[wl_key] = finish_backoff(workload, requeue.get(wl_key), now)
            job = job_of.get(wl_key)
            if job is not None:
                put_condition(workload, pods_ready_condition(workload, job, now))
            deadline = not_ready_deadline(workload, self.config)
            if deadline is not None and deadline[1] <= now:
                requeue[wl_key] = evict_for_timeout(
                    workload, requeue.get(wl_key), self.config, now, self.rng
                )

    def wake_for(
        self, workloads: dict[str, Workload], requeue: dict[str, KubeDict | None], now: datetime
    ) -> None:
        """Queue a pass for each coming timeout or backoff end, once per instant."""
        self._wakes = {t for t in self._wakes if t > now}
        instants: list[datetime] = []
        for wl_key, workload in workloads.items():
            deadline = not_ready_deadline(workload, self.config)
            if deadline is not None:
                instants.append(deadline[1])
            at = requeue_at(requeue.get(wl_key))
            if at is not None:
                instants.append(at)
        for instant in instants:
            # Whole seconds on the wire: a pass at the instant itself may read it as not
            # yet passed, so wake a second later.
            wake = instant + timedelta(seconds=1)
            if wake <= now or wake in self._wakes:
                continue
            self._wakes.add(wake)
            self.wake((wake - self.now()).total_seconds())


class _Refuse:
    """A placement check that refuses every fit, noting the heads in the order refused
    (`blocked_cycle`); the inner check runs first so a head that could not be placed
    anyway is not the one said to wait."""

    def __init__(self, inner: PlacementCheck | None, refused: list[str]) -> None:
        self.inner = inner
        self.refused = refused

    def check(self, snapshot: Any, entry: Any, assignment: Any) -> str | None:
        if self.inner is not None:
            why = self.inner.check(snapshot, entry, assignment)
            if why is not None:
                return why
        self.refused.append(entry.key)
        return WAITING_MESSAGE


def blocked_cycle(
    state: QueueState,
    manager: QueueManager,
    workloads: dict[str, Workload],
    now: datetime,
    config: QueueConfig,
    decide: PlacementCheck | None,
) -> None:
    """blockAdmission (`queueready`, point 6): Kueue's scheduler stops before admitting the
    first head that fits and waits; here one cycle runs with a check that refuses every fit,
    every status is put back, and only the first refused head is changed: QuotaReserved=
    False, reason Waiting. No preemption is issued while blocked."""
    saved = {k: copy.deepcopy(w.status) for k, w in workloads.items()}
    refused: list[str] = []
    schedule(
        state,
        manager,
        now,
        config=config,
        preemptor=ClassicalPreemptor(),
        placement=_Refuse(decide, refused),
    )
    for k, w in workloads.items():
        w.status = saved[k]
    if refused and refused[0] in workloads:
        waiting = workloads[refused[0]]
        put_condition(
            waiting,
            Condition(
                type=QUOTA_RESERVED,
                status="False",
                reason=WAITING_REASON,
                message=WAITING_MESSAGE,
                last_transition_time=format_time(now),
                observed_generation=waiting.metadata.generation or None,
            ),
        )


def with_requeue(status: Any, requeue: KubeDict | None) -> Any:
    """A Workload's wire status with its `requeueState` (when it has one)."""
    if requeue:
        return {**status, "requeueState": requeue}
    return status
