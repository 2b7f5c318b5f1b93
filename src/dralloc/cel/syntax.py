"""The syntax tree of a selector expression, parsed from the tokens of `source.tokenize`.

Owns this package's one parser of CEL's grammar, because the Rust library exposes no AST:
the static type inference (`checker.py`) and the static cost estimate (`cost.py`) both walk
the tree `parse` builds, each for its own answer. Precedence climbing, loosest first: `?:`,
`||`, `&&`, the relations (`in` included), `+ -`, `* / %`, runs of `!` or `-`, then member
selection, indexing and calls on a primary (a literal, an identifier, a parenthesised
expression, a literal list or map; a name may have cel-go's leading dot, `.device`, which
names the same variable here). A method whose name is a comprehension macro becomes a
`Comprehension` (with cel-go's two-variable forms), `cel.bind(...)` a `Bind`.

Chains of one precedence level (`a || b || c`, `x + y - z`) are single nodes holding their
operands in order, and a chain of member steps (`a.b[c].d()`) is walked from its innermost
operand outwards through `member_steps`, so no walker recurses once per operand or per step
(a selector of 10 KiB can hold thousands), and each visits (and reports problems in) the
order the source reads.

The grammar modelled is what a selector that passed the library's own parse can use; any
other construct (a token out of place, message construction) makes `parse` answer
None, "not modelled", and each walker then answers "unknown". `NotModelled` is also what a
walker raises for a construct it does not model itself.

Pure computation on tokens; no I/O, no library calls.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

from dralloc.cel.source import COMPREHENSION_MACROS, NAMESPACES, TWO_VARIABLE_ONLY, Token, TokenKind

__all__ = [
    "Arithmetic",
    "Bind",
    "Call",
    "Comprehension",
    "Conditional",
    "Expr",
    "Ident",
    "Index",
    "ListLiteral",
    "Literal",
    "Logical",
    "MapLiteral",
    "NotModelled",
    "Relations",
    "Select",
    "TreeWalk",
    "Unary",
    "member_steps",
    "namespace_of",
    "parse",
]


class NotModelled(Exception):
    """A construct the parser, or a walker of its tree, does not model."""


@dataclass(slots=True)
class Literal:
    """`1`, `2u`, `1.5`, `"a"`, `b"a"`, `true`, `null`: `type_name` as cel-go prints it
    (`int`, `uint`, `double`, `string`, `bytes`, `bool`, `null_type`), `text` as written."""

    type_name: str
    text: str


@dataclass(slots=True)
class Ident:
    name: str


@dataclass(slots=True)
class Select:
    """`operand.field`, or cel-go's optional selection `operand.?field` (`optional`)."""

    operand: Expr
    field: str
    optional: bool = False


@dataclass(slots=True)
class Index:
    """`operand[key]`, or cel-go's optional index `operand[?key]` (`optional`)."""

    operand: Expr
    key: Expr
    optional: bool = False


@dataclass(slots=True)
class Call:
    """`function(arguments)`, or `target.function(arguments)` (for a namespaced global such as
    `sets.contains(a, b)` the target is the namespace's `Ident`, see `namespace_of`).
    `name_index` is the token index of the function's name."""

    function: str
    target: Expr | None
    arguments: tuple[Expr, ...]
    name_index: int


@dataclass(slots=True)
class Comprehension:
    """`target.macro(variables..., arguments...)`: one variable, or two in cel-go's
    two-variable forms (`all(i, v, p)`, `transformList(i, v, f)`)."""

    macro: str
    target: Expr
    variables: tuple[str, ...]
    arguments: tuple[Expr, ...]


@dataclass(slots=True)
class Bind:
    """`cel.bind(variable, init, body)`."""

    variable: str
    init: Expr
    body: Expr


@dataclass(slots=True)
class Unary:
    """A run of `count` equal operators (`!` or `-`) before `operand`; `before_number` when
    the operand's first token is a number (cel-go folds one minus sign into the literal)."""

    operator: str
    count: int
    operand: Expr
    before_number: bool


@dataclass(slots=True)
class Logical:
    """`a || b || ...` or `a && b && ...` (`operator` is `||` or `&&`)."""

    operator: str
    operands: tuple[Expr, ...]


@dataclass(slots=True)
class Relations:
    """`first op1 e1 op2 e2 ...` with relation operators (`==`, `<`, `in`...), left to right."""

    first: Expr
    rest: tuple[tuple[str, Expr], ...]


