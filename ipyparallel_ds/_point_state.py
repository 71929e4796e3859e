"""One point's state during a sweep, and what its runs say: when it is warm, how many loops
a run needs. Pure bookkeeping of numbers; :mod:`ipyparallel_ds.sweep` does the calling."""

from __future__ import annotations

from dataclasses import dataclass

from ._points import Point
from .timer import Timer
from .timing import ConfigTiming

MIN_RUN_SECONDS = 0.2  # as %timeit: one timed run lasts at least this long
# A run is still warming up while the next run of its point is more than 10 % faster. A fresh
# loky pool's second call was within 6 % of its warm median in 8 of 8 fresh processes
# (benchmarks/estimators.py), so warm-up costs no call of its own; at most five runs move.
MAX_WARMUP_CALLS = 5
WARM_TOLERANCE = 0.10


@dataclass
class PointState:
    point: Point
    workers: int
    first_call: float = float("nan")
    startup: float = float("nan")
    warmup: list[float] | None = None
    settled: bool = True
    loops: int = 0
    runs: list[float] | None = None
    paired: list[float] | None = None
    warm: bool = False  # whether its runs are past warm-up
    calibrated: bool = True  # False: loops=1 until the first timed run shows it lasts
    interval: tuple[float, float] | None = None  # the speedup's, once its rounds stopped

    def timing(self) -> ConfigTiming:
        return ConfigTiming(
            n_jobs=self.point.n_jobs,
            workers=self.workers,
            backend=self.point.backend,
            cluster_startup=self.startup,
            first_call=self.first_call,
            loops=self.loops,
            all_runs=tuple(self.runs or ()),
            warmup_calls=tuple(self.warmup or ()),
            warm_settled=self.settled,
            paired_baseline=tuple(self.paired or ()),
        )


def improved(current: float, previous: float) -> bool:
    return current < (1.0 - WARM_TOLERANCE) * previous


def calibrate_loops(timer: Timer, point: Point, last_single_call: float, number: int) -> int:
    """Loops per run: as given, or as %timeit chooses (first power of ten lasting 0.2 s)."""
    if number:
        return number
    if last_single_call >= MIN_RUN_SECONDS:
        return 1
    for exponent in range(1, 10):
        loops = 10**exponent
        if timer(point, loops) >= MIN_RUN_SECONDS:
            return loops
    return loops
