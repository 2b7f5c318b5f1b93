"""Whole TPU slices from `dralloc.devices`: `COUNTxtpu-<gen>-<shape>` is COUNT slices, a
multi-host slice one GKE node pool of `node_count` nodes with GKE's TPU labels, every node's
ResourceSlice carrying exactly the TPU DRA driver's attributes; `TpuSliceLayout` puts each
chip of a slice at a unique place inside the shape.
"""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dralloc.api.io import dump, kube_dict, list_document, load_text
from dralloc.api.validation import validate
from dralloc.devices import (
    TpuModel,
    TpuSliceLayout,
    TpuTopology,
    load_catalog,
    tpu_node_slices,
    tpu_slice_layout,
)
from dralloc.devices.cluster import (
    ClusterSpecError,
    GeneratedCluster,
    generate_cluster,
    iter_cluster_json,
    parse_cluster_file,
    parse_group,
)
from dralloc.errors import InputError

CATALOG = load_catalog()
# What kubernetes-sigs/dra-driver-google-tpu publishes for every chip (AllocatableDevice.GetDevice).
DRIVER_ATTRIBUTES = {"index", "uuid", "tpuGen", "brand", "accelerator", "chipCount", "topology"}
POOL = "cloud.google.com/gke-nodepool"


def _cluster(*groups: str) -> GeneratedCluster:
    return generate_cluster([parse_group(g) for g in groups], CATALOG)


def test_two_v6e_4x8_slices_are_two_node_pools_of_eight_four_chip_nodes() -> None:
    cluster = _cluster("2xtpu-v6e-4x8")
    names = [n.metadata.name for n in cluster.nodes]
    assert names == [f"tpu-v6e-4x8-{s:02d}-{w}" for s in range(2) for w in range(8)]
    pools = {n.metadata.name: n.metadata.labels[POOL] for n in cluster.nodes}
    assert sorted(set(pools.values())) == ["tpu-v6e-4x8-00", "tpu-v6e-4x8-01"]
    assert all(name.startswith(pool + "-") for name, pool in pools.items())
    assert cluster.nodes[9].metadata.labels == {
        "kubernetes.io/hostname": "tpu-v6e-4x8-01-1",
        "cloud.google.com/gke-tpu-accelerator": "tpu-v6e-slice",
        "cloud.google.com/gke-tpu-topology": "4x8",
        "cloud.google.com/gke-accelerator-count": "4",
        "cloud.google.com/gke-nodepool": "tpu-v6e-4x8-01",
        "node.kubernetes.io/instance-type": "ct6e-standard-4t",
    }
    assert [len(s.spec.devices) for s in cluster.slices] == [4] * 16
    assert sum(len(s.spec.devices) for s in cluster.slices) == 2 * 32


@pytest.mark.parametrize(
    ("group", "nodes", "chips", "machine"),
    [
        ("1xtpu-v5p-2x2x2", 2, 4, "ct5p-hightpu-4t"),
        ("1xtpu-v5p-2x4x4", 8, 4, "ct5p-hightpu-4t"),
        ("1xtpu-v5p-4x4x4", 16, 4, "ct5p-hightpu-4t"),
        ("1xtpu-v5e-4x4", 4, 4, "ct5lp-hightpu-4t"),
        ("1xtpu-v5e-16x16", 64, 4, "ct5lp-hightpu-4t"),
        ("1xtpu-v6e-8x8", 16, 4, "ct6e-standard-4t"),
        ("1xtpu-v4-2x2x4", 4, 4, "ct4p-hightpu-4t"),
    ],
)
def test_a_multi_host_slice_has_the_nodes_and_machine_type_gke_gives_it(
    group: str, nodes: int, chips: int, machine: str
) -> None:
    cluster = _cluster(group)
    assert len(cluster.nodes) == nodes
    assert {n.metadata.labels["node.kubernetes.io/instance-type"] for n in cluster.nodes} == {
        machine
    }
    assert {n.metadata.labels[POOL] for n in cluster.nodes} == {f"{group[2:]}-00"}
    assert {len(s.spec.devices) for s in cluster.slices} == {chips}


