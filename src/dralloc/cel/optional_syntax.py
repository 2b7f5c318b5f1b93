"""cel-go's optional syntax, `x.?f` and `x[?k]`, rewritten into the optional values the Rust
library has (`optional.of`, `optional.none`, `hasValue`, `orValue`, `value`, `or`) but
cannot parse.

Owns `without_optional_syntax`, a source-to-source rewrite run before anything else reads
the expression (Kubernetes' environment has cel-go's OptionalTypes from 1.28):

- `x.?f` becomes `(type(x) == map && "f" in (x) ? optional.of((x).f) : optional.none())`;
- `x[?k]` becomes, for a list, an optional of the item when `0 <= k < size(x)`, and for a map
  an optional of the value when `k in x`;
- `x.first()` and `x.last()` (cel-go's lists extension, version 3, whose results are
  optional values) become an optional of the end item, none for an empty list;
- on `device.attributes` and `device.capacity` themselves, `.?dom` and `[?dom]` always have a
  value, an empty map for an unknown domain, as upstream's maps with a default answer.

A run of optional steps (`x.?a.?b[?c]`) applies each one to the value of the optional
before it, none staying none. A plain selection or index after an optional step (`x.?a.b`,
`x.?a[0]`), where cel-go selects inside the optional, raises `RewriteError` and the
environment names the construct as unsupported. Pure computation on strings.
"""

from __future__ import annotations

from typing import Final

from dralloc.cel.source import RewriteError, Token, TokenKind, bracket_pairs, tokenize

__all__ = ["has_optional_syntax", "without_optional_syntax"]

_DEVICE_MAPS: Final = frozenset({"attributes", "capacity"})
_MAX_STEPS: Final = 64
# A chained step repeats the text of the optional before it: refuse a chain past this size.
_MAX_TEXT: Final = 20_000


def has_optional_syntax(tokens: list[Token]) -> bool:
    return any(
        _optional_step(tokens, index) or _end_item(tokens, index) for index in range(len(tokens))
    )


def _optional_step(tokens: list[Token], index: int) -> bool:
    return (
        tokens[index].text in (".", "[")
        and tokens[index].kind is TokenKind.PUNCT
        and index + 1 < len(tokens)
        and tokens[index + 1].text == "?"
        and tokens[index + 1].start == tokens[index].end
        and index > 0
        and _ends_operand(tokens[index - 1])
    )


def _ends_operand(token: Token) -> bool:
    if token.kind is TokenKind.PUNCT:
        return token.text in ")]}"
    return token.text != "in"


def without_optional_syntax(source: str) -> str:
    """`source` with every optional step and `first()`/`last()` rewritten (see the module
    docstring); raises RewriteError for one this rewrite cannot express."""
    for _ in range(_MAX_STEPS):
        tokens = tokenize(source)
        step = next(
            (i for i in range(len(tokens)) if _optional_step(tokens, i) or _end_item(tokens, i)),
            None,
        )
        if step is None:
            return source
        if _end_item(tokens, step):
            source = _rewrite_end_item(source, tokens, step)
        else:
            source = _rewrite_step(source, tokens, step)
    raise RewriteError(f"more than {_MAX_STEPS} optional steps")


def _end_item(tokens: list[Token], index: int) -> bool:
    """`x.first()` or `x.last()` (cel-go's lists extension, version 3)."""
    return (
        tokens[index].text == "."
        and index > 0
        and _ends_operand(tokens[index - 1])
        and index + 3 < len(tokens)
        and tokens[index + 1].text in ("first", "last")
        and tokens[index + 2].text == "("
        and tokens[index + 3].text == ")"
    )


def _rewrite_end_item(source: str, tokens: list[Token], step: int) -> str:
    """`x.first()` is an optional of `x[0]`, `x.last()` of `x[size(x) - 1]`, none for an
    empty list."""
    start = _operand_start(tokens, bracket_pairs(tokens), step)
    operand = source[tokens[start].start : tokens[step - 1].end]
    index = "0" if tokens[step + 1].text == "first" else f"size({operand}) - 1"
    text = f"(size({operand}) > 0 ? optional.of(({operand})[{index}]) : optional.none())"
    end = step + 4
    if end < len(tokens) and (_optional_step(tokens, end) or _continues_inside(tokens, end)):
        raise RewriteError("a selection or index after an optional value")
    return f"{source[: tokens[start].start]}({text}){source[tokens[end - 1].end :]}"


