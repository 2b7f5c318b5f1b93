"""A campaign split over machines: `dralloc simulate --shard K/N` and `dralloc simulate merge`.

A campaign is the ordered list of its `RunSpec`s (workload x policy x queue policy x seed, the
order `dralloc simulate` builds). Shard K of N (1-based, as users write `1/4`) runs the specs
whose index i has `i % N == K - 1`: round robin rather than contiguous blocks, so every shard
gets its share of each policy and workload and the shards of a campaign take about as long
(FGD runs cost several times a random run's). A shard with no specs (N above the campaign's
size) is valid and writes a manifest holding no runs, so an Indexed Job's completions may
outnumber the runs.

A shard folder holds what `merge` needs to write the CSVs and report one unsharded run would:

* `run-<index>.msgpack`: one run's raw result (`RunCurves` or `ReplayRun`, as the worker
  returned it) in MessagePack, which keeps every float bit for bit (NaN and infinities
  included, unlike JSON); `<index>` is the run's place in the whole campaign.
* `shard.json` (written last, so a folder without it is an unfinished shard): the manifest,
  `ShardManifest`: the mode, every spec of the whole campaign, the prices, the trace files and
  their SHA-256, the seeds, the command (without `--shard` and `--out`), dralloc's version,
  K, N and the indices of this shard's runs. `campaign` is a digest of what decides the
  results (mode, specs, prices, trace files, version), files by their SHA-256 and never by
  the path typed; shards agree on it or are refused, naming what differs (seeds, policies).

`merge_shards` reads the folders back and checks them: every folder a finished shard, one
campaign, each K of 1..N exactly once, every run present. Problems are an InputError naming
the folder (exit 2 at the command line), every problem at once. Pure reading and writing of
these files; the runs and the reports are the caller's.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import msgspec

from dralloc.errors import InputError, Problem
from dralloc.sim.campaign import ReplayRun, RunCurves, RunSpec
from dralloc.sim.outdir import SHARD_MANIFEST
from dralloc.sim.provenance import TraceSource

__all__ = [
    "MANIFEST_FILE",
    "SPEC_FIELDS",
    "MergedCampaign",
    "Shard",
    "ShardManifest",
    "campaign_digest",
    "merge_shards",
    "parse_shard",
    "read_manifest",
    "spec_identity",
    "write_shard",
]

MANIFEST_FILE = SHARD_MANIFEST
SHARD_KIND = "dralloc.io/simulate-shard/v1"
_SHARD = re.compile(r"^\s*(-?\d+)\s*/\s*(-?\d+)\s*$")

_T = TypeVar("_T")


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count`, 1-based (`Shard(1, 4)` is what users write `1/4`)."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def indices(self, total: int) -> list[int]:
        """The campaign indices this shard runs, of a campaign of `total` specs."""
        return list(range(self.index - 1, total, self.count))

    def select(self, specs: Sequence[_T]) -> list[_T]:
        """This shard's part of `specs`, in campaign order."""
        return [specs[i] for i in self.indices(len(specs))]


def parse_shard(text: str) -> Shard:
    """`K/N` with 1 <= K <= N; ValueError saying what is wrong otherwise."""
    match = _SHARD.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not K/N (shard K of N, e.g. 1/4)")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1:
        raise ValueError(f"{text!r}: N must be at least 1, got {count}")
    if not 1 <= index <= count:
        raise ValueError(f"{text!r}: K must be between 1 and N ({count}), got {index}")
    return Shard(index, count)


class ShardManifest(msgspec.Struct, frozen=True, kw_only=True):
    """A shard folder's `shard.json` (see the module docstring). `created` is when the shard
    finished (UTC, ISO 8601), for the reader only: it takes no part in `campaign`."""

    kind: str = SHARD_KIND
    campaign: str
    mode: str
    version: str
    shard: int
    shards: int
    runs: tuple[int, ...]
    specs: tuple[RunSpec, ...]
    prices: dict[str, float]
    traces: tuple[TraceSource, ...]
    seeds: tuple[int, ...]
    command: tuple[str, ...]
    created: str = ""


def campaign_digest(
    mode: str,
    specs: Sequence[RunSpec],
    prices: dict[str, float],
    traces: Sequence[TraceSource],
    version: str,
) -> str:
    """SHA-256 (hex) of what decides a campaign's results: two shards agree on it only if
    they ran parts of the same campaign on the same trace bytes with the same dralloc. Files
    count by content, not by the path typed (`./ca.yaml` and `ca.yaml`, or a volume mounted
    elsewhere on another machine, are one campaign): see `spec_identity`."""
    files = _file_digests(traces)
    identity = (
        mode,
        tuple(spec_identity(spec, files) for spec in specs),
        dict(sorted(prices.items())),
        tuple(_trace_identity(source) for source in traces),
        version,
    )
    return hashlib.sha256(msgspec.msgpack.encode(identity)).hexdigest()


