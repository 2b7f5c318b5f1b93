"""dralloc as a live scheduler: the scheduling loop over a real cluster (spec/cluster-mode.md
sections 1-5; spec/scheduler.md sections 1, 2 and 8).

    live = LiveScheduler(client, informers, LiveOptions(features, config=config))
    await informers.start(); await informers.wait_synced(60)
    live.start_leading()
    await live.run()            # until cancelled; then `await live.shutdown()`

The scheduler is `dralloc.scheduler`'s, built once by `build_scheduler` (the same wiring as
`dralloc schedule`, the simulator and the benchmarks): the cache, a framework per profile and
a scheduling queue per profile. What is live here:

- `ClusterMirror` (mirror.py) applies informer events to the cache and the queues, which the
  plugins' declared queueing hints judge;
- the scheduling cycle runs in the event loop, one pod at a time, on the cache's snapshot, and
  writes nothing: Reserve allocates devices in memory, and the claims it allocated go *in
  flight* in the claim assume cache (assume.py);
- the binding cycle runs as its own task per pod, as kube-scheduler's goroutine does: PreBind
  writes each claim's finalizer and status, Bind posts pods/binding (binding.py); a failure
  undoes Reserve in memory and on the wire, and the pod goes back to the queue with backoff;
- failed attempts get PodScheduled=False and a FailedScheduling event; bound pods a Scheduled
  event; preemption deletes its victims (DisruptionTarget first) and nominates the node;
- with the gates GenericWorkload and GangScheduling on, the PodGroups served are watched
  (gangs.py) and a gang member popped takes its queued siblings with it (`pop_gang`): one
  pod-group cycle (`schedule_gang_entity`) places them all on the cache, and only at the
  quorum does each placed member get its own binding cycle, as above; below it every
  placement is undone and nothing is written but the pods' PodScheduled=False and the
  PodGroup's PodGroupScheduled condition (status subresource, upstream's patch);
- Volcano's groups: its enqueue step runs as Volcano runs a session (at once when a Volcano
  group or member arrives, else every `VOLCANO_SESSION_SECONDS`) and holds back the pods of
  a group whose minResources do not fit; each step and each pod-group cycle writes the
  group's status as Volcano's scheduler does (gangs.py: phase, Unschedulable/Scheduled).

Only the leader pops pods (`start_leading` / `stop_leading`); a standby keeps its caches warm.
Everything runs in one event loop, so the cache, queues and mirror need no locks: a binding
task touches them only between its awaits.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dralloc.api.core import Pod
from dralloc.api.io import from_server, kube_dict, to_builtins
from dralloc.api.resource import ResourceClaim
from dralloc.features import Features
from dralloc.kube.assume import ClaimAssumeCache
from dralloc.kube.binding import BindingFailed, BindingPlan, ClaimBinder, ClaimWrite
from dralloc.kube.client import (
    DEVICE_CLASSES,
    MERGE_PATCH,
    NAMESPACES,
    NODES,
    POD_GROUPS,
    PODS,
    RESOURCE_CLAIMS,
    RESOURCE_SLICES,
    STRATEGIC_MERGE_PATCH,
    VOLCANO_POD_GROUPS,
    ApiStatusError,
    ApiUnavailable,
    KubeClient,
    KubeDict,
)
from dralloc.kube.events import EventRecorder
from dralloc.kube.gangs import LiveGangs, pod_group_condition
from dralloc.kube.metrics import AttemptResult, SchedulerMetrics
from dralloc.kube.mirror import ClusterMirror
from dralloc.kube.ownership import Ownership
from dralloc.kube.shared_informers import SharedInformers
from dralloc.scheduler.admission import pre_enqueue_message
from dralloc.scheduler.builder import BuiltScheduler, SchedulerInputs, build_scheduler
from dralloc.scheduler.cache import SchedulerCache, pod_claim_keys
from dralloc.scheduler.config import SchedulerConfiguration
from dralloc.scheduler.framework import (
    CycleState,
    FitError,
    Framework,
    PodInfo,
    SchedulingError,
    Status,
)
from dralloc.scheduler.gangs import (
    Gang,
    GangKey,
    GangPlacement,
    GangSource,
    pop_gang,
    schedule_gang_entity,
    scheduler_name_problem,
)
from dralloc.scheduler.gangs.volcano import group_status, task_statuses
from dralloc.scheduler.plugins import Eviction
from dralloc.scheduler.plugins.gangscheduling import GangScheduling
from dralloc.scheduler.profiles import DeviceSpeedups
from dralloc.scheduler.queue import PreEnqueuePlugin, QueuedPodInfo, SchedulingQueue

log = logging.getLogger(__name__)

NOT_TERMINAL = "status.phase!=Succeeded,status.phase!=Failed"
# The periods of kube-scheduler's flushBackoffQCompleted and flushUnschedulablePodsLeftover.
BACKOFF_FLUSH_SECONDS = 1.0
LEFTOVER_FLUSH_SECONDS = 30.0
# Volcano's default schedule period: how often its enqueue step runs without a new group.
VOLCANO_SESSION_SECONDS = 1.0


class MonotonicClock:
    """The queue's clock in a live scheduler: seconds of the monotonic clock."""

    def now(self) -> float:
        return time.monotonic()


