"""Scheduler profiles built as kube-scheduler builds them: the default profile, and a profile of a
KubeSchedulerConfiguration (spec/scheduler.md sections 4.1 and 7).

Owns the plugin registry of a scheduler over one cache (`scheduler_registry`: the in-tree
plugins, `DynamicResources` and the GPU-sharing score plugins; `DefaultPreemption` lists the
cache's nodes and, unless the caller supplies an evictor, evicts its victims from the cache at
once, as deleting them and letting the ResourceClaim controller deallocate their claims would;
with `DRAExtendedResource` on, `NodeResourcesFit` and `DynamicResources` share one index of
which DeviceClass serves which extended resource, over the cache's classes),
the default plugin list, and upstream's rules for turning a profile's `plugins` and
`pluginConfig` into a `Profile`:

1. per extension point, the defaults are merged with the file's set (`disabled: [{name: "*"}]`
   drops every default; a default also listed in `enabled` is replaced in place, keeping its
   order, which is how a weight changes; other enabled plugins are appended);
2. every enabled plugin is built once, from its `pluginConfig` args (errors carry the config
   path: `profiles[0].pluginConfig[1].args.scoringStrategy.type: ...`);
3. explicit extension points come first; `multiPoint` plugins are then added at every point
   they implement, unless disabled there, in upstream's order (explicit overrides of multiPoint
   plugins, then multiPoint plugins, then the other explicit ones);
4. score weights come from `score`, then `multiPoint`; a weight of 0 counts as 1;
5. a profile needs at least one bind plugin.

When a GPU-sharing score plugin (`BestFit`, `FGD`, ...) is in a profile with
`DynamicResources`, it also chooses *which GPU* (the allocator tries its preferred devices
first); with several, the first in score order does. Pure construction: nothing here runs a
scheduling cycle.

    registry = scheduler_registry(cache, allocator, features, binder=record_binding)
    profile = default_profile(cache, allocator, features, None, record_binding)
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import cast

from dralloc.allocator import Allocator
from dralloc.api.resource import ResourceClaim
from dralloc.errors import InputError, Problem
from dralloc.features import Features
from dralloc.scheduler.cache import SchedulerCache
from dralloc.scheduler.config import (
    MULTI_POINT,
    QUEUE_SORT,
    WILDCARD,
    PluginArgs,
    PluginRef,
    PluginSet,
    ProfileConfig,
    SchedulerConfiguration,
)
from dralloc.scheduler.framework import (
    BindPlugin,
    FilterPlugin,
    NodeInfo,
    PermitPlugin,
    PostFilterPlugin,
    PreBindPlugin,
    PreFilterPlugin,
    PreScorePlugin,
    Profile,
    ReservePlugin,
    ScorePlugin,
)
from dralloc.scheduler.framework.interface import DeviceClassResolver
from dralloc.scheduler.framework.traits import PluginTraits
from dralloc.scheduler.plugins import (
    Binder,
    Eviction,
    Evictor,
    GangLister,
    NamespaceLabels,
    OwnerSelectors,
    Plugin,
    PluginFactory,
    Registry,
    in_tree_registry,
)
from dralloc.scheduler.plugins.defaultpreemption import NAME as DEFAULT_PREEMPTION
from dralloc.scheduler.plugins.dynamicresources import NAME as DYNAMIC_RESOURCES
from dralloc.scheduler.plugins.dynamicresources import (
    DynamicResources,
    ExtendedResourceIndex,
    release_extended_claim,
)
from dralloc.scheduler.plugins.gpushare import (
    FGD,
    MILLI,
    BestFit,
    DotProduct,
    GpuCapacityFilter,
    GpuClustering,
    GpuPacking,
    GpuShareView,
    Random,
    TaskType,
)
from dralloc.scheduler.plugins.helper import ArgsReader, check_no_args
from dralloc.scheduler.plugins.noderesources import NodeResourcesFit, NodeResourcesFitArgs

# kube-scheduler's default multiPoint list (spec 4.1; `getDefaultPlugins` in
# pkg/scheduler/apis/config/v1/default_plugins.go, 1.36), restricted to the plugins dralloc
# has, in upstream's order: the volume plugins (VolumeRestrictions, NodeVolumeLimits,
# VolumeBinding, VolumeZone) would sit between NodeResourcesFit and PodTopologySpread.
# DynamicResources goes before DefaultPreemption, as the DynamicResourceAllocation gate puts
# it; its weight 2 is 1.35+ (unverified upstream) and matters only once the plugin scores.
DEFAULT_PLUGINS: tuple[PluginRef, ...] = (
    PluginRef("NodeUnschedulable"),
    PluginRef("NodeName"),
    PluginRef("TaintToleration", 3),
    PluginRef("NodeAffinity", 2),
    PluginRef("NodePorts"),
    PluginRef("NodeResourcesFit", 1),
    PluginRef("PodTopologySpread", 2),
    PluginRef("InterPodAffinity", 2),
    PluginRef(DYNAMIC_RESOURCES, 2),
    PluginRef(DEFAULT_PREEMPTION),
    PluginRef("NodeResourcesBalancedAllocation", 1),
    PluginRef("ImageLocality", 1),
    PluginRef("DefaultBinder"),
)


def default_plugins(features: Features) -> tuple[PluginRef, ...]:
    """`DEFAULT_PLUGINS` with what upstream's gates add at the end: GangScheduling
    (GangScheduling, which needs GenericWorkload) and PodGroupPodsCount, weight 1
    (TopologyAwareWorkloadScheduling; its TopologyPlacementGenerator is not in dralloc)."""
    extra: list[PluginRef] = []
    if features.gang_scheduling:
        extra.append(PluginRef("GangScheduling"))
        if features.enabled("TopologyAwareWorkloadScheduling"):
            extra.append(PluginRef("PodGroupPodsCount", 1))
    return DEFAULT_PLUGINS + tuple(extra)


GPU_SHARING_TYPES = (FGD, BestFit, DotProduct, GpuPacking, GpuClustering, Random)
GPU_SHARING_PLUGINS = tuple(kind.name for kind in GPU_SHARING_TYPES)
_OBJECT = "KubeSchedulerConfiguration"


@dataclass(frozen=True)
class _Point:
    """One extension point the framework runs: its config key, `Profile` field and Protocol."""

    key: str
    attribute: str
    protocol: type


_POINTS = (
    _Point("preFilter", "pre_filter", PreFilterPlugin),
    _Point("filter", "filter", FilterPlugin),
    _Point("postFilter", "post_filter", PostFilterPlugin),
    _Point("preScore", "pre_score", PreScorePlugin),
    _Point("score", "score", ScorePlugin),
    _Point("reserve", "reserve", ReservePlugin),
    _Point("permit", "permit", PermitPlugin),
    _Point("preBind", "pre_bind", PreBindPlugin),
    _Point("bind", "bind", BindPlugin),
)
_RUN_POINTS = frozenset(point.key for point in _POINTS)


# ------------------------------------------------------------------------------ registry

_DURATION = re.compile(r"^([0-9]*\.?[0-9]+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parse_duration(text: str) -> float | None:
    """Seconds in a Go duration (`10s`, `1m30s`, `500ms`, `0`); None when it does not parse."""
    if text == "0":
        return 0.0
    rest, total = text, 0.0
    if not rest:
        return None
    while rest:
        match = _DURATION.match(rest)
        if match is None:
            return None
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        rest = rest[match.end() :]
    return total


def _duration(reader: ArgsReader, raw: object, path: str) -> float | None:
    if raw is None:
        return None
    seconds = parse_duration(raw) if isinstance(raw, str) else None
    if seconds is None:
        reader.report(path, f'must be a duration such as "10s", got {raw!r}')
    return seconds


def _node_resources_fit_factory(device_classes: DeviceClassResolver | None) -> PluginFactory:
    """NodeResourcesFit as the in-tree registry builds it, told which extended resources
    DeviceClasses map (KEP-5004)."""

    def build(args: Mapping[str, object] | None, *, path: str = "") -> Plugin:
        parsed = (
            NodeResourcesFitArgs.from_dict(args, path)
            if path
            else NodeResourcesFitArgs.from_dict(args)
        )
        return NodeResourcesFit(parsed, device_classes)

    return build


@dataclass(frozen=True)
class DeviceSpeedups:
    """What a caller knows about its nodes' devices that lets `DynamicResources` share work
    (the simulator's nodes of one GPU model publish alike devices):

    - `node_class(node)`: equal classes mean nodes whose devices (and the DeviceClasses and
      selectors that read them) are alike, so one allocator verdict serves equally used
      nodes of a class; None: no sharing across nodes.
    - `interchangeable_devices`: a node's devices are interchangeable for every claim (one
      model per machine, selectors read the product name only).

    - `remember_outcomes` (on by default): Filter outcomes are kept per (node, node
      generation, claim specs) and reused for pods of the same claims (False recomputes).

    None changes an outcome; the first two are off by default."""

    node_class: Callable[[NodeInfo], Hashable] | None = None
    interchangeable_devices: bool = False
    remember_outcomes: bool = True


NO_DEVICE_SPEEDUPS = DeviceSpeedups()


def _dynamic_resources_factory(
    cache: SchedulerCache,
    allocator: Allocator,
    features: Features,
    device_classes: DeviceClassResolver | None = None,
    speedups: DeviceSpeedups = NO_DEVICE_SPEEDUPS,
    *,
    preemption_frees_devices: bool = False,
    claim_deallocator: Callable[[ResourceClaim], None] | None = None,
) -> PluginFactory:
    """DynamicResourcesArgs: `filterTimeout` (default: the allocator's own timeout, 10 s in the
    CLI; 0 means no limit) and `bindingTimeout` (checked, then unused: dralloc binds at once).
    `preemption_frees_devices` is dralloc's KEP-5690 option (off: as 1.36)."""

    def build(args: Mapping[str, object] | None, *, path: str = "") -> Plugin:
        where = path or "DynamicResourcesArgs"
        reader = ArgsReader(where)
        fields = reader.mapping(args, where, known=("filterTimeout", "bindingTimeout"))
        timeout = _duration(reader, fields.get("filterTimeout"), f"{where}.filterTimeout")
        binding = _duration(reader, fields.get("bindingTimeout"), f"{where}.bindingTimeout")
        if binding is not None:
            if not features.device_binding_and_status:
                reader.report(
                    f"{where}.bindingTimeout",
                    "needs the DRADeviceBindingConditions and DRAResourceClaimDeviceStatus gates",
                )
            elif binding < 1:
                reader.report(f"{where}.bindingTimeout", "must be at least 1s")
        reader.fail_if_any()
        used = allocator
        if timeout is not None:
            options = replace(allocator.options, timeout=timeout or None)
            used = Allocator(features, cel=allocator.cel, options=options)
        return DynamicResources(
            cache,
            used,
            node_class=speedups.node_class,
            interchangeable_devices=speedups.interchangeable_devices,
            extended_resources=device_classes,
            frees_devices_for_preemption=preemption_frees_devices,
            remember_outcomes=speedups.remember_outcomes,
            deallocate=claim_deallocator,
        )

    return build


