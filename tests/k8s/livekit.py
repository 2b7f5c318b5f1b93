"""Helpers for tests of dralloc's cluster mode against the harness apiserver: a live scheduler
running in the test's own event loop, objects to create, polling with a deadline."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from dralloc.features import Features
from dralloc.kube.binding import BindingPlan
from dralloc.kube.client import KubeClient
from dralloc.kube.live import LiveOptions, LiveScheduler
from dralloc.kube.ownership import Ownership, parse_label_selector
from dralloc.kube.shared_informers import SharedInformers
from dralloc.scheduler.config import ProfileConfig, SchedulerConfiguration

Obj = dict[str, Any]
DRIVER = "gpu.live.example.com"


def dralloc_config(name: str = "dralloc") -> SchedulerConfiguration:
    return SchedulerConfiguration(profiles=(ProfileConfig(scheduler_name=name),))


@asynccontextmanager
async def live_scheduler(
    kubeconfig: Path,
    *,
    owned: str = "",
    before_pre_bind: Callable[[BindingPlan], Awaitable[None]] | None = None,
    leading: bool = True,
    binding_poll_seconds: float = 5.0,
    binding_timeout_seconds: float = 600.0,
    features: Features | None = None,
) -> AsyncIterator[LiveScheduler]:
    client = KubeClient.connect(kubeconfig)
    informers = SharedInformers(client)
    live = LiveScheduler(
        client,
        informers,
        LiveOptions(
            features if features is not None else Features(),
            config=dralloc_config(),
            ownership=Ownership(parse_label_selector(owned)),
            shutdown_grace_seconds=5,
            binding_poll_seconds=binding_poll_seconds,
            binding_timeout_seconds=binding_timeout_seconds,
        ),
        before_pre_bind=before_pre_bind,
    )
    await informers.start()
    await informers.wait_synced(30)
    if leading:
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


async def eventually(
    check: Callable[[], Awaitable[Any]], timeout: float = 30.0, what: str = "condition"
) -> Any:
    """Poll `check` until it returns something truthy; its last value on timeout fails."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what} not reached in {timeout:g} s; last: {last!r}")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def node(name: str, labels: dict[str, str] | None = None) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
    }


NODE_STATUS = {
    "status": {
        "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
        "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"},
    }
}


def gpu_slice(node_name: str, devices: int, driver: str = DRIVER) -> Obj:
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceSlice",
        "metadata": {"name": f"{node_name}-{driver}"},
        "spec": {
            "driver": driver,
            "nodeName": node_name,
            "pool": {"name": node_name, "generation": 1, "resourceSliceCount": 1},
            "devices": [
                {"name": f"gpu-{i}", "attributes": {"index": {"int": i}}} for i in range(devices)
            ],
        },
    }


def device_class(name: str, driver: str = DRIVER) -> Obj:
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "DeviceClass",
        "metadata": {"name": name},
        "spec": {"selectors": [{"cel": {"expression": f'device.driver == "{driver}"'}}]},
    }


def claim(namespace: str, name: str, device_class_name: str, count: int = 1) -> Obj:
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaim",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "devices": {
                "requests": [
                    {
                        "name": "gpu",
                        "exactly": {"deviceClassName": device_class_name, "count": count},
                    }
                ]
            }
        },
    }


def pod(
    namespace: str,
    name: str,
    *,
    claim_name: str | None = None,
    template: str | None = None,
    scheduler: str = "dralloc",
    node_selector: dict[str, str] | None = None,
) -> Obj:
    spec: Obj = {
        "schedulerName": scheduler,
        "containers": [
            {
                "name": "c",
                "image": "registry.k8s.io/pause:3.10",
                "resources": {"requests": {"cpu": "100m"}},
            }
        ],
        "tolerations": [{"operator": "Exists"}],
    }
    if node_selector:
        spec["nodeSelector"] = node_selector
    if claim_name or template:
        entry: Obj = {"name": "gpu"}
        if claim_name:
            entry["resourceClaimName"] = claim_name
        else:
            entry["resourceClaimTemplateName"] = template
        spec["resourceClaims"] = [entry]
        spec["containers"][0]["resources"]["claims"] = [{"name": "gpu"}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


async def create_node(client: KubeClient, name: str, labels: dict[str, str] | None = None) -> None:
    await client.create("/api/v1/nodes", node(name, labels))
    await client.patch(f"/api/v1/nodes/{name}/status", NODE_STATUS)


async def create_claim_template(
    client: KubeClient, namespace: str, class_name: str, name: str = "gpu"
) -> None:
    """A ResourceClaimTemplate of one device of `class_name` (request "gpu")."""
    template = {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaimTemplate",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"spec": claim(namespace, name, class_name)["spec"]},
    }
    await client.create(
        f"/apis/resource.k8s.io/v1/namespaces/{namespace}/resourceclaimtemplates", template
    )
