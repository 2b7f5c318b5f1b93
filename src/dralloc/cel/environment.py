"""`CelEnvironment` and `CompiledSelector`: compiling, checking and evaluating DRA selectors.

Owns the compile pipeline and the bounded compiled-program cache (one per environment, and
one environment per `Features`). Compiling an expression:

1. parses the original text with the library, so syntax errors name the user's own columns;
2. checks it like cel-go's checker would, from the source facts of `source.analyze`: every
   call must be declared in `library.DECLARATIONS` in that call form and arity, every root
   identifier must be `device`, a comprehension variable or a type name, and
   `device.<field>` must be `driver`, `attributes`, `capacity` or `allowMultipleAllocations`;
   gated declarations exist whatever their gates in the stored-expression environment the
   allocator uses, and need them in the new-expression one (`CelEnvironment(stored=False)`);
   `Program.references()` of the compiled program is cross-checked against the same lists;
   operators need operand types they have overloads for, and the result type must be bool
   or unknown (`checker.py`): a literal, `device.driver`, arithmetic on literals or a
   function with a fixed non-bool result is refused with cel-go's "must evaluate to bool or
   the unknown type, not int", `dyn` too unless DRAListTypeAttributes is on;
3. rewrites it (`cel.bind`, two-variable comprehensions, empty-map defaults for unknown
   domains, `size()` of what may be a string, and constant folding of `quantity("40Gi")`-
   style calls on literals; see `source.py`) and compiles the result, which is what runs.

`check` (API validation) also applies kube-apiserver's static cost estimate (`cost.py`);
`compile` does not refuse on it, as upstream's allocator does not, and reads it only to
decide whether evaluations count the runtime cost (`CostCounting`, `runtime_cost.py`).

Evaluation runs the program against a `CelDevice`'s prebuilt context and turns every library
exception into `CelRuntimeError` (messages in cel-go's words where known); a selector with
`exists()` or `all()` whose evaluation fails is evaluated again with cel-go's absorption of
errors (`absorption.py`). Nothing is printed: library callbacks never raise (see `values.py`).

Semantic gaps against cel-go in k8s (the Rust library's, or this wrapper's):

- The runtime cost limit: the library counts no cost, so `runtime_cost.py` counts it beside
  the program, as cel-go's tracker does, for selectors whose static estimate reaches half
  the limit (`CostCounting`; API validation, `check`, refuses those above it, so these are
  selectors that skipped validation), and an evaluation past 1,000,000 units fails with
  cel-go's "operation cancelled: actual cost limit exceeded". What the count does not
  model (optional values, two-variable comprehensions, see `runtime_cost.py`) runs without
  a limit, as every selector did before.
- Partial static type checking: types are inferred only where they are certain
  (`checker.py`), so a non-bool result the inference cannot see is a runtime error (as it
  is upstream for attribute values), and so is an operator on values whose types it cannot
  see (`dyn(1) == dyn("a")`); wrong argument *types* to a function are runtime errors ("no
  such overload").
- `exists()`/`all()` absorb an element's error when another element decides the result,
  as cel-go's (`[0, 1].exists(x, 1/x == 1)` is true), but only by a second, slower
  evaluation run when the first one fails (`absorption.py`).
- Not available (a compile error names what is missing): `format`, `sortBy`, the URL
  library and optional chaining (`x.?a.b`, `x.?a.?b`), all in Kubernetes 1.36's
  environment; `x.?f` and `x[?k]` are rewritten into the library's optional values
  (`optional_syntax.py`), estimated as upstream does. Two-variable
  comprehensions are rewritten into one-variable ones (`source.py`).
- Scopes are not tracked: a name bound by any comprehension or `cel.bind` in the expression
  is accepted anywhere in it (a use outside its scope fails at run time as "undeclared
  reference" instead of at compile time). `device["driver"]` (index syntax on the device
  object) is accepted.
- The empty-map default applies to `device.attributes[...]`/`device.capacity[...]` written
  out; reaching those maps through an alias (`cel.bind(a, device.attributes, a["x"])`)
  gives "no such key" for an unknown domain instead. `has(device.attributes.dom)` is true
  for any domain, as upstream's (its map with a default finds every key).
- Quantity and Semver are tagged strings inside the library (see `values.py`): string
  functions accept them, and a string literal spelling a tag is taken for one.
- `find`, `findAll` and the global `matches(s, re)` use Python `re`; member `s.matches(re)`
  is the library's Rust regex. Neither is RE2.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Final

from dralloc.cel.absorption import AbsorbingEvaluation
from dralloc.cel.binding import cel
from dralloc.cel.checker import CelTypeError, infer_result_type
from dralloc.cel.cost import MAX_SELECTOR_COST, estimate_cost
from dralloc.cel.device import CelDevice
from dralloc.cel.errors import CelCompileError, CelRuntimeError
from dralloc.cel.library import (
    DECLARATIONS,
    INTERNAL_FUNCTIONS,
    NETWORK_CONSTRUCTORS,
    RESULT_TYPES,
    SIZE_IN_CODE_POINTS,
    STRING_OF_NETWORK,
    UNSUPPORTED,
    fold_constant_call,
)
from dralloc.cel.optional_syntax import has_optional_syntax, without_optional_syntax
from dralloc.cel.runtime_cost import (
    COST_LIMIT_EXCEEDED,
    CostCounting,
    CostLimitExceeded,
    LibraryCalls,
    RuntimeCostCounter,
)
from dralloc.cel.source import (
    ENTRY_VARIABLE,
    NAMESPACES,
    RewriteError,
    Token,
    analyze,
    rewrite,
    tokenize,
    without_root_dots,
)
from dralloc.cel.syntax import NotModelled, parse
from dralloc.cel.values import cel_type_name, runtime_message
from dralloc.features import Features

__all__ = [
    "DEFAULT_CACHE_SIZE",
    "MAX_EXPRESSION_BYTES",
    "TOO_COSTLY",
    "CelEnvironment",
    "CompiledSelector",
]

MAX_EXPRESSION_BYTES: Final = 10240
"""resource.k8s.io `CELSelectorExpressionMaxLength`, enforced by `check()` only (API validation)."""

TOO_COSTLY: Final = "Forbidden: too complex, exceeds cost limit"
"""kube-apiserver's field error for a selector whose estimated cost exceeds the limit."""

