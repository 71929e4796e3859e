"""The tasks of each joblib call the statement makes: how many there were and how long each
took, measured in the process that ran it.

During a sweep the kernel's ``Parallel.__call__`` (see :mod:`._joblib_calls`) wraps every task
of a top-level call in a :class:`TimedTask` that carries the call's id and the task's index.
Wherever the task runs (the kernel at n_jobs=1, a thread of the kernel, a loky or
multiprocessing worker, a cluster's worker) it times itself and hands its result back
unchanged; the duration goes to that process's sink: a list in the kernel, a file per worker
process, or memory a cluster's worker keeps until it is fetched.

Only the kernel's thread that runs the statement has its calls wrapped, and only for backends
whose workers can unpickle a :class:`TimedTask` (the local ones, and a cluster whose workers
import this package); any other call runs exactly as the user wrote it.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from .stats import median
from .timing import ParallelCall

__all__ = ["KernelTasks", "TimedTask", "set_sink", "summarise", "transfer_seconds"]

# Where this process records a finished task: sink(call_id, index, seconds), or None.
_sink: list[Callable[[str, int, float], None] | None] = [None]
_ids = itertools.count()

# joblib hands numpy arrays larger than this to loky's workers as memory maps, not pickles
# (Parallel's max_nbytes default, "1M").
MEMMAP_BYTES = 1_000_000


def set_sink(sink: Callable[[str, int, float], None] | None) -> None:
    """Record this process's finished tasks with ``sink`` (None: stop recording)."""
    _sink[0] = sink


class TimedTask:
    """One task of a joblib call, timed where it runs; its result is the task's own."""

    __slots__ = ("call_id", "func", "index")

    def __init__(self, func: Callable[..., Any], call_id: str, index: int) -> None:
        self.func = func
        self.call_id = call_id
        self.index = index

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return self.func(*args, **kwargs)
        finally:
            sink = _sink[0]
            if sink is not None:
                sink(self.call_id, self.index, time.perf_counter() - start)

    def __getstate__(self):
        return (self.func, self.call_id, self.index)

    def __setstate__(self, state) -> None:
        self.func, self.call_id, self.index = state


def transfer_seconds(task: tuple) -> float:
    """Seconds to pickle one task (function, arguments) as a process backend sends it: with
    cloudpickle, leaving out the arrays joblib would pass as memory maps instead. NaN when it
    cannot be measured; never an error of the user's statement."""
    try:
        import io

        import numpy as np

        try:  # what loky pickles with when it is installed
            from cloudpickle import Pickler as Base
        except ImportError:
            from pickle import Pickler as Base

        class Pickler(Base):
            def reducer_override(self, obj):
                if isinstance(obj, np.ndarray) and obj.nbytes > MEMMAP_BYTES:
                    return np.empty, (0,)
                parent = getattr(super(), "reducer_override", None)
                return NotImplemented if parent is None else parent(obj)

        start = time.perf_counter()
        Pickler(io.BytesIO(), protocol=5).dump(task)
        return time.perf_counter() - start
    except Exception:  # something only joblib's own reducers can send: not measured
        return math.nan


class KernelTasks:
    """The kernel's side: wraps the tasks of top-level calls and keeps the durations of those
    that ran in the kernel (n_jobs=1, thread backends) by call id.

    ``allowed(backend)`` says whether a backend's workers can run a :class:`TimedTask`;
    ``measure_transfer`` (set around first calls) also times pickling the first task of each
    serial call, which the model adds per task on a process backend, and keeps the call's
    tasks in ``call.samples`` for the probe (:mod:`._probe`).
    """

    def __init__(self, allowed: Callable[[str], bool]) -> None:
        self.allowed = allowed
        self.thread = threading.get_ident()
        self.durations: dict[str, list[tuple[int, float]]] = {}
        self.measure_transfer = False

    def record(self, call_id: str, index: int, seconds: float) -> None:
        self.durations.setdefault(call_id, []).append((index, seconds))

    def wrap(self, call: Any, backend: str, n_jobs: int, iterable: Iterable) -> Iterable:
        """The call's tasks, each in a :class:`TimedTask`; ``call.call_id`` and ``call.tasks``
        are set as they are handed to joblib. Calls from another thread, or to a backend
        whose workers could not run them, are returned as they are."""
        if threading.get_ident() != self.thread or not self.allowed(backend):
            return iterable
        call.call_id = f"{os.getpid()}-{next(_ids)}"
        first_serial = self.measure_transfer and n_jobs == 1
        if first_serial:
            call.samples = []  # the tasks themselves, which the probe may run again

        def timed():
            for index, (func, args, kwargs) in enumerate(iterable):
                if first_serial:
                    if index == 0:
                        call.transfer = transfer_seconds((func, args, kwargs))
                    call.samples.append((func, args, kwargs))
                call.tasks = index + 1
                yield TimedTask(func, call.call_id, index), args, kwargs

        return list(timed()) if hasattr(iterable, "__len__") else timed()


def summarise(runs: list[tuple[float, int, list]]) -> tuple[tuple[ParallelCall, ...], float]:
    """The top-level calls of one statement call, and its seconds outside them, from the
    timed runs of a point.

    Each run is ``(seconds, loops, calls)``, ``calls`` holding ``(record, durations, where)``
    for every top-level call whose tasks were wrapped, ``durations`` mapping a task's index to
    its seconds. Calls are matched by their position in a call of the statement; where every
    call of the statement made the same calls with the same task counts, each task's duration
    (and each call's wall time) is the median over them, else the first call's are kept.
    """
    groups: list[list] = []
    outside: list[float] = []
    for seconds, loops, calls in runs:
        if not calls or len(calls) % loops:
            continue
        per = len(calls) // loops
        groups.extend(calls[i * per : (i + 1) * per] for i in range(loops))
        walls = math.fsum(record.wall for record, _, _ in calls)
        outside.append(max((seconds - walls) / loops, 0.0))

    def shape(group) -> tuple:
        return tuple((r.backend, r.n_jobs, r.tasks, len(d) == r.tasks) for r, d, _ in group)

    if not groups:
        return (), math.nan
    same = all(shape(g) == shape(groups[0]) for g in groups)
    kept = groups if same else groups[:1]
    summary = []
    for position, (record, _, where) in enumerate(groups[0]):
        timed = [g[position][1] for g in kept if len(g[position][1]) == record.tasks]
        durations = (
            tuple(median([d[i] for d in timed]) for i in range(record.tasks)) if timed else ()
        )
        summary.append(
            ParallelCall(
                backend=record.backend,
                n_jobs=record.n_jobs,
                tasks=record.tasks,
                durations=durations,
                wall=median([g[position][0].wall for g in kept]),
                where=where,
                transfer=record.transfer,
            )
        )
    return tuple(summary), median(outside) if outside else math.nan
