"""A batch-job trace (`dralloc.sim.traces.jobs`: ITP ElasticFlow, the synthetic generator,
DLRM apps) as a time-based replay with gangs.

Each job becomes `workers` pods (`<job>-<i>`), each asking `gpus_per_worker` whole GPUs, all
arriving at the job's arrival and running its duration; a job of more than one worker is a
gang: a `scheduling.k8s.io/v1alpha2` PodGroup named after the job with `minCount` = workers,
its pods joining it through `spec.schedulingGroup` (`ReplayGangs`). With the gates
GenericWorkload and GangScheduling on (`gangs=True`, the default here) the replay places every
gang all or nothing; off, it schedules the same pods one by one, as Kubernetes 1.36 does by
default, so a distributed job can hold part of the cluster while its other workers wait.

The cluster is not in the trace: `nodes` alike nodes of `node_gpus` GPUs of catalog model
`model` (default 8 x `a100-80gb`, ElasticFlow's testbed of 8-GPU A100 servers), by default
enough whole nodes for the tenants' quota, or for the trace's peak demand (every job started
on arrival) when it has no tenants. CPU and memory are not what the trace is about: each pod
asks `cpu_per_gpu` cores and `memory_per_gpu` GiB per GPU, and a node has room for
`node_gpus` times that.

    trace = resolve_job_trace("itp-elasticflow:cluster=10", "../shared/traces")
    replayed, gangs = job_replay(trace)
    result = replay(replayed, "fgd", seed=1, gangs=gangs)

`resolve_replay` is what `dralloc simulate --mode replay --trace` calls: a job trace's name
takes the replay's keys beside its own (`itp-elasticflow:cluster=10,nodes=40,gangs=off`:
`nodes`, `node_gpus`, `node_model`, `gangs` = on|off, and the topology's `rack_hosts`,
`block_racks`, `topology` = preferred|required, `sim.batch_objects.TopologyLayout`); any other
name is a pod trace (`resolve_replay_trace`) with no gangs. `job_replay_options` reads those
keys back from a job trace's name (queues with topology build their view of the cluster
from it).

The nodes sit in racks and blocks (`JobReplayOptions.topology`, default racks of 4 hosts,
blocks of 4 racks, in node name order): Kueue's Topology-Aware Scheduling
(`dralloc simulate --queues ...+tas`) places each gang in them, and every queued replay
counts the racks a gang's pods ran in.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field

from dralloc.api.meta import ObjectMeta
from dralloc.api.scheduling import (
    GangSchedulingPolicy,
    PodGroup,
    PodGroupSchedulingPolicy,
    PodGroupSpec,
)
from dralloc.devices.catalog import load_catalog
from dralloc.errors import InputError, NotFoundError, Problem
from dralloc.features import Features, parse_gates
from dralloc.sim.batch_objects import TOPOLOGY_REQUESTS, TopologyLayout
from dralloc.sim.options import parse_options, split_workload
from dralloc.sim.replay import ReplayGangs
from dralloc.sim.traces import (
    JOB_TRACES,
    ReplayTrace,
    TimedPod,
    TraceNode,
    TracePod,
    resolve_job_trace,
    resolve_replay_trace,
)
from dralloc.sim.traces.jobs import JobTrace, peak_gpus
from dralloc.sim.traces.model import GpuModels

__all__ = [
    "GANG_GATES",
    "JobReplayOptions",
    "job_replay",
    "job_replay_options",
    "resolve_job_replay",
    "resolve_replay",
]

GANG_GATES = "GenericWorkload=true,GangScheduling=true"
# The replay's pods live in one namespace (see `dralloc.sim.openb_objects`); so do the groups.
NAMESPACE = "default"
_MILLI = 1000
_MIB_PER_GIB = 1024


@dataclass(frozen=True)
class JobReplayOptions:
    """The cluster a job trace is replayed on, whether gangs are placed as gangs, and where
    the nodes sit (`topology`: racks and blocks; its `node_gpus` is set to this one's)."""

    gangs: bool = True
    nodes: int | None = None  # None: enough for the tenants' quota (or the peak demand)
    node_gpus: int = 8
    model: str = "a100-80gb"
    cpu_per_gpu: int = 8
    memory_per_gpu: int = 64  # GiB
    topology: TopologyLayout = field(default_factory=TopologyLayout)

    def __post_init__(self) -> None:
        if self.topology.node_gpus != self.node_gpus:
            topology = dataclasses.replace(self.topology, node_gpus=self.node_gpus)
            object.__setattr__(self, "topology", topology)


def job_replay(
    trace: JobTrace, options: JobReplayOptions | None = None
) -> tuple[ReplayTrace, ReplayGangs]:
    """`trace` as a replay trace and its gangs. InputError for a model the catalog does not
    know or a job whose workers no node can hold."""
    o = options or JobReplayOptions()
    try:
        gpu_model = load_catalog().gpu(o.model)
    except NotFoundError as err:
        raise InputError([Problem("", "", "model", str(err))]) from err
    too_big = [
        Problem(
            job.source,
            job.name,
            "gpus_per_worker",
            f"{job.gpus_per_worker} GPUs per worker, more than a node's {o.node_gpus}",
        )
        for job in trace.jobs
        if job.gpus_per_worker > o.node_gpus
    ]
    if too_big:
        raise InputError(too_big)
    demand = trace.total_quota if trace.tenants else peak_gpus(trace.jobs)
    count = o.nodes if o.nodes is not None else max(1, math.ceil(demand / o.node_gpus))
    nodes = tuple(
        TraceNode(
            f"gpu-node-{index:04d}",
            o.node_gpus * o.cpu_per_gpu * _MILLI,
            o.node_gpus * o.memory_per_gpu * _MIB_PER_GIB,
            o.node_gpus,
            gpu_model.name,
        )
        for index in range(count)
    )
    pods: list[TimedPod] = []
    members: dict[str, str] = {}
    groups: list[PodGroup] = []
    for job in trace.jobs:
        names = [f"{job.name}-{i}" for i in range(job.workers)]
        for name in names:
            request = TracePod(
                name,
                job.gpus_per_worker * o.cpu_per_gpu * _MILLI,
                job.gpus_per_worker * o.memory_per_gpu * _MIB_PER_GIB,
                job.gpus_per_worker,
                _MILLI if job.gpus_per_worker else 0,
            )
            pods.append(TimedPod(request, job.arrival, job.duration))
        if job.workers > 1:
            groups.append(_pod_group(job.name, job.workers))
            members.update(dict.fromkeys(names, job.name))
    sized = "the tenants' quota" if trace.tenants else "the peak demand"
    how = "placed all or nothing" if o.gangs else "scheduled pod by pod (gangs off)"
    notes = (
        *trace.notes,
        f"{count:,} nodes x {o.node_gpus} {gpu_model.name} "
        f"({'as given' if o.nodes is not None else 'sized to ' + sized})",
        f"{len(trace.jobs):,} jobs as {len(pods):,} pods; {_count(len(groups), 'gang')} {how}",
    )
    replayed = ReplayTrace(
        trace.workload,
        nodes,
        tuple(pods),
        GpuModels({gpu_model.name: gpu_model}),
        notes=notes,
    )
    features = parse_gates(GANG_GATES) if o.gangs else Features()
    return replayed, ReplayGangs(tuple(groups), members, features)


def _pod_group(name: str, min_count: int) -> PodGroup:
    policy = PodGroupSchedulingPolicy(gang=GangSchedulingPolicy(min_count=min_count))
    return PodGroup(
        metadata=ObjectMeta(name=name, namespace=NAMESPACE),
        spec=PodGroupSpec(scheduling_policy=policy),
    )


@dataclass(frozen=True)
class _ReplayKeys:
    """The replay's keys in a job trace's `--trace` text (parse_options' field types)."""

    nodes: int = 0  # 0: sized from the trace
    node_gpus: int = 8
    node_model: str = "a100-80gb"
    gangs: str = "on"
    rack_hosts: int = TopologyLayout.rack_hosts
    block_racks: int = TopologyLayout.block_racks
    topology: str = TopologyLayout.request


_REPLAY_KEYS = frozenset(f.name for f in dataclasses.fields(_ReplayKeys))


def resolve_replay(
    workload: str, trace_dir: str | os.PathLike[str] | None = None
) -> tuple[ReplayTrace, ReplayGangs | None]:
    """The replay trace `workload` names and its gangs (None for a pod trace). InputError for
    an unknown name or bad options, naming `--trace <workload>` and the key."""
    replayed, gangs, _ = resolve_job_replay(workload, trace_dir)
    return replayed, gangs


def resolve_job_replay(
    workload: str, trace_dir: str | os.PathLike[str] | None = None
) -> tuple[ReplayTrace, ReplayGangs | None, JobTrace | None]:
    """`resolve_replay`, plus the job trace the replay was made from (None for a pod trace):
    what queues (`dralloc.sim.queue_replay`) are built from."""
    name, text = split_workload(workload)
    if name not in {entry.partition("[")[0] for entry in JOB_TRACES}:
        return resolve_replay_trace(workload, trace_dir), None, None
    parts = [p.strip() for p in text.split(",") if p.strip()]
    theirs = [p for p in parts if p.partition("=")[0].strip() not in _REPLAY_KEYS]
    options = job_replay_options(workload)
    trace = resolve_job_trace(f"{name}:{','.join(theirs)}" if theirs else name, trace_dir)
    trace = dataclasses.replace(trace, workload=workload)
    replayed, gangs = job_replay(trace, options)
    return replayed, gangs, trace


def job_replay_options(workload: str) -> JobReplayOptions:
    """The replay's keys of a job trace's `--trace` text (others are the trace's own and
    ignored here); defaults for a name without them. InputError naming `--trace <workload>`
    and the key for a bad value."""
    _, text = split_workload(workload)
    parts = [p.strip() for p in text.split(",") if p.strip()]
    ours = [p for p in parts if p.partition("=")[0].strip() in _REPLAY_KEYS]
    keys = parse_options(workload, ",".join(ours), _ReplayKeys())
    where = f"--trace {workload}"
    problems = []
    if keys.gangs not in ("on", "off"):
        problems.append(Problem("", where, "gangs", "expected on or off"))
    if keys.topology not in TOPOLOGY_REQUESTS:
        problems.append(
            Problem("", where, "topology", f"expected {' or '.join(TOPOLOGY_REQUESTS)}")
        )
    for key in ("node_gpus", "rack_hosts", "block_racks"):
        if getattr(keys, key) < 1:
            problems.append(Problem("", where, key, "must be a positive number"))
    if keys.nodes < 0:
        problems.append(Problem("", where, "nodes", "must be a positive number"))
    if problems:
        raise InputError(problems)
    layout = TopologyLayout(
        rack_hosts=keys.rack_hosts,
        block_racks=keys.block_racks,
        node_gpus=keys.node_gpus,
        request=keys.topology,
    )
    return JobReplayOptions(
        gangs=keys.gangs == "on",
        nodes=keys.nodes or None,
        node_gpus=keys.node_gpus,
        model=keys.node_model,
        topology=layout,
    )


def _count(number: int, noun: str) -> str:
    """`1 gang`, `2 gangs`, `1,000 gangs`."""
    return f"{number:,} {noun}{'' if number == 1 else 's'}"
