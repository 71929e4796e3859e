"""What really ran, on real tiny workloads: each warning of the checks."""

from __future__ import annotations

import math

import pytest
from test_backends import SPIN


# -- what really ran, on real tiny workloads ---------------------------------------------
def run(ip, stmt, n_jobs="1,2", setup=None, backend=None):
    options = f"-o -q -j {n_jobs} -n1 -r2" + (f" -b {backend}" if backend else "")
    if setup:
        return ip.run_cell_magic("parcompare", f"{options} {setup}", stmt + "\n")
    return ip.run_line_magic("parcompare", f"{options} {stmt}")


def test_cross_val_score_uses_two_workers(tiny):
    r = run(tiny, "cross_val_score(SVC(), X, y, cv=4)")
    serial, parallel = r.configs
    assert parallel.workers_used == 2 and parallel.backend_used == "loky"
    assert parallel.parallel_calls == 1 and parallel.effective_n_jobs == (2,)
    assert serial.backend_used.startswith("sequential") and serial.workers_used == 1
    assert parallel.cpu_time > 0 and parallel.cpu_utilisation > 0
    assert not r.no_effect
    assert "2 loky" in r.table()


def test_no_joblib_call_means_no_effect(tiny):
    r = run(tiny, "SVC().fit(X, y)")
    assert all(c.parallel_calls == 0 for c in r.configs)
    assert r.no_effect and "no joblib parallel call" in r.no_effect
    assert any("n_jobs had no effect" in w for w in r.warnings)
    assert r.verdict.startswith("n_jobs had no effect")


def test_random_forest_with_n_jobs_unset_runs_sequentially(tiny):
    tiny.run_cell("from sklearn.ensemble import RandomForestClassifier").raise_error()
    r = run(tiny, "RandomForestClassifier(n_estimators=10, random_state=0).fit(X, y)")
    parallel = r.configs[1]
    assert parallel.effective_n_jobs == (1,) and "threading" in parallel.backend_used
    warning = next(w for w in r.warnings if "sequentially" in w)
    assert "RandomForestClassifier(n_jobs=-1)" in warning  # how to make it parallel
    assert r.no_effect


def test_random_forest_with_literal_n_jobs_is_rewritten_and_runs_threads(tiny):
    tiny.run_cell("from sklearn.ensemble import RandomForestClassifier").raise_error()
    r = run(tiny, "RandomForestClassifier(n_estimators=20, n_jobs=-1).fit(X, y)")
    parallel = r.configs[1]
    assert r.n_jobs_keywords_rewritten == 1
    assert parallel.effective_n_jobs == (2,) and parallel.backend_used == "threading"
    assert not r.no_effect


def test_object_built_before_the_statement_is_reported(tiny):
    tiny.run_cell(
        "from sklearn.ensemble import RandomForestClassifier\n"
        "model = RandomForestClassifier(n_estimators=10, n_jobs=2)"
    ).raise_error()
    r = run(tiny, "model.fit(X, y)")
    assert any("model (n_jobs=2)" in w and "built before" in w for w in r.warnings)
    assert r.no_effect and "built before" in r.no_effect


def test_setup_n_jobs_is_reported(tiny):
    r = run(
        tiny,
        "search.fit(X, y)",
        setup="from sklearn.model_selection import GridSearchCV; "
        "search = GridSearchCV(SVC(), {'C': [1, 2]}, cv=2, n_jobs=2)",
    )
    assert any("the setup code sets n_jobs=" in w for w in r.warnings)


def test_nested_parallelism_is_reported(tiny):
    tiny.run_cell("from sklearn.ensemble import RandomForestClassifier").raise_error()
    r = run(
        tiny,
        "cross_val_score(RandomForestClassifier(n_estimators=20, n_jobs=2), X, y, cv=2, n_jobs=2)",
    )
    assert any(w.startswith("nested parallelism") for w in r.warnings)


def test_pool_changed_during_timed_runs_is_reported(tiny):
    tiny.run_cell(
        "from joblib import Parallel, delayed\n"
        "from ipyparallel_ds import _pools\n"
        "calls = [0]\n"
        "def restart_pool_sometimes():\n"
        "    calls[0] += 1\n"
        "    if Parallel().n_jobs == 2 and calls[0] % 2 == 0:\n"
        "        _pools.shutdown_pool()\n"
        "    return Parallel()(delayed(sum)(range(100)) for _ in range(4))\n"
    ).raise_error()
    r = tiny.run_line_magic("parcompare", "-o -q -j 1,2 -n1 -r4 restart_pool_sometimes()")
    assert r.configs[1].pool_changed
    assert any("worker processes changed" in w for w in r.warnings)


