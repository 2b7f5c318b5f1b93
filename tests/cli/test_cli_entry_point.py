"""The console-script entry point `dralloc.cli.main:run` in a real process: exit codes reach
the shell, stdout and stderr are separate streams, and errors never print a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml
from cli_kit import CLUSTER, QUICKSTART, claim, documents, write

RUN = [sys.executable, "-c", "from dralloc.cli.main import run; run()"]


def _dralloc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RUN, *args], capture_output=True, text=True, timeout=120, check=False)


def test_the_entry_point_allocates_the_quickstart_and_exits_0() -> None:
    done = _dralloc("allocate", "-f", str(QUICKSTART))
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[0] == "allocated on node gpu-node-1"
    output = yaml.safe_load(done.stdout)
    assert output["kind"] == "List"
    assert [i["metadata"]["name"] for i in output["items"]] == ["training-0"]


def test_the_entry_point_exits_2_on_bad_input_without_a_traceback(tmp_path: Path) -> None:
    text = documents(CLUSTER, claim("c").replace("count: 1", 'count: "two"'))
    path = write(tmp_path, "in.yaml", text)
    done = _dralloc("allocate", "-f", path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"{path}: ResourceClaim ")
    assert "spec.devices.requests[0].exactly.count" in line


def test_the_entry_point_exits_3_on_an_allocator_error_without_a_traceback(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "in.yaml", documents(CLUSTER, claim("c", device_class="nosuch")))
    done = _dralloc("allocate", "-f", path)
    assert done.returncode == 3
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: claim default/c, request gpus: could not retrieve")
