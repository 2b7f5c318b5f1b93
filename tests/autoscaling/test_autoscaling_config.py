"""The `kind: Autoscaling` reader (`dralloc.autoscaling.reader`): every field of spec §2 read
into typed values, and every problem of a bad file reported at once with file, object and
field path (§12's `max: 0`, `min > max`, unknown shape, offering without price among them)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from dralloc.autoscaling import (
    CapacityType,
    ConsolidationPolicy,
    EmpiricalDelay,
    FixedDelay,
    Forecaster,
    LognormalDelay,
    Mode,
    UniformDelay,
    load_autoscaling,
    parse_autoscaling_text,
    parse_duration,
)
from dralloc.devices import load_catalog
from dralloc.errors import InputError

GOOD = """\
apiVersion: dralloc.io/v1alpha1
kind: Autoscaling
metadata: {name: gpu}
mode: cluster-autoscaler
shapes:
- name: h100-mig
  shape: dgx-h100
  mig: static
  layout: all-1g.10gb
  labels: {pool: h100}
  cpu: "200"
  memory: 1800Gi
  taints: [{key: nvidia.com/gpu, value: present, effect: NoSchedule}]
  price: {onDemand: 98.32, spot: 30.0, reserved: 60.0}
  provisioning: {launch: "lognormal:90,0.3", register: "uniform:20-40", devices: "fixed:240"}
  availability: {launchFailure: 0.02, capacity: 64, reserved: 4}
  interruption: {ratePerHour: 0.05, noticeSeconds: 120}
  gpuLabel: true
- name: a100
  shape: dgx-a100
  price: {onDemand: 32.77}
  templateSource: observed
nodeGroups:
- {name: h100-od, shape: h100-mig, min: 0, max: 32, capacityType: on-demand}
- name: h100-spot
  shape: h100-mig
  min: 1
  max: 8
  capacityType: spot
  scaleDownGpuUtilizationThreshold: 0.3
  scaleDownUnneededTime: 2m
  zeroOrMaxNodeScaling: true
nodePools:
- name: gpu
  shapes: [h100-mig, a100]
  capacityTypes: [on-demand]
  limits: {nodes: 64, gpu.nvidia.com/gpu: 256}
  weight: 10
  disruption: {consolidationPolicy: Balanced, consolidateAfter: 30s,
               budgets: [{nodes: "10%"}, {nodes: 0, schedule: "0 9 * * 1-5", duration: 8h,
                          reasons: [Underutilized]}]}
  expireAfter: Never
options:
  scaleDownUnneededTime: 5m
  expander: priority,least-waste
  expanderPriorities: {"10": [".*-spot"], "1": [".*"]}
  coresTotal: "0:3200"
  maxNodesTotal: 100
  balanceSimilarNodeGroups: true
  utilization: device
  billingStart: request
  minimumBilledSeconds: 0s
buffers:
- {name: warm-h100, podTemplateRef: {name: one-gpu}, replicas: 2}
- {name: tenth, scalableRef: {apiGroup: apps, kind: Deployment, name: infer}, percentage: 10}
predictor: {forecaster: seasonal-quantile, q: 0.8, step: 5m, period: 24h, maxWarmNodes: {a100: 2}}
"""


def _problems(text: str, tmp_path: Path) -> list[tuple[str, str]]:
    path = tmp_path / "fleet.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        load_autoscaling(str(path), catalog=load_catalog())
    for problem in caught.value.problems:
        assert problem.file == str(path)
        assert problem.obj.startswith("Autoscaling")
    return [(p.field, p.message) for p in caught.value.problems]


def test_a_full_file_reads_into_typed_values() -> None:
    config = parse_autoscaling_text(GOOD, "fleet.yaml", catalog=load_catalog())
    assert config.name == "gpu" and config.mode is Mode.CLUSTER_AUTOSCALER
    h100 = config.shapes["h100-mig"]
    assert list(config.shapes) == ["h100-mig", "a100"]
    assert h100.node.device_shape == "dgx-h100"
    assert h100.node.options == {"mig": "static", "layout": "all-1g.10gb"}
    assert str(h100.node.memory) == "1800Gi" and h100.node.taints[0].effect == "NoSchedule"
    assert h100.prices == {
        CapacityType.ON_DEMAND: 98.32,
        CapacityType.SPOT: 30.0,
        CapacityType.RESERVED: 60.0,
    }
    assert h100.provisioning.launch == LognormalDelay(90.0, 0.3)
    assert h100.provisioning.register == UniformDelay(20.0, 40.0)
    assert h100.provisioning.ready == FixedDelay(60.0)  # §1 default
    assert h100.availability.launch_failure == 0.02 and h100.availability.reserved == 4
    assert h100.interruption.rate_per_hour == 0.05 and h100.gpu_label
    spot = config.node_groups[1]
    assert (spot.min_size, spot.max_size, spot.capacity_type) == (1, 8, CapacityType.SPOT)
    assert spot.options.scale_down_gpu_utilization_threshold == 0.3
    assert spot.options.scale_down_unneeded_time == 120.0 and spot.options.zero_or_max_node_scaling
    pool = config.node_pools[0]
    assert pool.shapes == ("h100-mig", "a100") and pool.expire_after is None
    assert pool.disruption.consolidation_policy is ConsolidationPolicy.BALANCED
    assert pool.disruption.consolidate_after == 30.0
    business_hours = pool.disruption.budgets[1]
    assert (business_hours.schedule, business_hours.duration) == ("0 9 * * 1-5", 8 * 3600.0)
    assert [b.allowed(25) for b in pool.disruption.budgets] == [3, 0]
    options = config.options
    assert options.scale_down_unneeded_time == 300.0
    assert options.expander == ("priority", "least-waste")
    assert options.expander_priorities == {10: (".*-spot",), 1: (".*",)}
    assert options.cores_total == (0, 3200) and options.max_nodes_total == 100
    assert options.minimum_billed_seconds == 0.0
    assert options.scale_down_delay_after_add == 600.0  # upstream default kept
    assert config.buffers[1].scalable_ref is not None and config.buffers[1].percentage == 10
    assert config.predictor.forecaster is Forecaster.SEASONAL_QUANTILE
    assert config.predictor.quantile == 0.8 and config.predictor.step == 300.0


def test_every_problem_is_reported_at_once_with_its_field_path(tmp_path: Path) -> None:
    text = """\
