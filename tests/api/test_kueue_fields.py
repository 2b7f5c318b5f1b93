"""Kueue's kinds get kubectl's field validation while set aside for dralloc.queueing: each
version's own fields pass, a field of the other version or a misspelling is named."""

from __future__ import annotations

from dralloc.api.io import FieldValidation, ReadNotes, load_text

QUEUE = """\
apiVersion: kueue.x-k8s.io/{version}
kind: ClusterQueue
metadata:
  name: cq
spec:
  {cohort}: org
  namespaceSelector: {{}}
  resourceGroups:
  - coveredResources: [cpu]
    flavors:
    - name: f
      resources:
      - {{name: cpu, nominalQuota: 4}}
status:
  pendingWorkloads: 3
"""


def problems(version: str, cohort: str, validation: FieldValidation) -> tuple[list[str], list[str]]:
    notes = ReadNotes()
    text = QUEUE.format(version=version, cohort=cohort)
    _, found = load_text(text, "q.yaml", validation=validation, notes=notes)
    return [f"{p.field}: {p.message}" for p in found], [p.field for p in notes.warnings]


def test_each_version_takes_its_own_cohort_field_and_an_open_status() -> None:
    assert problems("v1beta1", "cohort", FieldValidation.strict) == ([], [])
    assert problems("v1beta2", "cohortName", FieldValidation.strict) == ([], [])


def test_v1beta1s_cohort_in_a_v1beta2_queue_is_an_unknown_field_naming_cohort_name() -> None:
    found, _ = problems("v1beta2", "cohort", FieldValidation.strict)
    assert found == ['spec.cohort: unknown field "cohort" (did you mean "cohortName"?)']


def test_warn_and_ignore_let_the_queue_through() -> None:
    assert problems("v1beta2", "cohort", FieldValidation.warn) == ([], ["spec.cohort"])
    assert problems("v1beta2", "cohort", FieldValidation.ignore) == ([], [])


def test_a_kueue_typed_list_is_read_item_by_item_as_kubectl_reads_any_list() -> None:
    notes = ReadNotes()
    text = """\
apiVersion: kueue.x-k8s.io/v1beta2
kind: ClusterQueueList
items:
- metadata: {name: a}
  spec: {cohortName: org}
- metadata: {name: b}
  spec: {cohort: org}
"""
    _, found = load_text(text, "q.yaml", notes=notes)
    assert [f"{p.obj} {p.field}" for p in found] == ["ClusterQueue b spec.cohort"]
    assert [(s.kind, s.name) for s in notes.set_aside] == [("ClusterQueue", "a")]
