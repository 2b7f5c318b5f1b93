"""Batch: Kueue-style admission at scale, and TPU slices placed as gangs.

Parts (names are a contract; `--json` prints one object per line per part):

  admission       Kueue's own scalability test re-shaped (kueue v0.17.0,
                  test/performance/scheduler/configs/baseline/generator.yaml): cohorts of 6
                  ClusterQueues, each with one resource group over flavor `rf`, `cpu` nominal
                  20 and borrowingLimit 100, preemption `reclaimWithinCohort: Any`,
                  `withinClusterQueue: LowerPriority`, an empty namespaceSelector, one
                  LocalQueue in a namespace named after the ClusterQueue; its Workloads in
                  Kueue's three classes and their 350:100:50 mix: small (cpu 1, priority 50,
                  runs 200 ms), medium (cpu 5, priority 100, 500 ms), large (cpu 20,
                  priority 200, 1000 ms), created every 100 / 500 / 1200 ms per class. Kueue
                  runs 5 cohorts x 6 queues x 500 Workloads; here `--cluster-queues`
                  (1,000) and `--workloads` (100,000) set the size and every Workload is
                  pending at the start. Admission cycles (`dralloc.queueing.schedule` with
                  `ClassicalPreemptor`) run on a virtual clock: preemptions are carried out at
                  once (`evict`); when a cycle admits and preempts nothing, the clock jumps
                  to the next admitted Workload's end and those Workloads release their quota,
                  as Kueue's runner finishes them after their class's running time. It stops
                  when every Workload has finished, or at `--max-cycles` / `--max-seconds`.
                  "Decisions" are admissions (QuotaReserved=True) plus preemptions issued;
                  "nominations" are the heads evaluated.
  tpu-gang        `--tpu-hosts` (1,000) TPU v5p hosts as `dralloc cluster generate` builds
                  them (`<n>xtpu-v5p-4x8x8`: slices of 64 hosts, 4 chips each, one GKE node
                  pool per slice), and a JobSet-shaped gang for one 256-chip slice: 64 pods,
                  one per host, each with a claim for the 4 chips of its host (DeviceClass
                  `tpu.google.com`, ExactCount 4), a nodeSelector on the slice's node pool
                  (`cloud.google.com/gke-nodepool`) and GKE's TPU labels, joined by a
                  PodGroup (`scheduling.k8s.io/v1alpha2`, gang minCount 64); placed with
                  `place_gang` (feature gates GenericWorkload, GangScheduling) on
                  kube-scheduler's default profile.
  tpu-multislice  A fleet of about 13,000 v5p hosts (203 slices of 4x8x8, 12,992 hosts) and a
                  multi-slice JobSet of 196 slices of 256 chips (50,176 chips, 12,544 pods),
                  each slice a gang pinned to its own node pool and placed (bound) one after
                  the other; at `--scales` (25, 50, 100 %) of both fleet and job.

What is timed: admission cycles alone (building the objects is `setup_seconds`); placement
alone (`place_gang` calls; building the fleet, reading the manifests and the scheduler's
cache is `setup_seconds`). `max_rss_mb` is the process's peak resident size after the part
(the parts run in one process, so it never goes down). Progress goes to stderr.

Run: `python benchmarks/batch.py [--part NAME ...] [--smoke] [--json] [--out FILE]
[--cluster-queues N] [--workloads N] [--max-cycles N] [--max-seconds S] [--tpu-hosts N]
[--scales 25,50,100] [--profile]`. `--smoke` runs tiny sizes (the test suite uses it);
`--profile` runs cProfile over the timed part and prints the top functions to stderr.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import resource
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

PARTS = ("admission", "tpu-gang", "tpu-multislice")

# Kueue's baseline generator config, by class: (name, share of a queue's Workloads out of 500,
# cpu request, priority, running time in ms, creation interval in ms).
KUEUE_CLASSES = (
    ("small", 350, 1, 50, 200, 100),
    ("medium", 100, 5, 100, 500, 500),
    ("large", 50, 20, 200, 1000, 1200),
)
QUEUES_PER_COHORT = 6
START = datetime(2026, 1, 1, tzinfo=UTC)

V5P_SHAPE = "4x8x8"  # 256 chips, 64 hosts of 4 chips
V5P_HOSTS_PER_SLICE = 64
V5P_CHIPS_PER_HOST = 4
FLEET_SLICES = 203  # 12,992 hosts: "about 13,000"
JOB_SLICES = 196  # 50,176 chips: the 50,000-chip training job


def progress(message: str) -> None:
    print(f"[batch {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def max_rss_mb() -> float:
    # Linux reports ru_maxrss in KiB.
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


@dataclass
class Timer:
    """Wall and CPU seconds of the timed sections, optionally under cProfile."""

    profile: cProfile.Profile | None = None
    wall: float = 0.0
    cpu: float = 0.0
    _started: tuple[float, float] = (0.0, 0.0)

    def __enter__(self) -> Timer:
        if self.profile is not None:
            self.profile.enable()
        self._started = (time.perf_counter(), time.process_time())
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall += time.perf_counter() - self._started[0]
        self.cpu += time.process_time() - self._started[1]
        if self.profile is not None:
            self.profile.disable()


def print_profile(profile: cProfile.Profile | None, title: str, top: int = 30) -> None:
    if profile is None:
        return
    text = io.StringIO()
    stats = pstats.Stats(profile, stream=text)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    print(f"--- cProfile: {title}\n{text.getvalue()}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- admission


def _stamp(ms: int) -> str:
    return (START + timedelta(milliseconds=ms)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def kueue_documents(cluster_queues: int, workloads: int) -> Iterator[dict[str, Any]]:
    """The ResourceFlavor, ClusterQueues, LocalQueues and Workloads of the admission part, as
    the raw documents a user would apply (Kueue's baseline shape, module docstring)."""
    yield {
        "apiVersion": "kueue.x-k8s.io/v1beta2",
        "kind": "ResourceFlavor",
        "metadata": {"name": "rf"},
        "spec": {},
    }
    names = []
    for index in range(cluster_queues):
        cohort = f"cohort-{index // QUEUES_PER_COHORT}"
        name = f"cq-0-{index % QUEUES_PER_COHORT}-{cohort}"
        names.append(name)
        yield {
            "apiVersion": "kueue.x-k8s.io/v1beta2",
            "kind": "ClusterQueue",
            "metadata": {
                "name": name,
                "labels": {"kueue.x-k8s.io/performance-scheduler-class": "cq"},
            },
            "spec": {
                "cohortName": cohort,
                "namespaceSelector": {},
                "preemption": {
                    "reclaimWithinCohort": "Any",
                    "withinClusterQueue": "LowerPriority",
                },
                "resourceGroups": [
                    {
                        "coveredResources": ["cpu"],
                        "flavors": [
                            {
                                "name": "rf",
                                "resources": [
                                    {"name": "cpu", "nominalQuota": 20, "borrowingLimit": 100}
                                ],
                            }
                        ],
                    }
                ],
            },
        }
        yield {
            "apiVersion": "kueue.x-k8s.io/v1beta2",
            "kind": "LocalQueue",
            "metadata": {"name": name, "namespace": name},
            "spec": {"clusterQueue": name},
        }
    total_share = sum(c[1] for c in KUEUE_CLASSES)
    for index, name in enumerate(names):
        # Spread the Workloads over the queues as evenly as the total allows.
        per_queue = workloads // cluster_queues + (1 if index < workloads % cluster_queues else 0)
        counts = [per_queue * c[1] // total_share for c in KUEUE_CLASSES]
        counts[0] += per_queue - sum(counts)
        for (klass, _, cpu, priority, runtime, interval), count in zip(
            KUEUE_CLASSES, counts, strict=True
        ):
            for i in range(count):
                yield {
                    "apiVersion": "kueue.x-k8s.io/v1beta2",
                    "kind": "Workload",
                    "metadata": {
                        "name": f"{klass}-{i}",
                        "namespace": name,
                        "creationTimestamp": _stamp(interval * (i + 1)),
                        "labels": {
                            "kueue.x-k8s.io/performance-scheduler-running-ms": str(runtime),
                            "kueue.x-k8s.io/performance-scheduler-class": klass,
                        },
                    },
                    "spec": {
                        "queueName": name,
                        "priority": priority,
                        "podSets": [
                            {
                                "name": "main",
                                "count": 1,
                                "template": {
                                    "spec": {
                                        "containers": [
                                            {
                                                "name": "c",
                                                "image": "pause",
                                                "resources": {"requests": {"cpu": str(cpu)}},
                                            }
                                        ]
                                    }
                                },
                            }
                        ],
                    },
                }


@dataclass
class AdmissionRun:
    """The outcome of the admission loop (figures, not timings)."""

    cycles: int = 0
    nominations: int = 0
    admissions: int = 0
    preemptions: int = 0
    finished: int = 0
    releases: int = 0
    stopped_by: str = "done"
    admitted_keys: list[str] = field(default_factory=list)


def run_admission_loop(
    state: Any,
    manager: Any,
    workloads: dict[str, Any],
    *,
    max_cycles: int,
    max_seconds: float,
    timer: Timer,
    schedule_options: dict[str, Any] | None = None,
    on_cycle: Callable[[AdmissionRun, float], None] | None = None,
) -> AdmissionRun:
    """Admission cycles on a virtual clock until every Workload has finished (or a bound)."""
    import heapq

    from dralloc.queueing import ClassicalPreemptor, evict, schedule

    preemptor = ClassicalPreemptor()
    options = schedule_options or {}
    run = AdmissionRun()
    now_ms = 0
    # (end in ms, sequence, key, admission number): an evicted Workload's old end is stale.
    ends: list[tuple[int, int, str, int]] = []
    generation: dict[str, int] = {}
    runtime = {
        key: int(wl.metadata.labels["kueue.x-k8s.io/performance-scheduler-running-ms"])
        for key, wl in workloads.items()
    }
    started = time.perf_counter()
    sequence = 0
    while True:
        if run.cycles >= max_cycles:
            run.stopped_by = "max-cycles"
            break
        if time.perf_counter() - started > max_seconds:
            run.stopped_by = "max-seconds"
            break
        now = START + timedelta(milliseconds=now_ms)
        with timer:
            result = schedule(state, manager, now, preemptor=preemptor, **options)
            for victim, preemptor_key, reason in result.preemptions:
                if victim in state.reservations:
                    evict(state, manager, workloads[victim], preemptor_key, reason, now)
                    generation[victim] = generation.get(victim, 0) + 1
                    run.preemptions += 1
        run.cycles += 1
        run.nominations += len(result.order) + sum(
            1 for e in result.pending.values() if not e.nominated
        )
        run.admissions += len(result.admitted)
        run.admitted_keys += result.admitted
        for key in result.admitted:
            sequence += 1
            generation[key] = generation.get(key, 0) + 1
            heapq.heappush(ends, (now_ms + runtime[key], sequence, key, generation[key]))
        if on_cycle is not None:
            on_cycle(run, time.perf_counter() - started)
        if result.admitted or result.preemptions:
            continue
        # Nothing moved: the clock jumps to the next end; those Workloads finish.
        while ends and generation.get(ends[0][2]) != ends[0][3]:
            heapq.heappop(ends)
        if not ends:
            run.stopped_by = "done" if not manager.workloads else "stuck"
            break
        now_ms = ends[0][0]
        with timer:
            released_queues: set[str] = set()
            while ends and ends[0][0] <= now_ms:
                _, _, key, number = heapq.heappop(ends)
                if generation.get(key) != number:
                    continue
                found = state.release(key)
                generation[key] = number + 1  # finished: never ends again
                run.finished += 1
                if found is not None:
                    released_queues.add(found.cluster_queue)
            for cq in sorted(released_queues):
                manager.on_quota_released(cq)
                run.releases += 1
    return run


def build_admission(cluster_queues: int, workloads: int) -> tuple[Any, Any, dict[str, Any]]:
    from dralloc.queueing import QueueManager, QueueState, check, decode_documents

    documents = (
        ("batch", i, raw) for i, raw in enumerate(kueue_documents(cluster_queues, workloads))
    )
    inputs, problems = decode_documents(documents)
    if problems:
        raise SystemExit(f"batch: the generated Kueue objects are invalid: {problems[0]}")
    state = QueueState.build(inputs)
    check(state)
    manager = QueueManager(state)
    manager.add_all(inputs.workloads.values())
    return state, manager, inputs.workloads


def part_admission(args: argparse.Namespace) -> dict[str, Any]:
    progress(f"admission: building {args.cluster_queues} ClusterQueues, {args.workloads} Workloads")
    t0 = time.perf_counter()
    state, manager, workloads = build_admission(args.cluster_queues, args.workloads)
    setup = time.perf_counter() - t0
    progress(f"admission: built in {setup:.1f} s; running cycles")
    timer = Timer(cProfile.Profile() if args.profile else None)
    last = [0.0]

    def report(run: AdmissionRun, elapsed: float) -> None:
        if elapsed - last[0] >= 10:
            last[0] = elapsed
            progress(
                f"admission: cycle {run.cycles}, {run.admissions} admitted, "
                f"{run.preemptions} preempted, {run.finished} finished, {elapsed:.0f} s"
            )

    run = run_admission_loop(
        state,
        manager,
        workloads,
        max_cycles=args.max_cycles,
        max_seconds=args.max_seconds,
        timer=timer,
        on_cycle=report,
    )
    print_profile(timer.profile, "admission")
    decisions = run.admissions + run.preemptions
    return {
        "part": "admission",
        "cluster_queues": args.cluster_queues,
        "cohorts": -(-args.cluster_queues // QUEUES_PER_COHORT),
        "workloads": len(workloads),
        "cycles": run.cycles,
        "nominations": run.nominations,
        "admissions": run.admissions,
        "preemptions": run.preemptions,
        "finished": run.finished,
        "stopped_by": run.stopped_by,
        "setup_seconds": round(setup, 2),
        "wall_seconds": round(timer.wall, 2),
        "cpu_seconds": round(timer.cpu, 2),
        "decisions_per_second": round(decisions / timer.wall, 1) if timer.wall else 0.0,
        "nominations_per_second": round(run.nominations / timer.wall, 1) if timer.wall else 0.0,
        "ms_per_cycle": round(1000 * timer.wall / run.cycles, 2) if run.cycles else 0.0,
        "max_rss_mb": max_rss_mb(),
    }


# ------------------------------------------------------------------------------ TPU gangs


def _fleet_objects(slices: int) -> tuple[list[Any], list[str]]:
    """The LoadedObjects of `slices` v5p 4x8x8 slices as `dralloc cluster generate` builds
    them (nodes, ResourceSlices, DeviceClasses), and the slices' node pools in order."""
    from dralloc.api.io import LoadedObject
    from dralloc.devices import load_catalog
    from dralloc.devices.cluster import generate_cluster, parse_group
    from dralloc.devices.tpu import NODE_POOL_LABEL

    fleet = generate_cluster([parse_group(f"{slices}xtpu-v5p-{V5P_SHAPE}")], load_catalog())
    objects = []
    for index, obj in enumerate([*fleet.classes, *fleet.nodes, *fleet.slices]):
        raw = {"apiVersion": obj.api_version, "kind": obj.kind}
        objects.append(LoadedObject("fleet.json", index + 1, raw, obj))
    pools = list(dict.fromkeys(n.metadata.labels[NODE_POOL_LABEL] for n in fleet.nodes))
    return objects, pools


def jobset_documents(pools: list[str], namespace: str = "default") -> Iterator[dict[str, Any]]:
    """A multi-slice training JobSet's pods as its controllers create them, one slice (one
    replicated Job, 64 pods) per node pool in `pools`: each pod asks the 4 chips of its host
    through a claim, selects its slice's node pool and GKE's TPU labels, and joins its
    slice's PodGroup (a gang of 64)."""
    jobset = "train"
    yield {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaimTemplate",
        "metadata": {"name": "tpu-host", "namespace": namespace},
        "spec": {
            "spec": {
                "devices": {
                    "requests": [
                        {
                            "name": "tpu",
                            "exactly": {
                                "deviceClassName": "tpu.google.com",
                                "allocationMode": "ExactCount",
                                "count": V5P_CHIPS_PER_HOST,
                            },
                        }
                    ]
                }
            }
        },
    }
    for job_index, pool in enumerate(pools):
        job = f"{jobset}-slice-{job_index}"
        yield {
            "apiVersion": "scheduling.k8s.io/v1alpha2",
            "kind": "PodGroup",
            "metadata": {"name": job, "namespace": namespace},
            "spec": {"schedulingPolicy": {"gang": {"minCount": V5P_HOSTS_PER_SLICE}}},
        }
        for worker in range(V5P_HOSTS_PER_SLICE):
            yield {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"{job}-{worker}",
                    "namespace": namespace,
                    "labels": {
                        "jobset.sigs.k8s.io/jobset-name": jobset,
                        "jobset.sigs.k8s.io/replicatedjob-name": "slice",
                        "jobset.sigs.k8s.io/job-index": str(job_index),
                        "batch.kubernetes.io/job-name": job,
                        "batch.kubernetes.io/job-completion-index": str(worker),
                    },
                },
                "spec": {
                    "schedulingGroup": {"podGroupName": job},
                    "nodeSelector": {
                        "cloud.google.com/gke-tpu-accelerator": "tpu-v5p-slice",
                        "cloud.google.com/gke-tpu-topology": V5P_SHAPE,
                        "cloud.google.com/gke-nodepool": pool,
                    },
                    "containers": [
                        {
                            "name": "trainer",
                            "image": "us-docker.pkg.dev/cloud-tpu-images/jax:latest",
                            "resources": {
                                "requests": {"cpu": "8", "memory": "64Gi"},
                                "claims": [{"name": "tpu"}],
                            },
                        }
                    ],
                    "resourceClaims": [{"name": "tpu", "resourceClaimTemplateName": "tpu-host"}],
                },
            }


def build_tpu_plan(
    fleet_slices: int, job_slices: int
) -> tuple[Any, Any, list[tuple[Any, list[Any]]]]:
    """The scheduler's cache and default framework over the fleet, and the job's gangs with
    their pending pods, in slice order (as `dralloc schedule -f` builds them)."""
    from dralloc.api.io import decode_object
    from dralloc.cli.inputs import ClusterInput
    from dralloc.cli.schedule import plan_schedule
    from dralloc.features import parse_gates
    from dralloc.scheduler.config import SchedulerConfiguration

    fleet, pools = _fleet_objects(fleet_slices)
    # The job asks the fleet's last slices first, so each gang's nodes are not simply the
    # first nodes a filter visits.
    chosen = list(reversed(pools))[:job_slices]
    cluster = ClusterInput()
    for loaded in fleet:
        cluster.objects.append(loaded)
        cluster.add(loaded)
    for index, raw in enumerate(jobset_documents(chosen), start=1):
        loaded, problems = decode_object(raw, "jobset.yaml", index)
        if problems or loaded is None:
            raise SystemExit(f"batch: the generated JobSet pods are invalid: {problems[0]}")
        cluster.objects.append(loaded)
        cluster.add(loaded)
    gates = parse_gates("GenericWorkload=true,GangScheduling=true")
    plan, frameworks = plan_schedule(cluster, SchedulerConfiguration(), gates, 0)
    members: dict[Any, list[Any]] = {}
    for entry in plan.pending:
        pod = entry.pod
        key = plan.gangs.member_of[f"{pod.metadata.namespace}/{pod.metadata.name}"]
        members.setdefault(key, []).append(pod)
    gangs = [(plan.gangs.gangs[key], pods) for key, pods in members.items()]
    return plan, frameworks["default-scheduler"], gangs


def place_slices(
    plan: Any, framework: Any, gangs: list[tuple[Any, list[Any]]], timer: Timer, *, bind: bool
) -> tuple[int, int, list[float]]:
    """Place every gang in order; (gangs admitted, pods placed, seconds per gang)."""
    from dralloc.scheduler.gangs import place_gang

    admitted = placed = 0
    seconds = []
    last = time.perf_counter()
    for number, (gang, pods) in enumerate(gangs, start=1):
        started = time.perf_counter()
        with timer:
            placement = place_gang(plan.cache, framework, gang, pods, bind=bind)
        seconds.append(time.perf_counter() - started)
        if placement.is_admitted:
            admitted += 1
            placed += len(placement.placed)
        if time.perf_counter() - last >= 10:
            last = time.perf_counter()
            progress(f"  gang {number}/{len(gangs)}: {admitted} admitted, {timer.wall:.0f} s")
    return admitted, placed, seconds


def part_tpu_gang(args: argparse.Namespace) -> dict[str, Any]:
    fleet_slices = max(1, args.tpu_hosts // V5P_HOSTS_PER_SLICE)
    hosts = fleet_slices * V5P_HOSTS_PER_SLICE
    progress(f"tpu-gang: {hosts} v5p hosts ({fleet_slices} slices of {V5P_SHAPE}), one gang")
    t0 = time.perf_counter()
    plan, framework, gangs = build_tpu_plan(fleet_slices, 1)
    setup = time.perf_counter() - t0
    progress(f"tpu-gang: set up in {setup:.1f} s; placing")
    timer = Timer(cProfile.Profile() if args.profile else None)
    # The what-if question first (cache unchanged), then the placement that binds.
    _, _, what_if = place_slices(plan, framework, gangs, Timer(), bind=False)
    admitted, placed, _ = place_slices(plan, framework, gangs, timer, bind=True)
    print_profile(timer.profile, "tpu-gang")
    return {
        "part": "tpu-gang",
        "hosts": hosts,
        "chips": hosts * V5P_CHIPS_PER_HOST,
        "gang_pods": len(gangs[0][1]),
        "gang_chips": len(gangs[0][1]) * V5P_CHIPS_PER_HOST,
        "admitted": bool(admitted),
        "pods_placed": placed,
        "setup_seconds": round(setup, 2),
        "what_if_seconds": round(what_if[0], 3),
        "wall_seconds": round(timer.wall, 3),
        "cpu_seconds": round(timer.cpu, 3),
        "ms_per_pod": round(1000 * timer.wall / max(1, placed), 2),
        "max_rss_mb": max_rss_mb(),
    }


def part_tpu_multislice(args: argparse.Namespace) -> list[dict[str, Any]]:
    out = []
    for scale in args.scales:
        fleet_slices = max(1, round(args.fleet_slices * scale / 100))
        job_slices = max(1, round(args.job_slices * scale / 100))
        hosts = fleet_slices * V5P_HOSTS_PER_SLICE
        progress(
            f"tpu-multislice {scale}%: {hosts} hosts ({fleet_slices} slices), job of "
            f"{job_slices} slices ({job_slices * V5P_HOSTS_PER_SLICE * V5P_CHIPS_PER_HOST} chips)"
        )
        t0 = time.perf_counter()
        plan, framework, gangs = build_tpu_plan(fleet_slices, job_slices)
        setup = time.perf_counter() - t0
        progress(f"tpu-multislice {scale}%: set up in {setup:.1f} s; placing")
        timer = Timer(cProfile.Profile() if args.profile else None)
        gangs = gangs[: args.max_gangs] if args.max_gangs else gangs
        admitted, placed, seconds = place_slices(plan, framework, gangs, timer, bind=True)
        print_profile(timer.profile, f"tpu-multislice {scale}%")
        chips = placed * V5P_CHIPS_PER_HOST
        out.append(
            {
                "part": "tpu-multislice",
                "scale_percent": scale,
                "hosts": hosts,
                "job_slices": job_slices,
                "gangs_tried": len(gangs),
                "gangs_admitted": admitted,
                "pods_placed": placed,
                "chips_placed": chips,
                "setup_seconds": round(setup, 2),
                "wall_seconds": round(timer.wall, 2),
                "cpu_seconds": round(timer.cpu, 2),
                "ms_per_pod": round(1000 * timer.wall / max(1, placed), 2),
                "first_gang_seconds": round(seconds[0], 3) if seconds else 0.0,
                "last_gang_seconds": round(seconds[-1], 3) if seconds else 0.0,
                "under_a_minute": timer.wall < 60 and len(gangs) == job_slices,
                "max_rss_mb": max_rss_mb(),
            }
        )
        del plan, framework, gangs
    return out


# ----------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--part", action="append", choices=PARTS)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for the test suite")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", type=Path, help="also write the JSON lines to this file")
    parser.add_argument("--cluster-queues", type=int, default=1000)
    parser.add_argument("--workloads", type=int, default=100_000)
    parser.add_argument("--max-cycles", type=int, default=100_000)
    parser.add_argument("--max-seconds", type=float, default=300.0)
    parser.add_argument("--tpu-hosts", type=int, default=1000)
    parser.add_argument("--fleet-slices", type=int, default=FLEET_SLICES)
    parser.add_argument("--job-slices", type=int, default=JOB_SLICES)
    parser.add_argument(
        "--scales",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[25, 50, 100],
        help="percentages of fleet and job for tpu-multislice",
    )
    parser.add_argument("--max-gangs", type=int, default=0, help="stop after N gangs (0: all)")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    if args.smoke:
        args.cluster_queues, args.workloads = 12, 240
        args.tpu_hosts = 128
        args.fleet_slices, args.job_slices, args.scales = 3, 2, [50, 100]
    return args


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    args = parse_args(argv)
    figures: list[dict[str, Any]] = []
    runners: dict[str, Callable[[argparse.Namespace], Any]] = {
        "admission": part_admission,
        "tpu-gang": part_tpu_gang,
        "tpu-multislice": part_tpu_multislice,
    }
    for part in args.part or list(PARTS):
        found = runners[part](args)
        for row in found if isinstance(found, list) else [found]:
            figures.append(row)
            line = json.dumps(row)
            if args.out is not None:
                with args.out.open("a") as sink:
                    sink.write(line + "\n")
            if args.json:
                print(line, flush=True)
            else:
                print("  ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    return figures


if __name__ == "__main__":
    main()
