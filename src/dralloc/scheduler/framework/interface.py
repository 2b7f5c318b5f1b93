"""Extension points: one small Protocol each, and the per-cycle state plugins share.

Every method is called by the framework (`runtime.Framework`) in kube-scheduler's order
(spec/scheduler.md section 2). Plugins keep no per-pod state on themselves: what PreFilter
computes for later points goes into the `CycleState` under the plugin's own key.

What-if work (preemption's dry run, spec section 5.3) runs Filter on a copy of a node with
some pods taken off or put back. It clones the cycle state (`CycleState.clone`; values that
are `StateData` are copied, the rest shared) and tells each PreFilter plugin that has
`PreFilterExtensions` about every pod removed or added, so what PreFilter computed still
describes the copy. A plugin that needs the framework (to run those filters) implements
`HandleReceiver` and is given a `Handle` when the framework is built.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, Self, TypeVar, runtime_checkable

import numpy as np
import numpy.typing as npt

from dralloc.api.resource import DeviceClass
from dralloc.errors import InternalError
from dralloc.scheduler.framework.events import ClusterEventWithHint
from dralloc.scheduler.framework.nodeinfo import NodeInfo, PodInfo
from dralloc.scheduler.framework.status import Status

_T = TypeVar("_T")


@runtime_checkable
class StateData(Protocol):
    """A cycle-state value that a plugin changes after PreFilter (in Filter, or in its
    `PreFilterExtensions`): `CycleState.clone` copies it instead of sharing it."""

    def clone(self) -> Self:
        """A copy whose later changes do not show in this value (and vice versa)."""
        ...


class CycleState:
    """Scratch data of one scheduling cycle, keyed by plugin-derived names."""

    def __init__(self) -> None:
        self._data: dict[str, object] = {}
        # Plugins whose PreFilter returned SKIP this cycle (upstream's SkipFilterPlugins):
        # what-if filtering skips their Filter and PreFilterExtensions too.
        self.skip_filter_plugins: frozenset[str] = frozenset()
        # Upstream's SetSkipAllPostFilterPlugins: a pod-group cycle places its pods without
        # preemption, so a gang that does not fit never evicts anyone.
        self.skip_post_filter = False

    def clone(self) -> CycleState:
        """A copy for what-if work: `StateData` values are cloned, other values (which no
        plugin changes after writing them) are shared."""
        copy = CycleState()
        copy._data = {
            key: value.clone() if isinstance(value, StateData) else value
            for key, value in self._data.items()
        }
        copy.skip_filter_plugins = self.skip_filter_plugins
        copy.skip_post_filter = self.skip_post_filter
        return copy

    def write(self, key: str, value: object) -> None:
        self._data[key] = value

    def read(self, key: str, kind: type[_T]) -> _T:
        """The value PreFilter wrote under `key`; InternalError when it never ran."""
        value = self._data.get(key)
        if not isinstance(value, kind):
            raise InternalError(f"cycle state has no {kind.__name__} under {key!r}")
        return value

    def get(self, key: str, kind: type[_T]) -> _T | None:
        value = self._data.get(key)
        return value if isinstance(value, kind) else None


@dataclass(frozen=True)
class PreFilterResult:
    """Nodes a PreFilter plugin already knows are the only candidates (None: all nodes).

    `filter_candidates` is dralloc's extension, and unlike `node_names` nothing about it
    shows: the plugin says its own Filter rejects every node not named there (None: it may
    pass any), without ERROR and without writing anything. When every Filter plugin that
    runs before it is a `QuietFilter`, the framework runs Filter only on those nodes, and
    gives the others, when a diagnosis reads them, the status the whole Filter chain gives
    them (the plain scan's); the nodes visited, chosen and reported are the plain scan's.
    """

    node_names: frozenset[str] | None = None
    filter_candidates: frozenset[str] | None = None


@runtime_checkable
class PreFilterPlugin(Protocol):
    name: str

    def pre_filter(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> tuple[PreFilterResult | None, Status]:
        """Once per cycle, before any Filter. SKIP drops this plugin's Filter for the cycle;
        a rejection fails the pod on every node."""
        ...


@runtime_checkable
class PreFilterExtensions(Protocol):
    """A PreFilter plugin whose PreFilter result depends on the pods on a node (or on what
    they hold, such as claims), told about pods a what-if removes from or puts back on a
    node copy (upstream's PreFilterExtensions AddPod/RemovePod)."""

    name: str

    def add_pod(self, state: CycleState, pod: PodInfo, added: PodInfo, node: NodeInfo) -> Status:
        """`added` is back on `node` (a copy): update this plugin's entry in `state` (a clone)
        so Filter counts it again. Called only after this plugin's PreFilter ran and did not
        SKIP; must not touch the cache. SUCCESS, or ERROR."""
        ...

    def remove_pod(
        self, state: CycleState, pod: PodInfo, removed: PodInfo, node: NodeInfo
    ) -> Status:
        """`removed` is off `node` (a copy): update this plugin's entry in `state` (a clone)
        so Filter treats what it held as free. Same rules as `add_pod`."""
        ...


@runtime_checkable
class FilterPlugin(Protocol):
    name: str

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        """Whether the pod fits `node`; must not mutate `node`."""
        ...


@runtime_checkable
class EnqueueExtensions(Protocol):
    """A plugin that can reject a pod (at PreEnqueue, PreFilter, Filter, Reserve or Permit)
    and knows which cluster events may change its mind (upstream's EnqueueExtensions).

    The queue asks a rejected pod's rejector plugins only: when an event arrives, the hints
    of the matching registrations say QUEUE or QUEUE_SKIP (spec 1.8). A rejecting plugin that
    does not implement this Protocol is asked about no event: every event requeues the pods
    it rejected, as upstream treats such plugins."""

    name: str

    def events_to_register(self) -> Sequence[ClusterEventWithHint]:
        """The events that may make a pod this plugin rejected schedulable, each with its
        hint. Called once when a queue is built; must return the same for the plugin's
        life."""
        ...


@runtime_checkable
class NodeLocal(Protocol):
    """A Filter or Score plugin that declares whether its answer for a pod on a node depends
    only on the pod and that node (the `NodeInfo`, with what its pods hold, at its
    generation): `node_local = True`. Nothing else may change the answer without moving the
    node's generation. The framework then remembers the plugin's verdicts and raw scores per
    pod signature and node generation (`verdicts.py`); remembered verdicts are used only when
    every Filter plugin is node-local. `False` (or not implementing this Protocol) means the
    plugin runs every cycle (Random draws one node per cycle). A class attribute, fixed for
    the plugin's life."""

    node_local: bool


def is_node_local(plugin: object) -> bool:
    """Whether `plugin` declares itself node-local (`NodeLocal`)."""
    return isinstance(plugin, NodeLocal) and plugin.node_local


@runtime_checkable
class QuietFilter(Protocol):
    """A Filter plugin that declares `quiet_filter = True`: its Filter never returns ERROR
    and writes nothing (not the cycle state, not the cache, not itself), so leaving it
    uncalled on a node that a later Filter plugin rejects anyway changes nothing but when
    that node's status is computed. The framework relies on it to skip, until a diagnosis
    reads them, the nodes a later plugin's `PreFilterResult.filter_candidates` leaves out.
    A class attribute, fixed for the plugin's life; `False` (or not implementing this
    Protocol) keeps every node's Filter call."""

    quiet_filter: bool


def is_quiet_filter(plugin: object) -> bool:
    """Whether `plugin` declares its Filter quiet (`QuietFilter`)."""
    return isinstance(plugin, QuietFilter) and plugin.quiet_filter


class PodSignature(Protocol):
    """Which pods the plugins of a profile treat alike, for the framework's remembered
    verdicts: pods with equal signatures must get the same answer from every Filter plugin
    and every node-local Score plugin on every node, at every node generation. None means
    "this pod is like no other": it is evaluated in full and is never given another pod's
    verdicts. Called once per cycle, before Filter; must not change anything."""

    def __call__(self, pod: PodInfo, /) -> bytes | None: ...


@runtime_checkable
class PostFilterPlugin(Protocol):
    name: str

    def post_filter(
        self, state: CycleState, pod: PodInfo, statuses: Mapping[str, Status]
    ) -> tuple[str | None, Status]:
        """After no node fit: may make room (preemption) and return the nominated node."""
        ...


@runtime_checkable
class PreScorePlugin(Protocol):
    name: str

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status:
        """Once per cycle before Score over the feasible nodes; SKIP drops this plugin's Score."""
        ...


@runtime_checkable
class ScorePlugin(Protocol):
    name: str

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> tuple[int, Status]:
        """A score for a feasible node; in [0, 100] after `normalize_scores`, if any."""
        ...


@runtime_checkable
class UniformScorer(Protocol):
    """A Score plugin that can tell, once per cycle, that it gives every node the same raw
    score (dralloc's extension, for `FrameworkSpeedups.uniform_scores`): ImageLocality for
    a pod whose images no node holds, DynamicResources for a pod with no alternatives. The
    framework then calls no `score` of this plugin in the cycle and puts the one value
    through the same normalising, range check and weight."""

    name: str

    def uniform_score(self, state: CycleState, pod: PodInfo) -> int | None:
        """Called at most once per cycle, after PreScore (and only when this plugin's
        PreScore, if it has one, did not SKIP), before any `score` of the cycle: the raw
        score `score` would return for every node of the cycle's snapshot, or None when
        they may differ or the plugin cannot tell cheaply (then `score` runs per node as
        usual). Never a value where `score` would fail on some node. Must not change
        anything but memos the plugin owns."""
        ...


@runtime_checkable
class BulkScorer(Protocol):
    """A score plugin that scores all feasible nodes at once (dralloc's extension, not
    upstream's): the framework calls it instead of `score` per node. Raw scores, by node."""

    name: str

    def score_nodes(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> dict[str, int]: ...


@runtime_checkable
class ScoreNormalizer(Protocol):
    def normalize_scores(self, state: CycleState, pod: PodInfo, scores: dict[str, int]) -> Status:
        """Rewrite this plugin's scores (node name -> score) in place to [0, 100]."""
        ...


@runtime_checkable
class ArrayNormalizer(Protocol):
    """A score plugin that normalises raw scores held in an array (dralloc's extension): the
    framework's remembered verdicts (`verdicts.py`) keep scores as arrays over the node list.
    Must give exactly what `normalize_scores` gives for the same scores, in the same order."""

    def normalize_array(
        self, state: CycleState, pod: PodInfo, scores: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]: ...


@runtime_checkable
class ReservePlugin(Protocol):
    name: str

    def reserve(self, state: CycleState, pod: PodInfo, node_name: str) -> Status:
        """Claim what the pod will use on the chosen node in the scheduler's cache."""
        ...

    def unreserve(self, state: CycleState, pod: PodInfo, node_name: str) -> None:
        """Undo `reserve`; must be idempotent (it runs for every plugin on any failure)."""
        ...


@runtime_checkable
class PermitPlugin(Protocol):
    name: str

    def permit(self, state: CycleState, pod: PodInfo, node_name: str) -> Status: ...


@runtime_checkable
class PreBindPlugin(Protocol):
    name: str

    def pre_bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status:
        """Write what binding needs (claim allocations and reservations) before Bind."""
        ...


@runtime_checkable
class BindPlugin(Protocol):
    name: str

    def bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status:
        """Bind the pod; SKIP passes to the next binder."""
        ...


class Handle(Protocol):
    """What a plugin may ask of the framework that runs it (the part of upstream's
    framework.Handle dralloc has). `runtime.Framework` implements it."""

    @property
    def profile_name(self) -> str:
        """The profile's schedulerName."""
        ...

    def run_filters_with_state(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        """The profile's Filter plugins on `node`, skipping those in
        `state.skip_filter_plugins`; the first non-success (ERROR included) is returned,
        never raised. Upstream's RunFilterPluginsWithNominatedPods, without nominated pods:
        dralloc keeps no nominator."""
        ...

    def run_pre_filter_extension_add_pod(
        self, state: CycleState, pod: PodInfo, added: PodInfo, node: NodeInfo
    ) -> Status:
        """`add_pod` of every PreFilter plugin with `PreFilterExtensions` (not skipped)."""
        ...

    def run_pre_filter_extension_remove_pod(
        self, state: CycleState, pod: PodInfo, removed: PodInfo, node: NodeInfo
    ) -> Status:
        """`remove_pod` of every PreFilter plugin with `PreFilterExtensions` (not skipped)."""
        ...


@runtime_checkable
class HandleReceiver(Protocol):
    """A plugin that needs the framework. Plugins are built before the framework that runs
    them (a `Profile` holds instances), so the framework hands itself over afterwards."""

    def set_handle(self, handle: Handle) -> None:
        """Called by each `Framework` built over a profile holding this plugin, before any
        cycle; the last call wins."""
        ...


class DeviceClassResolver(Protocol):
    """Which DeviceClass serves an extended resource through DRA (KEP-5004): the one whose
    `spec.extendedResourceName` names it, or, for `deviceclass.resource.kubernetes.io/<class>`,
    that class. Upstream's `DeviceClassResolver` of the shared DRA manager; plugins that must
    tell a DRA-backed extended resource from a device plugin's (NodeResourcesFit,
    DynamicResources) are given one when they are built, so neither imports the other."""

    def device_class(self, resource: str) -> DeviceClass | None:
        """The class serving `resource`, or None when no class maps it. Read-only; may be
        called at any extension point, and answers alike for the whole scheduling run
        (DeviceClasses are fixed for a scheduler cache's life)."""
        ...
