"""The long-lived index of published devices, and which pools a node sees.

Owns: per-slice and per-device precomputation (device identity, capacities and counter
consumption as exact integers, hard taints including those DeviceTaintRules add, attribute
lookups, the CEL input and the cache of selector results), and the per-node gathering of
pools (spec/dra-v1.md 6.2 and 6.3).
Does not own allocation state: that is `AllocatedState` and the search's in-flight tally.

Selector outcomes are shared between devices whose CEL input is the same (`SelectorInput`,
interned per inventory by driver, attributes, capacity and allowMultipleAllocations): the
`device` variable carries neither the device's name nor its pool, so identical devices on
many nodes are converted and evaluated once.

An `Inventory` is built once from a set of ResourceSlices and reused for many `allocate` calls;
build a new one when slices change. Everything here is pure computation over its inputs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any, NamedTuple

import msgspec

from dralloc.allocator.nodeselection import selector_matches
from dralloc.api.core import Node
from dralloc.api.resource import Device, DeviceAttribute, DeviceTaintRule, ResourceSlice
from dralloc.cel import CelDevice, CelRuntimeError
from dralloc.features import Features


class DeviceKey(NamedTuple):
    """A device's identity; prints as `driver/pool/device`."""

    driver: str
    pool: str
    device: str

    def __str__(self) -> str:
        return f"{self.driver}/{self.pool}/{self.device}"


# A caller's preference among candidate devices: smaller sorts first (ties keep the drivers'
# order). Device scoring passes one so that first-fit picks the best-scoring feasible device.
DeviceOrder = Callable[[DeviceKey], Any]


class PoolKey(NamedTuple):
    driver: str
    pool: str

    def __str__(self) -> str:
        return f"{self.driver}/{self.pool}"


# A normalised attribute value for constraints: (kind, value) for scalars and
# (kind, frozenset) for list attributes; UNSUPPORTED when the allocator cannot read it.
AttributeValue = tuple[str, object]
UNSUPPORTED: AttributeValue = ("unsupported", None)

HARD_TAINT_EFFECTS = frozenset({"NoSchedule", "NoExecute"})


def normalise_attribute(attr: DeviceAttribute, list_types: bool) -> AttributeValue:
    if attr.int_value is not None:
        return ("int", attr.int_value)
    if attr.bool_value is not None:
        return ("bool", attr.bool_value)
    if attr.string is not None:
        return ("string", attr.string)
    if attr.version is not None:
        return ("version", attr.version)
    if list_types:
        for kind, values in (
            ("int", attr.ints),
            ("bool", attr.bools),
            ("string", attr.strings),
            ("version", attr.versions),
        ):
            if values:
                return (kind, frozenset(values))
    return UNSUPPORTED


@dataclass(frozen=True, slots=True)
class CapacityPolicy:
    """A capacity's value and request policy, in exact nano-units."""

    value: int
    default: int | None
    valid_values: tuple[int, ...] | None
    range_min: int | None
    range_max: int | None
    range_step: int | None


class SelectorInput:
    """A device's CEL input and the selector outcomes on it (expression -> bool, or the
    CelRuntimeError it raised), shared by every device with the same input: an outcome is a
    pure function of what `CelDevice.build` reads (driver, attributes, capacity values and
    allowMultipleAllocations), never of the device's name or pool."""

    __slots__ = ("_cel_device", "device", "driver", "features", "results")

    def __init__(self, driver: str, device: Device, features: Features) -> None:
        self.driver = driver
        self.device = device
        self.features = features
        self.results: dict[str, bool | CelRuntimeError] = {}
        self._cel_device: CelDevice | None = None

    @property
    def cel_device(self) -> CelDevice:
        if self._cel_device is None:
            self._cel_device = CelDevice.build(self.driver, self.device, self.features)
        return self._cel_device


class SelectorInputs:
    """The inventory's interned `SelectorInput`s, keyed by the encoded CEL-relevant fields of
    a device (about 2 us per device, against 100-200 us to build a CEL context and evaluate
    on it). Bounded by the inventory's devices; devices that differ only in the order of
    their attributes get separate entries, which costs time, never correctness."""

    def __init__(self, features: Features) -> None:
        self.features = features
        self._encoder = msgspec.json.Encoder(enc_hook=str)
        self._inputs: dict[tuple[str, bool, bytes], SelectorInput] = {}

    def of(self, driver: str, device: Device) -> SelectorInput:
        # Capacity request policies are encoded too although CEL reads only the value:
        # devices differing there merely miss each other.
        key = (
            driver,
            bool(device.allow_multiple_allocations),
            self._encoder.encode((device.attributes, device.capacity)),
        )
        found = self._inputs.get(key)
        if found is None:
            found = SelectorInput(driver, device, self.features)
            self._inputs[key] = found
        return found

    def __len__(self) -> int:
        return len(self._inputs)