apiVersion: dralloc.io/v1alpha1
kind: Autoscaling
metadata: {name: gpu}
mode: cluster-autoscaler
shapes:
- name: h100-mig
  shape: dgx-h101
  price: {onDemand: -3}
  provisioning: {launch: "lognormal:90", devices: "gamma:2"}
- name: a100
  shape: dgx-a100
  price: {onDemand: 32.77}
  sparkle: 3
- name: a100
  shape: dgx-a100:mig=static
nodeGroups:
- {name: g1, shape: nope, min: 0, max: 0}
- {name: g2, shape: a100, min: 5, max: 2, capacityType: spot}
- {name: g2, shape: a100, max: 1, capacityType: reserved}
options: {scaleDownUnneededTime: 5 minutes, expander: cheapest, maxNodesPerScaleUp: 0}
buffers:
- {name: both, podTemplateRef: {name: a}, scalableRef: {kind: Deployment, name: b}}
- {name: pct, podTemplateRef: {name: a}, percentage: 5}
predictor: {q: 1, forecaster: prophet}
"""
    problems = _problems(text, tmp_path)
    fields = [field for field, _ in problems]
    assert fields == [
        "buffers[0]",
        "buffers[1].percentage",
        "nodeGroups[0].max",
        "nodeGroups[0].shape",
        "nodeGroups[1].capacityType",
        "nodeGroups[1].max",
        "nodeGroups[2].capacityType",
        "nodeGroups[2].name",
        "options.expander",
        "options.maxNodesPerScaleUp",
        "options.scaleDownUnneededTime",
        "predictor.forecaster",
        "predictor.q",
        "shapes[0].price.onDemand",
        "shapes[0].provisioning.devices",
        "shapes[0].provisioning.launch",
        "shapes[0].shape",
        "shapes[1].sparkle",
        "shapes[2].name",
        "shapes[2].shape",
    ]
    messages = dict(problems)
    assert messages["nodeGroups[1].max"] == "must be >= min (5), got 2"
    assert messages["nodeGroups[0].shape"].startswith('unknown shape "nope"')
    assert messages["nodeGroups[1].capacityType"] == (
        "shape a100 has no spot price (set shapes[1].price.spot)"
    )
    assert "unknown GPU 'h101'" in messages["shapes[0].shape"]
    assert messages["shapes[1].sparkle"] == "unknown field"
    assert messages["shapes[2].name"] == 'duplicate shape "a100" (first at shapes[1].name)'
    assert messages["buffers[0]"] == "exactly one of podTemplateRef and scalableRef must be set"
    assert messages["nodeGroups[2].capacityType"] == (
        "shape a100 has no reserved price (set shapes[1].price.reserved)"
    )


def test_reserved_and_block_offerings_need_their_counts_and_windows(tmp_path: Path) -> None:
    text = """\
apiVersion: dralloc.io/v1alpha1
kind: Autoscaling
mode: cluster-autoscaler
shapes:
- {name: a, shape: dgx-a100, price: {reserved: 20, block: 25}}
- name: b
  shape: dgx-a100
  price: {reserved: 20, block: 25}
  availability: {reserved: 4, block: {start: 2h, end: 26h}}
