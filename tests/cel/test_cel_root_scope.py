"""Root-scoped names: cel-go's leading dot (`.device.driver` names the top-level `device`).

Upstream (cel-go v0.26 in Kubernetes 1.36) parses `.name` as the name looked up from the
root scope; its checker still lets a comprehension variable of that name shadow it, and no
macro is expanded from a dotted name (`.has(...)`, `.cel.bind(...)` are undeclared there).
The costs these selectors get are rows of tests/cel/data/upstream_selector_costs.tsv.
"""

from __future__ import annotations

import pytest
from cel_testing import DRIVER, Evaluate, make_device

from dralloc.cel import CelCompileError, CelEnvironment
from dralloc.cel.source import tokenize, without_root_dots
from dralloc.features import Features

GPU = make_device(attributes={"model": "H100"}, capacity={"memory": "80Gi"})


@pytest.mark.parametrize(
    "expression",
    [
        f'.device.driver == "{DRIVER}"',
        f"(.device).driver == {DRIVER!r}",
        ".size(.device.driver) == 15",
        f'.device.attributes["{DRIVER}"].model == "H100"',
        '.device.attributes.exists(d, .device.attributes[d].model == "H100")',
        f'.device.capacity["{DRIVER}"].memory.compareTo(.quantity("80Gi")) == 0',
        f'device.attributes["{DRIVER}"].model in [.device.attributes["{DRIVER}"].model]',
        ".sets.contains([1, 2], [1])",
        f'cel.bind(a, .device.attributes["{DRIVER}"], a.model == "H100")',
    ],
)
def test_a_leading_dot_names_the_top_level_device(evaluate: Evaluate, expression: str) -> None:
    assert evaluate(expression, GPU)
    assert CelEnvironment(Features(), stored=False).check(expression) == []


def test_a_leading_dot_does_not_turn_a_selector_true(evaluate: Evaluate) -> None:
    assert not evaluate('.device.driver == "other.example.com"', GPU)
    assert not evaluate(f'.device.attributes["{DRIVER}"].model == "A100"', GPU)


def test_root_scoped_selectors_are_checked_like_the_plain_ones() -> None:
    env = CelEnvironment(Features(), stored=False)
    assert env.check(".device.driver") == ["must evaluate to bool or the unknown type, not string"]
    assert env.check(".device.model == 1") == ["undefined field 'model'"]
    assert env.check(".x == 1") == ["undeclared reference to 'x'"]


def test_no_macro_is_expanded_from_a_dotted_name() -> None:
    env = CelEnvironment(Features(), stored=False)
    for expression in (
        '.cel.bind(d, device.attributes["a"], d.model == "A")',
        ".has(device.attributes.x)",
    ):
        with pytest.raises(CelCompileError):
            env.compile(expression)


def test_only_dots_that_start_an_operand_are_blanked_in_place() -> None:
    source = '.device.attributes[.device.driver].x.size() > .5 && [.size("a")].all(y, y in [1])'
    blanked = without_root_dots(source, tokenize(source))
    assert len(blanked) == len(source)
    assert (
        blanked
        == ' device.attributes[ device.driver].x.size() > .5 && [ size("a")].all(y, y in [1])'
    )
    unchanged = 'device.driver == "a" && (device).driver == "a."'
    assert without_root_dots(unchanged, tokenize(unchanged)) is unchanged
