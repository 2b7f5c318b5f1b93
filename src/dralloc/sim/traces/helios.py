"""SenseTime Helios' per-virtual-cluster daily GPU quotas (SC '21), as tenants with a nominal
GPU quota: `tenants=venus` / `tenants=earth` of the job traces.

This module owns reading `Venus/cluster_gpu_number.csv` and `Earth/Earth_gpu_number.csv`
(`date,<vc>...,total`, one row a day, GPUs per VC; the folder `helios-vc-gpus/` of a trace
directory) into `VcQuotas`, and choosing tenants from them. Pure parsing and a seeded choice;
reading the file is the only I/O. The files are not shipped with dralloc: `trace_dir` must
hold them (directly or in a `helios-vc-gpus/` folder).

Rows are checked as the other loaders check theirs: the header must start with `date`, end
with `total` and name each VC once; every quota is a whole number >= 0; `total` must equal the
sum of the VC columns (it does on every row of both published files); dates are `YYYY-MM-DD`
and unique. Every problem is reported at once with file, `line N` and column.

Choosing tenants (`tenants_on`):

- **Which day.** Quotas change over the 181 days (Venus: 5 days on which the total changes,
  Earth: 12); a replay uses one day's quotas as static nominal quotas. The default is the
  last day (2020-09-28), when Venus has 16 VCs with GPUs (8 to 256, 1,080 in all) and
  Earth 19 (8 to 216, 1,208). Earth's 2020-05-09 lists all 840 GPUs under one VC, an anomaly
  the data README warns about; it is refused.
- **Which VCs.** Only VCs with a quota above 0 that day. `count` > 0 keeps that many, drawn
  without replacement by a seeded `random.Random` (`rng.sample` over the VCs in file order),
  so one seed picks the same VCs everywhere; 0 keeps all.
- **Scaling** (`scale_quotas`): a simulated cluster is rarely Helios' size, so quotas may be
  rescaled to a `total`, each rounded to a multiple of `granularity` GPUs (a node, 8: every
  Helios quota is a multiple of 8) and at least one `granularity`: a VC whose share is below
  one gets one and the others share the rest, by largest remainders (Hamilton's method), so
  the sum is exactly the total (rounded down to the granularity) when it can be.

Example::

    quotas = load_vc_quotas(trace_dir, "venus")
    tenants = tenants_on(quotas, date=None, count=6, rng=random.Random(1))
"""

from __future__ import annotations

import math
import os
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from dralloc.errors import InputError, Problem
from dralloc.sim.traces.jobs import Tenant
from dralloc.sim.traces.rows import CsvRows, read_text

__all__ = [
    "ANOMALIES",
    "CLUSTERS",
    "FOLDER_NAME",
    "VcQuotas",
    "find_file",
    "load_vc_quotas",
    "parse_vc_quotas",
    "scale_quotas",
    "tenants_on",
]

FOLDER_NAME: Final = "helios-vc-gpus"
CLUSTERS: Final = {
    "venus": Path("Venus") / "cluster_gpu_number.csv",
    "earth": Path("Earth") / "Earth_gpu_number.csv",
}
ANOMALIES: Final = {("earth", "2020-05-09"): "every GPU is listed under one VC on this day"}
_DATE_RE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True)
class VcQuotas:
    """One Helios cluster's daily quotas: `vcs` in file order, `days` in file order, and
    `quota[day][i]` the GPUs of `vcs[i]` on that day. `lines` maps a day to its line."""

    cluster: str
    file: str
    vcs: tuple[str, ...]
    days: tuple[str, ...]
    quota: dict[str, tuple[int, ...]]
    lines: dict[str, int] = field(default_factory=dict, compare=False)

    def on(self, day: str) -> dict[str, int]:
        """VC -> GPUs on `day` (every VC, zeros included)."""
        return dict(zip(self.vcs, self.quota[day], strict=True))


def parse_vc_quotas(text: str, file: str, cluster: str) -> VcQuotas:
    """Parse one quota file's CSV text. InputError listing every malformed row."""
    header = text.split("\n", 1)[0].rstrip("\r").split(",")
    rows = CsvRows(text, file)
    if len(header) < 3 or header[0] != "date" or header[-1] != "total":
        rows.problem(1, "", "the header must be date,<vc>,...,total")
        rows.raise_problems()
    vcs = tuple(header[1:-1])
    seen: set[str] = set()
    for vc in vcs:
        if vc in seen or not vc:
            rows.problem(1, vc, "every VC column must have a name, once")
        seen.add(vc)
    rows.raise_problems()
    quota: dict[str, tuple[int, ...]] = {}
    lines: dict[str, int] = {}
    for line, row in rows.read([tuple(header)]):
        day = row[0]
        if not _DATE_RE.fullmatch(day):
            rows.problem(line, "date", f"expected a date YYYY-MM-DD, got {day!r}")
            continue
        if day in lines:
            rows.problem(line, "date", f"day {day} again, first on line {lines[day]}")
            continue
        values = [rows.integer(line, vc, cell) for vc, cell in zip(vcs, row[1:-1], strict=True)]
        total = rows.integer(line, "total", row[-1])
        if any(v is None for v in values) or total is None:
            continue
        counted = [v for v in values if v is not None]
        if sum(counted) != total:
            rows.problem(line, "total", f"{total} is not the sum of the VC columns, {sum(counted)}")
            continue
        quota[day] = tuple(counted)
        lines[day] = line
    rows.raise_problems()
    return VcQuotas(cluster, file, vcs, tuple(quota), quota, lines)


