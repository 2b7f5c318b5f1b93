"""Node autoscaling on the virtual clock: the foundation (spec/autoscaling.md §1-3).

What a replay needs to grow and shrink its fleet, without the scaler loops themselves:

* `reader` / `config`: the `kind: Autoscaling` file (apiVersion `dralloc.io/v1alpha1`) read into
  typed, validated values, every problem reported at once with file, object and field path;
* `delays`: provisioning delay distributions (`fixed:`, `uniform:`, `lognormal:`,
  `empirical:`) and the per-node random source seeded from (run seed, node name);
* `lifecycle`: a node's phases from request to gone on the virtual clock, its cluster events
  and its bill;
* `templates`: device-aware node templates built by `cluster generate`'s slice builder, copied
  with cluster-autoscaler's sanitizing rule, and the readiness test for upcoming nodes;
* `fleet`: the nodes one run requested, named, seeded and billed;
* `utilization`: node utilization exactly as cluster-autoscaler computes it (DRA pools with and
  without shared counters), dralloc's `device` variant, and the scale-down threshold.

The cluster-autoscaler mode (§4, §6) built on it:

* `clusterautoscaler`: `ClusterAutoscaler`, the loop (`run_once` every `scanInterval`) that
  grows and shrinks a `Fleet` from the cluster's objects and the unschedulable pods; its base
  `FleetAutoscaler`, what both modes hold (templates, seeded rng, the planning snapshot);
* `planning`: `ClusterState` (the objects the scheduler takes) and `PlanningSnapshot`, the
  private what-if cluster built with the real scheduler framework and DRA allocator;
* `scaleup`, `estimator`, `expanders`: estimates on template copies, limits, the expander
  chain and the provider's answer;
* `scaledown`, `drain`, `backoff`: unneeded timers and deletions, drainability and removal
  what-ifs, per-group exponential backoff;
* `decisions`, `status`: the typed decision records and the status ConfigMap summary.

ProvisioningRequests and CapacityBuffers (§7, §8):

* `provisioningrequest`, `capacitybuffer`: the two kinds as typed values, their conditions,
  chunk counts, and the Kueue admission-check mapping (`kueue_check_state`);
* `objects`: their manifests (with PodTemplates and ResourceClaimTemplates) read and validated;
* `provisioning`: check-capacity, best-effort-atomic, booking and expiry in the loop;
* `virtualpods`: the planned pods both place in the snapshot, with in-memory claims.

The karpenter mode (§5):

* `karpenter`: `Karpenter`, batching, NodeClaims whose candidate shapes narrow as pods join,
  pool weights and limits, capacity-type preference, and upstream's DRA gaps counted;
* `disruption`: expiry, emptiness, drift, multi- and single-node consolidation, budgets.

Imports `dralloc.api`, `dralloc.devices`, `dralloc.errors`, and for the scaler's what-ifs
`dralloc.scheduler` and `dralloc.queueing`'s request arithmetic; never `dralloc.sim`,
`dralloc.kube` or `dralloc.cli`, which wire it in.
"""

from dralloc.autoscaling.backoff import NodeGroupBackoff
from dralloc.autoscaling.capacitybuffer import (
    BufferStatus,
    CapacityBuffer,
    ScalableTarget,
    buffer_pods,
    buffer_status,
)
from dralloc.autoscaling.clusterautoscaler import (
    ClusterAutoscaler,
    FleetAutoscaler,
    FleetView,
    UnschedulablePod,
)
from dralloc.autoscaling.config import (
    API_VERSION,
    KIND,
    AutoscalingConfig,
    Availability,
    BillingStart,
    Buffer,
    CapacityType,
    ChunkStatistic,
    ConsolidationPolicy,
    Disruption,
    DisruptionBudget,
    DisruptionReason,
    Forecaster,
    Interruption,
    Mode,
    NodeGroup,
    NodeGroupOptions,
    NodePool,
    Options,
    PackOrder,
    Predictor,
    Provisioning,
    Shape,
    Sizing,
    SizingObjective,
    TemplateSource,
    UtilizationMode,
)
from dralloc.autoscaling.decisions import (
    BlockingPodReason,
    Decision,
    Disrupted,
    FailedScaleUpReason,
    LoopResult,
    NodeClaimLaunch,
    NoScaleUp,
    NoScaleUpReason,
    Offering,
    ProvisioningRequestUpdate,
    ScaleDown,
    ScaleUp,
    ScaleUpFailure,
    SpotInterruption,
    Unremovable,
    UnremovableReason,
)
from dralloc.autoscaling.delays import (
    DelayDistribution,
    EmpiricalDelay,
    FixedDelay,
    LognormalDelay,
    UniformDelay,
    node_random,
    parse_delay,
)
from dralloc.autoscaling.estimator import Estimate, estimate, pack_order
from dralloc.autoscaling.expanders import Option, choose
from dralloc.autoscaling.fields import parse_duration
from dralloc.autoscaling.fleet import Fleet, FleetNode
from dralloc.autoscaling.karpenter import Karpenter, KarpenterResult, UpstreamGap
from dralloc.autoscaling.lifecycle import (
    Billing,
    ClusterChange,
    NodeLifecycle,
    NodePhase,
    StartupFailure,
    Transition,
    billed_seconds,
)
from dralloc.autoscaling.objects import (
    AutoscalingObjects,
    load_autoscaling_objects,
    parse_autoscaling_objects,
    parse_autoscaling_objects_text,
)
from dralloc.autoscaling.planning import ClusterState, PlanningSnapshot
from dralloc.autoscaling.provisioningrequest import (
    CheckState,
    CheckUpdate,
    Condition,
    ConditionReason,
    ConditionType,
    NodeSelectorFromDetail,
    PodSet,
    PodSetUpdate,
    ProvisioningClass,
    ProvisioningRequest,
    RetryStrategy,
    kueue_check_state,
    request_parameters,
    required_pod_sets,
)
from dralloc.autoscaling.reader import load_autoscaling, parse_autoscaling, parse_autoscaling_text
from dralloc.autoscaling.templates import (
    NodeCopy,
    NodeShape,
    NodeTemplate,
    TemplateError,
    accelerator_key,
    build_template,
    complete_pools,
    is_upcoming,
    sanitize,
    undone_dra_driver,
)
from dralloc.autoscaling.utilization import (
    PodUsage,
    UtilizationError,
    UtilizationInfo,
    device_utilization,
    dynamic_resource_utilization,
    is_underutilized,
    node_utilization,
    pool_utilization,
    scale_down_threshold,
)
from dralloc.autoscaling.virtualpods import VirtualPod, materialize, place_virtual

