"""dralloc's queue controller (`--controllers queue`) against a real kube-apiserver with
Kueue's CRDs: Workloads made for queued Jobs, admission within quota and by borrowing in a
cohort, a Job waiting with Kueue's reason, preemption of a lower-priority Workload, a
finished Job releasing its quota, ClusterQueue status, a restart admitting nothing twice,
and the refusal to run beside Kueue."""

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
import yaml
from controlplane import ApiServer
from crdkit import KUEUE_CRD_FILES, install_crds
from test_controllers import admin_client, eventually

from dralloc.kube.client import JOBS, LEASES, ApiStatusError, KubeClient
from dralloc.kube.controllers import ControllerConflict, build_controllers
from dralloc.kube.controllers.base import check_no_controller_manager
from dralloc.kube.controllers.queue import (
    CLUSTER_QUEUES,
    COHORTS,
    LOCAL_QUEUES,
    RESOURCE_FLAVORS,
    WORKLOAD_PRIORITY_CLASSES,
    WORKLOADS,
    QueueController,
)
from dralloc.kube.shared_informers import SharedInformers

pytestmark = pytest.mark.k8s

Obj = dict[str, Any]
KUEUE = "kueue.x-k8s.io/v1beta2"
DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


@pytest.fixture(scope="module", autouse=True)
def kueue_crds(apiserver: ApiServer) -> Iterator[None]:
    install_crds(apiserver, KUEUE_CRD_FILES, (KUEUE,))
    yield


@asynccontextmanager
async def queue_controller(
    kubeconfig: Path, names: tuple[str, ...] = ("queue",)
) -> AsyncIterator[KubeClient]:
    """dralloc's queue controller (and `names`) running in this event loop; yields a client."""
    client = KubeClient.connect(kubeconfig)
    informers = SharedInformers(client, random.Random(7))
    controllers = build_controllers(names, client, informers, rng=random.Random(7))
    await informers.start()
    await informers.wait_synced(30)
    tasks = [asyncio.create_task(c.run(), name=c.name) for c in controllers]
    try:
        yield client
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for controller in controllers:
            if isinstance(controller, QueueController):
                await controller.events.drain(5)
        await informers.stop()
        await client.aclose()


def kueue(kind: str, name: str, spec: Obj, namespace: str | None = None) -> Obj:
    meta: Obj = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": KUEUE, "kind": kind, "metadata": meta, "spec": spec}


def cluster_queue(name: str, flavor: str, cpu: str, *, cohort: str = "", **spec: Any) -> Obj:
    body: Obj = {
        "namespaceSelector": {},
        "resourceGroups": [
            {
                "coveredResources": ["cpu"],
                "flavors": [{"name": flavor, "resources": [{"name": "cpu", "nominalQuota": cpu}]}],
            }
        ],
        **spec,
    }
    if cohort:
        body["cohortName"] = cohort
    return kueue("ClusterQueue", name, body)


def queued_job(
    namespace: str,
    name: str,
    queue: str,
    *,
    pods: int = 2,
    cpu: str = "1",
    suspend: bool = True,
    priority_class: str = "",
) -> Obj:
    labels = {"kueue.x-k8s.io/queue-name": queue}
    if priority_class:
        labels["kueue.x-k8s.io/priority-class"] = priority_class
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "parallelism": pods,
            "completions": pods,
            "suspend": suspend,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {"name": "c", "image": "busybox", "resources": {"requests": {"cpu": cpu}}}
                    ],
                }
            },
        },
    }


async def create_namespace(client: KubeClient) -> str:
    name = f"q-{uuid.uuid4().hex[:8]}"
    await client.create("/api/v1/namespaces", {"metadata": {"name": name}})
    return name


async def workload_of(client: KubeClient, namespace: str, job: str) -> Obj | None:
    found = await client.list(WORKLOADS.collection(namespace))
    for item in found.get("items") or []:
        refs = item["metadata"].get("ownerReferences") or []
        if any(r["kind"] == "Job" and r["name"] == job for r in refs):
            return item  # type: ignore[no-any-return]
    return None


