"""An Autoscaling file's problems speak the file's language: a missing value is "nothing",
booleans are YAML's, never Python's None or True."""

from __future__ import annotations

import pytest

from dralloc.autoscaling import parse_autoscaling_text
from dralloc.devices import load_catalog
from dralloc.errors import InputError


def test_a_missing_api_version_is_nothing_not_none() -> None:
    text = "kind: Autoscaling\nmode: static\nshapes: []\n"
    with pytest.raises(InputError) as err:
        parse_autoscaling_text(text, "fleet.yaml", catalog=load_catalog())
    message = str(err.value)
    assert 'apiVersion: must be "dralloc.io/v1alpha1", got nothing' in message
    assert "None" not in message
