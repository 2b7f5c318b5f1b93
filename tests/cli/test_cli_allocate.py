"""`dralloc allocate`: the output contract and exit codes 0, 1 and 3 (README "Commands")."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import yaml
from cli_kit import (
    CLUSTER,
    INVALID_POOL,
    QUICKSTART,
    claim,
    devices_of,
    documents,
    invoke,
    output_list,
    stderr_lines,
    write,
)

# ------------------------------------------------------------------------------ exit 0


def test_the_quickstart_example_allocates_two_gpus_behind_one_pcie_root() -> None:
    result = invoke("allocate", "-f", str(QUICKSTART))
    assert result.exit_code == 0
    assert stderr_lines(result) == [
        "allocated on node gpu-node-1",
        # The claim's GpuConfig time-slices its GPUs: nothing bounds each sharer.
        "  ResourceClaim default/training-0 gpus: gpu.nvidia.com/gpu-node-1/gpu-2 "
        "[time-slicing] enforced: nothing",
        "  ResourceClaim default/training-0 gpus: gpu.nvidia.com/gpu-node-1/gpu-3 "
        "[time-slicing] enforced: nothing",
    ]
    (item,) = output_list(result)["items"]
    assert item["metadata"]["name"] == "training-0"
    isolation = json.loads(item["metadata"]["annotations"]["dralloc.io/isolation"])
    assert [(e["device"], e["mechanism"], e["enforced"]) for e in isolation] == [
        ("gpu.nvidia.com/gpu-node-1/gpu-2", "time-slicing", {}),
        ("gpu.nvidia.com/gpu-node-1/gpu-3", "time-slicing", {}),
    ]
    # gpu-0 is held by inference-0; gpu-1 is alone on pci0000:10, so only 2 and 3 share a root.
    assert devices_of(item) == [
        ("gpus", "gpu.nvidia.com", "gpu-node-1", "gpu-2"),
        ("gpus", "gpu.nvidia.com", "gpu-node-1", "gpu-3"),
    ]
    assert item["status"]["allocation"]["nodeSelector"] == {
        "nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["gpu-node-1"]}]}
        ]
    }


def test_output_lists_the_pending_claims_in_input_order_and_leaves_out_allocated_ones(
    tmp_path: Path,
) -> None:
    held = textwrap.dedent(
        """\
        apiVersion: resource.k8s.io/v1
        kind: ResourceClaim
        metadata: {name: held, namespace: default}
        spec:
          devices:
            requests:
            - name: gpus
              exactly: {deviceClassName: gpu}
        status:
          allocation:
            devices:
              results:
              - {request: gpus, driver: gpu.example.com, pool: node-a, device: gpu-0}
          reservedFor:
          - {resource: pods, name: web-0, uid: 6f1c2d3e-0000-4000-8000-000000000001}
        """
    )
    cluster = write(tmp_path, "cluster.yaml", documents(CLUSTER, claim("zeta"), held))
    claims = write(tmp_path, "claims.yaml", claim("alpha"))
    result = invoke("allocate", "-f", cluster, "-f", claims, "--node", "node-b")
    assert result.exit_code == 0, result.stderr
    items = output_list(result)["items"]
    assert [i["metadata"]["name"] for i in items] == ["zeta", "alpha"]
    assert [devices_of(i) for i in items] == [
        [("gpus", "gpu.example.com", "node-b", "gpu-0")],
        [("gpus", "gpu.example.com", "node-b", "gpu-1")],
    ]


def test_all_pending_claims_are_allocated_together_around_devices_already_in_use(
    tmp_path: Path,
) -> None:
    held = textwrap.dedent(
        """\
        apiVersion: resource.k8s.io/v1
        kind: ResourceClaim
        metadata: {name: held, namespace: default}
        spec:
          devices:
            requests:
            - name: gpus
              exactly: {deviceClassName: gpu}
        status:
          allocation:
            devices:
              results:
              - {request: gpus, driver: gpu.example.com, pool: node-b, device: gpu-0}
        """
    )
    path = write(tmp_path, "in.yaml", documents(CLUSTER, held, claim("one")))
    result = invoke("allocate", "-f", path, "--node", "node-b")
    assert result.exit_code == 0
    (item,) = output_list(result)["items"]
    assert devices_of(item) == [("gpus", "gpu.example.com", "node-b", "gpu-1")]

    two = write(tmp_path, "two.yaml", documents(CLUSTER, held, claim("one"), claim("two")))
    result = invoke("allocate", "-f", two, "--node", "node-b")
    assert result.exit_code == 1
    assert result.stdout == ""


def test_yaml_and_json_output_hold_the_same_list() -> None:
    as_yaml = invoke("allocate", "-f", str(QUICKSTART))
    as_json = invoke("allocate", "-f", str(QUICKSTART), "-o", "json")
    assert as_yaml.exit_code == as_json.exit_code == 0
    assert json.loads(as_json.stdout) == yaml.safe_load(as_yaml.stdout)


def test_every_field_of_the_input_claim_is_kept_in_the_output(tmp_path: Path) -> None:
    text = textwrap.dedent(
        """\
        apiVersion: resource.k8s.io/v1
        kind: ResourceClaim
        metadata:
          name: keep
          namespace: default
          uid: 0b7e2d2c-1111-4000-8000-000000000002
          resourceVersion: "4711"
          creationTimestamp: "2025-06-01T12:00:00Z"
          labels: {team: ml}
          annotations: {example.com/note: "keep me"}
          ownerReferences:
          - {apiVersion: v1, kind: Pod, name: web-0, uid: 0b7e2d2c-2222-4000-8000-000000000003}
        futureTopLevelField: {a: 1}
        spec:
          devices:
            requests:
            - name: gpus
              exactly:
                deviceClassName: gpu
                futureRequestField: true
        status:
          futureStatusField: [1, 2]
        """
    )
    path = write(tmp_path, "in.yaml", documents(CLUSTER, text))
    # Fields the API does not define are refused by default, as kubectl's strict validation
    # does; with --validate=ignore they are kept in the output untouched.
    refused = invoke("allocate", "-f", path, "--node", "node-a")
    assert refused.exit_code == 2
    assert 'futureRequestField: unknown field "futureRequestField"' in refused.stderr
    result = invoke("allocate", "-f", path, "--node", "node-a", "--validate", "ignore")
    assert result.exit_code == 0, result.stderr
    (item,) = output_list(result)["items"]
    original = yaml.safe_load(text)
    allocation = item["status"].pop("allocation")
    assert item == original | {"status": original["status"]}
    assert item["metadata"]["creationTimestamp"] == "2025-06-01T12:00:00Z"
    assert devices_of({"status": {"allocation": allocation}}) == [
        ("gpus", "gpu.example.com", "node-a", "gpu-0")
    ]


def test_a_pending_claim_reserved_for_a_pod_is_invalid_input(tmp_path: Path) -> None:
    reserved = claim("reserved") + textwrap.dedent(
        """\
        status:
          reservedFor:
          - {resource: pods, name: web-0, uid: 0b7e2d2c-3333-4000-8000-000000000004}
        """
    )
    path = write(tmp_path, "in.yaml", documents(CLUSTER, reserved))
    result = invoke("allocate", "-f", path)
    assert result.exit_code == 2
    (line,) = stderr_lines(result)
    assert line.startswith(f"{path}: ResourceClaim default/reserved: status.reservedFor: ")
    assert "may not be specified when `allocation` is not set" in line


def test_without_node_the_first_node_in_name_order_that_fits_is_used(tmp_path: Path) -> None:
    path = write(tmp_path, "in.yaml", documents(CLUSTER, claim("one")))
    result = invoke("allocate", "-f", path)
    assert result.exit_code == 0
    assert stderr_lines(result) == ["allocated on node node-a"]
    (item,) = output_list(result)["items"]
    assert devices_of(item) == [("gpus", "gpu.example.com", "node-a", "gpu-0")]


def test_without_node_a_later_node_is_used_when_the_earlier_ones_do_not_fit(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "in.yaml", documents(CLUSTER, claim("two", count=2)))
    result = invoke("allocate", "-f", path)
    assert result.exit_code == 0
    lines = stderr_lines(result)
    assert lines[-1] == "allocated on node node-b"
    # The node passed over says why, as exit 1 would.
    assert lines[:-1] == [
        "claim default/two on node node-a: cannot be allocated: not enough matching devices",
        "  request gpus: 1 of 1 devices fit (needs 2)",
    ]
    (item,) = output_list(result)["items"]
    assert [d[3] for d in devices_of(item)] == ["gpu-0", "gpu-1"]


def test_with_node_only_that_node_is_tried_and_stderr_stays_quiet(tmp_path: Path) -> None:
    path = write(tmp_path, "in.yaml", documents(CLUSTER, claim("one")))
    result = invoke("allocate", "-f", path, "--node", "node-b")
    assert result.exit_code == 0
    assert result.stderr == ""
    (item,) = output_list(result)["items"]
    assert devices_of(item) == [("gpus", "gpu.example.com", "node-b", "gpu-0")]


def test_input_can_come_from_stdin(tmp_path: Path) -> None:
    result = invoke("allocate", "-f", "-", "--node", "node-a", stdin=documents(CLUSTER, claim("x")))
    assert result.exit_code == 0
    (item,) = output_list(result)["items"]
    assert item["metadata"]["name"] == "x"


def test_a_json_input_file_is_read(tmp_path: Path) -> None:
    objects = list(yaml.safe_load_all(documents(CLUSTER, claim("from-json"))))
    path = write(
        tmp_path, "in.json", json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
    )
    result = invoke("allocate", "-f", path, "--node", "node-a", "-o", "json")
    assert result.exit_code == 0
    (item,) = json.loads(result.stdout)["items"]
    assert item["metadata"]["name"] == "from-json"


def test_a_kubectl_list_dump_allocates_like_the_separate_documents(tmp_path: Path) -> None:
    objects = list(yaml.safe_load_all(QUICKSTART.read_text()))
    dump = {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}}
    dump["items"] = objects
    path = write(tmp_path, "dump.yaml", yaml.safe_dump(dump))
    from_list = invoke("allocate", "-f", path)
    separate = invoke("allocate", "-f", str(QUICKSTART))
    assert from_list.exit_code == separate.exit_code == 0
    assert yaml.safe_load(from_list.stdout) == yaml.safe_load(separate.stdout)


def test_a_typed_list_supplies_kind_and_api_version_to_its_items(tmp_path: Path) -> None:
    objects = list(yaml.safe_load_all(CLUSTER))
    others = [o for o in objects if o["kind"] != "ResourceSlice"]
    slices = [o for o in objects if o["kind"] == "ResourceSlice"]
    for s in slices:
        del s["kind"], s["apiVersion"]
    typed = {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceSliceList", "items": slices}
    text = documents(*(yaml.safe_dump(o) for o in [*others, typed]), claim("one"))
    path = write(tmp_path, "in.yaml", text)
    result = invoke("allocate", "-f", path, "--node", "node-b")
    assert result.exit_code == 0, result.stderr
    (item,) = output_list(result)["items"]
    assert devices_of(item) == [("gpus", "gpu.example.com", "node-b", "gpu-0")]


V1BETA1 = """\
apiVersion: resource.k8s.io/v1beta1
kind: ResourceSlice
metadata: {name: old-slice}
spec:
  driver: gpu.example.com
  nodeName: node-a
  pool: {name: old, generation: 1, resourceSliceCount: 1}
  devices:
  - name: gpu-0
    basic:
      attributes:
        model: {string: a100}
      capacity:
        memory: {value: 40Gi}
  - name: gpu-1
    basic:
      attributes:
        model: {string: v100}
