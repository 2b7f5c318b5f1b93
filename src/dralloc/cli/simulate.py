"""`dralloc simulate`: trace-driven runs through dralloc's scheduler, with a progress bar, a
summary table, CSV files and report.html.

* `--mode fgd` (default): the FGD experiment (arrival-only) on openb workloads;
  allocation.csv, fragmentation.csv.
* `--mode replay`: time-based replay of `openb:<variant>`, `dlrm[:key=value,...]`,
  `synthetic[:key=value,...]` or a batch-job trace (`itp-elasticflow`, `dlrm-jobs`,
  `synthetic-jobs`: `dralloc.sim.job_replay`, gangs placed all or nothing); replay.csv,
  timeseries.csv, costs at `--price` (USD per GPU-hour per model, over illustrative defaults).
  `--node-events FILE` adds nodes joining and leaving to every run: a CSV `time,action,node`
  (`sim.traces.node_events` has the format), `time` in seconds on the trace's own clock, the
  one its pods' arrivals use (openb and dlrm: their `creation_time`; synthetic: 0 is the
  start of the generated trace).
  `--queues POLICIES` (job traces with tenants: `synthetic-jobs`, `itp-elasticflow`,
  `dlrm-jobs`) puts Kueue queues in front of the scheduler (`dralloc.sim.queue_replay`): a
  ClusterQueue per tenant in one cohort, a Workload per job, admission cycles on the virtual
  clock. Each queue policy is one run per scheduler policy and seed: `none` (no queues, every
  pod straight to the scheduler, the baseline), `strictfifo`, `besteffortfifo`, `fair`
  (BestEffortFIFO with fair sharing), each of the last three with `+placement`
  (placement-aware admission). Adds queues.csv (per run x ClusterQueue: jobs, waits,
  GPU-hours, cost, evictions, jobs admitted but stuck) and columns to replay.csv (job wait
  p50/p95, Jain's index over tenants, stuck jobs, preemptions, mean fragmented GPU %).

Every input problem (options, traces, prices, node events, an output directory that cannot
be made) is reported before the first run, one line each on stderr, exit 2.
"""

from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from dralloc.cli.commands import epilog
from dralloc.errors import InputError

if TYPE_CHECKING:
    from pathlib import Path

    from rich.console import Console
    from rich.progress import Progress

    from dralloc.sim.campaign import RunSpec
    from dralloc.sim.traces.timeline import NodeEvent

EXIT_OK = 0
EXIT_INPUT = 2
DEFAULT_SEEDS = "42-44"  # 3 seeds, about 3 minutes with --jobs 2; the paper ran 42-51
MODES = ("fgd", "replay")
# The simulator's policies (`dralloc.sim.experiment.POLICIES`), spelled out here so that the
# help and the default need no import of the simulator; a test checks that they agree.
POLICIES = ("random", "dotprod", "clustering", "packing", "bestfit", "fgd")
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


SIMULATE_SHORT_HELP = "Trace-driven simulations through the scheduler."
SIMULATE_EPILOG = epilog(
    [
        "dralloc simulate --policy fgd,bestfit --seeds 42 --out simulation",
        "dralloc simulate --jobs 2",
        "dralloc simulate --mode replay --trace synthetic --policy fgd,bestfit",
        "dralloc simulate --mode replay --trace dlrm --trace-dir ../traces --jobs 2",
        "dralloc simulate --mode replay --trace synthetic-jobs --queues none,fair",
    ],
    {
        EXIT_OK: "every run finished and the files are written",
        EXIT_INPUT: "invalid input (options, traces, prices, --out), found before any run",
    },
)


