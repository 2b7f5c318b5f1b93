"""MIG layout planning: how many GPUs a list of MIG instances needs, with which placements,
and how to turn one GPU's current layout into a wanted one while destroying the fewest
running instances.

Pure computation over catalog data: no I/O, no clock, no module-level state. Everything a
call builds (the geometry index, the list of feasible GPU layouts, memo tables) belongs to
that call and is dropped when it returns, so results depend only on the arguments.

Design
------
*What one GPU can hold.* The hardware rules are those of `dralloc.devices.mig` (listed
starts, disjoint memory slices, compute slices <= 7, per-profile and total instance limits, at
most one `+me`). All but the first two only count instances, so feasibility of a multiset of
profiles splits into a counting check and a search for disjoint windows on the 8-slice memory
axis. `_Geometry.place` does that search the way `mig.pack` does (larger windows first, each
at its lowest free legal start, identical instances in increasing start order, backtracking),
on bit masks and with the counting rules checked once, because planning runs it hundreds of
times per request. Every placement this module returns passes `mig.fits_together`, and the
tests check that both searches agree on what fits.

*How many GPUs (`plan_gpus`).* Bin packing where a bin is "fits on one GPU": a cutting-stock
problem with at most 7 item kinds. Feasibility is downward closed (removing an instance from a
valid layout leaves a valid layout), so:

1. enumerate every feasible *configuration* -- a vector of per-profile counts no larger than
   the demand -- once per call (at most 128 on a 7-slice GPU);
2. lower bound: for weights w >= 0, ceil(w . demand / max over configurations of w . c). The
   weights are each profile alone, memory slices, compute slices, instance count, and the
   optimal dual of the linear relaxation (Gilmore-Gomory: fractional GPUs per configuration,
   solved by a small simplex), whose bound is the relaxation's value rounded up; profiles that
   never share a GPU (7g) count one GPU each. Measured on thousands of random requests of up to
   1000 instances, this bound always equalled the optimum;
3. upper bound: the better of a greedy plan and the relaxation's plan rounded down and
   completed by the search below (the remainder is a handful of instances);
4. branch and bound over GPUs when the bounds differ: the next GPU must hold the largest
   remaining instance (some GPU does) and may be taken *maximal* for the remaining demand
   (moving an instance that still fits into it never adds a GPU); prune by the lower bound
   and a transposition table (a remaining demand already reached with no more GPUs).

The answer is exact whenever `is_minimal`. The search is bounded by `max_nodes` expanded states
(a count, not a time, so results never depend on the machine); requests of up to ~60 instances
need at most a few, and if the budget ever runs out the best plan found is returned with
`is_minimal=False` beside the proven `lower_bound`.

*Reconfiguring one GPU (`plan_reconfiguration`).* Exhaustive over the subsets of current
instances to keep (a GPU holds at most 7, so at most 128 subsets): a subset is usable when its
profiles are part of the target and the rest of the target can be placed beside it. The plan
keeps the most instances (so destroys and creates the fewest), then destroys the fewest memory
slices, then keeps the instances at the lowest starts. Destroying everything first and then
creating the new instances in any order is always safe, because kept + created fit together.

Input syntax
------------
Profiles: comma-separated terms, each `PROFILE`, `COUNTxPROFILE` or `PROFILE*COUNT`, or a named
layout of NVIDIA mig-parted's default configuration: `all-<profile>` (as many instances of the
profile as one GPU holds; `all-1g.10gb.me` is mig-parted's spelling of `1g.10gb+me`) and
`all-balanced` (2x the smallest `1g`, 1x the smallest `2g`, 1x the smallest `3g` -- mig-parted's
`all-balanced` for A100, H100, H200 and B200: `1g.10gb: 2, 2g.20gb: 1, 3g.40gb: 1` on H100 80GB;
a GPU without a 3g profile gets 2x 1g and 1x 2g, as mig-parted's A30 entry). A count may
prefix a named layout too (`2xall-balanced`).
Layouts: comma-separated `PROFILE@START` (`1g.10gb@0,3g.40gb@4`).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations

from dralloc.devices.catalog import GpuModel, MigGeometry, MigProfile
from dralloc.devices.mig import Placement, fits_together
from dralloc.errors import InputError, Problem

__all__ = [
    "DEFAULT_MAX_NODES",
    "MAX_INSTANCES",
    "GpuPlan",
    "Reconfiguration",
    "check_layout",
    "parse_layout",
    "parse_profiles",
    "plan_gpus",
    "plan_reconfiguration",
]

# A request larger than this is refused by `parse_profiles` (1000 instances is ~143 GPUs);
# the greedy start of `plan_gpus` is linear in it, the exact search is budgeted anyway.
MAX_INSTANCES = 1000
# States `plan_gpus` may expand before it settles for the best plan found. Random requests of
# up to 1000 instances needed at most 7; the budget caps a pathological one at a few seconds.
DEFAULT_MAX_NODES = 5_000

# The linear-programming bound of `plan_gpus`: pivot limit, tolerance, and the integer scale
# its weights are rounded to (rounding can only loosen the bound, never make it wrong).
_MAX_PIVOTS = 1000
_EPSILON = 1e-9
_WEIGHT_SCALE = 1 << 20

_COUNT_FIRST = re.compile(r"^(?P<count>\d+)\s*[x×]\s*(?P<term>\S.*)$")
_COUNT_LAST = re.compile(r"^(?P<term>.*\S)\s*\*\s*(?P<count>\d+)$")
_BALANCED = "all-balanced"
_ALL = "all-"


# ------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class GpuPlan:
    """The fewest GPUs of `model` that hold `profiles`, and each GPU's placements.

    `gpus[i]` lists GPU i's instances by start. `lower_bound` is a proven minimum number of
    GPUs; `is_minimal` says the plan meets it or the search proved no smaller plan exists
    (False only when the search budget ran out).

    >>> from dralloc.devices import load_catalog
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


