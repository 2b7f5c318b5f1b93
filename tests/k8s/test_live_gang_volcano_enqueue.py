"""Volcano's enqueue step in dralloc's live scheduler against a real kube-apiserver serving
Volcano's PodGroup CRD (scheduling.volcano.sh/v1beta1, without a status subresource, as
Volcano ships it): the pods of a PodGroup whose minResources do not fit the cluster's idle
capacity (allocatable x 1.2 - used) are held back and the PodGroup is written Pending with
Volcano's Unschedulable/NotEnoughResources condition; once a running pod is deleted the step
enqueues it (Inqueue), its pods are bound together and it is written Running with the
Scheduled condition, as Volcano's scheduler writes them."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from controlplane import ApiServer
from livekit import create_node, eventually, live_scheduler, pod, unique

from conftest import ApiServerOptions
from dralloc.features import parse_gates
from dralloc.kube.client import VOLCANO_POD_GROUPS, ApiStatusError, KubeClient

pytestmark = pytest.mark.k8s

Obj = dict[str, Any]
FEATURES = parse_gates("GenericWorkload=true,GangScheduling=true")
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
QUANTITY: Obj = {
    "anyOf": [{"type": "integer"}, {"type": "string"}],
    "x-kubernetes-int-or-string": True,
}
# Volcano's PodGroup CRD as Volcano's chart installs it, in the fields dralloc reads and
# writes: served v1beta1, structural, and no status subresource (Volcano's scheduler updates
# the whole object).
VOLCANO_CRD: Obj = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "podgroups.scheduling.volcano.sh"},
    "spec": {
        "group": "scheduling.volcano.sh",
        "names": {
            "kind": "PodGroup",
            "listKind": "PodGroupList",
            "plural": "podgroups",
            "singular": "podgroup",
            "shortNames": ["pg", "podgroup-v1beta1"],
        },
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1beta1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "apiVersion": {"type": "string"},
                            "kind": {"type": "string"},
                            "metadata": {"type": "object"},
                            "spec": {
                                "type": "object",
                                "properties": {
                                    "minMember": {"type": "integer", "format": "int32"},
                                    "minResources": {
                                        "type": "object",
                                        "additionalProperties": QUANTITY,
                                    },
                                    "minTaskMember": {
                                        "type": "object",
                                        "additionalProperties": {
                                            "type": "integer",
                                            "format": "int32",
                                        },
                                    },
                                    "priorityClassName": {"type": "string"},
                                    "queue": {"type": "string", "default": "default"},
                                },
                            },
                            "status": {
                                "type": "object",
                                "properties": {
                                    "conditions": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "properties": {
                                                "lastTransitionTime": {
                                                    "type": "string",
                                                    "format": "date-time",
                                                },
                                                "message": {"type": "string"},
                                                "reason": {"type": "string"},
                                                "status": {"type": "string"},
                                                "transitionID": {"type": "string"},
                                                "type": {"type": "string"},
                                            },
                                        },
                                    },
                                    "failed": {"type": "integer", "format": "int32"},
                                    "phase": {"type": "string"},
                                    "running": {"type": "integer", "format": "int32"},
                                    "succeeded": {"type": "integer", "format": "int32"},
                                },
                            },
                        },
                    }
                },
                "subresources": {},
            }
        ],
    },
}


@pytest.fixture(scope="module")
def apiserver_options() -> ApiServerOptions:
    return ApiServerOptions(
        feature_gates={"GenericWorkload": True, "GangScheduling": True},
        runtime_config={"scheduling.k8s.io/v1alpha2": True},
    )


def cpu_pod(namespace: str, name: str, cpu: str, *, group: str = "", node: str = "") -> Obj:
    body = pod(namespace, name)
    body["spec"]["containers"][0]["resources"]["requests"] = {"cpu": cpu}
    if group:
        body["metadata"]["annotations"] = {"scheduling.k8s.io/group-name": group}
    if node:
        body["spec"]["nodeName"] = node
        body["spec"]["schedulerName"] = "default-scheduler"
    return body


def condition(obj: Obj, kind: str) -> Obj | None:
    for found in (obj.get("status") or {}).get("conditions") or []:
        if found.get("type") == kind:
            return found
    return None


def test_a_group_whose_min_resources_do_not_fit_waits_pending_until_capacity_frees(
    apiserver: ApiServer, namespace: str
) -> None:
    async def scenario() -> None:
        admin = KubeClient.connect(apiserver.admin_kubeconfig)
        with contextlib.suppress(ApiStatusError):  # made already on this apiserver
            await admin.create(CRDS, VOLCANO_CRD)

        async def served() -> bool:
            return "podgroups" in await admin.served("scheduling.volcano.sh/v1beta1")

        await eventually(served, what="Volcano's PodGroups served")
        label = unique("vce")
        nodes = [unique(f"{label}-n") for _ in range(2)]
        for name in nodes:
            await create_node(admin, name, {"owner": label})  # 8 cpu each
        pods = f"/api/v1/namespaces/{namespace}/pods"
        groups = VOLCANO_POD_GROUPS.collection(namespace)
        # 6 cpu in use: idle 16 x 1.2 - 6 = 13.2 < the group's 16.
        await admin.create(pods, cpu_pod(namespace, "busy", "6", node=nodes[0]))
        await admin.create(
            groups,
            {
                "apiVersion": "scheduling.volcano.sh/v1beta1",
                "kind": "PodGroup",
                "metadata": {"name": "train", "namespace": namespace},
                "spec": {"minMember": 2, "minResources": {"cpu": "16", "count/pods": "2"}},
            },
        )
        names = ["train-0", "train-1"]
        group_path = VOLCANO_POD_GROUPS.item(namespace, "train")
        async with live_scheduler(
            apiserver.admin_kubeconfig, owned=f"owner={label}", features=FEATURES
        ) as live:
            for name in names:
                await admin.create(pods, cpu_pod(namespace, name, "4", group="train"))

            expected = (
                "2/2 tasks in gang unschedulable: pod group is not ready, 2 Pending, "
                "2 minAvailable; Pending: 2 Unschedulable. Origin reason is: resource in "
                "cluster is overused: minResources cpu 16 > idle 13.2 (allocatable 16 x "
                "overcommit 1.2 - used 6 - held by Inqueue groups 0)"
            )

            async def pending() -> Obj | None:
                # A step may run between the two pods' arrivals: wait for the one that
                # counts both.
                group = await admin.get(group_path)
                found = condition(group, "Unschedulable")
                if found is None or group["status"].get("phase") != "Pending":
                    return None
                return group if found.get("message") == expected else None

            group = await eventually(pending, what="the PodGroup written Pending")
            said = condition(group, "Unschedulable")
            assert said is not None
            assert (said["status"], said["reason"]) == ("True", "NotEnoughResources")
            assert said["lastTransitionTime"]
            # The pods wait at PreEnqueue: nothing bound, each held with the step's message.
            queued = {p.info.key: p for q in live.queues.values() for p in q.pending_pods()}
            for name in names:
                held = queued[f"{namespace}/{name}"]
                assert held.info.gating_plugin == "GangScheduling"
            found = await admin.list(pods)
            assert [p["metadata"]["name"] for p in found["items"] if p["spec"].get("nodeName")] == [
                "busy"
            ]

            # The running pod goes (no kubelet here: at once): idle 19.2 >= 16.
            await admin.delete(
                f"{pods}/busy",
                {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0},
            )

            async def all_bound() -> bool:
                listed = await admin.list(pods)
                return sum(1 for p in listed["items"] if p["spec"].get("nodeName")) == 2

            await eventually(all_bound, what="the Volcano gang bound once enqueued")

            async def running() -> Obj | None:
                group = await admin.get(group_path)
                return group if group["status"].get("phase") == "Running" else None

            group = await eventually(running, what="the PodGroup written Running")
            scheduled = condition(group, "Scheduled")
            assert scheduled is not None
            assert (scheduled["status"], scheduled["reason"]) == (
                "True",
                "tasks in gang are ready to be scheduled",
            )
            # Conditions are replaced by type only: the old Unschedulable one stays, as in
            # Volcano.
            assert [c["type"] for c in group["status"]["conditions"]] == [
                "Unschedulable",
                "Scheduled",
            ]
        await admin.aclose()

    asyncio.run(scenario())


def test_a_node_joining_lets_the_step_enqueue_a_group_that_did_not_fit(
    apiserver: ApiServer, namespace: str
) -> None:
    async def scenario() -> None:
        admin = KubeClient.connect(apiserver.admin_kubeconfig)
        with contextlib.suppress(ApiStatusError):
            await admin.create(CRDS, VOLCANO_CRD)

        async def served() -> bool:
            return "podgroups" in await admin.served("scheduling.volcano.sh/v1beta1")

        await eventually(served, what="Volcano's PodGroups served")
        # Only the nodes dralloc owns are its cluster: 2 x 8 cpu x 1.2 = 19.2 < 24.
        label = unique("vcn")
        for _ in range(2):
            await create_node(admin, unique(f"{label}-n"), {"owner": label})
        pods = f"/api/v1/namespaces/{namespace}/pods"
        await admin.create(
            VOLCANO_POD_GROUPS.collection(namespace),
            {
                "apiVersion": "scheduling.volcano.sh/v1beta1",
                "kind": "PodGroup",
                "metadata": {"name": "wide", "namespace": namespace},
                "spec": {"minMember": 3, "minResources": {"cpu": "24"}},
            },
        )
        names = [f"wide-{i}" for i in range(3)]
        path = VOLCANO_POD_GROUPS.item(namespace, "wide")
        async with live_scheduler(
            apiserver.admin_kubeconfig, owned=f"owner={label}", features=FEATURES
        ):
            for name in names:
                await admin.create(pods, cpu_pod(namespace, name, "8", group="wide"))

            async def pending() -> Obj | None:
                group = await admin.get(path)
                said = condition(group, "Unschedulable")
                return said if said and group["status"].get("phase") == "Pending" else None

            said = await eventually(pending, what="the PodGroup written Pending")
            assert "minResources cpu 24 > idle 19.2 (allocatable 16" in said["message"]
            await create_node(admin, unique(f"{label}-n"), {"owner": label})  # 28.8 >= 24

            async def bound() -> list[str]:
                listed = await admin.list(pods)
                return sorted(
                    p["metadata"]["name"]
                    for p in listed["items"]
                    if p["metadata"]["name"] in names and p["spec"].get("nodeName")
                )

            async def all_bound() -> bool:
                return await bound() == names

            await eventually(all_bound, what="the gang bound once a node joined")

            async def running() -> bool:
                return (await admin.get(path))["status"].get("phase") == "Running"

            await eventually(running, what="the PodGroup written Running")
        await admin.aclose()

    asyncio.run(scenario())