---
apiVersion: resource.k8s.io/v1beta1
kind: DeviceClass
metadata: {name: gpu}
spec:
  selectors:
  - cel: {expression: 'device.driver == "gpu.example.com"'}
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
      count: 1
      selectors:
      - cel: {expression: 'device.attributes["gpu.example.com"].model == "v100"'}
"""


def test_v1beta1_devices_and_requests_are_read_in_their_old_shape(tmp_path: Path) -> None:
    path = write(tmp_path, "old.yaml", V1BETA1)
    result = invoke("allocate", "-f", path, "--node", "node-a", "-o", "json")
    assert result.exit_code == 0, result.stderr
    (item,) = json.loads(result.stdout)["items"]
    assert devices_of(item) == [("gpus", "gpu.example.com", "old", "gpu-1")]


def test_a_v1beta1_claim_is_printed_as_one_consistent_v1_object(tmp_path: Path) -> None:
    path = write(tmp_path, "old.yaml", V1BETA1)
    result = invoke("allocate", "-f", path, "--node", "node-a", "-o", "json")
    assert result.exit_code == 0
    (item,) = json.loads(result.stdout)["items"]
    (request,) = item["spec"]["devices"]["requests"]
    assert "exactly" in request
    assert item["apiVersion"] == "resource.k8s.io/v1"


# ------------------------------------------------------------------------------ exit 1


def test_exit_1_with_node_explains_request_by_request_on_stderr(tmp_path: Path) -> None:
    path = write(tmp_path, "in.yaml", documents(CLUSTER, claim("two", count=2)))
    result = invoke("allocate", "-f", path, "--node", "node-a")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert stderr_lines(result) == [
        "claim default/two on node node-a: cannot be allocated: not enough matching devices",
        "  request gpus: 1 of 1 devices fit (needs 2)",
        "0/1 nodes can allocate the claim",
    ]


def test_exit_1_when_claims_fit_alone_but_not_together(tmp_path: Path) -> None:
    path = write(tmp_path, "in.yaml", documents(CLUSTER, claim("a", 2), claim("b", 2)))
    result = invoke("allocate", "-f", path, "--node", "node-b")
    assert result.exit_code == 1
    assert stderr_lines(result) == [
        "node node-b: each claim fits alone, but not all 2 claims together",
        "0/1 nodes can allocate all 2 claims",
    ]


def test_exit_1_without_node_explains_every_node_tried_request_by_request(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "in.yaml", documents(CLUSTER, claim("three", count=3)))
    result = invoke("allocate", "-f", path)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert stderr_lines(result) == [
        "claim default/three on node node-a: cannot be allocated: not enough matching devices",
        "  request gpus: 1 of 1 devices fit (needs 3)",
        "claim default/three on node node-b: cannot be allocated: not enough matching devices",
        "  request gpus: 2 of 2 devices fit (needs 3)",
        "0/2 nodes can allocate the claim",
    ]


# ------------------------------------------------------------------------------ exit 3


def test_exit_3_for_a_cel_runtime_error(tmp_path: Path) -> None:
    bad = claim("bad", selector='device.attributes["gpu.example.com"].nosuch == "x"')
    path = write(tmp_path, "in.yaml", documents(CLUSTER, bad))
    result = invoke("allocate", "-f", path, "--node", "node-a")
    assert result.exit_code == 3
    assert result.stdout == ""
    (line,) = stderr_lines(result)
    assert line.startswith("error: claim default/bad: selector #0: CEL runtime error: ")
    assert "no such key" in line and "nosuch" in line


def test_exit_3_for_an_unknown_device_class(tmp_path: Path) -> None:
    path = write(tmp_path, "in.yaml", documents(CLUSTER, claim("c", device_class="nosuch")))
    result = invoke("allocate", "-f", path)
    assert result.exit_code == 3
    assert stderr_lines(result) == [
        "error: claim default/c, request gpus: could not retrieve device class nosuch: "
        'deviceclass.resource.k8s.io "nosuch" not found'
    ]


def _hopeless(devices: int) -> str:
    """Two devices with equal `idx` among devices whose `idx` all differ: the search tries
    every pair before it can say no."""
    listed = "".join(
        f"  - name: d{i}\n    attributes:\n      idx: {{int: {i}}}\n" for i in range(devices)
    )
    slice_ = (
        "apiVersion: resource.k8s.io/v1\nkind: ResourceSlice\nmetadata: {name: many}\n"
        "spec:\n  driver: gpu.example.com\n  nodeName: node-a\n"
        "  pool: {name: many, generation: 1, resourceSliceCount: 1}\n  devices:\n" + listed
    )
    pair = claim("pair", count=2) + "    constraints:\n    - matchAttribute: gpu.example.com/idx\n"
    node = "apiVersion: v1\nkind: Node\nmetadata: {name: node-a}\n"
    gpu_class = "apiVersion: resource.k8s.io/v1\nkind: DeviceClass\nmetadata: {name: gpu}\n"
    return documents(node, gpu_class, slice_, pair)


def test_exit_3_when_the_search_gives_up_after_timeout(tmp_path: Path) -> None:
    path = write(tmp_path, "in.yaml", _hopeless(40))
    result = invoke("allocate", "-f", path, "--node", "node-a", "--timeout", "0.000001")
    assert result.exit_code == 3
    (line,) = stderr_lines(result)
    assert line.startswith("node node-a: gave up: ")
    assert "timed out trying to allocate devices" in line


def test_timeout_0_means_no_limit(tmp_path: Path) -> None:
    path = write(tmp_path, "in.yaml", _hopeless(40))
    result = invoke("allocate", "-f", path, "--node", "node-a", "--timeout", "0")
    assert result.exit_code == 1


def test_without_node_a_node_with_an_invalid_pool_is_passed_over(tmp_path: Path) -> None:
    path = write(tmp_path, "in.yaml", documents(CLUSTER, INVALID_POOL, claim("two", count=2)))
    result = invoke("allocate", "-f", path)
    assert result.exit_code == 0
    assert stderr_lines(result) == [
        "node node-a: invalid resource pools were encountered",
        "allocated on node node-b",
    ]


def test_without_node_an_invalid_pool_is_named_when_nothing_fits(tmp_path: Path) -> None:
    path = write(tmp_path, "in.yaml", documents(CLUSTER, INVALID_POOL, claim("four", count=4)))
    result = invoke("allocate", "-f", path)
    assert result.exit_code == 1
    assert "node node-a: invalid resource pools were encountered" in stderr_lines(result)


def test_exit_1_with_node_says_why_when_the_node_has_an_invalid_pool(tmp_path: Path) -> None:
    path = write(tmp_path, "in.yaml", documents(CLUSTER, INVALID_POOL, claim("two", count=2)))
    result = invoke("allocate", "-f", path, "--node", "node-a")
    assert result.exit_code == 1
    assert "invalid resource pools were encountered" in result.stderr
