"""Where `dralloc simulate` and `dralloc simulate merge` put their files: the --out folder
written whole (`sim.outdir`), the format (with the export to PDF or PNG), the provenance
gathered while the inputs are checked, and with `--shard K/N` the shard's raw results
(`sim.shards`) instead of the CSVs and report. Also the writers of one campaign's files, which
a run and a merge share, and the one-line refusal (exit 2) both use.

Light at import (typer only), as `cli.simulate` is: the simulator is imported when used.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import typer

from dralloc.errors import InputError, Problem

if TYPE_CHECKING:
    from pathlib import Path

    from rich.console import Console

    from dralloc.sim.campaign import ReplayRun, RunCurves, RunSpec
    from dralloc.sim.provenance import Provenance, TraceSource
    from dralloc.sim.shards import Shard, ShardManifest

    Writer = Callable[[Path], list[Path]]

__all__ = [
    "EXIT_INPUT",
    "EXIT_OK",
    "FORMATS",
    "Output",
    "fail",
    "fgd_writers",
    "parse_shard_option",
    "print_written",
    "refuse_inputs_as_out",
    "replay_writers",
    "write_failed",
]

EXIT_OK = 0
EXIT_INPUT = 2
FORMATS = ("html", "pdf", "png")


def fail(message: str) -> typer.Exit:
    sys.stderr.write(message + "\n")
    return typer.Exit(EXIT_INPUT)


def parse_shard_option(text: str | None) -> Shard | None:
    if text is None:
        return None
    from dralloc.sim.shards import parse_shard

    try:
        return parse_shard(text)
    except ValueError as err:
        raise fail(f"--shard: {err}") from err


class Output:
    """Where and how the files go: the --out folder (written whole), the format, the
    provenance gathered while the inputs are checked, and with --shard the shard whose raw
    results go there instead of the CSVs and report."""

    def __init__(
        self,
        directory: Path,
        output_format: str,
        seeds: Sequence[int],
        shard: Shard | None = None,
    ) -> None:
        from dralloc.sim.outdir import OutputFolder

        self.directory = directory
        self.folder = OutputFolder(directory)
        self.format = output_format
        self.seeds = tuple(seeds)
        self.traces: list[TraceSource] = []
        self.chromium = ""
        self.shard = shard

    def select(self, specs: Sequence[RunSpec]) -> list[RunSpec]:
        """The runs this command runs: the shard's part of the campaign, or all of it."""
        return list(specs) if self.shard is None else self.shard.select(specs)

    def shard_writer(
        self,
        mode: str,
        specs: Sequence[RunSpec],
        runs: Sequence[RunCurves | ReplayRun],
        prices: dict[str, float],
    ) -> Writer:
        """The writer of the shard's folder: its runs and the manifest naming the campaign."""
        from dralloc.sim.shards import write_shard

        manifest = self.manifest(mode, specs, prices)
        return lambda staging: write_shard(staging, manifest, runs)

    def manifest(
        self, mode: str, specs: Sequence[RunSpec], prices: dict[str, float]
    ) -> ShardManifest:
        """The shard's manifest: which part of which campaign it holds."""
        from datetime import UTC, datetime

        from dralloc.sim.shards import ShardManifest, campaign_digest

        assert self.shard is not None
        version = self.provenance().version
        return ShardManifest(
            campaign=campaign_digest(mode, specs, prices, self.traces, version),
            mode=mode,
            version=version,
            shard=self.shard.index,
            shards=self.shard.count,
            runs=tuple(self.shard.indices(len(specs))),
            specs=tuple(specs),
            prices=dict(prices),
            traces=tuple(self.traces),
            seeds=self.seeds,
            command=campaign_command(sys.argv[1:]),
            created=datetime.now(UTC).isoformat(timespec="seconds"),
        )

    def check(self) -> None:
        """Every problem with the output before the first run (exit 2)."""
        try:
            self.folder.check()
            self._check_kind()
            if self.format != "html":
                from dralloc.sim.export import find_chromium

                self.chromium = find_chromium()
        except InputError as err:
            raise fail(str(err)) from err

    def _check_kind(self) -> None:
        # A folder holds a campaign's CSVs or one shard: neither replaces the other, since a
        # shard is hours of runs its folder alone holds (the CSVs are rebuilt by a merge).
        where = f"--out {self.directory}"
        if self.shard is None and self.folder.shard_files():
            message = (
                f"holds {_shard_named(self.directory)}; writing the campaign's files here "
                "would replace it: choose another folder"
            )
            raise InputError([Problem("", where, "", message)])
        results = self.folder.results()
        if self.shard is not None and results:
            shown = ", ".join(results[:3]) + (", ..." if len(results) > 3 else "")
            message = (
                f"holds a campaign's files ({shown}); --shard {self.shard} writes a folder "
                "of its own: choose a new or empty one"
            )
            raise InputError([Problem("", where, "", message)])

    def check_shard(self, mode: str, specs: Sequence[RunSpec], prices: dict[str, float]) -> None:
        """With --shard K/N, refuse (exit 2) a --out holding another shard: another campaign's
        or another K/N. The same shard of the same campaign is run again in place (a Job's
        retry)."""
        from dralloc.sim.outdir import SHARD_MANIFEST
        from dralloc.sim.shards import read_manifest

        if self.shard is None or not (self.directory / SHARD_MANIFEST).is_file():
            return
        try:
            found = read_manifest(self.directory)
        except InputError as err:
            raise fail(str(err)) from err
        ours = self.manifest(mode, specs, prices)
        if (found.campaign, found.shard, found.shards) == (ours.campaign, ours.shard, ours.shards):
            return
        what = "another campaign's" if found.campaign != ours.campaign else "another"
        raise fail(
            f"--out {self.directory}: holds {what} shard, {found.shard}/{found.shards} of "
            f"campaign {found.campaign[:12]}; --shard {self.shard} of campaign "
            f"{ours.campaign[:12]} would replace it: choose another folder"
        )

    def add_trace(self, workload: str, files: Sequence[str]) -> None:
        from dralloc.sim.provenance import trace_source

        self.traces.append(trace_source(workload, files))

    def write(self, writers: Sequence[Callable[[Path], list[Path]]]) -> list[Path]:
        """Every writer into a staging folder, the export, then the swap; the final paths."""
        from dralloc.sim.export import export
        from dralloc.sim.pages import REPORT_FILE

        try:
            with self.folder.staging() as staging:
                names = [path.name for writer in writers for path in writer(staging)]
                if self.format != "html":
                    report = staging / REPORT_FILE
                    target = staging / f"report.{self.format}"
                    names.append(export(report, target, self.format, self.chromium).name)
                self.folder.commit(staging)
        except InputError as err:
            raise fail(str(err)) from err
        except OSError as err:
            raise write_failed(self.directory, err) from err
        return [self.directory / name for name in names]

    def provenance(self) -> Provenance:
        from dralloc.sim.provenance import Provenance

        return Provenance.now(["dralloc", *sys.argv[1:]], self.traces, self.seeds)


