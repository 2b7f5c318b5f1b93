"""`dralloc queue` gives each pod of a TAS-admitted Job its domain, as Kueue's TopologyUngater
does: the job starts with its pods gated (`kueue.x-k8s.io/topology`), each pod is ungated with
the nodeSelector of its slot of the `topologyAssignment` (by completion index for an Indexed
Job), and the scheduler places it inside that domain. The Topology, ResourceFlavors,
ClusterQueues and Jobs are our own, in the shapes of Kueue's TAS examples (apiVersions, quoting,
annotations as users write them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from test_tas_admission import TPU_QUEUES, multislice
from typer.testing import CliRunner

from dralloc.api.core import Pod, PodSchedulingGate
from dralloc.api.meta import ObjectMeta
from dralloc.cli.main import app
from dralloc.queueing import decode_assignment, encode_assignment, pod_node_selectors
from dralloc.queueing.topology import DomainAssignment, TopologyRequest, ungate_pods

# The shape of Kueue's TAS sample queues (a v1alpha1 Topology beside v1beta1 flavor, queue and
# LocalQueue, quoted strings as there), with our own names and quotas.
# test_tas_fragmented.py builds on these fixtures and names the rack label and the flavor
# itself (and the topology's name in a message), so those keep the values it spells.
BLOCK = "cloud.provider.com/topology-block"
RACK = "cloud.provider.com/topology-rack"
POOL = "pool.example.net/name"
FLAVOR = "tas-flavor"

RACK_QUEUES = f"""\
apiVersion: kueue.x-k8s.io/v1alpha1
kind: Topology
metadata:
  name: "default"
spec:
  levels:
  - nodeLabel: "{BLOCK}"
  - nodeLabel: "{RACK}"
  - nodeLabel: "kubernetes.io/hostname"
---
kind: ResourceFlavor
apiVersion: kueue.x-k8s.io/v1beta1
metadata:
  name: "{FLAVOR}"
spec:
  nodeLabels:
    {POOL}: "trainers"
  topologyName: "default"
---
apiVersion: kueue.x-k8s.io/v1beta1
kind: ClusterQueue
metadata:
  name: "research"
spec:
  namespaceSelector: {{}} # every namespace
  resourceGroups:
  - coveredResources: ["cpu", "memory"]
    flavors:
    - name: "{FLAVOR}"
      resources:
      - name: "cpu"
        nominalQuota: 120
      - name: "memory"
        nominalQuota: 240Gi
---
apiVersion: kueue.x-k8s.io/v1beta1
kind: LocalQueue
metadata:
  namespace: "default"
  name: "research-jobs"
spec:
  clusterQueue: "research"
"""


def rack_job(mode: str, level: str, pods: int, name: str) -> str:
    """An Indexed Job asking its pod set for a topology level (`required`, `preferred` or
    `unconstrained`), in the shape of Kueue's TAS sample jobs."""
    return f"""\
apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
  labels:
    kueue.x-k8s.io/queue-name: research-jobs
spec:
  parallelism: {pods}
  completions: {pods}
  completionMode: Indexed
  template:
    metadata:
      annotations:
        kueue.x-k8s.io/podset-{mode}-topology: "{level}"
    spec:
      containers:
      - name: shard
        image: registry.k8s.io/busybox:1.36
        command: ["sh", "-c", "sleep 30"]
        resources:
          requests:
            cpu: "1"
            memory: "300Mi"
      restartPolicy: Never
"""


# The names test_tas_fragmented.py imports.
SAMPLE_QUEUES = RACK_QUEUES
sample_job = rack_job


INDEX = "batch.kubernetes.io/job-completion-index"


def nodes(blocks: int, racks: int, hosts: int, cpu: int = 4) -> str:
    """`blocks` x `racks` x `hosts` nodes labelled with their block, rack and pool."""
    docs = []
    for b in range(blocks):
        for r in range(racks):
            for h in range(hosts):
                name = f"b{b}-r{r}-h{h}"
                docs.append(
                    f"""\
apiVersion: v1
kind: Node
metadata:
  name: {name}
  labels:
    kubernetes.io/hostname: {name}
    {POOL}: trainers
    {BLOCK}: b{b}
    {RACK}: b{b}-r{r}
status:
  allocatable: {{cpu: "{cpu}", memory: 16Gi, pods: "110"}}
  capacity: {{cpu: "{cpu}", memory: 16Gi, pods: "110"}}
"""
                )
    return "---\n".join(docs)


