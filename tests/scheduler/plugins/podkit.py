"""Builders and drivers for the pod-to-pod plugin tests (topology spread, inter-pod
affinity, host ports, image locality): labelled nodes holding labelled pods, and one plugin
run through its extension points over a node list, as the framework runs it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from dralloc.api.core import (
    Affinity,
    Container,
    ContainerImage,
    ContainerPort,
    Node,
    NodeSpec,
    NodeStatus,
    Pod,
    PodSpec,
    Taint,
    Toleration,
    TopologySpreadConstraint,
)
from dralloc.api.meta import LabelSelector, LabelSelectorRequirement, ObjectMeta
from dralloc.scheduler.framework import (
    Code,
    CycleState,
    NodeInfo,
    PodInfo,
    PreFilterPlugin,
    PreScorePlugin,
    ScoreNormalizer,
    ScorePlugin,
    Status,
)

HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"


def labelled_node(
    name: str,
    labels: Mapping[str, str] | None = None,
    *,
    pods: Iterable[PodInfo] = (),
    taints: Iterable[Taint] = (),
    images: Iterable[tuple[Sequence[str], int]] = (),
    hostname: bool = True,
) -> NodeInfo:
    """A node named `name` carrying `labels` (plus `kubernetes.io/hostname: name` unless
    `hostname` is False), holding `pods` and reporting `images` as (names, size)."""
    all_labels = {HOSTNAME: name} if hostname else {}
    all_labels.update(labels or {})
    info = NodeInfo.of(
        Node(
            metadata=ObjectMeta(name=name, labels=all_labels),
            spec=NodeSpec(taints=list(taints)),
            status=NodeStatus(
                images=[ContainerImage(names=list(n), size_bytes=s) for n, s in images]
            ),
        )
    )
    for pod_info in pods:
        info.add_pod(pod_info)
    return info


def selector(**labels: str) -> LabelSelector:
    return LabelSelector(match_labels=dict(labels))


def expression(key: str, operator: str, *values: str) -> LabelSelectorRequirement:
    return LabelSelectorRequirement(key=key, operator=operator, values=list(values))


def spread(
    max_skew: int,
    key: str,
    *,
    when: str = "DoNotSchedule",
    labels: LabelSelector | None = None,
    min_domains: int | None = None,
    affinity_policy: str | None = None,
    taints_policy: str | None = None,
    match_label_keys: Iterable[str] = (),
) -> TopologySpreadConstraint:
    return TopologySpreadConstraint(
        max_skew=max_skew,
        topology_key=key,
        when_unsatisfiable=when,
        label_selector=labels,
        min_domains=min_domains,
        node_affinity_policy=affinity_policy,
        node_taints_policy=taints_policy,
        match_label_keys=list(match_label_keys),
    )


def affinity_term(
    key: str,
    labels: Mapping[str, str] | None = None,
    *,
    namespaces: Iterable[str] = (),
    namespace_selector: Mapping[str, Any] | None = None,
    expressions: Iterable[Mapping[str, Any]] = (),
    match_label_keys: Iterable[str] = (),
    mismatch_label_keys: Iterable[str] = (),
) -> dict[str, Any]:
    """A podAffinityTerm in wire form (as a manifest writes it)."""
    term: dict[str, Any] = {
        "topologyKey": key,
        "labelSelector": {
            "matchLabels": dict(labels or {}),
            "matchExpressions": list(expressions),
        },
    }
    if namespaces:
        term["namespaces"] = list(namespaces)
    if namespace_selector is not None:
        term["namespaceSelector"] = dict(namespace_selector)
    if match_label_keys:
        term["matchLabelKeys"] = list(match_label_keys)
    if mismatch_label_keys:
        term["mismatchLabelKeys"] = list(mismatch_label_keys)
    return term


def weighted(weight: int, term: Mapping[str, Any]) -> dict[str, Any]:
    return {"weight": weight, "podAffinityTerm": dict(term)}


def pod_affinity(
    required: Iterable[Mapping[str, Any]] = (), preferred: Iterable[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    return {
        "requiredDuringSchedulingIgnoredDuringExecution": list(required),
        "preferredDuringSchedulingIgnoredDuringExecution": list(preferred),
    }


def labelled_pod(
    name: str,
    labels: Mapping[str, str] | None = None,
    *,
    namespace: str = "default",
    spread_constraints: Iterable[TopologySpreadConstraint] = (),
    affinity: Mapping[str, Any] | None = None,
    anti_affinity: Mapping[str, Any] | None = None,
    node_selector: Mapping[str, str] | None = None,
    tolerations: Iterable[Toleration] = (),
    ports: Iterable[ContainerPort] = (),
    images: Iterable[str] = ("pause",),
    init_images: Iterable[str] = (),
    deleting: bool = False,
) -> PodInfo:
    image_list = list(images)
    containers = [
        Container(name=f"c{i}", image=image, ports=list(ports) if i == 0 else [])
        for i, image in enumerate(image_list or ["pause"])
    ]
    pod_affinity_set = affinity is not None or anti_affinity is not None
    return PodInfo.of(
        Pod(
            metadata=ObjectMeta(
                name=name,
                namespace=namespace,
                labels=dict(labels or {}),
                deletion_timestamp="2026-01-01T00:00:00Z" if deleting else None,
            ),
            spec=PodSpec(
                node_selector=dict(node_selector or {}),
                tolerations=list(tolerations),
                topology_spread_constraints=list(spread_constraints),
                affinity=(
                    Affinity(pod_affinity=affinity, pod_anti_affinity=anti_affinity)
                    if pod_affinity_set
                    else None
                ),
                containers=containers,
                init_containers=[
                    Container(name=f"i{i}", image=image) for i, image in enumerate(init_images)
                ],
            ),
        )
    )


def filter_all(
    plugin: Any, pod: PodInfo, nodes: Sequence[NodeInfo]
) -> tuple[Status, dict[str, Status]]:
    """PreFilter over `nodes`, then Filter on each node (skipped: every node passes). The
    PreFilter status and the Filter status by node."""
    state = CycleState()
    assert isinstance(plugin, PreFilterPlugin)
    _, pre = plugin.pre_filter(state, pod, nodes)
    if pre.code == Code.SKIP:
        return pre, {node.name: Status() for node in nodes}
    if not pre.is_success:
        return pre, {}
    return pre, {node.name: plugin.filter(state, pod, node) for node in nodes}


def score_all(
    plugin: Any, pod: PodInfo, feasible: Sequence[NodeInfo]
) -> tuple[Status, dict[str, int]]:
    """PreScore over `feasible` (if the plugin has it), Score on each, NormalizeScore."""
    state = CycleState()
    if isinstance(plugin, PreScorePlugin):
        status = plugin.pre_score(state, pod, feasible)
        if not status.is_success:
            return status, {}
    assert isinstance(plugin, ScorePlugin)
    scores: dict[str, int] = {}
    for node in feasible:
        value, status = plugin.score(state, pod, node)
        assert status.is_success, status
        scores[node.name] = value
    if isinstance(plugin, ScoreNormalizer):
        assert plugin.normalize_scores(state, pod, scores).is_success
    return Status(), scores
