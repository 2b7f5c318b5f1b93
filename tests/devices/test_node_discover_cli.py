"""`dralloc node discover`: NVML read through a fake, slices printed; no driver is exit 3."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from fake_nvml import FakeGpu, FakeNvml
from typer.testing import CliRunner

from dralloc.cli import main
from dralloc.devices import load_catalog
from dralloc.devices.nvml import Discovery, discover
from dralloc.devices.slices import synthetic_gpus

H100 = load_catalog().gpu("h100-80gb-sxm")


def test_node_discover_prints_the_slices_the_driver_would_publish(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gpus = synthetic_gpus("gpu-box", H100, 2)
    fake = FakeNvml(
        [FakeGpu(minor=g.minor, uuid=g.uuid, bus_id="0000" + g.pci_bus_id.upper()) for g in gpus]
    )
    roots = {g.pci_bus_id: g.pcie_root for g in gpus}

    def with_fake(**options: Any) -> Discovery:
        return discover(fake, load_catalog(), pcie_root=roots.__getitem__, **options)

    monkeypatch.setattr(main, "discover_with_pynvml", with_fake)
    result = CliRunner().invoke(main.app, ["node", "discover", "--node-name", "gpu-box"])
    assert result.exit_code == 0, result.stderr
    (item,) = yaml.safe_load(result.stdout)["items"]
    assert item["kind"] == "ResourceSlice" and item["spec"]["nodeName"] == "gpu-box"
    assert [d["name"] for d in item["spec"]["devices"]] == ["gpu-0", "gpu-1"]
    uuids = [d["attributes"]["uuid"]["string"] for d in item["spec"]["devices"]]
    assert uuids == [g.uuid for g in gpus]
    assert result.stderr.strip() == "node gpu-box: 2 GPUs, 1 ResourceSlices"


def test_without_an_nvidia_driver_node_discover_exits_3_with_a_clear_message() -> None:
    result = CliRunner().invoke(main.app, ["node", "discover", "--node-name", "n"])
    if result.exit_code == 0:
        pytest.skip("this machine has an NVIDIA driver")
    assert result.exit_code == 3
    assert "NVML library not found (no NVIDIA driver on this machine)" in result.stderr
    assert "Traceback" not in result.stderr
