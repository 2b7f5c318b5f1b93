"""Batch-job traces as the Kubernetes objects a user would apply: Kueue queues per tenant and,
per job, an Indexed Job with DRA GPU claims and (for a gang) a Workload and PodGroup.

This module owns turning `traces.jobs` records (`JobTrace`, `BatchJob`, `Tenant`) into plain
dicts in the exact wire shape (`kubectl apply -f` takes them; `dralloc.api.io.load_files` and
`dralloc.queueing.read_queue_files` read them without a problem), and writing them as one
multi-document YAML file. Pure construction plus that one write; no scheduling, no queueing
(it never imports `dralloc.scheduler`, `dralloc.queueing` or the controllers), so the
simulator, a CLI command and a user's script make the same objects.

What each record becomes (`BatchObjectOptions` holds every choice, with its default):

- **Once:** a `ResourceFlavor` (`default-flavor`, no labels or taints: it matches every node;
  GPUs are told apart by the DeviceClass, not by flavors) and, when any job has a priority
  other than 0, one `WorkloadPriorityClass` per priority value (`priority-<value>`,
  `priority-minus-<value>` below 0).
- **Per tenant:** a `Namespace` (the tenant's name as a DNS label, optionally prefixed), a
  `ClusterQueue` of that name selecting only that namespace (`namespaceSelector` on
  `kubernetes.io/metadata.name`: a nil selector would match no namespace) with one resource
  group covering `cpu`, `memory` and the GPU quota resource (`quota_resource`, default
  `nvidia.com/gpu`), nominal quotas `gpu_quota` GPUs and as much CPU and memory as those GPUs'
  workers ask for; optionally in a shared cohort (`cohort`) so idle quota can be borrowed;
  a `LocalQueue` (`queue_name`, default `jobs`) pointing at it; and one
  `ResourceClaimTemplate` `gpus-<n>` per GPU count `n` its workers ask for (one `exactly`
  request of `n` devices of `device_class`, default `gpu.nvidia.com`).
- **Per job:** an Indexed `batch/v1` Job (`parallelism = completions = workers`,
  `completionMode: Indexed`, `backoffLimit: 0`, `suspend: true` as Kueue's own samples write
  it so nothing runs before admission, label `kueue.x-k8s.io/queue-name`, the WPC label when
  priorities are in use). Each worker has one container that runs `sleep <duration>` (the
  trace's run time, whole seconds rounded up; `infinity` for a job that outlives the window),
  asks for `cpu_per_gpu` and `memory_per_gpu` per GPU, and gets its GPUs from the template by
  `resourceClaims`. Annotations keep the trace's facts: `sim.dralloc.io/arrival-seconds`,
  `sim.dralloc.io/duration-seconds`, `sim.dralloc.io/trace-id`, `sim.dralloc.io/source`.
- **Per gang (workers > 1):** a `scheduling.k8s.io/v1alpha2` `Workload` named after the Job
  (`controllerRef` to it, one pod group template `workers` with `gang.minCount = workers`)
  and a `PodGroup` `<job>-workers` referring to that template with the same policy; the pod
  template carries `schedulingGroup.podGroupName`. Naming the group in the template is also
  what keeps 1.36's Job controller from creating a Workload and PodGroup of its own
  (`WorkloadWithJob` only does so for templates without `schedulingGroup`).

**With a topology** (`BatchObjectOptions.topology`, a `TopologyLayout`; Kueue's
Topology-Aware Scheduling): a `kueue.x-k8s.io/v1beta2` `Topology` (`topology.name`, levels
`cloud.provider.com/topology-block`, `cloud.provider.com/topology-rack`,
`kubernetes.io/hostname`, the label keys Kueue's own TAS samples use), the ResourceFlavor names
it in `spec.topologyName` with `nodeLabels: {cloud.provider.com/node-group: tas-node-group}`
(Kueue's CRD wants a TAS flavor to select nodes; every node of the layout has that label),
and each gang's pod template carries the pod-set annotation users
write: `kueue.x-k8s.io/podset-preferred-topology: <rack key>` (place the gang in one rack if
one has room, else the fewest racks of one block, else anywhere), or with `request:
required` `kueue.x-k8s.io/podset-required-topology: <rack key>` for a gang that fits in one
empty rack (`TopologyLayout.fits_rack`; a larger gang keeps the preferred annotation, as it
could never be admitted otherwise). The nodes' labels are `TopologyLayout.node_labels`: the
nodes in name order, `rack_hosts` consecutive hosts per rack, `block_racks` consecutive racks
per block (`block-0`, `rack-0`, ...), plus the flavor's node group; the queued replay gives
its nodes these labels, and a real cluster's nodes need them (`kubectl label`). Single-pod
jobs get no annotation: with every flavor a TAS flavor Kueue places them implicitly
(unconstrained, one host).

Kueue counts DRA claims only through `resources.deviceClassMappings` in its Configuration;
`kueue_configuration` gives the part that maps `device_class` to `quota_resource` (device-count
mode: one GPU charges 1), which `dralloc.queueing` reads as a `DeviceClassMapping` too.

Example::

    documents = batch_objects(resolve_job_trace("synthetic-jobs:jobs=20"))
    write_manifests(documents, Path("jobs.yaml"))  # then: kubectl apply -f jobs.yaml
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from dralloc.errors import InputError, Problem
from dralloc.sim.traces.jobs import BatchJob, JobTrace, Tenant

__all__ = [
    "ANNOTATION_ARRIVAL",
    "ANNOTATION_DURATION",
    "ANNOTATION_SOURCE",
    "ANNOTATION_TRACE_ID",
    "BLOCK_LABEL",
    "HOSTNAME_LABEL",
    "KUEUE_API_VERSION",
    "NODE_GROUP_LABEL",
    "PRIORITY_CLASS_LABEL",
    "QUEUE_NAME_LABEL",
    "RACK_LABEL",
    "TOPOLOGY_REQUESTS",
    "BatchObjectOptions",
    "TenantNames",
    "TopologyLayout",
    "batch_objects",
    "claim_template_name",
    "job_objects",
    "kueue_configuration",
    "priority_class_name",
    "shared_objects",
    "tenant_names",
    "tenant_objects",
    "topology_object",
    "write_manifests",
]

KUEUE_API_VERSION: Final = "kueue.x-k8s.io/v1beta2"
KUEUE_CONFIG_API_VERSION: Final = "config.kueue.x-k8s.io/v1beta2"
SCHEDULING_API_VERSION: Final = "scheduling.k8s.io/v1alpha2"
QUEUE_NAME_LABEL: Final = "kueue.x-k8s.io/queue-name"
PRIORITY_CLASS_LABEL: Final = "kueue.x-k8s.io/priority-class"
NAMESPACE_NAME_LABEL: Final = "kubernetes.io/metadata.name"
ANNOTATION_ARRIVAL: Final = "sim.dralloc.io/arrival-seconds"
ANNOTATION_DURATION: Final = "sim.dralloc.io/duration-seconds"
ANNOTATION_TRACE_ID: Final = "sim.dralloc.io/trace-id"
ANNOTATION_SOURCE: Final = "sim.dralloc.io/source"
POD_GROUP_TEMPLATE: Final = "workers"
BLOCK_LABEL: Final = "cloud.provider.com/topology-block"
RACK_LABEL: Final = "cloud.provider.com/topology-rack"
HOSTNAME_LABEL: Final = "kubernetes.io/hostname"
NODE_GROUP_LABEL: Final = "cloud.provider.com/node-group"
NODE_GROUP: Final = "tas-node-group"
PREFERRED_TOPOLOGY: Final = "kueue.x-k8s.io/podset-preferred-topology"
REQUIRED_TOPOLOGY: Final = "kueue.x-k8s.io/podset-required-topology"
TOPOLOGY_REQUESTS: Final = ("preferred", "required")
CLAIM_NAME: Final = "gpus"
_DNS_LABEL: Final = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_MAX_LABEL: Final = 63


@dataclass(frozen=True)
class TopologyLayout:
    """Where each node sits in a block / rack / host topology, and what the gangs ask of it
    (module docstring). `rack_hosts`: hosts per rack (default 4: with 8-GPU hosts a rack
    holds 32 GPUs, a 4-node gang); `block_racks`: racks per block (default 4); `node_gpus`:
    GPUs per host, to tell which gangs fit one rack; `request`: `preferred` (default) or
    `required` (module docstring); `name`: the Topology's. Deterministic: the node order
    alone decides the layout.

    >>> layout = TopologyLayout(rack_hosts=2, block_racks=2)
    >>> layout.node_labels(["n0", "n1", "n2", "n3", "n4"])["n4"][RACK_LABEL]
    'rack-2'
    """

    rack_hosts: int = 4
    block_racks: int = 4
    node_gpus: int = 8
    request: str = "preferred"
    name: str = "default"

    def __post_init__(self) -> None:
        problems = [
            Problem("", "topology", key, f"must be at least 1, got {value}")
            for key, value in (
                ("rack_hosts", self.rack_hosts),
                ("block_racks", self.block_racks),
                ("node_gpus", self.node_gpus),
            )
            if value < 1
        ]
        if self.request not in TOPOLOGY_REQUESTS:
            message = f"expected one of {', '.join(TOPOLOGY_REQUESTS)}, got {self.request!r}"
            problems.append(Problem("", "topology", "request", message))
        if problems:
            raise InputError(problems)

    def rack_of(self, index: int) -> int:
        """The rack of the `index`-th node (in name order)."""
        return index // self.rack_hosts

    def node_labels(self, names: Sequence[str]) -> dict[str, dict[str, str]]:
        """Each node's node-group (the TAS flavor's `nodeLabels`), block, rack and hostname
        labels; nodes taken in name order."""
        out = {}
        for index, name in enumerate(sorted(names)):
            rack = self.rack_of(index)
            out[name] = {
                NODE_GROUP_LABEL: NODE_GROUP,
                BLOCK_LABEL: f"block-{rack // self.block_racks}",
                RACK_LABEL: f"rack-{rack}",
                HOSTNAME_LABEL: name,
            }
        return out

    def fits_rack(self, job: BatchJob) -> bool:
        """Whether the job's workers fit in one empty rack (whole workers per host)."""
        per_host = self.node_gpus // job.gpus_per_worker if job.gpus_per_worker else job.workers
        return job.workers <= per_host * self.rack_hosts

    def annotations(self, job: BatchJob) -> dict[str, str]:
        """The pod-set topology annotation of a gang's pod template (none for one pod)."""
        if not job.is_gang:
            return {}
        if self.request == "required" and self.fits_rack(job):
            return {REQUIRED_TOPOLOGY: RACK_LABEL}
        return {PREFERRED_TOPOLOGY: RACK_LABEL}


