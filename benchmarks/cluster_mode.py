"""Cluster mode beside kube-scheduler: scheduling throughput with DRA claims through a real
kube-apiserver, for the real kube-scheduler and for `dralloc scheduler`, then dralloc alone on
a fractional-GPU fleet with the FGD policy, then a churn soak watching dralloc's memory.

Everything runs on ONE etcd and ONE kube-apiserver (v1.36.3 and etcd 3.6, built by
tools/build.sh, started by tests/k8s/controlplane.py), one part after the other, never two
schedulers at once. Claims come from templates, made by the real kube-controller-manager's
ResourceClaim controller on every side (its garbage collector deletes the claims of deleted
pods), so only the scheduler differs. Every client of the
run (kube-scheduler, kube-controller-manager, dralloc, the pod creator) gets 5000 QPS and
burst, as scheduler_perf configures its in-process components; kube-controller-manager's
default of 20 would otherwise cap both sides at the rate it makes claims.

Parts:
1. `upstream`: kube-scheduler (profile `default-scheduler`) on scheduler_perf's DRA shape
   (SchedulingWithResourceClaimTemplate): `--nodes` nodes (500) named
   `scheduler-perf-dra-<i>`, capacity `pods: 110, cpu: 4, memory: 32Gi`, one ResourceSlice
   each from `test-driver.cdi.k8s.io` (pool = node) with 10 devices `instance-<j>` carrying
   upstream's attributes (model A100, family GPU, driverVersion 1.2.3, dra.example.com/numa j)
   and capacity memory 1Gi; DeviceClass `test-class`; template `test-claim-template`; half of
   `--pods` (5000) created in namespace `init` and waited for, the other half in `test`,
   measured. Then its pods, claims, slices and nodes are deleted.
2. `dralloc`: the same shape on fresh nodes (`dralloc-perf-dra-<i>`, owned through the label
   `bench.dralloc.dev/side=dralloc`) in fresh namespaces (`dralloc-init`, `dralloc-test`),
   scheduled by a `dralloc scheduler --controllers scheduler` process (schedulerName
   `dralloc`), or, with `--profile`, by `dralloc.kube.server.serve` in a thread of this
   process under cProfile (top functions on stderr and in the JSON).
3. `fgd`: `--fgd-nodes` (250) simulated `dgx-h100:sharing=fractional` nodes (8 H100s each:
   2,000 GPUs; `SimulatedFleet` in this process is their kubelet and driver) and `--fgd-pods`
   (2000) pods from four templates of class `gpu-fractional.dralloc.io`: 25% and 50% of a
   GPU (`cores` and memory), one and two whole GPUs (weights 4:3:2:1), scheduled by dralloc
   with a profile scoring with `FGD` (its typicalPods are that mix).
4. `soak`: `--soak-nodes` (500) simulated `dgx-h100` nodes (exclusive GPUs); for
   `--soak-seconds` (1200) pods asking one GPU are created at `--soak-rate` per second and
   deleted `--soak-lifetime` seconds after they are bound. dralloc's resident memory (VmRSS
   of /proc/<pid>/status) is read every 10 s; at the end every pod must have been bound
   exactly once: one node name per pod UID on the watch, one `Scheduled` event per pod, and
   dralloc's `scheduler_schedule_attempts_total{result="scheduled"}` equal to the pods bound.

Throughput is measured as scheduler_perf's throughputCollector measures it: once a second the
pods of the measured namespace with `spec.nodeName` are counted (from a watch, as upstream
counts from its informer); the first tick with pods scheduled only starts the clock; a tick
with none new is skipped and the next sample counts for it too; a sample is newly scheduled
pods over the seconds since the last sample. Average is their mean and PercN is
sorted[ceil(n*N/100)-1]. After every part, every pod is checked bound and no device is in two
claims.

Output: Go benchmark lines under upstream's names, preceded by `scheduler: <name>` config
lines (`benchstat -col scheduler out.txt` puts the two sides side by side), then a table; with
`--json` one object per part per line instead of the table; `--out FILE` writes the run
(rows, machine, commands) as one JSON document.

Run: `python benchmarks/cluster_mode.py [--smoke] [--nodes N] [--pods N] [--fgd-nodes N]
[--fgd-pods N] [--soak-nodes N] [--soak-seconds S] [--soak-rate R] [--soak-lifetime S]
[--skip-upstream] [--skip-fgd] [--skip-soak] [--profile] [--timeout S] [--keep DIR] [--json]
[--out FILE]`. `--smoke` is 20 nodes and 200 pods, 4 FGD nodes and 40 pods, a 20 s soak on 20
nodes. Every wait is bounded by `--timeout` seconds per phase; every process started here is
stopped by its pid, the control plane last.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import http.client
import io
import json
import math
import os
import platform
import pstats
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "k8s"))

from controlplane import (  # tests/k8s/controlplane.py: the harness's processes
    K8S_VERSION,
    ApiServer,
    ControlPlaneError,
    Etcd,
    ManagedProcess,
    binary,
    free_port,
    missing_binaries,
)

from dralloc.features import Features
from dralloc.kube.client import (
    DEVICE_CLASSES,
    EVENTS,
    NAMESPACES,
    NODES,
    PODS,
    RESOURCE_CLAIM_TEMPLATES,
    RESOURCE_CLAIMS,
    RESOURCE_SLICES,
    ApiStatusError,
    ApiUnavailable,
    KubeClient,
    KubeDict,
)
from dralloc.kube.live import LiveOptions
from dralloc.kube.nodesim import SimulatedFleet
from dralloc.kube.ownership import Ownership, parse_label_selector
from dralloc.kube.server import ServerOptions, serve
from dralloc.scheduler.config import ProfileConfig, SchedulerConfiguration

REPO = Path(__file__).resolve().parents[1]
BENCHMARK = "BenchmarkPerfScheduling"
TEST_CASE = "SchedulingWithResourceClaimTemplate"
OWN_BENCHMARK = "BenchmarkClusterMode"
DRIVER = "test-driver.cdi.k8s.io"
DEVICE_CLASS = "test-class"
TEMPLATE = "test-claim-template"
DEVICES_PER_NODE = 10  # upstream's maxClaimsPerNode
SIDE_LABEL = "bench.dralloc.dev/side"
SCHEDULED_METRIC = 'scheduler_schedule_attempts_total{profile="dralloc",result="scheduled"}'
PERCENTILES = (50, 90, 95, 99)
CLIENT_QPS = 5000  # scheduler_perf's rest config for its components
POD_CREATORS = 30  # upstream's CreatePod parallelism
SAMPLE_SECONDS = 1.0  # upstream's throughputSampleInterval
RSS_SAMPLE_SECONDS = 10.0
DRALLOC = Path(sys.executable).with_name("dralloc")
FGD_SHAPE = "dgx-h100:sharing=fractional"
SOAK_SHAPE = "dgx-h100"
FRACTIONAL_CLASS = "gpu-fractional.dralloc.io"
WHOLE_GPU_CLASS = "gpu.nvidia.com"
H100_MEMORY_GIB = 80


@dataclass(frozen=True)
class Sizes:
    nodes: int = 500
    pods: int = 5000  # half init, half measured
    fgd_nodes: int = 250
    fgd_pods: int = 2000
    soak_nodes: int = 500
    soak_seconds: float = 1200.0
    soak_rate: float = 10.0  # pods created per second
    soak_lifetime: float = 30.0  # seconds a bound pod lives before it is deleted

    @property
    def workload(self) -> str:
        return f"{self.pods}pods_{self.nodes}nodes"


SMOKE = Sizes(
    nodes=20,
    pods=200,
    fgd_nodes=4,
    fgd_pods=40,
    soak_nodes=20,
    soak_seconds=20.0,
    soak_rate=5.0,
    soak_lifetime=5.0,
)


# ------------------------------------------------------------------------ throughput


@dataclass
class ThroughputSampler:
    """scheduler_perf's throughputCollector (test/integration/scheduler_perf/util.go), fed
    the count of scheduled pods at each tick. Pure: the caller supplies the clock."""

    samples: list[float] = field(default_factory=list)
    started: bool = False
    last_count: int = 0
    last_time: float = 0.0
    skipped: int = 0
    start_time: float | None = None

    def tick(self, now: float, scheduled: int) -> None:
        if scheduled == 0:
            return
        if not self.started:
            # The first tick with pods scheduled is an outlier: sampling and pod creation
            # start independently, so it only starts the clock.
            self.started = True
            self.last_count, self.last_time, self.start_time = scheduled, now, now
            return
        new = scheduled - self.last_count
        if new == 0:
            self.skipped += 1
            return
        throughput = new / (now - self.last_time)
        # Skipped intervals count with the rate that ended them, keeping percentiles right.
        self.samples.extend([throughput] * (self.skipped + 1))
        self.last_count, self.last_time, self.skipped = scheduled, now, 0

    def summary(self) -> dict[str, float] | None:
        """Average and Perc50/90/95/99 as upstream's collect() computes them; None without
        a sample (a run shorter than two ticks)."""
        if not self.samples:
            return None
        ordered = sorted(self.samples)
        n = len(ordered)
        found = {"Average": sum(ordered) / n}
        for p in PERCENTILES:
            found[f"Perc{p}"] = ordered[math.ceil(n * p / 100) - 1]
        return found


class ScheduledPods:
    """A watch of one namespace's pods with `spec.nodeName` set: the node each pod UID was
    first seen on, and any UID seen later on another node (bound twice)."""

    def __init__(self, client: KubeClient, namespace: str) -> None:
        self.client = client
        self.namespace = namespace
        self.nodes: dict[str, str] = {}  # uid -> node
        self.names: dict[str, str] = {}  # pod name -> uid
        self.bound_at: dict[str, float] = {}  # pod name -> monotonic time first seen bound
        self.twice: list[str] = []
        self._task: asyncio.Task[None] | None = None

    @property
    def count(self) -> int:
        return len(self.nodes)

    def start(self) -> None:
        self._task = asyncio.create_task(self._watch(), name=f"watch {self.namespace}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _watch(self) -> None:
        params = {"watch": "true", "fieldSelector": "spec.nodeName!="}
        while True:
            # A watch from "now" first lists what exists: UIDs seen before are not new.
            try:
                async for event in self.client.stream(
                    PODS.collection(self.namespace), params, read_timeout=None
                ):
                    if event.get("type") in ("ADDED", "MODIFIED"):
                        self._observe(event["object"])
            except (ApiUnavailable, ApiStatusError):
                await asyncio.sleep(0.2)

    def _observe(self, pod: KubeDict) -> None:
        uid = pod["metadata"]["uid"]
        node = pod["spec"].get("nodeName", "")
        known = self.nodes.get(uid)
        if known is None:
            self.nodes[uid] = node
            self.names[pod["metadata"]["name"]] = uid
            self.bound_at[pod["metadata"]["name"]] = time.monotonic()
        elif known != node:
            self.twice.append(f"{self.namespace}/{pod['metadata']['name']}: {known}, {node}")


async def sample_throughput(watch: ScheduledPods, sampler: ThroughputSampler) -> None:
    """Ticks every SAMPLE_SECONDS until cancelled (upstream's time.Ticker: ticks are planned
    from the start, so a late tick does not shift the ones after it)."""
    start = time.monotonic()
    ticks = 0
    while True:
        ticks += 1
        await asyncio.sleep(max(0.0, start + ticks * SAMPLE_SECONDS - time.monotonic()))
        sampler.tick(time.monotonic(), watch.count)


# --------------------------------------------------------------------------- objects


def dra_node(name: str, side: str) -> KubeDict:
    """templates/node-with-dra-test-driver.yaml (status may be set on create for Nodes; the
    API server defaults allocatable to capacity)."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {"node-with-dra": "true", "kubernetes.io/hostname": name, SIDE_LABEL: side},
        },
        "spec": {},
        "status": {
            "capacity": {"pods": "110", "cpu": "4", "memory": "32Gi"},
            "conditions": [{"type": "Ready", "status": "True"}],
            "phase": "Running",
        },
    }


