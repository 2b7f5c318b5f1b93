"""Internal: the searches behind `plan_gpus` and `plan_reconfiguration` (the package
docstring's Design): `_Geometry` (one model's MIG rules as bit masks, and the placement
search), `_BinSearch` (branch and bound over GPU configurations) and `_relaxation` (the linear
relaxation's simplex), with small vector helpers.

Every object here belongs to one planner call and is dropped when it returns.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dralloc.devices.catalog import GpuModel, MigGeometry, MigProfile
from dralloc.devices.mig import Placement

# The linear-programming bound of `plan_gpus`: pivot limit, tolerance, and the integer scale
# its weights are rounded to (rounding can only loosen the bound, never make it wrong).
_MAX_PIVOTS = 1000
_EPSILON = 1e-9
_WEIGHT_SCALE = 1 << 20


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
