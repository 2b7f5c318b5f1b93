"""The `kind: Autoscaling` configuration (apiVersion `dralloc.io/v1alpha1`) as typed values.

Owns the model only: frozen dataclasses holding what `dralloc.autoscaling.reader` validated
(spec/autoscaling.md §2, with the option names of §4.6 and §5 in upstream spelling). No I/O, no
validation here; every value is already checked when a config exists. Times are seconds
(floats), prices USD per node-hour, fractions in [0, 1].

What later work fills in is typed but not acted on yet: `buffers` (§8), `predictor` (§9), the
`warmPool` (§9.4, held as `dralloc.autoscaling.prediction.WarmPool`) and `sizing` (§9.6)
sections, the karpenter options and `nodePools` (§5). A field's comment names its unit, default
and source.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from dralloc.api.quantity import Quantity
from dralloc.autoscaling.delays import DelayDistribution, FixedDelay
from dralloc.autoscaling.templates import NodeShape, NodeTemplate, build_template
from dralloc.devices.catalog import Catalog

if TYPE_CHECKING:
    # The prediction package reads this module's Predictor: a run-time import would be a cycle.
    from dralloc.autoscaling.prediction.warmpools import WarmPool

API_VERSION = "dralloc.io/v1alpha1"
KIND = "Autoscaling"


class Mode(StrEnum):
    STATIC = "static"
    CLUSTER_AUTOSCALER = "cluster-autoscaler"
    KARPENTER = "karpenter"
    ORACLE = "oracle"


class CapacityType(StrEnum):
    """Karpenter's `karpenter.sh/capacity-type` values, plus capacity blocks (§6)."""

    ON_DEMAND = "on-demand"
    SPOT = "spot"
    RESERVED = "reserved"
    BLOCK = "block"


# `price` keys in the file -> capacity type.
PRICE_KEYS: Mapping[str, CapacityType] = {
    "onDemand": CapacityType.ON_DEMAND,
    "spot": CapacityType.SPOT,
    "reserved": CapacityType.RESERVED,
    "block": CapacityType.BLOCK,
}


class TemplateSource(StrEnum):
    """(dralloc) `computed`: scale from zero always works; `observed`: only once a node of the
    group has existed, as upstream without a provider template."""

    COMPUTED = "computed"
    OBSERVED = "observed"


class BillingStart(StrEnum):
    LAUNCHED = "launched"
    REQUEST = "request"


class UtilizationMode(StrEnum):
    """(dralloc) `ca`: exactly cluster-autoscaler's (§3.3); `device`: fraction of GPUs used."""

    CA = "ca"
    DEVICE = "device"


class PackOrder(StrEnum):
    CA = "ca"
    DEVICE = "device"


class ConsolidationPolicy(StrEnum):
    WHEN_EMPTY = "WhenEmpty"
    WHEN_EMPTY_OR_UNDERUTILIZED = "WhenEmptyOrUnderutilized"
    BALANCED = "Balanced"


class DisruptionReason(StrEnum):
    EMPTY = "Empty"
    UNDERUTILIZED = "Underutilized"
    DRIFTED = "Drifted"


class Forecaster(StrEnum):
    NONE = "none"
    SEASONAL_NAIVE = "seasonal-naive"
    SEASONAL_QUANTILE = "seasonal-quantile"
    HOLT_WINTERS = "holt-winters"
    EWMA_PEAK = "ewma-peak"
    # §9.5's upper bound: not a function of the past; the replay reads the trace ahead.
    ORACLE = "oracle"


class ChunkStatistic(StrEnum):
    """How a predictor's buffer chunk is sized from a class's pods (their GPUs per pod)."""

    P90 = "p90"
    MODE = "mode"
    MAX = "max"


# cluster-autoscaler's expanders (names of `--expander`), plus dralloc's `device-waste`.
EXPANDERS = (
    "least-waste",
    "most-pods",
    "least-nodes",
    "price",
    "priority",
    "random",
    "device-waste",
)

