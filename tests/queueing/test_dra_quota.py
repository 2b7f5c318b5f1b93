"""Quota in DRA terms (spec/queueing.md section 7 and dralloc's extension keys): devices per
DeviceClass, shared counters (MIG memory slices) and consumable capacity, from real
ResourceClaimTemplates, DeviceClasses and ResourceSlices."""

from __future__ import annotations

from pathlib import Path

from queueing_helpers import NOW, docs, flavor, load, local_queue, setup

from dralloc.queueing import (
    DeviceClassMapping,
    DraQuotaConfig,
    QueueManager,
    QueueState,
    schedule,
    workload_requests,
)
from dralloc.queueing.dra import DraInventory

DEVICES = """
apiVersion: resource.k8s.io/v1
kind: DeviceClass
metadata:
  name: mig.nvidia.com
spec:
  selectors:
  - cel:
      expression: >-
        device.driver == "gpu.nvidia.com" &&
        device.attributes["gpu.nvidia.com"].type == "mig"
---
apiVersion: resource.k8s.io/v1
kind: DeviceClass
metadata:
  name: mps.nvidia.com
spec:
  selectors:
  - cel:
      expression: >-
        device.driver == "gpu.nvidia.com" &&
        device.attributes["gpu.nvidia.com"].type == "shared"
---
apiVersion: resource.k8s.io/v1
kind: ResourceSlice
metadata:
  name: node-1-counters
spec:
  driver: gpu.nvidia.com
  nodeName: node-1
  pool:
    name: node-1
    generation: 1
    resourceSliceCount: 2
  sharedCounters:
  - name: gpu-0-counters
    counters:
      memory:
        value: 80Gi
---
apiVersion: resource.k8s.io/v1
kind: ResourceSlice
metadata:
  name: node-1-gpu
spec:
  driver: gpu.nvidia.com
  nodeName: node-1
  pool:
    name: node-1
    generation: 1
    resourceSliceCount: 2
  devices:
  - name: gpu-0-mig-1g
    attributes:
      type: {string: mig}
      profile: {string: 1g.10gb}
    consumesCounters:
    - counterSet: gpu-0-counters
      counters:
        memory: {value: 10Gi}
  - name: gpu-0-mig-3g
    attributes:
      type: {string: mig}
      profile: {string: 3g.40gb}
    consumesCounters:
    - counterSet: gpu-0-counters
      counters:
        memory: {value: 40Gi}
  - name: gpu-1-shared
    allowMultipleAllocations: true
    attributes:
      type: {string: shared}
    capacity:
      memory:
        value: 80Gi
        requestPolicy:
          default: 10Gi
          validRange:
            min: 1Gi
            step: 1Gi
"""

TEMPLATES = """
apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata:
  name: mig-3g
  namespace: team-a
spec:
  spec:
    devices:
      requests:
      - name: mig
        exactly:
          deviceClassName: mig.nvidia.com
          selectors:
          - cel:
              expression: device.attributes["gpu.nvidia.com"].profile == "3g.40gb"
---
apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata:
  name: shared-gpu
  namespace: team-a
spec:
  spec:
    devices:
      requests:
      - name: gpu
        exactly:
          deviceClassName: mps.nvidia.com
          capacity:
            requests:
              memory: 5500Mi
"""


def claim_workload(name: str, template: str, count: int) -> str:
    return f"""
apiVersion: kueue.x-k8s.io/v1beta2
kind: Workload
metadata:
  name: {name}
  namespace: team-a
  creationTimestamp: "2026-01-01T10:00:00Z"
spec:
  queueName: lq
  podSets:
  - name: workers
    count: {count}
    template:
      spec:
        resourceClaims:
        - name: gpu
          resourceClaimTemplateName: {template}
        containers:
        - name: trainer
          image: trainer
          resources:
            requests:
              cpu: "1"
            claims:
            - name: gpu
"""


MIG_CQ = """
apiVersion: kueue.x-k8s.io/v1beta2
kind: ClusterQueue
metadata:
  name: gpu-cq
spec:
  namespaceSelector: {}
  resourceGroups:
  - coveredResources: ["cpu", "gpu.nvidia.com/counter.memory", "devices.dralloc.io/mig.nvidia.com"]
    flavors:
    - name: default-flavor
      resources:
      - name: cpu
        nominalQuota: 32
      - name: gpu.nvidia.com/counter.memory
        nominalQuota: 80Gi
      - name: devices.dralloc.io/mig.nvidia.com
        nominalQuota: 7
"""


def test_mig_slices_charge_devices_per_class_and_the_shared_memory_counter(
    tmp_path: Path,
) -> None:
    inputs = load(tmp_path, docs(DEVICES, TEMPLATES, claim_workload("train", "mig-3g", 2)))
    state = QueueState.build(inputs)
    requests = workload_requests(
        inputs.workloads["team-a/train"], state.inventory, state.dra_config
    )
    assert requests.errors == []
    per_pod = requests.pod_sets[0].per_pod
    assert per_pod["devices.dralloc.io/mig.nvidia.com"] == 1
    assert per_pod["gpu.nvidia.com/counter.memory"] == 40 << 30
    assert per_pod["cpu"] == 1000


