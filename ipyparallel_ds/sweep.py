"""The sweep: first call, warm-up, calibration and timed rounds at every point of a plan.

How a sweep measures (see ``docs/how-it-measures.md``):

1. The baseline (n_jobs=1, or the value with the fewest workers) is called once.
2. For each other point: it is made cold (the reusable worker pool is shut down, a cluster is
   scaled), so the **first call** includes starting the workers; then the loop count is
   calibrated as in ``%timeit`` (from the first call, or for a parallel point whose first
   call lasted long enough, from its first timed run); then the **timed runs**. When the
   baseline runs serially in this process (it then needs no worker pool), each timed run of
   the point is paired with a timed run of the baseline, so that a drift in machine speed
   hits both sides of the speedup alike.
3. **Warm-up is read off the runs**, not paid for with extra calls: a run that the next run
   of its point beats by more than 10 % was still warming up and moves to ``warmup_calls``
   (at most five). A serial first call of one loop that the next run does not beat by that
   much counts as a timed run (a serial call starts no workers).
4. With ``repeat`` unset, rounds stop as soon as the decision is settled (2 to 5 warm runs):
   the speedup's 95 % interval (:func:`ipyparallel_ds.stats.speedup_interval`) is within
   ±10 % of it, or lies wholly below 1, or wholly below an earlier point's interval.

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
from ._options import MAX_ROUNDS, MIN_ROUNDS, TARGET_PRECISION
from ._point_state import (
    MAX_WARMUP_CALLS,
    MIN_RUN_SECONDS,
    PointState,
    calibrate_loops,
    improved,
)
from ._points import Point
from .backends import DeadlineExceeded
from .plan import Plan, effective_workers
from .progress import CountingTimer, SweepProgress
from .stats import speedup_interval
from .timer import Timer
from .timing import ConfigTiming

__all__ = ["SweepData", "SweepProgress", "sweep"]


def _estimated_calls(plan: Plan, states: list[PointState], interleave: bool) -> int:
    rounds = plan.repeat or MIN_ROUNDS + 1
    total = 1 + (0 if interleave else plan.baseline_runs)
    for _state in states[1:]:
        total += 1 + rounds * (2 if interleave else 1)
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


class _Sweep:
    """One sweep's state; :func:`sweep` is its public face. Helpers are short on purpose: each
    does one phase of a point's measurement."""

    def __init__(self, plan, timer, points, workers_of, hooks) -> None:
        self.plan = plan
        self.states = [PointState(p, workers_of(p)) for p in points]
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
    def timed_run(self, state: PointState) -> float:
        observer = self.hooks["observer"]
        if observer is None:
            return self.timer(state.point, state.loops)
        with observer.timed_run(state.point, state.loops) as record:
            record.seconds = self.timer(state.point, state.loops)
        return record.seconds

    def first_calls(self, state: PointState) -> None:
        """Cold start, first call and calibration of the loops."""
        point, observer = state.point, self.hooks["observer"]
        self.counter.at(point, "first call")
        startup = self.hooks["cold_start"](point)
        state.startup = float("nan") if startup is None else startup
        with observer.first_call(point) if observer is not None else nullcontext():
            state.first_call = self.timer(point, 1)
        state.warmup, state.settled = [], True
        if state.workers > 1 and not self.plan.number and state.first_call >= MIN_RUN_SECONDS:
            # The first call includes starting the workers: the first timed run (one loop)
            # shows whether one loop lasts long enough.
            state.loops, state.calibrated = 1, False
            return
        state.warm = state.workers == 1
        state.loops = self.calibrate(state, state.first_call)

    def calibrate(self, state: PointState, last_single_call: float) -> int:
        observer = self.hooks["observer"]
        with observer.warm_up(state.point) if observer is not None else nullcontext():
            return calibrate_loops(self.timer, state.point, last_single_call, self.plan.number)

    def add_run(self, state: PointState) -> None:
        """One timed run of a point; then what it says about the runs before it."""
        run = self.timed_run(state)
        state.runs.append(run)
        if not state.calibrated:
            state.calibrated = True
            if run < MIN_RUN_SECONDS:  # a fast statement: this run was a warm-up call
                state.warmup.append(state.runs.pop())
                state.loops = self.calibrate(state, run)
                return
        if state.warm:
            return
        if len(state.runs) >= 2 and improved(run / state.loops, state.runs[-2] / state.loops):
            state.warmup.append(state.runs.pop(-2))  # still warming up
            if len(state.warmup) >= MAX_WARMUP_CALLS:
                state.warm, state.settled = True, False
        elif len(state.runs) >= 2:
            state.warm = True

    def base_run(self, paired: list[float] | None) -> None:
        """A timed run of a serial baseline (into ``paired`` too, when given). With ``repeat``
        unset, a first call of one loop joins its runs when this first run does not beat it
        by more than the warm-up tolerance."""
        base = self.base
        run = self.timed_run(base)
        new = [run]
        counted = self.plan.repeat is None and base.loops == 1  # -r R: exactly R runs
        if not base.runs and counted and not improved(run, base.first_call):
            new.insert(0, base.first_call)
        base.runs.extend(new)
        if paired is not None:
            paired.extend(x / base.loops for x in new)

    def baseline_runs(self) -> None:
        """The baseline's own timed runs (when they are not paired with the other points')."""
        base = self.current = self.base
        while len(base.runs) < self.plan.baseline_runs:
            if base.workers == 1:
                self.base_run(None)
            else:
                self.add_run(base)

    def rounds(self, state: PointState) -> None:
        """Timed rounds of a point, each paired with a baseline run when interleaving, until
        the decision is settled (or ``repeat`` warm runs)."""
        wanted = self.plan.repeat or MAX_ROUNDS
        for _ in range(wanted + MAX_WARMUP_CALLS):
            if self.interleave:
                self.current = self.base
                self.base_run(state.paired)
                self.current = state
            self.add_run(state)
            if len(state.runs) >= wanted and state.warm:
                break
            if self.plan.repeat is None and len(state.runs) >= MIN_ROUNDS and self.settled(state):
                break
        state.interval = self.interval(state)

    def interval(self, state: PointState) -> tuple[float, float]:
        reference = state.paired if self.interleave else self.base.timing().timings
        groups = [s.timing().timings for s in self.states if s.runs]
        return speedup_interval(reference, state.timing().timings, groups)

    def settled(self, state: PointState) -> bool:
        """Whether more runs could not change what the sweep will say about this point: its
        speedup is known to ±10 %, or it is slower than serial, or than an earlier point."""
        low, high = self.interval(state)
        if math.sqrt(high / low) - 1 <= TARGET_PRECISION or high < 1:
            return True
        return any(s.interval and s.interval[0] > high for s in self.states)

    def measure(self, state: PointState, is_baseline: bool) -> None:
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

    def only_its_backend(self, state: PointState, is_baseline: bool, exc: Exception) -> bool:
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


def _name(state: PointState) -> str:
    """How a point is named in events: ``n_jobs=2``, ``n_jobs=2 (threading)``, ``dask with 2
    workers``."""
    return state.timing().name


def _backend_failed(state: PointState, exc: BaseException) -> BackendFailed:
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


def _add_note(exc: BaseException, note: str) -> None:
    if hasattr(exc, "add_note"):
        exc.add_note(note)
    else:  # Python 3.10 has no exception notes
        print(note, file=sys.stderr)
