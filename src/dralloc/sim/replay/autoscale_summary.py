"""What an autoscaled fleet did over one run (spec/autoscaling.md §11): the `AutoscalingSummary`
a `ReplayResult` carries, and `summarize`, which reads it off a finished `FleetDriver`
(`replay.autoscaled`). Reads only; changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dralloc.autoscaling.decisions import ScaleDown, ScaleUp, ScaleUpFailure
from dralloc.sim.replay.autoscale_prediction import PredictionSummary

if TYPE_CHECKING:
    from dralloc.sim.replay.autoscaled import FleetDriver

__all__ = ["AutoscalingSummary", "summarize"]


@dataclass(frozen=True)
class AutoscalingSummary:
    """What the fleet did over one run (§11): nodes requested by scale-ups (start-up nodes
    not counted), launched and removed, node-hours from launch to gone, USD billed per
    capacity type, the decisions counted, the loops run and skipped, provisioned GPU-hours
    per GPU model code (node seconds x accelerators), and the fleet size (nodes with their
    devices published) after every change, as (time, nodes); pods evicted from leaving nodes
    (and re-queued). karpenter mode: `scale_ups` counts NodeClaims launched, `scale_downs`
    nodes disrupted (per method in `disrupted_by_method`), `failed_scale_ups` failed or
    timed-out launches; `interruptions` spot notices; `upstream_unsupported_pods` the pods
    Karpenter v1.14 would not have provisioned for, by reason (§5.3). `prediction`: what the
    predictor did (`replay.autoscale_prediction`), None without one."""

    mode: str
    nodes_requested: int
    nodes_launched: int
    nodes_removed: int
    node_hours: float
    billed_usd: Mapping[str, float]
    scale_ups: int
    scale_downs: int
    failed_scale_ups: int
    loops: int
    loops_skipped: int
    provisioned_gpu_hours: Mapping[str, float] = field(default_factory=dict)
    fleet_size: tuple[tuple[float, int], ...] = ()
    evicted_pods: int = 0
    disrupted_by_method: Mapping[str, int] = field(default_factory=dict)
    interruptions: int = 0
    upstream_unsupported_pods: Mapping[str, int] = field(default_factory=dict)
    prediction: PredictionSummary | None = None

    @property
    def billed_total(self) -> float:
        return sum(self.billed_usd.values())


def summarize(driver: FleetDriver, end: float) -> AutoscalingSummary:
    """The summary of `driver`'s run, ended at `end`."""
    nodes = driver.fleet.nodes()
    started = sum(group.min_size for group in driver.config.node_groups)
    launched = sum(
        1
        for n in nodes
        if not n.lifecycle.launch_failed
        and n.lifecycle.launched_at <= end
        and (n.lifecycle.gone_at is None or n.lifecycle.gone_at > n.lifecycle.launched_at)
    )
    seconds = driver.fleet.node_seconds_by_shape(end)
    gpu_hours: dict[str, float] = {}
    for shape, value in seconds.items():
        trace_node = driver.shapes[shape]
        if trace_node.model:
            hours = value * trace_node.gpus / 3600.0
            gpu_hours[trace_node.model] = gpu_hours.get(trace_node.model, 0.0) + hours
    scale_ups = driver.counts[ScaleUp]
    scale_downs = driver.counts[ScaleDown]
    failed = driver.counts[ScaleUpFailure]
    disrupted: dict[str, int] = {}
    interruptions = 0
    gaps: dict[str, int] = {}
    if driver.karpenter is not None:
        counts = driver.karpenter.counts
        scale_ups, failed = counts.launches, counts.failures
        scale_downs = sum(counts.disrupted.values())
        disrupted = dict(sorted(counts.disrupted.items()))
        interruptions = counts.interruptions
        gaps = {
            str(gap): n
            for gap, n in sorted(driver.karpenter.karpenter.upstream_unsupported_pods.items())
        }
    return AutoscalingSummary(
        mode=str(driver.config.mode),
        nodes_requested=max(0, len(nodes) - started),
        nodes_launched=launched,
        nodes_removed=sum(
            1 for n in nodes if n.lifecycle.gone_at is not None and n.lifecycle.gone_at <= end
        ),
        node_hours=sum(seconds.values()) / 3600.0,
        billed_usd={
            str(kind): usd for kind, usd in driver.fleet.cost_by_capacity_type(end).items()
        },
        scale_ups=scale_ups,
        scale_downs=scale_downs,
        failed_scale_ups=failed,
        loops=driver.loops,
        loops_skipped=driver.skipped,
        provisioned_gpu_hours=gpu_hours,
        fleet_size=tuple(driver.size_log),
        evicted_pods=driver.evicted,
        disrupted_by_method=disrupted,
        interruptions=interruptions,
        upstream_unsupported_pods=gaps,
        prediction=driver.predictor.summary() if driver.predictor is not None else None,
    )
