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

import ipaddress
import json
import re
from collections.abc import Iterable, Mapping, Sequence, Sized
from functools import lru_cache
from typing import Any, Final, TypeAlias

import msgspec
import semver

from dralloc.api.core import Container, Node, NodeSelector, Pod
from dralloc.api.meta import ObjectMeta
from dralloc.api.quantity import Quantity
from dralloc.api.resource import (
    ALLOCATION_MODE_ALL,
    ALLOCATION_MODE_EXACT_COUNT,
    AllocatedDeviceStatus,
    AllocationResult,
    CapacityRequestPolicy,
    CapacityRequestPolicyRange,
    CapacityRequirements,
    CounterSet,
    Device,
    DeviceAttribute,
    DeviceCapacity,
    DeviceClaim,
    DeviceClaimConfiguration,
    DeviceClass,
    DeviceConstraint,
    DeviceCounterConsumption,
    DeviceRequest,
    DeviceRequestAllocationResult,
    DeviceSelector,
    DeviceSubRequest,
    DeviceTaint,
    DeviceTaintRule,
    DeviceToleration,
    ExactDeviceRequest,
    OpaqueDeviceConfiguration,
    ResourceClaim,
    ResourceClaimStatus,
    ResourceClaimTemplate,
    ResourceSlice,
    ResourceSliceSpec,
)

__all__ = ["is_extended_resource_name", "validate"]

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
            self.invalid(path, value, "must not contain more than one slash")
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


# --------------------------------------------------------------------------------- entry point


def validate(obj: Any) -> list[Problem]:
    """All validation problems of one decoded object, as (field path, message) pairs.

    Objects of kinds not listed in the module docstring have no rules here: [].
    """
    v = _Validator()
    if isinstance(obj, DeviceClass):
        _device_class(v, obj)
    elif isinstance(obj, ResourceSlice):
        _resource_slice(v, obj)
    elif isinstance(obj, ResourceClaim):
        v.metadata(obj.metadata, namespaced=True)
        names = _claim_spec(v, "spec", obj.spec.devices)
        _claim_status(v, obj.status, names)
    elif isinstance(obj, ResourceClaimTemplate):
        _claim_template(v, obj)
    elif isinstance(obj, Node):
        v.metadata(obj.metadata, namespaced=False)
    elif isinstance(obj, DeviceTaintRule):
        v.metadata(obj.metadata, namespaced=False)
        _taint(v, "spec.taint", obj.spec.taint)
    elif isinstance(obj, Pod):
        _pod(v, obj)
    return v.problems


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


# ------------------------------------------------------------------------------ ResourceSlice


def _resource_slice(v: _Validator, rs: ResourceSlice) -> None:
    v.metadata(rs.metadata, namespaced=False)
    spec = rs.spec
    v.driver_name("spec.driver", spec.driver)
    v.pool_name("spec.pool.name", spec.pool.name)
    if spec.pool.generation < 0:
        v.add(
            "spec.pool.generation",
            f"must be greater than or equal to zero, got {spec.pool.generation}",
        )
    if spec.pool.resource_slice_count <= 0:
        v.add(
            "spec.pool.resourceSliceCount",
            f"must be greater than zero, got {spec.pool.resource_slice_count}",
        )
    _slice_node_selection(v, spec)
    if spec.devices and spec.shared_counters:
        v.add("spec", "only one of `sharedCounters` or `devices` is allowed, both are set")
    _slice_devices(v, spec)
    _counter_sets(v, "spec.sharedCounters", spec.shared_counters)


def _slice_node_selection(v: _Validator, spec: ResourceSliceSpec) -> None:
    chosen: list[str] = []
    if spec.node_name is not None:
        if spec.node_name:
            chosen.append("`nodeName`")
            v.node_name("spec.nodeName", spec.node_name)
        else:
            v.invalid("spec.nodeName", "", "must be either unset or set to a non-empty string")
    if spec.node_selector is not None:
        chosen.append("`nodeSelector`")
        v.node_selector("spec.nodeSelector", spec.node_selector, one_term=True)
    for flag, name in (
        (spec.all_nodes, "allNodes"),
        (spec.per_device_node_selection, "perDeviceNodeSelection"),
    ):
        if flag is None:
            continue
        if flag:
            chosen.append(f"`{name}`")
        else:
            v.invalid(f"spec.{name}", False, "must be either unset or set to true")
    if not chosen:
        v.required("spec", _NODE_SELECTION_FIELDS)
    elif len(chosen) > 1:
        v.invalid(
            "spec", "{" + ", ".join(chosen) + "}", f"{_NODE_SELECTION_FIELDS}, but multiple are set"
        )


