"""The group victim search on its own (plugins/defaultpreemption/groups.py): a table over
synthetic units and a resource counter standing in for "the group fits", so each of
upstream's rules (lower priority only, reprieve most important first, budgets first, the
final check) and dralloc's follower rule can be seen at once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from dralloc.api.core import Pod
from dralloc.api.meta import LabelSelector, ObjectMeta
from dralloc.api.policy import (
    PodDisruptionBudget,
    PodDisruptionBudgetSpec,
    PodDisruptionBudgetStatus,
)
from dralloc.scheduler.framework import PodInfo, Status
from dralloc.scheduler.framework.status import Code
from dralloc.scheduler.plugins.defaultpreemption import (
    NO_GROUP_VICTIMS,
    VictimUnit,
    select_victims_on_domain,
)
from dralloc.scheduler.plugins.defaultpreemption.groups import importance


def _pod(name: str, priority: int, *, labels: dict[str, str] | None = None) -> PodInfo:
    meta = ObjectMeta(name=name, namespace="default", labels=labels or {})
    pod = Pod(metadata=meta)
    pod.spec.priority = priority
    return PodInfo.of(pod)


def single(name: str, priority: int, **labels: str) -> VictimUnit:
    return VictimUnit(f"default/{name}", (_pod(name, priority, labels=labels),), priority)


def group(name: str, priority: int, size: int) -> VictimUnit:
    pods = tuple(_pod(f"{name}-{i}", priority) for i in range(size))
    return VictimUnit(f"PodGroup default/{name}", pods, priority, is_group=True)


@dataclass
class Room:
    """Free capacity: each pod holds one slot; the group fits when `need` slots are free."""

    total: int
    need: int
    used: int

    def remove(self, unit: VictimUnit) -> None:
        self.used -= len(unit.pods)

    def add(self, unit: VictimUnit) -> None:
        self.used += len(unit.pods)

    def fits(self) -> Status:
        if self.total - self.used >= self.need:
            return Status()
        return Status.unschedulable("pod group is unschedulable: too few slots")


def run(
    units: Sequence[VictimUnit],
    *,
    need: int,
    total: int | None = None,
    priority: int = 10,
    budgets: Sequence[PodDisruptionBudget] = (),
) -> tuple[list[str] | None, Status, Room]:
    held = sum(len(u.pods) for u in units)
    room = Room(total if total is not None else held, need, held)
    found, status = select_victims_on_domain(
        priority, units, budgets, room.remove, room.add, room.fits
    )
    names = [u.name.split("/")[-1] for u in found.units] if found is not None else None
    return names, status, room


def budget(selector: dict[str, str], allowed: int) -> PodDisruptionBudget:
    return PodDisruptionBudget(
        metadata=ObjectMeta(name="b", namespace="default"),
        spec=PodDisruptionBudgetSpec(selector=LabelSelector(match_labels=selector)),
        status=PodDisruptionBudgetStatus(disruptions_allowed=allowed),
    )


@pytest.mark.parametrize(
    ("units", "need", "victims"),
    [
        # Reprieve most important first: the priority-5 pod stays, the priority-1 ones go.
        ([single("a", 1), single("b", 1), single("c", 5)], 2, ["a", "b"]),
        # Only lower-priority units are potential victims.
        ([single("a", 10), single("b", 3)], 1, ["b"]),
        # A group is one unit: it leaves whole or stays whole.
        ([group("g", 1, 2), single("s", 1)], 1, ["s"]),
        ([group("g", 1, 2), single("s", 1)], 2, ["g"]),
        ([group("g", 1, 2), single("s", 1)], 3, ["g", "s"]),
    ],
)
def test_the_fewest_least_important_units_leave(
    units: list[VictimUnit], need: int, victims: list[str]
) -> None:
    names, status, room = run(units, need=need)
    assert status.is_success
    assert names == victims
    assert room.fits().is_success  # the state left is the chosen one, and it fits


def test_no_lower_priority_unit_is_unresolvable() -> None:
    names, status, _ = run([single("a", 10)], need=1)
    assert names is None
    assert (status.code, status.message) == (Code.UNSCHEDULABLE_AND_UNRESOLVABLE, NO_GROUP_VICTIMS)


def test_when_even_every_victim_gone_is_not_enough_the_groups_status_is_returned() -> None:
    names, status, _ = run([single("a", 1)], need=3)
    assert names is None and status.message == "pod group is unschedulable: too few slots"


def test_a_unit_a_budget_protects_is_reprieved_before_the_others() -> None:
    protected = single("p", 1, app="db")
    names, status, _ = run([protected, single("q", 1)], need=1, budgets=[budget({"app": "db"}, 0)])
    assert status.is_success and names == ["q"]


def member(name: str, priority: int, quorum: int, **labels: str) -> VictimUnit:
    info = _pod(name, priority, labels=labels)
    return VictimUnit(f"default/{name}", (info,), priority, gang="default/vc", quorum=quorum)


def test_a_gang_member_beyond_the_quorum_leaves_alone() -> None:
    names, status, room = run([member(f"vc-{i}", 1, 2) for i in range(3)], need=1)
    assert status.is_success and names == ["vc-2"]
    assert room.used == 2


def test_a_gang_pushed_below_its_quorum_leaves_whole() -> None:
    names, status, room = run([member(f"vc-{i}", 1, 2) for i in range(3)], need=2)
    assert status.is_success and sorted(names or ()) == ["vc-0", "vc-1", "vc-2"]
    assert room.used == 0


def test_a_gang_already_below_its_quorum_and_untouched_stays() -> None:
    units = [member("vc-0", 1, 3), single("s", 1)]
    names, status, _ = run(units, need=1)
    assert status.is_success and names == ["s"]


def test_a_budget_protected_member_still_leaves_with_its_gang() -> None:
    units = [member("vc-0", 1, 2, app="db"), member("vc-1", 1, 2), member("vc-2", 1, 2)]
    names, status, _ = run(units, need=2, budgets=[budget({"app": "db"}, 0)])
    assert status.is_success and sorted(names or ()) == ["vc-0", "vc-1", "vc-2"]


def test_units_are_ordered_as_upstreams_more_important_victim() -> None:
    older = single("old", 1)
    older.pods[0].pod.status.start_time = "2026-01-01T00:00:00+00:00"
    units = [
        single("young", 1),
        group("small", 1, 2),
        member("gm", 1, 2),
        group("big", 1, 3),
        older,
        single("hi", 2),
    ]
    ordered = [u.name.split("/")[-1] for u in sorted(units, key=importance)]
    assert ordered == ["hi", "big", "small", "gm", "old", "young"]
