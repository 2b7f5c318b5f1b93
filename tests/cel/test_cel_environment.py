"""CelEnvironment / CompiledSelector: the DRA selector semantics of spec/dra-v1.md section 5."""

from __future__ import annotations

import pytest
from cel_testing import ALL_ON, DRIVER, Evaluate, make_device

from dralloc.api.resource import Device
from dralloc.cel import (
    MAX_EXPRESSION_BYTES,
    CelCompileError,
    CelDevice,
    CelEnvironment,
    CelRuntimeError,
    CompiledSelector,
)
from dralloc.features import Features

GPU = make_device(
    attributes={"model": "H100", "index": 3, "healthy": True, "other.example.com/numa": 1},
    capacity={"memory": "80Gi"},
)

# ------------------------------------------------------------------------------ the device


def test_driver_is_the_slice_driver(evaluate: Evaluate) -> None:
    assert evaluate(f'device.driver == "{DRIVER}"')
    assert not evaluate('device.driver == "other"')


def test_attribute_without_domain_lands_in_the_driver_domain(evaluate: Evaluate) -> None:
    assert evaluate(f'device.attributes["{DRIVER}"].model == "H100"', GPU)
    assert evaluate(f'device.attributes["{DRIVER}"]["index"] == 3', GPU)
    assert evaluate(f'device.attributes["{DRIVER}"].healthy', GPU)


def test_attribute_with_domain_lands_in_that_domain(evaluate: Evaluate) -> None:
    assert evaluate('device.attributes["other.example.com"].numa == 1', GPU)
    assert evaluate(f'!("numa" in device.attributes["{DRIVER}"])', GPU)


def test_attribute_domain_can_be_selected_as_a_field(evaluate: Evaluate) -> None:
    device = make_device(attributes={"dom/x": 5})
    assert evaluate("device.attributes.dom.x == 5", device)
    assert evaluate('"y" in device.attributes.nodomain == false', device)


def test_capacity_is_a_quantity_by_domain(evaluate: Evaluate) -> None:
    assert evaluate(f'device.capacity["{DRIVER}"].memory.compareTo(quantity("40Gi")) > 0', GPU)
    assert evaluate(f'device.capacity["{DRIVER}"].memory == quantity("80Gi")', GPU)


def test_unknown_domain_looks_up_as_an_empty_map(evaluate: Evaluate) -> None:
    assert not evaluate('"x" in device.attributes["other"]', GPU)
    assert evaluate('device.attributes["other"].size() == 0', GPU)
    assert evaluate('device.capacity["other"] == {}', GPU)
    assert not evaluate('has(device.attributes["other"].x)', GPU)


def test_unknown_domain_is_not_a_member_of_the_outer_map(evaluate: Evaluate) -> None:
    assert not evaluate('"other" in device.attributes', GPU)
    # But has() finds it, as upstream's map with a default finds every key (DeviceMatches'
    # answer, recorded in data/upstream_runtime_costs.tsv).
    assert evaluate("has(device.attributes.other)", GPU)
    assert evaluate("has(device.capacity.other)", GPU)
    assert evaluate(f'"{DRIVER}" in device.attributes', GPU)
    expression = '"dom" in device.attributes && device.attributes["dom"].model == "x"'
    assert not evaluate(expression, GPU)


def test_computed_domain_also_defaults_to_an_empty_map(evaluate: Evaluate) -> None:
    assert not evaluate('"x" in device.attributes["oth" + "er"]', GPU)
    assert evaluate('device.attributes[device.driver].model == "H100"', GPU)


def test_unknown_id_within_a_domain_is_a_runtime_error(evaluate: Evaluate) -> None:
    with pytest.raises(CelRuntimeError, match=r"^no such key: memory$"):
        evaluate(f'device.attributes["{DRIVER}"].memory == 1', GPU)
    with pytest.raises(CelRuntimeError, match=r"^no such key: x$"):
        evaluate('device.attributes["other"].x == 1', GPU)


def test_guarded_lookup_of_a_missing_id_is_false(evaluate: Evaluate) -> None:
    domain = f'device.attributes["{DRIVER}"]'
    expression = f'"memory" in {domain} && {domain}.memory == 1'
    assert not evaluate(expression, GPU)
    assert not evaluate(f'has(device.attributes["{DRIVER}"].memory)', GPU)


def test_allow_multiple_allocations_is_readable_with_consumable_capacity(
    evaluate: Evaluate,
) -> None:
    assert evaluate("device.allowMultipleAllocations", make_device(allow_multiple_allocations=True))
    assert not evaluate("device.allowMultipleAllocations", make_device())


