"""`dralloc consolidate`: the table of moves and the free GPUs and hosts before and after, the
objects after the plan with -o yaml, exit 1 when nothing can be reopened (stderr says why),
and exit 2 naming file, object and field for bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from consolidation_kit import Running, write_input
from typer.testing import CliRunner

from dralloc.cli.main import app

MIG_NODES = "2xa100-80gb:gpus=2,mig=static,layout=all-1g.10gb"


def fragmented(tmp_path: Path) -> list[str]:
    pods = [
        Running("p0", "a100-80gb-00", ("gpu-0-mig-1g10gb-19-0",), mig=True),
        Running("p1", "a100-80gb-01", ("gpu-1-mig-1g10gb-19-0",), mig=True),
    ]
    return write_input(tmp_path, [MIG_NODES], pods)


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, ["consolidate", *args])


def test_the_table_lists_the_move_and_the_gpus_reopened(tmp_path: Path) -> None:
    cluster, running = fragmented(tmp_path)
    result = invoke("-f", cluster, "-f", running)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "POD",
        "FROM",
        "NODE",
        "FROM",
        "DEVICES",
        "TO",
        "NODE",
        "TO",
        "DEVICES",
    ]
    assert lines[1].split() == [
        "default/p0",
        "a100-80gb-00",
        "gpu.nvidia.com/a100-80gb-00/gpu-0-mig-1g10gb-19-0",
        "a100-80gb-01",
        "gpu.nvidia.com/a100-80gb-01/gpu-1-mig-1g10gb-19-1",
    ]
    assert lines[2:] == [
        "whole GPUs free: 2 -> 3",
        "whole hosts free: 0 -> 1",
        "reopened: a100-80gb-00/gpu-0",
    ]


def test_yaml_prints_the_moved_pod_and_its_claim_on_the_new_node(tmp_path: Path) -> None:
    cluster, running = fragmented(tmp_path)
    result = invoke("-f", cluster, "-f", running, "-o", "yaml")
    assert result.exit_code == 0, result.stderr
    items = yaml.safe_load(result.stdout)["items"]
    assert [(i["kind"], i["metadata"]["name"]) for i in items] == [
        ("Pod", "p0"),
        ("ResourceClaim", "p0-gpu"),
    ]
    pod, claim = items
    assert pod["spec"]["nodeName"] == "a100-80gb-01"
    assert "preemptionPolicy" not in pod["spec"]
    (device,) = claim["status"]["allocation"]["devices"]["results"]
    assert (device["pool"], device["device"]) == ("a100-80gb-01", "gpu-1-mig-1g10gb-19-1")
    assert claim["status"]["reservedFor"][0]["name"] == "p0"
    assert "whole GPUs free: 2 -> 3" in result.stderr.splitlines()


def test_nothing_movable_exits_1_and_says_why_unit_by_unit(tmp_path: Path) -> None:
    cluster, running = fragmented(tmp_path)
    result = invoke("-f", cluster, "-f", running, "--priority-below", "5")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == "no pod moves"
    assert result.stderr.splitlines() == [
        "a100-80gb-00/gpu-0: not reopened: NotPreemptible: pod default/p0 has priority 10",
        "a100-80gb-01/gpu-1: not reopened: NotPreemptible: pod default/p1 has priority 10",
    ]


def test_the_host_goal_reopens_a_host(tmp_path: Path) -> None:
    cluster, running = fragmented(tmp_path)
    result = invoke("-f", cluster, "-f", running, "--goal", "hosts")
    assert result.exit_code == 0, result.stderr
    assert "whole hosts free: 0 -> 1" in result.stdout.splitlines()
    assert "reopened: a100-80gb-00" in result.stdout.splitlines()


def test_a_claim_missing_from_the_input_is_exit_2_naming_file_object_and_field(
    tmp_path: Path,
) -> None:
    cluster, running = fragmented(tmp_path)
    text = Path(running).read_text(encoding="utf-8").replace("name: p1-gpu\n", "name: p1-gone\n")
    Path(running).write_text(text, encoding="utf-8")
    result = invoke("-f", cluster, "-f", running)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"{running}: Pod default/p1: spec.resourceClaims[0].resourceClaimName: "
        "ResourceClaim default/p1-gpu is not in the input"
    ]


def test_no_files_is_exit_2() -> None:
    result = invoke()
    assert result.exit_code == 2
    assert result.stderr.splitlines() == ["give the cluster with -f FILE"]


def test_consolidate_help_fits_80_columns() -> None:
    result = CliRunner().invoke(app, ["consolidate", "-h"], terminal_width=80)
    assert result.exit_code == 0
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
