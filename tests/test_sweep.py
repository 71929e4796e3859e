"""The sweep on synthetic timings: no statement runs, no time passes."""

from __future__ import annotations

import math

import pytest

from ipyparallel_ds import _options, checks
from ipyparallel_ds import sweep as sweep_module
from ipyparallel_ds._events import Interrupted, OverMemoryLimit
from ipyparallel_ds.plan import Plan, default_n_jobs
from ipyparallel_ds.statement import prepare
from ipyparallel_ds.stats import with_speedups
from ipyparallel_ds.sweep import sweep
from ipyparallel_ds.timer import StatementTimer


class FakeTimer:
    """Per-loop seconds scripted per n_jobs: a cold first call, slow early calls, then warm.

    ``profile[k]`` is a list of per-loop times for successive calls at n_jobs=k; the last
    value repeats forever. Every call is logged as (n_jobs, number).
    """

    def __init__(self, profile, fail_at=None):
        self.profile = profile
        self.fail_at = fail_at
        self.calls: list[tuple[int, int]] = []
        self._count: dict[int, int] = {}

    def __call__(self, point, number):
        n_jobs = point.n_jobs
        if self.fail_at and self.fail_at[0] == n_jobs and len(self.calls) >= self.fail_at[1]:
            raise self.fail_at[2]
        self.calls.append((n_jobs, number))
        index = self._count.get(n_jobs, 0)
        self._count[n_jobs] = index + 1
        series = self.profile[n_jobs]
        return series[min(index, len(series) - 1)] * number


SEED_LIKE = {
    1: [0.66, 0.65, 0.66, 0.64, 0.65, 0.66],
    2: [2.41, 0.58, 0.43, 0.36, 0.35, 0.36, 0.35, 0.34, 0.36],
}


def workers(point):
    return {1: 1, 2: 2, 4: 4, -1: 2}[point.n_jobs]


def test_default_n_jobs_doubles_up_to_and_including_usable_cores():
    assert default_n_jobs(1) == (1,)
    assert default_n_jobs(2) == (1, 2)
    assert default_n_jobs(4) == (1, 2, 4)
    assert default_n_jobs(6) == (1, 2, 4, 6)
    assert default_n_jobs(8) == (1, 2, 4, 8)


def test_first_call_is_apart_and_runs_still_warming_up_are_read_off_as_warmup():
    timer = FakeTimer(SEED_LIKE)
    cold = []
    data = sweep(
        Plan((1, 2), 0, 5), timer, workers_of=workers, cold_start=lambda p: cold.append(p.n_jobs)
    )
    serial, parallel = data.configs
    assert serial.first_call == 0.66 and parallel.first_call == 2.41
    # 0.43 beats 0.58 by >10 %, 0.36 beats 0.43: both earlier runs were warm-up; 0.35 does
    # not beat 0.36, so the runs are warm from 0.36 on. No call was made for warm-up alone.
    assert parallel.warmup_calls == (0.58, 0.43)
    assert parallel.all_runs[:2] == (0.36, 0.35)
    assert parallel.warm_settled
    assert serial.warmup_calls == ()
    # With -r given the serial first call is not a timed run; each parallel run and each
    # warm-up run was paired with one.
    assert serial.all_runs[0] == 0.65 and serial.repeat == 7
    assert 2.41 not in parallel.all_runs
    assert parallel.repeat == 5
    assert cold == [1, 2]  # each point is made cold before its first call, baseline first


def test_runs_are_interleaved_and_paired_with_a_serial_baseline():
    timer = FakeTimer(SEED_LIKE)
    data = sweep(Plan((1, 2), 0, 3), timer, workers_of=workers)
    assert data.interleaved
    timed = timer.calls[2:]
    assert timed == [(1, 1), (2, 1)] * 5  # two rounds' runs were warm-up
    serial, parallel = data.configs
    assert parallel.paired_baseline == serial.timings


def test_without_serial_baseline_blocks_are_not_interleaved():
    timer = FakeTimer({2: SEED_LIKE[2], 4: [1.5, 0.3, 0.2, 0.2]})
    data = sweep(Plan((2, 4), 0, 2), timer, workers_of=lambda point: point.n_jobs)
    assert not data.interleaved
    assert data.configs[1].paired_baseline == ()
    assert [c.n_jobs for c in data.configs] == [2, 4]


