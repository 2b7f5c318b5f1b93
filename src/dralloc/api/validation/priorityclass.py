"""API validation of scheduling.k8s.io/v1 PriorityClass, as upstream's `ValidatePriorityClass`
(pkg/apis/scheduling/validation), and the Priority admission plugin's rule that only one class
is the global default (plugin/pkg/admission/priority, `validatePriorityClass`).

One object: a name; a name with the reserved `system-` prefix only for the two classes every
cluster has, with their exact value and `globalDefault: false`; any other class's value at most
1,000,000,000 (higher values are the system's); a preemption policy the server knows.
Across objects (`second_global_defaults`): a class created with `globalDefault: true` while
another already is the default is refused, so of the input's defaults the first stands.

Pure computation over decoded objects; problems go to the shared validator or are returned.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from dralloc.api.core import PriorityClass
from dralloc.api.validation.base import _Validator

SYSTEM_PRIORITY_CLASS_PREFIX: Final = "system-"
HIGHEST_USER_DEFINABLE_PRIORITY: Final = 1_000_000_000
# scheduling.k8s.io's built-in classes: their values; neither is the global default.
SYSTEM_PRIORITY_CLASS_VALUES: Final[Mapping[str, int]] = {
    "system-node-critical": 2 * HIGHEST_USER_DEFINABLE_PRIORITY + 1000,
    "system-cluster-critical": 2 * HIGHEST_USER_DEFINABLE_PRIORITY,
}
PREEMPTION_POLICIES: Final = ("PreemptLowerPriority", "Never")


def priority_class(v: _Validator, obj: PriorityClass) -> None:
    v.metadata(obj.metadata, namespaced=False)
    name = obj.metadata.name
    if name.startswith(SYSTEM_PRIORITY_CLASS_PREFIX):
        why = _not_a_system_class(name, obj.value, obj.global_default)
        if why:
            v.forbidden(
                "metadata.name",
                f"priority class names with '{SYSTEM_PRIORITY_CLASS_PREFIX}' prefix are "
                f"reserved for system use only. error: {why}",
            )
    elif obj.value > HIGHEST_USER_DEFINABLE_PRIORITY:
        v.forbidden(
            "value",
            f"maximum allowed value of a user defined priority is "
            f"{HIGHEST_USER_DEFINABLE_PRIORITY}",
        )
    # Unset (the server defaults it to PreemptLowerPriority) reads as "".
    if obj.preemption_policy and obj.preemption_policy not in PREEMPTION_POLICIES:
        v.not_supported("preemptionPolicy", obj.preemption_policy, PREEMPTION_POLICIES)


def _not_a_system_class(name: str, value: int, global_default: bool) -> str:
    """Why a `system-` class is not one of the built-in ones ("" when it is one)."""
    known = SYSTEM_PRIORITY_CLASS_VALUES.get(name)
    if known is None:
        return f"{name} is not a known system priority class"
    if value != known:
        return f"value of {name} PriorityClass must be {known}"
    if global_default:
        return f"globalDefault of {name} PriorityClass must be false"
    return ""


def second_global_defaults(
    classes: Iterable[PriorityClass], existing_default: str | None = None
) -> list[tuple[PriorityClass, str]]:
    """The classes refused for being created as the global default while another class
    already is (`existing_default`, or an earlier class of `classes`), each with the API
    server's reason; in the order given."""
    refused = []
    default = existing_default
    for obj in classes:
        if not obj.global_default:
            continue
        if default is not None and default != obj.metadata.name:
            refused.append(
                (
                    obj,
                    f"PriorityClass {default} is already marked as default. "
                    "Only one default can exist",
                )
            )
            continue
        default = obj.metadata.name
    return refused
