"""The task structure of each joblib call, the simulation of joblib's dispatch, and the
prediction from them: on synthetic tasks for the arithmetic, and on real tiny workloads from
scikit-learn's user guide for what is measured (structure and limits, never timings)."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from ipyparallel_ds import ParCompareResult
from ipyparallel_ds._probe import LONGEST_TASK, choose
from ipyparallel_ds.prediction import predict, rounds_limit, simulate
from ipyparallel_ds.result import ConfigTiming, build_result
from ipyparallel_ds.timing import ParallelCall


# -- the simulation ---------------------------------------------------------------------------
def test_equal_tasks_run_in_rounds():
    assert simulate([1.0] * 5, 4, batching=False) == (2.0, 5)
    assert simulate([1.0] * 5, 5, batching=False) == (1.0, 5)
    assert rounds_limit(5, 4) == 2.5 and rounds_limit(5, 8) == 5.0 and rounds_limit(20, 3) == 20 / 7


def test_one_worker_runs_the_tasks_one_after_the_other():
    assert simulate([0.5, 0.25, 0.25], 1, batching=False)[0] == pytest.approx(1.0)


def test_tasks_are_taken_in_their_order_by_the_first_free_worker():
    # joblib keeps the order: the long task last leaves one worker busy alone.
    assert simulate([1, 1, 1, 3], 2, batching=False)[0] == pytest.approx(4.0)
    assert simulate([3, 1, 1, 1], 2, batching=False)[0] == pytest.approx(3.0)


def test_short_tasks_are_batched_as_joblib_does():
    seconds, batches = simulate([0.001] * 2000, 2, overhead=0.001)
    assert batches < 2000 / 4  # batches grow while they last under 0.2 s
    assert seconds == pytest.approx(1.0, rel=0.2)
    assert simulate([0.001] * 2000, 2, overhead=0.001, batching=False)[1] == 2000


def test_each_batch_pays_its_overhead():
    free = simulate([1.0] * 4, 2, batching=False)[0]
    assert simulate([1.0] * 4, 2, overhead=0.1, batching=False)[0] == pytest.approx(free + 0.2)


# -- the model, on synthetic measurements -----------------------------------------------------
def _serial(durations, outside=0.05, backend="loky", runs=(1.0,)) -> ConfigTiming:
    call = ParallelCall(backend, 1, len(durations), tuple(durations), sum(durations), "kernel")
    total = outside + sum(durations)
    return ConfigTiming(
        n_jobs=1,
        workers=1,
        first_call=total,
        loops=1,
        all_runs=tuple(total * r for r in runs),
        tasks=(call,),
        outside_calls=outside,
        parallel_calls=1,
        runnable_threads=1.0,
    )


def test_a_serial_run_alone_predicts_rounds_and_never_beats_the_limit():
    base = _serial([0.2] * 5)
    probes = {"loky": {"workers": 2, "slowdown": 1.1, "round_trip": 0.002, "task": "statement"}}
    for workers in (1, 2, 3, 4, 5, 8):
        made = predict([base], base, workers, 2, probes)
        assert made.speedup <= made.limit + 1e-12
    four = predict([base], base, 4, 2, probes)
    # 5 fits at 4 workers: 2 rounds; the serial part stays.
    assert four.limit == pytest.approx(1.05 / (0.05 + 0.4))
    assert predict([base], base, 8, 2, probes).limit == pytest.approx(1.05 / 0.25)
    assert predict([base], base, 1, 2, probes).speedup == pytest.approx(1.0)
    assert "probe" in four.based_on


def test_a_measured_parallel_value_is_used_for_larger_counts():
    base = _serial([0.2] * 8, outside=0.0)
    parallel_call = ParallelCall("loky", 2, 8, (0.24,) * 8, 0.98, "workers")
    two = ConfigTiming(
        n_jobs=2, workers=2, first_call=1.5, loops=1, all_runs=(0.98,), tasks=(parallel_call,),
        outside_calls=0.0, parallel_calls=1,
    )  # fmt: skip
    made = predict([base, two], base, 4, 2, {})
    assert "n_jobs=2" in made.based_on
    # Tasks 20 % slower in the workers; the 0.02 s the call took beyond 4 rounds of them is
    # 0.005 s per task on each worker: at 4 workers, 2 rounds of 0.245 s.
    assert made.time == pytest.approx(2 * (0.24 + 0.005), rel=1e-6)
    assert made.speedup <= made.limit


def test_a_call_whose_n_jobs_stays_is_predicted_with_its_own():
    base = _serial([0.1] * 4, outside=0.0, backend="threading")
    kept = ParallelCall("threading", 1, 4, (0.1,) * 4, 0.4, "kernel")
    two = ConfigTiming(
        n_jobs=2, workers=2, first_call=0.4, loops=1, all_runs=(0.4,), tasks=(kept,),
        outside_calls=0.0, parallel_calls=1,
    )  # fmt: skip
    assert predict([base, two], base, 8, 2, {}).speedup == pytest.approx(1.0)


def test_a_statement_without_joblib_calls_is_predicted_unchanged():
    base = _serial([0.1])
    base = replace(base, tasks=())
    made = predict([base], base, 16, 2, {})
    assert made.speedup == 1.0 and made.limit == 1.0 and "no joblib call" in made.based_on


def test_predictions_survive_json():
    base = _serial([0.2] * 5)
    result = build_result(
        "f()",
        [base],
        0,
        environment={"cores": {"usable": 2}},
        probes={"loky": {"workers": 2, "slowdown": 1.1, "round_trip": 0.0, "task": "probe"}},
        predict_workers=(2, 4, 8),
    )
    again = ParCompareResult.from_json(result.to_json())
    assert again.tasks == result.tasks
    assert [p.to_dict() for p in again.predictions] == [p.to_dict() for p in result.predictions]
    assert again.predict_workers == (2, 4, 8)
    with pytest.raises(ValueError, match="0"):
        result.predict(0)


# -- real tiny workloads ----------------------------------------------------------------------
CV3 = "cross_val_score(SVC(), X, y, cv=3)"  # user guide 3.1.1, computing cross-validated metrics


def test_the_tasks_of_a_cross_validation_are_timed_in_the_kernel_and_in_the_workers(tiny, run):
    result = run(CV3)
    serial, parallel = result.configs
    (call,) = result.tasks
    assert (call.backend, call.n_jobs, call.tasks, call.where) == ("loky", 1, 3, "kernel")
    assert call.timed and all(d > 0 for d in call.durations) and call.wall >= max(call.durations)
    assert not math.isnan(call.transfer)  # pickling one fold's task, at the first call
    assert serial.outside_calls >= 0
    (inside,) = parallel.tasks
    assert (inside.n_jobs, inside.tasks, inside.where) == (2, 3, "workers") and inside.timed
    made = result.predict(4)
    assert made.limit <= 3.0 + 1e-9 and made.speedup <= made.limit
    assert "n_jobs=2" in made.based_on


# -- which tasks the probe runs again ----------------------------------------------------------
def test_the_probe_runs_every_short_task_when_they_fit():
    assert choose([0.01, 0.03, 0.02], 2) == [0, 1, 2]


def test_the_probe_spreads_its_copies_over_short_and_long_tasks():
    # A learning curve's growing training sets: 50 tasks, 2.5 s of work, 2 s allowed.
    serial = [0.01 * (1 + i % 10) for i in range(50)]
    picked = choose(serial, 2, seconds=1.0)
    assert picked == sorted(picked) and len(picked) % 2 == 0
    durations = sorted(serial[i] for i in picked)
    assert durations[0] <= 0.02 and durations[-1] >= 0.09
    assert sum(serial[i] for i in picked) <= 2.0 * 1.2


def test_the_probe_leaves_out_long_tasks():
    assert choose([LONGEST_TASK * 2, 0.01], 2) == [1]
    assert choose([LONGEST_TASK * 2], 2) == []


def test_a_serial_run_alone_is_predicted_with_a_probe_of_its_own_task(tiny, run):
    result = run(CV3, n_jobs="1")
    (probe,) = result.probes.values()
    assert probe["task"] == "statement" and probe["workers"] >= 1
    assert probe["copies"] >= 3 and probe["copies"] % 3 == 0  # the 3 folds, a few times over
    two, three = result.predict(2), result.predict(3)
    (call,) = result.tasks
    # 3 folds on 2 workers: the longest two on one worker at best (2 rounds when equal).
    outside = result.baseline.outside_calls
    tasks_alone = (outside + call.work) / (outside + simulate(call.durations, 2, batching=False)[0])
    assert two.limit == pytest.approx(tasks_alone) and two.limit <= 2.0
    assert three.limit <= 3.0 + 1e-9 and two.speedup <= two.limit
    assert result.predictions and result.predictions[0].workers == 1
    assert "predicted from the tasks" in result.report()
    assert "Its main joblib call (loky) runs 3 tasks" in result.verdict  # tiny, unequal tasks


def test_the_threads_of_a_forest_are_tasks_in_the_kernel(tiny, run):
    """User guide 1.11.2, forests: trees are built by joblib threads."""
    run.shell.run_cell("from sklearn.ensemble import RandomForestClassifier").raise_error()
    result = run("RandomForestClassifier(n_estimators=4, n_jobs=1, random_state=0).fit(X, y)")
    (serial_call,) = result.tasks
    assert serial_call.backend == "threading" and serial_call.tasks == 4
    (threads,) = result.configs[1].tasks
    assert threads.n_jobs == 2 and threads.where == "kernel" and threads.timed


def test_predict_option_sets_the_counts(tiny):
    result = tiny.run_line_magic("parcompare", f"-o -q -j 1 -n 1 -r 1 --predict 3,6 {CV3}")
    assert result.predict_workers == (3, 6)
    assert [p.workers for p in result.predictions] == [3, 6]


@pytest.mark.parametrize("bad", ["0", "x", "4,4", "", "2,,4"])
def test_bad_predict_values_are_named(tiny, bad):
    from IPython.core.error import UsageError

    with pytest.raises(UsageError, match="predict"):
        tiny.run_line_magic("parcompare", f"-q -j 1 --predict '{bad}' {CV3}")