def dra_slice(node: str, side: str) -> KubeDict:
    """scheduler_perf's resourceSlice() for createResourceDriver (dra.go)."""
    devices = [
        {
            "name": f"instance-{i}",
            "attributes": {
                "model": {"string": "A100"},
                "family": {"string": "GPU"},
                "driverVersion": {"version": "1.2.3"},
                "dra.example.com/numa": {"int": i},
            },
            "capacity": {"memory": {"value": "1Gi"}},
        }
        for i in range(DEVICES_PER_NODE)
    ]
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceSlice",
        "metadata": {"name": node, "labels": {SIDE_LABEL: side}},
        "spec": {
            "driver": DRIVER,
            "nodeName": node,
            "pool": {"name": node, "generation": 0, "resourceSliceCount": 1},
            "devices": devices,
        },
    }


def device_class(name: str, driver: str) -> KubeDict:
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "DeviceClass",
        "metadata": {"name": name},
        "spec": {"selectors": [{"cel": {"expression": f'device.driver == "{driver}"'}}]},
    }


def claim_template(
    name: str, namespace: str, device_class_name: str, count: int = 1, cores: int | None = None
) -> KubeDict:
    exactly: KubeDict = {"deviceClassName": device_class_name}
    if count != 1:
        exactly["count"] = count
    if cores is not None:
        memory = f"{H100_MEMORY_GIB * 1024 * cores // 100}Mi"
        exactly["capacity"] = {"requests": {"cores": str(cores), "memory": memory}}
    request = {"name": "req-0", "exactly": exactly}
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaimTemplate",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"spec": {"devices": {"requests": [request]}}},
    }


