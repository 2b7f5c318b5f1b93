"""dralloc's queue controller evicting as Kueue v0.17 does, against a real kube-apiserver with
Kueue's CRDs: a preempted Workload keeps its quota while its Job still has active pods, so the
preemptor waits ("Pending the preemption of 1 workload(s)") and is admitted only once the
Job's `status.active` drops to 0 and the victim is requeued; and a stopped Job gets its pod
template back (RestorePodSetsInfo), so readmitted to another flavor it carries that flavor's
nodeSelector and tolerations only."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from controlplane import ApiServer
from crdkit import KUEUE_CRD_FILES, install_crds
from test_controllers import admin_client, eventually
from test_live_queue import (
    admitted,
    condition,
    create_namespace,
    get_job,
    is_true,
    kueue,
    queued_job,
    workload_of,
)

from dralloc.kube.client import JOBS, KubeClient
from dralloc.kube.controllers import build_controllers
from dralloc.kube.controllers.queue import (
    CLUSTER_QUEUES,
    LOCAL_QUEUES,
    RESOURCE_FLAVORS,
    WORKLOAD_PRIORITY_CLASSES,
    QueueController,
)
from dralloc.kube.shared_informers import SharedInformers

pytestmark = pytest.mark.k8s

Obj = dict[str, Any]
KUEUE = "kueue.x-k8s.io/v1beta2"


@pytest.fixture(scope="module", autouse=True)
def kueue_crds(apiserver: ApiServer) -> Iterator[None]:
    install_crds(apiserver, KUEUE_CRD_FILES, (KUEUE,))
    yield


@asynccontextmanager
async def running(
    kubeconfig: Path, names: tuple[str, ...], *, write_concurrency: int | None = None
) -> AsyncIterator[tuple[KubeClient, QueueController]]:
    """The controllers `names` running in this event loop; a client and the queue controller
    (`write_concurrency` set on it when given)."""
    client = KubeClient.connect(kubeconfig)
    informers = SharedInformers(client, random.Random(7))
    controllers = build_controllers(names, client, informers, rng=random.Random(7))
    queue = next(c for c in controllers if isinstance(c, QueueController))
    if write_concurrency is not None:
        queue.write_concurrency = write_concurrency
    await informers.start()
    await informers.wait_synced(30)
    tasks = [asyncio.create_task(c.run(), name=c.name) for c in controllers]
    try:
        yield client, queue
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await queue.events.drain(5)
        await informers.stop()
        await client.aclose()


async def priority_classes(admin: KubeClient, s: str) -> None:
    for name, value in ((f"low-{s}", 10), (f"high-{s}", 100)):
        await admin.create(
            WORKLOAD_PRIORITY_CLASSES.collection(),
            {
                "apiVersion": KUEUE,
                "kind": "WorkloadPriorityClass",
                "metadata": {"name": name},
                "value": value,
            },
        )


async def set_job_status(client: KubeClient, namespace: str, name: str, status: Obj) -> Obj:
    """The counts a Job controller writes (none runs in the first scenario)."""
    return await client.patch(
        JOBS.item(namespace, name, "status"),
        {"status": status},
        content_type="application/merge-patch+json",
    )


async def a_pass_after(queue: QueueController, namespace: str, job: Obj) -> None:
    """Wait until the controller's store holds `job` at this resourceVersion (or later) and
    the controller is idle: its informer queued a pass when it stored the job, so a pass
    that read it has finished."""
    version = int(job["metadata"]["resourceVersion"])
    key = f"{namespace}/{job['metadata']['name']}"

    async def settled() -> bool:
        found = queue.jobs.get(key)
        stored = found is not None and int(found["metadata"]["resourceVersion"]) >= version
        return stored and len(queue.queue) == 0 and queue.passes_done == queue.passes

    await eventually(settled, what="a pass after the job was stored")


def test_a_preempted_jobs_quota_goes_to_the_preemptor_only_once_its_pods_are_gone(
    apiserver: ApiServer,
) -> None:
    s = uuid.uuid4().hex[:6]
    flavor, cq = f"pool-{s}", f"p-{s}"

    async def scenario() -> None:
        async with admin_client(apiserver.admin_kubeconfig) as admin:
            ns = await create_namespace(admin)
            await admin.create(RESOURCE_FLAVORS.collection(), kueue("ResourceFlavor", flavor, {}))
            await priority_classes(admin, s)
            await admin.create(
                CLUSTER_QUEUES.collection(),
                kueue(
                    "ClusterQueue",
                    cq,
                    {
                        "namespaceSelector": {},
                        "preemption": {"withinClusterQueue": "LowerPriority"},
                        "resourceGroups": [
                            {
                                "coveredResources": ["cpu"],
                                "flavors": [
                                    {
                                        "name": flavor,
                                        "resources": [{"name": "cpu", "nominalQuota": "2"}],
                                    }
                                ],
                            }
                        ],
                    },
                ),
            )
            await admin.create(
                LOCAL_QUEUES.collection(ns), kueue("LocalQueue", "lq", {"clusterQueue": cq}, ns)
            )
            # No Job controller: the test writes the counts one would.
            async with running(apiserver.admin_kubeconfig, ("queue",)) as (client, queue):
                await client.create(
                    JOBS.collection(ns), queued_job(ns, "low", "lq", priority_class=f"low-{s}")
                )
                await eventually(lambda: admitted(client, ns, "low"), what="low admitted")

                async def started(name: str) -> bool:
                    return (await get_job(client, ns, name))["spec"].get("suspend") is False

                await eventually(lambda: started("low"), what="low started")
                stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                await set_job_status(client, ns, "low", {"startTime": stamp, "active": 2})
                await client.create(
                    JOBS.collection(ns), queued_job(ns, "high", "lq", priority_class=f"high-{s}")
                )

                async def waiting_high() -> Obj | None:
                    wl = await workload_of(client, ns, "high")
                    found = condition(wl, "QuotaReserved")
                    message = (found or {}).get("message", "")
                    return wl if "Pending the preemption of 1 workload(s)" in message else None

                await eventually(waiting_high, what="high waiting on the preemption")

                async def stopped_low(restored: bool) -> Obj | None:
                    job = await get_job(client, ns, "low")
                    annotations = job["metadata"].get("annotations") or {}
                    stopping = annotations.get("kueue.x-k8s.io/stopping") == "true"
                    suspended = job["spec"].get("suspend") is True
                    done = suspended and not job["status"].get("startTime")
                    return job if done and stopping is not restored else None

                # Suspended, its start time cleared; the API server refuses its template
                # while pods are active, so the stop is not finished (Kueue retries it).
                low_job = await eventually(lambda: stopped_low(False), what="low stopping")
                labels = low_job["spec"]["template"]["metadata"]["labels"]
                assert labels["kueue.x-k8s.io/podset"] == "main"
                # A pass that saw the stopped Job with active pods keeps its quota.
                await a_pass_after(queue, ns, low_job)
                victim = await workload_of(client, ns, "low")
                assert is_true(victim, "Evicted") and is_true(victim, "Preempted")
                assert is_true(victim, "QuotaReserved")
                assert victim is not None and victim["status"].get("admission") is not None
                assert not is_true(await workload_of(client, ns, "high"), "QuotaReserved")
                cq_obj = await client.get(CLUSTER_QUEUES.item(None, cq))
                assert cq_obj["status"]["reservingWorkloads"] == 1
                assert (await get_job(client, ns, "high"))["spec"]["suspend"] is True

                # The Job controller deleted its pods: the quota is released, then taken.
                await set_job_status(client, ns, "low", {"active": 0})
                await eventually(lambda: admitted(client, ns, "high"), what="high admitted")
                await eventually(lambda: started("high"), what="high started")
                victim = await workload_of(client, ns, "low")
                reserved = condition(victim, "QuotaReserved")
                requeued = condition(victim, "Requeued")
                assert reserved is not None and reserved["status"] == "False"
                assert requeued is not None
                assert (requeued["status"], requeued["reason"]) == ("True", "Preempted")
                assert victim is not None and victim["status"].get("admission") is None
                # Kueue's RestorePodSetsInfo: no podset label or workload annotation left.
                template = (await stopped_low(True) or {})["spec"]["template"]
                assert "kueue.x-k8s.io/podset" not in template["metadata"].get("labels", {})
                assert "kueue.x-k8s.io/workload" not in template["metadata"].get("annotations", {})

    asyncio.run(scenario())


def flavor_body(name: str, label: str, taint: str) -> Obj:
    toleration = {"key": taint, "operator": "Exists", "effect": "NoSchedule"}
    return kueue(
        "ResourceFlavor", name, {"nodeLabels": label_of(label), "tolerations": [toleration]}
    )


def label_of(label: str) -> dict[str, str]:
    key, value = label.split("=")
    return {key: value}


def test_a_preempted_job_readmitted_to_another_flavor_carries_only_that_flavors_fields(
    apiserver: ApiServer,
) -> None:
    s = uuid.uuid4().hex[:6]
    on_demand, spot, cq = f"on-demand-{s}", f"spot-{s}", f"f-{s}"
    pool_label = f"cloud.example.com/pool-{s}=on-demand"
    spot_label = f"cloud.example.com/spot-{s}=true"

    async def scenario() -> None:
        async with admin_client(apiserver.admin_kubeconfig) as admin:
            ns = await create_namespace(admin)
            await admin.create(
                RESOURCE_FLAVORS.collection(), flavor_body(on_demand, pool_label, "on-demand")
            )
            await admin.create(RESOURCE_FLAVORS.collection(), flavor_body(spot, spot_label, "spot"))
            await priority_classes(admin, s)
            quota = [{"name": "cpu", "nominalQuota": "2"}]
            await admin.create(
                CLUSTER_QUEUES.collection(),
                kueue(
                    "ClusterQueue",
                    cq,
                    {
                        "namespaceSelector": {},
                        "preemption": {"withinClusterQueue": "LowerPriority"},
                        "resourceGroups": [
                            {
                                "coveredResources": ["cpu"],
                                "flavors": [
                                    {"name": on_demand, "resources": quota},
                                    {"name": spot, "resources": quota},
                                ],
                            }
                        ],
                    },
                ),
            )
            await admin.create(
                LOCAL_QUEUES.collection(ns), kueue("LocalQueue", "lq", {"clusterQueue": cq}, ns)
            )
            async with running(apiserver.admin_kubeconfig, ("queue", "job")) as (client, _):
                await client.create(
                    JOBS.collection(ns), queued_job(ns, "low", "lq", priority_class=f"low-{s}")
                )
                wl = await eventually(lambda: admitted(client, ns, "low"), what="low admitted")
                first = wl["status"]["admission"]["podSetAssignments"][0]["flavors"]["cpu"]
                assert first == on_demand

                async def template_of(name: str, flavor_label: str) -> Obj | None:
                    job = await get_job(client, ns, name)
                    selector = job["spec"]["template"]["spec"].get("nodeSelector") or {}
                    started = job["spec"].get("suspend") is False
                    return (
                        job["spec"]["template"]
                        if started and selector == label_of(flavor_label)
                        else None
                    )

                await eventually(lambda: template_of("low", pool_label), what="low on on-demand")
                # A Job only the on-demand flavor's nodes fit: it preempts low there.
                high = queued_job(ns, "high", "lq", priority_class=f"high-{s}")
                high["spec"]["template"]["spec"]["nodeSelector"] = label_of(pool_label)
                await client.create(JOBS.collection(ns), high)
                await eventually(lambda: admitted(client, ns, "high"), what="high admitted")

                async def readmitted() -> Obj | None:
                    wl = await admitted(client, ns, "low")
                    if wl is None:
                        return None
                    psa = wl["status"]["admission"]["podSetAssignments"][0]
                    return wl if psa["flavors"]["cpu"] == spot else None

                wl = await eventually(readmitted, what="low readmitted to spot")
                template = await eventually(
                    lambda: template_of("low", spot_label), what="low started on spot"
                )
                # Restored, then the spot flavor's fields injected: nothing of on-demand's.
                assert template["spec"]["nodeSelector"] == label_of(spot_label)
                assert template["spec"]["tolerations"] == [
                    {"key": "spot", "operator": "Exists", "effect": "NoSchedule"}
                ]
                assert template["metadata"]["labels"]["kueue.x-k8s.io/podset"] == "main"
                annotations = template["metadata"]["annotations"]
                assert annotations["kueue.x-k8s.io/workload"] == wl["metadata"]["name"]
                victim = await workload_of(client, ns, "low")
                requeued = condition(victim, "Requeued")
                assert requeued is not None and requeued["reason"] == "Preempted"

    asyncio.run(scenario())
