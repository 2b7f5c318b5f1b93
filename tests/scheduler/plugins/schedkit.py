"""Builders for the scheduler plugin tests: Nodes and Pods from `dralloc.api.core` structs,
wrapped in the framework's `NodeInfo` and `PodInfo`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from dralloc.api.core import (
    Affinity,
    Container,
    Node,
    NodeAffinity,
    NodeSelector,
    NodeSelectorRequirement,
    NodeSelectorTerm,
    NodeSpec,
    NodeStatus,
    Pod,
    PodSpec,
    ResourceRequirements,
    Taint,
    Toleration,
)
from dralloc.api.meta import ObjectMeta
from dralloc.api.quantity import Quantity
from dralloc.scheduler.framework import NodeInfo, PodInfo


def quantities(amounts: Mapping[str, str]) -> dict[str, Quantity]:
    return {name: Quantity.parse(value) for name, value in amounts.items()}


def node(
    name: str = "node-1",
    *,
    cpu: str = "4",
    memory: str = "8Gi",
    pods: str = "110",
    extra: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    taints: Iterable[Taint] = (),
    unschedulable: bool = False,
    running: Iterable[PodInfo] = (),
) -> NodeInfo:
    """A node with this allocatable (omit a resource by passing "0"), and pods on it."""
    allocatable = {"cpu": cpu, "memory": memory, "pods": pods, **(extra or {})}
    info = NodeInfo.of(
        Node(
            metadata=ObjectMeta(name=name, labels=dict(labels or {})),
            spec=NodeSpec(unschedulable=unschedulable, taints=list(taints)),
            status=NodeStatus(allocatable=quantities(allocatable)),
        )
    )
    for pod_info in running:
        info.add_pod(pod_info)
    return info


def pod(
    name: str = "pod",
    *,
    requests: Mapping[str, str] | None = None,
    containers: Iterable[Mapping[str, str]] | None = None,
    tolerations: Iterable[Toleration] = (),
    node_selector: Mapping[str, str] | None = None,
    affinity: NodeAffinity | None = None,
    node_name: str = "",
) -> PodInfo:
    """A pod whose single container requests `requests` (or one container per mapping in
    `containers`)."""
    specs = list(containers) if containers is not None else [requests or {}]
    return PodInfo.of(
        Pod(
            metadata=ObjectMeta(name=name, namespace="default"),
            spec=PodSpec(
                node_name=node_name,
                node_selector=dict(node_selector or {}),
                affinity=Affinity(node_affinity=affinity) if affinity is not None else None,
                tolerations=list(tolerations),
                containers=[
                    Container(
                        name=f"c{i}",
                        resources=ResourceRequirements(requests=quantities(reqs)),
                    )
                    for i, reqs in enumerate(specs)
                ],
            ),
        )
    )


def requirement(key: str, operator: str, *values: str) -> NodeSelectorRequirement:
    return NodeSelectorRequirement(key=key, operator=operator, values=list(values))


def term(
    *expressions: NodeSelectorRequirement, fields: Iterable[NodeSelectorRequirement] = ()
) -> NodeSelectorTerm:
    return NodeSelectorTerm(match_expressions=list(expressions), match_fields=list(fields))


def required(*terms: NodeSelectorTerm) -> NodeAffinity:
    """A node affinity whose required terms are `terms`."""
    return NodeAffinity(
        required_during_scheduling_ignored_during_execution=NodeSelector(
            node_selector_terms=list(terms)
        )
    )


def name_pin(*names: str) -> NodeSelectorTerm:
    return term(fields=[requirement("metadata.name", "In", *names)])
