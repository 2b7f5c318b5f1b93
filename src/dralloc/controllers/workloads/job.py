"""The Job controller (kube-controller-manager's `job`): keeps
`min(parallelism, completions - succeeded)` pods running (`parallelism` for a work-queue Job
without `completions`).

Pure computation over an `ExpansionState`, no I/O. What the API server does on create comes
first: defaults (`default_job_spec`) and, unless `manualSelector` is true, the generated
selector `batch.kubernetes.io/controller-uid: <uid>` with the template labels
`batch.kubernetes.io/controller-uid`, `batch.kubernetes.io/job-name` and their legacy forms
`controller-uid`, `job-name`. Then each pod (`manageJob`) is made from the template with the
finalizer `batch.kubernetes.io/job-tracking` and a controller reference, and

* NonIndexed: `generateName: <job>-` (5 random characters follow);
* Indexed: the lowest indexes neither succeeded nor running, each pod with the annotation and
  label `batch.kubernetes.io/job-completion-index: <i>`, `generateName: <job>-<i>-` (the job
  name cut so the prefix fits 58 characters) and `spec.hostname: <job>-<i>` (reported on the
  `WorkloadPod`, since `PodSpec` does not model it).

Input pods count as upstream counts them: active pods the Job controls (or adopts), succeeded
and failed ones only while they hold the tracking finalizer (once it is removed they are in
`status.succeeded`, `status.failed` and `status.completedIndexes`, which are read too).

Nothing is created for a Job that is suspended (its active pods are deleted), finished,
past `backoffLimit`, managed by another controller (`spec.managedBy`), or of an unknown
completion mode. The pods a Job makes later, as running ones succeed, are a note.

Not modelled: the `JOB_COMPLETION_INDEX` environment variable (containers have no `env` in
dralloc), pod failure policies, per-index backoff, success policies, `activeDeadlineSeconds`,
and the 500-pods-per-sync cap (it spreads creation over syncs, not the count).
"""

from __future__ import annotations

import copy

import msgspec

from dralloc.api.core import Pod
from dralloc.api.workloads import (
    BATCH_API_VERSION,
    COMPLETION_MODE_INDEXED,
    COMPLETION_MODE_NON_INDEXED,
    Job,
    LabelSelector,
    default_job_spec,
)
from dralloc.controllers.workloads.model import WorkloadPod, WorkloadRef
from dralloc.controllers.workloads.pods import (
    controller_ref,
    deletion_order,
    is_active,
    is_terminating,
    pod_from_template,
)
from dralloc.controllers.workloads.selectors import selector_matches
from dralloc.controllers.workloads.state import ExpansionState

KIND = "Job"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
CONTROLLER_UID_LABEL = "batch.kubernetes.io/controller-uid"
LEGACY_JOB_NAME_LABEL = "job-name"
LEGACY_CONTROLLER_UID_LABEL = "controller-uid"
COMPLETION_INDEX_KEY = "batch.kubernetes.io/job-completion-index"  # annotation and label
TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
JOB_CONTROLLER_NAME = "kubernetes.io/job-controller"
# names.MaxGeneratedNameLength: the longest generateName the API server keeps whole.
MAX_GENERATED_NAME_LENGTH = 58


def with_generated_selector(job: Job) -> Job:
    """The Job as the API server stores it when `manualSelector` is not true
    (`generateSelector`): template labels naming the Job and its UID (existing ones kept),
    and a selector on `batch.kubernetes.io/controller-uid`."""
    if job.spec.manual_selector:
        return job
    meta = job.metadata
    labels = dict(job.spec.template.metadata.labels)
    for key in (LEGACY_JOB_NAME_LABEL, JOB_NAME_LABEL):
        labels.setdefault(key, meta.name)
    for key in (LEGACY_CONTROLLER_UID_LABEL, CONTROLLER_UID_LABEL):
        labels.setdefault(key, meta.uid)
    selector = job.spec.selector or LabelSelector()
    match_labels = dict(selector.match_labels)
    match_labels.setdefault(CONTROLLER_UID_LABEL, meta.uid)
    template = job.spec.template
    return msgspec.structs.replace(
        job,
        spec=msgspec.structs.replace(
            job.spec,
            selector=msgspec.structs.replace(selector, match_labels=match_labels),
            template=msgspec.structs.replace(
                template, metadata=msgspec.structs.replace(template.metadata, labels=labels)
            ),
        ),
    )


