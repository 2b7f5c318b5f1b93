"""A JobSet controller (`--controllers jobset`): the JobSet project's controller
(sigs.k8s.io/jobset v0.11.1, API jobset.x-k8s.io/v1alpha2) for the Jobs, the Service and the
status it writes. The Jobs' pods are then made by a Job controller (`--controllers job`, or
kube-controller-manager's).

`plan_jobset` is the pure part, over the Jobs the JobSet controls (its `reconcile`):

* for each ReplicatedJob, `replicas` Jobs `<jobset>-<rjob>-<index>` (`constructJob`): the
  template's labels, annotations and spec, a controller reference to the JobSet, and on the
  Job and its pod template the labels and annotations of the offline controller
  (`jobset_values`: jobset-name, replicatedjob-name, replicatedjob-replicas, global-replicas,
  job-index, job-global-index, job-key, restart-attempt, coordinator, jobset-uid, group-name,
  group-replicas, job-group-index; `exclusive_annotations`);
  the pods' `subdomain` with DNS hostnames, the exclusive nodeSelector strategy's selector and
  toleration, `suspend` from the JobSet;
* with `network.enableDNSHostnames` (default true) the headless Service named like the
  subdomain (`clusterIP: None`, selector `jobset-name`, `publishNotReadyAddresses`, default
  true), owned by the JobSet;
* `status.replicatedJobsStatus` (per ReplicatedJob, in spec order: Jobs ready, succeeded,
  failed, active, suspended), `restarts`, `restartsCountTowardsMax`, `terminalState`;
* a failed Job fails the JobSet (`Failed`, reason `FailedJobs`) without a failure policy;
  with one, `maxRestarts` restarts it (`restarts` and `restartsCountTowardsMax` go up, every
  Job of an earlier attempt is deleted with foreground propagation and made again) until
  `ReachedMaxRestarts` fails it; enough successful Jobs (`successPolicy` `All` or `Any` over
  `targetReplicatedJobs`) complete it (`Completed`, reason `AllJobsCompleted`); a finished
  JobSet has its active Jobs deleted.

The JobSet webhook does not run in a cluster of dralloc's, so what it defaults is applied to
the Jobs made (`completionMode: Indexed`, `restartPolicy: OnFailure`, DNS hostnames on).

* active Jobs follow the JobSet's `suspend`; a resumed Job gets its ReplicatedJob's pod
  template labels, annotations, nodeSelector, tolerations and scheduling gates merged in (so
  what Kueue injects into a queued JobSet reaches its pods) and its `startTime` cleared first.

Not modelled: failure policy `rules` (every failure takes the default `RestartJobSet`
action), `startupPolicy: InOrder` and `dependsOn` (every Job is created at once),
`ttlSecondsAfterFinished`, `volumeClaimPolicies`, in-place
restarts, the coordinator's and exclusive placement's pod webhook, Events.

Owns its queue and its index of Jobs by JobSet; the informers own the objects.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import msgspec

from dralloc.api.io import from_server
from dralloc.api.validation.times import format_time
from dralloc.api.workloads import JOBSET_API_VERSION, JobSet, apply_workload_defaults
from dralloc.controllers.workloads.jobset import (
    EXCLUSIVE_KEY,
    JOBSET_CONTROLLER_NAME,
    JOBSET_NAME_KEY,
    NAMESPACED_JOB_KEY,
    NO_SCHEDULE_TAINT_KEY,
    NODE_SELECTOR_STRATEGY_KEY,
    REPLICATED_JOB_NAME_KEY,
    RESTARTS_KEY,
    exclusive_annotations,
    is_dns_hostnames_enabled,
    job_name,
    jobset_values,
    subdomain_of,
)
from dralloc.kube.client import JOBS, MERGE_PATCH, ApiStatusError, KubeClient, KubeDict, Resource
from dralloc.kube.controllers.base import (
    FuncHandler,
    ReverseIndex,
    SyncError,
    controller_of,
    is_being_deleted,
    metadata,
    name_of,
    namespace_of,
    run_worker,
    uid_of,
    wait_for_informers,
)
from dralloc.kube.controllers.owned import is_controlled_by
from dralloc.kube.controllers.workqueue import WorkQueue
from dralloc.kube.informer import object_key
from dralloc.kube.shared_informers import SharedInformers

log = logging.getLogger(__name__)

NAME = "jobset"
JOBSETS = Resource(JOBSET_API_VERSION, "jobsets", "JobSet")
SERVICES = Resource("v1", "services", "Service")
COMPLETED = "Completed"
FAILED = "Failed"
FAILED_JOBS_REASON = "FailedJobs"
FAILED_JOBS_MESSAGE = "jobset failed due to one or more job failures"
MAX_RESTARTS_REASON = "ReachedMaxRestarts"
MAX_RESTARTS_MESSAGE = "jobset failed due to reaching max number of restarts"
COMPLETED_REASON = "AllJobsCompleted"
COMPLETED_MESSAGE = "jobset completed successfully"


@dataclass(frozen=True)
class JobSetPlan:
    """One sync of a JobSet: Jobs to create (bodies), Jobs to delete, the headless Service to
    create, and the JobSet's whole new status (None when unchanged)."""

    create: tuple[KubeDict, ...] = ()
    delete: tuple[KubeDict, ...] = ()
    service: KubeDict | None = None
    status: KubeDict | None = None
    # (Job, merge patch): Jobs suspended with their JobSet, or resumed with it.
    update: tuple[tuple[KubeDict, KubeDict], ...] = ()


