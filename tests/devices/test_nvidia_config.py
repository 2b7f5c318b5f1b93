"""NVIDIA's opaque configuration (`resource.nvidia.com/v1beta1`) checked as the driver checks
it, and the sharing the driver would set up from an allocation's config (spec/devices.md 2.5
and the module docstring of `dralloc.devices.nvidia_config`).

Rules under test: GpuConfig / MigDeviceConfig take `sharing.strategy` TimeSlicing or MPS;
`timeSlicingConfig.interval` (GPUs only) is Default, Short, Medium or Long; MPS takes a thread
percentage from 0 to 100 and pinned-memory limits of at least 1Mi, per device keyed by GPU
index or UUID; a settings block for the other strategy is an error; VfioDeviceConfig and the
ComputeDomain kinds pass through; unknown fields, kinds and versions are errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dralloc.api.meta import ObjectMeta
from dralloc.api.quantity import Quantity
from dralloc.api.resource import (
    DeviceAllocationConfiguration,
    DeviceClaim,
    DeviceClaimConfiguration,
    DeviceClass,
    DeviceClassConfiguration,
    DeviceClassSpec,
    OpaqueDeviceConfiguration,
    ResourceClaim,
    ResourceClaimSpec,
    ResourceClaimTemplate,
    ResourceClaimTemplateSpec,
)
from dralloc.cli.main import app
from dralloc.devices import sharing_device_classes
from dralloc.devices.nvidia_config import (
    SharingSettings,
    config_mismatches,
    config_problems,
    effective_sharing,
    object_config_problems,
)

API = "resource.nvidia.com/v1beta1"
GPU_UUID = "GPU-4cf8db2d-06c0-7d70-1a51-e59b25b2c16c"
MIG_UUID = "MIG-1b2b4f13-0b4a-5e8c-9a1f-0c4cbb8c8a3e"


def _gpu(sharing: Any = None, kind: str = "GpuConfig", **extra: Any) -> dict[str, Any]:
    parameters: dict[str, Any] = {"apiVersion": API, "kind": kind, **extra}
    if sharing is not None:
        parameters["sharing"] = sharing
    return parameters


def _mps(**config: Any) -> dict[str, Any]:
    return {"strategy": "MPS", "mpsConfig": config}


# ------------------------------------------------------------------------- valid configs


VALID = {
    "gpu-without-sharing": _gpu(),
    "mig-without-sharing": _gpu(kind="MigDeviceConfig"),
    "time-slicing-no-settings": _gpu({"strategy": "TimeSlicing"}),
    **{
        f"interval-{interval}": _gpu(
            {"strategy": "TimeSlicing", "timeSlicingConfig": {"interval": interval}}
        )
        for interval in ("Default", "Short", "Medium", "Long")
    },
    "time-slicing-empty-settings": _gpu({"strategy": "TimeSlicing", "timeSlicingConfig": {}}),
    "mps-no-settings": _gpu({"strategy": "MPS"}),
    "mps-percentage-0": _gpu(_mps(defaultActiveThreadPercentage=0)),
    "mps-percentage-100": _gpu(_mps(defaultActiveThreadPercentage=100)),
    "mps-everything": _gpu(
        _mps(
            defaultActiveThreadPercentage=25,
            defaultPinnedDeviceMemoryLimit="16Gi",
            defaultPerDevicePinnedMemoryLimit={"0": "1Mi", GPU_UUID: "8Gi", MIG_UUID: "2Gi"},
        )
    ),
    "mps-limit-exactly-1Mi": _gpu(_mps(defaultPinnedDeviceMemoryLimit="1Mi")),
    "mps-limit-in-bytes": _gpu(_mps(defaultPinnedDeviceMemoryLimit="1048576")),
    "mig-time-slicing": _gpu({"strategy": "TimeSlicing"}, kind="MigDeviceConfig"),
    "mig-mps": _gpu(_mps(defaultActiveThreadPercentage=50), kind="MigDeviceConfig"),
    "vfio-passthrough": {
        "apiVersion": API,
        "kind": "VfioDeviceConfig",
        "iommu": {"backendPolicy": "iommufd", "enableAPIDevice": True},
    },
    "compute-domain-channel": {
        "apiVersion": API,
        "kind": "ComputeDomainChannelConfig",
        "domainID": "d-1",
        "anything": {"goes": 1},
    },
    "compute-domain-daemon": {
        "apiVersion": API,
        "kind": "ComputeDomainDaemonConfig",
        "domainID": "d-1",
    },
}


@pytest.mark.parametrize("parameters", list(VALID.values()), ids=list(VALID))
def test_configs_the_driver_accepts_have_no_problems(parameters: dict[str, Any]) -> None:
    assert config_problems(parameters) == []


def test_the_sharing_classes_carry_configs_the_driver_accepts() -> None:
    for device_class in sharing_device_classes():
        assert object_config_problems(device_class) == [], device_class.metadata.name


# ----------------------------------------------------------------------- invalid configs

# id -> (parameters, {field path: a fragment of its message})
INVALID: dict[str, tuple[Any, dict[str, str]]] = {
    "not-an-object": (["GpuConfig"], {"": "must be an object"}),
    "unknown-strategy": (_gpu({"strategy": "Exclusive"}), {"sharing.strategy": "'Exclusive'"}),
    "no-strategy": (_gpu({}), {"sharing.strategy": "unknown sharing strategy"}),
    "lower-case-strategy": (_gpu({"strategy": "mps"}), {"sharing.strategy": "'mps'"}),
    "sharing-not-an-object": (_gpu("MPS"), {"sharing": "must be an object"}),
    "unknown-interval": (
        _gpu({"strategy": "TimeSlicing", "timeSlicingConfig": {"interval": "VeryLong"}}),
        {"sharing.timeSlicingConfig.interval": "'VeryLong'"},
    ),
    "interval-as-number": (
        _gpu({"strategy": "TimeSlicing", "timeSlicingConfig": {"interval": 2}}),
        {"sharing.timeSlicingConfig.interval": "unknown time-slice interval"},
    ),
    "time-slicing-settings-not-an-object": (
        _gpu({"strategy": "TimeSlicing", "timeSlicingConfig": "Long"}),
        {"sharing.timeSlicingConfig": "must be an object"},
    ),
    "mps-settings-with-time-slicing": (
        _gpu({"strategy": "TimeSlicing", "mpsConfig": {"defaultActiveThreadPercentage": 5}}),
        {"sharing.mpsConfig": "only valid with strategy MPS"},
    ),
    "time-slicing-settings-with-mps": (
        _gpu({"strategy": "MPS", "timeSlicingConfig": {"interval": "Long"}}),
        {"sharing.timeSlicingConfig": "only valid with strategy TimeSlicing"},
    ),
    "percentage-above-100": (
        _gpu(_mps(defaultActiveThreadPercentage=101)),
        {"sharing.mpsConfig.defaultActiveThreadPercentage": "from 0 to 100"},
    ),
    "percentage-negative": (
        _gpu(_mps(defaultActiveThreadPercentage=-1)),
        {"sharing.mpsConfig.defaultActiveThreadPercentage": "from 0 to 100"},
    ),
    "percentage-bool": (
        _gpu(_mps(defaultActiveThreadPercentage=True)),
        {"sharing.mpsConfig.defaultActiveThreadPercentage": "integer"},
    ),
    "percentage-string": (
        _gpu(_mps(defaultActiveThreadPercentage="50")),
        {"sharing.mpsConfig.defaultActiveThreadPercentage": "integer"},
    ),
    "percentage-float": (
        _gpu(_mps(defaultActiveThreadPercentage=12.5)),
        {"sharing.mpsConfig.defaultActiveThreadPercentage": "integer"},
    ),
    "pinned-limit-below-1Mi": (
        _gpu(_mps(defaultPinnedDeviceMemoryLimit="1023Ki")),
        {"sharing.mpsConfig.defaultPinnedDeviceMemoryLimit": "below the minimum of 1Mi"},
    ),
    "pinned-limit-zero": (
        _gpu(_mps(defaultPinnedDeviceMemoryLimit="0")),
        {"sharing.mpsConfig.defaultPinnedDeviceMemoryLimit": "below the minimum of 1Mi"},
    ),
    "pinned-limit-not-a-quantity": (
        _gpu(_mps(defaultPinnedDeviceMemoryLimit="lots")),
        {"sharing.mpsConfig.defaultPinnedDeviceMemoryLimit": "not a quantity"},
    ),
    "per-device-bad-key": (
        _gpu(_mps(defaultPerDevicePinnedMemoryLimit={"gpu0": "2Gi"})),
        {"sharing.mpsConfig.defaultPerDevicePinnedMemoryLimit[gpu0]": "GPU index or"},
    ),
    "per-device-uuid-without-prefix": (
        _gpu(_mps(defaultPerDevicePinnedMemoryLimit={GPU_UUID[4:]: "2Gi"})),
        {f"sharing.mpsConfig.defaultPerDevicePinnedMemoryLimit[{GPU_UUID[4:]}]": "GPU index"},
    ),
    "per-device-limit-below-1Mi": (
        _gpu(_mps(defaultPerDevicePinnedMemoryLimit={"1": "512Ki"})),
        {"sharing.mpsConfig.defaultPerDevicePinnedMemoryLimit[1]": "below the minimum of 1Mi"},
    ),
    "per-device-not-a-map": (
        _gpu(_mps(defaultPerDevicePinnedMemoryLimit=["2Gi"])),
        {"sharing.mpsConfig.defaultPerDevicePinnedMemoryLimit": "must be a map"},
    ),
    "mps-settings-not-an-object": (
        _gpu({"strategy": "MPS", "mpsConfig": 25}),
        {"sharing.mpsConfig": "must be an object"},
    ),
    "unknown-top-level-field": (_gpu(shareing={"strategy": "MPS"}), {"shareing": "unknown field"}),
    "unknown-sharing-field": (
        _gpu({"strategy": "MPS", "mode": "fast"}),
        {"sharing.mode": "unknown field"},
    ),
    "unknown-mps-field": (
        _gpu(_mps(maxClients=4)),
        {"sharing.mpsConfig.maxClients": "unknown field"},
    ),
    "unknown-time-slicing-field": (
        _gpu({"strategy": "TimeSlicing", "timeSlicingConfig": {"duration": "5ms"}}),
        {"sharing.timeSlicingConfig.duration": "unknown field"},
    ),
    "wrong-api-version": (
        {**_gpu({"strategy": "MPS"}), "apiVersion": "resource.nvidia.com/v1"},
        {"apiVersion": "resource.nvidia.com/v1beta1"},
    ),
    "missing-api-version": ({"kind": "GpuConfig"}, {"apiVersion": "None"}),
    "wrong-kind": (_gpu(kind="GPUConfig"), {"kind": "'GPUConfig'"}),
    "missing-kind": ({"apiVersion": API}, {"kind": "unknown kind"}),
    "passthrough-kind-wrong-version": (
        {"apiVersion": "resource.nvidia.com/v1", "kind": "VfioDeviceConfig"},
        {"apiVersion": "must be"},
    ),
}


@pytest.mark.parametrize(("parameters", "expected"), list(INVALID.values()), ids=list(INVALID))
def test_configs_the_driver_refuses_name_the_field(
    parameters: Any, expected: dict[str, str]
) -> None:
    problems = config_problems(parameters)
    assert {path for path, _ in problems} == set(expected)
    for path, fragment in expected.items():
        messages = [message for where, message in problems if where == path]
        assert any(fragment in message for message in messages), (path, messages)


def test_a_mig_device_config_takes_no_time_slice_interval() -> None:
    """The driver gives MIG devices no interval: `timeSlicingConfig` is no MigDeviceConfig
    field (spec/devices.md 2.5)."""
    parameters = _gpu(
        {"strategy": "TimeSlicing", "timeSlicingConfig": {"interval": "Long"}},
        kind="MigDeviceConfig",
    )
    problems = config_problems(parameters)
    assert problems
    assert {path for path, _ in problems} == {"sharing.timeSlicingConfig"}
    assert any("unknown field" in message for _, message in problems)


def test_every_problem_of_one_config_is_reported_at_once() -> None:
    parameters = {
        "apiVersion": "v1",
        "kind": "GpuConfig",
        "color": "green",
        "sharing": _mps(
            defaultActiveThreadPercentage=200,
            defaultPinnedDeviceMemoryLimit="1Ki",
            defaultPerDevicePinnedMemoryLimit={"x": "1Gi"},
        ),
    }
    paths = sorted(path for path, _ in config_problems(parameters))
    assert paths == [
        "apiVersion",
        "color",
        "sharing.mpsConfig.defaultActiveThreadPercentage",
        "sharing.mpsConfig.defaultPerDevicePinnedMemoryLimit[x]",
        "sharing.mpsConfig.defaultPinnedDeviceMemoryLimit",
    ]


# ------------------------------------------------------------------- object field paths


def _opaque(parameters: Any, driver: str = "gpu.nvidia.com") -> OpaqueDeviceConfiguration:
    return OpaqueDeviceConfiguration(driver=driver, parameters=parameters)


BAD = _gpu({"strategy": "Exclusive"})


def test_problems_in_a_claim_carry_the_full_field_path() -> None:
    claim = ResourceClaim(
        metadata=ObjectMeta(name="c", namespace="default"),
        spec=ResourceClaimSpec(
            devices=DeviceClaim(
                config=[
                    DeviceClaimConfiguration(opaque=_opaque(_gpu({"strategy": "MPS"}))),
                    DeviceClaimConfiguration(requests=["gpu"], opaque=_opaque(BAD)),
                ]
            )
        ),
    )
    assert [path for path, _ in object_config_problems(claim)] == [
        "spec.devices.config[1].opaque.parameters.sharing.strategy"
    ]


def test_problems_in_a_class_and_a_template_carry_their_own_paths() -> None:
    device_class = DeviceClass(
        metadata=ObjectMeta(name="k"),
        spec=DeviceClassSpec(config=[DeviceClassConfiguration(opaque=_opaque(BAD))]),
    )
    template = ResourceClaimTemplate(
        metadata=ObjectMeta(name="t", namespace="default"),
        spec=ResourceClaimTemplateSpec(
            spec=ResourceClaimSpec(
                devices=DeviceClaim(config=[DeviceClaimConfiguration(opaque=_opaque(BAD))])
            )
        ),
    )
    assert [p for p, _ in object_config_problems(device_class)] == [
        "spec.config[0].opaque.parameters.sharing.strategy"
    ]
    assert [p for p, _ in object_config_problems(template)] == [
        "spec.spec.devices.config[0].opaque.parameters.sharing.strategy"
    ]


def test_a_config_that_is_not_an_object_is_reported_at_parameters() -> None:
    claim = ResourceClaim(
        metadata=ObjectMeta(name="c", namespace="default"),
        spec=ResourceClaimSpec(
            devices=DeviceClaim(config=[DeviceClaimConfiguration(opaque=_opaque("MPS"))])
        ),
    )
    assert [p for p, _ in object_config_problems(claim)] == [
        "spec.devices.config[0].opaque.parameters"
    ]


def test_configs_for_other_drivers_are_not_checked() -> None:
    claim = ResourceClaim(
        metadata=ObjectMeta(name="c", namespace="default"),
        spec=ResourceClaimSpec(
            devices=DeviceClaim(
                config=[DeviceClaimConfiguration(opaque=_opaque(BAD, driver="gpu.example.com"))]
            )
        ),
    )
    assert object_config_problems(claim) == []
    assert object_config_problems(object()) == []


# ---------------------------------------------------------------------- effective sharing


def _entry(
    parameters: Any, source: str = "FromClaim", requests: list[str] | None = None
) -> DeviceAllocationConfiguration:
    return DeviceAllocationConfiguration(
        source=source, requests=requests or [], opaque=_opaque(parameters)
    )


TIME_SLICING_LONG = _gpu({"strategy": "TimeSlicing", "timeSlicingConfig": {"interval": "Long"}})
MPS_25 = _gpu(_mps(defaultActiveThreadPercentage=25, defaultPinnedDeviceMemoryLimit="16Gi"))


def test_no_applicable_config_means_no_sharing_settings() -> None:
    assert effective_sharing([], "gpu", "gpu") is None
    other = DeviceAllocationConfiguration(
        source="FromClaim", opaque=_opaque(MPS_25, driver="gpu.example.com")
    )
    assert effective_sharing([other], "gpu", "gpu") is None
    assert effective_sharing([_entry(MPS_25, requests=["other"])], "gpu", "gpu") is None


def test_a_gpu_config_without_sharing_means_time_slicing_at_the_default_interval() -> None:
    assert effective_sharing([_entry(_gpu())], "gpu", "gpu") == SharingSettings(
        kind="GpuConfig", strategy="TimeSlicing", interval="Default"
    )


def test_time_slicing_settings_carry_the_interval() -> None:
    assert effective_sharing([_entry(TIME_SLICING_LONG)], "gpu", "gpu") == SharingSettings(
        kind="GpuConfig", strategy="TimeSlicing", interval="Long"
    )
    bare = _gpu({"strategy": "TimeSlicing"})
    settings = effective_sharing([_entry(bare)], "gpu", "gpu")
    assert settings is not None and settings.interval == "Default"


def test_mps_settings_carry_the_thread_percentage_and_pinned_limit() -> None:
    assert effective_sharing([_entry(MPS_25)], "gpu", "gpu") == SharingSettings(
        kind="GpuConfig",
        strategy="MPS",
        active_thread_percentage=25,
        pinned_memory_limit=Quantity.parse("16Gi"),
    )
    bare = effective_sharing([_entry(_gpu({"strategy": "MPS"}))], "gpu", "gpu")
    assert bare == SharingSettings(kind="GpuConfig", strategy="MPS")


def test_claim_configs_override_class_configs_whatever_their_order_in_the_list() -> None:
    class_mps = _entry(MPS_25, source="FromClass")
    claim_time_slicing = _entry(TIME_SLICING_LONG)
    for config in ([class_mps, claim_time_slicing], [claim_time_slicing, class_mps]):
        settings = effective_sharing(config, "gpu", "gpu")
        assert settings is not None and settings.strategy == "TimeSlicing", config


def test_the_last_applicable_entry_of_a_source_wins() -> None:
    config = [_entry(MPS_25), _entry(TIME_SLICING_LONG)]
    settings = effective_sharing(config, "gpu", "gpu")
    assert settings is not None and settings.strategy == "TimeSlicing"
    config = [
        _entry(MPS_25, source="FromClass"),
        _entry(TIME_SLICING_LONG, source="FromClass"),
    ]
    settings = effective_sharing(config, "gpu", "gpu")
    assert settings is not None and settings.strategy == "TimeSlicing"


def test_entries_for_other_requests_do_not_apply() -> None:
    config = [_entry(MPS_25, requests=["gpu"]), _entry(TIME_SLICING_LONG, requests=["other"])]
    settings = effective_sharing(config, "gpu", "gpu")
    assert settings is not None and settings.strategy == "MPS"


@pytest.mark.parametrize(
    ("requests", "applies"),
    [
        ([], True),
        (["gpu"], True),  # the parent request covers every subrequest
        (["gpu/small"], True),
        (["gpu/big"], False),
        (["small"], False),
        (["other", "gpu"], True),
    ],
)
def test_an_entry_applies_to_a_subrequest_through_its_name_or_its_parent(
    requests: list[str], applies: bool
) -> None:
    settings = effective_sharing([_entry(MPS_25, requests=requests)], "gpu/small", "gpu")
    assert (settings is not None) == applies


def test_a_gpu_config_does_not_configure_a_mig_device_nor_the_reverse() -> None:
    mig_mps = _gpu({"strategy": "MPS"}, kind="MigDeviceConfig")
    assert effective_sharing([_entry(MPS_25)], "gpu", "mig") is None
    assert effective_sharing([_entry(mig_mps)], "gpu", "gpu") is None
    assert effective_sharing([_entry(mig_mps)], "gpu", "mig") == SharingSettings(
        kind="MigDeviceConfig", strategy="MPS"
    )
    # A MigDeviceConfig after a GpuConfig leaves the GPU's settings alone.
    settings = effective_sharing([_entry(MPS_25), _entry(mig_mps)], "gpu", "gpu")
    assert settings is not None and settings.kind == "GpuConfig"


def test_passthrough_kinds_do_not_replace_sharing_settings() -> None:
    vfio = {"apiVersion": API, "kind": "VfioDeviceConfig"}
    settings = effective_sharing([_entry(MPS_25), _entry(vfio)], "gpu", "gpu")
    assert settings is not None and settings.strategy == "MPS"


def test_a_config_of_the_wrong_kind_for_the_device_is_a_mismatch() -> None:
    mig_mps = _gpu({"strategy": "MPS"}, kind="MigDeviceConfig")
    (problem,) = config_mismatches([_entry(MPS_25)], "gpu", "mig")
    assert "GpuConfig" in problem and "FromClaim" in problem and "mig" in problem
    (problem,) = config_mismatches([_entry(mig_mps, source="FromClass")], "gpu", "gpu")
    assert "MigDeviceConfig" in problem and "FromClass" in problem
    assert config_mismatches([_entry(MPS_25)], "gpu", "gpu") == []
    assert config_mismatches([_entry(mig_mps)], "gpu", "mig") == []
    assert config_mismatches([_entry(MPS_25, requests=["other"])], "gpu", "mig") == []


# ---------------------------------------------------------------------------------- CLI

NODES = """\
apiVersion: v1
kind: Node
metadata: {name: node-a}
---
apiVersion: resource.k8s.io/v1
kind: ResourceSlice
metadata: {name: node-a-gpu}
spec:
  driver: gpu.nvidia.com
  nodeName: node-a
  pool: {name: node-a, generation: 1, resourceSliceCount: 1}
  devices:
  - name: gpu-0
    attributes:
      type: {string: gpu}
