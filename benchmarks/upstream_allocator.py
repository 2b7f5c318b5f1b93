"""Per-claim allocation latency of dralloc's allocator beside upstream's
(k8s.io/dynamic-resource-allocation/structured v0.36.3, the code kube-scheduler runs), on
identical inputs, one after the other on the same machine.

The cases are the four node shapes of `benchmarks/allocator.py` (`scheduler_perf_node`,
`scheduler_perf_node_selector`, `h100_dynamic_mig_half_full`, `match_attribute_backtracking`).
Each case's objects are taken from that script, written as Kubernetes documents and loaded back
through dralloc's loader, which validates and defaults them as the API server would (the
upstream allocator does not default: `allocationMode: ExactCount`, `count: 1`, ...). The
defaulted objects then go to both sides:

* upstream: written one case per line, in dra-oracle's input shape plus `"fits"`, to a file the
  Go benchmark `tools/draoracle/allocate_bench_test.go` reads; run with `go test -bench`. Its
  `BenchmarkAllocate` times `Allocator.Allocate` on one allocator built beforehand (what the
  DynamicResources plugin's Filter pays per node), `BenchmarkNewAllocatorAllocate` times
  `NewAllocator` then `Allocate` (the first node of a pod: kube-scheduler builds one allocator
  per pod in PreFilter). NewAllocator picks the implementation as kube-scheduler's does, unless
  `--upstream-allocator` names one; the Go benchmark logs which it picked.
* dralloc: `Allocator.allocate` with a long-lived Inventory, timed by `allocator.py`'s own
  `measure` (warm-up calls, then `--runs` rounds of `--repeat` calls) on one claim object, so
  the claim's prepared requests are reused after the first call; and again with a new copy of
  the claim every call ("new claim"), as each pod brings its own claim to a scheduler. Upstream
  keeps nothing between Allocate calls but compiled CEL, so "new claim" is the like-for-like
  figure; the node's caches (candidates, selector outcomes per device) serve both, as they do
  in a scheduler while the node's slices are unchanged.

Both sides time every call on its own, warm (compiled selectors cached), and report the median
and p99 per call; a figure is the median over the rounds, with the spread of the round medians.
Go's ns/op (the mean, garbage collection included) is kept in the JSON as `mean_us`. Besides,
dra-oracle (when built) and dralloc's allocator each allocate every case once: the `same`
column says whether they chose the same devices, and the exit code is 1 if not.
A ratio is a dralloc median over upstream's Allocate median: below 1 means dralloc is faster.
Go runs with `-cpu 1` (GOMAXPROCS=1) by default, so both sides use one core, Go's garbage
collector included; `--go-cpu 2` lets the collector use a second one.

Run: `python benchmarks/upstream_allocator.py [--quick] [--case NAME ...] [--repeat N]
[--runs N] [--go-cpu N] [--json] [--out FILE] [--keep DIR]`. Needs Go on PATH and the modules
of tools/draoracle (tools/build.sh fetches them). `--quick` is 200 calls x 2 rounds; `--json`
prints one object per case per line; `--out` writes the whole run (table, machine, raw Go
output) as one JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import allocator as dralloc_bench  # benchmarks/allocator.py, beside this file
from dralloc.allocator import Allocator, AllocatorOptions, Inventory, allocated_state
from dralloc.api.core import Node
from dralloc.api.io import clone, kube_dict, to_builtins
from dralloc.api.resource import DeviceClass, ResourceClaim, ResourceSlice
from dralloc.features import Features
from dralloc.testing import Cluster

REPO = Path(__file__).resolve().parents[1]
DRAORACLE = REPO / "tools" / "draoracle"
CASES_ENV = "DRALLOC_ALLOCATOR_CASES"  # read by allocate_bench_test.go
GO_BENCHMARKS = ("BenchmarkAllocate", "BenchmarkNewAllocatorAllocate")
CASE_NAMES = list(dralloc_bench.CASES)

# dralloc's gate -> dra-oracle's feature name (tools/draoracle/main.go).
ORACLE_FEATURES = {
    "DRAAdminAccess": "AdminAccess",
    "DRAPrioritizedList": "PrioritizedList",
    "DRAPartitionableDevices": "PartitionableDevices",
    "DRADeviceTaints": "DeviceTaints",
    "DRADeviceBindingConditions": "DeviceBinding",
    "DRAResourceClaimDeviceStatus": "DeviceStatus",
    "DRAConsumableCapacity": "ConsumableCapacity",
    "DRAListTypeAttributes": "ListTypeAttributes",
}


# ------------------------------------------------------------------------------ inputs


@dataclass(frozen=True)
class Inputs:
    """What one allocator.py case allocates: one claim on one node."""

    node: Node
    slices: list[ResourceSlice]
    classes: list[DeviceClass]
    claim: ResourceClaim
    allocated: list[ResourceClaim]
    fits: bool


@contextmanager
def _recording_runner(found: list[Inputs]) -> Iterator[None]:
    """allocator.py's cases hand their objects to its `_runner`; record them instead."""
    original = dralloc_bench._runner

    def record(
        node: Node,
        slices: list[ResourceSlice],
        classes: list[DeviceClass],
        claim: ResourceClaim,
        allocated: list[ResourceClaim] | None = None,
        *,
        fits: bool = True,
        prune: bool = True,
    ) -> Callable[[], Any]:
        found.append(Inputs(node, list(slices), list(classes), claim, list(allocated or []), fits))
        return lambda: None

    dralloc_bench._runner = record
    try:
        yield
    finally:
        dralloc_bench._runner = original