def _typical_pods(reader: ArgsReader, raw: object, path: str) -> list[tuple[TaskType, float]]:
    """FGD's target workload from `typicalPods: [{cpuMilli, gpuMilli, numGpu, gpuModels,
    weight}]`; weights (default 1) are normalised to shares summing to 1."""
    found: list[tuple[TaskType, float]] = []
    items = reader.items(raw, path)
    if raw is not None and not items and isinstance(raw, list):
        reader.report(path, "must list at least one pod shape")
    known = ("cpuMilli", "gpuMilli", "numGpu", "gpuModels", "weight")
    for i, item in enumerate(items):
        where = f"{path}[{i}]"
        fields = reader.mapping(item, where, known=known)
        numbers = {
            key: reader.integer(fields.get(key, 0), f"{where}.{key}")
            for key in ("cpuMilli", "gpuMilli", "numGpu")
        }
        models = reader.strings(fields.get("gpuModels"), f"{where}.gpuModels")
        weight = fields.get("weight", 1)
        if isinstance(weight, bool) or not isinstance(weight, int | float) or weight <= 0:
            reader.report(f"{where}.weight", f"must be a number > 0, got {weight!r}")
            continue
        cpu, gpu, count = numbers["cpuMilli"], numbers["gpuMilli"], numbers["numGpu"]
        if cpu is None or gpu is None or count is None:
            continue
        try:
            task = TaskType(cpu, gpu, count, frozenset(models))
        except ValueError as err:
            reader.report(where, str(err).split(": ", 1)[-1])
            continue
        found.append((task, float(weight)))
    total = sum(weight for _, weight in found)
    return [(task, weight / total) for task, weight in found]


