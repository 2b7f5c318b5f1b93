"""A queued Job admitted by dralloc's queue controller and then placed by dralloc's live
scheduler as a gang (GenericWorkload and GangScheduling on): its GPUs are counted as quota
through its ResourceClaimTemplate (`devices.dralloc.io/<class>`), and its pods, members of
one PodGroup, are bound all together or not at all."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from controlplane import ApiServer
from crdkit import KUEUE_CRD_FILES, install_crds
from livekit import live_scheduler
from test_live_gangs import FEATURES, GATES, add_node, bound, condition, fleet, pod_group

from conftest import ApiServerOptions
from dralloc.kube.client import JOBS, POD_GROUPS, KubeClient
from dralloc.kube.controllers import build_controllers
from dralloc.kube.controllers.queue import (
    CLUSTER_QUEUES,
    LOCAL_QUEUES,
    RESOURCE_FLAVORS,
    WORKLOADS,
    QueueController,
)
from dralloc.kube.shared_informers import SharedInformers

pytestmark = pytest.mark.k8s

Obj = dict[str, Any]
KUEUE = "kueue.x-k8s.io/v1beta2"
GPUS = 8


@pytest.fixture(scope="module")
def apiserver_options() -> ApiServerOptions:
    return ApiServerOptions(
        feature_gates=GATES, runtime_config={"scheduling.k8s.io/v1alpha2": True}
    )


@pytest.fixture(scope="module", autouse=True)
def kueue_crds(apiserver: ApiServer) -> Iterator[None]:
    install_crds(apiserver, KUEUE_CRD_FILES, (KUEUE,))
    yield


@asynccontextmanager
async def controllers(kubeconfig: Path, names: list[str]) -> AsyncIterator[None]:
    client = KubeClient.connect(kubeconfig)
    informers = SharedInformers(client, random.Random(3))
    built = build_controllers(names, client, informers, rng=random.Random(3))
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


async def eventually(check: Any, timeout: float = 60.0, what: str = "condition") -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    last: Any = None
    while asyncio.get_running_loop().time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what} not reached in {timeout:g} s; last: {last!r}")


def gang_job(namespace: str, name: str, group: str, pods: int) -> Obj:
    """An Indexed Job of `pods` pods, each with a claim of 8 GPUs from a template, members of
    PodGroup `group`, for dralloc's scheduler, queued in LocalQueue `lq`."""
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
                    "schedulingGroup": {"podGroupName": group},
                    "tolerations": [{"operator": "Exists"}],
                    "resourceClaims": [{"name": "gpu", "resourceClaimTemplateName": "gpus"}],
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


def test_an_admitted_gang_job_is_placed_all_or_nothing_by_the_dralloc_scheduler(
    apiserver: ApiServer, namespace: str
) -> None:
    async def scenario() -> None:
        admin = KubeClient.connect(apiserver.admin_kubeconfig)
        label = f"qg-{namespace[-6:]}"
        class_name = await fleet(admin, 3, label)
        devices = f"devices.dralloc.io/{class_name}"
        await admin.create(
            f"/apis/resource.k8s.io/v1/namespaces/{namespace}/resourceclaimtemplates",
            {
                "apiVersion": "resource.k8s.io/v1",
                "kind": "ResourceClaimTemplate",
                "metadata": {"name": "gpus", "namespace": namespace},
                "spec": {
                    "spec": {
                        "devices": {
                            "requests": [
                                {
                                    "name": "gpu",
                                    "exactly": {"deviceClassName": class_name, "count": GPUS},
                                }
                            ]
                        }
                    }
                },
            },
        )
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
                    "resourceGroups": [
                        {
                            "coveredResources": ["cpu", devices],
                            "flavors": [
                                {
                                    "name": flavor,
                                    "resources": [
                                        {"name": "cpu", "nominalQuota": "4"},
                                        {"name": devices, "nominalQuota": "32"},
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
        names = ["queue", "job", "resourceclaim"]
        async with (
            controllers(apiserver.admin_kubeconfig, names),
            live_scheduler(apiserver.admin_kubeconfig, owned=f"owner={label}", features=FEATURES),
        ):
            await admin.create(POD_GROUPS.collection(namespace), pod_group(namespace, "train", 4))
            await admin.create(JOBS.collection(namespace), gang_job(namespace, "train", "train", 4))

            async def admission() -> Obj | None:
                items = (await admin.list(WORKLOADS.collection(namespace)))["items"]
                found = [w for w in items if (w.get("status") or {}).get("admission")]
                return found[0]["status"]["admission"] if found else None

            admitted = await eventually(admission, what="the Job's Workload admitted")
            usage = admitted["podSetAssignments"][0]["resourceUsage"]
            assert usage[devices] == "32"
            assert admitted["podSetAssignments"][0]["flavors"][devices] == flavor

            async def members() -> list[str] | None:
                pods = await admin.list(f"/api/v1/namespaces/{namespace}/pods")
                found = [p["metadata"]["name"] for p in pods["items"]]
                return found if len(found) == 4 else None

            pods = await eventually(members, what="the Job's four pods")

            async def unschedulable() -> Obj | None:
                group = await admin.get(POD_GROUPS.item(namespace, "train"))
                found = condition(group, "PodGroupScheduled")
                return found if found and found["status"] == "False" else None

            # Quota admits 4 x 8 GPUs, but 3 nodes hold only 3 members: none is bound.
            said = await eventually(unschedulable, what="PodGroupScheduled=False")
            assert said["reason"] == "Unschedulable"
            assert await bound(admin, namespace, pods) == []
            job = await admin.get(JOBS.item(namespace, "train"))
            assert job["spec"]["template"]["spec"]["nodeSelector"] == {"owner": label}

            await add_node(admin, label)

            async def all_bound() -> bool:
                return len(await bound(admin, namespace, pods)) == 4

            await eventually(all_bound, what="the gang bound whole")
            found = await admin.list(f"/api/v1/namespaces/{namespace}/pods")
            assert len({p["spec"]["nodeName"] for p in found["items"]}) == 4
        await admin.aclose()

    asyncio.run(scenario())
