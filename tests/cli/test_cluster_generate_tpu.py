"""`dralloc cluster generate` with TPU slices, and what `dralloc schedule` does with the fleet.

COUNT in `COUNTxtpu-<gen>-<shape>` is whole slices; a multi-host slice is its own node pool
(`cloud.google.com/gke-nodepool`). A claim's devices always come from one node, so a gang is
kept inside one slice by the pods' node selectors or affinities on the node pool label, which
the schedule tests below exercise: one pod per node of a chosen slice, a claim for every chip
of one node (and one for more chips than a node has), and a JobSet whose Jobs each take one
slice through pod affinity on the node pool label.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import yaml
from cli_kit import invoke, write

from dralloc.devices import driver_device_classes

CLASSES = len(driver_device_classes())
POOL = "cloud.google.com/gke-nodepool"


def _fleet(tmp_path: Path, *groups: str) -> str:
    out = tmp_path / "fleet.json"
    args = [arg for group in groups for arg in ("--nodes", group)]
    result = invoke("cluster", "generate", *args, "-o", "json", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    return str(out)


def _items(stdout: str) -> list[dict[str, Any]]:
    document = yaml.safe_load(stdout)
    assert document["kind"] == "List"
    items: list[dict[str, Any]] = document["items"]
    return items


def _placed(items: list[dict[str, Any]]) -> dict[str, str]:
    return {
        p["metadata"]["name"]: p["spec"].get("nodeName", "") for p in items if p["kind"] == "Pod"
    }


# ------------------------------------------------------------------------------- generate


def test_two_v6e_4x8_slices_are_16_nodes_in_two_node_pools(tmp_path: Path) -> None:
    out = tmp_path / "fleet.json"
    result = invoke(
        "cluster", "generate", "--nodes", "2xtpu-v6e-4x8", "-o", "json", "--out", str(out)
    )
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        f"generated 16 nodes, 16 ResourceSlices, {CLASSES} DeviceClasses"
    ]
    items = json.loads(out.read_text(encoding="utf-8"))["items"]
    nodes = [i for i in items if i["kind"] == "Node"]
    pools: dict[str, list[str]] = {}
    for node in nodes:
        pools.setdefault(node["metadata"]["labels"][POOL], []).append(node["metadata"]["name"])
    assert pools == {
        f"tpu-v6e-4x8-{s:02d}": [f"tpu-v6e-4x8-{s:02d}-{w}" for w in range(8)] for s in range(2)
    }
    assert {n["metadata"]["labels"]["cloud.google.com/gke-tpu-topology"] for n in nodes} == {"4x8"}


def test_a_v5p_3d_slice_from_a_cluster_file_is_two_nodes_per_slice(tmp_path: Path) -> None:
    cluster_file = write(
        tmp_path,
        "fleet.yaml",
        "apiVersion: dralloc.io/v1alpha1\nkind: Cluster\nnodeGroups:\n"
        "- {count: 3, shape: tpu-v5p-2x2x2}\n",
    )
    result = invoke("cluster", "generate", "-f", cluster_file)
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        f"generated 6 nodes, 6 ResourceSlices, {CLASSES} DeviceClasses"
    ]


def test_an_invalid_tpu_shape_names_the_flag_and_lists_the_valid_shapes(tmp_path: Path) -> None:
    out = tmp_path / "fleet.yaml"
    result = invoke("cluster", "generate", "--nodes", "2xtpu-v6e-3x3", "--out", str(out))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "--nodes: tpu-v6e-3x3: TPU model 'tpu-v6e' has no topology '3x3' "
        "(known: 1x1, 2x2, 2x4, 4x4, 4x8, 8x8, 8x16, 16x16)"
    ]
    assert not out.exists()


def test_a_2d_shape_for_a_3d_generation_is_refused_with_its_3d_shapes() -> None:
    result = invoke("cluster", "generate", "--nodes", "1xtpu-v5p-4x4")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "--nodes: tpu-v5p-4x4: TPU model 'tpu-v5p' has no topology '4x4' (known: 2x2x1, "
        "2x2x2, 2x4x4, 4x4x4, 4x4x8, 4x8x8, 8x8x8, 8x8x16, 8x16x16, 16x16x16, 16x16x24)"
    ]


def test_help_says_count_is_whole_tpu_slices() -> None:
    result = invoke("cluster", "generate", "--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "For TPUs COUNT is whole slices" in text
    assert "2xtpu-v6e-4x8 is 2 slices of 8 Nodes with 4 chips each (16 Nodes)" in text


# ------------------------------------------------------------------------------- schedule

HOST_TEMPLATE = """\
apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata: {name: tpu-host, namespace: default}
spec:
  spec:
    devices:
      requests:
      - name: chips
        exactly:
          deviceClassName: tpu.google.com
          allocationMode: All
