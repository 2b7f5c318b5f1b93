"""kube-scheduler's configuration file (`kubescheduler.config.k8s.io/v1`,
`KubeSchedulerConfiguration`; spec/scheduler.md section 7) read into plain values.

Owns parsing and validating the file's shape: the profiles (`schedulerName`,
`percentageOfNodesToScore`, `plugins`, `pluginConfig`) and the global
`percentageOfNodesToScore`. It does not build plugins or merge a profile's plugins with the
defaults; `profiles.build_profile` does that, and checks each plugin's args through its factory.

Decoding is strict, as kube-scheduler's: an unknown field is an error. Fields that only matter to
a running kube-scheduler (`leaderElection`, `clientConnection`, `parallelism`, backoff seconds,
profiling switches, bind addresses) are accepted and ignored. `extenders` are refused: they are
HTTP webhooks an offline run cannot call.

Plugin names are checked against the names dralloc implements (`known_plugins`) and
kube-scheduler's in-tree names (`UPSTREAM_PLUGINS`):

* a name in neither is an error naming file and field (a typo must not pass silently);
* an upstream plugin dralloc lacks (`VolumeBinding`, `NodeVolumeLimits`, ...) is dropped: disabling
  it changes nothing, and enabling it is reported in `warnings`, so a configuration dumped from
  a real cluster (`kube-scheduler --write-config-to`) still loads;
* `PrioritySort` is the order of dralloc's queue, so it is accepted at `queueSort` and
  `multiPoint`; any other queue-sort plugin is an error.

Every problem is reported at once, as one `InputError`, for example
`sched.yaml: KubeSchedulerConfiguration: profiles[0].plugins.filter.enabled[1].name: unknown
plugin "NodeAfinity" (dralloc has: ...)` (on one line).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from dralloc.documents import DocumentReader, read_text, show, yaml_documents
from dralloc.errors import InputError, Problem

API_VERSION = "kubescheduler.config.k8s.io/v1"
KIND = "KubeSchedulerConfiguration"
DEFAULT_SCHEDULER_NAME = "default-scheduler"
QUEUE_SORT = "PrioritySort"
WILDCARD = "*"
MULTI_POINT = "multiPoint"

# The `plugins` keys, in upstream's order; 1.36 adds the two placement points.
EXTENSION_POINTS = (
    "preEnqueue",
    "queueSort",
    "preFilter",
    "filter",
    "postFilter",
    "preScore",
    "score",
    "reserve",
    "permit",
    "preBind",
    "bind",
    "postBind",
    "placementGenerate",
    "placementScore",
    MULTI_POINT,
)

# kube-scheduler's in-tree plugin names (1.36), whether or not dralloc implements them.
UPSTREAM_PLUGINS = frozenset(
    {
        "SchedulingGates",
        "PrioritySort",
        "NodeUnschedulable",
        "NodeName",
        "TaintToleration",
        "NodeAffinity",
        "NodePorts",
        "NodeResourcesFit",
        "VolumeRestrictions",
        "NodeVolumeLimits",
        "VolumeBinding",
        "VolumeZone",
        "PodTopologySpread",
        "InterPodAffinity",
        "DynamicResources",
        "DefaultPreemption",
        "NodeResourcesBalancedAllocation",
        "ImageLocality",
        "DefaultBinder",
        "GangScheduling",
        "TopologyPlacementGenerator",
        "PodGroupPodsCount",
        "NodeDeclaredFeatures",
    }
)

_TOP_FIELDS = frozenset(
    {
        "apiVersion",
        "kind",
        "parallelism",
        "percentageOfNodesToScore",
        "podInitialBackoffSeconds",
        "podMaxBackoffSeconds",
        "profiles",
        "extenders",
        "leaderElection",
        "clientConnection",
        "enableProfiling",
        "enableContentionProfiling",
        "delayCacheUntilActive",
        "healthzBindAddress",
        "metricsBindAddress",
    }
)
_PROFILE_FIELDS = ("schedulerName", "percentageOfNodesToScore", "plugins", "pluginConfig")
_OBJECT = KIND


@dataclass(frozen=True)
class PluginRef:
    """One `{name, weight}` entry of a plugin set; `path` is where it sits in the file."""

    name: str
    weight: int = 0
    path: str = ""


@dataclass(frozen=True)
class PluginSet:
    """`enabled` and `disabled` of one extension point."""

    enabled: tuple[PluginRef, ...] = ()
    disabled: tuple[PluginRef, ...] = ()


@dataclass(frozen=True)
class PluginArgs:
    """One `pluginConfig` entry: the plugin's raw args (camelCase, `apiVersion`/`kind`
    removed), and the path of `args` for error messages."""

    name: str
    args: Mapping[str, object] | None
    path: str


@dataclass(frozen=True)
class ProfileConfig:
    """One profile as written. `plugins` holds only the extension points the file sets;
    `percentage_of_nodes_to_score` is the profile's own (None: the global value)."""

    scheduler_name: str = DEFAULT_SCHEDULER_NAME
    percentage_of_nodes_to_score: int | None = None
    plugins: Mapping[str, PluginSet] = field(default_factory=dict)
    plugin_config: tuple[PluginArgs, ...] = ()
    path: str = "profiles[0]"
    file: str = ""


