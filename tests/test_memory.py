"""Memory per n_jobs, the memory guard, killed workers, and the same-result check."""

from __future__ import annotations

import math

import pytest
from IPython.core.error import UsageError

from ipyparallel_ds import _validate
from ipyparallel_ds.same_result import compare_results, same_result

SHARED_ARRAY = (
    "import numpy as np\n"
    "from joblib import Parallel, delayed\n"
    "big = np.ones(5_000_000)  # 40 MB: joblib memory-maps it to the workers\n"
)


def run(ip, options, stmt):
    return ip.run_line_magic("parcompare", f"-o -q -j 1,2 -n1 -r2 {options} {stmt}")


def test_memory_per_n_jobs_by_pss(ip):
    ip.run_cell(SHARED_ARRAY).raise_error()
    r = run(ip, "--memory", "Parallel()(delayed(np.sum)(big) for _ in range(4))")
    serial, parallel = r.configs
    assert serial.memory_method == parallel.memory_method == "pss"
    assert r.kernel_memory > 40e6  # the kernel holds the array
    assert serial.peak_memory >= r.kernel_memory * 0.9
    # The peak counts the worker processes' own memory. (Not compared with the
    # serial peak: the kernel's own PSS falls whenever a process forked from it shares its
    # pages, which happens in a long test run.)
    assert parallel.memory_per_worker > 10e6  # each worker: a Python process with numpy
    assert parallel.memory_per_worker > 0 and parallel.idle_worker_memory > 0
    # Σ RSS counts the memory-mapped array once per process; Σ PSS splits it
    assert parallel.rss_total > parallel.peak_memory
    assert "peak memory (PSS)" in r.table()
    assert r.plot("memory").get_ylabel() == "peak memory (MB)"
    assert "memory" in r.widget().metric.options


def test_no_memory_option(ip):
    r = run(ip, "--no-memory", "sum(range(10))")
    assert all(math.isnan(c.peak_memory) for c in r.configs)
    assert "peak memory" not in r.table()
    assert "memory" not in r.widget().metric.options


def test_memory_guard_skips_a_value_that_would_not_fit(ip):
    ip.run_cell(SHARED_ARRAY).raise_error()
    r = run(ip, "--memory --max-memory 1M", "Parallel()(delayed(np.sum)(big) for _ in range(4))")
    assert [c.n_jobs for c in r.configs] == [1]
    warning = next(w for w in r.warnings if "n_jobs=2 was skipped" in w)
    assert "estimated at" in warning and "--max-memory limit of 1.05 MB" in warning


@pytest.mark.parametrize("bad", ["0%", "lots", "150%"])
def test_bad_max_memory_is_a_usage_error(ip, bad):
    with pytest.raises(UsageError, match="--max-memory") as info:
        ip.run_line_magic("parcompare", f"--max-memory {bad} pass")
    assert type(info.value) is UsageError and repr(bad) in str(info.value)


def test_contradicting_switches_are_a_usage_error(ip):
    with pytest.raises(UsageError, match="contradict"):
        ip.run_line_magic("parcompare", "--memory --no-memory pass")


def test_killed_worker_keeps_what_was_measured(ip):
    ip.run_cell(
        "import os, signal\nfrom joblib import Parallel, delayed\n"
        "def kill_myself():\n    os.kill(os.getpid(), signal.SIGKILL)\n"
        "def dies_in_parallel():\n"
        "    if Parallel().n_jobs == 2:\n"
        "        Parallel()(delayed(kill_myself)() for _ in range(2))\n"
    ).raise_error()
    r = run(ip, "", "dies_in_parallel()")
    assert [c.n_jobs for c in r.configs] == [1]
    note = next(w for w in r.warnings if "worker process was killed" in w)
    assert "SIGKILL (-9)" in note and "out of memory" in note
    assert ip.run_cell("1 + 1").result == 2  # the kernel is alive


def test_unseeded_random_forest_gives_different_results(tiny):
    tiny.run_cell("from sklearn.ensemble import RandomForestClassifier").raise_error()
    r = run(tiny, "--check", "RandomForestClassifier(n_estimators=10, n_jobs=2).fit(X, y)")
    assert r.results_equal is False
    assert any("different result" in w and "random_state" in w for w in r.warnings)


def test_seeded_random_forest_gives_the_same_results(tiny):
    tiny.run_cell("from sklearn.ensemble import RandomForestClassifier").raise_error()
    r = run(tiny, "", "RandomForestClassifier(n_estimators=10, n_jobs=2, random_state=0).fit(X, y)")
    assert r.results_equal is True
    assert not any("different result" in w for w in r.warnings)


