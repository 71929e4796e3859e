"""The sweep: first call, calibration and timed rounds at every point of a plan.

How a sweep measures (in full: ``docs/how-it-measures.md``):

1. The baseline (n_jobs=1, or the value with the fewest workers) is called once.
2. Each other point is made cold (the reusable pool shut down, a cluster scaled), so its
   **first call** includes starting the workers; the loops are calibrated as in ``%timeit``
   (from the first call, or from the first timed run when the first call lasted 0.2 s);
   then come the **timed runs**, each paired with a baseline run when the baseline is
   serial, so that a drift in machine speed hits both sides of the speedup alike.
3. **Warm-up is read off the runs** (:mod:`ipyparallel_ds._point_state`): a run that the
   next one beats by more than 10 % moves to ``warmup_calls``. A serial first call that the
   next run does not beat counts as a timed run.
4. With ``repeat`` unset, rounds stop once the decision is settled (2 to 5 warm runs): the
   speedup's 95 % interval (:func:`ipyparallel_ds.stats.speedup_interval`) is within ±8 %,
   or lies wholly below 1, or wholly below an earlier point's interval.
5. With a ``budget``, each backend's point with the most workers comes first; each point
   gets an equal share of the time left, and its rounds stop (after one at least) when the
   next would end after its share; an unsettled point may then use up to 50 rounds.

Events (a skipped point, a failed backend, Ctrl-C, a dead worker) are recorded
(:mod:`ipyparallel_ds._events`); :mod:`ipyparallel_ds.checks` words them.
"""

from __future__ import annotations

import math
import re
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from ._events import BackendFailed, Event, Interrupted, WorkerDied
from ._options import MAX_BUDGET_ROUNDS, MAX_ROUNDS, MIN_ROUNDS, TARGET_PRECISION
from ._point_state import (
    MAX_WARMUP_CALLS,
    MIN_RUN_SECONDS,
    Budget,
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
    """Raw outcome of :func:`sweep`: the measured configs, which one is the baseline, what
    happened on the way (``interrupted_at`` is the point where an early stop happened), and
    the seconds the sweep took."""

    configs: list[ConfigTiming]
    baseline_index: int
    interleaved: bool
    interrupted_at: Point | None
    events: list[Event]
    seconds: float = math.nan


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
        self.budget = Budget(plan.budget, hooks["clock"])
        rest = [i for i in range(len(self.states)) if i != self.baseline_index]
        self.order = [self.baseline_index, *self.budget.order(self.states, rest)]
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
            if self.budget.out_of_time(base, None):
                base.stopped_by = "budget"
                break

    def rounds(self, state: PointState) -> None:
        """Timed rounds of a point, each paired with a baseline run when interleaving, until
        the decision is settled (or ``repeat`` warm runs)."""
        plan = self.plan
        wanted = plan.repeat or (MAX_BUDGET_ROUNDS if plan.budget else MAX_ROUNDS)
        why = "repeat" if plan.repeat else "max rounds"  # unless a rule below stops it sooner
        partner = self.base if self.interleave else None
        for _ in range(wanted + MAX_WARMUP_CALLS):
            if self.interleave:
                self.current = self.base
                self.base_run(state.paired)
                self.current = state
            self.add_run(state)
            if len(state.runs) >= wanted and state.warm:
                break
            if plan.repeat is None and len(state.runs) >= MIN_ROUNDS and self.settled(state):
                why = "settled"
                break
            if state.runs and self.budget.out_of_time(state, partner):
                why = "budget"
                break
        state.stopped_by, state.interval = why, self.interval(state)

    def interval(self, state: PointState) -> tuple[float, float]:
        reference = state.paired if self.interleave else self.base.timing().timings
        groups = [s.timing().timings for s in self.states if s.runs]
        return speedup_interval(reference, state.timing().timings, groups)

    def settled(self, state: PointState) -> bool:
        """Whether more runs could not change what the sweep says about this point: its speedup
        is known to ±TARGET_PRECISION, or it is slower than serial, or than an earlier one."""
        low, high = self.interval(state)
        if math.sqrt(high / low) - 1 <= TARGET_PRECISION or high < 1:
            return True
        return any(s.interval and s.interval[0] > high for s in self.states)

    def measure(self, state: PointState, is_baseline: bool) -> None:
        state.runs, state.paired = [], []
        self.first_calls(state)
        index = self.order.index(self.states.index(state))
        self.budget.share(state, points_left=len(self.order) - index)
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
        used = self.budget.used()
        return SweepData(configs, index, self.interleave, self.interrupted_at, self.events, used)


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
    clock: Callable[[], float] = time.perf_counter,
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
        Context managers: ``timed_run(point, loops)`` around each timed run, whose record
        gets the run's seconds; ``first_call(point)`` and ``warm_up(point)`` around each
        first call and calibration (memory is sampled there, not in timed runs).
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
    clock : callable
        Seconds, for ``plan.budget``: the sweep's time counts from its start, cold starts
        and first calls included.

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
        "clock": clock,
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
