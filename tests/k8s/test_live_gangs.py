"""Gangs in dralloc's live scheduler against a real kube-apiserver serving
scheduling.k8s.io/v1alpha2 (GenericWorkload and GangScheduling on, as the scheduler runs):
a PodGroup's pods are bound all together or not at all, the PodGroup says why through its
status subresource, and of two gangs competing for one fleet exactly one is bound whole.
The upstream kube-scheduler, with the same gates, does the same with the same sequence."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from controlplane import ApiServer, KubeScheduler
from livekit import (
    claim,
    create_node,
    device_class,
    eventually,
    gpu_slice,
    live_scheduler,
    pod,
    unique,
)

from conftest import ApiServerOptions
from dralloc.features import parse_gates
from dralloc.kube.client import POD_GROUPS, ApiStatusError, KubeClient

pytestmark = pytest.mark.k8s

Obj = dict[str, Any]
GATES = {"GenericWorkload": True, "GangScheduling": True}
FEATURES = parse_gates("GenericWorkload=true,GangScheduling=true")
GPUS = 8


@pytest.fixture(scope="module")
def apiserver_options() -> ApiServerOptions:
    return ApiServerOptions(
        feature_gates=GATES, runtime_config={"scheduling.k8s.io/v1alpha2": True}
    )


@pytest.fixture(scope="module")
def upstream_scheduler(apiserver: ApiServer) -> Iterator[KubeScheduler]:
    """kube-scheduler 1.36 with the gates the apiserver has (it places default-scheduler
    pods only)."""
    directory = Path(tempfile.mkdtemp(prefix="dralloc-kube-scheduler-"))
    scheduler = KubeScheduler.start(apiserver, directory, feature_gates=GATES)
    try:
        yield scheduler
    finally:
        scheduler.stop()
        shutil.rmtree(directory, ignore_errors=True)


def pod_group(namespace: str, name: str, min_count: int) -> Obj:
    return {
        "apiVersion": "scheduling.k8s.io/v1alpha2",
        "kind": "PodGroup",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"schedulingPolicy": {"gang": {"minCount": min_count}}},
    }


async def add_node(client: KubeClient, label: str) -> str:
    name = unique(f"{label}-n")
    await create_node(client, name, {"owner": label})
    driver = f"{label}.example.com"
    await client.create("/apis/resource.k8s.io/v1/resourceslices", gpu_slice(name, GPUS, driver))
    return name


async def fleet(client: KubeClient, nodes: int, label: str) -> str:
    """`nodes` nodes of 8 GPUs labelled `owner=<label>`, and their DeviceClass."""
    for _ in range(nodes):
        await add_node(client, label)
    class_name = unique(f"{label}-class")
    driver = f"{label}.example.com"
    await client.create("/apis/resource.k8s.io/v1/deviceclasses", device_class(class_name, driver))
    return class_name


async def create_gang(
    client: KubeClient,
    namespace: str,
    group: str,
    size: int,
    min_count: int,
    class_name: str,
    scheduler: str = "dralloc",
) -> list[str]:
    """A PodGroup and `size` pods of it, each with its own claim of 8 GPUs."""
    await client.create(POD_GROUPS.collection(namespace), pod_group(namespace, group, min_count))
    claims = f"/apis/resource.k8s.io/v1/namespaces/{namespace}/resourceclaims"
    names = []
    for i in range(size):
        name = f"{group}-{i}"
        await client.create(claims, claim(namespace, name, class_name, count=GPUS))
        body = pod(namespace, name, claim_name=name, scheduler=scheduler)
        body["spec"]["schedulingGroup"] = {"podGroupName": group}
        await client.create(f"/api/v1/namespaces/{namespace}/pods", body)
        names.append(name)
    return names


async def bound(client: KubeClient, namespace: str, names: list[str]) -> list[str]:
    found = await client.list(f"/api/v1/namespaces/{namespace}/pods")
    nodes = {p["metadata"]["name"]: p["spec"].get("nodeName") for p in found["items"]}
    return [name for name in names if nodes.get(name)]


def condition(obj: Obj, kind: str) -> Obj | None:
    for found in (obj.get("status") or {}).get("conditions") or []:
        if found.get("type") == kind:
            return found
    return None


def test_a_gang_that_fits_only_in_part_binds_no_pod_until_a_node_joins_then_all(
    apiserver: ApiServer, namespace: str
) -> None:
    async def scenario() -> None:
        admin = KubeClient.connect(apiserver.admin_kubeconfig)
        label = unique("gang")
        class_name = await fleet(admin, 3, label)
        async with live_scheduler(
            apiserver.admin_kubeconfig, owned=f"owner={label}", features=FEATURES
        ) as live:
            names = await create_gang(admin, namespace, "train", 4, 4, class_name)

            async def unschedulable() -> Obj | None:
                group = await admin.get(POD_GROUPS.item(namespace, "train"))
                found = condition(group, "PodGroupScheduled")
                return found if found and found["status"] == "False" else None

            said = await eventually(unschedulable, what="PodGroupScheduled=False")
            assert said["reason"] == "Unschedulable"
            assert said["message"].startswith(
                f"pod group is unschedulable: 3 of minCount 4 pods of PodGroup {namespace}/train"
            )
            assert await bound(admin, namespace, names) == []
            # No claim was allocated for the gang that did not fit.
            claims = await admin.list(
                f"/apis/resource.k8s.io/v1/namespaces/{namespace}/resourceclaims"
            )
            assert [c for c in claims["items"] if (c.get("status") or {}).get("allocation")] == []
            member = await admin.get(f"/api/v1/namespaces/{namespace}/pods/{names[0]}")
            assert (condition(member, "PodScheduled") or {}).get("status") == "False"
            assert live.gangs is not None

            await add_node(admin, label)

            async def all_bound() -> bool:
                return len(await bound(admin, namespace, names)) == 4

            await eventually(all_bound, what="the gang bound")
            pods = await admin.list(f"/api/v1/namespaces/{namespace}/pods")
            assert len({p["spec"]["nodeName"] for p in pods["items"]}) == 4

            async def scheduled() -> Obj | None:
                group = await admin.get(POD_GROUPS.item(namespace, "train"))
                found = condition(group, "PodGroupScheduled")
                return found if found and found["status"] == "True" else None

            said = await eventually(scheduled, what="PodGroupScheduled=True")
            assert said["reason"] == "Scheduled"
        await admin.aclose()

    asyncio.run(scenario())


def test_of_two_gangs_competing_for_one_fleet_exactly_one_is_bound_whole(
    apiserver: ApiServer, namespace: str
) -> None:
    async def scenario() -> None:
        admin = KubeClient.connect(apiserver.admin_kubeconfig)
        label = unique("race")
        class_name = await fleet(admin, 3, label)
        async with live_scheduler(
            apiserver.admin_kubeconfig, owned=f"owner={label}", features=FEATURES
        ):
            first = await create_gang(admin, namespace, "a", 3, 3, class_name)
            second = await create_gang(admin, namespace, "b", 3, 3, class_name)

            async def one_bound() -> list[str]:
                return await bound(admin, namespace, first + second)

            placed = await eventually(one_bound, what="a gang bound")
            # Watch a while: never a part of a gang, never a part of both.
            for _ in range(30):
                placed = await bound(admin, namespace, first + second)
                assert sorted(placed) in ([], sorted(first), sorted(second)) or (
                    # Members bind one by one (each its own binding cycle): a moment may
                    # show some of one gang, never any of the other.
                    set(placed) <= set(first) or set(placed) <= set(second)
                ), placed
                await asyncio.sleep(0.1)
            assert sorted(placed) in (sorted(first), sorted(second))
            loser = "b" if sorted(placed) == sorted(first) else "a"

            async def loser_unschedulable() -> Obj | None:
                group = await admin.get(POD_GROUPS.item(namespace, loser))
                found = condition(group, "PodGroupScheduled")
                return found if found and found["status"] == "False" else None

            said = await eventually(loser_unschedulable, what="the other gang told why")
            assert said["reason"] == "Unschedulable"
        await admin.aclose()

    asyncio.run(scenario())


def test_a_gang_asking_for_an_extended_resource_gets_one_claim_made_per_member(
    apiserver: ApiServer, namespace: str
) -> None:
    """KEP-5004 in a pod-group cycle: each member's special claim is created, allocated and
    reserved by its binding cycle, and recorded in its status, as for a single pod."""

    async def scenario() -> None:
        admin = KubeClient.connect(apiserver.admin_kubeconfig)
        label = unique("gext")
        driver = f"{label}.example.com"
        for _ in range(2):
            await add_node(admin, label)
        resource = f"{label}.example.com/gpu"
        gpu_class = device_class(unique("gext-class"), driver)
        gpu_class["spec"]["extendedResourceName"] = resource
        await admin.create("/apis/resource.k8s.io/v1/deviceclasses", gpu_class)
        pods = f"/api/v1/namespaces/{namespace}/pods"
        names = ["x-0", "x-1"]
        async with live_scheduler(
            apiserver.admin_kubeconfig, owned=f"owner={label}", features=FEATURES
        ):
            await admin.create(POD_GROUPS.collection(namespace), pod_group(namespace, "x", 2))
            for name in names:
                body = pod(namespace, name)
                body["spec"]["containers"][0]["resources"]["limits"] = {resource: str(GPUS)}
                body["spec"]["schedulingGroup"] = {"podGroupName": "x"}
                await admin.create(pods, body)

            async def all_bound() -> bool:
                return len(await bound(admin, namespace, names)) == 2

            await eventually(all_bound, what="the gang bound")
        for name in names:
            placed = await admin.get(f"{pods}/{name}")
            claim_name = placed["status"]["extendedResourceClaimStatus"]["resourceClaimName"]
            made = await admin.get(
                f"/apis/resource.k8s.io/v1/namespaces/{namespace}/resourceclaims/{claim_name}"
            )
            assert [r["uid"] for r in made["status"]["reservedFor"]] == [placed["metadata"]["uid"]]
            assert len(made["status"]["allocation"]["devices"]["results"]) == GPUS
        await admin.aclose()

    asyncio.run(scenario())


@pytest.mark.k8s("kube-scheduler")
def test_kube_scheduler_with_the_same_gates_does_the_same_with_the_same_sequence(
    apiserver: ApiServer, upstream_scheduler: KubeScheduler, namespace: str
) -> None:
    """The first scenario with default-scheduler pods: upstream binds none of the gang on
    three nodes, says PodGroupScheduled=False Unschedulable, and binds all four once the
    fourth node joins (its DeviceClass reaches only this fleet's devices)."""

    async def scenario() -> None:
        admin = KubeClient.connect(apiserver.admin_kubeconfig)
        label = unique("up")
        class_name = await fleet(admin, 3, label)
        names = await create_gang(
            admin, namespace, "up", 4, 4, class_name, scheduler="default-scheduler"
        )

        async def unschedulable() -> Obj | None:
            group = await admin.get(POD_GROUPS.item(namespace, "up"))
            found = condition(group, "PodGroupScheduled")
            return found if found and found["status"] == "False" else None

        said = await eventually(unschedulable, timeout=60, what="upstream's condition")
        assert said["reason"] == "Unschedulable"
        assert said["message"].startswith("pod group is unschedulable")
        assert await bound(admin, namespace, names) == []
        await add_node(admin, label)

        async def all_bound() -> bool:
            return len(await bound(admin, namespace, names)) == 4

        # Upstream retries the gang on the node's events, within its backoff.
        await eventually(all_bound, timeout=60, what="upstream bound the gang")
        await admin.aclose()

    asyncio.run(scenario())


def test_pods_naming_a_podgroup_not_made_yet_wait_for_it(
    apiserver: ApiServer, namespace: str
) -> None:
    async def scenario() -> None:
        admin = KubeClient.connect(apiserver.admin_kubeconfig)
        label = unique("later")
        class_name = await fleet(admin, 2, label)
        claims = f"/apis/resource.k8s.io/v1/namespaces/{namespace}/resourceclaims"
        names = ["l-0", "l-1"]
        async with live_scheduler(
            apiserver.admin_kubeconfig, owned=f"owner={label}", features=FEATURES
        ) as live:
            for name in names:
                await admin.create(claims, claim(namespace, name, class_name, count=GPUS))
                body = pod(namespace, name, claim_name=name)
                body["spec"]["schedulingGroup"] = {"podGroupName": "later"}
                await admin.create(f"/api/v1/namespaces/{namespace}/pods", body)

            async def gated() -> bool:
                pending = {p.info.key: p for q in live.queues.values() for p in q.pending_pods()}
                return all(
                    f"{namespace}/{n}" in pending
                    and pending[f"{namespace}/{n}"].info.gating_plugin == "GangScheduling"
                    for n in names
                )

            await eventually(gated, what="the pods held at PreEnqueue")
            assert await bound(admin, namespace, names) == []
            await admin.create(POD_GROUPS.collection(namespace), pod_group(namespace, "later", 2))

            async def all_bound() -> bool:
                return len(await bound(admin, namespace, names)) == 2

            await eventually(all_bound, what="the gang bound once its PodGroup exists")
        await admin.aclose()

    asyncio.run(scenario())


VOLCANO_CRD: Obj = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "podgroups.scheduling.volcano.sh"},
    "spec": {
        "group": "scheduling.volcano.sh",
        "names": {"kind": "PodGroup", "plural": "podgroups", "singular": "podgroup"},
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1beta1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
                "subresources": {"status": {}},
            }
        ],
    },
}


