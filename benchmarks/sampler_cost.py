"""Benchmark 8: what the tool's own observation does to the speedup it reports.

On the seed statement (digits, ``SVC()``, ``cv=20``, n_jobs 1 and 2), in one process,
alternating: a ``parcompare`` sweep with five timed runs per value (``repeat=5``; everything
it observes observed: tasks timed, threads counted, CPU read, memory sampled in first calls)
and the same five interleaved serial and n_jobs=2 calls timed with nothing but
``time.perf_counter`` (after one warm n_jobs=2 call). Both take the median of each value's
five runs. The figure is the median speedup of the first over the second, minus 1: whatever
watches the timed runs must not slow them. Two samplers did: memory sampled during the runs
(1.53× against 1.69× at 2197e0d), and the thread counter every 10 ms (2 to 3 % slower n_jobs=2
runs, now every 25 ms).

    python benchmarks/sampler_cost.py [ROUNDS]          # the figure alone, eight rounds
    python benchmarks/sampler_cost.py --parts [ROUNDS]  # which watcher costs what, 12 rounds
    python benchmarks/sampler_cost.py --parts 12 --every 0.010  # threads counted every 10 ms

``--parts`` (not in ``make bench``) runs, in each round, four sweeps each followed by the
bare calls: everything observed, no thread counter, no task timing (in the kernel and in
the workers), nothing of these observed; each sweep's speedup over the bare calls right
after it, minus 1, is paired by round.
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import time

from _common import Figure, log

from ipyparallel_ds import parcompare
from ipyparallel_ds.demo import SEED_SETUP, SEED_STATEMENT

RUNS = 5


def plain_speedup(call) -> float:
    """Median serial over median n_jobs=2 time of RUNS interleaved pairs of calls."""
    from joblib import parallel_config

    def timed(n_jobs: int) -> float:
        with parallel_config(n_jobs=n_jobs):
            start = time.perf_counter()
            call()
            return time.perf_counter() - start

    timed(2)  # the pool warm, as the sweep's first call leaves it
    serial, parallel = [], []
    for _ in range(RUNS):
        serial.append(timed(1))
        parallel.append(timed(2))
    return statistics.median(serial) / statistics.median(parallel)


def measure(rounds: int = 8) -> Figure:
    namespace: dict = {}
    exec(SEED_SETUP, namespace)
    call = eval(f"lambda: {SEED_STATEMENT}", namespace)
    speedups: dict[str, list[float]] = {"parcompare": [], "perf_counter": []}
    for index in range(rounds):
        result = parcompare(SEED_STATEMENT, SEED_SETUP, n_jobs=[1, 2], quiet=True, repeat=RUNS)
        speedups["parcompare"].append(result.configs[1].speedup)
        speedups["perf_counter"].append(plain_speedup(call))
        log(
            f"  round {index + 1}: parcompare {speedups['parcompare'][-1]:.3f}, "
            f"perf_counter {speedups['perf_counter'][-1]:.3f}"
        )
    observed = statistics.median(speedups["parcompare"])
    plain = statistics.median(speedups["perf_counter"])
    effect = observed / plain - 1
    return Figure(
        "observation's effect on the speedup: parcompare -r 5 / the same calls timed bare - 1",
        effect * 100,
        "%",
        "within ±3 %",
        abs(effect) <= 0.03,
        f"medians of {rounds} alternating rounds: {observed:.3f}× and {plain:.3f}×",
        details=speedups,
    )


@contextlib.contextmanager
def without(parts: set[str]):
    """The observer with the named watchers replaced by ones that watch nothing."""
    from ipyparallel_ds import _observe
    from ipyparallel_ds._threads import RunnableCounts

    class Idle:
        def __init__(self, **_) -> None:
            self.counts, self.cpu_time = RunnableCounts(), 0.0

        def __enter__(self):
            return self

        def __exit__(self, *_) -> None:
            return None

    saved = (
        _observe.RunnableSampler,
        _observe.Observer._times_tasks,
        _observe.recording_in_workers,
    )
    try:
        if "threads" in parts:
            _observe.RunnableSampler = Idle
        if "tasks" in parts:
            _observe.Observer._times_tasks = lambda self, backend: False
            _observe.recording_in_workers = lambda: contextlib.nullcontext(None)
        yield
    finally:
        (
            _observe.RunnableSampler,
            _observe.Observer._times_tasks,
            _observe.recording_in_workers,
        ) = saved


def parts(rounds: int = 12, every: float | None = None) -> None:
    from ipyparallel_ds import _threads

    if every is not None:  # the thread counter's interval, as it was or might be
        _threads.RUNNABLE_INTERVAL = every
    namespace: dict = {}
    exec(SEED_SETUP, namespace)
    call = eval(f"lambda: {SEED_STATEMENT}", namespace)
    variants = {
        "everything observed": set(),
        "no thread counter": {"threads"},
        "no task timing": {"tasks"},
        "neither": {"threads", "tasks"},
    }
    effects: dict[str, list[float]] = {name: [] for name in variants}
    for index in range(rounds):
        for name, off in variants.items():
            with without(off):
                result = parcompare(
                    SEED_STATEMENT, SEED_SETUP, n_jobs=[1, 2], quiet=True, repeat=RUNS
                )
            effects[name].append(result.configs[1].speedup / plain_speedup(call) - 1)
        log(f"  round {index + 1}: " + ", ".join(f"{n} {e[-1]:+.1%}" for n, e in effects.items()))
    for name, values in effects.items():
        error = statistics.stdev(values) / len(values) ** 0.5
        print(
            f"{name:20s} against the bare calls: median {statistics.median(values):+.1%}, "
            f"mean {statistics.fmean(values):+.1%} (standard error {error:.1%})"
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--parts":
        every = float(sys.argv[sys.argv.index("--every") + 1]) if "--every" in sys.argv else None
        rounds = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2] != "--every" else 12
        parts(rounds, every)
    else:
        print(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 8).line())
