"""The packaged accelerator catalog loads, holds the models the spec names with the spec's
figures, and a broken catalog file is rejected with file, model and field named."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from dralloc.api.quantity import Quantity
from dralloc.devices import Catalog, load_catalog
from dralloc.errors import InputError, NotFoundError

GPU_NAMES = [
    "a100-40gb",
    "a100-80gb",
    "h100-80gb-sxm",
    "h100-80gb-pcie",
    "h200-141gb",
    "b200",
    "l4",
    "t4",
    "v100-16gb",
    "v100-32gb",
    "a10",
    "p100",
]
MIG_CAPABLE = ["a100-40gb", "a100-80gb", "h100-80gb-sxm", "h100-80gb-pcie", "h200-141gb", "b200"]
TPU_NAMES = ["tpu-v4", "tpu-v5e", "tpu-v5p", "tpu-v6e", "tpu-v7"]
CATALOG_DIR = Path(importlib.import_module("dralloc.devices").__file__ or "").parent / "data"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def test_the_packaged_catalog_loads_and_each_call_returns_an_equal_fresh_value() -> None:
    first, second = load_catalog(), load_catalog()
    assert first == second
    assert first is not second


def test_the_devices_package_lists_only_names_that_exist() -> None:
    module = importlib.import_module("dralloc.devices")
    assert module.__all__
    assert [n for n in module.__all__ if not hasattr(module, n)] == []


@pytest.mark.parametrize("name", GPU_NAMES)
def test_every_gpu_model_of_the_issue_is_in_the_catalog(catalog: Catalog, name: str) -> None:
    model = catalog.gpu(name)
    assert model.name == name
    assert model.brand == "Nvidia"
    assert model.memory > Quantity.parse("0")


@pytest.mark.parametrize("name", TPU_NAMES)
def test_every_tpu_generation_of_the_issue_is_in_the_catalog(catalog: Catalog, name: str) -> None:
    assert catalog.tpu(name).topologies


def test_exactly_the_mig_capable_gpus_have_eight_memory_and_seven_compute_slices(
    catalog: Catalog,
) -> None:
    with_mig = [g.name for g in catalog.gpus if g.mig is not None]
    assert with_mig == MIG_CAPABLE
    for name in MIG_CAPABLE:
        mig = catalog.gpu(name).mig
        assert mig is not None
        assert (mig.memory_slices, mig.compute_slices, mig.max_instances) == (8, 7, 7)
        assert len(mig.profiles) == 7


def test_h100_sxm_publishes_the_attributes_the_nvidia_driver_shows(catalog: Catalog) -> None:
    h100 = catalog.gpu("h100-80gb-sxm")
    assert h100.product_name == "NVIDIA H100 80GB HBM3"
    assert h100.architecture == "Hopper"
    assert h100.cuda_compute_capability == "9.0.0"
    assert h100.multiprocessors == 132
    assert h100.verified
    assert catalog.gpu_by_product_name("NVIDIA H100 80GB HBM3") is h100


def test_h100_3g_40gb_starts_at_slice_0_or_4_with_60_sms_and_four_memory_slices(
    catalog: Catalog,
) -> None:
    profile = catalog.gpu("h100-80gb-sxm").mig_profile("3g.40gb")
    assert profile.placement_starts == (0, 4)
    assert profile.multiprocessors == 60
    assert (profile.compute_slices, profile.memory_slices) == (3, 4)
    assert profile.gi_profile_id == 9
    assert profile.memory == Quantity.parse("40448Mi")
    assert (profile.copy_engines, profile.decoders, profile.jpeg_engines) == (3, 3, 3)


def test_h100_profiles_match_the_nvidia_smi_table(catalog: Catalog) -> None:
    mig = catalog.gpu("h100-80gb-sxm").mig
    assert mig is not None
    table = [
        (p.name, p.gi_profile_id, p.max_instances, p.multiprocessors, str(p.memory))
        for p in mig.profiles
    ]
    assert table == [
        ("1g.10gb", 19, 7, 16, "9984Mi"),
        ("1g.10gb+me", 20, 1, 16, "9984Mi"),
        ("1g.20gb", 15, 4, 26, "20096Mi"),
        ("2g.20gb", 14, 3, 32, "20096Mi"),
        ("3g.40gb", 9, 2, 60, "40448Mi"),
        ("4g.40gb", 5, 1, 64, "40448Mi"),
        ("7g.80gb", 0, 1, 132, "81152Mi"),
    ]
    me = catalog.gpu("h100-80gb-sxm").mig_profile("1g.10gb+me")
    assert me.is_media_extension
    assert me.ofa_engines == 1


def test_a100_40gb_1g_5gb_has_seven_starts_and_14_sms(catalog: Catalog) -> None:
    profile = catalog.gpu("a100-40gb").mig_profile("1g.5gb")
    assert profile.placement_starts == (0, 1, 2, 3, 4, 5, 6)
    assert profile.multiprocessors == 14


def test_b200_figures_the_spec_lacks_are_left_out_or_estimated_and_marked_unverified(
    catalog: Catalog,
) -> None:
    b200 = catalog.gpu("b200")
    assert b200.multiprocessors is None
    assert b200.mig is not None
    h100 = catalog.gpu("h100-80gb-sxm")
    assert h100.mig is not None
    by_slices = {p.memory_slices: p.memory for p in h100.mig.profiles}
    for profile in b200.mig.profiles:
        assert profile.multiprocessors is None
        # Memory is H100 SXM's for the same memory slices, scaled by 180/80 (an estimate).
        reference = by_slices[profile.memory_slices]
        assert profile.memory is not None and reference is not None
        assert profile.memory.as_integer() == reference.as_integer() * 180 // 80 >> 20 << 20
        assert not profile.verified
        assert profile.note
    assert "estimate" in b200.note
    assert b200.mig_profile("7g.180gb").copy_engines == 16


def test_every_unverified_entry_says_what_is_unverified(catalog: Catalog) -> None:
    for gpu in catalog.gpus:
        assert gpu.verified or gpu.note, gpu.name
        for profile in gpu.mig.profiles if gpu.mig else ():
            assert profile.verified or profile.note, (gpu.name, profile.name)
    for tpu in catalog.tpus:
        assert tpu.verified or tpu.note, tpu.name


def test_tpu_v6e_shapes_name_their_chips_and_hosts(catalog: Catalog) -> None:
    v6e = catalog.tpu("tpu-v6e")
    assert v6e.accelerator_type == "tpu-v6e-slice"
    assert v6e.tpu_gen == "v6e"
    assert v6e.chips_per_host == (1, 4, 8)
    assert [(t.shape, t.chips, t.hosts) for t in v6e.topologies][:4] == [
        ("1x1", 1, 1),
        ("2x2", 4, 1),
        ("2x4", 8, 1),
        ("4x4", 16, 2),
    ]


def test_tpu_v5p_largest_single_slice_is_6144_chips_on_1536_hosts(catalog: Catalog) -> None:
    v5p = catalog.tpu("tpu-v5p")
    largest = v5p.topology("16x16x24")
    assert (largest.chips, largest.hosts) == (6144, 1536)
    assert v5p.hbm_per_chip == Quantity.parse("95Gi")


def test_tpu_v7_has_no_driver_generation_yet(catalog: Catalog) -> None:
    v7 = catalog.tpu("tpu-v7")
    assert v7.tpu_gen is None
    assert v7.hbm_per_chip == Quantity.parse("192Gi")
    assert not v7.verified


def test_looking_up_an_unknown_model_lists_the_known_ones(catalog: Catalog) -> None:
    with pytest.raises(NotFoundError, match=r"unknown GPU 'h100'.*h100-80gb-sxm"):
        catalog.gpu("h100")
    with pytest.raises(NotFoundError, match="unknown TPU"):
        catalog.tpu("tpu-v3")
    with pytest.raises(NotFoundError, match="no MIG profile"):
        catalog.gpu("l4").mig_profile("1g.10gb")


# ------------------------------------------------------------------------ broken catalogs


def _broken_catalog(tmp_path: Path, old: str, new: str, file: str = "gpus.yaml") -> Path:
    for name in ("gpus.yaml", "tpus.yaml"):
        text = (CATALOG_DIR / name).read_text(encoding="utf-8")
        if name == file:
            assert old in text, "the test's anchor text is missing from the catalog"
            text = text.replace(old, new, 1)
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def _problems(directory: Path) -> list[str]:
    with pytest.raises(InputError) as caught:
        load_catalog(directory)
    return [str(p) for p in caught.value.problems]


def test_a_placement_window_past_the_last_memory_slice_names_file_model_and_field(
    tmp_path: Path,
) -> None:
    # The H100's 3g.40gb block is the first "placementStarts: [0, 4]" after its name.
    text = (CATALOG_DIR / "gpus.yaml").read_text(encoding="utf-8")
    h100_at = text.index("name: h100-80gb-sxm")
    anchor_at = text.index("placementStarts: [0, 4]", h100_at)
    broken = text[:anchor_at] + "placementStarts: [0, 5]" + text[anchor_at + 23 :]
    (tmp_path / "gpus.yaml").write_text(broken, encoding="utf-8")
    (tmp_path / "tpus.yaml").write_text((CATALOG_DIR / "tpus.yaml").read_text(), "utf-8")
    assert _problems(tmp_path) == [
        f"{tmp_path}/gpus.yaml: GpuModel h100-80gb-sxm: mig.profiles[4].placementStarts[1]: "
        "window 5..8 does not fit the GPU's 8 memory slices (0..7)"
    ]


def test_an_unknown_field_names_file_model_and_field(tmp_path: Path) -> None:
    directory = _broken_catalog(
        tmp_path, "    productName: NVIDIA L4\n", "    productName: NVIDIA L4\n    tdp: 72W\n"
    )
    assert _problems(directory) == [f"{tmp_path}/gpus.yaml: GpuModel l4: tdp: unknown field"]


def test_a_missing_field_names_file_model_and_field(tmp_path: Path) -> None:
    directory = _broken_catalog(tmp_path, '    pciDeviceId: "0x006f"\n', "", file="tpus.yaml")
    assert _problems(directory) == [
        f"{tmp_path}/tpus.yaml: TpuModel tpu-v6e: pciDeviceId: missing required field"
    ]


def test_a_bad_quantity_names_the_nested_field(tmp_path: Path) -> None:
    directory = _broken_catalog(tmp_path, "memory: 9984Mi", "memory: lots")
    (problem,) = _problems(directory)
    assert problem.startswith(
        f"{tmp_path}/gpus.yaml: GpuModel h100-80gb-sxm: mig.profiles[0].memory: "
    )


def test_a_shape_whose_chips_do_not_match_its_dimensions_is_rejected(tmp_path: Path) -> None:
    directory = _broken_catalog(
        tmp_path,
        "{shape: 4x4x8, chips: 128, hosts: 32}",
        "{shape: 4x4x8, chips: 64, hosts: 16}",
        file="tpus.yaml",
    )
    assert _problems(directory) == [
        f"{tmp_path}/tpus.yaml: TpuModel tpu-v4: topologies[3].chips: "
        "shape 4x4x8 has 128 chips, not 64"
    ]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    directory = _broken_catalog(
        tmp_path, "cudaComputeCapability: 8.9.0", "cudaComputeCapability: 8.9"
    )
    text = (directory / "gpus.yaml").read_text(encoding="utf-8")
    text = text.replace("cudaComputeCapability: 7.0.0", "cudaComputeCapability: v7.0", 1)
    (directory / "gpus.yaml").write_text(text, encoding="utf-8")
    gpus = (directory / "gpus.yaml").read_text(encoding="utf-8")
    gpus = gpus.replace("    productName: Tesla T4\n", "")
    (directory / "gpus.yaml").write_text(gpus, encoding="utf-8")
    assert _problems(directory) == [
        f"{tmp_path}/gpus.yaml: GpuModel l4: cudaComputeCapability: "
        "wrong type: expected str, got float",
        f"{tmp_path}/gpus.yaml: GpuModel t4: productName: missing required field",
        f"{tmp_path}/gpus.yaml: GpuModel v100-16gb: cudaComputeCapability: "
        "expected a semver such as 9.0.0",
    ]


def test_a_catalog_that_is_not_yaml_names_the_file(tmp_path: Path) -> None:
    directory = _broken_catalog(tmp_path, "gpus:\n", "gpus: [\n")
    (problem,) = _problems(directory)
    assert problem.startswith(f"{tmp_path}/gpus.yaml: not valid YAML")