def test_other_subprocesses_are_not_counted_as_workers(tiny):
    """A busy child process that is not a pool worker (here a helper started before the
    statement) must not count as a worker, nor make the run look nested."""
    tiny.run_cell(
        "import subprocess, sys\n"
        "helper = subprocess.Popen([sys.executable, '-c', "
        "'import time\\nwhile True:\\n    sum(range(200_000)); time.sleep(0.005)'])\n"
        + SPIN
        + "from joblib import Parallel, delayed\n"
    ).raise_error()
    try:
        # Tasks of 0.25 s CPU each, so that both workers' CPU shows above the 10 ms clock tick.
        r = run(tiny, "Parallel()(delayed(spin)(0.25) for _ in range(2))")
    finally:
        tiny.user_ns["helper"].kill()
        tiny.user_ns["helper"].wait()
    assert r.configs[1].workers_used == 2
    assert not any(w.startswith("nested parallelism") for w in r.warnings)


# -- findings are data first -----------------------------------------------------------------
def test_findings_carry_the_numbers_behind_their_sentences():
    from _synthetic import memory_and_warnings_sweep

    from ipyparallel_ds import checks

    result = memory_and_warnings_sweep()
    found = checks.run(result.configs, checks.Context(usable=2), checks.TIMING_CHECKS)
    assert [f.text for f in found] == result.warnings[1:]  # after the sweep's own note
    unstable = next(f for f in found if f.check == "unstable_runs")
    assert f"{unstable.numbers['spread'] * 100:.0f} %" in unstable.text


def test_every_event_kind_has_its_sentence():
    from ipyparallel_ds import _events, checks

    samples = {
        _events.OverMemoryLimit("n_jobs=2", 2e9, "estimated", 1e9, "as given"): "2 GB",
        _events.BackendFailed("dask", "dask with 2 workers", "PicklingError", "no"): "pickl",
        _events.Interrupted("n_jobs=2", 1): "1 timed run done",
        _events.WorkerDied("n_jobs=2", (-9,)): "SIGKILL (-9)",
        _events.MeasuredAtItsSize(
            "tcp://127.0.0.1:8786", 2, (1, 2), "dask", "worker thread"
        ): "asked: 1, 2",
        _events.SizesTooLarge(2, (4,)): "size 4 could",
        _events.TasksCancelled(3, "a local dask cluster"): "3 outstanding tasks were",
    }
    kinds = {getattr(_events, name) for name in _events.__all__ if name != "Event"}
    assert {type(event) for event in samples} == set(checks.EVENTS) == kinds
    for event, words in samples.items():
        assert words in checks.EVENTS[type(event)](event).text


def _serial_observed(n_jobs, cpu, runnable=math.nan):
    from ipyparallel_ds.result import ConfigTiming

    runs = (0.5, 0.5, 0.5)
    return ConfigTiming(
        n_jobs, n_jobs, 0.6, 1, runs, parallel_calls=0, cpu_time=cpu, runnable_threads=runnable
    )


def _no_call_text(cpu, runnable=math.nan):
    from ipyparallel_ds import checks

    configs = [_serial_observed(1, cpu, runnable), _serial_observed(2, cpu, runnable)]
    (found,) = checks.run(configs, checks.Context(usable=2), [checks.ran.no_parallel_call])
    return found


def test_a_serial_run_that_used_several_cores_is_not_told_it_cannot():
    """KMeans-like: no joblib call, but OpenMP threads kept 1.9 cores busy at n_jobs=1
    (threads not counted: the CPU time says it)."""
    found = _no_call_text(1.9 * 1.5)
    assert found.numbers["cores_used"] == pytest.approx(1.9)
    assert "already kept 1.9 cores busy" in found.text and "Only code" not in found.text
    assert "Only code that runs through joblib" in _no_call_text(1.5).text


def test_a_loaded_machine_does_not_hide_a_library_s_threads():
    """KMeans on a machine another process keeps busy: its two OpenMP threads got one core
    between them (1.0 cores), yet both were running or waiting for a core all along; the
    count of threads, not the CPU time, decides."""
    found = _no_call_text(1.0 * 1.5, runnable=2.0)
    assert "already ran 2.0 threads at once on average and kept 1.0 cores busy" in found.text
    assert "one thread at a time" not in found.text
    found = _no_call_text(1.0 * 1.5, runnable=1.0)
    assert "ran one thread at a time (1.0 on average)" in found.text


def test_cores_above_the_usable_ones_are_not_quoted():
    """CPU time is counted in 10 ms ticks: a short run can come out at 2.1 cores on 2."""
    found = _no_call_text(2.1 * 1.5, runnable=2.0)
    assert "kept all 2 usable cores busy" in found.text and "2.1" not in found.text


