"""The runtime cost of DRA selectors (`dralloc.cel.runtime_cost`) against cel-go's, as
Kubernetes 1.36's allocator counts it.

Upstream: k8s.io/dynamic-resource-allocation cel `CompileCELExpression` programs run with
`cel.CostLimit(CELSelectorExpressionMaxCost)` (1,000,000), and `DeviceMatches` fails past it
with "operation cancelled: actual cost limit exceeded"; `EvalDetails.ActualCost` is the
count. The rows of tests/cel/data/upstream_runtime_costs.tsv (gates, limit, expression,
answer, cost) were printed by that code (tests/cel/upstream_runtime_cost, rebuilt and re-run
by the k8s-marked tests at the end, which also compare 2 x 150 random selectors, each with
two limits).
"""

from __future__ import annotations

import itertools
import json
import random
import re
import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cel_selector_gen import SelectorGenerator
from cel_testing import ALL_ON, build_upstream_program

from dralloc.allocator import AllocationError
from dralloc.api.io import load_text
from dralloc.api.quantity import Quantity
from dralloc.api.resource import Device, DeviceAttribute, DeviceCapacity
from dralloc.cel import (
    COST_LIMIT_EXCEEDED,
    CelCompileError,
    CelDevice,
    CelEnvironment,
    CelRuntimeError,
    CostCounting,
)
from dralloc.cel.cost import estimate_cost
from dralloc.cel.environment import TOO_COSTLY
from dralloc.cel.library import RESULT_TYPES
from dralloc.cel.runtime_cost import CostLimitExceeded, LibraryCalls, RuntimeCostCounter
from dralloc.cel.source import tokenize
from dralloc.cel.syntax import parse
from dralloc.features import Features
from dralloc.testing import Cluster

HERE = Path(__file__).resolve().parent
TABLE = HERE / "data" / "upstream_runtime_costs.tsv"
DRIVER = "gpu.example.com"
LIMIT = 1_000_000
EXCEEDED = f"ERR {COST_LIMIT_EXCEEDED}"

# The device of the table's rows, as resource.k8s.io/v1 writes it (and upstream reads it).
ATTRIBUTES: dict[str, dict[str, Any]] = {
    "model": {"string": "A100-SXM"},
    "mem": {"int": 40},
    "ok": {"bool": True},
    "v": {"version": "1.2.3"},
    "o/x": {"int": 1},
    "o/ip": {"string": "10.0.0.1"},
}
CAPACITY = {"memory": {"value": "40Gi"}}
# Beside those with DRAListTypeAttributes on (without it, a list attribute fails the device).
LIST_ATTRIBUTES: dict[str, dict[str, Any]] = {
    "l": {"ints": [1, 2, 3]},
    "names": {"strings": ["gpu-a", "gpu-bb"]},
}
# The device of the random selectors (`cel_selector_gen.py` reads domain "d" and "dom").
RANDOM_ATTRIBUTES: dict[str, dict[str, Any]] = {
    "d/model": {"string": "A100"},
    "d/s": {"string": "a,b"},
    "d/b": {"bool": True},
    "d/ip": {"string": "10.0.0.1"},
    "d/net": {"string": "10.1.0.0/16"},
    "d/n": {"int": 3},
    "dom/s": {"string": "x"},
    "dom/b": {"bool": False},
}
RANDOM_CAPACITY = {"d/m": {"value": "2Gi"}}
# One set of compiled single operations for the whole module, as an environment keeps one.
_CALLS = LibraryCalls()
_FIELDS = {"string": "string", "int": "int_value", "bool": "bool_value", "version": "version"}


def _device(attributes: dict[str, dict[str, Any]], capacity: dict[str, Any], on: bool) -> CelDevice:
    attrs = {}
    for name, value in attributes.items():
        ((kind, raw),) = value.items()
        attrs[name] = DeviceAttribute(**{_FIELDS.get(kind, kind): raw})
    caps = {name: DeviceCapacity(value=Quantity.parse(c["value"])) for name, c in capacity.items()}
    device = Device(name="d", attributes=attrs, capacity=caps)
    return CelDevice.build(DRIVER, device, ALL_ON if on else Features())


def _attributes(gates_on: bool) -> dict[str, dict[str, Any]]:
    return {**ATTRIBUTES, **LIST_ATTRIBUTES} if gates_on else ATTRIBUTES


