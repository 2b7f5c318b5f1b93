"""PodTopologySpread: hard constraints filter by skew, soft ones score (spec 4.8)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from podkit import (
    HOSTNAME,
    ZONE,
    filter_all,
    labelled_node,
    labelled_pod,
    score_all,
    selector,
    spread,
)

from dralloc.api.core import Taint
from dralloc.api.meta import LabelSelector, ObjectMeta, OwnerReference
from dralloc.errors import InputError
from dralloc.scheduler.framework import SUCCESS, Code, CycleState, NodeInfo, PodInfo, Status
from dralloc.scheduler.plugins import in_tree_registry
from dralloc.scheduler.plugins.podtopologyspread import (
    REASON_CONSTRAINTS_NOT_MATCH,
    REASON_NODE_LABEL_NOT_MATCH,
    PodTopologySpread,
    PodTopologySpreadArgs,
    WorkloadSelectors,
)

SKEWED = Status.unschedulable(REASON_CONSTRAINTS_NOT_MATCH)
NO_LABEL = Status.unresolvable(REASON_NODE_LABEL_NOT_MATCH)
FOO = {"foo": ""}


def foo(name: str, **extra: object) -> PodInfo:
    return labelled_pod(name, FOO, **extra)  # type: ignore[arg-type]


def cluster(
    counts: dict[str, int], *, zones: dict[str, str] | None = None, **node_args: object
) -> list[NodeInfo]:
    """Nodes a, b in zone1 and x, y in zone2 (or `zones`), each holding `counts[name]`
    pods labelled foo."""
    zones = zones or {"a": "zone1", "b": "zone1", "x": "zone2", "y": "zone2"}
    return [
        labelled_node(
            name,
            {ZONE: zone},
            pods=[foo(f"{name}-{i}") for i in range(counts.get(name, 0))],
            **node_args,  # type: ignore[arg-type]
        )
        for name, zone in zones.items()
    ]


ZONE_SKEW_1 = spread(1, ZONE, labels=selector(foo=""))


@pytest.mark.parametrize(
    ("counts", "constraints", "expected"),
    [
        pytest.param({}, [ZONE_SKEW_1], dict.fromkeys("abxy", SUCCESS), id="empty-cluster"),
        pytest.param(
            {"a": 1, "b": 1, "x": 1},
            [ZONE_SKEW_1],
            {"a": SKEWED, "b": SKEWED, "x": SUCCESS, "y": SUCCESS},
            id="zone1-is-ahead",
        ),
        pytest.param(
            {"a": 1, "x": 1},
            [ZONE_SKEW_1],
            dict.fromkeys("abxy", SUCCESS),
            id="balanced",
        ),
        pytest.param(
            {"a": 2, "x": 1},
            [ZONE_SKEW_1, spread(1, HOSTNAME, labels=selector(foo=""))],
            {"a": SKEWED, "b": SKEWED, "x": SKEWED, "y": SUCCESS},
            id="zone-and-hostname-both-hold",
        ),
        pytest.param(
            {"a": 1, "x": 1},
            [spread(1, ZONE, labels=selector(foo=""), min_domains=3)],
            dict.fromkeys("abxy", SKEWED),
            id="fewer-domains-than-min-domains-means-global-min-zero",
        ),
        pytest.param(
            {"a": 3},
            [spread(1, ZONE, labels=selector(bar=""))],
            dict.fromkeys("abxy", SUCCESS),
            id="selector-matches-nothing",
        ),
        pytest.param(
            {"a": 1},
            [spread(1, ZONE, labels=selector(foo=""), when="ScheduleAnyway")],
            dict.fromkeys("abxy", SUCCESS),
            id="soft-constraints-do-not-filter",
        ),
    ],
)
def test_filter_admits_nodes_whose_domain_stays_within_max_skew(
    counts: dict[str, int], constraints: list[object], expected: dict[str, Status]
) -> None:
    nodes = cluster(counts)
    pod = labelled_pod("p", FOO, spread_constraints=constraints)  # type: ignore[arg-type]
    _, statuses = filter_all(PodTopologySpread(), pod, nodes)
    assert statuses == expected


def test_a_pod_without_hard_constraints_skips_pre_filter() -> None:
    soft = spread(1, ZONE, labels=selector(foo=""), when="ScheduleAnyway")
    for pod in (labelled_pod("p"), labelled_pod("q", spread_constraints=[soft])):
        pre, _ = filter_all(PodTopologySpread(), pod, cluster({}))
        assert pre.code == Code.SKIP


def test_a_node_without_the_topology_key_is_unresolvable() -> None:
    nodes = [*cluster({}), labelled_node("bare")]
    pod = labelled_pod("p", FOO, spread_constraints=[ZONE_SKEW_1])
    _, statuses = filter_all(PodTopologySpread(), pod, nodes)
    assert statuses["bare"] == NO_LABEL
    assert statuses["a"] == SUCCESS


def test_only_live_pods_in_the_pods_namespace_count() -> None:
    nodes = cluster({})
    nodes[0].add_pod(labelled_pod("other-ns", FOO, namespace="else"))
    nodes[0].add_pod(labelled_pod("leaving", FOO, deleting=True))
    pod = labelled_pod("p", FOO, spread_constraints=[ZONE_SKEW_1])
    _, statuses = filter_all(PodTopologySpread(), pod, nodes)
    assert set(statuses.values()) == {SUCCESS}


def test_a_pod_its_selector_does_not_match_adds_no_skew_of_its_own() -> None:
    nodes = cluster({"a": 1})
    pod = labelled_pod("p", {"other": ""}, spread_constraints=[ZONE_SKEW_1])
    _, statuses = filter_all(PodTopologySpread(), pod, nodes)
    assert statuses["a"] == SUCCESS  # 1 + 0 - 0 <= 1


def test_node_affinity_policy_decides_whether_excluded_nodes_are_domains() -> None:
    # zone2's only node lacks the pool label the pod selects: with Honor it is no domain.
    zones = {"a": "zone1", "b": "zone1", "y": "zone2"}
    nodes = [
        labelled_node(name, {ZONE: zone, **({"pool": "gpu"} if name != "y" else {})})
        for name, zone in zones.items()
    ]
    nodes[0].add_pod(foo("a-0"))
    for policy, expected in (("Honor", SUCCESS), ("Ignore", SKEWED)):
        constraint = spread(1, ZONE, labels=selector(foo=""), affinity_policy=policy)
        pod = labelled_pod("p", FOO, spread_constraints=[constraint], node_selector={"pool": "gpu"})
        _, statuses = filter_all(PodTopologySpread(), pod, nodes)
        assert statuses["b"] == expected, policy


def test_node_taints_policy_honor_drops_nodes_with_untolerated_taints() -> None:
    zones = {"a": "zone1", "y": "zone2"}
    taint = Taint(key="dedicated", value="x", effect="NoSchedule")
    nodes = [
        labelled_node("a", {ZONE: zones["a"]}, pods=[foo("a-0")]),
        labelled_node("y", {ZONE: zones["y"]}, taints=[taint]),
    ]
    for policy, expected in (("Honor", SUCCESS), ("Ignore", SKEWED)):
        constraint = spread(1, ZONE, labels=selector(foo=""), taints_policy=policy)
        pod = labelled_pod("p", FOO, spread_constraints=[constraint])
        _, statuses = filter_all(PodTopologySpread(), pod, nodes)
        assert statuses["a"] == expected, policy


def test_match_label_keys_narrow_the_selector_to_the_pods_own_values() -> None:
    nodes = cluster({})
    for i in range(2):
        nodes[0].add_pod(labelled_pod(f"old-{i}", {"foo": "", "rev": "1"}))
    constraint = spread(1, ZONE, labels=selector(foo=""), match_label_keys=["rev"])
    new = labelled_pod("p", {"foo": "", "rev": "2"}, spread_constraints=[constraint])
    _, statuses = filter_all(PodTopologySpread(), new, nodes)
    assert set(statuses.values()) == {SUCCESS}  # revision 1's pods do not count
    same = labelled_pod("q", {"foo": "", "rev": "1"}, spread_constraints=[constraint])
    _, statuses = filter_all(PodTopologySpread(), same, nodes)
    assert statuses["a"] == SKEWED


def test_preemption_extensions_move_the_counts_and_a_clone_keeps_them_apart() -> None:
    nodes = cluster({"a": 2})
    pod = labelled_pod("p", FOO, spread_constraints=[ZONE_SKEW_1])
    plugin = PodTopologySpread()
    state = CycleState()
    plugin.pre_filter(state, pod, nodes)
    assert plugin.filter(state, pod, nodes[0]) == SKEWED
    victim = nodes[0].pods[0]
    what_if = state.clone()
    plugin.remove_pod(what_if, pod, victim, nodes[0])
    plugin.remove_pod(what_if, pod, nodes[0].pods[1], nodes[0])
    assert plugin.filter(what_if, pod, nodes[0]) == SUCCESS
    assert plugin.filter(state, pod, nodes[0]) == SKEWED
    plugin.add_pod(what_if, pod, victim, nodes[0])
    assert plugin.filter(what_if, pod, nodes[0]) == SKEWED  # 1 + 1 - 0 > 1


# ------------------------------------------------------------------------------ scoring

SOFT_HOST = spread(1, HOSTNAME, labels=selector(foo=""), when="ScheduleAnyway")


def test_score_counts_matching_pods_per_domain_and_normalizes_fewest_to_100() -> None:
    # Hostname: raw = round(count * ln(3 + 2)); a: 2 -> 3, b: 1 -> 2, c: 0 -> 0.
    nodes = [
        labelled_node(n, pods=[foo(f"{n}-{i}") for i in range(c)])
        for n, c in (("a", 2), ("b", 1), ("c", 0))
    ]
    pod = labelled_pod("p", FOO, spread_constraints=[SOFT_HOST])
    _, scores = score_all(PodTopologySpread(), pod, nodes)
    assert scores == {"a": 0, "b": 33, "c": 100}


def test_zone_counts_cover_every_node_but_domains_come_from_feasible_ones() -> None:
    nodes = cluster({"a": 1, "b": 2, "y": 1})
    soft_zone = spread(1, ZONE, labels=selector(foo=""), when="ScheduleAnyway")
    pod = labelled_pod("p", FOO, spread_constraints=[soft_zone])
    feasible = [nodes[0], nodes[2]]  # a (zone1: 3 pods), x (zone2: 1 pod)
    plugin = PodTopologySpread(nodes=lambda: nodes)
    _, scores = score_all(plugin, pod, feasible)
    # weight ln(2 + 2); raw a = round(3 * 1.386) = 4, x = round(1.386) = 1.
    assert scores == {"a": 100 * (4 + 1 - 4) // 4, "x": 100 * (4 + 1 - 1) // 4}


def test_feasible_nodes_missing_a_key_score_zero() -> None:
    nodes = [*cluster({"a": 1}), labelled_node("bare")]
    soft_zone = spread(2, ZONE, labels=selector(foo=""), when="ScheduleAnyway")
    pod = labelled_pod("p", FOO, spread_constraints=[soft_zone])
    _, scores = score_all(PodTopologySpread(), pod, nodes)
    assert scores["bare"] == 0
    assert scores["x"] == 100


def test_a_pod_without_soft_constraints_or_known_owners_skips_pre_score() -> None:
    for pod in (labelled_pod("p", FOO), labelled_pod("q", FOO, spread_constraints=[ZONE_SKEW_1])):
        status, _ = score_all(PodTopologySpread(), pod, cluster({}))
        assert status.code == Code.SKIP


def _owned(name: str) -> PodInfo:
    info = labelled_pod(name, {"app": "web"})
    owner = OwnerReference(api_version="apps/v1", kind="ReplicaSet", name="web", controller=True)
    meta = ObjectMeta(
        name=name, namespace="default", labels={"app": "web"}, owner_references=[owner]
    )
    return PodInfo.of(type(info.pod)(metadata=meta, spec=info.pod.spec))


def test_system_defaults_spread_a_replica_set_pod_by_its_selector() -> None:
    owners = WorkloadSelectors(
        {("default", "ReplicaSet", "web"): LabelSelector(match_labels={"app": "web"})}
    )
    nodes = [
        labelled_node("a", {ZONE: "z1"}, pods=[_owned("w0"), _owned("w1")]),
        labelled_node("b", {ZONE: "z2"}),
        labelled_node("c"),  # no zone: System defaults still score it by hostname
    ]
    plugin = PodTopologySpread(owners=owners, nodes=lambda: nodes)
    status, scores = score_all(plugin, _owned("new"), nodes)
    assert status.is_success
    assert scores["a"] < scores["b"]
    assert scores["c"] > 0
    # An unknown owner (or none): no defaults.
    status, _ = score_all(plugin, labelled_pod("p", {"app": "web"}), nodes)
    assert status.code == Code.SKIP
    # Default constraints are ScheduleAnyway: nothing to filter.
    pre, _ = filter_all(plugin, _owned("new"), nodes)
    assert pre.code == Code.SKIP


def test_list_defaulting_uses_the_configured_constraints() -> None:
    args = PodTopologySpreadArgs.from_dict(
        {
            "defaultingType": "List",
            "defaultConstraints": [
                {"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule"}
            ],
        }
    )
    owners = WorkloadSelectors(
        {("default", "ReplicaSet", "web"): LabelSelector(match_labels={"app": "web"})}
    )
    nodes = [
        labelled_node("a", {ZONE: "z1"}, pods=[_owned("w0")]),
        labelled_node("b", {ZONE: "z2"}),
    ]
    _, statuses = filter_all(PodTopologySpread(args, owners=owners), _owned("new"), nodes)
    assert statuses == {"a": SKEWED, "b": SUCCESS}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            {
                "defaultConstraints": [
                    {"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule"}
                ]
            },
            'P.defaultingType: must be "List" when .defaultConstraints are not empty, got "System"',
        ),
        (
            {"defaultingType": "Sometimes"},
            'P.defaultingType: must be one of System, List, got "Sometimes"',
        ),
        (
            {
                "defaultingType": "List",
                "defaultConstraints": [
                    {"maxSkew": 0, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule"}
                ],
            },
            "P.defaultConstraints[0].maxSkew: must be greater than zero, got 0",
        ),
        (
            {
                "defaultingType": "List",
                "defaultConstraints": [
                    {"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "Never"}
                ],
            },
            "P.defaultConstraints[0].whenUnsatisfiable: must be one of DoNotSchedule, "
            'ScheduleAnyway, got "Never"',
        ),
        ({"defaultConstraint": []}, "P.defaultConstraint: unknown field"),
    ],
)
def test_bad_args_name_the_field(args: dict[str, object], message: str) -> None:
    with pytest.raises(InputError) as caught:
        in_tree_registry()["PodTopologySpread"](args, path="P")
    assert str(caught.value) == message


# --------------------------------------------------------------------------- properties

ZONES = ["z1", "z2", "z3"]


@settings(deadline=None)  # wall-clock limits flake on a shared machine
@given(
    st.lists(
        st.tuples(st.sampled_from(ZONES), st.integers(min_value=0, max_value=4)),
        min_size=1,
        max_size=6,
    ),
    st.integers(min_value=1, max_value=3),
)
def test_filter_never_admits_a_placement_that_breaks_max_skew(
    layout: list[tuple[str, int]], max_skew: int
) -> None:
    nodes = [
        labelled_node(f"n{i}", {ZONE: zone}, pods=[foo(f"n{i}-{j}") for j in range(count)])
        for i, (zone, count) in enumerate(layout)
    ]
    constraint = spread(max_skew, ZONE, labels=selector(foo=""))
    pod = labelled_pod("p", FOO, spread_constraints=[constraint])
    _, statuses = filter_all(PodTopologySpread(), pod, nodes)
    per_zone: dict[str, int] = {}
    for zone, count in layout:
        per_zone[zone] = per_zone.get(zone, 0) + count
    for node, (zone, _) in zip(nodes, layout, strict=True):
        after = dict(per_zone)
        after[zone] += 1
        admitted = statuses[node.name] == SUCCESS
        # Admitted exactly when the new count stays within maxSkew of the old minimum...
        assert admitted == (per_zone[zone] + 1 - min(per_zone.values()) <= max_skew)
        # ...so an admitted placement leaves its domain within maxSkew of the new minimum.
        if admitted:
            assert after[zone] - min(after.values()) <= max_skew


@settings(deadline=None)  # wall-clock limits flake on a shared machine
@given(st.lists(st.integers(min_value=0, max_value=3), min_size=2, max_size=5), st.data())
def test_removing_then_adding_a_pod_in_a_what_if_restores_every_verdict(
    counts: list[int], data: st.DataObject
) -> None:
    nodes = [
        labelled_node(f"n{i}", {ZONE: f"z{i % 2}"}, pods=[foo(f"n{i}-{j}") for j in range(c)])
        for i, c in enumerate(counts)
    ]
    occupied = [node for node in nodes if node.pods]
    if not occupied:
        return
    node = data.draw(st.sampled_from(occupied))
    pod = labelled_pod("p", FOO, spread_constraints=[ZONE_SKEW_1])
    plugin = PodTopologySpread()
    state = CycleState()
    plugin.pre_filter(state, pod, nodes)
    before = {n.name: plugin.filter(state, pod, n) for n in nodes}
    what_if = state.clone()
    plugin.remove_pod(what_if, pod, node.pods[0], node)
    plugin.add_pod(what_if, pod, node.pods[0], node)
    assert {n.name: plugin.filter(what_if, pod, n) for n in nodes} == before