def case_inputs(name: str) -> Inputs:
    """The objects of allocator.py's case `name`, as that script builds them."""
    found: list[Inputs] = []
    with _recording_runner(found):
        dralloc_bench.CASES[name]()
    (inputs,) = found
    return inputs


def documents(inputs: Inputs) -> list[dict[str, Any]]:
    return [
        kube_dict(inputs.node),
        *(kube_dict(c) for c in inputs.classes),
        *(kube_dict(s) for s in inputs.slices),
        *(kube_dict(c) for c in inputs.allocated),
        kube_dict(inputs.claim),
    ]


def defaulted(inputs: Inputs) -> Inputs:
    """The same objects loaded back through dralloc's loader: validated and defaulted as the
    API server stores them, which is what both allocators must be given."""
    listed = {"apiVersion": "v1", "kind": "List", "items": documents(inputs)}
    cluster = Cluster.from_yaml(json.dumps(listed))
    (claim,) = cluster.pending
    return Inputs(
        cluster.node(inputs.node.metadata.name),
        cluster.slices,
        list(cluster.classes.values()),
        claim,
        cluster.allocated,
        inputs.fits,
    )


def oracle_case(name: str, inputs: Inputs, allocator: str = "") -> dict[str, Any]:
    """One line of the Go benchmark's input: dra-oracle's case shape plus `fits`."""
    features = Features()
    return {
        "id": name,
        "features": {name: features.enabled(gate) for gate, name in ORACLE_FEATURES.items()},
        "allocator": allocator,
        "node": kube_dict(inputs.node),
        "slices": [kube_dict(s) for s in inputs.slices],
        "classes": [kube_dict(c) for c in inputs.classes],
        "allocatedClaims": [kube_dict(c) for c in inputs.allocated],
        "claims": [kube_dict(inputs.claim)],
        "timeoutSeconds": 0,
        "fits": inputs.fits,
    }


# ------------------------------------------------------------------------- upstream side

# `BenchmarkAllocate/scheduler_perf_node-2   2000   15503 ns/op   12.30 median-us ...`: the
# name, the iteration count, then value-unit pairs. The `-N` suffix is GOMAXPROCS when not 1.
_BENCH_LINE = re.compile(r"^(Benchmark[^\s/]+)/(\S+?)(?:-(\d+))?\s+(\d+)\s+(.*)$")
_ALLOCATOR_LOG = re.compile(r"^\s+\S+\.go:\d+: (\S+): allocator (\S+)$")


@dataclass(frozen=True)
class GoRun:
    """One benchmark line: one round of `iterations` calls."""

    benchmark: str
    case: str
    procs: int
    iterations: int
    metrics: dict[str, float]


def parse_go_bench(text: str) -> tuple[list[GoRun], dict[str, str]]:
    """Benchmark lines of `go test -bench` output, and the allocator each case logged."""
    runs: list[GoRun] = []
    chosen: dict[str, str] = {}
    for line in text.splitlines():
        match = _BENCH_LINE.match(line)
        if match:
            benchmark, case, procs, iterations, rest = match.groups()
            fields = rest.split()
            pairs = zip(fields[::2], fields[1::2], strict=False)
            metrics = {unit: float(value) for value, unit in pairs}
            runs.append(GoRun(benchmark, case, int(procs or 1), int(iterations), metrics))
            continue
        logged = _ALLOCATOR_LOG.match(line)
        if logged:
            chosen[logged.group(1)] = logged.group(2)
    return runs, chosen