"""


def test_one_pod_per_node_with_a_node_pool_selector_fills_that_slice(tmp_path: Path) -> None:
    fleet = _fleet(tmp_path, "2xtpu-v6e-4x4")
    job = textwrap.dedent(
        """\
        apiVersion: batch/v1
        kind: Job
        metadata: {name: train, namespace: default}
        spec:
          completions: 4
          parallelism: 4
          completionMode: Indexed
          template:
            spec:
              restartPolicy: Never
              nodeSelector:
                cloud.google.com/gke-tpu-accelerator: tpu-v6e-slice
                cloud.google.com/gke-tpu-topology: 4x4
                cloud.google.com/gke-nodepool: tpu-v6e-4x4-01
              containers:
              - {name: t, image: jax, resources: {claims: [{name: tpu}]}}
              resourceClaims:
              - {name: tpu, resourceClaimTemplateName: tpu-host}
        """
    )
    workload = write(tmp_path, "job.yaml", HOST_TEMPLATE + "---\n" + job)
    result = invoke("schedule", "-f", fleet, "-f", workload)
    assert result.exit_code == 0, result.stderr
    items = _items(result.stdout)
    assert sorted(_placed(items).values()) == [f"tpu-v6e-4x4-01-{w}" for w in range(4)]
    for claim in (i for i in items if i["kind"] == "ResourceClaim"):
        results = claim["status"]["allocation"]["devices"]["results"]
        assert len(results) == 4  # every chip of its node
        assert len({r["pool"] for r in results}) == 1
    assert result.stderr.splitlines()[-1] == "scheduled 4 of 4 pending pods"


def _claim_and_pod(count: int) -> str:
    return textwrap.dedent(
        f"""\
        apiVersion: resource.k8s.io/v1
        kind: ResourceClaim
        metadata: {{name: chips, namespace: default}}
        spec:
          devices:
            requests:
            - name: chips
              exactly:
                deviceClassName: tpu.google.com
                count: {count}
            constraints:
            - matchAttribute: tpu.google.com/topology
        ---
        apiVersion: v1
        kind: Pod
        metadata: {{name: host-0, namespace: default}}
        spec:
          containers: [{{name: t, image: jax, resources: {{claims: [{{name: tpu}}]}}}}]
          resourceClaims: [{{name: tpu, resourceClaimName: chips}}]
        """
    )


def test_one_claim_for_every_chip_of_a_node_is_allocated_on_one_node(tmp_path: Path) -> None:
    fleet = _fleet(tmp_path, "2xtpu-v6e-4x4")
    result = invoke("schedule", "-f", fleet, "-f", write(tmp_path, "c.yaml", _claim_and_pod(4)))
    assert result.exit_code == 0, result.stderr
    items = _items(result.stdout)
    (claim,) = [i for i in items if i["kind"] == "ResourceClaim"]
    results = claim["status"]["allocation"]["devices"]["results"]
    (pool,) = {r["pool"] for r in results}
    assert sorted(r["device"] for r in results) == ["0", "1", "2", "3"]
    assert _placed(items) == {"host-0": pool}


def test_one_claim_for_more_chips_than_a_node_has_fits_no_node(tmp_path: Path) -> None:
    # A claim's devices come from one node: eight chips of a 4x4 slice span two nodes.
    fleet = _fleet(tmp_path, "2xtpu-v6e-4x4")
    result = invoke("schedule", "-f", fleet, "-f", write(tmp_path, "c.yaml", _claim_and_pod(8)))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "pod default/host-0: 0/8 nodes are available: 8 cannot allocate all claims. "
        "still not schedulable, preemption: 0/8 nodes are available: "
        "8 Preemption is not helpful for scheduling.",
        "scheduled 0 of 1 pending pods",
    ]


def test_a_jobset_with_node_pool_affinity_puts_each_job_in_a_slice_of_its_own(
    tmp_path: Path,
) -> None:
    fleet = _fleet(tmp_path, "2xtpu-v6e-4x4")
    # What JobSet's exclusive placement on the node pool asks for, written as the pods'
    # own affinity: together with the pods of their Job, apart from every other Job's.
    jobset = textwrap.dedent(
        """\
        apiVersion: jobset.x-k8s.io/v1alpha2
        kind: JobSet
        metadata: {name: multislice, namespace: default}
        spec:
          replicatedJobs:
          - name: slice
            replicas: 2
            template:
              spec:
                parallelism: 4
                completions: 4
                completionMode: Indexed
                backoffLimit: 0
                template:
                  spec:
                    restartPolicy: Never
                    nodeSelector: {cloud.google.com/gke-tpu-topology: 4x4}
                    affinity:
                      podAffinity:
                        requiredDuringSchedulingIgnoredDuringExecution:
                        - labelSelector:
                            matchExpressions:
                            - {key: jobset.sigs.k8s.io/job-key, operator: Exists}
                          matchLabelKeys: [jobset.sigs.k8s.io/job-key]
                          topologyKey: cloud.google.com/gke-nodepool
                      podAntiAffinity:
                        requiredDuringSchedulingIgnoredDuringExecution:
                        - labelSelector:
                            matchExpressions:
                            - {key: jobset.sigs.k8s.io/job-key, operator: Exists}
                          mismatchLabelKeys: [jobset.sigs.k8s.io/job-key]
                          topologyKey: cloud.google.com/gke-nodepool
                    containers:
                    - {name: t, image: jax, resources: {claims: [{name: tpu}]}}
                    resourceClaims:
                    - {name: tpu, resourceClaimTemplateName: tpu-host}
        """
    )
    workload = write(tmp_path, "jobset.yaml", HOST_TEMPLATE + "---\n" + jobset)
    result = invoke("schedule", "-f", fleet, "-f", workload, "--seed", "7")
    assert result.exit_code == 0, result.stderr
    slices: dict[str, set[str]] = {}
    for pod, node in _placed(_items(result.stdout)).items():
        job = pod.rsplit("-", 2)[0]  # multislice-slice-<job>-<index>-<suffix>
        slices.setdefault(job, set()).add(node.rsplit("-", 1)[0])
    assert sorted(slices) == ["multislice-slice-0", "multislice-slice-1"]
    assert all(len(pools) == 1 for pools in slices.values())
    assert slices["multislice-slice-0"] != slices["multislice-slice-1"]
