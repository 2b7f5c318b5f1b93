"""Reading and writing objects (dralloc.api.io): YAML and JSON round trips for every kind,
canonical quantities, timestamps as strings, multi-document and `List` inputs, v1beta1 -> v1
conversion, and a hypothesis round trip of generated ResourceSlices and ResourceClaims."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dralloc.api.io import (
    FieldValidation,
    LoadedObject,
    ReadNotes,
    _parse,
    decode_object,
    dump,
    kube_dict,
    list_document,
    load_text,
    to_builtins,
)
from dralloc.api.quantity import Quantity
from dralloc.api.resource import ResourceClaim, ResourceClaimTemplate, ResourceSlice

ALL_KINDS = """\
# One object of every kind dralloc reads.
apiVersion: v1
kind: Node
metadata:
  name: node-1
  labels: {zone: a}
  creationTimestamp: 2025-01-02T03:04:05Z
spec:
  taints:
  - {key: dedicated, value: ml, effect: NoSchedule}
status:
  capacity: {cpu: "64", memory: 512Gi}
  allocatable: {cpu: 63500m, memory: 500Gi}
---
apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: default}
spec:
  containers:
  - name: main
    image: example.com/app:1
    resources:
      requests: {cpu: 500m}
      claims:
      - {name: gpu, request: gpus}
  resourceClaims:
  - {name: gpu, resourceClaimTemplateName: one-gpu}
status:
  resourceClaimStatuses:
  - {name: gpu, resourceClaimName: web-0-gpu-x7k2p}
---
apiVersion: resource.k8s.io/v1
kind: DeviceClass
metadata: {name: gpu.example.com}
spec:
  selectors:
  - cel: {expression: 'device.driver == "gpu.example.com"'}
  config:
  - opaque:
      driver: gpu.example.com
      parameters: {mode: shared, replicas: 2, nested: {ok: true, none: null, list: [1, a]}}
  extendedResourceName: example.com/gpu
---
apiVersion: resource.k8s.io/v1
kind: ResourceSlice
metadata: {name: node-1-gpus}
spec:
  driver: gpu.example.com
  nodeName: node-1
  pool: {name: node-1, generation: 3, resourceSliceCount: 2}
  devices:
  - name: gpu-0
    attributes:
      model: {string: h100}
      index: {int: 0}
      healthy: {bool: true}
      driverVersion: {version: 1.2.3-rc.1+build.5}
      resource.kubernetes.io/pcieRoot: {string: "pci0000:10"}
    capacity:
      memory: {value: 80Gi}
    consumesCounters:
    - counterSet: gpu-0
      counters: {memory: {value: 80Gi}}
    taints:
    - {key: maintenance, value: "true", effect: NoExecute, timeAdded: 2025-01-02T03:04:05Z}
    bindsToNode: true
    bindingConditions: [example.com/ready]
    bindingFailureConditions: [example.com/failed]
  - name: shared-0
    allowMultipleAllocations: true
    capacity:
      bandwidth:
        value: 10Gi
        requestPolicy:
          default: 1Gi
          validRange: {min: 1Gi, max: 8Gi, step: 1Gi}
      slots:
        value: "4"
        requestPolicy: {default: "1", validValues: ["1", "2", "4"]}
---
apiVersion: resource.k8s.io/v1
kind: ResourceSlice
metadata: {name: node-1-counters}
spec:
  driver: gpu.example.com
  nodeName: node-1
  pool: {name: node-1, generation: 3, resourceSliceCount: 2}
  sharedCounters:
  - name: gpu-0
    counters: {memory: {value: 80Gi}}
---
apiVersion: resource.k8s.io/v1
kind: ResourceSlice
metadata: {name: fabric}
spec:
  driver: nic.example.com
  perDeviceNodeSelection: true
  pool: {name: fabric, generation: 0, resourceSliceCount: 1}
  devices:
  - name: link-0
    nodeSelector:
      nodeSelectorTerms:
      - matchExpressions:
        - {key: zone, operator: In, values: [a, b]}
  - {name: link-1, nodeName: node-1}
  - {name: link-2, allNodes: true}
---
apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata:
  name: train-0
  namespace: default
  uid: 9d4f0c77-5f43-4a8a-9d2c-000000000001
  annotations: {example.com/owner: team-ml}