def simulate_command(
    trace: Annotated[
        list[str] | None,
        typer.Option(
            "--trace",
            metavar="TRACE",
            help="Workload (repeatable): openb:default (packaged), openb:gpushare40 (needs "
            "--trace-dir), openb:paper (the paper's 17 workloads, needs --trace-dir); for "
            "--mode replay also dlrm[:key=value,...] (needs --trace-dir), "
            "synthetic[:key=value,...] and the batch-job traces itp-elasticflow, dlrm-jobs "
            "(need --trace-dir) and synthetic-jobs, whose multi-worker jobs are gangs placed "
            "all or nothing (keys nodes, node_gpus, node_model, gangs=on|off beside the "
            "trace's own). Default: openb:default.",
        ),
    ] = None,
    policy: Annotated[
        str,
        typer.Option(metavar="POLICIES", help=f"Comma-separated policies: {', '.join(POLICIES)}."),
    ] = ",".join(POLICIES),
    seeds: Annotated[
        str,
        typer.Option(metavar="SEEDS", help="Seeds: 42-51 (the paper's full campaign), 7 or 1,5,9."),
    ] = DEFAULT_SEEDS,
    mode: Annotated[
        str,
        typer.Option(
            metavar="MODE",
            help="fgd (the arrival-only FGD experiment) or replay (arrivals and departures "
            "at the trace's times).",
        ),
    ] = "fgd",
    jobs: Annotated[int, typer.Option(metavar="N", help="Runs in parallel (processes).")] = 1,
    out: Annotated[
        str, typer.Option(metavar="DIR", help="Directory for the CSV files and report.")
    ] = "simulation",
    trace_dir: Annotated[
        str | None,
        typer.Option(
            metavar="DIR",
            help="A folder holding the traces not packaged (openb variants, DLRM).",
        ),
    ] = None,
    price: Annotated[
        str | None,
        typer.Option(
            metavar="MODEL=USD,...",
            help="--mode replay: USD per GPU-hour, MODEL=USD,... (a trace's model code or a "
            "catalog name), over illustrative defaults.",
        ),
    ] = None,
    node_events: Annotated[
        str | None,
        typer.Option(
            "--node-events",
            metavar="FILE",
            help="--mode replay: nodes joining and leaving, in every run. A CSV file with the "
            "header time,action,node: time in seconds (≥ 0) on the trace's clock, the one "
            "its pods arrive on (openb, dlrm: their creation_time; synthetic: 0 is the start "
            "of the generated trace); action add or remove (any case); node a node of the "
            "replayed cluster. A node whose first event is add is absent until then; a node "
            "removed evicts its pods.",
        ),
    ] = None,
    queues: Annotated[
        str | None,
        typer.Option(
            "--queues",
            metavar="POLICIES",
            help="--mode replay of a job trace with tenants: Kueue queues in front of the "
            "scheduler, one run per comma-separated queue policy: none (no queues, the "
            "baseline), strictfifo, besteffortfifo, fair (fair sharing), each but none "
            "optionally +placement (placement-aware admission). Writes queues.csv.",
        ),
    ] = None,
) -> None:
    """Run trace-driven simulations through dralloc's scheduler and DRA allocator: every
    policy x seed on each workload.

    --mode fgd writes allocation.csv and fragmentation.csv, --mode replay writes replay.csv
    and timeseries.csv; both write report.html (self-contained, opens offline) and print a
    summary table: drawn on a terminal, plain columns in a pipe. Every input problem is
    reported before the first run.
    """
    from pathlib import Path

    from dralloc.sim.campaign import RunSpec
    from dralloc.sim.traces.openb import DEFAULT_WORKLOAD, expand_workloads

    if mode not in MODES:
        raise _fail(f"--mode {mode}: expected fgd or replay")
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
    workloads = expand_workloads(trace or [DEFAULT_WORKLOAD])
    directory = Path(out)
    queue_list = [""]
    if queues is not None:
        from dralloc.sim.queue_replay import parse_queue_policies

        if mode != "replay":
            raise _fail("--queues: queues apply to --mode replay only")
        try:
            queue_list = parse_queue_policies(queues)
        except ValueError as err:
            raise _fail(f"--queues: {err}") from err
    specs = [
        RunSpec(workload, name, seed, trace_dir, queues=queue)
        for workload in workloads
        for name in policies
        for queue in queue_list
        for seed in seed_list
    ]
    if mode == "replay":
        _replay(specs, workloads, trace_dir, price, node_events, directory, jobs)
    else:
        _fgd(specs, workloads, trace_dir, price, node_events, directory, jobs)
    raise typer.Exit(EXIT_OK)


