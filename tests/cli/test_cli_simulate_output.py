"""`dralloc simulate`'s output as a whole: a line per finished run with the ETA when stderr is
not a terminal, --out written whole (an earlier run's files of the other mode gone, a folder
of someone else's files refused), the provenance footer, --jobs defaulting to the usable cores,
PDF/PNG export through the machine's Chromium, and SIGTERM stopping every worker process
with nothing written."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dralloc.cli.main import app
from dralloc.cli.simulate import usable_cores

SMALL = "synthetic:pods=30,nodes=2,rate=0.05,median=600"
NODES = "sn,cpu_milli,memory_mib,gpu,model\nn-0,32000,131072,2,T4\nn-1,64000,262144,8,G2\n"
POD_HEADER = (
    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,"
    "creation_time,deletion_time,scheduled_time\n"
)


def _openb(tmp_path: Path) -> Path:
    directory = tmp_path / "openb"
    directory.mkdir()
    (directory / "openb_node_list_gpu_node.csv").write_text(NODES)
    rows = [f"q-{i:03d},1000,1024,1,250,,LS,Running,0,10,0" for i in range(48)]
    (directory / "openb_pod_list_default.csv").write_text(POD_HEADER + "\n".join(rows) + "\n")
    return directory


def test_an_fgd_run_replaces_an_earlier_replays_files_and_says_where_it_came_from(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    replay = ["simulate", "--mode", "replay", "--trace", SMALL, "--policy", "fgd"]
    first = CliRunner().invoke(app, [*replay, "--seeds", "1", "--jobs", "1", "--out", str(out)])
    assert first.exit_code == 0, first.stderr
    assert (out / "replay.csv").exists()
    fgd_line = '"line":{"color":"#D55E00","dash":"solid"'  # fgd's, in every chart and report
    assert fgd_line in (out / "report.html").read_text()
    directory = _openb(tmp_path)
    args = ["simulate", "--trace-dir", str(directory), "--policy", "fgd,bestfit", "--jobs", "1"]
    result = CliRunner().invoke(app, [*args, "--seeds", "1,2", "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    # stderr is not a terminal here: one line per finished run, with the ETA.
    lines = [line for line in result.stderr.splitlines() if line.startswith("[")]
    assert [re.sub(r"\d+ s", "N s", line) for line in lines] == [
        "[1/4] openb:default fgd seed 1 done in N s; ETA N s",
        "[2/4] openb:default fgd seed 2 done in N s; ETA N s",
        "[3/4] openb:default bestfit seed 1 done in N s; ETA N s",
        "[4/4] openb:default bestfit seed 2 done in N s; done",
    ]
    assert sorted(p.name for p in out.iterdir()) == [
        "allocation.csv",
        "fragmentation.csv",
        "plotly.min.js",
        "report.html",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["openb", "out"]  # no staging left
    report = (out / "report.html").read_text()
    footer = report[report.index("<footer class='provenance'>") :]
    for name in ("openb_node_list_gpu_node.csv", "openb_pod_list_default.csv"):
        digest = hashlib.sha256((directory / name).read_bytes()).hexdigest()
        assert f"{directory / name}</span> sha256 <code class='digest'>{digest}</code>" in footer
    assert "<dt>Seeds</dt><dd>1, 2</dd>" in footer and "<dt>dralloc</dt>" in footer
    assert re.search(r"<dt>Created</dt><dd>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC</dd>", footer)
    # The answer opens the page, before any chart: a sentence, then the table per policy.
    answer = report[report.index("<section class='answer'>") : report.index("<footer")]
    assert answer.index("class='headline'") < answer.index("<table") < answer.index("<h3>")
    assert "stranded USD/hour" in answer and "stranded USD/h" in result.stdout
    assert report.count(fgd_line) == 2  # both curve charts
    assert report.count('"line":{"color":"#0072B2","dash":"dash"') == 2  # bestfit's


def test_a_folder_holding_other_files_is_refused_before_any_run(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    (out / "report.html").write_text("an earlier report")
    args = ["simulate", "--mode", "replay", "--trace", SMALL, "--seeds", "1", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert result.stderr == (
        f"--out {out}: holds files dralloc did not write (thesis.tex); choose a new or "
        "empty folder, or one an earlier dralloc simulate wrote\n"
    )
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "thesis.tex"]


def test_jobs_default_to_the_usable_cores() -> None:
    assert usable_cores() == len(os.sched_getaffinity(0))
    result = CliRunner().invoke(app, ["simulate", "--help"])
    assert f"(os.sched_getaffinity, {usable_cores()} here)" in " ".join(result.stdout.split())


def test_pdf_export_without_a_browser_exits_2_naming_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRALLOC_CHROMIUM", str(tmp_path / "no-such-chromium"))
    out = tmp_path / "out"
    args = ["simulate", "--mode", "replay", "--trace", SMALL, "--format", "pdf"]
    result = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 2
    assert result.stderr == (
        f"--format: $DRALLOC_CHROMIUM={tmp_path / 'no-such-chromium'} is not an executable file\n"
    )
    assert not out.exists()
    result = CliRunner().invoke(app, [*args[:-2], "--format", "svg", "--out", str(out)])
    assert (result.exit_code, result.stderr) == (2, "--format svg: expected html, pdf or png\n")


def _chromium() -> str | None:
    chosen = os.environ.get("DRALLOC_CHROMIUM", "/usr/bin/chromium")
    return chosen if Path(chosen).is_file() else None


@pytest.mark.skipif(_chromium() is None, reason="no Chromium: apt-get install chromium")
def test_png_export_prints_the_rendered_report(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["simulate", "--mode", "replay", "--trace", SMALL, "--policy", "fgd", "--seeds", "1"]
    result = CliRunner().invoke(app, [*args, "--jobs", "1", "--format", "png", "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    image = (out / "report.png").read_bytes()
    assert image[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(image[16:20], "big"), int.from_bytes(image[20:24], "big")
    assert width == 794 and height > 1500  # an A4 page's width, the whole page long
    assert f"wrote {out / 'report.png'}" in result.stderr


def _children(pid: int) -> list[int]:
    children = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(
                line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line
            )
        except OSError:  # the process ended while we read
            continue
        if fields.get("PPid", "").strip() == str(pid):
            children.append(int(status.parent.name))
    return children


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_sigterm_stops_every_worker_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    command = [
        *(sys.executable, "-c", "from dralloc.cli.main import run; run()"),
        *("simulate", "--policy", "fgd,bestfit", "--seeds", "1-4", "--jobs", "2"),
        *("--out", str(out)),
    ]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        # Wait (for a process state, not a time) until both workers run the packaged trace.
        deadline = time.monotonic() + 120
        while len(workers := _children(process.pid)) < 2 and process.poll() is None:
            assert time.monotonic() < deadline, "the workers never started"
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "stopped by SIGTERM after 0 of 8 runs: every worker stopped" in stderr
    assert "Traceback" not in stderr and stdout == ""
    assert not [pid for pid in workers if _alive(pid)]
    assert list(tmp_path.iterdir()) == []  # no --out, no staging folder
