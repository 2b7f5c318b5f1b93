"""The live scheduler as the `dralloc` identity bound only to deploy/'s ClusterRole (spec
8.7 test 6): everything works; without `resourceclaims/binding` the pod's FailedScheduling
names the missing permission."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from controlplane import ApiServer
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

from dralloc.kube.client import KubeClient

pytestmark = pytest.mark.k8s

Obj = dict[str, Any]
DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _scheduler_role(name: str, *, without: str | None = None) -> Obj:
    role = yaml.safe_load((DEPLOY / "20-clusterrole-scheduler.yaml").read_text())
    role = copy.deepcopy(role)
    role["metadata"] = {"name": name}
    if without is not None:
        for rule in role["rules"]:
            rule["resources"] = [r for r in rule["resources"] if r != without]
        role["rules"] = [r for r in role["rules"] if r["resources"]]
    return role


def _binding(name: str, role: str) -> Obj:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "dralloc"}],
    }


async def _bound(admin: KubeClient, namespace: str, name: str) -> Obj | None:
    got = await admin.get(f"/api/v1/namespaces/{namespace}/pods/{name}")
    return got if got["spec"].get("nodeName") else None


def test_the_scheduler_role_is_enough_and_a_missing_binding_permission_is_named(
    apiserver: ApiServer, namespace: str
) -> None:
    async def scenario() -> None:
        admin = KubeClient.connect(apiserver.admin_kubeconfig)
        label = unique("rbac")
        driver = f"{label}.example.com"
        node_name = unique("rbac-node")
        await create_node(admin, node_name, {"owner": label})
        await admin.create(
            "/apis/resource.k8s.io/v1/resourceslices", gpu_slice(node_name, 2, driver)
        )
        class_name = unique("rbac-class")
        await admin.create(
            "/apis/resource.k8s.io/v1/deviceclasses", device_class(class_name, driver)
        )
        claims = f"/apis/resource.k8s.io/v1/namespaces/{namespace}/resourceclaims"
        for name in ("ok", "denied"):
            await admin.create(claims, claim(namespace, name, class_name))
        role = unique("dralloc-scheduler")
        roles = "/apis/rbac.authorization.k8s.io/v1/clusterroles"
        await admin.create(roles, _scheduler_role(role))
        await admin.create(
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", _binding(role, role)
        )
        async with live_scheduler(apiserver.dralloc_kubeconfig, owned=f"owner={label}"):
            await admin.create(
                f"/api/v1/namespaces/{namespace}/pods", pod(namespace, "ok", claim_name="ok")
            )
            await eventually(lambda: _bound(admin, namespace, "ok"), what="bound as dralloc")
        current = await admin.get(f"{roles}/{role}")
        narrowed = _scheduler_role(role, without="resourceclaims/binding")
        narrowed["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        await admin.update(f"{roles}/{role}", narrowed)
        async with live_scheduler(apiserver.dralloc_kubeconfig, owned=f"owner={label}"):
            await admin.create(
                f"/api/v1/namespaces/{namespace}/pods",
                pod(namespace, "denied", claim_name="denied"),
            )

            async def refused() -> list[Obj]:
                found = await admin.list(f"/apis/events.k8s.io/v1/namespaces/{namespace}/events")
                return [
                    e
                    for e in found["items"]
                    if e["reason"] == "FailedScheduling" and e["regarding"]["name"] == "denied"
                ]

            events = await eventually(refused, what="FailedScheduling naming the permission")
            note = events[0]["note"]
            assert "forbidden" in note and "resourceclaims/binding" in note, note
            assert await _bound(admin, namespace, "denied") is None
            written = await admin.get(f"{claims}/denied")
            assert not (written.get("status") or {}).get("reservedFor")
        await admin.aclose()

    asyncio.run(scenario())