def test_statement_without_value_is_not_checked(ip):
    assert run(ip, "", "x = 1").results_equal is None
    assert run(ip, "--no-check", "1 + 1").results_equal is None


def test_same_result_rules():
    import numpy as np

    assert same_result(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-12]))
    assert not same_result(np.array([1.0, 2.0]), np.array([1.0, 2.5]))
    assert same_result({"a": [1, 2]}, {"a": [1, 2]})
    assert not same_result("a", "b")
    assert same_result(None, None)
    assert compare_results({1: 1, 2: 1, 4: 2}, 1) == (False, [4])
    assert compare_results({1: 1}, 1) == (None, [])


def test_parse_max_memory():
    assert _validate.parse_max_memory("80%") == ("share", 0.8)
    assert _validate.parse_max_memory("4G") == ("bytes", 4 * 1024**3)
    assert _validate.parse_max_memory("500M") == ("bytes", 500 * 1024**2)


# -- threads ------------------------------------------------------------------------------
def pools():
    from threadpoolctl import threadpool_info

    return [(p["internal_api"], p["num_threads"]) for p in threadpool_info()]


def test_thread_report_per_value(tiny):
    r = run(tiny, "", "cross_val_score(SVC(), X, y, cv=4)")
    serial, parallel = r.configs
    assert serial.kernel_threads >= 1 and serial.worker_threads is None
    assert parallel.worker_threads is not None and "worker" in parallel.thread_pools
    assert parallel.total_threads == parallel.workers_used * parallel.worker_threads


def test_user_thread_variables_oversubscribe_and_inner_threads_fixes_it(tiny, monkeypatch):
    """User-set thread variables override joblib's per-worker limit: matrix products in two
    workers then run two BLAS threads each, four on two cores (counted as they run)."""
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    monkeypatch.setenv("MKL_NUM_THREADS", "2")
    tiny.run_cell(
        "import numpy as np\nfrom joblib import Parallel, delayed\n"
        "A = np.random.default_rng(0).random((600, 600))\n"
    ).raise_error()
    statement = "Parallel()(delayed(np.dot)(A, A) for _ in range(12))"
    before = pools()
    r = tiny.run_line_magic("parcompare", f"-o -q -j 1,-1 -n1 -r2 {statement}")
    warning = next(w for w in r.warnings if w.startswith("oversubscription at n_jobs=-1"))
    assert "OMP_NUM_THREADS=2" in warning and "--inner-threads" in warning
    assert "oversubscription" in r.verdict
    fixed = tiny.run_line_magic(
        "parcompare", f"-o -q -j 1,-1 -n1 -r2 --inner-threads 1 {statement}"
    )
    assert not any(w.startswith("oversubscription") for w in fixed.warnings)
    assert fixed.configs[1].worker_threads == 1 and fixed.inner_threads == 1
    assert "ran with 1 BLAS/OpenMP thread" in fixed.verdict
    assert pools() == before  # thread limits in the kernel are as they were


@pytest.mark.parametrize("bad", ["0", "many"])
def test_bad_inner_threads_is_a_usage_error(ip, bad):
    with pytest.raises(UsageError, match="--inner-threads"):
        ip.run_line_magic("parcompare", f"--inner-threads {bad} pass")


def test_a_tree_reading_with_a_fork_in_it_is_dropped(monkeypatch):
    """A kernel read before a fork and its child read after it would count the shared pages
    one and a half times: the kernel is read again after its children, and a reading in which
    it moved is dropped. Σ RSS comes from the same reading as the peak."""
    from ipyparallel_ds._memory import PeakSampler, ProcessTree

    tree = ProcessTree()
    child = object()
    monkeypatch.setattr(tree.process, "children", lambda recursive: [child])
    readings = iter([(600e6, 620e6), (300e6, 600e6), (300e6, 620e6)])  # PSS halves at fork
    monkeypatch.setattr(tree, "_both", lambda process: next(readings))
    assert tree.snapshot() is None

    readings = iter([(300e6, 620e6), (300e6, 600e6), (300e6, 620e6)])  # after the fork
    kernel, children, rss = tree.snapshot()
    assert (kernel, children, rss) == (300e6, 300e6, 1220e6)

    sampler = PeakSampler(tree, 0.01, with_children=True)
    readings = iter([(600e6, 620e6), (300e6, 600e6), (300e6, 620e6)])
    sampler.sample()
    assert (sampler.samples, sampler.dropped, sampler.peak) == (0, 1, 0.0)
    readings = iter([(300e6, 620e6), (300e6, 600e6), (300e6, 620e6)])
    sampler.sample()
    assert (sampler.peak, sampler.peak_children, sampler.peak_rss) == (600e6, 300e6, 1220e6)
