"""Insight: the scaling fit on synthetic timings, the recommendation, and what really ran on
real tiny workloads (each warning of the issue)."""

from __future__ import annotations

import math

import pytest

from ipyparallel_ds.engine import build_result
from ipyparallel_ds.insight import break_even_calls, fit_scaling, karp_flatt, recommended_config
from ipyparallel_ds.result import ConfigTiming


def timing(n_jobs, seconds, workers=None, first=None, spread=(1.0, 1.0, 1.0)):
    return ConfigTiming(
        n_jobs=n_jobs,
        workers=workers or n_jobs,
        first_call=first if first is not None else seconds + 1.0,
        loops=1,
        all_runs=tuple(seconds * f for f in spread),
    )


def amdahl(s, c, t1=1.0):
    return lambda p: t1 * (s + (1 - s) / p) + c * (p - 1)


@pytest.mark.parametrize(("s", "c"), [(0.04, 0.01), (0.2, 0.0), (0.01, 0.05)])
def test_fit_recovers_known_serial_fraction_and_overhead(s, c):
    law = amdahl(s, c)
    model = fit_scaling([timing(p, law(p)) for p in (1, 2, 4, 8)])
    assert model.serial_fraction == pytest.approx(s, rel=0.01)
    if c:
        assert model.overhead_per_worker == pytest.approx(c, rel=0.01)
    else:
        assert model.overhead_per_worker == pytest.approx(0.0, abs=1e-6)
    assert model.residual < 1e-6
    for p in (3, 16, 32):
        assert model.predict(p) == pytest.approx(1.0 / law(p))
    assert model.max_speedup == pytest.approx(1 / s, rel=0.01)


def test_fit_without_one_worker_fits_t1_too():
    law = amdahl(0.05, 0.02, t1=3.0)
    model = fit_scaling([timing(p, law(p)) for p in (2, 4, 8)])
    assert model.t1 == pytest.approx(3.0, rel=0.01)
    assert model.serial_fraction == pytest.approx(0.05, rel=0.01)


def test_two_points_give_the_serial_fraction_alone():
    law = amdahl(0.08, 0.0)
    model = fit_scaling([timing(1, law(1)), timing(2, law(2))])
    assert model.serial_fraction == pytest.approx(0.08)
    assert model.overhead_per_worker == 0.0
    assert "two worker counts" in model.note
    ((workers, kf),) = model.karp_flatt
    assert workers == 2 and kf == pytest.approx(karp_flatt(law(1) / law(2), 2))
    assert kf == pytest.approx(0.08)


def test_one_point_has_no_fit():
    assert fit_scaling([timing(1, 1.0)]) is None


def test_recommendation_is_the_fewest_workers_within_5_percent_of_the_best():
    configs = [timing(1, 1.0), timing(2, 0.52), timing(4, 0.50), timing(-1, 0.55, workers=4)]
    assert recommended_config(configs).n_jobs == 2
    result = build_result("f()", configs, 0, environment={"cores": {"usable": 4}})
    assert result.recommended_n_jobs == 2


def test_break_even_calls():
    base = timing(1, 1.0)
    assert break_even_calls(timing(2, 0.5, first=2.5), base) == 4  # 2.0 s start-up / 0.5 s
    assert break_even_calls(timing(2, 0.5, first=0.4), base) == 1  # no start-up cost
    assert break_even_calls(timing(2, 1.2, first=3.0), base) is None  # no saving: never


def test_verdict_states_only_measured_things():
    law = amdahl(0.04, 0.0)
    configs = [timing(1, law(1)), timing(2, law(2), first=law(2) + 2.0)]
    result = build_result("f()", configs, 0, environment={"cores": {"usable": 2}})
    text = result.verdict
    speedup = result.configs[1].speedup
    assert f"{speedup:.2f}× as fast" in text
    calls = result.break_even_calls
    assert calls == math.ceil(2.0 / (law(1) - law(2))) and f"after {calls} calls" in text
    assert "Recommended: n_jobs=2" in text
    assert "0.04" in text and "25×" in text
    assert text in result.report()


