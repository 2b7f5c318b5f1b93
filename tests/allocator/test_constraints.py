"""Claim constraints: matchAttribute and distinctAttribute (spec 6.10, quirks 4 and 5)."""

from __future__ import annotations

from typing import Any

import pytest
from yamlkit import (
    DRIVER,
    chosen_devices,
    claim,
    device,
    device_class,
    distinct,
    driver_class,
    first_available,
    match,
    picked,
    request,
    resource_slice,
    sub,
)
from yamlkit import cluster as make_cluster

from dralloc.allocator import AllocationError

ROOT = f"{DRIVER}/root"
PCIE = "resource.kubernetes.io/pcieRoot"
LISTS = "DRAListTypeAttributes=true"


def devs(attribute: str, *values: Any) -> list[dict[str, Any]]:
    """d1, d2, ... with `attribute` set to the given values (None = attribute absent)."""
    return [device(f"d{i}", None if v is None else {attribute: v}) for i, v in enumerate(values, 1)]


def pick(
    attribute: str,
    values: list[Any],
    constraint: dict[str, Any],
    count: int = 2,
    gates: str = "",
    *,
    pairwise: bool = False,
) -> list[str] | None:
    cluster = make_cluster(
        device_class(),
        resource_slice(devs(attribute, *values)),
        claim("c", request(count=count), constraints=[constraint]),
    )
    got = cluster.allocate(gates=gates, pairwise_distinct=pairwise)
    return None if got is None else chosen_devices(got)


def kind(value: str) -> str:
    return f'device.attributes["{DRIVER}"].kind == "{value}"'


# -------------------------------------------------------------------------- matchAttribute


def test_match_attribute_keeps_both_gpus_on_one_pcie_root() -> None:
    assert pick("root", ["a", "b", "a"], match(ROOT)) == ["d1", "d3"]


def test_match_attribute_backtracks_to_a_new_reference_value() -> None:
    """d1's value matches nothing else; once d1 is dropped, d2 fixes the new value."""
    assert pick("root", ["a", "b", "c", "b"], match(ROOT)) == ["d2", "d4"]


def test_match_attribute_without_a_matching_pair_is_unsatisfiable() -> None:
    assert pick("root", ["a", "b", "c"], match(ROOT)) is None


def test_match_attribute_spans_requests() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(
            [
                device("g1", {"root": "a", "kind": "gpu"}),
                device("g2", {"root": "b", "kind": "gpu"}),
                device("n1", {"root": "b", "kind": "nic"}),
            ]
        ),
        claim(
            "c",
            request("gpu", "gpu", kind("gpu")),
            request("nic", "gpu", kind("nic")),
            constraints=[match(ROOT)],
        ),
    )
    assert picked(cluster.allocate()) == [("gpu", "g2"), ("nic", "n1")]


def test_match_attribute_across_drivers_uses_the_shared_domain_key() -> None:
    cluster = make_cluster(
        driver_class("gpu", DRIVER),
        driver_class("nic", "nic.example.com"),
        resource_slice(
            [device("g1", {PCIE: "p0"}), device("g2", {PCIE: "p1"})], name="s-gpu", pool="gpus"
        ),
        resource_slice(
            [device("n1", {PCIE: "p1"})], name="s-nic", driver="nic.example.com", pool="nics"
        ),
        claim("c", request("gpu", "gpu"), request("nic", "nic"), constraints=[match(PCIE)]),
    )
    assert picked(cluster.allocate()) == [("gpu", "g2"), ("nic", "n1")]


def test_constraint_limited_to_named_requests_leaves_others_free() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(devs("root", "a", "b", "c", "b")),
        claim(
            "c",
            request("free"),
            request("x"),
            request("y"),
            constraints=[match(ROOT, "x", "y")],
        ),
    )
    assert picked(cluster.allocate()) == [("free", "d1"), ("x", "d2"), ("y", "d4")]


def test_empty_requests_list_constrains_every_request() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(devs("root", "a", "b", "c", "b")),
        claim("c", request("free"), request("x"), constraints=[match(ROOT)]),
    )
    assert picked(cluster.allocate()) == [("free", "d2"), ("x", "d4")]


