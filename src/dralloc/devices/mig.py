"""MIG placement geometry: which GPU instances a MIG-capable GPU can hold at once.

Pure computation over catalog data, no I/O and no state. A `Placement` is one GPU instance
of one profile at one legal start on the memory-slice axis; `fits_together` applies the
hardware's rules to a set of them (NVIDIA MIG user guide, "Supported MIG profiles" and
"Placement of GPU instances"):

1. every instance sits at one of its profile's listed starts;
2. no two instances share a memory slice;
3. compute slices add up to at most the GPU's compute slices (7) -- this is why two `3g`
   instances, which take 4 memory slices but 3 compute slices each, strand one compute slice,
   and why `4g@0 + 3g@4` is legal;
4. at most `maxInstances` instances of each profile and of all profiles together (7);
5. at most one media-extension (`+me`) instance.

The NVIDIA DRA driver's DynamicMIG mode announces one device per (profile, start) -- the
enumeration `placements()` returns -- and lets memory-slice counters enforce rule 2.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from dralloc.devices.catalog import GpuModel, MigProfile

__all__ = ["Placement", "fits_together", "pack", "placements"]


@dataclass(frozen=True)
class Placement:
    """One MIG GPU instance: `profile` placed at memory slice `start`.

    >>> from dralloc.devices import load_catalog
    >>> h100 = load_catalog().gpu("h100-80gb-sxm")
    >>> Placement(h100.mig_profile("3g.40gb"), 4).memory_slices
    range(4, 8)
    """

    profile: MigProfile
    start: int

    @property
    def memory_slices(self) -> range:
        """The memory slices this instance occupies."""
        return range(self.start, self.start + self.profile.memory_slices)

    def __str__(self) -> str:
        return f"{self.profile.name}@{self.start}"


def placements(model: GpuModel) -> list[Placement]:
    """Every (profile, legal start) of `model`, in catalog order; empty without MIG."""
    if model.mig is None:
        return []
    return [
        Placement(profile, start)
        for profile in model.mig.profiles
        for start in profile.placement_starts
    ]


def fits_together(model: GpuModel, instances: Iterable[Placement]) -> bool:
    """Whether one GPU of `model` can hold all of `instances` at the same time.

    An instance whose profile is not one of `model`'s, or whose start is not a listed start,
    never fits. The empty set always fits.
    """
    chosen = list(instances)
    if not chosen:
        return True
    mig = model.mig
    if mig is None:
        return False
    own = {profile.name: profile for profile in mig.profiles}
    if any(own.get(p.profile.name) != p.profile for p in chosen):
        return False
    if any(p.start not in p.profile.placement_starts for p in chosen):
        return False
    if len(chosen) > mig.max_instances:
        return False
    per_profile = Counter(p.profile.name for p in chosen)
    if any(count > own[name].max_instances for name, count in per_profile.items()):
        return False
    if sum(1 for p in chosen if p.profile.is_media_extension) > 1:
        return False
    if sum(p.profile.compute_slices for p in chosen) > mig.compute_slices:
        return False
    used: set[int] = set()
    for placement in chosen:
        window = set(placement.memory_slices)
        if used & window:
            return False
        used |= window
    return True


def pack(
    model: GpuModel, profiles: Iterable[MigProfile], *, keep: Iterable[Placement] = ()
) -> list[Placement] | None:
    """Placements for all of `profiles` on one GPU of `model` beside the instances in `keep`,
    or None when the hardware cannot hold them together.

    Larger windows are placed first, each at its lowest legal start, backtracking over starts
    until every instance fits; identical instances are placed in increasing start order (any
    packing can be so ordered), so the search is exhaustive and None means no packing exists.
    The result lists the new placements (not `keep`) in the order they were placed.

    >>> from dralloc.devices import load_catalog
    >>> h100 = load_catalog().gpu("h100-80gb-sxm")
    >>> [str(p) for p in pack(h100, [h100.mig_profile(n) for n in ("3g.40gb", "4g.40gb")])]
    ['4g.40gb@0', '3g.40gb@4']
    >>> pack(h100, [h100.mig_profile("4g.40gb")] * 2) is None
    True
    """
    kept = list(keep)
    if not fits_together(model, kept):
        return None
    wanted = sorted(
        profiles, key=lambda p: (-p.memory_slices, -p.compute_slices, p.gi_profile_id, p.name)
    )
    chosen: list[Placement] = []

    def place(index: int) -> bool:
        if index == len(wanted):
            return True
        profile = wanted[index]
        # Identical instances are interchangeable: the next one starts after its twin.
        after = chosen[-1].start if index and wanted[index - 1] == profile else -1
        for start in profile.placement_starts:
            if start <= after:
                continue
            candidate = Placement(profile, start)
            if not fits_together(model, [*kept, *chosen, candidate]):
                continue
            chosen.append(candidate)
            if place(index + 1):
                return True
            chosen.pop()
        return False

    return list(chosen) if place(0) else None
