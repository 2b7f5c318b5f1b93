"""GB200 NVL72 fleets: generated racks carry what GPU feature discovery and NVIDIA's two DRA
kubelet plugins publish (spec/devices.md; dralloc.devices.nvlink names the sources), and the
ways users keep a job inside one NVLink domain work: node affinity and pod affinity on
`nvidia.com/gpu.clique`, and Kueue's topology-aware scheduling with the label as a level."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from typer.testing import CliRunner

from dralloc.api.io import encode_json
from dralloc.cli.main import app
from dralloc.devices import load_catalog
from dralloc.devices.cluster import (
    ClusterSpecError,
    generate_cluster,
    iter_cluster_json,
    parse_cluster_file,
    parse_group,
)
from dralloc.devices.nvlink import CLIQUE_LABEL, COMPUTE_DOMAIN_DRIVER, rack_cluster_uuid

CLIQUE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.[0-9]+$")


def test_a_gb200_nvl72_rack_is_18_nodes_of_4_gpus_in_one_clique() -> None:
    cluster = generate_cluster([parse_group("2xgb200-nvl72")], load_catalog())
    names = [n.metadata.name for n in cluster.nodes]
    assert names == [f"gb200-nvl72-{r:02d}-{t:02d}" for r in range(2) for t in range(18)]
    cliques = [n.metadata.labels[CLIQUE_LABEL] for n in cluster.nodes]
    assert all(CLIQUE.match(c) for c in cliques)
    assert Counter(cliques) == {cliques[0]: 18, cliques[18]: 18}  # one value per rack
    assert cliques[0] != cliques[18]
    assert cliques[0] == f"{rack_cluster_uuid('gb200-nvl72', 0)}.32766"
    labels = cluster.nodes[0].metadata.labels
    assert labels["nvidia.com/gpu.product"] == "NVIDIA-GB200"
    assert labels["nvidia.com/gpu.count"] == "4"
    assert labels["kubernetes.io/arch"] == "arm64"


def test_gpu_devices_are_the_gpu_drivers_and_carry_no_clique_attribute() -> None:
    cluster = generate_cluster([parse_group("1xgb200-nvl72")], load_catalog())
    node = "gb200-nvl72-00-00"
    (gpu_slice,) = [
        s for s in cluster.slices if s.spec.node_name == node and s.spec.driver == "gpu.nvidia.com"
    ]
    assert [d.name for d in gpu_slice.spec.devices] == ["gpu-0", "gpu-1", "gpu-2", "gpu-3"]
    device = gpu_slice.spec.devices[0]
    assert device.attributes["productName"].string == "NVIDIA GB200"
    assert device.attributes["architecture"].string == "Blackwell"
    # The real driver publishes no NVLink-domain attribute: matchAttribute cannot use one.
    assert not [name for name in device.attributes if "clique" in name.lower()]


def test_the_compute_domain_plugin_publishes_channel_0_and_daemon_0_per_node() -> None:
    cluster = generate_cluster([parse_group("1xgb200-nvl72")], load_catalog())
    domain_slices = [s for s in cluster.slices if s.spec.driver == COMPUTE_DOMAIN_DRIVER]
    assert len(domain_slices) == 18
    first = domain_slices[0]
    assert first.spec.pool.name == first.spec.node_name == "gb200-nvl72-00-00"
    assert msgspec.to_builtins(first.spec.devices) == [
        {"name": "channel-0", "attributes": {"type": {"string": "channel"}, "id": {"int": 0}}},
        {"name": "daemon-0", "attributes": {"type": {"string": "daemon"}, "id": {"int": 0}}},
    ]
    classes = {c.metadata.name: c for c in cluster.classes}
    channel = classes["compute-domain-default-channel.nvidia.com"].spec.selectors[0].cel
    assert channel is not None
    assert channel.expression == (
        "device.driver == 'compute-domain.nvidia.com' && "
        "device.attributes['compute-domain.nvidia.com'].type == 'channel' && "
        "device.attributes['compute-domain.nvidia.com'].id == 0"
    )
    assert "compute-domain-daemon.nvidia.com" in classes
    plain = generate_cluster([parse_group("1xl4")], load_catalog())
    assert "compute-domain-daemon.nvidia.com" not in {c.metadata.name for c in plain.classes}


def test_streamed_json_equals_the_built_objects() -> None:
    groups = [parse_group("1xgb200-nvl72:clique=7"), parse_group("1xl4")]
    cluster = generate_cluster(groups, load_catalog())
    built = [
        encode_json(o)
        for o in [*cluster.classes]
        + [x for n in cluster.nodes for x in [n, *_slices_of(cluster, n.metadata.name)]]
    ]
    assert list(iter_cluster_json(groups, load_catalog())) == built
    assert cluster.nodes[0].metadata.labels[CLIQUE_LABEL].endswith(".7")


def _slices_of(cluster: Any, node: str) -> list[Any]:
    return [s for s in cluster.slices if s.spec.node_name == node]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1xgb200-nvl72:gpus=8", "unknown option"),
        ("1xgb200-nvl72:clique=x", "clique must be a non-negative integer"),
    ],
)
def test_bad_nvl_options_are_refused(text: str, message: str) -> None:
    with pytest.raises(ClusterSpecError, match=message):
        generate_cluster([parse_group(text)], load_catalog())


def test_a_cluster_file_takes_the_clique_option() -> None:
    groups = parse_cluster_file(
        "apiVersion: dralloc.io/v1alpha1\nkind: Cluster\n"
        "nodeGroups:\n- {count: 2, shape: gb200-nvl72, clique: 3}\n",
        "fleet.yaml",
    )
    assert groups[0].options == {"clique": "3"}


# ------------------------------------------------------------------ keeping a job in a clique

GPU_TEMPLATE = """\
apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata: {name: four-gpus, namespace: default}
spec:
  spec:
    devices:
      requests:
      - name: gpus
        exactly: {deviceClassName: gpu.nvidia.com, count: 4}
