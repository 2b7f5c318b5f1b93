"""Admission-time checks of CEL selectors in DeviceClasses, ResourceClaims and templates.

The api layer cannot compile CEL (it sits below this one), so API validation of selectors lives
here: every expression must compile in the DRA environment with every feature gate on, as the
API server validates new expressions. Returns problems as (field path, message).
"""

from __future__ import annotations

from typing import Any

from dralloc.api.resource import (
    DeviceClass,
    DeviceSelector,
    ResourceClaim,
    ResourceClaimSpec,
    ResourceClaimTemplate,
)
from dralloc.cel.environment import CelEnvironment
from dralloc.features import Features


def all_gates_on() -> Features:
    base = Features()
    return base.with_gates(**{name: True for name in base.gates})


def _check_list(
    env: CelEnvironment, selectors: list[DeviceSelector], path: str
) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for i, selector in enumerate(selectors):
        if selector.cel is None or not selector.cel.expression:
            continue  # API validation reports missing expressions
        for message in env.check(selector.cel.expression):
            # One line per problem: the library's caret drawing is left out; the first line
            # already gives the line and column.
            problems.append((f"{path}[{i}].cel.expression", message.splitlines()[0]))
    return problems


def _claim_spec(env: CelEnvironment, spec: ResourceClaimSpec, path: str) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for r, request in enumerate(spec.devices.requests):
        base = f"{path}.devices.requests[{r}]"
        if request.exactly is not None:
            problems += _check_list(env, request.exactly.selectors, f"{base}.exactly.selectors")
        for s, sub in enumerate(request.first_available or []):
            problems += _check_list(env, sub.selectors, f"{base}.firstAvailable[{s}].selectors")
    return problems


def selector_problems(obj: Any, env: CelEnvironment | None = None) -> list[tuple[str, str]]:
    """Every selector of `obj` that does not compile, as (field path, message)."""
    env = env or CelEnvironment(all_gates_on())
    if isinstance(obj, DeviceClass):
        return _check_list(env, obj.spec.selectors, "spec.selectors")
    if isinstance(obj, ResourceClaim):
        return _claim_spec(env, obj.spec, "spec")
    if isinstance(obj, ResourceClaimTemplate):
        return _claim_spec(env, obj.spec.spec, "spec.spec")
    return []