SPEC_FIELDS = {
    "workload": "workloads (--trace)",
    "policy": "policies (--policy)",
    "seed": "seeds (--seeds)",
    "node_events": "node events (--node-events)",
    "queues": "queue policies (--queues)",
    "autoscaling": "the --autoscaling file",
    "autoscaling_objects": "the --autoscaling-objects file",
}
"""The `RunSpec` fields that decide a run's result, in `spec_identity`'s order, and what a
refusal calls them; `trace_dir` is not one (the trace files' SHA-256 stand for what was read
from it)."""


def spec_identity(spec: RunSpec, files: dict[str, str]) -> tuple[object, ...]:
    """What decides `spec`'s result, field by field as `SPEC_FIELDS`: a path among the
    campaign's hashed files (`files`, path -> SHA-256) stands as its SHA-256."""
    return (
        files.get(spec.workload, spec.workload),
        spec.policy,
        spec.seed,
        spec.node_events,
        spec.queues,
        files.get(spec.autoscaling, spec.autoscaling),
        files.get(spec.autoscaling_objects, spec.autoscaling_objects),
    )


def _file_digests(traces: Sequence[TraceSource]) -> dict[str, str]:
    return {file.path: file.sha256 for source in traces for file in source.files}


def _trace_identity(source: TraceSource) -> tuple[str, ...]:
    # A source read from files is its bytes (its label may hold a path: `--autoscaling
    # ./ca.yaml`); a generated one (`synthetic:...`) is its name, which holds its options.
    if source.files:
        return tuple(file.sha256 for file in source.files)
    return (source.workload,)


def run_file(index: int) -> str:
    return f"run-{index:05d}.msgpack"


def write_shard(
    directory: Path, manifest: ShardManifest, runs: Sequence[RunCurves | ReplayRun]
) -> list[Path]:
    """Every run's file, then the manifest (last: its presence says the shard is whole);
    the paths written. `runs` are this shard's, in `manifest.runs` order."""
    if len(runs) != len(manifest.runs):
        raise ValueError(f"{len(runs)} runs for the manifest's {len(manifest.runs)}")
    directory.mkdir(parents=True, exist_ok=True)
    encoder = msgspec.msgpack.Encoder()
    paths = []
    for index, run in zip(manifest.runs, runs, strict=True):
        if run.spec != manifest.specs[index]:
            raise ValueError(f"run {index} is not the manifest's spec {index}")
        path = directory / run_file(index)
        path.write_bytes(encoder.encode(run))
        paths.append(path)
    manifest_path = directory / MANIFEST_FILE
    manifest_path.write_bytes(msgspec.json.format(msgspec.json.encode(manifest), indent=2))
    return [*paths, manifest_path]


def read_manifest(directory: Path) -> ShardManifest:
    """The manifest of the shard folder `directory`; InputError naming the folder."""
    where = str(directory)
    path = directory / MANIFEST_FILE
    if not directory.is_dir():
        raise InputError([Problem(where, "", "", "is not a folder")])
    if not path.is_file():
        message = f"holds no {MANIFEST_FILE}: not a shard folder, or the shard did not finish"
        raise InputError([Problem(where, "", "", message)])
    try:
        manifest = msgspec.json.decode(path.read_bytes(), type=ShardManifest)
    except (msgspec.ValidationError, msgspec.DecodeError) as err:
        raise InputError([Problem(str(path), "", "", f"not a shard manifest: {err}")]) from err
    if manifest.kind != SHARD_KIND:
        message = f"kind {manifest.kind!r}: expected {SHARD_KIND!r}"
        raise InputError([Problem(str(path), "", "kind", message)])
    return manifest


@dataclass(frozen=True)
class MergedCampaign:
    """The shards read back as one campaign: its mode, every run in campaign order, and what
    the report needs (prices, provenance facts of the first shard)."""

    mode: str
    runs: tuple[RunCurves | ReplayRun, ...]
    prices: dict[str, float]
    version: str
    command: tuple[str, ...]
    traces: tuple[TraceSource, ...]
    seeds: tuple[int, ...]


