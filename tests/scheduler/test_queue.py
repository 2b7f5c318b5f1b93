"""The scheduling queue (spec/scheduler.md section 1) on a fake clock: order, backoff,
requeueing by events and hints, the periodic flushes, and a property over random runs."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dralloc.api.core import Pod, PodSpec
from dralloc.api.meta import ObjectMeta
from dralloc.errors import InputError
from dralloc.scheduler.framework import PodInfo, Status
from dralloc.scheduler.queue import (
    ClusterEvent,
    QueuedPodInfo,
    QueueingHint,
    QueueingHintFn,
    QueueName,
    SchedulingQueue,
)

NODE_ADD = ClusterEvent("Node", "Add")
SLICE_ADD = ClusterEvent("resource.k8s.io/ResourceSlice", "Add")
FIT = "NodeResourcesFit"
DRA = "DynamicResources"


class FakeClock:
    def __init__(self, t: float = 0.0) -> None:
        self.t = t

    def now(self) -> float:
        return self.t


def pod(name: str, priority: int | None = None) -> Pod:
    meta = ObjectMeta(name=name, namespace="default", uid=f"uid-{name}")
    return Pod(metadata=meta, spec=PodSpec(priority=priority))


def queue_for(*plugins: str) -> QueueingHintFn:
    """A hint that says QUEUE for the given plugins and QUEUE_SKIP for the others."""

    def hint(plugin: str, event: ClusterEvent, pod: PodInfo) -> QueueingHint:
        return QueueingHint.QUEUE if plugin in plugins else QueueingHint.QUEUE_SKIP

    return hint


def pop(queue: SchedulingQueue) -> QueuedPodInfo:
    info = queue.pop()
    assert info is not None
    return info


def drain(queue: SchedulingQueue) -> list[str]:
    """Pop everything poppable now, as if each attempt succeeded."""
    names = []
    while (info := queue.pop()) is not None:
        names.append(info.pod.metadata.name)
        queue.done(info.uid)
    return names


def fail_into_backoff(queue: SchedulingQueue, name: str, plugin: str = FIT) -> QueuedPodInfo:
    """Pop `name`, have an event arrive during its attempt, reject it: it lands in backoffQ."""
    info = pop(queue)
    assert info.pod.metadata.name == name
    queue.move_all_to_active_or_backoff(NODE_ADD, queue_for(plugin))
    assert queue.add_unschedulable_if_not_present(info, unschedulable_plugins={plugin}) == (
        QueueName.BACKOFF
    )
    return info


# -- activeQ order (1.3) ----------------------------------------------------------------------


def test_pods_pop_by_priority_then_by_arrival() -> None:
    clock = FakeClock()
    queue = SchedulingQueue(clock)
    for name, priority in (("low-1", None), ("high", 100), ("low-2", 0), ("mid", 10)):
        queue.add(pod(name, priority))
        clock.t += 1
    assert drain(queue) == ["high", "mid", "low-1", "low-2"]


def test_pods_added_at_the_same_instant_pop_in_insertion_order() -> None:
    queue = SchedulingQueue(FakeClock())
    names = [f"p{i}" for i in range(20, 0, -1)]
    for name in names:
        queue.add(pod(name))
    assert drain(queue) == names


def test_a_failed_pod_goes_behind_equal_priority_pods_that_arrived_before_its_failure() -> None:
    clock = FakeClock()
    queue = SchedulingQueue(clock)
    queue.add(pod("a"))
    clock.t = 1
    queue.add(pod("b"))
    a = pop(queue)
    clock.t = 2
    queue.add_unschedulable_if_not_present(a, unschedulable_plugins={FIT})
    clock.t = 3
    queue.add(pod("c"))
    queue.activate([a.pod])
    assert a.timestamp == 2
    assert drain(queue) == ["b", "a", "c"]


# -- backoff (1.5, 1.6) -----------------------------------------------------------------------


def test_error_backoff_doubles_from_one_second_to_a_ten_second_cap() -> None:
    clock = FakeClock()
    queue = SchedulingQueue(clock, pop_from_backoff_q=False)
    queue.add(pod("a"))
    durations = []
    for _ in range(6):
        info = pop(queue)
        failed_at = clock.t
        assert queue.add_unschedulable_if_not_present(info) == QueueName.ERROR_BACKOFF
        duration = queue.backoff_duration(info)
        durations.append(duration)
        clock.t = failed_at + duration  # expiry >= now: still backing off
        assert queue.flush() == 0
        assert queue.pop() is None
        clock.t += 0.001
        assert queue.flush() == 1
    assert durations == [1, 2, 4, 8, 10, 10]
    assert (info.attempts, info.consecutive_errors_count, info.unschedulable_count) == (6, 6, 0)


def test_a_rejection_after_errors_starts_its_own_backoff_budget() -> None:
    queue = SchedulingQueue(FakeClock())
    queue.add(pod("a"))
    for _ in range(3):
        info = pop(queue)
        queue.add_unschedulable_if_not_present(info)
        queue.activate([info.pod])
    assert queue.backoff_duration(info) == 4
    info = pop(queue)
    assert queue.add_unschedulable_if_not_present(info, unschedulable_plugins={FIT}) == (
        QueueName.UNSCHEDULABLE
    )
    assert (info.consecutive_errors_count, info.unschedulable_count) == (0, 1)
    assert queue.backoff_duration(info) == 1


def test_with_pop_from_backoff_q_expiries_are_whole_seconds_and_the_window_still_backs_off() -> (
    None
):
    clock = FakeClock(0.7)
    queue = SchedulingQueue(clock)
    queue.add(pod("a"))
    info = fail_into_backoff(queue, "a")
    assert info.backoff_expiration == 1.0  # 0.7 + 1 s, truncated
    assert queue.flush(now=1.99) == 0
    assert queue.flush(now=2.0) == 1
    assert queue.where(info.uid) == QueueName.ACTIVE


def test_an_empty_active_queue_pops_the_backoff_head_before_it_expires() -> None:
    queue = SchedulingQueue(FakeClock())
    queue.add(pod("a"))
    info = fail_into_backoff(queue, "a")
    assert queue.is_backing_off(info)
    assert queue.pop() is info
    assert info.attempts == 2
    assert info.unschedulable_plugins == set()
    assert info.backoff_expiration is None


def test_without_pop_from_backoff_q_a_backing_off_pod_waits() -> None:
    queue = SchedulingQueue(FakeClock(), pop_from_backoff_q=False)
    queue.add(pod("a"))
    fail_into_backoff(queue, "a")
    assert queue.pop() is None


def test_an_error_pod_is_never_popped_before_its_backoff_ends() -> None:
    clock = FakeClock()
    queue = SchedulingQueue(clock)
    queue.add(pod("a"))
    info = pop(queue)
    assert queue.add_unschedulable_if_not_present(info) == QueueName.ERROR_BACKOFF
    assert queue.pop() is None
    clock.t = 2.0
    assert queue.flush() == 1
    assert queue.pop() is info


def test_within_one_backoff_window_higher_priority_pops_first() -> None:
    clock = FakeClock(0.2)
    queue = SchedulingQueue(clock)
    queue.add(pod("low"))
    queue.add(pod("high", 5))
    high = pop(queue)
    low = pop(queue)
    queue.move_all_to_active_or_backoff(NODE_ADD, queue_for(FIT))
    queue.add_unschedulable_if_not_present(low, unschedulable_plugins={FIT})
    clock.t = 0.6
    queue.add_unschedulable_if_not_present(high, unschedulable_plugins={FIT})
    assert [p.info.pod.metadata.name for p in queue.pending_pods()] == ["high", "low"]
    assert drain(queue) == ["high", "low"]


# -- events and queueing hints (1.7, 1.8) -----------------------------------------------------


def rejected(queue: SchedulingQueue, name: str, **plugins: set[str]) -> QueuedPodInfo:
    queue.add(pod(name))
    info = pop(queue)
    queue.add_unschedulable_if_not_present(info, **plugins)
    return info


def test_an_event_requeues_only_pods_a_rejector_plugin_says_queue_for() -> None:
    queue = SchedulingQueue(FakeClock())
    a = rejected(queue, "a", unschedulable_plugins={FIT})
    b = rejected(queue, "b", unschedulable_plugins={DRA})
    asked: list[tuple[str, str]] = []

    def hint(plugin: str, event: ClusterEvent, pod: PodInfo) -> QueueingHint:
        asked.append((pod.pod.metadata.name, plugin))
        return QueueingHint.QUEUE if plugin == FIT else QueueingHint.QUEUE_SKIP

    assert queue.move_all_to_active_or_backoff(NODE_ADD, hint) == 1
    assert sorted(asked) == [("a", FIT), ("b", DRA)]  # only each pod's rejectors are asked
    assert queue.where(a.uid) == QueueName.BACKOFF  # still backing off
    assert queue.where(b.uid) == QueueName.UNSCHEDULABLE


def test_an_event_after_the_backoff_sends_the_pod_to_active_without_a_new_timestamp() -> None:
    clock = FakeClock()
    queue = SchedulingQueue(clock)
    a = rejected(queue, "a", unschedulable_plugins={FIT})
    clock.t = 5
    queue.move_all_to_active_or_backoff(NODE_ADD, queue_for(FIT))
    assert queue.where(a.uid) == QueueName.ACTIVE
    assert a.timestamp == 0


def test_queue_from_a_pending_plugin_skips_the_backoff() -> None:
    queue = SchedulingQueue(FakeClock())
    a = rejected(queue, "a", pending_plugins={DRA})
    b = rejected(queue, "b", unschedulable_plugins={DRA})
    queue.move_all_to_active_or_backoff(SLICE_ADD, queue_for(DRA))
    assert queue.where(a.uid) == QueueName.ACTIVE
    assert queue.where(b.uid) == QueueName.BACKOFF


def test_a_hint_that_raises_counts_as_queue() -> None:
    queue = SchedulingQueue(FakeClock())
    a = rejected(queue, "a", unschedulable_plugins={FIT})

    def broken(plugin: str, event: ClusterEvent, pod: PodInfo) -> QueueingHint:
        raise ValueError("bug in a hint")

    assert queue.move_all_to_active_or_backoff(NODE_ADD, broken) == 1
    assert queue.where(a.uid) == QueueName.BACKOFF


@pytest.mark.parametrize(
    ("hint", "expected"),
    [
        (queue_for(FIT), QueueName.BACKOFF),
        (queue_for(DRA), QueueName.UNSCHEDULABLE),
    ],
)
def test_an_event_received_during_the_attempt_decides_where_the_pod_goes(
    hint: QueueingHintFn, expected: QueueName
) -> None:
    queue = SchedulingQueue(FakeClock())
    queue.add(pod("a"))
    info = pop(queue)
    assert queue.where(info.uid) == QueueName.IN_FLIGHT
    queue.move_all_to_active_or_backoff(NODE_ADD, hint)
    assert queue.add_unschedulable_if_not_present(info, unschedulable_plugins={FIT}) == expected
    assert queue.in_flight_pods() == []


def test_events_before_the_pop_and_after_done_are_not_counted() -> None:
    queue = SchedulingQueue(FakeClock())
    queue.add(pod("a"))
    queue.move_all_to_active_or_backoff(NODE_ADD, queue_for(FIT))
    info = pop(queue)
    queue.done(info.uid)
    queue.move_all_to_active_or_backoff(NODE_ADD, queue_for(FIT))
    assert queue.add_unschedulable_if_not_present(info, unschedulable_plugins={FIT}) == (
        QueueName.UNSCHEDULABLE
    )


# -- the leftover flush (1.9) -----------------------------------------------------------------


def test_pods_unschedulable_for_more_than_five_minutes_are_flushed() -> None:
    clock = FakeClock()
    queue = SchedulingQueue(clock)
    a = rejected(queue, "a", unschedulable_plugins={FIT})
    queue.add(pod("b"))
    b = pop(queue)  # in flight during the flush
    clock.t = 300
    assert queue.flush() == 0
    clock.t = 300.5
    assert queue.flush() == 1
    assert queue.where(a.uid) == QueueName.ACTIVE
    assert (a.was_flushed_from_unschedulable, a.timestamp) == (True, 0)
    # The in-flight pod saw the UnschedulableTimeout wildcard event: it is requeued.
    assert queue.add_unschedulable_if_not_present(b, unschedulable_plugins={FIT}) == (
        QueueName.BACKOFF
    )


# -- delete, update, activate, PreEnqueue ----------------------------------------------------


def test_delete_drops_a_queued_pod_at_once_and_an_in_flight_pod_when_it_comes_back() -> None:
    queue = SchedulingQueue(FakeClock())
    queue.add(pod("a"))
    queue.add(pod("b"))
    assert queue.delete(pod("b"))
    a = pop(queue)
    assert queue.delete(pod("a"))
    assert queue.where(a.uid) is None
    assert queue.add_unschedulable_if_not_present(a, unschedulable_plugins={FIT}) is None
    assert queue.pending_pods() == []
    assert queue.in_flight_pods() == []
    assert not queue.delete(pod("a"))


def test_an_update_reorders_activeq_and_may_requeue_an_unschedulable_pod() -> None:
    queue = SchedulingQueue(FakeClock())
    queue.add(pod("a"))
    queue.add(pod("b"))
    assert queue.update(pod("b", 10)) == QueueName.ACTIVE
    b = pop(queue)
    assert b.priority == 10
    queue.add_unschedulable_if_not_present(b, unschedulable_plugins={FIT})
    update = ClusterEvent("Pod", "UpdatePodToleration")
    assert queue.update(pod("b", 11), update, queue_for(DRA)) == QueueName.UNSCHEDULABLE
    assert queue.update(pod("b", 12), update, queue_for(FIT)) == QueueName.BACKOFF
    assert b.priority == 12


def test_an_update_during_the_attempt_is_used_when_the_pod_comes_back() -> None:
    queue = SchedulingQueue(FakeClock())
    queue.add(pod("a"))
    info = pop(queue)
    assert queue.update(pod("a", 7), hint=queue_for(FIT)) == QueueName.IN_FLIGHT
    assert queue.add_unschedulable_if_not_present(info, unschedulable_plugins={FIT}) == (
        QueueName.BACKOFF
    )
    assert info.priority == 7


def test_activate_skips_backoff_and_marks_an_in_flight_pod() -> None:
    queue = SchedulingQueue(FakeClock())
    a = rejected(queue, "a", unschedulable_plugins={FIT})
    queue.add(pod("b"))
    b = pop(queue)
    assert queue.activate([pod("a"), pod("b"), pod("unknown")]) == 1
    assert queue.where(a.uid) == QueueName.ACTIVE
    assert queue.add_unschedulable_if_not_present(b, unschedulable_plugins={FIT}) == (
        QueueName.BACKOFF
    )


class Gate:
    """A PreEnqueue plugin that holds pods until their name is opened."""

    name = "SchedulingGates"

    def __init__(self) -> None:
        self.open: set[str] = set()

    def pre_enqueue(self, pod: PodInfo) -> Status:
        if pod.pod.metadata.name in self.open:
            return Status()
        return Status.unresolvable("waiting for scheduling gates: [g1]")


def test_a_pod_gated_at_pre_enqueue_waits_until_its_gating_plugin_says_queue() -> None:
    gate = Gate()
    queue = SchedulingQueue(FakeClock(), pre_enqueue=[gate])
    assert queue.add(pod("a")) == QueueName.GATED
    assert queue.pop() is None
    (pending,) = queue.pending_pods()
    assert pending.queue == QueueName.GATED
    assert pending.info.gating_status == Status.unresolvable(
        "waiting for scheduling gates: [g1]"
    ).stamped("SchedulingGates")
    gate.open.add("a")
    assert queue.move_all_to_active_or_backoff(NODE_ADD, queue_for(FIT)) == 0
    assert queue.move_all_to_active_or_backoff(NODE_ADD, queue_for("SchedulingGates")) == 1
    assert drain(queue) == ["a"]


# -- listing and settings --------------------------------------------------------------------


def test_pending_pods_lists_every_queued_pod_with_its_place() -> None:
    queue = SchedulingQueue(FakeClock())
    rejected(queue, "u", unschedulable_plugins={FIT})
    rejected(queue, "e")
    queue.add(pod("a"))
    queue.add(pod("f"))
    pop(queue)
    listed = [(p.queue, p.info.pod.metadata.name) for p in queue.pending_pods()]
    assert listed == [
        (QueueName.ACTIVE, "f"),
        (QueueName.ERROR_BACKOFF, "e"),
        (QueueName.UNSCHEDULABLE, "u"),
    ]
    assert queue.pending_pods_summary() == "activeQ:1; backoffQ:1; unschedulablePods:1"
    assert [i.pod.metadata.name for i in queue.in_flight_pods()] == ["a"]


def test_bad_backoff_settings_name_the_field() -> None:
    with pytest.raises(InputError) as err:
        SchedulingQueue(FakeClock(), pod_initial_backoff_seconds=5, pod_max_backoff_seconds=2)
    assert str(err.value) == "podMaxBackoffSeconds: must be >= podInitialBackoffSeconds (5), got 2"


# -- property: no pod lost or duplicated -----------------------------------------------------

HINTS = [queue_for(FIT, DRA, "Pending"), queue_for(), queue_for(FIT), queue_for("Pending")]
FAILURES: list[dict[str, set[str]]] = [
    {},
    {"unschedulable_plugins": {FIT}},
    {"unschedulable_plugins": {DRA}},
    {"pending_plugins": {"Pending"}},
]
ADVANCES = [0.3, 1.0, 2.5, 11.0, 301.0]
# Repeats weight the draw: a run needs pods that are added, popped and rejected before events
# and time have anything to move.
OP_NAMES = [*["add"] * 3, *["pop"] * 3, *["fail"] * 3, "succeed", "event", "event"]
OP_NAMES += ["advance", "flush", "delete", "update", "activate"]
OPS = st.tuples(st.sampled_from(OP_NAMES), st.integers(0, 59))


def run(ops: list[tuple[str, int]], pop_from_backoff_q: bool) -> list[str]:
    """Apply `ops`, checking after each that every live pod is in exactly one place; at the
    end, fail what is in flight, wait out every backoff and flush: all live pods pop once."""
    clock = FakeClock()
    queue = SchedulingQueue(clock, pop_from_backoff_q=pop_from_backoff_q)
    created: list[Pod] = []
    live: set[str] = set()
    flying: list[QueuedPodInfo] = []
    log: list[str] = []
    for op, arg in ops:
        if op == "add":
            created.append(pod(f"p{len(created)}", arg % 4))
            queue.add(created[-1])
            live.add(f"uid-p{len(created) - 1}")
        elif op == "pop" and (info := queue.pop()) is not None:
            assert info.uid in live
            assert all(f.uid != info.uid for f in flying)
            flying.append(info)
            log.append(info.uid)
        elif op == "fail" and flying:
            info = flying.pop(0)
            where = queue.add_unschedulable_if_not_present(info, **FAILURES[arg % len(FAILURES)])
            assert (where is None) == (info.uid not in live)
        elif op == "succeed" and flying:
            info = flying.pop(0)
            queue.done(info.uid)
            live.discard(info.uid)
        elif op == "event":
            queue.move_all_to_active_or_backoff(NODE_ADD, HINTS[arg % len(HINTS)])
        elif op == "advance":
            clock.t += ADVANCES[arg % len(ADVANCES)]
        elif op == "flush":
            queue.flush()
        elif op in ("delete", "update", "activate") and created:
            index = arg % len(created)
            target = created[index]
            if op == "delete":
                queue.delete(target)
                live.discard(f"uid-{target.metadata.name}")
            elif op == "activate":
                queue.activate([target])
            elif f"uid-{target.metadata.name}" in live:
                priority = (target.spec.priority or 0) + 1
                spec = msgspec.structs.replace(target.spec, priority=priority)
                created[index] = msgspec.structs.replace(target, spec=spec)
                queue.update(created[index])
        seen = [p.info.uid for p in queue.pending_pods()] + [i.uid for i in queue.in_flight_pods()]
        assert sorted(seen) == sorted(live)
    for info in flying:
        queue.add_unschedulable_if_not_present(info, unschedulable_plugins={FIT})
    clock.t += 400
    queue.flush()
    assert sorted(drain_uids(queue)) == sorted(live)
    return log


def drain_uids(queue: SchedulingQueue) -> list[str]:
    uids = []
    while (info := queue.pop()) is not None:
        uids.append(info.uid)
        queue.done(info.uid)
    return uids


@settings(max_examples=100, deadline=None)
@given(st.lists(OPS, min_size=20, max_size=80), st.booleans())
def test_the_queue_never_loses_or_duplicates_a_pod_and_replays_identically(
    ops: list[tuple[str, int]], pop_from_backoff_q: bool
) -> None:
    assert run(ops, pop_from_backoff_q) == run(ops, pop_from_backoff_q)
