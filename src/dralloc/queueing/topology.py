"""Kueue's Topology-Aware Scheduling objects (spec/queueing.md 6.1, 6.2, 6.5): the `Topology`,
the pod-set topology request read from pod-template annotations, and the compact v1beta2
`topologyAssignment` with the nodeSelectors the pods get from it.

Owns:

* `Topology` (`kueue.x-k8s.io/v1beta2`, also served as v1beta1 / v1alpha1) and
  `validate_topology`: 1-16 levels, unique node labels that are valid label keys, and
  `kubernetes.io/hostname` only as the lowest level (Kueue's CRD rules and webhook);
* `topology_request_from_annotations`: what Kueue's job integrations copy from a pod
  template's `kueue.x-k8s.io/podset-*-topology` annotations into
  `podSets[].topologyRequest`, and `validate_topology_annotations`, the integrations' webhook
  check (`ValidateTASPodSetRequest`: at most one of required / preferred / unconstrained,
  `podset-slice-size` an integer >= 1 present exactly when `podset-slice-required-topology`
  is, unconstrained a boolean, slice size at most the pod count);
* `TopologyRequest`: the typed view of a pod set's `topologyRequest` dict;
* `DomainAssignment` / `encode_assignment` / `decode_assignment`: the internal
  (levels, [values, count]) form and Kueue v1beta2's single compact slice (shared prefix and
  suffix per level, `universal` when every value or count is equal);
* `pod_node_selectors`: the nodeSelector of each slot of a pod set's assignment, in rank
  order; `ungate_pods`: Kueue's TopologyUngater, which gives each gated pod its domain's
  level labels, by rank (index labels, used only when every pod has a distinct in-range
  rank and every pod ungated before sits in its rank's domain) or else greedily;
* `PODSET_LABEL`, `WORKLOAD_ANNOTATION`: how Kueue marks an admitted job's pods, which the
  ungater lists.

Pure data and computation, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import msgspec

from dralloc.api.core import Pod
from dralloc.api.meta import Base, ObjectMeta

REQUIRED_ANNOTATION: Final = "kueue.x-k8s.io/podset-required-topology"
PREFERRED_ANNOTATION: Final = "kueue.x-k8s.io/podset-preferred-topology"
UNCONSTRAINED_ANNOTATION: Final = "kueue.x-k8s.io/podset-unconstrained-topology"
SLICE_REQUIRED_ANNOTATION: Final = "kueue.x-k8s.io/podset-slice-required-topology"
SLICE_SIZE_ANNOTATION: Final = "kueue.x-k8s.io/podset-slice-size"
TOPOLOGY_GATE: Final = "kueue.x-k8s.io/topology"
# What Kueue puts on an admitted job's pod templates (`getPodSetsInfoFromStatus`): the pod
# set's name as a label, the Workload's name as an annotation; the ungater lists pods by both.
PODSET_LABEL: Final = "kueue.x-k8s.io/podset"
WORKLOAD_ANNOTATION: Final = "kueue.x-k8s.io/workload"
HOSTNAME_LABEL: Final = "kubernetes.io/hostname"
# Job and JobSet pods carry their completion index here (Kueue's podIndexLabel for both).
JOB_COMPLETION_INDEX_LABEL: Final = "batch.kubernetes.io/job-completion-index"
JOBSET_JOB_INDEX_LABEL: Final = "jobset.sigs.k8s.io/job-index"

_LABEL_NAME: Final = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS_SUBDOMAIN: Final = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
MAX_LEVELS: Final = 16
# What Go's strconv.ParseBool accepts (Kueue parses the unconstrained annotation with it).
_GO_BOOLS: Final = {
    **dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
    **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False),
}


class TopologyLevel(Base):
    node_label: str = ""


class TopologySpec(Base):
    levels: list[TopologyLevel] = msgspec.field(default_factory=list)


class Topology(Base):
    """Node labels from the highest level (block) to the lowest (host).

    >>> t = Topology(spec=TopologySpec(levels=[TopologyLevel("cloud.google.com/gke-nodepool"),
    ...                                        TopologyLevel("kubernetes.io/hostname")]))
    >>> t.level_keys()
    ['cloud.google.com/gke-nodepool', 'kubernetes.io/hostname']
    """

    api_version: str = "kueue.x-k8s.io/v1beta2"
    kind: str = "Topology"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: TopologySpec = msgspec.field(default_factory=TopologySpec)

    def level_keys(self) -> list[str]:
        return [level.node_label for level in self.spec.levels]


def is_label_key(key: str) -> bool:
    """A qualified label key: optional DNS-subdomain prefix, then a name of <= 63 chars."""
    prefix, _, name = key.rpartition("/")
    if "/" in key and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return False
    return 0 < len(name) <= 63 and bool(_LABEL_NAME.match(name))


def validate_topology(topology: Topology) -> list[tuple[str, str]]:
    """Kueue's rules for a Topology, as (field path, message) pairs in the order found."""
    found: list[tuple[str, str]] = []
    levels = topology.level_keys()
    if not 1 <= len(levels) <= MAX_LEVELS:
        found.append(("spec.levels", f"must have 1 to {MAX_LEVELS} items, got {len(levels)}"))
    seen: set[str] = set()
    for i, key in enumerate(levels):
        path = f"spec.levels[{i}].nodeLabel"
        if not is_label_key(key):
            found.append((path, f"{key!r} is not a valid label key"))
        if key in seen:
            found.append((path, f"duplicate level {key!r}: levels must be unique"))
        seen.add(key)
        if key == HOSTNAME_LABEL and i != len(levels) - 1:
            found.append((path, f"{HOSTNAME_LABEL} is allowed only as the lowest level"))
    return found


