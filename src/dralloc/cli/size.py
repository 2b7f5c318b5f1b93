"""`dralloc size`: which GPU nodes, how many, at what cost, for a trace and a p95 wait.

Parses options, loads the trace and the `kind: Autoscaling` file, runs the search of
`dralloc.sim.sizing` (each step one seeded replay, a progress line per replay on stderr) and
prints the answer first, then a table of every static fleet replayed (or one JSON object with
`--format json`). A `cluster-autoscaler` or `karpenter` file is also replayed as its mode
(`dralloc.sim.frontier`: cluster-autoscaler's `max` swept, and the file's predictor at each
q of §9.3), a table per scaler after the static one. The run budget counts every replay:
one per autoscaled configuration is kept out of the static search's share, and the last
line says how many replays were used. `--out DIR` writes `sizing.csv` (every static fleet),
`frontier.csv` (every point, marked on or off the cost-versus-p95-wait frontier of them all)
and `sizing.html` (the frontier chart, with `plotly.min.js`), each written whole or not at
all.

Exit codes, as `dralloc.cli.main` says: 0 a static fleet meets the target, 1 none of those
replayed does (the answer says so and which came closest), 2 invalid input (one stderr line
per problem, naming the file, object and field, or the option). Light at import: the
simulator is loaded in the command's body. Register it with
`app.command("size", ...)(size_command)`.
"""

from __future__ import annotations

import json
import math
import shlex
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dralloc.cli.commands import epilog
from dralloc.cli.simulate import POLICIES
from dralloc.errors import InputError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from dralloc.sim.frontier import FrontierPoint
    from dralloc.sim.sizing import FleetRun, SizingAnswer

__all__ = ["SIZE_EPILOG", "SIZE_SHORT_HELP", "size_command"]

# The exit codes of `dralloc.cli.main` (which imports this module, so they are not imported).
EXIT_OK = 0
EXIT_NO = 1
EXIT_INPUT = 2

SIZE_SHORT_HELP = "The cheapest GPU fleet whose p95 wait on a trace meets a target."
SIZE_EPILOG = epilog(
    [
        "dralloc size --trace synthetic:models=l4 --autoscaling l4.yaml --wait-p95 60",
        "dralloc size --trace synthetic-jobs --autoscaling fleet.yaml --out sizing",
    ],
    {
        EXIT_OK: "a fleet meets the target: the answer is the first line",
        EXIT_NO: "no fleet replayed meets it (the answer says which came closest)",
        EXIT_INPUT: "invalid input: one stderr line per problem (file, field or option)",
    },
)


class SizeFormat(StrEnum):
    table = "table"
    json = "json"


def _fail(message: str) -> typer.Exit:
    sys.stderr.write(message + "\n")
    return typer.Exit(EXIT_INPUT)