spec:
  devices:
    requests:
    - name: gpus
      exactly:
        deviceClassName: gpu.example.com
        allocationMode: ExactCount
        count: 2
        selectors:
        - cel: {expression: 'device.attributes["gpu.example.com"].model == "h100"'}
        tolerations:
        - {key: maintenance, operator: Exists, effect: NoExecute, tolerationSeconds: 30}
    - name: share
      exactly:
        deviceClassName: gpu.example.com
        capacity:
          requests: {bandwidth: 1500Mi}
    - name: nic
      firstAvailable:
      - {name: fast, deviceClassName: gpu.example.com, count: 2}
      - {name: any, deviceClassName: gpu.example.com, allocationMode: All}
    constraints:
    - {requests: [gpus], matchAttribute: resource.kubernetes.io/pcieRoot}
    - {requests: [share, nic/fast], distinctAttribute: gpu.example.com/index}
    config:
    - requests: [gpus]
      opaque:
        driver: gpu.example.com
        parameters: {sharing: {strategy: TimeSlicing}}
status:
  allocation:
    devices:
      results:
      - {request: gpus, driver: gpu.example.com, pool: node-1, device: gpu-0}
      - request: share
        driver: gpu.example.com
        pool: node-1
        device: shared-0
        shareID: 0b9ba4c1-4b1e-4fd7-9d6a-3c2b9a1e8f00
        consumedCapacity: {bandwidth: 2Gi, slots: "1"}
      - {request: nic/fast, driver: gpu.example.com, pool: node-1, device: gpu-1, adminAccess: true}
      config:
      - source: FromClaim
        requests: [gpus]
        opaque:
          driver: gpu.example.com
          parameters: {sharing: {strategy: TimeSlicing}}
    nodeSelector:
      nodeSelectorTerms:
      - matchFields:
        - {key: metadata.name, operator: In, values: [node-1]}
    allocationTimestamp: 2025-01-02T03:04:05Z
  reservedFor:
  - {resource: pods, name: web-0, uid: 9d4f0c77-5f43-4a8a-9d2c-000000000002}
  devices:
  - driver: gpu.example.com
    pool: node-1
    device: gpu-0
    conditions:
    - type: Ready
      status: "True"
      lastTransitionTime: 2025-01-02T03:04:05Z
      reason: Ok
      message: ""
    data: {health: good}
---
apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata: {name: one-gpu, namespace: default}
spec:
  metadata:
    labels: {app: web}
  spec:
    devices:
      requests:
      - name: gpu
        exactly: {deviceClassName: gpu.example.com}
---
apiVersion: resource.k8s.io/v1beta2
kind: DeviceTaintRule
metadata: {name: drain-gpu-0}
spec:
  deviceSelector: {driver: gpu.example.com, pool: node-1, device: gpu-0}
  taint: {key: drain, value: "yes", effect: NoSchedule}
