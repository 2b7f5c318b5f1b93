"""The README's walk-through, as a user runs it: `dralloc nodes simulate` publishes a GPU node
with DynamicMIG, `dralloc scheduler` runs beside it with its claim controller, an example's
manifests go in with `kubectl apply` (examples/cluster-mode.yaml: pods naming
`schedulerName: dralloc`, claims from templates), and `kubectl get pods,resourceclaims` shows
them running on their allocated MIG devices."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from controlplane import ApiServer, Kubectl
from livekit import unique

pytestmark = pytest.mark.k8s

DRALLOC = Path(sys.executable).with_name("dralloc")
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cluster-mode.yaml"


def test_simulated_mig_node_scheduler_and_kubectl_apply_of_an_example(
    apiserver: ApiServer, namespace: str, kubectl: Kubectl, tmp_path: Path
) -> None:
    owner = unique("walk")
    kubeconfig = str(apiserver.admin_kubeconfig)
    logs = [(tmp_path / "nodes.log").open("wb"), (tmp_path / "scheduler.log").open("wb")]
    fleet = subprocess.Popen(
        [
            str(DRALLOC),
            "nodes",
            "simulate",
            "--kubeconfig",
            kubeconfig,
            "--nodes",
            "1xh100-80gb-sxm:gpus=1,mig=dynamic",
            "--name-prefix",
            f"{owner}-",
            "--label",
            f"dralloc.dev/owner={owner}",
        ],
        stdout=logs[0],
        stderr=subprocess.STDOUT,
    )
    scheduler = subprocess.Popen(
        [
            str(DRALLOC),
            "scheduler",
            "--kubeconfig",
            kubeconfig,
            "--owned-nodes",
            f"dralloc.dev/owner={owner}",
            "--controllers",
            "scheduler,resourceclaim,gc",
            "--no-leader-elect",
            "--metrics-bind-address",
            "127.0.0.1:0",
        ],
        stdout=logs[1],
        stderr=subprocess.STDOUT,
    )
    try:
        kubectl("apply", "-n", namespace, "-f", str(EXAMPLE))
        deadline = time.monotonic() + 90
        shown = ""
        while time.monotonic() < deadline:
            shown = kubectl("get", "pods,resourceclaims", "-n", namespace, "--no-headers").stdout
            lines = shown.splitlines()
            running = [line for line in lines if line.startswith("pod/") and "Running" in line]
            reserved = [line for line in lines if "allocated,reserved" in line]
            if len(running) == 2 and len(reserved) == 2:
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"pods not running on allocated claims:\n{shown}")
        wide = kubectl("get", "pods", "-n", namespace, "-o", "wide", "--no-headers").stdout
        assert wide.count(f"{owner}-") == 2, wide
    finally:
        for process in (scheduler, fleet):
            process.send_signal(signal.SIGTERM)
        codes = [process.wait(60) for process in (scheduler, fleet)]
        for handle in logs:
            handle.close()
    assert codes == [0, 0], [(tmp_path / n).read_text() for n in ("scheduler.log", "nodes.log")]
