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
   left has its backoff removed. A spot node whose interruption notice has come is recorded
   (`SpotInterruption`) and deleted at notice + `noticeSeconds`.
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
5. Scale-up: per node group (config order) not at max, not backed off, with a template, an
   estimate (`estimator.py`) on a fork of the snapshot, capped by the group's max,
   `maxNodesTotal`, `maxNodesPerScaleUp` and the maxima of `coresTotal` / `memoryTotal`
   (GiB, over the nodes' capacity); the expander chain (`expanders.py`) picks one;
   `balanceSimilarNodeGroups` spreads it over groups of the same shape and capacity type,
   smallest first; `zeroOrMaxNodeScaling` groups jump from 0 to max. The shape's `capacity`
   (§6 stock-out) caps what the provider hands out: the rest fails at once
   (`stockout`) and backs the group off. A scale-up skips scale-down this loop.
6. Scale-down (`scale_down`): unneeded nodes found, timers kept, deletions done unless in
   cooldown (`scaleDownDelayAfterAdd/Delete/Failure`).

Capacity types are carried on every record (the group's `capacityType`).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dralloc.api.core import Pod
from dralloc.api.resource import ResourceClaim, ResourceSlice
from dralloc.autoscaling.backoff import NodeGroupBackoff
from dralloc.autoscaling.config import AutoscalingConfig, NodeGroup, TemplateSource
from dralloc.autoscaling.decisions import (
    FailedScaleUpReason,
    LoopResult,
    NoScaleUp,
    NoScaleUpReason,
    ScaleUp,
    ScaleUpFailure,
    SpotInterruption,
)
from dralloc.autoscaling.estimator import Estimate, container_requests, estimate, pack_order
from dralloc.autoscaling.expanders import Option, build_chain, choose
from dralloc.autoscaling.fleet import Fleet, FleetNode
from dralloc.autoscaling.planning import ClusterState, PlanningSnapshot, pod_key, unbound
from dralloc.autoscaling.scaledown import ScaleDownState, scale_down
from dralloc.autoscaling.status import status_of
from dralloc.autoscaling.templates import NodeTemplate, is_upcoming
from dralloc.autoscaling.utilization import device_utilization
from dralloc.devices.catalog import Catalog
from dralloc.features import Features
from dralloc.scheduler.cache import pod_claim_keys
from dralloc.scheduler.config import SchedulerConfiguration

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


@dataclass
class ClusterAutoscaler:
    """cluster-autoscaler mode over one run's fleet (see the module docstring).

    autoscaler = ClusterAutoscaler(config, Fleet(config, seed=7), catalog, seed=7)
    result = autoscaler.run_once(600.0, state, [UnschedulablePod(pod, since=590.0)])
    [str(d) for d in result.decisions]    # ['scale up l4x4-od by 1 (on-demand) for 1 pod(s): ...']
    autoscaler.status(600.0)               # the status ConfigMap's content
    """

    config: AutoscalingConfig
    fleet: Fleet
    catalog: Catalog
    seed: int = 0
    features: Features = field(default_factory=Features)
    scheduler_config: SchedulerConfiguration | None = None
    templates: dict[str, NodeTemplate] = field(init=False)
    rng: random.Random = field(init=False)
    backoff: NodeGroupBackoff = field(init=False)
    scale_down_state: ScaleDownState = field(init=False)
    last_scale_up: float | None = None
    last_run: float | None = None
    last_result: LoopResult | None = None
    _handled: set[str] = field(default_factory=set)  # failed or interrupted nodes seen
    _scale_up_groups: set[str] = field(default_factory=set)  # groups with a scale-up going
    _ever_existed: set[str] = field(default_factory=set)  # groups that had a ready node

    def __post_init__(self) -> None:
        options = self.config.options
        self.templates = self.config.templates(self.catalog)
        self.rng = random.Random(f"cluster-autoscaler/{self.seed}")
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
        self, now: float, state: ClusterState, unschedulable: Sequence[UnschedulablePod]
    ) -> LoopResult:
        """One loop at `now` (see the module docstring); returns its decisions."""
        result = LoopResult(now)
        self.last_run = now
        self._check_fleet(now, result)
        view = self.fleet_view(now, state)
        for node in view.ready:
            self._ever_existed.add(node.group)
        for group in sorted(self._scale_up_groups):
            if not any(n.group == group for n in view.upcoming):
                self._scale_up_groups.discard(group)
                self.backoff.remove(group)  # the scale-up completed
        self.backoff.remove_stale(now)

        snapshot = self._planning_snapshot(state, view)
        to_help = self._pods_to_help(now, snapshot, unschedulable)
        result.pending_pods = tuple(pod_key(p.pod) for p in to_help)
        scaled_up = False
        if to_help:
            if self._all_new(now, to_help):
                result.skipped = "unschedulable pods are very new, waiting one iteration"
                self.last_result = result
                return result
            pods = [p.pod for p in to_help]
            scaled_up = self._scale_up(now, state, snapshot, view, pods, result)
        if scaled_up:
            self.last_scale_up = now
        else:
            scale_down(self, now, state, self.fleet_view(now, state), result)
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
                    self._fail(
                        now,
                        node.group,
                        FailedScaleUpReason.CLOUD_PROVIDER_ERROR,
                        (node.name,),
                        f"launch of {node.name} failed",
                        result,
                    )
                continue
            if life.deleting_at is not None:
                continue
            deadline = life.startup_deadline(
                self._provision_time(self._group(node.group)), options.max_node_startup_time
            )
            if deadline is not None and deadline[0] <= now:
                self._handled.add(node.name)
                life.delete(now)
                self._fail(
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

    def _fail(
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
        present = {n.metadata.name for n in state.nodes}
        slices: dict[str, list[ResourceSlice]] = {}
        for each in state.slices:
            if each.spec.node_name:
                slices.setdefault(each.spec.node_name, []).append(each)
        ready: list[FleetNode] = []
        upcoming: list[FleetNode] = []
        leaving: list[FleetNode] = []
        for node in self.fleet.nodes():
            life = node.lifecycle
            if life.requested_at > now or (life.gone_at is not None and life.gone_at <= now):
                continue
            if life.launch_failed or life.deleting_at is not None or life.gone_at is not None:
                leaving.append(node)
                continue
            template = self.templates[life.shape]
            if node.name in present and not is_upcoming(template, slices.get(node.name, [])):
                ready.append(node)
            else:
                upcoming.append(node)
        return FleetView(tuple(ready), tuple(upcoming), tuple(leaving))

    # -------------------------------------------------------------------- planning

    def planning_snapshot(self, state: ClusterState, view: FleetView) -> PlanningSnapshot:
        return self._planning_snapshot(state, view)

    def _planning_snapshot(self, state: ClusterState, view: FleetView) -> PlanningSnapshot:
        snapshot = PlanningSnapshot.of(
            state,
            self.features,
            config=self.scheduler_config,
            seed=self.seed,
            exclude_nodes={n.name for n in (*view.upcoming, *view.leaving)},
        )
        for index, node in enumerate(view.upcoming):
            snapshot.add_node(self.templates[node.lifecycle.shape].upcoming(index))
        return snapshot

    def _pods_to_help(
        self, now: float, snapshot: PlanningSnapshot, unschedulable: Sequence[UnschedulablePod]
    ) -> list[UnschedulablePod]:
        options = self.config.options
        candidates = [
            p
            for p in unschedulable
            if (p.pod.spec.priority or 0) >= options.expendable_pods_priority_cutoff
            and not any(key in p.pod.metadata.annotations for key in CONSUME_PROVREQ)
        ]
        candidates.sort(key=lambda p: (-(p.pod.spec.priority or 0), p.since, pod_key(p.pod)))
        left = [p for p in candidates if snapshot.place(unbound(p.pod)) is None]
        return [p for p in left if now - p.since >= options.new_pod_scale_up_delay]

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

    # -------------------------------------------------------------------- scale-up

    def _total_nodes(self, state: ClusterState, view: FleetView) -> int:
        fleet_names = {n.name for n in self.fleet.nodes()}
        static = sum(1 for n in state.nodes if n.metadata.name not in fleet_names)
        return static + len(view.ready) + len(view.upcoming)

    def _resource_room(
        self, state: ClusterState, view: FleetView, template: NodeTemplate
    ) -> int | None:
        """How many nodes of `template` fit under `coresTotal` / `memoryTotal`'s maxima
        (None: no limit). Cluster totals are the nodes' capacity, upcoming ones by their
        template's (CA's `ResourceLimiter`)."""
        options = self.config.options
        limits: list[tuple[int, str]] = []  # (maximum in nano-units, resource)
        if options.cores_total is not None:
            limits.append((options.cores_total[1] * 10**9, "cpu"))
        if options.memory_total is not None:
            limits.append((options.memory_total[1] * 2**30 * 10**9, "memory"))
        if not limits:
            return None
        leaving = {n.name for n in (*view.upcoming, *view.leaving)}
        nodes = [n for n in state.nodes if n.metadata.name not in leaving]
        nodes += [self.templates[n.lifecycle.shape].node for n in view.upcoming]
        room: int | None = None
        for maximum, resource in limits:
            used = sum(q.nano for n in nodes if (q := n.status.capacity.get(resource)) is not None)
            per_node = template.node.status.capacity.get(resource)
            if per_node is None or per_node.nano <= 0:
                continue
            fits = max(0, (maximum - used) // per_node.nano)
            room = fits if room is None else min(room, fits)
        return room

    def _scale_up(
        self,
        now: float,
        state: ClusterState,
        snapshot: PlanningSnapshot,
        view: FleetView,
        pods: list[Pod],
        result: LoopResult,
    ) -> bool:
        options = self.config.options
        reasons: dict[str, dict[str, NoScaleUpReason]] = {pod_key(p): {} for p in pods}
        total = self._total_nodes(state, view)
        if options.max_nodes_total and total >= options.max_nodes_total:
            self._no_scale_up(now, pods, {"*": NoScaleUpReason.MAX_NODES_TOTAL}, result)
            return False
        claims = {f"{c.metadata.namespace}/{c.metadata.name}": c for c in snapshot.claims()}
        options_found: list[Option] = []
        estimates: dict[str, Estimate] = {}
        for group in self.config.node_groups:
            size = view.size(group.name)
            reason = self._excluded(now, group, size)
            if reason is not None:
                for key in reasons:
                    reasons[key][group.name] = reason
                continue
            limit = min(group.max_size - size, options.max_nodes_per_scale_up)
            capped = NoScaleUpReason.MAX_SIZE_REACHED
            if options.max_nodes_total and options.max_nodes_total - total < limit:
                limit = options.max_nodes_total - total
                capped = NoScaleUpReason.MAX_NODES_TOTAL
            template = self.templates[group.shape]
            room = self._resource_room(state, view, template)
            if room is not None and room < limit:
                limit = room
                capped = NoScaleUpReason.RESOURCE_LIMIT
            if limit <= 0:
                for key in reasons:
                    reasons[key][group.name] = capped
                continue
            ordered = pack_order(pods, template, options.pack_order, claims)
            fork = snapshot.fork()
            found = estimate(fork, template, ordered, limit)
            helped = {pod_key(p) for p in found.pods}
            # A pod left over once the estimate used every node it may add hit the limit.
            unhelped = capped if len(found.nodes) >= limit else NoScaleUpReason.NOT_FIT
            for key in reasons:
                if key not in helped:
                    reasons[key][group.name] = unhelped
            if found.node_count == 0:
                continue
            estimates[group.name] = found
            options_found.append(self._option(group, template, fork, found))
        chosen = choose(
            options_found, build_chain(options.expander, options.expander_priorities), self.rng
        )
        if chosen is None:
            self._no_scale_up_each(now, reasons, result)
            return False
        found = estimates[chosen.group.name]
        helped = {pod_key(p) for p in found.pods}
        for key, by_group in reasons.items():
            if key in helped:
                continue
            for name, est in estimates.items():
                if name != chosen.group.name and key in {pod_key(p) for p in est.pods}:
                    by_group[name] = NoScaleUpReason.NOT_CHOSEN
        self._no_scale_up_each(now, {k: v for k, v in reasons.items() if k not in helped}, result)
        plan = self._balanced(now, chosen, view)
        any_requested = False
        for group, count in plan:
            requested = self._request(
                now, group, count, chosen, found, [g for g, _ in plan], result
            )
            any_requested = any_requested or requested
        return any_requested

    def _excluded(self, now: float, group: NodeGroup, size: int) -> NoScaleUpReason | None:
        shape = self.config.shapes[group.shape]
        if size >= group.max_size:
            return NoScaleUpReason.MAX_SIZE_REACHED
        if self.backoff.is_backed_off(group.name, now):
            return NoScaleUpReason.BACKED_OFF
        if (
            shape.template_source is TemplateSource.OBSERVED
            and group.name not in self._ever_existed
        ):
            return NoScaleUpReason.NO_TEMPLATE
        return None

    def _option(
        self, group: NodeGroup, template: NodeTemplate, fork: PlanningSnapshot, found: Estimate
    ) -> Option:
        shape = self.config.shapes[group.shape]
        capacity = template.node.status.capacity  # upstream's waste reads capacity
        cpu = capacity.get("cpu")
        memory = capacity.get("memory")
        cpu_total = (cpu.nano / 1e9 if cpu is not None else 0.0) * found.node_count
        memory_total = (memory.nano / 1e9 if memory is not None else 0.0) * found.node_count
        cpu_used = memory_used = 0.0
        for pod in found.pods:
            cores, memory_bytes = container_requests(pod)
            cpu_used += cores
            memory_used += memory_bytes
        wasted_accelerators = None
        if template.accelerator_count():
            used = [
                device_utilization(fork.slices.get(node, []), _claims_on(fork, node), self.catalog)
                for node in found.nodes
            ]
            wasted_accelerators = 1.0 - sum(used) / len(used)
        return Option(
            group,
            found.node_count,
            found.pods,
            shape.price(group.capacity_type) or 0.0,
            (cpu_total - cpu_used) / cpu_total if cpu_total else 0.0,
            (memory_total - memory_used) / memory_total if memory_total else 0.0,
            wasted_accelerators,
        )

    def _balanced(self, now: float, chosen: Option, view: FleetView) -> list[tuple[NodeGroup, int]]:
        """The node count per group: balanced over similar groups when asked (CA's
        BalanceScaleUpBetweenGroups: each new node to the smallest group below its max), and
        a zero-or-max group jumping to max."""
        group = chosen.group
        count = chosen.node_count
        if group.options.zero_or_max_node_scaling:
            size = view.size(group.name)
            return [(group, group.max_size - size)] if size == 0 else []
        if not self.config.options.balance_similar_node_groups:
            return [(group, count)]
        similar = [
            g
            for g in self.config.node_groups
            if g.shape == group.shape
            and g.capacity_type is group.capacity_type
            and not g.options.zero_or_max_node_scaling
            and (g is group or self._excluded(now, g, view.size(g.name)) is None)
        ]
        sizes = {g.name: view.size(g.name) for g in similar}
        added = {g.name: 0 for g in similar}
        for _ in range(count):
            open_groups = [g for g in similar if sizes[g.name] + added[g.name] < g.max_size]
            if not open_groups:
                break
            smallest = min(open_groups, key=lambda g: (sizes[g.name] + added[g.name], g.name))
            added[smallest.name] += 1
        return [(g, added[g.name]) for g in similar if added[g.name]]

    def _request(
        self,
        now: float,
        group: NodeGroup,
        count: int,
        chosen: Option,
        found: Estimate,
        partners: list[NodeGroup],
        result: LoopResult,
    ) -> bool:
        """Ask the provider for `count` nodes of `group`; the shape's capacity may refuse
        some (a stock-out: failed at once, group backed off)."""
        shape = self.config.shapes[group.shape]
        granted = count
        capacity = shape.availability.capacity
        if capacity is not None:
            live = sum(
                1
                for n in self.fleet.nodes()
                if n.lifecycle.shape == group.shape
                and n.capacity_type is group.capacity_type
                and not n.lifecycle.launch_failed
                and n.lifecycle.deleting_at is None
                and (n.lifecycle.gone_at is None or n.lifecycle.gone_at > now)
            )
            granted = max(0, min(count, capacity - live))
        names = tuple(self.fleet.request(group.name, now).name for _ in range(granted))
        if names:
            self._scale_up_groups.add(group.name)
            result.decisions.append(
                ScaleUp(
                    now,
                    group.name,
                    group.shape,
                    group.capacity_type,
                    names,
                    tuple(pod_key(p) for p in found.pods),
                    shape.price(group.capacity_type) or 0.0,
                    ",".join(self.config.options.expander),
                    chosen.node_count,
                    tuple(g.name for g in partners if g is not group),
                )
            )
        if granted < count:
            self._fail(
                now,
                group.name,
                FailedScaleUpReason.STOCKOUT,
                (),
                f"{count - granted} of {count} {group.capacity_type} {group.shape} node(s) "
                f"refused: out of capacity ({capacity} at most)",
                result,
            )
        return bool(names)

    def _no_scale_up(
        self,
        now: float,
        pods: Sequence[Pod],
        reasons: Mapping[str, NoScaleUpReason],
        result: LoopResult,
    ) -> None:
        for pod in pods:
            result.decisions.append(NoScaleUp(now, pod_key(pod), dict(reasons)))

    def _no_scale_up_each(
        self, now: float, reasons: Mapping[str, Mapping[str, NoScaleUpReason]], result: LoopResult
    ) -> None:
        for key, by_group in reasons.items():
            result.decisions.append(NoScaleUp(now, key, dict(by_group)))

    # ---------------------------------------------------------------------- status

    def status(self, now: float) -> dict[str, object]:
        """What CA's status ConfigMap (`cluster-autoscaler-status`, 1.36's YAML form) would
        hold after the last loop."""
        return status_of(self, now)


def _requests_gpu_resource(pod: Pod) -> bool:
    return any(GPU_RESOURCE in c.resources.requests for c in pod.spec.containers) or any(
        GPU_RESOURCE in c.resources.limits for c in pod.spec.containers
    )


def _claims_on(snapshot: PlanningSnapshot, node: str) -> list[ResourceClaim]:
    claims = snapshot.built.cache.claims
    keys: list[str] = []
    for pod in snapshot.pods_on(node):
        keys.extend(key for _, key in pod_claim_keys(pod) if key is not None)
    return [claims[k] for k in dict.fromkeys(keys) if k in claims]
