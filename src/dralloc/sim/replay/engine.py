"""The replay's engine: the loop that pops the event heap, applies each event to the cluster
and drains the scheduling queue through the scheduler (the design is in the package
docstring, `replay/__init__`).

It owns the run's parts and drives them: `virtualtime` (the clock and the event heap),
`cluster` (the pods' records and lifecycle, nodes joining and leaving, the admission's and the
fleet's entry points), `measures` (the counters and integrals a result reports), `retries`
(the hopeless-retry shortcut), `gangs` (the arrived members of each gang). The scheduler
cache and the queue are changed only through their methods.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Callable

from dralloc.autoscaling.lifecycle import Transition
from dralloc.scheduler.cache import SchedulerCache
from dralloc.scheduler.framework import PodInfo
from dralloc.scheduler.gangs import Gang, pop_gang, schedule_gang_entity
from dralloc.scheduler.plugins.gangscheduling import GangScheduling
from dralloc.scheduler.plugins.gpushare import FragmentationMeter
from dralloc.scheduler.queue import (
    DEFAULT_POD_MAX_IN_UNSCHEDULABLE_PODS_DURATION,
    QueuedPodInfo,
    QueueName,
)
from dralloc.sim.experiment import POLICIES, build_simulation, workload_in_products
from dralloc.sim.fgd import node_order
from dralloc.sim.replay.autoscaled import FleetDriver, fleet_shapes
from dralloc.sim.replay.cluster import POD_DELETE, ReplayCluster
from dralloc.sim.replay.evictions import EvictionCause
from dralloc.sim.replay.gangs import ArrivedGangs, gang_index
from dralloc.sim.replay.measures import ReplayMeasures
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
from dralloc.sim.traces.timeline import NodeEvent, ReplayTrace

__all__ = ["LEFTOVER_FLUSH_PERIOD", "replay"]

LEFTOVER_FLUSH_PERIOD = 30.0
"""flushUnschedulablePodsLeftover runs every 30 s (spec/scheduler.md 1.9)."""
DEFAULT_SAMPLES = 1000


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
            # Karpenter cordons the nodes waiting for their replacement; a static cluster
            # never cordons, and runs the FGD experiment's profile unchanged.
            node_unschedulable=autoscaling is not None,
        )
        self.cache, self.scheduler = sim.cache, sim.scheduler
        self.clock = VirtualClock()
        # The profile's queue: each event is judged by the hints its plugins declared.
        self.queue = sim.queue(
            self.clock, (GangScheduling(self.gangs),) if self.gangs is not None else ()
        )
        self.framework = sim.scheduler.framework

        node_objects = {name: info.node for name, info in self.cache.nodes.items()}
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
        for arrival, timed in enumerate(trace.pods):
            self.heap.push(timed.arrival, EventKind.ARRIVAL, arrival)
        for event in trace.node_events:
            self.heap.push(event.time, EventKind.NODE, event)
        self.retries = HopelessRetries(self.cache, self.framework)
        self.skip_hopeless = options.skip_hopeless_retries
        self.cluster = ReplayCluster(
            trace,
            sim,
            self.queue,
            self.clock,
            self.heap,
            measures,
            self.retries,
            node_objects=node_objects,
            gangs=self.gangs,
            group_of=dict(gangs.members) if index is not None and gangs else {},
            admission=admission,
        )
        self.last_change = 0.0  # time of the last arrival, completion or node event
        self.fleet: FleetDriver | None = None
        if autoscaling is not None:
            self.fleet = FleetDriver(autoscaling, self.fleet_shapes, seed, self.cluster)
            self.fleet.start()

    # ------------------------------------------------------------------------ the loop

    def run(self) -> ReplayResult:
        heap = self.heap
        cluster = self.cluster
        horizon = self.options.horizon
        fleet = self.fleet
        while heap and (
            heap.real_events > cluster.fleet_events
            or self._may_recover()
            or (
                fleet is not None
                and not fleet.gave_up
                and (cluster.fleet_events > 0 or fleet.may_act(self.clock.time))
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
                self.admission.admit(now, cluster)
            self._drain()
            if fleet is not None:
                # The loop sees the cluster after the scheduler had its go at it.
                if ticks:
                    fleet.tick(now)
                fleet.after_batch(now)
            if self.admission is not None:
                self.admission.drained(now)
            self.measures.sample_batch(now, len(cluster.waiting), len(cluster.running))
            if self.observer is not None:
                self.observer(now, self.cache)
        end = horizon if horizon is not None else self.clock.time
        self._advance(end)
        self.measures.sample_to(end, len(cluster.waiting), len(cluster.running))
        return self._result(end)

    def _may_recover(self) -> bool:
        """With no arrival, completion or node event left, only a pod whose last attempt
        failed with an error before the cluster last changed may still be placed (by its
        error-backoff retry); a rejected pod cannot be."""
        return any(
            w.error_at is not None and w.error_at < self.last_change
            for w in self.cluster.waiting.values()
        )

    def _advance(self, now: float) -> None:
        self.measures.advance(now, len(self.cluster.waiting), len(self.cluster.running))

    def _apply(self, kind: EventKind, payload: object) -> None:
        cluster = self.cluster
        self.heap.settle(kind, self.clock.time)
        if kind is EventKind.ARRIVAL:
            assert isinstance(payload, int)
            if self.admission is not None and self.admission.holds(payload):
                cluster.states[payload] = PodState.PENDING
                self.admission.arrived(payload, self.clock.time)
            else:
                cluster.arrive(payload)
        elif kind is EventKind.COMPLETION:
            assert isinstance(payload, tuple)
            key, run = payload
            running = cluster.running.get(key)
            if running is None or running.run != run:
                return  # an earlier run of an evicted pod
            node = cluster.finish(key, PodState.COMPLETED)
            if node is not None and running is not None:
                cluster.cluster_event(POD_DELETE, node, old=PodInfo.of(running.objects.pod))
        elif kind is EventKind.NODE:
            assert isinstance(payload, NodeEvent)
            cluster.node_event(payload)
        elif kind is EventKind.FLEET:
            assert isinstance(payload, Transition) and self.fleet is not None
            cluster.fleet_events -= 1
            # The fleet drains a leaving node through `evict` before the node goes; until
            # it says why (`evict(cause=)`), its evictions count as a node removed.
            with cluster.leaving(EvictionCause.NODE_REMOVED):
                self.fleet.apply(payload, self.clock.time)
        elif kind is EventKind.BACKOFF_FLUSH:
            self.queue.flush_backoff_q_completed()
        else:
            self.queue.flush()

    # ------------------------------------------------------------- scheduling cycles

    def _drain(self) -> None:
        queue = self.queue
        cluster = self.cluster
        while (info := queue.pop()) is not None:
            waiting = cluster.waiting[info.key]
            gang = self.gangs.gang_of(info.key) if self.gangs is not None else None
            if gang is not None:
                self._schedule_gang(info, gang)
                continue
            if waiting.rejectors and self.skip_hopeless:
                rejectors = self.retries.rejectors_now(waiting, info.pod_info)
                if rejectors is not None:
                    waiting.rejectors = rejectors
                    self.retries.skipped += 1
                    self._requeue(info, rejectors)
                    continue
            cluster.attempts += 1
            outcome = self.scheduler.schedule_one(info.pod)
            if outcome.node is not None:
                queue.done(info.uid)
                cluster.start(info.key, waiting, outcome.node)
                continue
            # An error (no rejecting plugin) says nothing about capacity: the next attempt
            # is run for real.
            waiting.rejectors = outcome.unschedulable_plugins
            self.retries.rejected(waiting, outcome.node_statuses)
            waiting.error_at = None if waiting.rejectors else self.clock.time
            self._requeue(info, waiting.rejectors)

    def _schedule_gang(self, first: QueuedPodInfo, gang: Gang) -> None:
        """One pod-group cycle: `first` takes its queued siblings with it (`pop_gang`), all
        of them bind if the quorum is met (counting members running already), else none
        does and each goes back to the queue with its rejectors. The hopeless-retry
        shortcut is not taken: whether a member fits depends on its siblings."""
        assert self.gangs is not None
        cluster = self.cluster
        keys = self.gangs.index.members(gang.key)
        siblings = [cluster.waiting[k].objects.pod for k in keys if k in cluster.waiting]
        members = pop_gang(self.queue, first, siblings)
        running = sum(1 for k in keys if k in cluster.running)
        cluster.attempts += len(members)
        placement = schedule_gang_entity(
            self.queue, self.cache, self.framework, gang, members, already_placed=running
        )
        by_key = {info.key: info for info in members}
        for member in placement.members:
            waiting = cluster.waiting[member.key]
            if placement.bound and member.node is not None:
                cluster.start(member.key, waiting, member.node)
                continue
            info = by_key[member.key]
            waiting.rejectors = info.rejector_plugins
            self.retries.rejected(waiting)
            waiting.error_at = None if waiting.rejectors else self.clock.time
            self._schedule_flush(info, self.queue.where(info.uid))

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

    # ------------------------------------------------------------------------- result

    def _result(self, end: float) -> ReplayResult:
        measures = self.measures
        cluster = self.cluster
        gpu_hours = measures.gpu_hours(
            end, ((run.model, run.milli, run.start) for run in cluster.running.values())
        )
        outcomes = []
        for index, timed in enumerate(self.trace.pods):
            node = cluster.placed_on[index]
            outcomes.append(
                PodOutcome(
                    name=timed.pod.name,
                    arrival=timed.arrival,
                    start=cluster.starts[index],
                    end=cluster.ends[index],
                    node=node,
                    model=(measures.node_model[node] or None) if node is not None else None,
                    gpu_milli=timed.pod.num_gpu * timed.pod.gpu_milli,
                    state=cluster.states[index],
                    first_start=cluster.first_starts[index],
                    evictions=cluster.eviction_counts[index],
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
            attempts=cluster.attempts,
            retries_skipped=self.retries.skipped,
            mean_fragmentation=measures.mean_fragmentation,
            capacity_gpu_hours=measures.capacity_gpu_hours(fleet_hours),
            fragmented_gpu_hours=measures.fragmented_gpu_hours(),
            autoscaling=summary,
            evictions=tuple(cluster.evictions),
        )
