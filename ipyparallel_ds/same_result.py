"""Whether two results of the statement are the same (the ``--check`` comparison).

A structural comparison: containers, numpy arrays, pandas objects, dataclasses, scikit-learn
estimators and displays are walked down to their leaves, and each leaf is compared (numbers with
``numpy.allclose``'s tolerance, NaN equal to NaN). What cannot be compared (a function, a
generator, a matplotlib artist...) is reported as *not checked*, never as different: the answer
is "differs", "the same", or "the same wherever it could be checked".
"""

from __future__ import annotations

import dataclasses
import numbers
import sys
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from random import Random

__all__ = ["Comparison", "compare", "compare_all", "compare_results", "same_result"]

MAX_LISTED = 5  # paths kept in Comparison.differences and .not_checked; the walk stops at 5
MAX_DEPTH = 60  # Pipeline > search > best_estimator_ > estimators_ > tree_ > nodes is about 15
MAX_PARTS = 200_000  # parts visited before giving up: keeps one comparison under a second
_RTOL, _ATOL = 1e-5, 1e-8  # numpy.allclose's defaults
_ROOT = "<value>"
# Settings of how much runs in parallel, which the sweep changes on purpose: n_jobs (a parameter
# of the estimators the statement builds, also ``clf__n_jobs`` in nested parameter names) and the
# OpenMP thread counts scikit-learn stores (KMeans._n_threads, HistGradientBoosting's binner).
_PARALLELISM = frozenset({"n_jobs", "n_threads", "_n_threads"})
# Randomness kept by estimators: random_state (also the seeds a forest gives its trees), the
# seeds HistGradientBoosting and bagging draw at fit, and random generators anywhere. Where they
# differ they are listed as not checked, not as differences: they are the source of differences,
# not results. Where the randomness mattered the fitted arrays differ too (bagging's
# estimators_); where it did not (HistGradientBoosting without early stopping or feature
# subsampling, unseeded), the models are the same although the seeds are not.
_RANDOMNESS = frozenset(
    {"random_state", "random_state_", "_random_state", "_rng", "rng", "_random_seed", "_seeds"}
)
# Nothing to compare but identity: code, classes, modules, and iterators (reading would consume).
_CODE = (types.FunctionType, types.BuiltinFunctionType, types.MethodType)
_OPAQUE = (*_CODE, types.ModuleType, type, Iterator)


@dataclass(frozen=True)
class Comparison:
    """How two results compare.

    ``equal``: no part that was compared differs (parts that could not be compared do not
    count); ``differences``: paths of the first few differing parts, e.g.
    ``"[1].estimators_[0].tree_['nodes']['threshold']"``; ``not_checked``: paths of parts that
    could not be compared, with their type; ``checked``: how many leaves were compared.
    """

    equal: bool
    differences: tuple[str, ...] = ()
    not_checked: tuple[str, ...] = ()
    checked: int = 0


def _ignored(name: object) -> bool:
    """Names whose values differ at every run or every n_jobs by design: durations
    (``fit_time``, ``mean_score_time``, ``refit_time_``) and parallelism settings."""
    if not isinstance(name, str):
        return False
    return name.endswith(("_time", "_time_", "__n_jobs")) or name in _PARALLELISM


def _scalar_kind(x: object) -> str | None:
    if x is None:
        return "none"
    if isinstance(x, (str, bytes)):
        return "text"
    if isinstance(x, numbers.Number) or type(x).__name__ in ("bool", "bool_"):  # numpy.bool_
        return "number"
    return None


def _scalars_equal(a, b, kind: str | None) -> bool:
    if kind != "number":
        return kind == "none" or a == b
    try:
        if a == b:
            return True
        if isinstance(a, numbers.Integral) and isinstance(b, numbers.Integral):
            return False
        if a != a and b != b:  # NaN
            return True
        return bool(abs(a - b) <= _ATOL + _RTOL * abs(b))
    except (TypeError, ValueError, ArithmeticError):
        return False


def _is_display(obj: object) -> bool:
    return type(obj).__name__.endswith("Display") and type(obj).__module__.startswith("sklearn.")


