"""The scheduling queue of one profile: which pod is tried next, and where a rejected pod waits
(spec/scheduler.md section 1, kube-scheduler's `PriorityQueue`).

The queue owns every pending pod of its profile from `add` until the pod is deleted, or until
`done` after an attempt that did not fail. A pod is in exactly one place at a time:

* activeQ: ready to try, ordered by PrioritySort (1.3);
* podBackoffQ / podErrorBackoffQ: waiting out a backoff after a rejection / an error (1.5, 1.6);
* unschedulablePods: rejected until an event may help, or gated at PreEnqueue (1.7, 1.10);
* in flight: popped and being scheduled, collecting the cluster events that arrive meanwhile.

No threads and no clock of its own. Time comes from an injected `Clock`; `pop` returns None
where kube-scheduler would block; the background loops of 1.9 are `flush_*` methods that the
caller runs (upstream: backoff every 1 s aligned to whole seconds, leftovers every 30 s).

Determinism (dralloc's tie-break): pods of equal priority and equal timestamp pop in the order
their timestamps were set (a sequence number), where upstream leaves the tie to its heap.
Hints of several rejector plugins are asked in plugin-name order.

Events (1.8): a queue built for a profile (`SchedulingQueue.for_profile`) knows what each
rejecting plugin registered (`EnqueueExtensions.events_to_register`: events and a hint per
event); `on_event(event, old, new)` asks the rejector plugins' matching hints only, and a pod
none of them says QUEUE for stays in unschedulablePods. A hint that raises counts as QUEUE, as
upstream, and is recorded in `hint_errors` for tests to see. A caller may also pass its own
hint function to `move_all_to_active_or_backoff`.

Not here: the nominator (1.12) and pod groups (6.3).
"""

from dralloc.scheduler.queue.events import (
    FORCE_ACTIVATE,
    UNSCHEDULABLE_TIMEOUT,
    UNSCHEDULED_POD_UPDATE,
    WILDCARD,
    ActionType,
    ClusterEvent,
    ClusterEventWithHint,
    QueueingHint,
    QueueingHintFn,
    QueueingHintFunction,
)
from dralloc.scheduler.queue.records import (
    Clock,
    PendingPod,
    PreEnqueuePlugin,
    QueuedPodInfo,
    QueueName,
    queue_uid,
)
from dralloc.scheduler.queue.scheduling_queue import (
    DEFAULT_POD_INITIAL_BACKOFF_SECONDS,
    DEFAULT_POD_MAX_BACKOFF_SECONDS,
    DEFAULT_POD_MAX_IN_UNSCHEDULABLE_PODS_DURATION,
    HINT_ERRORS_KEPT,
    HintError,
    SchedulingQueue,
)

__all__ = [
    "DEFAULT_POD_INITIAL_BACKOFF_SECONDS",
    "DEFAULT_POD_MAX_BACKOFF_SECONDS",
    "DEFAULT_POD_MAX_IN_UNSCHEDULABLE_PODS_DURATION",
    "FORCE_ACTIVATE",
    "HINT_ERRORS_KEPT",
    "UNSCHEDULABLE_TIMEOUT",
    "UNSCHEDULED_POD_UPDATE",
    "WILDCARD",
    "ActionType",
    "Clock",
    "ClusterEvent",
    "ClusterEventWithHint",
    "HintError",
    "PendingPod",
    "PreEnqueuePlugin",
    "QueueName",
    "QueuedPodInfo",
    "QueueingHint",
    "QueueingHintFn",
    "QueueingHintFunction",
    "SchedulingQueue",
    "queue_uid",
]