def _has_list_attribute(device: Device) -> bool:
    return any(
        a.ints is not None or a.bools is not None or a.strings is not None or a.versions is not None
        for a in device.attributes.values()
    )


def _slice_devices(v: _Validator, spec: ResourceSliceSpec) -> None:
    devices = spec.devices
    advanced = any(d.taints or d.consumes_counters or _has_list_attribute(d) for d in devices)
    limit = SLICE_DEVICES_MAX_ADVANCED if advanced else SLICE_DEVICES_MAX
    if len(devices) > limit:
        why = " (a slice where a device has taints, consumesCounters or list attributes)"
        v.add(
            "spec.devices",
            f"Too many: {len(devices)}: must have at most {limit} items{why if advanced else ''}",
        )
        return
    per_device = spec.per_device_node_selection is True
    for i, device in enumerate(devices):
        _device(v, _idx("spec.devices", i), device, per_device=per_device)
    v.unique("spec.devices", [d.name for d in devices])


def _counter_sets(v: _Validator, path: str, counter_sets: Sequence[CounterSet]) -> None:
    if not v.fits(path, counter_sets, COUNTER_SETS_MAX):
        return
    for i, counter_set in enumerate(counter_sets):
        v.dns_label(f"{_idx(path, i)}.name", counter_set.name)
        _counters(v, f"{_idx(path, i)}.counters", counter_set.counters, COUNTERS_PER_SET_MAX)
    v.unique(path, [s.name for s in counter_sets])


def _counters(v: _Validator, path: str, counters: Mapping[str, object], limit: int) -> None:
    """A counter map: 1..limit entries named by DNS labels (any quantity is a valid value)."""
    if not counters:
        v.required(path, "at least one counter")
        return
    if not v.fits(path, counters, limit):
        return
    for name in counters:
        v.dns_label(path, name)


def _device(v: _Validator, path: str, device: Device, *, per_device: bool) -> None:
    v.dns_label(f"{path}.name", device.name)
    entries = len(device.attributes) + len(device.capacity)
    if entries > ATTRIBUTES_AND_CAPACITIES_MAX:
        v.add(
            path,
            "the total number of attributes and capacities must not exceed "
            f"{ATTRIBUTES_AND_CAPACITIES_MAX}, got {entries}",
        )
    values = _attribute_value_count(device)
    if values > ATTRIBUTE_VALUES_MAX:
        v.add(
            path,
            f"the total number of attribute values must not exceed {ATTRIBUTE_VALUES_MAX}, "
            f"got {values}",
        )
    for key, attribute in device.attributes.items():
        v.qualified_name(f"{path}.attributes", key)
        _attribute(v, _key(f"{path}.attributes", key), attribute)
    for key, capacity in device.capacity.items():
        v.qualified_name(f"{path}.capacity", key)
        _capacity(v, _key(f"{path}.capacity", key), capacity, device)
    if v.fits(f"{path}.taints", device.taints, TAINTS_MAX):
        for i, taint in enumerate(device.taints):
            _taint(v, _idx(f"{path}.taints", i), taint)
    _counter_consumptions(v, f"{path}.consumesCounters", device.consumes_counters)
    _device_node_selection(v, path, device, per_device=per_device)
    _binding_conditions(v, path, device.binding_conditions, device.binding_failure_conditions)


def _attribute_value_count(device: Device) -> int:
    """Attribute values of a device: a scalar counts one, a list each of its elements."""
    total = 0
    for a in device.attributes.values():
        listed = sum(len(x or ()) for x in (a.ints, a.bools, a.strings, a.versions))
        total += listed or 1
    return total


def _attribute(v: _Validator, path: str, attribute: DeviceAttribute) -> None:
    present: list[str] = []
    if attribute.int_value is not None:
        present.append("int")
    if attribute.bool_value is not None:
        present.append("bool")
    if attribute.string is not None:
        present.append("string")
        _attribute_string(v, f"{path}.string", attribute.string)
    if attribute.version is not None:
        present.append("version")
        _attribute_version(v, f"{path}.version", attribute.version)
    lists: tuple[tuple[str, Sequence[object] | None], ...] = (
        ("ints", attribute.ints),
        ("bools", attribute.bools),
        ("strings", attribute.strings),
        ("versions", attribute.versions),
    )
    for name, items in lists:
        if items is None:
            continue
        present.append(name)
        if not items:
            v.add(f"{path}.{name}", "must not be empty if specified")
        for i, item in enumerate(items):
            if name == "strings" and isinstance(item, str):
                _attribute_string(v, _idx(f"{path}.{name}", i), item)
            elif name == "versions" and isinstance(item, str):
                _attribute_version(v, _idx(f"{path}.{name}", i), item)
    if len(present) != 1:
        got = f"got {len(present)} ({', '.join(present)})" if present else "got none"
        v.add(
            path,
            "exactly one value must be specified (one of int, bool, string, version, ints, "
            f"bools, strings, versions), {got}",
        )