def template_pod(
    name: str, namespace: str, scheduler: str, template: str, cpu: str | None = None
) -> KubeDict:
    """templates/pod-with-claim-template.yaml, named, for `scheduler`."""
    container: KubeDict = {
        "name": "pause",
        "image": "registry.k8s.io/pause:3.10.1",
        "resources": {"claims": [{"name": "resource"}]},
    }
    if cpu is not None:
        container["resources"]["requests"] = {"cpu": cpu}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "schedulerName": scheduler,
            "containers": [container],
            "resourceClaims": [{"name": "resource", "resourceClaimTemplateName": template}],
        },
    }


# The FGD part's pods: (template, cores or None for whole GPUs, GPUs, cpu, weight).
FGD_MIX = (
    ("quarter-gpu", 25, 1, "2", 4),
    ("half-gpu", 50, 1, "4", 3),
    ("one-gpu", None, 1, "8", 2),
    ("two-gpus", None, 2, "16", 1),
)


def fgd_config() -> KubeDict:
    typical = [
        {
            "cpuMilli": int(cpu) * 1000,
            "gpuMilli": (cores if cores is not None else 100) * 10,
            "numGpu": gpus,
            "weight": weight,
        }
        for _, cores, gpus, cpu, weight in FGD_MIX
    ]
    return {
        "apiVersion": "kubescheduler.config.k8s.io/v1",
        "kind": "KubeSchedulerConfiguration",
        "profiles": [
            {
                "schedulerName": "dralloc",
                "plugins": {"score": {"enabled": [{"name": "FGD", "weight": 10}]}},
                "pluginConfig": [{"name": "FGD", "args": {"typicalPods": typical}}],
            }
        ],
    }


def fgd_template_for(index: int) -> tuple[str, str]:
    """The template and CPU request of the `index`th FGD pod: the mix's weights in turn."""
    cycle = [(name, cpu) for name, _, _, cpu, weight in FGD_MIX for _ in range(weight)]
    return cycle[index % len(cycle)]


# ------------------------------------------------------------------------- processes


def _https_ok(port: int, path: str) -> bool:
    # The components' own serving certificates are self-signed; loopback only.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=2)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status == 200
    finally:
        connection.close()


def _http_get(port: int, path: str, timeout: float = 5.0) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        connection.close()


