"""Quota arithmetic in the cohort tree (spec/queueing.md 2.6), with the spec's worked example
and a hierarchical cohort whose own quota is an extra pool."""

from __future__ import annotations

from dralloc.api.quantity import parse_quantity
from dralloc.queueing.quota import (
    FlavorResource,
    NodeKind,
    Quota,
    QuotaNode,
    add_usage,
    amount_of,
    attach,
    available,
    potential_available,
    quantity_of,
    recompute,
    remove_usage,
)

FR = FlavorResource("f", "example.com/gpu")


def flat(a: Quota, b: Quota) -> tuple[QuotaNode, QuotaNode, QuotaNode]:
    cohort = QuotaNode("co", NodeKind.cohort)
    cq_a = QuotaNode("a", NodeKind.cluster_queue, {FR: a})
    cq_b = QuotaNode("b", NodeKind.cluster_queue, {FR: b})
    attach(cq_a, cohort)
    attach(cq_b, cohort)
    recompute(cohort)
    return cohort, cq_a, cq_b


def test_the_spec_worked_example_with_a_lending_limit() -> None:
    cohort, a, b = flat(Quota(9), Quota(12, lending_limit=1))
    assert cohort.subtree_quota[FR] == 10
    assert potential_available(a, FR) == 10
    assert potential_available(b, FR) == 21


def test_a_borrowing_limit_caps_what_a_queue_can_reach() -> None:
    _, a, _ = flat(Quota(9, borrowing_limit=1), Quota(12, lending_limit=1))
    assert potential_available(a, FR) == 10
    assert available(a, FR) == 10


def test_usage_bubbles_past_local_quota_and_comes_back_on_removal() -> None:
    cohort, a, b = flat(Quota(9), Quota(12, lending_limit=1))
    add_usage(b, FR, 11)  # within what b keeps for itself: the cohort sees nothing
    assert cohort.usage.get(FR, 0) == 0
    assert available(a, FR) == 10
    add_usage(b, FR, 3)  # 2 past its local 11 come from the cohort
    assert cohort.usage[FR] == 3  # 1 of b's lendable + 2 borrowed
    assert available(a, FR) == 7
    remove_usage(b, FR, 3)
    assert cohort.usage[FR] == 0
    assert available(a, FR) == 10


def test_a_cohort_quota_is_an_extra_pool_for_its_subtree() -> None:
    root = QuotaNode("root", NodeKind.cohort, {FR: Quota(4)})
    left = QuotaNode("left", NodeKind.cohort)
    a = QuotaNode("a", NodeKind.cluster_queue, {FR: Quota(2)})
    c = QuotaNode("c", NodeKind.cluster_queue, {FR: Quota(1, borrowing_limit=2)})
    attach(left, root)
    attach(a, left)
    attach(c, root)
    recompute(root)
    assert root.subtree_quota[FR] == 7
    assert potential_available(a, FR) == 7
    assert potential_available(c, FR) == 3  # nominal 1 + borrowing limit 2
    add_usage(a, FR, 6)
    assert (left.usage[FR], root.usage[FR]) == (6, 6)
    assert available(c, FR) == 1


def test_over_admission_makes_raw_available_negative() -> None:
    _, a, _ = flat(Quota(9), Quota(0))
    add_usage(a, FR, 12)
    assert available(a, FR) == -3


def test_amounts_are_milli_cpu_and_whole_units_rounded_up_as_kueue_counts() -> None:
    assert amount_of("cpu", parse_quantity("1500m")) == 1500
    assert amount_of("cpu", parse_quantity("0.0001")) == 1
    assert amount_of("memory", parse_quantity("1Gi")) == 1 << 30
    assert amount_of("memory", parse_quantity("1.5")) == 2
    assert str(quantity_of("cpu", 1500)) == "1500m"
    assert str(quantity_of("memory", 36 << 30)) == "36Gi"
    assert str(quantity_of("nvidia.com/gpu", 4)) == "4"
