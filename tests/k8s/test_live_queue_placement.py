"""Admission that knows placement, live (kueue#4329): dralloc's queue controller against a
real kube-apiserver, beside dralloc's live scheduler. Quota allows a Job of 2 pods x 8 GPUs,
but every node already runs a pod holding 5 of its 8 GPUs, so 9 GPUs are free and no node
has 8. With placement the Job waits (QuotaReserved=False, PlacementInfeasible, the pod and
the FitError named), stays suspended, and a 2-GPU Job queued behind it is admitted and bound
(BestEffortFIFO); with placement off (Kueue's quota-only admission) the big Job is admitted,
started, and its pods stay pending. Room is kept across passes for Workloads admitted whose
pods are not bound yet, so the free GPUs are never promised twice."""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from controlplane import ApiServer
from crdkit import KUEUE_CRD_FILES, install_crds
from livekit import (
    claim,
    create_node,
    device_class,
    dralloc_config,
    eventually,
    gpu_slice,
    live_scheduler,
    pod,
    unique,
)

from dralloc.features import Features
from dralloc.kube.client import JOBS, KubeClient
from dralloc.kube.controllers import build_controllers
from dralloc.kube.controllers.queue import (
    CLUSTER_QUEUES,
    LOCAL_QUEUES,
    RESOURCE_FLAVORS,
    WORKLOADS,
    QueueController,
)
from dralloc.kube.controllers.queuecluster import LivePlacement
from dralloc.kube.ownership import Ownership, parse_label_selector
from dralloc.kube.shared_informers import SharedInformers

pytestmark = pytest.mark.k8s

Obj = dict[str, Any]
KUEUE = "kueue.x-k8s.io/v1beta2"
GPUS_PER_NODE = 8
NODES = 3
FILLER_GPUS = 5


@pytest.fixture(scope="module", autouse=True)
def kueue_crds(apiserver: ApiServer) -> Iterator[None]:
    install_crds(apiserver, KUEUE_CRD_FILES, (KUEUE,))
    yield


@asynccontextmanager
async def controllers(kubeconfig: Path, placement: LivePlacement | None) -> AsyncIterator[None]:
    client = KubeClient.connect(kubeconfig)
    informers = SharedInformers(client, random.Random(5))
    built = build_controllers(
        ["queue", "job", "resourceclaim"],
        client,
        informers,
        rng=random.Random(5),
        queue_placement=placement,
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


def template(namespace: str, name: str, class_name: str, count: int) -> Obj:
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaimTemplate",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"spec": claim(namespace, name, class_name, count=count)["spec"]},
    }


