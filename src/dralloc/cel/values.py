"""How Kubernetes CEL values that the Rust library cannot hold travel through it.

Owns three encodings, all pure computation:

- **Quantity and Semver as tagged strings.** The library converts only plain Python values
  (no opaque objects), so a `Quantity` is the string `"\\x00Q<nano>"` (its exact value in
  nano-units) and a `Semver` is `"\\x00V<major.minor.patch[-pre]>"` (build metadata dropped).
  Both are canonical *by value*, so CEL's own `==` is semantic: `quantity("1Gi") ==
  quantity("1024Mi")` and `semver("1.0.0+a") == semver("1.0.0+b")` hold, as in k8s.
  An IP (`"\\x00I<address>"`) and a CIDR (`"\\x00C<address>/<bits>"`) are tagged the
  same way, in Go's canonical form (`network_lib.py`).
  Known leak: the tags are ordinary strings to the library, so string functions apply to them
  (`quantity("1").size()` is 11 rather than a no-such-overload error).
- **Error values.** A Python callback that *raises* makes the library print the exception to
  the process's stderr (fd 2). A callback that *returns* an object the library cannot convert
  becomes a CEL error silently, carrying the object's type name in its message. So callbacks
  never raise: they return `error_value(message)`, an instance of a class whose name is the
  message, and `runtime_message` recovers the message from the library's error text.
  Either way CEL's commutative `&&`/`||` still absorb the error.
- **CEL type names** of results, for "expression must evaluate to bool, got <type>".
"""

from __future__ import annotations

import functools
import re
from typing import Any, Final

import semver

from dralloc.api.quantity import Quantity

__all__ = [
    "CIDR_TAG",
    "IP_TAG",
    "QUANTITY_TAG",
    "SEMVER_TAG",
    "EvalError",
    "cel_literal",
    "cel_type_name",
    "decode_quantity",
    "decode_semver",
    "encode_quantity",
    "encode_semver",
    "error_value",
    "is_quantity",
    "is_semver",
    "runtime_message",
]

QUANTITY_TAG: Final = "\x00Q"
SEMVER_TAG: Final = "\x00V"
IP_TAG: Final = "\x00I"
CIDR_TAG: Final = "\x00C"
_TAG_LEN: Final = 2

# The class-name prefix marking an error value inside the library's conversion message.
_ERROR_MARK: Final = "dralloc-cel-error:"
_CONVERSION_ERROR: Final = re.compile(
    r"Failed to convert Python object of type " + re.escape(_ERROR_MARK) + r"(.*) to Value\.",
    re.DOTALL,
)
_UNDEFINED: Final = re.compile(r"Undefined variable or function: '([^']*)'")
_FUNCTION_ERROR: Final = re.compile(
    r"Function '([^']*)' error: (.*?)(?:\. Check function arguments and their types\.)?",
    re.DOTALL,
)


class EvalError(Exception):
    """Raised inside a library function for a CEL runtime error; the function wrapper turns it
    into an `error_value` (it never reaches the library)."""


# --------------------------------------------------------------------------------- quantity


def encode_quantity(quantity: Quantity) -> str:
    return QUANTITY_TAG + str(quantity.nano)


def is_quantity(value: object) -> bool:
    return isinstance(value, str) and value.startswith(QUANTITY_TAG)


def decode_quantity(value: object) -> Quantity:
    """The Quantity a tagged string holds; EvalError("no such overload") for anything else."""
    if isinstance(value, str) and value.startswith(QUANTITY_TAG):
        return Quantity.from_nano(int(value[_TAG_LEN:]))
    raise EvalError("no such overload")


# ----------------------------------------------------------------------------------- semver


def encode_semver(version: semver.Version) -> str:
    return SEMVER_TAG + str(version.replace(build=None))


def is_semver(value: object) -> bool:
    return isinstance(value, str) and value.startswith(SEMVER_TAG)


def decode_semver(value: object) -> semver.Version:
    """The Version a tagged string holds; EvalError("no such overload") for anything else."""
    if isinstance(value, str) and value.startswith(SEMVER_TAG):
        return _parse_canonical_semver(value)
    raise EvalError("no such overload")


# Pure memoisation (no observable state): parsing costs ~6 µs and selectors compare the same
# few versions over and over. Bounded, like `Quantity.parse`'s cache.
@functools.lru_cache(maxsize=4096)
def _parse_canonical_semver(value: str) -> semver.Version:
    return semver.Version.parse(value[_TAG_LEN:])


# ----------------------------------------------------------------------------------- errors


def error_value(message: str) -> object:
    """A value the library refuses to convert, so the call becomes a CEL error carrying
    `message` (recovered by `runtime_message`) and nothing is printed."""
    return _error_type(message)()


# Pure memoisation: one class per distinct message, so a selector that hits the same error on
# every device (absorbed by `|| true`, say) does not build a class each time.
@functools.lru_cache(maxsize=1024)
def _error_type(message: str) -> type:
    return type(_ERROR_MARK + message, (), {"__slots__": ()})


def runtime_message(exc: BaseException) -> str:
    """The user-facing text for an exception raised by `Program.execute`, in cel-go's words
    where they differ."""
    if isinstance(exc, KeyError):
        key = exc.args[0] if exc.args else ""
        return f"no such key: {key}"
    text = str(exc)
    if isinstance(exc, ZeroDivisionError):
        return "modulus by zero" if text.startswith("modulo") else "division by zero"
    match = _CONVERSION_ERROR.search(text)
    if match:
        return match.group(1)
    match = _UNDEFINED.search(text)
    if match:
        return f"undeclared reference to '{match.group(1)}'"
    match = _FUNCTION_ERROR.fullmatch(text)
    if match:
        return f"{match.group(1)}: {match.group(2)}"
    if text.startswith(("No such overload", "Unsupported operation")):
        return "no such overload"
    if text.startswith("Arithmetic overflow"):
        return "integer overflow"
    return text


# ----------------------------------------------------------------------- literals and types


def cel_literal(value: bool | str) -> str:
    """CEL source text for a bool or string value (used by constant folding)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    escaped = []
    for char in value:
        if char in '\\"':
            escaped.append("\\" + char)
        elif ord(char) < 0x20:
            escaped.append(f"\\x{ord(char):02x}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'


def cel_type_name(value: Any) -> str:
    """The CEL type of a value the library returned."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        if value.startswith(QUANTITY_TAG):
            return "Quantity"
        if value.startswith(SEMVER_TAG):
            return "Semver"
        if value.startswith(IP_TAG):
            return "net.IP"
        if value.startswith(CIDR_TAG):
            return "net.CIDR"
        return "string"
    if isinstance(value, bytes):
        return "bytes"
    if value is None:
        return "null_type"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "map"
    return type(value).__name__
