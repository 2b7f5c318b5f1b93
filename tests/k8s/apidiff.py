"""Differential checking of resource.k8s.io/v1 (and Pod) validation and defaulting: dralloc's
loader against a real kube-apiserver answering `?dryRun=All&fieldValidation=Strict`.

Pure helpers for tests/k8s/test_api_validation_differential.py: the verdict of each side, the
comparison, and the single-step mutations of valid seed objects. Nothing here starts a process.

    server = server_verdict(apiserver.admin, obj, namespace)
    local = dralloc_verdict(obj)
    assert disagreement(server, local) is None
"""

from __future__ import annotations

import copy
import http.client
import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import yaml
from apiclient import ApiClient

from dralloc.api.io import KINDS, FieldValidation, _convert, decode_object, kube_dict
from dralloc.api.validation.times import format_time, parse_time
from dralloc.cel import selector_problems
from dralloc.errors import Problem

DATA = Path(__file__).resolve().parents[1] / "data" / "apiserver"
SEEDS = DATA / "seeds.yaml"
CASES = DATA / "disagreements.yaml"

COLLECTIONS = {
    "DeviceClass": ("deviceclasses", False),
    "ResourceSlice": ("resourceslices", False),
    "ResourceClaim": ("resourceclaims", True),
    "ResourceClaimTemplate": ("resourceclaimtemplates", True),
    "Pod": ("pods", True),
}
API_VERSIONS = {"Pod": "v1"}


@dataclass(frozen=True)
class Verdict:
    """One side's answer: accepted (with the defaulted `spec`) or rejected naming fields.

    A rejection's `fields` are in the notation of its `located` kind: VALIDATION paths are
    exact (`spec.devices[0].attributes[speed]`), UNKNOWN_FIELD paths spell map keys with dots
    (`spec.devices[0].capacity.memory.bogus`), DECODING paths (a wrong JSON type) have neither
    indices nor map keys, and UNLOCATED rejections (a malformed quantity or time) name no field.
    """

    accepted: bool
    fields: frozenset[str] = frozenset()
    spec: Any = None
    messages: tuple[str, ...] = ()
    located: str = "validation"

    def as_data(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "fields": sorted(self.fields),
            "messages": [m if len(m) <= 300 else m[:300] + "..." for m in self.messages],
        }


def load_seeds() -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(SEEDS.read_text()) if doc]


def collection_path(kind: str, namespace: str) -> str:
    plural, namespaced = COLLECTIONS[kind]
    base = "/api/v1" if API_VERSIONS.get(kind) == "v1" else "/apis/resource.k8s.io/v1"
    return f"{base}/namespaces/{namespace}/{plural}" if namespaced else f"{base}/{plural}"


NO_ANSWER = "(no answer: the server panicked)"
_UNKNOWN_FIELD = re.compile(r'unknown field "([^"]+)"')
_DUPLICATE_FIELD = re.compile(r'duplicate field "([^"]+)"')
_TYPE_ERROR = re.compile(r"Go struct field [A-Za-z0-9_]+\.(\S+) of type")
VALIDATION, UNKNOWN_FIELD, DECODING, UNLOCATED = "validation", "unknown", "decoding", "unlocated"


def _go_struct_path(path: str) -> str:
    """encoding/json's field path without the Go type names of embedded structs
    (`spec.config.DeviceConfiguration.opaque` is `spec.config.opaque` on the wire)."""
    return ".".join(part for part in path.split(".") if not part[:1].isupper())


