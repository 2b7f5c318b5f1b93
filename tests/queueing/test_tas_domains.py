"""Kueue's TAS domain search (`dralloc.queueing.tas`), behaviours re-derived from Kueue
v0.17's tas_cache_test.go and KEP-2724: required vs preferred vs unconstrained, BestFit and
LeastFreeCapacity, slices, capacity from nodes and non-TAS pods, exclusion messages."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dralloc.api.core import (
    Node,
    NodeSelector,
    NodeSelectorRequirement,
    NodeSelectorTerm,
    NodeSpec,
    Pod,
    Taint,
    Toleration,
)
from dralloc.api.io import decode_object
from dralloc.api.meta import ObjectMeta
from dralloc.api.quantity import Quantity
from dralloc.queueing import ResourceFlavor
from dralloc.queueing.objects import ResourceFlavorSpec
from dralloc.queueing.tas import TASFlavorSnapshot, TASPodSetRequest
from dralloc.queueing.topology import (
    HOSTNAME_LABEL,
    DomainAssignment,
    Topology,
    TopologyLevel,
    TopologyRequest,
    TopologySpec,
)

BLOCK = "cloud.provider.com/topology-block"
RACK = "cloud.provider.com/topology-rack"
THREE = (BLOCK, RACK, HOSTNAME_LABEL)


def topology(*levels: str) -> Topology:
    return Topology(
        metadata=ObjectMeta(name="default"),
        spec=TopologySpec(levels=[TopologyLevel(level) for level in levels]),
    )


def node(
    block: str,
    rack: str,
    host: str,
    cpu: int,
    *,
    pods: int = 110,
    taints: Sequence[Taint] = (),
    unschedulable: bool = False,
    **extra: str,
) -> Node:
    labels = {BLOCK: block, RACK: rack, HOSTNAME_LABEL: host, **extra}
    out = Node(metadata=ObjectMeta(name=host, labels=labels))
    out.spec = NodeSpec(unschedulable=unschedulable, taints=list(taints))
    out.status.allocatable = {"cpu": Quantity.parse(str(cpu)), "pods": Quantity.parse(str(pods))}
    return out


def bound_pod(host: str, cpu: str, *, phase: str = "Running", tas: bool = False) -> Pod:
    loaded, problems = decode_object(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"p-{host}-{cpu}", "namespace": "default"},
            "spec": {
                "nodeName": host,
                "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}],
            },
            "status": {"phase": phase},
        },
        "pods.yaml",
        0,
    )
    assert loaded is not None and not problems
    pod = loaded.obj
    assert isinstance(pod, Pod)
    if tas:
        pod.metadata.annotations["kueue.x-k8s.io/podset-unconstrained-topology"] = "true"
    return pod


def snap(
    nodes: Sequence[Node],
    pods: Sequence[Pod] = (),
    levels: Sequence[str] = THREE,
    flavor: ResourceFlavor | None = None,
) -> TASFlavorSnapshot:
    return TASFlavorSnapshot.build(
        "default", topology(*levels), flavor or ResourceFlavor(), nodes, pods
    )


def place(
    s: TASFlavorSnapshot, count: int, request: TopologyRequest | None, cpu: int = 1000, **kw: object
) -> list[tuple[tuple[str, ...], int]] | str:
    result = s.find_assignment(TASPodSetRequest("main", count, {"cpu": cpu}, request, **kw))  # type: ignore[arg-type]
    if result.failure is not None:
        return result.failure
    return [(d.values, d.count) for d in result.domains]


# Two blocks; b1 has racks r1 (x1: 1, x2: 1) and r2 (x3: 2); b2 has r3 (x4: 3, x5: 3).
def two_blocks() -> list[Node]:
    return [
        node("b1", "r1", "x1", 1),
        node("b1", "r1", "x2", 1),
        node("b1", "r2", "x3", 2),
        node("b2", "r3", "x4", 3),
        node("b2", "r3", "x5", 3),
    ]


def test_host_required_takes_the_tightest_host_that_holds_every_pod() -> None:
    assert place(snap(two_blocks()), 2, TopologyRequest(required=HOSTNAME_LABEL)) == [(("x3",), 2)]


def test_rack_required_fails_with_kueues_message_when_no_rack_holds_the_pods() -> None:
    assert place(snap(two_blocks()), 7, TopologyRequest(required=RACK)) == (
        'topology "default" allows to fit only 6 out of 7 pod(s)'
    )


def test_block_required_spreads_over_racks_of_one_block_and_picks_the_tighter_block() -> None:
    # b1 holds 4, b2 holds 6: 4 pods go to b1 (tightest fit), over both of its racks.
    assert place(snap(two_blocks()), 4, TopologyRequest(required=BLOCK)) == [
        (("x1",), 1),
        (("x2",), 1),
        (("x3",), 2),
    ]


def test_rack_preferred_moves_up_to_the_block_when_no_rack_fits() -> None:
    # No rack holds 5 pods; block b2 (6) does: the pods stay within one block.
    assert place(snap(two_blocks()), 5, TopologyRequest(preferred=RACK)) == [
        (("x4",), 3),
        (("x5",), 2),
    ]


def test_block_preferred_spans_blocks_when_no_block_holds_the_pods() -> None:
    # 8 pods: b2 gives 6 and b1 the 2 left. Below the chosen level Kueue sorts the chosen
    # blocks' racks together (r3: 6, then r1 and r2 with 2 each: r1 by name), then their hosts.
    assert place(snap(two_blocks()), 8, TopologyRequest(preferred=BLOCK)) == [
        (("x1",), 1),
        (("x2",), 1),
        (("x4",), 3),
        (("x5",), 3),
    ]


def test_preferred_fails_only_when_the_whole_topology_is_too_small() -> None:
    assert place(snap(two_blocks()), 11, TopologyRequest(preferred=BLOCK)) == (
        'topology "default" allows to fit only 10 out of 11 pod(s)'
    )


def kep_hosts() -> list[Node]:
    # KEP-2724's example: hosts with free capacity 3, 3, 2 and 1.
    return [
        node("b", "r", "h1", 3),
        node("b", "r", "h2", 3),
        node("b", "r", "h3", 2),
        node("b", "r", "h4", 1),
    ]


def test_kep_example_best_fit_places_3_3_and_1_on_the_host_with_exactly_1() -> None:
    assert place(snap(kep_hosts()), 7, TopologyRequest(preferred=HOSTNAME_LABEL)) == [
        (("h1",), 3),
        (("h2",), 3),
        (("h4",), 1),
    ]


def test_kep_example_least_free_capacity_fills_the_smallest_hosts_first() -> None:
    assert place(snap(kep_hosts()), 7, TopologyRequest(unconstrained=True)) == [
        (("h1",), 3),
        (("h2",), 1),
        (("h3",), 2),
        (("h4",), 1),
    ]


def test_implied_tas_is_unconstrained_and_uses_the_smallest_host_that_fits() -> None:
    # LeastFreeCapacity: the first host (fewest slots) holding all pods, not the largest.
    assert place(snap(kep_hosts()), 2, None, implied=True) == [(("h3",), 2)]


def test_no_topology_level_for_a_pod_set_without_a_request() -> None:
    assert place(snap(kep_hosts()), 1, None) == "topology level not specified"


def test_unknown_level_is_refused_with_kueues_message() -> None:
    assert place(snap(kep_hosts()), 1, TopologyRequest(required="zone")) == (
        "no requested topology level: zone"
    )


def test_non_tas_pods_take_capacity_but_terminal_and_tas_pods_do_not() -> None:
    nodes = [node("b", "r", "x1", 2)]
    pods = [
        bound_pod("x1", "1"),
        bound_pod("x1", "500m", phase="Succeeded"),
        bound_pod("x1", "1", tas=True),
    ]
    assert place(snap(nodes, pods), 2, TopologyRequest(required=RACK)) == (
        'topology "default" allows to fit only 1 out of 2 pod(s)'
    )


def test_unschedulable_unlabelled_and_other_flavors_nodes_are_not_in_the_topology() -> None:
    nodes = [
        node("b", "r", "x1", 8, unschedulable=True),
        node("b", "r", "x2", 8, pool="other"),
        node("b", "r", "x3", 1, pool="tas"),
    ]
    del nodes[0].metadata.labels[RACK]
    nodes[0].spec.unschedulable = False
    flavor = ResourceFlavor(spec=ResourceFlavorSpec(node_labels={"pool": "tas"}))
    s = snap(nodes, flavor=flavor)
    assert list(s.leaves) == [("b", "r", "x3")]
    assert place(s, 1, TopologyRequest(required=HOSTNAME_LABEL)) == [(("x3",), 1)]


def test_pods_allocatable_limits_the_count() -> None:
    assert place(snap([node("b", "r", "x1", 8, pods=2)]), 3, TopologyRequest(required=RACK)) == (
        'topology "default" allows to fit only 2 out of 3 pod(s)'
    )


def test_failure_message_lists_excluded_nodes_by_taint_selector_and_resource() -> None:
    taint = Taint(key="gpu", value="true", effect="NoSchedule")
    nodes = [
        node("b", "r", "x1", 4, taints=[taint]),
        node("b", "r", "x2", 4, zone="a"),
        node("b", "r", "x3", 0, zone="b"),
        node("b", "r", "x4", 1, zone="b"),
    ]
    got = place(snap(nodes), 2, TopologyRequest(required=RACK), node_selector={"zone": "b"})
    assert got == (
        'topology "default" allows to fit only 1 out of 2 pod(s). Total nodes: 4; excluded: '
        'nodeSelector: 1, resource "cpu": 1, taint "gpu=true:NoSchedule": 1'
    )
    ok = place(
        snap(nodes),
        2,
        TopologyRequest(required=RACK),
        tolerations=[Toleration(key="gpu", operator="Exists")],
    )
    assert ok == [(("x1",), 2)]


def test_flavor_tolerations_count_for_the_taint_check() -> None:
    taint = Taint(key="tpu", effect="NoSchedule")
    flavor = ResourceFlavor(
        spec=ResourceFlavorSpec(tolerations=[Toleration(key="tpu", operator="Exists")])
    )
    s = snap([node("b", "r", "x1", 4, taints=[taint])], flavor=flavor)
    assert place(s, 1, TopologyRequest(required=HOSTNAME_LABEL)) == [(("x1",), 1)]


def test_tas_usage_of_admitted_workloads_is_subtracted_and_returned() -> None:
    s = snap(kep_hosts())
    s.add_usage([DomainAssignment(("h1",), 3)], {"cpu": 1000})
    assert place(s, 3, TopologyRequest(required=HOSTNAME_LABEL)) == [(("h2",), 3)]
    s.add_usage([DomainAssignment(("h2",), 3)], {"cpu": 1000})
    failed = place(s, 3, TopologyRequest(required=HOSTNAME_LABEL))
    # Hosts left with no room count as excluded by the resource that ran out.
    assert failed == (
        'topology "default" allows to fit only 2 out of 3 pod(s). '
        'Total nodes: 4; excluded: resource "cpu": 2'
    )
    # Kueue's fragmentation check: as if every TAS Workload were gone.
    result = s.find_assignment(
        TASPodSetRequest("main", 3, {"cpu": 1000}, TopologyRequest(required=HOSTNAME_LABEL)),
        simulate_empty=True,
    )
    assert [(d.values, d.count) for d in result.domains] == [(("h1",), 3)]
    s.remove_usage([DomainAssignment(("h1",), 3)], {"cpu": 1000})
    assert place(s, 3, TopologyRequest(required=HOSTNAME_LABEL)) == [(("h1",), 3)]


def test_without_hostname_level_the_assignment_names_every_level() -> None:
    s = snap(two_blocks(), levels=(BLOCK, RACK))
    result = s.find_assignment(
        TASPodSetRequest("main", 4, {"cpu": 1000}, TopologyRequest(required=RACK))
    )
    assert result.levels == (BLOCK, RACK)
    assert [(d.values, d.count) for d in result.domains] == [(("b2", "r3"), 4)]


# ------------------------------------------------------------------------------- slices


def sliced(required: str | None, slice_level: str, size: int) -> TopologyRequest:
    return TopologyRequest(required=required, slice_required_topology=slice_level, slice_size=size)


def test_slices_of_two_pods_each_land_on_one_host() -> None:
    # b1: x1 (1), x2 (1), x3 (2) holds one 2-pod slice; b2 holds two (3 // 2 each host).
    s = snap(two_blocks())
    assert place(s, 4, sliced(BLOCK, HOSTNAME_LABEL, 2)) == [(("x4",), 2), (("x5",), 2)]
    assert place(s, 6, sliced(BLOCK, HOSTNAME_LABEL, 2)) == (
        'topology "default" allows to fit only 2 out of 3 slice(s)'
    )


def test_slice_only_request_spreads_slices_over_the_whole_topology() -> None:
    s = snap(two_blocks())
    got = place(s, 6, TopologyRequest(slice_required_topology=HOSTNAME_LABEL, slice_size=2))
    assert got == [(("x3",), 2), (("x4",), 2), (("x5",), 2)]


def test_slice_level_above_the_pod_set_level_and_missing_size_are_refused() -> None:
    s = snap(two_blocks())
    assert place(s, 2, sliced(HOSTNAME_LABEL, RACK, 2)) == (
        f"podset slice topology {RACK} is above the podset topology {HOSTNAME_LABEL}"
    )
    missing = TopologyRequest(required=BLOCK, slice_required_topology=RACK)
    assert place(s, 2, missing) == "slice topology requested, but slice size not provided"
    assert place(s, 2, sliced(BLOCK, "zone", 2)) == "no requested topology level for slices: zone"


# ---------------------------------------------------------------------------- properties


@st.composite
def clusters(draw: st.DrawFn) -> tuple[list[Node], int, TopologyRequest]:
    nodes: list[Node] = []
    for b in range(draw(st.integers(1, 3))):
        for r in range(draw(st.integers(1, 3))):
            for h in range(draw(st.integers(1, 3))):
                nodes.append(node(f"b{b}", f"r{b}{r}", f"x{b}{r}{h}", draw(st.integers(0, 5))))
    count = draw(st.integers(1, 20))
    level = draw(st.sampled_from(THREE))
    kind = draw(st.sampled_from(["required", "preferred", "unconstrained", "slices"]))
    if kind == "required":
        request = TopologyRequest(required=level)
    elif kind == "preferred":
        request = TopologyRequest(preferred=level)
    elif kind == "unconstrained":
        request = TopologyRequest(unconstrained=True)
    else:
        size = draw(st.sampled_from([d for d in range(1, count + 1) if count % d == 0]))
        slice_level = draw(st.sampled_from(THREE[THREE.index(level) :]))
        request = TopologyRequest(
            required=level, slice_required_topology=slice_level, slice_size=size
        )
    return nodes, count, request


@settings(max_examples=300, deadline=None)
@given(clusters())
def test_no_host_over_capacity_counts_add_up_and_required_stays_in_one_domain(
    case: tuple[list[Node], int, TopologyRequest],
) -> None:
    nodes, count, request = case
    s = snap(nodes)
    result = s.find_assignment(TASPodSetRequest("main", count, {"cpu": 1000}, request))
    capacity = {n.metadata.name: n.status.allocatable["cpu"].ceil_int() for n in nodes}
    if result.failure is not None:
        # A failure is never a false negative when a single host or the whole cluster fits.
        if request.unconstrained or request.preferred:
            assert sum(capacity.values()) < count
        return
    assert sum(d.count for d in result.domains) == count
    by_host = {n.metadata.name: n for n in nodes}
    for d in result.domains:
        assert 0 < d.count <= capacity[d.values[0]]
    if request.required is not None:
        depth = THREE.index(request.required)
        groups = {
            tuple(by_host[d.values[0]].metadata.labels[k] for k in THREE[: depth + 1])
            for d in result.domains
        }
        assert len(groups) == 1
    if request.slice_required_topology is not None and request.slice_size:
        depth = THREE.index(request.slice_required_topology)
        per_domain: dict[tuple[str, ...], int] = {}
        for d in result.domains:
            key = tuple(by_host[d.values[0]].metadata.labels[k] for k in THREE[: depth + 1])
            per_domain[key] = per_domain.get(key, 0) + d.count
        assert all(v % request.slice_size == 0 for v in per_domain.values())


@pytest.mark.parametrize("count", [1, 5, 9, 10])
def test_a_placement_found_is_charged_and_never_overcommits_a_host(count: int) -> None:
    s = snap(two_blocks())
    request = TASPodSetRequest("main", 1, {"cpu": 1000}, TopologyRequest(unconstrained=True))
    placed = 0
    while placed < count:
        result = s.find_assignment(request)
        if result.failure is not None:
            break
        s.add_usage(result.domains, {"cpu": 1000})
        placed += 1
    assert placed == min(count, 10)
    assert all(v >= 0 for free in s.free_capacity().values() for v in free.values())


def test_required_node_affinity_excludes_hosts_and_is_counted_in_the_message() -> None:
    affinity = NodeSelector(
        node_selector_terms=[
            NodeSelectorTerm(
                match_expressions=[NodeSelectorRequirement(key="zone", operator="In", values=["b"])]
            )
        ]
    )
    nodes = [node("b", "r", "x1", 4, zone="a"), node("b", "r", "x2", 1, zone="b")]
    assert place(snap(nodes), 1, TopologyRequest(required=RACK), required_affinity=affinity) == [
        (("x2",), 1)
    ]
    assert place(snap(nodes), 2, TopologyRequest(required=RACK), required_affinity=affinity) == (
        'topology "default" allows to fit only 1 out of 2 pod(s). Total nodes: 2; excluded: '
        "affinity: 1"
    )


def test_slices_prefer_more_free_slice_capacity_then_the_tightest_host() -> None:
    # One rack of hosts with 6, 5, 4 and 2 slots; 12 pods in slices of 2 on a host: the
    # 5-slot host would waste one, so Kueue takes 6 + 4 + 2.
    hosts = [node("b1", "r1", h, cpu) for h, cpu in (("x3", 6), ("x5", 5), ("x1", 4), ("x6", 2))]
    assert place(snap(hosts), 12, sliced(BLOCK, HOSTNAME_LABEL, 2)) == [
        (("x1",), 4),
        (("x3",), 6),
        (("x6",), 2),
    ]


def test_preferred_block_with_host_slices_spans_unbalanced_blocks() -> None:
    hosts = [
        node("b1", "r1", "x3", 3),
        node("b1", "r1", "x5", 3),
        node("b1", "r1", "x1", 3),
        node("b2", "r1", "x6", 6),
    ]
    request = TopologyRequest(preferred=BLOCK, slice_required_topology=HOSTNAME_LABEL, slice_size=3)
    assert place(snap(hosts), 12, request) == [(("x1",), 3), (("x3",), 3), (("x6",), 6)]


def test_rack_slices_inside_one_block_are_listed_in_level_order() -> None:
    hosts = [
        node("b1", "r1", "x3", 1),
        node("b1", "r1", "x5", 1),
        node("b1", "r2", "x1", 1),
        node("b1", "r2", "x6", 1),
        node("b1", "r2", "x2", 1),
        node("b2", "r1", "x4", 1),
        node("b2", "r1", "x7", 1),
    ]
    # Sorted by block, rack, host (Kueue's buildAssignment), not by host name alone.
    assert place(snap(hosts), 4, sliced(BLOCK, RACK, 2)) == [
        (("x3",), 1),
        (("x5",), 1),
        (("x1",), 1),
        (("x2",), 1),
    ]


def test_each_running_non_tas_pod_takes_one_pods_slot() -> None:
    host = node("b", "r", "x3", 0, pods=10)
    pods = [bound_pod("x3", "0"), bound_pod("x3", "0")]
    pods[1].metadata.name = "second"
    assert place(snap([host], pods), 9, TopologyRequest(required=HOSTNAME_LABEL), cpu=0) == (
        'topology "default" allows to fit only 8 out of 9 pod(s)'
    )
