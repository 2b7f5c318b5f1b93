"""Which workloads the simulator can run, by the name users give them, already converted to
the request model.

- The FGD experiment (`--mode fgd`) places the openb pod lists: `resolve_arrival_trace`
  takes `openb:<variant>`.
- A replay (`--mode replay`) takes `openb:<variant>` (the pod lists with their creation and
  deletion times), `dlrm[:key=value,...]` (the Alibaba DLRM trace, `traces.dlrm`) and
  `synthetic[:key=value,...]` (`traces.synthetic`): `resolve_replay_trace`.

Loading only; each loader's docstring says how it reads its trace and converts its records.
"""

from __future__ import annotations

import os

from dralloc.errors import InputError, Problem
from dralloc.sim.options import split_workload
from dralloc.sim.traces import dlrm, openb, synthetic
from dralloc.sim.traces.job_resolve import JOB_TRACES
from dralloc.sim.traces.model import ArrivalTrace
from dralloc.sim.traces.timeline import ReplayTrace

__all__ = ["REPLAY_TRACES", "resolve_arrival_trace", "resolve_replay_trace"]

REPLAY_TRACES = ("openb:<variant>", "dlrm[:key=value,...]", "synthetic[:key=value,...]")


def resolve_arrival_trace(
    workload: str, trace_dir: str | os.PathLike[str] | None = None
) -> ArrivalTrace:
    """The nodes and pods of `workload` (`openb:<variant>`) for the FGD experiment.
    InputError for an unknown name, a variant that is not packaged, missing or malformed
    files (`openb.resolve_trace`'s errors)."""
    return openb.arrival_trace(openb.resolve_trace(workload, trace_dir))


def resolve_replay_trace(
    workload: str, trace_dir: str | os.PathLike[str] | None = None
) -> ReplayTrace:
    """The trace `workload` names, ready to replay. InputError for an unknown name, bad
    options, missing or malformed files (each loader's errors), naming `--trace <workload>`."""
    if workload.startswith(openb.PREFIX):
        return openb.replay_trace(openb.resolve_trace(workload, trace_dir))
    name, _ = split_workload(workload)
    if name == dlrm.NAME:
        return dlrm.resolve_dlrm(workload, trace_dir)
    if name == synthetic.NAME:
        return synthetic.generate(workload)
    # Every name a replay takes, job traces included (`resolve_job_replay` sends the others
    # here); the option is named as the trace loaders name it, `--trace`, which a command
    # taking the trace by another option renames.
    known = ", ".join((*REPLAY_TRACES, *JOB_TRACES))
    message = f"unknown workload for a replay, expected one of {known}"
    raise InputError([Problem("", f"--trace {workload}", "", message)])
