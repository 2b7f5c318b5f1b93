"""Hypothesis strategies for differential cases: dralloc's allocator against upstream's.

A case starts from the invariant tests' generated problems (`tests/invariants`: pools with
nodeName, allNodes and nodeSelector slices, counters-only slices, attributes, capacities with
request policies, multi-allocatable devices, taints, classes with CEL selectors, ExactCount and
All requests, firstAvailable, tolerations, capacity requests, matchAttribute and
distinctAttribute constraints, earlier claims committed as `status.allocation`). The earlier
claims are committed with dralloc's own answers, so both allocators start from the same state.

On top of that the documents are edited in ways the invariant tests avoid because they change
yes/no answers into errors or node failures:

* a request selector that raises a CEL runtime error (missing attribute or capacity, a
  division by zero, a non-bool result),
* `adminAccess: true` on an `exactly` request,
* binding conditions on a device (and `bindsToNode`),
* an incomplete pool (one slice fewer than `resourceSliceCount` says) or an invalid one (a
  device name given twice in a pool),
* a constraint over every request, `All` requests included,
* other node-selection forms: NotIn/Exists/DoesNotExist requirements, `matchFields` on
  `metadata.name`, `perDeviceNodeSelection`,
* a feature gate switched off (consumable capacity, prioritized list, admin access, binding
  conditions).

Every edit keeps the objects valid for the API server; dralloc's loader defaults them
(`allocationMode: ExactCount`, `count: 1`, toleration `operator: Equal`) as the server would.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "invariants"))

from allocation_scenario import commit_prior
from allocation_strategies import chance, pick, problems

from oracle import Case

Doc = dict[str, Any]

# Selectors that fail at run time on some devices: a missing attribute or capacity, a
# division by zero, a result that is not a bool.
ERROR_SELECTORS = (
    'device.attributes["example.com"].group == "x"',
    'device.attributes["gpu.example.com"].model == "a"',
    'device.capacity["gpu.example.com"].mem.compareTo(quantity("1")) >= 0',
    'device.attributes["gpu.example.com"].numa / 0 == 1',
    'device.driver == "gpu.example.com" ? device.attributes["gpu.example.com"].numa >= 0 : true',
    "device.attributes",
)
EXTRA_GATES = (
    "DRAConsumableCapacity=false",
    "DRAPrioritizedList=false",
    "DRAAdminAccess=false",
    "DRADeviceBindingConditions=false",
)


def _kind(documents: list[Doc], kind: str) -> list[Doc]:
    return [d for d in documents if d["kind"] == kind]


def _pending(documents: list[Doc]) -> list[Doc]:
    return [d for d in _kind(documents, "ResourceClaim") if "status" not in d]


def _exact_requests(claims: list[Doc]) -> list[Doc]:
    return [
        r["exactly"] for c in claims for r in c["spec"]["devices"]["requests"] if "exactly" in r
    ]


def _targets(claims: list[Doc]) -> list[Doc]:
    """Every `exactly` request and firstAvailable subrequest of the claims."""
    out: list[Doc] = []
    for claim in claims:
        for request in claim["spec"]["devices"]["requests"]:
            out.extend([request["exactly"]] if "exactly" in request else request["firstAvailable"])
    return out


def _device_slices(documents: list[Doc]) -> list[Doc]:
    return [s for s in _kind(documents, "ResourceSlice") if s["spec"].get("devices")]


def _edit(draw: st.DrawFn, documents: list[Doc], gates: list[str]) -> list[str]:
    """Applies a few of the edits in the module docstring; returns their names."""
    done: list[str] = []
    pending = _pending(documents)
    if chance(draw, 1, 8) and _targets(pending):
        target = pick(draw, _targets(pending))
        target.setdefault("selectors", []).append(
            {"cel": {"expression": pick(draw, ERROR_SELECTORS)}}
        )
        done.append("cel-error")
    if chance(draw, 1, 8) and _exact_requests(pending):
        pick(draw, _exact_requests(pending))["adminAccess"] = True
        done.append("admin-access")
    slices = _device_slices(documents)
    if chance(draw, 1, 8) and slices:
        device = pick(draw, [d for s in slices for d in s["spec"]["devices"]])
        device["bindingConditions"] = ["ready"]
        device["bindingFailureConditions"] = ["failed"]
        if chance(draw, 1, 2):
            device["bindsToNode"] = True
        done.append("binding-conditions")
    if chance(draw, 1, 12) and slices:
        pool = pick(draw, slices)["spec"]["pool"]
        members = [s for s in _kind(documents, "ResourceSlice") if s["spec"]["pool"] == pool]
        for member in members:
            member["spec"]["pool"] = {**pool, "resourceSliceCount": pool["resourceSliceCount"] + 1}
        done.append("incomplete-pool")
    if chance(draw, 1, 12) and slices:
        source = pick(draw, slices)
        spec = source["spec"]
        twin = copy.deepcopy(source)
        twin["metadata"]["name"] = source["metadata"]["name"] + "-twin"
        twin["spec"]["devices"] = [copy.deepcopy(spec["devices"][0])]
        documents.append(twin)
        for member in _kind(documents, "ResourceSlice"):
            if member["spec"]["pool"]["name"] == spec["pool"]["name"] and (
                member["spec"]["driver"] == spec["driver"]
            ):
                count = member["spec"]["pool"]["resourceSliceCount"]
                member["spec"]["pool"] = {**member["spec"]["pool"], "resourceSliceCount": count + 1}
        done.append("invalid-pool")
    if chance(draw, 1, 10) and pending:
        claim = pick(draw, pending)
        key = "distinctAttribute" if chance(draw, 1, 2) else "matchAttribute"
        attribute = pick(
            draw, ["example.com/group", "gpu.example.com/model", "gpu.example.com/numa"]
        )
        claim["spec"]["devices"].setdefault("constraints", []).append({key: attribute})
        done.append("constraint-over-all")
    if chance(draw, 1, 8) and slices:
        spec = pick(draw, slices)["spec"]
        form = pick(draw, ["notin", "exists", "absent", "field", "per-device"])
        for placement in ("nodeName", "allNodes", "nodeSelector"):
            spec.pop(placement, None)
        if form == "notin":
            term = {"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["b"]}]}
        elif form == "exists":
            term = {"matchExpressions": [{"key": "zone", "operator": "Exists"}]}
        elif form == "absent":
            term = {"matchExpressions": [{"key": "rack", "operator": "DoesNotExist"}]}
        else:
            term = {
                "matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-1"]}]
            }
        if form == "per-device":
            spec["perDeviceNodeSelection"] = True
            for device in spec["devices"]:
                where = pick(draw, ["node-1", "node-2", "all", "zone-a"])
                if where == "all":
                    device["allNodes"] = True
                elif where == "zone-a":
                    device["nodeSelector"] = {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {"key": "zone", "operator": "In", "values": ["a"]}
                                ]
                            }
                        ]
                    }
                else:
                    device["nodeName"] = where
        else:
            spec["nodeSelector"] = {"nodeSelectorTerms": [term]}
        done.append(f"node-selection-{form}")
    if chance(draw, 1, 10):
        gates.append(pick(draw, EXTRA_GATES))
        done.append("gate-off")
    return done


@st.composite
def cases(draw: st.DrawFn) -> tuple[Case, list[str]]:
    """A differential case and the names of the edits applied to it."""
    problem = draw(problems())
    scenario = commit_prior(problem)
    documents = copy.deepcopy(scenario.documents())
    gates = [g for g in problem.gates.split(",") if g]
    edits = _edit(draw, documents, gates)
    return Case("generated", documents, node=problem.node, gates=",".join(gates)), edits
