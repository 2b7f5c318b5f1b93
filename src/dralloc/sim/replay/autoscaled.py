"""An autoscaled fleet in the replay: `dralloc.autoscaling`'s nodes on the engine's clock
(spec/autoscaling.md §1-4, §10-11).

Owns the run's `Fleet`, its scaler (`ClusterAutoscaler`, or karpenter mode's loop) and its
buffers; the engine (`replay/engine.py`) owns the clock and the heap and the `ReplayCluster`
(`replay/cluster.py`) the pods and the cache, and they call back here:

- **Nodes in phases.** Every node's `NodeLifecycle.transitions()` go on the engine's heap as
  real events: at `Ready` the shape's template copy (`NodeTemplate.instantiate`) joins the
  scheduler's cache without devices (`Node/Add`), at `DevicesPublished` its ResourceSlices are
  published (`ResourceSlice/Add`) and its GPUs count as capacity, at `Deleting` its pods are
  evicted (CA drains before deleting) and the Node leaves the scheduler's cache (CA's
  `ToBeDeletedByClusterAutoscaler:NoSchedule` taint, in effect: the replay's profiles run no
  TaintToleration filter, so a tainted node would still take pods), at `Gone` its slices go;
  the node is billed until `Gone` (`Fleet`). A transition the node no longer has (a deletion
  cancelled it) is ignored when it comes up.
- **The loop.** `run_once` runs on scan ticks (multiples of `scanInterval`) pushed after any
  change and while the autoscaler has something pending (a decision just made, unneeded
  nodes, a skipped loop, a scale-down cooldown, a backed-off group, a startup deadline). With
  `remember_quiet_loops` a tick whose loop could not decide anything new (nothing changed
  since a loop that decided nothing and had no timer running) is not run: the plain path runs
  every tick (`tests/sim/test_autoscale_replay.py` checks both give one result). Once the
  trace has no event left, the run ends when the fleet is quiet, or after `GIVE_UP_AFTER`
  failed scale-ups in a row (nodes that never come up: CA would retry forever).
- **Pods.** The unschedulable pods are the waiting ones the scheduler rejected, `since` their
  arrival; the cluster is the cache's Nodes, slices, claims and bound pods. Trace pods come
  from batch jobs and carry no owner information, so the autoscaler sees each with the
  controller reference a Job's pod has (`batch/v1` Job named after the pod,
  `job_owners`): CA's drain may move them as upstream would a Job's pods, and an
  underutilized node is scaled down. Without it (`job_owners=False`) a pod without a
  controller keeps its node (`NotReplicated`) and only empty nodes leave. The file's
  `tracePods.annotations` are on every pod the autoscaler sees (batch pods marked
  `safe-to-evict: "false"` keep their node from CA's scale-down, `do-not-disrupt: "true"`
  from Karpenter's voluntary disruption). A node's pods at `Deleting` (a scale-down, a spot
  interruption, a consolidation, an expiry) are evicted and re-queued, as their controller
  would recreate them: a pod runs its whole duration again (no checkpoint), and its wait
  counts from its arrival; each eviction carries its cause (`evictions.EvictionCause`: the
  decision that deleted the node, or a capacity block's end).
- **ProvisioningRequests** of the manifests (`ReplayAutoscaling.objects`) go to every
  cluster-autoscaler loop and come back with their conditions; the trace pods consuming one
  are seen with its annotations and never cause an ordinary scale-up
  (`replay.autoscale_provreq`).
- **Buffers.** Each loop gets `buffer_pods`: the chunks of the manifests' CapacityBuffers
  (`ReplayAutoscaling.objects`) and of the predictor's managed buffers
  (`replay.autoscale_prediction`, sampled on its own step ticks).

Modes `static` (every group's `min` nodes for the whole run), `cluster-autoscaler` and
`karpenter` (its loop: `replay.autoscale_karpenter`). The shapes the replay's pods can use are
checked by `replay.autoscale_shapes`; what the fleet did is summed up by
`replay.autoscale_summary`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from dralloc.api.core import Node, Pod
from dralloc.api.resource import ResourceSlice
from dralloc.autoscaling import Fleet, NodePhase
from dralloc.autoscaling.capacitybuffer import buffer_pods, buffer_status
from dralloc.autoscaling.clusterautoscaler import ClusterAutoscaler, UnschedulablePod
from dralloc.autoscaling.config import AutoscalingConfig, CapacityType, Forecaster, Mode
from dralloc.autoscaling.decisions import (
    LoopResult,
    NoScaleUp,
    NoScaleUpReason,
    ScaleDown,
    ScaleUp,
    ScaleUpFailure,
    SpotInterruption,
)
from dralloc.autoscaling.fleet import FleetNode
from dralloc.autoscaling.karpenter import Karpenter
from dralloc.autoscaling.lifecycle import Transition
from dralloc.autoscaling.objects import AutoscalingObjects
from dralloc.autoscaling.planning import ClusterState
from dralloc.autoscaling.templates import NodeTemplate
from dralloc.autoscaling.virtualpods import VirtualPod
from dralloc.devices.catalog import Catalog
from dralloc.sim.replay.autoscale_karpenter import KarpenterLoop
from dralloc.sim.replay.autoscale_pods import annotated, job_owned
from dralloc.sim.replay.autoscale_prediction import ReplayPredictor
from dralloc.sim.replay.autoscale_provreq import ReplayProvisioningRequests
from dralloc.sim.replay.autoscale_shapes import fleet_shapes
from dralloc.sim.replay.autoscale_summary import AutoscalingSummary, summarize
from dralloc.sim.replay.evictions import EvictionCause
from dralloc.sim.traces.model import TraceNode

if TYPE_CHECKING:
    from dralloc.scheduler.cache import SchedulerCache
    from dralloc.sim.traces.timeline import ReplayTrace

__all__ = ["AutoscalingSummary", "FleetDriver", "ReplayAutoscaling", "fleet_shapes"]

_FLEET_EVENTS = (ScaleUp, ScaleDown, ScaleUpFailure, SpotInterruption)
GIVE_UP_AFTER = 3
"""Failed scale-ups in a row (no node publishing its devices in between) after which a run
with nothing left of its trace ends: cluster-autoscaler itself would retry forever."""


@dataclass(frozen=True)
class ReplayAutoscaling:
    """The autoscaled fleet of a replay: a `kind: Autoscaling` config (read with `catalog`).

    `keep_trace_nodes`: the trace's own nodes stay as a static part of the cluster (default:
    the fleet replaces them). `remember_quiet_loops`: skip loops that cannot decide anything
    new (off only to check that this changes nothing). `objects`: manifests read by
    `load_autoscaling_objects`; their CapacityBuffers (`podTemplateRef` ones: the loader refuses a
    `scalableRef`, which has no target in a replay) hold their chunks for the whole run, beside
    the predictor's buffers, in cluster-autoscaler and karpenter modes; their
    ProvisioningRequests are served in cluster-autoscaler mode with
    `enableProvisioningRequests` (`replay.autoscale_provreq`). Their ResourceClaims must ask
    the replay's device class (`gpu-fractional.dralloc.io`) to land anywhere.
    `job_owners`: the autoscaler sees every trace pod owned by a Job (module docstring);
    off, trace pods have no owner and cluster-autoscaler removes only empty nodes.
    `walk_live_nodes_only`: each loop looks only at the fleet's nodes not gone yet
    (`Fleet.live_nodes`) for phases to push and timers, instead of every node ever requested
    (off only to check that this changes nothing)."""

    config: AutoscalingConfig
    catalog: Catalog
    keep_trace_nodes: bool = False
    remember_quiet_loops: bool = True
    objects: AutoscalingObjects | None = None
    job_owners: bool = True
    walk_live_nodes_only: bool = True


class FleetCluster(Protocol):
    """What the driver asks of the engine (the engine owns the cache and the pods)."""

    cache: SchedulerCache

    def fleet_node_ready(self, node: Node, shape: TraceNode) -> None: ...
    def fleet_devices_published(
        self, name: str, slices: tuple[ResourceSlice, ...], gpus: int
    ) -> None: ...
    def fleet_node_leaving(self, name: str, cause: EvictionCause | None = None) -> None: ...
    def fleet_slices_gone(self, name: str) -> None: ...
    def fleet_node_cordoned(self, name: str, cordoned: bool) -> None: ...
    def unschedulable(self) -> list[UnschedulablePod]: ...
    def bound_pods(self) -> list[Pod]: ...
    def push_transition(self, transition: Transition) -> None: ...
    def push_tick(self, time: float) -> None: ...

    # The admission's cluster (`results.AdmissionCluster`), by the trace's pod indices:
    trace: ReplayTrace

    def evict(self, indices: Sequence[int], cause: EvictionCause | None = None) -> None: ...
    def release(self, indices: Sequence[int]) -> None: ...


class FleetDriver:
    """One run's autoscaled fleet against one engine (see the module docstring)."""

    def __init__(
        self,
        autoscaling: ReplayAutoscaling,
        shapes: Mapping[str, TraceNode],
        seed: int,
        engine: FleetCluster,
    ) -> None:
        self.config = autoscaling.config
        self.remember = autoscaling.remember_quiet_loops
        self.live_only = autoscaling.walk_live_nodes_only
        self.engine = engine
        self.shapes = shapes
        self.fleet = Fleet(self.config, seed=seed)
        self.autoscaler: ClusterAutoscaler | None = None
        self.karpenter: KarpenterLoop | None = None
        if self.config.mode is Mode.CLUSTER_AUTOSCALER:
            self.autoscaler = ClusterAutoscaler(
                self.config, self.fleet, autoscaling.catalog, seed=seed
            )
            self.templates: dict[str, NodeTemplate] = self.autoscaler.templates
        elif self.config.mode is Mode.KARPENTER:
            karpenter = Karpenter(self.config, self.fleet, autoscaling.catalog, seed=seed)
            self.karpenter = KarpenterLoop(self, karpenter)
            self.templates = karpenter.templates
        else:
            self.templates = self.config.templates(autoscaling.catalog)
        self.interval = self.config.options.scan_interval
        self.pushed: set[Transition] = set()
        self.by_name: dict[str, FleetNode] = {}
        self.present: set[str] = set()  # fleet nodes in the cache (Ready or later)
        self.published: set[str] = set()
        self.changed = True  # since the last loop
        self.last: LoopResult | None = None
        self.loops = 0
        self.skipped = 0
        self.counts = {ScaleUp: 0, ScaleDown: 0, ScaleUpFailure: 0}
        self.size_log: list[tuple[float, int]] = []
        self.unschedulable_since: list[float] = []
        self.failed_in_a_row = 0
        self.evicted = 0
        self.template_mismatches = 0  # LoopResult.template_mismatches, summed
        # Why each node the scalers deleted leaves: its pods' eviction cause at `Deleting`.
        self.causes: dict[str, EvictionCause] = {}
        self.pod_index: dict[str, int] = {}
        self.job_owners = autoscaling.job_owners
        self.annotations = dict(self.config.trace_pods.annotations)
        # The bound pods' owned copies, by name, with the pod each was made from: rebuilt
        # from the bound pods at every loop, so it never outgrows them.
        self.owned: dict[str, tuple[Pod, Pod]] = {}
        self.predictor: ReplayPredictor | None = None
        if self.config.predictor.forecaster is not Forecaster.NONE and (
            self.autoscaler is not None or self.karpenter is not None
        ):
            self.predictor = ReplayPredictor(self.config, shapes, engine.trace, seed)
        objects = autoscaling.objects
        self.provisioning = ReplayProvisioningRequests(objects or AutoscalingObjects())
        self.serve_requests = (
            self.autoscaler is not None and self.config.options.enable_provisioning_requests
        )
        self.buffer_pods: tuple[VirtualPod, ...] = ()
        if objects is not None:
            self.buffer_pods = tuple(
                pod
                for buffer in objects.capacity_buffers
                for pod in buffer_pods(
                    buffer, buffer_status(buffer).replicas, objects.claim_templates
                )
            )

    # ------------------------------------------------------------------ start, events

    def start(self) -> None:
        """The groups' `min` nodes, and the first tick."""
        self.fleet.start()
        self.push_new()
        if self.autoscaler is not None or self.karpenter is not None:
            self.engine.push_tick(0.0)

    def apply(self, transition: Transition, now: float) -> None:
        """A node's phase comes up on the heap: change the cluster (module docstring)."""
        self.changed = True
        node = self.by_name[transition.node]
        if transition not in node.lifecycle.transitions():
            return  # cancelled by a deletion
        name = node.name
        phase = transition.phase
        template = self.templates[node.lifecycle.shape]
        if phase is NodePhase.READY:
            self.engine.fleet_node_ready(
                template.instantiate(name, node_name=name).node, self.shapes[node.lifecycle.shape]
            )
            self.present.add(name)
        elif phase is NodePhase.DEVICES_PUBLISHED and name in self.present:
            self.engine.fleet_devices_published(
                name,
                template.instantiate(name, node_name=name).slices,
                self.shapes[node.lifecycle.shape].gpus,
            )
            self.published.add(name)
            self.failed_in_a_row = 0
            self._log_size(now)
        elif phase is NodePhase.DELETING and name in self.present:
            self._drain(name)
            self.present.discard(name)
            self._log_size(now)
        elif phase is NodePhase.GONE and name in self.published:
            self.engine.fleet_slices_gone(name)
            self.published.discard(name)
        elif phase is NodePhase.GONE and name in self.present:
            self._drain(name)  # gone with no deletion phase
            self.present.discard(name)

    def _drain(self, name: str) -> None:
        """The node leaves the scheduler's cluster; its pods are evicted (for the cause its
        deletion was decided for, `_cause`) and re-queued."""
        if not self.pod_index:
            self.pod_index = {t.pod.name: i for i, t in enumerate(self.engine.trace.pods)}
        indices = sorted(
            self.pod_index[pod.metadata.name]
            for pod in self.engine.bound_pods()
            if pod.spec.node_name == name
        )
        cause = self._cause(name)
        self.engine.evict(indices, cause)
        self.engine.fleet_node_leaving(name, cause)
        self.engine.release(indices)
        self.evicted += len(indices)

    def _cause(self, name: str) -> EvictionCause | None:
        """Why node `name` leaves: a capacity block's node deleted at the block's end, else
        what the scaler said when it deleted it (`delete_for`); None for none known."""
        node = self.by_name[name]
        if node.capacity_type is CapacityType.BLOCK:
            window = self.config.shapes[node.lifecycle.shape].availability.block
            if window is not None and node.lifecycle.deleting_at == max(
                window[1], node.lifecycle.requested_at
            ):
                return EvictionCause.CAPACITY_BLOCK_END
        return self.causes.get(name)

    def delete_for(self, nodes: Sequence[str], cause: EvictionCause) -> None:
        """The scaler deleted `nodes` for `cause` (their pods are evicted at `Deleting`)."""
        for name in nodes:
            self.causes[name] = cause

    def _log_size(self, now: float) -> None:
        size = len(self.published & self.present)
        if self.size_log and self.size_log[-1][0] == now:
            self.size_log.pop()
        self.size_log.append((now, size))

    def push_new(self, now: float = 0.0) -> None:
        """Push every fleet node's phases not pushed yet, and a tick at each timer of the
        autoscaler's still to come (a startup deadline, a spot notice).

        Nodes are walked in request order either way, so the heap gets the same events in the
        same order. With `walk_live_nodes_only` a node gone by `now` whose phases are all
        pushed is retired from the walk: no deletion can replan it any more (a later
        deletion keeps the earlier one, `NodeLifecycle.delete`)."""
        for node in self._walked():
            self.by_name.setdefault(node.name, node)
            life = node.lifecycle
            transitions = life.transitions()
            for transition in transitions:
                if transition not in self.pushed:
                    self.pushed.add(transition)
                    self.engine.push_transition(transition)
            if self.live_only and life.gone_at is not None and life.gone_at <= now:
                self.fleet.retire(node.name)
                self.pushed.difference_update(transitions)
        if self.autoscaler is not None:
            for timer in self._timers(now):
                if timer > now:
                    self.engine.push_tick(self._tick_at_or_after(timer))

    def _timers(self, now: float) -> list[float]:
        """cluster-autoscaler's timers on nodes live at `now` (a capacity block's node has its
        deletion scheduled from the start): startup deadlines and spot notices."""
        options = self.config.options
        times: list[float] = []
        for node in self._walked():
            life = node.lifecycle
            if life.is_deleting(now) or (life.gone_at is not None and life.gone_at <= now):
                continue
            deadline = life.startup_deadline(
                options.max_node_provision_time, options.max_node_startup_time
            )
            if deadline is not None:
                times.append(deadline[0])
            if life.interruption_notice_at is not None:
                times.append(life.interruption_notice_at)
        if self.serve_requests and self.autoscaler is not None:
            times += self.provisioning.timers(self.autoscaler.provisioning_request_state)
        return times

    def _walked(self) -> list[FleetNode]:
        """The fleet's nodes a loop looks at, in request order: those not retired by
        `push_new` (every node with `walk_live_nodes_only` off)."""
        return self.fleet.live_nodes() if self.live_only else self.fleet.nodes()

    def _tick_at_or_after(self, time: float) -> float:
        return math.ceil(time / self.interval - 1e-9) * self.interval

    # ------------------------------------------------------------------------ loop

    def after_batch(self, now: float) -> None:
        """A batch of events was applied and the queue drained: a change asks for a loop at
        the next scan tick (this instant's, if `now` is one)."""
        if self.karpenter is not None:
            self.karpenter.after_batch(now)
        elif self.autoscaler is not None and self.changed:
            self.engine.push_tick(self._tick_at_or_after(now))

    def tick(self, now: float) -> None:
        """A scan tick: one `run_once` unless the loop is known to decide nothing."""
        buffer_pods = self._predict(now)
        if self.karpenter is not None:
            self.karpenter.tick(now, buffer_pods)
            return
        autoscaler = self.autoscaler
        if autoscaler is None:
            return
        if self.remember and not self.changed and self._quiet(now):
            self.skipped += 1
            return
        unschedulable = self.engine.unschedulable()
        requests = self.provisioning
        if requests:
            unschedulable = requests.regular(unschedulable)
        result = autoscaler.run_once(
            now,
            self.cluster_state(),
            unschedulable,
            buffer_pods=buffer_pods,
            provisioning_requests=requests.active(),
            claim_templates=requests.claim_templates,
        )
        requests.loop_done(result)
        self.loops += 1
        self.changed = False
        self.last = result
        self.template_mismatches += len(result.template_mismatches)
        self.unschedulable_since = [p.since for p in unschedulable]
        for decision in result.decisions:
            for kind in self.counts:
                if isinstance(decision, kind):
                    self.counts[kind] += 1
            if isinstance(decision, ScaleUpFailure):
                self.failed_in_a_row += 1
                self.delete_for(decision.nodes, EvictionCause.STARTUP_TIMEOUT)
            elif isinstance(decision, ScaleDown):
                self.delete_for((decision.node,), EvictionCause.SCALE_DOWN)
            elif isinstance(decision, SpotInterruption):
                self.delete_for((decision.node,), EvictionCause.SPOT_INTERRUPTION)
        self.push_new(now)
        if self.may_act(now) or not self.remember:
            self.engine.push_tick(now + self.interval)

    def _predict(self, now: float) -> tuple[VirtualPod, ...]:
        """The predictor's sample when a step is due (a changed buffer is a change), and
        the buffers' pods for this loop."""
        predictor = self.predictor
        if predictor is None:
            return self.buffer_pods
        if predictor.due(now):
            present = [pod.metadata.name for pod in self.engine.bound_pods()]
            present += [p.pod.metadata.name for p in self.engine.unschedulable()]
            if predictor.sample(now, present):
                self.changed = True
            self.engine.push_tick(predictor.next_sample)
        return (*self.buffer_pods, *predictor.pods)

    def cluster_state(self) -> ClusterState:
        """The cluster as the autoscaler reads it: the cache's Nodes, slices, classes,
        claims and bound pods."""
        cache = self.engine.cache
        pods = self.engine.bound_pods()
        return ClusterState(
            nodes=[info.node for info in cache.nodes.values()],
            slices=[entry.slice for entry in cache.inventory.slices],
            classes=list(cache.classes.values()),
            claims=list(cache.claims.values()),
            pods=(
                self._as_seen(pods)
                if self.job_owners or self.provisioning or self.annotations
                else pods
            ),
        )

    def _as_seen(self, pods: list[Pod]) -> list[Pod]:
        """`pods` as the autoscaler sees them: each with a Job's controller reference unless
        it has a controller (`job_owners`) and the file's `tracePods.annotations` (the pod's
        own win), a request's consumers with its annotations."""
        owned: dict[str, tuple[Pod, Pod]] = {}
        copies = []
        for pod in pods:
            name = pod.metadata.name
            known = self.owned.get(name)
            if known is None or known[0] is not pod:
                seen = self.provisioning.annotated(annotated(pod, self.annotations))
                known = (pod, job_owned(seen) if self.job_owners else seen)
            owned[name] = known
            copies.append(known[1])
        self.owned = owned
        return copies

    def _quiet(self, now: float) -> bool:
        """The last loop decided nothing and left no timer running that is due by `now`."""
        last = self.last
        if last is None or self._pending(last):
            return False
        delay = self.config.options.new_pod_scale_up_delay
        last_run = last.time
        if any(last_run < since + delay <= now for since in self.unschedulable_since):
            return False
        return not any(last_run < timer <= now for timer in self._timers(now))

    def _pending(self, last: LoopResult) -> bool:
        """Whether the last loop left something that a later loop may act on by itself."""
        if last.skipped or last.scale_down_in_cooldown:
            return True
        # An unneeded node's timer may end in a deletion (not one held at its group's min).
        if last.unneeded_timers:
            return True
        for decision in last.decisions:
            if isinstance(decision, _FLEET_EVENTS):
                return True
            if isinstance(decision, NoScaleUp) and NoScaleUpReason.BACKED_OFF in (
                decision.reasons.values()
            ):
                return True
        return False

    @property
    def gave_up(self) -> bool:
        """`GIVE_UP_AFTER` scale-ups failed in a row: only the trace's own events keep the
        run going."""
        return self.failed_in_a_row >= GIVE_UP_AFTER

    def may_act(self, now: float) -> bool:
        """Whether the autoscaler may still change the fleet with no other event: keeps the
        run going (and the ticks coming) past the trace's last event."""
        if self.karpenter is not None:
            return self.karpenter.may_act(now)
        if self.autoscaler is None:
            return False
        if self.last is None or self.changed:
            return True
        if self.serve_requests and any(t > now for t in self._timers(now)):
            return True  # a request's retry or booking expiry still to come
        return self._pending(self.last)

    # ---------------------------------------------------------------------- summary

    def summary(self, end: float) -> AutoscalingSummary:
        return summarize(self, end)
