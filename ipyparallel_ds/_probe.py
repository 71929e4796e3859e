"""A short probe of the machine, for predictions made from a serial run alone.

When no parallel value of a backend was measured, the prediction still needs two figures that
only a parallel run shows: how much longer the tasks take when every usable core runs one
(shared caches, memory bandwidth, the kernel sending tasks, other programs: it depends on the
tasks, so the probe runs the statement's own), and what joblib's round trip of one task costs
on that backend with the task's own arguments. :func:`probe` runs copies of a spread of the
statement's tasks (short and long ones, in the call's order) on all the workers at once, each
timed where it ran, about a second in all, and compares their work with the same tasks' work
in the serial run; a task that cannot be copied or sent is replaced by a task of the probe's
own (sorting arrays, which releases the GIL, so thread backends are probed too). joblib's
pool is left as the sweep's caller restores it.

Running a task again runs its code again: the statement itself runs many times in a sweep,
and the copies' results are dropped.
"""

from __future__ import annotations

import heapq
import math
import pickle
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

from ._sampling import SAMPLER_PREFIX
from .backends import traits
from .stats import median

__all__ = ["Probe", "choose", "probe"]

# The probe's own task: sort this many floats (a core's cache holds them), this many times:
# about 30 ms on a laptop core.
_SIZE = 20_000
_SORTS = 300
_SECONDS = 1.0  # about how long the copies may run (their serial work over the workers)
_MAX_ROUNDS = 8  # times the chosen tasks are sent through joblib to process workers
_MAX_THREAD_ROUNDS = 40  # runs of its copy by each thread
LONGEST_TASK = 0.25  # a task longer than this (seconds, serial) is not run again


