"""The Workload Kueue's job integrations create for a batch/v1 Job or a JobSet (spec 0, 1.5).

Owns: `workload_for_job` and `workload_for_jobset`, pure functions from a job object (as
`dralloc.api.workloads` decodes it) to the Kueue `Workload` that stands for it, and
`queue_name_of`. No I/O; the caller (the simulator, a live controller) decides when a job is
suspended and submitted.

As Kueue's integrations do:

* the queue comes from the label `kueue.x-k8s.io/queue-name`; a job without it is not Kueue's;
* the Workload is named `<kind>-<job name>-<5 hex of sha1(kind, group, name, uid)>` (long
  names are truncated; gate ShortWorkloadNames off), in the job's namespace, owned by the job;
* a Job is one pod set `main` of min(parallelism, completions) pods, with `minCount` from the
  annotation `kueue.x-k8s.io/job-min-parallelism` (partial admission); a JobSet has one pod
  set per replicated job, named after it, of replicas x min(parallelism, completions) pods;
* priority: the label `kueue.x-k8s.io/priority-class` names a WorkloadPriorityClass; else the
  pod template's `priorityClassName` a PriorityClass; `spec.priority` is that class's value
  (resolved by the caller's classes, 0 when unknown);
* TAS: a pod template's `kueue.x-k8s.io/podset-*-topology` annotations become the pod set's
  `topologyRequest` (`dralloc.queueing.topology`), with the pod index label
  (`batch.kubernetes.io/job-completion-index`) and, for a JobSet, the sub-group index label
  `jobset.sigs.k8s.io/job-index` and the replicated job's replicas; `job_topology_problems`
  is the integrations' webhook check of those annotations.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Final

from dralloc.api.core import PriorityClass
from dralloc.api.meta import ObjectMeta, OwnerReference
from dralloc.api.workloads import Job, JobSet, JobSpec, PodTemplateSpec
from dralloc.queueing.objects import (
    GROUP,
    PodSet,
    PriorityClassRef,
    Workload,
    WorkloadPriorityClass,
    WorkloadSpec,
)
from dralloc.queueing.topology import (
    JOB_COMPLETION_INDEX_LABEL,
    JOBSET_JOB_INDEX_LABEL,
    topology_request_from_annotations,
    validate_topology_annotations,
)

QUEUE_NAME_LABEL: Final = "kueue.x-k8s.io/queue-name"
PRIORITY_CLASS_LABEL: Final = "kueue.x-k8s.io/priority-class"
MIN_PARALLELISM_ANNOTATION: Final = "kueue.x-k8s.io/job-min-parallelism"
MAX_NAME_LENGTH: Final = 253
HASH_LENGTH: Final = 5


def queue_name_of(meta: ObjectMeta) -> str:
    """The LocalQueue a job asks for ("" when it is not managed by Kueue)."""
    return meta.labels.get(QUEUE_NAME_LABEL) or meta.annotations.get(QUEUE_NAME_LABEL, "")


def workload_name(kind: str, group: str, name: str, uid: str) -> str:
    digest = hashlib.sha1(f"{kind}\n{group}\n{name}\n{uid}".encode()).hexdigest()
    prefix = f"{kind.lower()}-{name}"[: MAX_NAME_LENGTH - 1 - HASH_LENGTH]
    return f"{prefix}-{digest[:HASH_LENGTH]}"


def _pods_count(spec: JobSpec) -> int:
    parallelism = spec.parallelism if spec.parallelism is not None else 1
    if spec.completions is not None and spec.completions < parallelism:
        return spec.completions
    return parallelism


def _priority(
    meta: ObjectMeta,
    template: PodTemplateSpec,
    workload_classes: Mapping[str, WorkloadPriorityClass],
    pod_classes: Mapping[str, PriorityClass],
) -> tuple[PriorityClassRef | None, int]:
    wpc = meta.labels.get(PRIORITY_CLASS_LABEL)
    if wpc:
        found = workload_classes.get(wpc)
        ref = PriorityClassRef(group=GROUP, kind="WorkloadPriorityClass", name=wpc)
        return ref, found.value if found is not None else 0
    pcn = template.spec.priority_class_name
    if pcn:
        pc = pod_classes.get(pcn)
        ref = PriorityClassRef(group="scheduling.k8s.io", kind="PriorityClass", name=pcn)
        return ref, pc.value if pc is not None else 0
    defaults = [pc.value for pc in pod_classes.values() if pc.global_default]
    return None, min(defaults) if defaults else 0


def _workload(
    kind: str,
    api_version: str,
    meta: ObjectMeta,
    pod_sets: list[PodSet],
    ref: PriorityClassRef | None,
    priority: int,
) -> Workload:
    group = api_version.rpartition("/")[0]
    owner = OwnerReference(
        api_version=api_version,
        kind=kind,
        name=meta.name,
        uid=meta.uid,
        controller=True,
        block_owner_deletion=True,
    )
    return Workload(
        metadata=ObjectMeta(
            name=workload_name(kind, group, meta.name, meta.uid),
            namespace=meta.namespace or "default",
            creation_timestamp=meta.creation_timestamp,
            owner_references=[owner],
            labels={"kueue.x-k8s.io/job-uid": meta.uid} if meta.uid else {},
        ),
        spec=WorkloadSpec(
            pod_sets=pod_sets,
            queue_name=queue_name_of(meta),
            priority_class_ref=ref,
            priority=priority,
        ),
    )


def workload_for_job(
    job: Job,
    workload_classes: Mapping[str, WorkloadPriorityClass] | None = None,
    pod_classes: Mapping[str, PriorityClass] | None = None,
) -> Workload:
    """The Workload Kueue's batch/v1 Job integration creates for `job`."""
    meta = job.metadata
    min_count: int | None = None
    raw = meta.annotations.get(MIN_PARALLELISM_ANNOTATION)
    if raw is not None and raw.strip().lstrip("-").isdigit():
        min_count = int(raw)
    template = job.spec.template
    pod_set = PodSet(
        name="main",
        template=template,
        count=_pods_count(job.spec),
        min_count=min_count,
        topology_request=topology_request_from_annotations(
            template.metadata.annotations, pod_index_label=JOB_COMPLETION_INDEX_LABEL
        ),
    )
    ref, priority = _priority(meta, job.spec.template, workload_classes or {}, pod_classes or {})
    return _workload("Job", job.api_version, meta, [pod_set], ref, priority)


