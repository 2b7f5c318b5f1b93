"""`PluginTraits`: which extension Protocols a plugin implements, checked once per plugin class.

The framework learns what a plugin can do from the extension Protocols (`interface.py`):
building a profile checks each enabled plugin against every extension point, and building a
framework asks again which plugins are node-local, quiet, uniform or bulk scorers,
normalisers and handle receivers. A runtime-checkable Protocol's `isinstance` walks the
Protocol's members on every call (Python 3.11), and those checks were half the cost of
building a scheduler: a what-if cluster (an autoscaler's planning snapshot) builds one per
loop.

Owns a memo of `(plugin class, Protocol) -> implements`, filled on first ask. Its contract:

- keyed on the plugin's class: every instance of a class implements the same Protocols (the
  members are defined on the class, or set by every `__init__`, as DynamicResources sets
  `node_local`). Only membership is remembered; a data member's value (`node_local`'s
  True or False) is read from each instance every time it is asked (`is_node_local`);
- nothing invalidates it: a class's members do not change while dralloc runs;
- bounded: at most `max_entries` answers; when full it starts over (a scheduler has tens of
  plugin classes and about fifteen Protocols, so it never fills in practice);
- read by whoever builds profiles and frameworks with it (`scheduler/profiles.py`,
  `Framework`); one memo may serve every build of a process (`SchedulerInputs.plugin_traits`)
  or a single build (the default).

Off switch: `PluginTraits(remember=False)` asks `isinstance` every time;
tests/scheduler/test_framework_traits.py checks that both answer alike for every
plugin of the registry and build the same profiles and frameworks.

    traits = PluginTraits()
    traits.implements(plugin, FilterPlugin)   # isinstance, once per class
    traits.is_node_local(plugin)              # membership remembered, value read
"""

from __future__ import annotations

from typing import cast

from dralloc.scheduler.framework.interface import NodeLocal, QuietFilter


class PluginTraits:
    """The memo of the module docstring. `remember=False` is the plain path."""

    def __init__(self, *, remember: bool = True, max_entries: int = 4096) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be > 0, got {max_entries}")
        self.remember = remember
        self.max_entries = max_entries
        self._answers: dict[tuple[type, type], bool] = {}

    def __len__(self) -> int:
        return len(self._answers)

    def implements(self, plugin: object, protocol: type) -> bool:
        """Whether `plugin` implements `protocol` (a runtime-checkable Protocol), as
        `isinstance(plugin, protocol)` answers for the first plugin of its class."""
        if not self.remember:
            return isinstance(plugin, protocol)
        key = (type(plugin), protocol)
        found = self._answers.get(key)
        if found is None:
            if len(self._answers) >= self.max_entries:
                self._answers.clear()
            found = isinstance(plugin, protocol)
            self._answers[key] = found
        return found

    def is_node_local(self, plugin: object) -> bool:
        """`interface.is_node_local`: a `NodeLocal` plugin whose `node_local` is True."""
        return self.implements(plugin, NodeLocal) and cast(NodeLocal, plugin).node_local

    def is_quiet_filter(self, plugin: object) -> bool:
        """`interface.is_quiet_filter`: a `QuietFilter` plugin whose `quiet_filter` is True."""
        return self.implements(plugin, QuietFilter) and cast(QuietFilter, plugin).quiet_filter
