"""The simulated kubelet's decisions, with informer events fed by hand and a client that
records requests: which pods it starts, ends and deletes, and how it retries a refused write.
(tests/k8s/test_nodes_simulate.py runs it against a real kube-apiserver.)"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from dralloc.kube import ApiStatusError
from dralloc.kube.client import PODS, RESOURCE_CLAIMS
from dralloc.kube.informer import InformerHandler, object_key
from dralloc.kube.nodesim import kubelet as kubelet_module
from dralloc.kube.nodesim.kubelet import SimulatedKubelet

DEADLINE_SECONDS = 10.0


class RecordingClient:
    """Answers every write with its body and remembers it; `refuse` makes the next writes
    to a path fail with that status code."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []
        self.refuse: dict[str, list[int]] = {}

    async def _answer(self, method: str, path: str, body: Any) -> dict[str, Any]:
        codes = self.refuse.get(path)
        if codes:
            code = codes.pop(0)
            raise ApiStatusError(method, path, code, "Forbidden", "no")
        self.calls.append((method, path, body))
        return dict(body) if isinstance(body, dict) else {}

    async def patch(self, path: str, body: Any, content_type: str = "") -> dict[str, Any]:
        return await self._answer("PATCH", path, body)

    async def update(self, path: str, body: Any) -> dict[str, Any]:
        return await self._answer("PUT", path, body)

    async def delete(self, path: str, body: Any = None) -> dict[str, Any]:
        return await self._answer("DELETE", path, body)

    async def get(self, path: str) -> dict[str, Any]:
        raise ApiStatusError("GET", path, 404, "NotFound", "not here")


class FedInformer:
    """An informer whose events the test sends: `emit` changes the store, then tells the
    handlers, as an informer does with a watch event."""

    def __init__(self) -> None:
        self.store: dict[str, dict[str, Any]] = {}
        self.handlers: list[InformerHandler] = []

    def add_handler(self, handler: InformerHandler) -> None:
        self.handlers.append(handler)

    def get(self, key: str) -> dict[str, Any] | None:
        return self.store.get(key)

    def emit(self, kind: str, obj: dict[str, Any]) -> None:
        key = object_key(obj)
        old = self.store.get(key)
        if kind == "DELETED":
            self.store.pop(key, None)
            for handler in self.handlers:
                handler.on_delete(obj)
            return
        self.store[key] = obj
        for handler in self.handlers:
            if old is None:
                handler.on_add(obj)
            else:
                handler.on_update(old, obj)


class FedInformers:
    """SharedInformers' face, holding FedInformers the test has not started."""

    is_running = False

    def __init__(self) -> None:
        self.by_resource: dict[Any, FedInformer] = {}

    def informer(self, resource: Any) -> FedInformer:
        return self.by_resource.setdefault(resource, FedInformer())


def _pod(name: str, node: str, *, phase: str = "Pending", **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", **metadata},
        "spec": {"nodeName": node, "containers": [{"name": "main", "image": "x"}]},
        "status": {"phase": phase},
    }


async def _until(check: Callable[[], bool], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_SECONDS
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"not within {DEADLINE_SECONDS:g} s: {what}")
        await asyncio.sleep(0.01)


def _kubelet(client: RecordingClient) -> tuple[SimulatedKubelet, FedInformers]:
    informers = FedInformers()
    kubelet = SimulatedKubelet(
        client,  # type: ignore[arg-type]
        {"sim-00": "10.64.0.1"},
        frozenset({("gpu.nvidia.com", "sim-00")}),
        informers=informers,  # type: ignore[arg-type]
        heartbeat_seconds=3600,
        log=lambda message: None,
        warn=lambda message: None,
    )
    return kubelet, informers