class _NamespaceLabels:
    """Keeps each Namespace's labels."""

    def __init__(self, labels: dict[str, dict[str, str]]) -> None:
        self.labels = labels

    def on_add(self, obj: KubeDict) -> None:
        meta = obj.get("metadata") or {}
        self.labels[str(meta.get("name", ""))] = dict(meta.get("labels") or {})

    def on_update(self, old: KubeDict, new: KubeDict) -> None:
        self.on_add(new)

    def on_delete(self, obj: KubeDict) -> None:
        self.labels.pop(str((obj.get("metadata") or {}).get("name", "")), None)


class SchedulingGates:
    """PreEnqueue: a pod with scheduling gates waits (spec/scheduler.md 1.10)."""

    name = "SchedulingGates"

    def pre_enqueue(self, pod: PodInfo) -> Status:
        gates = pod.pod.spec.scheduling_gates
        if not gates:
            return Status()
        names = " ".join(gate.name for gate in gates)
        return Status.unresolvable(f"waiting for scheduling gates: [{names}]")


class ClaimsExist:
    """DynamicResources' PreEnqueue: the pod's claims must exist (spec/dra-v1.md 7.1)."""

    name = "DynamicResources"

    def __init__(self, cache: SchedulerCache) -> None:
        self.cache = cache

    def pre_enqueue(self, pod: PodInfo) -> Status:
        if pod.pod.spec.scheduling_gates:
            return Status()
        message = pre_enqueue_message(pod.pod, self.cache.claims)
        return Status() if message is None else Status.unresolvable(message)


@dataclass(frozen=True)
class LiveOptions:
    """What a live scheduler is built from (the command's flags)."""

    features: Features
    config: SchedulerConfiguration = field(default_factory=SchedulerConfiguration)
    ownership: Ownership = field(default_factory=Ownership)
    preemption_frees_devices: bool = False
    # Shutdown waits this long for binding cycles in flight.
    shutdown_grace_seconds: float = 30.0
    # DynamicResources' bindingTimeout and the poll of binding conditions (dra-v1.md 7.6).
    binding_timeout_seconds: float = 600.0
    binding_poll_seconds: float = 5.0
    rng_seed: int | None = None


@dataclass
class _Binding:
    queued: QueuedPodInfo
    framework: Framework
    state: CycleState
    plan: BindingPlan
    started: float
    bound_from: float = field(default_factory=time.monotonic)


