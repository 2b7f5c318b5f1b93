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
from dralloc.sim.replay.evictions import MILLI_HOURS, Eviction, EvictionCause

__all__ = [
    "AdmissionCluster",
    "Eviction",
    "EvictionCause",
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

    def evict(self, indices: Sequence[int], cause: EvictionCause | None = None) -> None:
        """Take the pods off the cluster (running) or out of the scheduling queue (waiting):
        they are pending again, their GPU time up to now counted and each stopped run
        recorded as an `Eviction` for `cause`. None: while a node leaves
        (`ReplayAdmission.node_removed`), that node's cause; otherwise `PREEMPTION` (the
        admission's own evictions). A completed pod evicted with its job runs again: its
        completed run is recorded as evicted too (its work is done over)."""


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
    EVICTED = "Evicted"  # its node left the cluster and nothing runs it again
    NOT_ARRIVED = "NotArrived"  # arrives after the horizon


@dataclass(frozen=True, slots=True)
class PodOutcome:
    """One pod's replay, in seconds: `start`/`end`, `node` and `model` (the node's GPU
    model code) of its last run: the one that completed, is still running at the end (no
    `end`) or, for an `EVICTED` pod, the one its node's leaving stopped. A pod evicted and
    pending again at the end has none (the runs it lost are the result's `evictions`).
    `first_start` is when it first started, whatever became of that run; `evictions` how
    many of its runs were stopped before completing; `gpu_milli` its total GPU request."""

    name: str
    arrival: float
    start: float | None
    end: float | None
    node: str | None
    model: str | None
    gpu_milli: int
    state: PodState
    first_start: float | None = None
    evictions: int = 0

    @property
    def waiting(self) -> float | None:
        """Arrival to the start of its last run (the run that completed, for a completed
        pod): the wait a batch user sees before the job's result. A pod evicted and
        restarted waits through its lost runs too; None when its last run has not started."""
        return None if self.start is None else self.start - self.arrival

    @property
    def first_start_wait(self) -> float | None:
        """Arrival to its first start: the scheduler's own delay, evictions left out."""
        return None if self.first_start is None else self.first_start - self.arrival


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
    """A run in figures. `started` counts the pods that ever started. Waiting times are
    seconds: `wait_*` from arrival to the start of each pod's last run (the run that
    completed, `PodOutcome.waiting`) over the pods whose last run started, `first_start_wait_*`
    from arrival to the first start over the pods that ever started (None when none did);
    the two differ only for evicted pods. `makespan` runs from the first arrival to the end
    of the run; `mean_utilization` is 0..1. `evicted` counts pods whose node left and that
    nothing ran again (`PodState.EVICTED`); `evictions` counts the runs stopped before
    completing, per cause (every `EvictionCause`, zeros included, in its order),
    `evicted_pods` the pods with at least one, and `lost_gpu_hours` their runs' GPU time:
    work done over, which `gpu_hours` (all GPU time held) includes."""

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
    first_start_wait_mean: float | None = None
    first_start_wait_p50: float | None = None
    first_start_wait_p95: float | None = None
    first_start_wait_p99: float | None = None
    evictions: Mapping[str, int] = field(default_factory=dict)
    evicted_pods: int = 0
    lost_gpu_hours: float = 0.0

    @property
    def evictions_total(self) -> int:
        return sum(self.evictions.values())


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

    `evictions` lists every run stopped before completing, in time order: its GPU time is
    in `gpu_hours` (the GPUs were held) and is lost work (`lost_gpu_hours`), so the GPU time
    held is `completed_gpu_hours() + lost_gpu_hours() + ` the running pods' up to the end.
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
    evictions: tuple[Eviction, ...] = ()

    def waiting_times(self) -> list[float]:
        """Per pod whose last run started, arrival to that start (`PodOutcome.waiting`)."""
        return [w for p in self.pods if (w := p.waiting) is not None]

    def first_start_waiting_times(self) -> list[float]:
        """Per pod that ever started, arrival to its first start."""
        return [w for p in self.pods if (w := p.first_start_wait) is not None]

    def lost_gpu_hours(self) -> float:
        """The GPU-hours of runs evicted before completing (work the pods did over)."""
        return sum(e.gpu_milli * (e.end - e.start) for e in self.evictions) / MILLI_HOURS

    def lost_gpu_hours_by_model(self) -> dict[str, float]:
        """`lost_gpu_hours` per GPU model code (every model of `gpu_hours`), for its cost."""
        lost = dict.fromkeys(self.gpu_hours, 0.0)
        for e in self.evictions:
            if e.model:
                lost[e.model] = lost.get(e.model, 0.0) + e.lost_gpu_hours
        return lost

    def evictions_by_cause(self) -> dict[str, int]:
        """Every `EvictionCause`, in its order, with how many runs it stopped."""
        counts = dict.fromkeys(map(str, EvictionCause), 0)
        for eviction in self.evictions:
            counts[eviction.cause] += 1
        return counts

    def completed_gpu_hours(self) -> float:
        """The GPU-hours of the pods that ran to completion (the work done; a pod evicted or
        still running at the end counts nothing here)."""
        milli_seconds = sum(
            p.gpu_milli * (p.end - p.start)
            for p in self.pods
            if p.state is PodState.COMPLETED and p.start is not None and p.end is not None
        )
        return milli_seconds / MILLI_HOURS

    def summary(self) -> ReplaySummary:
        counts = dict.fromkeys(PodState, 0)
        for pod in self.pods:
            counts[pod.state] += 1
        waits = sorted(self.waiting_times())
        first = sorted(self.first_start_waiting_times())
        return ReplaySummary(
            pods=len(self.pods),
            started=len(first),
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
            first_start_wait_mean=sum(first) / len(first) if first else None,
            first_start_wait_p50=percentile(first, 50),
            first_start_wait_p95=percentile(first, 95),
            first_start_wait_p99=percentile(first, 99),
            evictions=self.evictions_by_cause(),
            evicted_pods=len({e.pod for e in self.evictions}),
            lost_gpu_hours=self.lost_gpu_hours(),
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