def queue(tmp_path: Path, *documents: str, extra: tuple[str, ...] = ()) -> tuple[int, Any, str]:
    path = tmp_path / "input.yaml"
    path.write_text("---\n".join(documents), encoding="utf-8")
    result = CliRunner().invoke(app, ["queue", "-f", str(path), "-o", "yaml", *extra])
    (document,) = [d for d in yaml.safe_load_all(result.stdout) if d]
    return result.exit_code, document["items"], result.stderr


def workload_of(items: list[dict[str, Any]], job: str) -> dict[str, Any]:
    (found,) = [
        i
        for i in items
        if i["kind"] == "Workload" and i["metadata"]["name"].startswith(f"job-{job}-")
    ]
    return found


def pods_of(items: list[dict[str, Any]], job: str) -> list[dict[str, Any]]:
    return [
        i
        for i in items
        if i["kind"] == "Pod" and i["metadata"]["labels"].get("batch.kubernetes.io/job-name") == job
    ]


def node_labels(name: str) -> dict[str, str]:
    block, rack, _ = name.split("-")
    return {
        BLOCK: block,
        RACK: f"{block}-{rack}",
    }


def assert_pods_follow_their_ranks(
    items: list[dict[str, Any]], job: str, group: str = "trainers"
) -> list[str]:
    """Each pod is ungated with its completion index's slot and bound inside it; returns
    the nodes used."""
    workload = workload_of(items, job)
    (psa,) = workload["status"]["admission"]["podSetAssignments"]
    slots = pod_node_selectors(psa["topologyAssignment"])
    pods = pods_of(items, job)
    assert len(pods) == len(slots)
    used = []
    for pod in pods:
        index = int(pod["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"])
        selector = pod["spec"]["nodeSelector"]
        assert {k: selector[k] for k in slots[index]} == slots[index]
        assert selector[POOL] == group
        assert "schedulingGates" not in pod["spec"]
        assert pod["metadata"]["labels"]["kueue.x-k8s.io/podset"] == "main"
        assert (
            pod["metadata"]["annotations"]["kueue.x-k8s.io/workload"]
            == (workload["metadata"]["name"])
        )
        node = pod["spec"]["nodeName"]
        assert all(node_labels(node).get(k, node) == v for k, v in slots[index].items())
        used.append(node)
    return used


@pytest.mark.parametrize("placement", ["--placement", "--no-placement"])
def test_a_required_rack_job_runs_every_pod_on_the_hosts_its_rank_was_given(
    tmp_path: Path, placement: str
) -> None:
    # 2 blocks x 2 racks x 3 hosts of 4 cpu: 10 one-cpu pods fit only inside one rack (12).
    code, items, stderr = queue(
        tmp_path,
        nodes(2, 2, 3),
        RACK_QUEUES,
        rack_job("required", RACK, 10, "rack-required"),
        extra=(placement,),
    )
    assert code == 0, stderr
    used = assert_pods_follow_their_ranks(items, "rack-required")
    assert len({node_labels(n)[RACK] for n in used}) == 1
    levels, domains = decode_assignment(
        workload_of(items, "rack-required")["status"]["admission"]["podSetAssignments"][0][
            "topologyAssignment"
        ]
    )
    assert levels == ["kubernetes.io/hostname"]
    # BestFit fills the rack's hosts, 4 + 4 + 2; the nodes used are exactly those.
    assert sorted(d.count for d in domains) == [2, 4, 4]
    assert sorted(used) == sorted(v for d in domains for v in d.values * d.count)


def test_a_preferred_block_job_too_big_for_a_block_spans_two_and_lands_as_assigned(
    tmp_path: Path,
) -> None:
    # A preferred-block job of 40 pods; a block holds 24, the cluster 48.
    code, items, stderr = queue(
        tmp_path,
        nodes(2, 2, 3),
        RACK_QUEUES,
        rack_job("preferred", BLOCK, 40, "block-preferred"),
    )
    assert code == 0, stderr
    used = assert_pods_follow_their_ranks(items, "block-preferred")
    per_node = {n: used.count(n) for n in used}
    assert len({node_labels(n)[BLOCK] for n in used}) == 2
    assert max(per_node.values()) <= 4