DEFAULT_CACHE_SIZE: Final = 4096
"""Compiled programs kept per environment (least recently used are dropped)."""

_DEVICE_FIELDS: Final = frozenset({"driver", "attributes", "capacity"})
_ALLOW_MULTIPLE_ALLOCATIONS: Final = "allowMultipleAllocations"
# Identifiers that name types, as in `type(x) == int`.
_TYPE_NAMES: Final = frozenset(
    {"int", "uint", "double", "bool", "string", "bytes", "list", "map", "null_type", "type"}
)
_PARSE_PREFIX: Final = "Failed to parse expression "


class CompiledSelector:
    """One compiled selector expression; evaluate it against many devices.

    >>> env = CelEnvironment(Features())
    >>> from dralloc.api.resource import Device
    >>> env.compile('device.driver == "gpu.example.com"').evaluate(
    ...     CelDevice.build("gpu.example.com", Device(name="gpu-0"), Features()))
    True
    """

    __slots__ = ("_absorbing", "_counter", "_program", "expression")

    def __init__(
        self,
        expression: str,
        program: Any,
        absorbing: AbsorbingEvaluation | None = None,
        counter: RuntimeCostCounter | None = None,
    ) -> None:
        self.expression = expression
        self._program = program
        # The second evaluation, with cel-go's absorption of errors in exists() and all(),
        # run only when the program fails (`absorption.py`).
        self._absorbing = absorbing
        # Counts the runtime cost before the program runs, for a selector that may reach
        # the limit (`CostCounting`); None when it cannot or counting is off.
        self._counter = counter

    @property
    def counts_cost(self) -> bool:
        """Whether evaluations count the runtime cost (and stop past the limit)."""
        return self._counter is not None

    def evaluate(self, device: CelDevice) -> bool:
        """True if the device matches. Raises CelRuntimeError for any evaluation error,
        including a result that is not a bool, a device with a bad attribute and, for a
        selector that counts its cost, an evaluation past the runtime cost limit (cel-go's
        "operation cancelled: actual cost limit exceeded")."""
        if device.error is not None:
            raise CelRuntimeError(device.error)
        counter = self._counter
        if counter is not None and device.variable is not None:
            try:
                counter.count(device.variable)
            except CostLimitExceeded:
                raise CelRuntimeError(COST_LIMIT_EXCEEDED) from None
            except NotModelled:
                pass  # a construct the count does not model: evaluated without a limit
        try:
            result = self._program.execute(device.context())
        except Exception as exc:
            if self._absorbing is None:
                raise CelRuntimeError(runtime_message(exc)) from None
            result = self._evaluate_absorbing(device, runtime_message(exc))
        if result is True or result is False:
            return bool(result)
        raise CelRuntimeError(f"expression must evaluate to bool, got {cel_type_name(result)}")

    def _evaluate_absorbing(self, device: CelDevice, error: str) -> Any:
        absorbing = self._absorbing
        assert absorbing is not None
        try:
            return absorbing.evaluate(device.context())
        except Exception:
            raise CelRuntimeError(error) from None

    def __repr__(self) -> str:
        return f"CompiledSelector({self.expression!r})"


