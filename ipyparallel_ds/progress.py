"""Where a running sweep is: the events a progress display receives, and the timer wrapper that
counts calls and sends them."""

from __future__ import annotations

import time
from dataclasses import dataclass

from ._points import Point
from .timer import Timer
from .timing import ConfigTiming

__all__ = ["CountingTimer", "SweepProgress"]


@dataclass(frozen=True)
class SweepProgress:
    """Where a running sweep is, for progress displays.

    ``calls_total`` is an estimate (with ``repeat`` unset the number of rounds is not known in
    advance; the estimate assumes the most). ``completed`` holds the values measured so far
    (the baseline first), so a display can draw a partial chart.
    """

    n_jobs: int
    phase: str
    calls_done: int
    calls_total: int
    elapsed: float
    completed: tuple[ConfigTiming, ...] = ()
    backend: str = ""

    @property
    def remaining(self) -> float | None:
        """Estimated seconds left: the mean time per call so far times the calls left."""
        if not self.calls_done:
            return None
        return self.elapsed / self.calls_done * max(self.calls_total - self.calls_done, 0)


class CountingTimer:
    """Wraps a timer to count calls and tell a progress callback about each one."""

    def __init__(self, timer: Timer, total: int, progress, clock=time.perf_counter) -> None:
        self.timer = timer
        self.total = total
        self.progress = progress
        self.clock = clock
        self.start = clock()
        self.done = 0
        self.point = Point("", 0)
        self.phase = ""

    def report(self, completed: tuple[ConfigTiming, ...] = ()) -> None:
        if self.progress is not None:
            self.total = max(self.total, self.done)
            self.progress(
                SweepProgress(
                    self.point.n_jobs,
                    self.phase,
                    self.done,
                    self.total,
                    self.clock() - self.start,
                    completed,
                    self.point.backend,
                )
            )

    def at(self, point: Point, phase: str) -> None:
        self.point, self.phase = point, phase
        self.report()

    def __call__(self, point: Point, number: int) -> float:
        seconds = self.timer(point, number)
        self.done += 1
        self.report()
        return seconds
