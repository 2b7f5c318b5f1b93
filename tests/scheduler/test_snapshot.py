"""The per-cycle node snapshot (`scheduler/snapshot.py`): what a cycle reads is a copy the
cache cannot change under it, it equals the cache's state when taken, and only nodes that
changed are copied again."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dralloc.api.core import Container, Node, NodeStatus, Pod, PodSpec, ResourceRequirements
from dralloc.api.meta import ObjectMeta
from dralloc.api.quantity import Quantity
from dralloc.features import Features
from dralloc.scheduler.cache import SchedulerCache
from dralloc.scheduler.framework import NodeInfo, PodInfo
from dralloc.scheduler.framework.journal import ChangeJournal


def node(name: str) -> Node:
    allocatable = {"cpu": Quantity.parse("8"), "memory": Quantity.parse("16Gi")}
    return Node(metadata=ObjectMeta(name=name), status=NodeStatus(allocatable=allocatable))


def pod(name: str, cpu: str = "1") -> PodInfo:
    resources = ResourceRequirements(requests={"cpu": Quantity.parse(cpu)})
    return PodInfo.of(
        Pod(
            metadata=ObjectMeta(name=name, namespace="default"),
            spec=PodSpec(containers=[Container(name="c", resources=resources)]),
        )
    )


def state(nodes: list[NodeInfo]) -> list[tuple[str, int, list[str], int]]:
    return [
        (n.name, n.generation, sorted(p.key for p in n.pods), n.requested.get("cpu")) for n in nodes
    ]


def test_a_cycle_reads_copies_the_cache_cannot_change() -> None:
    cache = SchedulerCache(Features(), nodes=[node("a"), node("b")])
    first = cache.snapshot()
    before = state(first)
    a_copy, b_copy = first
    cache.assume_pod(pod("p"), "a")
    assert state([a_copy, b_copy]) == before  # the running cycle's nodes did not move
    second = cache.snapshot()
    assert second is first  # same nodes: the list stays, what is remembered per list too
    assert second[1] is b_copy  # b did not change: not copied again
    assert second[0] is not a_copy
    assert [p.key for p in second[0].pods] == ["default/p"]
    assert second[0].requested.get("cpu") == 1000
    journal = second[0].journal
    assert journal is not None and journal.since(0) == ["a"]  # names the node copied again
    assert not second[0].scratch  # a node at its generation, not a what-if copy


def test_adding_a_node_makes_a_new_list_and_keeps_unchanged_copies() -> None:
    cache = SchedulerCache(Features(), nodes=[node("b")])
    first = cache.snapshot()
    cache.add_node(node("a"))
    second = cache.snapshot()
    assert second is not first
    assert [n.name for n in second] == ["a", "b"]
    assert second[1] is first[0]
    cache.remove_node("b")
    assert [n.name for n in cache.snapshot()] == ["a"]


def test_a_node_replaced_by_a_new_object_is_copied_again() -> None:
    cache = SchedulerCache(Features(), nodes=[node("a")])
    first = cache.snapshot()[0]
    updated = node("a")
    updated.metadata.labels = {"zone": "z1"}
    cache.add_node(updated)
    (copy,) = cache.snapshot()
    assert copy is not first
    assert copy.node.metadata.labels == {"zone": "z1"}


OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("add-node"), st.integers(0, 5)),
        st.tuples(st.just("remove-node"), st.integers(0, 5)),
        st.tuples(st.just("assume"), st.integers(0, 5)),
        st.tuples(st.just("forget"), st.integers(0, 30)),
        st.tuples(st.just("snapshot"), st.just(0)),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(OPERATIONS)
def test_every_snapshot_equals_the_cache_and_never_moves_afterwards(
    operations: list[tuple[str, int]],
) -> None:
    cache = SchedulerCache(Features(), nodes=[node("n-0"), node("n-1")])
    taken: list[tuple[list[NodeInfo], list[tuple[str, int, list[str], int]]]] = []
    live_pods: list[str] = []
    for step, (kind, which) in enumerate(operations):
        name = f"n-{which}"
        if kind == "add-node" and name not in cache.nodes:
            cache.add_node(node(name))
        elif kind == "remove-node" and name in cache.nodes:
            for key in [k for k, (_, at) in cache.pods.items() if at == name]:
                cache.forget_pod(key)
                live_pods.remove(key)
            cache.remove_node(name)
        elif kind == "assume" and name in cache.nodes:
            info = pod(f"p-{step}")
            cache.assume_pod(info, name)
            live_pods.append(info.key)
        elif kind == "forget" and live_pods:
            cache.forget_pod(live_pods.pop(which % len(live_pods)))
        elif kind == "snapshot":
            nodes = cache.snapshot()
            taken.append((list(nodes), state(nodes)))
        current = cache.snapshot()
        assert state(current) == state([cache.nodes[n] for n in sorted(cache.nodes)])
    for nodes, seen in taken:
        assert state(nodes) == seen


def test_the_change_journal_keeps_a_bounded_tail_and_says_when_a_reader_fell_behind() -> None:
    journal = ChangeJournal(limit=4)
    for name in "abcde":
        journal.append(name)
    assert len(journal) == 5  # positions count every name ever appended
    assert journal.since(3) == ["d", "e"]
    assert journal.since(0) is None  # "a" and "b" were dropped: look at every node
    assert journal.since(5) == []


@settings(max_examples=200, deadline=None)
@given(OPERATIONS, st.integers(2, 6))
def test_a_small_journal_keeps_every_snapshot_equal_to_the_cache(
    operations: list[tuple[str, int]], limit: int
) -> None:
    cache = SchedulerCache(Features(), nodes=[node("n-0"), node("n-1")])
    cache.journal = ChangeJournal(limit=limit)
    for info in cache.nodes.values():
        info.journal = cache.journal
    live_pods: list[str] = []
    for step, (kind, which) in enumerate(operations):
        name = f"n-{which}"
        if kind == "assume" and name in cache.nodes:
            info = pod(f"p-{step}")
            cache.assume_pod(info, name)
            live_pods.append(info.key)
        elif kind == "forget" and live_pods:
            cache.forget_pod(live_pods.pop(which % len(live_pods)))
        current = cache.snapshot()
        assert state(current) == state([cache.nodes[n] for n in sorted(cache.nodes)])
