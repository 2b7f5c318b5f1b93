"""The question `dralloc size` answers (spec/autoscaling.md §9.6): a trace, a waiting-time
target and a `kind: Autoscaling` file turned into the shapes searched, how many nodes of each
at most, and what a node of each costs; and a fleet of node counts turned back into the
`static` file a replay runs. Pure computation, no I/O.

* **The fleet.** The file gives the shapes (devices, prices, delays); a fleet is a node
  count per searched shape (`sizing.shapes`, else every shape of the file), bought as the
  capacity type of the file's node group of that shape (on-demand when there is none).
* **The bound.** A shape's count goes up to that group's `max` when it is above 0; in a
  karpenter file, up to the nodes of it its NodePools' `limits` admit (summed over the pools
  listing it, counted as Karpenter counts a node against them); otherwise up to twice the
  nodes the trace's peak GPU demand fills (every pod running from its arrival for its
  duration, none ever waiting), at least 1.

    question = sizing_question(trace, config, catalog, wait_p95=600.0)
    question.max_nodes   # {'l4x8': 6}
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

from dralloc.autoscaling.config import (
    KIND,
    AutoscalingConfig,
    CapacityType,
    Mode,
    NodeGroup,
    Predictor,
)
from dralloc.autoscaling.prediction.sizing import DEFAULT_BUDGET, FleetCounts
from dralloc.devices.catalog import Catalog
from dralloc.errors import InputError, Problem
from dralloc.sim.replay import ReplayGangs
from dralloc.sim.replay.autoscaled import fleet_shapes
from dralloc.sim.traces.timeline import ReplayTrace

__all__ = ["SizingQuestion", "sizing_question", "static_fleet_config"]

MILLI = 1000


@dataclass(frozen=True)
class SizingQuestion:
    """What `size` answers: the cheapest static fleet of `shapes` (each up to `max_nodes`,
    bought as `capacity_types`) under which `trace` replayed with `policy` and `seed` waits
    at most `wait_p95` seconds at the 95th percentile, in at most `budget` runs."""

    trace: ReplayTrace
    config: AutoscalingConfig
    catalog: Catalog
    wait_p95: float
    shapes: tuple[str, ...]
    max_nodes: Mapping[str, int]
    capacity_types: Mapping[str, CapacityType]
    prices: Mapping[str, float]  # per shape, USD per node-hour at its capacity type
    budget: int = DEFAULT_BUDGET
    policy: str = "fgd"
    seed: int = 1
    gangs: ReplayGangs | None = None

    def price_per_hour(self, fleet: FleetCounts) -> float:
        return sum(self.prices[shape] * count for shape, count in fleet)


def sizing_question(
    trace: ReplayTrace,
    config: AutoscalingConfig,
    catalog: Catalog,
    *,
    wait_p95: float | None = None,
    budget: int | None = None,
    policy: str = "fgd",
    seed: int = 1,
    gangs: ReplayGangs | None = None,
) -> SizingQuestion:
    """The question for `trace` and the file `config`: `wait_p95` and `budget` default to the
    file's `sizing` section. InputError naming the file and field: no target anywhere, a
    searched shape the trace's pods cannot use or without a price for its capacity type."""
    obj = f"{KIND} {config.name}" if config.name else KIND
    problems: list[Problem] = []
    sizing = config.sizing
    target = wait_p95 if wait_p95 is not None else (sizing.wait_p95 if sizing else None)
    if target is None:
        problems.append(
            Problem(
                config.file,
                obj,
                "sizing.constraint.waitP95",
                "required: the p95 wait to meet (or pass --wait-p95 SECONDS)",
            )
        )
    shapes = tuple(sizing.shapes) if sizing else tuple(config.shapes)
    searched = {name: config.shapes[name] for name in shapes}
    searched_config = dataclasses.replace(config, shapes=searched)
    fleet_shapes(searched_config, catalog, trace.models)  # InputError naming the shape
    groups = {g.shape: g for g in config.node_groups}
    limited = _pool_limited_nodes(config, catalog) if config.mode is Mode.KARPENTER else {}
    capacity_types: dict[str, CapacityType] = {}
    prices: dict[str, float] = {}
    max_nodes: dict[str, int] = {}
    templates = config.templates(catalog)
    peak = _peak_gpu_milli(trace)
    for name in shapes:
        shape = config.shapes[name]
        group = groups.get(name)
        capacity_type = group.capacity_type if group is not None else CapacityType.ON_DEMAND
        price = shape.price(capacity_type)
        if price is None:
            problems.append(
                Problem(
                    config.file,
                    obj,
                    f"{shape.path}.price" if shape.path else "price",
                    f"shape {name} has no {capacity_type} price: sizing prices a fleet of it "
                    f"as {capacity_type}",
                )
            )
            continue
        capacity_types[name] = capacity_type
        prices[name] = price
        if group is not None and group.max_size > 0:
            max_nodes[name] = group.max_size
        elif name in limited:
            max_nodes[name] = max(1, limited[name])
        else:
            gpus = max(templates[name].accelerator_count(), 1)
            max_nodes[name] = max(1, 2 * math.ceil(peak / (gpus * MILLI)))
    if problems:
        raise InputError(problems)
    assert target is not None
    return SizingQuestion(
        trace=trace,
        config=config,
        catalog=catalog,
        wait_p95=target,
        shapes=shapes,
        max_nodes=max_nodes,
        capacity_types=capacity_types,
        prices=prices,
        budget=budget if budget is not None else (sizing.budget if sizing else DEFAULT_BUDGET),
        policy=policy,
        seed=seed,
        gangs=gangs,
    )


