"""How the queue controller evicts a Workload, stops its job and gives its quota back, as
Kueue v0.17 does it in three separate steps (`QueueController.sync` calls them):

1. the scheduler's preemption (`mark_preempted`, Kueue's `Preemptor.IssuePreemptions` and
   `workload.Evict`): the victim gets Evicted=True (reason Preempted) and Preempted=True (the
   preemption's reason) and keeps its quota: `status.admission` and QuotaReserved=True stay,
   and its reservation stays charged to its ClusterQueue, flagged evicted (preemption counts
   it as already going, and a preemptor waiting on it stays "Pending the preemption of N
   workload(s)"); a victim already evicted is not evicted again;
2. the job reconciler's "handle eviction" step, for a Workload with Evicted=True: the job is
   stopped (`stop_steps`: a batch/v1 Job as its integration's `Stop` does it, suspended with
   the `kueue.x-k8s.io/stopping` annotation, its `status.startTime` cleared, then its pod
   template restored and the annotation dropped; a JobSet suspended and restored in one
   write, and left alone when already suspended);
3. in the same step, once the job is no longer active (`is_job_active`: a Job's
   `status.active` is 0, no JobSet replicated job has active pods), the quota is released
   (`release_evicted`): Requeued (True for Preempted and NodeFailures, False otherwise, with
   the eviction's reason and message), QuotaReserved=False with reason Pending and the
   eviction's message, `status.admission` cleared, Admitted=False. Only then can another
   Workload be admitted into that quota.

Restoring is Kueue's `RestorePodSetsInfo` (`restore_patch`): each pod template gets back the
labels, annotations, nodeSelector, tolerations and scheduling gates of the Workload's pod set
(`spec.podSets[].template`, what the job had before admission), so the flavors' nodeLabels and
tolerations, the `kueue.x-k8s.io/podset` label, the `kueue.x-k8s.io/workload` annotation and the
`kueue.x-k8s.io/topology` gate all go, and a readmission to another flavor injects only that
flavor's; the labels the Job controller manages (job name, controller uid) are kept from the
current template; a partially admitted Job (`kueue.x-k8s.io/job-min-parallelism`) gets back
its parallelism (and completions, with `kueue.x-k8s.io/job-completions-equal-parallelism`).

Pure computation on wire-form objects and Workloads; the controller does the writes.
"""

from __future__ import annotations

import copy
import dataclasses
from datetime import datetime
from typing import Any

from dralloc.api.validation.times import format_time
from dralloc.queueing import PendingReason, QueueState, Workload
from dralloc.queueing.cycle import NODE_FAILURES, cohort_path
from dralloc.queueing.jobs import MIN_PARALLELISM_ANNOTATION
from dralloc.queueing.objects import Condition
from dralloc.queueing.queues import QueuedWorkload
from dralloc.queueing.status import preemption_message, set_pending

KubeDict = dict[str, Any]

STOPPING_ANNOTATION = "kueue.x-k8s.io/stopping"
"""Kueue's Job integration marks a Job whose stop is under way (suspended, start time and pod
template not yet reset); such a Job does not count as suspended."""
COMPLETIONS_EQUAL_PARALLELISM_ANNOTATION = "kueue.x-k8s.io/job-completions-equal-parallelism"
# The Job controller's labels on a Job's pod template, kept when the template is restored.
MANAGED_LABELS = (
    "job-name",
    "controller-uid",
    "batch.kubernetes.io/job-name",
    "batch.kubernetes.io/controller-uid",
)
EVICTED = "Evicted"
PREEMPTED = "Preempted"
REQUEUED = "Requeued"


def is_evicted(workload: Workload) -> bool:
    found = workload.condition(EVICTED)
    return found is not None and found.status == "True"


def is_job_suspended(job: KubeDict) -> bool:
    """Kueue's `IsSuspended`: `spec.suspend`, and for a Job no stop under way."""
    if not (job.get("spec") or {}).get("suspend"):
        return False
    annotations = (job.get("metadata") or {}).get("annotations") or {}
    return job.get("kind") == "JobSet" or annotations.get(STOPPING_ANNOTATION) != "true"


