"""Consolidation of GPUs shared by fractions (HAMi-style `memory` capacity, HAMi#2072's manual
eviction case) and of dynamic MIG: the fragmented state is what `dralloc schedule` made of
pods pinned to GPUs, and the plan packs them so that whole GPUs are free again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from consolidation_kit import PRIORITY_CLASSES, check_invariants, cluster_text, load_plan
from typer.testing import CliRunner

from dralloc.cli.main import app
from dralloc.controllers.consolidation import consolidate
from dralloc.devices.slices import gpu_uuid

OWNER = {
    "apiVersion": "apps/v1",
    "kind": "ReplicaSet",
    "name": "infer",
    "uid": "00000000-0000-0000-0000-00000000bbbb",
    "controller": True,
}


def pinned_pod(name: str, node: str, gpu: str, request: dict[str, Any]) -> list[dict[str, Any]]:
    """A pod and its claim whose selector pins it to `gpu` of `node` (so `dralloc schedule`
    makes the fragmentation); the pin is dropped before consolidating."""
    claim = {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaim",
        "metadata": {"name": f"{name}-gpu", "namespace": "default"},
        "spec": {"devices": {"requests": [{"name": "gpu", "exactly": request}]}},
    }
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": f"00000000-0000-0000-0000-{abs(hash(name)) % 10**12:012d}",
            "ownerReferences": [OWNER],
        },
        "spec": {
            "priorityClassName": "batch",
            "nodeSelector": {"kubernetes.io/hostname": node, "dralloc.test/gpu": gpu},
            "containers": [
                {"name": "w", "image": "infer", "resources": {"claims": [{"name": "gpu"}]}}
            ],
            "resourceClaims": [{"name": "gpu", "resourceClaimName": f"{name}-gpu"}],
        },
    }
    return [claim, pod]


def fragment(
    tmp_path: Path, group: str, pods: list[dict[str, Any]], pins: dict[str, str]
) -> list[str]:
    """Schedule `pods` (each claim's selector picks its GPU by `pins[name]`) and write the
    bound result, pins removed, beside the cluster."""
    cluster = tmp_path / "cluster.yaml"
    cluster.write_text(cluster_text(group), encoding="utf-8")
    pending = tmp_path / "pending.yaml"
    for document in pods:
        if document["kind"] == "ResourceClaim":
            name = document["metadata"]["name"].removesuffix("-gpu")
            exactly = document["spec"]["devices"]["requests"][0]["exactly"]
            exactly.setdefault("selectors", []).append({"cel": {"expression": pins[name]}})
        else:
            document["spec"]["nodeSelector"].pop("dralloc.test/gpu")
    pending.write_text(PRIORITY_CLASSES + "---\n" + yaml.safe_dump_all(pods), encoding="utf-8")
    result = CliRunner().invoke(app, ["schedule", "-f", str(cluster), "-f", str(pending)])
    assert result.exit_code == 0, result.stderr
    items = yaml.safe_load(result.stdout)["items"]
    for item in items:
        if item["kind"] == "Pod":
            item["spec"].pop("nodeSelector")
        else:  # the pin stays in the claim's spec: drop it, the allocation is what counts
            exactly = item["spec"]["devices"]["requests"][0]["exactly"]
            exactly["selectors"] = exactly["selectors"][:-1] or None
            if exactly["selectors"] is None:
                del exactly["selectors"]
    running = tmp_path / "running.yaml"
    running.write_text(
        PRIORITY_CLASSES
        + "---\n"
        + yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}),
        encoding="utf-8",
    )
    return [str(cluster), str(running)]


def test_fractional_pods_on_four_gpus_are_packed_onto_one(tmp_path: Path) -> None:
    pods: list[dict[str, Any]] = []
    pins: dict[str, str] = {}
    for index, (node, gpu) in enumerate([("l4-00", 0), ("l4-00", 1), ("l4-01", 0), ("l4-01", 1)]):
        name = f"infer-{index}"
        pods += pinned_pod(
            name,
            node,
            f"gpu-{gpu}",
            {
                "deviceClassName": "gpu-fractional.dralloc.io",
                "capacity": {"requests": {"memory": "5Gi", "cores": "20"}},
            },
        )
        pins[name] = f'device.attributes["gpu.nvidia.com"].uuid == "{gpu_uuid(node, gpu)}"'
    paths = fragment(tmp_path, "2xl4:gpus=2,sharing=fractional", pods, pins)
    plan, frameworks, cluster = load_plan(paths)
    running = set(plan.cache.pods)
    result = consolidate(plan.cache, frameworks, cluster.slices)
    assert result.free_gpus_before == 0
    assert result.free_gpus_after == 3  # 4 x (5Gi, 20% of the SMs) fit in one L4
    check_invariants(plan, running, cluster.slices)


def test_dynamic_mig_instances_on_two_gpus_move_onto_one(tmp_path: Path) -> None:
    pods: list[dict[str, Any]] = []
    pins: dict[str, str] = {}
    profile = 'device.attributes["gpu.nvidia.com"].profile == "1g.10gb"'
    for index, gpu in enumerate([0, 1]):
        name = f"mig-{index}"
        pods += pinned_pod(
            name,
            "a100-80gb-00",
            f"gpu-{gpu}",
            {
                "deviceClassName": "mig.nvidia.com",
                "selectors": [{"cel": {"expression": profile}}],
            },
        )
        parent = gpu_uuid("a100-80gb-00", gpu)
        pins[name] = f'device.attributes["gpu.nvidia.com"].parentUUID == "{parent}"'
    paths = fragment(tmp_path, "1xa100-80gb:gpus=2,mig=dynamic", pods, pins)
    plan, frameworks, cluster = load_plan(paths)
    running = set(plan.cache.pods)
    result = consolidate(plan.cache, frameworks, cluster.slices)
    assert (result.free_gpus_before, result.free_gpus_after) == (0, 1)
    assert result.reopened == ["a100-80gb-00/gpu-0"]
    check_invariants(plan, running, cluster.slices)
