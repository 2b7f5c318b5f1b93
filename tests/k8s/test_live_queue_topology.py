"""Kueue's topology-aware scheduling, live: dralloc's queue controller against a real
kube-apiserver with Kueue's CRDs, beside dralloc's live scheduler and Job controller.

A Topology (block, rack, hostname: the labels of Kueue's TAS kind cluster) over 2 racks of 2
nodes, a TAS ResourceFlavor and a ClusterQueue with quota to spare. Indexed Jobs asking for
one rack (Kueue's sample-job-required, with dralloc's schedulerName) are admitted with a
`topologyAssignment` in the Workload's status (v1beta2 compact form), started with their pod
templates gated (`kueue.x-k8s.io/topology`), and each pod is ungated with its rank's host as
nodeSelector and bound there: the first Job fills one rack, the second the other, a third
finds no rack and waits with Kueue's TAS message although quota is free."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from controlplane import ApiServer
from crdkit import KUEUE_CRD_FILES, install_crds
from livekit import create_node, dralloc_config, eventually, live_scheduler, unique

from dralloc.features import Features
from dralloc.kube.client import JOBS, KubeClient
from dralloc.kube.controllers import build_controllers
from dralloc.kube.controllers.jobset import JOBSETS
from dralloc.kube.controllers.queue import (
    CLUSTER_QUEUES,
    LOCAL_QUEUES,
    RESOURCE_FLAVORS,
    WORKLOADS,
    QueueController,
)
from dralloc.kube.controllers.queuecluster import LivePlacement
from dralloc.kube.controllers.queuetopology import TOPOLOGIES
from dralloc.kube.ownership import Ownership, parse_label_selector
from dralloc.kube.shared_informers import SharedInformers
from dralloc.queueing import decode_assignment, pod_node_selectors

pytestmark = pytest.mark.k8s

Obj = dict[str, Any]
KUEUE = "kueue.x-k8s.io/v1beta2"
BLOCK = "cloud.provider.com/topology-block"
RACK = "cloud.provider.com/topology-rack"
HOSTNAME = "kubernetes.io/hostname"
INDEX = "batch.kubernetes.io/job-completion-index"


@pytest.fixture(scope="module", autouse=True)
def kueue_crds(apiserver: ApiServer) -> Iterator[None]:
    install_crds(
        apiserver,
        (*KUEUE_CRD_FILES, "jobset.x-k8s.io_jobsets.yaml"),
        (KUEUE, "jobset.x-k8s.io/v1alpha2"),
    )
    # The group is served once its first CRD is; the controller turns TAS on only if
    # Topologies are among its resources when it starts.
    for _ in range(300):
        found = apiserver.admin.get(f"/apis/{KUEUE}").body
        if "topologies" in {r["name"] for r in found.get("resources", [])}:
            break
        time.sleep(0.1)
    else:
        pytest.fail("kueue.x-k8s.io/v1beta2 topologies not served 30 s after the CRD")
    yield


@asynccontextmanager
async def controllers(
    kubeconfig: Path, placement: LivePlacement | None, names: tuple[str, ...] = ("queue", "job")
) -> AsyncIterator[None]:
    client = KubeClient.connect(kubeconfig)
    informers = SharedInformers(client, random.Random(7))
    built = build_controllers(
        list(names), client, informers, rng=random.Random(7), queue_placement=placement
    )
    await informers.start()
    await informers.wait_synced(30)
    tasks = [asyncio.create_task(c.run(), name=c.name) for c in built]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for controller in built:
            if isinstance(controller, QueueController):
                await controller.events.drain(5)
        await informers.stop()
        await client.aclose()


async def racks(admin: KubeClient, label: str) -> dict[str, str]:
    """2 racks x 2 nodes of 8 cpu in one block, labelled as Kueue's TAS kind cluster and
    owner=<label>; returns node -> rack."""
    out = {}
    for rack in ("r0", "r1"):
        for host in ("h0", "h1"):
            name = unique(f"{label}-{rack}{host}")
            await create_node(
                admin,
                name,
                {
                    "owner": label,
                    "cloud.provider.com/node-group": label,
                    BLOCK: f"{label}-b0",
                    RACK: f"{label}-{rack}",
                },
            )
            out[name] = f"{label}-{rack}"
    return out


async def tas_queues(admin: KubeClient, namespace: str, label: str) -> str:
    """Kueue's sample-queues.yaml shapes (Topology `default` renamed per test), a LocalQueue."""
    topology = f"{label}-topology"
    await admin.create(
        TOPOLOGIES.collection(),
        {
            "apiVersion": KUEUE,
            "kind": "Topology",
            "metadata": {"name": topology},
            "spec": {
                "levels": [{"nodeLabel": BLOCK}, {"nodeLabel": RACK}, {"nodeLabel": HOSTNAME}]
            },
        },
    )
    await admin.create(
        RESOURCE_FLAVORS.collection(),
        {
            "apiVersion": KUEUE,
            "kind": "ResourceFlavor",
            "metadata": {"name": f"{label}-tas-flavor"},
            "spec": {
                "nodeLabels": {"cloud.provider.com/node-group": label},
                "topologyName": topology,
            },
        },
    )
    await admin.create(
        CLUSTER_QUEUES.collection(),
        {
            "apiVersion": KUEUE,
            "kind": "ClusterQueue",
            "metadata": {"name": f"{label}-cq"},
            "spec": {
                "namespaceSelector": {},
                "resourceGroups": [
                    {
                        "coveredResources": ["cpu", "memory"],
                        "flavors": [
                            {
                                "name": f"{label}-tas-flavor",
                                "resources": [
                                    {"name": "cpu", "nominalQuota": 100},
                                    {"name": "memory", "nominalQuota": "100Gi"},
                                ],
                            }
                        ],
                    }
                ],
            },
        },
    )
    await admin.create(
        LOCAL_QUEUES.collection(namespace),
        {
            "apiVersion": KUEUE,
            "kind": "LocalQueue",
            "metadata": {"name": "tas-user-queue", "namespace": namespace},
            "spec": {"clusterQueue": f"{label}-cq"},
        },
    )
    return topology


