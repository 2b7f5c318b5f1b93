"""Admission-time checks of CEL selectors in DeviceClasses, ResourceClaims and templates.

The api layer cannot compile CEL (it sits below this one), so API validation of selectors lives
here: every expression must compile and type check in the DRA environment, and its result type
must be bool (or unknown). By default that is the new-expression environment at Kubernetes
1.36's default gates, as a kube-apiserver at its defaults validates created objects; callers
may pass another (the CLI, `cli/inputs.py`, checks with every gate on). Returns problems as
(field path, message), worded as kube-apiserver's field errors. Callers run it after
`dralloc.api.io` has decoded an object.
"""

from __future__ import annotations

import json
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
        expression = selector.cel.expression
        for message in env.check(expression):
            problems.append((f"{path}[{i}].cel.expression", _field_error(expression, message)))
    return problems


def _field_error(expression: str, message: str) -> str:
    """A compile problem worded as kube-apiserver words it for the field:
    `Invalid value: "<expression>": compilation failed: ...`, or `...: must evaluate to bool
    ...` for a result of the wrong type. One line: the library's caret drawing is left out
    (its first line already gives line and column) and the expression is quoted JSON-style."""
    if message.startswith(("Too long:", "Forbidden:")):
        return message
    first = message.splitlines()[0]
    if not first.startswith("must evaluate to "):
        first = f"compilation failed: {first}"
    return f"Invalid value: {json.dumps(expression, ensure_ascii=False)}: {first}"


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
    env = env or CelEnvironment(Features(), stored=False)
    if isinstance(obj, DeviceClass):
        return _check_list(env, obj.spec.selectors, "spec.selectors")
    if isinstance(obj, ResourceClaim):
        return _claim_spec(env, obj.spec, "spec")
    if isinstance(obj, ResourceClaimTemplate):
        return _claim_spec(env, obj.spec.spec, "spec.spec")
    return []
