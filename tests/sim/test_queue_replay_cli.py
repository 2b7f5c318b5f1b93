"""`dralloc simulate --mode replay --queues`: one run per queue policy, queues.csv, the queue
columns of replay.csv and the queue plots; bad input exits 2 with one line."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dralloc.cli.main import app

TRACE = "synthetic-jobs:jobs=40,tenants=2,rate=0.05,quotas=8|16,seed=3"


def test_queues_option_writes_a_run_per_queue_policy_and_queues_csv(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["simulate", "--mode", "replay", "--trace", TRACE, "--policy", "bestfit"]
    queues = "none,strictfifo,fair+placement"
    result = CliRunner().invoke(app, [*args, "--seeds", "1", "--queues", queues, "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader((out / "replay.csv").read_text().splitlines()))
    assert [r["queues"] for r in rows] == ["none", "strictfifo", "fair+placement"]
    for row in rows:
        assert 0 < float(row["jain_index"]) <= 1
        assert row["stuck_jobs"].isdigit() and row["preemptions"].isdigit()
    assert rows[0]["stuck_jobs"] == "0" and rows[2]["stuck_jobs"] == "0"
    per_queue = list(csv.DictReader((out / "queues.csv").read_text().splitlines()))
    assert {(r["queues"], r["queue"]) for r in per_queue} == {
        (q, t) for q in queues.split(",") for t in ("team-a", "team-b")
    }
    for queue, row in zip(("none", "strictfifo", "fair+placement"), rows, strict=True):
        mine = [r for r in per_queue if r["queues"] == queue]
        assert sum(int(r["jobs"]) for r in mine) == 40
        # The queues' parts of the run's utilization add up to it.
        parts = sum(float(r["utilization_pct"]) for r in mine)
        assert parts == pytest.approx(float(row["mean_utilization_pct"]), abs=0.01)
        assert 0 <= float(row["mean_fragmentation_pct"]) <= 100
    report = (out / "report.html").read_text()
    assert "job waiting time per queue" in report and "Jain" in report
    assert "fragmented GPU over time" in report
    assert "fair+placement" in result.stdout and "frag %" in result.stdout


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--queues", "fifo"],
            "--queues: unknown queue policy 'fifo' (known: none, strictfifo, "
            "besteffortfifo, fair; each may add +placement and +tas, e.g. fair+placement+tas)",
        ),
        (
            ["--queues", "fair+tas+tas"],
            "--queues: unknown queue policy 'fair+tas+tas' (known: none, strictfifo, "
            "besteffortfifo, fair; each may add +placement and +tas, e.g. fair+placement+tas)",
        ),
        (
            ["--queues", "none+tas"],
            "--queues: unknown queue policy 'none+tas' (known: none, strictfifo, "
            "besteffortfifo, fair; each may add +placement and +tas, e.g. fair+placement+tas)",
        ),
        (["--queues", ""], "--queues: no queue policy given"),
        (
            ["--mode", "fgd", "--trace", "openb:default", "--queues", "fair"],
            "--queues: queues apply to --mode replay only",
        ),
        (
            ["--trace", "synthetic", "--queues", "fair"],
            "--queues: --trace synthetic has no tenants to make queues of (a job trace with "
            "tenants is needed: synthetic-jobs, itp-elasticflow, dlrm-jobs)",
        ),
    ],
)
def test_bad_queue_options_exit_2_with_one_line(
    tmp_path: Path, extra: list[str], message: str
) -> None:
    args = ["simulate", "--mode", "replay", "--trace", TRACE, "--seeds", "1", "--policy", "fgd"]
    result = CliRunner().invoke(app, [*args, *extra, "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert result.stderr == message + "\n"
