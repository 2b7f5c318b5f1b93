"""Scheduler throughput with DRA claims, on the shapes upstream's scheduler_perf uses
(test/integration/scheduler_perf/dra/performance-config.yaml): pods per second through
`Scheduler.schedule_one` with kube-scheduler's default profile.

The cluster of every case: N nodes (500 by default) named `scheduler-perf-dra-<i>`, each with
capacity `pods: 110, cpu: 4, memory: 32Gi` (allocatable defaulted to capacity, as the API server
does), and one ResourceSlice per node from driver `test-driver.cdi.k8s.io` (pool = node name,
one slice) with 10 devices `instance-<j>`, each with 4 attributes (`model: A100`,
`family: GPU`, `driverVersion: 1.2.3`, `dra.example.com/numa: <j>`) and 1 capacity
(`memory: 1Gi`). DeviceClass `test-class` selects `device.driver == "test-driver.cdi.k8s.io"`.
Every pod is a pause container using one pod claim `resource` from ResourceClaimTemplate
`test-claim-template` (one request `req-0` for one device of `test-class`); the ResourceClaim
controller creates each pod's claim from the template. Upstream's slices also carry binding
conditions, which upstream strips with the binding-conditions gate off; they are left out.

Cases (names are a contract; `--json` prints one object per line per case):
  5000pods_500nodes        upstream SchedulingWithResourceClaimTemplate/5000pods_500nodes:
                           N x 5 pods in namespace `init` are scheduled first (not measured,
                           half the devices), then N x 5 pods in namespace `test` are measured
                           (the cluster ends full).
  empty_500nodes           upstream SteadyStateClusterResourceClaimTemplate/empty_500nodes: no
                           claims pre-allocated, then `--pods` measured pods in steady state.
  half_500nodes            the same workload's half_500nodes: N x 5 claims (`test-claim-<i>`
                           in `init`, one device each, not reserved for any pod) allocated
                           first on randomly ordered nodes as upstream's allocResourceClaims
                           does, then steady state.
  full_500nodes            full_500nodes: N x 10 - 10 claims pre-allocated, so exactly 10
                           devices stay free, then steady state.
  selector_empty_500nodes  empty_500nodes with upstream's claim template with a CEL selector
                           on a capacity and an attribute
                           (templates/resourceclaimtemplate-with-selector.yaml):
                           `device.capacity[...].memory.compareTo(quantity('1Gi')) == 0 &&
                           device.attributes[...].family == 'GPU'`.

Steady state is upstream's `createPods` with `steadyState: true, count: 10`: ten pods exist at
any time; once one is scheduled it is deleted and a new one created. Here the pods are
scheduled one after another and the oldest of ten scheduled pods is deleted before the next
one comes, so at most ten measured pods hold a device (in `full_500nodes`, exactly the ten
free devices). Deleting a pod takes it off its node and its claim is deallocated and deleted,
as the ResourceClaim controller does; every measured pod must be scheduled.

What is timed: the scheduler alone, as upstream's SchedulingThroughput counts pods scheduled
per second. The clock runs during `Scheduler.schedule_one` and the scheduler cache's handling
of the events of the run (a claim created, a pod and its claim deleted); creating pods and
claims (the ResourceClaim controller) and building the cluster are set-up, reported apart as
`setup_seconds`. Ties between equally scored nodes are drawn from a seeded rng, as upstream
picks among them at random.

The profile is kube-scheduler's default one, built as a KubeSchedulerConfiguration's profile
is; `--percentage-of-nodes-to-score N` sets its `percentageOfNodesToScore` (unset, upstream's
adaptive value: 46% of 500 nodes, so Filter stops after 230 feasible nodes). The framework is
built as `dralloc schedule` builds it, with the in-tree pod signature
(`dralloc.scheduler.signature`: namespace, pod spec, each claim's spec and status; equal for
every pod here), so it reuses the verdicts of nodes unchanged since the last alike pod and
visits, scores and picks exactly as a plain evaluation does. `--no-remember-verdicts` leaves
the signature out: every plugin then runs on every node visited.

Run: `python benchmarks/scheduler_perf.py [--case NAME ...] [--json] [--nodes N] [--pods N]
[--runs N] [--seed N] [--percentage-of-nodes-to-score N] [--no-remember-verdicts] [--profile]`.
`--profile` runs cProfile over the timed parts only and prints the top functions to stderr
(the timings then include the profiler's overhead). `cpu_seconds` is the process CPU time of
the timed parts: on a busy machine it is the steadier figure. The heap is collected once
between set-up and the timed part, so the garbage collections inside it are the
scheduler's own.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import pstats
import random
import statistics
import sys
import time
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from dralloc.allocator import AllocatorOptions
from dralloc.api.core import (
    Container,
    Node,
    NodeStatus,
    Pod,
    PodResourceClaim,
    PodSpec,
    ResourceClaimRef,
    ResourceRequirements,
)
from dralloc.api.meta import ObjectMeta
from dralloc.api.quantity import Quantity
from dralloc.api.resource import (
    CELDeviceSelector,
    Device,
    DeviceAttribute,
    DeviceCapacity,
    DeviceClaim,
    DeviceClass,
    DeviceClassSpec,
    DeviceRequest,
    DeviceSelector,
    ExactDeviceRequest,
    ResourceClaim,
    ResourceClaimSpec,
    ResourceClaimTemplate,
    ResourceClaimTemplateSpec,
    ResourcePool,
    ResourceSlice,
    ResourceSliceSpec,
)
from dralloc.controllers import InMemoryClaimClient, ResourceClaimController
from dralloc.features import Features
from dralloc.scheduler.builder import SchedulerInputs, build_scheduler
from dralloc.scheduler.cache import claim_key, pod_claim_keys
from dralloc.scheduler.config import ProfileConfig, SchedulerConfiguration

DRIVER = "test-driver.cdi.k8s.io"
DEVICE_CLASS = "test-class"
TEMPLATE = "test-claim-template"
DEVICES_PER_NODE = 10  # upstream's maxClaimsPerNode for these workloads
STEADY_STATE_PODS = 10  # upstream's `count: 10` with `steadyState: true`
ALLOCATOR_TIMEOUT_SECONDS = 10.0  # DynamicResources' filterTimeout default
SELECTOR = (
    f"device.capacity['{DRIVER}'].memory.compareTo(quantity('1Gi')) == 0 && "
    f"device.attributes['{DRIVER}'].family == 'GPU'"
)


@dataclass(frozen=True)
class Case:
    """One workload. `init_pods` and `init_claims` are per node; `steady` measures `--pods`
    pods in steady state, otherwise `measure_pods` per node are measured."""

    upstream: str
    init_pods: int = 0
    init_claims: int = 0
    measure_pods: int = 0
    steady: bool = False
    selector: bool = False
    free_devices: int | None = None  # pre-allocate all but this many devices


CASES: dict[str, Case] = {
    "5000pods_500nodes": Case(
        "SchedulingWithResourceClaimTemplate/5000pods_500nodes", init_pods=5, measure_pods=5
    ),
    "empty_500nodes": Case("SteadyStateClusterResourceClaimTemplate/empty_500nodes", steady=True),
    "half_500nodes": Case(
        "SteadyStateClusterResourceClaimTemplate/half_500nodes", init_claims=5, steady=True
    ),
    "full_500nodes": Case(
        "SteadyStateClusterResourceClaimTemplate/full_500nodes",
        steady=True,
        free_devices=STEADY_STATE_PODS,
    ),
    "selector_empty_500nodes": Case(
        "SteadyStateClusterResourceClaimTemplate/empty_500nodes with "
        "resourceclaimtemplate-with-selector.yaml",
        steady=True,
        selector=True,
    ),
}


# --------------------------------------------------------------------------- objects


def node_name(index: int) -> str:
    return f"scheduler-perf-dra-{index}"


def make_node(index: int) -> Node:
    capacity = {
        "pods": Quantity.parse("110"),
        "cpu": Quantity.parse("4"),
        "memory": Quantity.parse("32Gi"),
    }
    name = node_name(index)
    return Node(
        metadata=ObjectMeta(name=name, labels={"kubernetes.io/hostname": name}),
        status=NodeStatus(capacity=capacity, allocatable=dict(capacity)),
    )


def make_slice(node: str) -> ResourceSlice:
    devices = [
        Device(
            name=f"instance-{i}",
            attributes={
                "model": DeviceAttribute(string="A100"),
                "family": DeviceAttribute(string="GPU"),
                "driverVersion": DeviceAttribute(version="1.2.3"),
                "dra.example.com/numa": DeviceAttribute(int_value=i),
            },
            capacity={"memory": DeviceCapacity(value=Quantity.parse("1Gi"))},
        )
        for i in range(DEVICES_PER_NODE)
    ]
    return ResourceSlice(
        metadata=ObjectMeta(name=node),
        spec=ResourceSliceSpec(
            driver=DRIVER,
            node_name=node,
            pool=ResourcePool(name=node, generation=1, resource_slice_count=1),
            devices=devices,
        ),
    )


def device_class() -> DeviceClass:
    return DeviceClass(
        metadata=ObjectMeta(name=DEVICE_CLASS),
        spec=DeviceClassSpec(
            selectors=[DeviceSelector(cel=CELDeviceSelector(f'device.driver == "{DRIVER}"'))]
        ),
    )


def claim_spec(selector: bool) -> ResourceClaimSpec:
    selectors = [DeviceSelector(cel=CELDeviceSelector(SELECTOR))] if selector else []
    request = DeviceRequest(
        name="req-0",
        exactly=ExactDeviceRequest(device_class_name=DEVICE_CLASS, selectors=selectors),
    )
    return ResourceClaimSpec(devices=DeviceClaim(requests=[request]))


def claim_template(namespace: str, selector: bool) -> ResourceClaimTemplate:
    return ResourceClaimTemplate(
        metadata=ObjectMeta(name=TEMPLATE, namespace=namespace),
        spec=ResourceClaimTemplateSpec(spec=claim_spec(selector)),
    )


def make_pod(namespace: str, index: int, rng: random.Random) -> Pod:
    container = Container(
        name="pause",
        image="registry.k8s.io/pause:3.10.1",
        resources=ResourceRequirements(claims=[ResourceClaimRef(name="resource")]),
    )
    return Pod(
        metadata=ObjectMeta(
            name=f"test-dra-{index}",
            namespace=namespace,
            uid=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        ),
        spec=PodSpec(
            containers=[container],
            resource_claims=[
                PodResourceClaim(name="resource", resource_claim_template_name=TEMPLATE)
            ],
        ),
    )


# ------------------------------------------------------------------------------- run


@dataclass(frozen=True)
class Placement:
    """A measured or initial pod as scheduled: its node and its claim's devices."""

    pod: str
    node: str
    claim: str
    devices: tuple[tuple[str, str, str], ...]  # (driver, pool, device)