def test_constraint_naming_a_parent_request_covers_whichever_subrequest_is_chosen() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(devs("root", "a", "b", "b")),
        claim(
            "c",
            request("first"),
            first_available("flex", sub("one"), sub("two", count=2)),
            constraints=[match(ROOT, "first", "flex")],
        ),
    )
    # Unconstrained, flex/one would take d2 next to d1; d1 (a) and d2 (b) differ.
    assert picked(cluster.allocate()) == [("first", "d2"), ("flex/one", "d3")]


def test_constraint_naming_one_subrequest_leaves_the_other_subrequest_free() -> None:
    cluster = make_cluster(
        device_class("narrow", "false"),
        device_class(),
        resource_slice(devs("root", "a", "b")),
        claim(
            "c",
            request("first"),
            first_available("flex", sub("strict", "narrow"), sub("loose")),
            constraints=[match(ROOT, "first", "flex/strict")],
        ),
    )
    assert picked(cluster.allocate()) == [("first", "d1"), ("flex/loose", "d2")]


def test_constraint_naming_a_subrequest_applies_when_that_subrequest_is_chosen() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(devs("root", "a", "b", "b")),
        claim(
            "c",
            request("first"),
            first_available("flex", sub("strict"), sub("too-big", count=5)),
            constraints=[match(ROOT, "first", "flex/strict")],
        ),
    )
    assert picked(cluster.allocate()) == [("first", "d2"), ("flex/strict", "d3")]


def test_constraint_finds_a_bare_attribute_in_the_driver_domain() -> None:
    assert pick("root", ["a", "a"], match(ROOT)) == ["d1", "d2"]


def test_constraint_finds_an_attribute_written_with_the_driver_domain() -> None:
    assert pick(ROOT, ["a", "b", "b"], match(ROOT)) == ["d2", "d3"]


def test_bare_attribute_of_another_driver_does_not_answer_for_this_domain() -> None:
    """`gpu.example.com/root` falls back to a bare `root` only on gpu.example.com devices."""
    cluster = make_cluster(
        device_class(),
        resource_slice([device("g1", {"root": "a"})], name="s-g", pool="g"),
        resource_slice(
            [device("n1", {"root": "a"})], name="s-n", driver="nic.example.com", pool="n"
        ),
        claim("c", request(count=2), constraints=[match(ROOT)]),
    )
    assert cluster.allocate() is None


def test_device_missing_the_attribute_is_refused() -> None:
    assert pick("root", [None, "a", "a"], match(ROOT)) == ["d2", "d3"]


def test_device_missing_the_attribute_is_refused_even_as_the_first_device() -> None:
    assert pick("root", [None, "a"], match(ROOT), count=1) == ["d2"]


def test_match_attribute_requires_the_same_type() -> None:
    assert pick("root", [1, "1", 1], match(ROOT)) == ["d1", "d3"]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param([7, 7], ["d1", "d2"], id="int"),
        pytest.param([True, False, True], ["d1", "d3"], id="bool"),
        pytest.param(["x", "y", "x"], ["d1", "d3"], id="string"),
    ],
)
def test_match_attribute_compares_scalar_values(values: list[Any], expected: list[str]) -> None:
    assert pick("root", values, match(ROOT)) == expected


def test_versions_are_compared_as_exact_strings() -> None:
    """Build metadata makes semver-equal versions different strings: they do not match."""
    values = [{"version": "1.2.3"}, {"version": "1.2.3+build.1"}, {"version": "1.2.3"}]
    assert pick("driverVersion", values, match(f"{DRIVER}/driverVersion")) == ["d1", "d3"]


def test_all_mode_violating_a_constraint_is_an_error() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(devs("root", "a", "b")),
        claim("c", request(mode="All"), constraints=[match(ROOT)]),
    )
    with pytest.raises(AllocationError) as err:
        cluster.allocate()
    assert str(err.value) == (
        "claim default/c, request req: cannot add device gpu.example.com/pool-1/d2 because a "
        "claim constraint would not be satisfied"
    )


def test_all_mode_satisfying_a_constraint_succeeds() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(devs("root", "a", "a")),
        claim("c", request(mode="All"), constraints=[match(ROOT)]),
    )
    assert chosen_devices(cluster.allocate()) == ["d1", "d2"]


