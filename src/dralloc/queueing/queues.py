"""Pending Workloads per ClusterQueue: the heaps, the inadmissible sets, and heads
(spec/queueing.md 2.1 and 2.2).

Owns: `QueueManager`, which alone mutates the queues. `add` places a Workload through its
LocalQueue; `heads` pops one Workload per active ClusterQueue; `requeue` puts a head back as
its queue's strategy says; `on_quota_released` is the requeue event that brings inadmissible
Workloads of a cohort tree back. Pure computation, no I/O.

Heap order, first key wins: the sticky preemptor; higher effective priority; earlier
queue-order timestamp (`creationTimestamp`); then dralloc's deterministic last key, the
Workload's `namespace/name` (Kueue uses the UID).

Requeue after a failed attempt:

* StrictFIFO: back into the heap for every reason except `NamespaceMismatch`, so the head keeps
  blocking the Workloads behind it (a higher priority one can still overtake it);
* BestEffortFIFO: back into the heap only for `FailedAfterNomination`, `PendingPreemption`,
  `PreemptionFailed`, or when its last assignment has flavors left to try; otherwise into the
  inadmissible set until a requeue event touches its cohort tree.

Kueue's gate SchedulingEquivalenceHashing (beta, off by default in v0.17;
`QueueManager(state, equivalence_hashing=True)`), BestEffortFIFO only: a Workload that goes
into the inadmissible set takes with it every Workload of its queue's heap with the same
scheduling hash (`scheduling_hash`: priority and pod sets, without the namespace), and the hash
is remembered as not fitting, so a Workload of that hash added later goes straight to the
inadmissible set; a requeue event of the queue forgets the hashes. This changes outcomes (the
equivalent Workloads are not tried at the state they would have been tried at): it is Kueue's
behaviour with the gate on, not a dralloc speed-up.

Speed-up (changes no outcome; `QueueManager(state, quick_heads=False)` is the plain path, and
tests/queueing/test_quick_heads.py checks both agree): with `quick_heads`, `heads` takes each
queue's first Workload from a binary heap kept beside the active set (as Kueue's
`ClusterQueue.heap`; with Admission Fair Sharing, whose scores move, one pass with `min`)
instead of sorting the whole queue, and `on_quota_released` walks the released queue's
cohort tree for its ClusterQueues instead of finding every ClusterQueue's root. With 1,000
ClusterQueues and 100,000 pending Workloads these were 12 of 21 seconds of 40 cycles
(docs/performance.md, "Batch: admission and TPU gangs"). The heap holds `(sort key, seq,
entry)` and is lazy: an item whose entry left the active set is dropped when it reaches the
top, and the heap is rebuilt from the active set when stale items outnumber live ones (it
stays within twice the active set plus a constant). Keys are unique, so its top is the
sorted order's first.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import msgspec

from dralloc.api.core import PriorityClass
from dralloc.queueing.afs import AdmissionFairSharing
from dralloc.queueing.fairsharing import dominant_resource_share
from dralloc.queueing.objects import (
    GROUP,
    Condition,
    FairSharingStatus,
    FlavorUsage,
    QueueingStrategy,
    QueueStatus,
    ResourceUsage,
    Workload,
    WorkloadPriorityClass,
)
from dralloc.queueing.quota import FlavorResource, NodeKind, QuotaNode, quantity_of
from dralloc.queueing.requests import WorkloadRequests, workload_requests
from dralloc.queueing.state import QueueState, Reservation, usage_from_admission


def _epoch(stamp: str | None) -> float:
    """An RFC 3339 time as seconds since the epoch (0 when absent or unreadable): when an
    admitted Workload reserved quota, which preemption orders candidates by."""
    if not stamp:
        return 0.0
    try:
        return datetime.fromisoformat(stamp).timestamp()
    except ValueError:
        return 0.0


class RequeueReason(StrEnum):
    generic = ""
    failed_after_nomination = "FailedAfterNomination"
    namespace_mismatch = "NamespaceMismatch"
    pending_preemption = "PendingPreemption"
    preemption_failed = "PreemptionFailed"


_BACK_TO_HEAP = frozenset(
    {
        RequeueReason.failed_after_nomination,
        RequeueReason.pending_preemption,
        RequeueReason.preemption_failed,
    }
)


def effective_priority(
    workload: Workload,
    workload_classes: dict[str, WorkloadPriorityClass],
    pod_classes: dict[str, PriorityClass],
) -> int:
    """`spec.priority`, else the referenced class's value, else the default PriorityClass's
    (globalDefault, lowest value if several), else 0."""
    if workload.spec.priority is not None:
        return workload.spec.priority
    ref = workload.spec.priority_class_ref
    if ref is not None:
        if ref.group == GROUP:
            wpc = workload_classes.get(ref.name)
            if wpc is not None:
                return wpc.value
        else:
            pc = pod_classes.get(ref.name)
            if pc is not None:
                return pc.value
    defaults = [pc.value for pc in pod_classes.values() if pc.global_default]
    return min(defaults) if defaults else 0


@dataclass
class QueuedWorkload:
    """A pending Workload as the queues hold it."""

    key: str
    workload: Workload
    local_queue: str
    cluster_queue: str
    priority: int
    timestamp: str
    requests: WorkloadRequests
    last_tried: list[dict[str, int]] | None = None
    requeue_reason: RequeueReason = RequeueReason.generic
    _shape: bytes | None = field(default=None, init=False, repr=False, compare=False)
    _hash: bytes | None = field(default=None, init=False, repr=False, compare=False)
    # What the admission cycle last wrote as this entry's pending status, and the objects it
    # wrote (`cycle._write_pending`): a write that would change nothing is skipped.
    pending_written: tuple[object, object, object] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def sort_key(self) -> tuple[int, str, str]:
        return (-self.priority, self.timestamp, self.key)

    def scheduling_hash(self) -> bytes:
        """Kueue's scheduling equivalence class (`computeSchedulingHash`): effective priority
        and, per pod set, its name, count, `minCount` and pod spec shape; here the shape is
        what nomination reads of the pod sets (`shape()` without the namespace, which Kueue's
        hash leaves out too). Computed once, as `shape()`."""
        if self._hash is not None:
            return self._hash
        specs = [
            (p.template.spec.node_selector, p.template.spec.affinity, p.template.spec.tolerations)
            for p in self.workload.spec.pod_sets
        ]
        sets = [
            (p.name, p.count, p.min_count, sorted(p.per_pod.items()))
            for p in self.requests.pod_sets
        ]
        self._hash = repr((self.priority, sets, self.requests.errors, specs)).encode()
        return self._hash

    def shape(self) -> bytes:
        """Everything nomination reads of this Workload besides its ClusterQueue, priority,
        queue-order timestamp and flavor progress (`last_tried`): the namespace, each pod
        set's name, count, `minCount` and per-pod requests, the request errors, and the node
        selector, affinity and tolerations flavors are matched against. Two Workloads of one
        shape get the same nomination on the same snapshot (`cycle.Nominations`); Kueue's
        SchedulingEquivalenceHashing hashes a similar shape. Computed once: `requests` and
        the pod sets are fixed for the life of a queued entry (`add` makes a new one)."""
        if self._shape is None:
            specs = [
                (
                    p.template.spec.node_selector,
                    p.template.spec.affinity,
                    p.template.spec.tolerations,
                )
                for p in self.workload.spec.pod_sets
            ]
            sets = [
                (p.name, p.count, p.min_count, sorted(p.per_pod.items()))
                for p in self.requests.pod_sets
            ]
            # A Struct's repr shows every field: equal reprs, equal inputs.
            self._shape = repr(
                (self.workload.metadata.namespace, sets, self.requests.errors, specs)
            ).encode()
        return self._shape

    def has_flavors_left(self) -> bool:
        return self.last_tried is not None and any(
            index != -1 for per_resource in self.last_tried for index in per_resource.values()
        )


@dataclass
class ClusterQueueQueue:
    """One ClusterQueue's pending Workloads."""

    active: dict[str, QueuedWorkload] = field(default_factory=dict)
    inadmissible: dict[str, QueuedWorkload] = field(default_factory=dict)
    sticky_preemptor: str | None = None
    # SchedulingEquivalenceHashing: the hashes of Workloads that went inadmissible since the
    # last requeue event.
    no_fit_hashes: set[bytes] = field(default_factory=set)
    # The lazy heap over `active` (module docstring); `activate` is the only way in.
    _heap: list[tuple[tuple[int, str, str], int, QueuedWorkload]] = field(
        default_factory=list, repr=False, compare=False
    )
    _seq: Iterator[int] = field(default_factory=itertools.count, repr=False, compare=False)

    def activate(self, entry: QueuedWorkload) -> None:
        """Put `entry` in the active set (the heap)."""
        self.active[entry.key] = entry
        heapq.heappush(self._heap, (entry.sort_key(), next(self._seq), entry))
        if len(self._heap) > 2 * len(self.active) + 64:
            self._heap = [(e.sort_key(), next(self._seq), e) for e in self.active.values()]
            heapq.heapify(self._heap)

    def _heap_top(self) -> QueuedWorkload | None:
        heap, active = self._heap, self.active
        while heap:
            entry = heap[0][2]
            if active.get(entry.key) is entry:
                return entry
            heapq.heappop(heap)
        return None

    def ordered(
        self, score: Callable[[QueuedWorkload], float] | None = None
    ) -> list[QueuedWorkload]:
        """The heap in order; `score` is Admission Fair Sharing's LocalQueue usage, when the
        queue uses it (lower first, after the sticky preemptor, before priority)."""

        def key(q: QueuedWorkload) -> tuple[bool, float, int, str, str]:
            usage = score(q) if score is not None else 0.0
            return (q.key != self.sticky_preemptor, usage, *q.sort_key())

        return sorted(self.active.values(), key=key)

    def head(self, score: Callable[[QueuedWorkload], float] | None = None) -> QueuedWorkload | None:
        """`ordered(score)[0]` without sorting: the sticky preemptor if queued, else the least
        key (every key ends with the unique `namespace/name`, so there is no tie)."""
        if not self.active:
            return None
        if score is not None:
            sticky = self.sticky_preemptor
            return min(
                self.active.values(),
                key=lambda q: (q.key != sticky, score(q), *q.sort_key()),
            )
        if self.sticky_preemptor is not None and self.sticky_preemptor in self.active:
            return self.active[self.sticky_preemptor]
        top = self._heap_top()
        assert top is not None, "an active entry reached the queue without activate()"
        return top

    def pending(
        self, score: Callable[[QueuedWorkload], float] | None = None
    ) -> list[QueuedWorkload]:
        return self.ordered(score) + sorted(self.inadmissible.values(), key=QueuedWorkload.sort_key)