def _wait_ready(process: ManagedProcess, is_ready: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.has_exited():
            raise ControlPlaneError(f"{process.name} exited:\n{process.log_tail()}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            if is_ready():
                return
        time.sleep(0.1)
    process.stop()
    raise ControlPlaneError(f"{process.name} not ready in {timeout:.0f} s:\n{process.log_tail()}")


def start_kube_scheduler(apiserver: ApiServer, directory: Path) -> ManagedProcess:
    """kube-scheduler with its default profile `default-scheduler` and scheduler_perf's
    client rate (the harness's KubeScheduler has no place for clientConnection.qps)."""
    directory.mkdir(parents=True, exist_ok=True)
    config = {
        "apiVersion": "kubescheduler.config.k8s.io/v1",
        "kind": "KubeSchedulerConfiguration",
        "clientConnection": {
            "kubeconfig": str(apiserver.admin_kubeconfig),
            "qps": CLIENT_QPS,
            "burst": CLIENT_QPS,
        },
        "leaderElection": {"leaderElect": False},
        "profiles": [{"schedulerName": "default-scheduler"}],
    }
    path = directory / "kube-scheduler.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    port = free_port()
    argv = [
        str(binary("kube-scheduler")),
        f"--config={path}",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        f"--cert-dir={directory}",
    ]
    process = ManagedProcess.spawn("kube-scheduler", argv, directory / "kube-scheduler.log")
    _wait_ready(process, lambda: _https_ok(port, "/readyz"), 60)
    return process


def start_controller_manager(apiserver: ApiServer, directory: Path) -> ManagedProcess:
    """kube-controller-manager running the ResourceClaim controller and the garbage collector
    (which deletes the claims of deleted pods), at scheduler_perf's client rate (its default
    20 QPS would pace both schedulers)."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [
        str(binary("kube-controller-manager")),
        f"--kubeconfig={apiserver.admin_kubeconfig}",
        "--leader-elect=false",
        "--use-service-account-credentials=false",
        "--controllers=resourceclaim-controller,garbage-collector-controller",
        f"--kube-api-qps={CLIENT_QPS}",
        f"--kube-api-burst={CLIENT_QPS}",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        f"--cert-dir={directory}",
    ]
    process = ManagedProcess.spawn(
        "kube-controller-manager", argv, directory / "kube-controller-manager.log"
    )
    _wait_ready(process, lambda: _https_ok(port, "/healthz"), 60)
    return process


@dataclass
class DrallocScheduler:
    """A `dralloc scheduler` process (or, profiled, `serve` in a thread of this one)."""

    metrics_port: int
    process: ManagedProcess | None = None
    thread: threading.Thread | None = None
    stop_event: asyncio.Event | None = None
    loop: asyncio.AbstractEventLoop | None = None
    profiler: cProfile.Profile | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def metric(self, prefix: str) -> float | None:
        try:
            status, text = _http_get(self.metrics_port, "/metrics")
        except (OSError, http.client.HTTPException):
            return None
        if status != 200:
            return None
        for line in text.splitlines():
            if line.startswith(prefix):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def scheduled(self) -> float | None:
        return self.metric(
            'scheduler_schedule_attempts_total{profile="dralloc",result="scheduled"}'
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(grace=40)
        if self.thread is not None and self.loop is not None and self.stop_event is not None:
            self.loop.call_soon_threadsafe(self.stop_event.set)
            self.thread.join(60)


def dralloc_argv(
    apiserver: ApiServer, port: int, owned: str, config: Path | None = None
) -> list[str]:
    argv = [
        str(DRALLOC),
        "scheduler",
        f"--kubeconfig={apiserver.admin_kubeconfig}",
        f"--owned-nodes={owned}",
        "--controllers=scheduler",
        "--no-leader-elect",
        f"--metrics-bind-address=127.0.0.1:{port}",
        f"--qps={CLIENT_QPS}",
        f"--burst={CLIENT_QPS}",
        "--log-level=warning",
    ]
    if config is not None:
        argv.append(f"--config={config}")
    return argv


def start_dralloc(
    apiserver: ApiServer, directory: Path, owned: str, config: Path | None = None
) -> DrallocScheduler:
    port = free_port()
    argv = dralloc_argv(apiserver, port, owned, config)
    process = ManagedProcess.spawn("dralloc", argv, directory / "dralloc.log")
    _wait_ready(process, lambda: _http_get(port, "/readyz", 2)[0] == 200, 120)
    return DrallocScheduler(port, process=process)


def start_dralloc_profiled(apiserver: ApiServer, owned: str) -> DrallocScheduler:
    """`serve` in its own thread and event loop, cProfile on in that thread only."""
    port = free_port()
    options = ServerOptions(
        live=LiveOptions(
            Features(),
            config=SchedulerConfiguration(profiles=(ProfileConfig(scheduler_name="dralloc"),)),
            ownership=Ownership(parse_label_selector(owned)),
        ),
        kubeconfig=apiserver.admin_kubeconfig,
        qps=CLIENT_QPS,
        burst=CLIENT_QPS,
        controllers=("scheduler",),
        leader_elect=False,
        metrics_address=f"127.0.0.1:{port}",
    )
    handle = DrallocScheduler(port, profiler=cProfile.Profile())
    ready = threading.Event()

    def run() -> None:
        loop = asyncio.new_event_loop()
        handle.loop = loop
        handle.stop_event = asyncio.Event()
        ready.set()
        assert handle.profiler is not None
        handle.profiler.enable()
        try:
            loop.run_until_complete(serve(options, stop=handle.stop_event))
        finally:
            handle.profiler.disable()
            loop.close()

    handle.thread = threading.Thread(target=run, name="dralloc serve", daemon=True)
    handle.thread.start()
    ready.wait(10)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, http.client.HTTPException):
            if _http_get(port, "/readyz", 2)[0] == 200:
                return handle
        time.sleep(0.1)
    handle.stop()
    raise ControlPlaneError("dralloc (in-process) not ready in 120 s")


def profile_report(profiler: cProfile.Profile, top: int = 30) -> dict[str, str]:
    found = {}
    for key in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(key).print_stats(top)
        found[key] = out.getvalue()
    return found


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of a process (and its waited-for children), from /proc."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    # Fields 14-17 (utime, stime, cutime, cstime); index 0 here is field 3.
    return sum(int(fields[i]) for i in range(11, 15)) / ticks


# ------------------------------------------------------------------------- API helpers


async def bounded(calls: Iterable[Awaitable[Any]], limit: int = POD_CREATORS) -> None:
    """The calls with at most `limit` in flight; the first error is raised at the end."""
    gate = asyncio.Semaphore(limit)

    async def one(call: Awaitable[Any]) -> None:
        async with gate:
            await call

    results = await asyncio.gather(*(one(c) for c in calls), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


async def ensure_namespace(client: KubeClient, name: str) -> None:
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    try:
        await client.create(NAMESPACES.collection(), body)
    except ApiStatusError as err:
        if not err.is_conflict:
            raise


async def create_ignoring_existing(client: KubeClient, path: str, body: KubeDict) -> None:
    try:
        await client.create(path, body)
    except ApiStatusError as err:
        if not err.is_conflict:
            raise


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float, what: str, poll: float = 0.2
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(poll)
    raise TimeoutError(f"{what}: not reached in {timeout:.0f} s")


async def count_items(client: KubeClient, path: str, **params: str | int) -> int:
    total = 0
    token = ""
    while True:
        page = await client.list(
            path, limit=500, **({"continue": token} if token else {}), **params
        )
        total += len(page.get("items", []))
        token = page.get("metadata", {}).get("continue", "")
        if not token:
            return total


async def list_all(client: KubeClient, path: str, **params: str | int) -> list[KubeDict]:
    items: list[KubeDict] = []
    token = ""
    while True:
        page = await client.list(
            path, limit=500, **({"continue": token} if token else {}), **params
        )
        items.extend(page.get("items", []))
        token = page.get("metadata", {}).get("continue", "")
        if not token:
            return items


async def device_holders(client: KubeClient, namespaces: Iterable[str]) -> tuple[int, list[str]]:
    """Allocated devices across the namespaces' claims, and each device found in two."""
    holders: dict[tuple[str, str, str], str] = {}
    shared: list[str] = []
    for namespace in namespaces:
        for claim in await list_all(client, RESOURCE_CLAIMS.collection(namespace)):
            allocation = claim.get("status", {}).get("allocation") or {}
            name = f"{namespace}/{claim['metadata']['name']}"
            for result in allocation.get("devices", {}).get("results", []):
                device = (result["driver"], result["pool"], result["device"])
                if device in holders and not result.get("shareID"):
                    shared.append(f"{'/'.join(device)}: {holders[device]} and {name}")
                holders.setdefault(device, name)
    return len(holders), shared


async def delete_pods_and_claims(
    client: KubeClient, namespaces: Iterable[str], timeout: float
) -> None:
    """Pods deleted at once (no kubelet: grace period 0) and their claims deleted; the
    ResourceClaim controller then deallocates each claim and removes its finalizer, which
    ends its deletion. Waited for until nothing is left."""
    names = list(namespaces)
    for namespace in names:
        # The server goes on deleting when a request times out; the wait below checks.
        with contextlib.suppress(ApiUnavailable):
            await client.request(
                "DELETE", PODS.collection(namespace), body={"gracePeriodSeconds": 0}
            )
        with contextlib.suppress(ApiUnavailable):
            await client.request("DELETE", RESOURCE_CLAIMS.collection(namespace))

    async def gone() -> bool:
        for namespace in names:
            if await count_items(client, RESOURCE_CLAIMS.collection(namespace)):
                return False
            if await count_items(client, PODS.collection(namespace)):
                return False
        return True

    await eventually(gone, timeout, f"pods and claims of {', '.join(names)} deleted", poll=1.0)


async def delete_labelled(client: KubeClient, side: str) -> None:
    selector = {"labelSelector": f"{SIDE_LABEL}={side}"}
    for resource in (RESOURCE_SLICES, NODES):
        with contextlib.suppress(ApiUnavailable):
            await client.request("DELETE", resource.collection(), params=selector)

    async def gone() -> bool:
        return not await count_items(client, NODES.collection(), **selector)

    await eventually(gone, 300, f"nodes labelled {side} deleted", poll=1.0)


async def create_pods(
    client: KubeClient, namespace: str, count: int, make: Callable[[int], KubeDict]
) -> None:
    await bounded(client.create(PODS.collection(namespace), make(i)) for i in range(count))


# ---------------------------------------------------------------------------- results


@dataclass
class PartResult:
    part: str
    scheduler: str
    benchmark: str  # the Go benchmark name, without the -N suffix
    pods: int
    nodes: int
    throughput: dict[str, float] | None = None
    runtime_seconds: float = 0.0
    scheduler_cpu_seconds: float | None = None
    bound: int = 0
    devices_allocated: int = 0
    problems: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def bench_line(self) -> str:
        procs = os.cpu_count() or 1
        metrics: list[tuple[float, str]] = []
        if self.throughput:
            metrics += [
                (self.throughput[key], f"SchedulingThroughput/{key}")
                for key in ("Average", *(f"Perc{p}" for p in PERCENTILES))
            ]
        for key, unit in self.extra.get("bench_metrics", []):
            metrics.append((float(self.extra[key]), unit))
        metrics.append((self.runtime_seconds, "runtime_seconds"))
        text = " ".join(f"{value:.2f} {unit}" for value, unit in metrics)
        return f"{self.benchmark}-{procs} 1 0 ns/op {text}"


async def measure_namespace(
    client: KubeClient,
    namespace: str,
    count: int,
    make: Callable[[int], KubeDict],
    timeout: float,
) -> tuple[ThroughputSampler, float, ScheduledPods]:
    """Creates `count` pods while sampling, until every one is scheduled (upstream's
    createPods with collectMetrics: the collector starts before the first pod)."""
    watch = ScheduledPods(client, namespace)
    watch.start()
    sampler = ThroughputSampler()
    sampling = asyncio.create_task(sample_throughput(watch, sampler))
    started = time.monotonic()
    try:
        await create_pods(client, namespace, count, make)

        async def done() -> bool:
            return watch.count >= count

        await eventually(done, timeout, f"{count} pods in {namespace} scheduled")
    finally:
        sampling.cancel()
        await asyncio.gather(sampling, return_exceptions=True)
        await watch.stop()
    return sampler, time.monotonic() - started, watch


async def wait_scheduled(
    client: KubeClient, namespace: str, count: int, make: Callable[[int], KubeDict], timeout: float
) -> None:
    watch = ScheduledPods(client, namespace)
    watch.start()
    try:
        await create_pods(client, namespace, count, make)

        async def done() -> bool:
            return watch.count >= count

        await eventually(done, timeout, f"{count} pods in {namespace} scheduled")
    finally:
        await watch.stop()


# ------------------------------------------------------------------------------ parts


async def dra_shape(
    client: KubeClient,
    *,
    side: str,
    scheduler: str,
    node_prefix: str,
    namespaces: tuple[str, str],
    sizes: Sizes,
    timeout: float,
    cpu_of: Callable[[], float | None],
) -> PartResult:
    """scheduler_perf's SchedulingWithResourceClaimTemplate through the API server."""
    init, test = namespaces
    nodes = [f"{node_prefix}{i}" for i in range(sizes.nodes)]
    await create_ignoring_existing(
        client, DEVICE_CLASSES.collection(), device_class(DEVICE_CLASS, DRIVER)
    )
    await bounded(client.create(NODES.collection(), dra_node(n, side)) for n in nodes)
    await bounded(client.create(RESOURCE_SLICES.collection(), dra_slice(n, side)) for n in nodes)
    init_pods = sizes.pods // 2
    measured = sizes.pods - init_pods
    for namespace in namespaces:
        await ensure_namespace(client, namespace)
    await client.create(
        RESOURCE_CLAIM_TEMPLATES.collection(init), claim_template(TEMPLATE, init, DEVICE_CLASS)
    )
    await wait_scheduled(
        client,
        init,
        init_pods,
        lambda i: template_pod(f"init-{i}", init, scheduler, TEMPLATE),
        timeout,
    )
    await client.create(
        RESOURCE_CLAIM_TEMPLATES.collection(test), claim_template(TEMPLATE, test, DEVICE_CLASS)
    )
    cpu_before = cpu_of()
    sampler, seconds, watch = await measure_namespace(
        client,
        test,
        measured,
        lambda i: template_pod(f"test-dra-{i}", test, scheduler, TEMPLATE),
        timeout,
    )
    cpu_after = cpu_of()
    result = PartResult(
        part=side,
        scheduler=scheduler,
        benchmark=f"{BENCHMARK}/{TEST_CASE}/{sizes.workload}",
        pods=measured,
        nodes=sizes.nodes,
        throughput=sampler.summary(),
        runtime_seconds=seconds,
        bound=watch.count,
    )
    if cpu_before is not None and cpu_after is not None:
        result.scheduler_cpu_seconds = round(cpu_after - cpu_before, 2)
    result.problems += watch.twice
    result.devices_allocated, shared = await device_holders(client, namespaces)
    result.problems += shared
    if result.devices_allocated != sizes.pods:
        result.problems.append(
            f"{result.devices_allocated} devices allocated for {sizes.pods} pods"
        )
    return result


async def fgd_part(
    client: KubeClient, sizes: Sizes, dralloc_pid: int | None, timeout: float
) -> PartResult:
    namespace = "fgd"
    await ensure_namespace(client, namespace)
    for name, cores, gpus, _, _ in FGD_MIX:
        cls = FRACTIONAL_CLASS
        await client.create(
            RESOURCE_CLAIM_TEMPLATES.collection(namespace),
            claim_template(name, namespace, cls, count=gpus, cores=cores),
        )

    def make(i: int) -> KubeDict:
        template, cpu = fgd_template_for(i)
        return template_pod(f"fgd-{i}", namespace, "dralloc", template, cpu=cpu)

    cpu_before = cpu_seconds(dralloc_pid)
    sampler, seconds, watch = await measure_namespace(
        client, namespace, sizes.fgd_pods, make, timeout
    )
    cpu_after = cpu_seconds(dralloc_pid)
    result = PartResult(
        part="fgd",
        scheduler="dralloc",
        benchmark=f"{OWN_BENCHMARK}/FGDFractionalGPUs/{sizes.fgd_pods}pods_{sizes.fgd_nodes}nodes",
        pods=sizes.fgd_pods,
        nodes=sizes.fgd_nodes,
        throughput=sampler.summary(),
        runtime_seconds=seconds,
        bound=watch.count,
    )
    if cpu_before is not None and cpu_after is not None:
        result.scheduler_cpu_seconds = round(cpu_after - cpu_before, 2)
    result.problems += watch.twice
    result.devices_allocated, shared = await device_holders(client, [namespace])
    result.problems += shared
    result.extra["gpus"] = sizes.fgd_nodes * 8
    return result


async def scheduled_events(client: KubeClient, namespace: str) -> dict[str, int]:
    """Per pod UID, its `Scheduled` events."""
    counts: dict[str, int] = {}
    for event in await list_all(client, EVENTS.collection(namespace)):
        if event.get("reason") == "Scheduled":
            uid = event.get("regarding", {}).get("uid", "")
            counts[uid] = counts.get(uid, 0) + 1
    return counts


async def soak_part(
    client: KubeClient, sizes: Sizes, dralloc: DrallocScheduler, timeout: float
) -> PartResult:
    namespace = "soak"
    await ensure_namespace(client, namespace)
    await client.create(
        RESOURCE_CLAIM_TEMPLATES.collection(namespace),
        claim_template("one-gpu", namespace, WHOLE_GPU_CLASS),
    )
    watch = ScheduledPods(client, namespace)
    watch.start()
    rss: list[tuple[float, int]] = []
    created = 0
    deleted: set[str] = set()
    in_flight: set[asyncio.Task[Any]] = set()
    errors: list[str] = []
    # Creation waits while this many pods are pending, so a scheduler slower than the rate
    # meets a bounded backlog instead of an ever-growing one.
    max_pending = max(10, int(sizes.soak_rate * 10))

    async def create(i: int) -> None:
        try:
            await client.create(
                PODS.collection(namespace),
                template_pod(f"soak-{i}", namespace, "dralloc", "one-gpu"),
            )
        except (ApiStatusError, ApiUnavailable) as err:
            errors.append(f"create soak-{i}: {err}")

    async def delete(name: str) -> None:
        try:
            await client.delete(PODS.item(namespace, name), {"gracePeriodSeconds": 0})
        except ApiStatusError as err:
            if not err.is_not_found:
                errors.append(f"delete {name}: {err}")
        except ApiUnavailable as err:
            errors.append(f"delete {name}: {err}")

    def spawn(call: Awaitable[None]) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(call)
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)

    started = time.monotonic()
    next_rss = started
    pid = dralloc.pid
    while (now := time.monotonic()) < started + sizes.soak_seconds:
        if pid is not None and now >= next_rss:
            value = rss_kib(pid)
            if value is not None:
                rss.append((round(now - started, 1), value))
            next_rss += RSS_SAMPLE_SECONDS
        due = int((now - started) * sizes.soak_rate)
        while created < due and created - watch.count < max_pending:
            spawn(create(created))
            created += 1
        for name, at in list(watch.bound_at.items()):
            if name not in deleted and now - at >= sizes.soak_lifetime:
                deleted.add(name)
                spawn(delete(name))
        await asyncio.sleep(0.1)
    await asyncio.gather(*list(in_flight), return_exceptions=True)
    wanted = created - len([e for e in errors if e.startswith("create")])

    async def all_bound() -> bool:
        return watch.count >= wanted

    problems: list[str] = []
    try:
        await eventually(all_bound, timeout, f"the soak's {wanted} pods bound")
    except TimeoutError as err:
        problems.append(str(err))
    if pid is not None and (value := rss_kib(pid)) is not None:
        rss.append((round(time.monotonic() - started, 1), value))
    await watch.stop()
    events = await scheduled_events(client, namespace)
    metric = dralloc.scheduled()
    problems += watch.twice
    problems += [f"pod {uid}: {n} Scheduled events" for uid, n in events.items() if n > 1]
    missing = [uid for uid in watch.nodes if uid not in events]
    if missing:
        problems.append(f"{len(missing)} bound pods without a Scheduled event")
    if metric is not None and int(metric) != watch.count:
        problems.append(f"dralloc counted {metric:.0f} scheduled, the watch saw {watch.count}")
    problems += errors[:20]
    seconds = time.monotonic() - started
    result = PartResult(
        part="soak",
        scheduler="dralloc",
        benchmark=f"{OWN_BENCHMARK}/ChurnSoak/{sizes.soak_nodes}nodes_{sizes.soak_seconds:.0f}s",
        pods=wanted,
        nodes=sizes.soak_nodes,
        runtime_seconds=seconds,
        bound=watch.count,
        problems=problems,
    )
    values = [kib for _, kib in rss]
    if values:
        result.extra.update(
            rss_start_mib=round(values[0] / 1024, 1),
            rss_end_mib=round(values[-1] / 1024, 1),
            rss_max_mib=round(max(values) / 1024, 1),
            rss_samples=rss,
        )
    result.extra["pods_deleted"] = len(deleted)
    result.extra["scheduled_metric"] = metric
    result.extra["scheduled_events"] = sum(events.values())
    result.extra["bench_metrics"] = [
        (key, unit)
        for key, unit in (
            ("rss_start_mib", "RSS/start-MiB"),
            ("rss_end_mib", "RSS/end-MiB"),
            ("rss_max_mib", "RSS/max-MiB"),
        )
        if key in result.extra
    ]
    # Everything left is deleted here: the fleet's nodes go next.
    await delete_pods_and_claims(client, [namespace], timeout)
    return result


# ------------------------------------------------------------------------------ run


@dataclass
class Run:
    sizes: Sizes
    workdir: Path
    timeout: float
    skip_upstream: bool = False
    skip_fgd: bool = False
    skip_soak: bool = False
    profile: bool = False
    results: list[PartResult] = field(default_factory=list)
    failure: str = ""
    profile_text: dict[str, str] = field(default_factory=dict)
    commands: dict[str, list[str]] = field(default_factory=dict)
    startup_seconds: dict[str, float] = field(default_factory=dict)


def record(run: Run, result: PartResult) -> None:
    """Keeps a part's result and prints its benchmark line at once, so a later part that
    fails loses nothing."""
    run.results.append(result)
    print(f"scheduler: {result.scheduler}", flush=True)
    print(result.bench_line(), flush=True)


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] cluster_mode: {message}", file=sys.stderr, flush=True)


