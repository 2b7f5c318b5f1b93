"""API validation of resource.k8s.io/v1 and core/v1 objects (spec/dra-v1.md section 4).

Owns: every rule the API server applies when an object is created, for DeviceClass,
ResourceSlice, ResourceClaim (spec and status) and ResourceClaimTemplate, with every feature
gate enabled (a field of a gated feature is never an error here; the allocator decides what
it means when the gate is off), plus light checks of Node and Pod (names, pod claim
references). Pure computation, no I/O, nothing raised: `validate(obj)` returns every problem
as a (field path, message) pair, the path in wire (camelCase) form such as
`spec.devices.requests[1].exactly.count`, map keys in brackets (`attributes[model]`).

Not here: compiling CEL (the api layer must not import `dralloc.cel`; the CEL layer checks
expressions), rules that span objects (pool-wide device and counter-set names, generations:
the allocator's business, spec section 6.3), update-only rules (immutability, no new
`reservedFor` entries while deleting), and the admission check of `adminAccess` against
namespace labels.

Messages follow the API server's wording where it exists, in its forms
(`Invalid value: "X": ...`, `Required value`, `Duplicate value: "X"`,
`Unsupported value: "X": supported values: ...`, `Too many: 33: must have at most 32 items`);
numeric rules say what was expected and what was found (`must be greater than zero, got 0`).
As upstream does, a list over its size limit gets only the "Too many" problem, its entries
are not checked further.

Deliberate differences from upstream's validation code (each has a test):

- A toleration with an empty key must use `Exists`, as the API documentation says; the
  upstream validation code does not check it.
- `validRange.min` must be >= 0 even without a step, and a `default` or `max` that is not
  `min + n*step` is reported at that field rather than at `step`; steps use exact arithmetic.
- A per-device `nodeSelector` may have several terms (upstream checks one term only for the
  slice-level selector).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence, Sized
from functools import lru_cache
from typing import Any, Final, TypeAlias

from dralloc.api.core import NodeSelector
from dralloc.api.meta import ObjectMeta
from dralloc.api.quantity import Quantity
from dralloc.api.resource import (
    ALLOCATION_MODE_ALL,
    ALLOCATION_MODE_EXACT_COUNT,
    DeviceClass,
    DeviceSelector,
    OpaqueDeviceConfiguration,
)

Problem: TypeAlias = tuple[str, str]


# ------------------------------------------------------------------------------------ limits
# The numbers of k8s.io/api/resource/v1 (spec/dra-v1.md sections 2 and 4).

DRIVER_NAME_MAX: Final = 63
POOL_NAME_MAX: Final = 253
DNS_LABEL_MAX: Final = 63
DNS_SUBDOMAIN_MAX: Final = 253
C_IDENTIFIER_MAX: Final = 32
LABEL_VALUE_MAX: Final = 63
SLICE_DEVICES_MAX: Final = 128
SLICE_DEVICES_MAX_ADVANCED: Final = 64  # any device with taints, consumesCounters or lists
COUNTER_SETS_MAX: Final = 8
COUNTERS_PER_SET_MAX: Final = 32
COUNTER_CONSUMPTIONS_MAX: Final = 2
COUNTERS_PER_CONSUMPTION_MAX: Final = 32
ATTRIBUTES_AND_CAPACITIES_MAX: Final = 32
ATTRIBUTE_VALUES_MAX: Final = 48
ATTRIBUTE_VALUE_LENGTH_MAX: Final = 64
VALID_VALUES_MAX: Final = 10
TAINTS_MAX: Final = 16
TOLERATIONS_MAX: Final = 16
BINDING_CONDITIONS_MAX: Final = 4
REQUESTS_MAX: Final = 32
FIRST_AVAILABLE_MAX: Final = 8
SELECTORS_MAX: Final = 32
CONSTRAINTS_MAX: Final = 32
CONFIG_MAX: Final = 32
CEL_EXPRESSION_MAX: Final = 10 * 1024
OPAQUE_PARAMETERS_MAX: Final = 10 * 1024
RESULTS_MAX: Final = 32
ALLOCATION_CONFIG_MAX: Final = 2 * CONFIG_MAX  # class config + claim config
RESERVED_FOR_MAX: Final = 256
DEVICE_STATUS_CONDITIONS_MAX: Final = 8
DEVICE_STATUS_DATA_MAX: Final = 10 * 1024
INTERFACE_NAME_MAX: Final = 256
HARDWARE_ADDRESS_MAX: Final = 128
NETWORK_IPS_MAX: Final = 16
ANNOTATIONS_TOTAL_MAX: Final = 256 * 1024
CONDITION_REASON_MAX: Final = 1024
CONDITION_MESSAGE_MAX: Final = 32 * 1024
MAP_KEY_SHOWN_MAX: Final = DRIVER_NAME_MAX + 1 + C_IDENTIFIER_MAX  # longer keys are shortened

TAINT_EFFECTS: Final = ("NoExecute", "NoSchedule", "None")
TOLERATION_OPERATORS: Final = ("Equal", "Exists")
ALLOCATION_MODES: Final = (ALLOCATION_MODE_ALL, ALLOCATION_MODE_EXACT_COUNT)
CONFIG_SOURCES: Final = ("FromClaim", "FromClass")
CONDITION_STATUSES: Final = ("False", "True", "Unknown")
NODE_SELECTOR_OPERATORS: Final = ("DoesNotExist", "Exists", "Gt", "In", "Lt", "NotIn")

# --------------------------------------------------------------------- formats and messages
# Regular expressions and texts of k8s.io/apimachinery/pkg/util/validation. Always used with
# fullmatch, and the character classes are ASCII, as in Go.

_DNS_LABEL_FMT: Final = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_LABEL_RE: Final = re.compile(_DNS_LABEL_FMT)
_DNS_LABEL_MSG: Final = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    f"regex used for validation is '{_DNS_LABEL_FMT}')"
)
_DNS_SUBDOMAIN_FMT: Final = rf"{_DNS_LABEL_FMT}(\.{_DNS_LABEL_FMT})*"
_DNS_SUBDOMAIN_RE: Final = re.compile(_DNS_SUBDOMAIN_FMT)
_DNS_SUBDOMAIN_MSG: Final = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
    f"regex used for validation is '{_DNS_SUBDOMAIN_FMT}')"
)
_C_IDENTIFIER_FMT: Final = "[A-Za-z_][A-Za-z0-9_]*"
_C_IDENTIFIER_RE: Final = re.compile(_C_IDENTIFIER_FMT)
_C_IDENTIFIER_MSG: Final = (
    "a valid C identifier must start with alphabetic character or '_', followed by a string "
    "of alphanumeric characters or '_' (e.g. 'my_name',  or 'MY_NAME',  or 'MyName', "
    f"regex used for validation is '{_C_IDENTIFIER_FMT}')"
)
_QUALIFIED_NAME_FMT: Final = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QUALIFIED_NAME_RE: Final = re.compile(_QUALIFIED_NAME_FMT)
_QUALIFIED_NAME_PART_MSG: Final = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
    "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', "
    f"regex used for validation is '{_QUALIFIED_NAME_FMT}')"
)
_QUALIFIED_NAME_MSG: Final = (
    "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
    f"'123-abc', regex used for validation is '{_QUALIFIED_NAME_FMT}') with an optional DNS "
    "subdomain prefix and '/' (e.g. 'example.com/MyName')"
)
_LABEL_VALUE_FMT: Final = f"({_QUALIFIED_NAME_FMT})?"
_LABEL_VALUE_RE: Final = re.compile(_LABEL_VALUE_FMT)
_LABEL_VALUE_MSG: Final = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    f"'my_value',  or '12345', regex used for validation is '{_LABEL_VALUE_FMT}')"
)
_UUID_RE: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_UUID_MSG: Final = (
    "uid must be in RFC 4122 normalized form, `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` with "
    "lowercase hexadecimal characters"
)
_CONDITION_REASON_FMT: Final = "[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?"
_CONDITION_REASON_RE: Final = re.compile(_CONDITION_REASON_FMT)
_CONDITION_REASON_MSG: Final = (
    "a condition reason must start with alphabetic character, optionally followed by a "
    "string of alphanumeric characters or '_,:', and must end with an alphanumeric character "
    "or '_' (e.g. 'my_name',  or 'MY_NAME',  or 'MyName',  or 'ReasonA,ReasonB',  or "
    f"'ReasonA:ReasonB', regex used for validation is '{_CONDITION_REASON_FMT}')"
)
_REQUEST_REF_MSG: Final = (
    "must be the name of a request in the claim or the name of a request and a subrequest "
    "separated by '/'"
)
_NODE_SELECTION_FIELDS: Final = (
    "exactly one of `nodeName`, `nodeSelector`, `allNodes`, `perDeviceNodeSelection` is required"
)
_DEVICE_NODE_SELECTION_FIELDS: Final = (
    "exactly one of `nodeName`, `nodeSelector`, or `allNodes` is required when "
    "`perDeviceNodeSelection` is set to true in the ResourceSlice spec"
)

# A request name of the claim mapped to its subrequest names (None: a plain request).
RequestNames: TypeAlias = dict[str, frozenset[str] | None]


def _fmt(value: object) -> str:
    """A value as the API server prints it in a field error: strings quoted, numbers bare."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Quantity):
        return json.dumps(str(value))
    if value is None:
        return "null"
    return str(value)


