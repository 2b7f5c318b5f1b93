"""A live cluster's objects as the offline commands' input, without a server: the lists
`dralloc.kube.readcluster` makes of a fake client's pages, and how `cli.inputs` lays the files'
objects over them (tests/k8s/test_live_explain.py runs the same against a real apiserver)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from dralloc.api.core import Pod
from dralloc.api.io import LoadedObject, from_server
from dralloc.cli import inputs
from dralloc.kube import readcluster
from dralloc.kube.client import ApiStatusError, ApiUnavailable, KubeDict
from dralloc.kube.readcluster import ClusterRead, ClusterUnreadable, read_cluster

SERVER = "https://127.0.0.1:6443"
SOURCE = f"cluster:{SERVER}"


class FakeClient:
    """Answers list requests from `collections` (path -> items), `page` items at a time."""

    def __init__(self, collections: dict[str, list[KubeDict]], *, page: int = 2) -> None:
        self.collections = collections
        self.page = page
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.server = SERVER + "/"
        self.fail: Exception | None = None
        self.served_resources: dict[str, set[str]] = {}

    async def served(self, group_version: str) -> set[str]:
        return self.served_resources.get(group_version, set())

    async def list(self, path: str, **params: Any) -> KubeDict:
        self.requests.append((path, params))
        if self.fail is not None:
            raise self.fail
        items = self.collections.get(path, [])
        start = int(params.get("continue") or 0)
        chunk = items[start : start + self.page]
        more = start + self.page < len(items)
        return {"items": chunk, "metadata": {"continue": str(start + self.page) if more else ""}}


def _pod(name: str, created: str, node_name: str = "") -> KubeDict:
    spec: KubeDict = {"containers": [{"name": "c", "image": "pause"}]}
    if node_name:
        spec["nodeName"] = node_name
    return {
        "metadata": {"name": name, "namespace": "team", "creationTimestamp": created},
        "spec": spec,
        "status": {"phase": "Pending", "somethingNew": {"x": 1}},
    }


def _read(client: FakeClient) -> ClusterRead:
    return asyncio.run(read_cluster(client))  # type: ignore[arg-type]


def test_pods_come_in_creation_order_across_pages_each_named_by_the_cluster() -> None:
    client = FakeClient(
        {
            "/api/v1/pods": [
                _pod("late", "2026-01-01T00:00:03Z"),
                _pod("early", "2026-01-01T00:00:01Z", node_name="n1"),
                _pod("middle", "2026-01-01T00:00:02Z"),
            ],
            "/api/v1/nodes": [{"metadata": {"name": "n1"}}],
            "/api/v1/namespaces": [{"metadata": {"name": "team", "labels": {"tier": "gpu"}}}],
        }
    )

    read = _read(client)

    pods = [o for o in read.objects if isinstance(o.obj, Pod)]
    assert [p.obj.metadata.name for p in pods] == ["early", "middle", "late"]
    assert {o.file for o in read.objects} == {SOURCE}
    assert pods[0].ref == "Pod team/early" and pods[0].obj.spec.node_name == "n1"
    assert read.namespace_labels == {"team": {"tier": "gpu"}}
    pod_lists = [params for path, params in client.requests if path == "/api/v1/pods"]
    assert [p.get("continue") for p in pod_lists] == [None, "2"]
    assert {p["fieldSelector"] for p in pod_lists} == {readcluster.NOT_FINISHED}


def test_an_object_dralloc_cannot_read_is_left_out_with_a_warning_and_taint_rules_when_served() -> (
    None
):
    rule = {
        "metadata": {"name": "maintenance"},
        "spec": {
            "deviceSelector": {"driver": "gpu.example.com"},
            "taint": {"key": "maintenance", "effect": "NoSchedule"},
        },
    }
    client = FakeClient(
        {
            "/api/v1/nodes": [{"metadata": {"name": "odd"}, "spec": {"taints": "not a list"}}],
            "/apis/resource.k8s.io/v1beta2/devicetaintrules": [rule],
        }
    )
    client.served_resources["resource.k8s.io/v1beta2"] = {"devicetaintrules"}

    read = _read(client)

    assert [o.ref for o in read.objects] == ["DeviceTaintRule maintenance"]
    [warning] = read.warnings
    assert str(warning).startswith(f"{SOURCE}: Node odd: left out, dralloc cannot read it: ")


def test_a_refused_list_names_the_server_and_the_resource() -> None:
    client = FakeClient({})
    client.fail = ApiStatusError(
        "GET", "/apis/resource.k8s.io/v1/resourceslices", 403, "Forbidden", "no"
    )

    with pytest.raises(ClusterUnreadable) as refused:
        _read(client)

    assert str(refused.value) == (
        f"the API server at {SERVER} refused to list resourceslices.resource.k8s.io "
        "(403 Forbidden): no"
    )


def test_a_server_that_cannot_be_reached_is_named() -> None:
    client = FakeClient({})
    client.fail = ApiUnavailable("GET /api/v1/namespaces: ConnectError: refused")

    with pytest.raises(ClusterUnreadable) as unreachable:
        _read(client)

    assert str(unreachable.value).startswith(f"cannot reach the API server at {SERVER}: ")


def _loaded(raw: KubeDict, kind: str, cls: type[Any], index: int) -> LoadedObject:
    raw = {"apiVersion": "v1", "kind": kind, **raw}
    return LoadedObject(SOURCE, index, raw, from_server(raw, cls))


def test_files_replace_the_clusters_objects_and_bound_pods_without_a_node_are_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dralloc.api.core import Node

    cluster_read = ClusterRead(SERVER)
    cluster_read.objects = [
        _loaded({"metadata": {"name": "n1"}}, "Node", Node, 1),
        _loaded(_pod("same", "2026-01-01T00:00:01Z"), "Pod", Pod, 2),
        _loaded(_pod("orphan", "2026-01-01T00:00:02Z", node_name="gone"), "Pod", Pod, 3),
        _loaded(_pod("waiting", "2026-01-01T00:00:03Z"), "Pod", Pod, 4),
    ]
    monkeypatch.setattr(readcluster, "read_cluster_once", lambda kubeconfig, context: cluster_read)
    replacement = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "same", "namespace": "team"},
        "spec": {"containers": [{"name": "c", "image": "other"}]},
    }
    path = tmp_path / "pod.json"
    path.write_text(json.dumps(replacement))

    cluster = inputs.read_live_cluster("admin.kubeconfig", None, [str(path)])

    assert [(o.file, o.ref) for o in cluster.objects] == [
        (SOURCE, "Node n1"),
        (SOURCE, "Pod team/waiting"),
        (str(path), "Pod team/same"),
    ]
    assert [str(w) for w in cluster.warnings] == [
        f"{SOURCE}: Pod team/orphan: spec.nodeName: node gone is not in the input; "
        "the bound pod is left out"
    ]
    assert [o.ref for o in cluster.cluster_pending_pods()] == ["Pod team/waiting"]
    without = cluster.without(cluster.cluster_pending_pods())
    assert [o.ref for o in without.objects] == ["Node n1", "Pod team/same"]
    assert list(without.nodes) == ["n1"]


def test_a_pending_pod_being_deleted_is_not_explained_but_named(tmp_path: Path) -> None:
    from cli_kit import invoke

    path = tmp_path / "pod.yaml"
    path.write_text(
        "apiVersion: v1\nkind: Pod\n"
        "metadata: {name: leaving, namespace: team, deletionTimestamp: '2026-01-01T00:00:00Z'}\n"
        "spec: {containers: [{name: c, image: pause}]}\n"
    )

    result = invoke("explain", "-f", str(path), "--pod", "team/leaving")

    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "--pod: pod team/leaving is finished or being deleted: no scheduler considers it"
    ]


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["explain", "--pod", "p"],
            "give the objects with -f FILE (or a live cluster with --kubeconfig)",
        ),
        (
            ["explain", "-f", "x.yaml", "--pod", "p", "--context", "c"],
            "--context needs --kubeconfig (a live cluster to read)",
        ),
        (["schedule"], "give the objects with -f FILE (or a live cluster with --kubeconfig)"),
        (
            ["schedule", "-f", "x.yaml", "--include-pending"],
            "--include-pending needs --kubeconfig (a live cluster to read)",
        ),
        (
            ["schedule", "--kubeconfig", "missing.kubeconfig"],
            "missing.kubeconfig: no such file",
        ),
    ],
)
def test_live_options_misused_are_one_line_and_exit_2(args: list[str], line: str) -> None:
    from cli_kit import invoke

    result = invoke(*args)

    assert result.exit_code == 2
    assert result.stderr.splitlines() == [line]
