"""Autoscaled replay: a week of the DLRM trace and a month of a job trace, end to end on the
virtual clock, with cluster-autoscaler and with karpenter mode, each also with a predictor.

Cases (names are a contract; `--json` prints one object per line per case):

  dlrm-week-<scaler>[-ewma]  The Alibaba DLRM inference trace (cluster-trace-gpu-v2025,
                   `--trace dlrm`: its 7,386 GPU instances, 1 A10 each; 3,123 of them exist
                   before the window and arrive at 0) for its first 7 days (`horizon`), on an
                   autoscaled fleet of 8 x A10 nodes at $12/h (max 480 nodes, above the
                   trace's peak of 427). karpenter mode with its default consolidation (the
                   pods are services).
  itp-month-<scaler>[-ewma]  Microsoft ITP's training jobs (`itp-elasticflow:cluster=2`,
                   ElasticFlow's raw trace) for the first 30 days, as gangs of 8-GPU workers
                   (job replay defaults), on 8 x A100 80GB nodes at $32.77/h (max 48 nodes,
                   above the cluster's 346 GPUs of zero-wait peak). karpenter mode with
                   `consolidationPolicy: WhenEmpty` (batch jobs, see README `--autoscaling`).
                   Why this trace: it is the only job trace in the shared traces with real
                   GPU requests, arrivals and run times (Helios, Philly and PAI 2020 ship
                   machine lists or quotas only); cluster02 spans the whole 60 days with
                   every job size (1 to 64 GPUs: gangs too) at a size one fleet of 48 nodes
                   serves.
  `<scaler>` is `ca` (cluster-autoscaler) or `karpenter`; `-ewma` adds the predictor
  `{forecaster: ewma-peak, step: 300, window: 1h, period: 1h}` (managed buffers of 1-GPU
  chunks). Policy `fgd`, seed 1, default provisioning delays.
  `--smoke` runs tiny cases instead (`synthetic-jobs:jobs=6,seed=1` for half an hour; the test
  suite uses them).

What is measured, per case in its own process (so peak RSS is the case's): `wall_s` and
`cpu_s` of `replay` alone (loading the trace is `setup_s`), `max_rss_mb`, the simulated
seconds reached (`simulated_days`; the horizon unless cut) and `sim_days_per_cpu_min`, and the
replay's figures: `billed_usd`, `wait_p95_s`, `nodes_launched`, `peak_nodes` (devices
published), `scale_ups`, `scale_downs`, `loops`, `pods_started`. A case still running after
`--max-seconds` of wall time stops at the next batch of events (`cut: true`): its speed is
measured up to there, and it has no replay figures. The default (140 s) keeps the eight cases
under 20 min on 2 cores.

Run: `python benchmarks/autoscale_replay.py [--case NAME ...] [--smoke] [--json] [--out FILE]
[--trace-dir DIR] [--max-seconds S] [--days N] [--plain] [--profile]`. `--days` replays only
the first N days of every case (for development; the case names stay). A trace missing from
`--trace-dir` (default `../shared/traces` beside the checkout) skips its cases with a message.
`--plain` turns the cluster-autoscaler speed-ups off (`remember_planning`, `remember_removals`,
`remember_planning_verdicts`, `plugin_traits`, `skip_unused_planning_snapshot`,
`lazy_scale_down_snapshot`) for a before/after; `--profile` writes `autoscale-<case>.prof`
(cProfile) and prints the top functions to stderr.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

DAY = 86400.0
PREDICTOR = "predictor: {forecaster: ewma-peak, step: 300, window: 1h, period: 1h}\n"
DEFAULT_TRACE_DIR = Path(__file__).resolve().parents[2] / "shared" / "traces"
DEFAULT_MAX_SECONDS = 140.0


@dataclass(frozen=True)
class Trace:
    """One workload: its `--trace` name, the folder it needs (None: generated), the replayed
    window, and the fleet's shape and scalers."""

    workload: str
    folder: str | None
    horizon: float
    shape: str  # catalog GPU
    price: float  # USD per node-hour
    max_nodes: int
    karpenter_disruption: str  # the node pool's `disruption:` (empty: Karpenter's default)


TRACES = {
    "dlrm-week": Trace("dlrm", "alibaba-gpu-v2025-dlrm", 7 * DAY, "a10", 12.0, 480, ""),
    "itp-month": Trace(
        "itp-elasticflow:cluster=2",
        "itp-elasticflow",
        30 * DAY,
        "a100-80gb",
        32.77,
        48,
        "{consolidationPolicy: WhenEmpty}",
    ),
}
SMOKE_TRACES = {
    "smoke": Trace(
        "synthetic-jobs:jobs=6,seed=1",
        None,
        1800.0,
        "a100-80gb",
        32.77,
        4,
        "{consolidationPolicy: WhenEmpty}",
    ),
}
SCALERS = ("ca", "karpenter")


