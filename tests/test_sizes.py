"""The data-size sweep (``--data X,y --sizes ...``) on tiny data: which rows each size gets,
the result's structure, its words and chart, and bad input. Never timings."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
from IPython.core.error import UsageError
from test_parcompare import StateCheck

from ipyparallel_ds import parcompare
from ipyparallel_ds._sizes import row_counts, subset
from ipyparallel_ds.data_size import break_even_rows, fit_sizes
from ipyparallel_ds.result import ParCompareResult, build_result
from ipyparallel_ds.timing import ConfigTiming

# Iris is sorted by class: its first 45 rows are all setosa, so a subset that took the first
# rows would give cross-validation one class. The sweep draws rows by a seeded shuffle.
IRIS = """
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
X, y = load_iris(return_X_y=True)
seen = []
"""
STATEMENT = "seen.append(tuple(y)); cross_val_score(LogisticRegression(max_iter=300), X, y, cv=3)"


@pytest.fixture
def iris(ip):
    ip.run_cell(IRIS).raise_error()
    return ip


@pytest.fixture
def state(ip):
    check = StateCheck(ip)
    yield check
    check.assert_restored()


def magic(ip, options, statement=STATEMENT):
    return ip.run_line_magic("parcompare", f"-o -q -j 1,2 -n 1 -r 1 {options} {statement}")


def test_each_size_runs_at_every_n_jobs_on_the_same_nested_rows(iris, state):
    X, y = iris.user_ns["X"], iris.user_ns["y"]
    before = (X.copy(), y.copy())
    state.mark()
    r = magic(iris, "--data X,y --sizes 0.3,1")
    # The user's arrays are the same objects, unchanged.
    assert iris.user_ns["X"] is X and iris.user_ns["y"] is y
    assert np.array_equal(X, before[0]) and np.array_equal(y, before[1])
    assert r.data_rows == 150 and r.data_names == ("X", "y")
    assert [(c.rows, c.n_jobs) for c in r.size_configs] == [(45, 1), (45, 2), (150, 1), (150, 2)]
    assert [c.rows for c in r.configs] == [150, 150]
    # What the statement saw: every class at 45 rows (so cross-validation ran), the same rows
    # at n_jobs 1 and 2, and the 45 rows among the 150.
    seen = iris.user_ns["seen"]
    small = {s for s in seen if len(s) == 45}
    large = {s for s in seen if len(s) == 150}
    assert len(small) == 1 and len(large) == 1
    (small_rows,) = small
    assert set(small_rows) == {0, 1, 2}
    (large_rows,) = large
    assert tuple(large_rows[:45]) == small_rows
    assert sorted(large_rows) == sorted(y.tolist())
    # The result speaks of sizes.
    assert r.break_even_rows in (None, 45, 150)
    assert "Against data size, n_jobs=2 ran" in r.verdict
    assert "speedup against data size" in r.report()


def test_the_fit_predicts_the_full_size_from_the_smaller_ones(iris, state):
    r = parcompare(
        STATEMENT, n_jobs=[1, 2], number=1, repeat=1, data=["X", "y"], sizes=[20, 40, 60, 90],
        namespace=iris.user_ns, quiet=True,
    )  # fmt: skip
    assert sorted({c.rows for c in r.size_configs}) == [20, 40, 60, 90]
    fits = {f.n_jobs: f for f in r.size_fits}
    assert set(fits) == {1, 2}
    # Four sizes below the full 150 rows: a prediction with an interval, none measured.
    assert fits[1].fitted_rows == (20, 40, 60, 90) and fits[1].rows == 150
    assert fits[1].interval[0] < fits[1].time < fits[1].interval[1]
    assert math.isnan(fits[1].measured) and math.isnan(fits[1].error)
    assert "predicts" in r.verdict and "at 150 rows" in r.verdict
    # The chart's size view, and the widget offers it.
    ax = r.plot("size")
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "rows of X, y (of 150)"
    assert any(line.get_label().endswith("predicted at 150 rows") for line in ax.lines)
    assert "size" in r.widget().metric.options
    loaded = ParCompareResult.from_json(r.to_json())
    assert loaded.size_configs == r.size_configs and loaded.verdict == r.verdict


def test_a_result_without_sizes_has_no_size_view():
    r = build_result("f()", [_config(1, 1, 1.0), _config(2, 2, 0.5)], 0)
    assert r.size_configs == [] and r.break_even_rows is None and r.size_fits == []
    with pytest.raises(ValueError, match="needs a data-size sweep"):
        r.plot("size")
    assert "size" not in list(r.widget().metric.options)


BAD = [
    ("--data Z,y", "there is no variable named 'Z'"),
    (
        "--data X,short",
        "the arrays differ in length along the first axis (X has 150, short has 10)",
    ),
    ("--data X,y --sizes 0", "--sizes must be above 0, got '0'"),
    ("--data X,y --sizes -2", "--sizes must be above 0, got '-2'"),
    ("--data X,y --sizes 1.5", "'1.5' is a fraction above 1"),
    ("--data X,y --sizes 0.1,many", "'many'"),
    ("--data X,y --sizes 500", "--sizes 500 is more rows than the data has (150)"),
    ("--sizes 0.5", "--sizes needs --data"),
    ("--data X,1y", "'X,1y'"),
    ("--data seen_count", "seen_count is a int, which has no rows"),
]


@pytest.mark.parametrize(("options", "message"), BAD)
def test_bad_data_or_sizes_are_a_usage_error_before_anything_runs(iris, state, options, message):
    iris.run_cell("short = list(range(10)); seen_count = 3").raise_error()
    state.mark()
    with pytest.raises(UsageError) as info:
        magic(iris, options)
    assert message in str(info.value)
    assert iris.user_ns["seen"] == []  # nothing ran


def test_subsets_of_frames_lists_and_sparse_matrices_are_new_objects_by_position():
    import pandas as pd
    from scipy import sparse

    order = np.array([2, 0])
    frame = pd.DataFrame({"a": [10, 11, 12]}, index=[7, 8, 9])
    assert subset(frame, order)["a"].tolist() == [12, 10]
    assert subset([5, 6, 7], order) == [7, 5]
    matrix = sparse.csr_matrix(np.eye(3))
    assert subset(matrix, order).toarray().tolist() == [[0, 0, 1], [1, 0, 0]]
    assert row_counts([0.1, 1.0, 30], 150) == [15, 30, 150]
    assert row_counts([0.001], 150) == [1]  # never no rows at all


def _config(n_jobs, workers, median, rows=None, spread=0.01):
    runs = (median * (1 - spread), median, median * (1 + spread))
    return ConfigTiming(n_jobs, workers, median * 3, 1, runs, rows=rows, backend="loky")


def _sized(points):
    """Configs with speedups, as a sweep at each size leaves them."""
    configs = []
    for rows, serial, parallel in points:
        pair = [_config(1, 1, serial, rows), _config(2, 2, parallel, rows)]
        configs += build_result("f()", pair, 0).configs
    return configs


def test_break_even_is_the_smallest_size_where_the_whole_interval_clears_1():
    configs = _sized([(100, 0.01, 0.03), (1000, 0.1, 0.099), (10000, 1.0, 0.55)])
    assert break_even_rows(configs, 1) == 10000  # 1.01× at 1000 rows is within the noise
    assert break_even_rows(_sized([(100, 0.01, 0.03)]), 1) is None


def test_the_fit_recovers_a_fixed_cost_and_a_power_law_and_its_error_at_the_full_size():
    # Serial time grows as rows^1.5; parallel as half of that plus a fixed 5 ms per call.
    rows = (100, 300, 1000, 3000)
    points = [(r, 1e-6 * r**1.5, 0.5e-6 * r**1.5 + 0.005) for r in rows]
    fits = {f.n_jobs: f for f in fit_sizes(_sized(points), 3000)}
    assert fits[1].fitted_rows == fits[2].fitted_rows == (100, 300, 1000)
    assert fits[1].exponent == pytest.approx(1.5, rel=1e-3)
    assert fits[2].fixed == pytest.approx(0.005, rel=1e-2)
    assert fits[2].measured == pytest.approx(0.5e-6 * 3000**1.5 + 0.005)
    assert abs(fits[2].error) < 1e-3
    # Three sizes fix three parameters: no interval; a fourth size gives one.
    assert math.isnan(fits[1].interval[0])
    more = [
        (r, 1e-6 * r**1.5 * (1 + e), 0.01)
        for r, e in zip((100, 300, 1000, 3000), (0.02, -0.02, 0.01, 0), strict=True)
    ]
    (four, _) = fit_sizes(_sized(more), 10000)
    assert four.interval[0] < four.time < four.interval[1]


def test_two_sizes_give_a_power_law_through_both():
    points = [(100, 0.01, 0.02), (400, 0.08, 0.05)]
    fit = next(f for f in fit_sizes(_sized(points), 1600) if f.n_jobs == 1)
    assert fit.fixed == 0 and fit.exponent == pytest.approx(1.5)
    assert fit.time == pytest.approx(0.64) and math.isnan(fit.interval[0])


def test_a_statement_that_fails_at_a_size_says_which(iris, state):
    # cv=3 needs three rows at least, so the first size (2 rows) fails.
    with pytest.raises(ValueError) as info:
        magic(iris, "--data X,y --sizes 2,150")
    if sys.version_info >= (3, 11):  # exceptions carry notes from Python 3.11
        notes = getattr(info.value, "__notes__", [])
        assert any("at 2 of the 150 rows of --data X,y" in n for n in notes), notes