class DeviceEntry:
    """One published device with everything the search needs precomputed.

    Selector results are memoised in `selector_results`, the dict of the device's shared
    `SelectorInput` (see there): a selector's outcome is a pure function of the device's CEL
    input.
    """

    __slots__ = (
        "_attribute_cache",
        "_counter_totals",
        "_non_negative",
        "binding_conditions",
        "capacity",
        "consumes",
        "device",
        "features",
        "key",
        "multi",
        "selector_input",
        "selector_results",
        "slice",
        "taints",
    )

    def __init__(
        self,
        slice_: ResourceSlice,
        device: Device,
        features: Features,
        rules: Sequence[DeviceTaintRule] = (),
        inputs: SelectorInputs | None = None,
    ) -> None:
        spec = slice_.spec
        self.slice = slice_
        self.device = device
        self.features = features
        self.key = DeviceKey(spec.driver, spec.pool.name, device.name)
        # With DRAConsumableCapacity off, allowMultipleAllocations is ignored (6.6a).
        self.multi = bool(device.allow_multiple_allocations) and features.consumable_capacity
        self.capacity: dict[str, CapacityPolicy] = {}
        for name, cap in device.capacity.items():
            policy = cap.request_policy
            rng = policy.valid_range if policy else None
            self.capacity[name] = CapacityPolicy(
                value=cap.value.nano,
                default=policy.default.nano if policy and policy.default is not None else None,
                valid_values=tuple(v.nano for v in policy.valid_values)
                if policy and policy.valid_values
                else None,
                range_min=rng.min.nano if rng and rng.min is not None else None,
                range_max=rng.max.nano if rng and rng.max is not None else None,
                range_step=rng.step.nano if rng and rng.step is not None else None,
            )
        self.consumes: tuple[tuple[str, tuple[tuple[str, int], ...]], ...] = tuple(
            (c.counter_set, tuple((n, v.value.nano) for n, v in c.counters.items()))
            for c in device.consumes_counters
        )
        self._counter_totals: dict[tuple[str, str], int] | None = None
        self._non_negative: bool | None = None
        taints = list(device.taints)
        for rule in rules:
            if rule.selects(spec.driver, spec.pool.name, device.name):
                taints.append(rule.spec.taint)
        self.taints = tuple(t for t in taints if t.effect in HARD_TAINT_EFFECTS)
        self.binding_conditions = bool(device.binding_conditions)
        self.selector_input = (
            inputs.of(spec.driver, device)
            if inputs is not None
            else SelectorInput(spec.driver, device, features)
        )
        self.selector_results = self.selector_input.results
        self._attribute_cache: dict[str, AttributeValue | None] = {}

    @property
    def cel_device(self) -> CelDevice:
        return self.selector_input.cel_device

    @property
    def counter_totals(self) -> dict[tuple[str, str], int]:
        """(counter set, counter) -> what the device consumes of it in all (a device may name
        one counter set twice). Built on first use, like the fields below."""
        totals = self._counter_totals
        if totals is None:
            totals = {}
            for set_name, counters in self.consumes:
                for counter, amount in counters:
                    slot = (set_name, counter)
                    totals[slot] = totals.get(slot, 0) + amount
            self._counter_totals = totals
        return totals

    @property
    def non_negative(self) -> bool:
        """No amount the device consumes or offers is negative, so what the search tallies
        for it only grows (allocator/pruning.py relies on that)."""
        found = self._non_negative
        if found is None:
            found = all(v >= 0 for v in self.counter_totals.values()) and all(
                v >= 0
                for policy in self.capacity.values()
                for v in (
                    policy.value,
                    policy.default or 0,
                    policy.range_min or 0,
                    policy.range_max or 0,
                    policy.range_step or 0,
                    *(policy.valid_values or ()),
                )
            )
            self._non_negative = found
        return found

    def attribute(self, qualified: str) -> AttributeValue | None:
        """Look up `domain/id` as constraints do: the exact key first, then the bare id
        when the domain is the device's driver. None when the device lacks it."""
        cached = self._attribute_cache.get(qualified, UNSUPPORTED)
        if cached is not UNSUPPORTED:
            return cached
        attrs = self.device.attributes
        attr = attrs.get(qualified)
        if attr is None:
            domain, _, ident = qualified.rpartition("/")
            if domain == self.key.driver:
                attr = attrs.get(ident)
        value = (
            None if attr is None else normalise_attribute(attr, self.features.list_type_attributes)
        )
        self._attribute_cache[qualified] = value
        return value

    def matches_node(self, node: Node) -> bool:
        """Per-device node selection (only meaningful for perDeviceNodeSelection slices)."""
        dev = self.device
        if dev.all_nodes:
            return True
        if dev.node_name:
            return dev.node_name == node.metadata.name
        if dev.node_selector is not None:
            return selector_matches(dev.node_selector, node)
        return False

    def __repr__(self) -> str:
        return f"DeviceEntry({self.key})"


