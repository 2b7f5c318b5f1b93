"""Consumable capacity and multi-allocatable devices (spec 6.9, worked example of section 8,
quirk 7)."""

from __future__ import annotations

from typing import Any

import pytest
from yamlkit import (
    DRIVER,
    allocated,
    chosen_devices,
    claim,
    device,
    device_class,
    distinct,
    picked,
    picks,
    request,
    resource_slice,
    result,
)
from yamlkit import cluster as make_cluster

from dralloc.api.quantity import Quantity
from dralloc.api.resource import AllocationResult
from dralloc.testing import Cluster

SHARE_1 = "00000000-0000-4000-8000-000000000001"
SHARE_2 = "00000000-0000-4000-8000-000000000002"
SHARE_3 = "00000000-0000-4000-8000-000000000003"


def shared(name: str, **capacity: Any) -> dict[str, Any]:
    return device(name, capacity=capacity or None, allowMultipleAllocations=True)


def policy(value: int | str, default: int | str | None = None, **rules: Any) -> dict[str, Any]:
    """A capacity with a request policy: validValues=[...] or min/max/step of validRange."""
    out: dict[str, Any] = {}
    if default is not None:
        out["default"] = str(default)
    if "valid_values" in rules:
        out["validValues"] = [str(v) for v in rules.pop("valid_values")]
    if rules:
        out["validRange"] = {k: str(v) for k, v in rules.items()}
    return {"value": str(value), "requestPolicy": out}


def consumed(results: list[AllocationResult] | None) -> list[dict[str, Quantity]]:
    assert results is not None, "expected an allocation, got none"
    return [r.consumed_capacity for res in results for r in res.devices.results]


def one_share(cap: dict[str, Any], asked: dict[str, Any] | None) -> Cluster:
    return make_cluster(
        device_class(),
        resource_slice([shared("nic", **cap)]),
        claim("c", request(capacity=asked)),
    )


def q(text: str) -> Quantity:
    return Quantity.parse(text)


# ---------------------------------------------------------------------- consumed() rules

RANGE_2_8_STEP_2 = policy(10, default=2, min=2, step=2, max=8)


@pytest.mark.parametrize(
    ("cap", "asked", "expected"),
    [
        # Spec 8, worked example: validRange{min 2, step 2, max 8}, default 2, value 10.
        pytest.param(RANGE_2_8_STEP_2, {"bw": 3}, "4", id="range-rounds-up-to-a-step"),
        pytest.param(RANGE_2_8_STEP_2, None, "2", id="range-unrequested-takes-default"),
        pytest.param(RANGE_2_8_STEP_2, {"bw": 9}, None, id="range-above-max-is-impossible"),
        pytest.param(RANGE_2_8_STEP_2, {"bw": 1}, "2", id="range-below-min-takes-min"),
        pytest.param(RANGE_2_8_STEP_2, {"bw": 8}, "8", id="range-max-itself"),
        pytest.param(RANGE_2_8_STEP_2, {"bw": 6}, "6", id="range-on-a-step"),
        pytest.param(policy(10, default=2, min=2, max=8), {"bw": 3}, "3", id="range-without-step"),
        pytest.param(policy(10, default=2, min=2), {"bw": 10}, "10", id="range-without-max"),
        pytest.param(
            policy(10, default=2, min=2, step=3), {"bw": 9}, None, id="range-step-beyond-value"
        ),
        pytest.param(
            policy(10, default=4, valid_values=[2, 4, 8]), {"bw": 3}, "4", id="values-round-up"
        ),
        pytest.param(
            policy(10, default=4, valid_values=[2, 4, 8]), {"bw": 8}, "8", id="values-exact"
        ),
        pytest.param(
            policy(10, default=4, valid_values=[2, 4, 8]), {"bw": 9}, None, id="values-above-all"
        ),
        pytest.param(policy(10, default=4, valid_values=[2, 4, 8]), None, "4", id="values-default"),
        pytest.param(policy(10, default=3), None, "3", id="default-only-unrequested"),
        pytest.param(policy(10, default=3), {"bw": 7}, "7", id="default-only-requested"),
        pytest.param({"value": "10"}, {"bw": 7}, "7", id="no-policy-requested"),
        pytest.param({"value": "10"}, None, "10", id="no-policy-unrequested-takes-all"),
        pytest.param({"value": "10"}, {"bw": 11}, None, id="no-policy-more-than-value"),
        pytest.param({"value": "10Gi"}, {"bw": "512Mi"}, "512Mi", id="binary-suffixes"),
    ],
)
def test_consumed_capacity_follows_the_request_policy(
    cap: dict[str, Any], asked: dict[str, Any] | None, expected: str | None
) -> None:
    got = one_share({"bw": cap}, asked).allocate()
    if expected is None:
        assert got is None
    else:
        assert consumed(got) == [{"bw": q(expected)}]


