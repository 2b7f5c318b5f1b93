"""The pod-group scheduling cycle (Kubernetes 1.36, spec/scheduler.md section 6.3): place a
gang's pods one after another on the cache, each seeing the ones placed before it, then bind
them all if the quorum is met, or undo every placement if not.

    placement = place_gang(cache, framework, gang, pods)           # what-if: nothing changes
    if placement.is_admitted:
        placement = place_gang(cache, framework, gang, pods, bind=True)

`place_gang` is the one entry point. For each pod, in a fixed order (higher priority first,
then the order given, upstream's priority-then-first-attempt), it runs the profile's Filter
and Score on `cache.snapshot()`, assumes the pod on the chosen node, and runs Reserve and
Permit, exactly as a single pod's cycle does, except that PostFilter does not run and a
Permit `Wait` (GangScheduling's "quorum not met yet") counts as placed. Skipping PostFilter
is upstream's behaviour with WorkloadAwarePreemption on (a member's DefaultPreemption answers
"not eligible due to workload aware preemption enabled", and one preemption for the whole
group runs after the cycle: `preemption.py`). With the gate off, upstream 1.36 runs each
member's PostFilter and evicts its victims at once, even when the group then misses its
quorum; dralloc does not (a named departure: a gang cycle never evicts for a group that
does not fit). A pod
that fits nowhere is left out and the next one is tried: a gang of 8 with minCount 6 binds
if any 6 fit. A plugin ERROR ends the cycle.

Then the `minCount` check, without waiting: `already_placed` (members bound earlier, for a
started gang's new members) plus the pods placed now must reach `gang.min_count`. Below it,
nothing is bound: every placement is undone in reverse order (Unreserve, forget), so claims
allocated for the gang are released and the cache is as before. At quorum with `bind=True`,
PreBind and Bind run for each placed pod (a claim the members share ends with every one of
them in `reservedFor`); with `bind=False` the placement is reported and undone, which is
the question the queueing layer asks ("can this gang be placed now?").

Owns nothing: the cache is mutated only between the first assume and the undo or bind of the
same call; plugins see an ordinary cycle plus the `GangCycle` value under `GANG_CYCLE_KEY`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from dralloc.api.core import Pod
from dralloc.api.scheduling import (
    POD_GROUP_SCHEDULED,
    REASON_SCHEDULER_ERROR,
    REASON_UNSCHEDULABLE,
)
from dralloc.scheduler.cache import SchedulerCache
from dralloc.scheduler.framework import (
    CycleState,
    FitError,
    Framework,
    PodInfo,
    SchedulingError,
    Status,
)
from dralloc.scheduler.framework.status import SUCCESS, Code
from dralloc.scheduler.gangs.model import WAITING_FOR_QUORUM, Gang

GANG_CYCLE_KEY = "PodGroupCycle"
# Upstream's errPodGroupUnschedulable text, the start of every rejection message.
POD_GROUP_UNSCHEDULABLE = "pod group is unschedulable"


@dataclass(frozen=True)
class GangCycle:
    """What a plugin may read during a pod-group cycle: the gang, and how many of its pods
    are placed (bound before, or assumed in this cycle) counting the pod being tried."""

    gang: Gang
    scheduled: int


@dataclass(frozen=True)
class MemberResult:
    """One pod's part of a gang cycle: `node` where it was (or would be) placed, or None
    with `status` and `message` (the FitError text) saying why it fits nowhere."""

    pod: PodInfo
    node: str | None
    status: Status = SUCCESS
    message: str = ""
    unschedulable_plugins: frozenset[str] = frozenset()
    evaluated_nodes: int = 0
    feasible_nodes: int = 0
    # The member's cycle state, for a caller that binds on its own (the live scheduler's
    # binding cycle undoes Reserve with it); None when the member was not placed.
    state: CycleState | None = field(default=None, compare=False, repr=False)

    @property
    def key(self) -> str:
        return self.pod.key


@dataclass(frozen=True)
class GangPlacement:
    """The outcome of `place_gang`. `members` are in the order they were tried; `bound`
    says whether the placed ones were bound (only with `bind=True` at quorum)."""

    gang: Gang
    members: tuple[MemberResult, ...]
    already_placed: int
    status: Status
    bound: bool = False

    @property
    def placed(self) -> dict[str, str]:
        """Pod key -> node, of the members placed in this cycle."""
        return {m.key: m.node for m in self.members if m.node is not None}

    @property
    def is_admitted(self) -> bool:
        """The quorum is met (a basic group: no error), so the placed pods may bind."""
        return self.status.is_success

    @property
    def blocking(self) -> MemberResult | None:
        """The first member that fits nowhere (None when all fit)."""
        return next((m for m in self.members if m.node is None), None)

    @property
    def message(self) -> str:
        """The PodGroupScheduled condition's message."""
        return self.status.message

    def condition(self) -> dict[str, str]:
        """The PodGroupScheduled condition the scheduler writes on the PodGroup."""
        if self.status.is_success:
            return {"type": POD_GROUP_SCHEDULED, "status": "True", "reason": "Scheduled"}
        reason = REASON_UNSCHEDULABLE if self.status.is_rejected else REASON_SCHEDULER_ERROR
        return {
            "type": POD_GROUP_SCHEDULED,
            "status": "False",
            "reason": reason,
            "message": self.status.message,
        }

    def pod_message(self, member: MemberResult) -> str:
        """The PodScheduled=False message of one member when the gang was not admitted."""
        if member.node is None:
            return member.message
        if self.status.code == Code.ERROR:
            return self.status.message
        return WAITING_FOR_QUORUM