# ------------------------------------------------------------------------ topology request


@dataclass(frozen=True)
class TopologyRequest:
    """A pod set's `topologyRequest`; at most one of required / preferred / unconstrained."""

    required: str | None = None
    preferred: str | None = None
    unconstrained: bool = False
    slice_required_topology: str | None = None
    slice_size: int | None = None
    pod_index_label: str | None = None
    sub_group_index_label: str | None = None
    sub_group_count: int | None = None

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> TopologyRequest | None:
        if not raw:
            return None
        slice_size = raw.get("podSetSliceSize")
        sub_count = raw.get("subGroupCount")
        return cls(
            required=raw.get("required"),
            preferred=raw.get("preferred"),
            unconstrained=bool(raw.get("unconstrained")),
            slice_required_topology=raw.get("podSetSliceRequiredTopology"),
            slice_size=int(slice_size) if slice_size is not None else None,
            pod_index_label=raw.get("podIndexLabel"),
            sub_group_index_label=raw.get("subGroupIndexLabel"),
            sub_group_count=int(sub_count) if sub_count is not None else None,
        )

    def is_explicit(self) -> bool:
        """Whether the pod set asks for TAS itself (Kueue's IsExplicitlyRequestingTAS)."""
        return bool(
            self.required or self.preferred or self.unconstrained or self.slice_required_topology
        )

    def is_slice_only(self) -> bool:
        return (
            self.required is None and self.preferred is None and bool(self.slice_required_topology)
        )


def validate_topology_annotations(
    annotations: Mapping[str, str], count: int | None = None
) -> list[tuple[str, str]]:
    """Kueue's job webhook check of one pod template's TAS annotations, as (path, message)
    pairs; paths are relative to the template's `metadata`."""
    found: list[tuple[str, str]] = []
    base = "annotations"
    present = [REQUIRED_ANNOTATION, PREFERRED_ANNOTATION, UNCONSTRAINED_ANNOTATION]
    if sum(a in annotations for a in present) > 1:
        found.append((base, f"must not contain more than one topology annotation: {present}"))
    for key in (REQUIRED_ANNOTATION, PREFERRED_ANNOTATION, SLICE_REQUIRED_ANNOTATION):
        if key in annotations and not is_label_key(annotations[key]):
            found.append((f"{base}[{key}]", f"{annotations[key]!r} is not a valid label key"))
    value = annotations.get(UNCONSTRAINED_ANNOTATION)
    if value is not None and value not in _GO_BOOLS:
        found.append((f"{base}[{UNCONSTRAINED_ANNOTATION}]", "must be a boolean value"))
    size = annotations.get(SLICE_SIZE_ANNOTATION)
    if size is not None:
        path = f"{base}[{SLICE_SIZE_ANNOTATION}]"
        try:
            number = int(size)
        except ValueError:
            found.append((path, f"must be a numeric value, got {size!r}"))
        else:
            if number < 1:
                found.append((path, f"must be greater than or equal to 1, got {number}"))
            elif count is not None and number > count:
                found.append((path, f"must not be greater than pod set count {count}"))
    slice_level = SLICE_REQUIRED_ANNOTATION in annotations
    if slice_level and size is None:
        found.append(
            (
                f"{base}[{SLICE_SIZE_ANNOTATION}]",
                f"must be set when {SLICE_REQUIRED_ANNOTATION!r} is specified",
            )
        )
    if size is not None and not slice_level:
        found.append(
            (
                f"{base}[{SLICE_SIZE_ANNOTATION}]",
                f"may not be set when {SLICE_REQUIRED_ANNOTATION!r} is not specified",
            )
        )
    return found


