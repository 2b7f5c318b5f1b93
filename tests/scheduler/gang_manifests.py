"""Manifests for the gang tests: nodes with GPUs published as a ResourceSlice each, pods that
ask for GPUs through a claim template, and the gang objects of the three sources."""

from __future__ import annotations

from pathlib import Path

from dralloc.cli.inputs import ClusterInput, read_cluster
from dralloc.cli.schedule import plan_schedule
from dralloc.features import Features, parse_gates
from dralloc.scheduler.config import SchedulerConfiguration
from dralloc.scheduler.framework import Framework
from dralloc.scheduler.offline import SchedulePlan, attach_gangs, queue_order, schedule_queue
from dralloc.scheduler.scheduler import ScheduleOutcome

GANGS_ON = parse_gates("GenericWorkload=true,GangScheduling=true")
DRIVER = "gpu.example.com"


def device_class() -> str:
    return f"""apiVersion: resource.k8s.io/v1
kind: DeviceClass
metadata: {{name: {DRIVER}}}
spec:
  selectors:
  - cel: {{expression: "device.driver == '{DRIVER}'"}}
"""


def node(name: str, gpus: int) -> str:
    devices = "\n".join(f"  - name: gpu-{i}" for i in range(gpus)) or "  []"
    return f"""apiVersion: v1
kind: Node
metadata:
  name: {name}
  labels: {{kubernetes.io/hostname: {name}}}
status:
  allocatable: {{cpu: "64", memory: 512Gi, pods: "110"}}
---
apiVersion: resource.k8s.io/v1
kind: ResourceSlice
metadata: {{name: {name}-gpus}}
spec:
  driver: {DRIVER}
  nodeName: {name}
  pool: {{name: {name}, generation: 1, resourceSliceCount: 1}}
  devices:
{devices}
"""


def template(name: str, gpus: int) -> str:
    return f"""apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata: {{name: {name}, namespace: default}}
spec:
  spec:
    devices:
      requests:
      - name: gpus
        exactly: {{deviceClassName: {DRIVER}, allocationMode: ExactCount, count: {gpus}}}
"""


def pod(
    name: str,
    *,
    template_name: str | None = None,
    claim: str | None = None,
    group: str | None = None,
    annotations: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    priority: int | None = None,
    scheduler: str | None = None,
    node_name: str | None = None,
) -> str:
    meta = ""
    if annotations:
        items = ", ".join(f"{k}: {v}" for k, v in annotations.items())
        meta = f"\n  annotations: {{{items}}}"
    if labels:
        items = ", ".join(f"{k}: {v}" for k, v in labels.items())
        meta += f"\n  labels: {{{items}}}"
    spec = ""
    if group is not None:
        spec += f"\n  schedulingGroup: {{podGroupName: {group}}}"
    if priority is not None:
        spec += f"\n  priority: {priority}"
    if scheduler is not None:
        spec += f"\n  schedulerName: {scheduler}"
    if node_name is not None:
        spec += f"\n  nodeName: {node_name}"
    claims = ""
    if template_name is not None or claim is not None:
        source = (
            f"resourceClaimTemplateName: {template_name}"
            if template_name is not None
            else f"resourceClaimName: {claim}"
        )
        claims = f"""
  resourceClaims:
  - name: gpus
    {source}"""
    uses = "\n      claims: [{name: gpus}]" if claims else ""
    return f"""apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: default{meta}
spec:{spec}
  containers:
  - name: main
    image: busybox
    resources:
      requests: {{cpu: "1"}}{uses}{claims}
"""


def pod_group(name: str, min_count: int | None) -> str:
    policy = "basic: {}" if min_count is None else f"gang: {{minCount: {min_count}}}"
    return f"""apiVersion: scheduling.k8s.io/v1alpha2
kind: PodGroup
metadata: {{name: {name}, namespace: default}}
spec:
  schedulingPolicy:
    {policy}
"""


def volcano_group(name: str, min_member: int) -> str:
    return f"""apiVersion: scheduling.volcano.sh/v1beta1
kind: PodGroup
metadata: {{name: {name}, namespace: default}}
spec: {{minMember: {min_member}, queue: default}}
"""


def read(tmp_path: Path, *documents: str) -> ClusterInput:
    path = tmp_path / f"input-{len(list(tmp_path.iterdir()))}.yaml"
    path.write_text("---\n".join(documents))
    return read_cluster([str(path)])


def schedule(
    cluster: ClusterInput, features: Features = GANGS_ON
) -> tuple[SchedulePlan, dict[str, ScheduleOutcome], dict[str, Framework]]:
    """`dralloc schedule` over the input with its gangs: outcomes by pod name."""
    plan, frameworks = plan_schedule(cluster, SchedulerConfiguration(), features, 0)
    found = attach_gangs(plan, cluster.objects, features)
    assert not found.problems
    plan.warnings.extend(found.warnings)
    outcomes, _ = schedule_queue(plan, frameworks, queue_order(plan))
    by_name = {e.pod.metadata.name: outcomes[e.index] for e in plan.pending}
    return plan, by_name, frameworks
