"""The autoscaler's planning snapshot: a private copy of the cluster for what-if placements.

Owns one what-if cluster built with `dralloc.scheduler.builder.build_scheduler` (the same
framework, plugins and DRA allocator `dralloc schedule` runs) from the objects the caller
gives, so nothing the planner does reaches the caller's scheduler cache: objects are copied by
reference (msgspec structs are replaced, never mutated) into a cache this snapshot alone owns.

What it answers is cluster-autoscaler's `PredicateChecker` / `SchedulePod` question: does this
pod fit on one of these nodes, and if so, put it there (PreFilter, Filter, then Reserve,
Permit and PreBind on the what-if cache, so claims are allocated in the snapshot and the next
pod sees the devices taken). PostFilter never runs: CA's simulation does not preempt.
Scoring does run (the framework picks among the feasible nodes as the scheduler would); CA's
`FitsAnyNodeMatching` takes the first feasible node instead, a difference that can change
which of several equal new nodes a pod lands on, never whether it fits.

Nodes come and go with `add_node` (a template copy: Node, slices, DaemonSet claims) and
`remove_node` (its pods leave with it; claims only they reserved are deallocated, as the
ResourceClaim controller would). `fork` rebuilds an independent snapshot from this one's
current objects (CA's `Fork`/`Revert` is a copy here).
"""

from __future__ import annotations

import random
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

import msgspec

from dralloc.api.core import Node, Pod
from dralloc.api.policy import PodDisruptionBudget
from dralloc.api.resource import DeviceClass, DeviceTaintRule, ResourceClaim, ResourceSlice
from dralloc.autoscaling.templates import NodeCopy
from dralloc.features import Features
from dralloc.scheduler.builder import BuiltScheduler, SchedulerInputs, build_scheduler
from dralloc.scheduler.cache import pod_claim_keys
from dralloc.scheduler.config import SchedulerConfiguration
from dralloc.scheduler.framework import (
    CycleState,
    FitError,
    PluginTraits,
    PodInfo,
    SchedulingError,
)


@dataclass(frozen=True)
class ClusterState:
    """The cluster as the scheduler sees it at one instant: the objects `dralloc schedule`
    takes. `pods` are the bound pods (`spec.nodeName` set); claims of pending pods must
    already exist (the ResourceClaim controller made them from their templates)."""

    nodes: Sequence[Node] = ()
    slices: Sequence[ResourceSlice] = ()
    classes: Sequence[DeviceClass] = ()
    claims: Sequence[ResourceClaim] = ()
    pods: Sequence[Pod] = ()
    disruption_budgets: Sequence[PodDisruptionBudget] = ()
    taint_rules: Sequence[DeviceTaintRule] = ()


def pod_key(pod: Pod) -> str:
    return f"{pod.metadata.namespace or 'default'}/{pod.metadata.name}"


def unbound(pod: Pod) -> Pod:
    """The pod as a pending copy (no nodeName), for placing it again elsewhere."""
    return msgspec.structs.replace(pod, spec=msgspec.structs.replace(pod.spec, node_name=""))