def _state(obj: object) -> tuple[str, object]:
    """The data an object declares, and the path form of its keys: its own ``__getstate__``,
    else its attributes, else what its own ``__reduce__`` passes (Cython classes such as
    scikit-learn's ``Tree`` and losses); None if it declares nothing."""
    cls = type(obj)
    getstate = getattr(cls, "__getstate__", None)
    if getstate is not None and getstate is not getattr(object, "__getstate__", None):
        try:
            state = obj.__getstate__()
        except Exception:  # a __getstate__ that refuses (locks, handles)
            state = None
        if state is not None:
            return "[{!r}]", state
    attributes = getattr(obj, "__dict__", None)
    if attributes is not None:  # a Python class; no attributes: all it is, is its type
        return ".{}", dict(attributes)
    if cls.__reduce_ex__ is not object.__reduce_ex__ or cls.__reduce__ is not object.__reduce__:
        try:
            reduced = obj.__reduce_ex__(4)
        except Exception:  # not picklable: nothing declared
            return "", None
        if isinstance(reduced, tuple):
            return "", reduced[1:3]  # arguments and state; [3:] are iterators
    return "", None


class _Walk:
    """One comparison: walks two values side by side, collecting what differs."""

    def __init__(self) -> None:
        import numpy

        self.np, random = numpy, numpy.random
        self.generators = (random.RandomState, random.Generator, random.BitGenerator, Random)
        self.differences: list[str] = []
        self.not_checked: list[str] = []
        self.checked = 0
        self.parts = 0
        self.seen: set[tuple[int, int]] = set()
        self.alive: list[tuple[object, object]] = []  # temporaries kept, so their ids stay unique

    @property
    def done(self) -> bool:
        return len(self.differences) >= MAX_LISTED or self.parts > MAX_PARTS

    def differ(self, path: str) -> None:
        if len(self.differences) < MAX_LISTED:
            self.differences.append(path or _ROOT)

    def skip(self, path: str, obj: object, why: str = "") -> None:
        if len(self.not_checked) < MAX_LISTED:
            self.not_checked.append(f"{path or _ROOT} ({type(obj).__name__}{why})")

    def leaf(self, same: bool, path: str) -> None:
        self.checked += 1
        if not same:
            self.differ(path)

    def value(self, a: object, b: object, path: str = "", depth: int = 0) -> None:
        if self.done:
            return
        self.parts += 1
        if self.parts > MAX_PARTS:
            self.skip(path, a, f", stopped after {MAX_PARTS} parts")
            return
        if a is b:
            self.leaf(True, path)
            return
        kind_a, kind_b = _scalar_kind(a), _scalar_kind(b)
        if kind_a or kind_b:
            self.leaf(kind_a == kind_b and _scalars_equal(a, b, kind_a), path)
        elif type(a) is not type(b):
            self.differ(path)
        elif depth >= MAX_DEPTH:
            self.skip(path, a, ", nested too deep")
        elif (id(a), id(b)) not in self.seen:  # else compared already, or a cycle
            self.seen.add((id(a), id(b)))
            self.alive.append((a, b))
            try:
                self.dispatch(a, b, path, depth + 1)
            except Exception:  # whatever cannot be compared is not checked, never "different"
                self.skip(path, a, ", comparison failed")

    def dispatch(self, a, b, path: str, depth: int) -> None:
        np = self.np
        pd, sparse = sys.modules.get("pandas"), sys.modules.get("scipy.sparse")
        if isinstance(a, np.ndarray):
            self.array(a, b, path, depth)
        elif isinstance(a, Mapping):
            self.members(a, b, path, depth, "[{!r}]")
        elif isinstance(a, (list, tuple)) and len(a) != len(b):
            self.differ(path)
        elif isinstance(a, (list, tuple)):
            for i, (x, y) in enumerate(zip(a, b, strict=True)):
                self.value(x, y, f"{path}[{i}]", depth)
        elif isinstance(a, _OPAQUE) or type(a).__module__.startswith("matplotlib"):
            self.skip(path, a)
        elif pd is not None and isinstance(
            a, (pd.DataFrame, pd.Series, pd.Index, pd.api.extensions.ExtensionArray)
        ):
            self.pandas(a, b, path, depth)
        elif sparse is not None and sparse.issparse(a):
            self.sparse(a, b, path)
        elif dataclasses.is_dataclass(a):
            names = [f.name for f in dataclasses.fields(a)]
            self.members(*({n: getattr(x, n) for n in names} for x in (a, b)), path, depth)
        elif _is_display(a):
            # The visualization API's convention: the data a display plots are attributes
            # without a trailing underscore; plot() adds the matplotlib artists (ax_, figure_,
            # lines_...) with one. Those are drawn from the data compared, so they are left out
            # rather than listed as not checked on every display.
            keep = [{k: v for k, v in vars(x).items() if not k.endswith("_")} for x in (a, b)]
            self.members(*keep, path, depth)
        elif callable(getattr(a, "get_params", None)) and hasattr(a, "__dict__"):
            self.estimator(a, b, path, depth)
        else:
            self.other(a, b, path, depth)

    def members(self, a: Mapping, b: Mapping, path: str, depth: int, form: str = ".{}") -> None:
        """Items of two mappings (or attributes, form ``.{}``), durations left out."""
        for key in [*a, *(k for k in b if k not in a)]:
            if _ignored(key):
                continue
            sub = path + form.format(key)
            if key not in a or key not in b:
                self.differ(sub)
            elif key in _RANDOMNESS:
                self.randomness(a[key], b[key], sub)
            else:
                self.value(a[key], b[key], sub, depth)
            if self.done:
                return

    def array(self, a, b, path: str, depth: int) -> None:
        np = self.np
        if a.shape != b.shape:
            return self.differ(path)
        keep = None
        if isinstance(a, np.ma.MaskedArray):  # cv_results_['param_*']: only unmasked values
            mask_a, mask_b = np.ma.getmaskarray(a), np.ma.getmaskarray(b)
            if not np.array_equal(mask_a, mask_b):
                return self.differ(path)
            keep, a, b = ~mask_a, np.ma.getdata(a), np.ma.getdata(b)
        kinds = {a.dtype.kind, b.dtype.kind}
        if "O" in kinds:  # elementwise, keeping the position in the path
            positions = (
                zip(*np.nonzero(keep), strict=True) if keep is not None else np.ndindex(a.shape)
            )
            for index in positions:
                sub = f"{path}[{', '.join(str(int(i)) for i in index)}]" if index else path
                self.value(a[index], b[index], sub, depth)
                if self.done:
                    return
            return
        if keep is not None:
            a, b = a[keep], b[keep]
        if a.dtype.names or b.dtype.names:  # structured, e.g. a Tree's nodes
            if a.dtype != b.dtype:
                return self.differ(path)
            for name in a.dtype.names:
                if not self.done:
                    self.array(a[name], b[name], f"{path}[{name!r}]", depth)
            return
        if kinds <= set("biufc"):
            same = np.array_equal(a, b) or (
                bool(kinds & set("fc"))
                and bool(np.allclose(a, b, rtol=_RTOL, atol=_ATOL, equal_nan=True))
            )
        elif len(kinds) == 1 and kinds <= set("Mm"):
            same = np.array_equal(a, b, equal_nan=True)
        elif kinds == {"V"}:
            same = a.dtype == b.dtype and a.tobytes() == b.tobytes()
        else:
            same = len(kinds) == 1 and np.array_equal(a, b)
        self.leaf(bool(same), path)

    def pandas(self, a, b, path: str, depth: int) -> None:
        pd = sys.modules["pandas"]
        if isinstance(a, pd.DataFrame):
            if a.shape != b.shape:
                return self.differ(path)
            self.value(a.columns, b.columns, f"{path}.columns", depth)
            self.value(a.index, b.index, f"{path}.index", depth)
            for i, name in enumerate(a.columns):  # pd.DataFrame(search.cv_results_): no timings
                if not _ignored(name) and not self.done:
                    self.pandas_values(a.iloc[:, i], b.iloc[:, i], f"{path}[{name!r}]", depth)
            return
        if isinstance(a, pd.Series):
            self.value(a.index, b.index, f"{path}.index", depth)
            self.value(a.name, b.name, f"{path}.name", depth)
        elif isinstance(a, pd.Index):
            self.value(list(a.names), list(b.names), f"{path}.names", depth)
        self.pandas_values(a, b, path, depth)

    def pandas_values(self, a, b, path: str, depth: int) -> None:
        if str(a.dtype) != str(b.dtype):
            return self.differ(path)
        self.array(self.np.asarray(a.to_numpy()), self.np.asarray(b.to_numpy()), path, depth)

    def sparse(self, a, b, path: str) -> None:
        if a.shape != b.shape:
            return self.differ(path)
        a, b = a.tocsr(), b.tocsr()
        diff, scale = abs(a - b), abs(b).max() if b.nnz else 0
        self.leaf(diff.nnz == 0 or bool(diff.max() <= _ATOL + _RTOL * scale), path)

    def estimator(self, a, b, path: str, depth: int) -> None:
        """Parameters, then every other attribute of the instance.

        scikit-learn's conventions: ``__init__`` stores the parameters and nothing else, so all
        other attributes in ``vars()`` were set by ``fit``: public estimates end in ``_``
        (``coef_``, ``estimators_``, ``tree_``), and private ones (``_x`` or ``_x_``) hold the
        model where the public view is derived from it: libsvm's ``_probA``, ``_probB``,
        ``_dual_coef_``, ``_intercept_``, ``_n_support``; HistGradientBoosting's ``_predictors``.
        Predictions come from those, so all of them are compared. Properties are not (computed
        from these, and some are costly).
        """
        try:
            params_a, params_b = a.get_params(deep=False), b.get_params(deep=False)
        except Exception:  # a get_params outside scikit-learn's conventions
            params_a, params_b = {}, {}
        self.members(params_a, params_b, path, depth)
        fitted = [
            {k: v for k, v in vars(x).items() if k not in p}
            for x, p in ((a, params_a), (b, params_b))
        ]
        self.members(*fitted, path, depth)

    def randomness(self, a: object, b: object, path: str) -> None:
        """A seed or random generator: the same, or not checked (see _RANDOMNESS)."""
        states = [_state(x)[1] if isinstance(x, self.generators) else x for x in (a, b)]
        inner = compare(*states) if a is not b else None
        if inner is None or (inner.equal and not inner.not_checked):
            self.leaf(True, path)
        else:
            self.skip(path, a, ", random state")

    def other(self, a, b, path: str, depth: int) -> None:
        if isinstance(a, self.generators):
            return self.randomness(a, b, path)
        if type(a).__eq__ is not object.__eq__:
            try:
                same = a == b
            except Exception:  # == on arrays inside, or refusing other operands
                same = None
            if isinstance(same, (bool, self.np.bool_)):
                return self.leaf(bool(same), path)
        (form, state_a), (_, state_b) = _state(a), _state(b)
        if state_a is None or state_b is None:
            self.skip(path, a)
        elif isinstance(state_a, dict) and isinstance(state_b, dict):
            self.members(state_a, state_b, path, depth, form)
        else:
            self.value(state_a, state_b, path, depth)


