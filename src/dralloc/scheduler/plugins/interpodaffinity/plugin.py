"""`InterPodAffinity` (PreFilter, Filter, PreScore, Score, NormalizeScore; spec/scheduler.md
section 4.9).

Filter, from counts PreFilter makes over every node (`counts.py`):
* required affinity: the node must carry every term's topology key, and each term's domain
  on the node must hold a pod all the terms select. Exception, so a group whose pods want to
  be together can start: when no pod anywhere is selected and the pod selects itself, any
  node with the keys passes. Else UnschedulableAndUnresolvable
  `node(s) didn't match pod affinity rules`.
* required anti-affinity: no domain of the node (per term) may hold a pod the term selects,
  else Unschedulable `node(s) didn't match pod anti-affinity rules`.
* existing pods' required anti-affinity: no domain of the node may hold a pod whose term
  selects this pod, else Unschedulable `node(s) didn't satisfy existing pods anti-affinity
  rules`.
PreFilter SKIPs when the pod has no required terms and no existing pod's required
anti-affinity selects it; a pod whose terms do not parse is UnschedulableAndUnresolvable
`parsing pod: ...`.

Score: per domain, the weights of the pod's preferred terms selecting pods there (anti-
affinity subtracts), plus, for pods there, `hardPodAffinityWeight` per required affinity
term and the weights of preferred terms that select this pod. A node scores the sum over its
labels' domains; NormalizeScore maps [min, max] onto [0, 100]. Without preferred terms of its
own the pod is weighed against the nodes holding pods with affinity only; PreScore SKIPs
when nothing counts (or, with `ignorePreferredTermsOfExistingPods`, at once).

Namespace labels (for `namespaceSelector`) come from a `NamespaceLabels` lookup: the Namespace
objects the caller knows, and for any other namespace the `kubernetes.io/metadata.name` label
the API server sets. Not node-local: a node's answer depends on other nodes' pods.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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
from dralloc.scheduler.framework.podaffinity import NO_POD_AFFINITY, PodAffinityInfo
from dralloc.scheduler.plugins.helper.listers import (
    NamespaceLabels,
    NodeLister,
    default_namespace_labels,
)
from dralloc.scheduler.plugins.interpodaffinity.args import InterPodAffinityArgs, checked
from dralloc.scheduler.plugins.interpodaffinity.counts import (
    PreFilterState,
    TopologyScores,
    existing_anti_affinity_counts,
    incoming_counts,
    score_existing_pod,
    selects_all,
)
from dralloc.scheduler.plugins.interpodaffinity.index import AffinityNodeIndex

NAME = "InterPodAffinity"
REASON_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"
REASON_AFFINITY = "node(s) didn't match pod affinity rules"
REASON_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
_PRE_FILTER_KEY = f"PreFilter{NAME}"
_PRE_SCORE_KEY = f"PreScore{NAME}"
_MAX_NODE_SCORE = 100


@dataclass(frozen=True)
class _PreScoreState:
    scores: TopologyScores


def _terms(pod: PodInfo) -> PodAffinityInfo:
    return pod.affinity if pod.has_affinity else NO_POD_AFFINITY


class InterPodAffinity:
    """Places pods near or away from other pods.

    >>> from dralloc.api.core import Pod
    >>> InterPodAffinity().pre_filter(CycleState(), PodInfo.of(Pod()), [])[1].code.name
    'SKIP'
    """

    name = NAME
    # A node's verdict depends on the pods of every node in its domains.
    node_local = False

    def __init__(
        self,
        args: InterPodAffinityArgs | None = None,
        nodes: NodeLister | None = None,
        namespace_labels: NamespaceLabels | None = None,
    ) -> None:
        self.args = checked(args or InterPodAffinityArgs())
        self._nodes = nodes
        self._labels = namespace_labels or default_namespace_labels()
        self._index = AffinityNodeIndex()

    # ------------------------------------------------------------------ filtering

    def pre_filter(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> tuple[PreFilterResult | None, Status]:
        terms = _terms(pod)
        if terms.error is not None:
            return None, Status.unresolvable(f"parsing pod: {terms.error}")
        _, with_anti = self._index.refresh(nodes)
        required = terms.required_affinity or terms.required_anti_affinity
        if not with_anti and not required:
            return None, Status.skip()
        existing = existing_anti_affinity_counts(pod.pod, with_anti, self._labels)
        if not existing and not required:
            return None, Status.skip()
        affinity, anti = incoming_counts(terms, nodes, self._labels)
        state.write(_PRE_FILTER_KEY, PreFilterState(pod, terms, existing, affinity, anti))
        return None, SUCCESS

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        pre = state.get(_PRE_FILTER_KEY, PreFilterState)
        if pre is None:
            return Status.error(f"reading {_PRE_FILTER_KEY!r} from cycleState: not found")
        labels = node.node.metadata.labels
        if not self._satisfies_affinity(pre, labels):
            return Status.unresolvable(REASON_AFFINITY)
        if pre.anti_affinity:
            for term in pre.terms.required_anti_affinity:
                value = labels.get(term.topology_key)
                if value is not None and pre.anti_affinity.get((term.topology_key, value), 0) > 0:
                    return Status.unschedulable(REASON_ANTI_AFFINITY)
        if pre.existing_anti:
            existing = pre.existing_anti
            for domain in labels.items():
                if existing.get(domain, 0) > 0:
                    return Status.unschedulable(REASON_EXISTING_ANTI_AFFINITY)
        return SUCCESS

    def _satisfies_affinity(self, pre: PreFilterState, labels: dict[str, str]) -> bool:
        terms = pre.terms.required_affinity
        if not terms:
            return True
        pods_exist = True
        for term in terms:
            value = labels.get(term.topology_key)
            if value is None:
                return False  # every topology key must be on the node
            if pre.affinity.get((term.topology_key, value), 0) <= 0:
                pods_exist = False
        if pods_exist:
            return True
        # The first pod of a group with affinity to itself: nothing matches anywhere yet.
        return not pre.affinity and selects_all(terms, pre.pod.pod, self._labels)

    def add_pod(self, state: CycleState, pod: PodInfo, added: PodInfo, node: NodeInfo) -> Status:
        pre = state.get(_PRE_FILTER_KEY, PreFilterState)
        if pre is not None:
            pre.update_with_pod(added, node.node, self._labels, 1)
        return SUCCESS

    def remove_pod(
        self, state: CycleState, pod: PodInfo, removed: PodInfo, node: NodeInfo
    ) -> Status:
        pre = state.get(_PRE_FILTER_KEY, PreFilterState)
        if pre is not None:
            pre.update_with_pod(removed, node.node, self._labels, -1)
        return SUCCESS

    # ------------------------------------------------------------------ scoring

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status:
        terms = _terms(pod)
        has_preferred = bool(terms.preferred_affinity or terms.preferred_anti_affinity)
        if self.args.ignore_preferred_terms_of_existing_pods and not has_preferred:
            return Status.skip()
        if terms.error is not None:
            # Before the SKIP for nothing to weigh, as upstream parses the pod before it
            # looks at any node (PreFilter rejects such a pod first when it runs).
            return Status.error(f"parsing pod: {terms.error}")
        all_nodes = self._nodes() if self._nodes is not None else nodes
        with_affinity, _ = self._index.refresh(all_nodes)
        if not has_preferred and not with_affinity:
            return Status.skip()  # the common case: nothing anywhere to weigh
        scores: TopologyScores = {}
        touched = False
        weight = self.args.hard_pod_affinity_weight
        for node in all_nodes if has_preferred else with_affinity:
            pods = node.pods if has_preferred else node.pods_with_affinity
            node_scores: TopologyScores = {}
            for existing in pods:
                score_existing_pod(
                    node_scores, pod, terms, existing, node.node, self._labels, weight
                )
            if node_scores:
                touched = True
                for key, by_value in node_scores.items():
                    into = scores.setdefault(key, {})
                    for value, amount in by_value.items():
                        into[value] = into.get(value, 0) + amount
        if not touched:
            return Status.skip()
        state.write(_PRE_SCORE_KEY, _PreScoreState(scores))
        return SUCCESS

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> tuple[int, Status]:
        pre = state.get(_PRE_SCORE_KEY, _PreScoreState)
        if pre is None:
            return 0, Status.error(f"reading {_PRE_SCORE_KEY!r} from cycleState: not found")
        labels = node.node.metadata.labels
        total = 0
        for key, by_value in pre.scores.items():
            value = labels.get(key)
            if value is not None:
                total += by_value.get(value, 0)
        return total, SUCCESS

    def normalize_scores(self, state: CycleState, pod: PodInfo, scores: dict[str, int]) -> Status:
        pre = state.get(_PRE_SCORE_KEY, _PreScoreState)
        if pre is None or not pre.scores or not scores:
            return SUCCESS
        low = min(scores.values())
        spread = max(scores.values()) - low
        for name, value in scores.items():
            scores[name] = (
                int(float(_MAX_NODE_SCORE) * ((value - low) / spread)) if spread > 0 else 0
            )
        return SUCCESS

    # ------------------------------------------------------------------ requeueing

    def events_to_register(self) -> Sequence[ClusterEventWithHint]:
        """A pod added, relabelled or deleted that the pod's required terms select, or whose
        required anti-affinity selected the pod; a node added, or relabelled in a topology
        key of the pod's terms."""
        return (
            ClusterEventWithHint(
                ClusterEvent(POD, "Add|UpdatePodLabel|Delete"), self._after_pod_change
            ),
            ClusterEventWithHint(
                ClusterEvent(NODE, "Add|UpdateNodeLabel"), self._after_node_change
            ),
        )

    def _after_pod_change(
        self, pod: PodInfo, old: object | None, new: object | None
    ) -> QueueingHint:
        terms = _terms(pod)
        own = self._labels(pod.pod.metadata.namespace)
        for changed in (old, new):
            if not isinstance(changed, PodInfo) or changed.key == pod.key:
                continue
            target = changed.pod
            target_labels = self._labels(target.metadata.namespace)
            required = (*terms.required_affinity, *terms.required_anti_affinity)
            if any(term.matches(target, target_labels) for term in required):
                return QueueingHint.QUEUE
            if changed.has_affinity and any(
                term.matches(pod.pod, own) for term in changed.affinity.required_anti_affinity
            ):
                return QueueingHint.QUEUE
        return QueueingHint.QUEUE_SKIP

    @staticmethod
    def _after_node_change(pod: PodInfo, old: object | None, new: object | None) -> QueueingHint:
        terms = _terms(pod)
        after = new.node.metadata.labels if isinstance(new, NodeInfo) else None
        before = old.node.metadata.labels if isinstance(old, NodeInfo) else None
        if after is None:
            return QueueingHint.QUEUE_SKIP
        for term in terms.required_affinity:
            key = term.topology_key
            if key in after and (before is None or before.get(key) != after[key]):
                return QueueingHint.QUEUE
        for term in terms.required_anti_affinity:
            key = term.topology_key
            if before is None:
                return QueueingHint.QUEUE
            if key in before and before.get(key) != after.get(key):
                return QueueingHint.QUEUE
        return QueueingHint.QUEUE_SKIP