@pytest.mark.parametrize(
    ("group", "chips", "machine"),
    [
        ("3xtpu-v6e-1x1", 1, "ct6e-standard-1t"),
        ("3xtpu-v6e-2x2", 4, "ct6e-standard-4t"),
        ("3xtpu-v6e-2x4", 8, "ct6e-standard-8t"),
        ("3xtpu-v5e-2x4", 8, "ct5lp-hightpu-8t"),
        ("3xtpu-v5p-2x2x1", 4, "ct5p-hightpu-4t"),
    ],
)
def test_single_host_slices_are_one_node_each_in_one_node_pool(
    group: str, chips: int, machine: str
) -> None:
    cluster = _cluster(group)
    shape = group[2:]
    assert [n.metadata.name for n in cluster.nodes] == [f"{shape}-{i:02d}" for i in range(3)]
    assert {n.metadata.labels[POOL] for n in cluster.nodes} == {shape}
    assert {n.metadata.labels["node.kubernetes.io/instance-type"] for n in cluster.nodes} == {
        machine
    }
    assert {len(s.spec.devices) for s in cluster.slices} == {chips}


def test_every_chip_carries_exactly_the_driver_attributes_with_the_slice_shape() -> None:
    cluster = _cluster("1xtpu-v5p-2x2x2", "1xtpu-v6e-4x4")
    uuids = set()
    for slice_ in cluster.slices:
        node = slice_.spec.node_name
        assert slice_.spec.driver == "tpu.google.com"
        assert slice_.spec.pool.name == node
        for index, device in enumerate(slice_.spec.devices):
            assert set(device.attributes) == DRIVER_ATTRIBUTES
            assert device.name == str(index)  # vfio-bound chips
            assert device.attributes["index"].int_value == index
            assert device.attributes["chipCount"].int_value == 4
            assert device.attributes["brand"].string == "Google"
            assert device.capacity in (None, {})
            chip_uuid = device.attributes["uuid"].string
            assert chip_uuid is not None and chip_uuid.startswith("tpu-")
            uuids.add(chip_uuid)
    topology = {
        s.spec.node_name: s.spec.devices[0].attributes["topology"].string for s in cluster.slices
    }
    assert topology == {
        "tpu-v5p-2x2x2-00-0": "2x2x2",
        "tpu-v5p-2x2x2-00-1": "2x2x2",
        **{f"tpu-v6e-4x4-00-{w}": "4x4" for w in range(4)},
    }
    generations = {
        str(s.spec.node_name)[:7]: s.spec.devices[0].attributes["tpuGen"].string
        for s in cluster.slices
    }
    assert generations == {"tpu-v5p": "v5p", "tpu-v6e": "v6e"}
    assert len(uuids) == 2 * 4 + 4 * 4


def test_the_generated_objects_load_and_validate_as_kubernetes_objects() -> None:
    cluster = _cluster("2xtpu-v6e-4x8", "1xtpu-v5p-2x2x2", "2xtpu-v5e-2x4")
    documents = [
        *(kube_dict(c) for c in cluster.classes),
        *(kube_dict(n) for n in cluster.nodes),
        *(kube_dict(s) for s in cluster.slices),
    ]
    text = dump(list_document(documents), "yaml")
    loaded, problems = load_text(text, "fleet.yaml")
    assert problems == []
    assert len(loaded) == len(documents) == len(cluster.classes) + 2 * (16 + 2 + 2)
    assert [p for item in loaded for p in validate(item.obj)] == []


