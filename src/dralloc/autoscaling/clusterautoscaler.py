"""cluster-autoscaler's loop as a library: scale-ups and scale-downs on the virtual clock
(spec/autoscaling.md §4.1-4.6, §6).

Owns the autoscaler's memory between loops (unneeded timers, unremovable rechecks, backoff,
cooldowns, spot notices seen) and the `Fleet` it grows and shrinks: it alone calls
`Fleet.request` and `NodeLifecycle.delete` for autoscaled nodes. It reads the cluster (the
objects the scheduler takes, `ClusterState`) and never changes it: every what-if runs on a
`PlanningSnapshot`, a private scheduler built by `build_scheduler`. The replay owns the
clock, the scheduler and the event heap: it calls `run_once` every `scanInterval`, pushes the
returned nodes' `transitions()`, creates each node's Node and slices as it registers and
publishes (`NodeTemplate.instantiate(suffix, node_name=...)`), taints and drains the nodes
scaled down, and feeds the pending pods. No I/O.

One loop (`run_once`), CA 1.36's `StaticAutoscaler.RunOnce` in order:

1. Fleet health: a launch that failed is given up (reason `cloudProviderError`, detected at
   the first loop after it failed), a node not registered by request + `maxNodeProvisionTime`
   or without its devices by registration + `maxNodeStartupTime` is deleted (`timeout`);
   either backs its group off (`backoff.py`). A group whose scale-up has no upcoming node
   left has its backoff removed. A node seen ready for the first time whose published
   devices are not its template's is reported (`LoopResult.template_mismatches`, §12); CA
   plans with the template regardless. A spot node whose interruption notice has come is recorded
   (`SpotInterruption`) and deleted at notice + `noticeSeconds`; from its notice it is leaving.
   A deletion scheduled ahead (a capacity block's end, set by the `Fleet`) makes a node
   leaving only once it starts (`NodeLifecycle.is_leaving`); a block group is not scaled up
   outside its window (`NoScaleUpReason.BLOCK_CLOSED`).
2. Upcoming nodes (requested, not failed, and either without a Node yet or short of the
   template's complete pools, §3.2) enter the planning snapshot as template copies
   `upcoming-<n>`; a registered but incomplete node is replaced by its copy.
3. Pods to help: the unschedulable pods, minus expendable ones (priority below
   `expendablePodsPriorityCutoff`), minus pods consuming a ProvisioningRequest, minus those
   that fit on existing or upcoming nodes of the snapshot (placed in turn, highest priority
   first, so they take room), minus pods younger than `newPodScaleUpDelay`.
4. When the oldest pod to help is younger than 2 s, or the oldest one asking for a GPU
   extended resource younger than 30 s (upstream's `allPodsAreNew`), nothing happens this
   loop: no scale-up, no scale-down. `gpuPodDelay` (dralloc) sets the second delay and
   applies it to claim-only GPU pods too.
5. Scale-up (`scaleup.py`): an estimate per node group on template copies, limits, the
   expander chain, balancing, and the provider's answer (stock-outs fail at once). A
   scale-up skips scale-down this loop.
6. Scale-down (`scale_down`): unneeded nodes found, timers kept, deletions done unless in
   cooldown (`scaleDownDelayAfterAdd/Delete/Failure`).

Capacity types are carried on every record (the group's `capacityType`).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import msgspec

from dralloc.api.core import Pod
from dralloc.api.resource import ResourceClaimTemplate, ResourceSlice
from dralloc.autoscaling import provisioning
from dralloc.autoscaling.backoff import NodeGroupBackoff
from dralloc.autoscaling.config import AutoscalingConfig, NodeGroup
from dralloc.autoscaling.decisions import (
    FailedScaleUpReason,
    LoopResult,
    ScaleUpFailure,
    SpotInterruption,
)
from dralloc.autoscaling.fleet import Fleet, FleetNode
from dralloc.autoscaling.planmemo import PlanInputs, PlanMemo, RememberedPlan, RemovalMemo
from dralloc.autoscaling.planning import ClusterState, PlanningSnapshot, pod_key, unbound
from dralloc.autoscaling.provisioning import ProvisioningRequestState
from dralloc.autoscaling.provisioningrequest import ProvisioningRequest
from dralloc.autoscaling.scaledown import ScaleDownState, scale_down
from dralloc.autoscaling.scaleup import scale_up
from dralloc.autoscaling.status import status_of
from dralloc.autoscaling.templates import NodeTemplate, differs_from_template, is_upcoming
from dralloc.autoscaling.virtualpods import VirtualPod, place_virtual
from dralloc.devices.catalog import Catalog
from dralloc.features import Features
from dralloc.scheduler.config import SchedulerConfiguration
from dralloc.scheduler.framework import PluginTraits

CONSUME_PROVREQ = (
    "autoscaling.x-k8s.io/consume-provisioning-request",
    "cluster-autoscaler.kubernetes.io/consume-provisioning-request",
)
NEW_POD_BUFFER = 2.0  # upstream unschedulablePodTimeBuffer
NEW_GPU_POD_BUFFER = 30.0  # upstream unschedulablePodWithGpuTimeBuffer
GPU_RESOURCE = "nvidia.com/gpu"


@dataclass(frozen=True)
class UnschedulablePod:
    """A pod the scheduler could not place, and since when it exists (virtual seconds; CA
    reads its creationTimestamp)."""

    pod: Pod
    since: float


@dataclass(frozen=True)
class FleetView:
    """Which fleet nodes are ready, upcoming or leaving at one instant."""

    ready: tuple[FleetNode, ...]
    upcoming: tuple[FleetNode, ...]
    leaving: tuple[FleetNode, ...]

    def size(self, group: str) -> int:
        """The group's target size: ready and upcoming nodes (deleted ones no longer count)."""
        return sum(1 for n in (*self.ready, *self.upcoming) if n.group == group)