class LiveScheduler:
    """The scheduling loop and the binding cycles of one dralloc scheduler process."""

    def __init__(
        self,
        client: KubeClient,
        informers: SharedInformers,
        options: LiveOptions,
        *,
        recorder: EventRecorder | None = None,
        before_pre_bind: Callable[[BindingPlan], Awaitable[None]] | None = None,
        on_outcome: Callable[[str, str, float], None] | None = None,
        metrics: SchedulerMetrics | None = None,
    ) -> None:
        self.client = client
        self.options = options
        self.clock = MonotonicClock()
        self.rng = random.Random(options.rng_seed)
        self._evictions: list[Eviction] = []
        # Namespace -> labels, for namespaceSelector (InterPodAffinity); the informer fills it.
        self.namespace_labels: dict[str, dict[str, str]] = {}
        self._wake = asyncio.Event()
        # Gangs only with both gates, as kube-scheduler 1.36; their queues are set below.
        self.gangs: LiveGangs | None = (
            LiveGangs({}, on_change=self._wake.set) if options.features.gang_scheduling else None
        )
        self.built: BuiltScheduler = build_scheduler(
            SchedulerInputs(
                options.features,
                config=options.config,
                rng=self.rng,
                on_evict=self._evictions.append,
                # Verdicts remembered across pods assume a node's answers change only with
                # its generation; in a live cluster shared pools and classes come and go.
                remember_verdicts=False,
                device_speedups=DeviceSpeedups(remember_outcomes=True),
                preemption_frees_devices=options.preemption_frees_devices,
                namespace_labels=lambda name: self.namespace_labels.get(name, {}),
                claim_deallocator=self._deallocate,
                gangs=self.gangs,
            )
        )
        self.cache = self.built.cache
        names = list(self.built.frameworks)
        self.recorder = recorder or EventRecorder(client, names[0] if names else "dralloc")
        pre_enqueue: list[PreEnqueuePlugin] = [SchedulingGates(), ClaimsExist(self.cache)]
        if self.gangs is not None:
            pre_enqueue.append(GangScheduling(self.gangs))
        self.queues: dict[str, SchedulingQueue] = {
            name: SchedulingQueue.for_profile(
                self.clock, framework.profile, pre_enqueue=pre_enqueue
            )
            for name, framework in self.built.frameworks.items()
        }
        if self.gangs is not None:
            self.gangs.queues = self.queues
        self.assume = ClaimAssumeCache()
        self.pods = informers.informer(PODS, field_selector=NOT_TERMINAL)
        self.mirror = ClusterMirror(
            self.cache,
            self.queues,
            self.assume,
            options.ownership,
            on_change=self._wake.set,
            on_foreign_allocation=self._foreign_allocation,
            pod_store=self.pods.store,
        )
        self.binder = ClaimBinder(
            client,
            self.assume,
            binding_conditions=options.features.enabled("DRADeviceBindingConditions"),
            rng=self.rng,
            before_pre_bind=before_pre_bind,
            on_binding_conditions_pending=lambda plan: self.recorder.binding_conditions_pending(
                plan.pod, plan.node
            ),
            binding_timeout=options.binding_timeout_seconds,
            poll_interval=options.binding_poll_seconds,
        )
        self.informers = informers
        informers.informer(NODES).add_handler(self.mirror.nodes)
        informers.informer(RESOURCE_SLICES).add_handler(self.mirror.resource_slices)
        informers.informer(DEVICE_CLASSES).add_handler(self.mirror.device_classes)
        informers.informer(RESOURCE_CLAIMS).add_handler(self.mirror.resource_claims)
        informers.informer(NAMESPACES).add_handler(_NamespaceLabels(self.namespace_labels))
        if self.gangs is not None:
            # Membership first: the mirror's queue.add runs PreEnqueue, which counts members.
            self.pods.add_handler(self.gangs.pods)
        self.pods.add_handler(self.mirror.pods)
        self.mirror.watch_budgets_and_taint_rules(informers)
        self._leading = asyncio.Event()
        self._stopping = False
        self._bindings: dict[str, asyncio.Task[None]] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._next_queue = 0
        self._next_backoff_flush = 0.0
        self._next_leftover_flush = 0.0
        self._next_volcano_session = 0.0
        self.on_outcome = on_outcome
        self.metrics = metrics
        self.foreign_allocations = 0
        self.scheduled = 0
        self.attempts = 0

    # ------------------------------------------------------------------ leadership

    def start_leading(self) -> None:
        self._leading.set()
        self._wake.set()

    def stop_leading(self) -> None:
        """Stop popping pods and cancel the binding cycles in flight (leadership lost)."""
        self._leading.clear()
        for task in list(self._bindings.values()):
            task.cancel()

    @property
    def is_leading(self) -> bool:
        return self._leading.is_set()

    # ------------------------------------------------------------------------ loop

    async def watch_gangs(self) -> None:
        """Watch the PodGroups the server serves (with the gates on; `run` calls it): the
        informers start at once when the others run already."""
        if self.gangs is None:
            return
        try:
            watched = await self.gangs.watch(self.client, self.informers)
        except (ApiStatusError, ApiUnavailable) as err:
            log.error("PodGroups not watched, gangs wait: %s", err)
            return
        if POD_GROUPS not in watched:
            log.warning(
                "scheduling.k8s.io/v1alpha2 podgroups are not served (the API server needs "
                "GenericWorkload and --runtime-config=scheduling.k8s.io/v1alpha2=true): pods "
                "naming a PodGroup wait for it"
            )

    async def run(self) -> None:
        """Schedule pods while leading, until cancelled or `shutdown`."""
        await self.watch_gangs()
        while not self._stopping:
            if not self._leading.is_set():
                await self._leading.wait()
                continue
            self.mirror.refresh()
            self._volcano_session()
            self._flush_queues()
            popped = self._pop()
            if popped is None:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=0.5)
                continue
            name, queued = popped
            try:
                self._schedule_one(name, queued)
            except Exception as err:  # a bug met by one pod must not stop the others
                self._internal_error(name, queued, err)
            await asyncio.sleep(0)

    def _internal_error(self, profile: str, queued: QueuedPodInfo, err: Exception) -> None:
        """The cycle raised: an internal error. The pod is put back with backoff and told
        why, its Reserve undone; the loop goes on with the next pod."""
        key = queued.pod_info.key
        log.exception("internal error scheduling a pod", extra={"pod": key})
        if key in self.mirror.binding and key not in self._bindings:
            self.cache.forget_pod(key)
            self.mirror.binding.discard(key)
        message = f"internal error in dralloc, please report: {type(err).__name__}: {err}"
        raw = self.pods.get(key)
        try:
            self.queues[profile].add_unschedulable_if_not_present(queued)
        except Exception:  # already queued again: nothing more to do
            log.exception("requeue after an internal error", extra={"pod": key})
        if raw is not None:
            self._spawn(
                self.binder.mark_unschedulable(raw, reason="SchedulerError", message=message)
            )
            self.recorder.failed_scheduling(raw, message)

    def _volcano_session(self) -> None:
        """Volcano's enqueue step when due (module docstring), and the status writes of the
        groups it enqueues or leaves Pending."""
        gangs = self.gangs
        if gangs is None or not gangs.has_volcano:
            return
        now = self.clock.now()
        if not gangs.enqueue_due and now < self._next_volcano_session:
            return
        self._next_volcano_session = now + VOLCANO_SESSION_SECONDS
        for result in gangs.enqueue(self.cache):
            if result.is_enqueued:
                patch = gangs.volcano_status(result.key, result.phase)
            else:
                status = result.status()
                patch = gangs.volcano_status(result.key, status["phase"], status["conditions"][0])
            if patch is not None:
                self._spawn(self._patch_volcano_status(result.key, patch))

    def _write_volcano_status(self, gang: Gang, placement: GangPlacement) -> None:
        """After a Volcano group's cycle: the phase and condition Volcano's session close
        writes (gangs.py)."""
        gangs = self.gangs
        assert gangs is not None
        if not gangs.is_ours(gang.key):
            return
        current = gangs.gang_of_key(gang.key) or gang
        tasks = task_statuses(gangs.members(gang.key), self.cache)
        origin = "" if placement.bound else placement.message
        phase, condition = group_status(current.phase, gang.min_count or 0, tasks, origin)
        patch = gangs.volcano_status(gang.key, phase, condition)
        if patch is not None:
            self._spawn(self._patch_volcano_status(gang.key, patch))

    async def _patch_volcano_status(self, key: GangKey, patch: KubeDict) -> None:
        assert self.gangs is not None
        subresource = "status" if self.gangs.volcano_status_subresource else ""
        try:
            await self.client.patch(
                VOLCANO_POD_GROUPS.item(key.namespace, key.name, subresource), patch, MERGE_PATCH
            )
        except (ApiStatusError, ApiUnavailable) as err:
            level = (
                logging.ERROR
                if isinstance(err, ApiStatusError) and err.is_forbidden
                else logging.INFO
            )
            log.log(level, "PodGroup status not written: %s", err, extra={"podgroup": str(key)})

    def _flush_queues(self) -> None:
        """kube-scheduler's background loops, on its periods: backoffQ every second,
        unschedulablePods' leftovers every 30 s (each pass walks its whole queue)."""
        now = self.clock.now()
        if now >= self._next_backoff_flush:
            self._next_backoff_flush = now + BACKOFF_FLUSH_SECONDS
            for queue in self.queues.values():
                queue.flush_backoff_q_completed(now)
        if now >= self._next_leftover_flush:
            self._next_leftover_flush = now + LEFTOVER_FLUSH_SECONDS
            for queue in self.queues.values():
                queue.flush_unschedulable_pods_leftover(now)

    def _pop(self) -> tuple[str, QueuedPodInfo] | None:
        names = list(self.queues)
        for offset in range(len(names)):
            name = names[(self._next_queue + offset) % len(names)]
            queued = self.queues[name].pop()
            if queued is not None:
                self._next_queue = (self._next_queue + offset + 1) % len(names)
                return name, queued
        return None

    async def shutdown(self) -> None:
        """Stop popping, let binding cycles finish (bounded), drain events."""
        self._stopping = True
        self._leading.clear()
        self._wake.set()
        grace = self.options.shutdown_grace_seconds
        if self._bindings:
            await asyncio.wait(set(self._bindings.values()), timeout=grace)
        for task in list(self._bindings.values()):
            task.cancel()
        if self._background:
            await asyncio.wait(set(self._background), timeout=min(grace, 5.0))
        await self.recorder.drain(5.0)

    def _spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ----------------------------------------------------------- the scheduling cycle

    def _raw_pod(self, key: str) -> KubeDict | None:
        return self.pods.get(key)

    def _schedule_one(self, profile: str, queued: QueuedPodInfo) -> None:
        queue = self.queues[profile]
        info = queued.pod_info
        key = info.key
        raw = self._raw_pod(key)
        if raw is None or not self.mirror.is_ours_pending(raw) or key in self.mirror.binding:
            queue.done(queued.uid)  # deleted, bound or terminal meanwhile
            return
        self.attempts += 1
        started = time.monotonic()
        gang = self.gangs.gang_of(key) if self.gangs is not None else None
        if gang is not None:
            self._schedule_gang(profile, queued, gang, started)
            return
        for _, claim_key in pod_claim_keys(info.pod):
            holder = self.assume.in_flight_for(claim_key) if claim_key else None
            if holder is not None and holder != queued.uid:
                message = f"resource claim {claim_key} is in the process of being allocated"
                self._failed(
                    profile,
                    queued,
                    raw,
                    Status.unschedulable(message),
                    message,
                    frozenset({"DynamicResources"}),
                    None,
                    started,
                )
                return
        framework = self.built.frameworks[profile]
        state = CycleState()
        try:
            result = framework.schedule(state, info, self.cache.snapshot())
        except FitError as err:
            nominated = err.diagnosis.nominated_node_name
            self._actuate_evictions()
            self._failed(
                profile,
                queued,
                raw,
                Status.unschedulable(err.message),
                err.message,
                frozenset(err.diagnosis.unschedulable_plugins),
                nominated,
                started,
            )
            return
        except SchedulingError as err:
            self._failed(
                profile, queued, raw, err.status, err.status.message, frozenset(), None, started
            )
            return
        node = result.node
        before = {
            claim_key: self.cache.claims.get(claim_key)
            for _, claim_key in pod_claim_keys(info.pod)
            if claim_key is not None
        }
        claims_before = len(self.cache.claims)
        self.cache.assume_pod(info, node)
        self.mirror.binding.add(key)
        for step in (framework.reserve, framework.permit):
            status = step(state, info, node)
            if not status.is_success:
                framework.unreserve(state, info, node)
                self.cache.forget_pod(key)
                self.mirror.binding.discard(key)
                message = status.message
                if status.is_rejected:
                    message = f"0/1 nodes are available: 1 {status.message}."
                plugins = frozenset({status.plugin}) if status.plugin else frozenset()
                self._failed(profile, queued, raw, status, message, plugins, None, started)
                return
        claims: list[ClaimWrite] = []
        # The extended-resource claim Reserve made in memory (KEP-5004): the newest keys.
        made = list(
            itertools.islice(reversed(self.cache.claims), len(self.cache.claims) - claims_before)
        )
        for claim_key in reversed(made):
            made_claim = self.cache.claims[claim_key]
            body = kube_dict(made_claim)
            body.pop("status", None)
            body["metadata"].pop("finalizers", None)
            self.assume.reserve(claim_key, queued.uid)
            allocation = made_claim.status.allocation
            claims.append(
                ClaimWrite(
                    claim_key,
                    to_builtins(allocation) if allocation is not None else None,
                    create=body,
                )
            )
        seen: set[str] = set()
        for claim_key, old in before.items():
            if claim_key in seen:
                continue
            seen.add(claim_key)
            now = self.cache.claims.get(claim_key)
            allocation = now.status.allocation if now is not None else None
            if allocation is not None and (old is None or old.status.allocation is None):
                self.assume.reserve(claim_key, queued.uid)
                claims.append(ClaimWrite(claim_key, to_builtins(allocation)))
            else:
                claims.append(ClaimWrite(claim_key))
        plan = BindingPlan(raw, node, claims)
        if made:
            # DynamicResources' PreBind, in memory: the pod's status names the claim now.
            for pre_bind in framework.profile.pre_bind:
                pre_bind.pre_bind(state, info, node)
            recorded = info.pod.status.extended_resource_claim_status
            if recorded is not None:
                plan.extended_status = to_builtins(recorded)
        self._start_binding(profile, _Binding(queued, framework, state, plan, started))

    def _start_binding(self, profile: str, binding: _Binding) -> None:
        key = binding.queued.pod_info.key
        task = asyncio.get_running_loop().create_task(self._binding_cycle(profile, binding))
        self._bindings[key] = task
        task.add_done_callback(lambda _: self._bindings.pop(key, None))

    # ------------------------------------------------------------ the pod-group cycle

    def _schedule_gang(
        self, profile: str, first: QueuedPodInfo, gang: Gang, started: float
    ) -> None:
        """One pod-group cycle for `first` and its queued siblings (module docstring).
        Members bound or being bound count toward the quorum (a started gang)."""
        assert self.gangs is not None
        queue = self.queues[profile]
        siblings: list[Pod] = []
        already = 0
        schedulers: list[Pod] = []
        for key in self.gangs.members(gang.key):
            raw = self.pods.get(key)
            if raw is None:
                continue
            pod = from_server(raw, Pod)
            schedulers.append(pod)
            if key in self.mirror.binding or pod.spec.node_name:
                already += 1
            elif key != first.pod_info.key and self.mirror.is_ours_pending(raw):
                siblings.append(pod)
        members: list[QueuedPodInfo] = []
        raws: dict[str, KubeDict] = {}
        for info in pop_gang(queue, first, siblings):
            raw = self._raw_pod(info.key)
            if raw is None or not self.mirror.is_ours_pending(raw):
                queue.done(info.uid)  # deleted or bound meanwhile
                continue
            members.append(info)
            raws[info.key] = raw
        mixed = scheduler_name_problem(schedulers, "default-scheduler")
        if mixed is not None:
            for info in members:
                raw = raws[info.key]
                self._failed(
                    profile, info, raw, Status.error(mixed), mixed, frozenset(), None, started
                )
            return
        framework = self.built.frameworks[profile]
        before: dict[str, ResourceClaim | None] = {}
        for info in members:
            for _, claim_key in pod_claim_keys(info.pod):
                if claim_key is not None:
                    before.setdefault(claim_key, self.cache.claims.get(claim_key))
        placement = schedule_gang_entity(
            queue,
            self.cache,
            framework,
            gang,
            members,
            already_placed=already,
            gangs=self.gangs,
        )
        # A gang that preempted: delete its victims (the cache forgot them already).
        self._actuate_evictions()
        by_key = {info.key: info for info in members}
        allocated: set[str] = set()
        for member in placement.members:
            info, raw = by_key[member.key], raws[member.key]
            if placement.bound and member.node is not None and member.state is not None:
                self.mirror.binding.add(member.key)
                claims = self._claim_writes(info, before, allocated)
                plan = BindingPlan(raw, member.node, claims)
                self._extended_claim(info, member.pod, plan)
                self._start_binding(profile, _Binding(info, framework, member.state, plan, started))
                continue
            group_error = not (placement.status.is_success or placement.status.is_rejected)
            is_error = group_error or (member.node is None and not member.status.is_rejected)
            self._tell_failed(profile, info, raw, is_error, placement.pod_message(member), started)
        if gang.key.source is GangSource.VOLCANO:
            self._write_volcano_status(gang, placement)
        else:
            self._write_group_condition(gang.key, placement.condition())

    def _claim_writes(
        self, info: QueuedPodInfo, before: Mapping[str, ResourceClaim | None], allocated: set[str]
    ) -> list[ClaimWrite]:
        """What the member's binding cycle writes of its claims: the allocation of a claim
        the cycle allocated (by its first member only, when members share it), else
        `reservedFor` only."""
        claims: list[ClaimWrite] = []
        seen: set[str] = set()
        for _, claim_key in pod_claim_keys(info.pod):
            if claim_key is None or claim_key in seen:
                continue
            seen.add(claim_key)
            now = self.cache.claims.get(claim_key)
            old = before.get(claim_key)
            allocation = now.status.allocation if now is not None else None
            fresh = allocation is not None and (old is None or old.status.allocation is None)
            if fresh and claim_key not in allocated and allocation is not None:
                allocated.add(claim_key)
                self.assume.reserve(claim_key, info.uid)
                claims.append(ClaimWrite(claim_key, to_builtins(allocation)))
            else:
                claims.append(ClaimWrite(claim_key))
        return claims

    def _extended_claim(self, queued: QueuedPodInfo, placed: PodInfo, plan: BindingPlan) -> None:
        """The extended-resource claim (KEP-5004) Reserve made in memory for a gang member:
        the cycle's in-memory PreBind recorded it in the pod's status, which the binding
        cycle writes after creating the claim (as for a single pod)."""
        recorded = placed.pod.status.extended_resource_claim_status
        if recorded is None:
            return
        claim_key = f"{placed.pod.metadata.namespace or 'default'}/{recorded.resource_claim_name}"
        made = self.cache.claims.get(claim_key)
        if made is None:
            return
        body = kube_dict(made)
        body.pop("status", None)
        body["metadata"].pop("finalizers", None)
        self.assume.reserve(claim_key, queued.uid)
        allocation = made.status.allocation
        write = ClaimWrite(
            claim_key, to_builtins(allocation) if allocation is not None else None, create=body
        )
        plan.claims.insert(0, write)
        plan.extended_status = to_builtins(recorded)

    def _write_group_condition(self, key: GangKey, condition: Mapping[str, str]) -> None:
        """PodGroupScheduled on a Kubernetes PodGroup, as upstream's updatePodGroupCondition."""
        assert self.gangs is not None
        group = self.gangs.groups.get(key)
        if group is None:
            return
        patch = pod_group_condition(group, condition)
        if patch is None:
            return
        # What the informer will bring back, so the next cycle does not write it again.
        status = dict(group.get("status") or {})
        kept = [c for c in status.get("conditions") or [] if c.get("type") != condition["type"]]
        status["conditions"] = [*kept, *patch["status"]["conditions"]]
        self.gangs.groups[key] = {**group, "status": status}
        self._spawn(self._patch_group_status(key, patch))

    async def _patch_group_status(self, key: GangKey, patch: KubeDict) -> None:
        try:
            await self.client.patch(
                POD_GROUPS.item(key.namespace, key.name, "status"), patch, STRATEGIC_MERGE_PATCH
            )
        except (ApiStatusError, ApiUnavailable) as err:
            level = (
                logging.ERROR
                if isinstance(err, ApiStatusError) and err.is_forbidden
                else logging.INFO
            )
            log.log(level, "PodGroup status not written: %s", err, extra={"podgroup": str(key)})

    def _failed(
        self,
        profile: str,
        queued: QueuedPodInfo,
        raw: KubeDict,
        status: Status,
        message: str,
        plugins: frozenset[str],
        nominated: str | None,
        started: float,
    ) -> None:
        queue = self.queues[profile]
        is_error = not status.is_rejected
        if is_error:
            queue.add_unschedulable_if_not_present(queued)
        else:
            queue.add_unschedulable_if_not_present(queued, unschedulable_plugins=plugins)
        self._tell_failed(profile, queued, raw, is_error, message, started, nominated)

    def _tell_failed(
        self,
        profile: str,
        queued: QueuedPodInfo,
        raw: KubeDict,
        is_error: bool,
        message: str,
        started: float,
        nominated: str | None = None,
    ) -> None:
        """A failed attempt said: PodScheduled=False, FailedScheduling, the attempt's metric
        (the pod is back in its queue already)."""
        reason = "SchedulerError" if is_error else "Unschedulable"
        log.debug(message, extra={"pod": queued.pod_info.key, "reason": reason})
        self._spawn(
            self.binder.mark_unschedulable(
                raw, reason=reason, message=message, nominated_node=nominated
            )
        )
        self.recorder.failed_scheduling(raw, message)
        self._outcome("error" if is_error else "unschedulable", profile, started)

    def _outcome(self, result: str, profile: str, started: float) -> None:
        seconds = time.monotonic() - started
        if self.on_outcome is not None:
            self.on_outcome(result, profile, seconds)
        if self.metrics is not None:
            self.metrics.observe_attempt(AttemptResult(result), profile, seconds)

    # -------------------------------------------------------------- preemption

    def _actuate_evictions(self) -> None:
        evictions, self._evictions[:] = list(self._evictions), []
        for eviction in evictions:
            if self.metrics is not None:
                self.metrics.observe_preemption(len(eviction.victims))
            for victim in eviction.victims:
                self.mirror.evicted[victim.key] = victim
                self._spawn(self._evict(eviction, victim))

    async def _evict(self, eviction: Eviction, victim: PodInfo) -> None:
        pod = victim.pod
        namespace = pod.metadata.namespace or "default"
        name = pod.metadata.name
        condition = {
            "status": {
                "conditions": [
                    {
                        "type": "DisruptionTarget",
                        "status": "True",
                        "reason": "PreemptionByScheduler",
                        "message": eviction.message,
                    }
                ]
            }
        }
        try:
            await self.client.patch(
                PODS.item(namespace, name, "status"), condition, STRATEGIC_MERGE_PATCH
            )
            await self.client.delete(
                PODS.item(namespace, name),
                {
                    "apiVersion": "v1",
                    "kind": "DeleteOptions",
                    "preconditions": {"uid": pod.metadata.uid},
                },
            )
            raw = self.pods.get(f"{namespace}/{name}") or {"metadata": to_builtins(pod.metadata)}
            self.recorder.preempted(raw, eviction.preemptor.pod.metadata.uid, eviction.node_name)
        except (ApiStatusError, ApiUnavailable) as err:
            log.warning("preemption failed: %s", err, extra={"pod": f"{namespace}/{name}"})

    # -------------------------------------------------------------- the binding cycle

    async def _binding_cycle(self, profile: str, binding: _Binding) -> None:
        queued, plan = binding.queued, binding.plan
        key = queued.pod_info.key
        queue = self.queues[profile]
        try:
            await self.binder.pre_bind(plan)
            await self.binder.bind(plan)
        except BindingFailed as err:
            await self._undo(binding)
            if err.forget:
                queue.done(queued.uid)
            else:
                queue.add_unschedulable_if_not_present(queued)
                raw = self.pods.get(key) or plan.pod
                self._spawn(
                    self.binder.mark_unschedulable(
                        raw, reason="SchedulerError", message=err.message
                    )
                )
                self.recorder.failed_scheduling(raw, err.message)
            # A missing permission is the operator's to fix: say it loudly.
            level = logging.ERROR if err.forbidden else logging.INFO
            log.log(
                level,
                "binding failed: %s",
                err.message,
                extra={"pod": key, "node": plan.node},
            )
            if self.metrics is not None:
                seconds = self.clock.now() - binding.bound_from
                self.metrics.observe_binding(AttemptResult.ERROR, seconds)
            self._outcome("error", profile, binding.started)
            return
        except asyncio.CancelledError:
            # Leadership lost or shutdown: nothing more is written; memory is put back.
            self._release_claims(plan)
            self.cache.forget_pod(key)
            self.mirror.binding.discard(key)
            queue.done(queued.uid)
            raise
        self._release_claims(plan)
        self.mirror.binding.discard(key)
        queue.done(queued.uid)
        current = self.pods.get(key)
        if current is None or current["metadata"].get("uid") != plan.uid:
            # Deleted while it was being bound: the mirror left it to this cycle.
            self.mirror.forget_pod(key)
        self.scheduled += 1
        log.debug("bound", extra={"pod": key, "node": plan.node})
        if self.metrics is not None:
            now = self.clock.now()
            first = queued.initial_attempt_timestamp or queued.timestamp
            self.metrics.observe_pod_scheduled(queued.attempts, now - first)
            self.metrics.observe_binding(AttemptResult.SCHEDULED, now - binding.bound_from)
        self.recorder.scheduled(plan.pod, plan.node)
        self._outcome("scheduled", profile, binding.started)
        self._wake.set()

    async def _undo(self, binding: _Binding) -> None:
        plan = binding.plan
        key = binding.queued.pod_info.key
        binding.framework.unreserve(binding.state, binding.queued.pod_info, plan.node)
        await self.binder.unreserve(plan)
        self.cache.forget_pod(key)
        self._release_claims(plan)
        self.mirror.binding.discard(key)

    def _release_claims(self, plan: BindingPlan) -> None:
        for claim in plan.claims:
            self.mirror.apply_claim(claim.key, self.assume.release(claim.key))

    # ------------------------------------------------------ PostFilter's deallocation

    def _deallocate(self, claim: ResourceClaim) -> None:
        """DynamicResources' PostFilter (dra-v1.md 7.4): clear the claim's allocation,
        reservations and device status in one status update. The cache changes when the
        informer brings the result, and that event requeues the pod."""
        key = f"{claim.metadata.namespace}/{claim.metadata.name}"
        raw = self.assume.latest.get(key)
        if raw is not None:
            self._spawn(self._write_deallocation(key, raw))

    async def _write_deallocation(self, key: str, raw: KubeDict) -> None:
        namespace, name = key.split("/", 1)
        status = {
            k: v
            for k, v in (raw.get("status") or {}).items()
            if k not in ("allocation", "reservedFor", "devices")
        }
        try:
            await self.client.update(
                RESOURCE_CLAIMS.item(namespace, name, "status"), {**raw, "status": status}
            )
        except (ApiStatusError, ApiUnavailable) as err:
            log.info("deallocation not written: %s", err, extra={"claim": key})

    # ----------------------------------------------------------------- ownership

    def _foreign_allocation(self, claim: KubeDict, holders: list[str]) -> None:
        self.foreign_allocations += 1
        if self.metrics is not None:
            self.metrics.count_foreign_allocation()
        self.recorder.foreign_allocation(claim, ", ".join(holders))


def unschedulable_by_plugin(queues: Mapping[str, SchedulingQueue]) -> dict[tuple[str, str], int]:
    """(plugin, profile) -> pods waiting in unschedulablePods that the plugin rejected."""
    counts: dict[tuple[str, str], int] = {}
    for profile, queue in queues.items():
        for pending in queue.pending_pods():
            if str(pending.queue) != "unschedulablePods":
                continue
            for plugin in pending.info.unschedulable_plugins:
                counts[plugin, profile] = counts.get((plugin, profile), 0) + 1
    return counts
