"""`dralloc explain`: table and JSON output, verdicts per device, exit codes 0 / 1 / 3."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from cli_kit import CLUSTER, INVALID_POOL, QUICKSTART, claim, documents, invoke, write


def _json(*args: str) -> tuple[int, list[dict[str, Any]]]:
    result = invoke("explain", *args, "-o", "json")
    explanations = json.loads(result.stdout)
    assert isinstance(explanations, list)
    return result.exit_code, explanations


def _verdicts(explanation: dict[str, Any], request: int = 0) -> dict[str, str]:
    return {d["device"]: d["verdict"] for d in explanation["requests"][request]["devices"]}


def test_explain_table_shows_each_device_and_why_for_the_quickstart() -> None:
    result = invoke(
        "explain", "-f", str(QUICKSTART), "--claim", "training-0", "--node", "gpu-node-1", "--all"
    )
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith("claim default/training-0 on node gpu-node-1: fits")
    row = next(line for line in lines if "gpu.nvidia.com/gpu-node-1/gpu-0" in line)
    assert "in use" in row
    assert "by default/inference-0" in row
    for device in ("gpu-1", "gpu-2", "gpu-3"):
        row = next(line for line in lines if f"gpu.nvidia.com/gpu-node-1/{device}" in line)
        assert "fits" in row


def test_explain_json_has_a_verdict_for_every_device_the_node_sees() -> None:
    code, explanations = _json(
        "-f", str(QUICKSTART), "--claim", "default/training-0", "--node", "gpu-node-1"
    )
    assert code == 0
    (explanation,) = explanations
    assert explanation["claim"] == "default/training-0"
    assert explanation["node"] == "gpu-node-1"
    assert explanation["fits"] is True
    assert explanation["error"] is None
    assert explanation["requests"][0]["name"] == "gpus"
    assert explanation["requests"][0]["needed"] == 2
    assert _verdicts(explanation) == {
        "gpu.nvidia.com/gpu-node-1/gpu-0": "in use",
        "gpu.nvidia.com/gpu-node-1/gpu-1": "fits",
        "gpu.nvidia.com/gpu-node-1/gpu-2": "fits",
        "gpu.nvidia.com/gpu-node-1/gpu-3": "fits",
    }
    chosen = [r["device"] for r in explanation["allocation"]["devices"]["results"]]
    assert chosen == ["gpu-2", "gpu-3"]


def test_explain_without_node_explains_every_node_in_name_order(tmp_path: Path) -> None:
    path = write(tmp_path, "in.yaml", documents(CLUSTER, claim("two", count=2)))
    code, explanations = _json("-f", path, "--claim", "two")
    assert code == 0  # it fits on node-b
    assert [(e["node"], e["fits"]) for e in explanations] == [("node-a", False), ("node-b", True)]


def test_explain_exits_1_when_the_claim_fits_nowhere(tmp_path: Path) -> None:
    path = write(tmp_path, "in.yaml", documents(CLUSTER, claim("three", count=3)))
    code, explanations = _json("-f", path, "--claim", "three")
    assert code == 1
    assert [e["fits"] for e in explanations] == [False, False]
    assert all(e["allocation"] is None for e in explanations)
    table = invoke("explain", "-f", path, "--claim", "three")
    assert table.exit_code == 1


def test_explain_exits_3_and_reports_the_error_for_an_unknown_class(tmp_path: Path) -> None:
    path = write(tmp_path, "in.yaml", documents(CLUSTER, claim("c", device_class="nosuch")))
    code, explanations = _json("-f", path, "--claim", "c", "--node", "node-a")
    assert code == 3
    (explanation,) = explanations
    assert explanation["fits"] is False
    assert "could not retrieve device class nosuch" in explanation["error"]


def test_explain_exits_3_for_a_cel_runtime_error(tmp_path: Path) -> None:
    bad = claim("bad", selector='device.attributes["gpu.example.com"].nosuch == "x"')
    path = write(tmp_path, "in.yaml", documents(CLUSTER, bad))
    result = invoke("explain", "-f", path, "--claim", "bad", "--node", "node-a")
    assert result.exit_code == 3
    assert "CEL runtime error" in result.stdout


def test_explain_names_the_reason_each_device_is_refused(tmp_path: Path) -> None:
    devices = textwrap.dedent(
        """\
        apiVersion: resource.k8s.io/v1
        kind: ResourceSlice
        metadata: {name: mixed}
        spec:
          driver: gpu.example.com
          nodeName: node-a
          pool: {name: mixed, generation: 1, resourceSliceCount: 1}
          devices:
          - name: small
            attributes: {model: {string: a100}}
            capacity: {memory: {value: 10Gi}}
          - name: tainted
            attributes: {model: {string: h100}}
            capacity: {memory: {value: 80Gi}}
            taints:
            - {key: maintenance, value: "true", effect: NoSchedule}
          - name: good
            attributes: {model: {string: h100}}
            capacity: {memory: {value: 80Gi}}
        ---
        apiVersion: resource.k8s.io/v1
        kind: ResourceSlice
        metadata: {name: nics}
        spec:
          driver: nic.example.com
          nodeName: node-a
          pool: {name: nics, generation: 1, resourceSliceCount: 1}
          devices:
          - name: eth0
        """
    )
    big = claim(
        "big",
        selector='device.capacity["gpu.example.com"].memory.compareTo(quantity("40Gi")) > 0',
    )
    path = write(tmp_path, "in.yaml", documents(CLUSTER, devices, big))
    code, (explanation,) = _json("-f", path, "--claim", "big", "--node", "node-a")
    assert code == 0
    verdicts = _verdicts(explanation)
    assert verdicts["gpu.example.com/node-a/gpu-0"] == "request selector is false"
    assert verdicts["gpu.example.com/mixed/small"] == "request selector is false"
    assert verdicts["gpu.example.com/mixed/tainted"] == "untolerated taint"
    assert verdicts["gpu.example.com/mixed/good"] == "fits"
    assert verdicts["nic.example.com/nics/eth0"] == "class selector is false"
    # node-b's devices are not reachable from node-a, so they get no verdict at all.
    assert not any("/node-b/" in device for device in verdicts)


def test_explain_reports_exhausted_counters_with_the_amount_missing(tmp_path: Path) -> None:
    slices = textwrap.dedent(
        """\
        apiVersion: resource.k8s.io/v1
        kind: ResourceSlice
        metadata: {name: parts}
        spec:
          driver: gpu.example.com
          nodeName: node-a
          pool: {name: parts, generation: 1, resourceSliceCount: 2}
          devices:
          - name: half
            consumesCounters:
            - counterSet: gpu
              counters: {memory: {value: 40Gi}}
          - name: whole
            consumesCounters:
            - counterSet: gpu
              counters: {memory: {value: 80Gi}}
        ---
        apiVersion: resource.k8s.io/v1
        kind: ResourceSlice
        metadata: {name: parts-counters}
        spec:
          driver: gpu.example.com
          nodeName: node-a
          pool: {name: parts, generation: 1, resourceSliceCount: 2}
          sharedCounters:
          - name: gpu
            counters: {memory: {value: 80Gi}}
        ---
        apiVersion: resource.k8s.io/v1
        kind: ResourceClaim
        metadata: {name: held, namespace: default}
        spec:
          devices:
            requests:
            - name: gpus
              exactly: {deviceClassName: gpu}
        status:
          allocation:
            devices:
              results:
              - {request: gpus, driver: gpu.example.com, pool: parts, device: half}
        """
    )
    path = write(tmp_path, "in.yaml", documents(CLUSTER, slices, claim("more")))
    code, (explanation,) = _json("-f", path, "--claim", "more", "--node", "node-a")
    assert code == 0  # node-a's own gpu-0 still fits
    devices = {d["device"]: d for d in explanation["requests"][0]["devices"]}
    whole = devices["gpu.example.com/parts/whole"]
    assert whole["verdict"] == "counters exhausted"
    assert "memory" in whole["detail"]
    assert "40Gi" in whole["detail"]
    assert devices["gpu.example.com/parts/half"]["verdict"] == "in use"


def test_explain_exits_0_when_the_claim_fits_beside_a_node_with_an_invalid_pool(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "in.yaml", documents(CLUSTER, INVALID_POOL, claim("two", count=2)))
    code, explanations = _json("-f", path, "--claim", "two")
    assert [(e["node"], e["fits"]) for e in explanations] == [("node-a", False), ("node-b", True)]
    assert code == 0