def topology_request_from_annotations(
    annotations: Mapping[str, str],
    *,
    pod_index_label: str | None = None,
    sub_group_index_label: str | None = None,
    sub_group_count: int | None = None,
) -> dict[str, Any] | None:
    """The `topologyRequest` (wire form) Kueue's integration writes for a pod template: the
    annotations' request plus the index labels; None when there is neither. Call
    `validate_topology_annotations` first."""
    out: dict[str, Any] = {}
    if REQUIRED_ANNOTATION in annotations:
        out["required"] = annotations[REQUIRED_ANNOTATION]
    if PREFERRED_ANNOTATION in annotations:
        out["preferred"] = annotations[PREFERRED_ANNOTATION]
    if UNCONSTRAINED_ANNOTATION in annotations:
        out["unconstrained"] = _GO_BOOLS.get(annotations[UNCONSTRAINED_ANNOTATION], False)
    if SLICE_REQUIRED_ANNOTATION in annotations:
        out["podSetSliceRequiredTopology"] = annotations[SLICE_REQUIRED_ANNOTATION]
    if SLICE_SIZE_ANNOTATION in annotations:
        out["podSetSliceSize"] = int(annotations[SLICE_SIZE_ANNOTATION])
    # Kueue's integrations (gate TopologyAwareScheduling, on by default) record how pods are
    # indexed even without a TAS annotation, for the ungater's rank order.
    if not out and pod_index_label is None and sub_group_index_label is None:
        return None
    if pod_index_label is not None:
        out["podIndexLabel"] = pod_index_label
    if sub_group_index_label is not None:
        out["subGroupIndexLabel"] = sub_group_index_label
    if sub_group_count is not None:
        out["subGroupCount"] = sub_group_count
    return out


# ----------------------------------------------------------------------------- assignment


@dataclass(frozen=True)
class DomainAssignment:
    """`count` pods in the domain whose level values (highest to lowest) are `values`."""

    values: tuple[str, ...]
    count: int


def _common_prefix(values: Sequence[str]) -> str:
    first = values[0]
    for i, ch in enumerate(first):
        if any(len(v) <= i or v[i] != ch for v in values):
            return first[:i]
    return first


def _level_values(values: Sequence[str]) -> dict[str, Any]:
    prefix = _common_prefix(values)
    if len(prefix) == max(len(v) for v in values):
        return {"universal": prefix}
    suffix = _common_prefix([v[::-1] for v in values])[::-1]
    shortest = min(len(v) for v in values)
    # Prefix and suffix may not overlap inside the shortest value (Kueue keeps the suffix).
    if len(prefix) + len(suffix) > shortest:
        prefix = prefix[: shortest - len(suffix)]
    individual: dict[str, Any] = {}
    if prefix:
        individual["prefix"] = prefix
    if suffix:
        individual["suffix"] = suffix
    individual["roots"] = [v[len(prefix) : len(v) - len(suffix)] for v in values]
    return {"individual": individual}


def encode_assignment(levels: Sequence[str], domains: Sequence[DomainAssignment]) -> dict[str, Any]:
    """Kueue v1beta2's `topologyAssignment`: one compact slice (`V1Beta2From`).

    >>> encode_assignment(["kubernetes.io/hostname"],
    ...                   [DomainAssignment(("node-1",), 2), DomainAssignment(("node-2",), 2)])
    ... # doctest: +NORMALIZE_WHITESPACE
    {'levels': ['kubernetes.io/hostname'], 'slices': [{'domainCount': 2,
     'valuesPerLevel': [{'individual': {'prefix': 'node-', 'roots': ['1', '2']}}],
     'podCounts': {'universal': 2}}]}
    """
    if not domains:
        return {"levels": list(levels), "slices": []}
    counts = [d.count for d in domains]
    pod_counts: dict[str, Any] = (
        {"universal": counts[0]} if len(set(counts)) == 1 else {"individual": counts}
    )
    per_level = [_level_values([d.values[i] for d in domains]) for i in range(len(levels))]
    return {
        "levels": list(levels),
        "slices": [
            {"domainCount": len(domains), "valuesPerLevel": per_level, "podCounts": pod_counts}
        ],
    }


def _value_at(level: Mapping[str, Any], i: int) -> str:
    if "universal" in level:
        return str(level["universal"])
    ind = level["individual"]
    return f"{ind.get('prefix', '')}{ind['roots'][i]}{ind.get('suffix', '')}"


