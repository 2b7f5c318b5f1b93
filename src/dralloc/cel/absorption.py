"""cel-go's error absorption in `exists()` and `all()`, paid for only when an evaluation fails.

cel-go expands `r.exists(x, p)` into a loop that folds `__result__ || p` over the elements
(`all` folds `__result__ && p`) and stops once the result is decided; CEL's `||` and `&&`
absorb an error when the other operand decides, so one element's error is forgotten when
another element decides: `[0, 1].exists(x, 1/x == 1)` is true, `[0, 1].all(x, 1/x == 2)`
false (cel-go parser/macro.go `makeQuantifier`; cel-spec "Macros"). The library's macros stop
at the first error instead. `exists_one`, `map` and `filter` absorb nothing in cel-go either.

So as not to slow every evaluation, a selector keeps the library's program, and only when
that program fails is the selector evaluated a second time by `AbsorbingEvaluation`: each
`R.exists(x, P)` and `R.all(x, P)` of the (already rewritten) text becomes
`R.dralloc_exists({"device": device, "y": y}, 0)`, a Python function handed the range, the
variables in scope at that point and the index of `P`, which is compiled on its own and
evaluated once per element in a fresh library context, folding the outcomes as cel-go does:
the first deciding element wins; otherwise the first error, if any, is the result. The
second evaluation's verdict stands (it equals the first one's whenever no comprehension
absorbed anything); when it fails too, the first evaluation's error is reported.

The `dralloc_*` functions exist only in the second evaluation's contexts: a user expression
cannot call them (the checker refuses undeclared functions).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from dralloc.cel.binding import cel
from dralloc.cel.library import FUNCTIONS
from dralloc.cel.source import Token, TokenKind, bracket_pairs, split_args, tokenize
from dralloc.cel.values import error_value, runtime_message

__all__ = ["AbsorbingEvaluation"]

# The outcome that decides each absorbing macro at once.
_DECIDING: Final = {"exists": True, "all": False}
_FUNCTION_PREFIX: Final = "dralloc_"


class AbsorbingEvaluation:
    """The second evaluation of one selector (see the module docstring).

    >>> fallback = AbsorbingEvaluation.of("[0, 1].exists(x, 1/x == 1)")
    >>> fallback.evaluate(cel.Context(variables={"device": {}}))
    True
    """

    __slots__ = ("_predicates", "_programs", "_text")

    def __init__(self, rewritten: str, tokens: list[Token]) -> None:
        # (macro, loop variable, predicate text) by index, inner comprehensions first.
        self._predicates: list[tuple[str, str, str]] = []
        self._text = _Replacer(rewritten, tokens, self._predicates).emit(
            0, len(tokens), ("device",)
        )
        self._programs: list[Any] | None = None

    @classmethod
    def of(cls, rewritten: str) -> AbsorbingEvaluation | None:
        """The second evaluation of `rewritten`, or None when it has no `exists()` or
        `all()` (then there is nothing to absorb)."""
        tokens = tokenize(rewritten)
        if not any(_is_absorbing_macro(tokens, index) for index in range(len(tokens))):
            return None
        return cls(rewritten, tokens)

    @property
    def text(self) -> str:
        """The expression the second evaluation runs (for tests and debugging)."""
        return self._text

    def evaluate(self, context: Any) -> Any:
        """The selector's value with cel-go's absorption; raises what the library raises
        when even this evaluation fails."""
        top, predicates = self._compiled()
        functions: dict[str, Callable[..., Any]] = dict(FUNCTIONS)
        for macro in _DECIDING:
            functions[_FUNCTION_PREFIX + macro] = self._fold(macro, predicates, functions)
        return top.execute(cel.Context(variables=context.variables, functions=functions))

    def _compiled(self) -> tuple[Any, list[Any]]:
        if self._programs is None:
            self._programs = [cel.compile(self._text)] + [
                cel.compile(text) for _, _, text in self._predicates
            ]
        return self._programs[0], self._programs[1:]

    def _fold(
        self, macro: str, predicates: list[Any], functions: dict[str, Callable[..., Any]]
    ) -> Callable[..., Any]:
        deciding = _DECIDING[macro]

        def fold(range_value: Any, scope: dict[str, Any], index: int) -> Any:
            # A library callback: it returns an error value rather than raising.
            _, variable, _ = self._predicates[index]
            program = predicates[index]
            first_error: str | None = None
            for item in range_value:
                context = cel.Context(variables={**scope, variable: item}, functions=functions)
                try:
                    outcome = program.execute(context)
                except Exception as exc:
                    first_error = first_error or runtime_message(exc)
                    continue
                if outcome is deciding:
                    return deciding
                if outcome is not (not deciding):
                    first_error = first_error or "no such overload"
            return error_value(first_error) if first_error is not None else not deciding

        fold.__name__ = fold.__qualname__ = _FUNCTION_PREFIX + macro
        return fold


def _is_absorbing_macro(tokens: list[Token], index: int) -> bool:
    return (
        tokens[index].kind is TokenKind.IDENT
        and tokens[index].text in _DECIDING
        and index > 0
        and tokens[index - 1].text == "."
        and index + 1 < len(tokens)
        and tokens[index + 1].text == "("
    )


_SCOPING_MACROS: Final = frozenset({"all", "exists", "exists_one", "map", "filter"})


class _Replacer:
    """Rewrites the absorbing macros of a token range, innermost first, tracking the loop
    variables in scope (the text is already rewritten, so `cel.bind` is a `map` too)."""

    def __init__(
        self, source: str, tokens: list[Token], predicates: list[tuple[str, str, str]]
    ) -> None:
        self.source = source
        self.tokens = tokens
        self.pairs = bracket_pairs(tokens)
        self.predicates = predicates

    def emit(self, start: int, end: int, scope: tuple[str, ...]) -> str:
        tokens = self.tokens
        parts: list[str] = []
        index = start
        while index < end:
            if index > start:
                parts.append(self.source[tokens[index - 1].end : tokens[index].start])
            replaced = self._macro(index, end, scope)
            if replaced is not None:
                text, index = replaced
                parts.append(text)
                continue
            parts.append(tokens[index].text)
            index += 1
        return "".join(parts)

    def _macro(self, index: int, end: int, scope: tuple[str, ...]) -> tuple[str, int] | None:
        tokens = self.tokens
        token = tokens[index]
        if not (
            token.kind is TokenKind.IDENT
            and token.text in _SCOPING_MACROS
            and index > 0
            and tokens[index - 1].text == "."
            and index + 1 < end
            and tokens[index + 1].text == "("
        ):
            return None
        close = self.pairs[index + 1]
        if not 0 <= close < end:
            return None
        args = split_args(tokens, index + 1, close)
        (var_start, var_end), *bodies = args
        if not bodies or var_end - var_start != 1 or tokens[var_start].kind is not TokenKind.IDENT:
            return None
        variable = tokens[var_start].text
        inner = (*scope, variable)
        texts = [self.emit(body_start, body_end, inner) for body_start, body_end in bodies]
        if token.text in _DECIDING and len(bodies) == 1:
            self.predicates.append((token.text, variable, texts[0]))
            names = dict.fromkeys(scope)  # in order, once each
            captured = ", ".join(f'"{name}": {name}' for name in names)
            call = f"{_FUNCTION_PREFIX}{token.text}({{{captured}}}, {len(self.predicates) - 1})"
            return call, close + 1
        return f"{token.text}({variable}, {', '.join(texts)})", close + 1