def view_of(
    fleet: Fleet, templates: Mapping[str, NodeTemplate], now: float, state: ClusterState
) -> FleetView:
    """Which of `fleet`'s nodes are ready (a Node with its template's complete pools, §3.2),
    upcoming (requested, not failed, not yet ready) or leaving (deleting or failed) at `now`."""
    present = {n.metadata.name for n in state.nodes}
    slices: dict[str, list[ResourceSlice]] = {}
    for each in state.slices:
        if each.spec.node_name:
            slices.setdefault(each.spec.node_name, []).append(each)
    ready: list[FleetNode] = []
    upcoming: list[FleetNode] = []
    leaving: list[FleetNode] = []
    for node in fleet.nodes():
        life = node.lifecycle
        if life.requested_at > now or (life.gone_at is not None and life.gone_at <= now):
            continue
        if life.launch_failed or life.is_leaving(now):
            leaving.append(node)
            continue
        template = templates[life.shape]
        if node.name in present and not is_upcoming(template, slices.get(node.name, [])):
            ready.append(node)
        else:
            upcoming.append(node)
    return FleetView(tuple(ready), tuple(upcoming), tuple(leaving))


@dataclass
class FleetAutoscaler:
    """What both autoscaler modes hold over one run's fleet: the config, the fleet, the
    catalog the node templates are built from, the seed of their tie-breaking `rng`
    (`<rng_name>/<seed>`), the feature gates and the scheduler profile they plan with."""

    rng_name: ClassVar[str] = "autoscaler"
    config: AutoscalingConfig
    fleet: Fleet
    catalog: Catalog
    seed: int = 0
    features: Features = field(default_factory=Features)
    scheduler_config: SchedulerConfiguration | None = None
    templates: dict[str, NodeTemplate] = field(init=False)
    rng: random.Random = field(init=False)
    # Speed-up switch (decisions equal either way, tested): the what-if clusters remember
    # each pod shape's Filter verdicts per node generation (`PlanningSnapshot.of`).
    remember_planning_verdicts: bool = True
    # Which extension Protocols each plugin class implements, asked once per run rather than
    # once per what-if build (`PluginTraits(remember=False)`: the plain path).
    plugin_traits: PluginTraits = field(default_factory=PluginTraits)

    def __post_init__(self) -> None:
        self.templates = self.config.templates(self.catalog)
        self.rng = random.Random(f"{self.rng_name}/{self.seed}")

    def planning_snapshot(self, state: ClusterState, view: FleetView) -> PlanningSnapshot:
        """The loop's what-if cluster: `state` without its upcoming and leaving fleet nodes,
        plus one template copy per upcoming node (a node, or a NodeClaim, counts with its
        template's devices until it is ready, §3.2 and §5.1)."""
        snapshot = PlanningSnapshot.of(
            state,
            self.features,
            config=self.scheduler_config,
            seed=self.seed,
            exclude_nodes={n.name for n in (*view.upcoming, *view.leaving)},
            remember_verdicts=self.remember_planning_verdicts,
            traits=self.plugin_traits,
        )
        for index, node in enumerate(view.upcoming):
            snapshot.add_node(self.templates[node.lifecycle.shape].upcoming(index))
        return snapshot