"""

KINDS_IN_ORDER = [
    "Node",
    "Pod",
    "DeviceClass",
    "ResourceSlice",
    "ResourceSlice",
    "ResourceSlice",
    "ResourceClaim",
    "ResourceClaimTemplate",
    "DeviceTaintRule",
]


def _load(text: str, file: str = "in.yaml") -> list[LoadedObject]:
    loaded, problems = load_text(text, file)
    assert problems == []
    return loaded


# ------------------------------------------------------------------------- round trips


def test_the_sample_holds_one_valid_object_of_every_kind() -> None:
    assert [o.kind for o in _load(ALL_KINDS)] == KINDS_IN_ORDER


@pytest.mark.parametrize("output", ["yaml", "json"])
def test_every_kind_survives_load_encode_load(output: str) -> None:
    first = _load(ALL_KINDS)
    text = dump(list_document(kube_dict(o.obj) for o in first), output)
    second = _load(text, f"out.{output}")
    assert [o.kind for o in second] == KINDS_IN_ORDER
    for before, after in zip(first, second, strict=True):
        assert after.obj == before.obj, before.kind


@pytest.mark.parametrize("output", ["yaml", "json"])
def test_raw_documents_survive_dump_and_load_unchanged(output: str) -> None:
    first = _load(ALL_KINDS)
    text = dump(list_document(o.raw for o in first), output)
    assert [o.raw for o in _load(text)] == [o.raw for o in first]


def test_kube_dict_puts_api_version_and_kind_first_and_drops_empty_fields() -> None:
    claim = _load(ALL_KINDS)[6].obj
    wire = kube_dict(claim)
    assert list(wire)[:2] == ["apiVersion", "kind"]
    assert wire["apiVersion"] == "resource.k8s.io/v1"
    assert "generateName" not in wire["metadata"]
    assert "finalizers" not in wire["metadata"]
    results = wire["status"]["allocation"]["devices"]["results"]
    assert results[0] == {
        "request": "gpus",
        "driver": "gpu.example.com",
        "pool": "node-1",
        "device": "gpu-0",
    }
    assert results[1]["shareID"] == "0b9ba4c1-4b1e-4fd7-9d6a-3c2b9a1e8f00"
    assert results[2]["adminAccess"] is True


def test_to_builtins_gives_wire_names_for_typed_values() -> None:
    device = _load(ALL_KINDS)[3].obj.spec.devices[0]
    wire = to_builtins(device)
    assert wire["attributes"]["index"] == {"int": 0}
    assert wire["attributes"]["healthy"] == {"bool": True}
    assert wire["capacity"]["memory"] == {"value": "80Gi"}
    assert wire["consumesCounters"][0]["counterSet"] == "gpu-0"
    assert wire["bindsToNode"] is True
    assert json.loads(json.dumps(wire)) == wire


def test_a_device_class_survives_with_free_form_opaque_parameters() -> None:
    cls = _load(ALL_KINDS)[2].obj
    wire = kube_dict(cls)
    assert wire["spec"]["config"][0]["opaque"]["parameters"] == {
        "mode": "shared",
        "replicas": 2,
        "nested": {"ok": True, "none": None, "list": [1, "a"]},
    }


# -------------------------------------------------------------------------- quantities


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("1024Mi", "1Gi"),
        ("0.5Gi", "512Mi"),
        ("1536Mi", "1536Mi"),
        ("2048Ki", "2Mi"),
        ("1000m", "1"),
        ("1500m", "1500m"),
        ("1.5", "1500m"),
        ("0.1", "100m"),
        ("1000k", "1M"),
        ("5000M", "5G"),
        ("2e3", "2e3"),
        ("1E3", "1e3"),
        ("+1", "1"),
        ("010", "10"),
        ("0", "0"),
        (4, "4"),
        (1.5, "1500m"),
    ],
)
def test_quantities_print_in_canonical_form(written: str | int | float, canonical: str) -> None:
    text = json.dumps(
        {
            "apiVersion": "resource.k8s.io/v1",
            "kind": "ResourceSlice",
            "metadata": {"name": "s"},
            "spec": {
                "driver": "gpu.example.com",
                "nodeName": "node-1",
                "pool": {"name": "p", "generation": 1, "resourceSliceCount": 1},
                "devices": [{"name": "d", "capacity": {"memory": {"value": written}}}],
            },
        }
    )
    (loaded,) = _load(text, "slice.json")
    wire = kube_dict(loaded.obj)
    assert wire["spec"]["devices"][0]["capacity"]["memory"]["value"] == canonical
    assert f"value: {canonical}" in dump(wire, "yaml") or f"value: '{canonical}'" in dump(
        wire, "yaml"
    )


def test_equal_quantities_written_differently_load_as_equal_objects() -> None:
    def slice_with(value: str) -> ResourceSlice:
        text = ALL_KINDS.split("---\n")[3].replace("value: 80Gi", f"value: {value}")
        (loaded,) = _load(text)
        assert isinstance(loaded.obj, ResourceSlice)
        return loaded.obj

    assert slice_with("81920Mi") == slice_with("80Gi")
    assert slice_with("80G") != slice_with("80Gi")


def test_a_boolean_quantity_is_a_typed_problem() -> None:
    text = ALL_KINDS.split("---\n")[3].replace("value: 80Gi", "value: true", 1)
    loaded, problems = load_text(text, "in.yaml")
    assert loaded == []
    (problem,) = problems
    assert problem.obj == "ResourceSlice node-1-gpus"
    assert problem.field.startswith("spec.devices[0].capacity")
    assert problem.field.endswith(".value")
    assert "quantity" in problem.message


def test_a_problem_inside_a_map_names_the_map_key() -> None:
    text = ALL_KINDS.split("---\n")[3].replace("value: 80Gi", "value: true", 1)
    _, (problem,) = load_text(text, "in.yaml")
    assert "memory" in problem.field


# -------------------------------------------------------------------------- timestamps


def test_timestamps_stay_strings_through_load_and_dump() -> None:
    objects = _load(ALL_KINDS)
    node, claim, slice_ = objects[0].obj, objects[6].obj, objects[3].obj
    assert isinstance(claim, ResourceClaim)
    assert isinstance(slice_, ResourceSlice)
    stamp = "2025-01-02T03:04:05Z"
    assert node.metadata.creation_timestamp == stamp
    assert objects[0].raw["metadata"]["creationTimestamp"] == stamp
    assert claim.status.allocation is not None
    assert claim.status.allocation.allocation_timestamp == stamp
    assert slice_.spec.devices[0].taints[0].time_added == stamp
    for output in ("yaml", "json"):
        again = _load(dump(kube_dict(claim), output))[0].obj
        assert isinstance(again, ResourceClaim)
        assert again.status.allocation is not None
        assert again.status.allocation.allocation_timestamp == stamp
        assert again.status.devices[0].conditions[0]["lastTransitionTime"] == stamp


def test_a_date_in_an_opaque_parameter_stays_a_string() -> None:
    text = ALL_KINDS.split("---\n")[2].replace("mode: shared", "since: 2025-01-02")
    (loaded,) = _load(text)
    config = loaded.obj.spec.config[0].opaque
    assert config.parameters["since"] == "2025-01-02"


# ------------------------------------------------------------- documents and List inputs


TWO_PODS_WITHOUT_SEPARATOR = """\
apiVersion: v1
kind: Pod
metadata: {name: a}
spec:
  containers: [{name: c, image: i}]
