"""ImageLocality: nodes that hold the pod's images score higher, scaled by how widely each
image is spread (spec 4.9)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from podkit import labelled_node, labelled_pod, score_all

from dralloc.scheduler.framework import NodeInfo
from dralloc.scheduler.framework.journal import ChangeJournal
from dralloc.scheduler.plugins.imagelocality import (
    MAX_CONTAINER_THRESHOLD,
    MIN_THRESHOLD,
    ImageLocality,
    normalized_image_name,
)

MB = 1024 * 1024


def _plugin(nodes: list[NodeInfo]) -> ImageLocality:
    return ImageLocality(lambda: nodes)


@pytest.mark.parametrize(
    ("name", "normalized"),
    [
        ("nginx", "nginx:latest"),
        ("nginx:1.25", "nginx:1.25"),
        ("registry.local:5000/team/app", "registry.local:5000/team/app:latest"),
        ("registry.local:5000/team/app:v2", "registry.local:5000/team/app:v2"),
        ("app@sha256:abcd", "app@sha256:abcd"),
    ],
)
def test_a_name_without_a_tag_gets_latest(name: str, normalized: str) -> None:
    assert normalized_image_name(name) == normalized


def test_each_image_counts_its_size_times_the_share_of_nodes_holding_it() -> None:
    # Two images on two nodes, one each: each counts half its size. 40 MB / 2 is under the
    # 23 MB floor; 300 MB / 2 = 150 MB over two containers' 2000 MB ceiling.
    small = labelled_node("a", images=[(["gcr.io/40:latest"], 40 * MB)])
    large = labelled_node("b", images=[(["gcr.io/300:latest"], 300 * MB)])
    nodes = [small, large]
    pod = labelled_pod("p", images=["gcr.io/40", "gcr.io/300:latest"])
    _, scores = score_all(_plugin(nodes), pod, nodes)
    assert scores == {"a": 0, "b": 100 * (150 * MB - MIN_THRESHOLD) // (2000 * MB - MIN_THRESHOLD)}
    assert scores["b"] == 6


def test_an_image_every_node_holds_counts_in_full_and_the_score_is_capped() -> None:
    nodes = [
        labelled_node(name, images=[(["big:1", "big@sha256:x"], 3000 * MB)])
        for name in ("a", "b", "c")
    ]
    _, scores = score_all(_plugin(nodes), labelled_pod("p", images=["big:1"]), nodes)
    assert scores == {"a": 100, "b": 100, "c": 100}


def test_init_containers_count_and_widen_the_ceiling() -> None:
    node = labelled_node("a", images=[(["tool:latest"], 523 * MB)])
    pod = labelled_pod("p", images=["app"], init_images=["tool"])
    _, scores = score_all(_plugin([node]), pod, [node])
    assert scores == {"a": 100 * (500 * MB) // (2 * MAX_CONTAINER_THRESHOLD - MIN_THRESHOLD)}


def test_a_node_without_images_scores_zero() -> None:
    nodes = [labelled_node("a"), labelled_node("b", images=[(["x:latest"], 900 * MB)])]
    _, scores = score_all(_plugin(nodes), labelled_pod("p", images=["x"]), nodes)
    assert scores["a"] == 0
    assert scores["b"] == 100 * (450 * MB - MIN_THRESHOLD) // (
        MAX_CONTAINER_THRESHOLD - MIN_THRESHOLD
    )


def test_the_spread_follows_a_new_node_list() -> None:
    holder = labelled_node("a", images=[(["x:latest"], 900 * MB)])
    nodes = [holder]
    plugin = ImageLocality(lambda: nodes)
    pod = labelled_pod("p", images=["x"])
    _, alone = score_all(plugin, pod, nodes)
    nodes = [holder, labelled_node("b")]
    _, shared = score_all(plugin, pod, nodes)
    assert alone["a"] > shared["a"] > 0


IMAGES = st.sampled_from(["a:latest", "b:latest", "c:v1", "d:latest"])


@settings(deadline=None)  # wall-clock limits flake on a shared machine
@given(
    st.lists(
        st.dictionaries(IMAGES, st.integers(min_value=0, max_value=4000 * MB), max_size=4),
        min_size=1,
        max_size=4,
    ),
    st.lists(st.sampled_from(["a", "b", "c:v1", "d", "e"]), min_size=1, max_size=3),
)
def test_scores_stay_in_range_and_a_node_holding_more_never_scores_less(
    held: list[dict[str, int]], images: list[str]
) -> None:
    nodes = [
        labelled_node(f"n{i}", images=[([name], size) for name, size in sizes.items()])
        for i, sizes in enumerate(held)
    ]
    # A copy of the first node plus one more image of the pod's, at the same spread.
    extra = labelled_node(
        "z", images=[([name], size) for name, size in {**held[0], "e:latest": 0}.items()]
    )
    everything = [*nodes, extra]
    _, scores = score_all(_plugin(everything), labelled_pod("p", images=images), everything)
    assert all(0 <= value <= 100 for value in scores.values())
    assert scores["z"] >= scores["n0"]


def test_a_node_replaced_in_the_same_list_with_other_images_is_noticed_through_the_journal() -> (
    None
):
    journal = ChangeJournal()
    nodes = [labelled_node("a", images=[(["x:latest"], 900 * MB)]), labelled_node("b")]
    for node in nodes:
        node.journal = journal
    plugin = _plugin(nodes)
    pod = labelled_pod("p", images=["x"])
    _, before = score_all(plugin, pod, nodes)
    replaced = labelled_node("b", images=[(["x:latest"], 900 * MB)])
    replaced.journal = journal
    nodes[1] = replaced
    journal.append("b")
    _, after = score_all(plugin, pod, nodes)
    assert before["a"] < after["a"] == after["b"]
