"""Cluster descriptions (`dralloc.devices.cluster`): group options and their errors, cluster
files, the fast JSON path and `dralloc cluster generate --out`.

A node group is `COUNTxSHAPE[:option=value,...]`; GPU shapes take `gpus`, `mig`, `layout`
(static MIG only), `sharing`, `replicas` (time-slicing only) and `clients` (MPS only); TPU
shapes take none. A cluster file (`kind: Cluster`) lists the same groups as YAML. Errors say
what is wrong with which group, or which file and field; the command exits 2 on them and never
leaves a partial output file behind.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from click.testing import Result
from typer.testing import CliRunner

from dralloc.api.io import encode_json, kube_dict
from dralloc.cli import main as cli_main
from dralloc.cli.main import app
from dralloc.devices import load_catalog
from dralloc.devices.classes import driver_device_classes
from dralloc.devices.cluster import (
    ClusterSpecError,
    NodeGroup,
    generate_cluster,
    iter_cluster,
    iter_cluster_json,
    parse_cluster_file,
    parse_group,
)
from dralloc.errors import InputError

CATALOG = load_catalog()
CLASS_COUNT = len(driver_device_classes())
SHARING_LABEL = "nvidia.com/gpu.sharing-strategy"


def _groups(*texts: str) -> list[NodeGroup]:
    return [parse_group(text) for text in texts]


def _generate(*texts: str) -> Any:
    return generate_cluster(_groups(*texts), CATALOG)


def _devices(cluster: Any, node: str) -> list[Any]:
    return [d for s in cluster.slices if s.spec.node_name == node for d in s.spec.devices]


def _run(*args: str) -> Result:
    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    return result


# ------------------------------------------------------------------------ group options


def test_options_parse_into_a_group() -> None:
    group = parse_group("3xdgx-a100:mig=static,layout=3g.40gb/2x1g.10gb,sharing=mps,clients=8")
    assert group == NodeGroup(
        3,
        "dgx-a100",
        {"mig": "static", "layout": "3g.40gb/2x1g.10gb", "sharing": "mps", "clients": "8"},
    )


def test_a_static_mig_group_publishes_its_layout_on_every_gpu() -> None:
    cluster = _generate("1xdgx-h100:mig=static,layout=3g.40gb/2x1g.10gb")
    devices = _devices(cluster, "dgx-h100-00")
    assert len(devices) == 8 * 3
    assert {d.attributes["type"].string for d in devices} == {"mig"}
    gpu0 = sorted(d.name for d in devices if d.name.startswith("gpu-0-"))
    assert gpu0 == ["gpu-0-mig-1g10gb-19-4", "gpu-0-mig-1g10gb-19-5", "gpu-0-mig-3g40gb-9-0"]
    labels = cluster.nodes[0].metadata.labels
    assert labels["nvidia.com/mig.strategy"] == "mixed"


def test_a_named_layout_works_in_a_group() -> None:
    cluster = _generate("1xh100-80gb-sxm:gpus=1,mig=static,layout=all-1g.10gb")
    assert len(_devices(cluster, "h100-80gb-sxm-00")) == 7


def test_sharing_options_reach_the_published_devices_and_the_node_labels() -> None:
    cluster = _generate(
        "1xl4:gpus=2,sharing=time-slicing,replicas=6",
        "1xt4:sharing=mps,clients=12",
        "1xa10:sharing=fractional",
    )
    by_node = {n.metadata.name: n for n in cluster.nodes}
    (l4,) = {str(d.capacity["replicas"].value) for d in _devices(cluster, "l4-00")}
    assert l4 == "6"
    (t4,) = _devices(cluster, "t4-00")
    assert str(t4.capacity["clients"].value) == "12"
    (a10,) = _devices(cluster, "a10-00")
    assert "cores" in a10.capacity and a10.allow_multiple_allocations is True
    assert [by_node[n].metadata.labels[SHARING_LABEL] for n in ("l4-00", "t4-00", "a10-00")] == [
        "time-slicing",
        "mps",
        "fractional",
    ]


def test_default_replicas_and_clients() -> None:
    cluster = _generate("1xl4:sharing=time-slicing", "1xt4:sharing=mps")
    (l4,) = _devices(cluster, "l4-00")
    (t4,) = _devices(cluster, "t4-00")
    assert str(l4.capacity["replicas"].value) == "4"
    assert str(t4.capacity["clients"].value) == "48"


def test_exclusive_sharing_is_the_default_and_may_be_written() -> None:
    plain, written = _generate("1xl4"), _generate("1xl4:sharing=exclusive")
    assert [kube_dict(s) for s in plain.slices] == [kube_dict(s) for s in written.slices]
    assert SHARING_LABEL not in plain.nodes[0].metadata.labels


ERRORS = {
    "static-without-layout": (
        "1xdgx-h100:mig=static",
        "dgx-h100: mig=static needs layout=, e.g. layout=all-1g.10gb or layout=3g.40gb/2x1g.10gb",
    ),
    "layout-without-static": (
        "1xdgx-h100:layout=all-1g.10gb",
        "dgx-h100: layout= is only for mig=static",
    ),
    "layout-with-dynamic": (
        "1xdgx-h100:mig=dynamic,layout=all-1g.10gb",
        "dgx-h100: layout= is only for mig=static",
    ),
    "unknown-profile": (
        "1xdgx-h100:mig=static,layout=5g.50gb",
        "dgx-h100: layout: profiles: unknown MIG profile '5g.50gb' for h100-80gb-sxm (known: "
        "1g.10gb, 1g.10gb+me, 1g.20gb, 2g.20gb, 3g.40gb, 4g.40gb, 7g.80gb; or all-<profile>, "
        "all-balanced)",
    ),
    "layout-does-not-fit": (
        "1xdgx-h100:mig=static,layout=2x4g.40gb",
        "dgx-h100: MIG layout 4g.40gb, 4g.40gb does not fit one h100-80gb-sxm GPU",
    ),
    "three-3g-do-not-fit": (
        "1xdgx-h100:mig=static,layout=3g.40gb/3g.40gb/1g.10gb",
        "dgx-h100: MIG layout 3g.40gb, 3g.40gb, 1g.10gb does not fit one h100-80gb-sxm GPU",
    ),
    "mig-on-a-gpu-without-mig": ("1xl4:mig=static,layout=all-1g.10gb", "does not support MIG"),
    "unknown-mig-mode": (
        "1xdgx-h100:mig=partitioned",
        "dgx-h100: mig must be none, static or dynamic, got 'partitioned'",
    ),
    "unknown-sharing": (
        "1xdgx-h100:sharing=vgpu",
        "dgx-h100: sharing must be one of exclusive, time-slicing, mps, fractional, got 'vgpu'",
    ),
    "replicas-without-time-slicing": (
        "1xdgx-h100:replicas=3",
        "dgx-h100: replicas= is only for sharing=time-slicing",
    ),
    "replicas-with-mps": (
        "1xdgx-h100:sharing=mps,replicas=3",
        "dgx-h100: replicas= is only for sharing=time-slicing",
    ),
    "clients-without-mps": ("1xdgx-h100:clients=3", "dgx-h100: clients= is only for sharing=mps"),
    "clients-with-fractional": (
        "1xdgx-h100:sharing=fractional,clients=3",
        "dgx-h100: clients= is only for sharing=mps",
    ),
    "zero-replicas": (
        "1xl4:sharing=time-slicing,replicas=0",
        "l4: replicas must be a positive integer, got '0'",
    ),
    "negative-clients": (
        "1xl4:sharing=mps,clients=-2",
        "l4: clients must be a positive integer, got '-2'",
    ),
    "fractional-clients": (
        "1xl4:sharing=mps,clients=1.5",
        "l4: clients must be a positive integer, got '1.5'",
    ),
    "zero-gpus": ("1xl4:gpus=0", "l4: gpus must be a positive integer, got '0'"),
    "word-gpus": ("1xl4:gpus=two", "l4: gpus must be a positive integer, got 'two'"),
    "unknown-option": (
        "1xl4:colour=green",
        "l4: unknown option(s) colour (known: name, gpus, mig, layout, sharing, replicas, clients)",
    ),
    "tpu-with-options": (
        "1xtpu-v6e-2x4:sharing=mps",
        "tpu-v6e-2x4: TPU shapes take no options but name",
    ),
}


@pytest.mark.parametrize(("text", "message"), list(ERRORS.values()), ids=list(ERRORS))
def test_a_group_that_cannot_be_built_says_why(text: str, message: str) -> None:
    with pytest.raises(ClusterSpecError) as caught:
        list(iter_cluster([parse_group(text)], CATALOG))
    assert message in str(caught.value)
    with pytest.raises(ClusterSpecError):
        next(iter_cluster_json([parse_group(text)], CATALOG))


def test_two_groups_of_the_same_shape_need_a_name_to_keep_node_names_apart() -> None:
    with pytest.raises(ClusterSpecError) as caught:
        _generate("1xl4", "2xl4:gpus=2")
    assert str(caught.value) == (
        "two node groups are named l4: node names would repeat (give one of them name=...)"
    )
    cluster = _generate("1xdgx-h100", "2xdgx-h100:name=h100-mig,mig=dynamic")
    assert [n.metadata.name for n in cluster.nodes] == [
        "dgx-h100-00",
        "h100-mig-00",
        "h100-mig-01",
    ]


def test_more_mps_clients_than_mps_allows_are_refused() -> None:
    with pytest.raises(ClusterSpecError, match="clients must be at most 48"):
        _generate("1xl4:sharing=mps,clients=49")


def test_an_option_given_twice_is_refused() -> None:
    with pytest.raises(ClusterSpecError, match="option mig is given twice"):
        _generate("1xdgx-h100:mig=dynamic,mig=none")


def test_a_bad_group_is_found_before_any_node_is_produced() -> None:
    nodes = iter_cluster(_groups("1xl4", "1xdgx-h100:sharing=vgpu"), CATALOG)
    with pytest.raises(ClusterSpecError):
        next(nodes)


@pytest.mark.parametrize("shape", ["tpu-v6e-9x9", "tpu-v99-2x4"])
def test_a_bad_tpu_shape_is_found_before_any_node_is_produced(shape: str) -> None:
    nodes = iter_cluster(_groups("1xl4", f"1x{shape}"), CATALOG)
    with pytest.raises(ClusterSpecError):
        next(nodes)


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ("tpu-v6e-9x9", "tpu-v6e-9x9: TPU model 'tpu-v6e' has no topology '9x9'"),
        ("tpu-v99-2x4", "tpu-v99-2x4: unknown TPU 'tpu-v99'"),
        ("tpu-v6e", "tpu-v6e: expected tpu-<generation>-<topology>"),
    ],
)
def test_a_bad_tpu_shape_says_why(shape: str, message: str) -> None:
    with pytest.raises(ClusterSpecError) as caught:
        list(iter_cluster(_groups(f"1x{shape}"), CATALOG))
    assert str(caught.value).startswith(message)


# ------------------------------------------------------------------------ cluster files

CLUSTER_FILE = """\
apiVersion: dralloc.io/v1alpha1
kind: Cluster
metadata: {name: lab}
nodeGroups:
- count: 2
  shape: dgx-h100
  mig: static
  layout: [3g.40gb, 2x1g.10gb]
  sharing: mps
  clients: 8