@pytest.mark.parametrize(
    ("cap", "asked", "expected"),
    [
        # Exact arithmetic would give 500m here (a whole step of 500m).
        pytest.param(policy(10, default=0, min=0, step="500m"), "500m", "1", id="fractional-step"),
        # Exact arithmetic would give 1500m (500m + one step); whole units give ceil(500m) = 1.
        pytest.param(policy(10, default="500m", min="500m", step=1), "1", "1", id="fractional-min"),
        pytest.param(policy(10, default=1, min=1, step=1), "1500m", "2", id="rounds-up"),
        pytest.param(policy(10, default=1, min="500m"), "250m", "500m", id="below-min-fraction"),
    ],
)
def test_valid_range_arithmetic_works_in_whole_units(
    cap: dict[str, Any], asked: str, expected: str
) -> None:
    """Quirk 7 (upstream 1.36, kept): validRange rounding uses whole units."""
    got = one_share({"bw": cap}, {"bw": asked}).allocate()
    assert consumed(got) == [{"bw": q(expected)}]


# ---------------------------------------------------------------------- worked example (8)


def test_worked_example_three_requests_on_one_ranged_capacity() -> None:
    """Spec 8: bw 10, validRange{min 2, step 2, max 8}, default 2: `bw: 3` consumes 4 and
    no request consumes 2; together 6 of 10."""
    cluster = make_cluster(
        device_class(),
        resource_slice([shared("nic", bw=RANGE_2_8_STEP_2)]),
        claim("c", request("three", capacity={"bw": 3}), request("none")),
    )
    assert consumed(cluster.allocate()) == [{"bw": q("4")}, {"bw": q("2")}]
    impossible = make_cluster(
        device_class(),
        resource_slice([shared("nic", bw=RANGE_2_8_STEP_2)]),
        claim("c", request("nine", capacity={"bw": 9})),
    )
    assert impossible.allocate() is None


# ---------------------------------------------------------------------------- sharing


def test_two_requests_of_one_claim_share_a_device_with_distinct_share_ids() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice([shared("nic", bw=10)]),
        claim("c", request("a", capacity={"bw": 4}), request("b", capacity={"bw": 4})),
    )
    got = cluster.allocate()
    assert picked(got) == [("a", "nic"), ("b", "nic")]
    assert got is not None
    assert [r.share_id for r in got[0].devices.results] == [SHARE_1, SHARE_2]


def test_share_that_no_longer_fits_moves_to_the_next_device() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice([shared("nic-0", bw=10), shared("nic-1", bw=10)]),
        claim(
            "c",
            request("a", capacity={"bw": 4}),
            request("b", capacity={"bw": 4}),
            request("c", capacity={"bw": 4}),
        ),
    )
    assert picked(cluster.allocate()) == [("a", "nic-0"), ("b", "nic-0"), ("c", "nic-1")]


def test_claims_of_one_call_share_a_device_with_distinct_share_ids() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice([shared("nic", bw=10)]),
        claim("c1", request(capacity={"bw": 5})),
        claim("c2", request(capacity={"bw": 5})),
    )
    got = cluster.allocate()
    assert picks(got) == [[("req", "nic")], [("req", "nic")]]
    assert got is not None
    assert [res.devices.results[0].share_id for res in got] == [SHARE_1, SHARE_2]


def test_in_flight_shares_of_earlier_claims_count_against_capacity() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice([shared("nic", bw=10)]),
        claim("c1", request(capacity={"bw": 6})),
        claim("c2", request(capacity={"bw": 6})),
    )
    assert cluster.allocate() is None


def test_committed_shares_reduce_the_remaining_capacity() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice([shared("nic-0", bw=10), shared("nic-1", bw=10)]),
        allocated(
            "old",
            result("req", "nic-0", shareID=SHARE_3, consumedCapacity={"bw": "8"}),
        ),
        claim("c", request(capacity={"bw": 4})),
    )
    assert chosen_devices(cluster.allocate()) == ["nic-1"]


def test_committed_shares_leave_room_for_a_request_that_fits() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice([shared("nic-0", bw=10)]),
        allocated("old", result("req", "nic-0", shareID=SHARE_3, consumedCapacity={"bw": "6"})),
        claim("c", request(capacity={"bw": 4})),
    )
    assert chosen_devices(cluster.allocate()) == ["nic-0"]


def test_one_request_never_takes_two_shares_of_the_same_device() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice([shared("nic", bw=10)]),
        claim("c", request(count=2, capacity={"bw": 1})),
    )
    assert cluster.allocate() is None


def test_consumed_capacity_lists_every_capacity_of_the_device_including_zero() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(
            [
                shared(
                    "nic",
                    bw=10,
                    queues=policy(8, default=0, min=0),
                    vfs=policy(4, default=1, valid_values=[1, 2]),
                )
            ]
        ),
        claim("c", request(capacity={"bw": 3})),
    )
    assert consumed(cluster.allocate()) == [{"bw": q("3"), "queues": q("0"), "vfs": q("1")}]


def test_unrequested_capacity_without_policy_takes_the_whole_value() -> None:
    """Spec 6.9 consequence: asking for nothing blocks further shares of that capacity."""
    cluster = make_cluster(
        device_class(),
        resource_slice([shared("nic-0", bw=10), shared("nic-1", bw=10)]),
        claim("c", request("greedy"), request("modest", capacity={"bw": 1})),
    )
    assert picked(cluster.allocate()) == [("greedy", "nic-0"), ("modest", "nic-1")]


