"""`Cluster.explain`: a verdict per request and device, and the overall message.

Explain is dralloc's own (no spec section); it reuses the allocator's checks of spec 6.6-6.10,
so each verdict here is one of those checks failing for one device.
"""

from __future__ import annotations

import re

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
    request,
    resource_slice,
    result,
    sub,
    taint,
)
from yamlkit import cluster as make_cluster

from dralloc.allocator import ClaimExplanation
from dralloc.api.quantity import Quantity

MODEL = f'device.attributes["{DRIVER}"].model'


def verdicts(explanation: ClaimExplanation, index: int = 0) -> list[tuple[str, str, str]]:
    """(device, verdict, detail) for one request of the explanation."""
    return [(d.device, d.verdict, d.detail) for d in explanation.requests[index].devices]


def dev(name: str) -> str:
    return f"{DRIVER}/pool-1/{name}"


# -------------------------------------------------------------------------------- verdicts


def test_every_device_that_fits_is_reported_as_fitting() -> None:
    cluster = make_cluster(device_class(), resource_slice(["d1", "d2"]), claim("c", request()))
    got = cluster.explain("c")
    assert got.fits
    assert got.message == "fits (req: d1)"
    assert verdicts(got) == [(dev("d1"), "fits", "chosen"), (dev("d2"), "fits", "")]
    assert got.allocation is not None


def test_class_selector_false_verdict() -> None:
    cluster = make_cluster(
        device_class("gpu", f'{MODEL} == "a100"'),
        resource_slice([device("d1", {"model": "t4"})]),
        claim("c", request()),
    )
    assert verdicts(cluster.explain("c")) == [(dev("d1"), "class selector is false", "")]


def test_request_selector_false_verdict() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice([device("d1", {"model": "t4"})]),
        claim("c", request("req", "gpu", f'{MODEL} == "a100"')),
    )
    assert verdicts(cluster.explain("c")) == [(dev("d1"), "request selector is false", "")]


def test_in_use_verdict_names_the_owner() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(["d1"]),
        allocated("holder", result("req", "d1"), namespace="team-a"),
        claim("c", request()),
    )
    assert verdicts(cluster.explain("c")) == [(dev("d1"), "in use", "by team-a/holder")]


def test_counters_exhausted_verdict_says_how_much_more_is_needed() -> None:
    parts = [
        device("p1", consumesCounters=[consumes("gpu0", mem="30Gi")]),
        device("p2", consumesCounters=[consumes("gpu0", mem="20Gi")]),
    ]
    cluster = make_cluster(
        device_class(),
        resource_slice(parts, name="s-d", count=2),
        resource_slice([], name="s-c", count=2, counters=[counter_set("gpu0", mem="40Gi")]),
        allocated("holder", result("req", "p1")),
        claim("c", request()),
    )
    (p1, p2) = verdicts(cluster.explain("c"))
    assert p1 == (dev("p1"), "in use", "by default/holder")
    assert p2[:2] == (dev("p2"), "counters exhausted")
    found = re.fullmatch(r"counter mem of counter set gpu0 \((\S+) more needed\)", p2[2])
    assert found is not None, p2[2]
    assert Quantity.parse(found.group(1)) == Quantity.parse("10Gi")


def test_counters_disabled_verdict() -> None:
    parts = [device("p1", consumesCounters=[consumes("gpu0", mem="1")])]
    cluster = make_cluster(
        device_class(),
        resource_slice(parts, name="s-d", count=2),
        resource_slice([], name="s-c", count=2, counters=[counter_set("gpu0", mem="4")]),
        claim("c", request()),
    )
    got = cluster.explain("c", gates="DRAPartitionableDevices=false")
    assert verdicts(got) == [
        (dev("p1"), "consumes counters, but DRAPartitionableDevices is disabled", "")
    ]


