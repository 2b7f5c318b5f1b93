"""Hypothesis strategies for the pruning equivalence tests: allocation inputs as documents.

`harder` takes a problem of `allocation_strategies.problems` (committed claims allocated
first) and makes its pending claims harder to satisfy and riskier: larger counts, admin
access, constraints that also cover `All` requests (a refused device is then an error),
selectors that fail at run time on some devices, a compile error. `partitioned` builds a
node of MIG-like GPUs: per GPU a counter set of memory slices, compute units and one media
engine, a whole-GPU device and partitions of 1, 2 or 4 slices (some with the media engine,
some shareable), some of them committed, and claims that ask for counts of profiles, whole
GPUs, or either, with matchAttribute or distinctAttribute on the parent GPU.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from allocation_model import DRIVERS, GROUP_DOMAIN, Problem
from allocation_scenario import commit_prior
from allocation_strategies import chance, pick, problems
from hypothesis import strategies as st

Doc = dict[str, Any]
GPU = "gpu.example.com"
RESOURCE = "resource.k8s.io/v1"


@dataclass(frozen=True)
class Case:
    documents: list[Doc]
    node: str
    gates: str
    # Sort the candidates by this rank of (driver, pool, device) names, as device-scoring
    # plugins do (None: the drivers' order).
    reverse_order: bool = False


def _targets(request: Doc) -> list[Doc]:
    if "exactly" in request:
        return [request["exactly"]]
    return list(request.get("firstAvailable", []))


@st.composite
def harder(draw: st.DrawFn) -> Case:
    problem: Problem = draw(problems())
    scenario = commit_prior(problem)
    documents = copy.deepcopy(scenario.documents())
    for document in documents:
        if document["kind"] != "ResourceClaim" or "status" in document:
            continue
        devices = document["spec"]["devices"]
        for request in devices["requests"]:
            for target in _targets(request):
                if target.get("allocationMode") != "All" and chance(draw, 1, 3):
                    target["count"] = target.get("count", 1) + pick(draw, [1, 2, 3, 5, 8])
                if "exactly" in request and chance(draw, 1, 5):
                    target["adminAccess"] = True
                if chance(draw, 1, 6):
                    # Fails at run time on devices of `driver` without a numa attribute (and,
                    # unguarded, on every device of another driver).
                    driver = pick(draw, DRIVERS)
                    expression = f'device.attributes["{driver}"].numa >= 0'
                    if chance(draw, 1, 2):
                        expression = f'device.driver != "{driver}" || {expression}'
                    target.setdefault("selectors", []).append({"cel": {"expression": expression}})
                elif chance(draw, 1, 40):
                    # Does not compile (API validation would refuse it; the tests load
                    # without validation): raised at the first device checked.
                    target.setdefault("selectors", []).append(
                        {"cel": {"expression": "device.nosuchfield == 1"}}
                    )
        constraints = devices.get("constraints", [])
        for constraint in constraints:
            if "requests" in constraint and chance(draw, 1, 3):
                del constraint["requests"]  # now it covers `All` requests too
        if not constraints and chance(draw, 1, 4):
            attribute = pick(draw, [f"{GROUP_DOMAIN}/group", f"{GPU}/numa", f"{GPU}/model"])
            kind = pick(draw, ["matchAttribute", "distinctAttribute"])
            devices["constraints"] = [{kind: attribute}]
    return Case(documents, problem.node, problem.gates, draw(st.booleans()))


# A GPU of 4 memory slices: (profile, first slice, slices, compute units, media engine).
PLACEMENTS = (
    ("1g", 0, 1, 1, False),
    ("1g", 1, 1, 1, False),
    ("1g", 2, 1, 1, False),
    ("1g", 3, 1, 1, False),
    ("1g+me", 0, 1, 1, True),
    ("1g+me", 2, 1, 1, True),
    ("2g", 0, 2, 2, False),
    ("2g", 2, 2, 2, False),
    ("4g", 0, 4, 3, False),
)
PROFILES = ("1g", "1g+me", "2g", "4g")


def _counters(first: int, slices: int, compute: int, media: bool) -> dict[str, Any]:
    counters = {f"memory-slice-{s}": {"value": "1"} for s in range(first, first + slices)}
    counters["compute"] = {"value": str(compute)}
    if media:
        counters["media"] = {"value": "1"}
    return counters


@st.composite
def partitioned(draw: st.DrawFn) -> Case:
    gpus = draw(st.integers(1, 2))
    # With list-type attributes on, devices also carry a list of links, and constraints may
    # name it (a list value with the gate off would break every selector on the device).
    list_types = chance(draw, 1, 3)
    counter_sets = [
        {
            "name": f"gpu-{g}",
            "counters": {
                **{f"memory-slice-{s}": {"value": "1"} for s in range(4)},
                "compute": {"value": "3"},
                "media": {"value": "1"},
            },
        }
        for g in range(gpus)
    ]
    slices: list[Doc] = [
        {
            "apiVersion": RESOURCE,
            "kind": "ResourceSlice",
            "metadata": {"name": "node-1-counters"},
            "spec": {
                "driver": GPU,
                "nodeName": "node-1",
                "pool": {"name": "node-1", "generation": 1, "resourceSliceCount": gpus + 1},
                "sharedCounters": counter_sets,
            },
        }
    ]
    names: list[str] = []
    shareable: set[str] = set()
    for g in range(gpus):
        chosen = draw(
            st.lists(st.sampled_from(range(len(PLACEMENTS))), unique=True, max_size=5).map(sorted)
        )
        devices: list[Doc] = []
        if chance(draw, 3, 4):
            devices.append(
                {
                    "name": f"gpu-{g}",
                    "attributes": {
                        "type": {"string": "gpu"},
                        "parent": {"string": f"gpu-{g}"},
                    },
                    "consumesCounters": [
                        {"counterSet": f"gpu-{g}", "counters": _counters(0, 4, 3, True)}
                    ],
                }
            )
        if list_types and devices:
            links = draw(st.lists(st.sampled_from("abc"), min_size=1, max_size=2, unique=True))
            devices[0]["attributes"]["links"] = {"strings": sorted(links)}
        for index in chosen:
            profile, first, size, compute, media = PLACEMENTS[index]
            device: Doc = {
                "name": f"gpu-{g}-{profile}-{first}",
                "attributes": {
                    "type": {"string": "mig"},
                    "profile": {"string": profile},
                    "parent": {"string": f"gpu-{g}"},
                },
                "consumesCounters": [
                    {"counterSet": f"gpu-{g}", "counters": _counters(first, size, compute, media)}
                ],
            }
            if list_types:
                links = draw(st.lists(st.sampled_from("abc"), min_size=1, max_size=2, unique=True))
                device["attributes"]["links"] = {"strings": sorted(links)}
            if chance(draw, 1, 4):
                device["allowMultipleAllocations"] = True
                device["capacity"] = {
                    "share": {
                        "value": "3",
                        "requestPolicy": {"default": "1", "validRange": {"min": "1"}},
                    }
                }
                shareable.add(device["name"])
            devices.append(device)
        names += [d["name"] for d in devices]
        slices.append(
            {
                "apiVersion": RESOURCE,
                "kind": "ResourceSlice",
                "metadata": {"name": f"node-1-gpu-{g}"},
                "spec": {
                    "driver": GPU,
                    "nodeName": "node-1",
                    "pool": {"name": "node-1", "generation": 1, "resourceSliceCount": gpus + 1},
                    "devices": devices,
                },
            }
        )
    classes = [
        _device_class(
            "gpu", f"device.driver == '{GPU}' && device.attributes['{GPU}'].type == 'gpu'"
        ),
        _device_class(
            "mig", f"device.driver == '{GPU}' && device.attributes['{GPU}'].type == 'mig'"
        ),
        _device_class("any", f"device.driver == '{GPU}'"),
    ]
    # Committed claims, each holding one device: dedicated, or a share of a shareable one.
    committed: list[Doc] = []
    held = draw(st.lists(st.sampled_from(names), unique=True, max_size=4)) if names else []
    for i, name in enumerate(held):
        claim = _claim(f"held-{i}", [{"name": "r", "exactly": {"deviceClassName": "any"}}], [])
        entry: Doc = {"request": "r", "driver": GPU, "pool": "node-1", "device": name}
        if name in shareable:
            entry["shareID"] = f"00000000-0000-4000-8000-{0xC0000 + i:012x}"
            entry["consumedCapacity"] = {"share": "1"}
        claim["status"] = {"allocation": {"devices": {"results": [entry]}}}
        committed.append(claim)
    pending = [
        _claim(f"claim-{c}", *draw(_partition_requests(list_types)))
        for c in range(pick(draw, [1, 1, 2]))
    ]
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "node-1", "labels": {"zone": "a"}},
    }
    gates = "DRAListTypeAttributes=true" if list_types else ""
    documents = [node, *classes, *slices, *committed, *pending]
    return Case(documents, "node-1", gates, draw(st.booleans()))


@st.composite
def _partition_requests(draw: st.DrawFn, list_types: bool) -> tuple[list[Doc], list[Doc]]:
    def exact(name: str | None) -> Doc:
        out: Doc = {} if name is None else {"name": name}
        device_class = pick(draw, ["mig", "mig", "gpu", "any"])
        out["deviceClassName"] = device_class
        if device_class == "mig" and chance(draw, 2, 3):
            profile = pick(draw, PROFILES)
            out["selectors"] = [
                {"cel": {"expression": f"device.attributes['{GPU}'].profile == '{profile}'"}}
            ]
        if chance(draw, 1, 6):
            out["allocationMode"] = "All"
        else:
            out["count"] = pick(draw, [1, 1, 1, 2, 2, 3, 4, 6])
        if chance(draw, 1, 6):
            out["capacity"] = {"requests": {"share": "1"}}
        return out

    requests: list[Doc] = []
    for r in range(pick(draw, [1, 1, 2, 2, 3])):
        if chance(draw, 1, 4):
            subs = [exact(f"s{s}") for s in range(pick(draw, [2, 2, 3]))]
            requests.append({"name": f"r{r}", "firstAvailable": subs})
        else:
            request = {"name": f"r{r}", "exactly": exact(None)}
            if chance(draw, 1, 5):
                request["exactly"]["adminAccess"] = True
            requests.append(request)
    constraints: list[Doc] = []
    if chance(draw, 1, 2):
        kind = pick(draw, ["matchAttribute", "matchAttribute", "distinctAttribute"])
        attribute = pick(draw, ["parent", "links"] if list_types else ["parent"])
        constraint: Doc = {kind: f"{GPU}/{attribute}"}
        if len(requests) > 1 and chance(draw, 1, 3):
            constraint["requests"] = [requests[0]["name"]]
        constraints.append(constraint)
    return requests, constraints


def _device_class(name: str, expression: str) -> Doc:
    return {
        "apiVersion": RESOURCE,
        "kind": "DeviceClass",
        "metadata": {"name": name},
        "spec": {"selectors": [{"cel": {"expression": expression}}]},
    }


def _claim(name: str, requests: list[Doc], constraints: list[Doc]) -> Doc:
    devices: Doc = {"requests": requests}
    if constraints:
        devices["constraints"] = constraints
    return {
        "apiVersion": RESOURCE,
        "kind": "ResourceClaim",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"devices": devices},
    }