async def run_parts(run: Run, apiserver: ApiServer) -> None:
    # Deleting thousands of pods in one request outlasts the usual 30 s.
    client = KubeClient.connect(apiserver.admin_kubeconfig, qps=0, timeout=600)
    try:
        if not run.skip_upstream:
            progress(f"kube-scheduler on {run.sizes.workload}")
            scheduler = start_kube_scheduler(apiserver, run.workdir / "kube-scheduler")
            run.commands["kube-scheduler"] = scheduler.argv
            try:
                result = await dra_shape(
                    client,
                    side="upstream",
                    scheduler="default-scheduler",
                    node_prefix="scheduler-perf-dra-",
                    namespaces=("init", "test"),
                    sizes=run.sizes,
                    timeout=run.timeout,
                    cpu_of=lambda: cpu_seconds(scheduler.pid),
                )
                result.scheduler = "kube-scheduler"
                record(run, result)
            finally:
                scheduler.stop()
            progress("deleting kube-scheduler's pods, claims and nodes")
            await delete_pods_and_claims(client, ["init", "test"], run.timeout)
            await delete_labelled(client, "upstream")

        progress(f"dralloc on {run.sizes.workload}" + (" (cProfile)" if run.profile else ""))
        owned = f"{SIDE_LABEL}=dralloc"
        if run.profile:
            dralloc = start_dralloc_profiled(apiserver, owned)
        else:
            dralloc = start_dralloc(apiserver, run.workdir / "dralloc", owned)
            assert dralloc.process is not None
            run.commands["dralloc"] = dralloc.process.argv
        try:
            result = await dra_shape(
                client,
                side="dralloc",
                scheduler="dralloc",
                node_prefix="dralloc-perf-dra-",
                namespaces=("dralloc-init", "dralloc-test"),
                sizes=run.sizes,
                timeout=run.timeout,
                cpu_of=lambda: cpu_seconds(dralloc.pid),
            )
            scheduled = dralloc.scheduled()
            if scheduled is not None and int(scheduled) != run.sizes.pods:
                result.problems.append(f"dralloc counted {scheduled:.0f} scheduled")
            record(run, result)
        finally:
            dralloc.stop()
        if dralloc.profiler is not None:
            run.profile_text = profile_report(dralloc.profiler)
        progress("deleting dralloc's pods, claims and nodes")
        await delete_pods_and_claims(client, ["dralloc-init", "dralloc-test"], run.timeout)
        await delete_labelled(client, "dralloc")

        if not run.skip_fgd:
            await fgd_run(run, apiserver, client)
        if not run.skip_soak:
            await soak_run(run, apiserver, client)
    finally:
        await client.aclose()


