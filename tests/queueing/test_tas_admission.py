"""TAS at admission (`dralloc.queueing.tasplacement`), from manifests: Topology objects and
their validation, pod-set topology requests from Job / JobSet annotations (and the job
webhook's refusals), the compact v1beta2 `topologyAssignment`, TPU multi-slice JobSets placed
one node pool per slice, and GPU gangs placed by rack where their DRA devices are free."""

from __future__ import annotations

from pathlib import Path

import pytest
from queueing_helpers import NOW, load

from dralloc.api.core import Node, Pod, PodSchedulingGate
from dralloc.api.meta import ObjectMeta
from dralloc.api.resource import (
    AllocationResult,
    DeviceAllocationResult,
    DeviceRequestAllocationResult,
    ResourceClaim,
    ResourceClaimStatus,
)
from dralloc.devices.catalog import load_catalog
from dralloc.devices.cluster import generate_cluster, parse_group
from dralloc.errors import InputError
from dralloc.queueing import (
    QueueInput,
    QueueManager,
    QueueState,
    TopologyPlacement,
    decode_assignment,
    encode_assignment,
    pod_set_node_selectors,
    schedule,
)
from dralloc.queueing.flavors import Assignment
from dralloc.queueing.queues import QueuedWorkload
from dralloc.queueing.state import Snapshot
from dralloc.queueing.topology import DomainAssignment, TopologyRequest, ungate_pods

TPU_QUEUES = """
apiVersion: kueue.x-k8s.io/v1beta2
kind: Topology
metadata:
  name: tpu-pools
spec:
  levels:
  - nodeLabel: cloud.google.com/gke-nodepool
  - nodeLabel: kubernetes.io/hostname
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: ResourceFlavor
metadata:
  name: tpu-v6e
spec:
  nodeLabels:
    cloud.google.com/gke-tpu-accelerator: tpu-v6e-slice
  topologyName: tpu-pools
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: ClusterQueue
metadata:
  name: tpu
spec:
  namespaceSelector: {}
  resourceGroups:
  - coveredResources: [cpu, devices.dralloc.io/tpu.google.com]
    flavors:
    - name: tpu-v6e
      resources:
      - name: cpu
        nominalQuota: "1000"
      - name: devices.dralloc.io/tpu.google.com
        nominalQuota: "256"
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: LocalQueue
metadata:
  name: tpu
  namespace: team-a
spec:
  clusterQueue: tpu
---
apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata:
  name: tpu-4
  namespace: team-a
spec:
  spec:
    devices:
      requests:
      - name: tpu
        exactly:
          deviceClassName: tpu.google.com
          count: 4
"""


def multislice(name: str, slices: int, created: str) -> str:
    return f"""
apiVersion: jobset.x-k8s.io/v1alpha2
kind: JobSet
metadata:
  name: {name}
  namespace: team-a
  uid: 00000000-0000-0000-0000-{abs(hash(name)) % 10**12:012d}
  creationTimestamp: "{created}"
  labels:
    kueue.x-k8s.io/queue-name: tpu
spec:
  replicatedJobs:
  - name: slice
    replicas: {slices}
    template:
      spec:
        parallelism: 8
        completions: 8
        template:
          metadata:
            annotations:
              kueue.x-k8s.io/podset-slice-required-topology: cloud.google.com/gke-nodepool
              kueue.x-k8s.io/podset-slice-size: "8"
          spec:
            restartPolicy: Never
            containers:
            - name: worker
              image: maxtext:1
              resources:
                requests:
                  cpu: "1"
                claims:
                - name: tpu
            resourceClaims:
            - name: tpu
              resourceClaimTemplateName: tpu-4
"""


def with_cluster(inputs: QueueInput, *groups: str) -> QueueInput:
    cluster = generate_cluster([parse_group(g) for g in groups], load_catalog())
    inputs.nodes += cluster.nodes
    inputs.slices = [*inputs.slices, *cluster.slices]
    inputs.device_classes.update({c.metadata.name: c for c in cluster.classes})
    return inputs


