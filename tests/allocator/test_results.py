"""Building allocation results: fields, config and nodeSelector (spec 6.12, 2.5, quirk 1)."""

from __future__ import annotations

from typing import Any

from yamlkit import (
    DRIVER,
    LOCAL_NODE_1,
    claim,
    claim_config,
    device,
    device_class,
    first_available,
    label_term,
    node,
    opaque,
    picked,
    request,
    resource_slice,
    sub,
    wire,
)
from yamlkit import cluster as make_cluster

from dralloc.api.resource import AllocationResult

CONDITIONS = {"bindingConditions": ["ready"], "bindingFailureConditions": ["failed"]}


def only(results: list[AllocationResult] | None) -> dict[str, Any]:
    """The wire form of the only claim's allocation."""
    assert results is not None, "expected an allocation, got none"
    (one,) = results
    out = wire(one)
    assert isinstance(out, dict)
    return out


def config_of(results: list[AllocationResult] | None) -> list[tuple[str, list[str], str]]:
    """(source, requests, marker parameter) per config entry, in order."""
    return [
        (c["source"], c.get("requests", []), c["opaque"]["parameters"]["id"])
        for c in only(results)["devices"].get("config", [])
    ]


def kind(value: str) -> str:
    return f'device.attributes["{DRIVER}"].kind == "{value}"'


# ------------------------------------------------------------------------------- results


def test_result_names_request_driver_pool_and_device() -> None:
    cluster = make_cluster(device_class(), resource_slice(["d1"]), claim("c", request("gpu")))
    assert only(cluster.allocate())["devices"]["results"] == [
        {"request": "gpu", "driver": DRIVER, "pool": "pool-1", "device": "d1"}
    ]


def test_results_follow_request_order_then_candidate_order() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(["d3", "d1", "d2"], name="s-b", pool="b"),
        resource_slice(["a1"], name="s-a", pool="a"),
        claim("c", request("second-listed", count=2), request("last")),
    )
    assert picked(cluster.allocate()) == [
        ("second-listed", "a1"),
        ("second-listed", "d3"),
        ("last", "d1"),
    ]


def test_binding_condition_lists_are_copied_from_the_device() -> None:
    cluster = make_cluster(
        device_class(), resource_slice([device("d1", **CONDITIONS)]), claim("c", request())
    )
    (res,) = only(cluster.allocate())["devices"]["results"]
    assert res["bindingConditions"] == ["ready"]
    assert res["bindingFailureConditions"] == ["failed"]


def test_result_of_a_device_without_binding_conditions_has_none() -> None:
    cluster = make_cluster(device_class(), resource_slice(["d1"]), claim("c", request()))
    (res,) = only(cluster.allocate())["devices"]["results"]
    assert "bindingConditions" not in res
    assert "bindingFailureConditions" not in res


def test_share_id_and_consumed_capacity_only_for_multi_allocatable_devices() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(
            [
                device("plain", capacity={"bw": "10"}),
                device("shared", capacity={"bw": "10"}, allowMultipleAllocations=True),
            ]
        ),
        claim("c", request(count=2, capacity={"bw": "4"})),
    )
    plain, shared = only(cluster.allocate())["devices"]["results"]
    assert "shareID" not in plain
    assert "consumedCapacity" not in plain
    assert shared["shareID"] == "00000000-0000-4000-8000-000000000001"
    assert shared["consumedCapacity"] == {"bw": "4"}


def test_allocation_timestamp_is_not_set_by_the_allocator() -> None:
    cluster = make_cluster(
        device_class(), resource_slice([device("d1", **CONDITIONS)]), claim("c", request())
    )
    assert "allocationTimestamp" not in only(cluster.allocate())


# -------------------------------------------------------------------------------- config


def test_class_config_comes_first_then_claim_config() -> None:
    cluster = make_cluster(
        device_class("gpu", config=[opaque(id="class")]),
        resource_slice(["d1"]),
        claim("c", request("req", "gpu"), config=[claim_config(id="claim")]),
    )
    assert config_of(cluster.allocate()) == [
        ("FromClass", ["req"], "class"),
        ("FromClaim", [], "claim"),
    ]


def test_class_config_of_a_class_seen_again_collects_the_request_names() -> None:
    cluster = make_cluster(
        device_class("gpu", config=[opaque(id="g1"), opaque(id="g2")]),
        device_class("nic", config=[opaque(id="n1")]),
        resource_slice(["d1", "d2", "d3"]),
        claim("c", request("a", "gpu"), request("b", "nic"), request("c", "gpu")),
    )
    assert config_of(cluster.allocate()) == [
        ("FromClass", ["a", "c"], "g1"),
        ("FromClass", ["a", "c"], "g2"),
        ("FromClass", ["b"], "n1"),
    ]


def test_class_config_is_emitted_once_per_request_not_per_device() -> None:
    cluster = make_cluster(
        device_class("gpu", config=[opaque(id="g")]),
        resource_slice(["d1", "d2"]),
        claim("c", request("a", "gpu", count=2)),
    )
    assert config_of(cluster.allocate()) == [("FromClass", ["a"], "g")]