async def fgd_run(run: Run, apiserver: ApiServer, client: KubeClient) -> None:
    sizes = run.sizes
    progress(f"dralloc with FGD on {sizes.fgd_nodes} x {FGD_SHAPE}, {sizes.fgd_pods} pods")
    config = run.workdir / "fgd.yaml"
    config.write_text(yaml.safe_dump(fgd_config(), sort_keys=False))
    fleet = SimulatedFleet(
        client,
        [f"{sizes.fgd_nodes}x{FGD_SHAPE}"],
        name_prefix="fgd-",
        labels={SIDE_LABEL: "fgd"},
        warn=lambda message: progress(f"fleet: {message}"),
        log=lambda message: None,
    )
    await fleet.start()
    kubelet = asyncio.create_task(fleet.run())
    dralloc = start_dralloc(apiserver, run.workdir / "dralloc-fgd", f"{SIDE_LABEL}=fgd", config)
    run.commands["dralloc-fgd"] = dralloc.process.argv if dralloc.process else []
    try:
        record(run, await fgd_part(client, sizes, dralloc.pid, run.timeout))
    finally:
        dralloc.stop()
    progress("deleting the FGD part's pods, claims and fleet")
    await delete_pods_and_claims(client, ["fgd"], run.timeout)
    kubelet.cancel()
    await asyncio.gather(kubelet, return_exceptions=True)
    await fleet.stop()