def run(
    inputs: QueueInput, claims: list[ResourceClaim] | None = None
) -> tuple[QueueInput, TopologyPlacement, list[str], dict[str, str]]:
    inputs.add_job_workloads()
    state = QueueState.build(inputs)
    manager = QueueManager(state)
    manager.add_all(inputs.workloads.values())
    placement = TopologyPlacement.from_input(inputs, claims or [])
    admitted: list[str] = []
    waiting: dict[str, str] = {}
    # One head per ClusterQueue per cycle: run cycles until nothing more is admitted.
    for _ in range(4):
        result = schedule(state, manager, NOW, placement=placement)
        admitted += result.admitted
        waiting.update({k: e.message for k, e in result.pending.items()})
    return inputs, placement, admitted, {k: v for k, v in waiting.items() if k not in admitted}


def workload_of(inputs: QueueInput, job: str) -> str:
    return next(k for k in inputs.workloads if f"jobset-{job}-" in k or f"job-{job}-" in k)


def test_a_tpu_multislice_jobset_gets_one_node_pool_per_slice(tmp_path: Path) -> None:
    inputs = with_cluster(
        load(tmp_path, TPU_QUEUES + "---" + multislice("llama", 2, "2026-01-01T10:00:00Z")),
        "3xtpu-v6e-4x8",
    )
    inputs, _, admitted, _ = run(inputs)
    key = workload_of(inputs, "llama")
    assert admitted == [key]
    wl = inputs.workloads[key]
    assert wl.spec.pod_sets[0].topology_request == {
        "podSetSliceRequiredTopology": "cloud.google.com/gke-nodepool",
        "podSetSliceSize": 8,
        "podIndexLabel": "batch.kubernetes.io/job-completion-index",
        "subGroupIndexLabel": "jobset.sigs.k8s.io/job-index",
        "subGroupCount": 2,
    }
    selectors = pod_set_node_selectors(wl)["slice"]
    assert len(selectors) == 16
    nodes = {n.metadata.name: n for n in inputs.nodes}
    pools = [
        nodes[s["kubernetes.io/hostname"]].metadata.labels["cloud.google.com/gke-nodepool"]
        for s in selectors
    ]
    # Each group of 8 pods (one slice) is one whole node pool, one pod per 4-chip host.
    assert len(set(pools[:8])) == 1 and len(set(pools[8:])) == 1 and pools[0] != pools[8]
    assert len({s["kubernetes.io/hostname"] for s in selectors}) == 16


def test_a_second_multislice_jobset_waits_when_only_one_pool_is_left(tmp_path: Path) -> None:
    text = (
        TPU_QUEUES
        + "---"
        + multislice("first", 2, "2026-01-01T10:00:00Z")
        + "---"
        + multislice("second", 2, "2026-01-01T10:01:00Z")
    )
    inputs = with_cluster(load(tmp_path, text), "3xtpu-v6e-4x8")
    inputs, placement, admitted, waiting = run(inputs)
    first, second = workload_of(inputs, "first"), workload_of(inputs, "second")
    assert admitted == [first]
    # Quota has room (256 chips); the topology does not: 1 free pool for 2 slices.
    assert waiting[second] == (
        "placement infeasible: couldn't assign flavors to pod set slice: "
        'topology "tpu-pools" allows to fit only 1 out of 2 slice(s). '
        'Total nodes: 24; excluded: resource "devices.dralloc.io/tpu.google.com": 16; '
        "fragmented: the empty topology would hold it (Kueue then looks for Workloads to "
        "preempt for its domains; dralloc waits for domains to free up)"
    )
    placement.forget(first)
    assert placement.charged == {}


