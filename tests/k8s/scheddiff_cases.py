"""The generated family of the scheduler differential: random small clusters and pods, and a
comparison that tolerates ties.

A case is a few nodes (CPU and memory sizes, zone and tier labels, a NoSchedule or
PreferNoSchedule taint now and then) and a few pods of two apps (CPU and memory requests,
sometimes a nodeSelector, a toleration, a preferred node affinity, a zone spread constraint,
a hostname anti-affinity to their own app, a preferred zone affinity to the other app, a host
port), all of priority 0, so that both queues take them in file order. Scores may tie, and
kube-scheduler breaks ties at random, so the comparison goes pod by pod
(`stepwise_differences`): for each pod, dralloc schedules it alone on the cluster as
kube-scheduler left it (the earlier pods running where upstream put them) and must choose
upstream's node, or have met it among equally scored best nodes; a pod upstream left pending
must get the same message.

The seed corpus (tests/data/scheduler_differential/generated/*.yaml, scenarios in the
hand-written format) holds cases worth keeping, shrunk failures among them; they are compared
the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from scheddiff import SCENARIOS, Obj, Observed, Scenario, load_scenario, make_scenario
from scheddiff import run_dralloc_recording_ties as _run_recording_ties

CORPUS = SCENARIOS / "generated"

_CPUS = ("2", "3", "4", "6", "8", "12", "16")
_MEMORY = ("4Gi", "8Gi", "16Gi", "32Gi")
_POD_CPUS = ("100m", "250m", "500m", "1", "1500m", "2", "3", "5")
_POD_MEMORY = ("128Mi", "256Mi", "512Mi", "1Gi", "2Gi", "6Gi")
_ZONES = ("a", "b", "c")
_TIERS = ("gold", "silver")
_DEDICATED = ("gpu", "db")
_APPS = ("web", "batch")


@dataclass
class CaseNames:
    """Hands out unique scenario names within one cluster (nodes are named after them)."""

    prefix: str = "gen"
    issued: Iterator[int] = field(default_factory=lambda: iter(range(1, 1_000_000)))

    def next(self) -> str:
        return f"{self.prefix}-{next(self.issued)}"


def _node(name: str, draw: st.DrawFn) -> Obj:
    capacity = {
        "cpu": draw(st.sampled_from(_CPUS)),
        "memory": draw(st.sampled_from(_MEMORY)),
        "pods": "110",
    }
    labels = {
        "kubernetes.io/hostname": name,
        "topology.kubernetes.io/zone": draw(st.sampled_from(_ZONES)),
        "tier": draw(st.sampled_from(_TIERS)),
    }
    node: Obj = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "status": {"capacity": capacity, "allocatable": dict(capacity)},
    }
    taint = draw(st.sampled_from((None, None, None, "NoSchedule", "PreferNoSchedule")))
    if taint is not None:
        value = draw(st.sampled_from(_DEDICATED))
        node["spec"] = {"taints": [{"key": "dedicated", "value": value, "effect": taint}]}
    return node


def _pod(name: str, draw: st.DrawFn) -> Obj:
    requests = {
        "cpu": draw(st.sampled_from(_POD_CPUS)),
        "memory": draw(st.sampled_from(_POD_MEMORY)),
    }
    spec: dict[str, Any] = {
        "containers": [{"name": "c", "image": "pause", "resources": {"requests": requests}}]
    }
    if draw(st.integers(0, 3)) == 0:
        key, values = draw(
            st.sampled_from(
                (("topology.kubernetes.io/zone", _ZONES), ("tier", _TIERS)),
            )
        )
        spec["nodeSelector"] = {key: draw(st.sampled_from(values))}
    if draw(st.integers(0, 2)) == 0:
        spec["tolerations"] = [
            {
                "key": "dedicated",
                "operator": "Equal",
                "value": draw(st.sampled_from(_DEDICATED)),
            }
        ]
    if draw(st.integers(0, 3)) == 0:
        spec["affinity"] = {
            "nodeAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": draw(st.integers(1, 100)),
                        "preference": {
                            "matchExpressions": [
                                {
                                    "key": "tier",
                                    "operator": "In",
                                    "values": [draw(st.sampled_from(_TIERS))],
                                }
                            ]
                        },
                    }
                ]
            }
        }
    app = draw(st.sampled_from(_APPS))
    _pod_to_pod(spec, app, draw)
    metadata = {"name": name, "labels": {"app": app}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def _pod_to_pod(spec: dict[str, Any], app: str, draw: st.DrawFn) -> None:
    """Now and then: a zone spread constraint over the pod's app, a hostname anti-affinity
    against it, a preferred zone affinity to the other app, a host port."""
    selector = {"matchLabels": {"app": app}}
    if draw(st.integers(0, 3)) == 0:
        spec["topologySpreadConstraints"] = [
            {
                "maxSkew": draw(st.integers(1, 2)),
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": draw(st.sampled_from(("DoNotSchedule", "ScheduleAnyway"))),
                "labelSelector": selector,
            }
        ]
    affinity = spec.setdefault("affinity", {})
    if draw(st.integers(0, 4)) == 0:
        affinity["podAntiAffinity"] = {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": selector, "topologyKey": "kubernetes.io/hostname"}
            ]
        }
    if draw(st.integers(0, 4)) == 0:
        other = {"matchLabels": {"app": _APPS[1 - _APPS.index(app)]}}
        affinity["podAffinity"] = {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": draw(st.integers(1, 100)),
                    "podAffinityTerm": {
                        "labelSelector": other,
                        "topologyKey": "topology.kubernetes.io/zone",
                    },
                }
            ]
        }
    if not affinity:
        del spec["affinity"]
    if draw(st.integers(0, 5)) == 0:
        spec["containers"][0]["ports"] = [{"containerPort": 8080, "hostPort": 8080}]


@st.composite
def generated_scenarios(
    draw: st.DrawFn, names: CaseNames, max_nodes: int = 4, max_pods: int = 6
) -> Scenario:
    name = names.next()
    nodes = [_node(f"{name}-n{i}", draw) for i in range(draw(st.integers(2, max_nodes)))]
    pods = [_pod(f"p{i}", draw) for i in range(draw(st.integers(2, max_pods)))]
    return make_scenario(name, nodes, pods, description="generated")


def load_corpus(folder: Path = CORPUS) -> list[Scenario]:
    return [load_scenario(path) for path in sorted(folder.glob("*.yaml"))]


def stepwise_differences(scenario: Scenario, upstream: Observed) -> list[str]:
    """Each pending pod through dralloc alone, the earlier ones running where kube-scheduler
    bound them: dralloc must choose upstream's node or have tied it with its own choice, and
    give the same message to a pod upstream left pending."""
    # A pod upstream bound late changed the cluster under the pods after it.
    found = [
        f"pod {key} was bound to {node} by a later retry in kube-scheduler only"
        for key, node in sorted(upstream.late.items())
    ]
    placed: list[Obj] = []
    for pod in scenario.pods:
        key = f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
        theirs = upstream.pods[key]
        alone = make_scenario(scenario.name, [*scenario.objects, *placed], [pod])
        run, ties = _run_recording_ties(alone)
        ours = run.observed.pods[key]
        if theirs.node is not None:
            bound = {**pod, "spec": {**pod["spec"], "nodeName": theirs.node}}
            placed.append(bound)
        if theirs.node == ours.node and theirs.message == ours.message:
            continue
        tied = any(theirs.node in tie and ours.node in tie for tie in ties)
        if theirs.node is not None and ours.node is not None and tied:
            continue
        found.append(
            f"pod {key}: kube-scheduler {theirs.node or theirs.message!r}, "
            f"dralloc {ours.node or ours.message!r} (ties dralloc met: {ties})"
        )
    return found


# ------------------------------------------------------------------------------ DRA family

_DRIVER = "gen.example.com"
_MODELS = ("a", "b")


def _slice(node: str, devices: int, draw: st.DrawFn) -> Obj:
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceSlice",
        "metadata": {"name": f"{node}-devices"},
        "spec": {
            "driver": _DRIVER,
            "nodeName": node,
            "pool": {"name": node, "generation": 1, "resourceSliceCount": 1},
            "devices": [
                {
                    "name": f"dev-{i}",
                    "attributes": {"model": {"string": draw(st.sampled_from(_MODELS))}},
                }
                for i in range(devices)
            ],
        },
    }


def _model_selector(model: str) -> list[Obj]:
    return [{"cel": {"expression": f'device.attributes["{_DRIVER}"].model == "{model}"'}}]


def _template(name: str, class_name: str, draw: st.DrawFn) -> Obj:
    count = draw(st.integers(1, 2))
    if draw(st.booleans()):
        first, second = draw(st.permutations(_MODELS))
        request: Obj = {
            "name": "dev",
            "firstAvailable": [
                {
                    "name": f"m{first}",
                    "deviceClassName": class_name,
                    "count": count,
                    "selectors": _model_selector(first),
                },
                {
                    "name": f"m{second}",
                    "deviceClassName": class_name,
                    "selectors": _model_selector(second),
                },
            ],
        }
    else:
        exactly: Obj = {"deviceClassName": class_name, "count": count}
        if draw(st.booleans()):
            exactly["selectors"] = _model_selector(draw(st.sampled_from(_MODELS)))
        request = {"name": "dev", "exactly": exactly}
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaimTemplate",
        "metadata": {"name": name},
        "spec": {"spec": {"devices": {"requests": [request]}}},
    }


@st.composite
def generated_dra_scenarios(draw: st.DrawFn, names: CaseNames) -> Scenario:
    """Nodes of distinct sizes with a few devices of two models each, claim templates asking
    for one or two devices (a model, or a model preferred over another), and pods using them:
    whole-run comparisons, devices included."""
    name = names.next()
    class_name = f"{name}-dev"
    objects: list[Obj] = [
        {
            "apiVersion": "resource.k8s.io/v1",
            "kind": "DeviceClass",
            "metadata": {"name": class_name},
            "spec": {"selectors": [{"cel": {"expression": f'device.driver == "{_DRIVER}"'}}]},
        }
    ]
    sizes = draw(st.lists(st.sampled_from(_CPUS), min_size=2, max_size=3, unique=True))
    for i, cpu in enumerate(sizes):
        node = f"{name}-n{i}"
        capacity = {"cpu": cpu, "memory": "16Gi", "pods": "110"}
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": node, "labels": {"kubernetes.io/hostname": node}},
                "status": {"capacity": capacity, "allocatable": dict(capacity)},
            }
        )
        objects.append(_slice(node, draw(st.integers(0, 3)), draw))
    templates = [_template(f"t{i}", class_name, draw) for i in range(draw(st.integers(1, 2)))]
    objects += templates
    pods = [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"p{i}"},
            "spec": {
                "resourceClaims": [
                    {
                        "name": "dev",
                        "resourceClaimTemplateName": draw(
                            st.sampled_from([t["metadata"]["name"] for t in templates])
                        ),
                    }
                ],
                "containers": [
                    {
                        "name": "c",
                        "image": "pause",
                        "resources": {"requests": {"cpu": draw(st.sampled_from(_POD_CPUS))}},
                    }
                ],
            },
        }
        for i in range(draw(st.integers(1, 4)))
    ]
    return make_scenario(name, objects, pods, description="generated, DRA")