async def soak_run(run: Run, apiserver: ApiServer, client: KubeClient) -> None:
    sizes = run.sizes
    progress(
        f"churn soak: {sizes.soak_seconds:.0f} s on {sizes.soak_nodes} x {SOAK_SHAPE}, "
        f"{sizes.soak_rate:g} pods/s living {sizes.soak_lifetime:g} s"
    )
    fleet = SimulatedFleet(
        client,
        [f"{sizes.soak_nodes}x{SOAK_SHAPE}"],
        name_prefix="soak-",
        labels={SIDE_LABEL: "soak"},
        warn=lambda message: progress(f"fleet: {message}"),
        log=lambda message: None,
    )
    await fleet.start()
    kubelet = asyncio.create_task(fleet.run())
    dralloc = start_dralloc(apiserver, run.workdir / "dralloc-soak", f"{SIDE_LABEL}=soak")
    run.commands["dralloc-soak"] = dralloc.process.argv if dralloc.process else []
    try:
        record(run, await soak_part(client, sizes, dralloc, run.timeout))
    finally:
        dralloc.stop()
        kubelet.cancel()
        await asyncio.gather(kubelet, return_exceptions=True)
        await fleet.stop()


def run_benchmark(run: Run) -> None:
    """Starts etcd, kube-apiserver and kube-controller-manager, runs the parts, stops
    everything it started (by pid), the control plane last."""
    progress("starting etcd, kube-apiserver and kube-controller-manager")
    etcd = Etcd.start(run.workdir / "etcd")
    try:
        apiserver = ApiServer.start(etcd.client_url, run.workdir / "apiserver")
        run.startup_seconds["kube-apiserver"] = round(apiserver.startup_seconds, 2)
        try:
            kcm = start_controller_manager(apiserver, run.workdir / "kube-controller-manager")
            run.commands["kube-controller-manager"] = kcm.argv
            try:
                asyncio.run(run_parts(run, apiserver))
            finally:
                kcm.stop()
        finally:
            apiserver.stop()
    finally:
        etcd.stop()


