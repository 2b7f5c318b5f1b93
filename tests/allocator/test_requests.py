"""Per-request preparation: counts, `All` mode, classes, limits, firstAvailable (spec 6.4)."""

from __future__ import annotations

import pytest
from yamlkit import (
    DRIVER,
    allocate_with,
    allocated,
    chosen_devices,
    claim,
    device,
    device_class,
    driver_class,
    first_available,
    loose_cluster,
    match,
    picked,
    picks,
    request,
    resource_slice,
    result,
    sub,
)
from yamlkit import cluster as make_cluster

from dralloc.allocator import AllocationError
from dralloc.features import Features

ALL = "All"


def model(value: str) -> str:
    return f'device.attributes["{DRIVER}"].model == "{value}"'


def gpus(*names: str, model_name: str = "a100") -> list[dict]:
    return [device(n, {"model": model_name}) for n in names]


# ---------------------------------------------------------------------------- ExactCount


def test_count_defaults_to_one() -> None:
    cluster = make_cluster(device_class(), resource_slice(["d1", "d2"]), claim("c", request()))
    assert picked(cluster.allocate()) == [("req", "d1")]


def test_explicit_exact_count_mode_behaves_like_the_default() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(["d1", "d2", "d3"]),
        claim("c", request(mode="ExactCount", count=2)),
    )
    assert picked(cluster.allocate()) == [("req", "d1"), ("req", "d2")]


def test_exact_count_takes_the_first_devices_in_candidate_order() -> None:
    cluster = make_cluster(
        device_class(), resource_slice(["d1", "d2", "d3", "d4"]), claim("c", request(count=3))
    )
    assert chosen_devices(cluster.allocate()) == ["d1", "d2", "d3"]


def test_exact_count_larger_than_the_matching_devices_is_unsatisfiable() -> None:
    cluster = make_cluster(
        device_class(), resource_slice(["d1", "d2"]), claim("c", request(count=3))
    )
    assert cluster.allocate() is None


def test_requests_are_served_in_claim_order() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(["d1", "d2", "d3"]),
        claim("c", request("first", count=2), request("second")),
    )
    assert picked(cluster.allocate()) == [("first", "d1"), ("first", "d2"), ("second", "d3")]


def test_class_selectors_and_request_selectors_must_all_be_true() -> None:
    cluster = make_cluster(
        device_class("gpu", f'device.driver == "{DRIVER}"'),
        resource_slice(["x"], name="s-nic", driver="nic.example.com", pool="nics"),
        resource_slice(
            [device("h100", {"model": "h100"}), device("a100", {"model": "a100"})], name="s-gpu"
        ),
        claim("c", request("req", "gpu", model("a100"))),
    )
    assert chosen_devices(cluster.allocate()) == ["a100"]


def test_class_without_selectors_matches_devices_of_every_driver() -> None:
    cluster = make_cluster(
        device_class("anything"),
        resource_slice(["g"], name="s-a", driver="a.example.com", pool="p"),
        resource_slice(["n"], name="s-b", driver="b.example.com", pool="p"),
        claim("c", request("req", "anything", count=2)),
    )
    assert chosen_devices(cluster.allocate()) == ["g", "n"]


def test_claim_without_requests_gets_an_empty_allocation() -> None:
    cluster = make_cluster(device_class(), resource_slice(["d1"]), claim("c"))
    (only,) = cluster.allocate() or []
    assert only.devices.results == []
    assert only.node_selector is None


# -------------------------------------------------------------------------------- All mode


def test_all_mode_takes_every_matching_device_in_pool_slice_device_order() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(["b2", "b1"], name="s-b", pool="b"),
        resource_slice(["a2"], name="s-a2", pool="a", count=2),
        resource_slice(["a1"], name="s-a1", pool="a", count=2),
        claim("c", request(mode=ALL)),
    )
    assert chosen_devices(cluster.allocate()) == ["a1", "a2", "b2", "b1"]