def _byte_len(text: str) -> int:
    """Length as Go's len() counts it: UTF-8 bytes."""
    return len(text.encode("utf-8", "surrogatepass"))


# The same names recur across thousands of devices in a dump: cache the pure checks.
@lru_cache(maxsize=8192)
def _dns_label_errors(value: str) -> tuple[str, ...]:
    return tuple(_dns_label_problems(value))


def _dns_label_problems(value: str) -> list[str]:
    errors = []
    if len(value) > DNS_LABEL_MAX:
        errors.append(f"must be no more than {DNS_LABEL_MAX} characters")
    if not _DNS_LABEL_RE.fullmatch(value):
        errors.append(_DNS_LABEL_MSG)
    return errors


@lru_cache(maxsize=8192)
def _dns_subdomain_errors(value: str) -> tuple[str, ...]:
    return tuple(_dns_subdomain_problems(value))


def _dns_subdomain_problems(value: str) -> list[str]:
    errors = []
    if len(value) > DNS_SUBDOMAIN_MAX:
        errors.append(f"must be no more than {DNS_SUBDOMAIN_MAX} characters")
    if not _DNS_SUBDOMAIN_RE.fullmatch(value):
        errors.append(_DNS_SUBDOMAIN_MSG)
    return errors


def _qualified_name_errors(value: str) -> list[str]:
    """k8s IsQualifiedName: `[prefix/]name`, the form of label keys and condition types."""
    parts = value.split("/")
    if len(parts) > 2:
        return [_QUALIFIED_NAME_MSG]
    errors = []
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errors.append("prefix part must be non-empty")
        else:
            errors.extend(f"prefix part {msg}" for msg in _dns_subdomain_errors(prefix))
    if not name:
        errors.append("name part must be non-empty")
    else:
        if len(name) > DNS_LABEL_MAX:
            errors.append(f"name part must be no more than {DNS_LABEL_MAX} characters")
        if not _QUALIFIED_NAME_RE.fullmatch(name):
            errors.append(_QUALIFIED_NAME_PART_MSG)
    return errors


