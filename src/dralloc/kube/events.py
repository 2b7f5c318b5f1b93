"""Events about pods, written as kube-scheduler writes them (events.k8s.io/v1, spec/cluster-mode.md
section 4.6; texts from spec/scheduler.md section 8): `Scheduled`, `FailedScheduling`,
`Preempted`, `BindingConditionsPending`, and dralloc's `ForeignAllocation` on claims.

Events are best effort: a write runs in its own task and a failure is logged, never raised
into the scheduling or binding cycle. Owns only its pending write tasks.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from datetime import UTC, datetime
from typing import Any

from dralloc.api.validation.times import format_micro_time
from dralloc.kube.client import EVENTS, ApiStatusError, ApiUnavailable, KubeClient, KubeDict

log = logging.getLogger(__name__)

NOTE_LIMIT = 1024
NORMAL = "Normal"
WARNING = "Warning"


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
    ) -> None:
        self.client = client
        self.reporting_controller = reporting_controller
        self.reporting_instance = (
            reporting_instance or f"{reporting_controller}-{socket.gethostname()}"
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self.written = 0
        self.failed = 0

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
        moment = now or datetime.now(UTC)
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
        """Write one event in the background."""
        body = self.event_body(regarding, type_=type_, reason=reason, action=action, note=note)
        task = asyncio.get_running_loop().create_task(self._write(body))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write(self, body: dict[str, Any]) -> None:
        namespace = body["metadata"]["namespace"]
        try:
            await self.client.create(EVENTS.collection(namespace), body)
            self.written += 1
        except (ApiStatusError, ApiUnavailable) as err:
            self.failed += 1
            log.warning("event %s for %s not written: %s", body["reason"], body["regarding"], err)

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
        """Wait (bounded) for the writes in flight, as a shutdown does."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
