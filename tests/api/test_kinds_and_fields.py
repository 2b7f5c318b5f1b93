"""Reading what users apply: every kind, strict field validation, folders of manifests.

The rules (kubectl 1.36 against a 1.36 API server): objects of any kind a user applies are
accepted; dralloc reads the kinds it models and sets the others aside. A kind that an API group
of Kubernetes does not define is refused (`no matches for kind`). Unknown fields are refused
under strict field validation (kubectl's default), reported under warn, dropped under ignore.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from dralloc.api.io import FieldValidation, ReadNotes, expand_paths, load_text, read_files
from dralloc.api.schema import closest, load_schema, unknown_field_problems

CLAIM = """\
apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata: {name: two-gpus, namespace: ml}
spec:
  devices:
    requests:
    - name: gpus
      exactly: {deviceClassName: gpu.nvidia.com, count: 2}
"""

SIDE_OBJECTS = """\
apiVersion: v1
kind: Namespace
metadata: {name: ml}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: trainer, namespace: ml}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: ml}
data: {epochs: "3"}
---
apiVersion: v1
kind: Secret
metadata: {name: token, namespace: ml}
stringData: {token: abc}
---
apiVersion: v1
kind: Service
metadata: {name: trainer, namespace: ml}
spec:
  clusterIP: None
  selector: {app: trainer}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: reader, namespace: ml}
rules: [{apiGroups: [""], resources: [pods], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader, namespace: ml}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
subjects: [{kind: ServiceAccount, name: trainer, namespace: ml}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: trainer, namespace: ml}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: trainer}}
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: dcgm, namespace: ml}
spec: {endpoints: [{port: metrics}]}
"""


def _load(
    text: str, validation: FieldValidation = FieldValidation.strict
) -> tuple[list[str], list[str], ReadNotes]:
    notes = ReadNotes()
    loaded, problems = load_text(text, "in.yaml", validation=validation, notes=notes)
    return [o.ref for o in loaded], [str(p) for p in problems], notes


def test_kinds_dralloc_has_no_use_for_are_set_aside_and_the_claim_is_read() -> None:
    refs, problems, notes = _load(SIDE_OBJECTS + "---\n" + CLAIM)
    assert problems == []
    assert refs == ["PodDisruptionBudget ml/trainer", "ResourceClaim ml/two-gpus"]
    assert [a.kind for a in notes.set_aside] == [
        "Namespace",
        "ServiceAccount",
        "ConfigMap",
        "Secret",
        "Service",
        "Role",
        "RoleBinding",
        "ServiceMonitor",
    ]
    assert str(notes.set_aside[0]) == "in.yaml: Namespace ml (v1)"


@pytest.mark.parametrize(
    ("api_version", "kind", "message"),
    [
        ("apps/v1", "Deploymnet", "unknown kind 'Deploymnet' in apps (apps/v1) "),
        ("v1", "Pdo", "unknown kind 'Pdo' in the core group (v1) (did you mean 'Pod'?)"),
        (
            "resource.k8s.io/v1",
            "ResourceClaimTemplates",
            "unknown kind 'ResourceClaimTemplates' in resource.k8s.io (resource.k8s.io/v1) "
            "(did you mean 'ResourceClaimTemplate'?)",
        ),
    ],
)
def test_a_kind_no_kubernetes_group_defines_is_an_error(
    api_version: str, kind: str, message: str
) -> None:
    text = f"apiVersion: {api_version}\nkind: {kind}\nmetadata: {{name: x}}\n"
    _, problems, _ = _load(text)
    (problem,) = problems
    assert problem.startswith(f"in.yaml: {kind} x: kind: {message}")


def test_a_kind_of_another_group_is_a_custom_resource_even_with_a_known_name() -> None:
    text = "apiVersion: example.com/v1\nkind: Pod\nmetadata: {name: x}\nspec: {anything: 1}\n"
    refs, problems, notes = _load(text)
    assert (refs, problems) == ([], [])
    assert notes.set_aside[0].api_version == "example.com/v1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "kind: Pod\nmetadata: {name: x}\n",
            ["in.yaml: document 1: apiVersion: missing apiVersion"],
        ),
        ("apiVersion: v1\nmetadata: {name: x}\n", ["in.yaml: document 1: kind: missing kind"]),
        (
            "metadata: {name: x}\n",
            [
                "in.yaml: document 1: apiVersion: missing apiVersion",
                "in.yaml: document 1: kind: missing kind",
            ],
        ),
    ],
)
def test_a_document_without_api_version_or_kind_is_named_as_such(
    text: str, expected: list[str]
) -> None:
    assert _load(text)[1] == expected


MISSPELLED = """\
apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata: {name: c, namespace: ml}
spec:
  devices:
    requests:
    - name: gpus
      exactly: {deviceClassName: gpu.nvidia.com, cout: 2}
