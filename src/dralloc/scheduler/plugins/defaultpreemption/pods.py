"""What preemption reads from a pod: its preemption policy, start time and nominated node,
whether it is already terminating because of a scheduler preemption, and which of two pods
matters more (upstream's MoreImportantPod). Pure functions, no state.

`dralloc.api.core` does not model `spec.preemptionPolicy`, `status.startTime` or
`status.nominatedNodeName` yet (the loader drops fields it does not model), so they are read by
name and a pod without them reads as upstream's defaults: policy PreemptLowerPriority, no start
time, no nominated node.

A pod without a start time counts as started "now", as upstream; dralloc has no clock here, so
"now" is later than every recorded start time. Two such pods tie and keep their order.
"""

from __future__ import annotations

import math
from datetime import datetime

from dralloc.api.core import Pod
from dralloc.scheduler.framework import PodInfo

PREEMPT_NEVER = "Never"
DISRUPTION_TARGET = "DisruptionTarget"
REASON_PREEMPTION_BY_SCHEDULER = "PreemptionByScheduler"


def _text(obj: object, name: str) -> str:
    # Read by name: the API model gains these fields later (see the module docstring).
    value = getattr(obj, name, None)
    return value if isinstance(value, str) else ""


def preemption_policy(pod: Pod) -> str:
    """`spec.preemptionPolicy`; "" means the default, PreemptLowerPriority."""
    return _text(pod.spec, "preemption_policy")


def nominated_node_name(pod: Pod) -> str:
    """`status.nominatedNodeName`, "" when none."""
    return _text(pod.status, "nominated_node_name")


def start_time(pod: Pod) -> float:
    """`status.startTime` in seconds since the epoch; +inf ("now") when unset or unreadable."""
    text = _text(pod.status, "start_time")
    if not text:
        return math.inf
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return math.inf


def is_terminating_by_preemption(pod: Pod) -> bool:
    """Being deleted, with condition DisruptionTarget=True for reason PreemptionByScheduler."""
    if pod.metadata.deletion_timestamp is None:
        return False
    for condition in pod.status.conditions:
        if (
            isinstance(condition, dict)
            and condition.get("type") == DISRUPTION_TARGET
            and condition.get("status") == "True"
            and condition.get("reason") == REASON_PREEMPTION_BY_SCHEDULER
        ):
            return True
    return False


def importance(pod: PodInfo) -> tuple[int, float]:
    """Sort key, most important first: higher priority, then the earlier start time."""
    return -pod.priority, start_time(pod.pod)
