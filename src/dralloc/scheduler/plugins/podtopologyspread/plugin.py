"""`PodTopologySpread` (PreFilter, Filter, PreScore, Score, NormalizeScore; spec/scheduler.md
section 4.8).

* Constraints: the pod's `topologySpreadConstraints`, or, for a pod with none, the profile's
  default constraints (`PodTopologySpreadArgs`) spreading it by its owners' selector
  (`OwnerSelectors`; no known owner, no defaults). DoNotSchedule constraints filter,
  ScheduleAnyway ones score.
* PreFilter SKIPs a pod without hard constraints. Otherwise it counts, per constraint and
  domain, the matching pods (same namespace, selector matches, not being deleted) on the
  eligible nodes: those with every topology key that pass the constraint's inclusion
  policies.
* Filter: a node missing a topology key is UnschedulableAndUnresolvable
  `node(s) didn't match pod topology spread constraints (missing required label)`; a node
  where `count(domain) + self_match - global_min > maxSkew` is Unschedulable
  `node(s) didn't match pod topology spread constraints`. `global_min` is the fewest matching
  pods of any eligible domain, or 0 while fewer than `minDomains` domains exist.
* PreScore SKIPs a pod without soft constraints. Score sums, over the constraints whose key
  the node has, `count * ln(domains + 2) + maxSkew - 1` (domains: the feasible nodes' distinct
  values; for the hostname key, the feasible nodes; the count for the hostname key is the
  node's own), rounded half away from zero. With explicit constraints (or List defaults) a
  feasible node lacking any key scores 0; System defaults let such nodes score by the keys
  they have. NormalizeScore: `100 * (max + min - s) // max` (100 everywhere when max is 0),
  ignored nodes 0.

Not node-local: a node's answer depends on the pods of other nodes. PreFilterExtensions keep
the counts right in preemption's dry run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from dralloc.api.core import Pod
from dralloc.scheduler.framework import (
    SUCCESS,
    ClusterEvent,
    ClusterEventWithHint,
    CycleState,
    NodeInfo,
    PodInfo,
    PreFilterResult,
    QueueingHint,
    Status,
)
from dralloc.scheduler.framework.events import NODE, POD
from dralloc.scheduler.framework.labels import SelectorError
from dralloc.scheduler.plugins.helper.listers import NodeLister
from dralloc.scheduler.plugins.helper.nodeselector import required_node_affinity
from dralloc.scheduler.plugins.podtopologyspread.args import (
    DO_NOT_SCHEDULE,
    LABEL_HOSTNAME,
    SCHEDULE_ANYWAY,
    DefaultingType,
    PodTopologySpreadArgs,
    checked,
)
from dralloc.scheduler.plugins.podtopologyspread.constraints import (
    HONOR,
    Constraint,
    OwnerSelectors,
    compile_constraints,
    count_matching,
    default_selector,
    has_all_keys,
)
from dralloc.scheduler.plugins.podtopologyspread.state import (
    CriticalPaths,
    PreFilterState,
    PreScoreState,
)

NAME = "PodTopologySpread"
REASON_CONSTRAINTS_NOT_MATCH = "node(s) didn't match pod topology spread constraints"
REASON_NODE_LABEL_NOT_MATCH = f"{REASON_CONSTRAINTS_NOT_MATCH} (missing required label)"
_PRE_FILTER_KEY = f"PreFilter{NAME}"
_PRE_SCORE_KEY = f"PreScore{NAME}"
_MAX_NODE_SCORE = 100


def _round(value: float) -> int:
    """Go's `math.Round` for the non-negative sums here: halves away from zero."""
    return math.floor(value + 0.5)


