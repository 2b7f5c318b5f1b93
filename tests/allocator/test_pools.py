"""Which slices a node sees and how they form pools (spec/dra-v1.md 6.2 and 6.3)."""

from __future__ import annotations

import pytest
from yamlkit import (
    allocated,
    chosen_devices,
    claim,
    consumes,
    counter_set,
    device,
    device_class,
    driver_class,
    label_term,
    node,
    picked,
    request,
    resource_slice,
    result,
)
from yamlkit import cluster as make_cluster

from dralloc.allocator import AllocationError, NodeFailure

ALL = "All"
NO_PARTITIONS = "DRAPartitionableDevices=false"


# ------------------------------------------------------------------ 6.2 node selection


def test_node_local_slice_is_seen_only_by_the_node_it_names() -> None:
    cluster = make_cluster(
        node("node-1"),
        node("node-2"),
        device_class(),
        resource_slice(["d1"], node="node-1"),
        claim("c", request()),
    )
    assert chosen_devices(cluster.allocate(node="node-1")) == ["d1"]
    assert cluster.allocate(node="node-2") is None


def test_all_nodes_slice_is_seen_by_every_node() -> None:
    cluster = make_cluster(
        node("node-1"),
        node("node-2"),
        device_class(),
        resource_slice(["d1"], all_nodes=True),
        claim("c", request()),
    )
    assert chosen_devices(cluster.allocate(node="node-1")) == ["d1"]
    assert chosen_devices(cluster.allocate(node="node-2")) == ["d1"]


@pytest.mark.parametrize(
    ("term", "sees"),
    [
        pytest.param(label_term("zone", "In", "a", "b"), True, id="In-hit"),
        pytest.param(label_term("zone", "In", "b"), False, id="In-miss"),
        pytest.param(label_term("zone", "NotIn", "b"), True, id="NotIn-hit"),
        pytest.param(label_term("zone", "NotIn", "a"), False, id="NotIn-miss"),
        pytest.param(label_term("rack", "NotIn", "r1"), True, id="NotIn-absent-label"),
        pytest.param(label_term("zone", "Gt", "3"), False, id="Gt-non-integer-label"),
        pytest.param(label_term("zone", "Exists"), True, id="Exists-hit"),
        pytest.param(label_term("rack", "Exists"), False, id="Exists-miss"),
        pytest.param(label_term("rack", "DoesNotExist"), True, id="DoesNotExist-hit"),
        pytest.param(label_term("zone", "DoesNotExist"), False, id="DoesNotExist-miss"),
        pytest.param(label_term("gpus", "Gt", "3"), True, id="Gt-hit"),
        pytest.param(label_term("gpus", "Gt", "4"), False, id="Gt-miss"),
        pytest.param(label_term("gpus", "Lt", "5"), True, id="Lt-hit"),
        pytest.param(label_term("gpus", "Lt", "4"), False, id="Lt-miss"),
        pytest.param(
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-1"]}]},
            True,
            id="matchFields-name-hit",
        ),
        pytest.param(
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-2"]}]},
            False,
            id="matchFields-name-miss",
        ),
        pytest.param(
            {
                "matchExpressions": [
                    {"key": "zone", "operator": "In", "values": ["a"]},
                    {"key": "gpus", "operator": "Gt", "values": ["10"]},
                ]
            },
            False,
            id="all-requirements-of-the-term-must-hold",
        ),
    ],
)
def test_node_selector_slice_is_seen_by_nodes_its_term_matches(term: dict, sees: bool) -> None:
    cluster = make_cluster(
        node("node-1", zone="a", gpus="4"),
        device_class(),
        resource_slice(["d1"], node_selector=term),
        claim("c", request()),
    )
    got = cluster.allocate(node="node-1")
    assert (got is not None) is sees


