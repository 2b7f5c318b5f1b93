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

import msgspec

from dralloc.api.core import PriorityClass
from dralloc.api.io import from_server, to_builtins
from dralloc.api.resource import DeviceClass, ResourceClaimTemplate
from dralloc.api.validation.times import format_time
from dralloc.api.workloads import Job, JobSet
from dralloc.controllers.queueplacement import PodSetInfo
from dralloc.errors import InputError
from dralloc.kube.client import (
    DEVICE_CLASSES,
    JOBS,
    NAMESPACES,
    PODS,
    PRIORITY_CLASSES,
    RESOURCE_CLAIM_TEMPLATES,
    ApiStatusError,
    KubeClient,
    KubeDict,
    Resource,
)
from dralloc.kube.controllers.base import (
    FuncHandler,
    metadata,
    name_of,
    namespace_of,
    run_worker,
    uid_of,
    wait_for_informers,
)
from dralloc.kube.controllers.jobset import JOBSETS
from dralloc.kube.controllers.queuecluster import ClusterView, LivePlacement, PassPlacement
from dralloc.kube.controllers.queueready import (
    DEACTIVATED,
    PODS_READY_TIMEOUT,
    WaitForPodsReady,
    in_backoff,
)
from dralloc.kube.controllers.queuestop import (
    is_evicted,
    is_job_active,
    is_job_suspended,
    mark_preempted,
    release_evicted,
    stop_steps,
)
from dralloc.kube.controllers.queuetopology import TOPOLOGIES, TopologyView
from dralloc.kube.controllers.queuewaiting import PodsReadyWaiting, blocked_cycle, with_requeue
from dralloc.kube.controllers.workqueue import WorkQueue
from dralloc.kube.events import EventRecorder
from dralloc.kube.informer import Informer
from dralloc.kube.shared_informers import SharedInformers
from dralloc.queueing import (
    ClassicalPreemptor,
    PlacementCheck,
    QueueConfig,
    QueueInput,
    QueueManager,
    QueueState,
    TopologyPlacement,
    Workload,
    check,
    decode_document,
    queue_statuses,
    schedule,
    workload_for_job,
    workload_for_jobset,
)
from dralloc.queueing.jobs import QUEUE_NAME_LABEL
from dralloc.queueing.objects import Condition

log = logging.getLogger(__name__)

NAME = "queue"
KUEUE_API_VERSION = "kueue.x-k8s.io/v1beta2"
RESOURCE_FLAVORS = Resource(KUEUE_API_VERSION, "resourceflavors", "ResourceFlavor", False)
CLUSTER_QUEUES = Resource(KUEUE_API_VERSION, "clusterqueues", "ClusterQueue", False)
COHORTS = Resource(KUEUE_API_VERSION, "cohorts", "Cohort", False)
LOCAL_QUEUES = Resource(KUEUE_API_VERSION, "localqueues", "LocalQueue")
WORKLOAD_PRIORITY_CLASSES = Resource(
    KUEUE_API_VERSION, "workloadpriorityclasses", "WorkloadPriorityClass", False
)
WORKLOADS = Resource(KUEUE_API_VERSION, "workloads", "Workload")
KUEUE_RESOURCES = (
    RESOURCE_FLAVORS,
    CLUSTER_QUEUES,
    COHORTS,
    LOCAL_QUEUES,
    WORKLOAD_PRIORITY_CLASSES,
    WORKLOADS,
)
# Kueue's controller manager's leader-election Lease (config: leaderElection.resourceName),
# in the namespace it runs in (kueue-system by default).
KUEUE_LEASE = "c1f6bfd2.kueue.x-k8s.io"
CYCLE = "cycle"
# The events' reporting controller.
EVENT_SOURCE = "dralloc-queue"
# Bad objects remembered so each version is logged once; forgotten all at once past this.
REPORTED_LIMIT = 1000
FINISHED = "Finished"
# Default for `QueueController.write_concurrency`: a bound, so a pass that admits hundreds
# of Workloads keeps a few requests in flight rather than hundreds.
WRITE_CONCURRENCY = 16


