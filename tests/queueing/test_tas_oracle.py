"""dralloc's TAS domain search against Kueue v0.17.0's own `TASFlavorSnapshot`, over random
clusters and requests (required, preferred, unconstrained, implied, slices; with and without a
hostname level): the same domains and counts, or the same failure message.

The oracle is `kueue-oracle tas` (tools/kueueoracle/tas.go, built by tools/build.sh): it builds
Kueue's scheduler cache from the nodes (fake client with Kueue's TAS indexes, `SyncNode`), a
Topology, a TAS ResourceFlavor and a ClusterQueue, takes `Snapshot(ctx)` and calls
`ClusterQueue("cq").TASFlavors["tas"].FindTopologyAssignmentsForFlavor`. Protocol: one JSON
case per line, `{levels, nodes: [{name, labels, cpu, pods}], podSets: [{name, count, cpu
(milli), topologyRequest, implied}], together}`, answered by one line `{<pod set>: {failure,
levels, domains: [{values, count}]}}`; `together` places the pod sets in one call (assumed
usage between them, stopping at the first failure), else each on its own. Marked `k8s` like
the other upstream-oracle tests: skipped without the built oracle, required in CI.
"""

from __future__ import annotations

import json
import random
import subprocess
from typing import Any

import pytest
from kueue_oracle import binary, is_required
from test_tas_domains import BLOCK, RACK, THREE, node, snap

from dralloc.queueing.tas import TASPodSetRequest
from dralloc.queueing.topology import TopologyRequest

pytestmark = pytest.mark.k8s


@pytest.fixture(scope="module")
def oracle() -> list[str]:
    built = binary()
    if built is None:
        message = "kueue-oracle is not built: run tools/build.sh"
        if is_required():
            pytest.fail(f"{message} (DRALLOC_REQUIRE_K8S=1)", pytrace=False)
        pytest.skip(message)
    return [str(built), "tas"]


def random_case(rng: random.Random, levels: tuple[str, ...]) -> dict[str, Any]:
    nodes = [
        {"name": f"x{b}{r}{h}", "block": f"b{b}", "rack": f"r{b}{r}", "cpu": rng.randint(0, 6)}
        for b in range(rng.randint(1, 3))
        for r in range(rng.randint(1, 3))
        for h in range(rng.randint(1, 4))
    ]
    count = rng.randint(1, 24)
    level = rng.choice(levels)
    size = rng.choice([d for d in range(1, count + 1) if count % d == 0])
    slice_level = rng.choice(levels[levels.index(level) :])
    kind = rng.choice(["required", "preferred", "unconstrained", "slices", "slice-only", "implied"])
    request: dict[str, Any] | None = {
        "required": {"required": level},
        "preferred": {"preferred": level},
        "unconstrained": {"unconstrained": True},
        "slices": {
            rng.choice(["required", "preferred"]): level,
            "podSetSliceRequiredTopology": slice_level,
            "podSetSliceSize": size,
        },
        "slice-only": {"podSetSliceRequiredTopology": slice_level, "podSetSliceSize": size},
        "implied": None,
    }[kind]
    return {
        "levels": list(levels),
        "nodes": nodes,
        "count": count,
        "cpu": rng.choice([500, 1000, 2000]),
        "request": request,
    }


def ours(case: dict[str, Any]) -> dict[str, Any]:
    levels = tuple(case["levels"])
    nodes = [node(n["block"], n["rack"], n["name"], n["cpu"]) for n in case["nodes"]]
    request = TopologyRequest.from_dict(case["request"])
    result = snap(nodes, levels=levels).find_assignment(
        TASPodSetRequest(
            "main", case["count"], {"cpu": case["cpu"]}, request, implied=request is None
        )
    )
    if result.failure is not None:
        return {"failure": result.failure}
    domains = [{"values": list(d.values), "count": d.count} for d in result.domains]
    return {"failure": "", "levels": list(result.levels), "domains": domains}