def test_the_streamed_json_is_the_same_objects_slice_by_slice() -> None:
    groups = [parse_group("2xtpu-v5p-2x2x2:name=train"), parse_group("1xtpu-v6e-2x4")]
    cluster = generate_cluster(groups, CATALOG)
    documents = list(iter_cluster_json(groups, CATALOG))
    nodes = [d for d in documents if b'"kind":"Node"' in d]
    assert len(nodes) == len(cluster.nodes) == 2 * 2 + 1
    assert b'"name":"train-01-1"' in nodes[3]


def test_a_cluster_file_counts_tpu_slices_too() -> None:
    text = "apiVersion: dralloc.io/v1alpha1\nkind: Cluster\nnodeGroups:\n"
    text += "- {count: 2, shape: tpu-v5p-2x2x2}\n"
    cluster = generate_cluster(parse_cluster_file(text, "fleet.yaml"), CATALOG)
    assert [n.metadata.name for n in cluster.nodes] == [
        "tpu-v5p-2x2x2-00-0",
        "tpu-v5p-2x2x2-00-1",
        "tpu-v5p-2x2x2-01-0",
        "tpu-v5p-2x2x2-01-1",
    ]


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        (
            "tpu-v5p-2x2",
            "tpu-v5p-2x2: TPU model 'tpu-v5p' has no topology '2x2' (known: 2x2x1, 2x2x2, "
            "2x4x4, 4x4x4, 4x4x8, 4x8x8, 8x8x8, 8x8x16, 8x16x16, 16x16x16, 16x16x24)",
        ),
        (
            "tpu-v6e-4x4x4",
            "tpu-v6e-4x4x4: TPU model 'tpu-v6e' has no topology '4x4x4' "
            "(known: 1x1, 2x2, 2x4, 4x4, 4x8, 8x8, 8x16, 16x16)",
        ),
        (
            "tpu-v7-4x4x4",
            "tpu-v7-4x4x4: tpu-v7: the TPU DRA driver does not support this generation",
        ),
    ],
)
def test_a_shape_the_generation_does_not_have_is_refused_with_the_known_shapes(
    shape: str, message: str
) -> None:
    with pytest.raises(ClusterSpecError) as caught:
        _cluster(f"1x{shape}")
    assert str(caught.value) == message


# ------------------------------------------------------------------------------- layout


def test_a_v6e_4x8_slice_tiles_its_chips_with_2x2_host_boxes() -> None:
    layout = tpu_slice_layout(CATALOG.tpu("tpu-v6e"), "4x8")
    assert (layout.nodes, layout.chips_per_node) == (8, 4)
    assert layout.chips_per_host_bounds == (2, 2, 1)
    assert layout.host_bounds == (2, 4, 1)
    assert layout.chip_coordinates(0) == ((0, 0, 0), (1, 0, 0), (0, 1, 0), (1, 1, 0))
    assert layout.chip_coordinates(7) == ((2, 6, 0), (3, 6, 0), (2, 7, 0), (3, 7, 0))
    with pytest.raises(ValueError, match=re.escape("worker 8 is not in 0..7")):
        layout.chip_coordinates(8)


def test_a_v5p_2x2x2_slice_stacks_its_two_hosts_along_z() -> None:
    layout = tpu_slice_layout(CATALOG.tpu("tpu-v5p"), "2x2x2")
    assert layout.host_bounds == (1, 1, 2)
    assert {c[2] for c in layout.chip_coordinates(0)} == {0}
    assert {c[2] for c in layout.chip_coordinates(1)} == {1}


def _check_layout(layout: TpuSliceLayout) -> None:
    bounds = layout.topology.bounds
    assert layout.chips == math.prod(layout.topology.dimensions) == math.prod(bounds)
    assert layout.nodes * layout.chips_per_node == layout.chips
    coordinates = [c for w in range(layout.nodes) for c in layout.chip_coordinates(w)]
    assert len(coordinates) == layout.chips
    assert len(set(coordinates)) == layout.chips
    for coordinate in coordinates:
        assert all(0 <= c < b for c, b in zip(coordinate, bounds, strict=True))


