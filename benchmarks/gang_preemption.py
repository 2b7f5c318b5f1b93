"""Gang preemption: what one workload-aware preemption costs (gate WorkloadAwarePreemption).

Part (the name is a contract; `--json` prints one object per line per case):

  gang-preemption  `--nodes` (100) nodes of 4 cpu, each running 4 pods of 1 cpu at priority 1
                   (`--nodes` x 4 running pods), and a pending PodGroup
                   (`scheduling.k8s.io/v1alpha2`, gang minCount = size) of `--gang` (16) pods
                   of 4 cpu at priority 100: it fits nowhere until `--gang` whole nodes are
                   emptied, so DefaultPreemption's pod-group evaluator takes every running
                   pod off, then reprieves them one by one, one gang cycle per victim unit.
                   Cases (`mode`): `plain` is the framework the live scheduler builds (no
                   verdict memory) with the what-if's scoped memory off; `scoped` is the same
                   framework with it on (`Framework.remembering`); `remembered` is the
                   framework `dralloc schedule` builds (verdicts remembered across every
                   cycle). All three must evict the same pods and place the gang on the same
                   nodes, with the same rng and start index after (checked; a difference
                   exits 1).

What is timed: `place_gang_preempting` alone (building the objects and the scheduler is
`setup_seconds`), `--repeat` times per mode, each on a fresh scheduler; the figures are the
median and the spread (max - min) of the wall and CPU seconds. `gang_cycles`,
`schedule_calls` and `filter_calls` come from one extra untimed run that counts them.

Run: `python benchmarks/gang_preemption.py [--smoke] [--json] [--out FILE] [--nodes N]
[--gang N] [--repeat N] [--mode plain,scoped,remembered] [--profile]`. `--smoke` runs tiny
sizes (the test suite uses it); `--profile` runs cProfile over one timed run per mode and
prints the top functions to stderr. Bounded: one preemption per run, at most
`--nodes` x 4 + 1 gang cycles.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dralloc.api.core import Node, Pod
from dralloc.api.io import load_text
from dralloc.features import parse_gates
from dralloc.scheduler.builder import BuiltScheduler, SchedulerInputs, build_scheduler
from dralloc.scheduler.framework import Framework, PodInfo
from dralloc.scheduler.gangs import Gang, GangIndex, collect_gangs, place_gang_preempting

MODES = ("plain", "scoped", "remembered")
GATES = "GenericWorkload=true,GangScheduling=true,WorkloadAwarePreemption=true"
PODS_PER_NODE = 4
SEED = 7


def progress(message: str) -> None:
    print(f"[gang_preemption {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def documents(nodes: int, gang: int) -> str:
    """The cluster of the module docstring as the YAML a user would apply."""
    docs = []
    for n in range(nodes):
        name = f"node-{n:04d}"
        docs.append(
            f"apiVersion: v1\nkind: Node\nmetadata: {{name: {name}, "
            f"labels: {{kubernetes.io/hostname: {name}}}}}\n"
            "status: {allocatable: {cpu: '4', memory: 16Gi, pods: '110'}}\n"
        )
        for p in range(PODS_PER_NODE):
            docs.append(
                f"apiVersion: v1\nkind: Pod\nmetadata: {{name: run-{n:04d}-{p}, "
                "namespace: default, creationTimestamp: '2026-01-01T00:00:00Z'}\n"
                f"spec:\n  priority: 1\n  nodeName: {name}\n"
                "  containers:\n  - name: c\n    resources: {requests: {cpu: '1'}}\n"
            )
    docs.append(
        "apiVersion: scheduling.k8s.io/v1alpha2\nkind: PodGroup\n"
        "metadata: {name: train, namespace: default}\n"
        f"spec:\n  schedulingPolicy: {{gang: {{minCount: {gang}}}}}\n  priority: 100\n"
    )
    for i in range(gang):
        docs.append(
            f"apiVersion: v1\nkind: Pod\nmetadata: {{name: train-{i}, namespace: default}}\n"
            "spec:\n  priority: 100\n  schedulingGroup: {podGroupName: train}\n"
            "  containers:\n  - name: c\n    resources: {requests: {cpu: '4'}}\n"
        )
    return "---\n".join(docs)


@dataclass
class Setup:
    built: BuiltScheduler
    framework: Framework
    gangs: GangIndex
    gang: Gang
    pending: list[Pod]
    rng: random.Random


def build(text: str, mode: str) -> Setup:
    """A scheduler over the cluster, its frameworks as the live scheduler (`plain`,
    `scoped`) or `dralloc schedule` (`remembered`) build them, the running pods assumed."""
    features = parse_gates(GATES)
    objects, problems = load_text(text, "<gang_preemption>")
    if problems:
        raise SystemExit(f"bad generated input: {problems[0]}")
    collected = collect_gangs(objects, features)
    found = [o.obj for o in objects]
    rng = random.Random(SEED)
    built = build_scheduler(
        SchedulerInputs(
            features,
            nodes=[o for o in found if isinstance(o, Node)],
            rng=rng,
            remember_verdicts=mode == "remembered",
            gangs=collected.index,
        )
    )
    pending = []
    for obj in found:
        if isinstance(obj, Pod):
            if obj.spec.node_name:
                built.cache.assume_pod(PodInfo.of(obj), obj.spec.node_name)
            else:
                pending.append(obj)
    gang = next(iter(collected.index.gangs.values()))
    return Setup(built, built.framework(), collected.index, gang, pending, rng)


def preempt(setup: Setup, mode: str) -> tuple[object, ...]:
    """One preemption and placement; what must be equal across modes."""
    placement, preemption = place_gang_preempting(
        setup.built.cache,
        setup.framework,
        setup.gang,
        setup.pending,
        gangs=setup.gangs,
        remember_verdicts=mode != "plain",
    )
    victims = tuple(v.key for v in preemption.victims) if preemption is not None else ()
    return (
        victims,
        tuple(sorted(placement.placed.items())),
        placement.status,
        setup.framework.next_start_node_index,
        setup.rng.getstate(),
    )


@dataclass
class Counts:
    gang_cycles: int = 0
    schedule_calls: int = 0
    filter_calls: int = 0


def count(text: str, mode: str) -> Counts:
    """One untimed run with the framework's entry points wrapped (instance attributes only)."""
    setup = build(text, mode)
    framework = setup.framework
    counts = Counts()
    schedule = framework.schedule
    run_filters = framework.run_filters

    def counted_schedule(*args: Any, **kwargs: Any) -> Any:
        counts.schedule_calls += 1
        return schedule(*args, **kwargs)

    def counted_filters(*args: Any, **kwargs: Any) -> Any:
        counts.filter_calls += 1
        return run_filters(*args, **kwargs)

    framework.schedule = counted_schedule  # type: ignore[method-assign]
    framework.run_filters = counted_filters  # type: ignore[method-assign]
    preempt(setup, mode)
    # Every member of every cycle calls schedule once.
    counts.gang_cycles = counts.schedule_calls // max(1, len(setup.pending))
    return counts


