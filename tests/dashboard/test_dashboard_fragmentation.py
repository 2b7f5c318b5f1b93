"""The fragmentation tile counts GPU capacity as the fleet draws it (MIG slices, shares) and
asks the allocator whether the typical pending claim fits where capacity is free: sixteen
free 2g.20gb instances beside a claim for a 3g.40gb are stranded, a free dynamic-MIG GPU that
could carve one is not, and a shared GPU's leftover share too small for the waiting share is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dralloc.cli.dashboard import offline_dashboard
from dralloc.cli.inputs import read_cluster
from dralloc.cli.main import app
from dralloc.features import Features
from dralloc.scheduler.config import SchedulerConfiguration

MIG_3G = """\
apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata: {name: mig-3g, namespace: default}
spec:
  spec:
    devices:
      requests:
      - name: mig
        exactly:
          deviceClassName: mig.nvidia.com
          selectors:
          - cel: {expression: "device.attributes['gpu.nvidia.com'].profile == '3g.40gb'"}
---
apiVersion: v1
kind: Pod
metadata: {name: wants-3g, namespace: default}
spec:
  containers: [{name: c, image: busybox}]
  resourceClaims: [{name: mig, resourceClaimTemplateName: mig-3g}]
"""

SHARES = """\
apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata: {name: cores-%(cores)s, namespace: default}
spec:
  spec:
    devices:
      requests:
      - name: gpu
        exactly:
          deviceClassName: gpu-fractional.dralloc.io
          capacity: {requests: {cores: "%(cores)s"}}
---
apiVersion: v1
kind: Pod
metadata: {name: share-%(name)s, namespace: default}
spec:
  containers: [{name: c, image: busybox}]
  resourceClaims: [{name: gpu, resourceClaimTemplateName: cores-%(cores)s}]
"""


def _summary(tmp_path: Path, groups: list[str], pods: str) -> dict[str, Any]:
    fleet = tmp_path / "fleet.yaml"
    args = ["cluster", "generate", "--out", str(fleet)]
    for group in groups:
        args += ["--nodes", group]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (tmp_path / "pods.yaml").write_text(pods)
    cluster = read_cluster([str(fleet), str(tmp_path / "pods.yaml")])
    published, _ = offline_dashboard(cluster, SchedulerConfiguration(), Features(), now=0.0)
    _, document = published.latest()
    assert document is not None
    summary: dict[str, Any] = document["summary"]
    return summary


def test_free_mig_instances_too_small_for_the_waiting_one_are_stranded(tmp_path: Path) -> None:
    # Two H100s carved into 2g.20gb instances, none in use: every free slice is stranded,
    # though a count of devices (1 asked, 6 free) would call it 0.
    carved = "1xh100-80gb-sxm:gpus=2,mig=static,layout=3x2g.20gb,name=carved"
    summary = _summary(tmp_path, [carved], MIG_3G)
    assert (summary["pendingPods"], summary["usedGpus"]) == (1, 0.0)
    assert summary["fragmentation"] == 1.0


def test_a_free_gpu_that_could_carve_the_instance_is_not_stranded(tmp_path: Path) -> None:
    # The pod waits for the carved node (its nodeSelector); the dynamic-MIG node's free GPU
    # could carve a 3g.40gb, so its capacity is free, not stranded: 2 of 3 free GPUs are.
    carved = "1xh100-80gb-sxm:gpus=2,mig=static,layout=3x2g.20gb,name=carved"
    dynamic = "1xh100-80gb-sxm:gpus=1,mig=dynamic,name=dynamic"
    pinned = MIG_3G.replace(
        "  containers:", "  nodeSelector: {kubernetes.io/hostname: carved-00}\n  containers:"
    )
    summary = _summary(tmp_path, [carved, dynamic], pinned)
    assert (summary["pendingPods"], summary["usedGpus"], summary["gpus"]) == (1, 0.0, 3)
    assert summary["fragmentation"] == pytest.approx(2 / 3, abs=1e-4)


def test_shared_gpus_count_their_free_share(tmp_path: Path) -> None:
    # One L4 shared by fractional cores: 70 % taken, then a pod asking 50 % waits. The
    # free 30 % is stranded; a second, empty L4 node would take the pod.
    pods = SHARES % {"cores": "70", "name": "a"} + "---\n" + SHARES % {"cores": "50", "name": "b"}
    summary = _summary(tmp_path, ["1xl4:gpus=1,sharing=fractional,name=shared"], pods)
    assert (summary["pendingPods"], summary["usedGpus"]) == (1, 0.7)
    assert summary["fragmentation"] == pytest.approx(1.0)
