"""`dralloc simulate --autoscaling-objects`: a ProvisioningRequest that no autoscaler of the
file's mode serves (cluster-autoscaler without `enableProvisioningRequests`) is kept and never
served, and the command says so once on stderr before the runs; the run itself succeeds."""

from __future__ import annotations

from pathlib import Path

from cli_kit import invoke, write
from test_simulate_shard_objects import CONFIG, MANIFESTS, NODES, PODS

REQUEST = """\
---
apiVersion: autoscaling.x-k8s.io/v1
kind: ProvisioningRequest
metadata: {name: pr1, namespace: default}
spec:
  provisioningClassName: check-capacity.autoscaling.x-k8s.io
  podSets:
  - podTemplateRef: {name: gpu-slot}
    count: 1
"""


def test_a_request_the_mode_never_serves_is_named_once_on_stderr(tmp_path: Path) -> None:
    directory = tmp_path / "openb"
    directory.mkdir()
    (directory / "openb_node_list_gpu_node.csv").write_text(NODES)
    (directory / "openb_pod_list_default.csv").write_text(PODS)
    scaling = write(tmp_path, "autoscaling.yaml", CONFIG)
    objects = write(tmp_path, "objects.yaml", MANIFESTS.replace("REPLICAS", "0") + REQUEST)
    result = invoke(
        *["simulate", "--mode", "replay", "--trace-dir", str(directory), "--seeds", "1"],
        *["--policy", "packing", "--jobs", "1", "--autoscaling", scaling],
        *["--autoscaling-objects", objects, "--out", str(tmp_path / "out")],
    )
    assert result.exit_code == 0, result.stderr
    warned = [line for line in result.stderr.splitlines() if "default/pr1" in line]
    assert len(warned) == 1, result.stderr
    assert warned[0].startswith(f"{objects}: ProvisioningRequest default/pr1 never served"), warned
