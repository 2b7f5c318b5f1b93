"""Differential runs of dralloc's allocator against upstream's, through `dra-oracle`.

Owns the conversation with the oracle process (`tools/draoracle`, built by tools/build.sh into
`$DRALLOC_K8S_HOME/bin/dra-oracle`): one process serves many cases, one JSON line in and one
JSON line out per case. It also runs the same case through `dralloc.allocator.Allocator` and
compares the two outcomes.

A case is a list of Kubernetes documents (Nodes, DeviceClasses, ResourceSlices, ResourceClaims
with and without `status.allocation`), the node to allocate on and the feature gates. Both
sides get the documents after dralloc's loader has validated and defaulted them, so the oracle
sees exactly the objects dralloc decoded, in the shape the API server would have stored.

    oracle = Oracle.start(binary("dra-oracle"))
    outcome = compare(oracle, Case("case-1", documents, node="node-1"))
    assert outcome.agrees, outcome.difference
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from dralloc.allocator import (
    AllocationError,
    Allocator,
    AllocatorOptions,
    Inventory,
    NodeFailure,
    allocated_state,
)
from dralloc.api.io import kube_dict, to_builtins
from dralloc.api.quantity import Quantity
from dralloc.features import Features, parse_gates
from dralloc.testing import Cluster, sequential_share_ids

K8S_VERSION = "v1.36.3"
HOME_ENV = "DRALLOC_K8S_HOME"
REQUIRE_ENV = "DRALLOC_REQUIRE_K8S"
ORACLE = "dra-oracle"
TIMEOUT_SECONDS = 10.0

# dralloc's gate -> the oracle's feature name (tools/draoracle/main.go).
ORACLE_FEATURES = {
    "DRAAdminAccess": "AdminAccess",
    "DRAPrioritizedList": "PrioritizedList",
    "DRAPartitionableDevices": "PartitionableDevices",
    "DRADeviceTaints": "DeviceTaints",
    "DRADeviceBindingConditions": "DeviceBinding",
    "DRAResourceClaimDeviceStatus": "DeviceStatus",
    "DRAConsumableCapacity": "ConsumableCapacity",
    "DRAListTypeAttributes": "ListTypeAttributes",
}

STATUSES = ("allocated", "unfit", "node-failure", "error")


def k8s_home() -> Path:
    """Where tools/build.sh put its binaries (the same rule as tests/k8s/controlplane.py)."""
    configured = os.environ.get(HOME_ENV)
    if configured:
        return Path(configured)
    return Path.home() / ".cache" / "dralloc" / f"k8s-{K8S_VERSION}"


def oracle_binary() -> Path:
    return k8s_home() / "bin" / ORACLE


def is_oracle_built() -> bool:
    return os.access(oracle_binary(), os.X_OK)


def is_k8s_required() -> bool:
    return os.environ.get(REQUIRE_ENV) == "1"


class OracleError(RuntimeError):
    """The oracle process died or answered something that is not an answer to the case."""


@dataclass
class Oracle:
    """One running `dra-oracle`; `ask` sends a case and waits for its answer."""

    process: subprocess.Popen[str]

    @classmethod
    def start(cls, path: Path | None = None) -> Oracle:
        process = subprocess.Popen(
            [str(path or oracle_binary())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        return cls(process)

    def ask(self, case: Mapping[str, Any]) -> dict[str, Any]:
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None
        try:
            stdin.write(json.dumps(case, separators=(",", ":")) + "\n")
            stdin.flush()
        except BrokenPipeError as error:
            raise OracleError(f"dra-oracle exited with {self.process.poll()}") from error
        line = stdout.readline()
        if not line:
            raise OracleError(f"dra-oracle exited with {self.process.wait()}")
        answer: dict[str, Any] = json.loads(line)
        if answer.get("id") != case["id"] or answer.get("status") not in STATUSES:
            raise OracleError(f"answer {line.strip()!r} to case {case['id']!r}")
        return answer

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


# ------------------------------------------------------------------------------ one case


@dataclass
class Case:
    """Documents (wire dicts), the node to allocate on and `--feature-gates` text."""

    id: str
    documents: list[dict[str, Any]]
    node: str = "node-1"
    gates: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "node": self.node, "gates": self.gates, "documents": self.documents}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Case:
        return cls(data["id"], list(data["documents"]), data["node"], data.get("gates", ""))


def oracle_features(features: Features) -> dict[str, bool]:
    return {name: features.enabled(gate) for gate, name in ORACLE_FEATURES.items()}


def oracle_input(case: Case, cluster: Cluster, features: Features) -> dict[str, Any]:
    """The oracle's input: the objects dralloc decoded and defaulted, back in wire shape."""
    return {
        "id": case.id,
        "features": oracle_features(features),
        "allocator": "",
        "node": kube_dict(cluster.node(case.node)),
        "slices": [kube_dict(s) for s in cluster.slices],
        "classes": [kube_dict(c) for c in cluster.classes.values()],
        "allocatedClaims": [kube_dict(c) for c in cluster.allocated],
        "claims": [kube_dict(c) for c in cluster.pending],
        "timeoutSeconds": TIMEOUT_SECONDS,
    }


