"""Spec §12: a node whose real slices differ from its template. CA plans with the template, so
the pod planned for the node stays pending on it and asks for another node; the loop that
first sees the node ready reports it once (`LoopResult.template_mismatches`).

The fleet is one group of L4 nodes with 4 whole GPUs (ready 120 s after the request, devices
60 s later); the pod asks for 4 GPUs. The mismatching node publishes one GPU fewer."""

from __future__ import annotations

import msgspec
import pytest
from autoscalingkit import World, autoscaler, config_text, gpu_claim, gpu_pod, load

from dralloc.autoscaling.decisions import ScaleUp
from dralloc.autoscaling.planning import ClusterState
from dralloc.autoscaling.templates import differs_from_template
from dralloc.devices import load_catalog
from dralloc.devices.catalog import Catalog

GROUPS = "- {name: l4x4-od, shape: l4x4, max: 3}\n"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


class ShortWorld(World):
    """The first fleet node publishes its template's slices minus its last GPU."""

    def cluster_at(self, now: float) -> ClusterState:
        state = super().cluster_at(now)
        slices = []
        for each in state.slices:
            if each.spec.node_name == "l4x4-od-0000" and each.spec.devices:
                spec = msgspec.structs.replace(each.spec, devices=each.spec.devices[:-1])
                each = msgspec.structs.replace(each, spec=spec)
            slices.append(each)
        return ClusterState(state.nodes, slices, state.classes, state.claims, state.pods)


def test_only_slices_that_differ_from_the_template_count(catalog: Catalog) -> None:
    ca = autoscaler(load(config_text(GROUPS), catalog), catalog)
    template = ca.templates["l4x4"]
    real = template.instantiate("l4x4-od-0000", node_name="l4x4-od-0000").slices
    assert not differs_from_template(template, real)
    (only,) = real
    fewer = msgspec.structs.replace(only.spec, devices=only.spec.devices[:-1])
    assert differs_from_template(template, [msgspec.structs.replace(only, spec=fewer)])
    # An older generation left behind is not what the node publishes now.
    older = msgspec.structs.replace(fewer, pool=msgspec.structs.replace(fewer.pool, generation=0))
    newer = msgspec.structs.replace(
        only.spec, pool=msgspec.structs.replace(only.spec.pool, generation=1)
    )
    assert not differs_from_template(
        template,
        [msgspec.structs.replace(only, spec=older), msgspec.structs.replace(only, spec=newer)],
    )


@pytest.mark.parametrize("world_kind", [World, ShortWorld])
def test_a_node_short_of_its_template_leaves_its_pod_pending_and_is_counted_once(
    catalog: Catalog, world_kind: type[World]
) -> None:
    world = world_kind(autoscaler(load(config_text(GROUPS), catalog), catalog))
    world.claims["default/c"] = gpu_claim("c", count=4)
    pending = [(gpu_pod("p", "c"), 50.0)]
    first = world.ca.run_once(100.0, world.cluster_at(100.0), [])  # nothing pending yet
    assert first.template_mismatches == ()
    ups = [d for d in world.run(100.0, pending) if isinstance(d, ScaleUp)]
    assert [u.nodes for u in ups] == [("l4x4-od-0000",)]
    # Devices published at 280 s: the node is ready from the loop at 300 s.
    seen = world.ca.run_once(300.0, world.cluster_at(300.0), [])
    again = world.ca.run_once(310.0, world.cluster_at(310.0), [])
    if world_kind is World:
        assert seen.template_mismatches == () == again.template_mismatches
        return
    assert seen.template_mismatches == ("l4x4-od-0000",)
    assert again.template_mismatches == ()
    # The pod planned for that node does not fit on it: CA, trusting the template, asks for
    # another node for it.
    retry = [d for d in world.run(330.0, pending) if isinstance(d, ScaleUp)]
    assert [u.nodes for u in retry] == [("l4x4-od-0001",)]
