"""Proving "no fit" without the search (allocator/pruning.py): each check on its own, the
order rule that keeps errors where the search meets them, and the switches."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from yamlkit import (
    DRIVER,
    allocated,
    claim,
    consumes,
    counter_set,
    device,
    device_class,
    distinct,
    first_available,
    match,
    picked,
    request,
    resource_slice,
    result,
    sub,
    taint,
)
from yamlkit import cluster as make_cluster
from yamlkit import loose_cluster as make_loose_cluster

from dralloc.allocator import (
    AllocationError,
    AllocationGaveUp,
    Allocator,
    AllocatorOptions,
    Inventory,
    NodeFailure,
    allocated_state,
)
from dralloc.allocator.attempt import Attempt
from dralloc.allocator.pruning import check_before_search, check_with_state
from dralloc.api.resource import AllocationResult
from dralloc.features import parse_gates
from dralloc.testing import Cluster, sequential_share_ids


def verdicts(cluster: Cluster, gates: str = "", *, pairwise: bool = False) -> tuple[bool, bool]:
    """(unsatisfiable from the selectable lists alone, unsatisfiable given committed state)."""
    features = parse_gates(gates)
    allocator = Allocator(
        features, options=AllocatorOptions(timeout=None, pairwise_distinct_attribute=pairwise)
    )
    attempt = Attempt(
        allocator,
        node=cluster.node("node-1"),
        claims=cluster.pending,
        inventory=Inventory(cluster.slices, features, cluster.taint_rules),
        classes=cluster.classes,
        allocated=allocated_state(cluster.allocated, features),
    )
    attempt.prepare()
    return check_before_search(attempt), check_with_state(attempt)


def allocate(cluster: Cluster, gates: str = "", **options: Any) -> list[AllocationResult] | None:
    features = parse_gates(gates)
    allocator = Allocator(
        features,
        options=AllocatorOptions(share_ids=sequential_share_ids(), **{"timeout": None, **options}),
    )
    return allocator.allocate(
        cluster.node("node-1"),
        cluster.pending,
        Inventory(cluster.slices, features, cluster.taint_rules),
        cluster.classes,
        allocated_state(cluster.allocated, features),
    )


def same_either_way(
    cluster: Cluster, gates: str = "", *, pairwise: bool = False
) -> list[AllocationResult] | None:
    """The allocation with the checks before the search, after asserting it equals the
    plain search's."""
    mode = {"pairwise_distinct_attribute": pairwise}
    pruned = allocate(cluster, gates, prune_after_steps=0, **mode)
    assert pruned == allocate(cluster, gates, prune_unsatisfiable=False, **mode)
    return pruned


def gpus(n: int, **attrs: Any) -> dict[str, Any]:
    return resource_slice([device(f"gpu-{i}", attrs or None) for i in range(n)])


def test_nine_gpus_on_an_eight_gpu_node_are_refused_before_the_search() -> None:
    cluster = make_cluster(device_class(), gpus(8), claim("c", request(count=9)))
    assert verdicts(cluster) == (True, True)
    assert same_either_way(cluster) is None


def test_a_selector_no_device_matches_is_refused_before_the_search() -> None:
    cluster = make_cluster(
        device_class(),
        gpus(8, model="h100"),
        claim("c", request("req", "gpu", f'device.attributes["{DRIVER}"].model == "b200"')),
    )
    assert verdicts(cluster) == (True, True)
    assert same_either_way(cluster) is None


def test_devices_in_use_count_once_committed_state_is_read() -> None:
    cluster = make_cluster(
        device_class(),
        gpus(4),
        allocated("busy", result("req", "gpu-0"), result("req", "gpu-1")),
        claim("c", request(count=3)),
    )
    assert verdicts(cluster) == (False, True)
    assert same_either_way(cluster) is None