def dralloc_answer(case: Case, cluster: Cluster, features: Features) -> dict[str, Any]:
    """dralloc's outcome in the oracle's answer shape."""
    allocator = Allocator(
        features,
        options=AllocatorOptions(timeout=TIMEOUT_SECONDS, share_ids=sequential_share_ids()),
    )
    try:
        results = allocator.allocate(
            cluster.node(case.node),
            cluster.pending,
            Inventory(cluster.slices, features, cluster.taint_rules),
            cluster.classes,
            allocated_state(cluster.allocated, features),
        )
    except NodeFailure as failure:
        return {"id": case.id, "status": "node-failure", "message": str(failure)}
    except AllocationError as error:
        return {"id": case.id, "status": "error", "message": str(error)}
    if results is None:
        return {"id": case.id, "status": "unfit"}
    return {"id": case.id, "status": "allocated", "results": to_builtins(results)}


# ---------------------------------------------------------------------------- comparison


def _pruned(value: Any) -> Any:
    """Empty lists, maps and nulls dropped (Go's omitempty and msgspec's omit_defaults differ
    in which empty values they write; the API treats absent and empty alike here)."""
    if isinstance(value, dict):
        out = {k: _pruned(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, [], {})}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def _amount(text: str) -> Fraction:
    return Fraction(Quantity.parse(text).nano, 10**9)


def normalized(results: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Results ready to compare: no allocationTimestamp, shareIDs replaced by their order of
    first appearance (so the two sides' shareIDs pair up in result order), consumed
    capacities as exact numbers. Also returns what is wrong with the shareIDs themselves."""
    problems: list[str] = []
    shares: dict[str, str] = {}
    out = []
    for result in _pruned(results):
        result = dict(result)
        result.pop("allocationTimestamp", None)
        devices = dict(result.get("devices", {}))
        entries = []
        for entry in devices.get("results", []):
            entry = dict(entry)
            share = entry.get("shareID")
            if share is not None:
                if share in shares:
                    problems.append(f"shareID {share} given twice")
                shares[share] = f"share-{len(shares)}"
                entry["shareID"] = shares[share]
            if "consumedCapacity" in entry:
                entry["consumedCapacity"] = {
                    k: str(_amount(v)) for k, v in entry["consumedCapacity"].items()
                }
            entries.append(entry)
        devices["results"] = entries
        result["devices"] = devices
        out.append(result)
    return out, problems


@dataclass
class Outcome:
    case: Case
    dralloc: dict[str, Any]
    upstream: dict[str, Any]
    differences: list[str] = field(default_factory=list)

    @property
    def agrees(self) -> bool:
        return not self.differences

    @property
    def status(self) -> str:
        return str(self.upstream["status"])

    @property
    def difference(self) -> str:
        return "; ".join(self.differences)

    @property
    def message_differs(self) -> bool:
        """Same failing status but other words (recorded; not a disagreement yet)."""
        return self.dralloc.get("message") != self.upstream.get("message")


def differences(dralloc: Mapping[str, Any], upstream: Mapping[str, Any]) -> list[str]:
    if dralloc["status"] != upstream["status"]:
        return [
            f"status: dralloc {dralloc['status']} ({dralloc.get('message', '')}), "
            f"upstream {upstream['status']} ({upstream.get('message', '')})"
        ]
    if dralloc["status"] != "allocated":
        return []
    mine, my_problems = normalized(dralloc["results"])
    theirs, their_problems = normalized(upstream["results"])
    found = [f"dralloc: {p}" for p in my_problems] + [f"upstream: {p}" for p in their_problems]
    if len(mine) != len(theirs):
        return [*found, f"{len(mine)} results from dralloc, {len(theirs)} from upstream"]
    for index, (a, b) in enumerate(zip(mine, theirs, strict=True)):
        if a != b:
            found.append(
                f"claim #{index}: dralloc {json.dumps(a, sort_keys=True)} "
                f"!= upstream {json.dumps(b, sort_keys=True)}"
            )
    return found


def load_case(case: Case) -> tuple[Cluster, Features]:
    documents = {"apiVersion": "v1", "kind": "List", "items": case.documents}
    return Cluster.from_yaml(json.dumps(documents)), parse_gates(case.gates)


def compare(oracle: Oracle, case: Case) -> Outcome:
    cluster, features = load_case(case)
    upstream = oracle.ask(oracle_input(case, cluster, features))
    mine = dralloc_answer(case, cluster, features)
    return Outcome(case, mine, upstream, differences(mine, upstream))
