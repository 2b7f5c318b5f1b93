"""Whether a pod set may take a ResourceFlavor (spec/queueing.md 1.1 and 2.4), before quota.

Owns: `check_flavor` and its parts. A pod set's `nodeSelector` and required node affinity,
restricted to the label keys some flavor of the resource group uses (Kueue's
`flavorSelector`), must match the flavor's `nodeLabels`; its tolerations plus the flavor's
own must tolerate every NoSchedule / NoExecute taint of the flavor. Messages are Kueue's.
Pure computation, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping

from dralloc.api.core import PodSpec, Taint, Toleration
from dralloc.queueing.objects import ResourceFlavor


def _requirement_matches(
    operator: str, key: str, values: list[str], labels: Mapping[str, str]
) -> bool:
    have = labels.get(key)
    if operator == "In":
        return have is not None and have in values
    if operator == "NotIn":
        return have is None or have not in values
    if operator == "Exists":
        return have is not None
    if operator == "DoesNotExist":
        return have is None
    if operator in ("Gt", "Lt") and have is not None and values:
        try:
            left, right = int(have), int(values[0])
        except ValueError:
            return False
        return left > right if operator == "Gt" else left < right
    return False


def flavor_matches_selector(pod: PodSpec, flavor: ResourceFlavor, keys: frozenset[str]) -> bool:
    """Kueue's `flavorSelector` + match: the pod's nodeSelector and required node affinity,
    keeping only keys some flavor of the group uses, against the flavor's nodeLabels."""
    labels = flavor.spec.node_labels
    for key, value in pod.node_selector.items():
        if key in keys and labels.get(key) != value:
            return False
    affinity = pod.affinity.node_affinity if pod.affinity else None
    required = affinity.required_during_scheduling_ignored_during_execution if affinity else None
    if required is None or not required.node_selector_terms:
        return True
    terms = []
    for term in required.node_selector_terms:
        kept = [e for e in term.match_expressions if e.key in keys]
        if not kept:
            return True  # a term with no relevant key matches any flavor (terms are ORed)
        terms.append(kept)
    return any(
        all(_requirement_matches(e.operator, e.key, e.values, labels) for e in term)
        for term in terms
    )


def _tolerates(toleration: Toleration, taint: Taint) -> bool:
    if toleration.effect and toleration.effect != taint.effect:
        return False
    if not toleration.key:
        return toleration.operator == "Exists"
    if toleration.key != taint.key:
        return False
    if toleration.operator == "Exists":
        return True
    return toleration.value == taint.value


def untolerated_taint(pod: PodSpec, flavor: ResourceFlavor) -> Taint | None:
    tolerations = [*pod.tolerations, *flavor.spec.tolerations]
    for taint in flavor.spec.node_taints:
        if taint.effect not in ("NoSchedule", "NoExecute"):
            continue
        if not any(_tolerates(t, taint) for t in tolerations):
            return taint
    return None


def check_flavor(
    pod: PodSpec, flavor_name: str, flavor: ResourceFlavor | None, keys: frozenset[str]
) -> str | None:
    """Why the pod set cannot take this flavor, or None."""
    if flavor is None:
        return f"flavor {flavor_name} not found"
    taint = untolerated_taint(pod, flavor)
    if taint is not None:
        # Kueue prints the corev1.Taint struct with Go's %v: {key value effect <nil>}.
        added = taint.time_added or "<nil>"
        shown = f"{{{taint.key} {taint.value} {taint.effect} {added}}}"
        return f"untolerated taint {shown} in flavor {flavor_name}"
    if not flavor_matches_selector(pod, flavor, keys):
        return f"flavor {flavor_name} doesn't match node affinity"
    return None