def _attribute_string(v: _Validator, path: str, value: str) -> None:
    if _byte_len(value) > ATTRIBUTE_VALUE_LENGTH_MAX:
        v.too_long(path, ATTRIBUTE_VALUE_LENGTH_MAX)


@lru_cache(maxsize=8192)
def _is_semver(value: str) -> bool:
    try:
        semver.Version.parse(value)
    except ValueError:
        return False
    return True


@lru_cache(maxsize=8192)
def _is_valid_qualified_name(value: str) -> bool:
    scratch = _Validator()
    scratch.qualified_name_full("", value)
    return not scratch.problems


def _attribute_version(v: _Validator, path: str, value: str) -> None:
    """Strict semver 2.0.0: MAJOR.MINOR.PATCH[-pre][+build], no leading zeros, no `v`."""
    if not _is_semver(value):
        v.invalid(path, value, "must be a string compatible with semver.org spec 2.0.0")
    _attribute_string(v, path, value)


def _capacity(v: _Validator, path: str, capacity: DeviceCapacity, device: Device) -> None:
    policy = capacity.request_policy
    if policy is None:
        return
    if device.allow_multiple_allocations is not True:
        v.forbidden(f"{path}.requestPolicy", "allowMultipleAllocations must be true")
        return
    _request_policy(v, f"{path}.requestPolicy", capacity.value, policy)


def _request_policy(
    v: _Validator, path: str, value: Quantity, policy: CapacityRequestPolicy
) -> None:
    """spec/dra-v1.md section 2.3, CapacityRequestPolicy."""
    valid_values = policy.valid_values or []
    if valid_values and policy.valid_range is not None:
        v.forbidden(
            path,
            'exactly one policy can be specified, cannot specify "validValues" and "validRange" '
            "at the same time",
        )
        return
    if valid_values:
        if policy.default is None:
            v.required(f"{path}.default", "required when validValues is defined")
        _valid_values(v, path, value, policy.default, valid_values)
    elif policy.valid_range is not None:
        if policy.default is None:
            v.required(f"{path}.default", "required when validRange is defined")
        _valid_range(v, path, value, policy.default, policy.valid_range)


def _valid_values(
    v: _Validator, path: str, value: Quantity, default: Quantity | None, options: list[Quantity]
) -> None:
    options_path = f"{path}.validValues"
    if not v.fits(options_path, options, VALID_VALUES_MAX):
        return
    for i in range(1, len(options)):
        if options[i - 1] > options[i]:
            v.invalid(_idx(options_path, i), options[i], "values must be sorted in ascending order")
    for i, option in enumerate(options):
        if option > value:
            v.invalid(
                _idx(options_path, i), option, f"option is larger than capacity value: {value}"
            )
    v.unique(options_path, options)
    if default is not None and default not in options:
        v.invalid(
            f"{path}.default",
            default,
            "default value is not valid according to the requestPolicy: must be one of validValues",
        )


def _valid_range(
    v: _Validator,
    path: str,
    value: Quantity,
    default: Quantity | None,
    valid_range: CapacityRequestPolicyRange,
) -> None:
    range_path = f"{path}.validRange"
    low, high, step = valid_range.min, valid_range.max, valid_range.step
    if low is None:
        v.required(f"{range_path}.min", "required when validRange is defined")
        return
    if low.sign() < 0:
        v.invalid(f"{range_path}.min", low, "must be greater than or equal to 0")
    if low > value:
        v.invalid(f"{range_path}.min", low, f"min is larger than capacity value: {value}")
    if default is not None and default < low:
        v.invalid(f"{path}.default", default, f"default is less than min: {low}")
    if high is not None:
        if high < low:
            v.invalid(f"{range_path}.max", high, f"max is less than min: {low}")
        if high > value:
            v.invalid(f"{range_path}.max", high, f"max is larger than capacity value: {value}")
        if default is not None and default > high:
            v.invalid(f"{path}.default", default, f"default is more than max: {high}")
    if step is None:
        return
    if step.sign() <= 0:
        v.invalid(f"{range_path}.step", step, "must be greater than zero")
        return
    one_step = low + step
    if one_step > value:
        v.invalid(
            f"{range_path}.step",
            step,
            f"one step {one_step} is larger than capacity value: {value}",
        )
    # Exact arithmetic on nano-units: default and max must be min + n*step.
    for where, amount in ((f"{path}.default", default), (f"{range_path}.max", high)):
        if amount is not None and (amount.nano - low.nano) % step.nano:
            v.invalid(
                where, amount, f"value is not a multiple of a given step ({step}) from ({low})"
            )