def _gpu_sharing_factories(
    cache: SchedulerCache,
    given: GpuShareView | None,
    rng: random.Random | None,
    typical_pods: Sequence[tuple[TaskType, float]] | None = None,
) -> dict[str, PluginFactory]:
    """The GPU-sharing plugins over one view, `given` or made when the first is built (the
    plugins of all profiles share its per-node memo). FGD without args takes `typical_pods`
    when given (shares summing to 1, as `typical_workload` measures them from a trace)."""
    views: list[GpuShareView] = [given] if given is not None else []

    def view() -> GpuShareView:
        if not views:
            views.append(GpuShareView(cache))
        return views[0]

    def simple(make: Callable[[GpuShareView], Plugin], name: str) -> PluginFactory:
        def build(args: Mapping[str, object] | None, *, path: str = "") -> Plugin:
            check_no_args(args, path or f"{name}.args")
            return make(view())

        return build

    def fgd(args: Mapping[str, object] | None, *, path: str = "") -> Plugin:
        where = path or "FGDArgs"
        reader = ArgsReader(where)
        if args is None and typical_pods is not None:
            return FGD(view(), list(typical_pods))
        if args is None:
            reader.report(
                where,
                "FGD needs args with typicalPods (the target workload: "
                f"[{{cpuMilli, gpuMilli (0..{MILLI}), numGpu, gpuModels, weight}}])",
            )
            reader.fail_if_any()
        fields = reader.mapping(args, where, known=("typicalPods",))
        if "typicalPods" not in fields:
            reader.report(f"{where}.typicalPods", "required")
        workload = _typical_pods(reader, fields.get("typicalPods"), f"{where}.typicalPods")
        reader.fail_if_any()
        return FGD(view(), workload)

    chooser = rng if rng is not None else random.Random(0)
    return {
        FGD.name: fgd,
        BestFit.name: simple(BestFit, BestFit.name),
        DotProduct.name: simple(DotProduct, DotProduct.name),
        GpuPacking.name: simple(GpuPacking, GpuPacking.name),
        GpuClustering.name: simple(GpuClustering, GpuClustering.name),
        Random.name: simple(lambda v: Random(v, chooser), Random.name),
        GpuCapacityFilter.name: simple(GpuCapacityFilter, GpuCapacityFilter.name),
    }


