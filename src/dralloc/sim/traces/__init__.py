"""Trace loaders: each reads one trace into its own records and converts them to the request
model the simulator consumes. Loading and arithmetic only: no DRA objects, no scheduling, no
replay (an import-linter contract keeps this package below `sim.openb_objects`,
`sim.experiment`, `sim.replay` and the scheduler).

Design:

- **One module per trace, one record type per row.** `openb` reads the openb node and pod
  lists into `OpenbNode` and `OpenbPod` (QoS, phase and times kept); `dlrm` reads the Alibaba
  DLRM trace into `DlrmInstance` (role, app, limits, RDMA, disk, times kept); `synthetic`
  draws `SyntheticPod`s (kind, bound model, arrival, duration). `node_events` reads the
  `--node-events` file into the timeline's `NodeEvent`s. `rows` is the CSV reader they share.
- **One neutral request model** (`model`): a `TracePod` (name, CPU milli-cores, memory MiB,
  GPU count, milli-GPU per GPU, allowed models) and a `TraceNode` (name, CPU, memory, GPU
  count, model), with `GpuModels` resolving model codes to catalog models. The FGD
  experiment places an `ArrivalTrace`; a replay runs a `timeline.ReplayTrace` of `TimedPod`s.
- **Conversion happens in the loader, once.** Each loader's `trace_pod` (and `openb`'s
  `trace_node`) turns its record into the model; `openb.arrival_trace`, `openb.replay_trace`,
  `dlrm.replay_trace` and `synthetic.generate` build the traces. Nothing downstream reads a
  loader's records.
- **Batch jobs** (`jobs`): a job trace is a `JobTrace` of `BatchJob`s (arrival, duration,
  `workers` pods of `gpus_per_worker` GPUs that start together, a tenant, a priority) and the
  `Tenant`s they belong to, each with a nominal GPU quota. `itp` reads Microsoft ITP's
  ElasticFlow trace, `helios` Helios' per-VC GPU quotas (tenants), `synthetic_jobs` draws a
  seeded trace; `job_resolve.resolve_job_trace` takes `itp-elasticflow[:...]`,
  `dlrm-jobs[:...]` and `synthetic-jobs[:...]`. `sim.batch_objects` makes the Kubernetes
  objects (Kueue queues, Indexed Jobs, PodGroups) from them.
- **Names users give** resolve in `resolve`: `resolve_arrival_trace` (`openb:<variant>`) and
  `resolve_replay_trace` (`openb:<variant>`, `dlrm[:...]`, `synthetic[:...]`).

Example::

    trace = resolve_replay_trace("synthetic:pods=500,seed=7")
    trace.pods[0].pod  # TracePod(name='syn-00000', ...)
"""

from dralloc.sim.traces.job_resolve import JOB_TRACES, resolve_job_trace
from dralloc.sim.traces.jobs import BatchJob, JobTrace, Tenant
from dralloc.sim.traces.model import GPU_MILLI, ArrivalTrace, GpuModels, TraceNode, TracePod
from dralloc.sim.traces.node_events import load_node_events, with_node_events
from dralloc.sim.traces.resolve import (
    REPLAY_TRACES,
    resolve_arrival_trace,
    resolve_replay_trace,
)
from dralloc.sim.traces.timeline import NodeAction, NodeEvent, ReplayTrace, TimedPod

__all__ = [
    "GPU_MILLI",
    "JOB_TRACES",
    "REPLAY_TRACES",
    "ArrivalTrace",
    "BatchJob",
    "GpuModels",
    "JobTrace",
    "NodeAction",
    "NodeEvent",
    "ReplayTrace",
    "Tenant",
    "TimedPod",
    "TraceNode",
    "TracePod",
    "load_node_events",
    "resolve_arrival_trace",
    "resolve_job_trace",
    "resolve_replay_trace",
    "with_node_events",
]