"""


def worker(name: str, job: str, affinity: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"job": job}},
        "spec": {
            "affinity": affinity,
            "containers": [
                {"name": "w", "image": "train", "resources": {"claims": [{"name": "gpus"}]}}
            ],
            "resourceClaims": [{"name": "gpus", "resourceClaimTemplateName": "four-gpus"}],
        },
    }


def schedule(tmp_path: Path, racks: int, pods: list[dict[str, Any]]) -> tuple[int, list[Any]]:
    runner = CliRunner()
    cluster = tmp_path / "cluster.yaml"
    made = runner.invoke(
        app, ["cluster", "generate", "--nodes", f"{racks}xgb200-nvl72", "--out", str(cluster)]
    )
    assert made.exit_code == 0, made.output
    workload = tmp_path / "pods.yaml"
    workload.write_text(GPU_TEMPLATE + "---\n" + yaml.safe_dump_all(pods), encoding="utf-8")
    result = runner.invoke(app, ["schedule", "-f", str(cluster), "-f", str(workload)])
    items = yaml.safe_load(result.stdout)["items"]
    return result.exit_code, [i for i in items if i["kind"] == "Pod"]


def clique_of(node: str) -> str:
    rack = int(node.split("-")[2])
    return f"{rack_cluster_uuid('gb200-nvl72', rack)}.32766"


def test_node_affinity_on_the_clique_label_keeps_pods_in_that_rack(tmp_path: Path) -> None:
    wanted = clique_of("gb200-nvl72-01-00")
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {"key": CLIQUE_LABEL, "operator": "In", "values": [wanted]}
                        ]
                    }
                ]
            }
        }
    }
    pods = [worker(f"w-{i}", "a", affinity) for i in range(4)]
    code, placed = schedule(tmp_path, 3, pods)
    assert code == 0
    assert {clique_of(p["spec"]["nodeName"]) for p in placed} == {wanted}


def test_pod_affinity_on_the_clique_keeps_a_job_in_one_domain_and_stops_at_its_size(
    tmp_path: Path,
) -> None:
    affinity = {
        "podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"job": "big"}}, "topologyKey": CLIQUE_LABEL}
            ]
        }
    }
    # 20 pods of 4 GPUs: 80 GPUs, more than one rack's 72.
    pods = [worker(f"w-{i:02d}", "big", affinity) for i in range(20)]
    code, placed = schedule(tmp_path, 2, pods)
    assert code == 1
    nodes = [p["spec"].get("nodeName") for p in placed]
    bound = [n for n in nodes if n]
    assert len(bound) == 18
    assert len({clique_of(n) for n in bound}) == 1
    pending = [p for p in placed if not p["spec"].get("nodeName")]
    assert "didn't match pod affinity rules" in pending[0]["status"]["conditions"][0]["message"]


KUEUE = """\
apiVersion: kueue.x-k8s.io/v1beta2
kind: Topology
metadata: {name: nvlink}
spec:
  levels:
  - nodeLabel: nvidia.com/gpu.clique
  - nodeLabel: kubernetes.io/hostname
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: ResourceFlavor
metadata: {name: gb200}
spec:
  nodeLabels: {nvidia.com/gpu.product: NVIDIA-GB200}
  topologyName: nvlink
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: ClusterQueue
metadata: {name: gpus}
spec:
  namespaceSelector: {}
  resourceGroups:
  - coveredResources: [cpu, devices.dralloc.io/gpu.nvidia.com]
    flavors:
    - name: gb200
      resources:
      - {name: cpu, nominalQuota: "1000"}
      - {name: devices.dralloc.io/gpu.nvidia.com, nominalQuota: "256"}
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: LocalQueue
metadata: {name: gpus, namespace: default}
spec: {clusterQueue: gpus}
"""


def queued_job(name: str, pods: int, created: str) -> str:
    return f"""
apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
  namespace: default
  uid: 00000000-0000-0000-0000-0000000000{len(name):02d}
  creationTimestamp: "{created}"
  labels: {{kueue.x-k8s.io/queue-name: gpus}}
spec:
  parallelism: {pods}
  completions: {pods}
  completionMode: Indexed
  template:
    metadata:
      annotations: {{kueue.x-k8s.io/podset-required-topology: nvidia.com/gpu.clique}}
    spec:
      restartPolicy: Never
      containers:
      - name: w
        image: train
        resources:
          requests: {{cpu: "1"}}
          claims: [{{name: gpus}}]
      resourceClaims: [{{name: gpus, resourceClaimTemplateName: four-gpus}}]
"""


def test_kueue_tas_on_the_clique_label_places_each_job_inside_one_rack(tmp_path: Path) -> None:
    runner = CliRunner()
    cluster = tmp_path / "cluster.yaml"
    made = runner.invoke(
        app, ["cluster", "generate", "--nodes", "2xgb200-nvl72", "--out", str(cluster)]
    )
    assert made.exit_code == 0, made.output
    queues = tmp_path / "kueue.yaml"
    # Two jobs of 12 trays each: together more than a rack, each less.
    queues.write_text(
        KUEUE
        + "---\n"
        + GPU_TEMPLATE
        + "---"
        + queued_job("alpha", 12, "2026-01-01T10:00:00Z")
        + "---"
        + queued_job("bravo", 12, "2026-01-01T10:01:00Z"),
        encoding="utf-8",
    )
    result = runner.invoke(app, ["queue", "-f", str(cluster), "-f", str(queues), "-o", "yaml"])
    assert result.exit_code == 0, result.stderr
    items = [i for d in yaml.safe_load_all(result.stdout) if d for i in d.get("items", [])]
    workloads = [i for i in items if i["kind"] == "Workload"]
    for workload in workloads:
        (assignment,) = workload["status"]["admission"]["podSetAssignments"]
        # Kueue's compact form keeps only the lowest level when it is the hostname.
        assert assignment["topologyAssignment"]["levels"] == ["kubernetes.io/hostname"]
    by_job: dict[str, set[str]] = {}
    for pod in (i for i in items if i["kind"] == "Pod"):
        job = pod["metadata"]["labels"]["batch.kubernetes.io/job-name"]
        by_job.setdefault(job, set()).add(clique_of(pod["spec"]["nodeName"]))
    assert sorted(by_job) == ["alpha", "bravo"]
    assert all(len(cliques) == 1 for cliques in by_job.values())
    assert by_job["alpha"] != by_job["bravo"]


CHANNEL_TEMPLATE = """\
apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata: {name: imex-channel, namespace: default}
spec:
  spec:
    devices:
      requests:
      - name: channel
        exactly: {deviceClassName: compute-domain-default-channel.nvidia.com}
"""


def test_a_compute_domain_channel_claim_takes_each_nodes_channel_0(tmp_path: Path) -> None:
    # 19 pods of 2 GPUs would fit on 10 trays by GPUs alone; each also needs its node's one
    # advertised IMEX channel (channel-0), so one pod per tray: 18 run, one waits.
    pods = []
    for index in range(19):
        pod = worker(f"cd-{index:02d}", "cd", {})
        pod["spec"]["resourceClaims"].append(
            {"name": "channel", "resourceClaimTemplateName": "imex-channel"}
        )
        pod["spec"]["containers"][0]["resources"]["claims"].append({"name": "channel"})
        pods.append(pod)
    runner = CliRunner()
    cluster = tmp_path / "cluster.yaml"
    made = runner.invoke(
        app, ["cluster", "generate", "--nodes", "1xgb200-nvl72", "--out", str(cluster)]
    )
    assert made.exit_code == 0, made.output
    workload = tmp_path / "pods.yaml"
    workload.write_text(
        GPU_TEMPLATE.replace("count: 4", "count: 2")
        + "---\n"
        + CHANNEL_TEMPLATE
        + "---\n"
        + yaml.safe_dump_all(pods),
        encoding="utf-8",
    )
    result = runner.invoke(app, ["schedule", "-f", str(cluster), "-f", str(workload)])
    assert result.exit_code == 1
    items = yaml.safe_load(result.stdout)["items"]
    nodes = [i["spec"].get("nodeName") for i in items if i["kind"] == "Pod"]
    bound = [n for n in nodes if n]
    assert len(bound) == len(set(bound)) == 18
    channels = [
        r
        for i in items
        if i["kind"] == "ResourceClaim" and "allocation" in i.get("status", {})
        for r in i["status"]["allocation"]["devices"]["results"]
        if r["driver"] == COMPUTE_DOMAIN_DRIVER
    ]
    assert sorted((r["pool"], r["device"]) for r in channels) == sorted(
        (n, "channel-0") for n in bound
    )
