"""What every `dralloc` command shares: help settings, the closing epilog, and option values
converted without pydantic.

Light on purpose (typer and the standard library only): `cli.main`, `cli.mig` and
`cli.simulate` use it when they are imported, which every `dralloc --help` does.

Why `DrallocGroup`: typer 0.29 converts each option value through a pydantic `TypeAdapter`,
and importing pydantic and building the adapters costs more than the rest of a small
`dralloc allocate`. The root group gives every parameter of its commands (and of nested
groups) a plain converter before typer would build an adapter, for the types dralloc's
options use: str, int and float (with min/max), enums, and lists of these. Any other
parameter keeps typer's own conversion.
`tests/cli/test_cli_startup.py` checks that a command runs without importing pydantic, and
`tests/cli/test_cli_options.py` that values convert and are refused as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, get_args, get_origin

from typer._click import Command, Context, Parameter
from typer._click.exceptions import BadParameter
from typer._coercion import RuntimeParam
from typer._param_types import coerce_cli_choice
from typer.core import TyperGroup

__all__ = ["CONTEXT_SETTINGS", "DrallocGroup", "epilog"]

# Every command and group: `-h` as `--help`, and help as wide as the terminal (click stops at
# 80 columns unless told otherwise; it still wraps at the terminal's width).
CONTEXT_SETTINGS: dict[str, Any] = {
    "help_option_names": ["-h", "--help"],
    "max_content_width": 1000,
}


def epilog(examples: list[str], exit_codes: dict[int, str]) -> str:
    """The end of a command's help: examples, then the exit codes that command uses.

    Each block starts with click's `\\b` marker, so its lines are kept as written: a command
    line is never rewrapped.
    """
    lines = ["\b", "Examples:", *(f"  {example}" for example in examples), ""]
    lines += ["\b", "Exit codes:"]
    lines += [f"  {code}  {meaning}" for code, meaning in sorted(exit_codes.items())]
    return "\n".join(lines)


class DrallocGroup(TyperGroup):
    """The root group: gives every parameter below it a plain converter (see the module)."""

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        # Here, not in __init__: typer appends the completion options after building the
        # group, and click makes each command's help option when it is first asked for.
        # Subcommands inherit the group's help option names, so their help options made
        # with this context are the ones they use.
        _convert_plainly(self, ctx)
        return super().parse_args(ctx, args)


Converter = Callable[[Any, Context], Any]


@dataclass(frozen=True)
class PlainRuntimeParam(RuntimeParam):
    """typer's conversion contract for one parameter, fulfilled by `convert` (on each item of
    a list). Missing values never reach it: typer's `coerce` handles None first."""

    convert: Converter
    is_list: bool

    def _coerce_value(self, value: Any, param: Any, ctx: Context) -> Any:
        try:
            if self.is_list:
                items = value if isinstance(value, list | tuple) else [value]
                return [self.convert(item, ctx) for item in items]
            return self.convert(value, ctx)
        except ValueError as err:
            raise BadParameter(str(err), ctx=ctx, param=param) from err


def _convert_plainly(command: Command, ctx: Context) -> None:
    for param in command.get_params(ctx):  # with the help option
        _set_plain_converter(param)
    for sub in getattr(command, "commands", {}).values():  # a group's commands and groups
        _convert_plainly(sub, ctx)


def _set_plain_converter(param: Parameter) -> None:
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is None or getattr(param, "_runtime_param", False) is not None:
        return  # not a typer parameter, or its converter is built already
    info = descriptor.parameter_info
    if info.parser is not None or descriptor.is_file or descriptor.is_path:
        return
    annotation = descriptor.annotation
    is_list = get_origin(annotation) is list
    convert = _converter(get_args(annotation)[0] if is_list else annotation, info)
    if convert is not None:
        param._runtime_param = PlainRuntimeParam(  # type: ignore[attr-defined]
            parameter_info=info, annotation=annotation, convert=convert, is_list=is_list
        )


_TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})
_FALSE = frozenset({"0", "false", "f", "no", "n", "off", ""})


def _converter(annotation: Any, info: Any) -> Converter | None:
    """A function from a command-line string (or a default) to `annotation`, raising
    ValueError with the message to show; None for a type left to typer."""
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        choices = list(annotation)
        case_sensitive = bool(info.case_sensitive)
        return lambda value, ctx: coerce_cli_choice(
            value, choices=choices, case_sensitive=case_sensitive, ctx=ctx
        )
    if annotation is str:
        return lambda value, ctx: value if isinstance(value, str) else str(value)
    if annotation is bool:
        return _boolean
    if annotation not in (int, float) or info.clamp:
        return None
    kind = "integer" if annotation is int else "float"
    low, high = info.min, info.max

    def number(value: Any, ctx: Context) -> Any:
        if isinstance(value, annotation) and not isinstance(value, bool):
            result = value
        else:
            try:
                result = annotation(value.strip() if isinstance(value, str) else value)
            except (TypeError, ValueError):
                raise ValueError(f"{value!r} is not a valid {kind}.") from None
        if (low is not None and result < low) or (high is not None and result > high):
            raise ValueError(f"{result} is not in the range {_range(low, high)}.")
        return result

    return number


def _boolean(value: Any, ctx: Context) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ValueError(f"{value!r} is not a valid boolean.")


def _range(low: float | None, high: float | None) -> str:
    """click's notation: `x>=0`, `x<=9`, `0<=x<=9`."""
    if low is not None and high is not None:
        return f"{low}<=x<={high}"
    return f"x>={low}" if low is not None else f"x<={high}"
