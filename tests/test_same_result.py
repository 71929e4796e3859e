"""Whether two results of a statement are the same.

The scikit-learn cases come from its user guide and gallery, on tiny data; each names its source
(the page under https://scikit-learn.org/stable/). Two runs of a seeded statement must compare
equal; unseeded ones whose predictions differ must compare different.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
import pytest

from ipyparallel_ds.same_result import (
    MAX_LISTED,
    Comparison,
    compare,
    compare_all,
    compare_results,
    same_result,
)


def twice(make):
    return compare(make(), make())


@pytest.fixture(scope="module")
def classification():
    from sklearn.datasets import make_classification

    return make_classification(n_samples=120, n_features=8, random_state=0)


@pytest.fixture(scope="module")
def regression():
    from sklearn.datasets import make_regression

    return make_regression(n_samples=120, n_features=4, noise=10.0, random_state=0)


def test_timings_inside_results_do_not_count_as_different_results():
    a = {"test_score": [0.9, 0.8], "fit_time": [0.1, 0.2], "score_time": [0.01, 0.02]}
    b = {"test_score": [0.9, 0.8], "fit_time": [0.3, 0.1], "score_time": [0.03, 0.01]}
    assert same_result(a, b)
    assert not same_result(a, {**b, "test_score": [0.9, 0.7]})


def test_a_fitted_search_is_the_same_result_across_runs():
    from sklearn.datasets import make_classification
    from sklearn.model_selection import GridSearchCV
    from sklearn.svm import SVC

    X, y = make_classification(n_samples=100, random_state=0)
    fits = [GridSearchCV(SVC(), {"C": [0.1, 1.0]}, cv=3).fit(X, y) for _ in range(2)]
    assert same_result(*fits)


# Synthetic structures


def test_tuples_of_arrays_of_different_shapes():
    a = (np.arange(5.0), np.ones((5, 3)), 0.5)
    assert compare(a, (np.arange(5.0), np.ones((5, 3)), 0.5)) == Comparison(True, (), (), 3)
    changed = compare(a, (np.arange(5.0), np.ones((5, 3)) * 2, 0.5))
    assert not changed.equal and changed.differences == ("[1]",)
    assert compare(a, (np.arange(4.0), np.ones((5, 3)), 0.5)).differences == ("[0]",)
    assert compare(a, a[:2]).differences == ("<value>",)


def test_masked_object_arrays_compare_their_unmasked_values():
    def param(values, mask):
        return np.ma.MaskedArray(np.array(values, dtype=object), mask=mask)

    a = param(["scale", 0.001, None], [False, False, True])
    assert compare(a, param(["scale", 0.001 + 1e-12, "other"], [False, False, True])).equal
    assert compare(a, param(["scale", 0.01, None], [False, False, True])).differences == ("[1]",)
    assert not compare(a, param(["scale", 0.001, None], [False, True, True])).equal
    numeric = np.ma.MaskedArray([1.0, 2.0], mask=[False, True])
    assert compare(numeric, np.ma.MaskedArray([1.0, 5.0], mask=[False, True])).equal


def test_nan_equals_nan():
    assert compare(float("nan"), float("nan")).equal
    assert compare(np.array([1.0, np.nan]), np.array([1.0, np.nan])).equal
    assert compare([np.float64("nan")], [float("nan")]).equal
    assert not compare(np.array([1.0, np.nan]), np.array([1.0, 2.0])).equal
    assert compare(1.0, 1.0 + 1e-12).equal and not compare(1.0, 1.1).equal
    assert not compare(10**9, 10**9 + 1).equal  # integers are exact


def test_nested_timing_keys_and_parallelism_settings_are_ignored():
    @dataclass
    class Run:
        scores: dict
        refit_time_: float
        n_jobs: int

    a = Run({"cv": {"mean_fit_time": [1.0], "mean_test_score": [0.5]}, "clf__n_jobs": 1}, 2.0, 1)
    b = Run({"cv": {"mean_fit_time": [9.0], "mean_test_score": [0.5]}, "clf__n_jobs": 4}, 7.0, 4)
    assert compare(a, b) == Comparison(True, (), (), 1)
    b.scores["cv"]["mean_test_score"] = [0.6]
    assert compare(a, b).differences == (".scores['cv']['mean_test_score'][0]",)


def test_what_cannot_be_compared_is_not_checked_never_different():
    result = compare({"score": 0.5, "f": lambda: 1}, {"score": 0.5, "f": lambda: 1})
    assert result.equal and result.checked == 1
    assert result.not_checked == ("['f'] (function)",)
    assert compare(threading.Lock(), threading.Lock()).not_checked == ("<value> (lock)",)
    generators = compare((i for i in range(2)), (i for i in range(2)))
    assert generators == Comparison(True, (), ("<value> (generator)",), 0)
    # Nothing could be compared at all: not "all equal" but not checked.
    assert compare_results({1: iter([1]), 2: iter([1])}, 1) == (None, [])


def test_one_object_returned_at_both_points_is_not_checked():
    from sklearn.linear_model import LinearRegression

    model = LinearRegression()  # `model.fit(X, y)` returns the model, refitted in place
    assert compare(model, model) == Comparison(
        True, (), ("<value> (LinearRegression, the same object at both points)",), 0
    )
    assert compare_results({1: model, 2: model}, 1) == (None, [])
    constant = (1, 2)  # immutable: the same value
    assert compare(constant, constant) == Comparison(True, (), (), 1)


def test_self_referencing_structures_terminate():
    from sklearn.linear_model import LinearRegression

    a, b = [1.0], [1.0]
    a.append(a)
    b.append(b)
    assert compare(a, b).equal
    d, e = {"x": 1}, {"x": 2}
    d["self"], e["self"] = d, e
    assert compare(d, e).differences == ("['x']",)
    one, two = LinearRegression(), LinearRegression()
    one.self_, two.self_ = one, two
    assert compare(one, two).equal
    deep_a, deep_b = [], []
    for _ in range(500):
        deep_a, deep_b = [deep_a], [deep_b]
    deep = compare(deep_a, deep_b)
    assert deep.equal and deep.not_checked[0].endswith("(list, nested too deep)")


def test_paths_and_limits_of_differences():
    a = {"test_score": np.array([0.1, 0.2, 0.3, 0.4]), "estimator": [object()] * 2}
    b = {"test_score": [0.1, 0.2, 0.3, 0.5], "estimator": a["estimator"]}
    assert compare(a, b).differences == ("['test_score']",)  # an array against a list
    b["test_score"] = np.array([0.1, 0.2, 0.3, 0.5], dtype=object)
    assert compare(a, b).differences == ("['test_score'][3]",)
    many = compare(list(range(20)), list(range(1, 21)))
    assert len(many.differences) == MAX_LISTED and many.differences[0] == "[0]"


def test_compare_all_and_compare_results():
    values = {1: {"s": [0.5]}, 2: {"s": [0.5]}, 4: {"s": [0.7]}}
    comparisons = compare_all(values, 1)
    assert set(comparisons) == {2, 4} and comparisons[4].differences == ("['s'][0]",)
    assert compare_results(values, 1) == (False, [4])
    assert compare_results({1: 1, 2: 1}, 1) == (True, [])
    assert compare_results({1: 1}, 1) == (None, [])
    assert compare_all({2: 1}, 1) == {}


def test_pandas_objects(classification):
    import pandas as pd

    frame = pd.DataFrame({"mean_fit_time": [1.0, 2.0], "mean_test_score": [0.5, np.nan]})
    other = frame.assign(mean_fit_time=[3.0, 4.0])
    assert compare(frame, other).equal
    changed = compare(frame, other.assign(mean_test_score=[0.4, np.nan]))
    assert changed.differences == ("['mean_test_score']",)
    column = frame["mean_test_score"]
    assert compare(column, column.copy()) == Comparison(True, (), (), 4)  # index (2), name, values
    assert compare(column, column.rename("x")).differences == (".name",)


# scikit-learn's user guide and gallery


def test_learning_curve(classification):
    # user guide, modules/learning_curve.html "Learning curve" (learning_curve returns the
    # sizes, the train and the test scores: arrays of different shapes)
    from sklearn.model_selection import learning_curve
    from sklearn.svm import SVC

    X, y = classification
    result = twice(
        lambda: learning_curve(
            SVC(kernel="linear"), X, y, train_sizes=[0.5, 1.0], cv=3, shuffle=True, random_state=0
        )
    )
    assert result == Comparison(True, (), (), 3)


def test_permutation_test_score(classification):
    # user guide, modules/cross_validation.html "Permutation test score"; gallery
    # model_selection/plot_permutation_tests_for_classification
    from sklearn.model_selection import permutation_test_score
    from sklearn.svm import SVC

    X, y = classification
    result = twice(
        lambda: permutation_test_score(
            SVC(kernel="linear"), X, y, cv=3, n_permutations=10, random_state=0
        )
    )
    assert result == Comparison(True, (), (), 3)


def test_cross_validate_with_return_estimator():
    # user guide, modules/cross_validation.html "The cross_validate function and multiple
    # metric evaluation" (iris, a linear SVC, two metrics, return_estimator=True)
    from sklearn import svm
    from sklearn.datasets import load_iris
    from sklearn.model_selection import cross_validate

    X, y = load_iris(return_X_y=True)
    results = [
        cross_validate(
            svm.SVC(kernel="linear", C=1, random_state=42),
            X,
            y,
            scoring=["precision_macro", "recall_macro"],
            return_estimator=True,
        )
        for _ in range(2)
    ]
    result = compare(*results)
    assert result.equal and result.not_checked == () and result.checked > 5 * 10
    results[1]["estimator"][3].dual_coef_[0, 0] += 1.0
    assert compare(*results).differences == ("['estimator'][3].dual_coef_",)


def test_grid_search_with_a_grid_of_mixed_types(classification):
    # the issue's case: cv_results_['param_gamma'] is a masked object array; user guide,
    # modules/grid_search.html "Exhaustive Grid Search"; gallery pd.DataFrame(cv_results_)
    import pandas as pd
    from sklearn.model_selection import GridSearchCV
    from sklearn.svm import SVC

    X, y = classification
    searches = [
        GridSearchCV(SVC(), {"C": [1, 10], "gamma": ["scale", 0.001]}, cv=5).fit(X, y)
        for _ in range(2)
    ]
    assert isinstance(searches[0].cv_results_["param_gamma"], np.ma.MaskedArray)
    results = compare(*(s.cv_results_ for s in searches))
    assert results.equal and results.not_checked == () and results.checked > 15
    assert compare(*(pd.DataFrame(s.cv_results_) for s in searches)).equal
    whole = compare(*searches)
    assert whole.equal and whole.not_checked == ()
    searches[1].best_estimator_._probA = np.array([1.0])  # the private libsvm arrays count
    assert compare(*searches).differences == (".best_estimator_._probA",)


def test_grid_search_with_multi_metric_scoring_and_refit():
    # gallery model_selection/plot_multi_metric_evaluation (hastie data, a dict of scorers
    # including make_scorer, refit="AUC"), on 200 samples and three grid points
    from sklearn.datasets import make_hastie_10_2
    from sklearn.metrics import accuracy_score, make_scorer
    from sklearn.model_selection import GridSearchCV
    from sklearn.tree import DecisionTreeClassifier

    X, y = make_hastie_10_2(n_samples=200, random_state=42)

    def search(accuracy):
        return GridSearchCV(
            DecisionTreeClassifier(random_state=42),
            param_grid={"min_samples_split": range(2, 103, 50)},
            scoring={"AUC": "roc_auc", "Accuracy": make_scorer(accuracy)},
            refit="AUC",
            return_train_score=True,
            cv=3,
        ).fit(X, y)

    result = twice(lambda: search(accuracy_score))
    assert result.equal and result.not_checked == ()
    # A scorer made in the statement from a new lambda at each run: only that is not checked.
    result = twice(lambda: search(lambda t, p: (t == p).mean()))
    assert result.equal and result.not_checked == (".scoring['Accuracy']._score_func (function)",)


def test_displays_compare_their_data_not_their_artists(regression, classification):
    # gallery inspection/plot_partial_dependence; user guide, modules/learning_curve.html
    # (LearningCurveDisplay); non-interactive matplotlib, no pyplot
    from matplotlib.figure import Figure
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.inspection import PartialDependenceDisplay
    from sklearn.model_selection import LearningCurveDisplay
    from sklearn.svm import SVC

    X, y = regression
    model = GradientBoostingRegressor(n_estimators=10, random_state=0).fit(X, y)

    def display(features=(0, (0, 1)), kind="average"):
        return PartialDependenceDisplay.from_estimator(
            model,
            X,
            list(features),
            kind=kind,
            grid_resolution=8,
            subsample=30,
            random_state=0,
            ax=Figure().add_subplot(),
        )

    result = twice(display)
    assert result.equal and result.not_checked == () and result.checked > 5
    assert twice(lambda: display([1], kind="both")).equal
    assert compare(display(), display([1, (0, 1)])).differences[0].startswith(".pd_results[0]")
    assert compare(display().figure_, display().figure_).not_checked == ("<value> (Figure)",)
    Xc, yc = classification
    curve = twice(
        lambda: LearningCurveDisplay.from_estimator(
            SVC(), Xc, yc, train_sizes=[0.5, 1.0], cv=3, ax=Figure().add_subplot()
        )
    )
    assert curve.equal and curve.not_checked == ()


def test_a_random_forest_of_100_trees_compares_quickly_and_n_jobs_does_not_count(classification):
    # user guide, modules/ensemble.html "Random forests"
    from sklearn.ensemble import RandomForestClassifier

    X, y = classification
    one = RandomForestClassifier(n_jobs=1, random_state=0).fit(X, y)
    two = RandomForestClassifier(n_jobs=2, random_state=0).fit(X, y)
    start = time.perf_counter()
    result = compare(one, two)
    assert time.perf_counter() - start < 0.5
    assert result.equal and result.not_checked == () and result.checked > 100 * 10
    unseeded = twice(lambda: RandomForestClassifier(n_estimators=5).fit(X, y))
    assert not unseeded.equal
    assert unseeded.differences[0].startswith(".estimators_[0].tree_[")


def test_unseeded_bagging_differs(regression):
    # user guide, modules/ensemble.html "Bagging meta-estimator"; gallery
    # ensemble/plot_bias_variance (BaggingRegressor(DecisionTreeRegressor()), no random_state)
    from sklearn.ensemble import BaggingRegressor
    from sklearn.tree import DecisionTreeRegressor

    X, y = regression
    fits = [BaggingRegressor(DecisionTreeRegressor()).fit(X, y) for _ in range(2)]
    assert not compare(*(f.predict(X) for f in fits)).equal
    fitted = compare(*fits)
    assert not fitted.equal
    assert all(p.startswith(".estimators_[") for p in fitted.differences)
    assert all("random state" in p for p in fitted.not_checked)  # _seeds, trees' random_state


@pytest.mark.filterwarnings("ignore:The `probability` parameter was deprecated:FutureWarning")
def test_unseeded_soft_voting_with_svc_probability_differs():
    # user guide, modules/ensemble.html "Weighted Average Probabilities (Soft Voting)": iris,
    # two features, DecisionTree, KNeighbors and SVC(probability=True) without random_state.
    # libsvm's Platt scaling draws its folds: the private _probA/_probB differ between runs.
    from sklearn.datasets import load_iris
    from sklearn.ensemble import VotingClassifier
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_iris(return_X_y=True)
    X = X[:, [0, 2]]

    def fit(random_state=None):
        estimators = [
            ("dt", DecisionTreeClassifier(max_depth=4, random_state=random_state)),
            ("knn", KNeighborsClassifier(n_neighbors=7)),
            ("svc", SVC(kernel="rbf", probability=True, random_state=random_state)),
        ]
        return VotingClassifier(estimators, voting="soft", weights=[2, 1, 2]).fit(X, y)

    fits = [fit() for _ in range(2)]
    assert not compare(*(f.predict_proba(X) for f in fits)).equal
    assert compare(*fits).differences == (".estimators_[2]._probA", ".estimators_[2]._probB")
    assert twice(lambda: fit(random_state=0)) == Comparison(True, (), (), compare(*fits).checked)


def test_unseeded_hist_gradient_boosting_on_small_data_is_the_same_model(classification):
    # user guide, modules/ensemble.html "Histogram-Based Gradient Boosting": without early
    # stopping (off under 10000 samples) nor feature subsampling, random_state is drawn but
    # unused: the models are the same, the seeds are listed as not checked.
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y = classification
    fits = [HistGradientBoostingClassifier(max_iter=10).fit(X, y) for _ in range(2)]
    assert compare(*(f.predict_proba(X) for f in fits)).equal
    result = compare(*fits)
    assert result.equal
    assert "._random_seed (uint64, random state)" in result.not_checked
