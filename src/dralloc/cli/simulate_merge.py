"""`dralloc simulate merge DIR...`: the folders a sharded campaign's `dralloc simulate --shard
K/N` runs wrote, read back (`sim.shards`: refused, naming the folder, unless they make one
whole campaign) and written as the CSVs, report and table of one unsharded run.

Light at import (typer only), as `cli.simulate` is.
"""

from __future__ import annotations

from typing import Annotated

import typer

from dralloc.cli.commands import epilog
from dralloc.cli.simulate_output import (
    EXIT_INPUT,
    EXIT_OK,
    FORMATS,
    Output,
    fail,
    fgd_writers,
    print_written,
    refuse_inputs_as_out,
    replay_writers,
)
from dralloc.errors import InputError

__all__ = ["MERGE_EPILOG", "MERGE_SHORT_HELP", "merge_command"]

MERGE_SHORT_HELP = "Merge the folders of a sharded campaign into its CSVs and report."
MERGE_EPILOG = epilog(
    [
        "dralloc simulate merge shard-1 shard-2 shard-3 shard-4 --out simulation",
        "dralloc simulate merge /results/shard-* -o simulation --format pdf",
    ],
    {
        EXIT_OK: "the shards make one campaign and the files are written",
        EXIT_INPUT: "invalid input (not a shard, another campaign's, missing, twice, --out)",
    },
)


def merge_command(
    directories: Annotated[
        list[str],
        typer.Argument(metavar="DIR", help="The shard folders (--out of each --shard K/N)."),
    ],
    out: Annotated[
        str,
        typer.Option(
            "-o",
            "--out",
            metavar="DIR",
            help="Folder for the CSV files and the report, written whole, as dralloc "
            "simulate's --out.",
        ),
    ] = "simulation",
    output_format: Annotated[
        str,
        typer.Option("--format", metavar="FORMAT", help="html, pdf or png, as dralloc simulate's."),
    ] = "html",
) -> None:
    """Read the folders that `dralloc simulate --shard K/N` wrote, one per shard, and write the
    CSV files and report.html of the whole campaign, the same as one unsharded run would
    (report.html's provenance names the unsharded command), and print its summary table.

    Refused, naming the folder (exit 2): a folder that is not a finished shard, shards of
    different campaigns (mode, runs, prices, trace files or dralloc version differ), a shard
    given twice and a shard missing; an --out that is one of the shard folders or holds a
    shard.
    """
    from datetime import UTC, datetime
    from pathlib import Path

    from rich.console import Console

    from dralloc.cli.simulate_tables import print_fgd_table, print_replay_tables
    from dralloc.sim.campaign import ReplayRun, RunCurves
    from dralloc.sim.provenance import Provenance
    from dralloc.sim.shards import merge_shards

    if output_format not in FORMATS:
        raise fail(f"--format {output_format}: expected html, pdf or png")
    inputs = [Path(directory) for directory in directories]
    refuse_inputs_as_out(Path(out), inputs)
    try:
        merged = merge_shards(inputs)
    except InputError as err:
        raise fail(str(err)) from err
    output = Output(Path(out), output_format, merged.seeds)
    output.traces = list(merged.traces)
    output.check()
    provenance = Provenance(
        datetime.now(UTC), merged.version, merged.command, merged.traces, merged.seeds
    )
    console = Console(stderr=True)
    prices = merged.prices
    if merged.mode == "fgd":
        curves = [run for run in merged.runs if isinstance(run, RunCurves)]
        paths = output.write(fgd_writers(curves, prices, provenance))
        print_written(console, output, paths, lambda: print_fgd_table(curves, prices))
    else:
        replays = [run for run in merged.runs if isinstance(run, ReplayRun)]
        paths = output.write(replay_writers(replays, prices, provenance))
        print_written(console, output, paths, lambda: print_replay_tables(replays, prices))
    raise typer.Exit(EXIT_OK)
