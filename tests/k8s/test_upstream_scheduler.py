"""The upstream kube-scheduler runs in the harness and binds pods: the ground the scheduler
differential tests stand on."""

from __future__ import annotations

import uuid

import pytest
from controlplane import ApiServer, KubeScheduler

pytestmark = pytest.mark.k8s("kube-scheduler")


def test_kube_scheduler_binds_a_pod_to_the_only_node_with_room(
    apiserver: ApiServer, kube_scheduler: KubeScheduler, namespace: str
) -> None:
    admin = apiserver.admin
    big, small = f"big-{uuid.uuid4().hex[:8]}", f"small-{uuid.uuid4().hex[:8]}"
    for node, cpu in ((big, "8"), (small, "1")):
        admin.create(
            "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}}
        ).raise_for_status()
        # What a kubelet would report; without allocatable pods, no pod fits anywhere.
        allocatable = {"cpu": cpu, "memory": "16Gi", "pods": "110"}
        admin.patch_status(
            f"/api/v1/nodes/{node}",
            {"status": {"capacity": allocatable, "allocatable": allocatable}},
        ).raise_for_status()
    try:
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "needs-4-cpus"},
            "spec": {
                "containers": [
                    {
                        "name": "main",
                        "image": "registry.k8s.io/pause:3.10",
                        "resources": {"requests": {"cpu": "4"}},
                    }
                ]
            },
        }
        admin.create(f"/api/v1/namespaces/{namespace}/pods", pod).raise_for_status()
        bound_to = None
        for event in admin.watch(
            f"/api/v1/namespaces/{namespace}/pods", fieldSelector="metadata.name=needs-4-cpus"
        ):
            bound_to = event["object"]["spec"].get("nodeName")
            if bound_to:
                break
        assert bound_to == big
    finally:
        for node in (big, small):
            admin.delete(f"/api/v1/nodes/{node}").raise_for_status()