def test_refused_device_rolls_back_constraints_that_had_accepted_it() -> None:
    """d2 passes the first constraint but not the second; the first must forget it, or d3
    (root a, numa 0) would then be refused by a stale `b`."""
    cluster = make_cluster(
        device_class(),
        resource_slice(
            [
                device("d1", {"root": "a", "numa": 0}),
                device("d2", {"root": "a", "numa": 1}),
                device("d3", {"root": "a", "numa": 0}),
            ]
        ),
        claim(
            "c",
            request(count=2),
            constraints=[match(ROOT), match(f"{DRIVER}/numa")],
        ),
    )
    assert chosen_devices(cluster.allocate()) == ["d1", "d3"]


# -------------------------------------------------------------------- distinctAttribute


def test_distinct_attribute_spreads_devices_over_values() -> None:
    assert pick("root", ["a", "a", "b"], distinct(ROOT)) == ["d1", "d3"]


def test_distinct_attribute_remembers_one_value_per_request_as_upstream() -> None:
    """Quirk 4 (constraints.py docstring): Kubernetes 1.36 remembers only the most recent
    device of a request, so d3 (a) is accepted after d2 (b)."""
    assert pick("root", ["a", "b", "a", "c"], distinct(ROOT), count=3) == ["d1", "d2", "d3"]


def test_distinct_attribute_alternating_values_fill_one_request_as_upstream() -> None:
    """Each device is compared with its request's previous one only: two values alternate."""
    assert pick("root", ["a", "b", "a", "b"], distinct(ROOT), count=4) == ["d1", "d2", "d3", "d4"]
    assert pick("root", ["a", "b", "a", "b"], distinct(ROOT), count=4, pairwise=True) is None


def test_distinct_attribute_pairwise_option_is_truly_pairwise_within_one_request() -> None:
    assert pick("root", ["a", "b", "a", "c"], distinct(ROOT), count=3, pairwise=True) == [
        "d1",
        "d2",
        "d4",
    ]
    assert pick("root", ["a", "a", "b"], distinct(ROOT), count=3, pairwise=True) is None


def test_distinct_attribute_refuses_a_device_missing_the_attribute() -> None:
    assert pick("root", ["a", None, "b"], distinct(ROOT)) == ["d1", "d3"]


def test_distinct_attribute_without_enough_values_is_unsatisfiable() -> None:
    assert pick("root", ["a", "a", "a"], distinct(ROOT)) is None


def test_distinct_attribute_treats_values_of_different_types_as_different() -> None:
    assert pick("root", [1, "1"], distinct(ROOT)) == ["d1", "d2"]


def test_distinct_attribute_spans_requests() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(devs("root", "a", "a", "b")),
        claim("c", request("x"), request("y"), constraints=[distinct(ROOT)]),
    )
    assert picked(cluster.allocate()) == [("x", "d1"), ("y", "d3")]


def test_distinct_attribute_keeps_two_requests_off_one_shared_device() -> None:
    shared = [
        device("m1", {"id": "m1"}, allowMultipleAllocations=True),
        device("m2", {"id": "m2"}, allowMultipleAllocations=True),
    ]
    cluster = make_cluster(
        device_class(),
        resource_slice(shared),
        claim("c", request("x"), request("y"), constraints=[distinct(f"{DRIVER}/id")]),
    )
    assert picked(cluster.allocate()) == [("x", "m1"), ("y", "m2")]


def test_match_attribute_lets_two_requests_share_one_multi_allocatable_device() -> None:
    shared = [device("m1", {"id": "m1"}, allowMultipleAllocations=True)]
    cluster = make_cluster(
        device_class(),
        resource_slice(shared),
        claim("c", request("x"), request("y"), constraints=[match(f"{DRIVER}/id")]),
    )
    assert picked(cluster.allocate()) == [("x", "m1"), ("y", "m1")]


# --------------------------------------------------------------------- list attributes


def test_list_attribute_is_unsupported_for_constraints_with_list_types_off() -> None:
    """Spec 2.3: an unsupported attribute value is non-matching for constraints."""
    assert pick("links", [["a"], ["a"]], match(f"{DRIVER}/links")) is None