def _counter_consumptions(
    v: _Validator, path: str, consumptions: Sequence[DeviceCounterConsumption]
) -> None:
    if not v.fits(path, consumptions, COUNTER_CONSUMPTIONS_MAX):
        return
    for i, consumption in enumerate(consumptions):
        v.dns_label(f"{_idx(path, i)}.counterSet", consumption.counter_set)
        _counters(
            v, f"{_idx(path, i)}.counters", consumption.counters, COUNTERS_PER_CONSUMPTION_MAX
        )
    v.unique(path, [c.counter_set for c in consumptions])


def _device_node_selection(v: _Validator, path: str, device: Device, *, per_device: bool) -> None:
    if not per_device:
        if (
            device.node_name is not None
            or device.node_selector is not None
            or device.all_nodes is not None
        ):
            v.add(
                path,
                "`nodeName`, `nodeSelector` and `allNodes` can only be set if "
                "`perDeviceNodeSelection` is set to true in the ResourceSlice spec",
            )
        return
    chosen: list[str] = []
    if device.node_name is not None:
        if device.node_name:
            chosen.append("`nodeName`")
            v.node_name(f"{path}.nodeName", device.node_name)
        else:
            v.invalid(f"{path}.nodeName", "", "must not be empty")
    if device.node_selector is not None:
        chosen.append("`nodeSelector`")
        v.node_selector(f"{path}.nodeSelector", device.node_selector, one_term=False)
    if device.all_nodes is not None:
        if device.all_nodes:
            chosen.append("`allNodes`")
        else:
            v.invalid(f"{path}.allNodes", False, "must be either unset or set to true")
    if not chosen:
        v.required(path, _DEVICE_NODE_SELECTION_FIELDS)
    elif len(chosen) > 1:
        v.invalid(
            path,
            "{" + ", ".join(chosen) + "}",
            f"{_DEVICE_NODE_SELECTION_FIELDS}, but multiple are set",
        )


def _taint(v: _Validator, path: str, taint: DeviceTaint) -> None:
    v.label_name(f"{path}.key", taint.key)
    if taint.value:
        v.label_value(f"{path}.value", taint.value)
    if not taint.effect:
        v.required(f"{path}.effect", "one of " + ", ".join(_fmt(e) for e in TAINT_EFFECTS))
    elif taint.effect not in TAINT_EFFECTS:
        v.not_supported(f"{path}.effect", taint.effect, TAINT_EFFECTS)


def _binding_conditions(
    v: _Validator, path: str, conditions: Sequence[str], failure_conditions: Sequence[str]
) -> None:
    """Device and allocation-result binding conditions (KEP-5007)."""
    ok_path, failed_path = f"{path}.bindingConditions", f"{path}.bindingFailureConditions"
    for list_path, items in ((ok_path, conditions), (failed_path, failure_conditions)):
        if v.fits(list_path, items, BINDING_CONDITIONS_MAX):
            for i, condition in enumerate(items):
                v.label_name(_idx(list_path, i), condition)
        v.unique(list_path, items)
    overlap = set(conditions)
    for i, condition in enumerate(failure_conditions):
        if condition in overlap:
            v.invalid(
                _idx(failed_path, i),
                condition,
                "bindingFailureConditions must not overlap with bindingConditions",
            )
    if failure_conditions and not conditions:
        v.required(ok_path, "bindingConditions are required to use bindingFailureConditions")
    if conditions and not failure_conditions:
        v.required(failed_path, "bindingFailureConditions are required to use bindingConditions")


# ------------------------------------------------------------------------------ ResourceClaim


def _request_names(claim: DeviceClaim) -> RequestNames:
    names: RequestNames = {}
    for request in claim.requests:
        subs = request.first_available
        names[request.name] = frozenset(s.name for s in subs) if subs else None
    return names