_CATALOG_SHAPES = [
    (model, topology.shape)
    for model in CATALOG.tpus
    if model.tpu_gen is not None
    for topology in model.topologies
    if topology.chips <= 4096
]


@given(st.sampled_from(_CATALOG_SHAPES))
def test_every_catalog_shape_puts_every_chip_once_inside_the_shape(
    entry: tuple[TpuModel, str],
) -> None:
    model, shape = entry
    layout = tpu_slice_layout(model, shape)
    _check_layout(layout)
    (slice_,) = tpu_node_slices("n", layout.model, shape)
    assert len(slice_.spec.devices) == layout.chips_per_node


@given(
    chips_per_node=st.sampled_from([1, 4, 8]),
    hosts=st.tuples(*(st.integers(1, 4) for _ in range(3))),
    three_d=st.booleans(),
)
def test_any_shape_tiled_by_host_boxes_puts_every_chip_once_inside_it(
    chips_per_node: int, hosts: tuple[int, int, int], three_d: bool
) -> None:
    box = {1: (1, 1, 1), 4: (2, 2, 1), 8: (2, 4, 1)}[chips_per_node]
    dims = [b * h for b, h in zip(box, hosts, strict=True)]
    if not three_d:
        dims[0] *= dims[2]  # a 2D shape: fold z into x
        dims.pop()
        hosts = (hosts[0] * hosts[2], hosts[1], 1)
    shape = "x".join(map(str, dims))
    nodes = math.prod(hosts)
    topology = TpuTopology(shape=shape, chips=nodes * chips_per_node, hosts=nodes, nodes=nodes)
    layout = TpuSliceLayout(CATALOG.tpu("tpu-v6e"), topology)
    assert layout.host_bounds == hosts
    assert layout.machine_type.endswith(f"-{chips_per_node}t")
    _check_layout(layout)


# ------------------------------------------------------------------------------- catalog


def _catalog_with(tmp_path: Path, old: str, new: str) -> Path:
    source = Path(__file__).resolve().parents[2] / "src" / "dralloc" / "devices" / "data"
    for name in ("gpus.yaml", "tpus.yaml"):
        shutil.copy(source / name, tmp_path / name)
    text = (tmp_path / "tpus.yaml").read_text(encoding="utf-8")
    assert old in text
    (tmp_path / "tpus.yaml").write_text(text.replace(old, new), encoding="utf-8")
    return tmp_path


def test_a_catalog_shape_its_host_boxes_do_not_tile_is_refused(tmp_path: Path) -> None:
    # 8 chips per node are a 2x4x1 box: they tile 2x4 but not 4x2.
    directory = _catalog_with(
        tmp_path, "{shape: 2x4, chips: 8, hosts: 1}", "{shape: 4x2, chips: 8, hosts: 1}"
    )
    with pytest.raises(InputError) as caught:
        load_catalog(directory)
    assert str(caught.value).splitlines() == [
        f"{directory}/tpus.yaml: TpuModel {name}: topologies[2].nodes: "
        "4x2: host box 2x4x1 does not tile it"
        for name in ("tpu-v5e", "tpu-v6e")
    ]


def test_a_catalog_shape_whose_nodes_split_into_no_machine_type_is_refused(
    tmp_path: Path,
) -> None:
    directory = _catalog_with(
        tmp_path,
        "{shape: 4x8, chips: 32, hosts: 4, nodes: 8}",
        "{shape: 4x8, chips: 32, hosts: 4, nodes: 16}",
    )
    with pytest.raises(InputError) as caught:
        load_catalog(directory)
    assert str(caught.value).splitlines() == [
        f"{directory}/tpus.yaml: TpuModel {name}: topologies[4].nodes: "
        "2 chips per node is not one of chipsPerHost [1, 4, 8]"
        for name in ("tpu-v5e", "tpu-v6e")
    ]