def admitted(job: Job) -> Job:
    """The Job as the API server stores it on create: a copy, defaulted (`default_job_spec`,
    and a Job without labels takes its template's) and with the generated selector. `job`
    must have its UID."""
    job = copy.deepcopy(job)
    default_job_spec(job.spec)
    if job.spec.template.metadata.labels and not job.metadata.labels:
        job.metadata.labels = dict(job.spec.template.metadata.labels)
    return with_generated_selector(job)


def pod_generate_name_with_index(job_name: str, index: int) -> str:
    """`<job>-<index>-`, the job name cut so the whole fits 58 characters.

    >>> pod_generate_name_with_index("train", 3)
    'train-3-'
    >>> len(pod_generate_name_with_index("j" * 70, 12))
    58
    """
    suffix = f"-{index}-"
    prefix = job_name + suffix
    if len(prefix) > MAX_GENERATED_NAME_LENGTH:
        prefix = prefix[: MAX_GENERATED_NAME_LENGTH - len(suffix)] + suffix
    return prefix


def completion_index(pod: Pod) -> int | None:
    """The pod's completion index annotation, or None when missing or not a number."""
    value = pod.metadata.annotations.get(COMPLETION_INDEX_KEY, "")
    return int(value) if value.isdigit() else None


def parse_indexes(text: str, completions: int) -> set[int]:
    """Indexes below `completions` in upstream's interval form (`"0-3,7"`).

    >>> sorted(parse_indexes("0-2,5,9", 6))
    [0, 1, 2, 5]
    """
    found: set[int] = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        first, _, last = part.partition("-")
        if not first.isdigit() or (last and not last.isdigit()):
            continue
        found.update(range(int(first), min(int(last or first), completions - 1) + 1))
    return found


def is_finished(job: Job) -> bool:
    """A `Complete` or `Failed` condition is true (`IsJobFinished`)."""
    return any(
        c.type in ("Complete", "Failed") and c.status == "True" for c in job.status.conditions
    )


def _surplus_indexed(active: list[Pod], completions: int) -> list[Pod]:
    """Active pods of an Indexed Job that must go whatever the counts: no valid index, or an
    index another active pod also holds (the most advanced of those stays)."""
    surplus: list[Pod] = []
    by_index: dict[int, list[Pod]] = {}
    for pod in active:
        index = completion_index(pod)
        if index is None or index >= completions:
            surplus.append(pod)
        else:
            by_index.setdefault(index, []).append(pod)
    for pods in by_index.values():
        surplus.extend(sorted(pods, key=deletion_order)[:-1])
    return surplus