def test_enough_free_devices_prove_nothing_and_the_search_allocates() -> None:
    cluster = make_cluster(
        device_class(),
        gpus(4),
        allocated("busy", result("req", "gpu-0")),
        claim("c", request(count=3)),
    )
    assert verdicts(cluster) == (False, False)
    assert [d for _, d in picked(same_either_way(cluster))] == ["gpu-1", "gpu-2", "gpu-3"]


def media_gpu(count: int) -> list[dict[str, Any]]:
    """One GPU with one media engine and `count` partitions that each need it."""
    partitions = [
        device(f"me-{i}", {"profile": "1g+me"}, consumesCounters=[consumes("gpu-0", media=1)])
        for i in range(count)
    ]
    return [
        resource_slice(partitions, name="s-devices", count=2),
        resource_slice(name="s-counters", count=2, counters=[counter_set("gpu-0", media=1)]),
    ]


def test_one_media_engine_bounds_how_many_media_partitions_one_request_can_take() -> None:
    cluster = make_cluster(device_class(), *media_gpu(4), claim("c", request(count=2)))
    assert verdicts(cluster) == (False, True)
    assert same_either_way(cluster) is None


def test_counters_used_up_by_committed_partitions_leave_nothing_to_take() -> None:
    cluster = make_cluster(
        device_class(),
        *media_gpu(3),
        allocated("busy", result("req", "me-0")),
        claim("c", request()),
    )
    assert verdicts(cluster) == (False, True)
    assert same_either_way(cluster) is None


def two_gpus_with_partitions(parts: int = 1) -> list[dict[str, Any]]:
    """Two GPUs of 4 memory units: a whole device (4) and `parts` partitions (1) on each."""
    devices = []
    for g in range(2):
        devices.append(
            device(
                f"gpu-{g}",
                {"type": "gpu", "gpu": g},
                consumesCounters=[consumes(f"gpu-{g}", mem=4)],
            )
        )
        for p in range(parts):
            devices.append(
                device(
                    f"part-{g}" if parts == 1 else f"part-{g}{'ab'[p]}",
                    {"type": "mig", "gpu": g},
                    consumesCounters=[consumes(f"gpu-{g}", mem=1)],
                )
            )
    return [
        device_class("gpu", f'device.attributes["{DRIVER}"].type == "gpu"'),
        device_class("mig", f'device.attributes["{DRIVER}"].type == "mig"'),
        resource_slice(devices, name="s-devices", count=2),
        resource_slice(
            name="s-counters",
            count=2,
            counters=[counter_set("gpu-0", mem=4), counter_set("gpu-1", mem=4)],
        ),
    ]


def test_whole_gpus_and_a_partition_together_overdraw_the_pool_budget() -> None:
    cluster = make_cluster(
        *two_gpus_with_partitions(),
        claim("c", request("whole", "gpu", count=2), request("part", "mig")),
    )
    assert verdicts(cluster) == (False, True)
    assert same_either_way(cluster) is None


def test_a_whole_gpu_and_a_partition_of_the_same_gpu_overdraw_its_counter_set() -> None:
    on_gpu_0 = f'device.attributes["{DRIVER}"].gpu == 0'
    cluster = make_cluster(
        *two_gpus_with_partitions(),
        claim("c", request("whole", "gpu", on_gpu_0), request("part", "mig", on_gpu_0)),
    )
    assert verdicts(cluster) == (False, True)
    assert same_either_way(cluster) is None


def test_two_claims_cannot_both_take_two_of_three_devices() -> None:
    cluster = make_cluster(
        device_class(), gpus(3), claim("a", request(count=2)), claim("b", request(count=2))
    )
    assert verdicts(cluster) == (True, True)
    assert same_either_way(cluster) is None


def test_admin_requests_may_share_devices_so_they_are_not_counted_against_others() -> None:
    cluster = make_cluster(
        device_class(),
        gpus(3),
        claim("a", request(count=2)),
        claim("monitor", request(count=2, admin=True)),
    )
    assert verdicts(cluster) == (False, False)
    assert same_either_way(cluster) is not None


