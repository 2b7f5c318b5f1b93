"""`build_scheduler` is the one place a scheduler is put together; GPU-sharing policies are
profiles of its registry."""

from __future__ import annotations

import pytest

from dralloc.errors import InputError, Problem
from dralloc.features import Features
from dralloc.scheduler.builder import SchedulerInputs, build_scheduler
from dralloc.scheduler.config import PluginRef, PluginSet, ProfileConfig, SchedulerConfiguration
from dralloc.scheduler.plugins.gpushare import TaskType
from dralloc.scheduler.profiles import GPU_SHARING_PLUGINS, gpu_sharing_profile
from dralloc.sim.experiment import POLICIES, POLICY_PLUGINS

WORKLOAD = [(TaskType(1000, 500, 1, frozenset()), 1.0)]


def test_the_simulators_policy_names_are_aliases_of_every_gpu_sharing_plugin() -> None:
    assert sorted(POLICY_PLUGINS.values()) == sorted(GPU_SHARING_PLUGINS)
    assert tuple(POLICY_PLUGINS) == POLICIES


@pytest.mark.parametrize("policy", GPU_SHARING_PLUGINS)
def test_a_gpu_sharing_profile_runs_fit_capacity_dra_and_the_policy(policy: str) -> None:
    config = SchedulerConfiguration(profiles=(gpu_sharing_profile(policy),))
    built = build_scheduler(SchedulerInputs(Features(), config=config, typical_pods=WORKLOAD))
    profile = built.framework().profile
    assert [p.name for p in profile.pre_filter] == ["NodeResourcesFit", "DynamicResources"]
    assert [p.name for p in profile.filter] == [
        "NodeResourcesFit",
        "GpuCapacityFilter",
        "DynamicResources",
    ]
    assert [(p.name, w) for p, w in profile.score] == [(policy, 1)]
    assert [p.name for p in profile.pre_score] == ([policy] if policy == "Random" else [])
    assert [p.name for p in profile.reserve] == ["DynamicResources"]
    assert profile.percentage_of_nodes_to_score == 100
    # The policy chooses the GPU too.
    (dra,) = [p for p in profile.reserve]
    assert dra.device_order is profile.score[0][0]


def test_an_unknown_gpu_sharing_plugin_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown GPU-sharing plugin 'fgd'"):
        gpu_sharing_profile("fgd")


def _bad_config() -> SchedulerConfiguration:
    plugins = {"filter": PluginSet((PluginRef("NoSuchPlugin"),))}
    return SchedulerConfiguration(profiles=(ProfileConfig(plugins=plugins),))


def test_profile_problems_raise_or_are_collected_with_the_callers_own() -> None:
    with pytest.raises(InputError, match='plugin "NoSuchPlugin" does not exist'):
        build_scheduler(SchedulerInputs(Features(), config=_bad_config()))
    problems: list[Problem] = []
    built = build_scheduler(
        SchedulerInputs(Features(), config=_bad_config()), collect_problems=problems
    )
    assert [p.message for p in problems] == [
        'plugin "NoSuchPlugin" does not exist in this registry'
    ]
    assert built.frameworks == {} and built.problems == problems


def test_the_signature_is_the_in_tree_one_unless_verdicts_are_not_remembered() -> None:
    assert build_scheduler(SchedulerInputs(Features())).signature is not None
    plain = build_scheduler(SchedulerInputs(Features(), remember_verdicts=False))
    assert plain.signature is None and plain.framework().pod_signature is None
