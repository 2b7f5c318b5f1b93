"""Gang scheduling: which pods form a gang (`model`) and the pod-group cycle that places a
gang all or nothing (`cycle`). See `dralloc.api.scheduling` for the objects users write."""

from dralloc.scheduler.gangs.cycle import (
    GANG_CYCLE_KEY,
    POD_GROUP_UNSCHEDULABLE,
    GangCycle,
    GangPlacement,
    MemberResult,
    cycle_order,
    place_gang,
    scheduler_name_problem,
)
from dralloc.scheduler.gangs.entity import pop_gang, schedule_gang_entity
from dralloc.scheduler.gangs.model import (
    WAITING_FOR_MIN_COUNT,
    WAITING_FOR_POD_GROUP,
    WAITING_FOR_QUORUM,
    CollectedGangs,
    Gang,
    GangIndex,
    GangKey,
    GangSource,
    collect_gangs,
    scheduling_group_name,
)

__all__ = [
    "GANG_CYCLE_KEY",
    "POD_GROUP_UNSCHEDULABLE",
    "WAITING_FOR_MIN_COUNT",
    "WAITING_FOR_POD_GROUP",
    "WAITING_FOR_QUORUM",
    "CollectedGangs",
    "Gang",
    "GangCycle",
    "GangIndex",
    "GangKey",
    "GangPlacement",
    "GangSource",
    "MemberResult",
    "collect_gangs",
    "cycle_order",
    "place_gang",
    "pop_gang",
    "schedule_gang_entity",
    "scheduler_name_problem",
    "scheduling_group_name",
]
