"""Hypothesis strategies for small allocation problems (see `allocation_model`).

A problem has one or two nodes; one to three pools (drivers gpu/nic/fpga.example.com), each with
one or two device slices placed by nodeName, allNodes or a zone nodeSelector, and sometimes a
counters-only slice; up to twelve devices with a few int/string attributes (one of them in the
shared `example.com` domain, sometimes typed string instead of int), capacities (request
policies on multi-allocatable devices), shared-counter consumption and taints; DeviceClasses
with driver or attribute selectors; earlier claims to commit first and one to three pending
claims with one to three requests (ExactCount, All, firstAvailable, capacity requests,
tolerations) and matchAttribute / distinctAttribute constraints.

Most requests are built around a *witness*, a device reachable from the node that the class,
selectors, capacity request and tolerations are chosen to admit, so that a good share of the
problems have a solution; the rest are drawn blind. Weighted choices use `sampled_from` over
lists with repeats, so hypothesis shrinks towards the common case. One problem in three
switches off DRADeviceTaints or DRAPartitionableDevices (1.36 defaults otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from allocation_model import (
    DRIVERS,
    GROUP_DOMAIN,
    NODE_LABELS,
    Alternative,
    Capacity,
    Claim,
    Constraint,
    Device,
    DeviceClass,
    Pool,
    Problem,
    Request,
    Selector,
    Slice,
    Taint,
    Toleration,
    selector_holds,
)
from hypothesis import strategies as st

TOLERATIONS = (
    Toleration(key="maint", operator="Exists"),
    Toleration(key="maint", operator="Equal", value="x"),
    Toleration(key="maint", operator="Equal", value="y", effect="NoSchedule"),
    Toleration(operator="Exists"),
    Toleration(key="maint", operator="Exists", effect="NoExecute"),
)
CAPACITY_REQUESTS = (Fraction(1), Fraction(2), Fraction(3), Fraction(1, 2), Fraction(3, 2))


def chance(draw: st.DrawFn, numerator: int, denominator: int) -> bool:
    """True with probability numerator/denominator (False is the shrink target)."""
    return draw(st.sampled_from([False] * (denominator - numerator) + [True] * numerator))


def pick(draw: st.DrawFn, options: Sequence[Any]) -> Any:
    return draw(st.sampled_from(list(options)))


@st.composite
def capacities(draw: st.DrawFn, *, multi: bool) -> Capacity:
    value = draw(st.integers(1, 8))
    if not multi or chance(draw, 1, 2):
        # Unpoliced capacities may be fractional ("2500m"); policies stay in whole units,
        # where upstream's whole-unit rounding (quirk 7) and exact arithmetic agree.
        return Capacity(Fraction(value) - (Fraction(1, 2) if chance(draw, 1, 4) else 0))
    kind = pick(draw, ["default", "values", "range"])
    if kind == "default":
        return Capacity(Fraction(value), default=Fraction(draw(st.integers(0, value))))
    if kind == "values":
        values = sorted(draw(st.sets(st.integers(1, value), min_size=1, max_size=4)))
        return Capacity(
            Fraction(value),
            default=Fraction(pick(draw, values)),
            valid_values=tuple(Fraction(v) for v in values),
        )
    low = draw(st.integers(0, value - 1))
    step = draw(st.none() | st.integers(1, value - low))
    if step is None:
        high = draw(st.none() | st.integers(low, value))
        default = draw(st.integers(low, value if high is None else high))
    else:
        steps = (value - low) // step
        n_max = draw(st.none() | st.integers(0, steps))
        high = None if n_max is None else low + n_max * step
        default = low + step * draw(st.integers(0, steps if n_max is None else n_max))
    return Capacity(
        Fraction(value),
        default=Fraction(default),
        range_min=Fraction(low),
        range_max=None if high is None else Fraction(high),
        range_step=None if step is None else Fraction(step),
    )


def placements(nodes: Sequence[str]) -> st.SearchStrategy[tuple[str, str]]:
    return st.sampled_from(
        [("nodeName", "node-1")] * 4
        + [("allNodes", ""), ("allNodes", ""), ("zone", "a"), ("nodeName", "node-2")]
        + ([("zone", "b")] if "node-2" in nodes else [])
    )


def blind_selectors(drivers: Sequence[str]) -> st.SearchStrategy[Selector]:
    domain = st.sampled_from(list(drivers))
    return st.one_of(
        st.tuples(st.just("driver"), domain),
        st.tuples(st.just("string_eq"), domain, st.just("model"), st.sampled_from(["a", "b"])),
        st.tuples(st.just("int_ge"), domain, st.just("numa"), st.integers(0, 1)),
        st.tuples(st.just("capacity_ge"), domain, st.just("mem"), st.integers(1, 4)),
        st.tuples(st.just("multi"), st.booleans()),
    )


def witness_selectors(device: Device) -> list[Selector]:
    """Selector forms that hold for `device`."""
    forms: list[Selector] = [("driver", device.driver), ("multi", device.multi)]
    attrs = dict(device.attributes)
    if "model" in attrs:
        forms.append(("string_eq", device.driver, "model", attrs["model"][1]))
    if "numa" in attrs:
        forms.append(("int_ge", device.driver, "numa", attrs["numa"][1]))
    caps = device.capacities
    if "mem" in caps:
        forms.append(("capacity_ge", device.driver, "mem", min(caps["mem"].value, 4)))
    return forms


@st.composite
def alternatives(
    draw: st.DrawFn,
    name: str,
    classes: Sequence[DeviceClass],
    drivers: Sequence[str],
    witnesses: Sequence[Device],
    *,
    max_count: int,
    allow_all: bool,
) -> Alternative:
    witness: Device | None = None
    if witnesses and not chance(draw, 1, 4):
        witness = pick(draw, witnesses)
    all_mode = allow_all and chance(draw, 1, 12)
    if witness is None:
        device_class = pick(draw, [classes[0].name] * 2 + [c.name for c in classes])
        selector_pool = blind_selectors(drivers)
    else:
        usable = [c.name for c in classes if all(selector_holds(s, witness) for s in c.selectors)]
        device_class = pick(draw, usable)
        selector_pool = st.sampled_from(witness_selectors(witness))
    selectors = draw(
        st.sampled_from([0, 0, 0, 1, 1, 2]).flatmap(
            lambda n: st.lists(selector_pool, min_size=n, max_size=n)
        )
    )
    tolerations: list[Toleration] = []
    hard = [t for t in (witness.taints if witness else ()) if t.effect != "None"]
    if hard and chance(draw, 3, 4):
        tolerations = [pick(draw, [t for t in TOLERATIONS if t.tolerates(hard[0])])]
    elif chance(draw, 1, 5):
        tolerations = draw(st.lists(st.sampled_from(TOLERATIONS), max_size=2, unique=True))
    capacity: tuple[tuple[str, Fraction], ...] = ()
    if chance(draw, 1, 4):
        mem = witness.capacities.get("mem") if witness else None
        options = [q for q in CAPACITY_REQUESTS if mem is None or q <= mem.value]
        capacity = (("mem", pick(draw, options or CAPACITY_REQUESTS)),)
    return Alternative(
        name=name,
        device_class=device_class,
        selectors=tuple(selectors),
        all_mode=all_mode,
        count=0 if all_mode else pick(draw, [c for c in (1, 1, 1, 2, 2, 3) if c <= max_count]),
        tolerations=tuple(tolerations),
        capacity=capacity,
    )


@st.composite
def claims(
    draw: st.DrawFn,
    name: str,
    classes: Sequence[DeviceClass],
    drivers: Sequence[str],
    witnesses: Sequence[Device],
    *,
    max_requests: int,
    max_count: int,
    allow_all: bool,
) -> Claim:
    def alternative(alt_name: str) -> Alternative:
        return draw(
            alternatives(
                alt_name,
                classes,
                drivers,
                witnesses,
                max_count=max_count,
                allow_all=allow_all,
            )
        )

    requests: list[Request] = []
    for r in range(pick(draw, [n for n in (1, 1, 1, 2, 2, 3) if n <= max_requests])):
        request_name = f"r{r}"
        if chance(draw, 1, 4):
            subs = pick(draw, [1, 2, 2])
            alts = tuple(alternative(f"{request_name}/s{s}") for s in range(subs))
            requests.append(Request(request_name, alts, first_available=True))
        else:
            requests.append(Request(request_name, (alternative(request_name),), False))
    # Constraints never cover an `All` request: there a conflict is an error (6.6 d5), not a
    # "no", and these tests compare yes/no answers.
    references = [
        ref
        for request in requests
        if not request.has_all_mode
        for ref in (
            request.name,
            *(a.name for a in request.alternatives if request.first_available),
        )
    ]
    has_all = any(r.has_all_mode for r in requests)
    attributes = [f"{GROUP_DOMAIN}/group"] * 2 + [
        f"{d}/{a}" for d in drivers for a in ("model", "numa")
    ]
    constraints: list[Constraint] = []
    for _ in range(pick(draw, [0, 0, 0, 1, 1, 2]) if references else 0):
        refs = tuple(draw(st.lists(st.sampled_from(references), unique=True, max_size=3)))
        if not refs and has_all:
            refs = (references[0],)
        constraints.append(Constraint(chance(draw, 1, 2), pick(draw, attributes), refs))
    return Claim(name, tuple(requests), tuple(constraints))


@st.composite
def devices_of(draw: st.DrawFn, pools: Sequence[Pool], count: int) -> list[Device]:
    devices: list[Device] = []
    per_slice: dict[str, int] = {}
    for d in range(count):
        pool = pick(draw, pools)
        sl = pick(draw, [s for s in pool.slices if not s.counters])
        multi = chance(draw, 1, 4)
        attributes: list[tuple[str, tuple[str, Any]]] = []
        if not chance(draw, 1, 5):
            attributes.append(("model", ("string", pick(draw, ["a", "b"]))))
        if not chance(draw, 1, 5):
            attributes.append(("numa", ("int", draw(st.integers(0, 1)))))
        if not chance(draw, 1, 5):
            group = draw(st.integers(0, 1))
            value = ("string", str(group)) if chance(draw, 1, 5) else ("int", group)
            attributes.append((f"{GROUP_DOMAIN}/group", value))
        capacity: tuple[tuple[str, Capacity], ...] = ()
        if not chance(draw, 1, 3):
            capacity = (("mem", draw(capacities(multi=multi))),)
        consumes: tuple[tuple[str, int], ...] = ()
        counters = pool.counters
        if counters and not chance(draw, 1, 4):
            consumes = tuple(
                (c, draw(st.integers(1, v // 2 + 1)))
                for c, v in counters.items()
                if c == "mem" or chance(draw, 1, 2)
            )
        taints: tuple[Taint, ...] = ()
        if chance(draw, 1, 6):
            effect = pick(draw, ["NoSchedule", "NoExecute", "None"])
            taints = (Taint("maint", pick(draw, ["x", "y"]), effect),)
        index = per_slice.get(sl.name, 0)
        per_slice[sl.name] = index + 1
        devices.append(
            Device(
                driver=pool.driver,
                pool=pool.name,
                slice=sl.name,
                index=index,
                name=f"dev-{d}",
                attributes=tuple(attributes),
                capacity=capacity,
                multi=multi,
                consumes=consumes,
                taints=taints,
            )
        )
    return devices


@st.composite
def problems(
    draw: st.DrawFn,
    *,
    max_devices: int = 12,
    max_pending: int = 3,
    max_requests: int = 3,
    max_count: int = 3,
    max_prior: int = 2,
    allow_all: bool = True,
) -> Problem:
    """A small cluster, earlier claims to commit, and pending claims (module docstring)."""
    nodes = ("node-1", "node-2") if chance(draw, 1, 2) else ("node-1",)
    pools: list[Pool] = []
    for p in range(draw(st.integers(1, 3))):
        driver = DRIVERS[pick(draw, [0, 0, 1, 2])]
        pool_name = f"pool-{p}"
        slices = [
            Slice(f"{pool_name}-s{s}", driver, pool_name, draw(placements(nodes)))
            for s in range(pick(draw, [1, 1, 2]))
        ]
        if chance(draw, 1, 2):
            counters: tuple[tuple[str, int], ...] = (("mem", draw(st.integers(1, 8))),)
            if chance(draw, 1, 2):
                counters += (("units", draw(st.integers(1, 3))),)
            placement = draw(placements(nodes))
            slices.append(Slice(f"{pool_name}-counters", driver, pool_name, placement, counters))
        pools.append(Pool(driver, pool_name, tuple(slices)))
    count = draw(st.integers(1, max_devices) | st.integers((max_devices + 1) // 2, max_devices))
    devices = draw(devices_of(pools, count))

    drivers = sorted({p.driver for p in pools})
    classes = [DeviceClass("any", ())]
    classes += [DeviceClass(d.split(".", 1)[0], (("driver", d),)) for d in drivers]
    if chance(draw, 1, 2):
        extra = draw(st.lists(blind_selectors(drivers), min_size=1, max_size=2))
        classes.append(DeviceClass("extra", tuple(extra)))

    slices = {s.name: s for p in pools for s in p.slices}

    def claim(name: str, node: str, requests: int) -> Claim:
        witnesses = [d for d in devices if slices[d.slice].reachable_from(node)]
        return draw(
            claims(
                name,
                classes,
                drivers,
                witnesses,
                max_requests=requests,
                max_count=max_count,
                allow_all=allow_all,
            )
        )

    prior: list[tuple[Claim, str]] = []
    for i in range(draw(st.integers(0, max_prior))):
        node = pick(draw, nodes)
        prior.append((claim(f"prior-{i}", node, 2), node))
    node = pick(draw, ["node-1", "node-1", *nodes])
    pending_count = pick(draw, [n for n in (1, 1, 1, 2, 2, 3) if n <= max_pending])
    pending = tuple(claim(f"claim-{i}", node, max_requests) for i in range(pending_count))
    assert set(nodes) <= set(NODE_LABELS)
    disabled = pick(
        draw,
        [(), (), (), (), ("DRADeviceTaints",), ("DRAPartitionableDevices",)],
    )
    return Problem(
        nodes=nodes,
        pools=tuple(pools),
        devices=tuple(devices),
        classes=tuple(classes),
        prior=tuple(prior),
        pending=pending,
        node=node,
        disabled_gates=disabled,
    )
