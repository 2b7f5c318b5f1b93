"""Reading a KubeSchedulerConfiguration: what is accepted, ignored, dropped with a warning, and
the exact errors (file, object, field) for what is wrong (spec/scheduler.md section 7)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dralloc.errors import InputError
from dralloc.scheduler.config import (
    DEFAULT_SCHEDULER_NAME,
    PluginArgs,
    PluginRef,
    PluginSet,
    ProfileConfig,
    SchedulerConfiguration,
    load_config,
    parse_config,
)
from dralloc.scheduler.profiles import plugin_names

KNOWN = plugin_names()
HEAD = "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n"


def _load(tmp_path: Path, body: str) -> SchedulerConfiguration:
    path = tmp_path / "sched.yaml"
    path.write_text(HEAD + textwrap.dedent(body), encoding="utf-8")
    return load_config(str(path), KNOWN)


def _errors(tmp_path: Path, body: str) -> list[str]:
    with pytest.raises(InputError) as caught:
        _load(tmp_path, body)
    prefix = f"{tmp_path / 'sched.yaml'}: "
    lines = str(caught.value).splitlines()
    assert all(line.startswith(prefix) for line in lines)
    return [line.removeprefix(prefix) for line in lines]


SCORE = "profiles[0].plugins.score"


def test_a_profile_is_read_with_its_plugin_sets_weights_and_args(tmp_path: Path) -> None:
    config = _load(
        tmp_path,
        """\
        percentageOfNodesToScore: 40
        leaderElection: {leaderElect: false}
        clientConnection: {kubeconfig: /etc/kubernetes/scheduler.conf}
        parallelism: 16
        profiles:
        - schedulerName: gpu-packing
          percentageOfNodesToScore: 100
          plugins:
            score:
              enabled: [{name: NodeResourcesFit, weight: 5}]
              disabled: [{name: "*"}]
          pluginConfig:
          - name: NodeResourcesFit
            args:
              apiVersion: kubescheduler.config.k8s.io/v1
              kind: NodeResourcesFitArgs
              scoringStrategy: {type: MostAllocated}
        """,
    )
    file = str(tmp_path / "sched.yaml")
    assert config == SchedulerConfiguration(
        profiles=(
            ProfileConfig(
                scheduler_name="gpu-packing",
                percentage_of_nodes_to_score=100,
                plugins={
                    "score": PluginSet(
                        enabled=(
                            PluginRef(
                                "NodeResourcesFit", 5, "profiles[0].plugins.score.enabled[0]"
                            ),
                        ),
                        disabled=(PluginRef("*", 0, f"{SCORE}.disabled[0]"),),
                    )
                },
                plugin_config=(
                    PluginArgs(
                        "NodeResourcesFit",
                        {"scoringStrategy": {"type": "MostAllocated"}},
                        "profiles[0].pluginConfig[0].args",
                    ),
                ),
                path="profiles[0]",
                file=file,
            ),
        ),
        percentage_of_nodes_to_score=40,
        file=file,
    )


def test_no_profiles_means_the_default_profile(tmp_path: Path) -> None:
    config = _load(tmp_path, "")
    assert [p.scheduler_name for p in config.profiles] == [DEFAULT_SCHEDULER_NAME]
    assert config.profile(DEFAULT_SCHEDULER_NAME) is config.profiles[0]
    assert config.profile("other") is None


def test_upstream_plugins_dralloc_lacks_are_dropped_and_enabling_one_warns(tmp_path: Path) -> None:
    config = _load(
        tmp_path,
        """\
        profiles:
        - plugins:
            queueSort:
              enabled: [{name: PrioritySort}]
            multiPoint:
              enabled: [{name: VolumeBinding}, {name: BestFit, weight: 2}]
              disabled: [{name: VolumeZone}]
          pluginConfig:
          - name: VolumeBinding
            args: {bindTimeoutSeconds: 600}
        """,
    )
    (profile,) = config.profiles
    assert profile.plugins["multiPoint"] == PluginSet(
        enabled=(PluginRef("BestFit", 2, "profiles[0].plugins.multiPoint.enabled[1]"),)
    )
    assert profile.plugin_config == ()
    assert config.warnings == (
        "profiles[0].plugins.multiPoint.enabled[0].name: plugin VolumeBinding is not "
        "implemented by dralloc; ignored",
    )


def test_every_problem_is_reported_with_file_object_and_field(tmp_path: Path) -> None:
    known = ", ".join(sorted(KNOWN))
    assert _errors(
        tmp_path,
        """\
        percentageOfNodesToScore: 101
        extenders: [{urlPrefix: "http://x"}]
        profilez: []
        profiles:
        - schedulerName: a
          plugins:
            filter:
              enabled: [{name: NodeAfinity}, {name: "*"}]
            scoring: {}
            score:
              enabled: [{name: NodeResourcesFit, weight: -1}]
          pluginConfig:
          - name: NodeResourcesFit
            args: {kind: NodeAffinityArgs}
          - name: NodeResourcesFit
          - name: Nope
        - plugins:
            queueSort:
              enabled: [{name: NodeName}]
        - schedulerName: a
          percentageOfNodesToScore: -1
        """,
    ) == [
        "KubeSchedulerConfiguration: extenders: extenders are HTTP webhooks; dralloc cannot "
        "call them",
        "KubeSchedulerConfiguration: percentageOfNodesToScore: must be an integer in 0..100, "
        "got 101",
        "KubeSchedulerConfiguration: profiles[0].pluginConfig[0].args.kind: must be "
        '"NodeResourcesFitArgs", got "NodeAffinityArgs"',
        "KubeSchedulerConfiguration: profiles[0].pluginConfig[1].name: repeated config for "
        "plugin NodeResourcesFit",
        f'KubeSchedulerConfiguration: profiles[0].pluginConfig[2].name: unknown plugin "Nope" '
        f"(dralloc has: {known})",
        f"KubeSchedulerConfiguration: profiles[0].plugins.filter.enabled[0].name: unknown plugin "
        f'"NodeAfinity" (dralloc has: {known})',
        'KubeSchedulerConfiguration: profiles[0].plugins.filter.enabled[1].name: "*" may only '
        "be disabled",
        "KubeSchedulerConfiguration: profiles[0].plugins.score.enabled[0].weight: must be an "
        "integer >= 0, got -1",
        "KubeSchedulerConfiguration: profiles[0].plugins.scoring: unknown field",
        "KubeSchedulerConfiguration: profiles[1].plugins.queueSort.enabled[0].name: dralloc's "
        'queue sorts by PrioritySort only, got "NodeName"',
        "KubeSchedulerConfiguration: profiles[1].schedulerName: required when there is more "
        "than one profile",
        "KubeSchedulerConfiguration: profiles[2].percentageOfNodesToScore: must be an integer "
        "in 0..100, got -1",
        'KubeSchedulerConfiguration: profiles[2].schedulerName: duplicate profile "a" (first '
        "in profiles[0])",
        "KubeSchedulerConfiguration: profilez: unknown field",
    ]


def test_the_queue_needs_priority_sort(tmp_path: Path) -> None:
    assert _errors(
        tmp_path,
        """\
        profiles:
        - plugins:
            queueSort:
              disabled: [{name: "*"}]
        """,
    ) == [
        "KubeSchedulerConfiguration: profiles[0].plugins.queueSort: a profile needs "
        "PrioritySort at queueSort"
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "KubeSchedulerConfiguration: apiVersion: must be "),
        ("apiVersion: v1\nkind: KubeSchedulerConfiguration\n", "apiVersion: must be "),
        (
            "apiVersion: kubescheduler.config.k8s.io/v1\nkind: Config\n",
            'kind: must be "KubeSchedulerConfiguration", got "Config"',
        ),
        ("a: [\n", "line 2, column 1: invalid YAML: "),
        ("a: 1\n---\nb: 2\n", "expected one document, got 2"),
    ],
)
def test_a_file_that_is_not_a_configuration_is_refused(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "sched.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_config(str(path), KNOWN)
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"{path}: ")


def test_a_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read file"):
        load_config(str(tmp_path / "nope.yaml"), KNOWN)


def test_parse_config_takes_a_decoded_document() -> None:
    raw = {
        "apiVersion": "kubescheduler.config.k8s.io/v1",
        "kind": "KubeSchedulerConfiguration",
        "profiles": [{"schedulerName": "x"}, {"schedulerName": "y"}],
    }
    config = parse_config(raw, "cfg.json", KNOWN)
    assert [(p.scheduler_name, p.path) for p in config.profiles] == [
        ("x", "profiles[0]"),
        ("y", "profiles[1]"),
    ]


def test_a_plugin_entry_must_be_an_object(tmp_path: Path) -> None:
    assert _errors(
        tmp_path,
        """\
        profiles:
        - plugins:
            filter:
              enabled: [NodeName]
        """,
    ) == [
        "KubeSchedulerConfiguration: profiles[0].plugins.filter.enabled[0]: must be an object, "
        'got "NodeName"'
    ]