@dataclass(slots=True)
class Arithmetic:
    """`first op1 e1 op2 e2 ...` with `+ -` or with `* / %`, left to right."""

    first: Expr
    rest: tuple[tuple[str, Expr], ...]


@dataclass(slots=True)
class Conditional:
    condition: Expr
    when_true: Expr
    when_false: Expr


@dataclass(slots=True)
class ListLiteral:
    items: tuple[Expr, ...]


@dataclass(slots=True)
class MapLiteral:
    entries: tuple[tuple[Expr, Expr], ...]


Expr = (
    Literal
    | Ident
    | Select
    | Index
    | Call
    | Comprehension
    | Bind
    | Unary
    | Logical
    | Relations
    | Arithmetic
    | Conditional
    | ListLiteral
    | MapLiteral
)

# Binary operators by precedence level, loosest first: `||`, `&&`, relations, `+ -`, `* / %`.
_LOOSEST = 0
_LEVELS = {
    "||": 0,
    "&&": 1,
    **dict.fromkeys(("==", "!=", "<", "<=", ">", ">=", "in"), 2),
    **dict.fromkeys(("+", "-"), 3),
    **dict.fromkeys(("*", "/", "%"), 4),
}
_TWO_VARIABLE_FORMS = frozenset({"all", "exists", "exists_one"})
_IDENT: Final = TokenKind.IDENT
_NUMBER: Final = TokenKind.NUMBER
_STRING: Final = TokenKind.STRING


def parse(tokens: list[Token]) -> Expr | None:
    """The tree of the whole expression, or None where it uses a construct not modelled."""
    parser = _Parser(tokens)
    try:
        tree = parser.expression()
    except (NotModelled, IndexError):
        return None
    return tree if parser.at_end() else None


MemberStep = Select | Index | Call | Comprehension
"""A step applied to the value before it: a field, an index, a method call, a macro."""


def member_steps(node: Expr) -> tuple[Expr, list[MemberStep]]:
    """The innermost operand of the chain of member steps `node` ends (`node` itself when it
    is no step), and the steps from that operand outwards: `a.b[c].d()` is `a` and
    [`.b`, `[c]`, `.d()`]. A global call (`size(x)`) is no step."""
    steps: list[MemberStep] = []
    while True:
        if isinstance(node, Select | Index):
            steps.append(node)
            node = node.operand
        elif isinstance(node, Call | Comprehension) and node.target is not None:
            steps.append(node)
            node = node.target
        else:
            steps.reverse()
            return node, steps


Answer = TypeVar("Answer")


class TreeWalk(ABC, Generic[Answer]):
    """A walk computing an answer for each node of the tree, innermost first: `walk` picks
    the method for the node's kind, and follows a chain of member steps without recursing
    (each step gets the answer for the value before it). Subclasses say what each kind of
    node answers, walking the nodes below it with `walk`; raising NotModelled gives up."""

    def walk(self, node: Expr) -> Answer:
        if isinstance(node, Ident):
            return self.ident(node.name)
        if isinstance(node, Literal):
            return self.literal(node)
        if isinstance(node, Select | Index | Comprehension) or (
            isinstance(node, Call) and node.target is not None
        ):
            return self.member(node)
        if isinstance(node, Call):
            return self.call(node, None)
        if isinstance(node, Relations):
            return self.relations(node)
        if isinstance(node, Logical):
            return self.logical(node)
        if isinstance(node, Arithmetic):
            return self.arithmetic(node)
        if isinstance(node, Unary):
            return self.unary(node)
        if isinstance(node, Conditional):
            return self.conditional(node)
        if isinstance(node, ListLiteral):
            return self.list_literal(node)
        if isinstance(node, MapLiteral):
            return self.map_literal(node)
        return self.bind(node)

    def member(self, node: Expr) -> Answer:
        root, steps = member_steps(node)
        value = self.walk(root)
        for step in steps:
            if isinstance(step, Select):
                value = self.select(step, value)
            elif isinstance(step, Index):
                value = self.index(step, value)
            elif isinstance(step, Call):
                value = self.call(step, value)
            else:
                value = self.comprehension(step, value)
        return value

    @abstractmethod
    def ident(self, name: str) -> Answer: ...

    @abstractmethod
    def literal(self, node: Literal) -> Answer: ...

    @abstractmethod
    def select(self, node: Select, operand: Answer) -> Answer: ...

    @abstractmethod
    def index(self, node: Index, operand: Answer) -> Answer: ...

    @abstractmethod
    def call(self, node: Call, target: Answer | None) -> Answer:
        """A global call (`target` None), or a method call on the value `node.target`."""

    @abstractmethod
    def comprehension(self, node: Comprehension, target: Answer) -> Answer: ...

    @abstractmethod
    def bind(self, node: Bind) -> Answer: ...

    @abstractmethod
    def unary(self, node: Unary) -> Answer: ...

    @abstractmethod
    def logical(self, node: Logical) -> Answer: ...

    @abstractmethod
    def relations(self, node: Relations) -> Answer: ...

    @abstractmethod
    def arithmetic(self, node: Arithmetic) -> Answer: ...

    @abstractmethod
    def conditional(self, node: Conditional) -> Answer: ...

    @abstractmethod
    def list_literal(self, node: ListLiteral) -> Answer: ...

    @abstractmethod
    def map_literal(self, node: MapLiteral) -> Answer: ...