def test_pods_on_its_nodes_start_end_after_their_duration_and_are_deleted() -> None:
    client = RecordingClient()

    async def scenario() -> None:
        kubelet, informers = _kubelet(client)
        await kubelet.start()
        assert [c[:2] for c in client.calls] == [("PATCH", "/api/v1/nodes/sim-00/status")]
        pods = informers.informer(PODS)
        pods.emit("ADDED", _pod("elsewhere", "other-node"))
        pods.emit("ADDED", _pod("unbound", ""))
        pods.emit("ADDED", _pod("runs", "sim-00"))
        status = PODS.item("ns", "runs", "status")
        await _until(lambda: any(c[1] == status for c in client.calls), "runs started")
        [(_, _, patch)] = [c for c in client.calls if c[1] == status]
        assert patch["status"]["phase"] == "Running"
        assert patch["status"]["hostIP"] == "10.64.0.1"

        # The informer reports the pod Running; its annotation says it ends at once.
        running = _pod(
            "runs",
            "sim-00",
            phase="Running",
            annotations={"dralloc.io/simulated-duration": "0s"},
        )
        running["status"].update(patch["status"])
        pods.emit("MODIFIED", running)
        await _until(lambda: kubelet.counts.completed == 1, "runs completed")
        assert client.calls[-1][2]["status"]["phase"] == "Succeeded"

        deleting = _pod(
            "runs", "sim-00", phase="Succeeded", deletionTimestamp="2026-01-01T00:00:00Z"
        )
        pods.emit("MODIFIED", deleting)
        await _until(lambda: kubelet.counts.deleted == 1, "runs deleted")
        assert client.calls[-1] == (
            "DELETE",
            PODS.item("ns", "runs"),
            {
                "apiVersion": "v1",
                "kind": "DeleteOptions",
                "gracePeriodSeconds": 0,
                "preconditions": {"uid": "uid-runs"},
            },
        )
        # Later updates of the same deleting pod (finalizers) send no second DELETE.
        deleting["metadata"]["resourceVersion"] = "9"
        pods.emit("MODIFIED", deleting)
        await asyncio.sleep(0)
        assert (kubelet.counts.started, kubelet.counts.deleted) == (1, 1)
        assert not [c for c in client.calls if "elsewhere" in c[1] or "unbound" in c[1]]
        await kubelet.stop()

    asyncio.run(scenario())


def test_a_refused_write_is_tried_again_with_a_growing_delay(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(kubelet_module, "RETRY_SECONDS", 0.01)
    client = RecordingClient()
    status = PODS.item("ns", "p", "status")
    client.refuse[status] = [403, 403]
    warnings: list[str] = []

    async def scenario() -> None:
        kubelet, informers = _kubelet(client)
        kubelet.warn = warnings.append
        await kubelet.start()
        informers.informer(PODS).emit("ADDED", _pod("p", "sim-00"))
        await _until(lambda: kubelet.counts.started == 1, "p started after two refusals")
        assert kubelet.counts.failed_writes == 2
        assert [w.rsplit("; ", 1)[1] for w in warnings] == [
            "trying again in 0.01 s",
            "trying again in 0.02 s",
        ]
        await kubelet.stop()

    asyncio.run(scenario())


def test_a_claim_allocated_with_binding_conditions_on_its_pools_gets_device_status() -> None:
    client = RecordingClient()
    claim = {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaim",
        "metadata": {"name": "c", "namespace": "ns", "resourceVersion": "3"},
        "status": {
            "allocation": {
                "devices": {
                    "results": [
                        {
                            "request": "gpu",
                            "driver": "gpu.nvidia.com",
                            "pool": "sim-00",
                            "device": "gpu-0",
                            "bindingConditions": ["attached"],
                        }
                    ]
                }
            }
        },
    }

    async def scenario() -> None:
        kubelet, informers = _kubelet(client)
        await kubelet.start()
        informers.informer(RESOURCE_CLAIMS).emit("ADDED", claim)
        await _until(lambda: kubelet.counts.device_status_writes == 1, "device status written")
        method, path, body = client.calls[-1]
        assert (method, path) == ("PUT", RESOURCE_CLAIMS.item("ns", "c", "status"))
        assert body["metadata"]["resourceVersion"] == "3"
        [device] = body["status"]["devices"]
        assert [(c["type"], c["status"]) for c in device["conditions"]] == [("attached", "True")]
        await kubelet.stop()

    asyncio.run(scenario())


def test_a_host_network_pod_gets_its_nodes_address_and_a_stopped_kubelet_queues_nothing() -> None:
    client = RecordingClient()

    async def scenario() -> None:
        kubelet, informers = _kubelet(client)
        await kubelet.start()
        pods = informers.informer(PODS)
        host = _pod("host", "sim-00")
        host["spec"]["hostNetwork"] = True
        pods.emit("ADDED", host)
        await _until(lambda: kubelet.counts.started == 1, "host started")
        assert client.calls[-1][2]["status"]["podIP"] == "10.64.0.1"
        await kubelet.stop()
        writes = len(client.calls)
        pods.emit("ADDED", _pod("late", "sim-00"))
        await asyncio.sleep(0)
        assert len(client.calls) == writes

    asyncio.run(scenario())