@dataclass
class ClusterAutoscaler(FleetAutoscaler):
    """cluster-autoscaler mode over one run's fleet (see the module docstring).

    autoscaler = ClusterAutoscaler(config, Fleet(config, seed=7), catalog, seed=7)
    result = autoscaler.run_once(600.0, state, [UnschedulablePod(pod, since=590.0)])
    [str(d) for d in result.decisions]    # ['scale up l4x4-od by 1 (on-demand) for 1 pod(s): ...']
    autoscaler.status(600.0)               # the status ConfigMap's content
    """

    rng_name: ClassVar[str] = "cluster-autoscaler"
    backoff: NodeGroupBackoff = field(init=False)
    scale_down_state: ScaleDownState = field(init=False)
    last_scale_up: float | None = None
    last_run: float | None = None
    last_result: LoopResult | None = None
    _handled: set[str] = field(default_factory=set)  # failed or interrupted nodes seen
    _scale_up_groups: set[str] = field(default_factory=set)  # groups with a scale-up going
    _ever_existed: set[str] = field(default_factory=set)  # groups that had a ready node
    provisioning_request_state: ProvisioningRequestState = field(
        default_factory=ProvisioningRequestState
    )
    _regular_turn: bool = True  # CA's wrapper orchestrator: whose turn to scale up
    _devices_checked: set[str] = field(default_factory=set)  # ready nodes seen (§12)
    # Speed-up switches (decisions equal either way, tested): a loop with nothing to place
    # (no unschedulable pod, buffer chunk or served ProvisioningRequest) builds no planning
    # snapshot, and scale-down builds its what-if cluster only once a candidate's pods must
    # move. Building a snapshot (a whole scheduler) is most of a quiet loop's cost.
    skip_unused_planning_snapshot: bool = True
    lazy_scale_down_snapshot: bool = True
    # A loop whose planning inputs equal the last loop's reuses that loop's snapshot and
    # placements (`planmemo`: the build and the placements are functions of the inputs).
    remember_planning: bool = True
    plan_memo: PlanMemo = field(default_factory=PlanMemo)
    # Scale-down's removal simulation is reused while the cluster, the nodes left out and
    # the candidates are equal to the last loop's (`planmemo.RemovalMemo`).
    remember_removals: bool = True
    removal_memo: RemovalMemo = field(default_factory=RemovalMemo)

    def __post_init__(self) -> None:
        super().__post_init__()
        options = self.config.options
        self.backoff = NodeGroupBackoff(
            options.initial_node_group_backoff_duration,
            options.max_node_group_backoff_duration,
            options.node_group_backoff_reset_timeout,
        )
        self.scale_down_state = ScaleDownState()

    # -------------------------------------------------------------------------- loop

    def is_due(self, now: float) -> bool:
        """True when a loop is due at `now` (every `scanInterval`)."""
        interval = self.config.options.scan_interval
        return self.last_run is None or now >= self.last_run + interval - 1e-9

    def run_once(
        self,
        now: float,
        state: ClusterState,
        unschedulable: Sequence[UnschedulablePod],
        *,
        provisioning_requests: Sequence[ProvisioningRequest] = (),
        buffer_pods: Sequence[VirtualPod] = (),
        claim_templates: Mapping[str, ResourceClaimTemplate] | None = None,
    ) -> LoopResult:
        """One loop at `now` (see the module docstring); returns its decisions.

        `provisioning_requests` (served with `enableProvisioningRequests`) come back with
        their conditions updated in `LoopResult.provisioning_requests`; `buffer_pods` are
        the CapacityBuffers' chunks (`capacitybuffer.buffer_pods`); `claim_templates`
        (`namespace/name`) make the requests' pods' claims."""
        result = LoopResult(now)
        self.last_run = now
        templates = claim_templates or {}
        requests = list(provisioning_requests)
        serve_requests = self.config.options.enable_provisioning_requests
        self._check_fleet(now, result)
        view = self.fleet_view(now, state)
        for node in view.ready:
            self._ever_existed.add(node.group)
        result.template_mismatches = self._template_mismatches(view, state)
        for group in sorted(self._scale_up_groups):
            if not any(n.group == group for n in view.upcoming):
                self._scale_up_groups.discard(group)
                self.backoff.remove(group)  # the scale-up completed
        self.backoff.remove_stale(now)

        if self.skip_unused_planning_snapshot and not (
            unschedulable or buffer_pods or (serve_requests and requests)
        ):
            # What the rest of the loop does with nothing to place: no scale-up, the turn
            # back to regular pods, scale-down on the cluster as it is (and on this view:
            # nothing since has changed the fleet).
            self._regular_turn = True
            scale_down(self, now, state, view, result)
            result.provisioning_requests = tuple(requests)
            self.last_result = result
            return result
        # A loop booking ProvisioningRequests changes its snapshot after planning: it is
        # never remembered (`planmemo`).
        inputs = (
            PlanInputs.of(state, view, unschedulable, buffer_pods)
            if self.remember_planning and not (serve_requests and requests)
            else None
        )
        plan = self.plan_memo.recall(inputs) if inputs is not None else None
        if plan is None:
            snapshot = self.planning_snapshot(state, view)
            booked: list[VirtualPod] = []
            if serve_requests and requests:
                requests = provisioning.refresh(now, requests, state, result)
                booked = provisioning.book(snapshot, requests, state, templates)
            plan = self._place_pending(snapshot, unschedulable, buffer_pods, booked)
            if inputs is not None:
                self.plan_memo.keep(inputs, plan)
        snapshot = plan.snapshot
        held = list(plan.held)  # planned pods that hold room this loop (§7.2, §8)
        buffer_left = list(plan.buffer_left)
        delay = self.config.options.new_pod_scale_up_delay
        to_help = [p for p in plan.unplaced if now - p.since >= delay]
        result.unplaced_buffer_pods = tuple(v.key for v in buffer_left)
        result.pending_pods = tuple(pod_key(p.pod) for p in to_help)
        waiting = (
            provisioning.waiting(requests, self.provisioning_request_state, now)
            if serve_requests
            else []
        )
        regular = [p.pod for p in to_help] + [v.pod for v in buffer_left]
        scaled_up = False
        if to_help and not buffer_left and not waiting and self._all_new(now, to_help):
            result.skipped = "unschedulable pods are very new, waiting one iteration"
            result.provisioning_requests = tuple(requests)
            self.last_result = result
            return result
        # CA's wrapper orchestrator: regular pods and ProvisioningRequests take turns.
        if not waiting:
            self._regular_turn = True
        elif not regular:
            self._regular_turn = False
        if regular and self._regular_turn:
            scaled_up = scale_up(self, now, state, snapshot, view, regular, result)
        elif waiting:
            for request in provisioning.turn(self.config.options, waiting):
                outcome = provisioning.process_one(
                    self, now, state, snapshot, view, request, templates, result
                )
                requests = [outcome.request if r.key == request.key else r for r in requests]
                snapshot = outcome.snapshot
                held += outcome.placed
                scaled_up = scaled_up or outcome.scaled_up
        if regular or waiting:
            self._regular_turn = not self._regular_turn
        if scaled_up:
            self.last_scale_up = now
        else:
            scale_down(
                self, now, with_held(state, snapshot, held), self.fleet_view(now, state), result
            )
        result.provisioning_requests = tuple(requests)
        self.last_result = result
        return result

    # ------------------------------------------------------------------ fleet health

    def _group(self, name: str) -> NodeGroup:
        return self.fleet.group(name)

    def _provision_time(self, group: NodeGroup) -> float:
        value = group.options.max_node_provision_time
        return value if value is not None else self.config.options.max_node_provision_time

    def _check_fleet(self, now: float, result: LoopResult) -> None:
        options = self.config.options
        for node in self.fleet.nodes():
            life = node.lifecycle
            if node.name in self._handled or life.requested_at > now:
                continue
            if life.gone_at is not None and life.gone_at <= now:
                continue
            if life.launch_failed:
                if life.launched_at <= now:
                    self._handled.add(node.name)
                    life.delete(now)
                    self.record_failure(
                        now,
                        node.group,
                        FailedScaleUpReason.CLOUD_PROVIDER_ERROR,
                        (node.name,),
                        f"launch of {node.name} failed",
                        result,
                    )
                continue
            if life.is_deleting(now):
                continue
            deadline = life.startup_deadline(
                self._provision_time(self._group(node.group)), options.max_node_startup_time
            )
            if deadline is not None and deadline[0] <= now:
                self._handled.add(node.name)
                life.delete(now)
                self.record_failure(
                    now,
                    node.group,
                    FailedScaleUpReason.TIMEOUT,
                    (node.name,),
                    f"{node.name}: {deadline[1]}",
                    result,
                )
                continue
            notice = life.interruption_notice_at
            if notice is not None and notice <= now:
                self._handled.add(node.name)
                shape = self.config.shapes[life.shape]
                deadline_at = max(notice + shape.interruption.notice_seconds, now)
                life.delete(deadline_at)
                result.decisions.append(
                    SpotInterruption(
                        now,
                        node.name,
                        node.group,
                        notice,
                        deadline_at,
                        before_devices_published=notice < life.devices_published_at,
                    )
                )

    def _template_mismatches(self, view: FleetView, state: ClusterState) -> tuple[str, ...]:
        """The newly ready nodes whose published devices differ from their template's."""
        fresh = {n.name: n for n in view.ready if n.name not in self._devices_checked}
        if not fresh:
            return ()
        self._devices_checked.update(fresh)
        published: dict[str, list[ResourceSlice]] = {name: [] for name in fresh}
        for each in state.slices:
            if each.spec.node_name in published:
                published[each.spec.node_name].append(each)
        return tuple(
            name
            for name, node in sorted(fresh.items())
            if differs_from_template(self.templates[node.lifecycle.shape], published[name])
        )

    def record_failure(
        self,
        now: float,
        group: str,
        reason: FailedScaleUpReason,
        nodes: tuple[str, ...],
        message: str,
        result: LoopResult,
    ) -> None:
        until = self.backoff.fail(group, now)
        # A failed scale-up is not one that completes: its end must not lift the backoff.
        self._scale_up_groups.discard(group)
        result.decisions.append(ScaleUpFailure(now, group, reason, nodes, until, message))

    def fleet_view(self, now: float, state: ClusterState) -> FleetView:
        """Ready, upcoming and leaving fleet nodes at `now`, judged against `state`."""
        return view_of(self.fleet, self.templates, now, state)

    # -------------------------------------------------------------------- planning

    def _place_pending(
        self,
        snapshot: PlanningSnapshot,
        unschedulable: Sequence[UnschedulablePod],
        buffer_pods: Sequence[VirtualPod],
        booked: Sequence[VirtualPod],
    ) -> RememberedPlan:
        """Place the pods CA may help (not expendable, not consuming a ProvisioningRequest),
        highest priority first, on `snapshot`'s existing and upcoming nodes, then the buffer
        chunks in the room left (real pods take room first; a chunk keeps what is left, or
        asks for more). The pods that fit nowhere are `unplaced`, in that order."""
        options = self.config.options
        candidates = [
            p
            for p in unschedulable
            if (p.pod.spec.priority or 0) >= options.expendable_pods_priority_cutoff
            and not any(key in p.pod.metadata.annotations for key in CONSUME_PROVREQ)
        ]
        candidates.sort(key=lambda p: (-(p.pod.spec.priority or 0), p.since, pod_key(p.pod)))
        unplaced = tuple(p for p in candidates if snapshot.place(unbound(p.pod)) is None)
        held = list(booked)
        buffer_left: list[VirtualPod] = []
        for virtual in buffer_pods:
            (held if place_virtual(snapshot, virtual) is not None else buffer_left).append(virtual)
        for virtual in buffer_left:
            for claim in virtual.claims:  # the estimate allocates them on template copies
                snapshot.built.cache.set_claim(claim)
        return RememberedPlan(snapshot, unplaced, tuple(held), tuple(buffer_left))

    def _all_new(self, now: float, pods: Sequence[UnschedulablePod]) -> bool:
        """Upstream's allPodsAreNew (see the module docstring, step 4)."""
        if min(p.since for p in pods) + NEW_POD_BUFFER > now:
            return True
        gpu_delay = self.config.options.gpu_pod_delay
        if gpu_delay is None:
            gpu = [p.since for p in pods if _requests_gpu_resource(p.pod)]
            return bool(gpu) and min(gpu) + NEW_GPU_POD_BUFFER > now
        gpu = [p.since for p in pods if _requests_gpu_resource(p.pod) or p.pod.spec.resource_claims]
        return bool(gpu) and min(gpu) + gpu_delay > now

    # ---------------------------------------------------------------------- status

    def status(self, now: float) -> dict[str, object]:
        """What CA's status ConfigMap (`cluster-autoscaler-status`, 1.36's YAML form) would
        hold after the last loop."""
        return status_of(self, now)