def server_verdict(admin: ApiClient, obj: dict[str, Any], namespace: str) -> Verdict:
    """POSTs `obj` with dryRun=All (nothing is stored) and strict field validation."""
    try:
        response = admin.request(
            "POST",
            collection_path(obj["kind"], namespace),
            json.dumps(obj).encode(),
            query={"dryRun": "All", "fieldValidation": "Strict"},
        )
    except http.client.RemoteDisconnected:
        # A panic in the request handler: the server recovers and drops the connection.
        return Verdict(
            False, frozenset({NO_ANSWER}), messages=("the server closed the connection",)
        )
    body = response.body
    if response.is_success:
        return Verdict(True, spec=body.get("spec"))
    message = str(body.get("message", ""))
    if response.status == 422:
        causes = (body.get("details") or {}).get("causes") or []
        fields = frozenset(str(cause.get("field", "")) for cause in causes)
        messages = tuple(sorted(f"{c.get('field', '')}: {c.get('message', '')}" for c in causes))
        return Verdict(False, fields, messages=messages)
    if response.status == 400:
        unknown = _UNKNOWN_FIELD.findall(message) + _DUPLICATE_FIELD.findall(message)
        if unknown:
            return Verdict(False, frozenset(unknown), messages=(message,), located=UNKNOWN_FIELD)
        typed = _TYPE_ERROR.findall(message)
        if typed:
            paths = frozenset(_go_struct_path(path) for path in typed)
            return Verdict(False, paths, messages=(message,), located=DECODING)
        return Verdict(False, frozenset(), messages=(message,), located=UNLOCATED)
    if response.status == 403:
        # An admission plugin's refusal (Priority, RuntimeClass): it names no field.
        return Verdict(False, frozenset(), messages=(message,), located=UNLOCATED)
    raise AssertionError(f"unexpected answer {response.status}: {response.text}")


def dralloc_verdict(obj: dict[str, Any]) -> Verdict:
    """dralloc's loader as `dralloc allocate` runs it (`cli/inputs.py`): strict field
    validation and defaults, then the selectors compiled and type checked; the selectors in
    the new-expression environment at 1.36's default gates, as the server under test has
    them (the CLI checks with every gate on, so it also takes `includes` and `dyn`)."""
    loaded, problems = decode_object(
        copy.deepcopy(obj), "case.yaml", 0, validation=FieldValidation.strict
    )
    if loaded is not None:
        problems += [
            Problem(loaded.file, loaded.ref, path, message)
            for path, message in selector_problems(loaded.obj)
        ]
    if loaded is None or problems:
        return Verdict(
            False,
            frozenset(problem.field for problem in problems),
            messages=tuple(f"{problem.field}: {problem.message}" for problem in problems),
        )
    return Verdict(True, spec=kube_dict(loaded.obj).get("spec"))


def project_spec(kind: str, spec: Any) -> Any:
    """The server's `spec` as dralloc's model holds it (fields dralloc does not model are
    dropped), decoded without dralloc's defaulting."""
    cls = KINDS[kind][0]
    api_version = API_VERSIONS.get(kind, "resource.k8s.io/v1")
    raw = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "p"}}
    obj = _convert({**raw, "spec": spec}, cls)
    return kube_dict(obj).get("spec")


def _in_notation(path: str, located: str) -> str:
    """dralloc's path as the server would spell it for that kind of rejection."""
    if located == DECODING:
        return re.sub(r"\[[^\]]*\]", "", path)
    if located == UNKNOWN_FIELD:
        return re.sub(r"\[([^\]]*[^\]0-9][^\]]*)\]", r".\1", path)
    return path


def _fields_match(server: Verdict, local: Verdict, *, some: bool = False) -> bool:
    if server.located == UNLOCATED:
        return True  # the server names no field: rejecting at all is agreeing
    local_fields = {_in_notation(f, server.located) for f in local.fields}
    if some:
        return bool(server.fields & local_fields)
    if server.located in (DECODING, UNKNOWN_FIELD):
        # The server stops at the first stage that fails (decoding, before validation);
        # dralloc reports every problem at once, so it may name more.
        return server.fields <= local_fields
    return server.fields == local_fields


