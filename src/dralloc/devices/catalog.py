"""The accelerator catalog: GPU and TPU models as data, loaded from packaged YAML.

This module owns the typed form of `data/gpus.yaml` and `data/tpus.yaml` and their
validation. It reads only those files (through `importlib.resources`, or a directory the
caller names) and keeps no module-level state: `load_catalog()` parses on every call and the
caller owns the returned `Catalog`.

Every fact about a model lives in the YAML; code here checks the data's shape and internal
consistency (a MIG placement window must fit the GPU's memory slices, a TPU shape's chip count
must equal the product of its dimensions) and never branches on a model name.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

import msgspec
import yaml

from dralloc.api.quantity import Quantity, parse_quantity
from dralloc.errors import InputError, NotFoundError, Problem

__all__ = [
    "Catalog",
    "GpuModel",
    "MigGeometry",
    "MigProfile",
    "TpuModel",
    "TpuTopology",
    "load_catalog",
]

GPU_FILE = "gpus.yaml"
TPU_FILE = "tpus.yaml"

_STRUCT_OPTIONS: dict[str, Any] = {
    "frozen": True,
    "kw_only": True,
    "forbid_unknown_fields": True,
    "rename": "camel",
}


class MigProfile(msgspec.Struct, **_STRUCT_OPTIONS):
    """One MIG GPU-instance profile of one GPU model, as `nvidia-smi mig -lgip/-lgipp` lists it.

    `memory_slices` is the width of the placement window on the memory axis and
    `placement_starts` the first memory slice of each legal window. Engine counts and
    `multiprocessors` are None where no trustworthy source gives them.

    >>> profile = load_catalog().gpu("h100-80gb-sxm").mig_profile("3g.40gb")
    >>> profile.placement_starts, profile.compute_slices, profile.memory_slices
    ((0, 4), 3, 4)
    """

    name: str
    gi_profile_id: int
    max_instances: int
    compute_slices: int
    memory_slices: int
    placement_starts: tuple[int, ...]
    memory: Quantity | None = None
    multiprocessors: int | None = None
    copy_engines: int | None = None
    decoders: int | None = None
    encoders: int | None = None
    jpeg_engines: int | None = None
    ofa_engines: int | None = None
    verified: bool = True
    note: str = ""

    @property
    def is_media_extension(self) -> bool:
        """A `+me` profile: the one instance per GPU that gets the media engines."""
        return self.name.endswith("+me")


class MigGeometry(msgspec.Struct, **_STRUCT_OPTIONS):
    """How a MIG-capable GPU divides: memory and compute slices, and its profiles."""

    memory_slices: int
    compute_slices: int
    max_instances: int
    profiles: tuple[MigProfile, ...]


class GpuModel(msgspec.Struct, **_STRUCT_OPTIONS):
    """An NVIDIA GPU model and the attributes the NVIDIA DRA driver publishes for it.

    `memory` is the nominal capacity in the product name; `mig` is None for GPUs without MIG.

    >>> h100 = load_catalog().gpu("h100-80gb-sxm")
    >>> h100.product_name, str(h100.cuda_compute_capability)
    ('NVIDIA H100 80GB HBM3', '9.0.0')
    """

    name: str
    product_name: str
    brand: str
    architecture: str
    cuda_compute_capability: str
    memory: Quantity
    multiprocessors: int | None
    mig: MigGeometry | None = None
    verified: bool = True
    note: str = ""

    def mig_profile(self, name: str) -> MigProfile:
        """The MIG profile called `name` (such as "1g.10gb+me"); NotFoundError if none."""
        profiles = self.mig.profiles if self.mig is not None else ()
        for profile in profiles:
            if profile.name == name:
                return profile
        known = ", ".join(p.name for p in profiles) or "none: the model has no MIG"
        raise NotFoundError(f"GPU model {self.name!r} has no MIG profile {name!r} (known: {known})")


class TpuTopology(msgspec.Struct, **_STRUCT_OPTIONS):
    """A TPU slice shape: `shape` such as "2x4" or "4x4x8", its chips and its hosts.

    `hosts` counts physical TPU hosts, as Cloud TPU's tables do; `nodes` counts the TPU VMs
    GKE makes of the slice, one Kubernetes Node (and one pod of the slice's gang) each. They
    differ where GKE splits a host into two VMs: multi-host v5e and v6e slices run on 4-chip
    machine types (`ct6e-standard-4t`), so a 4x8 slice has 4 hosts but 8 nodes. Omitted,
    `nodes` equals `hosts`.
    """

    shape: str
    chips: int
    hosts: int
    nodes: int | None = None

    @property
    def dimensions(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.shape.split("x"))

    @property
    def node_count(self) -> int:
        """Kubernetes Nodes (TPU VMs) of one slice of this shape."""
        return self.hosts if self.nodes is None else self.nodes

    @property
    def chips_per_node(self) -> int:
        return self.chips // self.node_count

    @property
    def chips_per_host_bounds(self) -> tuple[int, int, int]:
        """The chips of one node as a box (x, y, z), as the TPU driver tells libtpu
        (`TPU_CHIPS_PER_HOST_BOUNDS`): 1 chip 1x1x1, 2 chips 1x2x1, 4 chips 2x2x1, 8 chips
        2x4x1. ValueError for any other count."""
        bounds = {1: (1, 1, 1), 2: (1, 2, 1), 4: (2, 2, 1), 8: (2, 4, 1)}
        try:
            return bounds[self.chips_per_node]
        except KeyError:
            raise ValueError(
                f"{self.shape}: {self.chips_per_node} chips per node is not a TPU host box"
            ) from None

    @property
    def bounds(self) -> tuple[int, int, int]:
        """The slice's chip box (x, y, z); a 2D shape has z = 1, as the driver reads it."""
        dims = self.dimensions
        x, y, z = (*dims, 1) if len(dims) == 2 else dims
        return x, y, z

    @property
    def host_bounds(self) -> tuple[int, int, int]:
        """The slice's nodes as a box of host boxes (`TPU_HOST_BOUNDS`): the shape's bounds
        divided by `chips_per_host_bounds`. ValueError when a dimension does not divide."""
        per_host = self.chips_per_host_bounds
        out = []
        for size, step in zip(self.bounds, per_host, strict=True):
            if size % step:
                raise ValueError(
                    f"{self.shape}: host box {'x'.join(map(str, per_host))} does not tile it"
                )
            out.append(size // step)
        return out[0], out[1], out[2]


class TpuModel(msgspec.Struct, **_STRUCT_OPTIONS):
    """A Google TPU generation: what the TPU DRA driver publishes and GKE's slice shapes.

    >>> v6e = load_catalog().tpu("tpu-v6e")
    >>> v6e.accelerator_type, v6e.topology("4x4").hosts
    ('tpu-v6e-slice', 2)
    """

    name: str
    tpu_gen: str | None
    accelerator_type: str
    pci_device_id: str
    machine_types: tuple[str, ...]
    chips_per_host: tuple[int, ...]
    hbm_per_chip: Quantity
    interconnect: str
    max_chips: int
    topologies: tuple[TpuTopology, ...]
    verified: bool = True
    note: str = ""

    def topology(self, shape: str) -> TpuTopology:
        """The slice shape `shape` (such as "2x2x1"); NotFoundError if it is not listed."""
        for topology in self.topologies:
            if topology.shape == shape:
                return topology
        known = ", ".join(t.shape for t in self.topologies)
        raise NotFoundError(f"TPU model {self.name!r} has no topology {shape!r} (known: {known})")


@dataclass(frozen=True)
class Catalog:
    """Every GPU and TPU model, looked up by short name.

    >>> catalog = load_catalog()
    >>> catalog.gpu("a100-40gb").mig is not None, catalog.gpu("l4").mig is None
    (True, True)
    """

    gpus: tuple[GpuModel, ...]
    tpus: tuple[TpuModel, ...]

    _gpu_index: Mapping[str, GpuModel] = field(init=False, repr=False, compare=False)
    _product_index: Mapping[str, GpuModel] = field(init=False, repr=False, compare=False)
    _tpu_index: Mapping[str, TpuModel] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Frozen, so the indexes are set once here, the way dataclasses document it.
        gpus = MappingProxyType({g.name: g for g in self.gpus})
        products = MappingProxyType({g.product_name: g for g in self.gpus})
        object.__setattr__(self, "_gpu_index", gpus)
        object.__setattr__(self, "_product_index", products)
        object.__setattr__(self, "_tpu_index", MappingProxyType({t.name: t for t in self.tpus}))

    def gpu(self, name: str) -> GpuModel:
        """The GPU model with short name `name` ("h100-80gb-sxm"); NotFoundError if none."""
        return _lookup(self._gpu_index, name, "GPU")

    def gpu_by_product_name(self, product_name: str) -> GpuModel:
        """The GPU model whose NVML `productName` is `product_name`; NotFoundError if none."""
        return _lookup(self._product_index, product_name, "GPU product name")

    def tpu(self, name: str) -> TpuModel:
        """The TPU model with short name `name` ("tpu-v6e"); NotFoundError if none."""
        return _lookup(self._tpu_index, name, "TPU")


_Model = TypeVar("_Model")


def _lookup(index: Mapping[str, _Model], name: str, what: str) -> _Model:
    try:
        return index[name]
    except KeyError:
        known = ", ".join(sorted(index))
        raise NotFoundError(f"unknown {what} {name!r} (known: {known})") from None


# ------------------------------------------------------------------------------- loading


def load_catalog(directory: Traversable | Path | str | None = None) -> Catalog:
    """Read and validate `gpus.yaml` and `tpus.yaml`.

    With no `directory`, reads the files packaged in `dralloc.devices.catalog`. Raises
    `InputError` listing every problem at once, each naming the file, the model and the
    field (`gpus.yaml: GpuModel h100-80gb-sxm: mig.profiles[4].placementStarts[1]: ...`).
    """
    if directory is None:
        root: Traversable | Path = resources.files("dralloc.devices") / "data"
        label = "dralloc/devices/data/"
    else:
        root = Path(directory) if isinstance(directory, str) else directory
        label = f"{root}/"
    problems: list[Problem] = []
    gpus = _load_models(root / GPU_FILE, label + GPU_FILE, "gpus", GpuModel, problems)
    problems.extend(_check_product_names(label + GPU_FILE, gpus))
    tpus = _load_models(root / TPU_FILE, label + TPU_FILE, "tpus", TpuModel, problems)
    if problems:
        raise InputError(problems)
    return Catalog(gpus=gpus, tpus=tpus)


_M = TypeVar("_M", GpuModel, TpuModel)


def _load_models(
    source: Traversable | Path, file: str, key: str, cls: type[_M], problems: list[Problem]
) -> tuple[_M, ...]:
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as err:
        problems.append(Problem(file, "", "", f"cannot read: {err.strerror or err}"))
        return ()
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as err:
        problems.append(Problem(file, "", "", f"not valid YAML: {err}"))
        return ()
    if not isinstance(document, dict) or not isinstance(document.get(key), list):
        problems.append(Problem(file, "", key, f"expected a top-level mapping with a list {key!r}"))
        return ()
    for extra in sorted(str(k) for k in document if k != key):
        problems.append(Problem(file, "", extra, f"unknown field (expected only {key!r})"))

    models: list[_M] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(document[key]):
        name = raw.get("name") if isinstance(raw, dict) else None
        obj = f"{cls.__name__} {name}" if isinstance(name, str) else f"{cls.__name__} #{index}"
        try:
            model = msgspec.convert(raw, cls, dec_hook=_dec_hook)
        except msgspec.ValidationError as err:
            problems.append(Problem(file, obj, *_describe(err)))
            continue
        if model.name in seen:
            message = f"duplicate name {model.name!r} (also {key}[{seen[model.name]}])"
            problems.append(Problem(file, obj, "name", message))
        seen.setdefault(model.name, index)
        checks = _check_gpu(model) if isinstance(model, GpuModel) else _check_tpu(model)
        problems.extend(Problem(file, obj, path, message) for path, message in checks)
        models.append(model)
    return tuple(models)


def _dec_hook(kind: type, value: Any) -> Any:
    if kind is Quantity:
        if not isinstance(value, str):
            raise ValueError(f"a quantity must be a string such as 80Gi, got {value!r}")
        return parse_quantity(value)
    raise NotImplementedError(f"cannot decode {kind}")


_ERROR = re.compile(r"^(?P<msg>.*?)(?: - at `\$\.?(?P<path>[^`]*)`)?$", re.S)
_WRONG_TYPE = re.compile(r"^Expected `(?P<want>[^`]*)`, got `(?P<got>[^`]*)`$")
_NAMED = re.compile(r"^Object (?:contains unknown|missing required) field `(?P<field>[^`]+)`$")


def _describe(err: msgspec.ValidationError) -> tuple[str, str]:
    """msgspec's "Object missing required field `memory` - at `$.mig`" as a
    (field path, message) pair: ("mig.memory", "missing required field")."""
    match = _ERROR.match(str(err))
    assert match is not None  # the pattern matches any text
    path, message = match.group("path") or "", match.group("msg")
    named = _NAMED.match(message)
    if named:
        name = named.group("field")
        path = f"{path}.{name}" if path else name
        message = "unknown field" if "unknown" in message else "missing required field"
    wrong = _WRONG_TYPE.match(message)
    if wrong:
        # YAML reads 8.9 as a float and 9.0.0 as a string: say which the field wants.
        message = f"wrong type: expected {wrong.group('want')}, got {wrong.group('got')}"
    return path, message


# ---------------------------------------------------------------------------- validation

_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
_SHAPE = re.compile(r"^[1-9]\d*(x[1-9]\d*)*$")


def _check_common(model: GpuModel | TpuModel) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if not model.name:
        out.append(("name", "must not be empty"))
    if not model.verified and not model.note:
        out.append(("note", "an unverified entry must say what is unverified"))
    return out


def _check_gpu(model: GpuModel) -> list[tuple[str, str]]:
    out = _check_common(model)
    if not _SEMVER.match(model.cuda_compute_capability):
        out.append(("cudaComputeCapability", "expected a semver such as 9.0.0"))
    if model.memory.sign() <= 0:
        out.append(("memory", f"must be positive, got {model.memory}"))
    if model.multiprocessors is not None and model.multiprocessors <= 0:
        out.append(("multiprocessors", f"must be positive, got {model.multiprocessors}"))
    if model.mig is not None:
        out.extend(_check_mig(model.mig))
    return out


def _check_mig(mig: MigGeometry) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for attr in ("memory_slices", "compute_slices", "max_instances"):
        if getattr(mig, attr) <= 0:
            out.append((f"mig.{_camel(attr)}", f"must be positive, got {getattr(mig, attr)}"))
    names: dict[str, int] = {}
    ids: dict[int, int] = {}
    for i, profile in enumerate(mig.profiles):
        at = f"mig.profiles[{i}]"
        if profile.name in names:
            out.append((f"{at}.name", f"duplicate profile {profile.name!r}"))
        names.setdefault(profile.name, i)
        if profile.gi_profile_id in ids:
            other = mig.profiles[ids[profile.gi_profile_id]].name
            out.append((f"{at}.giProfileId", f"{profile.gi_profile_id} is also {other!r}"))
        ids.setdefault(profile.gi_profile_id, i)
        if not 1 <= profile.max_instances <= mig.max_instances:
            message = f"must be between 1 and {mig.max_instances}, got {profile.max_instances}"
            out.append((f"{at}.maxInstances", message))
        if not 1 <= profile.compute_slices <= mig.compute_slices:
            message = f"must be between 1 and {mig.compute_slices}, got {profile.compute_slices}"
            out.append((f"{at}.computeSlices", message))
        if not 1 <= profile.memory_slices <= mig.memory_slices:
            message = f"must be between 1 and {mig.memory_slices}, got {profile.memory_slices}"
            out.append((f"{at}.memorySlices", message))
        if not profile.placement_starts:
            out.append((f"{at}.placementStarts", "must list at least one start"))
        if list(profile.placement_starts) != sorted(set(profile.placement_starts)):
            out.append((f"{at}.placementStarts", "must be strictly increasing"))
        for j, start in enumerate(profile.placement_starts):
            if start < 0 or start + profile.memory_slices > mig.memory_slices:
                message = (
                    f"window {start}..{start + profile.memory_slices - 1} does not fit the "
                    f"GPU's {mig.memory_slices} memory slices (0..{mig.memory_slices - 1})"
                )
                out.append((f"{at}.placementStarts[{j}]", message))
        if profile.memory is not None and profile.memory.sign() <= 0:
            out.append((f"{at}.memory", f"must be positive, got {profile.memory}"))
        for attr in (
            "multiprocessors",
            "copy_engines",
            "decoders",
            "encoders",
            "jpeg_engines",
            "ofa_engines",
        ):
            value = getattr(profile, attr)
            if value is not None and value < 0:
                out.append((f"{at}.{_camel(attr)}", f"must not be negative, got {value}"))
        if not profile.verified and not profile.note:
            out.append((f"{at}.note", "an unverified entry must say what is unverified"))
    return out


def _check_tpu(model: TpuModel) -> list[tuple[str, str]]:
    out = _check_common(model)
    if model.hbm_per_chip.sign() <= 0:
        out.append(("hbmPerChip", f"must be positive, got {model.hbm_per_chip}"))
    if not model.chips_per_host or any(c <= 0 for c in model.chips_per_host):
        out.append(("chipsPerHost", "must list positive chip counts"))
    if len(model.machine_types) != len(model.chips_per_host):
        out.append(("machineTypes", "must name one machine type per chipsPerHost value"))
    for i, topology in enumerate(model.topologies):
        at = f"topologies[{i}]"
        if not _SHAPE.match(topology.shape):
            out.append((f"{at}.shape", f"expected dimensions such as 2x4, got {topology.shape!r}"))
            continue
        chips = math.prod(topology.dimensions)
        before = len(out)
        if topology.chips != chips:
            out.append(
                (f"{at}.chips", f"shape {topology.shape} has {chips} chips, not {topology.chips}")
            )
        for name, count in (("hosts", topology.hosts), ("nodes", topology.node_count)):
            if count <= 0 or topology.chips % count != 0:
                out.append((f"{at}.{name}", f"{topology.chips} chips do not split over {count}"))
            elif topology.chips // count not in model.chips_per_host:
                per_host = topology.chips // count
                known = list(model.chips_per_host)
                message = f"{per_host} chips per {name[:-1]} is not one of chipsPerHost {known}"
                out.append((f"{at}.{name}", message))
        if len(out) == before:  # the host boxes only make sense for consistent counts
            try:
                topology.host_bounds  # noqa: B018 (raises when the nodes cannot tile the shape)
            except ValueError as err:
                out.append((f"{at}.nodes", str(err)))
        if topology.chips > model.max_chips:
            out.append((f"{at}.chips", f"{topology.chips} exceeds maxChips {model.max_chips}"))
    return out


def _check_product_names(file: str, models: tuple[GpuModel, ...]) -> list[Problem]:
    out: list[Problem] = []
    first: dict[str, str] = {}
    for model in models:
        other = first.setdefault(model.product_name, model.name)
        if other != model.name:
            message = f"duplicate productName {model.product_name!r} (also {other!r})"
            out.append(Problem(file, f"GpuModel {model.name}", "productName", message))
    return out


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.title() for part in rest)