def condition(obj: Obj | None, kind: str) -> Obj | None:
    for found in ((obj or {}).get("status") or {}).get("conditions") or []:
        if found["type"] == kind:
            return found  # type: ignore[no-any-return]
    return None


def is_true(obj: Obj | None, kind: str) -> bool:
    found = condition(obj, kind)
    return found is not None and found["status"] == "True"


async def admitted(client: KubeClient, namespace: str, job: str) -> Obj | None:
    wl = await workload_of(client, namespace, job)
    return wl if is_true(wl, "QuotaReserved") and is_true(wl, "Admitted") else None


async def pending(client: KubeClient, namespace: str, job: str) -> Obj | None:
    wl = await workload_of(client, namespace, job)
    found = condition(wl, "QuotaReserved")
    return wl if found is not None and found["status"] == "False" else None


async def get_job(client: KubeClient, namespace: str, name: str) -> Obj:
    return await client.get(JOBS.item(namespace, name))


async def mark_complete(client: KubeClient, namespace: str, name: str) -> None:
    """The status a Job controller writes when every pod succeeded."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    job = await get_job(client, namespace, name)
    succeeded = job["spec"]["completions"]
    conditions = [
        {"type": kind, "status": "True", "reason": "CompletionsReached", "message": "done"}
        | {"lastTransitionTime": stamp, "lastProbeTime": stamp}
        for kind in ("SuccessCriteriaMet", "Complete")
    ]
    status = {
        "startTime": job["status"].get("startTime") or stamp,
        "completionTime": stamp,
        "succeeded": succeeded,
        "ready": 0,
        "terminating": 0,
        "conditions": conditions,
    }
    await client.patch(
        JOBS.item(namespace, name, "status"),
        {"status": status},
        content_type="application/merge-patch+json",
    )


def cq_status(cq: Obj) -> tuple[int, int, dict[str, str]]:
    """(pending, reserving, flavor/resource -> total) of a ClusterQueue's status."""
    status = cq.get("status") or {}
    totals = {
        f"{f['name']}/{r['name']}": str(r.get("total"))
        for f in status.get("flavorsUsage") or []
        for r in f.get("resources") or []
    }
    return status.get("pendingWorkloads", 0), status.get("reservingWorkloads", 0), totals


