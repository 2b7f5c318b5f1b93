"""Job traces replayed with Kueue queues in front of the scheduler, on the replay's virtual
clock: which queueing policy serves tenants how fast, how fairly, and whether admitted jobs
then sit unschedulable (kueue#4329).

Owns `KueueAdmission` (the replay engine's `ReplayAdmission`), the queue policies
(`QUEUE_POLICIES`) and the per-queue figures (`QueueStats`, Jain's index). It drives
`dralloc.queueing` through its public API and never changes it.

The objects are `sim.batch_objects`' (not written twice): per tenant a Namespace, a
ClusterQueue (nominal quota = the tenant's GPUs in `nvidia.com/gpu`, the DeviceClass
`gpu.nvidia.com` mapped to it as Kueue's `deviceClassMappings` do, and the CPU and memory
those GPUs' workers ask for) in one cohort (`tenants`: borrowing allowed, no limit), a
LocalQueue and ResourceClaimTemplates; per job an Indexed Job, suspended, which Kueue's Job
integration turns into a Workload with one pod set of `count = workers` (no `minCount`: the
traces' jobs are gangs that need every worker, so no partial admission). Each ClusterQueue
gets the policy's `queueingStrategy` and `preemption: {reclaimWithinCohort: Any,
withinClusterQueue: LowerPriority}`, so a tenant takes back its nominal quota from borrowers.
A Workload's creation time is the job's arrival (queue order).

On the virtual clock (`replay(..., admission=KueueAdmission(...))`):

- a job's first pod arriving adds its Workload to the `QueueManager` (its pods are held);
- after the events of each instant, admission cycles (`dralloc.queueing.schedule`) run until
  one admits and preempts nothing (a cycle admits at most one head per ClusterQueue);
  preemptions are carried out with `evict` (quota released, the Workload requeued with its
  place in line) and the victim's pods are evicted from the cluster; they run again from the
  start when re-admitted;
- an admitted job's pods enter the scheduler's queue (the same profile, gangs all or nothing)
  or, with placement-aware admission, the `PlacementCheck` places them at once with
  `place_gang` on the replay's cache and only a job that can be placed now is admitted (the
  idea of `controllers/queueplacement.SchedulerPlacement`, whose pods come from Jobs; here
  they are the replay's own pods, which the engine makes and binds); that check is also a
  `queueing.PreemptionPlacement`, so a preemptor takes a victim set only if its pods could
  be placed once the victims' are gone (`AdmissionCluster.placeable_without`, a what-if on
  the engine's cache that puts everything back; in the TAS domains with `+tas`);
  `placement_preemption=False` is Kueue's quota-only choice, for comparison;
- when every pod of an admitted job has completed, its quota is released
  (`state.release`, `manager.on_quota_released`);
- when a node leaves (the replay's node events), each admitted job with a pod there is
  evicted as Kueue evicts a Workload whose nodes failed (Evicted and Requeued, reason
  NodeFailures; quota released; queued again in its place): all its pods stop and run again
  from the start once it is admitted again (`JobRecord.node_evictions`).

**Topology (`+tas`, Kueue's Topology-Aware Scheduling).** The replay's nodes sit in racks and
blocks (`sim.batch_objects.TopologyLayout`, from the job trace's `rack_hosts`,
`block_racks` and `topology` keys: racks of 4 hosts, blocks of 4 racks by default), and every
run counts the racks each gang's pods ran in (`racks_spanned`, `QueueStats.cross_rack_jobs`),
so runs with and without TAS compare. With `+tas` the objects gain a Topology (levels block,
rack, hostname), the flavor names it, and each gang's pod template asks for one rack
(`kueue.x-k8s.io/podset-preferred-topology`, or `-required-` for a gang that fits one rack
with `topology=required`); single pods are placed implicitly (every flavor is a TAS flavor).
`dralloc.queueing.TopologyPlacement` sees the replay's Nodes with those labels and their GPUs
as devices (quota is then in `devices.dralloc.io/gpu.nvidia.com`, which TAS counts per
domain), gives each admitted Workload its `topologyAssignment`, and takes it back when the
job finishes or is evicted; a node leaving rebuilds its domains. The admitted pods go to the
scheduler with their domain's nodeSelector (Kueue's TopologyUngater, by completion index)
through the engine's `AdmissionCluster.release_onto` / `place_onto`, so they run only
there (the scheduler's NodeAffinity filters on it); with `+placement` TAS decides first and
the scheduler-backed check places the pods inside their domains. A Fit that TAS refuses
only for fragmentation turns Preempt, as in Kueue (`PreemptionPlacement.fragmented_pod_sets`),
and victims are taken only if the domains (and, with `+placement`, the scheduler in them)
then hold the job.

An instant at which nothing admission reads has changed since admission last ended quiet (no
Workload arrived, no pod stopped, and, for placement-aware admission, no pod started) would
decide nothing: its cycles are skipped (`skip_quiet_instants`, on; a test compares runs with
it off). Same-shaped jobs of a tenant share one nomination while no quota moved
(`share_nominations`, on: `dralloc.queueing.Nominations`; a test compares runs with it off).
With `+placement`, the engine's refusals and what-if answers are remembered for alike jobs
while the cluster holds still (`remember_placements`, on: `sim.placement_memo`; not for a
policy that draws nodes at random), and the check is an `AlikePlacement`, so nominations
that asked it are shared too; tests/sim/test_queue_replay_memo.py compares runs with it
off. A refused placement and a what-if are admission's questions, not scheduling cycles:
they leave the scheduler's rotating start index where they found it (`Framework.what_if`),
so a question the memo answers decides nothing later, in a cluster of any size.

Figures, per job: waiting = arrival -> every pod running (the first time); `stuck`: admitted
but not all its pods running once the scheduler's queue was drained at the admission instant
(admitted, then unschedulable). Jain's index: over windows (`JAIN_WINDOWS` equal slices of the
run), each tenant's GPU-seconds served in the window divided by its entitlement there,
min(its quota share of the capacity, its demand: GPU-seconds its jobs would use if each started
on arrival); tenants with no entitlement in a window are left out; the figure is the mean over
windows with any tenant in, (sum x)^2 / (n sum x^2), 1 when every tenant gets the same share
of what it is entitled to.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Hashable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from dralloc.api.io import ReadNotes, decode_object
from dralloc.devices import SliceBuilder, driver_device_classes
from dralloc.errors import InputError, Problem
from dralloc.queueing import (
    Assignment,
    ClassicalPreemptor,
    DeviceClassMapping,
    DraQuotaConfig,
    FairSharingPreemptor,
    QueueConfig,
    QueueInput,
    QueueManager,
    QueueState,
    Snapshot,
    Workload,
    check,
    decode_documents,
    evict,
    schedule,
)
from dralloc.queueing.cycle import Nominations, PlacementCheck, evict_for_node_failure
from dralloc.queueing.dra import DEVICES_PREFIX
from dralloc.queueing.queues import QueuedWorkload
from dralloc.queueing.tasplacement import TopologyPlacement, pod_set_node_selectors
from dralloc.queueing.topology import pod_node_selectors
from dralloc.scheduler.framework import Framework
from dralloc.sim.batch_objects import (
    RACK_LABEL,
    BatchObjectOptions,
    TopologyLayout,
    batch_objects,
    tenant_names,
)
from dralloc.sim.job_replay import job_replay, job_replay_options
from dralloc.sim.openb_objects import NAMESPACE as POD_NAMESPACE
from dralloc.sim.openb_objects import cluster_objects
from dralloc.sim.placement_memo import PlacementMemo
from dralloc.sim.replay import AdmissionCluster, percentile
from dralloc.sim.replay.cluster import ReplayCluster
from dralloc.sim.traces import ReplayTrace
from dralloc.sim.traces.jobs import BatchJob, JobTrace

__all__ = [
    "JAIN_WINDOWS",
    "NO_QUEUES",
    "QUEUE_POLICIES",
    "JobRecord",
    "KueueAdmission",
    "QueuePolicy",
    "QueueStats",
    "jain_index",
    "parse_queue_policies",
    "queue_policy",
]

NO_QUEUES = "none"
COHORT = "tenants"
JAIN_WINDOWS = 20
PLACEMENT_SUFFIX = "+placement"
TAS_SUFFIX = "+tas"
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
_GROUP = "kueue.x-k8s.io"


@dataclass(frozen=True)
class QueuePolicy:
    """One way of queueing: the ClusterQueues' `strategy`, Kueue's fair sharing (tournament
    order and `FairSharingPreemptor`), placement-aware admission, and Kueue's
    Topology-Aware Scheduling (`topology`: module docstring)."""

    name: str
    strategy: str = "BestEffortFIFO"
    fair_sharing: bool = False
    placement: bool = False
    topology: bool = False


QUEUE_POLICIES: Mapping[str, QueuePolicy] = {
    "strictfifo": QueuePolicy("strictfifo", "StrictFIFO"),
    "besteffortfifo": QueuePolicy("besteffortfifo", "BestEffortFIFO"),
    "fair": QueuePolicy("fair", "BestEffortFIFO", fair_sharing=True),
}


def queue_policy(name: str) -> QueuePolicy | None:
    """`strictfifo`, `besteffortfifo`, `fair`, each optionally with `+placement` and
    `+tas` (in either order, each once); None for `none` (no queues). ValueError for
    anything else."""
    if name == NO_QUEUES:
        return None
    base, *suffixes = name.split("+")
    options = [f"+{s}" for s in suffixes]
    policy = QUEUE_POLICIES.get(base)
    if (
        policy is None
        or len(set(options)) < len(options)
        or not set(options)
        <= {
            PLACEMENT_SUFFIX,
            TAS_SUFFIX,
        }
    ):
        known = ", ".join([NO_QUEUES, *QUEUE_POLICIES])
        raise ValueError(
            f"unknown queue policy {name!r} (known: {known}; each may add "
            f"{PLACEMENT_SUFFIX} and {TAS_SUFFIX}, e.g. fair{PLACEMENT_SUFFIX}{TAS_SUFFIX})"
        )
    return dataclasses.replace(
        policy,
        name=name,
        placement=PLACEMENT_SUFFIX in options,
        topology=TAS_SUFFIX in options,
    )


def parse_queue_policies(text: str) -> list[str]:
    """A comma-separated list of queue policy names, checked; ValueError naming a bad one."""
    names = [p.strip() for p in text.split(",") if p.strip()]
    if not names:
        raise ValueError("no queue policy given")
    for name in names:
        queue_policy(name)
    return list(dict.fromkeys(names))


@dataclass
class JobRecord:
    """One job's life in the queues (times in seconds on the trace's clock)."""

    key: str  # the Workload's namespace/name
    cluster_queue: str
    indices: tuple[int, ...]
    gpus: int
    arrival: float
    duration: float | None
    arrived: int = 0
    admitted_at: float | None = None
    running_at: float | None = None  # every pod running, the first time
    finished_at: float | None = None
    admitted: bool = False  # holds quota now
    running: int = 0
    completed: int = 0
    evictions: int = 0  # preempted
    node_evictions: int = 0  # evicted because a node it ran on left
    stuck: bool = False
    admitted_now: bool = False  # admitted in the current instant


@dataclass(frozen=True)
class QueueStats:
    """One ClusterQueue's figures in one run: jobs, how many were admitted, finished, still
    pending at the end; waiting (arrival -> all pods running) mean, median and p95 in
    seconds; GPU-hours served; evictions (preemptions); jobs admitted but stuck. `pending`:
    arrived, not finished and not every pod running at the end."""

    queue: str
    nominal_gpus: int
    jobs: int
    admitted: int
    finished: int
    pending: int
    wait_mean: float | None
    wait_p50: float | None
    wait_p95: float | None
    gpu_hours: float
    evictions: int
    stuck: int
    waits: tuple[float, ...] = ()
    # Jobs of more than one pod that started, and those whose pods ran in more than one
    # rack (where each pod last ran; `TopologyLayout` racks): zero without node placements.
    gangs_started: int = 0
    cross_rack_jobs: int = 0


def jain_index(values: Sequence[float]) -> float | None:
    """(sum x)^2 / (n sum x^2); None for no values, 1 for all zero."""
    if not values:
        return None
    square = sum(v * v for v in values)
    return 1.0 if square == 0 else sum(values) ** 2 / (len(values) * square)


def _selectors(assignment: Assignment) -> list[dict[str, str]]:
    """The nodeSelector of each pod of the (single) pod set, from its topology assignment."""
    raw = assignment.pod_sets[0].topology_assignment if assignment.pod_sets else None
    return pod_node_selectors(raw) if raw else []


@dataclass
class _Placement:
    """The `PlacementCheck`: a Fit assignment is admitted only if the engine can place every
    pod of the job now (`AdmissionCluster.place`, bound on success), each in its topology
    domain when TAS gave it one. Refusals and what-if answers are remembered per cluster
    generation for alike jobs (`placement_memo`), when the admission keeps a memo."""

    admission: KueueAdmission
    cluster: AdmissionCluster | None = None
    # Per job key: its signature for the memo (`_signature`) and its pods' keys.
    _signatures: dict[str, Hashable] = field(default_factory=dict)
    _pod_keys: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def check(
        self, snapshot: Snapshot, entry: QueuedWorkload, assignment: Assignment
    ) -> str | None:
        assert self.cluster is not None
        job = self.admission.jobs[entry.key]
        group = entry.key.partition("/")[2]
        selectors = _selectors(assignment)
        memo = self._memo()
        question = ("place", self._signature(entry.key), _frozen(selectors))
        if memo is not None:
            known, answer = memo.recall(question, self._pod_keys[entry.key])
            if known:
                return answer
        framework = self._framework()
        start = framework.next_start_node_index if framework is not None else 0
        if selectors:
            answer = self.cluster.place_onto(group, job.indices, selectors)
        else:
            answer = self.cluster.place(group, job.indices)
        if answer is not None and framework is not None:
            # A refused placement is admission's check, not a scheduling cycle: the start
            # index rotates only when pods are placed (`Framework.what_if`), so a refusal
            # the memo skips decides nothing later.
            framework.next_start_node_index = start
        if memo is not None:
            if answer is None:
                memo.moved()  # bound: the cluster changed
            else:
                memo.keep(question, self._pod_keys[entry.key], answer, self._names(entry.key))
        return answer

    def placeable_without(
        self,
        snapshot: Snapshot,
        entry: QueuedWorkload,
        assignment: Assignment,
        victims: Sequence[str],
    ) -> str | None:
        """`PreemptionPlacement`: could the job be placed, in the domains TAS would give it
        (with `+tas` the chained check passes them in `assignment`), were the admitted jobs
        `victims` gone? The engine's what-if, which changes nothing."""
        assert self.cluster is not None
        job = self.admission.jobs[entry.key]
        selector_list = _selectors(assignment)
        memo = self._memo()
        question = (
            "without",
            self._signature(entry.key),
            _frozen(selector_list),
            tuple(victims),
        )
        if memo is not None:
            known, answer = memo.recall(question, self._pod_keys[entry.key])
            if known:
                return answer
        gone = [i for key in victims for i in self.admission.jobs[key].indices]
        group = entry.key.partition("/")[2]
        framework = self._framework()
        with framework.what_if() if framework is not None else nullcontext():
            answer = self.cluster.placeable_without(group, job.indices, gone, selector_list or None)
        if memo is not None:
            memo.keep(question, self._pod_keys[entry.key], answer, self._names(entry.key))
        return answer

    def _memo(self) -> PlacementMemo | None:
        """The admission's memo where a remembered answer is the one a question asked again
        gives (`sim.placement_memo`): on the engine's cluster, whose profile scores each node
        on its own (every PreScore and Score plugin node-local). A plugin that draws a node
        per cycle (Random) would draw differently later had a question been skipped: no
        memo then."""
        memo = self.admission.placement_memo
        framework = self._framework()
        if memo is None or framework is None:
            return None
        profile, traits = framework.profile, framework.traits
        plugins = [*profile.pre_score, *(plugin for plugin, _ in profile.score)]
        return memo if all(traits.is_node_local(plugin) for plugin in plugins) else None

    def _framework(self) -> Framework | None:
        """The framework whose cycles place the engine's pods (the replay's `ReplayCluster`
        runs them on its profile's; another cluster keeps its own)."""
        cluster = self.cluster
        return cluster.framework if isinstance(cluster, ReplayCluster) else None

    def fragmented_pod_sets(self, entry: QueuedWorkload) -> Sequence[str]:
        """`PreemptionPlacement`: never (a refused placement is not TAS fragmentation)."""
        return ()

    def answer_class(self, entry: QueuedWorkload) -> Hashable | None:
        """`AlikePlacement`: alike jobs (`_signature`) are answered alike while the cluster
        generation holds (`sim.placement_memo`); None without a memo (no promise)."""
        memo = self._memo()
        return None if memo is None else (memo.generation, self._signature(entry.key))

    def _signature(self, key: str) -> Hashable:
        """What the engine's pods of job `key` differ in besides their names, in rank order
        (`placement_memo`): each pod's requests and GPU models. Remembered with the pods'
        keys as the engine names them."""
        found = self._signatures.get(key)
        if found is None:
            replayed = self.admission.replayed
            assert replayed is not None
            pods = [replayed.pods[i].pod for i in self.admission.jobs[key].indices]
            found = tuple(
                (p.cpu_milli, p.memory_mib, p.num_gpu, p.gpu_milli, tuple(sorted(p.gpu_spec)))
                for p in pods
            )
            self._signatures[key] = found
            self._pod_keys[key] = tuple(f"{POD_NAMESPACE}/{p.name}" for p in pods)
        return found

    def _names(self, key: str) -> tuple[str, ...]:
        """The names a refusal of job `key` could call it by besides its pods': its
        Workload and its pod group (the job's name)."""
        job_name = self._pod_keys[key][0].partition("/")[2].rpartition("-")[0]
        return (key.partition("/")[2], job_name)


