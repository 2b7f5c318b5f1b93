"""The replay's engine: the event heap, the virtual clock, and the loop that feeds the
scheduling queue and the scheduler (the design is in the package docstring, `replay/__init__`).

It owns virtual time, its event heap and its own bookkeeping of waiting and running pods; the
scheduler cache and the queue own the rest and are changed only through their methods.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum

import msgspec

from dralloc.api.core import Node, Pod, PodSchedulingGroup
from dralloc.api.resource import ResourceClaim, ResourceSlice
from dralloc.autoscaling.clusterautoscaler import UnschedulablePod
from dralloc.autoscaling.lifecycle import Transition
from dralloc.scheduler.cache import SchedulerCache
from dralloc.scheduler.framework import CycleState, PodInfo, Resources, is_node_local
from dralloc.scheduler.gangs import (
    Gang,
    GangIndex,
    GangKey,
    place_gang,
    pop_gang,
    schedule_gang_entity,
)
from dralloc.scheduler.plugins.gangscheduling import GangScheduling
from dralloc.scheduler.plugins.gpushare import MILLI, FragmentationMeter
from dralloc.scheduler.queue import (
    DEFAULT_POD_MAX_IN_UNSCHEDULABLE_PODS_DURATION,
    ClusterEvent,
    QueuedPodInfo,
    QueueingHint,
    QueueName,
)
from dralloc.sim.experiment import POLICIES, build_simulation, workload_in_products
from dralloc.sim.fgd import node_order
from dralloc.sim.openb_objects import NAMESPACE, OpenbPodObjects, pod_objects
from dralloc.sim.replay.autoscaled import FleetDriver, fleet_shapes
from dralloc.sim.replay.results import (
    PodOutcome,
    PodState,
    ReplayAdmission,
    ReplayGangs,
    ReplayOptions,
    ReplayResult,
    Sample,
)
from dralloc.sim.traces.model import TraceNode
from dralloc.sim.traces.timeline import NodeAction, NodeEvent, ReplayTrace, TimedPod

__all__ = ["LEFTOVER_FLUSH_PERIOD", "replay"]

LEFTOVER_FLUSH_PERIOD = 30.0
"""flushUnschedulablePodsLeftover runs every 30 s (spec/scheduler.md 1.9)."""
DEFAULT_SAMPLES = 1000
POD_DELETE = ClusterEvent("Pod", "Delete")
NODE_ADD = ClusterEvent("Node", "Add")
POD_ADD = ClusterEvent("Pod", "Add")
SLICE_ADD = ClusterEvent("resource.k8s.io/ResourceSlice", "Add")
_SECONDS_PER_HOUR = 3600.0


def replay(
    trace: ReplayTrace,
    policy: str,
    seed: int,
    options: ReplayOptions | None = None,
    *,
    observer: Callable[[float, SchedulerCache], None] | None = None,
    gangs: ReplayGangs | None = None,
    admission: ReplayAdmission | None = None,
) -> ReplayResult:
    """Replay `trace` with `policy` (one of `POLICIES`); `seed` draws the node ranking that
    breaks score ties (and the Random policy's choices), as in the FGD experiment.

    `observer(time, cache)` is called after every batch of events once the queue is drained;
    it must not change anything (tests use it to check invariants). `gangs` says which pods
    form gangs (placed all or nothing with the gates on, `ReplayGangs`); `admission` holds
    pods until their job is admitted (queues, `ReplayAdmission`). InputError for a
    trace that `ReplayTrace.check` refuses; ValueError for an unknown policy.
    """
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r} (known: {', '.join(POLICIES)})")
    trace.check()
    return _Replay(
        trace, policy, seed, options or ReplayOptions(), observer, gangs, admission
    ).run()


# --------------------------------------------------------------------------------------------
# The engine


class _Kind(IntEnum):
    ARRIVAL = 0
    COMPLETION = 1
    NODE = 2
    BACKOFF_FLUSH = 3
    LEFTOVER_FLUSH = 4
    FLEET = 5  # an autoscaled node's phase (`replay.autoscaled`)
    AUTOSCALE = 6  # a scan tick of the autoscaler


_REAL = (_Kind.ARRIVAL, _Kind.COMPLETION, _Kind.NODE, _Kind.FLEET)


class _VirtualClock:
    """The queue's `Clock`: the engine sets `time`, the queue reads it."""

    def __init__(self) -> None:
        self.time = 0.0

    def now(self) -> float:
        return self.time


@dataclass(slots=True)
class _Waiting:
    index: int
    timed: TimedPod
    objects: OpenbPodObjects
    requests: Resources
    products: frozenset[str]  # allowed GPU product names; empty: any
    shape: bytes  # what every plugin reads of the pod (the framework's signature)
    rejectors: frozenset[str] = frozenset()  # of the last rejection; empty: never rejected
    checked: int = 0  # entries of `_Replay.freed` already known not to help this pod
    error_at: float | None = None  # when its last attempt ended in an error


@dataclass(slots=True)
class _Running:
    index: int
    objects: OpenbPodObjects
    node: str
    model: str
    start: float
    milli: int
    run: int = 0  # which run of the pod (an evicted pod may run again): its completion's tag


class _ArrivedGangs:
    """The replay's `GangLister`: the gangs of `ReplayGangs`, where the members the scheduler
    knows (GangScheduling's PreEnqueue quorum) are those arrived so far."""

    def __init__(self, index: GangIndex) -> None:
        self.index = index
        self.arrived: dict[GangKey, int] = {}

    def gang_of(self, pod_key: str) -> Gang | None:
        return self.index.gang_of(pod_key)

    def pre_enqueue(self, pod_key: str, known_pods: int | None = None) -> str | None:
        gang = self.index.gang_of(pod_key)
        if gang is not None and known_pods is None:
            known_pods = self.arrived.get(gang.key, 0)
        return self.index.pre_enqueue(pod_key, known_pods)


def _gang_index(trace: ReplayTrace, gangs: ReplayGangs | None) -> GangIndex | None:
    """The gangs of the run, None when nothing is ganged (no group, or a gate off)."""
    if gangs is None or not gangs.features.gang_scheduling:
        return None
    index = GangIndex()
    for group in gangs.pod_groups:
        key = GangKey(group.metadata.namespace or "default", group.metadata.name)
        policy = group.spec.scheduling_policy.gang
        index.gangs[key] = Gang(key, policy.min_count if policy is not None else None)
    for timed in trace.pods:
        name = gangs.members.get(timed.pod.name)
        if name is None:
            continue
        key = GangKey(NAMESPACE, name)
        index.member_of[f"{NAMESPACE}/{timed.pod.name}"] = key
        # A member naming no PodGroup waits for it, as the API server's pods would.
        index.gangs.setdefault(key, Gang(key, None, declared=False))
    return index if index.member_of else None


class _Replay:
    def __init__(
        self,
        trace: ReplayTrace,
        policy: str,
        seed: int,
        options: ReplayOptions,
        observer: Callable[[float, SchedulerCache], None] | None,
        gangs: ReplayGangs | None = None,
        admission: ReplayAdmission | None = None,
    ) -> None:
        self.trace = trace
        self.admission = admission
        self.runs = itertools.count(1)
        self.policy = policy
        self.seed = seed
        self.options = options
        self.observer = observer
        autoscaling = options.autoscaling
        self.fleet_shapes: dict[str, TraceNode] = {}
        if autoscaling is not None:
            self.fleet_shapes = fleet_shapes(autoscaling.config, autoscaling.catalog, trace.models)
            if not autoscaling.keep_trace_nodes:
                trace = dataclasses.replace(trace, nodes=(), node_events=())
                self.trace = trace
        models = trace.models
        rng = random.Random(seed)
        rank = node_order([node.name for node in trace.nodes], rng)
        workload = workload_in_products([t.pod for t in trace.pods], models)
        gang_index = _gang_index(trace, gangs)
        self.gangs = _ArrivedGangs(gang_index) if gang_index is not None else None
        self.group_of = dict(gangs.members) if gang_index is not None and gangs else {}
        sim = build_simulation(
            trace.nodes,
            workload,
            policy,
            rng,
            rank,
            models,
            features=gangs.features if gangs is not None else None,
            gangs=self.gangs,
            node_affinity=admission is not None,
        )
        self.cache, self.view, self.scheduler, self.shapes = (
            sim.cache,
            sim.view,
            sim.scheduler,
            sim.shapes,
        )
        self.clock = _VirtualClock()
        # The profile's queue: each event is judged by the hints its plugins declared.
        self.queue = sim.queue(
            self.clock, (GangScheduling(self.gangs),) if self.gangs is not None else ()
        )
        self.framework = sim.scheduler.framework
        self.describe_node = sim.describe_node

        self.node_model = {n.name: n.model or "" for n in trace.nodes}
        self.node_gpus = {n.name: n.gpus for n in trace.nodes}
        self.node_objects = {name: info.node for name, info in self.cache.nodes.items()}
        self.on_node: dict[str, set[str]] = {n.name: set() for n in trace.nodes}
        for name in sorted(trace.nodes_added_later()):
            self.cache.remove_node(name)
        self.capacity = sum(self.node_gpus[name] for name in self.cache.nodes) * MILLI
        self.allocated = 0
        # Per GPU model, for the cost of capacity (`ReplayResult.capacity_gpu_hours`): milli-GPU
        # in the cluster and fragmented now, and their integrals over the charged window, which
        # opens at the first arrival (a trace's clock may start long before it).
        fleet_codes = {node.model for node in self.fleet_shapes.values() if node.model}
        codes = sorted({m for m in self.node_model.values() if m} | fleet_codes)
        self.model_capacity = dict.fromkeys(codes, 0)
        for name in self.cache.nodes:
            if self.node_model[name]:
                self.model_capacity[self.node_model[name]] += self.node_gpus[name] * MILLI
        self.model_fragment = dict.fromkeys(codes, 0.0)
        self.model_capacity_area = dict.fromkeys(codes, 0.0)
        self.model_fragment_area = dict.fromkeys(codes, 0.0)
        # Autoscaled nodes' part of the capacity: their provisioned hours come from the fleet
        # (launch to gone), so the engine's own integral leaves them out.
        self.fleet_capacity = dict.fromkeys(codes, 0)
        self.fleet_capacity_area = dict.fromkeys(codes, 0.0)
        self.charge_from = min((t.arrival for t in trace.pods), default=0.0)
        # FGD's fragmentation F(M) against the trace's typical pods, per node in the cluster,
        # kept up to date as pods start and stop and nodes come and go.
        self.meter = FragmentationMeter(workload)
        self.fragment: dict[str, float] = {}
        self.fragmented = 0.0
        for name in sorted(self.cache.nodes):
            self._refresh_fragment(name)

        self.heap: list[tuple[float, int, _Kind, object]] = []
        self.sequence = itertools.count()
        self.real_events = 0
        for index, timed in enumerate(trace.pods):
            self._push(timed.arrival, _Kind.ARRIVAL, index)
        for event in trace.node_events:
            self._push(event.time, _Kind.NODE, event)
        self.flush_times: set[tuple[_Kind, float]] = set()

        self.waiting: dict[str, _Waiting] = {}
        self.running: dict[str, _Running] = {}
        count = len(trace.pods)
        self.starts: list[float | None] = [None] * count
        self.ends: list[float | None] = [None] * count
        self.placed_on: list[str | None] = [None] * count
        self.states = [PodState.NOT_ARRIVED] * count
        self.gpu_milli_seconds = dict.fromkeys(codes, 0.0)
        self.attempts = 0
        self.retries_skipped = 0
        # Nodes that gained capacity (a pod completed, the node joined), in event order.
        self.freed: list[str] = []
        # (pod shape, node) -> (node generation, whether it passed Filter): `_may_fit`'s
        # answers, bounded by shapes x nodes.
        self.fits_memo: dict[tuple[bytes, str], tuple[int, bool]] = {}
        # Answers hold per node generation only while every Filter plugin is node-local.
        self.remember_fits = all(is_node_local(p) for p in self.framework.profile.filter)

        self.last_time = 0.0
        self.last_change = 0.0  # time of the last arrival, completion or node event
        self.skip_hopeless = options.skip_hopeless_retries
        self.allocated_area = 0.0
        self.capacity_area = 0.0
        self.fragment_area = 0.0
        self.samples: list[Sample] = []
        interval = options.sample_interval
        if interval is None:
            span = max((t.arrival + (t.duration or 0.0) for t in trace.pods), default=0.0)
            interval = max(1.0, span / DEFAULT_SAMPLES)
        self.interval = interval
        self.next_sample = 0
        self.fleet: FleetDriver | None = None
        self.fleet_nodes: set[str] = set()
        self.fleet_events = 0  # fleet transitions on the heap (part of `real_events`)
        if autoscaling is not None:
            self.fleet = FleetDriver(autoscaling, self.fleet_shapes, seed, self)
            self.fleet.start()

    # ------------------------------------------------------------------------ the loop

    def run(self) -> ReplayResult:
        heap = self.heap
        horizon = self.options.horizon
        fleet = self.fleet
        while heap and (
            self.real_events > self.fleet_events
            or self._may_recover()
            or (
                fleet is not None
                and not fleet.gave_up
                and (self.fleet_events > 0 or fleet.may_act(self.clock.time))
            )
        ):
            now = heap[0][0]
            if horizon is not None and now > horizon:
                break
            self._advance(now)
            self.clock.time = now
            ticks = False
            while heap and heap[0][0] == now:
                _, _, kind, payload = heapq.heappop(heap)
                if kind in _REAL:
                    self.last_change = now
                    if fleet is not None:
                        fleet.changed = True
                if kind is _Kind.AUTOSCALE:
                    self.flush_times.discard((kind, now))
                    ticks = True
                    continue
                self._apply(kind, payload)
            if self.admission is not None:
                self.admission.admit(now, self)
            self._drain()
            if fleet is not None:
                # The loop sees the cluster after the scheduler had its go at it.
                if ticks:
                    fleet.tick(now)
                fleet.after_batch(now)
            if self.admission is not None:
                self.admission.drained(now)
            if self.interval == 0:
                self.samples.append(self._sample(now))
            if self.observer is not None:
                self.observer(now, self.cache)
        end = horizon if horizon is not None else self.clock.time
        self._advance(end)
        if self.interval > 0:
            while (at := self.next_sample * self.interval) <= end:
                self.samples.append(self._sample(at))
                self.next_sample += 1
        return self._result(end)

    def _may_recover(self) -> bool:
        """With no arrival, completion or node event left, only a pod whose last attempt
        failed with an error before the cluster last changed may still be placed (by its
        error-backoff retry); a rejected pod cannot be."""
        return any(
            w.error_at is not None and w.error_at < self.last_change for w in self.waiting.values()
        )

    def _push(self, time: float, kind: _Kind, payload: object) -> None:
        if kind in _REAL:
            self.real_events += 1
        heapq.heappush(self.heap, (time, next(self.sequence), kind, payload))

    def _push_flush(self, time: float, kind: _Kind) -> None:
        if (kind, time) not in self.flush_times:
            self.flush_times.add((kind, time))
            self._push(time, kind, None)

    def _advance(self, now: float) -> None:
        """Account for the time up to `now`: utilization integrals and the samples before it
        (the state is constant between batches)."""
        elapsed = now - self.last_time
        if elapsed > 0:
            self.allocated_area += self.allocated * elapsed
            self.capacity_area += self.capacity * elapsed
            self.fragment_area += self.fragmented * elapsed
            charged = now - max(self.last_time, self.charge_from)
            if charged > 0:
                for model, milli in self.model_capacity.items():
                    self.model_capacity_area[model] += milli * charged
                    self.fleet_capacity_area[model] += self.fleet_capacity[model] * charged
                    self.model_fragment_area[model] += self.model_fragment[model] * charged
            self.last_time = now
        if self.interval > 0:
            while (at := self.next_sample * self.interval) < now:
                self.samples.append(self._sample(at))
                self.next_sample += 1

    def _sample(self, at: float) -> Sample:
        return Sample(
            at,
            self.allocated,
            self.capacity,
            len(self.waiting),
            len(self.running),
            self.fragmented,
        )

    def _refresh_fragment(self, node: str) -> None:
        """Recompute F_n(M) of `node` (0 when it is not in the cluster) into the total."""
        info = self.cache.nodes.get(node)
        new = self.meter.node_fragment(self.view.node_state(info)) if info is not None else 0.0
        change = new - self.fragment.get(node, 0.0)
        self.fragmented += change
        self.fragment[node] = new
        if model := self.node_model[node]:
            self.model_fragment[model] += change

    def _apply(self, kind: _Kind, payload: object) -> None:
        if kind in _REAL:
            self.real_events -= 1
        if kind is _Kind.ARRIVAL:
            assert isinstance(payload, int)
            if self.admission is not None and self.admission.holds(payload):
                self.states[payload] = PodState.PENDING
                self.admission.arrived(payload, self.clock.time)
            else:
                self._arrive(payload)
        elif kind is _Kind.COMPLETION:
            assert isinstance(payload, tuple)
            key, run = payload
            running = self.running.get(key)
            if running is None or running.run != run:
                return  # an earlier run of an evicted pod
            node = self._finish(key, PodState.COMPLETED)
            if node is not None and running is not None:
                self._cluster_event(POD_DELETE, node, old=PodInfo.of(running.objects.pod))
        elif kind is _Kind.NODE:
            assert isinstance(payload, NodeEvent)
            self._node_event(payload)
        elif kind is _Kind.FLEET:
            assert isinstance(payload, Transition) and self.fleet is not None
            self.fleet_events -= 1
            self.fleet.apply(payload, self.clock.time)
        else:
            self.flush_times.discard((kind, self.clock.time))
            if kind is _Kind.BACKOFF_FLUSH:
                self.queue.flush_backoff_q_completed()
            else:
                self.queue.flush()

    # ---------------------------------------------------------------------- pods

    def _arrive(self, index: int, node_selector: Mapping[str, str] | None = None) -> None:
        key = self._enter(index, node_selector)
        objects = self.waiting[key].objects
        gang = self.gangs.gang_of(key) if self.gangs is not None else None
        self.queue.add(objects.pod)
        if gang is not None:
            self._sibling_added(gang)

    def _enter(self, index: int, node_selector: Mapping[str, str] | None = None) -> str:
        """The pod's objects made, its claim in the cache, and its waiting record; its key.
        `node_selector` is merged into the pod's (its topology domain, from the admission)."""
        timed = self.trace.pods[index]
        objects = pod_objects(timed.pod, self.trace.models, self.trace.source)
        group = self.group_of.get(timed.pod.name)
        if group is not None:
            spec = msgspec.structs.replace(
                objects.pod.spec, scheduling_group=PodSchedulingGroup(pod_group_name=group)
            )
            objects.pod = msgspec.structs.replace(objects.pod, spec=spec)
        if node_selector:
            selector = {**objects.pod.spec.node_selector, **node_selector}
            spec = msgspec.structs.replace(objects.pod.spec, node_selector=selector)
            objects.pod = msgspec.structs.replace(objects.pod, spec=spec)
        if objects.claim is not None:
            self.cache.set_claim(objects.claim)
        pod = timed.pod
        products = frozenset(self.trace.models.model(code).product_name for code in pod.gpu_spec)
        # Pods of one shape are alike to every plugin (fresh pending claims), so the
        # framework may reuse node verdicts across them.
        shape = repr(
            (
                pod.cpu_milli,
                pod.memory_mib,
                pod.num_gpu,
                pod.gpu_milli,
                sorted(pod.gpu_spec),
                sorted((node_selector or {}).items()),
            )
        ).encode()
        requests = PodInfo.of(objects.pod).requests
        key = _key(objects)
        self.waiting[key] = _Waiting(index, timed, objects, requests, products, shape)
        if not node_selector:
            # A pinned pod's verdicts hold for its node only, never for alike nodes.
            self.shapes[key] = shape
        self.states[index] = PodState.PENDING
        gang = self.gangs.gang_of(key) if self.gangs is not None else None
        if gang is not None and self.gangs is not None:
            self.gangs.arrived[gang.key] = self.gangs.arrived.get(gang.key, 0) + 1
        return key

    def _drain(self) -> None:
        queue = self.queue
        while (info := queue.pop()) is not None:
            waiting = self.waiting[info.key]
            gang = self.gangs.gang_of(info.key) if self.gangs is not None else None
            if gang is not None:
                self._schedule_gang(info, gang)
                continue
            if (
                waiting.rejectors
                and self.skip_hopeless
                and not self._may_fit(waiting, info.pod_info)
            ):
                self.retries_skipped += 1
                self._requeue(info, waiting.rejectors)
                continue
            self.attempts += 1
            outcome = self.scheduler.schedule_one(info.pod)
            if outcome.node is not None:
                queue.done(info.uid)
                self._start(info.key, waiting, outcome.node)
                continue
            # An error (no rejecting plugin) says nothing about capacity: the next attempt
            # is run for real.
            waiting.rejectors = outcome.unschedulable_plugins
            waiting.checked = len(self.freed)
            waiting.error_at = None if waiting.rejectors else self.clock.time
            self._requeue(info, waiting.rejectors)

    def _schedule_gang(self, first: QueuedPodInfo, gang: Gang) -> None:
        """One pod-group cycle: `first` takes its queued siblings with it (`pop_gang`), all
        of them bind if the quorum is met (counting members running already), else none
        does and each goes back to the queue with its rejectors. The hopeless-retry
        shortcut is not taken: whether a member fits depends on its siblings."""
        assert self.gangs is not None
        keys = self.gangs.index.members(gang.key)
        siblings = [self.waiting[k].objects.pod for k in keys if k in self.waiting]
        members = pop_gang(self.queue, first, siblings)
        running = sum(1 for k in keys if k in self.running)
        self.attempts += len(members)
        placement = schedule_gang_entity(
            self.queue, self.cache, self.framework, gang, members, already_placed=running
        )
        by_key = {info.key: info for info in members}
        for member in placement.members:
            waiting = self.waiting[member.key]
            if placement.bound and member.node is not None:
                self._start(member.key, waiting, member.node)
                continue
            info = by_key[member.key]
            waiting.rejectors = info.rejector_plugins
            waiting.checked = len(self.freed)
            waiting.error_at = None if waiting.rejectors else self.clock.time
            self._schedule_flush(info, self.queue.where(info.uid))

    def _sibling_added(self, gang: Gang) -> None:
        """A member arrived: its siblings gated or rejected by GangScheduling may go now
        (upstream's hint for Pod/Add: same group only)."""
        assert self.gangs is not None
        keys = set(self.gangs.index.members(gang.key))

        def hint(plugin: str, event: ClusterEvent, pod: PodInfo) -> QueueingHint:
            if plugin == GangScheduling.name and pod.key in keys:
                return QueueingHint.QUEUE
            return QueueingHint.QUEUE_SKIP

        self.queue.move_all_to_active_or_backoff(POD_ADD, hint)

    def _may_fit(self, waiting: _Waiting, pod: PodInfo) -> bool:
        """Whether a node that gained capacity since the pod's last rejection now passes the
        profile's PreFilter and Filter plugins. Placing pods only takes capacity, so every
        other node still rejects the pod: if none of these passes, a cycle would reject it
        again. Pods of one shape (alike to every plugin) get one answer per node generation."""
        recent = [n for n in dict.fromkeys(self.freed[waiting.checked :]) if n in self.cache.nodes]
        waiting.checked = len(self.freed)
        if not recent:
            return False
        memo = self.fits_memo
        shape = waiting.shape
        state: CycleState | None = None
        allowed: set[str] = set()
        skipped: set[str] = set()
        for name in recent:
            generation = self.cache.nodes[name].generation
            known = memo.get((shape, name)) if self.remember_fits else None
            if known is not None and known[0] == generation:
                if known[1]:
                    return True
                continue
            if state is None:
                state = CycleState()
                # snapshot() brings the copies snapshot_node reads below up to date too.
                candidates, _, rejected = self.framework.pre_filter(
                    state, pod, self.cache.snapshot()
                )
                if rejected is not None:
                    return True  # the cycle says why, in its own words
                allowed = {node.name for node in candidates}
                skipped = set(state.skip_filter_plugins)
            node = self.cache.snapshot_node(name)
            fits = (
                node is not None
                and name in allowed
                and self.framework.run_filters(state, pod, node, skipped).is_success
            )
            memo[(shape, name)] = (generation, fits)
            if fits:
                return True
        return False

    def _requeue(self, info: QueuedPodInfo, rejectors: frozenset[str]) -> None:
        where = self.queue.add_unschedulable_if_not_present(info, unschedulable_plugins=rejectors)
        self._schedule_flush(info, where)

    def _schedule_flush(self, info: QueuedPodInfo, where: QueueName | None) -> None:
        """Put on the heap the background-loop tick that will move a requeued pod."""
        if where is QueueName.UNSCHEDULABLE and self.options.flush_leftover:
            # The loop ticks every 30 s and takes pods that waited strictly longer than 5 min.
            stale = info.timestamp + DEFAULT_POD_MAX_IN_UNSCHEDULABLE_PODS_DURATION
            tick = (math.floor(stale / LEFTOVER_FLUSH_PERIOD) + 1) * LEFTOVER_FLUSH_PERIOD
            self._push_flush(tick, _Kind.LEFTOVER_FLUSH)
        elif where in (QueueName.BACKOFF, QueueName.ERROR_BACKOFF):
            # Backoff ends at a whole second (PopFromBackoffQ); the 1 s loop frees it after.
            expiry = math.floor(info.timestamp + self.queue.backoff_duration(info))
            self._push_flush(float(expiry + 1), _Kind.BACKOFF_FLUSH)

    def _start(self, key: str, waiting: _Waiting, node: str) -> None:
        del self.waiting[key]
        self.shapes.pop(key, None)
        now = self.clock.time
        pod = waiting.timed.pod
        milli = pod.num_gpu * pod.gpu_milli
        run = next(self.runs)
        self.running[key] = _Running(
            waiting.index, waiting.objects, node, self.node_model[node], now, milli, run
        )
        self.on_node[node].add(key)
        self.allocated += milli
        self._refresh_fragment(node)
        self.starts[waiting.index] = now
        self.placed_on[waiting.index] = node
        self.states[waiting.index] = PodState.RUNNING
        if waiting.timed.duration is not None:
            self._push(now + waiting.timed.duration, _Kind.COMPLETION, (key, run))
        if self.admission is not None:
            self.admission.started(waiting.index, now)

    def _finish(self, key: str, state: PodState) -> str | None:
        """Take a running pod off its node; the node's name, None if it was not running (its
        node left first)."""
        run = self.running.pop(key, None)
        if run is None:
            return None
        now = self.clock.time
        self.scheduler.remove_pod(run.objects.pod)
        if run.objects.claim is not None:
            self.cache.remove_claim(_claim_key(run.objects))
        self.on_node[run.node].discard(key)
        self.allocated -= run.milli
        self._refresh_fragment(run.node)
        if run.model:
            self.gpu_milli_seconds[run.model] += run.milli * (now - run.start)
        self.ends[run.index] = now
        self.states[run.index] = state
        if self.admission is not None:
            self.admission.stopped(run.index, now)
        return run.node

    # ------------------------------------------------- the admission's cluster (queues)

    def release(self, indices: Sequence[int]) -> None:
        for index in indices:
            self._arrive(index)

    def release_onto(
        self, indices: Sequence[int], node_selectors: Sequence[Mapping[str, str]]
    ) -> None:
        for index, selector in zip(indices, node_selectors, strict=True):
            self._arrive(index, selector)

    def place(self, group: str, indices: Sequence[int]) -> str | None:
        return self.place_onto(group, indices, [{}] * len(indices))

    def place_onto(
        self, group: str, indices: Sequence[int], node_selectors: Sequence[Mapping[str, str]]
    ) -> str | None:
        keys = [self._enter(i, s) for i, s in zip(indices, node_selectors, strict=True)]
        pods = [self.waiting[key].objects.pod for key in keys]
        gang = Gang(GangKey(NAMESPACE, group), min_count=len(pods))
        self.attempts += len(pods)
        placement = place_gang(self.cache, self.framework, gang, pods, bind=True)
        if placement.bound:
            for key, node in placement.placed.items():
                self._start(key, self.waiting[key], node)
            return None
        for key in keys:
            self._leave(key)
        blocking = placement.blocking
        return f"pod {blocking.key}: {blocking.message}" if blocking else placement.message

    def placeable_without(
        self,
        group: str,
        indices: Sequence[int],
        victims: Sequence[int],
        node_selectors: Sequence[Mapping[str, str]] | None = None,
    ) -> str | None:
        # A what-if (`AdmissionCluster.placeable_without`): the saved PodInfos and claim
        # objects themselves go back, so allocations and reservations are as they were.
        cache = self.cache
        gone: list[tuple[PodInfo, str]] = []
        claims: dict[str, ResourceClaim] = {}
        for index in dict.fromkeys(victims):
            key = f"{NAMESPACE}/{self.trace.pods[index].pod.name}"
            run = self.running.get(key)
            cached = cache.pods.get(key)
            if run is None or cached is None:
                continue
            if run.objects.claim is not None:
                claim_key = _claim_key(run.objects)
                if claim_key in cache.claims:
                    claims[claim_key] = cache.claims[claim_key]
            gone.append(cached)
        selectors = node_selectors or [{}] * len(indices)
        states = [self.states[index] for index in indices]
        keys: list[str] = []
        try:
            for info, _ in gone:
                cache.remove_pod(info.pod)
            for claim_key in claims:
                cache.remove_claim(claim_key)
            for index, selector in zip(indices, selectors, strict=True):
                keys.append(self._enter(index, selector))
            pods = [self.waiting[key].objects.pod for key in keys]
            gang = Gang(GangKey(NAMESPACE, group), min_count=len(pods))
            placement = place_gang(cache, self.framework, gang, pods)
        finally:
            for key in keys:
                self._leave(key)
            for index, state in zip(indices, states, strict=True):
                self.states[index] = state
            for claim in claims.values():
                cache.set_claim(claim)
            for info, node in gone:
                cache.assume_pod(info, node)
        if placement.is_admitted:
            return None
        blocking = placement.blocking
        return f"pod {blocking.key}: {blocking.message}" if blocking else placement.message

    def evict(self, indices: Sequence[int]) -> None:
        for index in indices:
            key = f"{NAMESPACE}/{self.trace.pods[index].pod.name}"
            run = self.running.get(key)
            if run is not None:
                node = self._finish(key, PodState.EVICTED)
                if node is not None:
                    self._cluster_event(POD_DELETE, node, old=PodInfo.of(run.objects.pod))
                self._forget_arrival(key)
            elif key in self.waiting:
                self.queue.delete(self.waiting[key].objects.pod)
                self._leave(key)
            self.states[index] = PodState.PENDING

    def _leave(self, key: str) -> None:
        """A waiting pod leaves without running: its record, shape and claim go."""
        waiting = self.waiting.pop(key)
        self.shapes.pop(key, None)
        if waiting.objects.claim is not None:
            self.cache.remove_claim(_claim_key(waiting.objects))
        self._forget_arrival(key)

    def _forget_arrival(self, key: str) -> None:
        gang = self.gangs.gang_of(key) if self.gangs is not None else None
        if gang is not None and self.gangs is not None:
            self.gangs.arrived[gang.key] = max(0, self.gangs.arrived.get(gang.key, 0) - 1)

    # ------------------------------------------------------------------- cluster events

    def _cluster_event(
        self,
        event: ClusterEvent,
        node: str,
        *,
        old: object | None = None,
        new: object | None = None,
    ) -> None:
        """`event` happened on `node`: the queue asks the hints the rejecting plugins declared
        (`SchedulingQueue.on_event`), as kube-scheduler's does."""
        self.freed.append(node)
        self.queue.on_event(event, old, new)

    def _take_node_away(self, name: str) -> None:
        """The node leaves the scheduler's cluster: its pods are evicted, its GPUs go."""
        if self.admission is not None:
            indices = sorted(self.running[key].index for key in self.on_node[name])
            self.admission.node_removed(name, indices, self.clock.time, self)
        for key in sorted(self.on_node[name]):
            self._finish(key, PodState.EVICTED)
        self.cache.remove_node(name)
        self.capacity -= self.node_gpus[name] * MILLI
        if model := self.node_model[name]:
            self.model_capacity[model] -= self.node_gpus[name] * MILLI
            if name in self.fleet_nodes:
                self.fleet_capacity[model] -= self.node_gpus[name] * MILLI
        self._refresh_fragment(name)

    def _node_event(self, event: NodeEvent) -> None:
        name = event.node
        if event.action is NodeAction.REMOVE:
            self._take_node_away(name)
            return
        added = self.cache.add_node(self.node_objects[name])
        self.capacity += self.node_gpus[name] * MILLI
        if model := self.node_model[name]:
            self.model_capacity[model] += self.node_gpus[name] * MILLI
        self._refresh_fragment(name)
        self._cluster_event(NODE_ADD, name, new=added)

    # ---------------------------------------------------- the autoscaled fleet's cluster

    def fleet_node_ready(self, node: Node, shape: TraceNode) -> None:
        """An autoscaled node registered and is Ready: in the cache, with no devices yet."""
        name = node.metadata.name
        self.fleet_nodes.add(name)
        self.node_model[name] = shape.model or ""
        self.node_gpus[name] = 0  # counted once its devices are published
        self.on_node[name] = set()
        # Copies of one template publish alike devices: the speed-ups key them on the shape.
        fleet_shape = ("fleet", shape.name)
        self.describe_node(
            name,
            (fleet_shape, shape.gpus),
            (fleet_shape, shape.gpus, shape.cpu_milli, shape.memory_mib),
        )
        added = self.cache.add_node(node)
        self._refresh_fragment(name)
        self._cluster_event(NODE_ADD, name, new=added)

    def fleet_devices_published(
        self, name: str, slices: tuple[ResourceSlice, ...], gpus: int
    ) -> None:
        """Its driver published its ResourceSlices: its `gpus` count from now on."""
        published = [entry.slice for entry in self.cache.inventory.slices]
        self.cache.replace_slices([*published, *slices])
        self.node_gpus[name] = gpus
        self.capacity += gpus * MILLI
        if model := self.node_model[name]:
            self.model_capacity[model] += gpus * MILLI
            self.fleet_capacity[model] += gpus * MILLI
        self._refresh_fragment(name)
        for each in slices:
            self._cluster_event(SLICE_ADD, name, new=each)

    def fleet_node_leaving(self, name: str) -> None:
        """Deleting: its pods are evicted and it takes no more (see `replay.autoscaled`)."""
        self._take_node_away(name)

    def fleet_slices_gone(self, name: str) -> None:
        kept = [e.slice for e in self.cache.inventory.slices if e.slice.spec.node_name != name]
        self.cache.replace_slices(kept)

    def unschedulable(self) -> list[UnschedulablePod]:
        """The pods the scheduler failed to place, since their arrival (CA's
        creationTimestamp). A cluster with no node at all fails a cycle with an error
        (ErrNoNodesAvailable) rather than a rejection; a real one has system nodes, so
        those pods count too."""
        return [
            UnschedulablePod(w.objects.pod, w.timed.arrival)
            for w in self.waiting.values()
            if w.rejectors or w.error_at is not None
        ]

    def bound_pods(self) -> list[Pod]:
        """Every running pod with `spec.nodeName` set."""
        return [
            msgspec.structs.replace(
                run.objects.pod,
                spec=msgspec.structs.replace(run.objects.pod.spec, node_name=run.node),
            )
            for run in self.running.values()
        ]

    def push_transition(self, transition: Transition) -> None:
        self.fleet_events += 1
        self._push(transition.time, _Kind.FLEET, transition)

    def push_tick(self, time: float) -> None:
        self._push_flush(max(time, self.clock.time), _Kind.AUTOSCALE)

    # ------------------------------------------------------------------------- result

    def _result(self, end: float) -> ReplayResult:
        for run in self.running.values():
            if run.model:
                self.gpu_milli_seconds[run.model] += run.milli * (end - run.start)
        outcomes = []
        for index, timed in enumerate(self.trace.pods):
            node = self.placed_on[index]
            outcomes.append(
                PodOutcome(
                    name=timed.pod.name,
                    arrival=timed.arrival,
                    start=self.starts[index],
                    end=self.ends[index],
                    node=node,
                    model=(self.node_model[node] or None) if node is not None else None,
                    gpu_milli=timed.pod.num_gpu * timed.pod.gpu_milli,
                    state=self.states[index],
                )
            )
        start = min((t.arrival for t in self.trace.pods), default=0.0)
        capacity = {
            model: area / MILLI / _SECONDS_PER_HOUR
            for model, area in self.model_capacity_area.items()
        }
        summary = self.fleet.summary(end) if self.fleet is not None else None
        if summary is not None:
            for model in capacity:
                trace_part = self.model_capacity_area[model] - self.fleet_capacity_area[model]
                capacity[model] = trace_part / MILLI / _SECONDS_PER_HOUR + (
                    summary.provisioned_gpu_hours.get(model, 0.0)
                )
        return ReplayResult(
            workload=self.trace.workload,
            policy=self.policy,
            seed=self.seed,
            pods=tuple(outcomes),
            samples=tuple(self.samples),
            gpu_hours={
                model: ms / MILLI / _SECONDS_PER_HOUR
                for model, ms in self.gpu_milli_seconds.items()
            },
            start_time=min(start, end),
            end_time=end,
            mean_utilization=(
                self.allocated_area / self.capacity_area if self.capacity_area else 0.0
            ),
            attempts=self.attempts,
            retries_skipped=self.retries_skipped,
            mean_fragmentation=(
                self.fragment_area / self.capacity_area if self.capacity_area else 0.0
            ),
            capacity_gpu_hours=capacity,
            fragmented_gpu_hours={
                model: area / MILLI / _SECONDS_PER_HOUR
                for model, area in self.model_fragment_area.items()
            },
            autoscaling=summary,
        )


def _key(objects: OpenbPodObjects) -> str:
    return f"{objects.pod.metadata.namespace}/{objects.pod.metadata.name}"


def _claim_key(objects: OpenbPodObjects) -> str:
    assert objects.claim is not None
    return f"{objects.claim.metadata.namespace}/{objects.claim.metadata.name}"
