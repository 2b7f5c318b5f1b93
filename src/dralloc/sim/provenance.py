"""Where a report's figures come from: when, which dralloc, which command, which trace files
(with their SHA-256, so a reader can check that a rerun reads the same bytes) and which seeds.

Every report ends with this footer; a forwarded report then says how to reproduce it. The
caller gathers the facts (`Provenance.now` reads the clock and the installed version, the
only I/O here besides hashing the trace files in `trace_source`).
"""

from __future__ import annotations

import hashlib
import html
import importlib.metadata
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["Provenance", "TraceFile", "TraceSource", "trace_source"]

_CHUNK = 1 << 20


@dataclass(frozen=True)
class TraceFile:
    """One file a workload was read from and its SHA-256 (hex)."""

    path: str
    sha256: str


@dataclass(frozen=True)
class TraceSource:
    """A workload as the user named it and the files it was read from; no files for a trace
    generated in code (`synthetic`), whose options and seed are its name."""

    workload: str
    files: tuple[TraceFile, ...] = ()


def trace_source(workload: str, paths: Sequence[str]) -> TraceSource:
    """The workload and each of `paths` that is a file, hashed (the others are skipped:
    a generated trace names no file)."""
    files = []
    for path in dict.fromkeys(paths):
        if path and Path(path).is_file():
            digest = hashlib.sha256()
            with Path(path).open("rb") as source:
                while chunk := source.read(_CHUNK):
                    digest.update(chunk)
            files.append(TraceFile(path, digest.hexdigest()))
    return TraceSource(workload, tuple(files))


@dataclass(frozen=True)
class Provenance:
    """The facts of a report's footer.

    Provenance.now(["dralloc", "simulate", "--seeds", "42"], traces, (42,))
    """

    created: datetime
    version: str
    command: tuple[str, ...]
    traces: tuple[TraceSource, ...]
    seeds: tuple[int, ...]

    @classmethod
    def now(
        cls, command: Sequence[str], traces: Sequence[TraceSource], seeds: Sequence[int]
    ) -> Provenance:
        try:
            version = importlib.metadata.version("dralloc")
        except importlib.metadata.PackageNotFoundError:  # running from a source tree
            version = "unknown"
        return cls(datetime.now(UTC), version, tuple(command), tuple(traces), tuple(seeds))

    def html(self) -> str:
        """The footer: a definition list, every value escaped."""
        traces = []
        for trace in self.traces:
            files = "".join(
                f"<br><span class='file'>{html.escape(f.path)}</span> sha256 "
                f"<code class='digest'>{f.sha256}</code>"
                for f in trace.files
            )
            origin = files or " (generated, no file: its options and the seeds reproduce it)"
            traces.append(f"<li>{html.escape(trace.workload)}{origin}</li>")
        rows = [
            ("Created", self.created.strftime("%Y-%m-%d %H:%M:%S UTC")),
            ("dralloc", html.escape(self.version)),
            ("Command", f"<code>{html.escape(shlex.join(self.command))}</code>"),
            ("Traces", f"<ul>{''.join(traces)}</ul>"),
            ("Seeds", html.escape(", ".join(map(str, self.seeds)))),
        ]
        items = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in rows)
        return f"<footer class='provenance'><h2>Provenance</h2><dl>{items}</dl></footer>"