def test_list_attributes_match_when_their_sets_intersect() -> None:
    got = pick("links", [["a", "b"], ["b", "c"]], match(f"{DRIVER}/links"), gates=LISTS)
    assert got == ["d1", "d2"]


def test_list_attribute_match_narrows_the_running_intersection() -> None:
    """{a,b}, {b,c}, {c,a} intersect pairwise but have no common element."""
    values = [["a", "b"], ["b", "c"], ["c", "a"]]
    assert pick("links", values, match(f"{DRIVER}/links"), count=3, gates=LISTS) is None


def test_scalar_attribute_is_a_set_of_one_with_list_types_on() -> None:
    values = ["b", ["a", "b"], ["c"]]
    assert pick("links", values, match(f"{DRIVER}/links"), gates=LISTS) == ["d1", "d2"]


def test_list_attribute_match_requires_the_same_element_type() -> None:
    values = [[1, 2], ["1", "2"], [2, 3]]
    assert pick("links", values, match(f"{DRIVER}/links"), gates=LISTS) == ["d1", "d3"]


def test_list_intersection_is_restored_when_the_search_backtracks() -> None:
    """Quirk 5 avoided (constraints.py docstring): after `right` drops d2 ({a}), the running
    intersection is {a,b} again, so d3 ({b}) is accepted. Upstream keeps {a} and fails."""
    cluster = make_cluster(
        device_class("left", kind("left")),
        device_class("right", kind("right")),
        device_class("other", kind("right")),
        resource_slice(
            [
                device("d1", {"kind": "left", "links": ["a", "b"]}),
                device("d2", {"kind": "right", "links": ["a"]}),
                device("d3", {"kind": "right", "links": ["b"]}),
            ]
        ),
        claim(
            "c",
            request("left", "left"),
            request("right", "right"),
            request("other", "other", f'device.attributes["{DRIVER}"].links.includes("a")'),
            constraints=[match(f"{DRIVER}/links", "left", "right")],
        ),
    )
    assert picked(cluster.allocate(gates=LISTS)) == [
        ("left", "d1"),
        ("right", "d3"),
        ("other", "d2"),
    ]


def test_list_attributes_are_distinct_only_when_disjoint() -> None:
    values = [["a", "b"], ["b", "c"], ["c", "d"]]
    assert pick("links", values, distinct(f"{DRIVER}/links"), gates=LISTS) == ["d1", "d3"]


def test_list_distinct_is_pairwise_with_the_option() -> None:
    values = [["a"], ["b"], ["a", "c"], ["c"]]
    got = pick("links", values, distinct(f"{DRIVER}/links"), count=3, gates=LISTS, pairwise=True)
    assert got == ["d1", "d2", "d4"]


def test_list_distinct_remembers_one_set_per_request_as_upstream() -> None:
    values = [["a"], ["b"], ["a", "c"], ["c"]]
    got = pick("links", values, distinct(f"{DRIVER}/links"), count=3, gates=LISTS)
    assert got == ["d1", "d2", "d3"]


def test_all_mode_untolerated_taint_fails_before_the_constraint_is_asked() -> None:
    """Spec 6.6 d: taints (step 4) come before constraints (step 5), so `All` ends in a plain
    no-fit rather than the constraint error."""
    cluster = make_cluster(
        device_class(),
        resource_slice(
            [
                device("d1", {"root": "a"}),
                device("d2", {"root": "b"}, taints=[{"key": "k", "effect": "NoSchedule"}]),
            ]
        ),
        claim("c", request(mode="All"), constraints=[match(ROOT)]),
    )
    assert cluster.allocate() is None


def test_exact_domain_key_wins_over_the_bare_key() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(
            [
                device("d1", {"root": "x", ROOT: "a"}),
                device("d2", {"root": "a"}),
                device("d3", {"root": "y", ROOT: "a"}),
            ]
        ),
        claim("c", request(count=2), constraints=[match(ROOT)]),
    )
    assert chosen_devices(cluster.allocate()) == ["d1", "d2"]


def test_version_and_string_with_the_same_text_do_not_match() -> None:
    values = [{"version": "1.0.0"}, "1.0.0", {"version": "1.0.0"}]
    assert pick("v", values, match(f"{DRIVER}/v")) == ["d1", "d3"]
