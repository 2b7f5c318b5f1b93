"""The JobSet controller (sigs.k8s.io/jobset, API jobset.x-k8s.io/v1alpha2): for each
ReplicatedJob, `replicas` Jobs named `<jobset>-<replicatedJob>-<jobIndex>`, whose pods the Job
controller then makes.

Pure computation over an `ExpansionState`, no I/O. The JobSet is first defaulted as its
webhook does (ReplicatedJob templates become Indexed, DNS hostnames are on). Each Job
(`constructJob`) takes the ReplicatedJob template's labels, annotations and spec, and both the
Job and its pod template get the labels and annotations

* `jobset.sigs.k8s.io/jobset-name`, `replicatedjob-name`, `replicatedjob-replicas`,
  `global-replicas`, `job-index`, `job-global-index`, `restart-attempt`
  (`status.restarts`) and `job-key` (SHA-1 of `<namespace>/<job>`);
* `jobset.sigs.k8s.io/coordinator: <jobset>-<rjob>-<job>-<pod>.<subdomain>` with
  `spec.coordinator`;
* the exclusive-placement annotations (`alpha.jobset.sigs.k8s.io/exclusive-topology`,
  `.../node-selector`) from the JobSet or the ReplicatedJob template, with the
  nodeSelector strategy's `alpha.jobset.sigs.k8s.io/namespaced-job` node selector and
  `alpha.jobset.sigs.k8s.io/no-schedule` toleration.

With DNS hostnames the pods' `spec.subdomain` is `spec.network.subdomain` or the JobSet's
name. A Job is created suspended when the JobSet is. A controller reference points at the
JobSet. Input Jobs with the right names that the JobSet controls are kept, not made again.

Ordering: with `startupPolicy: InOrder` a ReplicatedJob's pods wait (`after`) for every pod of
the one before; `dependsOn: Ready` waits for the named ReplicatedJob's pods; `dependsOn:
Complete` is never met while no pod finishes, so those Jobs are a note, not created.

Not modelled: the pod webhook's affinity-based exclusive placement (pod affinities on
`job-key`), failure and success policies, restarts, TTL.
"""

from __future__ import annotations

import copy
import hashlib

import msgspec

from dralloc.api.core import Toleration
from dralloc.api.meta import ObjectMeta
from dralloc.api.workloads import (
    JOBSET_API_VERSION,
    Job,
    JobSet,
    ReplicatedJob,
    apply_workload_defaults,
)
from dralloc.controllers.workloads.job import admitted, sync_job
from dralloc.controllers.workloads.model import WorkloadRef
from dralloc.controllers.workloads.pods import controller_of, controller_ref, is_active
from dralloc.controllers.workloads.state import ExpansionState, is_owned_by

KIND = "JobSet"
JOBSET_NAME_KEY = "jobset.sigs.k8s.io/jobset-name"
REPLICATED_JOB_NAME_KEY = "jobset.sigs.k8s.io/replicatedjob-name"
REPLICATED_JOB_REPLICAS_KEY = "jobset.sigs.k8s.io/replicatedjob-replicas"
GLOBAL_REPLICAS_KEY = "jobset.sigs.k8s.io/global-replicas"
JOB_INDEX_KEY = "jobset.sigs.k8s.io/job-index"
JOB_GLOBAL_INDEX_KEY = "jobset.sigs.k8s.io/job-global-index"
# JobSet v0.11's group keys (replicated jobs grouped by `groupName`, "default" when unset).
JOBSET_UID_KEY = "jobset.sigs.k8s.io/jobset-uid"
GROUP_NAME_KEY = "jobset.sigs.k8s.io/group-name"
GROUP_REPLICAS_KEY = "jobset.sigs.k8s.io/group-replicas"
JOB_GROUP_INDEX_KEY = "jobset.sigs.k8s.io/job-group-index"
JOB_KEY = "jobset.sigs.k8s.io/job-key"
RESTARTS_KEY = "jobset.sigs.k8s.io/restart-attempt"
COORDINATOR_KEY = "jobset.sigs.k8s.io/coordinator"
EXCLUSIVE_KEY = "alpha.jobset.sigs.k8s.io/exclusive-topology"
NODE_SELECTOR_STRATEGY_KEY = "alpha.jobset.sigs.k8s.io/node-selector"
NAMESPACED_JOB_KEY = "alpha.jobset.sigs.k8s.io/namespaced-job"
NO_SCHEDULE_TAINT_KEY = "alpha.jobset.sigs.k8s.io/no-schedule"
JOBSET_CONTROLLER_NAME = "jobset.sigs.k8s.io/jobset-controller"


