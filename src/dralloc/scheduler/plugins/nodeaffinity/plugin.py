"""`NodeAffinity` (PreFilter, Filter, PreScore, Score, NormalizeScore; spec/scheduler.md 4.7).

* Required: `spec.nodeSelector` (every pair) AND the required node affinity (terms ORed,
  requirements ANDed; see `selector`) AND the profile's `addedAffinity`.
* PreFilter SKIPs a pod with none of these (so Filter does not run). When every required
  term pins `metadata.name` with `In`, it returns a PreFilterResult with the union of the
  pinned names (each term's pins intersected); a union that comes out empty is
  UnschedulableAndUnresolvable `pod affinity terms conflict`.
* Otherwise, when the node list carries a label index (the snapshot's,
  `framework/labelindex.py`), PreFilter tells the framework the only nodes Filter may pass
  (`PreFilterResult.filter_candidates`, dralloc's extension, see `candidates.py`): the nodes
  that carry what the nodeSelector and each term's `In`, `Exists`, `Gt`, `Lt` and
  `metadata.name In` requirements ask for. Nothing else changes: upstream has no such
  narrowing, and the framework reports every other node with the status Filter gives it.
* Filter: `node(s) didn't match scheduler-enforced node affinity` for addedAffinity, else
  `node(s) didn't match Pod's node affinity/selector`, both UnschedulableAndUnresolvable.
* Score: the summed weights of the matching preferred terms (the pod's and addedAffinity's),
  normalized by `default_normalize(reverse=False)`. PreScore SKIPs when there are none; a
  preferred term of the pod that does not parse is an ERROR.

The compiled selectors live in the cycle state; the plugin holds only its compiled args.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import msgspec
import numpy as np
import numpy.typing as npt

from dralloc.api.core import NodeSelector, Pod
from dralloc.scheduler.framework import (
    SUCCESS,
    ClusterEventWithHint,
    CycleState,
    IndexedNodes,
    NodeInfo,
    NodeLabelIndex,
    PodInfo,
    PreFilterResult,
    Status,
    default_normalize,
    default_normalize_array,
)
from dralloc.scheduler.plugins.helper import node_events
from dralloc.scheduler.plugins.helper.nodeselector import (
    IN,
    OBJECT_NAME_FIELD,
    CompiledSelector,
    PreferredTerms,
    RequiredNodeAffinity,
    compile_preferred,
    compile_selector,
    required_node_affinity,
)
from dralloc.scheduler.plugins.nodeaffinity.args import NodeAffinityArgs, checked
from dralloc.scheduler.plugins.nodeaffinity.candidates import filter_candidates

NAME = "NodeAffinity"
REASON_POD = "node(s) didn't match Pod's node affinity/selector"
REASON_ENFORCED = "node(s) didn't match scheduler-enforced node affinity"
REASON_CONFLICT = "pod affinity terms conflict"
_PRE_FILTER_KEY = f"PreFilter{NAME}"
_PRE_SCORE_KEY = f"PreScore{NAME}"
_POD_PREFERRED_PATH = "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution"
# Filter candidates remembered per (index, its version, pod's required placement); cleared
# past this many entries.
_REMEMBERED_CANDIDATES = 256


@dataclass(frozen=True)
class _PreScoreState:
    preferred: PreferredTerms | None


def _pod_preferred(pod: Pod) -> tuple[PreferredTerms | None, Status]:
    affinity = pod.spec.affinity
    node_affinity = affinity.node_affinity if affinity is not None else None
    if (
        node_affinity is None
        or not node_affinity.preferred_during_scheduling_ignored_during_execution
    ):
        return None, SUCCESS
    terms, faults = compile_preferred(
        node_affinity.preferred_during_scheduling_ignored_during_execution, _POD_PREFERRED_PATH
    )
    if faults:
        return None, Status.error("; ".join(f"{where}: {message}" for where, message in faults))
    return terms, SUCCESS


class NodeAffinity:
    """Places pods by node labels and names.

    >>> from dralloc.api.core import Pod, PodSpec
    >>> from dralloc.scheduler.framework import CycleState, PodInfo
    >>> plugin = NodeAffinity()
    >>> plugin.pre_filter(CycleState(), PodInfo.of(Pod()), [])[1].code.name
    'SKIP'
    """

    name = NAME
    # Filter and Score read only the pod and this node (the framework may remember them).
    node_local = True
    # Filter never errs and writes nothing (the framework may skip it where it must reject).
    quiet_filter = True

    def __init__(self, args: NodeAffinityArgs | None = None) -> None:
        self.args = checked(args or NodeAffinityArgs())
        added = self.args.added_affinity
        self._added_required: CompiledSelector | None = None
        self._added_preferred: PreferredTerms | None = None
        if added is not None:
            required = added.required_during_scheduling_ignored_during_execution
            if required is not None:
                self._added_required = compile_selector(required, "addedAffinity")
            preferred = added.preferred_during_scheduling_ignored_during_execution
            if preferred:
                self._added_preferred = compile_preferred(preferred, "addedAffinity")[0]
        # Pods of one shape ask the same: their candidates are computed once per index
        # version (a broad selector's set is as large as the fleet). Owned and bounded here.
        self._encoder = msgspec.json.Encoder()
        self._candidates: dict[tuple[NodeLabelIndex, int, bytes], frozenset[str] | None] = {}

    def pre_filter(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> tuple[PreFilterResult | None, Status]:
        spec = pod.pod.spec
        node_affinity = spec.affinity.node_affinity if spec.affinity is not None else None
        required = (
            node_affinity.required_during_scheduling_ignored_during_execution
            if node_affinity is not None
            else None
        )
        if required is None and self._added_required is None and not spec.node_selector:
            return None, Status.skip()
        compiled = required_node_affinity(pod.pod)
        state.write(_PRE_FILTER_KEY, compiled)
        if required is not None and required.node_selector_terms:
            names: set[str] = set()
            for term in required.node_selector_terms:
                pinned: set[str] | None = None
                for req in term.match_fields:
                    if req.key == OBJECT_NAME_FIELD and req.operator == IN:
                        # Requirements of one term are ANDed: intersect.
                        values = set(req.values)
                        pinned = values if pinned is None else pinned & values
                if pinned is None:
                    # A term without a name pin admits every node, and terms are ORed.
                    break
                names |= pinned
            else:
                if not names:
                    return None, Status.unresolvable(REASON_CONFLICT)
                return PreFilterResult(frozenset(names)), SUCCESS
        if isinstance(nodes, IndexedNodes) and nodes.labels is not None:
            found = self._filter_candidates(nodes, spec.node_selector, required, compiled)
            if found is not None:
                return PreFilterResult(filter_candidates=found), SUCCESS
        return None, SUCCESS

    def _filter_candidates(
        self,
        nodes: IndexedNodes,
        node_selector: dict[str, str],
        required: NodeSelector | None,
        compiled: RequiredNodeAffinity,
    ) -> frozenset[str] | None:
        labels = nodes.labels
        assert labels is not None
        encode = self._encoder.encode
        key = (labels, labels.version, encode(node_selector) + b"\0" + encode(required))
        remembered = self._candidates
        if key in remembered:
            return remembered[key]
        found = filter_candidates(labels, nodes.positions, compiled, self._added_required)
        if len(remembered) >= _REMEMBERED_CANDIDATES:
            remembered.clear()
        remembered[key] = found
        return found

    def events_to_register(self) -> Sequence[ClusterEventWithHint]:
        """A node added or relabelled that now matches the pod's required affinity and the
        profile's addedAffinity (upstream: Node/Add|UpdateNodeLabel)."""
        return (node_events("Add|UpdateNodeLabel", self),)

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        if self._added_required is not None and not self._added_required.matches(node.node):
            return Status.unresolvable(REASON_ENFORCED)
        # Upstream computes the required affinity here when PreFilter is not enabled.
        required = state.get(_PRE_FILTER_KEY, RequiredNodeAffinity)
        if required is None:
            required = required_node_affinity(pod.pod)
        if not required.matches(node.node):
            return Status.unresolvable(REASON_POD)
        return SUCCESS

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status:
        preferred, status = _pod_preferred(pod.pod)
        if not status.is_success:
            return status
        if preferred is None and self._added_preferred is None:
            return Status.skip()
        state.write(_PRE_SCORE_KEY, _PreScoreState(preferred))
        return SUCCESS

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> tuple[int, Status]:
        total = self._added_preferred.score(node.node) if self._added_preferred else 0
        pre = state.get(_PRE_SCORE_KEY, _PreScoreState)
        if pre is None:
            preferred, status = _pod_preferred(pod.pod)
            if not status.is_success:
                return 0, status
        else:
            preferred = pre.preferred
        if preferred is not None:
            total += preferred.score(node.node)
        return total, SUCCESS

    def normalize_scores(self, state: CycleState, pod: PodInfo, scores: dict[str, int]) -> Status:
        default_normalize(scores, reverse=False)
        return SUCCESS

    def normalize_array(
        self, state: CycleState, pod: PodInfo, scores: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]:
        return default_normalize_array(scores, reverse=False)