def test_admin_requests_may_take_devices_other_claims_hold() -> None:
    cluster = make_cluster(
        device_class(),
        gpus(2),
        allocated("busy", result("req", "gpu-0"), result("req", "gpu-1")),
        claim("monitor", request(count=2, admin=True)),
    )
    assert verdicts(cluster) == (False, False)
    assert [d for _, d in picked(same_either_way(cluster))] == ["gpu-0", "gpu-1"]


def test_shareable_devices_serve_several_requests_without_being_counted_twice() -> None:
    shared = device("shared", allowMultipleAllocations=True)
    cluster = make_cluster(
        device_class(),
        resource_slice([shared, device("own")]),
        claim("a", request(count=2)),
        claim("b", request()),
    )
    assert verdicts(cluster) == (False, False)
    assert same_either_way(cluster) is not None


def rooted(*roots: str) -> dict[str, Any]:
    return resource_slice([device(f"gpu-{i}", {"pcieRoot": root}) for i, root in enumerate(roots)])


def test_match_attribute_needs_one_value_with_enough_devices() -> None:
    cluster = make_cluster(
        device_class(),
        rooted("a", "a", "b", "b"),
        claim("c", request(count=3), constraints=[match(f"{DRIVER}/pcieRoot")]),
    )
    assert verdicts(cluster) == (False, True)
    assert same_either_way(cluster) is None


def test_match_attribute_over_two_requests_needs_their_devices_under_one_value() -> None:
    cluster = make_cluster(
        device_class(),
        rooted("a", "a", "a", "b", "b"),
        claim(
            "c",
            request("x", count=2),
            request("y", count=2),
            constraints=[match(f"{DRIVER}/pcieRoot")],
        ),
    )
    assert verdicts(cluster) == (False, True)
    assert same_either_way(cluster) is None


def test_match_attribute_is_satisfied_by_the_value_with_enough_devices() -> None:
    cluster = make_cluster(
        device_class(),
        rooted("a", "b", "b", "b"),
        claim("c", request(count=3), constraints=[match(f"{DRIVER}/pcieRoot")]),
    )
    assert verdicts(cluster) == (False, False)
    assert [d for _, d in picked(same_either_way(cluster))] == ["gpu-1", "gpu-2", "gpu-3"]


def test_distinct_attribute_needs_as_many_values_as_devices() -> None:
    cluster = make_cluster(
        device_class(),
        rooted("a", "a", "b", "b"),
        claim("c", request(count=3), constraints=[distinct(f"{DRIVER}/pcieRoot")]),
    )
    assert verdicts(cluster, pairwise=True) == (False, True)
    assert same_either_way(cluster, pairwise=True) is None
    # Upstream remembers one value per request, so distinct values bound nothing the checks
    # could use: the search alone finds that a, a, b, b has no three in a row that differ.
    assert verdicts(cluster) == (False, False)
    assert same_either_way(cluster) is None


def test_devices_without_the_constrained_attribute_are_not_counted() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice([device("gpu-0", {"pcieRoot": "a"}), device("gpu-1"), device("gpu-2")]),
        claim("c", request(count=2), constraints=[match(f"{DRIVER}/pcieRoot")]),
    )
    assert verdicts(cluster) == (False, True)
    assert same_either_way(cluster) is None


def test_first_available_is_refused_only_when_every_subrequest_is() -> None:
    hopeless = make_cluster(
        device_class(),
        gpus(4),
        claim("c", first_available("r", sub("big", count=5), sub("bigger", count=6))),
    )
    assert verdicts(hopeless) == (True, True)
    assert same_either_way(hopeless) is None
    possible = make_cluster(
        device_class(),
        gpus(4),
        claim("c", first_available("r", sub("big", count=5), sub("small", count=2))),
    )
    assert verdicts(possible) == (False, False)
    assert picked(same_either_way(possible)) == [("r/small", "gpu-0"), ("r/small", "gpu-1")]


