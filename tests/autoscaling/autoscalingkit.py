"""Builders the autoscaling tests share: the shapes and config files (`shapes_text`,
`config_text`), GPU claims and pods as users write them (`gpu_claim`, `gpu_pod`), the
ResourceClaimTemplate of four whole GPUs that PodTemplates name, and `World`, a tiny replay
that materializes the fleet's nodes once their devices are published and binds pods for real.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from dralloc.api.core import Node, Pod
from dralloc.api.io import decode_object
from dralloc.api.meta import OwnerReference
from dralloc.api.resource import ResourceClaim
from dralloc.autoscaling import Fleet, NodePhase, parse_autoscaling_text
from dralloc.autoscaling.clusterautoscaler import ClusterAutoscaler, UnschedulablePod
from dralloc.autoscaling.config import AutoscalingConfig
from dralloc.autoscaling.planning import ClusterState, PlanningSnapshot, pod_key
from dralloc.devices.catalog import Catalog
from dralloc.devices.classes import driver_device_classes

# A ResourceClaimTemplate for PodTemplates' `resourceClaimTemplateName: four-gpus`.
FOUR_GPUS_TEMPLATE = """\
apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata: {name: four-gpus, namespace: default}
spec:
  spec:
    devices:
      requests:
      - {name: gpu, exactly: {deviceClassName: gpu.nvidia.com, count: 4}}
"""

FAST = '{launch: "fixed:60", register: "fixed:30", ready: "fixed:30", devices: "fixed:60"}'


def shapes_text(
    l4x4_price: str = "{onDemand: 4.0, spot: 1.5}", l4x4_more: str = "", extra_shape: str = ""
) -> str:
    """The `shapes:` list: an L4 node with 4 GPUs (`l4x4`, priced `l4x4_price`, with
    `l4x4_more` lines), `extra_shape`'s entries, 8 L4 GPUs (`l4x8`, $8/h) and a DGX H100 with
    static all-1g.10gb MIG (`h100-mig`)."""
    return f"""\
shapes:
- name: l4x4
  shape: l4
  gpus: 4
  price: {l4x4_price}
{l4x4_more}  provisioning: {FAST}
{extra_shape}- name: l4x8
  shape: l4
  gpus: 8
  price: {{onDemand: 8.0}}
  provisioning: {FAST}
- name: h100-mig
  shape: dgx-h100
  mig: static
  layout: all-1g.10gb
  price: {{onDemand: 98.32}}
  provisioning: {FAST}
"""


def config_text(groups: str, options: str = "{}", extra_shape: str = "") -> str:
    """A cluster-autoscaler mode file over `shapes_text()` with `groups` as `nodeGroups`."""
    return f"""\
apiVersion: dralloc.io/v1alpha1
kind: Autoscaling
mode: cluster-autoscaler
{shapes_text(extra_shape=extra_shape)}nodeGroups:
{groups}
options: {options}
"""


def load(text: str, catalog: Catalog) -> AutoscalingConfig:
    return parse_autoscaling_text(text, "autoscaling.yaml", catalog=catalog)


def obj(raw: dict[str, object]) -> object:
    loaded, problems = decode_object(raw, "test.yaml", 0)
    assert loaded is not None, problems
    return loaded.obj


def gpu_claim(name: str, count: int = 1, device_class: str = "gpu.nvidia.com") -> ResourceClaim:
    claim = obj(
        {
            "apiVersion": "resource.k8s.io/v1",
            "kind": "ResourceClaim",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {
                "devices": {
                    "requests": [
                        {
                            "name": "gpu",
                            "exactly": {"deviceClassName": device_class, "count": count},
                        }
                    ]
                }
            },
        }
    )
    assert isinstance(claim, ResourceClaim)
    return claim


def gpu_pod(name: str, claim: str, *, cpu: str = "4", owned: bool = True) -> Pod:
    pod = obj(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {
                "containers": [
                    {"name": "main", "image": "trainer", "resources": {"requests": {"cpu": cpu}}}
                ],
                "resourceClaims": [{"name": "gpu", "resourceClaimName": claim}],
            },
        }
    )
    assert isinstance(pod, Pod)
    if owned:
        owner = OwnerReference(
            api_version="apps/v1", kind="ReplicaSet", name="trainer", uid="rs", controller=True
        )
        pod = msgspec.structs.replace(
            pod, metadata=msgspec.structs.replace(pod.metadata, owner_references=[owner])
        )
    return pod


class World:
    """A tiny replay: the fleet's nodes appear in the cluster once their devices are
    published; running pods sit on nodes with their claims allocated."""

    def __init__(self, autoscaler: ClusterAutoscaler) -> None:
        self.ca = autoscaler
        self.claims: dict[str, ResourceClaim] = {}
        self.running: list[Pod] = []

    def cluster_at(self, now: float) -> ClusterState:
        nodes: list[Node] = []
        slices = []
        for node in self.ca.fleet.nodes():
            phase = node.lifecycle.phase_at(now)
            if phase in (NodePhase.DEVICES_PUBLISHED, NodePhase.DELETING):
                template = self.ca.templates[node.lifecycle.shape]
                copy = template.instantiate(node.name, node_name=node.name)
                nodes.append(copy.node)
                slices.extend(copy.slices)
        return ClusterState(
            nodes=nodes,
            slices=slices,
            classes=driver_device_classes(),
            claims=list(self.claims.values()),
            pods=list(self.running),
        )

    def run(self, now: float, pending: Sequence[tuple[Pod, float]] = ()) -> list[object]:
        state = self.cluster_at(now)
        result = self.ca.run_once(now, state, [UnschedulablePod(p, s) for p, s in pending])
        return list(result.decisions)

    def bind(self, now: float, pods: Sequence[Pod]) -> None:
        """Schedule `pods` for real on the ready cluster (as the replay's scheduler would)."""
        snapshot = PlanningSnapshot.of(self.cluster_at(now), self.ca.features)
        for pod in pods:
            node = snapshot.place(pod)
            assert node is not None, f"{pod_key(pod)} fits nowhere"
        bound = {key: node for key, (_, node) in snapshot.built.cache.pods.items()}
        self.running = [
            msgspec.structs.replace(
                p, spec=msgspec.structs.replace(p.spec, node_name=bound[pod_key(p)])
            )
            for p in pods
        ]
        for key, claim in snapshot.built.cache.claims.items():
            self.claims[key] = claim


def autoscaler(config: AutoscalingConfig, catalog: Catalog, seed: int = 7) -> ClusterAutoscaler:
    return ClusterAutoscaler(config, Fleet(config, seed=seed), catalog, seed=seed)
