"""The `DefaultPreemption` plugin: kube-scheduler's priority preemption (PostFilter), and
workload-aware preemption's victim search for a whole pod group (`groups.py`)."""

from dralloc.scheduler.plugins.defaultpreemption.args import DefaultPreemptionArgs
from dralloc.scheduler.plugins.defaultpreemption.budgets import (
    DisruptionBudgetLister,
    split_by_budget_violation,
)
from dralloc.scheduler.plugins.defaultpreemption.candidates import (
    Candidate,
    num_candidates,
    pick_one_node_for_preemption,
)
from dralloc.scheduler.plugins.defaultpreemption.disruption import (
    ControllerScales,
    computed_status,
    with_status,
)
from dralloc.scheduler.plugins.defaultpreemption.groups import (
    NO_GROUP_VICTIMS,
    GroupVictims,
    VictimUnit,
    select_victims_on_domain,
)
from dralloc.scheduler.plugins.defaultpreemption.plugin import (
    NAME,
    NO_VICTIMS,
    NOT_ELIGIBLE_NEVER,
    NOT_ELIGIBLE_TERMINATING,
    NOT_HELPFUL,
    DefaultPreemption,
    Eviction,
    Evictor,
    NodeLister,
    disruption_message,
)
from dralloc.scheduler.plugins.defaultpreemption.pods import (
    DISRUPTION_TARGET,
    REASON_PREEMPTION_BY_SCHEDULER,
)
from dralloc.scheduler.plugins.defaultpreemption.victims import (
    Victims,
    can_preempt,
    select_victims_on_node,
)

__all__ = [
    "DISRUPTION_TARGET",
    "NAME",
    "NOT_ELIGIBLE_NEVER",
    "NOT_ELIGIBLE_TERMINATING",
    "NOT_HELPFUL",
    "NO_GROUP_VICTIMS",
    "NO_VICTIMS",
    "REASON_PREEMPTION_BY_SCHEDULER",
    "Candidate",
    "ControllerScales",
    "DefaultPreemption",
    "DefaultPreemptionArgs",
    "DisruptionBudgetLister",
    "Eviction",
    "Evictor",
    "GroupVictims",
    "NodeLister",
    "VictimUnit",
    "Victims",
    "can_preempt",
    "computed_status",
    "disruption_message",
    "num_candidates",
    "pick_one_node_for_preemption",
    "select_victims_on_domain",
    "select_victims_on_node",
    "split_by_budget_violation",
    "with_status",
]
