"""An independent model of small DRA allocation problems, for the invariant tests.

Owns the problem description (pools, slices, devices, classes, claims) that
`allocation_strategies` generates, its rendering into the Kubernetes objects dralloc loads
(with the CEL text of every selector), and an oracle written from spec/dra-v1.md sections 2, 4
and 6 without reading the allocator: it evaluates the selector forms in plain Python, computes
consumed capacity by 6.9, and lists every rule an assignment of devices to requests breaks
(`violations`). The same oracle checks the allocator's answers and drives the brute-force search
(`find_assignment`), so "valid" means one thing in both directions.

Every rule is monotone (adding a device to an assignment can only break more rules), which is
what makes pruning partial assignments in the brute-force search sound.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import combinations
from typing import Any

from dralloc.api.resource import AllocationResult

GROUP_DOMAIN = "example.com"
DRIVERS = ("gpu.example.com", "nic.example.com", "fpga.example.com")
NODE_LABELS = {"node-1": {"zone": "a"}, "node-2": {"zone": "b"}}
HARD_EFFECTS = frozenset({"NoSchedule", "NoExecute"})
COUNTER_SET = "cs"

# ------------------------------------------------------------------------------- the model


def quantity_text(value: Fraction) -> str:
    """A quantity string for a whole or milli-unit value."""
    if value.denominator == 1:
        return str(value.numerator)
    milli = value * 1000
    assert milli.denominator == 1, value
    return f"{milli.numerator}m"


def ceil_int(value: Fraction) -> int:
    return math.ceil(value)


@dataclass(frozen=True)
class Capacity:
    value: Fraction
    default: Fraction | None = None
    valid_values: tuple[Fraction, ...] | None = None
    range_min: Fraction | None = None
    range_max: Fraction | None = None
    range_step: Fraction | None = None

    @property
    def has_policy(self) -> bool:
        return self.default is not None

    def consumed(self, requested: Fraction | None) -> Fraction:
        """What one allocation takes of this capacity (spec 6.9 `consumed`)."""
        if requested is None:
            return self.default if self.default is not None else self.value
        if not self.has_policy:
            return requested
        if self.range_min is not None:
            low, step = self.range_min, self.range_step
            if requested < low:
                return low
            if step is None:
                return requested
            n = math.ceil(Fraction(ceil_int(requested) - ceil_int(low), ceil_int(step)))
            return low + n * step
        if self.valid_values:
            return next((v for v in self.valid_values if requested <= v), requested)
        return requested

    def violates(self, amount: Fraction) -> bool:
        """The amount is not one the request policy allows (spec 6.9 `violates`)."""
        if not self.has_policy or amount == self.default:
            return False
        if self.range_min is not None:
            if self.range_max is not None and amount > self.range_max:
                return True
            if self.range_step is not None:
                diff = ceil_int(amount) - ceil_int(self.range_min)
                return diff % ceil_int(self.range_step) != 0
            return False
        if self.valid_values:
            return amount not in self.valid_values
        return False

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"value": quantity_text(self.value)}
        if self.default is not None:
            policy: dict[str, Any] = {"default": quantity_text(self.default)}
            if self.valid_values is not None:
                policy["validValues"] = [quantity_text(v) for v in self.valid_values]
            if self.range_min is not None:
                rng: dict[str, Any] = {"min": quantity_text(self.range_min)}
                if self.range_max is not None:
                    rng["max"] = quantity_text(self.range_max)
                if self.range_step is not None:
                    rng["step"] = quantity_text(self.range_step)
                policy["validRange"] = rng
            doc["requestPolicy"] = policy
        return doc


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str


@dataclass(frozen=True)
class Toleration:
    key: str = ""
    operator: str = "Equal"
    value: str = ""
    effect: str = ""

    def tolerates(self, taint: Taint) -> bool:
        if self.effect and self.effect != taint.effect:
            return False
        if not self.key:
            return self.operator == "Exists"
        if self.key != taint.key:
            return False
        return self.operator == "Exists" or self.value == taint.value

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"operator": self.operator}
        if self.key:
            doc["key"] = self.key
        if self.value:
            doc["value"] = self.value
        if self.effect:
            doc["effect"] = self.effect
        return doc


@dataclass(frozen=True)
class Device:
    driver: str
    pool: str
    slice: str
    index: int  # position in its slice
    name: str
    attributes: tuple[tuple[str, tuple[str, Any]], ...]  # key -> (kind, value)
    capacity: tuple[tuple[str, Capacity], ...]
    multi: bool
    consumes: tuple[tuple[str, int], ...]  # counter -> amount in set COUNTER_SET
    taints: tuple[Taint, ...]

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.driver, self.pool, self.name)

    @property
    def capacities(self) -> dict[str, Capacity]:
        return dict(self.capacity)

    def attribute(self, qualified: str) -> tuple[str, Any] | None:
        """Constraint lookup (6.10): the exact key, then the bare id in the driver's domain."""
        attrs = dict(self.attributes)
        if qualified in attrs:
            return attrs[qualified]
        domain, _, ident = qualified.rpartition("/")
        if domain == self.driver:
            return attrs.get(ident)
        return None

    def domain_attributes(self, domain: str) -> dict[str, tuple[str, Any]]:
        """`device.attributes[domain]` as CEL sees it (6.1 grouping rule)."""
        out: dict[str, tuple[str, Any]] = {}
        for key, value in self.attributes:
            dom, _, ident = key.rpartition("/")
            if (dom or self.driver) == domain:
                out[ident] = value
        return out

    def domain_capacity(self, domain: str) -> dict[str, Capacity]:
        out: dict[str, Capacity] = {}
        for key, cap in self.capacity:
            dom, _, ident = key.rpartition("/")
            if (dom or self.driver) == domain:
                out[ident] = cap
        return out

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"name": self.name}
        if self.attributes:
            doc["attributes"] = {k: {kind: v} for k, (kind, v) in self.attributes}
        if self.capacity:
            doc["capacity"] = {k: c.document() for k, c in self.capacity}
        if self.multi:
            doc["allowMultipleAllocations"] = True
        if self.consumes:
            doc["consumesCounters"] = [
                {
                    "counterSet": COUNTER_SET,
                    "counters": {c: {"value": str(v)} for c, v in self.consumes},
                }
            ]
        if self.taints:
            doc["taints"] = [
                {"key": t.key, "value": t.value, "effect": t.effect} for t in self.taints
            ]
        return doc