def _rewrite_step(source: str, tokens: list[Token], step: int) -> str:
    """Rewrites the run of optional steps starting at `step` (`x.?a.?b[?c]`): the first on
    its plain operand, each next one on the optional before it (none stays none)."""
    pairs = bracket_pairs(tokens)
    start = _operand_start(tokens, pairs, step)
    operand = source[tokens[start].start : tokens[step - 1].end]
    text = ""
    optional = False
    while True:
        if tokens[step].text == ".":
            if step + 2 >= len(tokens) or tokens[step + 2].kind is not TokenKind.IDENT:
                raise RewriteError("'.?' must be followed by a field name")
            end = step + 3
            if not optional and _is_device_map(tokens, start, step):
                text = f"optional.of({operand}.{tokens[step + 2].text})"
            else:
                text = _field(operand, tokens[step + 2].text, optional)
        else:
            close = pairs[step]
            if close < 0:
                raise RewriteError("'[?' without its ']'")
            key = source[tokens[step + 1].end : tokens[close].start]
            end = close + 1
            if not optional and _is_device_map(tokens, start, step):
                text = f"optional.of({operand}[{key}])"
            else:
                map_key = _is_string_literal(tokens, step + 2, close)
                text = _index(operand, key, map_key, optional)
        if len(text) > _MAX_TEXT:
            raise RewriteError("optional steps too deeply chained")
        if end < len(tokens) and _optional_step(tokens, end):
            operand, optional, step = f"({text})", True, end
            continue
        if end < len(tokens) and _continues_inside(tokens, end):
            raise RewriteError("a selection or index after an optional step")
        stop = tokens[end - 1].end
        return f"{source[: tokens[start].start]}({text}){source[stop:]}"


def _field(operand: str, name: str, optional: bool) -> str:
    """`operand.?name`; cel-go gives none for a value that is no map (an attribute's string)."""
    if optional:
        value = f"{operand}.value()"
        return f"({operand}.hasValue() ? {_field(value, name, False)} : optional.none())"
    return (
        f'(type({operand}) == map && "{name}" in ({operand}) ? '
        f"optional.of(({operand}).{name}) : optional.none())"
    )


def _index(operand: str, key: str, map_key: bool, optional: bool) -> str:
    """`operand[?key]`: a list's item in range, a map's value present."""
    if optional:
        value = f"{operand}.value()"
        return f"({operand}.hasValue() ? {_index(value, key, map_key, False)} : optional.none())"
    item = f"optional.of(({operand})[{key}])"
    in_map = f"(({key}) in ({operand}) ? {item} : optional.none())"
    if map_key:
        return in_map
    return (
        # `dyn`: the branch a map's string key never reaches must still type check.
        f"(type({operand}) == list ? (dyn({key}) >= 0 && dyn({key}) < size({operand}) ? "
        f"{item} : optional.none()) : {in_map})"
    )


def _is_string_literal(tokens: list[Token], start: int, end: int) -> bool:
    """Whether tokens[start:end] is one string literal: a map key, never a list index (the
    list branch would not type check)."""
    return end == start + 1 and tokens[start].kind is TokenKind.STRING


def _continues_inside(tokens: list[Token], index: int) -> bool:
    """Whether the chain goes on by selecting or indexing inside the optional: cel-go's
    optional chaining, not modelled. A method call (`.orValue(...)`) is fine."""
    if tokens[index].text == "[":
        return True
    if tokens[index].text != ".":
        return False
    if index + 1 >= len(tokens) or tokens[index + 1].text == "?":
        return True
    return not (index + 2 < len(tokens) and tokens[index + 2].text == "(")


def _operand_start(tokens: list[Token], pairs: list[int], end: int) -> int:
    """The index of the first token of the member chain that ends just before `end`."""
    pos = end - 1
    while True:
        token = tokens[pos]
        if token.kind is TokenKind.PUNCT and token.text in ")]}":
            opener = pairs[pos]
            if opener < 0:
                raise RewriteError("unbalanced brackets")
            pos = opener
            if (
                token.text == ")"
                and pos > 0
                and tokens[pos - 1].kind is TokenKind.IDENT
                and tokens[pos - 1].text != "in"
            ):
                pos -= 1  # a call: its name
            elif token.text == "]" and pos > 0 and _ends_operand(tokens[pos - 1]):
                pos -= 1  # an index step: the chain goes on before it
                continue
        if pos >= 2 and tokens[pos - 1].text == "." and _ends_operand(tokens[pos - 2]):
            pos -= 2
            continue
        if pos >= 1 and tokens[pos - 1].text == "." and tokens[pos].kind is TokenKind.IDENT:
            return pos - 1  # cel-go's leading dot (`.device`)
        return pos


def _is_device_map(tokens: list[Token], start: int, step: int) -> bool:
    texts = [token.text for token in tokens[start:step]]
    if texts[:1] == ["."]:
        texts = texts[1:]
    return len(texts) == 3 and texts[0] == "device" and texts[1] == "." and texts[2] in _DEVICE_MAPS
