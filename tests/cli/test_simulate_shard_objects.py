"""`dralloc simulate --autoscaling FILE --autoscaling-objects FILE`: a CapacityBuffer from
manifests makes cluster-autoscaler bring a node up before the pods arrive, so they start on
arrival (without it they wait for the node); the objects travel in each run's spec, so a
sharded campaign replays them too. A bad manifest or the flag without --autoscaling exits 2
naming the file, object and field, with nothing written."""

from __future__ import annotations

import csv
from pathlib import Path

from cli_kit import invoke, write

NODES = "sn,cpu_milli,memory_mib,gpu,model\nn-0,16000,65536,1,T4\n"
# Two one-GPU pods at 600 s for 300 s.
PODS = (
    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,"
    "creation_time,deletion_time,scheduled_time\n"
    "a,1000,1024,1,1000,,LS,Running,600,900,600\n"
    "b,1000,1024,1,1000,,LS,Running,600,900,600\n"
)
CONFIG = """\
apiVersion: dralloc.io/v1alpha1
kind: Autoscaling
mode: cluster-autoscaler
shapes:
- name: t4x2
  shape: t4
  gpus: 2
  sharing: fractional
  price: {onDemand: 1.5}
  provisioning: {launch: "fixed:60", register: "fixed:30", ready: "fixed:30", devices: "fixed:60"}
nodeGroups:
- {name: t4, shape: t4x2, max: 3}
options: {scaleDownUnneededTime: 300}
"""
MANIFESTS = """\
apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata: {name: one-gpu, namespace: default}
spec:
  spec:
    devices:
      requests:
      - name: gpu
        exactly: {deviceClassName: gpu-fractional.dralloc.io, count: 1}
---
apiVersion: v1
kind: PodTemplate
metadata: {name: gpu-slot, namespace: default}
template:
  spec:
    containers:
    - name: main
      image: pause
      resources:
        requests: {cpu: 1, memory: 1Gi}
        claims: [{name: gpu}]
    resourceClaims:
    - {name: gpu, resourceClaimTemplateName: one-gpu}
---
apiVersion: autoscaling.x-k8s.io/v1beta1
kind: CapacityBuffer
metadata: {name: warm, namespace: default}
spec:
  podTemplateRef: {name: gpu-slot}
  replicas: REPLICAS
"""


def _args(tmp_path: Path, out: str, *more: str) -> list[str]:
    directory = tmp_path / "openb"
    directory.mkdir(exist_ok=True)
    (directory / "openb_node_list_gpu_node.csv").write_text(NODES)
    (directory / "openb_pod_list_default.csv").write_text(PODS)
    scaling = write(tmp_path, "autoscaling.yaml", CONFIG)
    return [
        *["simulate", "--mode", "replay", "--trace-dir", str(directory), "--seeds", "1"],
        *["--policy", "packing", "--jobs", "1", "--autoscaling", scaling],
        *["--out", str(tmp_path / out), *more],
    ]


def _row(folder: Path) -> dict[str, str]:
    (row,) = csv.DictReader((folder / "replay.csv").read_text().splitlines())
    return row


def test_a_buffer_from_manifests_has_a_node_ready_before_the_pods_arrive(tmp_path: Path) -> None:
    objects = write(tmp_path, "buffers.yaml", MANIFESTS.replace("REPLICAS", "2"))
    plain = invoke(*_args(tmp_path, "plain"))
    assert plain.exit_code == 0, plain.stderr
    buffered = invoke(*_args(tmp_path, "shard", "--autoscaling-objects", objects, "--shard", "1/1"))
    assert buffered.exit_code == 0, buffered.stderr
    merged = invoke("simulate", "merge", str(tmp_path / "shard"), "--out", str(tmp_path / "out"))
    assert merged.exit_code == 0, merged.stderr
    # Without the buffer the node is asked for at the pods' arrival and serves them 180 s on.
    assert float(_row(tmp_path / "plain")["wait_p95_s"]) > 0
    assert _row(tmp_path / "out")["wait_p95_s"] == "0.0"
    assert _row(tmp_path / "out")["evicted_pods"] == "0"


def test_bad_autoscaling_objects_exit_2_naming_the_file_object_and_field(tmp_path: Path) -> None:
    objects = write(tmp_path, "buffers.yaml", MANIFESTS.replace("REPLICAS", "-1"))
    result = invoke(*_args(tmp_path, "out", "--autoscaling-objects", objects))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{objects}: CapacityBuffer default/warm: spec.replicas: "), (
        result.stderr
    )
    assert not (tmp_path / "out").exists()


def test_autoscaling_objects_need_an_autoscaled_fleet(tmp_path: Path) -> None:
    objects = write(tmp_path, "buffers.yaml", MANIFESTS.replace("REPLICAS", "2"))
    args = _args(tmp_path, "out", "--autoscaling-objects", objects)
    at = args.index("--autoscaling")
    result = invoke(*args[:at], *args[at + 2 :])
    assert result.exit_code == 2
    assert result.stderr == "--autoscaling-objects: needs --autoscaling (the fleet they act on)\n"
