"""dralloc.queueing against Kueue v0.17.0 itself: random cohort trees, quotas, usage and
workloads go to both Kueue's cache + flavor assigner (tools/kueueoracle) and
dralloc's; available and potentially available quota per flavor-resource, the assignment mode,
the borrowing level, every pod set's flavors, the usage and the condition message must agree.

Marked `k8s` like the other upstream-oracle tests: skipped without Go, required in CI."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from kueue_oracle import KueueOracle, binary, is_required

from dralloc.api.core import PodSpec
from dralloc.queueing import (
    ClassicalPreemptor,
    QueueConfig,
    QueueManager,
    QueueState,
    assign_flavors,
    nominate,
)
from dralloc.queueing.flavors import NoPreemption
from dralloc.queueing.quota import FlavorResource, cq_available, potential_available
from dralloc.queueing.reader import decode_documents
from dralloc.queueing.requests import workload_requests

pytestmark = pytest.mark.k8s

V = "kueue.x-k8s.io/v1beta2"
CASES = 400


@pytest.fixture(scope="module")
def kueue() -> Iterator[KueueOracle]:
    built = binary()
    if built is None:
        message = "kueue-oracle is not built: run tools/build.sh"
        if is_required():
            pytest.fail(f"{message} (DRALLOC_REQUIRE_K8S=1)", pytrace=False)
        pytest.skip(message)
    oracle = KueueOracle(built)
    yield oracle
    oracle.close()


def quota(rng: random.Random, resource: str, has_parent: bool, lend_ok: bool) -> dict[str, Any]:
    scale = {"cpu": 1, "memory": 1, "example.com/gpu": 1}[resource]
    nominal = rng.randint(0, 8) * scale
    out: dict[str, Any] = {
        "name": resource,
        "nominalQuota": f"{nominal}Gi" if resource == "memory" else str(nominal),
    }
    if has_parent and rng.random() < 0.3:
        limit = rng.randint(0, 4)
        out["borrowingLimit"] = f"{limit}Gi" if resource == "memory" else str(limit)
    if has_parent and rng.random() < 0.3:
        lend = rng.randint(0, nominal) if lend_ok else rng.randint(0, 8)
        out["lendingLimit"] = f"{lend}Gi" if resource == "memory" else str(lend)
    return out


def groups(
    rng: random.Random, flavors: list[str], has_parent: bool, lend_ok: bool
) -> list[dict[str, Any]]:
    shuffled = flavors[:]
    rng.shuffle(shuffled)
    split = rng.randint(1, len(shuffled))
    first, second = shuffled[:split], shuffled[split:]
    out = [
        {
            "coveredResources": ["cpu", "memory"],
            "flavors": [
                {
                    "name": f,
                    "resources": [
                        quota(rng, "cpu", has_parent, lend_ok),
                        quota(rng, "memory", has_parent, lend_ok),
                    ],
                }
                for f in first
            ],
        }
    ]
    if second and rng.random() < 0.7:
        out.append(
            {
                "coveredResources": ["example.com/gpu"],
                "flavors": [
                    {"name": f, "resources": [quota(rng, "example.com/gpu", has_parent, lend_ok)]}
                    for f in second
                ],
            }
        )
    return out


def scenario(rng: random.Random) -> dict[str, Any]:
    flavors = [
        {
            "apiVersion": V,
            "kind": "ResourceFlavor",
            "metadata": {"name": "on-demand"},
            "spec": {"nodeLabels": {"capacity": "on-demand"}},
        },
        {
            "apiVersion": V,
            "kind": "ResourceFlavor",
            "metadata": {"name": "spot"},
            "spec": {
                "nodeLabels": {"capacity": "spot"},
                "nodeTaints": [{"key": "spot", "value": "true", "effect": "NoSchedule"}],
            },
        },
        {"apiVersion": V, "kind": "ResourceFlavor", "metadata": {"name": "a100"}, "spec": {}},
    ]
    names = [f["metadata"]["name"] for f in flavors]
    cohorts: list[dict[str, Any]] = []
    cohort_names = ["root", "left", "right"][: rng.randint(1, 3)]
    for i, name in enumerate(cohort_names):
        spec: dict[str, Any] = {}
        if i > 0:
            spec["parentName"] = "root"
        if rng.random() < 0.5:
            spec["resourceGroups"] = groups(rng, names, i > 0, False)
        cohorts.append(
            {"apiVersion": V, "kind": "Cohort", "metadata": {"name": name}, "spec": spec}
        )
    cqs: list[dict[str, Any]] = []
    for i in range(rng.randint(1, 4)):
        cohort = rng.choice([*cohort_names, ""])
        fung = {
            "whenCanBorrow": rng.choice(["MayStopSearch", "TryNextFlavor"]),
            "whenCanPreempt": rng.choice(["MayStopSearch", "TryNextFlavor"]),
        }
        if (
            fung["whenCanBorrow"] == fung["whenCanPreempt"] == "TryNextFlavor"
            and rng.random() < 0.5
        ):
            fung["preference"] = rng.choice(["BorrowingOverPreemption", "PreemptionOverBorrowing"])
        spec = {
            "namespaceSelector": {},
            "flavorFungibility": fung,
            "resourceGroups": groups(rng, names, bool(cohort), True),
        }
        if cohort:
            spec["cohortName"] = cohort
        cqs.append(
            {"apiVersion": V, "kind": "ClusterQueue", "metadata": {"name": f"cq-{i}"}, "spec": spec}
        )
    usage: dict[str, list[dict[str, Any]]] = {}
    for cq in cqs:
        entries = []
        for group in cq["spec"]["resourceGroups"]:
            for fl in group["flavors"]:
                for res in fl["resources"]:
                    if rng.random() < 0.5:
                        unit = (
                            1 << 30
                            if res["name"] == "memory"
                            else (1000 if res["name"] == "cpu" else 1)
                        )
                        entries.append(
                            {
                                "flavor": fl["name"],
                                "resource": res["name"],
                                "amount": rng.randint(0, 10) * unit,
                            }
                        )
        usage[cq["metadata"]["name"]] = entries
    pod_sets = []
    for k in range(rng.randint(1, 3)):
        requests = {"cpu": f"{rng.randint(0, 6) * 500}m"}
        if rng.random() < 0.5:
            requests["memory"] = f"{rng.randint(1, 6)}Gi"
        if rng.random() < 0.4:
            requests["example.com/gpu"] = str(rng.randint(1, 4))
        pod_spec: dict[str, Any] = {
            "containers": [{"name": "c", "resources": {"requests": requests}}]
        }
        if rng.random() < 0.3:
            pod_spec["nodeSelector"] = {"capacity": rng.choice(["spot", "on-demand"])}
        if rng.random() < 0.3:
            pod_spec["tolerations"] = [
                {"key": "spot", "operator": "Exists", "effect": "NoSchedule"}
            ]
        pod_sets.append(
            {"name": f"ps-{k}", "count": rng.randint(1, 4), "template": {"spec": pod_spec}}
        )
    target = rng.choice(cqs)["metadata"]["name"]
    wl = {
        "apiVersion": V,
        "kind": "Workload",
        "metadata": {"name": "w", "namespace": "ns"},
        "spec": {"queueName": "lq", "podSets": pod_sets},
    }
    return {
        "flavors": flavors,
        "cohorts": cohorts,
        "clusterQueues": cqs,
        "usage": usage,
        "target": target,
        "workload": wl,
    }


def dralloc_answer(sc: dict[str, Any]) -> dict[str, Any]:
    docs = [*sc["flavors"], *sc["cohorts"], *sc["clusterQueues"], sc["workload"]]
    inputs, problems = decode_documents(("s", i, d) for i, d in enumerate(docs, 1))
    assert problems == [], problems
    state = QueueState.build(inputs)
    snapshot = state.snapshot()
    for name in sorted(sc["usage"]):
        snapshot.add_usage(
            name,
            {FlavorResource(u["flavor"], u["resource"]): u["amount"] for u in sc["usage"][name]},
        )
    target = sc["target"]
    node = snapshot.node(target)
    wl = inputs.workloads["ns/w"]
    requests = workload_requests(wl)
    assert requests.errors == []
    a = assign_flavors(
        state.cluster_queues[target].view,
        node,
        state.flavors,
        [ps.template.spec for ps in wl.spec.pod_sets] or [PodSpec()],
        requests.pod_sets,
        NoPreemption(snapshot.cluster_queue_nodes()),
    )
    frs = [fr for fr in state.cluster_queues[target].node.quotas]
    return {
        "mode": {0: "NoFit", 1: "Preempt", 2: "Fit"}[int(a.mode())],
        "borrowing": a.borrowing,
        "message": a.message(),
        "podSets": [
            {
                "name": ps.name,
                "flavors": {r: c.flavor for r, c in ps.flavors.items()},
                "count": ps.count,
            }
            for ps in a.pod_sets
        ],
        "usage": {f"{fr.flavor}/{fr.resource}": v for fr, v in a.usage.items()},
        "available": {f"{fr.flavor}/{fr.resource}": cq_available(node, fr) for fr in frs},
        "potential": {f"{fr.flavor}/{fr.resource}": potential_available(node, fr) for fr in frs},
    }


REASON = re.compile(
    r"insufficient quota for \S+ in flavor \S+, previously considered podsets requests \([^)]*\)"
    r" \+ current podset request \([^)]*\) > maximum capacity \([^)]*\)"
    r"|insufficient unused quota for \S+ in flavor \S+, \S+ more needed"
    r"|flavor \S+ doesn't match node affinity"
    r"|untolerated taint \{[^}]*\} in flavor \S+"
    r"|resource \S+ unavailable in ClusterQueue"
)


def messages_agree(ours: str, theirs: str, mode: str) -> bool:
    """Kueue checks a pod set's resources in Go map order and stops at the first that fails,
    so which reasons a NoFit message holds varies from run to run; dralloc checks them all in
    name order. Agreement: equal reasons, or for NoFit, Kueue's among dralloc's."""
    mine, their = set(REASON.findall(ours)), set(REASON.findall(theirs))
    return their <= mine if mode == "NoFit" else their == mine


def test_quota_arithmetic_and_flavor_assignment_agree_with_kueue(kueue: KueueOracle) -> None:
    rng = random.Random(20260101)
    disagreements = []
    for n in range(CASES):
        sc = scenario(rng)
        theirs = kueue.ask(sc)
        assert "error" not in theirs, theirs
        ours = dralloc_answer(sc)
        theirs = {k: theirs.get(k) for k in ours}
        theirs["podSets"] = [
            {**p, "flavors": p.get("flavors") or {}} for p in theirs.get("podSets") or []
        ]
        theirs["usage"] = theirs.get("usage") or {}
        if messages_agree(ours["message"], theirs["message"], str(theirs["mode"])):
            theirs["message"] = ours["message"]
        if ours != theirs:
            disagreements.append((n, sc, ours, theirs))
    if disagreements:
        n, sc, ours, theirs = disagreements[0]
        diff = {k: (ours[k], theirs[k]) for k in ours if ours[k] != theirs[k]}
        pytest.fail(f"{len(disagreements)}/{CASES} cases disagree; first (case {n}): {diff}\n{sc}")


def preemption_scenario(rng: random.Random) -> dict[str, Any]:
    flavor_names = ["default", "spot"][: rng.randint(1, 2)]
    flavors = [
        {"apiVersion": V, "kind": "ResourceFlavor", "metadata": {"name": f}, "spec": {}}
        for f in flavor_names
    ]
    cohorts = [{"apiVersion": V, "kind": "Cohort", "metadata": {"name": "root"}, "spec": {}}]
    if rng.random() < 0.5:
        cohorts.append(
            {
                "apiVersion": V,
                "kind": "Cohort",
                "metadata": {"name": "left"},
                "spec": {"parentName": "root"},
            }
        )
    cqs = []
    for i in range(rng.randint(2, 4)):
        cohort = rng.choice([c["metadata"]["name"] for c in cohorts])
        reclaim = rng.choice(["Never", "LowerPriority", "Any"])
        preemption: dict[str, Any] = {
            "withinClusterQueue": rng.choice(
                ["Never", "LowerPriority", "LowerOrNewerEqualPriority"]
            ),
            "reclaimWithinCohort": reclaim,
        }
        if reclaim != "Never" and rng.random() < 0.4:
            borrow: dict[str, Any] = {"policy": "LowerPriority"}
            if rng.random() < 0.5:
                borrow["maxPriorityThreshold"] = rng.randint(0, 2)
            preemption["borrowWithinCohort"] = borrow
        resources = []
        for f in flavor_names:
            q: dict[str, Any] = {"name": "cpu", "nominalQuota": str(rng.randint(0, 6))}
            if rng.random() < 0.3:
                q["borrowingLimit"] = str(rng.randint(0, 4))
            resources.append({"name": f, "resources": [q]})
        cqs.append(
            {
                "apiVersion": V,
                "kind": "ClusterQueue",
                "metadata": {"name": f"cq-{i}"},
                "spec": {
                    "namespaceSelector": {},
                    "cohortName": cohort,
                    "preemption": preemption,
                    "resourceGroups": [{"coveredResources": ["cpu"], "flavors": resources}],
                },
            }
        )
    base = 1_767_000_000
    admitted = []
    for j in range(rng.randint(1, 8)):
        cq = rng.choice(cqs)["metadata"]["name"]
        count, cpu = rng.randint(1, 2), rng.randint(1, 3)
        flavor = rng.choice(flavor_names)
        reserved = datetime.fromtimestamp(base + rng.randint(0, 50) * 60, UTC)
        admitted.append(
            {
                "apiVersion": V,
                "kind": "Workload",
                "metadata": {
                    "name": f"a-{j}",
                    "namespace": f"ns-{cq}",
                    "uid": f"ns-{cq}/a-{j}",
                    "creationTimestamp": f"2026-01-01T0{j}:00:00Z",
                },
                "spec": {
                    "queueName": "lq",
                    "priority": rng.randint(0, 3),
                    "podSets": [
                        {
                            "name": "main",
                            "count": count,
                            "template": {
                                "spec": {
                                    "containers": [
                                        {"name": "c", "resources": {"requests": {"cpu": str(cpu)}}}
                                    ]
                                }
                            },
                        }
                    ],
                },
                "status": {
                    "admission": {
                        "clusterQueue": cq,
                        "podSetAssignments": [
                            {
                                "name": "main",
                                "flavors": {"cpu": flavor},
                                "resourceUsage": {"cpu": str(cpu * count)},
                                "count": count,
                            }
                        ],
                    },
                    "conditions": [
                        {
                            "type": "QuotaReserved",
                            "status": "True",
                            "reason": "QuotaReserved",
                            "message": "",
                            "lastTransitionTime": reserved.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        },
                        {
                            "type": "Admitted",
                            "status": "True",
                            "reason": "Admitted",
                            "message": "",
                            "lastTransitionTime": reserved.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        },
                    ],
                },
            }
        )
    target = rng.choice(cqs)["metadata"]["name"]
    wl = {
        "apiVersion": V,
        "kind": "Workload",
        "metadata": {
            "name": "w",
            "namespace": "ns",
            "uid": "ns/w",
            "creationTimestamp": "2026-01-01T05:30:00Z",
        },
        "spec": {
            "queueName": "lq",
            "priority": rng.randint(0, 3),
            "podSets": [
                {
                    "name": "main",
                    "count": rng.randint(1, 3),
                    "template": {
                        "spec": {
                            "containers": [
                                {
                                    "name": "c",
                                    "resources": {"requests": {"cpu": str(rng.randint(1, 3))}},
                                }
                            ]
                        }
                    },
                }
            ],
        },
    }
    return {
        "flavors": flavors,
        "cohorts": cohorts,
        "clusterQueues": cqs,
        "usage": {},
        "target": target,
        "workload": wl,
        "admitted": admitted,
        "now": datetime.fromtimestamp(base + 3600 * 5, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def dralloc_preemption(sc: dict[str, Any]) -> dict[str, Any]:
    lqs = [
        {
            "apiVersion": V,
            "kind": "LocalQueue",
            "metadata": {"name": "lq", "namespace": ns},
            "spec": {"clusterQueue": cq},
        }
        for ns, cq in [("ns", sc["target"])]
        + [(f"ns-{c['metadata']['name']}", c["metadata"]["name"]) for c in sc["clusterQueues"]]
    ]
    docs = [
        *sc["flavors"],
        *sc["cohorts"],
        *sc["clusterQueues"],
        *lqs,
        *sc["admitted"],
        sc["workload"],
    ]
    inputs, problems = decode_documents(("s", i, d) for i, d in enumerate(docs, 1))
    assert problems == [], problems
    state = QueueState.build(inputs)
    manager = QueueManager(state)
    manager.add_all(inputs.workloads.values())
    entry = nominate(
        state, state.snapshot(), manager.workloads["ns/w"], ClassicalPreemptor(), QueueConfig()
    )
    assert entry.assignment is not None
    return {
        "mode": {0: "NoFit", 1: "Preempt", 2: "Fit"}[int(entry.assignment.mode())],
        "borrowing": entry.assignment.borrowing,
        "targets": sorted(
            ({"workload": t.key, "reason": t.reason} for t in entry.targets),
            key=lambda t: t["workload"],
        ),
    }


def test_classical_preemption_agrees_with_kueue(kueue: KueueOracle) -> None:
    rng = random.Random(7)
    disagreements = []
    for n in range(CASES):
        sc = preemption_scenario(rng)
        theirs = kueue.ask(sc)
        assert "error" not in theirs, theirs
        ours = dralloc_preemption(sc)
        theirs = {
            "mode": theirs["mode"],
            "borrowing": theirs["borrowing"],
            "targets": theirs.get("targets") or [],
        }
        if ours != theirs:
            disagreements.append((n, sc, ours, theirs))
    if disagreements:
        n, sc, ours, theirs = disagreements[0]
        pytest.fail(
            f"{len(disagreements)}/{CASES} cases disagree; first (case {n}): "
            f"ours {ours}, Kueue {theirs}\n{sc}"
        )
