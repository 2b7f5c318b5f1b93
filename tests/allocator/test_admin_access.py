"""Admin access: monitoring requests that may share devices in use (spec 6.7, quirks 3 and 8)."""

from __future__ import annotations

from yamlkit import (
    DRIVER,
    allocated,
    chosen_devices,
    claim,
    consumes,
    counter_set,
    device,
    device_class,
    match,
    picked,
    picks,
    request,
    resource_slice,
    result,
    taint,
    toleration,
    wire,
)
from yamlkit import cluster as make_cluster

ALL = "All"


def test_admin_result_carries_admin_access_true() -> None:
    cluster = make_cluster(device_class(), resource_slice(["d1"]), claim("c", request(admin=True)))
    (only,) = cluster.allocate() or []
    assert only.devices.results[0].admin_access is True
    assert wire(only.devices.results[0])["adminAccess"] is True


def test_admin_access_false_is_not_written_into_the_result() -> None:
    cluster = make_cluster(device_class(), resource_slice(["d1"]), claim("c", request(admin=False)))
    (only,) = cluster.allocate() or []
    assert "adminAccess" not in wire(only.devices.results[0])


def test_admin_request_may_take_a_device_with_a_committed_allocation() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(["d1"]),
        allocated("workload", result("req", "d1")),
        claim("monitor", request(admin=True)),
    )
    assert picked(cluster.allocate()) == [("req", "d1")]


def test_admin_request_may_take_a_device_an_earlier_claim_chose_in_the_same_call() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(["d1"]),
        claim("workload", request()),
        claim("monitor", request(admin=True)),
    )
    assert picks(cluster.allocate()) == [[("req", "d1")], [("req", "d1")]]


def test_admin_request_may_not_take_the_same_device_twice_within_one_claim() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(["d1"]),
        claim("monitor", request("a", admin=True), request("b", admin=True)),
    )
    assert cluster.allocate() is None


def test_admin_request_skips_a_device_another_request_of_its_claim_took() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(["d1", "d2"]),
        claim("c", request("plain"), request("monitor", admin=True)),
    )
    assert picked(cluster.allocate()) == [("plain", "d1"), ("monitor", "d2")]


def test_admin_request_in_all_mode_takes_every_matching_device_including_allocated_ones() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(["d1", "d2", "d3"]),
        allocated("workload", result("req", "d2")),
        claim("monitor", request(mode=ALL, admin=True)),
    )
    assert chosen_devices(cluster.allocate()) == ["d1", "d2", "d3"]


def test_admin_pick_blocks_a_later_non_admin_claim_in_the_same_call() -> None:
    """Quirk 3 (upstream, kept): admin choices are tracked as chosen in the attempt."""
    cluster = make_cluster(
        device_class(),
        resource_slice(["d1", "d2"]),
        claim("monitor", request(admin=True)),
        claim("workload", request()),
    )
    assert picks(cluster.allocate()) == [[("req", "d1")], [("req", "d2")]]


def test_admin_pick_of_the_only_device_makes_a_later_non_admin_claim_backtrack_or_fail() -> None:
    """Quirk 3: with one device there is nothing to backtrack to, so the call finds nothing,
    although the claims in the opposite order would fit."""
    monitor = claim("monitor", request(admin=True))
    workload = claim("workload", request())
    first = make_cluster(device_class(), resource_slice(["d1"]), monitor, workload)
    assert first.allocate() is None
    second = make_cluster(device_class(), resource_slice(["d1"]), workload, monitor)
    assert picks(second.allocate()) == [[("req", "d1")], [("req", "d1")]]


def test_committed_admin_allocation_never_blocks_anybody() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(["d1"]),
        allocated("monitor", result("req", "d1", adminAccess=True)),
        claim("workload", request()),
    )
    assert picked(cluster.allocate()) == [("req", "d1")]


def test_committed_admin_allocation_does_not_consume_counters() -> None:
    """Spec 6.1/6.8: admin results are not in `allocated_devices`, so their device's
    consumption is not subtracted from the pool's counters."""
    cluster = make_cluster(
        device_class(),
        resource_slice(
            [
                device("d1", consumesCounters=[consumes("cs", mem=8)]),
                device("d2", consumesCounters=[consumes("cs", mem=8)]),
            ],
            name="s-dev",
            count=2,
        ),
        resource_slice([], name="s-ctr", count=2, counters=[counter_set("cs", mem=8)]),
        allocated("monitor", result("req", "d1", adminAccess=True)),
        claim("workload", request()),
    )
    assert chosen_devices(cluster.allocate()) == ["d1"]


def test_admin_access_does_not_bypass_selectors() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice([device("d1", {"model": "t4"})]),
        allocated("workload", result("req", "d1")),
        claim(
            "monitor",
            request("req", "gpu", f'device.attributes["{DRIVER}"].model == "a100"', admin=True),
        ),
    )
    assert cluster.allocate() is None


def test_admin_access_does_not_bypass_taints() -> None:
    tainted = device("d1", taints=[taint("broken")])
    cluster = make_cluster(
        device_class(), resource_slice([tainted]), claim("monitor", request(admin=True))
    )
    assert cluster.allocate() is None
    tolerating = make_cluster(
        device_class(),
        resource_slice([tainted]),
        claim("monitor", request(admin=True, tolerations=[toleration("broken", "Exists")])),
    )
    assert chosen_devices(tolerating.allocate()) == ["d1"]


def test_admin_access_does_not_bypass_counters() -> None:
    """The committed allocation used the pool's counters up; the admin request would need
    them again for the same device."""
    cluster = make_cluster(
        device_class(),
        resource_slice(
            [device("d1", consumesCounters=[consumes("cs", mem=8)])], name="s-dev", count=2
        ),
        resource_slice([], name="s-ctr", count=2, counters=[counter_set("cs", mem=8)]),
        allocated("workload", result("req", "d1")),
        claim("monitor", request(admin=True)),
    )
    assert cluster.allocate() is None


def test_admin_access_does_not_bypass_constraints() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice([device("d1", {"numa": 0}), device("d2", {"numa": 1})]),
        allocated("workload", result("req", "d1")),
        claim(
            "monitor",
            request("a", admin=True),
            request("b", admin=True),
            constraints=[match(f"{DRIVER}/numa")],
        ),
    )
    assert cluster.allocate() is None


def test_admin_pick_blocks_a_later_non_admin_request_of_the_same_claim() -> None:
    """Spec 6.7: devices chosen for an admin request count as chosen in the attempt."""
    cluster = make_cluster(
        device_class(),
        resource_slice(["d1", "d2"]),
        claim("c", request("monitor", admin=True), request("work")),
    )
    assert picked(cluster.allocate()) == [("monitor", "d1"), ("work", "d2")]


def test_admin_all_mode_fails_on_a_device_its_own_claim_already_took() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(["d1", "d2"]),
        claim("c", request("plain"), request("monitor", mode=ALL, admin=True)),
    )
    assert cluster.allocate() is None