def test_verdict_when_parallel_is_slower_claims_no_serial_fraction():
    configs = [timing(1, 0.01), timing(2, 0.05, first=2.0)]
    result = build_result("f()", configs, 0, environment={"cores": {"usable": 2}})
    assert "slower" in result.verdict
    assert "serial fraction" not in result.verdict
    assert not result.scaling.explains_data
    ax = result.plot("speedup")  # nor does the chart draw a model that misses the data
    assert not any(line.get_label().startswith("fitted") for line in ax.lines)
    assert "Recommended: n_jobs=1" in result.verdict
    assert result.break_even_calls is None


def test_chart_shows_fit_and_recommendation():
    law = amdahl(0.1, 0.01)
    configs = [timing(p, law(p)) for p in (1, 2, 4)]
    result = build_result("f()", configs, 0, environment={"cores": {"usable": 4}})
    ax = result.plot("speedup")
    fitted = next(line for line in ax.lines if line.get_label().startswith("fitted"))
    assert max(fitted.get_xdata()) == pytest.approx(8)  # to twice the largest measured count
    star = next(line for line in ax.lines if line.get_label().startswith("recommended"))
    assert list(star.get_xdata()) == [result.recommended.workers]
    plain = result.plot("speedup", show_fit=False)
    assert not any(line.get_label().startswith("fitted") for line in plain.lines)
    assert not any(
        line.get_label().startswith("fitted") for line in result.plot("efficiency").lines
    )


# -- what really ran, on real tiny workloads ---------------------------------------------
def run(ip, stmt, n_jobs="1,2", setup=None):
    options = f"-o -q -j {n_jobs} -n1 -r2"
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


def test_recommending_a_value_within_the_noise_says_so():
    configs = [
        timing(1, 1.0, spread=(0.8, 1.0, 1.2)),
        timing(2, 0.9, spread=(0.7, 1.0, 1.3), first=2.0),
    ]
    result = build_result("f()", configs, 0, environment={"cores": {"usable": 2}})
    assert result.recommended_n_jobs == 2
    assert "not measurably faster" in result.verdict
    assert "within the noise" in result.verdict


def test_other_subprocesses_are_not_counted_as_workers(tiny):
    """A busy child process that is not a pool worker (here a helper started before the
    statement) must not count as a worker, nor make the run look nested."""
    tiny.run_cell(
        "import subprocess, sys\n"
        "helper = subprocess.Popen([sys.executable, '-c', "
        "'import time\\nwhile True:\\n    sum(range(200_000)); time.sleep(0.005)'])\n"
    ).raise_error()
    try:
        r = run(tiny, "cross_val_score(SVC(), X, y, cv=4)")
    finally:
        tiny.user_ns["helper"].kill()
        tiny.user_ns["helper"].wait()
    assert r.configs[1].workers_used == 2
    assert not any(w.startswith("nested parallelism") for w in r.warnings)


def test_timings_inside_results_do_not_count_as_different_results():
    from ipyparallel_ds.insight import same_result

    a = {"test_score": [0.9, 0.8], "fit_time": [0.1, 0.2], "score_time": [0.01, 0.02]}
    b = {"test_score": [0.9, 0.8], "fit_time": [0.3, 0.1], "score_time": [0.03, 0.01]}
    assert same_result(a, b)
    assert not same_result(a, {**b, "test_score": [0.9, 0.7]})


def test_a_fitted_search_is_the_same_result_across_runs():
    from sklearn.datasets import make_classification
    from sklearn.model_selection import GridSearchCV
    from sklearn.svm import SVC

    from ipyparallel_ds.insight import same_result

    X, y = make_classification(n_samples=100, random_state=0)
    fits = [GridSearchCV(SVC(), {"C": [0.1, 1.0]}, cv=3).fit(X, y) for _ in range(2)]
    assert same_result(*fits)


def test_a_one_worker_cluster_is_never_recommended():
    from dataclasses import replace

    from ipyparallel_ds.insight import recommended_config
    from ipyparallel_ds.result import ConfigTiming

    serial = ConfigTiming(1, 1, 0.1, 1, (0.10, 0.10, 0.10), backend="sequential", speedup=1.0)
    noise = replace(serial, backend="dask", speedup=1.1, all_runs=(0.09, 0.09, 0.09))
    slower = replace(serial, n_jobs=2, workers=2, backend="dask", speedup=0.6)
    assert recommended_config([serial, noise, slower]) is serial
