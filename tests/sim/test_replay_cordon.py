"""Cordoned nodes are no destination: with `build_simulation(node_unschedulable=True)` (the
autoscaled replay's) `NodeUnschedulable` filters a cordoned node first, remembered verdicts
tell it from an uncordoned node of the same shape, and an uncordon requeues the pods it
rejected. In karpenter mode a pod arriving while a node waits for its replacement does not
land there; static runs keep the FGD experiment's profile.

Tiny traces: one-GPU pods on L4 shapes with 2 (2 USD/h) or 4 (3 USD/h) fractional GPUs and
fixed delays (a node requested at t publishes its devices at t + 180 s)."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
import pytest
from autoscalekit import FAST, autoscaling_text, shape

import dralloc.sim.replay.engine as engine
from dralloc.autoscaling import parse_autoscaling_text
from dralloc.devices import load_catalog
from dralloc.devices.catalog import Catalog
from dralloc.scheduler.cache import SchedulerCache
from dralloc.sim.experiment import Simulation, build_simulation, workload_in_products
from dralloc.sim.fgd import node_order
from dralloc.sim.openb_objects import pod_objects
from dralloc.sim.replay import ReplayOptions, ReplayResult, replay
from dralloc.sim.replay.autoscaled import ReplayAutoscaling
from dralloc.sim.replay.evictions import EvictionCause
from dralloc.sim.traces import ReplayTrace, TimedPod, TraceNode, TracePod
from dralloc.sim.traces.model import GpuModels
from dralloc.sim.traces.openb import openb_models

Outcome = tuple[float | None, float | None, str | None]
# Three pods fill an l4x4 until 781 s; the fourth (700 s) fits beside them and its node is
# replaced by an l4x2, validated at 805 s, whose devices come at 985 s: gpu-0000 is
# cordoned from 805 s until it is deleted then.
CONSOLIDATED = [(0.0, 600.0)] * 3 + [(700.0, 1000.0)]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def config_text(extra: str = "") -> str:
    small = shape(price="{onDemand: 2.0, spot: 0.8}", provisioning=FAST) + extra
    large = shape("l4x4", gpus=4, price="{onDemand: 3.0}", provisioning=FAST)
    return autoscaling_text(
        "karpenter", shapes=[small, large], pools=["- {name: gpu, shapes: [l4x2, l4x4]}\n"]
    )


def run(
    catalog: Catalog,
    text: str,
    pods: Sequence[tuple[float, float | None]],
    observer: Callable[[float, SchedulerCache], None] | None = None,
    horizon: float | None = None,
) -> ReplayResult:
    config = parse_autoscaling_text(text, "autoscaling.yaml", catalog=catalog)
    timed = tuple(
        TimedPod(TracePod(f"p{index}", 1000, 1024, 1, 1000), arrival, duration)
        for index, (arrival, duration) in enumerate(pods)
    )
    trace = ReplayTrace("tiny", (), timed, GpuModels({"L4": catalog.gpu("l4")}), source="t.csv")
    autoscaling = ReplayAutoscaling(config, catalog)
    options = ReplayOptions(horizon=horizon, autoscaling=autoscaling)
    return replay(trace, "fgd", 1, options, observer=observer)


def outcomes(result: ReplayResult) -> list[Outcome]:
    return [(p.start, p.end, p.node) for p in result.pods]


def without_remembered_verdicts(monkeypatch: pytest.MonkeyPatch) -> None:
    def build(*args: Any, **kwargs: Any) -> Simulation:
        return build_simulation(*args, **{**kwargs, "remember_verdicts": False})

    monkeypatch.setattr(engine, "build_simulation", build)


def test_a_pod_arriving_while_its_node_is_cordoned_waits_for_the_replacement(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fifth pod arrives at 900 s: gpu-0000 has room but is cordoned, and the l4x2 in
    # flight has room for it. It runs there at 985 s and is never evicted; without the
    # filter it would land on gpu-0000 and be evicted with the fourth at 985 s.
    on_cordoned: list[int] = []

    def observe(time: float, cache: SchedulerCache) -> None:
        info = cache.nodes.get("gpu-0000")
        if info is not None and info.node.spec.unschedulable:
            on_cordoned.append(len(info.pods))

    pods = [*CONSOLIDATED, (900.0, 500.0)]
    result = run(catalog, config_text(), pods, observe)
    assert on_cordoned and set(on_cordoned) == {1}
    assert outcomes(result)[3:] == [(985.0, 1985.0, "gpu-0001"), (985.0, 1485.0, "gpu-0001")]
    assert [(e.pod, e.node, e.cause) for e in result.evictions] == [
        ("p3", "gpu-0000", EvictionCause.CONSOLIDATION)
    ]
    without_remembered_verdicts(monkeypatch)
    assert outcomes(run(catalog, config_text(), pods)) == outcomes(result)


def test_an_uncordoned_node_takes_the_pod_it_rejected(catalog: Catalog) -> None:
    # Every l4x2 launch fails: the command is dropped when its replacement's launch fails
    # (865 s) and gpu-0000 uncordoned. The pod it rejected at 830 s is requeued by the
    # uncordon (Node/UpdateNodeTaint) and placed there at once. (Stopped at 870 s: the
    # failing launches would go on.)
    text = config_text("  availability: {launchFailure: 1.0}\n")
    pods = [*CONSOLIDATED, (830.0, 500.0)]
    result = run(catalog, text, pods, horizon=870.0)
    assert [(p.start, p.node) for p in result.pods[3:]] == [
        (700.0, "gpu-0000"),
        (865.0, "gpu-0000"),
    ]
    assert not result.evictions


def cordoned_cluster(remember: bool, node_unschedulable: bool) -> Simulation:
    # Two nodes of one shape; the first cordoned.
    models = openb_models()
    nodes = [TraceNode(f"n-{i}", 8000, 32768, 2, "T4") for i in range(2)]
    workload = workload_in_products([TracePod("w", 1000, 1024, 1, 500)], models)
    rng = random.Random(3)
    sim = build_simulation(
        nodes,
        workload,
        "fgd",
        rng,
        node_order([n.name for n in nodes], rng),
        models,
        remember_verdicts=remember,
        node_unschedulable=node_unschedulable,
    )
    node = sim.cache.nodes["n-0"].node
    spec = msgspec.structs.replace(node.spec, unschedulable=True)
    sim.cache.update_node(msgspec.structs.replace(node, spec=spec))
    return sim


def placements(sim: Simulation, count: int) -> list[str | None]:
    models = openb_models()
    placed = []
    for index in range(count):
        made = pod_objects(TracePod(f"p-{index}", 1000, 1024, 1, 1000), models)
        if made.claim is not None:
            sim.cache.set_claim(made.claim)
        key = f"{made.pod.metadata.namespace}/{made.pod.metadata.name}"
        sim.shapes[key] = b"one-gpu"
        placed.append(sim.scheduler.schedule_one(made.pod).node)
    return placed


def test_remembered_verdicts_tell_a_cordoned_node_from_an_uncordoned_one() -> None:
    # Both nodes alike but for the cordon: the cordoned one's rejection must not be
    # reused for the other, and the two GPUs of n-1 take two pods, the third none.
    remembered = placements(cordoned_cluster(True, node_unschedulable=True), 3)
    assert remembered == ["n-1", "n-1", None]
    assert placements(cordoned_cluster(False, node_unschedulable=True), 3) == remembered


def test_without_the_flag_the_profile_has_no_cordon_filter() -> None:
    # The FGD experiment's and the static replay's profile: the cordon is not read.
    sim = cordoned_cluster(True, node_unschedulable=False)
    assert "NodeUnschedulable" not in [p.name for p in sim.scheduler.framework.profile.filter]
    assert "n-0" in placements(sim, 4)
    flagged = cordoned_cluster(True, node_unschedulable=True)
    assert flagged.scheduler.framework.profile.filter[0].name == "NodeUnschedulable"
