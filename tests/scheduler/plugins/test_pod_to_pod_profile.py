"""The pod-to-pod plugins (PodTopologySpread, InterPodAffinity, NodePorts, ImageLocality) in
the default profile: remembered verdicts place pods exactly as a plain evaluation does, with
pods that skip those plugins and pods that do not interleaved."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st
from podkit import (
    HOSTNAME,
    ZONE,
    affinity_term,
    labelled_pod,
    pod_affinity,
    selector,
    spread,
    weighted,
)

from dralloc.api.core import ContainerPort, Node, NodeSpec, NodeStatus, Pod, Taint
from dralloc.api.meta import ObjectMeta
from dralloc.api.quantity import Quantity
from dralloc.features import Features
from dralloc.scheduler.builder import SchedulerInputs, build_scheduler


def _nodes(count: int) -> list[Node]:
    return [
        Node(
            metadata=ObjectMeta(name=f"n{i}", labels={HOSTNAME: f"n{i}", ZONE: f"z{i % 3}"}),
            spec=NodeSpec(taints=[Taint(key="t", effect="NoSchedule")] if i == count - 1 else []),
            status=NodeStatus(
                allocatable={
                    "cpu": Quantity.parse("4"),
                    "memory": Quantity.parse("8Gi"),
                    "pods": Quantity.parse("110"),
                },
            ),
        )
        for i in range(count)
    ]


KINDS = st.sampled_from(["plain", "spread", "soft-spread", "anti", "affinity", "port", "prefer"])


def _pod(index: int, kind: str, app: str) -> Pod:
    labels = {"app": app}
    name = f"p{index}"
    if kind == "spread":
        info = labelled_pod(
            name, labels, spread_constraints=[spread(1, ZONE, labels=selector(app=app))]
        )
    elif kind == "soft-spread":
        constraint = spread(1, HOSTNAME, labels=selector(app=app), when="ScheduleAnyway")
        info = labelled_pod(name, labels, spread_constraints=[constraint])
    elif kind == "anti":
        terms = pod_affinity(required=[affinity_term(HOSTNAME, labels)])
        info = labelled_pod(name, labels, anti_affinity=terms)
    elif kind == "affinity":
        info = labelled_pod(
            name, labels, affinity=pod_affinity(required=[affinity_term(ZONE, labels)])
        )
    elif kind == "prefer":
        terms = pod_affinity(preferred=[weighted(10, affinity_term(ZONE, {"app": "a"}))])
        info = labelled_pod(name, labels, affinity=terms)
    elif kind == "port":
        info = labelled_pod(name, labels, ports=[ContainerPort(container_port=80, host_port=8080)])
    else:
        info = labelled_pod(name, labels, images=["app:1"])
    return info.pod


def _placements(pods: list[Pod], nodes: int, seed: int, remember: bool) -> list[str | None]:
    built = build_scheduler(
        SchedulerInputs(
            Features(), nodes=_nodes(nodes), rng=random.Random(seed), remember_verdicts=remember
        )
    )
    scheduler = built.scheduler()
    return [scheduler.schedule_one(pod).node for pod in pods]


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.tuples(KINDS, st.sampled_from(["a", "b"])), min_size=1, max_size=14),
    st.integers(min_value=2, max_value=7),
    st.integers(min_value=0, max_value=3),
)
def test_remembered_verdicts_place_mixed_pods_as_the_plain_evaluation(
    kinds: list[tuple[str, str]], nodes: int, seed: int
) -> None:
    pods = [_pod(i, kind, app) for i, (kind, app) in enumerate(kinds)]
    assert _placements(pods, nodes, seed, True) == _placements(pods, nodes, seed, False)


def test_anti_affine_replicas_land_on_distinct_hosts_and_the_rest_wait() -> None:
    pods = [_pod(i, "anti", "a") for i in range(4)]
    placed = _placements(pods, 4, 0, True)  # the fourth node is tainted
    assert len({node for node in placed[:3]}) == 3
    assert placed[3] is None


def test_hard_spread_over_three_zones_fills_them_evenly() -> None:
    pods = [_pod(i, "spread", "a") for i in range(6)]
    placed = _placements(pods, 7, 1, True)
    zones = [int(node[1:]) % 3 for node in placed if node is not None]
    assert sorted(zones) == [0, 0, 1, 1, 2, 2]