def _frozen(selectors: Sequence[Mapping[str, str]]) -> tuple[tuple[tuple[str, str], ...], ...]:
    return tuple(tuple(sorted(s.items())) for s in selectors)


@dataclass
class KueueAdmission:
    """Kueue's admission in front of the replay (module docstring). `trace` is the job trace
    `pod_names` came from (`job_replay`: `<job>-<i>` in job order).

        admission = KueueAdmission(trace, queue_policy("besteffortfifo"))
        result = replay(replayed, "fgd", 1, gangs=gangs, admission=admission)
        admission.queue_stats(result.end_time)
    """

    trace: JobTrace
    policy: QueuePolicy | None  # None: no queues, every pod straight to the scheduler
    # The replay's cluster (`job_replay(trace, ...)[0]`) and its topology layout; None: made
    # from the trace's own `--trace` keys (`job_replay_options`). Racks are counted with or
    # without `+tas`; the nodes feed TAS with it.
    replayed: ReplayTrace | None = None
    layout: TopologyLayout | None = None
    jobs: dict[str, JobRecord] = field(default_factory=dict)
    log: list[tuple[float, str, str, str, int]] = field(default_factory=list)
    preemptions: int = 0
    cycles: int = 0
    # Skip the admission at an instant when nothing admission reads changed since it last
    # ended quiet (a speed-up; off only to check that it changes nothing).
    skip_quiet_instants: bool = True
    # Equivalent heads share one nomination per quota generation (`queueing.Nominations`;
    # a speed-up, off only to check that it changes nothing).
    share_nominations: bool = True
    # Kueue's gate SchedulingEquivalenceHashing (off, Kueue v0.17's default): BestEffortFIFO
    # parks a job's equivalents with it (`QueueManager(equivalence_hashing=...)`). Changes
    # outcomes, as the gate does in Kueue.
    equivalence_hashing: bool = False
    # Preemption that knows placement (`schedule(..., placement_preemption=...)`): with
    # `+placement` or `+tas` a victim set is taken only if the preemptor could then be
    # placed. Off: Kueue's quota-only choice (changes outcomes; for comparison).
    placement_preemption: bool = True
    # Remember the placement checks' refusals and what-if answers per cluster generation
    # for alike jobs (`sim.placement_memo`; a speed-up, off only to check that it changes
    # nothing).
    remember_placements: bool = True

    def __post_init__(self) -> None:
        if not self.trace.tenants:
            raise InputError(
                [
                    Problem(
                        "", f"--trace {self.trace.workload}", "queues", "the trace has no tenants"
                    )
                ]
            )
        if self.replayed is None or self.layout is None:
            replay_options = job_replay_options(self.trace.workload)
            if self.replayed is None:
                self.replayed = job_replay(self.trace, replay_options)[0]
            if self.layout is None:
                self.layout = replay_options.topology
        node_labels = self.layout.node_labels([n.name for n in self.replayed.nodes])
        self.rack_of = {name: labels[RACK_LABEL] for name, labels in node_labels.items()}
        topology = self.policy is not None and self.policy.topology
        options = BatchObjectOptions(cohort=COHORT, topology=self.layout if topology else None)
        if topology:
            # TAS counts a domain's GPUs from its ResourceSlices under dralloc's device key
            # (`dralloc.queueing.tas`); the nodes have no `nvidia.com/gpu` for a mapped quota
            # to be placed against, so the quota is in that key too (one device = one GPU).
            options = dataclasses.replace(
                options, quota_resource=DEVICES_PREFIX + options.device_class
            )
        names = tenant_names(self.trace.tenants)
        self.nominal = {t.name: t.gpu_quota for t in self.trace.tenants}
        self.queue_of = {ns: tenant for tenant, ns in names.items()}
        self.served: dict[str, list[tuple[float, float, int]]] = {}
        self.started_at: dict[int, float] = {}
        self.gpus_of: list[int] = []
        self.owner: list[str] = []
        self.evicting: set[str] = set()
        self.just_admitted: list[JobRecord] = []  # in the current instant
        # Whether anything admission reads changed since the last admission ended quiet: a
        # Workload arrived, a pod stopped (quota released, the cache freed), or (placement-
        # aware admission reads the cache) a pod started.
        self.changed = True
        self.placement: PlacementCheck | None = None
        self.scheduler_check: _Placement | None = None
        self.placement_memo = PlacementMemo() if self.remember_placements else None
        self.topology: TopologyPlacement | None = None
        for job in self.trace.jobs:
            self.gpus_of += [job.gpus_per_worker] * job.workers
        if self.policy is None:
            # No queues: only the figures, each job known by its namespace/name.
            for job in self.trace.jobs:
                self._record(f"{names[job.tenant]}/{job.name}", names[job.tenant], job)
            return
        inp = _queue_input(batch_objects(self.trace, options), self.policy)
        made = inp.add_job_workloads()
        # Kueue names a Job's Workload `job-<name>-<hash>`; the owner reference says whose.
        workload_of = {
            (w.metadata.namespace, ref.name): f"{w.metadata.namespace}/{w.metadata.name}"
            for w in made
            for ref in w.metadata.owner_references[:1]
        }
        mappings = (
            ()
            if topology
            else (DeviceClassMapping(options.quota_resource, (options.device_class,)),)
        )
        self.state = QueueState.build(inp, dra_config=DraQuotaConfig(mappings=mappings))
        check(self.state)
        self.manager = QueueManager(self.state, equivalence_hashing=self.equivalence_hashing)
        self.workloads = inp.workloads
        for job in self.trace.jobs:
            key = workload_of[(names[job.tenant], job.name)]
            self._record(key, names[job.tenant], job)
            stamp = _EPOCH + timedelta(seconds=job.arrival)
            self.workloads[key].metadata.creation_timestamp = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
        self.config = QueueConfig(fair_sharing=self.policy.fair_sharing)
        self.preemptor = (
            FairSharingPreemptor() if self.policy.fair_sharing else ClassicalPreemptor()
        )
        if self.policy.placement:
            self.scheduler_check = _Placement(self)
        # Only TAS reads the nodes and their devices; quota is charged without them (each
        # Workload's charges would otherwise evaluate the DeviceClass over every device).
        self.inputs = self._with_nodes(inp, node_labels) if topology else inp
        if topology:
            self.topology = TopologyPlacement.from_input(self.inputs)
        self.placement = _chain(self.topology, self.scheduler_check)
        self.nominations = Nominations() if self.share_nominations else None

    def _with_nodes(self, inp: QueueInput, labels: Mapping[str, Mapping[str, str]]) -> QueueInput:
        """The replay's Nodes (`openb_objects.cluster_objects`, as the engine's cache holds
        them) with their topology labels, their GPUs' ResourceSlices and the DeviceClasses:
        the capacity TAS places pod sets in. The engine publishes each GPU as a shareable
        device (the FGD experiment's fractional GPUs, consumable `cores`); the jobs ask for
        whole GPUs, so here each is one whole device, which TAS counts per domain (it has no
        per-domain count of consumable capacity)."""
        assert self.replayed is not None
        builder = SliceBuilder()
        nodes, slices = list(inp.nodes), list(inp.slices)
        # A node that joins later is not in the cluster at the start; the admission hears
        # of no join, so TAS never counts it (conservative: it never sends pods there).
        later = self.replayed.nodes_added_later()
        present = [n for n in self.replayed.nodes if n.name not in later]
        for trace_node, made in zip(
            present, cluster_objects(present, self.replayed.models), strict=True
        ):
            node = made.node
            node.metadata.labels = {**node.metadata.labels, **labels[node.metadata.name]}
            nodes.append(node)
            if made.model is not None:
                slices += builder.node_slices(node.metadata.name, made.model, trace_node.gpus)
        classes = {c.metadata.name: c for c in driver_device_classes()}
        return dataclasses.replace(
            inp, nodes=nodes, slices=slices, device_classes={**classes, **inp.device_classes}
        )

    def _record(self, key: str, queue: str, job: BatchJob) -> None:
        start = len(self.owner)
        self.owner += [key] * job.workers
        self.jobs[key] = JobRecord(
            key,
            queue,
            tuple(range(start, len(self.owner))),
            job.workers * job.gpus_per_worker,
            job.arrival,
            job.duration,
        )

    # ------------------------------------------------------------------ ReplayAdmission

    def holds(self, index: int) -> bool:
        return self.policy is not None and index < len(self.owner)

    def arrived(self, index: int, now: float) -> None:
        job = self.jobs[self.owner[index]]
        self.changed = True
        job.arrived += 1
        if job.arrived == 1:
            self.manager.add(self.workloads[job.key])

    def admit(self, now: float, cluster: AdmissionCluster) -> None:
        if self.policy is None or (self.skip_quiet_instants and not self.changed):
            return
        if self.scheduler_check is not None:
            self.scheduler_check.cluster = cluster
        # The engine ran events since the last admission (completions, nodes joining).
        self._cluster_changed()
        when = _EPOCH + timedelta(seconds=now)
        # Every cycle that admits or preempts may let another one do more. One that does
        # neither may still have parked its heads (BestEffortFIFO), so the next pops others;
        # when a quiet cycle leaves every head where the one before left it (StrictFIFO's
        # blocked head) or pops none, the next would decide the same. A Workload preempted
        # twice in one instant is a loop (victims re-admitted while the preemptor still cannot
        # be placed): the instant ends there, and the next event decides again.
        preempted: set[str] = set()
        previous: dict[str, str] | None = None
        # A bound against a cycle of decisions (as `dralloc queue` has): each cycle admits,
        # preempts or parks a head.
        budget = 4 * len(self.manager.workloads) + 8
        while budget > 0:
            budget -= 1
            self.cycles += 1
            result = schedule(
                self.state,
                self.manager,
                when,
                config=self.config,
                preemptor=self.preemptor,
                reserved_at=now,
                placement=self.placement,
                nominations=self.nominations,
                placement_preemption=self.placement_preemption,
            )
            for key in result.admitted:
                job = self.jobs[key]
                job.admitted = True
                job.admitted_now = True
                self.just_admitted.append(job)
                if job.admitted_at is None:
                    job.admitted_at = now
                self.log.append((now, "admit", key, job.cluster_queue, job.gpus))
                if self.scheduler_check is None:
                    self._release(key, job, cluster)
            for victim, by, reason in result.preemptions:
                job = self.jobs[victim]
                if not job.admitted:
                    continue
                self.preemptions += 1
                job.evictions += 1
                evict(self.state, self.manager, self.workloads[victim], by, reason, when)
                self._forget_domains(victim)
                job.admitted = False
                job.admitted_now = False
                self.log.append((now, "evict", victim, job.cluster_queue, job.gpus))
                self.evicting.add(victim)
                cluster.evict(job.indices)
                self._cluster_changed()
                self.evicting.discard(victim)
                job.running = 0
                job.completed = 0
            if not result.admitted and not result.preemptions:
                waiting = {k: f"{e.reason}: {e.message}" for k, e in result.pending.items()}
                if not result.order or waiting == previous:
                    self.changed = False
                    return
                previous = waiting
                continue
            previous = None
            again = {victim for victim, _, _ in result.preemptions}
            if again & preempted:
                return
            preempted |= again

    def node_removed(
        self, node: str, indices: Sequence[int], now: float, cluster: AdmissionCluster
    ) -> None:
        """Every admitted job with a pod on `node` is evicted as Kueue evicts a Workload
        whose node failed (`evict_for_node_failure`: Evicted and Requeued with reason
        NodeFailures, quota released, queued again in its place): all its pods stop, and
        run again from the start once it is admitted again."""
        if self.policy is None:
            return
        keys = sorted({self.owner[i] for i in indices if i < len(self.owner)})
        when = _EPOCH + timedelta(seconds=now)
        for key in keys:
            job = self.jobs[key]
            if not job.admitted:
                continue
            evict_for_node_failure(self.state, self.manager, self.workloads[key], [node], when)
            self._forget_domains(key)
            job.admitted = False
            job.admitted_now = False
            job.node_evictions += 1
            self.log.append((now, "evict", key, job.cluster_queue, job.gpus))
            self.evicting.add(key)
            cluster.evict(job.indices)
            self._cluster_changed()
            self.evicting.discard(key)
            job.running = 0
            job.completed = 0
            self.changed = True
        if self.topology is not None:
            self._without_node(node)

    def _cluster_changed(self) -> None:
        """The engine's cache may have changed: remembered placement answers are dropped."""
        if self.placement_memo is not None:
            self.placement_memo.moved()

    def _release(self, key: str, job: JobRecord, cluster: AdmissionCluster) -> None:
        """An admitted job's pods into the scheduling queue; with TAS each gets its domain's
        nodeSelector (Kueue's TopologyUngater: pod `i` of the Indexed Job takes slot `i`)."""
        selectors = pod_set_selectors(self.workloads[key])
        if selectors:
            cluster.release_onto(job.indices, selectors)
        else:
            cluster.release(job.indices)

    def _forget_domains(self, key: str) -> None:
        if self.topology is not None:
            self.topology.forget(key)

    def _without_node(self, node: str) -> None:
        """A node left: TAS's domains are built again without it (Kueue's TAS cache drops a
        deleted Node), the admitted Workloads' assignments charged back."""
        assert self.topology is not None
        self.inputs.nodes = [n for n in self.inputs.nodes if n.metadata.name != node]
        self.topology = TopologyPlacement.from_input(self.inputs)
        admitted = [self.workloads[k] for k, j in self.jobs.items() if j.admitted]
        self.topology.add_admitted(self.state, admitted)
        self.placement = _chain(self.topology, self.scheduler_check)

    def started(self, index: int, now: float) -> None:
        job = self.jobs.get(self.owner[index]) if index < len(self.owner) else None
        self.started_at[index] = now
        self._cluster_changed()
        if self.scheduler_check is not None:
            self.changed = True
        if job is None:
            return
        job.running += 1
        if self.policy is None:
            job.arrived = len(job.indices)
            job.admitted_at = job.arrival
        if job.running == len(job.indices) and job.running_at is None:
            job.running_at = now

    def stopped(self, index: int, now: float) -> None:
        start = self.started_at.pop(index, None)
        self.changed = True
        self._cluster_changed()
        if index >= len(self.owner):
            return
        job = self.jobs[self.owner[index]]
        if start is not None:
            self.served.setdefault(job.cluster_queue, []).append((start, now, self.gpus_of[index]))
        if job.key in self.evicting:
            return
        job.running -= 1
        job.completed += 1
        if self.policy is None and job.completed == len(job.indices):
            job.finished_at = now
        if job.completed == len(job.indices) and job.admitted:
            job.admitted = False
            job.finished_at = now
            released = self.state.release(job.key)
            self._forget_domains(job.key)
            self.log.append((now, "release", job.key, job.cluster_queue, job.gpus))
            self.manager.remove(job.key)
            if released is not None:
                self.manager.on_quota_released(released.cluster_queue)

    def drained(self, now: float) -> None:
        admitted, self.just_admitted = self.just_admitted, []
        for job in admitted:
            if job.admitted_now:
                job.admitted_now = False
                if job.running < len(job.indices):
                    job.stuck = True

    # ------------------------------------------------------------------------ figures

    def queue_stats(self, end: float, placed_on: Sequence[str | None] = ()) -> list[QueueStats]:
        """Per ClusterQueue (tenant namespace order), at the end of the run `end`;
        `placed_on`: where each trace pod last ran (`ReplayResult.pods[i].node`), for the
        racks a job's pods spanned (none given: no rack figures)."""
        served = self._served_until(end)
        racks = self.racks_spanned(placed_on)
        out = []
        for queue in sorted({j.cluster_queue for j in self.jobs.values()} | set(self.queue_of)):
            jobs = [j for j in self.jobs.values() if j.cluster_queue == queue]
            waits = sorted(j.running_at - j.arrival for j in jobs if j.running_at is not None)
            out.append(
                QueueStats(
                    queue=queue,
                    nominal_gpus=self.nominal.get(self.queue_of.get(queue, ""), 0),
                    jobs=len(jobs),
                    admitted=sum(1 for j in jobs if j.admitted_at is not None),
                    finished=sum(1 for j in jobs if j.finished_at is not None),
                    pending=sum(
                        1
                        for j in jobs
                        if j.arrival <= end and j.finished_at is None and j.running < len(j.indices)
                    ),
                    wait_mean=statistics.fmean(waits) if waits else None,
                    wait_p50=percentile(waits, 50) if waits else None,
                    wait_p95=percentile(waits, 95) if waits else None,
                    gpu_hours=sum((b - a) * g for a, b, g in served.get(queue, [])) / 3600,
                    evictions=sum(j.evictions for j in jobs),
                    stuck=sum(1 for j in jobs if j.stuck),
                    waits=tuple(waits),
                    gangs_started=sum(1 for j in jobs if racks.get(j.key, 0) >= 1),
                    cross_rack_jobs=sum(1 for j in jobs if racks.get(j.key, 0) > 1),
                )
            )
        return out

    def racks_spanned(self, placed_on: Sequence[str | None]) -> dict[str, int]:
        """Per job of more than one pod that ran: how many racks its pods (where each last
        ran, `placed_on` by trace pod index) were in."""
        out = {}
        for key, job in self.jobs.items():
            if len(job.indices) < 2 or not placed_on:
                continue
            racks = {self.rack_of.get(n, n) for i in job.indices if (n := placed_on[i])}
            if racks:
                out[key] = len(racks)
        return out

    def _served_until(self, end: float) -> dict[str, list[tuple[float, float, int]]]:
        served = {q: list(v) for q, v in self.served.items()}
        for index, start in self.started_at.items():
            job = self.jobs[self.owner[index]]
            served.setdefault(job.cluster_queue, []).append((start, end, self.gpus_of[index]))
        return served

    def jain(self, start: float, end: float, capacity_gpus: int) -> float | None:
        """Jain's index over tenants (module docstring), from `start` to `end`."""
        if end <= start or not self.nominal:
            return None
        served = self._served_until(end)
        demand: dict[str, list[tuple[float, float, int]]] = {}
        for job in self.jobs.values():
            stop = end if job.duration is None else job.arrival + job.duration
            demand.setdefault(job.cluster_queue, []).append((job.arrival, stop, job.gpus))
        total_quota = sum(self.nominal.values())
        width = (end - start) / JAIN_WINDOWS
        names = tenant_names(self.trace.tenants)
        indices = []
        for w in range(JAIN_WINDOWS):
            low, high = start + w * width, start + (w + 1) * width
            shares = []
            for tenant, quota in self.nominal.items():
                queue = names[tenant]
                share = quota / total_quota * capacity_gpus * width
                wanted = _overlap(demand.get(queue, []), low, high)
                entitled = min(share, wanted)
                if entitled <= 0:
                    continue
                shares.append(_overlap(served.get(queue, []), low, high) / entitled)
            index = jain_index(shares)
            if index is not None:
                indices.append(index)
        return statistics.fmean(indices) if indices else None


