"""`tracePods.annotations` of a `kind: Autoscaling` file: string values under valid annotation
keys, the autoscalers' own keys only with a value they act on, every problem at its path."""

from __future__ import annotations

import pytest
from autoscalingkit import config_text

from dralloc.autoscaling import parse_autoscaling_text
from dralloc.devices import load_catalog
from dralloc.errors import InputError

TEXT = config_text("- {name: l4, shape: l4x4, max: 2}")


def test_annotations_are_read_and_default_to_none() -> None:
    catalog = load_catalog()
    assert parse_autoscaling_text(TEXT, "f.yaml", catalog=catalog).trace_pods.annotations == {}
    text = TEXT + (
        "tracePods:\n  annotations:\n"
        '    cluster-autoscaler.kubernetes.io/safe-to-evict: "false"\n'
        '    karpenter.sh/do-not-disrupt: "true"\n    example.com/team: ml\n'
    )
    assert parse_autoscaling_text(text, "f.yaml", catalog=catalog).trace_pods.annotations == {
        "cluster-autoscaler.kubernetes.io/safe-to-evict": "false",
        "karpenter.sh/do-not-disrupt": "true",
        "example.com/team": "ml",
    }


def test_bad_annotations_are_refused_naming_the_field() -> None:
    text = TEXT + (
        "tracePods:\n  color: red\n  annotations:\n"
        "    cluster-autoscaler.kubernetes.io/safe-to-evict: false\n"
        "    karpenter.sh/do-not-disrupt: yes-please\n"
        '    "bad key!": x\n'
    )
    with pytest.raises(InputError) as err:
        parse_autoscaling_text(text, "f.yaml", catalog=load_catalog())
    lines = str(err.value).splitlines()
    assert lines[0].startswith(
        'f.yaml: Autoscaling: tracePods.annotations: Invalid value: "bad key!"'
    )
    assert lines[1:] == [
        "f.yaml: Autoscaling: tracePods.annotations[cluster-autoscaler.kubernetes.io/"
        "safe-to-evict]: must be a string (quote it), got false",
        'f.yaml: Autoscaling: tracePods.annotations[karpenter.sh/do-not-disrupt]: must be "true",'
        ' got "yes-please"',
        "f.yaml: Autoscaling: tracePods.color: unknown field",
    ]