def compare(a: object, b: object) -> Comparison:
    """Compare two results structurally (see the module's docstring)."""
    walk = _Walk()
    if a is b and _scalar_kind(a) is None and not isinstance(a, (tuple, frozenset)):
        # One object at both points (``est.fit(X, y)`` refits and returns the same estimator):
        # compared with itself, it shows nothing.
        walk.skip("", a, ", the same object at both points")
    else:
        walk.value(a, b)
    found = (tuple(walk.differences), tuple(walk.not_checked), walk.checked)
    return Comparison(not walk.differences, *found)


def same_result(a: object, b: object) -> bool:
    """Whether no part of the two results that could be compared differs."""
    return compare(a, b).equal


def compare_all(values: dict, baseline: object) -> dict:
    """Each point's result compared with the baseline's: {point: Comparison}."""
    if baseline not in values:
        return {}
    reference = values[baseline]
    return {point: compare(reference, v) for point, v in values.items() if point != baseline}


def compare_results(values: dict, baseline: object) -> tuple[bool | None, list]:
    """Compare each point's result with the baseline's: (all equal, differing points).

    All equal is None when there is nothing to compare: no baseline, a single point, or
    results in which nothing could be compared (generators, functions, figures).
    """
    comparisons = compare_all(values, baseline)
    differing = [point for point, c in comparisons.items() if not c.equal]
    if not differing and not any(c.checked for c in comparisons.values()):
        return None, []
    return not differing, differing