def case_names(traces: dict[str, Trace]) -> list[str]:
    return [
        f"{trace}-{scaler}{suffix}"
        for trace in traces
        for scaler in SCALERS
        for suffix in ("", "-ewma")
    ]


def split_case(name: str) -> tuple[str, str, bool]:
    """(trace, scaler, predictor) of a case name."""
    predictor = name.endswith("-ewma")
    base = name.removesuffix("-ewma")
    trace, _, scaler = base.rpartition("-")
    return trace, scaler, predictor


def config_text(trace: Trace, scaler: str, predictor: bool) -> str:
    """The case's `kind: Autoscaling` file."""
    if scaler == "ca":
        mode = "cluster-autoscaler"
        scaling = f"nodeGroups:\n- {{name: gpu, shape: node, max: {trace.max_nodes}}}\n"
    else:
        mode = "karpenter"
        disruption = (
            f", disruption: {trace.karpenter_disruption}" if trace.karpenter_disruption else ""
        )
        limits = f", limits: {{nodes: {trace.max_nodes}}}"
        scaling = f"nodePools:\n- {{name: gpu, shapes: [node]{limits}{disruption}}}\n"
    return f"""\
apiVersion: dralloc.io/v1alpha1
kind: Autoscaling
mode: {mode}
shapes:
- name: node
  shape: {trace.shape}
  gpus: 8
  sharing: fractional
  price: {{onDemand: {trace.price}}}
{scaling}{PREDICTOR if predictor else ""}"""


def progress(message: str) -> None:
    print(f"[autoscale {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class OutOfTime(Exception):
    """The case ran past `--max-seconds`; `reached` is the virtual time of the last batch."""

    def __init__(self, reached: float) -> None:
        super().__init__(reached)
        self.reached = reached


def run_case(
    name: str, trace: Trace, trace_dir: Path, max_seconds: float, *, plain: bool, profile: bool
) -> dict[str, Any]:
    """One case in this process (see the module docstring for the figures)."""
    from dralloc.autoscaling import parse_autoscaling_text
    from dralloc.devices import load_catalog
    from dralloc.sim.job_replay import resolve_job_replay
    from dralloc.sim.replay import ReplayOptions, replay
    from dralloc.sim.replay.autoscaled import ReplayAutoscaling

    _, scaler, predictor = split_case(name)
    started = time.perf_counter()
    catalog = load_catalog()
    config = parse_autoscaling_text(
        config_text(trace, scaler, predictor), f"{name}.yaml", catalog=catalog
    )
    replayed, gangs, _ = resolve_job_replay(trace.workload, trace_dir)
    setup = time.perf_counter() - started
    options = ReplayOptions(horizon=trace.horizon, autoscaling=ReplayAutoscaling(config, catalog))
    reached = [0.0]
    deadline = time.perf_counter() + max_seconds

    def observe(now: float, _cache: object) -> None:
        reached[0] = now
        if time.perf_counter() > deadline:
            raise OutOfTime(now)

    profiler = cProfile.Profile() if profile else None
    wall0, cpu0 = time.perf_counter(), time.process_time()
    if profiler is not None:
        profiler.enable()
    result = None
    try:
        with plain_cluster_autoscaler(plain):
            result = replay(replayed, "fgd", 1, options, observer=observe, gangs=gangs)
    except OutOfTime:
        pass
    finally:
        if profiler is not None:
            profiler.disable()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    if profiler is not None:
        profiler.dump_stats(f"autoscale-{name}.prof")
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        stats.sort_stats("cumulative").print_stats(40)
        print(f"--- cProfile: {name}\n{text.getvalue()}", file=sys.stderr, flush=True)
    simulated = min(trace.horizon, result.end_time if result is not None else reached[0])
    row: dict[str, Any] = {
        "case": name,
        "workload": trace.workload,
        "mode": config.mode.value,
        "predictor": "ewma-peak" if predictor else "",
        "speedups": "off" if plain else "on",
        "setup_s": round(setup, 2),
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "simulated_days": round(simulated / DAY, 3),
        "sim_days_per_cpu_min": round(simulated / DAY / (cpu / 60), 3) if cpu > 0 else None,
        "cut": result is None,
    }
    if result is not None and result.autoscaling is not None:
        summary, fleet = result.summary(), result.autoscaling
        row.update(
            billed_usd=round(fleet.billed_total, 2),
            wait_p95_s=None if summary.wait_p95 is None else round(summary.wait_p95, 1),
            pods_started=summary.started,
            nodes_launched=fleet.nodes_launched,
            peak_nodes=max((size for _, size in fleet.fleet_size), default=0),
            scale_ups=fleet.scale_ups,
            scale_downs=fleet.scale_downs,
            loops=fleet.loops,
        )
    return row


@contextmanager
def plain_cluster_autoscaler(plain: bool) -> Iterator[None]:
    """While open (and `plain`), every cluster-autoscaler built runs with its speed-ups off;
    restored on leaving."""
    from dralloc.autoscaling.clusterautoscaler import ClusterAutoscaler
    from dralloc.scheduler.framework import PluginTraits

    original = ClusterAutoscaler.__post_init__

    def post_init(self: ClusterAutoscaler) -> None:
        original(self)
        self.remember_planning = False
        self.remember_removals = False
        self.remember_planning_verdicts = False
        self.skip_unused_planning_snapshot = False
        self.lazy_scale_down_snapshot = False
        self.plugin_traits = PluginTraits(remember=False)

    if plain:
        ClusterAutoscaler.__post_init__ = post_init  # type: ignore[method-assign]
    try:
        yield
    finally:
        ClusterAutoscaler.__post_init__ = original  # type: ignore[method-assign]


def run_child(args: argparse.Namespace, name: str, trace: Trace) -> dict[str, Any]:
    """The case in a child process of this script (its own peak RSS); its row."""
    command = [
        sys.executable,
        __file__,
        "--child",
        "--case",
        name,
        "--trace-dir",
        str(args.trace_dir),
        "--max-seconds",
        str(args.max_seconds),
        *(["--days", str(args.days)] if args.days is not None else []),
        *(["--smoke"] if args.smoke else []),
        *(["--plain"] if args.plain else []),
        *(["--profile"] if args.profile else []),
    ]
    # A cut case stops at its next batch of events; allow it that and its start-up.
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=args.max_seconds + 300, check=False
    )
    sys.stderr.write(done.stderr)
    if done.returncode != 0:
        raise SystemExit(f"case {name} failed (exit {done.returncode})")
    row: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return row