def test_n_jobs_in_a_dict_of_parameters_is_found(tiny):
    """Gallery, 'Partial Dependence and Individual Conditional Expectation Plots': shared
    keyword arguments in a dict (`**common_params`) that holds n_jobs."""
    tiny.run_cell("common_params = {'n_jobs': 2, 'cv': 3}").raise_error()
    r = run(tiny, "cross_val_score(SVC(), X, y, **common_params)")
    serial, parallel = r.configs
    assert serial.effective_n_jobs == parallel.effective_n_jobs == (2,)
    assert any(w.startswith("the statement uses common_params (n_jobs=2)") for w in r.warnings)
    baseline = next(w for w in r.warnings if w.startswith("at n_jobs=1 joblib ran"))
    assert "common_params has n_jobs=2" in baseline
    assert r.no_effect and r.recommended_n_jobs == 1


def test_a_library_that_fixes_its_own_n_jobs_is_told_it(tiny):
    """User guide, 'Parallelism': HistGradientBoosting's binning runs joblib's threading
    backend with its own thread count, the same at every n_jobs."""
    tiny.run_cell("from sklearn.ensemble import HistGradientBoostingClassifier").raise_error()
    r = run(tiny, "HistGradientBoostingClassifier(max_iter=3).fit(X, y)")
    ran = {c.effective_n_jobs for c in r.configs}
    assert len(ran) == 1
    if ran != {(1,)}:  # one usable core gives n_threads=1: the sequential check says that
        assert any("n_jobs never reached them" in w for w in r.warnings)
        assert "at every value" in r.no_effect and r.recommended_n_jobs == 1
        baseline = next(w for w in r.warnings if w.startswith("at n_jobs=1 joblib ran"))
        assert "threading backend with a thread count of its own" in baseline


# -- threads, counted while they run ---------------------------------------------------------
THREADS_SETUP = (
    "from sklearn.ensemble import ExtraTreesClassifier, HistGradientBoostingClassifier; "
    "from sklearn.model_selection import GridSearchCV; "
    "from sklearn.datasets import make_classification; "
    "X, y = make_classification(n_samples=400, random_state=0)"
)


def test_threads_the_statement_starts_inside_workers_are_counted(tiny):
    """Parallelism guide, 'Oversubscription': a forest with n_jobs=-1 inside
    cross_val_score's workers runs threads of its own in every worker."""
    forest = "ExtraTreesClassifier(n_estimators=100, n_jobs=-1, random_state=0)"
    stmt = f"cross_val_score({forest}, X, y, cv=4)"
    r = run(tiny, stmt, setup=THREADS_SETUP)
    serial, parallel = r.configs
    if not parallel.peak_runnable_threads:  # not Linux: nothing was counted
        pytest.skip("runnable threads are counted from /proc")
    assert parallel.worker_runnable_threads >= 2
    assert parallel.runnable_threads > serial.runnable_threads
    assert any(w.startswith("oversubscription at n_jobs=2") for w in r.warnings)


def test_a_threading_call_in_the_kernel_is_no_oversubscription(tiny):
    """Parallelism guide: GridSearchCV over HistGradientBoosting, whose refit in the kernel
    calls joblib's threading backend; each loky worker runs one thread."""
    stmt = (
        "GridSearchCV(HistGradientBoostingClassifier(max_iter=10, random_state=0), "
        "{'learning_rate': [0.1, 0.3]}, cv=3).fit(X, y)"
    )
    r = run(tiny, stmt, setup=THREADS_SETUP)
    parallel = r.configs[1]
    assert "threading" in parallel.backend_used
    if parallel.peak_runnable_threads:
        assert parallel.worker_runnable_threads == 1
        assert not any(w.startswith("oversubscription") for w in r.warnings)
        assert "oversubscription" not in r.verdict


def test_what_cannot_be_compared_is_not_checked_never_different(tiny):
    """A result holding a function: the arrays are compared, the function is not checked."""
    r = run(tiny, "(cross_val_score(SVC(), X, y, cv=3), lambda: None)")
    assert r.results_equal is True
    assert not any("different result" in w for w in r.warnings)
    note = next(w for w in r.warnings if w.startswith("some parts of the results"))
    assert "[1]" in note and "function" in note


@pytest.mark.parametrize("backend", ["loky", "multiprocessing"])
def test_joblib_calls_inside_the_workers_are_recorded(tiny, backend):
    """Parallelism guide, nested parallelism: a forest with its own n_jobs inside
    cross_val_score's workers. Its calls happen in the workers, out of the kernel's sight;
    each worker records them, in loky's pool as in multiprocessing's."""
    tiny.run_cell("from sklearn.ensemble import RandomForestClassifier").raise_error()
    forest = "RandomForestClassifier(n_estimators=20, n_jobs=2, random_state=0)"
    r = run(tiny, f"cross_val_score({forest}, X, y, cv=3)", backend=backend)
    serial, parallel = r.configs
    assert serial.worker_parallel_calls == 0  # the baseline runs the folds in the kernel
    assert parallel.worker_parallel_calls >= 3  # each fold fits (and scores) in a worker
    assert parallel.worker_effective_n_jobs == (2,)
    assert parallel.worker_backend_used == "threading"
    warning = next(w for w in r.warnings if w.startswith("nested parallelism"))
    assert "made joblib calls of their own with n_jobs=2 (threading)" in warning
    plain = run(tiny, "cross_val_score(SVC(), X, y, cv=4)", backend=backend)
    assert plain.configs[1].worker_parallel_calls == 0
    assert not any(w.startswith("nested parallelism") for w in plain.warnings)


