"""The known classes of disagreement between dralloc and upstream's allocator, as predicates.

Each class has a name, the case files in tests/data/oracle/ that show it, and a predicate that
recognises it from the case and the two answers alone. The hypothesis test sets aside exactly
the outcomes a predicate recognises (and nothing else); the corpus test keeps one shrunk case
per class as a strict xfail, so the day dralloc changes, the mark must go.

Known classes:

`distinct-attribute-remembers-one-device-per-request`
    Upstream's distinctAttribute constraint keeps the attribute values it has accepted in a
    map keyed by request name (k8s.io/dynamic-resource-allocation v0.36.3,
    structured/internal/{incubating,experimental}/constraint.go,
    `distinctAttributeConstraint.add`: `m.attributes[requestName] = *attribute`). A second
    device of the same request overwrites the first one's value, so with count >= 3 the third
    device is compared only with the second and may repeat the first one's value. dralloc
    checks every pair (spec/dra-v1.md 6.10 asks for true pairwise distinctness), so it
    refuses allocations upstream makes. Recognised when upstream allocated and its own result
    has two devices that one distinctAttribute constraint covers with the same value; or, for
    an `All` request, when dralloc reports the constraint error for a device whose value
    repeats another device's while upstream, having forgotten that earlier
    value, went on (and stopped at a later device: unfit, or another error). It also shows
    one claim later: upstream, having placed an earlier claim that repeats a value, goes on to
    a later claim and stops there at a selector's CEL runtime error, where dralloc, finding no
    distinct placement for the earlier claim, answers no fit (recognised when dralloc says
    unfit, upstream's error names a claim, and an earlier claim has a distinctAttribute
    constraint over a request of three or more devices or `All`). dralloc departs on purpose
    here; upstream's behaviour is the latent bug.

`cel-allow-multiple-allocations-with-consumable-capacity-off`
    With DRAConsumableCapacity off, dralloc refuses `device.allowMultipleAllocations` in a
    selector as a compile error. Upstream compiles selectors in the StoredExpressions
    environment (dynamic-resource-allocation/cel/compile.go: `c.envset.Env(ptr.Deref(
    options.EnvType, environment.StoredExpressions))`), and that environment ignores the
    `FeatureEnabled` switch (k8s.io/apiserver/pkg/cel/environment/environment.go: "The
    StoredExpressions environment ignores this function"), so the 1.34 device type with the
    field is declared and the selector is evaluated. dralloc is the side to change: stored
    selectors must keep working when the gate is off. Recognised when the gate is off and
    dralloc's error names the undefined field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from oracle import Outcome

DISTINCT_ONE_PER_REQUEST = "distinct-attribute-remembers-one-device-per-request"
ALLOW_MULTIPLE_WITH_CAPACITY_OFF = "cel-allow-multiple-allocations-with-consumable-capacity-off"
Doc = dict[str, Any]


def _devices(documents: list[Doc]) -> dict[tuple[str, str, str], Doc]:
    out: dict[tuple[str, str, str], Doc] = {}
    for doc in documents:
        if doc["kind"] != "ResourceSlice":
            continue
        spec = doc["spec"]
        for device in spec.get("devices", []):
            out.setdefault((spec["driver"], spec["pool"]["name"], device["name"]), device)
    return out


def _attribute(device: Doc, driver: str, qualified: str) -> Any:
    """Constraint lookup: the exact key, then the bare id when the domain is the driver's."""
    attributes = device.get("attributes", {})
    if qualified in attributes:
        return attributes[qualified]
    domain, _, ident = qualified.rpartition("/")
    return attributes.get(ident) if domain == driver else None


def _covers(constraint: Mapping[str, Any], request: str) -> bool:
    names = constraint.get("requests") or []
    return not names or request in names or request.split("/", 1)[0] in names


def has_repeated_distinct_value(
    documents: list[Doc], claims: list[Doc], results: list[Doc]
) -> bool:
    """Whether some result gives two devices the same value of an attribute that one of its
    claim's distinctAttribute constraints says must differ."""
    devices = _devices(documents)
    for claim, result in zip(claims, results, strict=False):
        for constraint in claim["spec"]["devices"].get("constraints", []):
            attribute = constraint.get("distinctAttribute")
            if attribute is None:
                continue
            seen: set[str] = set()
            for entry in result["devices"]["results"]:
                if not _covers(constraint, entry["request"]):
                    continue
                key = (entry["driver"], entry["pool"], entry["device"])
                value = _attribute(devices.get(key, {}), entry["driver"], attribute)
                text = json.dumps(value, sort_keys=True)
                if text in seen:
                    return True
                seen.add(text)
    return False