def test_a_topology_without_hostname_gives_pods_block_and_rack_selectors(tmp_path: Path) -> None:
    queues = RACK_QUEUES.replace('  - nodeLabel: "kubernetes.io/hostname"\n', "")
    code, items, stderr = queue(
        tmp_path,
        nodes(2, 2, 3),
        queues,
        rack_job("required", BLOCK, 20, "rack-levels"),
    )
    assert code == 0, stderr
    used = assert_pods_follow_their_ranks(items, "rack-levels")
    selectors = {tuple(sorted(p["spec"]["nodeSelector"])) for p in pods_of(items, "rack-levels")}
    assert selectors == {tuple(sorted((POOL, BLOCK, RACK)))}
    assert len({node_labels(n)[BLOCK] for n in used}) == 1


def test_a_second_job_goes_to_the_rack_left_and_never_onto_the_first_ones_hosts(
    tmp_path: Path,
) -> None:
    code, items, stderr = queue(
        tmp_path,
        nodes(1, 2, 3),
        RACK_QUEUES,
        rack_job("required", RACK, 10, "first"),
        rack_job("required", RACK, 12, "second"),
    )
    assert code == 0, stderr
    first = set(assert_pods_follow_their_ranks(items, "first"))
    second = set(assert_pods_follow_their_ranks(items, "second"))
    racks = {node_labels(n)[RACK] for n in first | second}
    assert len(racks) == 2 and not first & second


def test_a_job_with_generate_name_loads_unchanged_and_lands_in_one_rack(
    tmp_path: Path,
) -> None:
    job = rack_job("required", RACK, 10, "x").replace(
        "  name: x\n", "  generateName: rack-required-\n"
    )
    code, items, stderr = queue(tmp_path, nodes(2, 2, 3), RACK_QUEUES, job)
    assert code == 0, stderr
    pods = [i for i in items if i["kind"] == "Pod"]
    assert len(pods) == 10
    racks = {node_labels(p["spec"]["nodeName"])[RACK] for p in pods}
    assert len(racks) == 1


def test_an_ungated_pod_off_its_ranks_domain_makes_the_ungater_fall_back_to_greedy() -> None:
    """Kueue's readRanksIfAvailable: ranks are used only if every pod already ungated sits
    in its rank's domain; here rank 0 was ungated onto h2, so the gated pods fill what is
    left in assignment order (h1 twice) instead of their ranks (h1, h2)."""
    assignment = encode_assignment(
        ["kubernetes.io/hostname"], [DomainAssignment(("h1",), 2), DomainAssignment(("h2",), 1)]
    )
    request = TopologyRequest(pod_index_label=INDEX)
    moved = indexed_pod("p0", 0, gated=False)
    moved.spec.node_selector = {"kubernetes.io/hostname": "h2"}
    pods = [moved, indexed_pod("p1", 1), indexed_pod("p2", 2)]
    placed = [(p.metadata.name, s) for p, s in ungate_pods(assignment, request, 3, pods)]
    assert placed == [
        ("p1", {"kubernetes.io/hostname": "h1"}),
        ("p2", {"kubernetes.io/hostname": "h1"}),
    ]
    # In its rank's domain, the same pod leaves ranks in force: p2 (rank 2) goes to h2.
    moved.spec.node_selector = {"kubernetes.io/hostname": "h1"}
    placed = [(p.metadata.name, s) for p, s in ungate_pods(assignment, request, 3, pods)]
    assert placed == [
        ("p1", {"kubernetes.io/hostname": "h1"}),
        ("p2", {"kubernetes.io/hostname": "h2"}),
    ]


def indexed_pod(name: str, index: int, gated: bool = True) -> Pod:
    pod = Pod(metadata=ObjectMeta(name=name, labels={INDEX: str(index)}))
    if gated:
        pod.spec.scheduling_gates = [PodSchedulingGate(name="kueue.x-k8s.io/topology")]
    return pod