def size_command(
    trace: Annotated[
        str,
        typer.Option(
            "--trace",
            metavar="SPEC",
            help="The trace to replay, as `dralloc simulate --mode replay --trace` takes it: "
            "synthetic[:key=value,...], synthetic-jobs, dlrm, itp-elasticflow, dlrm-jobs "
            "(those need --trace-dir), openb:<variant>.",
        ),
    ],
    autoscaling: Annotated[
        str,
        typer.Option(
            "--autoscaling",
            metavar="FILE",
            help="A kind: Autoscaling file: its shapes (devices, prices) are what fleets are "
            "made of; its `sizing` section gives the shapes searched, the target "
            "(constraint.waitP95) and the run budget; a node group's max, or a karpenter "
            "file's NodePool limits, bound its shapes' counts.",
        ),
    ],
    wait_p95: Annotated[
        float | None,
        typer.Option(
            "--wait-p95",
            metavar="SECONDS",
            help="The 95th-percentile wait to meet, in seconds (default: the file's "
            "sizing.constraint.waitP95).",
        ),
    ] = None,
    policy: Annotated[
        str,
        typer.Option(metavar="POLICY", help=f"The scheduling policy: {', '.join(POLICIES)}."),
    ] = "fgd",
    seed: Annotated[
        int, typer.Option(metavar="SEED", help="The seed of every replay (ties, delays).")
    ] = 1,
    budget: Annotated[
        int | None,
        typer.Option(
            metavar="RUNS",
            help="At most this many replays in all, the autoscaled points' included "
            "(default: the file's sizing.budget, else 50).",
        ),
    ] = None,
    trace_dir: Annotated[
        str | None,
        typer.Option(
            "--trace-dir",
            metavar="DIR",
            help="A folder holding the traces not packaged (openb variants, DLRM, ITP).",
        ),
    ] = None,
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            metavar="DIR",
            help="Also write sizing.csv (every static fleet), frontier.csv (every point of "
            "every scaler, on or off the cost-versus-p95-wait frontier) and sizing.html (the "
            "frontier chart) into DIR (created if missing).",
        ),
    ] = None,
    output_format: Annotated[
        SizeFormat, typer.Option("--format", "-o", help="table (default) or json on stdout.")
    ] = SizeFormat.table,
) -> None:
    """The cheapest static fleet of the file's GPU node shapes whose pods' p95 wait, on the
    replayed trace, meets the target.

    Each step of the search (bisection of each shape's node count, a grid of shape mixes,
    then cheaper neighbours) is one seeded replay of the whole trace on that fleet, with
    dralloc's scheduler and DRA allocator; the answer's neighbours (one and two nodes fewer
    of a shape) are replayed once after it, since waits are not monotone in node counts. A
    pod that never starts waits forever. Cost is the fleet's price per hour (and per 730-hour
    month) at the shapes' node prices. A cluster-autoscaler or karpenter file is replayed as
    such too (its predictor, if any, at q 0.5, 0.8, 0.9 and 0.95 when q changes its forecast),
    beside the static fleets.
    """
    if policy not in POLICIES:
        raise _fail(f"--policy {policy}: expected one of {', '.join(POLICIES)}")
    if wait_p95 is not None and not (math.isfinite(wait_p95) and wait_p95 >= 0):
        raise _fail(f"--wait-p95 {wait_p95:g}: must be a number of seconds >= 0")
    if budget is not None and budget < 1:
        raise _fail(f"--budget {budget}: must be at least 1")
    if out is not None and Path(out).exists() and not Path(out).is_dir():
        raise _fail(f"--out {out}: exists and is not a folder")

    from dralloc.autoscaling import load_autoscaling
    from dralloc.devices import load_catalog
    from dralloc.sim.frontier import (
        autoscaled_configs,
        autoscaled_points,
        autoscaled_sentence,
        frontier_points,
        predictor_note,
    )
    from dralloc.sim.job_replay import resolve_job_replay
    from dralloc.sim.sizing import counted, size, sizing_question

    try:
        catalog = load_catalog()
        config = load_autoscaling(autoscaling, catalog=catalog)
        replayed, gangs, _ = resolve_job_replay(trace, trace_dir)
        replayed.check()
        question = sizing_question(
            replayed,
            config,
            catalog,
            wait_p95=wait_p95,
            budget=budget,
            policy=policy,
            seed=seed,
            gangs=gangs,
        )
    except InputError as err:
        raise _fail(str(err)) from err
    if config.mode != "static":
        bound = "NodePool limits" if config.mode == "karpenter" else "node groups' max"
        sys.stderr.write(
            f"{autoscaling}: mode {config.mode}: sizing a static fleet of its shapes ({bound} "
            f"bound their shapes' counts), then replaying {config.mode} beside it\n"
        )
    planned = len(autoscaled_configs(config))
    # One replay per autoscaled configuration is kept out of the static search's share, but
    # the static search keeps at least one.
    static_budget = question.budget - min(planned, question.budget - 1)
    bounds = ", ".join(f"{question.max_nodes[s]} x {s}" for s in question.shapes)
    sys.stderr.write(
        f"{trace}: {counted(len(replayed.pods), 'pod')}; searching fleets of up to {bounds} "
        f"for p95 wait <= {question.wait_p95:g} s in at most "
        f"{counted(static_budget, 'replay')} (policy {policy}, seed {seed})\n"
    )

    def progress(number: int, run: FleetRun, seconds: float) -> None:
        _progress(
            f"[{number}/{static_budget}] {_fleet(run)}",
            run.wait_p95,
            f"${run.price_per_hour:,.2f}/h",
            run.meets(question.wait_p95),
            seconds,
        )

    answer = size(question, progress, budget=static_budget)

    def autoscaled_progress(number: int, count: int, point: FrontierPoint, seconds: float) -> None:
        predicted = f", predictor {point.predictor}" if point.predictor != "none" else ""
        _progress(
            f"[{point.scaler} {number}/{count}] {point.configuration}{predicted}",
            point.wait_p95,
            f"${point.usd_per_hour:,.2f}/h (mean)",
            point.meets_target,
            seconds,
        )

    note = predictor_note(config)
    if note is not None:
        sys.stderr.write(note + "\n")
    left = question.budget - answer.replays
    autoscaled = autoscaled_points(question, progress=autoscaled_progress, limit=left)
    points = frontier_points(answer, autoscaled)
    used = _replays_used(answer, len(autoscaled), planned)
    # Every value resolved (the file's target and budget included), so the line replays the
    # same search even after the file's sizing section changes.
    again = ["dralloc", "size", "--trace", trace, "--autoscaling", autoscaling]
    again += [*(("--trace-dir", trace_dir) if trace_dir is not None else ())]
    again += ["--wait-p95", f"{question.wait_p95:g}", "--policy", policy, "--seed", str(seed)]
    again += ["--budget", str(question.budget)]
    command = shlex.join(again)
    written = _write_out(Path(out), answer, points, trace, command) if out is not None else []
    if output_format is SizeFormat.json:
        document = {**answer_json(answer, points), "command": command}
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        sys.stdout.write(answer.sentence() + "\n")
        also = autoscaled_sentence(points)
        if also is not None:
            sys.stdout.write(also + "\n")
        _print_table(answer, points)
        _print_autoscaled(points)
        sys.stdout.write(used + "\n")
    for path in written:
        sys.stderr.write(f"wrote {path}\n")
    raise typer.Exit(EXIT_OK if answer.chosen is not None else EXIT_NO)


