"""Whole cycles run as a what-if (`Framework.what_if`) leave the rotating filter start index
where they found it; real cycles move it (kube-scheduler's nextStartNodeIndex)."""

from __future__ import annotations

import pytest

from dralloc.api.core import Container, Node, NodeStatus, Pod, PodSpec, ResourceRequirements
from dralloc.api.meta import ObjectMeta
from dralloc.api.quantity import Quantity
from dralloc.features import Features
from dralloc.scheduler.builder import SchedulerInputs, build_scheduler
from dralloc.scheduler.config import SchedulerConfiguration
from dralloc.scheduler.framework import CycleState, FitError, PodInfo


def _node(index: int) -> Node:
    capacity = {"cpu": Quantity.parse("4"), "pods": Quantity.parse("110")}
    return Node(
        metadata=ObjectMeta(name=f"node-{index:03d}"),
        status=NodeStatus(capacity=capacity, allocatable=dict(capacity)),
    )


def _pod(name: str, cpu: str) -> PodInfo:
    requests = {"cpu": Quantity.parse(cpu)}
    container = Container(name="c", resources=ResourceRequirements(requests=requests))
    return PodInfo.of(
        Pod(
            metadata=ObjectMeta(name=name, namespace="default"),
            spec=PodSpec(containers=[container]),
        )
    )


def test_a_what_if_puts_the_start_index_back_and_a_real_cycle_moves_it() -> None:
    # 200 nodes at 50 %: each cycle visits the first 100 feasible from the start index.
    config = SchedulerConfiguration(percentage_of_nodes_to_score=50)
    built = build_scheduler(
        SchedulerInputs(Features(), nodes=[_node(i) for i in range(200)], config=config)
    )
    framework, cache = built.framework(), built.cache
    assert framework.next_start_node_index == 0
    with framework.what_if():
        framework.schedule(CycleState(), _pod("a", "1"), cache.snapshot())
        assert framework.next_start_node_index == 100
    assert framework.next_start_node_index == 0
    with pytest.raises(FitError), framework.what_if():  # one that fails puts it back too
        framework.schedule(CycleState(), _pod("b", "8"), cache.snapshot())
    assert framework.next_start_node_index == 0
    framework.schedule(CycleState(), _pod("c", "1"), cache.snapshot())
    assert framework.next_start_node_index == 100
