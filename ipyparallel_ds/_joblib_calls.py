"""Every ``joblib.Parallel`` call the statement makes: in the kernel, and inside the worker
processes (loky's, multiprocessing's and a cluster's).

:func:`counting_calls` records the calls made in the kernel while the sweep runs; calls made by
the tasks inside the workers (a forest's own ``n_jobs`` inside ``cross_val_score``) happen out
of the kernel's sight. During a sweep, every loky and multiprocessing worker pool is started with
:func:`install` as its initializer: each worker then appends one line per ``Parallel`` call
(backend, effective n_jobs, depth) to a file of its own, which :class:`WorkerCalls` reads
after every timed run.

The initializer is part of loky's reuse key, so the user's next parallel call after the sweep
starts a fresh pool without it (multiprocessing's pools last one call). A worker that outlives
the folder just stops recording.

A cluster's workers (dask, ipyparallel) may run on other machines: :class:`ClusterCalls` has
them keep their calls in memory, fetches them through the runner after every timed run, and
puts joblib back in them at the end.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from . import _tasks
from ._tasks import KernelTasks
from .backends import backend_name

__all__ = [
    "CallRecord",
    "ClusterCalls",
    "TaskTime",
    "WorkerCall",
    "WorkerCalls",
    "counting_calls",
    "held_calls",
    "hold_calls",
    "install",
    "recording_in_workers",
    "release_calls",
]


@dataclass
class CallRecord:
    """One ``joblib.Parallel`` call made in the kernel."""

    backend: str
    n_jobs: int
    depth: int  # 0 for a top-level call, 1+ when made inside another Parallel call
    # Set for the calls whose tasks were timed (see ipyparallel_ds._tasks): the id the tasks
    # carry, how many there were, the seconds the call took in the kernel, and the seconds
    # pickling its first task took (NaN when not measured).
    call_id: str = ""
    tasks: int = 0
    wall: float = math.nan
    transfer: float = math.nan
    samples: list | None = None  # the tasks of a serial first call: (func, args, kwargs)


@dataclass(frozen=True)
class WorkerCall:
    """One ``joblib.Parallel`` call made inside a worker process."""

    pid: int
    backend: str
    n_jobs: int
    depth: int  # 0 for a call a task made directly, 1+ inside another call in that worker


@dataclass(frozen=True)
class TaskTime:
    """The duration of one task, timed in the worker that ran it."""

    call_id: str
    index: int
    seconds: float


def _record_calls(write, tasks: KernelTasks | None = None) -> Any:
    """Wrap ``Parallel.__call__`` in this process so that every call first runs
    ``write(backend, effective n_jobs, depth)``; with ``tasks``, the tasks of a top-level call
    are timed and ``write``'s record gets the call's wall time. Returns the original, to put
    back."""
    from joblib.parallel import Parallel

    original = Parallel.__call__
    local = threading.local()

    def recorded(parallel, iterable):
        depth = getattr(local, "depth", 0)
        try:
            n_jobs = int(parallel._effective_n_jobs())
        except Exception:  # an invalid n_jobs: let joblib raise its own error
            n_jobs = -1
        backend = backend_name(parallel._backend)
        call = write(backend, n_jobs, depth)
        timed = tasks is not None and depth == 0
        if timed:
            iterable = tasks.wrap(call, backend, n_jobs, iterable)
        local.depth = depth + 1
        start = time.perf_counter()
        try:
            return original(parallel, iterable)
        finally:
            local.depth = depth
            if timed and call.call_id and not getattr(parallel, "return_generator", False):
                call.wall = time.perf_counter() - start

    Parallel.__call__ = recorded
    return original


@contextmanager
def counting_calls(records: list[CallRecord], tasks: KernelTasks | None = None) -> Iterator[None]:
    """Append every ``Parallel`` call this process makes in the block to ``records`` (with
    ``tasks``, timing the tasks of top-level calls); joblib is put back on every path."""
    from joblib.parallel import Parallel

    def write(*call) -> CallRecord:
        record = CallRecord(*call)
        records.append(record)
        return record

    original = _record_calls(write, tasks)
    if tasks is not None:
        _tasks.set_sink(tasks.record)
    try:
        yield
    finally:
        Parallel.__call__ = original
        _tasks.set_sink(None)


def install(folder: str) -> None:
    """Run in each new worker (a pool's initializer): record its ``Parallel`` calls in a file
    of its own."""
    path = os.path.join(folder, f"{os.getpid()}.calls")

    def line(text: str) -> None:
        try:
            with open(path, "a", encoding="ascii") as handle:
                handle.write(text)
        except OSError:  # the sweep is over and its folder is gone
            pass

    _record_calls(lambda backend, n_jobs, depth: line(f"{backend} {n_jobs} {depth}\n"))
    _tasks.set_sink(lambda call_id, index, seconds: line(f"T {call_id} {index} {seconds!r}\n"))


# -- in a cluster's workers, which may be on other machines: kept in memory, fetched ------------
# ("call", pid, backend, n_jobs, depth) or ("task", call_id, index, seconds)
_held: list[tuple] = []
_original: list[Any] = []  # the original Parallel.__call__ while recording


def hold_calls() -> bool:
    """Run in a cluster worker: keep its ``Parallel`` calls and the durations of the tasks
    it runs in memory (once per process)."""
    if not _original:
        _original.append(_record_calls(lambda *call: _held.append(("call", os.getpid(), *call))))
        _tasks.set_sink(lambda *task: _held.append(("task", *task)))
    return True


def held_calls() -> list[tuple]:
    """Run in a cluster worker: the calls and tasks kept since the last look, which are
    forgotten."""
    calls = list(_held)
    del _held[: len(calls)]
    return calls


def release_calls() -> bool:
    """Run in a cluster worker: stop keeping calls and put ``Parallel.__call__`` back."""
    from joblib.parallel import Parallel

    if _original:
        Parallel.__call__ = _original.pop()
        _tasks.set_sink(None)
    _held.clear()
    return True


class ClusterCalls:
    """The calls kept in a cluster's workers: ``runner.run_on_workers`` carries the functions
    above to every worker. :meth:`new` returns those since the last look; :meth:`release`
    leaves the workers as they were (a running cluster is the user's)."""

    def __init__(self, runner: Any) -> None:
        self.runner = runner
        self.tasks: list[TaskTime] = []
        # None: the cluster's workers are this kernel's processes, whose pools record their
        # calls from the start, as local pools do (a local Ray instance's actors).
        self.held = runner.run_on_workers(hold_calls) is not None

    def new(self) -> list[WorkerCall]:
        """The calls since the last look; the tasks' durations are added to ``tasks``."""
        calls = []
        for held in self.runner.run_on_workers(held_calls) or ():
            for kind, *fields in held:
                if kind == "call":
                    calls.append(WorkerCall(*fields))
                else:
                    self.tasks.append(TaskTime(*fields))
        return calls

    def release(self) -> None:
        self.runner.run_on_workers(release_calls)


class WorkerCalls:
    """The calls recorded in a folder; :meth:`new` returns those since the last look."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self._read: dict[str, int] = {}
        self.tasks: list[TaskTime] = []

    def new(self) -> list[WorkerCall]:
        calls = []
        for name in sorted(os.listdir(self.folder)):
            path = os.path.join(self.folder, name)
            try:
                with open(path, encoding="ascii") as handle:
                    handle.seek(self._read.get(name, 0))
                    text = handle.read()
            except OSError:
                continue
            whole = text[: text.rfind("\n") + 1]  # a line being written is read next time
            self._read[name] = self._read.get(name, 0) + len(whole)
            pid = int(name.split(".")[0])
            for line in whole.splitlines():
                if line.startswith("T "):
                    _, call_id, index, seconds = line.split()
                    self.tasks.append(TaskTime(call_id, int(index), float(seconds)))
                    continue
                backend, n_jobs, depth = line.split()
                calls.append(WorkerCall(pid, backend, int(n_jobs), int(depth)))
        return calls


def _with_initializer(original, folder: str):
    def configure(backend, *args, **kwargs):
        if "initializer" not in kwargs and "initializer" not in backend.backend_kwargs:
            kwargs.update(initializer=install, initargs=(folder,))
        return original(backend, *args, **kwargs)

    return configure


@contextmanager
def recording_in_workers() -> Iterator[WorkerCalls]:
    """Start every loky and multiprocessing pool of the block with :func:`install` (unless
    the code gives an initializer of its own); joblib is put back and the folder removed on
    every path."""
    from joblib._parallel_backends import LokyBackend, MultiprocessingBackend

    folder = tempfile.mkdtemp(prefix="parcompare-calls-")
    originals = {kind: kind.configure for kind in (LokyBackend, MultiprocessingBackend)}
    for kind, original in originals.items():
        kind.configure = _with_initializer(original, folder)
    try:
        yield WorkerCalls(folder)
    finally:
        for kind, original in originals.items():
            kind.configure = original
        shutil.rmtree(folder, ignore_errors=True)