def test_loops_are_calibrated_like_timeit_for_fast_statements():
    timer = FakeTimer({1: [0.001], 2: [0.5, 0.0005]})
    data = sweep(Plan((1, 2), 0, 2), timer, workers_of=workers)
    serial, parallel = data.configs
    assert serial.loops == 1000  # first power of ten lasting >= 0.2 s: 1000 * 1 ms
    assert parallel.loops == 1000  # 1000 * 0.5 ms = 0.5 s
    # The parallel first call (0.5 s) lasted long enough for one loop a run, but its first
    # run (0.5 ms) did not: that run was a warm-up call; its round's serial run still counts.
    assert parallel.warmup_calls == (0.0005,) and parallel.timings == (0.0005, 0.0005)
    assert serial.timings == (0.001, 0.001, 0.001)


def test_given_number_is_used_as_is():
    timer = FakeTimer({1: [0.001], 2: [0.5, 0.0005]})
    data = sweep(Plan((1, 2), 7, 2), timer, workers_of=workers)
    assert {c.loops for c in data.configs} == {7}


def test_warmup_that_never_settles_is_flagged():
    timer = FakeTimer({1: [1.0], 2: [5.0, 4.0, 3.0, 2.0, 1.5, 1.0, 0.5]})
    data = sweep(Plan((1, 2), 0, 2), timer, workers_of=workers)
    parallel = data.configs[1]
    assert len(parallel.warmup_calls) == sweep_module.MAX_WARMUP_CALLS
    assert not parallel.warm_settled


