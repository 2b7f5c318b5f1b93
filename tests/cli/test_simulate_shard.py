"""`dralloc simulate --shard K/N` and `dralloc simulate merge`: shards run as separate
processes merge into the very CSVs of one unsharded run, and report.html differs only in its
provenance footer and plotly's random element ids; bad --shard values and shard folders that
do not make one campaign exit 2 naming the option or the folder."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dralloc.cli.main import app

SMALL_SYNTHETIC = "synthetic:pods=30,nodes=2,rate=0.05,median=600"
NODES = "sn,cpu_milli,memory_mib,gpu,model\nn-0,32000,131072,2,T4\nn-1,64000,262144,8,G2\n"
POD_HEADER = (
    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,"
    "creation_time,deletion_time,scheduled_time\n"
)
SHAPES = [(4000, 1, 500, ""), (8000, 1, 1000, ""), (2000, 0, 0, ""), (6000, 2, 1000, "G2")]
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_FOOTER = re.compile(r"<footer class='provenance'>.*?</footer>", re.DOTALL)


def _openb(tmp_path: Path) -> Path:
    directory = tmp_path / "openb"
    directory.mkdir()
    (directory / "openb_node_list_gpu_node.csv").write_text(NODES)
    rows = [
        f"p-{i:03d},{cpu},4096,{gpus},{milli},{spec},LS,Running,0,10,0"
        for i, (cpu, gpus, milli, spec) in enumerate(SHAPES * 3)
    ]
    (directory / "openb_pod_list_default.csv").write_text(POD_HEADER + "\n".join(rows) + "\n")
    return directory


def _report(folder: Path) -> str:
    """report.html without what differs between two writings of the same runs."""
    text = (folder / "report.html").read_text()
    return _UUID.sub("ID", _FOOTER.sub("", text))


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.stderr
    return result.stderr


def test_shards_run_as_processes_merge_into_the_files_of_one_run(tmp_path: Path) -> None:
    campaign = [
        *("simulate", "--mode", "replay", "--trace", SMALL_SYNTHETIC),
        *("--policy", "fgd,bestfit", "--seeds", "1-2", "--jobs", "1"),
    ]
    # Each shard in a process of its own, as on separate machines (started together).
    entry = "from dralloc.cli.main import run; run()"
    shards = [
        subprocess.Popen(
            [sys.executable, "-c", entry, *campaign, "--shard", f"{k}/2", "--out", str(out)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k, out in ((k, tmp_path / f"shard-{k}") for k in (1, 2))
    ]
    _invoke(*campaign, "--out", str(tmp_path / "single"))
    for shard in shards:
        _, stderr = shard.communicate(timeout=120)
        assert shard.returncode == 0, stderr
    assert sorted(p.name for p in (tmp_path / "shard-2").iterdir()) == [
        "run-00001.msgpack",
        "run-00003.msgpack",
        "shard.json",
    ]
    folders = [str(tmp_path / f"shard-{k}") for k in (2, 1)]
    _invoke("simulate", "merge", *folders, "-o", str(tmp_path / "merged"))
    single, merged = tmp_path / "single", tmp_path / "merged"
    assert sorted(p.name for p in merged.iterdir()) == sorted(p.name for p in single.iterdir())
    for name in ("replay.csv", "timeseries.csv"):
        assert (merged / name).read_bytes() == (single / name).read_bytes()
    assert _report(merged) == _report(single)
    # The merged report names the campaign's command, not one shard's.
    footer = _FOOTER.search((merged / "report.html").read_text())
    assert footer is not None and "--shard" not in footer.group(0)


@pytest.mark.parametrize(
    ("shard", "message"),
    [
        ("0/4", "--shard: '0/4': K must be between 1 and N (4), got 0"),
        ("5/4", "--shard: '5/4': K must be between 1 and N (4), got 5"),
        ("x", "--shard: 'x' is not K/N (shard K of N, e.g. 1/4)"),
        ("1/0", "--shard: '1/0': N must be at least 1, got 0"),
    ],
)
def test_a_bad_shard_exits_2_naming_the_option(shard: str, message: str) -> None:
    result = CliRunner().invoke(app, ["simulate", "--shard", shard])
    assert result.exit_code == 2
    assert result.stderr == message + "\n"


def test_a_shard_prints_no_report_so_it_takes_no_format() -> None:
    result = CliRunner().invoke(app, ["simulate", "--shard", "1/2", "--format", "pdf"])
    assert result.exit_code == 2
    assert result.stderr == (
        "--format pdf: a shard writes no report; give --format to dralloc simulate merge\n"
    )


def test_fgd_shards_merge_into_one_run_and_others_exit_2_naming_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign = [
        *("simulate", "--trace-dir", str(_openb(tmp_path)), "--policy", "fgd,random"),
        *("--seeds", "1", "--jobs", "1"),
    ]
    _invoke(*campaign, "--out", str(tmp_path / "single"))
    for k in (1, 2):
        said = _invoke(*campaign, "--shard", f"{k}/2", "--out", str(tmp_path / f"a-{k}"))
        assert (
            f"shard {k}/2: 1 of the campaign's 2 runs; 'dralloc simulate merge' of the 2 shard "
            "folders writes its files\n"
        ) in said
    _invoke(*campaign, "--seeds", "1-2", "--shard", "2/2", "--out", str(tmp_path / "b-2"))
    out = tmp_path / "merged"
    cases = [
        ([tmp_path / "a-1"], f"{tmp_path / 'a-1'}: shard 2/2 of this campaign not given"),
        (
            [tmp_path / "a-1", tmp_path / "a-2", tmp_path / "a-2"],
            f"{tmp_path / 'a-2'}: shard 2/2 again (also in {tmp_path / 'a-2'})",
        ),
        (
            [tmp_path / "a-1", tmp_path / "b-2"],
            f"{tmp_path / 'b-2'}: shard 2/2 is of another campaign than {tmp_path / 'a-1'}'s "
            "(they differ in: number of runs (2 vs 4))",
        ),
        (
            [tmp_path],
            f"{tmp_path}: holds no shard.json: not a shard folder, or the shard did not finish",
        ),
    ]
    for folders, message in cases:
        result = CliRunner().invoke(
            app, ["simulate", "merge", *map(str, folders), "--out", str(out)]
        )
        assert result.exit_code == 2
        assert result.stderr == message + "\n"
        assert not out.exists()
    monkeypatch.chdir(tmp_path)  # merge's --out defaults to ./simulation, as simulate's
    _invoke("simulate", "merge", "a-2", "a-1")
    for name in ("allocation.csv", "fragmentation.csv"):
        merged = (tmp_path / "simulation" / name).read_bytes()
        assert merged == (tmp_path / "single" / name).read_bytes()
    assert _report(tmp_path / "simulation") == _report(tmp_path / "single")
