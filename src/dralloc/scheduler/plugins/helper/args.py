"""Reading a plugin's raw args (the `pluginConfig[].args` mapping of a
KubeSchedulerConfiguration, camelCase keys) into a validated `...Args` value.

An `ArgsReader` collects every problem at once, each naming its config path, for example
`NodeResourcesFitArgs.scoringStrategy.type: must be one of ..., got "Foo"`. The path starts
with whatever the caller passes: the `...Args` type name by default, or
`profiles[0].pluginConfig[2].args` when a configuration loader knows where the args sit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping

from dralloc.errors import InputError, Problem

_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_SUBDOMAIN = re.compile(rf"^{_DNS_LABEL}(\.{_DNS_LABEL})*$")


def show(value: object) -> str:
    """A value as a message quotes it: JSON, so strings carry their quotes."""
    try:
        return json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(value)


def is_qualified_name(value: str) -> str | None:
    """None when `value` is a Kubernetes qualified name (`[prefix/]name`, as label keys and
    resource names are), else what is wrong with it."""
    prefix, slash, name = value.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return f"prefix part of {show(value)} must be a lowercase DNS subdomain"
    if not name or len(name) > 63 or not _NAME.match(name):
        return (
            f"name part of {show(value)} must be at most 63 alphanumeric characters, '-', "
            "'_' or '.', starting and ending with an alphanumeric character"
        )
    return None


class ArgsReader:
    """Collects the problems of one plugin's args.

    >>> reader = ArgsReader("NodeAffinityArgs")
    >>> _ = reader.mapping({"addedAfinity": {}}, reader.path, known={"addedAffinity"})
    >>> [str(p) for p in reader.problems]
    ['NodeAffinityArgs.addedAfinity: unknown field']
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[Problem] = []

    def report(self, path: str, message: str) -> None:
        self.problems.append(Problem("", "", path, message))

    def mapping(self, raw: object, path: str, known: Iterable[str]) -> Mapping[str, object]:
        """`raw` as an object with only `known` fields; None reads as empty."""
        if raw is None:
            return {}
        if not isinstance(raw, Mapping) or not all(isinstance(k, str) for k in raw):
            self.report(path, f"must be an object, got {show(raw)}")
            return {}
        allowed = set(known)
        for key in raw:
            if key not in allowed:
                self.report(f"{path}.{key}", "unknown field")
        return raw

    def items(self, raw: object, path: str) -> list[object]:
        """`raw` as a list; None reads as empty."""
        if raw is None:
            return []
        if not isinstance(raw, list | tuple):
            self.report(path, f"must be a list, got {show(raw)}")
            return []
        return list(raw)

    def string(self, raw: object, path: str) -> str | None:
        if isinstance(raw, str):
            return raw
        self.report(path, f"must be a string, got {show(raw)}")
        return None

    def integer(self, raw: object, path: str) -> int | None:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        self.report(path, f"must be an integer, got {show(raw)}")
        return None

    def strings(self, raw: object, path: str) -> tuple[str, ...]:
        values = [self.string(item, f"{path}[{i}]") for i, item in enumerate(self.items(raw, path))]
        return tuple(value for value in values if value is not None)

    def fail_if_any(self) -> None:
        """Raise one InputError naming every problem found so far."""
        if self.problems:
            raise InputError(self.problems)


def check_no_args(raw: Mapping[str, object] | None, path: str) -> None:
    """For a plugin that has no args: anything given is an unknown field."""
    reader = ArgsReader(path)
    reader.mapping(raw, path, known=())
    reader.fail_if_any()
