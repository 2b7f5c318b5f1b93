"""Scheduler throughput with DRA claims: upstream scheduler_perf's DRA workloads, then
`benchmarks/scheduler_perf.py` on the same workloads right after, on the same machine, with
both throughputs and their ratio in one table.

Upstream's side is `scheduler_perf_dra.test` (k8s.io/kubernetes v1.36.3
test/integration/scheduler_perf/dra, built by tools/build.sh), run from its package directory in
the Go module cache because it reads `performance-config.yaml` and `templates/` by relative
path. For every workload it starts an etcd (found on PATH: the one tools/build.sh built), an
in-process kube-apiserver, kube-scheduler (the `incubating` allocator, topic `dra`) and the
controllers the workload needs, creates the nodes, ResourceSlices, DeviceClass, templates and
pods through the API, and samples once a second how many pods of the measured namespace have
`spec.nodeName`: SchedulingThroughput is the mean of those samples (Perc50... their percentiles),
so it includes the API server round trips of every binding, claim status update and informer
event, and the pod creation the workload drives at the same time.

dralloc's side is `scheduler_perf.py`'s in-memory engine: the same cluster, templates and pods
(read from the same shapes), scheduled by `Scheduler.schedule_one` with the default profile,
with no API server: its pods/s is measured pods over the seconds spent scheduling them
(creating pods and claims is set-up, untimed). `dralloc pods/CPU-s` divides by the process CPU
time of the same parts instead, the steadier figure on a shared machine.

Workloads (`--workload`, repeatable; the upstream name, then dralloc's case and node count):
  5000pods_500nodes  SchedulingWithResourceClaimTemplate/5000pods_500nodes    (500 nodes)
  empty_500nodes     SteadyStateClusterResourceClaimTemplate/empty_500nodes   (500 nodes)
  half_500nodes      SteadyStateClusterResourceClaimTemplate/half_500nodes    (500 nodes)
  full_500nodes      SteadyStateClusterResourceClaimTemplate/full_500nodes    (500 nodes)
the default set, labelled `performance` upstream; the same with `_QueueingHintsEnabled`
(`--queueing-hints`: upstream emulates 1.36's gates instead of 1.33's, as dralloc always
does); `--quick`: 2000pods_200nodes, empty_100nodes, half_100nodes, full_100nodes (the same
shapes on 200 or 100 nodes, unlabelled upstream); `--smoke`: `fast` (upstream: 1 DRA node and 1
plain node, 10 pods, too short for a throughput sample) beside dralloc's 5000pods_500nodes case
on 2 nodes, to check the plumbing in seconds. Upstream's steady-state workloads run for 10 s;
dralloc schedules `--pods` pods in steady state. Every pod of these workloads is alike, so
dralloc's remembered verdicts (the pod signature of `dralloc schedule`) re-run plugins only on
the node that changed since the last pod; `--no-remember-verdicts` runs every plugin on every
node visited, as kube-scheduler does.

Run: `python benchmarks/upstream_scheduler_perf.py [--quick | --smoke] [--queueing-hints]
[--workload NAME ...] [--runs N] [--pods N] [--no-remember-verdicts] [--timeout S] [--json]
[--out FILE] [--keep DIR] [--skip-upstream]`. `--runs` repeats both sides (upstream's
workloads all run in one process per round; dralloc reports its median); `--json` prints one
object per workload per line; `--out` writes the run (rows, machine, commands) as one JSON
document; `--keep` keeps upstream's stdout, DataItems JSON and progress files. The whole run
is bounded by `--timeout` seconds per upstream round (the test binary is killed with its etcd
after that) and never runs the two sides at the same time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import scheduler_perf as dralloc_perf  # benchmarks/scheduler_perf.py, beside this file

K8S_VERSION = "v1.36.3"
HOME_ENV = "DRALLOC_K8S_HOME"
BINARY = "scheduler_perf_dra.test"
PACKAGE = f"k8s.io/kubernetes@{K8S_VERSION}/test/integration/scheduler_perf/dra"
BENCHMARK = "BenchmarkPerfScheduling"  # the `incubating` allocator, topic "dra"
TEMPLATE = "SchedulingWithResourceClaimTemplate"
STEADY = "SteadyStateClusterResourceClaimTemplate"


@dataclass(frozen=True)
class Workload:
    """An upstream workload and dralloc's run of the same shape."""

    name: str  # the workload's name upstream
    test_case: str  # its test case in performance-config.yaml
    dralloc_case: str  # scheduler_perf.py's case
    nodes: int

    @property
    def upstream(self) -> str:
        return f"{self.test_case}/{self.name}"


