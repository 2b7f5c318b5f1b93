"""dralloc's queue controller admitting many Jobs at once against a real kube-apiserver: N
Jobs spread over M ClusterQueues (enough quota for all), created together, are all admitted;
the controller's passes, admission cycles and the time to the last admission are printed
(`-s`). `DRALLOC_QUEUE_SCALE=200x10` sets N and M (default 12x3, so the suite stays quick),
`DRALLOC_QUEUE_SCALE_RUNS` how often both runs repeat;
`DRALLOC_QUEUE_PROFILE=1` prints the busiest functions of the test's process. Run with
one write at a time (the plain path) and with concurrent writes: the same admissions."""

from __future__ import annotations

import asyncio
import cProfile
import io
import os
import pstats
import time
import uuid

import pytest
from controlplane import ApiServer
from crdkit import KUEUE_CRD_FILES, install_crds
from test_controllers import admin_client, eventually
from test_live_queue import create_namespace, kueue, queued_job
from test_live_queue_eviction import running

from dralloc.kube.client import JOBS, KubeClient
from dralloc.kube.controllers.queue import (
    CLUSTER_QUEUES,
    LOCAL_QUEUES,
    RESOURCE_FLAVORS,
    WORKLOADS,
    QueueController,
)

pytestmark = pytest.mark.k8s

KUEUE = "kueue.x-k8s.io/v1beta2"


@pytest.fixture(scope="module", autouse=True)
def kueue_crds(apiserver: ApiServer) -> None:
    install_crds(apiserver, KUEUE_CRD_FILES, (KUEUE,))


def scale() -> tuple[int, int]:
    jobs, queues = os.environ.get("DRALLOC_QUEUE_SCALE", "12x3").split("x")
    return int(jobs), int(queues)


async def admitted_count(client: KubeClient, namespace: str) -> int:
    found = await client.list(WORKLOADS.collection(namespace))
    return sum(
        1
        for wl in found.get("items") or []
        for c in (wl.get("status") or {}).get("conditions") or []
        if c["type"] == "QuotaReserved" and c["status"] == "True"
    )


async def admit_all(apiserver: ApiServer, *, write_concurrency: int) -> dict[str, str]:
    """Run the scenario; each Workload's name -> its ClusterQueue and flavor."""
    jobs, queues = scale()
    s = uuid.uuid4().hex[:6]
    flavor = f"pool-{s}"
    async with admin_client(apiserver.admin_kubeconfig) as admin:
        ns = await create_namespace(admin)
        await admin.create(RESOURCE_FLAVORS.collection(), kueue("ResourceFlavor", flavor, {}))
        for q in range(queues):
            quota = [{"name": "cpu", "nominalQuota": str(2 * jobs)}]
            body = {
                "namespaceSelector": {},
                "resourceGroups": [
                    {"coveredResources": ["cpu"], "flavors": [{"name": flavor, "resources": quota}]}
                ],
            }
            await admin.create(
                CLUSTER_QUEUES.collection(), kueue("ClusterQueue", f"cq{q}-{s}", body)
            )
            await admin.create(
                LOCAL_QUEUES.collection(ns),
                kueue("LocalQueue", f"lq{q}", {"clusterQueue": f"cq{q}-{s}"}, ns),
            )
        profile = cProfile.Profile() if os.environ.get("DRALLOC_QUEUE_PROFILE") else None
        async with running(
            apiserver.admin_kubeconfig, ("queue",), write_concurrency=write_concurrency
        ) as (
            client,
            queue,
        ):
            started = time.monotonic()
            if profile is not None:
                profile.enable()
            for batch in range(0, jobs, 20):
                await asyncio.gather(
                    *(
                        admin.create(
                            JOBS.collection(ns),
                            queued_job(ns, f"j{i}", f"lq{i % queues}", pods=1),
                        )
                        for i in range(batch, min(jobs, batch + 20))
                    )
                )

            async def all_admitted() -> bool:
                return await admitted_count(client, ns) == jobs

            await eventually(all_admitted, timeout=300, what=f"{jobs} Workloads admitted")
            elapsed = time.monotonic() - started
            if profile is not None:
                profile.disable()
            report(queue, jobs, queues, elapsed)
        if profile is not None:
            out = io.StringIO()
            stats = pstats.Stats(profile, stream=out).sort_stats("cumulative")
            stats.print_stats(25)
            stats.print_callers("client.py.*create")
            print(out.getvalue())
        found = await admin.list(WORKLOADS.collection(ns))
        # By job name, the queue and flavors without this run's suffix.
        return {
            wl["metadata"]["ownerReferences"][0]["name"]: "/".join(
                [
                    wl["status"]["admission"]["clusterQueue"].removesuffix(f"-{s}"),
                    *(
                        p["flavors"]["cpu"].removesuffix(f"-{s}")
                        for p in wl["status"]["admission"]["podSetAssignments"]
                    ),
                ]
            )
            for wl in found["items"]
        }


def report(queue: QueueController, jobs: int, queues: int, elapsed: float) -> None:
    print(
        f"\nqueue controller, {jobs} Jobs in {queues} ClusterQueues, "
        f"write_concurrency={queue.write_concurrency}: all admitted in {elapsed:.2f} s; "
        f"{queue.passes} passes, {queue.cycles} admission cycles"
    )


def test_many_jobs_over_many_queues_are_admitted_alike_with_serial_and_concurrent_writes(
    apiserver: ApiServer,
) -> None:
    for _ in range(int(os.environ.get("DRALLOC_QUEUE_SCALE_RUNS", "1"))):
        plain = asyncio.run(admit_all(apiserver, write_concurrency=1))
        fast = asyncio.run(admit_all(apiserver, write_concurrency=16))
    jobs, queues = scale()
    assert len(plain) == jobs
    assert plain == fast
    assert plain["j7"] == f"cq{7 % queues}/pool"