def _modelled_diff(server_spec: Any, local_spec: Any, path: str = "spec") -> list[str]:
    """Where dralloc's defaulted spec differs from the server's, for fields both model."""
    if isinstance(server_spec, dict) and isinstance(local_spec, dict):
        out: list[str] = []
        for key in sorted(set(server_spec) | set(local_spec)):
            out += _modelled_diff(server_spec.get(key), local_spec.get(key), f"{path}.{key}")
        return out
    if isinstance(server_spec, list) and isinstance(local_spec, list):
        if len(server_spec) != len(local_spec):
            return [f"{path}: {len(server_spec)} items on the server, {len(local_spec)} in dralloc"]
        out = []
        for i, (a, b) in enumerate(zip(server_spec, local_spec, strict=True)):
            out += _modelled_diff(a, b, f"{path}[{i}]")
        return out
    if path.endswith(".timeAdded") and isinstance(server_spec, str) and local_spec is None:
        # Stable wording: the server's value is the time of the request.
        return [f"{path}: the server sets the time of the request, dralloc leaves it unset"]
    if path.endswith(".timeAdded") and _both_stamped_now(server_spec, local_spec):
        return []  # each side stamped its own time of the request
    if server_spec != local_spec and not (_is_empty(server_spec) and _is_empty(local_spec)):
        return [f"{path}: server {server_spec!r}, dralloc {local_spec!r}"]
    return []


_STAMPED_WITHIN = timedelta(minutes=10)


def _both_stamped_now(server: Any, local: Any) -> bool:
    """Whether two timeAdded values are both RFC 3339 times written the way the server writes
    them and close to now: each side's own time of the request, which cannot be equal."""
    if not (isinstance(server, str) and isinstance(local, str)):
        return False
    now = datetime.now(UTC)
    for text in (server, local):
        instant = parse_time(text)
        if instant is None or format_time(instant) != text or abs(now - instant) > _STAMPED_WITHIN:
            return False
    return True


def _is_empty(value: Any) -> bool:
    return value is None or value == {} or value == [] or value is False


def disagreement(
    kind: str, server: Verdict, local: Verdict, *, some_field: bool = False
) -> str | None:
    """None when dralloc answers as the server does, else what differs (in one line).

    With `some_field`, two rejections agree when they name at least one field in common, or
    when the server stopped at decoding: with several faults in one object, each side may
    stop at a different stage (the server's decoding, dralloc's typed conversion) before
    reaching the others."""

    def said(verdict: Verdict) -> str:
        return "accepts" if verdict.accepted else f"rejects {sorted(verdict.fields)}"

    if server.accepted != local.accepted:
        return f"the server {said(server)}, dralloc {said(local)}"
    if not server.accepted:
        if _fields_match(server, local, some=some_field):
            return None
        if some_field and server.located == DECODING:
            # Go's decoder stops at the first value of the wrong JSON type and names only it;
            # with a second fault elsewhere, dralloc may well meet that one first.
            return None
        return (
            f"both reject, the server naming {sorted(server.fields)}, "
            f"dralloc {sorted(local.fields)}"
        )
    if kind == "Pod":
        # dralloc reads pods as written; the server's answer is the pod after admission
        # (DefaultTolerationSeconds adds tolerations, Priority sets `priority`), not a
        # defaulting dralloc mirrors. For pods only accepting and rejecting are compared.
        return None
    # Both accept: the server's defaulted spec, seen through dralloc's model, against dralloc's.
    diff = _modelled_diff(project_spec(kind, server.spec), local.spec)
    return "defaulting differs: " + "; ".join(diff) if diff else None


# Mutations


class NotApplicable(Exception):
    """A mutation of one object applied to another that lacks its path (or retypes it)."""


