"""`--out` is written whole: a staging folder swapped in at the end, an earlier run's files
(of either mode) replaced, a folder holding anything else refused, and nothing left behind
when the writing is interrupted."""

from __future__ import annotations

from pathlib import Path

import pytest

from dralloc.errors import InputError
from dralloc.sim.outdir import OutputFolder


def _write(folder: OutputFolder, files: dict[str, str]) -> None:
    folder.check()
    with folder.staging() as staging:
        for name, text in files.items():
            (staging / name).write_text(text)
        folder.commit(staging)


def test_a_new_folder_holds_exactly_the_files_written(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "out"
    _write(OutputFolder(target), {"report.html": "r", "allocation.csv": "a"})
    assert sorted(p.name for p in target.iterdir()) == ["allocation.csv", "report.html"]
    assert sorted(p.name for p in target.parent.iterdir()) == ["out"]  # no staging left


def test_an_earlier_runs_files_of_the_other_mode_are_gone(tmp_path: Path) -> None:
    target = tmp_path / "out"
    _write(
        OutputFolder(target),
        {"replay.csv": "old", "report.html": "old", ".report.html.partial": ""},
    )
    _write(OutputFolder(target), {"allocation.csv": "new", "report.html": "new"})
    assert sorted(p.name for p in target.iterdir()) == ["allocation.csv", "report.html"]
    assert (target / "report.html").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_folder_with_files_dralloc_did_not_write_is_refused_and_untouched(
    tmp_path: Path,
) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    (target / "report.html").write_text("old")
    with pytest.raises(InputError) as caught:
        OutputFolder(target).check()
    assert str(caught.value) == (
        f"--out {target}: holds files dralloc did not write (notes.txt); choose a new or "
        "empty folder, or one an earlier dralloc simulate wrote"
    )
    assert (target / "notes.txt").read_text() == "mine"


def test_a_file_in_place_of_the_folder_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.write_text("x")
    with pytest.raises(InputError, match="exists and is not a folder"):
        OutputFolder(target).check()


def test_an_interrupted_write_leaves_the_old_folder_and_no_staging(tmp_path: Path) -> None:
    target = tmp_path / "out"
    _write(OutputFolder(target), {"report.html": "old"})
    folder = OutputFolder(target)
    with pytest.raises(KeyboardInterrupt), folder.staging() as staging:
        (staging / "report.html").write_text("half")
        raise KeyboardInterrupt
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert (target / "report.html").read_text() == "old"


def test_a_stranger_arriving_during_the_runs_keeps_the_new_files_aside(tmp_path: Path) -> None:
    target = tmp_path / "out"
    folder = OutputFolder(target)
    folder.check()
    with folder.staging() as staging:
        (staging / "report.html").write_text("new")
        target.mkdir()
        (target / "notes.txt").write_text("mine")
        with pytest.raises(InputError, match=r"files appeared that dralloc did not write"):
            folder.commit(staging)
    assert (target / "notes.txt").read_text() == "mine"
    assert (tmp_path / "out.new" / "report.html").read_text() == "new"


def test_a_shards_files_are_dralloc_s_and_a_rerun_replaces_them(tmp_path: Path) -> None:
    target = tmp_path / "shard-1"
    shard = {"shard.json": "{}", "run-00000.msgpack": "", "run-00004.msgpack": ""}
    _write(OutputFolder(target), {**shard, ".run-00004.msgpack.partial": ""})
    _write(OutputFolder(target), {"shard.json": "{}", "run-00002.msgpack": ""})
    assert sorted(p.name for p in target.iterdir()) == ["run-00002.msgpack", "shard.json"]
    (target / "run-7.msgpack").write_text("")  # not a name dralloc writes
    with pytest.raises(InputError, match=r"holds files dralloc did not write \(run-7.msgpack\)"):
        OutputFolder(target).check()