def test_jobs_are_admitted_within_quota_then_by_borrowing_and_a_third_waits_until_one_finishes(
    apiserver: ApiServer,
) -> None:
    s = uuid.uuid4().hex[:6]
    flavor, cohort, cq_a, cq_b = f"pool-{s}", f"co-{s}", f"a-{s}", f"b-{s}"

    async def scenario() -> None:
        async with admin_client(apiserver.admin_kubeconfig) as admin:
            ns_a, ns_b = await create_namespace(admin), await create_namespace(admin)
            toleration = {"key": "pool", "operator": "Equal", "value": s, "effect": "NoSchedule"}
            await admin.create(
                RESOURCE_FLAVORS.collection(),
                kueue(
                    "ResourceFlavor",
                    flavor,
                    {"nodeLabels": {"pool": s}, "tolerations": [toleration]},
                ),
            )
            await admin.create(COHORTS.collection(), kueue("Cohort", cohort, {}))
            await admin.create(
                CLUSTER_QUEUES.collection(), cluster_queue(cq_a, flavor, "2", cohort=cohort)
            )
            await admin.create(
                CLUSTER_QUEUES.collection(), cluster_queue(cq_b, flavor, "2", cohort=cohort)
            )
            await admin.create(
                LOCAL_QUEUES.collection(ns_a),
                kueue("LocalQueue", "lq", {"clusterQueue": cq_a}, ns_a),
            )
            await admin.create(
                LOCAL_QUEUES.collection(ns_b),
                kueue("LocalQueue", "lq", {"clusterQueue": cq_b}, ns_b),
            )
            async with queue_controller(apiserver.admin_kubeconfig) as client:
                first = await client.create(JOBS.collection(ns_a), queued_job(ns_a, "first", "lq"))
                wl = await eventually(
                    lambda: admitted(client, ns_a, "first"), what="first admitted"
                )
                assert wl["metadata"]["ownerReferences"] == [
                    {
                        "apiVersion": "batch/v1",
                        "kind": "Job",
                        "name": "first",
                        "uid": first["metadata"]["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ]
                assert (
                    wl["metadata"]["labels"]["kueue.x-k8s.io/job-uid"] == first["metadata"]["uid"]
                )
                assert wl["metadata"]["name"].startswith("job-first-")
                assert wl["spec"]["queueName"] == "lq"
                admission = wl["status"]["admission"]
                assert admission["clusterQueue"] == cq_a
                assert admission["podSetAssignments"][0]["flavors"] == {"cpu": flavor}
                assert admission["podSetAssignments"][0]["count"] == 2
                assert (
                    condition(wl, "QuotaReserved")["message"]
                    == f"Quota reserved in ClusterQueue {cq_a}"
                )  # type: ignore[index]

                async def started(name: str, ns: str = ns_a) -> Obj | None:
                    job = await get_job(client, ns, name)
                    return job if job["spec"].get("suspend") is False else None

                job = await eventually(lambda: started("first"), what="first started")

                async def events(ns: str, name: str) -> dict[str, str] | None:
                    found = await client.list(f"/apis/events.k8s.io/v1/namespaces/{ns}/events")
                    by_reason = {
                        e["reason"]: e["note"]
                        for e in found["items"]
                        if e["regarding"]["name"] == name
                    }
                    return by_reason if len(by_reason) >= 2 else None

                said = await eventually(lambda: events(ns_a, "first"), what="the Job's events")
                assert said == {
                    "CreatedWorkload": f"Created Workload: {ns_a}/{wl['metadata']['name']}",
                    "Started": f"Admitted by clusterQueue {cq_a}",
                }
                said = await eventually(
                    lambda: events(ns_a, wl["metadata"]["name"]), what="the Workload's events"
                )
                assert said == {
                    "QuotaReserved": f"Quota reserved in ClusterQueue {cq_a}",
                    "Admitted": "The workload is admitted",
                }
                pod_spec = job["spec"]["template"]["spec"]
                assert pod_spec["nodeSelector"] == {"pool": s}
                assert pod_spec["tolerations"] == [toleration]

                # Beyond a's nominal quota: borrowed from b through the cohort.
                await client.create(JOBS.collection(ns_a), queued_job(ns_a, "second", "lq"))
                await eventually(lambda: admitted(client, ns_a, "second"), what="second admitted")
                await eventually(lambda: started("second"), what="second started")

                async def a_status() -> tuple[int, int, dict[str, str]] | None:
                    found = cq_status(await client.get(CLUSTER_QUEUES.item(None, cq_a)))
                    return found if found[1] == 2 else None

                pend, reserving, totals = await eventually(a_status, what="a's status")
                assert (pend, reserving, totals) == (0, 2, {f"{flavor}/cpu": "4"})
                cq = await client.get(CLUSTER_QUEUES.item(None, cq_a))
                usage = cq["status"]["flavorsUsage"][0]["resources"][0]
                assert usage["borrowed"] == "2"

                # b's quota is lent out and b may not reclaim it: the Job waits, suspended
                # although it was created running (as Kueue's webhook would have made it).
                await client.create(
                    JOBS.collection(ns_b), queued_job(ns_b, "third", "lq", suspend=False)
                )
                wl = await eventually(lambda: pending(client, ns_b, "third"), what="third pending")
                reason = condition(wl, "QuotaReserved")
                assert reason is not None
                assert reason["reason"] == "WaitingForQuota"
                assert "insufficient unused quota for cpu in flavor" in reason["message"]
                assert wl["status"].get("admission") is None

                async def suspended(ns: str, name: str) -> bool:
                    return bool((await get_job(client, ns, name))["spec"].get("suspend"))

                await eventually(lambda: suspended(ns_b, "third"), what="third suspended")

                async def b_pending() -> bool:
                    return cq_status(await client.get(CLUSTER_QUEUES.item(None, cq_b)))[0] == 1

                await eventually(b_pending, what="b counts one pending Workload")

                # The first Job finishes: its Workload is Finished and its quota released,
                # so a stops borrowing and the third fits in b.
                await mark_complete(client, ns_a, "first")

                async def finished() -> Obj | None:
                    found = await workload_of(client, ns_a, "first")
                    return found if is_true(found, "Finished") else None

                wl = await eventually(finished, what="first's Workload finished")
                assert condition(wl, "Finished")["reason"] == "Succeeded"  # type: ignore[index]
                await eventually(lambda: admitted(client, ns_b, "third"), what="third admitted")
                await eventually(lambda: started("third", ns_b), what="third started")

    asyncio.run(scenario())


def test_a_higher_priority_job_preempts_a_lower_one_whose_job_is_suspended_and_requeued(
    apiserver: ApiServer,
) -> None:
    s = uuid.uuid4().hex[:6]
    flavor, cq = f"pool-{s}", f"p-{s}"

    async def scenario() -> None:
        async with admin_client(apiserver.admin_kubeconfig) as admin:
            ns = await create_namespace(admin)
            await admin.create(RESOURCE_FLAVORS.collection(), kueue("ResourceFlavor", flavor, {}))
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
            await admin.create(
                CLUSTER_QUEUES.collection(),
                cluster_queue(cq, flavor, "2", preemption={"withinClusterQueue": "LowerPriority"}),
            )
            await admin.create(
                LOCAL_QUEUES.collection(ns), kueue("LocalQueue", "lq", {"clusterQueue": cq}, ns)
            )
            async with queue_controller(apiserver.admin_kubeconfig, ("queue", "job")) as client:
                await client.create(
                    JOBS.collection(ns), queued_job(ns, "low", "lq", priority_class=f"low-{s}")
                )
                await eventually(lambda: admitted(client, ns, "low"), what="low admitted")

                async def running(name: str) -> bool:
                    return (await get_job(client, ns, name))["spec"].get("suspend") is False

                await eventually(lambda: running("low"), what="low started")

                async def pods_of(name: str, count: int) -> bool:
                    found = await client.list(
                        f"/api/v1/namespaces/{ns}/pods",
                        labelSelector=f"batch.kubernetes.io/job-name={name}",
                    )
                    live = [p for p in found["items"] if not p["metadata"].get("deletionTimestamp")]
                    return len(live) == count

                await eventually(lambda: pods_of("low", 2), what="low's two pods")
                await client.create(
                    JOBS.collection(ns), queued_job(ns, "high", "lq", priority_class=f"high-{s}")
                )
                await eventually(lambda: admitted(client, ns, "high"), what="high admitted")
                await eventually(lambda: running("high"), what="high started")
                victim = await workload_of(client, ns, "low")
                evicted = condition(victim, "Evicted")
                preempted = condition(victim, "Preempted")
                assert evicted is not None and evicted["status"] == "True"
                assert evicted["reason"] == "Preempted"
                assert preempted is not None and preempted["reason"] == "InClusterQueue"
                assert "Preempted to accommodate a workload" in preempted["message"]
                assert not is_true(victim, "QuotaReserved")
                assert (victim or {}).get("status", {}).get("admission") is None
                job = await get_job(client, ns, "low")
                assert job["spec"]["suspend"] is True
                # The Job controller deletes the victim's pods; the preemptor's are made.
                await eventually(lambda: pods_of("low", 0), what="low's pods deleted")
                await eventually(lambda: pods_of("high", 2), what="high's two pods")
                # Requeued: it waits behind the higher-priority Workload.
                assert await eventually(lambda: pending(client, ns, "low"), what="low pending")

                async def counts() -> tuple[int, int] | None:
                    pend, reserving, _ = cq_status(await client.get(CLUSTER_QUEUES.item(None, cq)))
                    return (pend, reserving) if (pend, reserving) == (1, 1) else None

                await eventually(counts, what="one pending, one reserving")

    asyncio.run(scenario())


def test_a_restarted_controller_rebuilds_its_quota_from_workloads_and_admits_nothing_twice(
    apiserver: ApiServer,
) -> None:
    s = uuid.uuid4().hex[:6]
    flavor, cq = f"pool-{s}", f"r-{s}"

    async def scenario() -> None:
        async with admin_client(apiserver.admin_kubeconfig) as admin:
            ns = await create_namespace(admin)
            await admin.create(RESOURCE_FLAVORS.collection(), kueue("ResourceFlavor", flavor, {}))
            await admin.create(CLUSTER_QUEUES.collection(), cluster_queue(cq, flavor, "2"))
            await admin.create(
                LOCAL_QUEUES.collection(ns), kueue("LocalQueue", "lq", {"clusterQueue": cq}, ns)
            )
            async with queue_controller(apiserver.admin_kubeconfig) as client:
                await client.create(JOBS.collection(ns), queued_job(ns, "kept", "lq"))
                before = await eventually(lambda: admitted(client, ns, "kept"), what="admitted")
            # Stopped: a Job made meanwhile waits for the next controller, which must see
            # the quota held by the first from its Workload's status.admission.
            await admin.create(JOBS.collection(ns), queued_job(ns, "later", "lq"))
            async with queue_controller(apiserver.admin_kubeconfig) as client:
                wl = await eventually(lambda: pending(client, ns, "later"), what="later waits")
                assert condition(wl, "QuotaReserved")["reason"] == "WaitingForQuota"  # type: ignore[index]
                after = await workload_of(client, ns, "kept")
                assert after is not None
                assert after["status"]["admission"] == before["status"]["admission"]
                assert condition(after, "QuotaReserved") == condition(before, "QuotaReserved")
                job = await get_job(client, ns, "later")
                assert job["spec"]["suspend"] is True

                async def reserving() -> tuple[int, int, dict[str, str]] | None:
                    found = cq_status(await client.get(CLUSTER_QUEUES.item(None, cq)))
                    return found if found[0] == 1 else None

                assert await eventually(reserving, what="status") == (1, 1, {f"{flavor}/cpu": "2"})

    asyncio.run(scenario())


def test_the_queue_controller_refuses_to_run_beside_kueue(apiserver: ApiServer) -> None:
    async def scenario() -> None:
        async with admin_client(apiserver.admin_kubeconfig) as client:
            await check_no_controller_manager(client, ["queue"])  # no Lease: fine
            await client.create("/api/v1/namespaces", {"metadata": {"name": "kueue-system"}})
            now = datetime.now(UTC)
            lease = {
                "metadata": {"name": "c1f6bfd2.kueue.x-k8s.io", "namespace": "kueue-system"},
                "spec": {
                    "holderIdentity": "kueue-controller-manager-abc_1",
                    "leaseDurationSeconds": 15,
                    "renewTime": now.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
                },
            }
            await client.create(LEASES.collection("kueue-system"), lease)
            try:
                with pytest.raises(ControllerConflict) as caught:
                    await check_no_controller_manager(client, ["job", "queue"], now=lambda: now)
                message = str(caught.value)
                assert message.startswith("Kueue is running")
                assert "kueue-system/c1f6bfd2.kueue.x-k8s.io" in message
                assert "controllers queue must not" in message
            finally:
                await client.delete(LEASES.item("kueue-system", "c1f6bfd2.kueue.x-k8s.io"))
            await check_no_controller_manager(client, ["queue"], now=lambda: now)
            # Kueue without leader election: its Deployment, once a replica is ready.
            deployments = "/apis/apps/v1/namespaces/kueue-system/deployments"
            labels = {"control-plane": "controller-manager"}
            await client.create(
                deployments,
                {
                    "metadata": {"name": "kueue-controller-manager"},
                    "spec": {
                        "selector": {"matchLabels": labels},
                        "template": {
                            "metadata": {"labels": labels},
                            "spec": {"containers": [{"name": "manager", "image": "kueue:v0.17.0"}]},
                        },
                    },
                },
            )
            await check_no_controller_manager(client, ["queue"])  # not ready: no evidence
            await client.patch(
                f"{deployments}/kueue-controller-manager/status",
                {"status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1}},
                content_type="application/merge-patch+json",
            )
            with pytest.raises(ControllerConflict) as caught:
                await check_no_controller_manager(client, ["queue"])
            assert "Deployment kueue-system/kueue-controller-manager has 1 ready" in str(
                caught.value
            )
            await check_no_controller_manager(client, ["job"])  # only queue is refused

    asyncio.run(scenario())


def test_the_queue_controller_role_is_enough_to_admit_start_and_report(
    apiserver: ApiServer,
) -> None:
    """The `dralloc` user, bound to deploy/extras/queue-controller-role.yaml only, runs the
    queue controller: Workload made, admitted, Job started, ClusterQueue status written, and
    Kueue's Lease looked for; nothing refused."""
    role = yaml.safe_load((DEPLOY / "extras" / "queue-controller-role.yaml").read_text())
    name = role["metadata"]["name"]
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    apiserver.admin.create(f"{rbac}/clusterroles", role).raise_for_status()
    apiserver.admin.create(
        f"{rbac}/clusterrolebindings",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": name,
            },
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "dralloc"}
            ],
        },
    ).raise_for_status()
    s = uuid.uuid4().hex[:6]
    flavor, cq = f"pool-{s}", f"rbac-{s}"

    async def scenario() -> None:
        async with admin_client(apiserver.admin_kubeconfig) as admin:
            ns = await create_namespace(admin)
            await admin.create(
                RESOURCE_FLAVORS.collection(),
                kueue("ResourceFlavor", flavor, {"nodeLabels": {"pool": s}}),
            )
            await admin.create(CLUSTER_QUEUES.collection(), cluster_queue(cq, flavor, "2"))
            await admin.create(
                LOCAL_QUEUES.collection(ns), kueue("LocalQueue", "lq", {"clusterQueue": cq}, ns)
            )
            async with queue_controller(apiserver.dralloc_kubeconfig) as client:
                await client.list(
                    LEASES.collection(None), fieldSelector="metadata.name=c1f6bfd2.kueue.x-k8s.io"
                )
                await admin.create(JOBS.collection(ns), queued_job(ns, "one", "lq", suspend=False))
                await admin.create(JOBS.collection(ns), queued_job(ns, "two", "lq"))
                await eventually(lambda: admitted(admin, ns, "one"), what="one admitted")
                await eventually(lambda: pending(admin, ns, "two"), what="two pending")

                async def started() -> bool:
                    job = await get_job(admin, ns, "one")
                    return job["spec"]["suspend"] is False and job["spec"]["template"]["spec"].get(
                        "nodeSelector"
                    ) == {"pool": s}

                await eventually(started, what="one started on its flavor")

                async def reported() -> bool:
                    found = cq_status(await admin.get(CLUSTER_QUEUES.item(None, cq)))
                    return found == (1, 1, {f"{flavor}/cpu": "2"})

                await eventually(reported, what="ClusterQueue status")

    asyncio.run(scenario())


