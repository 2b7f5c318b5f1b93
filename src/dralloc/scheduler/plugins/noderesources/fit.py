"""`NodeResourcesFit` (PreFilter, Filter, PreScore, Score; spec/scheduler.md 4.2-4.4).

* PreFilter stores the pod's requests (section 4.2, `PodInfo.requests`: requests defaulted
  from limits, init containers and sidecars per KEP-753, pod-level requests, overhead) in the
  cycle state.
* Filter collects one reason per failing check, in this order: `Too many pods` (checked even
  for a pod that requests nothing, which stops there); `Insufficient cpu`, `memory`,
  `ephemeral-storage`; then each scalar resource by name (`Insufficient nvidia.com/gpu`),
  skipping extended resources listed in `ignoredResources` or in a domain of
  `ignoredResourceGroups`. A request larger than the node's whole allocatable makes the
  status UnschedulableAndUnresolvable (preemption cannot help), otherwise Unschedulable.
* Extended resources backed by DRA (KEP-5004, `DRAExtendedResource`, beta and on in 1.36):
  given a `DeviceClassResolver`, Filter leaves to DynamicResources every extended resource a
  DeviceClass maps on a node whose allocatable does not publish it, or publishes 0
  (upstream's `shouldDelegateResourceToDRA`); a node publishing an amount keeps the device
  plugin's check. Without a resolver (the gate off) every extended resource is checked here.
* Score ranks by `scoringStrategy` (LeastAllocated, MostAllocated or
  RequestedToCapacityRatio) over its resources, with non-zero requests for cpu and memory
  on both the pod and the node side (see `scoring`).

Not yet: scoring a DRA-backed extended resource listed in `scoringStrategy.resources` (1.36
counts the node's matching devices as its allocatable); such a resource scores 0 here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dralloc.scheduler.framework import (
    SUCCESS,
    ClusterEventWithHint,
    CycleState,
    NodeInfo,
    PodInfo,
    PreFilterResult,
    Resources,
    Status,
)
from dralloc.scheduler.framework.interface import DeviceClassResolver
from dralloc.scheduler.framework.nodeinfo import CPU, EPHEMERAL_STORAGE, MEMORY
from dralloc.scheduler.plugins.helper import ASSIGNED_POD_DELETE, node_events
from dralloc.scheduler.plugins.noderesources.args import (
    MAX_CUSTOM_PRIORITY_SCORE,
    NodeResourcesFitArgs,
    ScoringStrategyType,
    checked_problems,
)
from dralloc.scheduler.plugins.noderesources.scoring import (
    MAX_NODE_SCORE,
    allocatable_and_requested,
    is_extended_resource_name,
    is_scalar_resource_name,
    least_allocated,
    most_allocated,
    requested_to_capacity_ratio,
)

NAME = "NodeResourcesFit"
REASON_TOO_MANY_PODS = "Too many pods"
PODS = "pods"
_PRE_FILTER_KEY = f"PreFilter{NAME}"
_PRE_SCORE_KEY = f"PreScore{NAME}"


def insufficient(resource: str) -> str:
    """The Filter reason for one resource: `Insufficient cpu`, `Insufficient nvidia.com/gpu`."""
    return f"Insufficient {resource}"


@dataclass(frozen=True)
class _PreFilterState:
    requests: Resources
    scalars: tuple[tuple[str, int], ...] = ()  # requested scalar resources Filter checks
    # Those of `scalars` a DeviceClass maps: left to DynamicResources on a node that does
    # not publish them.
    dra_backed: frozenset[str] = frozenset()

    def checked_on(self, allocatable: Mapping[str, int]) -> tuple[tuple[str, int], ...]:
        """`scalars` without the DRA-backed resources the node's `allocatable` lacks."""
        if not self.dra_backed:
            return self.scalars
        return tuple(
            (name, amount)
            for name, amount in self.scalars
            if name not in self.dra_backed or allocatable.get(name, 0) > 0
        )


@dataclass(frozen=True)
class _PreScoreState:
    requests: tuple[int, ...]  # aligned with the strategy's resources


