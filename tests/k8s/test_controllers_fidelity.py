"""dralloc's `resourceclaim` and `gc` controllers beside kube-controller-manager's own: the same
pods, one cluster served by each, give the same claims (name prefixes, annotations, labels,
owner references, spec), the same pod statuses (and field manager), and the same steps when
a reserved claim's pod goes away."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from controlplane import RESOURCE_CLAIM_CONTROLLER, ApiServer, Etcd, KubeControllerManager
from test_controllers import (
    admin_client,
    allocate_and_reserve,
    claim_status_of,
    eventually,
    get_or_none,
    pod_with_template_claims,
    released_claim_scenario,
    running_controllers,
    template,
)

from dralloc.kube.client import (
    NAMESPACES,
    PODS,
    RESOURCE_CLAIM_TEMPLATES,
    RESOURCE_CLAIMS,
    KubeClient,
)

pytestmark = pytest.mark.k8s("kube-controller-manager")

Obj = dict[str, Any]
GARBAGE_COLLECTOR = "garbage-collector-controller"
# Pod name -> its pod claims (pod claim -> template).
PODS_TO_COMPARE: dict[str, dict[str, str]] = {
    "web-0": {"gpu": "gpu-template"},
    "two-claims": {"gpu": "gpu-template", "nic": "gpu-template"},
    "a-pod-whose-name-is-long-enough-to-be-cut-by-the": {"accelerator-claim": "gpu-template"},
}


@pytest.fixture(scope="module")
def upstream_controllers(apiserver: ApiServer) -> Iterator[KubeControllerManager]:
    """kube-controller-manager's ResourceClaim controller and garbage collector on `apiserver`."""
    directory = Path(tempfile.mkdtemp(prefix="dralloc-kcm-fidelity-"))
    manager = KubeControllerManager.start(
        apiserver, directory, controllers=(RESOURCE_CLAIM_CONTROLLER, GARBAGE_COLLECTOR)
    )
    try:
        yield manager
    finally:
        manager.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def dralloc_cluster(etcd: Etcd) -> Iterator[ApiServer]:
    """A second clean cluster (same etcd, its own prefix) where dralloc's controllers run."""
    directory = Path(tempfile.mkdtemp(prefix="dralloc-apiserver-fidelity-"))
    server = ApiServer.start(etcd.client_url, directory)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


async def new_namespace(client: KubeClient) -> str:
    name = f"f-{uuid.uuid4().hex[:10]}"
    await client.create(
        NAMESPACES.collection(),
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
    )
    return name


async def claims_outcome(client: KubeClient, namespace: str) -> dict[str, Any]:
    """Create the pods to compare and describe what the controller made of them, with the
    random parts (UIDs, generated suffixes, times) taken out."""
    await client.create(RESOURCE_CLAIM_TEMPLATES.collection(namespace), template(namespace))
    for pod_name, claims in PODS_TO_COMPARE.items():
        await client.create(
            PODS.collection(namespace), pod_with_template_claims(namespace, pod_name, claims)
        )
    outcome: dict[str, Any] = {}
    for pod_name, claims in PODS_TO_COMPARE.items():

        async def recorded(name: str = pod_name, want: int = len(claims)) -> Obj | None:
            pod = await client.get(PODS.item(namespace, name))
            done = [c for c in claim_status_of(pod).values() if c]
            return pod if len(done) == want else None

        pod = await eventually(recorded, timeout=60, what=f"claims of {pod_name}")
        described: dict[str, Any] = {}
        for pod_claim, claim_name in sorted(claim_status_of(pod).items()):
            assert claim_name is not None
            claim = await client.get(RESOURCE_CLAIMS.item(namespace, claim_name))
            meta = claim["metadata"]
            assert claim_name.startswith(meta["generateName"])
            assert len(claim_name) == len(meta["generateName"]) + 5
            refs = [
                {**ref, "uid": "<pod uid>" if ref["uid"] == pod["metadata"]["uid"] else ref["uid"]}
                for ref in meta["ownerReferences"]
            ]
            described[pod_claim] = {
                "generateName": meta["generateName"],
                "annotations": meta.get("annotations"),
                "labels": meta.get("labels"),
                "finalizers": meta.get("finalizers"),
                "ownerReferences": refs,
                "spec": claim["spec"],
                "status": claim.get("status"),
            }
        status_managers = sorted(
            (m["manager"], m["operation"], m.get("subresource", ""))
            for m in pod["metadata"]["managedFields"]
            if m["manager"] == "ResourceClaimController"
        )
        outcome[pod_name] = {
            "claims": described,
            # As a set: kube-controller-manager applies them in Go's random map order.
            "statusNames": sorted(s["name"] for s in pod["status"]["resourceClaimStatuses"]),
            "managers": status_managers,
        }
    return outcome


async def terminal_pod_outcome(client: KubeClient, namespace: str) -> list[str]:
    """A reserved claim whose pod succeeded: what is left of it, step by step."""
    await client.create(RESOURCE_CLAIM_TEMPLATES.collection(namespace), template(namespace))
    pod = await client.create(
        PODS.collection(namespace),
        pod_with_template_claims(namespace, "done", {"gpu": "gpu-template"}),
    )

    async def recorded() -> str | None:
        return claim_status_of(await client.get(PODS.item(namespace, "done"))).get("gpu")

    claim_name = await eventually(recorded, timeout=60, what="claim of the pod")
    claim = await client.get(RESOURCE_CLAIMS.item(namespace, claim_name))
    await allocate_and_reserve(client, claim, pod)
    await client.patch(PODS.item(namespace, "done", "status"), {"status": {"phase": "Succeeded"}})
    path = RESOURCE_CLAIMS.item(namespace, claim_name)

    async def gone() -> bool:
        return await get_or_none(client, path) is None

    await eventually(gone, timeout=60, what="claim of the finished pod deleted")
    left = await client.get(PODS.item(namespace, "done"))
    return sorted(claim_status_of(left))


