"""The speed-ups' declared contracts: `NodeMemo` (remember per node generation, never for a
what-if copy), `NodeLocal`, and a pod without a signature never given another pod's
verdicts."""

from __future__ import annotations

from dralloc.api.core import Node, Pod
from dralloc.api.meta import ObjectMeta
from dralloc.scheduler.framework import (
    SUCCESS,
    CycleState,
    Framework,
    NodeInfo,
    NodeLocal,
    PodInfo,
    Profile,
    Status,
    is_node_local,
)
from dralloc.scheduler.framework.generations import NodeMemo


def _node(name: str) -> NodeInfo:
    return NodeInfo.of(Node(metadata=ObjectMeta(name=name)))


def _pod(name: str) -> PodInfo:
    return PodInfo.of(Pod(metadata=ObjectMeta(name=name, namespace="default")))


def test_a_node_memo_reuses_a_value_until_the_nodes_generation_moves() -> None:
    memo: NodeMemo[int] = NodeMemo()
    calls: list[str] = []

    def compute(node: NodeInfo) -> int:
        calls.append(node.name)
        return node.generation

    node = _node("a")
    assert memo.get(node, compute) == node.generation
    assert memo.get(node, compute) == node.generation
    assert calls == ["a"]
    node.generation += 1
    assert memo.get(node, compute) == node.generation
    assert calls == ["a", "a"]


def test_a_node_memo_never_keeps_or_answers_for_a_what_if_copy() -> None:
    memo: NodeMemo[str] = NodeMemo()
    node = _node("a")
    assert memo.get(node, lambda n: "real") == "real"
    copy = node.copy()  # a what-if copy, same name and generation
    assert copy.scratch and copy.generation == node.generation
    assert memo.get(copy, lambda n: "what-if") == "what-if"
    assert memo.get(node, lambda n: "again") == "real"
    assert len(memo) == 1
    memo.forget("a")
    assert len(memo) == 0


class _Counting:
    """Node-local Filter and Score that count their calls."""

    name = "Counting"
    node_local = True

    def __init__(self) -> None:
        self.filtered = 0

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        self.filtered += 1
        return SUCCESS

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> tuple[int, Status]:
        return 0, SUCCESS


def test_node_locality_is_declared_through_the_protocol() -> None:
    assert isinstance(_Counting(), NodeLocal) and is_node_local(_Counting())
    assert not is_node_local(object())


def test_a_pod_without_a_signature_is_never_given_another_pods_verdicts() -> None:
    plugin = _Counting()
    profile = Profile(filter=[plugin], score=[(plugin, 1)])
    signatures = {"default/a": b"alike", "default/b": b"alike"}
    framework = Framework(profile, pod_signature=lambda pod: signatures.get(pod.key))
    nodes = [_node(f"n{i}") for i in range(3)]
    framework.schedule(CycleState(), _pod("a"), nodes)
    assert plugin.filtered == 3
    framework.schedule(CycleState(), _pod("b"), nodes)  # alike, nothing changed
    assert plugin.filtered == 3
    framework.schedule(CycleState(), _pod("c"), nodes)  # no signature: evaluated in full
    assert plugin.filtered == 6
    framework.schedule(CycleState(), _pod("c"), nodes)
    assert plugin.filtered == 9