def workload_for_jobset(
    jobset: JobSet,
    workload_classes: Mapping[str, WorkloadPriorityClass] | None = None,
    pod_classes: Mapping[str, PriorityClass] | None = None,
) -> Workload:
    """The Workload Kueue's JobSet integration creates: one pod set per replicated job."""
    meta = jobset.metadata
    pod_sets = [
        PodSet(
            name=rj.name,
            template=rj.template.spec.template,
            count=rj.replicas * _pods_count(rj.template.spec),
            topology_request=topology_request_from_annotations(
                rj.template.spec.template.metadata.annotations,
                pod_index_label=JOB_COMPLETION_INDEX_LABEL,
                sub_group_index_label=JOBSET_JOB_INDEX_LABEL,
                sub_group_count=rj.replicas,
            ),
        )
        for rj in jobset.spec.replicated_jobs
    ]
    first = jobset.spec.replicated_jobs[0].template.spec.template if pod_sets else PodTemplateSpec()
    ref, priority = _priority(meta, first, workload_classes or {}, pod_classes or {})
    return _workload("JobSet", jobset.api_version, meta, pod_sets, ref, priority)


def job_topology_problems(job: Job | JobSet) -> list[tuple[str, str]]:
    """What Kueue's job webhook refuses in the pod templates' TAS annotations, as
    (field path, message) pairs; an empty list when they are valid or absent."""
    found: list[tuple[str, str]] = []
    if isinstance(job, Job):
        templates = [("spec.template.metadata", job.spec.template, _pods_count(job.spec))]
    else:
        templates = [
            (
                f"spec.replicatedJobs[{i}].template.spec.template.metadata",
                rj.template.spec.template,
                rj.replicas * _pods_count(rj.template.spec),
            )
            for i, rj in enumerate(job.spec.replicated_jobs)
        ]
    for path, template, count in templates:
        for sub, message in validate_topology_annotations(template.metadata.annotations, count):
            found.append((f"{path}.{sub}", message))
    return found