@dataclass(frozen=True)
class BatchObjectOptions:
    """How the objects are made (see the module docstring).

    `device_class`: the DeviceClass the claims ask for. `quota_resource`: the logical resource
    a ClusterQueue's GPU quota is in (Kueue's `deviceClassMappings[].name`). `flavor`: the
    ResourceFlavor's name. `queue_name`: every tenant's LocalQueue. `cohort`: a cohort every
    ClusterQueue joins (empty: none, no borrowing). `namespace_prefix`: put before each
    tenant's namespace. `cpu_per_gpu`, `memory_per_gpu`: quantities a worker asks for per GPU
    (empty: no request, and the ClusterQueue then covers only GPUs). `image`: the workers'
    image (its `sleep` stands in for the training). `scheduler_name`: the pods'
    `schedulerName` (empty: the default scheduler; `dralloc` to run them with dralloc).
    `topology`: a block / rack / host topology for Kueue's TAS (None: none).
    """

    device_class: str = "gpu.nvidia.com"
    quota_resource: str = "nvidia.com/gpu"
    flavor: str = "default-flavor"
    queue_name: str = "jobs"
    cohort: str = ""
    namespace_prefix: str = ""
    cpu_per_gpu: str = "8"
    memory_per_gpu: str = "64Gi"
    image: str = "busybox:1.37"
    scheduler_name: str = ""
    topology: TopologyLayout | None = None


