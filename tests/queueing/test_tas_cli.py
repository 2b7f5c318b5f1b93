"""`dralloc queue` with Kueue's topology-aware scheduling: a TAS flavor in the manifests makes
admission place each pod set in topology domains (`status.admission.podSetAssignments[]
.topologyAssignment`, Kueue's compact form) before the scheduler-backed check, and a
Workload no domain can hold waits with Kueue's TAS message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from test_tas_admission import TPU_QUEUES, multislice
from typer.testing import CliRunner

from dralloc.cli.main import app


def run_queue(tmp_path: Path, *extra: str) -> tuple[int, list[dict[str, Any]], str]:
    runner = CliRunner()
    cluster = tmp_path / "cluster.yaml"
    made = runner.invoke(
        app, ["cluster", "generate", "--nodes", "3xtpu-v6e-4x8", "--out", str(cluster)]
    )
    assert made.exit_code == 0, made.output
    queues = tmp_path / "kueue.yaml"
    queues.write_text(
        TPU_QUEUES
        + "---"
        + multislice("llama", 2, "2026-01-01T10:00:00Z")
        + "---"
        + multislice("gemma", 2, "2026-01-01T10:01:00Z"),
        encoding="utf-8",
    )
    result = runner.invoke(
        app, ["queue", "-f", str(cluster), "-f", str(queues), "-o", "yaml", *extra]
    )
    documents = [d for d in yaml.safe_load_all(result.stdout) if d]
    items = [i for d in documents for i in d.get("items", []) if i.get("kind") == "Workload"]
    return result.exit_code, items, result.stderr


def by_job(items: list[dict[str, Any]], job: str) -> dict[str, Any]:
    (found,) = [i for i in items if i["metadata"]["name"].startswith(f"jobset-{job}-")]
    return found


def test_the_first_multislice_jobset_gets_topology_domains_and_the_second_waits(
    tmp_path: Path,
) -> None:
    code, items, _ = run_queue(tmp_path)
    llama = by_job(items, "llama")
    (assignment,) = llama["status"]["admission"]["podSetAssignments"]
    topology = assignment["topologyAssignment"]
    assert topology["levels"] == ["kubernetes.io/hostname"]
    assert topology["slices"][0]["domainCount"] == 16  # 2 slices x 8 hosts, one pod each
    gemma = by_job(items, "gemma")
    assert "admission" not in gemma.get("status", {})
    waiting = [c for c in gemma["status"]["conditions"] if c["type"] == "QuotaReserved"]
    assert waiting[0]["status"] == "False"
    assert "allows to fit only 1 out of 2 slice(s)" in waiting[0]["message"]
    assert code == 1  # a Workload pending


def test_without_the_scheduler_check_topology_still_decides(tmp_path: Path) -> None:
    _, items, _ = run_queue(tmp_path, "--no-placement")
    assert (
        "topologyAssignment"
        in (by_job(items, "llama")["status"]["admission"]["podSetAssignments"][0])
    )
    assert "admission" not in by_job(items, "gemma").get("status", {})