def evict_from_cache(cache: SchedulerCache) -> Evictor:
    """An evictor that removes the victims from `cache` at once: off their nodes, out of their
    claims' reservations (the extended-resource claim their status names included), and
    claims nobody reserves any more deallocated."""

    def evict(eviction: Eviction) -> None:
        for victim in eviction.victims:
            cache.remove_pod(victim.pod)
            release_extended_claim(cache, victim.pod)

    return evict


def scheduler_registry(
    cache: SchedulerCache,
    allocator: Allocator,
    features: Features,
    rng: random.Random | None = None,
    binder: Binder | None = None,
    evictor: Evictor | None = None,
    *,
    gpu_share_view: GpuShareView | None = None,
    typical_pods: Sequence[tuple[TaskType, float]] | None = None,
    device_speedups: DeviceSpeedups = NO_DEVICE_SPEEDUPS,
    owners: OwnerSelectors | None = None,
    namespace_labels: NamespaceLabels | None = None,
    preemption_frees_devices: bool = False,
    claim_deallocator: Callable[[ResourceClaim], None] | None = None,
    gangs: GangLister | None = None,
) -> Registry:
    """Every plugin dralloc can put in a profile over `cache`: the in-tree registry,
    `DynamicResources` (through `allocator`, with `device_speedups`), the GPU-sharing score
    plugins and `GpuCapacityFilter` over `gpu_share_view` (default: a new view of `cache`;
    `Random` draws from `rng`, else from `random.Random(0)`; FGD without args targets
    `typical_pods`). `DefaultPreemption` evicts through `evictor`, else
    `evict_from_cache(cache)`, and draws its dry run's offset from `rng` (0 without).
    The pod-to-pod plugins (and DefaultPreemption) read every node of the running cycle's
    snapshot (`cache.cycle_nodes()`, without updating it mid-cycle); PodTopologySpread's default
    constraints spread the pods whose owners `owners` knows (none without), InterPodAffinity
    reads namespace labels from `namespace_labels` (default: `kubernetes.io/metadata.name`
    only). `preemption_frees_devices`: DynamicResources lets preemption free the devices of
    victims' node-local claims (KEP-5690, beyond 1.36; off by default, as 1.36).
    `claim_deallocator` is DynamicResources' PostFilter write (a live cluster's). `gangs`
    says which pods form gangs (GangScheduling; none without it)."""
    registry = in_tree_registry(
        binder=binder,
        nodes=cache.cycle_nodes,
        evictor=evictor if evictor is not None else evict_from_cache(cache),
        rng=rng,
        owners=owners,
        namespace_labels=namespace_labels,
        gangs=gangs,
    )
    device_classes = (
        ExtendedResourceIndex(cache.classes) if features.enabled("DRAExtendedResource") else None
    )
    registry[NodeResourcesFit.name] = _node_resources_fit_factory(device_classes)
    registry[DYNAMIC_RESOURCES] = _dynamic_resources_factory(
        cache,
        allocator,
        features,
        device_classes,
        device_speedups,
        preemption_frees_devices=preemption_frees_devices,
        claim_deallocator=claim_deallocator,
    )
    registry.update(_gpu_sharing_factories(cache, gpu_share_view, rng, typical_pods))
    return registry