# §1 defaults for GPU shapes (dralloc): about 7 minutes from request to usable devices.
DEFAULT_DELAYS: Mapping[str, float] = {
    "launch": 90.0,
    "register": 30.0,
    "ready": 60.0,
    "devices": 240.0,
    "terminate": 30.0,
}


@dataclass(frozen=True)
class Provisioning:
    """Delay distributions per life-cycle step (seconds), §1."""

    launch: DelayDistribution = field(default_factory=lambda: FixedDelay(DEFAULT_DELAYS["launch"]))
    register: DelayDistribution = field(
        default_factory=lambda: FixedDelay(DEFAULT_DELAYS["register"])
    )
    ready: DelayDistribution = field(default_factory=lambda: FixedDelay(DEFAULT_DELAYS["ready"]))
    devices: DelayDistribution = field(
        default_factory=lambda: FixedDelay(DEFAULT_DELAYS["devices"])
    )
    terminate: DelayDistribution = field(
        default_factory=lambda: FixedDelay(DEFAULT_DELAYS["terminate"])
    )


@dataclass(frozen=True)
class Availability:
    """Stock-outs (§6): `launch_failure` probability per launch (0), `capacity` maximum
    concurrent nodes of the shape (None: unlimited), `capacity_trace` a `time,offering,capacity`
    file (read by later work), `reserved` how many nodes reserved capacity holds (0), `block`
    the [start, end) window in run seconds of a capacity block (dralloc spelling
    `block: {start: 2h, end: 26h}`; None: no block)."""

    launch_failure: float = 0.0
    capacity: int | None = None
    capacity_trace: str | None = None
    reserved: int = 0
    block: tuple[float, float] | None = None


@dataclass(frozen=True)
class Interruption:
    """Spot interruption (§6): exponential hazard per node-hour, notice in seconds (120, AWS)."""

    rate_per_hour: float = 0.0
    notice_seconds: float = 120.0
    interruption_trace: str | None = None


@dataclass(frozen=True)
class Shape:
    """One entry of `shapes`: a node shape with its prices, delays and supply.

    `node` is what its template is built from (`dralloc.autoscaling.templates`); `prices`
    holds only the capacity types the file prices. `path` is where it sits in the file."""

    name: str
    node: NodeShape
    prices: Mapping[CapacityType, float]
    provisioning: Provisioning = field(default_factory=Provisioning)
    availability: Availability = field(default_factory=Availability)
    interruption: Interruption = field(default_factory=Interruption)
    gpu_label: bool = False  # §3.3: judged by scaleDownGpuUtilizationThreshold
    template_source: TemplateSource = TemplateSource.COMPUTED
    path: str = ""

    def price(self, capacity_type: CapacityType) -> float | None:
        return self.prices.get(capacity_type)


@dataclass(frozen=True)
class NodeGroupOptions:
    """Per-group overrides of cluster-autoscaler's options (upstream's
    NodeGroupAutoscalingOptions); None: the global value."""

    scale_down_utilization_threshold: float | None = None
    scale_down_gpu_utilization_threshold: float | None = None
    scale_down_unneeded_time: float | None = None
    scale_down_unready_time: float | None = None
    max_node_provision_time: float | None = None
    zero_or_max_node_scaling: bool = False
    ignore_daemonsets_utilization: bool | None = None


@dataclass(frozen=True)
class NodeGroup:
    """cluster-autoscaler (and static) mode: `min`..`max` nodes of one shape and capacity type.
    In `static` mode the group holds `min` nodes for the whole run."""

    name: str
    shape: str
    min_size: int
    max_size: int
    capacity_type: CapacityType = CapacityType.ON_DEMAND
    options: NodeGroupOptions = field(default_factory=NodeGroupOptions)
    path: str = ""