def test_class_without_config_contributes_nothing() -> None:
    cluster = make_cluster(device_class(), resource_slice(["d1"]), claim("c", request()))
    assert "config" not in only(cluster.allocate())["devices"]


def test_claim_config_naming_a_request_is_copied_with_its_original_requests_list() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(["d1", "d2"]),
        claim(
            "c",
            request("a"),
            request("b"),
            config=[claim_config("b", id="for-b"), claim_config(id="for-all")],
        ),
    )
    assert config_of(cluster.allocate()) == [
        ("FromClaim", ["b"], "for-b"),
        ("FromClaim", [], "for-all"),
    ]


def test_claim_config_naming_two_requests_is_emitted_twice() -> None:
    """Quirk 1 (upstream, kept): one copy per matching request."""
    cluster = make_cluster(
        device_class(),
        resource_slice(["d1", "d2", "d3"]),
        claim(
            "c",
            request("a"),
            request("b"),
            request("c"),
            config=[claim_config("a", "c", id="ac")],
        ),
    )
    assert config_of(cluster.allocate()) == [
        ("FromClaim", ["a", "c"], "ac"),
        ("FromClaim", ["a", "c"], "ac"),
    ]


def test_chosen_subrequest_brings_its_class_config_under_the_parent_slash_sub_name() -> None:
    cluster = make_cluster(
        device_class("big", kind("big"), config=[opaque(id="big")]),
        device_class("small", kind("small"), config=[opaque(id="small")]),
        resource_slice([device("s1", {"kind": "small"})]),
        claim("c", first_available("req", sub("big", "big"), sub("small", "small"))),
    )
    assert config_of(cluster.allocate()) == [("FromClass", ["req/small"], "small")]


def test_claim_config_for_an_unchosen_subrequest_is_dropped() -> None:
    """Spec 8: configs referring to `req/big` are dropped when `req/small` is chosen."""
    cluster = make_cluster(
        device_class("big", kind("big")),
        device_class("small", kind("small")),
        resource_slice([device("b1", {"kind": "big"}), device("s1", {"kind": "small"})]),
        claim(
            "c",
            first_available("req", sub("big", "big", count=2), sub("small", "small")),
            config=[
                claim_config("req/big", id="big"),
                claim_config("req/small", id="small"),
                claim_config("req", id="parent"),
            ],
        ),
    )
    got = cluster.allocate()
    assert picked(got) == [("req/small", "s1")]
    assert config_of(got) == [
        ("FromClaim", ["req/small"], "small"),
        ("FromClaim", ["req"], "parent"),
    ]


def test_claim_config_follows_config_order_and_request_order() -> None:
    cluster = make_cluster(
        device_class("gpu", config=[opaque(id="class")]),
        resource_slice(["d1", "d2"]),
        claim(
            "c",
            request("a"),
            request("b"),
            config=[claim_config("b", id="first"), claim_config("a", id="second")],
        ),
    )
    assert config_of(cluster.allocate()) == [
        ("FromClass", ["a", "b"], "class"),
        ("FromClaim", ["b"], "first"),
        ("FromClaim", ["a"], "second"),
    ]


# ---------------------------------------------------------------------------- nodeSelector


def test_device_from_a_node_local_slice_pins_the_result_to_the_node() -> None:
    cluster = make_cluster(device_class(), resource_slice(["d1"]), claim("c", request()))
    assert only(cluster.allocate())["nodeSelector"] == LOCAL_NODE_1


def test_device_with_its_own_node_name_pins_the_result_to_the_node() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice([device("d1", nodeName="node-1")], per_device=True),
        claim("c", request()),
    )
    assert only(cluster.allocate())["nodeSelector"] == LOCAL_NODE_1


def test_binds_to_node_pins_a_network_device_to_the_chosen_node() -> None:
    cluster = make_cluster(
        node("node-1"),
        device_class(),
        resource_slice([device("d1", bindsToNode=True, **CONDITIONS)], all_nodes=True),
        claim("c", request()),
    )
    assert only(cluster.allocate(node="node-1"))["nodeSelector"] == LOCAL_NODE_1


def test_all_nodes_devices_give_no_node_selector() -> None:
    cluster = make_cluster(
        device_class(), resource_slice(["d1"], all_nodes=True), claim("c", request())
    )
    assert "nodeSelector" not in only(cluster.allocate())


def test_node_selector_slice_gives_its_term() -> None:
    term = label_term("zone", "In", "a")
    cluster = make_cluster(
        node("node-1", zone="a"),
        device_class(),
        resource_slice(["d1"], node_selector=term),
        claim("c", request()),
    )
    assert only(cluster.allocate())["nodeSelector"] == {"nodeSelectorTerms": [term]}