def namespace_of(target: Expr | None) -> str | None:
    """The namespace a call's target names (`sets` in `sets.contains(a, b)`), if any. A
    walker whose scopes bind that name sees a variable instead."""
    if isinstance(target, Ident) and target.name in NAMESPACES:
        return target.name
    return None


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        # The tokens' texts and an end marker: the hot path reads them without bounds checks.
        self.texts = [token.text for token in tokens]
        self.texts.append("")
        self.pos = 0

    # --------------------------------------------------------------------------- tokens

    def at_end(self) -> bool:
        return self.pos >= len(self.tokens)

    def peek(self) -> str:
        return self.texts[self.pos]

    def take(self) -> Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def expect(self, text: str) -> None:
        if self.texts[self.pos] != text:
            raise NotModelled(text)
        self.pos += 1

    def name(self) -> str:
        token = self.take()
        if token.kind is not _IDENT:
            raise NotModelled(token.text)
        return token.text

    # ---------------------------------------------------------------------------- grammar

    def expression(self) -> Expr:
        condition = self.binary(_LOOSEST)
        if self.texts[self.pos] != "?":
            return condition
        self.pos += 1
        when_true = self.binary(_LOOSEST)
        self.expect(":")
        return Conditional(condition, when_true, self.expression())

    def binary(self, loosest: int) -> Expr:
        """The operand chains of every binary operator at least as tight as `loosest`
        (precedence climbing: one call per level that has an operator, not per level)."""
        texts = self.texts
        left = self.unary()
        level = _LEVELS.get(texts[self.pos], -1)
        while level >= loosest:
            operands: list[Expr] = []
            operators: list[str] = []
            while _LEVELS.get(texts[self.pos], -1) == level:
                operators.append(texts[self.pos])
                self.pos += 1
                operands.append(self.binary(level + 1))
            left = _chain(level, left, operators, operands)
            level = _LEVELS.get(texts[self.pos], -1)
        return left

    def unary(self) -> Expr:
        operator = self.texts[self.pos]
        if operator != "!" and operator != "-":
            return self.member()
        count = 0
        while self.texts[self.pos] == operator:
            self.pos += 1
            count += 1
        before_number = self.tokens[self.pos].kind is _NUMBER
        # `!-1` negates the literal -1 (CEL has no `-!x`, which the library refuses).
        return Unary(operator, count, self.unary(), before_number)

    def member(self) -> Expr:
        node = self.primary()
        texts = self.texts
        while True:
            text = texts[self.pos]
            if text == ".":
                self.pos += 1
                if texts[self.pos] == "?":
                    self.pos += 1
                    node = Select(node, self.name(), optional=True)
                    continue
                name = self.name()
                node = self.method(node, name) if texts[self.pos] == "(" else Select(node, name)
            elif text == "[":
                self.pos += 1
                optional = texts[self.pos] == "?"
                self.pos += optional
                key = self.expression()
                self.expect("]")
                node = Index(node, key, optional)
            else:
                return node

    def method(self, target: Expr, name: str) -> Expr:
        """`target.name(...)`, the position at its `(`."""
        if name == "bind" and namespace_of(target) == "cel":
            return self.bind()
        if name in COMPREHENSION_MACROS:
            return self.comprehension(name, target)
        name_index = self.pos - 1
        return Call(name, target, self.arguments(), name_index)

    def arguments(self) -> tuple[Expr, ...]:
        self.expect("(")
        nodes: list[Expr] = []
        while self.peek() != ")":
            nodes.append(self.expression())
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() != ")":
                raise NotModelled(self.peek())
        self.pos += 1
        return tuple(nodes)

    def bind(self) -> Bind:
        self.expect("(")
        variable = self.name()
        self.expect(",")
        init = self.expression()
        self.expect(",")
        body = self.expression()
        self.expect(")")
        return Bind(variable, init, body)

    def comprehension(self, macro: str, target: Expr) -> Comprehension:
        self.expect("(")
        variables = [self.name()]
        self.expect(",")
        if self._is_two_variable(macro):
            variables.append(self.take().text)
            self.expect(",")
        arguments = [self.expression()]
        while self.peek() == ",":
            self.pos += 1
            arguments.append(self.expression())
        self.expect(")")
        return Comprehension(macro, target, tuple(variables), tuple(arguments))

    def _is_two_variable(self, macro: str) -> bool:
        """Whether a second variable follows the first one's comma: always for
        `transformList` and the like, for `all`, `exists` and `exists_one` when a name and
        a comma follow (their one-variable forms have a single body), never for `map` and
        `filter` (whose third argument is a transform)."""
        if macro in TWO_VARIABLE_ONLY:
            return True
        return (
            macro in _TWO_VARIABLE_FORMS
            and self.pos + 1 < len(self.tokens)
            and self.tokens[self.pos].kind is _IDENT
            and self.tokens[self.pos + 1].text == ","
        )

    def is_fraction(self) -> bool:
        """Whether the `.` just taken starts a number (`.5`, `.5e3`: the tokenizer splits it)."""
        if self.at_end():
            return False
        token = self.tokens[self.pos]
        return (
            token.kind is _NUMBER
            and token.start == self.tokens[self.pos - 1].end
            and token.text[0].isdigit()
            and not token.text.lower().startswith("0x")
            and token.text[-1] not in "uU"
            and "." not in token.text
        )

    def primary(self) -> Expr:
        token = self.tokens[self.pos]
        self.pos += 1
        text = token.text
        kind = token.kind
        if kind is _IDENT:
            if text in ("true", "false"):
                return Literal("bool", text)
            if text == "null":
                return Literal("null_type", text)
            if self.texts[self.pos] == "(":
                name_index = self.pos - 1
                return Call(text, None, self.arguments(), name_index)
            return Ident(text)
        if kind is _NUMBER:
            return Literal(_number_type(text), text)
        if kind is _STRING:
            is_bytes = text[:2].lower() in ("b'", 'b"', "br", "rb")
            return Literal("bytes" if is_bytes else "string", text)
        if text == "." and self.is_fraction():
            return Literal("double", "." + self.take().text)  # `.5`, as cel-go reads it
        if text == "." and self.tokens[self.pos].kind is _IDENT:
            return self.primary()  # `.device`: a root-scoped name, as cel-go's checker sees it
        if text == "(":
            inner = self.expression()
            self.expect(")")
            return inner
        if text == "[":
            items: list[Expr] = []
            while self.peek() != "]":
                items.append(self.expression())
                if self.peek() == ",":
                    self.pos += 1
                elif self.peek() != "]":
                    raise NotModelled(self.peek())
            self.pos += 1
            return ListLiteral(tuple(items))
        if text == "{":
            entries: list[tuple[Expr, Expr]] = []
            while self.peek() != "}":
                key = self.expression()
                self.expect(":")
                entries.append((key, self.expression()))
                if self.peek() == ",":
                    self.pos += 1
                elif self.peek() != "}":
                    raise NotModelled(self.peek())
            self.pos += 1
            return MapLiteral(tuple(entries))
        raise NotModelled(text)


def _chain(level: int, first: Expr, operators: list[str], operands: list[Expr]) -> Expr:
    if level <= 1:
        return Logical(operators[0], (first, *operands))
    rest = tuple(zip(operators, operands, strict=True))
    return Relations(first, rest) if level == 2 else Arithmetic(first, rest)


def _number_type(text: str) -> str:
    if text[-1] in "uU":
        return "uint"
    if not text.lower().startswith("0x") and ("." in text or "e" in text.lower()):
        return "double"
    return "int"
