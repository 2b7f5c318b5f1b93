"""One run of the FGD experiment (spec/fgd.md section 2) through dralloc's own scheduler.

The run is the paper's arrival-only experiment, driven through the same objects and code as
everything else: the trace's nodes (an `ArrivalTrace` of `TraceNode`s and `TracePod`s, which
`traces.openb.arrival_trace` converts the openb lists to) become Nodes and ResourceSlices
(`openb_objects`), every pod a Pod with a ResourceClaim, and each pod goes through
`Scheduler.schedule_one` with a profile of `NodeResourcesFit` (CPU and memory),
`DynamicResources` (the DRA allocator, which picks the GPU in the order the policy prefers)
and one GPU-sharing score plugin. A pod that fits nowhere is dropped; nothing departs.

Per run (seeded, `random.Random(seed)` only):
1. the typical workload M from the original pod list (spec models mapped to product names);
2. the pods shuffled and tuned to 130% of GPU capacity;
3. the fixed random node ranking that breaks score ties;
4. after every pod: used and arrived milli-GPU and the cluster fragmentation, kept
   incrementally (only the node a pod lands on changes);
5. per GPU model, the GPUs left unallocated when the arrived workload is 100% of capacity,
   bucketed as the curves are (spec/fgd.md section 5: the mean over the events whose rounded
   x is 100, else those at 99 and 101), for the cost of the stranded capacity.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from dralloc.allocator import AllocatorOptions
from dralloc.api.resource import ResourceClaim
from dralloc.devices import driver_device_classes
from dralloc.features import Features
from dralloc.scheduler.builder import SchedulerInputs, build_scheduler
from dralloc.scheduler.cache import SchedulerCache
from dralloc.scheduler.config import PluginRef, PluginSet, SchedulerConfiguration
from dralloc.scheduler.framework import FrameworkSpeedups, NodeInfo, PodInfo, Profile
from dralloc.scheduler.plugins.dynamicresources import DynamicResources
from dralloc.scheduler.plugins.gangscheduling import GangLister, GangScheduling
from dralloc.scheduler.plugins.gpushare import (
    MILLI,
    FragmentationMeter,
    GpuClustering,
    GpuShareView,
    TaskType,
    typical_workload,
)
from dralloc.scheduler.plugins.nodeunschedulable import NodeUnschedulable
from dralloc.scheduler.profiles import DeviceSpeedups, gpu_sharing_profile
from dralloc.scheduler.queue import Clock, PreEnqueuePlugin, SchedulingQueue
from dralloc.scheduler.scheduler import Scheduler
from dralloc.sim.fgd import RunLog, arrival_x, node_order, tune
from dralloc.sim.openb_objects import cluster_objects, pod_objects
from dralloc.sim.traces.model import ArrivalTrace, GpuModels, TraceNode, TracePod

# The simulator's policy names (the FGD paper's) and the GPU-sharing plugin each one is: the
# only place they meet. A new policy is a plugin in `scheduler/plugins/gpushare/`, its entry in
# the registry (`profiles.py`) and a line here.
POLICY_PLUGINS: Mapping[str, str] = {
    "random": "Random",
    "dotprod": "DotProduct",
    "clustering": "GpuClustering",
    "packing": "GpuPacking",
    "bestfit": "BestFit",
    "fgd": "FGD",
}
POLICIES = tuple(POLICY_PLUGINS)
TUNE_FACTOR = 1.3


@dataclass(frozen=True)
class NodeUsage:
    """A node at the end of a run: its GPU model code and milli-GPU used out of capacity."""

    name: str
    model: str
    used_milli: int
    capacity_milli: int


@dataclass(frozen=True)
class RunResult:
    workload: str
    policy: str
    seed: int
    total_gpus: int
    pods: int
    scheduled: int
    log: RunLog
    final_nodes: tuple[NodeUsage, ...] = ()
    # GPU model code -> GPUs unallocated at 100% arrived (see the module docstring, step 5).
    unallocated_at_100: Mapping[str, float] = field(default_factory=dict)
    # The cluster the run leaves, for a view of it in this process (`dralloc dashboard
    # --fgd`): the scheduler cache (every node, the placed pods bound, their claims
    # allocated) and the pods that fitted nowhere (`namespace/name`, with the claim they
    # asked for; the run drops them and removes their claims from the cache). Not compared:
    # two runs are equal by their figures.
    cache: SchedulerCache | None = field(default=None, compare=False, repr=False)
    unplaced: tuple[tuple[str, ResourceClaim | None], ...] = field(
        default=(), compare=False, repr=False
    )


def _share_id_source(rng: random.Random) -> Callable[[], str]:
    def next_id() -> str:
        return f"{rng.getrandbits(128):032x}"

    return next_id


def workload_in_products(
    pods: Sequence[TracePod], models: GpuModels
) -> list[tuple[TaskType, float]]:
    """M of `pods` with each task's allowed models as GPU product names, as `NodeState.model`
    is."""
    products = []
    for task, share in typical_workload(pods):
        spec = frozenset(models.model(code).product_name for code in task.gpu_spec)
        products.append((TaskType(task.cpu_milli, task.gpu_milli, task.num_gpu, spec), share))
    return products


@dataclass
class Simulation:
    """One run's scheduler over the trace's nodes, and what a driver reads beside it.

    `shapes` maps a pod key to its shape signature; the driver keeps an entry for every pod it
    hands to `scheduler.schedule_one` (the framework's remembered verdicts are keyed on it).
    """

    cache: SchedulerCache
    view: GpuShareView
    scheduler: Scheduler
    shapes: dict[str, bytes]
    # A node joining later (an autoscaled one) tells what the speed-ups key it on: devices
    # alike to nodes of its class, plugins' verdicts alike to nodes of its shape.
    describe_node: Callable[[str, Hashable, Hashable], None] = lambda name, c, s: None

    def queue(self, clock: Clock, pre_enqueue: Sequence[PreEnqueuePlugin] = ()) -> SchedulingQueue:
        """The scheduling queue of the run's profile (its plugins' events and hints), with
        `pre_enqueue` (GangScheduling's when the run has gangs) keeping pods out of activeQ."""
        return SchedulingQueue.for_profile(
            clock, self.scheduler.framework.profile, pre_enqueue=pre_enqueue
        )


@dataclass(frozen=True)
class SimulationSpeedups:
    """What a simulation lets the scheduler remember, each switch on its own (none changes
    a placement, a message or a GPU chosen: tests/sim/test_remembered_verdicts.py):

    - `pod_verdicts`: the framework reuses a node's Filter status and node-local scores for
      pods of one shape while the node is unchanged (the pod signature);
    - `alike_nodes`: with `pod_verdicts`, nodes every plugin treats alike (shape, pods, use)
      share those verdicts (the node key);
    - `node_classes`: DynamicResources shares its verdict across equally used nodes of one
      GPU model and count;
    - `interchangeable_devices`: DynamicResources takes a node's GPU usage as a multiset;
    - `dra_outcomes`: DynamicResources keeps its Filter outcome per node generation;
    - `framework_shortcuts`: the framework's own `FrameworkSpeedups` (uniform scores, ties
      drawn by position), all on or all off.
    """

    pod_verdicts: bool = True
    alike_nodes: bool = True
    node_classes: bool = True
    interchangeable_devices: bool = True
    dra_outcomes: bool = True
    framework_shortcuts: bool = True

    @classmethod
    def none(cls) -> SimulationSpeedups:
        return cls(False, False, False, False, False, False)


def build_simulation(
    nodes: Sequence[TraceNode],
    workload: Sequence[tuple[TaskType, float]],
    policy: str,
    rng: random.Random,
    rank: Mapping[str, int],
    models: GpuModels,
    *,
    remember_verdicts: bool = True,
    speedups: SimulationSpeedups | None = None,
    features: Features | None = None,
    gangs: GangLister | None = None,
    node_affinity: bool = False,
    node_unschedulable: bool = False,
) -> Simulation:
    """The cache, the policy's profile and the scheduler of one run (the FGD experiment's and
    the replay's), built by `build_scheduler` with `gpu_sharing_profile` of the policy's
    plugin (`POLICY_PLUGINS`): `NodeResourcesFit`, `GpuCapacityFilter`, `DynamicResources`
    ordering GPUs as the policy prefers, and the policy's score plugin; ties go to `rank`.

    `rng` is the run's: the Random policy draws from it (one node per pod at PreScore, one GPU
    per sharing pod at Reserve) and seeds the shareIDs' generator, so a run consumes it in the
    same order whoever builds the run and whatever is remembered.

    `speedups` says what may be remembered (default: everything); `remember_verdicts=False`
    is `SimulationSpeedups.none()`. `features` are the gates (default: Kubernetes 1.36's);
    with GangScheduling on and `gangs` given, the profile's Permit runs `GangScheduling`
    (so its events requeue a gang's members) and the replay drives pod-group cycles.
    `node_affinity` puts `NodeAffinity` first at PreFilter and Filter, for pods given a
    nodeSelector (the queued replay's topology domains); off, the profile has none.
    `node_unschedulable` puts `NodeUnschedulable` first at Filter (kube-scheduler's default
    order), for a fleet whose nodes are cordoned (Karpenter's, waiting for their
    replacement); an uncordon requeues the pods it rejected (Node/UpdateNodeTaint). Off, as
    for the FGD experiment and static replays, no node is ever cordoned.
    """
    if speedups is None:
        speedups = SimulationSpeedups() if remember_verdicts else SimulationSpeedups.none()
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r} (known: {', '.join(POLICIES)})")
    features = features if features is not None else Features()
    objects = cluster_objects(nodes, models)
    # ShareIDs from their own generator, seeded once from the run's: how many allocator calls
    # a run makes (what is remembered) must not move the Random policy's draws.
    share_rng = random.Random(rng.getrandbits(64))
    options = AllocatorOptions(timeout=None, share_ids=_share_id_source(share_rng))
    # Nodes of one model and GPU count publish alike devices; the workload's selectors read
    # only the product name, so the DRA verdict is shared by equally used nodes of a class.
    alike: dict[str, Hashable] = {node.name: (node.model, node.gpus) for node in nodes}
    shape: dict[str, Hashable] = {
        node.name: (node.model, node.gpus, node.cpu_milli, node.memory_mib) for node in nodes
    }
    shapes: dict[str, bytes] = {}

    def signature(pod: PodInfo) -> bytes | None:
        # Every claim here is a fresh pending claim made from the pod's shape, so pods of one
        # shape are alike to every plugin; a pod the driver gave no shape is like no other.
        return shapes.get(pod.key)

    def node_key(profile: Profile) -> Callable[[NodeInfo], Hashable]:
        dra = next(p for p in profile.reserve if isinstance(p, DynamicResources))
        plugin = profile.score[0][0]
        clustering = plugin if isinstance(plugin, GpuClustering) else None

        def key(info: NodeInfo) -> Hashable:
            # What the profile's plugins read of a node: its shape, pods, CPU and memory in
            # use and how many of its (interchangeable) GPUs are held each way, in the
            # allocator's terms; every policy's score is a function of the GPUs' free shares
            # as a multiset. GpuClustering also reads which kinds of GPU pod the node holds;
            # NodeUnschedulable, whether the node is cordoned.
            used = info.requested
            return (
                shape[info.name],
                info.node.spec.unschedulable,
                len(info.pods),
                used.milli_cpu,
                used.memory,
                dra.usage_profile(info),
                tuple(sorted(clustering.node_tags(info).items())) if clustering else (),
            )

        return key

    plugin_name = POLICY_PLUGINS[policy]
    profile = gpu_sharing_profile(plugin_name, scheduler_name=f"fgd-{policy}")
    if node_affinity:
        # Pods given a nodeSelector (a topology domain from queued admission) are placed
        # only there, as kube-scheduler's NodeAffinity does.
        plugins = dict(profile.plugins)
        for point in ("preFilter", "filter"):
            refs = plugins[point].enabled
            plugins[point] = PluginSet((PluginRef("NodeAffinity"), *refs))
        profile = replace(profile, plugins=plugins)
    if node_unschedulable:
        filters = profile.plugins["filter"].enabled
        filter_set = PluginSet((PluginRef(NodeUnschedulable.name), *filters))
        profile = replace(profile, plugins={**profile.plugins, "filter": filter_set})
    ganging = gangs is not None and features.gang_scheduling
    if ganging:
        permit = PluginSet((PluginRef(GangScheduling.name),))
        profile = replace(profile, plugins={**profile.plugins, "permit": permit})
    built = build_scheduler(
        SchedulerInputs(
            features,
            nodes=[o.node for o in objects],
            slices=[s for o in objects for s in o.slices],
            classes=driver_device_classes(),
            config=SchedulerConfiguration(profiles=(profile,)),
            allocator_options=options,
            rng=rng,
            node_rank=rank,
            remember_verdicts=speedups.pod_verdicts,
            signature=signature,
            node_key=node_key if speedups.alike_nodes else None,
            device_speedups=DeviceSpeedups(
                node_class=(lambda info: alike[info.name]) if speedups.node_classes else None,
                # One machine's GPUs are of one model; selectors read the product name only.
                interchangeable_devices=speedups.interchangeable_devices,
                remember_outcomes=speedups.dra_outcomes,
            ),
            framework_speedups=(
                FrameworkSpeedups() if speedups.framework_shortcuts else FrameworkSpeedups.none()
            ),
            typical_pods=workload,
            gangs=gangs if ganging else None,
        )
    )

    def describe_node(name: str, node_class: Hashable, node_shape: Hashable) -> None:
        alike[name] = node_class
        shape[name] = node_shape

    return Simulation(built.cache, built.gpu_share_view, built.scheduler(), shapes, describe_node)


