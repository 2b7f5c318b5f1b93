"""What the allocator prepares from a claim before searching (spec 6.4), and its outcomes.

Pure data: prepared requests and claims (compiled selectors, needed counts, applicable
constraints), one in-flight pick, and the `Reason` a device is not taken.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from dralloc.allocator.constraints import ConstraintChecker
from dralloc.allocator.inventory import DeviceEntry, DeviceKey, Pool
from dralloc.api.resource import DeviceClass, DeviceToleration, ResourceClaim
from dralloc.cel import CompiledSelector

MAX_RESULTS_PER_CLAIM = 32
PREPARED_CACHE_SIZE = 4096
DEFAULT_TIMEOUT_SECONDS = 10.0


class Reason(StrEnum):
    """Why a device was not taken for a request (also what `explain` reports)."""

    IN_USE = "in use"
    BINDING_CONDITIONS_DISABLED = "has binding conditions, but the feature is disabled"
    CLASS_SELECTOR = "class selector is false"
    REQUEST_SELECTOR = "request selector is false"
    WRONG_NODE = "not reachable from the node"
    CAPACITY = "capacity too small"
    CAPACITY_POLICY = "capacity request not allowed by the device's policy"
    COUNTERS_DISABLED = "consumes counters, but DRAPartitionableDevices is disabled"
    COUNTERS = "counters exhausted"
    TAINT = "untolerated taint"
    CONSTRAINT = "constraint conflict"


class TooMany:
    """Marker: the claim would exceed 32 results on this path (skip to the next subrequest)."""


TOO_MANY = TooMany()
SearchOutcome = bool | TooMany


@dataclass(slots=True, kw_only=True)
class Selector:
    """A CEL selector and where it comes from: DeviceClass `class_name`, or the claim itself
    when None. Errors name it `class c: selector #i` or `claim ns/n: selector #i`; the claim
    is named at the time of the error, because claims with equal specs share preparation."""

    expression: str
    index: int
    class_name: str | None
    compiled: CompiledSelector | None = None

    @property
    def is_class(self) -> bool:
        return self.class_name is not None

    def context(self, claim_ref: str) -> str:
        if self.class_name is not None:
            return f"class {self.class_name}: selector #{self.index}"
        return f"claim {claim_ref}: selector #{self.index}"


@dataclass(slots=True)
class PreparedRequest:
    """One request, or one subrequest of a firstAvailable request, ready for the search."""

    claim_index: int
    request_name: str  # the request's own name
    result_name: str  # `req` or `req/sub`
    class_name: str
    device_class: DeviceClass
    selectors: tuple[Selector, ...]
    admin: bool
    all_mode: bool
    needed: int
    tolerations: list[DeviceToleration]
    capacity_requests: dict[str, int]
    has_subrequests: bool
    all_devices: list[tuple[DeviceEntry, Pool]] = field(default_factory=list)
    constraints: tuple[ConstraintChecker, ...] = ()
    selector_key: tuple[str, ...] = ()
    # Device key -> what one allocation for this request consumes of the device (None: the
    # device's policies cannot serve it). A pure function of device and request, so it is
    # kept as long as the prepared request is.
    consumption: dict[DeviceKey, dict[str, int] | None] = field(default_factory=dict)


@dataclass(slots=True)
class PreparedClaim:
    claim: ResourceClaim
    ref: str
    requests: list[list[PreparedRequest]]
    constraints: list[ConstraintChecker]
    # The most devices the claim can take: over requests, the largest count of any of
    # their subrequests.
    most_devices: int = field(init=False)

    def __post_init__(self) -> None:
        self.most_devices = sum(max(r.needed for r in alts) for alts in self.requests)


@dataclass(slots=True)
class Pick:
    """One device chosen in the current attempt (undo information included)."""

    request: PreparedRequest
    entry: DeviceEntry
    pool: Pool
    share_id: str | None
    consumed: dict[str, int] | None
    charged_counters: bool
    constraints: tuple[ConstraintChecker, ...]


@dataclass(slots=True)
class PreparedEntry:
    claim: ResourceClaim
    classes: tuple[tuple[str, DeviceClass], ...]
    prepared: PreparedClaim
