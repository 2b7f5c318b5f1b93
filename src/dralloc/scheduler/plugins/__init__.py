"""In-tree scheduler plugins, one package each, and the registry that builds them.

`in_tree_registry()` returns a fresh `Registry`, a dict from the name users write in a
KubeSchedulerConfiguration profile to a factory. A factory takes the plugin's raw args (the
`pluginConfig[].args` mapping, camelCase, or None for defaults) and an optional config path
for error messages, and returns the plugin; bad args raise `InputError` naming every
problem, for example
`profiles[0].pluginConfig[1].args.scoringStrategy.type: must be one of ..., got "Foo"`.

    registry = in_tree_registry(binder=store.bind)
    fit = registry["NodeResourcesFit"]({"scoringStrategy": {"type": "MostAllocated"}},
                                       path="profiles[0].pluginConfig[0].args")

Plugins that act on the cluster take what they act through as arguments: `binder` for
DefaultBinder; `nodes` (the cycle's nodes) and `evictor` (deletes preemption victims) for
DefaultPreemption, whose dry run also draws its start offset from `rng` when given. The
pod-to-pod plugins read every node through `nodes` too (PodTopologySpread and
InterPodAffinity at PreScore, ImageLocality for how widely an image is spread); without it
they read the nodes their extension point is given. PodTopologySpread's default constraints
apply to pods whose owners `owners` knows (none without it), and InterPodAffinity reads
namespace labels through `namespace_labels` (default: only `kubernetes.io/metadata.name`).

Tests and simulator runs may build their own registries holding only what they compare.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Protocol

from dralloc.errors import InternalError
from dralloc.scheduler.gangs import GangIndex
from dralloc.scheduler.plugins.defaultbinder import Binder, DefaultBinder
from dralloc.scheduler.plugins.defaultpreemption import (
    DefaultPreemption,
    DefaultPreemptionArgs,
    Eviction,
    Evictor,
    NodeLister,
)
from dralloc.scheduler.plugins.gangscheduling import GangLister, GangScheduling
from dralloc.scheduler.plugins.helper import check_no_args
from dralloc.scheduler.plugins.helper.listers import NamespaceLabels
from dralloc.scheduler.plugins.imagelocality import ImageLocality
from dralloc.scheduler.plugins.interpodaffinity import InterPodAffinity, InterPodAffinityArgs
from dralloc.scheduler.plugins.nodeaffinity import NodeAffinity, NodeAffinityArgs
from dralloc.scheduler.plugins.nodename import NodeName
from dralloc.scheduler.plugins.nodeports import NodePorts
from dralloc.scheduler.plugins.noderesources import (
    NodeResourcesBalancedAllocation,
    NodeResourcesBalancedAllocationArgs,
    NodeResourcesFit,
    NodeResourcesFitArgs,
)
from dralloc.scheduler.plugins.nodeunschedulable import NodeUnschedulable
from dralloc.scheduler.plugins.podgrouppodscount import PodGroupPodsCount
from dralloc.scheduler.plugins.podtopologyspread import (
    OwnerSelectors,
    PodTopologySpread,
    PodTopologySpreadArgs,
)
from dralloc.scheduler.plugins.tainttoleration import TaintToleration


class Plugin(Protocol):
    """What every plugin has; the extension points it implements are the framework's
    Protocols (`FilterPlugin`, `ScorePlugin`, ...)."""

    name: str


class PluginFactory(Protocol):
    def __call__(self, args: Mapping[str, object] | None, *, path: str = "") -> Plugin:
        """Build the plugin from raw args; `path` (default: the args type's name) prefixes
        every problem of the InputError raised for bad args."""
        ...


Registry = dict[str, PluginFactory]


def _node_unschedulable(args: Mapping[str, object] | None, *, path: str = "") -> Plugin:
    check_no_args(args, path or f"{NodeUnschedulable.name}.args")
    return NodeUnschedulable()


def _node_name(args: Mapping[str, object] | None, *, path: str = "") -> Plugin:
    check_no_args(args, path or f"{NodeName.name}.args")
    return NodeName()


def _taint_toleration(args: Mapping[str, object] | None, *, path: str = "") -> Plugin:
    check_no_args(args, path or f"{TaintToleration.name}.args")
    return TaintToleration()


def _node_affinity(args: Mapping[str, object] | None, *, path: str = "") -> Plugin:
    if path:
        return NodeAffinity(NodeAffinityArgs.from_dict(args, path))
    return NodeAffinity(NodeAffinityArgs.from_dict(args))


def _node_resources_fit(args: Mapping[str, object] | None, *, path: str = "") -> Plugin:
    if path:
        return NodeResourcesFit(NodeResourcesFitArgs.from_dict(args, path))
    return NodeResourcesFit(NodeResourcesFitArgs.from_dict(args))


def _balanced_allocation(args: Mapping[str, object] | None, *, path: str = "") -> Plugin:
    if path:
        return NodeResourcesBalancedAllocation(
            NodeResourcesBalancedAllocationArgs.from_dict(args, path)
        )
    return NodeResourcesBalancedAllocation(NodeResourcesBalancedAllocationArgs.from_dict(args))


def _node_ports(args: Mapping[str, object] | None, *, path: str = "") -> Plugin:
    check_no_args(args, path or f"{NodePorts.name}.args")
    return NodePorts()


def _image_locality_factory(nodes: NodeLister | None) -> PluginFactory:
    def build(args: Mapping[str, object] | None, *, path: str = "") -> Plugin:
        check_no_args(args, path or f"{ImageLocality.name}.args")
        return ImageLocality(nodes)

    return build


def _pod_topology_spread_factory(
    nodes: NodeLister | None, owners: OwnerSelectors | None
) -> PluginFactory:
    def build(args: Mapping[str, object] | None, *, path: str = "") -> Plugin:
        parsed = (
            PodTopologySpreadArgs.from_dict(args, path)
            if path
            else PodTopologySpreadArgs.from_dict(args)
        )
        return PodTopologySpread(parsed, nodes, owners)

    return build


def _inter_pod_affinity_factory(
    nodes: NodeLister | None, namespace_labels: NamespaceLabels | None
) -> PluginFactory:
    def build(args: Mapping[str, object] | None, *, path: str = "") -> Plugin:
        parsed = (
            InterPodAffinityArgs.from_dict(args, path)
            if path
            else InterPodAffinityArgs.from_dict(args)
        )
        return InterPodAffinity(parsed, nodes, namespace_labels)

    return build


def _gang_scheduling_factory(gangs: GangLister | None) -> PluginFactory:
    def build(args: Mapping[str, object] | None, *, path: str = "") -> Plugin:
        check_no_args(args, path or f"{GangScheduling.name}.args")
        # Without a lister no pod belongs to a gang: every pod passes.
        return GangScheduling(gangs if gangs is not None else GangIndex())

    return build


def _pod_group_pods_count(args: Mapping[str, object] | None, *, path: str = "") -> Plugin:
    check_no_args(args, path or f"{PodGroupPodsCount.name}.args")
    return PodGroupPodsCount()


def _default_binder_factory(binder: Binder | None) -> PluginFactory:
    def build(args: Mapping[str, object] | None, *, path: str = "") -> Plugin:
        check_no_args(args, path or f"{DefaultBinder.name}.args")
        if binder is None:
            raise InternalError("DefaultBinder needs a binder: pass binder= to in_tree_registry()")
        return DefaultBinder(binder)

    return build


def _default_preemption_factory(
    nodes: NodeLister | None, evictor: Evictor | None, rng: random.Random | None
) -> PluginFactory:
    def build(args: Mapping[str, object] | None, *, path: str = "") -> Plugin:
        parsed = DefaultPreemptionArgs.from_dict(args, path or f"{DefaultPreemption.name}Args")
        if nodes is None or evictor is None:
            raise InternalError(
                "DefaultPreemption needs the cycle's nodes and an evictor: pass nodes= and "
                "evictor= to in_tree_registry()"
            )
        return DefaultPreemption(parsed, nodes, evictor, rng)

    return build


def in_tree_registry(
    *,
    binder: Binder | None = None,
    nodes: NodeLister | None = None,
    evictor: Evictor | None = None,
    rng: random.Random | None = None,
    owners: OwnerSelectors | None = None,
    namespace_labels: NamespaceLabels | None = None,
    gangs: GangLister | None = None,
) -> Registry:
    """A new registry of the in-tree plugins. `binder` records bindings for DefaultBinder;
    `nodes` and `evictor` serve DefaultPreemption (and `rng` its dry run's offset). Building
    either plugin without what it needs is an InternalError (a wiring bug); its args are
    checked first. `nodes`, `owners` and `namespace_labels` serve the pod-to-pod plugins
    (see the module docstring); `gangs` serves GangScheduling."""
    return {
        NodeUnschedulable.name: _node_unschedulable,
        NodeName.name: _node_name,
        TaintToleration.name: _taint_toleration,
        NodeAffinity.name: _node_affinity,
        NodePorts.name: _node_ports,
        NodeResourcesFit.name: _node_resources_fit,
        PodTopologySpread.name: _pod_topology_spread_factory(nodes, owners),
        InterPodAffinity.name: _inter_pod_affinity_factory(nodes, namespace_labels),
        NodeResourcesBalancedAllocation.name: _balanced_allocation,
        ImageLocality.name: _image_locality_factory(nodes),
        DefaultPreemption.name: _default_preemption_factory(nodes, evictor, rng),
        DefaultBinder.name: _default_binder_factory(binder),
        GangScheduling.name: _gang_scheduling_factory(gangs),
        PodGroupPodsCount.name: _pod_group_pods_count,
    }


__all__ = [
    "Binder",
    "DefaultBinder",
    "DefaultPreemption",
    "DefaultPreemptionArgs",
    "Eviction",
    "Evictor",
    "GangLister",
    "GangScheduling",
    "ImageLocality",
    "InterPodAffinity",
    "InterPodAffinityArgs",
    "NamespaceLabels",
    "NodeAffinity",
    "NodeAffinityArgs",
    "NodeLister",
    "NodeName",
    "NodePorts",
    "NodeResourcesBalancedAllocation",
    "NodeResourcesBalancedAllocationArgs",
    "NodeResourcesFit",
    "NodeResourcesFitArgs",
    "NodeUnschedulable",
    "OwnerSelectors",
    "Plugin",
    "PluginFactory",
    "PodGroupPodsCount",
    "PodTopologySpread",
    "PodTopologySpreadArgs",
    "Registry",
    "TaintToleration",
    "in_tree_registry",
]
