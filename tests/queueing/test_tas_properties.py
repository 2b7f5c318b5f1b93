"""Properties of TAS at admission (`TopologyPlacement` in the admission cycle): over random
clusters and Workloads of several pod sets, no host is ever given more than its allocatable,
every admitted pod set's assignment counts add up to its pod count, `required` pod sets sit in
one domain, and pod sets of one Workload never double-book a host (assumed usage)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dralloc.api.core import Node
from dralloc.api.meta import ObjectMeta
from dralloc.api.quantity import Quantity
from dralloc.queueing import (
    QueueManager,
    QueueState,
    TopologyPlacement,
    decode_assignment,
    decode_documents,
    schedule,
)

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
RACK = "cloud.provider.com/topology-rack"
HOST = "kubernetes.io/hostname"


def base_documents() -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "kueue.x-k8s.io/v1beta2",
            "kind": "Topology",
            "metadata": {"name": "dc"},
            "spec": {"levels": [{"nodeLabel": RACK}, {"nodeLabel": HOST}]},
        },
        {
            "apiVersion": "kueue.x-k8s.io/v1beta2",
            "kind": "ResourceFlavor",
            "metadata": {"name": "tas"},
            "spec": {"topologyName": "dc"},
        },
        {
            "apiVersion": "kueue.x-k8s.io/v1beta2",
            "kind": "ClusterQueue",
            "metadata": {"name": "cq"},
            "spec": {
                "namespaceSelector": {},
                "resourceGroups": [
                    {
                        "coveredResources": ["cpu"],
                        "flavors": [
                            {"name": "tas", "resources": [{"name": "cpu", "nominalQuota": "1000"}]}
                        ],
                    }
                ],
            },
        },
        {
            "apiVersion": "kueue.x-k8s.io/v1beta2",
            "kind": "LocalQueue",
            "metadata": {"name": "lq", "namespace": "ns"},
            "spec": {"clusterQueue": "cq"},
        },
    ]


def workload(
    name: str, minute: int, pod_sets: list[tuple[int, int, dict[str, Any]]]
) -> dict[str, Any]:
    return {
        "apiVersion": "kueue.x-k8s.io/v1beta2",
        "kind": "Workload",
        "metadata": {
            "name": name,
            "namespace": "ns",
            "creationTimestamp": f"2026-01-01T10:{minute:02d}:00Z",
        },
        "spec": {
            "queueName": "lq",
            "podSets": [
                {
                    "name": f"ps{i}",
                    "count": count,
                    "topologyRequest": request,
                    "template": {
                        "spec": {
                            "containers": [
                                {
                                    "name": "c",
                                    "image": "i",
                                    "resources": {"requests": {"cpu": str(cpu)}},
                                }
                            ]
                        }
                    },
                }
                for i, (count, cpu, request) in enumerate(pod_sets)
            ],
        },
    }


requests = st.sampled_from(
    [{"required": RACK}, {"required": HOST}, {"preferred": RACK}, {"unconstrained": True}]
)
pod_sets = st.lists(
    st.tuples(st.integers(1, 6), st.integers(1, 3), requests), min_size=1, max_size=3
)


@settings(max_examples=60, deadline=None)
@given(
    racks=st.lists(st.lists(st.integers(0, 8), min_size=1, max_size=3), min_size=1, max_size=3),
    workloads=st.lists(pod_sets, min_size=1, max_size=5),
)
def test_admitted_tas_workloads_never_overcommit_a_host_and_counts_add_up(
    racks: list[list[int]], workloads: list[list[tuple[int, int, dict[str, Any]]]]
) -> None:
    docs = base_documents() + [workload(f"w{i}", i, ps) for i, ps in enumerate(workloads)]
    inputs, problems = decode_documents(("gen.yaml", i, d) for i, d in enumerate(docs))
    assert problems == []
    capacity: dict[str, int] = {}
    rack_of: dict[str, str] = {}
    for r, hosts in enumerate(racks):
        for h, cpu in enumerate(hosts):
            name = f"r{r}h{h}"
            capacity[name], rack_of[name] = cpu, f"r{r}"
            labels = {RACK: f"r{r}", HOST: name}
            n = Node(metadata=ObjectMeta(name=name, labels=labels))
            n.status.allocatable = {"cpu": Quantity.parse(str(cpu)), "pods": Quantity.parse("110")}
            inputs.nodes.append(n)
    state = QueueState.build(inputs)
    manager = QueueManager(state)
    manager.add_all(inputs.workloads.values())
    placement = TopologyPlacement.from_input(inputs)
    admitted: list[str] = []
    for _ in range(len(workloads) + 1):
        admitted += schedule(state, manager, NOW, placement=placement).admitted
    used = dict.fromkeys(capacity, 0)
    for key in admitted:
        wl = inputs.workloads[key]
        assert wl.status.admission is not None
        for i, psa in enumerate(wl.status.admission.pod_set_assignments):
            pod_set = wl.spec.pod_sets[i]
            assert psa.topology_assignment is not None
            levels, domains = decode_assignment(psa.topology_assignment)
            assert levels == [HOST]
            assert sum(d.count for d in domains) == pod_set.count
            cpu = int(pod_set.template.spec.containers[0].resources.requests["cpu"].ceil_int())
            for d in domains:
                used[d.values[0]] += d.count * cpu
            required = (pod_set.topology_request or {}).get("required")
            if required == RACK:
                assert len({rack_of[d.values[0]] for d in domains}) == 1
            if required == HOST:
                assert len(domains) == 1
    assert all(used[h] <= capacity[h] for h in capacity), (used, capacity)
    # What the snapshots hold agrees with what was admitted.
    snap = placement.snapshots["tas"]
    for values, free in snap.free_capacity().items():
        assert free["cpu"] == capacity[values[-1]] * 1000 - used[values[-1]] * 1000