def campaign_command(args: Sequence[str]) -> tuple[str, ...]:
    """`dralloc simulate ...` as one unsharded run of the campaign: without --shard and
    --out (each shard's own), for the merged report's provenance."""
    kept: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in ("--shard", "--out"):
            skip = True
        elif not arg.startswith(("--shard=", "--out=")):
            kept.append(arg)
    return ("dralloc", *kept)


def _shard_named(directory: Path) -> str:
    """`shard 2/4 of campaign 1a2b3c4d5e6f (shard.json)`, or the files when unreadable."""
    from dralloc.sim.outdir import OutputFolder
    from dralloc.sim.shards import MANIFEST_FILE, read_manifest

    try:
        found = read_manifest(directory)
    except InputError:
        names = OutputFolder(directory).shard_files()
        return f"a shard's files ({', '.join(names[:3])}{', ...' * (len(names) > 3)})"
    return f"shard {found.shard}/{found.shards} of campaign {found.campaign[:12]} ({MANIFEST_FILE})"


def refuse_inputs_as_out(out: Path, inputs: Sequence[Path]) -> None:
    """Exit 2 if `out` is one of `inputs` (paths resolved): a merge never writes over a
    shard it reads."""
    target = out.resolve()
    for directory in inputs:
        if directory.resolve() == target:
            raise fail(
                f"--out {out}: is the shard folder {directory} the merge reads; "
                "choose another folder"
            )


def print_written(
    console: Console, output: Output, paths: Sequence[Path], table: Callable[[], None]
) -> None:
    """The campaign's summary table (`table`; not for a shard, whose runs are a part of the
    campaign), then a line per file written."""
    if output.shard is None:
        table()
    for path in paths:
        console.print(f"wrote {path}", highlight=False, soft_wrap=True)


def write_failed(directory: Path, err: OSError) -> typer.Exit:
    return fail(f"--out {directory}: cannot write: {err.strerror or err}")


def fgd_writers(
    runs: Sequence[RunCurves], prices: dict[str, float], provenance: Provenance
) -> list[Callable[[Path], list[Path]]]:
    """What one unsharded FGD campaign (or the merge of its shards) writes."""
    from dralloc.sim.campaign import write_csvs
    from dralloc.sim.pages import REPORT_FILE
    from dralloc.sim.report import write_report

    return [
        lambda staging: write_csvs(staging, runs),
        lambda staging: write_report(
            staging / REPORT_FILE, runs, prices=prices, provenance=provenance
        ),
    ]


def replay_writers(
    runs: Sequence[ReplayRun], prices: dict[str, float], provenance: Provenance
) -> list[Callable[[Path], list[Path]]]:
    """What one unsharded replay campaign (or the merge of its shards) writes."""
    from dralloc.sim.campaign import write_replay_csvs
    from dralloc.sim.pages import REPORT_FILE
    from dralloc.sim.replay_report import write_replay_report

    return [
        lambda staging: write_replay_csvs(staging, runs, prices),
        lambda staging: write_replay_report(
            staging / REPORT_FILE, runs, prices, provenance=provenance
        ),
    ]