def sync_job(
    job: Job,
    state: ExpansionState,
    owners: tuple[WorkloadRef, ...] = (),
    *,
    match_uid: str | None = None,
    subdomain: str = "",
    after: tuple[str, ...] = (),
) -> list[WorkloadPod]:
    """Create the pods the Job runs now. `owners` are its own owners (a JobSet); `match_uid`
    as for `sync_replica_set`; `subdomain` is the template's `spec.subdomain` (which `PodSpec`
    does not model; a JobSet sets it); `after` goes on every new pod. Returns the created pods.
    """
    if match_uid is None:
        match_uid = job.metadata.uid
    job = admitted(msgspec.structs.replace(job, metadata=state.with_uid(job.metadata, "Job")))
    meta, spec = job.metadata, job.spec
    ref = WorkloadRef.of(KIND, meta)
    chain = (ref, *owners)
    if meta.deletion_timestamp is not None or is_finished(job):
        return []
    if spec.managed_by and spec.managed_by != JOB_CONTROLLER_NAME:
        state.note(ref, f"managed by {spec.managed_by}: the Job controller leaves it alone")
        return []
    if spec.completion_mode not in (COMPLETION_MODE_NON_INDEXED, COMPLETION_MODE_INDEXED):
        state.problem(ref, "spec.completionMode", f"unknown mode {spec.completion_mode!r}")
        return []
    if not selector_matches(spec.selector, spec.template.metadata.labels):
        state.problem(ref, "spec.selector", "does not match the template's labels")
        return []
    controller = controller_ref(BATCH_API_VERSION, KIND, meta)
    pods = state.claim_pods(
        chain, controller, match_uid, spec.selector, meta.namespace, finalizer=TRACKING_FINALIZER
    )
    active = [pod for pod in pods if is_active(pod)]
    terminating = sum(1 for pod in pods if is_terminating(pod))
    # Finished pods still holding the finalizer are not yet in the status counters.
    uncounted = [pod for pod in pods if TRACKING_FINALIZER in pod.metadata.finalizers]
    indexed = spec.completion_mode == COMPLETION_MODE_INDEXED
    completions = spec.completions
    parallelism = spec.parallelism or 0
    done: set[int] = set()
    if indexed:
        total = completions or 0
        done = parse_indexes(job.status.completed_indexes, total)
        for pod in uncounted:
            index = completion_index(pod)
            if pod.status.phase == "Succeeded" and index is not None and index < total:
                done.add(index)
        succeeded = len(done)
    else:
        succeeded = job.status.succeeded + sum(
            1 for pod in uncounted if pod.status.phase == "Succeeded"
        )
    failed = job.status.failed + sum(1 for pod in uncounted if pod.status.phase == "Failed")
    backoff_limit = spec.backoff_limit if spec.backoff_limit is not None else 6
    if failed > backoff_limit:
        state.note(ref, f"failed: {failed} failed pods exceed backoffLimit {backoff_limit}")
        for pod in active:
            state.delete_pod(pod, chain)
        return []
    if spec.suspend:
        state.note(ref, "suspended: no pods are created")
        for pod in active:
            state.delete_pod(pod, chain)
        return []
    if completions is None:
        if succeeded and not active:
            return []  # complete: a work-queue Job is done once one pod succeeded
        want = len(active) if succeeded else parallelism
    else:
        if succeeded >= completions and not active:
            return []  # complete
        want = max(0, min(completions - succeeded, parallelism))
    surplus = _surplus_indexed(active, completions or 0) if indexed else []
    gone = {id(pod) for pod in surplus}
    remaining = [pod for pod in active if id(pod) not in gone]
    if len(remaining) > want:
        extra = sorted(remaining, key=deletion_order)[: len(remaining) - want]
        surplus += extra
        gone.update(id(pod) for pod in extra)
        remaining = [pod for pod in remaining if id(pod) not in gone]
    for pod in surplus:
        state.delete_pod(pod, chain)
    only_failed = spec.pod_replacement_policy == "Failed"
    missing = want - (terminating if only_failed else 0) - len(remaining)
    created: list[WorkloadPod] = []
    if missing > 0:
        template = copy.deepcopy(spec.template)
        if TRACKING_FINALIZER not in template.metadata.finalizers:
            template.metadata.finalizers.append(TRACKING_FINALIZER)
        if indexed:
            running = {completion_index(pod) for pod in remaining}
            pending = (i for i in range(completions or 0) if i not in done and i not in running)
            indexes: list[int | None] = [i for _, i in zip(range(missing), pending, strict=False)]
        else:
            indexes = [None] * missing
        for index in indexes:
            if index is None:
                pod = pod_from_template(template, meta.namespace, controller)
                created.append(state.create_pod(pod, chain, subdomain=subdomain, after=after))
                continue
            pod = pod_from_template(
                template,
                meta.namespace,
                controller,
                generate_name=pod_generate_name_with_index(meta.name, index),
            )
            pod.metadata.annotations[COMPLETION_INDEX_KEY] = str(index)
            pod.metadata.labels[COMPLETION_INDEX_KEY] = str(index)
            created.append(
                state.create_pod(
                    pod,
                    chain,
                    hostname=f"{meta.name}-{index}",
                    subdomain=subdomain,
                    after=after,
                )
            )
    if completions is not None:
        later = completions - succeeded - want
        if later > 0:
            state.note(
                ref,
                f"{later} more pods once running ones succeed "
                f"(completions {completions}, parallelism {parallelism})",
            )
    return created
