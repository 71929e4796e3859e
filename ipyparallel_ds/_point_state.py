"""One point's state during a sweep, and what its runs say: when it is warm, how many loops
a run needs, when its share of a time budget is used. Bookkeeping of numbers;
:mod:`ipyparallel_ds.sweep` does the calling."""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
    stopped_by: str = ""  # why its rounds stopped (see ConfigTiming.stopped_by)
    share_end: float = float("inf")  # with a budget: the clock time its rounds should end by

    def last_run(self) -> float:
        """Seconds of its latest call (a timed run, else the first call)."""
        return self.runs[-1] if self.runs else self.first_call

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
            stopped_by=self.stopped_by,
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


class Budget:
    """The sweep's time budget (``--budget``), in seconds of ``clock`` from its creation;
    ``seconds=None`` means no limit, and then nothing here changes the sweep."""

    def __init__(self, seconds: float | None, clock: Callable[[], float]) -> None:
        self.seconds, self.clock = seconds, clock
        self.started = clock()

    def order(self, states: Sequence[PointState], indexes: list[int]) -> list[int]:
        """With a budget, each backend's point with the most workers first (does parallel
        pay off, and by how much at most), then the rest from the fewest workers up."""
        if self.seconds is None:
            return indexes

        def rank(index: int) -> tuple[int, int, int]:
            state = states[index]
            most = max(s.workers for s in states if s.point.backend == state.point.backend)
            return (0 if state.workers == most else 1, state.workers, index)

        return sorted(indexes, key=rank)

    def share(self, state: PointState, points_left: int) -> None:
        """Give a point an equal share of the time left to it and the ``points_left - 1``
        after it (a point that settles early leaves the rest of its share to later ones)."""
        if self.seconds is None:
            return
        now = self.clock()
        left = max(self.started + self.seconds - now, 0.0)
        state.share_end = now + left / max(points_left, 1)

    def out_of_time(self, state: PointState, paired_with: PointState | None) -> bool:
        """Whether another round of the point (its latest run, and the baseline's when its
        runs are paired) would end after its share."""
        cost = state.last_run() + (paired_with.last_run() if paired_with else 0.0)
        return self.clock() + cost > state.share_end

    def used(self) -> float:
        """Seconds since the sweep started."""
        return self.clock() - self.started