# ------------------------------------------------------------------------------- parsing


def parse_profiles(
    model: GpuModel, spec: str | Iterable[str], *, field: str = "profiles"
) -> list[MigProfile]:
    """The MIG profiles `spec` asks for, in the order written, with repeats.

    `spec` is one string or several (a repeated command-line option), each a comma-separated
    list of terms (see the module docstring): `"3g.40gb,2x1g.10gb,1g.10gb+me"`,
    `"all-balanced"`, `"1g.20gb*4"`. Names are matched case-insensitively. Raises
    `InputError` with one problem per bad term, each under `field`; the message for an
    unknown profile lists the model's profiles.
    """
    texts = [spec] if isinstance(spec, str) else list(spec)
    problems: list[str] = []
    wanted: list[MigProfile] = []
    mig = model.mig
    if mig is None:
        raise _input_error(field, [f"GPU model {model.name} has no MIG"])
    terms = [term.strip() for text in texts for term in text.split(",")]
    if not any(terms):
        raise _input_error(field, ["no profiles given (expected e.g. 3g.40gb,2x1g.10gb)"])
    for term in terms:
        if not term:
            problems.append(f"empty term in {','.join(texts)!r}")
            continue
        count, name = _split_count(term)
        if count is None:
            problems.append(f"{term!r}: a count must be a whole number such as 2x1g.10gb")
            continue
        if count < 1:
            problems.append(f"{term!r}: the count must be at least 1")
            continue
        expanded = _expand(model, mig, name)
        if isinstance(expanded, str):
            problems.append(expanded)
            continue
        if len(wanted) + count * len(expanded) > MAX_INSTANCES:
            problems.append(f"{term!r}: more than {MAX_INSTANCES} instances in all")
            break
        wanted.extend(expanded * count)
    if problems:
        raise _input_error(field, problems)
    return wanted


