"""Device taints and request tolerations (spec 2.4, 6.6 d4, 6.12, 0.2-2)."""

from __future__ import annotations

from typing import Any

import pytest
from yamlkit import (
    chosen_devices,
    claim,
    device,
    device_class,
    first_available,
    loose_cluster,
    picked,
    request,
    resource_slice,
    sub,
    taint,
    toleration,
    wire,
)
from yamlkit import cluster as make_cluster

NO_TAINTS = "DRADeviceTaints=false"


def tainted(*taints: dict[str, Any]) -> dict[str, Any]:
    return device("tainted", taints=list(taints))


def first_choice(taints: list[dict[str, Any]], tolerations: list[dict[str, Any]] | None) -> str:
    """Which device a one-device request gets when `tainted` comes before `clean`."""
    cluster = make_cluster(
        device_class(),
        resource_slice([tainted(*taints), "clean"]),
        claim("c", request(tolerations=tolerations)),
    )
    (name,) = chosen_devices(cluster.allocate())
    return name


@pytest.mark.parametrize("effect", ["NoSchedule", "NoExecute"])
def test_hard_taint_without_toleration_keeps_the_device_out(effect: str) -> None:
    assert first_choice([taint("broken", "yes", effect)], None) == "clean"


def test_none_effect_is_informational() -> None:
    assert first_choice([taint("note", "x", "None")], None) == "tainted"


def test_unknown_future_effect_is_treated_like_none() -> None:
    """Spec 0.2-2. The API rejects unknown effects, so this skips validation."""
    cluster = loose_cluster(
        device_class(),
        resource_slice([tainted(taint("later", "x", "PreferNoSchedule2")), "clean"]),
        claim("c", request()),
    )
    assert chosen_devices(cluster.allocate()) == ["tainted"]


def test_only_tainted_devices_and_no_toleration_is_unsatisfiable() -> None:
    cluster = make_cluster(
        device_class(), resource_slice([tainted(taint("broken"))]), claim("c", request())
    )
    assert cluster.allocate() is None


@pytest.mark.parametrize(
    ("tol", "tolerated"),
    [
        pytest.param(toleration("broken", "Exists"), True, id="exists-key"),
        pytest.param(toleration("other", "Exists"), False, id="exists-other-key"),
        pytest.param(toleration("broken", "Equal", "yes"), True, id="equal-same-value"),
        pytest.param(toleration("broken", "Equal", "no"), False, id="equal-other-value"),
        pytest.param(toleration("broken", value="yes"), True, id="operator-defaults-to-equal"),
        pytest.param(toleration("broken"), False, id="equal-empty-value-vs-yes"),
        pytest.param(toleration(operator="Exists"), True, id="empty-key-exists-tolerates-all"),
        pytest.param(toleration("broken", "Exists", effect="NoSchedule"), True, id="same-effect"),
        pytest.param(toleration("broken", "Exists", effect="NoExecute"), False, id="other-effect"),
        pytest.param(
            toleration(operator="Exists", effect="NoExecute"), False, id="all-keys-other-effect"
        ),
    ],
)
def test_toleration_rules(tol: dict[str, Any], tolerated: bool) -> None:
    got = first_choice([taint("broken", "yes", "NoSchedule")], [tol])
    assert got == ("tainted" if tolerated else "clean")


def test_equal_toleration_with_empty_value_tolerates_a_taint_without_value() -> None:
    assert first_choice([taint("broken")], [toleration("broken", "Equal")]) == "tainted"


def test_empty_effect_toleration_tolerates_every_effect() -> None:
    taints = [taint("broken", "yes", "NoSchedule"), taint("broken", "yes", "NoExecute")]
    assert first_choice(taints, [toleration("broken", "Exists")]) == "tainted"


def test_every_hard_taint_must_be_tolerated() -> None:
    taints = [taint("a", "1", "NoSchedule"), taint("b", "2", "NoExecute")]
    assert first_choice(taints, [toleration("a", "Exists")]) == "clean"
    assert first_choice(taints, [toleration("a", "Exists"), toleration("b", "Exists")]) == (
        "tainted"
    )


