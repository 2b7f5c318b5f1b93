"""What a simulated fleet publishes: `dralloc cluster generate`'s objects, plus the labels and
taints asked for on the Nodes; and the label and taint syntax of the command line."""

from __future__ import annotations

import msgspec
import pytest

from dralloc.devices import load_catalog
from dralloc.devices.cluster import ClusterSpecError, iter_cluster_json, parse_group
from dralloc.kube.nodesim import parse_label, parse_taint, plan_fleet

CATALOG = load_catalog()


def test_a_fleet_is_exactly_the_generated_cluster_in_creation_order() -> None:
    groups = [parse_group("2xdgx-h100:mig=dynamic"), parse_group("1xtpu-v6e-2x4")]
    generated = [msgspec.json.decode(d) for d in iter_cluster_json(groups, CATALOG)]
    fleet = plan_fleet(groups, CATALOG)
    assert [*fleet.classes, *fleet.nodes, *fleet.slices] == sorted(
        generated, key=lambda o: ["DeviceClass", "Node", "ResourceSlice"].index(o["kind"])
    )
    assert fleet.node_names == ["dgx-h100-00", "dgx-h100-01", "tpu-v6e-2x4-00"]
    assert fleet.pools == {
        ("gpu.nvidia.com", "dgx-h100-00"),
        ("gpu.nvidia.com", "dgx-h100-01"),
        ("tpu.google.com", "tpu-v6e-2x4-00"),
    }
    assert fleet.count() == "3 Nodes, 19 ResourceSlices, 9 DeviceClasses"


def test_a_name_prefix_is_the_group_name_option_so_device_ids_follow_the_names() -> None:
    prefixed = plan_fleet([parse_group("1xl4:gpus=2")], CATALOG, name_prefix="lab-")
    named = plan_fleet([parse_group("1xl4:gpus=2,name=lab-l4")], CATALOG)
    assert prefixed == named
    assert prefixed.node_names == ["lab-l4-00"]
    # Two groups of one shape keep their own names under one prefix.
    two = plan_fleet(
        [parse_group("1xl4:name=a"), parse_group("1xl4:name=b")], CATALOG, name_prefix="x-"
    )
    assert two.node_names == ["x-a-00", "x-b-00"]


def test_labels_and_taints_go_on_the_nodes_only() -> None:
    taint = parse_taint("dralloc.dev/owner=dralloc:NoSchedule")
    plain = plan_fleet([parse_group("1xl4")], CATALOG)
    marked = plan_fleet(
        [parse_group("1xl4")], CATALOG, labels={"dralloc.dev/owner": "dralloc"}, taints=[taint]
    )
    [node] = marked.nodes
    assert node["metadata"]["labels"] == {
        **plain.nodes[0]["metadata"]["labels"],
        "dralloc.dev/owner": "dralloc",
    }
    assert node["spec"]["taints"] == [
        {"key": "dralloc.dev/owner", "value": "dralloc", "effect": "NoSchedule"}
    ]
    assert (marked.slices, marked.classes) == (plain.slices, plain.classes)


def test_a_group_that_cannot_be_built_fails_before_anything_is_planned() -> None:
    with pytest.raises(ClusterSpecError, match="mig must be none, static or dynamic"):
        plan_fleet([parse_group("1xdgx-h100:mig=yes")], CATALOG)
    with pytest.raises(ClusterSpecError, match="must be a DNS label"):
        plan_fleet([parse_group("1xl4")], CATALOG, name_prefix="UP-")


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("dralloc.dev/owner=dralloc", ("dralloc.dev/owner", "dralloc")),
        ("zone=", ("zone", "")),
        ("a_b.c=X-1", ("a_b.c", "X-1")),
    ],
)
def test_a_label_is_key_equals_value(text: str, label: tuple[str, str]) -> None:
    assert parse_label(text) == label


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("owner", "expected key=value"),
        ("=x", "the name must be"),
        ("Bad.Prefix/x=y", "the prefix before '/' must be a DNS subdomain"),
        ("/x=y", "the prefix before '/' must be a DNS subdomain"),
        ("k=-v", "a value must be"),
        (f"k={'v' * 64}", "a value must be"),
        (f"{'k' * 64}=v", "the name must be"),
    ],
)
def test_a_bad_label_says_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_label(text)


@pytest.mark.parametrize(
    ("text", "taint"),
    [
        ("gpu=yes:NoSchedule", {"key": "gpu", "value": "yes", "effect": "NoSchedule"}),
        ("gpu:NoExecute", {"key": "gpu", "effect": "NoExecute"}),
        (
            "example.com/gpu=:PreferNoSchedule",
            {"key": "example.com/gpu", "effect": "PreferNoSchedule"},
        ),
    ],
)
def test_a_taint_is_kubectl_taint_syntax(text: str, taint: dict[str, str]) -> None:
    assert parse_taint(text) == taint


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("gpu=yes", "expected key=value:Effect"),
        ("gpu=yes:Never", "the effect must be one of NoSchedule, PreferNoSchedule, NoExecute"),
        (":NoSchedule", "the name must be"),
        ("gpu=a b:NoSchedule", "a value must be"),
    ],
)
def test_a_bad_taint_says_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_taint(text)
