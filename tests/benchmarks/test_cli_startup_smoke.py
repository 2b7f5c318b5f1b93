"""Every CLI start-up benchmark case runs its command successfully (not timing)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import cli_startup as bench


@pytest.mark.parametrize("case", sorted(bench.CASES))
def test_benchmark_case_runs_its_command(case: str) -> None:
    figures = bench.measure(case, 1)
    assert figures["case"] == case
    assert figures["runs"] == 1
    assert figures["median_s"] == figures["min_s"] == figures["max_s"]


def test_a_failing_command_is_reported_not_timed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(bench.CASES, "broken", (["allocate", "-f", "no-such-file.yaml"], 0.6))
    with pytest.raises(RuntimeError, match="exited 2"):
        bench.measure("broken", 1)


def test_json_output_has_the_contract_fields(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--json", "--runs", "1", "--case", "help", "--case", "python_startup"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["case"] for line in lines] == ["help", "python_startup"]
    assert set(lines[0]) == {
        "case",
        "command",
        "runs",
        "bytecode",
        "median_s",
        "min_s",
        "max_s",
        "target_s",
        "met",
    }
    assert lines[0]["command"] == "dralloc --help"
    assert lines[0]["target_s"] == 0.3
    assert lines[1]["target_s"] is None and lines[1]["met"] is None


def test_the_table_names_every_case(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--runs", "1", "--no-bytecode", "--case", "allocate_help"]) == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header.split()[:4] == ["case", "median", "min", "max"]
    assert row.startswith("allocate_help") and row.endswith("dralloc allocate --help")