def _table() -> list[tuple[bool, int, str, str, str]]:
    rows = []
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        gates, limit, expression, answer, cost = line.split("\t")
        rows.append((gates == "1", int(limit), expression, answer, cost))
    return rows


def _count(expression: str, device: CelDevice, limit: int) -> tuple[int, bool, bool]:
    """(cost, exceeded, order-dependent) of the counter alone."""
    tree = parse(tokenize(expression))
    assert tree is not None, expression
    counter = RuntimeCostCounter(tree, _CALLS, limit)
    assert device.variable is not None
    try:
        return counter.count(device.variable), False, counter.order_dependent
    except CostLimitExceeded as exc:
        return exc.cost, True, counter.order_dependent


def _answer(env: CelEnvironment, device: CelDevice, expression: str) -> str:
    try:
        return str(env.compile(expression).evaluate(device)).lower()
    except CelCompileError as exc:
        return f"COMPILE {exc}"
    except CelRuntimeError as exc:
        return f"ERR {exc}"


def test_the_count_is_upstreams_on_every_recorded_row() -> None:
    rows = _table()
    assert len(rows) > 150
    devices = {on: _device(_attributes(on), CAPACITY, on) for on in (False, True)}
    for gates_on, limit, expression, answer, cost in rows:
        mine, exceeded, order_dependent = _count(expression, devices[gates_on], limit)
        assert exceeded == (answer == EXCEEDED), (expression, limit, answer)
        if not order_dependent:  # else upstream's figure follows Go's map order
            assert mine == int(cost), (expression, limit, answer)


def test_the_allocators_answer_is_upstreams_past_the_limit_and_below_it() -> None:
    """Counting everything (`CostCounting.ALWAYS`) with the row's limit, dralloc answers as
    upstream's `DeviceMatches`: the limit's error exactly where upstream stops, and upstream's
    true or false elsewhere."""
    environments: dict[tuple[bool, int], CelEnvironment] = {}
    devices = {on: _device(_attributes(on), CAPACITY, on) for on in (False, True)}
    for gates_on, limit, expression, upstream, _ in _table():
        env = environments.setdefault(
            (gates_on, limit),
            CelEnvironment(
                ALL_ON if gates_on else Features(),
                cost_counting=CostCounting.ALWAYS,
                runtime_cost_limit=limit,
            ),
        )
        mine = _answer(env, devices[gates_on], expression)
        if upstream in ("true", "false", EXCEEDED):
            assert mine == upstream, (expression, limit)
        else:
            assert mine.startswith("ERR") and mine != EXCEEDED, (expression, mine, upstream)


def _doubled(times: int) -> str:
    """A string of 20 x 2**times characters built by `cel.bind`, then tested for containing
    itself: `contains` costs a tenth of one string times a tenth of the other."""
    names = "abcdefghijklmnop"[: times + 1]
    text = 'cel.bind(a, "xxxxxxxxxx" + "xxxxxxxxxx", '
    for before, name in itertools.pairwise(names):
        text += f"cel.bind({name}, {before} + {before}, "
    return text + f"{names[-1]}.contains({names[-1]})" + ")" * (times + 1)


def test_a_selector_past_the_limit_fails_in_cel_gos_words() -> None:
    env = CelEnvironment(Features())
    device = _device(ATTRIBUTES, CAPACITY, False)
    # 10,240 characters: 1,024 x 1,024 for `contains` alone (upstream's row in the table).
    past = _doubled(9)
    selector = env.compile(past)
    assert selector.counts_cost
    with pytest.raises(CelRuntimeError) as caught:
        selector.evaluate(device)
    assert str(caught.value) == "operation cancelled: actual cost limit exceeded"
    # Without counting, the library runs it to its end; half as long a string stays below.
    assert CelEnvironment(Features(), cost_counting=CostCounting.OFF).compile(past).evaluate(device)
    assert env.compile(_doubled(8)).evaluate(device)
    assert _count(_doubled(8), device, LIMIT) == (263_184, False, False)


