"""Topology spread constraints compiled for one pod (upstream's internal
`topologySpreadConstraint`), and where a pod without its own constraints gets the defaults.

Pure computation, except that `OwnerSelectors` reads the workload objects the caller knows.

Reading a constraint:
* `labelSelector` compiles with metav1 rules (missing: selects no pod); `matchLabelKeys` add
  `key=value` for each key the pod carries (merged with the selector's requirements as
  upstream merges them: a missing selector then becomes the pairs alone);
* `minDomains` unset is 1; `nodeAffinityPolicy` unset is Honor, `nodeTaintsPolicy` Ignore.

A node is an eligible domain member for a constraint when it carries every constraint's
topology key, and (Honor) matches the pod's nodeSelector and required node affinity, and
(Honor) has no NoSchedule/NoExecute taint the pod does not tolerate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from dralloc.api.core import Node, Pod, Taint, TopologySpreadConstraint
from dralloc.api.meta import LabelSelector
from dralloc.scheduler.framework import PodInfo
from dralloc.scheduler.framework.labels import (
    IN,
    CompiledLabelSelector,
    LabelRequirement,
    compile_label_selector,
)
from dralloc.scheduler.plugins.helper import find_untolerated_taint
from dralloc.scheduler.plugins.helper.nodeselector import RequiredNodeAffinity

HONOR = "Honor"
IGNORE = "Ignore"
_HARD_TAINT_EFFECTS = ("NoSchedule", "NoExecute")


def _is_hard_taint(taint: Taint) -> bool:
    return taint.effect in _HARD_TAINT_EFFECTS


@dataclass(frozen=True)
class Constraint:
    """One compiled constraint."""

    max_skew: int
    topology_key: str
    selector: CompiledLabelSelector
    min_domains: int = 1
    node_affinity_policy: str = HONOR
    node_taints_policy: str = IGNORE

    def includes(self, pod: Pod, node: Node, required: RequiredNodeAffinity) -> bool:
        """Upstream's `matchNodeInclusionPolicies`: whether `node` counts for this
        constraint of `pod`."""
        if self.node_affinity_policy == HONOR and not required.matches(node):
            return False
        return not (
            self.node_taints_policy == HONOR
            and find_untolerated_taint(node.spec.taints, pod.spec.tolerations, _is_hard_taint)
            is not None
        )


def has_all_keys(labels: Mapping[str, str], constraints: Sequence[Constraint]) -> bool:
    """Whether the node labels carry every constraint's topology key."""
    return all(c.topology_key in labels for c in constraints)


def count_matching(pods: Sequence[PodInfo], selector: CompiledLabelSelector, namespace: str) -> int:
    """The pods in `namespace`, not being deleted, whose labels `selector` picks (upstream's
    `countPodsMatchSelector`)."""
    count = 0
    for info in pods:
        meta = info.pod.metadata
        if (
            meta.deletion_timestamp is None
            and meta.namespace == namespace
            and selector.matches(meta.labels)
        ):
            count += 1
    return count


def compile_constraints(
    constraints: Sequence[TopologySpreadConstraint],
    pod_labels: Mapping[str, str],
    action: str,
    path: str = "spec.topologySpreadConstraints",
) -> tuple[Constraint, ...]:
    """The constraints whose `whenUnsatisfiable` is `action`, compiled (upstream's
    `filterTopologySpreadConstraints`); SelectorError for a selector that does not compile."""
    found: list[Constraint] = []
    for i, c in enumerate(constraints):
        if c.when_unsatisfiable != action:
            continue
        selector = compile_label_selector(c.label_selector, f"{path}[{i}].labelSelector")
        pairs = [
            LabelRequirement(key, IN, frozenset((pod_labels[key],)))
            for key in c.match_label_keys
            if key in pod_labels
        ]
        if pairs:
            base = () if selector.nothing else selector.requirements
            selector = CompiledLabelSelector((*pairs, *base))
        found.append(
            Constraint(
                max_skew=c.max_skew,
                topology_key=c.topology_key,
                selector=selector,
                min_domains=c.min_domains if c.min_domains is not None else 1,
                node_affinity_policy=c.node_affinity_policy or HONOR,
                node_taints_policy=c.node_taints_policy or IGNORE,
            )
        )
    return tuple(found)


class OwnerSelectors(Protocol):
    """Which label selectors a pod's owners spread it by (upstream's `DefaultSelector`: the
    selectors of the Services selecting the pod, and of the ReplicationController, ReplicaSet
    or StatefulSet controlling it)."""

    def selectors(self, pod: Pod) -> Sequence[LabelSelector]:
        """The selectors, in any order; none when the pod belongs to nothing known. Called
        once per cycle for a pod without constraints of its own; must not change anything."""
        ...


@dataclass(frozen=True)
class WorkloadSelectors:
    """`OwnerSelectors` over the workload objects dralloc knows. dralloc has no Services or
    ReplicationControllers: a pod is spread by the selector of the apps/v1 ReplicaSet or
    StatefulSet its controller `ownerReference` names, in its namespace (so a Deployment's
    pods, owned by its ReplicaSet, are spread). `by_owner` maps (namespace, kind, name) to
    the selector.

    >>> from dralloc.api.meta import LabelSelector, ObjectMeta, OwnerReference
    >>> web = LabelSelector(match_labels={"app": "web"})
    >>> index = WorkloadSelectors({("ml", "ReplicaSet", "web"): web})
    >>> owner = OwnerReference(
    ...     api_version="apps/v1", kind="ReplicaSet", name="web", controller=True
    ... )
    >>> meta = ObjectMeta(namespace="ml", owner_references=[owner])
    >>> len(index.selectors(Pod(metadata=meta)))
    1
    """

    by_owner: Mapping[tuple[str, str, str], LabelSelector]

    def selectors(self, pod: Pod) -> Sequence[LabelSelector]:
        for owner in pod.metadata.owner_references:
            if not owner.controller:
                continue
            if owner.api_version != "apps/v1" or owner.kind not in ("ReplicaSet", "StatefulSet"):
                return ()
            found = self.by_owner.get((pod.metadata.namespace, owner.kind, owner.name))
            return (found,) if found is not None else ()
        return ()


def default_selector(pod: Pod, owners: OwnerSelectors | None) -> CompiledLabelSelector:
    """The selector default constraints spread `pod` by: every owner selector's requirements
    together; empty (selecting everything) when the pod has no known owner, and then the
    defaults do not apply."""
    if owners is None:
        return CompiledLabelSelector()
    requirements: list[LabelRequirement] = []
    for selector in owners.selectors(pod):
        compiled = compile_label_selector(selector)
        if not compiled.nothing:
            requirements.extend(compiled.requirements)
    return CompiledLabelSelector(tuple(requirements))
