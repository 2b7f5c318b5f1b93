"""A queued JobSet through dralloc's queue and JobSet controllers against a real
kube-apiserver with Kueue's and JobSet's CRDs: one Workload with a pod set per ReplicatedJob,
admitted; the JobSet started with the flavor's node selector in every ReplicatedJob, and its
suspended Jobs resumed with it; a second JobSet beyond the quota stays suspended, with its
Jobs, and says why."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from controlplane import ApiServer
from crdkit import KUEUE_CRD_FILES, install_crds
from test_controllers import eventually
from test_live_queue import queue_controller

from dralloc.kube.client import JOBS
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


def queued_jobset(namespace: str, name: str) -> Obj:
    def replicated(rjob: str, replicas: int, parallelism: int) -> Obj:
        return {
            "name": rjob,
            "replicas": replicas,
            "template": {
                "spec": {
                    "parallelism": parallelism,
                    "completions": parallelism,
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "schedulerName": "nobody",
                            "containers": [
                                {
                                    "name": "main",
                                    "image": "registry.example/t:1",
                                    "resources": {"requests": {"cpu": "1"}},
                                }
                            ],
                        }
                    },
                }
            },
        }

    return {
        "apiVersion": "jobset.x-k8s.io/v1alpha2",
        "kind": "JobSet",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"kueue.x-k8s.io/queue-name": "lq"},
        },
        "spec": {
            "suspend": True,
            "replicatedJobs": [replicated("leader", 1, 1), replicated("workers", 2, 2)],
        },
    }


def test_a_queued_jobset_is_admitted_whole_and_started_with_its_jobs_and_another_waits(
    apiserver: ApiServer, namespace: str
) -> None:
    flavor, cq = f"{namespace}-f", f"{namespace}-cq"

    async def scenario() -> None:
        async with queue_controller(apiserver.admin_kubeconfig, ("queue", "jobset")) as client:
            await client.create(
                RESOURCE_FLAVORS.collection(),
                {
                    "apiVersion": KUEUE,
                    "kind": "ResourceFlavor",
                    "metadata": {"name": flavor},
                    "spec": {"nodeLabels": {"pool": namespace}},
                },
            )
            await client.create(
                CLUSTER_QUEUES.collection(),
                {
                    "apiVersion": KUEUE,
                    "kind": "ClusterQueue",
                    "metadata": {"name": cq},
                    "spec": {
                        "namespaceSelector": {},
                        "resourceGroups": [
                            {
                                "coveredResources": ["cpu"],
                                "flavors": [
                                    {
                                        "name": flavor,
                                        "resources": [{"name": "cpu", "nominalQuota": "6"}],
                                    }
                                ],
                            }
                        ],
                    },
                },
            )
            await client.create(
                LOCAL_QUEUES.collection(namespace),
                {
                    "apiVersion": KUEUE,
                    "kind": "LocalQueue",
                    "metadata": {"name": "lq", "namespace": namespace},
                    "spec": {"clusterQueue": cq},
                },
            )
            await client.create(JOBSETS.collection(namespace), queued_jobset(namespace, "one"))

            async def workload(name: str) -> Obj | None:
                for item in (await client.list(WORKLOADS.collection(namespace)))["items"]:
                    if item["metadata"]["ownerReferences"][0]["name"] == name:
                        return item  # type: ignore[no-any-return]
                return None

            async def admitted() -> Obj | None:
                found = await workload("one")
                return found if found and (found.get("status") or {}).get("admission") else None

            wl = await eventually(admitted, what="one admitted")
            assert wl["metadata"]["name"].startswith("jobset-one-")
            assert [(p["name"], p["count"]) for p in wl["spec"]["podSets"]] == [
                ("leader", 1),
                ("workers", 4),
            ]
            assert [
                (a["name"], a["count"], a["resourceUsage"]["cpu"])
                for a in wl["status"]["admission"]["podSetAssignments"]
            ] == [("leader", 1, "1"), ("workers", 4, "4")]

            async def resumed() -> list[Obj] | None:
                jobs = (await client.list(JOBS.collection(namespace)))["items"]
                running = [j for j in jobs if j["spec"].get("suspend") is False]
                return running if len(running) == 3 else None

            jobs = await eventually(resumed, what="the JobSet's three Jobs resumed")
            for job in jobs:
                assert job["spec"]["template"]["spec"]["nodeSelector"] == {"pool": namespace}
            js = await client.get(JOBSETS.item(namespace, "one"))
            assert js["spec"]["suspend"] is False
            for rjob in js["spec"]["replicatedJobs"]:
                assert rjob["template"]["spec"]["template"]["spec"]["nodeSelector"] == {
                    "pool": namespace
                }

            # 5 more cpu do not fit in the 1 left: the second JobSet waits, its Jobs suspended.
            await client.create(JOBSETS.collection(namespace), queued_jobset(namespace, "two"))

            async def waiting() -> Obj | None:
                found = await workload("two")
                for c in ((found or {}).get("status") or {}).get("conditions") or []:
                    if c["type"] == "QuotaReserved" and c["status"] == "False":
                        return c  # type: ignore[no-any-return]
                return None

            said = await eventually(waiting, what="two waits")
            assert said["reason"] == "WaitingForQuota"

            async def two_jobs() -> list[Obj] | None:
                jobs = (await client.list(JOBS.collection(namespace)))["items"]
                found = [j for j in jobs if j["metadata"]["name"].startswith("two-")]
                return found if len(found) == 3 else None

            for job in await eventually(two_jobs, what="two's Jobs made"):
                assert job["spec"]["suspend"] is True
            assert (await client.get(JOBSETS.item(namespace, "two")))["spec"]["suspend"] is True

    asyncio.run(scenario())
