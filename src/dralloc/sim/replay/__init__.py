"""Time-based replay: a trace's pods arrive, wait, run and leave on a virtual clock, scheduled
by the same scheduler, plugins and DRA allocator as everything else.

The engine owns virtual time and nothing else of the cluster: the scheduler cache owns nodes,
pods and device usage, the `SchedulingQueue` owns every waiting pod. There is no second model
of GPUs: nodes and pods become Nodes, ResourceSlices, Pods and ResourceClaims through
`openb_objects`, and each run uses `experiment.build_simulation`, the FGD experiment's profile
(NodeResourcesFit, GpuCapacityFilter, DynamicResources, one of `POLICIES`).

Design:

- **One heap of `(time, seq, kind, payload)`**, `seq` from a counter, so equal times replay
  identically. Events: a pod's arrival (at `TimedPod.arrival`), its completion (start +
  `duration`), a node joining or leaving (`ReplayTrace.node_events`), and the queue's two
  background loops (spec/scheduler.md 1.9). All events of one time are applied, then the queue
  is drained: a scheduling cycle takes no virtual time and binding is synchronous.
- **The real queue.** Arrivals go through `SchedulingQueue.add`; a rejected pod goes back
  through `add_unschedulable_if_not_present`, so backoff (1 s doubling to 10 s, the error
  backoff too), the unschedulable pool and PopFromBackoffQ apply in virtual time. Only the
  ticks that can move a pod are put on the heap: a backoff flush at the first whole second
  after a pod's backoff ends, and (when enabled) a leftover flush at the first 30 s tick after
  a pod has waited 5 minutes.
- **Cluster events and hints (1.8).** A completion raises `Pod/Delete` (with the pod that
  left) and a node joining `Node/Add` (with the node); the queue asks each pod in the
  unschedulable pool the queueing hints its rejecting plugins declared
  (`SchedulingQueue.on_event`), exactly as kube-scheduler's queue does, so a completion
  requeues every pod NodeResourcesFit or GpuCapacityFilter rejected, and a pod that could not
  use the room is tried and goes behind newer pods (upstream's thundering herd). The engine
  has no model of its own of what fits where.
- **Retries that cannot succeed are not run** (`ReplayOptions.skip_hopeless_retries`, on):
  placing pods only takes capacity, and capacity comes back only through the events above.
  When a requeued pod is popped and none of the nodes that gained capacity since its last
  rejection passes the profile's own PreFilter and Filter plugins now, a cycle would reject
  it again: it goes back with its rejecting plugins, and the queue sees an attempt, a new
  timestamp and a longer backoff, as after a cycle. The rejecting plugins are those a
  cycle would name: each node's rejecting plugin, kept per pod shape and node generation
  (learned from the failed cycle's own per-node statuses, kept current as nodes gain room,
  lose it, join, publish their devices later, are cordoned or leave), so the same events
  requeue the pod and the retries counted equal those of a run without the shortcut, as do
  the placements (`retries.py` says what changes when some Filter plugin is not node-local);
  tests compare the two, on static clusters and on autoscaled fleets.

Modules: `engine` (the loop), `virtualtime` (clock and heap), `cluster` (`ReplayCluster`: pods
and nodes coming and going, what the admission and the fleet driver call), `retries`,
`measures` (samples and the result's figures), `gangs`, `records`, `results`, `evictions`
(why a run was stopped, what it lost), `autoscaled`.
- **The leftover flush** (every 30 s, each pod waiting over 5 minutes is retried) is off by
  default: with the hints above it can never place a pod, only send it behind newer pods, and
  in a jammed cluster it costs a queue round trip per waiting pod every 5.5 minutes of
  virtual time, which dominates a month-long replay. `flush_leftover=True` runs it.
- **End.** The run ends after the last arrival, completion or node event (and the
  error-backoff retries that event may let succeed), or at `ReplayOptions.horizon`. Pods
  still queued then are pending; pods running (including those
  without a duration, which never end) are running, and their GPU time counts up to the end.
- **Nodes leaving.** A node that leaves takes its pods with it: they are counted as evicted,
  with their GPU time up to then, and not restarted (no controller recreates them). With
  queues, the admission hears first (`ReplayAdmission.node_removed`): Kueue evicts the
  admitted jobs that ran there, and their pods wait to run again from the start. Every node
  of the trace publishes its ResourceSlices from the start; a node outside the cluster simply
  is not in the cache, so the scheduler never considers it.

Measures: per pod, waiting time (arrival to the start of its last run, the one that
completed) and the first start's wait; every run evicted before completing (`Eviction`: pod,
node, `EvictionCause`, its span and GPU request), whose GPU time is lost work; over time
(every `sample_interval` seconds), allocated milli-GPU, capacity, pending and running pods,
and fragmented milli-GPU (the FGD paper's F(M) against the trace's typical pods, as the FGD
experiment measures it); GPU-hours per GPU model (allocated GPUs x run time, fractions
counted as fractions, evicted runs included); mean utilization and mean fragmentation, the
time-weighted allocated / capacity and fragmented / capacity.

Example::

    trace = resolve_replay_trace("openb:default")  # dralloc.sim.traces
    result = replay(trace, "fgd", seed=42)
    result.summary().wait_p95, result.gpu_hours["G2"]

Gangs (`ReplayGangs`: PodGroups and which pods join them, with the gates GenericWorkload and
GangScheduling on): GangScheduling's PreEnqueue keeps a gang's pods out of activeQ until its
PodGroup exists and `minCount` members have arrived; popping one member takes its queued
siblings with it (`pop_gang`) and one pod-group cycle (`schedule_gang_entity`) starts them
all or none, counting members already running toward the quorum. The hopeless-retry shortcut
is not taken for gang members. A member arriving requeues its siblings that GangScheduling
held back (upstream's hint for Pod/Add: same group only). Pods in no gang run exactly as
without `gangs`.

Queues (`admission`, a `ReplayAdmission`: Kueue's admission in `dralloc.sim.queue_replay`):
the pods it holds wait for their job's admission instead of entering the scheduling queue on
arrival. After the events of each instant and before the drain, the admission releases the
admitted jobs' pods into the queue, or (placement-aware admission) places a job's pods at once
with `place_gang` on the cache and binds them, and evicts preempted jobs' pods (running ones
stop with their GPU time counted; a completion already on the heap for an earlier run of a
pod is ignored). An evicted pod is pending again and may run again when re-admitted.

An autoscaled fleet (`ReplayOptions.autoscaling`, a `ReplayAutoscaling`: `dralloc.autoscaling`'s
`static` or `cluster-autoscaler` mode, `replay.autoscaled`) replaces the trace's nodes: each
node joins at Ready, publishes its slices at DevicesPublished, is drained at Deleting and its
slices go at Gone, all on the heap as real events; the autoscaler's loop runs on scan ticks,
and `ReplayResult.autoscaling` (an `AutoscalingSummary`) says what the fleet did and cost.
"""

from dralloc.sim.replay.autoscaled import AutoscalingSummary, ReplayAutoscaling
from dralloc.sim.replay.engine import LEFTOVER_FLUSH_PERIOD, replay
from dralloc.sim.replay.results import (
    AdmissionCluster,
    Eviction,
    EvictionCause,
    PodOutcome,
    PodState,
    ReplayAdmission,
    ReplayGangs,
    ReplayOptions,
    ReplayResult,
    ReplaySummary,
    Sample,
    percentile,
)

__all__ = [
    "LEFTOVER_FLUSH_PERIOD",
    "AdmissionCluster",
    "AutoscalingSummary",
    "Eviction",
    "EvictionCause",
    "PodOutcome",
    "PodState",
    "ReplayAdmission",
    "ReplayAutoscaling",
    "ReplayGangs",
    "ReplayOptions",
    "ReplayResult",
    "ReplaySummary",
    "Sample",
    "percentile",
    "replay",
]
