"""The sweep: first call, warm-up, calibration and timed rounds at every point of a plan.

How a sweep measures (see ``docs/how-it-measures.md``):

1. The baseline (n_jobs=1, or the value with the fewest workers) is called once.
2. For each other point: it is made cold (the reusable worker pool is shut down, a cluster is
   scaled), so the **first call** includes starting the workers; then **warm-up** calls run
   until a call is no longer more than 10 % faster than the one before (at least two, at most
   five); then the loop count is calibrated as in ``%timeit``; then the **timed runs**. When
   the baseline runs serially in this process (it then needs no worker pool), each timed run
   of the point is paired with a timed run of the baseline, so that a drift in machine speed
   hits both sides of the speedup alike. With ``repeat`` unset, rounds go on until the
   speedup's 95 % interval is within 5 % of it (3 to 5 rounds).

What happens on the way (a skipped point, a failed backend, Ctrl-C, a dead worker) is recorded
as events (:mod:`ipyparallel_ds._events`); :mod:`ipyparallel_ds.checks` words them.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from ._events import BackendFailed, Event, Interrupted, WorkerDied
from ._options import MIN_ROUNDS, TARGET_PRECISION
from ._points import Point
from .backends import DeadlineExceeded
from .plan import Plan, effective_workers
from .progress import CountingTimer, SweepProgress
from .stats import bootstrap_ratio_ci, median
from .timer import Timer
from .timing import ConfigTiming

__all__ = ["SweepData", "SweepProgress", "sweep"]

MIN_RUN_SECONDS = 0.2  # as %timeit: one timed run lasts at least this long
# A fresh pool's second and third calls are still slow (see FIELD-NOTES), so at least two
# warm-up calls, then more while calls keep getting faster.
MIN_WARMUP_CALLS = 2
MAX_WARMUP_CALLS = 5
WARM_TOLERANCE = 0.10  # warm once a call is no longer more than 10 % faster than the last


@dataclass
class _PointState:
    point: Point
    workers: int
    first_call: float = float("nan")
    startup: float = float("nan")
    warmup: list[float] | None = None
    settled: bool = True
    loops: int = 0
    runs: list[float] | None = None
    paired: list[float] | None = None

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


def _estimated_calls(plan: Plan, states: list[_PointState], interleave: bool) -> int:
    total = 1 + (0 if interleave else plan.baseline_runs)
    for state in states[1:]:
        warm = 2 if state.workers > 1 else 0
        total += 1 + warm + plan.rounds * (2 if interleave else 1)
    return total


@dataclass(frozen=True)
class SweepData:
    """Raw outcome of :func:`sweep`: the measured configs, which one is the baseline, and what
    happened on the way (``interrupted_at`` is the point where an early stop happened)."""

    configs: list[ConfigTiming]
    baseline_index: int
    interleaved: bool
    interrupted_at: Point | None
    events: list[Event]


def _warm_up(timer: Timer, point: Point, first: float, minimum: int) -> tuple[list[float], bool]:
    calls: list[float] = []
    previous = first
    while len(calls) < MAX_WARMUP_CALLS:
        current = timer(point, 1)
        calls.append(current)
        improving = current < (1.0 - WARM_TOLERANCE) * previous
        previous = current
        if len(calls) >= minimum and not improving:
            return calls, True
    return calls, False


def _calibrate(timer: Timer, point: Point, last_single_call: float, number: int) -> int:
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


class _Sweep:
    """One sweep's state; :func:`sweep` is its public face. Helpers are short on purpose: each
    does one phase of a point's measurement."""

    def __init__(self, plan, timer, points, workers_of, hooks) -> None:
        self.plan = plan
        self.states = [_PointState(p, workers_of(p)) for p in points]
        self.baseline_index = min(
            range(len(self.states)), key=lambda i: (self.states[i].workers, i)
        )
        self.base = self.states[self.baseline_index]
        self.interleave = self.base.workers == 1 and len(self.states) > 1
        self.order = [self.baseline_index] + [
            i for i in range(len(self.states)) if i != self.baseline_index
        ]
        ordered = [self.states[i] for i in self.order]
        total = _estimated_calls(plan, ordered, self.interleave)
        self.timer = self.counter = CountingTimer(timer, total, hooks["progress"])
        self.hooks = hooks
        self.events: list[Event] = []
        self.interrupted_at: Point | None = None
        self.failed: set[str] = set()
        self.current = self.base

    # -- one point ---------------------------------------------------------------------
    def timed_run(self, state: _PointState) -> float:
        observer = self.hooks["observer"]
        if observer is None:
            return self.timer(state.point, state.loops)
        with observer.timed_run(state.point, state.loops) as record:
            record.seconds = self.timer(state.point, state.loops)
        return record.seconds

    def first_calls(self, state: _PointState) -> None:
        """Cold start, first call, warm-up (parallel points only) and calibration."""
        point, observer = state.point, self.hooks["observer"]
        self.counter.at(point, "first call")
        startup = self.hooks["cold_start"](point)
        state.startup = float("nan") if startup is None else startup
        with observer.first_call(point) if observer is not None else nullcontext():
            state.first_call = self.timer(point, 1)
        # A serial call needs no workers: its first call is its warm-up.
        if state.workers > 1:
            self.counter.at(point, "warm-up")
            with observer.warm_up(point) if observer is not None else nullcontext():
                state.warmup, state.settled = _warm_up(
                    self.timer, point, state.first_call, minimum=MIN_WARMUP_CALLS
                )
        else:
            state.warmup, state.settled = [], True
        last = state.warmup[-1] if state.warmup else state.first_call
        state.loops = _calibrate(self.timer, point, last, self.plan.number)

    def baseline_runs(self) -> None:
        """The baseline's own timed runs (when they are not paired with the other points')."""
        self.current = self.base
        for _ in range(self.plan.baseline_runs):
            self.base.runs.append(self.timed_run(self.base))

    def rounds(self, state: _PointState) -> None:
        """Timed rounds of a point, each paired with a baseline run when interleaving, until
        the stopping rule is met (or ``repeat`` rounds)."""
        base = self.base
        for done in range(1, self.plan.rounds + 1):
            if self.interleave:
                self.current = base
                run = self.timed_run(base)
                base.runs.append(run)
                state.paired.append(run / base.loops)
                self.current = state
            state.runs.append(self.timed_run(state))
            if self.plan.repeat is None and done >= MIN_ROUNDS:
                reference = state.paired if self.interleave else base.timing().timings
                if _precise_enough(reference, state.timing().timings, self.interleave):
                    return

    def measure(self, state: _PointState, is_baseline: bool) -> None:
        state.runs, state.paired = [], []
        self.first_calls(state)
        self.counter.at(state.point, "timed runs")
        if not is_baseline:
            self.rounds(state)
        elif not self.interleave:  # otherwise its runs are paired with each point's runs
            self.baseline_runs()
        after = self.hooks["after_point"]
        if after is not None:
            after(state.point, state.workers)

    # -- every point -------------------------------------------------------------------
    def point(self, index: int) -> None:
        """Measure one point; a failure that only concerns its backend becomes an event."""
        self.current = state = self.states[index]
        is_baseline = index == self.baseline_index
        if state.point.backend in self.failed:
            return
        skip = self.hooks["skip"]
        event = skip(state.point, state.workers) if skip and not is_baseline else None
        if event is not None:
            self.events.append(event)
            return
        try:
            self.measure(state, is_baseline)
        except Exception as exc:
            if not self.only_its_backend(state, is_baseline, exc):
                raise
            self.failed.add(state.point.backend)
            self.events.append(_backend_failed(state, exc))
            if math.isnan(state.first_call):
                state.runs = None  # nothing measured: leave the point out

    def only_its_backend(self, state: _PointState, is_baseline: bool, exc: Exception) -> bool:
        """Whether an exception ends only this point's backend (a missed deadline on a
        cluster; any error of a backend other than the baseline's when backends are
        isolated), not the sweep."""
        own_fault = self.current is state and not is_baseline
        other_backend = state.point.backend != self.base.point.backend
        isolated = isinstance(exc, DeadlineExceeded) or (
            self.hooks["isolate_backends"] and other_backend
        )
        return own_fault and isolated

    def run(self) -> SweepData:
        try:
            for index in self.order:
                self.point(index)
                self.counter.report(self.completed())
            base = self.base
            if self.interleave and base.runs == [] and not math.isnan(base.first_call):
                # Every other point was skipped or failed: the baseline's runs were to be
                # paired with theirs, so it gets runs of its own.
                self.baseline_runs()
        except KeyboardInterrupt:
            self.interrupted_at = self.current.point
            self.events.append(Interrupted(_name(self.current), len(self.current.runs or ())))
        except Exception as exc:
            codes = _exit_codes(exc)
            if codes is None:
                _add_note(
                    exc, f"(raised while %parcompare ran the statement at {_name(self.current)})"
                )
                raise
            self.interrupted_at = self.current.point
            self.events.append(WorkerDied(_name(self.current), codes))
        return self.data()

    def completed(self) -> tuple[ConfigTiming, ...]:
        return tuple(self.states[i].timing() for i in self.order if self.states[i].runs)

    def data(self) -> SweepData:
        # A stop between a baseline run and its partner leaves one unpaired baseline run.
        for state in self.states:
            if state.paired is not None and state.runs is not None:
                del state.paired[len(state.runs) :]
        # After an early stop, keep every point whose first call was measured.
        measured = [
            i
            for i, s in enumerate(self.states)
            if s.runs is not None and not math.isnan(s.first_call)
        ]
        configs = [self.states[i].timing() for i in measured]
        index = measured.index(self.baseline_index) if self.baseline_index in measured else 0
        return SweepData(configs, index, self.interleave, self.interrupted_at, self.events)