@dataclass(frozen=True)
class SchedulerConfiguration:
    """A validated configuration: its profiles (at least one), the global
    `percentageOfNodesToScore` (None: adaptive) and warnings about dropped plugins."""

    profiles: tuple[ProfileConfig, ...] = (ProfileConfig(),)
    percentage_of_nodes_to_score: int | None = None
    file: str = ""
    warnings: tuple[str, ...] = ()

    def profile(self, scheduler_name: str) -> ProfileConfig | None:
        for profile in self.profiles:
            if profile.scheduler_name == scheduler_name:
                return profile
        return None


class _Reader(DocumentReader):
    """Collects problems with file and object filled in, and warnings about dropped plugins."""

    def __init__(self, file: str, known: Collection[str]) -> None:
        super().__init__(file, _OBJECT)
        self.known = frozenset(known)
        self.warnings: list[str] = []

    def percentage(self, raw: object, path: str) -> int | None:
        if raw is None:
            return None
        if not isinstance(raw, int) or isinstance(raw, bool) or not 0 <= raw <= 100:
            self.report(path, f"must be an integer in 0..100, got {show(raw)}")
            return None
        return raw

    # --------------------------------------------------------------- plugin sets

    def plugin_name(self, raw: object, path: str, *, disabled: bool) -> str | None:
        """The name if dralloc should act on it; None when absent, wrong or dropped."""
        if not isinstance(raw, str) or not raw:
            self.report(path, f"must be a non-empty string, got {show(raw)}")
            return None
        if raw == WILDCARD:
            if disabled:
                return raw
            self.report(path, '"*" may only be disabled')
            return None
        if raw in self.known or raw == QUEUE_SORT:
            return raw
        if raw in UPSTREAM_PLUGINS:
            if not disabled:
                self.warnings.append(f"{path}: plugin {raw} is not implemented by dralloc; ignored")
            return None
        known = ", ".join(sorted(self.known))
        self.report(path, f"unknown plugin {show(raw)} (dralloc has: {known})")
        return None

    def plugin_set(self, raw: object, path: str, point: str) -> PluginSet:
        fields = self.mapping(raw, path, ("enabled", "disabled"))
        lists: dict[str, list[PluginRef]] = {"enabled": [], "disabled": []}
        for key, refs in lists.items():
            for i, item in enumerate(self.items(fields.get(key), f"{path}.{key}")):
                where = f"{path}.{key}[{i}]"
                if not isinstance(item, dict):
                    self.report(where, f"must be an object, got {show(item)}")
                    continue
                entry = self.mapping(item, where, ("name", "weight"))
                name = self.plugin_name(
                    entry.get("name"), f"{where}.name", disabled=key != "enabled"
                )
                weight = entry.get("weight", 0)
                if weight is None:
                    weight = 0
                if not isinstance(weight, int) or isinstance(weight, bool) or weight < 0:
                    self.report(f"{where}.weight", f"must be an integer >= 0, got {show(weight)}")
                    weight = 0
                if name is None:
                    continue
                if name == QUEUE_SORT and point not in ("queueSort", MULTI_POINT):
                    self.report(f"{where}.name", f"{QUEUE_SORT} is a queueSort plugin only")
                    continue
                if point == "queueSort" and key == "enabled" and name != QUEUE_SORT:
                    self.report(
                        f"{where}.name",
                        f"dralloc's queue sorts by {QUEUE_SORT} only, got {show(name)}",
                    )
                    continue
                refs.append(PluginRef(name, weight, where))
        return PluginSet(tuple(lists["enabled"]), tuple(lists["disabled"]))

    def queue_sort_problem(self, plugins: Mapping[str, PluginSet], path: str) -> None:
        """Upstream needs exactly one queue-sort plugin; dralloc's is PrioritySort."""
        queue = plugins.get("queueSort", PluginSet())
        multi = plugins.get(MULTI_POINT, PluginSet())
        dropped = {r.name for r in (*queue.disabled, *multi.disabled)}
        if not dropped & {QUEUE_SORT, WILDCARD}:
            return
        if any(r.name == QUEUE_SORT for r in (*queue.enabled, *multi.enabled)):
            return
        self.report(f"{path}.plugins.queueSort", f"a profile needs {QUEUE_SORT} at queueSort")

    # ----------------------------------------------------------------- profiles

    def plugin_config(self, raw: object, path: str) -> tuple[PluginArgs, ...]:
        out: list[PluginArgs] = []
        seen: set[str] = set()
        for i, item in enumerate(self.items(raw, path)):
            where = f"{path}[{i}]"
            entry = self.mapping(item, where, ("name", "args"))
            name = entry.get("name")
            if not isinstance(name, str) or not name:
                self.report(f"{where}.name", f"must be a non-empty string, got {show(name)}")
                continue
            if name in seen:
                self.report(f"{where}.name", f"repeated config for plugin {name}")
                continue
            seen.add(name)
            if name not in self.known:
                if name not in UPSTREAM_PLUGINS:
                    known = ", ".join(sorted(self.known))
                    self.report(
                        f"{where}.name", f"unknown plugin {show(name)} (dralloc has: {known})"
                    )
                continue  # args of an upstream plugin dralloc lacks: nothing to configure
            args = entry.get("args")
            if args is not None and not isinstance(args, dict):
                self.report(f"{where}.args", f"must be an object, got {show(args)}")
                continue
            args = dict(args) if args is not None else None
            if args is not None:
                kind = args.pop("kind", None)
                args.pop("apiVersion", None)
                if kind is not None and kind != f"{name}Args":
                    self.report(f"{where}.args.kind", f'must be "{name}Args", got {show(kind)}')
            out.append(PluginArgs(name, args, f"{where}.args"))
        return tuple(out)

    def profile(self, raw: object, path: str, named: bool) -> ProfileConfig:
        fields = self.mapping(raw, path, _PROFILE_FIELDS)
        name = fields.get("schedulerName")
        if name is None:
            if named:
                self.report(f"{path}.schedulerName", "required when there is more than one profile")
            name = DEFAULT_SCHEDULER_NAME
        elif not isinstance(name, str) or not name:
            self.report(f"{path}.schedulerName", f"must be a non-empty string, got {show(name)}")
            name = DEFAULT_SCHEDULER_NAME
        percentage = self.percentage(
            fields.get("percentageOfNodesToScore"), f"{path}.percentageOfNodesToScore"
        )
        plugins_path = f"{path}.plugins"
        raw_plugins = self.mapping(fields.get("plugins"), plugins_path, EXTENSION_POINTS)
        plugins = {
            point: self.plugin_set(value, f"{plugins_path}.{point}", point)
            for point, value in raw_plugins.items()
            if value is not None
        }
        self.queue_sort_problem(plugins, path)
        config = self.plugin_config(fields.get("pluginConfig"), f"{path}.pluginConfig")
        return ProfileConfig(name, percentage, plugins, config, path, self.file)


