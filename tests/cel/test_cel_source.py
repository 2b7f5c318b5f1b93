"""dralloc.cel.source: tokenizer, checker facts and the source rewrites."""

from __future__ import annotations

import pytest

from dralloc.cel.binding import cel
from dralloc.cel.source import RewriteError, TokenKind, analyze, rewrite, tokenize


def _rewrite(source: str) -> str:
    return rewrite(source, tokenize(source))


# ------------------------------------------------------------------------------- tokenizer


def test_tokenizer_keeps_string_literals_whole() -> None:
    literals = ['"x(y"', r"'q\'r'", r'r"\d"', "'''t\"\"\"u'''", 'b"z"']
    tokens = tokenize("a == " + " || ".join(literals))
    assert [t.text for t in tokens if t.kind is TokenKind.STRING] == literals


def test_tokenizer_skips_comments_and_joins_two_character_operators() -> None:
    tokens = tokenize("a // note (\n>= b && !c")
    assert [t.text for t in tokens] == ["a", ">=", "b", "&&", "!", "c"]


def test_tokenizer_reads_numbers_with_suffixes() -> None:
    tokens = tokenize("1u + 0x1F + 1.5e3")
    assert [t.text for t in tokens if t.kind is TokenKind.NUMBER] == ["1u", "0x1F", "1.5e3"]


# -------------------------------------------------------------------------------- analysis


def test_analysis_tells_member_from_global_and_namespaced_calls() -> None:
    facts = analyze(tokenize('quantity("1").compareTo(x) + sets.contains(a, b)'))
    assert [(c.name, c.member, c.arg_count) for c in facts.calls] == [
        ("quantity", False, 1),
        ("compareTo", True, 1),
        ("sets.contains", False, 2),
    ]
    assert facts.identifiers == {"x", "a", "b"}


def test_analysis_collects_comprehension_and_bind_variables() -> None:
    facts = analyze(tokenize("l.all(x, x > 0) && cel.bind(y, 1, y) && m.map(k, v, k)"))
    assert facts.bound == {"x", "y", "k"}


def test_analysis_measures_comprehension_nesting() -> None:
    facts = analyze(tokenize("a.all(x, b.exists(y, true)) && c.map(z, z)"))
    assert facts.max_comprehension_depth == 2


def test_analysis_finds_device_fields_and_two_variable_comprehensions() -> None:
    facts = analyze(tokenize("device.driver == device.foo.bar && l.exists(i, v, v)"))
    assert facts.device_fields == ["driver", "foo"]
    assert facts.two_variable_comprehensions == ["exists"]


# ---------------------------------------------------------------------------- cel.bind rewrite


def test_bind_becomes_a_one_element_map() -> None:
    assert _rewrite("cel.bind(x, 1 + 2, x * x)") == "[1 + 2].map(x, x * x)[0]"


def test_nested_binds_are_rewritten_inside_out() -> None:
    rewritten = _rewrite("cel.bind(x, cel.bind(y, 1, y + 1), cel.bind(z, x, z + x))")
    assert rewritten == "[[1].map(y, y + 1)[0]].map(x, [x].map(z, z + x)[0])[0]"
    assert cel.compile(rewritten).execute({}) == 4


def test_bind_inside_a_string_is_untouched() -> None:
    source = '"cel.bind(x, 1, x)" == s && cel.bind(a, "cel.bind(", a)'
    assert _rewrite(source) == '"cel.bind(x, 1, x)" == s && ["cel.bind("].map(a, a)[0]'


def test_bind_with_wrong_arguments_is_refused() -> None:
    with pytest.raises(RewriteError, match=r"takes 3 arguments"):
        _rewrite("cel.bind(x, 1)")
    with pytest.raises(RewriteError, match=r"simple identifier"):
        _rewrite("cel.bind(a.b, 1, 2)")


def test_bind_result_can_be_used_as_an_operand() -> None:
    rewritten = _rewrite("!cel.bind(x, true, x) || cel.bind(y, [1], y).size() == 1")
    assert cel.compile(rewritten).execute({}) is True


# --------------------------------------------------------------------- device map rewrite


def test_domain_lookup_defaults_to_an_empty_map() -> None:
    assert _rewrite('device.attributes["d"].x') == (
        '(("d") in device.attributes ? device.attributes["d"] : {}).x'
    )
    assert _rewrite("device.capacity.d") == '("d" in device.capacity ? device.capacity.d : {})'


def test_has_on_the_outer_map_selects_from_a_map_that_has_the_field() -> None:
    """Upstream's outer map finds every domain, so has() of one is true."""
    assert _rewrite("has(device.attributes.d)") == 'has({"d": true}.d)'
    assert _rewrite("has(device.capacity.d)") == 'has({"d": true}.d)'


def test_methods_on_the_outer_map_are_not_rewritten() -> None:
    assert _rewrite("device.attributes.size() == 0") == "device.attributes.size() == 0"


def test_nested_domain_keys_are_rewritten_too() -> None:
    rewritten = _rewrite('device.attributes[device.attributes["a"].k]')
    assert rewritten.count("in device.attributes") == 3


# ---------------------------------------------------------------------- constant folding


def test_folding_replaces_literal_calls_the_folder_accepts() -> None:
    source = 'quantity("1") == quantity(x) && semver("1.0.0", true) == y'
    tokens = tokenize(source)

    def folder(name: str, args: tuple[str | bool, ...]) -> str | None:
        return f"<{name}{args}>" if name in ("quantity", "semver") else None

    assert rewrite(source, tokens, folder) == (
        "<quantity('1',)> == quantity(x) && <semver('1.0.0', True)> == y"
    )


def test_folding_skips_strings_with_escapes_and_member_calls() -> None:
    source = r'quantity("1\u0030") == "1".quantity("2")'
    assert rewrite(source, tokenize(source), lambda name, args: "FOLDED") == source
