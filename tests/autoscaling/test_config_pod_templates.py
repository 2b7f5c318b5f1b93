"""core/v1 PodTemplates (which ProvisioningRequests and CapacityBuffers name) are a kind
`dralloc.api.io` reads, not one it sets aside: decoded, validated as upstream's
ValidatePodTemplate (metadata, then the template as the Pod it makes, at `template.` paths),
field-checked under each `--validate` mode, defaulted as the API server defaults them, and
written back in the Kubernetes shape."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from dralloc.api.io import (
    FieldValidation,
    LoadedObject,
    ReadNotes,
    kube_dict,
    load_text,
    read_files,
)
from dralloc.api.podtemplate import PodTemplate
from dralloc.autoscaling import parse_autoscaling_objects_text
from dralloc.cli.main import app
from dralloc.errors import Problem

GOOD = """\
apiVersion: v1
kind: PodTemplate
metadata: {name: one-gpu, namespace: ml}
template:
  metadata: {labels: {app: train}}
  spec:
    containers:
    - name: c
      image: trainer
      resources: {limits: {nvidia.com/gpu: 1}}
"""
BAD = """\
apiVersion: v1
kind: PodTemplate
metadata: {name: Bad_Name, labels: {"a b": x}}
templat: {}
template:
  metadata: {labels: {"-x": y}}
  spec:
    containers: [{name: c, image: x}]
    sparkle: 1
"""


def _read(
    tmp_path: Path, text: str, validation: FieldValidation
) -> tuple[list[LoadedObject], list[Problem], ReadNotes]:
    path = tmp_path / "templates.yaml"
    path.write_text(text)
    notes = ReadNotes()
    objects, problems = read_files([str(path)], validation=validation, notes=notes)
    return objects, problems, notes


def test_a_pod_template_is_read_defaulted_and_written_back(tmp_path: Path) -> None:
    objects, problems, notes = _read(tmp_path, GOOD, FieldValidation.strict)
    assert problems == [] and notes.set_aside == []
    (loaded,) = objects
    assert isinstance(loaded.obj, PodTemplate) and loaded.ref == "PodTemplate ml/one-gpu"
    template = loaded.obj.template
    assert template.metadata.labels == {"app": "train"}
    # The API server defaults the template's spec as a Pod's: requests from limits.
    resources = template.spec.containers[0].resources
    assert str(resources.requests["nvidia.com/gpu"]) == "1"
    assert kube_dict(loaded.obj) == {
        "apiVersion": "v1",
        "kind": "PodTemplate",
        "metadata": {"name": "one-gpu", "namespace": "ml"},
        "template": {
            "metadata": {"labels": {"app": "train"}},
            "spec": {
                "containers": [
                    {
                        "name": "c",
                        "image": "trainer",
                        "resources": {
                            "requests": {"nvidia.com/gpu": "1"},
                            "limits": {"nvidia.com/gpu": "1"},
                        },
                    }
                ]
            },
        },
    }


def test_a_list_of_pod_templates_lands_in_the_default_namespace() -> None:
    text = (
        "apiVersion: v1\nkind: PodTemplateList\nitems:\n"
        "- {apiVersion: v1, kind: PodTemplate, metadata: {name: a},"
        " template: {spec: {containers: [{name: c, image: x}]}}}\n"
    )
    (loaded,), problems = load_text(text, "list.yaml")
    assert problems == []
    assert isinstance(loaded.obj, PodTemplate) and loaded.obj.metadata.namespace == "default"


def test_every_problem_is_found_at_its_path_under_each_validation_mode(tmp_path: Path) -> None:
    checked = [
        ("metadata.name", 'Invalid value: "Bad_Name"'),
        ("metadata.labels", 'Invalid value: "a b"'),
        ("template.metadata.labels", 'Invalid value: "-x"'),
    ]
    unknown = [
        ("templat", 'unknown field "templat" (did you mean "template"?)'),
        ("template.spec.sparkle", 'unknown field "sparkle"'),
    ]

    _, strict, _ = _read(tmp_path, BAD, FieldValidation.strict)
    assert {p.obj for p in strict} == {"PodTemplate Bad_Name"}
    shown = {(p.field, p.message) for p in strict}
    for field, start in checked:
        assert any(f == field and m.startswith(start) for f, m in shown), field
    assert set(unknown) <= shown and len(shown) == len(checked) + len(unknown)
    _, warned, notes = _read(tmp_path, BAD, FieldValidation.warn)
    assert {(p.field, p.message) for p in notes.warnings} == set(unknown)
    assert len(warned) == len(checked)
    _, ignored, notes = _read(tmp_path, BAD, FieldValidation.ignore)
    assert len(ignored) == len(checked) and notes.warnings == []


def test_only_the_core_group_serves_pod_templates(tmp_path: Path) -> None:
    _, problems, _ = _read(
        tmp_path, GOOD.replace("apiVersion: v1", "apiVersion: v2"), FieldValidation.strict
    )
    assert [(p.field, p.message) for p in problems] == [
        ("apiVersion", "unsupported apiVersion 'v2' for PodTemplate (expected one of: v1)")
    ]


def test_the_autoscaling_manifest_reader_still_takes_pod_templates() -> None:
    request = """\
apiVersion: autoscaling.x-k8s.io/v1
kind: ProvisioningRequest
metadata: {name: train, namespace: ml}
spec:
  provisioningClassName: check-capacity.autoscaling.x-k8s.io
  podSets: [{podTemplateRef: {name: one-gpu}, count: 2}]
"""
    objects = parse_autoscaling_objects_text(GOOD + "---\n" + request, "requests.yaml")
    assert "ml/one-gpu" in objects.pod_templates


def test_a_command_reads_pod_templates_without_setting_them_aside(tmp_path: Path) -> None:
    path = tmp_path / "in.yaml"
    side = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n"
    path.write_text(GOOD + "---\n" + side)
    result = CliRunner().invoke(app, ["allocate", "-f", str(path), "-v"])
    assert "Traceback" not in result.stdout + result.stderr
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("set aside")]
    assert line == "set aside, dralloc has no use for them: 1 ConfigMap (v1)"