def test_per_device_node_selection_offers_only_devices_reachable_from_the_node() -> None:
    cluster = make_cluster(
        node("node-1", zone="a"),
        device_class(),
        resource_slice(
            [
                device("on-node-2", nodeName="node-2"),
                device("on-node-1", nodeName="node-1"),
                device("everywhere", allNodes=True),
                device(
                    "zone-a", nodeSelector={"nodeSelectorTerms": [label_term("zone", "In", "a")]}
                ),
                device(
                    "zone-b", nodeSelector={"nodeSelectorTerms": [label_term("zone", "In", "b")]}
                ),
            ],
            per_device=True,
        ),
        claim("c", request(mode=ALL)),
    )
    assert chosen_devices(cluster.allocate()) == ["on-node-1", "everywhere", "zone-a"]


def test_per_device_node_selection_slice_without_a_reachable_device_is_not_seen() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice([device("d1", nodeName="node-2")], per_device=True),
        claim("c", request()),
    )
    assert cluster.allocate(node="node-1") is None
    assert chosen_devices(cluster.allocate(node="node-2")) == ["d1"]


def test_per_device_node_selection_slice_is_skipped_when_partitionable_devices_is_off() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice([device("d1", allNodes=True)], per_device=True),
        claim("c", request()),
    )
    assert chosen_devices(cluster.allocate()) == ["d1"]
    assert cluster.allocate(gates=NO_PARTITIONS) is None


def test_counter_slice_ignored_with_partitionable_devices_off_still_completes_the_pool() -> None:
    """Spec 6.8: counter slices still count toward completeness with the gate off."""
    cluster = make_cluster(
        device_class(),
        resource_slice(["plain"], name="a-devices", count=2),
        resource_slice([], name="b-counters", count=2, counters=[counter_set("cs", mem="8Gi")]),
        claim("c", request()),
    )
    assert chosen_devices(cluster.allocate(gates=NO_PARTITIONS)) == ["plain"]


def test_counter_slice_published_for_another_node_is_still_relevant() -> None:
    """Spec 6.2-3: a slice with sharedCounters is relevant for every node (counters are
    pool-wide), whatever node selection it carries; its counter set serves node-1's device
    (were it ignored, the pool would be invalid: an unknown counter set)."""
    cluster = make_cluster(
        device_class(),
        resource_slice(
            [device("d1", consumesCounters=[consumes("cs", mem="4Gi")])],
            name="a-devices",
            count=2,
        ),
        resource_slice(
            [], name="b-counters", count=2, node="node-2", counters=[counter_set("cs", mem="4Gi")]
        ),
        claim("c", request()),
    )
    assert chosen_devices(cluster.allocate(node="node-1")) == ["d1"]


# ----------------------------------------------------------------- 6.3 generations


def test_only_the_highest_generation_of_a_pool_is_used() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(["old"], name="s-old", generation=1),
        resource_slice(["new"], name="s-new", generation=2),
        claim("c", request(mode=ALL)),
    )
    assert chosen_devices(cluster.allocate()) == ["new"]


def test_higher_generation_slice_replaces_lower_ones_regardless_of_input_order() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(["new"], name="s-new", generation=5, all_nodes=True),
        resource_slice(["old"], name="s-old", generation=4),
        claim("c", request(mode=ALL)),
    )
    assert chosen_devices(cluster.allocate()) == ["new"]


def test_pool_missing_a_slice_is_incomplete_and_never_allocated_from() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(["d1"], count=2),
        claim("c", request()),
    )
    assert cluster.allocate() is None


def test_incomplete_pool_does_not_stop_another_pool_from_serving_the_request() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(["d1"], name="s-a", pool="a", count=2),
        resource_slice(["d2"], name="s-b", pool="b"),
        claim("c", request()),
    )
    assert chosen_devices(cluster.allocate()) == ["d2"]


def test_pool_completed_by_slices_of_other_nodes_is_complete_but_only_local_devices_are_used() -> (
    None
):
    cluster = make_cluster(
        device_class(),
        resource_slice(["local"], name="s-1", node="node-1", count=2),
        resource_slice(["remote"], name="s-2", node="node-2", count=2),
        claim("c", request(mode=ALL)),
    )
    assert chosen_devices(cluster.allocate(node="node-1")) == ["local"]