__all__ = [
    "API_VERSION",
    "KIND",
    "AutoscalingConfig",
    "AutoscalingObjects",
    "Availability",
    "Billing",
    "BillingStart",
    "BlockingPodReason",
    "Buffer",
    "BufferStatus",
    "CapacityBuffer",
    "CapacityType",
    "CheckState",
    "CheckUpdate",
    "ChunkStatistic",
    "ClusterAutoscaler",
    "ClusterChange",
    "ClusterState",
    "Condition",
    "ConditionReason",
    "ConditionType",
    "ConsolidationPolicy",
    "Decision",
    "DelayDistribution",
    "Disrupted",
    "Disruption",
    "DisruptionBudget",
    "DisruptionReason",
    "EmpiricalDelay",
    "Estimate",
    "FailedScaleUpReason",
    "FixedDelay",
    "Fleet",
    "FleetAutoscaler",
    "FleetNode",
    "FleetView",
    "Forecaster",
    "Interruption",
    "Karpenter",
    "KarpenterResult",
    "LognormalDelay",
    "LoopResult",
    "Mode",
    "NoScaleUp",
    "NoScaleUpReason",
    "NodeClaimLaunch",
    "NodeCopy",
    "NodeGroup",
    "NodeGroupBackoff",
    "NodeGroupOptions",
    "NodeLifecycle",
    "NodePhase",
    "NodePool",
    "NodeSelectorFromDetail",
    "NodeShape",
    "NodeTemplate",
    "Offering",
    "Option",
    "Options",
    "PackOrder",
    "PlanningSnapshot",
    "PodSet",
    "PodSetUpdate",
    "PodUsage",
    "Predictor",
    "Provisioning",
    "ProvisioningClass",
    "ProvisioningRequest",
    "ProvisioningRequestUpdate",
    "RetryStrategy",
    "ScalableTarget",
    "ScaleDown",
    "ScaleUp",
    "ScaleUpFailure",
    "Shape",
    "Sizing",
    "SizingObjective",
    "SpotInterruption",
    "StartupFailure",
    "TemplateError",
    "TemplateSource",
    "Transition",
    "UniformDelay",
    "Unremovable",
    "UnremovableReason",
    "UnschedulablePod",
    "UpstreamGap",
    "UtilizationError",
    "UtilizationInfo",
    "UtilizationMode",
    "VirtualPod",
    "accelerator_key",
    "billed_seconds",
    "buffer_pods",
    "buffer_status",
    "build_template",
    "choose",
    "complete_pools",
    "device_utilization",
    "dynamic_resource_utilization",
    "estimate",
    "is_underutilized",
    "is_upcoming",
    "kueue_check_state",
    "load_autoscaling",
    "load_autoscaling_objects",
    "materialize",
    "node_random",
    "node_utilization",
    "pack_order",
    "parse_autoscaling",
    "parse_autoscaling_objects",
    "parse_autoscaling_objects_text",
    "parse_autoscaling_text",
    "parse_delay",
    "parse_duration",
    "place_virtual",
    "pool_utilization",
    "request_parameters",
    "required_pod_sets",
    "sanitize",
    "scale_down_threshold",
    "undone_dra_driver",
]