def test_first_available_counts_the_least_its_live_subrequests_need_against_others() -> None:
    # r/one cannot be served (no such model); r/two and s then want 2 + 3 of 4 devices.
    cluster = make_cluster(
        device_class(),
        gpus(4, model="h100"),
        claim(
            "c",
            first_available(
                "r",
                sub("one", "gpu", f'device.attributes["{DRIVER}"].model == "b200"'),
                sub("two", count=2),
            ),
            request("s", count=3),
        ),
    )
    assert verdicts(cluster) == (True, True)
    assert same_either_way(cluster) is None


def test_a_firstavailable_subrequest_that_needs_less_of_a_budget_is_the_one_counted() -> None:
    # Whole GPUs for all three requests would overdraw the pool; a whole GPU and two
    # partitions of the other GPU do not.
    cluster = make_cluster(
        *two_gpus_with_partitions(parts=2),
        claim(
            "c",
            request("whole", "gpu"),
            first_available("other", sub("whole", "gpu"), sub("part", "mig")),
            request("part", "mig"),
        ),
    )
    assert verdicts(cluster) == (False, False)
    assert picked(same_either_way(cluster)) == [
        ("whole", "gpu-0"),
        ("other/part", "part-1a"),
        ("part", "part-1b"),
    ]


def test_a_constraint_binding_one_subrequest_leaves_the_others_free() -> None:
    # r/two may keep both devices on root a; r/any is not bound at all.
    cluster = make_cluster(
        device_class(),
        rooted("a", "a", "b"),
        claim(
            "c",
            first_available("r", sub("two", count=2), sub("any", count=2)),
            constraints=[match(f"{DRIVER}/pcieRoot", "r/two")],
        ),
    )
    assert verdicts(cluster) == (False, False)
    assert picked(same_either_way(cluster)) == [("r/two", "gpu-0"), ("r/two", "gpu-1")]
    # With two roots, r/two and s cannot take three distinct roots, but r/any and s can
    # take their devices, since the constraint does not bind r/any.
    distinct_cluster = make_cluster(
        device_class(),
        rooted("a", "b", "a", "b"),
        claim(
            "c",
            first_available("r", sub("two", count=2), sub("any", count=2)),
            request("s"),
            constraints=[distinct(f"{DRIVER}/pcieRoot", "r/two", "s")],
        ),
    )
    assert verdicts(distinct_cluster, pairwise=True) == (False, False)
    assert picked(same_either_way(distinct_cluster, pairwise=True)) == [
        ("r/any", "gpu-0"),
        ("r/any", "gpu-1"),
        ("s", "gpu-2"),
    ]
    # Upstream compares s's device with r's last one only (root b), so r/two stays.
    assert picked(same_either_way(distinct_cluster)) == [
        ("r/two", "gpu-0"),
        ("r/two", "gpu-1"),
        ("s", "gpu-2"),
    ]


def test_taints_keep_nothing_out_while_device_taints_are_off() -> None:
    tainted = [device(f"gpu-{i}", taints=[taint("maint")]) for i in range(2)]
    cluster = make_cluster(device_class(), resource_slice(tainted), claim("c", request(count=2)))
    assert verdicts(cluster) == (False, True)
    assert same_either_way(cluster) is None
    off = "DRADeviceTaints=false"
    assert verdicts(cluster, off) == (False, False)
    assert same_either_way(cluster, off) is not None


def test_requests_of_a_claim_together_over_32_results_are_refused() -> None:
    # Preparation only checks the least of each firstAvailable (1 + 20 <= 32); the only
    # live subrequest asks 20.
    cluster = make_cluster(
        device_class(),
        gpus(40, model="h100"),
        claim(
            "c",
            first_available(
                "r",
                sub("one", "gpu", f'device.attributes["{DRIVER}"].model == "b200"'),
                sub("twenty", count=20),
            ),
            request("s", count=20),
        ),
    )
    assert verdicts(cluster) == (True, True)
    assert same_either_way(cluster) is None


