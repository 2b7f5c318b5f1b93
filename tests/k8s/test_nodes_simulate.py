"""`SimulatedFleet` and `dralloc nodes simulate` against a real kube-apiserver: the objects of
`dralloc cluster generate` published, nodes Ready, pods started, completed and deleted as a
kubelet would, device conditions for binding conditions, and everything removed on exit."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from controlplane import ApiServer
from typer.testing import CliRunner

from dralloc.cli.main import app
from dralloc.kube import ApiStatusError, KubeClient
from dralloc.kube.client import DEVICE_CLASSES, NODES, PODS, RESOURCE_CLAIMS, RESOURCE_SLICES
from dralloc.kube.nodesim import SIMULATED_DURATION_ANNOTATION, SimulatedFleet

pytestmark = pytest.mark.k8s

DEADLINE_SECONDS = 30.0
POLL_SECONDS = 0.1
DRALLOC = Path(sys.executable).with_name("dralloc")


def _prefix() -> str:
    return f"s{uuid.uuid4().hex[:6]}-"


async def _eventually(check: Callable[[], Awaitable[Any]], what: str) -> Any:
    """The first truthy answer of `check`, polled until DEADLINE_SECONDS have passed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_SECONDS
    while True:
        answer = await check()
        if answer:
            return answer
        if loop.time() > deadline:
            raise AssertionError(f"not within {DEADLINE_SECONDS:g} s: {what}")
        await asyncio.sleep(POLL_SECONDS)


async def _exists(client: KubeClient, path: str) -> bool:
    try:
        await client.get(path)
    except ApiStatusError as err:
        if err.is_not_found:
            return False
        raise
    return True


def _generated(*args: str) -> dict[str, dict[str, Any]]:
    """`dralloc cluster generate ARGS -o json`, by kind/name."""
    result = CliRunner().invoke(app, ["cluster", "generate", *args, "-o", "json"])
    assert result.exit_code == 0, result.stderr
    items = json.loads(result.stdout)["items"]
    return {f"{item['kind']}/{item['metadata']['name']}": item for item in items}


def _condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    found = [c for c in obj.get("status", {}).get("conditions") or [] if c["type"] == kind]
    return found[0] if found else {}


def _pod(namespace: str, name: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations or {}},
        "spec": {
            "schedulerName": "nobody",
            "initContainers": [{"name": "setup", "image": "busybox"}],
            "containers": [{"name": "main", "image": "busybox"}],
        },
    }


