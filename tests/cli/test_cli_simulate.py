"""`dralloc simulate`: runs through the scheduler, a summary table, the two CSV files."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dralloc.cli.main import app
from dralloc.cli.simulate import parse_seeds

NODES = "sn,cpu_milli,memory_mib,gpu,model\nn-0,32000,131072,2,T4\nn-1,64000,262144,8,G2\n"
POD_HEADER = (
    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,"
    "creation_time,deletion_time,scheduled_time\n"
)
SHAPES = [(4000, 1, 500, ""), (8000, 1, 1000, ""), (2000, 0, 0, ""), (6000, 2, 1000, "G2")]


def _trace_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "openb"
    directory.mkdir()
    (directory / "openb_node_list_gpu_node.csv").write_text(NODES)
    rows = [
        f"p-{i:03d},{cpu},4096,{gpus},{milli},{spec},LS,Running,0,10,0"
        for i, (cpu, gpus, milli, spec) in enumerate(SHAPES * 3)
    ]
    (directory / "openb_pod_list_default.csv").write_text(POD_HEADER + "\n".join(rows) + "\n")
    return directory


def test_simulate_writes_a_row_per_run_and_prints_a_summary(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["simulate", "--trace-dir", str(_trace_dir(tmp_path)), "--policy", "fgd,bestfit"]
    result = CliRunner().invoke(app, [*args, "--seeds", "1-2", "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    assert "bestfit" in result.stdout and "fgd" in result.stdout
    for name in ("allocation.csv", "fragmentation.csv"):
        rows = list(csv.reader((out / name).read_text().splitlines()))
        assert rows[0][:5] == ["workload", "policy", "seed", "total_gpus", "0"]
        assert rows[0][-1] == "130" and len(rows[0]) == 4 + 131
        assert [r[:4] for r in rows[1:]] == [
            ["openb:default", "fgd", "1", "10"],
            ["openb:default", "fgd", "2", "10"],
            ["openb:default", "bestfit", "1", "10"],
            ["openb:default", "bestfit", "2", "10"],
        ]
    allocation = list(csv.reader((out / "allocation.csv").read_text().splitlines()))
    assert float(allocation[1][4 + 50]) == pytest.approx(50, abs=5)  # nothing fails early
    report = (out / "report.html").read_text()
    assert "<script src=" not in report  # self-contained: plotly.js embedded once
    assert report.count("plotly.js v") == 1 or report.count("Plotly.newPlot") >= 4
    assert "openb:default: unallocated GPU" in report and "every node's GPU use" in report


def test_parallel_jobs_give_the_same_rows(tmp_path: Path) -> None:
    directory = _trace_dir(tmp_path)
    outputs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"out-{jobs}"
        result = CliRunner().invoke(
            app,
            [
                *["simulate", "--trace-dir", str(directory), "--policy", "packing"],
                *["--seeds", "3,4", "--jobs", jobs, "--out", str(out)],
            ],
        )
        assert result.exit_code == 0, result.stderr
        outputs.append((out / "allocation.csv").read_text())
    assert outputs[0] == outputs[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--policy", "tetris"], "--policy: unknown tetris"),
        (["--seeds", "9-3"], "--seeds: '9-3': the range runs backwards"),
        (["--mode", "replay"], "--mode replay: only fgd"),
        (["--jobs", "0"], "--jobs: must be at least 1"),
        (["--trace", "openb:gpushare40"], "--trace-dir"),
    ],
)
def test_bad_options_exit_2_with_one_line(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["simulate", *args])
    assert result.exit_code == 2
    assert message in result.stderr


def test_seeds_accept_ranges_and_lists() -> None:
    assert parse_seeds("42-45") == [42, 43, 44, 45]
    assert parse_seeds("1,5,9") == [1, 5, 9]
    assert parse_seeds("7") == [7]