apiVersion: v1
kind: Pod
metadata: {name: b}
spec:
  containers: [{name: c, image: i}]
"""


def test_two_objects_concatenated_without_a_separator_are_refused_naming_each_repeated_key() -> (
    None
):
    loaded, problems = load_text(TWO_PODS_WITHOUT_SEPARATOR, "pods.yaml")
    assert loaded == []
    hint = '; a "---" line missing between two objects?'
    assert [str(p) for p in problems] == [
        f'pods.yaml: line {line}, column 1: invalid YAML: key "{key}" already set in map '
        f"(first set at line {first}{hint})"
        for key, line, first in (("apiVersion", 6, 1), ("kind", 7, 2), ("metadata", 8, 3))
    ] + [
        'pods.yaml: line 9, column 1: invalid YAML: key "spec" already set in map '
        f"(first set at line 4{hint})"
    ]


def test_a_key_repeated_inside_an_object_is_refused_with_its_line_and_no_separator_hint() -> None:
    text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  labels:\n    app: x\n    app: y\n"
    loaded, (problem,) = load_text(text, "pod.yaml")
    assert loaded == []
    assert str(problem) == (
        'pod.yaml: line 7, column 5: invalid YAML: key "app" already set in map '
        "(first set at line 6)"
    )


def test_a_repeated_key_warns_under_warn_is_unchecked_under_ignore_and_the_later_value_wins() -> (
    None
):
    text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  name: b\n"
    notes = ReadNotes()
    (warned,) = load_text(text, "p.yaml", validation=FieldValidation.warn, notes=notes)[0]
    assert warned.obj.metadata.name == "b"
    assert [str(w) for w in notes.warnings] == [
        'p.yaml: line 5, column 3: invalid YAML: key "name" already set in map '
        "(first set at line 4)"
    ]
    ignoring = ReadNotes()
    (kept,), problems = load_text(text, "p.yaml", validation=FieldValidation.ignore, notes=ignoring)
    assert (kept.obj.metadata.name, problems, ignoring.warnings) == ("b", [], [])


def test_a_key_set_again_over_a_yaml_merge_is_an_override_not_a_repetition() -> None:
    text = textwrap.dedent(
        """\
        apiVersion: v1
        kind: Pod
        metadata:
          name: a
          labels:
            <<: {app: base, tier: web}
            app: override
        """
    )
    (loaded,) = _load(text)
    assert loaded.obj.metadata.labels == {"app": "override", "tier": "web"}


def test_multi_document_yaml_skips_empty_documents_and_numbers_the_rest() -> None:
    text = textwrap.dedent(
        """\
        ---
        # only a comment
        ---
        apiVersion: v1
        kind: Node
        metadata: {name: a}
        ---
        ---
        apiVersion: v1
        kind: Node
        metadata: {name: b}
        ...
        ---
        apiVersion: v1
        kind: Node
        metadata: {name: c}
        """
    )
    loaded = _load(text)
    assert [(o.obj.metadata.name, o.document) for o in loaded] == [("a", 1), ("b", 2), ("c", 3)]


def test_a_list_document_yields_its_items_in_order() -> None:
    objects = [o.raw for o in _load(ALL_KINDS)]
    text = yaml.safe_dump({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": objects})
    assert [o.kind for o in _load(text)] == KINDS_IN_ORDER


def test_a_typed_list_gives_its_items_kind_and_api_version() -> None:
    text = textwrap.dedent(
        """\
        apiVersion: resource.k8s.io/v1
        kind: DeviceClassList
        items:
        - metadata: {name: one}
        - metadata: {name: two}
          spec:
            selectors:
            - cel: {expression: "true"}
        """
    )
    loaded = _load(text)
    assert [(o.kind, o.obj.metadata.name, o.obj.api_version) for o in loaded] == [
        ("DeviceClass", "one", "resource.k8s.io/v1"),
        ("DeviceClass", "two", "resource.k8s.io/v1"),
    ]


def test_a_json_list_file_is_read() -> None:
    objects = [o.raw for o in _load(ALL_KINDS)]
    text = json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}, indent=2)
    assert [o.kind for o in _load(text, "in.json")] == KINDS_IN_ORDER


def test_an_empty_list_and_an_empty_file_hold_no_objects() -> None:
    assert _load("apiVersion: v1\nkind: List\nitems: []\n") == []
    assert _load("") == []


def test_problems_in_a_list_name_the_item_by_its_position() -> None:
    text = yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "List",
            "items": [
                {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "fine"}},
                {"apiVersion": "v1", "metadata": {"name": "odd"}},
            ],
        }
    )
    loaded, problems = load_text(text, "dump.yaml")
    assert [o.obj.metadata.name for o in loaded] == ["fine"]
    (problem,) = problems
    assert (problem.file, problem.obj, problem.field) == ("dump.yaml", "document 2", "kind")


# ------------------------------------------------------------------ v1beta1 and v1beta2


V1BETA1 = """\
apiVersion: resource.k8s.io/v1beta1
kind: ResourceSlice
metadata: {name: old-slice}
spec:
  driver: gpu.example.com
  nodeName: node-1
  pool: {name: old, generation: 1, resourceSliceCount: 1}
  devices:
  - name: gpu-0
    basic:
      attributes:
        model: {string: a100}
      capacity:
        memory: {value: 40Gi}
      taints:
      - {key: k, value: v, effect: NoSchedule}
      allowMultipleAllocations: true