def is_job_finished(job: KubeDict) -> tuple[bool, bool]:
    """(finished, succeeded) of a Job (Complete / Failed) or JobSet (Completed / Failed)."""
    for condition in (job.get("status") or {}).get("conditions") or []:
        if not isinstance(condition, dict) or condition.get("status") != "True":
            continue
        kind = condition.get("type")
        if kind in ("Complete", "Completed"):
            return True, True
        if kind == "Failed":
            return True, False
    return False, False


def start_patch(job: KubeDict, workload: Workload, flavors: dict[str, Any]) -> KubeDict:
    """The merge patch that starts `job` as Kueue's integration does once `workload` is
    admitted: `suspend: false`, each pod set's template given what `PodSetInfo` says (the
    flavors' nodeLabels and tolerations, the podset label and workload annotation, and the
    topology scheduling gate for a pod set with a topology assignment), a partially admitted
    Job's `parallelism` set."""
    admission = workload.status.admission
    assignments = {a.name: a for a in admission.pod_set_assignments} if admission else {}
    spec = job.get("spec") or {}

    def template_patch(name: str, template: KubeDict) -> KubeDict:
        merged = copy.deepcopy(template)
        PodSetInfo.of(workload, name, flavors).apply_raw(merged)
        patch: KubeDict = {}
        for part, keys in (
            ("metadata", ("labels", "annotations")),
            ("spec", ("nodeSelector", "tolerations", "schedulingGates")),
        ):
            before, after = template.get(part) or {}, merged.get(part) or {}
            for key in keys:
                if after.get(key) != before.get(key):
                    # A merge patch merges maps key by key and replaces lists whole.
                    added = after[key]
                    if isinstance(added, dict):
                        old = before.get(key) or {}
                        added = {k: v for k, v in added.items() if old.get(k) != v}
                    patch.setdefault(part, {})[key] = added
        return patch

    out: KubeDict = {"suspend": False}
    if job.get("kind") == "JobSet":
        replicated = [copy.deepcopy(r) for r in spec.get("replicatedJobs") or []]
        changed = False
        for rj in replicated:
            job_spec = (rj.get("template") or {}).get("spec") or {}
            template = job_spec.get("template") or {}
            patch = template_patch(str(rj.get("name", "")), template)
            if patch:
                changed = True
                PodSetInfo.of(workload, str(rj.get("name", "")), flavors).apply_raw(
                    rj.setdefault("template", {}).setdefault("spec", {}).setdefault("template", {})
                )
        if changed:
            # A list is replaced whole by a merge patch: send it all.
            out["replicatedJobs"] = replicated
        return {"spec": out}
    patch = template_patch("main", spec.get("template") or {})
    if patch:
        out["template"] = patch
    psa = assignments.get("main")
    full = workload.spec.pod_sets[0].count if workload.spec.pod_sets else None
    if psa is not None and psa.count is not None and full is not None and psa.count < full:
        out["parallelism"] = psa.count
    return {"spec": out}


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
        handler = FuncHandler(
            lambda _: self.queue.add(CYCLE),
            lambda _old, _new: self.queue.add(CYCLE),
            lambda _: self.queue.add(CYCLE),
        )
        self.kueue = {r.plural: informers.informer(r) for r in KUEUE_RESOURCES}
        self.jobs = informers.informer(JOBS)
        # JobSets only where their CRD is served (Kueue enables an integration the same
        # way): `run` adds the informer.
        self.jobsets: Informer | None = None
        self._shared = informers
        self._handler = handler
        self.priority_classes = informers.informer(PRIORITY_CLASSES)
        self.namespaces = informers.informer(NAMESPACES)
        self.device_classes = informers.informer(DEVICE_CLASSES)
        self.claim_templates = informers.informer(RESOURCE_CLAIM_TEMPLATES)
        self.informers = [
            *self.kueue.values(),
            self.jobs,
            self.priority_classes,
            self.namespaces,
            self.device_classes,
            self.claim_templates,
        ]
        # Placement: the cluster's devices and pods too, so freed room starts a pass.
        self.cluster: ClusterView | None = None
        if placement is not None:
            self.cluster = ClusterView(informers, placement)
            self.informers += [i for i in self.cluster.informers if i not in self.informers]
        for informer in self.informers:
            informer.add_handler(handler)
        # Topology-aware scheduling where Topologies are served: `run` builds it.
        self.topology: TopologyView | None = None
        # Bad objects already reported, so a pass repeated every event does not log them again.
        self._reported: set[str] = set()
        self.cycles = 0
        # Passes started and finished (tests wait on them; a pass that started after an
        # object reached the store has read it once `passes_done` reaches its number).
        self.passes = 0
        self.passes_done = 0
        # Independent writes of one step run this many at a time (1: one after another, the
        # plain path; `_write_all`). Kueue's reconcilers write concurrently too.
        self.write_concurrency = write_concurrency

    async def run(self) -> None:
        group_version = JOBSETS.group_version
        if JOBSETS.plural in await self.client.served(group_version):
            self.jobsets = self._shared.informer(JOBSETS)
            self.jobsets.add_handler(self._handler)
            self.informers.append(self.jobsets)
        if await self._may_read_topologies():
            self.topology = TopologyView(self._shared)
            for informer in self.topology.informers:
                if informer not in self.informers:
                    informer.add_handler(self._handler)
                    self.informers.append(informer)
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

    # ---------------------------------------------------------------------- reading

    def _input(self) -> QueueInput:
        inp = QueueInput()
        for informer in self.kueue.values():
            if informer.resource is WORKLOADS:
                continue
            for raw in informer.store.values():
                obj = self._decode(raw)
                if obj is not None:
                    inp.add(obj)
        for raw in self.priority_classes.store.values():
            pc = from_server(raw, PriorityClass)
            inp.priority_classes[pc.metadata.name] = pc
        for raw in self.device_classes.store.values():
            dc = from_server(raw, DeviceClass)
            inp.device_classes[dc.metadata.name] = dc
        for raw in self.claim_templates.store.values():
            rct = from_server(raw, ResourceClaimTemplate)
            inp.claim_templates[(rct.metadata.namespace or "default", rct.metadata.name)] = rct
        for raw in self.namespaces.store.values():
            inp.namespace_labels[name_of(raw)] = dict(metadata(raw).get("labels") or {})
        if self.topology is not None:
            for topology in self.topology.topologies(self._decode):
                inp.add(topology)
        return inp

    def _decode(self, raw: KubeDict) -> Any:
        label = f"{raw.get('kind')} {namespace_of(raw)}/{name_of(raw)}".replace(" /", " ")
        obj, problems = decode_document(raw, label, 0)
        if problems:
            seen = f"{label}@{metadata(raw).get('resourceVersion')}"
            if seen not in self._reported:
                if len(self._reported) >= REPORTED_LIMIT:
                    self._reported.clear()
                self._reported.add(seen)
                for problem in problems:
                    log.warning("queue: ignoring %s", problem)
            return None
        return obj

    def _queued_jobs(self) -> dict[str, KubeDict]:
        """Queued Jobs and JobSets by uid."""
        out: dict[str, KubeDict] = {}
        for informer, kind in ((self.jobs, "Job"), (self.jobsets, "JobSet")):
            if informer is None:
                continue
            for raw in informer.store.values():
                if (metadata(raw).get("labels") or {}).get(QUEUE_NAME_LABEL):
                    out[uid_of(raw)] = {**raw, "kind": kind}
        return out

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
        inp = self._input()
        jobs = self._queued_jobs()
        raws: dict[str, KubeDict] = {}
        for raw in self.kueue[WORKLOADS.plural].store.values():
            workload = self._decode(raw)
            if isinstance(workload, Workload):
                wl_key = f"{namespace_of(raw)}/{name_of(raw)}"
                inp.workloads[wl_key] = workload
                raws[wl_key] = raw
        job_of: dict[str, KubeDict] = {}
        missing: dict[str, tuple[KubeDict, Workload]] = {}
        for queued_job in jobs.values():
            made = self._workload_for(queued_job, inp)
            wl_key = f"{made.metadata.namespace}/{made.metadata.name}"
            if wl_key not in inp.workloads:
                missing[wl_key] = (queued_job, made)
            job_of[wl_key] = queued_job

        async def create(wl_key: str, queued_job: KubeDict, made: Workload) -> None:
            body = {"apiVersion": KUEUE_API_VERSION, "kind": "Workload", **to_builtins(made)}
            body["metadata"].pop("creationTimestamp", None)
            created = await self.client.create(WORKLOADS.collection(namespace_of(queued_job)), body)
            self._event(queued_job, "CreatedWorkload", f"Created Workload: {wl_key}")
            decoded = self._decode(created)
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
                await self._finish(raws[wl_key], workload, job, now)
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
        tas = (
            self.topology.placement(inp, state, active.values())
            if self.topology is not None
            else None
        )
        self._cycles(state, manager, active, now, placement, tas)

        async def write_status(wl_key: str, status: Any) -> None:
            body = copy.deepcopy(raws[wl_key])
            body["status"] = status
            path = WORKLOADS.item(namespace_of(body), name_of(body), "status")
            raws[wl_key] = await self.client.update(path, body)
            self._status_events(raws[wl_key], before[wl_key], status)

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
                await self._patch_job(job, patch)
                admission = workload.status.admission
                cq = admission.cluster_queue if admission else ""
                self._event(job, "Started", f"Admitted by clusterQueue {cq}")
            elif not is_job_suspended(job) and not (admitted and wl_key in reserved_before):
                # Not admitted, or running since before its admission (created unsuspended,
                # the webhook's work not done): stopped, and started by the next pass.
                note = "Not admitted by cluster queue" if not admitted else "Suspended by Kueue"
                await self._stop_job(job, raws[wl_key], note)

        # An evicted Workload's job is stopped by `_handle_evictions`, never started.
        await self._write_all(
            partial(sync_job, k, job, active[k])
            for k, job in job_of.items()
            if k in active and not is_evicted(active[k])
        )
        if self.topology is not None:
            await self._ungate(active)
        await self._write_queue_statuses(state, manager)
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
                job, stopped = await self._stop_job(job, raws[wl_key], _evicted_message(workload))
                job_of[wl_key] = job
            # A Workload made by hand has no job to wait for (no Kueue integration owns it).
            inactive = job is None or (stopped and not is_job_active(job))
            if workload.has_quota_reservation() and inactive:
                release_evicted(workload, now)

    async def _ungate(self, workloads: dict[str, Workload]) -> None:
        """Kueue's TopologyUngater (`TopologyView.ungate_patches`); a pod changed or gone
        since the store saw it is left to the next pass."""
        assert self.topology is not None
        for raw, patch in self.topology.ungate_patches(workloads):
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
            self.topology.expect(raw)

    def _event(self, regarding: KubeDict, reason: str, note: str) -> None:
        self.events.record(regarding, type_="Normal", reason=reason, action=reason, note=note)

    def _status_events(self, raw: KubeDict, old: Any, new: Any) -> None:
        """Kueue's Workload events for what changed: QuotaReserved and Admitted, Preempted,
        EvictedDueToPodsReadyTimeout and EvictedDueToDeactivated..., and Pending with the
        reason's message."""

        def conditions(status: Any) -> dict[str, Any]:
            found = status.get("conditions") or [] if isinstance(status, dict) else []
            return {c.get("type"): c for c in found}

        before, after = conditions(old), conditions(new)
        raw = {**raw, "apiVersion": KUEUE_API_VERSION, "kind": "Workload"}
        for kind in ("QuotaReserved", "Admitted", "Preempted"):
            now, then = after.get(kind), before.get(kind)
            if (
                now is not None
                and now.get("status") == "True"
                and (then is None or then.get("status") != "True")
            ):
                self._event(raw, kind, str(now.get("message", "")))
        evicted, then = after.get("Evicted"), before.get("Evicted")
        reason = str((evicted or {}).get("reason", ""))
        # workload.Evict's event (EvictedDueTo<reason>); preemption has its own above.
        if (
            evicted is not None
            and evicted.get("status") == "True"
            and (then is None or then.get("status") != "True")
            and (reason == PODS_READY_TIMEOUT or reason.startswith(DEACTIVATED))
        ):
            self._event(raw, f"EvictedDueTo{reason}", str(evicted.get("message", "")))
        reserved = after.get("QuotaReserved")
        if reserved is not None and reserved.get("status") == "False":
            then = before.get("QuotaReserved")
            if then is None or then.get("message") != reserved.get("message"):
                self._event(raw, "Pending", str(reserved.get("message", "")))

    def _workload_for(self, job: KubeDict, inp: QueueInput) -> Workload:
        wpcs, pcs = inp.workload_priority_classes, inp.priority_classes
        if job["kind"] == "JobSet":
            return workload_for_jobset(from_server(job, JobSet), wpcs, pcs)
        return workload_for_job(from_server(job, Job), wpcs, pcs)

    def _cycles(
        self,
        state: QueueState,
        manager: QueueManager,
        workloads: dict[str, Workload],
        now: datetime,
        placement: PassPlacement | None = None,
        tas: TopologyPlacement | None = None,
    ) -> None:
        """Admission cycles; `tas` (topology domains first) and `placement` (the scheduler's
        check, given the domains) together decide a Fit."""
        preemptor = ClassicalPreemptor()
        decide: PlacementCheck | None = placement
        if tas is not None:
            decide = tas.then(placement) if placement is not None else tas
        previous: dict[str, tuple[str, str]] | None = None
        waiting = self.waiting
        # Each cycle admits, preempts or parks a head; the bound keeps StrictFIFO's blocked
        # head (popped again every cycle) from looping, as in `dralloc queue`.
        for _ in range(4 * len(workloads) + 8):
            self.cycles += 1
            if waiting is not None and waiting.blocks(workloads):
                blocked_cycle(state, manager, workloads, now, self.config, decide)
                return
            result = schedule(
                state, manager, now, config=self.config, preemptor=preemptor, placement=decide
            )
            issued = 0
            for victim, by, reason in result.preemptions:
                if victim in workloads:
                    # Evicted, quota kept until its job has no active pods (`queuestop`).
                    by_entry = manager.workloads.get(by)
                    issued += mark_preempted(state, workloads[victim], by_entry, reason, now)
            reasons = {k: (str(e.reason), e.message) for k, e in result.pending.items()}
            if not result.order or (not result.admitted and not issued and reasons == previous):
                return
            previous = reasons

    async def _finish(
        self, raw: KubeDict, workload: Workload, job: KubeDict, now: datetime
    ) -> None:
        """Finished=True on the Workload of a finished job (Kueue's reasons); its quota is
        released because finished Workloads are left out of the state."""
        _, succeeded = is_job_finished(job)
        stamp = format_time(now)
        condition = Condition(
            type=FINISHED,
            status="True",
            reason="Succeeded" if succeeded else "Failed",
            message="Job finished successfully" if succeeded else "Job failed",
            last_transition_time=stamp,
            observed_generation=workload.metadata.generation or None,
        )
        conditions = [c for c in workload.status.conditions if c.type != FINISHED]
        status = msgspec.structs.replace(workload.status, conditions=[*conditions, condition])
        body = copy.deepcopy(raw)
        body["status"] = to_builtins(status)
        await self.client.update(WORKLOADS.item(namespace_of(raw), name_of(raw), "status"), body)

    async def _patch_job(
        self, job: KubeDict, patch: KubeDict, subresource: str | None = None
    ) -> KubeDict:
        """A merge patch on `job` at the resourceVersion read (a concurrent writer makes it
        fail with a conflict); the job as the server returns it."""
        resource = JOBSETS if job.get("kind") == "JobSet" else JOBS
        meta = {
            **(patch.get("metadata") or {}),
            "resourceVersion": metadata(job).get("resourceVersion"),
        }
        path = (
            resource.item(namespace_of(job), name_of(job), subresource)
            if subresource
            else resource.item(namespace_of(job), name_of(job))
        )
        updated = await self.client.patch(
            path, {**patch, "metadata": meta}, content_type="application/merge-patch+json"
        )
        return {**updated, "kind": job.get("kind")}

    async def _stop_job(
        self, job: KubeDict, workload_raw: KubeDict, note: str
    ) -> tuple[KubeDict, bool]:
        """Stop `job` as Kueue does (`queuestop.stop_steps`: suspended, a Job's
        `status.startTime` cleared so the API server lets its template change, the pod
        templates restored from the Workload); a Stopped event when it was running. The job
        as last written, and whether every step was done."""
        steps = stop_steps(job, workload_raw)
        running = not (job.get("spec") or {}).get("suspend")
        stopped = True
        for subresource, patch in steps:
            try:
                job = await self._patch_job(
                    job, patch, "status" if subresource == "status" else None
                )
            except ApiStatusError as err:
                # Kubernetes 1.36 lets a started Job's template change only once it has no
                # active pods (MutableSchedulingDirectivesForSuspendedJobs): until the Job
                # controller has deleted them the restore is refused, and Kueue retries it.
                # The stopping annotation stays, so the job counts as not yet suspended and
                # its quota stays held; the Job's next status change starts a pass.
                if err.code != 422 or subresource != "spec":
                    raise
                log.info(
                    "queue: job %s/%s not restored yet: %s",
                    namespace_of(job),
                    name_of(job),
                    err.message,
                )
                stopped = False
                break
        if running and steps:
            self._event(job, "Stopped", note)
        return job, stopped

    async def _write_queue_statuses(self, state: QueueState, manager: QueueManager) -> None:
        statuses = queue_statuses(state, manager)
        for name, status in statuses.items():
            raw = self.kueue[CLUSTER_QUEUES.plural].get(name)
            if raw is None:
                continue
            wanted = to_builtins(status)
            if self.config.fair_sharing:
                # A required field, omitted by the encoder when 0.
                wanted.setdefault("fairSharing", {}).setdefault("weightedShare", 0)
            else:
                # Kueue reports the share only when fair sharing is enabled.
                wanted.pop("fairSharing", None)
            current = raw.get("status") or {}
            if _without_times(current) == _without_times(wanted):
                continue
            for condition in wanted.get("conditions") or []:
                old = next(
                    (c for c in current.get("conditions") or [] if c["type"] == condition["type"]),
                    None,
                )
                if old is not None and old.get("status") == condition.get("status"):
                    condition["lastTransitionTime"] = old.get("lastTransitionTime")
                else:
                    condition["lastTransitionTime"] = format_time(self.now())
            body = copy.deepcopy(raw)
            body["status"] = wanted
            try:
                await self.client.update(CLUSTER_QUEUES.item(None, name, "status"), body)
            except ApiStatusError as err:
                if not err.is_not_found:
                    raise


def _without_times(status: Any) -> Any:
    if isinstance(status, dict):
        return {k: _without_times(v) for k, v in status.items() if k != "lastTransitionTime"}
    if isinstance(status, list):
        return [_without_times(v) for v in status]
    return status


def _evicted_message(workload: Workload) -> str:
    found = workload.condition("Evicted")
    return found.message if found is not None else ""
