"""dralloc's live scheduler against a real kube-apiserver, with what its mirror reads beyond
nodes, slices, classes, claims and pods: PodDisruptionBudgets (policy/v1, their status as the
API server holds it) steer preemption, and DeviceTaintRules (resource.k8s.io/v1beta2, gate
DRADeviceTaintRules) taint devices, a rule's removal requeueing the pod it kept out.

The apiserver of this module serves resource.k8s.io/v1beta2 with DRADeviceTaintRules on, and
so does the scheduler. No kube-controller-manager runs: the budget's status is written through
its status subresource, as the disruption controller would write it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from controlplane import ApiServer
from livekit import (
    DRIVER,
    claim,
    create_node,
    device_class,
    dralloc_config,
    eventually,
    gpu_slice,
    pod,
    unique,
)

from conftest import ApiServerOptions
from dralloc.features import Features
from dralloc.kube.client import KubeClient
from dralloc.kube.live import LiveOptions, LiveScheduler
from dralloc.kube.ownership import Ownership, parse_label_selector
from dralloc.kube.shared_informers import SharedInformers

pytestmark = pytest.mark.k8s

Obj = dict[str, Any]
GATES = {"DRADeviceTaintRules": True}


@pytest.fixture(scope="module")
def apiserver_options() -> ApiServerOptions:
    return ApiServerOptions(feature_gates=GATES, runtime_config={"resource.k8s.io/v1beta2": True})


@asynccontextmanager
async def running_scheduler(kubeconfig: Path, owned: str) -> AsyncIterator[LiveScheduler]:
    """livekit.live_scheduler with the module's gates, the mirror watching budgets and rules."""
    client = KubeClient.connect(kubeconfig)
    informers = SharedInformers(client)
    live = LiveScheduler(
        client,
        informers,
        LiveOptions(
            Features().with_gates(**GATES),
            config=dralloc_config(),
            ownership=Ownership(parse_label_selector(owned)),
            shutdown_grace_seconds=5,
        ),
    )
    await informers.start()
    await informers.wait_synced(30)
    live.start_leading()
    task = asyncio.create_task(live.run())
    try:
        yield live
    finally:
        await live.shutdown()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await informers.stop()
        await client.aclose()


async def _bound(admin: KubeClient, pods: str, name: str) -> Obj | None:
    got = await admin.get(f"{pods}/{name}")
    return got if got["spec"].get("nodeName") else None


async def _priority_classes(admin: KubeClient, **values: int) -> dict[str, str]:
    names = {}
    for role, value in values.items():
        names[role] = name = unique(role)
        await admin.create(
            "/apis/scheduling.k8s.io/v1/priorityclasses",
            {
                "apiVersion": "scheduling.k8s.io/v1",
                "kind": "PriorityClass",
                "metadata": {"name": name},
                "value": value,
            },
        )
    return names


def test_preemption_spares_the_pod_a_budget_protects_and_evicts_the_more_important_other(
    apiserver: ApiServer, namespace: str
) -> None:
    """One node of 8 cpus runs "guarded" (priority 10, app=web, 4 cpus) and "plain"
    (priority 20, 4 cpus). A pod of priority 1000 asking 4 cpus must evict one. Without a
    budget upstream reprieves the more important "plain" and evicts "guarded"; with a budget
    over app=web whose status allows no disruption, "guarded" is reprieved first and "plain",
    which no budget covers, is evicted."""

    async def scenario() -> None:
        admin = KubeClient.connect(apiserver.admin_kubeconfig)
        label = unique("pdb")
        node_name = unique("pdb-node")
        await create_node(admin, node_name, {"owner": label})
        classes = await _priority_classes(admin, low=10, mid=20, high=1000)
        pods = f"/api/v1/namespaces/{namespace}/pods"
        budgets = f"/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets"

        def sized(name: str, role: str, labels: dict[str, str] | None = None) -> Obj:
            body = pod(namespace, name)
            body["spec"]["priorityClassName"] = classes[role]
            body["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "4"
            if labels:
                body["metadata"]["labels"] = labels
            return body

        await admin.create(
            budgets,
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": {"name": "web", "namespace": namespace},
                "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}},
            },
        )
        created = await admin.get(f"{budgets}/web")
        # What the disruption controller would write: 1 healthy of 1 desired, none allowed.
        created["status"] = {
            "observedGeneration": created["metadata"]["generation"],
            "disruptionsAllowed": 0,
            "currentHealthy": 1,
            "desiredHealthy": 1,
            "expectedPods": 1,
        }
        await admin.update(f"{budgets}/web/status", created)

        async with running_scheduler(apiserver.admin_kubeconfig, f"owner={label}") as live:
            await admin.create(pods, sized("guarded", "low", {"app": "web"}))
            await admin.create(pods, sized("plain", "mid"))
            for name in ("guarded", "plain"):
                await eventually(lambda n=name: _bound(admin, pods, n), what=f"{name} bound")

            async def budget_seen() -> bool:
                held = live.cache.disruption_budgets.get(f"{namespace}/web")
                return (
                    held is not None
                    and held.status is not None
                    and (held.status.desired_healthy == 1)
                )

            await eventually(budget_seen, what="the budget's status in the mirror")
            held = live.cache.disruption_budgets[f"{namespace}/web"]
            assert held.status is not None and held.status.disruptions_allowed == 0

            await admin.create(pods, sized("preemptor", "high"))

            async def marked() -> str | None:
                for name in ("guarded", "plain"):
                    got = await admin.get(f"{pods}/{name}")
                    if got["metadata"].get("deletionTimestamp"):
                        return name
                return None

            assert await eventually(marked, what="a victim marked and deleted") == "plain"
            guarded = await admin.get(f"{pods}/guarded")
            assert not guarded["metadata"].get("deletionTimestamp")
            # No kubelet: finish the victim's graceful deletion, then the preemptor binds.
            await admin.delete(f"{pods}/plain", {"gracePeriodSeconds": 0})
            placed = await eventually(
                lambda: _bound(admin, pods, "preemptor"), what="the preemptor bound"
            )
            assert placed["spec"]["nodeName"] == node_name
        await admin.aclose()

    asyncio.run(scenario())


