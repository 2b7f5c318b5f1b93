"""Fragmented clusters for the consolidation tests: a generated fleet plus bound pods whose
claims are allocated where the test says, and the invariants a plan must keep."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dralloc.api.io import kube_dict, list_document
from dralloc.api.resource import ResourceSlice
from dralloc.cli.inputs import read_cluster
from dralloc.cli.schedule import SchedulePlan, plan_schedule
from dralloc.controllers.consolidation import HOLD_NAMESPACE
from dralloc.devices import load_catalog
from dralloc.devices.cluster import generate_cluster, parse_group
from dralloc.features import Features
from dralloc.scheduler.cache import pod_claim_keys
from dralloc.scheduler.config import SchedulerConfiguration
from dralloc.scheduler.framework import Framework

MIG_PROFILE = 'device.attributes["gpu.nvidia.com"].profile == "1g.10gb"'
PRIORITY_CLASSES = """\
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: serving}
value: 1000
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: batch}
value: 10
"""


@dataclass(frozen=True)
class Running:
    """A bound pod holding `devices` of `node` through one claim."""

    name: str
    node: str
    devices: tuple[str, ...]
    mig: bool = False
    priority_class: str = "batch"
    owned: bool = True
    annotations: tuple[tuple[str, str], ...] = ()
    labels: tuple[tuple[str, str], ...] = (("app", "train"),)


def cluster_text(*groups: str) -> str:
    cluster = generate_cluster([parse_group(g) for g in groups], load_catalog())
    objects = [*cluster.classes, *cluster.nodes, *cluster.slices]
    return yaml.safe_dump(list_document(kube_dict(o) for o in objects), sort_keys=False)


def running_documents(pods: Sequence[Running]) -> str:
    documents: list[dict[str, Any]] = []
    for pod in pods:
        uid = f"00000000-0000-0000-0000-{abs(hash(pod.name)) % 10**12:012d}"
        request: dict[str, Any] = {
            "deviceClassName": "mig.nvidia.com" if pod.mig else "gpu.nvidia.com",
            "count": len(pod.devices),
        }
        if pod.mig:
            request["selectors"] = [{"cel": {"expression": MIG_PROFILE}}]
        documents.append(
            {
                "apiVersion": "resource.k8s.io/v1",
                "kind": "ResourceClaim",
                "metadata": {"name": f"{pod.name}-gpu", "namespace": "default"},
                "spec": {"devices": {"requests": [{"name": "gpu", "exactly": request}]}},
                "status": {
                    "allocation": {
                        "devices": {
                            "results": [
                                {
                                    "request": "gpu",
                                    "driver": "gpu.nvidia.com",
                                    "pool": pod.node,
                                    "device": device,
                                }
                                for device in pod.devices
                            ]
                        },
                        "nodeSelector": {
                            "nodeSelectorTerms": [
                                {
                                    "matchFields": [
                                        {
                                            "key": "metadata.name",
                                            "operator": "In",
                                            "values": [pod.node],
                                        }
                                    ]
                                }
                            ]
                        },
                    },
                    "reservedFor": [{"resource": "pods", "name": pod.name, "uid": uid}],
                },
            }
        )
        metadata: dict[str, Any] = {
            "name": pod.name,
            "namespace": "default",
            "uid": uid,
            "labels": dict(pod.labels),
        }
        if pod.annotations:
            metadata["annotations"] = dict(pod.annotations)
        if pod.owned:
            metadata["ownerReferences"] = [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": "train",
                    "uid": "00000000-0000-0000-0000-00000000aaaa",
                    "controller": True,
                }
            ]
        documents.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": metadata,
                "spec": {
                    "nodeName": pod.node,
                    "priorityClassName": pod.priority_class,
                    "containers": [
                        {"name": "w", "image": "train", "resources": {"claims": [{"name": "gpu"}]}}
                    ],
                    "resourceClaims": [{"name": "gpu", "resourceClaimName": f"{pod.name}-gpu"}],
                },
            }
        )
    return PRIORITY_CLASSES + "---\n" + yaml.safe_dump_all(documents, sort_keys=False)


def write_input(folder: Path, groups: Sequence[str], pods: Sequence[Running]) -> list[str]:
    cluster = folder / "cluster.yaml"
    cluster.write_text(cluster_text(*groups), encoding="utf-8")
    running = folder / "running.yaml"
    running.write_text(running_documents(pods), encoding="utf-8")
    return [str(cluster), str(running)]


def load_plan(paths: list[str]) -> tuple[SchedulePlan, dict[str, Framework], Any]:
    cluster = read_cluster(paths)
    plan, frameworks = plan_schedule(cluster, SchedulerConfiguration(), Features(), None)
    return plan, frameworks, cluster


def check_invariants(
    plan: SchedulePlan, running_before: set[str], slices: Sequence[ResourceSlice] = ()
) -> None:
    """Every pod still runs, each claim allocated on its pod's node and reserved by it; a
    device is held by one claim, or shared within its capacity (`slices` give it); no
    what-if claim is left."""
    cache = plan.cache
    assert set(cache.pods) == running_before
    assert not [k for k in cache.claims if k.startswith(f"{HOLD_NAMESPACE}/")]
    capacity = {
        (s.spec.driver, s.spec.pool.name, d.name): {n: c.value for n, c in d.capacity.items()}
        for s in slices
        for d in s.spec.devices
    }
    dedicated: Counter[tuple[str, str, str]] = Counter()
    consumed: dict[tuple[str, str, str], Counter[str]] = {}
    for claim in cache.claims.values():
        allocation = claim.status.allocation
        if allocation is None:
            continue
        for result in allocation.devices.results:
            device = (result.driver, result.pool, result.device)
            if result.share_id:
                tally = consumed.setdefault(device, Counter())
                for name, amount in result.consumed_capacity.items():
                    tally[name] += amount.nano
            else:
                dedicated[device] += 1
    assert [device for device, n in dedicated.items() if n > 1] == []
    assert [device for device in dedicated if device in consumed] == []
    for device, tally in consumed.items():
        for name, nano in tally.items():
            assert nano <= capacity[device][name].nano, f"{device} {name} over capacity"
    counters: dict[tuple[str, str, str], Counter[str]] = {}
    limits: dict[tuple[str, str, str], dict[str, int]] = {}
    published = {
        (s.spec.driver, s.spec.pool.name, d.name): d for s in slices for d in s.spec.devices
    }
    for each in slices:
        for counter_set in each.spec.shared_counters:
            where = (each.spec.driver, each.spec.pool.name, counter_set.name)
            limits[where] = {n: c.value.nano for n, c in counter_set.counters.items()}
    for device in {*dedicated, *consumed}:
        for consumption in published[device].consumes_counters:
            where = (device[0], device[1], consumption.counter_set)
            tally = counters.setdefault(where, Counter())
            for name, counter in consumption.counters.items():
                tally[name] += counter.value.nano
    for where, tally in counters.items():
        for name, nano in tally.items():
            assert nano <= limits[where][name], f"counter {where} {name} exceeded"
    for key, (info, node) in cache.pods.items():
        assert info.pod.spec.node_name == node
        for _, claim_key in pod_claim_keys(info.pod):
            assert claim_key is not None
            claim = cache.claims[claim_key]
            assert claim.status.allocation is not None, f"{key}: {claim_key} not allocated"
            assert {r.pool for r in claim.status.allocation.devices.results} == {node}
            assert [r.name for r in claim.status.reserved_for] == [info.pod.metadata.name]
