"""`--autoscaling-objects` manifests as a replay reads them (`load_autoscaling_objects`): a
second object of one kind, namespace and name is refused as kube-apiserver refuses it; a
`scalableRef` CapacityBuffer is refused (nothing in a replay for it to follow); a
ProvisioningRequest of a class cluster-autoscaler does not serve, or read for an autoscaler
that serves none, is kept with a warning; problems count documents from 1."""

from __future__ import annotations

from pathlib import Path

import pytest
from autoscalingkit import FOUR_GPUS_TEMPLATE

from dralloc.autoscaling.config import Mode
from dralloc.autoscaling.objects import load_autoscaling_objects, parse_autoscaling_objects_text
from dralloc.errors import InputError

TEMPLATE = (
    """\
apiVersion: v1
kind: PodTemplate
metadata: {name: chunk, namespace: default}
template:
  spec:
    containers:
    - {name: main, image: pause, resources: {requests: {cpu: "4"}}}
    resourceClaims:
    - {name: gpu, resourceClaimTemplateName: four-gpus}
---
"""
    + FOUR_GPUS_TEMPLATE
)


def buffer(spec: str, name: str = "warm") -> str:
    return f"""\
---
apiVersion: autoscaling.x-k8s.io/v1beta1
kind: CapacityBuffer
metadata: {{name: {name}, namespace: default}}
spec: {spec}
"""


def request(name: str, class_name: str) -> str:
    return f"""\
---
apiVersion: autoscaling.x-k8s.io/v1
kind: ProvisioningRequest
metadata: {{name: {name}, namespace: default}}
spec:
  provisioningClassName: {class_name}
  podSets: [{{podTemplateRef: {{name: chunk}}, count: 1}}]
"""


def problems(text: str, file: str = "objects.yaml") -> list[str]:
    with pytest.raises(InputError) as caught:
        parse_autoscaling_objects_text(text, file)
    return str(caught.value).splitlines()


def test_a_second_buffer_of_the_same_name_is_refused_naming_its_document() -> None:
    text = TEMPLATE + buffer("{podTemplateRef: {name: chunk}, replicas: 1}")
    text += buffer("{podTemplateRef: {name: chunk}, replicas: 3}")
    assert problems(text) == [
        "objects.yaml: document 4: metadata.name: CapacityBuffer default/warm already exists "
        "(document 3): names are unique per kind and namespace"
    ]
    # Another namespace, or another kind, is another object.
    other = buffer("{podTemplateRef: {name: chunk}, replicas: 1}", name="chunk")
    read = parse_autoscaling_objects_text(TEMPLATE + other, "objects.yaml")
    assert [b.name for b in read.capacity_buffers] == ["chunk"]


def test_a_second_pod_template_of_the_same_name_is_refused() -> None:
    first_template = TEMPLATE.split("---\n")[0]
    assert problems(TEMPLATE + "---\n" + first_template) == [
        "objects.yaml: document 3: metadata.name: PodTemplate default/chunk already exists "
        "(document 1): names are unique per kind and namespace"
    ]


def test_a_scalable_ref_buffer_is_refused_for_a_replay(tmp_path: Path) -> None:
    text = buffer("{scalableRef: {apiGroup: apps, kind: Deployment, name: web}, replicas: 2}")
    path = tmp_path / "o4.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        load_autoscaling_objects(str(path))
    assert str(caught.value).splitlines() == [
        f"{path}: CapacityBuffer default/warm: spec.scalableRef: a replay has no Deployment, "
        "StatefulSet or other scalable object to size the buffer from, so it would hold "
        "nothing; use podTemplateRef with replicas"
    ]
    # The CRD allows it: parsing for anything but a replay keeps it.
    (kept,) = parse_autoscaling_objects_text(text, "o4.yaml").capacity_buffers
    assert kept.scalable_ref is not None


def test_a_request_of_a_class_cluster_autoscaler_does_not_serve_is_kept_with_a_warning() -> None:
    text = (
        TEMPLATE
        + request("pr1", "bogus.x-k8s.io")
        + request("pr2", "check-capacity.autoscaling.x-k8s.io")
    )
    read = parse_autoscaling_objects_text(text, "o3.yaml")
    assert [r.key for r in read.provisioning_requests] == ["default/pr1", "default/pr2"]
    assert read.provisioning_requests[0].provisioning_class is None  # never served
    assert read.warnings == (
        "o3.yaml: ProvisioningRequest default/pr1: spec.provisioningClassName: bogus.x-k8s.io "
        "is not a class cluster-autoscaler serves (check-capacity.autoscaling.x-k8s.io and "
        "best-effort-atomic-scale-up.autoscaling.x-k8s.io): it is ignored, never served",
    )
    assert read.warnings_for(Mode.CLUSTER_AUTOSCALER, serve_requests=True) == read.warnings


@pytest.mark.parametrize(
    ("mode", "serve", "why"),
    [
        (Mode.KARPENTER, True, "Karpenter does not serve ProvisioningRequests"),
        (Mode.CLUSTER_AUTOSCALER, False, "options.enableProvisioningRequests is off"),
        (None, True, None),
    ],
)
def test_requests_no_autoscaler_will_serve_are_warned_of_once(
    mode: Mode | None, serve: bool, why: str | None
) -> None:
    text = TEMPLATE + request("a", "check-capacity.autoscaling.x-k8s.io")
    text += request("b", "best-effort-atomic-scale-up.autoscaling.x-k8s.io")
    read = parse_autoscaling_objects_text(text, "o9.yaml")
    lines = read.warnings_for(mode or Mode.CLUSTER_AUTOSCALER, serve_requests=serve)
    expected = (
        ()
        if why is None
        else (f"o9.yaml: ProvisioningRequests default/a, default/b never served: {why}",)
    )
    assert lines == expected


def test_a_wrong_kind_names_its_document_counting_from_one() -> None:
    assert problems("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n") == [
        "objects.yaml: document 1: kind: expected ProvisioningRequest, CapacityBuffer, "
        'PodTemplate or ResourceClaimTemplate, got "ConfigMap"'
    ]