def test_claims_from_templates_are_the_same_as_kube_controller_managers(
    apiserver: ApiServer, upstream_controllers: KubeControllerManager, dralloc_cluster: ApiServer
) -> None:
    async def upstream() -> dict[str, Any]:
        async with admin_client(apiserver.admin_kubeconfig) as client:
            return await claims_outcome(client, await new_namespace(client))

    async def ours() -> dict[str, Any]:
        async with running_controllers(
            dralloc_cluster.admin_kubeconfig, ["resourceclaim", "gc"]
        ) as c:
            return await claims_outcome(c, await new_namespace(c))

    expected = asyncio.run(upstream())
    got = asyncio.run(ours())
    assert got == expected
    # What the comparison covers, so a vacuous match cannot pass.
    long_claim = expected["a-pod-whose-name-is-long-enough-to-be-cut-by-the"]["claims"]
    assert long_claim["accelerator-claim"]["generateName"] == (
        "a-pod-whose-name-is-long-enough-to-be-cu-accelerator-cl"
    )
    assert expected["web-0"]["managers"] == [("ResourceClaimController", "Apply", "status")]


def test_a_released_claim_goes_through_the_same_steps_as_with_kube_controller_manager(
    apiserver: ApiServer, upstream_controllers: KubeControllerManager, dralloc_cluster: ApiServer
) -> None:
    async def run(server: ApiServer, controllers: list[str] | None) -> list[tuple[Any, ...]]:
        async with admin_client(server.admin_kubeconfig) as client:
            namespace = await new_namespace(client)
        claim, states = await released_claim_scenario(
            server.admin_kubeconfig, namespace, controllers
        )
        name = claim["metadata"]["name"]
        return [("<claim>", *state[1:]) if state[0] == name else state for state in states]

    expected = _settled(asyncio.run(run(apiserver, None)))
    got = _settled(asyncio.run(run(dralloc_cluster, ["resourceclaim", "gc"])))
    assert got == expected
    assert expected[-1] == ("<claim>", "deleted")


def _settled(states: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The history without a finalizer-less state just before the deletion. Two controllers
    race there, upstream as here: the claim controller drops the finalizer of the deallocated
    claim, and the garbage collector deletes the claim whose pod is gone. Finalizer first
    shows the claim without it, then deleted; deletion first makes dropping the finalizer the
    deletion itself. Under load kube-controller-manager takes either path."""
    out: list[tuple[Any, ...]] = []
    for index, state in enumerate(states):
        following = states[index + 1] if index + 1 < len(states) else None
        if state[1:] == ((), False, False) and following == (state[0], "deleted"):
            continue
        out.append(state)
    return out


def test_a_finished_pods_claim_is_deleted_as_kube_controller_manager_deletes_it(
    apiserver: ApiServer, upstream_controllers: KubeControllerManager, dralloc_cluster: ApiServer
) -> None:
    async def upstream() -> list[str]:
        async with admin_client(apiserver.admin_kubeconfig) as client:
            return await terminal_pod_outcome(client, await new_namespace(client))

    async def ours() -> list[str]:
        async with running_controllers(dralloc_cluster.admin_kubeconfig, ["resourceclaim"]) as c:
            return await terminal_pod_outcome(c, await new_namespace(c))

    assert asyncio.run(ours()) == asyncio.run(upstream()) == ["gpu"]


async def bound_pod_outcome(client: KubeClient, namespace: str) -> list[Obj]:
    """A pod bound by hand (no scheduler) whose claim gets allocated: its reservation."""
    await client.create(RESOURCE_CLAIM_TEMPLATES.collection(namespace), template(namespace))
    body = pod_with_template_claims(namespace, "direct", {"gpu": "gpu-template"})
    body["spec"]["nodeName"] = "node-a"
    await client.create(PODS.collection(namespace), body)

    async def recorded() -> str | None:
        return claim_status_of(await client.get(PODS.item(namespace, "direct"))).get("gpu")

    claim_name = await eventually(recorded, timeout=60, what="claim of the bound pod")
    path = RESOURCE_CLAIMS.item(namespace, claim_name)
    claim = await client.get(path)
    result = {"request": "gpu", "driver": "gpu.example.com", "pool": "node-a", "device": "gpu-0"}
    claim["status"] = {"allocation": {"devices": {"results": [result]}}}
    await client.update(f"{path}/status", claim)

    async def reserved() -> list[Obj] | None:
        return ((await client.get(path)).get("status") or {}).get("reservedFor")

    entries: list[Obj] = await eventually(reserved, timeout=60, what="reservation")
    return [{**e, "uid": "<uid>"} for e in entries]


def test_a_bound_pods_allocated_claim_is_reserved_as_kube_controller_manager_reserves_it(
    apiserver: ApiServer, upstream_controllers: KubeControllerManager, dralloc_cluster: ApiServer
) -> None:
    async def upstream() -> list[Obj]:
        async with admin_client(apiserver.admin_kubeconfig) as client:
            return await bound_pod_outcome(client, await new_namespace(client))

    async def ours() -> list[Obj]:
        async with running_controllers(dralloc_cluster.admin_kubeconfig, ["resourceclaim"]) as c:
            return await bound_pod_outcome(c, await new_namespace(c))

    expected = asyncio.run(upstream())
    assert (
        asyncio.run(ours()) == expected == [{"resource": "pods", "name": "direct", "uid": "<uid>"}]
    )
