"""Whether a device may serve a request: in use, selectors, binding conditions (spec 6.6, 5.2)."""

from __future__ import annotations

import pytest
from yamlkit import (
    DRIVER,
    allocated,
    chosen_devices,
    claim,
    device,
    device_class,
    picked,
    picks,
    request,
    resource_slice,
    result,
)
from yamlkit import cluster as make_cluster

from dralloc.allocator import AllocationError

ATTRS = f'device.attributes["{DRIVER}"]'


def model(value: str) -> str:
    return f'{ATTRS}.model == "{value}"'


def bound(name: str, **attrs: object) -> dict:
    return device(
        name, attrs or None, bindingConditions=["ready"], bindingFailureConditions=["failed"]
    )


# ------------------------------------------------------------------------------- in use


def test_device_with_a_committed_allocation_is_skipped() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(["d1", "d2"]),
        allocated("other", result("req", "d1")),
        claim("c", request()),
    )
    assert chosen_devices(cluster.allocate()) == ["d2"]


def test_device_chosen_for_an_earlier_claim_in_the_same_call_is_skipped() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(["d1", "d2"]),
        claim("c1", request()),
        claim("c2", request()),
    )
    assert picks(cluster.allocate()) == [[("req", "d1")], [("req", "d2")]]


def test_all_devices_in_use_is_unsatisfiable() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(["d1"]),
        allocated("other", result("req", "d1")),
        claim("c", request()),
    )
    assert cluster.allocate() is None


def test_committed_allocation_of_a_same_named_device_in_another_pool_does_not_block() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(["d1"], name="s-a", pool="a"),
        resource_slice(["d1"], name="s-b", pool="b"),
        allocated("other", result("req", "d1", pool="a")),
        claim("c", request()),
    )
    (only,) = cluster.allocate() or []
    assert [(r.pool, r.device) for r in only.devices.results] == [("b", "d1")]


# ---------------------------------------------------------------------------- selectors


def test_device_failing_a_class_selector_is_skipped() -> None:
    cluster = make_cluster(
        device_class("gpu", model("a100")),
        resource_slice([device("d1", {"model": "t4"}), device("d2", {"model": "a100"})]),
        claim("c", request()),
    )
    assert chosen_devices(cluster.allocate()) == ["d2"]


def test_device_failing_a_request_selector_is_skipped() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice([device("d1", {"model": "t4"}), device("d2", {"model": "a100"})]),
        claim("c", request("req", "gpu", model("a100"))),
    )
    assert chosen_devices(cluster.allocate()) == ["d2"]


def test_every_request_selector_must_be_true() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(
            [
                device("d1", {"model": "a100", "numa": 0}),
                device("d2", {"model": "a100", "numa": 1}),
            ]
        ),
        claim("c", request("req", "gpu", model("a100"), f"{ATTRS}.numa == 1")),
    )
    assert chosen_devices(cluster.allocate()) == ["d2"]


def test_selector_can_read_capacity_as_a_quantity() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(
            [
                device("small", capacity={"memory": "16Gi"}),
                device("big", capacity={"memory": "80Gi"}),
            ]
        ),
        claim(
            "c",
            request(
                "req",
                "gpu",
                f'device.capacity["{DRIVER}"].memory.compareTo(quantity("40Gi")) >= 0',
            ),
        ),
    )
    assert chosen_devices(cluster.allocate()) == ["big"]


def test_missing_attribute_in_a_request_selector_is_an_error_not_a_skip() -> None:
    """Spec 8: a device of the driver lacking `model` aborts allocation."""
    cluster = make_cluster(
        device_class("gpu", f'device.driver == "{DRIVER}"'),
        resource_slice([device("d1"), device("d2", {"model": "a100"})]),
        claim("c", request("req", "gpu", model("a100"))),
    )
    with pytest.raises(AllocationError) as err:
        cluster.allocate()
    message = str(err.value)
    assert message.startswith("claim default/c: selector #0: CEL runtime error: ")
    assert "no such key: model" in message


