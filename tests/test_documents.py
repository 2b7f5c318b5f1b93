"""`dralloc.documents`: the steps before a configuration file's fields are read. A key written
twice in one mapping is refused in go-yaml's words, in YAML and JSON alike, naming the file,
every repetition's line and column, and where the key was first set."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from dralloc.cli.schedule import schedule_command
from dralloc.documents import repeated_keys, yaml_documents
from dralloc.errors import InputError


def problems(text: str, obj: str = "") -> list[str]:
    with pytest.raises(InputError) as caught:
        yaml_documents(text, "sched.yaml", obj)
    return [str(problem) for problem in caught.value.problems]


def test_a_key_set_twice_in_yaml_is_refused_with_both_lines() -> None:
    text = textwrap.dedent(
        """\
        kind: KubeSchedulerConfiguration
        profiles:
        - schedulerName: a
          plugins: {}
          schedulerName: b
        """
    )
    assert problems(text) == [
        'sched.yaml: line 5, column 3: invalid YAML: key "schedulerName" already set in map '
        "(first set at line 3)"
    ]


def test_every_repetition_is_named_at_once_and_the_object_too() -> None:
    text = "kind: A\nkind: B\n---\nx: {y: 1, y: 2}\n"
    assert problems(text, "Autoscaling") == [
        'sched.yaml: Autoscaling: line 2, column 1: invalid YAML: key "kind" already set in map '
        "(first set at line 1)",
        'sched.yaml: Autoscaling: line 4, column 11: invalid YAML: key "y" already set in map '
        "(first set at line 4)",
    ]


def test_a_key_set_twice_in_json_is_refused_in_the_same_words() -> None:
    text = '{\n  "kind": "KubeSchedulerConfiguration",\n  "kind": "Other"\n}\n'
    assert problems(text) == [
        'sched.yaml: line 3, column 3: invalid YAML: key "kind" already set in map '
        "(first set at line 2)"
    ]


def test_a_merged_key_set_again_is_an_override_not_a_repetition() -> None:
    text = "base: &b {a: 1, c: 3}\nuse:\n  <<: *b\n  a: 2\n"
    assert yaml_documents(text, "f.yaml") == [{"base": {"a": 1, "c": 3}, "use": {"a": 2, "c": 3}}]


def test_equal_keys_in_sibling_mappings_are_fine() -> None:
    text = "- {name: a}\n- {name: b}\n---\n\n---\nname: c\n"
    assert yaml_documents(text, "f.yaml") == [[{"name": "a"}, {"name": "b"}], {"name": "c"}]


def test_invalid_yaml_still_names_line_and_column() -> None:
    assert problems("a: [1, 2\n") == [
        "sched.yaml: line 2, column 1: invalid YAML: expected ',' or ']', but got '<stream end>'"
    ]


def test_schedule_config_with_a_repeated_key_exits_2_naming_file_and_key(tmp_path: Path) -> None:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

    @app.callback()
    def _group() -> None:
        """dralloc (test harness)."""

    app.command("schedule")(schedule_command)
    config = tmp_path / "sched.yaml"
    config.write_text(
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n"
        "percentageOfNodesToScore: 50\npercentageOfNodesToScore: 60\n"
    )
    cluster = tmp_path / "cluster.yaml"
    cluster.write_text(
        "apiVersion: v1\nkind: Node\nmetadata: {name: n}\n"
        'status: {allocatable: {cpu: "1", pods: "1"}}\n'
    )
    result = CliRunner().invoke(app, ["schedule", "-f", str(cluster), "--config", str(config)])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f'{config}: line 4, column 1: invalid YAML: key "percentageOfNodesToScore" already set '
        "in map (first set at line 3)"
    ]


def test_the_api_reader_and_the_configuration_reader_note_the_same_repeated_keys() -> None:
    # One helper finds repeated keys for both loaders: the manifest reader's (libyaml's
    # parser when present) and the configuration reader's (pure Python) see the same keys.
    text = "a: 1\nb: {x: 1, x: 2}\n<<: {c: 1}\nc: 2\na: 3\n"
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    for loader in (yaml.SafeLoader(""), getattr(yaml, "CSafeLoader", yaml.SafeLoader)("")):
        # c is merged then set again: an override, not a repetition.
        assert repeated_keys(loader, node) == [("a", 5, 1, 1)]
        assert repeated_keys(loader, node.value[1][1]) == [("x", 2, 11, 2)]
        assert repeated_keys(loader, node.value[0][1]) == []  # a scalar: no keys at all