def test_all_mode_takes_only_devices_its_selectors_accept() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(
            [*gpus("a", "b"), *gpus("x", model_name="h100"), *gpus("c")],
        ),
        claim("c", request("req", "gpu", model("a100"), mode=ALL)),
    )
    assert chosen_devices(cluster.allocate()) == ["a", "b", "c"]


def test_all_mode_with_zero_matching_devices_never_succeeds() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(gpus("a", model_name="h100")),
        claim("c", request("req", "gpu", model("a100"), mode=ALL)),
    )
    assert cluster.allocate() is None


def test_all_mode_with_no_pools_at_all_never_succeeds() -> None:
    cluster = make_cluster(device_class(), claim("c", request(mode=ALL)))
    assert cluster.allocate() is None


def test_all_mode_does_not_filter_out_devices_allocated_to_other_claims() -> None:
    """Spec 6.4-3: the list is fixed up front; an in-use device makes the request fail."""
    cluster = make_cluster(
        device_class(),
        resource_slice(["d1", "d2"]),
        allocated("other", result("req", "d2")),
        claim("c", request(mode=ALL)),
    )
    assert cluster.allocate() is None


def test_all_mode_fails_when_an_earlier_request_of_the_claim_took_one_of_its_devices() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(["d1", "d2"]),
        claim("c", request("one"), request("every", mode=ALL)),
    )
    assert cluster.allocate() is None


def test_all_mode_errors_when_any_pool_of_any_driver_is_incomplete() -> None:
    """Quirk 2 (upstream, kept): even a pool the class could never match breaks `All`."""
    cluster = make_cluster(
        driver_class("gpu"),
        resource_slice(["d1"]),
        resource_slice(["n1"], name="s-nic", driver="nic.example.com", pool="nics", count=2),
        claim("c", request(mode=ALL)),
    )
    with pytest.raises(AllocationError) as err:
        cluster.allocate()
    assert str(err.value) == (
        "claim default/c, request req: asks for all devices, but resource pool "
        "nic.example.com/nics is currently being updated"
    )


def test_all_mode_errors_when_any_pool_is_invalid() -> None:
    cluster = make_cluster(
        driver_class("gpu"),
        resource_slice(["d1"]),
        resource_slice(["n1"], name="s-n1", driver="nic.example.com", pool="nics", count=2),
        resource_slice(["n1"], name="s-n2", driver="nic.example.com", pool="nics", count=2),
        claim("c", request(mode=ALL)),
    )
    with pytest.raises(AllocationError) as err:
        cluster.allocate()
    assert str(err.value) == (
        "claim default/c, request req: asks for all devices, but resource pool "
        "nic.example.com/nics is currently invalid"
    )


def test_exact_count_ignores_an_incomplete_pool_of_another_driver() -> None:
    cluster = make_cluster(
        driver_class("gpu"),
        resource_slice(["d1"]),
        resource_slice(["n1"], name="s-nic", driver="nic.example.com", pool="nics", count=2),
        claim("c", request()),
    )
    assert chosen_devices(cluster.allocate()) == ["d1"]


def test_all_mode_error_is_raised_even_if_an_earlier_claim_would_not_fit() -> None:
    """The check is part of preparation, before any search."""
    cluster = make_cluster(
        device_class(),
        resource_slice(["d1"]),
        resource_slice(["x"], name="s-broken", pool="broken", count=2),
        claim("first", request(count=5)),
        claim("second", request(mode=ALL)),
    )
    with pytest.raises(AllocationError, match="claim default/second, request req: asks for all"):
        cluster.allocate()


# -------------------------------------------------------------------- preparation errors


def test_unknown_device_class_is_an_error_naming_claim_request_and_class() -> None:
    cluster = make_cluster(resource_slice(["d1"]), claim("c", request("req", "missing")))
    with pytest.raises(AllocationError) as err:
        cluster.allocate()
    assert str(err.value).startswith(
        "claim default/c, request req: could not retrieve device class missing"
    )


