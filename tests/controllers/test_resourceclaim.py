"""The ResourceClaim controller: claims from templates, their names, owner, annotations and the
pod's `resourceClaimStatuses` (spec/dra-v1.md 2.7)."""

from __future__ import annotations

import random

import pytest

from dralloc.api.core import Pod, PodResourceClaimStatus
from dralloc.api.io import load_text
from dralloc.api.meta import ObjectMeta, OwnerReference
from dralloc.api.resource import ResourceClaim, ResourceClaimTemplate
from dralloc.controllers import (
    POD_CLAIM_NAME_ANNOTATION,
    InMemoryClaimClient,
    ResourceClaimController,
    generate_name_prefix,
    generated_name,
)
from dralloc.controllers.resourceclaim import NAME_ALPHABET
from dralloc.errors import ConflictError

TEMPLATE = """\
apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata: {name: one-gpu, namespace: ml}
spec:
  metadata:
    labels: {team: vision}
    annotations: {note: from-template}
  spec:
    devices:
      requests:
      - name: gpu
        exactly: {deviceClassName: gpu}
"""

POD = """\
apiVersion: v1
kind: Pod
metadata: {name: train-0, namespace: ml, uid: "1111"}
spec:
  resourceClaims:
  - name: shared
    resourceClaimName: dataset-cache
  - name: gpu
    resourceClaimTemplateName: one-gpu
  - name: scratch
    resourceClaimTemplateName: one-gpu
  containers:
  - name: c
"""


def _load(text: str) -> list[object]:
    objects, problems = load_text(text, "<test>")
    assert problems == []
    return [o.obj for o in objects]


def _template() -> ResourceClaimTemplate:
    (template,) = _load(TEMPLATE)
    assert isinstance(template, ResourceClaimTemplate)
    return template


def _pod(text: str = POD) -> Pod:
    (pod,) = _load(text)
    assert isinstance(pod, Pod)
    return pod


def _controller(seed: int = 0) -> tuple[ResourceClaimController, InMemoryClaimClient]:
    client = InMemoryClaimClient(templates=[_template()], rng=random.Random(seed))
    return ResourceClaimController(client), client


@pytest.mark.parametrize(
    ("pod", "claim", "prefix"),
    [
        ("web-0", "gpu", "web-0-gpu-"),
        ("p" * 40, "c" * 15, "p" * 40 + "-" + "c" * 15 + "-"),  # 57 characters: kept
        # 58 characters: both parts cut to len * 57 // 58, joined without a trailing "-".
        ("p" * 40, "c" * 16, "p" * 39 + "-" + "c" * 15),
        ("p" * 100, "gpu", "p" * 54 + "-" + "g"),  # 100 * 57 // 105, 3 * 57 // 105
    ],
)
def test_the_generate_name_is_pod_dash_claim_dash_cut_in_proportion_past_57_characters(
    pod: str, claim: str, prefix: str
) -> None:
    assert generate_name_prefix(pod, claim) == prefix
    assert len(prefix) <= 57


def test_the_api_server_appends_five_characters_of_its_alphabet() -> None:
    name = generated_name("web-0-gpu-", random.Random(7))
    assert name.startswith("web-0-gpu-")
    suffix = name.removeprefix("web-0-gpu-")
    assert len(suffix) == 5
    assert set(suffix) <= set(NAME_ALPHABET)
    assert generated_name("web-0-gpu-", random.Random(7)) == name


def test_a_template_entry_gets_a_claim_owned_by_the_pod_with_the_templates_metadata() -> None:
    controller, client = _controller()
    result = controller.sync_pod(_pod())
    assert result.problems == ()
    gpu, scratch = result.created
    assert gpu.metadata.name.startswith("train-0-gpu-")
    assert len(gpu.metadata.name) == len("train-0-gpu-") + 5
    assert gpu.metadata.generate_name == "train-0-gpu-"
    assert gpu.metadata.namespace == "ml"
    assert gpu.metadata.labels == {"team": "vision"}
    assert gpu.metadata.annotations == {
        "note": "from-template",
        POD_CLAIM_NAME_ANNOTATION: "gpu",
    }
    assert gpu.metadata.owner_references == [
        OwnerReference(
            api_version="v1",
            kind="Pod",
            name="train-0",
            uid="1111",
            controller=True,
        )
    ]
    assert gpu.spec == _template().spec.spec
    assert gpu.spec is not _template().spec.spec
    assert scratch.metadata.annotations[POD_CLAIM_NAME_ANNOTATION] == "scratch"
    assert client.created == [gpu, scratch]


def test_the_pod_status_records_each_template_entrys_claim_in_spec_order() -> None:
    controller, _ = _controller()
    result = controller.sync_pod(_pod())
    gpu, scratch = result.created
    assert result.pod.status.resource_claim_statuses == [
        PodResourceClaimStatus(name="gpu", resource_claim_name=gpu.metadata.name),
        PodResourceClaimStatus(name="scratch", resource_claim_name=scratch.metadata.name),
    ]


def test_syncing_again_finds_the_claims_instead_of_creating_new_ones() -> None:
    controller, client = _controller()
    first = controller.sync_pod(_pod())
    again = controller.sync_pod(first.pod)
    assert again.created == ()
    assert again.pod.status == first.pod.status
    # A claim created before the status update was lost is found by owner and annotation.
    lost = controller.sync_pod(_pod())
    assert lost.created == ()
    assert lost.pod.status == first.pod.status
    assert len(client.created) == 2


def test_the_same_seed_gives_the_same_names_and_another_seed_others() -> None:
    names = [
        [c.metadata.name for c in _controller(seed)[0].sync_pod(_pod()).created]
        for seed in (3, 3, 4)
    ]
    assert names[0] == names[1]
    assert names[0] != names[2]


def test_a_missing_template_is_a_problem_naming_the_field() -> None:
    controller = ResourceClaimController(InMemoryClaimClient())
    result = controller.sync_pod(_pod())
    assert result.created == ()
    assert result.problems == (
        (
            "spec.resourceClaims[1].resourceClaimTemplateName",
            "resource claim template 'one-gpu' not found in namespace ml",
        ),
        (
            "spec.resourceClaims[2].resourceClaimTemplateName",
            "resource claim template 'one-gpu' not found in namespace ml",
        ),
    )


def test_terminal_pods_get_no_claims() -> None:
    controller, _ = _controller()
    pod = _pod(POD.replace("  - name: c\n", "  - name: c\nstatus: {phase: Succeeded}\n"))
    assert controller.sync_pod(pod).created == ()


def test_a_recorded_claim_that_the_pod_does_not_own_is_replaced() -> None:
    controller, client = _controller()
    stranger = ResourceClaim(metadata=ObjectMeta(name="train-0-gpu-zzzzz", namespace="ml"))
    client.claims[("ml", "train-0-gpu-zzzzz")] = stranger
    pod = _pod()
    pod.status.resource_claim_statuses.append(
        PodResourceClaimStatus(name="gpu", resource_claim_name="train-0-gpu-zzzzz")
    )
    result = controller.sync_pod(pod)
    assert [c.metadata.annotations[POD_CLAIM_NAME_ANNOTATION] for c in result.created] == [
        "gpu",
        "scratch",
    ]
    assert result.pod.status.resource_claim_statuses[0].resource_claim_name != "train-0-gpu-zzzzz"


def test_creating_a_named_claim_twice_conflicts() -> None:
    client = InMemoryClaimClient()
    claim = ResourceClaim(metadata=ObjectMeta(name="c", namespace="ml"))
    client.create_claim(claim)
    with pytest.raises(ConflictError, match="already exists"):
        client.create_claim(claim)