def parse_layout(model: GpuModel, text: str, *, field: str = "layout") -> list[Placement]:
    """One GPU's instances written `PROFILE@START,...` (`"1g.10gb@0,3g.40gb@4"`).

    The empty string is an empty GPU. Raises `InputError` (every problem under `field`) when a
    term is malformed, names an unknown profile or an illegal start, or when the instances
    cannot coexist on one GPU (see `check_layout`).
    """
    if model.mig is None:
        raise _input_error(field, [f"GPU model {model.name} has no MIG"])
    if not text.strip():
        return []
    problems: list[str] = []
    layout: list[Placement] = []
    for raw in text.split(","):
        term = raw.strip()
        name, at, start_text = term.partition("@")
        if not at or not name.strip() or not start_text.strip():
            problems.append(f"{term!r}: expected PROFILE@START such as 3g.40gb@4")
            continue
        profile = _profile(model.mig, name.strip())
        if profile is None:
            problems.append(_unknown_profile(model, name.strip()))
            continue
        if not start_text.strip().isdigit():
            problems.append(f"{term!r}: the start must be a memory-slice index such as 4")
            continue
        start = int(start_text)
        if start not in profile.placement_starts:
            legal = ", ".join(str(s) for s in profile.placement_starts)
            problems.append(
                f"{term!r}: {profile.name} cannot start at memory slice {start} "
                f"(legal starts: {legal})"
            )
            continue
        layout.append(Placement(profile, start))
    if not problems:
        problems = check_layout(model, layout)
    if problems:
        raise _input_error(field, problems)
    return layout


def check_layout(model: GpuModel, layout: Sequence[Placement]) -> list[str]:
    """Why `layout` cannot exist on one GPU of `model`, one sentence per broken rule;
    empty exactly when `mig.fits_together(model, layout)`.
    """
    mig = model.mig
    if mig is None:
        return [f"GPU model {model.name} has no MIG"] if layout else []
    out: list[str] = []
    for p in layout:
        if _profile(mig, p.profile.name) != p.profile:
            out.append(f"{p}: {p.profile.name} is not a MIG profile of {model.name}")
        elif p.start not in p.profile.placement_starts:
            out.append(f"{p}: {p.profile.name} cannot start at memory slice {p.start}")
    if len(layout) > mig.max_instances:
        out.append(f"{len(layout)} instances; a GPU holds at most {mig.max_instances}")
    per_profile = Counter(p.profile.name for p in layout)
    for profile in _unique_profiles(p.profile for p in layout):
        if per_profile[profile.name] > profile.max_instances:
            out.append(
                f"{per_profile[profile.name]} instances of {profile.name}; a GPU holds at "
                f"most {profile.max_instances}"
            )
    media = sum(1 for p in layout if p.profile.is_media_extension)
    if media > 1:
        out.append(f"{media} media-extension (+me) instances; a GPU holds at most 1")
    compute = sum(p.profile.compute_slices for p in layout)
    if compute > mig.compute_slices:
        out.append(f"the instances need {compute} compute slices; the GPU has {mig.compute_slices}")
    for i, first in enumerate(layout):
        for second in layout[i + 1 :]:
            shared = set(first.memory_slices) & set(second.memory_slices)
            if shared:
                out.append(f"{first} and {second} both use memory slice {min(shared)}")
    return out


# ----------------------------------------------------------------------------- planning