def _claim_spec(v: _Validator, path: str, claim: DeviceClaim) -> RequestNames:
    """`spec` of a claim (or `spec.spec` of a template); returns the request names."""
    devices_path = f"{path}.devices"
    names = _request_names(claim)
    requests_path = f"{devices_path}.requests"
    if v.fits(requests_path, claim.requests, REQUESTS_MAX):
        for i, request in enumerate(claim.requests):
            _request(v, _idx(requests_path, i), request)
        v.unique(requests_path, [r.name for r in claim.requests])
    constraints_path = f"{devices_path}.constraints"
    if v.fits(constraints_path, claim.constraints, CONSTRAINTS_MAX):
        for i, constraint in enumerate(claim.constraints):
            _constraint(v, _idx(constraints_path, i), constraint, names)
    config_path = f"{devices_path}.config"
    if v.fits(config_path, claim.config, CONFIG_MAX):
        for i, config in enumerate(claim.config):
            _claim_config(v, _idx(config_path, i), config, names)
    return names


def _request(v: _Validator, path: str, request: DeviceRequest) -> None:
    v.dns_label(f"{path}.name", request.name)
    alternatives = request.first_available or []
    one_of = "exactly one of `exactly` or `firstAvailable` is required"
    if alternatives and request.exactly is not None:
        v.add(path, f"{one_of}, but both are set")
    elif request.exactly is not None:
        _exact_request(v, f"{path}.exactly", request.exactly)
    elif alternatives:
        list_path = f"{path}.firstAvailable"
        if v.fits(list_path, alternatives, FIRST_AVAILABLE_MAX):
            for i, sub in enumerate(alternatives):
                _subrequest(v, _idx(list_path, i), sub)
            v.unique(list_path, [s.name for s in alternatives])
    else:
        v.required(path, one_of)


def _exact_request(v: _Validator, path: str, request: ExactDeviceRequest) -> None:
    _device_class_name(v, f"{path}.deviceClassName", request.device_class_name)
    _selectors(v, f"{path}.selectors", request.selectors)
    _allocation_mode(v, path, request.allocation_mode, request.count)
    _tolerations(v, f"{path}.tolerations", request.tolerations)
    _capacity_requests(v, f"{path}.capacity", request.capacity)


def _subrequest(v: _Validator, path: str, sub: DeviceSubRequest) -> None:
    v.dns_label(f"{path}.name", sub.name)
    _device_class_name(v, f"{path}.deviceClassName", sub.device_class_name)
    _selectors(v, f"{path}.selectors", sub.selectors)
    _allocation_mode(v, path, sub.allocation_mode, sub.count)
    _tolerations(v, f"{path}.tolerations", sub.tolerations)
    _capacity_requests(v, f"{path}.capacity", sub.capacity)


def _device_class_name(v: _Validator, path: str, name: str) -> None:
    if not name:
        v.required(path, "the name of a DeviceClass")
    else:
        v.dns_subdomain(path, name)


def _allocation_mode(v: _Validator, path: str, mode: str, count: int | None) -> None:
    """An empty mode is defaulted to ExactCount, and a count of 0 (or unset) to 1 before
    validation, as the API server does (spec section 3); a negative count is an error."""
    if mode in ("", ALLOCATION_MODE_EXACT_COUNT):
        if count is not None and count < 0:
            v.add(
                f"{path}.count",
                f"must be greater than zero for allocationMode ExactCount, got {count}",
            )
    elif mode == ALLOCATION_MODE_ALL:
        if count:
            v.add(f"{path}.count", f"must be unset or zero for allocationMode All, got {count}")
    else:
        v.not_supported(f"{path}.allocationMode", mode, ALLOCATION_MODES)


def _tolerations(v: _Validator, path: str, tolerations: Sequence[DeviceToleration]) -> None:
    if not v.fits(path, tolerations, TOLERATIONS_MAX):
        return
    for i, toleration in enumerate(tolerations):
        _toleration(v, _idx(path, i), toleration)


def _toleration(v: _Validator, path: str, toleration: DeviceToleration) -> None:
    if toleration.key:
        v.label_name(f"{path}.key", toleration.key)
    operator = toleration.operator or "Equal"  # the API server defaults an empty operator
    if operator == "Exists":
        if toleration.value:
            v.invalid(f"{path}.value", toleration.value, "must be empty for operator `Exists`")
    elif operator == "Equal":
        if not toleration.key:
            v.invalid(
                f"{path}.operator",
                operator,
                'must be Exists when `key` is empty, which means "match all values and all keys"',
            )
        v.label_value(f"{path}.value", toleration.value)
    else:
        v.not_supported(f"{path}.operator", toleration.operator, TOLERATION_OPERATORS)
    if toleration.effect and toleration.effect not in TAINT_EFFECTS:
        v.not_supported(f"{path}.effect", toleration.effect, TAINT_EFFECTS)