def test_multi_allocatable_device_without_capacity_is_shared_without_limit() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice([shared("nic")]),
        claim("c1", request()),
        claim("c2", request()),
        claim("c3", request()),
    )
    got = cluster.allocate()
    assert picks(got) == [[("req", "nic")]] * 3
    assert got is not None
    for res in got:
        only = res.devices.results[0]
        assert only.share_id is not None
        assert only.consumed_capacity == {}


def test_capacity_request_naming_a_capacity_the_device_lacks_skips_it() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice([shared("nic-0", bw=10), shared("nic-1", bw=10, vfs=4)]),
        claim("c", request(capacity={"vfs": 1})),
    )
    assert chosen_devices(cluster.allocate()) == ["nic-1"]


def test_all_mode_drops_devices_too_full_from_committed_shares() -> None:
    """Spec 6.9: checked against committed usage only, when the list is fixed."""
    cluster = make_cluster(
        device_class(),
        resource_slice([shared("nic-0", bw=10), shared("nic-1", bw=10)]),
        allocated("old", result("req", "nic-0", shareID=SHARE_3, consumedCapacity={"bw": "9"})),
        claim("c", request(mode="All", capacity={"bw": 2})),
    )
    assert chosen_devices(cluster.allocate()) == ["nic-1"]


def test_all_mode_fails_when_shares_chosen_earlier_in_the_call_fill_a_device() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice([shared("nic-0", bw=10), shared("nic-1", bw=10)]),
        claim("c1", request(capacity={"bw": 9})),
        claim("c2", request(mode="All", capacity={"bw": 2})),
    )
    assert cluster.allocate() is None


def test_distinct_attribute_keeps_two_requests_off_one_shared_device() -> None:
    devs = [
        device("nic-0", {"id": "n0"}, capacity={"bw": 10}, allowMultipleAllocations=True),
        device("nic-1", {"id": "n1"}, capacity={"bw": 10}, allowMultipleAllocations=True),
    ]
    together = make_cluster(
        device_class(),
        resource_slice(devs),
        claim("c", request("a", capacity={"bw": 1}), request("b", capacity={"bw": 1})),
    )
    assert picked(together.allocate()) == [("a", "nic-0"), ("b", "nic-0")]
    apart = make_cluster(
        device_class(),
        resource_slice(devs),
        claim(
            "c",
            request("a", capacity={"bw": 1}),
            request("b", capacity={"bw": 1}),
            constraints=[distinct(f"{DRIVER}/id")],
        ),
    )
    assert picked(apart.allocate()) == [("a", "nic-0"), ("b", "nic-1")]


# ------------------------------------------------------------------------ dedicated devices


def test_capacity_request_filters_dedicated_devices_by_size() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(
            [
                device("small", capacity={"memory": "40Gi"}),
                device("big", capacity={"memory": "80Gi"}),
            ]
        ),
        claim("c", request(capacity={"memory": "64Gi"})),
    )
    assert chosen_devices(cluster.allocate()) == ["big"]


def test_dedicated_device_result_has_no_share_id_and_no_consumed_capacity() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice([device("gpu", capacity={"memory": "80Gi"})]),
        claim("c", request(capacity={"memory": "1Gi"})),
    )
    (only,) = cluster.allocate() or []
    assert only.devices.results[0].share_id is None
    assert only.devices.results[0].consumed_capacity == {}


def test_capacity_request_for_a_capacity_a_dedicated_device_lacks_skips_it() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice([device("plain"), device("sized", capacity={"memory": "8Gi"})]),
        claim("c", request(capacity={"memory": "1Gi"})),
    )
    assert chosen_devices(cluster.allocate()) == ["sized"]


def test_dedicated_device_is_used_once_whatever_capacity_is_left() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice([device("gpu", capacity={"memory": "80Gi"})]),
        claim("c1", request(capacity={"memory": "1Gi"})),
        claim("c2", request(capacity={"memory": "1Gi"})),
    )
    assert cluster.allocate() is None


# ------------------------------------------------------------------------------ gate off


def test_multi_allocatable_device_is_used_once_with_consumable_capacity_off() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice([shared("nic")]),
        claim("c1", request()),
        claim("c2", request()),
    )
    assert cluster.allocate(gates="DRAConsumableCapacity=false") is None
    assert picks(cluster.allocate()) == [[("req", "nic")], [("req", "nic")]]


def test_committed_share_is_a_dedicated_allocation_with_consumable_capacity_off() -> None:
    """With the gate off the allocator reads committed results without shares: a result
    carrying a shareID is a dedicated allocation of its device (spec 6.1: only
    `allocated_devices` is populated)."""
    cluster = make_cluster(
        device_class(),
        resource_slice([shared("nic-0", bw=10), shared("nic-1", bw=10)]),
        allocated("old", result("req", "nic-0", shareID=SHARE_3, consumedCapacity={"bw": "1"})),
        claim("c", request()),
    )
    assert chosen_devices(cluster.allocate(gates="DRAConsumableCapacity=false")) == ["nic-1"]
