"""dralloc's queue controller with Kueue v0.17's waitForPodsReady, against a real
kube-apiserver with Kueue's CRDs, timeouts of seconds: a Job whose pods never become ready
is evicted (PodsReadyTimeout), requeued after Kueue's backoff (`requeueState` count and
`requeueAt` = eviction + base * 2^(count-1)), readmitted, and deactivated once the retry
limit is reached; a restarted controller keeps the backoff and count it wrote; with
blockAdmission a second Job waits ("Waiting") until the first one's pods are ready. No Job
controller runs: the test writes the Job status one would."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from controlplane import ApiServer
from crdkit import KUEUE_CRD_FILES, install_crds
from test_controllers import admin_client, eventually
from test_live_queue import (
    admitted,
    cluster_queue,
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
    QueueController,
)
from dralloc.kube.controllers.queueready import WaitForPodsReady
from dralloc.kube.shared_informers import SharedInformers

pytestmark = pytest.mark.k8s

Obj = dict[str, Any]
KUEUE = "kueue.x-k8s.io/v1beta2"


@pytest.fixture(scope="module", autouse=True)
def kueue_crds(apiserver: ApiServer) -> Iterator[None]:
    install_crds(apiserver, KUEUE_CRD_FILES, (KUEUE,))
    yield


@asynccontextmanager
async def running(kubeconfig: Path, config: WaitForPodsReady) -> AsyncIterator[KubeClient]:
    client = KubeClient.connect(kubeconfig)
    informers = SharedInformers(client, random.Random(7))
    controllers = build_controllers(
        ("queue",), client, informers, rng=random.Random(7), queue_wait_for_pods_ready=config
    )
    queue = next(c for c in controllers if isinstance(c, QueueController))
    await informers.start()
    await informers.wait_synced(30)
    tasks = [asyncio.create_task(c.run(), name=c.name) for c in controllers]
    try:
        yield client
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await queue.events.drain(5)
        await informers.stop()
        await client.aclose()


async def setup(admin: KubeClient, cpu: str) -> str:
    s = uuid.uuid4().hex[:6]
    ns = await create_namespace(admin)
    flavor, cq = f"pool-{s}", f"cq-{s}"
    await admin.create(RESOURCE_FLAVORS.collection(), kueue("ResourceFlavor", flavor, {}))
    await admin.create(CLUSTER_QUEUES.collection(), cluster_queue(cq, flavor, cpu))
    await admin.create(
        LOCAL_QUEUES.collection(ns), kueue("LocalQueue", "lq", {"clusterQueue": cq}, ns)
    )
    return ns


def stamp(obj: Obj | None, kind: str) -> datetime:
    found = condition(obj, kind)
    assert found is not None, kind
    return datetime.fromisoformat(found["lastTransitionTime"])


def test_a_job_never_ready_is_evicted_requeued_with_backoff_then_deactivated(
    apiserver: ApiServer,
) -> None:
    config = WaitForPodsReady(
        timeout=2, backoff_limit_count=2, backoff_base_seconds=1, backoff_max_seconds=60
    )

    async def scenario() -> None:
        async with admin_client(apiserver.admin_kubeconfig) as admin:
            ns = await setup(admin, "4")
            async with running(apiserver.admin_kubeconfig, config) as client:
                await client.create(JOBS.collection(ns), queued_job(ns, "slow", "lq"))
                first = await eventually(lambda: admitted(client, ns, "slow"), what="admitted")
                ready = condition(first, "PodsReady")

                async def not_ready() -> Obj | None:
                    wl = await workload_of(client, ns, "slow")
                    found = condition(wl, "PodsReady")
                    return wl if found is not None and is_true(wl, "Admitted") else None

                wl = await eventually(not_ready, what="PodsReady on the admitted Workload")
                ready = condition(wl, "PodsReady")
                assert ready is not None
                assert (ready["status"], ready["reason"]) == ("False", "WaitForStart")
                assert ready["message"] == "Not all pods are ready or succeeded"

                async def evicted(count: int) -> Obj | None:
                    wl = await workload_of(client, ns, "slow")
                    state = ((wl or {}).get("status") or {}).get("requeueState") or {}
                    return wl if state.get("count") == count else None

                seen: list[Obj] = []
                admitted_after = datetime.fromisoformat(first["metadata"]["creationTimestamp"])
                for count in (1, 2):
                    wl = await eventually(lambda c=count: evicted(c), what=f"eviction {count}")
                    seen.append(wl)
                    found = condition(wl, "Evicted")
                    assert found is not None and found["status"] == "True"
                    assert found["reason"] == "PodsReadyTimeout"
                    name = wl["metadata"]["name"]
                    assert found["message"] == f"Exceeded the PodsReady timeout {ns}/{name}"
                    # Kueue's backoff: base * 2^(count-1) after the eviction (no jitter
                    # survives the whole-second timestamp at this base).
                    at = datetime.fromisoformat(wl["status"]["requeueState"]["requeueAt"])
                    assert at - stamp(wl, "Evicted") == timedelta(seconds=2 ** (count - 1))
                    # The timeout counts from the admission (after creation, or after the
                    # previous backoff ended).
                    assert stamp(wl, "Evicted") - admitted_after >= timedelta(seconds=2)
                    # Requeued only after the backoff, and started again then.
                    requeued = await eventually(
                        lambda at=at: readmitted_after(client, ns, at), what=f"readmission {count}"
                    )
                    found = condition(requeued, "Requeued")
                    assert found is not None
                    assert (found["status"], found["reason"]) == ("True", "BackoffFinished")
                    assert stamp(requeued, "QuotaReserved") >= at
                    assert "requeueAt" not in requeued["status"]["requeueState"]
                    admitted_after = at
                    job = await eventually(lambda: started(client, ns), what="job restarted")
                    assert job["spec"]["suspend"] is False

                async def deactivated() -> Obj | None:
                    wl = await workload_of(client, ns, "slow")
                    return wl if wl and wl["spec"].get("active") is False else None

                wl = await eventually(deactivated, what="deactivation")

                async def released() -> Obj | None:
                    wl = await workload_of(client, ns, "slow")
                    return wl if wl and not is_true(wl, "QuotaReserved") else None

                wl = await eventually(released, what="quota released")
                found = condition(wl, "Evicted")
                assert found is not None and found["status"] == "True"
                assert found["reason"] == "DeactivatedDueToRequeuingLimitExceeded"
                assert found["message"] == (
                    "The workload is deactivated due to exceeding the maximum number of "
                    "re-queuing retries"
                )
                assert condition(wl, "DeactivationTarget") is None
                assert "requeueState" not in wl["status"]
                found = condition(wl, "Requeued")
                assert found is not None and found["status"] == "False"
                assert found["reason"] == "DeactivatedDueToRequeuingLimitExceeded"
                assert (await get_job(client, ns, "slow"))["spec"]["suspend"] is True
                name = wl["metadata"]["name"]

                async def events() -> dict[str, str] | None:
                    found = await client.list(f"/apis/events.k8s.io/v1/namespaces/{ns}/events")
                    by_reason = {
                        e["reason"]: e["note"]
                        for e in found["items"]
                        if e["regarding"]["name"] == name and e["reason"].startswith("Evicted")
                    }
                    return by_reason if len(by_reason) == 2 else None

                said = await eventually(events, what="the eviction events")
                assert said == {
                    "EvictedDueToPodsReadyTimeout": f"Exceeded the PodsReady timeout {ns}/{name}",
                    "EvictedDueToDeactivatedDueToRequeuingLimitExceeded": (
                        "The workload is deactivated due to exceeding the maximum number of "
                        "re-queuing retries"
                    ),
                }

    asyncio.run(scenario())


async def readmitted_after(client: KubeClient, ns: str, at: datetime) -> Obj | None:
    wl = await admitted(client, ns, "slow")
    if wl is None or stamp(wl, "QuotaReserved") < at:
        return None
    return wl


async def started(client: KubeClient, ns: str) -> Obj | None:
    job = await get_job(client, ns, "slow")
    return job if job["spec"].get("suspend") is False else None


def test_block_admission_holds_the_next_job_until_the_admitted_ones_pods_are_ready(
    apiserver: ApiServer,
) -> None:
    config = WaitForPodsReady(timeout=300, block_admission=True)

    async def scenario() -> None:
        async with admin_client(apiserver.admin_kubeconfig) as admin:
            ns = await setup(admin, "8")
            async with running(apiserver.admin_kubeconfig, config) as client:
                await client.create(JOBS.collection(ns), queued_job(ns, "a", "lq"))
                await eventually(lambda: admitted(client, ns, "a"), what="a admitted")
                await client.create(JOBS.collection(ns), queued_job(ns, "b", "lq"))

                async def waiting() -> Obj | None:
                    wl = await workload_of(client, ns, "b")
                    found = condition(wl, "QuotaReserved")
                    return wl if found is not None and found["reason"] == "Waiting" else None

                wl = await eventually(waiting, what="b waiting")
                found = condition(wl, "QuotaReserved")
                assert found is not None and found["status"] == "False"
                assert found["message"] == (
                    "waiting for all admitted workloads to be in PodsReady condition"
                )
                assert not is_true(await workload_of(client, ns, "a"), "PodsReady")
                assert (await get_job(client, ns, "b"))["spec"]["suspend"] is True
                # The Job controller's counts: both pods ready.
                await client.patch(
                    JOBS.item(ns, "a", "status"),
                    {"status": {"startTime": "2026-01-01T00:00:00Z", "active": 2, "ready": 2}},
                    content_type="application/merge-patch+json",
                )
                wl_b = await eventually(lambda: admitted(client, ns, "b"), what="b admitted")
                wl_a = await workload_of(client, ns, "a")
                found = condition(wl_a, "PodsReady")
                assert found is not None
                assert (found["status"], found["reason"]) == ("True", "Started")
                assert found["message"] == "All pods reached readiness and the workload is running"
                assert stamp(wl_b, "QuotaReserved") >= stamp(wl_a, "PodsReady")

    asyncio.run(scenario())


def test_a_restarted_controller_keeps_the_backoff_and_the_count_it_wrote(
    apiserver: ApiServer,
) -> None:
    config = WaitForPodsReady(timeout=1, backoff_base_seconds=4, backoff_max_seconds=60)

    async def count_is(client: KubeClient, ns: str, count: int) -> Obj | None:
        wl = await workload_of(client, ns, "slow")
        state = ((wl or {}).get("status") or {}).get("requeueState") or {}
        return wl if state.get("count") == count else None

    async def scenario() -> None:
        async with admin_client(apiserver.admin_kubeconfig) as admin:
            ns = await setup(admin, "4")
            async with running(apiserver.admin_kubeconfig, config) as client:
                await client.create(JOBS.collection(ns), queued_job(ns, "slow", "lq"))
                wl = await eventually(lambda: count_is(client, ns, 1), what="first eviction")
            at = datetime.fromisoformat(wl["status"]["requeueState"]["requeueAt"])
            assert at - stamp(wl, "Evicted") == timedelta(seconds=4)
            # A new controller reads requeueState back: no admission before requeueAt, and
            # the next eviction counts on from 1.
            async with running(apiserver.admin_kubeconfig, config) as client:
                again = await eventually(
                    lambda: readmitted_after(client, ns, datetime.min.replace(tzinfo=at.tzinfo)),
                    what="readmission",
                )
                assert stamp(again, "QuotaReserved") >= at
                wl = await eventually(lambda: count_is(client, ns, 2), what="second eviction")
                at2 = datetime.fromisoformat(wl["status"]["requeueState"]["requeueAt"])
                assert at2 - stamp(wl, "Evicted") == timedelta(seconds=8)

    asyncio.run(scenario())