@dataclass(frozen=True)
class Mutation:
    """One change to a seed: `op` at `path` (a tuple of keys and list indices)."""

    path: tuple[str | int, ...]
    op: str
    value: Any = None

    def describe(self) -> str:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in self.path)
        shown = "" if self.op in ("delete", "duplicate-item") else _shown(self.value)
        return f"{self.op} {where.lstrip('.') or '(root)'}{shown}"

    def as_data(self) -> dict[str, Any]:
        return {"path": list(self.path), "op": self.op, "value": self.value}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Mutation:
        return cls(tuple(data["path"]), data["op"], data.get("value"))

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """`obj` changed; raises NotApplicable when `obj` lacks what this changes."""
        try:
            return self._apply(obj)
        except (KeyError, IndexError, TypeError, ZeroDivisionError) as error:
            raise NotApplicable(f"{self.describe()}: {error!r}") from error

    def _apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(obj)
        parent: Any = out
        for key in self.path[:-1]:
            parent = parent[key]
        last = self.path[-1]
        if self.op == "delete":
            del parent[last]
        elif self.op == "set":
            parent[last] = copy.deepcopy(self.value)
        elif self.op == "add-key":
            parent[last][self.value[0]] = copy.deepcopy(self.value[1])
        elif self.op == "duplicate-item":
            parent[last].append(copy.deepcopy(parent[last][0]))
        elif self.op == "repeat-items":
            items = parent[last]
            parent[last] = [_renamed(items[i % len(items)], i) for i in range(self.value)]
        else:
            raise ValueError(self.op)
        return out


def _shown(value: Any) -> str:
    """A value as a name shows it: long strings by their start and length, so two lengths of
    one letter stay two names."""
    if isinstance(value, str) and len(value) > 24:
        return f' "{value[:12]}..." ({len(value)} chars)'
    return f" {json.dumps(value, ensure_ascii=False)}"


def _renamed(item: Any, i: int) -> Any:
    """A copy of a list item with a distinct `name`, so a long list is not just duplicates."""
    item = copy.deepcopy(item)
    if isinstance(item, dict) and isinstance(item.get("name"), str):
        item["name"] = f"{item['name'][:50]}-{i}"
    return item


INT64_MAX = 2**63 - 1
INTEGERS = (-1, 0, 1, 7, 33, 129, 2**31, 2**53 + 1, INT64_MAX, 2**63, 2**64, 10**30)
STRINGS = (
    "",
    " ",
    "a",
    "A",
    "a-b",
    "a_b",
    "-a",
    "a.",
    "a.b.c",
    "a/b",
    "example.com/a",
    "example.com/a/b",
    "Example.com/a",
    "x" * 63,
    "x" * 64,
    "x" * 253,
    "x" * 254,
    "example.com/" + "x" * 64,
    "é",
    "1Gi",
    "-1",
    "0",
    "1.5",
    "1e3",
    "abc",
    "true",
)
# Selector expressions for every `cel.expression`: results of each static type, and forms
# whose type only the checker's inference can tell (bound variables, macros, functions).
CEL_EXPRESSIONS = (
    "device.driver",
    "device.allowMultipleAllocations",
    "device.attributes",
    'device.attributes["example.com"]',
    'device.attributes["example.com"].model',
    'device.capacity["example.com"].memory',
    'device.capacity["example.com"].memory.compareTo(quantity("1Gi"))',
    'device.capacity["example.com"].memory.isGreaterThan(quantity("1Gi"))',
    "device.model",
    "cel.bind(x, 1, x)",
    "cel.bind(x, 1, x > 0)",
    'cel.bind(a, device.attributes["example.com"], a.model == "x")',
    'cel.bind(a, device.attributes["example.com"], a)',
    "[1, 2].map(x, x)",
    "[1, 2].map(x, x > 1)",
    "[1, 2].filter(x, x > 1)",
    "[1, 2].exists(x, x > 1)",
    "[1, 2].all(x, x > 1) || false",
    'device.attributes["example.com"].exists(k, k == "model")',
    "1 + 1.5",
    "dyn(1)",
    "dyn(true)",
    "true ? 1 : 2",
    'true ? 1 : "a"',
    '"abc".size()',
    "size(device.attributes)",
    "[1, 2].max()",
    "[1, 2].max() == 2",
    "lists.range(3)",
    '"a,b".split(",")',
    '"abc".matches("a.*")',
    "has(device.attributes.example)",
    'semver("1.0.0").major()',
    'semver("1.0.0").isLessThan(semver("2.0.0"))',
    'timestamp("2025-01-01T00:00:00Z").getHours()',
    'sets.contains(["a"], ["a"])',
    "[1].includes(1)",
    "null",
    "{}",
    "[]",
    "1u",
    'b"x"',
    "int",
    "type(1) == int",
    "1 == 1.0",
    '1 == "a"',
    "1 < 1.5",
    "device.driver == 1",
    '"a" < "b"',
    '[1] + ["a"]',
    '{"a": 1}.map(k, k)',
    'device.attributes["example.com"].model + 1',
    'device.attributes["example.com"].model ? 1 : 2',
    'device.capacity["example.com"].memory.asApproximateFloat() * 2',
    "size(device.driver) + 1.0",
    "-1u",
    "!1",
    '-"a"',
    "1 && true",
    "true || 1",
    'quantity("1") < quantity("2")',
    "[1, 2][0]",
    '{"a": true}["a"]',
    "[true][0]",
    '[1, 2].exists(k, true) ? device.driver : "x"',
    "cel.bind(x, [1, 2], x.filter(y, y > 1).size() > 0)",
    "[1, 2].sum()",
    '"abc".indexOf("b")',
    "device.attributes.size()",
    "optional.none().hasValue()",
    "has(device.driver)",
    "null == null",
    "true ? null : 1",
    "[1, 2.5].max()",
    "dyn(1) + 1",
    'device.attributes["example.com"].model == 1',
    "1 + 2u",
    "2.0 / 1",
    '"a" + b"b"',
)
# Node-selector operators and toleration operators and effects, right and wrong.
POD_OPERATORS_AND_EFFECTS = (
    "In",
    "NotIn",
    "Exists",
    "DoesNotExist",
    "Gt",
    "Lt",
    "Equal",
    "NoSchedule",
    "PreferNoSchedule",
    "NoExecute",
    "exists",
    "Bogus",
)
WRONG_TYPES = (None, True, 1, "s", [], {}, 1.5)
LIST_LENGTHS = (0, 2, 9, 17, 33, 65, 129, 257)