def _differences(first: ShardManifest, other: ShardManifest) -> list[str]:
    """What makes `other` another campaign than `first`, named as users set it."""
    found = [
        name
        for name in ("mode", "version", "prices", "shards")
        if getattr(first, name) != getattr(other, name)
    ]
    if [_trace_identity(t) for t in first.traces] != [_trace_identity(t) for t in other.traces]:
        found.append("trace files (SHA-256)")
    if len(first.specs) != len(other.specs):
        found.append(f"number of runs ({len(first.specs)} vs {len(other.specs)})")
    else:
        ours, theirs = _file_digests(first.traces), _file_digests(other.traces)
        for spec, twin in zip(first.specs, other.specs, strict=True):
            mine, yours = spec_identity(spec, ours), spec_identity(twin, theirs)
            for label, a, b in zip(SPEC_FIELDS.values(), mine, yours, strict=True):
                if a != b and label not in found:
                    found.append(label)
    return found


def merge_shards(directories: Sequence[Path]) -> MergedCampaign:
    """The campaign the shard folders hold together (see the module docstring); InputError
    with every problem, each naming its folder."""
    if not directories:
        raise InputError([Problem("", "", "", "no shard folders given")])
    manifests: list[tuple[Path, ShardManifest]] = []
    problems: list[Problem] = []
    for directory in directories:
        try:
            manifests.append((directory, read_manifest(directory)))
        except InputError as err:
            problems.extend(err.problems)
    if problems:
        raise InputError(problems)
    first_dir, first = manifests[0]
    seen: dict[int, Path] = {}
    for directory, manifest in manifests:
        differs = _differences(first, manifest)
        if differs or manifest.campaign != first.campaign:
            what = ", ".join(differs) or "campaign digest"
            message = (
                f"shard {manifest.shard}/{manifest.shards} is of another campaign than "
                f"{first_dir}'s (they differ in: {what})"
            )
            problems.append(Problem(str(directory), "", "", message))
        elif manifest.shard in seen:
            message = (
                f"shard {manifest.shard}/{manifest.shards} again (also in {seen[manifest.shard]})"
            )
            problems.append(Problem(str(directory), "", "", message))
        else:
            seen[manifest.shard] = directory
    if problems:
        raise InputError(problems)
    missing = [k for k in range(1, first.shards + 1) if k not in seen]
    if missing:
        names = ", ".join(f"{k}/{first.shards}" for k in missing)
        message = f"shard{'s' * (len(missing) > 1)} {names} of this campaign not given"
        raise InputError([Problem(str(first_dir), "", "", message)])
    runs = _read_runs(manifests, first)
    return MergedCampaign(
        mode=first.mode,
        runs=tuple(runs),
        prices=dict(first.prices),
        version=first.version,
        command=first.command,
        traces=first.traces,
        seeds=first.seeds,
    )


def _read_runs(
    manifests: Sequence[tuple[Path, ShardManifest]], first: ShardManifest
) -> list[RunCurves | ReplayRun]:
    kind: type[RunCurves] | type[ReplayRun] = RunCurves if first.mode == "fgd" else ReplayRun
    decoder = msgspec.msgpack.Decoder(kind)
    found: dict[int, RunCurves | ReplayRun] = {}
    problems: list[Problem] = []
    ours = _file_digests(first.traces)
    for directory, manifest in sorted(manifests, key=lambda item: item[1].shard):
        theirs = _file_digests(manifest.traces)
        expected = Shard(manifest.shard, manifest.shards).indices(len(first.specs))
        if list(manifest.runs) != expected:
            shard = f"{manifest.shard}/{manifest.shards}"
            message = f"lists runs {list(manifest.runs)}; shard {shard} has {expected}"
            problems.append(Problem(str(directory / MANIFEST_FILE), "", "runs", message))
            continue
        for index in manifest.runs:
            path = directory / run_file(index)
            try:
                run = decoder.decode(path.read_bytes())
            except OSError as err:
                message = f"cannot read run {index}: {err.strerror or err}"
                problems.append(Problem(str(directory), "", "", message))
                continue
            except (msgspec.ValidationError, msgspec.DecodeError) as err:
                problems.append(Problem(str(path), "", "", f"not a {kind.__name__}: {err}"))
                continue
            if spec_identity(run.spec, theirs) != spec_identity(first.specs[index], ours):
                message = f"holds another run than the campaign's run {index}"
                problems.append(Problem(str(path), "", "spec", message))
                continue
            found[index] = run
    if problems:
        raise InputError(problems)
    return [found[index] for index in range(len(first.specs))]