class SliceEntry:
    """A ResourceSlice and its device entries (built on first use)."""

    __slots__ = ("_devices", "features", "inputs", "rules", "slice")

    def __init__(
        self,
        slice_: ResourceSlice,
        features: Features,
        rules: Sequence[DeviceTaintRule] = (),
        inputs: SelectorInputs | None = None,
    ) -> None:
        self.slice = slice_
        self.features = features
        self.rules = rules
        self.inputs = inputs
        self._devices: tuple[DeviceEntry, ...] | None = None

    @property
    def devices(self) -> tuple[DeviceEntry, ...]:
        if self._devices is None:
            self._devices = tuple(
                DeviceEntry(self.slice, d, self.features, self.rules, self.inputs)
                for d in self.slice.spec.devices
            )
        return self._devices

    @property
    def name(self) -> str:
        return self.slice.metadata.name

    @property
    def has_counters(self) -> bool:
        return bool(self.slice.spec.shared_counters)


class PoolState(StrEnum):
    COMPLETE = "complete"
    INCOMPLETE = "incomplete"
    INVALID = "invalid"


@dataclass
class NodeView:
    """What one node sees: its pools in search order and the candidate devices of the
    usable ones, plus per-selector-set filtered candidate lists (filled by the allocator)."""

    pools: list[Pool]
    candidates: list[tuple[DeviceEntry, Pool]]
    # selector expressions -> the selectable candidates, in candidate order. A trailing
    # `SelectorFailure` marks where evaluation raised: the search raises when it gets there.
    selectable: dict[tuple[str, ...], list[tuple[DeviceEntry, Pool]]] = field(default_factory=dict)
    # selector expressions -> (bit mask of the selectable devices that are not
    # multi-allocatable, by position in `candidates`; how many there are; how many selectable
    # devices are multi-allocatable; whether some selector raised): what the checks of
    # allocator/pruning.py read before the search. A pure function of `selectable`.
    selectable_summary: dict[tuple[str, ...], tuple[int, int, int, bool]] = field(
        default_factory=dict
    )
    # (selector expressions, constraint attributes...) -> allocator/pruning.py's `Records`
    # of those candidates: a pure function of `selectable` and device attributes.
    pruning_records: dict[tuple[object, ...], object] = field(default_factory=dict)
    node: Node | None = None
    _by_name: dict[PoolKey, dict[str, DeviceEntry]] = field(default_factory=dict)
    _positions: dict[DeviceKey, int] | None = None

    def position(self, key: DeviceKey) -> int:
        """Where device `key` stands in `candidates` (device keys are unique among them)."""
        positions = self._positions
        if positions is None:
            positions = {entry.key: i for i, (entry, _) in enumerate(self.candidates)}
            self._positions = positions
        return positions[key]

    def device_index(self, pool: Pool) -> dict[str, DeviceEntry]:
        """Device name -> entry over all of the pool's devices (counter accounting)."""
        index = self._by_name.get(pool.key)
        if index is None:
            index = {d.device.name: d for d in (*pool.devices, *pool.other_devices)}
            self._by_name[pool.key] = index
        return index