def job_name(jobset: str, replicated_job: str, index: int) -> str:
    """`<jobset>-<replicatedJob>-<index>` (`placement.GenJobName`)."""
    return f"{jobset}-{replicated_job}-{index}"


def job_key(namespace: str, name: str) -> str:
    """SHA-1 (hex) of `<namespace>/<job>`, the `jobset.sigs.k8s.io/job-key` value.

    >>> len(job_key("default", "js-a-0"))
    40
    """
    return hashlib.sha1(f"{namespace}/{name}".encode()).hexdigest()


def subdomain_of(jobset: JobSet) -> str:
    """`spec.network.subdomain`, or the JobSet's name."""
    network = jobset.spec.network
    return network.subdomain if network is not None and network.subdomain else jobset.metadata.name


def is_dns_hostnames_enabled(jobset: JobSet) -> bool:
    """`spec.network.enableDNSHostnames` (true once defaulted)."""
    network = jobset.spec.network
    return network is not None and bool(network.enable_dns_hostnames)


def _global_index(jobset: JobSet, replicated_job: str, index: int) -> str:
    seen = 0
    for rjob in jobset.spec.replicated_jobs:
        if rjob.name == replicated_job:
            return str(seen + index)
        seen += rjob.replicas
    return ""


def jobset_values(jobset: JobSet, rjob: ReplicatedJob, index: int) -> dict[str, str]:
    """The labels (also written as annotations) a JobSet gives Job `index` of `rjob` and its
    pod template (`labelAndAnnotateObject`, the keys dralloc models). `jobset` must be
    defaulted (`apply_workload_defaults`)."""
    js = jobset.metadata
    name = job_name(js.name, rjob.name, index)
    values = {
        JOBSET_NAME_KEY: js.name,
        REPLICATED_JOB_NAME_KEY: rjob.name,
        RESTARTS_KEY: str(jobset.status.restarts),
        REPLICATED_JOB_REPLICAS_KEY: str(rjob.replicas),
        GLOBAL_REPLICAS_KEY: str(sum(r.replicas for r in jobset.spec.replicated_jobs)),
        JOB_INDEX_KEY: str(index),
        JOB_KEY: job_key(js.namespace, name),
        JOB_GLOBAL_INDEX_KEY: _global_index(jobset, rjob.name, index),
        **_group_values(jobset, rjob, index),
    }
    coordinator = jobset.spec.coordinator
    if coordinator is not None:
        values[COORDINATOR_KEY] = (
            f"{js.name}-{coordinator.replicated_job}-{coordinator.job_index}-"
            f"{coordinator.pod_index}.{subdomain_of(jobset)}"
        )
    return values


def _group_values(jobset: JobSet, rjob: ReplicatedJob, index: int) -> dict[str, str]:
    """The group keys: the Job's index among the Jobs of its group, the group's size, and
    the JobSet's UID."""
    group = rjob.group_name
    before = 0
    for other in jobset.spec.replicated_jobs:
        if other.group_name != group:
            continue
        if other.name == rjob.name:
            break
        before += other.replicas
    total = sum(r.replicas for r in jobset.spec.replicated_jobs if r.group_name == group)
    return {
        JOBSET_UID_KEY: jobset.metadata.uid,
        GROUP_NAME_KEY: group,
        GROUP_REPLICAS_KEY: str(total),
        JOB_GROUP_INDEX_KEY: str(before + index),
    }


def exclusive_annotations(jobset: JobSet, rjob: ReplicatedJob) -> dict[str, str]:
    """The exclusive-placement annotations Job and pods take from the JobSet, then from the
    ReplicatedJob template (which wins)."""
    found: dict[str, str] = {}
    for source in (jobset.metadata.annotations, rjob.template.metadata.annotations):
        if EXCLUSIVE_KEY in source:
            found[EXCLUSIVE_KEY] = source[EXCLUSIVE_KEY]
            if NODE_SELECTOR_STRATEGY_KEY in source:
                found[NODE_SELECTOR_STRATEGY_KEY] = source[NODE_SELECTOR_STRATEGY_KEY]
    return found


def _label_and_annotate(
    meta: ObjectMeta, jobset: JobSet, rjob: ReplicatedJob, index: int
) -> ObjectMeta:
    """`meta` with the JobSet's labels and annotations (`labelAndAnnotateObject`)."""
    values = jobset_values(jobset, rjob, index)
    labels = {**meta.labels, **values}
    annotations = {**meta.annotations, **values, **exclusive_annotations(jobset, rjob)}
    return msgspec.structs.replace(meta, labels=labels, annotations=annotations)