@dataclass(frozen=True)
class InsufficientResource:
    """One failed check: the resource, the reason, and whether no amount of preemption helps."""

    resource: str
    reason: str
    requested: int
    used: int
    capacity: int
    unresolvable: bool


class NodeResourcesFit:
    """Checks that the pod's requests fit the node's free allocatable, and scores by usage.

    >>> args = NodeResourcesFitArgs.from_dict({"ignoredResourceGroups": ["example.com"]})
    >>> NodeResourcesFit(args).name
    'NodeResourcesFit'
    """

    name = NAME
    # Filter and Score read only the pod and this node (the framework may remember them).
    node_local = True

    def __init__(
        self,
        args: NodeResourcesFitArgs | None = None,
        device_classes: DeviceClassResolver | None = None,
    ) -> None:
        self.args = args or NodeResourcesFitArgs()
        # Which DeviceClass maps an extended resource (None: DRAExtendedResource is off).
        self.device_classes = device_classes
        checked_problems(self.args.problems())
        strategy = self.args.scoring_strategy
        self._resources = tuple(spec.name for spec in strategy.resources)
        self._weights = tuple(spec.weight for spec in strategy.resources)
        ratio = strategy.requested_to_capacity_ratio
        # Shape scores are 0..10 in the config and 0..100 when scoring.
        scale = MAX_NODE_SCORE // MAX_CUSTOM_PRIORITY_SCORE
        self._shape = tuple(
            (point.utilization, point.score * scale) for point in (ratio.shape if ratio else ())
        )
        self._ignored = frozenset(self.args.ignored_resources)
        self._ignored_groups = frozenset(self.args.ignored_resource_groups)
        self._statuses: dict[tuple[tuple[str, ...], bool], Status] = {}

    # ------------------------------------------------------------------ filtering

    def events_to_register(self) -> Sequence[ClusterEventWithHint]:
        """A pod that ran somewhere left or shrank (upstream: AssignedPodDelete,
        UpdatePodScaleDown), or a node was added or grew and the pod fits it now (upstream:
        Node/Add|UpdateNodeAllocatable|UpdateNodeLabel|UpdateNodeTaint)."""
        return (
            ASSIGNED_POD_DELETE,
            node_events("Add|UpdateNodeAllocatable|UpdateNodeLabel|UpdateNodeTaint", self),
        )

    def pre_filter(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> tuple[PreFilterResult | None, Status]:
        requests = pod.requests
        scalars = self._checked_scalars(requests)
        state.write(_PRE_FILTER_KEY, _PreFilterState(requests, scalars, self._dra_backed(scalars)))
        return None, SUCCESS

    def _checked_scalars(self, requests: Resources) -> tuple[tuple[str, int], ...]:
        return tuple(
            sorted(
                (name, amount)
                for name, amount in requests.scalars.items()
                if amount and is_scalar_resource_name(name) and not self._is_ignored(name)
            )
        )

    def _dra_backed(self, scalars: tuple[tuple[str, int], ...]) -> frozenset[str]:
        classes = self.device_classes
        if classes is None:
            return frozenset()
        return frozenset(name for name, _ in scalars if classes.device_class(name) is not None)

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        pre = state.read(_PRE_FILTER_KEY, _PreFilterState)
        requests = pre.requests
        alloc, used = node.allocatable, node.requested
        scalars = pre.checked_on(alloc.scalars)
        # Everything fits (the common answer, asked for every node of every pod): no list of
        # failures to build. Anything else takes the full check, which names every reason.
        if (
            len(node.pods) < alloc.pods
            and requests.milli_cpu <= alloc.milli_cpu - used.milli_cpu
            and requests.memory <= alloc.memory - used.memory
            and requests.ephemeral_storage <= alloc.ephemeral_storage - used.ephemeral_storage
            and all(
                amount <= alloc.scalars.get(name, 0) - used.scalars.get(name, 0)
                for name, amount in scalars
            )
        ):
            return SUCCESS
        failures = self._failed_checks(requests, scalars, node)
        if not failures:
            return SUCCESS
        # Few distinct answers over many nodes: one Status object each.
        reasons = tuple(
            REASON_TOO_MANY_PODS if name == PODS else insufficient(name) for name, *_ in failures
        )
        unresolvable = any(want > capacity for name, want, _, capacity in failures if name != PODS)
        status = self._statuses.get((reasons, unresolvable))
        if status is None:
            status = (
                Status.unresolvable(*reasons) if unresolvable else Status.unschedulable(*reasons)
            ).stamped(self.name)  # as the framework stamps it: one object, shared as it is
            self._statuses[(reasons, unresolvable)] = status
        return status

    def _is_ignored(self, resource: str) -> bool:
        if not is_extended_resource_name(resource):
            return False
        return resource in self._ignored or resource.split("/", 1)[0] in self._ignored_groups

    def insufficient_resources(
        self, requests: Resources, node: NodeInfo
    ) -> list[InsufficientResource]:
        """Every check the pod fails on `node` (upstream's `fitsRequest`), in reason order."""
        checked = self._checked_scalars(requests)
        scalars = _PreFilterState(requests, checked, self._dra_backed(checked)).checked_on(
            node.allocatable.scalars
        )
        return [
            InsufficientResource(
                name,
                REASON_TOO_MANY_PODS if name == PODS else insufficient(name),
                want,
                have_used,
                capacity,
                name != PODS and want > capacity,
            )
            for name, want, have_used, capacity in self._failed_checks(requests, scalars, node)
        ]

    @staticmethod
    def _failed_checks(
        requests: Resources, scalars: tuple[tuple[str, int], ...], node: NodeInfo
    ) -> list[tuple[str, int, int, int]]:
        """(resource, requested, used, capacity) of each failed check, in reason order;
        `scalars` are the requested scalar resources checked, sorted by name."""
        alloc, used = node.allocatable, node.requested
        failures = []
        if len(node.pods) + 1 > alloc.pods:
            failures.append((PODS, 1, len(node.pods), alloc.pods))
        if not (requests.milli_cpu or requests.memory or requests.ephemeral_storage or scalars):
            return failures
        checks = [
            (CPU, requests.milli_cpu, used.milli_cpu, alloc.milli_cpu),
            (MEMORY, requests.memory, used.memory, alloc.memory),
            (
                EPHEMERAL_STORAGE,
                requests.ephemeral_storage,
                used.ephemeral_storage,
                alloc.ephemeral_storage,
            ),
        ]
        checks += [
            (name, amount, used.scalars.get(name, 0), alloc.scalars.get(name, 0))
            for name, amount in scalars
        ]
        failures += [check for check in checks if check[1] > 0 and check[1] > check[3] - check[2]]
        return failures

    # -------------------------------------------------------------------- scoring

    def _pod_requests(self, pod: PodInfo) -> tuple[int, ...]:
        # Non-zero requests: a container without a cpu or memory request counts 100m / 200Mi.
        return tuple(pod.scoring_requests.get(name) for name in self._resources)

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status:
        state.write(_PRE_SCORE_KEY, _PreScoreState(self._pod_requests(pod)))
        return SUCCESS

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> tuple[int, Status]:
        # Upstream computes the requests here when PreScore did not run.
        pre = state.get(_PRE_SCORE_KEY, _PreScoreState)
        pod_requests = pre.requests if pre is not None else self._pod_requests(pod)
        requested: list[int] = []
        allocatable: list[int] = []
        for name, pod_request in zip(self._resources, pod_requests, strict=True):
            alloc, req = allocatable_and_requested(node, name, pod_request, use_requested=False)
            allocatable.append(alloc)
            requested.append(req if alloc else 0)
        strategy = self.args.scoring_strategy.type
        if strategy == ScoringStrategyType.MOST_ALLOCATED:
            return most_allocated(requested, allocatable, self._weights), SUCCESS
        if strategy == ScoringStrategyType.REQUESTED_TO_CAPACITY_RATIO:
            value = requested_to_capacity_ratio(requested, allocatable, self._weights, self._shape)
            return value, SUCCESS
        return least_allocated(requested, allocatable, self._weights), SUCCESS