def test_capacity_too_small_verdict_says_by_how_much() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice([device("nic", capacity={"bw": "10"}, allowMultipleAllocations=True)]),
        allocated(
            "holder",
            result(
                "req",
                "nic",
                shareID="00000000-0000-4000-8000-0000000000aa",
                consumedCapacity={"bw": "8"},
            ),
        ),
        claim("c", request(capacity={"bw": "4"})),
    )
    assert verdicts(cluster.explain("c")) == [
        (dev("nic"), "capacity too small", "capacity bw: 2 short")
    ]


def test_capacity_verdict_for_a_capacity_the_device_lacks() -> None:
    cluster = make_cluster(
        device_class(), resource_slice(["d1"]), claim("c", request(capacity={"memory": "1Gi"}))
    )
    assert verdicts(cluster.explain("c")) == [
        (dev("d1"), "capacity too small", "device has no capacity memory")
    ]


def test_capacity_policy_verdict() -> None:
    cap = {"value": "10", "requestPolicy": {"default": "2", "validValues": ["2", "4"]}}
    cluster = make_cluster(
        device_class(),
        resource_slice([device("nic", capacity={"bw": cap}, allowMultipleAllocations=True)]),
        claim("c", request(capacity={"bw": "5"})),
    )
    assert verdicts(cluster.explain("c")) == [
        (
            dev("nic"),
            "capacity request not allowed by the device's policy",
            "requested amount is not allowed by requestPolicy",
        )
    ]


def test_untolerated_taint_verdict_names_the_taint() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice([device("d1", taints=[taint("broken", "yes", "NoExecute")])]),
        claim("c", request()),
    )
    assert verdicts(cluster.explain("c")) == [
        (dev("d1"), "untolerated taint", "broken=yes:NoExecute")
    ]


def test_wrong_node_verdict_for_per_device_node_selection() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(
            [device("here", nodeName="node-1"), device("there", nodeName="node-2")],
            per_device=True,
        ),
        claim("c", request()),
    )
    assert verdicts(cluster.explain("c")) == [
        (dev("here"), "fits", "chosen"),
        (dev("there"), "not reachable from the node", ""),
    ]


def test_binding_conditions_disabled_verdict() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(
            [device("d1", bindingConditions=["ready"], bindingFailureConditions=["failed"])]
        ),
        claim("c", request()),
    )
    got = cluster.explain("c", gates="DRADeviceBindingConditions=false")
    assert verdicts(got) == [(dev("d1"), "has binding conditions, but the feature is disabled", "")]


def test_constraint_conflict_verdict_for_a_device_lacking_the_attribute() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice([device("d1"), device("d2", {"root": "a"})]),
        claim("c", request(), constraints=[match(f"{DRIVER}/root")]),
    )
    assert verdicts(cluster.explain("c")) == [
        (dev("d1"), "constraint conflict", f"matchAttribute {DRIVER}/root"),
        (dev("d2"), "fits", "chosen"),
    ]


def test_pool_invalid_verdict_for_each_device_of_the_pool() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(["d1"], name="s-1", count=2),
        resource_slice(["d1"], name="s-2", count=2),
        claim("c", request()),
    )
    got = cluster.explain("c")
    assert verdicts(got) == [
        (dev("d1"), "pool invalid", "duplicate device name d1"),
        (dev("d1"), "pool invalid", "duplicate device name d1"),
    ]
    assert not got.fits


def test_pool_incomplete_is_listed_among_the_pools() -> None:
    cluster = make_cluster(device_class(), resource_slice(["d1"], count=2), claim("c", request()))
    got = cluster.explain("c")
    assert [(p.pool, p.state) for p in got.pools] == [(f"{DRIVER}/pool-1", "incomplete")]
    assert f"  pool {DRIVER}/pool-1 is incomplete" in got.summary_lines()


def test_pool_incomplete_verdict_for_each_published_device_of_the_pool() -> None:
    """explain.py promises a verdict for every device; devices of an incomplete pool are
    published and visible to the node, so each should be reported as `pool incomplete`."""
    cluster = make_cluster(
        device_class(), resource_slice(["d1", "d2"], count=2), claim("c", request())
    )
    assert verdicts(cluster.explain("c")) == [
        (dev("d1"), "pool incomplete", ""),
        (dev("d2"), "pool incomplete", ""),
    ]


