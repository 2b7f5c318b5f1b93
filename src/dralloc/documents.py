"""Reading a configuration document's fields while collecting every problem.

Owns `DocumentReader`, the problem collector every hand-written configuration reader shares
(`scheduler/config.py`'s KubeSchedulerConfiguration, `autoscaling/`'s `kind: Autoscaling` and
its manifests): each helper checks one kind of value (an object with known fields, a list, a
DNS label, a string, a boolean, an integer, a number in a range, an enum member, unique names),
reports a `dralloc.errors.Problem` naming the file, the object and the field path when it is
wrong, and returns a usable default so reading goes on and every problem is found in one pass.
Readers subclass it for the value kinds only they need (plugin names, Go durations, delays).

Also the two steps before any field is read, worded alike for every such file: `read_text`
(the file's UTF-8 text, or a problem naming the file) and `yaml_documents` (the non-empty YAML
documents, or a problem naming the line and column; a key written twice in one mapping is
refused in go-yaml's words, as kube-scheduler's strict decoding and dralloc's manifest reader
refuse it; `repeated_keys` finds them, for this reader and `api/io.py`'s manifest reader
alike). This module sits beside `errors.py`,
outside the layers, so any package may import it; it imports nothing of dralloc's but errors.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection
from pathlib import Path
from typing import Any, TypeVar

import yaml

from dralloc.errors import InputError, Problem

_E = TypeVar("_E")
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def show(value: object) -> str:
    """A value as the file wrote it: strings quoted, a missing or null value as "nothing"
    (never Python's None), booleans as YAML's true/false."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    return f'"{value}"' if isinstance(value, str) else repr(value)


def read_text(path: str) -> str:
    """The UTF-8 text of the file at `path`; InputError naming the file when it cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise InputError(
            [Problem(path, "", "", f"cannot read file: {err.strerror or err}")]
        ) from None
    except UnicodeDecodeError:
        raise InputError([Problem(path, "", "", "file is not UTF-8 text")]) from None


_MERGE_TAG = "tag:yaml.org,2002:merge"
# PyYAML's pure-Python safe loader (its stubs leave the parser's methods untyped).
_SafeLoader: Any = yaml.SafeLoader


def repeated_keys(loader: Any, node: yaml.Node) -> list[tuple[str, int, int, int]]:
    """Each key the mapping `node` sets again, as (key, line, column, line of the first),
    1-based, its keys built by `loader` (any PyYAML constructor); none for a node that is not
    a mapping. Call it before the constructor flattens merge keys (`<<`): a merged key that
    the mapping sets again is an override, not a repetition (go-yaml accepts it too), and a
    key that is itself a collection is never compared."""
    if not isinstance(node, yaml.MappingNode):
        return []
    first_lines: dict[object, int] = {}
    repeated: list[tuple[str, int, int, int]] = []
    for key_node, _ in node.value:
        if key_node.tag == _MERGE_TAG or not isinstance(key_node, yaml.ScalarNode):
            continue
        key = loader.construct_object(key_node)
        mark = key_node.start_mark
        if key in first_lines:
            repeated.append((str(key), mark.line + 1, mark.column + 1, first_lines[key]))
        else:
            first_lines[key] = mark.line + 1
    return repeated


class _StrictKeysLoader(_SafeLoader):  # type: ignore[misc]
    """PyYAML's safe loader noting each key written twice in one mapping (`repeated_keys`);
    `yaml_documents` refuses the file when any is noted."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.repeated_keys: list[tuple[str, int, int, int]] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Any:
        self.repeated_keys += repeated_keys(self, node)
        return super().construct_mapping(node, deep=deep)


def yaml_documents(text: str, file: str, obj: str = "") -> list[object]:
    """The non-empty documents of YAML (or JSON) `text`; InputError naming `file` (and `obj`,
    when the file holds one kind of object), the line and the column when it is not YAML or
    when a mapping sets a key twice (every such key named at once)."""
    loader = _StrictKeysLoader(text)
    try:
        documents = []
        while loader.check_data():
            document = loader.get_data()
            if document is not None:
                documents.append(document)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise InputError([Problem(file, obj, "", f"{where}invalid YAML: {problem}")]) from None
    finally:
        loader.dispose()
    if loader.repeated_keys:
        # go-yaml's strict decoding (sigs.k8s.io/yaml's YAMLToJSONStrict, which kube-scheduler
        # and the API server read configuration and JSON alike through) says
        # `key "x" already set in map`; naming the first line is dralloc's.
        raise InputError(
            [
                Problem(
                    file,
                    obj,
                    "",
                    f"line {line}, column {column}: invalid YAML: key {json.dumps(key)} "
                    f"already set in map (first set at line {first})",
                )
                for key, line, column, first in loader.repeated_keys
            ]
        )
    return documents


class DocumentReader:
    """Collects problems with the file and object filled in; helpers return a usable value
    (a default) after reporting, so reading goes on and every problem is found.

        reader = DocumentReader("sched.yaml", "KubeSchedulerConfiguration")
        top = reader.mapping(raw, "", ("apiVersion", "kind", "profiles"))
        if reader.problems:
            raise InputError(reader.problems)
    """

    def __init__(self, file: str, obj: str) -> None:
        self.file = file
        self.obj = obj
        self.problems: list[Problem] = []

    def report(self, path: str, message: str) -> None:
        self.problems.append(Problem(self.file, self.obj, path, message))

    def mapping(self, raw: object, path: str, known: Collection[str] | None) -> dict[str, Any]:
        """An object's fields; with `known`, the others are reported as unknown and dropped
        (strict decoding, as the API server's)."""
        if raw is None:
            return {}
        if not isinstance(raw, dict) or not all(isinstance(k, str) for k in raw):
            self.report(path, f"must be an object, got {show(raw)}")
            return {}
        if known is None:
            return dict(raw)
        for key in raw:
            if key not in known:
                self.report(f"{path}.{key}" if path else key, "unknown field")
        return {k: v for k, v in raw.items() if k in known}

    def items(self, raw: object, path: str) -> list[Any]:
        if raw is None:
            return []
        if not isinstance(raw, list):
            self.report(path, f"must be a list, got {show(raw)}")
            return []
        return raw

    def name(self, raw: object, path: str) -> str:
        if not isinstance(raw, str) or not _NAME.match(raw):
            self.report(
                path, f"must be a DNS label (lowercase letters, digits, '-'), got {show(raw)}"
            )
            return ""
        return raw

    def string(self, raw: object, path: str, default: str | None = None) -> str | None:
        if raw is None:
            return default
        if not isinstance(raw, str) or not raw:
            self.report(path, f"must be a non-empty string, got {show(raw)}")
            return default
        return raw

    def boolean(self, raw: object, path: str, default: bool) -> bool:
        if raw is None:
            return default
        if not isinstance(raw, bool):
            self.report(path, f"must be true or false, got {show(raw)}")
            return default
        return raw

    def integer(self, raw: object, path: str, default: int, minimum: int | None = 0) -> int:
        if raw is None:
            return default
        if not isinstance(raw, int) or isinstance(raw, bool):
            self.report(path, f"must be an integer, got {show(raw)}")
            return default
        if minimum is not None and raw < minimum:
            self.report(path, f"must be >= {minimum}, got {raw}")
            return default
        return raw

    def number(
        self, raw: object, path: str, default: float, *, low: float = 0.0, high: float | None = None
    ) -> float:
        if raw is None:
            return default
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
            self.report(path, f"must be a number, got {show(raw)}")
            return default
        if raw < low or (high is not None and raw > high):
            bounds = f"in [{low:g}, {high:g}]" if high is not None else f">= {low:g}"
            self.report(path, f"must be {bounds}, got {raw}")
            return default
        return float(raw)

    def choice(self, raw: object, path: str, enum: type[_E], default: _E) -> _E:
        if raw is None:
            return default
        values = [member.value for member in enum]  # type: ignore[attr-defined]
        if raw not in values:
            self.report(path, f"must be one of {', '.join(values)}, got {show(raw)}")
            return default
        return enum(raw)  # type: ignore[call-arg]

    def unique(self, names: list[tuple[str, str]], what: str) -> None:
        """Report a name used twice; `names` are (name, path) in file order."""
        first: dict[str, str] = {}
        for name, path in names:
            if not name:
                continue
            earlier = first.setdefault(name, path)
            if earlier != path:
                self.report(path, f"duplicate {what} {show(name)} (first at {earlier})")