# --------------------------------------------------------------------------- report


def _version(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (
        (done.stdout or done.stderr).strip().splitlines()[0] if done.stdout or done.stderr else ""
    )


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    commit = _version(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": commit,
        "cpu": model or platform.processor(),
        "nproc": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "go": _version(["go", "version"]) if shutil.which("go") else "",
        "kubernetes": K8S_VERSION,
        "etcd": _version([str(binary("etcd")), "--version"]),
    }


def row(result: PartResult) -> dict[str, Any]:
    found = asdict(result)
    found["extra"] = {k: v for k, v in result.extra.items() if k != "bench_metrics"}
    if result.throughput:
        found["throughput"] = {k: round(v, 2) for k, v in result.throughput.items()}
    found["runtime_seconds"] = round(result.runtime_seconds, 2)
    return found


def table(results: list[PartResult]) -> str:
    head = (
        f"{'part':9} {'scheduler':15} {'pods':>6} {'nodes':>5} {'avg pods/s':>10} "
        f"{'p50':>7} {'p90':>7} {'runtime s':>9} {'sched CPU s':>11}  check"
    )
    lines = [head, "-" * len(head)]
    for result in results:
        tp = result.throughput or {}

        def fig(key: str, tp: dict[str, float] = tp) -> str:
            return f"{tp[key]:.1f}" if key in tp else "n/a"

        cpu = "n/a" if result.scheduler_cpu_seconds is None else f"{result.scheduler_cpu_seconds}"
        check = "ok" if not result.problems else f"{len(result.problems)} problem(s)"
        lines.append(
            f"{result.part:9} {result.scheduler:15} {result.pods:>6} {result.nodes:>5} "
            f"{fig('Average'):>10} {fig('Perc50'):>7} {fig('Perc90'):>7} "
            f"{result.runtime_seconds:>9.1f} {cpu:>11}  {check}"
        )
        if result.part == "soak" and "rss_start_mib" in result.extra:
            extra = result.extra
            lines.append(
                f"{'':9} RSS MiB start {extra['rss_start_mib']}, end {extra['rss_end_mib']}, "
                f"max {extra['rss_max_mib']}; {result.bound} pods bound once each, "
                f"{extra['pods_deleted']} deleted"
            )
    lines.append(
        "throughput: scheduler_perf's SchedulingThroughput (1 s samples of pods with "
        "spec.nodeName in the measured namespace); sched CPU s: the scheduler process's CPU "
        "seconds over the measured phase"
    )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, Sizes]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the plumbing")
    parser.add_argument("--nodes", type=int, help="DRA-shape nodes (500)")
    parser.add_argument("--pods", type=int, help="DRA-shape pods, half measured (5000)")
    parser.add_argument("--fgd-nodes", type=int, help=f"{FGD_SHAPE} nodes (250: 2,000 GPUs)")
    parser.add_argument("--fgd-pods", type=int, help="FGD part's pods (2000)")
    parser.add_argument("--soak-nodes", type=int, help=f"{SOAK_SHAPE} nodes in the soak (500)")
    parser.add_argument("--soak-seconds", type=float, help="soak duration (1200)")
    parser.add_argument("--soak-rate", type=float, help="soak pods created per second (10)")
    parser.add_argument("--soak-lifetime", type=float, help="seconds a bound soak pod lives (30)")
    parser.add_argument("--skip-upstream", action="store_true", help="no kube-scheduler part")
    parser.add_argument("--skip-fgd", action="store_true", help="no FGD part")
    parser.add_argument("--skip-soak", action="store_true", help="no churn soak")
    parser.add_argument(
        "--profile", action="store_true", help="dralloc's DRA-shape part in-process, cProfiled"
    )
    parser.add_argument("--timeout", type=float, default=900, help="seconds per wait (900)")
    parser.add_argument("--keep", type=Path, help="keep logs and configs in this directory")
    parser.add_argument("--json", action="store_true", help="one JSON object per part")
    parser.add_argument("--out", type=Path, help="write the run as one JSON document")
    args = parser.parse_args(argv)
    sizes = SMOKE if args.smoke else Sizes()
    overrides = {
        key: getattr(args, key)
        for key in (
            "nodes",
            "pods",
            "fgd_nodes",
            "fgd_pods",
            "soak_nodes",
            "soak_seconds",
            "soak_rate",
            "soak_lifetime",
        )
        if getattr(args, key) is not None
    }
    return args, replace(sizes, **overrides)


def main(argv: list[str] | None = None) -> int:
    args, sizes = parse_args(argv)
    needed = ["etcd", "kube-apiserver", "kube-controller-manager"]
    if not args.skip_upstream:
        needed.append("kube-scheduler")
    missing = missing_binaries(needed)
    if missing:
        print(f"cluster_mode: {', '.join(missing)} missing: run tools/build.sh", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="cluster-mode-") as scratch:
        workdir = args.keep or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        run = Run(
            sizes,
            workdir,
            args.timeout,
            skip_upstream=args.skip_upstream,
            skip_fgd=args.skip_fgd,
            skip_soak=args.skip_soak,
            profile=args.profile,
        )
        try:
            run_benchmark(run)
        except Exception as err:  # reported with what was measured before it
            traceback.print_exc()
            run.failure = f"{type(err).__name__}: {err}"
    procs = os.cpu_count() or 1
    if run.failure:
        print(f"cluster_mode: stopped early: {run.failure}", file=sys.stderr)
    for result in run.results:
        for problem in result.problems:
            print(f"cluster_mode: {result.part}: {problem}", file=sys.stderr)
    if args.json:
        for result in run.results:
            print(json.dumps(row(result)), flush=True)
    else:
        print(table(run.results), flush=True)
    for key, text in run.profile_text.items():
        print(f"--- dralloc scheduler, cProfile by {key} ---\n{text}", file=sys.stderr)
    if args.out:
        document = {
            "machine": machine(),
            "command": [sys.executable, *sys.argv],
            "sizes": asdict(sizes),
            "gomaxprocs_suffix": procs,
            "commands": run.commands,
            "startup_seconds": run.startup_seconds,
            "rows": [row(result) for result in run.results],
            "failure": run.failure,
            "profile": run.profile_text,
        }
        tmp = args.out.with_name(args.out.name + ".tmp")
        tmp.write_text(json.dumps(document, indent=2) + "\n")
        tmp.replace(args.out)
    if run.failure:
        return 3
    return 1 if any(result.problems for result in run.results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
