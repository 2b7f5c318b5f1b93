"""CLI start-up: wall-clock seconds of short `dralloc` commands, each in a fresh process.

Cases (names are a contract; `--json` prints one object per line per case):
  python_startup        `python -c pass`: the interpreter alone, the floor under every case
  help                  `dralloc --help`                                  (target < 0.3 s)
  allocate_help         `dralloc allocate --help`                         (target < 0.3 s)
  allocate_quickstart   `dralloc allocate -f examples/quickstart.yaml`    (target < 0.6 s)

Each case runs once to warm the file cache and bytecode, then `--runs` times (default 10);
the figures are the median, minimum and maximum wall time of those runs, measured around
`subprocess.run` with output discarded. A run must exit 0, so a broken command never passes
for a fast one. `dralloc` is the console script next to this Python (what users run), or
`python -c "from dralloc.cli.main import run; run()"` where there is none.

Bytecode: the commands keep their compiled modules in a private temporary directory
(PYTHONPYCACHEPREFIX), written by the warm-up run, as an installed package has them after its
first run, whatever PYTHONDONTWRITEBYTECODE says and without writing into the source tree.
`--no-bytecode` measures the other extreme: every module compiled from source on every run.
Run: `python benchmarks/cli_startup.py [--runs N] [--case NAME ...] [--no-bytecode] [--json]`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Commands run in the repository's root, where `examples/quickstart.yaml` is.
ROOT = Path(__file__).resolve().parents[1]

# case: (arguments after `dralloc`, or None for the bare interpreter; target seconds or None)
CASES: dict[str, tuple[list[str] | None, float | None]] = {
    "python_startup": (None, None),
    "help": (["--help"], 0.3),
    "allocate_help": (["allocate", "--help"], 0.3),
    "allocate_quickstart": (["allocate", "-f", "examples/quickstart.yaml"], 0.6),
}


def dralloc_command() -> list[str]:
    """How to start `dralloc`: the installed console script if there is one."""
    script = Path(sys.executable).with_name("dralloc")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from dralloc.cli.main import run; run()"]


def command_of(case: str) -> list[str]:
    arguments, _ = CASES[case]
    if arguments is None:
        return [sys.executable, "-c", "pass"]
    return [*dralloc_command(), *arguments]


def shown_command(case: str) -> str:
    """The case's command as a reader would type it."""
    arguments, _ = CASES[case]
    return "python -c pass" if arguments is None else " ".join(["dralloc", *arguments])


def environment(cache: Path, bytecode: bool) -> dict[str, str]:
    """The commands' environment: bytecode kept under `cache`, or never written."""
    env = dict(os.environ, PYTHONPYCACHEPREFIX=str(cache))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if not bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _once(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False, cwd=ROOT, env=env
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        error = done.stderr.decode(errors="replace").strip()
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: {error}")
    return seconds


def measure(case: str, runs: int, *, bytecode: bool = True) -> dict[str, object]:
    """Run the case's command once to warm up, then `runs` times; seconds per run."""
    command = command_of(case)
    with tempfile.TemporaryDirectory(prefix="dralloc-pycache-") as cache:
        env = environment(Path(cache), bytecode)
        _once(command, env)
        times = [_once(command, env) for _ in range(runs)]
    _, target = CASES[case]
    median = statistics.median(times)
    return {
        "case": case,
        "command": shown_command(case),
        "runs": runs,
        "bytecode": bytecode,
        "median_s": round(median, 3),
        "min_s": round(min(times), 3),
        "max_s": round(max(times), 3),
        "target_s": target,
        "met": None if target is None else median < target,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", action="store_true", help="one JSON object per case per line")
    parser.add_argument("--runs", type=int, default=10, help="timed runs per case")
    parser.add_argument("--case", action="append", choices=sorted(CASES))
    parser.add_argument(
        "--no-bytecode", action="store_true", help="compile every module on every run"
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    names = args.case or list(CASES)
    if not args.json:
        print(f"{'case':22} {'median':>8} {'min':>8} {'max':>8}  {'target':14}  command")
    for name in names:
        figures = measure(name, args.runs, bytecode=not args.no_bytecode)
        if args.json:
            print(json.dumps(figures))
        else:
            target = figures["target_s"]
            verdict = (
                "" if target is None else f"< {target} s {'met' if figures['met'] else 'MISSED'}"
            )
            print(
                f"{name:22} {figures['median_s']:>7.3f}s {figures['min_s']:>7.3f}s "
                f"{figures['max_s']:>7.3f}s  {verdict:14}  {figures['command']}"
            )
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
