"""waitForPodsReady for a JobSet through dralloc's queue controller against a real
kube-apiserver with Kueue's and JobSet's CRDs: PodsReady follows the replicated jobs' ready
counts (True, Started, once every replica is ready), goes False with WaitForRecovery when
one is lost, and the Workload is evicted (PodsReadyTimeout) once `recoveryTimeout` has
passed since then, its JobSet suspended. The test writes the JobSet status its controller
would."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from controlplane import ApiServer
from crdkit import KUEUE_CRD_FILES, install_crds
from test_controllers import admin_client, eventually
from test_live_queue import condition, is_true
from test_live_queue_jobset import queued_jobset
from test_live_queue_podsready import running, setup

from dralloc.kube.client import KubeClient
from dralloc.kube.controllers.jobset import JOBSETS
from dralloc.kube.controllers.queue import WORKLOADS
from dralloc.kube.controllers.queueready import WaitForPodsReady

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


async def workload(client: KubeClient, ns: str) -> Obj | None:
    found = await client.list(WORKLOADS.collection(ns))
    items = found.get("items") or []
    return items[0] if items else None


def replicated_status(leader: int, workers: int) -> list[Obj]:
    # Every field is required by the CRD.
    return [
        {"name": name, "ready": ready, "active": ready, "succeeded": 0, "failed": 0}
        | {"suspended": 0}
        for name, ready in (("leader", leader), ("workers", workers))
    ]


def test_a_jobset_that_loses_a_replica_is_evicted_after_the_recovery_timeout(
    apiserver: ApiServer,
) -> None:
    config = WaitForPodsReady(timeout=300, recovery_timeout=2)

    async def scenario() -> None:
        async with admin_client(apiserver.admin_kubeconfig) as admin:
            ns = await setup(admin, "8")
            async with running(apiserver.admin_kubeconfig, config) as client:
                body = queued_jobset(ns, "train")
                await client.create(JOBSETS.collection(ns), body)

                async def started() -> Obj | None:
                    found = await client.get(JOBSETS.item(ns, "train"))
                    return found if found["spec"].get("suspend") is False else None

                await eventually(started, what="JobSet started")

                async def set_ready(leader: int, workers: int) -> None:
                    await client.patch(
                        JOBSETS.item(ns, "train", "status"),
                        {"status": {"replicatedJobsStatus": replicated_status(leader, workers)}},
                        content_type="application/merge-patch+json",
                    )

                async def pods_ready(status: str, reason: str) -> Obj | None:
                    wl = await workload(client, ns)
                    found = condition(wl, "PodsReady")
                    if found is None or (found["status"], found["reason"]) != (status, reason):
                        return None
                    return wl

                # One of two worker replicas ready: not yet.
                await set_ready(1, 1)
                await eventually(lambda: pods_ready("False", "WaitForStart"), what="not ready")
                await set_ready(1, 2)
                await eventually(lambda: pods_ready("True", "Started"), what="ready")
                await set_ready(1, 1)
                wl = await eventually(
                    lambda: pods_ready("False", "WaitForRecovery"), what="recovering"
                )
                found = condition(wl, "PodsReady")
                assert found is not None
                assert found["message"] == "At least one pod has failed, waiting for recovery"
                lost = datetime.fromisoformat(found["lastTransitionTime"])

                async def evicted() -> Obj | None:
                    wl = await workload(client, ns)
                    return wl if is_true(wl, "Evicted") else None

                wl = await eventually(evicted, what="eviction")
                found = condition(wl, "Evicted")
                assert found is not None and found["reason"] == "PodsReadyTimeout"
                assert datetime.fromisoformat(found["lastTransitionTime"]) - lost >= timedelta(
                    seconds=2
                )
                assert wl["status"]["requeueState"]["count"] == 1
                suspended = await eventually(
                    lambda: suspended_jobset(client, ns), what="JobSet suspended"
                )
                assert suspended["spec"]["suspend"] is True

    asyncio.run(scenario())


async def suspended_jobset(client: KubeClient, ns: str) -> Obj | None:
    found = await client.get(JOBSETS.item(ns, "train"))
    return found if found["spec"].get("suspend") is True else None
