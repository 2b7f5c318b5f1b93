"""`dralloc consolidate`: a plan that moves preemptible pods to reopen whole GPUs or hosts.

    dralloc consolidate -f FILE [-f ...] [--goal gpus|hosts] [--priority-below N]
                        [--count N] [--max-moves N] [--include-bare-pods]
                        [--config FILE] [--feature-gates ...] [--seed N] [-o table|yaml|json]

The files hold what `dralloc schedule -f` reads: Nodes, ResourceSlices, DeviceClasses,
PriorityClasses, PodDisruptionBudgets, bound pods (`spec.nodeName`) and their allocated
ResourceClaims. The input is checked and loaded exactly as `dralloc schedule` does it
(`cli.schedule.plan_schedule`: every problem at once, exit 2); pending pods are not tried
(stderr says how many). `dralloc.controllers.consolidation` makes the plan on the scheduler
cache, re-placing every moved pod with the same framework and allocator.

Output: with `-o table` (default) a table of moves (pod, from node and devices, to node and
devices) and a summary of whole GPUs and hosts free before and after; with `-o yaml|json` a
`kind: List` of the objects after the plan: each moved pod (as given, `spec.nodeName`
changed) followed by its claims (`status.allocation` and `reservedFor` as the scheduler
wrote them). stderr names every unit that could not be reopened and why.

Exit codes: 0 at least one unit reopened; 1 none could be; 2 invalid input.

Register from `cli.main`; this module must not import it.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Sequence
from enum import StrEnum
from typing import Any, NoReturn

import typer

from dralloc.api.core import Pod
from dralloc.api.io import dump, kube_dict, list_document, to_builtins
from dralloc.api.workloads import Deployment, Job, ReplicaSet, StatefulSet
from dralloc.cli.inputs import read_cluster
from dralloc.cli.options import Validate, field_validation, report_reading
from dralloc.cli.options import feature_gates as parse_feature_gates
from dralloc.cli.schedule import SchedulePlan, plan_schedule
from dralloc.cli.tables import Column, TextTable
from dralloc.controllers.consolidation import (
    ConsolidationOptions,
    ConsolidationResult,
    Goal,
    consolidate,
)
from dralloc.errors import InputError
from dralloc.scheduler.cache import pod_claim_keys
from dralloc.scheduler.config import SchedulerConfiguration, load_config
from dralloc.scheduler.plugins.defaultpreemption import ControllerScales, with_status
from dralloc.scheduler.profiles import plugin_names

EXIT_OK = 0
EXIT_NONE = 1
EXIT_INPUT = 2


class ConsolidateOutputFormat(StrEnum):
    table = "table"
    yaml = "yaml"
    json = "json"


def _err(message: str) -> None:
    sys.stderr.write(message.rstrip("\n") + "\n")


def _fail(code: int, message: str) -> NoReturn:
    _err(message)
    raise typer.Exit(code)


def _devices(refs: Sequence[object]) -> str:
    return ", ".join(str(r) for r in refs) or "-"


def _print_table(result: ConsolidationResult) -> None:
    table = TextTable(
        [
            Column("POD"),
            Column("FROM NODE"),
            Column("FROM DEVICES"),
            Column("TO NODE"),
            Column("TO DEVICES"),
        ]
    )
    for move in result.moves:
        table.add_row(
            move.pod,
            move.from_node,
            _devices(move.from_devices),
            move.to_node,
            _devices(move.to_devices),
        )
    if result.moves:
        table.print()
    else:
        sys.stdout.write("no pod moves\n")


def _summary(result: ConsolidationResult) -> list[str]:
    lines = [
        f"whole GPUs free: {result.free_gpus_before} -> {result.free_gpus_after}",
        f"whole hosts free: {result.free_hosts_before} -> {result.free_hosts_after}",
    ]
    if result.reopened:
        lines.append(f"reopened: {', '.join(result.reopened)}")
    return lines


def _objects(plan: SchedulePlan, result: ConsolidationResult) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for key, pod in result.moved_pods.items():
        loaded = plan.running[key]
        out = copy.deepcopy(loaded.raw)
        out.setdefault("spec", {})["nodeName"] = pod.spec.node_name
        items.append(out)
        for _, claim_key in pod_claim_keys(pod):
            if claim_key is None or claim_key not in plan.cache.claims:
                continue
            claim = plan.cache.claims[claim_key]
            raw = plan.raw_claims.get(claim_key)
            if raw is None:
                items.append(kube_dict(claim))
                continue
            claim_out = copy.deepcopy(raw.raw)
            status = dict(claim_out.get("status") or {})
            for modelled in ("allocation", "reservedFor", "devices"):
                status.pop(modelled, None)
            status.update(to_builtins(claim.status))
            claim_out["status"] = status
            items.append(claim_out)
    return items


def consolidate_command(
    files: list[str],
    *,
    goal: Goal = Goal.gpus,
    priority_below: int = 100,
    count: int | None = None,
    max_moves: int | None = None,
    include_bare_pods: bool = False,
    config: str | None = None,
    feature_gates: str = "",
    seed: int | None = None,
    output: ConsolidateOutputFormat = ConsolidateOutputFormat.table,
    recursive: bool = False,
    validate: Validate = Validate.strict,
) -> None:
    """Read, plan, print; exits with the module's codes."""
    if not files:
        _fail(EXIT_INPUT, "give the cluster with -f FILE")
    features = parse_feature_gates(feature_gates)
    try:
        cluster = read_cluster(files, recursive=recursive, validation=field_validation(validate))
        report_reading(cluster, verbose=False)
        configuration = load_config(config, plugin_names()) if config else SchedulerConfiguration()
        for warning in configuration.warnings:
            _err(f"warning: {config}: {warning}")
        plan, frameworks = plan_schedule(cluster, configuration, features, seed)
    except InputError as err:
        _fail(EXIT_INPUT, str(err))
    for warning in plan.warnings:
        _err(f"warning: {warning}")
    if plan.pending:
        count_pending = len(plan.pending)
        _err(f"note: {count_pending} pending pod(s) not tried: consolidation moves bound pods")
    cache = plan.cache
    workloads = [
        o.obj
        for o in cluster.objects
        if isinstance(o.obj, Deployment | ReplicaSet | StatefulSet | Job)
    ]

    def running() -> list[Pod]:
        return [info.pod for info, _ in cache.pods.values()]

    budgets = with_status(
        cache.disruption_budgets.values(), running, ControllerScales.of(workloads)
    )
    options = ConsolidationOptions(
        goal=goal,
        priority_below=priority_below,
        count=count,
        max_moves=max_moves,
        include_bare_pods=include_bare_pods,
    )
    # A gang is placed as one pod group: its members are not moved one by one.
    keep = {
        key: f"is in gang {gang.ref}"
        for key in cache.pods
        if (gang := plan.gangs.gang_of(key)) is not None
    }
    result = consolidate(cache, frameworks, cluster.slices, options, budgets, keep)
    if output == ConsolidateOutputFormat.table:
        _print_table(result)
        sys.stdout.write("".join(f"{line}\n" for line in _summary(result)))
    else:
        sys.stdout.write(dump(list_document(_objects(plan, result)), output.value))
        for line in _summary(result):
            _err(line)
    for name, (reason, detail) in result.skipped.items():
        _err(f"{name}: not reopened: {reason}: {detail}")
    raise typer.Exit(EXIT_OK if result.reopened else EXIT_NONE)
