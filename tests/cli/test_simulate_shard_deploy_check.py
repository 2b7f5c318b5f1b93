"""deploy/sweep: the init container `results-writable` of the sweep and of the merge passes on
a folder user 65532 can write and fails, saying why, on one it cannot (an NFS volume that
ignores fsGroup), through a real shell; the claim asks for a storage class by name."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

SWEEP = Path(__file__).resolve().parents[2] / "deploy" / "sweep"


def _check(path: Path) -> str:
    pod: dict[str, Any] = yaml.safe_load(path.read_text())["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    assert init["name"] == "results-writable" and init["command"] == ["sh", "-c"]
    assert init["volumeMounts"] == [{"name": "results", "mountPath": "/results"}]
    assert init["image"] == pod["containers"][0]["image"]
    (script,) = init["args"]
    return str(script)


@pytest.mark.parametrize("job", ["10-sweep-job.yaml", "merge/merge-job.yaml"])
def test_the_init_container_fails_fast_when_results_is_not_writable(
    job: str, tmp_path: Path
) -> None:
    script = _check(SWEEP / job)
    ok = subprocess.run(
        ["sh", "-c", script.replace("/results", str(tmp_path))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0 and list(tmp_path.iterdir()) == []
    # A path no user can create a file under (a file's), as a volume ignoring fsGroup is to
    # user 65532; chmod would not do here (root writes a read-only folder).
    blocked = tmp_path / "volume"
    blocked.write_text("")
    refused = subprocess.run(
        ["sh", "-c", script.replace("/results", str(blocked))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 1
    assert f"{blocked} is not writable by uid 65532: see deploy/sweep/README.md" in refused.stderr


def test_the_claim_names_a_storage_class_for_read_write_many() -> None:
    claim = yaml.safe_load((SWEEP / "00-results-pvc.yaml").read_text())
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claim["spec"]["storageClassName"]
    assert f"name: {claim['spec']['storageClassName']}" in (SWEEP / "README.md").read_text()
