"""The replay's cluster: the trace's pods as they arrive, wait, run and leave, nodes joining
and leaving, and the entry points the admission (`results.AdmissionCluster`, queues) and the
autoscaled fleet (`autoscaled.FleetCluster`) act through.

Owns the records of waiting and running pods, each pod's outcome so far (state, first start,
and start, end and node of its last run), the runs evicted before completing
(`evictions.Eviction`, with their cause), which pods run on which node, and the count of
scheduling attempts. An evicted pod that is pending again has no last run: its start, end
and node are cleared, so a pod re-queued and still pending (or running again) at the end
never reports an earlier run's times. The scheduler cache and the queue are changed only
through their methods; time, capacity and the hopeless-retry shortcut's memory belong to
the parts it is given (`virtualtime`, `measures`, `retries`). The engine (`engine.py`)
drives it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import msgspec

from dralloc.api.core import Node, Pod, PodSchedulingGroup
from dralloc.api.resource import ResourceClaim, ResourceSlice
from dralloc.autoscaling.clusterautoscaler import UnschedulablePod
from dralloc.autoscaling.lifecycle import Transition
from dralloc.scheduler.framework import PodInfo
from dralloc.scheduler.gangs import Gang, GangKey, place_gang
from dralloc.scheduler.plugins.gangscheduling import GangScheduling
from dralloc.scheduler.queue import ClusterEvent, QueueingHint, SchedulingQueue
from dralloc.sim.experiment import Simulation
from dralloc.sim.openb_objects import NAMESPACE, pod_objects
from dralloc.sim.replay.evictions import Eviction, EvictionCause
from dralloc.sim.replay.gangs import ArrivedGangs
from dralloc.sim.replay.measures import ReplayMeasures
from dralloc.sim.replay.records import RunningPod, WaitingPod, claim_key, pod_key, pod_shape
from dralloc.sim.replay.results import PodState, ReplayAdmission
from dralloc.sim.replay.retries import HopelessRetries
from dralloc.sim.replay.virtualtime import EventHeap, EventKind, VirtualClock
from dralloc.sim.traces.model import TraceNode
from dralloc.sim.traces.timeline import NodeAction, NodeEvent, ReplayTrace

POD_DELETE = ClusterEvent("Pod", "Delete")
NODE_ADD = ClusterEvent("Node", "Add")
POD_ADD = ClusterEvent("Pod", "Add")
SLICE_ADD = ClusterEvent("resource.k8s.io/ResourceSlice", "Add")
# Upstream's event for a Node whose spec.unschedulable changed (nodeSchedulingPropertiesChange).
NODE_UPDATE_TAINT = ClusterEvent("Node", "UpdateNodeTaint")


class ReplayCluster:
    """The cluster of one run. `node_objects` are the trace's Nodes by name (a node joining
    later is added from there); `group_of` maps a trace pod's name to its PodGroup."""

    def __init__(
        self,
        trace: ReplayTrace,
        sim: Simulation,
        queue: SchedulingQueue,
        clock: VirtualClock,
        heap: EventHeap,
        measures: ReplayMeasures,
        retries: HopelessRetries,
        *,
        node_objects: Mapping[str, Node],
        gangs: ArrivedGangs | None,
        group_of: Mapping[str, str],
        admission: ReplayAdmission | None,
    ) -> None:
        self.trace = trace
        self.cache, self.scheduler, self.shapes = sim.cache, sim.scheduler, sim.shapes
        self.framework = sim.scheduler.framework
        self.describe_node = sim.describe_node
        self.queue = queue
        self.clock = clock
        self.heap = heap
        self.measures = measures
        self.retries = retries
        self.node_objects = node_objects
        self.gangs = gangs
        self.group_of = group_of
        self.admission = admission
        self.runs = itertools.count(1)
        self.on_node: dict[str, set[str]] = {n.name: set() for n in trace.nodes}
        self.waiting: dict[str, WaitingPod] = {}
        self.running: dict[str, RunningPod] = {}
        count = len(trace.pods)
        self.starts: list[float | None] = [None] * count
        self.ends: list[float | None] = [None] * count
        self.placed_on: list[str | None] = [None] * count
        self.first_starts: list[float | None] = [None] * count
        self.eviction_counts = [0] * count
        self.states = [PodState.NOT_ARRIVED] * count
        self.evictions: list[Eviction] = []
        # Why the node being taken away leaves: the cause of the evictions made meanwhile.
        self.leaving_cause: EvictionCause | None = None
        self.attempts = 0
        self.fleet_nodes: set[str] = set()
        self.fleet_events = 0  # fleet transitions on the heap (part of `real_events`)

    # ---------------------------------------------------------------------- pods

    def arrive(self, index: int, node_selector: Mapping[str, str] | None = None) -> None:
        key = self.enter(index, node_selector)
        objects = self.waiting[key].objects
        gang = self.gangs.gang_of(key) if self.gangs is not None else None
        self.queue.add(objects.pod)
        if gang is not None:
            self._sibling_added(gang)

    def enter(self, index: int, node_selector: Mapping[str, str] | None = None) -> str:
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

    def start(self, key: str, waiting: WaitingPod, node: str) -> None:
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
        if self.first_starts[waiting.index] is None:
            self.first_starts[waiting.index] = now
        self.placed_on[waiting.index] = node
        self.states[waiting.index] = PodState.RUNNING
        if waiting.timed.duration is not None:
            self.heap.push(now + waiting.timed.duration, EventKind.COMPLETION, (key, run))
        if self.admission is not None:
            self.admission.started(waiting.index, now)

    def finish(self, key: str, state: PodState, cause: EvictionCause | None = None) -> str | None:
        """Take a running pod off its node; the node's name, None if it was not running (its
        node left first). Stopped as `EVICTED`, its run is recorded as evicted for `cause`
        (None: the leaving node's, see `evict`)."""
        run = self.running.pop(key, None)
        if run is None:
            return None
        now = self.clock.time
        if state is PodState.EVICTED:
            self._record_eviction(run.index, run.node, run.start, now, cause)
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
            self.arrive(index)

    def release_onto(
        self, indices: Sequence[int], node_selectors: Sequence[Mapping[str, str]]
    ) -> None:
        for index, selector in zip(indices, node_selectors, strict=True):
            self.arrive(index, selector)

    def place(self, group: str, indices: Sequence[int]) -> str | None:
        return self.place_onto(group, indices, [{}] * len(indices))

    def place_onto(
        self, group: str, indices: Sequence[int], node_selectors: Sequence[Mapping[str, str]]
    ) -> str | None:
        keys = [self.enter(i, s) for i, s in zip(indices, node_selectors, strict=True)]
        pods = [self.waiting[key].objects.pod for key in keys]
        gang = Gang(GangKey(NAMESPACE, group), min_count=len(pods))
        self.attempts += len(pods)
        placement = place_gang(self.cache, self.framework, gang, pods, bind=True)
        if placement.bound:
            for key, node in placement.placed.items():
                self.start(key, self.waiting[key], node)
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
                keys.append(self.enter(index, selector))
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

    def evict(self, indices: Sequence[int], cause: EvictionCause | None = None) -> None:
        """`AdmissionCluster.evict`, also the fleet's: each pod is pending again with no last
        run (its controller makes it anew), until it is released again."""
        for index in indices:
            key = f"{NAMESPACE}/{self.trace.pods[index].pod.name}"
            run = self.running.get(key)
            if run is not None:
                node = self.finish(key, PodState.EVICTED, cause)
                if node is not None:
                    self.cluster_event(POD_DELETE, node, old=PodInfo.of(run.objects.pod))
                self._forget_arrival(key)
            elif key in self.waiting:
                self.queue.delete(self.waiting[key].objects.pod)
                self._leave(key)
            elif self.states[index] is PodState.COMPLETED:
                # Its job starts over (Kueue re-admits the whole job): the completed run's
                # work is done again, so it counts as lost.
                start, end, node = self.starts[index], self.ends[index], self.placed_on[index]
                assert start is not None and end is not None and node is not None
                self._record_eviction(index, node, start, end, cause)
            self.states[index] = PodState.PENDING
            self.starts[index] = self.ends[index] = self.placed_on[index] = None

    def _record_eviction(
        self, index: int, node: str, start: float, end: float, cause: EvictionCause | None
    ) -> None:
        pod = self.trace.pods[index].pod
        self.eviction_counts[index] += 1
        self.evictions.append(
            Eviction(
                pod.name,
                node,
                cause or self.leaving_cause or EvictionCause.PREEMPTION,
                self.clock.time,
                start,
                end,
                pod.num_gpu * pod.gpu_milli,
                self.measures.node_model.get(node, ""),
            )
        )

    @contextmanager
    def leaving(self, cause: EvictionCause) -> Iterator[None]:
        """Evictions made meanwhile with no cause of their own are for `cause` (a node
        leaving: the admission's `node_removed` and the fleet's drain evict through
        `evict`)."""
        outer = self.leaving_cause
        self.leaving_cause = cause
        try:
            yield
        finally:
            self.leaving_cause = outer

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

    def cluster_event(
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

    def _take_node_away(self, name: str, cause: EvictionCause | None) -> None:
        """The node leaves the scheduler's cluster: its pods are evicted (for `cause`; None:
        the cause of the leaving under way, else `NODE_REMOVED`), its GPUs go."""
        with self.leaving(cause or self.leaving_cause or EvictionCause.NODE_REMOVED):
            if self.admission is not None:
                indices = sorted(self.running[key].index for key in self.on_node[name])
                self.admission.node_removed(name, indices, self.clock.time, self)
            for key in sorted(self.on_node[name]):
                self.finish(key, PodState.EVICTED)
        self.cache.remove_node(name)
        self.measures.gpus_removed(name, fleet=name in self.fleet_nodes)
        self.measures.refresh_fragment(name)

    def node_event(self, event: NodeEvent) -> None:
        name = event.node
        if event.action is NodeAction.REMOVE:
            self._take_node_away(name, EvictionCause.NODE_REMOVED)
            return
        added = self.cache.add_node(self.node_objects[name])
        self.measures.gpus_added(name, self.measures.node_gpus[name])
        self.measures.refresh_fragment(name)
        self.cluster_event(NODE_ADD, name, new=added)

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
        self.cluster_event(NODE_ADD, name, new=added)

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
            self.cluster_event(SLICE_ADD, name, new=each)

    def fleet_node_leaving(self, name: str, cause: EvictionCause | None = None) -> None:
        """Deleting: its pods are evicted (for `cause`, as `_take_node_away`) and it takes no
        more (see `replay.autoscaled`)."""
        self._take_node_away(name, cause)

    def fleet_node_cordoned(self, name: str, cordoned: bool) -> None:
        """`kubectl cordon` (`cordoned`) or `uncordon` of fleet node `name`: its Node's
        `spec.unschedulable` in the cache; its running pods stay. What reads it is a
        `NodeUnschedulable` Filter and the autoscalers' what-ifs. An uncordoned node may take
        pods again: the queue hears `Node/UpdateNodeTaint`, as kube-scheduler's does."""
        info = self.cache.nodes.get(name)
        if info is None or info.node.spec.unschedulable == cordoned:
            return
        node = info.node
        changed = msgspec.structs.replace(
            node, spec=msgspec.structs.replace(node.spec, unschedulable=cordoned)
        )
        updated = self.cache.update_node(changed)
        self.retries.node_updated()
        if not cordoned:
            self.cluster_event(NODE_UPDATE_TAINT, name, old=info, new=updated)

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