def _capacity_requests(v: _Validator, path: str, capacity: CapacityRequirements | None) -> None:
    if capacity is None:
        return
    for key in capacity.requests:
        v.qualified_name(f"{path}.requests", key)


def _constraint(
    v: _Validator, path: str, constraint: DeviceConstraint, names: RequestNames
) -> None:
    _request_refs(v, f"{path}.requests", constraint.requests, names)
    match, distinct = constraint.match_attribute, constraint.distinct_attribute
    if match is not None:
        v.fully_qualified_name(f"{path}.matchAttribute", match)
    if distinct is not None:
        v.fully_qualified_name(f"{path}.distinctAttribute", distinct)
    one_of = "exactly one of `matchAttribute` or `distinctAttribute` is required"
    if match is not None and distinct is not None:
        v.add(path, f"{one_of}, but both are set")
    elif match is None and distinct is None:
        v.required(path, one_of)


def _claim_config(
    v: _Validator, path: str, config: DeviceClaimConfiguration, names: RequestNames
) -> None:
    _request_refs(v, f"{path}.requests", config.requests, names)
    _opaque(v, path, config.opaque)


def _request_refs(v: _Validator, path: str, refs: Sequence[str], names: RequestNames) -> None:
    if not v.fits(path, refs, REQUESTS_MAX):
        return
    for i, ref in enumerate(refs):
        _request_ref(v, _idx(path, i), ref, names)
    v.unique(path, refs)


def _request_ref(v: _Validator, path: str, ref: str, names: RequestNames) -> None:
    """`req` (a request, or all subrequests of it) or `req/sub` of this claim."""
    segments = ref.split("/")
    if len(segments) > 2:
        v.invalid(path, ref, _REQUEST_REF_MSG)
        return
    # Check every segment (a list, not a generator, so that all of them are reported).
    if not all([v.dns_label(path, segment) for segment in segments]):
        return
    parent, _, child = ref.partition("/")
    subs = names.get(parent)
    if parent in names and (not child or (subs is not None and child in subs)):
        return
    known = sorted([*names, *(f"{n}/{s}" for n, subs in names.items() for s in subs or ())])
    v.invalid(path, ref, f"{_REQUEST_REF_MSG} (known: {', '.join(known) or 'none'})")


def _claim_status(v: _Validator, status: ResourceClaimStatus, names: RequestNames) -> None:
    reserved_path = "status.reservedFor"
    if v.fits(reserved_path, status.reserved_for, RESERVED_FOR_MAX):
        for i, consumer in enumerate(status.reserved_for):
            for field, value in (
                ("resource", consumer.resource),
                ("name", consumer.name),
                ("uid", consumer.uid),
            ):
                if not value:
                    v.required(f"{_idx(reserved_path, i)}.{field}")
        v.unique(reserved_path, [c.uid for c in status.reserved_for])
    if status.reserved_for and status.allocation is None:
        v.forbidden(reserved_path, "may not be specified when `allocation` is not set")
    if status.allocation is not None:
        _allocation(v, "status.allocation", status.allocation, names)
    _device_statuses(v, "status.devices", status.devices, status.allocation)


def _allocation(
    v: _Validator, path: str, allocation: AllocationResult, names: RequestNames
) -> None:
    results_path = f"{path}.devices.results"
    results = allocation.devices.results
    if v.fits(results_path, results, RESULTS_MAX):
        for i, result in enumerate(results):
            _result(v, _idx(results_path, i), result, names)
    config_path = f"{path}.devices.config"
    configs = allocation.devices.config
    if v.fits(config_path, configs, ALLOCATION_CONFIG_MAX):
        for i, config in enumerate(configs):
            config_item = _idx(config_path, i)
            if not config.source:
                v.required(
                    f"{config_item}.source", "one of " + ", ".join(_fmt(s) for s in CONFIG_SOURCES)
                )
            elif config.source not in CONFIG_SOURCES:
                v.not_supported(f"{config_item}.source", config.source, CONFIG_SOURCES)
            _request_refs(v, f"{config_item}.requests", config.requests, names)
            _opaque(v, config_item, config.opaque)
    if allocation.node_selector is not None:
        v.node_selector(f"{path}.nodeSelector", allocation.node_selector, one_term=False)