class CelEnvironment:
    """The DRA selector environment for one set of feature gates, with its compile cache.

    >>> env = CelEnvironment(Features())
    >>> env.check("device.model == 1")
    ["undefined field 'model'"]
    """

    def __init__(
        self,
        features: Features,
        cache_size: int = DEFAULT_CACHE_SIZE,
        *,
        stored: bool = True,
        cost_counting: CostCounting = CostCounting.NEAR_LIMIT,
        runtime_cost_limit: int = MAX_SELECTOR_COST,
    ) -> None:
        """`stored`: compile as upstream's StoredExpressions environment, which the allocator
        uses and which declares everything whatever the gates say (k8s.io/apiserver
        cel/environment: "The StoredExpressions environment ignores this function"), so
        `device.allowMultipleAllocations` and `includes` exist with their gates off. With
        False, as the NewExpressions environment kube-apiserver validates created objects
        in: a gated declaration needs its gate (DRAConsumableCapacity for the field,
        DRAListTypeAttributes for `includes`).

        `cost_counting` and `runtime_cost_limit`: when evaluations count cel-go's runtime
        cost (`CostCounting`, `runtime_cost.py`) and the limit past which they fail
        (upstream's allocator: resource.k8s.io's CELSelectorExpressionMaxCost, 1,000,000)."""
        if cache_size < 1:
            raise ValueError(f"cache_size must be >= 1, got {cache_size}")
        self._features = features
        self._cache_size = cache_size
        self._stored = stored
        # Compiled selectors, or the problems of expressions that do not compile.
        self._cache: OrderedDict[str, CompiledSelector | tuple[str, ...]] = OrderedDict()
        self._cost_verdicts: OrderedDict[str, bool] = OrderedDict()
        self._cost_counting = cost_counting
        self._runtime_cost_limit = runtime_cost_limit
        self._library_calls = LibraryCalls()
        self._device_fields = (
            _DEVICE_FIELDS | {_ALLOW_MULTIPLE_ALLOCATIONS}
            if stored or features.consumable_capacity
            else _DEVICE_FIELDS
        )

    @property
    def features(self) -> Features:
        return self._features

    def compile(self, expression: str) -> CompiledSelector:
        """The compiled selector, from the cache when possible. Raises CelCompileError."""
        cached = self._cache.get(expression)
        if cached is None:
            problems, program = self._compile(expression)
            cached = (
                CompiledSelector(
                    expression,
                    program,
                    AbsorbingEvaluation.of(program.source),
                    self._runtime_counter(expression),
                )
                if program is not None
                else tuple(problems)
            )
            self._cache[expression] = cached
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(expression)
        if isinstance(cached, tuple):
            # A fresh exception each time: re-raising one instance would keep growing its
            # traceback and pin the frames it passed through.
            raise CelCompileError("; ".join(cached), cached)
        return cached

    def check(self, expression: str) -> list[str]:
        """Every problem API validation would report for `expression`, or [] if none: too
        long, does not compile, or costs more than the server's estimate allows
        (`cost.py`; `compile` does not estimate, as upstream's allocator does not)."""
        problems: list[str] = []
        size = len(expression.encode("utf-8"))
        if size > MAX_EXPRESSION_BYTES:
            problems.append(f"Too long: may not be more than {MAX_EXPRESSION_BYTES} bytes")
        try:
            self.compile(expression)
        except CelCompileError as exc:
            problems.extend(exc.problems)
            return problems
        if self._is_too_costly(expression):
            problems.append(TOO_COSTLY)
        return problems

    def _is_too_costly(self, expression: str) -> bool:
        """The server's cost verdict for a compiled expression, remembered as compiled
        programs are (a claim template's selectors repeat in every claim)."""
        verdict = self._cost_verdicts.get(expression)
        if verdict is None:
            cost = estimate_cost(
                tokenize(expression),
                RESULT_TYPES,
                list_type_attributes=self._features.list_type_attributes,
            )
            verdict = cost > MAX_SELECTOR_COST
            self._cost_verdicts[expression] = verdict
            if len(self._cost_verdicts) > self._cache_size:
                self._cost_verdicts.popitem(last=False)
        else:
            self._cost_verdicts.move_to_end(expression)
        return verdict

    def _runtime_counter(self, expression: str) -> RuntimeCostCounter | None:
        """The cost counter of a compiled selector, when `cost_counting` asks for one."""
        if self._cost_counting is CostCounting.OFF:
            return None
        tokens = tokenize(expression)
        if self._cost_counting is CostCounting.NEAR_LIMIT and not _calls_unestimated(tokens):
            estimate = estimate_cost(
                tokens, RESULT_TYPES, list_type_attributes=self._features.list_type_attributes
            )
            if estimate * 2 < self._runtime_cost_limit:
                return None
        tree = parse(tokens)
        if tree is None:
            return None
        return RuntimeCostCounter(tree, self._library_calls, self._runtime_cost_limit)

    # ------------------------------------------------------------------------- internals

    def _compile(self, expression: str) -> tuple[list[str], Any]:
        """(problems, program); the program is None exactly when there are problems."""
        tokens = tokenize(expression)
        if has_optional_syntax(tokens):
            try:
                expression = without_optional_syntax(expression)
            except RewriteError:
                return [_OPTIONAL_SYNTAX], None
            tokens = tokenize(expression)
        try:
            cel.compile(expression)
        except Exception as exc:
            return [_syntax_message(expression, exc)], None
        # Checked and run without the leading dots of root-scoped names (`.device`).
        rooted = without_root_dots(expression, tokens)
        if rooted != expression:
            expression, tokens = rooted, tokenize(rooted)

        facts = analyze(tokens)
        problems: list[str] = []
        for call in facts.calls:
            problem = self._check_call(call.name, call.member, call.arg_count)
            if problem:
                problems.append(problem)
        allowed = {"device"} | facts.bound | _TYPE_NAMES
        problems.extend(
            f"undeclared reference to '{name}'" for name in sorted(facts.identifiers - allowed)
        )
        problems.extend(
            f"undefined field '{name}'"
            for name in facts.device_fields
            if name not in self._device_fields
        )
        problems.extend(f"duplicate variable name: {name}" for name in facts.duplicate_variables)
        size_arguments: dict[int, str | None] = {}
        if not problems:
            problem = self._check_result_type(tokens, facts.bound, size_arguments)
            if problem is not None:
                problems.append(problem)
        if problems:
            return _unique(problems), None
        try:
            renamed = _string_sizes(tokens, size_arguments)
            if any(call.name in NETWORK_CONSTRUCTORS for call in facts.calls):
                renamed.update(_network_strings(tokens))
            rewritten = rewrite(expression, tokens, fold_constant_call, renamed)
        except RewriteError as exc:
            return [str(exc)], None

        try:
            program = cel.compile(rewritten)
        except Exception as exc:
            return [_syntax_message(rewritten, exc)], None
        problems = self._check_references(program.references(), allowed | {ENTRY_VARIABLE})
        if problems:
            return problems, None
        return [], program

    def _check_result_type(
        self, tokens: list[Token], bound: set[str], size_arguments: dict[int, str | None]
    ) -> str | None:
        """cel-go's checks of types (`checker.py`): operators need matching operand types,
        and the result must be bool, or unknown: an attribute value (`any`) or, with
        DRAListTypeAttributes, `dyn` (k8s.io/dynamic-resource-allocation cel/compile.go)."""
        try:
            result = infer_result_type(tokens, RESULT_TYPES, bound, size_arguments)
        except CelTypeError as exc:
            return str(exc)
        if result is None or result == "bool":
            return None
        if result == "dyn" and self._features.list_type_attributes:
            return None
        return f"must evaluate to bool or the unknown type, not {result}"

    def _check_call(self, name: str, member: bool, arg_count: int) -> str | None:
        declaration = DECLARATIONS.get(name)
        if declaration is None and name in UNSUPPORTED:
            return f"function '{name}' ({UNSUPPORTED[name]}) is not supported by this CEL engine"
        # A gated function (`includes`) needs its gate only for new expressions (`__init__`).
        if declaration is None or (
            not self._stored
            and declaration.gate is not None
            and not self._features.enabled(declaration.gate)
        ):
            return f"undeclared reference to '{name}'"
        if declaration.member is not None and declaration.member != member:
            form = "a receiver" if declaration.member else "no receiver"
            return f"function '{name}' must be called with {form}"
        total = arg_count + (1 if member else 0)
        if declaration.arities is not None and total not in declaration.arities:
            return f"found no matching overload for '{name}' with {arg_count} argument(s)"
        return None

    def _check_references(self, references: dict[str, list[str]], allowed: set[str]) -> list[str]:
        """Safety net behind the token-level checks: the library's own view of the names."""
        bare = {name.rpartition(".")[2] for name in DECLARATIONS} | INTERNAL_FUNCTIONS
        problems = [
            f"undeclared reference to '{name}'"
            for name in references.get("variables", [])
            if name not in allowed and name not in NAMESPACES
        ]
        problems.extend(
            f"undeclared reference to '{name}'"
            for name in references.get("functions", [])
            if name not in bare and not _is_operator(name)
        )
        return problems


