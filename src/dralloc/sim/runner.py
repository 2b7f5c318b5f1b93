"""Running a campaign's independent runs, in this process or in worker processes, with a
progress hook and a clean stop.

`run_all(specs, run, jobs=N, progress=...)` returns the results in `specs` order. With
`jobs > 1` the runs go to a `multiprocessing` pool of `min(jobs, len(specs))` workers, in
`specs` order: each worker takes the next run when it is free, so the runs in progress are
always the earliest unfinished ones, which is what `RunProgress.running` is told.

A clean stop: when anything interrupts the wait (KeyboardInterrupt on Ctrl-C, the exception a
SIGTERM handler raises, a run's own error), every worker is terminated and joined before the
exception goes on, so no worker outlives the command (a worker holds a cluster's objects, some
hundred MB). Workers ignore SIGINT (Ctrl-C reaches the whole process group; the parent alone
decides) and ask Linux to send them SIGTERM if the parent dies without cleaning up
(PR_SET_PDEATHSIG), so not even a SIGKILL of the parent leaves one running.

The only state is the pool, owned by one call; nothing here writes files.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import multiprocessing
import queue
import signal
import time
from collections.abc import Callable, Sequence
from typing import Generic, Protocol, TypeVar

__all__ = ["RunProgress", "run_all"]

_S = TypeVar("_S")
_S_contra = TypeVar("_S_contra", contravariant=True)
_R = TypeVar("_R")
_PR_SET_PDEATHSIG = 1
_POLL_SECONDS = 0.5  # how often the wait wakes up (signals interrupt it anyway)


class RunProgress(Protocol[_S_contra]):
    """Told what runs now and what finished; called in the caller's process and thread."""

    def running(self, specs: Sequence[_S_contra]) -> None:
        """The runs in progress now (earliest first), after each start or finish."""

    def finished(self, spec: _S_contra, seconds: float) -> None:
        """`spec` finished after `seconds` of wall time in its worker."""


def _timed(run: Callable[[_S], _R], spec: _S) -> tuple[_R, float]:
    start = time.perf_counter()
    result = run(spec)
    return result, time.perf_counter() - start


def _worker_init() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    library = ctypes.util.find_library("c")
    if library is None:
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(library, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


class _Outcomes(Generic[_R]):
    """What the pool's result thread hands the caller: (index, result and seconds, error)."""

    def __init__(self) -> None:
        self.queue: queue.SimpleQueue[tuple[int, tuple[_R, float] | None, BaseException | None]]
        self.queue = queue.SimpleQueue()

    def done(self, index: int) -> Callable[[tuple[_R, float]], None]:
        return lambda value: self.queue.put((index, value, None))

    def failed(self, index: int) -> Callable[[BaseException], None]:
        return lambda error: self.queue.put((index, None, error))

    def next(self) -> tuple[int, tuple[_R, float] | None, BaseException | None]:
        while True:
            try:
                return self.queue.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                continue


def run_all(
    specs: Sequence[_S],
    run: Callable[[_S], _R],
    *,
    jobs: int = 1,
    progress: RunProgress[_S] | None = None,
) -> list[_R]:
    """Every run, in `specs` order (`run` must be a module-level function when `jobs > 1`:
    it is pickled by reference). An exception a run raises, or one that interrupts the wait,
    propagates after every worker has stopped."""
    if jobs <= 1 or len(specs) <= 1:
        results = []
        for spec in specs:
            if progress is not None:
                progress.running([spec])
            result, seconds = _timed(run, spec)
            if progress is not None:
                progress.finished(spec, seconds)
            results.append(result)
        return results
    workers = min(jobs, len(specs))
    outcomes: _Outcomes[_R] = _Outcomes()
    finished: dict[int, _R] = {}
    unfinished = list(range(len(specs)))
    pool = multiprocessing.get_context().Pool(workers, initializer=_worker_init)
    try:
        for index, spec in enumerate(specs):
            pool.apply_async(
                _timed,
                (run, spec),
                callback=outcomes.done(index),
                error_callback=outcomes.failed(index),
            )
        if progress is not None:
            progress.running([specs[i] for i in unfinished[:workers]])
        while unfinished:
            index, value, error = outcomes.next()
            if error is not None:
                raise error
            assert value is not None
            finished[index], seconds = value
            unfinished.remove(index)
            if progress is not None:
                progress.finished(specs[index], seconds)
                progress.running([specs[i] for i in unfinished[:workers]])
        pool.close()
        pool.join()
    except BaseException:
        pool.terminate()  # SIGTERM to every worker, then joins them
        raise
    return [finished[index] for index in range(len(specs))]
