"""`dralloc simulate`: the FGD experiment through dralloc's scheduler, with a progress bar, a
summary table and the curves as CSV.

First version: `--mode fgd` (arrival-only) on openb workloads, with allocation.csv,
fragmentation.csv and report.html. Replay mode comes next (NOTES.md).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from dralloc.errors import InputError
from dralloc.sim.campaign import RunCurves, RunSpec, run_campaign, summarize, write_csvs
from dralloc.sim.experiment import POLICIES
from dralloc.sim.openb import resolve_trace
from dralloc.sim.report import REPORT_FILE, write_report

EXIT_OK = 0
EXIT_INPUT = 2
DEFAULT_SEEDS = "42-51"
_SEEDS = re.compile(r"^(\d+)(?:-(\d+))?$")


def _fail(message: str) -> typer.Exit:
    sys.stderr.write(message + "\n")
    return typer.Exit(EXIT_INPUT)


def parse_seeds(text: str) -> list[int]:
    """`42-51`, `7` or `1,5,9` (ranges inclusive)."""
    seeds: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = _SEEDS.match(part)
        if match is None:
            raise ValueError(f"{part!r} is not a seed or a range such as 42-51")
        low = int(match.group(1))
        high = int(match.group(2) or low)
        if high < low:
            raise ValueError(f"{part!r}: the range runs backwards")
        seeds.extend(range(low, high + 1))
    if not seeds:
        raise ValueError("no seeds given")
    return seeds


def simulate_command(
    trace: Annotated[
        list[str] | None,
        typer.Option(
            "--trace",
            help="Workload (repeatable), e.g. openb:default (packaged), openb:gpushare40 "
            "(needs --trace-dir).",
        ),
    ] = None,
    policy: Annotated[
        str,
        typer.Option(help=f"Comma-separated policies: {', '.join(POLICIES)}."),
    ] = ",".join(POLICIES),
    seeds: Annotated[str, typer.Option(help="Seeds: 42-51, 7 or 1,5,9.")] = DEFAULT_SEEDS,
    mode: Annotated[str, typer.Option(help="fgd (arrival-only experiment).")] = "fgd",
    jobs: Annotated[int, typer.Option(help="Runs in parallel (processes).")] = 1,
    out: Annotated[str, typer.Option(help="Directory for the CSV files.")] = "simulation",
    trace_dir: Annotated[
        str | None, typer.Option(help="A copy of the openb trace, for workloads not packaged.")
    ] = None,
) -> None:
    """Run the FGD fragmentation experiment: every policy x seed on each workload, through
    dralloc's scheduler and DRA allocator; write allocation.csv, fragmentation.csv and
    report.html (self-contained, opens offline)."""
    if mode != "fgd":
        raise _fail(f"--mode {mode}: only fgd (arrival-only) is available so far")
    policies = [p.strip() for p in policy.split(",") if p.strip()]
    unknown = [p for p in policies if p not in POLICIES]
    if unknown or not policies:
        raise _fail(
            f"--policy: unknown {', '.join(unknown) or '(none)'} (known: {', '.join(POLICIES)})"
        )
    try:
        seed_list = parse_seeds(seeds)
    except ValueError as err:
        raise _fail(f"--seeds: {err}") from err
    if jobs < 1:
        raise _fail("--jobs: must be at least 1")
    workloads = trace or ["openb:default"]
    for workload in workloads:
        try:
            resolve_trace(workload, trace_dir)  # every input problem before the first run
        except InputError as err:
            raise _fail(str(err)) from err
    specs = [
        RunSpec(workload, name, seed, trace_dir)
        for workload in workloads
        for name in policies
        for seed in seed_list
    ]
    console = Console(stderr=True)
    with Progress(
        TextColumn("[bold]simulate"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("runs", total=len(specs))

        def done(run: RunCurves) -> None:
            progress.update(
                task,
                advance=1,
                description=f"{run.spec.workload} {run.spec.policy} seed {run.spec.seed}",
            )

        runs = run_campaign(specs, jobs=jobs, on_done=done)
    paths = write_csvs(Path(out), runs)
    paths.append(write_report(Path(out) / REPORT_FILE, runs))
    table = Table(title="At 100% of GPU capacity arrived (median over seeds)")
    for column in ("workload", "policy", "runs", "unallocated GPU %", "fragmentation %", "placed"):
        table.add_column(column, justify="left" if column in ("workload", "policy") else "right")
    for row in summarize(runs):
        table.add_row(
            row.workload,
            row.policy,
            str(row.runs),
            "-" if row.unallocated_at_100 is None else f"{row.unallocated_at_100:.1f}",
            "-" if row.fragmentation_at_100 is None else f"{row.fragmentation_at_100:.1f}",
            f"{100 * row.scheduled_share:.1f}%",
        )
    Console().print(table)
    for path in paths:
        console.print(f"wrote {path}")
    raise typer.Exit(EXIT_OK)
