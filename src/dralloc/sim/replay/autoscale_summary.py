"""What an autoscaled fleet did over one run (spec/autoscaling.md §11): the `AutoscalingSummary`
a `ReplayResult` carries, and `summarize`, which reads it off a finished `FleetDriver`
(`replay.autoscaled`). Reads only; changes nothing.

Nodes kept forever (§12): a fleet node still there at the end of the run (launched, not
deleting) that no autoscaler would ever remove, by `KeptReason`: it runs a pod that never ends
(a trace pod without a duration, as DLRM's instances still running at the trace's end), or, on
no such pod, its group is at its `min` size (cluster-autoscaler and static mode never go below
it; a static fleet is its `min` nodes). Each reason gets its nodes, and the node-hours and USD
they were billed over the whole run, so a report can say what they account for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from dralloc.autoscaling.decisions import ScaleDown, ScaleUp, ScaleUpFailure
from dralloc.autoscaling.lifecycle import Billing
from dralloc.sim.replay.autoscale_prediction import PredictionSummary
from dralloc.sim.replay.autoscale_provreq import ProvisioningRequestOutcome, outcomes_by_final

if TYPE_CHECKING:
    from dralloc.sim.replay.autoscaled import FleetDriver

__all__ = ["AutoscalingSummary", "KeptNodes", "KeptReason", "kept_forever", "summarize"]


class KeptReason(StrEnum):
    """Why a node is never scaled down (module docstring)."""

    NEVER_ENDING_PODS = "NeverEndingPods"
    MIN_SIZE = "MinSize"


@dataclass(frozen=True)
class KeptNodes:
    """The nodes kept for one reason, and the node-hours (launch to the end) and USD they
    were billed over the run."""

    nodes: tuple[str, ...]
    node_hours: float
    billed_usd: float


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
    predictor did (`replay.autoscale_prediction`), None without one. `kept_forever`: the
    nodes never scaled down, by `KeptReason` (module docstring). `provisioning_requests`:
    each ProvisioningRequest's conditions at the end and time to `Provisioned`
    (`replay.autoscale_provreq`). `template_mismatches`: fleet nodes whose published devices
    were not their template's (§12; cluster-autoscaler reports each node once)."""

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
    kept_forever: Mapping[str, KeptNodes] = field(default_factory=dict)
    provisioning_requests: tuple[ProvisioningRequestOutcome, ...] = ()
    template_mismatches: int = 0

    @property
    def billed_total(self) -> float:
        return sum(self.billed_usd.values())

    @property
    def provisioning_requests_by_final(self) -> Mapping[str, int]:
        """ProvisioningRequests counted by how they ended (§11's `provreq_*`)."""
        return outcomes_by_final(self.provisioning_requests)


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
        kept_forever=kept_forever(driver, end),
        provisioning_requests=driver.provisioning.outcomes(),
        template_mismatches=driver.template_mismatches,
    )


def kept_forever(driver: FleetDriver, end: float) -> dict[str, KeptNodes]:
    """The fleet's nodes at `end` that no autoscaler would remove, by reason (module doc)."""
    endless = {t.pod.name for t in driver.engine.trace.pods if t.duration is None}
    hosts_endless = {
        pod.spec.node_name for pod in driver.engine.bound_pods() if pod.metadata.name in endless
    }
    mins = {group.name: group.min_size for group in driver.config.node_groups}
    live = [
        node
        for node in driver.fleet.nodes()
        if not node.lifecycle.launch_failed
        and node.lifecycle.launched_at <= end
        and not node.lifecycle.is_deleting(end)
        and (node.lifecycle.gone_at is None or node.lifecycle.gone_at > end)
    ]
    live_in_group: dict[str, int] = {}
    for node in live:
        live_in_group[node.group] = live_in_group.get(node.group, 0) + 1
    kept: dict[KeptReason, list[tuple[str, float, float]]] = {}
    launched = Billing(0.0, minimum_seconds=0.0)
    for node in live:
        if node.name in hosts_endless:
            reason = KeptReason.NEVER_ENDING_PODS
        elif live_in_group[node.group] <= mins.get(node.group, 0):
            reason = KeptReason.MIN_SIZE
        else:
            continue
        window = node.lifecycle.billing_window(launched, end)
        seconds = window[1] - window[0] if window is not None else 0.0
        usd = node.lifecycle.cost(node.billing, end)
        kept.setdefault(reason, []).append((node.name, seconds / 3600.0, usd))
    return {
        str(reason): KeptNodes(
            tuple(name for name, _, _ in rows),
            sum(hours for _, hours, _ in rows),
            sum(usd for _, _, usd in rows),
        )
        for reason, rows in sorted(kept.items())
    }
