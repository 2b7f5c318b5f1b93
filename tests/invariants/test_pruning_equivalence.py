"""Pruning never changes an outcome (hypothesis).

With `AllocatorOptions.prune_unsatisfiable` on (the full check before the search, after one
step, after a few steps, or at the default) and off, `allocate` gives the same allocation
(shareIDs included), the same "no", or the same error, on generated clusters and claims:
committed claims, counters and MIG-like partitions, consumable capacity, taints, admin
access, matchAttribute and distinctAttribute (also over `All` requests), firstAvailable,
selectors that fail at run time or do not compile, a caller's device order. Searches run
without a time limit, where "gave up" cannot happen. Whenever a check says "unsatisfiable",
the plain search says "no" too (checked directly as well, on the checks' own).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import count
from typing import Any

from allocation_model import render
from hypothesis import HealthCheck, event, given, settings
from pruning_cases import Case, harder, partitioned

from dralloc.allocator import (
    AllocationError,
    Allocator,
    AllocatorOptions,
    DeviceKey,
    Inventory,
    allocated_state,
)
from dralloc.allocator.attempt import Attempt
from dralloc.allocator.pruning import check_before_search, check_with_state
from dralloc.api.io import load_text, to_builtins
from dralloc.features import parse_gates
from dralloc.testing import Cluster

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Pruning variants compared with the plain search: the full check before the search, after
# the first step, after a few steps, and the defaults.
VARIANTS: tuple[dict[str, Any], ...] = (
    {"prune_after_steps": 0},
    {"prune_after_steps": 1},
    {"prune_after_steps": 4},
    {},
)


def _cluster(case: Case) -> Cluster:
    # Without API validation: some selectors deliberately do not compile.
    objects, _problems = load_text(render(case.documents), "<test>")
    return Cluster.from_objects(objects)


def _order(case: Case) -> Callable[[DeviceKey], Any] | None:
    if not case.reverse_order:
        return None
    return lambda key: tuple(-ord(c) for c in str(key))


class Run:
    """One allocator and inventory, called more than once: later calls find the inventory's
    caches (selectable lists and their summaries) and the allocator's preparations warm."""

    def __init__(self, case: Case, **options: Any) -> None:
        self.case = case
        self.cluster = _cluster(case)
        self.features = parse_gates(case.gates)
        self.inventory = Inventory(self.cluster.slices, self.features, self.cluster.taint_rules)
        self.state = allocated_state(self.cluster.allocated, self.features)
        self.configure(**options)

    def configure(self, **options: Any) -> None:
        self.allocator = Allocator(
            self.features,
            options=AllocatorOptions(timeout=None, share_ids=self._share_id, **options),
        )

    def _share_id(self) -> str:
        return f"00000000-0000-4000-8000-{next(self._share_ids):012x}"

    def outcome(self) -> tuple[Any, ...]:
        self._share_ids = count(1)  # the same shareIDs on every call
        try:
            results = self.allocator.allocate(
                self.cluster.node(self.case.node),
                self.cluster.pending,
                self.inventory,
                self.cluster.classes,
                self.state,
                _order(self.case),
            )
        except AllocationError as err:
            return ("error", type(err).__name__, str(err))
        return ("none",) if results is None else ("allocated", to_builtins(results))

    def checks(self) -> tuple[bool, bool] | None:
        """What the checks say on their own (None: preparation fails with an error)."""
        attempt = Attempt(
            self.allocator,
            node=self.cluster.node(self.case.node),
            claims=self.cluster.pending,
            inventory=self.inventory,
            classes=self.cluster.classes,
            allocated=self.state,
        )
        try:
            attempt.prepare()
        except AllocationError:
            return None
        return check_before_search(attempt), check_with_state(attempt)


def _assert_equivalent(case: Case) -> None:
    plain_run = Run(case, prune_unsatisfiable=False)
    plain = plain_run.outcome()
    event(plain[0] if plain[0] != "error" else f"error {plain[1]}")
    for variant in VARIANTS:
        pruned = Run(case, **variant)
        assert pruned.outcome() == plain, variant
        # Again on the same inventory and allocator: cached summaries and preparations.
        assert pruned.outcome() == plain, (variant, "warm")
    # An inventory the plain search used first (as a scheduler's long-lived one).
    assert plain_run.outcome() == plain
    plain_run.configure(prune_after_steps=0)
    assert plain_run.outcome() == plain, "after the plain search"
    verdicts = plain_run.checks()
    if verdicts is None:
        return
    before, with_state = verdicts
    event(
        "unsatisfiable before the search"
        if before
        else "unsatisfiable with state"
        if with_state
        else "not proven"
    )
    if before or with_state:
        assert plain == ("none",) or plain[:2] == ("error", "NodeFailure"), plain


@SETTINGS
@given(harder())
def test_pruning_keeps_every_outcome_on_generated_clusters_and_claims(case: Case) -> None:
    _assert_equivalent(case)


@SETTINGS
@given(partitioned())
def test_pruning_keeps_every_outcome_on_mig_like_partitions(case: Case) -> None:
    _assert_equivalent(case)
