"""What InterPodAffinity counts per topology domain, for Filter (`PreFilterState`) and for
Score (`topology_scores`).

Pure computation over `NodeInfo`s and parsed terms (`framework.podaffinity`). A domain is a
(topology key, value) pair of a node's labels. A term of one pod "selects" another pod when
the other pod's namespace is one of the term's namespaces or its namespace's labels match the
term's namespaceSelector, and its labels match the term's selector.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Self

from dralloc.api.core import Node, Pod
from dralloc.scheduler.framework import NodeInfo, PodInfo
from dralloc.scheduler.framework.podaffinity import (
    AffinityTerm,
    PodAffinityInfo,
    WeightedAffinityTerm,
)
from dralloc.scheduler.plugins.helper.listers import NamespaceLabels

Domain = tuple[str, str]
Counts = dict[Domain, int]


def _bump(counts: Counts, domain: Domain, delta: int) -> None:
    value = counts.get(domain, 0) + delta
    if value:
        counts[domain] = value
    else:
        counts.pop(domain, None)  # upstream drops a pair whose count falls to zero


def selects_all(terms: Sequence[AffinityTerm], pod: Pod, labels: NamespaceLabels) -> bool:
    """Whether every term selects `pod` (False for no terms)."""
    if not terms:
        return False
    namespace_labels = labels(pod.metadata.namespace)
    return all(term.matches(pod, namespace_labels) for term in terms)


def add_affinity(
    counts: Counts,
    terms: Sequence[AffinityTerm],
    target: Pod,
    node: Node,
    labels: NamespaceLabels,
    delta: int,
) -> None:
    """Count `target` in each term's domain on `node` when it is selected by all terms."""
    if selects_all(terms, target, labels):
        node_labels = node.metadata.labels
        for term in terms:
            value = node_labels.get(term.topology_key)
            if value is not None:
                _bump(counts, (term.topology_key, value), delta)


def add_anti_affinity(
    counts: Counts,
    terms: Iterable[AffinityTerm],
    target: Pod,
    namespace_labels: Mapping[str, str],
    node: Node,
    delta: int,
) -> None:
    """Count `target` in the domain on `node` of each term that selects it."""
    node_labels = node.metadata.labels
    for term in terms:
        if term.matches(target, namespace_labels):
            value = node_labels.get(term.topology_key)
            if value is not None:
                _bump(counts, (term.topology_key, value), delta)


@dataclass
class PreFilterState:
    """The incoming pod's terms and three counts by domain: existing pods whose required
    anti-affinity selects the incoming pod, and existing pods its required affinity (all
    terms) and anti-affinity (each term) select. A `StateData`: preemption's dry run changes
    a clone."""

    pod: PodInfo
    terms: PodAffinityInfo
    existing_anti: Counts = field(default_factory=dict)
    affinity: Counts = field(default_factory=dict)
    anti_affinity: Counts = field(default_factory=dict)

    def clone(self) -> Self:
        return type(self)(
            self.pod,
            self.terms,
            dict(self.existing_anti),
            dict(self.affinity),
            dict(self.anti_affinity),
        )

    def update_with_pod(
        self, changed: PodInfo, node: Node, labels: NamespaceLabels, delta: int
    ) -> None:
        """`changed` joined (+1) or left (-1) `node` (upstream's `updateWithPod`)."""
        own = labels(self.pod.pod.metadata.namespace)
        if changed.has_affinity:
            add_anti_affinity(
                self.existing_anti,
                changed.affinity.required_anti_affinity,
                self.pod.pod,
                own,
                node,
                delta,
            )
        add_affinity(self.affinity, self.terms.required_affinity, changed.pod, node, labels, delta)
        add_anti_affinity(
            self.anti_affinity,
            self.terms.required_anti_affinity,
            changed.pod,
            labels(changed.pod.metadata.namespace),
            node,
            delta,
        )


def existing_anti_affinity_counts(
    pod: Pod, nodes: Iterable[NodeInfo], labels: NamespaceLabels
) -> Counts:
    """Domains where existing pods' required anti-affinity selects `pod`."""
    counts: Counts = {}
    own = labels(pod.metadata.namespace)
    for node in nodes:
        for existing in node.pods_with_required_anti_affinity:
            add_anti_affinity(
                counts, existing.affinity.required_anti_affinity, pod, own, node.node, 1
            )
    return counts


def incoming_counts(
    terms: PodAffinityInfo, nodes: Iterable[NodeInfo], labels: NamespaceLabels
) -> tuple[Counts, Counts]:
    """Domains of the existing pods the incoming pod's required affinity (all terms) and
    required anti-affinity (per term) select."""
    affinity: Counts = {}
    anti: Counts = {}
    if not terms.required_affinity and not terms.required_anti_affinity:
        return affinity, anti
    for node in nodes:
        for existing in node.pods:
            pod = existing.pod
            if terms.required_affinity:
                add_affinity(affinity, terms.required_affinity, pod, node.node, labels, 1)
            if terms.required_anti_affinity:
                add_anti_affinity(
                    anti,
                    terms.required_anti_affinity,
                    pod,
                    labels(pod.metadata.namespace),
                    node.node,
                    1,
                )
    return affinity, anti


# ------------------------------------------------------------------------------ scoring

TopologyScores = dict[str, dict[str, int]]


def _add_weighted(
    scores: TopologyScores,
    terms: Iterable[WeightedAffinityTerm],
    target: Pod,
    namespace_labels: Mapping[str, str],
    node_labels: Mapping[str, str],
    sign: int,
) -> None:
    for weighted in terms:
        term = weighted.term
        if term.matches(target, namespace_labels):
            value = node_labels.get(term.topology_key)
            if value is not None:
                by_value = scores.setdefault(term.topology_key, {})
                by_value[value] = by_value.get(value, 0) + sign * weighted.weight


def score_existing_pod(
    scores: TopologyScores,
    incoming: PodInfo,
    incoming_terms: PodAffinityInfo,
    existing: PodInfo,
    node: Node,
    labels: NamespaceLabels,
    hard_pod_affinity_weight: int,
) -> None:
    """Upstream's `processExistingPod`: the incoming pod's preferred terms against
    `existing`, and `existing`'s required (times `hard_pod_affinity_weight`) and preferred
    terms against the incoming pod, credited to the domains of `node`."""
    node_labels = node.metadata.labels
    if not node_labels:
        return
    target = existing.pod
    target_labels = labels(target.metadata.namespace)
    _add_weighted(scores, incoming_terms.preferred_affinity, target, target_labels, node_labels, 1)
    _add_weighted(
        scores, incoming_terms.preferred_anti_affinity, target, target_labels, node_labels, -1
    )
    if not existing.has_affinity:
        return
    terms = existing.affinity
    pod = incoming.pod
    own = labels(pod.metadata.namespace)
    if hard_pod_affinity_weight > 0:
        for term in terms.required_affinity:
            value = node_labels.get(term.topology_key)
            if value is not None and term.matches(pod, own):
                by_value = scores.setdefault(term.topology_key, {})
                by_value[value] = by_value.get(value, 0) + hard_pod_affinity_weight
    _add_weighted(scores, terms.preferred_affinity, pod, own, node_labels, 1)
    _add_weighted(scores, terms.preferred_anti_affinity, pod, own, node_labels, -1)
