"""CEL source text: a small tokenizer, the facts a checker needs, and the source rewrites.

Owns everything this package learns from an expression's *text*, because the Rust library
(`common-expression-language`) exposes no AST, only a parse and `Program.references()`:

- `tokenize` splits a source into tokens, respecting string literals (all quote styles, raw
  and bytes prefixes) and `//` comments. It is lenient: the real parser reports syntax errors.
- `analyze` finds the facts a type checker would use: function calls (member or global, with
  argument count), root identifiers, names bound by comprehension macros, `device.<field>`
  selections, two-variable comprehensions and the deepest comprehension nesting.
- `without_root_dots` drops the leading dot of a root-scoped name (`.device.driver`, cel-go's
  "leading dot" that names the top-level `device`), which the library would take for part of
  a variable's name (`.device`);
- `rewrite` produces the text actually handed to the library:
  * `cel.bind(name, init, body)` becomes `[init].map(name, body)[0]` (the library lacks
    `cel.bind`; a one-element `map` binds `name` the same way, nested binds included);
  * `device.attributes[E]` and `device.capacity[E]` (also the `.ident` form) become
    `((E) in device.attributes ? device.attributes[E] : {})`, so an unknown domain looks up as
    an empty map (k8s `newStringInterfaceMapWithDefault`) while `"dom" in device.attributes`
    stays false, as upstream;
  * optionally, calls on literals that a folder accepts (`quantity("40Gi")`) become the
    literal result, so the library does not call back into Python on every evaluation.

Pure computation on strings; no I/O, no library calls.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import NamedTuple

__all__ = [
    "COMPREHENSION_MACROS",
    "ENTRIES_FUNCTION",
    "ENTRY_VARIABLE",
    "MERGE_MAPS_FUNCTION",
    "NAMESPACES",
    "PAIRS_TO_MAP_FUNCTION",
    "TWO_VARIABLE_ONLY",
    "Call",
    "Folder",
    "RewriteError",
    "SourceFacts",
    "Token",
    "TokenKind",
    "analyze",
    "bracket_pairs",
    "rewrite",
    "split_args",
    "tokenize",
    "without_root_dots",
]


class TokenKind(Enum):
    IDENT = "ident"
    STRING = "string"
    NUMBER = "number"
    PUNCT = "punct"


class Token(NamedTuple):
    """One token: its kind, its text and its span in the source. (A named tuple: immutable
    and, as every selector is tokenized at least twice when compiled, cheap to build.)"""

    kind: TokenKind
    text: str
    start: int
    end: int


# Macros that bind a loop variable as their first argument (cel-spec "Macros"), and cel-go's
# two-variable forms (ext.TwoVarComprehensions, in Kubernetes' base environment from 1.32):
# `all`, `exists`, `exists_one`/`existsOne` with three arguments, `transformList`,
# `transformMap` and `transformMapEntry` with three or four.
COMPREHENSION_MACROS = frozenset(
    {
        "all",
        "exists",
        "exists_one",
        "existsOne",
        "map",
        "filter",
        "transformList",
        "transformMap",
        "transformMapEntry",
    }
)
TWO_VARIABLE_ONLY = frozenset({"existsOne", "transformList", "transformMap", "transformMapEntry"})

# Internal functions the two-variable rewrite calls (implemented in `ext_lib`, never declared,
# so no user expression can name them).
ENTRIES_FUNCTION = "dralloc_entries"
PAIRS_TO_MAP_FUNCTION = "dralloc_pairs_to_map"
MERGE_MAPS_FUNCTION = "dralloc_merge_maps"
ENTRY_VARIABLE = "__dralloc_entry"

# Prefixes of namespaced global functions (`sets.contains(...)`, `cel.bind(...)`). The library
# sees `sets` as a variable and `contains` as a function, so the checker must know them.
# `ip` is one too (`ip.isCanonical(s)`) where no comprehension binds the name.
NAMESPACES = frozenset({"cel", "sets", "lists", "strings", "optional", "math", "base64", "ip"})

KEYWORDS = frozenset({"true", "false", "null", "in"})

# One pattern for every token, tried in this order at each position: white space and `//`
# comments (skipped), string literals (with an `r` in the prefix a backslash escapes nothing;
# an unterminated literal runs to the end), identifiers, numbers, then two- and one-character
# punctuation. One `finditer` pass is several times faster than one match per token kind.
_RAW_STRING = (
    r"(?:[rR][bB]?|[bB][rR])"
    r"(?:'''[\s\S]*?(?:'''|\Z)|\"\"\"[\s\S]*?(?:\"\"\"|\Z)|'[^']*(?:'|\Z)|\"[^\"]*(?:\"|\Z))"
)
_STRING = (
    r"[bB]?(?:'''(?:[^\\]|\\[\s\S])*?(?:'''|\\?\Z)|\"\"\"(?:[^\\]|\\[\s\S])*?(?:\"\"\"|\\?\Z)"
    r"|'(?:[^'\\]|\\[\s\S])*(?:'|\\?\Z)|\"(?:[^\"\\]|\\[\s\S])*(?:\"|\\?\Z))"
)
_TOKEN = re.compile(
    r"(?P<skip>(?:\s+|//[^\n]*)+)"
    rf"|(?P<string>{_RAW_STRING}|{_STRING})"
    r"|(?P<ident>[_a-zA-Z][_a-zA-Z0-9]*|`[^`]*`)"
    r"|(?P<number>0[xX][0-9a-fA-F]+[uU]?|[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?[uU]?)"
    r"|(?P<punct>==|!=|<=|>=|&&|\|\||[\s\S])"
)
_KINDS = {
    "string": TokenKind.STRING,
    "ident": TokenKind.IDENT,
    "number": TokenKind.NUMBER,
    "punct": TokenKind.PUNCT,
}


def tokenize(source: str) -> list[Token]:
    """Split `source` into tokens. Never raises: unknown characters become PUNCT tokens and an
    unterminated string runs to the end (the library's parser reports the real error)."""
    kinds = _KINDS
    return [
        Token(kinds[match.lastgroup], match.group(), match.start(), match.end())
        for match in _TOKEN.finditer(source)
        if match.lastgroup in kinds
    ]


def without_root_dots(source: str, tokens: list[Token]) -> str:
    """`source` with each leading dot of a root-scoped name blanked (`.device.driver` becomes
    ` device.driver`, `.size(x)` ` size(x)`), so columns stay where the user wrote them.

    A dot is leading when a name follows it and nothing that ends an operand precedes it
    (cel-go's grammar: `primary: '.'? IDENTIFIER`). cel-go resolves such a name from the
    root scope, but its checker (v0.26, Kubernetes 1.36) still lets a comprehension variable
    of that name shadow it (`[1].exists(device, .device.driver == "a")` is "type 'int' does
    not support field selection" there), so dropping the dot names what cel-go's does. A
    macro is no name: cel-go's parser expands no `.has(...)` or `.cel.bind(...)`, whose dots
    stay for the checks to refuse (`undeclared reference to '.cel'`, as upstream says)."""
    blanked: list[int] = []
    for index, token in enumerate(tokens):
        if (
            token.text == "."
            and token.kind is TokenKind.PUNCT
            and index + 1 < len(tokens)
            and tokens[index + 1].kind is TokenKind.IDENT
            and tokens[index + 1].text not in _NOT_ROOT_SCOPED
            and (index == 0 or not _ends_operand(tokens[index - 1]))
        ):
            blanked.append(token.start)
    if not blanked:
        return source
    text = list(source)
    for start in blanked:
        text[start] = " "
    return "".join(text)


_NOT_ROOT_SCOPED = KEYWORDS | {"has", "cel"}


def _ends_operand(token: Token) -> bool:
    if token.kind is TokenKind.PUNCT:
        return token.text in ")]}"
    return token.text != "in"


def bracket_pairs(tokens: list[Token]) -> list[int]:
    """For each token, the index of its partner bracket (-1 if none or unbalanced)."""
    pairs = [-1] * len(tokens)
    stack: list[int] = []
    for index, token in enumerate(tokens):
        if token.kind is not TokenKind.PUNCT:
            continue
        if token.text in "([{":
            stack.append(index)
        elif token.text in ")]}" and stack:
            opener = stack.pop()
            pairs[opener] = index
            pairs[index] = opener
    return pairs


def split_args(tokens: list[Token], open_index: int, close_index: int) -> list[tuple[int, int]]:
    """Token ranges of the comma-separated arguments between two matching brackets."""
    if close_index == open_index + 1:
        return []
    ranges: list[tuple[int, int]] = []
    depth = 0
    start = open_index + 1
    for pos in range(open_index + 1, close_index):
        token = tokens[pos]
        if token.kind is not TokenKind.PUNCT:
            continue
        if token.text in "([{":
            depth += 1
        elif token.text in ")]}":
            depth -= 1
        elif token.text == "," and depth == 0:
            ranges.append((start, pos))
            start = pos + 1
    ranges.append((start, close_index))
    return ranges


def _is(tokens: list[Token], index: int, text: str) -> bool:
    return 0 <= index < len(tokens) and tokens[index].text == text


def _after_dot(tokens: list[Token], index: int) -> bool:
    return _is(tokens, index - 1, ".")


# ------------------------------------------------------------------------------- analysis


@dataclass(frozen=True, slots=True)
class Call:
    """One call in the source: `name` is qualified for namespaced globals (`sets.contains`)."""

    name: str
    member: bool
    arg_count: int


@dataclass(slots=True)
class SourceFacts:
    calls: list[Call] = field(default_factory=list)
    identifiers: set[str] = field(default_factory=set)
    bound: set[str] = field(default_factory=set)
    device_fields: list[str] = field(default_factory=list)
    two_variable_comprehensions: list[str] = field(default_factory=list)
    # Two-variable comprehensions naming one variable twice (cel-go refuses them).
    duplicate_variables: list[str] = field(default_factory=list)
    max_comprehension_depth: int = 0


def analyze(tokens: list[Token]) -> SourceFacts:
    """Collect checker facts from the tokens of an *unrewritten* expression."""
    facts = SourceFacts()
    pairs = bracket_pairs(tokens)
    open_comprehensions: list[int] = []  # close-paren indexes of enclosing comprehensions
    for index, token in enumerate(tokens):
        while open_comprehensions and index > open_comprehensions[-1]:
            open_comprehensions.pop()
        if token.kind is not TokenKind.IDENT or token.text in KEYWORDS:
            continue
        name = token.text
        if _is(tokens, index + 1, "("):
            close = pairs[index + 1]
            arg_count = len(split_args(tokens, index + 1, close)) if close >= 0 else 0
            member = _after_dot(tokens, index)
            if (
                member
                and _is_namespace_prefix(tokens, index - 2)
                and tokens[index - 2].text not in facts.bound
            ):
                facts.calls.append(Call(f"{tokens[index - 2].text}.{name}", False, arg_count))
            else:
                facts.calls.append(Call(name, member, arg_count))
            if member and name in COMPREHENSION_MACROS and close >= 0:
                _note_comprehension(tokens, index, close, arg_count, facts)
                open_comprehensions.append(close)
                depth = len(open_comprehensions)
                facts.max_comprehension_depth = max(facts.max_comprehension_depth, depth)
            elif name == "bind" and member and _is(tokens, index - 2, "cel"):
                if index + 2 < len(tokens) and tokens[index + 2].kind is TokenKind.IDENT:
                    facts.bound.add(tokens[index + 2].text)
            continue
        if _after_dot(tokens, index):
            if _is(tokens, index - 2, "device") and not _after_dot(tokens, index - 2):
                facts.device_fields.append(name)
            continue
        if name in NAMESPACES and _is(tokens, index + 1, ".") and _is(tokens, index + 3, "("):
            continue
        facts.identifiers.add(name)
    return facts


def _is_namespace_prefix(tokens: list[Token], index: int) -> bool:
    return (
        index >= 0
        and tokens[index].kind is TokenKind.IDENT
        and tokens[index].text in NAMESPACES
        and not _after_dot(tokens, index)
    )


_TWO_VARIABLE_FORMS = frozenset({"all", "exists", "exists_one", *TWO_VARIABLE_ONLY})


def _note_comprehension(
    tokens: list[Token], index: int, close: int, arg_count: int, facts: SourceFacts
) -> None:
    first = index + 2
    if first < close and tokens[first].kind is TokenKind.IDENT:
        facts.bound.add(tokens[first].text)
    # cel-go's two-variable forms: all(i, v, p), exists(i, v, p), exists_one(i, v, p).
    if tokens[index].text in _TWO_VARIABLE_FORMS and (
        arg_count == 3 or (tokens[index].text in TWO_VARIABLE_ONLY and arg_count == 4)
    ):
        facts.two_variable_comprehensions.append(tokens[index].text)
        second = index + 4
        if second < close and tokens[second].kind is TokenKind.IDENT:
            facts.bound.add(tokens[second].text)
            if tokens[second].text == tokens[first].text:
                facts.duplicate_variables.append(tokens[second].text)


# -------------------------------------------------------------------------------- rewrite

_DEVICE_MAPS = frozenset({"attributes", "capacity"})

Folder = Callable[[str, tuple[str | bool, ...]], str | None]
"""Constant folding hook: (function name, literal arguments) -> replacement CEL literal text,
or None to leave the call alone (for example when it would fail: errors stay lazy)."""


class RewriteError(ValueError):
    """The source uses a construct the rewrite cannot express (e.g. a bad `cel.bind`)."""


def rewrite(
    source: str,
    tokens: list[Token],
    fold: Folder | None = None,
    renamed: Mapping[int, str] | None = None,
) -> str:
    """The expression text to hand to the library (see the module docstring).

    With `fold`, global calls whose arguments are all plain string or bool literals (such as
    `quantity("40Gi")`) are offered to it and replaced by the literal it returns: the library
    pays ~6 µs to convert a string a Python function returns, on every evaluation.
    """
    if not tokens:
        return source
    return _Rewriter(source, tokens, fold, renamed or {}).emit(0, len(tokens))


class _Rewriter:
    def __init__(
        self,
        source: str,
        tokens: list[Token],
        fold: Folder | None,
        renamed: Mapping[int, str],
    ) -> None:
        self.source = source
        self.tokens = tokens
        self.pairs = bracket_pairs(tokens)
        self.fold = fold
        self.renamed = renamed

    def emit(self, start: int, end: int) -> str:
        """Source text of tokens[start:end] (with the gaps between them), rewritten."""
        tokens = self.tokens
        parts: list[str] = []
        index = start
        while index < end:
            if index > start:
                parts.append(self.source[tokens[index - 1].end : tokens[index].start])
            replaced = (
                self._bind(index, end)
                or self._two_variables(index, end)
                or self._device_map(index, end)
                or self._fold(index, end)
            )
            if replaced is not None:
                text, index = replaced
                parts.append(text)
                continue
            parts.append(self.renamed.get(index, tokens[index].text))
            index += 1
        return "".join(parts)

    def _close(self, open_index: int, end: int) -> int | None:
        close = self.pairs[open_index]
        return close if 0 <= close < end else None

    def _bind(self, index: int, end: int) -> tuple[str, int] | None:
        tokens = self.tokens
        if not (
            tokens[index].text == "cel"
            and not _after_dot(tokens, index)
            and _is(tokens, index + 1, ".")
            and _is(tokens, index + 2, "bind")
            and _is(tokens, index + 3, "(")
        ):
            return None
        close = self._close(index + 3, end)
        if close is None:
            return None
        args = split_args(tokens, index + 3, close)
        if len(args) != 3:
            raise RewriteError(f"cel.bind() takes 3 arguments, got {len(args)}")
        (name_start, name_end), (init_start, init_end), (body_start, body_end) = args
        if name_end - name_start != 1 or tokens[name_start].kind is not TokenKind.IDENT:
            raise RewriteError("cel.bind() variable name must be a simple identifier")
        init = self.emit(init_start, init_end)
        body = self.emit(body_start, body_end)
        return f"[{init}].map({tokens[name_start].text}, {body})[0]", close + 1

    def _two_variables(self, index: int, end: int) -> tuple[str, int] | None:
        """`r.all(i, v, p)` and the other two-variable forms, as one-variable macros over
        `r.dralloc_entries()`: the [index, item] pairs of a list, the [key, value] pairs of
        a map; each body sees `i` and `v` bound from the pair (cel-go ext/comprehensions.go:
        `transformMap` builds a map from the first variable to the transform,
        `transformMapEntry` merges the maps its transform returns, a key twice an error)."""
        tokens = self.tokens
        name = tokens[index].text
        if not (
            name in _TWO_VARIABLE_FORMS
            and _after_dot(tokens, index)
            and _is(tokens, index + 1, "(")
        ):
            return None
        close = self._close(index + 1, end)
        if close is None:
            return None
        args = split_args(tokens, index + 1, close)
        variables = [tokens[a] for a, b in args[:2] if b - a == 1]
        count = len(args)
        if len(variables) != 2 or any(v.kind is not TokenKind.IDENT for v in variables):
            return None
        if not (count == 3 or (count == 4 and name in TWO_VARIABLE_ONLY)):
            return None
        first, second = (v.text for v in variables)
        pair = ENTRY_VARIABLE
        bodies = [
            f"[{pair}[0]].map({first}, [{pair}[1]].map({second}, {self.emit(a, b)})[0])[0]"
            for a, b in args[2:]
        ]
        entries = f"{ENTRIES_FUNCTION}()"
        if name in ("all", "exists", "exists_one", "existsOne"):
            macro = "exists_one" if name == "existsOne" else name
            return f"{entries}.{macro}({ENTRY_VARIABLE}, {bodies[0]})", close + 1
        if count == 4:
            entries = f"{entries}.filter({ENTRY_VARIABLE}, {bodies[0]})"
        transform = bodies[-1]
        if name == "transformList":
            return f"{entries}.map({ENTRY_VARIABLE}, {transform})", close + 1
        if name == "transformMap":
            pairs = f"{entries}.map({ENTRY_VARIABLE}, [{ENTRY_VARIABLE}[0], {transform}])"
            return f"{pairs}.{PAIRS_TO_MAP_FUNCTION}()", close + 1
        return f"{entries}.map({ENTRY_VARIABLE}, {transform}).{MERGE_MAPS_FUNCTION}()", close + 1

    def _device_map(self, index: int, end: int) -> tuple[str, int] | None:
        tokens = self.tokens
        if not (
            tokens[index].text == "device"
            and not _after_dot(tokens, index)
            and _is(tokens, index + 1, ".")
            and index + 2 < end
            and tokens[index + 2].text in _DEVICE_MAPS
        ):
            return None
        outer = f"device.{tokens[index + 2].text}"
        if _is(tokens, index + 3, "["):
            close = self._close(index + 3, end)
            if close is None:
                return None
            key = self.emit(index + 4, close)
            return f"(({key}) in {outer} ? {outer}[{key}] : {{}})", close + 1
        if (
            _is(tokens, index + 3, ".")
            and index + 4 < end
            and tokens[index + 4].kind is TokenKind.IDENT
            and not _is(tokens, index + 5, "(")
        ):
            ident = tokens[index + 4].text
            # `has(device.attributes.dom)` is true whatever the domain: upstream's map with a
            # default finds every key (`mapper.Find`). has() needs a field selection as its
            # argument, so the selection is kept, on a map that has the field.
            if (
                _is(tokens, index - 1, "(")
                and _is(tokens, index - 2, "has")
                and _is(tokens, index + 5, ")")
            ):
                return f'{{"{ident}": true}}.{ident}', index + 5
            return f'("{ident}" in {outer} ? {outer}.{ident} : {{}})', index + 5
        return None

    def _fold(self, index: int, end: int) -> tuple[str, int] | None:
        tokens = self.tokens
        if (
            self.fold is None
            or tokens[index].kind is not TokenKind.IDENT
            or _after_dot(tokens, index)
            or not _is(tokens, index + 1, "(")
        ):
            return None
        close = self._close(index + 1, end)
        if close is None:
            return None
        literals: list[str | bool] = []
        for arg_start, arg_end in split_args(tokens, index + 1, close):
            if arg_end - arg_start != 1:
                return None
            value = _literal(tokens[arg_start])
            if value is None:
                return None
            literals.append(value)
        folded = self.fold(tokens[index].text, tuple(literals))
        return (folded, close + 1) if folded is not None else None


def _literal(token: Token) -> str | bool | None:
    """The value of a bool literal or of a plain string literal without escapes, else None."""
    if token.kind is TokenKind.IDENT:
        return {"true": True, "false": False}.get(token.text)
    text = token.text
    if token.kind is not TokenKind.STRING or text[0] not in "'\"":
        return None
    quote_len = 3 if text[:3] in ("'''", '"""') else 1
    if len(text) < 2 * quote_len:
        return None
    body = text[quote_len:-quote_len]
    return None if "\\" in body else body
