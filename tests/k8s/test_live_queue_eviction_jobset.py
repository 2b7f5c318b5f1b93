"""A preempted JobSet through dralloc's queue and JobSet controllers against a real
kube-apiserver with Kueue's and JobSet's CRDs, as Kueue v0.17 handles it: the JobSet is
suspended and its replicated jobs' pod templates restored in one write, its Workload keeps
its quota while a replicated job still has active Jobs (`status.replicatedJobsStatus`), and
the preemptor is admitted only once none has."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from controlplane import ApiServer
from crdkit import KUEUE_CRD_FILES, install_crds
from test_controllers import eventually
from test_live_queue import condition, is_true, kueue
from test_live_queue_eviction import priority_classes, running
from test_live_queue_jobset import queued_jobset

from dralloc.kube.client import JOBS, KubeClient
from dralloc.kube.controllers.jobset import JOBSETS
from dralloc.kube.controllers.queue import (
    CLUSTER_QUEUES,
    LOCAL_QUEUES,
    RESOURCE_FLAVORS,
    WORKLOADS,
)

pytestmark = pytest.mark.k8s

Obj = dict[str, Any]
KUEUE = "kueue.x-k8s.io/v1beta2"


@pytest.fixture(scope="module", autouse=True)
def crds(apiserver: ApiServer) -> Iterator[None]:
    install_crds(
        apiserver,
        (*KUEUE_CRD_FILES, "jobset.x-k8s.io_jobsets.yaml"),
        (KUEUE, "jobset.x-k8s.io/v1alpha2"),
    )
    yield


def prioritized(namespace: str, name: str, priority_class: str) -> Obj:
    body = queued_jobset(namespace, name)
    body["metadata"]["labels"]["kueue.x-k8s.io/priority-class"] = priority_class
    return body


async def workload(client: KubeClient, namespace: str, name: str) -> Obj | None:
    for item in (await client.list(WORKLOADS.collection(namespace)))["items"]:
        if item["metadata"]["ownerReferences"][0]["name"] == name:
            return item  # type: ignore[no-any-return]
    return None


def test_a_preempted_jobset_is_stopped_restored_and_releases_its_quota_once_no_job_is_active(
    apiserver: ApiServer, namespace: str
) -> None:
    s = uuid.uuid4().hex[:6]
    flavor, cq = f"{namespace}-f", f"{namespace}-cq"

    async def scenario() -> None:
        async with running(apiserver.admin_kubeconfig, ("queue", "jobset")) as (client, queue):
            await client.create(
                RESOURCE_FLAVORS.collection(),
                kueue("ResourceFlavor", flavor, {"nodeLabels": {"pool": namespace}}),
            )
            await priority_classes(client, s)
            quota = [{"name": "cpu", "nominalQuota": "5"}]
            await client.create(
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
                                "flavors": [{"name": flavor, "resources": quota}],
                            }
                        ],
                    },
                ),
            )
            await client.create(
                LOCAL_QUEUES.collection(namespace),
                kueue("LocalQueue", "lq", {"clusterQueue": cq}, namespace),
            )
            await client.create(
                JOBSETS.collection(namespace), prioritized(namespace, "low", f"low-{s}")
            )

            async def jobs_of(name: str, suspended: bool) -> list[Obj] | None:
                jobs = (await client.list(JOBS.collection(namespace)))["items"]
                found = [
                    j
                    for j in jobs
                    if j["metadata"]["name"].startswith(f"{name}-")
                    and bool(j["spec"].get("suspend")) is suspended
                ]
                return found if len(found) == 3 else None

            await eventually(lambda: jobs_of("low", False), what="low's Jobs resumed")
            # A worker Job with running pods (no Job controller runs: the test writes it).
            stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            await client.patch(
                JOBS.item(namespace, "low-workers-0", "status"),
                {"status": {"startTime": stamp, "active": 2}},
                content_type="application/merge-patch+json",
            )

            async def low_active() -> bool:
                js = await client.get(JOBSETS.item(namespace, "low"))
                statuses = (js.get("status") or {}).get("replicatedJobsStatus") or []
                return any(r.get("active", 0) > 0 for r in statuses)

            await eventually(low_active, what="low's replicated job active")
            await client.create(
                JOBSETS.collection(namespace), prioritized(namespace, "high", f"high-{s}")
            )

            async def stopped() -> Obj | None:
                js = await client.get(JOBSETS.item(namespace, "low"))
                return js if js["spec"].get("suspend") is True else None

            js = await eventually(stopped, what="low suspended")
            # Suspended and restored in the same write: no flavor selector, no podset label.
            for rjob in js["spec"]["replicatedJobs"]:
                template = rjob["template"]["spec"]["template"]
                assert "nodeSelector" not in template["spec"]
                assert "kueue.x-k8s.io/podset" not in (template["metadata"].get("labels") or {})
            assert await low_active()
            # A pass that saw the suspended JobSet with an active Job keeps its quota.
            version = int(js["metadata"]["resourceVersion"])

            async def settled() -> bool:
                assert queue.jobsets is not None
                found = queue.jobsets.get(f"{namespace}/low")
                seen = found is not None and int(found["metadata"]["resourceVersion"]) >= version
                return seen and len(queue.queue) == 0 and queue.passes_done == queue.passes

            await eventually(settled, what="a pass after low was stored suspended")
            victim = await workload(client, namespace, "low")
            assert is_true(victim, "Evicted") and is_true(victim, "QuotaReserved")
            high = await workload(client, namespace, "high")
            message = (condition(high, "QuotaReserved") or {}).get("message", "")
            assert "Pending the preemption of 1 workload(s)" in message

            # The worker Job's pods are gone: the quota is released, then taken.
            await client.patch(
                JOBS.item(namespace, "low-workers-0", "status"),
                {"status": {"active": 0}},
                content_type="application/merge-patch+json",
            )

            async def high_admitted() -> Obj | None:
                found = await workload(client, namespace, "high")
                return found if is_true(found, "QuotaReserved") else None

            await eventually(high_admitted, what="high admitted")
            victim = await workload(client, namespace, "low")
            requeued = condition(victim, "Requeued")
            assert not is_true(victim, "QuotaReserved")
            assert requeued is not None and requeued["reason"] == "Preempted"

    asyncio.run(scenario())
