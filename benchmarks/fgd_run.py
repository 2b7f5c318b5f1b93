"""One FGD-experiment run end to end: seconds per (workload, policy, seed) on one core.

A run is what `dralloc simulate` does per cell of its grid (spec/fgd.md section 2): load the
trace, tune the arrivals to 130% of GPU capacity, place every arrival through the scheduler
(NodeResourcesFit, GpuCapacityFilter, DynamicResources with the allocator, the policy's score
plugin), log the curves. Loading the trace is included; writing CSVs and the report is not.

`--json` prints one object per line per run: `workload`, `policy`, `seed`, `pods`,
`scheduled`, `seconds`, `ms_per_pod`, and `unallocated_at_100` (unallocated GPU % when the
arrived GPU request equals capacity), so a speed-up can be checked to change no result.
Run: `python benchmarks/fgd_run.py [--workload openb:default] [--trace-dir DIR]
[--policy NAME ...] [--seed N] [--json]`.
"""

from __future__ import annotations

import argparse
import json
import time

from dralloc.sim.experiment import POLICIES, run_fgd
from dralloc.sim.fgd import bucket
from dralloc.sim.traces import ArrivalTrace, resolve_arrival_trace


def run(workload: str, policy: str, seed: int, trace_dir: str | None = None) -> dict[str, object]:
    started = time.perf_counter()
    return measure(resolve_arrival_trace(workload, trace_dir), policy, seed, started)


def measure(
    trace: ArrivalTrace, policy: str, seed: int, started: float | None = None
) -> dict[str, object]:
    started = time.perf_counter() if started is None else started
    result = run_fgd(trace, policy, seed)
    seconds = time.perf_counter() - started
    curve = bucket(result.log, result.total_gpus * 1000)
    at_100 = curve[100]
    return {
        "workload": trace.workload,
        "policy": policy,
        "seed": seed,
        "pods": result.pods,
        "scheduled": result.scheduled,
        "seconds": round(seconds, 2),
        "ms_per_pod": round(1000 * seconds / max(result.pods, 1), 2),
        "unallocated_at_100": round(100 - at_100.alloc_ratio, 2) if at_100 else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default="openb:default")
    parser.add_argument("--policy", action="append", choices=POLICIES)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--trace-dir", help="a full copy of the openb trace, for variants")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    for policy in args.policy or POLICIES:
        figures = run(args.workload, policy, args.seed, args.trace_dir)
        if args.json:
            print(json.dumps(figures), flush=True)
        else:
            print(
                f"{policy:>10}  {figures['pods']:>6} pods  {figures['seconds']:>7} s  "
                f"{figures['ms_per_pod']} ms/pod  unallocated at 100%: "
                f"{figures['unallocated_at_100']}%",
                flush=True,
            )


if __name__ == "__main__":
    main()
