"""Exit code 2: invalid input, one stderr line per problem naming file, object and field
(README "Commands", style.md section 5). Nothing is written to stdout and no traceback appears
(`invoke` checks the latter for every test)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from cli_kit import CLUSTER, claim, documents, invoke, stderr_lines, write
from click.testing import Result


def _rejected(*args: str) -> list[str]:
    result = invoke(*args)
    assert result.exit_code == 2, result.stderr
    assert result.stdout == ""
    return stderr_lines(result)


def _only_line(*args: str) -> str:
    (line,) = _rejected(*args)
    return line


def test_malformed_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", "apiVersion: v1\nkind: Node\nmetadata: {name: [x\n")
    line = _only_line("allocate", "-f", path)
    assert line.startswith(f"{path}: line 4, column 1: invalid YAML: ")


def test_a_wrong_type_names_file_object_field_and_both_types(tmp_path: Path) -> None:
    text = claim("c1").replace("count: 1", 'count: "two"')
    path = write(tmp_path, "claim.yaml", documents(CLUSTER, text))
    line = _only_line("allocate", "-f", path)
    assert line.startswith(f"{path}: ResourceClaim ")
    assert line.endswith(
        ": spec.devices.requests[0].exactly.count: wrong type: expected integer, got string"
    )


def test_a_wrong_type_names_the_object_as_kind_namespace_slash_name(tmp_path: Path) -> None:
    text = claim("c1").replace("count: 1", 'count: "two"')
    path = write(tmp_path, "claim.yaml", documents(CLUSTER, text))
    line = _only_line("allocate", "-f", path)
    assert line.startswith(f"{path}: ResourceClaim default/c1: spec.devices.requests[0]")


def test_a_kind_no_kubernetes_group_defines_is_rejected_with_the_kind_it_meant(
    tmp_path: Path,
) -> None:
    text = "apiVersion: resource.k8s.io/v1\nkind: ResourceClaimTemplat\nmetadata: {name: x}\n"
    path = write(tmp_path, "typo.yaml", text)
    assert _only_line("allocate", "-f", path) == (
        f"{path}: ResourceClaimTemplat x: kind: unknown kind 'ResourceClaimTemplat' in "
        "resource.k8s.io (resource.k8s.io/v1) (did you mean 'ResourceClaimTemplate'?)"
    )


def test_an_unsupported_api_version_is_rejected_with_the_supported_ones(tmp_path: Path) -> None:
    text = "apiVersion: resource.k8s.io/v1alpha3\nkind: DeviceClass\nmetadata: {name: old}\n"
    path = write(tmp_path, "old.yaml", text)
    assert _only_line("allocate", "-f", path) == (
        f"{path}: DeviceClass old: apiVersion: unsupported apiVersion 'resource.k8s.io/v1alpha3' "
        "for DeviceClass (expected one of: resource.k8s.io/v1, resource.k8s.io/v1beta2, "
        "resource.k8s.io/v1beta1)"
    )


def test_an_invalid_name_is_rejected(tmp_path: Path) -> None:
    text = "apiVersion: resource.k8s.io/v1\nkind: DeviceClass\nmetadata: {name: Bad_Name}\n"
    path = write(tmp_path, "cls.yaml", text)
    line = _only_line("allocate", "-f", path)
    assert line.startswith(
        f'{path}: DeviceClass Bad_Name: metadata.name: Invalid value: "Bad_Name"'
    )
    assert "RFC 1123 subdomain" in line


CEL_PATH = "spec.devices.requests[0].exactly.selectors[0].cel.expression"


def test_a_cel_syntax_error_names_the_selector_field_path(tmp_path: Path) -> None:
    path = write(tmp_path, "in.yaml", documents(CLUSTER, claim("c", selector="device.driver == ")))
    lines = _rejected("allocate", "-f", path)
    assert lines[0].startswith(f"{path}: ResourceClaim default/c: {CEL_PATH}: ")
    assert "Syntax error" in lines[0]


def test_a_cel_syntax_error_takes_exactly_one_stderr_line(tmp_path: Path) -> None:
    path = write(tmp_path, "in.yaml", documents(CLUSTER, claim("c", selector="device.driver == ")))
    assert len(_rejected("allocate", "-f", path)) == 1


def test_a_selector_using_an_undeclared_name_is_rejected_before_allocating(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "in.yaml", documents(CLUSTER, claim("c", selector="dev.driver == 1")))
    lines = _rejected("allocate", "-f", path)
    assert lines[0].startswith(f"{path}: ResourceClaim default/c: {CEL_PATH}: ")
    assert "undeclared reference" in lines[0]


def test_a_duplicate_object_names_where_it_was_first_defined(tmp_path: Path) -> None:
    first = write(tmp_path, "cluster.yaml", CLUSTER)
    again = "apiVersion: resource.k8s.io/v1\nkind: DeviceClass\nmetadata: {name: gpu}\n"
    second = write(tmp_path, "more.yaml", again)
    assert _only_line("allocate", "-f", first, "-f", second) == (
        f"{second}: DeviceClass gpu: metadata.name: duplicate object "
        f"(first defined in {first}, document 3)"
    )


def test_same_name_in_another_namespace_is_not_a_duplicate(tmp_path: Path) -> None:
    other = claim("c").replace("namespace: default", "namespace: other")
    path = write(tmp_path, "in.yaml", documents(CLUSTER, claim("c"), other))
    result = invoke("allocate", "-f", path, "--node", "node-b")
    assert result.exit_code == 0


@pytest.mark.parametrize(
    ("gates", "message"),
    [
        ("NoSuchGate=true", "--feature-gates: unknown feature gate 'NoSuchGate' (known: "),
        ("DRADeviceTaints", "--feature-gates: feature gate 'DRADeviceTaints': expected "),
        ("DRADeviceTaints=maybe", "--feature-gates: feature gate DRADeviceTaints: value must "),
    ],
)
def test_bad_feature_gates_are_rejected_in_one_line(
    tmp_path: Path, gates: str, message: str
) -> None:
    path = write(tmp_path, "in.yaml", documents(CLUSTER, claim("c")))
    line = _only_line("allocate", "-f", path, "--feature-gates", gates)
    assert line.startswith(message)


def test_switching_off_a_locked_gate_only_warns(tmp_path: Path) -> None:
    path = write(tmp_path, "in.yaml", documents(CLUSTER, claim("c")))
    result = invoke(
        "allocate", "-f", path, "--node", "node-a", "--feature-gates", "DRAAdminAccess=false"
    )
    assert result.exit_code == 0
    assert stderr_lines(result)[0].startswith("warning: feature gate DRAAdminAccess is GA")


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.yaml")
    assert _only_line("allocate", "-f", missing) == (
        f"{missing}: cannot read file: No such file or directory"
    )


def test_a_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"apiVersion: v1\nkind: Node\nmetadata: {name: n\xe9}\n")
    assert _only_line("allocate", "-f", str(path)) == f"{path}: file is not UTF-8 text"


def test_a_document_that_is_not_an_object_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "list.yaml", "- just\n- a list\n")
    assert _only_line("allocate", "-f", path) == f"{path}: document 1: expected an object, got list"


def test_every_problem_in_every_file_is_reported_at_once_sorted_by_file(tmp_path: Path) -> None:
    missing_kind = write(tmp_path, "a.yaml", "apiVersion: v1\nmetadata: {name: x}\n")
    bad_count = write(
        tmp_path, "b.yaml", claim("c").replace("count: 1", "count: -1").replace("gpus", "GPUs")
    )
    lines = _rejected("allocate", "-f", bad_count, "-f", missing_kind)
    assert lines[0] == f"{missing_kind}: document 1: kind: missing kind"
    assert len(lines) >= 3
    assert all(line.startswith(f"{bad_count}: ResourceClaim default/c: ") for line in lines[1:])
    paths = [line.split(": ")[2] for line in lines[1:]]
    assert "spec.devices.requests[0].name" in paths
    assert "spec.devices.requests[0].exactly.count" in paths


def test_object_problems_and_selector_problems_are_reported_together(tmp_path: Path) -> None:
    bad_name = "apiVersion: resource.k8s.io/v1\nkind: DeviceClass\nmetadata: {name: Bad_Name}\n"
    bad_cel = claim("c", selector="dev.driver == 1")
    path = write(tmp_path, "in.yaml", documents(CLUSTER, bad_name, bad_cel))
    text = "\n".join(_rejected("allocate", "-f", path))
    assert "DeviceClass Bad_Name: metadata.name" in text
    assert f"ResourceClaim default/c: {CEL_PATH}" in text


def test_no_nodes_anywhere_is_an_input_error(tmp_path: Path) -> None:
    text = textwrap.dedent(
        """\
        apiVersion: resource.k8s.io/v1
        kind: DeviceClass
        metadata: {name: gpu}
        """
    )
    path = write(tmp_path, "in.yaml", documents(text, claim("c")))
    assert _only_line("allocate", "-f", path) == (
        "no nodes: give --node NAME, or Node objects in the input files"
    )


def test_a_missing_filename_option_is_a_usage_error() -> None:
    result: Result = invoke("allocate")
    assert result.exit_code == 2
    assert "Missing option '-f' / '--filename'" in result.stderr


def test_explain_rejects_bad_input_the_same_way(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", "kind: [\n")
    line = _only_line("explain", "-f", path, "--claim", "c")
    assert line.startswith(f"{path}: line ")
    assert "invalid YAML" in line


def test_explain_of_an_unknown_claim_is_an_input_error(tmp_path: Path) -> None:
    path = write(tmp_path, "in.yaml", documents(CLUSTER, claim("c")))
    assert _only_line("explain", "-f", path, "--claim", "default/nosuch") == (
        "claim default/nosuch: no ResourceClaim of that name in the input"
    )


def test_problems_read_from_stdin_name_the_file_stdin() -> None:
    result = invoke("allocate", "-f", "-", stdin="kind: [\n")
    assert result.exit_code == 2
    assert result.stderr.startswith("<stdin>: line ")


def test_a_control_character_in_yaml_is_reported_in_one_line_naming_the_line(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "ctl.yaml", "apiVersion: v1\nkind: Node\nmetadata: {name: a\x01}\n")
    line = _only_line("allocate", "-f", path)
    assert line.startswith(f"{path}: line 3")


def test_a_negative_capacity_request_is_accepted_as_kube_apiserver_accepts_it(
    tmp_path: Path,
) -> None:
    # kube-apiserver 1.36 does not check capacity request amounts (the API differential
    # in tests/k8s shows it accepting "-1"), so reading the claim reports nothing about it.
    claim_file = tmp_path / "neg.yaml"
    claim_file.write_text(
        "apiVersion: resource.k8s.io/v1\nkind: ResourceClaim\n"
        "metadata: {name: neg, namespace: default}\n"
        "spec:\n  devices:\n    requests:\n    - name: gpu\n      exactly:\n"
        "        deviceClassName: gpu.example.com\n"
        "        capacity: {requests: {cores: '-5'}}\n"
    )
    result = invoke("allocate", "-f", str(claim_file), "--node", "n")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "--node: node 'n' is not in the input (the input defines no nodes)"
    )