@dataclass
class Pool:
    """A pool as one node sees it (spec 6.3)."""

    key: PoolKey
    generation: int
    state: PoolState
    invalid_reason: str = ""
    # Devices of slices targeting the node, in slice-name order then device order.
    devices: list[DeviceEntry] = field(default_factory=list)
    # Devices of targeting per-device slices that the node cannot reach.
    unreachable: list[DeviceEntry] = field(default_factory=list)
    # Slices of the pool that do not target the node (counter accounting only).
    other_slices: list[SliceEntry] = field(default_factory=list)
    # counter set -> counter -> total, in nano-units.
    counter_sets: dict[str, dict[str, int]] = field(default_factory=dict)
    has_binding_conditions: bool = False
    slices: list[SliceEntry] = field(default_factory=list)

    @property
    def is_usable(self) -> bool:
        return self.state is PoolState.COMPLETE

    @cached_property
    def is_non_negative(self) -> bool:
        """No device the node can pick from the pool consumes or offers a negative amount,
        so what the search tallies for the pool only grows (allocator/pruning.py)."""
        return all(entry.non_negative for entry in self.devices)

    @property
    def other_devices(self) -> list[DeviceEntry]:
        """Devices of the pool the node cannot use (built only when asked: a node sees the
        counter slices, and so the pools, of every node, but rarely needs their devices)."""
        others = list(self.unreachable)
        for entry in self.other_slices:
            if not entry.has_counters:
                others.extend(entry.devices)
        return others

    @property
    def wrong_node_devices(self) -> list[DeviceEntry]:
        """The devices of `other_devices` from slices with per-device node selection (what
        explanations call "not reachable from the node"), built only for those slices: a
        node sees every node's counter slices, and so the other slices of their pools."""
        found = list(self.unreachable)
        for entry in self.other_slices:
            if not entry.has_counters and entry.slice.spec.per_device_node_selection:
                found.extend(entry.devices)
        return found