def summarize_go(runs: list[GoRun], benchmark: str, case: str) -> dict[str, Any] | None:
    """The median over rounds of one benchmark's per-call median, p99 and mean."""
    mine = [r for r in runs if r.benchmark == benchmark and r.case == case]
    if not mine:
        return None
    medians = [r.metrics["median-us"] for r in mine]
    return {
        "median_us": round(statistics.median(medians), 1),
        "p99_us": round(statistics.median(r.metrics["p99-us"] for r in mine), 1),
        "mean_us": round(statistics.median(r.metrics["ns/op"] for r in mine) / 1000, 1),
        "median_min_us": round(min(medians), 1),
        "median_max_us": round(max(medians), 1),
        "allocs_per_call": statistics.median(r.metrics.get("allocs/op", 0.0) for r in mine),
        "calls_per_run": mine[0].iterations,
        "runs": len(mine),
        "gomaxprocs": mine[0].procs,
    }


def go_command(repeat: int, runs: int, cpu: int, timeout: float) -> list[str]:
    pattern = "^(" + "|".join(GO_BENCHMARKS) + ")$"
    return [
        "go",
        "test",
        "-trimpath",
        "-run",
        "^$",
        "-bench",
        pattern,
        "-benchtime",
        f"{repeat}x",
        "-count",
        str(runs),
        "-cpu",
        str(cpu),
        "-timeout",
        f"{int(timeout)}s",
        ".",
    ]


def run_upstream(cases_file: Path, repeat: int, runs: int, cpu: int, timeout: float) -> str:
    """`go test -bench` in tools/draoracle over `cases_file`; its output, or SystemExit."""
    if shutil.which("go") is None:
        raise SystemExit("upstream_allocator: go is not on PATH")
    env = dict(os.environ)
    # As tools/build.sh builds: the pinned Go, the build cache it filled. go.sum stays as
    # committed (-mod=readonly is go test's default once GOFLAGS says nothing of -mod).
    env.update(
        GOTOOLCHAIN="local",
        GOFLAGS="-buildvcs=false",
        CGO_ENABLED="0",
        **{CASES_ENV: str(cases_file)},
    )
    command = go_command(repeat, runs, cpu, timeout)
    try:
        done = subprocess.run(
            command,
            cwd=DRAORACLE,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout + 120,  # compiling the test binary comes first
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        message = f"upstream_allocator: {' '.join(command)} took over {error.timeout} s"
        raise SystemExit(message) from None
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"upstream_allocator: go test exited with {done.returncode}")
    return done.stdout


# ---------------------------------------------------------------------------- dralloc side


def run_dralloc(inputs: Inputs, repeat: int, runs: int) -> dict[str, Any]:
    """allocator.py's measurement, on the defaulted objects the Go benchmark reads: the same
    claim object every call, so its prepared requests are reused after the first."""
    run = dralloc_bench._runner(
        inputs.node,
        inputs.slices,
        inputs.classes,
        inputs.claim,
        inputs.allocated,
        fits=inputs.fits,
    )
    return dralloc_bench.measure(run, repeat, runs)


def run_dralloc_new_claims(inputs: Inputs, repeat: int, runs: int) -> dict[str, Any]:
    """The same allocator and Inventory, but a new claim object (a copy made untimed) every
    call, as every pod brings its own claim to a scheduler: nothing prepared for one claim
    serves the next. Node-level caches (candidates, selector outcomes per device) still serve,
    as they do in a scheduler while a node's slices are unchanged."""
    features = Features()
    inventory = Inventory(inputs.slices, features)
    state = allocated_state(inputs.allocated, features)
    allocator = Allocator(features, options=AllocatorOptions(timeout=None))
    classes = {c.metadata.name: c for c in inputs.classes}

    def call(claim: ResourceClaim) -> float:
        start = time.perf_counter_ns()
        result = allocator.allocate(inputs.node, [claim], inventory, classes, state)
        elapsed = (time.perf_counter_ns() - start) / 1000
        if (result is not None) != inputs.fits:
            raise RuntimeError(f"claim {inputs.claim.metadata.name}: outcome changed")
        return elapsed

    for _ in range(min(50, repeat) + 1):
        call(clone(inputs.claim))  # compiles the selectors; warms the node's caches
    medians: list[float] = []
    p99s: list[float] = []
    for _ in range(runs):
        claims = [clone(inputs.claim) for _ in range(repeat)]
        samples = sorted(call(claim) for claim in claims)
        medians.append(statistics.median(samples))
        p99s.append(samples[min(len(samples) - 1, int(len(samples) * 0.99))])
    return {
        "median_us": round(statistics.median(medians), 1),
        "p99_us": round(statistics.median(p99s), 1),
        "median_min_us": round(min(medians), 1),
        "median_max_us": round(max(medians), 1),
        "calls_per_run": repeat,
        "runs": runs,
    }


