"""The replay's engine: the loop that feeds the scheduling queue and the scheduler, and the
cluster the admission and the autoscaled fleet act on (the design is in the package
docstring, `replay/__init__`).

It owns the bookkeeping of waiting and running pods; its parts own the rest of a run:
`virtualtime` the clock and the event heap, `measures` the counters and integrals a result
reports, `retries` the hopeless-retry shortcut, `gangs` the arrived members of each gang,
`records` the waiting and running records. The scheduler cache and the queue are changed
only through their methods.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
from collections.abc import Callable, Mapping, Sequence

import msgspec

from dralloc.api.core import Node, Pod, PodSchedulingGroup
from dralloc.api.resource import ResourceClaim, ResourceSlice
from dralloc.autoscaling.clusterautoscaler import UnschedulablePod
from dralloc.autoscaling.lifecycle import Transition
from dralloc.scheduler.cache import SchedulerCache
from dralloc.scheduler.framework import PodInfo
from dralloc.scheduler.gangs import Gang, GangKey, place_gang, pop_gang, schedule_gang_entity
from dralloc.scheduler.plugins.gangscheduling import GangScheduling
from dralloc.scheduler.plugins.gpushare import FragmentationMeter
from dralloc.scheduler.queue import (
    DEFAULT_POD_MAX_IN_UNSCHEDULABLE_PODS_DURATION,
    ClusterEvent,
    QueuedPodInfo,
    QueueingHint,
    QueueName,
)
from dralloc.sim.experiment import POLICIES, build_simulation, workload_in_products
from dralloc.sim.fgd import node_order
from dralloc.sim.openb_objects import NAMESPACE, pod_objects
from dralloc.sim.replay.autoscaled import FleetDriver, fleet_shapes
from dralloc.sim.replay.gangs import ArrivedGangs, gang_index
from dralloc.sim.replay.measures import ReplayMeasures
from dralloc.sim.replay.records import RunningPod, WaitingPod, claim_key, pod_key, pod_shape
from dralloc.sim.replay.results import (
    PodOutcome,
    PodState,
    ReplayAdmission,
    ReplayGangs,
    ReplayOptions,
    ReplayResult,
)
from dralloc.sim.replay.retries import HopelessRetries
from dralloc.sim.replay.virtualtime import REAL_KINDS, EventHeap, EventKind, VirtualClock
from dralloc.sim.traces.model import TraceNode
from dralloc.sim.traces.timeline import NodeAction, NodeEvent, ReplayTrace

__all__ = ["LEFTOVER_FLUSH_PERIOD", "replay"]

LEFTOVER_FLUSH_PERIOD = 30.0
"""flushUnschedulablePodsLeftover runs every 30 s (spec/scheduler.md 1.9)."""
DEFAULT_SAMPLES = 1000
POD_DELETE = ClusterEvent("Pod", "Delete")
NODE_ADD = ClusterEvent("Node", "Add")
POD_ADD = ClusterEvent("Pod", "Add")
SLICE_ADD = ClusterEvent("resource.k8s.io/ResourceSlice", "Add")


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
        index = gang_index(trace, gangs)
        self.gangs = ArrivedGangs(index) if index is not None else None
        self.group_of = dict(gangs.members) if index is not None and gangs else {}
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
        self.cache, self.scheduler, self.shapes = sim.cache, sim.scheduler, sim.shapes
        self.clock = VirtualClock()
        # The profile's queue: each event is judged by the hints its plugins declared.
        self.queue = sim.queue(
            self.clock, (GangScheduling(self.gangs),) if self.gangs is not None else ()
        )
        self.framework = sim.scheduler.framework
        self.describe_node = sim.describe_node

        self.node_objects = {name: info.node for name, info in self.cache.nodes.items()}
        self.on_node: dict[str, set[str]] = {n.name: set() for n in trace.nodes}
        for name in sorted(trace.nodes_added_later()):
            self.cache.remove_node(name)
        fleet_codes = {node.model for node in self.fleet_shapes.values() if node.model}
        node_model = {n.name: n.model or "" for n in trace.nodes}
        codes = sorted({m for m in node_model.values() if m} | fleet_codes)
        interval = options.sample_interval
        if interval is None:
            span = max((t.arrival + (t.duration or 0.0) for t in trace.pods), default=0.0)
            interval = max(1.0, span / DEFAULT_SAMPLES)
        self.measures = measures = ReplayMeasures(
            self.cache,
            sim.view,
            FragmentationMeter(workload),
            codes,
            charge_from=min((t.arrival for t in trace.pods), default=0.0),
            interval=interval,
        )
        measures.node_model.update(node_model)
        measures.node_gpus.update({n.name: n.gpus for n in trace.nodes})
        for name in self.cache.nodes:
            measures.gpus_added(name, measures.node_gpus[name])
        for name in sorted(self.cache.nodes):
            measures.refresh_fragment(name)

        self.heap = EventHeap()
        for index_, timed in enumerate(trace.pods):
            self.heap.push(timed.arrival, EventKind.ARRIVAL, index_)
        for event in trace.node_events:
            self.heap.push(event.time, EventKind.NODE, event)

        self.waiting: dict[str, WaitingPod] = {}
        self.running: dict[str, RunningPod] = {}
        count = len(trace.pods)
        self.starts: list[float | None] = [None] * count
        self.ends: list[float | None] = [None] * count
        self.placed_on: list[str | None] = [None] * count
        self.states = [PodState.NOT_ARRIVED] * count
        self.attempts = 0
        self.retries = HopelessRetries(self.cache, self.framework)
        self.skip_hopeless = options.skip_hopeless_retries
        self.last_change = 0.0  # time of the last arrival, completion or node event
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
            heap.real_events > self.fleet_events
            or self._may_recover()
            or (
                fleet is not None
                and not fleet.gave_up
                and (self.fleet_events > 0 or fleet.may_act(self.clock.time))
            )
        ):
            now = heap.next_time()
            if horizon is not None and now > horizon:
                break
            self._advance(now)
            self.clock.time = now
            ticks = False
            while heap.has_event_at(now):
                kind, payload = heap.pop()
                if kind in REAL_KINDS:
                    self.last_change = now
                    if fleet is not None:
                        fleet.changed = True
                if kind is EventKind.AUTOSCALE:
                    heap.settle(kind, now)
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
            self.measures.sample_batch(now, len(self.waiting), len(self.running))
            if self.observer is not None:
                self.observer(now, self.cache)
        end = horizon if horizon is not None else self.clock.time
        self._advance(end)
        self.measures.sample_to(end, len(self.waiting), len(self.running))
        return self._result(end)

    def _may_recover(self) -> bool:
        """With no arrival, completion or node event left, only a pod whose last attempt
        failed with an error before the cluster last changed may still be placed (by its
        error-backoff retry); a rejected pod cannot be."""
        return any(
            w.error_at is not None and w.error_at < self.last_change for w in self.waiting.values()
        )

    def _advance(self, now: float) -> None:
        self.measures.advance(now, len(self.waiting), len(self.running))

    def _apply(self, kind: EventKind, payload: object) -> None:
        self.heap.settle(kind, self.clock.time)
        if kind is EventKind.ARRIVAL:
            assert isinstance(payload, int)
            if self.admission is not None and self.admission.holds(payload):
                self.states[payload] = PodState.PENDING
                self.admission.arrived(payload, self.clock.time)
            else:
                self._arrive(payload)
        elif kind is EventKind.COMPLETION:
            assert isinstance(payload, tuple)
            key, run = payload
            running = self.running.get(key)
            if running is None or running.run != run:
                return  # an earlier run of an evicted pod
            node = self._finish(key, PodState.COMPLETED)
            if node is not None and running is not None:
                self._cluster_event(POD_DELETE, node, old=PodInfo.of(running.objects.pod))
        elif kind is EventKind.NODE:
            assert isinstance(payload, NodeEvent)
            self._node_event(payload)
        elif kind is EventKind.FLEET:
            assert isinstance(payload, Transition) and self.fleet is not None
            self.fleet_events -= 1
            self.fleet.apply(payload, self.clock.time)
        elif kind is EventKind.BACKOFF_FLUSH:
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
        shape = pod_shape(pod, node_selector)
        requests = PodInfo.of(objects.pod).requests
        key = pod_key(objects)
        self.waiting[key] = WaitingPod(index, timed, objects, requests, products, shape)
        if not node_selector:
            # A pinned pod's verdicts hold for its node only, never for alike nodes.
            self.shapes[key] = shape
        self.states[index] = PodState.PENDING
        if self.gangs is not None:
            self.gangs.member_arrived(key)
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
                and not self.retries.may_fit(waiting, info.pod_info)
            ):
                self.retries.skipped += 1
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
            self.retries.rejected(waiting)
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
            self.retries.rejected(waiting)
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

    def _requeue(self, info: QueuedPodInfo, rejectors: frozenset[str]) -> None:
        where = self.queue.add_unschedulable_if_not_present(info, unschedulable_plugins=rejectors)
        self._schedule_flush(info, where)

    def _schedule_flush(self, info: QueuedPodInfo, where: QueueName | None) -> None:
        """Put on the heap the background-loop tick that will move a requeued pod."""
        if where is QueueName.UNSCHEDULABLE and self.options.flush_leftover:
            # The loop ticks every 30 s and takes pods that waited strictly longer than 5 min.
            stale = info.timestamp + DEFAULT_POD_MAX_IN_UNSCHEDULABLE_PODS_DURATION
            tick = (math.floor(stale / LEFTOVER_FLUSH_PERIOD) + 1) * LEFTOVER_FLUSH_PERIOD
            self.heap.push_tick(tick, EventKind.LEFTOVER_FLUSH)
        elif where in (QueueName.BACKOFF, QueueName.ERROR_BACKOFF):
            # Backoff ends at a whole second (PopFromBackoffQ); the 1 s loop frees it after.
            expiry = math.floor(info.timestamp + self.queue.backoff_duration(info))
            self.heap.push_tick(float(expiry + 1), EventKind.BACKOFF_FLUSH)

    def _start(self, key: str, waiting: WaitingPod, node: str) -> None:
        del self.waiting[key]
        self.shapes.pop(key, None)
        now = self.clock.time
        pod = waiting.timed.pod
        milli = pod.num_gpu * pod.gpu_milli
        run = next(self.runs)
        model = self.measures.node_model[node]
        self.running[key] = RunningPod(waiting.index, waiting.objects, node, model, now, milli, run)
        self.on_node[node].add(key)
        self.measures.pod_started(milli)
        self.measures.refresh_fragment(node)
        self.starts[waiting.index] = now
        self.placed_on[waiting.index] = node
        self.states[waiting.index] = PodState.RUNNING
        if waiting.timed.duration is not None:
            self.heap.push(now + waiting.timed.duration, EventKind.COMPLETION, (key, run))
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
            self.cache.remove_claim(claim_key(run.objects))
        self.on_node[run.node].discard(key)
        self.measures.pod_stopped(run.model, run.milli, now - run.start)
        self.measures.refresh_fragment(run.node)
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
                held = claim_key(run.objects)
                if held in cache.claims:
                    claims[held] = cache.claims[held]
            gone.append(cached)
        selectors = node_selectors or [{}] * len(indices)
        states = [self.states[index] for index in indices]
        keys: list[str] = []
        try:
            for info, _ in gone:
                cache.remove_pod(info.pod)
            for held in claims:
                cache.remove_claim(held)
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
            self.cache.remove_claim(claim_key(waiting.objects))
        self._forget_arrival(key)

    def _forget_arrival(self, key: str) -> None:
        if self.gangs is not None:
            self.gangs.member_left(key)

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
        self.retries.gained_room(node)
        self.queue.on_event(event, old, new)

    def _take_node_away(self, name: str) -> None:
        """The node leaves the scheduler's cluster: its pods are evicted, its GPUs go."""
        if self.admission is not None:
            indices = sorted(self.running[key].index for key in self.on_node[name])
            self.admission.node_removed(name, indices, self.clock.time, self)
        for key in sorted(self.on_node[name]):
            self._finish(key, PodState.EVICTED)
        self.cache.remove_node(name)
        self.measures.gpus_removed(name, fleet=name in self.fleet_nodes)
        self.measures.refresh_fragment(name)

    def _node_event(self, event: NodeEvent) -> None:
        name = event.node
        if event.action is NodeAction.REMOVE:
            self._take_node_away(name)
            return
        added = self.cache.add_node(self.node_objects[name])
        self.measures.gpus_added(name, self.measures.node_gpus[name])
        self.measures.refresh_fragment(name)
        self._cluster_event(NODE_ADD, name, new=added)

    # ---------------------------------------------------- the autoscaled fleet's cluster

    def fleet_node_ready(self, node: Node, shape: TraceNode) -> None:
        """An autoscaled node registered and is Ready: in the cache, with no devices yet."""
        name = node.metadata.name
        self.fleet_nodes.add(name)
        self.measures.node_model[name] = shape.model or ""
        self.measures.node_gpus[name] = 0  # counted once its devices are published
        self.on_node[name] = set()
        # Copies of one template publish alike devices: the speed-ups key them on the shape.
        fleet_shape = ("fleet", shape.name)
        self.describe_node(
            name,
            (fleet_shape, shape.gpus),
            (fleet_shape, shape.gpus, shape.cpu_milli, shape.memory_mib),
        )
        added = self.cache.add_node(node)
        self.measures.refresh_fragment(name)
        self._cluster_event(NODE_ADD, name, new=added)

    def fleet_devices_published(
        self, name: str, slices: tuple[ResourceSlice, ...], gpus: int
    ) -> None:
        """Its driver published its ResourceSlices: its `gpus` count from now on."""
        published = [entry.slice for entry in self.cache.inventory.slices]
        self.cache.replace_slices([*published, *slices])
        self.measures.node_gpus[name] = gpus
        self.measures.gpus_added(name, gpus, fleet=True)
        self.measures.refresh_fragment(name)
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
        self.heap.push(transition.time, EventKind.FLEET, transition)

    def push_tick(self, time: float) -> None:
        self.heap.push_tick(max(time, self.clock.time), EventKind.AUTOSCALE)

    # ------------------------------------------------------------------------- result

    def _result(self, end: float) -> ReplayResult:
        measures = self.measures
        gpu_hours = measures.gpu_hours(
            end, ((run.model, run.milli, run.start) for run in self.running.values())
        )
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
                    model=(measures.node_model[node] or None) if node is not None else None,
                    gpu_milli=timed.pod.num_gpu * timed.pod.gpu_milli,
                    state=self.states[index],
                )
            )
        start = min((t.arrival for t in self.trace.pods), default=0.0)
        summary = self.fleet.summary(end) if self.fleet is not None else None
        fleet_hours = summary.provisioned_gpu_hours if summary is not None else None
        return ReplayResult(
            workload=self.trace.workload,
            policy=self.policy,
            seed=self.seed,
            pods=tuple(outcomes),
            samples=tuple(measures.samples),
            gpu_hours=gpu_hours,
            start_time=min(start, end),
            end_time=end,
            mean_utilization=measures.mean_utilization,
            attempts=self.attempts,
            retries_skipped=self.retries.skipped,
            mean_fragmentation=measures.mean_fragmentation,
            capacity_gpu_hours=measures.capacity_gpu_hours(fleet_hours),
            fragmented_gpu_hours=measures.fragmented_gpu_hours(),
            autoscaling=summary,
        )