@dataclass
class RunResult:
    case: str
    nodes: int
    pods: int
    seconds: float
    cpu_seconds: float
    setup_seconds: float
    preallocated: list[Placement] = field(default_factory=list)
    placements: list[Placement] = field(default_factory=list)  # init pods, then measured
    measured_from: int = 0  # index of the first measured placement

    @property
    def pods_per_second(self) -> float:
        return self.pods / self.seconds if self.seconds > 0 else float("inf")


class _Clock:
    """Sums the time spent inside `timed()` blocks; optionally profiles only those."""

    def __init__(self, profiler: cProfile.Profile | None) -> None:
        self.total = 0.0
        self.cpu = 0.0
        self.profiler = profiler

    @contextmanager
    def timed(self) -> Iterator[None]:
        if self.profiler is not None:
            self.profiler.enable()
        cpu = time.process_time()
        start = time.perf_counter()
        try:
            yield
        finally:
            self.total += time.perf_counter() - start
            self.cpu += time.process_time() - cpu
            if self.profiler is not None:
                self.profiler.disable()


class _Cluster:
    """The cluster of one run, wired as `dralloc schedule` wires it: one cache, one allocator,
    the default profile over them, and the ResourceClaim controller over an in-memory client."""

    def __init__(
        self,
        case: Case,
        nodes: int,
        seed: int,
        remember_verdicts: bool,
        percentage: int | None,
    ) -> None:
        self.features = Features()
        self.rng = random.Random(seed)
        self.pod_uids = random.Random(f"pod-uids/{seed}")
        names = [node_name(i) for i in range(nodes)]
        share_rng = random.Random(f"share-ids/{seed}")
        options = AllocatorOptions(
            timeout=ALLOCATOR_TIMEOUT_SECONDS,
            share_ids=lambda: str(uuid.UUID(int=share_rng.getrandbits(128), version=4)),
        )
        # The default profile, built as a KubeSchedulerConfiguration's profile is (with
        # `percentageOfNodesToScore` when one is given), by the builder `dralloc schedule` uses.
        built = build_scheduler(
            SchedulerInputs(
                self.features,
                nodes=[make_node(i) for i in range(nodes)],
                slices=[make_slice(name) for name in names],
                classes=[device_class()],
                config=SchedulerConfiguration(
                    profiles=(ProfileConfig(percentage_of_nodes_to_score=percentage),)
                ),
                allocator_options=options,
                rng=self.rng,
                remember_verdicts=remember_verdicts,
            )
        )
        self.cache = built.cache
        self.allocator = built.allocator
        self.scheduler = built.scheduler()
        self.client = InMemoryClaimClient(
            templates=[claim_template(ns, case.selector) for ns in ("init", "test")],
            rng=random.Random(f"claim-names/{seed}"),
        )
        self.controller = ResourceClaimController(self.client)

    def preallocate(self, count: int) -> list[Placement]:
        """Upstream's allocResourceClaims: claims `test-claim-<i>` in `init`, each allocated
        on the first node, in a fresh random order, where the allocator finds devices."""
        placements = []
        spec = claim_spec(selector=False)
        nodes = list(self.cache.nodes.values())
        for i in range(count):
            claim = ResourceClaim(
                metadata=ObjectMeta(name=f"test-claim-{i}", namespace="init"), spec=spec
            )
            self.cache.set_claim(claim)
            key = claim_key(claim)
            self.rng.shuffle(nodes)
            for node in nodes:
                results = self.allocator.allocate(
                    node.node,
                    [self.cache.claims[key]],
                    self.cache.inventory,
                    self.cache.classes,
                    self.cache.allocated,
                )
                if results is not None:
                    self.cache.allocate_claim(key, results[0])
                    placements.append(self.placement(key, "", key))
                    break
            else:
                raise RuntimeError(f"could not pre-allocate claim {i + 1} of {count}")
        return placements

    def create_pod(self, namespace: str, index: int) -> tuple[Pod, list[ResourceClaim]]:
        """The pod as the API server stores it and the ResourceClaim controller syncs it."""
        synced = self.controller.sync_pod(make_pod(namespace, index, self.pod_uids))
        if synced.problems:
            raise RuntimeError(f"claim controller: {synced.problems}")
        return synced.pod, list(synced.created)

    def placement(self, pod_key: str, node: str, key: str) -> Placement:
        allocation = self.cache.claims[key].status.allocation
        assert allocation is not None
        devices = tuple((r.driver, r.pool, r.device) for r in allocation.devices.results)
        return Placement(pod_key, node, key, devices)

    def schedule(self, pod: Pod) -> Placement:
        outcome = self.scheduler.schedule_one(pod)
        if outcome.node is None:
            raise RuntimeError(f"pod {outcome.pod.key} was not scheduled: {outcome.message}")
        ((_, key),) = pod_claim_keys(pod)
        assert key is not None
        return self.placement(outcome.pod.key, outcome.node, key)

    def delete_pod(self, pod: Pod) -> None:
        """The pod is deleted: the scheduler forgets it, its claim is deallocated (nobody
        reserves it any more) and, as a generated claim of a deleted pod, deleted."""
        self.scheduler.remove_pod(pod)
        for _, key in pod_claim_keys(pod):
            if key is not None:
                self.cache.remove_claim(key)

    def forget_claims(self, pod: Pod) -> None:
        """The deleted claims leave the API too (not scheduler work: untimed)."""
        for _, key in pod_claim_keys(pod):
            if key is not None:
                namespace, name = key.split("/", 1)
                self.client.claims.pop((namespace, name), None)