def _pool_limited_nodes(config: AutoscalingConfig, catalog: Catalog) -> dict[str, int]:
    """Per shape, the most nodes of it its NodePools' `limits` admit, summed over the pools
    listing it; a shape listed by a pool without limits is unbounded there, and left out.
    A node counts against a limit as `Karpenter.limit_usage` counts it: `nodes` 1, `cpu` and
    `memory` its capacity, any other key its accelerators."""
    templates = config.templates(catalog)
    bounded: dict[str, int] = {}
    unbounded: set[str] = set()
    for pool in config.node_pools:
        for shape in pool.shapes:
            if not pool.limits:
                unbounded.add(shape)
                continue
            template = templates[shape]
            fits: list[int] = []
            for key, limit in pool.limits.items():
                if key in ("cpu", "memory"):
                    amount = template.node.status.capacity.get(key)
                    usage, ceiling = (amount.nano if amount is not None else 0), limit.nano
                else:
                    usage = 1 if key == "nodes" else template.accelerator_count()
                    ceiling = limit.nano // 10**9
                if usage:
                    fits.append(ceiling // usage)
            if fits:
                bounded[shape] = bounded.get(shape, 0) + min(fits)
            else:
                unbounded.add(shape)
    return {shape: n for shape, n in bounded.items() if shape not in unbounded}


def _peak_gpu_milli(trace: ReplayTrace) -> int:
    """The most milli-GPU the trace's pods ask for at one instant, each running from its
    arrival for its duration (to the end of time without one)."""
    events: list[tuple[float, int]] = []
    for timed in trace.pods:
        milli = timed.pod.gpu_milli_total
        if not milli:
            continue
        events.append((timed.arrival, milli))
        if timed.duration is not None:
            events.append((timed.arrival + timed.duration, -milli))
    peak = running = 0
    # Ends before starts at one instant: a pod ending as another arrives frees its GPUs first.
    for _, change in sorted(events, key=lambda e: (e[0], e[1])):
        running += change
        peak = max(peak, running)
    return peak


def static_fleet_config(question: SizingQuestion, fleet: FleetCounts) -> AutoscalingConfig:
    """The file's config as a `static` fleet of `fleet`: one group per shape with nodes,
    `min` = `max` = its count; no pools, buffers, predictor, warm pool or sizing. Billing
    is the file's (a static node exists from the start of the run, and is billed from then)."""
    config = question.config
    groups = tuple(
        NodeGroup(shape, shape, count, count, question.capacity_types[shape])
        for shape, count in fleet
        if count
    )
    return dataclasses.replace(
        config,
        mode=Mode.STATIC,
        node_groups=groups,
        node_pools=(),
        buffers=(),
        predictor=Predictor(),
        warm_pool=None,
        sizing=None,
    )
