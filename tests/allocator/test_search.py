"""The depth-first search: backtracking, combinations, all-or-none, order, time (spec 6.5)."""

from __future__ import annotations

import pytest
from yamlkit import (
    DRIVER,
    allocated,
    claim,
    device,
    device_class,
    distinct,
    first_available,
    match,
    picked,
    picks,
    request,
    resource_slice,
    result,
    sub,
)
from yamlkit import cluster as make_cluster

from dralloc.allocator import (
    AllocationError,
    AllocationGaveUp,
    Allocator,
    AllocatorOptions,
    Inventory,
    allocated_state,
)
from dralloc.features import Features
from dralloc.testing import Cluster, sequential_share_ids


def kind(value: str) -> str:
    return f'device.attributes["{DRIVER}"].kind == "{value}"'


class FakeClock:
    """Advances by `tick` seconds every time it is read."""

    def __init__(self, tick: float) -> None:
        self.now = 0.0
        self.tick = tick
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        self.now += self.tick
        return self.now


def allocate_with_clock(cluster: Cluster, clock: FakeClock, timeout: float | None) -> object:
    features = Features()
    allocator = Allocator(
        features,
        # Pairwise distinctness, so that the hopeless cluster below is hopeless.
        options=AllocatorOptions(
            timeout=timeout,
            clock=clock,
            share_ids=sequential_share_ids(),
            pairwise_distinct_attribute=True,
        ),
    )
    return allocator.allocate(
        cluster.node("node-1"),
        cluster.pending,
        Inventory(cluster.slices, features),
        cluster.classes,
        allocated_state(cluster.allocated, features),
    )


def hopeless_cluster() -> Cluster:
    """No three of sixteen devices have pairwise distinct colours, found only after a long
    search (with `pairwise_distinct_attribute`; upstream's memory would allow red, blue, red)."""
    devs = [device(f"d{i:02}", {"colour": "red" if i % 2 else "blue"}) for i in range(16)]
    return make_cluster(
        device_class(),
        resource_slice(devs),
        claim("c", request(count=3), constraints=[distinct(f"{DRIVER}/colour")]),
    )


# --------------------------------------------------------------------------- backtracking


def test_first_request_gives_up_its_first_device_when_a_later_request_needs_it() -> None:
    """Spec 8: count 2 over d1 (X), d2, d3 and a second request for X -> {d2, d3}."""
    cluster = make_cluster(
        device_class(),
        resource_slice(
            [device("d1", {"kind": "x"}), device("d2", {"kind": "y"}), device("d3", {"kind": "y"})]
        ),
        claim("c", request("any", count=2), request("x", "gpu", kind("x"))),
    )
    assert picked(cluster.allocate()) == [("any", "d2"), ("any", "d3"), ("x", "d1")]


def test_earlier_claim_gives_up_a_device_a_later_claim_needs() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice([device("d1", {"kind": "x"}), device("d2", {"kind": "y"})]),
        claim("c1", request()),
        claim("c2", request("req", "gpu", kind("x"))),
    )
    assert picks(cluster.allocate()) == [[("req", "d2")], [("req", "d1")]]


def test_backtracking_releases_every_device_of_an_abandoned_choice() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(
            [
                device("x1", {"kind": "x"}),
                device("x2", {"kind": "x"}),
                device("y1", {"kind": "y"}),
                device("y2", {"kind": "y"}),
            ]
        ),
        claim("c1", request(count=2)),
        claim("c2", request("req", "gpu", kind("x"), count=2)),
    )
    assert picks(cluster.allocate()) == [
        [("req", "y1"), ("req", "y2")],
        [("req", "x1"), ("req", "x2")],
    ]


def test_subrequest_choice_is_backtracked_when_a_later_request_needs_its_device() -> None:
    cluster = make_cluster(
        device_class("big", kind("big")),
        device_class("small", kind("small")),
        resource_slice([device("b1", {"kind": "big"}), device("s1", {"kind": "small"})]),
        claim(
            "c",
            first_available("flex", sub("big", "big"), sub("small", "small")),
            request("needs-big", "big"),
        ),
    )
    assert picked(cluster.allocate()) == [("flex/small", "s1"), ("needs-big", "b1")]


def test_subrequest_choice_is_backtracked_for_a_later_claim() -> None:
    cluster = make_cluster(
        device_class("big", kind("big")),
        device_class("small", kind("small")),
        resource_slice([device("b1", {"kind": "big"}), device("s1", {"kind": "small"})]),
        claim("c1", first_available("flex", sub("big", "big"), sub("small", "small"))),
        claim("c2", request("req", "big")),
    )
    assert picks(cluster.allocate()) == [[("flex/small", "s1")], [("req", "b1")]]