def oracle_binary() -> Path:
    """dra-oracle as tools/build.sh builds it (the rule tests/oracle uses)."""
    home = os.environ.get("DRALLOC_K8S_HOME")
    base = Path(home) if home else Path.home() / ".cache" / "dralloc" / "k8s-v1.36.3"
    return base / "bin" / "dra-oracle"


def devices_of(results: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    return [
        (r["request"], r["driver"], r["pool"], r["device"])
        for result in results
        for r in result["devices"]["results"]
    ]


def same_devices(cases_file: Path, inputs: dict[str, Inputs]) -> dict[str, bool | None]:
    """Whether dra-oracle (upstream's allocator, one call per case) and dralloc's allocator
    pick the same devices for each case; None for every case without a built dra-oracle. A
    speed comparison means little if the two do different work."""
    binary = oracle_binary()
    if not os.access(binary, os.X_OK):
        return dict.fromkeys(inputs)
    with cases_file.open() as stdin:
        done = subprocess.run(
            [str(binary)], stdin=stdin, capture_output=True, text=True, timeout=300, check=False
        )
    answers = {a["id"]: a for a in map(json.loads, done.stdout.splitlines())}
    found: dict[str, bool | None] = {}
    for name, case in inputs.items():
        features = Features()
        allocator = Allocator(features, options=AllocatorOptions(timeout=None))
        mine = allocator.allocate(
            case.node,
            [case.claim],
            Inventory(case.slices, features),
            {c.metadata.name: c for c in case.classes},
            allocated_state(case.allocated, features),
        )
        answer = answers.get(name, {})
        theirs = (
            devices_of(answer.get("results", [])) if answer.get("status") == "allocated" else None
        )
        found[name] = (devices_of(to_builtins(mine)) if mine is not None else None) == theirs
    return found


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
    go = subprocess.run(["go", "version"], capture_output=True, text=True, check=False).stdout
    return {
        "nproc": os.cpu_count(),
        "cpu": model or platform.processor(),
        "python": platform.python_version(),
        "go": go.strip(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _ratio(mine: dict[str, Any] | None, theirs: dict[str, Any] | None) -> float | None:
    if not mine or not theirs or theirs["median_us"] <= 0:
        return None
    return round(mine["median_us"] / theirs["median_us"], 2)


def rows(
    names: list[str],
    dralloc: dict[str, dict[str, Any]],
    go_runs: list[GoRun],
    chosen: dict[str, str],
    dralloc_new_claims: dict[str, dict[str, Any]] | None = None,
    agree: dict[str, bool | None] | None = None,
) -> list[dict[str, Any]]:
    out = []
    for name in names:
        allocate = summarize_go(go_runs, "BenchmarkAllocate", name)
        new_claim = (dralloc_new_claims or {}).get(name)
        out.append(
            {
                "case": name,
                "dralloc": dralloc[name],
                "dralloc_new_claim": new_claim,
                "upstream_allocate": allocate,
                "upstream_new_allocator_allocate": summarize_go(
                    go_runs, "BenchmarkNewAllocatorAllocate", name
                ),
                "upstream_allocator": chosen.get(name, ""),
                "same_devices": (agree or {}).get(name),
                "ratio": _ratio(dralloc[name], allocate),
                "ratio_new_claim": _ratio(new_claim, allocate),
            }
        )
    return out


def _us(figures: dict[str, Any] | None, key: str = "median_us") -> str:
    return "n/a" if figures is None else f"{figures[key]:.1f}"


def _x(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{ratio:.2f}"


def _same(agree: bool | None) -> str:
    return "n/a" if agree is None else "yes" if agree else "NO"


def table(found: list[dict[str, Any]]) -> str:
    head = (
        f"{'case':29} {'dralloc':>8} {'(p99)':>8} {'new claim':>9}  {'upstream':>8} "
        f"{'(p99)':>8}  {'ratio':>5} {'new claim':>9}  {'upstream New+Allocate':>21}  same"
    )
    lines = [head, "-" * len(head)]
    for row in found:
        lines.append(
            f"{row['case']:29} {_us(row['dralloc']):>8} {_us(row['dralloc'], 'p99_us'):>8} "
            f"{_us(row['dralloc_new_claim']):>9}  {_us(row['upstream_allocate']):>8} "
            f"{_us(row['upstream_allocate'], 'p99_us'):>8}  {_x(row['ratio']):>5} "
            f"{_x(row['ratio_new_claim']):>9}  {_us(row['upstream_new_allocator_allocate']):>21}  "
            f"{_same(row['same_devices'])}"
        )
    lines.append(
        "microseconds per claim, median over rounds of the per-call median; upstream = "
        "Allocate on a built allocator; ratio = dralloc / upstream (< 1: dralloc faster); "
        "same: both chose the same devices (dra-oracle)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--case", action="append", choices=CASE_NAMES)
    parser.add_argument("--repeat", type=int, default=2000, help="calls per round (both sides)")
    parser.add_argument("--runs", type=int, default=5, help="rounds per case (both sides)")
    parser.add_argument("--quick", action="store_true", help="200 calls x 2 rounds")
    parser.add_argument("--go-cpu", type=int, default=1, help="GOMAXPROCS of the Go benchmark")
    parser.add_argument(
        "--upstream-allocator",
        default="",
        choices=["", "stable", "incubating", "experimental"],
        help="upstream implementation (default: NewAllocator picks, as kube-scheduler)",
    )
    parser.add_argument("--timeout", type=float, default=900, help="seconds for go test")
    parser.add_argument("--json", action="store_true", help="one JSON object per case per line")
    parser.add_argument("--out", type=Path, help="write the whole run as one JSON document")
    parser.add_argument("--keep", type=Path, help="keep the case file and Go output here")
    args = parser.parse_args(argv)
    repeat, runs = (200, 2) if args.quick else (args.repeat, args.runs)
    names = args.case or CASE_NAMES
    inputs = {name: defaulted(case_inputs(name)) for name in names}

    with tempfile.TemporaryDirectory(prefix="upstream-allocator-") as scratch:
        where = args.keep or Path(scratch)
        where.mkdir(parents=True, exist_ok=True)
        cases_file = where / "cases.jsonl"
        with cases_file.open("w") as out:
            for name in names:
                case = oracle_case(name, inputs[name], args.upstream_allocator)
                out.write(json.dumps(case, separators=(",", ":")) + "\n")
        # One side after the other, never both at once.
        go_output = run_upstream(cases_file, repeat, runs, args.go_cpu, args.timeout)
        (where / "go-bench.txt").write_text(go_output)
        agree = same_devices(cases_file, inputs)
    dralloc = {name: run_dralloc(inputs[name], repeat, runs) for name in names}
    new_claims = {name: run_dralloc_new_claims(inputs[name], repeat, runs) for name in names}
    go_runs, chosen = parse_go_bench(go_output)
    found = rows(names, dralloc, go_runs, chosen, new_claims, agree)
    if args.json:
        for row in found:
            print(json.dumps(row), flush=True)
    else:
        print(table(found), flush=True)
    if args.out:
        document = {
            "machine": machine(),
            "command": [sys.executable, *sys.argv],
            "go_command": go_command(repeat, runs, args.go_cpu, args.timeout),
            "cases": found,
            "go_output": go_output,
        }
        tmp = args.out.with_name(args.out.name + ".tmp")
        tmp.write_text(json.dumps(document, indent=2) + "\n")
        tmp.replace(args.out)
    differ = [row["case"] for row in found if row["same_devices"] is False]
    if differ:
        print(f"upstream_allocator: other devices chosen in {', '.join(differ)}", file=sys.stderr)
    missing = [row["case"] for row in found if row["upstream_allocate"] is None]
    if missing:
        print(f"upstream_allocator: no Go figures for {', '.join(missing)}", file=sys.stderr)
    return 1 if missing or differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