def sample_job(namespace: str, name: str, pods: int) -> Obj:
    """Kueue's sample-job-required.yaml: `pods` pods of 3 cpu (2 per node, 4 per rack) that
    must share one rack; dralloc's schedulerName, the only scheduler here."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"kueue.x-k8s.io/queue-name": "tas-user-queue"},
        },
        "spec": {
            "parallelism": pods,
            "completions": pods,
            "completionMode": "Indexed",
            "suspend": True,
            "template": {
                "metadata": {"annotations": {"kueue.x-k8s.io/podset-required-topology": RACK}},
                "spec": {
                    "schedulerName": "dralloc",
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "dummy-job",
                            "image": "registry.k8s.io/e2e-test-images/agnhost:2.53",
                            "args": ["pause"],
                            "resources": {"requests": {"cpu": "3", "memory": "200Mi"}},
                        }
                    ],
                },
            },
        },
    }


async def workload_of(admin: KubeClient, namespace: str, job: str) -> Obj | None:
    for workload in (await admin.list(WORKLOADS.collection(namespace)))["items"]:
        owners = workload["metadata"].get("ownerReferences") or []
        if any(o.get("kind") == "Job" and o.get("name") == job for o in owners):
            return workload
    return None


async def job_pods(admin: KubeClient, namespace: str, job: str) -> list[Obj]:
    found = await admin.list(f"/api/v1/namespaces/{namespace}/pods")
    return [
        p
        for p in found["items"]
        if (p["metadata"].get("labels") or {}).get("batch.kubernetes.io/job-name") == job
    ]


def condition(obj: Obj, kind: str) -> Obj | None:
    for found in (obj.get("status") or {}).get("conditions") or []:
        if found.get("type") == kind:
            return found
    return None


async def bound_in_their_slots(
    admin: KubeClient, namespace: str, label: str, job: str, pods: int
) -> set[str]:
    """Wait until the Job's pods are bound; check each was ungated onto its rank's host."""

    async def bound() -> list[Obj] | None:
        found = await job_pods(admin, namespace, job)
        done = len(found) == pods and all(p["spec"].get("nodeName") for p in found)
        return found if done else None

    found = await eventually(bound, timeout=60, what=f"the pods of Job {job} bound")
    workload = await workload_of(admin, namespace, job)
    assert workload is not None
    (psa,) = workload["status"]["admission"]["podSetAssignments"]
    slots = pod_node_selectors(psa["topologyAssignment"])
    assert len(slots) == pods
    for pod in found:
        rank = int(pod["metadata"]["labels"][INDEX])
        assert "schedulingGates" not in pod["spec"]
        selector = dict(pod["spec"]["nodeSelector"])
        assert selector.pop("cloud.provider.com/node-group") == label
        assert selector == slots[rank]
        assert pod["spec"]["nodeName"] == slots[rank][HOSTNAME]
        assert pod["metadata"]["labels"]["kueue.x-k8s.io/podset"] == "main"
        assert (
            pod["metadata"]["annotations"]["kueue.x-k8s.io/workload"]
            == (workload["metadata"]["name"])
        )
    return {p["spec"]["nodeName"] for p in found}


@pytest.mark.parametrize("placement", [True, False], ids=["placement", "quota-only"])
def test_jobs_asking_for_a_rack_get_one_each_and_their_pods_land_on_their_ranks_hosts(
    apiserver: ApiServer, namespace: str, placement: bool
) -> None:
    async def scenario() -> None:
        admin = KubeClient.connect(apiserver.admin_kubeconfig)
        label = unique("tas")
        rack_of = await racks(admin, label)
        topology = await tas_queues(admin, namespace, label)
        checked = (
            LivePlacement(
                Features(), dralloc_config(), Ownership(parse_label_selector(f"owner={label}"))
            )
            if placement
            else None
        )
        async with (
            live_scheduler(apiserver.admin_kubeconfig, owned=f"owner={label}"),
            controllers(apiserver.admin_kubeconfig, checked),
        ):
            await admin.create(JOBS.collection(namespace), sample_job(namespace, "first", 4))
            first = await bound_in_their_slots(admin, namespace, label, "first", 4)
            assert len({rack_of[n] for n in first}) == 1
            workload = await workload_of(admin, namespace, "first")
            assert workload is not None
            (psa,) = workload["status"]["admission"]["podSetAssignments"]
            levels, domains = decode_assignment(psa["topologyAssignment"])
            assert levels == [HOSTNAME]
            assert sorted(d.count for d in domains) == [2, 2]

            await admin.create(JOBS.collection(namespace), sample_job(namespace, "second", 4))
            second = await bound_in_their_slots(admin, namespace, label, "second", 4)
            assert len({rack_of[n] for n in second}) == 1
            assert not first & second

            await admin.create(JOBS.collection(namespace), sample_job(namespace, "third", 2))

            async def waits() -> Obj | None:
                found = condition(
                    await workload_of(admin, namespace, "third") or {}, "QuotaReserved"
                )
                return found if found and found.get("reason") != "Pending" else None

            said = await eventually(waits, what="the third Job's Workload decided")
            assert said["status"] == "False"
            # Quota is free and the empty topology would hold it: Kueue's Preempt case, said.
            assert said["message"] == (
                "placement infeasible: couldn't assign flavors to pod set main: topology "
                f'"{topology}" doesn\'t allow to fit any of 2 pod(s). Total nodes: 4; '
                'excluded: resource "cpu": 4; fragmented: the empty topology would hold it '
                "(Kueue then looks for Workloads to preempt for its domains; dralloc waits "
                "for domains to free up)"
            ), said
            job = await admin.get(JOBS.item(namespace, "third"))
            assert job["spec"]["suspend"] is True
        await admin.aclose()

    asyncio.run(scenario())


def tas_jobset(namespace: str, name: str) -> Obj:
    """A JobSet of 2 Jobs x 2 pods of 3 cpu that must share a rack (the pod template's
    annotation, as Kueue's JobSet integration reads it)."""
    return {
        "apiVersion": "jobset.x-k8s.io/v1alpha2",
        "kind": "JobSet",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"kueue.x-k8s.io/queue-name": "tas-user-queue"},
        },
        "spec": {
            "suspend": True,
            "replicatedJobs": [
                {
                    "name": "workers",
                    "replicas": 2,
                    "template": {
                        "spec": {
                            "parallelism": 2,
                            "completions": 2,
                            "template": {
                                "metadata": {
                                    "annotations": {"kueue.x-k8s.io/podset-required-topology": RACK}
                                },
                                "spec": {
                                    "schedulerName": "dralloc",
                                    "restartPolicy": "Never",
                                    "containers": [
                                        {
                                            "name": "main",
                                            "image": "registry.k8s.io/pause:3.10",
                                            "resources": {"requests": {"cpu": "3"}},
                                        }
                                    ],
                                },
                            },
                        }
                    },
                }
            ],
        },
    }