def with_held(
    state: ClusterState, snapshot: PlanningSnapshot, held: Sequence[VirtualPod]
) -> ClusterState:
    """`state` with the planned pods that hold room (booked requests, buffer chunks) bound
    where the snapshot put them and their claims as allocated there, so scale-down keeps
    their room: a node with such a pod is not empty, and its planned pods must fit elsewhere."""
    if not held:
        return state
    cache = snapshot.built.cache
    pods: list[Pod] = []
    claims = []
    for virtual in held:
        entry = cache.pods.get(virtual.key)
        if entry is None or not any(n.metadata.name == entry[1] for n in state.nodes):
            continue  # on an upcoming node: nothing to keep yet
        pods.append(
            msgspec.structs.replace(
                virtual.pod, spec=msgspec.structs.replace(virtual.pod.spec, node_name=entry[1])
            )
        )
        for claim in virtual.claims:
            key = f"{claim.metadata.namespace}/{claim.metadata.name}"
            if key in cache.claims:
                claims.append(cache.claims[key])
    return dataclasses.replace(state, pods=[*state.pods, *pods], claims=[*state.claims, *claims])


def _requests_gpu_resource(pod: Pod) -> bool:
    return any(GPU_RESOURCE in c.resources.requests for c in pod.spec.containers) or any(
        GPU_RESOURCE in c.resources.limits for c in pod.spec.containers
    )