def cycle_order(pods: Sequence[Pod]) -> list[Pod]:
    """Higher priority first, then the order given (stable)."""
    return sorted(pods, key=lambda pod: -(pod.spec.priority or 0))


def scheduler_name_problem(pods: Sequence[Pod], default: str) -> str | None:
    """Upstream rejects a group whose pods name different schedulers."""
    names = sorted({pod.spec.scheduler_name or default for pod in pods})
    if len(names) > 1:
        return (
            "all pods in a single pod group should have the same .spec.schedulerName set, "
            f'got: "{names[0]}" and "{names[1]}"'
        )
    return None


def _quorum_message(gang: Gang, count: int, blocking: MemberResult | None) -> str:
    text = f"{POD_GROUP_UNSCHEDULABLE}: {count} of minCount {gang.min_count} pods of {gang.ref} fit"
    if blocking is not None:
        text += f"; pod {blocking.key}: {blocking.message}"
    return text


def place_gang(
    cache: SchedulerCache,
    framework: Framework,
    gang: Gang,
    pods: Sequence[Pod],
    *,
    already_placed: int = 0,
    bind: bool = False,
) -> GangPlacement:
    """Place `pods` (the gang's pending members) all or nothing; see the module docstring.
    With `bind=False` the cache is unchanged on return, whatever the outcome."""
    members = [PodInfo.of(pod) for pod in cycle_order(pods)]
    return place_gang_members(
        cache, framework, gang, members, already_placed=already_placed, bind=bind
    )


def place_gang_members(
    cache: SchedulerCache,
    framework: Framework,
    gang: Gang,
    members: Sequence[PodInfo],
    *,
    already_placed: int = 0,
    bind: bool = False,
) -> GangPlacement:
    """`place_gang` for members already in `cycle_order` with their PodInfo computed, for a
    what-if loop that re-runs the same gang's cycle many times (a PodInfo is the pod's
    requests computed once; plugins only read it)."""
    results: list[MemberResult] = []
    placed: list[tuple[PodInfo, CycleState, str]] = []
    error: Status | None = None
    for info in members:
        state = CycleState()
        state.skip_post_filter = True
        state.write(GANG_CYCLE_KEY, GangCycle(gang, already_placed + len(placed) + 1))
        try:
            result = framework.schedule(state, info, cache.snapshot())
        except FitError as err:
            plugins = frozenset(err.diagnosis.unschedulable_plugins)
            results.append(
                MemberResult(
                    info,
                    None,
                    Status.unschedulable(err.message),
                    err.message,
                    plugins,
                    evaluated_nodes=len(err.diagnosis.node_statuses),
                )
            )
            continue
        except SchedulingError as err:
            error = err.status
            results.append(MemberResult(info, None, err.status, err.status.message))
            break
        node = result.node
        cache.assume_pod(info, node)
        status = framework.reserve(state, info, node)
        if status.is_success:
            status = framework.permit(state, info, node)
        if not (status.is_success or status.code == Code.WAIT):
            framework.unreserve(state, info, node)
            cache.forget_pod(info.key)
            if not status.is_rejected:
                error = status
                results.append(MemberResult(info, None, status, status.message))
                break
            message = f"0/1 nodes are available: 1 {status.message}."
            plugins = frozenset({status.plugin}) if status.plugin else frozenset()
            results.append(MemberResult(info, None, status, message, plugins, evaluated_nodes=1))
            continue
        placed.append((info, state, node))
        results.append(
            MemberResult(
                info,
                node,
                evaluated_nodes=result.evaluated_nodes,
                feasible_nodes=result.feasible_nodes,
                state=state,
            )
        )
    count = already_placed + len(placed)
    blocking = next((m for m in results if m.node is None), None)
    if error is not None:
        outcome = Status.error(f"failed to schedule other pod from a pod group: {error.message}")
    elif gang.min_count is not None and count < gang.min_count:
        outcome = Status.unschedulable(_quorum_message(gang, count, blocking))
    else:
        outcome = SUCCESS
    if not (bind and outcome.is_success):
        for info, state, node in reversed(placed):
            framework.unreserve(state, info, node)
            cache.forget_pod(info.key)
        return GangPlacement(gang, tuple(results), already_placed, outcome)
    by_key = {m.key: i for i, m in enumerate(results)}
    for info, state, node in placed:
        status = framework.bind(state, info, node)
        if status.is_success:
            continue
        # Each member binds on its own, as upstream's binding cycles do: a failed binding
        # sends that pod back, the others stay (the quorum was met when they were placed).
        framework.unreserve(state, info, node)
        cache.forget_pod(info.key)
        results[by_key[info.key]] = MemberResult(info, None, status, status.message)
    return GangPlacement(gang, tuple(results), already_placed, outcome, bound=True)
