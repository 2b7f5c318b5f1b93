"""RuntimeClass's fields are checked against the shipped API schema (node.k8s.io/v1 from
`tools/apischema`), as the other built-in kinds are: a misspelled field anywhere, metadata
included, is refused under strict validation with the field it probably meant."""

from __future__ import annotations

from dralloc.api.io import FieldValidation, load_text

RUNTIME_CLASS = """\
apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata: {name: gvisor, labls: {a: b}}
handler: runsc
overhead: {podFixd: {cpu: 250m}}
scheduling:
  nodeSelector: {sandbox: "true"}
  tolerations: [{key: sandbox, efect: NoSchedule}]
"""


def test_a_misspelled_runtime_class_field_is_refused_naming_the_field_it_meant() -> None:
    _, problems = load_text(RUNTIME_CLASS, "rc.yaml")
    assert [str(p) for p in problems] == [
        'rc.yaml: RuntimeClass gvisor: metadata.labls: unknown field "labls" '
        '(did you mean "labels"?)',
        'rc.yaml: RuntimeClass gvisor: overhead.podFixd: unknown field "podFixd" '
        '(did you mean "podFixed"?)',
        'rc.yaml: RuntimeClass gvisor: scheduling.tolerations[0].efect: unknown field "efect" '
        '(did you mean "effect"?)',
    ]


def test_a_correct_runtime_class_reads_and_ignore_lets_unknown_fields_pass() -> None:
    good = RUNTIME_CLASS.replace("labls", "labels").replace("podFixd", "podFixed")
    good = good.replace("efect", "effect")
    loaded, problems = load_text(good, "rc.yaml")
    assert problems == []
    assert [obj.obj.metadata.name for obj in loaded] == ["gvisor"]
    loaded, problems = load_text(RUNTIME_CLASS, "rc.yaml", validation=FieldValidation.ignore)
    assert problems == []
    assert len(loaded) == 1