def test_allow_multiple_allocations_compiles_without_consumable_capacity(
    evaluate: Evaluate,
) -> None:
    # Upstream's allocator compiles in the StoredExpressions environment, which declares the
    # field whatever the gate says; its incubating allocator (picked here by the binding
    # gates) reads the device's value, its stable one (every newer gate off) reads false.
    multiple = make_device(allow_multiple_allocations=True)
    incubating = Features().with_gates(DRAConsumableCapacity=False)
    assert incubating.device_binding_and_status
    assert evaluate("device.allowMultipleAllocations", multiple, incubating)
    assert not evaluate("device.allowMultipleAllocations", make_device(), incubating)
    stable = incubating.with_gates(
        DRADeviceBindingConditions=False,
        DRAResourceClaimDeviceStatus=False,
        DRAListTypeAttributes=False,
    )
    assert evaluate("!device.allowMultipleAllocations", multiple, stable)
    assert CelEnvironment(stable).check("has(device.allowMultipleAllocations)") == []


def test_unknown_device_field_is_a_compile_error() -> None:
    env = CelEnvironment(ALL_ON)
    with pytest.raises(CelCompileError, match=r"^undefined field 'name'$"):
        env.compile('device.name == "x"')


# ---------------------------------------------------------------------------- poisoned devices


def test_attribute_without_a_value_poisons_every_evaluation(evaluate: Evaluate) -> None:
    from dralloc.api.resource import DeviceAttribute

    device = make_device(attributes={"model": "H100", "broken": DeviceAttribute()})
    with pytest.raises(CelRuntimeError, match=r"^attribute broken: unsupported attribute value$"):
        evaluate("true", device)


# --------------------------------------------------------------------------------- results


def test_a_result_that_is_never_a_bool_is_a_compile_error() -> None:
    env = CelEnvironment(ALL_ON)
    expected = {
        "device.driver": "string",
        "1 + 1": "int",
        "-1": "int",
        "1.5": "double",
        "1u": "uint",
        'quantity("1")': "kubernetes.Quantity",
        'device.capacity["x"].memory': "kubernetes.Quantity",
        'device.capacity["x"].memory.compareTo(quantity("1"))': "int",
        "null": "null_type",
        '["a"]': "list(string)",
        '{"a": 1}': "map(string, int)",
        "true ? 1 : 2": "int",
        'size("a")': "int",
        'device.attributes["x"]': "map(string, any)",
        "cel.bind(x, 1, x)": "int",
        "[1, 2].map(x, x)": "list(int)",
        '{"a": 1}.filter(k, k == "a")': "list(string)",
        'cel.bind(a, device.attributes["x"], a)': "map(string, any)",
    }
    for expression, type_name in expected.items():
        message = f"must evaluate to bool or the unknown type, not {type_name}"
        assert env.check(expression) == [message], expression


def test_a_result_of_unknown_type_compiles_and_a_non_bool_value_fails_at_run_time(
    evaluate: Evaluate,
) -> None:
    env = CelEnvironment(ALL_ON)
    for expression in (
        'device.attributes["x"].y',
        'cel.bind(a, device.attributes["x"], a.y)',
        '[device.attributes["x"].y].map(v, v)[0]',
        "dyn(1)",
        '[1, 2].exists(x, x > 1) ? device.attributes["x"].y : false',
        "dyn(1) + 1 == 2",
    ):
        assert env.check(expression) == [], expression
    device = make_device(attributes={"model": "H100"})
    with pytest.raises(CelRuntimeError, match=r"^expression must evaluate to bool, got string$"):
        evaluate(f'device.attributes["{DRIVER}"].model', device)
    with pytest.raises(CelRuntimeError, match=r"got int$"):
        evaluate("dyn(1)")


def test_runtime_errors_use_cel_go_words(evaluate: Evaluate) -> None:
    with pytest.raises(CelRuntimeError, match=r"^division by zero$"):
        evaluate("1 / 0 == 1")
    with pytest.raises(CelRuntimeError, match=r"^modulus by zero$"):
        evaluate("1 % 0 == 1")
    with pytest.raises(CelRuntimeError, match=r"^no such key: b$"):
        evaluate('{"a": 1}["b"] == 1')
    with pytest.raises(CelRuntimeError, match=r"^integer overflow$"):
        evaluate("9223372036854775807 + 1 == 0")
    with pytest.raises(CelRuntimeError, match=r"^no such overload$"):
        evaluate('dyn("a") + dyn(1) == "a1"')
    with pytest.raises(CelRuntimeError, match=r"^int: string parse error: invalid digit"):
        evaluate('int("x") == 1')


