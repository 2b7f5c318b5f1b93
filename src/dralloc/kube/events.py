"""Events about pods, written as kube-scheduler writes them (events.k8s.io/v1, spec/cluster-mode.md
section 4.6; texts from spec/scheduler.md section 8): `Scheduled`, `FailedScheduling`,
`Preempted`, `BindingConditionsPending`, and dralloc's `ForeignAllocation` on claims.

Events are best effort: a write runs in its own task and a failure is logged, never raised
into the scheduling or binding cycle.

Repeats become a series, as client-go's events.k8s.io broadcaster makes them (kube-scheduler
records through it): events are isomorphic when type, action, reason, reporting controller and
instance, `regarding` and `related` agree (the note is not compared, so a pod's later
FailedScheduling messages fold into its first). The first is created; the second isomorphic
one patches `series: {count: 2, lastObservedTime}` onto it (created instead if it was
deleted); later ones only count in memory. Every 30 minutes every open series is written, and
a series quiet for 6 minutes is written a last time and forgotten, as is a single event 6
minutes old, so the memory holds only the last 6 minutes' events. A write the server cannot be
reached for is retried (12 tries, about 10 s apart, jittered); one the server refuses is
dropped. Owns its pending write tasks and the isomorphic-event cache.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import random
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from dralloc.api.validation.times import format_micro_time
from dralloc.kube.client import EVENTS, ApiStatusError, ApiUnavailable, KubeClient, KubeDict

log = logging.getLogger(__name__)

NOTE_LIMIT = 1024
NORMAL = "Normal"
WARNING = "Warning"
# client-go tools/events: a series quiet this long is closed; open series are rewritten this often.
FINISH_AFTER = timedelta(minutes=6)
REFRESH_EVERY = timedelta(minutes=30)
MAX_TRIES = 12
RETRY_SLEEP_SECONDS = 10.0

EventKey = tuple[str, ...]


def isomorphic_key(body: dict[str, Any]) -> EventKey:
    """What makes two events the same for a series (client-go's getKey): not the note."""
    regarding = body.get("regarding") or {}
    related = body.get("related") or {}
    return (
        body.get("type", ""),
        body.get("action", ""),
        body.get("reason", ""),
        body.get("reportingController", ""),
        body.get("reportingInstance", ""),
        *(str(regarding.get(k, "")) for k in _REFERENCE_FIELDS),
        *(str(related.get(k, "")) for k in _REFERENCE_FIELDS),
    )


_REFERENCE_FIELDS = ("apiVersion", "kind", "namespace", "name", "uid", "fieldPath")


def _truncated(note: str) -> str:
    encoded = note.encode()
    if len(encoded) <= NOTE_LIMIT:
        return note
    return encoded[: NOTE_LIMIT - 3].decode(errors="ignore") + "..."


class EventRecorder:
    """Writes events as `reporting_controller` (the scheduler name) from one instance."""

    def __init__(
        self,
        client: KubeClient,
        reporting_controller: str,
        *,
        reporting_instance: str | None = None,
        clock: Callable[[], datetime] | None = None,
        retry_sleep_seconds: float = RETRY_SLEEP_SECONDS,
    ) -> None:
        self.client = client
        self.reporting_controller = reporting_controller
        self.reporting_instance = (
            reporting_instance or f"{reporting_controller}-{socket.gethostname()}"
        )
        self._clock = clock or (lambda: datetime.now(UTC))
        self._retry_sleep = retry_sleep_seconds
        self._tasks: set[asyncio.Task[None]] = set()
        self._cache: dict[EventKey, dict[str, Any]] = {}
        self._maintenance: asyncio.Task[None] | None = None
        self.written = 0
        self.failed = 0
        self.folded = 0

    def event_body(
        self,
        regarding: KubeDict,
        *,
        type_: str,
        reason: str,
        action: str,
        note: str,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        moment = now or self._clock()
        meta = regarding.get("metadata", {})
        namespace = meta.get("namespace") or "default"
        nanos = int(moment.timestamp() * 1e9)
        return {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": f"{meta.get('name', 'object')}.{nanos:x}", "namespace": namespace},
            "eventTime": format_micro_time(moment),
            "reportingController": self.reporting_controller,
            "reportingInstance": self.reporting_instance,
            "action": action,
            "reason": reason,
            "type": type_,
            "note": _truncated(note),
            "regarding": {
                "apiVersion": regarding.get("apiVersion", "v1"),
                "kind": regarding.get("kind", "Pod"),
                "namespace": namespace,
                "name": meta.get("name", ""),
                "uid": meta.get("uid", ""),
            },
        }

    def record(
        self, regarding: KubeDict, *, type_: str, reason: str, action: str, note: str
    ) -> None:
        """Write one event in the background, or fold it into its series."""
        now = self._clock()
        body = self.event_body(
            regarding, type_=type_, reason=reason, action=action, note=note, now=now
        )
        to_write = self._remember(body, now)
        if to_write is not None:
            self._spawn(self._write(to_write))
        if self._maintenance is None:
            self._maintenance = asyncio.get_running_loop().create_task(self._maintain())

    def _remember(self, body: dict[str, Any], now: datetime) -> dict[str, Any] | None:
        """The event to write for `body`, or None when it only counts in an open series."""
        key = isomorphic_key(body)
        cached = self._cache.get(key)
        if cached is None:
            self._cache[key] = body
            return copy.deepcopy(body)
        self.folded += 1
        series = cached.get("series")
        if series is not None:
            series["count"] += 1
            series["lastObservedTime"] = format_micro_time(now)
            return None
        cached["series"] = {"count": 2, "lastObservedTime": format_micro_time(now)}
        return copy.deepcopy(cached)

    def _spawn(self, write: Any) -> None:
        task = asyncio.get_running_loop().create_task(write)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def finish_series(self) -> None:
        """Close what has been quiet for 6 minutes: a series gets its last write, and both
        are forgotten (client-go's finishSeries)."""
        cutoff = self._clock() - FINISH_AFTER
        for key, cached in list(self._cache.items()):
            series = cached.get("series")
            last = series["lastObservedTime"] if series else cached["eventTime"]
            if _parse_micro_time(last) >= cutoff:
                continue
            del self._cache[key]
            if series is not None:
                self._spawn(self._write(copy.deepcopy(cached)))

    def refresh_series(self) -> None:
        """Rewrite every open series with its count so far (client-go's refresh)."""
        for cached in self._cache.values():
            if cached.get("series") is not None:
                self._spawn(self._write(copy.deepcopy(cached)))

    async def _maintain(self) -> None:
        finish = FINISH_AFTER.total_seconds()
        refresh_every = int(REFRESH_EVERY / FINISH_AFTER)
        rounds = 0
        while True:
            await asyncio.sleep(finish)
            rounds += 1
            if rounds % refresh_every == 0:
                self.refresh_series()
            self.finish_series()

    async def _write(self, body: dict[str, Any]) -> None:
        for attempt in range(MAX_TRIES):
            try:
                await self._send(body)
                self.written += 1
                return
            except ApiStatusError as err:
                if err.code == 409 and body.get("series") is not None:
                    # The series' first event was being created at the same moment: retry.
                    pass
                else:
                    self.failed += 1
                    log.warning(
                        "event %s for %s not written: %s", body["reason"], body["regarding"], err
                    )
                    return
            except ApiUnavailable as err:
                log.warning("event %s not written yet (%s), will retry", body["reason"], err)
            if attempt + 1 < MAX_TRIES:
                await asyncio.sleep(self._retry_sleep * random.uniform(1.0, 1.25))
        self.failed += 1
        log.warning("event %s for %s not written: retry limit", body["reason"], body["regarding"])

    async def _send(self, body: dict[str, Any]) -> None:
        meta = body["metadata"]
        namespace = meta["namespace"]
        series = body.get("series")
        if series is not None:
            try:
                await self.client.patch(EVENTS.item(namespace, meta["name"]), {"series": series})
                return
            except ApiStatusError as err:
                if err.code != 404:
                    raise
        fresh = {**body, "metadata": {k: v for k, v in meta.items() if k != "resourceVersion"}}
        await self.client.create(EVENTS.collection(namespace), fresh)

    def scheduled(self, pod: KubeDict, node: str) -> None:
        meta = pod.get("metadata", {})
        note = f"Successfully assigned {meta.get('namespace')}/{meta.get('name')} to {node}"
        self.record(pod, type_=NORMAL, reason="Scheduled", action="Binding", note=note)

    def failed_scheduling(self, pod: KubeDict, message: str) -> None:
        self.record(
            pod, type_=WARNING, reason="FailedScheduling", action="Scheduling", note=message
        )

    def preempted(self, victim: KubeDict, preemptor_uid: str, node: str) -> None:
        note = f"Preempted by pod {preemptor_uid} on node {node}"
        self.record(victim, type_=NORMAL, reason="Preempted", action="Preempting", note=note)

    def binding_conditions_pending(self, pod: KubeDict, node: str) -> None:
        note = f"waiting for binding conditions for device on node {node}"
        self.record(
            pod, type_=NORMAL, reason="BindingConditionsPending", action="Binding", note=note
        )

    def foreign_allocation(self, claim: KubeDict, holders: str) -> None:
        note = (
            f"allocated on a pool of a node dralloc owns, reserved for pods of another "
            f"scheduler: {holders}"
        )
        self.record(
            claim, type_=WARNING, reason="ForeignAllocation", action="Scheduling", note=note
        )

    async def drain(self, timeout: float) -> None:
        """Wait (bounded) for the writes in flight, as a shutdown does; series still open
        keep the count last written."""
        if self._maintenance is not None:
            self._maintenance.cancel()
            self._maintenance = None
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)


def _parse_micro_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
