"""Device-aware node templates (`dralloc.autoscaling.templates`, spec §3.1-3.2): built by the
same slice builder as `cluster generate`, copied with cluster-autoscaler's sanitizing rule
(slice `<slice>-<suffix>`, pool `<pool>-<suffix>`, nodeName), invalid when something cannot be
copied, and a node counted as upcoming until every driver has the template's complete pools."""

from __future__ import annotations

import msgspec
import pytest

from dralloc.api.core import NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Taint
from dralloc.api.meta import ObjectMeta
from dralloc.api.quantity import Quantity
from dralloc.api.resource import (
    AllocationResult,
    DeviceAllocationResult,
    DeviceRequestAllocationResult,
    ResourceClaim,
    ResourceClaimStatus,
    ResourcePool,
    ResourceSlice,
    ResourceSliceSpec,
)
from dralloc.autoscaling import (
    NodeShape,
    NodeTemplate,
    TemplateError,
    build_template,
    complete_pools,
    is_upcoming,
    sanitize,
    undone_dra_driver,
)
from dralloc.devices import load_catalog
from dralloc.devices.cluster import NodeGroup, generate_cluster

MIG = NodeShape("h100-mig", "dgx-h100", {"mig": "static", "layout": "all-1g.10gb"})
DYNAMIC = NodeShape("h100-dyn", "dgx-h100", {"mig": "dynamic"})


@pytest.fixture(scope="module")
def mig_template() -> NodeTemplate:
    return build_template(MIG, load_catalog())


@pytest.fixture(scope="module")
def dynamic_template() -> NodeTemplate:
    return build_template(DYNAMIC, load_catalog())


def test_the_template_holds_exactly_what_cluster_generate_publishes(
    mig_template: NodeTemplate,
) -> None:
    generated = generate_cluster(
        [NodeGroup(1, "dgx-h100", {"mig": "static", "layout": "all-1g.10gb", "name": "h100-mig"})],
        load_catalog(),
    )
    assert [s.spec.devices for s in mig_template.slices] == [
        s.spec.devices for s in generated.slices
    ]
    devices = mig_template.slices[0].spec.devices
    assert len(devices) == 8 * 7  # 7 x 1g.10gb on each of 8 GPUs
    assert {d.attributes["profile"].string for d in devices} == {"1g.10gb"}
    assert mig_template.name == "template-node-for-h100-mig-0"
    labels = mig_template.node.metadata.labels
    assert labels["cluster-autoscaler.kubernetes.io/template-node"] == "true"
    assert labels["kubernetes.io/hostname"] == mig_template.name
    assert labels["nvidia.com/mig.strategy"] == "mixed"


def test_a_copy_renames_slices_pools_and_node_with_the_suffix(mig_template: NodeTemplate) -> None:
    copy = mig_template.instantiate("upcoming-3")
    assert copy.name == "template-node-for-h100-mig-0-upcoming-3"
    (original,) = mig_template.slices
    (fresh,) = copy.slices
    assert fresh.metadata.name == f"{original.metadata.name}-upcoming-3"
    assert fresh.spec.pool.name == f"{original.spec.pool.name}-upcoming-3"
    assert fresh.spec.node_name == copy.name
    assert (fresh.spec.pool.generation, fresh.spec.pool.resource_slice_count) == (
        original.spec.pool.generation,
        original.spec.pool.resource_slice_count,
    )
    assert fresh.spec.devices == original.spec.devices
    assert copy.node.metadata.labels["kubernetes.io/hostname"] == copy.name
    # The template itself is untouched.
    assert mig_template.slices[0].spec.node_name == mig_template.name


def test_a_real_node_gets_its_own_name_and_loses_the_template_label(
    mig_template: NodeTemplate,
) -> None:
    real = mig_template.instantiate("7", node_name="h100-od-0007")
    assert real.name == "h100-od-0007"
    assert "cluster-autoscaler.kubernetes.io/template-node" not in real.node.metadata.labels
    assert real.slices[0].spec.node_name == "h100-od-0007"
    assert real.slices[0].spec.pool.name.endswith("-7")


def test_dynamic_mig_copies_keep_one_pool_of_counter_and_device_slices(
    dynamic_template: NodeTemplate,
) -> None:
    copy = dynamic_template.instantiate("a")
    assert len(copy.slices) == 9  # one counters-only slice and one slice per GPU
    assert {s.spec.pool.name for s in copy.slices} == {"h100-dyn-00-0-a"}
    assert sum(len(s.spec.shared_counters) for s in copy.slices) == 8
    assert dynamic_template.pools_per_driver() == {"gpu.nvidia.com": 1}


def test_shape_overrides_reach_the_template_node() -> None:
    shape = NodeShape(
        "l4",
        "l4",
        {"gpus": "2", "sharing": "time-slicing", "replicas": "4"},
        labels={"pool": "inference"},
        cpu=Quantity.parse("48"),
        memory=Quantity.parse("192Gi"),
        taints=(Taint(key="nvidia.com/gpu", value="present", effect="NoSchedule"),),
    )
    template = build_template(shape, load_catalog())
    assert template.node.status.allocatable["cpu"] == Quantity.parse("48")
    assert template.node.metadata.labels["pool"] == "inference"
    assert template.node.spec.taints[0].effect == "NoSchedule"
    devices = template.slices[0].spec.devices
    assert [d.capacity["replicas"].value for d in devices] == [Quantity.parse("4")] * 2


