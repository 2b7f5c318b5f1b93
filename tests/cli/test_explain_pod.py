"""`explain --pod`: a pending pod explained node by node and claim by claim, where `dralloc
schedule` would meet it (after the pods ahead of it in the queue)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dralloc.cli.inputs import read_cluster
from dralloc.cli.podexplain import (
    explain_pod_in_input,
    node_rows,
    pod_report_json,
    pod_report_lines,
)
from dralloc.errors import InputError
from dralloc.features import Features
from dralloc.scheduler.config import SchedulerConfiguration

CLUSTER = """\
apiVersion: v1
kind: Node
metadata: {name: node-a}
status: {allocatable: {cpu: "4", memory: 8Gi, pods: "110"}}
---
apiVersion: v1
kind: Node
metadata: {name: node-b}
spec:
  taints: [{key: dedicated, value: infra, effect: NoSchedule}]
status: {allocatable: {cpu: "16", memory: 64Gi, pods: "110"}}
---
apiVersion: resource.k8s.io/v1
kind: DeviceClass
metadata: {name: gpu}
spec:
  selectors:
  - cel: {expression: device.driver == "gpu.example.com"}
---
apiVersion: resource.k8s.io/v1
kind: ResourceSlice
metadata: {name: node-a-gpu}
spec:
  driver: gpu.example.com
  nodeName: node-a
  pool: {name: node-a, generation: 1, resourceSliceCount: 1}
  devices: [{name: gpu-0}, {name: gpu-1}]
---
apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata: {name: gpus, namespace: ml}
spec:
  spec:
    devices:
      requests:
      - name: gpus
        exactly: {deviceClassName: gpu, count: 2}
"""


def pod(name: str, cpu: str, *, claims: str = "", extra: str = "") -> str:
    """A pod in `ml` whose one container sets only CPU limits (requests default to them)."""
    refs = "\n      claims: [{name: gpus}]" if claims else ""
    spec = textwrap.indent(extra.strip(), "  ") + "\n" if extra else ""
    text = (
        f"apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: ml}}\nspec:\n{spec}"
        f"  containers:\n  - name: c\n    image: x\n    resources:\n"
        f"      limits: {{cpu: '{cpu}'}}{refs}\n"
    )
    if claims:
        text += f"  resourceClaims:\n  - name: gpus\n    {claims}\n"
    return text


def report_for(tmp_path: Path, *docs: str, target: str = "ml/trainer", node: str | None = None):  # type: ignore[no-untyped-def]
    path = tmp_path / "in.yaml"
    path.write_text("---\n".join([CLUSTER, *docs]))
    cluster = read_cluster([str(path)])
    return explain_pod_in_input(cluster, SchedulerConfiguration(), Features(), target, node=node)


def test_every_reason_of_every_node_is_shown_and_the_summary_is_kube_schedulers(
    tmp_path: Path,
) -> None:
    report = report_for(tmp_path, pod("trainer", "6", claims="resourceClaimTemplateName: gpus"))
    assert report.exit_code == 1
    assert node_rows(report) == [
        ("node-a", "no", "NodeResourcesFit: Insufficient cpu"),
        (
            "node-b",
            "no",
            "TaintToleration: node(s) had untolerated taint(s); "
            "DynamicResources: cannot allocate all claims",
        ),
    ]
    assert report.explanation is not None
    assert report.explanation.message() == (
        "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint(s)."
    )
    assert report.message.startswith(report.explanation.message())
    (claim,) = report.claims
    assert claim.source == "template gpus"
    assert claim.claim is not None and claim.claim.startswith("ml/trainer-gpus-")
    fits = {e.node: e.fits for e in claim.explanations}
    assert fits == {"node-a": True, "node-b": False}


def test_the_pod_is_explained_after_the_pods_ahead_of_it_in_the_queue(tmp_path: Path) -> None:
    first = pod("first", "1", claims="resourceClaimTemplateName: gpus", extra="priority: 10")
    report = report_for(
        tmp_path, first, pod("trainer", "1", claims="resourceClaimTemplateName: gpus")
    )
    (claim,) = report.claims
    node_a = next(e for e in claim.explanations if e.node == "node-a")
    assert not node_a.fits
    assert "2 in use" in " ".join(r.summary() for r in node_a.requests)
    lines = pod_report_lines(report)
    assert lines[0].startswith("pod ml/trainer: pending: 0/2 nodes are available:")


def test_a_pod_that_fits_names_the_node_and_exits_0(tmp_path: Path) -> None:
    report = report_for(tmp_path, pod("trainer", "1", claims="resourceClaimTemplateName: gpus"))
    assert (report.scheduled_to, report.exit_code) == ("node-a", 0)
    assert pod_report_json(report)["nodes"][0] == {"node": "node-a", "fits": True, "rejections": []}


def test_a_pod_whose_claim_is_missing_is_held_at_pre_enqueue(tmp_path: Path) -> None:
    report = report_for(tmp_path, pod("trainer", "1", claims="resourceClaimName: nowhere"))
    assert report.gated == 'resourceclaim.resource.k8s.io "nowhere" not found'
    assert report.exit_code == 1
    assert pod_report_json(report) == {"pod": "ml/trainer", "gated": report.gated}


def test_a_missing_device_class_rejects_every_node_at_pre_filter(tmp_path: Path) -> None:
    claim = textwrap.dedent(
        """\
        apiVersion: resource.k8s.io/v1
        kind: ResourceClaim
        metadata: {name: odd, namespace: ml}
        spec:
          devices:
            requests:
            - name: gpus
              exactly: {deviceClassName: no-such-class}
        """
    )
    report = report_for(tmp_path, claim, pod("trainer", "1", claims="resourceClaimName: odd"))
    assert report.explanation is not None
    assert report.explanation.pre_filter_rejection is not None
    assert report.explanation.message() == (
        "0/2 nodes are available: request gpus: device class no-such-class does not exist."
    )


def test_node_limits_the_explanation_to_one_node(tmp_path: Path) -> None:
    report = report_for(
        tmp_path, pod("trainer", "6", claims="resourceClaimTemplateName: gpus"), node="node-b"
    )
    assert [row[0] for row in node_rows(report)] == ["node-b"]


def test_a_running_pod_says_where_it_runs(tmp_path: Path) -> None:
    report = report_for(tmp_path, pod("trainer", "1", extra="nodeName: node-a"))
    assert (report.running_on, report.exit_code) == ("node-a", 0)


def test_a_pod_not_in_the_input_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no pod 'ml/ghost' in the input"):
        report_for(tmp_path, pod("trainer", "1"), target="ml/ghost")