GPU_QUEUES = """
apiVersion: kueue.x-k8s.io/v1beta2
kind: Topology
metadata:
  name: dc
spec:
  levels:
  - nodeLabel: cloud.provider.com/topology-block
  - nodeLabel: cloud.provider.com/topology-rack
  - nodeLabel: kubernetes.io/hostname
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: ResourceFlavor
metadata:
  name: h100
spec:
  nodeLabels:
    nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3
  topologyName: dc
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: ClusterQueue
metadata:
  name: gpu
spec:
  namespaceSelector: {}
  resourceGroups:
  - coveredResources: [cpu, devices.dralloc.io/gpu.nvidia.com]
    flavors:
    - name: h100
      resources:
      - name: cpu
        nominalQuota: "1000"
      - name: devices.dralloc.io/gpu.nvidia.com
        nominalQuota: "64"
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: LocalQueue
metadata:
  name: gpu
  namespace: team-a
spec:
  clusterQueue: gpu
---
apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata:
  name: eight-gpus
  namespace: team-a
spec:
  spec:
    devices:
      requests:
      - name: gpu
        exactly:
          deviceClassName: gpu.nvidia.com
          count: 8
---
apiVersion: batch/v1
kind: Job
metadata:
  name: train
  namespace: team-a
  uid: 00000000-0000-0000-0000-000000000042
  creationTimestamp: "2026-01-01T10:00:00Z"
  labels:
    kueue.x-k8s.io/queue-name: gpu
spec:
  parallelism: 2
  completions: 2
  completionMode: Indexed
  suspend: true
  template:
    metadata:
      annotations:
        kueue.x-k8s.io/podset-required-topology: cloud.provider.com/topology-rack
    spec:
      restartPolicy: Never
      containers:
      - name: trainer
        image: trainer:1
        resources:
          requests:
            cpu: "8"
          claims:
          - name: gpu
      resourceClaims:
      - name: gpu
        resourceClaimTemplateName: eight-gpus
"""


def racked(inputs: QueueInput) -> QueueInput:
    # dgx-h100-00..03: rack r1 holds 00 and 01, rack r2 holds 02 and 03, one block.
    for i, n in enumerate(sorted(inputs.nodes, key=lambda n: n.metadata.name)):
        n.metadata.labels["cloud.provider.com/topology-block"] = "b1"
        n.metadata.labels["cloud.provider.com/topology-rack"] = f"r{1 + i // 2}"
    return inputs


def allocated(node: Node, devices: int) -> ResourceClaim:
    results = [
        DeviceRequestAllocationResult(
            request="gpu", driver="gpu.nvidia.com", pool=node.metadata.name, device=f"gpu-{i}"
        )
        for i in range(devices)
    ]
    return ResourceClaim(
        status=ResourceClaimStatus(
            allocation=AllocationResult(devices=DeviceAllocationResult(results=results))
        )
    )


def test_a_gpu_gang_lands_in_the_rack_whose_devices_are_free(tmp_path: Path) -> None:
    inputs = racked(with_cluster(load(tmp_path, GPU_QUEUES), "4xdgx-h100"))
    device_names = {
        d.name for s in inputs.slices if s.spec.node_name == "dgx-h100-00" for d in s.spec.devices
    }
    assert "gpu-0" in device_names
    node0 = next(n for n in inputs.nodes if n.metadata.name == "dgx-h100-00")
    # One GPU already allocated on dgx-h100-00: rack r1 cannot hold two 8-GPU pods.
    inputs, _, admitted, _ = run(inputs, [allocated(node0, 1)])
    key = workload_of(inputs, "train")
    assert admitted == [key]
    admission = inputs.workloads[key].status.admission
    assert admission is not None
    assert admission.pod_set_assignments[0].topology_assignment == {
        "levels": ["kubernetes.io/hostname"],
        "slices": [
            {
                "domainCount": 2,
                "valuesPerLevel": [{"individual": {"prefix": "dgx-h100-0", "roots": ["2", "3"]}}],
                "podCounts": {"universal": 1},
            }
        ],
    }


