"""`SchedulingQueue`: kube-scheduler's PriorityQueue for one profile (spec/scheduler.md
section 1): where a pod waits, when it is tried, and what brings it back after a rejection.

Owns all its pods' queue records; mutates nothing else. No threads, no clock of its own.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

from dralloc.api.core import Pod
from dralloc.errors import InputError, InternalError, Problem
from dralloc.scheduler.framework.interface import (
    EnqueueExtensions,
    FilterPlugin,
    PermitPlugin,
    PreFilterPlugin,
    ReservePlugin,
)
from dralloc.scheduler.framework.nodeinfo import PodInfo
from dralloc.scheduler.framework.runtime import Profile
from dralloc.scheduler.queue.events import (
    FORCE_ACTIVATE,
    UNSCHEDULABLE_TIMEOUT,
    UNSCHEDULED_POD_UPDATE,
    ClusterEvent,
    ClusterEventWithHint,
    QueueingHint,
    QueueingHintFn,
)
from dralloc.scheduler.queue.heap import PodHeap
from dralloc.scheduler.queue.records import (
    Clock,
    PendingPod,
    PreEnqueuePlugin,
    QueuedPodInfo,
    QueueName,
    queue_uid,
)

DEFAULT_POD_INITIAL_BACKOFF_SECONDS = 1.0
DEFAULT_POD_MAX_BACKOFF_SECONDS = 10.0
# podMaxInUnschedulablePodsDuration: 5 min, not configurable in the v1 config file.
DEFAULT_POD_MAX_IN_UNSCHEDULABLE_PODS_DURATION = 300.0
# How many hint failures a queue keeps (the count goes on): a failing hint is a bug to fix,
# and a long run must not grow without limit.
HINT_ERRORS_KEPT = 100


@dataclass(frozen=True)
class HintError:
    """A hint that raised: the plugin, the event, the pod asked about and the exception."""

    plugin: str
    event: ClusterEvent
    pod: str
    error: Exception

    def __str__(self) -> str:
        return (
            f'queueing hint of plugin "{self.plugin}" for {self.event} failed for pod '
            f"{self.pod}: {self.error!r}"
        )


class _Strategy(IntEnum):
    """Upstream's queueingStrategy; a larger value is stronger."""

    SKIP = 0  # stay in (or go to) unschedulablePods
    AFTER_BACKOFF = 1  # backoffQ while backing off, else activeQ
    IMMEDIATELY = 2  # activeQ, no backoff (a Pending plugin said Queue)


@dataclass
class _InFlight:
    info: QueuedPodInfo
    events: list[tuple[ClusterEvent, QueueingHintFn | None]] = field(default_factory=list)
    latest: PodInfo | None = None  # an update received while in flight
    deleted: bool = False