async def _bind(client: KubeClient, pod: dict[str, Any], node: str) -> None:
    metadata = pod["metadata"]
    await client.create(
        PODS.item(metadata["namespace"], metadata["name"], "binding"),
        {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": metadata["name"], "namespace": metadata["namespace"]},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        },
    )


def test_a_fleet_publishes_what_cluster_generate_writes_keeps_its_nodes_ready_and_removes_it(
    apiserver: ApiServer,
) -> None:
    prefix = _prefix()
    generated = _generated(
        "--nodes", f"2xdgx-h100:mig=dynamic,name={prefix}dgx-h100",
        "--nodes", f"1xtpu-v6e-2x4:name={prefix}tpu-v6e-2x4",
    )  # fmt: skip
    taint = {"key": "dralloc.dev/owner", "value": "dralloc", "effect": "NoSchedule"}

    async def scenario() -> None:
        client = KubeClient.connect(apiserver.admin_kubeconfig)
        fleet = SimulatedFleet(
            client,
            ["2xdgx-h100:mig=dynamic", "1xtpu-v6e-2x4"],
            name_prefix=prefix,
            labels={"dralloc.dev/owner": "dralloc"},
            taints=[taint],
            heartbeat_seconds=0.5,
        )
        try:
            async with fleet:
                assert sorted(fleet.published.nodes) == [
                    f"{prefix}dgx-h100-00",
                    f"{prefix}dgx-h100-01",
                    f"{prefix}tpu-v6e-2x4-00",
                ]
                seen = 0
                for key, want in generated.items():
                    kind, name = key.split("/")
                    resource = {"Node": NODES, "ResourceSlice": RESOURCE_SLICES}.get(
                        kind, DEVICE_CLASSES
                    )
                    got = await client.get(resource.item(None, name))
                    if kind == "Node":
                        assert got["metadata"]["labels"] == {
                            **want["metadata"]["labels"],
                            "dralloc.dev/owner": "dralloc",
                        }
                        assert got["spec"]["taints"] == [taint]
                        assert got["status"]["capacity"] == want["status"]["capacity"]
                        assert got["status"]["allocatable"] == want["status"]["allocatable"]
                        ready = _condition(got, "Ready")
                        assert (ready["status"], ready["reason"]) == ("True", "KubeletReady")
                        for pressure in ("MemoryPressure", "DiskPressure", "PIDPressure"):
                            assert _condition(got, pressure)["status"] == "False"
                        assert _condition(got, "NetworkUnavailable")["status"] == "False"
                        assert got["status"]["nodeInfo"]["kubeletVersion"] == "v1.36.3"
                        internal = [
                            a["address"]
                            for a in got["status"]["addresses"]
                            if a["type"] == "InternalIP"
                        ]
                        assert len(internal) == 1 and internal[0].startswith("10.")
                    else:
                        assert got["spec"] == want["spec"], key
                    seen += 1
                assert seen == 3 + 2 * 9 + 1 + 9  # nodes, GPU slices, TPU slice, classes

                # The heartbeat moves on; the transition time stays.
                runner = asyncio.create_task(fleet.run())
                path = NODES.item(None, f"{prefix}dgx-h100-00")
                first = _condition(await client.get(path), "Ready")

                async def renewed() -> dict[str, Any] | None:
                    ready = _condition(await client.get(path), "Ready")
                    beat = ready["lastHeartbeatTime"] != first["lastHeartbeatTime"]
                    return ready if beat else None

                later = await _eventually(renewed, "heartbeat renewed")
                assert later["lastTransitionTime"] == first["lastTransitionTime"]
                assert later["status"] == "True"
                assert not runner.done()
            for key in generated:
                kind, name = key.split("/")
                resource = {"Node": NODES, "ResourceSlice": RESOURCE_SLICES}.get(
                    kind, DEVICE_CLASSES
                )
                assert not await _exists(client, resource.item(None, name)), key
        finally:
            await client.aclose()

    asyncio.run(scenario())


def test_bound_pods_run_complete_after_their_annotated_duration_and_go_when_deleted(
    apiserver: ApiServer, namespace: str
) -> None:
    prefix = _prefix()
    node = f"{prefix}l4-00"

    async def scenario() -> None:
        client = KubeClient.connect(apiserver.admin_kubeconfig)
        try:
            async with SimulatedFleet(client, ["1xl4:gpus=2"], name_prefix=prefix) as fleet:
                runner = asyncio.create_task(fleet.run())
                pods = {
                    "runs": _pod(namespace, "runs"),
                    "ends": _pod(namespace, "ends", {SIMULATED_DURATION_ANNOTATION: "1s"}),
                    "goes": _pod(namespace, "goes"),
                }
                for pod in pods.values():
                    await client.create(PODS.collection(namespace), pod)
                    await _bind(client, pod, node)

                async def phase(name: str, want: str) -> dict[str, Any] | None:
                    got = await client.get(PODS.item(namespace, name))
                    return got if got.get("status", {}).get("phase") == want else None

                running = await _eventually(lambda: phase("runs", "Running"), "runs Running")
                status = running["status"]
                for kind in ("PodScheduled", "Initialized", "ContainersReady", "Ready"):
                    assert _condition(running, kind)["status"] == "True", kind
                assert status["containerStatuses"][0]["state"]["running"]["startedAt"]
                assert status["containerStatuses"][0]["ready"] is True
                assert "terminated" in status["initContainerStatuses"][0]["state"]
                assert ipaddress.ip_address(status["podIP"]) in ipaddress.ip_network(
                    "10.244.0.0/16"
                )
                assert status["hostIP"].startswith("10.") and status["startTime"]

                ended = await _eventually(lambda: phase("ends", "Succeeded"), "ends Succeeded")
                terminated = ended["status"]["containerStatuses"][0]["state"]["terminated"]
                assert (terminated["exitCode"], terminated["reason"]) == (0, "Completed")
                assert _condition(ended, "Ready")["status"] == "False"

                goes = await _eventually(lambda: phase("goes", "Running"), "goes Running")
                addresses = {status["podIP"], goes["status"]["podIP"], ended["status"]["podIP"]}
                assert len(addresses) == 3
                await client.delete(PODS.item(namespace, "goes"))

                async def gone() -> bool:
                    return not await _exists(client, PODS.item(namespace, "goes"))

                await _eventually(gone, "goes deleted")
                assert await phase("runs", "Running")  # no duration: it keeps running
                counts = fleet.kubelet.counts
                assert (counts.started, counts.completed, counts.deleted) == (3, 1, 1)
                assert not runner.done()
        finally:
            await client.aclose()

    asyncio.run(scenario())


def test_devices_with_binding_conditions_on_a_simulated_pool_get_them_set_true(
    apiserver: ApiServer, namespace: str
) -> None:
    prefix = _prefix()
    node = f"{prefix}l4-00"

    async def scenario() -> None:
        client = KubeClient.connect(apiserver.admin_kubeconfig)
        try:
            async with SimulatedFleet(client, ["1xl4:gpus=2"], name_prefix=prefix) as fleet:
                runner = asyncio.create_task(fleet.run())
                claim = await client.create(
                    RESOURCE_CLAIMS.collection(namespace),
                    {
                        "apiVersion": "resource.k8s.io/v1",
                        "kind": "ResourceClaim",
                        "metadata": {"name": "attached", "namespace": namespace},
                        "spec": {
                            "devices": {
                                "requests": [
                                    {
                                        "name": "gpu",
                                        "exactly": {"deviceClassName": "gpu.nvidia.com"},
                                    }
                                ]
                            }
                        },
                    },
                )
                # What a scheduler's PreBind writes for a device with binding conditions.
                claim["status"] = {
                    "allocation": {
                        "devices": {
                            "results": [
                                {
                                    "request": "gpu",
                                    "driver": "gpu.nvidia.com",
                                    "pool": node,
                                    "device": "gpu-1",
                                    "bindingConditions": ["dralloc.io/attached"],
                                    "bindingFailureConditions": ["dralloc.io/failed"],
                                }
                            ]
                        },
                        "allocationTimestamp": "2026-01-01T00:00:00Z",
                    }
                }
                await client.update(RESOURCE_CLAIMS.item(namespace, "attached", "status"), claim)

                async def conditions() -> list[dict[str, Any]]:
                    got = await client.get(RESOURCE_CLAIMS.item(namespace, "attached"))
                    devices = got.get("status", {}).get("devices") or []
                    return [c for d in devices for c in d.get("conditions") or []]

                found = await _eventually(conditions, "device conditions written")
                assert [(c["type"], c["status"]) for c in found] == [
                    ("dralloc.io/attached", "True")
                ]
                assert fleet.kubelet.counts.device_status_writes == 1
                runner.cancel()
        finally:
            await client.aclose()

    asyncio.run(scenario())


def test_the_command_simulates_for_a_bounded_time_and_deletes_only_what_it_created(
    apiserver: ApiServer, tmp_path: Path
) -> None:
    prefix = _prefix()
    existing = _generated("--nodes", "1xl4")["DeviceClass/tpu.google.com"]
    apiserver.admin.create(DEVICE_CLASSES.collection(), existing).raise_for_status()
    try:
        done = subprocess.run(
            [
                str(DRALLOC), "nodes", "simulate",
                "--kubeconfig", str(apiserver.admin_kubeconfig),
                "--nodes", "2xl4:gpus=1", "--name-prefix", prefix,
                "--label", "dralloc.dev/owner=dralloc", "--for", "5",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "KUBECONFIG": str(tmp_path / "unused")},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        lines = done.stderr.splitlines()
        assert lines[0].startswith("publishing 2 Nodes, 2 ResourceSlices, 9 DeviceClasses to")
        assert lines[1:] == [
            "created 2 Nodes, 2 ResourceSlices, 8 DeviceClasses",
            "already there, used as they are and left on exit: 1 DeviceClass",
            "2 nodes Ready; simulating their kubelet for 5 s",
            "pods started 0, completed 0, deleted 0; device status writes 0",
            "deleted 2 Nodes, 2 ResourceSlices, 8 DeviceClasses",
        ]
        for name in (f"{prefix}l4-00", f"{prefix}l4-01"):
            assert apiserver.admin.get(NODES.item(None, name)).status == 404
        assert apiserver.admin.get(DEVICE_CLASSES.item(None, "gpu.nvidia.com")).status == 404
        assert apiserver.admin.get(DEVICE_CLASSES.item(None, "tpu.google.com")).is_success
    finally:
        apiserver.admin.delete(DEVICE_CLASSES.item(None, "tpu.google.com"))


def test_the_command_stops_on_sigterm_and_cleans_up(apiserver: ApiServer) -> None:
    prefix = _prefix()
    node = f"{prefix}l4-00"
    process = subprocess.Popen(
        [
            str(DRALLOC), "nodes", "simulate",
            "--kubeconfig", str(apiserver.admin_kubeconfig),
            "--nodes", "1xl4", "--name-prefix", prefix,
        ],
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        for line in process.stderr:
            if "simulating their kubelet" in line:
                break
        ready = _condition(apiserver.admin.get(NODES.item(None, node)).body, "Ready")
        assert ready["status"] == "True"
        process.send_signal(signal.SIGTERM)
        rest = process.stderr.read().splitlines()
        assert process.wait(timeout=60) == 0
        assert rest[-1] == "deleted 1 Node, 1 ResourceSlice, 9 DeviceClasses"
        assert apiserver.admin.get(NODES.item(None, node)).status == 404
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


def test_a_kept_fleet_is_taken_over_by_the_next_run_which_leaves_it_in_place(
    apiserver: ApiServer, namespace: str
) -> None:
    prefix = _prefix()
    node = f"{prefix}l4-00"

    async def scenario() -> None:
        client = KubeClient.connect(apiserver.admin_kubeconfig)
        try:
            async with SimulatedFleet(client, ["1xl4"], name_prefix=prefix, keep=True) as first:
                assert first.published.nodes == [node]
            assert await _exists(client, NODES.item(None, node))
            pod = _pod(namespace, "later", {SIMULATED_DURATION_ANNOTATION: "1"})
            await client.create(PODS.collection(namespace), pod)
            await _bind(client, pod, node)
            async with SimulatedFleet(client, ["1xl4"], name_prefix=prefix) as second:
                assert second.published.nodes == []
                assert second.published.existing["Node"] == [node]
                runner = asyncio.create_task(second.run())

                async def succeeded() -> bool:
                    got = await client.get(PODS.item(namespace, "later"))
                    return bool(got.get("status", {}).get("phase") == "Succeeded")

                await _eventually(succeeded, "later Succeeded on the kept node")
                runner.cancel()
            assert await _exists(client, NODES.item(None, node))
            assert await _exists(client, RESOURCE_SLICES.item(None, f"{node}-gpu.nvidia.com"))
            # The classes were the first run's: the second found them and left them too.
            for name in first.published.classes:
                await client.delete(DEVICE_CLASSES.item(None, name))
            for name in first.published.slices:
                await client.delete(RESOURCE_SLICES.item(None, name))
            await client.delete(NODES.item(None, node))
        finally:
            await client.aclose()

    asyncio.run(scenario())


def test_the_command_without_rights_to_create_nodes_says_so_in_one_line_and_exits_3(
    apiserver: ApiServer,
) -> None:
    done = subprocess.run(
        [
            str(DRALLOC), "nodes", "simulate",
            "--kubeconfig", str(apiserver.dralloc_kubeconfig),
            "--nodes", "1xl4", "--name-prefix", _prefix(), "--for", "1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 2, lines
    assert lines[1].startswith("error: the API server refused a write: POST ")
    assert "403 Forbidden" in lines[1]
