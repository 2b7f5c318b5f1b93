"""The informer's protocol against a scripted API client: what it asks for, how it backs off,
and what its handlers hear when a relist is diffed against the store."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from dralloc.kube.client import (
    NODES,
    PODS,
    ApiStatusError,
    ApiUnavailable,
    KubeClient,
    KubeDict,
)
from dralloc.kube.informer import Informer, WatchBackoff, object_key

Script = list[Any]  # answers, exceptions to raise, or (for a watch) lists of events/exceptions


def _pod(name: str, rv: str, namespace: str = "ns", **extra: Any) -> KubeDict:
    return {
        "metadata": {"name": name, "namespace": namespace, "resourceVersion": rv},
        **extra,
    }


def _list(rv: str, *items: KubeDict) -> KubeDict:
    return {"kind": "PodList", "metadata": {"resourceVersion": rv}, "items": list(items)}


def _event(kind: str, obj: KubeDict) -> KubeDict:
    return {"type": kind, "object": {"apiVersion": "v1", "kind": "Pod", **obj}}


def _bookmark(rv: str) -> KubeDict:
    return {"type": "BOOKMARK", "object": {"kind": "Pod", "metadata": {"resourceVersion": rv}}}


def _expired() -> KubeDict:
    return {
        "type": "ERROR",
        "object": {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"},
    }


@dataclass
class FakeClient:
    """Answers lists and watches from scripts, in order; once both scripts are used up, a
    watch blocks and `idle` is set, so a test knows the informer has nothing left to do."""

    lists: Script
    watches: Script
    list_calls: list[dict[str, Any]] = field(default_factory=list)
    watch_calls: list[tuple[dict[str, Any], float | None]] = field(default_factory=list)
    idle: asyncio.Event = field(default_factory=asyncio.Event)

    async def list(self, path: str, **params: Any) -> KubeDict:
        self.list_calls.append(dict(params, path=path))
        answer = self.lists.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return cast(KubeDict, answer)

    async def stream(
        self, path: str, params: Mapping[str, Any], *, read_timeout: float | None
    ) -> AsyncIterator[KubeDict]:
        self.watch_calls.append((dict(params, path=path), read_timeout))
        if not self.watches:
            self.idle.set()
            await asyncio.Event().wait()
        script = self.watches.pop(0)
        if isinstance(script, Exception):
            raise script
        for item in script:
            if isinstance(item, Exception):
                raise item
            if isinstance(item, asyncio.Event):  # a pause until the test sets it
                await item.wait()
                continue
            yield item


@dataclass
class Recorder:
    seen: list[tuple[str, str, str]] = field(default_factory=list)

    def on_add(self, obj: KubeDict) -> None:
        self.seen.append(("add", object_key(obj), obj["metadata"]["resourceVersion"]))

    def on_update(self, old: KubeDict, new: KubeDict) -> None:
        assert object_key(old) == object_key(new)
        self.seen.append(("update", object_key(new), new["metadata"]["resourceVersion"]))

    def on_delete(self, obj: KubeDict) -> None:
        self.seen.append(("delete", object_key(obj), obj["metadata"]["resourceVersion"]))


class Failing:
    def on_add(self, obj: KubeDict) -> None:
        raise RuntimeError("handler bug")

    def on_update(self, old: KubeDict, new: KubeDict) -> None:
        raise RuntimeError("handler bug")

    def on_delete(self, obj: KubeDict) -> None:
        raise RuntimeError("handler bug")


@dataclass
class Sleeps:
    delays: list[float] = field(default_factory=list)

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def _run(fake: FakeClient, *handlers: Any, sleep: Sleeps | None = None, **options: Any) -> Informer:
    """Runs an informer on `fake` until it is idle, then stops it."""

    async def scenario() -> Informer:
        informer = Informer(
            cast(KubeClient, fake),
            PODS,
            handlers=handlers,
            rng=random.Random(7),
            sleep=sleep or Sleeps(),
            **options,
        )
        task = asyncio.create_task(informer.run())
        await asyncio.wait_for(fake.idle.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return informer

    return asyncio.run(scenario())


def test_object_key_is_namespace_slash_name_or_the_name_alone() -> None:
    assert object_key(_pod("a", "1")) == "ns/a"
    assert object_key({"metadata": {"name": "node-1"}}) == "node-1"


def test_backoff_doubles_from_0_8_seconds_to_a_30_second_cap_and_resets() -> None:
    class NoJitter(random.Random):
        def random(self) -> float:
            return 0.0

    backoff = WatchBackoff(NoJitter())
    delays = [backoff.next_delay() for _ in range(8)]
    assert delays == pytest.approx([0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0])
    backoff.reset()
    assert backoff.next_delay() == pytest.approx(0.8)


def test_backoff_jitter_stretches_each_delay_by_at_most_its_own_length() -> None:
    backoff = WatchBackoff(random.Random(1))
    bases = [0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0, 30.0]
    delays = [backoff.next_delay() for _ in bases]
    assert all(base <= delay <= 2 * base for base, delay in zip(bases, delays, strict=True))
    assert len(set(delays)) == len(delays)


def test_the_first_list_reads_the_watch_cache_and_the_watch_asks_for_bookmarks() -> None:
    fake = FakeClient([_list("10", _pod("a", "5"))], [[]])
    recorder = Recorder()
    informer = _run(fake, recorder, field_selector="status.phase!=Failed", watch_timeout=(300, 600))
    assert fake.list_calls == [
        {"path": "/api/v1/pods", "resourceVersion": "0", "fieldSelector": "status.phase!=Failed"}
    ]
    first, read_timeout = fake.watch_calls[0]
    assert first["watch"] is True and first["allowWatchBookmarks"] is True
    assert first["resourceVersion"] == "10"
    assert first["fieldSelector"] == "status.phase!=Failed"
    assert 300 <= first["timeoutSeconds"] <= 600
    assert read_timeout is not None and read_timeout > first["timeoutSeconds"]
    # The normal end of the first watch: watch again from the same place, no new list.
    assert fake.watch_calls[1][0]["resourceVersion"] == "10"
    assert informer.relists == 1 and informer.synced.is_set()
    assert recorder.seen == [("add", "ns/a", "5")]
    assert informer.store["ns/a"]["kind"] == "Pod"  # list items get their apiVersion and kind
    assert informer.store["ns/a"]["apiVersion"] == "v1"


def test_watch_events_reach_the_store_and_the_handlers_in_order() -> None:
    fake = FakeClient(
        [_list("10", _pod("a", "5"))],
        [
            [
                _event("ADDED", _pod("b", "11")),
                _event("MODIFIED", _pod("a", "12")),
                _event("MODIFIED", _pod("c", "13")),  # never seen as added: an add
                _event("DELETED", _pod("b", "14", spec={"last": True})),
                _bookmark("20"),
            ]
        ],
    )
    recorder = Recorder()
    informer = _run(fake, recorder)
    assert recorder.seen == [
        ("add", "ns/a", "5"),
        ("add", "ns/b", "11"),
        ("update", "ns/a", "12"),
        ("add", "ns/c", "13"),
        ("delete", "ns/b", "14"),  # the server's final state
    ]
    assert sorted(informer.store) == ["ns/a", "ns/c"]
    assert informer.resource_version == "20"
    assert fake.watch_calls[1][0]["resourceVersion"] == "20"


def test_a_bookmark_moves_the_resource_version_and_calls_no_handler() -> None:
    fake = FakeClient([_list("10")], [[_bookmark("30")], [_bookmark("31")]])
    recorder = Recorder()
    informer = _run(fake, recorder)
    assert recorder.seen == []
    assert [call["resourceVersion"] for call, _ in fake.watch_calls] == ["10", "30", "31"]
    assert informer.resource_version == "31"


@pytest.mark.parametrize(
    "expiry",
    [
        pytest.param([_expired()], id="an ERROR event with a 410 Status"),
        pytest.param(ApiStatusError("GET", "/api/v1/pods", 410, "Expired", "old"), id="HTTP 410"),
    ],
)
def test_an_expired_watch_relists_consistently_and_emits_only_the_difference(
    expiry: Any,
) -> None:
    fake = FakeClient(
        [
            _list("10", _pod("gone", "3"), _pod("changed", "4"), _pod("same", "5")),
            _list("50", _pod("same", "5"), _pod("changed", "40"), _pod("new", "45")),
        ],
        [expiry],
    )
    recorder = Recorder()
    informer = _run(fake, recorder)
    assert [call.get("resourceVersion") for call in fake.list_calls] == ["0", None]
    assert informer.relists == 2
    assert recorder.seen[3:] == [
        ("update", "ns/changed", "40"),
        ("add", "ns/new", "45"),
        ("delete", "ns/gone", "3"),
    ]
    assert sorted(informer.store) == ["ns/changed", "ns/new", "ns/same"]
    assert fake.watch_calls[-1][0]["resourceVersion"] == "50"


def test_failures_back_off_doubling_and_a_working_watch_resets_the_backoff() -> None:
    unavailable = ApiUnavailable("connection refused")
    fake = FakeClient(
        [unavailable, _list("10")],
        [
            ApiStatusError("GET", "/api/v1/pods", 500, "InternalError", "etcd"),
            ApiStatusError("GET", "/api/v1/pods", 429, "TooManyRequests", "reinitializing"),
            [_bookmark("11"), unavailable],  # a stream that breaks after it worked
            [{"type": "ERROR", "object": {"kind": "Status", "code": 500, "message": "boom"}}],
            ApiStatusError("GET", "/api/v1/pods", 403, "Forbidden", "no"),
        ],
    )
    sleeps = Sleeps()

    class NoJitter(random.Random):
        def random(self) -> float:
            return 0.0

    async def scenario() -> Informer:
        informer = Informer(cast(KubeClient, fake), PODS, rng=NoJitter(), sleep=sleeps)
        task = asyncio.create_task(informer.run())
        await asyncio.wait_for(fake.idle.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return informer

    informer = asyncio.run(scenario())
    # list refused; list ok (reset); 500; 429; bookmark (reset) then broken; ERROR 500; 403
    assert sleeps.delays == pytest.approx([0.8, 0.8, 1.6, 0.8, 1.6, 3.2])
    assert informer.relists == 1
    assert [call["resourceVersion"] for call, _ in fake.watch_calls] == [
        "10",
        "10",
        "10",
        "11",
        "11",
        "11",
    ]


def test_a_forbidden_watch_is_logged_as_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeClient([_list("1")], [ApiStatusError("GET", "/api/v1/pods", 403, "Forbidden", "x")])
    with caplog.at_level(logging.INFO, logger="dralloc.kube.informer"):
        _run(fake)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "403 Forbidden" in warnings[0].getMessage()


def test_a_handler_that_raises_is_logged_and_the_others_still_hear_everything(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeClient([_list("10", _pod("a", "1"))], [[_event("DELETED", _pod("a", "2"))]])
    recorder = Recorder()
    with caplog.at_level(logging.ERROR, logger="dralloc.kube.informer"):
        informer = _run(fake, Failing(), recorder)
    assert recorder.seen == [("add", "ns/a", "1"), ("delete", "ns/a", "2")]
    assert informer.store == {}
    assert len(caplog.records) == 2
    assert "on_add(ns/a)" in caplog.records[0].getMessage()


def test_a_handler_added_later_hears_only_later_changes() -> None:
    late = Recorder()

    async def scenario() -> None:
        added = asyncio.Event()
        fake = FakeClient(
            [_list("10", _pod("a", "1"))], [[added, _event("ADDED", _pod("b", "11"))]]
        )
        informer = Informer(cast(KubeClient, fake), PODS, sleep=Sleeps())
        task = asyncio.create_task(informer.run())
        await informer.wait_synced(5)
        informer.add_handler(late)
        added.set()
        await asyncio.wait_for(fake.idle.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert late.seen == [("add", "ns/b", "11")]


def test_cluster_scoped_objects_are_keyed_by_name() -> None:
    fake = FakeClient([_list("3", {"metadata": {"name": "node-1", "resourceVersion": "2"}})], [])

    async def scenario() -> Informer:
        informer = Informer(cast(KubeClient, fake), NODES, namespace="ignored", sleep=Sleeps())
        task = asyncio.create_task(informer.run())
        await asyncio.wait_for(fake.idle.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return informer

    informer = asyncio.run(scenario())
    node = informer.get("node-1")
    assert node is not None and node["kind"] == "Node"
    assert fake.list_calls[0]["path"] == "/api/v1/nodes"


def test_waiting_for_a_sync_that_never_comes_times_out_naming_the_resource() -> None:
    async def scenario() -> None:
        informer = Informer(cast(KubeClient, FakeClient([], [])), PODS, namespace="ns")
        with pytest.raises(TimeoutError, match="/api/v1/namespaces/ns/pods: not synced"):
            await informer.wait_synced(0.01)

    asyncio.run(scenario())


def test_a_failed_relist_backs_off_and_lists_again_instead_of_watching_from_the_old_version() -> (
    None
):
    fake = FakeClient(
        [
            _list("10", _pod("a", "1")),
            ApiUnavailable("connection refused"),
            ApiStatusError("GET", "/api/v1/pods", 503, "ServiceUnavailable", "starting"),
            _list("40", _pod("a", "1")),
        ],
        [[_expired()]],
    )
    sleeps = Sleeps()
    recorder = Recorder()
    informer = _run(fake, recorder, sleep=sleeps)
    assert [call.get("resourceVersion") for call in fake.list_calls] == ["0", None, None, None]
    assert len(sleeps.delays) == 2
    assert informer.relists == 2
    assert recorder.seen == [("add", "ns/a", "1")]  # nothing changed: nothing more to hear
    assert [call["resourceVersion"] for call, _ in fake.watch_calls] == ["10", "40"]
