"""Progress a reader can trust: a line per finished run with an ETA from the pace so far, the
runs in progress named, results in the given order, and every worker stopped when the wait is
interrupted."""

from __future__ import annotations

import io
import multiprocessing
import os
import signal

import pytest

from dralloc.sim.campaign import RunSpec
from dralloc.sim.progress import CampaignClock, LineProgress, duration
from dralloc.sim.runner import run_all


class FakeClock:
    def __init__(self) -> None:
        self.time = 100.0

    def __call__(self) -> float:
        return self.time


def test_a_line_per_finished_run_says_its_time_and_the_eta() -> None:
    clock = FakeClock()
    stream = io.StringIO()
    progress = LineProgress(CampaignClock(3, clock), stream)
    clock.time += 40
    progress.finished(RunSpec("openb:default", "fgd", 43), 41.0)
    clock.time += 50
    progress.finished(RunSpec("openb:default", "bestfit", 42, queues="fair"), 38.2)
    progress.finished(RunSpec("openb:default", "bestfit", 43), 12.0)
    assert stream.getvalue().splitlines() == [
        "[1/3] openb:default fgd seed 43 done in 41 s; ETA 80 s",
        "[2/3] openb:default bestfit queues fair seed 42 done in 38 s; ETA 45 s",
        "[3/3] openb:default bestfit seed 43 done in 12 s; done",
    ]


def test_durations_read_at_a_glance() -> None:
    assert [duration(s) for s in (0.4, 89, 95, 6 * 60 + 10, 2 * 3600 + 5 * 60)] == [
        "0 s",
        "89 s",
        "2 min",
        "6 min",
        "2 h 05 min",
    ]


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def running(self, specs: object) -> None:
        self.events.append(("running", list(specs)))  # type: ignore[call-overload]

    def finished(self, spec: object, seconds: float) -> None:
        assert seconds >= 0
        self.events.append(("finished", spec))


def square(value: int) -> int:
    return value * value


def test_runs_in_this_process_report_each_start_and_finish_in_order() -> None:
    recorder = Recorder()
    assert run_all([1, 2, 3], square, jobs=1, progress=recorder) == [1, 4, 9]
    assert recorder.events == [
        ("running", [1]),
        ("finished", 1),
        ("running", [2]),
        ("finished", 2),
        ("running", [3]),
        ("finished", 3),
    ]


def test_worker_processes_return_results_in_the_given_order() -> None:
    recorder = Recorder()
    assert run_all([3, 1, 2], square, jobs=2, progress=recorder) == [9, 1, 4]
    assert recorder.events[0] == ("running", [3, 1])  # the earliest unfinished runs
    assert sorted(e[1] for e in recorder.events if e[0] == "finished") == [1, 2, 3]  # type: ignore[type-var]
    assert multiprocessing.active_children() == []


def wait_forever(value: int) -> int:
    if value == 0:
        return 0
    signal.pause()  # until the parent terminates this worker
    return value


class InterruptAfterFirst(Recorder):
    def finished(self, spec: object, seconds: float) -> None:
        raise KeyboardInterrupt


def test_an_interrupted_wait_stops_every_worker() -> None:
    with pytest.raises(KeyboardInterrupt):
        run_all([0, 1, 2], wait_forever, jobs=3, progress=InterruptAfterFirst())
    assert multiprocessing.active_children() == []


def fail(value: int) -> int:
    raise ValueError(f"run {value} failed in {os.getpid()}")


def test_a_runs_error_reaches_the_caller_after_the_workers_stop() -> None:
    with pytest.raises(ValueError, match=r"run [12] failed"):
        run_all([1, 2], fail, jobs=2)
    assert multiprocessing.active_children() == []