---
apiVersion: resource.k8s.io/v1
kind: DeviceClass
metadata: {name: gpu.nvidia.com}
spec:
  selectors:
  - cel: {expression: device.driver == "gpu.nvidia.com"}
"""

BAD_CLAIM = """\
apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata: {name: shared, namespace: team-a}
spec:
  devices:
    requests:
    - name: gpu
      exactly: {deviceClassName: gpu.nvidia.com}
    config:
    - requests: [gpu]
      opaque:
        driver: gpu.nvidia.com
        parameters:
          apiVersion: resource.nvidia.com/v1beta1
          kind: GpuConfig
          sharing:
            strategy: MPS
            mpsConfig:
              defaultActiveThreadPercentage: 150
"""

BAD_CLASS = """\
apiVersion: resource.k8s.io/v1
kind: DeviceClass
metadata: {name: gpu-ts}
spec:
  selectors:
  - cel: {expression: device.driver == "gpu.nvidia.com"}
  config:
  - opaque:
      driver: gpu.nvidia.com
      parameters:
        apiVersion: resource.nvidia.com/v1beta1
        kind: GpuConfig
        sharing:
          strategy: TimeSlicing
          timeSlicingConfig: {interval: Forever}
"""


def test_a_claim_with_a_config_the_driver_refuses_exits_2_naming_file_object_and_field(
    tmp_path: Path,
) -> None:
    nodes = tmp_path / "nodes.yaml"
    nodes.write_text(NODES, encoding="utf-8")
    claim = tmp_path / "claim.yaml"
    claim.write_text(BAD_CLAIM, encoding="utf-8")
    result = CliRunner().invoke(app, ["allocate", "-f", str(nodes), "-f", str(claim)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{claim}: ResourceClaim team-a/shared: "
        "spec.devices.config[0].opaque.parameters.sharing.mpsConfig.defaultActiveThreadPercentage: "
        "must be an integer from 0 to 100"
    ]


def test_config_problems_of_several_objects_are_all_reported(tmp_path: Path) -> None:
    nodes = tmp_path / "a-nodes.yaml"
    nodes.write_text(NODES, encoding="utf-8")
    device_class = tmp_path / "b-class.yaml"
    device_class.write_text(BAD_CLASS, encoding="utf-8")
    claim = tmp_path / "c-claim.yaml"
    claim.write_text(BAD_CLAIM, encoding="utf-8")
    result = CliRunner().invoke(
        app, ["allocate", "-f", str(nodes), "-f", str(device_class), "-f", str(claim)]
    )
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(
        f"{device_class}: DeviceClass gpu-ts: "
        "spec.config[0].opaque.parameters.sharing.timeSlicingConfig.interval: "
    )
    assert "'Forever'" in lines[0]
    assert lines[1].startswith(f"{claim}: ResourceClaim team-a/shared: ")