def test_a_gpu_gang_needing_more_than_a_rack_waits_with_the_topology_message(
    tmp_path: Path,
) -> None:
    inputs = racked(with_cluster(load(tmp_path, GPU_QUEUES), "4xdgx-h100"))
    nodes = sorted(inputs.nodes, key=lambda n: n.metadata.name)
    claims = [allocated(nodes[0], 1), allocated(nodes[2], 1)]
    inputs, _, admitted, waiting = run(inputs, claims)
    assert admitted == []
    assert waiting[workload_of(inputs, "train")] == (
        "placement infeasible: couldn't assign flavors to pod set main: "
        'topology "dc" allows to fit only 1 out of 2 pod(s). '
        'Total nodes: 4; excluded: resource "devices.dralloc.io/gpu.nvidia.com": 2'
    )


def test_a_tas_flavor_refuses_a_pod_set_without_a_topology_request_unless_implied(
    tmp_path: Path,
) -> None:
    text = GPU_QUEUES.replace(
        "    annotations:\n        kueue.x-k8s.io/podset-required-topology: "
        "cloud.provider.com/topology-rack\n",
        "    annotations: {}\n",
    )
    inputs = racked(with_cluster(load(tmp_path, text), "4xdgx-h100"))
    # Every flavor of the queue is a TAS flavor: implicit TAS, unconstrained.
    inputs, _, admitted, _ = run(inputs)
    key = workload_of(inputs, "train")
    assert admitted == [key]
    selectors = pod_set_node_selectors(inputs.workloads[key])["main"]
    assert len(selectors) == 2


# ----------------------------------------------------------------- objects and encoding


def test_topology_validation_names_file_object_and_field(tmp_path: Path) -> None:
    text = """
apiVersion: kueue.x-k8s.io/v1beta2
kind: Topology
metadata:
  name: bad
spec:
  levels:
  - nodeLabel: kubernetes.io/hostname
  - nodeLabel: rack
  - nodeLabel: rack
"""
    with pytest.raises(InputError) as err:
        load(tmp_path, text)
    assert [str(p) for p in err.value.problems] == [
        f"{tmp_path}/kueue.yaml: Topology bad: spec.levels[0].nodeLabel: "
        "kubernetes.io/hostname is allowed only as the lowest level",
        f"{tmp_path}/kueue.yaml: Topology bad: spec.levels[2].nodeLabel: "
        "duplicate level 'rack': levels must be unique",
    ]


def test_v1alpha1_topology_is_read(tmp_path: Path) -> None:
    inputs = load(
        tmp_path,
        "apiVersion: kueue.x-k8s.io/v1alpha1\nkind: Topology\nmetadata: {name: t}\n"
        "spec: {levels: [{nodeLabel: kubernetes.io/hostname}]}\n",
    )
    assert inputs.topologies["t"].level_keys() == ["kubernetes.io/hostname"]


def test_bad_tas_annotations_on_a_job_are_refused_as_kueues_webhook_does(tmp_path: Path) -> None:
    text = GPU_QUEUES.replace(
        "        kueue.x-k8s.io/podset-required-topology: cloud.provider.com/topology-rack\n",
        "        kueue.x-k8s.io/podset-required-topology: cloud.provider.com/topology-rack\n"
        '        kueue.x-k8s.io/podset-unconstrained-topology: "yes"\n'
        '        kueue.x-k8s.io/podset-slice-size: "0"\n',
    )
    with pytest.raises(InputError) as err:
        load(tmp_path, text)
    where = f"{tmp_path}/kueue.yaml: Job team-a/train: spec.template.metadata.annotations"
    assert sorted(str(p) for p in err.value.problems) == sorted(
        [
            f"{where}: must not contain more than one topology annotation: "
            "['kueue.x-k8s.io/podset-required-topology', "
            "'kueue.x-k8s.io/podset-preferred-topology', "
            "'kueue.x-k8s.io/podset-unconstrained-topology']",
            f"{where}[kueue.x-k8s.io/podset-unconstrained-topology]: must be a boolean value",
            f"{where}[kueue.x-k8s.io/podset-slice-size]: must be greater than or equal to 1, got 0",
            f"{where}[kueue.x-k8s.io/podset-slice-size]: may not be set when "
            "'kueue.x-k8s.io/podset-slice-required-topology' is not specified",
        ]
    )


