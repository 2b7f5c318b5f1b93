"""Device taints and request tolerations (KEP-5055, spec 6.6 d4).

Pure computation, no I/O. Only NoSchedule and NoExecute taints keep a device from being
allocated; `None` and unknown effects are informational.
"""

from __future__ import annotations

from collections.abc import Sequence

from dralloc.api.resource import DeviceTaint, DeviceToleration


def tolerates(toleration: DeviceToleration, taint: DeviceTaint) -> bool:
    """The toleration matches the taint (same rules as core/v1 pod tolerations)."""
    if toleration.effect and toleration.effect != taint.effect:
        return False
    operator = toleration.operator or "Equal"
    if not toleration.key:
        # An empty key with Exists matches every taint.
        return operator == "Exists"
    if toleration.key != taint.key:
        return False
    if operator == "Exists":
        return True
    if operator == "Equal":
        return toleration.value == taint.value
    return False


def untolerated_taint(
    taints: Sequence[DeviceTaint], tolerations: Sequence[DeviceToleration]
) -> DeviceTaint | None:
    """The first hard taint that no toleration tolerates, or None."""
    for taint in taints:
        if not any(tolerates(t, taint) for t in tolerations):
            return taint
    return None