def test_pool_whose_newer_generation_lives_on_another_node_is_obsolete_and_dropped_silently() -> (
    None
):
    """Obsolete (not incomplete): even `All` mode, which errors on incomplete pools of any
    driver, does not see it."""
    cluster = make_cluster(
        driver_class("gpu"),
        resource_slice(["old"], name="s-1", pool="moving", generation=1, count=2, node="node-1"),
        resource_slice(["new"], name="s-2", pool="moving", generation=2, count=2, node="node-2"),
        resource_slice(["other"], name="s-3", driver="nic.example.com", pool="nics"),
        claim("c", request(mode=ALL)),
    )
    assert cluster.allocate(node="node-1") is None


def test_node_seeing_a_complete_older_generation_keeps_allocating_from_it() -> None:
    """Spec 6.3 note: documented upstream behaviour for multi-node pools."""
    cluster = make_cluster(
        device_class(),
        resource_slice(["old"], name="s-1", generation=1, node="node-1"),
        resource_slice(["new"], name="s-2", generation=2, node="node-2"),
        claim("c", request()),
    )
    assert chosen_devices(cluster.allocate(node="node-1")) == ["old"]
    assert chosen_devices(cluster.allocate(node="node-2")) == ["new"]


def test_empty_slice_counts_toward_resource_slice_count() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(["d1"], name="s-1", count=2),
        resource_slice([], name="s-2", count=2),
        claim("c", request()),
    )
    assert chosen_devices(cluster.allocate()) == ["d1"]


# --------------------------------------------------------------------- invalid pools


def test_duplicate_device_name_across_slices_makes_the_pool_invalid() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(["d1"], name="s-1", count=2),
        resource_slice(["d1", "d2"], name="s-2", count=2),
        claim("c", request()),
    )
    with pytest.raises(NodeFailure, match=r"^invalid resource pools were encountered$"):
        cluster.allocate()


def test_duplicate_device_name_only_in_a_slice_for_another_node_keeps_the_pool_valid() -> None:
    """Spec 6.3-3: duplicates count only among the device slices targeting the node."""
    cluster = make_cluster(
        device_class(),
        resource_slice(["d1"], name="s-1", count=2, node="node-1"),
        resource_slice(["d1"], name="s-2", count=2, node="node-2"),
        claim("c", request()),
    )
    assert chosen_devices(cluster.allocate(node="node-1")) == ["d1"]


def test_duplicate_counter_set_name_in_a_pool_makes_it_invalid() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(
            [device("d1", consumesCounters=[consumes("cs", mem=1)])], name="s-1", count=3
        ),
        resource_slice([], name="s-2", count=3, counters=[counter_set("cs", mem=4)]),
        resource_slice([], name="s-3", count=3, counters=[counter_set("cs", mem=4)]),
        claim("c", request()),
    )
    with pytest.raises(NodeFailure, match="invalid resource pools were encountered"):
        cluster.allocate()


def test_device_referencing_an_unknown_counter_set_makes_the_pool_invalid() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(
            ["plain", device("d1", consumesCounters=[consumes("nope", mem=1)])],
            name="s-1",
            count=2,
        ),
        resource_slice([], name="s-2", count=2, counters=[counter_set("cs", mem=4)]),
        claim("c", request(count=2)),
    )
    with pytest.raises(NodeFailure, match="invalid resource pools were encountered"):
        cluster.allocate()


def test_device_referencing_an_unknown_counter_makes_the_pool_invalid() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(
            [device("d1", consumesCounters=[consumes("cs", cores=1)])], name="s-1", count=2
        ),
        resource_slice([], name="s-2", count=2, counters=[counter_set("cs", mem=4)]),
        claim("c", request()),
    )
    with pytest.raises(NodeFailure, match="invalid resource pools were encountered"):
        cluster.allocate()


def test_unknown_counter_set_in_a_slice_for_another_node_also_makes_the_pool_invalid() -> None:
    """Spec 6.3-3: the counter check covers targeting *and* non-targeting slices."""
    cluster = make_cluster(
        device_class(),
        resource_slice(["local"], name="s-1", count=3, node="node-1"),
        resource_slice(
            [device("remote", consumesCounters=[consumes("nope", mem=1)])],
            name="s-2",
            count=3,
            node="node-2",
        ),
        resource_slice([], name="s-3", count=3, counters=[counter_set("cs", mem=4)]),
        claim("c", request(count=2)),
    )
    with pytest.raises(NodeFailure, match="invalid resource pools were encountered"):
        cluster.allocate(node="node-1")