def test_runtime_error_names_the_index_of_the_failing_request_selector() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice([device("d1", {"model": "a100"})]),
        claim("c", request("req", "gpu", model("a100"), f"{ATTRS}.numa == 1")),
    )
    with pytest.raises(AllocationError, match=r"^claim default/c: selector #1: CEL runtime error"):
        cluster.allocate()


def test_runtime_error_in_a_class_selector_names_the_class() -> None:
    cluster = make_cluster(
        device_class("gpu", "true", model("a100")),
        resource_slice([device("d1")]),
        claim("c", request()),
    )
    with pytest.raises(AllocationError) as err:
        cluster.allocate()
    assert str(err.value).startswith("class gpu: selector #1: CEL runtime error: ")
    assert "no such key: model" in str(err.value)


def test_runtime_error_aborts_even_when_another_device_would_fit() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice([device("bad"), device("good", {"model": "a100"})]),
        claim("c", request("req", "gpu", model("a100"))),
    )
    with pytest.raises(AllocationError, match="CEL runtime error"):
        cluster.allocate()


def test_device_after_the_solution_is_never_evaluated() -> None:
    """Selectors run lazily during the search: once a solution is found, later devices
    (here one that would raise) are not looked at."""
    cluster = make_cluster(
        device_class(),
        resource_slice([device("good", {"model": "a100"}), device("bad")]),
        claim("c", request("req", "gpu", model("a100"))),
    )
    assert chosen_devices(cluster.allocate()) == ["good"]


def test_guarded_lookup_of_a_missing_attribute_skips_the_device() -> None:
    guarded = f'"model" in {ATTRS} && {ATTRS}.model == "a100"'
    cluster = make_cluster(
        device_class(),
        resource_slice([device("bare"), device("good", {"model": "a100"})]),
        claim("c", request("req", "gpu", guarded)),
    )
    assert chosen_devices(cluster.allocate()) == ["good"]


def test_unknown_attribute_domain_is_an_empty_map_not_an_error() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(["d1"]),
        claim("c", request("req", "gpu", 'device.attributes["other.example.com"].size() == 0')),
    )
    assert chosen_devices(cluster.allocate()) == ["d1"]


def test_non_boolean_selector_result_is_a_runtime_error() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice([device("d1", {"model": "a100"})]),
        claim("c", request("req", "gpu", f"{ATTRS}.model")),
    )
    with pytest.raises(AllocationError, match=r"^claim default/c: selector #0: CEL runtime error"):
        cluster.allocate()


def test_selector_that_does_not_compile_is_an_error() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(["d1"]),
        claim("c", request("req", "gpu", "nonsense == 1")),
    )
    with pytest.raises(AllocationError, match=r"^claim default/c: selector #0: CEL compile error"):
        cluster.allocate()


def test_selector_that_does_not_compile_is_no_error_when_no_device_is_checked() -> None:
    """Spec 5.2: compilation is lazy."""
    cluster = make_cluster(
        device_class(),
        claim("c", request("req", "gpu", "nonsense == 1")),
    )
    assert cluster.allocate() is None


def test_allow_multiple_allocations_in_cel_compiles_with_consumable_capacity_off() -> None:
    # Upstream compiles selectors in the StoredExpressions environment, which declares the
    # field whatever DRAConsumableCapacity says (docs/conformance.md).
    cluster = make_cluster(
        device_class(),
        resource_slice(["d1"]),
        claim("c", request("req", "gpu", "device.allowMultipleAllocations == false")),
    )
    assert chosen_devices(cluster.allocate()) == ["d1"]
    assert chosen_devices(cluster.allocate(gates="DRAConsumableCapacity=false")) == ["d1"]


def test_unsupported_attribute_value_breaks_every_selector_on_that_device() -> None:
    """Spec 5.2: a list attribute with DRAListTypeAttributes off poisons CEL evaluation of
    its device, even for an expression that does not mention it (quirk 6, kept)."""
    cluster = make_cluster(
        device_class(),
        resource_slice([device("d1", {"model": "a100", "links": ["a", "b"]})]),
        claim("c", request("req", "gpu", model("a100"))),
    )
    with pytest.raises(AllocationError) as err:
        cluster.allocate()
    assert "CEL runtime error" in str(err.value)
    assert "attribute links: unsupported attribute value" in str(err.value)