TenantNames = dict[str, str]
"""Tenant name -> its namespace (and ClusterQueue) name."""


def _dns_label(name: str) -> str:
    label = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    return label[:_MAX_LABEL].rstrip("-")


def tenant_names(tenants: Sequence[Tenant], prefix: str = "") -> TenantNames:
    """Each tenant's namespace: its name lower-cased, other characters than `a-z0-9-` as `-`
    (`app_0` -> `app-0`, `vcEwI` -> `vcewi`), after `prefix`. InputError when two tenants get
    the same namespace or one gets an invalid name."""
    names: TenantNames = {}
    owner: dict[str, str] = {}
    problems: list[Problem] = []
    for tenant in tenants:
        label = _dns_label(prefix + tenant.name)
        if not _DNS_LABEL.fullmatch(label):
            message = f"{tenant.name!r} gives no valid namespace name (a DNS label)"
            problems.append(Problem("", f"tenant {tenant.name}", "name", message))
        elif label in owner:
            message = f"namespace {label!r} is already tenant {owner[label]!r}'s"
            problems.append(Problem("", f"tenant {tenant.name}", "name", message))
        else:
            owner[label] = tenant.name
            names[tenant.name] = label
    if problems:
        raise InputError(problems)
    return names


def claim_template_name(gpus: int) -> str:
    return f"{CLAIM_NAME}-{gpus}"


