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

Owns its queue and its creation expectations; the informers own the objects.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from dralloc.controllers.workloads.job import (
    COMPLETION_INDEX_KEY,
    JOB_CONTROLLER_NAME,
    pod_generate_name_with_index,
)
from dralloc.kube.client import JOBS, PODS, ApiStatusError, KubeClient, KubeDict
from dralloc.kube.controllers.base import (
    FuncHandler,
    ReverseIndex,
    controller_of,
    format_time,
    is_being_deleted,
    is_pod_active,
    is_pod_terminal,
    metadata,
    name_of,
    namespace_of,
    node_name_of,
    pod_phase,
    run_worker,
    uid_of,
    wait_for_informers,
)
from dralloc.kube.controllers.workqueue import WorkQueue
from dralloc.kube.informer import object_key
from dralloc.kube.shared_informers import SharedInformers

log = logging.getLogger(__name__)

NAME = "job"
DEFAULT_BACKOFF_LIMIT = 6
COMPLETION_INDEX_ENV = "JOB_COMPLETION_INDEX"
# Upstream's ExpectationsTimeout: a creation never observed stops blocking the Job after this.
EXPECTATIONS_TIMEOUT_SECONDS = 300.0
BACKOFF_LIMIT_MESSAGE = "Job has reached the specified backoff limit"
COMPLETIONS_MESSAGE = "Reached expected number of succeeded pods"


@dataclass(frozen=True)
class JobPlan:
    """What one sync of a Job does: pods to create (bodies to POST), pods to delete, and
    the Job's whole new `status` (None when it does not change)."""

    create: tuple[KubeDict, ...] = ()
    delete: tuple[KubeDict, ...] = ()
    status: KubeDict | None = None


def is_job_finished(job: KubeDict) -> bool:
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in _conditions(job)
    )