def test_only_selectors_near_the_limit_count_unless_told_otherwise() -> None:
    cheap = 'device.attributes["gpu.example.com"].model == "A100-SXM"'
    costly = (
        "device.attributes.all(a, device.attributes[a].all(b, device.attributes.all(c, "
        "device.attributes[a][b] == device.attributes[c][b])))"
    )
    near = CelEnvironment(Features())
    assert not near.compile(cheap).counts_cost
    assert near.compile(costly).counts_cost  # estimated 727,299 (tests/cel/test_cel_cost.py)
    assert CelEnvironment(Features(), cost_counting=CostCounting.ALWAYS).compile(cheap).counts_cost
    off = CelEnvironment(Features(), cost_counting=CostCounting.OFF)
    assert not off.compile(costly).counts_cost


@pytest.mark.parametrize("seed", [3, 4])
def test_counting_only_near_the_limit_answers_as_counting_always(seed: int) -> None:
    """The shortcut (`NEAR_LIMIT`: no count for a selector whose estimate stays below half
    the limit) against the plain path (`ALWAYS`), with a limit low enough that random
    selectors fall on both sides of it; and both against `OFF` wherever the count stays
    below the limit."""
    limit = 30
    device = _device(RANDOM_ATTRIBUTES, RANDOM_CAPACITY, False)
    modes = {
        mode: CelEnvironment(Features(), cost_counting=mode, runtime_cost_limit=limit)
        for mode in CostCounting
    }
    stopped = 0
    for expression in SelectorGenerator(random.Random(seed)).selectors(30):
        answers = {mode: _answer(env, device, expression) for mode, env in modes.items()}
        assert answers[CostCounting.NEAR_LIMIT] == answers[CostCounting.ALWAYS], expression
        if answers[CostCounting.ALWAYS] == EXCEEDED:
            stopped += 1
        else:
            assert answers[CostCounting.ALWAYS] == answers[CostCounting.OFF], expression
    assert stopped > 0


# ----------------------------------------------------------------------- upstream, live