def test_a_device_taint_rule_keeps_pods_off_its_device_until_it_is_deleted(
    apiserver: ApiServer, namespace: str
) -> None:
    """A node with two GPUs, a DeviceTaintRule tainting gpu-0 NoSchedule: the first pod gets
    gpu-1, the second stays pending (no untainted device left). Deleting the rule is, as
    upstream's slice tracker reports it, an update of the node's ResourceSlice, which
    DynamicResources registers for: the second pod is retried at once and gets gpu-0."""

    async def scenario() -> None:
        admin = KubeClient.connect(apiserver.admin_kubeconfig)
        label = unique("taint")
        node_name = unique("taint-node")
        await create_node(admin, node_name, {"owner": label})
        await admin.create("/apis/resource.k8s.io/v1/resourceslices", gpu_slice(node_name, 2))
        class_name = unique("taint-class")
        await admin.create("/apis/resource.k8s.io/v1/deviceclasses", device_class(class_name))
        rules = "/apis/resource.k8s.io/v1beta2/devicetaintrules"
        rule_name = unique("gpu-0-broken")
        await admin.create(
            rules,
            {
                "apiVersion": "resource.k8s.io/v1beta2",
                "kind": "DeviceTaintRule",
                "metadata": {"name": rule_name},
                "spec": {
                    "deviceSelector": {"driver": DRIVER, "pool": node_name, "device": "gpu-0"},
                    "taint": {"key": "example.com/broken", "effect": "NoSchedule"},
                },
            },
        )
        claims = f"/apis/resource.k8s.io/v1/namespaces/{namespace}/resourceclaims"
        pods = f"/api/v1/namespaces/{namespace}/pods"
        for name in ("first", "second"):
            await admin.create(claims, claim(namespace, name, class_name))

        async def devices(claim_name: str) -> list[str] | None:
            got = await admin.get(f"{claims}/{claim_name}")
            allocation = (got.get("status") or {}).get("allocation")
            if not allocation:
                return None
            return [r["device"] for r in allocation["devices"]["results"]]

        async with running_scheduler(apiserver.admin_kubeconfig, f"owner={label}") as live:
            await eventually(
                lambda: _true(rule_name in live.mirror.taint_rules), what="the rule mirrored"
            )
            await admin.create(pods, pod(namespace, "first", claim_name="first"))
            await eventually(lambda: _bound(admin, pods, "first"), what="first bound")
            assert await devices("first") == ["gpu-1"]

            await admin.create(pods, pod(namespace, "second", claim_name="second"))

            async def refused() -> Obj | None:
                got = await admin.get(f"{pods}/second")
                for condition in (got.get("status") or {}).get("conditions") or []:
                    if condition["type"] == "PodScheduled" and condition["status"] == "False":
                        return condition
                return None

            condition = await eventually(refused, what="second refused")
            assert condition["reason"] == "Unschedulable"
            assert not (await admin.get(f"{pods}/second"))["spec"].get("nodeName")
            assert await devices("second") is None

            await admin.delete(f"{rules}/{rule_name}")
            # Well inside kube-scheduler's periodic flush of unschedulable pods (5 minutes):
            # only the event can bring the pod back this soon.
            await eventually(lambda: _bound(admin, pods, "second"), 20, what="second bound")
            assert await devices("second") == ["gpu-0"]
        await admin.aclose()

    asyncio.run(scenario())


async def _true(value: bool) -> bool:
    return value