def sweep(
    plan: Plan,
    timer: Timer,
    *,
    points: Sequence[Point] | None = None,
    workers_of: Callable[[Point], int] | None = None,
    cold_start: Callable[[Point], float | None] = lambda point: None,
    progress: Callable[[SweepProgress], None] | None = None,
    observer: Any = None,
    skip: Callable[[Point, int], Event | None] | None = None,
    after_point: Callable[[Point, int], None] | None = None,
    isolate_backends: bool = False,
) -> SweepData:
    """Measure the statement at every point (backend, n_jobs) of a plan.

    Parameters
    ----------
    plan : Plan
        The loops and repeats (and the n_jobs values, when ``points`` is not given).
    timer : Timer
        Runs loops of the statement at a point and returns the seconds taken.
    points : sequence of Point, optional
        What to measure. Default: each n_jobs value of the plan on joblib's active backend.
    workers_of : callable
        Effective worker count of a point.
    cold_start : callable
        Called before the first call of every point; the real one shuts the reusable pool
        down or scales a cluster, and returns the cluster's start-up seconds (or None).
    progress : callable, optional
        Called with a :class:`SweepProgress` when a phase starts and after every call.
    observer : optional
        ``timed_run(point, loops)`` is a context manager around each timed run (not the
        first call or warm-up) whose record gets the run's seconds, to find out what really
        ran; ``first_call(point)`` and ``warm_up(point)`` are ones around each first call
        and each parallel point's warm-up calls (memory is sampled there, not in timed runs).
    skip : callable, optional
        Asked ``skip(point, workers)`` before each point but the baseline; a returned event
        skips the point and is recorded (the memory limit).
    after_point : callable, optional
        Called ``after_point(point, workers)`` once a point's timed runs are done, while its
        pool is still warm (the thread report).
    isolate_backends : bool
        When several backends are compared: an exception at a point of a backend other than
        the baseline's becomes an event, that backend's other points are skipped, and the
        others still run. A missed deadline on a cluster is always handled that way.

    Other exceptions from the statement propagate with the point named in a note.
    ``KeyboardInterrupt`` stops the sweep; what was measured so far is returned.
    """
    if points is None:
        points = [Point("", k) for k in plan.n_jobs]
    if workers_of is None:
        workers_of = lambda point: effective_workers(point.n_jobs)  # noqa: E731
    hooks = {
        "cold_start": cold_start,
        "progress": progress,
        "observer": observer,
        "skip": skip,
        "after_point": after_point,
        "isolate_backends": isolate_backends,
    }
    return _Sweep(plan, timer, points, workers_of, hooks).run()


