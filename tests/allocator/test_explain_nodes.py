"""`explain_nodes`: `explain` on many nodes in order, telling a caller's progress callback."""

from __future__ import annotations

from yamlkit import claim, device_class, node, request, resource_slice
from yamlkit import cluster as make_cluster

from dralloc.allocator import Allocator, Inventory, allocated_state, explain, explain_nodes
from dralloc.features import Features


def test_explain_nodes_explains_each_node_in_order_and_reports_progress_after_each() -> None:
    cluster = make_cluster(
        node("node-a"),
        node("node-b"),
        node("node-c"),
        device_class(),
        resource_slice(["d1"], name="a", pool="a", node="node-a"),
        resource_slice(["d1", "d2"], name="c", pool="c", node="node-c"),
        claim("c", request(count=2)),
    )
    features = Features()
    allocator = Allocator(features)
    inventory = Inventory(cluster.slices, features)
    state = allocated_state([], features)
    (target,) = cluster.pending
    nodes = [cluster.node(n) for n in ("node-a", "node-b", "node-c")]
    seen: list[tuple[int, int, str]] = []

    results = explain_nodes(
        allocator,
        nodes,
        target,
        inventory,
        cluster.classes,
        state,
        progress=lambda done, total, name: seen.append((done, total, name)),
    )

    assert seen == [(1, 3, "node-a"), (2, 3, "node-b"), (3, 3, "node-c")]
    assert [(r.node, r.fits) for r in results] == [
        ("node-a", False),
        ("node-b", False),
        ("node-c", True),
    ]
    alone = [explain(allocator, n, target, inventory, cluster.classes, state) for n in nodes]
    assert [r.summary_lines() for r in results] == [r.summary_lines() for r in alone]


def test_explain_nodes_without_progress_needs_no_callback() -> None:
    cluster = make_cluster(device_class(), resource_slice(["d1"]), claim("c", request()))
    features = Features()
    (target,) = cluster.pending
    (only,) = explain_nodes(
        Allocator(features),
        [cluster.node("node-1")],
        target,
        Inventory(cluster.slices, features),
        cluster.classes,
        allocated_state([], features),
    )
    assert only.fits
