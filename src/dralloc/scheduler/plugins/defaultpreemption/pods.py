"""What preemption reads from a pod: its preemption policy, start time and nominated node,
whether it is already terminating because of a scheduler preemption, and which of two pods
matters more (upstream's MoreImportantPod). Pure functions, no state.

A pod without them reads as upstream's defaults: policy PreemptLowerPriority, no start time,
no nominated node.

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


def preemption_policy(pod: Pod) -> str:
    """`spec.preemptionPolicy`; "" means the default, PreemptLowerPriority."""
    return pod.spec.preemption_policy or ""


def nominated_node_name(pod: Pod) -> str:
    """`status.nominatedNodeName`, "" when none."""
    return pod.status.nominated_node_name or ""


def start_time(pod: Pod) -> float:
    """`status.startTime` in seconds since the epoch; +inf ("now") when unset or unreadable."""
    text = pod.status.start_time
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