def test_multislice_jobset_pods_land_by_job_index_then_completion_index(tmp_path: Path) -> None:
    """A TPU multi-slice JobSet (2 slices of 8 hosts): pod (job j, index i) has rank 8j + i
    and lands on that slot's host; each slice's pods share one node pool."""
    cluster = tmp_path / "cluster.yaml"
    made = CliRunner().invoke(
        app, ["cluster", "generate", "--nodes", "3xtpu-v6e-4x8", "--out", str(cluster)]
    )
    assert made.exit_code == 0, made.output
    code, items, stderr = queue(
        tmp_path,
        cluster.read_text(encoding="utf-8"),
        TPU_QUEUES,
        multislice("llama", 2, "2026-01-01T10:00:00Z"),
    )
    assert code == 0, stderr
    (workload,) = [i for i in items if i["kind"] == "Workload"]
    (psa,) = workload["status"]["admission"]["podSetAssignments"]
    slots = pod_node_selectors(psa["topologyAssignment"])
    pods = [i for i in items if i["kind"] == "Pod"]
    assert len(pods) == len(slots) == 16
    pools: dict[str, set[str]] = {}
    for pod in pods:
        labels = pod["metadata"]["labels"]
        rank = 8 * int(labels["jobset.sigs.k8s.io/job-index"]) + int(labels[INDEX])
        assert pod["spec"]["nodeName"] == slots[rank]["kubernetes.io/hostname"]
        pool = pod["spec"]["nodeName"].rsplit("-", 1)[0]
        pools.setdefault(labels["jobset.sigs.k8s.io/job-index"], set()).add(pool)
    assert [len(p) for p in pools.values()] == [1, 1]
    assert pools["0"] != pools["1"]


def test_the_table_lists_each_tas_workloads_domains_beside_the_nodes_its_pods_got(
    tmp_path: Path,
) -> None:
    path = tmp_path / "input.yaml"
    path.write_text(
        "---\n".join(
            [
                nodes(1, 2, 2, cpu=2),
                RACK_QUEUES,
                rack_job("required", RACK, 3, "a"),
            ]
        ),
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["queue", "-f", str(path)])
    assert result.exit_code == 0, result.stderr
    (placed,) = [line for line in result.stdout.splitlines() if "placed on" in line]
    (domains,) = [line for line in result.stdout.splitlines() if " domains " in line]
    assert placed.endswith("3/3 placed on b0-r0-h0,b0-r0-h1")
    assert domains.endswith(
        "pod set main domains (kubernetes.io/hostname): b0-r0-h0 x2, b0-r0-h1 x1"
    )


# The shape of Kueue's GPU TAS sample queues: every object v1beta1, the flavor tolerating the
# GPU nodes' taint, with our own names and quotas.
GPU_QUEUES = f"""\
apiVersion: kueue.x-k8s.io/v1beta1
kind: Topology
metadata:
  name: "gpu-fabric"
spec:
  levels:
  - nodeLabel: "{BLOCK}"
  - nodeLabel: "{RACK}"
  - nodeLabel: "kubernetes.io/hostname"
---
kind: ResourceFlavor
apiVersion: kueue.x-k8s.io/v1beta1
metadata:
  name: "gpu-racks"
spec:
  nodeLabels:
    {POOL}: "gpu-trainers"
  topologyName: "gpu-fabric"
  tolerations:
  - key: "nvidia.com/gpu"
    operator: "Exists"
    effect: "NoSchedule"
---
apiVersion: kueue.x-k8s.io/v1beta1
kind: ClusterQueue
metadata:
  name: "research"
spec:
  namespaceSelector: {{}}
  resourceGroups:
  - coveredResources: ["cpu", "memory", "nvidia.com/gpu"]
    flavors:
    - name: "gpu-racks"
      resources:
      - name: "cpu"
        nominalQuota: 64
      - name: "memory"
        nominalQuota: 256Gi
      - name: "nvidia.com/gpu"
        nominalQuota: 24
---
apiVersion: kueue.x-k8s.io/v1beta1
kind: LocalQueue
metadata:
  namespace: "default"
  name: "research-jobs"
spec:
  clusterQueue: "research"
"""


def test_gpu_queues_place_an_unconstrained_job_on_tainted_gpu_nodes(
    tmp_path: Path,
) -> None:
    tainted = (
        nodes(1, 2, 2)
        .replace(": trainers", ": gpu-trainers")
        .replace(
            "metadata:\n  name:",
            "spec:\n  taints: [{key: nvidia.com/gpu, value: present, effect: NoSchedule}]\n"
            "metadata:\n  name:",
        )
    )
    code, items, stderr = queue(
        tmp_path,
        tainted,
        GPU_QUEUES,
        rack_job("unconstrained", "true", 6, "gpu-unconstrained"),
    )
    assert code == 0, stderr
    used = assert_pods_follow_their_ranks(items, "gpu-unconstrained", "gpu-trainers")
    assert len(used) == 6
    pods = pods_of(items, "gpu-unconstrained")
    assert all(
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
        in p["spec"]["tolerations"]
        for p in pods
    )
