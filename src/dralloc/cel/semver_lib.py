"""The Kubernetes CEL semver library, version 1 (k8s.io/apiserver/pkg/cel/library/semverlib.go).

Owns `semver(s)`, `semver(s, normalize)`, `isSemver(s)`, `isSemver(s, normalize)`, the Semver
member functions `major()`, `minor()`, `patch()` and the semver half of
`compareTo`/`isGreaterThan`/`isLessThan`, plus `parse_version`, which `device.py` uses for
`version` attributes. Parsing is the pinned `semver` package's strict `Version.parse`, as
strict as the blang/semver upstream uses: no "v" prefix, no leading zeros, patch required.
Comparison ignores build metadata. Functions may raise `EvalError`; `library.py` wraps them.
Pure computation, no I/O.
"""

from __future__ import annotations

import functools
from typing import Any

import semver

from dralloc.cel.values import SEMVER_TAG, EvalError, decode_semver, encode_semver

__all__ = [
    "compare",
    "is_semver_string",
    "major",
    "minor",
    "normalize_and_parse",
    "parse_version",
    "patch",
    "semver_value",
]

_INT64_MAX = 2**63 - 1


def parse_version(text: str) -> str:
    """The tagged Semver for a strict version string; ValueError if it is not one."""
    return encode_semver(semver.Version.parse(text))


def normalize_and_parse(text: str) -> semver.Version:
    """Upstream's `normalizeAndParse`: strip one leading "v", drop leading zeros of each of
    the first three dot-separated parts, and fill a missing minor/patch with 0 (a short
    version may not carry pre-release or build data). Then parse strictly."""
    text = text.removeprefix("v")
    parts = text.split(".", 2)
    for index, part in enumerate(parts):
        if len(part) > 1:
            stripped = part.lstrip("0")
            if not stripped or not stripped[0].isdigit() or not stripped[0].isascii():
                stripped = "0" + stripped
            parts[index] = stripped
    if len(parts) < 3:
        if "+" in parts[-1] or "-" in parts[-1]:
            raise ValueError("short version cannot contain PreRelease/Build meta data")
        parts.extend(["0"] * (3 - len(parts)))
    return semver.Version.parse(".".join(parts))


def _parse(text: Any, normalize: Any) -> semver.Version:
    if not isinstance(text, str) or not isinstance(normalize, bool):
        raise EvalError("no such overload")
    if normalize:
        return normalize_and_parse(text)
    return semver.Version.parse(text)


def semver_value(text: Any, normalize: Any = False) -> str:
    if isinstance(text, str) and text.startswith(SEMVER_TAG):
        raise EvalError("no such overload")
    try:
        return encode_semver(_parse(text, normalize))
    except ValueError as exc:
        raise EvalError(str(exc)) from None


def is_semver_string(text: Any, normalize: Any = False) -> bool:
    if isinstance(text, str) and text.startswith(SEMVER_TAG):
        raise EvalError("no such overload")
    try:
        _parse(text, normalize)
    except ValueError:
        return False
    return True


def compare(left: str, right: Any) -> int:
    """-1, 0 or 1; `left` is known to be a tagged Semver (the caller dispatched on it)."""
    if not (isinstance(right, str) and right.startswith(SEMVER_TAG)):
        raise EvalError("no such overload")
    return _compare_cached(left, right)


# Pure memoisation: `Version.compare` costs ~2 µs, and selectors compare the same few device
# versions with the same literal over and over.
@functools.lru_cache(maxsize=4096)
def _compare_cached(left: str, right: str) -> int:
    return int(decode_semver(left).compare(decode_semver(right)))


def major(value: Any) -> int:
    return _int64(decode_semver(value).major)


def minor(value: Any) -> int:
    return _int64(decode_semver(value).minor)


def patch(value: Any) -> int:
    return _int64(decode_semver(value).patch)


def _int64(number: int) -> int:
    if number > _INT64_MAX:
        raise EvalError("integer overflow")
    return number
