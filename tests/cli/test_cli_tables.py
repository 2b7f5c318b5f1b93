"""Tables: plain aligned columns when stdout is not a terminal (so grep and awk work), rich
tables with borders and colour on a terminal, as before."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from cli_kit import QUICKSTART, invoke

from dralloc.cli import tables
from dralloc.cli.tables import Column, TextTable

# Every character rich draws borders with, in any of its box styles.
BOX = set("─━│┃┌┐└┘├┤┬┴┼┏┓┗┛┣┫┳┻╋┡┩╇╭╮╯╰═║╔╗╚╝╠╣╦╩╬")
SMALL_SYNTHETIC = "synthetic:pods=40,nodes=2,rate=0.05,median=600"


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def _has_box(text: str) -> bool:
    return bool(BOX & set(text))


def _explain(*args: str) -> str:
    result = invoke(
        "explain", "-f", str(QUICKSTART), "--claim", "training-0", "--node", "gpu-node-1", *args
    )
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_explain_in_a_pipe_prints_plain_aligned_columns() -> None:
    assert _explain().splitlines() == [
        "claim default/training-0 on node gpu-node-1: fits (gpus: gpu-2, gpus: gpu-3)",
        "request gpus (class gpu.nvidia.com, needs 2, 3 fit)",
        "VERDICT  DETAIL                  MODEL                  DEVICES",
        "in use   by default/inference-0  NVIDIA H100 80GB HBM3  gpu-0",
        "fits                             NVIDIA H100 80GB HBM3  gpu-1",
        "fits     chosen                  NVIDIA H100 80GB HBM3  gpu-2, gpu-3",
    ]


def test_explain_all_prints_a_row_per_device() -> None:
    assert _explain("--all").splitlines() == [
        "claim default/training-0 on node gpu-node-1: fits (gpus: gpu-2, gpus: gpu-3)",
        "request gpus (class gpu.nvidia.com, needs 2, 3 fit)",
        "DEVICE                           VERDICT  DETAIL",
        "gpu.nvidia.com/gpu-node-1/gpu-0  in use   by default/inference-0",
        "gpu.nvidia.com/gpu-node-1/gpu-1  fits",
        "gpu.nvidia.com/gpu-node-1/gpu-2  fits     chosen",
        "gpu.nvidia.com/gpu-node-1/gpu-3  fits     chosen",
    ]


def test_explain_rows_split_into_fields_as_awk_would() -> None:
    text = _explain("--all")
    rows = [line.split() for line in text.splitlines() if line.startswith("gpu.nvidia")]
    assert [(row[0].rsplit("/", 1)[1], row[1]) for row in rows if row[1] == "fits"] == [
        ("gpu-1", "fits"),
        ("gpu-2", "fits"),
        ("gpu-3", "fits"),
    ]


def test_explain_on_a_terminal_draws_a_rich_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tables, "is_terminal", lambda stream=None: True)
    text = _explain("--all")
    assert _has_box(text)
    assert "┃ DEVICE" in text
    assert "│ gpu.nvidia.com/gpu-node-1/gpu-0 │ in use" in text


def test_mig_plan_text_has_no_box_characters() -> None:
    result = invoke("mig", "plan", "-m", "h100", "-p", "3g.40gb,2x2g.20gb")
    assert result.exit_code == 0
    assert not _has_box(result.stdout)


def test_simulate_summary_in_a_pipe_is_plain_columns(tmp_path: Path) -> None:
    result = invoke(
        *["simulate", "--mode", "replay", "--trace", SMALL_SYNTHETIC, "--policy", "fgd,bestfit"],
        *["--seeds", "1", "--out", str(tmp_path / "out")],
    )
    assert result.exit_code == 0, result.stderr
    assert not _has_box(result.stdout)
    lines = result.stdout.splitlines()
    assert lines[0] == SMALL_SYNTHETIC
    # The capacity's cost says what it is, and beside it the price of a unit of finished work.
    assert lines[1] == (
        "policy   wait p50  wait p95  util %  completed GPU-h  capacity USD  USD/GPU-h  pending"
    )
    assert [line.split()[0] for line in lines[2:4]] == ["fgd", "bestfit"]
    assert all(len(line.split()) == 8 for line in lines[2:4])
    assert lines[4] == (
        "median over 1 seed; waits in seconds; capacity USD: every provisioned GPU-hour at its "
        "GPU model's price (--price); USD/GPU-h: capacity USD per GPU-hour of completed work"
    )
    for line in lines[2:4]:
        usd, rate = (float(cell.replace(",", "")) for cell in line.split()[5:7])
        assert 0 < rate < usd
    # Numbers are right-aligned under their headers.
    assert len({len(line) for line in lines[1:4]}) == 1


def test_plain_lines_align_columns_and_justify_numbers_right() -> None:
    table = TextTable(
        [Column("name"), Column("count", "right"), Column("note")],
        title="things",
        caption="made up",
    )
    table.add_row("a", "1", "x")
    table.add_row("longer", "1000", "")
    assert table.plain_lines() == [
        "things",
        "name    count  note",
        "a           1  x",
        "longer   1000",
        "made up",
    ]


def test_print_to_a_pipe_is_plain_and_to_a_terminal_is_rich() -> None:
    table = TextTable([Column("DEVICE"), Column("VERDICT")], title="request gpus")
    table.add_row("gpu-0", "fits", styles={1: "green"})
    pipe = io.StringIO()
    table.print(pipe)
    assert pipe.getvalue() == "request gpus\nDEVICE  VERDICT\ngpu-0   fits\n"
    terminal = Terminal()
    table.print(terminal)
    assert _has_box(terminal.getvalue())
    assert "\x1b[32mfits" in terminal.getvalue()


def test_cells_are_text_not_rich_markup_on_a_terminal() -> None:
    table = TextTable([Column("DETAIL")])
    table.add_row("[bold]not markup[/bold]")
    terminal = Terminal()
    table.print(terminal)
    assert "[bold]not markup[/bold]" in terminal.getvalue()


def test_a_row_needs_one_cell_per_column() -> None:
    table = TextTable([Column("a"), Column("b")])
    with pytest.raises(ValueError, match="1 cells for 2 columns"):
        table.add_row("only one")


def test_simulate_summary_with_queues_shows_job_waits_and_preemptions(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = invoke(
        *["simulate", "--mode", "replay", "--trace", "synthetic-jobs:jobs=300,seed=1"],
        *["--policy", "fgd", "--seeds", "1", "--queues", "none,fair+placement", "--jobs", "1"],
        *["--out", str(out)],
    )
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].startswith("policy")
    assert "job wait p50  job wait p95" in lines[1] and "stuck  preempted  frag %" in lines[1]
    assert lines[4].startswith("median over 1 seed; job waits (arrival to every pod running)")
    # The cells are replay.csv's job waits and preemptions.
    rows = list(csv.DictReader((out / "replay.csv").read_text().splitlines()))
    for line, row in zip(lines[2:4], rows, strict=True):
        cells = line.split()
        assert cells[1] == row["queues"]
        assert [float(c.replace(",", "")) for c in cells[2:4]] == [
            round(float(row["job_wait_p50_s"])),
            round(float(row["job_wait_p95_s"])),
        ]
        assert cells[-2] == row["preemptions"]
        # The work and the fragmented share are report.html's: completed GPU-hours, and
        # the capacity's fragmented USD over its USD, rounded as the report rounds it.
        share = 100 * float(row["fragmented_cost_usd"]) / float(row["capacity_cost_usd"])
        assert cells[-1] == f"{share:.1f}"
        assert float(cells[5].replace(",", "")) == pytest.approx(
            float(row["completed_gpu_hours"]), rel=0.01
        )
    assert rows[0]["preemptions"] == "0"  # no queues, nothing to preempt
