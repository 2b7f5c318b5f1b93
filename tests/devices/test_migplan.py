"""MIG layout planning: how many GPUs a request needs, and the fewest instances to destroy
to reach a target layout. Worked examples from the spec (devices.md 3.1, 3.2), then
properties checked against brute force built only on `mig.fits_together`."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dralloc.devices import GpuModel, MigProfile, Placement, fits_together, load_catalog, placements
from dralloc.devices.mig import pack
from dralloc.devices.migplan import (
    MAX_INSTANCES,
    check_layout,
    parse_layout,
    parse_profiles,
    plan_gpus,
    plan_reconfiguration,
)
from dralloc.errors import InputError

CATALOG = load_catalog()
H100 = CATALOG.gpu("h100-80gb-sxm")
A100_40 = CATALOG.gpu("a100-40gb")
MODELS = {m.name: m for m in (H100, A100_40)}
PROPERTY = settings(max_examples=60, deadline=None)


def profiles(model: GpuModel, spec: str) -> list[MigProfile]:
    return parse_profiles(model, spec)


def names(layout: Sequence[Placement]) -> list[str]:
    return [str(p) for p in layout]


def problems(err: pytest.ExceptionInfo[InputError]) -> list[str]:
    return [str(p) for p in err.value.problems]


# ---------------------------------------------------------------- brute force (independent)


@functools.cache
def fitting_layouts(model_name: str) -> tuple[tuple[Placement, ...], ...]:
    """Every set of placements one GPU holds at once, found with `fits_together` alone."""
    model = MODELS[model_name]
    every = placements(model)
    out: list[tuple[Placement, ...]] = []

    def grow(start: int, chosen: tuple[Placement, ...]) -> None:
        out.append(chosen)
        for i in range(start, len(every)):
            bigger = (*chosen, every[i])
            if fits_together(model, bigger):
                grow(i + 1, bigger)

    grow(0, ())
    return tuple(out)


@functools.cache
def feasible_multisets(model_name: str) -> frozenset[tuple[str, ...]]:
    return frozenset(
        tuple(sorted(p.profile.name for p in layout)) for layout in fitting_layouts(model_name)
    )


def brute_force_gpus(model: GpuModel, wanted: Sequence[MigProfile]) -> int:
    """Fewest GPUs, by dynamic programming over subsets of the instances."""
    feasible = feasible_multisets(model.name)
    n = len(wanted)
    fits = [
        tuple(sorted(wanted[i].name for i in range(n) if mask >> i & 1)) in feasible
        for mask in range(1 << n)
    ]
    best = [0] + [n + 1] * ((1 << n) - 1)
    for mask in range(1, 1 << n):
        lowest = mask & -mask
        sub = mask
        while sub:
            if sub & lowest and fits[sub]:
                best[mask] = min(best[mask], best[mask ^ sub] + 1)
            sub = (sub - 1) & mask
    return best[-1]


def brute_force_keep(
    model: GpuModel, current: Sequence[Placement], target: Sequence[MigProfile]
) -> list[tuple[int, int]] | None:
    """(instances kept, memory slices destroyed) of every layout holding exactly `target`."""
    want = Counter(p.name for p in target)
    options = [
        (len(kept), sum(p.profile.memory_slices for p in current if p not in kept))
        for layout in fitting_layouts(model.name)
        if Counter(p.profile.name for p in layout) == want
        for kept in [set(layout) & set(current)]
    ]
    return options or None


# ----------------------------------------------------------------------- strategies


def model_names() -> st.SearchStrategy[str]:
    return st.sampled_from(sorted(MODELS))


@st.composite
def requests(draw: st.DrawFn, max_size: int) -> tuple[GpuModel, list[MigProfile]]:
    model = MODELS[draw(model_names())]
    assert model.mig is not None
    chosen = draw(st.lists(st.sampled_from(model.mig.profiles), max_size=max_size))
    return model, chosen


@st.composite
def reconfigurations(
    draw: st.DrawFn,
) -> tuple[GpuModel, tuple[Placement, ...], list[MigProfile]]:
    """A valid current layout and a target: often another valid layout's profiles (so it
    is reachable), sometimes any list (which may not fit)."""
    name = draw(model_names())
    model = MODELS[name]
    assert model.mig is not None
    current = draw(st.sampled_from(fitting_layouts(name)))
    if draw(st.booleans()):
        other = draw(st.sampled_from(fitting_layouts(name)))
        target = [p.profile for p in other]
    else:
        target = draw(st.lists(st.sampled_from(model.mig.profiles), max_size=7))
    return model, current, draw(st.permutations(target))


# ------------------------------------------------------------------------- parsing


def test_profiles_parse_counts_in_both_spellings_and_keep_the_order_written() -> None:
    got = profiles(H100, "3g.40gb, 2x1g.10gb,1g.10gb+me,1g.20gb*2")
    assert [p.name for p in got] == [
        "3g.40gb",
        "1g.10gb",
        "1g.10gb",
        "1g.10gb+me",
        "1g.20gb",
        "1g.20gb",
    ]


def test_profiles_from_a_repeated_option_are_joined() -> None:
    got = parse_profiles(H100, ["4g.40gb", "3G.40GB"])
    assert [p.name for p in got] == ["4g.40gb", "3g.40gb"]


def test_all_profile_asks_for_as_many_instances_as_one_gpu_holds() -> None:
    assert [p.name for p in profiles(H100, "all-1g.10gb")] == ["1g.10gb"] * 7
    assert [p.name for p in profiles(H100, "all-3g.40gb")] == ["3g.40gb"] * 2
    assert [p.name for p in profiles(H100, "all-1g.10gb.me")] == ["1g.10gb+me"]
    assert [p.name for p in profiles(A100_40, "all-1g.10gb")] == ["1g.10gb"] * 4


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("h100-80gb-sxm", ["1g.10gb", "1g.10gb", "2g.20gb", "3g.40gb"]),
        ("a100-40gb", ["1g.5gb", "1g.5gb", "2g.10gb", "3g.20gb"]),
        ("h200-141gb", ["1g.18gb", "1g.18gb", "2g.35gb", "3g.71gb"]),
        ("b200", ["1g.23gb", "1g.23gb", "2g.45gb", "3g.90gb"]),
    ],
)
def test_all_balanced_is_mig_parteds_default_layout(model: str, expected: list[str]) -> None:
    gpu = CATALOG.gpu(model)
    got = profiles(gpu, "all-balanced")
    assert sorted(p.name for p in got) == sorted(expected)
    assert plan_gpus(gpu, got).fits_one_gpu


def test_a_count_may_multiply_a_named_layout() -> None:
    assert len(profiles(H100, "2xall-balanced")) == 8


def test_an_unknown_profile_is_named_with_the_models_profiles() -> None:
    with pytest.raises(InputError) as err:
        parse_profiles(H100, "5g.50gb", field="--profiles")
    assert problems(err) == [
        "--profiles: unknown MIG profile '5g.50gb' for h100-80gb-sxm (known: 1g.10gb, "
        "1g.10gb+me, 1g.20gb, 2g.20gb, 3g.40gb, 4g.40gb, 7g.80gb; or all-<profile>, "
        "all-balanced)"
    ]


def test_every_bad_term_is_reported_at_once() -> None:
    with pytest.raises(InputError) as err:
        parse_profiles(H100, "0x1g.10gb,,1g.10gb*x,all-9g.1gb", field="p")
    assert problems(err) == [
        "p: '0x1g.10gb': the count must be at least 1",
        "p: '1g.10gb*x': a count must be a whole number such as 2x1g.10gb",
        "p: 'all-9g.1gb': unknown MIG profile '9g.1gb' for h100-80gb-sxm (known: 1g.10gb, "
        "1g.10gb+me, 1g.20gb, 2g.20gb, 3g.40gb, 4g.40gb, 7g.80gb; or all-<profile>, "
        "all-balanced)",
        "p: empty term in '0x1g.10gb,,1g.10gb*x,all-9g.1gb'",
    ]


def test_no_profiles_too_many_profiles_and_a_gpu_without_mig_are_refused() -> None:
    with pytest.raises(InputError, match="no profiles given"):
        parse_profiles(H100, " ")
    with pytest.raises(InputError, match=f"more than {MAX_INSTANCES} instances"):
        parse_profiles(H100, f"{MAX_INSTANCES + 1}x1g.10gb")
    with pytest.raises(InputError, match="GPU model l4 has no MIG"):
        parse_profiles(CATALOG.gpu("l4"), "1g.10gb")


def test_a_layout_parses_placements_and_the_empty_string_is_an_empty_gpu() -> None:
    assert names(parse_layout(H100, "1g.10gb@0, 3g.40gb@4")) == ["1g.10gb@0", "3g.40gb@4"]
    assert parse_layout(H100, "") == []


def test_a_bad_layout_term_says_what_was_expected() -> None:
    with pytest.raises(InputError) as err:
        parse_layout(H100, "1g.10gb@7,foo,2g.20gb@x,5g.1gb@0", field="--current")
    assert problems(err)[:3] == [
        "--current: '1g.10gb@7': 1g.10gb cannot start at memory slice 7 "
        "(legal starts: 0, 1, 2, 3, 4, 5, 6)",
        "--current: '2g.20gb@x': the start must be a memory-slice index such as 4",
        "--current: 'foo': expected PROFILE@START such as 3g.40gb@4",
    ]
    assert problems(err)[3].startswith("--current: unknown MIG profile '5g.1gb'")


def test_a_layout_the_hardware_cannot_hold_says_which_rule_it_breaks() -> None:
    with pytest.raises(InputError) as err:
        parse_layout(H100, "4g.40gb@0,1g.10gb@2")
    assert problems(err) == ["layout: 4g.40gb@0 and 1g.10gb@2 both use memory slice 2"]
    with pytest.raises(InputError) as err:
        parse_layout(H100, "1g.10gb+me@0,1g.10gb+me@1")
    assert problems(err) == [
        "layout: 2 instances of 1g.10gb+me; a GPU holds at most 1",
        "layout: 2 media-extension (+me) instances; a GPU holds at most 1",
    ]


@PROPERTY
@given(
    model_name=model_names(),
    picks=st.lists(st.integers(min_value=0, max_value=24), max_size=8),
)
def test_check_layout_is_silent_exactly_when_the_layout_fits(
    model_name: str, picks: list[int]
) -> None:
    model = MODELS[model_name]
    every = placements(model)
    layout = [every[i % len(every)] for i in picks]
    assert (check_layout(model, layout) == []) == fits_together(model, layout)


@PROPERTY
@given(model_name=model_names(), data=st.data())
def test_a_valid_layout_round_trips_through_its_text(model_name: str, data: st.DataObject) -> None:
    layout = data.draw(st.sampled_from(fitting_layouts(model_name)))
    text = ",".join(str(p) for p in layout)
    assert parse_layout(MODELS[model_name], text) == list(layout)


# ------------------------------------------------------------------------ plan_gpus


def test_seven_1g_10gb_fit_on_one_h100() -> None:
    plan = plan_gpus(H100, profiles(H100, "7x1g.10gb"))
    assert plan.fits_one_gpu
    assert names(plan.gpus[0]) == [f"1g.10gb@{s}" for s in range(7)]


def test_4g_and_3g_fit_together_at_0_and_4() -> None:
    plan = plan_gpus(H100, profiles(H100, "4g.40gb,3g.40gb"))
    assert (plan.gpu_count, plan.lower_bound, plan.is_minimal) == (1, 1, True)
    assert names(plan.gpus[0]) == ["4g.40gb@0", "3g.40gb@4"]


def test_two_3g_fit_and_strand_a_compute_slice() -> None:
    plan = plan_gpus(H100, profiles(H100, "2x3g.40gb"))
    assert names(plan.gpus[0]) == ["3g.40gb@0", "3g.40gb@4"]


def test_two_4g_need_two_gpus() -> None:
    plan = plan_gpus(H100, profiles(H100, "2x4g.40gb"))
    assert not plan.fits_one_gpu
    assert [names(g) for g in plan.gpus] == [["4g.40gb@0"], ["4g.40gb@0"]]


def test_eight_1g_10gb_need_two_gpus_because_slice_7_is_out_of_their_reach() -> None:
    plan = plan_gpus(H100, profiles(H100, "8x1g.10gb"))
    assert (plan.gpu_count, plan.is_minimal) == (2, True)


def test_only_one_media_extension_instance_per_gpu() -> None:
    assert plan_gpus(H100, profiles(H100, "2x1g.10gb+me")).gpu_count == 2


def test_7g_shares_its_gpu_with_nothing() -> None:
    plan = plan_gpus(H100, profiles(H100, "7g.80gb,1g.10gb"))
    assert sorted(names(g)[0] for g in plan.gpus) == ["1g.10gb@0", "7g.80gb@0"]


def test_nothing_wanted_needs_no_gpu() -> None:
    plan = plan_gpus(H100, [])
    assert (plan.gpu_count, plan.fits_one_gpu, plan.is_minimal) == (0, True, True)


def test_a_profile_of_another_model_is_a_caller_bug() -> None:
    with pytest.raises(ValueError, match="not a MIG profile of a100-40gb"):
        plan_gpus(A100_40, profiles(H100, "1g.20gb"))


def test_a_large_mixed_request_is_planned_exactly() -> None:
    wanted = profiles(H100, "13x1g.10gb+me,12x4g.40gb,10x3g.40gb,7x1g.20gb,5x2g.20gb,2x7g.80gb")
    plan = plan_gpus(H100, wanted)
    assert (plan.gpu_count, plan.lower_bound, plan.is_minimal) == (20, 20, True)
    assert all(fits_together(H100, gpu) for gpu in plan.gpus)


def test_without_search_budget_the_plan_is_still_valid_and_says_it_may_not_be_minimal() -> None:
    # The quick starting plans use 4 GPUs here; the optimum (and the lower bound) is 3.
    wanted = profiles(H100, "2x1g.10gb+me,2x1g.20gb,5x2g.20gb,3g.40gb")
    exact = plan_gpus(H100, wanted)
    capped = plan_gpus(H100, wanted, max_nodes=0)
    assert (exact.gpu_count, exact.is_minimal) == (3, True)
    assert brute_force_gpus(H100, wanted) == 3
    assert (capped.gpu_count, capped.lower_bound, capped.is_minimal) == (4, 3, False)
    assert all(fits_together(H100, gpu) for gpu in capped.gpus)
    placed = Counter(p.profile.name for gpu in capped.gpus for p in gpu)
    assert placed == Counter(p.name for p in wanted)


@settings(max_examples=80, deadline=None)
@given(requests(max_size=40))
def test_every_gpu_of_a_plan_is_valid_and_holds_exactly_the_request(
    request: tuple[GpuModel, list[MigProfile]],
) -> None:
    model, wanted = request
    plan = plan_gpus(model, wanted)
    assert all(gpu and fits_together(model, gpu) for gpu in plan.gpus)
    placed = Counter(p.profile.name for gpu in plan.gpus for p in gpu)
    assert placed == Counter(p.name for p in wanted)
    assert plan.is_minimal
    assert plan.lower_bound == plan.gpu_count


@settings(max_examples=150, deadline=None)
@given(requests(max_size=9))
def test_the_gpu_count_is_minimal(request: tuple[GpuModel, list[MigProfile]]) -> None:
    model, wanted = request
    assert plan_gpus(model, wanted).gpu_count == brute_force_gpus(model, wanted)


@PROPERTY
@given(requests(max_size=8))
def test_fitting_one_gpu_agrees_with_mig_pack(request: tuple[GpuModel, list[MigProfile]]) -> None:
    model, wanted = request
    assert plan_gpus(model, wanted).fits_one_gpu == (pack(model, wanted) is not None)


# ---------------------------------------------------------------- plan_reconfiguration


def reconfigure(current: str, target: str) -> tuple[list[str], list[str], list[str]]:
    step = plan_reconfiguration(H100, parse_layout(H100, current), profiles(H100, target))
    assert step is not None
    return names(step.keep), names(step.destroy), names(step.create)


def test_seven_1g_become_4g_and_3g_by_destroying_all_seven() -> None:
    current = ",".join(f"1g.10gb@{s}" for s in range(7))
    keep, destroy, create = reconfigure(current, "4g.40gb,3g.40gb")
    assert (keep, len(destroy), create) == ([], 7, ["4g.40gb@0", "3g.40gb@4"])


def test_reconfiguration_keeps_what_it_can() -> None:
    # 3g must sit at 0 or 4: at 4 only the 1g at slice 5 is in the way.
    keep, destroy, create = reconfigure("1g.10gb@0,1g.10gb@1,1g.10gb@5", "3g.40gb,2x1g.10gb")
    assert (keep, destroy, create) == (["1g.10gb@0", "1g.10gb@1"], ["1g.10gb@5"], ["3g.40gb@4"])


def test_an_instance_the_target_does_not_ask_for_is_destroyed() -> None:
    keep, destroy, create = reconfigure("3g.40gb@0,1g.10gb@4,1g.10gb@5", "3g.40gb,2g.20gb")
    assert (keep, destroy, create) == (["3g.40gb@0"], ["1g.10gb@4", "1g.10gb@5"], ["2g.20gb@4"])


def test_between_equal_plans_the_instance_at_the_lower_start_is_kept() -> None:
    keep, destroy, create = reconfigure("1g.10gb@0,1g.10gb@4", "1g.10gb,3g.40gb")
    assert (keep, destroy, create) == (["1g.10gb@0"], ["1g.10gb@4"], ["3g.40gb@4"])


def test_the_current_layout_reached_already_needs_nothing() -> None:
    step = plan_reconfiguration(H100, parse_layout(H100, "4g.40gb@0"), profiles(H100, "4g.40gb"))
    assert step is not None
    assert step.is_noop
    assert names(step.layout) == ["4g.40gb@0"]


def test_an_empty_gpu_creates_everything() -> None:
    keep, destroy, create = reconfigure("", "all-balanced")
    assert (keep, destroy) == ([], [])
    assert create == ["2g.20gb@0", "1g.10gb@2", "1g.10gb@3", "3g.40gb@4"]


def test_a_target_that_does_not_fit_on_one_gpu_has_no_reconfiguration() -> None:
    assert plan_reconfiguration(H100, [], profiles(H100, "2x4g.40gb")) is None


def test_an_invalid_current_layout_is_refused() -> None:
    overlapping = [Placement(H100.mig_profile("4g.40gb"), 0)] * 2
    with pytest.raises(ValueError, match="current layout is not valid on h100-80gb-sxm"):
        plan_reconfiguration(H100, overlapping, profiles(H100, "4g.40gb"))


@settings(max_examples=120, deadline=None)
@given(reconfigurations())
def test_reconfiguration_reaches_exactly_the_target_destroying_the_fewest(
    case: tuple[GpuModel, tuple[Placement, ...], list[MigProfile]],
) -> None:
    model, current, target = case
    step = plan_reconfiguration(model, current, target)
    options = brute_force_keep(model, current, target)
    if step is None:
        assert options is None
        return
    assert options is not None
    assert fits_together(model, step.layout)
    assert Counter(p.profile.name for p in step.layout) == Counter(p.name for p in target)
    assert set(step.keep) | set(step.destroy) == set(current)
    assert not set(step.keep) & set(step.destroy)
    assert len(step.keep) + len(step.create) == len(target)
    most_kept = max(kept for kept, _ in options)
    assert len(step.keep) == most_kept
    least_destroyed = min(memory for kept, memory in options if kept == most_kept)
    assert sum(p.profile.memory_slices for p in step.destroy) == least_destroyed