def _result(
    v: _Validator, path: str, result: DeviceRequestAllocationResult, names: RequestNames
) -> None:
    if result.request:
        _request_ref(v, f"{path}.request", result.request, names)
    else:
        v.required(f"{path}.request")
    v.driver_name(f"{path}.driver", result.driver)
    v.pool_name(f"{path}.pool", result.pool)
    v.dns_label(f"{path}.device", result.device)
    _binding_conditions(v, path, result.binding_conditions, result.binding_failure_conditions)
    _tolerations(v, f"{path}.tolerations", result.tolerations)
    if result.share_id is not None:
        v.share_id(f"{path}.shareID", result.share_id)
    for key in result.consumed_capacity:
        v.qualified_name(f"{path}.consumedCapacity", key)


def _device_id(driver: str, pool: str, device: str, share_id: str | None) -> str:
    base = f"{driver}/{pool}/{device}"
    return f"{base}/{share_id}" if share_id is not None else base


def _device_statuses(
    v: _Validator,
    path: str,
    statuses: Sequence[AllocatedDeviceStatus],
    allocation: AllocationResult | None,
) -> None:
    """`status.devices`, written by drivers: each entry names an allocated device."""
    allocated = {
        _device_id(r.driver, r.pool, r.device, r.share_id)
        for r in (allocation.devices.results if allocation is not None else [])
    }
    ids = []
    for i, status in enumerate(statuses):
        item = _idx(path, i)
        v.driver_name(f"{item}.driver", status.driver)
        v.pool_name(f"{item}.pool", status.pool)
        v.dns_label(f"{item}.device", status.device)
        if status.share_id is not None:
            v.share_id(f"{item}.shareID", status.share_id)
        device_id = _device_id(status.driver, status.pool, status.device, status.share_id)
        ids.append(device_id)
        if device_id not in allocated:
            v.invalid(item, device_id, "must be an allocated device in the claim")
        if v.fits(f"{item}.conditions", status.conditions, DEVICE_STATUS_CONDITIONS_MAX):
            _conditions(v, f"{item}.conditions", status.conditions)
        if status.data is not None:
            v.json_object(f"{item}.data", status.data, DEVICE_STATUS_DATA_MAX)
        if status.network_data is not None:
            _network_data(v, f"{item}.networkData", status.network_data)
    v.unique(path, ids)


def _conditions(v: _Validator, path: str, conditions: Sequence[Any]) -> None:
    """metav1.Condition rules (apimachinery ValidateConditions)."""
    types: list[object] = []
    for i, condition in enumerate(conditions):
        item = _idx(path, i)
        if not isinstance(condition, dict):
            v.add(item, f"must be an object, got {type(condition).__name__}")
            continue
        kind = condition.get("type")
        types.append(kind)
        if not isinstance(kind, str) or not kind:
            v.required(f"{item}.type")
        else:
            v.label_name(f"{item}.type", kind)
        status = condition.get("status")
        if status not in CONDITION_STATUSES:
            v.not_supported(f"{item}.status", status, CONDITION_STATUSES)
        generation = condition.get("observedGeneration")
        if isinstance(generation, int) and generation < 0:
            v.add(
                f"{item}.observedGeneration",
                f"must be greater than or equal to zero, got {generation}",
            )
        if not condition.get("lastTransitionTime"):
            v.required(f"{item}.lastTransitionTime", "must be set")
        reason = condition.get("reason")
        if not isinstance(reason, str) or not reason:
            v.required(f"{item}.reason", "must be set")
        else:
            if not _CONDITION_REASON_RE.fullmatch(reason):
                v.invalid(f"{item}.reason", reason, _CONDITION_REASON_MSG)
            if _byte_len(reason) > CONDITION_REASON_MAX:
                v.too_long(f"{item}.reason", CONDITION_REASON_MAX)
        message = condition.get("message")
        if isinstance(message, str) and _byte_len(message) > CONDITION_MESSAGE_MAX:
            v.too_long(f"{item}.message", CONDITION_MESSAGE_MAX)
    seen: set[object] = set()
    for i, kind in enumerate(types):
        if isinstance(kind, str) and kind:
            if kind in seen:
                v.duplicate(f"{_idx(path, i)}.type", kind)
            seen.add(kind)