def _workloads(suffix: str = "") -> list[Workload]:
    return [
        Workload(f"5000pods_500nodes{suffix}", TEMPLATE, "5000pods_500nodes", 500),
        Workload(f"empty_500nodes{suffix}", STEADY, "empty_500nodes", 500),
        Workload(f"half_500nodes{suffix}", STEADY, "half_500nodes", 500),
        Workload(f"full_500nodes{suffix}", STEADY, "full_500nodes", 500),
    ]


PERFORMANCE = _workloads()
QUEUEING_HINTS = _workloads("_QueueingHintsEnabled")
QUICK = [
    Workload("2000pods_200nodes", TEMPLATE, "5000pods_500nodes", 200),
    Workload("empty_100nodes", STEADY, "empty_500nodes", 100),
    Workload("half_100nodes", STEADY, "half_500nodes", 100),
    Workload("full_100nodes", STEADY, "full_500nodes", 100),
]
SMOKE = [Workload("fast", TEMPLATE, "5000pods_500nodes", 2)]
WORKLOADS = {w.name: w for w in (*PERFORMANCE, *QUEUEING_HINTS, *QUICK, *SMOKE)}


# ------------------------------------------------------------------------- upstream side


def k8s_home() -> Path:
    """Where tools/build.sh put its binaries (the rule tests/k8s and tests/oracle use)."""
    configured = os.environ.get(HOME_ENV)
    if configured:
        return Path(configured)
    return Path.home() / ".cache" / "dralloc" / f"k8s-{K8S_VERSION}"


def package_dir() -> Path:
    """scheduler_perf's DRA package in the Go module cache (tools/build.sh downloaded it)."""
    cache = os.environ.get("GOMODCACHE", "")
    if not cache and shutil.which("go"):
        cache = subprocess.run(
            ["go", "env", "GOMODCACHE"], capture_output=True, text=True, check=False
        ).stdout.strip()
    if not cache:
        cache = str(Path(os.environ.get("GOPATH", Path.home() / "go")) / "pkg" / "mod")
    return Path(cache) / PACKAGE


def bench_pattern(workloads: list[Workload]) -> str:
    """`-test.bench`: one anchored regex per level (benchmark / test case / workload), so
    BenchmarkPerfSchedulingExperimental and other test cases' workloads of the same name stay
    out. The cross product only selects pairs that exist: no workload name is in two of the
    test cases used here."""
    cases = sorted({w.test_case for w in workloads})
    names = sorted({w.name for w in workloads})
    return f"^{BENCHMARK}$/^({'|'.join(cases)})$/^({'|'.join(names)})$"


def upstream_command(
    binary: Path, workloads: list[Workload], out: Path, timeout: float
) -> list[str]:
    return [
        str(binary),
        "-test.run=^$",
        f"-test.bench={bench_pattern(workloads)}",
        "-test.benchtime=1x",
        f"-test.timeout={int(timeout)}s",
        # Empty: the workload regex alone selects, so unlabelled workloads (--quick) run too.
        "-perf-scheduling-label-filter=",
        f"-data-items-dir={out}",
    ]