def run(
    name: str,
    nodes: int = 500,
    steady_pods: int = 2500,
    seed: int = 0,
    profiler: cProfile.Profile | None = None,
    remember_verdicts: bool = True,
    percentage: int | None = None,
) -> RunResult:
    """One run of case `name` on `nodes` nodes; raises RuntimeError when a pod does not fit.
    `percentage` is the profile's percentageOfNodesToScore (None: upstream's adaptive one)."""
    case = CASES[name]
    started = time.perf_counter()
    cluster = _Cluster(case, nodes, seed, remember_verdicts, percentage)
    clock = _Clock(profiler)
    if case.free_devices is not None:
        init_claims = max(nodes * DEVICES_PER_NODE - case.free_devices, 0)
    else:
        init_claims = nodes * case.init_claims
    preallocated = cluster.preallocate(init_claims)
    placements: list[Placement] = []
    for i in range(nodes * case.init_pods):
        pod, created = cluster.create_pod("init", i)
        for claim in created:
            cluster.cache.set_claim(claim)
        placements.append(cluster.schedule(pod))
    measured_from = len(placements)
    setup = time.perf_counter() - started
    # Every run's timed part starts from a collected heap: which full collections fall inside
    # it then depends on the scheduler's own allocations, not on what set-up left behind
    # (one full collection of the built cluster is 40-50 ms, 4% of a case).
    gc.collect()
    if case.steady:
        live: deque[Pod] = deque()
        for i in range(steady_pods):
            if len(live) == STEADY_STATE_PODS:
                oldest = live.popleft()
                with clock.timed():
                    cluster.delete_pod(oldest)
                cluster.forget_claims(oldest)
            pod, created = cluster.create_pod("test", i)
            with clock.timed():
                for claim in created:
                    cluster.cache.set_claim(claim)
                placements.append(cluster.schedule(pod))
            live.append(pod)
        measured = steady_pods
    else:
        measured = nodes * case.measure_pods
        pending = []
        for i in range(measured):
            pod, created = cluster.create_pod("test", i)
            with clock.timed():
                for claim in created:
                    cluster.cache.set_claim(claim)
            pending.append(pod)
        for pod in pending:
            with clock.timed():
                placements.append(cluster.schedule(pod))
    return RunResult(
        name,
        nodes,
        measured,
        clock.total,
        clock.cpu,
        setup,
        preallocated,
        placements,
        measured_from,
    )


