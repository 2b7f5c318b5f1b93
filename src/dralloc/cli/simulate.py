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
  (placement-aware admission) and/or `+tas` (Kueue's topology-aware scheduling: each gang
  asks for one rack of the replay's block/rack/host layout, from the trace's `rack_hosts`,
  `block_racks` and `topology=preferred|required` keys; the admitted pods carry their
  domain's nodeSelector and the scheduler's NodeAffinity keeps them there; not with
  `--autoscaling` yet). Adds queues.csv
  (per run x ClusterQueue: jobs, waits, GPU-hours, cost, evictions, jobs admitted but stuck,
  gangs started and those that ran across racks) and columns to replay.csv (job wait
  p50/p95, Jain's index over tenants, stuck jobs, preemptions, mean fragmented GPU %, gangs
  started, cross-rack jobs).
  `--autoscaling FILE` (a `kind: Autoscaling` file, `dralloc.autoscaling`; modes `static` and
  `cluster-autoscaler`) replaces the trace's nodes with an autoscaled fleet
  (`sim.replay.autoscaled`): nodes requested, provisioned with the shapes' delays, billed per
  node-hour and removed on the virtual clock. Adds the fleet's columns to replay.csv and the
  fleet's billed USD, scale-ups and scale-downs to the table. `--autoscaling-objects FILE`
  adds CapacityBuffers, ProvisioningRequests and their templates from manifests
  (`ReplayAutoscaling.objects`).