def _name(state: _PointState) -> str:
    """How a point is named in events: ``n_jobs=2``, ``n_jobs=2 (threading)``, ``dask with 2
    workers``."""
    return state.timing().name


def _backend_failed(state: _PointState, exc: BaseException) -> BackendFailed:
    text = str(exc).strip().splitlines()
    return BackendFailed(
        backend=state.point.backend,
        point=_name(state),
        error_type=type(exc).__name__,
        message=text[0] if text else "",
        deadline=isinstance(exc, DeadlineExceeded),
        full_message=str(exc),
    )


def _exit_codes(exc: BaseException) -> tuple[int, ...] | None:
    """The exit codes of worker processes that died (loky's TerminatedWorkerError), else
    None."""
    if type(exc).__name__ != "TerminatedWorkerError":
        return None
    return tuple(sorted({int(c) for c in re.findall(r"\((-?\d+)\)", str(exc))}))


def _precise_enough(reference: Sequence[float], timings: Sequence[float], paired: bool) -> bool:
    """Whether the speedup's 95 % interval is within the target precision of it."""
    low, high = bootstrap_ratio_ci(reference, timings, paired=paired)
    point = median(reference) / median(timings)
    return (high - low) / 2 <= TARGET_PRECISION * point


def _add_note(exc: BaseException, note: str) -> None:
    if hasattr(exc, "add_note"):
        exc.add_note(note)
    else:  # Python 3.10 has no exception notes
        print(note, file=sys.stderr)
