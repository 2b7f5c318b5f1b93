"""Which workloads a replay can run, by the name users give them: `openb:<variant>` (the
openb pod lists with their creation and deletion times), `dlrm[:key=value,...]` (the Alibaba
DLRM trace, `sim.dlrm`) and `synthetic[:key=value,...]` (`sim.synthetic`). Loading only;
each loader's docstring says how it reads its trace.
"""

from __future__ import annotations

import os

from dralloc.errors import InputError, Problem
from dralloc.sim.options import split_workload
from dralloc.sim.traces import dlrm, synthetic
from dralloc.sim.traces.openb import PREFIX, resolve_trace
from dralloc.sim.traces.timeline import ReplayTrace, from_openb

__all__ = ["REPLAY_TRACES", "resolve_replay_trace"]

REPLAY_TRACES = ("openb:<variant>", "dlrm[:key=value,...]", "synthetic[:key=value,...]")


def resolve_replay_trace(
    workload: str, trace_dir: str | os.PathLike[str] | None = None
) -> ReplayTrace:
    """The trace `workload` names, ready to replay. InputError for an unknown name, bad
    options, missing or malformed files (each loader's errors)."""
    if workload.startswith(PREFIX):
        return from_openb(resolve_trace(workload, trace_dir))
    name, _ = split_workload(workload)
    if name == dlrm.NAME:
        return dlrm.resolve_dlrm(workload, trace_dir)
    if name == synthetic.NAME:
        return synthetic.generate(workload)
    known = ", ".join(REPLAY_TRACES)
    message = f"unknown workload {workload!r} for a replay, expected one of {known}"
    raise InputError([Problem("", "", "", message)])
