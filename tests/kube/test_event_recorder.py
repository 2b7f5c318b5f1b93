"""Event series as client-go's events.k8s.io broadcaster makes them: the first event is
created, the second isomorphic one patches `series.count: 2`, later ones count in memory
until the series is closed 6 minutes after its last repeat or refreshed every 30 minutes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from dralloc.kube.client import ApiStatusError, ApiUnavailable
from dralloc.kube.events import FINISH_AFTER, EventRecorder, isomorphic_key

Obj = dict[str, Any]
START = datetime(2026, 12, 7, 6, 0, 0, tzinfo=UTC)


class _Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class _Sink:
    """Records the writes; `fail_next` makes the next ones raise what it holds."""

    def __init__(self) -> None:
        self.created: list[Obj] = []
        self.patched: list[tuple[str, Any]] = []
        self.fail_next: list[Exception] = []
        self.names: set[str] = set()

    def _maybe_fail(self) -> None:
        if self.fail_next:
            raise self.fail_next.pop(0)

    async def create(self, path: str, body: Obj, **_: Any) -> Obj:
        self._maybe_fail()
        self.created.append(body)
        self.names.add(body["metadata"]["name"])
        return body

    async def patch(self, path: str, body: Any, *_: Any, **__: Any) -> Obj:
        self._maybe_fail()
        name = path.rsplit("/", 1)[1]
        if name not in self.names:
            raise ApiStatusError("PATCH", path, 404, "NotFound", "not found")
        self.patched.append((path, body))
        return {}


def _pod(name: str = "p", uid: str = "u1") -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"namespace": "ns", "name": name, "uid": uid},
    }


def _recorder(sink: _Sink, clock: _Clock) -> EventRecorder:
    return EventRecorder(
        sink,  # type: ignore[arg-type]
        "dralloc",
        reporting_instance="dralloc-test",
        clock=clock,
        retry_sleep_seconds=0.0,
    )


async def _settle(recorder: EventRecorder) -> None:
    await recorder.drain(5.0)


def test_a_repeated_event_becomes_a_series_written_twice_then_counted() -> None:
    async def scenario() -> None:
        sink, clock = _Sink(), _Clock()
        recorder = _recorder(sink, clock)
        recorder.failed_scheduling(_pod(), "0/3 nodes are available: first")
        await _settle(recorder)
        for second in range(1, 4):
            clock.now = START + timedelta(seconds=second)
            recorder.failed_scheduling(_pod(), f"0/3 nodes are available: try {second}")
            await _settle(recorder)
        assert len(sink.created) == 1
        assert sink.created[0]["note"] == "0/3 nodes are available: first"
        assert "series" not in sink.created[0]
        # Only the second occurrence is written at once; the third and fourth only count.
        assert len(sink.patched) == 1
        path, body = sink.patched[0]
        assert path.endswith("/namespaces/ns/events/" + sink.created[0]["metadata"]["name"])
        assert body == {"series": {"count": 2, "lastObservedTime": "2026-12-07T06:00:01.000000Z"}}
        assert recorder.folded == 3

    asyncio.run(scenario())


def test_a_quiet_series_is_written_with_its_count_and_forgotten_after_six_minutes() -> None:
    async def scenario() -> None:
        sink, clock = _Sink(), _Clock()
        recorder = _recorder(sink, clock)
        for second in range(4):
            clock.now = START + timedelta(seconds=second)
            recorder.failed_scheduling(_pod(), "no fit")
            await _settle(recorder)
        clock.now = START + timedelta(seconds=3) + FINISH_AFTER - timedelta(seconds=1)
        recorder.finish_series()
        await _settle(recorder)
        assert len(sink.patched) == 1  # not quiet long enough yet
        clock.now = START + timedelta(seconds=4) + FINISH_AFTER
        recorder.finish_series()
        await _settle(recorder)
        assert sink.patched[-1][1] == {
            "series": {"count": 4, "lastObservedTime": "2026-12-07T06:00:03.000000Z"}
        }
        # Forgotten: the next occurrence starts a new event.
        recorder.failed_scheduling(_pod(), "no fit")
        await _settle(recorder)
        assert len(sink.created) == 2

    asyncio.run(scenario())


def test_refresh_rewrites_open_series_and_single_events_are_forgotten_without_a_write() -> None:
    async def scenario() -> None:
        sink, clock = _Sink(), _Clock()
        recorder = _recorder(sink, clock)
        recorder.scheduled(_pod("a", "ua"), "n1")
        recorder.failed_scheduling(_pod("b", "ub"), "x")
        await _settle(recorder)
        recorder.failed_scheduling(_pod("b", "ub"), "x")
        recorder.failed_scheduling(_pod("b", "ub"), "x")
        await _settle(recorder)
        recorder.refresh_series()
        await _settle(recorder)
        assert [body["series"]["count"] for _, body in sink.patched] == [2, 3]
        clock.now = START + FINISH_AFTER + timedelta(seconds=1)
        recorder.finish_series()
        await _settle(recorder)
        assert len(sink.created) == 2
        recorder.scheduled(_pod("a", "ua"), "n1")
        await _settle(recorder)
        assert len(sink.created) == 3

    asyncio.run(scenario())


def test_events_differing_in_reason_pod_or_uid_are_separate() -> None:
    base = EventRecorder(_Sink(), "dralloc", reporting_instance="i")  # type: ignore[arg-type]
    one = base.event_body(
        _pod(), type_="Warning", reason="FailedScheduling", action="Scheduling", note="a"
    )
    same = base.event_body(
        _pod(), type_="Warning", reason="FailedScheduling", action="Scheduling", note="b"
    )
    other_reason = base.event_body(
        _pod(), type_="Normal", reason="Scheduled", action="Binding", note="a"
    )
    recreated = base.event_body(
        _pod(uid="u2"), type_="Warning", reason="FailedScheduling", action="Scheduling", note="a"
    )
    assert isomorphic_key(one) == isomorphic_key(same)
    assert isomorphic_key(one) != isomorphic_key(other_reason)
    assert isomorphic_key(one) != isomorphic_key(recreated)


def test_a_series_whose_event_was_deleted_is_created_with_its_series() -> None:
    async def scenario() -> None:
        sink, clock = _Sink(), _Clock()
        recorder = _recorder(sink, clock)
        recorder.failed_scheduling(_pod(), "x")
        await _settle(recorder)
        sink.names.clear()  # the first event was deleted (TTL) meanwhile
        recorder.failed_scheduling(_pod(), "x")
        await _settle(recorder)
        assert len(sink.created) == 2
        assert sink.created[1]["series"]["count"] == 2
        assert "resourceVersion" not in sink.created[1]["metadata"]

    asyncio.run(scenario())


def test_an_unreachable_server_is_retried_and_a_refusal_is_dropped() -> None:
    async def scenario() -> None:
        sink, clock = _Sink(), _Clock()
        recorder = _recorder(sink, clock)
        sink.fail_next = [ApiUnavailable("down"), ApiUnavailable("down")]
        recorder.scheduled(_pod("a", "ua"), "n1")
        await _settle(recorder)
        assert len(sink.created) == 1 and recorder.written == 1
        sink.fail_next = [ApiStatusError("POST", "/x", 422, "Invalid", "bad")]
        recorder.scheduled(_pod("b", "ub"), "n1")
        await _settle(recorder)
        assert len(sink.created) == 1 and recorder.failed == 1

    asyncio.run(scenario())
