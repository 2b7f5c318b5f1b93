"""Nodes joining and leaving a replay, read from a CSV file: `dralloc simulate --mode replay
--node-events FILE`.

This module owns reading that file into `NodeEvent`s and attaching them to a `ReplayTrace`;
the replay (`sim.replay`) applies them. A row becomes the timeline's `NodeEvent` directly: it
holds a time, an action and a node, nothing more to keep. Pure parsing; reading the file is
the only I/O.

The file::

    time,action,node
    3600,remove,openb-node-0007
    7200,add,openb-node-0007
    0.5,add,openb-node-1212

- **Header.** Exactly `time,action,node`, in that order. Any other column is refused, not
  ignored: a column the replay does not read would look as if it did something.
- **time**: seconds, a finite number ≥ 0 (`90`, `1.5`, `3.6e3`), on the replay's clock, the
  clock of the trace's pod arrivals. For `openb:<variant>` that is the pod list's
  `creation_time` as the file has it (the packaged openb:default starts at 0); for `dlrm`
  the trace's `creation_time` (an instance without one arrives at 0); for `synthetic` 0 is
  the start of the generated trace, and the first pod arrives one gap (mean `1/rate`) later.
- **action**: `add` or `remove`, in any case (`NodeAction`'s values are `Add` and `Remove`).
- **node**: a node of the replayed cluster, as the workload names it: openb's `sn` column
  (`openb-node-0000`), `dlrm-hn-0000` / `dlrm-cn-0000`, `syn-node-000`.
- **Meaning.** A node whose first event is `add` is absent from the start until then; every
  other node is there from the start. `remove` takes the node out with its pods, which are
  evicted (replay.csv's `evicted`; no controller restarts them). Events of one time apply in
  file order, before the scheduler runs at that time, so a node added at T takes pods from T.
  A replay lasts at least until its last event.
- **Errors.** Every row is checked and every problem reported at once, each at the file,
  `line N` (the header is line 1) and column; a row with a problem gives no event and a file
  with any problem gives an InputError, so no row is dropped silently. Checks against a
  workload (a node its cluster lacks; adding a node that is there, removing one that is not)
  are `ReplayTrace.check`'s, reported at the same file and line (each event keeps them).

Example::

    events = load_node_events("events.csv")
    trace = with_node_events(resolve_replay_trace("openb:default"), events)
    trace.check()  # InputError: events.csv: line 3: node: no node 'n-9' in openb:default (...)
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from dralloc.errors import InputError
from dralloc.sim.traces.rows import CsvRows, read_text
from dralloc.sim.traces.timeline import NodeAction, NodeEvent, ReplayTrace

__all__ = ["COLUMNS", "load_node_events", "parse_node_events", "with_node_events"]

COLUMNS: Final = ("time", "action", "node")
_HEADER: Final = ",".join(COLUMNS)
_ACTIONS: Final = {action.value.lower(): action for action in NodeAction}


def load_node_events(path: str | os.PathLike[str]) -> tuple[NodeEvent, ...]:
    """Read and parse a node-event file. InputError if it cannot be read or is malformed."""
    return parse_node_events(read_text(Path(path)), str(path))


def parse_node_events(text: str, file: str) -> tuple[NodeEvent, ...]:
    """The events of CSV `text` read from `file`, in file order. InputError listing every
    malformed row."""
    reader = _Reader(text, file)
    events: list[NodeEvent] = []
    for line, row in reader.read([COLUMNS]):
        before = len(reader.problems)
        time = reader.seconds(line, row[0])
        action = _ACTIONS.get(row[1].lower())
        if action is None:
            reader.problem(line, "action", f"unknown action {row[1]!r}, expected add or remove")
        if not row[2]:
            reader.problem(line, "node", "empty, expected a node name")
        if len(reader.problems) > before:
            continue
        assert time is not None and action is not None
        events.append(NodeEvent(time, action, row[2], file=file, line=line))
    if reader.problems:
        raise InputError(reader.problems)
    return tuple(events)


def with_node_events(trace: ReplayTrace, events: Sequence[NodeEvent]) -> ReplayTrace:
    """`trace` with `events` after its own. Not checked here: `ReplayTrace.check` (which
    `replay` runs) reports events naming a node `trace` lacks, or adding one that is there."""
    if not events:
        return trace
    return dataclasses.replace(trace, node_events=(*trace.node_events, *events))


class _Reader(CsvRows):
    """The trace loaders' reader, naming each missing or unknown header column."""

    def header_problems(
        self, row: tuple[str, ...], schemas: Sequence[tuple[str, ...]], expected: str
    ) -> None:
        expected = f"the header must be {_HEADER}"
        missing = [column for column in COLUMNS if column not in row]
        unknown = list(dict.fromkeys(column for column in row if column not in COLUMNS))
        for column in missing:
            self.problem(1, column, f"missing column; {expected}")
        for column in unknown:
            self.problem(1, column, f"unknown column {column!r}; {expected}")
        if not missing and not unknown:
            self.problem(1, "", f"got {','.join(row)}; {expected}")

    def seconds(self, line: int, value: str) -> float | None:
        """`value` as a finite number of seconds ≥ 0, or None after reporting why it is not."""
        if not value:
            self.problem(line, "time", "empty, expected seconds ≥ 0")
            return None
        try:
            number = float(value)
        except ValueError:
            self.problem(line, "time", f"not a number: {value!r}, expected seconds ≥ 0")
            return None
        if not math.isfinite(number) or number < 0:
            self.problem(line, "time", f"must be a finite number of seconds ≥ 0, got {value!r}")
            return None
        return number
