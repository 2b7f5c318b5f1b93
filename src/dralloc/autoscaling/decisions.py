"""What the cluster-autoscaler mode decided, as plain typed records (spec/autoscaling.md §4, §6).

Owns the record types only: one frozen dataclass per kind of decision, each with the virtual
time, the node group or node, and the reason in cluster-autoscaler's words, so a replay can
log them, count them (§11's `scale_ups`, `scale_downs`, `failed_scale_ups`) and show why.
`LoopResult` gathers one loop's records; the status summary (`status.py`) is built from the
autoscaler's state, not from these. No behaviour here.

Reasons are upstream's spelling where upstream has one: scale-down `UnremovableReason`s
(simulator/cluster.go), drain `BlockingPodReason`s (utils/drain), the failed-scale-up reasons
of the `failed_scale_ups_total` metric and the `NotTriggerScaleUp` reasons of the pod event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, TypeVar

from dralloc.autoscaling.config import CapacityType

T = TypeVar("T")

if TYPE_CHECKING:
    from dralloc.autoscaling.provisioningrequest import (
        ProvisioningRequest as ProvisioningRequestLike,
    )


class NoScaleUpReason(StrEnum):
    """Why a node group could not help a pending pod (the pod's NotTriggerScaleUp event)."""

    MAX_SIZE_REACHED = "max node group size reached"
    BACKED_OFF = "in backoff after failed scale-up"
    NOT_FIT = "pod didn't fit a new node of the group"
    MAX_NODES_TOTAL = "max cluster size reached"
    RESOURCE_LIMIT = "cluster-wide resource limit reached"
    NOT_CHOSEN = "another node group was chosen"
    NO_TEMPLATE = "no node template (scale from zero needs an observed node)"
    BLOCK_CLOSED = "capacity block outside its window"


class FailedScaleUpReason(StrEnum):
    """`failed_scale_ups_total{reason}` (metrics.go: `cloudProviderError`, `timeout`, and in
    some releases `stockout`)."""

    STOCKOUT = "stockout"  # the provider has no capacity, detected at once
    CLOUD_PROVIDER_ERROR = "cloudProviderError"  # the launch failed
    TIMEOUT = "timeout"  # not registered / not ready by the deadline


class UnremovableReason(StrEnum):
    """Why a node cannot be scaled down (CA's simulator.UnremovableReason)."""

    SCALE_DOWN_DISABLED_ANNOTATION = "ScaleDownDisabledAnnotation"
    NOT_AUTOSCALED = "NotAutoscaled"
    NOT_UNNEEDED_LONG_ENOUGH = "NotUnneededLongEnough"
    NOT_UNREADY_LONG_ENOUGH = "NotUnreadyLongEnough"
    NODE_GROUP_MIN_SIZE_REACHED = "NodeGroupMinSizeReached"
    CURRENTLY_BEING_DELETED = "CurrentlyBeingDeleted"
    NOT_UNDERUTILIZED = "NotUnderutilized"
    RECENTLY_UNREMOVABLE = "RecentlyUnremovable"
    NO_PLACE_TO_MOVE_PODS = "NoPlaceToMovePods"
    BLOCKED_BY_POD = "BlockedByPod"
    UNEXPECTED_ERROR = "UnexpectedError"


class BlockingPodReason(StrEnum):
    """Why a pod keeps its node (CA's drain.BlockingPodReason); `SharedClaimPinned` is
    dralloc's: a claim shared with pods elsewhere holds this node's devices."""

    NOT_REPLICATED = "NotReplicated"
    NOT_SAFE_TO_EVICT_ANNOTATION = "NotSafeToEvictAnnotation"
    UNMOVABLE_KUBE_SYSTEM_POD = "UnmovableKubeSystemPod"
    NOT_ENOUGH_PDB = "NotEnoughPdb"
    SHARED_CLAIM_PINNED = "SharedClaimPinned"


@dataclass(frozen=True)
class ScaleUp:
    """Group `group` grows by `len(nodes)` nodes at `time` for `pods` (pod keys)."""

    time: float
    group: str
    shape: str
    capacity_type: CapacityType
    nodes: tuple[str, ...]
    pods: tuple[str, ...]
    price_per_node_hour: float
    expander: str  # the expander chain that chose the group
    estimated: int  # nodes the bin packing asked for, before limits
    balanced_with: tuple[str, ...] = ()  # balance-similar-node-groups partners

    def __str__(self) -> str:
        return (
            f"scale up {self.group} by {len(self.nodes)} ({self.capacity_type}) for "
            f"{len(self.pods)} pod(s): {', '.join(self.pods[:5])}"
            + (" ..." if len(self.pods) > 5 else "")
        )


@dataclass(frozen=True)
class ScaleUpFailure:
    """A scale-up of `group` failed: `nodes` are given up (deleted), the group backed off."""

    time: float
    group: str
    reason: FailedScaleUpReason
    nodes: tuple[str, ...]
    backoff_until: float
    message: str = ""

    def __str__(self) -> str:
        return f"scale-up of {self.group} failed ({self.reason}): {self.message}"


@dataclass(frozen=True)
class NoScaleUp:
    """A pending pod no node group could help, with each group's reason."""

    time: float
    pod: str
    reasons: Mapping[str, NoScaleUpReason]

    def __str__(self) -> str:
        parts = sorted(f"{group}: {reason}" for group, reason in self.reasons.items())
        return f"pod {self.pod} didn't trigger scale-up: {'; '.join(parts)}"


@dataclass(frozen=True)
class ScaleDown:
    """Node `node` of `group` is deleted at `time`: unneeded since `unneeded_since`, its
    `evicted` pods planned onto `destinations` (the planner's guess; the scheduler decides)."""

    time: float
    node: str
    group: str
    capacity_type: CapacityType
    empty: bool
    utilization: float
    unneeded_since: float
    evicted: tuple[str, ...] = ()
    destinations: Mapping[str, str] = field(default_factory=dict)
    gone_at: float = 0.0

    def __str__(self) -> str:
        kind = "empty" if self.empty else f"{len(self.evicted)} pod(s) moved"
        return (
            f"scale down {self.node} ({self.group}): utilization {self.utilization:.2f}, "
            f"unneeded for {self.time - self.unneeded_since:.0f}s, {kind}"
        )


@dataclass(frozen=True)
class SpotInterruption:
    """The provider reclaims spot node `node`: notice at `notice_at` (the node is tainted
    NoSchedule), pods evicted and the node deleted at `deadline` (§6)."""

    time: float
    node: str
    group: str
    notice_at: float
    deadline: float
    before_devices_published: bool

    def __str__(self) -> str:
        return f"spot interruption of {self.node} ({self.group}): deleted at {self.deadline:.0f}"


@dataclass(frozen=True)
class Unremovable:
    """Node `node` is not a scale-down candidate this loop, and why."""

    node: str
    reason: UnremovableReason
    blocking_pod: str = ""
    blocking_reason: BlockingPodReason | None = None
    detail: str = ""


@dataclass(frozen=True)
class ProvisioningRequestUpdate:
    """ProvisioningRequest `request` (namespace/name) got condition `condition` = `status`
    with `reason` at `time` (§7.2)."""

    time: float
    request: str
    condition: str
    status: bool
    reason: str
    message: str = ""

    def __str__(self) -> str:
        state = "True" if self.status else "False"
        return f"provisioning request {self.request}: {self.condition}={state} ({self.reason})"


# ------------------------------------------------------------------ karpenter mode (§5)


@dataclass(frozen=True)
class Offering:
    shape: str
    capacity_type: CapacityType
    price: float


@dataclass(frozen=True)
class NodeClaimLaunch:
    """NodeClaim `node` of `pool` launched as `offering` at `time` for `pods`; `candidates`
    are the shapes still possible when it launched (the narrowing's outcome)."""

    time: float
    node: str
    pool: str
    offering: Offering
    pods: tuple[str, ...]
    candidates: tuple[str, ...]

    def __str__(self) -> str:
        o = self.offering
        return (
            f"launch {self.node} ({self.pool}): {o.shape} {o.capacity_type} "
            f"${o.price:g}/h for {len(self.pods)} pod(s), candidates {', '.join(self.candidates)}"
        )


@dataclass(frozen=True)
class Disrupted:
    """A disruption command: `nodes` deleted by `method` for `reason`, with an optional
    replacement; `savings` is USD per hour saved."""

    time: float
    method: str  # Emptiness, Drift, MultiNodeConsolidation, SingleNodeConsolidation, Expiration
    reason: str  # Empty, Drifted, Underutilized, Expired
    nodes: tuple[str, ...]
    replacement: NodeClaimLaunch | None = None
    savings: float = 0.0

    def __str__(self) -> str:
        replaced = f", replaced by {self.replacement.node}" if self.replacement else ""
        return f"{self.method}: delete {', '.join(self.nodes)} ({self.reason}){replaced}"


Decision = (
    ScaleUp | ScaleUpFailure | NoScaleUp | ScaleDown | SpotInterruption | ProvisioningRequestUpdate
)


@dataclass
class LoopResult:
    """One autoscaler loop at `time`: its decisions in the order taken, and what it saw."""

    time: float
    decisions: list[Decision] = field(default_factory=list)
    pending_pods: tuple[str, ...] = ()  # pods to help after filtering out schedulable ones
    skipped: str = ""  # why scale-up (and scale-down) were skipped this loop, if they were
    scale_down_in_cooldown: bool = False
    unneeded: Mapping[str, float] = field(default_factory=dict)  # node -> unneeded since
    # The unneeded nodes whose timer may end in a deletion with nothing else changing: all
    # but those of a group at its min size. Upstream lists those as unneeded too (the
    # min-size check comes at deletion), but no later loop removes them by itself, so a
    # replay need not run loops for them.
    unneeded_timers: Mapping[str, float] = field(default_factory=dict)
    unremovable: tuple[Unremovable, ...] = ()
    # §7-8: the ProvisioningRequests as this loop left them (their conditions updated), and
    # the CapacityBuffer chunks that found no room (pod keys), in the order given.
    provisioning_requests: tuple[ProvisioningRequestLike, ...] = ()
    unplaced_buffer_pods: tuple[str, ...] = ()
    # §12: fleet nodes found ready this loop whose published devices are not their
    # template's (each node reported once, at the first loop it is ready).
    template_mismatches: tuple[str, ...] = ()

    def of_type(self, kind: type[T]) -> list[T]:
        return [d for d in self.decisions if isinstance(d, kind)]
