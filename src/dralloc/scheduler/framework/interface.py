"""Extension points: one small Protocol each, and the per-cycle state plugins share.

Every method is called by the framework (`runtime.Framework`) in kube-scheduler's order
(spec/scheduler.md section 2). Plugins keep no per-pod state on themselves: what PreFilter
computes for later points goes into the `CycleState` under the plugin's own key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar, runtime_checkable

from dralloc.errors import InternalError
from dralloc.scheduler.framework.nodeinfo import NodeInfo, PodInfo
from dralloc.scheduler.framework.status import Status

_T = TypeVar("_T")


class CycleState:
    """Scratch data of one scheduling cycle, keyed by plugin-derived names."""

    def __init__(self) -> None:
        self._data: dict[str, object] = {}

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
    """Nodes a PreFilter plugin already knows are the only candidates (None: all nodes)."""

    node_names: frozenset[str] | None = None


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
class FilterPlugin(Protocol):
    name: str

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        """Whether the pod fits `node`; must not mutate `node`."""
        ...


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
class ScoreNormalizer(Protocol):
    def normalize_scores(self, state: CycleState, pod: PodInfo, scores: dict[str, int]) -> Status:
        """Rewrite this plugin's scores (node name -> score) in place to [0, 100]."""
        ...


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
