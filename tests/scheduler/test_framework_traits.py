"""`PluginTraits` remembers which extension Protocols a plugin class implements and changes
nothing else: for every plugin the registry builds it answers as `isinstance` does, and
profiles and frameworks built with one long-lived memo are those built with the memo off."""

from __future__ import annotations

import dataclasses
import inspect
import random
from typing import Any

import pytest

from dralloc.allocator import Allocator
from dralloc.features import Features
from dralloc.scheduler.builder import BuiltScheduler, SchedulerInputs, build_scheduler
from dralloc.scheduler.cache import SchedulerCache
from dralloc.scheduler.config import SchedulerConfiguration
from dralloc.scheduler.framework import Framework, PluginTraits, Profile, interface
from dralloc.scheduler.plugins.gpushare import TaskType
from dralloc.scheduler.profiles import GPU_SHARING_PLUGINS, gpu_sharing_profile, scheduler_registry

# Every runtime-checkable Protocol of the extension points.
PROTOCOLS = [
    kind
    for _, kind in inspect.getmembers(interface, inspect.isclass)
    if getattr(kind, "_is_runtime_protocol", False)
]


def _registry_plugins() -> list[object]:
    features = Features()
    cache = SchedulerCache(features)
    typical = [(TaskType(1000, 500, 1, frozenset()), 1.0)]
    registry = scheduler_registry(
        cache,
        Allocator(features),
        features,
        random.Random(0),
        binder=lambda pod, node: None,
        typical_pods=typical,
    )
    return [factory(None) for factory in registry.values()]


def test_traits_answer_as_isinstance_for_every_plugin_of_the_registry() -> None:
    assert len(PROTOCOLS) >= 15
    plugins = _registry_plugins()
    again = _registry_plugins()  # a second instance of each class
    traits = PluginTraits()
    for plugin, twin in zip(plugins, again, strict=True):
        for protocol in PROTOCOLS:
            expected = isinstance(plugin, protocol)
            assert traits.implements(plugin, protocol) is expected, (plugin, protocol)
            assert traits.implements(twin, protocol) is isinstance(twin, protocol) is expected
        assert traits.is_node_local(plugin) is interface.is_node_local(plugin)
        assert traits.is_quiet_filter(plugin) is interface.is_quiet_filter(plugin)
    assert len(traits) == len({type(p) for p in plugins}) * len(PROTOCOLS)


class _Filter:
    name = "Varying"

    def __init__(self, node_local: bool) -> None:
        self.node_local = node_local

    def filter(self, state: object, pod: object, node: object) -> object: ...


def test_a_node_local_value_set_per_instance_is_read_from_each_instance() -> None:
    traits = PluginTraits()
    assert traits.is_node_local(_Filter(True))
    assert not traits.is_node_local(_Filter(False))
    assert traits.is_node_local(_Filter(True))


def test_the_memo_is_bounded() -> None:
    traits = PluginTraits(max_entries=3)
    for plugin in _registry_plugins():
        for protocol in PROTOCOLS:
            traits.implements(plugin, protocol)
            assert len(traits) <= 3
    with pytest.raises(ValueError, match="max_entries must be > 0"):
        PluginTraits(max_entries=0)


def _named(item: Any) -> object:
    """A profile's entry by name: a plugin, or a score plugin with its weight."""
    if isinstance(item, tuple):
        return (item[0].name, item[1])
    return item.name


def _shape(built: BuiltScheduler) -> dict[str, Any]:
    """Everything a framework decided from its plugins' Protocols, by plugin name."""
    shape: dict[str, Any] = {}
    for name, framework in built.frameworks.items():
        profile = framework.profile
        points = {
            field.name: [_named(item) for item in getattr(profile, field.name)]
            for field in dataclasses.fields(Profile)
            if isinstance(getattr(profile, field.name), list)
        }
        filtering, scoring = framework._filtering, framework._scoring
        shape[name] = (
            points,
            filtering.non_local_filters,
            filtering._loud_before,
            [p.name for p in filtering._extensions],
            sorted(type(p).__name__ for p in scoring._uniform.values()),
            sorted(type(p).__name__ for p in scoring._bulk.values()),
            sorted(type(p).__name__ for p in scoring._normalizers.values()),
            sorted(type(p).__name__ for p in scoring._array_normalizers.values()),
            len(scoring._node_local_scores),
        )
    return shape


@pytest.mark.parametrize("policy", [None, *GPU_SHARING_PLUGINS])
def test_schedulers_built_with_a_shared_memo_equal_those_built_with_it_off(
    policy: str | None,
) -> None:
    config = SchedulerConfiguration()
    if policy is not None:
        config = SchedulerConfiguration(profiles=(gpu_sharing_profile(policy),))
    typical = [(TaskType(1000, 500, 1, frozenset()), 1.0)]
    inputs = SchedulerInputs(Features(), config=config, typical_pods=typical)
    shared = PluginTraits()
    plain = build_scheduler(dataclasses.replace(inputs, plugin_traits=PluginTraits(remember=False)))
    first = build_scheduler(dataclasses.replace(inputs, plugin_traits=shared))
    remembered = build_scheduler(dataclasses.replace(inputs, plugin_traits=shared))
    assert _shape(plain) == _shape(first) == _shape(remembered)
    assert len(shared) > 0


def test_a_framework_built_alone_hands_itself_to_the_plugins_that_need_it() -> None:
    built = build_scheduler(SchedulerInputs(Features()))
    profile = built.framework().profile
    framework = Framework(profile, traits=PluginTraits(remember=False))
    (preemption,) = [p for p in profile.post_filter if p.name == "DefaultPreemption"]
    assert preemption._handle is framework  # type: ignore[attr-defined]