def test_node_selector_terms_of_several_devices_are_merged_into_one() -> None:
    cluster = make_cluster(
        node("node-1", zone="a", rack="r1"),
        device_class(),
        resource_slice(["d1"], name="s-1", pool="p1", node_selector=label_term("zone", "In", "a")),
        resource_slice(["d2"], name="s-2", pool="p2", node_selector=label_term("rack", "Exists")),
        claim("c", request(count=2)),
    )
    assert only(cluster.allocate())["nodeSelector"] == {
        "nodeSelectorTerms": [
            {
                "matchExpressions": [
                    {"key": "zone", "operator": "In", "values": ["a"]},
                    {"key": "rack", "operator": "Exists"},
                ]
            }
        ]
    }


def test_duplicate_requirements_are_dropped_comparing_values_as_sets() -> None:
    cluster = make_cluster(
        node("node-1", zone="a"),
        device_class(),
        resource_slice(
            ["d1"], name="s-1", pool="p1", node_selector=label_term("zone", "In", "a", "b")
        ),
        resource_slice(
            ["d2"], name="s-2", pool="p2", node_selector=label_term("zone", "In", "b", "a")
        ),
        claim("c", request(count=2)),
    )
    assert only(cluster.allocate())["nodeSelector"] == {
        "nodeSelectorTerms": [
            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}
        ]
    }


def test_match_fields_are_merged_too() -> None:
    by_name = {"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["x"]}]}
    cluster = make_cluster(
        node("node-1", zone="a"),
        device_class(),
        resource_slice(["d1"], name="s-1", pool="p1", node_selector=by_name),
        resource_slice(["d2"], name="s-2", pool="p2", node_selector=label_term("zone", "In", "a")),
        claim("c", request(count=2)),
    )
    assert only(cluster.allocate())["nodeSelector"] == {
        "nodeSelectorTerms": [
            {
                "matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}],
                "matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["x"]}],
            }
        ]
    }


def test_all_nodes_contributes_nothing_to_a_merged_selector() -> None:
    term = label_term("zone", "In", "a")
    cluster = make_cluster(
        node("node-1", zone="a"),
        device_class(),
        resource_slice(["d1"], name="s-1", pool="p1", all_nodes=True),
        resource_slice(["d2"], name="s-2", pool="p2", node_selector=term),
        claim("c", request(count=2)),
    )
    assert only(cluster.allocate())["nodeSelector"] == {"nodeSelectorTerms": [term]}


def test_per_device_node_selector_gives_the_device_term() -> None:
    term = label_term("zone", "In", "a")
    cluster = make_cluster(
        node("node-1", zone="a"),
        device_class(),
        resource_slice([device("d1", nodeSelector={"nodeSelectorTerms": [term]})], per_device=True),
        claim("c", request()),
    )
    assert only(cluster.allocate())["nodeSelector"] == {"nodeSelectorTerms": [term]}


def test_per_device_all_nodes_gives_no_node_selector() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice([device("d1", allNodes=True)], per_device=True),
        claim("c", request()),
    )
    assert "nodeSelector" not in only(cluster.allocate())


def test_one_node_local_device_pins_the_whole_claim() -> None:
    cluster = make_cluster(
        node("node-1", zone="a"),
        device_class(),
        resource_slice(["d1"], name="s-1", pool="p1", node_selector=label_term("zone", "In", "a")),
        resource_slice(["d2"], name="s-2", pool="p2"),
        claim("c", request(count=2)),
    )
    assert only(cluster.allocate())["nodeSelector"] == LOCAL_NODE_1


def test_claim_with_no_devices_has_no_node_selector() -> None:
    cluster = make_cluster(device_class(), resource_slice(["d1"]), claim("c"))
    assert "nodeSelector" not in only(cluster.allocate())


def test_each_claim_gets_its_own_node_selector() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(["local"], name="s-1", pool="p1"),
        resource_slice(["net"], name="s-2", pool="p2", all_nodes=True),
        claim("c1", request()),
        claim("c2", request()),
    )
    got = cluster.allocate()
    assert got is not None
    assert wire(got[0]).get("nodeSelector") == LOCAL_NODE_1
    assert "nodeSelector" not in wire(got[1])


def test_class_config_collects_plain_and_subrequest_names_of_one_class() -> None:
    cluster = make_cluster(
        device_class("gpu", config=[opaque(id="g")]),
        resource_slice(["d1", "d2"]),
        claim("c", request("a", "gpu"), first_available("b", sub("x", "gpu"))),
    )
    assert config_of(cluster.allocate()) == [("FromClass", ["a", "b/x"], "g")]


def test_binds_to_node_is_ignored_with_binding_conditions_off() -> None:
    """Our behaviour: `bindsToNode` belongs to the binding-conditions feature (spec 0.1), so
    with DeviceBindingAndStatus off it is a disabled field and pins nothing."""
    cluster = make_cluster(
        device_class(),
        resource_slice([device("d1", bindsToNode=True)], all_nodes=True),
        claim("c", request()),
    )
    assert only(cluster.allocate())["nodeSelector"] == LOCAL_NODE_1
    off = cluster.allocate(gates="DRADeviceBindingConditions=false")
    assert "nodeSelector" not in only(off)