def test_a_workload_topology_request_breaking_kueues_crd_rules_is_refused(
    tmp_path: Path,
) -> None:
    text = """
apiVersion: kueue.x-k8s.io/v1beta2
kind: Workload
metadata: {name: w, namespace: team-a}
spec:
  queueName: q
  podSets:
  - name: main
    count: 4
    topologyRequest: {required: rack, preferred: block, podSetSliceSize: 3}
    template:
      spec:
        containers: [{name: c, image: i}]
"""
    with pytest.raises(InputError) as err:
        load(tmp_path, text)
    where = f"{tmp_path}/kueue.yaml: Workload team-a/w: spec.podSets[0].topologyRequest"
    assert [str(p) for p in err.value.problems] == [
        f"{where}: must set at most one of required, preferred, unconstrained: "
        "['required', 'preferred']",
        f"{where}: podSetSliceRequiredTopology and podSetSliceSize must be set together",
    ]


@pytest.mark.parametrize(
    ("values", "expected_level"),
    [
        ([("node-1",), ("node-2",)], {"individual": {"prefix": "node-", "roots": ["1", "2"]}}),
        ([("a-x",), ("a-x",)], {"universal": "a-x"}),
        (
            [("r1-gpu",), ("r22-gpu",)],
            {"individual": {"prefix": "r", "suffix": "-gpu", "roots": ["1", "22"]}},
        ),
        ([("ab",), ("abab",)], {"individual": {"suffix": "ab", "roots": ["", "ab"]}}),
    ],
)
def test_compact_encoding_shares_prefixes_and_suffixes_and_round_trips(
    values: list[tuple[str, ...]], expected_level: dict[str, object]
) -> None:
    domains = [DomainAssignment(v, i + 1) for i, v in enumerate(values)]
    encoded = encode_assignment(["kubernetes.io/hostname"], domains)
    assert encoded["slices"][0]["valuesPerLevel"] == [expected_level]
    assert encoded["slices"][0]["podCounts"] == {"individual": [1, 2]}
    assert decode_assignment(encoded) == (["kubernetes.io/hostname"], domains)


def test_a_cluster_queue_with_a_tas_flavor_whose_topology_is_missing_is_inactive(
    tmp_path: Path,
) -> None:
    text = GPU_QUEUES.replace("  topologyName: dc\n", "  topologyName: datacenter\n")
    inputs = load(tmp_path, text)
    cq = QueueState.build(inputs).cluster_queues["gpu"]
    assert (cq.inactive_reason, cq.inactive_message) == (
        "TopologyNotFound",
        'Can\'t admit new workloads: there is no Topology "datacenter" for TAS flavor "h100"',
    )
    placement = TopologyPlacement.from_input(inputs)
    assert placement.missing == {"h100": 'topology "datacenter" not found'}


def test_a_job_without_tas_annotations_still_records_its_pod_index_label(tmp_path: Path) -> None:
    # Kueue's Job integration (gate TopologyAwareScheduling on) always writes the index label.
    text = GPU_QUEUES.replace(
        "    annotations:\n        kueue.x-k8s.io/podset-required-topology: "
        "cloud.provider.com/topology-rack\n",
        "    annotations: {}\n",
    )
    inputs = load(tmp_path, text)
    (workload,) = inputs.add_job_workloads()
    assert workload.spec.pod_sets[0].topology_request == {
        "podIndexLabel": "batch.kubernetes.io/job-completion-index"
    }


def gated_pod(name: str, labels: dict[str, str], gated: bool = True) -> Pod:
    pod = Pod(metadata=ObjectMeta(name=name, namespace="team-a", labels=labels))
    if gated:
        pod.spec.scheduling_gates = [PodSchedulingGate(name="kueue.x-k8s.io/topology")]
    return pod


