"""A pod's inter-pod affinity and anti-affinity terms, parsed once per `PodInfo`
(upstream's `PodInfo.RequiredAffinityTerms` and siblings).

Pure computation. `Affinity.pod_affinity` / `pod_anti_affinity` arrive as written (a wire
mapping, or a `PodAffinity`); they are decoded and compiled here:

* a term's namespaces are `namespaces`, or the pod's own namespace when both `namespaces` and
  `namespaceSelector` are unset; `namespaceSelector` picks namespaces by their labels (a
  missing one picks none, an empty one all);
* `matchLabelKeys` / `mismatchLabelKeys` (KEP-3633) add `key in (value)` / `key notin
  (value)` for each key the pod has, to a term that has a label selector, as the API server
  does when the pod is created (doing it again is harmless).

A term or selector that does not parse makes `error` say why; the plugin rejects such an
incoming pod, as upstream's `NewPodInfo` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import msgspec

from dralloc.api.core import Pod, PodAffinity, PodAffinityTerm, WeightedPodAffinityTerm
from dralloc.scheduler.framework.labels import (
    EVERYTHING,
    IN,
    NOT_IN,
    NOTHING,
    CompiledLabelSelector,
    LabelRequirement,
    SelectorError,
    compile_label_selector,
)


@dataclass(frozen=True)
class AffinityTerm:
    """One compiled term (upstream's `framework.AffinityTerm`)."""

    namespaces: frozenset[str]
    selector: CompiledLabelSelector
    topology_key: str
    namespace_selector: CompiledLabelSelector = NOTHING

    def matches(self, pod: Pod, namespace_labels: Mapping[str, str] | None) -> bool:
        """Whether `pod` is one of the pods this term selects; `namespace_labels` are the
        labels of the pod's namespace (None: not known, only `namespaces` count)."""
        namespace = pod.metadata.namespace
        if namespace in self.namespaces or (
            namespace_labels is not None and self.namespace_selector.matches(namespace_labels)
        ):
            return self.selector.matches(pod.metadata.labels)
        return False


@dataclass(frozen=True)
class WeightedAffinityTerm:
    term: AffinityTerm
    weight: int


@dataclass(frozen=True)
class PodAffinityInfo:
    """The four term lists of one pod; `error` when any term does not parse."""

    required_affinity: tuple[AffinityTerm, ...] = ()
    required_anti_affinity: tuple[AffinityTerm, ...] = ()
    preferred_affinity: tuple[WeightedAffinityTerm, ...] = ()
    preferred_anti_affinity: tuple[WeightedAffinityTerm, ...] = ()
    error: str | None = None


NO_POD_AFFINITY = PodAffinityInfo()


def _decode(raw: object, path: str) -> PodAffinity | None:
    if raw is None or isinstance(raw, PodAffinity):
        return raw
    try:
        return msgspec.convert(raw, PodAffinity)
    except msgspec.ValidationError as error:
        message, _, where = str(error).partition(" - at `$")
        raise SelectorError(f"{path}{where.rstrip('`')}: {message}") from None


def _term(pod: Pod, term: PodAffinityTerm, path: str) -> AffinityTerm:
    selector = compile_label_selector(term.label_selector, f"{path}.labelSelector")
    if term.label_selector is not None:
        labels = pod.metadata.labels
        extra = [
            LabelRequirement(key, IN, frozenset((labels[key],)))
            for key in term.match_label_keys
            if key in labels
        ] + [
            LabelRequirement(key, NOT_IN, frozenset((labels[key],)))
            for key in term.mismatch_label_keys
            if key in labels
        ]
        if extra:
            selector = selector.adding(extra)
    if not term.namespaces and term.namespace_selector is None:
        namespaces = frozenset((pod.metadata.namespace,))
    else:
        namespaces = frozenset(term.namespaces)
    namespace_selector = (
        compile_label_selector(term.namespace_selector, f"{path}.namespaceSelector")
        if term.namespace_selector is not None
        else NOTHING
    )
    return AffinityTerm(namespaces, selector, term.topology_key, namespace_selector)


def _weighted(
    pod: Pod, terms: list[WeightedPodAffinityTerm], path: str
) -> tuple[WeightedAffinityTerm, ...]:
    return tuple(
        WeightedAffinityTerm(
            _term(pod, t.pod_affinity_term, f"{path}[{i}].podAffinityTerm"), t.weight
        )
        for i, t in enumerate(terms)
    )


def has_pod_affinity(pod: Pod) -> bool:
    """Upstream's "pod with affinity": it has a podAffinity or a podAntiAffinity."""
    affinity = pod.spec.affinity
    return affinity is not None and (
        affinity.pod_affinity is not None or affinity.pod_anti_affinity is not None
    )


def parse_pod_affinity(pod: Pod) -> PodAffinityInfo:
    """The pod's compiled terms (`NO_POD_AFFINITY` for a pod without any)."""
    if not has_pod_affinity(pod):
        return NO_POD_AFFINITY
    affinity = pod.spec.affinity
    assert affinity is not None
    base = "spec.affinity"
    required = "requiredDuringSchedulingIgnoredDuringExecution"
    preferred = "preferredDuringSchedulingIgnoredDuringExecution"
    try:
        positive = _decode(affinity.pod_affinity, f"{base}.podAffinity")
        negative = _decode(affinity.pod_anti_affinity, f"{base}.podAntiAffinity")
        return PodAffinityInfo(
            required_affinity=tuple(
                _term(pod, t, f"{base}.podAffinity.{required}[{i}]")
                for i, t in enumerate(
                    positive.required_during_scheduling_ignored_during_execution if positive else ()
                )
            ),
            required_anti_affinity=tuple(
                _term(pod, t, f"{base}.podAntiAffinity.{required}[{i}]")
                for i, t in enumerate(
                    negative.required_during_scheduling_ignored_during_execution if negative else ()
                )
            ),
            preferred_affinity=_weighted(
                pod,
                positive.preferred_during_scheduling_ignored_during_execution if positive else [],
                f"{base}.podAffinity.{preferred}",
            ),
            preferred_anti_affinity=_weighted(
                pod,
                negative.preferred_during_scheduling_ignored_during_execution if negative else [],
                f"{base}.podAntiAffinity.{preferred}",
            ),
        )
    except SelectorError as error:
        return PodAffinityInfo(error=str(error))


__all__ = [
    "EVERYTHING",
    "NOTHING",
    "NO_POD_AFFINITY",
    "AffinityTerm",
    "PodAffinityInfo",
    "WeightedAffinityTerm",
    "has_pod_affinity",
    "parse_pod_affinity",
]
