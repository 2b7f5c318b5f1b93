"""Partitionable devices: pool-wide shared counters (spec 6.8, 0.2-1, 0.2-6, quirk 9)."""

from __future__ import annotations

from typing import Any

from yamlkit import (
    DRIVER,
    allocated,
    chosen_devices,
    claim,
    consumes,
    counter_set,
    device,
    device_class,
    picked,
    picks,
    request,
    resource_slice,
    result,
)
from yamlkit import cluster as make_cluster

NO_PARTITIONS = "DRAPartitionableDevices=false"


def part(name: str, set_name: str = "gpu0", **counters: str | int) -> dict[str, Any]:
    """A partition device consuming `counters` from one counter set."""
    return device(name, {"part": name}, consumesCounters=[consumes(set_name, **counters)])


def is_part(*names: str) -> str:
    options = ", ".join(f'"{n}"' for n in names)
    return f'device.attributes["{DRIVER}"].part in [{options}]'


def pool(*devs: dict[str, Any] | str, memory: str | int = "40Gi", **extra: Any) -> list[dict]:
    """A two-slice pool: one slice of devices, one slice with counter set `gpu0`."""
    return [
        resource_slice(devs, name="s-devices", count=2, **extra),
        resource_slice([], name="s-counters", count=2, counters=[counter_set("gpu0", mem=memory)]),
    ]


def test_device_consumes_a_counter_set_published_in_a_separate_slice() -> None:
    cluster = make_cluster(device_class(), *pool(part("p1", mem="10Gi")), claim("c", request()))
    assert chosen_devices(cluster.allocate()) == ["p1"]


def test_partitions_fit_while_their_sum_stays_within_the_counter() -> None:
    parts = [part(f"p{i}", mem="10Gi") for i in range(5)]
    cluster = make_cluster(device_class(), *pool(*parts), claim("c", request(count=4)))
    assert chosen_devices(cluster.allocate()) == ["p0", "p1", "p2", "p3"]


def test_partitions_exceeding_the_counter_together_cannot_be_chosen_together() -> None:
    parts = [part(f"p{i}", mem="10Gi") for i in range(5)]
    cluster = make_cluster(device_class(), *pool(*parts), claim("c", request(count=5)))
    assert cluster.allocate() is None


def test_quantities_are_compared_by_value() -> None:
    parts = [part(f"p{i}", mem="4096Mi") for i in range(5)]
    cluster = make_cluster(
        device_class(), *pool(*parts, memory="18Gi"), claim("c", request(count=4))
    )
    assert len(chosen_devices(cluster.allocate())) == 4
    over = make_cluster(device_class(), *pool(*parts, memory="18Gi"), claim("c", request(count=5)))
    assert over.allocate() is None


def test_whole_device_and_its_partitions_exclude_each_other() -> None:
    cluster = make_cluster(
        device_class(),
        *pool(part("whole", mem="40Gi"), part("half-a", mem="20Gi"), part("half-b", mem="20Gi")),
        claim("c", request("a"), request("b")),
    )
    assert picked(cluster.allocate()) == [("a", "half-a"), ("b", "half-b")]


def test_in_flight_tally_spans_the_claims_of_one_call() -> None:
    cluster = make_cluster(
        device_class(),
        *pool(part("p1", mem="30Gi"), part("p2", mem="30Gi"), part("p3", mem="10Gi")),
        claim("c1", request()),
        claim("c2", request()),
    )
    assert picks(cluster.allocate()) == [[("req", "p1")], [("req", "p3")]]


def test_committed_allocation_reduces_the_available_counters() -> None:
    cluster = make_cluster(
        device_class(),
        *pool(part("p1", mem="30Gi"), part("p2", mem="30Gi"), part("p3", mem="10Gi")),
        allocated("old", result("req", "p1")),
        claim("c", request()),
    )
    assert chosen_devices(cluster.allocate()) == ["p3"]