class SchedulingQueue:
    """kube-scheduler's PriorityQueue for one profile, driven by its caller::

        queue = SchedulingQueue(clock)
        queue.add(pod)
        info = queue.pop()  # None: nothing to try now; advance time, flush, pop again
        ...  # schedule info.pod_info; on failure:
        queue.add_unschedulable_if_not_present(info, unschedulable_plugins={"NodeResourcesFit"})
        queue.move_all_to_active_or_backoff(ClusterEvent("Node", "Add"), hint)
        queue.flush()  # each (virtual) second

    `pop_from_backoff_q` is the SchedulerPopFromBackoffQ gate (KEP-5142, on in 1.36). Backoff
    settings are seconds, as podInitialBackoffSeconds / podMaxBackoffSeconds; a maximum of 0
    disables backoff.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        pre_enqueue: Sequence[PreEnqueuePlugin] = (),
        pop_from_backoff_q: bool = True,
        pod_initial_backoff_seconds: float = DEFAULT_POD_INITIAL_BACKOFF_SECONDS,
        pod_max_backoff_seconds: float = DEFAULT_POD_MAX_BACKOFF_SECONDS,
        pod_max_in_unschedulable_pods_duration: float = (
            DEFAULT_POD_MAX_IN_UNSCHEDULABLE_PODS_DURATION
        ),
        events: Mapping[str, Sequence[ClusterEventWithHint]] | None = None,
    ) -> None:
        _validate(pod_initial_backoff_seconds, pod_max_backoff_seconds)
        # Plugin name -> what it registered (`EnqueueExtensions`); a rejector not listed is
        # asked about no event and requeued by every one.
        self._events: dict[str, tuple[ClusterEventWithHint, ...]] = {
            name: tuple(registered) for name, registered in (events or {}).items()
        }
        self.hint_errors: deque[HintError] = deque(maxlen=HINT_ERRORS_KEPT)
        """The latest hints that raised (each counted as QUEUE, as upstream); tests assert
        it stays empty. `hint_error_count` counts them all."""
        self.hint_error_count = 0
        self._clock = clock
        self._pre_enqueue = tuple(pre_enqueue)
        self._pop_from_backoff_q = pop_from_backoff_q
        self._initial_backoff = pod_initial_backoff_seconds
        self._max_backoff = pod_max_backoff_seconds
        self._max_in_unschedulable = pod_max_in_unschedulable_pods_duration
        self._sequence = itertools.count()
        self._active = PodHeap(lambda i: (-i.priority, i.timestamp, i.sequence))
        if pop_from_backoff_q:  # 1 s windows, then the activeQ order within a window
            self._backoff = PodHeap(
                lambda i: (self._expiry(i), -i.priority, i.timestamp, i.sequence)
            )
        else:
            self._backoff = PodHeap(lambda i: (self._expiry(i), i.sequence))
        self._error_backoff = PodHeap(lambda i: (self._expiry(i), i.sequence))
        self._unschedulable: dict[str, QueuedPodInfo] = {}
        self._in_flight: dict[str, _InFlight] = {}
        self.scheduling_cycle = 0
        """Pops so far (upstream's global scheduling cycle counter)."""

    @classmethod
    def for_profile(
        cls,
        clock: Clock,
        profile: Profile,
        *,
        pop_from_backoff_q: bool = True,
        pre_enqueue: Sequence[PreEnqueuePlugin] = (),
    ) -> SchedulingQueue:
        """The queue of `profile`: its rejecting plugins' `events_to_register` decide what
        each event requeues; `pre_enqueue` may keep pods out of activeQ."""
        events: dict[str, Sequence[ClusterEventWithHint]] = {}
        rejectors: list[PreFilterPlugin | FilterPlugin | ReservePlugin | PermitPlugin] = [
            *profile.pre_filter,
            *profile.filter,
            *profile.reserve,
            *profile.permit,
        ]
        for plugin in rejectors:
            if plugin.name not in events and isinstance(plugin, EnqueueExtensions):
                events[plugin.name] = plugin.events_to_register()
        return cls(
            clock, events=events, pop_from_backoff_q=pop_from_backoff_q, pre_enqueue=pre_enqueue
        )

    # -- the scheduling loop's side ---------------------------------------------------------

    def add(self, pod: Pod) -> QueueName:
        """A new unscheduled pod: to activeQ, or gated. A pod already known is an update."""
        uid = queue_uid(pod)
        if uid in self._in_flight or self._queued_where(uid) is not None:
            return self.update(pod)
        now = self._clock.now()
        info = QueuedPodInfo(PodInfo.of(pod), uid, now, next(self._sequence))
        return self._move_to_active(info, now, run_pre_enqueue=True)

    def pop(self) -> QueuedPodInfo | None:
        """The next pod to try, now in flight; None where upstream would block. With an empty
        activeQ and PopFromBackoffQ on, the head of podBackoffQ comes out before its backoff
        ends (1.4); podErrorBackoffQ never does."""
        info = self._active.pop()
        if info is None and self._pop_from_backoff_q:
            info = self._backoff.pop()
        if info is None:
            return None
        return self._start_flight(info)

    def pop_specific(self, pod: Pod) -> QueuedPodInfo | None:
        """Upstream's PopSpecificPod (1.36's pod-group cycle takes a popped member's siblings
        with it): activate the pod as an event would (PreEnqueue runs; a gated pod stays
        gated), then take it out of activeQ, in flight. None when it is not in activeQ after
        that (gated, in flight already, or unknown)."""
        self.activate([pod])
        uid = queue_uid(pod)
        info = self._active.remove(uid)
        if info is None:
            return None
        return self._start_flight(info)

    def _start_flight(self, info: QueuedPodInfo) -> QueuedPodInfo:
        info.attempts += 1
        self.scheduling_cycle += 1
        info.unschedulable_plugins.clear()
        info.pending_plugins.clear()
        info.gating_plugin = info.gating_status = None
        info.backoff_expiration = None
        if info.initial_attempt_timestamp is None:
            info.initial_attempt_timestamp = self._clock.now()
        self._in_flight[info.uid] = _InFlight(info)
        return info

    def add_unschedulable_if_not_present(
        self,
        info: QueuedPodInfo,
        *,
        unschedulable_plugins: Iterable[str] = (),
        pending_plugins: Iterable[str] = (),
    ) -> QueueName | None:
        """Requeue a popped pod after a failed attempt (1.7) and end its flight (`done`).

        The plugin sets are the attempt's rejectors (a FitError's diagnosis); both empty means
        an Error, which takes the error backoff path. Events received while the pod was in
        flight decide between unschedulablePods, backoffQ and activeQ. Returns where the pod
        went, or None when it was deleted meanwhile. InternalError if it is already queued.
        """
        flight = self._in_flight.get(info.uid)
        try:
            if flight is not None and flight.deleted:
                return None
            if self._queued_where(info.uid) is not None:
                raise InternalError(f"pod {info.key} is already queued")
            if flight is not None and flight.latest is not None:
                info.pod_info = flight.latest
            info.unschedulable_plugins.update(unschedulable_plugins)
            info.pending_plugins.update(pending_plugins)
            if info.rejector_plugins:
                info.unschedulable_count += 1
                info.consecutive_errors_count = 0
            else:
                info.consecutive_errors_count += 1
            now = self._clock.now()
            info.timestamp = now
            info.sequence = next(self._sequence)
            info.backoff_expiration = None
            events = flight.events if flight is not None else []
            return self._requeue(info, self._strategy_after_flight(info, events), now)
        finally:
            self.done(info.uid)

    def done(self, uid: str) -> None:
        """The attempt for `uid` ended (bound, or handed back): forget its in-flight events."""
        self._in_flight.pop(uid, None)

    # -- cluster events -------------------------------------------------------------------

    def on_event(
        self, event: ClusterEvent, old: object | None = None, new: object | None = None
    ) -> int:
        """A cluster event, judged by the hints the plugins registered (`hint_for`):
        `move_all_to_active_or_backoff` with them. Returns how many pods left
        unschedulablePods."""
        return self.move_all_to_active_or_backoff(event, self.hint_for(old, new))

    def hint_for(self, old: object | None, new: object | None) -> QueueingHintFn:
        """The queue's hint function for one event's objects: for a rejector plugin, QUEUE if
        it registered nothing (`EnqueueExtensions` not implemented), else the answer of its
        first matching registration that says QUEUE, else QUEUE_SKIP (no registration
        matches, or every matching hint skips). A hint that raises is recorded in
        `hint_errors` and counts as QUEUE."""
        registered = self._events

        def hint(plugin: str, event: ClusterEvent, pod: PodInfo) -> QueueingHint:
            entries = registered.get(plugin)
            if entries is None:
                return QueueingHint.QUEUE
            for entry in entries:
                if not entry.event.matches(event):
                    continue
                if entry.hint is None:
                    return QueueingHint.QUEUE
                try:
                    answer = entry.hint(pod, old, new)
                except Exception as err:  # recorded, then as upstream: a retry, never stuck
                    self._hint_failed(plugin, event, pod, err)
                    return QueueingHint.QUEUE
                if answer is QueueingHint.QUEUE:
                    return answer
            return QueueingHint.QUEUE_SKIP

        return hint

    def _hint_failed(self, plugin: str, event: ClusterEvent, pod: PodInfo, err: Exception) -> None:
        self.hint_error_count += 1
        self.hint_errors.append(HintError(plugin, event, pod.key, err))

    def move_all_to_active_or_backoff(self, event: ClusterEvent, hint: QueueingHintFn) -> int:
        """A cluster event (1.8): requeue each unschedulable pod some rejector plugin says
        QUEUE for, and record the event for pods in flight. Returns how many pods left
        unschedulablePods."""
        return self._move(list(self._unschedulable.values()), event, hint, self._clock.now())

    def update(
        self,
        pod: Pod,
        event: ClusterEvent = UNSCHEDULED_POD_UPDATE,
        hint: QueueingHintFn | None = None,
    ) -> QueueName:
        """A queued pod changed. In activeQ or backoffQ it is updated in place; in
        unschedulablePods the event is checked against its rejectors (no hint: QUEUE); in
        flight it is recorded for the pod's return. An unknown pod is added."""
        uid = queue_uid(pod)
        flight = self._in_flight.get(uid)
        if flight is not None:
            flight.latest = PodInfo.of(pod)
            flight.deleted = False
            flight.events.append((event, hint))
            return QueueName.IN_FLIGHT
        for name, heap in self._heaps():
            info = heap.remove(uid)
            if info is not None:
                info.pod_info = PodInfo.of(pod)
                heap.push(info)
                return name
        now = self._clock.now()
        info = self._unschedulable.pop(uid, None)
        if info is None:
            info = QueuedPodInfo(PodInfo.of(pod), uid, now, next(self._sequence))
            return self._move_to_active(info, now, run_pre_enqueue=True)
        info.pod_info = PodInfo.of(pod)
        return self._requeue(info, self._worth_requeuing(info, event, hint), now)

    def delete(self, pod: Pod) -> bool:
        """The pod is gone: drop it from the queue. An in-flight pod is dropped when its
        attempt comes back. False if the queue did not know it."""
        uid = queue_uid(pod)
        flight = self._in_flight.get(uid)
        if flight is not None:
            flight.deleted = True
            return True
        return self._take(uid) is not None

    def activate(self, pods: Iterable[Pod]) -> int:
        """Move pods from unschedulablePods or backoffQ straight to activeQ (1.11); an
        in-flight pod gets a ForceActivate event instead. Returns how many reached activeQ."""
        now = self._clock.now()
        activated = 0
        for pod in pods:
            uid = queue_uid(pod)
            flight = self._in_flight.get(uid)
            if flight is not None:
                flight.events.append((FORCE_ACTIVATE, None))
                continue
            if self._queued_where(uid) is QueueName.ACTIVE:
                continue
            info = self._take(uid)  # None: unknown to the queue, ignored
            if info is not None:
                where = self._move_to_active(info, now, run_pre_enqueue=True)
                activated += where is QueueName.ACTIVE
        return activated

    # -- background loops (1.6, 1.9), run by the caller -----------------------------------

    def flush(self, now: float | None = None) -> int:
        """Both background loops as of `now` (default: the clock). Returns pods moved."""
        return self.flush_unschedulable_pods_leftover(now) + self.flush_backoff_q_completed(now)

    def flush_backoff_q_completed(self, now: float | None = None) -> int:
        """Move every pod whose backoff has ended from both backoff queues to activeQ."""
        at = self._clock.now() if now is None else now
        moved = 0
        for heap in (self._backoff, self._error_backoff):
            while (head := heap.peek()) is not None and not self.is_backing_off(head, at):
                heap.pop()
                # With PopFromBackoffQ, PreEnqueue already ran when the pod entered backoffQ.
                run = not self._pop_from_backoff_q
                moved += self._move_to_active(head, at, run_pre_enqueue=run) is QueueName.ACTIVE
        return moved

    def flush_unschedulable_pods_leftover(self, now: float | None = None) -> int:
        """Requeue (after backoff) pods unschedulable for longer than
        podMaxInUnschedulablePodsDuration, with the wildcard event UnschedulableTimeout."""
        at = self._clock.now() if now is None else now
        stale = [
            i for i in self._unschedulable.values() if at - i.timestamp > self._max_in_unschedulable
        ]
        return self._move(stale, UNSCHEDULABLE_TIMEOUT, None, at) if stale else 0

    # -- backoff (1.5, 1.6) -------------------------------------------------------------

    def backoff_duration(self, info: QueuedPodInfo) -> float:
        """initial * 2**(count-1) capped at max, count being the consecutive errors if any,
        else the rejections (separate budgets since 1.34); 0 for count 0 or max 0."""
        count = info.consecutive_errors_count or info.unschedulable_count
        if count == 0 or self._max_backoff <= 0:
            return 0.0
        duration = self._initial_backoff
        for _ in range(count - 1):  # cap before doubling, as upstream
            if duration > self._max_backoff - duration:
                return self._max_backoff
            duration *= 2
        return min(duration, self._max_backoff)

    def is_backing_off(self, info: QueuedPodInfo, now: float | None = None) -> bool:
        """`expiry >= now`, both truncated to whole seconds with PopFromBackoffQ, so the
        current window counts as backing off (1.6)."""
        at = self._clock.now() if now is None else now
        if self.backoff_duration(info) == 0:
            return False
        return self._expiry(info) >= self._align(at)

    def _expiry(self, info: QueuedPodInfo) -> float:
        if info.backoff_expiration is None:
            info.backoff_expiration = self._align(info.timestamp + self.backoff_duration(info))
        return info.backoff_expiration

    def _align(self, t: float) -> float:
        return float(math.floor(t)) if self._pop_from_backoff_q else t

    # -- what the queue holds ------------------------------------------------------------

    def where(self, uid: str) -> QueueName | None:
        """Where a pod is (IN_FLIGHT for a popped one), None if the queue lacks it."""
        flight = self._in_flight.get(uid)
        if flight is not None and not flight.deleted:
            return QueueName.IN_FLIGHT
        return self._queued_where(uid)

    def pending_pods(self) -> list[PendingPod]:
        """Every queued pod, in flight excepted: activeQ in pop order, then the backoff
        queues by expiry, then unschedulablePods by namespace/name."""
        out = [PendingPod(name, info) for name, heap in self._heaps() for info in heap.ordered()]
        for info in sorted(self._unschedulable.values(), key=lambda i: (i.key, i.uid)):
            gated = QueueName.GATED if info.is_gated else QueueName.UNSCHEDULABLE
            out.append(PendingPod(gated, info))
        return out

    def pending_pods_summary(self) -> str:
        """Upstream's counts line, e.g. `activeQ:1; backoffQ:0; unschedulablePods:2`."""
        backoff = len(self._backoff) + len(self._error_backoff)
        unschedulable = len(self._unschedulable)
        return f"activeQ:{len(self._active)}; backoffQ:{backoff}; unschedulablePods:{unschedulable}"

    def in_flight_pods(self) -> list[QueuedPodInfo]:
        """Popped pods whose attempt has not come back, deleted ones excepted."""
        return [f.info for f in self._in_flight.values() if not f.deleted]

    # -- internals ---------------------------------------------------------------------

    def _heaps(self) -> tuple[tuple[QueueName, PodHeap], ...]:
        return (
            (QueueName.ACTIVE, self._active),
            (QueueName.BACKOFF, self._backoff),
            (QueueName.ERROR_BACKOFF, self._error_backoff),
        )

    def _queued_where(self, uid: str) -> QueueName | None:
        for name, heap in self._heaps():
            if heap.get(uid) is not None:
                return name
        info = self._unschedulable.get(uid)
        if info is None:
            return None
        return QueueName.GATED if info.is_gated else QueueName.UNSCHEDULABLE

    def _take(self, uid: str) -> QueuedPodInfo | None:
        for _, heap in self._heaps():
            info = heap.remove(uid)
            if info is not None:
                return info
        return self._unschedulable.pop(uid, None)

    def _move(
        self,
        infos: list[QueuedPodInfo],
        event: ClusterEvent,
        hint: QueueingHintFn | None,
        now: float,
    ) -> int:
        moved = 0
        for info in infos:
            strategy = self._worth_requeuing(info, event, hint)
            if strategy is _Strategy.SKIP:
                continue
            del self._unschedulable[info.uid]
            if event == UNSCHEDULABLE_TIMEOUT:
                info.was_flushed_from_unschedulable = True
            where = self._requeue(info, strategy, now)
            moved += where not in (QueueName.UNSCHEDULABLE, QueueName.GATED)
        for flight in self._in_flight.values():
            flight.events.append((event, hint))
        return moved

    def _worth_requeuing(
        self, info: QueuedPodInfo, event: ClusterEvent, hint: QueueingHintFn | None
    ) -> _Strategy:
        """Upstream's isPodWorthRequeuing, with the caller's hint function."""
        rejectors = info.rejector_plugins
        if not rejectors or event.is_wildcard or hint is None:
            return _Strategy.AFTER_BACKOFF
        strategy = _Strategy.SKIP
        for plugin in sorted(rejectors):
            try:
                answer = hint(plugin, event, info.pod_info)
            except Exception as err:  # a failing hint costs a retry, never a stuck pod
                self._hint_failed(plugin, event, info.pod_info, err)
                answer = QueueingHint.QUEUE
            if answer is QueueingHint.QUEUE_SKIP:
                continue
            if plugin in info.pending_plugins:
                return _Strategy.IMMEDIATELY
            strategy = _Strategy.AFTER_BACKOFF
        return strategy

    def _strategy_after_flight(
        self, info: QueuedPodInfo, events: list[tuple[ClusterEvent, QueueingHintFn | None]]
    ) -> _Strategy:
        """The strongest strategy over the events received while the pod was in flight."""
        if not info.rejector_plugins:  # an Error: retry after backoff, not after 5 min
            return _Strategy.AFTER_BACKOFF
        strategy = _Strategy.SKIP
        for event, hint in events:
            strategy = max(strategy, self._worth_requeuing(info, event, hint))
            if strategy is _Strategy.IMMEDIATELY or (
                strategy is _Strategy.AFTER_BACKOFF and not info.pending_plugins
            ):
                break  # nothing later can do better
        return strategy

    def _requeue(self, info: QueuedPodInfo, strategy: _Strategy, now: float) -> QueueName:
        """Place a pod that is in no structure by strategy (1.7 step 4)."""
        if strategy is _Strategy.SKIP:
            self._unschedulable[info.uid] = info
            return QueueName.GATED if info.is_gated else QueueName.UNSCHEDULABLE
        if strategy is _Strategy.AFTER_BACKOFF and self.is_backing_off(info, now):
            if self._pop_from_backoff_q and self._is_gated(info):
                self._unschedulable[info.uid] = info
                return QueueName.GATED
            if info.rejector_plugins:
                self._backoff.push(info)
                return QueueName.BACKOFF
            self._error_backoff.push(info)
            return QueueName.ERROR_BACKOFF
        return self._move_to_active(info, now, run_pre_enqueue=True)

    def _move_to_active(
        self, info: QueuedPodInfo, now: float, *, run_pre_enqueue: bool
    ) -> QueueName:
        if run_pre_enqueue and self._is_gated(info):
            self._unschedulable[info.uid] = info
            return QueueName.GATED
        if info.initial_attempt_timestamp is None:
            info.initial_attempt_timestamp = now
        self._active.push(info)
        return QueueName.ACTIVE

    def _is_gated(self, info: QueuedPodInfo) -> bool:
        """Run PreEnqueue, the plugin that gated the pod last time first (1.10)."""
        plugins = sorted(self._pre_enqueue, key=lambda p: p.name != info.gating_plugin)
        info.gating_plugin = info.gating_status = None
        for plugin in plugins:
            status = plugin.pre_enqueue(info.pod_info)
            if not status.is_success:
                info.unschedulable_plugins.add(plugin.name)
                info.gating_plugin = plugin.name
                info.gating_status = status.stamped(plugin.name)
                return True
        return False


def _validate(initial: float, maximum: float) -> None:
    problems = []
    if initial < 0:
        problems.append(Problem("", "", "podInitialBackoffSeconds", f"must be >= 0, got {initial}"))
    if maximum < 0:
        problems.append(Problem("", "", "podMaxBackoffSeconds", f"must be >= 0, got {maximum}"))
    elif 0 < maximum < initial:
        problems.append(
            Problem(
                "",
                "",
                "podMaxBackoffSeconds",
                f"must be >= podInitialBackoffSeconds ({initial}), got {maximum}",
            )
        )
    if problems:
        raise InputError(problems)
