"""A short probe of the machine, for predictions made from a serial run alone.

When no parallel value of a backend was measured, the prediction still needs two figures that
only a parallel run shows: how much longer a task takes when every usable core runs one
(shared caches, memory bandwidth, other programs: it depends on the task, so the probe runs
the statement's own), and what joblib's round trip of one task costs on that backend with the
task's own arguments. :func:`probe` runs copies of one of the statement's tasks on all the
workers at once, each timed where it ran, about a second in all; a task that cannot be copied
or sent is replaced by a task of the probe's own (sorting arrays, which releases the GIL, so
thread backends are probed too). joblib's pool is left as the sweep's caller restores it.

Running a task again runs its code again: the statement itself runs many times in a sweep,
and the copies' results are dropped.
"""

from __future__ import annotations

import math
import pickle
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

from ._sampling import SAMPLER_PREFIX
from .backends import traits
from .stats import median

__all__ = ["Probe", "probe"]

# The probe's own task: sort this many floats (a core's cache holds them), this many times:
# about 30 ms on a laptop core.
_SIZE = 20_000
_SORTS = 300
_SECONDS = 1.0  # about how long the copies of a task may run, in rounds of one per worker
_MAX_ROUNDS = 8  # rounds of copies sent through joblib to process workers
_MAX_THREAD_ROUNDS = 40  # runs of its copy by each thread


@dataclass(frozen=True)
class Probe:
    """What the probe measured on one backend with ``workers`` workers.

    ``slowdown`` is the median duration of a task while every worker ran one, over its
    duration in the serial run (``solo``); ``round_trip`` the seconds per task beyond the
    tasks' own durations that joblib took, per worker (dispatch, transfer of the task and its
    result); ``task`` says which task ran: ``"statement"`` or ``"probe"``.
    """

    backend: str
    workers: int
    slowdown: float
    round_trip: float
    solo: float
    task: str

    def to_dict(self) -> dict:
        return asdict(self)


def _sorting_task(seed: int) -> float:
    """The probe's own task; returns the seconds it took where it ran."""
    import numpy as np

    values = np.random.default_rng(seed).random(_SIZE)
    start = time.perf_counter()
    for _ in range(_SORTS):
        np.sort(values)
    return time.perf_counter() - start


def _run_task(func, args, kwargs) -> float:
    """Run one task where it was sent; returns its seconds (the result is dropped)."""
    start = time.perf_counter()
    func(*args, **kwargs)
    return time.perf_counter() - start


def _copies(task: tuple, count: int, threads: bool) -> list[tuple]:
    """``count`` copies of a task: pickled copies for thread workers, which would otherwise
    share (and change) the user's objects; the task itself for process workers, which get
    their own copy from joblib."""
    if not threads:
        return [task] * count
    try:
        from cloudpickle import dumps
    except ImportError:
        dumps = pickle.dumps
    data = dumps(task)
    return [pickle.loads(data) for _ in range(count)]


def _round_trip(durations: list[float], wall: float, workers: int) -> float:
    """Seconds per task beyond the tasks themselves, per worker: the wall time the workers
    were not running a task (whole rounds of copies keep them all busy), per task each ran."""
    busy = max(math.fsum(durations) / workers, max(durations))
    return max(wall - busy, 0.0) * workers / len(durations)


def _rounds(serial: float, most: int) -> int:
    return max(1, min(most, int(_SECONDS / (serial * 1.5))))


def _in_threads(task: tuple, workers: int, serial: float) -> list[float]:
    """Each of ``workers`` threads runs its own copy of the task again and again, all at
    once, as thread workers share the statement's objects (so each copy's memory is warm
    after its first run, which is not counted). Raises what a copy raised."""
    copies = _copies(task, workers, threads=True)
    runs = _rounds(serial, _MAX_THREAD_ROUNDS) + 1
    start = threading.Barrier(workers)
    durations: list[list[float]] = [[] for _ in range(workers)]
    errors: list[BaseException] = []
    stop = threading.Event()

    def work(index: int) -> None:
        try:
            start.wait()
            for _ in range(runs):
                if stop.is_set():
                    return
                durations[index].append(_run_task(*copies[index]))
        except BaseException as error:  # handed to the kernel's thread below
            errors.append(error)
            start.abort()

    threads = [
        threading.Thread(target=work, args=(i,), name=f"{SAMPLER_PREFIX}probe-{i}", daemon=True)
        for i in range(workers)
    ]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    finally:  # Ctrl-C while they run: they stop after their current run
        stop.set()
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
    return [d for own in durations for d in own[1:]]


def _in_processes(run, task: tuple, workers: int, serial: float) -> tuple[list[float], float]:
    """Copies of the task sent through joblib, a round per worker at a time, after a round
    that loads in each worker what the task needs (imports, data); with the wall time."""
    from joblib import delayed

    rounds = _rounds(serial, _MAX_ROUNDS)
    run(delayed(_run_task)(*task) for _ in range(workers))
    start = time.perf_counter()
    durations = run(delayed(_run_task)(*task) for _ in range(workers * rounds))
    return durations, time.perf_counter() - start


def _round_trip_of_nothing(run, workers: int) -> float:
    """Seconds joblib takes per empty task and worker."""
    from joblib import delayed

    count = 16 * workers
    start = time.perf_counter()
    run(delayed(_nothing)() for _ in range(count))
    return (time.perf_counter() - start) * workers / count


def probe(backend: str, workers: int, task: tuple | None = None, serial: float = math.nan) -> Probe:
    """Run copies of ``task`` (``(func, args, kwargs)``, which took ``serial`` seconds in the
    serial run) on ``workers`` workers of ``backend`` at once; without a task, or when it
    cannot be copied, sent or run again, the probe's own."""
    from joblib import Parallel, delayed, parallel_config

    threads = traits(backend).uses_threads
    with parallel_config(backend=backend, n_jobs=workers):
        run = Parallel(batch_size=1)
        run(delayed(_nothing)() for _ in range(workers))  # the pool starts outside the figures
        if task is not None and serial > 0:
            try:
                if threads:
                    durations = _in_threads(task, workers, serial)
                    round_trip = _round_trip_of_nothing(run, workers)
                else:
                    durations, wall = _in_processes(run, task, workers, serial)
                    round_trip = _round_trip(durations, wall, workers)
                slowdown = median(durations) / serial
                return Probe(backend, workers, slowdown, round_trip, serial, "statement")
            except Exception:  # not picklable, or it fails when run again: the probe's own
                pass
        solo = median([_sorting_task(seed) for seed in range(3)])
        count = workers * 4
        start = time.perf_counter()
        durations = run(delayed(_sorting_task)(seed) for seed in range(count))
        wall = time.perf_counter() - start
    return Probe(
        backend,
        workers,
        median(durations) / solo,
        _round_trip(durations, wall, workers),
        solo,
        "probe",
    )


def _nothing() -> Any:
    return None
