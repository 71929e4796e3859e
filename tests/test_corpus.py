"""A corpus of real scikit-learn usages, from the example gallery and the user guide, run
through ``%parcompare -j 1,2 -n1 -r1`` on small data that ships with scikit-learn or is
generated.

Each case asserts what really ran at n_jobs=1 and n_jobs=2, as scikit-learn's and joblib's
documented behaviour says it must (the joblib backend, the n_jobs joblib used, the workers
that did work), that seeded code gave the same result at every value, and that no warning
the tool printed is false: :func:`false_warnings` checks every sentence of ``r.warnings``
against the numbers that were measured, and :func:`missing_warnings` that a fact the tool
knows about is said. Nothing here asserts a time or a speedup.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

OPTIONS = "-o -q -j 1,2 -n1 -r1"
# docs/memory-and-threads.md: a parallel value is oversubscribed when more threads than usable
# cores were ready to run during at least half of its timed runs (or, where only the average
# is known, more than 1.15 x the usable cores on average).
OVERSUBSCRIBED_SHARE = 0.5
OVERSUBSCRIBED = 1.15
# A process that ran this many threads at once on average ran threads of its own (or, where
# threads were not counted, a serial run that kept this many cores busy; checks/ran.py).
THREADED = 1.3
# Warnings about noise in the timings, which the measured "what ran" facts cannot refute.
STABILITY = ("were unstable", "slowest run took", "still getting faster")
# Warnings about events (a skipped point, a failed backend, Ctrl-C, a dead worker, clusters):
# none of these cases may meet one.
EVENTS = (
    "was skipped",
    "could not run the statement",
    "interrupted while measuring",
    "worker process was killed",
    "dask cluster",
    "ipyparallel cluster",
    "outstanding task",
)


@dataclass(frozen=True)
class Case:
    """One usage: where it comes from, its setup and statement, and what must have run.

    ``kind`` names the documented behaviour (see :data:`KINDS`); ``eff1`` and ``eff2`` are
    the n_jobs joblib used at n_jobs=1 and 2, ``workers2`` the workers that did work at 2
    (None: one or two, for a statement whose few tasks are too unequal for both workers to
    be seen busy); ``rewritten`` counts the statement's ``n_jobs=`` keywords; ``seeded``
    says whether every source of randomness has a seed, ``nested`` whether the statement
    runs a parallel call inside the workers of another at n_jobs=2 (so that a
    nested-parallelism warning is true); ``defect`` is an open defect of the tool the case
    exposes, which makes it an expected failure.
    """

    id: str
    source: str
    setup: str
    stmt: str
    kind: str
    eff1: tuple[int, ...] = (1,)
    eff2: tuple[int, ...] = (2,)
    workers2: int | None = 2
    rewritten: int = 0
    seeded: bool = True
    nested: bool = False
    extra: Callable | None = field(default=None, compare=False)
    defect: str = ""


def run(ip, stmt):
    """As ``run()`` of tests/test_checks.py, with one timed run per value (-r1)."""
    return ip.run_line_magic("parcompare", f"{OPTIONS} {stmt}")


# -- which warnings are false ----------------------------------------------------------------
def usable(r) -> int:
    return r.environment["cores"]["usable"]


def named(r, text: str) -> list:
    """The points a sentence names ("at n_jobs=2", "oversubscription at n_jobs=2:")."""
    return [c for c in r.configs if re.search(rf"\bat {re.escape(c.name)}\b", text)]


def observed(r) -> list:
    return [c for c in r.configs if c.parallel_calls is not None]


def oversubscribed(c, cores: int) -> bool:
    if c.workers <= 1:
        return False
    if not math.isnan(c.oversubscribed_share):
        return c.oversubscribed_share >= OVERSUBSCRIBED_SHARE
    if not math.isnan(c.runnable_threads):
        return c.runnable_threads > OVERSUBSCRIBED * cores
    return bool(c.total_threads and c.total_threads > cores)


def nesting_exists(r, case: Case) -> bool:
    """A parallel call ran inside the workers of another at a parallel value: known from the
    statement's structure, or seen inside the workers (joblib calls they made with several
    workers of their own)."""
    inner = [max(c.worker_effective_n_jobs, default=0) for c in r.configs if c.workers > 1]
    return case.nested or any(n > 1 for n in inner)


def _most(values) -> float:
    return max((v for v in values if not math.isnan(v)), default=math.nan)


def serial_cores(r) -> float:
    return _most(c.cores_used for c in observed(r) if c.workers <= 1)


def serial_threads(r) -> float:
    return _most(c.runnable_threads for c in observed(r) if c.workers <= 1)


def _no_call(w: str, r, case: Case) -> str | None:
    if any(c.parallel_calls for c in observed(r)):
        return f"joblib calls were seen: {[c.parallel_calls for c in observed(r)]}"
    cores, threads = serial_cores(r), serial_threads(r)
    said = re.search(r"already ran (\d+\.\d) threads at once", w)
    if said and not (threads >= THREADED and said.group(1) == f"{threads:.1f}"):
        return f"says {said.group(1)} threads at once, counted {threads:.2f}"
    busy = re.search(r"kept (\d+\.\d) cores busy", w)
    if busy and busy.group(1) != f"{cores:.1f}":
        return f"says {busy.group(1)} cores busy, the serial run used {cores:.2f}"
    if "kept all" in w and not cores > usable(r):
        return f"says all usable cores were busy, the serial run used {cores:.2f}"
    if "one thread at a time" in w and not threads < THREADED:
        return f"says one thread at a time, counted {threads:.2f} at once"
    if "Only code that runs through joblib" in w and not math.isnan(threads):
        return "falls back on CPU time while the threads were counted"
    return None


def _sequential(w: str, r, case: Case) -> str | None:
    points = named(r, w)
    ran = [(c.parallel_calls, c.effective_n_jobs) for c in points]
    if not points or any(not c.parallel_calls or set(c.effective_n_jobs) != {1} for c in points):
        return f"the points it names ran (calls, n_jobs) {ran}"
    if "asks joblib for threads" in w and not any(c.ran_threads for c in points):
        return "blames a request for threads, but no threading backend ran"
    return None


def _same_everywhere(w: str, r, case: Case) -> str | None:
    shown = tuple(int(n) for n in re.search(r"with n_jobs=([\d, ]+):", w).group(1).split(", "))
    seen = [c.effective_n_jobs for c in observed(r) if c.parallel_calls]
    if len(seen) < 2 or set(seen) != {shown}:
        return f"says n_jobs={shown} everywhere, joblib used {seen}"
    return None


def _baseline_parallel(w: str, r, case: Case) -> str | None:
    most = int(re.search(r"with up to (\d+) workers", w).group(1))
    points = named(r, w)
    ran = [max(c.effective_n_jobs, default=1) for c in points]
    if not points or any(c.workers > 1 for c in points) or set(ran) != {most}:
        return f"the baseline ran with n_jobs {[c.effective_n_jobs for c in points]}"
    return None


def _preset(w: str, r, case: Case) -> str | None:
    return "no object of this statement was built before it with n_jobs set"


def _setup_n_jobs(w: str, r, case: Case) -> str | None:
    return None if "n_jobs=" in case.setup else "the setup code sets no n_jobs="


def _pool_changed(w: str, r, case: Case) -> str | None:
    points = named(r, w)
    return None if points and all(c.pool_changed for c in points) else "no pool changed"


def _nested(w: str, r, case: Case) -> str | None:
    return None if nesting_exists(r, case) else "no parallel call ran inside another's workers"


def _oversubscription(w: str, r, case: Case) -> str | None:
    cores = usable(r)
    points = named(r, w)
    if not points or not all(oversubscribed(c, cores) for c in points):
        counted = [(c.name, round(c.runnable_threads, 2), c.total_threads) for c in points]
        return f"on {cores} cores, (point, runnable, estimated) threads were {counted}"
    (c,) = points
    return _thread_figures(w, c, cores) or _thread_causes(w, c, r, case)


def _thread_figures(w: str, c, cores: int) -> str | None:
    """The split of the counted threads between the kernel and its children."""
    split = re.search(r"(\d+\.\d) in the kernel process and (-?\d+\.\d) in its child", w)
    if split is None:
        return None if math.isnan(c.kernel_runnable_threads) else "the split is not said"
    kernel, children = c.kernel_runnable_threads, c.runnable_threads - c.kernel_runnable_threads
    if split.groups() != (f"{kernel:.1f}", f"{children:.1f}"):
        return f"says {split.groups()}, counted {kernel:.2f} and {children:.2f}"
    return None


def _thread_causes(w: str, c, r, case: Case) -> str | None:
    nested = ("workers' own joblib calls ran with", "n_jobs on a call inside", "did work")
    if any(words in w for words in nested) and not nesting_exists(r, case):
        return "names nested n_jobs as a cause, but nothing was nested"
    kernel = re.search(r"the kernel process ran (\d+\.\d) threads at once", w)
    if kernel and kernel.group(1) != f"{c.kernel_runnable_threads:.1f}":
        return f"says {kernel.group(1)} threads in the kernel, counted {c.kernel_runnable_threads}"
    if "thread workers share" in w and not c.ran_threads:
        return "names thread workers as a cause, but no threading backend ran"
    inside = re.search(r"a worker process ran (\d+\.\d) threads at once on average", w)
    if inside and inside.group(1) != f"{c.busy_worker_runnable_threads:.1f}":
        counted = c.busy_worker_runnable_threads
        return f"says {inside.group(1)} threads in a worker, counted {counted:.2f}"
    if inside and not c.busy_worker_runnable_threads >= THREADED:
        return f"names threads in a worker, counted {c.busy_worker_runnable_threads:.2f}"
    if re.search(r"\d+ workers were asked for on", w) and c.workers <= usable(r):
        return f"says more workers than cores, {c.workers} on {usable(r)}"
    return None


def _pool_per_call(w: str, r, case: Case) -> str | None:
    return "no backend that starts a process pool per call ran"


def _different(w: str, r, case: Case) -> str | None:
    if case.seeded:
        return "every source of randomness in this statement is seeded"
    return None if r.results_equal is False else f"results_equal is {r.results_equal}"


def _not_checked(w: str, r, case: Case) -> str | None:
    return None if r.results_equal is not False else "the results differed"


def _one_core(w: str, r, case: Case) -> str | None:
    return None if usable(r) == 1 else f"{usable(r)} usable cores"


# (how the sentence starts or what it holds, whether it is true of what was measured)
JUDGES: tuple[tuple[str, Callable], ...] = (
    ("made no joblib parallel call", _no_call),
    ("joblib ran the statement's parallel calls sequentially", _sequential),
    ("at every n_jobs value joblib ran the statement's parallel calls", _same_everywhere),
    ("joblib ran the statement's parallel calls with up to", _baseline_parallel),
    ("the statement uses ", _preset),
    ("the setup code sets n_jobs=", _setup_n_jobs),
    ("the worker processes changed", _pool_changed),
    ("nested parallelism", _nested),
    ("oversubscription at ", _oversubscription),
    ("backend starts a new pool of worker processes", _pool_per_call),
    ("returned a different result", _different),
    ("the same wherever they could be compared", _not_checked),
    ("may use only one CPU core", _one_core),
)


def false_warnings(r, case: Case) -> list[tuple[str, str]]:
    """(warning, why it is false) for every warning the measured data contradicts; a warning
    no judge recognises, or an event, counts as false too (it must be judged first)."""
    false = []
    for w in r.warnings:
        if any(s in w for s in STABILITY):
            continue
        if any(s in w for s in EVENTS):
            false.append((w, "an event these cases must not meet"))
            continue
        judge = next((j for key, j in JUDGES if key in w), None)
        why = judge(w, r, case) if judge else "no judge knows this warning"
        if why:
            false.append((w, why))
    return false


def missing_warnings(r, case: Case) -> list[str]:
    """Facts of the measured data the warnings must state, and do not."""
    text = "\n".join(r.warnings)
    found = []
    points = observed(r)
    parallel = [c for c in points if c.workers > 1]
    if points and all(c.parallel_calls == 0 for c in points):
        if "made no joblib parallel call" not in text:
            found.append("no joblib parallel call at any value")
    elif (
        parallel
        and all(c.parallel_calls and set(c.effective_n_jobs) == {1} for c in parallel)
        and "sequentially" not in text
    ):
        found.append("joblib ran every parallel value sequentially")
    for c in parallel:
        if oversubscribed(c, usable(r)) and f"oversubscription at {c.name}" not in text:
            over = f"{c.oversubscribed_share:.0%} of the time"
            found.append(f"more threads than cores at {c.name} {over}")
    if case.nested and "nested parallelism" not in text:
        found.append("n_jobs nested inside the workers of another parallel call")
    if r.results_equal is False and "returned a different result" not in text:
        found.append("a different result")
    for c in points:
        baseline_parallel = c.workers <= 1 and max(c.effective_n_jobs, default=1) > 1
        if baseline_parallel and "parallel calls with up to" not in text:
            found.append(f"the baseline ran with n_jobs={c.effective_n_jobs}")
    return found


# -- what must have run, by kind -----------------------------------------------------------
def loky_at_two(r, case: Case) -> None:
    """A joblib call of scikit-learn's, n_jobs unset or rewritten: sequential at 1, the loky
    backend with 2 workers at 2 (the default backend; cross_val_score & co.)."""
    serial, parallel = r.configs
    assert serial.effective_n_jobs == case.eff1 and serial.workers_used == max(case.eff1)
    assert "loky" not in serial.backends_used or serial.backend_used.startswith("sequential (")
    assert "loky" in parallel.backends_used and parallel.effective_n_jobs == case.eff2
    if case.workers2 is None:
        assert parallel.workers_used in (1, 2)
    else:
        assert parallel.workers_used == case.workers2
    assert not r.no_effect


def threads_at_two(r, case: Case) -> None:
    """Code that asks joblib for threads with n_jobs rewritten to each value (a forest's
    fit, a neighbours' tree query): the threading backend with 2 threads at 2."""
    serial, parallel = r.configs
    assert serial.backend_used == "sequential (threading)"
    assert parallel.backend_used == "threading" and parallel.effective_n_jobs == case.eff2
    assert parallel.workers_used == case.workers2
    assert not r.no_effect


def sequential_fallback(r, case: Case) -> None:
    """A forest with n_jobs unset asks for threads: joblib forces n_jobs=1 at every value
    whatever parallel_config says, and the warning says how to make it parallel."""
    for c in r.configs:
        assert c.backend_used == "sequential (threading)"
        assert c.effective_n_jobs == (1,) and c.workers_used == 1
    warning = next(w for w in r.warnings if "sequentially" in w)
    assert "n_jobs=-1" in warning
    assert r.no_effect


def no_joblib_call(r, case: Case) -> None:
    """OpenMP inside the library (KMeans, the neighbours' brute-force reductions,
    HistGradientBoosting's predict): no joblib call at all, whatever n_jobs is."""
    assert all(c.parallel_calls == 0 and c.backend_used == "none" for c in r.configs)
    warning = next(w for w in r.warnings if "no joblib parallel call" in w)
    threads = serial_threads(r)
    if math.isnan(threads):  # not counted (not Linux): the CPU time decides
        assert "Only code that runs through joblib" in warning or "cores busy" in warning
    elif threads >= THREADED:
        assert f"already ran {threads:.1f} threads at once" in warning
    else:
        assert "one thread at a time" in warning
    assert "no joblib parallel call" in r.no_effect


def fixed_by_library(r, case: Case) -> None:
    """HistGradientBoosting's binning calls joblib's threading backend with its own thread
    count, the same at every n_jobs."""
    serial, parallel = r.configs
    assert serial.effective_n_jobs == parallel.effective_n_jobs
    assert serial.backend_used.endswith("threading") and parallel.backend_used == "threading"
    if serial.effective_n_jobs != (1,):  # one usable core: the sequential check says it
        assert any("n_jobs never reached them" in w for w in r.warnings)
        assert any(w.startswith("at n_jobs=1 joblib ran") for w in r.warnings)
        assert r.no_effect and r.recommended_n_jobs == 1


KINDS = {
    "loky": loky_at_two,
    "threads": threads_at_two,
    "fallback": sequential_fallback,
    "no_call": no_joblib_call,
    "fixed": fixed_by_library,
}


# -- extra facts of single cases -------------------------------------------------------------
def refit_runs_in_the_kernel(r) -> None:
    """The search's refit of SGDClassifier (one-vs-rest over threads, n_jobs unset) runs in
    the kernel after the loky call: joblib's sequential fallback for threads."""
    assert r.configs[1].backends_used == ("loky", "threading")


def each_worker_one_thread(r) -> None:
    """Parallelism guide: joblib limits each of 2 loky workers to cpu_count() // 2 = 1
    OpenMP thread, so HistGradientBoosting inside them runs one thread each; the kernel's
    threading call at refit is no oversubscription by itself."""
    parallel = r.configs[1]
    assert parallel.backends_used == ("loky", "threading")
    if parallel.peak_runnable_threads:  # counted (Linux)
        assert parallel.worker_runnable_threads == 1


def nested_is_said(r) -> None:
    assert any(w.startswith("nested parallelism") for w in r.warnings)


IMPORTS_CV = (
    "from sklearn.datasets import load_digits\n"
    "from sklearn.svm import SVC\n"
    "X, y = load_digits(return_X_y=True)\n"
)
SGD_SEARCH = (
    "from scipy.stats import loguniform, uniform\n"
    "from sklearn.datasets import load_digits\n"
    "from sklearn.linear_model import SGDClassifier\n"
    "from sklearn.model_selection import RandomizedSearchCV\n"
    "X, y = load_digits(return_X_y=True)\n"
    "X, y = X[:500], y[:500]\n"
    "param_dist = {'average': [True, False], 'l1_ratio': uniform(0, 1),"
    " 'alpha': loguniform(1e-2, 1e0)}\n"
)
NESTED_CV = (
    "from sklearn.datasets import load_iris\n"
    "from sklearn.model_selection import GridSearchCV, KFold, cross_val_score\n"
    "from sklearn.svm import SVC\n"
    "X, y = load_iris(return_X_y=True)\n"
    "p_grid = {'C': [1, 10, 100], 'gamma': [0.01, 0.1]}\n"
    "inner_cv = KFold(n_splits=4, shuffle=True, random_state=0)\n"
    "outer_cv = KFold(n_splits=4, shuffle=True, random_state=0)\n"
)
FOREST_DATA = (
    "from sklearn.datasets import make_classification\n"
    "from sklearn.ensemble import RandomForestClassifier\n"
    "X, y = make_classification(n_samples=1000, n_features=10, n_informative=3,"
    " n_redundant=0, n_repeated=0, n_classes=2, random_state=0, shuffle=False)\n"
)
DIGITS_TREES = (
    "from sklearn.datasets import load_digits\n"
    "from sklearn.ensemble import ExtraTreesClassifier\n"
    "X, y = load_digits(return_X_y=True)\n"
)
HGB_DATA = (
    "from sklearn.datasets import make_regression\n"
    "from sklearn.ensemble import HistGradientBoostingRegressor\n"
    "from sklearn.model_selection import GridSearchCV, KFold\n"
)

CASES = [
    # -- cross-validation -------------------------------------------------------------------
    Case(
        "cross_val_score",
        "user guide, Cross-validation: evaluating estimator performance, "
        "'Computing cross-validated metrics'",
        IMPORTS_CV + "from sklearn.model_selection import cross_val_score",
        "cross_val_score(SVC(kernel='linear', C=1, random_state=0), X, y, cv=5)",
        "loky",
    ),
    Case(
        "cross_validate_multimetric",
        "user guide, Cross-validation, 'The cross_validate function and multiple metric "
        "evaluation'",
        IMPORTS_CV + "from sklearn.model_selection import cross_validate",
        "cross_validate(SVC(kernel='linear', C=1, random_state=0), X, y, cv=5, "
        "scoring=['precision_macro', 'recall_macro'], return_train_score=True)",
        "loky",
    ),
    Case(
        "cross_validate_return_estimator",
        "gallery, 'Common pitfalls in the interpretation of coefficients of linear models' "
        "(checking the variability of the coefficients)",
        "import numpy as np\n"
        "from sklearn.datasets import load_diabetes\n"
        "from sklearn.linear_model import RidgeCV\n"
        "from sklearn.model_selection import RepeatedKFold, cross_validate\n"
        "from sklearn.pipeline import make_pipeline\n"
        "from sklearn.preprocessing import StandardScaler\n"
        "X, y = load_diabetes(return_X_y=True)\n"
        "model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-10, 10, 21)))\n"
        "cv = RepeatedKFold(n_splits=5, n_repeats=5, random_state=0)",
        "cross_validate(model, X, y, cv=cv, return_estimator=True, n_jobs=2)",
        "loky",
        rewritten=1,
    ),
    Case(
        "cross_val_predict",
        "user guide, Cross-validation, 'Obtaining predictions by cross-validation'",
        IMPORTS_CV + "from sklearn.model_selection import cross_val_predict",
        "cross_val_predict(SVC(kernel='linear', C=1, random_state=0), X, y, cv=10)",
        "loky",
    ),
    Case(
        "learning_curve",
        "gallery, 'Plotting Learning Curves and Checking Models' Scalability'",
        IMPORTS_CV + "import numpy as np\n"
        "from sklearn.model_selection import ShuffleSplit, learning_curve\n"
        "cv = ShuffleSplit(n_splits=2, test_size=0.2, random_state=0)",
        "learning_curve(SVC(gamma=0.001), X, y, cv=cv, train_sizes=np.linspace(0.1, 1.0, 3))",
        "loky",
    ),
    Case(
        "validation_curve",
        "gallery, 'Plotting Validation Curves'",
        IMPORTS_CV + "import numpy as np\n"
        "from sklearn.model_selection import validation_curve\n"
        "X, y = X[:400], y[:400]",
        "validation_curve(SVC(), X, y, param_name='gamma', param_range=np.logspace(-6, -1, 5), "
        "scoring='accuracy', cv=3)",
        "loky",
    ),
    Case(
        "permutation_test_score",
        "gallery, 'Test with permutations the significance of a classification score'",
        "import numpy as np\n"
        "from sklearn.datasets import load_iris\n"
        "from sklearn.model_selection import StratifiedKFold, permutation_test_score\n"
        "from sklearn.svm import SVC\n"
        "X, y = load_iris(return_X_y=True)\n"
        "X = np.hstack([X, np.random.RandomState(0).normal(size=(len(X), 20))])\n"
        "cv = StratifiedKFold(2, shuffle=True, random_state=0)",
        "permutation_test_score(SVC(kernel='linear', random_state=7), X, y, scoring='accuracy', "
        "cv=cv, n_permutations=40, random_state=0)",
        "loky",
    ),
    # -- searches ---------------------------------------------------------------------------
    Case(
        "nested_cross_validation",
        "gallery, 'Nested versus non-nested cross-validation' (a search inside "
        "cross_val_score, n_jobs on neither)",
        NESTED_CV,
        "cross_val_score(GridSearchCV(SVC(kernel='rbf'), p_grid, cv=inner_cv), X, y, cv=outer_cv)",
        "loky",
    ),
    Case(
        "randomized_search",
        "gallery, 'Comparing randomized search and grid search for hyperparameter estimation'",
        SGD_SEARCH,
        "RandomizedSearchCV(SGDClassifier(loss='hinge', penalty='elasticnet', max_iter=20, "
        "tol=None, random_state=0), param_dist, n_iter=4, cv=3, random_state=0).fit(X, y)",
        "loky",
        eff2=(1, 2),
        extra=refit_runs_in_the_kernel,
    ),
    Case(
        "randomized_search_unseeded",
        "gallery, 'Comparing randomized search and grid search for hyperparameter "
        "estimation', as written there: neither the search nor SGDClassifier seeded",
        SGD_SEARCH,
        "RandomizedSearchCV(SGDClassifier(loss='hinge', penalty='elasticnet', max_iter=20, "
        "tol=None), param_dist, n_iter=4, cv=3).fit(X, y).best_params_",
        "loky",
        eff2=(1, 2),
        seeded=False,
    ),
    Case(
        "halving_grid_search",
        "gallery, 'Comparison between grid search and successive halving'",
        "from sklearn.datasets import make_classification\n"
        "from sklearn.experimental import enable_halving_search_cv  # noqa: F401\n"
        "from sklearn.model_selection import HalvingGridSearchCV\n"
        "from sklearn.svm import SVC\n"
        "X, y = make_classification(n_samples=400, random_state=0)\n"
        "param_grid = {'gamma': [1e-1, 1e-2, 1e-3], 'C': [1, 10, 100]}",
        "HalvingGridSearchCV(SVC(random_state=0), param_grid, factor=2, random_state=0).fit(X, y)",
        "loky",
    ),
    Case(
        "multimetric_grid_search",
        "gallery, 'Demonstration of multi-metric evaluation on cross_val_score and "
        "GridSearchCV' (refit='AUC')",
        "from sklearn.datasets import make_classification\n"
        "from sklearn.metrics import accuracy_score, make_scorer\n"
        "from sklearn.model_selection import GridSearchCV\n"
        "from sklearn.tree import DecisionTreeClassifier\n"
        "X, y = make_classification(n_samples=1000, random_state=0)\n"
        "scoring = {'AUC': 'roc_auc', 'Accuracy': make_scorer(accuracy_score)}\n"
        "param_grid = {'min_samples_split': range(2, 403, 100)}",
        "GridSearchCV(DecisionTreeClassifier(random_state=42), param_grid, scoring=scoring, "
        "refit='AUC', return_train_score=True).fit(X, y)",
        "loky",
    ),
    Case(
        "grid_search_refit_callable",
        "gallery, 'Custom refit strategy of a grid search with cross-validation' "
        "(precision and recall, a callable refit)",
        IMPORTS_CV + "import numpy as np\n"
        "from sklearn.model_selection import GridSearchCV, train_test_split\n"
        "X_train, X_test, y_train, y_test = train_test_split(X, y == 8, test_size=0.5,"
        " random_state=0)\n"
        "tuned_parameters = [{'kernel': ['rbf'], 'gamma': [1e-3, 1e-4], 'C': [1, 10]},"
        " {'kernel': ['linear'], 'C': [1, 10]}]\n"
        "def refit_strategy(cv_results):\n"
        "    return int(np.argmax(cv_results['mean_test_precision']))",
        "GridSearchCV(SVC(), tuned_parameters, scoring=['precision', 'recall'], "
        "refit=refit_strategy).fit(X_train, y_train)",
        "loky",
    ),
    Case(
        "pipeline_in_grid_search",
        "gallery, 'Pipelining: chaining a PCA and a logistic regression'",
        "import numpy as np\n"
        "from sklearn.datasets import load_digits\n"
        "from sklearn.decomposition import PCA\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "from sklearn.model_selection import GridSearchCV\n"
        "from sklearn.pipeline import Pipeline\n"
        "from sklearn.preprocessing import StandardScaler\n"
        "X_digits, y_digits = load_digits(return_X_y=True)\n"
        "pipe = Pipeline(steps=[('scaler', StandardScaler()), ('pca', PCA()),"
        " ('logistic', LogisticRegression(max_iter=10000, tol=0.1))])\n"
        "param_grid = {'pca__n_components': [5, 30], 'logistic__C': np.logspace(-4, 4, 2)}",
        "GridSearchCV(pipe, param_grid, n_jobs=2).fit(X_digits, y_digits)",
        "loky",
        rewritten=1,
    ),
    Case(
        "hist_gradient_boosting_in_grid_search",
        "gallery, 'Comparing Random Forests and Histogram Gradient Boosting models'",
        HGB_DATA + "X, y = make_regression(n_samples=2000, n_features=8, noise=10,"
        " random_state=0)\n"
        "cv = KFold(n_splits=3, shuffle=True, random_state=0)",
        "GridSearchCV(HistGradientBoostingRegressor(max_leaf_nodes=15, random_state=0, "
        "early_stopping=False), {'max_iter': [5, 10, 20]}, return_train_score=True, cv=cv)"
        ".fit(X, y)",
        "loky",
        eff1=(1, 2),  # the refit's binning: its own thread count (user guide, Parallelism)
        extra=each_worker_one_thread,
    ),
    # -- inspection -------------------------------------------------------------------------
    Case(
        "permutation_importance",
        "gallery, 'Permutation Importance with Multicollinear or Correlated Features'",
        "from sklearn.datasets import load_breast_cancer\n"
        "from sklearn.ensemble import RandomForestClassifier\n"
        "from sklearn.inspection import permutation_importance\n"
        "from sklearn.model_selection import train_test_split\n"
        "X, y = load_breast_cancer(return_X_y=True)\n"
        "X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=42)\n"
        "clf = RandomForestClassifier(n_estimators=10, random_state=42).fit(X_train, y_train)",
        "permutation_importance(clf, X_train, y_train, n_repeats=3, random_state=42, n_jobs=2)",
        "loky",
        rewritten=1,
    ),
    Case(
        "partial_dependence",
        "gallery, 'Partial Dependence and Individual Conditional Expectation Plots' "
        "(the function, kind='both')",
        HGB_DATA + "from sklearn.inspection import partial_dependence\n"
        "X, y = make_regression(n_samples=20000, n_features=6, noise=10, random_state=0)\n"
        "est = HistGradientBoostingRegressor(max_iter=10, random_state=0).fit(X, y)",
        "partial_dependence(est, X, features=[0, 1], kind='both', grid_resolution=5)",
        "no_call",
    ),
    # -- forests ----------------------------------------------------------------------------
    Case(
        "random_forest_n_jobs_unset",
        "gallery, 'Feature importances with a forest of trees'",
        FOREST_DATA,
        "RandomForestClassifier(random_state=0).fit(X, y)",
        "fallback",
    ),
    Case(
        "random_forest_n_jobs_set",
        "user guide, Ensembles, forests 'Parallelization' (n_jobs=-1)",
        FOREST_DATA,
        "RandomForestClassifier(n_estimators=100, n_jobs=-1, random_state=0).fit(X, y)",
        "threads",
        rewritten=1,
    ),
    Case(
        "extra_trees_n_jobs_set",
        "gallery, 'Pixel importances with a parallel forest of trees' (faces -> digits)",
        DIGITS_TREES,
        "ExtraTreesClassifier(n_estimators=100, n_jobs=2, random_state=42).fit(X, y)",
        "threads",
        rewritten=1,
    ),
    Case(
        "extra_trees_n_jobs_unset",
        "user guide, Ensembles, 'Extremely Randomized Trees'",
        DIGITS_TREES,
        "ExtraTreesClassifier(n_estimators=100, random_state=42).fit(X, y)",
        "fallback",
    ),
    Case(
        "forest_inside_cross_val_score",
        "user guide, Parallelism, 'Oversubscription: spawning too many threads' (a forest "
        "with n_jobs inside cross_val_score with n_jobs)",
        "from sklearn.datasets import make_classification\n"
        "from sklearn.ensemble import RandomForestClassifier\n"
        "from sklearn.model_selection import cross_val_score\n"
        "X, y = make_classification(n_samples=500, random_state=0)",
        "cross_val_score(RandomForestClassifier(n_estimators=20, n_jobs=2, random_state=0), "
        "X, y, cv=4, n_jobs=2)",
        "loky",
        rewritten=2,
        nested=True,
        extra=nested_is_said,
    ),
    Case(
        "forest_n_jobs_inside_grid_search",
        "gallery, 'Comparing Random Forests and Histogram Gradient Boosting models' (the "
        "forest with n_jobs=N_CORES inside GridSearchCV, whose n_jobs is unset)",
        "import joblib\n"
        "from sklearn.datasets import make_regression\n"
        "from sklearn.ensemble import RandomForestRegressor\n"
        "from sklearn.model_selection import GridSearchCV, KFold\n"
        "X, y = make_regression(n_samples=500, n_features=8, noise=10, random_state=0)\n"
        "N_CORES = joblib.cpu_count(only_physical_cores=True)\n"
        "cv = KFold(n_splits=4, shuffle=True, random_state=0)",
        "GridSearchCV(RandomForestRegressor(min_samples_leaf=5, random_state=0, "
        "n_jobs=N_CORES), {'n_estimators': [10, 20]}, return_train_score=True, cv=cv)"
        ".fit(X, y)",
        "loky",
        rewritten=1,
        nested=True,  # parallel_config reaches the search, the rewritten n_jobs each forest
        extra=nested_is_said,
    ),
    # -- meta-estimators --------------------------------------------------------------------
    Case(
        "bagging",
        "user guide, Ensembles, 'Bagging meta-estimator'",
        "from sklearn.datasets import load_digits\n"
        "from sklearn.ensemble import BaggingClassifier\n"
        "from sklearn.neighbors import KNeighborsClassifier\n"
        "X, y = load_digits(return_X_y=True)",
        "BaggingClassifier(KNeighborsClassifier(), max_samples=0.5, max_features=0.5, "
        "random_state=0).fit(X, y).predict(X)",
        "loky",
    ),
    Case(
        "voting",
        "gallery, 'Plot class probabilities calculated by the VotingClassifier'",
        "from sklearn.datasets import make_classification\n"
        "from sklearn.ensemble import RandomForestClassifier, VotingClassifier\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "from sklearn.naive_bayes import GaussianNB\n"
        "X, y = make_classification(n_samples=1000, random_state=0)",
        "VotingClassifier(estimators=[('lr', LogisticRegression(max_iter=1000, "
        "random_state=123)), ('rf', RandomForestClassifier(n_estimators=100, "
        "random_state=123)), ('gnb', GaussianNB())], voting='soft', weights=[1, 1, 5])"
        ".fit(X, y)",
        "loky",
        workers2=None,  # three unequal tasks: the forest's dwarfs the other two
    ),
    Case(
        "stacking",
        "user guide, Ensembles, 'Stacked generalization' (StackingClassifier)",
        "from sklearn.datasets import load_breast_cancer\n"
        "from sklearn.ensemble import RandomForestClassifier, StackingClassifier\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "from sklearn.pipeline import make_pipeline\n"
        "from sklearn.preprocessing import StandardScaler\n"
        "from sklearn.svm import LinearSVC\n"
        "X, y = load_breast_cancer(return_X_y=True)",
        "StackingClassifier(estimators=[('rf', RandomForestClassifier(n_estimators=10, "
        "random_state=42)), ('svr', make_pipeline(StandardScaler(), "
        "LinearSVC(random_state=42)))], final_estimator=LogisticRegression()).fit(X, y)",
        "loky",
    ),
    Case(
        "multioutput_classifier",
        "user guide, Multiclass and multioutput algorithms, 'MultiOutputClassifier'",
        "import numpy as np\n"
        "from sklearn.datasets import make_classification\n"
        "from sklearn.ensemble import RandomForestClassifier\n"
        "from sklearn.multioutput import MultiOutputClassifier\n"
        "from sklearn.utils import shuffle\n"
        "X, y1 = make_classification(n_samples=500, n_features=100, n_informative=30,"
        " n_classes=3, random_state=1)\n"
        "Y = np.vstack((y1, shuffle(y1, random_state=1), shuffle(y1, random_state=2))).T",
        "MultiOutputClassifier(RandomForestClassifier(n_estimators=20, random_state=1), "
        "n_jobs=2).fit(X, Y).predict(X)",
        "loky",
        rewritten=1,
    ),
    Case(
        "multioutput_regressor",
        "gallery, 'Comparing random forests and the multi-output meta estimator'",
        "import numpy as np\n"
        "from sklearn.ensemble import RandomForestRegressor\n"
        "from sklearn.multioutput import MultiOutputRegressor\n"
        "rng = np.random.RandomState(1)\n"
        "X = np.sort(200 * rng.rand(600, 1) - 100, axis=0)\n"
        "y = np.array([np.pi * np.sin(X).ravel(), np.pi * np.cos(X).ravel()]).T\n"
        "y += 0.5 - rng.rand(*y.shape)",
        "MultiOutputRegressor(RandomForestRegressor(n_estimators=100, max_depth=30, "
        "random_state=0)).fit(X, y)",
        "loky",
    ),
    Case(
        "one_vs_rest",
        "gallery, 'Multilabel classification' (OneVsRestClassifier)",
        "from sklearn.datasets import make_multilabel_classification\n"
        "from sklearn.multiclass import OneVsRestClassifier\n"
        "from sklearn.svm import SVC\n"
        "X, Y = make_multilabel_classification(n_samples=1000, n_classes=5, n_labels=2,"
        " allow_unlabeled=True, random_state=1)",
        "OneVsRestClassifier(SVC(kernel='linear')).fit(X, Y)",
        "loky",
    ),
    # -- OpenMP inside the library ----------------------------------------------------------
    Case(
        "kmeans",
        "gallery, 'A demo of K-Means clustering on the handwritten digits data'",
        "from sklearn.cluster import KMeans\n"
        "from sklearn.datasets import load_digits\n"
        "from sklearn.pipeline import make_pipeline\n"
        "from sklearn.preprocessing import StandardScaler\n"
        "data, labels = load_digits(return_X_y=True)",
        "make_pipeline(StandardScaler(), KMeans(init='k-means++', n_clusters=10, n_init=10, "
        "random_state=0)).fit(data)",
        "no_call",
    ),
    Case(
        "kneighbors_brute_force",
        "gallery, 'Nearest Neighbors Classification' (64 features: brute force, whose "
        "pairwise-distance reductions use OpenMP, not n_jobs)",
        "from sklearn.datasets import make_classification\n"
        "from sklearn.neighbors import KNeighborsClassifier\n"
        "X, y = make_classification(n_samples=6000, n_features=64, random_state=0)",
        "KNeighborsClassifier(n_neighbors=15, n_jobs=-1).fit(X, y).predict(X)",
        "no_call",
        rewritten=1,
    ),
    Case(
        "kneighbors_kd_tree",
        "gallery, 'Nearest Neighbors Classification' (two iris features on a mesh: a "
        "k-d tree, queried by joblib threads)",
        "import numpy as np\n"
        "from sklearn.datasets import load_iris\n"
        "from sklearn.neighbors import KNeighborsClassifier\n"
        "X, y = load_iris(return_X_y=True)\n"
        "X = X[:, :2]\n"
        "xx, yy = np.meshgrid(np.linspace(4, 8, 300), np.linspace(2, 4.5, 300))\n"
        "grid = np.c_[xx.ravel(), yy.ravel()]",
        "KNeighborsClassifier(n_neighbors=15, n_jobs=-1).fit(X, y).predict(grid)",
        "threads",
        rewritten=1,
    ),
    Case(
        "hist_gradient_boosting",
        "gallery, 'Comparing Random Forests and Histogram Gradient Boosting models'",
        HGB_DATA + "X, y = make_regression(n_samples=50000, n_features=8, noise=10,"
        " random_state=0)",
        "HistGradientBoostingRegressor(max_iter=10, random_state=0).fit(X, y)",
        "fixed",
    ),
]


def ran_on_facts(r) -> None:
    """What the table's "ran on" column is made of agrees with the calls joblib made:
    ``ran_sequentially`` ("joblib ran every parallel call with one worker") only when every
    call had n_jobs=1, and a point whose calls all ran on the threading backend, which starts
    n_jobs threads in every call, used as many threads as that n_jobs."""
    for c in r.configs:
        every_call_one = bool(c.parallel_calls) and set(c.effective_n_jobs) == {1}
        assert c.ran_sequentially == every_call_one, (c.name, c.backend_used, c.effective_n_jobs)
        if c.parallel_calls and c.backends_used == ("threading",):
            assert c.workers_used == max(c.effective_n_jobs), (c.name, c.workers_used)


def param(case: Case):
    marks = pytest.mark.xfail(strict=True, reason=case.defect) if case.defect else ()
    return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", [param(case) for case in CASES])
def test_real_usage(tiny, case):
    tiny.run_cell(case.setup).raise_error()
    r = run(tiny, case.stmt)
    assert [c.n_jobs for c in r.configs] == [1, 2]
    assert r.n_jobs_keywords_rewritten == case.rewritten
    KINDS[case.kind](r, case)
    if case.extra is not None:
        case.extra(r)
    if case.seeded:
        assert r.results_equal is True
    else:
        assert r.results_equal is False
    record(case, r)
    assert false_warnings(r, case) == []
    assert missing_warnings(r, case) == []
    ran_on_facts(r)


def record(case: Case, r) -> None:
    """With ``PARCOMPARE_CORPUS_ROWS`` set to a path, append the case's row (what ran and
    what was said) to that file as a line of JSON, for ``tests/corpus_table.py``."""
    path = os.environ.get("PARCOMPARE_CORPUS_ROWS")
    if not path:
        return
    points = [
        {
            "n_jobs": c.n_jobs,
            "backend_used": c.backend_used,
            "effective_n_jobs": list(c.effective_n_jobs),
            "workers_used": c.workers_used,
            "worker_effective_n_jobs": list(c.worker_effective_n_jobs),
            "runnable_threads": c.runnable_threads,
            "oversubscribed_share": c.oversubscribed_share,
            "cores_used": c.cores_used,
        }
        for c in r.configs
    ]
    row = {
        "id": case.id,
        "source": case.source,
        "stmt": case.stmt,
        "points": points,
        "results_equal": r.results_equal,
        "warnings": list(r.warnings),
        "cores": usable(r),
    }
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(row) + "\n")