def is_job_active(job: KubeDict) -> bool:
    """Kueue's `IsActive`: a Job with `status.active` > 0, a JobSet with a replicated job
    that has active pods. Pods being deleted are not active (the Job controller counts them
    as terminating), so quota is released once every pod is deleted, not once it is gone."""
    status = job.get("status") or {}
    if job.get("kind") == "JobSet":
        return any(
            int(r.get("active") or 0) > 0
            for r in status.get("replicatedJobsStatus") or []
            if isinstance(r, dict)
        )
    return int(status.get("active") or 0) != 0


def _put(workload: Workload, condition: Condition) -> None:
    # metav1's SetStatusCondition: the transition time changes only with the status.
    conditions = workload.status.conditions
    for i, existing in enumerate(conditions):
        if existing.type == condition.type:
            if existing.status == condition.status:
                condition.last_transition_time = existing.last_transition_time
            conditions[i] = condition
            return
    conditions.append(condition)


def mark_preempted(
    state: QueueState,
    victim: Workload,
    preemptor: QueuedWorkload | None,
    reason: str,
    now: datetime,
) -> bool:
    """Step 1 (module docstring). False when `victim` was already evicted (nothing done)."""
    if is_evicted(victim):
        return False
    key = f"{victim.metadata.namespace}/{victim.metadata.name}"
    reservation = state.reservations.get(key)
    message = preemption_message(
        preemptor.workload if preemptor is not None else Workload(),
        reason,
        cohort_path(state, preemptor.cluster_queue) if preemptor is not None else "",
        cohort_path(state, reservation.cluster_queue) if reservation is not None else "",
    )
    stamp = format_time(now)
    generation = victim.metadata.generation or None
    for type_, why in ((EVICTED, "Preempted"), (PREEMPTED, reason)):
        _put(
            victim,
            Condition(
                type=type_,
                status="True",
                reason=why,
                message=message,
                last_transition_time=stamp,
                observed_generation=generation,
            ),
        )
    if reservation is not None:
        state.reserve(dataclasses.replace(reservation, evicted=True))
    return True


def release_evicted(workload: Workload, now: datetime) -> None:
    """Step 3 (module docstring): the evicted Workload's reservation cleared."""
    evicted = workload.condition(EVICTED)
    reason = evicted.reason if evicted is not None else ""
    message = evicted.message if evicted is not None else ""
    requeued = reason in ("Preempted", NODE_FAILURES)
    _put(
        workload,
        Condition(
            type=REQUEUED,
            status="True" if requeued else "False",
            reason=reason,
            message=message,
            last_transition_time=format_time(now),
            observed_generation=workload.metadata.generation or None,
        ),
    )
    set_pending(workload, PendingReason.legacy_pending, message, now)


# ------------------------------------------------------------------------ restoring


def _pod_set_templates(workload_raw: KubeDict) -> list[tuple[str, KubeDict]]:
    pod_sets = (workload_raw.get("spec") or {}).get("podSets") or []
    return [
        (str(ps.get("name", "")), ps.get("template") or {})
        for ps in pod_sets
        if isinstance(ps, dict)
    ]


def restored_template(
    template: KubeDict, source: KubeDict, keep_labels: tuple[str, ...]
) -> KubeDict:
    """`template` with the five fields of Kueue's PodSetInfo set back to `source`'s
    (`podset.RestorePodSpec`); `keep_labels` are taken from `template` over `source`."""
    out = copy.deepcopy(template)
    meta, spec = out.setdefault("metadata", {}), out.setdefault("spec", {})
    src_meta, src_spec = source.get("metadata") or {}, source.get("spec") or {}
    labels = dict(src_meta.get("labels") or {})
    current = meta.get("labels") or {}
    labels.update({k: current[k] for k in keep_labels if k in current})
    for part, key, value in (
        (meta, "labels", labels),
        (meta, "annotations", dict(src_meta.get("annotations") or {})),
        (spec, "nodeSelector", dict(src_spec.get("nodeSelector") or {})),
        (spec, "tolerations", list(src_spec.get("tolerations") or [])),
        (spec, "schedulingGates", list(src_spec.get("schedulingGates") or [])),
    ):
        # Go's maps.Equal and slices.Equal hold nil and empty equal: an empty field is absent.
        if value:
            part[key] = copy.deepcopy(value)
        else:
            part.pop(key, None)
    return out