def run_upstream(workloads: list[Workload], out: Path, timeout: float) -> tuple[str, float]:
    """Runs the workloads in one process; returns its stdout and wall seconds. The process and
    its etcds are one process group, killed after `timeout` seconds."""
    binary = k8s_home() / "bin" / BINARY
    if not os.access(binary, os.X_OK):
        raise SystemExit(f"upstream_scheduler_perf: {binary} is missing: run tools/build.sh")
    directory = package_dir()
    if not (directory / "performance-config.yaml").is_file():
        raise SystemExit(f"upstream_scheduler_perf: {directory} is missing: run tools/build.sh")
    env = dict(os.environ)
    env["PATH"] = f"{binary.parent}{os.pathsep}{env.get('PATH', '')}"  # its etcd
    env["ARTIFACTS"] = str(out)  # per-workload logs go to files there, not to stderr
    command = upstream_command(binary, workloads, out, timeout)
    for stale in out.glob(f"{BENCHMARK}_benchmark_dra_*.json"):  # a kept directory reused
        stale.unlink()
    started = time.perf_counter()
    with (out / "upstream.txt").open("w") as stdout, (out / "upstream.err").open("w") as stderr:
        process = subprocess.Popen(
            command, cwd=directory, env=env, stdout=stdout, stderr=stderr, start_new_session=True
        )
        try:
            process.wait(timeout=timeout + 30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            print(f"upstream_scheduler_perf: killed after {timeout + 30:.0f} s", file=sys.stderr)
    seconds = time.perf_counter() - started
    text = (out / "upstream.txt").read_text(errors="replace")
    if process.returncode not in (0, None):
        below = parse_threshold_failures(text)
        why = (
            f"{len(below)} workload(s) below upstream's CI threshold, figures kept"
            if below
            else f"stderr in {out / 'upstream.err'}"
        )
        print(
            f"upstream_scheduler_perf: {BINARY} exited with {process.returncode} ({why})",
            file=sys.stderr,
        )
    return text, seconds


# `BenchmarkPerfScheduling/<test case>/<workload>-2   1   10.07 SchedulingDuration/Duration
# 24.40 SchedulingThroughput/Average ...`: value-metric pairs after the iteration count.
_BENCH_LINE = re.compile(rf"^{BENCHMARK}/([^/\s]+)/(\S+?)(?:-\d+)?\s+\d+\s+(.*)$")
THROUGHPUT_KEYS = ("Average", "Perc50", "Perc90", "Perc95", "Perc99")


def parse_bench_lines(text: str) -> dict[str, dict[str, float]]:
    """Per `<test case>/<workload>`: SchedulingThroughput's figures and runtime_seconds, from
    the benchmark lines of the test binary's stdout (each printed once its workload ends)."""
    found: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        match = _BENCH_LINE.match(line)
        if not match:
            continue
        test_case, workload, rest = match.groups()
        fields = rest.split()
        metrics = dict(zip(fields[1::2], fields[::2], strict=False))
        figures = {
            key: float(metrics[f"SchedulingThroughput/{key}"])
            for key in THROUGHPUT_KEYS
            if f"SchedulingThroughput/{key}" in metrics
        }
        if "runtime_seconds" in metrics:
            figures["runtime_seconds"] = float(metrics["runtime_seconds"])
        found[f"{test_case}/{workload}"] = figures
    return found


# A workload below its threshold in performance-config.yaml (floors set for CI's machines)
# fails, so Go prints no benchmark line for it; the failure still names the average:
# `op 7: BenchmarkPerfScheduling/<test case>/<workload>/test: expected "SchedulingThroughput"
# "Average" to be higher: got 16.069518, want 40.000000`.
_BELOW_THRESHOLD = re.compile(
    rf"{BENCHMARK}/([^/\s]+)/([^/\s]+)/\S+: expected \"SchedulingThroughput\" "
    r"\"Average\" to be higher: got ([0-9.]+), want ([0-9.]+)"
)


def parse_threshold_failures(text: str) -> dict[str, dict[str, float]]:
    """Per `<test case>/<workload>`: the average throughput of each workload that failed
    upstream's threshold, and the threshold."""
    found: dict[str, dict[str, float]] = {}
    for match in _BELOW_THRESHOLD.finditer(text):
        test_case, workload, average, threshold = match.groups()
        found[f"{test_case}/{workload}"] = {
            "Average": float(average),
            "threshold": float(threshold),
        }
    return found


def parse_data_items(document: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per `<test case>/<workload>`: SchedulingThroughput from a DataItems document
    (`BenchmarkPerfScheduling_benchmark_dra_<time>.json`, written when the binary ends)."""
    found: dict[str, dict[str, float]] = {}
    for item in document.get("dataItems", []):
        labels = item.get("labels", {})
        if labels.get("Metric") != "SchedulingThroughput":
            continue
        # Name: BenchmarkPerfScheduling/<test case>/<workload>/<namespace>
        parts = labels.get("Name", "").split("/")
        if len(parts) < 3 or parts[0] != BENCHMARK:
            continue
        data = item.get("data", {})
        found[f"{parts[1]}/{parts[2]}"] = {k: float(data[k]) for k in THROUGHPUT_KEYS if k in data}
    return found


def upstream_figures(out: Path, stdout: str) -> dict[str, dict[str, float]]:
    """The benchmark lines and threshold failures, with the DataItems file's throughputs
    over them where it was written (the binary writes it when it ends, failed or not)."""
    found = parse_threshold_failures(stdout)
    for key, figures in parse_bench_lines(stdout).items():
        found.setdefault(key, {}).update(figures)
    for path in sorted(out.glob(f"{BENCHMARK}_benchmark_dra_*.json")):
        for key, figures in parse_data_items(json.loads(path.read_text())).items():
            found.setdefault(key, {}).update(figures)
    return found


# ---------------------------------------------------------------------------- dralloc side


def run_dralloc(
    workload: Workload, runs: int, steady_pods: int, seed: int, remember_verdicts: bool = True
) -> dict[str, Any]:
    results = [
        dralloc_perf.run(
            workload.dralloc_case,
            workload.nodes,
            steady_pods,
            seed + i,
            remember_verdicts=remember_verdicts,
        )
        for i in range(runs)
    ]
    row = dralloc_perf.figures(results, workload.upstream, remember_verdicts, None)
    cpu = sorted(r.pods / r.cpu_seconds for r in results if r.cpu_seconds > 0)
    row["pods_per_cpu_second"] = round(statistics.median(cpu), 1) if cpu else None
    return row


# -------------------------------------------------------------------------------- report


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model or platform.processor(),
        "python": platform.python_version(),
        "load_average": list(os.getloadavg()),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def combine(
    workloads: list[Workload],
    upstream_rounds: list[dict[str, dict[str, float]]],
    dralloc: dict[str, dict[str, Any]],
) -> list[dict[str, Any]]:
    rows = []
    for workload in workloads:
        seen = [r[workload.upstream] for r in upstream_rounds if workload.upstream in r]
        averages = sorted(s["Average"] for s in seen if "Average" in s)
        upstream: dict[str, Any] | None = None
        if averages:
            median = statistics.median(averages)
            middle = min(
                (s for s in seen if "Average" in s), key=lambda s: abs(s["Average"] - median)
            )
            upstream = {
                "average": round(median, 1),
                "perc50": round(middle.get("Perc50", float("nan")), 1),
                "min": round(averages[0], 1),
                "max": round(averages[-1], 1),
                "runs": len(averages),
                "runtime_seconds": middle.get("runtime_seconds"),
            }
        mine = dralloc.get(workload.name)
        ratio = None
        if upstream and mine and upstream["average"] > 0:
            ratio = round(mine["pods_per_second"] / upstream["average"], 1)
        rows.append(
            {
                "workload": workload.name,
                "upstream_workload": workload.upstream,
                "dralloc_case": workload.dralloc_case,
                "nodes": workload.nodes,
                "upstream": upstream,
                "dralloc": mine,
                "ratio": ratio,
            }
        )
    return rows


def _figure(value: Any) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'workload':38} {'upstream pods/s':>15} {'(p50)':>7}  {'dralloc pods/s':>14} "
        f"{'pods/CPU-s':>10}  {'ratio':>6}"
    )
    lines = [head, "-" * len(head)]
    for row in rows:
        up, mine = row["upstream"] or {}, row["dralloc"] or {}
        lines.append(
            f"{row['workload']:38} {_figure(up.get('average')):>15} "
            f"{_figure(up.get('perc50')):>7}  {_figure(mine.get('pods_per_second')):>14} "
            f"{_figure(mine.get('pods_per_cpu_second')):>10}  "
            f"{'n/a' if row['ratio'] is None else str(row['ratio']) + 'x':>6}"
        )
    lines.append(
        "upstream: SchedulingThroughput (mean of 1 s samples, apiserver+etcd in the loop); "
        "dralloc: in-memory, pods / scheduling seconds; ratio = dralloc / upstream"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help="the same shapes on 100-200 nodes")
    group.add_argument("--smoke", action="store_true", help="upstream's `fast`: seconds")
    group.add_argument("--queueing-hints", action="store_true", help="the QH-enabled variants")
    parser.add_argument("--workload", action="append", choices=list(WORKLOADS))
    parser.add_argument("--runs", type=int, default=1, help="rounds of both sides")
    parser.add_argument("--pods", type=int, help="dralloc's steady-state pods (2500; quick 500)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--timeout", type=float, default=1800, help="seconds per upstream round (then killed)"
    )
    parser.add_argument("--skip-upstream", action="store_true", help="dralloc's side only")
    parser.add_argument(
        "--no-remember-verdicts",
        dest="remember_verdicts",
        action="store_false",
        help="dralloc without the pod signature: every plugin on every node visited",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per workload")
    parser.add_argument("--out", type=Path, help="write the run as one JSON document")
    parser.add_argument("--keep", type=Path, help="keep upstream's output files here")
    args = parser.parse_args(argv)
    if args.workload:
        workloads = [WORKLOADS[name] for name in args.workload]
    elif args.quick:
        workloads = QUICK
    elif args.smoke:
        workloads = SMOKE
    elif args.queueing_hints:
        workloads = QUEUEING_HINTS
    else:
        workloads = PERFORMANCE
    steady_pods = args.pods or (25 if args.smoke else 500 if args.quick else 2500)

    upstream_rounds: list[dict[str, dict[str, float]]] = []
    commands: list[list[str]] = []
    upstream_seconds: list[float] = []
    dralloc: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="upstream-scheduler-perf-") as scratch:
        for round_ in range(0 if args.skip_upstream else args.runs):
            out = (args.keep or Path(scratch)) / f"round-{round_}"
            out.mkdir(parents=True, exist_ok=True)
            commands.append(
                upstream_command(k8s_home() / "bin" / BINARY, workloads, out, args.timeout)
            )
            stdout, seconds = run_upstream(workloads, out, args.timeout)
            upstream_seconds.append(round(seconds, 1))
            upstream_rounds.append(upstream_figures(out, stdout))
    # Right after, never at the same time.
    for workload in workloads:
        dralloc[workload.name] = run_dralloc(
            workload, args.runs, steady_pods, args.seed, args.remember_verdicts
        )
    rows = combine(workloads, upstream_rounds, dralloc)
    if args.json:
        for row in rows:
            print(json.dumps(row), flush=True)
    else:
        print(table(rows), flush=True)
    if args.out:
        document = {
            "machine": machine(),
            "command": [sys.executable, *sys.argv],
            "upstream_commands": commands,
            "upstream_cwd": str(package_dir()),
            "upstream_seconds": upstream_seconds,
            "dralloc_steady_state_pods": steady_pods,
            "rows": rows,
        }
        tmp = args.out.with_name(args.out.name + ".tmp")
        tmp.write_text(json.dumps(document, indent=2) + "\n")
        tmp.replace(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
