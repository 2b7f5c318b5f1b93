"""Workload kinds whose controllers create pods: apps/v1 Deployment, ReplicaSet and StatefulSet,
batch/v1 Job, jobset.x-k8s.io/v1alpha2 JobSet and leaderworkerset.x-k8s.io/v1 LeaderWorkerSet.

Pure data, no I/O, no validation. Only the fields that decide which pods exist, and what they
are called and labelled, are modelled; every other field of a document is ignored on decoding
(msgspec's default), so manifests with fields dralloc does not know still load. Pod templates
reuse `dralloc.api.core.PodSpec`.

Defaults: a field the API server (or, for JobSet and LeaderWorkerSet, the project's webhook or
CRD schema) defaults unconditionally carries that default here (`replicas: 1`). Defaults that
depend on other fields (a Job's `completions` and `parallelism`, a Deployment's rolling-update
surge) stay unset (`None`) in the struct and are filled by `apply_workload_defaults`, which
does what the API server does when the object is created.
"""

from __future__ import annotations

from typing import Any, Final, TypeAlias

import msgspec

from dralloc.api.core import PodSpec
from dralloc.api.meta import Base, ObjectMeta

# metav1.LabelSelector lives in `api.meta` (core/v1 pod affinity reads it too); re-exported
# here, where the workload kinds have always offered it.
from dralloc.api.meta import LabelSelector as LabelSelector
from dralloc.api.meta import LabelSelectorRequirement as LabelSelectorRequirement

# ------------------------------------------------------------------------ shared (meta, core)


class PodTemplateSpec(Base):
    """core/v1 PodTemplateSpec: the labels, annotations and spec every created pod starts from."""

    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: PodSpec = msgspec.field(default_factory=PodSpec)


class Condition(Base):
    """A status condition (batch/v1 JobCondition, metav1.Condition): only what is read."""

    type: str = ""
    status: str = ""
    reason: str = ""
    message: str = ""


# ----------------------------------------------------------------------------------- apps/v1

APPS_API_VERSION: Final = "apps/v1"


class RollingUpdateDeployment(Base):
    """`maxSurge` and `maxUnavailable` are an absolute number or a percentage ("25%")."""

    max_unavailable: int | str | None = None
    max_surge: int | str | None = None


class DeploymentStrategy(Base):
    type: str = ""  # RollingUpdate (the default) or Recreate
    rolling_update: RollingUpdateDeployment | None = None


class DeploymentSpec(Base):
    replicas: int = 1
    selector: LabelSelector | None = None
    template: PodTemplateSpec = msgspec.field(default_factory=PodTemplateSpec)
    strategy: DeploymentStrategy = msgspec.field(default_factory=DeploymentStrategy)
    min_ready_seconds: int = 0
    revision_history_limit: int | None = None
    paused: bool = False
    progress_deadline_seconds: int | None = None


class DeploymentStatus(Base):
    observed_generation: int = 0
    replicas: int = 0
    # Bumped by the controller when the name of a new ReplicaSet is taken; part of the
    # pod-template-hash.
    collision_count: int | None = None


class Deployment(Base):
    api_version: str = APPS_API_VERSION
    kind: str = "Deployment"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: DeploymentSpec = msgspec.field(default_factory=DeploymentSpec)
    status: DeploymentStatus = msgspec.field(default_factory=DeploymentStatus)


class ReplicaSetSpec(Base):
    replicas: int = 1
    min_ready_seconds: int = 0
    selector: LabelSelector | None = None
    template: PodTemplateSpec = msgspec.field(default_factory=PodTemplateSpec)


class ReplicaSetStatus(Base):
    observed_generation: int = 0
    replicas: int = 0


class ReplicaSet(Base):
    api_version: str = APPS_API_VERSION
    kind: str = "ReplicaSet"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: ReplicaSetSpec = msgspec.field(default_factory=ReplicaSetSpec)
    status: ReplicaSetStatus = msgspec.field(default_factory=ReplicaSetStatus)


class StatefulSetOrdinals(Base):
    """The first ordinal of a StatefulSet's pods (`<sts>-<start>`, ...)."""

    start: int = 0


