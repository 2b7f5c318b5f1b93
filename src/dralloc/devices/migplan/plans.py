"""The planner's answers: `plan_gpus` (the fewest GPUs for a list of MIG instances) and
`plan_reconfiguration` (one GPU from its current layout to a target), with their results
`GpuPlan` and `Reconfiguration`.

The searches themselves live in `dralloc.devices.migplan._search`; the package docstring
describes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

from dralloc.devices.catalog import GpuModel, MigProfile
from dralloc.devices.mig import Placement, fits_together
from dralloc.devices.migplan._search import _BinSearch, _by_start, _Geometry, _subtract
from dralloc.devices.migplan.parsing import check_layout

__all__ = [
    "DEFAULT_MAX_NODES",
    "GpuPlan",
    "Reconfiguration",
    "plan_gpus",
    "plan_reconfiguration",
]

# States `plan_gpus` may expand before it settles for the best plan found. Random requests of
# up to 1000 instances needed at most 7; the budget caps a pathological one at a few seconds.
DEFAULT_MAX_NODES = 5_000


@dataclass(frozen=True)
class GpuPlan:
    """The fewest GPUs of `model` that hold `profiles`, and each GPU's placements.

    `gpus[i]` lists GPU i's instances by start. `lower_bound` is a proven minimum number of
    GPUs; `is_minimal` says the plan meets it or the search proved no smaller plan exists
    (False only when the search budget ran out).

    >>> from dralloc.devices import load_catalog
    >>> from dralloc.devices.migplan import parse_profiles, plan_gpus
    >>> h100 = load_catalog().gpu("h100-80gb-sxm")
    >>> plan = plan_gpus(h100, parse_profiles(h100, "4g.40gb,3g.40gb"))
    >>> plan.gpu_count, [str(p) for p in plan.gpus[0]]
    (1, ['4g.40gb@0', '3g.40gb@4'])
    """

    model: GpuModel
    profiles: tuple[MigProfile, ...]
    gpus: tuple[tuple[Placement, ...], ...]
    lower_bound: int
    is_minimal: bool

    @property
    def gpu_count(self) -> int:
        return len(self.gpus)

    @property
    def fits_one_gpu(self) -> bool:
        """Whether all of `profiles` fit on one GPU (trivially so when none are wanted)."""
        return len(self.gpus) <= 1


@dataclass(frozen=True)
class Reconfiguration:
    """How to change one GPU from its current layout to a target: which instances stay,
    which are destroyed and which are created, at which placements.

    Destroy every instance in `destroy`, then create those in `create` (in any order); the
    result is `layout`.

    >>> from dralloc.devices import load_catalog
    >>> from dralloc.devices.migplan import parse_layout, parse_profiles, plan_reconfiguration
    >>> h100 = load_catalog().gpu("h100-80gb-sxm")
    >>> current = parse_layout(h100, "3g.40gb@0,1g.10gb@4,1g.10gb@5")
    >>> step = plan_reconfiguration(h100, current, parse_profiles(h100, "3g.40gb,2g.20gb"))
    >>> [str(p) for p in step.keep], [str(p) for p in step.create]
    (['3g.40gb@0'], ['2g.20gb@4'])
    """

    keep: tuple[Placement, ...]
    destroy: tuple[Placement, ...]
    create: tuple[Placement, ...]

    @property
    def layout(self) -> tuple[Placement, ...]:
        """The GPU's instances once done, by start."""
        return _by_start([*self.keep, *self.create])

    @property
    def is_noop(self) -> bool:
        """The current layout already is the target."""
        return not self.destroy and not self.create


def plan_gpus(
    model: GpuModel, profiles: Sequence[MigProfile], *, max_nodes: int = DEFAULT_MAX_NODES
) -> GpuPlan:
    """The fewest GPUs of `model` that hold all of `profiles`, with each GPU's placements.

    Exact branch and bound (package docstring); `max_nodes` bounds the states it expands, after
    which the best plan found is returned with `is_minimal=False`. Raises ValueError when a
    profile is not one of `model`'s.
    """
    geometry = _Geometry.of(model)
    demand = geometry.counts(profiles)
    kinds = [k for k in geometry.order if demand[k] > 0]  # largest windows first
    if not kinds:
        return GpuPlan(model, tuple(profiles), (), 0, True)
    want = tuple(demand[k] for k in kinds)
    search = _BinSearch(geometry, kinds, want, max_nodes)
    chosen, lower, minimal = search.solve()
    gpus = tuple(search.witness[c] for c in chosen)
    for gpu in gpus:  # cheap insurance: the independent rule check agrees
        assert fits_together(model, gpu), gpu
    return GpuPlan(model, tuple(profiles), gpus, lower, minimal)


def plan_reconfiguration(
    model: GpuModel, current: Sequence[Placement], target: Sequence[MigProfile]
) -> Reconfiguration | None:
    """How to go from `current` (one GPU's instances) to exactly the instances `target`
    lists, destroying as few current instances as possible; None when `target` does not fit
    on one GPU at all.

    Ties are broken by the fewest memory slices destroyed, then by keeping the instances at
    the lowest starts. Raises ValueError when `current` is not a valid layout of `model`
    (`check_layout` says why) or a target profile is not one of `model`'s.
    """
    problems = check_layout(model, current)
    if problems:
        raise ValueError(f"current layout is not valid on {model.name}: {'; '.join(problems)}")
    geometry = _Geometry.of(model)
    wanted = geometry.counts(target)
    if geometry.place(wanted) is None:
        return None
    ordered = sorted(current, key=lambda p: (p.start, p.profile.name))
    for size in range(len(ordered), -1, -1):
        best: tuple[tuple[int, tuple[int, ...]], Reconfiguration] | None = None
        for kept in combinations(ordered, size):
            rest = _subtract(wanted, geometry.counts(p.profile for p in kept))
            if rest is None:  # keeps an instance the target does not ask for
                continue
            created = geometry.place(rest, kept)
            if created is None:
                continue
            destroyed = tuple(p for p in ordered if p not in kept)
            key = (sum(p.profile.memory_slices for p in destroyed), tuple(p.start for p in kept))
            if best is None or key < best[0]:
                best = (key, Reconfiguration(tuple(kept), destroyed, _by_start(created)))
        if best is not None:
            return best[1]
    raise AssertionError("unreachable: keeping nothing always works when the target fits")