- count: 3
  shape: l4
  gpus: 2
  sharing: time-slicing
  replicas: 2
- {count: 1, shape: tpu-v6e-2x4}
"""


def test_a_cluster_file_lists_the_same_groups_as_the_command_line() -> None:
    groups = parse_cluster_file(CLUSTER_FILE, "lab.yaml")
    assert [(g.count, g.shape) for g in groups] == [(2, "dgx-h100"), (3, "l4"), (1, "tpu-v6e-2x4")]
    assert groups[1].options == {"gpus": "2", "sharing": "time-slicing", "replicas": "2"}
    assert groups[2].options == {}
    from_file = generate_cluster(groups, CATALOG)
    from_flags = _generate(
        "2xdgx-h100:mig=static,layout=3g.40gb/2x1g.10gb,sharing=mps,clients=8",
        "3xl4:gpus=2,sharing=time-slicing,replicas=2",
        "1xtpu-v6e-2x4",
    )
    assert [kube_dict(o) for o in [*from_file.nodes, *from_file.slices]] == [
        kube_dict(o) for o in [*from_flags.nodes, *from_flags.slices]
    ]


def _header(groups: str) -> str:
    return f"apiVersion: dralloc.io/v1alpha1\nkind: Cluster\nnodeGroups:\n{groups}"


FILE_ERRORS = {
    "unknown-group-field": (
        _header("- {count: 2, shape: l4, colour: green}\n"),
        "nodeGroups[0].colour",
        "unknown field",
    ),
    "unknown-top-level-field": (
        "apiVersion: dralloc.io/v1alpha1\nkind: Cluster\nnodeGroups: []\nnodes: 3\n",
        "nodes",
        "unknown field",
    ),
    "wrong-kind": (
        "apiVersion: dralloc.io/v1alpha1\nkind: Fleet\nnodeGroups: []\n",
        "apiVersion",
        "kind Cluster",
    ),
    "wrong-api-version": (
        "apiVersion: v1\nkind: Cluster\nnodeGroups: []\n",
        "apiVersion",
        "dralloc.io/v1alpha1",
    ),
    "zero-count": (
        _header("- {count: 1, shape: l4}\n- {count: 0, shape: t4}\n"),
        "nodeGroups[1].count",
        "at least 1",
    ),
    "count-not-a-number": (_header("- {count: two, shape: l4}\n"), "nodeGroups[0].count", "int"),
    "missing-shape": (_header("- {count: 2}\n"), "nodeGroups[0]", "shape"),
    "not-a-mapping": ("- 2xl4\n", "", "object"),
}


@pytest.mark.parametrize(
    ("text", "field", "fragment"), list(FILE_ERRORS.values()), ids=list(FILE_ERRORS)
)
def test_a_bad_cluster_file_names_the_file_and_the_field(
    text: str, field: str, fragment: str
) -> None:
    with pytest.raises(InputError) as caught:
        parse_cluster_file(text, "lab.yaml")
    (problem,) = caught.value.problems
    assert (problem.file, problem.field) == ("lab.yaml", field)
    assert fragment in problem.message
    assert str(caught.value).startswith("lab.yaml: ")


def test_a_cluster_file_that_is_not_yaml_is_refused_naming_the_file() -> None:
    with pytest.raises(InputError) as caught:
        parse_cluster_file(_header("- {count: 2, shape: l4\n"), "lab.yaml")
    (problem,) = caught.value.problems
    assert problem.file == "lab.yaml"
    assert "YAML" in problem.message


def test_generate_exits_2_on_a_bad_cluster_file(tmp_path: Path) -> None:
    path = tmp_path / "lab.yaml"
    path.write_text(_header("- {count: 0, shape: l4}\n"), encoding="utf-8")
    result = _run("cluster", "generate", "-f", str(path))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{path}: Cluster: nodeGroups[0].count: must be at least 1"
    ]


def test_generate_exits_2_naming_the_file_of_a_group_that_cannot_be_built(
    tmp_path: Path,
) -> None:
    path = tmp_path / "lab.yaml"
    path.write_text(_header("- {count: 1, shape: l4, sharing: mps, replicas: 2}\n"), "utf-8")
    result = _run("cluster", "generate", "-f", str(path))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f"{path}: l4: replicas= is only for sharing=time-slicing"]


def test_generate_reports_a_yaml_syntax_error_on_one_line_with_its_position(
    tmp_path: Path,
) -> None:
    path = tmp_path / "lab.yaml"
    path.write_text(_header("- {count: 2, shape: l4\n"), encoding="utf-8")
    result = _run("cluster", "generate", "-f", str(path))
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"{path}: ")
    assert "line " in line and "column " in line


def test_generate_exits_2_for_a_missing_cluster_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    result = _run("cluster", "generate", "-f", str(missing))
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0].startswith(f"{missing}: ")


@pytest.mark.parametrize(
    ("text", "message"),
    [ERRORS["static-without-layout"], ERRORS["replicas-with-mps"], ERRORS["tpu-with-options"]],
)
def test_generate_exits_2_on_a_bad_group(text: str, message: str) -> None:
    result = _run("cluster", "generate", "--nodes", text)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [f"--nodes: {message}"]


# --------------------------------------------------------------------- fast JSON output

MIXED = (
    "2xdgx-h100:mig=dynamic",
    "2xdgx-a100:mig=static,layout=all-balanced,sharing=mps,clients=12",
    "3xl4:gpus=2,sharing=time-slicing,replicas=3",
    "1xh100-80gb-sxm:gpus=2,mig=dynamic,sharing=fractional",
    "2xtpu-v6e-4x4",
    "11xt4:gpus=1",
)


def _object_documents(groups: list[NodeGroup]) -> list[Any]:
    objects: list[Any] = list(driver_device_classes())
    for node, slices in iter_cluster(groups, CATALOG):
        objects.append(node)
        objects.extend(slices)
    return objects


def test_the_fast_json_equals_the_encoded_objects_of_a_mixed_cluster() -> None:
    groups = _groups(*MIXED)
    objects = _object_documents(groups)
    fast = list(iter_cluster_json(groups, CATALOG))
    assert len(fast) == len(objects)
    for document, obj in zip(fast, objects, strict=True):
        assert document == encode_json(obj)
        assert msgspec.json.decode(document) == kube_dict(obj)


def test_the_indented_fast_json_equals_the_indented_objects() -> None:
    groups = _groups(
        "1xdgx-a100:mig=static,layout=all-1g.10gb,sharing=time-slicing", "1xtpu-v6e-2x4"
    )
    objects = _object_documents(groups)
    fast = list(iter_cluster_json(groups, CATALOG, indent=2))
    assert fast == [msgspec.json.format(encode_json(o), indent=2) for o in objects]


def test_stamped_nodes_keep_distinct_names_and_uuids() -> None:
    groups = _groups("12xdgx-h100:mig=static,layout=all-1g.10gb")
    documents = [msgspec.json.decode(d) for d in iter_cluster_json(groups, CATALOG)]
    nodes = [d["metadata"]["name"] for d in documents if d["kind"] == "Node"]
    assert nodes == [f"dgx-h100-{i:02d}" for i in range(12)]
    uuids = [
        device["attributes"][key]["string"]
        for d in documents
        if d["kind"] == "ResourceSlice"
        for device in d["spec"]["devices"]
        for key in ("uuid",)
    ]
    assert len(uuids) == len(set(uuids)) == 12 * 8 * 7


# ------------------------------------------------------------------ generate --out files


def test_out_writes_a_json_list_with_every_object(tmp_path: Path) -> None:
    out = tmp_path / "fleet.json"
    args = [arg for group in MIXED for arg in ("--nodes", group)]
    result = _run("cluster", "generate", *args, "-o", "json", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    document = json.loads(out.read_text(encoding="utf-8"))
    assert (document["apiVersion"], document["kind"]) == ("v1", "List")
    kinds: dict[str, int] = {}
    for item in document["items"]:
        kinds[item["kind"]] = kinds.get(item["kind"], 0) + 1
    # dgx-h100 dynamic: a counters slice + 8; a100 static: 1; l4: 1; h100 dynamic x2: 1 + 2;
    # 2xtpu-v6e-4x4: 2 slices of 4 nodes, 1 each; t4: 1.
    nodes = 2 + 2 + 3 + 1 + 8 + 11
    slices = 2 * 9 + 2 * 1 + 3 * 1 + 1 * 3 + 8 * 1 + 11 * 1
    assert kinds == {"DeviceClass": CLASS_COUNT, "Node": nodes, "ResourceSlice": slices}
    assert result.stderr.splitlines() == [
        f"generated {nodes} nodes, {slices} ResourceSlices, {CLASS_COUNT} DeviceClasses"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fleet.json"]


def test_out_writes_yaml_that_loads_back_as_the_same_objects(tmp_path: Path) -> None:
    import yaml

    out = tmp_path / "fleet.yaml"
    result = _run("cluster", "generate", "--nodes", "2xl4:sharing=mps", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    document = yaml.safe_load(out.read_text(encoding="utf-8"))
    expected = [kube_dict(o) for o in _object_documents(_groups("2xl4:sharing=mps"))]
    assert document["items"] == expected


def _failing_after(documents: int, error: BaseException) -> Any:
    real = cli_main.iter_cluster_json

    def fake(*args: Any, **kwargs: Any) -> Iterator[bytes]:
        for index, document in enumerate(real(*args, **kwargs)):
            if index == documents:
                raise error
            yield document

    return fake


def test_out_leaves_no_partial_file_when_writing_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        cli_main, "iter_cluster_json", _failing_after(12, OSError(28, "No space left on device"))
    )
    out = tmp_path / "fleet.json"
    result = _run("cluster", "generate", "--nodes", "4xdgx-h100", "-o", "json", "--out", str(out))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f"--out {out}: No space left on device"]
    assert list(tmp_path.iterdir()) == []


def test_out_keeps_the_previous_file_when_generation_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "fleet.json"
    out.write_text("previous", encoding="utf-8")
    monkeypatch.setattr(cli_main, "iter_cluster_json", _failing_after(12, KeyboardInterrupt()))
    result = CliRunner().invoke(
        app, ["cluster", "generate", "--nodes", "4xdgx-h100", "-o", "json", "--out", str(out)]
    )
    assert result.exit_code != 0
    assert [p.name for p in tmp_path.iterdir()] == ["fleet.json"]
    assert out.read_text(encoding="utf-8") == "previous"


def test_a_tpu_shape_failing_mid_stream_leaves_no_partial_file(tmp_path: Path) -> None:
    out = tmp_path / "fleet.json"
    result = CliRunner().invoke(
        app,
        [
            "cluster",
            "generate",
            "--nodes",
            "2xl4",
            "--nodes",
            "1xtpu-v6e-9x9",
            "-o",
            "json",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code != 0
    assert list(tmp_path.iterdir()) == []


def test_generate_exits_2_on_an_unknown_tpu_topology(tmp_path: Path) -> None:
    out = tmp_path / "fleet.json"
    result = _run(
        "cluster", "generate", "--nodes", "2xl4", "--nodes", "1xtpu-v6e-9x9", "--out", str(out)
    )
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "--nodes: tpu-v6e-9x9: TPU model 'tpu-v6e' has no topology '9x9' "
        "(known: 1x1, 2x2, 2x4, 4x4, 4x8, 8x8, 8x16, 16x16)"
    ]


def test_out_writes_through_a_symlink_and_reports_a_full_device(tmp_path: Path) -> None:
    real = tmp_path / "real.yaml"
    real.write_text("old")
    link = tmp_path / "link.yaml"
    link.symlink_to(real)
    result = CliRunner().invoke(app, ["cluster", "generate", "--nodes", "1xl4", "--out", str(link)])
    assert result.exit_code == 0, result.stderr
    assert link.is_symlink() and "ResourceSlice" in real.read_text()
    if Path("/dev/full").exists():
        full = CliRunner().invoke(
            app, ["cluster", "generate", "--nodes", "1xl4", "--out", "/dev/full"]
        )
        assert full.exit_code == 2
        assert full.stderr.strip() == "--out /dev/full: No space left on device"
        assert Path("/dev/full").is_char_device()
