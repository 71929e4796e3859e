"""Whether two results of a statement are the same."""

from __future__ import annotations


def test_timings_inside_results_do_not_count_as_different_results():
    from ipyparallel_ds.same_result import same_result

    a = {"test_score": [0.9, 0.8], "fit_time": [0.1, 0.2], "score_time": [0.01, 0.02]}
    b = {"test_score": [0.9, 0.8], "fit_time": [0.3, 0.1], "score_time": [0.03, 0.01]}
    assert same_result(a, b)
    assert not same_result(a, {**b, "test_score": [0.9, 0.7]})


def test_a_fitted_search_is_the_same_result_across_runs():
    from sklearn.datasets import make_classification
    from sklearn.model_selection import GridSearchCV
    from sklearn.svm import SVC

    from ipyparallel_ds.same_result import same_result

    X, y = make_classification(n_samples=100, random_state=0)
    fits = [GridSearchCV(SVC(), {"C": [0.1, 1.0]}, cv=3).fit(X, y) for _ in range(2)]
    assert same_result(*fits)