def parse_config(raw: object, file: str, known_plugins: Collection[str]) -> SchedulerConfiguration:
    """A configuration from its decoded document. `known_plugins` are the names the registry
    that will build the profiles holds. Raises InputError listing every problem."""
    reader = _Reader(file, known_plugins)
    top = reader.mapping(raw, "", _TOP_FIELDS)
    if raw is not None and not isinstance(raw, dict):
        raise InputError(reader.problems)
    if top.get("apiVersion") != API_VERSION:
        reader.report("apiVersion", f'must be "{API_VERSION}", got {show(top.get("apiVersion"))}')
    if top.get("kind") != KIND:
        reader.report("kind", f'must be "{KIND}", got {show(top.get("kind"))}')
    if reader.items(top.get("extenders"), "extenders"):
        reader.report("extenders", "extenders are HTTP webhooks; dralloc cannot call them")
    percentage = reader.percentage(top.get("percentageOfNodesToScore"), "percentageOfNodesToScore")
    raw_profiles = reader.items(top.get("profiles"), "profiles")
    named = len(raw_profiles) > 1
    profiles = [reader.profile(p, f"profiles[{i}]", named) for i, p in enumerate(raw_profiles)]
    first: dict[str, str] = {}
    for profile in profiles:
        earlier = first.setdefault(profile.scheduler_name, profile.path)
        if earlier != profile.path:
            reader.report(
                f"{profile.path}.schedulerName",
                f"duplicate profile {show(profile.scheduler_name)} (first in {earlier})",
            )
    if reader.problems:
        raise InputError(reader.problems)
    if not profiles:
        profiles = [ProfileConfig(file=file)]
    return SchedulerConfiguration(tuple(profiles), percentage, file, tuple(reader.warnings))


def load_config(path: str, known_plugins: Collection[str]) -> SchedulerConfiguration:
    """Read and parse a configuration file (YAML or JSON, one document)."""
    documents = yaml_documents(read_text(path), path)
    if len(documents) > 1:
        raise InputError([Problem(path, "", "", f"expected one document, got {len(documents)}")])
    return parse_config(documents[0] if documents else None, path, known_plugins)
