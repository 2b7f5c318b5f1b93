"""MIG placement geometry: the hardware's packing rules, checked on the catalog's GPUs."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dralloc.devices import Catalog, GpuModel, Placement, fits_together, load_catalog, placements

CATALOG = load_catalog()
H100 = CATALOG.gpu("h100-80gb-sxm")
MIG_MODELS = [g for g in CATALOG.gpus if g.mig is not None]


def at(model: GpuModel, profile: str, start: int) -> Placement:
    return Placement(model.mig_profile(profile), start)


def test_h100_announces_every_profile_at_every_legal_start() -> None:
    counts = Counter(p.profile.name for p in placements(H100))
    assert counts == {
        "1g.10gb": 7,
        "1g.10gb+me": 7,
        "1g.20gb": 4,
        "2g.20gb": 3,
        "3g.40gb": 2,
        "4g.40gb": 1,
        "7g.80gb": 1,
    }
    assert len(placements(H100)) == 25


def test_a_placement_covers_its_window_of_memory_slices() -> None:
    assert at(H100, "3g.40gb", 4).memory_slices == range(4, 8)
    assert at(H100, "1g.20gb", 6).memory_slices == range(6, 8)
    assert str(at(H100, "2g.20gb", 2)) == "2g.20gb@2"


def test_a_gpu_without_mig_has_no_placements_and_fits_only_nothing() -> None:
    l4 = CATALOG.gpu("l4")
    assert placements(l4) == []
    assert fits_together(l4, [])
    assert not fits_together(l4, [at(H100, "1g.10gb", 0)])


def test_seven_1g_10gb_instances_fit_on_an_h100() -> None:
    seven = [at(H100, "1g.10gb", start) for start in range(7)]
    assert fits_together(H100, seven)


def test_4g_at_0_and_3g_at_4_fit_together() -> None:
    assert fits_together(H100, [at(H100, "4g.40gb", 0), at(H100, "3g.40gb", 4)])


def test_two_3g_instances_fit_and_strand_one_compute_slice() -> None:
    both = [at(H100, "3g.40gb", 0), at(H100, "3g.40gb", 4)]
    assert fits_together(H100, both)
    assert sum(p.profile.compute_slices for p in both) == 6


def test_two_4g_instances_never_fit() -> None:
    assert not fits_together(H100, [at(H100, "4g.40gb", 0), at(H100, "4g.40gb", 0)])


def test_a_1g_at_slot_1_blocks_2g_at_0_but_not_2g_at_2() -> None:
    assert not fits_together(H100, [at(H100, "1g.10gb", 1), at(H100, "2g.20gb", 0)])
    assert fits_together(H100, [at(H100, "1g.10gb", 1), at(H100, "2g.20gb", 2)])


def test_a_1g_instance_blocks_the_full_width_7g_instance() -> None:
    assert not fits_together(H100, [at(H100, "1g.10gb", 6), at(H100, "7g.80gb", 0)])


def test_memory_slice_7_is_out_of_reach_of_1g_10gb() -> None:
    assert not fits_together(H100, [at(H100, "1g.10gb", 7)])


def test_compute_slices_run_out_before_memory_slices_do() -> None:
    # 4g (4 compute) + 1g.20gb@4 and @6 (1 each) + a 2g would need 8 compute slices.
    four_g = at(H100, "4g.40gb", 0)
    assert fits_together(H100, [four_g, at(H100, "1g.20gb", 4), at(H100, "1g.20gb", 6)])
    assert not fits_together(H100, [four_g, at(H100, "2g.20gb", 4), at(H100, "3g.40gb", 4)])


def test_only_one_media_extension_instance_fits() -> None:
    one = [at(H100, "1g.10gb+me", 0), at(H100, "1g.10gb", 1)]
    assert fits_together(H100, one)
    assert not fits_together(H100, [at(H100, "1g.10gb+me", 0), at(H100, "1g.10gb+me", 1)])


def test_a_profile_beyond_its_max_instances_does_not_fit() -> None:
    five = [at(H100, "1g.20gb", s) for s in (0, 2, 4, 6)] + [at(H100, "1g.20gb", 0)]
    assert not fits_together(H100, five)


def test_a_start_the_profile_does_not_list_never_fits() -> None:
    assert not fits_together(H100, [at(H100, "3g.40gb", 2)])


def test_a_profile_of_another_model_never_fits() -> None:
    a100 = CATALOG.gpu("a100-40gb")
    assert not fits_together(H100, [at(a100, "1g.5gb", 0)])


@pytest.mark.parametrize("model", MIG_MODELS, ids=lambda m: m.name)
def test_every_single_placement_of_every_mig_gpu_fits_on_its_own(model: GpuModel) -> None:
    for placement in placements(model):
        assert fits_together(model, [placement]), str(placement)


def _placement_sets(catalog: Catalog) -> st.SearchStrategy[tuple[GpuModel, list[Placement]]]:
    models = [g for g in catalog.gpus if g.mig is not None]
    return st.sampled_from(models).flatmap(
        lambda model: st.tuples(
            st.just(model), st.lists(st.sampled_from(placements(model)), max_size=10)
        )
    )


@given(_placement_sets(CATALOG))
def test_fits_together_never_accepts_overlapping_memory_slices_or_more_than_seven(
    case: tuple[GpuModel, list[Placement]],
) -> None:
    model, chosen = case
    if not fits_together(model, chosen):
        return
    assert len(chosen) <= 7
    slices = [s for p in chosen for s in p.memory_slices]
    assert len(slices) == len(set(slices))
    assert sum(p.profile.compute_slices for p in chosen) <= 7
    assert sum(p.profile.is_media_extension for p in chosen) <= 1


@given(_placement_sets(CATALOG))
def test_removing_an_instance_from_a_fitting_set_still_fits(
    case: tuple[GpuModel, list[Placement]],
) -> None:
    model, chosen = case
    if fits_together(model, chosen) and chosen:
        assert fits_together(model, chosen[1:])
