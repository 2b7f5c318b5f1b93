"""cluster-autoscaler's remembered what-ifs: the planning snapshot of the last loop, and the
last scale-down's removal simulation, kept while their inputs stay the same (speed-ups;
`ClusterAutoscaler.remember_planning`, `ClusterAutoscaler.remember_removals`).

Owns one `RememberedPlan`, the last loop's snapshot after its pending pods and buffer chunks
were placed on it, with what that placing found (`PlanMemo`), and the last scale-down's
outcome per underutilized candidate (`RemovalMemo`). Pure bookkeeping, no I/O.

Why it is exact. A loop's planning (`PlanningSnapshot.of` plus one template copy per
upcoming node, then the pending pods placed in turn, then the buffer chunks) is a function of
its inputs alone: the cluster's objects in their order, the upcoming nodes (name and shape,
in order), the nodes left out (upcoming and leaving), the pending pods with their `since`,
and the buffer chunks. Every snapshot is built with the autoscaler's own seed, so two builds
from equal inputs place every pod on the same node. The rest of the loop only reads the
snapshot (scale-up forks it, scale-down reads where the held chunks went), so the snapshot
left by one loop is the one the next loop would build from the same inputs. A loop that books
ProvisioningRequests changes its snapshot later on, and is neither remembered nor served.

The removal simulation (scale-down's step 2: can each candidate's pods move, a removable
node staying removed for the next) is likewise a function of the cluster's objects, the nodes
left out and the candidates in order; the time only decides what is done with its outcome
(timers, cooldowns, rechecks), which `scale_down` still does each loop. While a node waits
out `scaleDownUnneededTime` (10 min: 60 loops) nothing else usually changes.

Keyed on: `PlanInputs`, compared element by element (`is` or `==`: msgspec structs are
replaced, never mutated, and the replay builds its pods afresh each loop, equal by value).
Invalidated by any change of those inputs; bounded at one plan. Read only by the
`ClusterAutoscaler` that owns it. In a replay, a pod waiting for an upcoming node keeps the
loop running every `scanInterval` with the same inputs until the node is ready: those loops
skip the build and the placements (about nine loops in ten on a month of ITP jobs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dralloc.api.core import Pod
from dralloc.autoscaling.decisions import BlockingPodReason, UnremovableReason
from dralloc.autoscaling.planning import ClusterState, PlanningSnapshot
from dralloc.autoscaling.virtualpods import VirtualPod

if TYPE_CHECKING:
    from dralloc.autoscaling.clusterautoscaler import FleetView, UnschedulablePod


def same_items(a: Sequence[object], b: Sequence[object]) -> bool:
    """Equal length and each pair the same object or equal."""
    return len(a) == len(b) and all(x is y or x == y for x, y in zip(a, b, strict=True))


@dataclass(frozen=True)
class PlanInputs:
    """What one loop's planning depends on (see the module docstring)."""

    state: ClusterState
    upcoming: tuple[tuple[str, str], ...]  # (node, shape), in the view's order
    excluded: frozenset[str]  # upcoming and leaving nodes
    pending: tuple[UnschedulablePod, ...]
    buffer_pods: tuple[VirtualPod, ...]

    @classmethod
    def of(
        cls,
        state: ClusterState,
        view: FleetView,
        pending: Sequence[UnschedulablePod],
        buffer_pods: Sequence[VirtualPod],
    ) -> PlanInputs:
        return cls(
            state,
            tuple((n.name, n.lifecycle.shape) for n in view.upcoming),
            frozenset(n.name for n in (*view.upcoming, *view.leaving)),
            tuple(pending),
            tuple(buffer_pods),
        )

    def matches(self, other: PlanInputs) -> bool:
        if (self.upcoming, self.excluded) != (other.upcoming, other.excluded):
            return False
        return (
            same_items(self.pending, other.pending)
            and same_items(self.buffer_pods, other.buffer_pods)
            and same_state(self.state, other.state)
        )


def same_state(a: ClusterState, b: ClusterState) -> bool:
    """Every object list of `a` and `b` item by item the same or equal."""
    return (
        same_items(a.nodes, b.nodes)
        and same_items(a.slices, b.slices)
        and same_items(a.classes, b.classes)
        and same_items(a.claims, b.claims)
        and same_items(a.pods, b.pods)
        and same_items(a.disruption_budgets, b.disruption_budgets)
        and same_items(a.taint_rules, b.taint_rules)
    )


@dataclass(frozen=True)
class RememberedPlan:
    """A loop's snapshot after its placements: `unplaced` the pending pods that fit on no
    existing or upcoming node (before the `newPodScaleUpDelay` filter, which depends on the
    time), `held` the buffer chunks placed, `buffer_left` those that found no room."""

    snapshot: PlanningSnapshot
    unplaced: tuple[UnschedulablePod, ...]
    held: tuple[VirtualPod, ...]
    buffer_left: tuple[VirtualPod, ...]


@dataclass
class PlanMemo:
    """The last loop's plan and its inputs (one entry). `hits` counts loops served."""

    inputs: PlanInputs | None = None
    plan: RememberedPlan | None = None
    hits: int = field(default=0)

    def recall(self, inputs: PlanInputs) -> RememberedPlan | None:
        """The remembered plan when `inputs` match the last ones, else None (and forget)."""
        if self.inputs is not None and self.plan is not None and self.inputs.matches(inputs):
            self.hits += 1
            return self.plan
        self.forget()
        return None

    def keep(self, inputs: PlanInputs, plan: RememberedPlan) -> None:
        self.inputs, self.plan = inputs, plan

    def forget(self) -> None:
        self.inputs = self.plan = None


@dataclass(frozen=True)
class Removal:
    """One scale-down candidate's simulated removal: `planned` (pod key -> node) when its
    pods can move (empty: nothing to move), else `refusal` (and the pod that blocks it)."""

    planned: Mapping[str, str] = field(default_factory=dict)
    refusal: UnremovableReason | None = None
    blocking: tuple[Pod, BlockingPodReason] | None = None


@dataclass
class RemovalMemo:
    """The last removal simulation and its inputs (one entry). `hits` counts loops served."""

    state: ClusterState | None = None
    leaving: frozenset[str] = frozenset()
    candidates: tuple[str, ...] = ()
    outcomes: tuple[Removal, ...] | None = None
    hits: int = 0

    def recall(
        self, state: ClusterState, leaving: frozenset[str], candidates: tuple[str, ...]
    ) -> tuple[Removal, ...] | None:
        """The remembered outcomes when the inputs match the last ones, else None."""
        if (
            self.outcomes is not None
            and self.state is not None
            and (leaving, candidates) == (self.leaving, self.candidates)
            and same_state(self.state, state)
        ):
            self.hits += 1
            return self.outcomes
        return None

    def keep(
        self,
        state: ClusterState,
        leaving: frozenset[str],
        candidates: tuple[str, ...],
        outcomes: tuple[Removal, ...],
    ) -> None:
        self.state, self.leaving, self.candidates, self.outcomes = (
            state,
            leaving,
            candidates,
            outcomes,
        )
