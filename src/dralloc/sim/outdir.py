"""`--out`: a simulation's folder, written whole or not at all.

The files go to a staging folder beside the target (`.<name>.partial-<random>` in the same
parent, so the final rename stays on one file system) and replace the target only when every
file is written: an interrupted run (Ctrl-C, SIGTERM, a full disk) leaves the target as it
was and no staging folder behind. The new folder holds exactly this run's files, so the other
mode's files of an earlier run (replay.csv beside a new FGD report) do not linger.

Only a folder dralloc could have written is replaced: a target holding anything else (a file
whose name dralloc never writes, a subfolder) is refused before the first run (`check`, an
InputError naming the strangers) and checked again just before the swap; dralloc deletes only
the files it names in `OUTPUT_FILES`, one by one, never a whole tree.

A folder holds one kind of result: a campaign's CSVs and report, or one shard's raw results
(`SHARD_MANIFEST`, `SHARD_RUN`). `results` and `shard_files` say which a target holds, so the
caller refuses to replace one kind by the other (a shard is hours of work no CSV rebuilds).

    folder = OutputFolder(Path("simulation"))
    folder.check()                    # before the runs
    with folder.staging() as staging:
        write_csvs(staging, runs)     # ... every file
        folder.commit(staging)        # the swap; without it the staging folder is removed
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from dralloc.errors import InputError, Problem

__all__ = ["OUTPUT_FILES", "SHARD_MANIFEST", "SHARD_RUN", "OutputFolder"]

OUTPUT_FILES = frozenset(
    {
        "allocation.csv",
        "fragmentation.csv",
        "replay.csv",
        "timeseries.csv",
        "queues.csv",
        "report.html",
        "report.pdf",
        "report.png",
        "plotly.min.js",
    }
)
"""Every file `dralloc simulate` writes into --out, in either mode and format."""

SHARD_MANIFEST = "shard.json"
SHARD_RUN = re.compile(r"^run-(\d{5,})\.msgpack$")
"""A shard folder's files (`dralloc simulate --shard K/N`, `sim.shards`): its manifest and
one file per run, named by the run's index in the whole campaign."""


def _is_output(name: str) -> bool:
    return name in OUTPUT_FILES or name == SHARD_MANIFEST or SHARD_RUN.match(name) is not None


def _is_ours(name: str) -> bool:
    # A file of ours, or the temporary a writer left when killed mid-write (`.x.partial`).
    return _is_output(name) or (
        name.startswith(".") and name.endswith(".partial") and _is_output(name[1:-8])
    )


class OutputFolder:
    """The target folder of one `dralloc simulate` (see the module docstring)."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def strangers(self) -> list[str]:
        """The entries of the target that dralloc did not write, sorted."""
        if not self.target.is_dir():
            return []
        return sorted(
            entry.name
            for entry in self.target.iterdir()
            if not (_is_ours(entry.name) and entry.is_file() and not entry.is_symlink())
        )

    def results(self) -> list[str]:
        """The target's files of a campaign's CSVs and report (`OUTPUT_FILES`), sorted."""
        return self._named(lambda name: name in OUTPUT_FILES)

    def shard_files(self) -> list[str]:
        """The target's files of a shard (its manifest and runs), sorted."""
        return self._named(lambda name: name == SHARD_MANIFEST or bool(SHARD_RUN.match(name)))

    def _named(self, wanted: Callable[[str], bool]) -> list[str]:
        if not self.target.is_dir() or self.target.is_symlink():
            return []
        return sorted(entry.name for entry in self.target.iterdir() if wanted(entry.name))

    def check(self) -> None:
        """InputError unless the target can be written whole: absent, or a real folder holding
        only dralloc's files; its parent is made now, so a long campaign never ends unable to
        write."""
        where = f"--out {self.target}"
        if self.target.is_symlink():
            raise InputError([Problem("", where, "", "is a symbolic link; name a folder")])
        if self.target.exists() and not self.target.is_dir():
            raise InputError([Problem("", where, "", "exists and is not a folder")])
        strangers = self.strangers()
        if strangers:
            shown = ", ".join(strangers[:5]) + (", ..." if len(strangers) > 5 else "")
            message = (
                f"holds files dralloc did not write ({shown}); choose a new or empty folder, "
                "or one an earlier dralloc simulate wrote"
            )
            raise InputError([Problem("", where, "", message)])
        try:
            self.target.resolve().parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            message = f"cannot make the parent folder: {err.strerror or err}"
            raise InputError([Problem("", where, "", message)]) from err

    @contextlib.contextmanager
    def staging(self) -> Iterator[Path]:
        """A fresh folder beside the target; removed on the way out unless committed."""
        parent = self.target.resolve().parent
        staging = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.partial-", dir=parent))
        try:
            yield staging
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)

    def commit(self, staging: Path) -> Path:
        """Replace the target by `staging`. InputError (the new files kept in `staging`'s
        place, renamed to `<target>.new`) if strangers appeared in the target meanwhile."""
        target = self.target
        os.chmod(staging, 0o777 & ~_umask())  # mkdtemp's 0700 is for the staging only
        if not target.exists():
            staging.rename(target)
            return target
        strangers = self.strangers()
        if strangers:
            kept = target.with_name(f"{target.name}.new")
            staging.rename(kept)
            message = (
                f"files appeared that dralloc did not write ({', '.join(strangers[:5])}); "
                f"the new files are in {kept}"
            )
            raise InputError([Problem("", f"--out {target}", "", message)])
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=staging.parent))
        old.rmdir()
        target.rename(old)
        staging.rename(target)
        for entry in old.iterdir():
            if _is_ours(entry.name):
                entry.unlink()
        with contextlib.suppress(OSError):  # something foreign arrived: keep it, say nothing
            old.rmdir()
        return target


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
