"""`dralloc scheduler` as a process against a real kube-apiserver, as an operator runs it:
the claim controller beside it, kubectl to look, metrics and health to scrape, SIGTERM to stop
(spec/cluster-mode.md sections 2 and 8.7 test 1)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from controlplane import ApiServer, Kubectl, free_port
from livekit import (
    create_claim_template,
    create_node,
    device_class,
    eventually,
    gpu_slice,
    pod,
    unique,
)

from dralloc.kube.client import KubeClient

pytestmark = pytest.mark.k8s

Obj = dict[str, Any]
DRALLOC = Path(sys.executable).with_name("dralloc")


class DrallocProcess:
    def __init__(self, args: list[str], log: Path) -> None:
        self.log = log
        self.handle = log.open("wb")
        self.process = subprocess.Popen(
            [str(DRALLOC), "scheduler", *args], stdout=self.handle, stderr=subprocess.STDOUT
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 40) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        finally:
            self.handle.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def run_dralloc(tmp_path: Path) -> Iterator[Any]:
    started: list[DrallocProcess] = []

    def start(*args: str) -> DrallocProcess:
        process = DrallocProcess(list(args), tmp_path / f"dralloc-{len(started)}.log")
        started.append(process)
        return process

    yield start
    for process in started:
        if process.process.poll() is None:
            process.process.kill()
            process.process.wait(10)
        process.handle.close()


def test_the_scheduler_process_binds_a_template_claim_pod_as_kube_scheduler_would(
    apiserver: ApiServer, namespace: str, kubectl: Kubectl, run_dralloc: Any
) -> None:
    label = unique("proc")
    port = free_port()
    process = run_dralloc(
        "--kubeconfig",
        str(apiserver.admin_kubeconfig),
        "--owned-nodes",
        f"owner={label}",
        "--controllers",
        "scheduler,resourceclaim,gc",
        "--no-leader-elect",
        "--metrics-bind-address",
        f"127.0.0.1:{port}",
    )

    async def scenario() -> tuple[Obj, Obj]:
        admin = KubeClient.connect(apiserver.admin_kubeconfig)
        driver = f"{label}.example.com"
        node_name = unique("proc-node")
        await create_node(admin, node_name, {"owner": label})
        await admin.create(
            "/apis/resource.k8s.io/v1/resourceslices", gpu_slice(node_name, 2, driver)
        )
        class_name = unique("proc-class")
        await admin.create(
            "/apis/resource.k8s.io/v1/deviceclasses", device_class(class_name, driver)
        )
        await create_claim_template(admin, namespace, class_name)
        await admin.create(
            f"/api/v1/namespaces/{namespace}/pods", pod(namespace, "trainer", template="gpu")
        )

        async def bound() -> Obj | None:
            got = await admin.get(f"/api/v1/namespaces/{namespace}/pods/trainer")
            return got if got["spec"].get("nodeName") else None

        placed = await eventually(bound, timeout=60, what="pod bound by dralloc scheduler")
        name = placed["status"]["resourceClaimStatuses"][0]["resourceClaimName"]
        claim_obj = await admin.get(
            f"/apis/resource.k8s.io/v1/namespaces/{namespace}/resourceclaims/{name}"
        )
        await admin.aclose()
        return placed, claim_obj

    try:
        placed, claim_obj = asyncio.run(scenario())
    except BaseException:
        process.stop()
        print(process.output())
        raise
    assert claim_obj["metadata"]["name"].startswith("trainer-gpu-")
    assert claim_obj["metadata"]["annotations"]["resource.kubernetes.io/pod-claim-name"] == "gpu"
    assert claim_obj["metadata"]["finalizers"] == ["resource.kubernetes.io/delete-protection"]
    assert claim_obj["status"]["reservedFor"][0]["uid"] == placed["metadata"]["uid"]
    shown = kubectl("get", "resourceclaims", "-n", namespace, "--no-headers")
    assert "allocated,reserved" in shown.stdout
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    assert 'scheduler_schedule_attempts_total{profile="dralloc",result="scheduled"} 1.0' in metrics
    assert "dralloc_devices" in metrics
    for path in ("/healthz", "/readyz"):
        assert urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10).status == 200
    assert process.stop() == 0, process.output()


def _metric(port: int, line_prefix: str) -> float:
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
    except OSError:
        return -1.0
    for line in text.decode().splitlines():
        if line.startswith(line_prefix):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_only_the_lease_holder_binds_and_a_standby_takes_over_when_the_leader_dies(
    apiserver: ApiServer, namespace: str, run_dralloc: Any
) -> None:
    """8.7 test 5: two processes, one Lease; SIGKILL the leader, the standby binds within
    leaseDuration + 2 retry periods (15 + 2 + 2 s; the deadline here is generous)."""
    label = unique("lead")
    lease = f"kube-system/{unique('dralloc')}"
    ports = [free_port(), free_port()]
    processes = [
        run_dralloc(
            "--kubeconfig",
            str(apiserver.admin_kubeconfig),
            "--owned-nodes",
            f"owner={label}",
            "--lease",
            lease,
            "--metrics-bind-address",
            f"127.0.0.1:{port}",
        )
        for port in ports
    ]
    scheduled = 'scheduler_schedule_attempts_total{profile="dralloc",result="scheduled"}'

    async def ready(port: int) -> bool:
        try:
            answer = urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2)
        except OSError:
            return False
        return bool(answer.status == 200)

    async def scenario() -> None:
        for port in ports:  # both up, informers synced, before any pod arrives
            await eventually(lambda port=port: ready(port), timeout=60, what="dralloc ready")
        admin = KubeClient.connect(apiserver.admin_kubeconfig)
        node_name = unique("lead-node")
        await create_node(admin, node_name, {"owner": label})

        async def bound(name: str) -> Obj | None:
            got = await admin.get(f"/api/v1/namespaces/{namespace}/pods/{name}")
            return got if got["spec"].get("nodeName") else None

        await admin.create(f"/api/v1/namespaces/{namespace}/pods", pod(namespace, "first"))
        await eventually(lambda: bound("first"), timeout=60, what="first pod bound")
        counts = [_metric(port, scheduled) for port in ports]
        assert sorted(counts) == [0.0, 1.0], counts
        leader = counts.index(1.0)
        processes[leader].process.kill()
        processes[leader].process.wait(10)
        await admin.create(f"/api/v1/namespaces/{namespace}/pods", pod(namespace, "second"))
        await eventually(lambda: bound("second"), timeout=45, what="the standby binds")
        assert _metric(ports[1 - leader], scheduled) == 1.0
        await admin.aclose()

    try:
        asyncio.run(scenario())
    except BaseException:
        for process in processes:
            process.stop(signal.SIGKILL, timeout=10)
            print(process.output())
        raise


BURST_PODS = 500


def test_sigkill_during_a_burst_of_pods_then_restart_binds_every_pod_once_with_no_device_shared(
    apiserver: ApiServer, namespace: str, run_dralloc: Any
) -> None:
    """Issue 13 point 6: 500 pods with template claims arrive; dralloc is SIGKILLed while it
    binds them and started again; in the end every pod is bound exactly once, no device is
    in two claims and no claim is reserved for a pod that does not hold it."""
    label = unique("burst")
    args = (
        "--kubeconfig",
        str(apiserver.admin_kubeconfig),
        "--owned-nodes",
        f"owner={label}",
        "--controllers",
        "scheduler,resourceclaim,gc",
        "--no-leader-elect",
        "--metrics-bind-address",
        "127.0.0.1:0",
        # As scheduler_perf raises kube-scheduler's: at 50 requests/s (six a pod with the
        # claim controller) this would test the client's rate limiter.
        "--qps",
        "1000",
        "--burst",
        "2000",
    )
    first = run_dralloc(*args)
    pods_path = f"/api/v1/namespaces/{namespace}/pods"
    claims_path = f"/apis/resource.k8s.io/v1/namespaces/{namespace}/resourceclaims"

    async def bound_pods(admin: KubeClient) -> list[Obj]:
        found = await admin.list(pods_path)
        return [p for p in found["items"] if p["spec"].get("nodeName")]

    async def scenario() -> None:
        admin = KubeClient.connect(apiserver.admin_kubeconfig, qps=0)
        driver = f"{label}.example.com"
        for index in range(BURST_PODS // 10):
            name = f"{label}-n{index:02d}"
            await create_node(admin, name, {"owner": label})
            await admin.create(
                "/apis/resource.k8s.io/v1/resourceslices", gpu_slice(name, 10, driver)
            )
        class_name = unique("burst-class")
        await admin.create(
            "/apis/resource.k8s.io/v1/deviceclasses", device_class(class_name, driver)
        )
        await create_claim_template(admin, namespace, class_name)
        for start in range(0, BURST_PODS, 50):
            await asyncio.gather(
                *(
                    admin.create(pods_path, pod(namespace, f"w-{i:03d}", template="gpu"))
                    for i in range(start, min(start + 50, BURST_PODS))
                )
            )

        async def some_bound() -> bool:
            return len(await bound_pods(admin)) >= 50

        await eventually(some_bound, timeout=120, what="50 pods bound before the kill")
        first.process.kill()
        first.process.wait(10)
        second = run_dralloc(*args)

        async def all_bound() -> bool:
            return len(await bound_pods(admin)) == BURST_PODS

        try:
            await eventually(all_bound, timeout=300, what="every pod bound after the restart")
        except AssertionError:
            print(second.output()[-5000:])
            raise
        pods = {p["metadata"]["uid"]: p for p in (await admin.list(pods_path))["items"]}
        claims = (await admin.list(claims_path))["items"]
        assert len(claims) == BURST_PODS
        holders: dict[tuple[str, str, str], str] = {}
        for claim_obj in claims:
            status = claim_obj["status"]
            reserved = status["reservedFor"]
            assert len(reserved) == 1, claim_obj["metadata"]["name"]
            holder = pods[reserved[0]["uid"]]
            assert claim_obj["metadata"]["ownerReferences"][0]["uid"] == reserved[0]["uid"]
            for result in status["allocation"]["devices"]["results"]:
                device = (result["driver"], result["pool"], result["device"])
                assert device not in holders, f"{device} in two claims"
                holders[device] = holder["metadata"]["name"]
                assert result["pool"] == holder["spec"]["nodeName"]
        assert len(holders) == BURST_PODS
        await admin.aclose()

    asyncio.run(scenario())
