"""`dralloc schedule` on the repository's examples, as their comments run them: the quickstart
cluster takes a pod beside its claims (its nodes report a kubelet's allocatable), and the
cluster-mode manifests, written for dralloc's live scheduler (`schedulerName: dralloc`), place
offline on the node they were written for with the live scheduler's configuration."""

from __future__ import annotations

import re
from pathlib import Path

from cli_kit import QUICKSTART, ROOT, invoke, output_list, stderr_lines, write

CLUSTER_MODE = ROOT / "examples" / "cluster-mode.yaml"
CLUSTER_MODE_SCHEDULER = ROOT / "examples" / "cluster-mode-scheduler.yaml"

TRAINER = """\
apiVersion: v1
kind: Pod
metadata: {name: trainer-0, namespace: default}
spec:
  resourceClaims: [{name: gpus, resourceClaimName: training-0}]
  containers:
  - name: train
    image: registry.example.com/train:1
    resources:
      requests: {cpu: "8", memory: 64Gi}
      claims: [{name: gpus}]
"""


def test_a_pod_added_to_the_quickstart_cluster_is_placed_with_its_claim(tmp_path: Path) -> None:
    result = invoke("schedule", "-f", str(QUICKSTART), "-f", write(tmp_path, "pod.yaml", TRAINER))
    assert result.exit_code == 0, result.stderr
    assert stderr_lines(result) == ["scheduled 1 of 1 pending pods"]
    pod, claim = output_list(result)["items"]
    assert pod["spec"]["nodeName"] == "gpu-node-1"
    results = claim["status"]["allocation"]["devices"]["results"]
    assert [(r["pool"], r["device"]) for r in results] == [
        ("gpu-node-1", "gpu-2"),
        ("gpu-node-1", "gpu-3"),
    ]


def test_the_cluster_mode_pods_schedule_offline_with_the_live_configuration(
    tmp_path: Path,
) -> None:
    nodes = str(tmp_path / "h100.yaml")
    generated = invoke(
        "cluster", "generate", "--nodes", "1xh100-80gb-sxm:gpus=1,mig=dynamic", "-o", "yaml",
        "--out", nodes,
    )  # fmt: skip
    assert generated.exit_code == 0, generated.stderr
    result = invoke(
        "schedule", "-f", nodes, "-f", str(CLUSTER_MODE), "--config", str(CLUSTER_MODE_SCHEDULER)
    )
    assert result.exit_code == 0, result.stderr
    assert stderr_lines(result) == ["scheduled 2 of 2 pending pods"]
    items = output_list(result)["items"]
    assert [(i["metadata"]["name"], i["spec"].get("nodeName")) for i in items[:2]] == [
        ("finetune", "h100-80gb-sxm-00"),
        ("batch-inference", "h100-80gb-sxm-00"),
    ]
    devices = [i["status"]["allocation"]["devices"]["results"][0]["device"] for i in items[2:]]
    assert devices == ["gpu-0-mig-3g40gb-9-0", "gpu-0-mig-3g40gb-9-4"]
    # The example says how to run it offline: these very commands.
    comments = re.sub(r"\s*\\\n#\s*", " ", CLUSTER_MODE.read_text())
    assert "dralloc cluster generate --nodes 1xh100-80gb-sxm:gpus=1,mig=dynamic -o yaml" in comments
    assert (
        "dralloc schedule -f h100.yaml -f examples/cluster-mode.yaml --config "
        "examples/cluster-mode-scheduler.yaml" in comments
    )


def test_the_cluster_mode_pods_without_the_configuration_name_a_profile_it_lacks(
    tmp_path: Path,
) -> None:
    nodes = str(tmp_path / "h100.yaml")
    invoke("cluster", "generate", "--nodes", "1xh100-80gb-sxm:gpus=1,mig=dynamic", "--out", nodes)
    result = invoke("schedule", "-f", nodes, "-f", str(CLUSTER_MODE))
    assert result.exit_code == 2
    assert stderr_lines(result) == [
        f"{CLUSTER_MODE}: Pod default/{name}: spec.schedulerName: no profile 'dralloc' in the "
        "configuration (profiles: default-scheduler)"
        for name in ("batch-inference", "finetune")
    ]