def test_a_volcano_podgroup_is_a_gang_when_its_crd_is_served(
    apiserver: ApiServer, namespace: str
) -> None:
    async def scenario() -> None:
        admin = KubeClient.connect(apiserver.admin_kubeconfig)
        crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
        with contextlib.suppress(ApiStatusError):  # made already on this apiserver
            await admin.create(crds, VOLCANO_CRD)

        async def served() -> bool:
            return "podgroups" in await admin.served("scheduling.volcano.sh/v1beta1")

        await eventually(served, what="Volcano's PodGroups served")
        label = unique("vc")
        class_name = await fleet(admin, 1, label)
        group = {
            "apiVersion": "scheduling.volcano.sh/v1beta1",
            "kind": "PodGroup",
            "metadata": {"name": "job", "namespace": namespace},
            "spec": {"minMember": 2, "queue": "default"},
        }
        await admin.create(
            f"/apis/scheduling.volcano.sh/v1beta1/namespaces/{namespace}/podgroups", group
        )
        claims = f"/apis/resource.k8s.io/v1/namespaces/{namespace}/resourceclaims"
        names = ["v-0", "v-1"]
        async with live_scheduler(
            apiserver.admin_kubeconfig, owned=f"owner={label}", features=FEATURES
        ):
            for name in names:
                await admin.create(claims, claim(namespace, name, class_name, count=GPUS))
                body = pod(namespace, name, claim_name=name)
                body["metadata"]["annotations"] = {"scheduling.k8s.io/group-name": "job"}
                await admin.create(f"/api/v1/namespaces/{namespace}/pods", body)

            async def told() -> bool:
                for name in names:
                    got = await admin.get(f"/api/v1/namespaces/{namespace}/pods/{name}")
                    if (condition(got, "PodScheduled") or {}).get("status") != "False":
                        return False
                return True

            # One node of 8 GPUs holds one of the two: neither is bound.
            await eventually(told, what="both members told why")
            assert await bound(admin, namespace, names) == []
            await add_node(admin, label)

            async def all_bound() -> bool:
                return len(await bound(admin, namespace, names)) == 2

            await eventually(all_bound, what="the Volcano gang bound")
        await admin.aclose()

    asyncio.run(scenario())