@dataclass(frozen=True)
class Probe:
    """What the probe measured on one backend with ``workers`` workers.

    ``slowdown`` is the work of the copies while every worker ran one, over the same tasks'
    work in the serial run (``solo`` is their mean serial seconds, ``copies`` how many ran);
    ``round_trip`` the seconds per task beyond the tasks' own durations that joblib took, per
    worker (dispatch, transfer of the task and its result); ``task`` says which tasks ran:
    ``"statement"`` or ``"probe"``.
    """

    backend: str
    workers: int
    slowdown: float
    round_trip: float
    solo: float
    task: str
    copies: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def choose(serial: list[float], workers: int, seconds: float = _SECONDS) -> list[int]:
    """Which of a call's tasks (their serial seconds, in call order) the probe runs again:
    all those up to :data:`LONGEST_TASK` when their work fits in ``seconds`` on ``workers``
    workers, else as many as fit (at least one per worker), spread evenly over their
    durations from the shortest to the longest; in call order."""
    eligible = sorted((d, i) for i, d in enumerate(serial) if 0 < d <= LONGEST_TASK)
    if not eligible:
        return []
    budget = seconds * max(workers, 1)
    if math.fsum(d for d, _ in eligible) <= budget:
        return sorted(i for _, i in eligible)
    mean = math.fsum(d for d, _ in eligible) / len(eligible)
    count = min(len(eligible), max(workers, int(budget / mean) // workers * workers))
    step = len(eligible) / count
    return sorted(eligible[int((k + 0.5) * step)][1] for k in range(count))


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


def _copies(tasks: list[tuple], count: int) -> list[tuple]:
    """``count`` pickled copies of the tasks, in turn, for thread workers, which would
    otherwise share (and change) the user's objects."""
    try:
        from cloudpickle import dumps
    except ImportError:
        dumps = pickle.dumps
    data = [dumps(task) for task in tasks]
    return [pickle.loads(data[i % len(data)]) for i in range(count)]


def _busy(durations: list[float], workers: int) -> float:
    """Seconds the workers need for these durations sent one at a time, in order, each to
    the first free worker, with nothing else to do."""
    free = [0.0] * workers
    for seconds in durations:
        heapq.heapreplace(free, free[0] + seconds)
    return max(free)


def _round_trip(durations: list[float], wall: float, workers: int) -> float:
    """Seconds per task beyond the tasks themselves, per worker: the wall time the workers
    were not running a task, per task each ran."""
    return max(wall - _busy(durations, workers), 0.0) * workers / len(durations)


def _rounds(work: float, workers: int, most: int) -> int:
    """Times to run tasks of ``work`` serial seconds so that all of it lasts about
    :data:`_SECONDS` on ``workers`` workers."""
    return max(1, min(most, round(_SECONDS * workers / work)))


def _in_threads(tasks: list[tuple], serial: list[float], workers: int) -> tuple[list, list]:
    """Each of ``workers`` threads runs its own copy of one of the tasks again and again, all
    at once, as thread workers share the statement's objects (so each copy's memory is warm
    after its first run, which is not counted); the durations, and the serial seconds of the
    same tasks. The threads' tasks are spread over the durations, as :func:`choose` spreads
    them. Raises what a copy raised."""
    order = sorted(range(len(tasks)), key=serial.__getitem__)
    picked = [order[int((k + 0.5) * len(order) / workers)] for k in range(workers)]
    tasks, serial = [tasks[i] for i in picked], [serial[i] for i in picked]
    copies = _copies(tasks, workers)
    runs = _rounds(math.fsum(serial) / len(serial), 1, _MAX_THREAD_ROUNDS) + 1
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
    kept = [(d, serial[i % len(serial)]) for i, own in enumerate(durations) for d in own[1:]]
    return [d for d, _ in kept], [s for _, s in kept]


def _in_processes(run, tasks: list[tuple], serial: list[float], workers: int):
    """The tasks sent through joblib in their order, a few times over, after a round of the
    shortest that loads in each worker what the tasks need (imports, data); the durations,
    the serial seconds of the same tasks, and the wall time."""
    from joblib import delayed

    rounds = _rounds(math.fsum(serial), workers, _MAX_ROUNDS)
    shortest = tasks[serial.index(min(serial))]
    run(delayed(_run_task)(*shortest) for _ in range(workers))
    start = time.perf_counter()
    durations = run(delayed(_run_task)(*task) for _ in range(rounds) for task in tasks)
    return durations, serial * rounds, time.perf_counter() - start


def _round_trip_of_nothing(run, workers: int) -> float:
    """Seconds joblib takes per empty task and worker."""
    from joblib import delayed

    count = 16 * workers
    start = time.perf_counter()
    run(delayed(_nothing)() for _ in range(count))
    return (time.perf_counter() - start) * workers / count


def probe(backend: str, workers: int, tasks: list[tuple] = (), serial: list[float] = ()) -> Probe:
    """Run copies of ``tasks`` (each ``(func, args, kwargs)``, which took ``serial`` seconds
    in the serial run; see :func:`choose`) on ``workers`` workers of ``backend`` at once;
    without tasks, or when they cannot be copied, sent or run again, the probe's own."""
    from joblib import Parallel, delayed, parallel_config

    tasks, serial = list(tasks), [float(s) for s in serial]
    with parallel_config(backend=backend, n_jobs=workers):
        run = Parallel(batch_size=1)
        run(delayed(_nothing)() for _ in range(workers))  # the pool starts outside the figures
        if tasks and len(serial) == len(tasks) and min(serial) > 0:
            try:
                if traits(backend).uses_threads:
                    durations, alone = _in_threads(tasks, serial, workers)
                    round_trip = _round_trip_of_nothing(run, workers)
                else:
                    durations, alone, wall = _in_processes(run, tasks, serial, workers)
                    round_trip = _round_trip(durations, wall, workers)
                slowdown = math.fsum(durations) / math.fsum(alone)
                solo = math.fsum(alone) / len(alone)
                return Probe(
                    backend, workers, slowdown, round_trip, solo, "statement", len(durations)
                )
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
        count,
    )


def _nothing() -> Any:
    return None
