"""`DefaultPreemption` (PostFilter): when no node fits, make room on one by evicting
lower-priority pods (spec/scheduler.md section 5).

1. Eligibility: a pod with `preemptionPolicy: Never` does not preempt; nor does a pod whose
   nominated node still holds a lower-priority pod terminating because of an earlier
   preemption (it waits for its victims to go).
2. Candidates: the nodes whose Filter status was Unschedulable (UnschedulableAndUnresolvable
   and unvisited nodes cannot be helped). From an offset (drawn from `rng`, else 0) the dry
   run selects victims on each (`victims.select_victims_on_node`, on a node copy and a cloned
   cycle state) and stops once it has a budget-respecting candidate and `num_candidates` in
   all. Sequential, so deterministic.
3. The best candidate by upstream's tie-break sequence (`candidates.py`).
4. Actuation through the `Evictor` the scheduler supplies: it deletes the victims (and the
   claims only they held are deallocated) and records why. The pod gets the node as its
   nominated node; the cycle still ends unschedulable and the caller retries the pod.

No candidate: Unschedulable with a FitError message over the dry run
(`preemption: 0/N nodes are available: ...`) and the nominated node cleared. Every message is
prefixed `preemption: `, as upstream.

PodDisruptionBudgets: the dry run lists them once per call (`budgets`, upstream's
getPodDisruptionBudgets from the PDB lister; none without one) and every node's victim
selection reprieves the pods a budget protects first (`victims.py`); candidates that violate no
budget come first, and the choice prefers the fewest violations (`candidates.py`). Their
`status` is used as the API server holds it; budgets given without one (offline manifests) get
the status the disruption controller would compute (`disruption.py`, wired by the builder).

Not modelled: extenders, nominated pods of other preemptors (dralloc keeps no nominator, so
none are filtered with, and none have their nomination cleared), async preemption (victims go
at once).

What-if node copies get generations no real node ever has (negative, unique per copy): plugins
remember per-node results by (node, generation), and a copy must not pass for the node in any
state, past or future.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from dralloc.errors import DrallocError, InternalError
from dralloc.scheduler.framework import (
    SUCCESS,
    Code,
    CycleState,
    Diagnosis,
    FitError,
    Handle,
    NodeInfo,
    PodInfo,
    Status,
)
from dralloc.scheduler.plugins.defaultpreemption.args import DefaultPreemptionArgs, checked
from dralloc.scheduler.plugins.defaultpreemption.budgets import (
    DisruptionBudgetLister,
    no_budgets,
)
from dralloc.scheduler.plugins.defaultpreemption.candidates import (
    Candidate,
    num_candidates,
    pick_one_node_for_preemption,
)
from dralloc.scheduler.plugins.defaultpreemption.groups import (
    GroupVictims,
    VictimUnit,
    select_victims_on_domain,
)
from dralloc.scheduler.plugins.defaultpreemption.pods import (
    PREEMPT_NEVER,
    is_terminating_by_preemption,
    nominated_node_name,
    preemption_policy,
)
from dralloc.scheduler.plugins.defaultpreemption.victims import (
    can_preempt,
    select_victims_on_node,
)

NAME = "DefaultPreemption"
PREFIX = "preemption: "
NO_VICTIMS = "No preemption victims found for incoming pod"
NOT_HELPFUL = "Preemption is not helpful for scheduling"
NOT_ELIGIBLE_NEVER = "not eligible due to preemptionPolicy=Never."
NOT_ELIGIBLE_TERMINATING = "not eligible due to a terminating pod on the nominated node."
# A what-if copy's generation: far below 0, one stride per copy (a dry run changes a copy's
# generation once per pod taken off or put back, far fewer than a stride).
_WHAT_IF_GENERATIONS = -(1 << 62)
_WHAT_IF_STRIDE = 1 << 24

NodeLister = Callable[[], Sequence[NodeInfo]]
"""The cycle's nodes, as the framework got them (upstream's snapshot lister)."""


def disruption_message(scheduler_name: str) -> str:
    """The message of the DisruptionTarget condition a victim gets."""
    return f"{scheduler_name}: preempting to accommodate a higher priority pod"


@dataclass(frozen=True)
class Eviction:
    """A preemption to carry out: evict `victims` (most important first) from `node_name` so
    that `preemptor` fits there. `message` is the victims' DisruptionTarget condition message.
    """

    preemptor: PodInfo
    node_name: str
    victims: tuple[PodInfo, ...]
    message: str


Evictor = Callable[[Eviction], None]
"""Deletes the victims at once (upstream: condition DisruptionTarget, then DELETE); raising a
DrallocError fails the preemption with an ERROR status."""


class DefaultPreemption:
    """The PostFilter plugin. Needs the framework (`set_handle`), the cycle's nodes and an
    evictor; `budgets` lists the cluster's PodDisruptionBudgets (default: none).

    >>> from dralloc.api.core import Pod
    >>> from dralloc.scheduler.framework import Framework, Profile
    >>> plugin = DefaultPreemption(DefaultPreemptionArgs(), nodes=list, evictor=print)
    >>> _ = Framework(Profile(post_filter=[plugin]))  # the framework hands itself over
    >>> plugin.post_filter(CycleState(), PodInfo.of(Pod()), {})[1].message
    'preemption: 0/0 nodes are available:'
    """

    name = NAME

    def __init__(
        self,
        args: DefaultPreemptionArgs,
        nodes: NodeLister,
        evictor: Evictor,
        rng: random.Random | None = None,
        budgets: DisruptionBudgetLister = no_budgets,
    ) -> None:
        self.args = checked(args)
        self.nodes = nodes
        self.evictor = evictor
        self.rng = rng
        self.budgets = budgets
        self._handle: Handle | None = None
        self._generations = itertools.count(_WHAT_IF_GENERATIONS, _WHAT_IF_STRIDE)

    def set_handle(self, handle: Handle) -> None:
        self._handle = handle

    def post_filter(
        self, state: CycleState, pod: PodInfo, statuses: Mapping[str, Status]
    ) -> tuple[str | None, Status]:
        handle = self._handle
        if handle is None:
            raise InternalError(f"{NAME} runs only under a Framework (it was given no handle)")
        nodes = self.nodes()
        refusal = self._ineligibility(pod, statuses, nodes)
        if refusal:
            return None, Status.unschedulable(PREFIX + refusal)
        candidates, failures, errors = self._find_candidates(handle, state, pod, nodes, statuses)
        if not candidates:
            if errors:
                return None, Status.error(PREFIX + _aggregate(errors))
            diagnosis = Diagnosis(node_statuses=failures, absent=Status.unresolvable(NOT_HELPFUL))
            message = FitError(pod, len(nodes), diagnosis).message
            return "", Status.unschedulable(PREFIX + message)
        best = pick_one_node_for_preemption(candidates)
        eviction = Eviction(
            pod, best.node_name, best.victims, disruption_message(handle.profile_name)
        )
        try:
            self.evictor(eviction)
        except DrallocError as err:
            return None, Status.error(f"{PREFIX}evicting victims on node {best.node_name}: {err}")
        return best.node_name, SUCCESS

    # ------------------------------------------------------- a pod group as preemptor

    def select_group_victims(
        self,
        preemptor: Sequence[PodInfo],
        priority: int,
        units: Sequence[VictimUnit],
        remove: Callable[[VictimUnit], None],
        add: Callable[[VictimUnit], None],
        fits: Callable[[], Status],
    ) -> tuple[GroupVictims | None, Status]:
        """Workload-aware preemption's victim search for the pods of one group
        (`groups.py`; upstream's PodGroupPostFilter, before actuation): Unschedulable
        `not eligible due to preemptionPolicy=Never.` when any member says Never, else
        `select_victims_on_domain` with this plugin's PodDisruptionBudgets. Messages carry
        no "preemption: " prefix (upstream appends the group's status as is)."""
        if any(preemption_policy(p.pod) == PREEMPT_NEVER for p in preemptor):
            return None, Status.unschedulable(NOT_ELIGIBLE_NEVER)
        return select_victims_on_domain(priority, units, self.budgets(), remove, add, fits)

    def evict_group_victims(
        self, preemptor: PodInfo, victims: GroupVictims, node_of: Mapping[str, str]
    ) -> Status:
        """Carry out a group preemption: one `Eviction` per node, in node-name order, its
        victims most important first; `node_of` maps each victim's key to its node."""
        by_node: dict[str, list[PodInfo]] = {}
        for pod in victims.pods:
            by_node.setdefault(node_of[pod.key], []).append(pod)
        profile = self._handle.profile_name if self._handle is not None else ""
        message = f"{profile}: preempting to accommodate a higher priority podgroup"
        for node_name in sorted(by_node):
            eviction = Eviction(preemptor, node_name, tuple(by_node[node_name]), message)
            try:
                self.evictor(eviction)
            except DrallocError as err:
                return Status.error(f"{PREFIX}evicting victims on node {node_name}: {err}")
        return SUCCESS

    # ------------------------------------------------------------------------ steps

    def _ineligibility(
        self, pod: PodInfo, statuses: Mapping[str, Status], nodes: Sequence[NodeInfo]
    ) -> str:
        """Why the pod may not preempt ("" when it may), section 5.1."""
        if preemption_policy(pod.pod) == PREEMPT_NEVER:
            return NOT_ELIGIBLE_NEVER
        nominated = nominated_node_name(pod.pod)
        if not nominated:
            return ""
        status = statuses.get(nominated)
        if status is None or status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
            return ""  # nothing there can help: the pod may preempt elsewhere
        node = next((n for n in nodes if n.name == nominated), None)
        if node is not None and any(
            can_preempt(pod, other) and is_terminating_by_preemption(other.pod)
            for other in node.pods
        ):
            return NOT_ELIGIBLE_TERMINATING
        return ""

    def _find_candidates(
        self,
        handle: Handle,
        state: CycleState,
        pod: PodInfo,
        nodes: Sequence[NodeInfo],
        statuses: Mapping[str, Status],
    ) -> tuple[list[Candidate], dict[str, Status], list[str]]:
        """The dry run (section 5.2): candidates (budget-respecting first), the status of
        every node tried without success, and the errors among them."""
        potential = [
            node
            for node in nodes
            if (status := statuses.get(node.name)) is not None and status.code == Code.UNSCHEDULABLE
        ]
        failures: dict[str, Status] = {}
        errors: list[str] = []
        if not potential:
            return [], failures, errors
        budgets = self.budgets()
        wanted = num_candidates(self.args, len(potential))
        offset = self.rng.randrange(len(potential)) if self.rng is not None else 0
        respecting: list[Candidate] = []
        violating: list[Candidate] = []
        for i in range(len(potential)):
            node = potential[(offset + i) % len(potential)]
            victims = [other for other in node.pods if can_preempt(pod, other)]
            if not victims:
                failures[node.name] = Status.unresolvable(NO_VICTIMS)
                continue
            found, status = select_victims_on_node(
                handle, state.clone(), pod, self._what_if_copy(node), victims, budgets
            )
            if found is not None and not found.pods:
                # Filters that reject the pod on the node as it is yet accept it with every
                # victim back: upstream reports it as an error.
                found = None
                status = Status.error(f'expected at least one victim pod on node "{node.name}"')
            if found is None:
                if status.code == Code.ERROR:
                    errors.append(status.message)
                failures[node.name] = status
                continue
            candidate = Candidate(node.name, found.pods, found.pdb_violations)
            (violating if found.pdb_violations else respecting).append(candidate)
            if respecting and len(respecting) + len(violating) >= wanted:
                break
        return respecting + violating, failures, errors

    def _what_if_copy(self, node: NodeInfo) -> NodeInfo:
        copy = node.copy()
        copy.generation = next(self._generations)
        return copy


def _aggregate(errors: Sequence[str]) -> str:
    """Several errors as upstream aggregates them: one as is, more in brackets."""
    return errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"
