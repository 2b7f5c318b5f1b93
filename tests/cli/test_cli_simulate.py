"""`dralloc simulate`: runs through the scheduler, a summary table, the CSV files and the
report, in fgd and replay mode; bad input exits 2 with one line per problem."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dralloc.cli.main import app
from dralloc.cli.simulate import DEFAULT_SEEDS, parse_seeds

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
    # One plotly.js beside the report, not inside it: the report opens offline, small.
    assert "<script src='plotly.min.js'></script>" in report and "plotly.js v" not in report
    assert "plotly.js v" in (out / "plotly.min.js").read_text()[:2000]
    assert report.count("Plotly.newPlot") == 5
    assert "openb:default: unallocated GPU" in report and "every node's GPU use" in report
    assert "<meta name='viewport' content='width=device-width, initial-scale=1'>" in report


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
        (["--mode", "bogus"], "--mode bogus: expected fgd or replay"),
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


def test_the_default_run_is_the_first_three_of_the_papers_ten_seeds() -> None:
    # README's Quickstart promises 6 policies x 3 seeds; --seeds 42-51 is the full campaign.
    assert parse_seeds(DEFAULT_SEEDS) == parse_seeds("42-51")[:3] == [42, 43, 44]


# --------------------------------------------------------------------------------------------
# --mode replay

REPLAY_HEADER = (
    "workload,policy,seed,total_gpus,pods,started,completed,running,pending,evicted,"
    "not_arrived,wait_mean_s,wait_p50_s,wait_p95_s,wait_p99_s,makespan_s,"
    "mean_utilization_pct,gpu_hours,cost_usd"
)
CAPACITY_HEADER = (
    "provisioned_gpu_hours,fragmented_gpu_hours,idle_gpu_hours,completed_gpu_hours,"
    "capacity_cost_usd,used_cost_usd,fragmented_cost_usd,idle_cost_usd,"
    "usd_per_completed_gpu_hour"
)
EVICTION_HEADER = (
    "evictions,evictions[Preemption],evictions[NodeRemoved],evictions[Consolidation],"
    "evictions[Drift],evictions[Emptiness],evictions[Expiration],evictions[SpotInterruption],"
    "evictions[CapacityBlockEnd],evictions[ScaleDown],evictions[StartupTimeout],"
    "lost_gpu_hours,first_start_wait_p50_s,first_start_wait_p95_s"
)
SMALL_SYNTHETIC = "synthetic:pods=40,nodes=2,rate=0.05,median=600"


def test_replay_writes_a_row_per_run_a_timeseries_and_the_replay_plots(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            *["simulate", "--mode", "replay", "--trace", SMALL_SYNTHETIC],
            *["--policy", "fgd,bestfit", "--seeds", "1-2", "--out", str(out)],
            *["--price", "a100-80gb=2"],
        ],
    )
    assert result.exit_code == 0, result.stderr
    assert SMALL_SYNTHETIC in result.stdout and "median over 2 seeds" in result.stdout
    assert "bestfit" in result.stdout and "wait p95" in result.stdout
    assert f"{SMALL_SYNTHETIC}: 40 pods (seed 1), 2 nodes x 8 GPUs (a100-80gb)" in result.stderr
    rows = list(csv.reader((out / "replay.csv").read_text().splitlines()))
    assert ",".join(rows[0]) == (
        REPLAY_HEADER
        + ",gpu_hours[a100-80gb],cost_usd[a100-80gb],"
        + CAPACITY_HEADER
        + ","
        + EVICTION_HEADER
    )
    assert [r[:5] for r in rows[1:]] == [
        [SMALL_SYNTHETIC, "fgd", "1", "16", "40"],
        [SMALL_SYNTHETIC, "fgd", "2", "16", "40"],
        [SMALL_SYNTHETIC, "bestfit", "1", "16", "40"],
        [SMALL_SYNTHETIC, "bestfit", "2", "16", "40"],
    ]
    column = {name: index for index, name in enumerate(rows[0])}
    for row in rows[1:]:
        hours = float(row[column["gpu_hours"]])
        assert hours > 0
        assert float(row[column["cost_usd"]]) == pytest.approx(2 * hours, abs=0.01)
        assert row[column["pending"]] == "0"
        # A fixed fleet evicts nothing: the first start is the last, and no work is lost.
        assert row[column["evictions"]] == row[column["evictions[NodeRemoved]"]] == "0"
        assert row[column["lost_gpu_hours"]] == "0.000"
        assert row[column["first_start_wait_p95_s"]] == row[column["wait_p95_s"]]
        # Capacity is charged whole: used + fragmented + idle, 16 GPUs over the makespan.
        provisioned = float(row[column["provisioned_gpu_hours"]])
        assert provisioned == pytest.approx(16 * float(row[column["makespan_s"]]) / 3600, 0.01)
        parts = [float(row[column[f"{p}_cost_usd"]]) for p in ("used", "fragmented", "idle")]
        assert sum(parts) == pytest.approx(float(row[column["capacity_cost_usd"]]), abs=0.02)
        assert float(row[column["capacity_cost_usd"]]) == pytest.approx(2 * provisioned, 0.01)
        assert parts[0] == pytest.approx(2 * hours, abs=0.01)
        completed = float(row[column["completed_gpu_hours"]])
        assert float(row[column["usd_per_completed_gpu_hour"]]) == pytest.approx(
            2 * provisioned / completed, 0.01
        )
    series = list(csv.reader((out / "timeseries.csv").read_text().splitlines()))
    assert series[0] == [
        *("workload", "policy", "seed", "time_s", "allocated_gpus", "capacity_gpus"),
        *("utilization_pct", "pending_pods", "running_pods"),
    ]
    assert {r[1] for r in series[1:]} == {"fgd", "bestfit"}
    assert all(float(r[4]) <= float(r[5]) == 16 for r in series[1:])
    report = (out / "report.html").read_text()
    assert "<script src='plotly.min.js'></script>" in report and (out / "plotly.min.js").exists()
    for title in ("GPU utilization", "pods pending over time", "waiting time CDF", "cost of"):
        assert f"{SMALL_SYNTHETIC}: {title}" in report
    assert "a100-80gb 2.00" in report
    # The answer opens the page: a sentence naming a policy, then the summary table.
    answer = report[report.index("<section class='answer'>") :]
    assert answer.index("completes its work at $") < answer.index("<table class='summary'>")
    assert "USD per completed GPU-h" in answer and "used / fragmented / idle %" in answer
    row = next(line.split() for line in result.stdout.splitlines() if line.startswith("fgd"))
    capacity = [float(r[column["capacity_cost_usd"]]) for r in rows[1:3]]  # fgd's seeds
    assert row[5].replace(",", "") == f"{sum(capacity) / 2:,.0f}".replace(",", "")


def test_replay_of_an_openb_pod_list_runs_at_its_times(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["simulate", "--mode", "replay", "--trace-dir", str(_trace_dir(tmp_path))]
    result = CliRunner().invoke(
        app, [*args, "--policy", "packing", "--seeds", "3", "--out", str(out)]
    )
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader((out / "replay.csv").read_text().splitlines()))
    (row,) = rows
    # 10.5 GPUs asked for on 10, every pod created at 0 and deleted at 10: one finds no room
    # and waits for the completions at 10 s (p99 interpolates between 0 and that 10).
    assert (row["workload"], row["pods"], row["pending"], row["completed"]) == (
        "openb:default",
        "12",
        "0",
        "12",
    )
    assert (row["wait_mean_s"], row["wait_p50_s"], row["wait_p99_s"]) == ("0.8", "0.0", "8.9")
    assert row["makespan_s"] == "20.0"
    assert float(row["cost_usd"]) > 0  # T4 and G2 have default prices


def test_replay_jobs_in_parallel_give_the_same_rows(tmp_path: Path) -> None:
    outputs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"out-{jobs}"
        result = CliRunner().invoke(
            app,
            [
                *["simulate", "--mode", "replay", "--trace", SMALL_SYNTHETIC],
                *["--policy", "random", "--seeds", "3,4", "--jobs", jobs, "--out", str(out)],
            ],
        )
        assert result.exit_code == 0, result.stderr
        outputs.append((out / "replay.csv").read_text() + (out / "timeseries.csv").read_text())
    assert outputs[0] == outputs[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--mode", "replay", "--trace", "dlrm"],
            "workload 'dlrm' is not shipped with dralloc: pass --trace-dir pointing at a folder"
            " holding disaggregated_DLRM_trace.csv",
        ),
        (
            ["--mode", "replay", "--trace", "synthetic:pods=x"],
            "--trace synthetic:pods=x: pods: 'x' is not a whole number",
        ),
        (
            ["--mode", "replay", "--trace", "philly"],
            "--trace philly: unknown workload for a replay, expected one of openb:<variant>,",
        ),
        (
            ["--mode", "replay", "--price", "T4=cheap"],
            "--price: 'T4=cheap': 'cheap' is not a number of USD",
        ),
        (["--mode", "replay", "--price", "T4"], "--price: 'T4' is not MODEL=USD"),
        (["--mode", "replay", "--price", "T4=-1"], "--price: 'T4=-1': a price must be"),
        (["--price", "T4=x,G9=1"], "--price: 'T4=x': 'x' is not a number of USD"),
        (
            ["--mode", "replay", "--trace", "synthetic:pods=5,nodes=1", "--price", "h1OO=3"],
            "--price: unknown GPU model 'h1OO'; known: ",
        ),
        (["--price", "T4=0.4,nonsense=1"], "--price: unknown GPU model 'nonsense'; known: "),
        (
            ["--trace", "synthetic"],
            "--trace synthetic: --mode fgd runs openb workloads only (openb:<variant>)",
        ),
        (
            ["--mode", "replay", "--trace", "openb:multigpu20", "--trace-dir", "."],
            "openb_pod_list_multigpu20.csv: no such file",
        ),
    ],
)
def test_bad_replay_input_exits_2_with_one_line(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["simulate", *args])
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_an_openb_list_without_times_cannot_be_replayed(tmp_path: Path) -> None:
    directory = tmp_path / "openb"
    directory.mkdir()
    (directory / "openb_node_list_gpu_node.csv").write_text(NODES)
    short = "name,cpu_milli,memory_mib,num_gpu,gpu_milli\np-0,1000,1024,2,1000\n"
    (directory / "openb_pod_list_multigpu20.csv").write_text(short)
    result = CliRunner().invoke(
        app,
        [
            *["simulate", "--mode", "replay", "--trace", "openb:multigpu20"],
            *["--trace-dir", str(directory), "--out", str(tmp_path / "out")],
        ],
    )
    assert result.exit_code == 2
    assert result.stderr.strip().endswith(
        "openb_pod_list_multigpu20.csv: line 2: creation_time: openb:multigpu20 has no"
        " creation_time/deletion_time columns: a replay needs them (the multigpu* files are"
        " for --mode fgd only)"
    )
    assert not (tmp_path / "out").exists()  # nothing written


def test_an_output_path_that_is_a_file_is_refused_before_any_run(tmp_path: Path) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("not a directory")
    result = CliRunner().invoke(
        app,
        ["simulate", "--mode", "replay", "--trace", SMALL_SYNTHETIC, "--out", str(blocker)],
    )
    assert result.exit_code == 2
    assert result.stderr.strip() == f"--out {blocker}: exists and is not a folder"
    assert blocker.read_text() == "not a directory"


def test_the_report_opens_with_a_summary_and_compares_workloads(tmp_path: Path) -> None:
    import statistics

    directory = _trace_dir(tmp_path)
    # Quarter-GPU pods: the arrived workload passes through exactly 100%.
    rows = [f"q-{i:03d},1000,1024,1,250,,LS,Running,0,10,0" for i in range(30)]
    for name in ("default", "gpushare40"):
        pods = POD_HEADER + "\n".join(rows) + "\n"
        (directory / f"openb_pod_list_{name}.csv").write_text(pods)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            *["simulate", "--trace-dir", str(directory), "--policy", "fgd,packing"],
            *["--trace", "openb:default", "--trace", "openb:gpushare40"],
            *["--seeds", "1-3", "--out", str(out)],
        ],
    )
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader((out / "allocation.csv").read_text().splitlines()))
    report = (out / "report.html").read_text()
    assert "All workloads" in report and "Unallocated GPU at 100% arrived workload" in report
    for policy in ("fgd", "packing"):
        idle = [
            100 - float(r["100"])
            for r in rows
            if r["policy"] == policy and r["workload"] == "openb:default"
        ]
        median = statistics.median(idle)
        cell = f"</span>{policy}</td><td>3</td><td>{median:.1f}</td>"
        assert cell in report
        assert f"<td>{median * 10 / 100:,.0f}</td>" in report  # GPUs left idle of 10
    assert "leaves the fewest GPUs unallocated at 100% arrived on" in report