def decode_jobset(raw: KubeDict) -> JobSet:
    """The JobSet as dralloc's struct, defaulted as its webhook would have."""
    try:
        jobset = from_server(raw, JobSet)
    except (msgspec.ValidationError, ValueError, TypeError) as err:
        raise SyncError(f"JobSet {object_key(raw)}: cannot be read: {err}") from err
    apply_workload_defaults(jobset)
    return jobset


def _controller_ref(raw: KubeDict) -> dict[str, Any]:
    return {
        "apiVersion": JOBSETS.api_version,
        "kind": JOBSETS.kind,
        "name": name_of(raw),
        "uid": uid_of(raw),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _labelled(meta: dict[str, Any], values: dict[str, str], extra: dict[str, str]) -> None:
    meta["labels"] = {**(meta.get("labels") or {}), **values}
    meta["annotations"] = {**(meta.get("annotations") or {}), **values, **extra}


def new_job(raw: KubeDict, jobset: JobSet, rjob_index: int, index: int) -> KubeDict:
    """Job `index` of the ReplicatedJob at `rjob_index` (`constructJob`), from the template
    as the server sent it."""
    rjob = jobset.spec.replicated_jobs[rjob_index]
    raw_rjob = ((raw.get("spec") or {}).get("replicatedJobs") or [])[rjob_index]
    template = copy.deepcopy(raw_rjob.get("template") or {})
    values = jobset_values(jobset, rjob, index)
    extra = exclusive_annotations(jobset, rjob)
    template_meta = template.get("metadata") or {}
    meta: dict[str, Any] = {
        "name": job_name(name_of(raw), rjob.name, index),
        "namespace": namespace_of(raw),
        "ownerReferences": [_controller_ref(raw)],
    }
    for key in ("labels", "annotations"):
        if template_meta.get(key):
            meta[key] = dict(template_meta[key])
    _labelled(meta, values, extra)
    spec = template.get("spec") or {}
    spec.setdefault("completionMode", "Indexed")
    pod_template = spec.setdefault("template", {})
    _labelled(pod_template.setdefault("metadata", {}), values, extra)
    pod_spec = pod_template.setdefault("spec", {})
    pod_spec.setdefault("restartPolicy", "OnFailure")
    if is_dns_hostnames_enabled(jobset):
        pod_spec["subdomain"] = subdomain_of(jobset)
    if EXCLUSIVE_KEY in meta["annotations"] and NODE_SELECTOR_STRATEGY_KEY in meta["annotations"]:
        selector = pod_spec.setdefault("nodeSelector", {})
        selector[NAMESPACED_JOB_KEY] = f"{namespace_of(raw)}_{meta['name']}"
        pod_spec.setdefault("tolerations", []).append(
            {"key": NO_SCHEDULE_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}
        )
    spec["suspend"] = bool(jobset.spec.suspend)
    return {"apiVersion": JOBS.api_version, "kind": JOBS.kind, "metadata": meta, "spec": spec}


def headless_service(raw: KubeDict, jobset: JobSet) -> KubeDict:
    """The Service that gives the pods DNS names (`createHeadlessSvcIfNecessary`)."""
    network = (raw.get("spec") or {}).get("network") or {}
    publish = network.get("publishNotReadyAddresses")
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": subdomain_of(jobset),
            "namespace": namespace_of(raw),
            "ownerReferences": [_controller_ref(raw)],
        },
        "spec": {
            "clusterIP": "None",
            "selector": {JOBSET_NAME_KEY: name_of(raw)},
            "publishNotReadyAddresses": True if publish is None else bool(publish),
        },
    }