class StatefulSetSpec(Base):
    replicas: int = 1
    selector: LabelSelector | None = None
    template: PodTemplateSpec = msgspec.field(default_factory=PodTemplateSpec)
    service_name: str = ""  # becomes every pod's spec.subdomain
    pod_management_policy: str = "OrderedReady"  # or Parallel
    ordinals: StatefulSetOrdinals | None = None
    update_strategy: Any = None
    # Not acted on: dralloc makes no PersistentVolumeClaims.
    volume_claim_templates: list[Any] = msgspec.field(default_factory=list)
    persistent_volume_claim_retention_policy: Any = None
    revision_history_limit: int | None = None
    min_ready_seconds: int = 0


class StatefulSetStatus(Base):
    observed_generation: int = 0
    replicas: int = 0
    collision_count: int | None = None


class StatefulSet(Base):
    api_version: str = APPS_API_VERSION
    kind: str = "StatefulSet"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: StatefulSetSpec = msgspec.field(default_factory=StatefulSetSpec)
    status: StatefulSetStatus = msgspec.field(default_factory=StatefulSetStatus)


# ---------------------------------------------------------------------------------- batch/v1

BATCH_API_VERSION: Final = "batch/v1"
COMPLETION_MODE_NON_INDEXED: Final = "NonIndexed"
COMPLETION_MODE_INDEXED: Final = "Indexed"


class JobSpec(Base):
    """batch/v1 JobSpec. `None` means unset: `apply_workload_defaults` fills what the API
    server fills (both `parallelism` and `completions` become 1 when neither is set; otherwise
    only `parallelism` becomes 1 and an unset `completions` makes a work-queue Job)."""

    parallelism: int | None = None
    completions: int | None = None
    completion_mode: str | None = None  # NonIndexed (default) or Indexed
    suspend: bool | None = None
    backoff_limit: int | None = None
    backoff_limit_per_index: int | None = None
    max_failed_indexes: int | None = None
    active_deadline_seconds: int | None = None
    ttl_seconds_after_finished: int | None = None
    selector: LabelSelector | None = None
    manual_selector: bool | None = None
    template: PodTemplateSpec = msgspec.field(default_factory=PodTemplateSpec)
    pod_replacement_policy: str | None = None  # TerminatingOrFailed or Failed
    pod_failure_policy: Any = None
    success_policy: Any = None
    managed_by: str | None = None


class JobStatus(Base):
    active: int = 0
    succeeded: int = 0
    failed: int = 0
    completed_indexes: str = ""  # "0-3,5", as the controller records them
    conditions: list[Condition] = msgspec.field(default_factory=list)


class Job(Base):
    api_version: str = BATCH_API_VERSION
    kind: str = "Job"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: JobSpec = msgspec.field(default_factory=JobSpec)
    status: JobStatus = msgspec.field(default_factory=JobStatus)


class JobTemplateSpec(Base):
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: JobSpec = msgspec.field(default_factory=JobSpec)


# ------------------------------------------------------------------ jobset.x-k8s.io/v1alpha2

JOBSET_API_VERSION: Final = "jobset.x-k8s.io/v1alpha2"


class DependsOn(Base):
    """Create a ReplicatedJob's Jobs only once `name`'s Jobs are all Ready (or Complete)."""

    name: str = ""
    status: str = ""


class ReplicatedJob(Base):
    name: str = ""
    group_name: str = ""
    template: JobTemplateSpec = msgspec.field(default_factory=JobTemplateSpec)
    replicas: int = 1
    depends_on: list[DependsOn] = msgspec.field(default_factory=list)


class JobSetNetwork(Base):
    enable_dns_hostnames: bool | None = msgspec.field(default=None, name="enableDNSHostnames")
    subdomain: str = ""
    publish_not_ready_addresses: bool | None = None


class JobSetStartupPolicy(Base):
    startup_policy_order: str = "AnyOrder"  # or InOrder


class JobSetSuccessPolicy(Base):
    operator: str = "All"  # or Any
    target_replicated_jobs: list[str] = msgspec.field(default_factory=list)


class JobSetCoordinator(Base):
    replicated_job: str = ""
    job_index: int = 0
    pod_index: int = 0