def test_device_with_unsupported_attribute_is_usable_without_selectors() -> None:
    """Spec 5.2: devices are never CEL-evaluated if neither class nor request has selectors."""
    cluster = make_cluster(
        device_class(),
        resource_slice([device("d1", {"links": ["a", "b"]})]),
        claim("c", request()),
    )
    assert chosen_devices(cluster.allocate()) == ["d1"]


def test_list_attribute_is_readable_by_selectors_with_list_type_attributes_on() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice([device("d1", {"links": ["a", "b"]}), device("d2", {"links": ["c"]})]),
        claim("c", request("req", "gpu", f'{ATTRS}.links.includes("c")')),
    )
    assert chosen_devices(cluster.allocate(gates="DRAListTypeAttributes=true")) == ["d2"]


# ----------------------------------------------------------------- binding conditions


def test_device_with_binding_conditions_is_selectable_when_the_feature_is_on() -> None:
    cluster = make_cluster(device_class(), resource_slice([bound("d1")]), claim("c", request()))
    assert chosen_devices(cluster.allocate()) == ["d1"]


@pytest.mark.parametrize(
    "gates", ["DRADeviceBindingConditions=false", "DRAResourceClaimDeviceStatus=false"]
)
def test_device_with_binding_conditions_is_never_selectable_with_either_gate_off(
    gates: str,
) -> None:
    cluster = make_cluster(
        device_class(), resource_slice([bound("d1"), "d2"]), claim("c", request())
    )
    assert chosen_devices(cluster.allocate(gates=gates)) == ["d2"]


def test_device_with_binding_conditions_is_skipped_before_its_selectors_run() -> None:
    """Step b checks binding conditions first: the bad selector is never evaluated."""
    cluster = make_cluster(
        device_class(),
        resource_slice([bound("d1")]),
        claim("c", request("req", "gpu", model("a100"))),
    )
    assert cluster.allocate(gates="DRADeviceBindingConditions=false") is None


# -------------------------------------------------------------- multi-allocatable, gate off


def test_multi_allocatable_device_is_shared_by_two_claims_with_consumable_capacity_on() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice([device("d1", allowMultipleAllocations=True)]),
        claim("c1", request()),
        claim("c2", request()),
    )
    assert picks(cluster.allocate()) == [[("req", "d1")], [("req", "d1")]]


def test_multi_allocatable_device_is_dedicated_with_consumable_capacity_off() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice([device("d1", allowMultipleAllocations=True)]),
        claim("c1", request()),
        claim("c2", request()),
    )
    assert cluster.allocate(gates="DRAConsumableCapacity=false") is None


def test_multi_allocatable_device_result_has_no_share_id_with_consumable_capacity_off() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice([device("d1", allowMultipleAllocations=True)]),
        claim("c", request()),
    )
    (only,) = cluster.allocate(gates="DRAConsumableCapacity=false") or []
    assert only.devices.results[0].share_id is None


def test_committed_dedicated_allocation_blocks_a_multi_allocatable_device() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice([device("d1", allowMultipleAllocations=True), "d2"]),
        allocated("old", result("req", "d1")),
        claim("c", request()),
    )
    assert picked(cluster.allocate()) == [("req", "d2")]


# ------------------------------------------------------------------------- check order


def test_device_in_use_is_skipped_before_its_selectors_run() -> None:
    """Spec 6.6 checks (a) in use before (b) selectors: a committed device whose selector
    would fail at runtime is skipped without evaluating it."""
    cluster = make_cluster(
        device_class(),
        resource_slice([device("held"), device("free", {"model": "a100"})]),
        allocated("other", result("req", "held")),
        claim("c", request("req", "gpu", model("a100"))),
    )
    assert chosen_devices(cluster.allocate()) == ["free"]


def test_device_chosen_by_an_earlier_claim_is_skipped_before_its_selectors_run() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice([device("bare"), device("a100", {"model": "a100"})]),
        claim("c1", request()),
        claim("c2", request("req", "gpu", model("a100"))),
    )
    assert picks(cluster.allocate()) == [[("req", "bare")], [("req", "a100")]]