def run_fgd(
    trace: ArrivalTrace,
    policy: str,
    seed: int,
    *,
    models: GpuModels | None = None,
    progress: Callable[[int, int], None] | None = None,
    remember_verdicts: bool = True,
    speedups: SimulationSpeedups | None = None,
) -> RunResult:
    """One (workload, policy, seed) run; `progress(done, total)` is called now and then.

    `remember_verdicts` lets the framework reuse a node's Filter status and scores for pods of
    the same shape while the node is unchanged; the placements are the same either way (a
    test checks it), only faster.
    """
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r} (known: {', '.join(POLICIES)})")
    models = models if models is not None else trace.models
    rng = random.Random(seed)
    capacity = sum(node.gpus for node in trace.nodes) * MILLI
    workload = workload_in_products(trace.pods, models)
    arrivals = tune(trace.pods, capacity, rng=rng, factor=TUNE_FACTOR)
    rank = node_order([node.name for node in trace.nodes], rng)

    sim = build_simulation(
        trace.nodes,
        workload,
        policy,
        rng,
        rank,
        models,
        remember_verdicts=remember_verdicts,
        speedups=speedups,
    )
    cache, view, scheduler, shapes = sim.cache, sim.view, sim.scheduler, sim.shapes
    meter = FragmentationMeter(workload)
    fragment: dict[str, float] = {}
    for node in cache.snapshot():
        fragment[node.name] = meter.node_fragment(view.node_state(node))
    total_fragment = sum(fragment.values())
    log = RunLog()
    used = arrived = scheduled = 0
    node_model = {node.name: node.model or "" for node in trace.nodes}
    model_capacity: dict[str, int] = {}
    for trace_node in trace.nodes:
        if trace_node.gpus and trace_node.model:
            code = trace_node.model
            model_capacity[code] = model_capacity.get(code, 0) + trace_node.gpus * MILLI
    model_used = dict.fromkeys(model_capacity, 0)
    # x -> (events, per model the sum of milli-GPU used), for x = 99, 100, 101 only.
    near_full: dict[int, tuple[int, dict[str, int]]] = {}
    unplaced: list[tuple[str, ResourceClaim | None]] = []
    for index, pod in enumerate(arrivals):
        made = pod_objects(pod, models)
        if made.claim is not None:
            cache.set_claim(made.claim)
        key = f"{made.pod.metadata.namespace}/{made.pod.metadata.name}"
        shapes.clear()
        shapes[key] = repr(
            (pod.cpu_milli, pod.memory_mib, pod.num_gpu, pod.gpu_milli, sorted(pod.gpu_spec))
        ).encode()
        outcome = scheduler.schedule_one(made.pod)
        arrived += pod.num_gpu * pod.gpu_milli
        if outcome.node is not None:
            scheduled += 1
            used += pod.num_gpu * pod.gpu_milli
            if model := node_model.get(outcome.node):
                model_used[model] += pod.num_gpu * pod.gpu_milli
            landed: NodeInfo = cache.nodes[outcome.node]
            new = meter.node_fragment(view.node_state(landed))
            total_fragment += new - fragment[outcome.node]
            fragment[outcome.node] = new
        else:
            unplaced.append((key, made.claim))
            if made.claim is not None:
                claim_key = f"{made.claim.metadata.namespace}/{made.claim.metadata.name}"
                cache.remove_claim(claim_key)
        log.record(used_milli=used, arrived_milli=arrived, fragment_milli=total_fragment)
        if 99 <= (x := arrival_x(arrived, capacity)) <= 101:
            events, sums = near_full.setdefault(x, (0, dict.fromkeys(model_capacity, 0)))
            for model, milli in model_used.items():
                sums[model] += milli
            near_full[x] = (events + 1, sums)
        if progress is not None and index % 256 == 0:
            progress(index, len(arrivals))
    if progress is not None:
        progress(len(arrivals), len(arrivals))
    final = []
    for trace_node in trace.nodes:
        if trace_node.gpus == 0 or trace_node.name not in cache.nodes:
            continue
        left = view.node_state(cache.nodes[trace_node.name]).gpu_left
        final.append(
            NodeUsage(
                trace_node.name,
                trace_node.model or "",
                sum(MILLI - g for g in left),
                trace_node.gpus * MILLI,
            )
        )
    return RunResult(
        workload=trace.workload,
        policy=policy,
        seed=seed,
        total_gpus=capacity // MILLI,
        pods=len(arrivals),
        scheduled=scheduled,
        log=log,
        final_nodes=tuple(final),
        unallocated_at_100=_unallocated_at_full(near_full, model_capacity),
        cache=cache,
        unplaced=tuple(unplaced),
    )


def _unallocated_at_full(
    near_full: Mapping[int, tuple[int, Mapping[str, int]]], model_capacity: Mapping[str, int]
) -> dict[str, float]:
    """GPUs unallocated per model at x = 100, bucketed as `fgd.bucket` buckets the curves."""
    groups = (
        [near_full[100]]
        if 100 in near_full
        else [near_full[x] for x in (99, 101) if x in near_full]
    )
    events = sum(count for count, _ in groups)
    if not events:
        return {}
    return {
        model: (capacity - sum(sums[model] for _, sums in groups) / events) / MILLI
        for model, capacity in model_capacity.items()
    }