"""


def test_an_unknown_field_is_an_error_by_default_naming_the_field_it_meant() -> None:
    refs, problems, _ = _load(MISSPELLED)
    assert problems == [
        "in.yaml: ResourceClaim ml/c: spec.devices.requests[0].exactly.cout: "
        'unknown field "cout" (did you mean "count"?)'
    ]
    assert refs == ["ResourceClaim ml/c"]


def test_a_misspelled_parent_field_is_reported_once_not_its_children() -> None:
    text = CLAIM.replace("  devices:", "  device:")
    _, problems, _ = _load(text)
    assert problems == [
        'in.yaml: ResourceClaim ml/two-gpus: spec.device: unknown field "device" '
        '(did you mean "devices"?)'
    ]


def test_warn_reports_unknown_fields_as_warnings_and_reads_the_object() -> None:
    refs, problems, notes = _load(MISSPELLED, FieldValidation.warn)
    assert (refs, problems) == (["ResourceClaim ml/c"], [])
    assert [p.field for p in notes.warnings] == ["spec.devices.requests[0].exactly.cout"]


def test_ignore_drops_unknown_fields_silently() -> None:
    refs, problems, notes = _load(MISSPELLED, FieldValidation.ignore)
    assert (refs, problems, notes.warnings) == (["ResourceClaim ml/c"], [], [])


POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: trainer
  namespace: ml
  labels: {app: trainer}
  annotations: {example.com/owner: team-a}
spec:
  serviceAccountName: trainer
  restartPolicy: Never
  securityContext: {runAsNonRoot: true, fsGroup: 1000}
  volumes:
  - name: data
    persistentVolumeClaim: {claimName: data}
  - name: shm
    emptyDir: {medium: Memory, sizeLimit: 8Gi}
  initContainers:
  - name: fetch
    image: busybox
    command: [sh, -c, "true"]
    restartPolicy: Always
  containers:
  - name: train
    image: nvcr.io/nvidia/pytorch:24.01-py3
    args: [--epochs, "3"]
    env:
    - name: TOKEN
      valueFrom: {secretKeyRef: {name: token, key: token}}
    ports: [{containerPort: 8080, name: metrics}]
    volumeMounts: [{name: data, mountPath: /data}, {name: shm, mountPath: /dev/shm}]
    readinessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 5}
    resources:
      limits: {nvidia.com/gpu: 1, cpu: "4", memory: 16Gi}
      claims: [{name: gpu}]
  resourceClaims:
  - name: gpu
    resourceClaimTemplateName: one-gpu
  tolerations:
  - {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}
  topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: DoNotSchedule
    labelSelector: {matchLabels: {app: trainer}}
"""


def test_every_field_of_a_realistic_pod_is_known() -> None:
    refs, problems, _ = _load(POD)
    assert problems == []
    assert refs == ["Pod ml/trainer"]


def test_an_unknown_field_deep_in_a_pod_is_found() -> None:
    text = POD.replace("mountPath: /data", "mountPth: /data")
    _, problems, _ = _load(text)
    assert problems == [
        "in.yaml: Pod ml/trainer: spec.containers[0].volumeMounts[0].mountPth: "
        'unknown field "mountPth" (did you mean "mountPath"?)'
    ]


def test_map_values_of_structs_are_checked_and_named_by_key() -> None:
    text = textwrap.dedent(
        """\
        apiVersion: resource.k8s.io/v1
        kind: ResourceSlice
        metadata: {name: s}
        spec:
          driver: gpu.example.com
          nodeName: n
          pool: {name: n, generation: 1, resourceSliceCount: 1}
          devices:
          - name: gpu-0
            attributes:
              model: {strin: H100}
        """
    )
    _, problems, _ = _load(text)
    assert problems[0] == (
        "in.yaml: ResourceSlice s: spec.devices[0].attributes[model].strin: "
        'unknown field "strin" (did you mean "string"?)'
    )