def _conditions(obj: KubeDict) -> list[dict[str, Any]]:
    found = (obj.get("status") or {}).get("conditions")
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []


def _has_condition(obj: KubeDict, kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True" for c in _conditions(obj))


def job_finished(job: KubeDict) -> str:
    """`Complete`, `Failed`, or "" for a Job still running (`JobFinished`)."""
    for kind in ("Complete", "Failed"):
        if _has_condition(job, kind):
            return kind
    return ""


def _failure_time(job: KubeDict) -> str:
    for condition in _conditions(job):
        if condition.get("type") == "Failed" and condition.get("status") == "True":
            return str(condition.get("lastTransitionTime") or "")
    return ""


def _restarts_of(job: KubeDict) -> int:
    value = (metadata(job).get("labels") or {}).get(RESTARTS_KEY, "")
    return int(value) if str(value).isdigit() else -1


def replicated_jobs_status(
    jobset: JobSet, active: list[KubeDict], successful: list[KubeDict], failed: list[KubeDict]
) -> list[dict[str, Any]]:
    """`status.replicatedJobsStatus` (`calculateReplicatedJobStatuses`), in spec order."""
    counts = {
        r.name: {"ready": 0, "succeeded": 0, "failed": 0, "active": 0, "suspended": 0}
        for r in jobset.spec.replicated_jobs
    }

    def of(job: KubeDict) -> dict[str, int] | None:
        return counts.get(str((metadata(job).get("labels") or {}).get(REPLICATED_JOB_NAME_KEY)))

    for job in active:
        found = of(job)
        if found is None:
            continue
        spec = job.get("spec") or {}
        status = job.get("status") or {}
        pods = int(spec.get("parallelism", 1) or 0)
        if spec.get("completions") is not None:
            pods = min(pods, int(spec["completions"]))
        if int(status.get("succeeded", 0)) + int(status.get("ready", 0) or 0) >= pods:
            found["ready"] += 1
        if int(status.get("active", 0)) > 0:
            found["active"] += 1
        if spec.get("suspend"):
            found["suspended"] += 1
    for jobs, key in ((successful, "succeeded"), (failed, "failed")):
        for job in jobs:
            found = of(job)
            if found is not None:
                found[key] += 1
    return [{"name": name, **values} for name, values in counts.items()]


def _set_condition(
    status: dict[str, Any], kind: str, reason: str, message: str, stamp: str
) -> None:
    conditions = [dict(c) for c in status.get("conditions") or []]
    for condition in conditions:
        if condition.get("type") == kind:
            if condition.get("status") != "True":
                condition.update(
                    status="True", reason=reason, message=message, lastTransitionTime=stamp
                )
            break
    else:
        conditions.append(
            {
                "type": kind,
                "status": "True",
                "lastTransitionTime": stamp,
                "reason": reason,
                "message": message,
            }
        )
    status["conditions"] = conditions


def resume_patch(raw: KubeDict, job: KubeDict) -> KubeDict:
    """The merge patch that resumes a Job of an unsuspended JobSet (`resumeJob`): its
    ReplicatedJob's pod template labels, annotations, nodeSelector, tolerations and
    scheduling gates merged into the Job's (what Kueue injected into the JobSet reaches the
    pods), and `suspend: false`."""
    rjob_name = (metadata(job).get("labels") or {}).get(REPLICATED_JOB_NAME_KEY)
    rjobs = (raw.get("spec") or {}).get("replicatedJobs") or []
    rjob: dict[str, Any] = next((r for r in rjobs if r.get("name") == rjob_name), {})
    wanted = ((rjob.get("template") or {}).get("spec") or {}).get("template") or {}
    have = ((job.get("spec") or {}).get("template")) or {}
    template: dict[str, Any] = {}
    for key in ("labels", "annotations"):
        extra = (wanted.get("metadata") or {}).get(key) or {}
        if extra:
            template.setdefault("metadata", {})[key] = extra
    pod: dict[str, Any] = {}
    selector = (wanted.get("spec") or {}).get("nodeSelector") or {}
    if selector:
        pod["nodeSelector"] = selector
    for key in ("tolerations", "schedulingGates"):
        present = list((have.get("spec") or {}).get(key) or [])
        added = [t for t in (wanted.get("spec") or {}).get(key) or [] if t not in present]
        if added:
            pod[key] = present + added
    if pod:
        template["spec"] = pod
    spec: dict[str, Any] = {"suspend": False}
    if template:
        spec["template"] = template
    return {"spec": spec}


def _suspension_updates(
    raw: KubeDict, jobset: JobSet, live: Sequence[KubeDict]
) -> list[tuple[KubeDict, KubeDict]]:
    """Active Jobs follow their JobSet's `suspend` (`suspendJobs` / `resumeJobsIfNecessary`)."""
    suspend = bool(jobset.spec.suspend)
    out: list[tuple[KubeDict, KubeDict]] = []
    for job in live:
        suspended = bool((job.get("spec") or {}).get("suspend"))
        if suspend and not suspended:
            out.append((job, {"spec": {"suspend": True}}))
        elif not suspend and suspended:
            out.append((job, resume_patch(raw, job)))
    return out


def plan_jobset(
    raw: KubeDict, jobs: Sequence[KubeDict], has_service: bool, now: datetime
) -> JobSetPlan:
    """One sync of a JobSet over the Jobs it controls (see the module docstring)."""
    jobset = decode_jobset(raw)
    managed_by = jobset.spec.managed_by
    if is_being_deleted(raw) or (managed_by and managed_by != JOBSET_CONTROLLER_NAME):
        return JobSetPlan()
    stamp = format_time(now)
    old = raw.get("status") or {}
    status: dict[str, Any] = copy.deepcopy(old)
    status.setdefault("restarts", 0)
    restarts = int(status["restarts"])
    owned = [j for j in jobs if is_controlled_by(j, raw)]
    previous = [j for j in owned if _restarts_of(j) < restarts]
    current = [j for j in owned if _restarts_of(j) >= restarts]
    active = [j for j in current if not job_finished(j)]
    successful = [j for j in current if job_finished(j) == "Complete"]
    failed = [j for j in current if job_finished(j) == "Failed"]
    rjob_status = replicated_jobs_status(jobset, active, successful, failed)
    if rjob_status != old.get("replicatedJobsStatus"):
        status["replicatedJobsStatus"] = rjob_status

    def done(
        create: Sequence[KubeDict] = (),
        delete: Sequence[KubeDict] = (),
        service: KubeDict | None = None,
        update: Sequence[tuple[KubeDict, KubeDict]] = (),
    ) -> JobSetPlan:
        changed = status if status != old else None
        return JobSetPlan(tuple(create), tuple(delete), service, changed, tuple(update))

    live = [j for j in active if not is_being_deleted(j)]
    if _has_condition(raw, COMPLETED) or _has_condition(raw, FAILED):
        return done(delete=live)
    stale = [j for j in previous if not is_being_deleted(j)]
    if failed:
        first = min(failed, key=lambda j: (_failure_time(j) or "~", name_of(j)))
        policy = (raw.get("spec") or {}).get("failurePolicy")
        if policy is None:
            _fail(status, FAILED_JOBS_REASON, FAILED_JOBS_MESSAGE, first, stamp)
        elif int(status.get("restartsCountTowardsMax", 0)) >= int(policy.get("maxRestarts", 0)):
            _fail(status, MAX_RESTARTS_REASON, MAX_RESTARTS_MESSAGE, first, stamp)
        else:
            # failurePolicyRecreateAll: the next sync sees every Job as of an earlier attempt.
            status["restarts"] = restarts + 1
            status["restartsCountTowardsMax"] = int(status.get("restartsCountTowardsMax", 0)) + 1
        return done(delete=stale)
    policy = jobset.spec.success_policy
    if successful and policy is not None:
        targets = set(policy.target_replicated_jobs)
        matching = [
            j
            for j in successful
            if not targets
            or (metadata(j).get("labels") or {}).get(REPLICATED_JOB_NAME_KEY) in targets
        ]
        expected = (
            1
            if policy.operator == "Any"
            else sum(
                r.replicas for r in jobset.spec.replicated_jobs if not targets or r.name in targets
            )
        )
        if len(matching) >= expected:
            _set_condition(status, COMPLETED, COMPLETED_REASON, COMPLETED_MESSAGE, stamp)
            status["terminalState"] = COMPLETED
            return done(delete=stale)
    service = None
    if is_dns_hostnames_enabled(jobset) and not has_service:
        service = headless_service(raw, jobset)
    taken = {name_of(j) for j in owned}
    create = [
        new_job(raw, jobset, position, index)
        for position, rjob in enumerate(jobset.spec.replicated_jobs)
        for index in range(rjob.replicas)
        if job_name(name_of(raw), rjob.name, index) not in taken
    ]
    return done(create, stale, service, _suspension_updates(raw, jobset, live))


def _fail(status: dict[str, Any], reason: str, message: str, first: KubeDict, stamp: str) -> None:
    _set_condition(status, FAILED, reason, f"{message} (first failed job: {name_of(first)})", stamp)
    status["terminalState"] = FAILED


class JobSetController:
    """Runs `plan_jobset` for every JobSet that changed or whose Jobs changed.

    >>> controller = JobSetController(client, informers)   # doctest: +SKIP
    """

    name = NAME

    def __init__(
        self,
        client: KubeClient,
        informers: SharedInformers,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.client = client
        self.now = now
        self.jobsets = informers.informer(JOBSETS)
        self.jobs = informers.informer(JOBS)
        self.services = informers.informer(SERVICES)
        self.queue = WorkQueue("jobset")
        self.by_jobset = ReverseIndex()
        self.jobsets.add_handler(FuncHandler(self._jobset_changed, self._jobset_updated, _ignore))
        self.jobs.add_handler(
            FuncHandler(
                partial(self._child_changed, False),
                self._child_updated,
                partial(self._child_changed, True),
            )
        )
        self.services.add_handler(
            FuncHandler(
                partial(self._service_changed, False),
                lambda _, svc: self._service_changed(False, svc),
                partial(self._service_changed, True),
            )
        )

    async def run(self) -> None:
        await wait_for_informers((self.jobsets, self.jobs, self.services))
        for job in list(self.jobs.store.values()):
            self._child_changed(False, job)
        for jobset in list(self.jobsets.store.values()):
            self._jobset_changed(jobset)
        try:
            await run_worker(self.queue, self.sync, log)
        finally:
            self.queue.shut_down()

    def _jobset_changed(self, jobset: KubeDict) -> None:
        self.queue.add(object_key(jobset))

    def _jobset_updated(self, _: KubeDict, jobset: KubeDict) -> None:
        self.queue.add(object_key(jobset))

    def _owner_key(self, obj: KubeDict) -> str | None:
        ref = controller_of(obj)
        if (
            ref is None
            or ref.get("kind") != JOBSETS.kind
            or ref.get("apiVersion") != JOBSETS.api_version
        ):
            return None
        return f"{namespace_of(obj)}/{ref.get('name')}"

    def _child_changed(self, deleted: bool, job: KubeDict) -> None:
        owner = self._owner_key(job)
        if deleted:
            self.by_jobset.remove(object_key(job))
        else:
            self.by_jobset.set(object_key(job), [owner] if owner else [])
        if owner is not None:
            self.queue.add(owner)

    def _child_updated(self, _: KubeDict, job: KubeDict) -> None:
        self._child_changed(False, job)

    def _service_changed(self, deleted: bool, service: KubeDict) -> None:
        del deleted
        owner = self._owner_key(service)
        if owner is not None:
            self.queue.add(owner)

    async def sync(self, key: str) -> None:
        raw = self.jobsets.get(key)
        if raw is None:
            return
        jobs = [j for k in self.by_jobset.members(key) if (j := self.jobs.get(k)) is not None]
        namespace = namespace_of(raw)
        subdomain = subdomain_of(decode_jobset(raw))
        has_service = self.services.get(f"{namespace}/{subdomain}") is not None
        plan = plan_jobset(raw, jobs, has_service, self.now())
        for job in plan.delete:
            try:
                await self.client.delete(
                    JOBS.item(namespace, name_of(job)),
                    {
                        "apiVersion": "v1",
                        "kind": "DeleteOptions",
                        "propagationPolicy": "Foreground",
                        "preconditions": {"uid": uid_of(job)},
                    },
                )
            except ApiStatusError as err:
                if not (err.is_not_found or err.is_conflict):
                    raise
        for job, patch in plan.update:
            if (job.get("status") or {}).get("startTime") and not patch["spec"]["suspend"]:
                # The API server lets a suspended Job's template change only if it never
                # started: the JobSet controller clears startTime first, as upstream does.
                await self.client.patch(
                    JOBS.item(namespace, name_of(job), "status"),
                    {"status": {"startTime": None}},
                    content_type=MERGE_PATCH,
                )
            patch = {**patch, "metadata": {"resourceVersion": metadata(job).get("resourceVersion")}}
            await self.client.patch(
                JOBS.item(namespace, name_of(job)), patch, content_type=MERGE_PATCH
            )
        if plan.service is not None:
            await self._create(SERVICES, namespace, plan.service)
        for job in plan.create:
            await self._create(JOBS, namespace, job)
        if plan.status is not None:
            updated = dict(raw)
            updated["status"] = plan.status
            await self.client.update(JOBSETS.item(namespace, name_of(raw), "status"), updated)

    async def _create(self, resource: Resource, namespace: str, body: KubeDict) -> None:
        try:
            await self.client.create(resource.collection(namespace), body)
        except ApiStatusError as err:
            if not err.is_conflict:
                raise
            # Made by an earlier sync the informer has not shown yet, or someone else's: the
            # informer's next event settles which.
            log.info("jobset: %s %s/%s exists already", resource.kind, namespace, name_of(body))


def _ignore(_: KubeDict) -> None:
    return None