def _progress(what: str, wait: float, cost: str, meets: bool, seconds: float) -> None:
    """One replay done, on stderr: what was replayed, its p95 wait and cost, the verdict."""
    verdict = "meets" if meets else "misses"
    sys.stderr.write(f"{what}: p95 wait {_wait(wait)} at {cost}, {verdict} ({seconds:.1f} s)\n")
    sys.stderr.flush()


def _fleet(run: FleetRun) -> str:
    from dralloc.sim.sizing import describe_fleet

    return describe_fleet(run.fleet)


def _wait(seconds: float) -> str:
    return "never" if math.isinf(seconds) else f"{seconds:,.0f} s"


def _replays_used(answer: SizingAnswer, autoscaled: int, planned: int) -> str:
    """The line saying what the budget bought: replays used, static and autoscaled, whether
    the budget cut the static search, the answer's neighbours (replayed to check it, replayed
    by the search already, left out by the budget), and the autoscaled configurations left
    out."""
    from dralloc.sim.sizing import counted, describe_fleet

    question = answer.question
    used = answer.replays + autoscaled
    parts = [f"{counted(answer.replays, 'static fleet')}"]
    if planned:
        parts.append(f"{counted(autoscaled, 'autoscaled configuration')}")
    line = f"replays: {used} of a budget of {question.budget} ({', '.join(parts)})"
    if answer.search_cut:
        line += "; the budget cut the static search short"
    said = (
        ("replayed", answer.neighbours),
        ("already replayed", answer.neighbours_seen),
        ("not replayed, the budget ran out", answer.neighbours_skipped),
    )
    if any(fleets for _, fleets in said):
        checked = "; ".join(
            f"{what}: {', '.join(describe_fleet(fleet) for fleet in fleets)}"
            for what, fleets in said
            if fleets
        )
        line += f"; the answer's neighbours {checked}"
    if autoscaled < planned:
        skipped = counted(planned - autoscaled, "autoscaled configuration")
        line += f"; {skipped} (of {planned}) not replayed: the budget ran out"
    return line


