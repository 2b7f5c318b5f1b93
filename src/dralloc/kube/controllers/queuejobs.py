"""The queue controller's writes to queued jobs (`queue.py` decides which): an admitted
Workload's job started as Kueue's integration starts it (`start_patch`: `suspend: false`, the
flavors' nodeLabels and tolerations, the podset label, the workload annotation and the
topology gate in each pod template, a partially admitted Job's `parallelism`), and a job
stopped as Kueue stops it (`JobWriter.stop`, the steps of `queuestop.stop_steps`). Every
write is a merge patch at the resourceVersion read, so a concurrent writer makes it fail with
a conflict and the pass runs again from the newer copy.

Owns nothing: the informers own the jobs.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from dralloc.controllers.queueplacement import PodSetInfo
from dralloc.kube.client import JOBS, ApiStatusError, KubeClient, KubeDict
from dralloc.kube.controllers.base import metadata, name_of, namespace_of
from dralloc.kube.controllers.jobset import JOBSETS
from dralloc.kube.controllers.queuestatus import normal_event
from dralloc.kube.controllers.queuestop import stop_steps
from dralloc.kube.events import EventRecorder
from dralloc.queueing import Workload

log = logging.getLogger(__name__)


def start_patch(job: KubeDict, workload: Workload, flavors: dict[str, Any]) -> KubeDict:
    """The merge patch that starts `job` as Kueue's integration does once `workload` is
    admitted: `suspend: false`, each pod set's template given what `PodSetInfo` says (the
    flavors' nodeLabels and tolerations, the podset label and workload annotation, and the
    topology scheduling gate for a pod set with a topology assignment), a partially admitted
    Job's `parallelism` set."""
    admission = workload.status.admission
    assignments = {a.name: a for a in admission.pod_set_assignments} if admission else {}
    spec = job.get("spec") or {}

    def template_patch(name: str, template: KubeDict) -> KubeDict:
        merged = copy.deepcopy(template)
        PodSetInfo.of(workload, name, flavors).apply_raw(merged)
        patch: KubeDict = {}
        for part, keys in (
            ("metadata", ("labels", "annotations")),
            ("spec", ("nodeSelector", "tolerations", "schedulingGates")),
        ):
            before, after = template.get(part) or {}, merged.get(part) or {}
            for key in keys:
                if after.get(key) != before.get(key):
                    # A merge patch merges maps key by key and replaces lists whole.
                    added = after[key]
                    if isinstance(added, dict):
                        old = before.get(key) or {}
                        added = {k: v for k, v in added.items() if old.get(k) != v}
                    patch.setdefault(part, {})[key] = added
        return patch

    out: KubeDict = {"suspend": False}
    if job.get("kind") == "JobSet":
        replicated = [copy.deepcopy(r) for r in spec.get("replicatedJobs") or []]
        changed = False
        for rj in replicated:
            job_spec = (rj.get("template") or {}).get("spec") or {}
            template = job_spec.get("template") or {}
            patch = template_patch(str(rj.get("name", "")), template)
            if patch:
                changed = True
                PodSetInfo.of(workload, str(rj.get("name", "")), flavors).apply_raw(
                    rj.setdefault("template", {}).setdefault("spec", {}).setdefault("template", {})
                )
        if changed:
            # A list is replaced whole by a merge patch: send it all.
            out["replicatedJobs"] = replicated
        return {"spec": out}
    patch = template_patch("main", spec.get("template") or {})
    if patch:
        out["template"] = patch
    psa = assignments.get("main")
    full = workload.spec.pod_sets[0].count if workload.spec.pod_sets else None
    if psa is not None and psa.count is not None and full is not None and psa.count < full:
        out["parallelism"] = psa.count
    return {"spec": out}


class JobWriter:
    """Patches and stops queued Jobs and JobSets (module docstring).

    >>> jobs = JobWriter(client, events)  # doctest: +SKIP
    >>> job, stopped = await jobs.stop(job, workload_raw, "Not admitted by cluster queue")
    ... # doctest: +SKIP
    """

    def __init__(self, client: KubeClient, events: EventRecorder) -> None:
        self.client = client
        self.events = events

    async def patch(
        self, job: KubeDict, patch: KubeDict, subresource: str | None = None
    ) -> KubeDict:
        """A merge patch on `job` at the resourceVersion read (a concurrent writer makes it
        fail with a conflict); the job as the server returns it."""
        resource = JOBSETS if job.get("kind") == "JobSet" else JOBS
        meta = {
            **(patch.get("metadata") or {}),
            "resourceVersion": metadata(job).get("resourceVersion"),
        }
        path = (
            resource.item(namespace_of(job), name_of(job), subresource)
            if subresource
            else resource.item(namespace_of(job), name_of(job))
        )
        updated = await self.client.patch(
            path, {**patch, "metadata": meta}, content_type="application/merge-patch+json"
        )
        return {**updated, "kind": job.get("kind")}

    async def stop(self, job: KubeDict, workload_raw: KubeDict, note: str) -> tuple[KubeDict, bool]:
        """Stop `job` as Kueue does (`queuestop.stop_steps`: suspended, a Job's
        `status.startTime` cleared so the API server lets its template change, the pod
        templates restored from the Workload); a Stopped event when it was running. The job
        as last written, and whether every step was done."""
        steps = stop_steps(job, workload_raw)
        running = not (job.get("spec") or {}).get("suspend")
        stopped = True
        for subresource, patch in steps:
            try:
                job = await self.patch(job, patch, "status" if subresource == "status" else None)
            except ApiStatusError as err:
                # Kubernetes 1.36 lets a started Job's template change only once it has no
                # active pods (MutableSchedulingDirectivesForSuspendedJobs): until the Job
                # controller has deleted them the restore is refused, and Kueue retries it.
                # The stopping annotation stays, so the job counts as not yet suspended and
                # its quota stays held; the Job's next status change starts a pass.
                if err.code != 422 or subresource != "spec":
                    raise
                log.info(
                    "queue: job %s/%s not restored yet: %s",
                    namespace_of(job),
                    name_of(job),
                    err.message,
                )
                stopped = False
                break
        if running and steps:
            normal_event(self.events, job, "Stopped", note)
        return job, stopped
