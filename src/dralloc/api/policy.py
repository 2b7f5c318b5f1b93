"""policy/v1 PodDisruptionBudget: how many of an application's pods must stay up, which
kube-scheduler's preemption reads (spec/scheduler.md section 5.3) and the disruption controller
keeps the status of.

Pure data, no I/O. `spec.minAvailable` and `spec.maxUnavailable` are IntOrString: an absolute
number of pods or a percentage such as "50%" (`scaled_value` turns either into a count, as
upstream's `intstr.GetScaledValueFromIntOrPercent` does). A PDB whose document carries no
`status` has `status is None`: nobody computed it yet (a manifest written by hand); one read
from an API server always has a status, zero-valued until kube-controller-manager's
disruption controller fills it.

    >>> budget = PodDisruptionBudget(spec=PodDisruptionBudgetSpec(min_available="50%"))
    >>> scaled_value(budget.spec.min_available, 5, round_up=True)
    3
"""

from __future__ import annotations

import re
from typing import Final

import msgspec

from dralloc.api.meta import Base, LabelSelector, ObjectMeta

POLICY_API_VERSION: Final = "policy/v1"
PERCENT = re.compile(r"^[0-9]+%$")  # upstream's IsValidPercent
UNHEALTHY_POD_EVICTION_POLICIES: Final = ("AlwaysAllow", "IfHealthyBudget")

IntOrString = int | str


class PodDisruptionBudgetSpec(Base):
    """At most one of `min_available` and `max_unavailable` (validation says so). `selector`
    picks the pods in the PDB's namespace; a missing selector picks none."""

    min_available: IntOrString | None = None
    max_unavailable: IntOrString | None = None
    selector: LabelSelector | None = None
    unhealthy_pod_eviction_policy: str | None = None


class PodDisruptionBudgetStatus(Base):
    """What the disruption controller last computed. `disrupted_pods` maps the name of a pod
    the eviction API has let go, not yet deleted, to the time it did (RFC 3339)."""

    observed_generation: int = 0
    disrupted_pods: dict[str, str] = msgspec.field(default_factory=dict)
    disruptions_allowed: int = 0
    current_healthy: int = 0
    desired_healthy: int = 0
    expected_pods: int = 0
    conditions: list[dict[str, object]] = msgspec.field(default_factory=list)


class PodDisruptionBudget(Base):
    api_version: str = POLICY_API_VERSION
    kind: str = "PodDisruptionBudget"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: PodDisruptionBudgetSpec = msgspec.field(default_factory=PodDisruptionBudgetSpec)
    # None: the document had none (see the module docstring).
    status: PodDisruptionBudgetStatus | None = None


def is_percent(value: IntOrString) -> bool:
    return isinstance(value, str) and PERCENT.match(value) is not None


def scaled_value(value: IntOrString, total: int, *, round_up: bool) -> int:
    """An absolute count as is; a percentage of `total`, rounded up or down. ValueError for a
    string that is not a percentage (validation reports those first)."""
    if isinstance(value, int):
        return value
    if not is_percent(value):
        raise ValueError(f"{value!r} is neither an integer nor a percentage")
    exact = int(value[:-1]) * total
    return -(-exact // 100) if round_up else exact // 100
