"""Reading options every command shares (-R, --validate, -v), --node checks, `explain --pod`
and `allocate` on input with nothing to allocate, as a user meets them at the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_kit import CLUSTER, QUICKSTART, ROOT, claim, documents, invoke, write

# Two nodes with two H100s each, from `dralloc cluster generate` (tests/manifests).
GPU_CLUSTER = str(ROOT / "tests" / "manifests" / "cluster.yaml")
MISSPELLED = claim("c").replace("count: 1", "cout: 1")
SIDE = """\
apiVersion: v1
kind: Namespace
metadata: {name: default}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {a: b}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: more}
"""


def test_validate_strict_is_the_default_and_names_the_field_meant(tmp_path: Path) -> None:
    path = write(tmp_path, "in.yaml", documents(CLUSTER, MISSPELLED))
    result = invoke("allocate", "-f", path)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert 'unknown field "cout" (did you mean "count"?)' in result.stderr


def test_validate_warn_warns_and_allocates(tmp_path: Path) -> None:
    path = write(tmp_path, "in.yaml", documents(CLUSTER, MISSPELLED))
    result = invoke("allocate", "-f", path, "--validate", "warn")
    assert result.exit_code == 0, result.stderr
    assert "warning: " in result.stderr
    assert 'unknown field "cout"' in result.stderr


def test_validate_ignore_allocates_silently(tmp_path: Path) -> None:
    path = write(tmp_path, "in.yaml", documents(CLUSTER, MISSPELLED))
    result = invoke("allocate", "-f", path, "--validate=ignore")
    assert result.exit_code == 0, result.stderr
    assert "cout" not in result.stderr


def test_kinds_set_aside_are_named_once_with_v(tmp_path: Path) -> None:
    path = write(tmp_path, "in.yaml", documents(SIDE, CLUSTER, claim("c")))
    quiet = invoke("allocate", "-f", path)
    assert quiet.exit_code == 0, quiet.stderr
    assert "set aside" not in quiet.stderr
    loud = invoke("allocate", "-f", path, "-v")
    assert loud.exit_code == 0
    (line,) = [x for x in loud.stderr.splitlines() if x.startswith("set aside")]
    assert line == "set aside, dralloc has no use for them: 1 Namespace (v1), 2 ConfigMap (v1)"


def test_a_folder_is_read_and_r_reads_it_recursively(tmp_path: Path) -> None:
    folder = tmp_path / "manifests"
    (folder / "claims").mkdir(parents=True)
    (folder / "cluster.yaml").write_text(CLUSTER)
    (folder / "claims" / "c.yaml").write_text(claim("c"))
    flat = invoke("allocate", "-f", str(folder))
    assert flat.exit_code == 2  # the claim is one folder down: nothing to allocate
    assert "nothing to allocate" in flat.stderr
    deep = invoke("allocate", "-f", str(folder), "-R")
    assert deep.exit_code == 0, deep.stderr


def test_a_node_the_input_does_not_define_is_an_input_error(tmp_path: Path) -> None:
    path = write(tmp_path, "in.yaml", documents(CLUSTER, claim("c")))
    for command in (["allocate"], ["explain", "--claim", "c"]):
        result = invoke(*command, "-f", path, "--node", "node-zz")
        assert result.exit_code == 2, command
        assert "--node: node 'node-zz' is not in the input (nodes: node-a" in result.stderr


def test_allocate_on_templates_alone_says_what_to_do(tmp_path: Path) -> None:
    template = """\
apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata: {name: one-gpu}
spec:
  spec:
    devices:
      requests:
      - name: gpu
        exactly: {deviceClassName: gpu}
"""
    path = write(tmp_path, "in.yaml", documents(CLUSTER, template))
    result = invoke("allocate", "-f", path)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "ResourceClaimTemplate default/one-gpu" in result.stderr
    assert "dralloc schedule" in result.stderr


POD = """\
apiVersion: v1
kind: Pod
metadata: {name: trainer}
spec:
  containers:
  - name: c
    image: x
    resources:
      claims: [{name: gpus}]
  resourceClaims:
  - name: gpus
    resourceClaimTemplateName: two-gpus
---
apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata: {name: two-gpus}
spec:
  spec:
    devices:
      requests:
      - name: gpus
        exactly: {deviceClassName: gpu.nvidia.com, count: 2}
"""


def test_explain_pod_shows_every_node_and_its_claims(tmp_path: Path) -> None:
    path = write(tmp_path, "pod.yaml", POD)
    result = invoke("explain", "-f", GPU_CLUSTER, "-f", path, "--pod", "trainer")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("pod default/trainer: fits; kube-scheduler picks node h100-")
    assert lines[1].split() == ["NODE", "VERDICT", "REASONS"]
    assert any(line.startswith("claim default/trainer-gpus-") for line in lines)


def test_explain_pod_json_and_a_pod_claim_by_name(tmp_path: Path) -> None:
    path = write(tmp_path, "pod.yaml", POD)
    result = invoke(
        "explain", "-f", GPU_CLUSTER, "-f", path, "--pod", "default/trainer", "-o", "json"
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["pod"] == "default/trainer"
    assert {n["node"] for n in report["nodes"]} == {"h100-80gb-sxm-00", "h100-80gb-sxm-01"}
    (claim_report,) = report["claims"]
    assert claim_report["podClaim"] == "gpus"
    one = invoke(
        "explain", "-f", str(QUICKSTART), "-f", path, "--pod", "trainer", "--claim", "gpus"
    )
    assert one.exit_code == 0, one.stderr
    assert "request gpus (class gpu.nvidia.com, needs 2" in one.stdout
    by_prefix = invoke("explain", "-f", GPU_CLUSTER, "-f", path, "--claim", "trainer-gpus")
    assert by_prefix.exit_code == 0, by_prefix.stderr
    assert by_prefix.stdout.startswith("claim default/trainer-gpus-")


def test_explain_needs_a_claim_or_a_pod() -> None:
    result = invoke("explain", "-f", str(QUICKSTART))
    assert result.exit_code == 2
    assert "give --claim NAME or --pod NAME" in result.stderr


def test_progress_is_shown_on_a_terminal_only_and_yields_every_item(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import io

    from dralloc.cli import explaining

    items = list(range(explaining.PROGRESS_AFTER_NODES + 5))
    assert list(explaining.with_progress(items, "x")) == items  # not a terminal: plain
    terminal = io.StringIO()
    monkeypatch.setattr(terminal, "isatty", lambda: True)
    monkeypatch.setattr(explaining.sys, "stderr", terminal)
    assert list(explaining.with_progress(items, "explaining")) == items
