"""A queue controller (`--controllers queue`): what Kueue's controller manager does for
batch/v1 Jobs and JobSets (`kueue.x-k8s.io/v1beta2`, Kueue v0.17 semantics), on the wire.
The decisions are `dralloc.queueing`'s; this module reads the cluster and writes them.

One key, one pass (`QueueController.sync`), run after any change to the objects it watches
(ResourceFlavors, ClusterQueues, Cohorts, LocalQueues, WorkloadPriorityClasses, Workloads,
Jobs, JobSets, PriorityClasses, Namespaces, DeviceClasses, ResourceClaimTemplates):

1. every Job and JobSet labelled `kueue.x-k8s.io/queue-name` gets its Workload, as Kueue's
   integration makes it (`workload_for_job` / `workload_for_jobset`: the same name, a
   controller owner reference to the job, the job-uid label);
2. the queueing state is built from the informers' stores: quota held by a Workload comes from
   its `status.admission` (`QueueManager.add_all`), so the state after a restart is the state
   before it and nothing is admitted twice; a Workload whose job finished gets `Finished=True`
   and holds no quota; one whose job is gone is left to the garbage collector;
3. Workloads with Evicted=True are handled as Kueue's job reconciler does (`queuestop`): the
   job stopped and its pod templates restored, and the quota released (Requeued,
   QuotaReserved=False, admission cleared) only once the job has no active pods; then
   admission cycles (`dralloc.queueing.schedule`, classical preemption) run until one changes
   nothing; a preemption marks its victim Evicted and Preempted and leaves its quota held
   (`queuestop.mark_preempted`), so the preemptor waits ("Pending the preemption of N
   workload(s)") until a later pass has seen the victim's pods deleted;
4. what changed is written: Workload status (PUT on `/status` with the resourceVersion read,
   so a concurrent writer makes the pass fail with a conflict and run again from the newer
   copy), then the jobs: an admitted Workload's job is started as Kueue starts it (`suspend:
   false`, the flavors' `nodeLabels` as nodeSelector and their tolerations in the pod
   template, a partially admitted Job's `parallelism`); every other queued job is kept
   suspended, a running one stopped as Kueue stops it (`queuestop.stop_steps`, its pod
   templates restored; its pods are then deleted by the Job controller); last, each ClusterQueue's
   status (`queue_statuses`: usage, pending and admitted counts, Active). Events as Kueue's:
   CreatedWorkload, Started and Stopped on the job; QuotaReserved, Admitted, Preempted and
   Pending (the reason's message, when it changes) on the Workload.

Passes are batched: every event queues the one key, and events that arrive while a pass runs
queue a single next pass (`WorkQueue`), so a burst of N new Jobs costs a few passes, each
reading the stores once, not N. A pass's time goes to its writes; the independent writes of
a step (Workload creations, status writes, job starts and stops) run `write_concurrency` at a
time (default 16; 1 writes one after another), each step finishing before the next starts.

Kueue's webhook suspends a queued Job before it is stored; no webhook runs here, so a Job
created unsuspended is suspended by the first pass that sees it, and its Job controller may
have created pods in between (they are deleted when the suspension lands).

Admission that knows placement (dralloc's addition, spec/queueing.md 8.1, kueue#4329): with
`placement=LivePlacement(...)` (what `dralloc scheduler --controllers scheduler,...,queue`
passes unless `--no-queue-placement`; with `queue` but no `scheduler`, only with
`--queue-placement`, as that process may lack the right to read the cluster), a Workload
whose quota fits is admitted only if dralloc's scheduler could place all its pods now, on
the cluster as the live scheduler sees it (Nodes,
ResourceSlices, DeviceClasses, allocated claims and bound pods from the same informers, plus
room kept for Workloads admitted earlier whose pods are not bound yet: `queuecluster.py`);
otherwise it keeps `QuotaReserved=False` with reason `PlacementInfeasible` and the pod and
FitError that failed, its job stays suspended, and BestEffortFIFO moves on to the next head.
Pods whose schedulerName no profile serves are not checked (another scheduler places them).
The controller then also watches Nodes, ResourceSlices, ResourceClaims and pods, so a pass
runs when room frees up. Without it (`placement=None`) admission is Kueue's: quota only.

Departures, stated: an evicted Workload made by hand (no job) has its quota released at once;
ResourceSlices are not read for quota (DRA quota in counter mode sees no counters); no
admission checks.

Kueue's waitForPodsReady, when configured (`wait_for_pods_ready`, read by `dralloc scheduler
--queue-config` from a Kueue Configuration file): each pass also sets the PodsReady
condition from the job's status, evicts an admitted Workload not ready in time (reason
PodsReadyTimeout) with `status.requeueState` backoff, deactivates it past
`backoffLimitCount`, and with blockAdmission admits nothing while a Workload holding quota
is not ready (`queueready` decides, `queuewaiting` writes); a pass is queued for the next
deadline.

Topology-aware scheduling (Kueue's TAS), where the cluster serves Topologies
(`queuetopology.TopologyView`): a ResourceFlavor naming a Topology makes each pod set that
asks for TAS (or every pod set of a ClusterQueue whose flavors all do) placed in topology
domains before the placement check (`queueing.tasplacement`, on the Nodes, bound pods and
allocated claims the informers hold, less the domains of Workloads already admitted), and
the domains are written as `status.admission.podSetAssignments[].topologyAssignment`
(v1beta2 compact form). The job is started with the `kueue.x-k8s.io/topology` scheduling
gate, the `kueue.x-k8s.io/podset` label and the `kueue.x-k8s.io/workload` annotation on its
pod templates (`start_patch`), and every pass ends as Kueue's TopologyUngater: each gated
pod of an admitted Workload is patched to lose the gate and gain its domain's level labels
as nodeSelector, by rank for indexed Jobs and JobSets. With the placement check on, the
check places the same ungated pods, each in its domain.

Modules: `queueinput` reads (the Kueue resources, the stores decoded), `queuecycles` runs the
admission cycles, `queuejobs` starts and stops jobs, `queuestatus` writes Finished and the
ClusterQueues' statuses and records the Workload events; `queuestop`, `queueready`,
`queuewaiting`, `queuecluster` and `queuetopology` as above.

Owns its queue; the informers own the objects.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from contextlib import nullcontext
from datetime import UTC, datetime
from functools import partial
from typing import Any

from dralloc.api.io import to_builtins
from dralloc.errors import InputError
from dralloc.kube.client import PODS, ApiStatusError, KubeClient, KubeDict
from dralloc.kube.controllers.base import (
    FuncHandler,
    name_of,
    namespace_of,
    run_worker,
    wait_for_informers,
)
from dralloc.kube.controllers.jobset import JOBSETS
from dralloc.kube.controllers.queuecluster import ClusterView, LivePlacement, PassPlacement
from dralloc.kube.controllers.queuecycles import admission_cycles
from dralloc.kube.controllers.queueinput import (
    CLUSTER_QUEUES,
    COHORTS,
    KUEUE_API_VERSION,
    KUEUE_LEASE,
    KUEUE_RESOURCES,
    LOCAL_QUEUES,
    RESOURCE_FLAVORS,
    WORKLOAD_PRIORITY_CLASSES,
    WORKLOADS,
    QueueReader,
    workload_for,
)
from dralloc.kube.controllers.queuejobs import JobWriter, start_patch
from dralloc.kube.controllers.queueready import WaitForPodsReady, in_backoff
from dralloc.kube.controllers.queuestatus import (
    FINISHED,
    is_job_finished,
    normal_event,
    status_events,
    write_finished,
    write_queue_statuses,
)
from dralloc.kube.controllers.queuestop import (
    is_evicted,
    is_job_active,
    is_job_suspended,
    release_evicted,
)
from dralloc.kube.controllers.queuetopology import TOPOLOGIES, TopologyView
from dralloc.kube.controllers.queuewaiting import PodsReadyWaiting, with_requeue
from dralloc.kube.controllers.workqueue import WorkQueue
from dralloc.kube.events import EventRecorder
from dralloc.kube.informer import Informer
from dralloc.kube.shared_informers import SharedInformers
from dralloc.queueing import QueueConfig, QueueManager, QueueState, Workload, check

# The names other modules and tests import from here, wherever they are defined.
__all__ = [
    "CLUSTER_QUEUES",
    "COHORTS",
    "KUEUE_API_VERSION",
    "KUEUE_LEASE",
    "KUEUE_RESOURCES",
    "LOCAL_QUEUES",
    "NAME",
    "RESOURCE_FLAVORS",
    "WORKLOADS",
    "WORKLOAD_PRIORITY_CLASSES",
    "LivePlacement",
    "QueueController",
    "is_job_finished",
    "start_patch",
]

log = logging.getLogger(__name__)

NAME = "queue"
CYCLE = "cycle"
# The events' reporting controller.
EVENT_SOURCE = "dralloc-queue"
# Default for `QueueController.write_concurrency`: a bound, so a pass that admits hundreds
# of Workloads keeps a few requests in flight rather than hundreds.
WRITE_CONCURRENCY = 16


class QueueController:
    """Kueue's admission for queued Jobs and JobSets, live (module docstring).

    >>> controller = QueueController(client, informers)   # doctest: +SKIP
    >>> placing = QueueController(client, informers, placement=LivePlacement(features, config))
    ... # doctest: +SKIP
    """

    name = NAME

    def __init__(
        self,
        client: KubeClient,
        informers: SharedInformers,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        config: QueueConfig | None = None,
        events: EventRecorder | None = None,
        placement: LivePlacement | None = None,
        write_concurrency: int = WRITE_CONCURRENCY,
        wait_for_pods_ready: WaitForPodsReady | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.client = client
        # Kueue's waitForPodsReady (`queuewaiting`); None: off, as in Kueue by default.
        self.wait_for_pods_ready = wait_for_pods_ready
        self.queue = WorkQueue(NAME)
        self.waiting: PodsReadyWaiting | None = None
        if wait_for_pods_ready is not None:
            self.waiting = PodsReadyWaiting(
                client,
                WORKLOADS,
                wait_for_pods_ready,
                rng or random.Random(),
                lambda delay: self.queue.add_after(CYCLE, delay),
                now,
            )
        self.now = now
        self.config = config or QueueConfig()
        self.events = events or EventRecorder(client, EVENT_SOURCE)
        self.job_writer = JobWriter(client, self.events)
        handler = FuncHandler(
            lambda _: self.queue.add(CYCLE),
            lambda _old, _new: self.queue.add(CYCLE),
            lambda _: self.queue.add(CYCLE),
        )
        self.reader = QueueReader(informers)
        self._shared = informers
        self._handler = handler
        self.informers = self.reader.informers
        # Placement: the cluster's devices and pods too, so freed room starts a pass.
        self.cluster: ClusterView | None = None
        if placement is not None:
            self.cluster = ClusterView(informers, placement)
            self.informers += [i for i in self.cluster.informers if i not in self.informers]
        for informer in self.informers:
            informer.add_handler(handler)
        self.cycles = 0
        # Passes started and finished (tests wait on them; a pass that started after an
        # object reached the store has read it once `passes_done` reaches its number).
        self.passes = 0
        self.passes_done = 0
        # Independent writes of one step run this many at a time (1: one after another, the
        # plain path; `_write_all`). Kueue's reconcilers write concurrently too.
        self.write_concurrency = write_concurrency

    @property
    def jobs(self) -> Informer:
        return self.reader.jobs

    @property
    def jobsets(self) -> Informer | None:
        """JobSets' informer, once `run` has found their CRD served."""
        return self.reader.jobsets

    @property
    def topology(self) -> TopologyView | None:
        """Topology-aware scheduling, once `run` has found Topologies served and readable."""
        return self.reader.topology

    async def run(self) -> None:
        group_version = JOBSETS.group_version
        if JOBSETS.plural in await self.client.served(group_version):
            jobsets = self._shared.informer(JOBSETS)
            jobsets.add_handler(self._handler)
            self.informers.append(jobsets)
            self.reader.jobsets = jobsets
        if await self._may_read_topologies():
            topology = TopologyView(self._shared)
            for informer in topology.informers:
                if informer not in self.informers:
                    informer.add_handler(self._handler)
                    self.informers.append(informer)
            self.reader.topology = topology
        await wait_for_informers(self.informers)
        self.queue.add(CYCLE)
        await run_worker(self.queue, self.sync, log)

    async def _may_read_topologies(self) -> bool:
        """Whether Topologies are served and this process may list them; a role without
        them (written before topology-aware scheduling was live) runs without TAS, and a
        ClusterQueue whose flavor names a Topology stays inactive, as without the CRD."""
        if TOPOLOGIES.plural not in await self.client.served(TOPOLOGIES.group_version):
            return False
        try:
            await self.client.list(TOPOLOGIES.collection(), limit=1)
        except ApiStatusError as err:
            if err.is_forbidden:
                log.warning("queue: topology-aware scheduling off: %s", err)
                return False
            raise
        return True

    # ---------------------------------------------------------------------- the pass

    async def sync(self, key: str) -> None:
        """One pass (module docstring). Raises on a failed write: the worker retries."""
        del key
        self.passes += 1
        try:
            await self._pass()
        finally:
            self.passes_done += 1

    async def _pass(self) -> None:
        now = self.now().replace(microsecond=0)
        inp = self.reader.read()
        jobs = self.reader.queued_jobs()
        raws = self.reader.workloads(inp)
        job_of: dict[str, KubeDict] = {}
        missing: dict[str, tuple[KubeDict, Workload]] = {}
        for queued_job in jobs.values():
            made = workload_for(queued_job, inp)
            wl_key = f"{made.metadata.namespace}/{made.metadata.name}"
            if wl_key not in inp.workloads:
                missing[wl_key] = (queued_job, made)
            job_of[wl_key] = queued_job

        async def create(wl_key: str, queued_job: KubeDict, made: Workload) -> None:
            body = {"apiVersion": KUEUE_API_VERSION, "kind": "Workload", **to_builtins(made)}
            body["metadata"].pop("creationTimestamp", None)
            created = await self.client.create(WORKLOADS.collection(namespace_of(queued_job)), body)
            self._event(queued_job, "CreatedWorkload", f"Created Workload: {wl_key}")
            decoded = self.reader.decode(created)
            if isinstance(decoded, Workload):
                inp.workloads[wl_key] = decoded
                raws[wl_key] = created
            else:
                job_of.pop(wl_key, None)

        await self._write_all(partial(create, k, j, m) for k, (j, m) in missing.items())
        active: dict[str, Workload] = {}
        for wl_key, workload in inp.workloads.items():
            job = job_of.get(wl_key)
            finished = workload.condition(FINISHED)
            if finished is not None and finished.status == "True":
                continue
            if job is None:
                # Its job is gone (the garbage collector deletes the Workload) or it was made
                # by hand for no job: Kueue admits the latter too.
                if any(r.kind in ("Job", "JobSet") for r in workload.metadata.owner_references):
                    continue
            elif is_job_finished(job)[0]:
                await write_finished(self.client, raws[wl_key], workload, job, now)
                continue
            active[wl_key] = workload
        inp.workloads = active
        # status.requeueState, which `Workload` does not hold: kept beside it and written
        # back with the status.
        requeue: dict[str, KubeDict | None] = {
            k: (raws[k].get("status") or {}).get("requeueState") for k in active
        }
        before = {k: with_requeue(to_builtins(w.status), requeue[k]) for k, w in active.items()}
        if self.waiting is not None:
            await self.waiting.step(active, job_of, raws, requeue, now)
        await self._handle_evictions(active, job_of, raws, now)
        reserved_before = {k for k, w in active.items() if w.has_quota_reservation()}
        try:
            state = QueueState.build(inp)
            check(state)
        except InputError as err:
            log.warning("queue: not admitting: %s", err)
            return
        manager = QueueManager(state)
        # A Workload in its requeue backoff is not queued (Kueue keeps it inadmissible).
        with self.waiting.queue_order(active.values()) if self.waiting else nullcontext():
            manager.add_all(
                w
                for k, w in active.items()
                if w.has_quota_reservation() or not in_backoff(requeue.get(k), now)
            )
        placement: PassPlacement | None = None
        if self.cluster is not None:
            placement = self.cluster.placement(
                inp.flavors,
                job_of,
                list(inp.claim_templates.values()),
                inp.priority_classes,
                {k: w for k, w in active.items() if w.has_quota_reservation()},
            )
        topology = self.reader.topology
        tas = topology.placement(inp, state, active.values()) if topology is not None else None
        self.cycles += admission_cycles(
            state,
            manager,
            active,
            now,
            self.config,
            waiting=self.waiting,
            placement=placement,
            tas=tas,
        )

        async def write_status(wl_key: str, status: Any) -> None:
            body = copy.deepcopy(raws[wl_key])
            body["status"] = status
            path = WORKLOADS.item(namespace_of(body), name_of(body), "status")
            raws[wl_key] = await self.client.update(path, body)
            status_events(self.events, raws[wl_key], before[wl_key], status)

        statuses = {k: with_requeue(to_builtins(w.status), requeue[k]) for k, w in active.items()}
        await self._write_all(
            partial(write_status, k, status)
            for k, status in statuses.items()
            if status != before[k]
        )

        async def sync_job(wl_key: str, job: KubeDict, workload: Workload) -> None:
            admitted = workload.has_quota_reservation()
            if admitted and is_job_suspended(job):
                patch = start_patch(job, workload, dict(inp.flavors))
                await self.job_writer.patch(job, patch)
                admission = workload.status.admission
                cq = admission.cluster_queue if admission else ""
                self._event(job, "Started", f"Admitted by clusterQueue {cq}")
            elif not is_job_suspended(job) and not (admitted and wl_key in reserved_before):
                # Not admitted, or running since before its admission (created unsuspended,
                # the webhook's work not done): stopped, and started by the next pass.
                note = "Not admitted by cluster queue" if not admitted else "Suspended by Kueue"
                await self.job_writer.stop(job, raws[wl_key], note)

        # An evicted Workload's job is stopped by `_handle_evictions`, never started.
        await self._write_all(
            partial(sync_job, k, job, active[k])
            for k, job in job_of.items()
            if k in active and not is_evicted(active[k])
        )
        if topology is not None:
            await self._ungate(topology, active)
        await write_queue_statuses(
            self.client,
            self.reader.kueue[CLUSTER_QUEUES.plural],
            self.config,
            state,
            manager,
            self.now,
        )
        if self.waiting is not None:
            self.waiting.wake_for(active, requeue, now)

    async def _write_all(self, writes: Iterable[Callable[[], Awaitable[None]]]) -> None:
        """Run one step's independent writes (each its own object), `write_concurrency` at a
        time (1: one after another, the plain path); every write ends before the step does,
        and the first failure is raised then (the pass is retried, as for a serial write)."""
        pending = list(writes)
        if self.write_concurrency <= 1:
            for write in pending:
                await write()
            return
        gate = asyncio.Semaphore(self.write_concurrency)

        async def gated(write: Callable[[], Awaitable[None]]) -> None:
            async with gate:
                await write()

        results = await asyncio.gather(*(gated(w) for w in pending), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _handle_evictions(
        self,
        workloads: dict[str, Workload],
        job_of: dict[str, KubeDict],
        raws: dict[str, KubeDict],
        now: datetime,
    ) -> None:
        """Kueue's job reconciler for Workloads with Evicted=True (`queuestop`, steps 2 and
        3): the job stopped and restored, and the reservation cleared once the job has no
        active pods, before this pass's admission cycles see the quota. The Workload's
        status is written with the pass's other changes."""
        for wl_key, workload in workloads.items():
            if not is_evicted(workload):
                continue
            job = job_of.get(wl_key)
            stopped = True
            if job is not None:
                job, stopped = await self.job_writer.stop(
                    job, raws[wl_key], _evicted_message(workload)
                )
                job_of[wl_key] = job
            # A Workload made by hand has no job to wait for (no Kueue integration owns it).
            inactive = job is None or (stopped and not is_job_active(job))
            if workload.has_quota_reservation() and inactive:
                release_evicted(workload, now)

    async def _ungate(self, topology: TopologyView, workloads: dict[str, Workload]) -> None:
        """Kueue's TopologyUngater (`TopologyView.ungate_patches`); a pod changed or gone
        since the store saw it is left to the next pass."""
        for raw, patch in topology.ungate_patches(workloads):
            try:
                await self.client.patch(
                    PODS.item(namespace_of(raw), name_of(raw)),
                    patch,
                    content_type="application/merge-patch+json",
                )
            except ApiStatusError as err:
                if err.is_not_found or err.is_conflict:
                    continue
                raise
            topology.expect(raw)

    def _event(self, regarding: KubeDict, reason: str, note: str) -> None:
        normal_event(self.events, regarding, reason, note)


def _evicted_message(workload: Workload) -> str:
    found = workload.condition("Evicted")
    return found.message if found is not None else ""
