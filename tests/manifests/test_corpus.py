"""A corpus of manifests written the way users write them, each with the outcome Kubernetes 1.36
gives it, run through `dralloc schedule` beside a small GPU cluster.

Each `corpus/*.yaml` is one user's file, unchanged but for its opening comment, whose
`# expect: {...}` line says what must happen (derived from the specs, not from running
dralloc): `exit` code; how many pods end `placed` and `pending`; how many claims the output
shows `allocated_claims`; `stderr` lines that must appear (substrings); `nodes`, where named
pods must land. `cluster.yaml` is `dralloc cluster generate --nodes 2xh100-80gb-sxm:gpus=2 -o
yaml`: two nodes of 56 CPUs with two H100s each, the GPU driver's DeviceClasses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result
from typer.testing import CliRunner

from dralloc.cli.main import app

HERE = Path(__file__).parent
CLUSTER = HERE / "cluster.yaml"
CASES = sorted((HERE / "corpus").glob("*.yaml"))
EXPECT = "# expect:"


def expectation(path: Path) -> dict[str, Any]:
    for line in path.read_text().splitlines():
        if line.startswith(EXPECT):
            found = yaml.safe_load(line[len(EXPECT) :])
            assert isinstance(found, dict)
            return found
    raise AssertionError(f"{path.name} has no '{EXPECT}' line")


def run(path: Path) -> Result:
    result = CliRunner().invoke(app, ["schedule", "-f", str(CLUSTER), "-f", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"uncaught {result.exception!r}"
    )
    assert "Traceback" not in result.stderr
    return result


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_each_manifest_gets_the_outcome_kubernetes_gives_it(path: Path) -> None:
    expected = expectation(path)
    result = run(path)
    assert result.exit_code == expected["exit"], result.stderr
    for text in expected.get("stderr", []):
        assert text in result.stderr, result.stderr
    if expected["exit"] == 2:
        assert result.stdout == ""
        return
    items = yaml.safe_load(result.stdout)["items"]
    pods = [i for i in items if i["kind"] == "Pod" and i.get("status", {}).get("phase") != "Failed"]
    placed = [p for p in pods if p["spec"].get("nodeName")]
    assert len(placed) == expected["placed"], result.stderr
    assert len(pods) - len(placed) == expected["pending"], result.stderr
    if "allocated_claims" in expected:
        claims = [i for i in items if i["kind"] == "ResourceClaim"]
        allocated = [c for c in claims if c.get("status", {}).get("allocation")]
        assert len(allocated) == expected["allocated_claims"]
    for name, node in expected.get("nodes", {}).items():
        (pod,) = [p for p in pods if p["metadata"]["name"] == name]
        assert pod["spec"].get("nodeName") == node


def test_the_corpus_covers_the_kinds_users_apply() -> None:
    kinds = {
        document.get("kind")
        for path in CASES
        for document in yaml.safe_load_all(path.read_text())
        if isinstance(document, dict)
    }
    for kind in ("Namespace", "Deployment", "Job", "JobSet", "LeaderWorkerSet", "StatefulSet"):
        assert kind in kinds