def _label_value_errors(value: str) -> list[str]:
    errors = []
    if len(value) > LABEL_VALUE_MAX:
        errors.append(f"must be no more than {LABEL_VALUE_MAX} characters")
    if not _LABEL_VALUE_RE.fullmatch(value):
        errors.append(_LABEL_VALUE_MSG)
    return errors


def is_extended_resource_name(name: str) -> bool:
    """k8s IsExtendedResourceName: domain-prefixed, not kubernetes.io, valid as a quota key."""
    if "/" not in name or "kubernetes.io/" in name or name.startswith("requests."):
        return False
    return not _qualified_name_errors("requests." + name)


def _shorten_key(key: str) -> str:
    """Overlong map keys are shortened in the middle in paths, as upstream does."""
    if len(key) <= MAP_KEY_SHOWN_MAX:
        return key
    keep = MAP_KEY_SHOWN_MAX - 3
    return key[: (keep + 1) // 2] + "..." + key[len(key) - keep // 2 :]


def _idx(path: str, index: int) -> str:
    return f"{path}[{index}]"


def _key(path: str, key: str) -> str:
    return f"{path}[{_shorten_key(key)}]"


class _Validator:
    """Collects problems; the helpers report in the API server's field-error forms."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    # ------------------------------------------------------------------ field error forms

    def add(self, path: str, message: str) -> None:
        self.problems.append((path, message))

    def required(self, path: str, detail: str = "") -> None:
        self.add(path, f"Required value: {detail}" if detail else "Required value")

    def invalid(self, path: str, value: object, detail: str) -> None:
        self.add(path, f"Invalid value: {_fmt(value)}: {detail}")

    def forbidden(self, path: str, detail: str) -> None:
        self.add(path, f"Forbidden: {detail}")

    def duplicate(self, path: str, value: object) -> None:
        self.add(path, f"Duplicate value: {_fmt(value)}")

    def not_supported(self, path: str, value: object, supported: Iterable[str]) -> None:
        choices = ", ".join(_fmt(s) for s in supported)
        self.add(path, f"Unsupported value: {_fmt(value)}: supported values: {choices}")

    def too_long(self, path: str, limit: int) -> None:
        self.add(path, f"Too long: may not be more than {limit} bytes")

    def fits(self, path: str, items: Sized, limit: int) -> bool:
        """Report "Too many" and answer False when `items` is over `limit`."""
        if len(items) > limit:
            self.add(path, f"Too many: {len(items)}: must have at most {limit} items")
            return False
        return True

    def unique(self, path: str, keys: Sequence[object]) -> None:
        """Report every entry whose key an earlier entry already had. Empty keys are
        skipped: they are reported as missing already."""
        seen: set[object] = set()
        for index, key in enumerate(keys):
            if key in seen and key != "":
                self.duplicate(_idx(path, index), key)
            seen.add(key)

    # --------------------------------------------------------------------------- formats

    def dns_label(self, path: str, value: str) -> bool:
        if not value:
            self.required(path)
            return False
        errors = _dns_label_errors(value)
        for msg in errors:
            self.invalid(path, value, msg)
        return not errors

    def dns_subdomain(self, path: str, value: str) -> bool:
        if not value:
            self.required(path)
            return False
        errors = _dns_subdomain_errors(value)
        for msg in errors:
            self.invalid(path, value, msg)
        return not errors

    def driver_name(self, path: str, value: str) -> None:
        """A DNS subdomain of at most 63 characters. Like upstream (which reuses the CSI
        driver-name rule) upper case is accepted: the check runs on the lower-cased name."""
        if not value:
            self.required(path)
            return
        if len(value) > DRIVER_NAME_MAX:
            self.too_long(path, DRIVER_NAME_MAX)
        for msg in _dns_subdomain_errors(value.lower()):
            self.invalid(path, value, msg)

    def pool_name(self, path: str, value: str) -> None:
        if not value:
            self.required(path)
            return
        if len(value) > POOL_NAME_MAX:
            self.too_long(path, POOL_NAME_MAX)
        for part in value.split("/"):
            for msg in _dns_subdomain_errors(part):
                self.invalid(path, part, msg)

    def c_identifier(self, path: str, value: str) -> None:
        if len(value) > C_IDENTIFIER_MAX:
            self.too_long(path, C_IDENTIFIER_MAX)
        if not _C_IDENTIFIER_RE.fullmatch(value):
            self.invalid(path, value, _C_IDENTIFIER_MSG)

    def qualified_name(self, path: str, value: str) -> None:
        """An attribute or capacity key: `identifier` or `domain/identifier`."""
        if not _is_valid_qualified_name(value):
            self.qualified_name_full(path, value)

    def qualified_name_full(self, path: str, value: str) -> None:
        """The qualified-name check itself (`qualified_name` caches valid names)."""
        parts = value.split("/")
        if len(parts) > 2:
            # kube-apiserver 1.36 accepts a name with two or more slashes unchecked (its
            # validateQualifiedName has no case for it; a TODO there says so), and so do we.
            return
        if len(parts) == 2:
            domain, name = parts
            if domain:
                self.driver_name(path, domain)
            else:
                self.invalid(path, "", "the domain must not be empty")
        else:
            name = parts[0]
        if name:
            self.c_identifier(path, name)
        else:
            self.invalid(path, "", "the name must not be empty")

    def fully_qualified_name(self, path: str, value: str) -> None:
        if not value:
            self.required(path)
            return
        self.qualified_name(path, value)
        if "/" not in value:
            self.invalid(
                path,
                value,
                "a fully qualified name must be a domain and a name separated by a slash",
            )

    def label_name(self, path: str, value: str) -> None:
        if not value:
            self.required(path)
            return
        for msg in _qualified_name_errors(value):
            self.invalid(path, value, msg)

    def label_value(self, path: str, value: str) -> None:
        for msg in _label_value_errors(value):
            self.invalid(path, value, msg)

    def share_id(self, path: str, value: str) -> None:
        if not _UUID_RE.fullmatch(value):
            self.invalid(path, value, _UUID_MSG)

    def json_object(self, path: str, value: Any, limit: int) -> None:
        """Opaque JSON (driver parameters, device data): a JSON object of at most `limit`
        bytes, measured in compact JSON as kubectl sends it."""
        if value is None:
            self.required(path)
            return
        try:
            size = _byte_len(json.dumps(value, separators=(",", ":"), ensure_ascii=False))
        except (TypeError, ValueError) as err:
            self.invalid(path, "<value omitted>", f"error encoding data as JSON: {err}")
            return
        if size > limit:
            self.too_long(path, limit)
        elif not isinstance(value, dict):
            self.invalid(path, "<value omitted>", "must be a valid JSON object")

    # ------------------------------------------------------------------------- metadata

    def metadata(self, meta: ObjectMeta, *, namespaced: bool, path: str = "metadata") -> None:
        """Name (a DNS subdomain for every kind checked here), namespace, labels and
        annotation keys. A namespace on a cluster-scoped object is dropped by the API server,
        so it is not an error."""
        if meta.name:
            self.dns_subdomain(f"{path}.name", meta.name)
        elif meta.generate_name:
            # Upstream checks the prefix with a trailing '-' allowed (random suffix follows).
            prefix = meta.generate_name
            masked = prefix[:-1] + "a" if prefix.endswith("-") else prefix
            for msg in _dns_subdomain_errors(masked):
                self.invalid(f"{path}.generateName", prefix, msg)
        else:
            self.required(f"{path}.name", "name or generateName is required")
        if namespaced and meta.namespace:
            self.dns_label(f"{path}.namespace", meta.namespace)
        self.labels_and_annotations(meta, path)

    def labels_and_annotations(self, meta: ObjectMeta, path: str) -> None:
        for key, value in meta.labels.items():
            self.label_name(f"{path}.labels", key)
            self.label_value(f"{path}.labels", value)
        total = 0
        for key, value in meta.annotations.items():
            for msg in _qualified_name_errors(key.lower()):
                self.invalid(f"{path}.annotations", key, msg)
            total += _byte_len(key) + _byte_len(value)
        if total > ANNOTATIONS_TOTAL_MAX:
            self.too_long(f"{path}.annotations", ANNOTATIONS_TOTAL_MAX)

    def node_name(self, path: str, value: str) -> None:
        for msg in _dns_subdomain_errors(value):
            self.invalid(path, value, msg)

    def node_selector(self, path: str, selector: NodeSelector, *, one_term: bool) -> None:
        """core/v1 NodeSelector rules; `one_term` for ResourceSlice.spec.nodeSelector."""
        terms_path = f"{path}.nodeSelectorTerms"
        terms = selector.node_selector_terms
        if not terms:
            self.required(terms_path, "must have at least one node selector term")
            return
        if one_term and len(terms) != 1:
            self.add(terms_path, f"must have exactly one node selector term, got {len(terms)}")
        for t, term in enumerate(terms):
            term_path = _idx(terms_path, t)
            for r, req in enumerate(term.match_expressions):
                self._node_selector_requirement(_idx(f"{term_path}.matchExpressions", r), req)
            for r, req in enumerate(term.match_fields):
                self._node_field_requirement(_idx(f"{term_path}.matchFields", r), req)

    def _node_selector_requirement(self, path: str, req: Any) -> None:
        operator, values = req.operator, req.values
        if operator in ("In", "NotIn"):
            if not values:
                self.required(
                    f"{path}.values", "must be specified when `operator` is 'In' or 'NotIn'"
                )
        elif operator in ("Exists", "DoesNotExist"):
            if values:
                self.forbidden(
                    f"{path}.values",
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                )
        elif operator in ("Gt", "Lt"):
            if len(values) != 1:
                self.required(
                    f"{path}.values",
                    "must be specified single value when `operator` is 'Lt' or 'Gt'",
                )
        else:
            self.not_supported(f"{path}.operator", operator, NODE_SELECTOR_OPERATORS)
        self.label_name(f"{path}.key", req.key)
        for i, value in enumerate(values):
            self.label_value(_idx(f"{path}.values", i), value)

    def _node_field_requirement(self, path: str, req: Any) -> None:
        if req.operator in ("In", "NotIn"):
            if len(req.values) != 1:
                self.required(
                    f"{path}.values",
                    "must be only one value when `operator` is 'In' or 'NotIn' for node field "
                    "selector",
                )
        else:
            self.not_supported(f"{path}.operator", req.operator, ("In", "NotIn"))
        if req.key != "metadata.name":
            self.not_supported(f"{path}.key", req.key, ("metadata.name",))
        else:
            for i, value in enumerate(req.values):
                self.node_name(_idx(f"{path}.values", i), value)


# -------------------------------------------------------------------------------- DeviceClass


def _device_class(v: _Validator, dc: DeviceClass) -> None:
    v.metadata(dc.metadata, namespaced=False)
    spec = dc.spec
    _selectors(v, "spec.selectors", spec.selectors)
    if v.fits("spec.config", spec.config, CONFIG_MAX):
        for i, config in enumerate(spec.config):
            _opaque(v, _idx("spec.config", i), config.opaque)
    name = spec.extended_resource_name
    if name is not None and not is_extended_resource_name(name):
        v.invalid(
            "spec.extendedResourceName",
            name,
            "must be a valid extended resource name (a domain-prefixed name such as "
            "'example.com/gpu', outside the kubernetes.io domain)",
        )


def _selectors(v: _Validator, path: str, selectors: Sequence[DeviceSelector]) -> None:
    """CEL selectors: present, non-empty and short enough. Compiling them is the CEL layer's."""
    if not v.fits(path, selectors, SELECTORS_MAX):
        return
    for i, selector in enumerate(selectors):
        if selector.cel is None:
            v.required(f"{_idx(path, i)}.cel", "a selector must have a `cel` expression")
            continue
        expr_path = f"{_idx(path, i)}.cel.expression"
        expression = selector.cel.expression
        if not expression:
            v.required(expr_path)
        elif _byte_len(expression) > CEL_EXPRESSION_MAX:
            v.too_long(expr_path, CEL_EXPRESSION_MAX)


def _opaque(v: _Validator, path: str, opaque: OpaqueDeviceConfiguration | None) -> None:
    """`opaque` of a class, claim or allocation config: driver name and a JSON object."""
    if opaque is None:
        v.required(f"{path}.opaque")
        return
    v.driver_name(f"{path}.opaque.driver", opaque.driver)
    v.json_object(f"{path}.opaque.parameters", opaque.parameters, OPAQUE_PARAMETERS_MAX)


@lru_cache(maxsize=8192)
def _is_valid_qualified_name(value: str) -> bool:
    scratch = _Validator()
    scratch.qualified_name_full("", value)
    return not scratch.problems