class JobSetSpec(Base):
    replicated_jobs: list[ReplicatedJob] = msgspec.field(default_factory=list)
    network: JobSetNetwork | None = None
    success_policy: JobSetSuccessPolicy | None = None
    failure_policy: Any = None
    startup_policy: JobSetStartupPolicy | None = None
    suspend: bool | None = None
    coordinator: JobSetCoordinator | None = None
    managed_by: str | None = None
    ttl_seconds_after_finished: int | None = None


class JobSetStatus(Base):
    conditions: list[Condition] = msgspec.field(default_factory=list)
    restarts: int = 0  # becomes the jobset.sigs.k8s.io/restart-attempt label
    terminal_state: str = ""


class JobSet(Base):
    api_version: str = JOBSET_API_VERSION
    kind: str = "JobSet"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: JobSetSpec = msgspec.field(default_factory=JobSetSpec)
    status: JobSetStatus = msgspec.field(default_factory=JobSetStatus)


# ------------------------------------------------------------------ leaderworkerset.x-k8s.io/v1

LWS_API_VERSION: Final = "leaderworkerset.x-k8s.io/v1"


class SubGroupPolicy(Base):
    type: str | None = msgspec.field(default=None, name="subGroupPolicyType")
    sub_group_size: int | None = None


class LeaderWorkerTemplate(Base):
    """One group: a leader from `leaderTemplate` (the worker template when unset) and
    `size - 1` workers from `workerTemplate`."""

    leader_template: PodTemplateSpec | None = None
    worker_template: PodTemplateSpec = msgspec.field(default_factory=PodTemplateSpec)
    size: int = 1
    restart_policy: str = ""
    sub_group_policy: SubGroupPolicy | None = None
    # Not acted on: dralloc makes no PersistentVolumeClaims.
    volume_claim_templates: list[Any] = msgspec.field(default_factory=list)


class LwsNetworkConfig(Base):
    subdomain_policy: str | None = None  # Shared (default) or UniquePerReplica


class RollingUpdateConfiguration(Base):
    partition: int = 0
    max_unavailable: int | str = 1
    max_surge: int | str = 0


class RolloutStrategy(Base):
    type: str = "RollingUpdate"
    rolling_update_configuration: RollingUpdateConfiguration | None = None


class LeaderWorkerSetSpec(Base):
    replicas: int = 1
    leader_worker_template: LeaderWorkerTemplate = msgspec.field(
        default_factory=LeaderWorkerTemplate
    )
    rollout_strategy: RolloutStrategy = msgspec.field(default_factory=RolloutStrategy)
    startup_policy: str = "LeaderCreated"  # or LeaderReady
    network_config: LwsNetworkConfig | None = None


class LeaderWorkerSet(Base):
    api_version: str = LWS_API_VERSION
    kind: str = "LeaderWorkerSet"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: LeaderWorkerSetSpec = msgspec.field(default_factory=LeaderWorkerSetSpec)


Workload: TypeAlias = Deployment | ReplicaSet | StatefulSet | Job | JobSet | LeaderWorkerSet

# Kind -> (struct, served apiVersions), in the shape of `dralloc.api.io.KINDS`.
WORKLOAD_KINDS: Final[dict[str, tuple[type[Workload], tuple[str, ...]]]] = {
    "Deployment": (Deployment, (APPS_API_VERSION,)),
    "ReplicaSet": (ReplicaSet, (APPS_API_VERSION,)),
    "StatefulSet": (StatefulSet, (APPS_API_VERSION,)),
    "Job": (Job, (BATCH_API_VERSION,)),
    "JobSet": (JobSet, (JOBSET_API_VERSION,)),
    "LeaderWorkerSet": (LeaderWorkerSet, (LWS_API_VERSION,)),
}

# ------------------------------------------------------------------------------- defaulting


def _default_deployment(spec: DeploymentSpec) -> None:
    # k8s.io/kubernetes pkg/apis/apps/v1 SetDefaults_Deployment.
    if not spec.strategy.type:
        spec.strategy.type = "RollingUpdate"
    if spec.strategy.type == "RollingUpdate":
        if spec.strategy.rolling_update is None:
            spec.strategy.rolling_update = RollingUpdateDeployment()
        rolling = spec.strategy.rolling_update
        if rolling.max_unavailable is None:
            rolling.max_unavailable = "25%"
        if rolling.max_surge is None:
            rolling.max_surge = "25%"
    if spec.revision_history_limit is None:
        spec.revision_history_limit = 10
    if spec.progress_deadline_seconds is None:
        spec.progress_deadline_seconds = 600


