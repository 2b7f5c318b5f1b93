"""`dralloc simulate --mode replay --autoscaling FILE`: the trace's nodes give way to an
autoscaled fleet, replay.csv gets the fleet's columns and the table its billed USD, scale-ups
and scale-downs; a bad file, a shape the replay's pods cannot use, a mode not wired yet,
--mode fgd or queues with topology (`+tas`) exit 2 naming the field, with nothing written."""

from __future__ import annotations

import csv
from pathlib import Path

from cli_kit import invoke, stderr_lines, write

NODES = "sn,cpu_milli,memory_mib,gpu,model\nn-0,16000,65536,1,T4\n"
# Two one-GPU pods at 0 s for 600 s: the fleet starts empty, so both wait for a node.
PODS = (
    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,"
    "creation_time,deletion_time,scheduled_time\n"
    "a,1000,1024,1,1000,,LS,Running,0,600,0\n"
    "b,1000,1024,1,1000,,LS,Running,0,600,0\n"
)
FAST = '{launch: "fixed:60", register: "fixed:30", ready: "fixed:30", devices: "fixed:60"}'


def config(mode: str = "cluster-autoscaler", sharing: str = "fractional", top: str = "3") -> str:
    return f"""\
apiVersion: dralloc.io/v1alpha1
kind: Autoscaling
mode: {mode}
shapes:
- name: t4x2
  shape: t4
  gpus: 2
  sharing: {sharing}
  price: {{onDemand: 1.5}}
  provisioning: {FAST}
nodeGroups:
- {{name: t4, shape: t4x2, max: {top}}}
options: {{scaleDownUnneededTime: 300}}
"""


def _replay(tmp_path: Path, *args: str) -> list[str]:
    directory = tmp_path / "openb"
    directory.mkdir(exist_ok=True)
    (directory / "openb_node_list_gpu_node.csv").write_text(NODES)
    (directory / "openb_pod_list_default.csv").write_text(PODS)
    return [
        *["simulate", "--mode", "replay", "--trace-dir", str(directory), "--seeds", "1"],
        *["--policy", "packing", "--out", str(tmp_path / "out"), *args],
    ]


def test_the_fleet_scales_up_for_the_pending_pods_and_down_when_they_end(tmp_path: Path) -> None:
    scaling = write(tmp_path, "autoscaling.yaml", config())
    result = invoke(*_replay(tmp_path, "--autoscaling", scaling))
    assert result.exit_code == 0, result.stderr
    (row,) = csv.DictReader((tmp_path / "out" / "replay.csv").read_text().splitlines())
    # One node (2 GPUs) requested at the 10 s loop publishes its devices at 190 s.
    assert (row["started"], row["completed"], row["wait_p95_s"]) == ("2", "2", "190.0")
    assert (row["autoscaling_mode"], row["nodes_requested"], row["nodes_launched"]) == (
        "cluster-autoscaler",
        "1",
        "1",
    )
    assert (row["scale_ups"], row["scale_downs"], row["nodes_removed"]) == ("1", "1", "1")
    assert float(row["billed_usd"]) == float(row["billed_usd[on-demand]"]) > 0
    # Two costs, each saying what it charges: GPU prices for capacity, node prices for the bill.
    header = next(line for line in result.stdout.splitlines() if line.startswith("policy"))
    assert "capacity USD" in header and "billed USD" in header
    assert "capacity USD: every provisioned GPU-hour at its GPU model's price" in result.stdout
    assert "billed USD: the fleet's node-hours at its shapes' node prices" in result.stdout
    assert "fleet size over time" in (tmp_path / "out" / "report.html").read_text()


def test_bad_autoscaling_files_exit_2_naming_the_field(tmp_path: Path) -> None:
    for text, line in (
        (config(top="-1"), "Autoscaling: nodeGroups[0].max: must be >= 0, got -1"),
        (config(sharing="exclusive"), "Autoscaling: shapes[0].sharing: the replay's pods claim"),
        (config(mode="oracle"), "Autoscaling: mode: oracle is not wired into the replay yet"),
    ):
        scaling = write(tmp_path, "autoscaling.yaml", text)
        result = invoke(*_replay(tmp_path, "--autoscaling", scaling))
        assert result.exit_code == 2
        assert any(line in each for each in stderr_lines(result)), result.stderr
        assert not (tmp_path / "out").exists()
    fgd = invoke("simulate", "--autoscaling", scaling, "--out", str(tmp_path / "out"))
    assert fgd.exit_code == 2
    assert stderr_lines(fgd) == ["--autoscaling: an autoscaled fleet applies to --mode replay only"]


def test_queues_with_topology_and_a_fleet_exit_2(tmp_path: Path) -> None:
    scaling = write(tmp_path, "autoscaling.yaml", config())
    args = ["--trace", "synthetic-jobs", "--queues", "fair,fair+tas", "--autoscaling", scaling]
    result = invoke(*_replay(tmp_path, *args))
    assert result.exit_code == 2
    assert stderr_lines(result) == ["--queues: +tas cannot be combined with --autoscaling yet"]
    assert not (tmp_path / "out").exists()