def figures(
    results: list[RunResult], upstream: str, remember_verdicts: bool, percentage: int | None
) -> dict[str, Any]:
    """The median run (by pods/s) with the spread across runs."""
    rates = sorted(r.pods_per_second for r in results)
    median = statistics.median(rates)
    middle = min(results, key=lambda r: abs(r.pods_per_second - median))
    return {
        "case": middle.case,
        "upstream": upstream,
        "nodes": middle.nodes,
        "preallocated_claims": len(middle.preallocated),
        "init_pods": middle.measured_from,
        "pods": middle.pods,
        "seconds": round(middle.seconds, 3),
        "cpu_seconds": round(middle.cpu_seconds, 3),
        "pods_per_second": round(median, 1),
        "pods_per_second_min": round(rates[0], 1),
        "pods_per_second_max": round(rates[-1], 1),
        "runs": len(results),
        "setup_seconds": round(middle.setup_seconds, 2),
        "remember_verdicts": remember_verdicts,
        "percentage_of_nodes_to_score": percentage,
    }


def _print_profile(profiler: cProfile.Profile, case: str, top: int) -> None:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    out.write(f"--- {case}: timed parts only, by cumulative time\n")
    stats.sort_stats("cumulative").print_stats(top)
    out.write(f"--- {case}: by own time\n")
    stats.sort_stats("tottime").print_stats(top)
    sys.stderr.write(out.getvalue())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--case", action="append", choices=list(CASES))
    parser.add_argument("--json", action="store_true", help="one JSON object per case per line")
    parser.add_argument("--nodes", type=int, default=500, help="nodes with 10 devices each")
    parser.add_argument("--pods", type=int, default=2500, help="measured pods, steady state")
    parser.add_argument("--runs", type=int, default=1, help="runs per case (median reported)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--no-remember-verdicts",
        dest="remember_verdicts",
        action="store_false",
        help="no pod signature: run every plugin on every node visited",
    )
    parser.add_argument(
        "--percentage-of-nodes-to-score",
        type=int,
        help="the profile's percentageOfNodesToScore (default: upstream's adaptive value)",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the timed parts")
    parser.add_argument("--top", type=int, default=30, help="functions listed by --profile")
    args = parser.parse_args(argv)
    for name in args.case or list(CASES):
        results = []
        profiler = cProfile.Profile() if args.profile else None
        for i in range(args.runs):
            results.append(
                run(
                    name,
                    args.nodes,
                    args.pods,
                    args.seed + i,
                    profiler,
                    args.remember_verdicts,
                    args.percentage_of_nodes_to_score,
                )
            )
        row = figures(
            results,
            CASES[name].upstream,
            args.remember_verdicts,
            args.percentage_of_nodes_to_score,
        )
        if args.json:
            print(json.dumps(row), flush=True)
        else:
            print(
                f"{name:24} {row['pods']:>6} pods  {row['seconds']:>7} s  "
                f"{row['pods_per_second']:>8} pods/s "
                f"(runs {row['pods_per_second_min']}-{row['pods_per_second_max']})  "
                f"set-up {row['setup_seconds']} s",
                flush=True,
            )
        if profiler is not None:
            _print_profile(profiler, name, args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
