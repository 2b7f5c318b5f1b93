"""Label selectors compiled once, with `metav1.LabelSelectorAsSelector`'s rules.

Pure computation. A missing selector (None) selects nothing; an empty one (no `matchLabels`,
no `matchExpressions`) selects everything. `matchLabels` pairs become `In` requirements; an
expression's operator is `In`, `NotIn` (both need values), `Exists` or `DoesNotExist` (both
take none). Anything else does not compile: `compile_label_selector` raises `SelectorError`
naming the field at fault, which callers turn into their own status.

Used by the scheduler's pod-to-pod plugins (topology spread, inter-pod affinity) and by the
framework's parsed pod affinity (`podaffinity.py`); `dralloc.controllers.workloads.selectors`
applies the same rules for controllers, without compiling.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from dralloc.api.meta import LabelSelector

IN, NOT_IN, EXISTS, DOES_NOT_EXIST = "In", "NotIn", "Exists", "DoesNotExist"


class SelectorError(ValueError):
    """A selector that does not compile; the message names the field and the fault."""


@dataclass(frozen=True)
class LabelRequirement:
    key: str
    operator: str
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        if op == IN:
            value = labels.get(self.key)
            return value is not None and value in self.values
        if op == NOT_IN:
            value = labels.get(self.key)
            return value is None or value not in self.values
        if op == EXISTS:
            return self.key in labels
        return self.key not in labels


@dataclass(frozen=True)
class CompiledLabelSelector:
    """Requirements ANDed; `nothing` marks the selector of a missing LabelSelector.

    >>> from dralloc.api.meta import LabelSelector
    >>> compile_label_selector(LabelSelector(match_labels={"app": "web"})).matches({"app": "web"})
    True
    >>> NOTHING.matches({})
    False
    """

    requirements: tuple[LabelRequirement, ...] = ()
    nothing: bool = False

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.nothing:
            return False
        return all(requirement.matches(labels) for requirement in self.requirements)

    @property
    def is_empty(self) -> bool:
        """Selects everything (upstream's `Selector.Empty()`)."""
        return not self.nothing and not self.requirements

    def adding(self, extra: Iterable[LabelRequirement]) -> CompiledLabelSelector:
        """This selector with `extra` requirements too (a missing selector stays nothing)."""
        if self.nothing:
            return self
        return CompiledLabelSelector((*self.requirements, *extra))


NOTHING = CompiledLabelSelector(nothing=True)
EVERYTHING = CompiledLabelSelector()


def compile_label_selector(
    selector: LabelSelector | None, path: str = "labelSelector"
) -> CompiledLabelSelector:
    """`selector` compiled; SelectorError for an operator or value count that does not fit."""
    if selector is None:
        return NOTHING
    requirements = [
        LabelRequirement(key, IN, frozenset((value,)))
        for key, value in sorted(selector.match_labels.items())
    ]
    for i, expression in enumerate(selector.match_expressions):
        where = f"{path}.matchExpressions[{i}]"
        op, values = expression.operator, expression.values
        if op in (IN, NOT_IN):
            if not values:
                raise SelectorError(f"{where}.values: must be non-empty for operator {op}")
        elif op in (EXISTS, DOES_NOT_EXIST):
            if values:
                raise SelectorError(f"{where}.values: must be empty for operator {op}")
        else:
            raise SelectorError(f"{where}.operator: {op!r} is not a valid label selector operator")
        requirements.append(LabelRequirement(expression.key, op, frozenset(values)))
    return CompiledLabelSelector(tuple(requirements))
