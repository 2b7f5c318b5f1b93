"""The one place a scheduler is put together: cache, allocator, plugin registry, profiles from a
KubeSchedulerConfiguration, pod signature, one framework per profile, and the scheduling queue.

`dralloc schedule`, the FGD experiment, the replay, the benchmarks and tests all call
`build_scheduler`; what differs between them is data in `SchedulerInputs` (the cluster's
objects, the configuration, where randomness comes from, what the caller knows that lets the
framework remember verdicts), never a second way of wiring plugins.

    built = build_scheduler(SchedulerInputs(Features(), nodes=nodes, slices=slices,
                                            classes=classes, claims=claims))
    outcome = built.scheduler().schedule_one(pod)

Pure construction: nothing here runs a scheduling cycle, and the built objects own their
state (the cache the cluster, each framework its remembered verdicts, the queue its pods).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from dralloc.allocator import Allocator, AllocatorOptions
from dralloc.api.core import Node, Pod
from dralloc.api.policy import PodDisruptionBudget
from dralloc.api.resource import DeviceClass, DeviceTaintRule, ResourceClaim, ResourceSlice
from dralloc.api.workloads import Workload
from dralloc.errors import InputError, Problem
from dralloc.features import Features
from dralloc.scheduler.cache import SchedulerCache
from dralloc.scheduler.config import DEFAULT_SCHEDULER_NAME, SchedulerConfiguration
from dralloc.scheduler.framework import (
    Framework,
    FrameworkSpeedups,
    NodeInfo,
    PluginTraits,
    PodInfo,
    PodSignature,
    Profile,
)
from dralloc.scheduler.plugins import (
    Binder,
    DefaultPreemption,
    DefaultPreemptionArgs,
    Eviction,
    Evictor,
    GangLister,
    NamespaceLabels,
    OwnerSelectors,
    Plugin,
    PluginFactory,
    Registry,
)
from dralloc.scheduler.plugins.defaultpreemption import (
    ControllerScales,
    DisruptionBudgetLister,
    with_status,
)
from dralloc.scheduler.plugins.gpushare import GpuShareView, TaskType
from dralloc.scheduler.profiles import (
    DeviceSpeedups,
    build_profiles,
    default_plugins,
    evict_from_cache,
    scheduler_registry,
)
from dralloc.scheduler.queue import Clock, SchedulingQueue
from dralloc.scheduler.scheduler import Scheduler
from dralloc.scheduler.signature import pod_signature

NodeKeyFactory = Callable[[Profile], Callable[[NodeInfo], Hashable]]


def _bind_nowhere(info: PodInfo, node_name: str) -> None:
    """Binding writes nothing: the cache already holds the assumed pod."""


@dataclass(frozen=True)
class SchedulerInputs:
    """What a scheduler is built from.

    Cluster: `nodes`, `slices`, `classes`, `taint_rules`, `claims` fill the cache.
    Configuration: `config`'s profiles (default: kube-scheduler's default profile);
    `allocator_options` (upstream's filterTimeout of 10 s by default).
    Randomness: `rng` breaks ties between equally scored nodes (None: name order), draws
    preemption's dry-run offset and the Random policy's choices; `node_rank` is a fixed tie
    ranking that takes precedence (the FGD experiment's).
    Actions: `binder` records bindings (default: nothing to write); `on_evict` hears of every
    preemption after its victims left the cache.
    Speed-ups (none changes an outcome): `remember_verdicts` gives each framework the in-tree
    pod signature (`scheduler/signature.py`) unless `signature` replaces it; `node_key`
    builds, from a profile, the key under which nodes every plugin treats alike share
    verdicts; `device_speedups` is what DynamicResources may share across nodes;
    `index_node_labels` keeps an index of node labels with the cache's snapshot, from which
    NodeAffinity tells the framework the only nodes its Filter may pass (so a pod pinned to a
    node pool is filtered on that pool's nodes; the others are reported as a full scan would).
    `remember_what_ifs` lets a what-if loop that re-runs cycles on a cache it restores (gang
    preemption) remember verdicts for its own extent (`Framework.remembering`), also where
    `remember_verdicts` is off (the live scheduler). `framework_speedups` are each framework's
    own shortcuts (`FrameworkSpeedups`: uniform scores, ties drawn by position; all on).
    `plugin_traits` answers which extension Protocols each plugin class implements, checked
    once per class (`PluginTraits`); a caller that builds schedulers over and over (a what-if
    cluster per autoscaler loop) passes one long-lived memo; None gives each build its own;
    `PluginTraits(remember=False)` is the off switch.
    GPU sharing: `typical_pods` is FGD's target workload when its profile gives no args.
    Preemption: `preemption_frees_devices` lets it free the devices of victims' node-local
    claims (KEP-5690, beyond Kubernetes 1.36; off, as 1.36). `disruption_budgets` are the
    PodDisruptionBudgets it respects (they go into the cache, where a live cluster's mirror
    keeps them); a budget without a status gets the disruption controller's over the
    cache's pods and the scale of `workloads` (the Deployments, ReplicaSets, StatefulSets
    and Jobs of the input and those their controllers made).
    Pod-to-pod plugins: `owners` says which ReplicaSet or StatefulSet selector a pod belongs
    to (PodTopologySpread's default constraints apply only then); `namespace_labels` gives
    the labels of Namespaces (InterPodAffinity's namespaceSelector). Both default to none
    known.
    """

    features: Features
    nodes: Iterable[Node] = ()
    slices: Sequence[ResourceSlice] = ()
    classes: Iterable[DeviceClass] = ()
    taint_rules: Sequence[DeviceTaintRule] = ()
    claims: Iterable[ResourceClaim] = ()
    config: SchedulerConfiguration = field(default_factory=SchedulerConfiguration)
    allocator_options: AllocatorOptions = field(default_factory=AllocatorOptions)
    rng: random.Random | None = None
    node_rank: Mapping[str, int] | None = None
    binder: Binder = _bind_nowhere
    on_evict: Callable[[Eviction], None] | None = None
    remember_verdicts: bool = True
    signature: PodSignature | None = None
    node_key: NodeKeyFactory | None = None
    device_speedups: DeviceSpeedups = field(default_factory=DeviceSpeedups)
    index_node_labels: bool = True
    remember_what_ifs: bool = True
    framework_speedups: FrameworkSpeedups = field(default_factory=FrameworkSpeedups)
    plugin_traits: PluginTraits | None = None
    typical_pods: Sequence[tuple[TaskType, float]] | None = None
    owners: OwnerSelectors | None = None
    namespace_labels: NamespaceLabels | None = None
    preemption_frees_devices: bool = False
    disruption_budgets: Sequence[PodDisruptionBudget] = ()
    workloads: Sequence[Workload] = ()
    # Which pods form gangs (GangScheduling's PreEnqueue and Permit; `collect_gangs` finds
    # them in an input). None: no pod is in a gang.
    gangs: GangLister | None = None
    # DynamicResources' PostFilter clears an unavailable claim's allocation through this (a
    # live cluster's API server); None: it only reports, as offline runs have no server.
    claim_deallocator: Callable[[ResourceClaim], None] | None = None


@dataclass
class BuiltScheduler:
    """A scheduler's parts, built by `build_scheduler`. `frameworks` are by schedulerName;
    `problems` holds the profiles' problems when the caller asked to collect them (then
    `frameworks` is empty)."""

    cache: SchedulerCache
    allocator: Allocator
    registry: Registry
    gpu_share_view: GpuShareView
    profiles: dict[str, Profile]
    frameworks: dict[str, Framework]
    signature: PodSignature | None
    problems: list[Problem] = field(default_factory=list)

    def framework(self, scheduler_name: str | None = None) -> Framework:
        """The framework of `scheduler_name` (default: `default-scheduler`, else the only
        profile)."""
        if scheduler_name is None:
            if DEFAULT_SCHEDULER_NAME in self.frameworks or len(self.frameworks) != 1:
                scheduler_name = DEFAULT_SCHEDULER_NAME
            else:
                scheduler_name = next(iter(self.frameworks))
        return self.frameworks[scheduler_name]

    def scheduler(self, scheduler_name: str | None = None) -> Scheduler:
        """`Scheduler.schedule_one` over the cache with one profile's framework."""
        return Scheduler(self.cache, self.framework(scheduler_name))

    def queue(self, clock: Clock, scheduler_name: str | None = None) -> SchedulingQueue:
        """The scheduling queue of one profile: PreEnqueue and the cluster events its plugins
        declare (`events_to_register`) decide what enters activeQ and what a rejected pod
        waits for."""
        return SchedulingQueue.for_profile(clock, self.framework(scheduler_name).profile)


def _budget_lister(cache: SchedulerCache, workloads: Sequence[Workload]) -> DisruptionBudgetLister:
    """The cache's PodDisruptionBudgets, each with a status (computed where none was given)."""
    scales = ControllerScales.of(workloads)

    def pods() -> list[Pod]:
        return [info.pod for info, _ in cache.pods.values()]

    return lambda: with_status(cache.disruption_budgets.values(), pods, scales)


def _default_preemption(
    cache: SchedulerCache,
    evictor: Evictor,
    rng: random.Random | None,
    budgets: DisruptionBudgetLister,
) -> PluginFactory:
    """DefaultPreemption over the cache's nodes and PodDisruptionBudgets (the in-tree
    registry's factory knows no budgets)."""

    def build(args: Mapping[str, object] | None, *, path: str = "") -> Plugin:
        parsed = DefaultPreemptionArgs.from_dict(args, path or f"{DefaultPreemption.name}Args")
        return DefaultPreemption(parsed, cache.snapshot, evictor, rng, budgets)

    return build


def build_scheduler(
    inputs: SchedulerInputs, *, collect_problems: list[Problem] | None = None
) -> BuiltScheduler:
    """Build the cache from `inputs`' objects, then the allocator, the registry over them,
    every profile of `inputs.config` and a framework for each.

    A profile that cannot be built raises InputError naming the file and config path of every
    problem; with `collect_problems` the problems are appended there instead and no
    framework is built (so a command can report them with the rest of its input's)."""
    features = inputs.features
    cache = SchedulerCache(
        features,
        nodes=inputs.nodes,
        slices=inputs.slices,
        classes=inputs.classes,
        taint_rules=inputs.taint_rules,
        claims=inputs.claims,
        disruption_budgets=inputs.disruption_budgets,
        index_node_labels=inputs.index_node_labels,
    )
    allocator = Allocator(features, options=inputs.allocator_options)
    evict_now = evict_from_cache(cache)
    on_evict = inputs.on_evict

    def evict(eviction: Eviction) -> None:
        evict_now(eviction)
        if on_evict is not None:
            on_evict(eviction)

    view = GpuShareView(cache)
    registry = scheduler_registry(
        cache,
        allocator,
        features,
        inputs.rng,
        inputs.binder,
        evict,
        gpu_share_view=view,
        typical_pods=inputs.typical_pods,
        device_speedups=inputs.device_speedups,
        owners=inputs.owners,
        namespace_labels=inputs.namespace_labels,
        preemption_frees_devices=inputs.preemption_frees_devices,
        claim_deallocator=inputs.claim_deallocator,
        gangs=inputs.gangs,
    )
    registry[DefaultPreemption.name] = _default_preemption(
        cache, evict, inputs.rng, _budget_lister(cache, inputs.workloads)
    )
    problems: list[Problem] = []
    traits = inputs.plugin_traits if inputs.plugin_traits is not None else PluginTraits()
    try:
        profiles = build_profiles(
            inputs.config, registry, defaults=default_plugins(features), traits=traits
        )
    except InputError as err:
        if collect_problems is None:
            raise
        problems = list(err.problems)
        collect_problems.extend(problems)
        profiles = {}
    signature: PodSignature | None = None
    if inputs.remember_verdicts:
        signature = inputs.signature if inputs.signature is not None else pod_signature(cache)
    # A fixed ranking decides every tie: the rng is then left to the plugins alone.
    tie_rng = inputs.rng if inputs.node_rank is None else None
    frameworks = {
        name: Framework(
            profile,
            rng=tie_rng,
            node_rank=inputs.node_rank,
            pod_signature=signature,
            node_key=(
                inputs.node_key(profile)
                if inputs.node_key is not None and inputs.remember_verdicts
                else None
            ),
            remember_what_ifs=inputs.remember_what_ifs,
            speedups=inputs.framework_speedups,
            traits=traits,
        )
        for name, profile in profiles.items()
    }
    return BuiltScheduler(
        cache, allocator, registry, view, profiles, frameworks, signature, problems
    )