def plugin_names() -> frozenset[str]:
    """The names `scheduler_registry` holds, without a cache to build them over."""
    return frozenset(in_tree_registry()) | {
        DYNAMIC_RESOURCES,
        *GPU_SHARING_PLUGINS,
        GpuCapacityFilter.name,
    }


# ------------------------------------------------------------------------------- merging


def merge_plugin_set(defaults: PluginSet, custom: PluginSet) -> PluginSet:
    """Upstream's `mergePluginSet`: the defaults of one extension point with the file's set."""
    disabled = (*custom.disabled, *defaults.disabled)
    names = {ref.name for ref in disabled}
    custom_index = {ref.name: (i, ref) for i, ref in enumerate(custom.enabled)}
    replaced: set[int] = set()
    enabled: list[PluginRef] = []
    if WILDCARD not in names:
        for ref in defaults.enabled:
            if ref.name in names:
                continue
            found = custom_index.get(ref.name)
            if found is not None:  # re-configured: takes the default's place
                replaced.add(found[0])
                ref = found[1]
            enabled.append(ref)
    enabled.extend(ref for i, ref in enumerate(custom.enabled) if i not in replaced)
    return PluginSet(tuple(enabled), disabled)


class _Builder:
    """Builds one profile, collecting every problem."""

    def __init__(
        self,
        config: ProfileConfig,
        registry: Registry,
        defaults: tuple[PluginRef, ...] = DEFAULT_PLUGINS,
        traits: PluginTraits | None = None,
    ) -> None:
        self.config = config
        self.registry = registry
        self.defaults = defaults
        self.traits = traits if traits is not None else PluginTraits()
        self.problems: list[Problem] = []
        self.plugins: dict[str, Plugin] = {}

    def report(self, path: str, message: str) -> None:
        obj = _OBJECT if self.config.file else ""
        where = path or self.config.path
        self.problems.append(Problem(self.config.file, obj, where, message))

    def merged(self) -> dict[str, PluginSet]:
        sets = dict(self.config.plugins)
        out = {key: merge_plugin_set(PluginSet(), value) for key, value in sets.items()}
        default_multi = PluginSet(self.defaults)
        out[MULTI_POINT] = merge_plugin_set(default_multi, sets.get(MULTI_POINT, PluginSet()))
        return out

    def _where(self, ref: PluginRef, point: str) -> str:
        return ref.path or f"{self.config.path}.plugins.{point} (default)"

    def build_plugins(self, merged: Mapping[str, PluginSet]) -> None:
        """Build each enabled plugin once, and each configured one (to check its args)."""
        args: dict[str, PluginArgs] = {entry.name: entry for entry in self.config.plugin_config}
        wanted: dict[str, str] = {}
        for point, plugin_set in merged.items():
            for ref in plugin_set.enabled:
                if ref.name != QUEUE_SORT:
                    wanted.setdefault(ref.name, self._where(ref, point))
        for name in args:
            wanted.setdefault(name, args[name].path)
        for name, where in wanted.items():
            factory = self.registry.get(name)
            if factory is None:
                self.report(where, f'plugin "{name}" does not exist in this registry')
                continue
            entry = args.get(name)
            path = entry.path if entry is not None else f"{self.config.path}.pluginConfig"
            try:
                self.plugins[name] = factory(entry.args if entry else None, path=path)
            except InputError as err:
                obj = _OBJECT if self.config.file else ""
                self.problems.extend(
                    Problem(self.config.file, obj, p.field, p.message) for p in err.problems
                )

    def point_plugins(self, point: _Point, merged: Mapping[str, PluginSet]) -> list[Plugin]:
        """Upstream's `updatePluginList` for the explicit set, then `expandMultiPointPlugins`."""
        explicit = merged.get(point.key, PluginSet())
        enabled: list[str] = []
        for ref in explicit.enabled:
            plugin = self.plugins.get(ref.name)
            if plugin is None:
                continue
            if not self.traits.implements(plugin, point.protocol):
                self.report(
                    self._where(ref, point.key),
                    f'plugin "{ref.name}" is enabled at {point.key} but defines no '
                    f"{point.attribute}()",
                )
                continue
            if ref.name in enabled:
                self.report(
                    self._where(ref, point.key),
                    f'plugin "{ref.name}" is already enabled at {point.key}',
                )
                continue
            enabled.append(ref.name)
        disabled = {ref.name for ref in explicit.disabled}
        if WILDCARD in disabled:
            return [self.plugins[name] for name in enabled]
        overrides: list[str] = []
        multi: list[str] = []
        for ref in merged[MULTI_POINT].enabled:
            plugin = self.plugins.get(ref.name)
            if plugin is None or not self.traits.implements(plugin, point.protocol):
                continue
            if ref.name in disabled:
                continue
            if ref.name in enabled:
                overrides.append(ref.name)
                continue
            if ref.name in multi:
                self.report(
                    self._where(ref, MULTI_POINT),
                    f'plugin "{ref.name}" is already enabled at {point.key}',
                )
                continue
            multi.append(ref.name)
        ordered = [n for n in enabled if n in overrides]
        ordered += multi
        ordered += [n for n in enabled if n not in overrides]
        return [self.plugins[name] for name in ordered]

    def check_unrun_points(self, merged: Mapping[str, PluginSet]) -> None:
        for key, plugin_set in merged.items():
            if key in _RUN_POINTS or key in (MULTI_POINT, "queueSort"):
                continue
            for ref in plugin_set.enabled:
                self.report(
                    self._where(ref, key),
                    f'plugin "{ref.name}" is enabled at {key}, which dralloc\'s framework '
                    "does not run",
                )

    def weights(self, merged: Mapping[str, PluginSet]) -> dict[str, int]:
        found: dict[str, int] = {}
        for ref in (*merged.get("score", PluginSet()).enabled, *merged[MULTI_POINT].enabled):
            found.setdefault(ref.name, ref.weight or 1)
        return found

    def build(self, percentage: int | None) -> Profile:
        merged = self.merged()
        self.check_unrun_points(merged)
        self.build_plugins(merged)
        lists = {point.key: self.point_plugins(point, merged) for point in _POINTS}
        if not lists["bind"] and not self.problems:
            self.report(
                f"{self.config.path}.plugins",
                f'at least one bind plugin is needed for profile "{self.config.scheduler_name}"',
            )
        if self.problems:
            raise InputError(self.problems)
        weights = self.weights(merged)
        scores = [(plugin, weights.get(plugin.name, 1)) for plugin in lists["score"]]
        # Every plugin in `lists` was checked against its point's Protocol (`point_plugins`).
        at = lists.get
        profile = Profile(
            name=self.config.scheduler_name,
            pre_filter=cast(list[PreFilterPlugin], at("preFilter", [])),
            filter=cast(list[FilterPlugin], at("filter", [])),
            post_filter=cast(list[PostFilterPlugin], at("postFilter", [])),
            pre_score=cast(list[PreScorePlugin], at("preScore", [])),
            score=cast(list[tuple[ScorePlugin, int]], scores),
            reserve=cast(list[ReservePlugin], at("reserve", [])),
            permit=cast(list[PermitPlugin], at("permit", [])),
            pre_bind=cast(list[PreBindPlugin], at("preBind", [])),
            bind=cast(list[BindPlugin], at("bind", [])),
            percentage_of_nodes_to_score=(
                self.config.percentage_of_nodes_to_score
                if self.config.percentage_of_nodes_to_score is not None
                else percentage
            ),
        )
        _wire_device_order(self.plugins.values(), [plugin for plugin, _ in profile.score])
        return profile


