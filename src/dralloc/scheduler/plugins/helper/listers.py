"""What the pod-to-pod plugins read beyond the pod and one node: every node of the cycle's
snapshot, and the labels of namespaces (upstream's SharedLister and namespace lister).

Callers wire these in when they build the plugins (`in_tree_registry(nodes=...)`); a plugin
built without a node lister reads the nodes its extension point is given instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

from dralloc.scheduler.framework import NodeInfo

NodeLister = Callable[[], Sequence[NodeInfo]]
"""The cycle's snapshot: every node, in name order; the same list object while no node is
added or removed (so a plugin may remember what it derived from one list)."""

NamespaceLabels = Callable[[str], Mapping[str, str]]
"""The labels of a namespace, by name."""

METADATA_NAME_LABEL = "kubernetes.io/metadata.name"


def default_namespace_labels(
    known: Mapping[str, Mapping[str, str]] | None = None,
) -> NamespaceLabels:
    """Namespace labels from `known` (name -> labels of the Namespace objects given), else
    the one label the API server puts on every namespace, `kubernetes.io/metadata.name`:
    every namespace a pod lives in exists in a real cluster, so a namespace nobody described
    is taken to carry that label only.

    >>> default_namespace_labels()("ml")["kubernetes.io/metadata.name"]
    'ml'
    """
    given = dict(known or {})
    # One entry per namespace asked about: bounded by the namespaces pods live in.
    made: dict[str, Mapping[str, str]] = {}

    def labels(name: str) -> Mapping[str, str]:
        cached = made.get(name)
        if cached is None:
            cached = made[name] = MappingProxyType(
                {**given.get(name, {}), METADATA_NAME_LABEL: name}
            )
        return cached

    return labels