@dataclass(frozen=True)
class Slice:
    name: str
    driver: str
    pool: str
    placement: tuple[str, str]  # ("nodeName", node) | ("allNodes", "") | ("zone", zone)
    counters: tuple[tuple[str, int], ...] = ()  # a counters-only slice when non-empty

    def reachable_from(self, node: str) -> bool:
        kind, value = self.placement
        if kind == "nodeName":
            return value == node
        if kind == "allNodes":
            return True
        return NODE_LABELS.get(node, {}).get("zone") == value


@dataclass(frozen=True)
class Pool:
    driver: str
    name: str
    slices: tuple[Slice, ...]

    @property
    def counters(self) -> dict[str, int]:
        return {c: v for s in self.slices for c, v in s.counters}


# A selector form, evaluated here and rendered as CEL for the allocator.
Selector = tuple[Any, ...]


def selector_cel(form: Selector) -> str:
    kind = form[0]
    if kind == "driver":
        return f'device.driver == "{form[1]}"'
    if kind == "string_eq":
        _, domain, name, value = form
        return (
            f'"{name}" in device.attributes["{domain}"] && '
            f'device.attributes["{domain}"].{name} == "{value}"'
        )
    if kind == "int_ge":
        _, domain, name, value = form
        return (
            f'"{name}" in device.attributes["{domain}"] && '
            f'device.attributes["{domain}"].{name} >= {value}'
        )
    if kind == "capacity_ge":
        _, domain, name, value = form
        amount = quantity_text(Fraction(value))
        return (
            f'"{name}" in device.capacity["{domain}"] && '
            f'device.capacity["{domain}"].{name}.compareTo(quantity("{amount}")) >= 0'
        )
    if kind == "multi":
        return "device.allowMultipleAllocations" if form[1] else "!device.allowMultipleAllocations"
    raise AssertionError(form)


def selector_holds(form: Selector, device: Device) -> bool:
    kind = form[0]
    if kind == "driver":
        return device.driver == form[1]
    if kind == "string_eq":
        _, domain, name, value = form
        found = device.domain_attributes(domain).get(name)
        return found is not None and found == ("string", value)
    if kind == "int_ge":
        _, domain, name, value = form
        found = device.domain_attributes(domain).get(name)
        return found is not None and found[0] == "int" and found[1] >= value
    if kind == "capacity_ge":
        _, domain, name, value = form
        cap = device.domain_capacity(domain).get(name)
        return cap is not None and cap.value >= value
    if kind == "multi":
        return device.multi == form[1]
    raise AssertionError(form)