# ---------------------------------------------------------------- errors stay where they are

FAILING = f'device.attributes["{DRIVER}"].numa >= 0'  # a runtime error: no attribute numa


def test_a_failing_selector_after_an_unsatisfiable_request_is_never_reached() -> None:
    cluster = make_cluster(
        device_class(),
        gpus(8),
        claim("c", request("first", count=9), request("second", "gpu", FAILING)),
    )
    assert verdicts(cluster) == (True, True)
    assert same_either_way(cluster) is None


def test_a_failing_selector_before_an_unsatisfiable_request_still_raises() -> None:
    cluster = make_cluster(
        device_class(),
        gpus(8),
        claim("c", request("first", "gpu", FAILING), request("second", count=9)),
    )
    assert verdicts(cluster) == (False, False)
    for options in ({"prune_after_steps": 0}, {"prune_unsatisfiable": False}, {}):
        with pytest.raises(AllocationError, match="CEL runtime error"):
            allocate(cluster, **options)


def test_a_selector_that_does_not_compile_still_raises() -> None:
    cluster = make_loose_cluster(
        device_class(),
        gpus(8),
        claim("c", request("first", "gpu", "device.nosuchfield == 1"), request("x", count=9)),
    )
    for options in ({"prune_after_steps": 0}, {"prune_unsatisfiable": False}):
        with pytest.raises(AllocationError, match="CEL compile error"):
            allocate(cluster, **options)


def test_an_all_request_with_a_constraint_ends_what_the_checks_look_at() -> None:
    # The `All` request raises when a device lacks the attribute; the request after it is
    # unsatisfiable, but the search raises first.
    cluster = make_cluster(
        device_class(),
        resource_slice([device("gpu-0", {"pcieRoot": "a"}), device("gpu-1")]),
        claim(
            "c",
            request("every", mode="All"),
            request("more", count=3),
            constraints=[match(f"{DRIVER}/pcieRoot")],
        ),
    )
    assert verdicts(cluster) == (False, False)
    for options in ({"prune_after_steps": 0}, {"prune_unsatisfiable": False}):
        with pytest.raises(AllocationError, match="constraint would not be satisfied"):
            allocate(cluster, **options)


def test_an_unsatisfiable_attempt_with_an_invalid_pool_is_still_a_node_failure() -> None:
    cluster = make_cluster(
        device_class(),
        gpus(2),
        resource_slice(["dup"], name="bad-a", pool="bad", count=2),
        resource_slice(["dup"], name="bad-b", pool="bad", count=2),
        claim("c", request(count=3)),
    )
    for options in ({"prune_after_steps": 0}, {"prune_unsatisfiable": False}):
        with pytest.raises(NodeFailure, match="invalid resource pools"):
            allocate(cluster, **options)


# -------------------------------------------------------------------------------- switches


def ticking_clock() -> Callable[[], float]:
    """A clock that advances one second each time it is read."""
    now = [0.0]

    def read() -> float:
        now[0] += 1.0
        return now[0]

    return read


def long_search() -> Cluster:
    """14 free devices of 28 and a request for 15: the plain search tries every subset."""
    busy = [result("req", f"gpu-{i}") for i in range(0, 28, 2)]
    return make_cluster(
        device_class(), gpus(28), allocated("busy", *busy), claim("c", request(count=15))
    )


def test_a_search_that_would_give_up_answers_no_fit_once_the_state_is_read() -> None:
    cluster = long_search()
    assert verdicts(cluster) == (False, True)
    with pytest.raises(AllocationGaveUp):
        allocate(cluster, timeout=50.0, clock=ticking_clock(), prune_unsatisfiable=False)
    assert allocate(cluster, timeout=50.0, clock=ticking_clock()) is None
    assert allocate(cluster, timeout=50.0, clock=ticking_clock(), prune_after_steps=3) is None


def test_prune_after_steps_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="prune_after_steps must be >= 0, got -1"):
        AllocatorOptions(prune_after_steps=-1)