@pytest.fixture(scope="module")
def upstream_runtime_cost(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[bool, list[dict[str, Any]]], list[tuple[str, str]]]:
    """Builds tests/cel/upstream_runtime_cost; returns `run(gates_on, inputs)` -> (answer,
    cost) per input."""
    program = build_upstream_program(
        "upstream_runtime_cost", tmp_path_factory.mktemp("upstream_runtime_cost")
    )

    def run(gates_on: bool, inputs: list[dict[str, Any]]) -> list[tuple[str, str]]:
        out = subprocess.run(
            [str(program), "gates-on" if gates_on else "gates-off"],
            input="".join(json.dumps(one) + "\n" for one in inputs),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return [tuple(line.rsplit("\t", 1)) for line in out.splitlines()]  # type: ignore[misc]

    return run


@pytest.mark.k8s
def test_the_table_is_what_upstream_prints(
    upstream_runtime_cost: Callable[[bool, list[dict[str, Any]]], list[tuple[str, str]]],
) -> None:
    rows = _table()
    for gates_on in (False, True):
        mine = [row for row in rows if row[0] == gates_on]
        inputs = [
            {
                "expression": expression,
                "driver": DRIVER,
                "attributes": _attributes(gates_on),
                "capacity": CAPACITY,
                "limit": limit,
            }
            for _, limit, expression, _, _ in mine
        ]
        printed = upstream_runtime_cost(gates_on, inputs)
        assert printed == [(answer, cost) for _, _, _, answer, cost in mine]


def _two_variable(expression: str, rng: random.Random) -> str:
    """The selector with its first one-variable `all`, `exists` or `exists_one` made one of
    cel-go's two-variable forms (`exists(k0, s0, ...)`, `existsOne(k0, s0, ...)`)."""
    found = re.search(r"\.(all|exists|exists_one)\((s\d+)", expression)
    if found is None:
        return expression
    forms = ("existsOne", "exists_one") if found[1] == "exists_one" else ("all", "exists")
    key = f"k{found[2][1:]}"
    replaced = f".{rng.choice(forms)}({key}, {found[2]}"
    return expression[: found.start()] + replaced + expression[found.end() :]


@pytest.mark.k8s
@pytest.mark.parametrize(("seed", "two_variables"), [(1, False), (2, False), (3, True)])
def test_random_selectors_cost_what_upstream_counts(
    upstream_runtime_cost: Callable[[bool, list[dict[str, Any]]], list[tuple[str, str]]],
    seed: int,
    two_variables: bool,
) -> None:
    """150 random selectors per seed (the last: those of 600 with a macro, made one of
    cel-go's two-variable forms), with the
    default limit and with 30 (where most stop): the same count and the same verdict,
    except where a loop over a map of several entries stops early, errs or passes the
    limit, which upstream does in Go's random map order."""
    device = _device(RANDOM_ATTRIBUTES, RANDOM_CAPACITY, False)
    rng = random.Random(seed)
    expressions = SelectorGenerator(rng).selectors(600 if two_variables else 150)
    if two_variables:
        changed = (_two_variable(expression, rng) for expression in expressions)
        expressions = [e for e, plain in zip(changed, expressions, strict=True) if e != plain]
    for limit in (LIMIT, 30):
        inputs = [
            {
                "expression": expression,
                "driver": DRIVER,
                "attributes": RANDOM_ATTRIBUTES,
                "capacity": RANDOM_CAPACITY,
                "limit": limit,
            }
            for expression in expressions
        ]
        compared = 0
        for expression, (answer, cost) in zip(
            expressions, upstream_runtime_cost(False, inputs), strict=True
        ):
            if answer.startswith("COMPILE"):
                continue
            mine, exceeded, order_dependent = _count(expression, device, limit)
            if order_dependent:
                continue  # near the limit, even the verdict may follow Go's map order
            assert exceeded == (answer == EXCEEDED), (expression, limit, answer, mine)
            assert mine == int(cost), (expression, limit, answer)
            compared += 1
        assert compared > (25 if two_variables else 80)


def test_the_allocator_reports_a_stored_selector_past_the_limit_as_upstream_does() -> None:
    """A selector stored without today's validation (the server refuses it, as dralloc's
    commands do at load, but an object stored before is still allocated) stops at the limit:
    an allocation error naming the claim and the selector, as upstream's allocator wraps
    `DeviceMatches`' error."""
    past = _doubled(9).replace('"', '\\"')
    manifests = textwrap.dedent(
        f"""\
        apiVersion: v1
        kind: Node
        metadata: {{name: node-1}}
        ---
        apiVersion: resource.k8s.io/v1
        kind: DeviceClass
        metadata: {{name: gpu}}
        spec: {{selectors: [{{cel: {{expression: 'device.driver == "{DRIVER}"'}}}}]}}
        ---
        apiVersion: resource.k8s.io/v1
        kind: ResourceSlice
        metadata: {{name: slice-1}}
        spec:
          driver: {DRIVER}
          nodeName: node-1
          pool: {{name: pool-1, generation: 1, resourceSliceCount: 1}}
          devices: [{{name: gpu-0}}]
        ---
        apiVersion: resource.k8s.io/v1
        kind: ResourceClaim
        metadata: {{name: c, namespace: default}}
        spec:
          devices:
            requests:
            - name: req
              exactly:
                deviceClassName: gpu
                selectors: [{{cel: {{expression: "{past}"}}}}]
        """
    )
    assert CelEnvironment(Features(), stored=False).check(_doubled(9)) == [TOO_COSTLY]
    objects, problems = load_text(manifests, "stored.yaml")
    assert problems == []
    with pytest.raises(AllocationError) as caught:
        Cluster.from_objects(objects).allocate()
    assert str(caught.value) == (
        "claim default/c: selector #0: CEL runtime error: "
        "operation cancelled: actual cost limit exceeded"
    )


def test_the_shortcut_counts_what_the_estimate_does_not_bound() -> None:
    """Below half the limit, the actual cost stays under the limit: on every recorded row
    whose selector calls no function the estimate charges nominally, upstream's count is at
    most 1.25 times dralloc's estimate; the others are counted whatever their estimate
    (`lists.range(1000).sort()` is estimated at about a thousand and costs two million)."""
    for gates_on, limit, expression, answer, cost in _table():
        if limit != LIMIT or answer == EXCEEDED:
            continue
        counted = CelEnvironment(ALL_ON if gates_on else Features()).compile(expression)
        estimate = estimate_cost(tokenize(expression), RESULT_TYPES, list_type_attributes=gates_on)
        if not counted.counts_cost:
            assert int(cost) <= 1.25 * estimate, expression
    sorting = CelEnvironment(Features()).compile("lists.range(1000).sort().size() > 0")
    assert sorting.counts_cost
    with pytest.raises(CelRuntimeError, match="actual cost limit exceeded"):
        sorting.evaluate(_device(ATTRIBUTES, CAPACITY, False))
