"""Whether two results of the statement are the same (the ``--check`` comparison)."""

from __future__ import annotations

__all__ = ["compare_results", "same_result"]

# Fitted attributes that summarise an estimator cheaply; properties are included on purpose
# (feature_importances_ differs between two unseeded random forests, classes_ does not).
_FITTED_SUMMARY = (
    "coef_",
    "intercept_",
    "feature_importances_",
    "cluster_centers_",
    "components_",
    "dual_coef_",
    "best_score_",
    "best_params_",
)


def _is_timing(name: str) -> bool:
    """Names scikit-learn gives to measured durations: ``fit_time``, ``refit_time_``,
    ``mean_score_time``, ..."""
    return name.endswith("_time")


def same_result(a: object, b: object) -> bool:
    """Whether two results of the statement are the same.

    numpy arrays (and lists of numbers) by ``allclose``; scikit-learn estimators by their
    fitted attributes where that is cheap; anything else by ``==``.
    """
    import numpy as np

    if a is b:
        return True
    if hasattr(a, "get_params") and type(a) is type(b):
        names = [
            n
            for n in vars(a)
            if n.endswith("_") and not n.startswith("_") and not _is_timing(n.rstrip("_"))
        ]
        names += [n for n in _FITTED_SUMMARY if n not in names]
        for name in names:
            try:
                left, right = getattr(a, name), getattr(b, name)
            except Exception:  # a property that does not apply to this estimator
                continue
            if isinstance(left, (np.ndarray, int, float, str, tuple, dict)) and not same_result(
                left, right
            ):
                return False
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        # Timings (cross_validate's fit_time, cv_results_'s mean_fit_time) change every run.
        return a.keys() == b.keys() and all(
            same_result(a[k], b[k]) for k in a if not (isinstance(k, str) and _is_timing(k))
        )
    try:
        left, right = np.asarray(a), np.asarray(b)
        if left.dtype.kind in "fciub" and right.dtype.kind in "fciub":
            return left.shape == right.shape and bool(np.allclose(left, right, equal_nan=True))
    except Exception:  # not array-like
        pass
    try:
        return bool(a == b)
    except Exception:  # == that raises or returns something without a truth value
        return False


def compare_results(values: dict, baseline: object) -> tuple[bool | None, list]:
    """Compare each point's result with the baseline's: (all equal, differing points)."""
    if baseline not in values or len(values) < 2:
        return None, []
    differing = [
        k for k, v in values.items() if k != baseline and not same_result(values[baseline], v)
    ]
    return not differing, differing
