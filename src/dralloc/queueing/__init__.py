"""Batch queueing with Kueue's semantics and objects (`kueue.x-k8s.io/v1beta2`), quota counted
in DRA terms. Pure and offline: every function takes its state; nothing is global.

Modules, lowest first:

* `objects`: ResourceFlavor, ClusterQueue, Cohort, LocalQueue, Workload, WorkloadPriorityClass
  (v1beta1 and the v1alpha1 Cohort are converted); `validation`: Kueue's webhook rules;
  `reader`: raw documents (as `dralloc.api.io` sets them aside) -> validated objects.
* `quota`: the cohort tree's arithmetic per (flavor, resource): subtree quota, usage,
  available, potentially available, borrowing level.
* `dra` and `requests`: what a Workload's pod sets charge: pod requests, DeviceClass mappings
  (device, counter and capacity modes) and dralloc's extension keys
  (`devices.dralloc.io/<class>`, `<driver>/counter.<name>`, `<driver>/capacity.<name>`).
* `flavors`: flavor assignment (Fit / Preempt / NoFit, borrowing, fungibility, partial
  admission).
* `state`: the long-lived cache (`QueueState`) and its per-cycle `Snapshot`; `queues`: the
  per-ClusterQueue heaps (`QueueManager`); `fairsharing`: DRS and the tournament; `afs`:
  Admission Fair Sharing (LocalQueue usage ordering inside a ClusterQueue);
  `preemption`: classical preemption (`ClassicalPreemptor`); `fairpreemption`: fair-sharing
  preemption (`FairSharingPreemptor`, with `QueueConfig(fair_sharing=True)`).
* `jobs`: the Workload Kueue's Job and JobSet integrations create (`workload_for_job`).
* `topology`: Kueue's Topology, the pod-set topology request from pod-template annotations,
  the compact `topologyAssignment`; `tas`: Topology-Aware Scheduling's placement of one pod
  set over a flavor's domains (`TASFlavorSnapshot`, DRA devices counted per domain), with
  `tasnodes` for what one leaf holds;
  `tasplacement`: the `PlacementCheck` that runs TAS at admission (`TopologyPlacement`) and
  the nodeSelectors the pods get (`pod_set_node_selectors`).
* `cycle`: one admission cycle (`schedule`, `Nominations` to share answers between
  equivalent heads, `PreemptionPlacement` for victims that let the preemptor be placed,
  `AlikePlacement` for what-if answers alike heads share),
  evictions (`evict`, `evict_for_node_failure` with reason `NODE_FAILURES`); `status`: the
  conditions written; `explain`: why a Workload waits.

Typical use (the simulator or a live controller owns `state` and `manager`):

    inputs = read_queue_files(["kueue/"])            # InputError naming file/object/field
    inputs.add_job_workloads()                       # Kueue's Job / JobSet integration
    state = QueueState.build(inputs); check(state)   # cohort cycles are an InputError
    manager = QueueManager(state); manager.add_all(inputs.workloads.values())
    placement = TopologyPlacement.from_input(inputs, claims)  # TAS flavors, if any
    result = schedule(state, manager, now, preemptor=ClassicalPreemptor(), placement=placement)
    for victim, preemptor, reason in result.preemptions:
        evict(state, manager, inputs.workloads[victim], preemptor, reason, now)
    print(explain(state, manager, "team-a/job-1"))   # why it waits, with shortfalls
    statuses = queue_statuses(state, manager)        # ClusterQueue status, Kueue's shape

The owner runs `schedule` again after every event (an admission, an eviction, a Workload
added or finished: `state.release(key)`, `placement.forget(key)`, then
`manager.on_quota_released(cq)`); admitted pods get their domains from `ungate_pods`.
"""

from dralloc.queueing.afs import AdmissionFairSharing, AdmissionFairSharingConfig
from dralloc.queueing.cycle import (
    NODE_FAILURES,
    AlikePlacement,
    CycleResult,
    NeverPreempt,
    Nominations,
    PlacementCheck,
    PlacementTrial,
    PreemptionPlacement,
    Preemptor,
    QueueConfig,
    Target,
    evict,
    evict_for_node_failure,
    nominate,
    schedule,
)
from dralloc.queueing.dra import DeviceClassMapping, DraQuotaConfig, MappingSource
from dralloc.queueing.explain import Explanation, explain
from dralloc.queueing.fairpreemption import FairSharingPreemptor
from dralloc.queueing.fairsharing import DRS, dominant_resource_share
from dralloc.queueing.flavors import Assignment, Mode, Shortfall, assign_flavors
from dralloc.queueing.jobs import workload_for_job, workload_for_jobset
from dralloc.queueing.objects import (
    ClusterQueue,
    Cohort,
    LocalQueue,
    ResourceFlavor,
    Workload,
    WorkloadPriorityClass,
)
from dralloc.queueing.preemption import ClassicalPreemptor
from dralloc.queueing.queues import QueueManager, queue_statuses
from dralloc.queueing.quota import FlavorResource, Quota, QuotaNode
from dralloc.queueing.reader import QueueInput, decode_document, decode_documents, read_queue_files
from dralloc.queueing.requests import workload_requests
from dralloc.queueing.state import QueueState, Reservation, Snapshot, check
from dralloc.queueing.status import PendingReason
from dralloc.queueing.tas import TASFlavorSnapshot, TASPodSetRequest, TASResult
from dralloc.queueing.tasplacement import TopologyPlacement, pod_set_node_selectors
from dralloc.queueing.topology import (
    DomainAssignment,
    Topology,
    TopologyRequest,
    decode_assignment,
    encode_assignment,
    pod_node_selectors,
    topology_request_from_annotations,
    ungate_pods,
)

__all__ = [
    "DRS",
    "NODE_FAILURES",
    "AdmissionFairSharing",
    "AdmissionFairSharingConfig",
    "AlikePlacement",
    "Assignment",
    "ClassicalPreemptor",
    "ClusterQueue",
    "Cohort",
    "CycleResult",
    "DeviceClassMapping",
    "DomainAssignment",
    "DraQuotaConfig",
    "Explanation",
    "FairSharingPreemptor",
    "FlavorResource",
    "LocalQueue",
    "MappingSource",
    "Mode",
    "NeverPreempt",
    "Nominations",
    "PendingReason",
    "PlacementCheck",
    "PlacementTrial",
    "PreemptionPlacement",
    "Preemptor",
    "QueueConfig",
    "QueueInput",
    "QueueManager",
    "QueueState",
    "Quota",
    "QuotaNode",
    "Reservation",
    "ResourceFlavor",
    "Shortfall",
    "Snapshot",
    "TASFlavorSnapshot",
    "TASPodSetRequest",
    "TASResult",
    "Target",
    "Topology",
    "TopologyPlacement",
    "TopologyRequest",
    "Workload",
    "WorkloadPriorityClass",
    "assign_flavors",
    "check",
    "decode_assignment",
    "decode_document",
    "decode_documents",
    "dominant_resource_share",
    "encode_assignment",
    "evict",
    "evict_for_node_failure",
    "explain",
    "nominate",
    "pod_node_selectors",
    "pod_set_node_selectors",
    "queue_statuses",
    "read_queue_files",
    "schedule",
    "topology_request_from_annotations",
    "ungate_pods",
    "workload_for_job",
    "workload_for_jobset",
    "workload_requests",
]