def is_controlled_by(pod: KubeDict, job: KubeDict) -> bool:
    ref = controller_of(pod)
    return ref is not None and ref.get("kind") == "Job" and ref.get("uid") == uid_of(job)


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
    """A new pod of the Job from its template (controller.GetPodFromTemplate, plus the
    completion index of an Indexed Job)."""
    template = (job.get("spec") or {}).get("template") or {}
    template_meta = template.get("metadata") or {}
    job_name = name_of(job)
    meta: dict[str, Any] = {
        "generateName": f"{job_name}-"
        if index is None
        else pod_generate_name_with_index(job_name, index),
        "namespace": namespace_of(job),
        "labels": dict(template_meta.get("labels") or {}),
        "annotations": dict(template_meta.get("annotations") or {}),
        "ownerReferences": [
            {
                "apiVersion": JOBS.api_version,
                "kind": JOBS.kind,
                "name": job_name,
                "uid": uid_of(job),
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }
    if template_meta.get("finalizers"):
        meta["finalizers"] = list(template_meta["finalizers"])
    spec = copy.deepcopy(template.get("spec") or {})
    if index is not None:
        meta["annotations"][COMPLETION_INDEX_KEY] = str(index)
        meta["labels"][COMPLETION_INDEX_KEY] = str(index)
        spec.setdefault("hostname", f"{job_name}-{index}")
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
    for key in ("annotations", "labels"):
        if not meta[key]:
            del meta[key]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def plan_job(job: KubeDict, pods: Sequence[KubeDict], now: datetime) -> JobPlan:
    """One sync of a Job over the pods it controls (see the module docstring)."""
    spec = job.get("spec") or {}
    managed_by = spec.get("managedBy")
    if (managed_by not in (None, JOB_CONTROLLER_NAME)) or is_job_finished(job):
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
            delete = sorted(active, key=_deletion_rank)[:surplus]
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
    status["ready"] = sum(1 for p in still_active if _is_ready(p))
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


def _is_ready(pod: KubeDict) -> bool:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return bool(condition.get("status") == "True")
    return False


def _deletion_rank(pod: KubeDict) -> tuple[int, int, str]:
    """Unscheduled before scheduled, Pending before Running, newer before older (a
    simplification of upstream's controller.ActivePods order)."""
    phase_rank = {"Pending": 0, "Unknown": 1, "Running": 2}.get(pod_phase(pod), 0)
    created = str(metadata(pod).get("creationTimestamp", ""))
    newer_first = "".join(chr(0x10FFFF - ord(c)) for c in created)
    return (1 if node_name_of(pod) else 0, phase_rank, newer_first)


@dataclass
class _Expected:
    adds: int
    deletes: int
    since: float


@dataclass
class Expectations:
    """Pods a Job's sync created or deleted that the pod informer has not shown yet
    (upstream's ControllerExpectations): until they show up, or `timeout` seconds pass, the
    Job is not managed again, so a sync racing its own informer never doubles its pods."""

    clock: Callable[[], float] = time.monotonic
    timeout: float = EXPECTATIONS_TIMEOUT_SECONDS
    _pending: dict[str, _Expected] = field(default_factory=dict)

    def expect(self, key: str, adds: int, deletes: int) -> None:
        self._pending[key] = _Expected(adds, deletes, self.clock())

    def observed_add(self, key: str) -> None:
        if key in self._pending:
            self._pending[key].adds -= 1

    def observed_delete(self, key: str) -> None:
        if key in self._pending:
            self._pending[key].deletes -= 1

    def is_satisfied(self, key: str) -> bool:
        expected = self._pending.get(key)
        if expected is None:
            return True
        if expected.adds <= 0 and expected.deletes <= 0:
            return True
        return self.clock() - expected.since > self.timeout

    def forget(self, key: str) -> None:
        self._pending.pop(key, None)


class JobController:
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
        self.client = client
        self.now = now
        self.jobs = informers.informer(JOBS)
        self.pods = informers.informer(PODS)
        self.queue = WorkQueue("job")
        self.expectations = Expectations(clock)
        self.pods_by_job = ReverseIndex()
        self.jobs.add_handler(
            FuncHandler(self._job_changed, lambda _, job: self._job_changed(job), self._job_gone)
        )
        self.pods.add_handler(
            FuncHandler(
                partial(self._pod_changed, None),
                self._pod_changed,
                self._pod_deleted,
            )
        )

    async def run(self) -> None:
        await wait_for_informers((self.jobs, self.pods))
        for pod in list(self.pods.store.values()):
            self._index(pod)
        for job in list(self.jobs.store.values()):
            self._job_changed(job)
        try:
            await run_worker(self.queue, self.sync, log)
        finally:
            self.queue.shut_down()

    def _job_changed(self, job: KubeDict) -> None:
        self.queue.add(object_key(job))

    def _job_gone(self, job: KubeDict) -> None:
        self.expectations.forget(object_key(job))
        self.queue.add(object_key(job))

    def _job_key(self, pod: KubeDict) -> str | None:
        ref = controller_of(pod)
        if ref is None or ref.get("kind") != "Job" or ref.get("apiVersion") != "batch/v1":
            return None
        return f"{namespace_of(pod)}/{ref.get('name')}"

    def _index(self, pod: KubeDict) -> str | None:
        key = self._job_key(pod)
        self.pods_by_job.set(object_key(pod), [key] if key else [])
        return key

    def _pod_changed(self, old: KubeDict | None, pod: KubeDict) -> None:
        key = self._index(pod)
        if key is None:
            return
        if old is None:
            self.expectations.observed_add(key)
        elif is_being_deleted(pod) and not is_being_deleted(old):
            self.expectations.observed_delete(key)
        self.queue.add(key)

    def _pod_deleted(self, pod: KubeDict) -> None:
        self.pods_by_job.remove(object_key(pod))
        key = self._job_key(pod)
        if key is None:
            return
        # Counted even if its deletionTimestamp was seen before: an unscheduled pod goes at
        # once, with no update in between. Counting twice only ends the wait sooner.
        self.expectations.observed_delete(key)
        self.queue.add(key)

    async def sync(self, key: str) -> None:
        job = self.jobs.get(key)
        if job is None:
            self.expectations.forget(key)
            return
        pods = [p for k in self.pods_by_job.members(key) if (p := self.pods.get(k)) is not None]
        if not self.expectations.is_satisfied(key):
            # Pods created or deleted earlier are not in the informer yet: counting now
            # would count them twice. Their events bring the Job back.
            return
        plan = plan_job(job, pods, self.now())
        namespace = namespace_of(job)
        self.expectations.expect(key, len(plan.create), len(plan.delete))
        for body in plan.create:
            try:
                await self.client.create(PODS.collection(namespace), body)
            except ApiStatusError:
                self.expectations.observed_add(key)
                raise
        for pod in plan.delete:
            try:
                await self.client.delete(PODS.item(namespace, name_of(pod)))
            except ApiStatusError as err:
                self.expectations.observed_delete(key)
                if not err.is_not_found:
                    raise
        if plan.status is not None:
            updated = dict(job)
            updated["status"] = plan.status
            await self.client.update(JOBS.item(namespace, name_of(job), "status"), updated)