def test_a_queue_counting_mig_memory_admits_two_3g_slices_then_holds_the_third(
    tmp_path: Path,
) -> None:
    text = docs(
        flavor("default-flavor"),
        DEVICES,
        TEMPLATES,
        MIG_CQ,
        local_queue("lq", "gpu-cq"),
        claim_workload("first", "mig-3g", 2),
        claim_workload("second", "mig-3g", 1).replace("10:00:00Z", "10:05:00Z"),
    )
    inputs = load(tmp_path, text)
    state, manager = setup(inputs)
    assert schedule(state, manager, NOW).admitted == ["team-a/first"]
    usage = inputs.workloads["team-a/first"].status.admission
    assert usage is not None
    assert {k: str(v) for k, v in usage.pod_set_assignments[0].resource_usage.items()} == {
        "cpu": "2",
        "devices.dralloc.io/mig.nvidia.com": "2",
        "gpu.nvidia.com/counter.memory": "80Gi",
    }
    result = schedule(state, manager, NOW)
    assert result.admitted == []
    cond = inputs.workloads["team-a/second"].condition("QuotaReserved")
    assert cond is not None and cond.reason == "WaitingForQuota"
    wanted = "insufficient unused quota for gpu.nvidia.com/counter.memory in flavor default-flavor"
    assert f"{wanted}, 40Gi more needed" in cond.message


def test_consumable_capacity_is_rounded_up_by_the_request_policy(tmp_path: Path) -> None:
    inputs = load(tmp_path, docs(DEVICES, TEMPLATES, claim_workload("mps", "shared-gpu", 3)))
    state = QueueState.build(inputs)
    requests = workload_requests(inputs.workloads["team-a/mps"], state.inventory, state.dra_config)
    # 5500Mi rounds up to the 1Gi step: 6Gi per pod.
    assert requests.pod_sets[0].per_pod["gpu.nvidia.com/capacity.memory"] == 6 << 30
    assert requests.pod_sets[0].total()["gpu.nvidia.com/capacity.memory"] == 18 << 30


def test_extension_keys_a_queue_does_not_cover_are_ignored_there(tmp_path: Path) -> None:
    cpu_only = MIG_CQ.replace(
        '["cpu", "gpu.nvidia.com/counter.memory", "devices.dralloc.io/mig.nvidia.com"]', '["cpu"]'
    )
    cpu_only = cpu_only.split("      - name: gpu.nvidia.com/counter.memory")[0]
    text = docs(
        flavor("default-flavor"),
        DEVICES,
        TEMPLATES,
        cpu_only,
        local_queue("lq", "gpu-cq"),
        claim_workload("first", "mig-3g", 2),
    )
    state, manager = setup(load(tmp_path, text))
    assert schedule(state, manager, NOW).admitted == ["team-a/first"]


def test_kueue_device_class_mapping_counts_devices_under_the_logical_name(tmp_path: Path) -> None:
    inputs = load(tmp_path, docs(DEVICES, TEMPLATES, claim_workload("train", "mig-3g", 4)))
    config = DraQuotaConfig(
        mappings=(DeviceClassMapping("example.com/mig", ("mig.nvidia.com",)),),
        extension_keys=False,
    )
    state = QueueState.build(inputs, dra_config=config)
    requests = workload_requests(inputs.workloads["team-a/train"], state.inventory, config)
    assert requests.pod_sets[0].per_pod == {"cpu": 1000, "example.com/mig": 1}
    assert requests.pod_sets[0].total() == {"cpu": 4000, "example.com/mig": 4}


def test_without_extension_an_unmapped_class_makes_the_workload_misconfigured(
    tmp_path: Path,
) -> None:
    config = DraQuotaConfig(extension_keys=False)
    text = docs(
        flavor("default-flavor"),
        DEVICES,
        TEMPLATES,
        MIG_CQ,
        local_queue("lq", "gpu-cq"),
        claim_workload("train", "mig-3g", 1),
    )
    inputs = load(tmp_path, text)
    state = QueueState.build(inputs, dra_config=config)
    manager = QueueManager(state)
    manager.add_all(inputs.workloads.values())
    result = schedule(state, manager, NOW)
    entry = result.pending["team-a/train"]
    assert entry.reason == "Misconfigured"
    assert entry.message == (
        "resources validation failed: spec.podSets[0] (workers): ResourceClaimTemplate "
        "team-a/mig-3g: spec.spec.devices.requests[0]: DeviceClass mig.nvidia.com is not "
        "mapped in deviceClassMappings"
    )


def test_a_missing_template_is_named(tmp_path: Path) -> None:
    inputs = load(tmp_path, docs(DEVICES, claim_workload("train", "nope", 1)))
    state = QueueState.build(inputs)
    requests = workload_requests(inputs.workloads["team-a/train"], DraInventory(), state.dra_config)
    assert requests.errors == [
        "spec.podSets[0] (workers): spec.resourceClaims[0] (gpu): ResourceClaimTemplate "
        "team-a/nope not found"
    ]