def priority_class_name(priority: int) -> str:
    return f"priority-{priority}" if priority >= 0 else f"priority-minus-{-priority}"


def _times(quantity: str, gpus: int) -> str:
    """`quantity` x `gpus` in the same suffix (`8` x 4 = `32`, `64Gi` x 2 = `128Gi`)."""
    match = re.fullmatch(r"([0-9]+)([A-Za-z]*)", quantity)
    if match is None:
        raise InputError([Problem("", "options", "", f"not a whole quantity: {quantity!r}")])
    return f"{int(match.group(1)) * gpus}{match.group(2)}"


def _resources(options: BatchObjectOptions) -> list[str]:
    host = ["cpu", "memory"] if options.cpu_per_gpu and options.memory_per_gpu else []
    return [*host, options.quota_resource]


def shared_objects(trace: JobTrace, options: BatchObjectOptions) -> list[dict[str, Any]]:
    """The Topology (with `options.topology`), the ResourceFlavor and the
    WorkloadPriorityClasses (none when every priority is 0)."""
    flavor: dict[str, Any] = {
        "apiVersion": KUEUE_API_VERSION,
        "kind": "ResourceFlavor",
        "metadata": {"name": options.flavor},
        "spec": {},
    }
    documents: list[dict[str, Any]] = []
    if options.topology is not None:
        documents.append(topology_object(options.topology))
        # Kueue's CRD requires a TAS flavor to select nodes ("at least one nodeLabel is
        # required when topology is set"); every node of the layout carries it.
        flavor["spec"] = {
            "nodeLabels": {NODE_GROUP_LABEL: NODE_GROUP},
            "topologyName": options.topology.name,
        }
    documents.append(flavor)
    priorities = sorted({job.priority for job in trace.jobs})
    if priorities != [0] and priorities:
        documents.extend(
            {
                "apiVersion": KUEUE_API_VERSION,
                "kind": "WorkloadPriorityClass",
                "metadata": {"name": priority_class_name(value)},
                "value": value,
                "description": f"trace priority {value}",
            }
            for value in priorities
        )
    return documents


def topology_object(layout: TopologyLayout) -> dict[str, Any]:
    """The Kueue `Topology`: levels block, rack, hostname (highest first)."""
    return {
        "apiVersion": KUEUE_API_VERSION,
        "kind": "Topology",
        "metadata": {"name": layout.name},
        "spec": {
            "levels": [
                {"nodeLabel": BLOCK_LABEL},
                {"nodeLabel": RACK_LABEL},
                {"nodeLabel": HOSTNAME_LABEL},
            ]
        },
    }