def _print_table(answer: SizingAnswer, points: Sequence[FrontierPoint]) -> None:
    from dralloc.cli.tables import Column, TextTable
    from dralloc.sim.frontier import STATIC
    from dralloc.sim.sizing import counted, describe_fleet

    target = answer.question.wait_p95
    frontier = {p.configuration for p in points if p.scaler == STATIC and p.on_frontier}
    footnote = "* the answer" if answer.chosen is not None else "no fleet meets the target"
    table = TextTable(
        [
            Column("fleet"),
            Column("nodes", "right"),
            Column("USD/h", "right"),
            Column("USD/month", "right"),
            Column("p95 wait", "right"),
            Column("unstarted", "right"),
            Column("evictions", "right"),
            Column("lost GPU-h", "right"),
            Column("meets", "right"),
            Column("frontier", "right"),
        ],
        caption=f"{counted(len(answer.runs), 'fleet')} replayed, cheapest first; meets: p95 "
        f"wait <= {target:g} s; frontier: no point of any scaler as cheap and as fast; a month "
        f"is 730 h; {footnote}",
        title_left=True,
    )
    for run in sorted(answer.runs, key=lambda r: (r.price_per_hour, r.wait_p95)):
        chosen = answer.chosen is not None and run.fleet == answer.chosen.fleet
        table.add_row(
            _fleet(run) + (" *" if chosen else ""),
            str(run.nodes),
            f"{run.price_per_hour:,.2f}",
            f"{run.price_per_month:,.0f}",
            _wait(run.wait_p95),
            str(run.never_started),
            str(run.evictions),
            f"{run.lost_gpu_hours:,.2f}",
            "yes" if run.meets(target) else "no",
            "yes" if describe_fleet(run.fleet) in frontier else "",
            styles={0: "bold green"} if chosen else None,
        )
    table.print()


def _seconds_json(seconds: float) -> float | None:
    """A wait in JSON: null for pods that never start."""
    return None if math.isinf(seconds) else round(seconds, 3)


def _run_json(run: FleetRun, target: float) -> dict[str, object]:
    return {
        "fleet": {shape: count for shape, count in run.fleet},
        "nodes": run.nodes,
        "usdPerHour": round(run.price_per_hour, 6),
        "usdPerMonth": round(run.price_per_month, 2),
        "waitP95Seconds": _seconds_json(run.wait_p95),
        "pods": run.pods,
        "neverStarted": run.never_started,
        "evictions": run.evictions,
        "lostGpuHours": round(run.lost_gpu_hours, 6),
        "firstStartWaitP95Seconds": _seconds_json(run.first_start_wait_p95),
        "billedUsd": round(run.billed_usd, 6),
        "meetsTarget": run.meets(target),
    }


