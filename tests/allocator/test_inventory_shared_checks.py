"""Every node sees every node's counter slices: what `Inventory` shares between nodes that see
a pool alike (its counter checks) gives each of them the answer it would compute alone."""

from __future__ import annotations

from typing import Any

from yamlkit import consumes, counter_set, device, node, resource_slice
from yamlkit import loose_cluster as make_cluster

from dralloc.allocator import Inventory, PoolKey
from dralloc.allocator.inventory import PoolState
from dralloc.features import Features

DRIVER = "gpu.example.com"


def gpu_pool(name: str, counter: str = "gpu-0") -> list[dict[str, Any]]:
    """Node `name`'s pool: a counter slice and a slice of one device consuming `counter`."""
    return [
        resource_slice(
            name=f"{name}-counters",
            pool=name,
            node=name,
            count=2,
            counters=[counter_set("gpu-0", mem=4)],
        ),
        resource_slice(
            [device("gpu", consumesCounters=[consumes(counter, mem=4)])],
            name=f"{name}-devices",
            pool=name,
            node=name,
            count=2,
        ),
    ]


def views(*docs: dict[str, Any]) -> tuple[Inventory, dict[str, dict[PoolKey, Any]]]:
    cluster = make_cluster(*docs)
    inventory = Inventory(cluster.slices, Features())
    pools = {
        name: {pool.key: pool for pool in inventory.pools_for(cluster.node(name))}
        for name in sorted(cluster.nodes)
    }
    return inventory, pools


def test_nodes_that_see_a_pool_alike_get_the_same_counter_sets() -> None:
    _, pools = views(
        node("a"), node("b"), node("c"), *gpu_pool("a"), *gpu_pool("b"), *gpu_pool("c")
    )
    key = PoolKey(DRIVER, "b")
    seen_from_a, seen_from_c, own = pools["a"][key], pools["c"][key], pools["b"][key]
    assert seen_from_a.counter_sets == seen_from_c.counter_sets == own.counter_sets
    assert seen_from_a.counter_sets == {"gpu-0": {"mem": 4_000_000_000}}
    assert seen_from_a.state is seen_from_c.state is own.state is PoolState.COMPLETE
    assert seen_from_a.devices == [] and [d.key.device for d in own.devices] == ["gpu"]


def test_a_pool_with_an_unknown_counter_set_is_invalid_for_every_node() -> None:
    _, pools = views(node("a"), node("b"), node("c"), *gpu_pool("a"), *gpu_pool("b", "nope"))
    key = PoolKey(DRIVER, "b")
    for name in ("a", "b", "c"):
        pool = pools[name][key]
        assert pool.state is PoolState.INVALID, name
        assert pool.invalid_reason == "device gpu references unknown counter set nope"
    assert pools["a"][PoolKey(DRIVER, "a")].state is PoolState.COMPLETE


def test_wrong_node_devices_are_the_per_device_selection_devices_of_other_devices() -> None:
    on_b = device("on-b", nodeName="b")
    per_device = resource_slice(
        [device("on-a", nodeName="a"), on_b], name="shared", pool="p", per_device=True
    )
    only_b = resource_slice(["plain"], name="only-b", pool="q", node="b")
    _, pools = views(node("a"), node("b"), per_device, only_b)
    pool = pools["a"][PoolKey(DRIVER, "p")]
    expected = [d for d in pool.other_devices if d.slice.spec.per_device_node_selection]
    assert pool.wrong_node_devices == expected
    assert [d.key.device for d in expected] == ["on-b"]