@dataclass(frozen=True)
class DeviceClass:
    name: str
    selectors: tuple[Selector, ...]


@dataclass(frozen=True)
class Alternative:
    """An `exactly` request or one firstAvailable subrequest."""

    name: str  # result name: `req` or `req/sub`
    device_class: str
    selectors: tuple[Selector, ...]
    all_mode: bool
    count: int
    tolerations: tuple[Toleration, ...]
    capacity: tuple[tuple[str, Fraction], ...]

    def document(self, *, sub_name: str | None) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        if sub_name is not None:
            doc["name"] = sub_name
        doc["deviceClassName"] = self.device_class
        if self.selectors:
            doc["selectors"] = [{"cel": {"expression": selector_cel(s)}} for s in self.selectors]
        if self.all_mode:
            doc["allocationMode"] = "All"
        elif self.count != 1 or sub_name is not None:
            doc["count"] = self.count
        if self.tolerations:
            doc["tolerations"] = [t.document() for t in self.tolerations]
        if self.capacity:
            doc["capacity"] = {"requests": {k: quantity_text(v) for k, v in self.capacity}}
        return doc


@dataclass(frozen=True)
class Request:
    name: str
    alternatives: tuple[Alternative, ...]
    first_available: bool

    @property
    def has_all_mode(self) -> bool:
        return any(a.all_mode for a in self.alternatives)


@dataclass(frozen=True)
class Constraint:
    distinct: bool
    attribute: str
    requests: tuple[str, ...]

    def applies(self, result_name: str) -> bool:
        parent = result_name.split("/", 1)[0]
        return not self.requests or parent in self.requests or result_name in self.requests


@dataclass(frozen=True)
class Claim:
    name: str
    requests: tuple[Request, ...]
    constraints: tuple[Constraint, ...]

    def document(self) -> dict[str, Any]:
        requests: list[dict[str, Any]] = []
        for request in self.requests:
            if request.first_available:
                subs = [a.document(sub_name=a.name.split("/", 1)[1]) for a in request.alternatives]
                requests.append({"name": request.name, "firstAvailable": subs})
            else:
                requests.append(
                    {
                        "name": request.name,
                        "exactly": request.alternatives[0].document(sub_name=None),
                    }
                )
        devices: dict[str, Any] = {"requests": requests}
        if self.constraints:
            devices["constraints"] = [
                {
                    **({"requests": list(c.requests)} if c.requests else {}),
                    ("distinctAttribute" if c.distinct else "matchAttribute"): c.attribute,
                }
                for c in self.constraints
            ]
        return {
            "apiVersion": "resource.k8s.io/v1",
            "kind": "ResourceClaim",
            "metadata": {"name": self.name, "namespace": "default"},
            "spec": {"devices": devices},
        }

    def alternative(self, result_name: str) -> Alternative | None:
        for request in self.requests:
            for alt in request.alternatives:
                if alt.name == result_name:
                    return alt
        return None