# ------------------------------------------------------------------------- error absorption


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1/0 == 1 || true", True),
        ("true || 1/0 == 1", True),
        ("1/0 == 1 && false", False),
        ("false && 1/0 == 1", False),
        ('quantity("bad").sign() == 1 || true', True),
        ('device.attributes["x"].missing || true', True),
        ("false ? 1/0 == 1 : true", True),
    ],
)
def test_logical_operators_absorb_errors_as_in_cel(
    evaluate: Evaluate, expression: str, expected: bool
) -> None:
    assert evaluate(expression) is expected


@pytest.mark.parametrize("expression", ["1/0 == 1 || false", "1/0 == 1 && true"])
def test_an_error_not_decided_by_the_other_operand_is_raised(
    evaluate: Evaluate, expression: str
) -> None:
    with pytest.raises(CelRuntimeError, match=r"division by zero"):
        evaluate(expression)


def test_a_failing_library_function_prints_nothing_to_stderr(
    evaluate: Evaluate, capfd: pytest.CaptureFixture[str]
) -> None:
    for expression in (
        'quantity("bad").sign() == 1',
        '"abc".charAt("x") == "a"',
        'semver("v1").major() == 1',
        "[1].min() == 1 && [].max() == 1",
    ):
        with pytest.raises(CelRuntimeError):
            evaluate(expression)
    assert evaluate('quantity("bad" + "") == quantity("1") || true')
    captured = capfd.readouterr()
    assert captured.err == ""
    assert captured.out == ""


def test_a_failing_library_function_reports_its_message(evaluate: Evaluate) -> None:
    with pytest.raises(CelRuntimeError, match=r"^invalid quantity 'gpu.example.combad'"):
        evaluate('quantity(device.driver + "bad").sign() == 1')
    with pytest.raises(CelRuntimeError, match=r"^charAt: "):
        evaluate('"abc".charAt(7) == "a"')


# ------------------------------------------------------------------------------- cel.bind


def test_cel_bind_binds_a_name(evaluate: Evaluate) -> None:
    expression = f'cel.bind(d, device.attributes["{DRIVER}"], d.model == "H100" && d.index == 3)'
    assert evaluate(expression, GPU)


def test_nested_cel_bind_sees_outer_names(evaluate: Evaluate) -> None:
    assert evaluate("cel.bind(x, 2, cel.bind(y, x * 3, x + y == 8))")
    assert evaluate("cel.bind(x, 2, cel.bind(x, x + 1, x == 3))")


def test_cel_bind_inside_a_string_literal_is_left_alone(evaluate: Evaluate) -> None:
    assert evaluate('"cel.bind(x, 1, x)".size() == 17')
    assert evaluate("cel.bind(s, 'cel.bind(a, b, c)', s.startsWith('cel.bind('))")


def test_cel_bind_with_a_bad_variable_name_is_a_compile_error() -> None:
    env = CelEnvironment(ALL_ON)
    with pytest.raises(CelCompileError, match=r"simple identifier"):
        env.compile("cel.bind(1, 2, true)")


# ----------------------------------------------------------------------- compile-time checks


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("x == 1", "undeclared reference to 'x'"),
        ("foo(1) == 1", "undeclared reference to 'foo'"),
        ('"a".foo() == 1', "undeclared reference to 'foo'"),
        ("sets.nope([1], [1])", "undeclared reference to 'sets.nope'"),
        ('compareTo(quantity("1"), quantity("2")) == 0', "must be called with a receiver"),
        ('"1".quantity() == 1', "must be called with no receiver"),
        ('quantity("1", "2") == 1', "found no matching overload for 'quantity'"),
        ("[1, 2].all(x, x, x > 0)", "duplicate variable name: x"),
        ("[1].includes()", "found no matching overload for 'includes'"),
    ],
)
def test_compile_errors_name_the_problem(expression: str, problem: str) -> None:
    env = CelEnvironment(Features())
    with pytest.raises(CelCompileError) as info:
        env.compile(expression)
    assert problem in str(info.value)


def test_syntax_error_is_a_compile_error_with_position() -> None:
    env = CelEnvironment(ALL_ON)
    with pytest.raises(CelCompileError, match=r"^ERROR: <input>:1:8: Syntax error"):
        env.compile("device.(")


def test_comprehension_variables_are_declared_inside_the_expression(evaluate: Evaluate) -> None:
    assert evaluate("[1, 2].all(x, x > 0) && [3].exists(y, y == 3)")
    assert evaluate(f'device.attributes["{DRIVER}"].exists(k, k == "model")', GPU)


def test_type_names_are_declared(evaluate: Evaluate) -> None:
    assert evaluate("type(1) == int && type('a') == string")


