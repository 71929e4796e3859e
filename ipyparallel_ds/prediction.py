"""Predict the statement's time at any number of workers from the tasks it was seen to run.

Pure functions of measured data; nothing here runs or times anything.

A statement's time is the time outside its joblib calls plus, for each call, how long joblib
takes to run the call's tasks on the workers. :func:`simulate` replays joblib's dispatch of the
measured task durations onto ``p`` workers: tasks in their order, ``2 * n_jobs`` dispatched
ahead, and the automatic batching of the process backends, each batch paying a round trip.
The durations come from the measured value closest below ``p``; how much slower a task gets
when more workers share the machine comes from the measured values (durations timed inside
the workers), or from the probe (:mod:`._probe`) when only the serial value was measured.

``limit`` is what the task structure alone allows: the same dispatch with no overhead and no
slowdown, so no prediction is ever above it.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .backends import SERIAL, traits
from .timing import SEQUENTIAL_FALLBACK

if TYPE_CHECKING:
    from .timing import ConfigTiming, ParallelCall

__all__ = [
    "Prediction",
    "default_predict_workers",
    "parallel_backend",
    "predict",
    "predict_result",
    "rounds_limit",
    "simulate",
]

# joblib's automatic batching (AutoBatchingMixin): batches are grown until they last this long.
MIN_IDEAL_BATCH = 0.2
MAX_IDEAL_BATCH = 2.0
# Threads of a serial run below this are one thread (sampling noise, the kernel waking up).
ONE_THREAD = 1.15


@dataclass(frozen=True)
class Prediction:
    """The predicted time of one call of the statement with ``workers`` workers.

    Attributes
    ----------
    workers : int
    time : float
        Warm seconds per call of the statement.
    speedup : float
        Against the measured serial warm median.
    limit : float
        The best speedup the measured tasks allow at ``workers``: joblib's dispatch of the
        serial durations with no overhead and no slowdown.
    based_on : str
        What the prediction was made from, in words.
    """

    workers: int
    time: float
    speedup: float
    limit: float
    based_on: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "workers": self.workers,
            "time": self.time,
            "speedup": self.speedup,
            "limit": self.limit,
            "based_on": self.based_on,
        }


def parallel_backend(name: str, configs: Sequence[ConfigTiming]) -> str:
    """The backend a call would use with several workers: its own, or for a call joblib
    named sequential (it ran with one worker), the measured values' backend (loky, joblib's
    default, when none was named)."""
    if name != SEQUENTIAL_FALLBACK:
        return name
    named = [c.backend for c in configs if c.backend and c.backend not in (SERIAL, "")]
    return named[-1] if named else "loky"


def default_predict_workers(usable: int) -> tuple[int, ...]:
    """Worker counts predicted by default: 1 to four times the usable cores (every count up to
    16, then doubling, with the multiples of the cores)."""
    top = 4 * max(usable, 1)
    counts = set(range(1, min(top, 16) + 1))
    p = 16
    while p < top:
        p *= 2
        counts.add(min(p, top))
    counts.update(k * usable for k in range(1, 5))
    return tuple(sorted(counts))


def rounds_limit(tasks: int, workers: int) -> float:
    """The speedup ``k`` equal tasks allow on ``p`` workers: ``k / ceil(k / p)``."""
    return tasks / math.ceil(tasks / max(workers, 1)) if tasks else 1.0


def _batch_size(size: int, smoothed: float | None) -> int:
    """joblib's next batch size from the smoothed duration of the current size's batches."""
    if smoothed is None:
        return size
    if 0 < smoothed < MIN_IDEAL_BATCH:
        ideal = int(size * MIN_IDEAL_BATCH / smoothed) * 2
        return max(min(2 * size, ideal), 1)
    if smoothed > MAX_IDEAL_BATCH and size >= 2:
        return max(2 * int(size * MIN_IDEAL_BATCH / smoothed), 1)
    return size


def simulate(
    durations: Sequence[float], workers: int, overhead: float = 0.0, batching: bool = True
) -> tuple[float, int]:
    """Seconds joblib takes to run tasks of these durations on ``workers`` workers, and the
    number of batches it sends.

    Batches are queued in order and taken by the first free worker; ``2 * workers`` tasks are
    dispatched at the start and one batch more each time one completes. With ``batching``
    (loky, multiprocessing, dask), the batch size doubles while batches last under 0.2 s,
    as joblib's automatic batching does, and the last tasks go in small batches. Each batch
    costs ``overhead`` seconds on its worker.
    """
    n = len(durations)
    if n == 0:
        return 0.0, 0
    workers = max(int(workers), 1)
    prefix = [0.0]
    for d in durations:
        prefix.append(prefix[-1] + d)
    queue: deque[tuple[float, int, int]] = deque()  # (dispatched at, first task, size)
    state = {"next": 0, "size": 1, "smoothed": None}

    def dispatch(at: float) -> None:
        first = state["next"]
        if first >= n:
            return
        if batching:
            new = _batch_size(state["size"], state["smoothed"])
            if new != state["size"]:
                state["size"], state["smoothed"] = new, None
        size = state["size"]
        remaining = n - first
        if batching and remaining < size * workers:
            size = max(1, remaining // (10 * workers))
        size = min(size, remaining)
        queue.append((at, first, size))
        state["next"] = first + size

    for _ in range(min(2 * workers, n)):
        dispatch(0.0)
    free = [0.0] * workers  # when each worker is next free (a heap)
    completions: list[tuple[float, float, int]] = []  # (end, dispatched at, size), a heap
    end_all, batches = 0.0, 0

    def complete() -> None:
        end, at, size = heapq.heappop(completions)
        if size == state["size"]:  # joblib smooths the durations of the current size only
            took, old = end - at, state["smoothed"]
            state["smoothed"] = took if old is None else 0.8 * old + 0.2 * took
        dispatch(end)

    while queue or (completions and state["next"] < n):
        if not queue:
            complete()
            continue
        at, first, size = queue[0]
        start = max(free[0], at)
        while completions and completions[0][0] <= start:
            complete()
        queue.popleft()
        end = start + overhead + prefix[first + size] - prefix[first]
        heapq.heapreplace(free, end)
        heapq.heappush(completions, (end, at, size))
        end_all = max(end_all, end)
        batches += 1
    return end_all, batches


# -- the model --------------------------------------------------------------------------------
def _serial_threads(base: ConfigTiming, usable: int) -> float:
    """Cores one task kept busy in the serial run (its library's threads), at least 1."""
    threads = base.runnable_threads
    if math.isnan(threads) or threads < ONE_THREAD:
        return 1.0
    return min(threads, float(usable))


def _threads_per_task(serial: float, workers: int, cores: int) -> float:
    """Cores each of ``workers`` tasks can use on ``cores`` cores: joblib gives each worker
    ``cores // workers`` threads, and a task uses no more than it did alone."""
    return min(serial, float(max(cores // max(workers, 1), 1)))


def _reference(line: Sequence[ConfigTiming], workers: int) -> ConfigTiming | None:
    """The measured parallel value with the most workers up to ``workers`` whose tasks were
    timed in its workers, if any."""
    candidates = [
        c
        for c in line
        if 1 < c.workers <= workers and c.timings and c.tasks and all(t.timed for t in c.tasks)
    ]
    return max(candidates, key=lambda c: c.workers, default=None)


def predict_result(result: Any, workers: int, backend: str | None) -> Prediction | None:
    """:func:`predict` for one backend's line of a result (default: the line of its
    recommended parallel value); a backend that was not measured is a ValueError."""
    lines = result.lines()
    if backend is None:
        chosen = result.parallel_choice()
        backend = chosen.backend if chosen is not None else next(iter(lines))
    if backend not in lines:
        raise ValueError(f"backend {backend!r} was not measured; measured: {list(lines)}")
    usable = result.environment.get("cores", {}).get("usable", 1)
    return predict(lines[backend], result.baseline, workers, usable, result.probes)


def predict(
    line: Sequence[ConfigTiming],
    base: ConfigTiming,
    workers: int,
    usable: int,
    probes: dict[str, dict],
) -> Prediction | None:
    """Predict ``workers`` workers from one backend's measured ``line`` and its serial
    ``base``, on a machine with ``max(workers, usable)`` cores; None when the serial run's
    tasks were not timed (no joblib call, or not observed)."""
    if not base.timings or math.isnan(base.outside_calls):
        return None
    serial = base.median
    calls = list(base.tasks)
    if not calls:
        return Prediction(
            workers,
            serial,
            1.0,
            1.0,
            "the statement made no joblib call, so n_jobs cannot change its time",
        )
    if not all(c.timed for c in calls):
        return None
    cores = max(workers, usable)
    threads = _serial_threads(base, usable)
    ref = _reference(line, workers)
    matched = ref is not None and [(t.backend, t.tasks) for t in ref.tasks] == [
        (t.backend, t.tasks) for t in calls
    ]
    if not matched:
        ref = None
    outside = base.outside_calls if ref is None else ref.outside_calls
    # The limit: the serial run's tasks dispatched with no overhead and no slowdown, against
    # the same tasks one after the other (both with the time outside the calls).
    total, bound, alone = outside, base.outside_calls, base.outside_calls
    used_probes = set()
    for index, call in enumerate(calls):
        measured = ref.tasks[index] if ref is not None else None
        p = workers if measured is None else _followed(measured, ref.workers, workers)
        alone += call.work
        bound += call.work if p <= 1 else simulate(call.durations, p, batching=False)[0]
        if p <= 1:
            total += call.wall
            continue
        backend = parallel_backend(call.backend, line)
        batching = not traits(backend).uses_threads
        if measured is not None:
            scale = _threads_per_task(threads, ref.workers, usable) / _threads_per_task(
                threads, p, cores
            )
            durations = [d * scale for d in measured.durations]
            ideal, count = simulate(measured.durations, measured.n_jobs, 0.0, batching)
            overhead = max(measured.wall - ideal, 0.0) * measured.n_jobs / max(count, 1)
        else:
            probe = probes.get(backend)
            slowdown, overhead, own_task = 1.0, 0.0, False
            if probe:
                used_probes.add(backend)
                share = (min(p, probe["workers"]) - 1) / max(probe["workers"] - 1, 1)
                slowdown = 1.0 + (probe["slowdown"] - 1.0) * share
                overhead = probe["round_trip"]
                own_task = probe.get("task") == "statement"
            if batching and not own_task and not math.isnan(call.transfer):
                overhead += 2 * call.transfer  # the task out, its arguments unpickled
            scale = slowdown * threads / _threads_per_task(threads, p, cores)
            durations = [d * scale for d in call.durations]
        total += simulate(durations, p, overhead, batching)[0]
    limit = alone / bound if bound > 0 else math.inf
    time = max(total, serial / limit)
    return Prediction(workers, time, serial / time, limit, _based_on(ref, used_probes, probes))


def _followed(measured: ParallelCall, measured_at: int, workers: int) -> int:
    """The call's workers at ``workers``: as many as asked when the call's n_jobs followed
    the measured value's, else the n_jobs it kept."""
    if measured.n_jobs == measured_at:
        return workers
    return max(measured.n_jobs, 1)


def _based_on(ref: ConfigTiming | None, used: set[str], probes: dict[str, dict]) -> str:
    if ref is not None:
        return f"the task durations measured in the workers at {ref.name}"
    text = "the task durations of the serial run"
    if used:
        parts = [
            f"{name}: {_probe_task(probes[name])} {probes[name]['slowdown']:.2f}× as long "
            f"with {probes[name]['workers']} at once"
            for name in sorted(used)
        ]
        text += f", and a probe ({'; '.join(parts)})"
    return text


def _probe_task(probe: dict) -> str:
    return "the statement's own tasks" if probe.get("task") == "statement" else "a probe task"