def tenant_objects(
    tenant: Tenant,
    namespace: str,
    gpu_counts: Sequence[int],
    options: BatchObjectOptions,
) -> list[dict[str, Any]]:
    """A tenant's Namespace, ClusterQueue, LocalQueue and a ResourceClaimTemplate for each
    GPU count in `gpu_counts` (what its workers ask for)."""
    quota = tenant.gpu_quota
    resources = [{"name": options.quota_resource, "nominalQuota": str(quota)}]
    if options.cpu_per_gpu and options.memory_per_gpu:
        resources = [
            {"name": "cpu", "nominalQuota": _times(options.cpu_per_gpu, quota)},
            {"name": "memory", "nominalQuota": _times(options.memory_per_gpu, quota)},
            *resources,
        ]
    spec: dict[str, Any] = {
        "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: namespace}},
        "resourceGroups": [
            {
                "coveredResources": _resources(options),
                "flavors": [{"name": options.flavor, "resources": resources}],
            }
        ],
    }
    if options.cohort:
        spec["cohortName"] = options.cohort
    documents: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": namespace,
                "labels": {NAMESPACE_NAME_LABEL: namespace},
                "annotations": {ANNOTATION_SOURCE: tenant.source} if tenant.source else {},
            },
        },
        {
            "apiVersion": KUEUE_API_VERSION,
            "kind": "ClusterQueue",
            "metadata": {"name": namespace},
            "spec": spec,
        },
        {
            "apiVersion": KUEUE_API_VERSION,
            "kind": "LocalQueue",
            "metadata": {"name": options.queue_name, "namespace": namespace},
            "spec": {"clusterQueue": namespace},
        },
    ]
    for gpus in sorted(set(gpu_counts)):
        request = {"deviceClassName": options.device_class, "allocationMode": "ExactCount"}
        documents.append(
            {
                "apiVersion": "resource.k8s.io/v1",
                "kind": "ResourceClaimTemplate",
                "metadata": {"name": claim_template_name(gpus), "namespace": namespace},
                "spec": {
                    "spec": {
                        "devices": {
                            "requests": [
                                {"name": CLAIM_NAME, "exactly": {**request, "count": gpus}}
                            ]
                        }
                    }
                },
            }
        )
    if not documents[0]["metadata"]["annotations"]:
        del documents[0]["metadata"]["annotations"]
    return documents


def _seconds(value: float) -> str:
    return f"{value:g}" if value != int(value) else str(int(value))


def job_objects(
    job: BatchJob, namespace: str, options: BatchObjectOptions, *, priorities: bool = False
) -> list[dict[str, Any]]:
    """One job's Workload and PodGroup (gangs only) and its Job, in apply order. `priorities`:
    label the Job with its WorkloadPriorityClass (see `shared_objects`)."""
    sleep = "infinity" if job.duration is None else str(math.ceil(job.duration))
    requests: dict[str, str] = {}
    if options.cpu_per_gpu and options.memory_per_gpu:
        requests = {
            "cpu": _times(options.cpu_per_gpu, job.gpus_per_worker),
            "memory": _times(options.memory_per_gpu, job.gpus_per_worker),
        }
    container: dict[str, Any] = {
        "name": "worker",
        "image": options.image,
        "command": ["sleep", sleep],
        "resources": {
            **({"requests": requests} if requests else {}),
            "claims": [{"name": CLAIM_NAME}],
        },
    }
    pod_spec: dict[str, Any] = {"restartPolicy": "Never"}
    if options.scheduler_name:
        pod_spec["schedulerName"] = options.scheduler_name
    group = f"{job.name}-{POD_GROUP_TEMPLATE}"
    if job.is_gang:
        pod_spec["schedulingGroup"] = {"podGroupName": group}
    pod_spec["containers"] = [container]
    pod_spec["resourceClaims"] = [
        {"name": CLAIM_NAME, "resourceClaimTemplateName": claim_template_name(job.gpus_per_worker)}
    ]
    labels = {QUEUE_NAME_LABEL: options.queue_name}
    if priorities:
        labels[PRIORITY_CLASS_LABEL] = priority_class_name(job.priority)
    annotations = {ANNOTATION_ARRIVAL: _seconds(job.arrival)}
    if job.duration is not None:
        annotations[ANNOTATION_DURATION] = _seconds(job.duration)
    if job.trace_id:
        annotations[ANNOTATION_TRACE_ID] = job.trace_id
    if job.source:
        annotations[ANNOTATION_SOURCE] = job.source
    template: dict[str, Any] = {"spec": pod_spec}
    if options.topology is not None and (topology := options.topology.annotations(job)):
        template = {"metadata": {"annotations": topology}, "spec": pod_spec}
    documents: list[dict[str, Any]] = []
    if job.is_gang:
        policy = {"gang": {"minCount": job.workers}}
        documents += [
            {
                "apiVersion": SCHEDULING_API_VERSION,
                "kind": "Workload",
                "metadata": {"name": job.name, "namespace": namespace},
                "spec": {
                    "controllerRef": {"apiGroup": "batch", "kind": "Job", "name": job.name},
                    "podGroupTemplates": [{"name": POD_GROUP_TEMPLATE, "schedulingPolicy": policy}],
                },
            },
            {
                "apiVersion": SCHEDULING_API_VERSION,
                "kind": "PodGroup",
                "metadata": {"name": group, "namespace": namespace},
                "spec": {
                    "podGroupTemplateRef": {
                        "workload": {
                            "workloadName": job.name,
                            "podGroupTemplateName": POD_GROUP_TEMPLATE,
                        }
                    },
                    "schedulingPolicy": policy,
                },
            },
        ]
    documents.append(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": job.name,
                "namespace": namespace,
                "labels": labels,
                "annotations": annotations,
            },
            "spec": {
                "parallelism": job.workers,
                "completions": job.workers,
                "completionMode": "Indexed",
                "backoffLimit": 0,
                "suspend": True,
                "template": template,
            },
        }
    )
    return documents