def pod_set_selectors(workload: Workload) -> list[dict[str, str]]:
    """The nodeSelector of each pod of an admitted Workload's (single) pod set, in rank
    order, from its topology assignment; empty without one."""
    found = pod_set_node_selectors(workload)
    return next(iter(found.values()), [])


def _chain(
    topology: TopologyPlacement | None, scheduler: _Placement | None
) -> PlacementCheck | None:
    """TAS first (it gives the domains), then the scheduler-backed check in them."""
    if topology is None:
        return scheduler
    return topology if scheduler is None else topology.then(scheduler)


def _overlap(intervals: Sequence[tuple[float, float, int]], low: float, high: float) -> float:
    return sum(max(0.0, min(b, high) - max(a, low)) * g for a, b, g in intervals)


def _queue_input(documents: Sequence[dict[str, Any]], policy: QueuePolicy) -> QueueInput:
    """`batch_objects`' documents as admission reads them, the ClusterQueues given the
    policy's strategy and preemption."""
    inp = QueueInput()
    notes = ReadNotes()
    problems: list[Problem] = []
    kueue: list[tuple[str, int, dict[str, Any]]] = []
    for index, raw in enumerate(documents):
        if raw["apiVersion"].rpartition("/")[0] == _GROUP:
            if raw["kind"] == "ClusterQueue":
                raw = {**raw, "spec": {**raw["spec"], **_cluster_queue_fields(policy)}}
            kueue.append(("trace", index, raw))
            continue
        loaded, found = decode_object(raw, "trace", index, notes=notes)
        problems += found
        if loaded is not None:
            inp.add_kube(loaded)
    _, found = decode_documents(kueue, inp)
    problems += found
    inp.namespace_labels.update(notes.namespace_labels)
    if problems:
        raise InputError(problems)
    return inp


def _cluster_queue_fields(policy: QueuePolicy) -> dict[str, Any]:
    return {
        "queueingStrategy": policy.strategy,
        "preemption": {"reclaimWithinCohort": "Any", "withinClusterQueue": "LowerPriority"},
    }
