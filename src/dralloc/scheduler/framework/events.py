"""Cluster events and queueing hints (spec/scheduler.md section 1.8, kube-scheduler's
`ClusterEvent`, `ActionType`, `QueueingHint` and `ClusterEventWithHint`).

A plugin that can reject a pod (PreFilter, Filter, Reserve, Permit) says, through
`EnqueueExtensions.events_to_register`, which cluster events may change its mind and gives a
hint function per event; the scheduling queue asks those hints, and only those, before it
moves a rejected pod back to activeQ. Pure values, no state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum, IntFlag

from dralloc.scheduler.framework.nodeinfo import PodInfo

WILDCARD = "*"

# Resources events are raised for (upstream's EventResource names).
POD = "Pod"
NODE = "Node"
RESOURCE_CLAIM = "resource.k8s.io/ResourceClaim"
RESOURCE_SLICE = "resource.k8s.io/ResourceSlice"
DEVICE_CLASS = "resource.k8s.io/DeviceClass"


class ActionType(IntFlag):
    """What happened to the object; a registration is a mask of these (upstream's bits)."""

    ADD = 1 << 0
    DELETE = 1 << 1
    UPDATE_NODE_ALLOCATABLE = 1 << 2
    UPDATE_NODE_LABEL = 1 << 3
    UPDATE_NODE_TAINT = 1 << 4
    UPDATE_NODE_CONDITION = 1 << 5
    UPDATE_NODE_ANNOTATION = 1 << 6
    UPDATE_NODE_DECLARED_FEATURE = 1 << 7
    UPDATE_POD_LABEL = 1 << 8
    UPDATE_POD_SCALE_DOWN = 1 << 9
    UPDATE_POD_TOLERATIONS = 1 << 10
    UPDATE_POD_SCHEDULING_GATES_ELIMINATED = 1 << 11
    UPDATE_POD_GENERATED_RESOURCE_CLAIM = 1 << 12
    # A sub-update of no finer kind (an update to another resource, or of unknown extent).
    UPDATE_OTHER = 1 << 13
    UPDATE = (
        UPDATE_NODE_ALLOCATABLE
        | UPDATE_NODE_LABEL
        | UPDATE_NODE_TAINT
        | UPDATE_NODE_CONDITION
        | UPDATE_NODE_ANNOTATION
        | UPDATE_NODE_DECLARED_FEATURE
        | UPDATE_POD_LABEL
        | UPDATE_POD_SCALE_DOWN
        | UPDATE_POD_TOLERATIONS
        | UPDATE_POD_SCHEDULING_GATES_ELIMINATED
        | UPDATE_POD_GENERATED_RESOURCE_CLAIM
        | UPDATE_OTHER
    )
    ALL = ADD | DELETE | UPDATE


# The names actions are written with in a `ClusterEvent` (`"Add"`, `"UpdateNodeTaint"`, or
# several joined with `|`), as upstream spells them.
_ACTION_NAMES: dict[str, ActionType] = {
    "Add": ActionType.ADD,
    "Delete": ActionType.DELETE,
    "Update": ActionType.UPDATE,
    "UpdateNodeAllocatable": ActionType.UPDATE_NODE_ALLOCATABLE,
    "UpdateNodeLabel": ActionType.UPDATE_NODE_LABEL,
    "UpdateNodeTaint": ActionType.UPDATE_NODE_TAINT,
    "UpdateNodeCondition": ActionType.UPDATE_NODE_CONDITION,
    "UpdateNodeAnnotation": ActionType.UPDATE_NODE_ANNOTATION,
    "UpdateNodeDeclaredFeature": ActionType.UPDATE_NODE_DECLARED_FEATURE,
    "UpdatePodLabel": ActionType.UPDATE_POD_LABEL,
    "UpdatePodScaleDown": ActionType.UPDATE_POD_SCALE_DOWN,
    "UpdatePodToleration": ActionType.UPDATE_POD_TOLERATIONS,
    "UpdatePodSchedulingGatesEliminated": ActionType.UPDATE_POD_SCHEDULING_GATES_ELIMINATED,
    "UpdatePodGeneratedResourceClaim": ActionType.UPDATE_POD_GENERATED_RESOURCE_CLAIM,
}


class QueueingHint(Enum):
    """A plugin's answer to "may this event make the pod schedulable?" (upstream names)."""

    QUEUE = "Queue"
    QUEUE_SKIP = "QueueSkip"


@dataclass(frozen=True)
class ClusterEvent:
    """A change in the cluster, e.g. `ClusterEvent("resource.k8s.io/ResourceSlice", "Add")`.
    Resource `*` is a wildcard event: it requeues every pod it is checked against. `action`
    is one of upstream's action names or several joined with `|` (a registration's mask)."""

    resource: str
    action: str
    # The action's bits, worked out once: every queued pod is matched against every event.
    _mask: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        mask = 0
        for name in self.action.split("|"):
            found = _ACTION_NAMES.get(name)
            if found is None:
                mask = int(ActionType.ALL)
                break
            mask |= int(found)
        object.__setattr__(self, "_mask", mask)

    @property
    def is_wildcard(self) -> bool:
        return self.resource == WILDCARD

    @property
    def action_type(self) -> ActionType:
        """The action's bits; a name outside upstream's (a wildcard event's label, such as
        `UnschedulableTimeout`) counts as every action."""
        return ActionType(self._mask)

    def matches(self, incoming: ClusterEvent) -> bool:
        """Upstream's `MatchClusterEvents`: this registration covers `incoming` when the
        resources are equal (or either is `*`) and the action masks intersect."""
        if self.resource not in (incoming.resource, WILDCARD) and not incoming.is_wildcard:
            return False
        return bool(self._mask & incoming._mask)

    def __str__(self) -> str:
        return self.action if self.is_wildcard else f"{self.resource}/{self.action}"


UNSCHEDULABLE_TIMEOUT = ClusterEvent(WILDCARD, "UnschedulableTimeout")
FORCE_ACTIVATE = ClusterEvent(WILDCARD, "ForceActivate")
UNSCHEDULED_POD_UPDATE = ClusterEvent("Pod", "Update")

QueueingHintFunction = Callable[[PodInfo, object | None, object | None], QueueingHint]
"""A plugin's hint, `hint(pod, old, new)`: may this change (the object before and after; None
for an Add's old and a Delete's new) make `pod`, which the plugin rejected, schedulable?
Node events carry `NodeInfo`s, pod events `PodInfo`s, DRA events the API objects. It must be
cheap, read nothing but its arguments and the plugin's own fixed state, and not raise: a
raising hint is recorded by the queue (`SchedulingQueue.hint_errors`) and counts as QUEUE."""


@dataclass(frozen=True)
class ClusterEventWithHint:
    """One registration of `events_to_register`: the events (`event.action` may join several
    actions with `|`) and the hint asked about them (None: always QUEUE)."""

    event: ClusterEvent
    hint: QueueingHintFunction | None = None


def queue_always(pod: PodInfo, old: object | None, new: object | None) -> QueueingHint:
    """A hint for events that may always help (upstream registers such events without one)."""
    return QueueingHint.QUEUE