COLUMNS = (
    ("case", "case", 26),
    ("cpu_s", "CPU s", 8),
    ("wall_s", "wall s", 8),
    ("max_rss_mb", "RSS MB", 7),
    ("simulated_days", "sim days", 8),
    ("sim_days_per_cpu_min", "days/CPU min", 12),
    ("billed_usd", "billed USD", 11),
    ("wait_p95_s", "p95 wait s", 10),
    ("peak_nodes", "peak nodes", 10),
    ("nodes_launched", "launched", 8),
)


def table_line(row: dict[str, Any]) -> str:
    cells = []
    for key, _, width in COLUMNS:
        value = row.get(key)
        text = "-" if value is None else str(value)
        if key == "case" and row.get("cut"):
            text += " (cut)"
        cells.append(text.ljust(width) if key == "case" else text.rjust(width))
    return " ".join(cells)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--case", action="append", default=None, help="a case name (repeat)")
    parser.add_argument("--smoke", action="store_true", help="tiny cases (the test suite)")
    parser.add_argument("--json", action="store_true", help="one JSON object per case")
    parser.add_argument("--out", type=Path, default=None, help="append JSON lines here")
    parser.add_argument("--trace-dir", type=Path, default=DEFAULT_TRACE_DIR)
    parser.add_argument("--max-seconds", type=float, default=DEFAULT_MAX_SECONDS)
    parser.add_argument("--days", type=float, default=None, help="replay only this many days")
    parser.add_argument("--plain", action="store_true", help="cluster-autoscaler speed-ups off")
    parser.add_argument("--profile", action="store_true", help="cProfile each case")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    traces = SMOKE_TRACES if args.smoke else TRACES
    known = case_names(traces)
    for name in args.case or ():
        if name not in known:
            parser.error(f"--case: unknown case {name!r}, expected one of {', '.join(known)}")
    if args.max_seconds <= 0:
        parser.error(f"--max-seconds: must be > 0, got {args.max_seconds}")
    if args.days is not None and args.days <= 0:
        parser.error(f"--days: must be > 0, got {args.days}")
    args.cases = args.case or known
    if args.days is not None:
        traces = {k: replace(t, horizon=args.days * DAY) for k, t in traces.items()}
    args.traces = traces
    return args


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    args = parse_args(argv)
    if args.child:
        (name,) = args.cases
        trace = args.traces[split_case(name)[0]]
        row = run_case(
            name, trace, args.trace_dir, args.max_seconds, plain=args.plain, profile=args.profile
        )
        print(json.dumps(row))
        return [row]
    rows: list[dict[str, Any]] = []
    if not args.json:
        print(
            " ".join(title.rjust(w) if k != "case" else title.ljust(w) for k, title, w in COLUMNS)
        )
    for name in args.cases:
        trace = args.traces[split_case(name)[0]]
        if trace.folder is not None and not (args.trace_dir / trace.folder).is_dir():
            progress(f"{name}: skipped, no {trace.folder}/ in {args.trace_dir}")
            continue
        progress(f"{name}: running (at most {args.max_seconds:g} s)")
        row = run_child(args, name, trace)
        rows.append(row)
        line = json.dumps(row)
        if args.out is not None:
            with args.out.open("a") as sink:
                sink.write(line + "\n")
        print(line if args.json else table_line(row), flush=True)
    return rows


if __name__ == "__main__":
    main()
