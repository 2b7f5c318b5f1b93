"""A Pod decoded as kube-apiserver decodes it before validating: quantities as
`Quantity.UnmarshalJSON` reads them (null is zero, surrounding whitespace trimmed) and Go's
zero values for missing keys and null items, so validation names the missing key itself, as
the server does (cases from tests/data/apiserver/disagreements.yaml, now agreed on)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from dralloc.api.core import Pod
from dralloc.api.io import decode_object

SPEC: dict[str, Any] = {
    "containers": [
        {
            "name": "c",
            "image": "registry.k8s.io/pause:3.10",
            "resources": {
                "requests": {"cpu": "1", "memory": "2Gi"},
                "limits": {"memory": "4Gi"},
                "claims": [{"name": "gpus"}],
            },
        }
    ],
    "resourceClaims": [{"name": "gpus", "resourceClaimTemplateName": "gpu"}],
    "affinity": {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["a"]}]}
                ]
            }
        }
    },
}
TERM = "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
EXPRESSION = f"{TERM}.nodeSelectorTerms[0].matchExpressions[0]"


def decode(spec: dict[str, Any]) -> tuple[Pod | None, list[str]]:
    raw = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec}
    loaded, problems = decode_object(raw, "pods.yaml", 0)
    pod = loaded.obj if loaded is not None else None
    assert pod is None or isinstance(pod, Pod)
    return (pod if not problems else None), sorted(p.field for p in problems)


def test_requests_with_surrounding_spaces_or_null_are_read_as_the_server_reads_them() -> None:
    spec = copy.deepcopy(SPEC)
    spec["containers"][0]["resources"]["requests"] = {"cpu": " 1", "memory": None}
    pod, problems = decode(spec)
    assert problems == []
    assert pod is not None
    requests = pod.spec.containers[0].resources.requests
    assert (str(requests["cpu"]), str(requests["memory"])) == ("1", "0")


def test_a_limit_with_a_leading_space_is_compared_with_the_request_as_a_number() -> None:
    spec = copy.deepcopy(SPEC)
    spec["containers"][0]["resources"]["limits"]["memory"] = " 1"
    assert decode(spec)[1] == ["spec.containers[0].resources.requests"]


@pytest.mark.parametrize(
    ("edit", "expect"),
    [
        (
            lambda s: s["resourceClaims"][0].pop("name"),
            [
                "spec.containers[0].resources.claims[0]",
                "spec.resourceClaims[0].name",
            ],
        ),
        (lambda s: _expression(s).pop("operator"), [f"{EXPRESSION}.operator"]),
        (lambda s: _expression(s).__setitem__("key", None), [f"{EXPRESSION}.key"]),
        (
            lambda s: _expressions(s).__setitem__(0, None),
            [f"{EXPRESSION}.key", f"{EXPRESSION}.operator"],
        ),
    ],
    ids=["claim-name-deleted", "operator-deleted", "key-null", "expression-null"],
)
def test_a_missing_required_key_is_named_at_the_key_not_at_its_parent(
    edit: Any, expect: list[str]
) -> None:
    spec = copy.deepcopy(SPEC)
    edit(spec)
    assert decode(spec)[1] == expect


def _expressions(spec: dict[str, Any]) -> list[Any]:
    terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    return terms["nodeSelectorTerms"][0]["matchExpressions"]  # type: ignore[no-any-return]


def _expression(spec: dict[str, Any]) -> dict[str, Any]:
    return _expressions(spec)[0]  # type: ignore[no-any-return]