def new_job(jobset: JobSet, rjob: ReplicatedJob, index: int, uid: str = "") -> Job:
    """The Job `index` of `rjob` (`constructJob`). `jobset` must be defaulted
    (`apply_workload_defaults`)."""
    js = jobset.metadata
    template = rjob.template
    metadata = ObjectMeta(
        name=job_name(js.name, rjob.name, index),
        namespace=js.namespace,
        uid=uid,
        labels=dict(template.metadata.labels),
        annotations=dict(template.metadata.annotations),
        owner_references=[controller_ref(JOBSET_API_VERSION, KIND, js)],
    )
    metadata = _label_and_annotate(metadata, jobset, rjob, index)
    spec = copy.deepcopy(template.spec)
    spec.template.metadata = _label_and_annotate(spec.template.metadata, jobset, rjob, index)
    if EXCLUSIVE_KEY in metadata.annotations and NODE_SELECTOR_STRATEGY_KEY in metadata.annotations:
        pod_spec = spec.template.spec
        pod_spec.node_selector[NAMESPACED_JOB_KEY] = f"{js.namespace}_{metadata.name}"
        pod_spec.tolerations.append(
            Toleration(key=NO_SCHEDULE_TAINT_KEY, operator="Exists", effect="NoSchedule")
        )
    spec.suspend = bool(jobset.spec.suspend)
    return Job(metadata=metadata, spec=spec)


def is_finished(jobset: JobSet) -> bool:
    return any(
        c.type in ("Completed", "Failed") and c.status == "True" for c in jobset.status.conditions
    )


def sync_jobset(
    jobset: JobSet, state: ExpansionState, owners: tuple[WorkloadRef, ...] = ()
) -> None:
    """Create the JobSet's Jobs and, through the Job controller, their pods."""
    jobset = copy.deepcopy(jobset)
    apply_workload_defaults(jobset)
    match_uid = jobset.metadata.uid
    jobset.metadata = state.with_uid(jobset.metadata, "JobSet")
    meta, spec = jobset.metadata, jobset.spec
    ref = WorkloadRef.of(KIND, meta)
    chain = (ref, *owners)
    if meta.deletion_timestamp is not None or is_finished(jobset):
        return
    if spec.managed_by and spec.managed_by != JOBSET_CONTROLLER_NAME:
        state.note(ref, f"managed by {spec.managed_by}: the JobSet controller leaves it alone")
        return
    if spec.suspend:
        state.note(ref, "suspended: its Jobs are created suspended")
    subdomain = subdomain_of(jobset) if is_dns_hostnames_enabled(jobset) else ""
    in_order = (
        spec.startup_policy is not None and spec.startup_policy.startup_policy_order == "InOrder"
    )
    pods_of: dict[str, tuple[str, ...]] = {}
    previous: str | None = None
    for rjob in spec.replicated_jobs:
        waits: tuple[str, ...] = pods_of.get(previous, ()) if in_order and previous else ()
        previous = rjob.name
        blocked = [d.name for d in rjob.depends_on if d.status == "Complete"]
        if blocked:
            state.note(
                ref,
                f"replicatedJob {rjob.name}: its Jobs are created once "
                f"{', '.join(blocked)} completes",
            )
            pods_of[rjob.name] = ()
            continue
        for dependency in rjob.depends_on:
            waits += pods_of.get(dependency.name, ())
        names: list[str] = []
        for index in range(rjob.replicas):
            name = job_name(meta.name, rjob.name, index)
            existing = state.workload("Job", meta.namespace, name)
            if isinstance(existing, Job):
                existing_ref = controller_of(existing.metadata)
                if existing_ref is None or not is_owned_by(
                    existing_ref, KIND, meta.name, match_uid
                ):
                    state.problem(
                        ref, "spec.replicatedJobs", f"Job {meta.namespace}/{name} is not its own"
                    )
                    continue
                job, job_match_uid = existing, existing.metadata.uid
            else:
                job, job_match_uid = admitted(new_job(jobset, rjob, index, state.new_uid())), ""
                state.add_job(job)
            created = sync_job(
                job, state, chain, match_uid=job_match_uid, subdomain=subdomain, after=waits
            )
            names += [
                pod.metadata.name
                for pod in state.pods_controlled_by(meta.namespace, "Job", name)
                if is_active(pod)
            ]
            names += [entry.pod.metadata.name for entry in created]
        pods_of[rjob.name] = tuple(names)