@dataclass(frozen=True)
class Problem:
    nodes: tuple[str, ...]
    pools: tuple[Pool, ...]
    devices: tuple[Device, ...]
    classes: tuple[DeviceClass, ...]
    prior: tuple[tuple[Claim, str], ...]  # claims committed first, each with its node
    pending: tuple[Claim, ...]
    node: str  # where the pending claims are allocated
    disabled_gates: tuple[str, ...] = ()  # DRADeviceTaints and/or DRAPartitionableDevices

    @property
    def gates(self) -> str:
        """The `--feature-gates` text for this problem."""
        return ",".join(f"{gate}=false" for gate in self.disabled_gates)

    @property
    def taints_on(self) -> bool:
        return "DRADeviceTaints" not in self.disabled_gates

    @property
    def counters_on(self) -> bool:
        return "DRAPartitionableDevices" not in self.disabled_gates

    @property
    def class_map(self) -> dict[str, DeviceClass]:
        return {c.name: c for c in self.classes}

    @property
    def device_map(self) -> dict[tuple[str, str, str], Device]:
        return {d.key: d for d in self.devices}

    def slice_of(self, device: Device) -> Slice:
        return next(s for p in self.pools for s in p.slices if s.name == device.slice)

    def base_documents(self) -> list[dict[str, Any]]:
        docs: list[dict[str, Any]] = [
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": n, "labels": dict(NODE_LABELS[n])},
            }
            for n in self.nodes
        ]
        for cls in self.classes:
            spec: dict[str, Any] = {}
            if cls.selectors:
                spec["selectors"] = [
                    {"cel": {"expression": selector_cel(s)}} for s in cls.selectors
                ]
            docs.append(
                {
                    "apiVersion": "resource.k8s.io/v1",
                    "kind": "DeviceClass",
                    "metadata": {"name": cls.name},
                    "spec": spec,
                }
            )
        for pool in self.pools:
            for sl in pool.slices:
                spec = {
                    "driver": pool.driver,
                    "pool": {
                        "name": pool.name,
                        "generation": 1,
                        "resourceSliceCount": len(pool.slices),
                    },
                }
                kind, value = sl.placement
                if kind == "nodeName":
                    spec["nodeName"] = value
                elif kind == "allNodes":
                    spec["allNodes"] = True
                else:
                    spec["nodeSelector"] = {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {"key": "zone", "operator": "In", "values": [value]}
                                ]
                            }
                        ]
                    }
                if sl.counters:
                    spec["sharedCounters"] = [
                        {
                            "name": COUNTER_SET,
                            "counters": {c: {"value": str(v)} for c, v in sl.counters},
                        }
                    ]
                else:
                    spec["devices"] = [d.document() for d in self.devices if d.slice == sl.name]
                docs.append(
                    {
                        "apiVersion": "resource.k8s.io/v1",
                        "kind": "ResourceSlice",
                        "metadata": {"name": sl.name},
                        "spec": spec,
                    }
                )
        return docs


def render(documents: Sequence[dict[str, Any]]) -> str:
    """One `kind: List` JSON document (JSON is YAML, so `Cluster.from_yaml` reads it)."""
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": list(documents)})


# ------------------------------------------------------------------------- the oracle


@dataclass
class Committed:
    """What already-allocated claims hold, in the oracle's terms (spec 6.1)."""

    dedicated: set[tuple[str, str, str]] = field(default_factory=set)
    capacity: dict[tuple[str, str, str], dict[str, Fraction]] = field(default_factory=dict)
    charged: set[tuple[str, str, str]] = field(default_factory=set)  # count for counters

    def add(
        self, problem: Problem, claim: Claim, picks: Mapping[str, Sequence[tuple[str, str, str]]]
    ) -> None:
        """Record one claim's allocation, given as result name -> devices."""
        devices = problem.device_map
        for result_name, keys in picks.items():
            alt = claim.alternative(result_name)
            assert alt is not None, result_name
            for key in keys:
                device = devices[key]
                self.charged.add(key)
                if device.multi:
                    consumed = consumption(device, dict(alt.capacity))
                    tally = self.capacity.setdefault(key, {})
                    for name, amount in (consumed or {}).items():
                        tally[name] = tally.get(name, Fraction(0)) + amount
                else:
                    self.dedicated.add(key)


def consumption(device: Device, requested: Mapping[str, Fraction]) -> dict[str, Fraction] | None:
    """Per-capacity consumption of one allocation, or None if the device cannot serve it."""
    caps = device.capacities
    if any(name not in caps for name in requested):
        return None
    out: dict[str, Fraction] = {}
    for name, cap in caps.items():
        amount = cap.consumed(requested.get(name))
        if cap.violates(amount):
            return None
        out[name] = amount
    return out


def is_selectable(problem: Problem, alt: Alternative, device: Device, node: str) -> bool:
    """Reachable from the node, and every class and request selector holds."""
    if not problem.slice_of(device).reachable_from(node):
        return False
    device_class = problem.class_map[alt.device_class]
    return all(selector_holds(s, device) for s in (*device_class.selectors, *alt.selectors))


def fits_committed_capacity(device: Device, alt: Alternative, committed: Committed) -> bool:
    consumed = consumption(device, dict(alt.capacity))
    if consumed is None:
        return False
    used = committed.capacity.get(device.key, {})
    caps = device.capacities
    return all(used.get(n, Fraction(0)) + a <= caps[n].value for n, a in consumed.items())


def all_mode_devices(
    problem: Problem, alt: Alternative, node: str, committed: Committed
) -> list[Device]:
    """The fixed device list of an `All` request (6.4): selectable and fitting committed usage."""
    return [
        d
        for d in problem.devices
        if is_selectable(problem, alt, d, node) and fits_committed_capacity(d, alt, committed)
    ]


