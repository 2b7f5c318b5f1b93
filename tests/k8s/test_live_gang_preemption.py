"""dralloc's live scheduler with WorkloadAwarePreemption: a gang evicts lower-priority pods
through the API, goes back to the queue, and is bound once their deletions arrive."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from controlplane import ApiServer
from livekit import create_node, eventually, live_scheduler, unique

from conftest import ApiServerOptions
from dralloc.features import parse_gates
from dralloc.kube.client import POD_GROUPS, KubeClient

pytestmark = pytest.mark.k8s
Obj = dict[str, Any]
GATES = {"GenericWorkload": True, "GangScheduling": True, "WorkloadAwarePreemption": True}
FEATURES = parse_gates("GenericWorkload=true,GangScheduling=true,WorkloadAwarePreemption=true")


@pytest.fixture(scope="module")
def apiserver_options() -> ApiServerOptions:
    return ApiServerOptions(
        feature_gates=GATES, runtime_config={"scheduling.k8s.io/v1alpha2": True}
    )


def pod(name: str, ns: str, cls: str, **spec: Any) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "schedulerName": "dralloc",
            "priorityClassName": cls,
            "tolerations": [{"operator": "Exists"}],
            "containers": [
                {
                    "name": "c",
                    "image": "registry.k8s.io/pause:3.10",
                    "resources": {"requests": {"cpu": "8"}},
                }
            ],
            **spec,
        },
    }


def test_a_gang_preempts_live_and_is_bound_after_the_deletions(
    apiserver: ApiServer, namespace: str
) -> None:
    async def scenario() -> None:
        admin = KubeClient.connect(apiserver.admin_kubeconfig)
        label = unique("lwap")
        low, high = unique("low"), unique("high")
        for name, value in ((low, 1), (high, 100)):
            await admin.create(
                "/apis/scheduling.k8s.io/v1/priorityclasses",
                {
                    "apiVersion": "scheduling.k8s.io/v1",
                    "kind": "PriorityClass",
                    "metadata": {"name": name},
                    "value": value,
                },
            )
        nodes = [unique(f"{label}-n") for _ in range(2)]
        for n in nodes:
            await create_node(admin, n, {"owner": label})
        path = f"/api/v1/namespaces/{namespace}/pods"
        for i, n in enumerate(nodes):
            await admin.create(path, pod(f"low-{i}", namespace, low, nodeName=n))
        async with live_scheduler(
            apiserver.admin_kubeconfig, owned=f"owner={label}", features=FEATURES
        ):
            await admin.create(
                POD_GROUPS.collection(namespace),
                {
                    "apiVersion": "scheduling.k8s.io/v1alpha2",
                    "kind": "PodGroup",
                    "metadata": {"name": "train", "namespace": namespace},
                    "spec": {
                        "schedulingPolicy": {"gang": {"minCount": 2}},
                        "priorityClassName": high,
                    },
                },
            )
            for i in range(2):
                await admin.create(
                    path,
                    pod(
                        f"train-{i}",
                        namespace,
                        high,
                        nodeSelector={"owner": label},
                        schedulingGroup={"podGroupName": "train"},
                    ),
                )
            victims: set[str] = set()

            async def bound() -> bool:
                found = await admin.list(path)
                for item in found["items"]:
                    if item["metadata"].get("deletionTimestamp"):
                        victims.add(item["metadata"]["name"])
                        await admin.delete(
                            f"{path}/{item['metadata']['name']}", {"gracePeriodSeconds": 0}
                        )
                nodes_of = {
                    i["metadata"]["name"]: i["spec"].get("nodeName") for i in found["items"]
                }
                return bool(nodes_of.get("train-0") and nodes_of.get("train-1"))

            await eventually(bound, timeout=60, what="the gang bound")

            async def gone() -> bool:
                await bound()
                left = {i["metadata"]["name"] for i in (await admin.list(path))["items"]}
                return left == {"train-0", "train-1"}

            await eventually(gone, timeout=30, what="the victims deleted")
            assert victims == {"low-0", "low-1"}
        await admin.aclose()

    asyncio.run(scenario())