def decode_assignment(raw: Mapping[str, Any]) -> tuple[list[str], list[DomainAssignment]]:
    """The levels and domains of a v1beta2 `topologyAssignment` (inverse of `encode`)."""
    levels = [str(level) for level in raw.get("levels", [])]
    out: list[DomainAssignment] = []
    for slice_ in raw.get("slices", []):
        counts = slice_["podCounts"]
        for i in range(int(slice_["domainCount"])):
            count = counts["universal"] if "universal" in counts else counts["individual"][i]
            values = tuple(_value_at(level, i) for level in slice_["valuesPerLevel"])
            out.append(DomainAssignment(values, int(count)))
    return levels, out


def pod_node_selectors(raw: Mapping[str, Any] | None) -> list[dict[str, str]]:
    """One nodeSelector per pod, in pod order, from a pod set's `topologyAssignment`: the
    TopologyUngater's merge of each domain's level labels (first domains first)."""
    if not raw:
        return []
    levels, domains = decode_assignment(raw)
    out: list[dict[str, str]] = []
    for domain in domains:
        selector = dict(zip(levels, domain.values, strict=True))
        out += [dict(selector) for _ in range(domain.count)]
    return out


def _label_index(pod: Pod, label: str, bound: int) -> int | None:
    raw = pod.metadata.labels.get(label)
    if raw is None or not raw.isdigit() or int(raw) >= bound:
        return None
    return int(raw)


def _ranks(
    pods: Sequence[Pod],
    request: TopologyRequest | None,
    count: int,
    levels: Sequence[str],
    per_rank: Sequence[Mapping[str, str]],
) -> list[int] | None:
    """Kueue's rank of each pod (`readRanksIfAvailable`), or None when ranks cannot be used:
    no index label, an index out of range, two pods with one rank, or a pod ungated before
    whose nodeSelector is not its rank's domain."""
    if request is None or request.pod_index_label is None:
        return None
    single_job = count
    groups = request.sub_group_count or 0
    if request.sub_group_index_label is not None and groups > 0:
        single_job = count // groups
    ranks: list[int] = []
    for pod in pods:
        index = _label_index(pod, request.pod_index_label, count)
        if index is None:
            return None
        rank = index
        if request.sub_group_index_label is not None:
            job = _label_index(pod, request.sub_group_index_label, groups)
            if job is None or index >= single_job:
                return None
            rank = index + job * single_job
        if rank >= count or rank in ranks:
            return None
        ranks.append(rank)
    for pod, rank in zip(pods, ranks, strict=True):
        if is_topology_gated(pod) or rank >= len(per_rank):
            continue
        actual = [pod.spec.node_selector.get(level, "") for level in levels]
        if actual != [per_rank[rank][level] for level in levels]:
            return None
    return ranks


def is_topology_gated(pod: Pod) -> bool:
    """Whether the pod still waits for the TopologyUngater (gate `kueue.x-k8s.io/topology`)."""
    return any(g.name == TOPOLOGY_GATE for g in pod.spec.scheduling_gates)


def ungate_pods(
    assignment: Mapping[str, Any],
    request: TopologyRequest | None,
    count: int,
    pods: Sequence[Pod],
) -> list[tuple[Pod, dict[str, str]]]:
    """Kueue's TopologyUngater for one pod set: each gated pod (scheduling gate
    `kueue.x-k8s.io/topology`) with the nodeSelector of its domain. By rank when every pod
    carries the request's index labels (a Job's completion index, plus a JobSet's job
    index), so pod i lands in the i-th assigned slot; else greedily, in the order given, into
    the domains' slots not yet taken by ungated pods."""
    levels, domains = decode_assignment(assignment)
    per_rank = pod_node_selectors(assignment)
    gated = [p for p in pods if is_topology_gated(p)]
    gated_ids = {id(p) for p in gated}
    ranks = _ranks(pods, request, count, levels, per_rank)
    if ranks is not None:
        return [
            (pod, dict(per_rank[rank]))
            for pod, rank in zip(pods, ranks, strict=True)
            if id(pod) in gated_ids and rank < len(per_rank)
        ]
    taken: dict[tuple[str, ...], int] = {}
    for pod in pods:
        if id(pod) not in gated_ids:
            values = tuple(pod.spec.node_selector.get(level, "") for level in levels)
            taken[values] = taken.get(values, 0) + 1
    out: list[tuple[Pod, dict[str, str]]] = []
    queue = list(gated)
    for domain in domains:
        free = max(domain.count - taken.get(domain.values, 0), 0)
        for _ in range(min(free, len(queue))):
            out.append((queue.pop(0), dict(zip(levels, domain.values, strict=True))))
    return out