def untolerated(problem: Problem, device: Device, alt: Alternative) -> Taint | None:
    """The first hard taint no toleration of `alt` tolerates (none with DRADeviceTaints off)."""
    if not problem.taints_on:
        return None
    for taint in device.taints:
        if taint.effect in HARD_EFFECTS and not any(t.tolerates(taint) for t in alt.tolerations):
            return taint
    return None


# An assignment: per claim, result name -> chosen devices (one alternative per request).
Assignment = list[dict[str, tuple[tuple[str, str, str], ...]]]


def violations(
    problem: Problem,
    claims: Sequence[Claim],
    node: str,
    committed: Committed,
    assignment: Assignment,
    *,
    complete: bool = True,
) -> list[str]:
    """Every rule of spec 6.4-6.10 that `assignment` breaks. With `complete=False` the
    assignment may leave requests out (a partial assignment during the brute-force search)."""
    problems: list[str] = []
    devices = problem.device_map
    dedicated_uses: dict[tuple[str, str, str], int] = {}
    capacity_used: dict[tuple[str, str, str], dict[str, Fraction]] = {}
    charged = set(committed.charged)
    for claim, picks in zip(claims, assignment, strict=False):
        for request in claim.requests:
            chosen = [a for a in request.alternatives if a.name in picks]
            if len(chosen) > 1:
                problems.append(f"{claim.name}: request {request.name} got several alternatives")
            if not chosen and complete:
                problems.append(f"{claim.name}: request {request.name} got no devices")
        for result_name, keys in picks.items():
            where = f"{claim.name}/{result_name}"
            alt = claim.alternative(result_name)
            if alt is None:
                problems.append(f"{where}: no such request or subrequest")
                continue
            if len(set(keys)) != len(keys):
                problems.append(f"{where}: the same device twice in one request")
            if alt.all_mode:
                expected = {d.key for d in all_mode_devices(problem, alt, node, committed)}
                if not expected:
                    problems.append(f"{where}: All request without any matching device")
                if set(keys) != expected:
                    problems.append(f"{where}: All got {sorted(keys)}, expected {sorted(expected)}")
            elif len(keys) != alt.count:
                problems.append(f"{where}: {len(keys)} devices for count {alt.count}")
            for key in keys:
                device = devices.get(key)
                if device is None:
                    problems.append(f"{where}: unknown device {key}")
                    continue
                if not is_selectable(problem, alt, device, node):
                    problems.append(f"{where}: {key} is unreachable or fails a selector")
                taint = untolerated(problem, device, alt)
                if taint is not None:
                    problems.append(f"{where}: {key} has untolerated taint {taint}")
                if key in committed.dedicated:
                    problems.append(f"{where}: {key} is already allocated")
                if device.consumes and not problem.counters_on:
                    problems.append(f"{where}: {key} consumes counters, partitioning is off")
                consumed = consumption(device, dict(alt.capacity))
                if consumed is None:
                    problems.append(f"{where}: {key} cannot serve the capacity request")
                    consumed = {}
                if device.multi:
                    tally = capacity_used.setdefault(key, {})
                    for name, amount in consumed.items():
                        tally[name] = tally.get(name, Fraction(0)) + amount
                else:
                    dedicated_uses[key] = dedicated_uses.get(key, 0) + 1
                    caps = device.capacities
                    for name, amount in consumed.items():
                        if amount > caps[name].value:
                            problems.append(f"{where}: {key} has too little {name}")
                charged.add(key)
        problems.extend(_constraint_violations(claim, picks, devices))
    for key, uses in dedicated_uses.items():
        if uses > 1:
            problems.append(f"{key} handed out {uses} times")
    for key, tally in capacity_used.items():
        caps = devices[key].capacities
        before = committed.capacity.get(key, {})
        for name, amount in tally.items():
            total = before.get(name, Fraction(0)) + amount
            if total > caps[name].value:
                problems.append(
                    f"{key}: capacity {name} over-committed ({total} > {caps[name].value})"
                )
    for pool in problem.pools:
        limits = pool.counters
        if not limits or not problem.counters_on:
            continue
        used: dict[str, int] = {}
        for key in charged:
            device = devices[key]
            if (device.driver, device.pool) == (pool.driver, pool.name):
                for counter, amount in device.consumes:
                    used[counter] = used.get(counter, 0) + amount
        for counter, amount in used.items():
            if amount > limits[counter]:
                problems.append(
                    f"pool {pool.driver}/{pool.name}: counter {counter} exceeded "
                    f"({amount} > {limits[counter]})"
                )
    return problems