---
apiVersion: resource.k8s.io/v1beta1
kind: ResourceClaim
metadata: {name: old-claim, namespace: default}
spec:
  devices:
    requests:
    - name: gpus
      deviceClassName: gpu
      allocationMode: ExactCount
      count: 2
      adminAccess: false
      selectors:
      - cel: {expression: "true"}
      tolerations:
      - {key: k, operator: Exists}
      capacity:
        requests: {memory: 1Gi}
    - name: pick
      firstAvailable:
      - {name: big, deviceClassName: gpu, count: 2}
      - {name: small, deviceClassName: gpu}
---
apiVersion: resource.k8s.io/v1beta1
kind: ResourceClaimTemplate
metadata: {name: old-template, namespace: default}
spec:
  spec:
    devices:
      requests:
      - name: gpu
        deviceClassName: gpu
"""


def test_v1beta1_request_fields_move_under_exactly() -> None:
    _, claim, _ = (o.obj for o in _load(V1BETA1))
    assert isinstance(claim, ResourceClaim)
    assert claim.api_version == "resource.k8s.io/v1"
    gpus, pick = claim.spec.devices.requests
    assert gpus.exactly is not None
    wire = to_builtins(gpus.exactly)
    assert wire == {
        "deviceClassName": "gpu",
        "selectors": [{"cel": {"expression": "true"}}],
        "allocationMode": "ExactCount",
        "count": 2,
        "adminAccess": False,
        "tolerations": [{"key": "k", "operator": "Exists"}],
        "capacity": {"requests": {"memory": "1Gi"}},
    }
    assert pick.exactly is None
    assert [s.name for s in pick.first_available or []] == ["big", "small"]


def test_v1beta1_device_fields_come_up_from_basic() -> None:
    slice_, _, _ = (o.obj for o in _load(V1BETA1))
    assert isinstance(slice_, ResourceSlice)
    assert slice_.api_version == "resource.k8s.io/v1"
    (device,) = slice_.spec.devices
    assert device.attributes["model"].string == "a100"
    assert device.capacity["memory"].value == Quantity.parse("40Gi")
    assert device.taints[0].key == "k"
    assert device.allow_multiple_allocations is True


def test_v1beta1_templates_convert_their_claim_spec() -> None:
    _, _, template = (o.obj for o in _load(V1BETA1))
    assert isinstance(template, ResourceClaimTemplate)
    (request,) = template.spec.spec.devices.requests
    assert request.exactly is not None
    assert request.exactly.device_class_name == "gpu"


def test_converted_v1beta1_objects_equal_their_v1_form() -> None:
    converted = [o.obj for o in _load(V1BETA1)]
    v1 = [o.obj for o in _load(dump(list_document(kube_dict(o) for o in converted), "yaml"))]
    assert v1 == converted
    assert all(o.api_version == "resource.k8s.io/v1" for o in v1)


def test_the_input_document_of_a_v1beta1_object_is_not_modified() -> None:
    raw = yaml.safe_load(V1BETA1.split("---\n")[1])
    before = json.loads(json.dumps(raw))
    loaded, problems = decode_object(raw, "in.yaml", 1)
    assert problems == []
    assert loaded is not None
    assert raw == before


def test_v1beta2_objects_are_read_as_v1() -> None:
    text = ALL_KINDS.split("---\n")[3].replace("resource.k8s.io/v1", "resource.k8s.io/v1beta2")
    (loaded,) = _load(text)
    assert loaded.obj.api_version == "resource.k8s.io/v1"


# ------------------------------------------------------------- awkward numbers and text


def test_json_numbers_in_exponent_form_stay_numbers() -> None:
    claim = kube_dict(_load(ALL_KINDS)[6].obj)
    claim["spec"]["devices"]["config"][0]["opaque"]["parameters"] = {"lr": 1e-05, "n": 1e20}
    (loaded,) = _load(dump(claim, "json"), "claim.json")
    assert isinstance(loaded.obj, ResourceClaim)
    opaque = loaded.obj.spec.devices.config[0].opaque
    assert opaque is not None
    assert opaque.parameters == {"lr": 1e-05, "n": 1e20}


def test_yaml_floats_in_exponent_form_as_kubectl_writes_them_are_numbers() -> None:
    text = ALL_KINDS.split("---\n")[2].replace("replicas: 2", "replicas: 2, lr: 1e-05")
    (loaded,) = _load(text)
    assert loaded.obj.spec.config[0].opaque.parameters["lr"] == 1e-05


def test_an_unquoted_exponent_quantity_in_yaml_is_a_number_as_kubernetes_reads_it() -> None:
    text = ALL_KINDS.split("---\n")[3].replace("value: 80Gi", "value: 2e3", 1)
    (loaded,) = _load(text)
    assert isinstance(loaded.obj, ResourceSlice)
    assert loaded.raw["spec"]["devices"][0]["capacity"]["memory"]["value"] == 2000.0
    assert str(loaded.obj.spec.devices[0].capacity["memory"].value) == "2k"


@pytest.mark.parametrize("looks_numeric", ["1e3", "2E-5", "0e0", "+1e+9"])
def test_a_string_that_looks_like_an_exponent_number_survives_a_yaml_round_trip(
    looks_numeric: str,
) -> None:
    claim = kube_dict(_load(ALL_KINDS)[6].obj)
    claim["metadata"]["annotations"] = {"example.com/note": looks_numeric}
    loaded, problems = load_text(dump(claim, "yaml"), "claim.yaml")
    assert problems == []
    assert loaded[0].obj.metadata.annotations == {"example.com/note": looks_numeric}


@pytest.mark.parametrize("character", ["\x7f", "\x80", "\x9f", "\u2028", "\ufeff"])
@pytest.mark.parametrize("output", ["yaml", "json"])
def test_strings_with_control_and_separator_characters_survive_a_round_trip(
    character: str, output: str
) -> None:
    claim = kube_dict(_load(ALL_KINDS)[6].obj)
    claim["metadata"]["annotations"] = {"example.com/note": f"a{character}b"}
    (loaded,) = _load(dump(claim, output), f"claim.{output}")
    assert loaded.obj.metadata.annotations == {"example.com/note": f"a{character}b"}


def test_a_next_line_character_survives_a_json_round_trip() -> None:
    claim = kube_dict(_load(ALL_KINDS)[6].obj)
    claim["metadata"]["annotations"] = {"example.com/note": "a\x85b"}
    (loaded,) = _load(dump(claim, "json"), "claim.json")
    assert loaded.obj.metadata.annotations == {"example.com/note": "a\x85b"}


def test_a_next_line_character_survives_a_yaml_round_trip() -> None:
    claim = kube_dict(_load(ALL_KINDS)[6].obj)
    claim["metadata"]["annotations"] = {"example.com/note": "a\x85b"}
    (loaded,) = _load(dump(claim, "yaml"))
    assert loaded.obj.metadata.annotations == {"example.com/note": "a\x85b"}


# ---------------------------------------------------------------- hypothesis round trip

# Any text, and now and then one that looks like a number or a YAML keyword, which the YAML
# output must quote to read back as the same string.
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20) | (
    st.sampled_from(["1e3", "2E-5", "0x1F", "1_000", "0o17", ".5", "yes", "off", "~", "null"])
)
DNS_LABEL = st.from_regex(r"\A[a-z]([a-z0-9-]{0,10}[a-z0-9])?\Z")
IDENT = st.from_regex(r"\A[a-zA-Z_][a-zA-Z0-9_]{0,12}\Z")


@st.composite
def quantities(draw: st.DrawFn) -> str | int:
    number = draw(st.integers(0, 10**6))
    form = draw(st.sampled_from(["int", "plain", "binary", "decimal", "milli", "exp"]))
    if form == "int":
        return number
    if form == "plain":
        return str(number)
    if form == "binary":
        return f"{number}{draw(st.sampled_from(['Ki', 'Mi', 'Gi', 'Ti']))}"
    if form == "decimal":
        return f"{number}{draw(st.sampled_from(['k', 'M', 'G']))}"
    if form == "milli":
        return f"{number}m"
    return f"{number}e{draw(st.integers(0, 6))}"


ATTRIBUTES = st.one_of(
    st.builds(lambda v: {"int": v}, st.integers(-(2**63), 2**63 - 1)),
    st.builds(lambda v: {"bool": v}, st.booleans()),
    st.builds(lambda v: {"string": v}, TEXT),
    st.builds(
        lambda a, b, c: {"version": f"{a}.{b}.{c}"},
        st.integers(0, 99),
        st.integers(0, 99),
        st.integers(0, 99),
    ),
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)


@st.composite
def devices(draw: st.DrawFn, name: str) -> dict[str, Any]:
    device: dict[str, Any] = {"name": name}
    attributes = draw(st.dictionaries(IDENT, ATTRIBUTES, max_size=3))
    if attributes:
        device["attributes"] = attributes
    capacity = draw(st.dictionaries(IDENT, quantities(), max_size=2))
    if capacity:
        device["capacity"] = {k: {"value": v} for k, v in capacity.items()}
    if draw(st.booleans()):
        device["taints"] = [
            {
                "key": draw(DNS_LABEL),
                "value": draw(DNS_LABEL),
                "effect": draw(st.sampled_from(["NoSchedule", "NoExecute", "None"])),
                "timeAdded": "2025-01-02T03:04:05Z",
            }
        ]
    return device


@st.composite
def resource_slices(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(0, 3))
    spec: dict[str, Any] = {
        "driver": "gpu.example.com",
        "pool": {
            "name": draw(DNS_LABEL),
            "generation": draw(st.integers(0, 2**40)),
            "resourceSliceCount": draw(st.integers(1, 5)),
        },
        "devices": [draw(devices(f"dev-{i}")) for i in range(count)],
    }
    if draw(st.booleans()):
        spec["nodeName"] = draw(DNS_LABEL)
    else:
        spec["allNodes"] = True
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceSlice",
        "metadata": {"name": draw(DNS_LABEL), "annotations": {"example.com/note": draw(TEXT)}},
        "spec": spec,
    }


@st.composite
def resource_claims(draw: st.DrawFn) -> dict[str, Any]:
    requests: list[dict[str, Any]] = []
    for i in range(draw(st.integers(1, 3))):
        exact: dict[str, Any] = {"deviceClassName": "gpu.example.com"}
        if draw(st.booleans()):
            exact["count"] = draw(st.integers(1, 8))
        if draw(st.booleans()):
            exact["selectors"] = [{"cel": {"expression": draw(TEXT.filter(bool))}}]
        if draw(st.booleans()):
            exact["tolerations"] = [{"key": draw(DNS_LABEL), "operator": "Exists"}]
        if draw(st.booleans()):
            exact["capacity"] = {"requests": {draw(IDENT): draw(quantities())}}
        requests.append({"name": f"req-{i}", "exactly": exact})
    devices: dict[str, Any] = {"requests": requests}
    if draw(st.booleans()):
        devices["config"] = [
            {
                "opaque": {
                    "driver": "gpu.example.com",
                    "parameters": draw(st.dictionaries(TEXT, JSON_VALUES, max_size=3)),
                }
            }
        ]
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaim",
        "metadata": {
            "name": draw(DNS_LABEL),
            "namespace": "default",
            "annotations": {"example.com/note": draw(TEXT)},
            "creationTimestamp": "2025-01-02T03:04:05Z",
        },
        "spec": {"devices": devices},
    }


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    documents=st.lists(resource_slices() | resource_claims(), min_size=1, max_size=3),
    output=st.sampled_from(["yaml", "json"]),
)
def test_generated_slices_and_claims_survive_dump_and_load(
    documents: list[dict[str, Any]], output: str
) -> None:
    expected = []
    for number, document in enumerate(documents, start=1):
        loaded, problems = decode_object(json.loads(json.dumps(document)), "gen", number)
        assert problems == []
        assert loaded is not None
        expected.append(loaded.obj)
    text = dump(list_document(documents), output)
    first = _load(text, f"gen.{output}")
    assert [o.raw for o in first] == documents
    assert [o.obj for o in first] == expected
    again = _load(dump(list_document(kube_dict(o.obj) for o in first), output))
    assert [o.obj for o in again] == expected


def _taint_times(raw_taints: list[dict[str, Any]], now: datetime) -> list[str | None]:
    raw = {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceSlice",
        "metadata": {"name": "s"},
        "spec": {
            "driver": "gpu.example.com",
            "pool": {"name": "p", "generation": 0, "resourceSliceCount": 1},
            "nodeName": "node-1",
            "devices": [{"name": "gpu-0", "taints": raw_taints}],
        },
    }
    loaded, problems = decode_object(raw, "s.yaml", 1, now=now)
    assert loaded is not None and not problems
    assert isinstance(loaded.obj, ResourceSlice)
    return [taint.time_added for taint in loaded.obj.spec.devices[0].taints]


def test_a_taint_without_time_added_gets_the_creation_time_as_the_api_server_stamps_it() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    taints = [
        {"key": "a", "effect": "NoSchedule"},
        {"key": "b", "effect": "NoSchedule", "timeAdded": None},
        {"key": "c", "effect": "NoSchedule", "timeAdded": "2025-06-01T10:00:00.9+02:00"},
    ]
    assert _taint_times(taints, now) == [
        "2026-01-02T03:04:05Z",
        "2026-01-02T03:04:05Z",
        "2025-06-01T08:00:00Z",
    ]


def _decoded(kind: str, spec: dict[str, Any]) -> tuple[Any, list[str]]:
    raw = {"apiVersion": "resource.k8s.io/v1", "kind": kind, "metadata": {"name": "x"}}
    loaded, problems = decode_object({**raw, "spec": spec}, "x.yaml", 1)
    return (loaded.obj if loaded else None), [f"{p.field}: {p.message}" for p in problems]


def test_a_null_list_item_is_an_empty_object_so_validation_names_its_required_field() -> None:
    _, problems = _decoded("DeviceClass", {"selectors": [None]})
    assert len(problems) == 1
    assert problems[0].startswith("spec.selectors[0].cel: Required value")


def test_a_null_map_value_or_a_missing_quantity_is_zero_as_go_decodes_it() -> None:
    pool = {"name": "p", "generation": 0, "resourceSliceCount": 1}
    counters = {"memory": None, "cores": {}, "slots": {"value": None}}
    obj, problems = _decoded(
        "ResourceSlice",
        {
            "driver": "gpu.example.com",
            "pool": pool,
            "nodeName": "node-1",
            "sharedCounters": [{"name": "cs", "counters": counters}],
        },
    )
    assert problems == []
    assert kube_dict(obj)["spec"]["sharedCounters"][0]["counters"] == {
        "memory": {"value": "0"},
        "cores": {"value": "0"},
        "slots": {"value": "0"},
    }


def test_a_null_attribute_is_an_attribute_without_a_value() -> None:
    pool = {"name": "p", "generation": 0, "resourceSliceCount": 1}
    device = {"name": "gpu-0", "attributes": {"model": None}}
    _, problems = _decoded(
        "ResourceSlice",
        {"driver": "gpu.example.com", "pool": pool, "nodeName": "node-1", "devices": [device]},
    )
    assert len(problems) == 1
    assert problems[0].startswith("spec.devices[0].attributes[model]: exactly one value")


DUPLICATED_JSON = (
    '{"apiVersion": "v1", "kind": "List", "items": ['
    '{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "j", "name": "k"},'
    ' "spec": {"containers": [{"name": "c", "image": "i", "image": "j"}]}},'
    '{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "ok", "namespace": "ml"}}]}'
)


def test_a_key_repeated_in_a_json_object_is_refused_naming_object_and_field() -> None:
    loaded, problems = load_text(DUPLICATED_JSON, "pods.json")
    assert loaded == []
    assert [str(p) for p in problems] == [
        'pods.json: Pod k: metadata.name: duplicate field "metadata.name"',
        'pods.json: Pod k: spec.containers[0].image: duplicate field "spec.containers[0].image"',
    ]


def test_a_repeated_json_key_warns_under_warn_and_under_ignore_the_later_value_wins() -> None:
    notes = ReadNotes()
    warned, problems = load_text(
        DUPLICATED_JSON, "pods.json", validation=FieldValidation.warn, notes=notes
    )
    assert problems == []
    assert [o.obj.metadata.name for o in warned] == ["k", "ok"]
    assert [str(w) for w in notes.warnings] == [
        'pods.json: Pod k: metadata.name: duplicate field "metadata.name"',
        'pods.json: Pod k: spec.containers[0].image: duplicate field "spec.containers[0].image"',
    ]
    ignoring = ReadNotes()
    kept, problems = load_text(
        DUPLICATED_JSON, "pods.json", validation=FieldValidation.ignore, notes=ignoring
    )
    assert ([o.obj.metadata.name for o in kept], problems, ignoring.warnings) == (
        ["k", "ok"],
        [],
        [],
    )


def test_json_read_noting_repeated_keys_equals_json_read_without() -> None:
    # Under ignore, JSON is parsed without the object hook: both ways give the same documents.
    text = json.dumps(
        {
            "kind": "List",
            "items": [
                {
                    "kind": "Pod",
                    "metadata": {"name": f"p{i}", "labels": {"a": "1"}},
                    "n": [1.5, None],
                }
                for i in range(3)
            ],
        }
    )
    assert _parse(text, find_repeated=True) == _parse(text, find_repeated=False)