@dataclass
class Unqueued:
    """A Workload that reached no ClusterQueue, and why."""

    workload: Workload
    reason: str
    message: str


class QueueManager:
    """The queues of every ClusterQueue, over a `QueueState`.

    >>> from dralloc.queueing.reader import QueueInput
    >>> QueueManager(QueueState.build(QueueInput())).heads()
    []
    """

    def __init__(
        self,
        state: QueueState,
        afs: AdmissionFairSharing | None = None,
        *,
        quick_heads: bool = True,
        equivalence_hashing: bool = False,
    ) -> None:
        self.state = state
        self.afs = afs
        self.quick_heads = quick_heads
        self.equivalence_hashing = equivalence_hashing
        self.queues: dict[str, ClusterQueueQueue] = {
            name: ClusterQueueQueue() for name in state.cluster_queues
        }
        self.unqueued: dict[str, Unqueued] = {}
        self.workloads: dict[str, QueuedWorkload] = {}

    def add(self, workload: Workload) -> QueuedWorkload | None:
        """Queue a pending Workload through its LocalQueue; None (and an `unqueued` note)
        when its LocalQueue or ClusterQueue does not exist or it is inactive."""
        meta = workload.metadata
        key = f"{meta.namespace}/{meta.name}"
        self.remove(key)
        inp = self.state.input
        lq = inp.local_queues.get(f"{meta.namespace}/{workload.spec.queue_name}")
        if not workload.spec.active:
            self.unqueued[key] = Unqueued(workload, "Deactivated", "The workload is deactivated")
            return None
        if lq is None:
            message = f"LocalQueue {workload.spec.queue_name} doesn't exist"
            self.unqueued[key] = Unqueued(workload, "Misconfigured", message)
            return None
        cq = lq.spec.cluster_queue
        if cq not in self.queues:
            message = f"ClusterQueue {cq} doesn't exist"
            self.unqueued[key] = Unqueued(workload, "Misconfigured", message)
            return None
        if lq.spec.stop_policy != "None":
            self.unqueued[key] = Unqueued(
                workload, "OnHold", f"LocalQueue {lq.metadata.name} is stopped"
            )
            return None
        priority = effective_priority(workload, inp.workload_priority_classes, inp.priority_classes)
        entry = QueuedWorkload(
            key=key,
            workload=workload,
            local_queue=f"{meta.namespace}/{lq.metadata.name}",
            cluster_queue=cq,
            priority=priority,
            timestamp=meta.creation_timestamp or "",
            requests=workload_requests(workload, self.state.inventory, self.state.dra_config),
        )
        queue = self.queues[cq]
        self.workloads[key] = entry
        # Kueue's PushOrUpdate: under SchedulingEquivalenceHashing a BestEffortFIFO Workload
        # whose hash is known not to fit waits with the inadmissible ones.
        if (
            self.equivalence_hashing
            and self.state.cluster_queues[cq].strategy is QueueingStrategy.best_effort_fifo
            and entry.scheduling_hash() in queue.no_fit_hashes
        ):
            queue.inadmissible[key] = entry
        else:
            queue.activate(entry)
        return entry

    def add_all(self, workloads: Iterable[Workload]) -> None:
        """Queue the pending Workloads; charge those already holding quota (read back from
        their `status.admission`) to their ClusterQueue."""
        inp = self.state.input
        for workload in workloads:
            admission = workload.status.admission
            if not workload.has_quota_reservation() or admission is None:
                self.add(workload)
                continue
            meta = workload.metadata
            evicted = workload.condition("Evicted")
            reserved = workload.condition("QuotaReserved")
            self.state.reserve(
                Reservation(
                    f"{meta.namespace}/{meta.name}",
                    admission.cluster_queue,
                    usage_from_admission(workload),
                    effective_priority(
                        workload, inp.workload_priority_classes, inp.priority_classes
                    ),
                    reserved_at=_epoch(reserved.last_transition_time if reserved else None),
                    timestamp=meta.creation_timestamp or "",
                    evicted=evicted is not None and evicted.status == "True",
                    local_queue=f"{meta.namespace}/{workload.spec.queue_name}",
                )
            )

    def remove(self, key: str) -> None:
        self.unqueued.pop(key, None)
        entry = self.workloads.pop(key, None)
        if entry is not None:
            queue = self.queues[entry.cluster_queue]
            queue.active.pop(key, None)
            queue.inadmissible.pop(key, None)
            if queue.sticky_preemptor == key:
                queue.sticky_preemptor = None

    def heads(self) -> list[QueuedWorkload]:
        """Pop the head of every ClusterQueue that has one (inactive ones included: their
        heads are nominated and told why they wait), in ClusterQueue name order."""
        out: list[QueuedWorkload] = []
        for name in sorted(self.queues):
            queue = self.queues[name]
            if self.quick_heads:
                head = queue.head(self.afs_score(name))
            else:
                ordered = queue.ordered(self.afs_score(name))
                head = ordered[0] if ordered else None
            if head is not None:
                del queue.active[head.key]
                out.append(head)
        return out

    def admitted(self, entry: QueuedWorkload) -> None:
        """The head reserved quota: it leaves the queues."""
        queue = self.queues[entry.cluster_queue]
        if queue.sticky_preemptor == entry.key:
            queue.sticky_preemptor = None
        self.workloads.pop(entry.key, None)

    def requeue(self, entry: QueuedWorkload, *, preempting: bool = False) -> None:
        queue = self.queues[entry.cluster_queue]
        strategy = self.state.cluster_queues[entry.cluster_queue].strategy
        if preempting and strategy is QueueingStrategy.best_effort_fifo:
            queue.sticky_preemptor = entry.key
        elif queue.sticky_preemptor == entry.key:
            queue.sticky_preemptor = None
        if strategy is QueueingStrategy.strict_fifo:
            back = entry.requeue_reason is not RequeueReason.namespace_mismatch
        else:
            back = entry.requeue_reason in _BACK_TO_HEAP or entry.has_flavors_left()
        if back:
            queue.activate(entry)
            return
        queue.inadmissible[entry.key] = entry
        if self.equivalence_hashing and strategy is QueueingStrategy.best_effort_fifo:
            # Kueue's handleInadmissibleHash: the heap's Workloads of the same hash follow.
            found = entry.scheduling_hash()
            queue.no_fit_hashes.add(found)
            for other in [q for q in queue.active.values() if q.scheduling_hash() == found]:
                del queue.active[other.key]
                queue.inadmissible[other.key] = other

    def on_quota_released(self, cluster_queue: str) -> None:
        """A requeue event (a Workload finished, was deleted or released quota; a queue or
        flavor changed): inadmissible Workloads of the whole cohort tree go back to their
        heaps."""
        cq = self.state.cluster_queues.get(cluster_queue)
        if cq is None:
            return
        root = cq.node.root()
        if self.quick_heads:
            for name in self._tree_queues(root):
                self._requeue_inadmissible(self.queues[name])
            return
        for name, queue in self.queues.items():
            other = self.state.cluster_queues[name]
            if other.node.root() is root:
                self._requeue_inadmissible(queue)

    @staticmethod
    def _requeue_inadmissible(queue: ClusterQueueQueue) -> None:
        queue.no_fit_hashes.clear()
        for entry in queue.inadmissible.values():
            queue.activate(entry)
        queue.inadmissible.clear()

    def _tree_queues(self, root: QuotaNode) -> list[str]:
        """The queued ClusterQueues whose quota node is in `root`'s tree."""
        names = []
        stack = [root]
        while stack:
            node = stack.pop()
            stack.extend(node.children)
            if node.kind is not NodeKind.cluster_queue or node.name not in self.queues:
                continue
            if self.state.cluster_queues[node.name].node is node:
                names.append(node.name)
        return names

    def pending(self, cluster_queue: str) -> list[QueuedWorkload]:
        return self.queues[cluster_queue].pending(self.afs_score(cluster_queue))

    # ------------------------------------------------------------ Admission Fair Sharing

    def uses_afs(self, cluster_queue: str) -> bool:
        cq = self.state.cluster_queues.get(cluster_queue)
        scope = cq.obj.spec.admission_scope if cq is not None else None
        return (
            self.afs is not None
            and scope is not None
            and scope.admission_mode == "UsageBasedAdmissionFairSharing"
        )

    def _lq_weight(self, local_queue: str) -> float:
        lq = self.state.input.local_queues.get(local_queue)
        fair = lq.spec.fair_sharing if lq is not None else None
        if fair is None or fair.weight is None:
            return 1.0
        return fair.weight.as_approximate_float()

    def afs_score(self, cluster_queue: str) -> Callable[[QueuedWorkload], float] | None:
        afs = self.afs
        if afs is None or not self.uses_afs(cluster_queue):
            return None
        return lambda q: afs.score(q.local_queue, self._lq_weight(q.local_queue))

    def admitted_usage(self, local_queue: str) -> dict[str, int]:
        """A LocalQueue's admitted usage per resource (all flavors summed)."""
        out: dict[str, int] = {}
        for res in self.state.reservations.values():
            if res.local_queue == local_queue:
                for fr, amount in res.usage.items():
                    out[fr.resource] = out.get(fr.resource, 0) + amount
        return out

    def sample_afs(self, now: float) -> None:
        """A sampling tick (every `usage_sampling_interval_seconds`): every LocalQueue of a
        ClusterQueue using Admission Fair Sharing updates its consumption."""
        if self.afs is None:
            return
        for key, lq in sorted(self.state.input.local_queues.items()):
            if self.uses_afs(lq.spec.cluster_queue):
                self.afs.sample(key, self.admitted_usage(key), now)

    def position(self, key: str) -> int | None:
        """0-based place of a pending Workload in its ClusterQueue (heap, then inadmissible)."""
        entry = self.workloads.get(key)
        if entry is None:
            return None
        keys = [q.key for q in self.pending(entry.cluster_queue)]
        return keys.index(key) if key in keys else None


