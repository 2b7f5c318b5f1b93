"""`dralloc simulate --mode replay --node-events FILE`: nodes join and leave in every run (in
worker processes too), replay.csv and timeseries.csv show it, and a bad file, an unknown node
or --mode fgd exit 2 with one line per problem and nothing written."""

from __future__ import annotations

import csv
from pathlib import Path

from cli_kit import invoke, stderr_lines, write

NODES = "sn,cpu_milli,memory_mib,gpu,model\nn-0,16000,65536,1,T4\nn-1,16000,65536,1,T4\n"
# a holds a GPU from 0 to 1000 s; b arrives at 10 s for 100 s. With both nodes there from
# the start, b never waits.
PODS = (
    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,"
    "creation_time,deletion_time,scheduled_time\n"
    "a,1000,1024,1,1000,,LS,Running,0,1000,0\n"
    "b,1000,1024,1,1000,,LS,Running,10,110,10\n"
)
HEADER = "time,action,node\n"
SMALL_SYNTHETIC = "synthetic:pods=40,nodes=2,rate=0.05,median=600"


def _trace_dir(tmp_path: Path) -> str:
    directory = tmp_path / "openb"
    directory.mkdir(exist_ok=True)
    (directory / "openb_node_list_gpu_node.csv").write_text(NODES)
    (directory / "openb_pod_list_default.csv").write_text(PODS)
    return str(directory)


def _replay(tmp_path: Path, *args: str) -> list[str]:
    return [
        *["simulate", "--mode", "replay", "--trace-dir", _trace_dir(tmp_path)],
        *["--policy", "packing", "--out", str(tmp_path / "out"), *args],
    ]


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.read_text().splitlines()))


def test_a_node_added_at_t_lets_a_pending_pod_run_from_t_in_every_worker(tmp_path: Path) -> None:
    events = write(tmp_path, "events.csv", HEADER + "50,add,n-1\n")
    result = invoke(*_replay(tmp_path, "--seeds", "1,2", "--jobs", "2", "--node-events", events))
    assert result.exit_code == 0, result.stderr
    assert f"{events}: 1 node event (1 add, 0 remove) in every run" in result.stderr
    out = tmp_path / "out"
    rows = _rows(out / "replay.csv")
    # n-1 is absent until 50 s: b waits from 10 s to 50 s (a 0 s, so a mean of 20 s).
    assert [(r["seed"], r["started"], r["completed"], r["evicted"]) for r in rows] == [
        ("1", "2", "2", "0"),
        ("2", "2", "2", "0"),
    ]
    assert {(r["wait_mean_s"], r["wait_p50_s"], r["pending"]) for r in rows} == {
        ("20.0", "20.0", "0")
    }
    capacity = {
        (r["seed"], r["time_s"]): r["capacity_gpus"]
        for r in _rows(out / "timeseries.csv")
        if r["time_s"] in ("49.0", "50.0")
    }
    assert capacity == {
        ("1", "49.0"): "1.000",
        ("1", "50.0"): "2.000",
        ("2", "49.0"): "1.000",
        ("2", "50.0"): "2.000",
    }


def test_a_node_removed_evicts_its_pods(tmp_path: Path) -> None:
    # n-1 joins at 50 s, so a runs on n-0 from 0 s; n-0 leaves at 300 s and takes a with it.
    events = write(tmp_path, "events.csv", HEADER + "50,add,n-1\n300,Remove,n-0\n")
    result = invoke(*_replay(tmp_path, "--seeds", "1", "--node-events", events))
    assert result.exit_code == 0, result.stderr
    (row,) = _rows(tmp_path / "out" / "replay.csv")
    assert (row["started"], row["completed"], row["evicted"], row["running"]) == (
        "2",
        "1",
        "1",
        "0",
    )
    # a ran 300 s of its 1000, b its 100 s: 400 GPU-seconds.
    assert row["gpu_hours"] == f"{400 / 3600:.3f}"
    # The 300 s a ran on n-0 are lost work, one eviction for a node that left.
    assert (row["evictions"], row["evictions[NodeRemoved]"], row["evictions[Preemption]"]) == (
        "1",
        "1",
        "0",
    )
    assert row["lost_gpu_hours"] == f"{300 / 3600:.3f}"
    assert "evictions  lost GPU-h" in result.stdout
    assert "evictions: runs of pods stopped before completing" in result.stdout
    report = (tmp_path / "out" / "report.html").read_text()
    assert "Evictions, runs of pods stopped before completing" in report
    assert "packing 1 (NodeRemoved 1), 0.1 GPU-h lost" in report
    series = _rows(tmp_path / "out" / "timeseries.csv")
    assert [r["capacity_gpus"] for r in series if r["time_s"] in ("299.0", "300.0")] == [
        "2.000",
        "1.000",
    ]


def test_node_events_are_refused_with_mode_fgd(tmp_path: Path) -> None:
    events = write(tmp_path, "events.csv", HEADER + "50,add,n-1\n")
    result = invoke(
        *["simulate", "--trace-dir", _trace_dir(tmp_path), "--node-events", events],
        *["--out", str(tmp_path / "out")],
    )
    assert result.exit_code == 2
    assert stderr_lines(result) == ["--node-events: node events apply to --mode replay only"]
    assert not (tmp_path / "out").exists()


def test_a_malformed_file_exits_2_with_a_line_per_problem_and_writes_nothing(
    tmp_path: Path,
) -> None:
    events = write(tmp_path, "events.csv", HEADER + "-1,add,n-1\n5,join,n-1\n6,add\n")
    result = invoke(*_replay(tmp_path, "--node-events", events))
    assert result.exit_code == 2
    assert stderr_lines(result) == [
        f"{events}: line 2: time: must be a finite number of seconds ≥ 0, got '-1'",
        f"{events}: line 3: action: unknown action 'join', expected add or remove",
        f"{events}: line 4: node: missing: the row ends after 2 of 3 fields",
    ]
    assert not (tmp_path / "out").exists()
    missing = str(tmp_path / "nope.csv")
    result = invoke(*_replay(tmp_path, "--node-events", missing))
    assert result.exit_code == 2
    assert stderr_lines(result) == [f"{missing}: cannot read: No such file or directory"]


def test_a_node_one_workload_lacks_is_refused_naming_the_workload(tmp_path: Path) -> None:
    events = write(tmp_path, "events.csv", HEADER + "50,add,n-1\n")
    result = invoke(
        *_replay(tmp_path, "--trace", "openb:default", "--trace", SMALL_SYNTHETIC),
        *["--node-events", events],
    )
    assert result.exit_code == 2
    assert stderr_lines(result) == [
        f"{events}: line 2: node: no node 'n-1' in {SMALL_SYNTHETIC}"
        " (2 nodes, syn-node-000 to syn-node-001)"
    ]
    assert not (tmp_path / "out").exists()