def batch_objects(
    trace: JobTrace,
    options: BatchObjectOptions | None = None,
    jobs: Sequence[BatchJob] | None = None,
) -> list[dict[str, Any]]:
    """Every object of `trace` (or of its `jobs` subset, the tenants and shared objects all
    the same) in apply order: shared objects, each tenant's, then each job's. InputError for
    a job whose tenant is not in the trace, or tenants with clashing namespaces."""
    options = options or BatchObjectOptions()
    chosen = trace.jobs if jobs is None else jobs
    names = tenant_names(trace.tenants, options.namespace_prefix)
    problems = [
        Problem(
            job.source,
            f"line {job.line}" if job.line else f"job {job.name}",
            "tenant",
            f"job {job.name} belongs to {job.tenant!r}, which is not a tenant of the trace",
        )
        for job in chosen
        if job.tenant not in names
    ]
    if problems:
        raise InputError(problems)
    counts: dict[str, set[int]] = {tenant.name: set() for tenant in trace.tenants}
    for job in chosen:
        counts[job.tenant].add(job.gpus_per_worker)
    documents = shared_objects(trace, options)
    for tenant in trace.tenants:
        documents += tenant_objects(
            tenant, names[tenant.name], sorted(counts[tenant.name]), options
        )
    priorities = any(job.priority for job in trace.jobs)
    for job in chosen:
        documents += job_objects(job, names[job.tenant], options, priorities=priorities)
    return documents


def kueue_configuration(options: BatchObjectOptions | None = None) -> dict[str, Any]:
    """The part of Kueue's Configuration that charges the claims' GPUs to `quota_resource`."""
    options = options or BatchObjectOptions()
    return {
        "apiVersion": KUEUE_CONFIG_API_VERSION,
        "kind": "Configuration",
        "resources": {
            "deviceClassMappings": [
                {"name": options.quota_resource, "deviceClassNames": [options.device_class]}
            ]
        },
    }


def _yaml_documents(documents: Sequence[dict[str, Any]]) -> Iterator[str]:
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    for document in documents:
        yield yaml.dump(document, Dumper=dumper, sort_keys=False, width=1 << 16)


def write_manifests(documents: Sequence[dict[str, Any]], path: Path) -> None:
    """Write `documents` to `path` as multi-document YAML, atomically (a temporary file in the
    same folder, then renamed): a reader never sees half a file."""
    folder = path.parent
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=folder, prefix=f".{path.name}.", delete=False
    ) as out:
        try:
            for index, text in enumerate(_yaml_documents(documents)):
                if index:
                    out.write("---\n")
                out.write(text)
        except BaseException:
            out.close()
            os.unlink(out.name)
            raise
    os.replace(out.name, path)
