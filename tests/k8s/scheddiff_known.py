"""Where dralloc's scheduler and Kubernetes 1.36's kube-scheduler are known to disagree, and
the plugins of upstream's default profile dralloc does not have yet.

A scenario names its class in `known:`; the differential test then expects the comparison to
fail (a strict xfail), so the day dralloc changes, the mark must go. A scenario that needs a
plugin dralloc's default profile lacks names it in `requires:` and is a strict xfail while the
plugin is absent: it becomes a real check the moment the plugin lands.

Known classes:

(none yet)
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


KNOWN: dict[str, KnownDisagreement] = {known.name: known for known in ()}


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