def queue_statuses(state: QueueState, manager: QueueManager) -> dict[str, QueueStatus]:
    """Every ClusterQueue's `status` as Kueue's controller writes it: reservation and usage
    per flavor and resource (with the part borrowed), Workload counts, the weighted share,
    and the `Active` condition. Admission checks are not modelled, so reserved = admitted."""
    out: dict[str, QueueStatus] = {}
    counts: dict[str, int] = {}
    for res in state.reservations.values():
        counts[res.cluster_queue] = counts.get(res.cluster_queue, 0) + 1
    for cq in state.iter_cluster_queues():
        node = cq.node
        flavors: list[FlavorUsage] = []
        for group in cq.obj.spec.resource_groups:
            for fq in group.flavors:
                resources = []
                for quota in fq.resources:
                    fr = FlavorResource(fq.name, quota.name)
                    used = node.usage.get(fr, 0)
                    nominal = node.quotas[fr].nominal if fr in node.quotas else 0
                    resources.append(
                        ResourceUsage(
                            name=quota.name,
                            total=quantity_of(quota.name, used),
                            borrowed=quantity_of(quota.name, max(0, used - nominal)),
                        )
                    )
                flavors.append(FlavorUsage(name=fq.name, resources=resources))
        share = dominant_resource_share(node)
        active = Condition(
            type="Active",
            status="False" if cq.inactive_reason else "True",
            reason=cq.inactive_reason or "Ready",
            message=cq.inactive_message or "Can admit new workloads",
        )
        queue = manager.queues.get(cq.name)
        out[cq.name] = QueueStatus(
            conditions=[active],
            flavors_reservation=flavors,
            flavors_usage=[msgspec.structs.replace(f) for f in flavors],
            pending_workloads=len(queue.pending()) if queue else 0,
            reserving_workloads=counts.get(cq.name, 0),
            admitted_workloads=counts.get(cq.name, 0),
            fair_sharing=FairSharingStatus(weighted_share=share.weighted_share()),
        )
    return out