def test_the_ungater_places_jobset_pods_by_rank_job_index_then_completion_index() -> None:
    assignment = encode_assignment(
        ["kubernetes.io/hostname"],
        [DomainAssignment(("h1",), 2), DomainAssignment(("h2",), 2)],
    )
    request = TopologyRequest(
        pod_index_label="batch.kubernetes.io/job-completion-index",
        sub_group_index_label="jobset.sigs.k8s.io/job-index",
        sub_group_count=2,
    )
    pods = [
        gated_pod(
            f"p{job}-{index}",
            {
                "batch.kubernetes.io/job-completion-index": str(index),
                "jobset.sigs.k8s.io/job-index": str(job),
            },
        )
        for job in (1, 0)
        for index in (1, 0)
    ]
    placed = {
        p.metadata.name: s["kubernetes.io/hostname"]
        for p, s in ungate_pods(assignment, request, 4, pods)
    }
    # rank = job index x 2 + completion index: ranks 0, 1 on h1 and 2, 3 on h2.
    assert placed == {"p0-0": "h1", "p0-1": "h1", "p1-0": "h2", "p1-1": "h2"}


def test_the_ungater_falls_back_to_greedy_and_counts_pods_already_placed() -> None:
    assignment = encode_assignment(
        ["kubernetes.io/hostname"],
        [DomainAssignment(("h1",), 2), DomainAssignment(("h2",), 1)],
    )
    running = gated_pod("running", {}, gated=False)
    running.spec.node_selector = {"kubernetes.io/hostname": "h1"}
    pods = [running, gated_pod("a", {}), gated_pod("b", {})]
    placed = [(p.metadata.name, s) for p, s in ungate_pods(assignment, None, 3, pods)]
    assert placed == [
        ("a", {"kubernetes.io/hostname": "h1"}),
        ("b", {"kubernetes.io/hostname": "h2"}),
    ]


def test_a_tas_request_on_a_plain_flavor_or_for_a_missing_level_waits_with_kueues_message(
    tmp_path: Path,
) -> None:
    plain = racked(
        with_cluster(load(tmp_path, GPU_QUEUES.replace("  topologyName: dc\n", "")), "4xdgx-h100")
    )
    plain, _, admitted, waiting = run(plain)
    assert admitted == []
    assert waiting[workload_of(plain, "train")] == (
        "placement infeasible: couldn't assign flavors to pod set main: "
        'Flavor "h100" does not support TopologyAwareScheduling'
    )
    text = GPU_QUEUES.replace(
        "podset-required-topology: cloud.provider.com/topology-rack",
        "podset-required-topology: cloud.provider.com/topology-zone",
    )
    missing = racked(with_cluster(load(tmp_path, text, "zone.yaml"), "4xdgx-h100"))
    missing, _, admitted, waiting = run(missing)
    assert waiting[workload_of(missing, "train")] == (
        "placement infeasible: couldn't assign flavors to pod set main: "
        'Flavor "h100" does not contain the requested level'
    )


class Refuse:
    """A second placement check that refuses everything (the scheduler finds no node)."""

    def check(self, snapshot: Snapshot, entry: QueuedWorkload, assignment: Assignment) -> str:
        return "no node fits"


def test_a_chained_check_that_refuses_returns_the_tas_usage(tmp_path: Path) -> None:
    inputs = racked(with_cluster(load(tmp_path, GPU_QUEUES), "4xdgx-h100"))
    inputs.add_job_workloads()
    state = QueueState.build(inputs)
    manager = QueueManager(state)
    manager.add_all(inputs.workloads.values())
    tas = TopologyPlacement.from_input(inputs)
    result = schedule(state, manager, NOW, placement=tas.then(Refuse()))
    assert result.admitted == []
    assert [e.message for e in result.pending.values()] == ["placement infeasible: no node fits"]
    assert tas.charged == {}
    assert all(
        free["devices.dralloc.io/gpu.nvidia.com"] == 8 and free["cpu"] > 0
        for free in tas.snapshots["h100"].free_capacity().values()
    )