@dataclass(frozen=True)
class DisruptionBudget:
    """Karpenter budget: at most `nodes` (a count, or `N%` of the pool rounded up) disrupted at
    once, while the cron `schedule` window of `duration` seconds is active (None: always), for
    `reasons` (empty: all)."""

    nodes: str = "10%"
    schedule: str | None = None
    duration: float | None = None
    reasons: tuple[DisruptionReason, ...] = ()

    def allowed(self, pool_nodes: int) -> int:
        """How many of `pool_nodes` may be disrupted at once under this budget."""
        if self.nodes.endswith("%"):
            percent = int(self.nodes[:-1])
            return -(-pool_nodes * percent // 100)
        return int(self.nodes)


@dataclass(frozen=True)
class Disruption:
    consolidation_policy: ConsolidationPolicy = ConsolidationPolicy.WHEN_EMPTY_OR_UNDERUTILIZED
    consolidate_after: float | None = 0.0  # seconds; None: Never
    budgets: tuple[DisruptionBudget, ...] = (DisruptionBudget(),)


@dataclass(frozen=True)
class NodePool:
    """karpenter mode: candidate shapes x capacity types, limits and disruption (§5)."""

    name: str
    shapes: tuple[str, ...]
    capacity_types: tuple[CapacityType, ...] = (CapacityType.ON_DEMAND,)
    limits: Mapping[str, Quantity] = field(default_factory=dict)
    weight: int = 0
    disruption: Disruption = field(default_factory=Disruption)
    expire_after: float | None = 720 * 3600.0  # seconds; None: Never
    path: str = ""


@dataclass(frozen=True)
class Options:
    """Global options: cluster-autoscaler's flags (§4.6) and Karpenter's settings (§5) in
    upstream spelling (camelCase of the flag), plus dralloc's own. Durations in seconds."""

    # cluster-autoscaler
    scan_interval: float = 10.0
    max_node_provision_time: float = 15 * 60.0
    max_node_startup_time: float = 15 * 60.0
    expendable_pods_priority_cutoff: int = -10
    max_nodes_per_scale_up: int = 1000
    max_nodes_total: int = 0  # 0: no limit
    cores_total: tuple[int, int] | None = None  # (min, max) cores in the cluster
    memory_total: tuple[int, int] | None = None  # (min, max) GiB in the cluster
    expander: tuple[str, ...] = ("least-waste",)
    expander_priorities: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    balance_similar_node_groups: bool = False
    scale_down_enabled: bool = True
    scale_down_utilization_threshold: float = 0.5
    scale_down_gpu_utilization_threshold: float = 0.5
    scale_down_unneeded_time: float = 10 * 60.0
    scale_down_unready_time: float = 20 * 60.0
    scale_down_delay_after_add: float = 10 * 60.0
    scale_down_delay_after_delete: float = 0.0
    scale_down_delay_after_failure: float = 3 * 60.0
    unremovable_node_recheck_timeout: float = 5 * 60.0
    max_scale_down_parallelism: int = 10
    max_drain_parallelism: int = 1
    initial_node_group_backoff_duration: float = 5 * 60.0
    max_node_group_backoff_duration: float = 30 * 60.0
    node_group_backoff_reset_timeout: float = 3 * 3600.0
    new_pod_scale_up_delay: float = 0.0
    max_graceful_termination_sec: int = 600
    enable_provisioning_requests: bool = False
    # check-capacity requests served per provisioning turn when batch processing is on (§7.2);
    # upstream's time box (10 s of wall time) never runs out on the virtual clock.
    check_capacity_batch_processing: bool = False
    check_capacity_provisioning_request_max_batch_size: int = 10
    ignore_daemonsets_utilization: bool = False
    ignore_mirror_pods_utilization: bool = False
    # Karpenter
    batch_idle_duration: float = 1.0
    batch_max_duration: float = 10.0
    spot_to_spot_consolidation: bool = False
    # dralloc
    gpu_pod_delay: float | None = None  # None: upstream's 2 s (30 s for extended resources)
    pack_order: PackOrder = PackOrder.CA
    utilization: UtilizationMode = UtilizationMode.CA
    billing_start: BillingStart = BillingStart.LAUNCHED
    minimum_billed_seconds: float = 60.0


@dataclass(frozen=True)
class ObjectRef:
    name: str


@dataclass(frozen=True)
class ScalableRef:
    api_group: str
    kind: str
    name: str


@dataclass(frozen=True)
class Buffer:
    """A CapacityBuffer (§8): exactly one of `pod_template_ref` and `scalable_ref`."""

    name: str
    provisioning_strategy: str = "buffer.x-k8s.io/active-capacity"
    pod_template_ref: ObjectRef | None = None
    scalable_ref: ScalableRef | None = None
    replicas: int | None = None
    percentage: int | None = None
    limits: Mapping[str, Quantity] = field(default_factory=dict)
    schedule: str | None = None  # (dralloc) cron
    duration: float | None = None
    path: str = ""


@dataclass(frozen=True)
class Predictor:
    """§9: forecaster and its knobs; `none` is reactive only."""

    forecaster: Forecaster = Forecaster.NONE
    quantile: float = 0.9
    step: float = 300.0
    period: float = 86400.0
    refit: float = 86400.0
    min_history_periods: int = 2
    window: float = 3600.0  # ewma-peak
    margin: float = 0.0  # ewma-peak
    max_warm_nodes: Mapping[str, int] = field(default_factory=dict)  # per shape
    max_warm_gpu_hours_per_day: float | None = None
    forecast_only: bool = False
    seasons: int = 4  # K, seasonal-quantile: periods looked back at the same slot
    fit_window_periods: int | None = None  # holt-winters: periods fitted on; None: all history
    # GPUs per buffer chunk: a statistic of the class's pods seen so far, or a fixed count.
    chunk: ChunkStatistic | int = ChunkStatistic.P90


class SizingObjective(StrEnum):
    COST = "cost"


@dataclass(frozen=True)
class Sizing:
    """§9.6: the shapes whose node counts (static) or `max` and q (autoscaled modes) are
    searched for the cheapest fleet whose p95 wait is at most `wait_p95` seconds, in at most
    `budget` runs (the default is `prediction.sizing.DEFAULT_BUDGET`)."""

    shapes: tuple[str, ...]
    wait_p95: float
    objective: SizingObjective = SizingObjective.COST
    budget: int = 50


@dataclass(frozen=True)
class TracePods:
    """`tracePods`: what the replay's trace pods carry as the autoscaler sees them.
    `annotations` are given to every trace pod, so a batch user's
    `cluster-autoscaler.kubernetes.io/safe-to-evict: "false"` (cluster-autoscaler's drain
    keeps the node) or `karpenter.sh/do-not-disrupt: "true"` (Karpenter's voluntary
    disruption leaves the node) is replayed as such pods would be."""

    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AutoscalingConfig:
    """A validated `kind: Autoscaling` file. `shapes` keeps the file's order."""

    file: str
    name: str
    mode: Mode
    shapes: Mapping[str, Shape]
    node_groups: tuple[NodeGroup, ...] = ()
    node_pools: tuple[NodePool, ...] = ()
    options: Options = field(default_factory=Options)
    buffers: tuple[Buffer, ...] = ()
    predictor: Predictor = field(default_factory=Predictor)
    warm_pool: WarmPool | None = None
    sizing: Sizing | None = None
    trace_pods: TracePods = field(default_factory=TracePods)

    def shape_of(self, group: NodeGroup) -> Shape:
        return self.shapes[group.shape]

    def templates(self, catalog: Catalog) -> dict[str, NodeTemplate]:
        """One node template per shape, by shape name (built once; the reader has already
        built each, so this raises nothing for a config it returned)."""
        return {name: build_template(shape.node, catalog) for name, shape in self.shapes.items()}