def _oversubscribed(backend="loky", environ=None, **counted):
    from ipyparallel_ds import checks
    from ipyparallel_ds.result import ConfigTiming

    config = ConfigTiming(
        2,
        2,
        0.6,
        1,
        (0.5,),
        backend=backend,
        backend_used=backend,
        parallel_calls=1,
        effective_n_jobs=(2,),
        **counted,
    )
    context = checks.Context(usable=2, environ=environ or {})
    found = checks.run([config], context, [checks.per_point(checks.threads.oversubscription)])
    return found[0] if found else None


def test_oversubscription_says_where_the_threads_ran():
    """The warning splits the counted threads between the kernel and its children, and
    names a cause only from a count: no cause is read from a backend's name."""
    found = _oversubscribed(
        runnable_threads=2.9,
        kernel_runnable_threads=0.9,
        busy_worker_runnable_threads=1.0,
        worker_runnable_threads=2,
        kernel_threads=1,
        worker_threads=1,
    )
    assert "0.9 in the kernel process and 2.0 in its child processes" in found.text
    assert "the kernel process ran 0.9 threads at once on average besides its worker" in found.text
    assert "cause unknown" not in found.text and "--inner-threads" not in found.text
    assert found.numbers["kernel_runnable_threads"] == 0.9


def test_threads_of_thread_workers_beyond_their_count_are_named_with_their_pools():
    """Threading backend, 2 worker threads each running a BLAS pool of 2 threads: the kernel
    ran 4 threads at once, so the pools are named, with the fix that limits them."""
    found = _oversubscribed(
        backend="threading",
        runnable_threads=4.0,
        kernel_runnable_threads=4.0,
        kernel_threads=2,
    )
    assert "the kernel process ran 4.0 threads at once on average for its 2 worker" in found.text
    assert "pools of 2 threads that thread workers share" in found.text
    assert "--inner-threads 1" in found.text
    # the same backend, with the kernel running no more than its worker threads: no pool
    # cause (the threads ran in the children)
    found = _oversubscribed(
        backend="threading",
        runnable_threads=2.6,
        kernel_runnable_threads=2.1,
        kernel_threads=2,
    )
    assert "thread workers share" not in found.text


def test_threads_inside_a_worker_are_named_with_its_count():
    found = _oversubscribed(
        runnable_threads=3.8,
        kernel_runnable_threads=0.1,
        busy_worker_runnable_threads=1.9,
        worker_runnable_threads=3,
        worker_effective_n_jobs=(2,),
        worker_threads=1,
    )
    assert "a worker process ran 1.9 threads at once on average while it worked" in found.text
    assert "the workers' own joblib calls ran with n_jobs=2" in found.text
    assert "set n_jobs on one level only" in found.text
    assert "BLAS/OpenMP pools" not in found.text


def test_a_thread_variable_is_a_cause_only_above_joblib_s_limit():
    """OMP_NUM_THREADS=1 (which a dask nanny sets, and many users do) cannot add threads;
    a value above joblib's per-worker limit (2 cores // 2 workers = 1) can."""
    counted = {"runnable_threads": 2.9, "kernel_runnable_threads": 0.2, "worker_threads": 1}
    found = _oversubscribed(environ={"OMP_NUM_THREADS": "1"}, **counted)
    assert "you set" not in found.text
    found = _oversubscribed(environ={"OMP_NUM_THREADS": "4"}, **counted)
    assert "you set OMP_NUM_THREADS=4, above joblib's limit of 1 per worker" in found.text


def test_a_few_samples_over_the_cores_are_no_oversubscription():
    """User guide, forests 'Parallelization': a forest with n_jobs=-1 on the threading
    backend runs its 2 worker threads, and the kernel wakes now and then (2.35 on average on
    2 cores). Over the cores in 30 % of the samples is no oversubscription; in 80 % it is."""
    counted = {"runnable_threads": 2.35, "kernel_runnable_threads": 2.35, "kernel_threads": 2}
    assert _oversubscribed("threading", oversubscribed_share=0.3, **counted) is None
    found = _oversubscribed("threading", oversubscribed_share=0.8, **counted)
    assert "more than the cores during 80% of the timed runs" in found.text
    assert found.numbers["oversubscribed_share"] == 0.8