def _wire_device_order(plugins: Iterable[Plugin], scores: Sequence[ScorePlugin]) -> None:
    """The first GPU-sharing score plugin chooses DynamicResources' devices."""
    policy = next((p for p in scores if isinstance(p, GPU_SHARING_TYPES)), None)
    if policy is None:
        return
    for plugin in plugins:
        if isinstance(plugin, DynamicResources):
            plugin.device_order = policy


def gpu_sharing_profile(
    policy: str, *, scheduler_name: str | None = None, percentage_of_nodes_to_score: int = 100
) -> ProfileConfig:
    """The FGD experiment's profile (spec/fgd.md section 2) for the GPU-sharing score plugin
    named `policy` (`FGD`, `BestFit`, ...): NodeResourcesFit (CPU and memory, no score),
    GpuCapacityFilter, DynamicResources (which picks the GPU in the order the policy prefers)
    and the policy as the only score plugin; every node scored, DefaultBinder to bind.
    ValueError for a name that is not a GPU-sharing plugin."""
    if policy not in GPU_SHARING_PLUGINS:
        raise ValueError(
            f"unknown GPU-sharing plugin {policy!r} (known: {', '.join(GPU_SHARING_PLUGINS)})"
        )

    def only(*names: str) -> PluginSet:
        return PluginSet(tuple(PluginRef(name) for name in names))

    fit, gpus = NodeResourcesFit.name, GpuCapacityFilter.name
    plugins = {
        MULTI_POINT: PluginSet(disabled=(PluginRef(WILDCARD),)),
        "preFilter": only(fit, DYNAMIC_RESOURCES),
        "filter": only(fit, gpus, DYNAMIC_RESOURCES),
        # Random draws its one node at PreScore; the others score each node on its own.
        "preScore": only(policy) if policy == Random.name else PluginSet(),
        "score": only(policy),
        "reserve": only(DYNAMIC_RESOURCES),
        "preBind": only(DYNAMIC_RESOURCES),
        "bind": only("DefaultBinder"),
    }
    return ProfileConfig(
        scheduler_name=scheduler_name or f"gpu-sharing-{policy}",
        percentage_of_nodes_to_score=percentage_of_nodes_to_score,
        plugins=plugins,
    )