def find_file(trace_dir: str | os.PathLike[str] | None, cluster: str) -> Path:
    """Where `cluster`'s quota file is under `trace_dir`. InputError saying what to pass."""
    if cluster not in CLUSTERS:
        known = ", ".join(CLUSTERS)
        raise InputError(
            [
                Problem(
                    "",
                    "",
                    "tenants",
                    f"unknown Helios cluster {cluster!r}, expected one of {known}",
                )
            ]
        )
    relative = CLUSTERS[cluster]
    if trace_dir is None:
        message = (
            f"Helios VC quotas are not shipped with dralloc: pass --trace-dir pointing at a"
            f" folder holding {FOLDER_NAME}/{relative.as_posix()}"
        )
        raise InputError([Problem("", "", "", message)])
    folder = Path(trace_dir)
    for candidate in (folder / relative, folder / FOLDER_NAME / relative):
        if candidate.is_file():
            return candidate
    message = (
        f"no {relative.as_posix()} here or in {FOLDER_NAME}/:"
        " --trace-dir must hold the Helios VC quotas"
    )
    raise InputError([Problem(str(folder), "", "", message)])


def load_vc_quotas(trace_dir: str | os.PathLike[str] | None, cluster: str) -> VcQuotas:
    """The quotas of Helios `cluster` (`venus` or `earth`) read from `trace_dir`."""
    path = find_file(trace_dir, cluster)
    return parse_vc_quotas(read_text(path), str(path), cluster)


def tenants_on(
    quotas: VcQuotas, date: str | None, count: int, rng: random.Random
) -> tuple[Tenant, ...]:
    """The VCs with GPUs on `date` (None: the last day) as tenants, `count` of them drawn by
    `rng` (0: all), largest quota first (ties by name). InputError for an unknown or anomalous
    day, or more VCs asked for than have GPUs."""
    day = quotas.days[-1] if date is None else date
    where = f"{quotas.cluster} quotas"
    if day not in quotas.quota:
        first, last = quotas.days[0], quotas.days[-1]
        raise InputError(
            [
                Problem(
                    quotas.file,
                    where,
                    "date",
                    f"no row for {day}; the file covers {first} to {last}",
                )
            ]
        )
    if (quotas.cluster, day) in ANOMALIES:
        message = (
            f"{day} is an anomaly of the data ({ANOMALIES[quotas.cluster, day]}); pick another day"
        )
        raise InputError([Problem(quotas.file, where, "date", message)])
    with_gpus = [(vc, gpus) for vc, gpus in quotas.on(day).items() if gpus > 0]
    if count < 0 or count > len(with_gpus):
        message = f"{count} VCs asked for, {len(with_gpus)} have GPUs on {day}"
        raise InputError([Problem(quotas.file, where, "vcs", message)])
    chosen = rng.sample(with_gpus, count) if count else with_gpus
    prefix = quotas.cluster.capitalize()
    tenants = [Tenant(vc, gpus, f"{prefix}/{vc}@{day}") for vc, gpus in chosen]
    return tuple(sorted(tenants, key=lambda t: (-t.gpu_quota, t.name)))


def scale_quotas(tenants: Sequence[Tenant], total: int, granularity: int = 8) -> tuple[Tenant, ...]:
    """`tenants` with quotas rescaled to sum to `total` GPUs (see the module docstring): each a
    multiple of `granularity`, at least one. The sum is `total` rounded down to a multiple
    of `granularity`, or `len(tenants) * granularity` when that is more."""
    if total < 1 or granularity < 1:
        raise ValueError(f"total and granularity must be >= 1, got {total} and {granularity}")
    units = total // granularity
    if not tenants or not any(t.gpu_quota for t in tenants):
        return tuple(tenants)
    counts = [1] * len(tenants)
    rest = list(range(len(tenants)))
    left = units
    # A tenant whose share is below one unit gets one and leaves the division; the others
    # share what remains, until every share left is at least one unit.
    while rest and left > len(rest):
        whole = sum(tenants[i].gpu_quota for i in rest)
        shares = {i: tenants[i].gpu_quota * left / whole for i in rest}
        low = [i for i in rest if shares[i] < 1]
        if low:
            rest = [i for i in rest if shares[i] >= 1]
            left -= len(low)
            continue
        for i in rest:
            counts[i] = math.floor(shares[i])
        spare = left - sum(counts[i] for i in rest)
        # Largest remainders first; ties go to the earlier (larger) tenant.
        order = sorted(rest, key=lambda i: (-(shares[i] - math.floor(shares[i])), i))
        for i in order[:spare]:
            counts[i] += 1
        break
    return tuple(
        Tenant(t.name, c * granularity, f"{t.source} scaled to {total}")
        for t, c in zip(tenants, counts, strict=True)
    )