`--shard K/N` (either mode) runs only shard K of N of the campaign (`sim.shards`: the runs whose
index in the campaign's order is K-1 modulo N) and writes to --out the shard's raw results
instead of the CSVs and report; `dralloc simulate merge DIR...` (a subcommand: `simulate` is a
group whose callback runs the campaign when no subcommand is named) reads the shard folders
back, refuses shards of other campaigns, missing or given twice, and writes the CSVs, report
and table one unsharded run would. The tables of both are `cli.simulate_tables`.

Both modes price capacity (`--price` over illustrative defaults, `sim.prices`; the cost model
is `sim.costs`) and write report.html with plotly.min.js beside it (`--format pdf|png` adds
report.pdf or report.png, printed by the machine's Chromium, `sim.export`).

Every input problem (options, traces, prices, node events, an --out folder that holds files
dralloc did not write, a missing Chromium for --format pdf|png) is reported before the first
run, one line each on stderr, exit 2.

Progress goes to stderr: on a terminal a bar naming the runs in progress and the ETA; anywhere
else (CI, a Kubernetes Job) one line per finished run with its time and the ETA
(`sim.progress`). Ctrl-C or SIGTERM stops every worker process (`sim.runner`) and leaves --out
as it was: the files are written into a staging folder and swapped in whole at the end
(`sim.outdir`), exit 130 or 143.
"""

from __future__ import annotations

import os
import re
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from dralloc.cli.commands import CONTEXT_SETTINGS, epilog
from dralloc.cli.simulate_merge import MERGE_EPILOG, MERGE_SHORT_HELP, merge_command
from dralloc.cli.simulate_output import (
    EXIT_INPUT,
    EXIT_OK,
    FORMATS,
    Output,
    fail,
    fgd_writers,
    parse_shard_option,
    print_written,
    replay_writers,
)
from dralloc.errors import InputError

if TYPE_CHECKING:
    from pathlib import Path

    from rich.console import Console
    from rich.progress import Progress, TaskID

    from dralloc.sim.campaign import ReplayRun, RunCurves, RunSpec
    from dralloc.sim.progress import CampaignClock
    from dralloc.sim.provenance import Provenance
    from dralloc.sim.runner import RunProgress
    from dralloc.sim.traces.timeline import NodeEvent

    Writer = Callable[[Path], list[Path]]

_R = TypeVar("_R", bound="RunCurves | ReplayRun")

DEFAULT_SEEDS = "42-44"  # 3 seeds, about 3 minutes with --jobs 2; the paper ran 42-51
MODES = ("fgd", "replay")
# The simulator's policies (`dralloc.sim.experiment.POLICIES`), spelled out here so that the
# help and the default need no import of the simulator; a test checks that they agree.
POLICIES = ("random", "dotprod", "clustering", "packing", "bestfit", "fgd")
_SEEDS = re.compile(r"^(\d+)(?:-(\d+))?$")


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
        "dralloc simulate --mode replay --trace synthetic-jobs --queues fair,fair+tas",
        "dralloc simulate --policy fgd,bestfit --seeds 42 --format pdf --out fgd-pdf",
        "dralloc simulate --seeds 42-51 --shard 1/4 --out shard-1   # ... 4/4, then:",
        "dralloc simulate merge shard-1 shard-2 shard-3 shard-4 --out simulation",
    ],
    {
        EXIT_OK: "every run finished and the files are written",
        EXIT_INPUT: "invalid input (options, traces, prices, --out, no Chromium)",
    },
)


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, which a container's cpuset or
    `taskset` narrows), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class Stopped(BaseException):
    """A signal asked the campaign to stop (SIGTERM; Ctrl-C is KeyboardInterrupt).

    A BaseException, as KeyboardInterrupt is: raised from a signal handler at any point, it
    must pass through library code's `except Exception` untouched to the clean-up above it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """SIGTERM raises `Stopped` in the main thread while the campaign runs, so the same
    clean-up as Ctrl-C's runs (workers stopped, staging folder removed)."""

    def stop(signum: int, frame: FrameType | None) -> None:
        del frame
        raise Stopped(signum)

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread (an embedding caller): leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def simulate_command(
    ctx: typer.Context,
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
    jobs: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            help="Runs in parallel (worker processes). Default: the usable cores "
            f"(os.sched_getaffinity, {usable_cores()} here).",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        str,
        typer.Option(
            metavar="DIR",
            help="Folder for the CSV files and the report, written whole at the end: an "
            "earlier run's files there are replaced, a folder holding other files is refused.",
        ),
    ] = "simulation",
    output_format: Annotated[
        str,
        typer.Option(
            "--format",
            metavar="FORMAT",
            help="html (report.html and plotly.min.js, opens offline), pdf or png (also "
            "report.pdf or report.png, printed by the machine's Chromium: /usr/bin/chromium "
            "or $DRALLOC_CHROMIUM; needs the playwright package, dralloc[export]).",
        ),
    ] = "html",
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
            help="USD per GPU-hour, MODEL=USD,... (a trace's model code or a catalog name), "
            "over illustrative defaults: every provisioned GPU-hour is charged (replay: used, "
            "fragmented, idle; fgd: the GPUs unallocated at 100% arrived, per hour).",
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
    autoscaling: Annotated[
        str | None,
        typer.Option(
            "--autoscaling",
            metavar="FILE",
            help="--mode replay: replace the trace's nodes with an autoscaled fleet, a kind: "
            "Autoscaling file (mode static, cluster-autoscaler or karpenter, with an optional "
            "predictor; every shape with sharing: "
            "fractional and a GPU model of the trace). Adds the fleet's columns to replay.csv.",
        ),
    ] = None,
    autoscaling_objects: Annotated[
        str | None,
        typer.Option(
            "--autoscaling-objects",
            metavar="FILE",
            help="With --autoscaling: CapacityBuffers (podTemplateRef ones), their "
            "PodTemplates and ResourceClaimTemplates, and ProvisioningRequests, from a YAML "
            "file of manifests; the buffers hold their chunks for the whole run "
            "(cluster-autoscaler and karpenter modes).",
        ),
    ] = None,
    shard: Annotated[
        str | None,
        typer.Option(
            "--shard",
            metavar="K/N",
            help="Run only shard K of N of the campaign (1 <= K <= N): the runs whose index "
            "in the campaign's order (workload, policy, queue policy, seed) is K-1 modulo N. "
            "--out then holds the shard's raw results (shard.json and run-*.msgpack) for "
            "'dralloc simulate merge', which writes the CSVs and report of the whole campaign.",
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
            "optionally with +placement (placement-aware admission) and/or +tas (Kueue's "
            "topology-aware scheduling: each gang asks for one rack of the replay's "
            "block/rack/host layout, set by the trace's rack_hosts, block_racks and "
            "topology=preferred|required keys), e.g. fair+placement+tas. Writes queues.csv.",
        ),
    ] = None,
) -> None:
    """Run trace-driven simulations through dralloc's scheduler and DRA allocator: every
    policy x seed on each workload.

    --mode fgd writes allocation.csv and fragmentation.csv, --mode replay writes replay.csv
    and timeseries.csv; both write report.html with plotly.min.js beside it (opens offline)
    and print a summary table: drawn on a terminal, plain columns in a pipe. Every input
    problem is reported before the first run. Progress goes to stderr: a bar on a terminal,
    a line per finished run with the ETA elsewhere. Ctrl-C or SIGTERM stops every worker
    and leaves --out as it was (exit 130 or 143, as a shell reports the signal).
    """
    if ctx.invoked_subcommand is not None:
        return  # `dralloc simulate merge ...`: the subcommand does the work
    import dataclasses
    from pathlib import Path

    from dralloc.sim.campaign import RunSpec
    from dralloc.sim.traces.openb import DEFAULT_WORKLOAD, expand_workloads

    if mode not in MODES:
        raise fail(f"--mode {mode}: expected fgd or replay")
    policies = [p.strip() for p in policy.split(",") if p.strip()]
    unknown = [p for p in policies if p not in POLICIES]
    if unknown or not policies:
        raise fail(
            f"--policy: unknown {', '.join(unknown) or '(none)'} (known: {', '.join(POLICIES)})"
        )
    try:
        seed_list = parse_seeds(seeds)
    except ValueError as err:
        raise fail(f"--seeds: {err}") from err
    if jobs is None:
        jobs = usable_cores()
    if jobs < 1:
        raise fail("--jobs: must be at least 1")
    if output_format not in FORMATS:
        raise fail(f"--format {output_format}: expected html, pdf or png")
    selected = parse_shard_option(shard)
    if selected is not None and output_format != "html":
        raise fail(
            f"--format {output_format}: a shard writes no report; give --format to "
            "dralloc simulate merge"
        )
    workloads = expand_workloads(trace or [DEFAULT_WORKLOAD])
    directory = Path(out)
    queue_list = [""]
    if queues is not None:
        from dralloc.sim.queue_replay import parse_queue_policies

        if mode != "replay":
            raise fail("--queues: queues apply to --mode replay only")
        try:
            queue_list = parse_queue_policies(queues)
        except ValueError as err:
            raise fail(f"--queues: {err}") from err
    specs = [
        RunSpec(workload, name, seed, trace_dir, queues=queue)
        for workload in workloads
        for name in policies
        for queue in queue_list
        for seed in seed_list
    ]
    if autoscaling is not None:
        if mode != "replay":
            raise fail("--autoscaling: an autoscaled fleet applies to --mode replay only")
        if any("+tas" in queue for queue in queue_list):
            # TAS's domains are the trace's nodes, labelled by rack at admission's start; the
            # fleet's nodes come and go with no rack, so gangs would wait for domains forever.
            raise fail("--queues: +tas cannot be combined with --autoscaling yet")
        specs = [dataclasses.replace(spec, autoscaling=autoscaling) for spec in specs]
    if autoscaling_objects is not None:
        if autoscaling is None:
            raise fail("--autoscaling-objects: needs --autoscaling (the fleet they act on)")
        objects = autoscaling_objects
        specs = [dataclasses.replace(spec, autoscaling_objects=objects) for spec in specs]
    output = Output(directory, output_format, seed_list, selected)
    if mode == "replay":
        _replay(specs, workloads, trace_dir, price, node_events, output, jobs)
    else:
        _fgd(specs, workloads, trace_dir, price, node_events, output, jobs)
    raise typer.Exit(EXIT_OK)


def _trace_files(workload: str, trace_dir: str | None, source: str) -> list[str]:
    """The files a workload is read from, for the provenance: openb's node and pod lists, or
    the loader's source (a path, or a name inside --trace-dir)."""
    from pathlib import Path

    from dralloc.sim.traces.openb import PREFIX, resolve_trace

    if workload.startswith(PREFIX):
        trace = resolve_trace(workload, trace_dir)
        return [trace.node_file, trace.pod_file]
    files = [source] if source else []
    if source and trace_dir is not None:
        files.append(str(Path(trace_dir) / source))
    return files


class _BarProgress:
    """The terminal's bar: done/total, the ETA and the runs in progress now (without the
    workload's name when there is one workload, so the line fits)."""

    def __init__(
        self, progress: Progress, task: TaskID, clock: CampaignClock, one_workload: bool
    ) -> None:
        self.progress = progress
        self.task = task
        self.clock = clock
        self.one_workload = one_workload

    def running(self, specs: Sequence[RunSpec]) -> None:
        from dralloc.sim.progress import describe

        names = [describe(spec) for spec in specs]
        if self.one_workload:
            names = [
                name.removeprefix(f"{spec.workload} ")
                for name, spec in zip(names, specs, strict=True)
            ]
        self.progress.update(self.task, now=f"running {', '.join(names)}" if names else "")

    def finished(self, spec: RunSpec, seconds: float) -> None:
        del spec, seconds
        self.clock.finish()
        self.progress.update(self.task, advance=1, eta=self.clock.eta_text())


@contextmanager
def _campaign_progress(
    console: Console, specs: Sequence[RunSpec]
) -> Iterator[RunProgress[RunSpec]]:
    """A bar on a terminal, a line per finished run anywhere else."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from dralloc.sim.progress import CampaignClock, LineProgress

    clock = CampaignClock(len(specs))
    if not console.is_terminal:
        yield LineProgress(clock, sys.stderr)
        return
    with Progress(
        TextColumn("[bold]simulate"),
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        TextColumn("{task.fields[eta]}"),
        TextColumn("{task.fields[now]}"),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("", total=len(specs), eta=clock.eta_text(), now="")
        one = len({spec.workload for spec in specs}) == 1
        yield _BarProgress(progress, task, clock, one)


def _interrupted(console: Console, total: int, done: int, signum: int) -> typer.Exit:
    name = signal.Signals(signum).name
    console.print(
        f"stopped by {name} after {done} of {total} runs: every worker stopped, nothing "
        "written (--out left as it was)",
        highlight=False,
        soft_wrap=True,
    )
    return typer.Exit(128 + signum)  # 130 for Ctrl-C, 143 for SIGTERM, as a shell reports them


@contextmanager
def _stoppable(console: Console, total: int, done: Callable[[], int]) -> Iterator[None]:
    """Ctrl-C and SIGTERM end the command with 130 or 143 and a line saying so."""
    with _stop_on_sigterm():
        try:
            yield
        except KeyboardInterrupt:
            raise _interrupted(console, total, done(), signal.SIGINT) from None
        except Stopped as stop:
            raise _interrupted(console, total, done(), stop.signum) from None


def _prices(price: str | None) -> dict[str, float]:
    from dralloc.sim.prices import DEFAULT_PRICES, parse_prices

    prices = dict(DEFAULT_PRICES)
    if price is not None:
        try:
            prices.update(parse_prices(price))
        except ValueError as err:
            raise fail(f"--price: {err}") from err
    return prices


def _check_prices(
    workload: str, codes: set[str], catalog: dict[str, str], prices: dict[str, float]
) -> None:
    from dralloc.sim.prices import missing_prices

    missing = missing_prices(codes, catalog, prices)
    if missing:
        raise fail(
            f"--price: no price for GPU model {', '.join(missing)} of {workload}: "
            f"add {','.join(f'{m}=USD' for m in missing)} (USD per GPU-hour)"
        )


def _check_price_names(price: str | None, known: set[str]) -> None:
    """A `--price` model that is neither a default price's name nor a model of the traces
    (by code or catalog name) is a typo that would price nothing: refused, naming both."""
    from dralloc.sim.prices import DEFAULT_PRICES, check_price_models, parse_prices

    if price is None:
        return
    try:
        check_price_models(parse_prices(price), {*DEFAULT_PRICES, *known})
    except ValueError as err:
        raise fail(f"--price: {err}") from err


def _fgd(
    specs: list[RunSpec],
    workloads: list[str],
    trace_dir: str | None,
    price: str | None,
    node_events: str | None,
    output: Output,
    jobs: int,
) -> None:
    from rich.console import Console

    from dralloc.cli.simulate_tables import print_fgd_table
    from dralloc.sim.campaign import run_campaign
    from dralloc.sim.traces.openb import resolve_trace
    from dralloc.sim.traces.resolve import resolve_arrival_trace

    if node_events is not None:
        raise fail("--node-events: node events apply to --mode replay only")
    prices = _prices(price)
    known: set[str] = set()
    for workload in workloads:
        if not workload.startswith("openb:"):
            raise fail(
                f"--trace {workload}: --mode fgd runs openb workloads only (openb:<variant>); "
                "dlrm and synthetic traces need --mode replay"
            )
        try:
            resolve_trace(workload, trace_dir)  # every input problem before the first run
            arrival = resolve_arrival_trace(workload, trace_dir)
        except InputError as err:
            raise fail(str(err)) from err
        codes = {node.model for node in arrival.nodes if node.model and node.gpus}
        catalog = {code: model.name for code, model in arrival.models.by_code.items()}
        _check_prices(workload, codes, catalog, prices)
        known |= codes | set(catalog.values())
        output.add_trace(workload, _trace_files(workload, trace_dir, arrival.source))
    _check_price_names(price, known)
    output.check()
    console = Console(stderr=True)
    runs, paths = _run_and_write(
        console, output, "fgd", specs, prices, run_campaign, fgd_writers, jobs
    )
    print_written(console, output, paths, lambda: print_fgd_table(runs, prices))


def _run_and_write(
    console: Console,
    output: Output,
    mode: str,
    specs: Sequence[RunSpec],
    prices: dict[str, float],
    run: Callable[..., list[_R]],
    writers: Callable[[Sequence[_R], dict[str, float], Provenance], list[Writer]],
    jobs: int,
) -> tuple[list[_R], list[Path]]:
    """Run the campaign `specs` (with --shard, only the shard's part of it) and write --out:
    the CSVs and report, or the shard's files (`sim.shards`)."""
    output.check_shard(mode, specs, prices)
    todo = output.select(specs)
    done = [0]
    with (
        _stoppable(console, len(todo), lambda: done[0]),
        _campaign_progress(console, todo) as progress,
    ):
        runs = run(todo, jobs=jobs, progress=_Counted(progress, done))
        if output.shard is None:
            paths = output.write(writers(runs, prices, output.provenance()))
        else:
            paths = output.write([output.shard_writer(mode, specs, runs, prices)])
    if output.shard is not None:
        count = output.shard.count
        console.print(
            f"shard {output.shard}: {len(runs)} of the campaign's {len(specs)} runs; "
            f"'dralloc simulate merge' of the {count} shard folders writes its files",
            highlight=False,
            soft_wrap=True,
        )
    return runs, paths


class _Counted:
    """A `RunProgress` that also counts finished runs (for the line an interruption prints)."""

    def __init__(self, inner: RunProgress[RunSpec], done: list[int]) -> None:
        self.inner = inner
        self.done = done

    def running(self, specs: Sequence[RunSpec]) -> None:
        self.inner.running(specs)

    def finished(self, spec: RunSpec, seconds: float) -> None:
        self.done[0] += 1
        self.inner.finished(spec, seconds)


def _replay(
    specs: list[RunSpec],
    workloads: list[str],
    trace_dir: str | None,
    price: str | None,
    node_events: str | None,
    output: Output,
    jobs: int,
) -> None:
    import dataclasses

    from rich.console import Console

    from dralloc.cli.simulate_tables import print_replay_tables
    from dralloc.sim.campaign import replay_autoscaling, run_replay_campaign
    from dralloc.sim.job_replay import resolve_job_replay
    from dralloc.sim.replay.autoscaled import fleet_shapes
    from dralloc.sim.traces.node_events import load_node_events, with_node_events

    prices = _prices(price)
    events: tuple[NodeEvent, ...] = ()
    if node_events is not None:
        try:
            events = load_node_events(node_events)
        except InputError as err:
            raise fail(str(err)) from err
        # The events travel in each RunSpec, so worker processes replay what was checked here.
        specs = [dataclasses.replace(spec, node_events=events) for spec in specs]
    console = Console(stderr=True)
    scaling_file = specs[0].autoscaling if specs else ""
    objects_file = specs[0].autoscaling_objects if specs else ""
    try:
        fleet = replay_autoscaling(scaling_file, objects_file)
    except InputError as err:
        raise fail(str(err)) from err
    if fleet is not None and fleet.objects is not None:
        # Requests no autoscaler of the mode serves are kept, never served: said once.
        serve = fleet.config.options.enable_provisioning_requests
        for line in fleet.objects.warnings_for(fleet.config.mode, serve_requests=serve):
            console.print(line, highlight=False, soft_wrap=True)
    notes: dict[str, tuple[str, ...]] = {}
    known: set[str] = set()
    for workload in workloads:
        try:
            # Checked against each workload's nodes: an unknown name is reported at its line.
            replayed, _, job_trace = resolve_job_replay(workload, trace_dir)
            replayed = with_node_events(replayed, events)
            replayed.check()
            output.add_trace(workload, _trace_files(workload, trace_dir, replayed.source))
            shapes = fleet_shapes(fleet.config, fleet.catalog, replayed.models) if fleet else {}
        except InputError as err:
            raise fail(str(err)) from err
        codes = {node.model for node in replayed.nodes if node.model}
        if fleet is not None:
            codes = {node.model for node in shapes.values() if node.model}
        catalog = {code: model.name for code, model in replayed.models.by_code.items()}
        _check_prices(workload, codes, catalog, prices)
        known |= codes | set(catalog.values())
        notes[workload] = replayed.notes
        if any(spec.queues for spec in specs) and (job_trace is None or not job_trace.tenants):
            raise fail(
                f"--queues: --trace {workload} has no tenants to make queues of (a job "
                "trace with tenants is needed: synthetic-jobs, itp-elasticflow, dlrm-jobs)"
            )
    _check_price_names(price, known)
    if node_events is not None:
        output.add_trace(f"--node-events {node_events}", [node_events])
    if scaling_file:
        output.add_trace(f"--autoscaling {scaling_file}", [scaling_file])
    if objects_file:
        output.add_trace(f"--autoscaling-objects {objects_file}", [objects_file])
    output.check()
    for workload, lines in notes.items():
        for line in lines:
            console.print(f"{workload}: {line}", highlight=False, soft_wrap=True)
    if node_events is not None:
        console.print(f"{node_events}: {_count_events(events)}", highlight=False, soft_wrap=True)
    runs, paths = _run_and_write(
        console, output, "replay", specs, prices, run_replay_campaign, replay_writers, jobs
    )
    print_written(console, output, paths, lambda: print_replay_tables(runs, prices))


def _count_events(events: tuple[NodeEvent, ...]) -> str:
    from dralloc.sim.traces.timeline import NodeAction

    adds = sum(1 for event in events if event.action is NodeAction.ADD)
    removes = len(events) - adds
    plural = "s" * (len(events) != 1)
    return f"{len(events):,} node event{plural} ({adds:,} add, {removes:,} remove) in every run"


# `dralloc simulate` runs a campaign itself (the group's callback, invoked without a
# subcommand, so `dralloc simulate --jobs 2` reads as it always has); `dralloc simulate merge`
# joins the shards of one.
simulate_app = typer.Typer(
    name="simulate",
    short_help=SIMULATE_SHORT_HELP,
    epilog=SIMULATE_EPILOG,
    invoke_without_command=True,
    no_args_is_help=False,
    subcommand_metavar="[merge DIR...]",
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings=CONTEXT_SETTINGS,
)
simulate_app.callback()(simulate_command)
simulate_app.command("merge", short_help=MERGE_SHORT_HELP, epilog=MERGE_EPILOG)(merge_command)