def test_backtracking_goes_back_through_several_requests() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(
            [
                device("a", {"kind": "x"}),
                device("b", {"kind": "y"}),
                device("c", {"kind": "z"}),
            ]
        ),
        claim(
            "c",
            request("r1"),
            request("r2"),
            request("r3", "gpu", kind("x")),
        ),
    )
    assert picked(cluster.allocate()) == [("r1", "b"), ("r2", "c"), ("r3", "a")]


# ------------------------------------------------------------------ combinations, not perms


def test_a_request_never_gets_the_same_device_twice() -> None:
    cluster = make_cluster(device_class(), resource_slice(["d1"]), claim("c", request(count=2)))
    assert cluster.allocate() is None


def test_devices_of_one_request_always_come_in_candidate_order() -> None:
    """A combination is searched in candidate order, so even after backtracking the results
    of one request list its devices in candidate order."""
    cluster = make_cluster(
        device_class(),
        resource_slice(
            [
                device("d1", {"root": "a"}),
                device("d2", {"root": "b"}),
                device("d3", {"root": "c"}),
                device("d4", {"root": "b"}),
            ]
        ),
        claim("c", request(count=2), constraints=[match(f"{DRIVER}/root")]),
    )
    assert picked(cluster.allocate()) == [("req", "d2"), ("req", "d4")]


def test_two_requests_of_one_claim_get_different_devices() -> None:
    cluster = make_cluster(
        device_class(), resource_slice(["d1"]), claim("c", request("a"), request("b"))
    )
    assert cluster.allocate() is None


# -------------------------------------------------------------------------- all or none


def test_claims_are_allocated_all_or_none() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice([device("d1", {"kind": "x"})]),
        claim("fits", request()),
        claim("cannot", request("req", "gpu", kind("y"))),
    )
    assert cluster.allocate() is None


def test_two_claims_competing_for_one_device_both_fail() -> None:
    cluster = make_cluster(
        device_class(), resource_slice(["d1"]), claim("c1", request()), claim("c2", request())
    )
    assert cluster.allocate() is None


def test_claims_are_served_in_input_order() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(["d1", "d2", "d3"]),
        claim("zeta", request()),
        claim("alpha", request(count=2)),
    )
    assert picks(cluster.allocate()) == [[("req", "d1")], [("req", "d2"), ("req", "d3")]]


def test_one_result_per_claim_in_input_order() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(["d1", "d2"]),
        claim("b", request()),
        claim("a"),
        claim("c", request()),
    )
    assert picks(cluster.allocate()) == [[("req", "d1")], [], [("req", "d2")]]


def test_committed_allocations_are_not_reallocated() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(["d1", "d2"]),
        allocated("held", result("req", "d1")),
        claim("c", request()),
    )
    assert picks(cluster.allocate()) == [[("req", "d2")]]


# --------------------------------------------------------------------------- determinism


def test_same_input_gives_the_same_allocation() -> None:
    docs = (
        device_class(),
        resource_slice(["a1", "a2"], name="s-a", pool="a"),
        resource_slice(["b1", "b2"], name="s-b", pool="b"),
        claim("c1", request(count=2)),
        claim("c2", request()),
    )
    first = make_cluster(*docs).allocate()
    second = make_cluster(*docs).allocate()
    assert first == second
    assert picks(first) == [[("req", "a1"), ("req", "a2")], [("req", "b1")]]


def test_input_order_of_slices_does_not_change_the_allocation() -> None:
    slices = [
        resource_slice(["a1"], name="s-a1", pool="a", count=2),
        resource_slice(["a2"], name="s-a2", pool="a", count=2),
        resource_slice(["b1"], name="s-b", pool="b"),
    ]
    forward = make_cluster(device_class(), *slices, claim("c", request(count=3)))
    backward = make_cluster(device_class(), *reversed(slices), claim("c", request(count=3)))
    assert picked(forward.allocate()) == picked(backward.allocate())
    assert picked(forward.allocate()) == [("req", "a1"), ("req", "a2"), ("req", "b1")]


# ---------------------------------------------------------------------------------- time