def _nodes(
    value: Any, path: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    yield path, value
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _nodes(child, (*path, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _nodes(child, (*path, i))


def _panics_the_server(path: tuple[str | int, ...], value: Any) -> bool:
    """kube-apiserver v1.36.3 divides by a zero `requestPolicy.validRange.step` (its
    `validateRequestPolicyRangeStep`) and drops the connection: no answer to compare with."""
    return path[-2:] == ("validRange", "step") and value in ("0", 0)


# The pod fields dralloc reads and validates (`validation.claims._pod`): mutations of a Pod
# stay under these, since the server validates every other field of a pod and dralloc, which
# never reads them, does not. A `*` matches any list index.
POD_FIELDS_READ = (
    ("spec", "resourceClaims"),
    ("spec", "containers", "*", "resources"),
    ("spec", "initContainers", "*", "resources"),
    ("spec", "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution"),
    ("spec", "tolerations"),
    ("spec", "nodeSelector"),
    ("spec", "schedulingGates"),
    ("spec", "overhead"),
    ("spec", "priority"),
)
# At most this many mutations of each pod (a fixed sample), so the module's time stays
# that of the resource.k8s.io seeds plus a few hundred requests.
POD_MUTATIONS = 300
# Values for the quantities of `resources.requests`/`limits` and `overhead`.
QUANTITIES = (
    "0",
    "1",
    "-1",
    "1.5",
    "0.001",
    "0.0001",
    "1m",
    "1Mi",
    "1M",
    "1e3",
    "1E3",
    "1Ki",
    "1ki",
    "1KiB",
    "1.5Gi",
    "+1",
    "1 ",
    " 1",
    ".5",
    "5.",
    "1e",
    "9223372036854775807",
    "9223372036854775808",
    "1e308",
    "1e-3",
    "0x10",
    "1Ei",
    "8Ei",
)


def _is_read_by_dralloc(path: tuple[str | int, ...]) -> bool:
    for prefix in POD_FIELDS_READ:
        if len(path) >= len(prefix) and all(
            (want == "*" and isinstance(got, int)) or want == got
            for want, got in zip(prefix, path, strict=False)
        ):
            return True
    return False


def _is_quantity(path: tuple[str | int, ...]) -> bool:
    return len(path) >= 2 and path[-2] in ("requests", "limits", "overhead")


def mutations(seed: dict[str, Any]) -> list[Mutation]:
    """Every single-step mutation of `seed`: deletions, wrong types, boundary strings and
    integers, unknown keys, duplicated and lengthened lists. apiVersion and kind stay. A
    Pod's mutations keep to the fields dralloc reads, `POD_MUTATIONS` of them at most."""
    everything = _mutations(seed)
    if seed["kind"] != "Pod":
        return everything
    named = {m.describe(): m for m in everything if _is_read_by_dralloc(m.path)}
    read = list(named.values())  # a quantity may also be one of the boundary strings
    if len(read) <= POD_MUTATIONS:
        return read
    chosen = set(random.Random(seed_id(seed)).sample(range(len(read)), POD_MUTATIONS))
    return [m for i, m in enumerate(read) if i in chosen]


def _mutations(seed: dict[str, Any]) -> list[Mutation]:
    out: list[Mutation] = []
    for path, value in _nodes(seed):
        if not path or path[0] in ("apiVersion", "kind") or path == ("metadata",):
            continue
        if isinstance(path[-1], str):
            out.append(Mutation(path, "delete"))
        out += [
            Mutation(path, "set", wrong)
            for wrong in WRONG_TYPES
            if type(wrong) is not type(value) and not (value is None and wrong is None)
        ]
        if isinstance(value, bool):
            out.append(Mutation(path, "set", not value))
        elif isinstance(value, int):
            out += [Mutation(path, "set", n) for n in INTEGERS if n != value]
        elif isinstance(value, str):
            out += [
                Mutation(path, "set", s)
                for s in STRINGS
                if s != value and not _panics_the_server(path, s)
            ]
            if path[-2:] == ("cel", "expression"):
                out += [Mutation(path, "set", e) for e in CEL_EXPRESSIONS if e != value]
            if seed["kind"] == "Pod" and _is_quantity(path):
                out += [Mutation(path, "set", q) for q in QUANTITIES if q != value]
            if seed["kind"] == "Pod" and path[-1] in ("operator", "effect"):
                out += [Mutation(path, "set", w) for w in POD_OPERATORS_AND_EFFECTS if w != value]
        elif isinstance(value, dict):
            out.append(Mutation(path, "add-key", ("bogus", 1)))
            out.append(Mutation(path, "add-key", ("example.com/Bad Key", {"string": "x"})))
            if seed["kind"] == "Pod" and path[-1] in ("requests", "limits", "overhead"):
                out += [
                    Mutation(path, "add-key", (name, "1"))
                    for name in ("nvidia.com/gpu", "hugepages-2Mi", "bogus", "example.com/Bad")
                ]
        elif isinstance(value, list) and value:
            out.append(Mutation(path, "duplicate-item"))
            out += [Mutation(path, "repeat-items", n) for n in LIST_LENGTHS if n != len(value)]
    return out


@dataclass
class Case:
    """A recorded disagreement: a seed, one mutation of it and both answers, re-checked by the
    test until dralloc agrees. The object is the seed of that id with the mutation applied."""

    name: str
    seed: str
    mutation: dict[str, Any]
    difference: str
    server: dict[str, Any] = field(default_factory=dict)
    dralloc: dict[str, Any] = field(default_factory=dict)


def seed_id(seed: dict[str, Any]) -> str:
    return f"{seed['kind']}-{seed['metadata']['name']}"


def load_cases() -> list[Case]:
    if not CASES.exists():
        return []
    return [msgspec.convert(item, Case) for item in yaml.safe_load(CASES.read_text()) or []]
