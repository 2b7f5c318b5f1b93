"""What a replay produces: per-pod outcomes, the time series, GPU-hours and the summary
figures, and the options a run takes. Plain values and pure functions (no I/O, no state).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from dralloc.api.scheduling import PodGroup
from dralloc.features import Features
from dralloc.sim.replay.autoscaled import AutoscalingSummary, ReplayAutoscaling

__all__ = [
    "AdmissionCluster",
    "PodOutcome",
    "PodState",
    "ReplayAdmission",
    "ReplayGangs",
    "ReplayOptions",
    "ReplayResult",
    "ReplaySummary",
    "Sample",
    "percentile",
]


@dataclass(frozen=True)
class ReplayOptions:
    """How a replay runs.

    `sample_interval`: seconds between time-series samples; None (default) picks about 1,000
    samples over the trace's span (at least 1 s apart); 0 samples after every batch of events.
    `horizon`: seconds; stop there (pods arriving later never arrive). None: run until no event
    is left. `flush_leftover`: run kube-scheduler's 5-minute leftover flush (default off, see
    the module docstring); it changes the order pods are retried in, never whether one can be
    placed. `skip_hopeless_retries`:
    answer a retry that cannot succeed without a scheduling cycle (default on; off only to
    check that this changes nothing). `autoscaling`: the cluster is an autoscaled fleet
    (`replay.autoscaled`) instead of (or, with `keep_trace_nodes`, beside) the trace's nodes.
    """

    sample_interval: float | None = None
    horizon: float | None = None
    flush_leftover: bool = False
    skip_hopeless_retries: bool = True
    autoscaling: ReplayAutoscaling | None = None


@dataclass(frozen=True)
class ReplayGangs:
    """Which of a trace's pods form gangs: the scheduling.k8s.io/v1alpha2 `pod_groups`, and
    `members`, trace pod name -> the PodGroup its Pod names in `spec.schedulingGroup` (the
    pods live in the replay's namespace, so should the groups). `features` are the gates: as
    in Kubernetes 1.36, only with GenericWorkload and GangScheduling on are the members
    placed all or nothing by pod-group cycles; otherwise they are scheduled one by one.

    ReplayGangs((group,), {"worker-0": "train", "worker-1": "train"},
                parse_gates("GenericWorkload=true,GangScheduling=true"))
    """

    pod_groups: tuple[PodGroup, ...] = ()
    members: Mapping[str, str] = field(default_factory=dict)
    features: Features = field(default_factory=Features)


class AdmissionCluster(Protocol):
    """What the replay's engine offers a `ReplayAdmission` while it admits (the engine owns the
    pods, the cache and the scheduling queue; an admission only asks). Indices are the trace's
    pod indices."""

    def release(self, indices: Sequence[int]) -> None:
        """The pods enter the scheduling queue now (the scheduler places them, gangs all or
        nothing)."""

    def place(self, group: str, indices: Sequence[int]) -> str | None:
        """Place the pods now, all or nothing, with the profile's framework on the cache
        (`place_gang` as one group named `group`); on success they are bound and running and
        None is returned, else the cache is unchanged and the answer says why."""

    def release_onto(
        self, indices: Sequence[int], node_selectors: Sequence[Mapping[str, str]]
    ) -> None:
        """`release`, each pod with `node_selectors[i]` merged into its nodeSelector (its
        topology domain: Kueue's TopologyUngater), so it is placed only there."""

    def place_onto(
        self, group: str, indices: Sequence[int], node_selectors: Sequence[Mapping[str, str]]
    ) -> str | None:
        """`place`, each pod with `node_selectors[i]` merged into its nodeSelector."""

    def placeable_without(
        self,
        group: str,
        indices: Sequence[int],
        victims: Sequence[int],
        node_selectors: Sequence[Mapping[str, str]] | None = None,
    ) -> str | None:
        """A what-if for preemption: None if the pods `indices` could be placed now, all or
        nothing (each with `node_selectors[i]` merged in when given), were the running pods
        `victims` gone, else why not. The victims' pods and claims leave the cache, the
        pods are placed without binding, and everything is put back exactly (the same
        PodInfos and claim objects): nothing changes."""

    def evict(self, indices: Sequence[int]) -> None:
        """Take the pods off the cluster (running) or out of the scheduling queue (waiting):
        they are pending again, their GPU time up to now counted."""


class ReplayAdmission(Protocol):
    """Admission in front of the scheduler (`dralloc.sim.queue_replay`): the pods it `holds`
    do not enter the scheduling queue on arrival; the engine tells it of arrivals, starts and
    stops, and after the events of each instant (before the queue is drained) calls `admit`,
    which releases, places or evicts pods through the `AdmissionCluster`. `drained` follows
    the drain. `node_removed` comes first when a node leaves, with the pods running there:
    the admission may evict their jobs through the cluster (pods it leaves running there are
    then evicted by the engine). No method may change the engine's state except through the
    cluster."""

    def holds(self, index: int) -> bool: ...

    def node_removed(
        self, node: str, indices: Sequence[int], now: float, cluster: AdmissionCluster
    ) -> None: ...

    def arrived(self, index: int, now: float) -> None: ...

    def admit(self, now: float, cluster: AdmissionCluster) -> None: ...

    def started(self, index: int, now: float) -> None: ...

    def stopped(self, index: int, now: float) -> None: ...

    def drained(self, now: float) -> None: ...


class PodState(StrEnum):
    """Where a pod is when the replay ends."""

    COMPLETED = "Completed"
    RUNNING = "Running"
    PENDING = "Pending"
    EVICTED = "Evicted"  # its node left the cluster
    NOT_ARRIVED = "NotArrived"  # arrives after the horizon


@dataclass(frozen=True, slots=True)
class PodOutcome:
    """One pod's replay: `start`/`end` in seconds (None: never started / still running),
    `node` and `model` (the node's GPU model code) where it ran, `gpu_milli` its total GPU
    request."""

    name: str
    arrival: float
    start: float | None
    end: float | None
    node: str | None
    model: str | None
    gpu_milli: int
    state: PodState

    @property
    def waiting(self) -> float | None:
        return None if self.start is None else self.start - self.arrival


@dataclass(frozen=True, slots=True)
class Sample:
    """The cluster at `time` (seconds): allocated and total milli-GPU, pods waiting and
    running, and the fragmented milli-GPU (FGD's F(M) summed over the nodes in the cluster,
    against the trace's typical pods: idle GPU those pods could not use)."""

    time: float
    allocated_milli: int
    capacity_milli: int
    pending: int
    running: int
    fragmented_milli: float = 0.0

    @property
    def fragmentation(self) -> float:
        """Fragmented share of the GPU capacity, 0..1 (0 with no capacity)."""
        return self.fragmented_milli / self.capacity_milli if self.capacity_milli else 0.0

    @property
    def utilization(self) -> float:
        """Allocated share of the GPU capacity, 0..1 (0 with no capacity)."""
        return self.allocated_milli / self.capacity_milli if self.capacity_milli else 0.0


@dataclass(frozen=True)
class ReplaySummary:
    """A run in figures. Waiting times are seconds over the pods that started (None when none
    did); `makespan` runs from the first arrival to the end of the run; `mean_utilization` is
    0..1."""

    pods: int
    started: int
    completed: int
    running: int
    pending: int
    evicted: int
    not_arrived: int
    wait_mean: float | None
    wait_p50: float | None
    wait_p95: float | None
    wait_p99: float | None
    makespan: float
    mean_utilization: float
    gpu_hours: float
    mean_fragmentation: float = 0.0


@dataclass(frozen=True)
class ReplayResult:
    """One (workload, policy, seed) replay.

    `gpu_hours` maps every GPU model code of the trace's nodes to the GPU-hours allocated on
    it. `attempts` counts the scheduling cycles run, `retries_skipped` the retries answered
    without one (see the module docstring). `mean_utilization` and `mean_fragmentation` are
    time-weighted shares of the capacity, 0..1: allocated GPU, and fragmented GPU (FGD's
    F(M), `Sample.fragmented_milli`).

    For the cost of capacity (`dralloc.sim.costs`), per GPU model code over the charged window
    (from the first arrival to the end of the run): `capacity_gpu_hours`, the GPU-hours
    provisioned (nodes in the cluster x time), and `fragmented_gpu_hours`, the part of them
    free but fragmented (FGD's F(M) against the trace's typical pods). `gpu_hours` is the part
    used; the rest is idle. With an autoscaled fleet, its nodes are provisioned from launch
    to gone (what is billed), and `autoscaling` says what the fleet did.
    """

    workload: str
    policy: str
    seed: int
    pods: tuple[PodOutcome, ...]
    samples: tuple[Sample, ...]
    gpu_hours: Mapping[str, float]
    start_time: float
    end_time: float
    mean_utilization: float
    attempts: int
    retries_skipped: int
    mean_fragmentation: float = 0.0
    capacity_gpu_hours: Mapping[str, float] = field(default_factory=dict)
    fragmented_gpu_hours: Mapping[str, float] = field(default_factory=dict)
    autoscaling: AutoscalingSummary | None = None

    def waiting_times(self) -> list[float]:
        return [w for p in self.pods if (w := p.waiting) is not None]

    def completed_gpu_hours(self) -> float:
        """The GPU-hours of the pods that ran to completion (the work done; a pod evicted or
        still running at the end counts nothing here)."""
        milli_seconds = sum(
            p.gpu_milli * (p.end - p.start)
            for p in self.pods
            if p.state is PodState.COMPLETED and p.start is not None and p.end is not None
        )
        return milli_seconds / 1000 / 3600

    def summary(self) -> ReplaySummary:
        counts = dict.fromkeys(PodState, 0)
        for pod in self.pods:
            counts[pod.state] += 1
        waits = sorted(self.waiting_times())
        return ReplaySummary(
            pods=len(self.pods),
            started=len(waits),
            completed=counts[PodState.COMPLETED],
            running=counts[PodState.RUNNING],
            pending=counts[PodState.PENDING],
            evicted=counts[PodState.EVICTED],
            not_arrived=counts[PodState.NOT_ARRIVED],
            wait_mean=sum(waits) / len(waits) if waits else None,
            wait_p50=percentile(waits, 50),
            wait_p95=percentile(waits, 95),
            wait_p99=percentile(waits, 99),
            makespan=self.end_time - self.start_time,
            mean_utilization=self.mean_utilization,
            gpu_hours=sum(self.gpu_hours.values()),
            mean_fragmentation=self.mean_fragmentation,
        )


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) of sorted values, interpolating linearly between the two
    nearest ranks (numpy's default); None for no values."""
    if not ordered:
        return None
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
