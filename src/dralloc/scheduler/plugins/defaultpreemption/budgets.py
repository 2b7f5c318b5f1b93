"""Which potential victims would violate a PodDisruptionBudget (upstream's
filterPodsWithPDBViolation, spec/scheduler.md section 5.3 step 5). Pure computation.

The budgets are read as the scheduler's informer holds them: `status.disruptionsAllowed` is
what the disruption controller last wrote (or what `disruption.py` computed for a budget
given without a status), and nothing here changes it. Walking the victims in the order given
(most important first), each budget in the victim's namespace whose selector matches the
victim's labels loses one allowed disruption, unless the victim is already listed in the
budget's `status.disruptedPods` (the eviction API has counted it). A victim that takes any
budget below zero violates it. A pod without labels matches no budget; a missing or empty
selector, or one that does not compile, matches no pod (the scheduler's reading; the
disruption controller reads an empty selector as "every pod").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from dralloc.api.policy import PodDisruptionBudget
from dralloc.scheduler.framework import PodInfo
from dralloc.scheduler.framework.labels import (
    NOTHING,
    CompiledLabelSelector,
    SelectorError,
    compile_label_selector,
)

DisruptionBudgetLister = Callable[[], Sequence[PodDisruptionBudget]]
"""Every PodDisruptionBudget of the cluster, each with a status (upstream's PDB lister)."""


def no_budgets() -> Sequence[PodDisruptionBudget]:
    return ()


def budget_selector(budget: PodDisruptionBudget) -> CompiledLabelSelector:
    """The selector as preemption reads it: NOTHING for a missing, empty or invalid one."""
    try:
        compiled = compile_label_selector(budget.spec.selector, "spec.selector")
    except SelectorError:
        return NOTHING
    return NOTHING if compiled.is_empty else compiled


def split_by_budget_violation(
    pods: Sequence[PodInfo], budgets: Sequence[PodDisruptionBudget]
) -> tuple[list[PodInfo], list[PodInfo]]:
    """(violating, non-violating), each in the order of `pods` (see the module docstring).

    >>> from dralloc.api.core import Pod
    >>> from dralloc.api.meta import LabelSelector, ObjectMeta
    >>> from dralloc.api.policy import PodDisruptionBudgetSpec, PodDisruptionBudgetStatus
    >>> web = lambda name: PodInfo.of(Pod(metadata=ObjectMeta(
    ...     name=name, namespace="default", labels={"app": "web"})))
    >>> budget = PodDisruptionBudget(
    ...     metadata=ObjectMeta(name="web", namespace="default"),
    ...     spec=PodDisruptionBudgetSpec(selector=LabelSelector(match_labels={"app": "web"})),
    ...     status=PodDisruptionBudgetStatus(disruptions_allowed=1))
    >>> violating, other = split_by_budget_violation([web("a"), web("b")], [budget])
    >>> [p.pod.metadata.name for p in violating], [p.pod.metadata.name for p in other]
    (['b'], ['a'])
    """
    selectors = [budget_selector(b) for b in budgets]
    allowed = [b.status.disruptions_allowed if b.status is not None else 0 for b in budgets]
    violating: list[PodInfo] = []
    non_violating: list[PodInfo] = []
    for info in pods:
        meta = info.pod.metadata
        violates = False
        if meta.labels:
            for i, budget in enumerate(budgets):
                if budget.metadata.namespace != meta.namespace:
                    continue
                if not selectors[i].matches(meta.labels):
                    continue
                status = budget.status
                if status is not None and meta.name in status.disrupted_pods:
                    continue  # already counted by the eviction API: not decremented again
                allowed[i] -= 1
                if allowed[i] < 0:
                    violates = True
        (violating if violates else non_violating).append(info)
    return violating, non_violating
