"""Where dralloc's scheduler and Kubernetes 1.36's kube-scheduler are known to disagree, and
the plugins of upstream's default profile dralloc does not have yet.

A scenario names its class in `known:`; the differential test then expects the comparison to
fail with differences the class explains, and only those (a strict xfail raising
`KnownDisagreementFound`): a difference the class does not explain fails the test, and so
does the day dralloc agrees, so that the mark goes. A scenario that needs a
plugin dralloc's default profile lacks names it in `requires:` and is a strict xfail while the
plugin is absent: it becomes a real check the moment the plugin lands.

Known classes:

`dra-cannot-allocate-left-to-preemption`
    When the allocator finds no devices for a pod's claims on a node, kube-scheduler 1.36's
    DynamicResources Filter answers "cannot allocate all claims" as UnschedulableAndUnresolvable
    (dynamicresources.go, `statusUnschedulable`), so DefaultPreemption counts the node under
    "Preemption is not helpful for scheduling". dralloc answers Unschedulable on purpose, so
    that preemption may free devices held by lower-priority pods (KEP-5690, beyond 1.36), and
    its message counts the node under "No preemption victims found for incoming pod". Since
    upstream's answer became dralloc's default (issue 11 point 4), this applies only with the
    option `--preemption-frees-devices`.

`dra-preemption-frees-devices`
    The same departure seen from the other side: a high-priority pod needs a device a
    lower-priority running pod holds. 1.36's preemption never considers devices, and the
    node, rejected as UnschedulableAndUnresolvable, is no candidate: the pod stays pending.
    dralloc's DynamicResources treats the victims' node-local claims as freed in preemption's
    what-if, so it evicts the holder and binds the pod with the device. Applies only with
    `--preemption-frees-devices` (scenario dra-preemption-option; dra-preemption checks the
    default, which agrees).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from scheddiff import Scenario

from dralloc.scheduler.profiles import DEFAULT_PLUGINS

CANNOT_ALLOCATE_LEFT_TO_PREEMPTION = "dra-cannot-allocate-left-to-preemption"
PREEMPTION_FREES_DEVICES = "dra-preemption-frees-devices"


class KnownDisagreementFound(AssertionError):
    """Every difference a scenario showed is one its known class explains."""


@dataclass(frozen=True)
class KnownDisagreement:
    name: str
    diagnosis: str  # one line: what upstream does, what dralloc does, and where
    # Each line of `scheddiff.differences` this class explains matches one of these.
    explained: tuple[re.Pattern[str], ...]
    # Whether dralloc departs so in this scenario (checked on the code itself, as
    # `missing_plugins` checks the profile, for a departure that becomes an option).
    applies: Callable[[Scenario], bool] = lambda scenario: True

    def explains(self, line: str) -> bool:
        return any(pattern.fullmatch(line) for pattern in self.explained)


PREEMPTION_FREES_DEVICES_OPTION = "--preemption-frees-devices"


def _frees_devices(scenario: Scenario) -> bool:
    """Whether dralloc's preemption frees devices in this scenario: only when asked to (off
    by default, as in 1.36)."""
    return PREEMPTION_FREES_DEVICES_OPTION in scenario.dralloc_args


# The same FitError up to preemption's part, where dralloc counts some node (one that failed
# for want of devices) under "No preemption victims found" instead of "not helpful".
_NOT_HELPFUL_VS_NO_VICTIMS = re.compile(
    r"pod \S+ message: kube-scheduler (?P<q>['\"])(?P<head>.*cannot allocate all claims.*) "
    r"preemption: .*(?P=q), "
    r"dralloc (?P<r>['\"])(?P=head) preemption: .*No preemption victims found for incoming "
    r"pod.*(?P=r)"
)
_CLASSES: tuple[KnownDisagreement, ...] = (
    KnownDisagreement(
        CANNOT_ALLOCATE_LEFT_TO_PREEMPTION,
        "1.36 says 'cannot allocate all claims' is UnschedulableAndUnresolvable (preemption not "
        "helpful); dralloc lets preemption try (KEP-5690) and says no victims found",
        (_NOT_HELPFUL_VS_NO_VICTIMS,),
        applies=_frees_devices,
    ),
)
_PENDING_UPSTREAM_BOUND_HERE = re.compile(r"pod \S+ node: kube-scheduler None, dralloc '\S+'")
_CANNOT_ALLOCATE_HERE_NONE = re.compile(
    r"pod \S+ message: kube-scheduler '.*cannot allocate all claims\..*"
    r"Preemption is not helpful for scheduling\.', dralloc None"
)
_PREEMPTED_BY_DRALLOC = re.compile(r"pod \S+ was preempted by dralloc only")
_CLAIM_ALLOCATED_HERE = re.compile(r"claim \S+: kube-scheduler None, dralloc \{.*\}")
_CLASSES += (
    KnownDisagreement(
        PREEMPTION_FREES_DEVICES,
        "1.36 never preempts to free devices (no fit for claims is unresolvable); dralloc "
        "evicts lower-priority pods holding node-local devices and binds (KEP-5690)",
        (
            _PENDING_UPSTREAM_BOUND_HERE,
            _CANNOT_ALLOCATE_HERE_NONE,
            _PREEMPTED_BY_DRALLOC,
            _CLAIM_ALLOCATED_HERE,
        ),
        applies=_frees_devices,
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
    if scenario.known is not None and KNOWN[scenario.known].applies(scenario):
        known = KNOWN[scenario.known]
        out.append(
            pytest.mark.xfail(
                strict=True,
                raises=KnownDisagreementFound,
                reason=f"{known.name}: {known.diagnosis}",
            )
        )
    return out


def unexplained(scenario: Scenario, found: list[str]) -> list[str]:
    """The differences the scenario's known class (when it applies) does not explain."""
    known = KNOWN[scenario.known] if scenario.known is not None else None
    if known is not None and not known.applies(scenario):
        known = None
    return [line for line in found if known is None or not known.explains(line)]


def check_differences(scenario: Scenario, found: list[str]) -> None:
    """Passes when nothing differs; raises KnownDisagreementFound when the scenario's known
    class explains every difference, and AssertionError otherwise."""
    known = KNOWN[scenario.known] if scenario.known is not None else None
    unexplained_lines = unexplained(scenario, found)
    assert not unexplained_lines, f"{scenario.name}: dralloc differs from kube-scheduler:\n" + (
        "\n".join(unexplained_lines)
    )
    if found:
        assert known is not None
        raise KnownDisagreementFound(f"{known.name}:\n" + "\n".join(found))
