"""Property: on any fragmented cluster (whole GPUs, static or dynamic MIG), after the plan every
pod still runs, no device is held twice, no counter is exceeded, each claim is on its pod's
node and reserved by it, only preemptible pods moved, the others kept their devices, and each
reopened unit adds exactly one free GPU or host."""

from __future__ import annotations

import tempfile
from pathlib import Path

from consolidation_kit import Running, check_invariants, load_plan, write_input
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dralloc.controllers.consolidation import ConsolidationOptions, Goal, consolidate

MIG_SLOTS = 7


@st.composite
def fragmented(draw: st.DrawFn) -> tuple[list[str], list[Running], Goal]:
    mode = draw(st.sampled_from(["whole", "static", "dynamic"]))
    use_mig = mode != "whole"
    nodes = draw(st.integers(min_value=2, max_value=3))
    gpus = 2 if use_mig else 4
    if use_mig:
        layout = ",layout=all-1g.10gb" if mode == "static" else ""
        group, prefix = f"{nodes}xa100-80gb:gpus=2,mig={mode}{layout}", "a100-80gb"
        places = [(n, g, s) for n in range(nodes) for g in range(gpus) for s in range(MIG_SLOTS)]
    else:
        group, prefix = f"{nodes}xl4:gpus={gpus}", "l4"
        places = [(n, g, 0) for n in range(nodes) for g in range(gpus)]
    taken = draw(st.lists(st.sampled_from(places), unique=True, min_size=1, max_size=10))
    pods = []
    for index, (node, gpu, slot) in enumerate(taken):
        device = f"gpu-{gpu}-mig-1g10gb-19-{slot}" if use_mig else f"gpu-{gpu}"
        pods.append(
            Running(
                f"p{index}",
                f"{prefix}-{node:02d}",
                (device,),
                mig=use_mig,
                priority_class=draw(st.sampled_from(["batch", "batch", "serving"])),
                owned=draw(st.booleans()) or draw(st.booleans()),
            )
        )
    return [group], pods, draw(st.sampled_from([Goal.gpus, Goal.hosts]))


def _devices(plan: object) -> dict[str, tuple[str, ...]]:
    cache = plan.cache  # type: ignore[attr-defined]
    out = {}
    for key, (info, _) in cache.pods.items():
        claim = cache.claims[f"default/{info.pod.metadata.name}-gpu"]
        results = claim.status.allocation.devices.results
        out[key] = tuple(f"{r.pool}/{r.device}" for r in results)
    return out


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fragmented())
def test_a_plan_keeps_every_invariant(case: tuple[list[str], list[Running], Goal]) -> None:
    groups, pods, goal = case
    with tempfile.TemporaryDirectory() as folder:
        plan, frameworks, cluster = load_plan(write_input(Path(folder), groups, pods))
    running = set(plan.cache.pods)
    before = _devices(plan)
    result = consolidate(plan.cache, frameworks, cluster.slices, ConsolidationOptions(goal=goal))
    check_invariants(plan, running, cluster.slices)
    after = _devices(plan)
    movable = {f"default/{p.name}" for p in pods if p.priority_class == "batch" and p.owned}
    moved = {m.pod for m in result.moves}
    assert moved <= movable
    assert {k for k in running if before[k] != after[k]} == moved
    for move in result.moves:
        assert move.to_node != move.from_node or move.to_devices != move.from_devices
    if goal == Goal.gpus:
        assert result.free_gpus_after == result.free_gpus_before + len(result.reopened)
    else:
        assert result.free_hosts_after == result.free_hosts_before + len(result.reopened)
