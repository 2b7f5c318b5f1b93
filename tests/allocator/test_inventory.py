"""The inventory's shared selector inputs: identical devices are converted and evaluated once."""

from __future__ import annotations

from yamlkit import DRIVER, claim, device, device_class, picked, request, resource_slice
from yamlkit import cluster as make_cluster

from dralloc.allocator import Allocator, AllocatorOptions, Inventory, allocated_state
from dralloc.allocator.inventory import DeviceEntry
from dralloc.api.resource import AllocationResult
from dralloc.features import Features
from dralloc.testing import Cluster

MODEL_A100 = f'device.attributes["{DRIVER}"].model == "a100"'


def two_nodes(first: dict[str, object], second: dict[str, object]) -> Cluster:
    return make_cluster(
        device_class("gpu", MODEL_A100),
        resource_slice([device("gpu-0", first)], name="s-1", pool="p1", node="node-1"),
        resource_slice([device("gpu-0", second)], name="s-2", pool="p2", node="node-2"),
        claim("c", request()),
    )


def entry(inventory: Inventory, cluster: Cluster, node: str) -> DeviceEntry:
    (pool,) = inventory.pools_for(cluster.node(node))
    (found,) = pool.devices
    return found


def test_identical_devices_on_two_nodes_share_one_selector_input() -> None:
    cluster = two_nodes({"model": "a100", "numa": 0}, {"model": "a100", "numa": 0})
    inventory = Inventory(cluster.slices, Features())
    one, two = entry(inventory, cluster, "node-1"), entry(inventory, cluster, "node-2")
    assert one.selector_input is two.selector_input
    assert len(inventory.selector_inputs) == 1


def test_a_device_differing_in_one_attribute_gets_its_own_selector_input() -> None:
    cluster = two_nodes({"model": "a100", "numa": 0}, {"model": "a100", "numa": 1})
    inventory = Inventory(cluster.slices, Features())
    one, two = entry(inventory, cluster, "node-1"), entry(inventory, cluster, "node-2")
    assert one.selector_input is not two.selector_input


def test_a_selector_evaluated_on_one_node_is_known_for_its_twin_on_another() -> None:
    features = Features()
    cluster = two_nodes({"model": "a100"}, {"model": "a100"})
    inventory = Inventory(cluster.slices, features)
    allocator = Allocator(features, options=AllocatorOptions(timeout=None))
    state = allocated_state([], features)
    got = allocator.allocate(
        cluster.node("node-1"), cluster.pending, inventory, cluster.classes, state
    )
    assert picked(got) == [("req", "gpu-0")]
    twin = entry(inventory, cluster, "node-2")
    assert twin.selector_results == {MODEL_A100: True}


def test_outcomes_follow_each_device_s_own_attributes() -> None:
    features = Features()
    cluster = two_nodes({"model": "a100"}, {"model": "h100"})
    inventory = Inventory(cluster.slices, features)
    allocator = Allocator(features, options=AllocatorOptions(timeout=None))
    state = allocated_state([], features)

    def on(node: str) -> list[AllocationResult] | None:
        return allocator.allocate(
            cluster.node(node), cluster.pending, inventory, cluster.classes, state
        )

    assert picked(on("node-1")) == [("req", "gpu-0")]
    assert on("node-2") is None


def test_a_long_lived_inventory_keeps_one_view_per_node_however_often_the_node_changes() -> None:
    """A live cluster replaces its Node objects on every update: the inventory's views must
    not grow with them (each holds the node's pools and candidates)."""
    from dralloc.api.core import Node
    from dralloc.api.meta import ObjectMeta
    from dralloc.api.resource import Device, ResourcePool, ResourceSlice, ResourceSliceSpec
    from dralloc.features import Features

    slices = [
        ResourceSlice(
            metadata=ObjectMeta(name="n1-gpu"),
            spec=ResourceSliceSpec(
                driver="gpu.example.com",
                pool=ResourcePool(name="n1", resource_slice_count=1),
                node_name="n1",
                devices=[Device(name="gpu-0")],
            ),
        )
    ]
    inventory = Inventory(slices, Features())
    for version in range(50):
        node = Node(metadata=ObjectMeta(name="n1", resource_version=str(version)))
        assert [d.device.name for d, _ in inventory.view(node).candidates] == ["gpu-0"]
    assert len(inventory._views) == 1