def test_unknown_device_class_of_a_subrequest_is_an_error() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(["d1"]),
        claim("c", first_available("req", sub("ok", "gpu"), sub("bad", "missing"))),
    )
    with pytest.raises(AllocationError, match="could not retrieve device class missing"):
        cluster.allocate()


def test_empty_cel_selector_is_an_error() -> None:
    cluster = loose_cluster(
        device_class(), resource_slice(["d1"]), claim("c", request("req", "gpu", ""))
    )
    with pytest.raises(AllocationError) as err:
        cluster.allocate()
    assert str(err.value) == (
        "claim default/c, request req, selector #0: CEL expression empty "
        "(unsupported selector type?)"
    )


def test_selector_without_cel_is_an_error_with_its_index() -> None:
    doc = claim("c", request("req", "gpu", "true"))
    doc["spec"]["devices"]["requests"][0]["exactly"]["selectors"].append({})
    cluster = loose_cluster(device_class(), resource_slice(["d1"]), doc)
    with pytest.raises(AllocationError, match=r"request req, selector #1: CEL expression empty"):
        cluster.allocate()


def test_missing_device_class_name_is_an_error() -> None:
    cluster = loose_cluster(device_class(), resource_slice(["d1"]), claim("c", request("req", "")))
    with pytest.raises(AllocationError) as err:
        cluster.allocate()
    assert str(err.value) == (
        "claim default/c, request req: missing device class name (unsupported request type?)"
    )


def test_unsupported_allocation_mode_is_an_error() -> None:
    cluster = loose_cluster(
        device_class(), resource_slice(["d1"]), claim("c", request(mode="Some"))
    )
    with pytest.raises(AllocationError) as err:
        cluster.allocate()
    assert str(err.value) == "claim default/c, request req: unsupported count mode Some"


def test_empty_constraint_is_an_error_with_its_index() -> None:
    cluster = loose_cluster(
        device_class(),
        resource_slice([device("d1", {"numa": 1})]),
        claim("c", request(), constraints=[match(f"{DRIVER}/numa"), {}]),
    )
    with pytest.raises(AllocationError) as err:
        cluster.allocate()
    assert str(err.value) == (
        "claim default/c, constraint #1: empty constraint (unsupported constraint type?)"
    )


def test_errors_are_raised_for_the_first_bad_claim_in_input_order() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(["d1"]),
        claim("good", request()),
        claim("bad", request("r2", "missing")),
    )
    with pytest.raises(AllocationError, match=r"^claim default/bad, request r2:"):
        cluster.allocate()


# ----------------------------------------------------------------------- 32-result limit


def _many(n: int) -> dict:
    return resource_slice([f"d{i}" for i in range(n)])


def test_claim_asking_for_more_than_32_devices_is_an_error() -> None:
    cluster = make_cluster(device_class(), _many(40), claim("c", request(count=33)))
    with pytest.raises(AllocationError) as err:
        cluster.allocate()
    assert str(err.value) == (
        "claim default/c: number of requested devices 33 exceeds the claim limit of 32"
    )


def test_the_32_device_limit_sums_over_the_requests_of_a_claim() -> None:
    cluster = make_cluster(
        device_class(), _many(40), claim("c", request("a", count=20), request("b", count=13))
    )
    with pytest.raises(AllocationError, match="number of requested devices 33 exceeds"):
        cluster.allocate()


def test_exactly_32_devices_are_allowed() -> None:
    cluster = make_cluster(device_class(), _many(32), claim("c", request(count=32)))
    assert len(chosen_devices(cluster.allocate())) == 32


def test_the_32_device_limit_is_per_claim() -> None:
    cluster = make_cluster(
        device_class(),
        _many(40),
        claim("c1", request(count=20)),
        claim("c2", request(count=20)),
    )
    assert [len(p) for p in picks(cluster.allocate())] == [20, 20]