def test_a_jobset_asking_for_a_rack_lands_by_job_index_then_completion_index(
    apiserver: ApiServer, namespace: str
) -> None:
    async def scenario() -> None:
        admin = KubeClient.connect(apiserver.admin_kubeconfig)
        label = unique("tjs")
        rack_of = await racks(admin, label)
        await tas_queues(admin, namespace, label)
        async with (
            live_scheduler(apiserver.admin_kubeconfig, owned=f"owner={label}"),
            controllers(apiserver.admin_kubeconfig, None, ("queue", "jobset", "job")),
        ):
            await admin.create(JOBSETS.collection(namespace), tas_jobset(namespace, "train"))

            async def bound() -> list[Obj] | None:
                found = await admin.list(f"/api/v1/namespaces/{namespace}/pods")
                pods = [
                    p
                    for p in found["items"]
                    if (p["metadata"].get("labels") or {}).get("jobset.sigs.k8s.io/jobset-name")
                    == "train"
                ]
                done = len(pods) == 4 and all(p["spec"].get("nodeName") for p in pods)
                return pods if done else None

            pods = await eventually(bound, timeout=60, what="the JobSet's 4 pods bound")
            (workload,) = [
                w
                for w in (await admin.list(WORKLOADS.collection(namespace)))["items"]
                if any(o.get("kind") == "JobSet" for o in w["metadata"]["ownerReferences"])
            ]
            (psa,) = workload["status"]["admission"]["podSetAssignments"]
            slots = pod_node_selectors(psa["topologyAssignment"])
            for pod in pods:
                labels = pod["metadata"]["labels"]
                rank = 2 * int(labels["jobset.sigs.k8s.io/job-index"]) + int(labels[INDEX])
                assert pod["spec"]["nodeName"] == slots[rank][HOSTNAME], (rank, slots)
                assert labels["kueue.x-k8s.io/podset"] == "workers"
                assert "schedulingGates" not in pod["spec"]
            assert len({rack_of[p["spec"]["nodeName"]] for p in pods}) == 1
        await admin.aclose()

    asyncio.run(scenario())