class PodTopologySpread:
    """Spreads pods over topology domains.

    >>> from dralloc.api.core import Pod
    >>> PodTopologySpread().pre_filter(CycleState(), PodInfo.of(Pod()), [])[1].code.name
    'SKIP'
    """

    name = NAME
    # A node's verdict depends on the pods of every node in its domains.
    node_local = False

    def __init__(
        self,
        args: PodTopologySpreadArgs | None = None,
        nodes: NodeLister | None = None,
        owners: OwnerSelectors | None = None,
    ) -> None:
        self.args = checked(args or PodTopologySpreadArgs())
        self._defaults = self.args.constraints
        self._system_defaulted = self.args.defaulting_type == DefaultingType.SYSTEM
        self._nodes = nodes
        self._owners = owners

    # ------------------------------------------------------------------ constraints

    def constraints(self, pod: Pod, action: str) -> tuple[Constraint, ...]:
        """The pod's compiled constraints whose `whenUnsatisfiable` is `action`: its own, or
        the defaults with its owners' selector. SelectorError when a selector is invalid."""
        if pod.spec.topology_spread_constraints:
            return compile_constraints(
                pod.spec.topology_spread_constraints, pod.metadata.labels, action
            )
        if not self._defaults or not any(c.when_unsatisfiable == action for c in self._defaults):
            return ()
        selector = default_selector(pod, self._owners)
        if selector.is_empty:
            return ()
        compiled = compile_constraints(self._defaults, pod.metadata.labels, action, "defaults")
        return tuple(
            Constraint(
                c.max_skew,
                c.topology_key,
                selector,
                c.min_domains,
                c.node_affinity_policy,
                c.node_taints_policy,
            )
            for c in compiled
        )

    # ------------------------------------------------------------------ filtering

    def pre_filter(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> tuple[PreFilterResult | None, Status]:
        spec = pod.pod.spec
        if not spec.topology_spread_constraints and self._owners is None:
            return None, Status.skip()  # the common case, decided without compiling anything
        try:
            constraints = self.constraints(pod.pod, DO_NOT_SCHEDULE)
        except SelectorError as error:
            return None, Status.error(f"get constraints from pod: {error}")
        if not constraints:
            return None, Status.skip()
        state.write(_PRE_FILTER_KEY, self._pre_filter_state(pod.pod, constraints, nodes))
        return None, SUCCESS

    def _pre_filter_state(
        self, pod: Pod, constraints: tuple[Constraint, ...], nodes: Sequence[NodeInfo]
    ) -> PreFilterState:
        counts: list[dict[str, int]] = [{} for _ in constraints]
        required = required_node_affinity(pod)
        namespace = pod.metadata.namespace
        for node in nodes:
            labels = node.node.metadata.labels
            if not has_all_keys(labels, constraints):
                continue
            for i, c in enumerate(constraints):
                if not c.includes(pod, node.node, required):
                    continue
                value = labels[c.topology_key]
                found = count_matching(node.pods, c.selector, namespace)
                counts[i][value] = counts[i].get(value, 0) + found
        paths = []
        for domain_counts in counts:
            critical = CriticalPaths()
            for value, num in domain_counts.items():
                critical.update(value, num)
            paths.append(critical)
        return PreFilterState(constraints, counts, paths)

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        pre = state.get(_PRE_FILTER_KEY, PreFilterState)
        if pre is None:  # PreFilter not enabled: upstream's error
            return Status.error(f"reading {_PRE_FILTER_KEY!r} from cycleState: not found")
        labels = node.node.metadata.labels
        pod_labels = pod.pod.metadata.labels
        for i, c in enumerate(pre.constraints):
            value = labels.get(c.topology_key)
            if value is None:
                return Status.unresolvable(REASON_NODE_LABEL_NOT_MATCH)
            self_match = 1 if c.selector.matches(pod_labels) else 0
            skew = pre.counts[i].get(value, 0) + self_match - pre.min_match(i)
            if skew > c.max_skew:
                return Status.unschedulable(REASON_CONSTRAINTS_NOT_MATCH)
        return SUCCESS

    def add_pod(self, state: CycleState, pod: PodInfo, added: PodInfo, node: NodeInfo) -> Status:
        self._update_with_pod(state, pod, added, node, 1)
        return SUCCESS

    def remove_pod(
        self, state: CycleState, pod: PodInfo, removed: PodInfo, node: NodeInfo
    ) -> Status:
        self._update_with_pod(state, pod, removed, node, -1)
        return SUCCESS

    @staticmethod
    def _update_with_pod(
        state: CycleState, pod: PodInfo, changed: PodInfo, node: NodeInfo, delta: int
    ) -> None:
        pre = state.get(_PRE_FILTER_KEY, PreFilterState)
        if pre is None or changed.pod.metadata.namespace != pod.pod.metadata.namespace:
            return
        labels = node.node.metadata.labels
        if not has_all_keys(labels, pre.constraints):
            return
        required = required_node_affinity(pod.pod)
        changed_labels = changed.pod.metadata.labels
        for i, c in enumerate(pre.constraints):
            if not c.selector.matches(changed_labels):
                continue
            if not c.includes(pod.pod, node.node, required):
                continue
            value = labels[c.topology_key]
            pre.counts[i][value] = pre.counts[i].get(value, 0) + delta
            pre.paths[i].update(value, pre.counts[i][value])

    # ------------------------------------------------------------------ scoring

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status:
        spec = pod.pod.spec
        if not spec.topology_spread_constraints and self._owners is None:
            return Status.skip()
        all_nodes = self._nodes() if self._nodes is not None else nodes
        if not all_nodes:
            return Status.skip()
        try:
            constraints = self.constraints(pod.pod, SCHEDULE_ANYWAY)
        except SelectorError as error:
            return Status.error(f"calculating preScoreState: {error}")
        if not constraints:
            return Status.skip()
        # Only the System defaults let a node lacking some key score by the keys it has.
        require_all = bool(spec.topology_spread_constraints) or not self._system_defaulted
        counts: list[dict[str, int]] = [{} for _ in constraints]
        ignored: set[str] = set()
        for node in nodes:
            labels = node.node.metadata.labels
            if require_all and not has_all_keys(labels, constraints):
                ignored.add(node.name)
                continue
            for i, c in enumerate(constraints):
                if c.topology_key != LABEL_HOSTNAME:
                    counts[i].setdefault(labels.get(c.topology_key, ""), 0)
        weights = tuple(
            math.log(
                (len(nodes) - len(ignored) if c.topology_key == LABEL_HOSTNAME else len(counts[i]))
                + 2
            )
            for i, c in enumerate(constraints)
        )
        required = required_node_affinity(pod.pod)
        namespace = pod.pod.metadata.namespace
        for node in all_nodes:
            labels = node.node.metadata.labels
            if require_all and not has_all_keys(labels, constraints):
                continue
            for i, c in enumerate(constraints):
                if not c.includes(pod.pod, node.node, required):
                    continue
                value = labels.get(c.topology_key, "")
                domain = counts[i]
                if value not in domain:  # not a domain of a feasible node (or hostname)
                    continue
                domain[value] += count_matching(node.pods, c.selector, namespace)
        state.write(_PRE_SCORE_KEY, PreScoreState(constraints, frozenset(ignored), counts, weights))
        return SUCCESS

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> tuple[int, Status]:
        pre = state.get(_PRE_SCORE_KEY, PreScoreState)
        if pre is None:  # PreScore not enabled: upstream's error
            return 0, Status.error(f"reading {_PRE_SCORE_KEY!r} from cycleState: not found")
        if node.name in pre.ignored:
            return 0, SUCCESS
        labels = node.node.metadata.labels
        namespace = pod.pod.metadata.namespace
        total = 0.0
        for i, c in enumerate(pre.constraints):
            value = labels.get(c.topology_key)
            if value is None:
                continue
            if c.topology_key == LABEL_HOSTNAME:
                count = count_matching(node.pods, c.selector, namespace)
            else:
                count = pre.counts[i].get(value, 0)
            total += count * pre.weights[i] + (c.max_skew - 1)
        return _round(total), SUCCESS

    def normalize_scores(self, state: CycleState, pod: PodInfo, scores: dict[str, int]) -> Status:
        pre = state.get(_PRE_SCORE_KEY, PreScoreState)
        if pre is None:
            return SUCCESS
        ignored = pre.ignored
        counted = [value for name, value in scores.items() if name not in ignored]
        low = min(counted, default=0)
        high = max(counted, default=0)
        for name, value in scores.items():
            if name in ignored:
                scores[name] = 0
            elif high == 0:
                scores[name] = _MAX_NODE_SCORE
            else:
                scores[name] = _MAX_NODE_SCORE * (high + low - value) // high
        return SUCCESS

    # ------------------------------------------------------------------ requeueing

    def events_to_register(self) -> Sequence[ClusterEventWithHint]:
        """A pod added, relabelled or deleted that a hard constraint of the pod selects (in
        its namespace); a node added or deleted with every topology key, or whose topology
        labels (or, for a constraint honouring taints, taints) changed."""
        return (
            ClusterEventWithHint(
                ClusterEvent(POD, "Add|UpdatePodLabel|Delete"), self._after_pod_change
            ),
            ClusterEventWithHint(
                ClusterEvent(NODE, "Add|Delete|UpdateNodeLabel|UpdateNodeTaint"),
                self._after_node_change,
            ),
        )

    def _hard(self, pod: PodInfo) -> tuple[Constraint, ...]:
        try:
            return self.constraints(pod.pod, DO_NOT_SCHEDULE)
        except SelectorError:
            return ()

    def _after_pod_change(
        self, pod: PodInfo, old: object | None, new: object | None
    ) -> QueueingHint:
        constraints = self._hard(pod)
        namespace = pod.pod.metadata.namespace
        for changed in (old, new):
            if not isinstance(changed, PodInfo) or changed.key == pod.key:
                continue
            meta = changed.pod.metadata
            if meta.namespace == namespace and any(
                c.selector.matches(meta.labels) for c in constraints
            ):
                return QueueingHint.QUEUE
        return QueueingHint.QUEUE_SKIP

    def _after_node_change(
        self, pod: PodInfo, old: object | None, new: object | None
    ) -> QueueingHint:
        constraints = self._hard(pod)
        if not constraints:
            return QueueingHint.QUEUE_SKIP
        before = old.node if isinstance(old, NodeInfo) else None
        after = new.node if isinstance(new, NodeInfo) else None
        if before is None or after is None:
            present = after or before
            if present is not None and has_all_keys(present.metadata.labels, constraints):
                return QueueingHint.QUEUE
            return QueueingHint.QUEUE_SKIP
        old_labels, new_labels = before.metadata.labels, after.metadata.labels
        if any(
            old_labels.get(c.topology_key) != new_labels.get(c.topology_key) for c in constraints
        ):
            return QueueingHint.QUEUE
        if before.spec.taints != after.spec.taints and any(
            c.node_taints_policy == HONOR for c in constraints
        ):
            return QueueingHint.QUEUE
        return QueueingHint.QUEUE_SKIP