def answer_json(answer: SizingAnswer, points: Sequence[FrontierPoint] = ()) -> dict[str, object]:
    """The answer as one JSON object (camelCase keys; a p95 wait of pods that never start
    is null); `points` add the frontier of every scaler."""
    from dralloc.sim.frontier import STATIC, autoscaled_sentence
    from dralloc.sim.sizing import describe_fleet

    question = answer.question
    target = question.wait_p95
    static_frontier = {p.configuration for p in points if p.scaler == STATIC and p.on_frontier}
    return {
        "answer": answer.sentence(),
        "autoscaledAnswer": autoscaled_sentence(points),
        "waitP95TargetSeconds": target,
        "policy": question.policy,
        "seed": question.seed,
        "maxNodes": dict(question.max_nodes),
        "budget": question.budget,
        "budgetExhausted": answer.exhausted,
        "staticBudget": answer.budget,
        "replays": answer.replays + sum(1 for p in points if p.scaler != STATIC),
        "staticSearchCut": answer.search_cut,
        "neighboursReplayed": [dict(fleet) for fleet in answer.neighbours],
        "neighboursAlreadyReplayed": [dict(fleet) for fleet in answer.neighbours_seen],
        "neighboursSkipped": [dict(fleet) for fleet in answer.neighbours_skipped],
        "chosen": None if answer.chosen is None else _run_json(answer.chosen, target),
        "frontier": [
            _run_json(run, target)
            for run in answer.frontier
            if not points or describe_fleet(run.fleet) in static_frontier
        ],
        "runs": [_run_json(run, target) for run in answer.runs],
        "scalers": [
            {
                "scaler": p.scaler,
                "predictor": p.predictor,
                "configuration": p.configuration,
                "usdPerHour": round(p.usd_per_hour, 6),
                "waitP95Seconds": _seconds_json(p.wait_p95),
                "neverStarted": p.never_started,
                "evictions": p.evictions,
                "lostGpuHours": round(p.lost_gpu_hours, 6),
                "firstStartWaitP95Seconds": _seconds_json(p.first_start_wait_p95),
                "meetsTarget": p.meets_target,
                "onFrontier": p.on_frontier,
            }
            for p in points
        ],
    }


def _print_autoscaled(points: Sequence[FrontierPoint]) -> None:
    """The autoscaled points, one table per scaler, after the static fleets."""
    from dralloc.cli.tables import Column, TextTable
    from dralloc.sim.frontier import STATIC

    for scaler in dict.fromkeys(p.scaler for p in points if p.scaler != STATIC):
        table = TextTable(
            [
                Column("configuration"),
                Column("predictor"),
                Column("USD/h", "right"),
                Column("USD/month", "right"),
                Column("p95 wait", "right"),
                Column("unstarted", "right"),
                Column("evictions", "right"),
                Column("lost GPU-h", "right"),
                Column("meets", "right"),
                Column("frontier", "right"),
            ],
            title=f"{scaler}, same trace, policy and seed (USD/h: billed over the replay; p95 "
            "wait: to the run that completed, evicted runs waited through)",
            title_left=True,
        )
        for p in points:
            if p.scaler == scaler:
                table.add_row(
                    p.configuration,
                    p.predictor,
                    f"{p.usd_per_hour:,.2f}",
                    f"{p.usd_per_month:,.0f}",
                    _wait(p.wait_p95),
                    str(p.never_started),
                    str(p.evictions),
                    f"{p.lost_gpu_hours:,.2f}",
                    "yes" if p.meets_target else "no",
                    "yes" if p.on_frontier else "",
                )
        table.print()


def _write_out(
    folder: Path,
    answer: SizingAnswer,
    points: Sequence[FrontierPoint],
    trace: str,
    command: str,
) -> list[Path]:
    """sizing.csv (the static fleets), frontier.csv (every scaler's points) and sizing.html
    with plotly.min.js in `folder`, each through a temporary file renamed into place, so a
    file is never half-written."""
    from dralloc.sim.frontier import (
        FRONTIER_CSV,
        FRONTIER_PAGE,
        write_frontier_csv,
        write_frontier_page,
    )
    from dralloc.sim.sizing import sizing_rows, write_csv

    folder.mkdir(parents=True, exist_ok=True)
    return [
        write_csv(folder / "sizing.csv", sizing_rows(answer, answer.runs)),
        write_frontier_csv(folder / FRONTIER_CSV, points),
        write_frontier_page(folder / FRONTIER_PAGE, answer, points, source=trace, command=command),
    ]
