"""InterPodAffinity: required terms filter, preferred terms (and existing pods' terms) score
(spec 4.9)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from podkit import (
    HOSTNAME,
    ZONE,
    affinity_term,
    filter_all,
    labelled_node,
    labelled_pod,
    pod_affinity,
    score_all,
    weighted,
)

from dralloc.errors import InputError
from dralloc.scheduler.framework import SUCCESS, Code, CycleState, NodeInfo, PodInfo, Status
from dralloc.scheduler.framework.journal import ChangeJournal
from dralloc.scheduler.plugins import in_tree_registry
from dralloc.scheduler.plugins.helper.listers import default_namespace_labels
from dralloc.scheduler.plugins.interpodaffinity import (
    REASON_AFFINITY,
    REASON_ANTI_AFFINITY,
    REASON_EXISTING_ANTI_AFFINITY,
    InterPodAffinity,
    InterPodAffinityArgs,
)
from dralloc.scheduler.plugins.interpodaffinity.index import AffinityNodeIndex

NO_AFFINITY = Status.unresolvable(REASON_AFFINITY)
ANTI = Status.unschedulable(REASON_ANTI_AFFINITY)
EXISTING = Status.unschedulable(REASON_EXISTING_ANTI_AFFINITY)
DB = {"app": "db"}
WEB = {"app": "web"}


def zones(**pods: list[PodInfo]) -> list[NodeInfo]:
    """Nodes a, b in zone1, x in zone2, with the given pods."""
    layout = {"a": "zone1", "b": "zone1", "x": "zone2"}
    return [labelled_node(n, {ZONE: z}, pods=pods.get(n, [])) for n, z in layout.items()]


def requires(key: str, labels: dict[str, str], **term: object) -> dict[str, object]:
    return pod_affinity(required=[affinity_term(key, labels, **term)])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("existing", "incoming", "pre", "expected"),
    [
        pytest.param(
            {"a": [labelled_pod("db", DB)]},
            labelled_pod("web", WEB),
            Code.SKIP,
            dict.fromkeys("abx", SUCCESS),
            id="no-terms-skip",
        ),
        pytest.param(
            {"a": [labelled_pod("db", DB)]},
            labelled_pod("web", WEB, affinity=requires(ZONE, DB)),
            Code.SUCCESS,
            {"a": SUCCESS, "b": SUCCESS, "x": NO_AFFINITY},
            id="affinity-follows-the-zone",
        ),
        pytest.param(
            {"a": [labelled_pod("db", DB)]},
            labelled_pod("web", WEB, affinity=requires(HOSTNAME, DB)),
            Code.SUCCESS,
            {"a": SUCCESS, "b": NO_AFFINITY, "x": NO_AFFINITY},
            id="affinity-follows-the-host",
        ),
        pytest.param(
            {},
            labelled_pod("web", WEB, affinity=requires(ZONE, WEB)),
            Code.SUCCESS,
            dict.fromkeys("abx", SUCCESS),
            id="first-pod-of-a-self-affine-group",
        ),
        pytest.param(
            {},
            labelled_pod("web", WEB, affinity=requires(ZONE, DB)),
            Code.SUCCESS,
            dict.fromkeys("abx", NO_AFFINITY),
            id="nothing-matches-and-not-self",
        ),
        pytest.param(
            {"a": [labelled_pod("db", DB)]},
            labelled_pod("web", WEB, affinity=requires("rack", DB)),
            Code.SUCCESS,
            dict.fromkeys("abx", NO_AFFINITY),
            id="topology-key-missing-everywhere",
        ),
        pytest.param(
            {"a": [labelled_pod("db", DB)]},
            labelled_pod("web", WEB, anti_affinity=requires(ZONE, DB)),
            Code.SUCCESS,
            {"a": ANTI, "b": ANTI, "x": SUCCESS},
            id="anti-affinity-avoids-the-zone",
        ),
        pytest.param(
            {"a": [labelled_pod("db", DB, anti_affinity=requires(HOSTNAME, WEB))]},
            labelled_pod("web", WEB),
            Code.SUCCESS,
            {"a": EXISTING, "b": SUCCESS, "x": SUCCESS},
            id="existing-pods-anti-affinity",
        ),
        pytest.param(
            {"a": [labelled_pod("db", DB, namespace="other")]},
            labelled_pod("web", WEB, affinity=requires(ZONE, DB)),
            Code.SUCCESS,
            dict.fromkeys("abx", NO_AFFINITY),
            id="own-namespace-by-default",
        ),
        pytest.param(
            {"a": [labelled_pod("db", DB, namespace="other")]},
            labelled_pod("web", WEB, affinity=requires(ZONE, DB, namespaces=["other"])),
            Code.SUCCESS,
            {"a": SUCCESS, "b": SUCCESS, "x": NO_AFFINITY},
            id="listed-namespace",
        ),
        pytest.param(
            {"x": [labelled_pod("db", DB, namespace="other")]},
            labelled_pod("web", WEB, affinity=requires(ZONE, DB, namespace_selector={})),
            Code.SUCCESS,
            {"a": NO_AFFINITY, "b": NO_AFFINITY, "x": SUCCESS},
            id="empty-namespace-selector-is-every-namespace",
        ),
        pytest.param(
            {"x": [labelled_pod("db", {"app": "db", "v": "1"})]},
            labelled_pod(
                "web", {"app": "web", "v": "2"}, affinity=requires(ZONE, DB, match_label_keys=["v"])
            ),
            Code.SUCCESS,
            dict.fromkeys("abx", NO_AFFINITY),
            id="match-label-keys",
        ),
        pytest.param(
            {"x": [labelled_pod("db", {"app": "db", "v": "1"})]},
            labelled_pod(
                "web",
                {"app": "web", "v": "1"},
                anti_affinity=requires(ZONE, DB, mismatch_label_keys=["v"]),
            ),
            Code.SUCCESS,
            dict.fromkeys("abx", SUCCESS),
            id="mismatch-label-keys",
        ),
    ],
)
def test_filter_follows_required_terms_by_domain(
    existing: dict[str, list[PodInfo]], incoming: PodInfo, pre: Code, expected: dict[str, Status]
) -> None:
    nodes = zones(**existing)
    status, statuses = filter_all(InterPodAffinity(), incoming, nodes)
    assert status.code == pre
    assert statuses == expected


def test_namespace_selector_reads_known_namespace_labels() -> None:
    nodes = zones(x=[labelled_pod("db", DB, namespace="team-a")])
    labels = default_namespace_labels({"team-a": {"tier": "prod"}})
    selected = requires(ZONE, DB, namespace_selector={"matchLabels": {"tier": "prod"}})
    by_name = requires(
        ZONE, DB, namespace_selector={"matchLabels": {"kubernetes.io/metadata.name": "team-a"}}
    )
    plugin = InterPodAffinity(namespace_labels=labels)
    for affinity in (selected, by_name):
        _, statuses = filter_all(plugin, labelled_pod("web", WEB, affinity=affinity), nodes)
        assert statuses == {"a": NO_AFFINITY, "b": NO_AFFINITY, "x": SUCCESS}


def test_a_term_that_does_not_parse_rejects_the_pod_at_pre_filter() -> None:
    bad = requires(ZONE, {}, expressions=[{"key": "app", "operator": "Near", "values": ["x"]}])
    status, _ = filter_all(InterPodAffinity(), labelled_pod("web", WEB, affinity=bad), zones())
    assert status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
    assert status.message.startswith("parsing pod: ")


def test_pre_score_fails_on_a_term_that_does_not_parse_even_with_nothing_to_weigh() -> None:
    """Upstream parses the pod before it looks for nodes with affine pods, so the error
    comes before the SKIP for an empty cluster (reachable when PreFilter is not enabled)."""
    bad = requires(ZONE, {}, expressions=[{"key": "app", "operator": "Near", "values": ["x"]}])
    pod = labelled_pod("web", WEB, affinity=bad)
    status = InterPodAffinity().pre_score(CycleState(), pod, zones())
    assert status.code == Code.ERROR
    assert status.message.startswith("parsing pod: ")


def test_preemption_extensions_count_a_removed_pod_out() -> None:
    db = labelled_pod("db", DB)
    nodes = zones(a=[db])
    incoming = labelled_pod("web", WEB, anti_affinity=requires(ZONE, DB))
    plugin = InterPodAffinity()
    state = CycleState()
    plugin.pre_filter(state, incoming, nodes)
    what_if = state.clone()
    plugin.remove_pod(what_if, incoming, db, nodes[0])
    assert plugin.filter(what_if, incoming, nodes[1]) == SUCCESS
    assert plugin.filter(state, incoming, nodes[1]) == ANTI
    plugin.add_pod(what_if, incoming, db, nodes[0])
    assert plugin.filter(what_if, incoming, nodes[1]) == ANTI


# ------------------------------------------------------------------------------ scoring


def test_preferred_affinity_scores_the_zone_holding_the_pods() -> None:
    nodes = zones(a=[labelled_pod("db", DB)])
    prefers = pod_affinity(preferred=[weighted(5, affinity_term(ZONE, DB))])
    _, scores = score_all(InterPodAffinity(), labelled_pod("web", WEB, affinity=prefers), nodes)
    assert scores == {"a": 100, "b": 100, "x": 0}


def test_preferred_anti_affinity_scores_the_zone_holding_the_pods_lowest() -> None:
    nodes = zones(x=[labelled_pod("db", DB)])
    avoids = pod_affinity(preferred=[weighted(5, affinity_term(ZONE, DB))])
    _, scores = score_all(InterPodAffinity(), labelled_pod("web", WEB, anti_affinity=avoids), nodes)
    assert scores == {"a": 100, "b": 100, "x": 0}


def test_weights_add_up_and_normalize_between_min_and_max() -> None:
    nodes = zones(a=[labelled_pod("db", DB)], x=[labelled_pod("cache", {"app": "cache"})])
    prefers = pod_affinity(
        preferred=[
            weighted(4, affinity_term(ZONE, DB)),
            weighted(1, affinity_term(ZONE, {"app": "cache"})),
            weighted(2, affinity_term(HOSTNAME, DB)),
        ]
    )
    _, scores = score_all(InterPodAffinity(), labelled_pod("web", WEB, affinity=prefers), nodes)
    # a: 4 + 2 = 6, b: 4, x: 1 -> (s - 1) / 5 * 100.
    assert scores == {"a": 100, "b": 60, "x": 0}


def test_existing_pods_required_affinity_counts_hard_pod_affinity_weight() -> None:
    fan = labelled_pod("fan", {"app": "fan"}, affinity=requires(ZONE, WEB))
    nodes = zones(x=[fan])
    incoming = labelled_pod("web", WEB)
    _, scores = score_all(InterPodAffinity(), incoming, nodes)
    assert scores == {"a": 0, "b": 0, "x": 100}
    zero = InterPodAffinity(InterPodAffinityArgs(hard_pod_affinity_weight=0))
    status, _ = score_all(zero, incoming, nodes)
    assert status.code == Code.SKIP


def test_existing_pods_preferred_terms_count_unless_ignored() -> None:
    fan = labelled_pod(
        "fan",
        {"app": "fan"},
        anti_affinity=pod_affinity(preferred=[weighted(3, affinity_term(ZONE, WEB))]),
    )
    nodes = zones(a=[fan])
    incoming = labelled_pod("web", WEB)
    _, scores = score_all(InterPodAffinity(), incoming, nodes)
    assert scores == {"a": 0, "b": 0, "x": 100}
    ignoring = InterPodAffinity(InterPodAffinityArgs(ignore_preferred_terms_of_existing_pods=True))
    status, _ = score_all(ignoring, incoming, nodes)
    assert status.code == Code.SKIP


def test_nothing_to_weigh_skips_pre_score() -> None:
    status, _ = score_all(
        InterPodAffinity(), labelled_pod("web", WEB), zones(a=[labelled_pod("db", DB)])
    )
    assert status.code == Code.SKIP


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            {"hardPodAffinityWeight": 101},
            "P.hardPodAffinityWeight: not in valid range [0, 100], got 101",
        ),
        (
            {"hardPodAffinityWeight": -1},
            "P.hardPodAffinityWeight: not in valid range [0, 100], got -1",
        ),
        (
            {"ignorePreferredTermsOfExistingPods": "yes"},
            'P.ignorePreferredTermsOfExistingPods: must be a boolean, got "yes"',
        ),
        ({"hardPodAffinityWeigth": 1}, "P.hardPodAffinityWeigth: unknown field"),
    ],
)
def test_bad_args_name_the_field(args: dict[str, object], message: str) -> None:
    with pytest.raises(InputError) as caught:
        in_tree_registry()["InterPodAffinity"](args, path="P")
    assert str(caught.value) == message


# --------------------------------------------------------------------------- properties

APPS = st.sampled_from(["db", "web", "cache"])
KEYS = st.sampled_from([ZONE, HOSTNAME])


@st.composite
def _cluster(draw: st.DrawFn) -> list[NodeInfo]:
    nodes = []
    for i in range(draw(st.integers(min_value=1, max_value=5))):
        zone = draw(st.sampled_from(["z1", "z2", "z3"]))
        pods = []
        for j in range(draw(st.integers(min_value=0, max_value=3))):
            app = draw(APPS)
            anti = None
            if draw(st.booleans()):
                anti = requires(draw(KEYS), {"app": draw(APPS)})
            pods.append(labelled_pod(f"n{i}-{j}", {"app": app}, anti_affinity=anti))
        nodes.append(labelled_node(f"n{i}", {ZONE: zone}, pods=pods))
    return nodes


def _domain(node: NodeInfo, key: str) -> str:
    return node.node.metadata.labels[key]


@settings(deadline=None)  # wall-clock limits flake on a shared machine
@given(_cluster(), APPS, st.one_of(st.none(), st.tuples(KEYS, APPS)))
def test_filter_never_admits_a_node_sharing_a_domain_with_a_pod_that_repels(
    nodes: list[NodeInfo], app: str, anti: tuple[str, str] | None
) -> None:
    terms = requires(anti[0], {"app": anti[1]}) if anti is not None else None
    incoming = labelled_pod("new", {"app": app}, anti_affinity=terms)
    _, statuses = filter_all(InterPodAffinity(), incoming, nodes)
    for node in nodes:
        repelled = False
        for other in nodes:
            for existing in other.pods:
                spec = existing.affinity.required_anti_affinity
                for term in spec:  # existing pods' anti-affinity against the incoming pod
                    if term.selector.matches({"app": app}) and _domain(
                        other, term.topology_key
                    ) == _domain(node, term.topology_key):
                        repelled = True
                if (
                    anti is not None
                    and existing.pod.metadata.labels["app"] == anti[1]
                    and _domain(other, anti[0]) == _domain(node, anti[0])
                ):
                    repelled = True
        assert (statuses[node.name] == SUCCESS) is not repelled


@settings(deadline=None)  # wall-clock limits flake on a shared machine
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=3),
            st.sampled_from(["plain", "affinity", "anti", "remove"]),
        ),
        max_size=25,
    )
)
def test_the_affinity_node_index_follows_the_journal_as_a_full_scan_would(
    steps: list[tuple[int, str]],
) -> None:
    journal = ChangeJournal(limit=4)  # small: the index also falls behind what is kept
    nodes = [labelled_node(f"n{i}") for i in range(4)]
    for node in nodes:
        node.journal = journal
    index = AffinityNodeIndex()
    for count, (at, action) in enumerate(steps):
        node = nodes[at]
        if action == "remove":
            if node.pods:
                node.remove_pod(node.pods[0].key)
        elif action == "plain":
            node.add_pod(labelled_pod(f"p{count}", DB))
        elif action == "affinity":
            node.add_pod(labelled_pod(f"p{count}", DB, affinity=requires(ZONE, WEB)))
        else:
            node.add_pod(labelled_pod(f"p{count}", DB, anti_affinity=requires(HOSTNAME, WEB)))
        with_affinity, with_anti = index.refresh(nodes)
        assert with_affinity == [n for n in nodes if n.pods_with_affinity]
        assert with_anti == [n for n in nodes if n.pods_with_required_anti_affinity]