def test_committed_allocation_from_a_slice_for_another_node_reduces_the_counters() -> None:
    """Spec 6.8: devices of non-targeting slices count too."""
    cluster = make_cluster(
        device_class(),
        resource_slice([part("local", mem="30Gi")], name="s-1", count=3, node="node-1"),
        resource_slice([part("remote", mem="30Gi")], name="s-2", count=3, node="node-2"),
        resource_slice([], name="s-3", count=3, counters=[counter_set("gpu0", mem="40Gi")]),
        allocated("elsewhere", result("req", "remote")),
        claim("c", request()),
    )
    assert cluster.allocate(node="node-1") is None
    free = make_cluster(
        device_class(),
        resource_slice([part("local", mem="30Gi")], name="s-1", count=3, node="node-1"),
        resource_slice([part("remote", mem="30Gi")], name="s-2", count=3, node="node-2"),
        resource_slice([], name="s-3", count=3, counters=[counter_set("gpu0", mem="40Gi")]),
        claim("c", request()),
    )
    assert chosen_devices(free.allocate(node="node-1")) == ["local"]


def test_committed_allocation_from_a_per_device_slice_for_another_node_reduces_the_counters() -> (
    None
):
    cluster = make_cluster(
        device_class(),
        resource_slice(
            [
                device("here", consumesCounters=[consumes("gpu0", mem="30Gi")], nodeName="node-1"),
                device("there", consumesCounters=[consumes("gpu0", mem="30Gi")], nodeName="node-2"),
            ],
            name="s-1",
            count=2,
            per_device=True,
        ),
        resource_slice([], name="s-2", count=2, counters=[counter_set("gpu0", mem="40Gi")]),
        allocated("elsewhere", result("req", "there")),
        claim("c", request()),
    )
    assert cluster.allocate(node="node-1") is None


def test_over_committed_counter_leaves_nothing_for_any_counter_consuming_device() -> None:
    """Spec 6.8: committed usage may exceed a counter (e.g. after the driver shrank it);
    negative means nothing is left, and the check covers every counter of the pool, so even
    a device consuming a different counter set cannot be added."""
    cluster = make_cluster(
        device_class(),
        resource_slice(
            [
                part("a1", "gpu0", mem="30Gi"),
                part("a2", "gpu0", mem="30Gi"),
                part("b1", "gpu1", mem="1Gi"),
                device("plain", {"part": "plain"}),
            ],
            name="s-devices",
            count=2,
        ),
        resource_slice(
            [],
            name="s-counters",
            count=2,
            counters=[counter_set("gpu0", mem="40Gi"), counter_set("gpu1", mem="40Gi")],
        ),
        allocated("old", result("r1", "a1"), result("r2", "a2")),
        claim("c", request("req", "gpu", is_part("b1"))),
    )
    assert cluster.allocate() is None


def test_device_without_consumes_counters_ignores_over_committed_counters() -> None:
    cluster = make_cluster(
        device_class(),
        *pool(part("a1", mem="30Gi"), part("a2", mem="30Gi"), device("plain")),
        allocated("old", result("r1", "a1"), result("r2", "a2")),
        claim("c", request()),
    )
    assert chosen_devices(cluster.allocate()) == ["plain"]


def test_device_consuming_two_counter_sets_needs_room_in_both() -> None:
    both = device(
        "both",
        {"part": "both"},
        consumesCounters=[consumes("gpu0", mem="10Gi"), consumes("gpu1", mem="10Gi")],
    )
    counters = [counter_set("gpu0", mem="40Gi"), counter_set("gpu1", mem="15Gi")]
    cluster = make_cluster(
        device_class(),
        resource_slice([part("big1", "gpu1", mem="10Gi"), both], name="s-d", count=2),
        resource_slice([], name="s-c", count=2, counters=counters),
        claim(
            "c", request("first", "gpu", is_part("big1")), request("second", "gpu", is_part("both"))
        ),
    )
    assert cluster.allocate() is None


def test_device_consuming_several_counters_of_one_set_needs_room_in_each() -> None:
    counters = [counter_set("gpu0", mem="40Gi", cores=4)]
    cluster = make_cluster(
        device_class(),
        resource_slice(
            [
                part("wide", mem="10Gi", cores=3),
                part("deep", mem="30Gi", cores=2),
                part("thin", mem="5Gi", cores=1),
            ],
            name="s-d",
            count=2,
        ),
        resource_slice([], name="s-c", count=2, counters=counters),
        claim("c", request(count=2)),
    )
    assert chosen_devices(cluster.allocate()) == ["wide", "thin"]


def test_backtracking_gives_back_the_counters_of_an_abandoned_device() -> None:
    cluster = make_cluster(
        device_class(),
        *pool(
            part("whole", mem="40Gi"),
            part("needed", mem="20Gi"),
            part("other", mem="20Gi"),
            memory="40Gi",
        ),
        claim("c", request("any"), request("specific", "gpu", is_part("needed"))),
    )
    assert picked(cluster.allocate()) == [("any", "other"), ("specific", "needed")]