def test_selector_error_verdict_carries_the_error() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice([device("d1", {"model": "a100"}), device("d2")]),
        claim("c", request("req", "gpu", f'{MODEL} == "a100"')),
    )
    got = cluster.explain("c")
    (first, second) = verdicts(got)
    # The search stops at d1 before evaluating d2, so the claim itself fits (spec 5.2 lazy).
    assert got.fits
    assert first == (dev("d1"), "fits", "chosen")
    assert second[:2] == (dev("d2"), "selector error")
    assert second[2].startswith("claim default/c: selector #0: CEL runtime error: ")


# ------------------------------------------------------------------------ overall message


def test_message_when_every_request_lacks_devices() -> None:
    cluster = make_cluster(device_class(), resource_slice(["d1"]), claim("c", request(count=2)))
    got = cluster.explain("c")
    assert not got.fits
    assert got.message == "cannot be allocated: not enough matching devices"


def test_message_names_the_requests_that_lack_devices() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice([device("d1", {"model": "a100"}), device("d2", {"model": "t4"})]),
        claim(
            "c",
            request("any"),
            request("a100s", "gpu", f'{MODEL} == "a100"', count=2),
        ),
    )
    got = cluster.explain("c")
    assert got.message == "cannot be allocated: not enough matching devices for a100s"


def test_message_when_devices_fit_alone_but_not_together() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice([device("d1", {"root": "a"}), device("d2", {"root": "a"})]),
        claim("c", request(count=2), constraints=[distinct(f"{DRIVER}/root")]),
    )
    got = cluster.explain("c")
    assert got.message == (
        "cannot be allocated: devices fit each request alone, but no combination satisfies "
        "all requests and constraints together"
    )


def test_message_when_allocation_fails_with_an_error() -> None:
    cluster = make_cluster(resource_slice(["d1"]), claim("c", request("req", "missing")))
    got = cluster.explain("c")
    assert not got.fits
    assert got.error.startswith(
        "claim default/c, request req: could not retrieve device class missing"
    )
    assert got.message == f"allocation fails with an error: {got.error}"
    assert got.requests == []


def test_message_when_a_selector_errors_during_the_search() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice([device("d1")]),
        claim("c", request("req", "gpu", f'{MODEL} == "a100"')),
    )
    got = cluster.explain("c")
    assert got.error.startswith("claim default/c: selector #0: CEL runtime error")
    assert got.message.startswith("allocation fails with an error: claim default/c: selector")


def test_explanation_lists_every_alternative_of_a_first_available_request() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(["d1"]),
        claim("c", first_available("req", sub("two", count=2), sub("one"))),
    )
    got = cluster.explain("c")
    assert [(r.name, r.needed, r.fitting) for r in got.requests] == [
        ("req/two", 2, 1),
        ("req/one", 1, 1),
    ]
    assert got.fits


def test_summary_lines_count_the_reasons() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(
            [
                device("d1", {"model": "t4"}),
                device("d2", {"model": "a100"}),
                device("d3", {"model": "t4"}),
                device("d4", {"model": "a100"}),
            ]
        ),
        allocated("holder", result("req", "d2")),
        claim("c", request("req", "gpu", f'{MODEL} == "a100"', count=2)),
    )
    assert cluster.explain("c").summary_lines() == [
        "claim default/c on node node-1: cannot be allocated: not enough matching devices",
        "  request req: 1 of 4 devices fit (needs 2); 2 request selector is false, 1 in use",
    ]


def test_all_mode_request_needs_all() -> None:
    cluster = make_cluster(device_class(), resource_slice(["d1"]), claim("c", request(mode="All")))
    got = cluster.explain("c")
    assert got.requests[0].needed == "all"
    assert got.fits


def test_explaining_an_allocated_claim_ignores_its_own_allocation() -> None:
    cluster = make_cluster(
        device_class(), resource_slice(["d1"]), allocated("mine", result("req", "d1"))
    )
    got = cluster.explain("mine")
    assert got.fits
    assert verdicts(got) == [(dev("d1"), "fits", "chosen")]
