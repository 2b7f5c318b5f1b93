"""The claim assume cache's rules (spec/cluster-mode.md section 3) and the ownership rule's
label selector (section 1), without an API server."""

from __future__ import annotations

import pytest

from dralloc.api.meta import ObjectMeta
from dralloc.api.resource import ResourcePool, ResourceSlice, ResourceSliceSpec
from dralloc.errors import InputError
from dralloc.kube.assume import ClaimAssumeCache
from dralloc.kube.ownership import Ownership, parse_label_selector


def _claim(rv: str, allocated: bool = False) -> dict[str, object]:
    status = {"allocation": {"devices": {"results": []}}} if allocated else {}
    return {"metadata": {"name": "c", "namespace": "ns", "resourceVersion": rv}, "status": status}


def test_informer_versions_are_held_back_while_a_claim_is_in_flight_and_restored_on_failure() -> (
    None
):
    cache = ClaimAssumeCache()
    assert cache.informer_update("ns/c", _claim("5"))
    cache.reserve("ns/c", "pod-uid")
    assert cache.in_flight_for("ns/c") == "pod-uid"
    assert not cache.informer_update("ns/c", _claim("6"))  # a label change meanwhile
    restored = cache.release("ns/c")  # the write failed: nothing assumed
    assert restored is not None and restored["metadata"]["resourceVersion"] == "6"
    assert cache.in_flight_for("ns/c") is None


def test_a_written_claim_wins_over_older_informer_events_and_yields_to_newer_ones() -> None:
    cache = ClaimAssumeCache()
    cache.informer_update("ns/c", _claim("5"))
    cache.reserve("ns/c", "pod-uid")
    cache.assume("ns/c", _claim("9", allocated=True))
    assert cache.release("ns/c") == _claim("9", allocated=True)
    assert not cache.informer_update("ns/c", _claim("8"))  # older than what was written
    assert cache.latest["ns/c"]["metadata"]["resourceVersion"] == "9"
    assert cache.informer_update("ns/c", _claim("9", allocated=True))  # caught up
    assert cache.informer_update("ns/c", _claim("12"))
    assert cache.latest["ns/c"]["metadata"]["resourceVersion"] == "12"


def test_a_claim_deleted_in_flight_is_gone_when_released() -> None:
    cache = ClaimAssumeCache()
    cache.informer_update("ns/c", _claim("5"))
    cache.reserve("ns/c", "pod-uid")
    assert not cache.informer_delete("ns/c")
    assert cache.release("ns/c") is None
    assert "ns/c" not in cache


def test_a_resource_version_that_is_not_a_number_disables_assuming() -> None:
    cache = ClaimAssumeCache()
    cache.assume("ns/c", _claim("opaque"))
    assert cache.informer_update("ns/c", _claim("also-opaque"))


@pytest.mark.parametrize(
    ("selector", "labels", "owned"),
    [
        ("", {}, True),
        ("dralloc.dev/owner=dralloc", {"dralloc.dev/owner": "dralloc"}, True),
        ("dralloc.dev/owner=dralloc", {"dralloc.dev/owner": "other"}, False),
        ("dralloc.dev/owner==dralloc,gpu", {"dralloc.dev/owner": "dralloc"}, False),
        ("tier in (a, b),!spot", {"tier": "b"}, True),
        ("tier in (a, b),!spot", {"tier": "b", "spot": ""}, False),
        ("tier notin (a),zone!=x", {"tier": "c", "zone": "y"}, True),
    ],
)
def test_owned_nodes_follow_kubectl_label_selector_syntax(
    selector: str, labels: dict[str, str], owned: bool
) -> None:
    assert Ownership(parse_label_selector(selector)).owns_node(labels) is owned


def test_a_bad_owned_nodes_selector_is_an_input_error_naming_the_flag() -> None:
    with pytest.raises(InputError) as err:
        parse_label_selector("a=b,=c")
    assert "--owned-nodes" in str(err.value) and "'=c'" in str(err.value)


def test_shared_pools_are_used_only_when_allowed() -> None:
    node_local = ResourceSlice(
        metadata=ObjectMeta(name="s1"),
        spec=ResourceSliceSpec(driver="d", pool=ResourcePool(name="n1"), node_name="n1"),
    )
    shared = ResourceSlice(
        metadata=ObjectMeta(name="s2"),
        spec=ResourceSliceSpec(driver="d", pool=ResourcePool(name="p"), all_nodes=True),
    )
    owned = {"n1": object()}
    assert Ownership().may_use(node_local, owned)
    assert not Ownership().may_use(node_local, {})
    assert not Ownership().may_use(shared, owned)
    assert Ownership(allow_shared_pools=True).may_use(shared, owned)