def _constraint_violations(
    claim: Claim,
    picks: Mapping[str, Sequence[tuple[str, str, str]]],
    devices: Mapping[tuple[str, str, str], Device],
) -> list[str]:
    problems: list[str] = []
    for constraint in claim.constraints:
        values: list[tuple[str, Any]] = []
        for result_name, keys in picks.items():
            if not constraint.applies(result_name):
                continue
            for key in keys:
                device = devices.get(key)
                if device is None:
                    continue
                value = device.attribute(constraint.attribute)
                if value is None:
                    problems.append(f"{claim.name}: {key} lacks {constraint.attribute}")
                    continue
                values.append(value)
        if constraint.distinct:
            if len(set(values)) != len(values):
                problems.append(f"{claim.name}: {constraint.attribute} not distinct: {values}")
        elif len(set(values)) > 1:
            problems.append(f"{claim.name}: {constraint.attribute} does not match: {values}")
    return problems


def _options(
    problem: Problem, request: Request, node: str, committed: Committed
) -> Iterator[tuple[str, tuple[tuple[str, str, str], ...]]]:
    for alt in request.alternatives:
        if alt.all_mode:
            listed = all_mode_devices(problem, alt, node, committed)
            if listed:
                yield alt.name, tuple(d.key for d in listed)
            continue
        usable = [
            d.key
            for d in problem.devices
            if is_selectable(problem, alt, d, node)
            and untolerated(problem, d, alt) is None
            and d.key not in committed.dedicated
            and not (d.consumes and not problem.counters_on)
            and fits_committed_capacity(d, alt, committed)
        ]
        for combo in combinations(usable, alt.count):
            yield alt.name, combo


def find_assignment(
    problem: Problem, claims: Sequence[Claim], node: str, committed: Committed
) -> Assignment | None:
    """Brute force: any assignment of devices to every request that breaks no rule."""
    slots = [(i, request) for i, claim in enumerate(claims) for request in claim.requests]
    assignment: Assignment = [{} for _ in claims]

    def search(position: int) -> bool:
        if position == len(slots):
            return not violations(problem, claims, node, committed, assignment)
        claim_index, request = slots[position]
        for name, keys in _options(problem, request, node, committed):
            assignment[claim_index][name] = keys
            partial = violations(problem, claims, node, committed, assignment, complete=False)
            if not partial and search(position + 1):
                return True
            del assignment[claim_index][name]
        return False

    return assignment if search(0) else None


def assignment_of(result: AllocationResult) -> dict[str, tuple[tuple[str, str, str], ...]]:
    """An allocation result as result name -> devices (in result order)."""
    picks: dict[str, list[tuple[str, str, str]]] = {}
    for r in result.devices.results:
        picks.setdefault(r.request, []).append((r.driver, r.pool, r.device))
    return {name: tuple(keys) for name, keys in picks.items()}


def search_position(problem: Problem, key: tuple[str, str, str]) -> tuple[str, str, str, int]:
    """Candidate order (6.3-4, 6.5): pools by (driver, name), slices by name, device order."""
    device = problem.device_map[key]
    return (device.driver, device.pool, device.slice, device.index)


def fits_alone(
    problem: Problem,
    claim: Claim,
    alt: Alternative,
    device: Device,
    node: str,
    committed: Committed,
) -> bool:
    """Could `device` be given to `alt` on its own, next to what is committed? (What
    `explain` calls "fits": every per-device rule, constraints only needing the attribute.)"""
    if (
        not is_selectable(problem, alt, device, node)
        or untolerated(problem, device, alt) is not None
    ):
        return False
    if device.key in committed.dedicated or not fits_committed_capacity(device, alt, committed):
        return False
    if device.consumes and not problem.counters_on:
        return False
    if device.key not in committed.charged and device.consumes:
        pool = next(p for p in problem.pools if (p.driver, p.name) == (device.driver, device.pool))
        used = dict(device.consumes)
        for key in committed.charged:
            other = problem.device_map[key]
            if (other.driver, other.pool) == (device.driver, device.pool):
                for counter, amount in other.consumes:
                    used[counter] = used.get(counter, 0) + amount
        if any(amount > pool.counters[counter] for counter, amount in used.items()):
            return False
    return all(
        device.attribute(c.attribute) is not None for c in claim.constraints if c.applies(alt.name)
    )
