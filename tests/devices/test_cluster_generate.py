"""`dralloc cluster generate`: node groups in, a fleet's objects out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dralloc.cli.main import app
from dralloc.devices import load_catalog
from dralloc.devices.cluster import ClusterSpecError, generate_cluster, parse_group


def test_a_group_parses_count_shape_and_options() -> None:
    group = parse_group("16xdgx-h100:mig=dynamic")
    assert (group.count, group.shape, group.options) == (16, "dgx-h100", {"mig": "dynamic"})


@pytest.mark.parametrize("text", ["dgx-h100", "0xdgx-h100", "2xdgx-h100:mig", "x"])
def test_a_malformed_group_is_refused(text: str) -> None:
    with pytest.raises(ClusterSpecError):
        parse_group(text)


def test_dgx_nodes_get_eight_gpus_and_tpu_hosts_their_share_of_chips() -> None:
    cluster = generate_cluster(
        [parse_group("2xdgx-h100:mig=dynamic"), parse_group("2xtpu-v6e-4x4")], load_catalog()
    )
    names = [n.metadata.name for n in cluster.nodes]
    # 2xtpu-v6e-4x4: two slices, each a node pool of four 4-chip VMs
    tpu_names = [f"tpu-v6e-4x4-{s:02d}-{w}" for s in range(2) for w in range(4)]
    assert names == ["dgx-h100-00", "dgx-h100-01", *tpu_names]
    gpu_slices = [s for s in cluster.slices if s.spec.node_name == "dgx-h100-00"]
    assert len(gpu_slices) == 9  # counters-only slice plus one per GPU
    (tpu_slice,) = [s for s in cluster.slices if s.spec.node_name == "tpu-v6e-4x4-00-0"]
    assert len(tpu_slice.spec.devices) == 4  # 16 chips over 4 VMs
    assert cluster.nodes[0].metadata.labels["nvidia.com/gpu.count"] == "8"


def test_mig_on_a_gpu_without_mig_is_refused() -> None:
    with pytest.raises(ClusterSpecError, match="does not support MIG"):
        generate_cluster([parse_group("1xl4:mig=dynamic")], load_catalog())


def test_generated_cluster_allocates_through_the_cli(tmp_path: Path) -> None:
    out = tmp_path / "cluster.json"
    runner = CliRunner()
    generated = runner.invoke(
        app, ["cluster", "generate", "--nodes", "2xl4:gpus=2", "-o", "json", "--out", str(out)]
    )
    assert generated.exit_code == 0, generated.stderr
    assert "generated 2 nodes" in generated.stderr
    claim = tmp_path / "claim.yaml"
    claim.write_text(
        "apiVersion: resource.k8s.io/v1\nkind: ResourceClaim\n"
        "metadata: {name: two, namespace: default}\n"
        "spec:\n  devices:\n    requests:\n"
        "    - {name: gpus, exactly: {deviceClassName: gpu.nvidia.com, count: 2}}\n"
    )
    result = runner.invoke(app, ["allocate", "-f", str(out), "-f", str(claim), "-o", "json"])
    assert result.exit_code == 0, result.stderr
    allocation = json.loads(result.stdout)["items"][0]["status"]["allocation"]
    assert [r["device"] for r in allocation["devices"]["results"]] == ["gpu-0", "gpu-1"]
    assert "allocated on node l4-00" in result.stderr


def test_an_unknown_model_exits_2_naming_the_known_ones() -> None:
    result = CliRunner().invoke(app, ["cluster", "generate", "--nodes", "2xdgx-x100"])
    assert result.exit_code == 2
    assert "unknown GPU 'x100'" in result.stderr and "h100-80gb-sxm" in result.stderr