def _claim(pool: str, node: str | None) -> ResourceClaim:
    selector = None
    if node is not None:
        selector = NodeSelector(
            node_selector_terms=[
                NodeSelectorTerm(
                    match_fields=[
                        NodeSelectorRequirement(key="metadata.name", operator="In", values=[node])
                    ]
                )
            ]
        )
    result = DeviceRequestAllocationResult(
        request="gpu", driver="gpu.nvidia.com", pool=pool, device="gpu-0-mig-1g10gb-19-0"
    )
    return ResourceClaim(
        metadata=ObjectMeta(name="monitor-gpu", namespace="kube-system"),
        status=ResourceClaimStatus(
            allocation=AllocationResult(
                devices=DeviceAllocationResult(results=[result]), node_selector=selector
            )
        ),
    )


def test_daemonset_claims_are_re_pointed_to_the_copy(mig_template: NodeTemplate) -> None:
    pool = mig_template.slices[0].spec.pool.name
    copy = sanitize(
        mig_template.node,
        mig_template.slices,
        [_claim(pool, mig_template.name)],
        suffix="s1",
    )
    (claim,) = copy.claims
    assert claim.metadata.name == "monitor-gpu-s1"
    allocation = claim.status.allocation
    assert allocation is not None
    assert allocation.devices.results[0].pool == f"{pool}-s1"
    term = allocation.node_selector.node_selector_terms[0] if allocation.node_selector else None
    assert term is not None and term.match_fields[0].values == [copy.name]


def test_a_claim_from_a_foreign_pool_makes_the_template_invalid(
    mig_template: NodeTemplate,
) -> None:
    with pytest.raises(TemplateError, match="not local to node"):
        sanitize(
            mig_template.node,
            mig_template.slices,
            [_claim("some-network-pool", mig_template.name)],
            suffix="s",
        )
    with pytest.raises(TemplateError, match="not to node"):
        sanitize(mig_template.node, mig_template.slices, [_claim("x", None)], suffix="s")


def test_a_slice_that_is_not_node_local_makes_the_template_invalid(
    mig_template: NodeTemplate,
) -> None:
    shared = ResourceSlice(
        metadata=ObjectMeta(name="fabric"),
        spec=ResourceSliceSpec(
            driver="fabric.example.com",
            pool=ResourcePool(name="fabric", generation=1, resource_slice_count=1),
            all_nodes=True,
        ),
    )
    with pytest.raises(TemplateError, match="not node-local"):
        sanitize(mig_template.node, [*mig_template.slices, shared], suffix="s")


def test_a_node_is_upcoming_until_every_driver_has_the_templates_complete_pools(
    dynamic_template: NodeTemplate,
) -> None:
    copy = dynamic_template.instantiate("n")
    assert is_upcoming(dynamic_template, [])
    assert is_upcoming(dynamic_template, copy.slices[:8])  # one GPU's slice still missing
    assert not is_upcoming(dynamic_template, copy.slices)
    # Attributes do not matter: a driver publishing other attributes still counts.
    plain = [
        msgspec.structs.replace(
            s, spec=msgspec.structs.replace(s.spec, devices=[], shared_counters=[])
        )
        for s in copy.slices
    ]
    assert not is_upcoming(dynamic_template, plain)


def test_only_the_newest_generation_counts_toward_completeness(
    dynamic_template: NodeTemplate,
) -> None:
    copy = dynamic_template.instantiate("n")
    newer = [
        msgspec.structs.replace(
            s,
            spec=msgspec.structs.replace(
                s.spec, pool=msgspec.structs.replace(s.spec.pool, generation=2)
            ),
        )
        for s in copy.slices[:1]
    ]
    # Generation 2 has begun (one slice of nine): the pool is incomplete again.
    assert complete_pools([*copy.slices, *newer]) == {}
    assert is_upcoming(dynamic_template, [*copy.slices, *newer])


def test_upcoming_nodes_are_copies_suffixed_as_ca_names_them(mig_template: NodeTemplate) -> None:
    first, second = mig_template.upcoming(0), mig_template.upcoming(1)
    assert first.name == "template-node-for-h100-mig-0-upcoming-0"
    assert {s.spec.pool.name for s in first.slices}.isdisjoint(
        {s.spec.pool.name for s in second.slices}
    )


def test_karpenter_initializes_once_each_requested_driver_has_one_complete_pool(
    dynamic_template: NodeTemplate,
) -> None:
    copy = dynamic_template.instantiate("k")
    drivers = ["gpu.nvidia.com", "compute-domain.nvidia.com"]
    assert undone_dra_driver(drivers, copy.slices[:8]) == "compute-domain.nvidia.com"
    assert undone_dra_driver(["gpu.nvidia.com"], copy.slices[:8]) == "gpu.nvidia.com"
    assert undone_dra_driver(["gpu.nvidia.com"], copy.slices) is None
    assert undone_dra_driver([], []) is None
