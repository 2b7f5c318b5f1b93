"""API validation of policy/v1 PodDisruptionBudget (upstream's ValidatePodDisruptionBudget
and, for its status, ValidatePodDisruptionBudgetStatusUpdate's non-negative counts).

Pure computation: problems as (field path, message) pairs in the API server's forms.
"""

from __future__ import annotations

from dralloc.api.meta import LabelSelector
from dralloc.api.policy import (
    PERCENT,
    UNHEALTHY_POD_EVICTION_POLICIES,
    IntOrString,
    PodDisruptionBudget,
)
from dralloc.api.validation.base import _idx, _Validator

_PERCENT_MSG = (
    "a valid percent string must be a numeric string followed by an ending '%' "
    "(e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"
)


def pod_disruption_budget(v: _Validator, pdb: PodDisruptionBudget) -> None:
    v.metadata(pdb.metadata, namespaced=True)
    spec = pdb.spec
    if spec.min_available is not None and spec.max_unavailable is not None:
        v.add("spec", "Invalid value: minAvailable and maxUnavailable cannot be both set")
    for name, value in (
        ("minAvailable", spec.min_available),
        ("maxUnavailable", spec.max_unavailable),
    ):
        if value is not None:
            _int_or_percent(v, f"spec.{name}", value)
    if spec.selector is not None:
        label_selector(v, "spec.selector", spec.selector)
    policy = spec.unhealthy_pod_eviction_policy
    if policy is not None and policy not in UNHEALTHY_POD_EVICTION_POLICIES:
        v.not_supported("spec.unhealthyPodEvictionPolicy", policy, UNHEALTHY_POD_EVICTION_POLICIES)
    status = pdb.status
    if status is None:
        return
    for name, count in (
        ("disruptionsAllowed", status.disruptions_allowed),
        ("currentHealthy", status.current_healthy),
        ("desiredHealthy", status.desired_healthy),
        ("expectedPods", status.expected_pods),
    ):
        if count < 0:
            v.invalid(f"status.{name}", count, "must be greater than or equal to 0")


def _int_or_percent(v: _Validator, path: str, value: IntOrString) -> None:
    """Upstream's ValidatePositiveIntOrPercent and IsNotMoreThan100Percent."""
    if isinstance(value, int):
        if value < 0:
            v.invalid(path, value, "must be greater than or equal to 0")
        return
    if not PERCENT.match(value):
        v.invalid(path, value, _PERCENT_MSG)
    elif int(value[:-1]) > 100:
        v.invalid(path, value, "must not be greater than 100%")


def label_selector(v: _Validator, path: str, selector: LabelSelector) -> None:
    """metav1.LabelSelector: expression operators and their values, label keys and values."""
    for i, requirement in enumerate(selector.match_expressions):
        where = _idx(f"{path}.matchExpressions", i)
        operator, values = requirement.operator, requirement.values
        if operator in ("In", "NotIn"):
            if not values:
                v.required(
                    f"{where}.values", "must be specified when `operator` is 'In' or 'NotIn'"
                )
        elif operator in ("Exists", "DoesNotExist"):
            if values:
                v.forbidden(
                    f"{where}.values",
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                )
        else:
            v.invalid(f"{where}.operator", operator, "not a valid selector operator")
        v.label_name(f"{where}.key", requirement.key)
    for key, value in selector.match_labels.items():
        v.label_name(f"{path}.matchLabels", key)
        v.label_value(f"{path}.matchLabels", value)
