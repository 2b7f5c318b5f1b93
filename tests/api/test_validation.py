"""API validation (dralloc.api.validation): one table per kind, one row per rule.

Every row is a whole object in wire form, decoded and validated by `decode_object` as a file
would be. A valid row expects no problem at all; an invalid row expects every problem at
exactly one field path, and one of them to contain the given text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from dralloc.api.io import decode_object
from dralloc.api.resource import ResourceSlice
from dralloc.api.validation import validate

DRIVER = "gpu.example.com"
UUID = "0b9ba4c1-4b1e-4fd7-9d6a-3c2b9a1e8f00"


# ----------------------------------------------------------------------------------- builders


def device_class(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "DeviceClass",
        "metadata": {"name": "gpu.example.com"},
        "spec": spec,
    }


def dev(name: str = "gpu-0", **fields: Any) -> dict[str, Any]:
    return {"name": name, **fields}


def rslice(devices: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    """A ResourceSlice on node-1; `nodeName=None` drops the node selection."""
    body: dict[str, Any] = {
        "driver": DRIVER,
        "pool": {"name": "pool-a", "generation": 0, "resourceSliceCount": 1},
        "nodeName": "node-1",
    }
    if devices is not None:
        body["devices"] = devices
    body.update(spec)
    body = {k: v for k, v in body.items() if v is not None}
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceSlice",
        "metadata": {"name": "slice-a"},
        "spec": body,
    }


def pool(**fields: Any) -> dict[str, Any]:
    return {"name": "pool-a", "generation": 0, "resourceSliceCount": 1, **fields}


def per_device(*devices: dict[str, Any]) -> dict[str, Any]:
    return rslice(list(devices), nodeName=None, perDeviceNodeSelection=True)


def node_selector(*terms: dict[str, Any]) -> dict[str, Any]:
    return {"nodeSelectorTerms": list(terms)}


ZONE_TERM = {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}


def multi(capacity: dict[str, Any]) -> dict[str, Any]:
    """A slice with one multi-allocatable device with the given capacity."""
    return rslice([dev(allowMultipleAllocations=True, capacity=capacity)])


def policy(value: str = "100", **request_policy: Any) -> dict[str, Any]:
    return multi({"bw": {"value": value, "requestPolicy": request_policy}})


def exact(name: str = "gpu", **fields: Any) -> dict[str, Any]:
    return {"name": name, "exactly": {"deviceClassName": "gpu.example.com", **fields}}


def sub(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "deviceClassName": "gpu.example.com", **fields}


def first(name: str = "gpu", *subs: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "firstAvailable": list(subs) or [sub("big"), sub("small")]}


def claim(
    *requests: dict[str, Any],
    constraints: list[dict[str, Any]] | None = None,
    config: list[dict[str, Any]] | None = None,
    status: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    devices: dict[str, Any] = {"requests": list(requests) if requests else [exact()]}
    if constraints is not None:
        devices["constraints"] = constraints
    if config is not None:
        devices["config"] = config
    obj: dict[str, Any] = {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaim",
        "metadata": metadata or {"name": "claim-a", "namespace": "default"},
        "spec": {"devices": devices},
    }
    if status is not None:
        obj["status"] = status
    return obj


def opaque(driver: str = DRIVER, parameters: Any = None) -> dict[str, Any]:
    return {"opaque": {"driver": driver, "parameters": parameters or {"mode": "fast"}}}


def result(request: str = "gpu", **fields: Any) -> dict[str, Any]:
    return {"request": request, "driver": DRIVER, "pool": "pool-a", "device": "gpu-0", **fields}


def allocated(*results: dict[str, Any], **status: Any) -> dict[str, Any]:
    allocation = {"devices": {"results": list(results) or [result()]}}
    return {"allocation": allocation, **status}


def consumer(uid: str = UUID, **fields: Any) -> dict[str, Any]:
    return {"resource": "pods", "name": "pod-a", "uid": uid, **fields}


def template(metadata: dict[str, Any] | None = None, *requests: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaimTemplate",
        "metadata": {"name": "tmpl-a", "namespace": "default"},
        "spec": {
            "metadata": metadata or {},
            "spec": {"devices": {"requests": list(requests) or [exact()]}},
        },
    }


def node(name: str = "node-1") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}


def pod(
    claims: list[dict[str, Any]],
    container_claims: list[dict[str, Any]] | None = None,
    init_claims: list[dict[str, Any]] | None = None,
    name: str = "pod-a",
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "resourceClaims": claims,
        "containers": [{"name": "main", "resources": {"claims": container_claims or []}}],
    }
    if init_claims is not None:
        spec["initContainers"] = [{"name": "init", "resources": {"claims": init_claims}}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }


def condition(kind: str = "Ready", **fields: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "status": "True",
        "reason": "Done",
        "lastTransitionTime": "2025-01-01T00:00:00Z",
        **fields,
    }


def device_status(**fields: Any) -> dict[str, Any]:
    return {"driver": DRIVER, "pool": "pool-a", "device": "gpu-0", **fields}


# ------------------------------------------------------------------------------- the checking


@dataclass(frozen=True)
class Case:
    raw: dict[str, Any]
    path: str | None = None  # None: the object is valid
    message: str = ""
    others: tuple[str, ...] = ()  # further paths where a problem is expected too


def ok(raw: dict[str, Any]) -> Case:
    return Case(raw)


def _pod_spec(resources: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    """A pod with one container (with `resources`) and the given spec fields."""
    raw = pod([])
    raw["spec"].update(spec)
    if resources is not None:
        raw["spec"]["containers"][0]["resources"] = resources
    return raw


def bad(raw: dict[str, Any], path: str, message: str, *others: str) -> Case:
    return Case(raw, path, message, others)


def problems(raw: dict[str, Any]) -> list[tuple[str, str]]:
    loaded, found = decode_object(raw, "f.yaml", 1)
    assert loaded is not None, found
    return [(p.field, p.message) for p in found]


def check(case: Case) -> None:
    found = problems(case.raw)
    if case.path is None:
        assert found == []
        return
    assert found, "expected a problem, found none"
    assert {path for path, _ in found} == {case.path, *case.others}, found
    assert any(case.message in message for _, message in found), found


def table(cases: dict[str, Case]) -> Any:
    return pytest.mark.parametrize("case", list(cases.values()), ids=list(cases))


# ------------------------------------------------------------------------------- DeviceClass

DEVICE_CLASS = {
    "a class with a selector and a config is valid": ok(
        device_class(selectors=[{"cel": {"expression": "true"}}], config=[opaque()])
    ),
    "a class name must be a DNS subdomain": bad(
        {**device_class(), "metadata": {"name": "INVALID_NAME"}},
        "metadata.name",
        'Invalid value: "INVALID_NAME": a lowercase RFC 1123 subdomain must consist of lower '
        "case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric "
        "character",
    ),
    "an object needs a name": bad(
        {**device_class(), "metadata": {}}, "metadata.name", "name or generateName is required"
    ),
    "a generateName prefix may end in a dash": ok(
        {**device_class(), "metadata": {"generateName": "gpu-"}}
    ),
    "a bad generateName prefix is reported": bad(
        {**device_class(), "metadata": {"generateName": "GPU-"}},
        "metadata.generateName",
        "RFC 1123 subdomain",
    ),
    "label keys must be qualified names": bad(
        {**device_class(), "metadata": {"name": "c", "labels": {"bad key": "v"}}},
        "metadata.labels",
        "name part must consist of alphanumeric characters",
    ),
    "label values must be label values": bad(
        {**device_class(), "metadata": {"name": "c", "labels": {"k": "-v"}}},
        "metadata.labels",
        "a valid label must be an empty string",
    ),
    "32 class selectors are allowed": ok(
        device_class(selectors=[{"cel": {"expression": "true"}}] * 32)
    ),
    "33 class selectors are too many": bad(
        device_class(selectors=[{"cel": {"expression": "true"}}] * 33),
        "spec.selectors",
        "Too many: 33: must have at most 32 items",
    ),
    "a selector needs cel": bad(device_class(selectors=[{}]), "spec.selectors[0].cel", "Required"),
    "a class config needs opaque": bad(
        device_class(config=[{}]), "spec.config[0].opaque", "Required value"
    ),
    "33 class configs are too many": bad(
        device_class(config=[opaque()] * 33), "spec.config", "must have at most 32 items"
    ),
    "a class config driver must be a driver name": bad(
        device_class(config=[opaque(driver="bad_driver")]),
        "spec.config[0].opaque.driver",
        "RFC 1123 subdomain",
    ),
    "a domain-prefixed extended resource name is valid": ok(
        device_class(extendedResourceName="example.com/gpu")
    ),
    "an extended resource name needs a domain": bad(
        device_class(extendedResourceName="gpu"),
        "spec.extendedResourceName",
        "must be a valid extended resource name",
    ),
    "an extended resource name may not be in kubernetes.io": bad(
        device_class(extendedResourceName="kubernetes.io/gpu"),
        "spec.extendedResourceName",
        "must be a valid extended resource name",
    ),
}


@table(DEVICE_CLASS)
def test_device_class_rules_report_the_offending_field(case: Case) -> None:
    check(case)


# --------------------------------------------------------------------- ResourceSlice: the slice

SLICE = {
    "a slice with one device on a node is valid": ok(rslice([dev()])),
    "an empty slice is valid": ok(rslice()),
    "a driver name is required": bad(rslice(driver=""), "spec.driver", "Required value"),
    "a driver name may have upper case letters": ok(rslice(driver="GPU.Example.com")),
    "a driver name must be a DNS subdomain": bad(
        rslice(driver="bad_driver"), "spec.driver", 'Invalid value: "bad_driver": a lowercase'
    ),
    "a driver name of 63 characters is valid": ok(rslice(driver="a" * 63)),
    "a driver name of 64 characters is too long": bad(
        rslice(driver="a" * 64), "spec.driver", "Too long: may not be more than 63 bytes"
    ),
    "a pool name may have slash-separated parts": ok(rslice(pool=pool(name="rack-1/node.a"))),
    "a pool name is required": bad(rslice(pool=pool(name="")), "spec.pool.name", "Required"),
    "a pool name part must be a DNS subdomain": bad(
        rslice(pool=pool(name="rack-1//a")), "spec.pool.name", 'Invalid value: ""'
    ),
    "a pool name of 254 characters is too long": bad(
        rslice(pool=pool(name="a" * 127 + "/" + "a" * 126)),
        "spec.pool.name",
        "may not be more than 253 bytes",
    ),
    "a negative pool generation is invalid": bad(
        rslice(pool=pool(generation=-1)),
        "spec.pool.generation",
        "must be greater than or equal to zero, got -1",
    ),
    "a resourceSliceCount of zero is invalid": bad(
        rslice(pool=pool(resourceSliceCount=0)),
        "spec.pool.resourceSliceCount",
        "must be greater than zero, got 0",
    ),
    "a slice needs a node selection": bad(
        rslice(nodeName=None),
        "spec",
        "exactly one of `nodeName`, `nodeSelector`, `allNodes`, `perDeviceNodeSelection` is "
        "required",
    ),
    "a slice may not have two node selections": bad(
        rslice(allNodes=True), "spec", "but multiple are set"
    ),
    "an empty nodeName is invalid": bad(
        rslice(nodeName="", allNodes=True),
        "spec.nodeName",
        "must be either unset or set to a non-empty string",
    ),
    "a nodeName must be a DNS subdomain": bad(
        rslice(nodeName="Node_1"), "spec.nodeName", "RFC 1123 subdomain"
    ),
    "allNodes false is invalid": bad(
        rslice(allNodes=False),
        "spec.allNodes",
        "must be either unset or set to true",
    ),
    "allNodes true is valid": ok(rslice(nodeName=None, allNodes=True)),
    "perDeviceNodeSelection false is invalid": bad(
        rslice(nodeName="node-1", perDeviceNodeSelection=False),
        "spec.perDeviceNodeSelection",
        "must be either unset or set to true",
    ),
    "a node selector with one term is valid": ok(
        rslice(nodeName=None, nodeSelector=node_selector(ZONE_TERM))
    ),
    "a slice node selector must have exactly one term": bad(
        rslice(nodeName=None, nodeSelector=node_selector(ZONE_TERM, ZONE_TERM)),
        "spec.nodeSelector.nodeSelectorTerms",
        "must have exactly one node selector term, got 2",
    ),
    "a node selector without terms is invalid": bad(
        rslice(nodeName=None, nodeSelector=node_selector()),
        "spec.nodeSelector.nodeSelectorTerms",
        "must have at least one node selector term",
    ),
    "a node selector operator must be known": bad(
        rslice(
            nodeName=None,
            nodeSelector=node_selector({"matchExpressions": [{"key": "zone", "operator": "Is"}]}),
        ),
        "spec.nodeSelector.nodeSelectorTerms[0].matchExpressions[0].operator",
        'Unsupported value: "Is"',
    ),
    "a node field selector must use metadata.name": bad(
        rslice(
            nodeName=None,
            nodeSelector=node_selector(
                {"matchFields": [{"key": "metadata.uid", "operator": "In", "values": ["x"]}]}
            ),
        ),
        "spec.nodeSelector.nodeSelectorTerms[0].matchFields[0].key",
        'supported values: "metadata.name"',
    ),
    "a slice with devices and shared counters is invalid": bad(
        rslice([dev()], sharedCounters=[{"name": "set", "counters": {"mem": {"value": "1"}}}]),
        "spec",
        "only one of `sharedCounters` or `devices` is allowed",
    ),
    "128 devices are allowed": ok(rslice([dev(f"gpu-{i}") for i in range(128)])),
    "129 devices are too many": bad(
        rslice([dev(f"gpu-{i}") for i in range(129)]),
        "spec.devices",
        "Too many: 129: must have at most 128 items",
    ),
    "64 devices are allowed when one has a taint": ok(
        rslice(
            [dev("gpu-0", taints=[{"key": "k", "effect": "NoSchedule"}])]
            + [dev(f"gpu-{i}") for i in range(1, 64)]
        )
    ),
    "65 devices are too many when one has a taint": bad(
        rslice(
            [dev("gpu-0", taints=[{"key": "k", "effect": "NoSchedule"}])]
            + [dev(f"gpu-{i}") for i in range(1, 65)]
        ),
        "spec.devices",
        "must have at most 64 items",
    ),
    "65 devices are too many when one consumes counters": bad(
        rslice(
            [dev("gpu-0", consumesCounters=[{"counterSet": "s", "counters": {"m": {"value": 1}}}])]
            + [dev(f"gpu-{i}") for i in range(1, 65)]
        ),
        "spec.devices",
        "must have at most 64 items",
    ),
    "65 devices are too many when one has a list attribute": bad(
        rslice(
            [dev("gpu-0", attributes={"ids": {"ints": [1]}})]
            + [dev(f"gpu-{i}") for i in range(1, 65)]
        ),
        "spec.devices",
        "must have at most 64 items",
    ),
    "device names must be DNS labels": bad(
        rslice([dev("GPU_0")]),
        "spec.devices[0].name",
        'Invalid value: "GPU_0": a lowercase RFC 1123 label',
    ),
    "device names must be unique in the slice": bad(
        rslice([dev("gpu-0"), dev("gpu-0")]), "spec.devices[1]", 'Duplicate value: "gpu-0"'
    ),
}


@table(SLICE)
def test_resource_slice_rules_report_the_offending_field(case: Case) -> None:
    check(case)


# -------------------------------------------------------------------- ResourceSlice: counters


def counters(n: int) -> dict[str, Any]:
    return {f"c{i}": {"value": "1"} for i in range(n)}


def shared(*sets: dict[str, Any]) -> dict[str, Any]:
    return rslice(sharedCounters=list(sets))


def consumer_dev(*entries: dict[str, Any]) -> dict[str, Any]:
    return rslice([dev(consumesCounters=list(entries))])


COUNTERS = {
    "a counter set with 32 counters is valid": ok(
        shared({"name": "set", "counters": counters(32)})
    ),
    "8 counter sets are allowed": ok(
        shared(*[{"name": f"set-{i}", "counters": counters(1)} for i in range(8)])
    ),
    "9 counter sets are too many": bad(
        shared(*[{"name": f"set-{i}", "counters": counters(1)} for i in range(9)]),
        "spec.sharedCounters",
        "Too many: 9: must have at most 8 items",
    ),
    "counter set names must be unique": bad(
        shared({"name": "set", "counters": counters(1)}, {"name": "set", "counters": counters(1)}),
        "spec.sharedCounters[1]",
        'Duplicate value: "set"',
    ),
    "counter set names must be DNS labels": bad(
        shared({"name": "Set_1", "counters": counters(1)}),
        "spec.sharedCounters[0].name",
        "RFC 1123 label",
    ),
    "a counter set needs counters": bad(
        shared({"name": "set", "counters": {}}), "spec.sharedCounters[0].counters", "Required value"
    ),
    "33 counters in a set are too many": bad(
        shared({"name": "set", "counters": counters(33)}),
        "spec.sharedCounters[0].counters",
        "Too many: 33: must have at most 32 items",
    ),
    "counter names must be DNS labels": bad(
        shared({"name": "set", "counters": {"Mem": {"value": "1"}}}),
        "spec.sharedCounters[0].counters",
        'Invalid value: "Mem"',
    ),
    "a device may consume from two counter sets": ok(
        consumer_dev(
            {"counterSet": "a", "counters": counters(32)},
            {"counterSet": "b", "counters": counters(1)},
        )
    ),
    "a device may not consume from three counter sets": bad(
        consumer_dev(*[{"counterSet": s, "counters": counters(1)} for s in "abc"]),
        "spec.devices[0].consumesCounters",
        "Too many: 3: must have at most 2 items",
    ),
    "consumed counter sets must be unique": bad(
        consumer_dev(
            {"counterSet": "a", "counters": counters(1)},
            {"counterSet": "a", "counters": counters(1)},
        ),
        "spec.devices[0].consumesCounters[1]",
        'Duplicate value: "a"',
    ),
    "a consumption needs a counter set": bad(
        consumer_dev({"counters": counters(1)}),
        "spec.devices[0].consumesCounters[0].counterSet",
        "Required value",
    ),
    "a consumption needs counters": bad(
        consumer_dev({"counterSet": "a"}),
        "spec.devices[0].consumesCounters[0].counters",
        "Required value",
    ),
    "a consumption of 33 counters is too many": bad(
        consumer_dev({"counterSet": "a", "counters": counters(33)}),
        "spec.devices[0].consumesCounters[0].counters",
        "must have at most 32 items",
    ),
}


@table(COUNTERS)
def test_counter_rules_report_the_offending_field(case: Case) -> None:
    check(case)


# ----------------------------------------------------------- ResourceSlice: device attributes


def attrs(**attributes: Any) -> dict[str, Any]:
    return rslice([dev(attributes=attributes)])


def attr_map(attributes: dict[str, Any]) -> dict[str, Any]:
    return rslice([dev(attributes=attributes)])


ATTRIBUTES = {
    "every attribute kind is valid": ok(
        attrs(
            a={"int": 1},
            b={"bool": True},
            c={"string": "x" * 64},
            d={"version": "1.2.3-rc.1+build.5"},
            e={"ints": [1]},
            f={"bools": [True]},
            g={"strings": ["x"]},
            h={"versions": ["1.0.0"]},
        )
    ),
    "32 attributes and capacities are allowed": ok(
        rslice(
            [
                dev(
                    attributes={f"a{i}": {"int": i} for i in range(16)},
                    capacity={f"c{i}": {"value": "1"} for i in range(16)},
                )
            ]
        )
    ),
    "33 attributes and capacities are too many": bad(
        rslice(
            [
                dev(
                    attributes={f"a{i}": {"int": i} for i in range(17)},
                    capacity={f"c{i}": {"value": "1"} for i in range(16)},
                )
            ]
        ),
        "spec.devices[0]",
        "the total number of attributes and capacities must not exceed 32, got 33",
    ),
    "48 attribute values are allowed": ok(attrs(ids={"ints": list(range(48))})),
    "49 attribute values are too many": bad(
        attrs(ids={"ints": list(range(48))}, model={"string": "a"}),
        "spec.devices[0]",
        "the total number of attribute values must not exceed 48, got 49",
    ),
    "an attribute without a value is invalid": bad(
        attrs(model={}), "spec.devices[0].attributes[model]", "exactly one value must be specified"
    ),
    "an attribute with two values is invalid": bad(
        attrs(model={"int": 1, "string": "a"}),
        "spec.devices[0].attributes[model]",
        "got 2 (int, string)",
    ),
    "a string attribute of 65 bytes is too long": bad(
        attrs(model={"string": "x" * 65}),
        "spec.devices[0].attributes[model].string",
        "Too long: may not be more than 64 bytes",
    ),
    "a version attribute must be strict semver": bad(
        attrs(driver={"version": "v1.0.0"}),
        "spec.devices[0].attributes[driver].version",
        'Invalid value: "v1.0.0": must be a string compatible with semver.org spec 2.0.0',
    ),
    "a version attribute may not have leading zeros": bad(
        attrs(driver={"version": "1.02.0"}),
        "spec.devices[0].attributes[driver].version",
        "semver.org",
    ),
    "a list attribute may not be empty": bad(
        attrs(ids={"ints": []}), "spec.devices[0].attributes[ids].ints", "must not be empty"
    ),
    "list elements obey the scalar rules": bad(
        attrs(names={"strings": ["ok", "x" * 65]}),
        "spec.devices[0].attributes[names].strings[1]",
        "may not be more than 64 bytes",
    ),
    "version list elements must be semver": bad(
        attrs(vs={"versions": ["1.0"]}),
        "spec.devices[0].attributes[vs].versions[0]",
        "semver.org",
    ),
    "an attribute key may carry a domain": ok(attr_map({"example.com/model": {"string": "a"}})),
    "an attribute key domain may have upper case letters": ok(
        attr_map({"Example.com/model": {"string": "a"}})
    ),
    "an attribute key with two slashes is accepted unchecked, as upstream does": ok(
        attr_map({"a/b/c": {"int": 1}, "example.com/9/x y": {"int": 2}})
    ),
    "an attribute key must be a C identifier": bad(
        attr_map({"9model": {"int": 1}}),
        "spec.devices[0].attributes",
        "a valid C identifier must start with alphabetic character or '_'",
    ),
    "an attribute identifier of 33 characters is too long": bad(
        attr_map({"a" * 33: {"int": 1}}),
        "spec.devices[0].attributes",
        "may not be more than 32 bytes",
    ),
    "an attribute domain of 64 characters is too long": bad(
        attr_map({"a" * 64 + "/model": {"int": 1}}),
        "spec.devices[0].attributes",
        "may not be more than 63 bytes",
    ),
    "an attribute key with an empty domain is invalid": bad(
        attr_map({"/model": {"int": 1}}),
        "spec.devices[0].attributes",
        "the domain must not be empty",
    ),
    "capacity keys are qualified names too": bad(
        rslice([dev(capacity={"mem/9x": {"value": "1"}})]),
        "spec.devices[0].capacity",
        "a valid C identifier must start with alphabetic character or '_'",
    ),
}


@table(ATTRIBUTES)
def test_attribute_and_capacity_rules_report_the_offending_field(case: Case) -> None:
    check(case)


# ---------------------------------------------------------- ResourceSlice: capacity policies

BW = "spec.devices[0].capacity[bw].requestPolicy"

POLICIES = {
    "a policy with only a default is valid": ok(policy(default="10")),
    "a policy needs allowMultipleAllocations": bad(
        rslice([dev(capacity={"bw": {"value": "100", "requestPolicy": {"default": "1"}}})]),
        BW,
        "Forbidden: allowMultipleAllocations must be true",
    ),
    "valid values containing the default are valid": ok(
        policy(default="20", validValues=["10", "20", "100"])
    ),
    "validValues and validRange together are forbidden": bad(
        policy(default="10", validValues=["10"], validRange={"min": "10"}),
        BW,
        'cannot specify "validValues" and "validRange" at the same time',
    ),
    "validValues need a default": bad(
        policy(validValues=["10"]), f"{BW}.default", "required when validValues is defined"
    ),
    "11 valid values are too many": bad(
        policy(default="1", validValues=[str(i) for i in range(1, 12)]),
        f"{BW}.validValues",
        "Too many: 11: must have at most 10 items",
    ),
    "valid values must be ascending": bad(
        policy(default="10", validValues=["20", "10"]),
        f"{BW}.validValues[1]",
        "values must be sorted in ascending order",
    ),
    "valid values must be unique by value": bad(
        policy("2Ki", default="1Ki", validValues=["1Ki", "1024"]),
        f"{BW}.validValues[1]",
        "Duplicate value",
    ),
    "a valid value may not exceed the capacity": bad(
        policy(default="10", validValues=["10", "200"]),
        f"{BW}.validValues[1]",
        'Invalid value: "200": option is larger than capacity value: 100',
    ),
    "valid values must contain the default": bad(
        policy(default="15", validValues=["10", "20"]),
        f"{BW}.validValues",
        "default value is not valid according to the requestPolicy",
    ),
    "a stepped range is valid": ok(
        policy(default="20", validRange={"min": "10", "max": "90", "step": "10"})
    ),
    "a range needs a default": bad(
        policy(validRange={"min": "10"}), f"{BW}.default", "required when validRange is defined"
    ),
    "a range needs a min": bad(
        policy(default="10", validRange={"max": "20"}),
        f"{BW}.validRange.min",
        "required when validRange is defined",
    ),
    "a range min may not exceed the capacity": bad(
        policy(default="200", validRange={"min": "200"}),
        f"{BW}.validRange.min",
        "min is larger than capacity value: 100",
    ),
    "a range min may be negative, as upstream has no rule against it": ok(
        policy(default="0", validRange={"min": "-1"})
    ),
    "the default may not be below the range (reported at min)": bad(
        policy(default="5", validRange={"min": "10"}),
        f"{BW}.validRange.min",
        "default is less than min: 10",
    ),
    "a range max may not be below its min": bad(
        policy(default="10", validRange={"min": "10", "max": "5"}),
        f"{BW}.validRange.max",
        'Invalid value: "10": min is larger than max: 5',
    ),
    "a range max may not exceed the capacity": bad(
        policy(default="10", validRange={"min": "10", "max": "200"}),
        f"{BW}.validRange.max",
        "max is larger than capacity value: 100",
    ),
    "the default may not be above the range (reported at max)": bad(
        policy(default="50", validRange={"min": "10", "max": "40"}),
        f"{BW}.validRange.max",
        "default is more than max: 40",
    ),
    "a range step must be positive": bad(
        policy(default="10", validRange={"min": "10", "step": "0"}),
        f"{BW}.validRange.step",
        "must be greater than zero",
    ),
    "one step past min may not exceed the capacity": bad(
        policy(default="60", validRange={"min": "60", "step": "50"}),
        f"{BW}.validRange.step",
        "one step 110 is larger than capacity value: 100",
    ),
    "the default must be min plus whole steps (reported at step)": bad(
        policy(default="15", validRange={"min": "10", "step": "10"}),
        f"{BW}.validRange.step",
        "value is not a multiple of a given step (10) from (10)",
    ),
    "the max must be min plus whole steps (reported at step)": bad(
        policy(default="10", validRange={"min": "10", "max": "95", "step": "10"}),
        f"{BW}.validRange.step",
        "value is not a multiple of a given step (10) from (10)",
    ),
    "a negative step divides like Go's remainder (everything is a multiple of -1)": ok(
        policy(default="20", validRange={"min": "10", "max": "30", "step": "-1"})
    ),
    "steps compare whole numbers, fractions rounded up, as upstream's Value() does": ok(
        policy(default="1800m", validRange={"min": "500m", "max": "2500m", "step": "1"})
    ),
    "steps are checked exactly for fractional quantities": ok(
        policy(default="1500m", validRange={"min": "500m", "max": "2500m", "step": "500m"})
    ),
}


@table(POLICIES)
def test_capacity_request_policy_rules_report_the_offending_field(case: Case) -> None:
    check(case)


# ------------------------------------------------ ResourceSlice: nodes, taints, binding

TAINT = {"key": "example.com/broken", "value": "yes", "effect": "NoSchedule"}


def tainted(*taints: dict[str, Any]) -> dict[str, Any]:
    return rslice([dev(taints=list(taints))])


def binding(conditions: list[str], failures: list[str]) -> dict[str, Any]:
    return rslice(
        [dev(bindingConditions=conditions, bindingFailureConditions=failures, bindsToNode=True)]
    )


DEVICE_FIELDS = {
    "per-device node names are valid with perDeviceNodeSelection": ok(
        per_device(
            dev("a", nodeName="node-1"),
            dev("b", allNodes=True),
            dev("c", nodeSelector=node_selector(ZONE_TERM, ZONE_TERM)),
        )
    ),
    "a device needs a node selection with perDeviceNodeSelection": bad(
        per_device(dev()),
        "spec.devices[0]",
        "exactly one of `nodeName`, `nodeSelector`, or `allNodes` is required when "
        "`perDeviceNodeSelection` is set to true",
    ),
    "a device may not have two node selections": bad(
        per_device(dev(nodeName="node-1", allNodes=True)),
        "spec.devices[0]",
        "but multiple are set",
    ),
    "a device nodeName may not be empty": bad(
        per_device(dev(nodeName="", allNodes=True)), "spec.devices[0].nodeName", "must not be empty"
    ),
    "a device allNodes false is invalid": bad(
        per_device(dev(nodeName="node-1", allNodes=False)),
        "spec.devices[0].allNodes",
        "must be either unset or set to true",
    ),
    "device node fields are forbidden without perDeviceNodeSelection": bad(
        rslice([dev(nodeName="node-1")]),
        "spec.devices[0]",
        "can only be set if `perDeviceNodeSelection` is set to true",
    ),
    "a taint with every field is valid": ok(tainted(TAINT)),
    "a taint with effect None is valid": ok(tainted({"key": "k", "effect": "None"})),
    "16 taints are allowed": ok(
        tainted(*[{"key": f"k{i}", "effect": "NoSchedule"} for i in range(16)])
    ),
    "17 taints are too many": bad(
        tainted(*[{"key": f"k{i}", "effect": "NoSchedule"} for i in range(17)]),
        "spec.devices[0].taints",
        "Too many: 17: must have at most 16 items",
    ),
    "a taint needs a key": bad(
        tainted({"effect": "NoSchedule"}), "spec.devices[0].taints[0].key", "Required value"
    ),
    "a taint key must be a label name": bad(
        tainted({"key": "bad key", "effect": "NoSchedule"}),
        "spec.devices[0].taints[0].key",
        "name part must consist of alphanumeric characters",
    ),
    "a taint value must be a label value": bad(
        tainted({"key": "k", "value": "bad value", "effect": "NoSchedule"}),
        "spec.devices[0].taints[0].value",
        "a valid label must be an empty string",
    ),
    "a taint needs an effect": bad(
        tainted({"key": "k"}), "spec.devices[0].taints[0].effect", "Required value"
    ),
    "a taint effect must be known": bad(
        tainted({"key": "k", "effect": "Evict"}),
        "spec.devices[0].taints[0].effect",
        'Unsupported value: "Evict": supported values: "NoExecute", "NoSchedule", "None"',
    ),
    "a taint's timeAdded may be any RFC 3339 time": ok(
        tainted({**TAINT, "timeAdded": "2025-06-01T10:00:00.5+02:00"})
    ),
    "a taint's timeAdded must be an RFC 3339 time": bad(
        tainted({**TAINT, "timeAdded": "2025-06-01 10:00"}),
        "spec.devices[0].taints[0].timeAdded",
        'Invalid value: "2025-06-01 10:00": must be an RFC 3339 time',
    ),
    "a taint's timeAdded must name a real day": bad(
        tainted({**TAINT, "timeAdded": "2025-02-30T00:00:00Z"}),
        "spec.devices[0].taints[0].timeAdded",
        "must be an RFC 3339 time",
    ),
    "binding conditions with failure conditions are valid": ok(
        binding(["attached", "example.com/ready"], ["failed"])
    ),
    "five binding conditions are too many": bad(
        binding([f"c{i}" for i in range(5)], ["failed"]),
        "spec.devices[0].bindingConditions",
        "Too many: 5: must have at most 4 items",
    ),
    "five binding failure conditions are too many": bad(
        binding(["ok"], [f"f{i}" for i in range(5)]),
        "spec.devices[0].bindingFailureConditions",
        "Too many: 5: must have at most 4 items",
    ),
    "binding conditions must be condition types": bad(
        binding(["bad type"], ["failed"]),
        "spec.devices[0].bindingConditions[0]",
        'Invalid value: "bad type"',
    ),
    "binding conditions may not repeat": bad(
        binding(["a", "a"], ["failed"]),
        "spec.devices[0].bindingConditions[1]",
        'Duplicate value: "a"',
    ),
    "binding failure conditions may not overlap binding conditions": bad(
        binding(["a"], ["a"]),
        "spec.devices[0].bindingFailureConditions[0]",
        "bindingFailureConditions must not overlap with bindingConditions",
    ),
    "binding conditions need failure conditions": bad(
        binding(["a"], []),
        "spec.devices[0].bindingFailureConditions",
        "bindingFailureConditions are required to use bindingConditions",
    ),
    "binding failure conditions need binding conditions": bad(
        binding([], ["f"]),
        "spec.devices[0].bindingConditions",
        "bindingConditions are required to use bindingFailureConditions",
    ),
}


@table(DEVICE_FIELDS)
def test_device_node_taint_and_binding_rules_report_the_offending_field(case: Case) -> None:
    check(case)


# ------------------------------------------------------------------ ResourceClaim: requests

R0 = "spec.devices.requests[0]"

REQUESTS = {
    "a claim with one exact request is valid": ok(claim()),
    "a claim with no requests is valid": ok({**claim(), "spec": {"devices": {}}}),
    "a claim namespace must be a DNS label": bad(
        claim(metadata={"name": "c", "namespace": "Bad_NS"}),
        "metadata.namespace",
        "RFC 1123 label",
    ),
    "32 requests are allowed": ok(claim(*[exact(f"r{i}") for i in range(32)])),
    "33 requests are too many": bad(
        claim(*[exact(f"r{i}") for i in range(33)]),
        "spec.devices.requests",
        "Too many: 33: must have at most 32 items",
    ),
    "request names must be unique": bad(
        claim(exact("gpu"), exact("gpu")), "spec.devices.requests[1]", 'Duplicate value: "gpu"'
    ),
    "request names must be DNS labels": bad(
        claim(exact("GPU")), f"{R0}.name", 'Invalid value: "GPU": a lowercase RFC 1123 label'
    ),
    "a request needs exactly or firstAvailable": bad(
        claim({"name": "gpu"}), R0, "exactly one of `exactly` or `firstAvailable` is required"
    ),
    "a request may not have both exactly and firstAvailable": bad(
        claim({**exact(), "firstAvailable": [sub("a")]}), R0, "but both are set"
    ),
    "a request with alternatives is valid": ok(claim(first())),
    "eight alternatives are allowed": ok(claim(first("gpu", *[sub(f"s{i}") for i in range(8)]))),
    "nine alternatives are too many": bad(
        claim(first("gpu", *[sub(f"s{i}") for i in range(9)])),
        f"{R0}.firstAvailable",
        "Too many: 9: must have at most 8 items",
    ),
    "subrequest names must be unique": bad(
        claim(first("gpu", sub("a"), sub("a"))), f"{R0}.firstAvailable[1]", 'Duplicate value: "a"'
    ),
    "subrequest names must be DNS labels": bad(
        claim(first("gpu", sub("A"))), f"{R0}.firstAvailable[0].name", "RFC 1123 label"
    ),
    "a subrequest needs a device class": bad(
        claim(first("gpu", sub("a", deviceClassName=""))),
        f"{R0}.firstAvailable[0].deviceClassName",
        "Required value",
    ),
    "an exact request needs a device class": bad(
        claim(exact(deviceClassName="")), f"{R0}.exactly.deviceClassName", "Required value"
    ),
    "a device class name must be a DNS subdomain": bad(
        claim(exact(deviceClassName="Bad_Class")),
        f"{R0}.exactly.deviceClassName",
        "RFC 1123 subdomain",
    ),
    "a selector with any non-empty expression is valid (CEL is checked elsewhere)": ok(
        claim(exact(selectors=[{"cel": {"expression": "device.("}}]))
    ),
    "33 request selectors are too many": bad(
        claim(exact(selectors=[{"cel": {"expression": "true"}}] * 33)),
        f"{R0}.exactly.selectors",
        "must have at most 32 items",
    ),
    "a request selector needs cel": bad(
        claim(exact(selectors=[{}])), f"{R0}.exactly.selectors[0].cel", "Required value"
    ),
    "a selector expression may not be empty": bad(
        claim(exact(selectors=[{"cel": {"expression": ""}}])),
        f"{R0}.exactly.selectors[0].cel.expression",
        "Required value",
    ),
    "a selector expression of 10240 bytes is allowed": ok(
        claim(exact(selectors=[{"cel": {"expression": "true" + " " * 10236}}]))
    ),
    "a selector expression of 10241 bytes is too long": bad(
        claim(exact(selectors=[{"cel": {"expression": "true" + " " * 10237}}])),
        f"{R0}.exactly.selectors[0].cel.expression",
        "Too long: may not be more than 10240 bytes",
    ),
    "ExactCount with a count is valid": ok(claim(exact(allocationMode="ExactCount", count=2))),
    "All without a count is valid": ok(claim(exact(allocationMode="All"))),
    "an unknown allocation mode is invalid": bad(
        claim(exact(allocationMode="Some")),
        f"{R0}.exactly.allocationMode",
        'Unsupported value: "Some": supported values: "All", "ExactCount"',
    ),
    "ExactCount with count 0 is defaulted to 1, as the API server does": ok(
        claim(exact(allocationMode="ExactCount", count=0))
    ),
    "ExactCount needs a positive count": bad(
        claim(exact(allocationMode="ExactCount", count=-2)),
        f"{R0}.exactly.count",
        "must be greater than zero for allocationMode ExactCount, got -2",
    ),
    "the defaulted mode needs a positive count": bad(
        claim(exact(count=-1)), f"{R0}.exactly.count", "got -1"
    ),
    "All may not have a count": bad(
        claim(exact(allocationMode="All", count=2)),
        f"{R0}.exactly.count",
        "must be unset or zero for allocationMode All, got 2",
    ),
    "a subrequest count is checked too": bad(
        claim(first("gpu", sub("a", count=-1))), f"{R0}.firstAvailable[0].count", "got -1"
    ),
    "capacity requests with qualified keys are valid": ok(
        claim(exact(capacity={"requests": {"bw": "10", "example.com/mem": "1Gi"}}))
    ),
    "capacity request keys must be qualified names": bad(
        claim(exact(capacity={"requests": {"a/": "1"}})),
        f"{R0}.exactly.capacity.requests",
        "the name must not be empty",
    ),
    "a negative capacity request is accepted, as upstream does": ok(
        claim(exact(capacity={"requests": {"memory": "-1"}}))
    ),
}


@table(REQUESTS)
def test_claim_request_rules_report_the_offending_field(case: Case) -> None:
    check(case)


# --------------------------------------------------------------- ResourceClaim: tolerations

T0 = f"{R0}.exactly.tolerations[0]"


def tolerating(*tolerations: dict[str, Any]) -> dict[str, Any]:
    return claim(exact(tolerations=list(tolerations)))


TOLERATIONS = {
    "an Equal toleration is valid": ok(
        tolerating({"key": "example.com/broken", "operator": "Equal", "value": "yes"})
    ),
    "an empty operator means Equal": ok(tolerating({"key": "k", "value": "v", "effect": "None"})),
    "Exists with an empty key tolerates everything": ok(tolerating({"operator": "Exists"})),
    "16 tolerations are allowed": ok(tolerating(*[{"operator": "Exists"}] * 16)),
    # kube-apiserver 1.36 accepts any number in a request (tests/k8s checks 257).
    "257 tolerations are allowed in a request": ok(tolerating(*[{"operator": "Exists"}] * 257)),
    "Exists may not have a value": bad(
        tolerating({"key": "k", "operator": "Exists", "value": "v"}),
        f"{T0}.value",
        "must be empty for operator `Exists`",
    ),
    "an empty key with Equal is accepted (unlike a pod's toleration)": ok(
        tolerating({"operator": "Equal"})
    ),
    "an empty toleration is accepted": ok(tolerating({})),
    "an unknown operator is invalid": bad(
        tolerating({"key": "k", "operator": "Like"}),
        f"{T0}.operator",
        'Unsupported value: "Like": supported values: "Equal", "Exists"',
    ),
    "an unknown effect is invalid": bad(
        tolerating({"key": "k", "operator": "Exists", "effect": "Evict"}),
        f"{T0}.effect",
        'Unsupported value: "Evict"',
    ),
    "a toleration key must be a label name": bad(
        tolerating({"key": "bad key", "operator": "Exists"}),
        f"{T0}.key",
        'Invalid value: "bad key"',
    ),
    "an Equal value must be a label value": bad(
        tolerating({"key": "k", "value": "bad value"}),
        f"{T0}.value",
        "a valid label must be an empty string",
    ),
    "subrequest tolerations are checked too": bad(
        claim(first("gpu", sub("a", tolerations=[{"key": "k", "effect": "Evict"}]))),
        f"{R0}.firstAvailable[0].tolerations[0].effect",
        "Unsupported value",
    ),
}


@table(TOLERATIONS)
def test_toleration_rules_report_the_offending_field(case: Case) -> None:
    check(case)


# --------------------------------------------------- ResourceClaim: constraints and config

C0 = "spec.devices.constraints[0]"
F0 = "spec.devices.config[0]"
MATCH = "example.com/pcie_root"


def constrained(*constraints: dict[str, Any]) -> dict[str, Any]:
    return claim(exact("gpu"), first("nic"), constraints=list(constraints))


def configured(*configs: dict[str, Any]) -> dict[str, Any]:
    return claim(exact("gpu"), first("nic"), config=list(configs))


CONSTRAINTS = {
    "a constraint on every request is valid": ok(constrained({"matchAttribute": MATCH})),
    "a constraint may name requests and subrequests": ok(
        constrained({"requests": ["gpu", "nic", "nic/big"], "distinctAttribute": MATCH})
    ),
    "33 constraints are too many": bad(
        constrained(*[{"matchAttribute": MATCH}] * 33),
        "spec.devices.constraints",
        "Too many: 33: must have at most 32 items",
    ),
    "a constraint request must exist": bad(
        constrained({"requests": ["tpu"], "matchAttribute": MATCH}),
        f"{C0}.requests[0]",
        'Invalid value: "tpu": must be the name of a request in the claim or the name of a '
        "request and a subrequest separated by '/'",
    ),
    "a constraint subrequest must exist": bad(
        constrained({"requests": ["nic/huge"], "matchAttribute": MATCH}),
        f"{C0}.requests[0]",
        "must be the name of a request in the claim",
    ),
    "an exact request has no subrequests": bad(
        constrained({"requests": ["gpu/big"], "matchAttribute": MATCH}),
        f"{C0}.requests[0]",
        "must be the name of a request in the claim",
    ),
    "a request reference has at most one slash": bad(
        constrained({"requests": ["nic/big/x"], "matchAttribute": MATCH}),
        f"{C0}.requests[0]",
        "must be the name of a request in the claim",
    ),
    "constraint requests must be unique": bad(
        constrained({"requests": ["gpu", "gpu"], "matchAttribute": MATCH}),
        f"{C0}.requests[1]",
        'Duplicate value: "gpu"',
    ),
    "a constraint needs an attribute": bad(
        constrained({}), C0, "exactly one of `matchAttribute` or `distinctAttribute` is required"
    ),
    "a constraint may not have both attributes": bad(
        constrained({"matchAttribute": MATCH, "distinctAttribute": MATCH}), C0, "but both are set"
    ),
    "a constraint attribute must be fully qualified": bad(
        constrained({"matchAttribute": "pcie_root"}),
        f"{C0}.matchAttribute",
        "a fully qualified name must be a domain and a name separated by a slash",
    ),
    "a distinct attribute must be a valid name": bad(
        constrained({"distinctAttribute": "example.com/9x"}),
        f"{C0}.distinctAttribute",
        "a valid C identifier",
    ),
    "claim config for a subrequest is valid": ok(
        configured({"requests": ["nic/small"], **opaque()})
    ),
    "33 claim configs are too many": bad(
        configured(*[opaque()] * 33), "spec.devices.config", "must have at most 32 items"
    ),
    "claim config requests must exist": bad(
        configured({"requests": ["tpu"], **opaque()}),
        f"{F0}.requests[0]",
        "must be the name of a request in the claim",
    ),
    "claim config needs opaque": bad(configured({}), f"{F0}.opaque", "Required value"),
    "claim config driver must be a driver name": bad(
        configured(opaque(driver="x" * 64)), f"{F0}.opaque.driver", "may not be more than 63 bytes"
    ),
    "claim config needs parameters": bad(
        configured({"opaque": {"driver": DRIVER}}), f"{F0}.opaque.parameters", "Required value"
    ),
    "claim config parameters must be a JSON object": bad(
        configured({"opaque": {"driver": DRIVER, "parameters": [1, 2]}}),
        f"{F0}.opaque.parameters",
        "must be a valid JSON object",
    ),
    "claim config parameters of 10 KiB are allowed": ok(
        configured(opaque(parameters={"k": "x" * (10 * 1024 - 8)}))
    ),
    "claim config parameters over 10 KiB are too long": bad(
        configured(opaque(parameters={"k": "x" * (10 * 1024 - 7)})),
        f"{F0}.opaque.parameters",
        "Too long: may not be more than 10240 bytes",
    ),
}


@table(CONSTRAINTS)
def test_constraint_and_config_rules_report_the_offending_field(case: Case) -> None:
    check(case)


# --------------------------------------------------------------------- ResourceClaim: status

RES0 = "status.allocation.devices.results[0]"
STATUS = {
    "an allocated and reserved claim is valid": ok(
        claim(status=allocated(reservedFor=[consumer()]))
    ),
    "a result may name a subrequest": ok(
        claim(first("gpu"), status=allocated(result("gpu/small", shareID=UUID)))
    ),
    "a result with every optional field is valid": ok(
        claim(
            status=allocated(
                result(
                    adminAccess=True,
                    tolerations=[{"operator": "Exists"}],
                    bindingConditions=["attached"],
                    bindingFailureConditions=["failed"],
                    shareID=UUID,
                    consumedCapacity={"bw": "10"},
                ),
            )
        )
    ),
    "33 results are too many": bad(
        claim(status=allocated(*[result()] * 33)),
        "status.allocation.devices.results",
        "Too many: 33: must have at most 32 items",
    ),
    "a result request must exist": bad(
        claim(status=allocated(result("tpu"))),
        f"{RES0}.request",
        "must be the name of a request in the claim",
    ),
    "a result needs a request": bad(
        claim(status=allocated(result(""))), f"{RES0}.request", "Required value"
    ),
    "a result driver must be a driver name": bad(
        claim(status=allocated(result(driver="bad_driver"))), f"{RES0}.driver", "RFC 1123"
    ),
    "a result pool must be a pool name": bad(
        claim(status=allocated(result(pool="Pool"))), f"{RES0}.pool", "RFC 1123 subdomain"
    ),
    "a result device must be a device name": bad(
        claim(status=allocated(result(device="gpu.0"))), f"{RES0}.device", "RFC 1123 label"
    ),
    "a shareID must be a lower-case UUID": bad(
        claim(status=allocated(result(shareID=UUID.upper()))),
        f"{RES0}.shareID",
        "uid must be in RFC 4122 normalized form",
    ),
    "result tolerations are checked": bad(
        claim(
            status=allocated(result(tolerations=[{"key": "k", "operator": "Exists", "value": "v"}]))
        ),
        f"{RES0}.tolerations[0].value",
        "must be empty for operator `Exists`",
    ),
    "result binding conditions need failure conditions": bad(
        claim(status=allocated(result(bindingConditions=["attached"]))),
        f"{RES0}.bindingFailureConditions",
        "Required value",
    ),
    "allocation config is valid with a known source": ok(
        claim(
            status={
                "allocation": {
                    "devices": {
                        "results": [result()],
                        "config": [{"source": "FromClass", **opaque()}],
                    }
                }
            }
        )
    ),
    "65 allocation configs are too many": bad(
        claim(
            status={
                "allocation": {
                    "devices": {
                        "results": [result()],
                        "config": [{"source": "FromClaim", **opaque()}] * 65,
                    }
                }
            }
        ),
        "status.allocation.devices.config",
        "Too many: 65: must have at most 64 items",
    ),
    "an allocation config source must be known": bad(
        claim(
            status={
                "allocation": {
                    "devices": {
                        "results": [result()],
                        "config": [{"source": "FromPod", **opaque()}],
                    }
                }
            }
        ),
        "status.allocation.devices.config[0].source",
        'Unsupported value: "FromPod": supported values: "FromClaim", "FromClass"',
    ),
    "an allocation node selector is checked": bad(
        claim(
            status={
                "allocation": {
                    "devices": {"results": [result()]},
                    "nodeSelector": node_selector(),
                }
            }
        ),
        "status.allocation.nodeSelector.nodeSelectorTerms",
        "must have at least one node selector term",
    ),
    "reservedFor needs an allocation": bad(
        claim(status={"reservedFor": [consumer()]}),
        "status.reservedFor",
        "Forbidden: may not be specified when `allocation` is not set",
    ),
    "256 consumers are allowed": ok(
        claim(status=allocated(reservedFor=[consumer(f"uid-{i}") for i in range(256)]))
    ),
    "257 consumers are too many": bad(
        claim(status=allocated(reservedFor=[consumer(f"uid-{i}") for i in range(257)])),
        "status.reservedFor",
        "Too many: 257: must have at most 256 items",
    ),
    "consumer uids must be unique": bad(
        claim(status=allocated(reservedFor=[consumer(), consumer()])),
        "status.reservedFor[1]",
        f'Duplicate value: "{UUID}"',
    ),
    "a consumer needs a uid": bad(
        claim(status=allocated(reservedFor=[consumer(uid="")])),
        "status.reservedFor[0].uid",
        "Required value",
    ),
    "a consumer needs a resource": bad(
        claim(status=allocated(reservedFor=[consumer(resource="")])),
        "status.reservedFor[0].resource",
        "Required value",
    ),
    "device status for an allocated device is valid": ok(
        claim(
            status=allocated(
                devices=[
                    device_status(
                        conditions=[condition()],
                        data={"k": "v"},
                        networkData={"interfaceName": "eth0", "ips": ["10.9.8.7/24"]},
                    )
                ]
            )
        )
    ),
    "device status must name an allocated device": bad(
        claim(status=allocated(devices=[device_status(device="gpu-1")])),
        "status.devices[0]",
        f'Invalid value: "{DRIVER}/pool-a/gpu-1": must be an allocated device in the claim',
    ),
    "nine device conditions are too many": bad(
        claim(
            status=allocated(
                devices=[device_status(conditions=[condition(f"c{i}") for i in range(9)])]
            )
        ),
        "status.devices[0].conditions",
        "Too many: 9: must have at most 8 items",
    ),
    "a device condition needs a reason": bad(
        claim(status=allocated(devices=[device_status(conditions=[condition(reason="")])])),
        "status.devices[0].conditions[0].reason",
        "Required value",
    ),
    "device data must be a JSON object": bad(
        claim(status=allocated(devices=[device_status(data="text")])),
        "status.devices[0].data",
        "must be a valid JSON object",
    ),
    "device network addresses must be in CIDR form": bad(
        claim(status=allocated(devices=[device_status(networkData={"ips": ["10.9.8.7"]})])),
        "status.devices[0].networkData.ips[0]",
        "must be a valid address in CIDR form",
    ),
}


@table(STATUS)
def test_claim_status_rules_report_the_offending_field(case: Case) -> None:
    check(case)


# -------------------------------------------------------------- templates, nodes and pods

NODE_AFFINITY = "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"


def _field_term(operator: str, values: list[str]) -> dict[str, Any]:
    return {"key": "metadata.name", "operator": operator, "values": values}


def _with_node_affinity(raw: dict[str, Any], terms: list[dict[str, Any]]) -> dict[str, Any]:
    """`raw` (a pod) requiring its node to match `terms` (as kube-apiserver validates them)."""
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {}}}
    affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] = {
        "nodeSelectorTerms": terms
    }
    raw["spec"]["affinity"] = affinity
    return raw


OTHER = {
    "a template with labels and annotations is valid": ok(
        template({"labels": {"app": "a"}, "annotations": {"example.com/note": "x"}})
    ),
    "a template may not set a name for its claims": bad(
        template({"name": "fixed"}), "spec.metadata.name", "Forbidden: cannot be set for a template"
    ),
    "a template may not set finalizers for its claims": bad(
        template({"finalizers": ["example.com/f"]}),
        "spec.metadata.finalizers",
        "cannot be set for a template",
    ),
    "template labels are checked": bad(
        template({"labels": {"app": "-"}}), "spec.metadata.labels", "a valid label"
    ),
    "a template claim spec is checked": bad(
        template(None, exact(count=-1)),
        "spec.spec.devices.requests[0].exactly.count",
        "must be greater than zero for allocationMode ExactCount, got -1",
    ),
    "a node with a DNS subdomain name is valid": ok(node("node-1.example.com")),
    "a node name must be a DNS subdomain": bad(
        node("Node_1"), "metadata.name", "RFC 1123 subdomain"
    ),
    "a pod with a claim and a template claim is valid": ok(
        pod(
            [
                {"name": "gpu", "resourceClaimName": "shared-gpu"},
                {"name": "nic", "resourceClaimTemplateName": "nic-template"},
            ],
            [
                {"name": "gpu"},
                {"name": "nic", "request": "port"},
                {"name": "nic", "request": "other"},
            ],
            init_claims=[{"name": "gpu"}],
        )
    ),
    "a pod name must be a DNS subdomain": bad(
        pod([], name="Pod_A"), "metadata.name", "RFC 1123 subdomain"
    ),
    "pod claim names must be DNS labels": bad(
        pod([{"name": "GPU", "resourceClaimName": "c"}]),
        "spec.resourceClaims[0].name",
        "RFC 1123 label",
    ),
    "pod claim names must be unique": bad(
        pod([{"name": "gpu", "resourceClaimName": "a"}, {"name": "gpu", "resourceClaimName": "b"}]),
        "spec.resourceClaims[1]",
        'Duplicate value: "gpu"',
    ),
    "a pod claim needs a source": bad(
        pod([{"name": "gpu"}]),
        "spec.resourceClaims[0]",
        "must specify one of: `resourceClaimName`, `resourceClaimTemplateName`",
    ),
    "a pod claim may not have two sources": bad(
        pod([{"name": "gpu", "resourceClaimName": "a", "resourceClaimTemplateName": "b"}]),
        "spec.resourceClaims[0]",
        "at most one of `resourceClaimName` or `resourceClaimTemplateName` may be specified",
    ),
    "a pod claim source must be a claim name": bad(
        pod([{"name": "gpu", "resourceClaimName": "Claim_A"}]),
        "spec.resourceClaims[0].resourceClaimName",
        "RFC 1123 subdomain",
    ),
    "container claims must name a pod claim": bad(
        pod([{"name": "gpu", "resourceClaimName": "a"}], [{"name": "tpu"}]),
        "spec.containers[0].resources.claims[0]",
        'Not found: "tpu": must be one of the names in pod.spec.resourceClaims: gpu',
    ),
    "a container's unknown claim lists only the named pod claims, as the server": bad(
        pod(
            [{"name": "", "resourceClaimName": "a"}, {"name": "scratch", "resourceClaimName": "b"}],
            [{"name": "tpu"}],
        ),
        "spec.containers[0].resources.claims[0]",
        'Not found: "tpu": must be one of the names in pod.spec.resourceClaims: scratch',
        "spec.resourceClaims[0].name",
    ),
    "only unnamed pod claims: the list is empty": bad(
        pod([{"name": "", "resourceClaimName": "a"}], [{"name": "tpu"}]),
        "spec.containers[0].resources.claims[0]",
        'Not found: "tpu": must be one of the names in pod.spec.resourceClaims which is empty',
        "spec.resourceClaims[0].name",
    ),
    "init container claims must name a pod claim": bad(
        pod([], init_claims=[{"name": "gpu"}]),
        "spec.initContainers[0].resources.claims[0]",
        "pod.spec.resourceClaims which is empty",
    ),
    "a toleration's operator is Equal or Exists": bad(
        _pod_spec(tolerations=[{"key": "k", "operator": "Bogus"}]),
        "spec.tolerations[0].operator",
        'Unsupported value: "Bogus": supported values: "Equal", "Exists"',
    ),
    "tolerationSeconds needs the NoExecute effect": bad(
        _pod_spec(tolerations=[{"key": "k", "effect": "NoSchedule", "tolerationSeconds": 5}]),
        "spec.tolerations[0].effect",
        "effect must be 'NoExecute' when `tolerationSeconds` is set",
    ),
    "an Exists toleration has no value": bad(
        _pod_spec(tolerations=[{"key": "k", "operator": "Exists", "value": "v"}]),
        "spec.tolerations[0].operator",
        "value must be empty when `operator` is 'Exists'",
    ),
    "a request may not be negative": bad(
        _pod_spec(resources={"requests": {"cpu": "-1"}}),
        "spec.containers[0].resources.requests[cpu]",
        "must be greater than or equal to 0",
    ),
    "a request is within its limit": bad(
        _pod_spec(resources={"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}),
        "spec.containers[0].resources.requests",
        "must be less than or equal to cpu limit of 1",
    ),
    "an extended resource needs a limit equal to its request": bad(
        _pod_spec(resources={"requests": {"example.com/fpga": "1"}}),
        "spec.containers[0].resources.limits",
        "Limit must be set for non overcommitable resources",
    ),
    "an extended resource is counted in whole units": bad(
        _pod_spec(
            resources={
                "requests": {"example.com/fpga": "500m"},
                "limits": {"example.com/fpga": "500m"},
            }
        ),
        "spec.containers[0].resources.requests[example.com/fpga]",
        "must be an integer",
        "spec.containers[0].resources.limits[example.com/fpga]",
    ),
    "a resource name is standard or fully qualified": bad(
        _pod_spec(resources={"requests": {"bogus": "1"}}),
        "spec.containers[0].resources.requests[bogus]",
        "must be a standard resource for containers",
    ),
    "a limit without a request is also the request": bad(
        _pod_spec(resources={"limits": {"bogus": "1"}}),
        "spec.containers[0].resources.limits[bogus]",
        "must be a standard resource for containers",
        "spec.containers[0].resources.requests[bogus]",
    ),
    "huge pages come in whole pages": bad(
        _pod_spec(
            resources={"requests": {"hugepages-2Mi": "1Mi"}, "limits": {"hugepages-2Mi": "1Mi"}}
        ),
        "spec.containers[0].resources.requests[hugepages-2Mi]",
        "is not positive integer multiple of hugepages-2Mi",
        "spec.containers[0].resources.limits[hugepages-2Mi]",
    ),
    "a scheduling gate is a qualified name": bad(
        _pod_spec(schedulingGates=[{"name": "a."}]),
        "spec.schedulingGates[0]",
        "name part must consist of",
    ),
    "a scheduling group names its pod group": bad(
        _pod_spec(schedulingGroup={}),
        "spec.schedulingGroup.podGroupName",
        "Invalid value: null: must specify one of: `podGroupName`",
    ),
    "a scheduling group's pod group name is a subdomain": bad(
        _pod_spec(schedulingGroup={"podGroupName": "Train_Workers"}),
        "spec.schedulingGroup.podGroupName",
        "a lowercase RFC 1123 subdomain",
    ),
    "a node selector holds labels": bad(
        _pod_spec(nodeSelector={"pool": "a/b"}),
        "spec.nodeSelector",
        "a valid label must be an empty string",
    ),
    "container claims may not repeat": bad(
        pod([{"name": "gpu", "resourceClaimName": "a"}], [{"name": "gpu"}, {"name": "gpu"}]),
        "spec.containers[0].resources.claims[1]",
        'Duplicate value: "gpu"',
    ),
    "a pod's node affinity on metadata.name takes one value": bad(
        _with_node_affinity(pod([]), [{"matchFields": [_field_term("In", ["node-a", "node-b"])]}]),
        f"{NODE_AFFINITY}.nodeSelectorTerms[0].matchFields[0].values",
        "must be only one value when `operator` is 'In' or 'NotIn' for node field selector",
    ),
    "a pod's node affinity needs a term": bad(
        _with_node_affinity(pod([]), []),
        f"{NODE_AFFINITY}.nodeSelectorTerms",
        "must have at least one node selector term",
    ),
    "a pod's node affinity on one node name is fine": ok(
        _with_node_affinity(pod([]), [{"matchFields": [_field_term("In", ["node-a"])]}])
    ),
}


@table(OTHER)
def test_template_node_and_pod_rules_report_the_offending_field(case: Case) -> None:
    check(case)


# ------------------------------------------------------------------------- whole-object tests


def runtime_class(**fields: Any) -> dict[str, Any]:
    return {
        "apiVersion": "node.k8s.io/v1",
        "kind": "RuntimeClass",
        "metadata": {"name": "kata"},
        "handler": "kata",
        **fields,
    }


RUNTIME_CLASSES = {
    "a runtime class with overhead and scheduling": ok(
        runtime_class(
            overhead={"podFixed": {"cpu": "250m", "memory": "120Mi"}},
            scheduling={
                "nodeSelector": {"runtime": "kata"},
                "tolerations": [{"key": "runtime", "operator": "Exists", "effect": "NoSchedule"}],
            },
        )
    ),
    "the handler is required": bad(runtime_class(handler=""), "handler", "Required value"),
    "the handler is a DNS label": bad(
        runtime_class(handler="kata.v2"), "handler", "RFC 1123 label"
    ),
    "overhead is checked as container limits": bad(
        runtime_class(overhead={"podFixed": {"cpu": "-1"}}),
        "overhead.limits[cpu]",
        'Invalid value: "-1": must be greater than or equal to 0',
    ),
    "an overhead resource is a container resource": bad(
        runtime_class(overhead={"podFixed": {"pods": "1"}}),
        "overhead.limits[pods]",
        "must be a standard resource for containers",
    ),
    "the node selector is labels": bad(
        runtime_class(scheduling={"nodeSelector": {"bad key!": "x"}}),
        "scheduling.nodeSelector",
        "name part must consist of alphanumeric characters",
    ),
    "a toleration appears once": bad(
        runtime_class(
            scheduling={"tolerations": [{"key": "a", "operator": "Exists"}] * 2},
        ),
        "scheduling.tolerations[1]",
        'Duplicate value: {"key":"a","operator":"Exists"}',
    ),
    "an unknown field": bad(
        runtime_class(runtimeHandler="kata"), "runtimeHandler", "unknown field"
    ),
}


@table(RUNTIME_CLASSES)
def test_runtime_class_rules_report_the_offending_field(case: Case) -> None:
    check(case)


def priority_class(**fields: Any) -> dict[str, Any]:
    return {
        "apiVersion": "scheduling.k8s.io/v1",
        "kind": "PriorityClass",
        "metadata": {"name": "high"},
        "value": 1000,
        **fields,
    }


PRIORITY_CLASSES = {
    "a user class at the highest user value": ok(
        priority_class(value=1_000_000_000, preemptionPolicy="Never", globalDefault=True)
    ),
    "a built-in class as the cluster has it": ok(
        priority_class(metadata={"name": "system-node-critical"}, value=2_000_001_000)
    ),
    "a user class above one billion": bad(
        priority_class(value=2_000_000_000),
        "value",
        "Forbidden: maximum allowed value of a user defined priority is 1000000000",
    ),
    "an unknown preemption policy": bad(
        priority_class(preemptionPolicy="Sometimes"),
        "preemptionPolicy",
        'Unsupported value: "Sometimes": supported values: "PreemptLowerPriority", "Never"',
    ),
    "the system- prefix is reserved": bad(
        priority_class(metadata={"name": "system-batch"}),
        "metadata.name",
        "reserved for system use only. error: system-batch is not a known system priority class",
    ),
    "a built-in class with another value": bad(
        priority_class(metadata={"name": "system-cluster-critical"}, value=5),
        "metadata.name",
        "error: value of system-cluster-critical PriorityClass must be 2000000000",
    ),
    "a built-in class is never the default": bad(
        priority_class(
            metadata={"name": "system-cluster-critical"}, value=2_000_000_000, globalDefault=True
        ),
        "metadata.name",
        "error: globalDefault of system-cluster-critical PriorityClass must be false",
    ),
    "the name is a DNS subdomain": bad(
        priority_class(metadata={"name": "High"}), "metadata.name", "RFC 1123 subdomain"
    ),
}


@table(PRIORITY_CLASSES)
def test_priority_class_rules_report_the_offending_field(case: Case) -> None:
    check(case)


def test_every_problem_of_an_object_is_reported_at_once() -> None:
    raw = claim(
        exact("GPU", deviceClassName="", count=-1),
        constraints=[{"requests": ["tpu"]}],
        metadata={"name": "Bad_Claim"},
    )
    assert [path for path, _ in problems(raw)] == [
        "metadata.name",
        "spec.devices.requests[0].name",
        "spec.devices.requests[0].exactly.deviceClassName",
        "spec.devices.requests[0].exactly.count",
        "spec.devices.constraints[0].requests[0]",
        "spec.devices.constraints[0]",
    ]


def test_a_list_over_its_limit_reports_only_that_it_is_too_long() -> None:
    raw = claim(*[exact("BAD") for _ in range(33)])
    assert problems(raw) == [("spec.devices.requests", "Too many: 33: must have at most 32 items")]


def test_fields_of_gated_features_are_not_errors() -> None:
    raw = rslice(
        [
            dev(
                nodeName="node-1",
                attributes={"ids": {"ints": [1, 2]}, "names": {"strings": ["a"]}},
                capacity={"bw": {"value": "10", "requestPolicy": {"default": "1"}}},
                allowMultipleAllocations=True,
                consumesCounters=[{"counterSet": "set", "counters": {"mem": {"value": "1Gi"}}}],
                taints=[{"key": "k", "effect": "NoExecute"}],
                bindsToNode=True,
                bindingConditions=["attached"],
                bindingFailureConditions=["failed"],
                nodeAllocatableResourceMappings={"cpu": {"capacityKey": "bw"}},
            )
        ],
        nodeName=None,
        perDeviceNodeSelection=True,
    )
    assert problems(raw) == []


def test_a_v1beta1_claim_is_checked_in_the_v1_shape() -> None:
    raw = {
        "apiVersion": "resource.k8s.io/v1beta1",
        "kind": "ResourceClaim",
        "metadata": {"name": "c", "namespace": "default"},
        "spec": {"devices": {"requests": [{"name": "gpu", "deviceClassName": "c", "count": -1}]}},
    }
    assert [path for path, _ in problems(raw)] == ["spec.devices.requests[0].exactly.count"]


def test_validate_accepts_typed_objects_and_ignores_unknown_ones() -> None:
    assert validate(ResourceSlice()) == [
        ("metadata.name", "Required value: name or generateName is required"),
        ("spec.driver", "Required value"),
        ("spec.pool.name", "Required value"),
        ("spec.pool.resourceSliceCount", "must be greater than zero, got 0"),
        (
            "spec",
            "Required value: exactly one of `nodeName`, `nodeSelector`, `allNodes`, "
            "`perDeviceNodeSelection` is required",
        ),
    ]
    assert validate(object()) == []


def test_overlong_map_keys_are_shortened_in_paths() -> None:
    key = "a" * 200
    found = problems(attr_map({key: {}}))
    value_path = [path for path, msg in found if "exactly one value" in msg]
    assert value_path == [f"spec.devices[0].attributes[{'a' * 47}...{'a' * 46}]"]