def test_opaque_driver_parameters_are_not_checked() -> None:
    text = CLAIM + textwrap.indent(
        textwrap.dedent(
            """\
            config:
            - opaque:
                driver: gpu.nvidia.com
                parameters: {apiVersion: example.com/v1, kind: Anything, whatever: [1]}
            """
        ),
        "    ",
    )
    assert _load(text)[1] == []


def test_older_served_versions_are_checked_against_their_own_fields() -> None:
    text = textwrap.dedent(
        """\
        apiVersion: resource.k8s.io/v1beta1
        kind: ResourceClaim
        metadata: {name: old, namespace: ml}
        spec:
          devices:
            requests:
            - {name: gpu, deviceClassName: gpu.nvidia.com, count: 1}
        """
    )
    assert _load(text)[1] == []
    v1_shape = text.replace("resource.k8s.io/v1beta1", "resource.k8s.io/v1")
    assert 'unknown field "deviceClassName"' in _load(v1_shape)[1][0]


def test_custom_resources_dralloc_reads_check_their_pod_templates() -> None:
    text = textwrap.dedent(
        """\
        apiVersion: jobset.x-k8s.io/v1alpha2
        kind: JobSet
        metadata: {name: js}
        spec:
          someFutureField: true
          replicatedJobs:
          - name: workers
            replicas: 2
            template:
              spec:
                template:
                  spec:
                    containers: [{name: c, image: x, imagePullPolcy: Always}]
        """
    )
    problems = unknown_field_problems(yaml.safe_load(text), "jobset.x-k8s.io/v1alpha2", "JobSet")
    assert problems == [
        (
            "spec.replicatedJobs[0].template.spec.template.spec.containers[0].imagePullPolcy",
            'unknown field "imagePullPolcy" (did you mean "imagePullPolicy"?)',
        )
    ]


def test_the_schema_knows_the_kinds_dralloc_reads_and_every_builtin_group() -> None:
    schema = load_schema()
    assert schema.version.startswith("v0.36")
    for kind in ("Pod", "Node", "Namespace"):
        assert schema.type_of("v1", kind) is not None
    assert "Deployment" in schema.builtin_kinds("apps/v1")
    assert "ResourceClaim" in schema.builtin_kinds("resource.k8s.io/v1")
    assert schema.is_builtin_group("rbac.authorization.k8s.io/v1")
    assert not schema.is_builtin_group("kueue.x-k8s.io/v1beta2")


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(load_schema().known["core/v1.Container"])), st.data())
def test_any_one_letter_typo_of_a_container_field_is_reported(
    name: str, data: st.DataObject
) -> None:
    position = data.draw(st.integers(0, len(name) - 1))
    typo = name[:position] + name[position + 1 :]
    known = load_schema().known["core/v1.Container"]
    if not typo or typo in known:
        return
    document = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", typo: None}]},
    }
    (problem,) = unknown_field_problems(document, "v1", "Pod")
    assert problem[0] == f"spec.containers[0].{typo}"
    assert closest(typo, known) is not None


def test_a_folder_reads_its_manifests_in_name_order_and_recursively_with_r(
    tmp_path: Path,
) -> None:
    (tmp_path / "b.yaml").write_text(CLAIM.replace("two-gpus", "b"))
    (tmp_path / "a.json").write_text(
        '{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "a"}}'
    )
    (tmp_path / "notes.txt").write_text("not a manifest")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "c.yml").write_text(CLAIM.replace("two-gpus", "c"))
    flat = expand_paths([str(tmp_path)])
    assert [Path(p).name for p in flat] == ["a.json", "b.yaml"]
    deep = expand_paths([str(tmp_path)], recursive=True)
    assert [Path(p).name for p in deep] == ["a.json", "b.yaml", "c.yml"]
    loaded, problems = read_files([str(tmp_path)], recursive=True)
    assert problems == []
    assert [o.obj.metadata.name for o in loaded] == ["a", "b", "c"]


def test_a_number_its_field_cannot_hold_is_refused_whatever_the_validation_mode() -> None:
    too_big = CLAIM.replace("count: 2", "count: 9223372036854775808")
    for validation in FieldValidation:
        _, problems, _ = _load(too_big, validation)
        assert problems == [
            "in.yaml: ResourceClaim ml/two-gpus: spec.devices.requests[0].exactly.count: "
            "number 9223372036854775808 is out of range for int64"
        ], validation
    port = POD.replace("containerPort: 8080", "containerPort: 4294967296")
    _, problems, _ = _load(port)
    assert problems[0].endswith(
        "spec.containers[0].ports[0].containerPort: number 4294967296 is out of range for int32"
    )
