"""MIG requests and layouts as users write them: parsing into catalog profiles and
placements, and checking that a layout can exist on one GPU, with one message per problem.

Pure computation over catalog data, like all of `dralloc.devices.migplan`.

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

import re
from collections import Counter
from collections.abc import Iterable, Sequence

from dralloc.devices.catalog import GpuModel, MigGeometry, MigProfile
from dralloc.devices.mig import Placement
from dralloc.errors import InputError, Problem

__all__ = ["MAX_INSTANCES", "check_layout", "parse_layout", "parse_profiles"]

# A request larger than this is refused by `parse_profiles` (1000 instances is ~143 GPUs);
# the greedy start of `plan_gpus` is linear in it, the exact search is budgeted anyway.
MAX_INSTANCES = 1000

_COUNT_FIRST = re.compile(r"^(?P<count>\d+)\s*[x×]\s*(?P<term>\S.*)$")
_COUNT_LAST = re.compile(r"^(?P<term>.*\S)\s*\*\s*(?P<count>\d+)$")
_BALANCED = "all-balanced"
_ALL = "all-"


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
