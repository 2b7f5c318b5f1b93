"""Job traces as Kubernetes objects (`dralloc.sim.batch_objects`): what every tenant and job
becomes, that `dralloc.api.io` and `dralloc.queueing` read the objects without a problem, that
a job's pods charge its tenant's ClusterQueue exactly what the queue covers, and the errors a
bad trace gives.

The test on the real ITP trace reads `../shared/traces` beside the repository and skips,
saying so, where it is absent.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from dralloc.api.io import load_files
from dralloc.api.scheduling import PodGroup, SchedulingWorkload
from dralloc.errors import InputError, Problem
from dralloc.queueing.dra import DeviceClassMapping, DraInventory, DraQuotaConfig
from dralloc.queueing.objects import Workload as KueueWorkload
from dralloc.queueing.reader import decode_document, read_queue_files
from dralloc.queueing.requests import workload_requests
from dralloc.sim.batch_objects import (
    ANNOTATION_ARRIVAL,
    ANNOTATION_DURATION,
    PRIORITY_CLASS_LABEL,
    QUEUE_NAME_LABEL,
    BatchObjectOptions,
    batch_objects,
    job_objects,
    kueue_configuration,
    tenant_names,
    write_manifests,
)
from dralloc.sim.traces import itp
from dralloc.sim.traces.job_resolve import resolve_job_trace
from dralloc.sim.traces.jobs import BatchJob, JobTrace, Tenant
from dralloc.sim.traces.synthetic_jobs import generate_jobs

SHARED_TRACES = Path(__file__).resolve().parents[2].parent / "shared" / "traces"
needs_itp_and_helios = pytest.mark.skipif(
    not (SHARED_TRACES / itp.FOLDER_NAME / "cluster10.csv").is_file()
    or not (SHARED_TRACES / "helios-vc-gpus" / "Venus" / "cluster_gpu_number.csv").is_file(),
    reason=f"the ITP trace or the Helios quotas are not under {SHARED_TRACES} (no ../shared)",
)


def kinds(documents: list[dict[str, Any]]) -> Counter[str]:
    return Counter(d["kind"] for d in documents)


def test_a_gang_becomes_a_workload_a_pod_group_and_an_indexed_job() -> None:
    job = BatchJob("train", arrival=30.0, duration=3600.5, workers=4, gpus_per_worker=8)
    workload, group, batch = job_objects(job, "team-a", BatchObjectOptions())
    assert workload == {
        "apiVersion": "scheduling.k8s.io/v1alpha2",
        "kind": "Workload",
        "metadata": {"name": "train", "namespace": "team-a"},
        "spec": {
            "controllerRef": {"apiGroup": "batch", "kind": "Job", "name": "train"},
            "podGroupTemplates": [
                {"name": "workers", "schedulingPolicy": {"gang": {"minCount": 4}}}
            ],
        },
    }
    assert group["metadata"] == {"name": "train-workers", "namespace": "team-a"}
    assert group["spec"] == {
        "podGroupTemplateRef": {
            "workload": {"workloadName": "train", "podGroupTemplateName": "workers"}
        },
        "schedulingPolicy": {"gang": {"minCount": 4}},
    }
    assert batch["metadata"]["labels"] == {QUEUE_NAME_LABEL: "jobs"}
    assert batch["metadata"]["annotations"] == {
        ANNOTATION_ARRIVAL: "30",
        ANNOTATION_DURATION: "3600.5",
    }
    spec = batch["spec"]
    assert (spec["parallelism"], spec["completions"], spec["completionMode"]) == (4, 4, "Indexed")
    assert spec["suspend"] is True and spec["backoffLimit"] == 0
    pod = spec["template"]["spec"]
    assert pod["schedulingGroup"] == {"podGroupName": "train-workers"}
    assert pod["resourceClaims"] == [{"name": "gpus", "resourceClaimTemplateName": "gpus-8"}]
    (container,) = pod["containers"]
    assert container["command"] == ["sleep", "3601"]
    assert container["resources"] == {
        "requests": {"cpu": "64", "memory": "512Gi"},
        "claims": [{"name": "gpus"}],
    }


def test_a_one_worker_job_has_no_pod_group_and_one_that_never_ends_sleeps_forever() -> None:
    job = BatchJob("serve", arrival=0.0, duration=None, workers=1, gpus_per_worker=2)
    (batch,) = job_objects(job, "app-0", BatchObjectOptions(scheduler_name="dralloc"))
    pod = batch["spec"]["template"]["spec"]
    assert "schedulingGroup" not in pod and pod["schedulerName"] == "dralloc"
    assert pod["containers"][0]["command"] == ["sleep", "infinity"]
    assert ANNOTATION_DURATION not in batch["metadata"]["annotations"]


def test_converted_synthetic_jobs_load_with_dralloc_and_its_kueue_reader(tmp_path: Path) -> None:
    trace = generate_jobs("synthetic-jobs:jobs=400,tenants=3,seed=11,priorities=0|100|-5")
    options = BatchObjectOptions(cohort="all-teams", namespace_prefix="batch-")
    documents = batch_objects(trace, options)
    gangs = sum(j.is_gang for j in trace.jobs)
    assert gangs > 0
    counts = kinds(documents)
    assert counts["Job"] == 400
    assert counts["PodGroup"] == counts["Workload"] == gangs
    assert counts["Namespace"] == counts["ClusterQueue"] == counts["LocalQueue"] == 3
    assert counts["ResourceFlavor"] == 1 and counts["WorkloadPriorityClass"] == 3
    path = tmp_path / "jobs.yaml"
    write_manifests(documents, path)
    assert [p.name for p in tmp_path.iterdir()] == ["jobs.yaml"]

    loaded = load_files([str(path)])
    groups = [o.obj for o in loaded if isinstance(o.obj, PodGroup)]
    assert len(groups) == gangs
    assert len([o for o in loaded if isinstance(o.obj, SchedulingWorkload)]) == gangs
    workers = {f"{j.name}-workers": j.workers for j in trace.jobs if j.is_gang}
    for group in groups:
        gang = group.spec.scheduling_policy.gang
        assert gang is not None and gang.min_count == workers[group.metadata.name]

    queues = read_queue_files([str(path)])
    assert set(queues.cluster_queues) == {f"batch-{t.name}" for t in trace.tenants}
    for tenant in trace.tenants:
        cq = queues.cluster_queues[f"batch-{tenant.name}"]
        assert cq.spec.cohort_name == "all-teams"
        (group_,) = cq.spec.resource_groups
        quota = {r.name: str(r.nominal_quota) for r in group_.flavors[0].resources}
        assert quota == {
            "cpu": str(8 * tenant.gpu_quota),
            "memory": f"{64 * tenant.gpu_quota // 1024}Ti"
            if tenant.gpu_quota % 16 == 0
            else f"{64 * tenant.gpu_quota}Gi",
            "nvidia.com/gpu": str(tenant.gpu_quota),
        }
        namespace = f"batch-{tenant.name}"
        assert queues.namespace_labels[namespace] == {"kubernetes.io/metadata.name": namespace}
        assert queues.local_queues[f"{namespace}/jobs"].spec.cluster_queue == namespace
    values = {name: wpc.value for name, wpc in queues.workload_priority_classes.items()}
    assert values == {"priority-0": 0, "priority-100": 100, "priority-minus-5": -5}
    labelled = [d for d in documents if d["kind"] == "Job"]
    assert {d["metadata"]["labels"][PRIORITY_CLASS_LABEL] for d in labelled} == set(values)


def test_a_jobs_pods_charge_its_gpus_cpu_and_memory_to_what_the_queue_covers(
    tmp_path: Path,
) -> None:
    """What Kueue's Job integration makes of a converted Job (one pod set `main` of
    `parallelism` pods), counted with the mapping `kueue_configuration` declares."""
    job = BatchJob("big", 0.0, 60.0, workers=8, gpus_per_worker=8, tenant="team-a")
    trace = JobTrace("t", (job,), (Tenant("team-a", 64),))
    documents = batch_objects(trace)
    path = tmp_path / "big.yaml"
    write_manifests(documents, path)
    queues = read_queue_files([str(path)])
    batch = next(d for d in documents if d["kind"] == "Job")
    raw = {
        "apiVersion": "kueue.x-k8s.io/v1beta2",
        "kind": "Workload",
        "metadata": {"name": "job-big", "namespace": "team-a"},
        "spec": {
            "queueName": batch["metadata"]["labels"][QUEUE_NAME_LABEL],
            "podSets": [
                {
                    "name": "main",
                    "count": batch["spec"]["parallelism"],
                    "template": batch["spec"]["template"],
                }
            ],
        },
    }
    workload, problems = decode_document(raw, "big.yaml", 1)
    assert problems == [] and isinstance(workload, KueueWorkload)
    (mapping,) = kueue_configuration()["resources"]["deviceClassMappings"]
    config = DraQuotaConfig(
        (DeviceClassMapping(mapping["name"], tuple(mapping["deviceClassNames"])),),
        extension_keys=False,
    )
    requests = workload_requests(workload, DraInventory(templates=queues.claim_templates), config)
    assert requests.errors == []
    (pod_set,) = requests.pod_sets
    assert pod_set.count == 8
    covered = queues.cluster_queues["team-a"].spec.resource_groups[0].covered_resources
    assert set(pod_set.per_pod) == set(covered)
    total = pod_set.total()
    assert total["nvidia.com/gpu"] == 64  # the whole quota: this gang fits it exactly
    assert total["cpu"] == 512_000  # milli-cores: 8 vCPU per GPU


@needs_itp_and_helios
def test_the_real_itp_cluster10_converts_to_objects_dralloc_loads(tmp_path: Path) -> None:
    trace = resolve_job_trace(
        "itp-elasticflow:cluster=10,tenants=venus,vcs=4,seed=2", SHARED_TRACES
    )
    documents = batch_objects(trace)
    counts = kinds(documents)
    assert counts["Job"] == 260 and counts["PodGroup"] == 2  # the two 16-GPU jobs
    path = tmp_path / "itp10.yaml"
    write_manifests(documents, path)
    loaded = load_files([str(path)])
    assert sum(1 for o in loaded if o.obj.kind == "Job") == 260
    read_queue_files([str(path)])


def test_tenants_whose_namespaces_clash_are_refused() -> None:
    tenants = [Tenant("vcAB", 8), Tenant("vcab", 8), Tenant("___", 8)]
    with pytest.raises(InputError) as err:
        tenant_names(tenants)
    assert err.value.problems == [
        Problem("", "tenant ___", "name", "'___' gives no valid namespace name (a DNS label)"),
        Problem("", "tenant vcab", "name", "namespace 'vcab' is already tenant 'vcAB''s"),
    ]
    assert tenant_names([Tenant("app_0", 8), Tenant("vcEwI", 8)]) == {
        "app_0": "app-0",
        "vcEwI": "vcewi",
    }


def test_a_job_of_no_known_tenant_is_named() -> None:
    job = BatchJob("lost", 0.0, 1.0, 1, 1, tenant="nobody", source="cluster01", line=7)
    trace = JobTrace("t", (job,), (Tenant("team-a", 8),))
    with pytest.raises(InputError) as err:
        batch_objects(trace)
    assert err.value.problems == [
        Problem(
            "cluster01",
            "line 7",
            "tenant",
            "job lost belongs to 'nobody', which is not a tenant of the trace",
        )
    ]


def test_without_host_requests_the_queue_covers_only_gpus() -> None:
    trace = generate_jobs("synthetic-jobs:jobs=5,tenants=1")
    documents = batch_objects(trace, BatchObjectOptions(cpu_per_gpu="", memory_per_gpu=""))
    cq = next(d for d in documents if d["kind"] == "ClusterQueue")
    assert cq["spec"]["resourceGroups"][0]["coveredResources"] == ["nvidia.com/gpu"]
    job = next(d for d in documents if d["kind"] == "Job")
    assert "requests" not in job["spec"]["template"]["spec"]["containers"][0]["resources"]


def test_written_manifests_are_plain_yaml_documents_in_apply_order(tmp_path: Path) -> None:
    trace = generate_jobs("synthetic-jobs:jobs=30,tenants=2,seed=5")
    documents = batch_objects(trace)
    path = tmp_path / "out.yaml"
    write_manifests(documents, path)
    assert list(yaml.safe_load_all(path.read_text())) == documents
    order = [d["kind"] for d in documents]
    assert order[0] == "ResourceFlavor" and order.index("Job") > order.index("LocalQueue")