- {name: c, shape: dgx-a100, price: {block: 1}, availability: {block: {start: 2h, end: 1h}}}
nodeGroups:
- {name: a-reserved, shape: a, max: 4, capacityType: reserved}
- {name: a-block, shape: a, max: 4, capacityType: block}
- {name: b-reserved, shape: b, max: 4, capacityType: reserved}
- {name: b-block, shape: b, max: 4, capacityType: block}
"""
    messages = dict(_problems(text, tmp_path))
    assert messages == {
        "nodeGroups[0].capacityType": (
            "shape a holds no reserved nodes (set shapes[0].availability.reserved)"
        ),
        "nodeGroups[1].capacityType": (
            "shape a has no capacity block (set shapes[0].availability.block)"
        ),
        "shapes[2].availability.block.end": "must be after start",
    }
    good = text.replace("- {name: a-", "# - {name: a-").replace("end: 1h", "end: 3h")
    config = parse_autoscaling_text(good, "fleet.yaml", catalog=load_catalog())
    assert config.shapes["b"].availability.block == (7200.0, 93600.0)


def test_the_problem_line_names_file_object_and_field(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text(GOOD.replace("max: 32", "max: 0"))
    with pytest.raises(InputError) as caught:
        load_autoscaling(str(path), catalog=load_catalog())
    assert str(caught.value) == (
        f"{path}: Autoscaling gpu: nodeGroups[0].max: must be >= 1 "
        "(a group that may hold no node is no group)"
    )


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        ("mode: karpenter", "nodePools", "mode karpenter needs at least one node pool"),
        ("mode: autopilot", "mode", "must be one of static, cluster-autoscaler, karpenter,"),
        ("kind: Cluster", "kind", 'must be "Autoscaling", got "Cluster"'),
    ],
)
def test_header_and_mode_problems(text: str, field: str, message: str, tmp_path: Path) -> None:
    lines = [
        "apiVersion: dralloc.io/v1alpha1",
        "kind: Autoscaling",
        "mode: static",
        "shapes: [{name: a, shape: dgx-a100, price: {onDemand: 1}}]",
    ]
    key = text.split(":")[0]
    lines = [line for line in lines if not line.startswith(key + ":")] + [text]
    problems = _problems("\n".join(lines) + "\n", tmp_path)
    assert any(f == field and m.startswith(message) for f, m in problems), problems


def test_multi_node_shapes_and_bad_layouts_are_refused_at_the_shape(tmp_path: Path) -> None:
    text = """\
apiVersion: dralloc.io/v1alpha1
kind: Autoscaling
mode: cluster-autoscaler
shapes:
- {name: rack, shape: gb200-nvl72, price: {onDemand: 1}}
- {name: mig, shape: dgx-h100, mig: static, layout: 7g.80gb/1g.10gb, price: {onDemand: 1}}
- {name: lab, shape: dgx-h100, labels: {"team a": x}, price: {onDemand: 1}}
nodeGroups: [{name: g, shape: rack, max: 1}]
"""
    messages = dict(_problems(text, tmp_path))
    assert messages["shapes[2].labels"].startswith('Invalid value: "team a"')
    assert "18 nodes per unit" in messages["shapes[0].shape"]
    assert "does not fit" in messages["shapes[1].shape"] or "layout" in messages["shapes[1].shape"]


def test_empirical_delays_are_read_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "launch.txt").write_text("# measured\n80\n95.5\n\n120\n")
    text = GOOD.replace('launch: "lognormal:90,0.3"', "launch: empirical:launch.txt")
    path = tmp_path / "fleet.yaml"
    path.write_text(text)
    config = load_autoscaling(str(path), catalog=load_catalog())
    delay = config.shapes["h100-mig"].provisioning.launch
    assert delay == EmpiricalDelay("launch.txt", (80.0, 95.5, 120.0))
    (tmp_path / "launch.txt").write_text("80\nsoon\n")
    messages = dict(_problems(text, tmp_path))
    assert messages["shapes[0].provisioning.launch"].endswith(
        "line 2: expected seconds >= 0, got 'soon'"
    )


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    problems = _problems("kind: Autoscaling\nshapes: [\n", tmp_path)
    assert len(problems) == 1 and "invalid YAML" in problems[0][1]
    assert "line 3" in problems[0][1]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90.0), ("10m", 600.0), ("1h30m", 5400.0), ("0", 0.0), ("500ms", 0.5), (15, 15.0)],
)
def test_durations_use_go_spelling(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["5 minutes", "10", "-1s", "1d", True, ""])
def test_bad_durations_say_what_is_expected(text: object) -> None:
    assert isinstance(parse_duration(text), str)


def test_never_is_infinite_only_where_allowed() -> None:
    config = parse_autoscaling_text(GOOD, "fleet.yaml", catalog=load_catalog())
    assert config.node_pools[0].expire_after is None
    assert not math.isinf(config.options.scale_down_unneeded_time)


def test_the_config_builds_one_template_per_shape() -> None:
    catalog = load_catalog()
    config = parse_autoscaling_text(GOOD, "fleet.yaml", catalog=catalog)
    templates = config.templates(catalog)
    assert list(templates) == ["h100-mig", "a100"]
    h100 = templates["h100-mig"]
    assert h100.node.metadata.labels["pool"] == "h100"
    assert str(h100.node.status.allocatable["cpu"]) == "200"
    assert len(h100.slices[0].spec.devices) == 56