# Functions `cost.py` estimates at a nominal cost where cel-go's tracker charges by size
# (`sort` and `distinct` the square of the list's): their selectors are always counted.
_UNESTIMATED: Final = frozenset({"sort", "distinct", "slice", "flatten", "reverse", "quote"})


def _calls_unestimated(tokens: list[Token]) -> bool:
    return any(
        token.text in _UNESTIMATED and index + 1 < len(tokens) and tokens[index + 1].text == "("
        for index, token in enumerate(tokens)
    )


def _network_strings(tokens: list[Token]) -> dict[int, str]:
    """The global `string(...)` calls, by token index, to hand to `STRING_OF_NETWORK`: in an
    expression that makes IPs or CIDRs, so `string(ip(s))` gives the address, not its tag."""
    return {
        index: STRING_OF_NETWORK
        for index, token in enumerate(tokens)
        if token.text == "string"
        and index + 1 < len(tokens)
        and tokens[index + 1].text == "("
        and (index == 0 or tokens[index - 1].text != ".")
    }


def _string_sizes(tokens: list[Token], size_arguments: dict[int, str | None]) -> dict[int, str]:
    """The `size` calls to hand to `SIZE_IN_CODE_POINTS`, by token index: all but those whose
    argument the checker knows to be a list, a map or bytes, which the library's own `size`
    counts as cel-go does (and faster: no conversion to Python)."""
    renamed: dict[int, str] = {}
    for index, token in enumerate(tokens):
        if token.text != "size" or index + 1 >= len(tokens) or tokens[index + 1].text != "(":
            continue
        argument = size_arguments.get(index)
        if argument is not None and argument.startswith(("list(", "map(", "bytes")):
            continue
        renamed[index] = SIZE_IN_CODE_POINTS
    return renamed


_OPTIONAL_SYNTAX: Final = (
    "selecting or indexing inside an optional value without '?' ('x.?a.b', 'x[?k][0]', cel-go's "
    "optional chaining, in Kubernetes' environment) is not supported by this CEL engine"
)


def _is_operator(name: str) -> bool:
    return not name[:1].isalpha()


def _syntax_message(expression: str, exc: Exception) -> str:
    """The library's parse error without its "Failed to parse expression '<source>': " prefix."""
    text = str(exc)
    prefix = f"{_PARSE_PREFIX}'{expression}': "
    return text[len(prefix) :] if text.startswith(prefix) else text


def _unique(problems: list[str]) -> list[str]:
    return list(dict.fromkeys(problems))