def _check_out(directory: Path) -> None:
    """Make the output directory now, so a long campaign never ends unable to write."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _fail(f"--out {directory}: cannot make the directory: {err.strerror}") from err
    if not directory.is_dir():
        raise _fail(f"--out {directory}: not a directory")


def _progress(console: Console) -> Progress:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        TextColumn("[bold]simulate"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _describe(spec: RunSpec) -> str:
    queues = f" queues {spec.queues}" if spec.queues else ""
    return f"{spec.workload} {spec.policy}{queues} seed {spec.seed}"


def _write_failed(directory: Path, err: OSError) -> typer.Exit:
    return _fail(f"--out {directory}: cannot write: {err.strerror or err}")


def _fgd(
    specs: list[RunSpec],
    workloads: list[str],
    trace_dir: str | None,
    price: str | None,
    node_events: str | None,
    directory: Path,
    jobs: int,
) -> None:
    from rich.console import Console

    from dralloc.cli.tables import Column, TextTable
    from dralloc.sim.campaign import RunCurves, run_campaign, summarize, write_csvs
    from dralloc.sim.report import REPORT_FILE, write_report
    from dralloc.sim.traces.openb import resolve_trace

    if price is not None:
        raise _fail("--price: prices apply to --mode replay only")
    if node_events is not None:
        raise _fail("--node-events: node events apply to --mode replay only")
    for workload in workloads:
        if not workload.startswith("openb:"):
            raise _fail(
                f"--trace {workload}: --mode fgd runs openb workloads only (openb:<variant>); "
                "dlrm and synthetic traces need --mode replay"
            )
        try:
            resolve_trace(workload, trace_dir)  # every input problem before the first run
        except InputError as err:
            raise _fail(str(err)) from err
    _check_out(directory)
    console = Console(stderr=True)
    with _progress(console) as progress:
        task = progress.add_task("runs", total=len(specs))

        def done(run: RunCurves) -> None:
            progress.update(task, advance=1, description=_describe(run.spec))

        runs = run_campaign(specs, jobs=jobs, on_done=done)
    try:
        paths = write_csvs(directory, runs)
        paths.append(write_report(directory / REPORT_FILE, runs))
    except OSError as err:
        raise _write_failed(directory, err) from err
    headers = ("workload", "policy", "runs", "unallocated GPU %", "fragmentation %", "placed")
    table = TextTable(
        [Column(h, "left" if h in ("workload", "policy") else "right") for h in headers],
        title="At 100% of GPU capacity arrived (median over seeds)",
    )
    for row in summarize(runs):
        table.add_row(
            row.workload,
            row.policy,
            str(row.runs),
            "-" if row.unallocated_at_100 is None else f"{row.unallocated_at_100:.1f}",
            "-" if row.fragmentation_at_100 is None else f"{row.fragmentation_at_100:.1f}",
            f"{100 * row.scheduled_share:.1f}%",
        )
    table.print(highlight=True)
    for path in paths:
        console.print(f"wrote {path}")


def _replay(
    specs: list[RunSpec],
    workloads: list[str],
    trace_dir: str | None,
    price: str | None,
    node_events: str | None,
    directory: Path,
    jobs: int,
) -> None:
    import dataclasses

    from rich.console import Console

    from dralloc.cli.tables import Column, TextTable
    from dralloc.sim.campaign import (
        ReplayRun,
        run_replay_campaign,
        summarize_replays,
        write_replay_csvs,
    )
    from dralloc.sim.job_replay import resolve_job_replay
    from dralloc.sim.prices import DEFAULT_PRICES, missing_prices, parse_prices
    from dralloc.sim.report import REPORT_FILE, write_replay_report
    from dralloc.sim.traces.node_events import load_node_events, with_node_events

    prices = dict(DEFAULT_PRICES)
    if price is not None:
        try:
            prices.update(parse_prices(price))
        except ValueError as err:
            raise _fail(f"--price: {err}") from err
    events: tuple[NodeEvent, ...] = ()
    if node_events is not None:
        try:
            events = load_node_events(node_events)
        except InputError as err:
            raise _fail(str(err)) from err
        # The events travel in each RunSpec, so worker processes replay what was checked here.
        specs = [dataclasses.replace(spec, node_events=events) for spec in specs]
    console = Console(stderr=True)
    notes: dict[str, tuple[str, ...]] = {}
    for workload in workloads:
        try:
            # Checked against each workload's nodes: an unknown name is reported at its line.
            replayed, _, job_trace = resolve_job_replay(workload, trace_dir)
            replayed = with_node_events(replayed, events)
            replayed.check()
        except InputError as err:
            raise _fail(str(err)) from err
        codes = {node.model for node in replayed.nodes if node.model}
        catalog = {code: model.name for code, model in replayed.models.by_code.items()}
        missing = missing_prices(codes, catalog, prices)
        if missing:
            raise _fail(
                f"--price: no price for GPU model {', '.join(missing)} of {workload}: "
                f"add {','.join(f'{m}=USD' for m in missing)} (USD per GPU-hour)"
            )
        notes[workload] = replayed.notes
        if any(spec.queues for spec in specs) and (job_trace is None or not job_trace.tenants):
            raise _fail(
                f"--queues: --trace {workload} has no tenants to make queues of (a job "
                "trace with tenants is needed: synthetic-jobs, itp-elasticflow, dlrm-jobs)"
            )
    _check_out(directory)
    for workload, lines in notes.items():
        for line in lines:
            console.print(f"{workload}: {line}", highlight=False, soft_wrap=True)
    if node_events is not None:
        console.print(f"{node_events}: {_count_events(events)}", highlight=False, soft_wrap=True)
    with _progress(console) as progress:
        task = progress.add_task("runs", total=len(specs))

        def done(run: ReplayRun) -> None:
            progress.update(task, advance=1, description=_describe(run.spec))

        runs = run_replay_campaign(specs, jobs=jobs, on_done=done)
    try:
        paths = write_replay_csvs(directory, runs, prices)
        paths.append(write_replay_report(directory / REPORT_FILE, runs, prices))
    except OSError as err:
        raise _write_failed(directory, err) from err
    rows = summarize_replays(runs, prices)
    for workload in dict.fromkeys(row.workload for row in rows):
        group = [row for row in rows if row.workload == workload]
        seeds = group[0].runs
        queued = any(row.queues for row in group)
        headers = (
            "policy",
            *(("queues",) if queued else ()),
            "wait p50",
            "wait p95",
            "util %",
            "GPU-h",
            "USD",
            "pending",
            *(("Jain", "stuck", "frag %") if queued else ()),
        )
        table = TextTable(
            [Column(h, "left" if h == "policy" else "right") for h in headers],
            title=workload,
            caption=f"median over {seeds} seed{'s' * (seeds != 1)}; waits in seconds",
        )
        for row in group:
            table.add_row(
                row.policy,
                *((row.queues,) if queued else ()),
                "-" if row.wait_p50 is None else _compact(row.wait_p50),
                "-" if row.wait_p95 is None else _compact(row.wait_p95),
                f"{100 * row.mean_utilization:.1f}",
                _compact(row.gpu_hours),
                _compact(row.cost),
                f"{row.pending:g}",
                *(
                    (
                        "-" if row.jain is None else f"{row.jain:.3f}",
                        f"{row.stuck:g}",
                        f"{100 * row.mean_fragmentation:.1f}",
                    )
                    if queued
                    else ()
                ),
            )
        table.print(highlight=True)
    for path in paths:
        console.print(f"wrote {path}")


def _count_events(events: tuple[NodeEvent, ...]) -> str:
    from dralloc.sim.traces.timeline import NodeAction

    adds = sum(1 for event in events if event.action is NodeAction.ADD)
    removes = len(events) - adds
    plural = "s" * (len(events) != 1)
    return f"{len(events):,} node event{plural} ({adds:,} add, {removes:,} remove) in every run"


def _compact(value: float) -> str:
    """A number for a narrow table cell: 950, 12.3k, 2.38M (the CSV has every digit)."""
    if abs(value) >= 1e9:
        return f"{value / 1e9:.2f}G"
    if abs(value) >= 1e6:
        return f"{value / 1e6:.2f}M"
    if abs(value) >= 1e4:
        return f"{value / 1e3:.1f}k"
    return f"{value:,.0f}"
