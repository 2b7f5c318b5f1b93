"""The objects the batch-trace converter writes (`dralloc.sim.batch_objects`: Kueue's
ResourceFlavor, ClusterQueues, LocalQueues, WorkloadPriorityClasses, Namespaces, claim
templates, suspended Indexed Jobs, scheduling.k8s.io/v1alpha2 Workloads and PodGroups) are
accepted by kube-apiserver v1.36.3 with Kueue v0.17.0's real CRDs, as a user would apply
them: `kubectl apply --server-side`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from controlplane import ApiServer, Kubectl
from crdkit import KUEUE_CRD_FILES, install_crds

from conftest import ApiServerOptions
from dralloc.sim.batch_objects import BatchObjectOptions, batch_objects, write_manifests
from dralloc.sim.traces.job_resolve import resolve_job_trace

pytestmark = pytest.mark.k8s

SHARED_TRACES = Path(__file__).resolve().parents[2].parent / "shared" / "traces"


@pytest.fixture(scope="module")
def apiserver_options() -> ApiServerOptions:
    # The gang objects are alpha in 1.36: served only with the gate and the API enabled.
    return ApiServerOptions(
        feature_gates={"GenericWorkload": True},
        runtime_config={"scheduling.k8s.io/v1alpha2": True},
    )


@pytest.fixture(scope="module")
def kueue_crds(apiserver: ApiServer) -> Iterator[None]:
    install_crds(apiserver, KUEUE_CRD_FILES, ("kueue.x-k8s.io/v1beta2",))
    yield


def _apply(kubectl: Kubectl, tmp_path: Path, workload: str, options: BatchObjectOptions) -> int:
    trace = resolve_job_trace(workload, str(SHARED_TRACES))
    documents = batch_objects(trace, options)
    manifest = tmp_path / "batch.yaml"
    write_manifests(documents, manifest)
    applied = kubectl("apply", "--server-side", "-f", str(manifest), check=False)
    assert applied.returncode == 0, applied.stderr[-3000:]
    assert len(applied.stdout.splitlines()) == len(documents)
    return len(documents)


def test_a_synthetic_batch_trace_applies_with_queues_priorities_and_gangs(
    kueue_crds: None, kubectl: Kubectl, tmp_path: Path
) -> None:
    count = _apply(
        kubectl,
        tmp_path,
        "synthetic-jobs:jobs=60,tenants=3,seed=11,priorities=0|100|-5",
        BatchObjectOptions(cohort="all", scheduler_name="dralloc"),
    )
    assert count > 60
    cluster_queues = kubectl("get", "clusterqueues", "-o", "name").stdout.split()
    assert len(cluster_queues) == 3, cluster_queues
    local_queues = kubectl("get", "localqueues", "-A", "-o", "name").stdout.split()
    assert len(local_queues) == 3, local_queues
    pod_groups = kubectl("get", "podgroups.scheduling.k8s.io", "-A", "-o", "name").stdout.split()
    jobs = kubectl("get", "jobs", "-A", "-o", "name").stdout.split()
    assert len(jobs) == 60
    assert pod_groups, "the synthetic trace's gangs became PodGroups"


@pytest.mark.skipif(
    not (SHARED_TRACES / "itp-elasticflow").is_dir()
    or not (SHARED_TRACES / "helios-vc-gpus").is_dir(),
    reason=f"the ITP trace or the Helios quotas are not under {SHARED_TRACES} (no ../shared)",
)
def test_an_itp_cluster_with_helios_tenants_applies(
    kueue_crds: None, kubectl: Kubectl, tmp_path: Path
) -> None:
    count = _apply(
        kubectl,
        tmp_path,
        "itp-elasticflow:cluster=10,tenants=venus,vcs=4,seed=2",
        BatchObjectOptions(namespace_prefix="itp-"),
    )
    assert count > 100
