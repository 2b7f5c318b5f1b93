"""Why and what a replay's pods lost when they were evicted: `EvictionCause` and the
`Eviction` record of one run stopped before it completed. Plain values, importing nothing of
the replay, so every part that evicts (the cluster, the admission, the autoscaled fleet and
its Karpenter loop) can name its cause without an import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["MILLI_HOURS", "Eviction", "EvictionCause", "karpenter_cause"]

MILLI_HOURS = 1000 * 3600.0
"""Milli-GPU seconds in a GPU-hour."""


class EvictionCause(StrEnum):
    """Why a run of a pod was stopped before it completed (`Eviction`). The names follow
    what evicts the pod: Kueue's preemption, a node leaving as a trace says, and the
    autoscalers' deletions (Karpenter's disruption methods, cluster-autoscaler's
    scale-down, a spot interruption, a capacity block's end, a node that did not start in
    time)."""

    PREEMPTION = "Preemption"  # the admission (Kueue) preempted the pod's job
    NODE_REMOVED = "NodeRemoved"  # the node left and no one said why (a trace's node event)
    CONSOLIDATION = "Consolidation"  # Karpenter's multi- or single-node consolidation
    DRIFT = "Drift"  # Karpenter's Drift: the NodeClaim no longer matches its NodePool
    EMPTINESS = "Emptiness"  # Karpenter's Emptiness (a pod landed as it was judged empty)
    EXPIRATION = "Expiration"  # Karpenter's forceful expiry (expireAfter)
    SPOT_INTERRUPTION = "SpotInterruption"  # the provider reclaimed a spot node
    CAPACITY_BLOCK_END = "CapacityBlockEnd"  # a capacity block's reservation ended
    SCALE_DOWN = "ScaleDown"  # cluster-autoscaler removed the node
    # The node did not become usable in time (CA's maxNodeProvisionTime/maxNodeStartupTime,
    # Karpenter's registration timeout); pods without device claims may have landed on it.
    STARTUP_TIMEOUT = "StartupTimeout"


_KARPENTER_METHODS = {
    "Emptiness": EvictionCause.EMPTINESS,
    "Drift": EvictionCause.DRIFT,
    "Expiration": EvictionCause.EXPIRATION,
    "MultiNodeConsolidation": EvictionCause.CONSOLIDATION,
    "SingleNodeConsolidation": EvictionCause.CONSOLIDATION,
}


def karpenter_cause(method: str) -> EvictionCause:
    """The cause of evictions by a Karpenter disruption command of `method` (the
    `Disrupted.method` names of `dralloc.autoscaling.disruption`); ValueError for another."""
    cause = _KARPENTER_METHODS.get(method)
    if cause is None:
        known = ", ".join(_KARPENTER_METHODS)
        raise ValueError(f"unknown Karpenter disruption method {method!r} (known: {known})")
    return cause


@dataclass(frozen=True, slots=True)
class Eviction:
    """One run of pod `pod` (its trace name) stopped before it completed: it ran on `node`
    (GPU model code `model`, "" for none) from `start` to `end` holding `gpu_milli`, and
    was evicted at `time` for `cause` (`end` equals `time` unless a completed run was
    evicted with its job, see `AdmissionCluster.evict`). Its GPU time is lost: the pod
    starts over."""

    pod: str
    node: str
    cause: EvictionCause
    time: float
    start: float
    end: float
    gpu_milli: int
    model: str = ""

    @property
    def lost_gpu_hours(self) -> float:
        return self.gpu_milli * (self.end - self.start) / MILLI_HOURS