def test_a_job_too_big_for_the_quota_is_admitted_partially_with_its_parallelism_set(
    apiserver: ApiServer,
) -> None:
    s = uuid.uuid4().hex[:6]
    flavor, cq = f"pool-{s}", f"partial-{s}"

    async def scenario() -> None:
        async with admin_client(apiserver.admin_kubeconfig) as admin:
            ns = await create_namespace(admin)
            await admin.create(RESOURCE_FLAVORS.collection(), kueue("ResourceFlavor", flavor, {}))
            await admin.create(CLUSTER_QUEUES.collection(), cluster_queue(cq, flavor, "3"))
            await admin.create(
                LOCAL_QUEUES.collection(ns), kueue("LocalQueue", "lq", {"clusterQueue": cq}, ns)
            )
            async with queue_controller(apiserver.admin_kubeconfig) as client:
                body = queued_job(ns, "wide", "lq", pods=5)
                body["metadata"]["annotations"] = {"kueue.x-k8s.io/job-min-parallelism": "2"}
                await client.create(JOBS.collection(ns), body)
                wl = await eventually(lambda: admitted(client, ns, "wide"), what="admitted")
                assert wl["spec"]["podSets"][0]["count"] == 5
                assert wl["spec"]["podSets"][0]["minCount"] == 2
                assignment = wl["status"]["admission"]["podSetAssignments"][0]
                assert assignment["count"] == 3
                assert assignment["resourceUsage"] == {"cpu": "3"}

                async def started() -> Obj | None:
                    job = await get_job(client, ns, "wide")
                    return job if job["spec"].get("suspend") is False else None

                job = await eventually(started, what="started")
                assert job["spec"]["parallelism"] == 3

    asyncio.run(scenario())


