"""The worked allocation problems of spec/dra-examples, run through `dralloc allocate`.

Each example states its command and the outcome Kubernetes 1.36 gives in a comment header;
this test runs the command in-process and compares by the conventions of the examples'
README (results order-insensitive unless `ordered`, quantities by value, `shareID: ANY`).
The examples live beside the project (../shared); without them the test skips and says so.
"""

from __future__ import annotations

import json
import re
import shlex
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from dralloc.api.quantity import Quantity
from dralloc.cli.main import app

EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "spec" / "dra-examples"
FILES = sorted(EXAMPLES.glob("DRA-*.yaml")) if EXAMPLES.is_dir() else []

pytestmark = pytest.mark.skipif(
    not FILES, reason=f"worked examples not found at {EXAMPLES} (they live outside the package)"
)


# Examples whose stated outcome upstream's own code contradicts; upstream is the judge, and the
# outcome it gives replaces the stated one (docs/conformance.md says why for each).
UPSTREAM_OUTCOMES: dict[str, dict[str, Any]] = {
    # DRA-171 expects "undefined field 'allowMultipleAllocations'" with DRAConsumableCapacity
    # off. Upstream's allocator compiles selectors in the StoredExpressions environment, which
    # declares the field whatever the gate says, and its incubating implementation (picked by
    # the binding gates this example turns on) reads the device's `true`.
    "DRA-171": {
        "claims": {
            "claim-0": {
                "results": [
                    {
                        "request": "req-0",
                        "driver": "driver-a",
                        "pool": "pool-1",
                        "device": "device-1",
                    }
                ],
                "nodeSelector": {"local": "node-1"},
            }
        }
    },
}


def _header(path: Path) -> tuple[list[str], dict[str, Any]]:
    lines = path.read_text().splitlines()
    command: list[str] = []
    expected: list[str] = []
    in_expected = False
    for line in lines:
        if not line.startswith("#"):
            break
        if line.startswith("# Run:"):
            command = shlex.split(line[len("# Run:") :])
        elif line.startswith("# Expected"):
            in_expected = True
        elif in_expected:
            expected.append(line[2:] if line.startswith("# ") else line[1:])
    spec = yaml.safe_load("\n".join(expected))
    return command, UPSTREAM_OUTCOMES.get(path.stem, spec["expect"])


def _quantity(value: Any) -> Any:
    return Quantity.parse(str(value)) if value is not None else None


def _normalise_result(result: dict[str, Any]) -> dict[str, Any]:
    out = dict(result)
    if "consumedCapacity" in out:
        out["consumedCapacity"] = {k: _quantity(v) for k, v in out["consumedCapacity"].items()}
    if out.get("shareID") is not None and out.get("shareID") != "ANY":
        out["shareID"] = "ANY"
    return out


def _node_selector(expected: Any) -> Any:
    if expected is None:
        return None
    if isinstance(expected, dict) and "local" in expected:
        return {
            "nodeSelectorTerms": [
                {
                    "matchFields": [
                        {"key": "metadata.name", "operator": "In", "values": [expected["local"]]}
                    ]
                }
            ]
        }
    return expected


def _term_set(selector: Any) -> Any:
    if selector is None:
        return None
    terms = []
    for term in selector["nodeSelectorTerms"]:
        reqs = set()
        for kind in ("matchExpressions", "matchFields"):
            for req in term.get(kind, []):
                reqs.add((kind, req["key"], req["operator"], frozenset(req.get("values", []))))
        terms.append(frozenset(reqs))
    return terms


def _sort_key(result: dict[str, Any]) -> str:
    return json.dumps(result, sort_keys=True, default=str)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_worked_example_matches_upstream_outcome(path: Path) -> None:
    command, expect = _header(path)
    assert command[:2] == ["dralloc", "allocate"]
    args = [str(EXAMPLES / a) if a.endswith(".yaml") else a for a in command[1:]]
    result = CliRunner().invoke(app, args)
    if "error" in expect:
        assert result.exit_code in (2, 3), result.output
        assert expect["error"] in result.stderr, result.stderr
        return
    if expect.get("unsatisfiable"):
        assert result.exit_code == 1, result.stdout + result.stderr
        return
    assert result.exit_code == 0, result.stderr
    listing = json.loads(result.stdout)
    assert listing["kind"] == "List"
    got = {item["metadata"]["name"]: item["status"]["allocation"] for item in listing["items"]}
    assert list(got) == list(expect["claims"]), "claims in input order"
    share_ids: list[str] = []
    for name, want in expect["claims"].items():
        allocation = got[name]
        results = allocation["devices"].get("results", [])
        for r in results:
            if "shareID" in r:
                assert re.fullmatch(r"[0-9a-f-]{36}", r["shareID"])
                assert str(uuid.UUID(r["shareID"])) == r["shareID"]
                share_ids.append(r["shareID"])
        got_results = [_normalise_result(r) for r in results]
        want_results = [_normalise_result(r) for r in want.get("results") or []]
        if want.get("ordered"):
            assert got_results == want_results
        else:
            assert sorted(got_results, key=_sort_key) == sorted(want_results, key=_sort_key)
        assert _term_set(allocation.get("nodeSelector")) == _term_set(
            _node_selector(want.get("nodeSelector"))
        )
        got_config = [
            {
                "source": c["source"],
                "requests": c.get("requests", []),
                "driver": c["opaque"]["driver"],
                "parameters": c["opaque"].get("parameters"),
            }
            for c in allocation["devices"].get("config", [])
        ]
        want_config = [
            {
                "source": c["source"],
                "requests": c.get("requests") or [],
                "driver": c["driver"],
                "parameters": c.get("parameters"),
            }
            for c in want.get("config") or []
        ]
        assert got_config == want_config
    assert len(share_ids) == len(set(share_ids)), "shareIDs are distinct"