def plan_gpus(
    model: GpuModel, profiles: Sequence[MigProfile], *, max_nodes: int = DEFAULT_MAX_NODES
) -> GpuPlan:
    """The fewest GPUs of `model` that hold all of `profiles`, with each GPU's placements.

    Exact branch and bound (module docstring); `max_nodes` bounds the states it expands, after
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


# ------------------------------------------------------------------------------ geometry


@dataclass(frozen=True)
class _Geometry:
    """One model's MIG rules in the form the searches want: per profile (by index in the
    catalog's profile list) its windows as (start, memory-slice bit mask), and the profile
    order of placement, larger windows first (the order `mig.pack` uses)."""

    model: GpuModel
    mig: MigGeometry
    windows: tuple[tuple[tuple[int, int], ...], ...]
    order: tuple[int, ...]

    @classmethod
    def of(cls, model: GpuModel) -> _Geometry:
        if model.mig is None:
            raise ValueError(f"GPU model {model.name} has no MIG")
        mig = model.mig
        windows = tuple(
            tuple((s, ((1 << p.memory_slices) - 1) << s) for s in p.placement_starts)
            for p in mig.profiles
        )
        order = tuple(
            sorted(
                range(len(mig.profiles)),
                key=lambda i: (
                    -mig.profiles[i].memory_slices,
                    -mig.profiles[i].compute_slices,
                    mig.profiles[i].gi_profile_id,
                    mig.profiles[i].name,
                ),
            )
        )
        return cls(model, mig, windows, order)

    def counts(self, profiles: Iterable[MigProfile]) -> tuple[int, ...]:
        """Per-profile counts of `profiles`; ValueError for a profile not of this model."""
        index = {p.name: i for i, p in enumerate(self.mig.profiles)}
        out = [0] * len(self.mig.profiles)
        for profile in profiles:
            i = index.get(profile.name)
            if i is None or self.mig.profiles[i] != profile:
                raise ValueError(f"{profile.name} is not a MIG profile of {self.model.name}")
            out[i] += 1
        return tuple(out)

    def counts_fit(self, counts: Sequence[int]) -> bool:
        """The rules that only count instances (limits, compute slices, one `+me`)."""
        mig = self.mig
        if sum(counts) > mig.max_instances:
            return False
        compute = media = 0
        for profile, n in zip(mig.profiles, counts, strict=True):
            if n > profile.max_instances:
                return False
            compute += n * profile.compute_slices
            media += n if profile.is_media_extension else 0
        return compute <= mig.compute_slices and media <= 1

    def place(
        self, counts: Sequence[int], keep: Sequence[Placement] = ()
    ) -> list[Placement] | None:
        """Placements for `counts` instances beside `keep` (assumed valid), or None.

        Larger windows first, each at its lowest free legal start, with backtracking; the
        k-th instance of a profile starts after the (k-1)-th, so identical instances are
        never tried in two orders. Exhaustive: None means no placement exists.
        """
        total = [a + b for a, b in zip(counts, self.counts(p.profile for p in keep), strict=True)]
        if not self.counts_fit(total):
            return None
        used = 0
        for p in keep:
            used |= ((1 << p.profile.memory_slices) - 1) << p.start
        items = [k for k in self.order for _ in range(counts[k])]
        chosen: list[int] = []  # index into self.windows[items[i]]

        def fill(i: int, used: int) -> bool:
            if i == len(items):
                return True
            kind = items[i]
            first = chosen[i - 1] + 1 if i and items[i - 1] == kind else 0
            for w in range(first, len(self.windows[kind])):
                mask = self.windows[kind][w][1]
                if used & mask:
                    continue
                chosen.append(w)
                if fill(i + 1, used | mask):
                    return True
                chosen.pop()
            return False

        if not fill(0, used):
            return None
        return [
            Placement(self.mig.profiles[kind], self.windows[kind][w][0])
            for kind, w in zip(items, chosen, strict=True)
        ]


class _BinSearch:
    """Branch and bound for `plan_gpus` over the demanded profiles only (`kinds`, largest
    windows first): vectors below are counts per kind, in that order."""

    def __init__(
        self, geometry: _Geometry, kinds: list[int], want: tuple[int, ...], max_nodes: int
    ) -> None:
        self.geometry = geometry
        self.kinds = kinds
        self.want = want
        self.max_nodes = max_nodes
        self.nodes = 0
        self.witness: dict[tuple[int, ...], tuple[Placement, ...]] = {}
        self._enumerate([])
        profiles = [geometry.mig.profiles[k] for k in kinds]
        memory = tuple(p.memory_slices for p in profiles)
        compute = tuple(p.compute_slices for p in profiles)
        ones = tuple(1 for _ in kinds)
        units = [tuple(int(i == j) for j in range(len(kinds))) for i in range(len(kinds))]
        self.configs = [c for c in self.witness if any(c)]
        maximal = [c for c in self.configs if not self._can_grow(c, want)]
        dual, uses = _relaxation(maximal, want)
        # The relaxation's own plan, rounded down: a good start for a large request.
        self.rounded = [c for c, x in zip(maximal, uses, strict=True) for _ in range(int(x))]
        # Branch first on the configurations the linear relaxation values most (those of its
        # optimal solution weigh exactly 1), then on the most memory and compute slices.
        self.configs.sort(
            key=lambda c: (-_dot(dual, c), -_dot(memory, c), -_dot(compute, c), -sum(c), c)
        )
        self.weights = [memory, compute, ones, *units] + ([dual] if any(dual) else [])
        # Kinds that share a GPU with nothing (7g): each needs a GPU of its own.
        self.alone = [
            i for i, unit in enumerate(units) if all(c == unit for c in self.configs if c[i])
        ]
        self._best_weight: dict[int, list[int]] = {}
        self._seen: dict[tuple[int, ...], int] = {}

    def _enumerate(self, prefix: list[int], placed: tuple[Placement, ...] = ()) -> None:
        """Every feasible count vector <= `want`, with the placements that proved it; a count
        is not raised past the first infeasible one (feasibility is downward closed)."""
        i = len(prefix)
        if i == len(self.kinds):
            self.witness[tuple(prefix)] = placed
            return
        self._enumerate([*prefix, 0], placed)
        for n in range(1, self.want[i] + 1):
            full = [0] * len(self.geometry.mig.profiles)
            for kind, m in zip(self.kinds, [*prefix, n], strict=False):
                full[kind] = m
            found = self.geometry.place(full)
            if found is None:
                break
            self._enumerate([*prefix, n], _by_start(found))

    def lower_bound(self, rest: tuple[int, ...]) -> int:
        """GPUs that `rest` needs at least: one per instance of a kind that never shares a
        GPU, plus for the others max over weights w of ceil(w . rest / max_c w . c)."""
        alone = sum(rest[i] for i in self.alone)
        if alone:
            rest = tuple(0 if i in self.alone else n for i, n in enumerate(rest))
        support = sum(1 << i for i, n in enumerate(rest) if n)
        best = self._best_weight.get(support)
        if best is None:
            fitting = [c for c in self.configs if all(rest[i] or not n for i, n in enumerate(c))]
            best = [max((_dot(w, c) for c in fitting), default=0) for w in self.weights]
            self._best_weight[support] = best
        bound = 0
        for w, most in zip(self.weights, best, strict=True):
            need = _dot(w, rest)
            if need:
                bound = max(bound, math.ceil(need / most))
        return alone + bound

    def _can_grow(self, config: tuple[int, ...], rest: tuple[int, ...]) -> bool:
        """Whether one more remaining instance would still fit beside `config`."""
        return any(
            n < r and _bump(config, i) in self.witness
            for i, (n, r) in enumerate(zip(config, rest, strict=True))
        )

    def branches(self, rest: tuple[int, ...]) -> list[tuple[int, ...]]:
        """Configurations the next GPU may take: they hold the first (largest) remaining
        kind, fit in `rest`, and are maximal for `rest` (no remaining instance could join)."""
        first = next(i for i, n in enumerate(rest) if n)
        out = []
        for c in self.configs:
            if not c[first] or any(n > r for n, r in zip(c, rest, strict=True)):
                continue
            if not self._can_grow(c, rest):
                out.append(c)
        return out

    def greedy(self) -> list[tuple[int, ...]]:
        """Fill each GPU with the first maximal configuration `branches` offers."""
        rest, chosen = self.want, []
        while any(rest):
            config = self.branches(rest)[0]
            chosen.append(config)
            rest = _minus(rest, config)
        return chosen

    def rounding(self) -> tuple[list[tuple[int, ...]], tuple[int, ...]]:
        """The relaxation's GPUs taken whole times (each cut to what is still wanted), and
        the demand they leave: typically a handful of instances, cheap to search."""
        rest, chosen = self.want, []
        for config in self.rounded:
            cut = tuple(min(n, r) for n, r in zip(config, rest, strict=True))
            if any(cut):
                chosen.append(cut)
                rest = _minus(rest, cut)
        return chosen, rest

    def solve(self) -> tuple[list[tuple[int, ...]], int, bool]:
        """(configurations of the plan, proven lower bound, whether the plan is minimal)."""
        root = self.lower_bound(self.want)
        best = self.greedy()
        if len(best) <= root:
            return best, root, True

        def dfs(rest: tuple[int, ...], chosen: list[tuple[int, ...]]) -> None:
            nonlocal best
            if not any(rest):
                if len(chosen) < len(best):
                    best = list(chosen)
                return
            depth = len(chosen)
            if depth + self.lower_bound(rest) >= len(best):
                return
            if self._seen.get(rest, depth + 1) <= depth:
                return
            self._seen[rest] = depth
            self.nodes += 1
            if self.nodes > self.max_nodes:
                raise _OutOfBudget
            for config in self.branches(rest):
                chosen.append(config)
                dfs(_minus(rest, config), chosen)
                chosen.pop()
                if len(best) <= root:
                    return

        try:
            # First complete the rounded relaxation, which is usually optimal, then search
            # from scratch only if a gap to the lower bound remains.
            start, rest = self.rounding()
            if start:
                dfs(rest, start)
            if len(best) > root:
                dfs(self.want, [])
        except _OutOfBudget:
            return best, root, len(best) <= root
        # The search finished: `best` is minimal, which is also the tightest lower bound.
        return best, len(best), True


class _OutOfBudget(Exception):
    """Internal: `plan_gpus` expanded `max_nodes` states."""


def _relaxation(
    configs: Sequence[tuple[int, ...]], demand: tuple[int, ...]
) -> tuple[tuple[int, ...], list[float]]:
    """The linear relaxation of bin packing by configurations (Gilmore-Gomory): minimise
    the GPUs sum x_c subject to sum x_c c >= demand, x >= 0, solved through its dual,
    max demand . y subject to c . y <= 1 for every configuration c and y >= 0.

    Returns the dual y as integer weights (scaled and rounded) for the bound
    ceil(y . demand / max_c y . c), and the primal x (how many GPUs of each configuration),
    read from the slack columns of the final objective row. Any y >= 0 gives a valid bound
    and any rounding of x is only a starting plan, so floating point can loosen the bound
    but never make an answer wrong. Dense tableau simplex with Bland's rule (no cycling);
    the slack basis is feasible since every right side is 1.
    """
    kinds, rows = len(demand), len(configs)
    width = kinds + rows
    table = [
        [float(n) for n in c] + [float(i == j) for j in range(rows)] + [1.0]
        for i, c in enumerate(configs)
    ]
    objective = [-float(n) for n in demand] + [0.0] * (rows + 1)
    basis = list(range(kinds, width))
    for _ in range(_MAX_PIVOTS):
        column = next((j for j in range(width) if objective[j] < -_EPSILON), None)
        if column is None:
            break
        candidates = [
            (table[i][-1] / table[i][column], basis[i], i)
            for i in range(rows)
            if table[i][column] > _EPSILON
        ]
        if not candidates:  # unbounded: impossible, every kind appears in a configuration
            break
        ratio = min(c[0] for c in candidates)
        row = min((c for c in candidates if c[0] <= ratio + _EPSILON), key=lambda c: c[1])[2]
        pivot = table[row][column]
        table[row] = [x / pivot for x in table[row]]
        for i in range(rows):
            factor = table[i][column]
            if i != row and factor:
                table[i] = [a - factor * b for a, b in zip(table[i], table[row], strict=True)]
        factor = objective[column]
        objective = [a - factor * b for a, b in zip(objective, table[row], strict=True)]
        basis[row] = column
    weights = [0.0] * kinds
    for i, variable in enumerate(basis):
        if variable < kinds:
            weights[variable] = max(0.0, table[i][-1])
    uses = [max(0.0, x) + _EPSILON for x in objective[kinds:width]]
    return tuple(round(w * _WEIGHT_SCALE) for w in weights), uses


# ------------------------------------------------------------------------------- helpers


def _minus(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(x - y for x, y in zip(a, b, strict=True))


def _dot(a: Sequence[int], b: Sequence[int]) -> int:
    return sum(x * y for x, y in zip(a, b, strict=True))


def _bump(vector: tuple[int, ...], i: int) -> tuple[int, ...]:
    return (*vector[:i], vector[i] + 1, *vector[i + 1 :])


def _subtract(a: Sequence[int], b: Sequence[int]) -> tuple[int, ...] | None:
    out = tuple(x - y for x, y in zip(a, b, strict=True))
    return None if any(n < 0 for n in out) else out


def _by_start(placements: Iterable[Placement]) -> tuple[Placement, ...]:
    return tuple(sorted(placements, key=lambda p: (p.start, p.profile.name)))


def _unique_profiles(profiles: Iterable[MigProfile]) -> list[MigProfile]:
    seen: dict[str, MigProfile] = {}
    for p in profiles:
        seen.setdefault(p.name, p)
    return list(seen.values())


def _input_error(field: str, messages: list[str]) -> InputError:
    return InputError([Problem("", "", field, message) for message in messages])


def _split_count(term: str) -> tuple[int | None, str]:
    """(count, what) of `2x1g.10gb`, `1g.10gb*2` or `1g.10gb` (count 1); count None when a
    count is written but is not a whole number."""
    first = _COUNT_FIRST.match(term)
    if first:
        return int(first.group("count")), first.group("term").strip()
    last = _COUNT_LAST.match(term)
    if last:
        return int(last.group("count")), last.group("term").strip()
    if "*" in term:
        return None, term
    return 1, term


def _profile(mig: MigGeometry, name: str) -> MigProfile | None:
    wanted = name.lower()
    return next((p for p in mig.profiles if p.name == wanted), None)


def _unknown_profile(model: GpuModel, name: str) -> str:
    known = ", ".join(p.name for p in model.mig.profiles) if model.mig else "none"
    return (
        f"unknown MIG profile {name!r} for {model.name} "
        f"(known: {known}; or all-<profile>, {_BALANCED})"
    )


def _expand(model: GpuModel, mig: MigGeometry, name: str) -> list[MigProfile] | str:
    """The profiles one term names, or why it names none."""
    lowered = name.lower()
    if lowered == _BALANCED:
        return _balanced(model, mig)
    if lowered.startswith(_ALL):
        base = lowered[len(_ALL) :]
        profile = _profile(mig, base)
        if profile is None and base.endswith(".me"):
            profile = _profile(mig, base[: -len(".me")] + "+me")
        if profile is None:
            return f"{name!r}: {_unknown_profile(model, base)}"
        return [profile] * profile.max_instances
    profile = _profile(mig, lowered)
    return [profile] if profile is not None else _unknown_profile(model, name)


def _balanced(model: GpuModel, mig: MigGeometry) -> list[MigProfile] | str:
    """mig-parted's `all-balanced`: 2x 1g, 1x 2g, 1x 3g, each the smallest-memory non-`+me`
    profile of that compute size (the 3g only where the GPU has one)."""

    def smallest(compute: int) -> MigProfile | None:
        fitting = [
            p for p in mig.profiles if p.compute_slices == compute and not p.is_media_extension
        ]
        return min(fitting, key=lambda p: (p.memory_slices, p.gi_profile_id), default=None)

    one, two, three = smallest(1), smallest(2), smallest(3)
    if one is None or two is None:
        return f"{_BALANCED}: {model.name} has no 1g and 2g profiles to balance"
    return [one, one, two] + ([three] if three is not None else [])