def build_profile(
    config: ProfileConfig,
    registry: Registry,
    *,
    percentage_of_nodes_to_score: int | None = None,
    defaults: tuple[PluginRef, ...] = DEFAULT_PLUGINS,
    traits: PluginTraits | None = None,
) -> Profile:
    """The `Profile` of one configured profile over `registry`'s plugins (new instances).
    `percentage_of_nodes_to_score` is the configuration's global value, used when the profile
    sets none; `defaults` the default multiPoint list (`default_plugins(features)`); `traits`
    answers which extension Protocols each plugin implements (default: a memo of this build's
    own). Raises InputError naming file and config path for every problem."""
    return _Builder(config, registry, defaults, traits).build(percentage_of_nodes_to_score)


def build_profiles(
    config: SchedulerConfiguration,
    registry: Registry,
    *,
    defaults: tuple[PluginRef, ...] = DEFAULT_PLUGINS,
    traits: PluginTraits | None = None,
) -> dict[str, Profile]:
    """Every profile of a configuration, by schedulerName; all problems in one InputError.
    `defaults` and `traits` as `build_profile`'s (one memo serves every profile)."""
    known = traits if traits is not None else PluginTraits()
    profiles: dict[str, Profile] = {}
    problems: list[Problem] = []
    for profile_config in config.profiles:
        try:
            profiles[profile_config.scheduler_name] = build_profile(
                profile_config,
                registry,
                percentage_of_nodes_to_score=config.percentage_of_nodes_to_score,
                defaults=defaults,
                traits=known,
            )
        except InputError as err:
            problems.extend(err.problems)
    if problems:
        raise InputError(problems)
    return profiles


def default_profile(
    cache: SchedulerCache,
    allocator: Allocator,
    features: Features,
    rng: random.Random | None,
    binder: Binder | None,
    evictor: Evictor | None = None,
    *,
    preemption_frees_devices: bool = False,
) -> Profile:
    """kube-scheduler's `default-scheduler` profile with the plugins dralloc has (spec 4.1):
    NodeUnschedulable, NodeName, TaintToleration (3), NodeAffinity (2), NodePorts,
    NodeResourcesFit (1), PodTopologySpread (2), InterPodAffinity (2), DynamicResources (2),
    DefaultPreemption, NodeResourcesBalancedAllocation (1), ImageLocality (1), DefaultBinder.
    DefaultPreemption evicts through `evictor` (default: from the cache at once);
    `preemption_frees_devices` as `scheduler_registry`'s."""
    registry = scheduler_registry(
        cache,
        allocator,
        features,
        rng,
        binder,
        evictor,
        preemption_frees_devices=preemption_frees_devices,
    )
    return build_profile(ProfileConfig(), registry, defaults=default_plugins(features))