def test_all_mode_matching_more_than_32_devices_is_an_error() -> None:
    cluster = make_cluster(device_class(), _many(33), claim("c", request(mode=ALL)))
    with pytest.raises(AllocationError, match="number of requested devices 33 exceeds"):
        cluster.allocate()


def test_the_limit_check_uses_the_smallest_alternative_of_a_first_available_request() -> None:
    cluster = make_cluster(
        device_class(),
        _many(3),
        claim("c", first_available("req", sub("huge", count=500), sub("one", count=1))),
    )
    assert picked(cluster.allocate()) == [("req/one", "d0")]


def test_too_many_results_skip_to_the_next_subrequest_even_when_devices_exist() -> None:
    """Spec 6.5: "too many" is detected eagerly; 33 devices exist, yet `big` is skipped."""
    cluster = make_cluster(
        device_class(),
        _many(40),
        claim(
            "c",
            request("a", count=20),
            first_available("b", sub("big", count=13), sub("small", count=12)),
        ),
    )
    got = picked(cluster.allocate())
    assert len(got) == 32
    assert [r for r, _ in got[20:]] == ["b/small"] * 12


def test_the_limit_check_adds_the_smallest_alternative_of_each_first_available_request() -> None:
    cluster = make_cluster(
        device_class(),
        _many(40),
        claim(
            "c",
            request("a", count=30),
            first_available("b", sub("x", count=4), sub("y", count=3)),
        ),
    )
    with pytest.raises(AllocationError, match="number of requested devices 33 exceeds"):
        cluster.allocate()


def test_too_many_in_a_later_request_makes_an_earlier_request_try_its_next_subrequest() -> None:
    cluster = make_cluster(
        device_class(),
        _many(25),
        claim(
            "c",
            first_available("a", sub("many", count=20), sub("one")),
            first_available("b", sub("many", count=20), sub("more", count=31)),
        ),
    )
    got = picked(cluster.allocate())
    assert [r for r, _ in got] == ["a/one"] + ["b/many"] * 20


def test_too_many_in_one_claim_does_not_stop_other_claims_from_being_tried() -> None:
    cluster = make_cluster(
        device_class(),
        _many(45),
        claim("c1", request(count=10)),
        claim("c2", request("a", count=20), first_available("b", sub("x", count=13), sub("y"))),
    )
    got = picks(cluster.allocate())
    assert len(got[0]) == 10
    assert got[1][-1][0] == "b/y"


# ------------------------------------------------------------------------ firstAvailable


def test_first_available_takes_the_first_subrequest_that_fits() -> None:
    cluster = make_cluster(
        device_class("big"),
        device_class("small"),
        resource_slice(["d1"]),
        claim("c", first_available("req", sub("big", "big"), sub("small", "small"))),
    )
    assert picked(cluster.allocate()) == [("req/big", "d1")]


def test_first_available_falls_back_and_names_the_result_parent_slash_sub() -> None:
    """Spec 8: two `big` devices wanted, only one exists -> `req/small`."""
    cluster = make_cluster(
        device_class("big", f'device.attributes["{DRIVER}"].size == "big"'),
        device_class("small", f'device.attributes["{DRIVER}"].size == "small"'),
        resource_slice([device("b1", {"size": "big"}), device("s1", {"size": "small"})]),
        claim("c", first_available("req", sub("big", "big", count=2), sub("small", "small"))),
    )
    assert picked(cluster.allocate()) == [("req/small", "s1")]


def test_first_available_tries_subrequests_in_list_order() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice([device("d1", {"model": "a100"}), device("d2", {"model": "h100"})]),
        claim(
            "c",
            first_available(
                "req",
                sub("t4", "gpu", model("t4")),
                sub("h100", "gpu", model("h100")),
                sub("a100", "gpu", model("a100")),
            ),
        ),
    )
    assert picked(cluster.allocate()) == [("req/h100", "d2")]


def test_first_available_with_no_fitting_subrequest_is_unsatisfiable() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(["d1"]),
        claim("c", first_available("req", sub("two", count=2), sub("three", count=3))),
    )
    assert cluster.allocate() is None


