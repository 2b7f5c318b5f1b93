"""The scheduling framework: statuses, node and pod info, extension-point Protocols, and the
runtime that runs a profile's plugins in kube-scheduler's order (spec/scheduler.md)."""

from dralloc.scheduler.framework.interface import (
    BindPlugin,
    CycleState,
    FilterPlugin,
    PermitPlugin,
    PostFilterPlugin,
    PreBindPlugin,
    PreFilterPlugin,
    PreFilterResult,
    PreScorePlugin,
    ReservePlugin,
    ScoreNormalizer,
    ScorePlugin,
)
from dralloc.scheduler.framework.nodeinfo import NodeInfo, PodInfo, Resources, pod_requests
from dralloc.scheduler.framework.runtime import (
    Diagnosis,
    FitError,
    Framework,
    Profile,
    ScheduleResult,
    SchedulingError,
    default_normalize,
    num_feasible_nodes_to_find,
)
from dralloc.scheduler.framework.status import SUCCESS, Code, Status

__all__ = [
    "SUCCESS",
    "BindPlugin",
    "Code",
    "CycleState",
    "Diagnosis",
    "FilterPlugin",
    "FitError",
    "Framework",
    "NodeInfo",
    "PermitPlugin",
    "PodInfo",
    "PostFilterPlugin",
    "PreBindPlugin",
    "PreFilterPlugin",
    "PreFilterResult",
    "PreScorePlugin",
    "Profile",
    "ReservePlugin",
    "Resources",
    "ScheduleResult",
    "SchedulingError",
    "ScoreNormalizer",
    "ScorePlugin",
    "Status",
    "default_normalize",
    "num_feasible_nodes_to_find",
    "pod_requests",
]