def default_job_spec(spec: JobSpec) -> None:
    """The API server's defaults for a JobSpec (SetDefaults_Job), in place."""
    if spec.completions is None and spec.parallelism is None:
        spec.completions = 1
        spec.parallelism = 1
    if spec.parallelism is None:
        spec.parallelism = 1
    if spec.backoff_limit is None:
        spec.backoff_limit = 2**31 - 1 if spec.backoff_limit_per_index is not None else 6
    if spec.completion_mode is None:
        spec.completion_mode = COMPLETION_MODE_NON_INDEXED
    if spec.suspend is None:
        spec.suspend = False
    if spec.manual_selector is None:
        spec.manual_selector = False
    if spec.pod_replacement_policy is None:
        spec.pod_replacement_policy = (
            "Failed" if spec.pod_failure_policy is not None else "TerminatingOrFailed"
        )


def _default_jobset(spec: JobSetSpec) -> None:
    # The JobSet project's mutating webhook (JobSet.Default) and CRD defaults.
    if spec.success_policy is None:
        spec.success_policy = JobSetSuccessPolicy()
    if spec.startup_policy is None:
        spec.startup_policy = JobSetStartupPolicy()
    for rjob in spec.replicated_jobs:
        if rjob.template.spec.completion_mode is None:
            rjob.template.spec.completion_mode = COMPLETION_MODE_INDEXED
        if spec.network is None:
            spec.network = JobSetNetwork()
        if spec.network.enable_dns_hostnames is None:
            spec.network.enable_dns_hostnames = True
        if not rjob.group_name:
            rjob.group_name = "default"


def _default_lws(spec: LeaderWorkerSetSpec) -> None:
    # The LeaderWorkerSet project's webhook and CRD defaults.
    template = spec.leader_worker_template
    if not template.restart_policy:
        template.restart_policy = "RecreateGroupOnPodRestart"
    if template.restart_policy == "Default":  # deprecated spelling of None
        template.restart_policy = "None"
    if template.sub_group_policy is not None and template.sub_group_policy.type is None:
        template.sub_group_policy.type = "LeaderWorker"
    if not spec.rollout_strategy.type:
        spec.rollout_strategy.type = "RollingUpdate"
    if spec.network_config is None:
        spec.network_config = LwsNetworkConfig()
    if spec.network_config.subdomain_policy is None:
        spec.network_config.subdomain_policy = "Shared"
    if spec.rollout_strategy.rolling_update_configuration is None:
        spec.rollout_strategy.rolling_update_configuration = RollingUpdateConfiguration()


def apply_workload_defaults(obj: Workload) -> None:
    """Default `obj` in place as the API server (and, for JobSet and LeaderWorkerSet, the
    project's admission webhook) does on create. A missing namespace becomes `default`, as
    `kubectl apply` puts it. Idempotent.

    >>> job = Job(spec=JobSpec(completions=4))
    >>> apply_workload_defaults(job)
    >>> (job.metadata.namespace, job.spec.parallelism, job.spec.completion_mode)
    ('default', 1, 'NonIndexed')
    """
    if not obj.metadata.namespace:
        obj.metadata.namespace = "default"
    if isinstance(obj, Deployment):
        _default_deployment(obj.spec)
    elif isinstance(obj, StatefulSet):
        if obj.spec.revision_history_limit is None:
            obj.spec.revision_history_limit = 10
    elif isinstance(obj, Job):
        default_job_spec(obj.spec)
        # SetDefaults_Job: a Job without labels takes its template's.
        if obj.spec.template.metadata.labels and not obj.metadata.labels:
            obj.metadata.labels = dict(obj.spec.template.metadata.labels)
    elif isinstance(obj, JobSet):
        _default_jobset(obj.spec)
    elif isinstance(obj, LeaderWorkerSet):
        _default_lws(obj.spec)
