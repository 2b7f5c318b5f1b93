"""The queue controller's status writes besides a pass's Workload statuses, and its events
(`queue.py` decides when): Kueue's Workload events for what a status write changed
(`status_events`), `Finished=True` on the Workload of a finished job (`write_finished`), and
each ClusterQueue's status (`write_queue_statuses`: usage, pending and admitted counts,
Active; written only when something but a transition time changed).

Owns nothing: the informers own the objects, the event recorder its queue of events.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec

from dralloc.api.io import to_builtins
from dralloc.api.validation.times import format_time
from dralloc.kube.client import ApiStatusError, KubeClient, KubeDict
from dralloc.kube.controllers.base import name_of, namespace_of
from dralloc.kube.controllers.queueinput import CLUSTER_QUEUES, KUEUE_API_VERSION, WORKLOADS
from dralloc.kube.controllers.queueready import DEACTIVATED, PODS_READY_TIMEOUT
from dralloc.kube.events import EventRecorder
from dralloc.kube.informer import Informer
from dralloc.queueing import QueueConfig, QueueManager, QueueState, Workload, queue_statuses
from dralloc.queueing.objects import Condition

FINISHED = "Finished"


def normal_event(events: EventRecorder, regarding: KubeDict, reason: str, note: str) -> None:
    """A Normal event whose action is its reason, as Kueue records them."""
    events.record(regarding, type_="Normal", reason=reason, action=reason, note=note)


def status_events(events: EventRecorder, raw: KubeDict, old: Any, new: Any) -> None:
    """Kueue's Workload events for what changed from status `old` to `new`: QuotaReserved
    and Admitted, Preempted, EvictedDueToPodsReadyTimeout and EvictedDueToDeactivated...,
    and Pending with the reason's message."""

    def conditions(status: Any) -> dict[str, Any]:
        found = status.get("conditions") or [] if isinstance(status, dict) else []
        return {c.get("type"): c for c in found}

    before, after = conditions(old), conditions(new)
    raw = {**raw, "apiVersion": KUEUE_API_VERSION, "kind": "Workload"}
    for kind in ("QuotaReserved", "Admitted", "Preempted"):
        now, then = after.get(kind), before.get(kind)
        if (
            now is not None
            and now.get("status") == "True"
            and (then is None or then.get("status") != "True")
        ):
            normal_event(events, raw, kind, str(now.get("message", "")))
    evicted, then = after.get("Evicted"), before.get("Evicted")
    reason = str((evicted or {}).get("reason", ""))
    # workload.Evict's event (EvictedDueTo<reason>); preemption has its own above.
    if (
        evicted is not None
        and evicted.get("status") == "True"
        and (then is None or then.get("status") != "True")
        and (reason == PODS_READY_TIMEOUT or reason.startswith(DEACTIVATED))
    ):
        normal_event(events, raw, f"EvictedDueTo{reason}", str(evicted.get("message", "")))
    reserved = after.get("QuotaReserved")
    if reserved is not None and reserved.get("status") == "False":
        then = before.get("QuotaReserved")
        if then is None or then.get("message") != reserved.get("message"):
            normal_event(events, raw, "Pending", str(reserved.get("message", "")))


def is_job_finished(job: KubeDict) -> tuple[bool, bool]:
    """(finished, succeeded) of a Job (Complete / Failed) or JobSet (Completed / Failed)."""
    for condition in (job.get("status") or {}).get("conditions") or []:
        if not isinstance(condition, dict) or condition.get("status") != "True":
            continue
        kind = condition.get("type")
        if kind in ("Complete", "Completed"):
            return True, True
        if kind == "Failed":
            return True, False
    return False, False


async def write_finished(
    client: KubeClient, raw: KubeDict, workload: Workload, job: KubeDict, now: datetime
) -> None:
    """Finished=True on the Workload of a finished job (Kueue's reasons); its quota is
    released because finished Workloads are left out of the state."""
    _, succeeded = is_job_finished(job)
    stamp = format_time(now)
    condition = Condition(
        type=FINISHED,
        status="True",
        reason="Succeeded" if succeeded else "Failed",
        message="Job finished successfully" if succeeded else "Job failed",
        last_transition_time=stamp,
        observed_generation=workload.metadata.generation or None,
    )
    conditions = [c for c in workload.status.conditions if c.type != FINISHED]
    status = msgspec.structs.replace(workload.status, conditions=[*conditions, condition])
    body = copy.deepcopy(raw)
    body["status"] = to_builtins(status)
    await client.update(WORKLOADS.item(namespace_of(raw), name_of(raw), "status"), body)


async def write_queue_statuses(
    client: KubeClient,
    cluster_queues: Informer,
    config: QueueConfig,
    state: QueueState,
    manager: QueueManager,
    now: Callable[[], datetime],
) -> None:
    """Each ClusterQueue's status as `queue_statuses` says, where it changed; a condition
    keeps its transition time while its status stays."""
    statuses = queue_statuses(state, manager)
    for name, status in statuses.items():
        raw = cluster_queues.get(name)
        if raw is None:
            continue
        wanted = to_builtins(status)
        if config.fair_sharing:
            # A required field, omitted by the encoder when 0.
            wanted.setdefault("fairSharing", {}).setdefault("weightedShare", 0)
        else:
            # Kueue reports the share only when fair sharing is enabled.
            wanted.pop("fairSharing", None)
        current = raw.get("status") or {}
        if _without_times(current) == _without_times(wanted):
            continue
        for condition in wanted.get("conditions") or []:
            old = next(
                (c for c in current.get("conditions") or [] if c["type"] == condition["type"]),
                None,
            )
            if old is not None and old.get("status") == condition.get("status"):
                condition["lastTransitionTime"] = old.get("lastTransitionTime")
            else:
                condition["lastTransitionTime"] = format_time(now())
        body = copy.deepcopy(raw)
        body["status"] = wanted
        try:
            await client.update(CLUSTER_QUEUES.item(None, name, "status"), body)
        except ApiStatusError as err:
            if not err.is_not_found:
                raise


def _without_times(status: Any) -> Any:
    if isinstance(status, dict):
        return {k: _without_times(v) for k, v in status.items() if k != "lastTransitionTime"}
    if isinstance(status, list):
        return [_without_times(v) for v in status]
    return status