def _network_data(v: _Validator, path: str, data: Any) -> None:
    if not isinstance(data, dict):
        v.add(path, f"must be an object, got {type(data).__name__}")
        return
    for field, limit in (
        ("interfaceName", INTERFACE_NAME_MAX),
        ("hardwareAddress", HARDWARE_ADDRESS_MAX),
    ):
        value = data.get(field)
        if value is None:
            continue
        if not isinstance(value, str):
            v.add(f"{path}.{field}", f"must be a string, got {type(value).__name__}")
        elif _byte_len(value) > limit:
            v.too_long(f"{path}.{field}", limit)
    ips = data.get("ips")
    if ips is None:
        return
    ips_path = f"{path}.ips"
    if not isinstance(ips, list):
        v.add(ips_path, f"must be a list, got {type(ips).__name__}")
        return
    if not v.fits(ips_path, ips, NETWORK_IPS_MAX):
        return
    for i, address in enumerate(ips):
        _interface_address(v, _idx(ips_path, i), address)
    v.unique(ips_path, [ip for ip in ips if isinstance(ip, str)])


def _interface_address(v: _Validator, path: str, address: object) -> None:
    """An IP address with prefix length (`10.9.8.7/24`), in canonical form."""
    text = address if isinstance(address, str) else str(address)
    example = "must be a valid address in CIDR form, (e.g. 10.9.8.7/24 or 2001:db8::1/64)"
    if not isinstance(address, str) or "/" not in address:
        v.invalid(path, text, example)
        return
    try:
        interface = ipaddress.ip_interface(address)
    except ValueError:
        v.invalid(path, text, example)
        return
    if str(interface) != address:
        v.invalid(path, text, f'must be in canonical form ("{interface}")')


# ---------------------------------------------------------------------- ResourceClaimTemplate


def _claim_template(v: _Validator, template: ResourceClaimTemplate) -> None:
    v.metadata(template.metadata, namespaced=True)
    meta = template.spec.metadata
    for info in msgspec.structs.fields(ObjectMeta):
        if info.name in ("labels", "annotations"):
            continue
        default = info.default_factory() if info.default is msgspec.NODEFAULT else info.default
        if getattr(meta, info.name) != default:
            v.forbidden(f"spec.metadata.{info.encode_name}", "cannot be set for a template")
    v.labels_and_annotations(meta, "spec.metadata")
    _claim_spec(v, "spec.spec", template.spec.spec.devices)


# -------------------------------------------------------------------------------------- Pod


def _pod(v: _Validator, pod: Pod) -> None:
    v.metadata(pod.metadata, namespaced=True)
    claims_path = "spec.resourceClaims"
    claims = pod.spec.resource_claims
    for i, claim in enumerate(claims):
        item = _idx(claims_path, i)
        v.dns_label(f"{item}.name", claim.name)
        by_name, by_template = claim.resource_claim_name, claim.resource_claim_template_name
        if by_name is not None and by_template is not None:
            v.add(
                item,
                "at most one of `resourceClaimName` or `resourceClaimTemplateName` may be "
                "specified, both are set",
            )
        elif by_name is None and by_template is None:
            v.required(
                item, "must specify one of: `resourceClaimName`, `resourceClaimTemplateName`"
            )
        if by_name is not None:
            v.dns_subdomain(f"{item}.resourceClaimName", by_name)
        if by_template is not None:
            v.dns_subdomain(f"{item}.resourceClaimTemplateName", by_template)
    v.unique(claims_path, [c.name for c in claims])
    names = {c.name for c in claims}
    for field, containers in (
        ("containers", pod.spec.containers),
        ("initContainers", pod.spec.init_containers),
    ):
        for i, container in enumerate(containers):
            _container_claims(v, f"spec.{field}[{i}].resources.claims", container, names)


def _container_claims(v: _Validator, path: str, container: Container, names: set[str]) -> None:
    """`resources.claims` must name entries of `spec.resourceClaims`, each at most once."""
    seen: set[tuple[str, str]] = set()
    for i, ref in enumerate(container.resources.claims):
        item = _idx(path, i)
        if not ref.name:
            v.required(f"{item}.name")
            continue
        key = (ref.name, ref.request)
        if key in seen:
            v.duplicate(item, f"{ref.name}/{ref.request}" if ref.request else ref.name)
        seen.add(key)
        if ref.name not in names:
            known = ": " + ", ".join(sorted(names)) if names else " which is empty"
            v.add(
                f"{item}.name",
                f"Not found: {_fmt(ref.name)}: must be one of the names in "
                f"pod.spec.resourceClaims{known}",
            )
        if ref.request:
            v.dns_label(f"{item}.request", ref.request)