def test_search_gives_up_when_the_clock_passes_the_deadline() -> None:
    clock = FakeClock(tick=10.0)
    with pytest.raises(AllocationGaveUp, match=r"^timed out trying to allocate devices$"):
        allocate_with_clock(hopeless_cluster(), clock, timeout=5.0)


def test_giving_up_is_an_allocation_error_not_a_no_fit() -> None:
    assert issubclass(AllocationGaveUp, AllocationError)


def test_a_clock_that_stands_still_never_gives_up() -> None:
    clock = FakeClock(tick=0.0)
    assert allocate_with_clock(hopeless_cluster(), clock, timeout=5.0) is None
    assert clock.reads > 1  # the deadline was checked during the search


def test_no_timeout_never_reads_the_clock_for_a_deadline() -> None:
    clock = FakeClock(tick=1000.0)
    assert allocate_with_clock(hopeless_cluster(), clock, timeout=None) is None


def test_cluster_allocate_without_a_timeout_finishes_a_long_search() -> None:
    assert hopeless_cluster().allocate(timeout=None, pairwise_distinct=True) is None


def test_generous_timeout_does_not_change_the_answer() -> None:
    assert hopeless_cluster().allocate(timeout=600.0, pairwise_distinct=True) is None


# ------------------------------------------------------------------ reusing an allocator


def test_one_allocator_and_inventory_answer_each_node_and_state_afresh() -> None:
    """The allocator caches prepared claims and the inventory caches node views; neither
    may leak one call's answer into the next."""
    features = Features()
    base = make_cluster(
        device_class(),
        resource_slice(["n1-a", "n1-b"], name="s-1", pool="p1", node="node-1"),
        resource_slice(["n2-a"], name="s-2", pool="p2", node="node-2"),
        claim("c", request(), constraints=[]),
    )
    held = make_cluster(allocated("other", result("req", "n1-a", pool="p1")))
    allocator = Allocator(features, options=AllocatorOptions(timeout=None))
    inventory = Inventory(base.slices, features)

    def run(node_name: str, state: Cluster) -> list[tuple[str, str]]:
        got = allocator.allocate(
            base.node(node_name),
            base.pending,
            inventory,
            base.classes,
            allocated_state(state.allocated, features),
        )
        return picked(got)

    assert run("node-1", base) == [("req", "n1-a")]
    assert run("node-2", base) == [("req", "n2-a")]
    assert run("node-1", held) == [("req", "n1-b")]
    assert run("node-1", base) == [("req", "n1-a")]


def test_claims_with_equal_specs_share_preparation_yet_errors_name_their_own_claim() -> None:
    """A template's claims (one per pod) are prepared once; the claim a selector error
    names is still the one being allocated."""
    features = Features()
    selector = f'device.attributes["{DRIVER}"].model == "a100"'  # d1 has no model: error
    first = make_cluster(
        device_class(),
        resource_slice([device("d1")]),
        claim("pod-a-gpu", request("req", "gpu", selector)),
    )
    second = make_cluster(claim("pod-b-gpu", request("req", "gpu", selector)))
    allocator = Allocator(features, options=AllocatorOptions(timeout=None))
    inventory = Inventory(first.slices, features)
    state = allocated_state([], features)
    for pending, name in ((first.pending, "pod-a-gpu"), (second.pending, "pod-b-gpu")):
        with pytest.raises(AllocationError) as err:
            allocator.allocate(first.node("node-1"), pending, inventory, first.classes, state)
        assert str(err.value).startswith(f"claim default/{name}: selector #0: CEL runtime error")


def test_claims_sharing_a_preparation_each_get_a_full_answer() -> None:
    """The shared constraint checkers start afresh for every claim."""
    features = Features()
    spec = (request("a", count=2), request("b", count=2))
    constraints = [match(f"{DRIVER}/root")]
    base = make_cluster(
        device_class(),
        resource_slice(
            [device(f"d{i}", {"root": "x" if i < 3 else "y"}) for i in range(7)],
        ),
        claim("one", *spec, constraints=constraints),
    )
    other = make_cluster(claim("two", *spec, constraints=constraints))
    allocator = Allocator(features, options=AllocatorOptions(timeout=None))
    inventory = Inventory(base.slices, features)
    state = allocated_state([], features)
    node = base.node("node-1")
    answers = [
        picks(allocator.allocate(node, pending, inventory, base.classes, state))
        for pending in (base.pending, other.pending, base.pending)
    ]
    expected = [[("a", "d3"), ("a", "d4"), ("b", "d5"), ("b", "d6")]]
    assert answers == [expected, expected, expected]