class Inventory:
    """Published devices, indexed for the allocator. Build once per set of slices.

    >>> inventory = Inventory(slices, Features())   # doctest: +SKIP
    >>> pools = inventory.pools_for(node)           # doctest: +SKIP
    """

    def __init__(
        self,
        slices: Sequence[ResourceSlice],
        features: Features,
        taint_rules: Sequence[DeviceTaintRule] = (),
    ) -> None:
        self.features = features
        # DeviceTaintRules add taints only with both DRADeviceTaints and DRADeviceTaintRules.
        rules = (
            tuple(taint_rules)
            if features.device_taints and features.enabled("DRADeviceTaintRules")
            else ()
        )
        self.selector_inputs = SelectorInputs(features)
        self.slices = [SliceEntry(s, features, rules, self.selector_inputs) for s in slices]
        self._node_local: dict[str, list[SliceEntry]] = defaultdict(list)
        self._shared: list[SliceEntry] = []
        self._by_pool: dict[PoolKey, list[SliceEntry]] = defaultdict(list)
        for entry in self.slices:
            spec = entry.slice.spec
            self._by_pool[PoolKey(spec.driver, spec.pool.name)].append(entry)
            if spec.node_name and not spec.shared_counters:
                self._node_local[spec.node_name].append(entry)
            else:
                self._shared.append(entry)
        self._views: dict[str, NodeView] = {}
        # (pool, ids of the slices a node sees, ids of the others) -> the pool's counter sets,
        # for splits whose counter checks found nothing wrong. Bounded by the ways nodes
        # split pools (usually two per pool: its own node, and every other node).
        self._checked_counters: dict[
            tuple[PoolKey, tuple[int, ...], tuple[int, ...]], dict[str, dict[str, int]]
        ] = {}

    def pool_slices(self, key: PoolKey) -> list[SliceEntry]:
        return self._by_pool.get(key, [])

    def _is_relevant(self, entry: SliceEntry, node: Node) -> bool:
        spec = entry.slice.spec
        if not self.features.partitionable_devices and (
            spec.per_device_node_selection or spec.shared_counters
        ):
            return False
        if spec.shared_counters:
            return True
        if spec.node_name:
            return spec.node_name == node.metadata.name
        if spec.all_nodes:
            return True
        if spec.node_selector is not None:
            return selector_matches(spec.node_selector, node)
        if spec.per_device_node_selection:
            return any(d.matches_node(node) for d in entry.devices)
        return False

    def pools_for(self, node: Node) -> list[Pool]:
        """The pools node `node` sees, in search order (spec 6.3-4)."""
        return self.view(node).pools

    @property
    def has_shared_pools(self) -> bool:
        """Whether some slice is not local to one node (nodeSelector, allNodes, per-device
        node selection): then a node's devices can change hands from another node."""
        return bool(self._shared)

    def view(self, node: Node) -> NodeView:
        """What `node` sees. Cached per node name for the Node object last asked about (a
        new Node object, e.g. after a label change or a live node's status update, is
        gathered anew and replaces the old one: a long-lived inventory keeps one view per
        node, however often its nodes change)."""
        name = node.metadata.name
        view = self._views.get(name)
        if view is not None and view.node is node:
            return view
        pools = self._gather(node)
        candidates = [(entry, pool) for pool in pools if pool.is_usable for entry in pool.devices]
        view = NodeView(pools, candidates, node=node)
        self._views[name] = view
        return view

    def _gather(self, node: Node) -> list[Pool]:
        groups: dict[PoolKey, list[SliceEntry]] = {}
        for entry in (*self._node_local.get(node.metadata.name, ()), *self._shared):
            if not self._is_relevant(entry, node):
                continue
            spec = entry.slice.spec
            key = PoolKey(spec.driver, spec.pool.name)
            kept = groups.get(key)
            if kept is None:
                groups[key] = [entry]
                continue
            generation = kept[0].slice.spec.pool.generation
            if spec.pool.generation > generation:
                groups[key] = [entry]
            elif spec.pool.generation == generation:
                kept.append(entry)

        pools: list[Pool] = []
        for key, kept in groups.items():
            pool = self._build_pool(key, kept, node)
            if pool is not None:
                pools.append(pool)
        # 1.36 order: by (driver, pool name); pools with binding conditions last.
        pools.sort(key=lambda p: (p.has_binding_conditions, p.key.driver, p.key.pool))
        return pools

    def _build_pool(self, key: PoolKey, kept: list[SliceEntry], node: Node) -> Pool | None:
        generation = kept[0].slice.spec.pool.generation
        count = kept[0].slice.spec.pool.resource_slice_count
        others: list[SliceEntry] = []
        if len(kept) != count:
            everything = self._by_pool[key]
            if any(s.slice.spec.pool.generation > generation for s in everything):
                return None  # obsolete for this node: the driver is mid-update
            same_gen = [s for s in everything if s.slice.spec.pool.generation == generation]
            if len(same_gen) != count:
                # Never allocated from; its devices are listed for explanations only.
                incomplete = Pool(key, generation, PoolState.INCOMPLETE, slices=sorted_slices(kept))
                for entry in incomplete.slices:
                    if not entry.has_counters:
                        incomplete.devices.extend(entry.devices)
                return incomplete
            kept_ids = {id(s) for s in kept}
            others = [s for s in same_gen if id(s) not in kept_ids]

        pool = Pool(key, generation, PoolState.COMPLETE, slices=sorted_slices(kept))
        partitionable = self.features.partitionable_devices
        seen_devices: set[str] = set()
        for entry in pool.slices:
            if partitionable and entry.has_counters:
                continue
            per_device = bool(entry.slice.spec.per_device_node_selection)
            for dev in entry.devices:
                if dev.device.name in seen_devices:
                    pool.state = PoolState.INVALID
                    pool.invalid_reason = f"duplicate device name {dev.device.name}"
                seen_devices.add(dev.device.name)
                if dev.binding_conditions:
                    pool.has_binding_conditions = True
                if per_device and not dev.matches_node(node):
                    pool.unreachable.append(dev)
                else:
                    pool.devices.append(dev)
        pool.other_slices = sorted_slices(others)

        if partitionable:
            # The counter checks read only the pool's slices, split into those the node
            # sees and the others: every node that sees no device slice of a pool splits it
            # alike, so they share one check (when it finds nothing wrong).
            split = (key, tuple(id(s) for s in pool.slices), tuple(id(s) for s in others))
            checked = self._checked_counters.get(split)
            if checked is not None:
                pool.counter_sets = checked
            elif self._check_counters(pool, others):
                self._checked_counters[split] = pool.counter_sets
        return pool

    @staticmethod
    def _check_counters(pool: Pool, others: list[SliceEntry]) -> bool:
        """Collect the pool's counter sets; mark it invalid (and say False) on a duplicate
        counter set or a device naming an unknown counter set or counter."""
        problem = False
        for entry in (*pool.slices, *others):
            for counter_set in entry.slice.spec.shared_counters:
                if counter_set.name in pool.counter_sets:
                    problem = True
                    pool.state = PoolState.INVALID
                    pool.invalid_reason = f"duplicate counter set {counter_set.name}"
                pool.counter_sets[counter_set.name] = {
                    n: c.value.nano for n, c in counter_set.counters.items()
                }
        devices = [d.device for d in (*pool.devices, *pool.unreachable)]
        for entry in pool.other_slices:
            devices.extend(entry.slice.spec.devices)
        for device in devices:
            for consumption in device.consumes_counters:
                set_name = consumption.counter_set
                known = pool.counter_sets.get(set_name)
                if known is None:
                    problem = True
                    pool.state = PoolState.INVALID
                    pool.invalid_reason = (
                        f"device {device.name} references unknown counter set {set_name}"
                    )
                    continue
                for counter in consumption.counters:
                    if counter not in known:
                        problem = True
                        pool.state = PoolState.INVALID
                        pool.invalid_reason = (
                            f"device {device.name} references unknown counter "
                            f"{counter} in counter set {set_name}"
                        )
        return not problem


def sorted_slices(entries: list[SliceEntry]) -> list[SliceEntry]:
    return sorted(entries, key=lambda s: s.name)
