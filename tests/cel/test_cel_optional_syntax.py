"""cel-go's optional syntax (`x.?f`, `x[?k]`) and `first()`/`last()` against upstream
(`dralloc.cel.optional_syntax`).

The answers in tests/cel/data/upstream_optional_answers.tsv were printed by Kubernetes
1.36.3's `DeviceMatches` on OPTIONAL_DEVICE (tests/cel/upstream_eval, rebuilt and re-run by
the k8s-marked test at the end).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cel_testing import answer, make_device, upstream_answers

from dralloc.cel import CelDevice, CelEnvironment
from dralloc.cel.optional_syntax import without_optional_syntax
from dralloc.cel.source import RewriteError
from dralloc.features import Features

HERE = Path(__file__).resolve().parent
TABLE = HERE / "data" / "upstream_optional_answers.tsv"
OPTIONAL_DRIVER = "gpu.x"
OPTIONAL_DEVICE = make_device(attributes={"model": "H100", "index": 3}, capacity={"memory": "80Gi"})

# Selecting inside an optional without `?` (cel-go's optional chaining) is refused by name.
NOT_SUPPORTED = frozenset({'{"a": {"b": 1}}.?a.b.orValue(0) == 1'})


def test_optional_steps_answer_as_upstream() -> None:
    rows = upstream_answers(TABLE)
    assert len(rows) > 35
    env = CelEnvironment(Features())
    device = CelDevice.build(OPTIONAL_DRIVER, OPTIONAL_DEVICE, Features())
    for expression, upstream in rows:
        ours = answer(env, device, expression)
        if expression in NOT_SUPPORTED:
            assert ours.startswith("COMPILE ") and "not supported" in ours, ours
            continue
        assert ours.split(" ")[0] == upstream.split(" ")[0], (expression, ours, upstream)
        if upstream.startswith("ERR "):
            assert ours.endswith(upstream[len("ERR ") :]), (expression, ours, upstream)


def test_an_unknown_domain_is_present_as_upstreams_default_map_says() -> None:
    """`device.attributes` answers every domain (an empty map for an unknown one), so
    `.?dom` always has a value there, while `"dom" in device.attributes` is false."""
    rewritten = without_optional_syntax("device.attributes.?dom.hasValue()")
    assert rewritten == "(optional.of(device.attributes.dom)).hasValue()"
    env = CelEnvironment(Features())
    device = CelDevice.build(OPTIONAL_DRIVER, OPTIONAL_DEVICE, Features())
    assert (
        answer(env, device, 'device.attributes.?dom.hasValue() && !("dom" in device.attributes)')
        == "true"
    )


def test_the_rewrite_keeps_everything_around_the_optional_steps() -> None:
    source = 'size(x) > 0 && device.attributes["d"].?m.orValue("") == "a" || [1][?0].hasValue()'
    rewritten = without_optional_syntax(source)
    assert rewritten.startswith("size(x) > 0 && (")
    assert ".?" not in rewritten and "[?" not in rewritten
    assert without_optional_syntax("a ? b : c") == "a ? b : c"
    with pytest.raises(RewriteError):
        without_optional_syntax("x.?a[0]")


def test_a_chain_refused_is_named() -> None:
    problems = CelEnvironment(Features()).check('device.attributes["d"].?m.size() > 0 && x.?a.b')
    assert len(problems) == 1 and "optional value" in problems[0] and "not supported" in problems[0]


@pytest.mark.k8s
def test_the_table_is_what_upstream_prints(upstream_eval: Path) -> None:
    rows = upstream_answers(TABLE)
    device = {
        "driver": OPTIONAL_DRIVER,
        "attributes": {"model": {"string": "H100"}, "index": {"int": 3}},
        "capacity": {"memory": {"value": "80Gi"}},
    }
    lines = [json.dumps({"expression": e, **device}) for e, _ in rows]
    printed = subprocess.run(
        [str(upstream_eval), "gates-off"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert printed == [answer for _, answer in rows]