def test_undoing_the_first_share_of_a_multi_allocatable_device_gives_back_its_counters() -> None:
    """Quirk 9 avoided (allocator.py docstring): upstream keeps the first share's counters
    charged after undoing it; we give them back, so `any` can move to `other`."""
    shared = device(
        "shared",
        {"part": "shared"},
        allowMultipleAllocations=True,
        consumesCounters=[consumes("gpu0", mem="40Gi")],
    )
    cluster = make_cluster(
        device_class(),
        *pool(shared, part("needed", mem="20Gi"), part("other", mem="20Gi")),
        claim("c", request("any"), request("specific", "gpu", is_part("needed"))),
    )
    assert picked(cluster.allocate()) == [("any", "other"), ("specific", "needed")]


def test_counters_of_a_multi_allocatable_device_are_charged_once_for_all_its_shares() -> None:
    """Our documented behaviour (allocator.py): a shared device's counters are charged while
    it has any share, by its first share only. Spec 6.6 d3 words it as "already has consumed
    capacity"; for a device without capacities we count any share."""
    shared = device(
        "shared", allowMultipleAllocations=True, consumesCounters=[consumes("gpu0", mem="40Gi")]
    )
    cluster = make_cluster(
        device_class(),
        *pool(shared),
        claim("c1", request()),
        claim("c2", request("a"), request("b")),
    )
    assert picks(cluster.allocate()) == [[("req", "shared")], [("a", "shared"), ("b", "shared")]]


def test_committed_share_keeps_a_multi_allocatable_device_charged_but_open_for_more_shares() -> (
    None
):
    share = "00000000-0000-4000-8000-0000000000aa"
    shared = device(
        "shared",
        {"part": "shared"},
        allowMultipleAllocations=True,
        capacity={"bw": 100},
        consumesCounters=[consumes("gpu0", mem="30Gi")],
    )
    docs = [
        device_class(),
        *pool(shared, part("dedicated", mem="20Gi")),
        allocated("old", result("req", "shared", shareID=share, consumedCapacity={"bw": "10"})),
    ]
    gets_share = make_cluster(
        *docs, claim("c", request("req", "gpu", is_part("shared"), capacity={"bw": 10}))
    )
    assert chosen_devices(gets_share.allocate()) == ["shared"]
    no_room = make_cluster(*docs, claim("c", request("req", "gpu", is_part("dedicated"))))
    assert no_room.allocate() is None


def test_partitionable_devices_off_never_allocates_counter_consuming_devices() -> None:
    cluster = make_cluster(device_class(), *pool(part("p1", mem="10Gi")), claim("c", request()))
    assert cluster.allocate(gates=NO_PARTITIONS) is None


def test_partitionable_devices_off_still_allocates_plain_devices_of_the_pool() -> None:
    cluster = make_cluster(
        device_class(),
        *pool(part("p1", mem="10Gi"), device("plain")),
        claim("c", request()),
    )
    assert chosen_devices(cluster.allocate(gates=NO_PARTITIONS)) == ["plain"]


def test_partitionable_devices_off_makes_all_mode_fail_on_a_counter_consuming_device() -> None:
    cluster = make_cluster(
        device_class(),
        *pool(part("p1", mem="10Gi"), device("plain")),
        claim("c", request(mode="All")),
    )
    assert chosen_devices(cluster.allocate()) == ["p1", "plain"]
    assert cluster.allocate(gates=NO_PARTITIONS) is None


def test_counter_sets_are_per_pool() -> None:
    """Pool b has its own set named gpu0; pool a's usage does not reduce it."""
    cluster = make_cluster(
        device_class(),
        resource_slice([part("a1", mem="40Gi")], name="a-d", pool="a", count=2),
        resource_slice([], name="a-c", pool="a", count=2, counters=[counter_set("gpu0", mem=40)]),
        resource_slice([part("b1", mem="40")], name="b-d", pool="b", count=2),
        resource_slice([], name="b-c", pool="b", count=2, counters=[counter_set("gpu0", mem=40)]),
        allocated("old", result("req", "a1", pool="a")),
        claim("c", request()),
    )
    assert chosen_devices(cluster.allocate()) == ["b1"]