def test_deeply_nested_comprehensions_compile_as_upstreams_allocator_compiles_them() -> None:
    """The allocator's compile cache estimates no cost (k8s.io/dynamic-resource-allocation
    cel/cache.go `GetOrCompile`: `DisableCostEstimation: true`); API validation refuses such
    a selector instead (`check`, tests/cel/test_cel_cost.py)."""
    env = CelEnvironment(ALL_ON)
    expression = "[1].all(a, [1].all(b, [1].all(c, [1].all(d, true))))"
    assert env.compile(expression).evaluate(CelDevice.build(DRIVER, Device(name="d"), ALL_ON))
    nested = "device.attributes.all(a, device.attributes.all(b, device.attributes.all(c, true)))"
    env.compile(f"device.attributes.all(x, {nested})")


def test_check_reports_every_problem() -> None:
    env = CelEnvironment(ALL_ON)
    assert env.check("x + y(1) == device.foo") == [
        "undeclared reference to 'y'",
        "undeclared reference to 'x'",
        "undefined field 'foo'",
    ]


def test_check_accepts_a_valid_expression() -> None:
    assert CelEnvironment(ALL_ON).check('device.driver == "a"') == []


def test_check_refuses_expressions_longer_than_10_kib() -> None:
    env = CelEnvironment(ALL_ON)
    long = "true" + " && true" * (MAX_EXPRESSION_BYTES // 8)
    assert env.check(long) == ["Too long: may not be more than 10240 bytes"]
    env.compile(long)  # the scheduler path does not enforce the limit


def test_compile_error_carries_all_problems() -> None:
    env = CelEnvironment(ALL_ON)
    with pytest.raises(CelCompileError) as info:
        env.compile("a == b")
    assert info.value.problems == ["undeclared reference to 'a'", "undeclared reference to 'b'"]
    assert str(info.value) == "undeclared reference to 'a'; undeclared reference to 'b'"


# --------------------------------------------------------------------------------- caching


def test_compile_returns_the_cached_selector_for_the_same_expression() -> None:
    env = CelEnvironment(ALL_ON)
    first = env.compile("true")
    assert env.compile("true") is first
    assert isinstance(first, CompiledSelector)
    assert first.expression == "true"


def test_compile_cache_is_bounded() -> None:
    env = CelEnvironment(ALL_ON, cache_size=2)
    first = env.compile("1 == 1")
    env.compile("2 == 2")
    env.compile("3 == 3")
    assert env.compile("1 == 1") is not first


def test_compile_errors_are_cached_too() -> None:
    env = CelEnvironment(ALL_ON)
    with pytest.raises(CelCompileError) as first:
        env.compile("nope")
    with pytest.raises(CelCompileError) as second:
        env.compile("nope")
    assert first.value.problems == second.value.problems == ["undeclared reference to 'nope'"]


def test_one_device_serves_many_selectors() -> None:
    env = CelEnvironment(ALL_ON)
    device = CelDevice.build(DRIVER, GPU, ALL_ON)
    assert env.compile("device.driver.size() > 0").evaluate(device)
    assert env.compile(f'device.attributes["{DRIVER}"].index == 3').evaluate(device)
    assert not env.compile("device.driver == 'x'").evaluate(device)


def test_device_without_attributes_evaluates(evaluate: Evaluate) -> None:
    assert evaluate("device.attributes.size() == 0 && device.capacity.size() == 0", Device())


@pytest.mark.parametrize(
    ("expression", "library"),
    [
        ('url("https://a.example").getHost() == "a.example"', "Kubernetes' URL library"),
        ('"%d GiB".format([1]) == "1 GiB"', "cel-go's strings.format"),
    ],
)
def test_libraries_upstreams_environment_has_and_this_engine_lacks_are_named(
    expression: str, library: str
) -> None:
    """Kubernetes 1.36's DRA environment has them (k8s.io/apiserver cel/environment base.go:
    URLs from 1.0, strings v2 with `format` from 1.29), so the error
    says this engine lacks them rather than that they do not exist."""
    problems = CelEnvironment(Features()).check(expression)
    assert problems and all(library in p and "not supported" in p for p in problems)


def test_optional_chaining_inside_a_value_is_refused_by_name() -> None:
    """`x.?f` and `x[?k]` (cel-go's OptionalTypes, in Kubernetes' environment from 1.28) are
    rewritten (`optional_syntax.py`); a plain selection inside the optional is not, and the
    error says which syntax rather than "Syntax error"."""
    env = CelEnvironment(Features())
    for expression in ("device.attributes.?dom.hasValue()", 'device.attributes[?"d"].hasValue()'):
        assert env.check(expression) == []
    (problem,) = env.check('device.attributes["d"].?m.x.orValue(0) == 1')
    assert problem.startswith("selecting or indexing inside an optional value")
    assert problem.endswith("is not supported by this CEL engine")