def test_invalid_pool_is_skipped_when_another_pool_satisfies_the_claim() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(["d1"], name="s-a1", pool="a", count=2),
        resource_slice(["d1"], name="s-a2", pool="a", count=2),
        resource_slice(["d9"], name="s-b", pool="b"),
        claim("c", request()),
    )
    assert picked(cluster.allocate()) == [("req", "d9")]


def test_incomplete_pool_and_no_solution_is_a_plain_no_fit_not_a_node_failure() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(["d1"], count=2),
        claim("c", request()),
    )
    assert cluster.allocate() is None


def test_node_failure_is_an_allocation_error() -> None:
    assert issubclass(NodeFailure, AllocationError)


# ------------------------------------------------------------------ search order 1.36


def test_pools_are_searched_by_driver_then_pool_name_not_input_order() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(["b-z"], name="s1", driver="b.example.com", pool="z"),
        resource_slice(["a-z"], name="s2", driver="a.example.com", pool="z"),
        resource_slice(["b-a"], name="s3", driver="b.example.com", pool="a"),
        claim("c", request(count=3)),
    )
    assert chosen_devices(cluster.allocate()) == ["a-z", "b-a", "b-z"]


def test_slices_of_a_pool_are_searched_by_slice_name() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(["from-b"], name="slice-b", count=2),
        resource_slice(["from-a"], name="slice-a", count=2),
        claim("c", request()),
    )
    assert chosen_devices(cluster.allocate()) == ["from-a"]


def test_devices_of_a_slice_are_searched_in_slice_order_not_by_name() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(["zeta", "alpha", "mu"]),
        claim("c", request(count=2)),
    )
    assert chosen_devices(cluster.allocate()) == ["zeta", "alpha"]


def test_pools_with_binding_conditions_are_searched_after_all_others() -> None:
    bound = device("needs-prep", bindingConditions=["ready"], bindingFailureConditions=["failed"])
    cluster = make_cluster(
        device_class(),
        resource_slice([bound], name="s-a", pool="a"),
        resource_slice(["plain"], name="s-z", pool="z"),
        claim("c", request(count=2)),
    )
    assert chosen_devices(cluster.allocate()) == ["plain", "needs-prep"]


def test_one_binding_condition_device_moves_its_whole_pool_to_the_back() -> None:
    bound = device("needs-prep", bindingConditions=["ready"], bindingFailureConditions=["failed"])
    cluster = make_cluster(
        device_class(),
        resource_slice(["a-plain", bound], name="s-a", pool="a"),
        resource_slice(["z-plain"], name="s-z", pool="z"),
        claim("c", request()),
    )
    assert chosen_devices(cluster.allocate()) == ["z-plain"]


def test_binding_condition_pools_are_sorted_among_themselves() -> None:
    def bound(name: str) -> dict:
        return device(name, bindingConditions=["ready"], bindingFailureConditions=["failed"])

    cluster = make_cluster(
        device_class(),
        resource_slice([bound("in-y")], name="s-y", pool="y"),
        resource_slice([bound("in-x")], name="s-x", pool="x"),
        claim("c", request(count=2)),
    )
    assert chosen_devices(cluster.allocate()) == ["in-x", "in-y"]


def test_committed_allocation_in_a_pool_of_another_node_does_not_confuse_pool_identity() -> None:
    """Pools are identified by (driver, pool name): the same pool name under another driver
    is a different pool, and its device of the same name is a different device."""
    cluster = make_cluster(
        device_class(),
        resource_slice(["d1"], name="s-a", driver="a.example.com", pool="p"),
        resource_slice(["d1"], name="s-b", driver="b.example.com", pool="p"),
        allocated("other", result("req", "d1", driver="a.example.com", pool="p")),
        claim("c", request()),
    )
    (only,) = cluster.allocate() or []
    assert [(r.driver, r.device) for r in only.devices.results] == [("b.example.com", "d1")]