def wire(case: dict[str, Any]) -> dict[str, Any]:
    return {
        "levels": case["levels"],
        "nodes": [
            {
                "name": n["name"],
                "labels": {BLOCK: n["block"], RACK: n["rack"], "kubernetes.io/hostname": n["name"]},
                "cpu": str(n["cpu"]),
                "pods": "110",
            }
            for n in case["nodes"]
        ],
        "podSets": [
            {
                "name": "main",
                "count": case["count"],
                "cpu": case["cpu"],
                "topologyRequest": case["request"],
                "implied": case["request"] is None,
            }
        ],
    }


@pytest.mark.parametrize("levels", [THREE, (BLOCK, RACK)], ids=["with-hostname", "racks-only"])
def test_tas_placements_agree_with_kueue_v0_17(oracle: list[str], levels: tuple[str, ...]) -> None:
    rng = random.Random(42)
    cases = [random_case(rng, levels) for _ in range(300)]
    answer = subprocess.run(
        oracle,
        input="".join(json.dumps(wire(c)) + "\n" for c in cases),
        capture_output=True,
        text=True,
        check=True,
    )
    for case, line in zip(cases, answer.stdout.splitlines(), strict=True):
        theirs = json.loads(line)["main"]
        if theirs["failure"]:
            theirs = {"failure": theirs["failure"]}
        else:
            theirs["domains"] = theirs["domains"] or []
        assert ours(case) == theirs, case


def test_pod_sets_placed_together_agree_with_kueue_assumed_usage(oracle: list[str]) -> None:
    # Several pod sets of one Workload in one call (`"together": true`): each later pod set
    # sees the earlier ones' usage, and the first failure ends the Workload's placement.
    rng = random.Random(7)
    cases: list[dict[str, Any]] = []
    expected: list[dict[str, Any]] = []
    for _ in range(300):
        case = random_case(rng, THREE)
        pod_sets = [
            {
                "name": f"ps{i}",
                "count": rng.randint(1, 10),
                "cpu": rng.choice([500, 1000, 2000]),
                "topologyRequest": rng.choice(
                    [
                        {"required": rng.choice(THREE)},
                        {"preferred": rng.choice(THREE)},
                        {"unconstrained": True},
                    ]
                ),
                "implied": False,
            }
            for i in range(rng.randint(2, 3))
        ]
        cases.append({**wire(case), "podSets": pod_sets, "together": True})
        nodes = [node(n["block"], n["rack"], n["name"], n["cpu"]) for n in case["nodes"]]
        s = snap(nodes)
        assumed: dict[tuple[str, ...], dict[str, int]] = {}
        out: dict[str, Any] = {}
        for ps in pod_sets:
            result = s.find_assignment(
                TASPodSetRequest(
                    ps["name"],
                    ps["count"],
                    {"cpu": ps["cpu"]},
                    TopologyRequest.from_dict(ps["topologyRequest"]),
                ),
                assumed=assumed,
            )
            if result.failure is not None:
                out[ps["name"]] = {"failure": result.failure}
                break
            domains = [{"values": list(d.values), "count": d.count} for d in result.domains]
            out[ps["name"]] = {"failure": "", "levels": list(result.levels), "domains": domains}
            for d in result.domains:
                usage = assumed.setdefault(s.full_values(d.values) or d.values, {})
                usage["cpu"] = usage.get("cpu", 0) + ps["cpu"] * d.count
                usage["pods"] = usage.get("pods", 0) + d.count
        expected.append(out)
    answer = subprocess.run(
        oracle,
        input="".join(json.dumps(c) + "\n" for c in cases),
        capture_output=True,
        text=True,
        check=True,
    )
    for case, ours_out, line in zip(cases, expected, answer.stdout.splitlines(), strict=True):
        theirs = {
            name: {"failure": v["failure"]}
            if v["failure"]
            else {"failure": "", "levels": v["levels"], "domains": v["domains"] or []}
            for name, v in json.loads(line).items()
        }
        assert ours_out == theirs, case