def queued_job(namespace: str, name: str, pods: int, claim_template: str) -> Obj:
    """A suspended Indexed Job of `pods` pods for dralloc's scheduler, each pod with a claim
    from `claim_template`, queued in LocalQueue `lq`."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"kueue.x-k8s.io/queue-name": "lq"},
        },
        "spec": {
            "parallelism": pods,
            "completions": pods,
            "completionMode": "Indexed",
            "suspend": True,
            "template": {
                "spec": {
                    "schedulerName": "dralloc",
                    "restartPolicy": "Never",
                    "tolerations": [{"operator": "Exists"}],
                    "resourceClaims": [
                        {"name": "gpu", "resourceClaimTemplateName": claim_template}
                    ],
                    "containers": [
                        {
                            "name": "c",
                            "image": "registry.k8s.io/pause:3.10",
                            "resources": {"requests": {"cpu": "100m"}, "claims": [{"name": "gpu"}]},
                        }
                    ],
                }
            },
        },
    }


async def fragmented_fleet(admin: KubeClient, namespace: str, label: str) -> str:
    """3 nodes of 8 GPUs labelled owner=<label>, their DeviceClass, the templates, and one
    running 5-GPU pod per node (placed by the live scheduler, which must be running)."""
    driver = f"{label}.example.com"
    for _ in range(NODES):
        name = unique(f"{label}-n")
        await create_node(admin, name, {"owner": label})
        await admin.create(
            "/apis/resource.k8s.io/v1/resourceslices", gpu_slice(name, GPUS_PER_NODE, driver)
        )
    class_name = unique(f"{label}-class")
    await admin.create("/apis/resource.k8s.io/v1/deviceclasses", device_class(class_name, driver))
    templates = f"/apis/resource.k8s.io/v1/namespaces/{namespace}/resourceclaimtemplates"
    await admin.create(templates, template(namespace, "gpus-8", class_name, GPUS_PER_NODE))
    await admin.create(templates, template(namespace, "gpus-2", class_name, 2))
    claims = f"/apis/resource.k8s.io/v1/namespaces/{namespace}/resourceclaims"
    fillers = []
    for index in range(NODES):
        name = f"filler-{index}"
        await admin.create(claims, claim(namespace, name, class_name, count=FILLER_GPUS))
        body = pod(namespace, name, claim_name=name, node_selector={"owner": label})
        await admin.create(f"/api/v1/namespaces/{namespace}/pods", body)
        fillers.append(name)

    async def all_bound() -> bool:
        found = await admin.list(f"/api/v1/namespaces/{namespace}/pods")
        nodes = {p["spec"].get("nodeName") for p in found["items"] if p["spec"].get("nodeName")}
        return len(nodes) == NODES

    await eventually(all_bound, what="one 5-GPU filler pod bound on each node")
    return class_name


async def queues(admin: KubeClient, namespace: str, label: str, class_name: str) -> None:
    """A ResourceFlavor for the fleet and a BestEffortFIFO ClusterQueue of 24 GPUs: the big
    Job's 16 fit, and the small one's 2 beside them."""
    devices = f"devices.dralloc.io/{class_name}"
    flavor, cq = f"{label}-flavor", f"{label}-cq"
    await admin.create(
        RESOURCE_FLAVORS.collection(),
        {
            "apiVersion": KUEUE,
            "kind": "ResourceFlavor",
            "metadata": {"name": flavor},
            "spec": {"nodeLabels": {"owner": label}},
        },
    )
    await admin.create(
        CLUSTER_QUEUES.collection(),
        {
            "apiVersion": KUEUE,
            "kind": "ClusterQueue",
            "metadata": {"name": cq},
            "spec": {
                "namespaceSelector": {},
                "queueingStrategy": "BestEffortFIFO",
                "resourceGroups": [
                    {
                        "coveredResources": ["cpu", devices],
                        "flavors": [
                            {
                                "name": flavor,
                                "resources": [
                                    {"name": "cpu", "nominalQuota": "4"},
                                    {"name": devices, "nominalQuota": "24"},
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
            "metadata": {"name": "lq", "namespace": namespace},
            "spec": {"clusterQueue": cq},
        },
    )


def condition(obj: Obj, kind: str) -> Obj | None:
    for found in (obj.get("status") or {}).get("conditions") or []:
        if found.get("type") == kind:
            return found
    return None


async def workload_of(admin: KubeClient, namespace: str, job: str) -> Obj | None:
    items = (await admin.list(WORKLOADS.collection(namespace)))["items"]
    for workload in items:
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


def placement_for(label: str) -> LivePlacement:
    return LivePlacement(
        Features(), dralloc_config(), Ownership(parse_label_selector(f"owner={label}"))
    )


def test_a_job_quota_admits_but_no_node_can_hold_waits_placement_infeasible_and_a_smaller_one_goes(
    apiserver: ApiServer, namespace: str
) -> None:
    async def scenario() -> None:
        admin = KubeClient.connect(apiserver.admin_kubeconfig)
        label = unique("qp")
        async with live_scheduler(apiserver.admin_kubeconfig, owned=f"owner={label}"):
            class_name = await fragmented_fleet(admin, namespace, label)
            await queues(admin, namespace, label, class_name)
            async with controllers(apiserver.admin_kubeconfig, placement_for(label)):
                await admin.create(
                    JOBS.collection(namespace), queued_job(namespace, "big", 2, "gpus-8")
                )
                await admin.create(
                    JOBS.collection(namespace), queued_job(namespace, "small", 1, "gpus-2")
                )

                async def small_admitted() -> Obj | None:
                    workload = await workload_of(admin, namespace, "small")
                    status = (workload or {}).get("status") or {}
                    return workload if status.get("admission") else None

                await eventually(small_admitted, what="the small Job's Workload admitted")

                async def big_waits() -> Obj | None:
                    workload = await workload_of(admin, namespace, "big")
                    found = condition(workload or {}, "QuotaReserved")
                    return found if found and found["reason"] == "PlacementInfeasible" else None

                said = await eventually(big_waits, what="the big Job's Workload waiting")
                assert said["status"] == "False"
                # The offline `dralloc queue`'s message: the first pod that fits nowhere, with
                # its FitError (5 of 8 GPUs taken on each node: 8 free on none).
                assert re.fullmatch(
                    rf"placement infeasible: pod {namespace}/big-\d-\w+: 0/3 nodes are "
                    r"available: 3 cannot allocate all claims\.",
                    said["message"],
                ), said["message"]

                async def small_bound() -> list[Obj] | None:
                    pods = await job_pods(admin, namespace, "small")
                    return pods if pods and all(p["spec"].get("nodeName") for p in pods) else None

                await eventually(small_bound, what="the small Job's pod bound")
                big = await workload_of(admin, namespace, "big")
                assert big is not None
                assert not (big.get("status") or {}).get("admission")
                job = await admin.get(JOBS.item(namespace, "big"))
                assert job["spec"]["suspend"] is True
                assert await job_pods(admin, namespace, "big") == []
        await admin.aclose()

    asyncio.run(scenario())


def test_without_placement_the_job_is_admitted_on_quota_and_its_pods_stay_pending(
    apiserver: ApiServer, namespace: str
) -> None:
    async def scenario() -> None:
        admin = KubeClient.connect(apiserver.admin_kubeconfig)
        label = unique("qn")
        async with live_scheduler(apiserver.admin_kubeconfig, owned=f"owner={label}"):
            class_name = await fragmented_fleet(admin, namespace, label)
            await queues(admin, namespace, label, class_name)
            async with controllers(apiserver.admin_kubeconfig, None):
                await admin.create(
                    JOBS.collection(namespace), queued_job(namespace, "big", 2, "gpus-8")
                )

                async def big_admitted() -> Obj | None:
                    workload = await workload_of(admin, namespace, "big")
                    status = (workload or {}).get("status") or {}
                    return workload if status.get("admission") else None

                await eventually(big_admitted, what="the big Job's Workload admitted on quota")

                async def unschedulable() -> list[Obj] | None:
                    pods = await job_pods(admin, namespace, "big")
                    waiting = [
                        p
                        for p in pods
                        if (condition(p, "PodScheduled") or {}).get("reason") == "Unschedulable"
                    ]
                    return pods if len(pods) == 2 and len(waiting) == 2 else None

                pods = await eventually(unschedulable, what="the big Job's pods unschedulable")
                assert all(not p["spec"].get("nodeName") for p in pods)
                job = await admin.get(JOBS.item(namespace, "big"))
                assert job["spec"]["suspend"] is False
        await admin.aclose()

    asyncio.run(scenario())


def test_room_is_kept_for_workloads_admitted_in_earlier_passes_whose_pods_are_not_bound_yet(
    apiserver: ApiServer, namespace: str
) -> None:
    """Three 3-GPU Jobs admitted one pass after another fill the 3 free GPUs of each node
    although no pod of theirs exists (no Job controller here): a fourth waits."""

    async def scenario() -> None:
        admin = KubeClient.connect(apiserver.admin_kubeconfig)
        label = unique("qr")
        async with live_scheduler(apiserver.admin_kubeconfig, owned=f"owner={label}"):
            class_name = await fragmented_fleet(admin, namespace, label)
        templates = f"/apis/resource.k8s.io/v1/namespaces/{namespace}/resourceclaimtemplates"
        await admin.create(templates, template(namespace, "gpus-3", class_name, 3))
        await queues(admin, namespace, label, class_name)
        client = KubeClient.connect(apiserver.admin_kubeconfig)
        informers = SharedInformers(client, random.Random(5))
        (controller,) = build_controllers(
            ["queue"], client, informers, rng=random.Random(5), queue_placement=placement_for(label)
        )
        await informers.start()
        await informers.wait_synced(30)
        task = asyncio.create_task(controller.run())
        try:
            for name in ("a", "b", "c", "d"):
                await admin.create(
                    JOBS.collection(namespace), queued_job(namespace, name, 1, "gpus-3")
                )

                async def decided(job: str = name) -> Obj | None:
                    workload = await workload_of(admin, namespace, job)
                    found = condition(workload or {}, "QuotaReserved")
                    return found if found and found.get("reason") != "Pending" else None

                said = await eventually(decided, what=f"Job {name}'s Workload decided")
                if name == "d":
                    assert said["reason"] == "PlacementInfeasible", said
                else:
                    assert said["status"] == "True", said
            assert await job_pods(admin, namespace, "a") == []
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            assert isinstance(controller, QueueController)
            await controller.events.drain(5)
            await informers.stop()
            await client.aclose()
            await admin.aclose()

    asyncio.run(scenario())
