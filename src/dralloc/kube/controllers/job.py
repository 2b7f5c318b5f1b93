"""A minimal batch/v1 Job controller for clusters without kube-controller-manager
(`--controllers job`, spec/cluster-mode.md section 5: enough for queueing tests).

`plan_job` is the pure part: from a Job and the pods it controls it decides which pods to
create, which to delete and the Job's new status; `JobController` runs it per Job key and
writes the result. What it does, as kube-controller-manager's job controller does:

* keeps `min(parallelism, completions - succeeded)` pods active (`parallelism` for a
  work-queue Job without `completions` until one pod has succeeded); surplus pods go first
  if unscheduled, then newest first;
* pods from the Job's template as sent by the server (labels `batch.kubernetes.io/job-name`
  and `batch.kubernetes.io/controller-uid`, and their legacy forms, come from the template the
  API server completed), `generateName: <job>-`, a controller owner reference to the Job;
  Indexed Jobs give each pod its completion index (annotation, label, hostname, the
  `JOB_COMPLETION_INDEX` variable) and `generateName: <job>-<index>-`;
* `status.active`, `ready`, `terminating`, `succeeded`, `failed`, `startTime`,
  `completedIndexes`; more failed pods than `backoffLimit` (default 6) fail the Job:
  `FailureTarget`, then `Failed` once no pod is left running, reason `BackoffLimitExceeded`;
  enough successes complete it: `SuccessCriteriaMet`, then `Complete` and `completionTime`.
  The interim conditions come first because the API server refuses a terminal one without them.
* a suspended Job has its active pods deleted; a Job with `spec.managedBy` naming another
  controller is left alone.

Not modelled: the pod-tracking finalizer (`batch.kubernetes.io/job-tracking`; counts come
from the pods that exist, never decreasing, as before Kubernetes 1.26), the delay before
replacing failed pods, pod failure and success policies, per-index backoff,
`activeDeadlineSeconds`, `ttlSecondsAfterFinished`.

The loop around the plan (informers, queue, expectations, writes) is `PodOwnerController`'s.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from dralloc.api.validation.times import format_time
from dralloc.controllers.workloads.job import (
    COMPLETION_INDEX_KEY,
    JOB_CONTROLLER_NAME,
    pod_generate_name_with_index,
)
from dralloc.kube.client import JOBS, KubeClient, KubeDict
from dralloc.kube.controllers.base import (
    is_being_deleted,
    is_pod_active,
    is_pod_terminal,
    metadata,
    name_of,
    pod_phase,
    uid_of,
)
from dralloc.kube.controllers.owned import (
    PodOwnerController,
    PodsPlan,
    deletion_rank,
    is_controlled_by,
    is_pod_ready,
    pod_from_template,
)
from dralloc.kube.shared_informers import SharedInformers

log = logging.getLogger(__name__)

NAME = "job"
DEFAULT_BACKOFF_LIMIT = 6
COMPLETION_INDEX_ENV = "JOB_COMPLETION_INDEX"
BACKOFF_LIMIT_MESSAGE = "Job has reached the specified backoff limit"
COMPLETIONS_MESSAGE = "Reached expected number of succeeded pods"


JobPlan = PodsPlan


def is_job_finished(job: KubeDict) -> bool:
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in _conditions(job)
    )


def completion_index(pod: KubeDict) -> int | None:
    value = (metadata(pod).get("annotations") or {}).get(COMPLETION_INDEX_KEY)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def parse_indexes(text: str) -> set[int]:
    """`"0-2,5"` as the API server writes `completedIndexes`.

    >>> sorted(parse_indexes("0-2,5"))
    [0, 1, 2, 5]
    """
    found: set[int] = set()
    for part in filter(None, (text or "").split(",")):
        low, _, high = part.partition("-")
        if low.isdigit() and (not high or high.isdigit()):
            found.update(range(int(low), int(high or low) + 1))
    return found


def format_indexes(indexes: Iterable[int]) -> str:
    """Sorted indexes with runs as intervals.

    >>> format_indexes([5, 0, 1, 2])
    '0-2,5'
    """
    ordered = sorted(set(indexes))
    parts: list[str] = []
    start = 0
    while start < len(ordered):
        end = start
        while end + 1 < len(ordered) and ordered[end + 1] == ordered[end] + 1:
            end += 1
        low, high = ordered[start], ordered[end]
        parts.append(str(low) if low == high else f"{low}-{high}")
        start = end + 1
    return ",".join(parts)


def pod_for_job(job: KubeDict, index: int | None = None) -> KubeDict:
    """A new pod of the Job from its template, with the completion index of an Indexed Job."""
    if index is None:
        return pod_from_template(job, JOBS)
    pod = pod_from_template(job, JOBS, pod_generate_name_with_index(name_of(job), index))
    meta = pod["metadata"]
    meta.setdefault("annotations", {})[COMPLETION_INDEX_KEY] = str(index)
    meta.setdefault("labels", {})[COMPLETION_INDEX_KEY] = str(index)
    spec = pod["spec"]
    spec.setdefault("hostname", f"{name_of(job)}-{index}")
    for group in ("initContainers", "containers"):
        for container in spec.get(group) or []:
            env = container.setdefault("env", [])
            if not any(e.get("name") == COMPLETION_INDEX_ENV for e in env):
                env.append(
                    {
                        "name": COMPLETION_INDEX_ENV,
                        "valueFrom": {
                            "fieldRef": {
                                "fieldPath": f"metadata.annotations['{COMPLETION_INDEX_KEY}']"
                            }
                        },
                    }
                )
    return pod


def plan_job(job: KubeDict, pods: Sequence[KubeDict], now: datetime) -> JobPlan:
    """One sync of a Job over the pods it controls (see the module docstring)."""
    spec = job.get("spec") or {}
    managed_by = spec.get("managedBy")
    if managed_by not in (None, JOB_CONTROLLER_NAME) or is_job_finished(job):
        return JobPlan()
    if is_being_deleted(job):
        # Its pods go with it (the garbage collector's business): never replace them.
        return JobPlan()
    old_status = job.get("status") or {}
    status = copy.deepcopy(old_status)
    stamp = format_time(now)
    owned = [p for p in pods if is_controlled_by(p, job)]
    active = [p for p in owned if is_pod_active(p)]
    terminating = [p for p in owned if is_being_deleted(p) and not is_pod_terminal(p)]
    succeeded_pods = [p for p in owned if pod_phase(p) == "Succeeded"]
    failed_pods = [p for p in owned if pod_phase(p) == "Failed"]
    indexed = spec.get("completionMode") == "Indexed"
    parallelism = int(spec.get("parallelism", 1) or 0)
    completions = spec.get("completions")
    backoff_limit = int(spec.get("backoffLimit", DEFAULT_BACKOFF_LIMIT))
    suspended = bool(spec.get("suspend"))

    done_indexes: set[int] = set()
    if indexed:
        done_indexes = parse_indexes(str(old_status.get("completedIndexes", "")))
        done_indexes.update(
            i
            for i in map(completion_index, succeeded_pods)
            if i is not None and i < int(completions or 0)
        )
        succeeded = len(done_indexes)
    else:
        succeeded = max(int(old_status.get("succeeded", 0)), len(succeeded_pods))
    failed = max(int(old_status.get("failed", 0)), len(failed_pods))

    create: list[KubeDict] = []
    delete: list[KubeDict] = []
    conditions = [dict(c) for c in _conditions(job)]
    has = {c.get("type") for c in conditions if c.get("status") == "True"}

    if indexed:
        complete = completions is not None and succeeded >= int(completions)
    elif completions is not None:
        complete = succeeded >= int(completions)
    else:
        complete = succeeded > 0 and not active
    failing = "FailureTarget" in has or failed > backoff_limit

    if failing:
        delete = list(active)
        if "FailureTarget" not in has:
            conditions.append(_condition("FailureTarget", "BackoffLimitExceeded", stamp))
    elif complete or "SuccessCriteriaMet" in has:
        delete = list(active)
        if "SuccessCriteriaMet" not in has:
            conditions.append(_condition("SuccessCriteriaMet", "CompletionsReached", stamp))
    elif suspended:
        delete = list(active)
    else:
        if indexed:
            want = min(parallelism, max(0, int(completions or 0) - succeeded))
        elif completions is None:
            want = parallelism if succeeded == 0 else len(active)
        else:
            want = min(parallelism, max(0, int(completions) - succeeded))
        surplus = len(active) - want
        if surplus > 0:
            delete = sorted(active, key=deletion_rank)[:surplus]
        elif surplus < 0:
            if indexed:
                running = {completion_index(p) for p in active}
                missing = [
                    i
                    for i in range(int(completions or 0))
                    if i not in done_indexes and i not in running
                ]
                create = [pod_for_job(job, i) for i in missing[:-surplus]]
            else:
                create = [pod_for_job(job) for _ in range(-surplus)]

    deleted_uids = {uid_of(p) for p in delete}
    still_active = [p for p in active if uid_of(p) not in deleted_uids]
    status["active"] = len(still_active) + len(create)
    status["ready"] = sum(1 for p in still_active if is_pod_ready(p))
    status["terminating"] = len(terminating) + len(delete)
    status["succeeded"] = succeeded
    status["failed"] = failed
    if indexed:
        status["completedIndexes"] = format_indexes(done_indexes)
    if not suspended and not status.get("startTime"):
        status["startTime"] = stamp
    if not still_active and not create and not status["terminating"]:
        types = {c.get("type") for c in conditions if c.get("status") == "True"}
        if "FailureTarget" in types and "Failed" not in types:
            conditions.append(_condition("Failed", "BackoffLimitExceeded", stamp))
        elif "SuccessCriteriaMet" in types and "Complete" not in types:
            conditions.append(_condition("Complete", "CompletionsReached", stamp))
            status["completionTime"] = stamp
            status.setdefault("startTime", stamp)
    if conditions:
        status["conditions"] = conditions
    # Go's omitempty: zero counters are left out; `ready` and `terminating` are pointers, kept.
    for counter in ("active", "succeeded", "failed"):
        if not status[counter]:
            del status[counter]
    changed = status != old_status
    return JobPlan(tuple(create), tuple(delete), status if changed else None)


def _conditions(job: KubeDict) -> list[dict[str, Any]]:
    found = (job.get("status") or {}).get("conditions")
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []


def _condition(kind: str, reason: str, stamp: str) -> dict[str, Any]:
    message = BACKOFF_LIMIT_MESSAGE if reason == "BackoffLimitExceeded" else COMPLETIONS_MESSAGE
    return {
        "type": kind,
        "status": "True",
        "lastProbeTime": stamp,
        "lastTransitionTime": stamp,
        "reason": reason,
        "message": message,
    }


class JobController(PodOwnerController):
    """Runs `plan_job` for every Job that changed or whose pods changed.

    >>> controller = JobController(client, informers)   # doctest: +SKIP
    """

    name = NAME

    def __init__(
        self,
        client: KubeClient,
        informers: SharedInformers,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(client, informers, JOBS, plan_job, now=now, clock=clock)