def test_first_available_subrequest_in_all_mode() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(gpus("d1", "d2", model_name="t4")),
        claim(
            "c",
            first_available("req", sub("a100", "gpu", model("a100")), sub("every", mode=ALL)),
        ),
    )
    assert picked(cluster.allocate()) == [("req/every", "d1"), ("req/every", "d2")]


# ------------------------------------------------------------------------- gates switched off


def test_subrequests_with_prioritized_list_off_are_an_error() -> None:
    cluster = make_cluster(
        device_class(), resource_slice(["d1"]), claim("c", first_available("req", sub("a")))
    )
    features = Features().with_gates(DRAPrioritizedList=False)
    with pytest.raises(AllocationError) as err:
        allocate_with(cluster, features)
    assert str(err.value) == (
        "claim default/c, request req: has subrequests, but the DRAPrioritizedList feature "
        "is disabled"
    )


def test_capacity_requests_with_consumable_capacity_off_are_an_error() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice([device("d1", capacity={"mem": "8Gi"})]),
        claim("c", request(capacity={"mem": "1Gi"})),
    )
    with pytest.raises(AllocationError) as err:
        cluster.allocate(gates="DRAConsumableCapacity=false")
    assert str(err.value) == (
        "claim default/c, request req: has capacity requests, but the DRAConsumableCapacity "
        "feature is disabled"
    )


def test_subrequest_capacity_requests_with_consumable_capacity_off_name_the_subrequest() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice([device("d1", capacity={"mem": "8Gi"})]),
        claim("c", first_available("req", sub("plain"), sub("sized", capacity={"mem": "1Gi"}))),
    )
    with pytest.raises(AllocationError) as err:
        cluster.allocate(gates="DRAConsumableCapacity=false")
    assert str(err.value) == (
        "claim default/c, subrequest sized: has capacity requests, but the "
        "DRAConsumableCapacity feature is disabled"
    )


@pytest.mark.parametrize("admin", [True, False])
def test_admin_access_set_at_all_with_admin_access_off_is_an_error(admin: bool) -> None:
    """Quirk 8 (upstream, kept): the check is on presence, so `false` fails too."""
    cluster = make_cluster(device_class(), resource_slice(["d1"]), claim("c", request(admin=admin)))
    with pytest.raises(AllocationError) as err:
        allocate_with(cluster, Features().with_gates(DRAAdminAccess=False))
    assert str(err.value) == (
        "claim default/c, request req: admin access is requested, but the feature is disabled"
    )


def test_admin_access_unset_with_admin_access_off_allocates_normally() -> None:
    cluster = make_cluster(device_class(), resource_slice(["d1"]), claim("c", request()))
    got = allocate_with(cluster, Features().with_gates(DRAAdminAccess=False))
    assert picked(got) == [("req", "d1")]


def test_first_available_all_mode_with_no_devices_falls_through_to_the_next_subrequest() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(gpus("d1", model_name="t4")),
        claim(
            "c",
            first_available("req", sub("every-a100", "gpu", model("a100"), mode=ALL), sub("any")),
        ),
    )
    assert picked(cluster.allocate()) == [("req/any", "d1")]


def test_empty_selector_is_reported_before_an_unknown_class() -> None:
    """Spec 6.4-3 order: selectors are checked before the class is looked up."""
    cluster = loose_cluster(resource_slice(["d1"]), claim("c", request("req", "missing", "")))
    with pytest.raises(AllocationError, match=r"selector #0: CEL expression empty"):
        cluster.allocate()


def test_admin_access_gate_error_is_reported_before_an_unknown_class() -> None:
    cluster = make_cluster(
        resource_slice(["d1"]), claim("c", request("req", "missing", admin=True))
    )
    with pytest.raises(AllocationError, match="admin access is requested"):
        allocate_with(cluster, Features().with_gates(DRAAdminAccess=False))
