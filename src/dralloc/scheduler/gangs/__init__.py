"""Gang scheduling: which pods form a gang (`model`), the pod-group cycle that places a gang
all or nothing (`cycle`), a gang as one scheduling-queue entity (`entity`), gang preemption
(`preemption`: workload-aware preemption, gate WorkloadAwarePreemption) and Volcano's enqueue
step for PodGroups with minResources (`volcano`). See `dralloc.api.scheduling` for the
objects users write and how each source maps to a `Gang`.

"Can all pods of this gang be placed now?" (the question an admission layer such as a
Kueue-style queue asks before admitting a workload) is `place_gang` without binding:

    gang = Gang(GangKey("team-a", "train"), min_count=4)
    placement = place_gang(built.cache, built.framework(), gang, pods)
    placement.is_admitted      # minCount of them fit, together, on the cache as it is now
    placement.placed           # pod key -> node, the placement found
    placement.message          # otherwise why: "pod group is unschedulable: 3 of minCount 4
                               # pods of PodGroup team-a/train fit; pod team-a/train-3: 0/12
                               # nodes are available: ..."
    placement.blocking         # the first member that fits nowhere, with its FitError text

The cache is unchanged afterwards (every assumed pod and claim allocation is undone), so the
question can be asked for several workloads in a row; `bind=True` commits instead.
`already_placed` counts members bound before (a started gang)."""

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
    gang_from_object,
    scheduling_group_name,
)

# isort: split
# The model first: `dralloc.scheduler.plugins` imports GangIndex from this package, and
# `preemption` (imported by `entity`) imports the plugins.
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
from dralloc.scheduler.gangs.preemption import (
    GangMembership,
    GangPreemption,
    is_gang_preemption_enabled,
    place_gang_preempting,
    preempt_for_gang,
    preemption_units,
    preemptor_priority,
)
from dralloc.scheduler.gangs.volcano import VolcanoEnqueue, enqueue_volcano

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
    "GangMembership",
    "GangPlacement",
    "GangPreemption",
    "GangSource",
    "MemberResult",
    "VolcanoEnqueue",
    "collect_gangs",
    "cycle_order",
    "enqueue_volcano",
    "gang_from_object",
    "is_gang_preemption_enabled",
    "place_gang",
    "place_gang_preempting",
    "pop_gang",
    "preempt_for_gang",
    "preemption_units",
    "preemptor_priority",
    "schedule_gang_entity",
    "scheduler_name_problem",
    "scheduling_group_name",
]