def test_a_write_from_a_stale_copy_is_refused_and_the_retry_from_the_new_one_admits_once(
    apiserver: ApiServer,
) -> None:
    """The controller writes with the resourceVersion it read: a Job changed behind its back
    makes the pass fail with a conflict (the worker retries it), and the next pass, from the
    newer copy, starts the Job under the admission already written: nothing admitted twice."""
    s = uuid.uuid4().hex[:6]
    flavor, cq = f"pool-{s}", f"c-{s}"

    async def scenario() -> None:
        async with admin_client(apiserver.admin_kubeconfig) as admin:
            ns = await create_namespace(admin)
            await admin.create(RESOURCE_FLAVORS.collection(), kueue("ResourceFlavor", flavor, {}))
            await admin.create(CLUSTER_QUEUES.collection(), cluster_queue(cq, flavor, "2"))
            await admin.create(
                LOCAL_QUEUES.collection(ns), kueue("LocalQueue", "lq", {"clusterQueue": cq}, ns)
            )
            await admin.create(JOBS.collection(ns), queued_job(ns, "job", "lq", suspend=True))
            client = KubeClient.connect(apiserver.admin_kubeconfig)
            informers = SharedInformers(client, random.Random(1))
            controller = QueueController(client, informers)
            await informers.start()
            await informers.wait_synced(30)
            await informers.stop()  # the stores keep what they listed: now stale
            await admin.patch(
                JOBS.item(ns, "job"),
                {"metadata": {"annotations": {"changed": "behind its back"}}},
                content_type="application/merge-patch+json",
            )
            try:
                with pytest.raises(ApiStatusError) as caught:
                    await controller.sync("cycle")
                assert caught.value.is_conflict
            finally:
                await controller.events.drain(5)
                await client.aclose()
            first = await admitted(admin, ns, "job")
            assert first is not None  # the Workload was made and admitted before the conflict
            assert (await get_job(admin, ns, "job"))["spec"]["suspend"] is True
            async with queue_controller(apiserver.admin_kubeconfig) as client:

                async def started() -> bool:
                    return (await get_job(client, ns, "job"))["spec"].get("suspend") is False

                await eventually(started, what="started by the retry")
                items = (await client.list(WORKLOADS.collection(ns)))["items"]
                assert len(items) == 1
                assert items[0]["status"]["admission"] == first["status"]["admission"]
                assert condition(items[0], "QuotaReserved") == condition(first, "QuotaReserved")

    asyncio.run(scenario())