def test_speedup_efficiency_and_interval_from_synthetic_timings():
    timer = FakeTimer(SEED_LIKE)
    data = sweep(Plan((1, 2), 0, 5), timer, workers_of=workers)
    serial, parallel = with_speedups(data.configs, data.baseline_index)
    paired = sorted(parallel.paired_baseline)
    expected = paired[len(paired) // 2] / parallel.median  # 5 paired runs: the middle one
    assert parallel.speedup == pytest.approx(expected)
    assert parallel.efficiency == pytest.approx(expected / 2)
    low, high = parallel.speedup_ci
    assert low <= parallel.speedup <= high
    assert serial.speedup == 1.0 and serial.efficiency == 1.0


def test_effective_worker_count_labels_minus_one():
    timer = FakeTimer({1: [0.5], -1: [2.0, 0.3, 0.3]})
    data = sweep(Plan((1, -1), 0, 2), timer, workers_of=workers)
    assert data.configs[1].workers == 2
    assert data.configs[1].label == "-1 (2)"


def test_keyboard_interrupt_keeps_what_was_measured():
    timer = FakeTimer(SEED_LIKE, fail_at=(2, 9, KeyboardInterrupt()))
    data = sweep(Plan((1, 2), 0, 5), timer, workers_of=workers)
    assert data.interrupted_at.n_jobs == 2
    assert isinstance(data.events[0], Interrupted)
    assert "interrupted while measuring n_jobs=2" in checks.EVENTS[Interrupted](data.events[0]).text
    _serial, parallel = data.configs
    assert 0 < parallel.repeat < 5
    # Its reference: the serial run of every round, the last one's partner never ran.
    assert parallel.paired_baseline == _serial.timings
    assert len(parallel.paired_baseline) == len(parallel.warmup_calls) + parallel.repeat + 1


def test_keyboard_interrupt_before_any_timed_run_returns_nothing():
    timer = FakeTimer(SEED_LIKE, fail_at=(1, 0, KeyboardInterrupt()))
    data = sweep(Plan((1, 2), 0, 5), timer, workers_of=workers)
    assert data.configs == [] and data.interrupted_at.n_jobs == 1


def test_statement_error_propagates_naming_n_jobs():
    timer = FakeTimer(SEED_LIKE, fail_at=(2, 2, ZeroDivisionError("boom")))
    with pytest.raises(ZeroDivisionError, match="boom") as info:
        sweep(Plan((1, 2), 0, 5), timer, workers_of=workers)
    notes = getattr(info.value, "__notes__", [])
    if hasattr(info.value, "add_note"):
        assert any("n_jobs=2" in note for note in notes)


def test_plan_validation_names_bad_values():
    for bad, pattern in [
        ("0", "n_jobs=0"),
        ("abc", "'abc'"),
        ("", "''"),
        ("1,,2", "'1,,2'"),
        ("1.5", "'1.5'"),
        ([1, 1], "given twice"),
        ([True], "True"),
        ([], "empty"),
    ]:
        with pytest.raises(ValueError, match=pattern):
            Plan.from_options(bad)
    with pytest.raises(ValueError, match="at least 1, got 0"):
        Plan.from_options("1", 0, 0)
    with pytest.raises(ValueError, match="at least 0, got -1"):
        Plan.from_options("1", -1)
    assert Plan.from_options(2).n_jobs == (2,)
    assert Plan.from_options("1, 2,-1").n_jobs == (1, 2, -1)


def test_nan_free_results():
    timer = FakeTimer(SEED_LIKE)
    data = sweep(Plan((1, 2), 0, 3), timer, workers_of=workers)
    for config in with_speedups(data.configs, 0):
        assert not math.isnan(config.speedup)


def test_default_repeat_stops_once_the_speedup_is_precise():
    steady = FakeTimer({1: [1.0], 2: [3.0, 0.5]})
    data = sweep(Plan((1, 2)), steady, workers_of=workers)
    assert data.configs[1].repeat == _options.MIN_ROUNDS


def test_default_repeat_goes_on_while_the_speedup_is_uncertain():
    jittery = {1: [1.0, 1.3, 0.8, 1.25, 0.75, 1.2, 0.9], 2: [3.0, 0.5, 0.5, 0.7, 0.4, 0.6, 0.45]}
    data = sweep(Plan((1, 2)), FakeTimer(jittery), workers_of=workers)
    assert data.configs[1].repeat == _options.MAX_ROUNDS


def test_default_repeat_stops_a_value_slower_than_serial_at_once():
    # n_jobs=2 is plainly slower: its interval is wide, but lies below 1 after the fewest
    # rounds.
    slower = {1: [1.0, 1.3, 0.8, 1.25, 0.75, 1.2], 2: [5.0, 3.0, 2.4, 3.3, 2.6, 3.1]}
    data = sweep(Plan((1, 2)), FakeTimer(slower), workers_of=workers)
    assert data.configs[1].repeat == _options.MIN_ROUNDS


def test_default_repeat_stops_a_value_beaten_by_an_earlier_one():
    # n_jobs=2 is noisy but fast; n_jobs=4 is clearly slower than n_jobs=2 was, though its
    # own interval is wide: more runs could not make it the recommendation.
    profile = {
        1: [1.0, 1.3, 0.8, 1.25, 0.75, 1.2, 0.9, 1.0, 1.1, 0.95, 1.05],
        2: [3.0, 0.25, 0.25, 0.26, 0.25, 0.25],
        4: [3.0, 0.9, 0.6, 0.62, 0.58],
    }
    four = {1: 1, 2: 2, 4: 4}
    data = sweep(Plan((1, 2, 4)), FakeTimer(profile), workers_of=lambda p: four[p.n_jobs])
    beaten = data.configs[2]
    assert beaten.repeat < _options.MAX_ROUNDS


def test_serial_first_call_is_not_a_run_when_the_next_run_beats_it():
    # The first serial call paid for an import (0.9 s); the runs after it take 0.6 s.
    timer = FakeTimer({1: [0.9, 0.6, 0.61, 0.6, 0.6], 2: [2.0, 0.35, 0.35, 0.36]})
    data = sweep(Plan((1, 2)), timer, workers_of=workers)
    serial = data.configs[0]
    assert serial.first_call == 0.9 and 0.9 not in serial.all_runs


def test_interrupted_before_warm_runs_keeps_first_calls():
    timer = FakeTimer(SEED_LIKE, fail_at=(2, 3, KeyboardInterrupt()))
    data = sweep(Plan((1, 2)), timer, workers_of=workers)
    serial, parallel = data.configs
    # The serial first call and one serial run were measured; no run of n_jobs=2 was.
    assert serial.first_call == 0.66 and serial.timings == (0.66, 0.65)
    assert parallel.first_call == 2.41 and parallel.repeat == 0


def test_progress_reports_phases_calls_and_completed_values():
    events = []
    timer = FakeTimer(SEED_LIKE)
    sweep(Plan((1, 2), 0, 3), timer, workers_of=workers, progress=events.append)
    phases = [(e.n_jobs, e.phase) for e in events]
    assert phases[0] == (1, "first call")
    assert (2, "first call") in phases
    assert (2, "timed runs") in phases
    assert events[-1].calls_done == len(timer.calls)
    assert all(e.calls_done <= e.calls_total for e in events)
    finished = [e for e in events if e.completed]
    assert [c.n_jobs for c in finished[-1].completed] == [1, 2]
    assert finished[-1].completed[1].repeat == 3


def test_baseline_gets_runs_of_its_own_when_every_other_point_is_skipped():
    timer = FakeTimer(SEED_LIKE)
    too_big = OverMemoryLimit("n_jobs=2", 2e9, "estimated", 1e9, "as given")
    data = sweep(Plan((1, 2), 0, 3), timer, workers_of=workers, skip=lambda p, w: too_big)
    (serial,) = data.configs
    assert serial.repeat == 3 and serial.median == pytest.approx(0.65, abs=0.02)
    assert data.events == [too_big]


def test_cluster_deadline_is_ten_serial_calls_and_at_least_a_minute():
    timer = StatementTimer(prepare("pass"), {})
    assert timer.deadline() is None  # no serial call measured yet
    timer.serial_call = 2.0
    assert timer.deadline() == _options.MIN_TIMEOUT == 60.0
    timer.serial_call = 30.0
    assert timer.deadline() == _options.TIMEOUT_FACTOR * 30.0
    timer.timeout = 5.0  # --timeout wins
    assert timer.deadline() == 5.0


# -- the time budget ------------------------------------------------------------------------
class Clocked(FakeTimer):
    """A FakeTimer whose calls are the only thing that takes time: ``now`` is their sum."""

    def __init__(self, profile):
        super().__init__(profile)
        self.now = 0.0
        self.durations: list[float] = []

    def __call__(self, point, number):
        seconds = super().__call__(point, number)
        self.now += seconds
        self.durations.append(seconds)
        return seconds


NOISY = {
    1: [1.0, 1.3, 0.8, 1.25, 0.75, 1.2, 0.9],
    2: [3.0, 0.5, 0.5, 0.7, 0.4, 0.6, 0.45],
    4: [3.5, 0.3, 0.45, 0.25, 0.4, 0.3],
}
FOUR = {1: 1, 2: 2, 4: 4}


def budgeted(profile, budget, n_jobs=(1, 2, 4)):
    timer = Clocked(profile)
    plan = Plan(n_jobs, budget=budget)
    data = sweep(plan, timer, workers_of=lambda p: FOUR[p.n_jobs], clock=lambda: timer.now)
    return timer, data


def test_a_budget_is_kept_within_one_call_and_the_largest_value_comes_first():
    timer, data = budgeted(NOISY, 12.0)
    assert data.seconds == timer.now <= 12.0 + max(timer.durations)
    assert next(n for n, _ in timer.calls if n != 1) == 4  # n_jobs=4 measured before 2
    assert all(c.repeat >= 1 for c in data.configs)
    assert [c.n_jobs for c in data.configs] == [1, 2, 4]  # the table keeps the order asked
    assert {c.stopped_by for c in data.configs[1:]} <= {"budget", "settled"}


def test_a_noisy_value_uses_its_share_and_a_large_budget_is_not_spent_for_nothing():
    _, tight = budgeted(NOISY, 12.0)
    _, loose = budgeted(NOISY, 200.0)
    # More budget, more rounds for the values that had not settled.
    assert sum(c.repeat for c in loose.configs[1:]) > sum(c.repeat for c in tight.configs[1:])
    steady = {1: [1.0], 2: [3.0, 0.5], 4: [3.5, 0.3]}
    timer, data = budgeted(steady, 200.0)
    assert [c.stopped_by for c in data.configs[1:]] == ["settled", "settled"]
    assert timer.now < 20.0


def test_a_statement_too_long_for_its_share_gets_one_warm_run_and_a_low_precision_note():
    from ipyparallel_ds.result import build_result

    slow = {1: [2.0, 2.1, 1.9], 2: [4.0, 1.2, 1.1], 4: [5.0, 0.8, 0.7]}
    _, data = budgeted(slow, 3.0)
    assert [c.repeat for c in data.configs[1:]] == [1, 1]
    assert [c.stopped_by for c in data.configs[1:]] == ["budget", "budget"]
    result = build_result(
        "f()", data.configs, data.baseline_index, budget=3.0, sweep_seconds=data.seconds
    )
    notes = [w for w in result.warnings if "one warm run only" in w]
    assert len(notes) == 2 and "the precision is low" in notes[0]
    advice = result.budget_advice
    assert advice.stopped == ("n_jobs=2", "n_jobs=4") and advice.one_run == advice.stopped
    assert "more than its 3 s budget" in result.verdict
    assert "stopped the runs of n_jobs=2 at ±" in result.verdict
    if advice.suggested is not None:
        assert advice.suggested > advice.used
        assert "a budget of about" in result.verdict


def test_without_a_budget_nothing_changes():
    timer, data = budgeted(NOISY, None)
    assert next(n for n, _ in timer.calls if n != 1) == 2
    assert all(c.stopped_by in ("settled", "max rounds") for c in data.configs[1:])