def test_none_taint_needs_no_toleration_next_to_tolerated_hard_taints() -> None:
    taints = [taint("a", "1", "NoSchedule"), taint("note", "x", "None")]
    assert first_choice(taints, [toleration("a", "Exists")]) == "tainted"


def test_toleration_seconds_do_not_matter_for_allocation() -> None:
    """tolerationSeconds only delays eviction (spec 7.9); at allocation time a NoExecute
    toleration with 0 seconds still tolerates the taint."""
    tol = toleration("broken", "Exists", effect="NoExecute", tolerationSeconds=0)
    assert first_choice([taint("broken", "yes", "NoExecute")], [tol]) == "tainted"


def test_tainted_device_makes_all_mode_fail() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(["clean", tainted(taint("broken"))]),
        claim("c", request(mode="All")),
    )
    assert cluster.allocate() is None


def test_tolerated_taint_lets_all_mode_take_the_device() -> None:
    cluster = make_cluster(
        device_class(),
        resource_slice(["clean", tainted(taint("broken"))]),
        claim("c", request(mode="All", tolerations=[toleration("broken", "Exists")])),
    )
    assert chosen_devices(cluster.allocate()) == ["clean", "tainted"]


def test_taints_are_ignored_with_device_taints_off() -> None:
    cluster = make_cluster(
        device_class(), resource_slice([tainted(taint("broken"))]), claim("c", request())
    )
    assert cluster.allocate() is None
    assert chosen_devices(cluster.allocate(gates=NO_TAINTS)) == ["tainted"]


# --------------------------------------------------------------------------------- results


def test_all_tolerations_are_copied_into_results_even_for_untainted_devices() -> None:
    tolerations = [
        toleration("a", "Exists"),
        toleration("b", "Equal", "x", effect="NoExecute", tolerationSeconds=30),
    ]
    cluster = make_cluster(
        device_class(), resource_slice(["clean"]), claim("c", request(tolerations=tolerations))
    )
    (only,) = cluster.allocate() or []
    assert wire(only.devices.results[0])["tolerations"] == [
        {"key": "a", "operator": "Exists"},
        {
            "key": "b",
            "operator": "Equal",
            "value": "x",
            "effect": "NoExecute",
            "tolerationSeconds": 30,
        },
    ]


def test_toleration_operator_is_defaulted_to_equal_in_results() -> None:
    """Spec 3 defaults an empty operator to Equal when the claim is created, and spec 2.5
    has results copy the (defaulted) tolerations, so Kubernetes writes `operator: Equal`."""
    cluster = make_cluster(
        device_class(),
        resource_slice(["clean"]),
        claim("c", request(tolerations=[toleration("a", value="1")])),
    )
    (only,) = cluster.allocate() or []
    assert wire(only.devices.results[0])["tolerations"] == [
        {"key": "a", "operator": "Equal", "value": "1"}
    ]


def test_results_without_tolerations_have_none() -> None:
    cluster = make_cluster(device_class(), resource_slice(["clean"]), claim("c", request()))
    (only,) = cluster.allocate() or []
    assert "tolerations" not in wire(only.devices.results[0])


def test_chosen_subrequest_tolerations_are_copied_into_results() -> None:
    cluster = make_cluster(
        device_class("strict", 'device.attributes["gpu.example.com"].size() > 0'),
        device_class("any"),
        resource_slice([tainted(taint("broken"))]),
        claim(
            "c",
            first_available(
                "req",
                sub("first", "any"),
                sub("second", "any", tolerations=[toleration("broken", "Exists")]),
            ),
        ),
    )
    got = cluster.allocate()
    assert picked(got) == [("req/second", "tainted")]
    assert got is not None
    assert wire(got[0].devices.results[0])["tolerations"] == [
        {"key": "broken", "operator": "Exists"}
    ]


def test_results_carry_the_tolerations_even_with_device_taints_off() -> None:
    """Upstream's allocator copies a request's tolerations into its results whatever the
    gate says (the API server drops the field on write while the gate is off)."""
    cluster = make_cluster(
        device_class(),
        resource_slice(["clean"]),
        claim("c", request(tolerations=[toleration("a", "Exists")])),
    )
    (only,) = cluster.allocate(gates=NO_TAINTS) or []
    assert wire(only.devices.results[0])["tolerations"] == [{"key": "a", "operator": "Exists"}]