def _pending_claims(documents: list[Doc]) -> list[Doc]:
    return [d for d in documents if d["kind"] == "ResourceClaim" and "status" not in d]


_CONSTRAINT_ERROR = re.compile(
    r"^claim (?P<claim>[^,]+), request (?P<request>\S+): cannot add device "
    r"(?P<driver>[^/]+)/(?P<pool>[^/]+)/(?P<device>\S+) because a claim constraint would not "
    r"be satisfied$"
)


def _repeats_distinct_value(documents: list[Doc], message: str) -> bool:
    """Whether dralloc's `All`-mode constraint error names a device whose distinctAttribute
    value another device of the case also has, in a claim with no matchAttribute constraint
    over the refused request that could have refused it instead. (Which devices came earlier
    depends on pool order, binding conditions included; any other device with the value is
    taken as the witness.)"""
    found = _CONSTRAINT_ERROR.match(message)
    if found is None:
        return False
    name = found["claim"].rpartition("/")[2]
    claim = next(
        (c for c in _pending_claims(documents) if c["metadata"]["name"] == name),
        None,
    )
    if claim is None:
        return False
    constraints = claim["spec"]["devices"].get("constraints", [])
    if any("matchAttribute" in c and _covers(c, found["request"]) for c in constraints):
        return False  # a matchAttribute over this request could have refused the device
    devices = _devices(documents)
    refused = (found["driver"], found["pool"], found["device"])
    if refused not in devices:
        return False
    for constraint in constraints:
        attribute = constraint.get("distinctAttribute")
        if attribute is None or not _covers(constraint, found["request"]):
            continue
        value = _attribute(devices[refused], refused[0], attribute)
        if value is None:
            continue
        others = (
            _attribute(device, key[0], attribute)
            for key, device in devices.items()
            if key != refused
        )
        if value in others:
            return True
    return False


_CLAIM_ERROR = re.compile(r"^claim (?P<claim>[^:,]+)[:,]")


def _spreads_three_or_more(claim: Doc, constraint: Mapping[str, Any]) -> bool:
    """Whether the distinctAttribute constraint covers a request (or subrequest) that may
    take three or more devices, where upstream's one-value-per-request memory shows."""
    for request in claim["spec"]["devices"].get("requests", []):
        if not _covers(constraint, request["name"]):
            continue
        for option in [request.get("exactly", {}), *request.get("firstAvailable", [])]:
            if option.get("allocationMode") == "All" or option.get("count", 1) >= 3:
                return True
    return False


def _distinct_claim_before(documents: list[Doc], message: str) -> bool:
    """Whether upstream's error names a claim after one with such a constraint."""
    found = _CLAIM_ERROR.match(message)
    if found is None:
        return False
    name = found["claim"].rpartition("/")[2]
    for claim in _pending_claims(documents):
        if claim["metadata"]["name"] == name:
            return False
        for constraint in claim["spec"]["devices"].get("constraints", []):
            if "distinctAttribute" in constraint and _spreads_three_or_more(claim, constraint):
                return True
    return False


def is_distinct_one_per_request(outcome: Outcome) -> bool:
    documents = outcome.case.documents
    upstream, mine = outcome.upstream, outcome.dralloc
    if upstream["status"] == "allocated":
        return has_repeated_distinct_value(
            documents, _pending_claims(documents), upstream["results"]
        )
    if mine["status"] == "error":
        return _repeats_distinct_value(documents, mine.get("message", ""))
    return (
        mine["status"] == "unfit"
        and upstream["status"] == "error"
        and _distinct_claim_before(documents, upstream.get("message", ""))
    )


def _gate_off(outcome: Outcome, gate: str) -> bool:
    return f"{gate}=false" in outcome.case.gates.split(",")


def is_allow_multiple_allocations_refused(outcome: Outcome) -> bool:
    return (
        _gate_off(outcome, "DRAConsumableCapacity")
        and outcome.dralloc["status"] == "error"
        and "undefined field 'allowMultipleAllocations'" in outcome.dralloc.get("message", "")
    )


PREDICATES: dict[str, Callable[[Outcome], bool]] = {
    DISTINCT_ONE_PER_REQUEST: is_distinct_one_per_request,
    ALLOW_MULTIPLE_WITH_CAPACITY_OFF: is_allow_multiple_allocations_refused,
}


def classify(outcome: Outcome) -> str | None:
    """The known class a disagreement belongs to, or None for a new one."""
    if outcome.agrees:
        return None
    for name, predicate in PREDICATES.items():
        if predicate(outcome):
            return name
    return None
