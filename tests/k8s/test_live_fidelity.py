"""Fidelity mode (spec 8.5): dralloc's live scheduler beside the real kube-controller-manager's
ResourceClaim controller instead of dralloc's own; the outcome is the same as with dralloc's
controllers (tests/k8s/test_scheduler_process.py): claim made from the template, allocated,
reserved for the pod, the pod bound."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from controlplane import ApiServer, KubeControllerManager
from livekit import (
    create_claim_template,
    create_node,
    device_class,
    eventually,
    gpu_slice,
    live_scheduler,
    pod,
    unique,
)

from dralloc.kube.client import KubeClient

pytestmark = pytest.mark.k8s("kube-controller-manager")

Obj = dict[str, Any]


def test_with_the_real_claim_controller_a_template_pod_is_bound_on_its_generated_claim(
    apiserver: ApiServer, kube_controller_manager: KubeControllerManager, namespace: str
) -> None:
    async def scenario() -> None:
        admin = KubeClient.connect(apiserver.admin_kubeconfig)
        label = unique("kcm")
        driver = f"{label}.example.com"
        node_name = unique("kcm-node")
        await create_node(admin, node_name, {"owner": label})
        await admin.create(
            "/apis/resource.k8s.io/v1/resourceslices", gpu_slice(node_name, 1, driver)
        )
        class_name = unique("kcm-class")
        await admin.create(
            "/apis/resource.k8s.io/v1/deviceclasses", device_class(class_name, driver)
        )
        await create_claim_template(admin, namespace, class_name)
        pods = f"/api/v1/namespaces/{namespace}/pods"
        async with live_scheduler(apiserver.admin_kubeconfig, owned=f"owner={label}"):
            await admin.create(pods, pod(namespace, "worker", template="gpu"))

            async def bound() -> Obj | None:
                got = await admin.get(f"{pods}/worker")
                return got if got["spec"].get("nodeName") else None

            placed = await eventually(bound, timeout=60, what="bound with kcm's claims")
        name = placed["status"]["resourceClaimStatuses"][0]["resourceClaimName"]
        written = await admin.get(
            f"/apis/resource.k8s.io/v1/namespaces/{namespace}/resourceclaims/{name}"
        )
        assert name.startswith("worker-gpu-")
        assert written["metadata"]["annotations"]["resource.kubernetes.io/pod-claim-name"] == "gpu"
        assert written["status"]["reservedFor"][0]["uid"] == placed["metadata"]["uid"]
        # The pod goes: kcm's controller takes the reservation back and deallocates the claim
        # (deleting it is the garbage collector's, which this kcm does not run).
        await admin.delete(f"{pods}/worker", {"gracePeriodSeconds": 0})

        async def claim_released() -> bool:
            found = await admin.list(
                f"/apis/resource.k8s.io/v1/namespaces/{namespace}/resourceclaims"
            )
            return all(not (c.get("status") or {}).get("allocation") for c in found["items"])

        await eventually(claim_released, timeout=60, what="claim released by kcm")
        await admin.aclose()

    asyncio.run(scenario())
