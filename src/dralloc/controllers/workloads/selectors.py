"""Label selectors as controllers apply them to pods and ReplicaSets (metav1.LabelSelector).

Pure computation, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping

from dralloc.api.workloads import LabelSelector


def selector_matches(selector: LabelSelector | None, labels: Mapping[str, str]) -> bool:
    """Whether `labels` satisfy `selector`, as `metav1.LabelSelectorAsSelector` reads it: no
    selector selects nothing, an empty one selects everything, an unknown operator nothing.

    >>> selector_matches(LabelSelector(match_labels={"app": "web"}), {"app": "web", "x": "y"})
    True
    >>> selector_matches(None, {"app": "web"})
    False
    """
    if selector is None:
        return False
    for key, value in selector.match_labels.items():
        if labels.get(key) != value:
            return False
    for requirement in selector.match_expressions:
        present = requirement.key in labels
        operator = requirement.operator
        if operator == "In":
            if not present or labels[requirement.key] not in requirement.values:
                return False
        elif operator == "NotIn":
            if present and labels[requirement.key] in requirement.values:
                return False
        elif operator == "Exists":
            if not present:
                return False
        elif operator == "DoesNotExist":
            if present:
                return False
        else:
            return False
    return True


def with_label(selector: LabelSelector | None, key: str, value: str) -> LabelSelector:
    """A copy of `selector` that also requires `key=value` (upstream's
    `CloneSelectorAndAddLabel`)."""
    if selector is None:
        return LabelSelector(match_labels={key: value})
    return LabelSelector(
        match_labels={**selector.match_labels, key: value},
        match_expressions=list(selector.match_expressions),
    )
