"""Where dralloc's scheduler and Kubernetes 1.36's kube-scheduler are known to disagree, and
the plugins of upstream's default profile dralloc does not have yet.

A scenario names its class in `known:`; the differential test then expects the comparison to
fail (a strict xfail), so the day dralloc changes, the mark must go. A scenario that needs a
plugin dralloc's default profile lacks names it in `requires:` and is a strict xfail while the
plugin is absent: it becomes a real check the moment the plugin lands.

Known classes:

`dra-cannot-allocate-left-to-preemption`
    When the allocator finds no devices for a pod's claims on a node, kube-scheduler 1.36's
    DynamicResources Filter answers "cannot allocate all claims" as UnschedulableAndUnresolvable
    (dynamicresources.go, `statusUnschedulable`), so DefaultPreemption counts the node under
    "Preemption is not helpful for scheduling". dralloc answers Unschedulable on purpose, so
    that preemption may free devices held by lower-priority pods (KEP-5690, beyond 1.36), and
    its message counts the node under "No preemption victims found for incoming pod". Issue 11
    point 4 asks for upstream's answer by default and dralloc's as a named option.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from scheddiff import Scenario

from dralloc.scheduler.profiles import DEFAULT_PLUGINS


@dataclass(frozen=True)
class KnownDisagreement:
    name: str
    diagnosis: str  # one line: what upstream does, what dralloc does, and where


_CLASSES = (
    KnownDisagreement(
        "dra-cannot-allocate-left-to-preemption",
        "1.36 says 'cannot allocate all claims' is UnschedulableAndUnresolvable (preemption not "
        "helpful); dralloc lets preemption try (KEP-5690) and says no victims found",
    ),
)
KNOWN: dict[str, KnownDisagreement] = {known.name: known for known in _CLASSES}


def default_profile_plugins() -> frozenset[str]:
    return frozenset(ref.name for ref in DEFAULT_PLUGINS)


def missing_plugins(scenario: Scenario) -> list[str]:
    present = default_profile_plugins()
    return [name for name in scenario.requires if name not in present]


def marks(scenario: Scenario) -> list[pytest.MarkDecorator]:
    """The strict xfails a scenario carries: a plugin dralloc lacks, a known disagreement."""
    out = []
    missing = missing_plugins(scenario)
    if missing:
        out.append(
            pytest.mark.xfail(
                strict=True,
                reason=f"dralloc's default profile has no {', '.join(missing)} yet",
            )
        )
    if scenario.known is not None:
        known = KNOWN[scenario.known]
        out.append(pytest.mark.xfail(strict=True, reason=f"{known.name}: {known.diagnosis}"))
    return out