def run_mode(args: argparse.Namespace, text: str, mode: str) -> tuple[dict[str, Any], object]:
    walls: list[float] = []
    cpus: list[float] = []
    setup_seconds: list[float] = []
    outcome: object = None
    for attempt in range(args.repeat):
        began = time.perf_counter()
        setup = build(text, mode)
        setup_seconds.append(time.perf_counter() - began)
        profile = cProfile.Profile() if args.profile and attempt == 0 else None
        if profile is not None:
            profile.enable()
        wall, cpu = time.perf_counter(), time.process_time()
        outcome = preempt(setup, mode)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if profile is not None:
            profile.disable()
            print_profile(profile, mode)
        walls.append(wall)
        cpus.append(cpu)
        progress(f"{mode} run {attempt + 1}/{args.repeat}: {wall:.2f} s")
    counts = count(text, mode)
    victims = outcome[0] if isinstance(outcome, tuple) else ()
    row = {
        "part": "gang-preemption",
        "case": f"{args.nodes}nodes_{args.nodes * PODS_PER_NODE}pods_gang{args.gang}",
        "label": "smoke" if args.smoke else "perf",
        "mode": mode,
        "runs": args.repeat,
        "wall_seconds_median": round(statistics.median(walls), 3),
        "wall_seconds_spread": round(max(walls) - min(walls), 3),
        "cpu_seconds_median": round(statistics.median(cpus), 3),
        "setup_seconds": round(statistics.median(setup_seconds), 3),
        "victims": len(victims),
        "gang_cycles": counts.gang_cycles,
        "schedule_calls": counts.schedule_calls,
        "filter_calls": counts.filter_calls,
    }
    return row, outcome


def print_profile(profile: cProfile.Profile, title: str, top: int = 25) -> None:
    text = io.StringIO()
    stats = pstats.Stats(profile, stream=text)
    stats.sort_stats("tottime").print_stats(top)
    print(f"--- cProfile: {title}\n{text.getvalue()}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for the test suite")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", type=Path, help="also write the JSON lines to this file")
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--gang", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--mode", type=lambda s: s.split(","), default=list(MODES))
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    if args.smoke:
        args.nodes, args.gang, args.repeat = 6, 2, 1
    unknown = [m for m in args.mode if m not in MODES]
    if unknown:
        parser.error(f"--mode: unknown {unknown[0]!r}, expected one of {', '.join(MODES)}")
    if args.gang > args.nodes or args.nodes < 1 or args.gang < 1 or args.repeat < 1:
        parser.error("--nodes and --gang must be >= 1 with --gang <= --nodes; --repeat >= 1")
    return args


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    args = parse_args(argv)
    text = documents(args.nodes, args.gang)
    figures: list[dict[str, Any]] = []
    outcomes: dict[str, object] = {}
    emit: Callable[[str], None] = print
    for mode in args.mode:
        row, outcomes[mode] = run_mode(args, text, mode)
        figures.append(row)
        line = json.dumps(row)
        if args.out is not None:
            with args.out.open("a") as sink:
                sink.write(line + "\n")
        emit(line if args.json else "  ".join(f"{k}={v}" for k, v in row.items()))
    first = next(iter(outcomes.values()), None)
    differ = [mode for mode, outcome in outcomes.items() if outcome != first]
    if differ:
        progress(f"outcomes differ between modes: {differ} vs {args.mode[0]}")
        raise SystemExit(1)
    return figures


if __name__ == "__main__":
    main()