@dataclass
class PlanningSnapshot:
    """A what-if cluster (see the module docstring).

    snapshot = PlanningSnapshot.of(state, Features())
    snapshot.add_node(template.upcoming(0))
    snapshot.place(pod)                        # the node it went to, or None
    """

    features: Features
    config: SchedulerConfiguration
    seed: int
    classes: Sequence[DeviceClass]
    taint_rules: Sequence[DeviceTaintRule]
    budgets: Sequence[PodDisruptionBudget]
    built: BuiltScheduler
    slices: dict[str, list[ResourceSlice]] = field(default_factory=dict)  # by node name
    remember_verdicts: bool = True
    traits: PluginTraits | None = None  # the builds' shared plugin-Protocol memo

    @classmethod
    def of(
        cls,
        state: ClusterState,
        features: Features,
        *,
        config: SchedulerConfiguration | None = None,
        seed: int = 0,
        exclude_nodes: Collection[str] = (),
        remember_verdicts: bool = True,
        traits: PluginTraits | None = None,
    ) -> PlanningSnapshot:
        """A snapshot of `state` without the nodes in `exclude_nodes` (and their pods)."""
        nodes = [n for n in state.nodes if n.metadata.name not in exclude_nodes]
        names = {n.metadata.name for n in nodes}
        pods = [p for p in state.pods if p.spec.node_name in names]
        return cls.build(
            features,
            config or SchedulerConfiguration(),
            seed,
            classes=state.classes,
            taint_rules=state.taint_rules,
            budgets=state.disruption_budgets,
            nodes=nodes,
            slices=[s for s in state.slices if not s.spec.node_name or s.spec.node_name in names],
            claims=state.claims,
            pods=pods,
            remember_verdicts=remember_verdicts,
            traits=traits,
        )

    @classmethod
    def build(
        cls,
        features: Features,
        config: SchedulerConfiguration,
        seed: int,
        *,
        classes: Sequence[DeviceClass],
        taint_rules: Sequence[DeviceTaintRule],
        budgets: Sequence[PodDisruptionBudget],
        nodes: Iterable[Node],
        slices: Sequence[ResourceSlice],
        claims: Iterable[ResourceClaim],
        pods: Iterable[Pod],
        remember_verdicts: bool = True,
        traits: PluginTraits | None = None,
    ) -> PlanningSnapshot:
        """A snapshot of these objects. `remember_verdicts`: see below; `traits`: a
        long-lived `PluginTraits` shared by every build (None: each build its own)."""
        built = build_scheduler(
            SchedulerInputs(
                features,
                nodes=nodes,
                slices=slices,
                classes=classes,
                taint_rules=taint_rules,
                claims=claims,
                config=config,
                rng=random.Random(seed),
                # Within one what-if cluster, pods of one shape placed in turn (an estimate
                # packing hundreds of alike pods) are filtered only on the nodes changed
                # since the last of them (`scheduler.framework.verdicts`); off: every node.
                remember_verdicts=remember_verdicts,
                remember_what_ifs=False,
                plugin_traits=traits,
                index_node_labels=False,
                disruption_budgets=budgets,
            )
        )
        by_node: dict[str, list[ResourceSlice]] = {}
        for each in slices:
            by_node.setdefault(each.spec.node_name or "", []).append(each)
        snapshot = cls(
            features,
            config,
            seed,
            classes,
            taint_rules,
            budgets,
            built,
            by_node,
            remember_verdicts,
            traits,
        )
        cache = built.cache
        for pod in pods:
            cache.assume_pod(PodInfo.of(pod), pod.spec.node_name)
            for _, key in pod_claim_keys(pod):
                if key is not None and key in cache.claims:
                    cache.reserve_claim(key, pod)
        return snapshot

    # ----------------------------------------------------------------------- reading

    def node_names(self) -> list[str]:
        return sorted(self.built.cache.nodes)

    def has_node(self, name: str) -> bool:
        return name in self.built.cache.nodes

    def pods_on(self, node: str) -> list[Pod]:
        info = self.built.cache.nodes.get(node)
        return [p.pod for p in info.pods] if info is not None else []

    def all_slices(self) -> list[ResourceSlice]:
        return [s for group in self.slices.values() for s in group]

    def claims(self) -> list[ResourceClaim]:
        return list(self.built.cache.claims.values())

    # ---------------------------------------------------------------------- changing

    def add_node(self, copy: NodeCopy) -> None:
        """Add a template copy: its Node, its slices and its DaemonSet pods' claims."""
        cache = self.built.cache
        cache.add_node(copy.node)
        self.slices[copy.name] = list(copy.slices)
        cache.replace_slices(self.all_slices(), self.taint_rules)
        for claim in copy.claims:
            cache.set_claim(claim)

    def remove_node(self, name: str) -> list[Pod]:
        """Take node `name` out with its pods (their claims released); returns the pods."""
        cache = self.built.cache
        pods = self.pods_on(name)
        for pod in pods:
            cache.remove_pod(pod)
        cache.remove_node(name)
        if self.slices.pop(name, None) is not None:
            cache.replace_slices(self.all_slices(), self.taint_rules)
        return pods

    def place(self, pod: Pod, among: Collection[str] | None = None) -> str | None:
        """Schedule `pod` (a pending copy) on one of `among` (default: any node) with the
        real framework, PostFilter off; on success the pod and its claims stay in the
        snapshot. Returns the node, or None when it fits nowhere (or a plugin failed)."""
        cache = self.built.cache
        framework = self.built.framework(pod.spec.scheduler_name or None)
        nodes = cache.snapshot()
        if among is not None:
            nodes = [n for n in nodes if n.name in among]
        if not nodes:
            return None
        info = PodInfo.of(pod)
        state = CycleState()
        state.skip_post_filter = True  # CA's simulation never preempts
        try:
            result = framework.schedule(state, info, nodes)
        except (FitError, SchedulingError):
            return None
        node = result.node
        cache.assume_pod(info, node)
        for step in (framework.reserve, framework.permit, framework.bind):
            if not step(state, info, node).is_success:
                framework.unreserve(state, info, node)
                cache.forget_pod(info.key)
                return None
        return node

    def fork(self) -> PlanningSnapshot:
        """An independent copy of this snapshot as it is now."""
        cache = self.built.cache
        return PlanningSnapshot.build(
            self.features,
            self.config,
            self.seed,
            classes=self.classes,
            taint_rules=self.taint_rules,
            budgets=self.budgets,
            nodes=[info.node for info in cache.nodes.values()],
            slices=self.all_slices(),
            claims=list(cache.claims.values()),
            pods=[_bound(info.pod, node) for info, node in cache.pods.values()],
            remember_verdicts=self.remember_verdicts,
            traits=self.traits,
        )


def _bound(pod: Pod, node: str) -> Pod:
    if pod.spec.node_name == node:
        return pod
    return msgspec.structs.replace(pod, spec=msgspec.structs.replace(pod.spec, node_name=node))