def _template_patch(before: KubeDict, after: KubeDict) -> KubeDict:
    """The JSON merge patch (RFC 7386) taking a pod template's five fields from `before` to
    `after`: maps key by key (null removes), lists whole."""
    patch: KubeDict = {}
    for part, keys in (
        ("metadata", ("labels", "annotations")),
        ("spec", ("nodeSelector", "tolerations", "schedulingGates")),
    ):
        old_part, new_part = before.get(part) or {}, after.get(part) or {}
        for key in keys:
            old, new = old_part.get(key) or None, new_part.get(key) or None
            if old == new:
                continue
            if isinstance(new, dict) and isinstance(old, dict):
                change: Any = {k: v for k, v in new.items() if old.get(k) != v}
                change.update({k: None for k in old if k not in new})
            else:
                change = new
            patch.setdefault(part, {})[key] = change
    return patch


def restore_patch(job: KubeDict, workload_raw: KubeDict) -> KubeDict:
    """The merge patch's `spec` restoring `job` from its Workload (module docstring); empty
    when the job already has what the Workload says."""
    spec = job.get("spec") or {}
    pod_sets = _pod_set_templates(workload_raw)
    if not pod_sets:
        return {}
    out: KubeDict = {}
    if job.get("kind") == "JobSet":
        replicated = copy.deepcopy(spec.get("replicatedJobs") or [])
        changed = False
        # By position, as Kueue's JobSet integration restores them.
        for rj, (_, source) in zip(replicated, pod_sets, strict=False):
            job_spec = rj.setdefault("template", {}).setdefault("spec", {})
            template = job_spec.get("template") or {}
            restored = restored_template(template, source, ())
            if restored != template:
                job_spec["template"] = restored
                changed = True
        if changed:
            # A list is replaced whole by a merge patch: send it all.
            out["replicatedJobs"] = replicated
        return out
    template = spec.get("template") or {}
    patch = _template_patch(template, restored_template(template, pod_sets[0][1], MANAGED_LABELS))
    if patch:
        out["template"] = patch
    annotations = (job.get("metadata") or {}).get("annotations") or {}
    count = ((workload_raw.get("spec") or {}).get("podSets") or [{}])[0].get("count")
    partial = MIN_PARALLELISM_ANNOTATION in annotations and count is not None
    if partial and spec.get("parallelism") != count:
        out["parallelism"] = count
        if annotations.get(COMPLETIONS_EQUAL_PARALLELISM_ANNOTATION) == "true":
            out["completions"] = count
    return out


def stop_steps(job: KubeDict, workload_raw: KubeDict | None) -> list[tuple[str, KubeDict]]:
    """The writes that stop `job` as Kueue does, given the job as last read: a list of
    ("spec" | "status", merge patch). For a Job: suspend with the stopping annotation (unless
    suspended already), clear `status.startTime` (when set), restore and drop the annotation
    (when either is needed); for a JobSet, nothing when suspended, else suspend and restore
    at once. The caller applies them in order, each on the object the previous returned."""
    restore = restore_patch(job, workload_raw) if workload_raw is not None else {}
    if job.get("kind") == "JobSet":
        if is_job_suspended(job):
            return []
        return [("spec", {"spec": {"suspend": True, **restore}})]
    steps: list[tuple[str, KubeDict]] = []
    annotations = (job.get("metadata") or {}).get("annotations") or {}
    # Kueue suspends again a Job whose stop was cut short (the annotation still on); the
    # write would change nothing, so only an unsuspended Job gets it.
    if not (job.get("spec") or {}).get("suspend"):
        steps.append(
            (
                "spec",
                {
                    "metadata": {"annotations": {STOPPING_ANNOTATION: "true"}},
                    "spec": {"suspend": True},
                },
            )
        )
    if (job.get("status") or {}).get("startTime"):
        steps.append(("status", {"status": {"startTime": None}}))
    stopping = bool(steps and steps[0][0] == "spec") or STOPPING_ANNOTATION in annotations
    if restore or stopping:
        last: KubeDict = {"spec": restore} if restore else {}
        if stopping:
            last["metadata"] = {"annotations": {STOPPING_ANNOTATION: None}}
        steps.append(("spec", last))
    return steps
