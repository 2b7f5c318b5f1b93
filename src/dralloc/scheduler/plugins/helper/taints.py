"""Pod tolerations against node taints (spec/scheduler.md section 4.6).

Pure computation. The rule: a toleration matches a taint when (the keys are equal, or the
toleration's key is empty and its operator is `Exists`) and (the effects are equal, or the
toleration's effect is empty) and (the operator is `Exists`, or it is `Equal` or empty and
the values are equal). Any other operator matches nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from dralloc.api.core import Taint, Toleration

EXISTS = "Exists"
EQUAL = "Equal"


def tolerates(toleration: Toleration, taint: Taint) -> bool:
    """Whether one toleration matches one taint."""
    if toleration.effect and toleration.effect != taint.effect:
        return False
    operator = toleration.operator or EQUAL
    if not toleration.key:
        return operator == EXISTS
    if toleration.key != taint.key:
        return False
    if operator == EXISTS:
        return True
    if operator == EQUAL:
        return toleration.value == taint.value
    return False


def tolerations_tolerate_taint(tolerations: Iterable[Toleration], taint: Taint) -> bool:
    """Whether any of the tolerations matches the taint."""
    return any(tolerates(toleration, taint) for toleration in tolerations)


def find_untolerated_taint(
    taints: Sequence[Taint],
    tolerations: Sequence[Toleration],
    applies: Callable[[Taint], bool],
) -> Taint | None:
    """The first taint for which `applies` holds and no toleration matches, or None."""
    for taint in taints:
        if applies(taint) and not tolerations_tolerate_taint(tolerations, taint):
            return taint
    return None
